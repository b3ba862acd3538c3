#!/bin/sh
# The cost of metrics on the request path (issue 13): alternating rounds of
# `aspstate bench` read and cycle against three memory-backend gateways
# started in turn:
#   base  the gateway built from BASE (a git ref before the metrics; optional)
#   off   this tree without admin.listen (per-connection counters only)
#   on    this tree with admin.listen (request timing too) and /metrics
#         scraped every second during the run
# Each line: round scenario variant server_cpu_ticks(10ms) bench-JSON.
#
# Usage: scripts/metricsbench.sh ROUNDS DURATION [BASE]
#   scripts/metricsbench.sh 5 4s f7f136d
set -e
rounds=${1:-5}; dur=${2:-4s}; base=${3:-}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go build -o "$dir/aspstated" ./cmd/aspstated
go build -o "$dir/aspstate" ./cmd/aspstate
variants="off on"
if [ -n "$base" ]; then
  mkdir "$dir/base"
  git archive "$base" | tar -x -C "$dir/base"
  (cd "$dir/base" && go build -o "$dir/aspstated-base" ./cmd/aspstated)
  variants="base off on"
fi
port=42470; admin=42490
for r in $(seq 1 "$rounds"); do
  for scen in read cycle; do
    for v in $variants; do
      bin="$dir/aspstated"; extra=""
      [ "$v" = base ] && bin="$dir/aspstated-base"
      [ "$v" = on ] && extra="--admin.listen 127.0.0.1:$admin"
      "$bin" --listen 127.0.0.1:$port --log.level warn $extra & pid=$!
      sleep 0.3
      scraper=""
      if [ "$v" = on ]; then
        (while kill -0 $pid 2>/dev/null; do curl -s -o /dev/null http://127.0.0.1:$admin/metrics; sleep 1; done) & scraper=$!
      fi
      res=$("$dir/aspstate" bench --server 127.0.0.1:$port --scenario $scen --connections 50 --duration "$dur" --json)
      cpu=$(awk '{print $14+$15}' /proc/$pid/stat)
      echo "$r $scen $v $cpu $res"
      kill $pid; wait $pid 2>/dev/null || true
      if [ -n "$scraper" ]; then kill $scraper 2>/dev/null || true; wait $scraper 2>/dev/null || true; fi
    done
  done
done
