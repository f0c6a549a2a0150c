/* SPDX-License-Identifier: MIT */
/* sync.c -- bringing a session up to date: auth (which may
 * carry a sync) and sync, answered from the rooms' rings when they hold
 * the gap, else from the store, with live events held until the answer is
 * out. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "auth/auth.h"
#include "chat/handlers.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

/* ---- auth ---- */

/* below */
static void sync_start(session_t *s, json_t *id, pl_sync_pos_t *pos, size_t n, pl_buf_t *auth);

typedef struct {
    job_t j;
    unsigned char hash[32];
    int64_t user_id, device_id;
    pl_user_t user;
    pl_profile_t prof;
    bool with_since;      /* auth runs a sync before its reply */
    pl_sync_pos_t *since; /* sorted by room */
    size_t nsince;
} auth_job_t;

static void auth_work(pl_db_t *db, void *arg)
{
    auth_job_t *a = arg;
    int rc = pl_db_session_lookup(db, a->hash, pl_now_ms(), &a->user_id, &a->device_id);
    if (rc == PL_ENOTFOUND) {
        pl_ops__job_fail(&a->j, "unauthenticated", "invalid or revoked token");
        return;
    }
    if (rc == 0)
        rc = pl_db_user_by_id(db, a->user_id, &a->user);
    if (rc == 0)
        rc = pl_db_profile_get(db, a->user_id, NULL, &a->prof);
    if (rc < 0)
        pl_ops__job_store_error(&a->j, rc);
}

static void auth_done(int status, void *arg)
{
    auth_job_t *a = arg;
    pl_ops__job_check(&a->j, status);
    session_t *s = a->j.s;
    s->authing = false;
    if (a->j.code != NULL) {
        pl_wire_reply_err(s, a->j.id, a->j.code, a->j.msg);
    } else if (s->conn != NULL) {
        s->user_id = a->user_id;
        s->device_id = a->device_id;
        pl_chat__session_names(s, a->user.username, a->user.display_name);
        s->read_receipts = s->show_presence = true;
        if (a->with_since) {
            /* Hold everything from the moment the session is online: the
             * sync reads the store after this point, so each message is
             * either in its result or held (and skipped if both). */
            s->syncing = true;
            s->hold_all = true;
        }
        pl_conn_set_authenticated(s->conn); /* net: full message size, no auth deadline */
        pl_chat__online_add(s->chat, s);
        pl_bus__session_online(s->chat, s);
        pl_presence__update(s->chat, s->user_id);
        pl_ops__apply_settings(s->chat, s->user_id, a->prof.settings);
        pl_log(PL_LOG_INFO, "chat",
               "conn=%" PRIu64 " user=u%" PRId64 " device=d%" PRId64 " authenticated",
               pl_conn_id(s->conn), s->user_id, s->device_id);
        pl_buf_t b;
        pl_buf_init(&b);
        pl_buf_lit(&b, ",\"user\":");
        pl_wire_user_json(&b, s->user_id, s->username, s->display_name);
        pl_buf_printf(&b, ",\"device_id\":\"d%" PRId64 "\"", s->device_id);
        if (a->with_since) {
            sync_start(s, a->j.id, a->since, a->nsince, &b); /* takes since and b */
            a->since = NULL;
        } else {
            pl_wire_reply_ok(s, a->j.id, pl_buf_head(&b), b.len);
            pl_buf_dispose(&b);
        }
    }
    free(a->since);
    pl_user_dispose(&a->user);
    pl_profile_dispose(&a->prof);
    pl_ops__job_dispose(&a->j);
    free(a);
}

void pl_ops_auth(session_t *s, pl_cmd_t *c)
{
    if (s->user_id != 0) {
        pl_wire_reply_err(s, c->id, "bad_request", "already authenticated");
        return;
    }
    if (s->authing) {
        pl_wire_reply_err(s, c->id, "bad_request", "an auth request is already in progress");
        return;
    }
    pl_cmd_auth_t *arg = &c->u.auth;
    auth_job_t *a = pl_xcalloc(1, sizeof *a);
    pl_ops__job_init(&a->j, s, c->id);
    a->with_since = arg->since != NULL;
    a->since = arg->since; /* taken */
    a->nsince = arg->nsince;
    arg->since = NULL;
    pl_auth_token_hash(arg->token, arg->token_len, a->hash);
    s->authing = true;
    pl_store_read(s->chat->st, auth_work, auth_done, a);
}

/* ---- sync ---- */

typedef struct {
    job_t j;
    int64_t user;
    int64_t budget;       /* events left (sync_max_messages) */
    pl_sync_pos_t *since; /* request positions (upto = seq, vupto = version), by room */
    size_t nsince;
    pl_sync_pos_t *pos; /* per room of the user: delivered up to / truncated */
    size_t npos;
    /* The events, all rooms: each room's updates (version order), then its
     * messages; at most max_reply_bytes of them (page.c). */
    pl_page_t page;
    bool more;
    bool auth;      /* run by auth with since: the reply is auth's */
    pl_buf_t reply; /* auth: its reply fields (user, device_id) */
} sync_job_t;

static int cmp_pos(const void *a, const void *b)
{
    int64_t x = ((const pl_sync_pos_t *)a)->room, y = ((const pl_sync_pos_t *)b)->room;
    return x < y ? -1 : x > y;
}

/* A room's updates after version v of messages up to seq `after`, chunk by
 * chunk. False when the budget or the page cut them short. */
static bool sync_updates(pl_db_t *db, sync_job_t *q, int64_t room, int64_t after, int64_t v)
{
    for (;;) {
        if (q->budget <= 0 || q->page.full)
            return false;
        pl_message_t *m = NULL;
        size_t n = 0;
        int64_t k = PL_MIN(q->budget, (int64_t)PL_PAGE_CHUNK);
        if (pl_db_messages_updated(db, room, after, v, k, &m, &n) < 0)
            return false;
        bool cut = false;
        for (size_t i = 0; i < n && !cut; i++) {
            if (!pl_page_add(&q->page, &m[i], PL_PAGE_EV_UPDATE)) {
                cut = true;
                break;
            }
            v = m[i].version;
            q->budget--;
        }
        pl_messages_free(m, n);
        if (cut)
            return false;
        if ((int64_t)n < k)
            return true;
    }
}

/* A room's messages after seq `after` up to `last` (the snapshot's), chunk
 * by chunk. Returns the last seq delivered. */
static int64_t sync_messages(pl_db_t *db, sync_job_t *q, int64_t room, int64_t after, int64_t last)
{
    int64_t cur = after;
    while (cur < last && q->budget > 0 && !q->page.full) {
        pl_message_t *m = NULL;
        size_t n = 0;
        int64_t k = PL_MIN(q->budget, (int64_t)PL_PAGE_CHUNK);
        if (pl_db_messages_after(db, room, cur, k, &m, &n) < 0)
            break;
        bool stop = (int64_t)n < k; /* nothing after these */
        for (size_t i = 0; i < n; i++) {
            if (m[i].seq > last || !pl_page_add(&q->page, &m[i], PL_PAGE_EV_MESSAGE)) {
                stop = true;
                break;
            }
            cur = m[i].seq;
            q->budget--;
        }
        pl_messages_free(m, n);
        if (stop)
            break;
    }
    return cur;
}

/* Why updates come before the room's new messages: a client advances its
 * room version from every event it sees, and new messages carry their
 * current version, which may be newer than an update of an older message.
 * Sending the updates first (in version order) keeps "ignore an update whose
 * version is <= mine" correct. Rooms are read PL_PAGE_CHUNK rows at a time, so
 * a page holds at most max_reply_bytes of events (plus one) and the rows in
 * memory at most one chunk more. */
static void sync_work(pl_db_t *db, void *arg)
{
    sync_job_t *q = arg;
    pl_room_summary_t *sum = NULL;
    size_t n = 0;
    int rc = pl_db_user_rooms(db, q->user, &sum, &n);
    if (rc < 0) {
        pl_ops__job_store_error(&q->j, rc);
        return;
    }
    q->pos = pl_xcalloc(n ? n : 1, sizeof *q->pos);
    for (size_t i = 0; i < n; i++) {
        pl_sync_pos_t key = {.room = sum[i].room.id};
        pl_sync_pos_t *have = bsearch(&key, q->since, q->nsince, sizeof key, cmp_pos);
        int64_t after = have ? have->upto : 0, vafter = have ? have->vupto : 0;
        int64_t last = sum[i].room.last_seq, lastv = sum[i].room.last_version;
        pl_sync_pos_t *p = &q->pos[q->npos++];
        p->room = key.room;
        p->upto = after > last ? after : last;
        p->vupto = vafter > lastv ? vafter : lastv;
        if (lastv > vafter && after > 0 && !sync_updates(db, q, key.room, after, vafter)) {
            /* Cut short: the messages wait for the next sync. */
            p->truncated = q->more = true;
            continue;
        }
        if (last > after) {
            int64_t got = sync_messages(db, q, key.room, after, last);
            if (got < last) {
                p->truncated = q->more = true;
                p->upto = got;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        pl_room_dispose(&sum[i].room);
    free(sum);
}

/* The end of a sync's answer: its reply, after which the live events held
 * during the sync go out (reply.c). pos is taken (may be NULL). */
static void sync_reply(session_t *s, pl_frame_t *f, pl_sync_pos_t *pos, size_t n, bool drop)
{
    pl_sync_end_t *end = pl_xcalloc(1, sizeof *end);
    end->pos = pos;
    end->n = n;
    end->drop_timeline = drop;
    pl_reply__frame(s, f, PL_OUT_SYNC_END, end);
}

static void sync_done(int status, void *arg)
{
    sync_job_t *q = arg;
    pl_ops__job_check(&q->j, status);
    session_t *s = q->j.s;
    if (q->j.code != NULL && q->auth) {
        /* The session is authenticated already: answer auth, and tell the
         * client to sync everything itself (its held timeline events go,
         * since the sync it makes will deliver them). */
        pl_buf_lit(&q->reply, ",\"more\":true,\"count\":0");
        sync_reply(s, pl_wire_ok_frame(q->j.id, pl_buf_head(&q->reply), q->reply.len), NULL, 0,
                   true);
    } else if (q->j.code != NULL) {
        sync_reply(s, pl_wire_err_frame_id(q->j.id, q->j.code, q->j.msg, 0), NULL, 0, false);
    } else {
        for (size_t i = 0; i < q->page.n; i++) {
            pl_str_t e = pl_page_entry(&q->page, i);
            pl_reply__frame(s, pl_frame_new_text(e.p, e.len), PL_OUT_PART, NULL);
        }
        pl_buf_t b;
        pl_buf_init(&b);
        if (q->auth)
            pl_buf_append(&b, pl_buf_head(&q->reply), q->reply.len);
        pl_buf_printf(&b, ",\"more\":%s,\"count\":%zu", q->more ? "true" : "false", q->page.n);
        sync_reply(s, pl_wire_ok_frame(q->j.id, pl_buf_head(&b), b.len), q->pos, q->npos, false);
        q->pos = NULL;
        pl_buf_dispose(&b);
        if (q->more)
            pl_log(PL_LOG_DEBUG, "chat",
                   "conn=%" PRIu64 " user=u%" PRId64 " sync paged events=%zu "
                   "bytes=%zu",
                   s->conn ? pl_conn_id(s->conn) : 0, s->user_id, q->page.n, q->page.text.len);
    }
    pl_buf_dispose(&q->reply);
    pl_page_dispose(&q->page);
    free(q->since);
    free(q->pos);
    pl_ops__job_dispose(&q->j);
    free(q);
}

/* Answers a sync from the rooms' rings when every gap lies inside them:
 * no database read. Live events are held (syncing) until the answer's
 * reply is on the connection, as for a store sync, since a long answer may
 * stream out over several drains. Returns false, having sent
 * nothing and taken nothing, when any room needs the store: updates of
 * messages the client has (version moved past its `since`), a gap older than
 * the ring, or more than a sync's budget. Same arguments as sync_start. */
static bool sync_from_ring(session_t *s, json_t *id, pl_sync_pos_t *since, size_t n, pl_buf_t *auth)
{
    pl_chat_t *chat = s->chat;
    /* In a cluster this node's room positions may lag the store: read it. */
    if (chat->cfg->sync_ring_size == 0 || s->conn == NULL || chat->cluster != NULL)
        return false;
    umember_t *um = NULL;
    HASH_FIND(hh, chat->members, &s->user_id, sizeof s->user_id, um);
    uint32_t nrooms = um ? um->n : 0;
    pl_sync_pos_t *pos = pl_xcalloc(nrooms ? nrooms : 1, sizeof *pos);
    int64_t total = 0;
    size_t bytes = 0, max_bytes = (size_t)chat->cfg->max_reply_bytes;
    for (uint32_t i = 0; i < nrooms; i++) {
        const room_t *r = um->rooms[i];
        pl_sync_pos_t key = {.room = r->id};
        const pl_sync_pos_t *have = bsearch(&key, since, n, sizeof key, cmp_pos);
        int64_t after = have ? have->upto : 0, vafter = have ? have->vupto : 0;
        bool ok = !(r->last_version > vafter && after > 0);
        if (ok && r->last_seq > after) {
            total += r->last_seq - after;
            ok = total <= chat->cfg->sync_max_messages && pl_chat__ring_get(r, after + 1) &&
                 pl_chat__ring_get(r, r->last_seq);
            /* The store pages by bytes too: a gap over the budget goes there. */
            for (int64_t seq = after + 1; ok && seq <= r->last_seq; seq++) {
                bytes += pl_frame_size(pl_chat__ring_get(r, seq)->frame);
                ok = bytes <= max_bytes || total == 1;
            }
        }
        if (!ok) {
            free(pos);
            return false;
        }
        pos[i].room = r->id;
        pos[i].upto = after > r->last_seq ? after : r->last_seq;
        pos[i].vupto = vafter > r->last_version ? vafter : r->last_version;
    }
    /* Live events are held until the answer (the very frames fan-out sent,
     * one reference each) is on the connection; then those held since auth
     * (hold_all) or during the stream follow (reply.c). */
    s->syncing = true;
    for (uint32_t i = 0; i < nrooms; i++) {
        const room_t *r = um->rooms[i];
        pl_sync_pos_t key = {.room = r->id};
        const pl_sync_pos_t *have = bsearch(&key, since, n, sizeof key, cmp_pos);
        for (int64_t seq = (have ? have->upto : 0) + 1; seq <= r->last_seq; seq++)
            pl_reply__frame(s, pl_frame_ref(pl_chat__ring_get(r, seq)->frame), PL_OUT_PART, NULL);
    }
    pl_buf_t b;
    pl_buf_init(&b);
    if (auth != NULL)
        pl_buf_append(&b, pl_buf_head(auth), auth->len);
    pl_buf_printf(&b, ",\"more\":false,\"count\":%" PRId64, total);
    sync_reply(s, pl_wire_ok_frame(id, pl_buf_head(&b), b.len), pos, nrooms, false);
    pl_buf_dispose(&b);
    if (auth != NULL)
        pl_buf_dispose(auth);
    chat->stats.syncs_from_ring++;
    free(since);
    return true;
}

/* Starts a sync job from pos (taken). auth: NULL for the sync op, else the
 * auth reply's fields (taken; the reply then answers auth). The session
 * holds live events from now until the sync's reply is on the connection
 * (reply.c, PL_OUT_SYNC_END). Answered from the rings
 * instead when they hold everything the client misses. */
static void sync_start(session_t *s, json_t *id, pl_sync_pos_t *pos, size_t n, pl_buf_t *auth)
{
    if (sync_from_ring(s, id, pos, n, auth))
        return;
    s->chat->stats.syncs_from_store++;
    sync_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, id);
    q->user = s->user_id;
    q->budget = s->chat->cfg->sync_max_messages;
    q->since = pos;
    q->nsince = n;
    pl_page_init(&q->page, (size_t)s->chat->cfg->max_reply_bytes);
    if (auth != NULL) {
        q->auth = true;
        q->reply = *auth;
    } else {
        pl_buf_init(&q->reply);
    }
    s->syncing = true;
    pl_store_read(s->chat->st, sync_work, sync_done, q);
}

void pl_ops_sync(session_t *s, pl_cmd_t *c)
{
    if (s->syncing) {
        pl_wire_reply_err(s, c->id, "busy", "a sync is already in progress");
        return;
    }
    pl_cmd_sync_t *arg = &c->u.sync;
    sync_start(s, c->id, arg->since, arg->nsince, NULL); /* takes since */
    arg->since = NULL;
}
