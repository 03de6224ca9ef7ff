#!/usr/bin/env bash
# Where each thread's time goes, by the clock: runs a command under
# `perf record -e cpu-clock` (sampling, so cache misses and page faults count
# where instruction counts do not see them) and prints, for each thread with
# enough samples, its share of the samples and its top symbols.
#
# usage: bash scripts/perf-threads.sh [--freq HZ] [--top N] [--min PCT]
#                                     [--thread-of SYMBOL] [--keep FILE]
#                                     -- COMMAND [ARG]...
#   --freq HZ           samples a second per CPU (default 4999)
#   --top N             symbols shown per thread (default 12)
#   --min PCT           threads below this share of all samples are left out
#                       (default 2)
#   --thread-of SYMBOL  only the thread with the most samples in SYMBOL (e.g.
#                       sl__cdc_fast for bench_flavors' trigger, whose
#                       processor thread shares its name with the main thread)
#   --keep FILE         keep perf's data in FILE (default: a temporary file)
# Symbols of stripped libraries (Debian's librdkafka) show as [unknown] with
# their library. The samples cover the whole command: setup included.
# Needs perf (Debian: linux-perf) and permission to sample (root, or
# kernel.perf_event_paranoid <= 1).
set -euo pipefail

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
freq=4999 top=12 min=2 thread_of="" keep=""
while [ $# -gt 0 ]; do
    case "$1" in
    --freq) freq="$2"; shift ;;
    --top) top="$2"; shift ;;
    --min) min="$2"; shift ;;
    --thread-of) thread_of="$2"; shift ;;
    --keep) keep="$2"; shift ;;
    --) shift; break ;;
    *) usage ;;
    esac
    shift
done
[ $# -ge 1 ] || usage
command -v perf >/dev/null || { echo "perf-threads.sh: perf is not installed (Debian: linux-perf)" >&2; exit 1; }

data="${keep:-$(mktemp /tmp/perf-threads.XXXXXX)}"
[ -n "$keep" ] || trap 'rm -f "$data" "$data.old"' EXIT
perf record -q -e cpu-clock -F "$freq" -o "$data" -- "$@"
perf script -i "$data" -F tid,comm,ip,sym,dso 2>/dev/null |
    python3 -c '
import collections, re, sys
top, min_pct, thread_of = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
# a line: COMM TID IP SYM (DSO); COMM may hold spaces, SYM may be [unknown]
line_re = re.compile(r"^\s*(.*?)\s+(\d+)\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$")
threads = collections.defaultdict(collections.Counter)
names = {}
total = 0
for line in sys.stdin:
    m = line_re.match(line)
    if not m:
        continue
    comm, tid, sym, dso = m.groups()
    sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
    threads[tid][sym + "  (" + dso.rsplit("/", 1)[-1] + ")"] += 1
    names[tid] = comm
    total += 1
if not total:
    sys.exit("perf-threads.sh: no samples")
tids = sorted(threads, key=lambda t: -sum(threads[t].values()))
if thread_of:
    hits = {t: sum(n for s, n in threads[t].items() if s.split("  (")[0] == thread_of) for t in tids}
    best = max(hits, key=hits.get)
    if not hits[best]:
        sys.exit("perf-threads.sh: no thread ran " + thread_of)
    tids = [best]
for t in tids:
    n = sum(threads[t].values())
    if not thread_of and 100.0 * n / total < min_pct:
        continue
    print(f"{names[t]} [{t}]: {n} samples, {100.0 * n / total:.1f}% of all")
    for sym, k in threads[t].most_common(top):
        print(f"  {100.0 * k / n:5.1f}%  {sym}")
' "$top" "$min" "$thread_of"
