#!/usr/bin/env bash
# Install the build into a temporary prefix, then build and run a separate
# program with nothing but `pkg-config --cflags --libs sluice`.
set -euo pipefail
build="$1"
src="$2"
tmp="$(mktemp -d)"
trap 'rm -rf -- "$tmp"' EXIT
meson install -C "$build" --destdir "$tmp/dest" --quiet >/dev/null
prefix="$(meson introspect "$build" --buildoptions | python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')"
root="$tmp/dest$prefix"
pcdir="$(dirname "$(find "$root" -name sluice.pc | head -n1)")"
[ -f "$pcdir/sluice.pc" ] || { echo "sluice.pc was not installed" >&2; exit 1; }
# Point pkg-config at the staged prefix.
export PKG_CONFIG_PATH="$pcdir"
export PKG_CONFIG_SYSROOT_DIR="$tmp/dest"
flags="$(pkg-config --cflags --libs sluice)"
echo "pkg-config --cflags --libs sluice: $flags"
cc -std=c11 -Wall -Wextra -Werror -o "$tmp/consumer" "$src" $flags
libdir="$(pkg-config --variable=libdir sluice)"
case "$libdir" in "$tmp/dest"*) ;; *) libdir="$tmp/dest$libdir" ;; esac
LD_LIBRARY_PATH="$libdir" "$tmp/consumer"
