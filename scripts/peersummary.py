#!/usr/bin/env python3
"""Summarize scripts/peerbench.sh output against issue 11's goals, round by
round, for each farm configuration in the run (the gateways' own choice
and each GOMAXPROCS entry): the remote hit's p50 over the local read's, its p99, the
miss p99 and the new-session sequence p50 through a non-owner, and the
farm's aggregate read and cycle over the Redis gateway's in the same round.

  scripts/peerbench.sh "latency aggregate" 3 5s | tee p.jsonl
  scripts/peersummary.py p.jsonl
"""
import json, re, statistics, sys
from collections import defaultdict

rows = defaultdict(dict)  # (configuration suffix, round) -> {(target, scenario): result}
configs = []
for line in open(sys.argv[1] if len(sys.argv) > 1 else "/dev/stdin"):
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    m = re.match(r"(local-read|remote-read|local-new|remote-new|peered3|redis1)(-gomaxprocs\d+)?$", r["target"])
    if not m:
        continue
    base, sfx = m.group(1), m.group(2) or ""
    if base != "redis1" and sfx not in configs:
        configs.append(sfx)
    rows[(sfx, r.get("round", 0))][(base, r["scenario"])] = r

def ms(us):
    return us / 1000

def fmt(vals, f="{:.3f}"):
    return " ".join(f.format(v) for v in vals) + (f" (median {f.format(statistics.median(vals))})" if vals else "-")

for sfx in configs:
    name = "the gateways' own GOMAXPROCS" if not sfx else sfx.lstrip("-").replace("gomaxprocs", "GOMAXPROCS=")
    rounds = sorted(rd for (s, rd) in rows if s == sfx)
    gap, p99, miss, seq, ratio = [], [], [], [], defaultdict(list)
    for rd in rounds:
        d = rows[(sfx, rd)]
        if ("local-read", "read") in d and ("remote-read", "read") in d:
            loc, rem = d[("local-read", "read")]["latency"], d[("remote-read", "read")]["latency"]
            gap.append(ms(rem["p50_us"] - loc["p50_us"]))
            p99.append(ms(rem["p99_us"] - loc["p99_us"]))
        if ("remote-new", "new") in d:
            n = d[("remote-new", "new")]
            miss.append(ms(n["ops"]["miss"]["p99_us"]))
            seq.append(ms(n["new_session_sequence"]["p50_us"]))
        for sc in ("read", "cycle"):
            redis = rows[("", rd)].get(("redis1", sc))
            if (("peered3", sc) in d) and redis:
                ratio[sc].append(d[("peered3", sc)]["requests_per_s"] / redis["requests_per_s"])
    errors = sum(r.get("errors", 0) for rd in rounds for r in rows[(sfx, rd)].values())
    print(f"## farm at {name} ({len(rounds)} rounds, {errors} errors)")
    if gap:
        print(f"remote hit p50 - local p50, ms (goal <= 0.1): {fmt(gap)}")
        print(f"remote hit p99 - local p99, ms (goal <= 0.5): {fmt(p99)}")
    if miss:
        print(f"miss through a non-owner p99, ms (goal < 2): {fmt(miss)}")
        print(f"new-session sequence through a non-owner p50, ms (goal < 1): {fmt(seq)}")
    for sc in ("read", "cycle"):
        if ratio[sc]:
            print(f"aggregate {sc}, farm / Redis gateway (goal >= 1): {fmt(ratio[sc], '{:.2f}')}")
    print()
