#!/usr/bin/env python3
"""Summarize scripts/hotbench.sh output: per store and mode, the ordinary
traffic's acquire (GetExclusive) p99 per round and its median, the ordinary
requests/s, and the hammer's 423s and completed lock cycles per second."""
import json, statistics, sys
from collections import defaultdict

runs = defaultdict(list)
for line in open(sys.argv[1] if len(sys.argv) > 1 else "/dev/stdin"):
    parts = line.split(" ", 3)
    if len(parts) < 4 or not parts[3].startswith("{"):
        continue
    store, mode, rnd, rest = parts
    dec = json.JSONDecoder()
    ordinary, end = dec.raw_decode(rest)
    hammer, _ = dec.raw_decode(rest[end:].lstrip())
    runs[(store, mode)].append((int(rnd), ordinary, hammer))

def acquire_p99(o):
    ops = o.get("ops", {})
    return ops.get("acquire", {}).get("p99_us", float("nan")) / 1000

modes = ["alone", "apart", "w0", "w0-damped", "w2", "w2-damped"]
print("| store | mode | acquire p99 ms per round (median) | vs alone | ordinary requests/s (median) | errors | hammer 423s/s, lock cycles/s (median) |")
print("|---|---|---|---|---|---|---|")
for store in dict.fromkeys(s for s, _ in runs):
    alone = None
    for mode in modes:
        rs = sorted(runs.get((store, mode), []), key=lambda x: x[0])
        if not rs:
            continue
        p99s = [acquire_p99(o) for _, o, _ in rs]
        med = statistics.median(p99s)
        if mode == "alone":
            alone = med
        rps = statistics.median(o.get("requests_per_s", 0) for _, o, _ in rs)
        errs = sum(o.get("errors", 0) for _, o, _ in rs)
        ham = ""
        if mode != "alone":
            dur = lambda h: max(h.get("duration_s", 1), 1e-9)
            locked = statistics.median(h.get("ops", {}).get("locked", {}).get("count", 0) / dur(h) for _, _, h in rs)
            cycles = statistics.median(h.get("cycles", 0) / dur(h) for _, _, h in rs)
            ham = f"{locked:,.0f}, {cycles:,.0f}"
        vs = f"{100*(med/alone-1):+.0f}%" if alone and mode != "alone" else "-"
        print(f"| {store} | {mode} | {' / '.join(f'{p:.1f}' for p in p99s)} (**{med:.1f}**) | {vs} | {rps:,.0f} | {errs} | {ham} |")
