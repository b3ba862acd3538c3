#!/usr/bin/env bash
# The Redis Cluster figures in BENCHMARKS.md: a 3-node Redis Cluster (no
# replicas) on this machine, one aspstated on it, `aspstate bench` read and
# cycle (50 connections, 10,000 sessions of 1 KiB), and redis-benchmark
# --cluster GET and SET of 1 KiB values with the same concurrency, round by
# round. On a Cluster each session read is its own MULTI block (a block must
# stay in one hash slot) in a pipeline per node through go-redis, so this
# path differs from the standalone one that scripts/loadbench.sh measures.
#
#   scripts/clusterbench.sh [ROUNDS] [DURATION]      e.g. scripts/clusterbench.sh 3 10s
set -euo pipefail
ROUNDS=${1:-3}
DURATION=${2:-10s}
CONNS=50
cd "$(dirname "$0")/.."
. scripts/benchlib.sh

# Ports whose cluster bus (port+10000) is free as well.
free_pair() { python3 -c '
import socket
while True:
    a = socket.socket(); a.bind(("127.0.0.1", 0)); p = a.getsockname()[1]
    if p + 10000 > 65535: a.close(); continue
    b = socket.socket()
    try: b.bind(("127.0.0.1", p + 10000))
    except OSError: a.close(); b.close(); continue
    print(p); break'; }

addrs=()
for i in 1 2 3; do
  port=$(free_pair)
  mkdir -p "$work/node$i"
  (cd "$work/node$i" && exec redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    --cluster-enabled yes --cluster-config-file nodes.conf >redis.log 2>&1) &
  pids+=($!)
  wait_port "$port"
  addrs+=("127.0.0.1:$port")
done
redis-cli --cluster create "${addrs[@]}" --cluster-yes >"$work/create.log" 2>&1
for _ in $(seq 100); do
  redis-cli -p "${addrs[0]##*:}" cluster info | grep -q cluster_state:ok && break
  sleep 0.1
done

P_GW=$(free_port)
"$work/aspstated" --listen 127.0.0.1:$P_GW --backend.type redis --backend.redis.addrs "$(IFS=,; echo "${addrs[*]}")" >"$work/gw.log" 2>&1 &
pids+=($!)
wait_port "$P_GW"

rb() { # get|set
  local rps
  rps=$(redis-benchmark --cluster -h 127.0.0.1 -p "${addrs[0]##*:}" -c $CONNS -n 500000 -d 1024 -r 10000 -t "$1" --csv 2>/dev/null | tail -1 | cut -d, -f2 | tr -d '"')
  echo "{\"target\":\"redis-benchmark\",\"round\":$ROUND,\"scenario\":\"$1\",\"requests_per_s\":$rps}"
}
bench() { # scenario
  "$work/aspstate" bench --server 127.0.0.1:$P_GW --scenario "$1" --connections $CONNS --sessions 10000 \
    --payload 1024 --duration "$DURATION" --warmup 1s --json 2>>"$work/bench.err" \
    | sed "s/^{/{\"target\":\"redis\",\"round\":$ROUND,/"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, redis cluster of 3 (no replicas): ${addrs[*]}"
ROUND=0
redis-benchmark --cluster -h 127.0.0.1 -p "${addrs[0]##*:}" -c $CONNS -n 200000 -d 1024 -r 10000 -t set -q >/dev/null 2>&1
for ROUND in $(seq "$ROUNDS"); do
  rb get
  bench read
  bench cycle
  rb set
done
