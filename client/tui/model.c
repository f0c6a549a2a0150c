/* SPDX-License-Identifier: MIT */
/* model.c -- the terminal client's state, updated from events. No I/O. */
#include "model.h"

#include <stdlib.h>
#include <string.h>

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static long long int_of(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

static const char *str_of(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

void tui_model_init(tui_model_t *m, const char *me)
{
    memset(m, 0, sizeof(*m));
    m->me = dup_or_null(me);
    m->names = json_object();
    m->presence = json_object();
}

static void room_dispose(tui_room_t *r)
{
    free(r->id);
    free(r->name);
    free(r->peer_id);
    free(r->typing_user);
    json_decref(r->msgs);
}

void tui_model_dispose(tui_model_t *m)
{
    for (size_t i = 0; i < m->nrooms; i++)
        room_dispose(&m->rooms[i]);
    free(m->rooms);
    free(m->me);
    json_decref(m->names);
    json_decref(m->presence);
    memset(m, 0, sizeof(*m));
}

tui_room_t *tui_model_room(tui_model_t *m, const char *id)
{
    if (id == NULL)
        return NULL;
    for (size_t i = 0; i < m->nrooms; i++)
        if (strcmp(m->rooms[i].id, id) == 0)
            return &m->rooms[i];
    return NULL;
}

tui_room_t *tui_model_current(tui_model_t *m)
{
    return m->nrooms ? &m->rooms[m->cur] : NULL;
}

void tui_model_learn_user(tui_model_t *m, const json_t *user)
{
    const char *id = str_of(user, "id"), *name = str_of(user, "username");
    if (id && name)
        json_object_set_new(m->names, id, json_string(name));
}

const char *tui_model_name(const tui_model_t *m, const char *user_id)
{
    if (user_id == NULL)
        return "?";
    const char *n = json_string_value(json_object_get(m->names, user_id));
    return n ? n : user_id;
}

/* A dm is named after the other member. */
static void name_room(tui_model_t *m, tui_room_t *r, const json_t *room)
{
    const char *name = str_of(room, "name");
    const json_t *members = json_object_get(room, "members");
    size_t i;
    json_t *u;
    json_array_foreach(members, i, u)
    {
        tui_model_learn_user(m, u);
        const char *id = str_of(u, "id");
        if (r->kind == 'd' && id && (m->me == NULL || strcmp(id, m->me) != 0)) {
            free(r->peer_id);
            r->peer_id = strdup(id);
        }
    }
    if (r->kind == 'd' && r->peer_id) {
        name = tui_model_name(m, r->peer_id);
    }
    if (name && *name) {
        char *n = strdup(name);
        if (n) {
            free(r->name);
            r->name = n;
        }
    } else if (r->name == NULL) {
        r->name = strdup(r->id);
    }
}

tui_room_t *tui_model_room_upsert(tui_model_t *m, const json_t *room)
{
    const char *id = str_of(room, "id");
    if (id == NULL || *id == '\0')
        return NULL;
    tui_room_t *r = tui_model_room(m, id);
    if (r == NULL) {
        tui_room_t *rooms = realloc(m->rooms, (m->nrooms + 1) * sizeof(*rooms));
        if (rooms == NULL)
            return NULL;
        m->rooms = rooms;
        r = &m->rooms[m->nrooms];
        memset(r, 0, sizeof(*r));
        r->id = strdup(id);
        r->msgs = json_array();
        r->more_before = true;
        if (r->id == NULL || r->msgs == NULL) {
            room_dispose(r);
            return NULL;
        }
        m->nrooms++;
    }
    const char *kind = str_of(room, "kind");
    r->kind = kind && strcmp(kind, "dm") == 0        ? 'd'
              : kind && strcmp(kind, "channel") == 0 ? 'c'
                                                     : 'g';
    if (int_of(room, "last_seq") > r->last_seq)
        r->last_seq = int_of(room, "last_seq");
    if (json_is_integer(json_object_get(room, "unread")))
        r->unread = int_of(room, "unread");
    if (json_is_integer(json_object_get(room, "mentions")))
        r->mentions = int_of(room, "mentions");
    if (int_of(room, "read_seq") > r->read_seq)
        r->read_seq = int_of(room, "read_seq");
    name_room(m, r, room);
    return r;
}

/* Index of the first message with seq >= seq (binary search). */
static size_t lower_bound(const json_t *msgs, long long seq)
{
    size_t lo = 0, hi = json_array_size(msgs);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (int_of(json_array_get(msgs, mid), "seq") < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bool tui_model_insert(tui_room_t *r, const json_t *msg)
{
    long long seq = int_of(msg, "seq");
    if (seq < 1)
        return false;
    json_t *copy = json_deep_copy(msg);
    if (copy == NULL)
        return false;
    size_t i = lower_bound(r->msgs, seq);
    json_t *at = json_array_get(r->msgs, i);
    if (at && int_of(at, "seq") == seq) {
        json_array_set_new(r->msgs, i, copy);
        return false;
    }
    json_array_insert_new(r->msgs, i, copy);
    if (seq > r->last_seq)
        r->last_seq = seq;
    return true;
}

json_t *tui_model_find(const tui_room_t *r, long long seq)
{
    size_t i = lower_bound(r->msgs, seq);
    json_t *at = json_array_get(r->msgs, i);
    return at && int_of(at, "seq") == seq ? at : NULL;
}

long long tui_model_oldest(const tui_room_t *r)
{
    return json_array_size(r->msgs) ? int_of(json_array_get(r->msgs, 0), "seq") : 0;
}

bool tui_model_mentions_me(const tui_model_t *m, const json_t *msg)
{
    const char *sender = str_of(msg, "sender");
    if (m->me == NULL || (sender && strcmp(sender, m->me) == 0))
        return false;
    if (json_is_true(json_object_get(msg, "mention_room")))
        return true;
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(msg, "mentions"), i, u)
    {
        const char *id = json_is_string(u) ? json_string_value(u) : str_of(u, "id");
        if (id && strcmp(id, m->me) == 0)
            return true;
    }
    return false;
}

static int apply_message(tui_model_t *m, const json_t *ev)
{
    tui_room_t *r = tui_model_room(m, str_of(ev, "room"));
    if (r == NULL)
        return TUI_EV_NONE;
    /* Messages older than the history we hold would leave a hole in the
     * timeline: history fetches them in order when scrolled to. */
    if (!tui_model_insert(r, ev))
        return TUI_EV_REDRAW;
    int res = TUI_EV_REDRAW;
    const char *sender = str_of(ev, "sender");
    bool mine = sender && m->me && strcmp(sender, m->me) == 0;
    if (r->typing_user && sender && strcmp(r->typing_user, sender) == 0) {
        free(r->typing_user);
        r->typing_user = NULL;
    }
    if (mine) {
        if (int_of(ev, "seq") > r->read_seq)
            r->read_seq = int_of(ev, "seq");
    } else if (r == tui_model_current(m)) {
        res |= TUI_EV_NEW;
    } else if (int_of(ev, "seq") > r->read_seq) {
        r->unread++;
    }
    if (tui_model_mentions_me(m, ev)) {
        res |= TUI_EV_MENTION;
        if (r != tui_model_current(m))
            r->mentions++;
    }
    return res;
}

static int apply_update(tui_model_t *m, const json_t *ev)
{
    tui_room_t *r = tui_model_room(m, str_of(ev, "room"));
    const json_t *msg = json_object_get(ev, "message");
    if (r == NULL || !json_is_object(msg))
        return TUI_EV_NONE;
    /* Only messages we hold: an update of one outside the loaded window is
     * seen when history brings it in its current state. */
    if (tui_model_find(r, int_of(msg, "seq")) == NULL)
        return TUI_EV_NONE;
    tui_model_insert(r, msg);
    return TUI_EV_REDRAW;
}

static int apply_receipt(tui_model_t *m, const json_t *ev)
{
    tui_room_t *r = tui_model_room(m, str_of(ev, "room"));
    const char *user = str_of(ev, "user");
    if (r == NULL || user == NULL || !json_is_integer(json_object_get(ev, "read_seq")))
        return TUI_EV_NONE;
    long long seq = int_of(ev, "read_seq");
    if (m->me && strcmp(user, m->me) == 0) {
        /* Read on another device of ours. */
        if (seq > r->read_seq)
            r->read_seq = seq;
        if (r != tui_model_current(m) && seq >= r->last_seq)
            r->unread = r->mentions = 0;
        return TUI_EV_REDRAW;
    }
    if (seq > r->peer_read)
        r->peer_read = seq;
    return TUI_EV_REDRAW;
}

static int apply_typing(tui_model_t *m, const json_t *ev, uint64_t now_ms)
{
    tui_room_t *r = tui_model_room(m, str_of(ev, "room"));
    const char *user = str_of(ev, "user");
    if (r == NULL || user == NULL)
        return TUI_EV_NONE;
    free(r->typing_user);
    r->typing_user = NULL;
    if (json_is_true(json_object_get(ev, "typing"))) {
        r->typing_user = strdup(user);
        long long ms = int_of(ev, "expires_in_ms");
        r->typing_until = now_ms + (uint64_t)(ms > 0 && ms <= 60000 ? ms : 6000);
    }
    return TUI_EV_REDRAW;
}

int tui_model_apply(tui_model_t *m, const json_t *ev, uint64_t now_ms)
{
    const char *kind = str_of(ev, "ev");
    if (kind == NULL)
        return TUI_EV_NONE;
    if (strcmp(kind, "message") == 0)
        return apply_message(m, ev);
    if (strcmp(kind, "update") == 0)
        return apply_update(m, ev);
    if (strcmp(kind, "receipt") == 0)
        return apply_receipt(m, ev);
    if (strcmp(kind, "typing") == 0)
        return apply_typing(m, ev, now_ms);
    if (strcmp(kind, "presence") == 0) {
        const char *user = str_of(ev, "user"), *status = str_of(ev, "status");
        if (user && status)
            json_object_set_new(m->presence, user, json_string(status));
        return TUI_EV_REDRAW;
    }
    if (strcmp(kind, "room") == 0)
        return tui_model_room_upsert(m, json_object_get(ev, "room")) ? TUI_EV_REDRAW : 0;
    if (strcmp(kind, "member") == 0 || strcmp(kind, "profile") == 0) {
        tui_model_learn_user(m, json_object_get(ev, "user"));
        return TUI_EV_REDRAW;
    }
    return TUI_EV_NONE;
}

long long tui_model_open(tui_model_t *m, size_t i)
{
    if (m->nrooms == 0)
        return 0;
    if (i >= m->nrooms)
        i = m->nrooms - 1;
    m->cur = i;
    tui_room_t *r = &m->rooms[i];
    r->unread = r->mentions = 0;
    size_t n = json_array_size(r->msgs);
    return n ? int_of(json_array_get(r->msgs, n - 1), "seq") : 0;
}

int tui_model_find_room(const tui_model_t *m, const char *name)
{
    if (name == NULL)
        return -1;
    const char *bare = name[0] == '@' || name[0] == '#' ? name + 1 : name;
    for (size_t i = 0; i < m->nrooms; i++) {
        const tui_room_t *r = &m->rooms[i];
        if (strcmp(r->id, name) == 0 || (r->name && strcmp(r->name, bare) == 0))
            return (int)i;
    }
    return -1;
}
