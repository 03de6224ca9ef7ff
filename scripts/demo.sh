#!/usr/bin/env bash
# The main job: build sluice and run the demo — an embedded Kafka broker,
# change records of "thing" entities, the sluice-trigger and sluice-listener
# binaries, and the SQLite view they leave in demo-out/. Arguments go to
# sluice-demo (--records N, --things K, --out DIR).
set -euo pipefail
here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bash scripts/deps.sh
[ -d build ] || meson setup build >/dev/null
meson compile -C build sluice-demo sluice-trigger sluice-listener >/dev/null
exec ./build/examples/sluice-demo "$@"
