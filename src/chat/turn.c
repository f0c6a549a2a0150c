/* SPDX-License-Identifier: MIT */
/* turn.c -- TURN REST API credentials (issue 19). No I/O. */
#include "chat/turn.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"

int pl_turn_credentials(const char *secret, int64_t user, int64_t expiry_s,
                        char username[PL_TURN_USERNAME_MAX],
                        char credential[PL_TURN_CREDENTIAL_MAX])
{
    if (secret == NULL || secret[0] == '\0')
        return PL_EINVAL;
    int n = snprintf(username, PL_TURN_USERNAME_MAX, "%" PRId64 ":u%" PRId64, expiry_s, user);
    if (n < 0 || n >= PL_TURN_USERNAME_MAX)
        return PL_EINVAL;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (HMAC(EVP_sha1(), secret, (int)strlen(secret), (const unsigned char *)username, (size_t)n,
             mac, &maclen) == NULL ||
        maclen != 20)
        return PL_EINVAL;
    /* RFC 4648 base64 with padding, as coturn compares it. */
    sodium_bin2base64(credential, PL_TURN_CREDENTIAL_MAX, mac, maclen,
                      sodium_base64_VARIANT_ORIGINAL);
    return 0;
}
