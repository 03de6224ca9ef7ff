#!/usr/bin/env python3
"""Merge one run of scripts/bench.sh into a table, summary.csv and summary.png.

usage: summarize.py RUN_DIR QUICK(0|1)

Inputs in RUN_DIR (each optional): batch.csv and peers-sluice.csv
(bench_batch --csv), peer-<impl>.jsonl (bench/peers/peer.js), kafka.csv
(bench_kafka_e2e --csv), failover.csv (bench_failover --csv), ordering.csv (bench_ordering --csv),
kinesis.txt (bench_kinesis output), events.jsonl
(the peers' input, for its average size)."""
import csv
import json
import math
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

# ordering modes into an asynchronous sink; key / partition mode is a
# comparison (goal >= 10x from 20 keys on)
for r in read_csv("ordering.csv"):
    case = r["case"].strip('"')
    add("ordering: " + case, num(r["events_per_s"]), ratio=r["ratio"])
    m = re.match(r"key mode, (\d+) key", case)
    if m and r["ratio"]:
        ratios.append((f"key / partition mode, {m.group(1)} keys, async sink 0-5 ms",
                       float(r["ratio"].rstrip("x")), 10 if int(m.group(1)) >= 20 else 0))

# Kafka group failover: seconds, not a rate (the figure goes in the ratio
# column, which the charts do not read)
for r in read_csv("failover.csv"):
    rows.append({"case": "failover: " + r["case"].strip('"'), "events_per_s": None,
                 "min": None, "max": None, "ns_per_event": None, "mb_per_s": None,
                 "allocs_per_event": None, "peak_rss_kb": None,
                 "ratio": f'{num(r["failover_s"]):.1f} s'})

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

# the charts: one per comparison, sluice beside its baseline or peer, the
# ratio in the title. A linear axis from 0 where the bars are of one order of
# magnitude, so that lengths compare; a log axis whose range is taken from the
# figures where they are not (a peer 176x slower would be invisible). Every
# bar is labelled with its figure. summary.png puts them all on one page.
def by_case(prefix):
    for r in rows:
        if r["case"].startswith(prefix):
            return r
    return None


def bar(prefix, label, key="events_per_s"):
    r = by_case(prefix)
    if r is None or r.get(key) is None:
        return None
    return (label, r[key])


def chart_list():
    out = []

    def add_chart(name, title, unit, bars, ratio_of=None, note=""):
        bars = [b for b in bars if b]
        if len(bars) < 2:
            return
        t = title
        if ratio_of is not None:
            a, b = ratio_of
            va = next((v for l, v in bars if l == a), None)
            vb = next((v for l, v in bars if l == b), None)
            if va and vb:
                q = va / vb
                t += f": {q:.0f}x" if q >= 10 else f": {q:.2f}x" if q >= 0.1 else f": {q:.3f}x"
        out.append({"name": name, "title": t, "unit": unit, "bars": bars, "note": note})

    add_chart("scan", "envelope scan vs jansson parse, same events", "events/s",
              [bar("2 sl_envelope_scan", "sl_envelope_scan"),
               bar("2 jansson json_loadb+json_decref", "jansson parse")],
              ("sl_envelope_scan", "jansson parse"))
    add_chart("engine", "engine with a JSON output vs jansson parse+dump", "events/s",
              [bar("3 engine:", "sluice engine"),
               bar("3 jansson json_loadb+json_dumpb", "jansson parse+dump")],
              ("sluice engine", "jansson parse+dump"))
    add_chart("batch", "batch path by batch size (no comparison)", "uows/s",
              [bar(f"4 batch path, batch({n})", f"batch({n})") for n in (1, 10, 100, 500, 5000)])
    add_chart("peers", "the peers' pipeline, same events: sluice / aws-lambda-stream", "events/s",
              [bar("sluice: the peers' pipeline", "sluice"),
               bar("highland:", "highland (node)"),
               bar("aws-lambda-stream:", "aws-lambda-stream (node)")],
              ("sluice", "aws-lambda-stream (node)"))
    add_chart("kafka", "Kafka processor / raw librdkafka consumer", "events/s",
              [bar("kafka e2e: a ", "raw consumer"),
               bar("kafka e2e: b ", "sluice processor"),
               bar("kafka e2e: a2", "raw + scan"),
               bar("kafka e2e: a3", "raw + headers + produce"),
               bar("kafka e2e: c ", "kcat")],
              ("sluice processor", "raw consumer"))
    add_chart("trigger", "trigger / raw consumer, change records", "events/s",
              [bar("flavors: raw librdkafka group consumer, change", "raw consumer"),
               bar("flavors: trigger:", "sluice-trigger")],
              ("sluice-trigger", "raw consumer"))
    add_chart("listener", "listener / raw consumer, thing events", "events/s",
              [bar("flavors: raw librdkafka group consumer, thing", "raw consumer"),
               bar("flavors: listener:", "sluice-listener"),
               bar("flavors: kcat", "kcat")],
              ("sluice-listener", "raw consumer"))
    add_chart("sqlite", "listener / SQLite alone (its ceiling: same upserts, same transactions)",
              "events/s",
              [bar("flavors: SQLite alone:", "SQLite alone"),
               bar("flavors: listener:", "sluice-listener")],
              ("sluice-listener", "SQLite alone"))
    for k in (20, 10000):
        add_chart(f"ordering-{k}", f"async sink 0-5 ms, one partition, {k} keys: key / partition mode",
                  "events/s",
                  [bar(f"ordering: partition mode, {k} key", "partition mode"),
                   bar(f"ordering: key mode, {k} key", "key mode"),
                   bar(f"ordering: unordered mode, {k} key", "unordered mode")],
                  ("key mode", "partition mode"))
    fo = {r["case"].strip('"').split(":")[0]: num(r["failover_s"]) for r in read_csv("failover.csv")}
    add_chart("failover", "group failover after a SIGKILL, seconds (shorter is better): default / tuned",
              "seconds",
              [("default (45 s / 3 s)", fo["default"]) if fo.get("default") else None,
               ("tuned (6 s / 1 s)", fo["tuned"]) if fo.get("tuned") else None],
              ("default (45 s / 3 s)", "tuned (6 s / 1 s)"))
    m1 = bar("flavors: memory: sluice-listener over", "1x input", "peak_rss_kb")
    m10 = None
    for r in rows:
        if r["case"].startswith("flavors: memory:") and "(10x)" in r["case"] and r["peak_rss_kb"]:
            m10 = ("10x input", r["peak_rss_kb"])
    if m1 and m10:
        m1 = (m1[0], m1[1] / 1024)
        m10 = (m10[0], m10[1] / 1024)
    add_chart("memory", "listener peak RSS, 10x input / 1x", "MiB", [m1, m10],
              ("10x input", "1x input"))
    add_chart("kinesis", "Kinesis PutRecords sink / curl loop (kinesalite)", "records/s",
              [bar("kinesis: sluice: Kafka source -> Kinesis", "sluice sink"),
               bar("kinesis: curl loop", "curl loop"),
               bar("kinesis: sluice: Kinesis source -> copy", "sluice copy"),
               bar("kinesis: sluice: Kinesis source -> filter", "sluice read")],
              ("sluice sink", "curl loop"))
    return out


def human(v):
    if v >= 1e6:
        return f"{v / 1e6:.2f} M"
    if v >= 1e4:
        return f"{v / 1e3:.0f} k"
    if v >= 1e3:
        return f"{v / 1e3:.1f} k"
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


def tick_label(v):
    """A tick's figure with the decimals it needs: 1.5M stays 1.5M (gnuplot's
    '%.0s%c' wrote it as 2M, beside the 2M of the next tick)."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if v >= scale:
            return f"{v / scale:g}{suffix}"
    return f"{v:g}"


def linear_tics(top):
    """Ticks 0, step, 2 step, ... up to @p top, step a 1, 2, 2.5 or 5 times a
    power of ten, about five to eight of them."""
    if top <= 0:
        return []
    raw = top / 6
    p = 10 ** math.floor(math.log10(raw))
    step = next(m * p for m in (1, 2, 2.5, 5, 10) if m * p >= raw)
    n = int(top / step + 1e-9)
    return [k * step for k in range(n + 1)]


def plot_body(c, dat):
    vals = [v for _, v in c["bars"]]
    lo, hi = min(vals), max(vals)
    n = len(c["bars"])
    logx = lo > 0 and hi / lo > 20
    unit = c["unit"] + (" (log axis)" if logx else "")
    lines = [f'set title "{c["title"]}"', f'set xlabel "{unit}"',
             f"set yrange [-0.7:{n - 0.3}]", "set ytics nomirror", "unset key",
             "set grid x", "set style fill solid 0.85 border -1", "set format x '%.0s%c'"]
    if logx:
        # log axis from half the smallest to 3x the largest: every bar shows
        # (autofreq: a linear chart before it on the summary page set its own)
        lines += ["set logscale x", f"set xrange [{lo / 2:g}:{hi * 3:g}]", "set xtics autofreq"]
        base = lo / 2
    else:
        lines += ["unset logscale x", f"set xrange [0:{hi * 1.25:g}]"]
        tics = ", ".join(f'"{tick_label(t)}" {t:g}' for t in linear_tics(hi * 1.25))
        lines.append(f"set xtics ({tics})" if tics else "set xtics autofreq")
        base = 0
    lines.append(
        f'plot "{dat}" using ({base:g}):1:({base:g}):2:($1-0.32):($1+0.32):yticlabels(3) '
        f'with boxxyerror lc rgb "#3b7dd8", '
        f'"{dat}" using 2:1:4 with labels left offset 0.6,0 font ",9"')
    return "\n".join(lines) + "\n"


charts = chart_list()
if shutil.which("gnuplot") and charts:
    cdir = os.path.join(run, "charts")
    shutil.rmtree(cdir, ignore_errors=True)  # a chart of an earlier summary is stale
    os.makedirs(cdir)
    bodies = []
    for k, c in enumerate(charts):
        dat = os.path.join(cdir, f"{k + 1:02d}-{c['name']}.dat")
        with open(dat, "w") as f:
            # the first bar on top
            for i, (label, v) in enumerate(c["bars"]):
                f.write(f'{len(c["bars"]) - 1 - i} {v:g} "{label}" "{human(v)}"\n')
        body = plot_body(c, dat)
        bodies.append(body)
        png = os.path.join(cdir, f"{k + 1:02d}-{c['name']}.png")
        gp = png[:-4] + ".gp"
        with open(gp, "w") as f:
            f.write(f'set terminal pngcairo size 900,{140 + 50 * len(c["bars"])} font ",11"\n'
                    f'set output "{png}"\nset termoption noenhanced\n'
                    f"set lmargin 26\nset rmargin 6\n" + body)
        try:
            subprocess.run(["gnuplot", gp], check=True, capture_output=True)
        except (subprocess.CalledProcessError, OSError) as e:
            print(f"(no chart {png}: gnuplot failed: {e})")
    cols = 2
    nrows = (len(bodies) + cols - 1) // cols
    gp = os.path.join(run, "summary.gp")
    with open(gp, "w") as f:
        f.write(f'set terminal pngcairo size 1600,{300 * nrows + 60} font ",10"\n'
                f'set output "{os.path.join(run, "summary.png")}"\nset termoption noenhanced\n'
                f'set multiplot layout {nrows},{cols} title "sluice benchmark suite, one run'
                f'{" (--quick: a smoke run, not measurements)" if quick else ""}"\n'
                "set lmargin 24\nset rmargin 8\n")
        for body in bodies:
            f.write(body)
        f.write("unset multiplot\n")
    try:
        subprocess.run(["gnuplot", gp], check=True, capture_output=True)
    except (subprocess.CalledProcessError, OSError) as e:
        print(f"(no chart: gnuplot failed: {e})")
