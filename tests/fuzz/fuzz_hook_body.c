/* SPDX-License-Identifier: MIT */
/* fuzz_hook_body.c -- src/hooks/hook_body.c (issue 16): an incoming
 * webhook's body and its secret path, both straight from the network. The
 * first input byte picks the parser. Checks: an accepted body gives a
 * content that is a JSON object of type text whose `via` names the webhook
 * and fits max_content; an accepted path has a positive id and a secret of
 * the exact length; a refused input writes nothing. Inputs starting with a
 * byte whose low bits are 2 go to the outgoing signature check instead: the
 * rest is "<timestamp header>\n<signature header>\n<body>"; it must never
 * accept a signature it did not make (a signed copy of the body must pass).
 * Inputs whose first byte's low three bits are 6 go to the outgoing
 * webhook parsers (hook_out.c), the rest of the input to each: a target URL
 * (an accepted http:// one must be on the allow list), trigger words (the
 * stored form has words of the allowed length, each matching itself), the
 * receiver's reply (bounded, nothing on an error) and a content for the
 * event body (the event must be a JSON object). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hooks/hook_body.h"
#include "hooks/hook_out.h"
#include "hooks/hook_sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *str(json_t *v)
{
    return json_is_string(v) ? json_string_value(v) : "";
}

static void outgoing(const char *in, size_t n)
{
    char err[256];
    pl_ssrf_url_t u;
    bool local = false;
    if (pl_hook_out_url_check(in, n, "127.0.0.1, localhost", &u, &local, err, sizeof err) == 0 &&
        !u.https && !local)
        abort();
    char *t = NULL;
    if (pl_hook_out_triggers_parse(in, n, &t, err, sizeof err) == 0) {
        for (const char *p = t; *p != '\0';) {
            size_t wl = strcspn(p, " ");
            if (wl == 0 || wl > PL_HOOK_TRIGGER_MAX)
                abort();
            char w[PL_HOOK_TRIGGER_MAX + 1];
            memcpy(w, p, wl);
            w[wl] = '\0';
            if (!pl_hook_out_matches(t, w))
                abort();
            p += wl + (p[wl] == ' ');
        }
        free(t);
    } else if (t != NULL) {
        abort();
    }
    char *r = NULL;
    int rc = pl_hook_out_reply_parse(in, n, &r, err, sizeof err);
    if ((rc != 0 && r != NULL) || (r != NULL && (r[0] == '\0' || strlen(r) > PL_HOOK_REPLY_MAX)))
        abort();
    free(r);
    char *c = malloc(n + 1);
    memcpy(c, in, n);
    c[n] = '\0';
    pl_hook_event_t ev = {1, 2, 3, 4, 5, 6, c};
    char *out = NULL;
    if (pl_hook_out_event(&ev, &out) == 0) {
        json_t *o = json_loads(out, 0, NULL);
        if (!json_is_object(o) || !json_is_object(json_object_get(o, "content")))
            abort();
        json_decref(o);
        free(out);
    } else if (out != NULL) {
        abort();
    }
    free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if ((data[0] & 7) == 6) {
        outgoing((const char *)data + 1, size - 1);
        return 0;
    }
    if ((data[0] & 3) == 2) {
        char *in = malloc(size);
        memcpy(in, data + 1, size - 1);
        in[size - 1] = '\0';
        char *nl1 = strchr(in, '\n'), *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
        if (nl2 != NULL) {
            *nl1 = *nl2 = '\0';
            const uint8_t key[] = "k";
            const char *body = nl2 + 1;
            size_t blen = size - 1 - (size_t)(body - in);
            pl_hook_sig_err_t v = pl_hook_verify(key, 1, in, nl1 + 1, body, blen, 1700000000, 300);
            (void)v;
            char sig[PL_HOOK_SIG_LEN + 1];
            pl_hook_sign(key, 1, 1700000000, body, blen, sig);
            if (pl_hook_verify(key, 1, "1700000000", sig, body, blen, 1700000000, 300) !=
                PL_HOOK_SIG_OK)
                abort();
        }
        free(in);
        return 0;
    }
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
