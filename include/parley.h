/* SPDX-License-Identifier: MIT */
/* parley.h -- libparley, the C client library for the Parley chat server.
 *
 * Two layers:
 *
 *  - An asynchronous core that runs on a caller-provided uv_loop_t: a
 *    WebSocket client (RFC 6455 over uv_tcp, frames by parleyd's src/ws codec) that
 *    authenticates with a token, matches replies to requests, delivers
 *    server events, reconnects with exponential backoff and jitter, and
 *    resynchronises (on a reconnect inside `auth` with `since`, one round
 *    trip; later gaps with the `sync` op) so the application sees every
 *    room message exactly once and in per-room seq order, and every change of
 *    an existing message (`update`, per-room version) once, across
 *    reconnects.
 *
 *  - A blocking convenience API (parley_register, parley_login,
 *    parley_sync_connect, parley_call, parley_wait_event) for simple programs
 *    and tests. It is built on the async core and runs the client's loop until
 *    the operation completes or times out.
 *
 * Signals: writing to a socket the server has closed raises SIGPIPE. When
 * SIGPIPE is at its default disposition (terminate), parley_client_new and the
 * HTTP account calls set it to SIG_IGN -- the one process-wide side effect of
 * the library; install your own handler first to keep control of it.
 *
 * Debugging: when $PARLEY_TRACE is set (non-empty) at parley_client_new, the
 * client logs every JSON frame it sends and receives to stderr (tokens
 * included: never enable it in production).
 *
 * Threading: libparley has no global state and takes no locks. A client and
 * everything done with it belong to the thread that runs its loop. Several
 * clients may share one loop, and several loops may run in different threads.
 *
 * Errors: functions returning int return PARLEY_OK (0) on success and a
 * negative PARLEY_E* code on failure. Out-parameters are written only on
 * success. When a function takes a parley_error_t *err (which may be NULL), it
 * fills it on failure with a snake_case code -- the server's own code
 * ("bad_credentials", "username_taken", ...) for server-side errors, or one of
 * the local codes listed below -- and a human-readable message.
 *
 * Ownership: each declaration says whether a pointer is borrowed, taken, or
 * returned owned. JSON values are jansson's json_t (reference counted).
 */
#ifndef PARLEY_H
#define PARLEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Return codes                                                              */

enum {
    PARLEY_OK = 0,
    PARLEY_EINVAL = -20001,        /* bad argument (URL, NULL where forbidden, ...) */
    PARLEY_ENOMEM = -20002,        /* allocation failed */
    PARLEY_EIO = -20003,           /* network failure: resolve, connect, read, write */
    PARLEY_ETIMEDOUT = -20004,     /* the blocking call's timeout expired */
    PARLEY_EPROTO = -20005,        /* the server answered something unparseable */
    PARLEY_ESERVER = -20006,       /* the server answered with an error; see err */
    PARLEY_EDISCONNECTED = -20007, /* the connection dropped before the reply */
    PARLEY_ECLOSED = -20008,       /* the client is closed (freed, or auth failed) */
};

/* Local error codes (parley_error_t.code and synthesized replies):
 *   "invalid_argument", "no_memory", "network", "timeout", "protocol",
 *   "disconnected", "closed". Server codes pass through unchanged. */

/** An error description. Plain data, fixed size: no need to free. */
typedef struct parley_error {
    char code[64];     /* snake_case code, "" when no error */
    char message[256]; /* text for humans */
    int status;        /* HTTP status for HTTP calls, else 0 */
} parley_error_t;

/** Returns a static, human-readable name for a PARLEY_E* code. */
const char *parley_strerror(int rc);

/* ------------------------------------------------------------------------ */
/* TLS: https:// and wss:// URLs                                             */

/** How https:// and wss:// servers are checked, for the whole process: their
 * certificate must chain to ca_file (PEM; NULL: the system's CAs, Debian's
 * ca-certificates) and name the URL's host or address. insecure = true
 * skips the check (tests with a self-signed certificate only). Call before
 * creating clients; later connections use the new settings. Returns
 * PARLEY_OK. */
int parley_tls_config(const char *ca_file, bool insecure);

/* ------------------------------------------------------------------------ */
/* HTTP account calls (blocking; each runs a private loop)                   */

/** Registers a new account: POST /v1/register.
 * url: server base URL ("http://127.0.0.1:8080"; "ws://" is accepted too) --
 * borrowed. display_name may be NULL. On success *out_token and *out_user_id
 * (either pointer may be NULL when not wanted) receive malloc'ed strings the
 * caller frees with free(). timeout: 30 s.
 * Returns PARLEY_OK, PARLEY_ESERVER (err has the server's code, e.g.
 * "username_taken"), PARLEY_EIO, PARLEY_ETIMEDOUT, PARLEY_EPROTO or
 * PARLEY_EINVAL. */
int parley_register(const char *url, const char *username, const char *password,
                    const char *display_name, char **out_token, char **out_user_id,
                    parley_error_t *err);

/** Logs in: POST /v1/login. device_name may be NULL. Same contract as
 * parley_register. */
int parley_login(const char *url, const char *username, const char *password,
                 const char *device_name, char **out_token, char **out_user_id,
                 parley_error_t *err);

/** Revokes the token: POST /v1/logout with Authorization: Bearer. */
int parley_logout(const char *url, const char *token, parley_error_t *err);

/* ------------------------------------------------------------------------ */
/* Media transfer (blocking; plain sockets, no loop)                         */

/** Uploads the file at path (borrowed) with POST /v1/media?name=NAME and
 * Authorization: Bearer token (borrowed). name (borrowed, may be NULL: the
 * basename of path) is percent-encoded into the query. The file is streamed:
 * Content-Length comes from fstat and the body is read and sent in 64 KiB
 * chunks, so at most one chunk is in memory. Blocks until the server answers;
 * each socket read or write may wait up to 30 s. On success *out (may be
 * NULL) receives the server's Media object, owned (json_decref):
 * {"id", "size", "mime", "name", "sha256", "w"?, "h"?, "thumb_w"?, ...}.
 * Returns PARLEY_OK, PARLEY_EINVAL (bad URL/token, path unreadable or not a
 * regular file), PARLEY_ESERVER (err has the server's code: "too_large",
 * "unauthenticated", ...), PARLEY_EIO, PARLEY_ETIMEDOUT, PARLEY_EPROTO or
 * PARLEY_ENOMEM. Uses send(MSG_NOSIGNAL): no SIGPIPE. */
int parley_upload(const char *url, const char *token, const char *path, const char *name,
                  json_t **out, parley_error_t *err);

/** Downloads media media_id (borrowed) with GET /v1/media/{id} and Bearer
 * token to out_path (borrowed). The body is written to a temporary file next
 * to out_path ("<out_path>.partXXXXXX") as it arrives, fsync'ed and renamed
 * over out_path on success (an existing out_path is replaced), removed on
 * failure. Blocks like parley_upload. Returns PARLEY_OK, PARLEY_EINVAL,
 * PARLEY_ESERVER ("not_found" for unknown ids and media you cannot see),
 * PARLEY_EIO (network, or the file cannot be written: code "io_error"),
 * PARLEY_ETIMEDOUT, PARLEY_EPROTO or PARLEY_ENOMEM. */
int parley_download(const char *url, const char *token, const char *media_id, const char *out_path,
                    parley_error_t *err);

/** parley_download, and on success *out_name (may be NULL) receives the file
 * name from the server's Content-Disposition (sent for attachments such as
 * text/plain and unknown types), malloc'ed (free()), or NULL when the server
 * gave none. The name comes from the uploader: sanitize it before using it as
 * a path. */
int parley_download_ex(const char *url, const char *token, const char *media_id,
                       const char *out_path, char **out_name, parley_error_t *err);

/* ------------------------------------------------------------------------ */
/* Asynchronous WebSocket client                                             */

typedef struct parley_client parley_client_t;

/** Connection states reported to the state callback. */
typedef enum parley_state {
    PARLEY_STATE_IDLE = 0,       /* created, parley_client_connect not yet called */
    PARLEY_STATE_CONNECTING,     /* resolving, TCP connect, HTTP upgrade */
    PARLEY_STATE_AUTHENTICATING, /* WebSocket open, auth sent */
    PARLEY_STATE_SYNCING,        /* authenticated, catching up with `sync` */
    PARLEY_STATE_READY,          /* caught up; live events flow */
    PARLEY_STATE_WAITING,        /* disconnected, reconnect timer armed */
    PARLEY_STATE_CLOSED,         /* stopped for good (auth refused or freed) */
} parley_state_t;

/** Reply callback. reply is the whole reply frame ({"re", "ok", ...}),
 * borrowed for the duration of the call (json_incref it to keep it). When
 * the request could not complete (connection lost after it was sent, client
 * freed, auth refused) the library synthesizes
 * {"re": id, "ok": false, "error": {"code": "disconnected"|"closed", ...}}.
 * Called exactly once per accepted request, on the loop thread. */
typedef void (*parley_reply_cb)(parley_client_t *c, json_t *reply, void *ud);

/** Event callback: a server event ({"ev": ...}), borrowed for the duration of
 * the call. "message" events have already been deduplicated and ordered;
 * "update" events deduplicated by version (see parley_client_set_version).
 * Every other event ("typing", "receipt", "presence", "profile", "settings",
 * "room", "member", "invite", and kinds added later) is passed through
 * unchanged. Groups and invitations (see parley_req_invite):
 *   {"ev":"invite","action":"add","invite":{"room","name","avatar",
 *    "member_count","inviter":{"id","username","display_name"},"ts",
 *    "expires_ts"}}                          you were invited to a group;
 *   {"ev":"invite","action":"remove","room","reason"}   an invitation ended
 *    ("accepted", "declined" -- on any of your devices -- or "withdrawn");
 *   {"ev":"member","room","action":"join"|"leave"|"invite","user","by"?}
 *    someone joined, was added ("by" who), left, or was invited;
 *   {"ev":"room","room":{...}}              you are now in a room. */
typedef void (*parley_event_cb)(parley_client_t *c, json_t *event, void *ud);

/** State callback. err is borrowed and non-NULL when the transition was caused
 * by an error (for example the close reason or "unauthenticated"). */
typedef void (*parley_state_cb)(parley_client_t *c, parley_state_t state, const parley_error_t *err,
                                void *ud);

/** Creates a client bound to loop (borrowed; must outlive the client's
 * handles). url (borrowed, copied) is "http://host:port[/prefix]" (the
 * WebSocket path is <prefix>/v1/ws) or "ws://host:port[/path]" (default path
 * /v1/ws). TLS is not supported. Nothing happens on the network until
 * parley_client_connect. Returns an owned client (free with
 * parley_client_free) or NULL on a bad URL or allocation failure. */
parley_client_t *parley_client_new(uv_loop_t *loop, const char *url);

/** Frees the client: closes the connection and timers and fails every pending
 * request with "closed" (their callbacks run before this returns). May be
 * called from any libparley callback; then teardown completes when the
 * callback returns. The caller must run the loop afterwards so the handles
 * finish closing (then uv_loop_close() returns 0). For a client from
 * parley_sync_connect, the private loop is run and closed here. NULL is a
 * no-op. */
void parley_client_free(parley_client_t *c);

/** Sets the token sent with `auth` (borrowed, copied). Takes effect on the
 * next (re)connection. Returns PARLEY_OK or PARLEY_ENOMEM/PARLEY_EINVAL. */
int parley_client_set_token(parley_client_t *c, const char *token);

/** Installs the event callback (NULL removes it). Without one, events are
 * queued for parley_wait_event. */
void parley_client_set_event_cb(parley_client_t *c, parley_event_cb cb, void *ud);

/** Installs the state callback (NULL removes it). */
void parley_client_set_state_cb(parley_client_t *c, parley_state_cb cb, void *ud);

/** Reconnect tuning: first backoff delay, cap (both ms; defaults 100 and
 * 10000) and the ping interval (ms, default 20000; 0 disables pings). A
 * connection that shows no traffic for two ping intervals is dropped.
 * Backoff doubles after each failed attempt with +-25 % jitter. */
void parley_client_set_timing(parley_client_t *c, unsigned backoff_min_ms, unsigned backoff_max_ms,
                              unsigned ping_interval_ms);

/** Controls what the first successful connection does. true (default):
 * `sync` from the tracked positions, so rooms without a position are replayed
 * from seq 1. false: the positions of rooms without one are set to the rooms'
 * current last_seq (via `rooms`), so only new messages are delivered; later
 * reconnects always sync. Call before parley_client_connect. */
void parley_client_set_initial_sync(parley_client_t *c, bool replay_history);

/** Starts connecting (asynchronously) and keeps the connection up: on loss it
 * reconnects with backoff and re-authenticates with the positions it has
 * (`auth` with `since`: the missed events come before the reply, live ones
 * after). Requires a token.
 * Returns PARLEY_OK, PARLEY_EINVAL (no token) or PARLEY_ECLOSED. Calling it
 * while already connected is a no-op. */
int parley_client_connect(parley_client_t *c);

/** Sends a request. req (taken: the library owns the reference, even on
 * failure) is a JSON object with "op" and arguments; the library sets "id".
 * Requests made before authentication completes are queued and sent after it;
 * at most 16 are sent and unanswered at once, the rest wait in order (the
 * server refuses requests past its max_inflight_requests). List replies are
 * paged by bytes ("more"; docs/protocol.md, Paging): ask again to get the
 * rest. cb (may be NULL) is called once with the reply. Returns a positive request
 * id, or PARLEY_EINVAL (req not an object) / PARLEY_ECLOSED. */
int64_t parley_client_request(parley_client_t *c, json_t *req, parley_reply_cb cb, void *ud);

/** Sets the last delivered seq for room (borrowed, copied): messages with
 * seq <= seq are never delivered. Use it to restore persisted positions
 * before parley_client_connect. Returns PARLEY_OK, PARLEY_EINVAL or
 * PARLEY_ENOMEM. */
int parley_client_set_position(parley_client_t *c, const char *room, int64_t seq);

/** Returns the highest seq delivered to the application for room, 0 if none. */
int64_t parley_client_get_position(const parley_client_t *c, const char *room);

/** Returns an owned object {room_id: seq, ...} with all positions (free with
 * json_decref), for persistence; NULL on allocation failure. */
json_t *parley_client_positions(const parley_client_t *c);

/* Versions. Besides the dense `seq` of new messages, every room has a
 * `version` counter that each change of an existing message (edit, delete,
 * reaction, thread count, expiry) increments; the server announces a change
 * with {"ev":"update","room","version","message": full current state}.
 * The library tracks, per room, the highest version delivered to the
 * application, advancing it from `update` events and from the `version` of
 * delivered `message` events (never from history/thread/search replies). It
 * sends {"seq": position, "version": version} per room in `sync`, so after a
 * reconnect the application gets one `update` per message changed while it
 * was away (in its latest state), and it drops updates whose version is <=
 * the room's version. A live update that reveals a gap (a skipped version, or
 * a message not delivered yet) triggers a sync instead of being delivered.
 * While a sync runs, a message the application already has that comes back
 * changed is delivered as a synthesized `update` event (same shape).
 * Persist versions next to positions: restoring a position without its
 * version replays every update of the room's older messages once. */

/** Sets the version of room (borrowed, copied): updates with a version <=
 * version are never delivered. Use it with parley_client_set_position to
 * restore persisted state before parley_client_connect; loop thread only.
 * Returns PARLEY_OK, PARLEY_EINVAL (NULL client or room, version < 0) or
 * PARLEY_ENOMEM. */
int parley_client_set_version(parley_client_t *c, const char *room, int64_t version);

/** Returns the highest version delivered to the application for room (room
 * borrowed), 0 if none or when c or room is NULL. Loop thread only. */
int64_t parley_client_get_version(const parley_client_t *c, const char *room);

/** Returns an owned object {room_id: version, ...} with all tracked versions
 * (free with json_decref), for persistence; NULL on allocation failure. Loop
 * thread only. */
json_t *parley_client_versions(const parley_client_t *c);

/** Current state. */
parley_state_t parley_client_state(const parley_client_t *c);

/** The authenticated user ({"id", "username", "display_name"}), borrowed and
 * valid until the next re-authentication; NULL before the first auth. */
const json_t *parley_client_user(const parley_client_t *c);

/** The loop the client runs on (borrowed). */
uv_loop_t *parley_client_loop(const parley_client_t *c);

/* ------------------------------------------------------------------------ */
/* Groups and invitations: request builders                                  */
/*
 * Groups are private: you are in one because you created it, because a
 * member added you (your "group_add" setting -- "everyone", "contacts" or
 * "nobody", changed with settings_set -- allows it), or because you
 * accepted an invitation with join. Each builder returns a new request
 * object, owned by the caller until passed to parley_client_request or
 * parley_call (which take it), or NULL on a NULL/empty argument or
 * allocation failure. Replies and errors are those of docs/protocol.md;
 * "rate_limited" replies carry error.retry_after_ms. room and usernames are
 * borrowed (copied). */

/** create_room kind "group" with name (may be NULL) and n usernames: the
 * reply has "room", "created", "invited" and "skipped". */
json_t *parley_req_create_group(const char *name, const char *const *usernames, size_t n);
/** invite n (>= 1) usernames to room: the reply has "added", "invited" and
 * "skipped" ([{"user","reason"}]). */
json_t *parley_req_invite(const char *room, const char *const *usernames, size_t n);
/** invites: your pending invitations ("invites", newest first). */
json_t *parley_req_invites(void);
/** join room: accepts a pending invitation (a no-op for a member). Without
 * one the server answers "forbidden", the same as for a room that does not
 * exist. */
json_t *parley_req_join(const char *room);
/** leave room: ends membership (or drops a pending invitation). */
json_t *parley_req_leave(const char *room);
/** decline room: drops a pending invitation ("not_found" when none). */
json_t *parley_req_decline(const char *room);

/* ------------------------------------------------------------------------ */
/* Blocking WebSocket API                                                    */

/** Creates a client on a private loop, connects, authenticates with token and
 * completes the initial sync (replaying history per
 * parley_client_set_initial_sync's default; pass replay_history=false to start
 * from "now"). Blocks for at most timeout_ms. On success *out is an owned
 * client (free with parley_client_free, which also closes the private loop).
 * Fails fast: if the first attempt fails (refused, handshake error, dropped
 * before ready) it returns PARLEY_EIO instead of retrying; once connected, the
 * client reconnects automatically like any other.
 * Returns PARLEY_OK, PARLEY_ESERVER ("unauthenticated"), PARLEY_EIO,
 * PARLEY_ETIMEDOUT, PARLEY_EINVAL or PARLEY_ENOMEM. */
int parley_sync_connect(const char *url, const char *token, bool replay_history, int timeout_ms,
                        parley_client_t **out, parley_error_t *err);

/** Sends req (taken) and runs the client's loop until the reply arrives or
 * timeout_ms (<0: no limit) passes. On an ok:true reply, *reply (may be NULL)
 * receives it owned (json_decref). On ok:false returns PARLEY_ESERVER with the
 * server's code in err; PARLEY_EDISCONNECTED if the connection dropped;
 * PARLEY_ETIMEDOUT. Events received meanwhile are queued (or passed to the
 * event callback). Must not be called from a libparley callback, nor while the
 * loop is running in this thread. */
int parley_call(parley_client_t *c, json_t *req, json_t **reply, int timeout_ms,
                parley_error_t *err);

/** Returns the next queued event (owned; json_decref), running the loop for up
 * to timeout_ms (0: just poll, <0: no limit) if none is queued; NULL on
 * timeout. Events are queued only while no event callback is installed. Same
 * calling restrictions as parley_call. */
json_t *parley_wait_event(parley_client_t *c, int timeout_ms);

/** Runs the client's loop until the client is READY (connected, authenticated
 * and synced) or timeout_ms passes. Returns PARLEY_OK, PARLEY_ETIMEDOUT or
 * PARLEY_ECLOSED (auth refused: err says why). */
int parley_wait_ready(parley_client_t *c, int timeout_ms, parley_error_t *err);

#ifdef __cplusplus
}
#endif

#endif /* PARLEY_H */
