/* SPDX-License-Identifier: MIT */
/* room_info.c -- the Room object: a room loaded with its members on a
 * store thread, encoded, and announced with a `room` event. Used by the
 * room and membership ops (rooms.c, members.c). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chat/room_info.h"
#include "chat/mod_perm.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

#define ROOM_MEMBERS_LISTED 100

void pl_room_info__dispose(room_info_t *ri)
{
    pl_room_dispose(&ri->room);
    for (size_t i = 0; i < ri->nmembers && ri->members; i++) {
        free(ri->members[i].username);
        free(ri->members[i].display_name);
    }
    free(ri->members);
    free(ri->ids);
    pl_messages_free(ri->last, ri->nlast);
    memset(ri, 0, sizeof *ri);
}

/* Roles and mutes of the listed members (issue 17): one query for the
 * members above the member rank or muted, merged by user id. */
static int load_mods(pl_db_t *db, room_info_t *ri)
{
    if (ri->members == NULL)
        return 0;
    pl_member_mod_t *v = NULL;
    size_t n = 0;
    int rc = pl_db_room_mods(db, ri->room.id, pl_now_ms(), &v, &n);
    for (size_t i = 0, k = 0; rc == 0 && i < n; i++) {
        while (k < ri->nmembers && ri->members[k].id < v[i].user_id)
            k++;
        if (k < ri->nmembers && ri->members[k].id == v[i].user_id) {
            ri->members[k].role = v[i].role;
            ri->members[k].muted_until = v[i].muted_until;
        }
    }
    free(v);
    return rc;
}

/* Store thread: loads a room and, if small enough, its members' names. */
int pl_room_info__load(pl_db_t *db, int64_t room_id, room_info_t *ri)
{
    int rc = pl_db_room_get(db, room_id, &ri->room);
    if (rc < 0)
        return rc;
    int64_t *ids = NULL;
    size_t n = 0;
    if ((rc = pl_db_room_members(db, room_id, &ids, &n)) < 0)
        return rc;
    ri->nmembers = n;
    if (n <= ROOM_MEMBERS_LISTED) {
        ri->members = pl_xcalloc(n, sizeof *ri->members);
        for (size_t i = 0; i < n; i++) {
            pl_user_t u = {0};
            ri->members[i].id = ids[i];
            if (pl_db_user_by_id(db, ids[i], &u) == 0) {
                ri->members[i].username = u.username;
                ri->members[i].display_name = u.display_name;
                u.username = u.display_name = NULL;
            }
            pl_user_dispose(&u);
        }
    }
    ri->ids = ids; /* kept: the routing table needs all of them */
    return ri->room.kind == PL_ROOM_GROUP ? load_mods(db, ri) : 0;
}

void pl_room_info__json(pl_buf_t *b, const room_info_t *ri, bool with_unread)
{
    pl_buf_printf(b, "{\"id\":\"r%" PRId64 "\",\"kind\":\"%s\",\"name\":", ri->room.id,
                  ri->room.kind == PL_ROOM_DM ? "dm" : "group");
    pl_json_cstr(b, ri->room.name ? ri->room.name : "");
    pl_buf_printf(b,
                  ",\"last_seq\":%" PRId64 ",\"last_version\":%" PRId64
                  ",\"disappearing_ms\":%" PRId64 ",\"member_count\":%zu",
                  ri->room.last_seq, ri->room.last_version, ri->room.disappearing_ms, ri->nmembers);
    if (ri->room.avatar > 0)
        pl_buf_printf(b, ",\"avatar\":\"f%" PRId64 "\"", ri->room.avatar);
    else
        pl_buf_lit(b, ",\"avatar\":null");
    if (with_unread) {
        pl_buf_printf(b,
                      ",\"unread\":%" PRId64 ",\"mentions\":%" PRId64 ",\"read_seq\":%" PRId64
                      ",\"last_message\":",
                      ri->unread, ri->mentions, ri->read_seq);
        if (ri->nlast > 0) {
            pl_buf_lit(b, "{");
            pl_wire_message_fields(b, &ri->last[0]);
            pl_buf_lit(b, "}");
        } else {
            pl_buf_lit(b, "null");
        }
    }
    if (ri->members != NULL) {
        pl_buf_lit(b, ",\"members\":[");
        for (size_t i = 0; i < ri->nmembers; i++) {
            const member_info_t *m = &ri->members[i];
            if (i)
                pl_buf_lit(b, ",");
            pl_wire_user_json(b, m->id, m->username, m->display_name);
            if (m->role > 0 || m->muted_until > 0) {
                /* Reopen the User object for the member's moderation state
                 * (issue 17): "role" when above member, "muted_until". */
                b->len--;
                if (m->role > 0)
                    pl_buf_printf(b, ",\"role\":\"%s\"", pl_mod_role_name((pl_role_t)m->role));
                if (m->muted_until > 0)
                    pl_buf_printf(b, ",\"muted_until\":%" PRId64, m->muted_until);
                pl_buf_lit(b, "}");
            }
        }
        pl_buf_lit(b, "]");
    }
    pl_buf_lit(b, "}");
}

/* Sends {"ev":"room","room":{...}} to every member's sessions. */
void pl_room_info__announce(pl_chat_t *chat, room_t *r, const room_info_t *ri, int64_t only_user)
{
    pl_buf_t b;
    pl_buf_init(&b);
    pl_buf_lit(&b, "{\"ev\":\"room\",\"room\":");
    pl_room_info__json(&b, ri, false);
    pl_buf_lit(&b, "}");
    pl_frame_t *f = pl_frame_new_text(pl_buf_head(&b), b.len);
    if (only_user > 0) {
        pl_chat__send_user(chat, only_user, f);
    } else if (only_user < 0 && chat->cluster != NULL) {
        /* A new room: no other node watches its channel yet (they load the
         * room when told, relay.c), so each member's sessions elsewhere get
         * the event on their user channel. */
        pl_chat__fanout_local(chat, r, 0, 0, f);
        for (size_t i = 0; i < r->nmembers; i++)
            pl_bus__user(chat, r->members[i], f);
    } else {
        pl_chat__fanout(chat, r, 0, 0, f);
    }
    pl_frame_unref(f);
    pl_buf_dispose(&b);
}

/* For the other op files (chat_internal.h): room descriptions by pointer. */
int pl_ops__room_info_load(pl_db_t *db, int64_t room_id, room_info_t **out)
{
    room_info_t *ri = pl_xcalloc(1, sizeof *ri);
    int rc = pl_room_info__load(db, room_id, ri);
    if (rc < 0) {
        pl_room_info__dispose(ri);
        free(ri);
        return rc;
    }
    *out = ri;
    return 0;
}

void pl_ops__room_info_free(room_info_t *ri)
{
    if (ri == NULL)
        return;
    pl_room_info__dispose(ri);
    free(ri);
}

void pl_ops__room_json(pl_buf_t *b, const room_info_t *ri)
{
    pl_room_info__json(b, ri, false);
}

const pl_room_t *pl_ops__room_info_room(const room_info_t *ri, size_t *nmembers)
{
    *nmembers = ri->nmembers;
    return &ri->room;
}

void pl_ops__announce_room(pl_chat_t *chat, room_t *r, const room_info_t *ri, int64_t only_user)
{
    pl_room_info__announce(chat, r, ri, only_user);
}
