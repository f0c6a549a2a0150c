/* SPDX-License-Identifier: MIT */
/* test_ws_decode.c -- the pure inbound frame decoder (ws_decode.c): whole
 * frames, fragments, control frames between fragments, every protocol
 * error with its close code, and every byte split of a few streams fed the
 * way ws_conn.c feeds it (keep the unconsumed tail, append the next read). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "ws/ws.h"

static const uint8_t KEY[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Appends one masked client frame (b0 = FIN/RSV/opcode byte) to out. */
static size_t put_frame(uint8_t *out, uint8_t b0, const void *payload, size_t len)
{
    size_t n = 0;
    out[n++] = b0;
    if (len <= 125) {
        out[n++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xFFFF) {
        out[n++] = 0x80 | 126;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            out[n++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    memcpy(out + n, KEY, 4);
    n += 4;
    for (size_t i = 0; i < len; i++)
        out[n + i] = ((const uint8_t *)payload)[i] ^ KEY[i & 3];
    return n + len;
}

/* What a stream decodes to: the units in order, or the error's code. */
typedef struct {
    unsigned ops[16];
    char data[16][1024];
    size_t lens[16];
    unsigned close_codes[16];
    int n;
    unsigned error; /* close code of a PL_EPROTO, 0 if none */
    size_t left;    /* bytes not consumed at the end */
} result_t;

/* Feeds stream in pieces (cuts[] are split offsets, ncuts of them) the way
 * ws_conn.c does: a pending buffer keeps what the decoder did not consume
 * and the next piece is appended to it. */
static void feed(const uint8_t *stream, size_t len, const size_t *cuts, size_t ncuts,
                 size_t max_msg, result_t *r)
{
    memset(r, 0, sizeof *r);
    pl_ws_decoder_t d = {0};
    uint8_t *pend = malloc(len + 1);
    size_t plen = 0, pos = 0;
    for (size_t c = 0; c <= ncuts && !r->error; c++) {
        size_t end = c < ncuts ? cuts[c] : len;
        memcpy(pend + plen, stream + pos, end - pos);
        plen += end - pos;
        pos = end;
        while (plen > 0) {
            size_t used = 0;
            pl_ws_msg_t m;
            int rc = pl_ws_decode(&d, pend, plen, max_msg, &used, &m);
            if (rc == PL_EAGAIN) {
                memmove(pend, pend + used, plen - used);
                plen -= used;
                break;
            }
            if (rc < 0) {
                assert_int_equal(PL_EPROTO, rc);
                assert_non_null(m.reason);
                r->error = m.close_code;
                break;
            }
            assert_int_equal(1, rc);
            assert_true(used > 0 && used <= plen);
            assert_true(r->n < 16 && m.len < sizeof r->data[0]);
            r->ops[r->n] = m.opcode;
            memcpy(r->data[r->n], m.data, m.len);
            r->lens[r->n] = m.len;
            r->close_codes[r->n] = m.close_code;
            r->n++;
            memmove(pend, pend + used, plen - used);
            plen -= used;
        }
    }
    r->left = plen;
    pl_ws_decoder_dispose(&d);
    assert_null(d.frag);
    free(pend);
}

static void feed_whole(const uint8_t *stream, size_t len, size_t max_msg, result_t *r)
{
    feed(stream, len, NULL, 0, max_msg, r);
}

static void assert_unit(const result_t *r, int i, unsigned op, const char *data)
{
    assert_true(i < r->n);
    assert_int_equal(op, r->ops[i]);
    assert_int_equal(strlen(data), r->lens[i]);
    assert_memory_equal(data, r->data[i], r->lens[i]);
}

/* Every way to cut the stream in two, and every way to feed it one byte
 * at a time, must decode to the same result as the whole stream. */
static void check_all_splits(const uint8_t *stream, size_t len, size_t max_msg)
{
    result_t whole, part;
    feed_whole(stream, len, max_msg, &whole);
    for (size_t cut = 0; cut <= len; cut++) {
        feed(stream, len, &cut, 1, max_msg, &part);
        assert_int_equal(whole.n, part.n);
        assert_int_equal(whole.error, part.error);
        for (int i = 0; i < whole.n; i++) {
            assert_int_equal(whole.ops[i], part.ops[i]);
            assert_int_equal(whole.lens[i], part.lens[i]);
            assert_memory_equal(whole.data[i], part.data[i], whole.lens[i]);
        }
    }
    size_t *cuts = malloc(len * sizeof *cuts);
    for (size_t i = 0; i < len; i++)
        cuts[i] = i + 1;
    feed(stream, len, cuts, len, max_msg, &part);
    free(cuts);
    assert_int_equal(whole.n, part.n);
    assert_int_equal(whole.error, part.error);
    for (int i = 0; i < whole.n; i++)
        assert_memory_equal(whole.data[i], part.data[i], whole.lens[i]);
}

static void test_single_frames(void **state)
{
    (void)state;
    uint8_t s[512];
    size_t n = 0;
    n += put_frame(s + n, 0x81, "hello", 5);
    n += put_frame(s + n, 0x82, "\x00\x01\x02", 3);
    n += put_frame(s + n, 0x81, "", 0);
    n += put_frame(s + n, 0x89, "png", 3);
    n += put_frame(s + n, 0x8A, "unsolicited", 11);
    n += put_frame(s + n, 0x88,
                   "\x03\xe8"
                   "bye",
                   5);
    result_t r;
    feed_whole(s, n, 1024, &r);
    assert_int_equal(0, r.error);
    assert_int_equal(6, r.n);
    assert_unit(&r, 0, PL_WS_OP_TEXT, "hello");
    assert_int_equal(PL_WS_OP_BINARY, r.ops[1]);
    assert_memory_equal("\x00\x01\x02", r.data[1], 3);
    assert_unit(&r, 2, PL_WS_OP_TEXT, "");
    assert_unit(&r, 3, PL_WS_OP_PING, "png");
    assert_unit(&r, 4, PL_WS_OP_PONG, "unsolicited");
    assert_unit(&r, 5, PL_WS_OP_CLOSE,
                "\x03\xe8"
                "bye");
    assert_int_equal(1000, r.close_codes[5]);
    assert_int_equal(0, r.left);
    check_all_splits(s, n, 1024);
}

static void test_empty_close_is_1005(void **state)
{
    (void)state;
    uint8_t s[16];
    size_t n = put_frame(s, 0x88, "", 0);
    result_t r;
    feed_whole(s, n, 1024, &r);
    assert_int_equal(1, r.n);
    assert_int_equal(PL_WS_OP_CLOSE, r.ops[0]);
    assert_int_equal(1005, r.close_codes[0]);
}

static void test_extended_lengths(void **state)
{
    (void)state;
    /* 126 bytes needs the 16-bit length; 70000 the 64-bit one. */
    static uint8_t s[80000];
    static char big[70000];
    memset(big, 'x', sizeof big);
    size_t n = put_frame(s, 0x82, big, 126);
    pl_ws_decoder_t d = {0};
    size_t used;
    pl_ws_msg_t m;
    assert_int_equal(1, pl_ws_decode(&d, s, n, 1 << 20, &used, &m));
    assert_int_equal(n, used);
    assert_int_equal(126, m.len);
    n = put_frame(s, 0x82, big, sizeof big);
    assert_int_equal(PL_EAGAIN, pl_ws_decode(&d, s, n - 1, 1 << 20, &used, &m));
    assert_int_equal(0, used);
    assert_int_equal(1, pl_ws_decode(&d, s, n, 1 << 20, &used, &m));
    assert_int_equal(sizeof big, m.len);
    assert_memory_equal(big, m.data, sizeof big);
    pl_ws_decoder_dispose(&d);
}

static void test_fragments_and_interleaved_control(void **state)
{
    (void)state;
    uint8_t s[512];
    size_t n = 0;
    n += put_frame(s + n, 0x01, "Hel", 3);
    n += put_frame(s + n, 0x89, "p1", 2); /* ping between fragments */
    n += put_frame(s + n, 0x00, "lo, ", 4);
    n += put_frame(s + n, 0x8A, "", 0);
    n += put_frame(s + n, 0x80, "world", 5);
    n += put_frame(s + n, 0x02, "\x01", 1); /* binary, fragmented */
    n += put_frame(s + n, 0x80, "\x02", 1);
    result_t r;
    feed_whole(s, n, 1024, &r);
    assert_int_equal(0, r.error);
    assert_int_equal(4, r.n);
    assert_unit(&r, 0, PL_WS_OP_PING, "p1");
    assert_unit(&r, 1, PL_WS_OP_PONG, "");
    assert_unit(&r, 2, PL_WS_OP_TEXT, "Hello, world");
    assert_int_equal(PL_WS_OP_BINARY, r.ops[3]);
    assert_int_equal(2, r.lens[3]);
    check_all_splits(s, n, 1024);
}

static void test_reassembly_memory(void **state)
{
    (void)state;
    /* Nothing is held before a fragmented message starts or after it is
     * delivered; only in between. */
    uint8_t s[64];
    pl_ws_decoder_t d = {0};
    size_t used;
    pl_ws_msg_t m;
    size_t n = put_frame(s, 0x81, "whole", 5);
    assert_int_equal(1, pl_ws_decode(&d, s, n, 1024, &used, &m));
    assert_null(d.frag);
    n = put_frame(s, 0x01, "ab", 2);
    assert_int_equal(PL_EAGAIN, pl_ws_decode(&d, s, n, 1024, &used, &m));
    assert_int_equal(n, used);
    assert_true(pl_ws_decoder_busy(&d));
    n = put_frame(s, 0x80, "c", 1);
    assert_int_equal(1, pl_ws_decode(&d, s, n, 1024, &used, &m));
    assert_int_equal(3, m.len);
    assert_memory_equal("abc", m.data, 3);
    assert_false(pl_ws_decoder_busy(&d));
    /* The delivered buffer goes at the next call, even an empty one. */
    assert_int_equal(PL_EAGAIN, pl_ws_decode(&d, s, 0, 1024, &used, &m));
    assert_null(d.frag);
}

static void expect_error(const uint8_t *s, size_t n, size_t max_msg, unsigned code)
{
    result_t r;
    feed_whole(s, n, max_msg, &r);
    assert_int_equal(code, r.error);
    /* Same verdict however the bytes arrive. */
    check_all_splits(s, n, max_msg);
}

static void test_protocol_errors(void **state)
{
    (void)state;
    uint8_t s[512];
    size_t n;
    /* Unmasked client frame. */
    const uint8_t unmasked[] = {0x81, 0x02, 'h', 'i'};
    expect_error(unmasked, sizeof unmasked, 1024, 1002);
    /* RSV1, RSV2, RSV3. */
    for (unsigned rsv = 0x10; rsv <= 0x40; rsv <<= 1) {
        n = put_frame(s, (uint8_t)(0x81 | rsv), "x", 1);
        expect_error(s, n, 1024, 1002);
    }
    /* Reserved opcodes, data (3-7) and control (B-F). */
    for (unsigned op = 3; op <= 0xF; op++) {
        if (op >= 8 && op <= 0xA)
            continue;
        n = put_frame(s, (uint8_t)(0x80 | op), "", 0);
        expect_error(s, n, 1024, 1002);
    }
    /* Control frame over 125 bytes, and a fragmented control frame. */
    char big[126];
    memset(big, 'p', sizeof big);
    n = put_frame(s, 0x89, big, sizeof big);
    expect_error(s, n, 1024, 1002);
    n = put_frame(s, 0x09, "x", 1);
    expect_error(s, n, 1024, 1002);
    /* Continuation without a start; a new start inside a message. */
    n = put_frame(s, 0x80, "x", 1);
    expect_error(s, n, 1024, 1002);
    n = put_frame(s, 0x01, "a", 1);
    n += put_frame(s + n, 0x81, "b", 1);
    expect_error(s, n, 1024, 1002);
    n = put_frame(s, 0x01, "a", 1);
    n += put_frame(s + n, 0x02, "b", 1);
    expect_error(s, n, 1024, 1002);
    /* 64-bit length with the most significant bit set. */
    const uint8_t msb[] = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
    expect_error(msb, sizeof msb, 1024, 1002);
    /* Bad close payloads. */
    n = put_frame(s, 0x88, "\x03", 1);
    expect_error(s, n, 1024, 1002);
    n = put_frame(s, 0x88, "\x03\xed", 2); /* 1005 may not be sent */
    expect_error(s, n, 1024, 1002);
    n = put_frame(s, 0x88, "\x03\xe8\xff", 3);
    expect_error(s, n, 1024, 1007);
}

static void test_utf8(void **state)
{
    (void)state;
    uint8_t s[512];
    size_t n = put_frame(s, 0x81, "\xce\xba\xff", 3);
    expect_error(s, n, 1024, 1007);
    /* Split inside sequences: valid once reassembled. */
    const char *k = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
    n = put_frame(s, 0x01, k, 1);
    n += put_frame(s + n, 0x00, k + 1, 3);
    n += put_frame(s + n, 0x00, k + 4, 5);
    n += put_frame(s + n, 0x80, k + 9, 2);
    result_t r;
    feed_whole(s, n, 1024, &r);
    assert_int_equal(0, r.error);
    assert_unit(&r, 0, PL_WS_OP_TEXT, k);
    check_all_splits(s, n, 1024);
    /* Fail fast: an invalid sequence in the first fragment is refused
     * before the message ends. */
    n = put_frame(s, 0x01, "ok\xc0\xaf", 4);
    pl_ws_decoder_t d = {0};
    size_t used;
    pl_ws_msg_t m;
    assert_int_equal(PL_EPROTO, pl_ws_decode(&d, s, n, 1024, &used, &m));
    assert_int_equal(1007, m.close_code);
    pl_ws_decoder_dispose(&d);
    /* Truncated at FIN; lone lead byte followed by ASCII. */
    n = put_frame(s, 0x01, "ok", 2);
    n += put_frame(s + n, 0x80, "\xe2\x82", 2);
    expect_error(s, n, 1024, 1007);
    n = put_frame(s, 0x01, "ok\xce", 3);
    n += put_frame(s + n, 0x80, "x", 1);
    expect_error(s, n, 1024, 1007);
    /* Binary is not checked. */
    n = put_frame(s, 0x82, "\xff", 1);
    feed_whole(s, n, 1024, &r);
    assert_int_equal(0, r.error);
    assert_int_equal(1, r.n);
}

static void test_max_message(void **state)
{
    (void)state;
    static uint8_t s[4096];
    char p[600];
    memset(p, 'a', sizeof p);
    /* One frame over the cap: refused on its header alone. */
    size_t n = put_frame(s, 0x81, p, 513);
    pl_ws_decoder_t d = {0};
    size_t used;
    pl_ws_msg_t m;
    assert_int_equal(PL_EPROTO, pl_ws_decode(&d, s, 8, 512, &used, &m));
    assert_int_equal(1009, m.close_code);
    expect_error(s, n, 512, 1009);
    /* Over only after reassembly. */
    n = put_frame(s, 0x01, p, 300);
    n += put_frame(s + n, 0x80, p, 213);
    expect_error(s, n, 512, 1009);
    /* Exactly at the cap. */
    n = put_frame(s, 0x01, p, 300);
    n += put_frame(s + n, 0x80, p, 212);
    result_t r;
    feed_whole(s, n, 512, &r);
    assert_int_equal(0, r.error);
    assert_int_equal(1, r.n);
    assert_int_equal(512, r.lens[0]);
    /* A 64-bit length the cap can never allow. */
    const uint8_t huge[] = {0x82, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4};
    expect_error(huge, sizeof huge, 512, 1009);
}

static void test_unmask(void **state)
{
    (void)state;
    /* The word-at-a-time path and the tail agree with the definition. */
    uint8_t buf[37], want[37];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = want[i] = (uint8_t)(i * 7);
    for (size_t i = 0; i < sizeof want; i++)
        want[i] ^= KEY[i & 3];
    pl_ws_unmask(buf, sizeof buf, KEY);
    assert_memory_equal(want, buf, sizeof buf);
}

static void test_client_side(void **state)
{
    (void)state;
    /* libparley's direction: server frames are unmasked, a masked one is
     * a protocol error. */
    uint8_t s[32] = {0x81, 0x02, 'o', 'k'};
    pl_ws_decoder_t d = {0};
    size_t used;
    pl_ws_msg_t m;
    assert_int_equal(1, pl_ws_decode_client(&d, s, 4, 1024, &used, &m));
    assert_int_equal(4, used);
    assert_int_equal(PL_WS_OP_TEXT, m.opcode);
    assert_memory_equal("ok", m.data, 2);
    size_t n = put_frame(s, 0x81, "ok", 2);
    assert_int_equal(PL_EPROTO, pl_ws_decode_client(&d, s, n, 1024, &used, &m));
    assert_int_equal(1002, m.close_code);
    pl_ws_decoder_dispose(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_frames),
        cmocka_unit_test(test_empty_close_is_1005),
        cmocka_unit_test(test_extended_lengths),
        cmocka_unit_test(test_fragments_and_interleaved_control),
        cmocka_unit_test(test_reassembly_memory),
        cmocka_unit_test(test_protocol_errors),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_max_message),
        cmocka_unit_test(test_unmask),
        cmocka_unit_test(test_client_side),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
