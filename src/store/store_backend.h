/* SPDX-License-Identifier: MIT */
/* store_backend.h -- the table behind store.h: one implementation per
 * database (SQLite: store_sqlite*.c, PostgreSQL: store_pg*.c), chosen by the
 * `store` config key at pl_store_open(). store.c holds the public pl_store_* /
 * pl_db_* functions, each a one-line dispatch through the backend of its
 * store or connection.
 *
 * Both backends' pl_store_t and pl_db_t structs start with a
 * `const pl_store_backend_t *be` member (PL_STORE_BE reads it), so the
 * dispatch needs no other knowledge of them.
 *
 * Adding a data function: declare pl_db_<name> in store.h, add one X() line
 * to PL_STORE_DB_FNS below, and implement pl_sq_<name> (store_sqlite_*.c;
 * store_sqlite.h declares it from this list) and pl_pg_<name>
 * (store_pg_*.c; store_pg.h and store_pg.c's table take it from the same
 * list). A function the PostgreSQL backend does not have yet goes to
 * PL_STORE_DB_FNS_SQLITE_ONLY instead: its PostgreSQL entry stays NULL and
 * the dispatch answers PL_EIO with a log line naming the function.
 * Not for use outside src/store/. */
#ifndef PL_STORE_STORE_BACKEND_H
#define PL_STORE_STORE_BACKEND_H

#include "store/store.h"

typedef struct pl_store_backend pl_store_backend_t;

/* X(name, parameters, arguments) for every int-returning pl_db_<name>. */
/* clang-format off */
#define PL_STORE_DB_FNS(X) \
    X(user_create, (pl_db_t *db, const char *username, const char *display_name, const char *pwhash, int64_t now_ms, int64_t *user_id), (db, username, display_name, pwhash, now_ms, user_id)) \
    X(user_by_name, (pl_db_t *db, const char *username, pl_user_t *out), (db, username, out)) \
    X(user_by_id, (pl_db_t *db, int64_t id, pl_user_t *out), (db, id, out)) \
    X(session_create, (pl_db_t *db, int64_t user_id, const unsigned char token_hash[32], const char *device_name, int64_t now_ms, int64_t *device_id), (db, user_id, token_hash, device_name, now_ms, device_id)) \
    X(session_lookup, (pl_db_t *db, const unsigned char token_hash[32], int64_t now_ms, int64_t *user_id, int64_t *device_id), (db, token_hash, now_ms, user_id, device_id)) \
    X(session_delete, (pl_db_t *db, const unsigned char token_hash[32], int64_t *device_id), (db, token_hash, device_id)) \
    X(session_count, (pl_db_t *db, int64_t user_id, int64_t *count), (db, user_id, count)) \
    X(room_create_group, (pl_db_t *db, const char *name, int64_t creator, const int64_t *members, size_t n, int64_t now_ms, int64_t *room_id), (db, name, creator, members, n, now_ms, room_id)) \
    X(room_get_or_create_dm, (pl_db_t *db, int64_t a, int64_t b, int64_t now_ms, int64_t *room_id, bool *created), (db, a, b, now_ms, room_id, created)) \
    X(room_get, (pl_db_t *db, int64_t room_id, pl_room_t *out), (db, room_id, out)) \
    X(member_add, (pl_db_t *db, int64_t room_id, int64_t user_id, int64_t now_ms), (db, room_id, user_id, now_ms)) \
    X(member_remove, (pl_db_t *db, int64_t room_id, int64_t user_id), (db, room_id, user_id)) \
    X(room_is_member, (pl_db_t *db, int64_t room_id, int64_t user_id, bool *is_member), (db, room_id, user_id, is_member)) \
    X(room_member_count, (pl_db_t *db, int64_t room_id, int64_t *n), (db, room_id, n)) \
    X(room_members, (pl_db_t *db, int64_t room_id, int64_t **out, size_t *n), (db, room_id, out, n)) \
    X(user_rooms, (pl_db_t *db, int64_t user_id, pl_room_summary_t **out, size_t *n), (db, user_id, out, n)) \
    X(each_room, (pl_db_t *db, int (*cb)(void *arg, const pl_room_t *r), void *arg), (db, cb, arg)) \
    X(each_member, (pl_db_t *db, int (*cb)(void *arg, const pl_member_t *m), void *arg), (db, cb, arg)) \
    X(messages_before, (pl_db_t *db, int64_t room_id, int64_t before, int64_t limit, pl_message_t **out, size_t *n), (db, room_id, before, limit, out, n)) \
    X(messages_after, (pl_db_t *db, int64_t room_id, int64_t after, int64_t limit, pl_message_t **out, size_t *n), (db, room_id, after, limit, out, n)) \
    X(message_post, (pl_db_t *db, const pl_message_new_t *in, pl_message_t *out, bool *duplicate, pl_message_t *root), (db, in, out, duplicate, root)) \
    X(message_send, (pl_db_t *db, pl_post_t *p), (db, p)) \
    X(message_change, (pl_db_t *db, pl_change_t *c), (db, c)) \
    X(message_by_client_id, (pl_db_t *db, int64_t sender, const char *client_id, pl_message_t *out), (db, sender, client_id, out)) \
    X(message_get, (pl_db_t *db, int64_t room_id, int64_t seq, pl_message_t *out), (db, room_id, seq, out)) \
    X(message_edit, (pl_db_t *db, int64_t room_id, int64_t seq, const char *content, const int64_t *mentions, size_t nmentions, bool mention_room, int64_t now_ms, pl_message_t *out), (db, room_id, seq, content, mentions, nmentions, mention_room, now_ms, out)) \
    X(message_delete, (pl_db_t *db, int64_t room_id, int64_t seq, pl_message_t *out), (db, room_id, seq, out)) \
    X(reaction_set, (pl_db_t *db, int64_t room_id, int64_t seq, int64_t user_id, const char *emoji, bool add, int64_t max_per_user, int64_t now_ms, bool *changed, pl_message_t *out), (db, room_id, seq, user_id, emoji, add, max_per_user, now_ms, changed, out)) \
    X(messages_updated, (pl_db_t *db, int64_t room_id, int64_t max_seq, int64_t after_version, int64_t limit, pl_message_t **out, size_t *n), (db, room_id, max_seq, after_version, limit, out, n)) \
    X(thread_messages, (pl_db_t *db, int64_t room_id, int64_t root, int64_t before, int64_t limit, pl_message_t **out, size_t *n), (db, room_id, root, before, limit, out, n)) \
    X(messages_expire, (pl_db_t *db, int64_t now_ms, int64_t limit, pl_message_t **out, size_t *n), (db, now_ms, limit, out, n)) \
    X(messages_retire, (pl_db_t *db, int64_t before_ms, int64_t after_id, int64_t limit, pl_message_t **out, size_t *n, int64_t *next_id), (db, before_ms, after_id, limit, out, n, next_id)) \
    X(search, (pl_db_t *db, int64_t user_id, const char *query, int64_t room_id, int64_t before_id, int64_t now_ms, int64_t limit, pl_message_t **out, size_t *n), (db, user_id, query, room_id, before_id, now_ms, limit, out, n)) \
    X(room_set_disappearing, (pl_db_t *db, int64_t room_id, int64_t ms), (db, room_id, ms)) \
    X(room_set_meta, (pl_db_t *db, int64_t room_id, const char *name, int64_t avatar), (db, room_id, name, avatar)) \
    X(member_mark, (pl_db_t *db, int64_t room_id, int64_t user_id, bool read, int64_t seq, int64_t now_ms, bool *changed, pl_receipt_t *out), (db, room_id, user_id, read, seq, now_ms, changed, out)) \
    X(room_receipts, (pl_db_t *db, int64_t room_id, int64_t after, size_t limit, pl_receipt_t **out, size_t *n), (db, room_id, after, limit, out, n)) \
    X(profile_get, (pl_db_t *db, int64_t id, const char *username, pl_profile_t *out), (db, id, username, out)) \
    X(profile_set, (pl_db_t *db, int64_t id, const char *display_name, const char *bio, const char *status_text), (db, id, display_name, bio, status_text)) \
    X(settings_set, (pl_db_t *db, int64_t id, const char *settings), (db, id, settings)) \
    X(user_set_last_seen, (pl_db_t *db, int64_t id, int64_t ms), (db, id, ms)) \
    X(contacts, (pl_db_t *db, int64_t user_id, int64_t limit, pl_contact_t **out, size_t *n), (db, user_id, limit, out, n)) \
    X(media_put, (pl_db_t *db, const pl_media_rec_t *rec, pl_media_rec_t *out, bool *existed), (db, rec, out, existed)) \
    X(media_get, (pl_db_t *db, int64_t id, pl_media_rec_t *out), (db, id, out)) \
    X(media_visible, (pl_db_t *db, int64_t id, int64_t user, int64_t now_ms, bool *visible), (db, id, user, now_ms, visible)) \
    X(media_gc, (pl_db_t *db, int64_t now_ms, int64_t cutoff_ms, int64_t limit, pl_media_gc_t *out), (db, now_ms, cutoff_ms, limit, out)) \
    X(avatar_set, (pl_db_t *db, int64_t user, int64_t media), (db, user, media)) \
    X(avatar_get, (pl_db_t *db, int64_t user, int64_t *media), (db, user, media)) \
    X(emoji_add, (pl_db_t *db, const char *shortcode, int64_t media, int64_t owner, int64_t now_ms), (db, shortcode, media, owner, now_ms)) \
    X(emoji_get, (pl_db_t *db, const char *shortcode, pl_emoji_rec_t *out), (db, shortcode, out)) \
    X(emoji_remove, (pl_db_t *db, const char *shortcode), (db, shortcode)) \
    X(emoji_list, (pl_db_t *db, const char *after, size_t limit, pl_emoji_rec_t **out, size_t *n), (db, after, limit, out, n)) \
    X(invite_get, (pl_db_t *db, int64_t room_id, int64_t user_id, int64_t now_ms, pl_invite_t *out), (db, room_id, user_id, now_ms, out)) \
    X(invite_counts, (pl_db_t *db, int64_t room_id, int64_t user_id, int64_t now_ms, int64_t *for_room, int64_t *for_user), (db, room_id, user_id, now_ms, for_room, for_user)) \
    X(invite_put, (pl_db_t *db, const pl_invite_t *inv), (db, inv)) \
    X(invite_delete, (pl_db_t *db, int64_t room_id, int64_t user_id, int64_t now_ms), (db, room_id, user_id, now_ms)) \
    X(invites_withdraw, (pl_db_t *db, int64_t room_id, int64_t inviter, int64_t now_ms, int64_t **users, size_t *n), (db, room_id, inviter, now_ms, users, n)) \
    X(user_invites, (pl_db_t *db, int64_t user_id, int64_t now_ms, int64_t limit, pl_invite_t **out, size_t *n), (db, user_id, now_ms, limit, out, n)) \
    X(invites_purge, (pl_db_t *db, int64_t now_ms, int64_t limit, size_t *n), (db, now_ms, limit, n)) \
    X(is_contact, (pl_db_t *db, int64_t user, int64_t other, int64_t except_room, bool *out), (db, user, other, except_room, out)) \
    X(invite_code_create, (pl_db_t *db, const uint8_t hash[32], int64_t now_ms, int64_t expires_ms), (db, hash, now_ms, expires_ms)) \
    X(invite_code_take, (pl_db_t *db, const uint8_t hash[32], int64_t user_id, int64_t now_ms), (db, hash, user_id, now_ms)) \
    X(mfa_get, (pl_db_t *db, int64_t user_id, pl_mfa_state_t *out), (db, user_id, out)) \
    X(passkey_add, (pl_db_t *db, const pl_passkey_t *k, int64_t *id), (db, k, id)) \
    X(passkey_by_credential, (pl_db_t *db, const unsigned char *cred_id, size_t len, pl_passkey_t *out), (db, cred_id, len, out)) \
    X(passkey_count, (pl_db_t *db, int64_t user_id, int64_t *n), (db, user_id, n)) \
    X(passkey_delete, (pl_db_t *db, int64_t user_id, int64_t id), (db, user_id, id)) \
    X(passkey_handle, (pl_db_t *db, int64_t user_id, bool create, const unsigned char handle_new[PL_PASSKEY_HANDLE_LEN], unsigned char out[PL_PASSKEY_HANDLE_LEN]), (db, user_id, create, handle_new, out)) \
    X(passkey_list, (pl_db_t *db, int64_t user_id, pl_passkey_t **out, size_t *n), (db, user_id, out, n)) \
    X(passkey_rename, (pl_db_t *db, int64_t user_id, int64_t id, const char *name), (db, user_id, id, name)) \
    X(passkey_used, (pl_db_t *db, int64_t id, int64_t count, int64_t now_ms), (db, id, count, now_ms)) \
    X(recovery_code_use, (pl_db_t *db, int64_t user_id, const uint8_t hash[32], int64_t now_ms), (db, user_id, hash, now_ms)) \
    X(recovery_codes_set, (pl_db_t *db, int64_t user_id, const uint8_t (*hashes)[32], size_t n), (db, user_id, hashes, n)) \
    X(reset_token_create, (pl_db_t *db, int64_t user_id, const uint8_t hash[32], int64_t now_ms, int64_t expires_ms), (db, user_id, hash, now_ms, expires_ms)) \
    X(reset_token_take, (pl_db_t *db, const uint8_t hash[32], int64_t now_ms, int64_t *user_id), (db, hash, now_ms, user_id)) \
    X(reset_token_user, (pl_db_t *db, const uint8_t hash[32], int64_t now_ms, int64_t *user_id), (db, hash, now_ms, user_id)) \
    X(session_delete_id, (pl_db_t *db, int64_t user_id, int64_t device_id), (db, user_id, device_id)) \
    X(session_set_ip, (pl_db_t *db, int64_t device_id, const char *ip), (db, device_id, ip)) \
    X(sessions_delete_others, (pl_db_t *db, int64_t user_id, int64_t keep, int64_t **ids, size_t *n), (db, user_id, keep, ids, n)) \
    X(sessions_list, (pl_db_t *db, int64_t user_id, pl_session_info_t **out, size_t *n), (db, user_id, out, n)) \
    X(totp_disable, (pl_db_t *db, int64_t user_id), (db, user_id)) \
    X(totp_enable, (pl_db_t *db, int64_t user_id, const uint8_t *secret, size_t len, const uint8_t salt[16], int64_t last_step, const uint8_t (*hashes)[32], size_t n, int64_t now_ms), (db, user_id, secret, len, salt, last_step, hashes, n, now_ms)) \
    X(totp_use_step, (pl_db_t *db, int64_t user_id, int64_t step), (db, user_id, step)) \
    X(user_set_pwhash, (pl_db_t *db, int64_t user_id, const char *pwhash), (db, user_id, pwhash)) \
    PL_STORE_JOB_FNS(X) \
    PL_STORE_PUSH_FNS(X) \
    PL_STORE_MOD_FNS(X) \
    PL_STORE_HOOK_FNS(X)

/* Moderation (issue 17): store_sqlite_mod.c, store_pg_mod.c. */
#define PL_STORE_MOD_FNS(X) \
    X(member_mod_get, (pl_db_t *db, int64_t room_id, int64_t user_id, pl_member_mod_t *out), (db, room_id, user_id, out)) \
    X(member_role_set, (pl_db_t *db, int64_t room_id, int64_t user_id, int role), (db, room_id, user_id, role)) \
    X(member_mute_set, (pl_db_t *db, int64_t room_id, int64_t user_id, int64_t until_ms), (db, room_id, user_id, until_ms)) \
    X(room_role_count, (pl_db_t *db, int64_t room_id, int role, int64_t *n), (db, room_id, role, n)) \
    X(room_mods, (pl_db_t *db, int64_t room_id, int64_t now_ms, pl_member_mod_t **out, size_t *n), (db, room_id, now_ms, out, n)) \
    X(ban_put, (pl_db_t *db, const pl_ban_t *b), (db, b)) \
    X(ban_delete, (pl_db_t *db, int64_t room_id, int64_t user_id), (db, room_id, user_id)) \
    X(ban_get, (pl_db_t *db, int64_t room_id, int64_t user_id, bool *banned), (db, room_id, user_id, banned)) \
    X(bans, (pl_db_t *db, int64_t room_id, int64_t limit, pl_ban_t **out, size_t *n), (db, room_id, limit, out, n)) \
    X(audit_add, (pl_db_t *db, const pl_audit_t *e), (db, e)) \
    X(audit_list, (pl_db_t *db, int64_t room_id, int64_t before, int64_t limit, pl_audit_t **out, size_t *n), (db, room_id, before, limit, out, n)) \
    X(user_admin_get, (pl_db_t *db, int64_t user_id, bool *admin), (db, user_id, admin)) \
    X(user_admin_set, (pl_db_t *db, int64_t user_id, bool admin), (db, user_id, admin)) \
    X(tombstone_set, (pl_db_t *db, int64_t room_id, int64_t seq, const char *content), (db, room_id, seq, content))

/* Web Push (issue 15): store_sqlite_push.c, store_pg_push.c. */
#define PL_STORE_PUSH_FNS(X) \
    X(push_sub_put, (pl_db_t *db, int64_t user_id, int64_t device_id, const char *endpoint, const char *p256dh, const char *auth, int64_t max, int64_t now_ms, int64_t *id), (db, user_id, device_id, endpoint, p256dh, auth, max, now_ms, id)) \
    X(push_sub_delete, (pl_db_t *db, int64_t user_id, const char *endpoint), (db, user_id, endpoint)) \
    X(push_sub_delete_id, (pl_db_t *db, int64_t id), (db, id)) \
    X(push_subs, (pl_db_t *db, int64_t user_id, pl_push_sub_row_t **out, size_t *n), (db, user_id, out, n)) \
    X(push_pref_put, (pl_db_t *db, int64_t user_id, const pl_push_pref_t *p), (db, user_id, p)) \
    X(push_pref_get, (pl_db_t *db, int64_t user_id, int64_t room_id, pl_push_pref_t *out), (db, user_id, room_id, out)) \
    X(push_prefs, (pl_db_t *db, int64_t user_id, pl_push_pref_t **out, size_t *n), (db, user_id, out, n)) \
    X(push_room_all, (pl_db_t *db, int64_t room_id, int64_t **out, size_t *n), (db, room_id, out, n)) \
    X(push_sub_users, (pl_db_t *db, int64_t **out, size_t *n), (db, out, n))

/* Incoming webhooks (issue 16): store_sqlite_hooks.c, store_pg_hooks.c. */
#define PL_STORE_HOOK_FNS(X) \
    X(webhook_create, (pl_db_t *db, const pl_webhook_t *w, int64_t max_per_room, int64_t *id), (db, w, max_per_room, id)) \
    X(webhook_get, (pl_db_t *db, int64_t id, pl_webhook_t *out), (db, id, out)) \
    X(webhook_list, (pl_db_t *db, int64_t room_id, pl_webhook_t **out, size_t *n), (db, room_id, out, n)) \
    X(webhook_revoke, (pl_db_t *db, int64_t id, int64_t now_ms), (db, id, now_ms)) \
    X(outhook_create, (pl_db_t *db, const pl_outhook_t *w, int64_t max_per_room, int64_t *id), (db, w, max_per_room, id)) \
    X(outhook_get, (pl_db_t *db, int64_t id, pl_outhook_t *out), (db, id, out)) \
    X(outhook_list, (pl_db_t *db, int64_t room_id, pl_outhook_t **out, size_t *n), (db, room_id, out, n)) \
    X(outhook_revoke, (pl_db_t *db, int64_t id, int64_t now_ms), (db, id, now_ms))

/* Durable background jobs (issue 13): store_sqlite_jobs.c, store_pg_jobs.c. */
#define PL_STORE_JOB_FNS(X) \
    X(job_enqueue, (pl_db_t *db, const char *kind, const char *key, const char *payload, int64_t run_at_ms, int64_t now_ms, int64_t *id), (db, kind, key, payload, run_at_ms, now_ms, id)) \
    X(job_claim, (pl_db_t *db, const char *worker, int64_t now_ms, int64_t lease_ms, size_t limit, pl_job_t **out, size_t *n), (db, worker, now_ms, lease_ms, limit, out, n)) \
    X(job_complete, (pl_db_t *db, int64_t id, const char *worker, int64_t now_ms), (db, id, worker, now_ms)) \
    X(job_fail, (pl_db_t *db, int64_t id, const char *worker, const char *error, int64_t retry_at_ms, bool dead, int64_t now_ms), (db, id, worker, error, retry_at_ms, dead, now_ms)) \
    X(job_release, (pl_db_t *db, const char *worker, size_t *n), (db, worker, n)) \
    X(job_purge, (pl_db_t *db, int64_t done_before_ms, int64_t limit, size_t *n), (db, done_before_ms, limit, n)) \
    X(job_counts, (pl_db_t *db, int64_t now_ms, pl_job_counts_t *out), (db, now_ms, out)) \
    X(job_get, (pl_db_t *db, int64_t id, pl_job_t *out, const char **state, char **error), (db, id, out, state, error)) \
    X(job_cancel, (pl_db_t *db, const char *kind, const char *key, int64_t *running), (db, kind, key, running))


/* Functions only the SQLite backend implements so far (same X() form):
 * none at present. */
#define PL_STORE_DB_FNS_SQLITE_ONLY(X)

/* Every data function of store.h. */
#define PL_STORE_ALL_FNS(X) PL_STORE_DB_FNS(X) PL_STORE_DB_FNS_SQLITE_ONLY(X)
/* clang-format on */

struct pl_store_backend {
    const char *name; /* "sqlite", "postgres": for log lines */
    int (*open)(uv_loop_t *loop, const pl_config_t *cfg, pl_store_t **out);
    void (*close)(pl_store_t *st);
    pl_db_t *(*direct)(pl_store_t *st);
    void (*write)(pl_store_t *st, pl_store_work_cb work, pl_store_done_cb done, void *arg);
    void (*read)(pl_store_t *st, pl_store_work_cb work, pl_store_done_cb done, void *arg);
    void (*get_stats)(pl_store_t *st, pl_store_stats_t *out);
    void (*rollback_job)(pl_db_t *db);
    /* Optional (NULL: a plain write job running pl_db_message_send). Queues
     * the write job of a post (pl_store_message_post) so that the backend
     * can see it is one: the PostgreSQL writer inserts a run of plain posts
     * with one statement (store_pg_messages.c, "batched appends"). work and
     * done are the generic job's; the backend calls work(db, p) for a post
     * it does not batch. */
    void (*write_post)(pl_store_t *st, pl_post_t *p, pl_store_work_cb work, pl_store_done_cb done);
#define PL_STORE_BE_SLOT(name, params, args) int(*name) params;
    PL_STORE_ALL_FNS(PL_STORE_BE_SLOT)
#undef PL_STORE_BE_SLOT
};

/* The writer's histograms (issue 17): written by the writer thread, read
 * by pl_store_get_stats on the loop, hence atomics (relaxed: counters). */
typedef struct {
    _Atomic uint64_t counts[PL_STORE_HIST_N];
    _Atomic uint64_t sum; /* commit: ns; batch: jobs */
} pl_store_hist_t;
/** Records one COMMIT of `jobs` jobs that took ns nanoseconds. */
void pl_store__observe_commit(pl_store_hist_t *lat, pl_store_hist_t *batch, uint64_t ns,
                              uint64_t jobs);
/** Copies both histograms into out's commit_* and batch_* fields. */
void pl_store__hist_read(const pl_store_hist_t *lat, const pl_store_hist_t *batch,
                         pl_store_stats_t *out);

/** The backend of a pl_store_t or pl_db_t (its first member). */
#define PL_STORE_BE(p) (*(const pl_store_backend_t *const *)(const void *)(p))

extern const pl_store_backend_t pl_store_sqlite_backend;
extern const pl_store_backend_t pl_store_pg_backend;

#endif
