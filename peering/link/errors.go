package link

import (
	"errors"
	"fmt"
)

// Every error Call returns wraps exactly one of these.
var (
	// ErrNotSent: the request certainly did not reach the peer (no link,
	// dial or handshake failed, the peer refused it, ctx ended before it was
	// written). The caller may try elsewhere.
	ErrNotSent = errors.New("request not sent")
	// ErrLost: the request may have been delivered and run (the link broke
	// or went silent while waiting, or ctx ended after it was written). The
	// outcome is unknown: never retry it blindly.
	ErrLost = errors.New("request lost, outcome unknown")
)

func notSent(peer string, cause error) error {
	return fmt.Errorf("link: peer %s: %w: %w", peer, ErrNotSent, cause)
}

func lost(peer string, cause error) error {
	return fmt.Errorf("link: peer %s: %w: %w", peer, ErrLost, cause)
}

// Causes, wrapped beside the sentinels.
var (
	errClosed   = errors.New("mesh closed")
	errBusy     = errors.New("peer busy: too many requests in progress")
	errLinkDown = errors.New("link down")
	errTooLarge = errors.New("payload exceeds MaxFrame")
)
