#!/usr/bin/env python3
"""Summarize loadbench.sh output: per target and scenario, the median
requests/s over the rounds, median p50/p99 latency, errors, and the ratio to
the ceiling's read rate (and to redis-benchmark GET for the redis gateway)."""
import json, statistics, sys
from collections import defaultdict

rows = defaultdict(list)
for line in open(sys.argv[1] if len(sys.argv) > 1 else "/dev/stdin"):
    if line.startswith("{"):
        r = json.loads(line)
        rows[(r["target"], r["scenario"])].append(r)

def med(vals):
    return statistics.median(vals) if vals else float("nan")

ceiling = med([r["requests_per_s"] for r in rows[("ceiling", "read")]])
rb_get = med([r["requests_per_s"] for r in rows[("redis-benchmark", "get")]])
print("| target | scenario | rounds | requests/s (median) | each round | p50 ms | p99 ms | errors | vs ceiling read |")
print("|---|---|---|---|---|---|---|---|---|")
for (t, sc), rs in rows.items():
    if not rs:
        continue
    rps = med([r["requests_per_s"] for r in rs])
    each = " / ".join(f"{r['requests_per_s']:.0f}" for r in rs)
    lat = [r.get("latency") for r in rs if r.get("latency")]
    p50 = f"{med([l['p50_us'] for l in lat])/1000:.2f}" if lat else "-"
    p99 = f"{med([l['p99_us'] for l in lat])/1000:.2f}" if lat else "-"
    errs = sum(r.get("errors", 0) for r in rs)
    ratio = f"{100*rps/ceiling:.0f}%" if t not in ("ceiling", "redis-benchmark") and ceiling == ceiling else "-"
    if t == "redis" and rb_get == rb_get:
        ratio += f" (vs redis-benchmark GET: {100*rps/rb_get:.0f}%)"
    print(f"| {t} | {sc} | {len(rs)} | {rps:.0f} | {each} | {p50} | {p99} | {errs} | {ratio} |")

# The Redis goal compares rounds pairwise: each round's GET runs right before
# that round's gateway read, on the machine as fast or slow as it then was.
gets = {r["round"]: r["requests_per_s"] for r in rows[("redis-benchmark", "get")]}
pairs = [(r["round"], r["requests_per_s"] / gets[r["round"]]) for r in rows[("redis", "read")] if r["round"] in gets]
if pairs:
    each = " / ".join(f"{100*x:.0f}%" for _, x in pairs)
    print(f"\nredis read / redis-benchmark GET, round by round: {each}; median {100*med([x for _, x in pairs]):.1f}%")
