/* SPDX-License-Identifier: MIT */
/* catchup.c -- what the cluster bus lost besides messages and edits:
 * membership (a user added to or removed from a room, a new dm or group),
 * pending invitations and receipts. The message backfill (bus.c) reads a
 * room's timeline after its position; these events have no position, so a
 * catch-up compares the store with what this node holds:
 *
 *  - membership exactly: the rooms of every user with a session here, and
 *    the members of every watched room, against the routing table (which
 *    holds every membership). Differences are applied to the table and told
 *    to this node's sessions as the ordinary events: `member` (join, leave)
 *    to the room's sessions, `room` to a user added, and for a room this
 *    node never heard of only `room` (as at creation).
 *  - invitations by time: a pending invitation of a user here made since
 *    the bus lost events (less CATCHUP_MARGIN_MS) and after the previous
 *    catch-up's read (chat->cu_inv_upto: several catch-ups of one outage,
 *    a resync and a peer's notice, send it once) goes out as `invite` add.
 *  - receipts by record: each watched room keeps the markers its sessions
 *    were given (route.c, pl_chat__rcpt_seen); a stored marker newer than
 *    since (less the margin) that is past the record goes out as `receipt`.
 *
 * One read job gathers it all (ids only where nothing changed; a room's
 * names and row only where its membership did). A membership change applied
 * while the read was in flight (a live event, newer than or equal to the
 * read) wins: that room is left alone and the catch-up runs once more.
 *
 * Delivered locally only: every node catches up its own sessions. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "chat/members.h"
#include "chat/room_info.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

/* Taken off since: the commit time of an event is the committing node's
 * clock, and a publish leaves shortly after its commit. */
#define CATCHUP_MARGIN_MS 2000
#define NAMES_MAX 256    /* users named per room for member events; more: only applied */
#define RECEIPT_PAGE 500 /* receipts per read */
#define RECEIPT_PAGES_MAX 40

typedef struct {
    int64_t id;
    bool watched;
    int64_t *snap; /* watched: the members this node had at the start (sorted) */
    size_t nsnap;
    /* results (store thread) */
    int rc;
    int64_t *ids; /* the members now (sorted) */
    size_t nids;
    room_info_t *ri; /* loaded when the membership differs, or a room found */
    pl_user_t *names;
    size_t nnames;
    pl_receipt_t *rcpt; /* markers moved since the since (watched rooms) */
    size_t nrcpt;
} cu_room_t;

typedef struct {
    int64_t id;
    int64_t *snap; /* the user's rooms in the routing table (sorted) */
    size_t nsnap;
    pl_invite_t *inv;
    size_t ninv;
} cu_user_t;

typedef struct {
    pl_chat_t *chat;
    int64_t since;    /* as asked (a re-run uses it again) */
    int64_t from_ms;  /* since less the margin */
    int64_t now_ms;   /* of the job's start (invitations live at it) */
    int64_t inv_from; /* invitations older than this are not sent */
    uint64_t epoch;   /* chat->cl_mepoch at the start */
    int64_t max_inv;  /* max_pending_invites_per_user */
    size_t nwatched;  /* rooms[0..nwatched): watched, sorted by id; then rooms found */
    cu_room_t *rooms;
    size_t nrooms, roomcap;
    cu_user_t *users;
    size_t nusers;
    int rc;
} cu_job_t;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static bool has(const int64_t *v, size_t n, int64_t x)
{
    return n > 0 && bsearch(&x, v, n, sizeof x, cmp_i64) != NULL;
}

static bool same(const int64_t *a, size_t na, const int64_t *b, size_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

/* ---- store thread ---- */

static cu_room_t *room_find(cu_job_t *j, int64_t id)
{
    size_t lo = 0, hi = j->nwatched;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (j->rooms[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < j->nwatched && j->rooms[lo].id == id)
        return &j->rooms[lo];
    for (size_t i = j->nwatched; i < j->nrooms; i++)
        if (j->rooms[i].id == id)
            return &j->rooms[i];
    return NULL;
}

/* The rooms of each user here that the routing table does not give them:
 * added to the job (read below like the watched ones). */
static int users_work(pl_db_t *db, cu_job_t *j)
{
    for (size_t i = 0; i < j->nusers; i++) {
        cu_user_t *u = &j->users[i];
        pl_room_summary_t *rs = NULL;
        size_t n = 0;
        int rc = pl_db_user_rooms(db, u->id, &rs, &n);
        if (rc < 0)
            return rc;
        for (size_t k = 0; k < n; k++) {
            int64_t id = rs[k].room.id;
            if (!has(u->snap, u->nsnap, id) && room_find(j, id) == NULL) {
                if (j->nrooms == j->roomcap) {
                    j->roomcap = j->roomcap ? j->roomcap * 2 : 8;
                    j->rooms = pl_xrealloc(j->rooms, j->roomcap * sizeof *j->rooms);
                }
                j->rooms[j->nrooms++] = (cu_room_t){.id = id};
            }
            pl_room_dispose(&rs[k].room);
        }
        free(rs);
        rc = pl_db_user_invites(db, u->id, j->now_ms, j->max_inv, &u->inv, &u->ninv);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Names of the users added to or removed from a watched room. */
static int names_work(pl_db_t *db, cu_room_t *q)
{
    q->names = pl_xcalloc(NAMES_MAX, sizeof *q->names);
    for (int pass = 0; pass < 2; pass++) {
        const int64_t *v = pass ? q->snap : q->ids;
        size_t n = pass ? q->nsnap : q->nids;
        const int64_t *other = pass ? q->ids : q->snap;
        size_t nother = pass ? q->nids : q->nsnap;
        for (size_t i = 0; i < n && q->nnames < NAMES_MAX; i++) {
            if (has(other, nother, v[i]))
                continue;
            int rc = pl_db_user_by_id(db, v[i], &q->names[q->nnames]);
            if (rc == PL_ENOTFOUND)
                continue;
            if (rc < 0)
                return rc;
            q->nnames++;
        }
    }
    return 0;
}

static int receipts_work(pl_db_t *db, cu_job_t *j, cu_room_t *q)
{
    int64_t after = 0;
    for (int page = 0; page < RECEIPT_PAGES_MAX; page++) {
        pl_receipt_t *v = NULL;
        size_t n = 0;
        int rc = pl_db_room_receipts(db, q->id, after, RECEIPT_PAGE, &v, &n);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i < n; i++) {
            if (v[i].read_ts < j->from_ms && v[i].delivered_ts < j->from_ms)
                continue;
            q->rcpt = pl_xrealloc(q->rcpt, (q->nrcpt + 1) * sizeof *q->rcpt);
            q->rcpt[q->nrcpt++] = v[i];
        }
        if (n > 0)
            after = v[n - 1].user_id;
        free(v);
        if (n < RECEIPT_PAGE)
            break;
    }
    return 0;
}

static void catchup_work(pl_db_t *db, void *arg)
{
    cu_job_t *j = arg;
    if ((j->rc = users_work(db, j)) < 0)
        return;
    for (size_t i = 0; i < j->nrooms; i++) {
        cu_room_t *q = &j->rooms[i];
        q->rc = pl_db_room_members(db, q->id, &q->ids, &q->nids);
        if (q->rc == PL_ENOTFOUND)
            continue;
        if (q->rc < 0) {
            j->rc = q->rc;
            return;
        }
        if (!q->watched || !same(q->ids, q->nids, q->snap, q->nsnap)) {
            if ((j->rc = pl_ops__room_info_load(db, q->id, &q->ri)) < 0)
                return;
            if (q->watched && (j->rc = names_work(db, q)) < 0)
                return;
        }
        if (q->watched && (j->rc = receipts_work(db, j, q)) < 0)
            return;
    }
}

/* ---- loop: events ---- */

static const pl_user_t *name_of(const cu_room_t *q, int64_t id)
{
    for (size_t i = 0; i < q->nnames; i++)
        if (q->names[i].id == id)
            return &q->names[i];
    return NULL;
}

/* {"ev":"member","room","action","user"} to the room's sessions here (and
 * to a leaver's own). A user without a name here (past NAMES_MAX) is told
 * nothing: the room's member list has them. */
static void member_event(pl_chat_t *chat, room_t *r, const cu_room_t *q, const char *action,
                         int64_t uid)
{
    const char *username = NULL, *display = NULL;
    const pl_user_t *u = name_of(q, uid);
    online_t *o = pl_chat__online(chat, uid);
    if (u != NULL) {
        username = u->username;
        display = u->display_name;
    } else if (o != NULL && o->head != NULL) {
        username = o->head->username;
        display = o->head->display_name;
    }
    if (username == NULL)
        return;
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_printf(&b,
                  "{\"ev\":\"member\",\"room\":\"r%" PRId64 "\",\"action\":\"%s\",\"user\":", r->id,
                  action);
    pl_wire_user_json(&b, uid, username, display ? display : username);
    pl_buf_lit(&b, "}");
    pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
    pl_chat__fanout_local(chat, r, 0, 0, f);
    if (!pl_chat__is_member(r, uid))
        pl_chat__send_user_local(chat, uid, f);
    pl_frame_unref(f);
    pl_buf_dispose(&b);
    chat->stats.cluster_caught_up++;
}

static void room_event(pl_chat_t *chat, const room_info_t *ri, int64_t uid)
{
    if (pl_chat__online(chat, uid) == NULL)
        return;
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_lit(&b, "{\"ev\":\"room\",\"room\":");
    pl_ops__room_json(&b, ri);
    pl_buf_lit(&b, "}");
    pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
    pl_chat__send_user_local(chat, uid, f);
    pl_frame_unref(f);
    pl_buf_dispose(&b);
    chat->stats.cluster_caught_up++;
}

/* The room's members as the store has them now. */
static void apply_members(pl_chat_t *chat, const cu_room_t *q)
{
    room_t *r = pl_chat__room(chat, q->id);
    bool known = r != NULL;
    if (!known) {
        size_t n;
        r = pl_chat__room_add(chat, pl_ops__room_info_room(q->ri, &n));
        /* As for a room another node announced (relay.c): every message of
         * it is news here, read when its subscription is confirmed. */
        r->last_seq = 0;
        r->last_version = 0;
        r->cl_fresh = true;
    }
    size_t nold = r->nmembers;
    int64_t *old = pl_xmalloc((nold ? nold : 1) * sizeof *old);
    if (nold > 0)
        memcpy(old, r->members, nold * sizeof *old);
    for (size_t i = 0; i < nold; i++) {
        if (has(q->ids, q->nids, old[i]))
            continue;
        pl_chat__member_remove(chat, r, old[i]);
        member_event(chat, r, q, "leave", old[i]);
    }
    for (size_t i = 0; i < q->nids; i++) {
        int64_t uid = q->ids[i];
        if (has(old, nold, uid))
            continue;
        pl_chat__member_add(chat, r, uid);
        if (known)
            member_event(chat, r, q, "join", uid);
        room_event(chat, q->ri, uid);
    }
    free(old);
}

static void apply_receipts(pl_chat_t *chat, const cu_room_t *q)
{
    room_t *r = pl_chat__room(chat, q->id);
    if (r == NULL || r->nsess == 0)
        return;
    for (size_t i = 0; i < q->nrcpt; i++) {
        const pl_receipt_t *m = &q->rcpt[i];
        /* Others were shown only the delivered marker of a user who hides
         * read receipts: that is what counts as news for them. */
        if (!pl_chat__rcpt_seen(r, m->user_id, m->read_receipts ? m->read_seq : -1,
                                m->delivered_seq))
            continue;
        pl_frame_t *full, *nored;
        pl_ops__receipt_frames(r->id, m, &full, &nored);
        pl_chat__send_user_local(chat, m->user_id, full);
        pl_chat__fanout_except_local(chat, r, m->user_id, m->read_receipts ? full : nored);
        pl_frame_unref(full);
        pl_frame_unref(nored);
        chat->stats.cluster_caught_up++;
    }
}

static void apply_invites(pl_chat_t *chat, const cu_job_t *j, const cu_user_t *u)
{
    if (pl_chat__online(chat, u->id) == NULL)
        return;
    for (size_t i = 0; i < u->ninv; i++) {
        const pl_invite_t *v = &u->inv[i];
        if (v->created_ms < j->inv_from)
            continue;
        pl_buf_t b;
        pl_buf_init(&b);
        pl_buf_lit(&b, "{\"ev\":\"invite\",\"action\":\"add\",\"invite\":");
        pl_ops__invite_json(&b, v, v->inviter_username, v->inviter_display_name);
        pl_buf_lit(&b, "}");
        pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
        pl_chat__send_user_local(chat, u->id, f);
        pl_frame_unref(f);
        pl_buf_dispose(&b);
        chat->stats.cluster_caught_up++;
    }
}

static void job_free(cu_job_t *j)
{
    for (size_t i = 0; i < j->nrooms; i++) {
        cu_room_t *q = &j->rooms[i];
        free(q->snap);
        free(q->ids);
        pl_ops__room_info_free(q->ri);
        for (size_t k = 0; k < q->nnames; k++)
            pl_user_dispose(&q->names[k]);
        free(q->names);
        free(q->rcpt);
    }
    for (size_t i = 0; i < j->nusers; i++) {
        free(j->users[i].snap);
        pl_invites_free(j->users[i].inv, j->users[i].ninv);
    }
    free(j->rooms);
    free(j->users);
    free(j);
}

static void catchup_done(int status, void *arg)
{
    cu_job_t *j = arg;
    pl_chat_t *chat = j->chat;
    chat->cu_running = false;
    bool again = false;
    if (status != 0 || j->rc < 0) {
        pl_log(PL_LOG_WARN, "cluster", "membership catch-up failed rc=%d status=%d; retrying",
               j->rc, status);
        chat->cu_failed = true; /* the tick runs it again */
        if (!chat->cu_again || j->since < chat->cu_since)
            chat->cu_since = j->since;
        chat->cu_again = false;
        job_free(j);
        return;
    }
    chat->stats.cluster_catchups++;
    if (j->now_ms > chat->cu_inv_upto)
        chat->cu_inv_upto = j->now_ms;
    if (!chat->closing) {
        for (size_t i = 0; i < j->nrooms; i++) {
            const cu_room_t *q = &j->rooms[i];
            if (q->rc < 0)
                continue; /* gone from the store */
            room_t *r = pl_chat__room(chat, q->id);
            if (q->ri != NULL) {
                if (r != NULL && r->cl_mtouch > j->epoch)
                    again = true; /* changed since the read: a live event is newer */
                else
                    apply_members(chat, q);
            }
            if (q->watched)
                apply_receipts(chat, q);
        }
        for (size_t i = 0; i < j->nusers; i++)
            apply_invites(chat, j, &j->users[i]);
    }
    int64_t since = j->since;
    job_free(j);
    if (chat->closing)
        return;
    /* Rooms changed meanwhile are read again, a few times at most: under
     * constant churn the live events keep those rooms current anyway. */
    chat->cu_reruns = again ? (uint8_t)(chat->cu_reruns + 1) : 0;
    if (again && chat->cu_reruns > 3) {
        pl_log(PL_LOG_INFO, "cluster",
               "membership catch-up: rooms keep changing; left to live events");
        chat->cu_reruns = 0;
        again = false;
    }
    if (chat->cu_again) {
        chat->cu_again = false;
        pl_catchup__start(chat, chat->cu_since < since ? chat->cu_since : since);
    } else if (again) {
        pl_catchup__start(chat, since);
    }
}

/* ---- loop: start ---- */

static void snapshot(pl_chat_t *chat, cu_job_t *j)
{
    room_t *r, *rtmp;
    HASH_ITER(hh, chat->rooms, r, rtmp)
    {
        if (r->nsess == 0)
            continue;
        if (j->nrooms == j->roomcap) {
            j->roomcap = j->roomcap ? j->roomcap * 2 : 8;
            j->rooms = pl_xrealloc(j->rooms, j->roomcap * sizeof *j->rooms);
        }
        cu_room_t *q = &j->rooms[j->nrooms++];
        *q = (cu_room_t){.id = r->id, .watched = true, .nsnap = r->nmembers};
        q->snap = pl_xmalloc((r->nmembers ? r->nmembers : 1) * sizeof *q->snap);
        if (r->nmembers > 0)
            memcpy(q->snap, r->members, r->nmembers * sizeof *q->snap);
    }
    if (j->nrooms > 1) /* qsort(NULL, 0) is undefined: no rooms, no array */
        qsort(j->rooms, j->nrooms, sizeof *j->rooms, cmp_i64); /* id is the first field */
    j->nwatched = j->nrooms;
    size_t cap = HASH_COUNT(chat->users);
    j->users = pl_xcalloc(cap ? cap : 1, sizeof *j->users);
    online_t *o, *otmp;
    HASH_ITER(hh, chat->users, o, otmp)
    {
        if (o->head == NULL)
            continue; /* in its grace period: nobody to tell */
        cu_user_t *u = &j->users[j->nusers++];
        u->id = o->user_id;
        umember_t *m = NULL;
        HASH_FIND(hh, chat->members, &o->user_id, sizeof o->user_id, m);
        u->nsnap = m ? m->n : 0;
        u->snap = pl_xmalloc((u->nsnap ? u->nsnap : 1) * sizeof *u->snap);
        for (size_t k = 0; k < u->nsnap; k++)
            u->snap[k] = m->rooms[k]->id;
        qsort(u->snap, u->nsnap, sizeof *u->snap, cmp_i64);
    }
}

void pl_catchup__start(pl_chat_t *chat, int64_t since_ms)
{
    if (chat->closing)
        return;
    if (chat->cu_running) {
        if (!chat->cu_again || since_ms < chat->cu_since)
            chat->cu_since = since_ms;
        chat->cu_again = true;
        return;
    }
    if (chat->cu_failed && chat->cu_since < since_ms)
        since_ms = chat->cu_since; /* the failed one's window is not covered yet */
    chat->cu_failed = false;
    cu_job_t *j = pl_xcalloc(1, sizeof *j);
    j->chat = chat;
    j->since = since_ms;
    j->from_ms = since_ms - CATCHUP_MARGIN_MS;
    j->now_ms = pl_now_ms();
    j->inv_from = j->from_ms > chat->cu_inv_upto ? j->from_ms : chat->cu_inv_upto;
    j->epoch = chat->cl_mepoch;
    j->max_inv = chat->cfg->max_pending_invites_per_user;
    snapshot(chat, j);
    chat->cu_running = true;
    pl_store_read(chat->st, catchup_work, catchup_done, j);
}

void pl_catchup__retry_failed(pl_chat_t *chat)
{
    if (chat->cu_failed && !chat->cu_running)
        pl_catchup__start(chat, chat->cu_since);
}
