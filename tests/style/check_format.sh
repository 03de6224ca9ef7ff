#!/bin/sh
# Every C source and header of the tree is as .clang-format writes it
# (includes sorted within their blocks). Fails with the files and lines
# that differ; skipped (77) when clang-format is not installed.
# usage: check_format.sh SOURCE_ROOT
set -eu
root="$1"
command -v clang-format >/dev/null 2>&1 || { echo "clang-format is not installed" >&2; exit 77; }
cd "$root"
files=$(find include lib processors bench tests examples -type f \( -name '*.c' -o -name '*.h' \) \
    -not -path '*/node_modules/*' -not -path '*/corpus/*' | sort)
[ -n "$files" ] || { echo "no sources found under $root" >&2; exit 1; }
# shellcheck disable=SC2086
if ! clang-format --dry-run --Werror $files; then
    echo "format: run clang-format -i on the files above" >&2
    exit 1
fi
echo "format: $(echo "$files" | wc -l) files as .clang-format writes them"
