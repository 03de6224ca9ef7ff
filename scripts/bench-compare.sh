#!/usr/bin/env bash
# Before/after on the hot paths: runs bench_batch (the batch path) and
# bench_kafka_e2e (the processor over the embedded broker, with its raw
# consumer alongside) from two build directories in alternation, A B A B ...,
# so both see the same machine, and prints the medians and the ratio B/A.
#
# usage: bash scripts/bench-compare.sh BUILD_A BUILD_B [--rounds N] [--events N]
#                                      [--cases LIST] [--same-programs]
#   BUILD_A, BUILD_B  meson build directories configured with -Dbench=true,
#                     e.g. one of the commit before a change and one after
#   --rounds N        alternations (default 5)
#   --events N        events of each bench_kafka_e2e run (default 200000)
#   --cases LIST      comma-separated, of batch, e2e, trigger, listener (default
#                     batch,e2e); trigger and listener are bench_flavors
#                     --only-trigger or --only-listener, each with its baselines
#   --same-programs   run B's benchmark programs on both sides, A's with A's
#                     libsluice (LD_LIBRARY_PATH): for an A whose benchmarks
#                     measure differently or lack options, e.g. a commit of
#                     an earlier round. A's library must export what B's
#                     programs call, or the run fails at load.
set -euo pipefail

[ $# -ge 2 ] || { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
a="$1" b="$2"
shift 2
rounds=5 events=200000 cases=batch,e2e same=0
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) rounds="$2"; shift ;;
    --events) events="$2"; shift ;;
    --cases) cases="$2"; shift ;;
    --same-programs) same=1 ;;
    *) echo "bench-compare.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
want() { case ",$cases," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
progs=()
for c in ${cases//,/ }; do
    case "$c" in
    batch) progs+=(bench_batch) ;;
    e2e) progs+=(bench_kafka_e2e) ;;
    trigger | listener) [[ " ${progs[*]} " == *" bench_flavors "* ]] || progs+=(bench_flavors) ;;
    *) echo "bench-compare.sh: unknown case $c (batch, e2e, trigger, listener)" >&2; exit 2 ;;
    esac
done
[ ${#progs[@]} -gt 0 ] || { echo "bench-compare.sh: no case to run" >&2; exit 2; }
for d in "$a" "$b"; do
    for p in "${progs[@]}"; do
        [ "$same" = 1 ] && [ "$d" = "$a" ] && continue
        [ -x "$d/bench/$p" ] || { echo "bench-compare.sh: $d/bench/$p is missing" >&2; exit 2; }
    done
done
if [ "$same" = 1 ]; then
    [ -e "$a/lib/libsluice.so.0" ] || { echo "bench-compare.sh: $a/lib/libsluice.so.0 is missing" >&2; exit 2; }
    # the library alone, under the name B's programs load
    liba="$(mktemp -d)"
    cp -L "$a/lib/libsluice.so.0" "$liba/"
fi

out="$(mktemp -d)"
trap 'rm -rf "$out" ${liba:+"$liba"}' EXIT
# run KIND SIDE ROUND PROGRAM ARGS...: one benchmark run, its rows to
# $out/KIND-SIDE-ROUND.csv; a failed run stops the comparison with its output.
run() {
    local kind="$1" side="$2" r="$3"
    shift 3
    if ! env "${env[@]}" "$@" --csv "$out/$kind-$side-$r.csv" >"$out/log" 2>&1; then
        echo "bench-compare.sh: $kind, side $side, round $r failed: ${env[*]} $*" >&2
        tail -5 "$out/log" >&2
        exit 1
    fi
}
for r in $(seq 1 "$rounds"); do
    for side in A B; do
        d="$a" env=()
        [ "$side" = B ] && d="$b"
        if [ "$same" = 1 ]; then
            d="$b"
            [ "$side" = A ] && env=(LD_LIBRARY_PATH="$liba")
        fi
        printf '%s round %s/%s: %s\n' "$(date -u +%H:%M:%S)" "$r" "$rounds" "$side" >&2
        if want batch; then
            run batch "$side" "$r" "$d/bench/bench_batch" --case batch --reps 1
        fi
        if want e2e; then
            run e2e "$side" "$r" "$d/bench/bench_kafka_e2e" --reps 1 --no-kcat --events "$events"
        fi
        for f in trigger listener; do
            if want "$f"; then
                run "$f" "$side" "$r" "$d/bench/bench_flavors" --events 100000 --reps 1 \
                    --no-memory "--only-$f"
            fi
        done
    done
done

python3 - "$out" "$rounds" "$a" "$b" "$cases" "$same" <<'PY'
import csv, statistics, sys
out, rounds, da, db = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
kinds = sys.argv[5].split(",")
if sys.argv[6] == "1":
    da += "'s libsluice under B's benchmark programs"

def rows(kind, side):
    got = {}
    for r in range(1, rounds + 1):
        with open(f"{out}/{kind}-{side}-{r}.csv") as f:
            for row in csv.DictReader(f):
                if row["events_per_s"]:
                    got.setdefault(row["case"].split(":")[0].strip(), []).append(
                        float(row["events_per_s"]))
    return got

print(f"A = {da}\nB = {db}\n{rounds} alternations; events/s median (min..max)")
print(f"{'case':<44} {'A':>34} {'B':>34} {'B/A':>6}")
for kind in kinds:
    ra, rb = rows(kind, "A"), rows(kind, "B")
    for case in ra:
        if case not in rb:
            continue
        ma, mb = statistics.median(ra[case]), statistics.median(rb[case])
        fa = f"{ma:,.0f} ({min(ra[case]):,.0f}..{max(ra[case]):,.0f})"
        fb = f"{mb:,.0f} ({min(rb[case]):,.0f}..{max(rb[case]):,.0f})"
        print(f"{case[:44]:<44} {fa:>34} {fb:>34} {mb / ma:>6.2f}")
PY
