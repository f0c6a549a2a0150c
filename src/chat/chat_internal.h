/* SPDX-License-Identifier: MIT */
/* chat_internal.h -- types shared by the chat core's files. Not a public API. */
#ifndef PL_CHAT_INTERNAL_H
#define PL_CHAT_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <uthash.h>

#include "chat/chat.h"
#include "core/buf.h"

typedef struct room {
    int64_t id;
    pl_room_kind_t kind;
    char *name;
    int64_t last_seq;
    int64_t *members; /* sorted user ids */
    size_t nmembers, cap;
    UT_hash_handle hh;
} room_t;

typedef struct session session_t;

typedef struct online {
    int64_t user_id;
    session_t *head; /* this user's authenticated sessions */
    UT_hash_handle hh;
} online_t;

/* A live event held back while the session's sync is in flight, so missed
 * events always precede live ones. */
typedef struct held {
    int64_t room, seq;
    pl_frame_t *frame;
    struct held *next;
} held_t;

struct session {
    pl_chat_t *chat;
    pl_conn_t *conn; /* NULL once the WebSocket is gone */
    int refs;        /* the connection + every pending async job */
    int64_t user_id; /* 0 until authenticated */
    int64_t device_id;
    bool authing;
    bool syncing;
    char *username;
    char *display_name;
    session_t *next, *prev; /* in online_t.head */
    held_t *held, **held_tail;
    size_t held_bytes;
    double tokens; /* rate limiter bucket */
    uint64_t refill_ns;
};

struct pl_chat {
    uv_loop_t *loop;
    const pl_config_t *cfg;
    pl_store_t *st;
    pl_server_t *srv;
    room_t *rooms;   /* uthash by id */
    online_t *users; /* uthash by user id */
    pl_chat_stats_t stats;
};

/* chat.c */
session_t *pl_chat__session_ref(session_t *s);
void pl_chat__session_unref(session_t *s);
room_t *pl_chat__room(pl_chat_t *chat, int64_t id);
room_t *pl_chat__room_add(pl_chat_t *chat, const pl_room_t *r);
bool pl_chat__is_member(const room_t *r, int64_t user);
void pl_chat__member_add(room_t *r, int64_t user);
void pl_chat__member_remove(room_t *r, int64_t user);
/** Queues a frame to every session of every member of room (holding it for
 * syncing sessions). seq is 0 for events outside the message timeline. */
void pl_chat__fanout(pl_chat_t *chat, room_t *room, int64_t seq, pl_frame_t *f);
/** Queues a frame to every session of one user. */
void pl_chat__send_user(pl_chat_t *chat, int64_t user, pl_frame_t *f);
/** Delivers the frames held during a sync, skipping what the sync sent. */
typedef struct {
    int64_t room;
    int64_t upto;   /* the sync delivered this room up to this seq */
    bool truncated; /* more=true for this room: skip held frames */
} pl_sync_pos_t;
void pl_chat__release_held(session_t *s, const pl_sync_pos_t *pos, size_t n);

/* wire.c: JSON out */
void pl_wire_json_string(pl_buf_t *b, const char *s);
void pl_wire_json_value(pl_buf_t *b, json_t *v); /* v may be NULL => null */
/** "room":...,"content":{...} fields of a message, without braces. */
void pl_wire_message_fields(pl_buf_t *b, const pl_message_t *m);
/** Sends {"re":id,"ok":true<fields>} where fields is "" or ",\"k\":v...". */
void pl_wire_reply_ok(session_t *s, json_t *id, const char *fields, size_t len);
/** Sends {"re":id,"ok":false,"error":{"code":code,"message":msg}}. */
void pl_wire_reply_err(session_t *s, json_t *id, const char *code, const char *msg);
/** Sends the text on the session's connection if it is still open. */
void pl_wire_send(session_t *s, const char *data, size_t len);

/* ops.c */
/** Handles one parsed request object. id is borrowed (may be NULL). */
void pl_ops_dispatch(session_t *s, json_t *id, json_t *req);

#endif
