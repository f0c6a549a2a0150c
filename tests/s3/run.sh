#!/usr/bin/env bash
# run.sh -- runs one test binary with media on S3 (CTest label s3):
# installs s3rver into tests/s3/node_modules when missing (npm ci, from the
# committed package-lock.json), then execs the test with
# PL_TEST_MEDIA_STORE=s3, so the harness gives each parleyd its own
# s3server.cjs (started and stopped by PID, data in the test's temp dir).
# Exit 77 (CTest: skipped) when node/npm are missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "s3: node/npm not found (scripts/install-deps.sh --test installs them): skipped" >&2
  exit 77
fi
# The s3 tests run in parallel: one installs, the others wait on the lock.
(
  flock 9
  if [[ ! -d "$here/node_modules/s3rver" ]]; then
    (cd "$here" && npm ci --no-audit --no-fund >&2)
  fi
) 9>"$here/.npm-install.lock"
export PL_TEST_MEDIA_STORE=s3
exec "$@"
