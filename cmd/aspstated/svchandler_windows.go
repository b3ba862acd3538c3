package main

import (
	"context"
	"net"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/windows/svc"
)

// serviceHandler runs the gateway under the service manager: Running once
// it listens, and on Stop or Shutdown the same path as SIGTERM (run's context
// is cancelled: no new connections, requests in flight answered, backend
// closed). It needs no service manager itself, so tests drive Execute with
// their own channels.
type serviceHandler struct {
	run  func(ctx context.Context, ready func(net.Addr)) int
	code int // run's exit code, set before Execute returns
}

// stopWaitHint is how long the service manager is told a stop may take
// (the default shutdown_timeout is 10s, a peering drain can take longer).
const stopWaitHint = 60_000 // ms

func (h *serviceHandler) Execute(_ []string, r <-chan svc.ChangeRequest, s chan<- svc.Status) (bool, uint32) {
	s <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	done := make(chan int, 1)
	go func() { done <- h.run(ctx, func(net.Addr) { close(ready) }) }()

	const accepts = svc.AcceptStop | svc.AcceptShutdown
	for {
		select {
		case <-ready:
			ready = nil
			s <- svc.Status{State: svc.Running, Accepts: accepts}
		case code := <-done:
			return h.finish(code, s)
		case c := <-r:
			switch c.Cmd {
			case svc.Interrogate:
				s <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				s <- svc.Status{State: svc.StopPending, WaitHint: stopWaitHint}
				cancel()
				return h.finish(<-done, s)
			}
		}
	}
}

// finish reports run's exit code: 0 is a clean stop, 1 or 2 a
// service-specific error the service manager records (and, for recovery,
// counts as a failure).
func (h *serviceHandler) finish(code int, s chan<- svc.Status) (bool, uint32) {
	h.code = code
	s <- svc.Status{State: svc.StopPending}
	if code != 0 {
		return true, uint32(code)
	}
	return false, 0
}

// consoleContext is main's: cancelled by Ctrl+C or Ctrl+Break.
func consoleContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
