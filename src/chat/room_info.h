/* SPDX-License-Identifier: MIT */
/* room_info.h -- the Room object of a room and its members, for the room
 * and membership ops (rooms.c, members.c). */
#ifndef PL_CHAT_ROOM_INFO_H
#define PL_CHAT_ROOM_INFO_H

#include "chat/chat_internal.h"

typedef struct room_info room_info_t;
/** Store thread: loads room_id with its members into *out (free with
 * pl_ops__room_info_free). */
int pl_ops__room_info_load(pl_db_t *db, int64_t room_id, room_info_t **out);
void pl_ops__room_info_free(room_info_t *ri); /* NULL-safe */
/** Appends the Room object (without the `rooms` op's unread fields). */
void pl_ops__room_json(pl_buf_t *b, const room_info_t *ri);
/** The stored room (borrowed from ri) and its member count. */
const pl_room_t *pl_ops__room_info_room(const room_info_t *ri, size_t *nmembers);
/** {"ev":"room","room":Room} to every member of r, or only to one user's
 * sessions when only_user > 0; -1: to every member of a room just created
 * (in a cluster through each member's user channel, as no other node
 * watches the new room's channel yet). */
void pl_ops__announce_room(pl_chat_t *chat, room_t *r, const room_info_t *ri, int64_t only_user);

typedef struct {
    int64_t id;
    char *username;
    char *display_name;
    int role;            /* pl_role_t (issue 17) */
    int64_t muted_until; /* 0: not muted */
} member_info_t;

struct room_info {
    pl_room_t room;
    member_info_t *members; /* NULL when more than ROOM_MEMBERS_LISTED */
    size_t nmembers;
    int64_t *ids; /* every member's id, sorted (nmembers of them) */
    int64_t unread;
    int64_t read_seq;
    int64_t mentions;
    pl_message_t *last; /* newest message (rooms op only), or NULL */
    size_t nlast;
};

/** Frees what ri holds and zeroes it. */
void pl_room_info__dispose(room_info_t *ri);
/** Store thread: loads a room and, if small enough, its members' names
 * into ri (zeroed by the caller). */
int pl_room_info__load(pl_db_t *db, int64_t room_id, room_info_t *ri);
/** Appends the Room object; with_unread adds the `rooms` op's fields. */
void pl_room_info__json(pl_buf_t *b, const room_info_t *ri, bool with_unread);
/** {"ev":"room","room":Room} to every member of r, or only to one user's
 * sessions when only_user > 0; -1: to every member of a room just created
 * (in a cluster through each member's user channel, as no other node
 * watches the new room's channel yet). */
void pl_room_info__announce(pl_chat_t *chat, room_t *r, const room_info_t *ri, int64_t only_user);

#endif
