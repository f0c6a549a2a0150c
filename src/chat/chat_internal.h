/* SPDX-License-Identifier: MIT */
/* chat_internal.h -- types shared by the chat core's files. Not a public API. */
#ifndef PL_CHAT_INTERNAL_H
#define PL_CHAT_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <uthash.h>

#include "chat/chat.h"
#include "chat/command.h"
#include "chat/emoji.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/ratelimit.h"

typedef struct session session_t;

/* One authenticated session in a room's list of online recipients. */
typedef struct {
    session_t *s;  /* NULL: removed during a walk (a hole, compacted after) */
    uint32_t slot; /* index of this room in s->rooms */
} live_t;

typedef struct room {
    int64_t id;
    pl_room_kind_t kind;
    char *name;
    int64_t last_seq;
    int64_t last_version;    /* version of the newest mutation (edit, delete, react, ...) */
    int64_t disappearing_ms; /* timer of new messages, 0 = off */
    int64_t *members;        /* sorted user ids */
    size_t nmembers, cap;
    /* The online sessions of the members, in no order: fan-out walks this
     * instead of looking every member up. Kept by route.c on auth, close,
     * member_add and member_remove. */
    live_t *live;
    uint32_t nlive, livecap;
    uint32_t walking; /* fan-outs in progress over live (removals leave holes) */
    bool holes;
    /* The newest committed `message` events, as the very frames fan-out
     * sent (seqs consecutive, oldest at ring[ring_head]; capacity
     * sync_ring_size, allocated at the first message). A sync whose gap lies
     * inside it is answered from here without a database read. Entries whose
     * message changed are dropped (pl_chat__ring_trim), so every frame here is
     * the message's current state. */
    struct ring_ent *ring;
    uint32_t ring_head, ring_n, ring_cap;
    /* cluster (relay.c): sessions in live (holes excluded; the node watches
     * the room's channel while > 0); last_seq / last_version are known to be
     * current (set when the subscription is confirmed and the store read);
     * a backfill in flight, and another wanted after it. */
    uint32_t nsess;
    bool cl_fresh;
    bool bf_running, bf_again;
    bool bf_retry; /* a backfill failed (store busy or down): the tick tries again */
    /* Membership catch-up (catchup.c): chat->cl_mepoch at the room's last
     * membership change, and the receipt markers this node's sessions were
     * given (by user id; kept while the room is watched, freed after), so
     * a catch-up from the store sends only what is news. */
    uint64_t cl_mtouch;
    /* Web Push (push_ops.c, room_push_targets): how many members (0, 1, 2 =
     * more) may have a push subscription, the first of them, valid while
     * push_gen == chat->push_gen and push_mtouch == cl_mtouch. */
    uint64_t push_gen, push_mtouch;
    int64_t push_first;
    uint8_t push_count;
    struct rcpt_mark *rcpt;
    uint32_t nrcpt, rcptcap;
    UT_hash_handle hh;
} room_t;

/* A member's receipt markers as this node's sessions last heard them
 * (read_seq -1: not heard, only the delivered marker was shown). */
typedef struct rcpt_mark {
    int64_t user;
    int64_t read_seq, delivered_seq;
} rcpt_mark_t;

typedef struct ring_ent {
    int64_t seq;
    pl_frame_t *frame;
} ring_ent_t;

/* A session's entry for one of its rooms (back index into room->live). */
typedef struct {
    room_t *room;
    uint32_t idx;
} rslot_t;

/* The rooms of a user (every user with a membership, online or not). */
typedef struct umember {
    int64_t user_id;
    room_t **rooms;
    uint32_t n, cap;
    UT_hash_handle hh;
} umember_t;

/* A user with sessions, or inside the offline grace period after the last
 * one closed (head NULL), with the user's presence: one hash entry per online
 * user (an idle connection's memory counts; docs/performance.md). */
typedef struct online {
    int64_t user_id;
    session_t *head;       /* this user's authenticated sessions; NULL in grace */
    int64_t offline_at_ms; /* > 0: no sessions; goes offline at this time */
    int status;            /* PL_PRES_* */
    bool pres;             /* presence computed (status, visible are set) */
    bool visible;          /* show_presence */
    uint16_t rl_pending;   /* requests taken since the last shared sync (shared.c) */
    pl_bucket_t bucket;    /* requests of all the user's sessions (rate_limit_per_sec) */
    UT_hash_handle hh;
} online_t;

/* A live event held back while the session's sync is in flight, so missed
 * events always precede live ones. */
typedef struct held {
    int64_t room, seq;
    int64_t version; /* of an `update` event (seq is 0 then) */
    pl_frame_t *frame;
    struct held *next;
} held_t;

struct session {
    pl_chat_t *chat;
    pl_conn_t *conn; /* NULL once the WebSocket is gone */
    int refs;        /* the connection + every pending async job */
    /* the bools share the word after refs (an idle session's memory counts:
     * 152 bytes, a 160-byte malloc chunk; docs/performance.md) */
    bool authing;
    bool syncing;
    bool hold_all;   /* auth with since: hold every event, not only the timeline */
    bool away;       /* last reported presence of this session */
    int64_t user_id; /* 0 until authenticated */
    int64_t device_id;
    /* one malloc'd block (pl_chat__session_names): the user name, then the
     * display name (NULL: none); free username only */
    char *username;
    char *display_name;
    session_t *next, *prev; /* in online_t.head */
    rslot_t *rooms;         /* the rooms whose live list holds this session */
    uint32_t nrooms, roomcap;
    held_t *held, **held_tail;
    size_t held_bytes;
    /* Cluster only (reply.c): where the last sync left each room, until
     * live events pass it. A node whose room position lagged the store
     * (another node died before publishing) backfills and fans out events
     * this session's sync already delivered; they are dropped here. */
    pl_sync_pos_t *synced;
    uint32_t nsynced;
    /* Replies (reply.c): requests accepted and not answered yet (their reply
     * is not on the connection), reply bytes put on the connection since it
     * last drained, and the replies waiting for it to drain (NULL: none). */
    uint32_t inflight;
    uint32_t reply_out;
    bool read_receipts; /* the user's settings, kept current on every session */
    bool show_presence;
    struct outbox *ob;
    /* Per-room typing throttle, oldest entry reused: PL_TYPING_SLOTS entries,
     * allocated by the first `typing` op (most sessions never send one, and
     * an idle session must stay small: issue 5). */
    struct typing_slot {
        int64_t room;
        uint64_t at_ns; /* last typing:true that went out */
    } * typing;
};

#define PL_TYPING_SLOTS 8

enum { PL_PRES_OFFLINE = 0, PL_PRES_ONLINE = 1, PL_PRES_AWAY = 2 };

struct pl_chat {
    uv_loop_t *loop;
    const pl_config_t *cfg;
    pl_store_t *st;
    pl_server_t *srv;
    room_t *rooms;        /* uthash by id */
    online_t *users;      /* uthash by user id */
    umember_t *members;   /* uthash by user id: user -> rooms */
    uv_timer_t tick;      /* sweeper + presence grace, every sweep_interval_ms */
    bool sweeping;        /* a sweep job is in flight */
    int64_t retire_after; /* retention sweep: messages with id <= this are done */
    bool closing;         /* the store refused a job: stop the timer */
    pl_ratelimit_t *iprl; /* requests before auth, per client address */
    pl_chat_stats_t stats;
    /* group membership and invitations (members.c): per-user buckets,
     * created at first use; indexed by pl_limit_t */
    pl_ratelimit_t *limits[2];
    pl_log_gate_t limits_log[2];  /* refusals of those limits: info once a second */
    pl_log_gate_t refused_log[2]; /* requests refused before parsing (rate, in flight) */
    pl_cluster_t *cluster;        /* the bus (relay.c); NULL: single node */
    struct pl_shared *shared;     /* presence and rate limits in Redis (shared.c) */
    /* relay.c: while rooms announced by other nodes are being loaded from
     * the store, later bus messages wait here, in arrival order, so no
     * session hears of a room before this node can route it. */
    int cl_loading;
    size_t cl_bf_retry;                      /* rooms with bf_retry set */
    struct relay_msg *cl_q_head, *cl_q_tail; /* malloc'd, linked by next */
    size_t cl_q_len;
    /* Web Push (issue 15, push_ops.c): NULL when off; wake tells the job
     * runner that pushes were enqueued. */
    struct pl_push *push;
    void (*push_wake)(void *ud);
    void *push_wake_ud;
    /* Users who may have a push subscription (push_ops.c): loaded from the
     * store when push is set, added on push_subscribe, dropped only by a
     * restart. push_gen counts additions (rooms cache their answer). Until
     * loaded, and on a cluster (subscriptions made on other nodes are not
     * seen here), every send builds its push context. */
    struct push_user *push_users;
    bool push_users_loaded;
    uint64_t push_gen;
    /* catchup.c: membership changes counted (room_t.cl_mtouch); a catch-up
     * in flight, another wanted after it, from cu_since (wall-clock ms). */
    uint64_t cl_mepoch;
    bool cu_running, cu_again;
    bool cu_failed;    /* the last one failed: the tick runs it again from cu_since */
    uint8_t cu_reruns; /* runs in a row that found rooms changed meanwhile */
    int64_t cu_since;
    int64_t cu_inv_upto;    /* invitations up to this time were caught up already */
    struct pl_calls *calls; /* calls (issue 19, calls.c); NULL until the first call op */
    /* moderation (issue 17, mod.c): the mutes in force, by (room, user) */
    struct mod_mute *mod_mutes;
};

/* Every async op carries this header: the session (referenced) and the
 * request id, plus an error to report if the job failed. */
typedef struct {
    session_t *s;
    json_t *id;
    const char *code; /* NULL: success */
    char msg[160];
} job_t;

/* route.c: the routing table (rooms, members, online sessions) and fan-out */
session_t *pl_chat__session_ref(session_t *s);
void pl_chat__session_unref(session_t *s);
/** Sets the session's user name and display name (NULL: none), copied into
 * one block (either may point into the old one). */
void pl_chat__session_names(session_t *s, const char *username, const char *display_name);
room_t *pl_chat__room(pl_chat_t *chat, int64_t id);
room_t *pl_chat__room_add(pl_chat_t *chat, const pl_room_t *r);
bool pl_chat__is_member(const room_t *r, int64_t user);
/** Membership changes also update the room's online list and the user's
 * room index. */
void pl_chat__member_add(pl_chat_t *chat, room_t *r, int64_t user);
void pl_chat__member_remove(pl_chat_t *chat, room_t *r, int64_t user);
/** Queues a frame to every session of every member of room (holding it for
 * syncing sessions). seq is that of a `message` event, version that of an
 * `update` event; both 0 for events outside the timeline (never held). */
void pl_chat__fanout(pl_chat_t *chat, room_t *room, int64_t seq, int64_t version, pl_frame_t *f);
/** Queues a frame to the sessions of every member except one user. */
void pl_chat__fanout_except(pl_chat_t *chat, room_t *room, int64_t except_user, pl_frame_t *f);
/** Queues a frame to every online user sharing a room with user (not user). */
void pl_chat__send_contacts(pl_chat_t *chat, int64_t user, pl_frame_t *f);
/* The same on this node only (relay.c delivers other nodes' events with
 * them). The functions above (in bus.c) also publish on the cluster bus,
 * and pl_chat__fanout passes message and update events through the order
 * gate (pl_bus__gate). */
void pl_chat__fanout_local(pl_chat_t *chat, room_t *room, int64_t seq, int64_t version,
                           pl_frame_t *f);
void pl_chat__fanout_except_local(pl_chat_t *chat, room_t *room, int64_t except_user,
                                  pl_frame_t *f);
void pl_chat__send_contacts_local(pl_chat_t *chat, int64_t user, pl_frame_t *f);
void pl_chat__send_user_local(pl_chat_t *chat, int64_t user, pl_frame_t *f);
void pl_chat__close_device_local(pl_chat_t *chat, int64_t user_id, int64_t device_id, uint16_t code,
                                 const char *reason);

/* bus.c: the outbound side of the cluster bus (publishing is a no-op
 * without one; the gate then only advances the room's position). relay.c,
 * the inbound side, has no internal API: its callbacks are installed by
 * pl_chat_cluster_handlers. */
/** Publishes a room event (seq: message, version: update, except: a user
 * whose sessions skip it). */
void pl_bus__room(pl_chat_t *chat, int64_t room, int64_t seq, int64_t version, int64_t except,
                  const pl_frame_t *f);
void pl_bus__user(pl_chat_t *chat, int64_t user, const pl_frame_t *f);
void pl_bus__contacts(pl_chat_t *chat, int64_t user, const pl_frame_t *f);
/** Membership committed here: other nodes update their routing table. */
void pl_bus__member(pl_chat_t *chat, int64_t room, int64_t user, bool added);
/** A room created or changed here: other nodes reload it from the store. */
void pl_bus__room_changed(pl_chat_t *chat, int64_t room);
/** A mute set here (issue 17): other nodes update their mute tables. */
void pl_bus__mute(pl_chat_t *chat, int64_t room, int64_t user, int64_t until);
void pl_bus__close_device(pl_chat_t *chat, int64_t user, int64_t device, uint16_t code,
                          const char *reason);
/** The order gate of a message (seq > 0) or update (version > 0) event:
 * true when it goes out now (the room's position moves to it), false for a
 * duplicate or after a gap (a backfill from the store delivers it). */
bool pl_bus__gate(pl_chat_t *chat, room_t *r, int64_t seq, int64_t version);

/** Reads from the store what the room's sessions have not had (refresh:
 * only the room's position, for a room watched again) and delivers it in
 * order; coalesced with one in flight. */
void pl_bus__backfill(pl_chat_t *chat, room_t *r, bool refresh);
/** A session went online (its rooms are in its live lists): while the bus
 * is down, the rooms it makes this node watch read their position from the
 * store at once instead of after the reconnect. */
void pl_bus__session_online(pl_chat_t *chat, session_t *s);
/** Starts again the backfills that failed (rooms with bf_retry; the tick). */
void pl_bus__retry_failed(pl_chat_t *chat);
/** Appends the `message` event frame of seq to the room's ring (a new
 * reference); a seq that does not follow the ring's last restarts it. */
void pl_chat__ring_push(pl_chat_t *chat, room_t *room, int64_t seq, pl_frame_t *f);
/** Drops the ring's entries with seq <= upto (their message changed). */
void pl_chat__ring_trim(pl_chat_t *chat, room_t *room, int64_t upto);
/** The ring entry of seq, or NULL if the ring does not hold it. */
const ring_ent_t *pl_chat__ring_get(const room_t *room, int64_t seq);
/** Encodes {"ev":"update","room","version","message"} once and fans it out;
 * advances the room's in-memory last_version and trims the ring. */
void pl_chat__emit_update(pl_chat_t *chat, const pl_message_t *m);
/** Records that the room's sessions were given user's receipt markers
 * (read_seq < 0: only the delivered marker). True when that is news: a
 * marker past what was recorded, or the first record of the user (only
 * for members; a non-member is never news). Watched rooms only: the record
 * is dropped when the node stops watching the room. */
bool pl_chat__rcpt_seen(room_t *r, int64_t user, int64_t read_seq, int64_t delivered_seq);
/** Whether user's receipt in r was recorded (pl_chat__rcpt_seen). */
bool pl_chat__rcpt_known(const room_t *r, int64_t user);

/* receipts.c */
/** The `receipt` event of r in room: *full with read_seq (the user's own
 * devices, and everyone when the user shows read receipts), *nored without
 * (refcount 1 each: pl_frame_unref). */
void pl_ops__receipt_frames(int64_t room, const pl_receipt_t *r, pl_frame_t **full,
                            pl_frame_t **nored);

/* catchup.c: membership, invitations and receipts after the bus lost
 * events (a Redis reconnect, a peer's lost publishes or death). */
/** Reads from the store the rooms (and pending invitations) of every user
 * with a session here and the members and receipts of every watched room,
 * and delivers the differences to this node's sessions as the ordinary
 * `room`, `member`, `invite` and `receipt` events. since_ms: the wall-clock
 * time from which events may be missing (invitations and receipts newer
 * than it, less a margin, are candidates; membership is compared whole).
 * Coalesced with one in flight. Loop thread. */
void pl_catchup__start(pl_chat_t *chat, int64_t since_ms);
/** Runs again a catch-up whose store read failed (the tick). */
void pl_catchup__retry_failed(pl_chat_t *chat);

/** Online sessions of a user (NULL if none). */
online_t *pl_chat__online(pl_chat_t *chat, int64_t user);
/** Queues a frame to every session of one user. */
void pl_chat__send_user(pl_chat_t *chat, int64_t user, pl_frame_t *f);

/* wire.c: JSON out */
void pl_wire_json_value(pl_buf_t *b, json_t *v); /* v may be NULL => null */
/** The User object {"id","username","display_name"} (NULL strings as ""). */
void pl_wire_user_json(pl_buf_t *b, int64_t id, const char *username, const char *display_name);
/** "room":...,"content":{...} fields of a message, without braces. */
void pl_wire_message_fields(pl_buf_t *b, const pl_message_t *m);
/** The frame {"re":id,"ok":true<fields>} where fields is "" or ",\"k\":v..."
 * (refcount 1: pl_frame_unref). */
pl_frame_t *pl_wire_ok_frame(json_t *id, const char *fields, size_t len);
/** The frame {"re":<re>,"ok":false,"error":{"code":code,"message":msg}}; re
 * is the id's JSON text (re_len bytes), e.g. "null". retry_after_ms > 0 adds
 * "retry_after_ms" to the error (rate_limited). */
pl_frame_t *pl_wire_err_frame(const char *re, size_t re_len, const char *code, const char *msg,
                              uint64_t retry_after_ms);
/** The same for a request id (borrowed; NULL: null). */
pl_frame_t *pl_wire_err_frame_id(json_t *id, const char *code, const char *msg,
                                 uint64_t retry_after_ms);
/** Answers a request with {"re":id,"ok":true<fields>} (pl_reply__frame). */
void pl_wire_reply_ok(session_t *s, json_t *id, const char *fields, size_t len);
/** Answers a request with {"re":id,"ok":true,"message":{<message fields>}}. */
void pl_wire_reply_message(session_t *s, json_t *id, const pl_message_t *m);
/** Answers a request with {"re":id,"ok":false,"error":{...}}. */
void pl_wire_reply_err(session_t *s, json_t *id, const char *code, const char *msg);
/** The same with "retry_after_ms": ms in the error object (rate_limited). */
void pl_wire_reply_err_retry(session_t *s, json_t *id, const char *code, const char *msg,
                             uint64_t retry_after_ms);

/* reply.c: the reply stream of a session. Every request accepted for
 * dispatch is counted until its reply is on the connection; replies go to
 * the connection while less than max_reply_bytes of them wait there since
 * it last drained, and otherwise queue on the session until it drains, so a
 * long answer streams out as the client reads it and never counts as a slow
 * consumer for its own size (docs/architecture.md, "Replies"). */
typedef enum {
    PL_OUT_PART,     /* part of an answer (a sync's event): not the reply yet */
    PL_OUT_EVENT,    /* a live event queued behind waiting replies */
    PL_OUT_REPLY,    /* the reply: ends a counted request */
    PL_OUT_SYNC_END, /* the reply of a sync: ends it, then releases held events */
} pl_out_kind_t;
/** What a sync's end releases (pl_reply__release_held's arguments; owned). */
typedef struct {
    pl_sync_pos_t *pos; /* malloc'd */
    size_t n;
    bool drop_timeline;
} pl_sync_end_t;
/** Delivers an event frame to a session (a new reference): held while
 * its sync is in flight (seq/version > 0: timeline events, or everything
 * with hold_all), else on the connection or behind its waiting replies. */
void pl_reply__deliver(session_t *s, int64_t room, int64_t seq, int64_t version, pl_frame_t *f);
/** Frees the events held for a session. */
void pl_reply__held_clear(session_t *s);
/** Delivers the frames held during a sync, skipping what the sync sent
 * (pl_sync_pos_t: command.h). drop_timeline: skip every held
 * message/update (the client was told more=true for everything); other
 * held events are still delivered. */
void pl_reply__release_held(session_t *s, const pl_sync_pos_t *pos, size_t n, bool drop_timeline);
/** Counts a request accepted for dispatch (its reply ends it). */
void pl_reply__begin(session_t *s);
/** Queues a frame of an answer (takes f; end: PL_OUT_SYNC_END only, taken). */
void pl_reply__frame(session_t *s, pl_frame_t *f, pl_out_kind_t kind, pl_sync_end_t *end);
/** Sends an answer to a request that was never counted (refused before
 * dispatch), past any waiting replies. Takes f. */
void pl_reply__now(session_t *s, pl_frame_t *f);
/** Queues an event (a new reference to f) behind the replies waiting on
 * the session (s->ob != NULL), so it does not overtake them. Waiting bytes
 * past max_write_queue make the client a slow consumer, as for events on
 * the connection (closed with 4008; PL_ETOOBIG). Returns 0. */
int pl_reply__event(session_t *s, pl_frame_t *f);
/** The connection drained: streams more. */
void pl_reply__drained(session_t *s);
/** Drops waiting replies (the connection is gone). */
void pl_reply__clear(session_t *s);

/* page.c: list replies within a byte budget (max_reply_bytes), built on a
 * store thread so the loop only frames them. An entry is one JSON value;
 * the first always fits (so paging always advances), later ones only while
 * the total stays within the budget. */
typedef enum {
    PL_PAGE_MESSAGE,    /* {<message fields>} */
    PL_PAGE_EV_MESSAGE, /* {"ev":"message",<fields>} */
    PL_PAGE_EV_UPDATE,  /* {"ev":"update","room","version","message":{...}} */
} pl_page_wrap_t;
typedef struct {
    pl_buf_t text; /* the entries back to back */
    size_t *end;   /* end offset of each entry in text */
    size_t n, cap;
    size_t budget;
    size_t start; /* of the entry being written (pl_page_open) */
    bool full;    /* an entry did not fit */
} pl_page_t;
void pl_page_init(pl_page_t *p, size_t budget);
/** Rows to fetch for a page of budget bytes whose entries are each more
 * than PL_PAGE_MIN_ENTRY bytes: more than can fit, so a page of them
 * always ends full when more rows follow (more = page.full). */
#define PL_PAGE_MIN_ENTRY 32
size_t pl_page_rows(size_t budget);
void pl_page_dispose(pl_page_t *p);
/** Starts an entry: write it into the returned buffer, then pl_page_close. */
pl_buf_t *pl_page_open(pl_page_t *p);
/** Ends the entry: true if it is kept, false (entry dropped, full set) when
 * it would take the page past its budget. */
bool pl_page_close(pl_page_t *p);
/** pl_page_open + the message in the given form + pl_page_close. */
bool pl_page_add(pl_page_t *p, const pl_message_t *m, pl_page_wrap_t wrap);
/** Entry i (borrowed). */
pl_str_t pl_page_entry(const pl_page_t *p, size_t i);
/** Appends the entries comma-separated, in order or reversed. */
void pl_page_join(const pl_page_t *p, pl_buf_t *out, bool reverse);

/* presence.c */
/** Recomputes a user's presence from their sessions; emits a `presence`
 * event only when the status changes (coalesced). */
void pl_presence__update(pl_chat_t *chat, int64_t user);
/** Timer: users whose grace period ended go offline. */
void pl_presence__tick(pl_chat_t *chat);
/** The user's visibility setting changed. */
void pl_presence__set_visible(pl_chat_t *chat, int64_t user, bool visible);
/** Status and last_seen for presence_query; status offline for unknown. */
int pl_presence__status(pl_chat_t *chat, int64_t user, bool *visible);
const char *pl_presence__name(int status);
/** The bus was set (on) or taken away: starts / stops the shared state
 * (shared.c) with presence.c's emitter. */
void pl_presence__cluster(pl_chat_t *chat, bool on);

/* shared.c: presence and per-user rate limits shared by the nodes in Redis
 * (cluster/state.h); without a bus, or while Redis is down, every call
 * declines and the node keeps its own view (per-node behaviour). */
/** Tells user's contacts (every node) the status; last_seen > 0 adds it. */
typedef void (*pl_shared_emit_fn)(pl_chat_t *chat, int64_t user, int status, int64_t last_seen);
/** Stores the user's last_seen (best effort). */
typedef void (*pl_shared_seen_fn)(pl_chat_t *chat, int64_t user, int64_t ms);
/** With the bus set: starts / stops the shared state (presence.c does,
 * giving its own functions: shared.c never calls presence.c, no cycle). */
void pl_shared__start(pl_chat_t *chat, pl_shared_emit_fn emit, pl_shared_seen_fn seen);
void pl_shared__stop(pl_chat_t *chat);
/** This node's status of user changed to status (PL_PRES_*; offline also
 * for a hidden user); last_seen for an offline event. Returns true when the
 * shared state took it (the contacts are told if the status over all nodes
 * changed, by the node whose change it was), false: emit locally. */
bool pl_shared__presence(pl_chat_t *chat, int64_t user, int status, int64_t last_seen);
/** A request of u was granted by its local bucket (the hot path: counts,
 * never waits for Redis). */
void pl_shared__count(pl_chat_t *chat, online_t *u);
/** Status over all nodes of n users; cb(arg, status) later, status NULL if
 * Redis failed. Returns false (cb never called): answer locally. */
bool pl_shared__query(pl_chat_t *chat, const int64_t *users, size_t n,
                      void (*cb)(void *arg, const int *status), void *arg);

/* push_ops.c: the push context of a send (NULL: nothing to push), built
 * on the loop for the write job (push/push.h) */
struct pl_push_ctx *pl_ops__push_ctx(pl_chat_t *chat, session_t *s, room_t *r);
/** The same for a message the server writes in the name of sender_name
 * (a call's history, calls_history.c). */
struct pl_push_ctx *pl_ops__push_ctx_named(pl_chat_t *chat, const char *sender_name, room_t *r);
/** After a send committed: wakes the job runner if pushes were enqueued. */
void pl_ops__push_sent(pl_chat_t *chat, struct pl_push_ctx *c);
/** Frees the set of users who may have push targets (pl_chat_free). */
void pl_ops__push_users_free(pl_chat_t *chat);

/* job.c: helpers shared by the op files */
void pl_ops__job_init(job_t *j, session_t *s, json_t *id);
void pl_ops__job_dispose(job_t *j);
void pl_ops__job_fail(job_t *j, const char *code, const char *msg);
void pl_ops__job_store_error(job_t *j, int rc);
/** In a write job's work: if rc < 0, reports it and rolls the job back. */
void pl_ops__job_write_end(job_t *j, pl_db_t *db, int rc);
void pl_ops__job_check(job_t *j, int status);
/** Done-callback preamble: pl_ops__job_check, and the error reply if the
 * job failed. True when the job succeeded. */
bool pl_ops__job_ok(job_t *j, int status);
/** Store thread: pages messages (newest first) before seq `before` (0: no
 * bound) through fetch, CHUNK rows at a time, so neither rows nor text
 * exceed the budget by more than one chunk; stops at limit. *more: older
 * messages exist. fetch is pl_db_messages_before or a thread's reader. */
/** Rows per read while paging: a page holds at most one chunk more than its
 * budget in rows (64 KiB messages: 1 MiB), whatever the request's limit. */
#define PL_PAGE_CHUNK 16
typedef int (*pl_fetch_before_fn)(pl_db_t *db, void *arg, int64_t before, int64_t limit,
                                  pl_message_t **out, size_t *n);
int pl_ops__page_before(pl_db_t *db, pl_fetch_before_fn fetch, void *arg, int64_t before,
                        int64_t limit, pl_page_t *pg, bool *more);
/** Loop: replies {"ok":true<prefix>,"<key>":[page, reversed if asked],"more":more}. */
void pl_ops__reply_page(session_t *s, json_t *id, const char *prefix, const char *key,
                        const pl_page_t *pg, bool reverse, bool more);
/** The room room_id when the caller is a member; otherwise replies
 * forbidden (the same for a room that does not exist) and returns NULL. */
room_t *pl_ops__member_room(session_t *s, json_t *id, int64_t room_id);
/** A change of a posted message (edit, delete: messages.c; react:
 * reactions.c): one write job around pl_db_message_change, whose done
 * replies with the message and fans the `update` out when it changed. */
typedef struct {
    job_t j;
    char *text;       /* owned: the edit's content or the reaction's emoji */
    pl_mentions_t pm; /* edit: the new body's mentions (parsed on the loop) */
    const char *names[PL_MENTIONS_MAX];
    char shortcode[PL_SHORTCODE_MAX + 1]; /* react: the custom emoji's name */
    pl_change_t c; /* the store's request (borrowing the fields above) and result */
} change_job_t;
/** A change job of room r's message seq by the session's user; fill the
 * kind's fields of c, then submit. */
change_job_t *pl_ops__change_new(session_t *s, json_t *id, const room_t *r, int64_t seq,
                                 pl_change_kind_t kind);
void pl_ops__change_submit(session_t *s, change_job_t *q);
/** Fails the job with the wire error of a store refusal (nothing for
 * PL_REFUSAL_NONE). */
void pl_ops__job_refused(job_t *j, pl_refusal_t r);
/** The @mentions of a send or edit request's content body (loop thread):
 * names[i] point into pm; *room is @room in a group. */
void pl_ops__mentions(const pl_cmd_t *c, pl_room_kind_t kind, pl_mentions_t *pm,
                      const char *names[PL_MENTIONS_MAX], bool *room);
/** Checks that media is an image the user uploaded, with a thumbnail (store
 * thread): for profile and group avatars. Returns 0, a store error, or 1
 * after failing the job (not_found / bad_request). */
int pl_ops__own_image(pl_db_t *db, job_t *j, int64_t user, int64_t media);
/** Applies a user's settings JSON (stored text) to every session flag. */
void pl_ops__apply_settings(pl_chat_t *chat, int64_t user, const char *settings);

/** The reply to any op on a room the caller is not in, the same for a room
 * that does not exist (a stranger learns nothing). */
#define PL_OPS_NOT_MEMBER "you are not a member of this room"

/* mod.c: moderation (issue 17). The permission table is mod_perm.h. */
/** Startup (direct connection): loads the mutes in force. */
int pl_mod__load(pl_chat_t *chat, pl_db_t *db);
void pl_mod__free(pl_chat_t *chat);
/** Loop: whether user may not send in room now (*until: till when). */
bool pl_mod__muted(pl_chat_t *chat, int64_t room, int64_t user, int64_t now_ms, int64_t *until);
/** Loop: records a mute (until 0: lifted) in the send path's table. */
void pl_mod__mute_set(pl_chat_t *chat, int64_t room, int64_t user, int64_t until);
/** Store thread, inside a delete's change job refused as NOT_AUTHOR: when
 * the caller's role allows deleting the author's message, deletes it, names
 * the caller in the tombstone ({"type":"deleted","by":"u3"}) and audits it;
 * otherwise leaves the refusal. Returns 0 or a store error. */
int pl_mod__delete_others(pl_db_t *db, pl_change_t *c);
/** Store thread, before a leave: the last owner of a group with other
 * members may not leave (fails j, PL_EFORBIDDEN). */
int pl_mod__leave_check(pl_db_t *db, job_t *j, int64_t room, int64_t user);
/** Store thread: fails j with forbidden/msg (PL_EFORBIDDEN) when user is
 * banned from room. */
int pl_mod__banned_check(pl_db_t *db, job_t *j, int64_t room, int64_t user, const char *msg);

/* messages.c */
/** Sweeper: one write job expiring due messages (chat.c's timer). */
void pl_ops_sweep(pl_chat_t *chat);

/* calls.c: voice and video call signalling (issue 19) */
/** Ends calls that rang call_ring_timeout_ms unanswered (missed) and group
 * calls left to one person that long (the chat tick). */
void pl_calls__tick(pl_chat_t *chat);
/** A session closed (after it was unrouted): when it was a call's
 * participant device and no other connection of that device is open, it
 * leaves the call (a 1:1 call ends: "disconnected"). */
void pl_calls__session_closed(pl_chat_t *chat, session_t *s);
/** Frees the call state (pl_chat_free). */
void pl_calls__free(pl_chat_t *chat);
/** Appends the URLs of a comma-separated list to the JSON array out. */
void pl_calls__split_urls(const char *list, json_t *out);
/* calls_history.c */
/** Writes a call's history message (content: content_len bytes of the
 * compact JSON of a "call" content, not NUL-terminated) into the room as from caller, with
 * client_id for idempotency; push: pushed like a message (a missed call). Loop thread. */
void pl_calls__history(pl_chat_t *chat, int64_t room_id, int64_t caller, const char *caller_name,
                       const char *content, size_t content_len, const char *client_id, bool push);

/* dispatch.c */
/** Parses one request (len bytes at data) and runs it, or answers the
 * command layer's error. Exactly one reply either way. */
void pl_ops_dispatch(session_t *s, const char *data, size_t len);

/* route.c: sessions coming and going, and teardown */
/** A session authenticated (sync.c): routes it to its user's rooms. The
 * caller then updates presence. */
void pl_chat__online_add(pl_chat_t *chat, session_t *s);
/** A session closed: unroutes it (its user entry stays while presence
 * needs it). */
void pl_chat__online_remove(pl_chat_t *chat, session_t *s);
/** Frees every room, user and membership entry (pl_chat_free). */
void pl_chat__routes_free(pl_chat_t *chat);

#endif
