#!/usr/bin/env bash
# Before/after on the hot paths: runs bench_batch (the batch path) and
# bench_kafka_e2e (the processor over the embedded broker, with its raw
# consumer alongside) from two build directories in alternation, A B A B ...,
# so both see the same machine, and prints the medians and the ratio B/A.
#
# usage: bash scripts/bench-compare.sh BUILD_A BUILD_B [--rounds N] [--events N]
#   BUILD_A, BUILD_B  meson build directories configured with -Dbench=true,
#                     e.g. one of the commit before a change and one after
#   --rounds N        alternations (default 5)
#   --events N        events of each bench_kafka_e2e run (default 200000)
set -euo pipefail

[ $# -ge 2 ] || { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
a="$1" b="$2"
shift 2
rounds=5 events=200000
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) rounds="$2"; shift ;;
    --events) events="$2"; shift ;;
    *) echo "bench-compare.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
for d in "$a" "$b"; do
    for p in bench_batch bench_kafka_e2e; do
        [ -x "$d/bench/$p" ] || { echo "bench-compare.sh: $d/bench/$p is missing" >&2; exit 2; }
    done
done

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for r in $(seq 1 "$rounds"); do
    for side in A B; do
        d="$a"
        [ "$side" = B ] && d="$b"
        printf '%s round %s/%s: %s\n' "$(date -u +%H:%M:%S)" "$r" "$rounds" "$side" >&2
        "$d/bench/bench_batch" --case batch --reps 1 --csv "$out/batch-$side-$r.csv" >/dev/null 2>&1
        "$d/bench/bench_kafka_e2e" --reps 1 --no-kcat --events "$events" \
            --csv "$out/e2e-$side-$r.csv" >/dev/null 2>&1
    done
done

python3 - "$out" "$rounds" "$a" "$b" <<'PY'
import csv, statistics, sys
out, rounds, da, db = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

def rows(kind, side):
    got = {}
    for r in range(1, rounds + 1):
        with open(f"{out}/{kind}-{side}-{r}.csv") as f:
            for row in csv.DictReader(f):
                got.setdefault(row["case"].split(":")[0].strip(), []).append(float(row["events_per_s"]))
    return got

print(f"A = {da}\nB = {db}\n{rounds} alternations; events/s median (min..max)")
print(f"{'case':<44} {'A':>34} {'B':>34} {'B/A':>6}")
for kind in ("batch", "e2e"):
    ra, rb = rows(kind, "A"), rows(kind, "B")
    for case in ra:
        if case not in rb:
            continue
        ma, mb = statistics.median(ra[case]), statistics.median(rb[case])
        fa = f"{ma:,.0f} ({min(ra[case]):,.0f}..{max(ra[case]):,.0f})"
        fb = f"{mb:,.0f} ({min(rb[case]):,.0f}..{max(rb[case]):,.0f})"
        print(f"{case[:44]:<44} {fa:>34} {fb:>34} {mb / ma:>6.2f}")
PY
