/* SPDX-License-Identifier: MIT */
/* hook_body.c -- incoming webhook paths and bodies (issue 16). No I/O. */
#include "hooks/hook_body.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char prefix[] = "/v1/hooks/w";

pl_hook_err_t pl_hook_path_parse(const char *path, int64_t *id, char secret[PL_HOOK_SECRET_LEN + 1])
{
    if (strncmp(path, prefix, sizeof prefix - 1) != 0)
        return PL_HOOK_NOT_HOOK;
    const char *p = path + sizeof prefix - 1;
    /* The id: 1..18 digits without a leading zero. A 19th digit is counted
     * (to refuse the id) but never added: 19 digits may overflow int64. */
    int64_t v = 0;
    size_t nd = 0;
    while (p[nd] >= '0' && p[nd] <= '9' && nd < 19) {
        if (nd < 18)
            v = v * 10 + (p[nd] - '0');
        nd++;
    }
    if (nd == 0 || nd > 18 || p[0] == '0' || p[nd] != '/')
        return PL_HOOK_NOT_HOOK;
    p += nd + 1;
    size_t n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-");
    if (n != PL_HOOK_SECRET_LEN || p[n] != '\0')
        return PL_HOOK_NOT_HOOK;
    *id = v;
    memcpy(secret, p, PL_HOOK_SECRET_LEN);
    secret[PL_HOOK_SECRET_LEN] = '\0';
    return PL_HOOK_OK;
}

static bool no_controls(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

int pl_hook_name_ok(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= PL_HOOK_NAME_MAX && no_controls(s) && strspn(s, " ") < n;
}

int pl_hook_icon_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return 1;
    if (n > PL_HOOK_ICON_MAX || !no_controls(s) || strpbrk(s, " \"'<>\\`") != NULL)
        return 0;
    return (!strncmp(s, "https://", 8) && n > 8) || (!strncmp(s, "http://", 7) && n > 7);
}

/* An optional string member: absent or null gives NULL; anything else
 * than a string without NUL is an error. */
static bool opt_str(json_t *o, const char *key, const char **out)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return true;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
        return false;
    *out = json_string_value(v);
    return true;
}

pl_hook_err_t pl_hook_body_parse(const char *body, size_t len, const pl_hook_ident_t *who,
                                 size_t max_content, char **content, char *err, size_t cap)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(err, cap, "invalid JSON at position %d: %s", jerr.position, jerr.text);
        return PL_HOOK_BAD_JSON;
    }
    pl_hook_err_t rc = PL_HOOK_BAD_BODY;
    const char *text, *user, *icon;
    json_t *c = NULL;
    if (!json_is_object(root)) {
        snprintf(err, cap, "the body must be a JSON object");
    } else if (!opt_str(root, "text", &text) || text == NULL ||
               text[strspn(text, " \t\r\n")] == 0) {
        snprintf(err, cap, "\"text\" must be a non-empty string");
    } else if (!opt_str(root, "username", &user) || (user != NULL && !pl_hook_name_ok(user))) {
        snprintf(err, cap,
                 "\"username\" must be a string of 1 to %d bytes without control "
                 "characters",
                 PL_HOOK_NAME_MAX);
    } else if (!opt_str(root, "icon_url", &icon) || (icon != NULL && !pl_hook_icon_ok(icon))) {
        snprintf(err, cap, "\"icon_url\" must be an http(s) URL of at most %d bytes",
                 PL_HOOK_ICON_MAX);
    } else {
        char wid[24];
        snprintf(wid, sizeof wid, "w%lld", (long long)who->id);
        json_t *via = json_pack("{s:s,s:s}", "webhook", wid, "name", who->name);
        if (user != NULL)
            json_object_set_new(via, "username", json_string(user));
        const char *ic = icon != NULL ? icon : who->icon_url;
        if (ic != NULL && ic[0] != '\0')
            json_object_set_new(via, "icon_url", json_string(ic));
        c = json_pack("{s:s,s:s,s:o}", "type", "text", "body", text, "via", via);
        char *t = c != NULL ? json_dumps(c, JSON_COMPACT) : NULL;
        if (t == NULL) {
            snprintf(err, cap, "cannot encode the message");
        } else if (strlen(t) > max_content) {
            free(t);
            snprintf(err, cap, "the message exceeds max_content_bytes (%zu bytes)", max_content);
            rc = PL_HOOK_TOO_LARGE;
        } else {
            *content = t;
            rc = PL_HOOK_OK;
        }
    }
    json_decref(c);
    json_decref(root);
    return rc;
}
