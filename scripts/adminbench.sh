#!/usr/bin/env bash
# The operators' API under load (issue 14), behind BENCHMARKS.md's "Operators'
# API": a gateway holding N sessions (1 KiB, 1% locked; filled with
# scripts/gensessions through aspstate import: over the API for memory and
# Redis, offline for bbolt), then in each round ordinary traffic (aspstate bench
# --scenario cycle, 50 connections, over 10,000 sessions of its own) runs
# alone and then with one listing repeated back to back for the whole run:
#   sessions  aspstate sessions --locked        (GET /api/sessions, one walk)
#   export    aspstate export > /dev/null       (GET /api/export, a walk streamed)
#   overview  GET /api/overview every second, admin.store_stats_interval 1s
#             (a background walk of the store at most once a second)
# Each listing run is paired with the baseline run just before it. One JSON
# line per run: requests/s, p50/p99/max of the traffic, the listings' count
# and durations (overview: the walk's, from /metrics), the gateway's peak RSS
# (sampled every 200 ms) and the load average.
#
#   scripts/adminbench.sh [ROUNDS] [DURATION] [BACKENDS] [N]   e.g. scripts/adminbench.sh 3 10s "memory bbolt redis" 1000000
set -euo pipefail
ROUNDS=${1:-3}
DUR=${2:-10s}
BACKENDS=${3:-memory bbolt}
N=${4:-1000000}
KINDS=${KINDS:-sessions export overview}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
pid= rpid=
cleanup() {
  touch "$work/stop"
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  [ -n "$rpid" ] && kill -9 "$rpid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/" ./cmd/aspstated ./cmd/aspstate ./scripts/gensessions
echo adminbench-token >"$work/token"
export ASPSTATE_ADMIN_TOKEN=adminbench-token
. scripts/portlib.sh
port=$(free_port) aport=$(free_port)
A=127.0.0.1:$aport

args_for() {
  case $1 in
    memory) echo "--backend.type memory" ;;
    bbolt) echo "--backend.type bbolt --backend.bbolt.path $work/bolt.db ${BOLT_FILL:-}" ;;
    redis) echo "--backend.type redis --backend.redis.addrs 127.0.0.1:$rport" ;;
  esac
}
start() {
  starts=$((${starts:-0} + 1)); log="$work/$1.$starts.log"
  env -u ASPSTATE_ADMIN_TOKEN "$work/aspstated" --listen 127.0.0.1:$port --admin.listen "$A" --admin.token_file "$work/token" \
    --admin.store_stats_interval 1s $(args_for "$1") >"$log" 2>&1 &
  pid=$!
  until grep -q "aspstated listening" "$log" 2>/dev/null; do
    kill -0 $pid 2>/dev/null || { echo "aspstated died:"; cat "$log"; exit 1; }
    sleep 0.05
  done
}
rss_mib() { awk '/VmRSS/ {printf "%.0f", $2/1024}' /proc/$pid/status; }

list_once() { # kind: one listing; prints its duration in seconds
  local t0=$(date +%s.%N)
  case $1 in
    sessions) "$work/aspstate" sessions --admin "$A" --locked >/dev/null 2>"$work/list.err" || { cat "$work/list.err" >&2; return 1; } ;;
    export) "$work/aspstate" export --admin "$A" >/dev/null ;;
    overview) # the walk's duration, from /metrics (not on Redis, which the metrics do not walk)
      curl -sf "http://$A/api/overview" >/dev/null; sleep 1
      curl -sf "http://$A/metrics" | awk '/^aspstate_store_walk_duration_seconds/ {print $2}'; return ;;
  esac
  echo "$(date +%s.%N) - $t0" | bc
}

run() { # backend round kind
  local b=$1 r=$2 kind=$3
  rm -f "$work/stop" "$work/durs" "$work/rss"
  (while [ ! -e "$work/stop" ]; do rss_mib >>"$work/rss"; echo >>"$work/rss"; sleep 0.2; done) &
  local spid=$! lpid=
  if [ "$kind" != none ]; then
    (sleep 1; while [ ! -e "$work/stop" ]; do list_once "$kind" >>"$work/durs"; done) &
    lpid=$!
  fi
  local load=$(cut -d' ' -f1 /proc/loadavg)
  local out
  out=$("$work/aspstate" bench --server 127.0.0.1:$port --scenario cycle --sessions 10000 --connections 50 \
    --duration "$DUR" --warmup 1s --json)
  touch "$work/stop"
  wait $spid
  [ -n "$lpid" ] && { wait $lpid || echo "# $b $kind: a listing failed" >&2; }
  python3 - "$b" "$r" "$kind" "$load" "$work/durs" "$work/rss" "$out" <<'PY'
import json, sys
b, r, kind, load, durs, rss, out = sys.argv[1:]
o = json.loads(out)
try:
    d = [float(x) for x in open(durs).read().split()]
except FileNotFoundError:
    d = []
m = [int(x) for x in open(rss).read().split()]
print(json.dumps({"backend": b, "round": int(r), "kind": kind, "rps": round(o["requests_per_s"]),
    "p50_ms": o["latency"]["p50_us"] / 1e3, "p99_ms": o["latency"]["p99_us"] / 1e3,
    "max_ms": o["latency"]["max_us"] / 1e3, "errors": o["errors"],
    "listings": len(d), "list_s_mean": round(sum(d) / len(d), 3) if d else None,
    "list_s_max": round(max(d), 3) if d else None, "rss_max_mib": max(m) if m else None, "load1": float(load)}))
PY
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, $N sessions of 1 KiB, rounds $ROUNDS x $DUR, load $(cut -d' ' -f1-3 /proc/loadavg)"
for b in $BACKENDS; do
  t0=$(date +%s.%N)
  case $b in
    bbolt) # filled with sync none (an import of one stream is one Install at a time), then served with the default (sync always)
      BOLT_FILL="--backend.bbolt.sync none" start "$b"
      "$work/gensessions" -n "$N" | "$work/aspstate" import --admin "$A" >&2
      kill -TERM $pid; wait $pid || true
      start "$b" ;;
    redis)
      rport=$(free_port)
      redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
      rpid=$!
      until redis-cli -p "$rport" ping >/dev/null 2>&1; do sleep 0.05; done
      start "$b"
      "$work/gensessions" -n "$N" | "$work/aspstate" import --admin "$A" >&2 ;;
    *)
      start "$b"
      "$work/gensessions" -n "$N" | "$work/aspstate" import --admin "$A" >&2 ;;
  esac
  echo "# $b: filled with $N sessions in $(echo "$(date +%s.%N) - $t0" | bc | cut -c1-6) s; RSS $(rss_mib) MiB"
  for r in $(seq "$ROUNDS"); do
    for k in $KINDS; do
      run "$b" "$r" none
      run "$b" "$r" "$k"
    done
  done
  kill -TERM $pid; wait $pid || true
  pid=
  if [ -n "$rpid" ]; then kill -TERM $rpid; wait $rpid || true; rpid=; fi
  rm -f "$work/bolt.db"
done
