#!/usr/bin/env bash
# The main job: build sluice and run the demo — an embedded Kafka broker,
# change records of "thing" entities, the sluice-trigger and sluice-listener
# binaries, the SQLite view they leave in demo-out/, and sluice-faults listing
# the malformed records. Arguments go to
# sluice-demo (--records N, --things K, --out DIR).
set -euo pipefail
here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
bash scripts/deps.sh
[ -d build ] || meson setup build >/dev/null
meson compile -C build sluice-demo sluice-trigger sluice-listener sluice-faults >/dev/null
exec ./build/examples/sluice-demo "$@"
