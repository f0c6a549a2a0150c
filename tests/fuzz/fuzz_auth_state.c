/* SPDX-License-Identifier: MIT */
/* fuzz_auth_state.c -- libFuzzer target for what comes back from Redis for
 * the shared login state: the MFA ticket record (pl_mfa_ticket_info_decode,
 * from the raw input) and the replies to the auth state scripts (the input
 * as RESP, read by hiredis' reader, given to every pl_cauth__decode_*). */
#include <hiredis/hiredis.h>
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/mfa_ticket.h"
#include "cluster/auth_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* As fuzz_cluster_state.c: hiredis 0.14 callocs a declared array's count
 * before reading it; such inputs are skipped. */
static int huge_aggregate(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        if (data[i] != '*')
            continue;
        uint64_t n = 0;
        for (size_t j = i + 1; j < size && data[j] >= '0' && data[j] <= '9'; j++)
            if ((n = n * 10 + (uint64_t)(data[j] - '0')) > 4096)
                return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pl_mfa_ticket_info_t info;
    if (pl_mfa_ticket_info_decode((const char *)data, size, &info)) {
        /* What decodes must encode back to the same bytes. */
        char text[PL_MFA_TICKET_INFO_TEXT + 1];
        size_t n = pl_mfa_ticket_info_encode(&info, text);
        if (info.user_id <= 0 || strlen(info.username) == 0 ||
            strlen(info.username) > PL_USERNAME_MAX || strlen(info.device_name) > 64)
            abort();
        pl_mfa_ticket_info_t again;
        if (!pl_mfa_ticket_info_decode(text, n, &again) || again.user_id != info.user_id ||
            strcmp(again.username, info.username) != 0 ||
            strcmp(again.device_name, info.device_name) != 0)
            abort();
    }
    if (huge_aggregate(data, size))
        return 0;
    redisReader *rd = redisReaderCreate();
    if (rd == NULL)
        return 0;
    redisReaderFeed(rd, (const char *)data, size);
    void *r = NULL;
    while (redisReaderGetReply(rd, &r) == REDIS_OK && r != NULL) {
        const char *v = NULL;
        size_t len = 0;
        if (pl_cauth__decode_str(r, &v, &len) == 0 && (v == NULL || len > PL_CAUTH_VALUE_MAX))
            abort();
        int64_t one = 0, vals[3];
        (void)pl_cauth__decode_int(r, &one);
        for (size_t n = 1; n <= 3; n++)
            if (pl_cauth__decode_ints(r, n, vals) == 0)
                for (size_t i = 0; i < n; i++)
                    if (vals[i] < 0)
                        abort();
        freeReplyObject(r);
        r = NULL;
    }
    redisReaderFree(rd);
    return 0;
}
