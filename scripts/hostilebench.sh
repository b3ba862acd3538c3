#!/usr/bin/env bash
# Issue 17's hostile clients against each backend: peak RSS of aspstated and a
# well-behaved client's latency while (a) one connection pipelines 100 Gets of
# a 20 MiB session in one write, (b) 250 connections each send a 20 MiB body
# but its last byte and hold; and, with ATTACKS=writer, (c) one connection
# rewrites a 20 MiB session back to back for WRITER_HOLD (60s), sampling the
# data directory's disk use every second. One JSON line per backend and attack.
#
#   scripts/hostilebench.sh            TARGETS="memory bbolt" scripts/hostilebench.sh
#   TARGETS="bbolt badger" ATTACKS=writer scripts/hostilebench.sh
set -euo pipefail
TARGETS=${TARGETS:-memory bbolt badger redis}
ATTACKS=${ATTACKS:-pipeline bodies}
WRITER_HOLD=${WRITER_HOLD:-60s}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/aspstated" ./cmd/aspstated
go build -o "$work/hostilebench" ./internal/hostilebench
. scripts/portlib.sh
for t in $TARGETS; do
  for attack in $ATTACKS; do
    port=$(free_port)
    args=(--listen 127.0.0.1:$port --log.level warn)
    extra=()
    [ "$attack" = writer ] && extra=(-hold "$WRITER_HOLD")
    case $t in
      bbolt)  mkdir -p "$work/bolt-$attack"; args+=(--backend.type bbolt --backend.bbolt.path "$work/bolt-$attack/aspstate.db")
              [ "$attack" = writer ] && extra+=(-dir "$work/bolt-$attack") ;;
      badger) args+=(--backend.type badger --backend.badger.path "$work/badger-$attack")
              [ "$attack" = writer ] && extra+=(-dir "$work/badger-$attack") ;;
      redis)
        rport=$(free_port)
        redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
        rpid=$!; pids+=($rpid); wait_port "$rport"
        args+=(--backend.type redis --backend.redis.addrs 127.0.0.1:$rport) ;;
    esac
    "$work/aspstated" "${args[@]}" >"$work/$t-$attack.log" 2>&1 &
    gw=$!; pids+=($gw); wait_port "$port"
    "$work/hostilebench" -addr 127.0.0.1:$port -pid $gw -attack $attack -label "$t" "${extra[@]}"
    kill $gw; wait $gw 2>/dev/null || true
    if [ "$t" = redis ]; then kill $rpid; wait $rpid 2>/dev/null || true; fi
  done
done
