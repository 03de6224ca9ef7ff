#!/usr/bin/env bash
# The main job: build sluice and run the demo. Until the embedded-broker demo
# lands, this runs the in-memory quick start (a listener-style pipeline over
# the public test driver).
set -euo pipefail
here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bash scripts/deps.sh
[ -d build ] || meson setup build >/dev/null
meson compile -C build sluice-quickstart >/dev/null
exec ./build/examples/sluice-quickstart "$@"
