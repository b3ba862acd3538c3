#!/usr/bin/env bash
# Memory and restart figures behind BENCHMARKS.md: for each backend, start
# aspstated, store N sessions of 1 KiB through the protocol (aspstate bench's
# setup phase), run a short read load over them, and read the gateway
# process's RSS (with its anonymous and file-backed parts). For the durable
# backends, also time a clean restart (SIGTERM) and a crash restart (kill -9)
# until the gateway listens again with the data.
#
#   scripts/millionbench.sh [N] [BACKENDS]     e.g. scripts/millionbench.sh 1000000 "memory bbolt badger"
set -euo pipefail
N=${1:-1000000}
BACKENDS=${2:-memory bbolt badger}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/" ./cmd/aspstated ./cmd/aspstate
starts=0
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

args_for() {
  case $1 in
    memory) echo "--backend.type memory" ;;
    bbolt) echo "--backend.type bbolt --backend.bbolt.path $work/bolt.db" ;;
    badger) echo "--backend.type badger --backend.badger.path $work/badger" ;;
  esac
}
start() { # backend; sets pid and elapsed (seconds until listening)
  local t0=$(date +%s.%N)
  starts=$((starts + 1)); log="$work/$1.$starts.log"
  "$work/aspstated" --listen 127.0.0.1:$port $(args_for "$1") >"$log" 2>&1 &
  pid=$!
  until grep -q "aspstated listening" "$log" 2>/dev/null; do
    kill -0 $pid 2>/dev/null || { echo "aspstated died:"; cat "$log"; exit 1; }
    sleep 0.05
  done
  elapsed=$(echo "$(date +%s.%N) - $t0" | bc | cut -c1-5)
}
mem() { awk '/VmRSS|RssAnon|RssFile/ {printf "%s %.0f MiB  ", $1, $2/1024}' /proc/$pid/status; }

echo "# $(date -u +%FT%TZ) $(nproc) cores, $N sessions of 1 KiB"
for b in $BACKENDS; do
  start "$b"
  t0=$(date +%s.%N)
  "$work/aspstate" bench --server 127.0.0.1:$port --sessions "$N" --connections 50 --duration 10s --warmup 0s --payload 1024 --scenario read \
    | grep -E "setup|requests/s|all "
  echo "$b: stored and read $N sessions in $(echo "$(date +%s.%N) - $t0" | bc | cut -c1-6) s; $(mem)"
  if [ "$b" != memory ]; then
    kill -TERM $pid; wait $pid || true
    start "$b"
    echo "$b: clean restart (SIGTERM, then start) listening after $elapsed s; $(mem)"
    sleep 1
    kill -9 $pid; wait $pid 2>/dev/null || true
    start "$b"
    echo "$b: crash restart (kill -9, then start) listening after $elapsed s; $(mem)"
    grep -ihE "opened|loaded|recover" "$work/$b".*.log | tail -3 || true
  fi
  kill -TERM $pid; wait $pid || true
  pid=
  rm -rf "$work/bolt.db" "$work/badger"
done
