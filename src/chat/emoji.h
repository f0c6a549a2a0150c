/* SPDX-License-Identifier: MIT */
/* emoji.h -- pure text checks of the chat core: "is this exactly one emoji"
 * (reactions) and @mention extraction (send, edit). No I/O, no allocation
 * beyond the caller's buffers, so both are unit-tested and fuzzable. */
#ifndef PL_CHAT_EMOJI_H
#define PL_CHAT_EMOJI_H

#include <stdbool.h>
#include <stddef.h>

/** Longest reaction, in bytes (a family ZWJ sequence fits). */
#define PL_EMOJI_MAX_BYTES 32

/** True when s[0..len) is valid UTF-8 holding exactly one emoji grapheme
 * cluster and at most PL_EMOJI_MAX_BYTES bytes:
 *   - a pictographic code point (optionally + FE0F, + a skin-tone modifier
 *     1F3FB..1F3FF, + a tag sequence E0020..E007E ending in E007F),
 *   - several of those joined by ZWJ (200D),
 *   - a pair of regional indicators (a flag),
 *   - a keycap: [0-9#*] FE0F? 20E3.
 * Everything else (text, two emoji, stray modifiers, a dangling ZWJ) is
 * rejected. Borrows s; pure. */
bool pl_emoji_is_single(const char *s, size_t len);

/** Result of pl_mentions_parse: up to PL_MENTIONS_MAX distinct lowercase
 * usernames (NUL-terminated, at most 32 bytes each) in order of appearance. */
#define PL_MENTIONS_MAX 20
typedef struct {
    char names[PL_MENTIONS_MAX][33];
    size_t n;
    bool room; /* @room appeared */
} pl_mentions_t;

/** Finds `@name` mentions in a text body: '@' at the start or after a
 * character that cannot be part of a username, followed by 1..32 username
 * characters [A-Za-z0-9_.-] (lowercased); trailing '.' and '-' are
 * punctuation, not part of the name. "@room" sets out->room instead. Longer
 * runs (33+ characters) are not mentions. Borrows text; pure. */
void pl_mentions_parse(const char *text, size_t len, pl_mentions_t *out);

/** Longest custom-emoji shortcode, in bytes (without the colons). */
#define PL_SHORTCODE_MAX 32

/** True when s[0..len) is a custom-emoji shortcode: [a-z0-9_]{2,32}. Pure. */
bool pl_emoji_shortcode_valid(const char *s, size_t len);

/** True when s[0..len) is a custom-emoji reference `:shortcode:`; copies the
 * shortcode (NUL-terminated) into name. Pure. */
bool pl_emoji_custom_ref(const char *s, size_t len, char name[PL_SHORTCODE_MAX + 1]);

#endif
