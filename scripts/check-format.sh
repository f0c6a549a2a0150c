#!/bin/sh
# SPDX-License-Identifier: MIT
# check-format.sh -- the format gate: every tracked C file must be formatted
# as .clang-format says. Lists the files that drift and exits 1; changes
# nothing. `make format` reformats them in place.
# CLANG_FORMAT picks the binary (default clang-format).
set -eu
cd "$(dirname "$0")/.."
CF=${CLANG_FORMAT:-clang-format}
if ! command -v "$CF" >/dev/null 2>&1; then
    echo "check-format: $CF not found (scripts/install-deps.sh --test installs it)" >&2
    exit 2
fi
files=$(git ls-files '*.c' '*.h')
n=$(echo "$files" | wc -w)
# shellcheck disable=SC2086 # one path a word (the tree has no spaces in names)
if out=$("$CF" --dry-run -Werror --ferror-limit=1 $files 2>&1); then
    echo "check-format: all $n tracked C files formatted"
    exit 0
fi
bad=$(echo "$out" | sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: .*/\1/p' | sort -u)
if [ -z "$bad" ]; then # not a formatting verdict: show what clang-format said
    echo "$out" >&2
    exit 2
fi
echo "check-format: $(echo "$bad" | wc -l) of $n tracked C files are not formatted ($("$CF" --version)):"
echo "$bad" | sed 's/^/  /'
echo "check-format: run 'make format' and commit the result"
exit 1
