#!/usr/bin/env bash
# Installs what building, testing and benchmarking sluice needs on Debian 12,
# and the npm packages of the contract tests (from their committed lockfile).
# Runs apt-get only when something is missing; as root or through sudo.
set -euo pipefail
here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"

pkgs=(gcc make pkg-config meson ninja-build
      libjansson-dev libcriterion-dev
      libuv1-dev librdkafka-dev libcurl4-openssl-dev libssl-dev libsqlite3-dev
      clang clang-format libclang-rt-14-dev python3 kcat sqlite3 curl gnuplot-nox)
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "deps: installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -f "$here/tests/contract/node_modules/ajv/package.json" ]; then
    (cd "$here/tests/contract" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
# @asyncapi/parser for the --describe contract test
if [ ! -f "$here/tests/contract/asyncapi/node_modules/@asyncapi/parser/package.json" ]; then
    (cd "$here/tests/contract/asyncapi" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
# aws-lambda-stream 1.0.0 for the cdc differential test (about 55 MB)
if [ ! -f "$here/tests/contract/cdc-diff/node_modules/aws-lambda-stream/package.json" ]; then
    (cd "$here/tests/contract/cdc-diff" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
# kinesalite (and the fault-injecting proxy in front of it) for the Kinesis tests
if [ ! -f "$here/tests/kinesis/server/node_modules/kinesalite/package.json" ]; then
    (cd "$here/tests/kinesis/server" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
