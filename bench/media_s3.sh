#!/usr/bin/env bash
# media_s3.sh -- upload/download throughput with media on local disk vs on
# S3 (s3rver on loopback, tests/s3/s3server.cjs), through loadgen's media
# scenario (20 chatting users, one big upload then its download). parleyd
# takes the S3 settings from PARLEYD_* environment variables, which the
# loadgen's server inherits. Prints loadgen's media lines for both stores.
#   bench/media_s3.sh [MiB]     (default 100; needs build/loadgen, node)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mib="${1:-100}"
lg="$root/build/loadgen"
[[ -x "$lg" ]] || { echo "media_s3: build loadgen first" >&2; exit 1; }
if [[ ! -d "$root/tests/s3/node_modules/s3rver" ]]; then
  (cd "$root/tests/s3" && npm ci --no-audit --no-fund >&2)
fi
dir="$(mktemp -d /tmp/parley-bench-s3-XXXXXX)"
out="$dir/ready"
node "$root/tests/s3/s3server.cjs" --dir "$dir/s3" --port 0 --bucket bench >"$out" 2>"$dir/s3.err" &
s3pid=$!
cleanup() { kill "$s3pid" 2>/dev/null || true; wait "$s3pid" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
for _ in $(seq 100); do grep -q ready "$out" 2>/dev/null && break; sleep 0.1; done
port="$(awk '/ready/{print $2}' "$out")"
[[ -n "$port" ]] || { echo "media_s3: s3server did not start" >&2; cat "$dir/s3.err" >&2; exit 1; }

echo "== media_store local, ${mib} MiB"
"$lg" --only media --media-mib "$mib" | grep -E "media" || true
echo "== media_store s3 (s3rver on 127.0.0.1:$port), ${mib} MiB"
PARLEYD_MEDIA_STORE=s3 PARLEYD_S3_ENDPOINT="http://127.0.0.1:$port" PARLEYD_S3_BUCKET=bench \
PARLEYD_S3_ACCESS_KEY=S3RVER PARLEYD_S3_SECRET_KEY=S3RVER \
  "$lg" --only media --media-mib "$mib" | grep -E "media" || true
echo "s3 objects stored: $(find "$dir/s3/bench" -name '*._S3rver_object' | wc -l)"
