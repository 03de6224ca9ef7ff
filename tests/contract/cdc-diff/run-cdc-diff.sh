#!/usr/bin/env bash
# Differential test: the same DynamoDB Streams records (corpus.json) through
# sluice's cdc flavor (cdc_diff_emit) and through aws-lambda-stream 1.0.0's
# own fromDynamodb + cdc flavor (als-cdc.cjs), compared field by field
# (compare.cjs). Every difference must be one listed, with its reason, in
# expected-differences.json (and the README's trigger section); a new one,
# or a listed one that is gone, fails.
# usage: run-cdc-diff.sh EMITTER
set -euo pipefail
here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
emitter="$1"
if [ ! -f "$here/node_modules/aws-lambda-stream/package.json" ]; then
    (cd -- "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
tmp="$(mktemp -d)"
trap 'rm -rf -- "$tmp"' EXIT
"$emitter" "$here/corpus.json" >"$tmp/sluice.jsonl"
NODE_NO_WARNINGS=1 node "$here/als-cdc.cjs" "$here/corpus.json" >"$tmp/als.jsonl"
node "$here/compare.cjs" "$here/corpus.json" "$tmp/sluice.jsonl" "$tmp/als.jsonl" \
    "$here/expected-differences.json"
