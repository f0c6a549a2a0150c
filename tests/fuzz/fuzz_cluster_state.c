/* SPDX-License-Identifier: MIT */
/* fuzz_cluster_state.c -- libFuzzer target for the decoders of Redis
 * replies to the shared-state scripts (src/cluster/state.c). Input: RESP
 * bytes, read by hiredis' own reader into a reply tree (what a hostile or
 * broken Redis could answer), then given to every decoder. */
#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cluster/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Debian's hiredis 0.14 reader callocs an array's declared element count
 * before any element arrives ("*277777777" asks for 2 GB): Redis is a
 * trusted peer there, so inputs declaring an aggregate of more than 4096
 * elements anywhere are skipped rather than reported as out-of-memory. */
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
    if (huge_aggregate(data, size))
        return 0;
    redisReader *rd = redisReaderCreate();
    if (rd == NULL)
        return 0;
    redisReaderFeed(rd, (const char *)data, size);
    void *r = NULL;
    while (redisReaderGetReply(rd, &r) == REDIS_OK && r != NULL) {
        pl_cstate_pres_t *c = NULL;
        for (size_t first = 0; first < 3; first++) {
            int n = pl_cstate__decode_changes(r, first, &c);
            for (int i = 0; i < n; i++)
                if (c[i].user <= 0 || c[i].status < 0 || c[i].status > 2)
                    abort();
            free(c);
        }
        const redisReply *rr = r;
        size_t n = rr->type == REDIS_REPLY_ARRAY ? rr->elements : 1;
        if (n <= 4096) {
            int *st = malloc((n + 1) * sizeof *st);
            double *tk = malloc((n + 1) * sizeof *tk);
            if (pl_cstate__decode_status(r, n, st) == 0)
                for (size_t i = 0; i < n; i++)
                    if (st[i] < 0 || st[i] > 2)
                        abort();
            (void)pl_cstate__decode_tokens(r, n, tk);
            free(st);
            free(tk);
        }
        freeReplyObject(r);
        r = NULL;
    }
    redisReaderFree(rd);
    return 0;
}
