/* SPDX-License-Identifier: MIT */
/* ws_handshake.c -- RFC 6455 opening-handshake key checks. No I/O. */
#include "ws/ws.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "core/err.h"

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static bool is_b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

bool pl_ws_key_valid(const char *key, size_t len)
{
    /* 16 bytes encode to 22 significant characters plus "==" padding. */
    if (len != 24 || key[22] != '=' || key[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++)
        if (!is_b64(key[i]))
            return false;
    /* The last significant character carries 2 bits; the other 4 must be 0. */
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *pos = strchr(b64, key[21]);
    return pos != NULL && ((pos - b64) & 0x0F) == 0;
}

int pl_ws_accept_key(const char *key, size_t len, char out[PL_WS_ACCEPT_LEN + 1])
{
    unsigned char in[256 + sizeof ws_guid];
    unsigned char md[SHA_DIGEST_LENGTH];
    if (len > 256)
        return PL_EINVAL;
    memcpy(in, key, len);
    memcpy(in + len, ws_guid, sizeof ws_guid - 1);
    SHA1(in, len + sizeof ws_guid - 1, md);
    /* EVP_EncodeBlock writes 28 characters and a NUL for 20 bytes. */
    EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
    out[PL_WS_ACCEPT_LEN] = '\0';
    return 0;
}
