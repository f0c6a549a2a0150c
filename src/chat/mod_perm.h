/* SPDX-License-Identifier: MIT */
/* mod_perm.h -- room roles and the one permission table of moderation
 * (issue 17). Pure: no I/O, no store, no libuv; every moderation check on
 * the server (and the hooks branch's /kick and /mute) asks pl_mod_allowed.
 * Unit-tested exhaustively (tests/unit/test_mod_perm.c). */
#ifndef PL_CHAT_MOD_PERM_H
#define PL_CHAT_MOD_PERM_H

#include <stdbool.h>

/** A member's rank in a group, stored per membership (members.role). The
 * numbers are stored: never renumber. A dm has no roles (everyone is
 * PL_ROLE_MEMBER and no moderation op applies). */
typedef enum {
    PL_ROLE_MEMBER = 0,
    PL_ROLE_MODERATOR = 1,
    PL_ROLE_ADMIN = 2,
    PL_ROLE_OWNER = 3,
} pl_role_t;

#define PL_ROLE__COUNT 4

/** What an actor wants to do (docs/protocol.md, "Roles and moderation"). */
typedef enum {
    PL_MOD_INVITE,        /* add or invite people */
    PL_MOD_KICK,          /* remove a member (they may be invited again) */
    PL_MOD_BAN,           /* remove and keep out; unban too */
    PL_MOD_MUTE,          /* cannot send until a time; unmute too */
    PL_MOD_DELETE_OTHERS, /* delete a message someone else sent */
    PL_MOD_SETTINGS,      /* change the room's name, avatar, settings */
    PL_MOD_PIN,           /* pin and unpin messages */
    PL_MOD_SET_ROLE,      /* change a member's role */
    PL_MOD_AUDIT,         /* read the room's audit log */
    PL_MOD__COUNT
} pl_mod_action_t;

/** The permission table: may a member of rank actor do action to a member
 * of rank target? grant is the role being given (PL_MOD_SET_ROLE only;
 * ignored otherwise). Actions on a person (kick, ban, mute, delete_others,
 * set_role) need a rank strictly above the target's: nobody acts on an
 * equal or higher rank, so a moderator never touches an admin or another
 * moderator. set_role also needs the granted role below the actor's, except
 * that an owner may make someone owner (handing over). Actions on the room
 * (invite, settings, pin, audit) ignore target. Out-of-range values are
 * refused. Thread: any. */
bool pl_mod_allowed(pl_role_t actor, pl_mod_action_t action, pl_role_t target, pl_role_t grant);

/** "owner", "admin", "moderator", "member"; NULL for a value out of range. */
const char *pl_mod_role_name(pl_role_t r);
/** Parses a role name; false when s names none. */
bool pl_mod_role_parse(const char *s, pl_role_t *out);
/** The wire name of an action ("kick", ...) as the audit log stores it. */
const char *pl_mod_action_name(pl_mod_action_t a);

#endif
