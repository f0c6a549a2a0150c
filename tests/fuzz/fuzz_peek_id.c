/* SPDX-License-Identifier: MIT */
/* fuzz_peek_id.c -- libFuzzer target for pl_wire_peek_id, which reads
 * request frames before auth and before the JSON parser: it must stay
 * inside the input, and an id it returns must be a JSON integer or string
 * (it is echoed verbatim into the server's answer). Also pl_wire_peek_receipt,
 * which reads other nodes' receipt events on the cluster bus: inside the
 * input, and what it accepts has non-negative numbers. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "chat/wire_peek.h"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The server only sees valid UTF-8 (the WebSocket layer checks it). */
    if (!pl_utf8_valid((const char *)data, size))
        return 0;
    /* An exact-size copy, so ASan catches any read past the end. */
    char *p = malloc(size ? size : 1);
    if (p == NULL)
        return 0;
    for (size_t i = 0; i < size; i++)
        p[i] = (char)data[i];
    const char *id;
    size_t len;
    if (pl_wire_peek_id(p, size, &id, &len)) {
        if (id < p || id + len > p + size || len == 0)
            abort();
        json_t *j = json_loadb(id, len, JSON_DECODE_ANY, NULL);
        if (j == NULL || !(json_is_integer(j) || json_is_string(j)))
            abort();
        json_decref(j);
    }
    int64_t room, user, rd, dl;
    if (pl_wire_peek_receipt(p, size, &room, &user, &rd, &dl) &&
        (room < 0 || user < 0 || rd < -1 || dl < 0))
        abort();
    free(p);
    return 0;
}
