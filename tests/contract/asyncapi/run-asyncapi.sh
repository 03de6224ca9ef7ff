#!/usr/bin/env bash
# Contract test of --describe: every AsyncAPI document the processors print
# (listener, trigger, faults store, the orders example; JSON and YAML; Kafka
# and Kinesis) must be valid AsyncAPI 3.0.0 to @asyncapi/parser.
# usage: run-asyncapi.sh LISTENER TRIGGER FAULTS ORDERS
set -euo pipefail
here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
listener="$1" trigger="$2" faults="$3" orders="$4"
if [ ! -f "$here/node_modules/@asyncapi/parser/package.json" ]; then
    (cd -- "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
tmp="$(mktemp -d)"
trap 'rm -rf -- "$tmp"' EXIT
cd -- "$tmp" # --describe writes no file; a stray view.db would show up here
k=(-X bootstrap.servers=broker-1:9092,broker-2:9092)
for f in json yaml; do
    "$listener" --describe=$f --source kafka:things --key /thing/id "${k[@]}" \
        --types thing-created,thing-updated,thing-deleted >"listener.$f"
    "$listener" --describe=$f --source kafka:a,b --key /thing/id --types 'thing-*' \
        --faults kafka:listener.faults "${k[@]}" >"listener-prefix.$f"
    "$listener" --describe=$f --source kinesis:things --key /thing/id \
        -c kinesis.endpoint=http://localhost:4567 --faults kinesis:faults >"listener-kinesis.$f"
    "$trigger" --describe=$f --source kafka:things.cdc --sink kafka:things --format dynamodb \
        --entity thing "${k[@]}" >"trigger.$f"
    "$trigger" --describe=$f --source kafka:orders.cdc --sink kinesis:orders --format debezium \
        --entity order -c kinesis.region=eu-west-1 "${k[@]}" >"trigger-debezium.$f"
    "$trigger" --describe=$f --source kinesis:changes --sink kinesis:events --format dynamodb \
        --faults kinesis:faults >"trigger-kinesis.$f"
    "$faults" store --describe=$f --source kafka:faults "${k[@]}" >"faults.$f"
    "$orders" --describe=$f broker-1:9092 >"orders.$f"
done
if ls -- *.db >/dev/null 2>&1; then
    echo "--describe created a file: $(ls -- *.db)" >&2
    exit 1
fi
node "$here/validate.mjs" ./*.json ./*.yaml
