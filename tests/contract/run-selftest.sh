#!/usr/bin/env bash
# Self-test of the contract validator and the schemas: the good samples must
# validate, every line of the bad samples must be rejected, and so must the
# `examples` written into the schemas themselves validate. Works from any cwd.
#
# usage: bash tests/contract/run-selftest.sh
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
schemas="$(cd -- "$here/../../schemas" && pwd)"
samples="$here/samples"

command -v node >/dev/null 2>&1 || { echo "run-selftest: node is not installed" >&2; exit 1; }

# Install ajv and ajv-formats from the committed lockfile when missing.
if [ ! -f "$here/node_modules/ajv/package.json" ] || [ ! -f "$here/node_modules/ajv-formats/package.json" ]; then
    command -v npm >/dev/null 2>&1 || { echo "run-selftest: npm is not installed" >&2; exit 1; }
    if ! (cd -- "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
        echo "run-selftest: npm ci failed in $here" >&2
        exit 1
    fi
fi

# The schemas' own examples, one JSON Lines file per schema.
tmp="$(mktemp -d)"
trap 'rm -rf -- "$tmp"' EXIT
for name in event fault dynamodb-stream-record debezium-envelope thing-event; do
    node -e '
        const fs = require("fs");
        const s = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
        if (!Array.isArray(s.examples) || s.examples.length === 0) {
            console.error(`run-selftest: ${process.argv[1]} has no examples`);
            process.exit(1);
        }
        fs.writeFileSync(process.argv[2], s.examples.map((e) => JSON.stringify(e)).join("\n") + "\n");
    ' "$schemas/$name.json" "$tmp/$name-examples.jsonl"
done

node "$here/validate.mjs" --schema-dir "$schemas" \
    "$schemas/event.json" "$samples/good-events.jsonl" \
    --expect-invalid "$schemas/event.json" "$samples/bad-events.jsonl" \
    "$schemas/fault.json" "$samples/good-faults.jsonl" \
    --expect-invalid "$schemas/fault.json" "$samples/bad-faults.jsonl" \
    "$schemas/event.json" "$samples/good-faults.jsonl" \
    "$schemas/event.json" "$tmp/event-examples.jsonl" \
    "$schemas/fault.json" "$tmp/fault-examples.jsonl" \
    "$schemas/dynamodb-stream-record.json" "$samples/good-dynamodb-stream-records.jsonl" \
    --expect-invalid "$schemas/dynamodb-stream-record.json" "$samples/bad-dynamodb-stream-records.jsonl" \
    "$schemas/debezium-envelope.json" "$samples/good-debezium-envelopes.jsonl" \
    --expect-invalid "$schemas/debezium-envelope.json" "$samples/bad-debezium-envelopes.jsonl" \
    "$schemas/thing-event.json" "$samples/good-thing-events.jsonl" \
    --expect-invalid "$schemas/thing-event.json" "$samples/bad-thing-events.jsonl" \
    "$schemas/event.json" "$samples/good-thing-events.jsonl" \
    "$schemas/dynamodb-stream-record.json" "$tmp/dynamodb-stream-record-examples.jsonl" \
    "$schemas/debezium-envelope.json" "$tmp/debezium-envelope-examples.jsonl" \
    "$schemas/thing-event.json" "$tmp/thing-event-examples.jsonl"
