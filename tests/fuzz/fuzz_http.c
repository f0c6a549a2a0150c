/* SPDX-License-Identifier: MIT */
/* fuzz_http.c -- libFuzzer target for the HTTP request reader
 * (src/http/http_parse.c over http-parser). The first byte picks the feed
 * chunk size so splits at every position are explored; requests are taken
 * and inspected the way the connection code does. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/err.h"
#include "http/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] % 64 + 1;
    data++, size--;
    pl_http_parse_t hp;
    pl_http_parse_init(&hp, 2048, 4096);
    size_t off = 0;
    while (off < size) {
        size_t n = size - off < step ? size - off : step;
        size_t used = 0;
        int rc = pl_http_parse_feed(&hp, (const char *)data + off, n, &used);
        if (rc < 0)
            break;
        off += used;
        if (rc == 1) {
            pl_http_msg_t *m = pl_http_parse_take(&hp);
            /* Touch everything a handler would. */
            volatile size_t sink = strlen(m->path) + strlen(m->query) + m->body.len;
            for (size_t i = 0; i < m->nheaders; i++)
                sink += strlen(m->headers[i].name) + strlen(m->headers[i].value);
            const char *conn = pl_http_msg_header(m, "Connection");
            if (conn)
                sink += pl_http_token_list_has(conn, "upgrade");
            (void)sink;
            bool upgrade = m->upgrade;
            pl_http_msg_free(m);
            if (upgrade)
                break; /* the rest would be WebSocket bytes */
        }
    }
    pl_http_parse_dispose(&hp);
    return 0;
}
