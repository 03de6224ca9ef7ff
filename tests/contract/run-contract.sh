#!/usr/bin/env bash
# Contract test: run the emitter (every kind of event and fault the library
# writes), then validate its output against schemas/ with ajv.
# usage: run-contract.sh EMITTER SCHEMA_DIR
set -euo pipefail
here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
emitter="$1"
schemas="$2"
if [ ! -f "$here/node_modules/ajv/package.json" ] || [ ! -f "$here/node_modules/ajv-formats/package.json" ]; then
    (cd -- "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
tmp="$(mktemp -d)"
trap 'rm -rf -- "$tmp"' EXIT
"$emitter" "$tmp"
node "$here/validate.mjs" --schema-dir "$schemas" \
    "$schemas/fault.json" "$tmp/faults.jsonl" \
    "$schemas/event.json" "$tmp/events.jsonl" \
    "$schemas/thing-event.json" "$tmp/thing-events.jsonl" \
    "$schemas/event.json" "$tmp/thing-events.jsonl"
