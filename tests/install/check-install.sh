#!/usr/bin/env bash
# Install the build into a prefix of its own, as a user without root would,
# then use it from there with nothing but the documented steps (README,
# "Installing into a prefix"): no LD_LIBRARY_PATH, no ldconfig.
#
# The tree is staged with --destdir and then moved to another directory, so
# nothing in it may still point at the configured prefix: the installed
# binaries find libsluice through their relative rpath ($ORIGIN/../<libdir>),
# sluice.pc is relocatable (prefix from ${pcfiledir}), and a program built
# with `pkg-config --cflags --libs sluice` runs with the rpath the README
# shows.
set -euo pipefail
build="$1"
src="$2"
tmp="$(mktemp -d)"
trap 'rm -rf -- "$tmp"' EXIT
unset LD_LIBRARY_PATH PKG_CONFIG_SYSROOT_DIR
meson install -C "$build" --destdir "$tmp/stage" --quiet >/dev/null
configured="$(meson introspect "$build" --buildoptions | python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')"
root="$tmp/prefix"
mv -- "$tmp/stage$configured" "$root"
rm -rf -- "$tmp/stage"

pc="$(find "$root" -name sluice.pc | head -n1)"
[ -n "$pc" ] || { echo "sluice.pc was not installed" >&2; exit 1; }
export PKG_CONFIG_PATH="$(dirname "$pc")"
libdir="$(realpath -m "$(pkg-config --variable=libdir sluice)")"
incdir="$(realpath -m "$(pkg-config --variable=includedir sluice)")"
case "$libdir/" in "$root"/*) ;; *)
    echo "sluice.pc names libdir $libdir, outside the prefix $root it was moved to" >&2; exit 1 ;;
esac
[ -f "$incdir/sluice/sluice.h" ] || { echo "sluice.pc names includedir $incdir, without sluice/sluice.h" >&2; exit 1; }
[ -e "$libdir/libsluice.so.0" ] || { echo "no libsluice.so.0 in $libdir" >&2; exit 1; }

# Each program must load the libsluice of this prefix, not one installed
# elsewhere on the machine (that would hide a missing rpath).
uses_prefix_lib() {
    local line
    line="$(ldd "$1" | grep 'libsluice\.so' || true)"
    case "$line" in *"=> $libdir/libsluice.so"*|*"=> $root/"*libsluice.so*) return 0 ;; esac
    echo "$1 does not load libsluice from $libdir: ${line:-no libsluice in ldd}" >&2
    return 1
}

# The installed service binaries (those this build has).
version="$(meson introspect "$build" --projectinfo | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')"
ran=0
for b in sluice-broker sluice-listener sluice-trigger; do
    [ -x "$build/processors/$b" ] || continue
    bin="$root/bin/$b"
    [ -x "$bin" ] || { echo "$b was built but not installed in $root/bin" >&2; exit 1; }
    out="$("$bin" --version)" || { echo "$bin --version failed" >&2; exit 1; }
    case "$out" in *"$version"*) ;; *) echo "$bin --version printed '$out', not $version" >&2; exit 1 ;; esac
    "$bin" --help >/dev/null || { echo "$bin --help failed" >&2; exit 1; }
    uses_prefix_lib "$bin"
    echo "$b: $out"
    ran=$((ran + 1))
done
echo "installed binaries run: $ran"

# A separate program, built as the README says.
flags="$(pkg-config --cflags --libs sluice)"
echo "pkg-config --cflags --libs sluice: $flags"
cc -std=c11 -Wall -Wextra -Werror -o "$tmp/consumer" "$src" $flags -Wl,-rpath,"$(pkg-config --variable=libdir sluice)"
uses_prefix_lib "$tmp/consumer"
"$tmp/consumer"
