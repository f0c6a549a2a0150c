/* SPDX-License-Identifier: MIT */
/* requests.c -- builders for the request objects of group membership and
 * invitations (parley.h). Plain jansson: no client state, no I/O. */
#include <parley.h>

#include <stddef.h>

/* {"op": op, "room": room}, or NULL for a missing room. */
static json_t *room_req(const char *op, const char *room)
{
    if (room == NULL || room[0] == '\0')
        return NULL;
    return json_pack("{s:s, s:s}", "op", op, "room", room);
}

/* A JSON array of n usernames (NULL if one is missing). */
static json_t *names(const char *const *usernames, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++) {
        if (usernames[i] == NULL || json_array_append_new(a, json_string(usernames[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *parley_req_create_group(const char *name, const char *const *usernames, size_t n)
{
    if (n > 0 && usernames == NULL)
        return NULL;
    json_t *m = names(usernames, n);
    if (m == NULL)
        return NULL;
    return json_pack("{s:s, s:s, s:s, s:o}", "op", "create_room", "kind", "group", "name",
                     name ? name : "", "members", m);
}

json_t *parley_req_invite(const char *room, const char *const *usernames, size_t n)
{
    if (room == NULL || room[0] == '\0' || usernames == NULL || n == 0)
        return NULL;
    json_t *u = names(usernames, n);
    if (u == NULL)
        return NULL;
    return json_pack("{s:s, s:s, s:o}", "op", "invite", "room", room, "users", u);
}

json_t *parley_req_invites(void)
{
    return json_pack("{s:s}", "op", "invites");
}

json_t *parley_req_join(const char *room)
{
    return room_req("join", room);
}

json_t *parley_req_leave(const char *room)
{
    return room_req("leave", room);
}

json_t *parley_req_decline(const char *room)
{
    return room_req("decline", room);
}
