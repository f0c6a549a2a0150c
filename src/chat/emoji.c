/* SPDX-License-Identifier: MIT */
/* emoji.c -- single-emoji validation and @mention parsing. No I/O.
 * The emoji grammar follows UTS #51 (emoji sequences) in simplified form: the
 * code point ranges below are the blocks that hold emoji, not the exact
 * Emoji property, which is enough to refuse text while accepting every emoji
 * a picker offers. */
#include "chat/emoji.h"

#include <stdint.h>
#include <string.h>

/* Decodes one UTF-8 scalar (no overlongs, no surrogates, <= 10FFFF).
 * Returns its length or 0 when invalid. */
static size_t utf8_next(const unsigned char *p, size_t len, uint32_t *cp)
{
    if (len == 0)
        return 0;
    unsigned char c = p[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        n = 2, v = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, v = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (p[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return n;
}

#define ZWJ 0x200D
#define VS16 0xFE0F
#define KEYCAP 0x20E3
#define TAG_END 0xE007F

static bool is_regional(uint32_t c)
{
    return c >= 0x1F1E6 && c <= 0x1F1FF;
}

static bool is_skin(uint32_t c)
{
    return c >= 0x1F3FB && c <= 0x1F3FF;
}

static bool is_tag(uint32_t c)
{
    return c >= 0xE0020 && c <= 0xE007E;
}

/* A code point that can stand alone as (or start) an emoji. */
static bool is_pictographic(uint32_t c)
{
    if (is_regional(c) || is_skin(c))
        return false;
    if (c >= 0x1F000 && c <= 0x1FAFF)
        return true;
    if (c >= 0x2600 && c <= 0x27BF) /* misc symbols, dingbats */
        return true;
    if (c >= 0x2300 && c <= 0x23FF) /* misc technical: watch, hourglass, ... */
        return true;
    if (c >= 0x2B00 && c <= 0x2BFF) /* arrows, star, circle */
        return true;
    if (c >= 0x2190 && c <= 0x21FF) /* arrows */
        return true;
    if (c >= 0x25A0 && c <= 0x25FF) /* geometric shapes */
        return true;
    switch (c) {
    case 0x00A9:
    case 0x00AE:
    case 0x203C:
    case 0x2049:
    case 0x2122:
    case 0x2139:
    case 0x24C2:
    case 0x2934:
    case 0x2935:
    case 0x3030:
    case 0x303D:
    case 0x3297:
    case 0x3299:
        return true;
    default:
        return false;
    }
}

bool pl_emoji_is_single(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > PL_EMOJI_MAX_BYTES)
        return false;
    uint32_t cp[PL_EMOJI_MAX_BYTES];
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t off = 0; off < len;) {
        size_t k = utf8_next(p + off, len - off, &cp[n]);
        if (k == 0 || cp[n] == 0)
            return false;
        off += k;
        n++;
    }
    /* Keycap: [0-9#*] FE0F? 20E3 */
    if ((cp[0] >= '0' && cp[0] <= '9') || cp[0] == '#' || cp[0] == '*') {
        if (n == 2)
            return cp[1] == KEYCAP;
        return n == 3 && cp[1] == VS16 && cp[2] == KEYCAP;
    }
    /* Flag: exactly two regional indicators. */
    if (is_regional(cp[0]))
        return n == 2 && is_regional(cp[1]);
    /* element (ZWJ element)* */
    size_t i = 0;
    for (;;) {
        if (i >= n || !is_pictographic(cp[i]))
            return false;
        i++;
        if (i < n && cp[i] == VS16)
            i++;
        if (i < n && is_skin(cp[i]))
            i++;
        if (i < n && cp[i] == VS16)
            i++;
        if (i < n && is_tag(cp[i])) {
            while (i < n && is_tag(cp[i]))
                i++;
            if (i >= n || cp[i] != TAG_END)
                return false;
            i++;
        }
        if (i == n)
            return true;
        if (cp[i] != ZWJ)
            return false;
        i++; /* an element must follow the joiner */
    }
}

static bool name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

void pl_mentions_parse(const char *text, size_t len, pl_mentions_t *out)
{
    memset(out, 0, sizeof *out);
    const unsigned char *t = (const unsigned char *)text;
    for (size_t i = 0; i < len; i++) {
        if (t[i] != '@' || (i > 0 && (name_char(t[i - 1]) || t[i - 1] == '@')))
            continue;
        size_t start = i + 1, j = start;
        while (j < len && name_char(t[j]))
            j++;
        size_t end = j;
        while (end > start && (t[end - 1] == '.' || t[end - 1] == '-'))
            end--;
        size_t n = end - start;
        i = j - 1; /* continue after the run */
        if (n == 0 || n > 32)
            continue;
        char name[33];
        for (size_t k = 0; k < n; k++) {
            unsigned char c = t[start + k];
            name[k] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        name[n] = '\0';
        if (strcmp(name, "room") == 0) {
            out->room = true;
            continue;
        }
        bool dup = false;
        for (size_t k = 0; k < out->n && !dup; k++)
            dup = strcmp(out->names[k], name) == 0;
        if (!dup && out->n < PL_MENTIONS_MAX)
            memcpy(out->names[out->n++], name, n + 1);
    }
}

bool pl_emoji_shortcode_valid(const char *s, size_t len)
{
    if (len < 2 || len > PL_SHORTCODE_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

bool pl_emoji_custom_ref(const char *s, size_t len, char name[PL_SHORTCODE_MAX + 1])
{
    if (len < 4 || s[0] != ':' || s[len - 1] != ':' || !pl_emoji_shortcode_valid(s + 1, len - 2))
        return false;
    memcpy(name, s + 1, len - 2);
    name[len - 2] = '\0';
    return true;
}
