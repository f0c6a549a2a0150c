/* SPDX-License-Identifier: MIT */
/* command.c -- request text to a typed command or an error. No I/O. */
#include "chat/command.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "chat/call_cmd.h"
#include "chat/content.h"
#include "chat/mod_perm.h"
#include "chat/wire_peek.h"
#include "core/util.h"
#include "hooks/hook_body.h"
#include "push/push_sub.h"

_Static_assert(PL_CMD_USERNAME_MAX == PL_USERNAME_MAX, "username limits agree");

/* Four weeks: the longest disappearing timer (send ttl_ms, room_settings). */
#define MAX_DISAPPEARING_MS 2419200000LL
#define MAX_ID_BYTES 128
#define MAX_TOKEN_BYTES 256
#define MAX_QUERY_BYTES 200
#define SEARCH_MAX_LIMIT 100

static const struct {
    const char *name;
    bool need_auth;
} op_names[PL_OP__COUNT] = {
    [PL_OP_AUTH] = {"auth", false},
    [PL_OP_PING] = {"ping", false},
    [PL_OP_CREATE_ROOM] = {"create_room", true},
    [PL_OP_JOIN] = {"join", true},
    [PL_OP_LEAVE] = {"leave", true},
    [PL_OP_INVITE] = {"invite", true},
    [PL_OP_INVITES] = {"invites", true},
    [PL_OP_DECLINE] = {"decline", true},
    [PL_OP_ROOMS] = {"rooms", true},
    [PL_OP_SEND] = {"send", true},
    [PL_OP_HISTORY] = {"history", true},
    [PL_OP_SYNC] = {"sync", true},
    [PL_OP_READ] = {"read", true},
    [PL_OP_EDIT] = {"edit", true},
    [PL_OP_DELETE] = {"delete", true},
    [PL_OP_REACT] = {"react", true},
    [PL_OP_TYPING] = {"typing", true},
    [PL_OP_DELIVERED] = {"delivered", true},
    [PL_OP_RECEIPTS] = {"receipts", true},
    [PL_OP_THREAD] = {"thread", true},
    [PL_OP_ROOM_SETTINGS] = {"room_settings", true},
    [PL_OP_PRESENCE] = {"presence", true},
    [PL_OP_PRESENCE_QUERY] = {"presence_query", true},
    [PL_OP_PROFILE_GET] = {"profile_get", true},
    [PL_OP_PROFILE_SET] = {"profile_set", true},
    [PL_OP_SETTINGS_GET] = {"settings_get", true},
    [PL_OP_SETTINGS_SET] = {"settings_set", true},
    [PL_OP_SEARCH] = {"search", true},
    [PL_OP_EMOJI_ADD] = {"emoji_add", true},
    [PL_OP_EMOJI_REMOVE] = {"emoji_remove", true},
    [PL_OP_EMOJI_LIST] = {"emoji_list", true},
    [PL_OP_PUSH_KEY] = {"push_key", true},
    [PL_OP_PUSH_SUBSCRIBE] = {"push_subscribe", true},
    [PL_OP_PUSH_UNSUBSCRIBE] = {"push_unsubscribe", true},
    [PL_OP_PUSH_SUBSCRIPTIONS] = {"push_subscriptions", true},
    [PL_OP_PUSH_SETTINGS_GET] = {"push_settings_get", true},
    [PL_OP_PUSH_SETTINGS_SET] = {"push_settings_set", true},
    /* calls (issue 19) */
    [PL_OP_CALL_INVITE] = {"call_invite", true},
    [PL_OP_CALL_RING] = {"call_ring", true},
    [PL_OP_CALL_ANSWER] = {"call_answer", true},
    [PL_OP_CALL_REJECT] = {"call_reject", true},
    [PL_OP_CALL_CANCEL] = {"call_cancel", true},
    [PL_OP_CALL_HANGUP] = {"call_hangup", true},
    [PL_OP_CALL_JOIN] = {"call_join", true},
    [PL_OP_CALL_LEAVE] = {"call_leave", true},
    [PL_OP_CALL_SIGNAL] = {"call_signal", true},
    [PL_OP_TURN_CREDENTIALS] = {"turn_credentials", true},
    [PL_OP_SET_ROLE] = {"set_role", true}, /* moderation (issue 17) */
    [PL_OP_KICK] = {"kick", true},
    [PL_OP_BAN] = {"ban", true},
    [PL_OP_UNBAN] = {"unban", true},
    [PL_OP_MUTE] = {"mute", true},
    [PL_OP_BANS] = {"bans", true},
    [PL_OP_AUDIT] = {"audit", true},
    [PL_OP_WEBHOOK_CREATE] = {"webhook_create", true},
    [PL_OP_WEBHOOKS] = {"webhooks", true},
    [PL_OP_WEBHOOK_REVOKE] = {"webhook_revoke", true},
};

const char *pl_cmd_op_name(pl_op_t op)
{
    return (unsigned)op < PL_OP__COUNT ? op_names[op].name : NULL;
}

bool pl_cmd_needs_auth(pl_op_t op)
{
    return (unsigned)op >= PL_OP__COUNT || op_names[op].need_auth;
}

/* Every refusal goes through here; returns false so parsers can end with
 * `return fail(...)`. */
__attribute__((format(printf, 3, 4))) static bool fail(pl_cmd_err_t *e, const char *code,
                                                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code;
    return false;
}

/* A string without an embedded NUL (jansson refuses \u0000 while parsing
 * already; this keeps C-string users safe should that flag ever change). */
static bool is_cstr(json_t *v)
{
    return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v);
}

/* ---- argument readers: each sets the documented error and returns false ---- */

/* "room": a room id like "r1". Parsed only: whether the caller may see it
 * is the handler's question (a stranger learns nothing about a room). */
static bool arg_room(json_t *req, int64_t *out, pl_cmd_err_t *e)
{
    json_t *v = json_object_get(req, "room");
    if (!json_is_string(v) || !pl_id_parse(json_string_value(v), 'r', out))
        return fail(e, "bad_request", "\"room\" must be a room id like \"r1\"");
    return true;
}

/* Optional integer in [min, max]; absent or null gives def. */
static bool arg_int(json_t *req, const char *key, int64_t min, int64_t max, int64_t def,
                    int64_t *out, pl_cmd_err_t *e)
{
    json_t *v = json_object_get(req, key);
    if (v == NULL || json_is_null(v)) {
        *out = def;
        return true;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return fail(e, "bad_request", "\"%s\" must be an integer in [%" PRId64 ", %" PRId64 "]",
                    key, min, max);
    *out = json_integer_value(v);
    return true;
}

/* A required message seq (>= 1). */
static bool arg_seq(json_t *req, const char *key, int64_t *out, pl_cmd_err_t *e)
{
    if (!arg_int(req, key, 1, INT64_MAX, -1, out, e))
        return false;
    if (*out < 0)
        return fail(e, "bad_request", "\"%s\" (a seq >= 1) is required", key);
    return true;
}

/* Optional id cursor ("after", "before"): absent or null gives 0. */
static bool arg_cursor(json_t *req, const char *key, char prefix, int64_t *out, pl_cmd_err_t *e,
                       const char *what)
{
    json_t *v = json_object_get(req, key);
    *out = 0;
    if (v == NULL || json_is_null(v))
        return true;
    if (!json_is_string(v) || !pl_id_parse(json_string_value(v), prefix, out))
        return fail(e, "bad_request", "\"%s\" must be %s", key, what);
    return true;
}

/* "content": a valid content object, encoded once into *text (owned)
 * within max_content_bytes. *media: the media id it references (0: text).
 * text_only refuses content with a "media" key (edit). */
static bool arg_content(json_t *req, const pl_config_t *cfg, bool text_only, char **text,
                        int64_t *media, bool *sticker, pl_cmd_err_t *e)
{
    json_t *content = json_object_get(req, "content");
    const char *why = pl_content_check(content, media);
    if (why != NULL)
        return fail(e, "bad_request", "%s", why);
    if (text_only && json_object_get(content, "media") != NULL)
        return fail(e, "bad_request", "only text content can be edited");
    if (sticker != NULL)
        *sticker = !strcmp(json_string_value(json_object_get(content, "type")), "sticker");
    /* The one encoding of the content: stored as is, and its size is what
     * max_content_bytes limits. */
    char *t = json_dumps(content, JSON_COMPACT);
    if (t == NULL)
        return fail(e, "internal", "cannot encode content");
    if (strlen(t) > (size_t)cfg->max_content_bytes) {
        free(t);
        return fail(e, "too_large", "message content exceeds max_content_bytes");
    }
    *text = t;
    return true;
}

/* ---- sync positions ---- */

static int cmp_pos(const void *a, const void *b)
{
    int64_t x = ((const pl_sync_pos_t *)a)->room, y = ((const pl_sync_pos_t *)b)->room;
    return (x > y) - (x < y);
}

/* One `since` value: a seq (version 0) or {"seq": n, "version": v}. */
static bool since_value(json_t *v, int64_t *seq, int64_t *version)
{
    if (json_is_integer(v)) {
        *seq = json_integer_value(v);
        *version = 0;
        return *seq >= 0;
    }
    if (!json_is_object(v))
        return false;
    json_t *js = json_object_get(v, "seq"), *jv = json_object_get(v, "version");
    if (!json_is_integer(js) || (jv != NULL && !json_is_integer(jv)))
        return false;
    *seq = json_integer_value(js);
    *version = jv ? json_integer_value(jv) : 0;
    return *seq >= 0 && *version >= 0;
}

/* A `since` object (null counts as {}) into positions sorted by room
 * (*out is malloc'd, never NULL on success). */
static bool arg_since(json_t *since, pl_sync_pos_t **out, size_t *n, pl_cmd_err_t *e)
{
    if (since != NULL && !json_is_null(since) && !json_is_object(since))
        return fail(e, "bad_request", "\"since\" must be an object of room id -> seq");
    size_t cap = json_is_object(since) ? json_object_size(since) : 0;
    pl_sync_pos_t *pos = pl_xcalloc(cap ? cap : 1, sizeof *pos);
    size_t k = 0;
    const char *key;
    json_t *v;
    if (json_is_object(since)) {
        json_object_foreach(since, key, v)
        {
            int64_t rid, seq, ver;
            if (!pl_id_parse(key, 'r', &rid) || !since_value(v, &seq, &ver)) {
                free(pos);
                return fail(e, "bad_request",
                            "\"since\" maps room ids (\"r1\") to seqs >= 0 or to "
                            "{\"seq\": n, \"version\": v}");
            }
            pos[k].room = rid;
            pos[k].upto = seq;
            pos[k++].vupto = ver;
        }
    }
    qsort(pos, k, sizeof *pos, cmp_pos);
    *out = pos;
    *n = k;
    return true;
}

/* ---- usernames ---- */

/* An array of at most max valid usernames under key. */
static bool arg_usernames(json_t *arr, const char *key, size_t max, pl_cmd_err_t *e)
{
    if (!json_is_array(arr))
        return fail(e, "bad_request", "\"%s\" must be an array of usernames", key);
    if (json_array_size(arr) > max)
        return fail(e, "too_large", "too many people for one group");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *u = json_array_get(arr, i);
        char norm[PL_USERNAME_MAX + 1];
        if (!json_is_string(u) || !pl_auth_username_normalize(json_string_value(u), norm))
            return fail(e, "bad_request", "\"%s\" must hold valid usernames", key);
    }
    return true;
}

/* ---- one parser per op ---- */

static bool parse_auth(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    (void)cfg;
    pl_cmd_auth_t *a = &c->u.auth;
    json_t *tok = json_object_get(req, "token");
    if (!json_is_string(tok) || json_string_length(tok) == 0 ||
        json_string_length(tok) > MAX_TOKEN_BYTES)
        return fail(e, "bad_request", "\"token\" must be a non-empty string");
    a->token = json_string_value(tok);
    a->token_len = json_string_length(tok);
    /* Optional: the client's positions, as for sync. The sync then runs as
     * part of auth (events, then the reply with more/count, then live). */
    json_t *since = json_object_get(req, "since");
    if (since == NULL || json_is_null(since))
        return true;
    return arg_since(since, &a->since, &a->nsince, e);
}

static bool parse_none(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    (void)req, (void)cfg, (void)c, (void)e;
    return true;
}

static bool parse_create_room(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    pl_cmd_create_room_t *a = &c->u.create_room;
    json_t *kind = json_object_get(req, "kind");
    json_t *members = json_object_get(req, "members");
    json_t *name = json_object_get(req, "name");
    if (json_is_string(kind) && !strcmp(json_string_value(kind), "dm"))
        a->group = false;
    else if (json_is_string(kind) && !strcmp(json_string_value(kind), "group"))
        a->group = true;
    else
        return fail(e, "bad_request", "\"kind\" must be \"dm\" or \"group\"");
    if (!json_is_array(members))
        return fail(e, "bad_request", "\"members\" must be an array of usernames");
    size_t n = json_array_size(members);
    if (!a->group && n != 1)
        return fail(e, "bad_request", "a dm needs exactly one other user");
    if (n + 1 > (size_t)cfg->max_group_members)
        return fail(e, "too_large", "too many members for one group");
    if (name != NULL && !json_is_null(name) && !json_is_string(name))
        return fail(e, "bad_request", "\"name\" must be a string");
    a->name = json_is_string(name) ? json_string_value(name) : "";
    if (strlen(a->name) > (size_t)cfg->max_room_name)
        return fail(e, "too_large", "\"name\" is too long");
    a->members = members;
    if (a->group)
        return arg_usernames(members, "members", (size_t)cfg->max_group_members, e);
    json_t *u = json_array_get(members, 0);
    if (!json_is_string(u) || !pl_auth_username_normalize(json_string_value(u), a->other))
        return fail(e, "bad_request", "\"members\" must hold valid usernames");
    a->name = "";
    return true;
}

static bool parse_room(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    (void)cfg;
    return arg_room(req, &c->u.room.room, e);
}

static bool parse_invite(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    c->u.invite.users = json_object_get(req, "users");
    return arg_room(req, &c->u.invite.room, e) &&
           arg_usernames(c->u.invite.users, "users", (size_t)cfg->max_group_members, e);
}

static bool parse_rooms(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    (void)cfg;
    return arg_cursor(req, "after", 'r', &c->u.rooms.after, e, "a room id like \"r1\"");
}

static bool parse_send(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    pl_cmd_send_t *a = &c->u.send;
    if (!arg_room(req, &a->room, e))
        return false;
    json_t *cid = json_object_get(req, "client_id");
    if (!json_is_string(cid) || json_string_length(cid) == 0 ||
        json_string_length(cid) > (size_t)cfg->max_client_id_len)
        return fail(e, "bad_request",
                    "\"client_id\" must be a non-empty string (at most max_client_id_len bytes)");
    if (!is_cstr(cid))
        return fail(e, "bad_request", "\"client_id\" must not contain NUL");
    a->client_id = json_string_value(cid);
    return arg_int(req, "reply_to", 1, INT64_MAX, 0, &a->reply_to, e) &&
           arg_int(req, "thread", 1, INT64_MAX, 0, &a->thread, e) &&
           arg_int(req, "ttl_ms", cfg->min_disappearing_ms, MAX_DISAPPEARING_MS, 0, &a->ttl_ms,
                   e) &&
           arg_content(req, cfg, false, &a->content, &a->media, &a->sticker, e);
}

static bool parse_history(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    pl_cmd_history_t *a = &c->u.history;
    return arg_room(req, &a->room, e) && arg_int(req, "before", 1, INT64_MAX, 0, &a->before, e) &&
           arg_int(req, "after", 0, INT64_MAX, -1, &a->after, e) &&
           arg_int(req, "limit", 1, cfg->history_max_limit, 50, &a->limit, e);
}

static bool parse_sync(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    (void)cfg;
    return arg_since(json_object_get(req, "since"), &c->u.sync.since, &c->u.sync.nsince, e);
}

/* read, delivered: a marker may be at 0 (nothing read yet). */
static bool parse_mark(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    (void)cfg;
    pl_cmd_room_seq_t *a = &c->u.mark;
    if (!arg_room(req, &a->room, e) || !arg_int(req, "seq", 0, INT64_MAX, -1, &a->seq, e))
        return false;
    if (a->seq < 0)
        return fail(e, "bad_request", "\"seq\" is required");
    return true;
}

static bool parse_delete(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    (void)cfg;
    return arg_room(req, &c->u.mark.room, e) && arg_seq(req, "seq", &c->u.mark.seq, e);
}

static bool parse_edit(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    pl_cmd_edit_t *a = &c->u.edit;
    int64_t media = 0;
    /* Text only: an edit would bypass the media access check of send. */
    return arg_room(req, &a->room, e) && arg_seq(req, "seq", &a->seq, e) &&
           arg_content(req, cfg, true, &a->content, &media, NULL, e);
}

static bool parse_react(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    (void)cfg;
    pl_cmd_react_t *a = &c->u.react;
    if (!arg_room(req, &a->room, e) || !arg_seq(req, "seq", &a->seq, e))
        return false;
    json_t *emoji = json_object_get(req, "emoji");
    char name[PL_SHORTCODE_MAX + 1];
    a->custom = json_is_string(emoji) &&
                pl_emoji_custom_ref(json_string_value(emoji), json_string_length(emoji), name);
    if (!json_is_string(emoji) ||
        (!a->custom && !pl_emoji_is_single(json_string_value(emoji), json_string_length(emoji))))
        return fail(e, "bad_request",
                    "\"emoji\" must be exactly one emoji (at most 32 bytes) or a custom emoji "
                    "\":shortcode:\"");
    a->emoji = json_string_value(emoji);
    json_t *rm = json_object_get(req, "remove");
    if (rm != NULL && !json_is_boolean(rm))
        return fail(e, "bad_request", "\"remove\" must be a boolean");
    a->remove = json_is_true(rm);
    return true;
}

static bool parse_typing(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    (void)cfg;
    if (!arg_room(req, &c->u.typing.room, e))
        return false;
    json_t *t = json_object_get(req, "typing");
    if (!json_is_boolean(t))
        return fail(e, "bad_request", "\"typing\" must be a boolean");
    c->u.typing.typing = json_is_true(t);
    return true;
}

static bool parse_receipts(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    (void)cfg;
    return arg_room(req, &c->u.receipts.room, e) &&
           arg_cursor(req, "after", 'u', &c->u.receipts.after, e, "a user id like \"u1\"");
}

static bool parse_thread(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    pl_cmd_thread_t *a = &c->u.thread;
    return arg_room(req, &a->room, e) && arg_seq(req, "root", &a->root, e) &&
           arg_int(req, "before", 1, INT64_MAX, 0, &a->before, e) &&
           arg_int(req, "limit", 1, cfg->history_max_limit, 50, &a->limit, e);
}

static bool parse_room_settings(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    pl_cmd_room_settings_t *a = &c->u.room_settings;
    if (!arg_room(req, &a->room, e) ||
        !arg_int(req, "disappearing_ms", 0, MAX_DISAPPEARING_MS, -1, &a->ms, e))
        return false;
    if (a->ms > 0 && a->ms < cfg->min_disappearing_ms)
        return fail(e, "bad_request",
                    "\"disappearing_ms\" must be 0 (off) or in [%" PRId64 ", %lld]",
                    cfg->min_disappearing_ms, MAX_DISAPPEARING_MS);
    json_t *name = json_object_get(req, "name");
    json_t *av = json_object_get(req, "avatar");
    if (a->ms < 0 && name == NULL && av == NULL)
        return fail(e, "bad_request",
                    "give at least one of \"disappearing_ms\", \"name\", \"avatar\"");
    a->name = NULL;
    if (name != NULL) {
        if (!is_cstr(name) || json_string_length(name) == 0)
            return fail(e, "bad_request", "\"name\" must be a non-empty string");
        if (json_string_length(name) > (size_t)cfg->max_room_name)
            return fail(e, "too_large", "\"name\" is too long");
        a->name = json_string_value(name);
    }
    a->avatar = -1;
    if (av != NULL) {
        a->avatar = 0;
        if (!json_is_null(av) &&
            (!json_is_string(av) || !pl_id_parse(json_string_value(av), 'f', &a->avatar)))
            return fail(e, "bad_request", "\"avatar\" must be a media id like \"f1\" or null");
    }
    return true;
}

static bool parse_presence(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    (void)cfg;
    const char *v = json_string_value(json_object_get(req, "status"));
    if (v == NULL || (strcmp(v, "online") != 0 && strcmp(v, "away") != 0))
        return fail(e, "bad_request", "\"status\" must be \"online\" or \"away\"");
    c->u.presence.away = strcmp(v, "away") == 0;
    return true;
}

static bool parse_profile_get(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    (void)cfg;
    pl_cmd_profile_get_t *a = &c->u.profile_get;
    json_t *u = json_object_get(req, "user"), *n = json_object_get(req, "username");
    if ((u == NULL) == (n == NULL))
        return fail(e, "bad_request", "give exactly one of \"user\" and \"username\"");
    if (u != NULL && (!json_is_string(u) || !pl_id_parse(json_string_value(u), 'u', &a->user)))
        return fail(e, "bad_request", "\"user\" must be a user id like \"u1\"");
    if (n != NULL) {
        if (!is_cstr(n) || json_string_length(n) == 0 ||
            json_string_length(n) > PL_CMD_USERNAME_MAX)
            return fail(e, "bad_request", "\"username\" must be a username");
        /* Lowercased only: an invalid name is simply not found. */
        const char *s = json_string_value(n);
        size_t i = 0;
        for (; s[i]; i++)
            a->username[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
        a->username[i] = '\0';
    }
    return true;
}

static bool parse_profile_set(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    (void)cfg;
    static const struct {
        const char *key;
        size_t min, max;
    } f[3] = {{"display_name", 1, 64}, {"bio", 0, 500}, {"status_text", 0, 100}};
    pl_cmd_profile_set_t *a = &c->u.profile_set;
    size_t given = 0;
    for (int i = 0; i < 3; i++) {
        json_t *j = json_object_get(req, f[i].key);
        if (j == NULL)
            continue;
        if (!is_cstr(j))
            return fail(e, "bad_request", "\"%s\" must be a string", f[i].key);
        if (json_string_length(j) > f[i].max)
            return fail(e, "too_large", "\"%s\" is longer than %zu bytes", f[i].key, f[i].max);
        if (json_string_length(j) < f[i].min)
            return fail(e, "bad_request", "\"%s\" must not be empty", f[i].key);
        a->fields[i] = json_string_value(j);
        given++;
    }
    json_t *av = json_object_get(req, "avatar");
    if (av != NULL) {
        if (!json_is_null(av) &&
            (!json_is_string(av) || !pl_id_parse(json_string_value(av), 'f', &a->avatar)))
            return fail(e, "bad_request", "\"avatar\" must be a media id like \"f1\" or null");
        a->set_avatar = true;
        given++;
    }
    if (given == 0)
        return fail(e, "bad_request",
                    "give at least one of \"display_name\", \"bio\", \"status_text\", "
                    "\"avatar\"");
    return true;
}

static bool setting_ok(const char *key, json_t *v)
{
    const char *s = json_string_value(v);
    if (!strcmp(key, "theme"))
        return s && (!strcmp(s, "system") || !strcmp(s, "light") || !strcmp(s, "dark"));
    if (!strcmp(key, "read_receipts") || !strcmp(key, "show_presence") ||
        !strcmp(key, "notifications"))
        return json_is_boolean(v);
    if (!strcmp(key, "group_add")) /* who may add me to a group (members.c) */
        return s && (!strcmp(s, "everyone") || !strcmp(s, "contacts") || !strcmp(s, "nobody"));
    return false;
}

static bool parse_settings_set(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    (void)cfg;
    json_t *patch = json_object_get(req, "settings");
    if (!json_is_object(patch))
        return fail(e, "bad_request", "\"settings\" must be an object");
    const char *key;
    json_t *v;
    json_object_foreach(patch, key, v)
    {
        if (!setting_ok(key, v))
            return fail(e, "bad_request", "unknown setting or wrong type: \"%.64s\"", key);
    }
    c->u.settings_set.patch = patch;
    return true;
}

static bool parse_search(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    (void)cfg;
    pl_cmd_search_t *a = &c->u.search;
    json_t *query = json_object_get(req, "query");
    if (!is_cstr(query) || json_string_length(query) == 0 ||
        json_string_length(query) > MAX_QUERY_BYTES)
        return fail(e, "bad_request", "\"query\" must be a string of 1 to 200 bytes");
    a->query = json_string_value(query);
    if (json_object_get(req, "room") != NULL && !arg_room(req, &a->room, e))
        return false;
    return arg_int(req, "limit", 1, SEARCH_MAX_LIMIT, 20, &a->limit, e) &&
           arg_cursor(req, "before", 'm', &a->before, e, "a message id like \"m9\"");
}

static bool arg_shortcode(json_t *req, char out[PL_SHORTCODE_MAX + 1], pl_cmd_err_t *e)
{
    json_t *sc = json_object_get(req, "shortcode");
    if (!json_is_string(sc) ||
        !pl_emoji_shortcode_valid(json_string_value(sc), json_string_length(sc)))
        return fail(e, "bad_request",
                    "\"shortcode\" must be 2 to 32 of a-z, 0-9 and _ (without colons)");
    snprintf(out, PL_SHORTCODE_MAX + 1, "%s", json_string_value(sc));
    return true;
}

static bool parse_emoji_add(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    (void)cfg;
    if (!arg_shortcode(req, c->u.emoji.shortcode, e))
        return false;
    json_t *media = json_object_get(req, "media");
    if (!json_is_string(media) || !pl_id_parse(json_string_value(media), 'f', &c->u.emoji.media))
        return fail(e, "bad_request", "\"media\" must be a media id like \"f1\"");
    return true;
}

static bool parse_emoji_remove(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    (void)cfg;
    return arg_shortcode(req, c->u.emoji.shortcode, e);
}

static bool parse_emoji_list(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    (void)cfg;
    json_t *after = json_object_get(req, "after");
    if (after == NULL || json_is_null(after))
        return true;
    if (!json_is_string(after) ||
        !pl_emoji_shortcode_valid(json_string_value(after), json_string_length(after)))
        return fail(e, "bad_request", "\"after\" must be a shortcode");
    snprintf(c->u.emoji.shortcode, sizeof c->u.emoji.shortcode, "%s", json_string_value(after));
    return true;
}

/* ---- Web Push (issue 15) ---- */

/* "subscription": the browser's PushSubscription.toJSON(). */
static bool parse_push_subscribe(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    json_t *sub = json_object_get(req, "subscription");
    if (!json_is_object(sub))
        return fail(e, "bad_request", "\"subscription\" must be a PushSubscription object");
    char *text = json_dumps(sub, JSON_COMPACT);
    if (text == NULL)
        return fail(e, "bad_request", "\"subscription\" must be a PushSubscription object");
    pl_push_sub_t ps;
    char err[128];
    int rc = pl_push_sub_parse(text, strlen(text), cfg->push_allow_local, &ps, err, sizeof err);
    free(text);
    if (rc != 0)
        return fail(e, "bad_request", "subscription: %s", err);
    json_t *keys = json_object_get(sub, "keys");
    c->u.push_sub.endpoint = json_string_value(json_object_get(sub, "endpoint"));
    c->u.push_sub.p256dh = json_string_value(json_object_get(keys, "p256dh"));
    c->u.push_sub.auth = json_string_value(json_object_get(keys, "auth"));
    return true;
}

static bool parse_push_unsubscribe(json_t *req, const pl_config_t *cfg, pl_cmd_t *c,
                                   pl_cmd_err_t *e)
{
    (void)cfg;
    json_t *ep = json_object_get(req, "endpoint");
    if (!is_cstr(ep) || json_string_length(ep) == 0 ||
        json_string_length(ep) > PL_PUSH_ENDPOINT_MAX)
        return fail(e, "bad_request", "\"endpoint\" must be a subscription's endpoint URL");
    c->u.push_sub.endpoint = json_string_value(ep);
    return true;
}

/* "HH:MM" (00:00..23:59) as minutes. */
static bool hhmm(json_t *v, int *out)
{
    const char *t = json_is_string(v) ? json_string_value(v) : "";
    if (json_string_length(v) != 5 || t[2] != ':' || t[0] < '0' || t[0] > '2' || t[1] < '0' ||
        t[1] > '9' || t[3] < '0' || t[3] > '5' || t[4] < '0' || t[4] > '9')
        return false;
    int h = (t[0] - '0') * 10 + (t[1] - '0'), m = (t[3] - '0') * 10 + (t[4] - '0');
    if (h > 23)
        return false;
    *out = h * 60 + m;
    return true;
}

static bool parse_push_settings_set(json_t *req, const pl_config_t *cfg, pl_cmd_t *c,
                                    pl_cmd_err_t *e)
{
    (void)cfg;
    pl_cmd_push_set_t *a = &c->u.push_set;
    *a = (pl_cmd_push_set_t){.level = -1, .mute_until = -1, .content_free = -2};
    if (json_object_get(req, "room") != NULL && !arg_room(req, &a->room, e))
        return false;
    json_t *lv = json_object_get(req, "level");
    if (lv != NULL) {
        static const char *const names[] = {"default", "all", "mentions", "nothing"};
        for (int i = 0; i < 4 && json_is_string(lv); i++)
            if (strcmp(json_string_value(lv), names[i]) == 0)
                a->level = i;
        if (a->level < 0 || a->room == 0)
            return fail(e, "bad_request",
                        "\"level\" (with a \"room\") must be default, all, mentions or nothing");
    }
    if (!arg_int(req, "mute_until", 0, INT64_MAX / 2, -1, &a->mute_until, e))
        return false;
    json_t *cf = json_object_get(req, "content_free");
    if (cf != NULL) {
        if (a->room != 0 || !(json_is_boolean(cf) || json_is_null(cf)))
            return fail(e, "bad_request",
                        "\"content_free\" (account-wide: no \"room\") must be true, false or null");
        a->content_free = json_is_null(cf) ? -1 : json_is_true(cf);
    }
    json_t *dnd = json_object_get(req, "dnd");
    if (dnd != NULL) {
        if (a->room != 0)
            return fail(e, "bad_request", "\"dnd\" is account-wide: no \"room\"");
        a->set_dnd = true;
        a->dnd_start = a->dnd_end = -1;
        if (!json_is_null(dnd) &&
            (!json_is_object(dnd) || !hhmm(json_object_get(dnd, "start"), &a->dnd_start) ||
             !hhmm(json_object_get(dnd, "end"), &a->dnd_end)))
            return fail(e, "bad_request",
                        "\"dnd\" must be null or {\"start\": \"HH:MM\", \"end\": \"HH:MM\"} (UTC)");
    }
    if (lv == NULL && a->mute_until < 0 && cf == NULL && dnd == NULL)
        return fail(e, "bad_request",
                    "give at least one of \"level\", \"mute_until\", \"content_free\", \"dnd\"");
    return true;
}

/* ---- moderation (issue 17) ---- */

/* "user": a user id like "u5"; "reason": an optional string. */
static bool arg_target(json_t *req, pl_cmd_mod_t *a, pl_cmd_err_t *e)
{
    json_t *u = json_object_get(req, "user");
    if (!json_is_string(u) || !pl_id_parse(json_string_value(u), 'u', &a->user))
        return fail(e, "bad_request", "\"user\" must be a user id like \"u1\"");
    json_t *r = json_object_get(req, "reason");
    a->reason = "";
    if (r == NULL || json_is_null(r))
        return true;
    if (!is_cstr(r))
        return fail(e, "bad_request", "\"reason\" must be a string");
    if (json_string_length(r) > PL_CMD_REASON_MAX)
        return fail(e, "too_large", "\"reason\" is longer than %d bytes", PL_CMD_REASON_MAX);
    a->reason = json_string_value(r);
    return true;
}

static bool parse_mod_target(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    (void)cfg;
    return arg_room(req, &c->u.mod.room, e) && arg_target(req, &c->u.mod, e);
}

static bool parse_set_role(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    if (!parse_mod_target(req, cfg, c, e))
        return false;
    json_t *r = json_object_get(req, "role");
    pl_role_t role;
    if (json_is_string(r) && pl_mod_role_parse(json_string_value(r), &role)) {
        c->u.mod.role = (int)role;
        return true;
    }
    return fail(e, "bad_request",
                "\"role\" must be \"member\", \"moderator\", \"admin\" or \"owner\"");
}

static bool parse_mute(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    if (!parse_mod_target(req, cfg, c, e))
        return false;
    if (!arg_int(req, "duration_ms", 0, PL_CMD_MUTE_MAX_MS, -1, &c->u.mod.duration_ms, e))
        return false;
    if (c->u.mod.duration_ms < 0)
        return fail(e, "bad_request", "\"duration_ms\" (0 to unmute) is required");
    return true;
}

static bool parse_bans(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    (void)cfg;
    return arg_room(req, &c->u.mod.room, e) &&
           arg_int(req, "limit", 1, 500, 100, &c->u.mod.limit, e);
}

/* audit: "room" optional (absent: the server-wide log, server admins). */
static bool parse_audit(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    (void)cfg;
    json_t *room = json_object_get(req, "room");
    c->u.mod.room = 0;
    if (room != NULL && !json_is_null(room) && !arg_room(req, &c->u.mod.room, e))
        return false;
    return arg_int(req, "before", 1, INT64_MAX, 0, &c->u.mod.before, e) &&
           arg_int(req, "limit", 1, 200, 50, &c->u.mod.limit, e);
}

/* ---- incoming webhooks (issue 16) ---- */

static bool parse_webhooks(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    (void)cfg;
    return arg_room(req, &c->u.webhook.room, e);
}

static bool parse_webhook_create(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    pl_cmd_webhook_t *a = &c->u.webhook;
    if (!parse_webhooks(req, cfg, c, e))
        return false;
    json_t *name = json_object_get(req, "name");
    if (!is_cstr(name) || !pl_hook_name_ok(json_string_value(name)))
        return fail(e, "bad_request", "\"name\" must be 1 to 64 bytes without control characters");
    a->name = json_string_value(name);
    json_t *icon = json_object_get(req, "icon_url");
    a->icon_url = "";
    if (icon != NULL && !json_is_null(icon)) {
        if (!is_cstr(icon) || !pl_hook_icon_ok(json_string_value(icon)))
            return fail(e, "bad_request", "\"icon_url\" must be an http(s) URL (<= 512 bytes)");
        a->icon_url = json_string_value(icon);
    }
    return true;
}

static bool parse_webhook_revoke(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e)
{
    if (!parse_webhooks(req, cfg, c, e))
        return false;
    json_t *w = json_object_get(req, "webhook");
    if (!json_is_string(w) || !pl_id_parse(json_string_value(w), 'w', &c->u.webhook.id))
        return fail(e, "bad_request", "\"webhook\" must be a webhook id like \"w1\"");
    return true;
}

typedef bool (*parse_fn)(json_t *req, const pl_config_t *cfg, pl_cmd_t *c, pl_cmd_err_t *e);

static const parse_fn parsers[PL_OP__COUNT] = {
    [PL_OP_AUTH] = parse_auth,
    [PL_OP_PING] = parse_none,
    [PL_OP_CREATE_ROOM] = parse_create_room,
    [PL_OP_JOIN] = parse_room,
    [PL_OP_LEAVE] = parse_room,
    [PL_OP_INVITE] = parse_invite,
    [PL_OP_INVITES] = parse_none,
    [PL_OP_DECLINE] = parse_room,
    [PL_OP_ROOMS] = parse_rooms,
    [PL_OP_SEND] = parse_send,
    [PL_OP_HISTORY] = parse_history,
    [PL_OP_SYNC] = parse_sync,
    [PL_OP_READ] = parse_mark,
    [PL_OP_EDIT] = parse_edit,
    [PL_OP_DELETE] = parse_delete,
    [PL_OP_REACT] = parse_react,
    [PL_OP_TYPING] = parse_typing,
    [PL_OP_DELIVERED] = parse_mark,
    [PL_OP_RECEIPTS] = parse_receipts,
    [PL_OP_THREAD] = parse_thread,
    [PL_OP_ROOM_SETTINGS] = parse_room_settings,
    [PL_OP_PRESENCE] = parse_presence,
    [PL_OP_PRESENCE_QUERY] = parse_none,
    [PL_OP_PROFILE_GET] = parse_profile_get,
    [PL_OP_PROFILE_SET] = parse_profile_set,
    [PL_OP_SETTINGS_GET] = parse_none,
    [PL_OP_SETTINGS_SET] = parse_settings_set,
    [PL_OP_SEARCH] = parse_search,
    [PL_OP_EMOJI_ADD] = parse_emoji_add,
    [PL_OP_EMOJI_REMOVE] = parse_emoji_remove,
    [PL_OP_EMOJI_LIST] = parse_emoji_list,
    [PL_OP_PUSH_KEY] = parse_none,
    [PL_OP_PUSH_SUBSCRIBE] = parse_push_subscribe,
    [PL_OP_PUSH_UNSUBSCRIBE] = parse_push_unsubscribe,
    [PL_OP_PUSH_SUBSCRIPTIONS] = parse_none,
    [PL_OP_PUSH_SETTINGS_GET] = parse_none,
    [PL_OP_PUSH_SETTINGS_SET] = parse_push_settings_set,
    /* calls (issue 19): call_cmd.c */
    [PL_OP_CALL_INVITE] = pl_call_cmd_invite,
    [PL_OP_CALL_RING] = pl_call_cmd_id,
    [PL_OP_CALL_ANSWER] = pl_call_cmd_id,
    [PL_OP_CALL_REJECT] = pl_call_cmd_id,
    [PL_OP_CALL_CANCEL] = pl_call_cmd_id,
    [PL_OP_CALL_HANGUP] = pl_call_cmd_id,
    [PL_OP_CALL_JOIN] = pl_call_cmd_id,
    [PL_OP_CALL_LEAVE] = pl_call_cmd_id,
    [PL_OP_CALL_SIGNAL] = pl_call_cmd_signal,
    [PL_OP_TURN_CREDENTIALS] = parse_none,
    [PL_OP_SET_ROLE] = parse_set_role, /* moderation (issue 17) */
    [PL_OP_KICK] = parse_mod_target,
    [PL_OP_BAN] = parse_mod_target,
    [PL_OP_UNBAN] = parse_mod_target,
    [PL_OP_MUTE] = parse_mute,
    [PL_OP_BANS] = parse_bans,
    [PL_OP_AUDIT] = parse_audit,
    [PL_OP_WEBHOOK_CREATE] = parse_webhook_create,
    [PL_OP_WEBHOOKS] = parse_webhooks,
    [PL_OP_WEBHOOK_REVOKE] = parse_webhook_revoke,
};

/* ---- the envelope ---- */

/* The text did not parse: the answer still names the request when its id
 * can be read without parsing. A valid JSON text that holds \u0000 is the
 * common case (jansson refuses NUL in strings), and it deserves a
 * bad_request that the client can match to its request, not a bad_json
 * with "re": null that leaves it waiting. */
static int refuse_text(const char *text, size_t len, const json_error_t *jerr, pl_cmd_t *c,
                       pl_cmd_err_t *e)
{
    enum json_error_code code = json_error_code(jerr);
    if (code == json_error_null_character || code == json_error_null_byte_in_key) {
        if (!pl_wire_peek_id(text, len, &c->re, &c->re_len)) {
            c->re = "null";
            c->re_len = 4;
        }
        fail(e, "bad_request", "strings must not contain \\u0000 (at position %d)", jerr->position);
        return -1;
    }
    fail(e, "bad_json", "invalid JSON at position %d: %s", jerr->position, jerr->text);
    return -1;
}

int pl_cmd_parse(const char *text, size_t len, const pl_config_t *cfg, pl_cmd_t *out,
                 pl_cmd_err_t *err)
{
    memset(out, 0, sizeof *out);
    out->op = PL_OP__COUNT;
    out->re = "null";
    out->re_len = 4;
    err->code = NULL;
    err->msg[0] = '\0';
    json_error_t jerr;
    out->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (out->root == NULL)
        return refuse_text(text, len, &jerr, out, err);
    json_t *req = out->root;
    if (!json_is_object(req))
        return fail(err, "bad_request", "a request must be a JSON object"), -1;
    json_t *id = json_object_get(req, "id");
    if (id != NULL && !json_is_integer(id) && !json_is_string(id))
        return fail(err, "bad_request", "\"id\" must be an integer or a string"), -1;
    if (id != NULL && json_is_string(id) && json_string_length(id) > MAX_ID_BYTES)
        return fail(err, "bad_request", "\"id\" is longer than 128 bytes"), -1;
    out->id = id;
    json_t *op = json_object_get(req, "op");
    if (!json_is_string(op))
        return fail(err, "bad_request", "\"op\" must be a string"), -1;
    const char *name = json_string_value(op);
    for (int i = 0; i < PL_OP__COUNT; i++) {
        if (strcmp(op_names[i].name, name) != 0)
            continue;
        out->op = (pl_op_t)i;
        return parsers[i](req, cfg, out, err) ? 0 : -1;
    }
    return fail(err, "unknown_op", "unknown op"), -1;
}

void pl_cmd_dispose(pl_cmd_t *c)
{
    switch (c->op) {
    case PL_OP_AUTH:
        free(c->u.auth.since);
        break;
    case PL_OP_SYNC:
        free(c->u.sync.since);
        break;
    case PL_OP_SEND:
        free(c->u.send.content);
        break;
    case PL_OP_EDIT:
        free(c->u.edit.content);
        break;
    case PL_OP_CALL_SIGNAL:
        free(c->u.call.signal);
        break;
    default:
        break;
    }
    memset(&c->u, 0, sizeof c->u);
    json_decref(c->root);
    c->root = NULL;
    c->id = NULL;
}
