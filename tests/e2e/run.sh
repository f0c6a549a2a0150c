#!/usr/bin/env bash
# Browser suite for the web client: Node's test runner + playwright-core
# driving Debian's Chromium. Starts its own parleyd per test file.
#   PARLEYD=path/to/parleyd   (default: build/parleyd at the repo root)
#   CHROMIUM=path/to/chromium (default: /usr/bin/chromium)
# Screenshots land in build/screenshots/.
set -euo pipefail
cd "$(dirname "$0")"

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$CHROMIUM" ]]; then
  echo "e2e: $CHROMIUM not found; install it with: apt-get install -y chromium" >&2
  exit 1
fi
export CHROMIUM

PARLEYD="${PARLEYD:-../../build/parleyd}"
if [[ ! -x "$PARLEYD" ]]; then
  echo "e2e: parleyd not found at $PARLEYD (build it first or set PARLEYD)" >&2
  exit 1
fi
PARLEYD="$(cd "$(dirname "$PARLEYD")" && pwd)/$(basename "$PARLEYD")"
export PARLEYD

if [[ ! -d node_modules/playwright-core || ! -d node_modules/ws ]]; then
  npm ci --no-audit --no-fund
fi

mkdir -p ../../build/screenshots
# One file at a time: each starts a parleyd and a browser of its own.
# E2E_FILES="a.test.mjs b.test.mjs" runs only those (the tls label's run).
exec node --test --test-concurrency=1 --test-reporter=spec "$@" ${E2E_FILES:-./*.test.mjs}
