/* SPDX-License-Identifier: MIT */
/* hook_sign.c -- outgoing webhook signatures (issue 16). No I/O. */
#include "hooks/hook_sign.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static void mac(const uint8_t *key, size_t klen, int64_t ts, const char *body, size_t len,
                uint8_t out[crypto_auth_hmacsha256_BYTES])
{
    crypto_auth_hmacsha256_state st;
    char pre[32];
    int n = snprintf(pre, sizeof pre, "%lld.", (long long)ts);
    crypto_auth_hmacsha256_init(&st, key, klen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)pre, (unsigned long long)n);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, (unsigned long long)len);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

void pl_hook_sign(const uint8_t *key, size_t klen, int64_t ts, const char *body, size_t len,
                  char out[PL_HOOK_SIG_LEN + 1])
{
    uint8_t h[crypto_auth_hmacsha256_BYTES];
    mac(key, klen, ts, body, len, h);
    memcpy(out, "v1=", 3);
    sodium_bin2hex(out + 3, PL_HOOK_SIG_LEN + 1 - 3, h, sizeof h);
}

/* A decimal timestamp: 1..12 digits, nothing else. */
static bool parse_ts(const char *s, int64_t *out)
{
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n > 12 || s[n] != '\0')
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    *out = v;
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

pl_hook_sig_err_t pl_hook_verify(const uint8_t *key, size_t klen, const char *ts_header,
                                 const char *sig_header, const char *body, size_t len,
                                 int64_t now_s, int64_t tolerance_s)
{
    int64_t ts;
    if (ts_header == NULL || sig_header == NULL || !parse_ts(ts_header, &ts) ||
        strlen(sig_header) > PL_HOOK_SIG_HEADER_MAX)
        return PL_HOOK_SIG_BAD_HEADER;
    /* Entries "v1=<64 hex>" separated by commas (spaces allowed around
     * them); entries of other versions are skipped; at least one v1. */
    uint8_t want[crypto_auth_hmacsha256_BYTES];
    bool any = false, match = false;
    const char *p = sig_header;
    while (*p != '\0') {
        p += strspn(p, " ");
        size_t n = strcspn(p, ",");
        size_t e = n;
        while (e > 0 && p[e - 1] == ' ')
            e--;
        if (e >= 3 && !memcmp(p, "v1=", 3)) {
            if (e != PL_HOOK_SIG_LEN)
                return PL_HOOK_SIG_BAD_HEADER;
            uint8_t got[crypto_auth_hmacsha256_BYTES];
            for (size_t i = 0; i < sizeof got; i++) {
                int hi = hexval(p[3 + 2 * i]), lo = hexval(p[4 + 2 * i]);
                if (hi < 0 || lo < 0)
                    return PL_HOOK_SIG_BAD_HEADER;
                got[i] = (uint8_t)(hi << 4 | lo);
            }
            if (!any)
                mac(key, klen, ts, body, len, want);
            any = true;
            match |= sodium_memcmp(got, want, sizeof want) == 0;
        } else if (e == 0) {
            return PL_HOOK_SIG_BAD_HEADER;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    if (!any)
        return PL_HOOK_SIG_BAD_HEADER;
    /* The clock check after the parse: a malformed header is reported as
     * such whatever its time. */
    if (ts > now_s + tolerance_s || ts < now_s - tolerance_s)
        return PL_HOOK_SIG_STALE;
    return match ? PL_HOOK_SIG_OK : PL_HOOK_SIG_MISMATCH;
}
