/* SPDX-License-Identifier: MIT */
/* command.h -- a WebSocket request turned into a typed command, or into the
 * error reply it deserves. Pure: no session, no I/O, no store, no libuv;
 * unit-tested (tests/unit/test_chat_command.c) and fuzzed
 * (tests/fuzz/fuzz_command.c).
 *
 * What the parser decides is everything a request says about itself: the
 * JSON, the id, the op, each argument's presence, type, format and the
 * limits of the config. What needs the caller's state (is the caller in the
 * room, authenticated, allowed) is the handlers' business. */
#ifndef PL_CHAT_COMMAND_H
#define PL_CHAT_COMMAND_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chat/emoji.h"
#include "core/config.h"

/** The ops, in docs/protocol.md order. */
typedef enum {
    PL_OP_AUTH,
    PL_OP_PING,
    PL_OP_CREATE_ROOM,
    PL_OP_JOIN,
    PL_OP_LEAVE,
    PL_OP_INVITE,
    PL_OP_INVITES,
    PL_OP_DECLINE,
    PL_OP_ROOMS,
    PL_OP_SEND,
    PL_OP_HISTORY,
    PL_OP_SYNC,
    PL_OP_READ,
    PL_OP_EDIT,
    PL_OP_DELETE,
    PL_OP_REACT,
    PL_OP_TYPING,
    PL_OP_DELIVERED,
    PL_OP_RECEIPTS,
    PL_OP_THREAD,
    PL_OP_ROOM_SETTINGS,
    PL_OP_PRESENCE,
    PL_OP_PRESENCE_QUERY,
    PL_OP_PROFILE_GET,
    PL_OP_PROFILE_SET,
    PL_OP_SETTINGS_GET,
    PL_OP_SETTINGS_SET,
    PL_OP_SEARCH,
    PL_OP_EMOJI_ADD,
    PL_OP_EMOJI_REMOVE,
    PL_OP_EMOJI_LIST,
    PL_OP_PUSH_KEY, /* Web Push (issue 15): push_ops.c */
    PL_OP_PUSH_SUBSCRIBE,
    PL_OP_PUSH_UNSUBSCRIBE,
    PL_OP_PUSH_SUBSCRIPTIONS,
    PL_OP_PUSH_SETTINGS_GET,
    PL_OP_PUSH_SETTINGS_SET,
    PL_OP_CALL_INVITE, /* calls (issue 19): calls.c, call_cmd.c */
    PL_OP_CALL_RING,
    PL_OP_CALL_ANSWER,
    PL_OP_CALL_REJECT,
    PL_OP_CALL_CANCEL,
    PL_OP_CALL_HANGUP,
    PL_OP_CALL_JOIN,
    PL_OP_CALL_LEAVE,
    PL_OP_CALL_SIGNAL,
    PL_OP_TURN_CREDENTIALS,
    PL_OP_SET_ROLE, /* moderation (issue 17): mod.c */
    PL_OP_KICK,
    PL_OP_BAN,
    PL_OP_UNBAN,
    PL_OP_MUTE,
    PL_OP_BANS,
    PL_OP_AUDIT,
    PL_OP_WEBHOOK_CREATE, /* incoming webhooks (issue 16): webhooks.c */
    PL_OP_WEBHOOKS,
    PL_OP_WEBHOOK_REVOKE,
    PL_OP__COUNT
} pl_op_t;

/** A sync position: where the client is in one room (a `since` entry), and
 * later where a sync delivered it to. */
typedef struct {
    int64_t room;
    int64_t upto;   /* the sync delivered this room up to this seq */
    int64_t vupto;  /* ... and its updates up to this version */
    bool truncated; /* more=true for this room: skip held frames */
} pl_sync_pos_t;

/** Longest username (auth.h PL_USERNAME_MAX, repeated so this header stays
 * free of libuv; command.c checks they agree). */
#define PL_CMD_USERNAME_MAX 32

/* Per-op arguments. Strings and json_t pointers are borrowed from the
 * command's parsed request (valid until pl_cmd_dispose) unless marked
 * owned. Room, user, media and message ids are the numbers of "r1", "u1",
 * "f1", "m1". */
typedef struct {
    const char *token; /* 1..256 bytes */
    size_t token_len;
    pl_sync_pos_t *since; /* owned, sorted by room; NULL: no `since` */
    size_t nsince;
} pl_cmd_auth_t;

typedef struct {
    bool group; /* kind: "group" (else "dm") */
    json_t *members;
    const char *name;                    /* "" when absent (always "" for a dm) */
    char other[PL_CMD_USERNAME_MAX + 1]; /* dm: the other user, normalized */
} pl_cmd_create_room_t;

typedef struct {
    int64_t room;
    json_t *users; /* an array of valid usernames */
} pl_cmd_invite_t;

typedef struct {
    int64_t room;
    const char *client_id;            /* 1..max_client_id_len bytes */
    int64_t reply_to, thread, ttl_ms; /* 0: absent */
    char *content;                    /* owned: the content's compact JSON (<= max_content_bytes) */
    int64_t media;                    /* media id the content references, 0 = none */
    bool sticker;                     /* the media must be an image with a thumbnail */
} pl_cmd_send_t;

typedef struct {
    int64_t room;
    int64_t before; /* 0: no bound */
    int64_t after;  /* -1: absent (backwards from before) */
    int64_t limit;
} pl_cmd_history_t;

typedef struct {
    pl_sync_pos_t *since; /* owned, sorted by room, never NULL */
    size_t nsince;
} pl_cmd_sync_t;

/** read, delivered, delete (seq >= 0 for the markers, >= 1 for delete). */
typedef struct {
    int64_t room, seq;
} pl_cmd_room_seq_t;

typedef struct {
    int64_t room, seq;
    char *content; /* owned: compact JSON of a text content */
} pl_cmd_edit_t;

typedef struct {
    int64_t room, seq;
    const char *emoji; /* one emoji, or ":shortcode:" (custom) */
    bool custom;
    bool remove;
} pl_cmd_react_t;

typedef struct {
    int64_t room;
    bool typing;
} pl_cmd_typing_t;

/** join, leave, decline, and any op whose argument is only a room. */
typedef struct {
    int64_t room;
} pl_cmd_room_t;

typedef struct {
    int64_t room;
    int64_t after; /* receipts: user id cursor, 0: from the start */
} pl_cmd_receipts_t;

typedef struct {
    int64_t room, root, before, limit;
} pl_cmd_thread_t;

typedef struct {
    int64_t room;
    int64_t ms;       /* disappearing timer, -1 = unchanged */
    const char *name; /* new group name, NULL = unchanged */
    int64_t avatar;   /* media id, 0 = remove, -1 = unchanged */
} pl_cmd_room_settings_t;

typedef struct {
    int64_t user;                           /* 0: by username */
    char username[PL_CMD_USERNAME_MAX + 1]; /* lowercased; "" when by id */
} pl_cmd_profile_get_t;

typedef struct {
    const char *fields[3]; /* display_name, bio, status_text; NULL = unchanged */
    bool set_avatar;
    int64_t avatar; /* 0 = remove */
} pl_cmd_profile_set_t;

typedef struct {
    json_t *patch; /* an object of known settings with valid values */
} pl_cmd_settings_set_t;

typedef struct {
    const char *query; /* 1..200 bytes */
    int64_t room;      /* 0: every room of the caller */
    int64_t limit;
    int64_t before; /* message id cursor, 0: none */
} pl_cmd_search_t;

typedef struct {
    char shortcode[PL_SHORTCODE_MAX + 1]; /* emoji_list: the cursor ("" = start) */
    int64_t media;                        /* emoji_add */
} pl_cmd_emoji_t;

typedef struct {
    int64_t after; /* rooms: room id cursor, 0: from the start */
} pl_cmd_rooms_t;

typedef struct {
    bool away; /* status "away" (else "online") */
} pl_cmd_presence_t;

/** push_subscribe: a PushSubscription checked by pl_push_sub_parse
 * (endpoint https, keys of the right lengths, p256dh on the curve);
 * push_unsubscribe: endpoint only. Strings borrowed from the request. */
typedef struct {
    const char *endpoint;
    const char *p256dh, *auth; /* base64url, as the browser gave them */
} pl_cmd_push_sub_t;

/** push_settings_set: one row (room 0: the account's); -1 (-2 for
 * content_free) = unchanged. */
typedef struct {
    int64_t room;
    int level;          /* PL_PUSH_LEVEL_* (store.h) */
    int64_t mute_until; /* ms since the epoch, 0 = unmute */
    int content_free;   /* -1 = the server default, 0, 1 */
    bool set_dnd;
    int dnd_start, dnd_end; /* minutes after 00:00 UTC; -1 = off */
} pl_cmd_push_set_t;

/** The call ops (issue 19, call_cmd.c): call_invite sets room and video;
 * the others name a call; call_signal also a target user (0: the other
 * party of a 1:1 call) and the signal's compact JSON (owned). */
typedef struct {
    int64_t room;  /* call_invite */
    bool video;    /* call_invite: kind "video" (else "audio") */
    uint64_t call; /* the call id ("c" + 16 hex digits) */
    int64_t to;    /* call_signal: the participant it is for; 0 = the other one */
    char *signal;  /* call_signal, owned: {"type":"offer"|"answer"|"candidate",...} */
} pl_cmd_call_t;
/** Moderation (issue 17): set_role, kick, ban, unban, mute, bans, audit. */
#define PL_CMD_REASON_MAX 500          /* bytes of a moderation reason */
#define PL_CMD_MUTE_MAX_MS 31536000000 /* a year: the longest mute */
typedef struct {
    int64_t room;        /* 0: none given (audit: server-wide) */
    int64_t user;        /* the target ("u5") */
    int role;            /* set_role: pl_role_t (chat/mod_perm.h) */
    int64_t duration_ms; /* mute: 0 = unmute */
    const char *reason;  /* "" when absent */
    int64_t before;      /* audit: entry id cursor, 0: newest */
    int64_t limit;       /* audit, bans */
} pl_cmd_mod_t;
/** webhook_create (room, name, icon_url), webhooks (room), webhook_revoke
 * (room, id). Strings borrowed from the request. Issue 16. */
typedef struct {
    int64_t room;
    int64_t id;           /* webhook_revoke: the webhook ("w1") */
    const char *name;     /* webhook_create: pl_hook_name_ok */
    const char *icon_url; /* webhook_create: "" or pl_hook_icon_ok */
} pl_cmd_webhook_t;

/** A parsed request. */
typedef struct {
    pl_op_t op;
    json_t *root; /* owned: the request object (NULL if it did not parse) */
    json_t *id;   /* borrowed from root: an integer or a string <= 128 bytes; NULL: none */
    /* When root is NULL: the id's JSON text as found without parsing
     * (borrowed from the input; "null" when none could be read). */
    const char *re;
    size_t re_len;
    union {
        pl_cmd_auth_t auth;
        pl_cmd_create_room_t create_room;
        pl_cmd_room_t room; /* join, leave, decline */
        pl_cmd_invite_t invite;
        pl_cmd_rooms_t rooms;
        pl_cmd_send_t send;
        pl_cmd_history_t history;
        pl_cmd_sync_t sync;
        pl_cmd_room_seq_t mark; /* read, delivered, delete */
        pl_cmd_edit_t edit;
        pl_cmd_react_t react;
        pl_cmd_typing_t typing;
        pl_cmd_receipts_t receipts;
        pl_cmd_thread_t thread;
        pl_cmd_room_settings_t room_settings;
        pl_cmd_presence_t presence;
        pl_cmd_profile_get_t profile_get;
        pl_cmd_profile_set_t profile_set;
        pl_cmd_settings_set_t settings_set;
        pl_cmd_search_t search;
        pl_cmd_emoji_t emoji; /* emoji_add, emoji_remove, emoji_list */
        pl_cmd_push_sub_t push_sub;
        pl_cmd_push_set_t push_set;
        pl_cmd_call_t call;       /* call_* (issue 19) */
        pl_cmd_mod_t mod;         /* set_role, kick, ban, unban, mute, bans, audit */
        pl_cmd_webhook_t webhook; /* webhook_create, webhooks, webhook_revoke */
    } u;
} pl_cmd_t;

/** Why a request was refused: a documented error code (docs/protocol.md,
 * "Error codes": bad_json, bad_request, unknown_op, too_large, internal)
 * and a message for humans. */
typedef struct {
    const char *code; /* static string */
    char msg[256];
} pl_cmd_err_t;

/** Parses one request (len bytes at text, valid UTF-8 as the WebSocket
 * layer guarantees, not NUL-terminated) against the limits in cfg
 * (borrowed). Always fills *out so that the caller can answer: out->id
 * (or out->re when the JSON did not parse) is the request id whenever one
 * can be read, even when the rest of the request is refused. Returns 0 with
 * out->op and out->u set, or -1 with *err set. Either way the caller must
 * call pl_cmd_dispose(out). Any thread; no I/O. */
int pl_cmd_parse(const char *text, size_t len, const pl_config_t *cfg, pl_cmd_t *out,
                 pl_cmd_err_t *err);

/** Frees what the command owns (the parsed request, owned arguments).
 * Idempotent on a disposed command. */
void pl_cmd_dispose(pl_cmd_t *c);

/** The op's wire name ("send"); NULL for an out-of-range op. */
const char *pl_cmd_op_name(pl_op_t op);

/** True for the ops that need an authenticated session (all but auth and
 * ping). */
bool pl_cmd_needs_auth(pl_op_t op);

#endif
