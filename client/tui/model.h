/* SPDX-License-Identifier: MIT */
/* model.h -- what the terminal client knows: rooms (names, unread and
 * mention counts, read markers, typing), the messages loaded per room (by
 * seq, each once) and user names and presence. Pure: JSON events and
 * replies in, state out; no I/O, no curses, no libuv. */
#ifndef PARLEY_TUI_MODEL_H
#define PARLEY_TUI_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct {
    char *id;            /* "r5" */
    char *name;          /* group name, or the other member's username for a dm */
    char kind;           /* 'd' dm, 'g' group, 'c' channel */
    json_t *msgs;        /* Messages of the main timeline and threads, by seq ascending */
    long long last_seq;  /* the room's newest seq we know of */
    long long read_seq;  /* our read marker */
    long long peer_read; /* the highest read_seq of another member (for ✓✓) */
    long long unread, mentions;
    bool more_before;      /* older history exists on the server */
    bool history_loaded;   /* the first page was asked for */
    char *peer_id;         /* dm: the other member's user id */
    char *typing_user;     /* who is typing (user id), NULL when nobody */
    uint64_t typing_until; /* ms (the caller's clock) when it expires */
} tui_room_t;

typedef struct {
    char *me;          /* our user id */
    tui_room_t *rooms; /* in the order shown */
    size_t nrooms;
    size_t cur;       /* index of the open room (valid when nrooms > 0) */
    json_t *names;    /* user id -> username */
    json_t *presence; /* user id -> "online"/"away"/"offline" */
} tui_model_t;

/** What applying an event changed, for the screen and the bell. */
typedef enum {
    TUI_EV_NONE = 0,
    TUI_EV_REDRAW = 1 << 0,  /* something visible changed */
    TUI_EV_MENTION = 1 << 1, /* a new message mentioning us (not ours) */
    TUI_EV_NEW = 1 << 2,     /* a new message in the open room */
} tui_ev_result_t;

/** Initialises an empty model; me (borrowed, copied) may be NULL. */
void tui_model_init(tui_model_t *m, const char *me);
void tui_model_dispose(tui_model_t *m);

/** The room with id, or NULL. */
tui_room_t *tui_model_room(tui_model_t *m, const char *id);
/** The open room, or NULL when there is none. */
tui_room_t *tui_model_current(tui_model_t *m);

/** Adds or refreshes a room from a Room object (rooms reply, room event,
 * create_room reply; borrowed): name, kind, last_seq and, when present,
 * unread, mentions, read_seq; learns member names. Returns the room, NULL
 * on a bad object or no memory. */
tui_room_t *tui_model_room_upsert(tui_model_t *m, const json_t *room);

/** Learns a user object {"id","username"} (borrowed). */
void tui_model_learn_user(tui_model_t *m, const json_t *user);

/** The username for a user id, or the id itself when unknown. */
const char *tui_model_name(const tui_model_t *m, const char *user_id);

/** Inserts message msg (borrowed; a copy is kept) into its room in seq
 * order; a message with a seq already held replaces it (so a message seen
 * twice -- live, by sync, in history -- is shown once). Returns true when it
 * was new. */
bool tui_model_insert(tui_room_t *r, const json_t *msg);

/** The message with seq in r, borrowed, or NULL. */
json_t *tui_model_find(const tui_room_t *r, long long seq);

/** The smallest seq loaded in r, 0 when none. */
long long tui_model_oldest(const tui_room_t *r);

/** Applies a server event (borrowed) at time now_ms: message, update,
 * receipt, typing, presence, room, member, profile. Counts unread messages
 * and mentions in rooms other than the open one (active: the user is
 * looking at the screen). Returns TUI_EV_* flags. */
int tui_model_apply(tui_model_t *m, const json_t *ev, uint64_t now_ms);

/** Whether message msg (borrowed) mentions us (its "mentions" holds our id,
 * or "mention_room" is true) and is not our own. */
bool tui_model_mentions_me(const tui_model_t *m, const json_t *msg);

/** Opens room index i (clamped): its unread and mention counts go to 0.
 * Returns the newest seq loaded there (for a read marker), 0 when none. */
long long tui_model_open(tui_model_t *m, size_t i);

/** The room index whose name, id or "@peer" is name; -1 when none. */
int tui_model_find_room(const tui_model_t *m, const char *name);

#endif
