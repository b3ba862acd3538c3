package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aspstate/aspstate/backends"
	"github.com/aspstate/aspstate/backends/memstore"
	"github.com/aspstate/aspstate/backends/recordcodec"
)

// fakeAdmin implements docs/admin-api.md's session endpoints minimally on
// a memory store, checking the token as the contract says. It answers what
// the real listener rarely does on demand (409 for the ID "conflict", 502
// for "storedown") and records who and why; realadmin_test.go runs the
// commands against the gateway's own listener (admin.New).
type fakeAdmin struct {
	t     *testing.T
	store *memstore.Store
	token string // "" answers 403 as a gateway without admin.token_file does
	srv   *httptest.Server

	mu      sync.Mutex
	actions []string // "unlock who why", "delete who why"
}

func newFakeAdmin(t *testing.T, token string) *fakeAdmin {
	t.Helper()
	st, err := memstore.New(memstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAdmin{t: t, store: st, token: token}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() { f.srv.Close(); st.Close() })
	return f
}

func (f *fakeAdmin) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

func (f *fakeAdmin) put(key string, rec backends.Record, lifetime time.Duration) {
	f.t.Helper()
	if ok, err := f.store.Install(f.t.Context(), key, rec, time.Now().Add(lifetime), true); !ok || err != nil {
		f.t.Fatalf("install %s: %v %v", key, ok, err)
	}
}

func apiErr(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func entryOf(key string, rec *backends.Record, expires, now time.Time) map[string]any {
	e := map[string]any{"id": key, "key_hash": "h" + strconv.Itoa(len(key)), "size": len(rec.Data), "timeout": rec.Timeout,
		"expires_in_seconds": expires.Sub(now).Seconds(), "uninitialized": rec.Uninitialized, "locked": rec.Locked,
		"cookie": rec.LockCookie}
	if !rec.LockDate.IsZero() {
		e["lock_date"] = rec.LockDate.Format(time.RFC3339Nano)
		if rec.Locked {
			e["lock_age_seconds"] = now.Sub(rec.LockDate).Seconds()
		}
	}
	return e
}

func (f *fakeAdmin) serve(w http.ResponseWriter, r *http.Request) {
	if f.token == "" {
		apiErr(w, http.StatusForbidden, "admin.token_file is not set")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		apiErr(w, http.StatusUnauthorized, "no or wrong token")
		return
	}
	q := r.URL.Query()
	id := q.Get("id")
	ctx := r.Context()
	now := time.Now()
	switch {
	case id == "conflict":
		apiErr(w, http.StatusConflict, "the lock changed")
	case id == "storedown":
		apiErr(w, http.StatusBadGateway, "the store could not answer")
	case r.Method == "GET" && r.URL.Path == "/api/sessions":
		var older time.Duration
		if v := q.Get("older_than"); v != "" {
			var err error
			if older, err = time.ParseDuration(v); err != nil {
				apiErr(w, 400, "older_than: "+err.Error())
				return
			}
		}
		locked := q.Get("locked") == "1" || older > 0
		limit, offset := 100, 0
		if v := q.Get("limit"); v != "" {
			limit, _ = strconv.Atoi(v)
		}
		if v := q.Get("offset"); v != "" {
			offset, _ = strconv.Atoi(v)
		}
		if limit < 1 || limit > 1000 {
			apiErr(w, 400, "limit: 1..1000")
			return
		}
		type item struct {
			key      string
			lockDate time.Time
			e        map[string]any
		}
		var all []item
		f.store.Walk(ctx, func(key string, rec *backends.Record, expires time.Time) error {
			if locked && (!rec.Locked || now.Sub(rec.LockDate) < older) || !strings.HasPrefix(key, q.Get("prefix")) {
				return nil
			}
			all = append(all, item{key, rec.LockDate, entryOf(key, rec, expires, now)})
			return nil
		})
		sort.Slice(all, func(i, j int) bool {
			if locked && !all[i].lockDate.Equal(all[j].lockDate) {
				return all[i].lockDate.Before(all[j].lockDate)
			}
			return all[i].key < all[j].key
		})
		page := []map[string]any{}
		for i := offset; i < len(all) && i < offset+limit; i++ {
			page = append(page, all[i].e)
		}
		json.NewEncoder(w).Encode(map[string]any{"total": len(all), "sessions": page})
	case r.Method == "GET" && r.URL.Path == "/api/session":
		rec, expires, err := f.store.Peek(ctx, id)
		if errors.Is(err, backends.ErrNotFound) {
			apiErr(w, 404, "no such session")
			return
		}
		json.NewEncoder(w).Encode(entryOf(id, &rec, expires, now))
	case r.Method == "POST" && r.URL.Path == "/api/session/unlock":
		found, unlocked, cookie := false, false, int32(0)
		f.store.Apply(ctx, id, func(cur *backends.Record) backends.Change {
			found, unlocked = cur != nil, false
			if cur == nil || !cur.Locked {
				return backends.Change{Action: backends.Keep}
			}
			unlocked, cookie = true, cur.LockCookie
			next := *cur
			next.Locked = false
			return backends.Change{Action: backends.Store, Record: next}
		})
		if !found {
			apiErr(w, 404, "no such session")
			return
		}
		f.mu.Lock()
		f.actions = append(f.actions, "unlock "+q.Get("who")+" "+q.Get("why"))
		f.mu.Unlock()
		if unlocked {
			json.NewEncoder(w).Encode(map[string]any{"unlocked": true, "cookie": cookie})
		} else {
			json.NewEncoder(w).Encode(map[string]any{"unlocked": false})
		}
	case r.Method == "POST" && r.URL.Path == "/api/session/delete":
		found := false
		f.store.Apply(ctx, id, func(cur *backends.Record) backends.Change {
			found = cur != nil
			return backends.Change{Action: backends.Delete}
		})
		if !found {
			apiErr(w, 404, "no such session")
			return
		}
		f.mu.Lock()
		f.actions = append(f.actions, "delete "+q.Get("who")+" "+q.Get("why"))
		f.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"deleted": true})
	case r.Method == "GET" && r.URL.Path == "/api/export":
		w.Header().Set("Content-Type", "application/octet-stream")
		wr := recordcodec.NewWriter(w)
		f.store.Walk(ctx, func(key string, rec *backends.Record, expires time.Time) error {
			return wr.Write(key, rec, time.Until(expires))
		})
		wr.Flush()
	case r.Method == "POST" && r.URL.Path == "/api/import":
		rd := recordcodec.NewReader(r.Body)
		var res importResult
		for {
			key, rec, remaining, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				apiErr(w, 400, "damaged stream after "+strconv.FormatInt(res.Imported+res.Skipped+res.Expired, 10)+" records: "+err.Error())
				return
			}
			if remaining <= 0 {
				res.Expired++
				continue
			}
			ok, err := f.store.Install(ctx, key, rec, time.Now().Add(remaining), q.Get("replace") == "1")
			switch {
			case err != nil:
				apiErr(w, 502, err.Error())
				return
			case ok:
				res.Imported++
			default:
				res.Skipped++
			}
		}
		json.NewEncoder(w).Encode(res)
	default:
		apiErr(w, 404, "no such endpoint")
	}
}
