/* SPDX-License-Identifier: MIT */
/* test_store.c -- SQLite store: schema and migrations, data functions on the
 * direct connection, and the async writer/reader queues on a real uv loop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

#include "test_store_fx.h"

/* A message through pl_db_message_post, the store's insert (no checks). */
static int msg_append(pl_db_t *db, int64_t room, int64_t sender, const char *cid,
                      const char *content, int64_t now_ms, pl_message_t *m, bool *dup)
{
    pl_message_new_t in = {
        .room_id = room, .sender = sender, .client_id = cid, .content = content, .now_ms = now_ms};
    return pl_db_message_post(db, &in, m, dup, NULL);
}

/* Moves the read marker as `read` does (pl_db_member_mark). */
static int set_read(pl_db_t *db, int64_t room, int64_t user, int64_t seq)
{
    bool changed;
    pl_receipt_t r;
    return pl_db_member_mark(db, room, user, true, seq, 1000, &changed, &r);
}

static int64_t append(pl_db_t *db, int64_t room, int64_t sender, const char *cid, bool *dup)
{
    pl_message_t m;
    bool d = true;
    assert_int_equal(0, msg_append(db, room, sender, cid, "{\"text\":\"x\"}", 5000, &m, &d));
    int64_t seq = m.seq;
    pl_message_dispose(&m);
    if (dup != NULL)
        *dup = d;
    return seq;
}

static int64_t file_user_version(const char *data)
{
    char path[256];
    snprintf(path, sizeof path, "%s/parley.db", data);
    sqlite3 *h = NULL;
    assert_int_equal(SQLITE_OK, sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL));
    sqlite3_stmt *s = NULL;
    assert_int_equal(SQLITE_OK, sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &s, NULL));
    assert_int_equal(SQLITE_ROW, sqlite3_step(s));
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(h);
    return v;
}

/* ---- schema ---- */

static void test_migrate_fresh_and_reopen(void **state)
{
    FX_SQLITE_ONLY();
    fx_t *f = *state;
    struct stat sb;
    assert_int_equal(0, stat(f->data, &sb));
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(0700, sb.st_mode & 0777);
    int64_t uid = mkuser(f->db, "alice");
    fx_close(f);

    int64_t v = file_user_version(f->data);
    assert_true(v >= 1);

    fx_open(f); /* reopen: no migration re-run, data kept */
    pl_user_t u;
    assert_int_equal(0, pl_db_user_by_name(f->db, "alice", &u));
    assert_int_equal(uid, u.id);
    pl_user_dispose(&u);
    fx_close(f);
    assert_int_equal(v, file_user_version(f->data));
}

static void test_newer_schema_refused(void **state)
{
    FX_SQLITE_ONLY();
    fx_t *f = *state;
    fx_close(f);
    char path[256];
    snprintf(path, sizeof path, "%s/parley.db", f->data);
    sqlite3 *h = NULL;
    assert_int_equal(SQLITE_OK, sqlite3_open(path, &h));
    assert_int_equal(SQLITE_OK, sqlite3_exec(h, "PRAGMA user_version=9999", NULL, NULL, NULL));
    sqlite3_close(h);

    pl_log_set_level(-1); /* the refusal is logged as an error: expected */
    pl_store_t *st = NULL;
    assert_int_equal(PL_EIO, pl_store_open(&f->loop, &f->cfg, &st));
    assert_null(st);
    pl_log_set_level(PL_LOG_WARN);
    assert_int_equal(0, uv_run(&f->loop, UV_RUN_NOWAIT));
}

static void test_memory_refused(void **state)
{
    FX_SQLITE_ONLY();
    fx_t *f = *state;
    pl_config_t cfg;
    pl_config_init(&cfg);
    char err[128];
    assert_int_equal(0, pl_config_set(&cfg, "data_dir", ":memory:", err, sizeof err));
    pl_log_set_level(-1);
    pl_store_t *st = NULL;
    assert_int_equal(PL_EIO, pl_store_open(&f->loop, &cfg, &st));
    pl_log_set_level(PL_LOG_WARN);
    pl_config_dispose(&cfg);
}

/* ---- users and sessions ---- */

static void test_users(void **state)
{
    fx_t *f = *state;
    int64_t a = mkuser(f->db, "alice");
    int64_t b = mkuser(f->db, "bob");
    assert_true(a != b);
    int64_t x = -1;
    assert_int_equal(PL_EEXIST, pl_db_user_create(f->db, "alice", "Other", "h", 2, &x));
    assert_int_equal(-1, x); /* out-param untouched on failure */

    pl_user_t u;
    assert_int_equal(0, pl_db_user_by_id(f->db, b, &u));
    assert_string_equal("bob", u.username);
    assert_string_equal("bob", u.display_name);
    assert_string_equal("$argon2id$x", u.pwhash);
    assert_int_equal(1000, u.created_ms);
    pl_user_dispose(&u);
    pl_user_dispose(NULL);
    /* lookups are exact: the caller lowercases */
    assert_int_equal(PL_ENOTFOUND, pl_db_user_by_name(f->db, "Alice", &u));
    assert_int_equal(PL_ENOTFOUND, pl_db_user_by_id(f->db, 9999, &u));
}

static void test_sessions(void **state)
{
    fx_t *f = *state;
    int64_t a = mkuser(f->db, "alice");
    unsigned char t1[32], t2[32], t3[32];
    memset(t1, 1, 32);
    memset(t2, 2, 32);
    memset(t3, 3, 32);
    int64_t d1, d2, uid, did, n;
    assert_int_equal(0, pl_db_session_create(f->db, a, t1, "laptop", 100, &d1));
    assert_int_equal(0, pl_db_session_create(f->db, a, t2, "phone", 100, &d2));
    assert_true(d1 != d2);
    assert_int_equal(PL_EEXIST, pl_db_session_create(f->db, a, t1, "dup", 100, &did));
    assert_int_equal(PL_ENOTFOUND, pl_db_session_create(f->db, 777, t3, "ghost", 100, &did));
    assert_int_equal(0, pl_db_session_count(f->db, a, &n));
    assert_int_equal(2, n);

    assert_int_equal(0, pl_db_session_lookup(f->db, t2, 200, &uid, &did));
    assert_int_equal(a, uid);
    assert_int_equal(d2, did);
    assert_int_equal(PL_ENOTFOUND, pl_db_session_lookup(f->db, t3, 200, &uid, &did));

    assert_int_equal(0, pl_db_session_delete(f->db, t1, &did));
    assert_int_equal(d1, did);
    assert_int_equal(PL_ENOTFOUND, pl_db_session_delete(f->db, t1, &did));
    assert_int_equal(PL_ENOTFOUND, pl_db_session_lookup(f->db, t1, 300, &uid, &did));
    assert_int_equal(0, pl_db_session_count(f->db, a, &n));
    assert_int_equal(1, n);
    /* a deleted device id is never handed out again */
    int64_t d3;
    assert_int_equal(0, pl_db_session_create(f->db, a, t3, "tablet", 400, &d3));
    assert_true(d3 > d2);
}

/* ---- rooms and membership ---- */

static void test_dm(void **state)
{
    fx_t *f = *state;
    int64_t a = mkuser(f->db, "alice"), b = mkuser(f->db, "bob"), c = mkuser(f->db, "carol");
    int64_t r1, r2, r3, r4;
    bool created;
    assert_int_equal(0, pl_db_room_get_or_create_dm(f->db, a, b, 10, &r1, &created));
    assert_true(created);
    assert_int_equal(0, pl_db_room_get_or_create_dm(f->db, a, b, 11, &r2, &created));
    assert_false(created);
    assert_int_equal(r1, r2);
    assert_int_equal(0, pl_db_room_get_or_create_dm(f->db, b, a, 12, &r3, &created));
    assert_false(created);
    assert_int_equal(r1, r3);
    assert_int_equal(0, pl_db_room_get_or_create_dm(f->db, c, a, 13, &r4, &created));
    assert_true(created);
    assert_true(r4 != r1);

    pl_room_t r;
    assert_int_equal(0, pl_db_room_get(f->db, r1, &r));
    assert_int_equal(PL_ROOM_DM, r.kind);
    assert_string_equal("", r.name);
    assert_int_equal(0, r.last_seq);
    assert_int_equal(10, r.created_ms);
    pl_room_dispose(&r);

    int64_t *m;
    size_t n;
    assert_int_equal(0, pl_db_room_members(f->db, r1, &m, &n));
    assert_int_equal(2, n);
    assert_int_equal(a, m[0]);
    assert_int_equal(b, m[1]);
    free(m);

    /* unknown user: nothing half-created */
    assert_int_equal(PL_ENOTFOUND, pl_db_room_get_or_create_dm(f->db, a, 999, 14, &r2, &created));
    pl_room_summary_t *rs;
    assert_int_equal(0, pl_db_user_rooms(f->db, a, &rs, &n));
    assert_int_equal(2, n);
    for (size_t i = 0; i < n; i++)
        pl_room_dispose(&rs[i].room);
    free(rs);
}

static void test_group_and_members(void **state)
{
    fx_t *f = *state;
    int64_t a = mkuser(f->db, "alice"), b = mkuser(f->db, "bob"), c = mkuser(f->db, "carol");
    int64_t d = mkuser(f->db, "dave");
    int64_t mem[] = {c, b};
    int64_t g;
    assert_int_equal(0, pl_db_room_create_group(f->db, "team", a, mem, 2, 20, &g));
    pl_room_t r;
    assert_int_equal(0, pl_db_room_get(f->db, g, &r));
    assert_int_equal(PL_ROOM_GROUP, r.kind);
    assert_string_equal("team", r.name);
    pl_room_dispose(&r);
    assert_int_equal(PL_ENOTFOUND, pl_db_room_get(f->db, g + 100, &r));

    int64_t *m;
    size_t n;
    assert_int_equal(0, pl_db_room_members(f->db, g, &m, &n));
    assert_int_equal(3, n);
    assert_int_equal(a, m[0]);
    assert_int_equal(b, m[1]);
    assert_int_equal(c, m[2]);
    free(m);

    assert_int_equal(0, pl_db_member_add(f->db, g, d, 30));
    assert_int_equal(PL_EEXIST, pl_db_member_add(f->db, g, d, 31));
    assert_int_equal(PL_ENOTFOUND, pl_db_member_add(f->db, g, 999, 31));
    assert_int_equal(PL_ENOTFOUND, pl_db_member_add(f->db, 999, d, 31));
    bool is;
    assert_int_equal(0, pl_db_room_is_member(f->db, g, d, &is));
    assert_true(is);
    assert_int_equal(0, pl_db_member_remove(f->db, g, b));
    assert_int_equal(PL_ENOTFOUND, pl_db_member_remove(f->db, g, b));
    assert_int_equal(0, pl_db_room_is_member(f->db, g, b, &is));
    assert_false(is);
    assert_int_equal(0, pl_db_room_members(f->db, g, &m, &n));
    assert_int_equal(3, n);
    assert_int_equal(a, m[0]);
    assert_int_equal(c, m[1]);
    assert_int_equal(d, m[2]);
    free(m);
    assert_int_equal(PL_ENOTFOUND, pl_db_room_members(f->db, 999, &m, &n));

    /* a group with an unknown member is not created at all */
    int64_t bad[] = {b, 4242};
    int64_t g2 = -1;
    assert_int_equal(PL_ENOTFOUND, pl_db_room_create_group(f->db, "bad", a, bad, 2, 40, &g2));
    assert_int_equal(-1, g2);
    pl_room_summary_t *rs;
    assert_int_equal(0, pl_db_user_rooms(f->db, b, &rs, &n));
    assert_int_equal(0, n);
    free(rs);

    /* everyone leaves: the room exists with no members */
    assert_int_equal(0, pl_db_member_remove(f->db, g, a));
    assert_int_equal(0, pl_db_member_remove(f->db, g, c));
    assert_int_equal(0, pl_db_member_remove(f->db, g, d));
    assert_int_equal(0, pl_db_room_members(f->db, g, &m, &n));
    assert_int_equal(0, n);
    free(m);
}

typedef struct {
    int rooms, members, stop_at;
} each_t;

static int each_room_cb(void *arg, const pl_room_t *r)
{
    each_t *e = arg;
    assert_non_null(r->name);
    return ++e->rooms == e->stop_at ? 7 : 0;
}

static int each_member_cb(void *arg, const pl_member_t *m)
{
    each_t *e = arg;
    assert_true(m->room_id > 0 && m->user_id > 0);
    e->members++;
    return 0;
}

static void test_each(void **state)
{
    fx_t *f = *state;
    int64_t a = mkuser(f->db, "alice"), b = mkuser(f->db, "bob"), r;
    bool created;
    assert_int_equal(0, pl_db_room_get_or_create_dm(f->db, a, b, 1, &r, &created));
    assert_int_equal(0, pl_db_room_create_group(f->db, "g1", a, NULL, 0, 1, &r));
    assert_int_equal(0, pl_db_room_create_group(f->db, "g2", b, &a, 1, 1, &r));
    each_t e = {0};
    assert_int_equal(0, pl_db_each_room(f->db, each_room_cb, &e));
    assert_int_equal(0, pl_db_each_member(f->db, each_member_cb, &e));
    assert_int_equal(3, e.rooms);
    assert_int_equal(5, e.members);
    e = (each_t){.stop_at = 2};
    assert_int_equal(7, pl_db_each_room(f->db, each_room_cb, &e));
    assert_int_equal(2, e.rooms);
    /* the statement was reset: iterating again starts from the top */
    e = (each_t){0};
    assert_int_equal(0, pl_db_each_room(f->db, each_room_cb, &e));
    assert_int_equal(3, e.rooms);
}

/* ---- messages ---- */

static void test_append(void **state)
{
    fx_t *f = *state;
    int64_t a = mkuser(f->db, "alice"), b = mkuser(f->db, "bob"), r, r2;
    bool created, dup;
    assert_int_equal(0, pl_db_room_get_or_create_dm(f->db, a, b, 1, &r, &created));
    assert_int_equal(0, pl_db_room_create_group(f->db, "other", a, &b, 1, 1, &r2));
    char cid[32];
    for (int i = 1; i <= 50; i++) {
        snprintf(cid, sizeof cid, "c%d", i);
        assert_int_equal(i, append(f->db, r, i % 2 ? a : b, cid, &dup));
        assert_false(dup);
    }
    /* another room has its own sequence */
    assert_int_equal(1, append(f->db, r2, a, "other-1", &dup));

    /* retry of c7 (sent by alice): the original comes back */
    pl_message_t m, orig;
    size_t n;
    pl_message_t *v;
    assert_int_equal(0, pl_db_messages_after(f->db, r, 6, 1, &v, &n));
    assert_int_equal(1, n);
    orig = v[0];
    assert_int_equal(0, msg_append(f->db, r, a, "c7", "{\"text\":\"changed\"}", 9999, &m, &dup));
    assert_true(dup);
    assert_int_equal(orig.id, m.id);
    assert_int_equal(7, m.seq);
    assert_int_equal(orig.ts, m.ts);
    assert_string_equal(orig.content, m.content);
    assert_string_equal("c7", m.client_id);
    pl_message_dispose(&m);
    pl_messages_free(v, n);
    /* same client_id from a different sender is a different message */
    assert_int_equal(51, append(f->db, r, b, "c7", &dup));
    assert_false(dup);

    pl_room_t room;
    assert_int_equal(0, pl_db_room_get(f->db, r, &room));
    assert_int_equal(51, room.last_seq);
    pl_room_dispose(&room);

    /* unknown room and unknown sender leave no trace */
    m.seq = -5;
    assert_int_equal(PL_ENOTFOUND, msg_append(f->db, 9999, a, "zz", "{}", 1, &m, &dup));
    assert_int_equal(-5, m.seq);
    assert_int_equal(PL_ENOTFOUND, msg_append(f->db, r, 9999, "zz", "{}", 1, &m, &dup));
    assert_int_equal(0, pl_db_room_get(f->db, r, &room));
    assert_int_equal(51, room.last_seq);
    pl_room_dispose(&room);
    assert_int_equal(52, append(f->db, r, a, "c52", &dup));

    /* all seqs 1..52, gap-free, in order, with the stored fields */
    assert_int_equal(0, pl_db_messages_after(f->db, r, 0, 1000, &v, &n));
    assert_int_equal(52, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal((int64_t)i + 1, v[i].seq);
        assert_int_equal(r, v[i].room_id);
        assert_int_equal(5000, v[i].ts);
        assert_string_equal("{\"text\":\"x\"}", v[i].content);
    }
    pl_messages_free(v, n);
    pl_messages_free(NULL, 0);
}

static void test_history_paging(void **state)
{
    fx_t *f = *state;
    int64_t a = mkuser(f->db, "alice"), r, empty;
    assert_int_equal(0, pl_db_room_create_group(f->db, "g", a, NULL, 0, 1, &r));
    assert_int_equal(0, pl_db_room_create_group(f->db, "e", a, NULL, 0, 1, &empty));
    char cid[32];
    for (int i = 1; i <= 10; i++) {
        snprintf(cid, sizeof cid, "c%d", i);
        append(f->db, r, a, cid, NULL);
    }
    pl_message_t *v;
    size_t n;
    /* before <= 0: the newest `limit`, oldest first */
    assert_int_equal(0, pl_db_messages_before(f->db, r, 0, 3, &v, &n));
    assert_int_equal(3, n);
    assert_int_equal(8, v[0].seq);
    assert_int_equal(9, v[1].seq);
    assert_int_equal(10, v[2].seq);
    pl_messages_free(v, n);
    assert_int_equal(0, pl_db_messages_before(f->db, r, -1, 2, &v, &n));
    assert_int_equal(2, n);
    assert_int_equal(9, v[0].seq);
    pl_messages_free(v, n);
    /* strictly before */
    assert_int_equal(0, pl_db_messages_before(f->db, r, 8, 3, &v, &n));
    assert_int_equal(3, n);
    assert_int_equal(5, v[0].seq);
    assert_int_equal(7, v[2].seq);
    pl_messages_free(v, n);
    /* limit bigger than what is left */
    assert_int_equal(0, pl_db_messages_before(f->db, r, 3, 100, &v, &n));
    assert_int_equal(2, n);
    assert_int_equal(1, v[0].seq);
    assert_int_equal(2, v[1].seq);
    pl_messages_free(v, n);
    assert_int_equal(0, pl_db_messages_before(f->db, r, 1, 100, &v, &n));
    assert_int_equal(0, n);
    pl_messages_free(v, n);
    assert_int_equal(0, pl_db_messages_before(f->db, r, 0, 100, &v, &n));
    assert_int_equal(10, n);
    assert_int_equal(1, v[0].seq);
    assert_int_equal(10, v[9].seq);
    pl_messages_free(v, n);
    /* after: strictly after, oldest first */
    assert_int_equal(0, pl_db_messages_after(f->db, r, 4, 3, &v, &n));
    assert_int_equal(3, n);
    assert_int_equal(5, v[0].seq);
    assert_int_equal(7, v[2].seq);
    pl_messages_free(v, n);
    assert_int_equal(0, pl_db_messages_after(f->db, r, 8, 100, &v, &n));
    assert_int_equal(2, n);
    assert_int_equal(9, v[0].seq);
    pl_messages_free(v, n);
    assert_int_equal(0, pl_db_messages_after(f->db, r, 10, 100, &v, &n));
    assert_int_equal(0, n);
    pl_messages_free(v, n);
    assert_int_equal(0, pl_db_messages_after(f->db, r, 0, 0, &v, &n));
    assert_int_equal(0, n);
    pl_messages_free(v, n);
    /* empty and unknown rooms */
    assert_int_equal(0, pl_db_messages_before(f->db, empty, 0, 50, &v, &n));
    assert_int_equal(0, n);
    pl_messages_free(v, n);
    assert_int_equal(0, pl_db_messages_after(f->db, empty, 0, 50, &v, &n));
    assert_int_equal(0, n);
    pl_messages_free(v, n);
    assert_int_equal(0, pl_db_messages_after(f->db, 4242, 0, 50, &v, &n));
    assert_int_equal(0, n);
    pl_messages_free(v, n);
}

static pl_room_summary_t *find_summary(pl_room_summary_t *rs, size_t n, int64_t room)
{
    for (size_t i = 0; i < n; i++)
        if (rs[i].room.id == room)
            return &rs[i];
    fail_msg("room %" PRId64 " not in summary", room);
    return NULL;
}

static void user_rooms_free(pl_room_summary_t *rs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pl_room_dispose(&rs[i].room);
    free(rs);
}

static void test_unread_and_read_marker(void **state)
{
    fx_t *f = *state;
    int64_t a = mkuser(f->db, "alice"), b = mkuser(f->db, "bob"), dm, g;
    bool created;
    assert_int_equal(0, pl_db_room_get_or_create_dm(f->db, a, b, 1, &dm, &created));
    assert_int_equal(0, pl_db_room_create_group(f->db, "g", b, &a, 1, 1, &g));
    /* dm: alice 3, bob 4, alice 1; group: bob 2 */
    const int64_t senders[] = {a, a, a, b, b, b, b, a};
    char cid[32];
    for (size_t i = 0; i < PL_ARRAY_LEN(senders); i++) {
        snprintf(cid, sizeof cid, "dm%zu", i);
        append(f->db, dm, senders[i], cid, NULL);
    }
    append(f->db, g, b, "g1", NULL);
    append(f->db, g, b, "g2", NULL);

    pl_room_summary_t *rs;
    size_t n;
    assert_int_equal(0, pl_db_user_rooms(f->db, a, &rs, &n));
    assert_int_equal(2, n);
    pl_room_summary_t *s = find_summary(rs, n, dm);
    assert_int_equal(4, s->unread); /* bob's four, not alice's own */
    assert_int_equal(0, s->read_seq);
    assert_int_equal(8, s->room.last_seq);
    assert_int_equal(PL_ROOM_DM, s->room.kind);
    s = find_summary(rs, n, g);
    assert_int_equal(2, s->unread);
    assert_string_equal("g", s->room.name);
    user_rooms_free(rs, n);

    assert_int_equal(0, set_read(f->db, dm, a, 5)); /* read bob's seq 4 and 5 */
    assert_int_equal(0, set_read(f->db, dm, a, 2)); /* never backwards */
    assert_int_equal(0, pl_db_user_rooms(f->db, a, &rs, &n));
    s = find_summary(rs, n, dm);
    assert_int_equal(5, s->read_seq);
    assert_int_equal(2, s->unread); /* bob's seq 6 and 7 */
    user_rooms_free(rs, n);

    assert_int_equal(0, set_read(f->db, dm, a, 1000)); /* clamps to last_seq */
    assert_int_equal(0, pl_db_user_rooms(f->db, a, &rs, &n));
    s = find_summary(rs, n, dm);
    assert_int_equal(8, s->read_seq);
    assert_int_equal(0, s->unread);
    user_rooms_free(rs, n);

    /* a new message after the clamp counts as unread again */
    append(f->db, dm, b, "late", NULL);
    assert_int_equal(0, pl_db_user_rooms(f->db, a, &rs, &n));
    assert_int_equal(1, find_summary(rs, n, dm)->unread);
    user_rooms_free(rs, n);

    assert_int_equal(PL_ENOTFOUND, set_read(f->db, dm, 999, 1));
    assert_int_equal(PL_ENOTFOUND, set_read(f->db, 999, a, 1));
    assert_int_equal(0, pl_db_user_rooms(f->db, 999, &rs, &n));
    assert_int_equal(0, n);
    free(rs);
}

/* ---- async queues ---- */

typedef struct {
    fx_t *f;
    pl_store_t *st; /* kept: fx_close clears f->st before the drain */
    int64_t room, sender;
    char cid[24];
    bool rollback;
    int rc;      /* set by work */
    int status;  /* pl_store_done_status in done */
    int64_t seq; /* set by work */
    int done;    /* times done ran */
    int *order;  /* shared: next expected index */
    int index;   /* submission index */
    bool in_order;
} wjob_t;

static void append_work(pl_db_t *db, void *arg)
{
    wjob_t *j = arg;
    pl_message_t m;
    bool dup;
    j->rc = msg_append(db, j->room, j->sender, j->cid, "{\"text\":\"hi\"}", 42, &m, &dup);
    if (j->rc == 0) {
        j->seq = m.seq;
        pl_message_dispose(&m);
    }
    if (j->rollback)
        pl_db_rollback_job(db);
}

static void append_done(int status, void *arg)
{
    wjob_t *j = arg;
    j->status = status;
    j->done++;
    if (j->order != NULL) {
        j->in_order = *j->order == j->index;
        (*j->order)++;
    }
}

static int64_t setup_room(fx_t *f, int64_t *sender)
{
    int64_t a = mkuser(f->db, "alice"), r;
    assert_int_equal(0, pl_db_room_create_group(f->db, "g", a, NULL, 0, 1, &r));
    *sender = a;
    return r;
}

static wjob_t *make_jobs(fx_t *f, int n, int64_t room, int64_t sender, int *order)
{
    wjob_t *jobs = calloc((size_t)n, sizeof *jobs);
    for (int i = 0; i < n; i++) {
        jobs[i] = (wjob_t){.f = f,
                           .st = f->st,
                           .room = room,
                           .sender = sender,
                           .order = order,
                           .index = i,
                           .status = 12345};
        snprintf(jobs[i].cid, sizeof jobs[i].cid, "job-%d", i);
    }
    return jobs;
}

static void test_async_group_commit(void **state)
{
    fx_t *f = *state;
    int64_t sender, room = setup_room(f, &sender);
    enum { N = 1000 };
    int order = 0;
    wjob_t *jobs = make_jobs(f, N, room, sender, &order);
    for (int i = 0; i < N; i++)
        pl_store_write(f->st, append_work, append_done, &jobs[i]);
    while (order < N)
        uv_run(&f->loop, UV_RUN_ONCE);
    for (int i = 0; i < N; i++) {
        assert_int_equal(1, jobs[i].done);
        assert_int_equal(0, jobs[i].rc);
        assert_int_equal(0, jobs[i].status);
        assert_true(jobs[i].in_order);
        assert_int_equal(i + 1, jobs[i].seq);
    }
    pl_store_stats_t s;
    pl_store_get_stats(f->st, &s);
    assert_int_equal(N, s.write_jobs);
    assert_true(s.commits >= 1);
    assert_true(s.commits < s.write_jobs); /* group commit happened */
    print_message("# group commit: %" PRIu64 " jobs in %" PRIu64 " commits\n", s.write_jobs,
                  s.commits);

    pl_message_t *v;
    size_t n;
    assert_int_equal(0, pl_db_messages_after(f->db, room, 0, 2 * N, &v, &n));
    assert_int_equal(N, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal((int64_t)i + 1, v[i].seq);
    pl_messages_free(v, n);
    free(jobs);
    fx_close(f);
}

static void test_async_rollback_job(void **state)
{
    fx_t *f = *state;
    int64_t sender, room = setup_room(f, &sender);
    int order = 0;
    wjob_t *jobs = make_jobs(f, 5, room, sender, &order);
    jobs[1].rollback = true;
    jobs[3].rollback = true;
    for (int i = 0; i < 5; i++)
        pl_store_write(f->st, append_work, append_done, &jobs[i]);
    while (order < 5)
        uv_run(&f->loop, UV_RUN_ONCE);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(0, jobs[i].status);
        assert_true(jobs[i].in_order);
    }
    /* the rolled-back jobs saw their own seq inside their savepoint... */
    assert_int_equal(1, jobs[0].seq);
    assert_int_equal(2, jobs[1].seq);
    assert_int_equal(2, jobs[2].seq); /* ...and it was reused: no gap */
    assert_int_equal(3, jobs[4].seq);

    pl_message_t *v;
    size_t n;
    assert_int_equal(0, pl_db_messages_after(f->db, room, 0, 100, &v, &n));
    assert_int_equal(3, n);
    assert_string_equal("job-0", v[0].client_id);
    assert_string_equal("job-2", v[1].client_id);
    assert_string_equal("job-4", v[2].client_id);
    pl_messages_free(v, n);
    pl_room_t r;
    assert_int_equal(0, pl_db_room_get(f->db, room, &r));
    assert_int_equal(3, r.last_seq);
    pl_room_dispose(&r);
    /* the rolled-back client_id is free again */
    bool dup;
    assert_int_equal(4, append(f->db, room, sender, "job-1", &dup));
    assert_false(dup);
    free(jobs);
    fx_close(f);
}

typedef struct {
    pl_store_t *st;
    int64_t room, sender;
    int64_t seen; /* messages the read saw */
    int rc, status, done;
    int64_t reads_submitted;
} rjob_t;

static void read_work(pl_db_t *db, void *arg)
{
    rjob_t *j = arg;
    pl_message_t *v;
    size_t n;
    j->rc = pl_db_messages_after(db, j->room, 0, 1000, &v, &n);
    if (j->rc == 0) {
        j->seen = (int64_t)n;
        pl_messages_free(v, n);
    }
}

static void read_done(int status, void *arg)
{
    rjob_t *j = arg;
    j->status = status;
    j->done++;
}

/* A write's done callback submits a read: the read must see the write. */
typedef struct {
    wjob_t w;
    rjob_t r;
} chain_t;

static void chain_write_done(int status, void *arg)
{
    chain_t *c = arg;
    append_done(status, &c->w);
    pl_store_read(c->w.st, read_work, read_done, &c->r);
}

static void bad_read_work(pl_db_t *db, void *arg)
{
    rjob_t *j = arg;
    int64_t id;
    /* a write on a reader connection: storage error, status PL_EIO */
    j->rc = pl_db_user_create(db, "mallory", "m", "h", 1, &id);
}

static void test_async_reads(void **state)
{
    fx_t *f = *state;
    int64_t sender, room = setup_room(f, &sender);
    enum { N = 20 };
    chain_t *c = calloc(N, sizeof *c);
    for (int i = 0; i < N; i++) {
        c[i].w = (wjob_t){.f = f, .st = f->st, .room = room, .sender = sender, .status = 99};
        snprintf(c[i].w.cid, sizeof c[i].w.cid, "w%d", i);
        c[i].r = (rjob_t){.st = f->st, .room = room, .status = 99, .seen = -1};
        pl_store_write(f->st, append_work, chain_write_done, &c[i].w);
    }
    rjob_t bad = {.st = f->st, .status = 99};
    pl_log_set_level(-1); /* the failed write is logged as an error: expected */
    pl_store_read(f->st, bad_read_work, read_done, &bad);
    for (;;) {
        int done = bad.done;
        for (int i = 0; i < N; i++)
            done += c[i].r.done;
        if (done == N + 1)
            break;
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    pl_log_set_level(PL_LOG_WARN);
    for (int i = 0; i < N; i++) {
        assert_int_equal(0, c[i].w.status);
        assert_int_equal(0, c[i].r.status);
        assert_int_equal(0, c[i].r.rc);
        /* every write up to and including this one is committed */
        assert_true(c[i].r.seen >= c[i].w.seq);
    }
    assert_int_equal(PL_EIO, bad.rc);
    assert_int_equal(PL_EIO, bad.status);
    pl_store_stats_t s;
    pl_store_get_stats(f->st, &s);
    assert_int_equal(N + 1, s.read_jobs);
    free(c);
    fx_close(f);
}

/* A write job whose data call hits a storage error rolls back alone. */
typedef struct {
    wjob_t w;
    bool break_it;
    int user_rc;
} eio_t;

static void eio_work(pl_db_t *db, void *arg)
{
    eio_t *e = arg;
    append_work(db, &e->w);
    if (e->break_it) {
        int64_t id;
        e->user_rc = pl_db_user_create(db, "boom", "b", "h", 1, &id);
    }
}

static void test_async_storage_error_job(void **state)
{
    FX_SQLITE_ONLY();
    fx_t *f = *state;
    int64_t sender, room = setup_room(f, &sender);
    /* A trigger makes one insert fail the way a storage error would (not a
     * unique or foreign-key answer). */
    char path[256];
    snprintf(path, sizeof path, "%s/parley.db", f->data);
    sqlite3 *h = NULL;
    assert_int_equal(SQLITE_OK, sqlite3_open(path, &h));
    assert_int_equal(
        SQLITE_OK, sqlite3_exec(h,
                                "CREATE TRIGGER boom BEFORE INSERT ON users "
                                "WHEN NEW.username = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END",
                                NULL, NULL, NULL));
    sqlite3_close(h);

    int order = 0;
    eio_t e[3];
    for (int i = 0; i < 3; i++) {
        e[i] = (eio_t){.w = {.f = f,
                             .st = f->st,
                             .room = room,
                             .sender = sender,
                             .order = &order,
                             .index = i,
                             .status = 99},
                       .break_it = i == 1};
        snprintf(e[i].w.cid, sizeof e[i].w.cid, "e%d", i);
    }
    pl_log_set_level(-1); /* the failure is logged as an error: expected */
    for (int i = 0; i < 3; i++)
        pl_store_write(f->st, eio_work, append_done, &e[i]);
    while (order < 3)
        uv_run(&f->loop, UV_RUN_ONCE);
    pl_log_set_level(PL_LOG_WARN);
    assert_int_equal(0, e[0].w.status);
    assert_int_equal(PL_EIO, e[1].user_rc);
    assert_int_equal(PL_EIO, e[1].w.status);
    assert_int_equal(0, e[2].w.status);
    assert_int_equal(1, e[0].w.seq);
    assert_int_equal(2, e[2].w.seq);
    pl_message_t *v;
    size_t n;
    assert_int_equal(0, pl_db_messages_after(f->db, room, 0, 100, &v, &n));
    assert_int_equal(2, n);
    assert_string_equal("e0", v[0].client_id);
    assert_string_equal("e2", v[1].client_id);
    pl_messages_free(v, n);
    fx_close(f);
}

static void test_close_runs_queued(void **state)
{
    fx_t *f = *state;
    int64_t sender, room = setup_room(f, &sender);
    enum { N = 500 };
    int order = 0;
    wjob_t *jobs = make_jobs(f, N, room, sender, &order);
    for (int i = 0; i < N; i++)
        pl_store_write(f->st, append_work, append_done, &jobs[i]);
    /* close without running the loop first: everything queued still runs */
    pl_store_t *st = f->st;
    pl_store_close(st);
    f->st = NULL;
    assert_int_equal(0, order); /* done callbacks wait for the loop */
    wjob_t late = {.f = f, .st = st, .room = room, .sender = sender, .status = 99};
    snprintf(late.cid, sizeof late.cid, "late");
    pl_store_write(st, append_work, append_done, &late); /* after close: PL_ECLOSED */
    assert_int_equal(0, uv_run(&f->loop, UV_RUN_DEFAULT));
    assert_int_equal(N, order);
    for (int i = 0; i < N; i++) {
        assert_int_equal(1, jobs[i].done);
        assert_int_equal(0, jobs[i].status);
        assert_true(jobs[i].in_order);
        assert_int_equal(i + 1, jobs[i].seq);
    }
    assert_int_equal(1, late.done);
    assert_int_equal(PL_ECLOSED, late.status);
    assert_int_equal(0, late.seq); /* work never ran */
    free(jobs);

    fx_open(f); /* durable */
    pl_room_t r;
    assert_int_equal(0, pl_db_room_get(f->db, room, &r));
    assert_int_equal(N, r.last_seq);
    pl_room_dispose(&r);
    fx_close(f);
}

/* commit_wait_us: the writer holds a batch open until commit_batch_max jobs
 * are queued (or the wait ends), so jobs submitted together share one
 * COMMIT even though the writer woke at the first. */
static void test_commit_wait(void **state)
{
    fx_t *f = *state;
    fx_close(f);
    char err[128];
    assert_int_equal(0, pl_config_set(&f->cfg, "commit_batch_max", "10", err, sizeof err));
    assert_int_equal(0, pl_config_set(&f->cfg, "commit_wait_us", "100000", err, sizeof err));
    fx_open(f);
    int64_t sender, room = setup_room(f, &sender);
    enum { N = 10 };
    int order = 0;
    wjob_t *jobs = make_jobs(f, N, room, sender, &order);
    for (int i = 0; i < N; i++)
        pl_store_write(f->st, append_work, append_done, &jobs[i]);
    while (order < N)
        uv_run(&f->loop, UV_RUN_ONCE);
    pl_store_stats_t s;
    pl_store_get_stats(f->st, &s);
    assert_int_equal(N, s.write_jobs);
    assert_int_equal(1, s.commits);
    for (int i = 0; i < N; i++)
        assert_int_equal(i + 1, jobs[i].seq);
    free(jobs);
}

/* ---- invitations (schema 7) ---- */

static int64_t mkgroup(pl_db_t *db, int64_t creator, const char *name)
{
    int64_t room = 0;
    assert_int_equal(0, pl_db_room_create_group(db, name, creator, NULL, 0, 1000, &room));
    return room;
}

static pl_invite_t inv_of(int64_t room, int64_t user, int64_t inviter, int64_t now, int64_t ttl)
{
    pl_invite_t v = {.room_id = room,
                     .user_id = user,
                     .inviter = inviter,
                     .created_ms = now,
                     .expires_ms = now + ttl};
    return v;
}

/* put / get / counts / delete, expiry, and replacing an expired row. */
static void test_invites_basic(void **state)
{
    fx_t *f = *state;
    int64_t a = mkuser(f->db, "ia"), b = mkuser(f->db, "ib"), c = mkuser(f->db, "ic");
    int64_t g = mkgroup(f->db, a, "team");
    pl_invite_t v = inv_of(g, b, a, 10000, 5000);
    assert_int_equal(0, pl_db_invite_put(f->db, &v));
    /* A live one is kept as it is: inviting again cannot extend it. */
    pl_invite_t again = inv_of(g, b, c, 12000, 5000);
    assert_int_equal(PL_EEXIST, pl_db_invite_put(f->db, &again));
    pl_invite_t got;
    assert_int_equal(0, pl_db_invite_get(f->db, g, b, 14999, &got));
    assert_int_equal(a, got.inviter);
    assert_int_equal(15000, got.expires_ms);
    /* Expired: gone for every reader, then replaced by a new invitation. */
    assert_int_equal(PL_ENOTFOUND, pl_db_invite_get(f->db, g, b, 15000, &got));
    int64_t fr = -1, fu = -1;
    assert_int_equal(0, pl_db_invite_counts(f->db, g, b, 14000, &fr, &fu));
    assert_int_equal(1, fr);
    assert_int_equal(1, fu);
    assert_int_equal(0, pl_db_invite_counts(f->db, g, b, 15000, &fr, &fu));
    assert_int_equal(0, fr);
    assert_int_equal(0, fu);
    again = inv_of(g, b, c, 15000, 5000);
    assert_int_equal(0, pl_db_invite_put(f->db, &again));
    assert_int_equal(0, pl_db_invite_get(f->db, g, b, 16000, &got));
    assert_int_equal(c, got.inviter);
    /* Delete: 0 for a live one, PL_ENOTFOUND after (and for expired ones). */
    assert_int_equal(0, pl_db_invite_delete(f->db, g, b, 16000));
    assert_int_equal(PL_ENOTFOUND, pl_db_invite_delete(f->db, g, b, 16000));
    assert_int_equal(0, pl_db_invite_put(f->db, &v));
    assert_int_equal(PL_ENOTFOUND, pl_db_invite_delete(f->db, g, b, 20000));
    assert_int_equal(0, pl_db_invite_counts(f->db, g, b, 0, &fr, &fu));
    assert_int_equal(0, fr); /* the expired row went too */
    /* Unknown room or user: PL_ENOTFOUND (foreign keys). */
    pl_invite_t bad = inv_of(g + 100, b, a, 10000, 5000);
    assert_int_equal(PL_ENOTFOUND, pl_db_invite_put(f->db, &bad));
    bad = inv_of(g, c + 100, a, 10000, 5000);
    assert_int_equal(PL_ENOTFOUND, pl_db_invite_put(f->db, &bad));
}

/* The list of a user's invitations carries the room and the inviter, newest
 * first; withdraw removes an inviter's; purge removes expired ones. */
static void test_invites_list_withdraw_purge(void **state)
{
    fx_t *f = *state;
    int64_t a = mkuser(f->db, "la"), b = mkuser(f->db, "lb"), c = mkuser(f->db, "lc");
    int64_t g1 = mkgroup(f->db, a, "one"), g2 = mkgroup(f->db, c, "two");
    assert_int_equal(0, pl_db_member_add(f->db, g2, a, 1000));
    assert_int_equal(0, pl_db_room_set_meta(f->db, g2, NULL, 0));
    pl_invite_t v1 = inv_of(g1, b, a, 10000, 100000), v2 = inv_of(g2, b, a, 11000, 100000);
    assert_int_equal(0, pl_db_invite_put(f->db, &v1));
    assert_int_equal(0, pl_db_invite_put(f->db, &v2));
    pl_invite_t *list = NULL;
    size_t n = 0;
    assert_int_equal(0, pl_db_user_invites(f->db, b, 12000, 10, &list, &n));
    assert_int_equal(2, n);
    assert_int_equal(g2, list[0].room_id); /* newest first */
    assert_string_equal("two", list[0].room_name);
    assert_int_equal(2, list[0].member_count);
    assert_string_equal("la", list[0].inviter_username);
    assert_int_equal(g1, list[1].room_id);
    assert_int_equal(1, list[1].member_count);
    pl_invites_free(list, n);
    assert_int_equal(0, pl_db_user_invites(f->db, b, 12000, 1, &list, &n));
    assert_int_equal(1, n); /* limit */
    pl_invites_free(list, n);
    /* a leaves g2: the invitation a made there goes, the one in g1 stays. */
    int64_t *w = NULL;
    size_t nw = 0;
    assert_int_equal(0, pl_db_invites_withdraw(f->db, g2, a, 12000, &w, &nw));
    assert_int_equal(1, nw);
    assert_int_equal(b, w[0]);
    free(w);
    assert_int_equal(0, pl_db_invites_withdraw(f->db, g2, a, 12000, &w, &nw));
    assert_int_equal(0, nw);
    free(w);
    assert_int_equal(0, pl_db_user_invites(f->db, b, 12000, 10, &list, &n));
    assert_int_equal(1, n);
    assert_int_equal(g1, list[0].room_id);
    pl_invites_free(list, n);
    /* Purge: expired rows only, at most limit per call. */
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        int64_t u = mkuser(f->db, name);
        pl_invite_t e = inv_of(g1, u, a, 1000, 10);
        assert_int_equal(0, pl_db_invite_put(f->db, &e));
    }
    size_t purged = 0;
    assert_int_equal(0, pl_db_invites_purge(f->db, 5000, 3, &purged));
    assert_int_equal(3, purged);
    assert_int_equal(0, pl_db_invites_purge(f->db, 5000, 100, &purged));
    assert_int_equal(2, purged);
    assert_int_equal(0, pl_db_user_invites(f->db, b, 12000, 10, &list, &n));
    assert_int_equal(1, n); /* the live one survived */
    pl_invites_free(list, n);
}

/* Contacts for group_add=contacts: a shared group counts, a dm only once the
 * user has written in it, and the room being joined does not count. */
static void test_is_contact(void **state)
{
    fx_t *f = *state;
    int64_t v = mkuser(f->db, "victim"), s = mkuser(f->db, "stranger"), fr = mkuser(f->db, "fr");
    bool yes = true;
    assert_int_equal(0, pl_db_is_contact(f->db, v, s, 0, &yes));
    assert_false(yes);
    int64_t dm = 0;
    bool created = false;
    assert_int_equal(0, pl_db_room_get_or_create_dm(f->db, s, v, 1000, &dm, &created));
    append(f->db, dm, s, "s1", NULL);
    assert_int_equal(0, pl_db_is_contact(f->db, v, s, 0, &yes));
    assert_false(yes); /* the stranger opened the dm and wrote; the victim did not */
    append(f->db, dm, v, "v1", NULL);
    assert_int_equal(0, pl_db_is_contact(f->db, v, s, 0, &yes));
    assert_true(yes);
    int64_t g = mkgroup(f->db, v, "friends");
    assert_int_equal(0, pl_db_member_add(f->db, g, fr, 1000));
    assert_int_equal(0, pl_db_is_contact(f->db, v, fr, 0, &yes));
    assert_true(yes);
    assert_int_equal(0, pl_db_is_contact(f->db, v, fr, g, &yes));
    assert_false(yes); /* except_room */
}

/* store_reader_cache_bytes caps what a reader's page cache keeps (issue
 * 14: at SQLite's default each reader kept 2 MiB of pages, about 350 B per
 * idle connection in the benchmark). A read of ~3 MiB of rows on the
 * readers: with a 64 KiB cap their page caches stay within the block
 * SQLite sets aside when the cache is made, so SQLite's page-cache
 * allocations beyond it (SQLITE_STATUS_PAGECACHE_OVERFLOW) grow by less
 * than 512 KiB; with the cap off (0: SQLite's 2 MiB per reader) the same
 * read grows them by more than 1 MiB (4 MiB measured), so the check tells
 * the two apart. */
typedef struct {
    int64_t first, n;
    int rc, done;
} scan_t;

static void scan_work(pl_db_t *db, void *arg)
{
    scan_t *j = arg;
    for (int64_t id = j->first; j->rc == 0 && id < j->first + j->n; id++) {
        pl_user_t u;
        j->rc = pl_db_user_by_id(db, id, &u);
        if (j->rc == 0)
            pl_user_dispose(&u);
    }
}

static void scan_done(int status, void *arg)
{
    scan_t *j = arg;
    if (status != 0)
        j->rc = status;
    j->done++;
}

static int64_t reader_growth(fx_t *f, int64_t cache_bytes)
{
    fx_close(f);
    f->cfg.store_reader_cache_bytes = cache_bytes;
    fx_open(f);
    static char hash[1001];
    memset(hash, 'h', sizeof hash - 1);
    enum { USERS = 3000 }; /* ~3 MiB of rows, more than SQLite's default cache */
    int64_t first = 0, id = 0;
    char name[48];
    for (int i = 0; i < USERS; i++) {
        snprintf(name, sizeof name, "c%" PRId64 "u%d", cache_bytes, i);
        assert_int_equal(0, pl_db_user_create(f->db, name, name, hash, 1, &id));
        if (i == 0)
            first = id;
    }
    sqlite3_int64 before = 0, hi = 0;
    sqlite3_status64(SQLITE_STATUS_PAGECACHE_OVERFLOW, &before, &hi, 0);
    /* two scans: with two readers, each may have served one */
    scan_t j[2] = {{.first = first, .n = USERS}, {.first = first, .n = USERS}};
    for (int k = 0; k < 2; k++) {
        pl_store_read(f->st, scan_work, scan_done, &j[k]);
        while (j[k].done == 0)
            uv_run(&f->loop, UV_RUN_ONCE);
        assert_int_equal(0, j[k].rc);
    }
    sqlite3_int64 after = 0;
    sqlite3_status64(SQLITE_STATUS_PAGECACHE_OVERFLOW, &after, &hi, 0);
    return (int64_t)(after - before);
}

static void test_reader_cache_bytes(void **state)
{
    FX_SQLITE_ONLY();
    fx_t *f = *state;
    int64_t capped = reader_growth(f, 64 * 1024);
    int64_t dflt = reader_growth(f, 0);
    print_message("reader page cache growth: capped at 64 KiB %" PRId64
                  " B, SQLite's default %" PRId64 " B\n",
                  capped, dflt);
    assert_true(capped < 512 * 1024);
    assert_true(dflt > 1024 * 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_migrate_fresh_and_reopen),
        T(test_newer_schema_refused),
        T(test_memory_refused),
        T(test_users),
        T(test_sessions),
        T(test_dm),
        T(test_group_and_members),
        T(test_each),
        T(test_append),
        T(test_history_paging),
        T(test_unread_and_read_marker),
        T(test_async_group_commit),
        T(test_commit_wait),
        T(test_async_rollback_job),
        T(test_async_reads),
        T(test_async_storage_error_job),
        T(test_close_runs_queued),
        T(test_invites_basic),
        T(test_invites_list_withdraw_purge),
        T(test_is_contact),
        T(test_reader_cache_bytes),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
