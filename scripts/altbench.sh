#!/usr/bin/env bash
# Issue 16: the gateway on the hand-written path against the same gateway on
# the library alone, in one run, paired rounds. Builds aspstated twice: as it
# is ("native") and with a build tag that selects the library path ("alt"):
#   redis  alt = -tags aspstate_goredis: every command through go-redis, one
#          call at a time (no batcher, no pipeConns, no RESP codec); a real
#          redis-server is started on a free loopback port, one key prefix
#          per gateway.
#   bbolt  alt = -tags aspstate_boltbatch: Store and Delete committed by
#          bbolt's DB.Batch (fsynced before the answer), not the write-ahead
#          log; each gateway on its own file. (Only while the tag exists.)
# Round i measures read then cycle on A then on B, with A = native on odd
# rounds and alt on even ones, so that drift hits both alike. Prints JSON rows
# ({"target":"native"|"alt","round":i,...}) and then a summary: per scenario
# the median and range of each, and alt/native per round.
#
#   scripts/altbench.sh redis|bbolt [ROUNDS] [DURATION]   e.g. scripts/altbench.sh redis 6 10s
set -euo pipefail
KIND=${1:?redis or bbolt}
ROUNDS=${2:-6}
DURATION=${3:-10s}
CONNS=50
SESSIONS=10000
cd "$(dirname "$0")/.."
. scripts/benchlib.sh
B="$work/aspstate"
case $KIND in
  redis) TAG=aspstate_goredis ;;
  bbolt) TAG=aspstate_boltbatch ;;
  *) echo "unknown kind $KIND" >&2; exit 2 ;;
esac
go build -tags "$TAG" -o "$work/aspstated-alt" ./cmd/aspstated

start() { # name port args...
  local name=$1 port=$2; shift 2
  "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  wait_port "$port"
}

P_NAT=$(free_port); P_ALT=$(free_port)
if [ "$KIND" = redis ]; then
  P_RDS=$(free_port); start redis "$P_RDS" redis-server --port "$P_RDS" --bind 127.0.0.1 --save "" --appendonly no
  common=(--backend.type redis --backend.redis.addrs 127.0.0.1:$P_RDS)
  start native "$P_NAT" "$work/aspstated" --listen 127.0.0.1:$P_NAT "${common[@]}" --backend.redis.key_prefix native:
  start alt "$P_ALT" "$work/aspstated-alt" --listen 127.0.0.1:$P_ALT "${common[@]}" --backend.redis.key_prefix alt:
else
  start native "$P_NAT" "$work/aspstated" --listen 127.0.0.1:$P_NAT --backend.type bbolt --backend.bbolt.path "$work/native.db"
  start alt "$P_ALT" "$work/aspstated-alt" --listen 127.0.0.1:$P_ALT --backend.type bbolt --backend.bbolt.path "$work/alt.db"
fi

bench() { # target port scenario
  "$B" bench --server 127.0.0.1:$2 --scenario "$3" --connections $CONNS --sessions $SESSIONS \
    --payload 1024 --duration "$DURATION" --warmup 1s --json 2>>"$work/bench.err" \
    | sed "s/^{/{\"target\":\"$1\",\"round\":$ROUND,/"
}

out="$work/out.jsonl"
echo "# $(date -u +%FT%TZ) $KIND: native vs $TAG; $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), go $(go env GOVERSION)"
echo "# rounds=$ROUNDS duration=$DURATION connections=$CONNS sessions=$SESSIONS payload=1024"
for ROUND in $(seq "$ROUNDS"); do
  if [ $((ROUND % 2)) = 1 ]; then order="native:$P_NAT alt:$P_ALT"; else order="alt:$P_ALT native:$P_NAT"; fi
  for t in $order; do
    for sc in read cycle; do bench "${t%%:*}" "${t##*:}" "$sc" | tee -a "$out"; done
  done
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
for sc in ("read", "cycle"):
    by = {t: {r["round"]: r for r in rows if r["target"] == t and r["scenario"] == sc} for t in ("native", "alt")}
    for t in ("native", "alt"):
        v = [r["requests_per_s"] for r in by[t].values()]
        p99 = statistics.median(r["latency"]["p99_us"] for r in by[t].values()) / 1000
        errs = sum(r.get("errors", 0) for r in by[t].values())
        print(f"# {sc:5} {t:6}: median {statistics.median(v):.0f} req/s, range {min(v):.0f}-{max(v):.0f}, "
              f"each {' / '.join(f'{x:.0f}' for x in v)}; p99 {p99:.2f} ms (median); errors {errs}")
    ratios = [by["native"][i]["requests_per_s"] / by["alt"][i]["requests_per_s"] for i in sorted(by["native"]) if i in by["alt"]]
    print(f"# {sc:5} native/alt per round: {' / '.join(f'{x:.3f}' for x in ratios)}; "
          f"median {statistics.median(ratios):.3f}, range {min(ratios):.3f}-{max(ratios):.3f}")
PY
