/* SPDX-License-Identifier: MIT */
/* push.h -- Web Push at run time (issue 15): the VAPID key pair kept in the
 * data dir, the `push` job handler (RFC 8030 delivery over libcurl, with the
 * SSRF guard), the removal of subscriptions a push service calls gone, and
 * what a new message pushes to whom (run inside the message's write job, so
 * a message acked is a push enqueued: at least once, exactly once unless a
 * node dies between the POST and the job's completion). */
#ifndef PL_PUSH_PUSH_H
#define PL_PUSH_PUSH_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/config.h"
#include "push/push_crypto.h"
#include "store/store.h"

typedef struct pl_push pl_push_t;

/** The job kind of a delivery (one job per message and subscription). */
#define PL_PUSH_JOB_KIND "push"

/** Loads the VAPID key from data_dir/vapid.key, or makes one there (mode
 * 0600, written to a temp file and renamed) on the first start. Loop
 * thread. Returns 0, PL_EIO (logged: unreadable, not a key, not writable). */
int pl_push_new(uv_loop_t *loop, pl_store_t *st, const pl_config_t *cfg, pl_push_t **out);
/** Closes the handle; frees p in its close callback. Call after the job
 * runner stopped (no handler runs) and before the store closes. NULL ok. */
void pl_push_close(pl_push_t *p);
/** The VAPID public key, base64url of the 65-byte point (what a browser's
 * pushManager.subscribe() takes as applicationServerKey). Borrowed. */
const char *pl_push_public_key(const pl_push_t *p);

/** The `push` job handler (ud: the pl_push_t); pool thread. Builds the
 * encrypted body and VAPID header and POSTs once: 201/202/200 done; 404 and
 * 410 done, and the subscription is deleted; 429, 5xx, timeouts and network
 * errors retried; other answers PL_JOBS_PERMANENT (-> dead). */
int pl_push_job_run(void *ud, const pl_job_t *job, int64_t timeout_ms, char *err, size_t errcap);

/* ---- what a message pushes (push_policy.c) ---- */

/** Why a user gets a push. */
typedef enum {
    PL_PUSH_WHY_NONE = 0,
    PL_PUSH_WHY_DM,      /* a message in a dm */
    PL_PUSH_WHY_MENTION, /* @username or @room in a group */
    PL_PUSH_WHY_REPLY,   /* a reply to the user's message */
    PL_PUSH_WHY_MESSAGE, /* any other group message (level `all`) */
} pl_push_why_t;

/** Decides whether a user is pushed: the account row (mute_until,
 * do-not-disturb hours) and the room row (level, mute_until; NULL = the
 * defaults: dm all, group mentions), at now_ms. Pure. */
bool pl_push_wanted(pl_push_why_t why, const pl_push_pref_t *acct, const pl_push_pref_t *room,
                    int64_t now_ms);

/** What the send path hands to the write job (loop thread builds it; the
 * writer reads it; the caller frees it with pl_push_ctx_free after done). */
typedef struct pl_push_ctx {
    const pl_config_t *cfg;
    bool dm;           /* the room is a dm */
    char *room_name;   /* owned; "" for a dm */
    char *sender_name; /* owned; the sender's display name */
    int64_t *members;  /* owned; sorted user ids of the room */
    size_t nmembers;
    int64_t *connected; /* owned; sorted device ids that are connected and active */
    size_t nconnected;
    size_t enqueued; /* out (store thread, read after done): push jobs enqueued */
} pl_push_ctx_t;
void pl_push_ctx_free(pl_push_ctx_t *c);

/** Inside the write job that stored m (a new message, not a duplicate):
 * c is the pl_push_ctx_t (a void * to be the store's `after` hook);
 * enqueues one `push` job per subscription of every member to be pushed
 * (not the sender; not a device in c->connected), keyed by the room. Returns
 * 0 or PL_EIO (the caller rolls the job back). Store thread. */
int pl_push_enqueue(pl_db_t *db, const pl_message_t *m, void *ctx);

/** The notification (JSON object text, malloc'd) a message makes: room,
 * seq, id, sender, why, ts, a title, and the body text unless
 * content_free. Pure. */
char *pl_push_notification(const pl_push_ctx_t *c, const pl_message_t *m, pl_push_why_t why,
                           bool content_free);

#endif
