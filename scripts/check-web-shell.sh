#!/usr/bin/env bash
# Every module of the web client must be in the service worker's offline
# shell (web/sw.js SHELL): a module left out makes the app fail to start
# offline, because its importer cannot load it (ctest unit/web_shell).
set -euo pipefail
cd "$(dirname "$0")/../web"
missing=0
for f in js/*.js; do
  if ! grep -qF "'$f'" sw.js; then
    echo "web/sw.js: '$f' is not in SHELL (the app cannot start offline)"
    missing=1
  fi
done
[ "$missing" = 0 ] && echo "check-web-shell: all $(ls js/*.js | wc -l) modules are in the offline shell"
exit "$missing"
