package locking

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aspstate/aspstate/backends"
)

// Lock wait (opt-in, issue 15): a Get or GetExclusive that finds the session
// locked may be held for up to WaitConfig.Wait and answered as soon as the
// lock is released, instead of an immediate 423 that makes the web server
// poll again in 500 ms steps. See Waiters.

const (
	// MaxWait is the longest configurable wait: well under the client's own
	// 10 s network timeout, so a held request is always answered in time.
	MaxWait = 5 * time.Second
	// DefaultMaxWaiters is ASP.NET's own per-session queue limit.
	DefaultMaxWaiters = 50
)

// WaitConfig is the lock wait's configuration (the locking.* keys).
type WaitConfig struct {
	// Wait is how long a Get or GetExclusive that finds the session locked
	// waits for the release; 0 answers 423 at once (the reference behaviour).
	Wait time.Duration `koanf:"wait" default:"0s" help:"hold a read or acquire of a locked session up to this long for the release (0: answer 423 at once, like the stock service; at most 5s)"`
	// MaxWaiters bounds the requests waiting for one session; the rest get
	// the immediate 423.
	MaxWaiters int `koanf:"max_waiters" default:"50" help:"most requests waiting for one session's lock; more get 423 at once"`
	// Hot423s and HotDelay damp one hot session (HotSessions): once a
	// session has answered more than Hot423s 423s in the last 100 ms, its
	// further 423s are answered no sooner than HotDelay after their request
	// arrived. Either zero turns the damping off.
	Hot423s int `koanf:"hot_423s" default:"20" help:"423s one session may answer per 100 ms before its further 423s are delayed by hot_delay (0: never delay)"`
	// HotWindow is the window the 423s are counted over (0: HotWindow);
	// tests lengthen it.
	HotWindow time.Duration `koanf:"-"`
	HotDelay  time.Duration `koanf:"hot_delay" default:"25ms" help:"how late a 423 for a session past hot_423s is answered, counted from its request's arrival (0: never delay; at most 50ms, far below the web server's 500 ms poll)"`
}

// Validate reports the first invalid field.
func (c *WaitConfig) Validate() error {
	if c.Wait < 0 || c.Wait > MaxWait {
		return fmt.Errorf("locking: wait: %v is outside 0s..%v (the client gives up after 10s)", c.Wait, MaxWait)
	}
	if c.MaxWaiters < 0 {
		return errors.New("locking: max_waiters: must not be negative")
	}
	if c.Hot423s < 0 {
		return errors.New("locking: hot_423s: must not be negative")
	}
	if c.HotDelay < 0 || c.HotDelay > MaxHotDelay {
		return fmt.Errorf("locking: hot_delay: %v is outside 0s..%v (the web server polls every 500ms)", c.HotDelay, MaxHotDelay)
	}
	return nil
}

// clientGoneKey is the context key of WithClientGone.
type clientGoneKey struct{}

// WithClientGone returns ctx carrying gone, which tells whether the web
// server that sent the request being run has hung up. A router that sends
// the request elsewhere to wait (peering) watches it and gives the request
// up when it turns true; gone must be safe to call from another goroutine
// while the request runs.
func WithClientGone(ctx context.Context, gone func() bool) context.Context {
	return context.WithValue(ctx, clientGoneKey{}, gone)
}

// ClientGoneFrom returns the gone func WithClientGone put in ctx, or nil.
func ClientGoneFrom(ctx context.Context) func() bool {
	gone, _ := ctx.Value(clientGoneKey{}).(func() bool)
	return gone
}

// ErrClientGone is returned by Waiters.Do when the waiting request's client
// went away: nothing was taken for it, and nobody is left to answer.
var ErrClientGone = errors.New("locking: the waiting client has gone away")

// Releases reports whether a transition from cur to ch frees a lock that
// waiters may be queued behind: a locked record unlocked (a PUT with the
// cookie, a release) or deleted (a DELETE with the cookie).
func Releases(cur *backends.Record, ch backends.Change) bool {
	if cur == nil || !cur.Locked {
		return false
	}
	return ch.Action == backends.Delete || (ch.Action == backends.Store && !ch.Record.Locked)
}

// Waiters is the registry of requests waiting for a session's lock, one FIFO
// queue per key. A nil *Waiters, or one with a zero wait, never waits.
//
// # How a wait goes
//
// The caller runs the request once. If it answers 423 to a Get or
// GetExclusive, Await has the request join the key's queue (or, with
// MaxWaiters already queued, keeps its 423) and run again at once, which
// catches a release that happened before it joined. Then it sleeps until Notify wakes it, its wait runs out,
// or ctx ends. Notify wakes only the head of the queue, so one request at a
// time races for the lock, in arrival order. The head runs again: a 200 to a
// GetExclusive holds the lock and the next waiter sleeps on; any other
// answer (a Get's 200, a 404 after a DELETE) passes the wake to the next
// waiter; a 423 (another request got there first) keeps it at the head. A
// woken waiter whose client has gone (the gone callback) leaves without
// running, passing the wake on. When the wait runs out the request runs one
// last time and its answer stands: a 423 then carries the lock's date and
// age at that moment.
//
// A request that arrives while others already wait for its key (and the
// queue has room) does not run first: AwaitBehind queues it behind them,
// so it cannot take the lock ahead of a woken waiter, and it costs the
// store nothing until its turn.
//
// Each answer is exactly that of a request arriving when it ran. Expiry
// needs no wake of its own: the request that found the lock slid the
// record's deadline by its timeout (at least a minute, far beyond MaxWait),
// so on a real clock the record cannot expire while anyone waits; with a
// test clock moved past the deadline, the next run answers 404.
//
// # Notifications
//
// Whoever applies a transition that Releases reports calls Notify after the
// store has applied it: the front end, and peering for operations forwarded
// to this gateway. A store shared by gateways (Redis) carries releases made
// elsewhere to Notify (see cmd/aspstated), for the keys that ExpectWith's
// function was told are waited for. Notify costs one atomic load while
// nobody waits.
//
// # Concurrency
//
// Safe for concurrent use. mu is never held while a request runs.
type Waiters struct {
	wait   time.Duration
	max    int
	expect ExpectFunc // nil: releases reach Notify without being asked for

	waiting atomic.Int64 // requests queued, all keys: Notify's fast path

	mu     sync.Mutex        // guards queues and every queue's waiters
	queues map[string]*queue // a key with no waiters has no entry
}

type queue struct {
	ws []*waiter // FIFO
}

type waiter struct {
	wake chan struct{} // buffered 1: a wake is never lost, never blocks
}

// ExpectFunc is told, before a request starts waiting up to d for key's
// lock, to make sure that a release of key reaches Notify from then on; the
// request runs again only after it returned. A shared store announces
// releases to other gateways only on request (redisstore's ExpectRelease).
// An error ends the wait with that error.
type ExpectFunc func(ctx context.Context, key string, d time.Duration) error

// ExpectWith sets the ExpectFunc; call it before the Waiters is used.
func (w *Waiters) ExpectWith(fn ExpectFunc) { w.expect = fn }

// NewWaiters returns the registry for cfg; a MaxWaiters of 0 means
// DefaultMaxWaiters.
func NewWaiters(cfg WaitConfig) *Waiters {
	m := cfg.MaxWaiters
	if m == 0 {
		m = DefaultMaxWaiters
	}
	return &Waiters{wait: cfg.Wait, max: m, queues: map[string]*queue{}}
}

// Enabled reports whether requests ever wait.
func (w *Waiters) Enabled() bool { return w != nil && w.wait > 0 }

// Duration is the configured wait (0 when off).
func (w *Waiters) Duration() time.Duration {
	if w == nil {
		return 0
	}
	return w.wait
}

// Waiting returns how many requests wait, over all keys.
func (w *Waiters) Waiting() int64 {
	if w == nil {
		return 0
	}
	return w.waiting.Load()
}

// Notify wakes the first request waiting for key, if any: its lock has been
// released (or the session removed). Call it after the store applied the
// change. Extra calls are harmless.
func (w *Waiters) Notify(key string) {
	if w == nil || w.waiting.Load() == 0 {
		return
	}
	w.mu.Lock()
	if q := w.queues[key]; q != nil {
		q.ws[0].signal()
	}
	w.mu.Unlock()
}

func (wt *waiter) signal() {
	select {
	case wt.wake <- struct{}{}:
	default:
	}
}

// Waits reports whether a request op that was answered status waits: a Get
// or GetExclusive answered 423 while the wait is on.
func (w *Waiters) Waits(op Op, status int) bool {
	return status == 423 && (op == OpGet || op == OpGetExclusive) && w.Enabled()
}

// Await is called when Waits says so, after a Get or GetExclusive on key
// was answered 423. It waits as the type's comment says, running try again
// as needed: try applies the request to the store and returns the status it
// answered (the caller keeps the answer itself, from the last run). gone
// reports whether the client has left (nil: never). Await returns try's
// error, ctx's error if ctx ended during the wait (the last answer stands),
// or ErrClientGone; nil otherwise, with the last run's answer to send.
func (w *Waiters) Await(ctx context.Context, key string, op Op, try func() (int, error), gone func() bool) error {
	wt, ok := w.join(key, false)
	if !ok {
		return nil // queue full: the 423 stands
	}
	return w.await(ctx, key, op, wt, try, gone, true)
}

// AwaitBehind is Await for a request that has not run yet, called when it
// arrives: if other requests already wait for key's lock and the queue has
// room, it joins behind them without running (it would find the lock held,
// or take it from the head of the queue) and waits as Await does, and
// reports true; its answer is the one of its first run, which comes with a
// wake or when the wait runs out. Otherwise it does nothing and reports
// false: run the request, then Await if Waits says so.
//
// It saves a store round trip or two per request on a contended session
// (the first run, and Await's run after joining), and keeps arrival order
// among waiters. Use it only where the request runs in this gateway's
// store, so that releases reach Notify here.
func (w *Waiters) AwaitBehind(ctx context.Context, key string, op Op, try func() (int, error), gone func() bool) (bool, error) {
	if !w.Enabled() || (op != OpGet && op != OpGetExclusive) || w.waiting.Load() == 0 {
		return false, nil
	}
	wt, ok := w.join(key, true)
	if !ok {
		return false, nil
	}
	return true, w.await(ctx, key, op, wt, try, gone, false)
}

// WaitsFor reports whether requests wait for key's lock now (AwaitBehind
// would queue a request behind them, if there is room).
func (w *Waiters) WaitsFor(key string) bool {
	if !w.Enabled() || w.waiting.Load() == 0 {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.queues[key] != nil
}

// await waits in wt's place in key's queue, as Await's comment says; ran
// tells whether the request has run yet (else it has not, and a wake is
// what it waits for before its first run).
func (w *Waiters) await(ctx context.Context, key string, op Op, wt *waiter, try func() (int, error), gone func() bool, ran bool) error {
	if w.expect != nil {
		// Before the run below: a release after it is then announced.
		if err := w.expect(ctx, key, w.wait); err != nil {
			w.leave(key, wt, true)
			return err
		}
	}
	timer := time.NewTimer(w.wait)
	defer timer.Stop()
	for {
		// Run again: the first time catches a release made before joining;
		// later, a wake means the lock was released. A request queued
		// behind others before it ran waits for its wake first.
		if ran {
			status, err := try()
			if err != nil {
				w.leave(key, wt, true)
				return err
			}
			if status != 423 {
				// A GetExclusive's 200 holds the lock: the next waiter
				// waits for its release. Anything else leaves the lock
				// free.
				w.leave(key, wt, !(op == OpGetExclusive && status == 200))
				return nil
			}
		}
		select {
		case <-wt.wake:
			if gone != nil && gone() {
				w.leave(key, wt, true)
				return ErrClientGone
			}
		case <-timer.C:
			if gone != nil && gone() {
				w.leave(key, wt, true)
				return ErrClientGone
			}
			status, err := try()
			w.leave(key, wt, err != nil || (status != 423 && !(op == OpGetExclusive && status == 200)))
			return err
		case <-ctx.Done():
			if !ran && gone != nil && gone() {
				w.leave(key, wt, true)
				return ErrClientGone
			}
			if !ran {
				// Never run: there is no answer yet, so run it once (as
				// if the wait were off) and let that answer stand.
				_, err := try()
				w.leave(key, wt, true)
				if err != nil {
					return err
				}
			} else {
				w.leave(key, wt, true)
			}
			return ctx.Err()
		}
		ran = true // woken: run
	}
}

// join queues a waiter for key, or reports false when MaxWaiters wait
// (or, with behind, when nobody waits for key yet).
func (w *Waiters) join(key string, behind bool) (*waiter, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.queues[key]
	if behind && q == nil {
		return nil, false
	}
	if q == nil {
		// The caller's key may borrow a buffer: the map keeps a copy.
		q = &queue{}
		w.queues[strings.Clone(key)] = q
	}
	if len(q.ws) >= w.max {
		return nil, false
	}
	wt := &waiter{wake: make(chan struct{}, 1)}
	q.ws = append(q.ws, wt)
	w.waiting.Add(1)
	return wt, true
}

// leave removes wt from key's queue. With pass, the new head is woken: the
// lock may be free (or wt may have swallowed a wake meant for the queue).
func (w *Waiters) leave(key string, wt *waiter, pass bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.queues[key]
	for i, x := range q.ws {
		if x == wt {
			q.ws = append(q.ws[:i], q.ws[i+1:]...)
			break
		}
	}
	w.waiting.Add(-1)
	if !pass {
		// A wake sent to wt before it left was meant for the queue (the
		// lock was released after wt's last run): pass it on.
		select {
		case <-wt.wake:
			pass = true
		default:
		}
	}
	if len(q.ws) == 0 {
		delete(w.queues, key)
		return
	}
	if pass {
		q.ws[0].signal()
	}
}
