//go:build !unix

package redistest

import (
	"errors"
	"os"
)

// redis-server does not run natively outside Unix; these keep the kit
// compiling so that packages importing it still build there.

func pause(*os.Process) error       { return errors.New("pause needs SIGSTOP (Unix only)") }
func resume(*os.Process) error      { return errors.New("resume needs SIGCONT (Unix only)") }
func terminate(p *os.Process) error { return p.Kill() }
