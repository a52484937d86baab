#!/usr/bin/env python3
"""Aggregates the side-by-side tables of several `cargo bench` runs.

    for i in 1 2 3; do cargo bench 2>&1 | tee target/bench-run-$i.log; done
    python3 benches/summarize.py target/bench-run-*.log

For every comparison it prints, per implementation, the median over runs of
each run's median time per iteration, the run-to-run spread (min-max over
runs, % of that median), and the median over runs of the time ratio to
ours (each run's ratio is itself the median of per-round ratios).
"""
import statistics
import sys
from collections import OrderedDict


def spread(values):
    m = statistics.median(values)
    return (max(values) - min(values)) / m * 100 if m else 0.0


def fmt_time(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.3f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} us"
    return f"{ns:.0f} ns"


side = OrderedDict()
mem = OrderedDict()
e2e = OrderedDict()
runs = len(sys.argv) - 1
for path in sys.argv[1:]:
    with open(path, errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if parts[0] == "SIDE" and len(parts) >= 9:
                _, group, role, name, ns, _iqr, ratio, units, nbytes = parts[:9]
                entry = side.setdefault(group, OrderedDict()).setdefault(
                    (role, name), {"ns": [], "ratio": [], "units": float(units), "bytes": int(nbytes)}
                )
                entry["ns"].append(float(ns))
                entry["ratio"].append(float(ratio))
            elif parts[0] == "MEM" and len(parts) >= 4:
                mem.setdefault(parts[1], []).append((float(parts[2]), parts[3]))
            elif parts[0] == "E2E" and len(parts) >= 8:
                e2e.setdefault((parts[1], parts[2]), []).append(parts[3:])

print(f"# {runs} run(s)\n")
for group, entries in side.items():
    print(f"## {group}\n")
    print("| role | implementation | median time | spread (runs) | per second | time / ours |")
    print("|---|---|---:|---:|---:|---:|")
    for (role, name), e in entries.items():
        ns = statistics.median(e["ns"])
        per_s = e["units"] * 1e9 / ns
        ratio = statistics.median(e["ratio"])
        print(f"| {role} | {name} | {fmt_time(ns)} | {spread(e['ns']):.0f}% | {per_s:,.0f} | {ratio:.3f} |")
    print()

if mem:
    print("## memory and allocations\n")
    print("| measure | value |")
    print("|---|---:|")
    for what, values in mem.items():
        v = statistics.median([x for x, _ in values])
        print(f"| {what} | {v:g} {values[0][1]} |")
    print()

if e2e:
    print("## end to end (loopback)\n")
    print("| scenario | server | sessions/s | spread | p50 ms | p99 ms | CPU ms/session |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for (scenario, server), values in e2e.items():
        per_s = [float(v[0]) for v in values]
        p50 = statistics.median(float(v[2]) for v in values)
        p99 = statistics.median(float(v[3]) for v in values)
        cpus = [float(v[4]) for v in values if v[4] != "-"]
        cpu = f"{statistics.median(cpus):.3f}" if cpus else "-"
        print(f"| {scenario} | {server} | {statistics.median(per_s):,.0f} | {spread(per_s):.0f}% | {p50:.2f} | {p99:.2f} | {cpu} |")
    print()
