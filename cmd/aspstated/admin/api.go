package admin

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/recordcodec"
	"github.com/aspstate/aspstate/frontend"
	"github.com/aspstate/aspstate/locking"
)

// The operators' session API (docs/admin-api.md). Everything but the
// overview needs the token; see auth.go.

// serveAPI adds /api/ to mux. The page at / is added by its own code.
func (s *Server) serveAPI(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/overview", s.guard(overviewAccess, s.overview))
	mux.HandleFunc("GET /api/sessions", s.guard(tokenAccess, s.sessionsAPI(s.listSessions)))
	mux.HandleFunc("GET /api/session", s.guard(tokenAccess, s.sessionsAPI(s.getSession)))
	mux.HandleFunc("GET /api/session/blob", s.guard(tokenAccess, s.sessionsAPI(s.getBlob)))
	mux.HandleFunc("POST /api/session/unlock", s.guard(tokenAccess, s.sessionsAPI(s.unlock)))
	mux.HandleFunc("POST /api/session/delete", s.guard(tokenAccess, s.sessionsAPI(s.deleteSession)))
	mux.HandleFunc("GET /api/export", s.guard(tokenAccess, s.sessionsAPI(s.export)))
	mux.HandleFunc("POST /api/import", s.guard(tokenAccess, s.sessionsAPI(s.importSessions)))
	// Anything else under /api/ is a JSON 404, not the page's.
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
}

// sessionsAPI answers 503 when there is nothing to walk or the gateway is
// shutting down, and otherwise runs h on Options.Sessions.
func (s *Server) sessionsAPI(h func(http.ResponseWriter, *http.Request, backends.Mover)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if reason := s.notReady.Load(); reason != nil {
			writeError(w, http.StatusServiceUnavailable, "not serving: "+*reason)
			return
		}
		if s.o.Sessions == nil {
			writeError(w, http.StatusServiceUnavailable,
				"not serving: this gateway cannot walk its sessions (peering without a farm-wide walker)")
			return
		}
		h(w, r, s.o.Sessions)
	}
}

// apiError is the body of every error.
type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, apiError{Error: msg})
}

// storeError answers err from the store or the farm: 404 for an absent
// session, 503 for a closed store, 502 for anything else (never a 404).
// The message never carries the session ID: stores keep it out of errors.
func storeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, backends.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such session")
	case errors.Is(err, backends.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "not serving: the store is closed")
	default:
		writeError(w, http.StatusBadGateway, "the store could not answer: "+err.Error())
	}
}

// sessionEntry is one session as listed and inspected; never the blob.
type sessionEntry struct {
	ID            string     `json:"id"`
	KeyHash       string     `json:"key_hash"`
	Size          int        `json:"size"`
	Timeout       int32      `json:"timeout"`
	ExpiresIn     int64      `json:"expires_in_seconds"`
	Uninitialized bool       `json:"uninitialized"`
	Locked        bool       `json:"locked"`
	Cookie        int32      `json:"cookie"`
	LockDate      *time.Time `json:"lock_date,omitempty"`        // only while locked
	LockAge       *int64     `json:"lock_age_seconds,omitempty"` // only while locked
}

func entryOf(key string, rec *backends.Record, expires, now time.Time) sessionEntry {
	e := sessionEntry{ID: key, KeyHash: frontend.KeyHash(key), Size: len(rec.Data), Timeout: rec.Timeout,
		ExpiresIn: int64(expires.Sub(now) / time.Second), Uninitialized: rec.Uninitialized,
		Locked: rec.Locked, Cookie: rec.LockCookie}
	if rec.Locked {
		d := rec.LockDate.UTC()
		age := locking.LockAge(rec.LockDate, now)
		e.LockDate, e.LockAge = &d, &age
	}
	return e
}

// listQuery is /api/sessions' parameters.
type listQuery struct {
	locked    bool
	olderThan time.Duration
	prefix    string
	limit     int
	offset    int
}

func parseList(r *http.Request) (listQuery, error) {
	q := r.URL.Query()
	lq := listQuery{limit: 100, prefix: q.Get("prefix")}
	if v := q.Get("locked"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return lq, fmt.Errorf("locked: %q is not 0 or 1", v)
		}
		lq.locked = b
	}
	if v := q.Get("older_than"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return lq, fmt.Errorf("older_than: %q is not a duration such as 30s or 5m", v)
		}
		lq.olderThan, lq.locked = d, true
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return lq, fmt.Errorf("limit: %q is not 1..1000", v)
		}
		lq.limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1_000_000 {
			return lq, fmt.Errorf("offset: %q is not 0..1000000", v)
		}
		lq.offset = n
	}
	return lq, nil
}

// entryHeap keeps the first k entries in the listing's order: a max-heap,
// its worst entry on top, so that a walk of any size holds k entries.
type entryHeap struct {
	es     []sessionEntry
	byLock bool
}

// before is the listing's order: oldest lock first, or by ID; ties by ID.
func (h *entryHeap) before(a, b *sessionEntry) bool {
	if h.byLock && !a.LockDate.Equal(*b.LockDate) {
		return a.LockDate.Before(*b.LockDate)
	}
	return a.ID < b.ID
}

func (h *entryHeap) Len() int           { return len(h.es) }
func (h *entryHeap) Less(i, j int) bool { return h.before(&h.es[j], &h.es[i]) }
func (h *entryHeap) Swap(i, j int)      { h.es[i], h.es[j] = h.es[j], h.es[i] }
func (h *entryHeap) Push(x any)         { h.es = append(h.es, x.(sessionEntry)) }
func (h *entryHeap) Pop() any {
	e := h.es[len(h.es)-1]
	h.es = h.es[:len(h.es)-1]
	return e
}

// GET /api/sessions: one walk, keeping offset+limit entries.
func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, m backends.Mover) {
	lq, err := parseList(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	keep := lq.offset + lq.limit
	h := &entryHeap{byLock: lq.locked}
	total := 0
	err = m.Walk(r.Context(), func(key string, rec *backends.Record, expires time.Time) error {
		if !strings.HasPrefix(key, lq.prefix) || lq.locked && !rec.Locked {
			return nil
		}
		now := s.o.Frontend.Now()
		if lq.olderThan > 0 && now.Sub(rec.LockDate) < lq.olderThan {
			return nil
		}
		total++
		e := entryOf(key, rec, expires, now)
		if h.Len() < keep {
			heap.Push(h, e)
		} else if h.before(&e, &h.es[0]) {
			h.es[0] = e
			heap.Fix(h, 0)
		}
		return nil
	})
	if err != nil {
		storeError(w, err)
		return
	}
	out := make([]sessionEntry, h.Len())
	for i := len(out) - 1; i >= 0; i-- {
		out[i] = heap.Pop(h).(sessionEntry)
	}
	out = out[min(lq.offset, len(out)):]
	writeJSON(w, http.StatusOK, struct {
		Total    int            `json:"total"`
		Sessions []sessionEntry `json:"sessions"`
	}{total, out})
}

// sessionID is the id parameter, or a 400.
func sessionID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.URL.Query().Get("id")
	if id == "" {
		writeError(w, http.StatusBadRequest, "id: missing (the session's key, as listed)")
		return "", false
	}
	return id, true
}

// GET /api/session?id=ID: Peek, which neither slides nor clears anything.
func (s *Server) getSession(w http.ResponseWriter, r *http.Request, m backends.Mover) {
	id, ok := sessionID(w, r)
	if !ok {
		return
	}
	rec, expires, err := m.Peek(r.Context(), id)
	if err != nil {
		storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, entryOf(id, &rec, expires, s.o.Frontend.Now()))
}

// GET /api/session/blob?id=ID: the blob as stored.
func (s *Server) getBlob(w http.ResponseWriter, r *http.Request, m backends.Mover) {
	id, ok := sessionID(w, r)
	if !ok {
		return
	}
	rec, _, err := m.Peek(r.Context(), id)
	if err != nil {
		storeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(rec.Data)))
	w.Write(rec.Data)
}

// POST /api/session/unlock?id=ID&who=W&why=Y: the protocol's release with
// the lock's own cookie, run as a web server's request would be (at the
// owner, waking waiters), but only if the session is still locked: a lock
// its holder released between the Peek and the release is reported as not
// locked (the protocol's release of an unlocked record would answer 200 and
// clear the uninitialized flag), one taken again since with another cookie
// as a 409.
func (s *Server) unlock(w http.ResponseWriter, r *http.Request, m backends.Mover) {
	id, ok := sessionID(w, r)
	if !ok {
		return
	}
	rec, _, err := m.Peek(r.Context(), id)
	if err != nil {
		storeError(w, err)
		return
	}
	if !rec.Locked {
		writeJSON(w, http.StatusOK, map[string]any{"unlocked": false})
		return
	}
	res, err := s.o.Frontend.Run(r.Context(), id, &locking.Request{Op: locking.OpRelease,
		LockCookie: locking.N(rec.LockCookie), OnlyIfLocked: true})
	if err == nil && res.Status == locking.StatusNotLocked {
		writeJSON(w, http.StatusOK, map[string]any{"unlocked": false})
		return
	}
	if !s.ranOK(w, res, err) {
		return
	}
	s.logAction(r, "operator force-unlocked a session", id, "cookie", rec.LockCookie)
	writeJSON(w, http.StatusOK, map[string]any{"unlocked": true, "cookie": rec.LockCookie})
}

// POST /api/session/delete?id=ID&who=W&why=Y: the protocol's remove, with
// the lock's cookie when locked.
func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request, m backends.Mover) {
	id, ok := sessionID(w, r)
	if !ok {
		return
	}
	rec, _, err := m.Peek(r.Context(), id)
	if err != nil {
		storeError(w, err)
		return
	}
	req := &locking.Request{Op: locking.OpRemove}
	if rec.Locked {
		req.LockCookie = locking.N(rec.LockCookie)
	}
	res, err := s.o.Frontend.Run(r.Context(), id, req)
	if !s.ranOK(w, res, err) {
		return
	}
	s.logAction(r, "operator deleted a session", id, "was_locked", rec.Locked)
	writeJSON(w, http.StatusOK, map[string]any{"deleted": true})
}

// ranOK answers a protocol operation's failure: 404 when the session went
// away, 409 when its lock changed since it was read, 502 when the store or
// the owner could not answer.
func (s *Server) ranOK(w http.ResponseWriter, res locking.Result, err error) bool {
	switch {
	case err != nil:
		storeError(w, err)
	case res.Status == 404:
		writeError(w, http.StatusNotFound, "no such session")
	case res.Status == 423:
		writeError(w, http.StatusConflict, fmt.Sprintf("the lock changed meanwhile (now cookie %d): look again and retry", res.LockCookie))
	case res.Status != 200:
		writeError(w, http.StatusBadGateway, fmt.Sprintf("the operation answered %d: %s", res.Status, res.Reason))
	default:
		return true
	}
	return false
}

// logAction logs an operator's action at warn: the session's key hash, who,
// why and from where; never the session ID.
func (s *Server) logAction(r *http.Request, msg, id string, attrs ...any) {
	q := r.URL.Query()
	s.log.Warn(msg, append([]any{"key_hash", frontend.KeyHash(id), "who", q.Get("who"), "why", q.Get("why"),
		"remote", r.RemoteAddr}, attrs...)...)
}

// countingWriter counts what reached the client.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// GET /api/export: a recordcodec stream written as the walk goes. A failure
// before any byte went out is a JSON error; after, the connection is cut
// (the client sees a damaged stream, never a short one that looks whole).
func (s *Server) export(w http.ResponseWriter, r *http.Request, m backends.Mover) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="sessions.aspstate"`)
	cw := &countingWriter{w: w}
	enc := recordcodec.NewWriter(cw)
	n := 0
	err := m.Walk(r.Context(), func(key string, rec *backends.Record, expires time.Time) error {
		rem := expires.Sub(s.o.Frontend.Now())
		if rem <= 0 {
			return nil
		}
		n++
		return enc.Write(key, rec, rem)
	})
	if err == nil {
		err = enc.Flush()
	}
	if err == nil {
		s.log.Info("operator exported the sessions", "sessions", n, "remote", r.RemoteAddr)
		return
	}
	if r.Context().Err() == nil {
		s.log.Warn("export failed", "after", n, "err", err, "remote", r.RemoteAddr)
	}
	if cw.n == 0 {
		w.Header().Del("Content-Disposition")
		storeError(w, err)
		return
	}
	panic(http.ErrAbortHandler) // cut the connection: the stream is not whole
}

// importCounts is /api/import's answer.
type importCounts struct {
	Error    string `json:"error,omitempty"`
	Imported int    `json:"imported"`
	Skipped  int    `json:"skipped"`
	Expired  int    `json:"expired"`
}

// POST /api/import?replace=0: Install each record of the stream with its
// remaining lifetime.
func (s *Server) importSessions(w http.ResponseWriter, r *http.Request, m backends.Mover) {
	replace := false
	if v := r.URL.Query().Get("replace"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("replace: %q is not 0 or 1", v))
			return
		}
		replace = b
	}
	var c importCounts
	code, err := s.importStream(r.Context(), recordcodec.NewReader(r.Body), m, replace, &c)
	if err != nil {
		s.log.Warn("import stopped", "imported", c.Imported, "skipped", c.Skipped, "expired", c.Expired,
			"err", err, "remote", r.RemoteAddr)
		c.Error = err.Error()
		writeJSON(w, code, c)
		return
	}
	s.log.Info("operator imported sessions", "imported", c.Imported, "skipped", c.Skipped, "expired", c.Expired,
		"replace", replace, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, c)
}

// importStream installs rd's records, counting them in c; on failure it
// returns the status to answer and why.
func (s *Server) importStream(ctx context.Context, rd *recordcodec.Reader, m backends.Mover, replace bool, c *importCounts) (int, error) {
	for {
		key, rec, rem, err := rd.Next()
		if err == io.EOF {
			return 0, nil
		}
		if err != nil {
			return http.StatusBadRequest, fmt.Errorf("damaged stream after %d records (%d imported): %w",
				c.Imported+c.Skipped+c.Expired, c.Imported, err)
		}
		if rem <= 0 {
			c.Expired++
			continue
		}
		stored, err := m.Install(ctx, key, rec, s.o.Frontend.Now().Add(rem), replace)
		switch {
		case errors.Is(err, backends.ErrTooLarge):
			return http.StatusBadRequest, fmt.Errorf("session %s: %w (%d imported before it)", frontend.KeyHash(key), err, c.Imported)
		case errors.Is(err, backends.ErrClosed):
			return http.StatusServiceUnavailable, fmt.Errorf("not serving: %w (%d imported before it)", err, c.Imported)
		case err != nil:
			return http.StatusBadGateway, fmt.Errorf("the store could not answer: %w (%d imported before it)", err, c.Imported)
		case stored:
			c.Imported++
			if replace && s.o.Node == nil {
				// A replaced record may have dropped a lock that requests
				// wait for here (peering's Install wakes them at the owner;
				// on Redis the store announces it to the other gateways).
				s.o.Frontend.Notify(key)
			}
		default:
			c.Skipped++
		}
	}
}
