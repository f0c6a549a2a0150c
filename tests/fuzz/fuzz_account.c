/* SPDX-License-Identifier: MIT */
/* fuzz_account.c -- libFuzzer target for the account input parsers of
 * src/auth (pure, no I/O): TOTP codes (pl_totp_parse, pl_totp_verify),
 * recovery codes (pl_recovery_code_hash), the common-password list
 * (pl_pwlist_parse) and the weak-password check.
 * Input: byte 0 splits the rest into a list text and a typed string. */
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/password_policy.h"
#include "auth/totp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (sodium_init() < 0 || pl_totp_global_init() < 0)
            abort();
        ready = 1;
    }
    if (size < 1)
        return 0;
    size_t n = size - 1, a = data[0] % size;
    if (a > n)
        a = n;
    const char *rest = (const char *)data + 1;
    char *typed = malloc(n - a + 1);
    memcpy(typed, rest + a, n - a);
    typed[n - a] = '\0';
    static const uint8_t secret[20] = "12345678901234567890";
    char code[8];
    int64_t step = 0;
    if (pl_totp_parse(typed, code) && strlen(code) != 6)
        abort();
    (void)pl_totp_verify(secret, sizeof secret, typed, 1111111111, 0, &step);
    uint8_t salt[PL_RECOVERY_SALT_BYTES] = {0}, h[32];
    (void)pl_recovery_code_hash(typed, salt, h);
    pl_pwlist_t *l = pl_pwlist_parse(rest, a);
    (void)pl_password_check(l, "user", typed);
    pl_pwlist_free(l);
    free(typed);
    return 0;
}
