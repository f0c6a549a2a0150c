/* SPDX-License-Identifier: MIT */
/* mod_perm.c -- the permission table of room roles. No I/O. */
#include "chat/mod_perm.h"

#include <stddef.h>
#include <string.h>

/* The least rank that may take each action at all. */
static const pl_role_t min_rank[PL_MOD__COUNT] = {
    [PL_MOD_INVITE] = PL_ROLE_MEMBER,
    [PL_MOD_KICK] = PL_ROLE_MODERATOR,
    [PL_MOD_BAN] = PL_ROLE_MODERATOR,
    [PL_MOD_MUTE] = PL_ROLE_MODERATOR,
    [PL_MOD_DELETE_OTHERS] = PL_ROLE_MODERATOR,
    [PL_MOD_SETTINGS] = PL_ROLE_ADMIN,
    [PL_MOD_PIN] = PL_ROLE_MODERATOR,
    [PL_MOD_SET_ROLE] = PL_ROLE_ADMIN,
    [PL_MOD_AUDIT] = PL_ROLE_ADMIN,
};

/* Actions done to a person (the rest are done to the room). */
static bool on_person(pl_mod_action_t a)
{
    return a == PL_MOD_KICK || a == PL_MOD_BAN || a == PL_MOD_MUTE || a == PL_MOD_DELETE_OTHERS ||
           a == PL_MOD_SET_ROLE;
}

static bool role_ok(pl_role_t r)
{
    return (unsigned)r < PL_ROLE__COUNT;
}

bool pl_mod_allowed(pl_role_t actor, pl_mod_action_t action, pl_role_t target, pl_role_t grant)
{
    if (!role_ok(actor) || (unsigned)action >= PL_MOD__COUNT)
        return false;
    if (actor < min_rank[action])
        return false;
    if (!on_person(action))
        return true;
    if (!role_ok(target) || target >= actor)
        return false; /* never on an equal or higher rank */
    if (action != PL_MOD_SET_ROLE)
        return true;
    if (!role_ok(grant))
        return false;
    /* Below one's own rank; an owner may also hand out ownership. */
    return grant < actor || (actor == PL_ROLE_OWNER && grant == PL_ROLE_OWNER);
}

static const char *const role_names[PL_ROLE__COUNT] = {"member", "moderator", "admin", "owner"};

const char *pl_mod_role_name(pl_role_t r)
{
    return role_ok(r) ? role_names[r] : NULL;
}

bool pl_mod_role_parse(const char *s, pl_role_t *out)
{
    for (int i = 0; s != NULL && i < PL_ROLE__COUNT; i++) {
        if (!strcmp(s, role_names[i])) {
            *out = (pl_role_t)i;
            return true;
        }
    }
    return false;
}

const char *pl_mod_action_name(pl_mod_action_t a)
{
    static const char *const names[PL_MOD__COUNT] = {
        [PL_MOD_INVITE] = "invite",
        [PL_MOD_KICK] = "kick",
        [PL_MOD_BAN] = "ban",
        [PL_MOD_MUTE] = "mute",
        [PL_MOD_DELETE_OTHERS] = "delete",
        [PL_MOD_SETTINGS] = "settings",
        [PL_MOD_PIN] = "pin",
        [PL_MOD_SET_ROLE] = "set_role",
        [PL_MOD_AUDIT] = "audit",
    };
    return (unsigned)a < PL_MOD__COUNT ? names[a] : NULL;
}
