/* SPDX-License-Identifier: MIT */
/* push_policy.c -- what a new message pushes, to whom: run inside the
 * message's write job (store thread), so the push jobs commit with the
 * message or not at all. The decision itself (pl_push_wanted) and the
 * notification text are pure. */
#include "push/push.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "push/push_sub.h"

#define BODY_MAX 1000 /* bytes of message text in a notification */

void pl_push_ctx_free(pl_push_ctx_t *c)
{
    if (c == NULL)
        return;
    free(c->room_name);
    free(c->sender_name);
    free(c->members);
    free(c->connected);
    free(c);
}

static bool dnd_now(const pl_push_pref_t *a, int64_t now_ms)
{
    if (a->dnd_start < 0 || a->dnd_end < 0 || a->dnd_start == a->dnd_end)
        return false;
    int m = (int)((now_ms / 60000) % 1440);
    if (a->dnd_start < a->dnd_end)
        return m >= a->dnd_start && m < a->dnd_end;
    return m >= a->dnd_start || m < a->dnd_end; /* over midnight */
}

bool pl_push_wanted(pl_push_why_t why, const pl_push_pref_t *acct, const pl_push_pref_t *room,
                    int64_t now_ms)
{
    if (why == PL_PUSH_WHY_NONE)
        return false;
    if (acct != NULL && (acct->mute_until > now_ms || dnd_now(acct, now_ms)))
        return false;
    int level = room != NULL ? room->level : PL_PUSH_LEVEL_DEFAULT;
    if (room != NULL && room->mute_until > now_ms)
        return false;
    if (level == PL_PUSH_LEVEL_DEFAULT)
        level = why == PL_PUSH_WHY_DM ? PL_PUSH_LEVEL_ALL : PL_PUSH_LEVEL_MENTIONS;
    switch (level) {
    case PL_PUSH_LEVEL_ALL:
        return true;
    case PL_PUSH_LEVEL_MENTIONS:
        /* In a dm every message is addressed to the user. */
        return why != PL_PUSH_WHY_MESSAGE;
    default:
        return false;
    }
}

static const char *why_name(pl_push_why_t why)
{
    switch (why) {
    case PL_PUSH_WHY_DM:
        return "dm";
    case PL_PUSH_WHY_MENTION:
        return "mention";
    case PL_PUSH_WHY_REPLY:
        return "reply";
    default:
        return "message";
    }
}

/* The first max bytes of s, cut at a UTF-8 character boundary. */
static json_t *utf8_prefix(const char *s, size_t len, size_t max)
{
    if (len > max) {
        len = max;
        while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
            len--;
    }
    return json_stringn(s, len);
}

char *pl_push_notification(const pl_push_ctx_t *c, const pl_message_t *m, pl_push_why_t why,
                           bool content_free)
{
    char room[24], id[24], sender[24], title[400];
    snprintf(room, sizeof room, "r%" PRId64, m->room_id);
    snprintf(id, sizeof id, "m%" PRId64, m->id);
    snprintf(sender, sizeof sender, "u%" PRId64, m->sender);
    if (content_free)
        snprintf(title, sizeof title, "New message from %s", c->sender_name);
    else if (c->dm)
        snprintf(title, sizeof title, "%s", c->sender_name);
    else
        snprintf(title, sizeof title, "%s in %s", c->sender_name, c->room_name);
    json_t *o =
        json_pack("{si ss ss sI ss ss ss sI ss sb}", "v", 1, "type", "message", "room", room, "seq",
                  (json_int_t)m->seq, "id", id, "sender", sender, "why", why_name(why), "ts",
                  (json_int_t)m->ts, "title", title, "content_free", content_free);
    if (o == NULL)
        return NULL;
    if (!content_free) {
        json_object_set_new(o, "sender_name", json_string(c->sender_name));
        if (!c->dm)
            json_object_set_new(o, "room_name", json_string(c->room_name));
        json_t *ct = json_loads(m->content, 0, NULL);
        json_t *type = json_object_get(ct, "type"), *body = json_object_get(ct, "body");
        if (json_is_string(type))
            json_object_set(o, "content_type", type);
        if (json_is_string(body)) {
            json_t *b = utf8_prefix(json_string_value(body), json_string_length(body), BODY_MAX);
            if (b != NULL)
                json_object_set_new(o, "body", b);
        }
        json_decref(ct);
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static bool in_sorted(const int64_t *v, size_t n, int64_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] == x)
            return true;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

typedef struct {
    int64_t user;
    pl_push_why_t why;
} cand_t;

/* Adds (user, why) unless the user is there already with a stronger
 * reason (dm, mention, reply, message: in that order). */
static void cand_add(cand_t **v, size_t *n, size_t *cap, int64_t user, pl_push_why_t why)
{
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i].user == user) {
            if (why < (*v)[i].why)
                (*v)[i].why = why;
            return;
        }
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *v = pl_xrealloc(*v, *cap * sizeof **v);
    }
    (*v)[(*n)++] = (cand_t){user, why};
}

/* Who might be pushed for m: the other member of a dm; in a group the
 * mentioned (everyone for @room), the author replied to, and those who set
 * level `all` on the room. Members only, never the sender. */
static int candidates(pl_db_t *db, const pl_push_ctx_t *c, const pl_message_t *m, cand_t **out,
                      size_t *nout)
{
    cand_t *v = NULL;
    size_t n = 0, cap = 0;
    if (c->dm) {
        for (size_t i = 0; i < c->nmembers; i++)
            cand_add(&v, &n, &cap, c->members[i], PL_PUSH_WHY_DM);
    } else {
        if (m->mention_room)
            for (size_t i = 0; i < c->nmembers; i++)
                cand_add(&v, &n, &cap, c->members[i], PL_PUSH_WHY_MENTION);
        json_t *ms = m->mentions != NULL ? json_loads(m->mentions, 0, NULL) : NULL;
        size_t i;
        json_t *x;
        int64_t uid;
        json_array_foreach(ms, i, x)
        {
            if (json_is_string(x) && pl_id_parse(json_string_value(x), 'u', &uid))
                cand_add(&v, &n, &cap, uid, PL_PUSH_WHY_MENTION);
        }
        json_decref(ms);
        if (m->reply_to > 0 && m->reply_sender > 0)
            cand_add(&v, &n, &cap, m->reply_sender, PL_PUSH_WHY_REPLY);
        int64_t *all = NULL;
        size_t nall = 0;
        int rc = pl_db_push_room_all(db, m->room_id, &all, &nall);
        if (rc != 0) {
            free(v);
            return rc;
        }
        for (size_t k = 0; k < nall; k++)
            cand_add(&v, &n, &cap, all[k], PL_PUSH_WHY_MESSAGE);
        free(all);
    }
    size_t w = 0;
    for (size_t k = 0; k < n; k++)
        if (v[k].user != m->sender && in_sorted(c->members, c->nmembers, v[k].user))
            v[w++] = v[k];
    *out = v;
    *nout = w;
    return 0;
}

/* Enqueues the pushes of one candidate. */
static int push_user(pl_db_t *db, pl_push_ctx_t *c, const pl_message_t *m, cand_t cd,
                     int64_t now_ms)
{
    pl_push_sub_row_t *subs = NULL;
    size_t nsubs = 0, live = 0;
    int rc = pl_db_push_subs(db, cd.user, &subs, &nsubs);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < nsubs; i++)
        live += !in_sorted(c->connected, c->nconnected, subs[i].device_id);
    char *data = NULL;
    if (live == 0)
        goto out;
    pl_push_pref_t acct = {0, 0, 0, -1, -1, -1}, room;
    if ((rc = pl_db_push_pref_get(db, cd.user, 0, &acct)) != 0 && rc != PL_ENOTFOUND)
        goto out;
    int rrc = pl_db_push_pref_get(db, cd.user, m->room_id, &room);
    if (rrc != 0 && rrc != PL_ENOTFOUND) {
        rc = rrc;
        goto out;
    }
    rc = 0;
    if (!pl_push_wanted(cd.why, &acct, rrc == 0 ? &room : NULL, now_ms))
        goto out;
    bool content_free = acct.content_free < 0 ? c->cfg->push_content_free : acct.content_free > 0;
    data = pl_push_notification(c, m, cd.why, content_free);
    if (data == NULL)
        goto out;
    char topic[24], key[32];
    snprintf(topic, sizeof topic, "r%" PRId64, m->room_id);
    snprintf(key, sizeof key, "push:r%" PRId64, m->room_id);
    const char *urgency = cd.why == PL_PUSH_WHY_MESSAGE ? "normal" : "high";
    for (size_t i = 0; i < nsubs && rc == 0; i++) {
        if (in_sorted(c->connected, c->nconnected, subs[i].device_id))
            continue;
        char *payload = pl_push_job_build(subs[i].id, subs[i].endpoint, subs[i].p256dh,
                                          subs[i].auth, topic, urgency, c->cfg->push_ttl_s, data);
        if (payload == NULL)
            continue;
        rc = pl_db_job_enqueue(db, PL_PUSH_JOB_KIND, key, payload, now_ms, now_ms, NULL);
        c->enqueued += rc == 0;
        if (rc != 0 && rc != PL_EIO) {
            pl_log(PL_LOG_WARN, "push", "user=%" PRId64 " sub=%" PRId64 " not enqueued err=%s",
                   cd.user, subs[i].id, pl_strerror(rc));
            rc = 0;
        }
        free(payload);
    }
out:
    free(data);
    for (size_t i = 0; i < nsubs; i++)
        pl_push_sub_row_dispose(&subs[i]);
    free(subs);
    return rc;
}

int pl_push_enqueue(pl_db_t *db, const pl_message_t *m, void *ctx)
{
    pl_push_ctx_t *c = ctx;
    int64_t now_ms = m->ts;
    if (!c->cfg->push_enabled)
        return 0;
    cand_t *v = NULL;
    size_t n = 0;
    int rc = candidates(db, c, m, &v, &n);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = push_user(db, c, m, v[i], now_ms);
    free(v);
    return rc == PL_EIO ? PL_EIO : 0;
}
