package redistest

import "syscall"

// procAttr makes the kernel kill redis-server if the test binary dies without
// running its cleanups, so a crashed test run leaves no server behind.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
