#!/usr/bin/env python3
"""Merge one run of scripts/bench.sh into a table, summary.csv and summary.png.

usage: summarize.py RUN_DIR QUICK(0|1)

Inputs in RUN_DIR (each optional): batch.csv and peers-sluice.csv
(bench_batch --csv), peer-<impl>.jsonl (bench/peers/peer.js), kafka.csv
(bench_kafka_e2e --csv), kinesis.txt (bench_kinesis output), events.jsonl
(the peers' input, for its average size)."""
import csv
import json
import os
import re
import shutil
import statistics
import subprocess
import sys

run, quick = sys.argv[1], sys.argv[2] == "1"
rows = []  # dicts: case, events_per_s, lo, hi, ns, mbs, allocs, rss, ratio, note


def add(case, rate, lo=None, hi=None, size=None, allocs=None, rss=None, ratio="", ns=None):
    rows.append({
        "case": case,
        "events_per_s": rate,
        "min": lo if lo is not None else rate,
        "max": hi if hi is not None else rate,
        "ns_per_event": ns if ns is not None else (1e9 / rate if rate else None),
        "mb_per_s": rate * size / 1e6 if (rate and size) else None,
        "allocs_per_event": allocs,
        "peak_rss_kb": rss,
        "ratio": ratio,
    })


def read_csv(name):
    path = os.path.join(run, name)
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


avg = None
ev_path = os.path.join(run, "events.jsonl")
if os.path.exists(ev_path):
    n = total = 0
    with open(ev_path, "rb") as f:
        for line in f:
            n += 1
            total += len(line) - 1
    avg = total / n if n else None

# bench_batch
for r in read_csv("batch.csv"):
    rate = num(r["events_per_s"])
    mbs = num(r["mb_per_s"])
    size = mbs * 1e6 / rate if rate and mbs else None
    ratio = f'{num(r["ratio"]):.1f}x' if num(r.get("ratio")) else ""
    add(r["case"].strip('"'), rate, num(r.get("min")), num(r.get("max")), size=size,
        allocs=num(r["allocs_per_event"]), rss=num(r["peak_rss_kb"]), ratio=ratio)

# the peers and sluice on their pipeline
sluice_peer = None
for r in read_csv("peers-sluice.csv"):
    sluice_peer = num(r["events_per_s"])
    add("sluice: the peers' pipeline (scan->filter->map->batch(500))", sluice_peer,
        num(r.get("min")), num(r.get("max")), size=avg, allocs=num(r["allocs_per_event"]),
        rss=num(r["peak_rss_kb"]))
goals = {"aws-lambda-stream": 60.0, "highland": 2.0}
ratios = []
for impl in ("aws-lambda-stream", "highland"):
    path = os.path.join(run, f"peer-{impl}.jsonl")
    if not os.path.exists(path):
        continue
    reps = [json.loads(l) for l in open(path) if l.strip()]
    if not reps:
        continue
    rates = [x["events_per_s"] for x in reps]
    med = statistics.median(rates)
    rss = max(x.get("peak_rss_kb", 0) for x in reps)
    ratio = sluice_peer / med if sluice_peer and med else None
    add(f"{impl}: the same pipeline in node", med, min(rates), max(rates), size=avg, rss=rss,
        ratio=f"{ratio:.0f}x" if ratio else "")
    if ratio:
        ratios.append((f"sluice / {impl} (same events, same pipeline)", ratio, goals[impl]))

# Kafka end to end
for r in read_csv("kafka.csv"):
    rate = num(r["events_per_s"])
    mbs = num(r["mb_per_s"])
    rt = num(r.get("ratio_vs_raw"))
    add("kafka e2e: " + r["case"].strip('"'), rate, num(r["min"]), num(r["max"]),
        size=mbs * 1e6 / rate if rate and mbs else None, rss=num(r["peak_rss_kb"]),
        ratio=f"{rt:.2f}x" if rt else "")

# the listener and the trigger
for r in read_csv("flavors.csv"):
    rate = num(r["events_per_s"])
    mbs = num(r["mb_per_s"])
    if rate:
        add("flavors: " + r["case"].strip('"'), rate, num(r["min"]), num(r["max"]),
            size=mbs * 1e6 / rate if mbs else None, ratio=r["ratio"])
    else:
        rows.append({"case": "flavors: " + r["case"].strip('"'), "events_per_s": None,
                     "min": None, "max": None, "ns_per_event": None, "mb_per_s": None,
                     "allocs_per_event": None, "peak_rss_kb": num(r["peak_rss_kb"]),
                     "ratio": r["ratio"]})

# Kinesis
kin = os.path.join(run, "kinesis.txt")
if os.path.exists(kin):
    for line in open(kin):
        m = re.match(r"^([a-d])  (.*?)\s+([\d.]+)([kM]?) \(([\d.]+)([kM]?)\.\.([\d.]+)([kM]?)\)", line)
        if m:
            mul = {"": 1, "k": 1e3, "M": 1e6}
            v = lambda i: float(m.group(i)) * mul[m.group(i + 1)]
            add("kinesis: " + m.group(2).strip(), v(3), v(5), v(7))
        m = re.match(r"^\s+sluice PutRecords sink / curl PutRecords loop\s+([\d.]+)x", line)
        if m:
            ratios.append(("sluice Kinesis sink / curl PutRecords loop (kinesalite)",
                           float(m.group(1)), 0))

# the table
def fmt(v, spec):
    return "" if v is None else format(v, spec)


def rate(v):
    if v is None:
        return ""
    return f"{v/1e6:.2f}M" if v >= 1e6 else f"{v/1e3:.1f}k" if v >= 1e3 else f"{v:.0f}"


print(f'{"case":<66} {"events/s":>9} {"(min..max)":>18} {"ns/event":>10} {"MB/s":>8} '
      f'{"allocs/ev":>9} {"peakRSS kB":>10} {"ratio":>7}')
for r in rows:
    rng = f'({rate(r["min"])}..{rate(r["max"])})'
    print(f'{r["case"][:66]:<66} {rate(r["events_per_s"]):>9} {rng:>18} '
          f'{fmt(r["ns_per_event"], ".1f"):>10} {fmt(r["mb_per_s"], ".1f"):>8} '
          f'{fmt(r["allocs_per_event"], ".3f"):>9} {fmt(r["peak_rss_kb"], ".0f"):>10} '
          f'{r["ratio"]:>7}')
if ratios:
    print("\ncomparisons measured in this run:")
    for name, v, goal in ratios:
        verdict = ""
        if goal and not quick:
            verdict = f"  goal >= {goal:g}x: {'met' if v >= goal else 'NOT met'}"
        print(f"  {name:<62} {v:8.1f}x{verdict}")
if quick:
    print("\n(--quick: a smoke run; these figures are not measurements)")

with open(os.path.join(run, "summary.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["case", "events_per_s", "min", "max", "ns_per_event", "mb_per_s",
                "allocs_per_event", "peak_rss_kb", "ratio"])
    for r in rows:
        w.writerow([r["case"], fmt(r["events_per_s"], ".0f"), fmt(r["min"], ".0f"),
                    fmt(r["max"], ".0f"), fmt(r["ns_per_event"], ".1f"),
                    fmt(r["mb_per_s"], ".2f"), fmt(r["allocs_per_event"], ".4f"),
                    fmt(r["peak_rss_kb"], ".0f"), r["ratio"]])

# the chart: events/s on a log scale, one bar per case
if shutil.which("gnuplot") and rows:
    dat = os.path.join(run, "summary.dat")
    with open(dat, "w") as f:
        for i, r in enumerate(rows):
            if r["events_per_s"]:
                label = r["case"].replace('"', "'")[:48]
                f.write(f'{i} {r["events_per_s"]:.0f} "{label}"\n')
    gp = os.path.join(run, "summary.gp")
    with open(gp, "w") as f:
        f.write(f"""set terminal pngcairo size 1400,{200 + 28 * len(rows)} font ",10"
set output "{os.path.join(run, 'summary.png')}"
set termoption noenhanced
set title "sluice benchmark suite — events/s (log scale)"
set logscale x
set xrange [1000:*]
set xlabel "events/s"
set yrange [-1:{len(rows)}]
set ytics nomirror
set grid x
unset key
set style fill solid 0.8
plot "{dat}" using (sqrt($2)):1:(1):2:($1-0.35):($1+0.35):yticlabels(3) with boxxyerror lc rgb "#3b7dd8"
""")
    try:
        subprocess.run(["gnuplot", gp], check=True, capture_output=True)
    except (subprocess.CalledProcessError, OSError) as e:
        print(f"(no chart: gnuplot failed: {e})")
