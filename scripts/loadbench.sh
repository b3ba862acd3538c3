#!/usr/bin/env bash
# Load benchmarks behind BENCHMARKS.md. Everything runs on this machine over
# loopback: the ceiling (a fixed-response server), aspstated with each local
# backend, and aspstated on a redis-server that this script starts, each
# measured with `aspstate bench` (50 connections, 10,000 sessions of 1 KiB),
# alternating between targets round by round so that drift in the machine's
# speed hits all of them alike. Needs redis-server and redis-benchmark for the
# Redis part (skipped with a note when absent).
#
#   scripts/loadbench.sh [ROUNDS] [DURATION]      e.g. scripts/loadbench.sh 3 10s
#   TARGETS="ceiling memory" scripts/loadbench.sh 3 10s     only some targets
set -euo pipefail
TARGETS=${TARGETS:-ceiling memory bbolt badger redis}
ROUNDS=${1:-3}
DURATION=${2:-10s}
CONNS=50
SESSIONS=10000
cd "$(dirname "$0")/.."
. scripts/benchlib.sh
B="$work/aspstate"

start() { # name port args...
  local name=$1 port=$2; shift 2
  "$@" >"$work/$name.log" 2>&1 &
  pids+=($!); eval "pid_$name=$!"
  wait_port "$port"
}

P_CEIL=$(free_port); start ceiling "$P_CEIL" "$B" ceiling --listen 127.0.0.1:$P_CEIL
P_MEM=$(free_port);  start memory  "$P_MEM"  "$work/aspstated" --listen 127.0.0.1:$P_MEM
P_BOLT=$(free_port); start bbolt   "$P_BOLT" "$work/aspstated" --listen 127.0.0.1:$P_BOLT --backend.type bbolt --backend.bbolt.path "$work/bolt.db"
P_BDG=$(free_port);  start badger  "$P_BDG"  "$work/aspstated" --listen 127.0.0.1:$P_BDG --backend.type badger --backend.badger.path "$work/badger"
targets="ceiling:$P_CEIL memory:$P_MEM bbolt:$P_BOLT badger:$P_BDG"
if command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null; then
  P_RDS=$(free_port); start redis "$P_RDS" redis-server --port "$P_RDS" --bind 127.0.0.1 --save "" --appendonly no
  P_GWR=$(free_port); start gwredis "$P_GWR" "$work/aspstated" --listen 127.0.0.1:$P_GWR --backend.type redis --backend.redis.addrs 127.0.0.1:$P_RDS
  targets="$targets redis:$P_GWR"
else
  echo "# redis-server/redis-benchmark not found: Redis rows skipped"
fi

bench() { # target port scenario
  "$B" bench --server 127.0.0.1:$2 --scenario "$3" --connections $CONNS --sessions $SESSIONS \
    --payload 1024 --duration "$DURATION" --warmup 1s --json 2>>"$work/bench.err" \
    | sed "s/^{/{\"target\":\"$1\",\"round\":$ROUND,/"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), go $(go env GOVERSION)"
echo "# rounds=$ROUNDS duration=$DURATION connections=$CONNS sessions=$SESSIONS payload=1024"
redis_benchmark() { # get|set, printed as a JSON row
  local rps
  rps=$(redis-benchmark -p "$P_RDS" -c $CONNS -n 500000 -d 1024 -r 10000 -t "$1" --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
  echo "{\"target\":\"redis-benchmark\",\"round\":$ROUND,\"scenario\":\"$1\",\"requests_per_s\":$rps}"
}
if [ -n "${P_RDS:-}" ] && [[ " $TARGETS " == *" redis "* ]]; then
  # Fill redis-benchmark's 10,000 keys first, so that its GETs return 1 KiB
  # values from the first round on, not misses.
  redis-benchmark -p "$P_RDS" -c $CONNS -n 200000 -d 1024 -r 10000 -t set -q >/dev/null 2>&1
fi

for ROUND in $(seq "$ROUNDS"); do
  for t in $targets; do
    name=${t%%:*}; port=${t##*:}
    case " $TARGETS " in *" $name "*) ;; *) continue ;; esac
    # redis-benchmark's GET runs right before the gateway's read and its SET
    # right after the cycle, so that each pair meets the same machine speed.
    if [ "$name" = redis ]; then redis_benchmark get; fi
    bench "$name" "$port" read
    [ "$name" = ceiling ] && continue
    bench "$name" "$port" cycle
    if [ "$name" = redis ]; then redis_benchmark set; fi
  done
done

rss() { awk '/VmRSS/ {printf "%.0f MiB", $2/1024}' /proc/$1/status; }
echo "# RSS after the runs: memory $(rss $pid_memory), bbolt $(rss $pid_bbolt), badger $(rss $pid_badger)"
