#!/usr/bin/env bash
# One hot session (issue 15): p99 of ordinary traffic on other sessions while
# 200 connections hammer one session, against the same traffic alone, per
# store and lock-wait/damping mode. Each run starts a fresh gateway.
#
#   ordinary: aspstate bench --scenario cycle --connections 20 --sessions 2000
#   hammer:   aspstate bench --scenario contend --connections 200 --poll 1ms,
#             started 1.5 s before the ordinary load and running past it
#
# With PIN=1 (the default) the hammering load generator runs on CPU 1 and the
# ordinary one on CPU 0 (taskset), the gateway and redis-server free on both:
# the nearest this 2-core machine comes to web servers on other machines, so
# that what is measured is the gateway's isolation, not the load generators'
# fight for CPU. PIN=0 lets everything share both cores.
#
# Mode "apart" is a control: the hammer aims at a second gateway (memory
# store) on the same machine, so what it costs the ordinary traffic is the
# machine's share alone (the hammering client and a gateway answering it),
# none of it the measured gateway's or its store's.
#
# Usage: [MODES="alone w0 ..."] scripts/hotbench.sh [ROUNDS] [STORES]
#   scripts/hotbench.sh 3 "memory bbolt redis"
# Output: one line per run, "store mode round" followed by the ordinary
# load's bench JSON, then the hammer's JSON; scripts/hotsummary.py makes the
# table.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
stores=${2:-memory bbolt redis}
pin=${PIN:-1}
dur=${DURATION:-5s}
. scripts/benchlib.sh

on_cpu() { if [ "$pin" = 1 ]; then taskset -c "$1" "${@:2}"; else "${@:2}"; fi; }

modes=${MODES:-alone w0 w0-damped w2 w2-damped}
redis_port=""
for store in $stores; do
  backend=(--backend.type "$store")
  if [ "$store" = redis ]; then
    redis_port=$(free_port)
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$work/redis.log" 2>&1 &
    pids+=($!)
    wait_port "$redis_port"
    backend=(--backend.type redis --backend.redis.addrs "127.0.0.1:$redis_port")
  fi
  for r in $(seq 1 "$rounds"); do
    # Alternate the order of the modes between rounds.
    order=$modes
    if [ $((r % 2)) = 0 ]; then order=$(echo "$modes" | tr ' ' '\n' | tac | tr '\n' ' '); fi
    for mode in $order; do
      port=$(free_port)
      extra=()
      case $mode in
        # Damping is on by default: the undamped modes turn it off.
        w0) extra=(--locking.wait 0 --locking.hot_423s 0) ;;
        w0-damped) extra=(--locking.wait 0 --locking.hot_423s 20) ;;
        w2) extra=(--locking.wait 2s --locking.hot_423s 0) ;;
        w2-damped) extra=(--locking.wait 2s --locking.hot_423s 20) ;;
      esac
      data=()
      if [ "$store" = bbolt ]; then rm -rf "$work/bolt"; mkdir -p "$work/bolt"; data=(--backend.bbolt.path "$work/bolt/sessions.db"); fi
      if [ "$store" = redis ]; then redis-cli -p "$redis_port" flushall >/dev/null; fi
      "$work/aspstated" --listen "127.0.0.1:$port" --log.level warn "${backend[@]}" "${data[@]}" "${extra[@]}" &
      gw=$!
      wait_port "$port"
      hammer_out="$work/hammer.json"
      echo '{}' >"$hammer_out"
      target=$port apart=""
      if [ "$mode" = apart ]; then
        target=$(free_port)
        "$work/aspstated" --listen "127.0.0.1:$target" --log.level warn --backend.type memory &
        apart=$!
        wait_port "$target"
      fi
      if [ "$mode" != alone ]; then
        on_cpu 1 "$work/aspstate" bench --server "127.0.0.1:$target" --scenario contend --connections 200 --poll 1ms \
          --duration 7s --warmup 1s --json >"$hammer_out" 2>/dev/null &
        hammer=$!
        sleep 1.5
      fi
      res=$(on_cpu 0 "$work/aspstate" bench --server "127.0.0.1:$port" --scenario cycle --connections 20 --sessions 2000 \
        --duration "$dur" --json 2>/dev/null || true)
      if [ "$mode" != alone ]; then wait "$hammer" 2>/dev/null || true; fi
      echo "$store $mode $r $res $(cat "$hammer_out")"
      kill "$gw" $apart; wait "$gw" $apart 2>/dev/null || true
    done
  done
done
