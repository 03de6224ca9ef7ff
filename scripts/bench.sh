#!/usr/bin/env bash
# The benchmark suite, one command: builds the benchmarks and runs them all,
# with a progress line per case, then prints one table (events/s, ns/event,
# MB/s, allocations/event, peak RSS, and each comparison's ratio measured
# side by side in the same run) and writes it as CSV, a chart per comparison
# and a page of all of them (PNG) under bench/results/.
#
# usage: bash scripts/bench.sh [--quick] [--reps R] [--no-peers] [--no-kafka] [--no-kinesis]
#   --quick   smoke run for CI: small inputs, 1 rep, seconds; no figure is asserted
set -euo pipefail
here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

quick=0 reps=3 peers=1 kafka=1 kinesis=1
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1 ;;
    --reps) reps="$2"; shift ;;
    --no-peers) peers=0 ;;
    --no-kafka) kafka=0 ;;
    --no-kinesis) kinesis=0 ;;
    -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if [ "$quick" = 1 ]; then
    reps=1 events=2000 batch_args=(--quick) e2e_args=(--quick) kin_args=(--quick)
else
    events=100000 batch_args=(--reps "$reps") e2e_args=(--reps "$reps") kin_args=(--reps "$reps")
fi

bash scripts/deps.sh
[ -d build ] || meson setup build >/dev/null
meson configure build -Dbench=true >/dev/null
ninja -C build >/dev/null

out=bench/results
mkdir -p "$out"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
run="$out/run-$stamp"
mkdir -p "$run"
log="$run/log.txt"
: >"$log"

step() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*"; }

step "bench_batch: hot paths (batch path by batch size, envelope scan, decode)"
./build/bench/bench_batch "${batch_args[@]}" --case batch --case scan --case decode --case sizes \
    --csv "$run/batch.csv" >>"$log" 2>&1
step "bench_batch: the peers' pipeline in sluice on the same $events events"
./build/bench/bench_batch --events "$events" --case peers --reps "$reps" \
    $([ "$quick" = 1 ] && echo --min-ms 50) --dump-events "$run/events.jsonl" \
    --csv "$run/peers-sluice.csv" >>"$log" 2>&1

step "bench_ordering: partition, key and unordered mode into a sink acknowledging 0-5 ms later"
./build/bench/bench_ordering $([ "$quick" = 1 ] && echo --quick) --csv "$run/ordering.csv" \
    >>"$log" 2>&1

if [ "$peers" = 1 ]; then
    if [ ! -f bench/peers/peer.js ]; then
        step "peers: bench/peers is missing, skipped"
        peers=0
    else
        [ -f bench/peers/node_modules/.package-lock.json ] ||
            (cd bench/peers && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
        for impl in aws-lambda-stream highland; do
            step "peer: $impl on the same $events events"
            # Lambda delivers at most 10 000 Kinesis records per invocation;
            # one event of 100 000 would make aws-lambda-stream quadratic
            # (bench/peers/README.md), so both peers get invocations of that size.
            node bench/peers/peer.js --impl "$impl" --events "$run/events.jsonl" --reps "$reps" \
                --records-per-event 10000 >"$run/peer-$impl.jsonl" 2>>"$log"
        done
    fi
fi

if [ "$kafka" = 1 ]; then
    step "bench_kafka_e2e: processor vs raw librdkafka consumer and kcat on the embedded broker"
    ./build/bench/bench_kafka_e2e "${e2e_args[@]}" --csv "$run/kafka.csv" >>"$log" 2>&1
fi
if [ "$kafka" = 1 ]; then
    step "bench_flavors: trigger and listener vs raw consumer and kcat; listener memory at 1x and 10x input"
    ./build/bench/bench_flavors "${e2e_args[@]}" --csv "$run/flavors.csv" >>"$log" 2>&1
fi
if [ "$kafka" = 1 ]; then
    step "bench_failover: a group of 3 listeners, one SIGKILLed: kill to its partitions consumed again"
    ./build/bench/bench_failover $([ "$quick" = 1 ] && echo --quick) --csv "$run/failover.csv" \
        >>"$log" 2>&1
fi
if [ "$kafka" = 1 ] && [ -x ./build/bench/bench_query ] && command -v wrk >/dev/null; then
    step "bench_query: wrk GETs by key on the listener's view while it ingests, vs the ingest alone"
    ./build/bench/bench_query $([ "$quick" = 1 ] && echo --quick) >"$run/query.txt" 2>>"$log"
fi
if [ "$kinesis" = 1 ]; then
    step "bench_kinesis: PutRecords and GetRecords against kinesalite vs a curl loop"
    ./build/bench/bench_kinesis "${kin_args[@]}" >"$run/kinesis.txt" 2>>"$log"
    step "bench_kin_leases: 6 shards spread from 1 to 3 workers; failover after a SIGKILL"
    ./build/bench/bench_kin_leases $([ "$quick" = 1 ] && echo --quick) >"$run/leases.txt" 2>>"$log"
fi

step "summary"
python3 bench/summarize.py "$run" "$quick"
cp "$run/summary.csv" "$out/latest.csv"
[ -f "$run/summary.png" ] && cp "$run/summary.png" "$out/latest.png"
rm -f "$run/events.jsonl" # large and reproducible
echo "results: $run (also $out/latest.csv, $out/latest.png); full output in $log"
