#!/usr/bin/env bash
# Installs what building, testing and benchmarking sluice needs on Debian 12,
# and the npm packages of the contract tests (from their committed lockfile).
# Runs apt-get only when something is missing; as root or through sudo.
set -euo pipefail
here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"

pkgs=(gcc make pkg-config meson ninja-build
      libjansson-dev libcriterion-dev
      libuv1-dev librdkafka-dev libcurl4-openssl-dev libssl-dev libsqlite3-dev libh2o-dev
      clang clang-format libclang-rt-14-dev python3 kcat sqlite3 curl gnuplot-nox
      prometheus)
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

# npm trees from their committed lockfiles: installed again when a
# dependency of the package.json is missing (one added since the last run).
npm_tree() {
    local dir="$here/$1"
    if ! node -e 'const fs = require("fs"), p = require(process.argv[1] + "/package.json");
        for (const d of Object.keys(p.dependencies || {}))
            if (!fs.existsSync(process.argv[1] + "/node_modules/" + d + "/package.json")) process.exit(1);' "$dir"; then
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    fi
}
npm_tree tests/contract            # ajv: the schema contract tests
npm_tree tests/contract/cdc-diff   # aws-lambda-stream 1.0.0 for the cdc differential test (about 55 MB)
npm_tree tests/kinesis/server      # kinesalite, dynalite and the fault-injecting proxy
npm_tree tests/contract/asyncapi   # @asyncapi/parser for the --describe contract test
