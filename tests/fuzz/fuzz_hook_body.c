/* SPDX-License-Identifier: MIT */
/* fuzz_hook_body.c -- src/hooks/hook_body.c (issue 16): an incoming
 * webhook's body and its secret path, both straight from the network. The
 * first input byte picks the parser. Checks: an accepted body gives a
 * content that is a JSON object of type text whose `via` names the webhook
 * and fits max_content; an accepted path has a positive id and a secret of
 * the exact length; a refused input writes nothing. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hooks/hook_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *str(json_t *v)
{
    return json_is_string(v) ? json_string_value(v) : "";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1) {
        char *path = malloc(size);
        memcpy(path, data + 1, size - 1);
        path[size - 1] = '\0';
        int64_t id = -1;
        char secret[PL_HOOK_SECRET_LEN + 1] = "unchanged";
        if (pl_hook_path_parse(path, &id, secret) == PL_HOOK_OK) {
            if (id <= 0 || strlen(secret) != PL_HOOK_SECRET_LEN)
                abort();
        } else if (id != -1 || strcmp(secret, "unchanged") != 0) {
            abort();
        }
        free(path);
        return 0;
    }
    pl_hook_ident_t who = {7, "CI", "https://ci.example/i.png"};
    char *content = NULL, err[256];
    size_t max = 1 + (data[0] >> 1) * 64;
    pl_hook_err_t rc =
        pl_hook_body_parse((const char *)data + 1, size - 1, &who, max, &content, err, sizeof err);
    if (rc != PL_HOOK_OK) {
        if (content != NULL || strlen(err) == 0)
            abort();
        return 0;
    }
    if (content == NULL || strlen(content) > max)
        abort();
    json_t *c = json_loads(content, 0, NULL);
    if (!json_is_object(c) || strcmp(str(json_object_get(c, "type")), "text") != 0 ||
        strcmp(str(json_object_get(json_object_get(c, "via"), "webhook")), "w7") != 0)
        abort();
    json_decref(c);
    free(content);
    return 0;
}
