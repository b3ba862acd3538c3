package frontend

import (
	"errors"

	"github.com/aspstate/aspstate/backends"
)

// outcomeForError is the one place that decides what a web server is told when
// a backend returns an error. A capacity refusal is a 400 (the client throws,
// the user sees an error, nothing is lost silently). Anything else means the
// store could not answer: the connection is closed, because a 404 would make
// the web server start a new, empty session and a 200 would claim a write
// that did not happen.
func outcomeForError(err error) (status int, closeConn bool) {
	switch {
	case err == nil:
		return 0, false
	case errors.Is(err, backends.ErrFull), errors.Is(err, backends.ErrTooLarge):
		return 400, false
	default:
		return 0, true
	}
}

// closeReason says why a connection ended; it is logged once per connection.
type closeReason string

const (
	reasonClientClosed closeReason = "client closed"
	reasonIdle         closeReason = "idle timeout"
	reasonReadError    closeReason = "read error"
	reasonWriteError   closeReason = "write error"
	reasonProtocol     closeReason = "protocol error"
	reasonBackend      closeReason = "backend error"
	reasonConnHeader   closeReason = "Connection: close"
	reasonShutdown     closeReason = "server shutdown"
	reasonClientGone   closeReason = "client gone before lock"
	reasonNotAllowed   closeReason = "client network not allowed"
	reasonTooManyConns closeReason = "too many connections"
)
