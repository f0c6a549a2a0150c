/* SPDX-License-Identifier: MIT */
/* content.c -- message content objects: text, and the media types of
 * docs/design/media.md. No I/O. */
#include "chat/content.h"

#include <string.h>

#include "chat/emoji.h"
#include "core/util.h"

/* A string without an embedded NUL. */
static bool is_cstr(json_t *v)
{
    return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v);
}

/* Integer member key of o in [lo, hi]; absent is fine unless required. */
static bool int_field(json_t *o, const char *key, bool required, int64_t lo, int64_t hi)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL)
        return !required;
    return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

static bool str_field(json_t *o, const char *key, bool required, size_t min, size_t max)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL)
        return !required;
    return is_cstr(v) && json_string_length(v) >= min && json_string_length(v) <= max;
}

static bool media_id_field(json_t *o, const char *key, bool required, int64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL)
        return !required;
    int64_t mid = 0;
    if (!json_is_string(v) || !pl_id_parse(json_string_value(v), 'f', &mid))
        return false;
    if (out)
        *out = mid;
    return true;
}

/* Validates an image, file, voice, video or sticker content object. Returns
 * NULL when it is valid (and sets *media to its media id), or the
 * bad_request message. Unknown keys are refused so that clients cannot
 * smuggle fields other clients would trust. */
static const char *media_content_error(json_t *c, const char *type, int64_t *media)
{
    static const char *const image_keys[] = {"type",  "media",   "w",    "h",
                                             "thumb", "caption", "mime", NULL};
    static const char *const file_keys[] = {"type", "media", "name", "size", "mime", NULL};
    static const char *const voice_keys[] = {"type", "media", "duration_ms", "waveform", NULL};
    static const char *const video_keys[] = {"type", "media", "duration_ms", "w", "h", NULL};
    static const char *const sticker_keys[] = {"type", "media", "w", "h", "emoji", NULL};
    const char *const *keys;
    const char *err;
    const int64_t DIM = 100000, DUR = 86400000LL;
    if (!strcmp(type, "image")) {
        keys = image_keys;
        err = int_field(c, "w", true, 1, DIM) && int_field(c, "h", true, 1, DIM) &&
                      media_id_field(c, "thumb", false, NULL) &&
                      str_field(c, "caption", false, 0, 4096) && str_field(c, "mime", false, 1, 255)
                  ? NULL
                  : "image needs media, w and h (1..100000); thumb is a media id, caption a "
                    "string, mime a string";
    } else if (!strcmp(type, "file")) {
        keys = file_keys;
        err = str_field(c, "name", true, 1, 255) && int_field(c, "size", true, 0, INT64_MAX) &&
                      str_field(c, "mime", true, 1, 255)
                  ? NULL
                  : "file needs media, name (1..255 bytes), size (>= 0) and mime";
    } else if (!strcmp(type, "voice")) {
        keys = voice_keys;
        err =
            int_field(c, "duration_ms", true, 1, DUR) ? NULL : "voice needs media and duration_ms";
        json_t *wf = json_object_get(c, "waveform");
        if (!err && wf) {
            if (!json_is_array(wf) || json_array_size(wf) > 64)
                err = "waveform is an array of at most 64 integers 0..255";
            for (size_t i = 0; !err && i < json_array_size(wf); i++) {
                json_t *v = json_array_get(wf, i);
                if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 255)
                    err = "waveform is an array of at most 64 integers 0..255";
            }
        }
    } else if (!strcmp(type, "video")) {
        keys = video_keys;
        err = int_field(c, "duration_ms", false, 1, DUR) && int_field(c, "w", false, 1, DIM) &&
                      int_field(c, "h", false, 1, DIM)
                  ? NULL
                  : "video takes media and optional duration_ms, w, h";
    } else if (!strcmp(type, "sticker")) {
        keys = sticker_keys;
        json_t *sc = json_object_get(c, "emoji");
        bool sc_ok =
            sc == NULL || (json_is_string(sc) &&
                           pl_emoji_shortcode_valid(json_string_value(sc), json_string_length(sc)));
        err = int_field(c, "w", false, 1, DIM) && int_field(c, "h", false, 1, DIM) && sc_ok
                  ? NULL
                  : "sticker takes media and optional w, h (1..100000) and emoji (a shortcode "
                    "without colons)";
    } else {
        return "unsupported \"content.type\"";
    }
    if (!media_id_field(c, "media", true, media))
        return "\"content.media\" must be a media id (\"f...\")";
    if (err)
        return err;
    const char *k;
    json_t *v;
    json_object_foreach(c, k, v)
    {
        bool known = false;
        for (size_t i = 0; keys[i] && !known; i++)
            known = !strcmp(k, keys[i]);
        if (!known)
            return "unknown key in media content";
    }
    return NULL;
}

const char *pl_content_check(json_t *content, int64_t *media)
{
    *media = 0;
    if (!json_is_object(content))
        return "\"content\" must be an object";
    json_t *type = json_object_get(content, "type");
    if (!json_is_string(type))
        return "\"content.type\" must be a string";
    if (strcmp(json_string_value(type), "text") != 0)
        return media_content_error(content, json_string_value(type), media);
    json_t *body = json_object_get(content, "body");
    if (!json_is_string(body) || json_string_length(body) == 0)
        return "\"content.body\" must be a non-empty string";
    /* "via" names the integration that posted (issue 16): the server sets
     * it, so no client may claim to be a webhook. */
    if (json_object_get(content, "via") != NULL)
        return "\"content.via\" is set by the server for integrations";
    return NULL;
}
