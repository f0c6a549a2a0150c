#!/bin/sh
# SPDX-License-Identifier: MIT
# build.sh -- builds the libFuzzer targets with clang (ASan + UBSan) and runs
# each for SECONDS seconds (default 30). Not part of `make test`.
#   tests/fuzz/build.sh [SECONDS] [OUTDIR]
# Corpora live in OUTDIR/corpus_<target> (default build-fuzz/), seeded with a
# few hand-written inputs the first time.
set -eu
SECS=${1:-30}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${2:-$ROOT/build-fuzz}
CC=${CC:-clang}
if ! command -v "$CC" >/dev/null 2>&1; then
    echo "build.sh: $CC not found (apt-get install clang)" >&2
    exit 1
fi
mkdir -p "$OUT"
CFLAGS="-g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I$ROOT/src"
CORE="$ROOT/src/core/buf.c $ROOT/src/core/util.c $ROOT/src/core/log.c $ROOT/src/core/err.c $ROOT/src/core/addr.c"

$CC $CFLAGS -o "$OUT/fuzz_http" "$ROOT/tests/fuzz/fuzz_http.c" "$ROOT/src/http/http_parse.c" \
    $CORE -lhttp_parser -luv
$CC $CFLAGS -o "$OUT/fuzz_ws_frame" "$ROOT/tests/fuzz/fuzz_ws_frame.c" "$ROOT/src/ws/ws_frame.c" \
    "$ROOT/src/ws/ws_decode.c" "$ROOT/src/ws/ws_handshake.c" $CORE -lcrypto -luv
$CC $CFLAGS -o "$OUT/fuzz_config" "$ROOT/tests/fuzz/fuzz_config.c" "$ROOT/src/core/config.c" \
    $CORE -luv
$CC $CFLAGS -o "$OUT/fuzz_addr" "$ROOT/tests/fuzz/fuzz_addr.c" $CORE -luv
$CC $CFLAGS -o "$OUT/fuzz_peek_id" "$ROOT/tests/fuzz/fuzz_peek_id.c" "$ROOT/src/chat/wire_peek.c" \
    $CORE -ljansson -luv

seed() { # seed DIR NAME BYTES(printf format)
    mkdir -p "$1"
    [ -f "$1/$2" ] || printf "$3" >"$1/$2"
}
H="$OUT/corpus_fuzz_http"
seed "$H" get '\001GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
seed "$H" post '\007POST /v1/register HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello'
seed "$H" chunked '\003POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'
seed "$H" expect '\005POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc'
seed "$H" upgrade '\011GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'
W="$OUT/corpus_fuzz_ws_frame"
# Byte 0: how many chunk-size bytes follow (0-7; +8: decode as the client);
# then those; then the frames.
seed "$W" text '\001\004\201\205\001\002\003\004iggmn'
seed "$W" close '\002\003\001\210\202\000\000\000\000\003\350'
seed "$W" frag '\001\002\001\201\000\000\000\000a\211\200\000\000\000\000\200\201\000\000\000\000b'
seed "$W" client '\011\003\001\001a\211\000\200\001b'
C="$OUT/corpus_fuzz_config"
seed "$C" basic 'listen 127.0.0.1:8080\nmax_ws_message 2m\nws_echo true\n# comment\n'
seed "$C" proxies 'trusted_proxies 127.0.0.1, 10.0.0.0/8 ::1\n'
A="$OUT/corpus_fuzz_addr"
seed "$A" v4 '\02510.0.0.0/8 127.0.0.1203.0.113.9, 10.0.0.2'
seed "$A" v6 '\012::1/128 [::1]2001:db8::1 ,::1'
P="$OUT/corpus_fuzz_peek_id"
seed "$P" first '{"id":7,"op":"ping"}'
seed "$P" later '{"op":"send","content":{"body":"}{\\"id\\":1"},"id":"q\\u00e9"}'
seed "$P" broken '{"id":9,oops'

for t in fuzz_http fuzz_ws_frame fuzz_config fuzz_addr fuzz_peek_id; do
    echo "== $t for ${SECS}s"
    "$OUT/$t" -max_total_time="$SECS" -artifact_prefix="$OUT/" -max_len=8192 -print_final_stats=1 "$OUT/corpus_$t"
done
