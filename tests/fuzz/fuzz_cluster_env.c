/* SPDX-License-Identifier: MIT */
/* fuzz_cluster_env.c -- libFuzzer target for src/cluster/envelope.c, the
 * cluster bus's message format (pure). Input: one bus message. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/envelope.h"
#include "core/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly size bytes, so ASan catches any read past it. */
    char *p = malloc(size ? size : 1);
    memcpy(p, data, size);
    pl_env_t e;
    if (pl_env_parse(p, size, &e) == 0) {
        /* What parses formats back to the same bytes. */
        char node[PL_ENV_NODE_MAX + 1];
        memcpy(node, e.node, e.node_len);
        node[e.node_len] = '\0';
        pl_buf_t b;
        pl_buf_init(&b);
        pl_env_format(&b, node, e.kind, e.a, e.b, e.c, e.d, e.payload, e.payload_len);
        if (b.len != size || memcmp(pl_buf_head(&b), p, size) != 0) {
            /* Leading zeros ("007") parse but format shorter: allowed. */
            pl_env_t e2;
            if (pl_env_parse(pl_buf_head(&b), b.len, &e2) != 0 || e2.a != e.a || e2.b != e.b ||
                e2.c != e.c || e2.d != e.d || e2.payload_len != e.payload_len)
                abort();
        }
        pl_buf_dispose(&b);
    }
    free(p);
    return 0;
}
