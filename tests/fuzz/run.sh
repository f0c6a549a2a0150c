#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh -- fuzz one libFuzzer target for FUZZ_SECONDS seconds (default 25)
# on a fresh copy of its committed seed corpus, so a run never writes into
# the source tree. CTest calls it (label fuzz, see CMakeLists.txt; `make fuzz`).
#   run.sh BINARY SEED_CORPUS WORKDIR [DICTIONARY]
# Exit status: 0, or libFuzzer's non-zero status when an input crashed, leaked,
# hit UBSan, timed out or ran out of memory; the input is then saved as
# WORKDIR/crash-* (or leak-*, timeout-*, oom-*) and the path printed.
# FUZZ_ARGS adds libFuzzer flags (e.g. FUZZ_ARGS=-jobs=2 for long runs).
set -eu
bin=$1 seeds=$2 work=$3 dict=${4:-}
secs=${FUZZ_SECONDS:-25}
rm -rf "$work"
mkdir -p "$work/corpus"
cp "$seeds"/* "$work/corpus/"
set -- -max_total_time="$secs" -max_len=8192 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$work/"
[ -n "$dict" ] && set -- "$@" -dict="$dict"
echo "run.sh: $(basename "$bin") for ${secs}s on a copy of $seeds ($(ls "$seeds" | wc -l) seeds)"
# shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
exec "$bin" "$@" ${FUZZ_ARGS:-} "$work/corpus"
