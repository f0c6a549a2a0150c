/* SPDX-License-Identifier: MIT */
/* profile.c -- profiles and settings: profile_get/set,
 * settings_get/set, applying settings to every session of a user, and the
 * check that an avatar is the user's own image. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "chat/handlers.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

/* ---- profiles and settings ---- */

static void profile_json(pl_buf_t *b, const pl_profile_t *p, int64_t avatar)
{
    pl_buf_printf(b, "{\"id\":\"u%" PRId64 "\",\"username\":", p->id);
    pl_json_cstr(b, p->username);
    pl_buf_lit(b, ",\"display_name\":");
    pl_json_cstr(b, p->display_name);
    pl_buf_lit(b, ",\"bio\":");
    pl_json_cstr(b, p->bio);
    pl_buf_lit(b, ",\"status_text\":");
    pl_json_cstr(b, p->status_text);
    if (avatar > 0)
        pl_buf_printf(b, ",\"avatar\":\"f%" PRId64 "\"}", avatar);
    else
        pl_buf_lit(b, ",\"avatar\":null}");
}

/* The stored settings merged over the defaults. Returns a new object. */
static json_t *settings_merged(const char *stored)
{
    json_t *out = json_pack("{s:s,s:b,s:b,s:b,s:s}", "theme", "system", "read_receipts", 1,
                            "show_presence", 1, "notifications", 1, "group_add", "everyone");
    json_t *st = stored ? json_loads(stored, 0, NULL) : NULL;
    if (json_is_object(st))
        json_object_update_existing(out, st);
    json_decref(st);
    return out;
}

void pl_ops__apply_settings(pl_chat_t *chat, int64_t user, const char *settings)
{
    json_t *m = settings_merged(settings);
    bool rr = json_is_true(json_object_get(m, "read_receipts"));
    bool sp = json_is_true(json_object_get(m, "show_presence"));
    json_decref(m);
    online_t *u = pl_chat__online(chat, user);
    for (session_t *s = u ? u->head : NULL; s != NULL; s = s->next) {
        s->read_receipts = rr;
        s->show_presence = sp;
    }
    pl_presence__set_visible(chat, user, sp);
}

typedef enum { PROF_GET, PROF_SET, SETTINGS_GET, SETTINGS_SET } prof_kind_t;

typedef struct {
    job_t j;
    prof_kind_t kind;
    int64_t user;    /* target (get by id) or the requester */
    char *username;  /* get by name */
    char *fields[3]; /* set: display_name, bio, status_text (NULL = unchanged) */
    json_t *patch;   /* settings_set */
    bool set_avatar; /* set: avatar given (new_avatar 0 = remove) */
    int64_t new_avatar;
    int64_t avatar; /* result: the user's avatar media id, 0 = none */
    pl_profile_t p;
} prof_job_t;

int pl_ops__own_image(pl_db_t *db, job_t *j, int64_t user, int64_t media)
{
    pl_media_rec_t m = {0};
    int rc = pl_db_media_get(db, media, &m);
    if (rc == PL_ENOTFOUND || (rc == 0 && m.owner != user)) {
        pl_ops__job_fail(j, "not_found", "no such media");
        rc = 1;
    } else if (rc == 0 && (m.mime == NULL || strncmp(m.mime, "image/", 6) != 0 || m.thumb_w <= 0)) {
        pl_ops__job_fail(j, "bad_request", "the media is not an image");
        rc = 1;
    }
    pl_media_rec_dispose(&m);
    return rc;
}

static void prof_work(pl_db_t *db, void *arg)
{
    prof_job_t *q = arg;
    int rc = 0;
    if (q->kind == PROF_SET && q->set_avatar && q->new_avatar > 0) {
        rc = pl_ops__own_image(db, &q->j, q->user, q->new_avatar);
        if (rc == 1)
            return;
    }
    if (q->kind == PROF_SET && rc == 0 && (q->fields[0] || q->fields[1] || q->fields[2]))
        rc = pl_db_profile_set(db, q->user, q->fields[0], q->fields[1], q->fields[2]);
    if (q->kind == PROF_SET && rc == 0 && q->set_avatar)
        rc = pl_db_avatar_set(db, q->user, q->new_avatar);
    if (rc == 0)
        rc = pl_db_profile_get(db, q->user, q->username, &q->p);
    if (rc == 0 && (q->kind == PROF_GET || q->kind == PROF_SET))
        rc = pl_db_avatar_get(db, q->p.id, &q->avatar);
    if (rc == PL_ENOTFOUND && q->kind == PROF_GET) {
        pl_ops__job_fail(&q->j, "user_not_found", "no such user");
        return;
    }
    if (rc == 0 && q->kind == SETTINGS_SET) {
        json_t *m = settings_merged(q->p.settings);
        json_object_update(m, q->patch);
        char *text = json_dumps(m, JSON_COMPACT);
        json_decref(m);
        rc = pl_db_settings_set(db, q->user, text);
        if (rc == 0) {
            free(q->p.settings);
            q->p.settings = text;
        } else {
            free(text);
        }
    }
    pl_ops__job_write_end(&q->j, db, rc);
}

static void prof_done(int status, void *arg)
{
    prof_job_t *q = arg;
    session_t *s = q->j.s;
    pl_chat_t *chat = s->chat;
    if (!pl_ops__job_ok(&q->j, status))
        goto out;
    pl_buf_t b;
    pl_buf_init(&b);
    if (q->kind == PROF_GET || q->kind == PROF_SET) {
        pl_buf_lit(&b, ",\"user\":");
        profile_json(&b, &q->p, q->avatar);
        pl_wire_reply_ok(s, q->j.id, pl_buf_head(&b), b.len);
        if (q->kind == PROF_SET) {
            online_t *u = pl_chat__online(chat, q->user);
            for (session_t *x = u ? u->head : NULL; x != NULL; x = x->next)
                pl_chat__session_names(x, x->username, q->p.display_name);
            pl_buf_reset(&b, 0);
            pl_buf_lit(&b, "{\"ev\":\"profile\",\"user\":");
            profile_json(&b, &q->p, q->avatar);
            pl_buf_lit(&b, "}");
            pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
            pl_chat__send_contacts(chat, q->user, f);
            pl_chat__send_user(chat, q->user, f);
            pl_frame_unref(f);
        }
    } else {
        json_t *m = settings_merged(q->p.settings);
        pl_buf_lit(&b, ",\"settings\":");
        pl_wire_json_value(&b, m);
        pl_wire_reply_ok(s, q->j.id, pl_buf_head(&b), b.len);
        if (q->kind == SETTINGS_SET) {
            pl_buf_reset(&b, 0);
            pl_buf_lit(&b, "{\"ev\":\"settings\",\"settings\":");
            pl_wire_json_value(&b, m);
            pl_buf_lit(&b, "}");
            pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
            pl_chat__send_user(chat, q->user, f);
            pl_frame_unref(f);
            pl_ops__apply_settings(chat, q->user, q->p.settings);
        }
        json_decref(m);
    }
    pl_buf_dispose(&b);
out:
    pl_profile_dispose(&q->p);
    free(q->username);
    for (int i = 0; i < 3; i++)
        free(q->fields[i]);
    json_decref(q->patch);
    pl_ops__job_dispose(&q->j);
    free(q);
}

static prof_job_t *prof_new(session_t *s, json_t *id, prof_kind_t kind)
{
    prof_job_t *q = pl_xcalloc(1, sizeof *q);
    pl_ops__job_init(&q->j, s, id);
    q->kind = kind;
    q->user = s->user_id;
    return q;
}

void pl_ops_profile_get(session_t *s, pl_cmd_t *c)
{
    const pl_cmd_profile_get_t *arg = &c->u.profile_get;
    prof_job_t *q = prof_new(s, c->id, PROF_GET);
    q->user = arg->user;
    if (arg->username[0] != '\0')
        q->username = pl_xstrdup(arg->username);
    pl_store_read(s->chat->st, prof_work, prof_done, q);
}

void pl_ops_profile_set(session_t *s, pl_cmd_t *c)
{
    const pl_cmd_profile_set_t *arg = &c->u.profile_set;
    prof_job_t *q = prof_new(s, c->id, PROF_SET);
    q->set_avatar = arg->set_avatar;
    q->new_avatar = arg->avatar;
    for (int i = 0; i < 3; i++)
        q->fields[i] = arg->fields[i] ? pl_xstrdup(arg->fields[i]) : NULL;
    pl_store_write(s->chat->st, prof_work, prof_done, q);
}

void pl_ops_settings_get(session_t *s, pl_cmd_t *c)
{
    pl_store_read(s->chat->st, prof_work, prof_done, prof_new(s, c->id, SETTINGS_GET));
}

void pl_ops_settings_set(session_t *s, pl_cmd_t *c)
{
    prof_job_t *q = prof_new(s, c->id, SETTINGS_SET);
    q->patch = json_incref(c->u.settings_set.patch);
    pl_store_write(s->chat->st, prof_work, prof_done, q);
}
