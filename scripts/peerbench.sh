#!/usr/bin/env bash
# Peering benchmarks behind BENCHMARKS.md ("Peering"). Three aspstated
# processes peered over mutual TLS on loopback (certificates from `aspstate
# certs`), measured with `aspstate bench`:
#   latency   1 connection, 1 KiB: read of a session owned here vs by another
#             gateway; the new-session sequence (and its 404) through a non-owner
#   aggregate load spread over the three gateways vs one gateway on Redis,
#             read and cycle, alternating round by round
#   (latency and aggregate run the farm once per FARM_GOMAXPROCS entry:
#   "default $(nproc)" unless set, see below)
#   drain     SIGTERM of one gateway holding a third of N sessions: its log's
#             drain time and records moved (memory, bbolt, badger)
#   rss       RSS of one gateway holding 1,000,000 sessions, peering on vs off
#
#   scripts/peerbench.sh [PARTS] [ROUNDS] [DURATION]
#   e.g. scripts/peerbench.sh "latency aggregate drain rss" 3 10s | tee p.jsonl
#   scripts/peersummary.py p.jsonl    # latency and aggregate against the goals
set -euo pipefail
PARTS=${1:-latency aggregate drain rss}
ROUNDS=${2:-3}
DURATION=${3:-10s}
DRAIN_SESSIONS=${DRAIN_SESSIONS:-100000}
cd "$(dirname "$0")/.."
. scripts/benchlib.sh
B="$work/aspstate"
D="$work/aspstated"
"$B" certs --dir "$work/certs" --members gw1,gw2,gw3 >/dev/null

# farm BACKEND [FLAGS...]: starts gw1..gw3 with BACKEND (and FLAGS), sets G1
# G2 G3 (protocol ports), A1 A2 A3 (admin ports) and pid_gwN; members are the
# peer ports. With GMP set, each gateway runs with GOMAXPROCS=$GMP.
farm() {
  local backend=$1 i peers=() members tag=$1${GMP:+-gomaxprocs$GMP}
  shift
  for i in 1 2 3; do peers[$i]=$(free_port); done
  members="gw1=127.0.0.1:${peers[1]},gw2=127.0.0.1:${peers[2]},gw3=127.0.0.1:${peers[3]}"
  for i in 1 2 3; do
    local p a
    p=$(free_port); a=$(free_port)
    eval "G$i=$p A$i=$a"
    env ${GMP:+GOMAXPROCS=$GMP} "$D" --listen 127.0.0.1:$p --admin.listen 127.0.0.1:$a --backend.type "$backend" \
      --backend.bbolt.path "$work/$tag-gw$i.db" --backend.badger.path "$work/$tag-gw$i" \
      --peering.self gw$i --peering.listen 127.0.0.1:${peers[$i]} --peering.members "$members" \
      --peering.tls.ca_file "$work/certs/ca.pem" --peering.tls.cert_file "$work/certs/gw$i.pem" \
      --peering.tls.key_file "$work/certs/gw$i-key.pem" --peering.drain_timeout 120s "$@" \
      >"$work/$tag-gw$i.log" 2>&1 &
    pids+=($!); farm_pids+=($!); eval "pid_gw$i=$!"
  done
  for i in 1 2 3; do eval wait_port "\$G$i"; done
  sleep 1 # links up
}
farm_pids=()
stop_farm() { # every farm started since the last stop_farm
  local p
  for p in "${farm_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${farm_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  farm_pids=()
}

# The farm runs once per entry of FARM_GOMAXPROCS: "default" leaves the
# choice to the gateways (three members on this host: each takes its share
# of the cores, see peering/cores.go), a number sets GOMAXPROCS for each of
# the three (the default list adds every core each, which is what they did
# before they shared); those targets' labels end in -gomaxprocsN.
FARM_GOMAXPROCS=${FARM_GOMAXPROCS:-default $(nproc)}

bench() { # label port|host:port[,host:port...] args...
  local label=$1 server=$2; shift 2
  [[ $server == *:* ]] || server=127.0.0.1:$server
  "$B" bench --server "$server" --payload 1024 --duration "$DURATION" --warmup 1s --json "$@" 2>>"$work/bench.err" \
    | sed "s/^{/{\"target\":\"$label\",\"round\":${ROUND:-0},/"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), go $(go env GOVERSION)"
echo "# parts=$PARTS rounds=$ROUNDS duration=$DURATION"
M="--members gw1,gw2,gw3"

if [[ " $PARTS " == *" latency "* ]]; then
  for g in $FARM_GOMAXPROCS; do
    GMP=${g#default} sfx=${GMP:+-gomaxprocs$GMP}
    farm memory
    for ROUND in $(seq "$ROUNDS"); do
      bench local-read$sfx "$G1" --scenario read --connections 1 --sessions 1000 --owner gw1 $M
      bench remote-read$sfx "$G1" --scenario read --connections 1 --sessions 1000 --owner gw2 $M
      bench local-new$sfx "$G1" --scenario new --connections 1 --owner gw1 $M
      bench remote-new$sfx "$G1" --scenario new --connections 1 --owner gw2 $M
    done
    stop_farm
  done
  GMP=
fi

if [[ " $PARTS " == *" aggregate "* ]]; then
  command -v redis-server >/dev/null || { echo "peerbench: the aggregate part compares with a Redis gateway and needs redis-server (make test-deps installs it)" >&2; exit 2; }
  declare -A farm_servers
  for g in $FARM_GOMAXPROCS; do
    GMP=${g#default}
    farm memory
    farm_servers[$g]="127.0.0.1:$G1,127.0.0.1:$G2,127.0.0.1:$G3"
  done
  GMP=
  P_RDS=$(free_port)
  redis-server --port "$P_RDS" --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
  pids+=($!); wait_port "$P_RDS"
  P_GWR=$(free_port)
  "$D" --listen 127.0.0.1:$P_GWR --backend.type redis --backend.redis.addrs 127.0.0.1:$P_RDS >"$work/gwredis.log" 2>&1 &
  pids+=($!); wait_port "$P_GWR"
  for ROUND in $(seq "$ROUNDS"); do
    for sc in read cycle; do
      # The farm (each configuration in turn) and the Redis gateway get
      # the same load generator: 48 connections, which on the farm take
      # the three gateways in turn.
      for g in $FARM_GOMAXPROCS; do
        GMP=${g#default}
        bench "peered3${GMP:+-gomaxprocs$GMP}" "${farm_servers[$g]}" --scenario $sc --connections 48 --sessions 9000
      done
      bench redis1 "$P_GWR" --scenario $sc --connections 48 --sessions 9000
    done
  done
  stop_farm
fi

if [[ " $PARTS " == *" drain "* ]]; then
  for backend in ${DRAIN_BACKENDS:-memory bbolt badger}; do
    # A durable gateway announces a restart on SIGTERM (nothing moves)
    # unless told to leave the farm.
    farm "$backend" --peering.drain_on_stop
    bp=()
    # Store the sessions through all three gateways (each keeps what it owns).
    for i in 1 2 3; do
      eval port=\$G$i
      "$B" bench --server 127.0.0.1:$port --scenario read --connections 32 --sessions $((DRAIN_SESSIONS / 3)) \
        --app "/LM/W3SVC/1/ROOT/drain$i" --payload 1024 --duration 1s --warmup 0s --json >/dev/null 2>>"$work/bench.err" &
      bp+=($!)
    done
    wait "${bp[@]}"
    kill -TERM "$pid_gw2"
    while kill -0 "$pid_gw2" 2>/dev/null; do sleep 0.1; done
    line=$(grep -E 'drain complete|drain incomplete' "$work/$backend-gw2.log" | tail -1 || true)
    echo "{\"target\":\"drain-$backend\",\"sessions\":$DRAIN_SESSIONS,\"log\":\"$(echo "$line" | sed 's/"/\\"/g')\"}"
    stop_farm
  done
fi

if [[ " $PARTS " == *" rss "* ]]; then
  for mode in off on; do
    p=$(free_port); peer=$(free_port)
    extra=()
    if [ $mode = on ]; then
      "$B" certs --dir "$work/solo" --members gw1 --force >/dev/null
      extra=(--peering.self gw1 --peering.listen 127.0.0.1:$peer --peering.members "gw1=127.0.0.1:$peer"
        --peering.tls.ca_file "$work/solo/ca.pem" --peering.tls.cert_file "$work/solo/gw1.pem" --peering.tls.key_file "$work/solo/gw1-key.pem")
    fi
    "$D" --listen 127.0.0.1:$p "${extra[@]}" >"$work/rss-$mode.log" 2>&1 &
    pid=$!; pids+=($pid); wait_port "$p"
    "$B" bench --server 127.0.0.1:$p --scenario read --connections 32 --sessions 1000000 --payload 100 \
      --duration 1s --warmup 0s --json >/dev/null 2>>"$work/bench.err"
    rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
    echo "{\"target\":\"rss-peering-$mode\",\"sessions\":1000000,\"payload\":100,\"rss_kib\":$rss}"
    kill $pid; wait $pid 2>/dev/null || true
  done
fi
