/* SPDX-License-Identifier: MIT */
/* members.h -- what members.c shares with rooms.c (create_room): the
 * per-user limits and the rule that adds or invites each person asked for. */
#ifndef PL_CHAT_MEMBERS_H
#define PL_CHAT_MEMBERS_H

#include "chat/chat_internal.h"
#include "chat/room_info.h"

/* Membership and invitations (join, leave, invite, invites,
 * decline) and the per-user limits on creating rooms and adding people. */
typedef enum { PL_LIMIT_CREATE = 0, PL_LIMIT_ADD = 1 } pl_limit_t;
/** Takes cost from the user's bucket (room_create_per_hour or
 * member_adds_per_hour). On refusal replies rate_limited with
 * retry_after_ms (or too_large when cost exceeds the hourly allowance) and
 * returns false. Loop thread. */
bool pl_ops__limit_take(session_t *s, json_t *id, pl_limit_t which, double cost);
/** Gives back what a request took but did not use. */
void pl_ops__limit_refund(pl_chat_t *chat, int64_t user, pl_limit_t which, double cost);

/** Appends the Invite object of v (names: the inviter's, borrowed). */
void pl_ops__invite_json(pl_buf_t *b, const pl_invite_t *v, const char *inviter_username,
                         const char *inviter_display_name);

/** What became of one person a creator or member asked to add to a group. */
typedef enum {
    PL_ADMIT_NONE = 0,          /* not decided (the job failed first) */
    PL_ADMIT_ADDED,             /* now a member (their group_add allows the asker) */
    PL_ADMIT_INVITED,           /* a new pending invitation */
    PL_ADMIT_PENDING,           /* an invitation was pending already */
    PL_ADMIT_MEMBER,            /* a member already */
    PL_ADMIT_INVITES_FULL,      /* refused: max_pending_invites_per_user */
    PL_ADMIT_ROOM_INVITES_FULL, /* refused: max_pending_invites_per_room */
    PL_ADMIT_GROUP_FULL,        /* refused: max_group_members */
    PL_ADMIT_BANNED,            /* refused: banned from the group (issue 17) */
} pl_admit_outcome_t;

typedef struct {
    char *username;     /* owned; normalized */
    int64_t id;         /* resolved on the store thread */
    char *display_name; /* owned; resolved on the store thread */
    pl_admit_outcome_t outcome;
    bool had_invite; /* added, and a pending invitation was consumed */
} pl_admit_t;

/** One create_room's or invite's list of people (the same rules for both). */
typedef struct {
    int64_t room_id; /* set before pl_ops__admit_run */
    int64_t inviter;
    char *inviter_username, *inviter_display_name; /* owned */
    pl_admit_t *v;
    size_t n;
    int64_t max_members;                /* max_group_members */
    int64_t space;                      /* places left: counted on the writer */
    int64_t cap_user, cap_room, ttl_ms; /* from the config */
    int64_t now_ms;
} pl_admit_batch_t;

/** Loop: fills b from arr, an array of valid usernames (checked by the
 * command layer): normalized, deduplicated, the caller's own name dropped;
 * with the caller and the config. */
void pl_ops__admit_args(session_t *s, json_t *arr, pl_admit_batch_t *b);
/** Store thread (write job): resolves every username and adds or invites
 * each person. Returns 0, a store error, or PL_ENOTFOUND after failing j with
 * user_not_found (the caller's job then rolls back). */
int pl_ops__admit_run(pl_db_t *db, job_t *j, pl_admit_batch_t *b);
/** Loop, after the commit: routes the added users, sends the `member`,
 * `room` and `invite` events. at_create: the room was just created (its
 * `room` event went to every member; no `member` events for the added). */
void pl_ops__admit_apply(pl_chat_t *chat, room_t *r, const room_info_t *ri,
                         const pl_admit_batch_t *b, bool at_create);
/** Appends ,"added":[User...],"invited":[User...],"skipped":[...] (added
 * only with with_added). */
void pl_ops__admit_json(pl_buf_t *buf, const pl_admit_batch_t *b, bool with_added);
/** People whose state changed (added, newly invited): what the add limit
 * keeps; the rest is refunded. */
size_t pl_ops__admit_changed(const pl_admit_batch_t *b);
void pl_ops__admit_dispose(pl_admit_batch_t *b);

#endif
