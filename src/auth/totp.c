/* SPDX-License-Identifier: MIT */
/* totp.c -- TOTP over liboath, recovery codes, otpauth URI and its QR code
 * (see totp.h). */
#include "auth/totp.h"

#include <ctype.h>
#include <liboath/oath.h>
#include <qrencode.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/util.h"

int pl_totp_global_init(void)
{
    static bool done;
    if (done)
        return 0;
    if (oath_init() != OATH_OK)
        return PL_EIO;
    done = true;
    return 0;
}

void pl_totp_secret_new(uint8_t secret[PL_TOTP_SECRET_BYTES])
{
    randombytes_buf(secret, PL_TOTP_SECRET_BYTES);
}

int pl_totp_base32(const uint8_t *secret, size_t len, char *out)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    if (len > 25)
        return PL_EINVAL;
    /* liboath's oath_base32_encode pads with '='; otpauth URIs and people
     * read the unpadded form, so this is the five-bit walk of RFC 4648 6. */
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | secret[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = alpha[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[o++] = alpha[(acc << (5 - bits)) & 31];
    out[o] = '\0';
    return 0;
}

int64_t pl_totp_step(int64_t t)
{
    return t / PL_TOTP_STEP_S;
}

int pl_totp_code(const uint8_t *secret, size_t len, int64_t now_s, unsigned digits, char *out)
{
    if (digits < 6 || digits > 8 || now_s < 0)
        return PL_EINVAL;
    int rc = oath_totp_generate2((const char *)secret, len, (time_t)now_s, PL_TOTP_STEP_S, 0,
                                 digits, 0 /* HMAC-SHA-1 */, out);
    return rc == OATH_OK ? 0 : PL_EINVAL;
}

bool pl_totp_parse(const char *in, char out[PL_TOTP_DIGITS + 1])
{
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        if (*p == ' ' || *p == '\t')
            continue;
        if (!isdigit((unsigned char)*p) || n == PL_TOTP_DIGITS)
            return false;
        out[n++] = *p;
    }
    if (n != PL_TOTP_DIGITS)
        return false;
    out[n] = '\0';
    return true;
}

bool pl_totp_verify(const uint8_t *secret, size_t len, const char *code, int64_t now_s,
                    int64_t last_step, int64_t *step)
{
    char want[PL_TOTP_DIGITS + 1], got[9];
    if (!pl_totp_parse(code, want) || now_s < PL_TOTP_STEP_S * PL_TOTP_WINDOW)
        return false;
    int64_t now_step = pl_totp_step(now_s), found = 0;
    /* Every step of the window is computed and compared, so the time taken
     * does not say which one matched. */
    for (int64_t s = now_step - PL_TOTP_WINDOW; s <= now_step + PL_TOTP_WINDOW; s++) {
        if (pl_totp_code(secret, len, s * PL_TOTP_STEP_S, PL_TOTP_DIGITS, got) < 0)
            continue;
        bool match = sodium_memcmp(got, want, PL_TOTP_DIGITS) == 0;
        if (match && s > last_step && found == 0)
            found = s;
    }
    sodium_memzero(got, sizeof got);
    if (found == 0)
        return false;
    *step = found;
    return true;
}

/* RFC 3986 unreserved characters stay, everything else is %XX. */
static void put_pct(pl_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            pl_buf_append(b, (const char *)p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            pl_buf_append(b, e, 3);
        }
    }
}

static char *buf_take_str(pl_buf_t *b)
{
    pl_buf_append(b, "", 1);
    char *s = pl_xmalloc(b->len);
    memcpy(s, pl_buf_head(b), b->len);
    pl_buf_dispose(b);
    return s;
}

char *pl_totp_uri(const char *issuer, const char *account, const char *secret_b32)
{
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_lit(&b, "otpauth://totp/");
    put_pct(&b, issuer);
    pl_buf_append(&b, ":", 1);
    put_pct(&b, account);
    pl_buf_printf(&b, "?secret=%s&issuer=", secret_b32);
    put_pct(&b, issuer);
    pl_buf_printf(&b, "&algorithm=SHA1&digits=%d&period=%d", PL_TOTP_DIGITS, PL_TOTP_STEP_S);
    return buf_take_str(&b);
}

char *pl_qr_svg(const char *text)
{
    QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (qr == NULL)
        return NULL;
    int w = qr->width, q = 4, size = w + 2 * q;
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_printf(&b,
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
                  "shape-rendering=\"crispEdges\"><rect width=\"%d\" height=\"%d\" "
                  "fill=\"#fff\"/><path fill=\"#000\" d=\"",
                  size, size, size, size);
    /* One rectangle per horizontal run of dark modules (bit 0 of a module). */
    for (int y = 0; y < w; y++) {
        for (int x = 0; x < w;) {
            if (!(qr->data[y * w + x] & 1)) {
                x++;
                continue;
            }
            int run = 1;
            while (x + run < w && (qr->data[y * w + x + run] & 1))
                run++;
            pl_buf_printf(&b, "M%d %dh%dv1h-%dz", x + q, y + q, run, run);
            x += run;
        }
    }
    pl_buf_lit(&b, "\"/></svg>");
    QRcode_free(qr);
    return buf_take_str(&b);
}

#define SEALED_LEN                                                                                 \
    (1 + crypto_secretbox_NONCEBYTES + PL_TOTP_SECRET_BYTES + crypto_secretbox_MACBYTES)

size_t pl_totp_seal(const uint8_t *key, const uint8_t *secret, size_t len,
                    uint8_t out[PL_TOTP_STORED_MAX])
{
    if (len > 32)
        return 0;
    if (key == NULL) {
        memcpy(out, secret, len);
        return len;
    }
    size_t n = 1 + crypto_secretbox_NONCEBYTES + len + crypto_secretbox_MACBYTES;
    if (n > PL_TOTP_STORED_MAX)
        return 0;
    out[0] = 'S';
    randombytes_buf(out + 1, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(out + 1 + crypto_secretbox_NONCEBYTES, secret, len, out + 1, key);
    return n;
}

size_t pl_totp_open(const uint8_t *key, const uint8_t *stored, size_t len, uint8_t out[32])
{
    if (len == SEALED_LEN && stored[0] == 'S') {
        size_t clen = len - 1 - crypto_secretbox_NONCEBYTES;
        if (key == NULL || crypto_secretbox_open_easy(out, stored + 1 + crypto_secretbox_NONCEBYTES,
                                                      clen, stored + 1, key) != 0)
            return 0;
        return clen - crypto_secretbox_MACBYTES;
    }
    if (len == 0 || len > 32)
        return 0;
    memcpy(out, stored, len);
    return len;
}

static const char b32_lower[] = "abcdefghijklmnopqrstuvwxyz234567";

void pl_recovery_code_new(char out[PL_RECOVERY_CODE_TEXT])
{
    size_t o = 0;
    for (int i = 0; i < 12; i++) {
        if (i == 4 || i == 8)
            out[o++] = '-';
        out[o++] = b32_lower[randombytes_uniform(32)];
    }
    out[o] = '\0';
}

bool pl_recovery_code_hash(const char *code, const uint8_t salt[PL_RECOVERY_SALT_BYTES],
                           uint8_t out[32])
{
    char norm[12];
    size_t n = 0;
    for (const char *p = code; *p; p++) {
        if (*p == '-' || *p == ' ' || *p == '\t')
            continue;
        char c = (char)tolower((unsigned char)*p);
        if (n == sizeof norm || c == '\0' || strchr(b32_lower, c) == NULL)
            return false;
        norm[n++] = c;
    }
    if (n != sizeof norm)
        return false;
    crypto_generichash(out, 32, (const unsigned char *)norm, n, salt, PL_RECOVERY_SALT_BYTES);
    sodium_memzero(norm, sizeof norm);
    return true;
}
