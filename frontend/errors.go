package frontend

import (
	"errors"

	"github.com/aspstate/aspstate/backends"
)

// errorOutcome is what the web server is told when a backend returns an
// error: the only two outcomes a failed Apply may have.
type errorOutcome uint8

const (
	outcomeNone     errorOutcome = iota // no error: answer as the lock rules decided
	outcomeReply400                     // answer 400; the connection stays open
	outcomeClose                        // answer nothing; close the connection
)

func (o errorOutcome) String() string {
	switch o {
	case outcomeNone:
		return "none"
	case outcomeReply400:
		return "reply 400"
	case outcomeClose:
		return "close connection"
	}
	return "unknown"
}

// outcomeForError is the one place that decides what a web server is told when
// a backend returns an error; its caller follows the answer. A capacity
// refusal is a 400 (the client throws, the user sees an error, nothing is lost
// silently). Anything else means the store could not answer: the connection
// is closed, because a 404 would make the web server start a new, empty
// session and a 200 would claim a write that did not happen.
func outcomeForError(err error) errorOutcome {
	switch {
	case err == nil:
		return outcomeNone
	case errors.Is(err, backends.ErrFull), errors.Is(err, backends.ErrTooLarge):
		return outcomeReply400
	default:
		return outcomeClose
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
