#!/bin/sh
# Runs one libFuzzer target for a bounded time (meson test, suite 'fuzz').
#   run.sh BINARY SEEDS SECONDS MAX_LEN WORKDIR
# New inputs go to WORKDIR/corpus (in the build directory), never into the
# seed directory of the source tree; a crash, leak, timeout or sanitizer
# report makes libFuzzer exit non-zero and leaves its input in
# WORKDIR/artifacts (add it to the seeds once the bug is fixed).
set -eu
bin=$1 seeds=$2 secs=$3 maxlen=$4 work=$5
mkdir -p "$work/corpus" "$work/artifacts"
# UBSan aborts on its first report (the targets are also built with
# -fno-sanitize-recover); leaks are checked per input.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
# -error_exitcode: libFuzzer's default, 77, is what meson reads as SKIP.
exec "$bin" -max_total_time="$secs" -max_len="$maxlen" -timeout=10 -rss_limit_mb=1536 \
    -error_exitcode=1 -timeout_exitcode=1 \
    -detect_leaks=1 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    "$work/corpus" "$seeds"
