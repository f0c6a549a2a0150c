/* SPDX-License-Identifier: MIT */
/* fuzz_http_range.c -- libFuzzer target for http/http_range.c (the Range
 * header of media downloads). Pure, no I/O.
 * Input: bytes 0-7 the representation size (little endian; the top bits
 * masked so sizes near UINT64_MAX are reached too), the rest the header
 * value. Checks the contract: a satisfiable range lies inside the size and is
 * not empty. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_range.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint64_t total = 0;
    for (int i = 7; i >= 0; i--)
        total = total << 8 | data[i];
    if (data[7] & 0x80) /* half the inputs: a small size, where ranges fit */
        total &= 0xffff;
    char *v = malloc(size - 7);
    memcpy(v, data + 8, size - 8);
    v[size - 8] = '\0';
    uint64_t start = 7, len = 7;
    int rc = pl_http_range_parse(v, total, &start, &len);
    if (rc == 1 && (len == 0 || start >= total || len > total - start))
        abort();
    if (rc != 1 && (start != 7 || len != 7)) /* written only on success */
        abort();
    if (rc < -1 || rc > 1)
        abort();
    free(v);
    return 0;
}
