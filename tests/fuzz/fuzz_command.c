/* SPDX-License-Identifier: MIT */
/* fuzz_command.c -- libFuzzer target for the command layer
 * (chat/command.c): one input is one WebSocket request text. The parser
 * must stay inside the input, never crash or leak, always give a documented
 * error code when it refuses, and always leave an id to answer with.
 * Seeds: corpus/fuzz_command/. By hand, from the top of the tree:
 *   clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
 *     -Isrc -Ibuild/gen tests/fuzz/fuzz_command.c src/chat/command.c \
 *     src/chat/content.c src/chat/call_cmd.c src/chat/emoji.c src/chat/wire_peek.c \
 *     src/auth/auth.c src/push/push_sub.c src/push/push_crypto.c \
 *     src/core/{buf,util,log,err,config,addr}.c -ljansson -lsodium -luv -lcrypto */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat/command.h"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const codes[] = {"bad_json", "bad_request", "unknown_op", "too_large",
                                    "internal"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pl_config_t cfg;
    static int ready;
    if (!ready) {
        pl_config_init(&cfg);
        ready = 1;
    }
    /* The server only sees valid UTF-8 (the WebSocket layer checks it). */
    if (!pl_utf8_valid((const char *)data, size))
        return 0;
    /* An exact-size copy, so ASan catches any read past the end. */
    char *p = malloc(size ? size : 1);
    if (p == NULL)
        return 0;
    memcpy(p, data, size);
    pl_cmd_t c;
    pl_cmd_err_t e;
    int rc = pl_cmd_parse(p, size, &cfg, &c, &e);
    if (rc == 0) {
        if ((unsigned)c.op >= PL_OP__COUNT || c.root == NULL)
            abort();
    } else {
        int known = 0;
        for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
            known |= e.code != NULL && strcmp(e.code, codes[i]) == 0;
        if (!known || e.msg[0] == '\0')
            abort();
        /* Not parsed: the id text is "null" or a range of the input. */
        if (c.root == NULL && c.re_len == 0)
            abort();
        if (c.root == NULL && strncmp(c.re, "null", 4) != 0 &&
            (c.re < p || c.re + c.re_len > p + size))
            abort();
    }
    if (c.id != NULL && !json_is_integer(c.id) && !json_is_string(c.id))
        abort();
    pl_cmd_dispose(&c);
    free(p);
    return 0;
}
