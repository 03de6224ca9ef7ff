#!/usr/bin/env bash
# Self-test of the Kinesis test server (kinesalite + fault-injecting proxy).
# Works from any cwd; needs node, npm (only when node_modules is missing) and
# curl. Talks only to 127.0.0.1.
#
# usage: bash tests/kinesis/server/selftest.sh
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"

fail() { echo "kinesis server selftest: FAIL: $*" >&2; exit 1; }

for tool in node curl; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed"
done

if [ ! -f "$here/node_modules/kinesalite/package.json" ]; then
    command -v npm >/dev/null 2>&1 || fail "npm is not installed"
    (cd -- "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || fail "npm ci failed in $here"
fi

tmp="$(mktemp -d)"
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        sleep 0.5
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf -- "$tmp"
}
trap cleanup EXIT

# check FILE 'JS expression over r (the parsed JSON in FILE)' 'what it checks'
check() {
    node -e '
        const fs = require("fs");
        const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
        let ok;
        try { ok = (0, eval)("(r) => (" + process.argv[2] + ")")(r); } catch (e) { ok = false; }
        if (!ok) {
            console.error("kinesis server selftest: FAIL: " + process.argv[3]);
            console.error("  expected: " + process.argv[2]);
            console.error("  got: " + fs.readFileSync(process.argv[1], "utf8").slice(0, 2000));
            process.exit(1);
        }
    ' "$1" "$2" "$3" || exit 1
}

# kin URL OPERATION JSON_OR_@FILE OUT: one Kinesis call; prints the HTTP status
# and writes the body to OUT (the Content-Type to OUT.ct).
kin() {
    curl -s --max-time 30 -o "$4" -w '%{http_code} %{content_type}' -X POST \
        -H 'Content-Type: application/x-amz-json-1.1' \
        -H "X-Amz-Target: Kinesis_20131202.$2" \
        -H 'X-Amz-Date: 20260101T000000Z' \
        -H 'Authorization: AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=00' \
        --data-binary "$3" "$1" > "$4.meta"
    cut -d' ' -f2- "$4.meta" > "$4.ct"
    cut -d' ' -f1 "$4.meta"
}

expect_status() { # WANT GOT WHAT
    [ "$1" = "$2" ] || fail "$3: HTTP $2, want $1 (body: $(head -c 500 "$4"))"
}

control() { # METHOD PATH [JSON] -> body on stdout
    if [ $# -ge 3 ]; then
        curl -s -f --max-time 30 -X "$1" -H 'Content-Type: application/json' --data "$3" "$proxy$2"
    else
        curl -s -f --max-time 30 -X "$1" "$proxy$2"
    fi
}

# start_server ARGS...: starts server.js with stdin on a FIFO held open by fd 3
start_server() {
    rm -f "$tmp/ports.json" "$tmp/stdin"
    mkfifo "$tmp/stdin"
    node "$here/server.js" --port-file "$tmp/ports.json" "$@" \
        < "$tmp/stdin" > "$tmp/server.out" 2> "$tmp/server.err" &
    pid=$!
    exec 3> "$tmp/stdin"
    local i
    for i in $(seq 200); do
        [ -s "$tmp/ports.json" ] && break
        kill -0 "$pid" 2>/dev/null || fail "server.js exited early: $(cat "$tmp/server.err")"
        sleep 0.05
    done
    [ -s "$tmp/ports.json" ] || fail "server.js wrote no port file within 10 s"
    kinesalite="$(node -p 'require(process.argv[1]).kinesalite' "$tmp/ports.json")"
    proxy="$(node -p 'require(process.argv[1]).proxy' "$tmp/ports.json")"
    [[ "$kinesalite" =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || fail "bad kinesalite URL: $kinesalite"
    [[ "$proxy" =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || fail "bad proxy URL: $proxy"
}

wait_gone() { # PID WHAT: waits up to 5 s for the process to exit; its status in $rc
    local i
    for i in $(seq 100); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.05
    done
    kill -0 "$1" 2>/dev/null && fail "server.js still running 5 s after $2"
    rc=0
    wait "$1" || rc=$?
}

stream=selftest
start_server --stream "$stream:2" --exit-on-stdin-eof
sleep 0.1
cmp -s <(head -n 1 "$tmp/server.out") "$tmp/ports.json" || fail "ready line on stdout differs from the port file"

# ---- the stream exists and is ACTIVE with 2 shards (kinesalite directly)
s=$(kin "$kinesalite" ListShards "{\"StreamName\":\"$stream\"}" "$tmp/shards.json")
expect_status 200 "$s" ListShards "$tmp/shards.json"
check "$tmp/shards.json" 'r.Shards.length === 2' "stream has 2 shards"

# ---- PutRecords of 10 records with every 3rd entry failed
control POST /__faults '{"putRecordsFailures":{"every":3,"calls":1}}' > /dev/null || fail "POST /__faults"
node -e '
    const recs = [];
    for (let i = 0; i < 10; i++)
        recs.push({ PartitionKey: "pk-" + i, Data: Buffer.from("rec-" + i).toString("base64") });
    process.stdout.write(JSON.stringify({ StreamName: process.argv[1], Records: recs }));
' "$stream" > "$tmp/put.json"
s=$(kin "$proxy" PutRecords "@$tmp/put.json" "$tmp/put.out")
expect_status 200 "$s" "PutRecords with partial failure" "$tmp/put.out"
check "$tmp/put.out" 'r.FailedRecordCount === 3 && r.Records.length === 10' "FailedRecordCount 3 of 10 records"
check "$tmp/put.out" 'r.Records.every((e, i) => (i % 3 === 2)
        ? e.ErrorCode === "ProvisionedThroughputExceededException" && typeof e.ErrorMessage === "string"
          && !("SequenceNumber" in e) && !("ShardId" in e)
        : !("ErrorCode" in e) && /^[0-9]+$/.test(e.SequenceNumber) && /^shardId-[0-9]{12}$/.test(e.ShardId))' \
    "entries 2, 5, 8 failed, the others have SequenceNumber and ShardId"

# The same 10 records again, fault used up: all stored.
s=$(kin "$proxy" PutRecords "@$tmp/put.json" "$tmp/put2.out")
expect_status 200 "$s" "PutRecords after the fault" "$tmp/put2.out"
check "$tmp/put2.out" 'r.FailedRecordCount === 0 && r.Records.every((e) => e.SequenceNumber)' "second PutRecords all stored"

# ---- read everything back from kinesalite directly: the failed ones are absent
: > "$tmp/read.txt"
for shard in $(node -p 'require(process.argv[1]).Shards.map((s) => s.ShardId).join(" ")' "$tmp/shards.json"); do
    s=$(kin "$kinesalite" GetShardIterator "{\"StreamName\":\"$stream\",\"ShardId\":\"$shard\",\"ShardIteratorType\":\"TRIM_HORIZON\"}" "$tmp/it.json")
    expect_status 200 "$s" "GetShardIterator $shard" "$tmp/it.json"
    it=$(node -p 'require(process.argv[1]).ShardIterator' "$tmp/it.json")
    s=$(kin "$kinesalite" GetRecords "{\"ShardIterator\":\"$it\"}" "$tmp/recs.json")
    expect_status 200 "$s" "GetRecords $shard" "$tmp/recs.json"
    check "$tmp/recs.json" 'typeof r.NextShardIterator === "string" && r.MillisBehindLatest === 0' "GetRecords shape"
    node -p 'require(process.argv[1]).Records.map((x) => Buffer.from(x.Data, "base64").toString()).join("\n")' \
        "$tmp/recs.json" >> "$tmp/read.txt"
done
got=$(grep . "$tmp/read.txt" | sort | tr '\n' ' ')
want="rec-0 rec-0 rec-1 rec-1 rec-2 rec-3 rec-3 rec-4 rec-4 rec-5 rec-6 rec-6 rec-7 rec-7 rec-8 rec-9 rec-9 "
[ "$got" = "$want" ] || fail "records read back: '$got', want '$want'"

# ---- throttling of the next 2 GetRecords, then success (through the proxy)
control POST /__faults '{"throttle":{"GetRecords":2}}' > /dev/null || fail "POST /__faults"
s=$(kin "$proxy" GetShardIterator "{\"StreamName\":\"$stream\",\"ShardId\":\"shardId-000000000000\",\"ShardIteratorType\":\"TRIM_HORIZON\"}" "$tmp/it.json")
expect_status 200 "$s" "GetShardIterator through the proxy (not throttled)" "$tmp/it.json"
it=$(node -p 'require(process.argv[1]).ShardIterator' "$tmp/it.json")
for n in 1 2; do
    s=$(kin "$proxy" GetRecords "{\"ShardIterator\":\"$it\"}" "$tmp/thr.json")
    expect_status 400 "$s" "throttled GetRecords #$n" "$tmp/thr.json"
    grep -qx 'application/x-amz-json-1.1' "$tmp/thr.json.ct" || fail "throttle content-type: $(cat "$tmp/thr.json.ct")"
    check "$tmp/thr.json" 'r.__type === "ProvisionedThroughputExceededException" && /^Rate exceeded/.test(r.message)' "throttle body"
done
s=$(kin "$proxy" GetRecords "{\"ShardIterator\":\"$it\"}" "$tmp/ok.json")
expect_status 200 "$s" "GetRecords after 2 throttles" "$tmp/ok.json"
check "$tmp/ok.json" 'Array.isArray(r.Records) && r.Records.length > 0' "GetRecords after throttles returns records"

# ---- ExpiredIteratorException for the next GetRecords
control POST /__faults '{"expiredIterator":1}' > /dev/null || fail "POST /__faults"
s=$(kin "$proxy" GetRecords "{\"ShardIterator\":\"$it\"}" "$tmp/exp.json")
expect_status 400 "$s" "GetRecords with expired iterator" "$tmp/exp.json"
check "$tmp/exp.json" 'r.__type === "ExpiredIteratorException"' "expired iterator body"

# ---- latency
control POST /__faults '{"latency":{"ms":300,"operations":["ListShards"],"calls":1}}' > /dev/null || fail "POST /__faults"
t0=$(date +%s%N)
s=$(kin "$proxy" ListShards "{\"StreamName\":\"$stream\"}" "$tmp/lat.json")
t1=$(date +%s%N)
expect_status 200 "$s" "ListShards with latency" "$tmp/lat.json"
[ $(( (t1 - t0) / 1000000 )) -ge 300 ] || fail "latency: ListShards took $(( (t1 - t0) / 1000000 )) ms, want >= 300"

# ---- a ~4.6 MB PutRecords and 20 concurrent PutRecord calls through the proxy
node -e '
    const recs = [];
    for (let i = 0; i < 4; i++)
        recs.push({ PartitionKey: "big-" + i, Data: Buffer.alloc(850 * 1024, 97 + i).toString("base64") });
    process.stdout.write(JSON.stringify({ StreamName: process.argv[1], Records: recs }));
' "$stream" > "$tmp/big.json"
s=$(kin "$proxy" PutRecords "@$tmp/big.json" "$tmp/big.out")
expect_status 200 "$s" "4.6 MB PutRecords" "$tmp/big.out"
check "$tmp/big.out" 'r.FailedRecordCount === 0 && r.Records.length === 4' "big PutRecords stored"
pids=()
for i in $(seq 20); do
    kin "$proxy" PutRecord "{\"StreamName\":\"$stream\",\"PartitionKey\":\"c$i\",\"Data\":\"eA==\"}" "$tmp/c$i.json" > "$tmp/c$i.status" &
    pids+=($!)
done
wait "${pids[@]}"
for i in $(seq 20); do
    [ "$(cat "$tmp/c$i.status")" = 200 ] || fail "concurrent PutRecord $i: HTTP $(cat "$tmp/c$i.status")"
done

# ---- counters
control GET /__stats > "$tmp/stats.json" || fail "GET /__stats"
check "$tmp/stats.json" 'r.PutRecords.calls === 3 && r.PutRecords.entries === 24 && r.PutRecords.failedEntries === 3
    && r.PutRecords.throttled === 0' "PutRecords stats"
check "$tmp/stats.json" 'r.GetRecords.calls === 4 && r.GetRecords.throttled === 2 && r.GetRecords.expiredIterator === 1' "GetRecords stats"
check "$tmp/stats.json" 'r.GetShardIterator.calls === 1 && r.ListShards.calls === 1 && r.PutRecord.calls === 20' "other stats"
check "$tmp/stats.json" '!("CreateStream" in r) && !("DescribeStreamSummary" in r)' "direct kinesalite calls are not counted"

# ---- bad fault specs are refused; reset clears faults and counters
code=$(curl -s --max-time 30 -o /dev/null -w '%{http_code}' -X POST --data '{"nonsense":1}' "$proxy/__faults")
[ "$code" = 400 ] || fail "POST /__faults with an unknown fault: HTTP $code, want 400"
control POST /__faults '{"throttle":{"PutRecord":-1}}' > /dev/null || fail "POST /__faults"
control POST /__reset > /dev/null || fail "POST /__reset"
control GET /__stats > "$tmp/stats.json" || fail "GET /__stats"
check "$tmp/stats.json" 'Object.keys(r).length === 0' "stats empty after reset"
s=$(kin "$proxy" PutRecord "{\"StreamName\":\"$stream\",\"PartitionKey\":\"k\",\"Data\":\"eA==\"}" "$tmp/after.json")
expect_status 200 "$s" "PutRecord after reset (throttle cleared)" "$tmp/after.json"

# ---- ListShards with only a NextToken (which crashes kinesalite) is refused by the proxy
s=$(kin "$proxy" ListShards '{"NextToken":"x"}' "$tmp/nt.json")
expect_status 400 "$s" "ListShards with NextToken" "$tmp/nt.json"
check "$tmp/nt.json" 'r.__type === "InvalidArgumentException"' "ListShards NextToken refused"
s=$(kin "$kinesalite" ListStreams '{}' "$tmp/alive.json")
expect_status 200 "$s" "kinesalite still alive" "$tmp/alive.json"

# ---- SIGTERM ends it, cleanly
kill -TERM "$pid"
wait_gone "$pid" SIGTERM
[ "$rc" = 0 ] || fail "server.js exit status $rc after SIGTERM"
exec 3>&-
curl -s --max-time 5 -o /dev/null "$proxy/__stats" && fail "proxy still answers after SIGTERM"

# ---- --exit-on-stdin-eof: closing its stdin ends it
start_server --exit-on-stdin-eof
exec 3>&-
wait_gone "$pid" "stdin EOF"
[ "$rc" = 0 ] || fail "server.js exit status $rc after stdin EOF"
pid=""

echo "kinesis server selftest: OK"
