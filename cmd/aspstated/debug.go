package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/aspstate/aspstate/frontend"
	"github.com/aspstate/aspstate/peering"
)

// serveDebug starts the opt-in operator listener (debug.listen): /stats
// returns the server's counters as JSON and /debug/pprof/ the Go profiler.
// It is off by default and should stay on loopback: profiles reveal memory.
func serveDebug(ctx context.Context, addr string, srv *frontend.Server, node *peering.Node, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		st := srv.Stats()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]int64{
			"connections_open":     st.Open.Load(),
			"connections_accepted": st.Accepted.Load(),
			"connections_rejected": st.Rejected.Load(),
			"requests":             st.Status200.Load() + st.Status400.Load() + st.Status404.Load() + st.Status423.Load(),
			"status_200":           st.Status200.Load(),
			"status_400":           st.Status400.Load(),
			"status_404":           st.Status404.Load(),
			"status_423":           st.Status423.Load(),
			"backend_errors":       st.BackendErrors.Load(),
			"protocol_errors":      st.ProtocolErrs.Load(),
		})
	})
	if node != nil {
		servePeers(mux, node, log)
	}
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	log.Info("debug listener: /stats and /debug/pprof/", "addr", ln.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	}, nil
}

// servePeers adds the peering endpoints that `aspstate peers` uses: GET
// /peers (the view, links and counters; no session data) and POST
// /peers/down?member=ID (an operator declares a member dead).
func servePeers(mux *http.ServeMux, node *peering.Node, log *slog.Logger) {
	writeStatus := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(node.Status())
	}
	mux.HandleFunc("GET /peers", func(w http.ResponseWriter, r *http.Request) { writeStatus(w) })
	mux.HandleFunc("POST /peers/down", func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("member")
		if err := node.DeclareDown(id); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		log.Warn("operator declared a member down", "member", id, "remote", r.RemoteAddr)
		writeStatus(w)
	})
}
