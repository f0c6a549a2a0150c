/* SPDX-License-Identifier: MIT */
/* password_policy.c -- weak password checks (see password_policy.h). */
#include "auth/password_policy.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth.h"
#include "core/util.h"

#define LINE_MAX_BYTES 128

struct pl_pwlist {
    char **v; /* lowercase, sorted, unique */
    size_t n;
};

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

pl_pwlist_t *pl_pwlist_parse(const char *text, size_t len)
{
    pl_pwlist_t *l = pl_xcalloc(1, sizeof *l);
    size_t cap = 0;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) : len, n = end - i;
        const char *line = text + i;
        i = end + 1;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n == 0 || n > LINE_MAX_BYTES || line[0] == '#' || memchr(line, '\0', n))
            continue;
        if (l->n == cap) {
            cap = cap ? cap * 2 : 1024;
            l->v = pl_xrealloc(l->v, cap * sizeof *l->v);
        }
        char *s = pl_xmalloc(n + 1);
        for (size_t k = 0; k < n; k++)
            s[k] = (char)tolower((unsigned char)line[k]);
        s[n] = '\0';
        l->v[l->n++] = s;
    }
    if (l->n > 0)
        qsort(l->v, l->n, sizeof *l->v, cmp);
    /* Drop duplicates so the size says what the list holds. */
    size_t o = 0;
    for (size_t k = 0; k < l->n; k++) {
        if (o > 0 && strcmp(l->v[o - 1], l->v[k]) == 0) {
            free(l->v[k]);
            continue;
        }
        l->v[o++] = l->v[k];
    }
    l->n = o;
    return l;
}

void pl_pwlist_free(pl_pwlist_t *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    free(l);
}

size_t pl_pwlist_size(const pl_pwlist_t *l)
{
    return l ? l->n : 0;
}

bool pl_pwlist_contains(const pl_pwlist_t *l, const char *password)
{
    size_t n = strlen(password);
    if (l == NULL || l->n == 0 || n == 0 || n > LINE_MAX_BYTES)
        return false;
    char low[LINE_MAX_BYTES + 1];
    for (size_t k = 0; k < n; k++)
        low[k] = (char)tolower((unsigned char)password[k]);
    low[n] = '\0';
    const char *key = low;
    return bsearch(&key, l->v, l->n, sizeof *l->v, cmp) != NULL;
}

const char *pl_password_check(const pl_pwlist_t *list, const char *username, const char *password)
{
    size_t n = strlen(password);
    if (n < PL_PASSWORD_MIN)
        return "passwords need at least 8 characters";
    if (n > PL_PASSWORD_MAX)
        return "passwords are at most 1024 bytes";
    if (username != NULL && strcasecmp(username, password) == 0)
        return "the password must not be the username";
    if (pl_pwlist_contains(list, password))
        return "that password is too common: it is on the list of passwords attackers try first";
    return NULL;
}
