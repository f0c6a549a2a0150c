/* SPDX-License-Identifier: MIT */
/* fuzz_addr.c -- libFuzzer target for core/addr.c: address and CIDR-list
 * parsing and X-Forwarded-For resolution (pure, no I/O).
 * Input: byte 0 splits the rest into a trusted-proxy list and a header. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t split = data[0] % size;
    const char *rest = (const char *)data + 1;
    size_t n = size - 1, a = split < n ? split : n;
    char *list = malloc(a + 1), *xff = malloc(n - a + 1);
    memcpy(list, rest, a);
    list[a] = '\0';
    memcpy(xff, rest + a, n - a);
    xff[n - a] = '\0';
    pl_addr_t addr, out;
    char text[PL_ADDR_TEXT];
    if (pl_addr_parse(rest, n, &addr) && !pl_addr_unknown(&addr)) {
        /* What parses must format and parse back to the same bytes. */
        pl_addr_format(&addr, text);
        pl_addr_t back;
        if (!pl_addr_parse(text, strlen(text), &back) || memcmp(&back, &addr, sizeof addr) != 0)
            abort();
    }
    pl_cidr_list_t l;
    if (pl_cidr_list_parse(list, &l, text, sizeof text) == 0) {
        pl_addr_t peer = {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 127, 0, 0, 1}};
        (void)pl_addr_client(&peer, xff, &l, &out);
        (void)pl_cidr_list_match(&l, &out);
        pl_cidr_list_dispose(&l);
    }
    free(list);
    free(xff);
    return 0;
}
