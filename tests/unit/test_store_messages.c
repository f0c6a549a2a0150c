/* SPDX-License-Identifier: MIT */
/* test_store_messages.c -- the store's message operations on the direct
 * connection: posting (dedupe, reply and thread checks, media visibility,
 * mentions) and reactions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/err.h"
#include "store/store.h"

#include "test_store_fx.h"

static int64_t mkgroup(pl_db_t *db, int64_t owner, const int64_t *others, size_t n)
{
    int64_t r = 0;
    assert_int_equal(0, pl_db_room_create_group(db, "g", owner, others, n, 1000, &r));
    return r;
}

/* Posts a plain text message through pl_db_message_post; returns its seq. */
static int64_t post_text(pl_db_t *db, int64_t room, int64_t sender, const char *cid)
{
    pl_message_new_t in = {.room_id = room,
                           .sender = sender,
                           .client_id = cid,
                           .content = "{\"type\":\"text\",\"body\":\"hi\"}",
                           .now_ms = 5000};
    pl_message_t m = {0}, root = {0};
    bool dup = true;
    assert_int_equal(0, pl_db_message_post(db, &in, &m, &dup, &root));
    assert_false(dup);
    int64_t seq = m.seq;
    pl_message_dispose(&m);
    pl_message_dispose(&root);
    return seq;
}

/* ---- reactions ---- */

/* docs/protocol.md: reactions come "in order of first use" and users oldest
 * first. Within one millisecond the order is the order of the calls, not the
 * emoji's bytes or the user ids. */
static void test_reactions_order_same_ms(void **state)
{
    fx_t *f = *state;
    int64_t a = mkuser(f->db, "alice"), b = mkuser(f->db, "bob");
    int64_t g = mkgroup(f->db, a, &b, 1);
    int64_t seq = post_text(f->db, g, a, "c1");
    pl_message_t m = {0};
    bool changed = false;
    /* U+1F600 (F0 9F 98 80) first, then U+1F44D (F0 9F 91 8D), whose bytes
     * sort before it; bob before alice, whose id sorts before his. */
    const char *grin = "\xF0\x9F\x98\x80", *thumbs = "\xF0\x9F\x91\x8D";
    assert_int_equal(0, pl_db_reaction_set(f->db, g, seq, b, grin, true, 20, 7000, &changed, &m));
    pl_message_dispose(&m);
    assert_int_equal(0, pl_db_reaction_set(f->db, g, seq, b, thumbs, true, 20, 7000, &changed, &m));
    pl_message_dispose(&m);
    assert_int_equal(0, pl_db_reaction_set(f->db, g, seq, a, thumbs, true, 20, 7000, &changed, &m));
    assert_true(changed);
    char want[256];
    snprintf(want, sizeof want,
             "[{\"emoji\":\"%s\",\"count\":1,\"users\":[\"u%lld\"]},"
             "{\"emoji\":\"%s\",\"count\":2,\"users\":[\"u%lld\",\"u%lld\"]}]",
             grin, (long long)b, thumbs, (long long)b, (long long)a);
    assert_string_equal(want, m.reactions);
    pl_message_dispose(&m);
}

/* ---- posting: pl_db_message_send, pl_store_message_post ---- */

typedef struct {
    int64_t a, b, c; /* alice and bob in the group; carol outside it */
    int64_t g;
} world_t;

static world_t mkworld(pl_db_t *db)
{
    world_t w = {.a = mkuser(db, "alice"), .b = mkuser(db, "bob"), .c = mkuser(db, "carol")};
    w.g = mkgroup(db, w.a, &w.b, 1);
    return w;
}

static pl_post_t req(const world_t *w, const char *cid, const char *content)
{
    return (pl_post_t){.room_id = w->g, .sender = w->a, .client_id = cid, .content = content};
}

#define TEXT "{\"type\":\"text\",\"body\":\"hi\"}"

static void test_post_new_and_duplicate(void **state)
{
    fx_t *f = *state;
    world_t w = mkworld(f->db);
    pl_post_t p = req(&w, "c1", TEXT);
    p.expires_in = 60000;
    assert_int_equal(0, pl_db_message_send(f->db, &p));
    assert_int_equal(PL_REFUSAL_NONE, p.refused);
    assert_false(p.duplicate);
    assert_int_equal(1, p.message.seq);
    assert_int_equal(w.a, p.message.sender);
    assert_string_equal(TEXT, p.message.content);
    assert_string_equal("c1", p.message.client_id);
    assert_int_equal(p.message.ts + 60000, p.message.expires_ts);
    assert_int_equal(0, p.root.id);
    int64_t id = p.message.id;
    pl_post_dispose(&p);

    /* the same client_id again: the original, nothing written */
    p = req(&w, "c1", "{\"type\":\"text\",\"body\":\"other\"}");
    assert_int_equal(0, pl_db_message_send(f->db, &p));
    assert_true(p.duplicate);
    assert_int_equal(id, p.message.id);
    assert_string_equal(TEXT, p.message.content);
    pl_post_dispose(&p);
    pl_room_t r;
    assert_int_equal(0, pl_db_room_get(f->db, w.g, &r));
    assert_int_equal(1, r.last_seq);
    pl_room_dispose(&r);

    /* an unknown room is refused, not an error */
    p = req(&w, "c2", TEXT);
    p.room_id = 999;
    assert_int_equal(0, pl_db_message_send(f->db, &p));
    assert_int_equal(PL_REFUSAL_NOT_FOUND, p.refused);
    pl_post_dispose(&p);
}

static void test_post_reply_and_thread(void **state)
{
    fx_t *f = *state;
    world_t w = mkworld(f->db);
    int64_t root = post_text(f->db, w.g, w.a, "root");
    int64_t gone = post_text(f->db, w.g, w.a, "gone");
    pl_message_t m;
    assert_int_equal(0, pl_db_message_delete(f->db, w.g, gone, &m));
    pl_message_dispose(&m);

    struct {
        int64_t reply_to, thread;
        pl_refusal_t want;
    } bad[] = {
        {99, 0, PL_REFUSAL_NO_REPLY},     {gone, 0, PL_REFUSAL_NO_REPLY},
        {0, 99, PL_REFUSAL_NO_THREAD},    {0, gone, PL_REFUSAL_NO_THREAD},
        {root, 99, PL_REFUSAL_NO_THREAD},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pl_post_t p = req(&w, "bad", TEXT);
        p.reply_to = bad[i].reply_to;
        p.thread_root = bad[i].thread;
        assert_int_equal(0, pl_db_message_send(f->db, &p));
        assert_int_equal(bad[i].want, p.refused);
        assert_int_equal(0, p.message.id);
        pl_post_dispose(&p);
    }

    /* a thread reply quoting the root: the root's counters move */
    pl_post_t p = req(&w, "t1", TEXT);
    p.reply_to = root;
    p.thread_root = root;
    assert_int_equal(0, pl_db_message_send(f->db, &p));
    assert_int_equal(PL_REFUSAL_NONE, p.refused);
    assert_int_equal(root, p.message.thread_root);
    assert_int_equal(w.a, p.message.reply_sender);
    assert_string_equal("hi", p.message.reply_preview);
    assert_int_equal(root, p.root.seq);
    assert_int_equal(1, p.root.thread_count);
    int64_t reply = p.message.seq;
    pl_post_dispose(&p);

    /* a thread reply cannot be a root */
    p = req(&w, "t2", TEXT);
    p.thread_root = reply;
    assert_int_equal(0, pl_db_message_send(f->db, &p));
    assert_int_equal(PL_REFUSAL_NESTED_THREAD, p.refused);
    pl_post_dispose(&p);

    pl_room_t r;
    assert_int_equal(0, pl_db_room_get(f->db, w.g, &r));
    assert_int_equal(reply, r.last_seq); /* nothing refused was written */
    pl_room_dispose(&r);
}

static int64_t mkmedia(pl_db_t *db, int64_t owner, const char *sha, const char *mime, int64_t tw)
{
    pl_media_rec_t rec = {.size = 3,
                          .mime = (char *)mime,
                          .owner = owner,
                          .name = (char *)"",
                          .width = 10,
                          .height = 10,
                          .thumb_w = tw,
                          .thumb_h = tw,
                          .created_ms = 1000};
    snprintf(rec.sha256, sizeof rec.sha256, "%s", sha);
    pl_media_rec_t out;
    bool existed;
    assert_int_equal(0, pl_db_media_put(db, &rec, &out, &existed));
    int64_t id = out.id;
    pl_media_rec_dispose(&out);
    return id;
}

static void test_post_media(void **state)
{
    fx_t *f = *state;
    world_t w = mkworld(f->db);
    int64_t mine = mkmedia(f->db, w.a, "aa", "image/png", 5);
    int64_t carols = mkmedia(f->db, w.c, "bb", "image/png", 5);
    int64_t doc = mkmedia(f->db, w.a, "cc", "application/pdf", 0);

    pl_post_t p = req(&w, "m1", "{\"type\":\"image\"}");
    p.media = carols; /* carol's upload, shared nowhere alice is */
    assert_int_equal(0, pl_db_message_send(f->db, &p));
    assert_int_equal(PL_REFUSAL_NO_MEDIA, p.refused);
    pl_post_dispose(&p);
    p.media = 12345;
    assert_int_equal(0, pl_db_message_send(f->db, &p));
    assert_int_equal(PL_REFUSAL_NO_MEDIA, p.refused);
    pl_post_dispose(&p);

    p = req(&w, "m2", "{\"type\":\"sticker\"}");
    p.media = doc;
    p.sticker = true;
    assert_int_equal(0, pl_db_message_send(f->db, &p));
    assert_int_equal(PL_REFUSAL_NOT_STICKER, p.refused);
    pl_post_dispose(&p);

    p.media = mine;
    assert_int_equal(0, pl_db_message_send(f->db, &p));
    assert_int_equal(PL_REFUSAL_NONE, p.refused);
    pl_post_dispose(&p);
    /* posted in the group, bob may now read it */
    bool visible = false;
    assert_int_equal(0, pl_db_media_visible(f->db, mine, w.b, 2000, &visible));
    assert_true(visible);
}

static void test_post_mentions(void **state)
{
    fx_t *f = *state;
    world_t w = mkworld(f->db);
    /* bob is a member, carol is not, dave does not exist */
    const char *names[] = {"bob", "carol", "dave"};
    pl_post_t p = req(&w, "x1", "{\"type\":\"text\",\"body\":\"@bob @carol @dave @room\"}");
    p.mention_names = names;
    p.nmention_names = 3;
    p.mention_room = true;
    assert_int_equal(0, pl_db_message_send(f->db, &p));
    assert_int_equal(PL_REFUSAL_NONE, p.refused);
    char want[32];
    snprintf(want, sizeof want, "[\"u%lld\"]", (long long)w.b);
    assert_string_equal(want, p.message.mentions);
    assert_true(p.message.mention_room);
    pl_post_dispose(&p);

    /* bob's unread mention count sees it */
    pl_room_summary_t *v;
    size_t n;
    assert_int_equal(0, pl_db_user_rooms(f->db, w.b, &v, &n));
    assert_int_equal(1, n);
    assert_int_equal(1, v[0].mentions);
    for (size_t i = 0; i < n; i++)
        pl_room_dispose(&v[i].room);
    free(v);
}

/* The store-side job: one call from the loop thread. */
static void post_cb(int status, void *arg)
{
    int *got = arg;
    *got = status + 1;
}

static void test_post_job(void **state)
{
    fx_t *f = *state;
    world_t w = mkworld(f->db);
    pl_post_t p = req(&w, "j1", TEXT), q = req(&w, "j2", TEXT);
    q.reply_to = 77;
    int got = 0, got2 = 0;
    pl_store_message_post(f->st, &p, post_cb, &got);
    pl_store_message_post(f->st, &q, post_cb, &got2);
    while (got == 0 || got2 == 0)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_int_equal(1, got);
    assert_int_equal(1, got2);
    assert_int_equal(PL_REFUSAL_NONE, p.refused);
    assert_int_equal(1, p.message.seq);
    assert_int_equal(PL_REFUSAL_NO_REPLY, q.refused);
    pl_post_dispose(&p);
    pl_post_dispose(&q);
}

/* ---- batched posts (the PostgreSQL writer's multi-row appends) ----
 * The same results on both backends; on PostgreSQL the plain posts of one
 * group commit go in with one INSERT (store_pg_messages.c, "batched
 * appends"). A write job that blocks the writer until everything is queued
 * makes the posts land in one batch, whatever the machine's speed. */

static void hold_work(pl_db_t *db, void *arg)
{
    (void)db;
    uv_sem_wait(arg);
}

typedef struct {
    pl_post_t p;
    int status; /* status + 1 once done */
} bpost_t;

static void bpost_cb(int status, void *arg)
{
    ((bpost_t *)arg)->status = status + 1;
}

/* Queues the posts behind a held writer, releases it, waits for all. */
static void post_all(fx_t *f, pl_store_t *st, bpost_t *b, size_t n)
{
    uv_sem_t sem;
    assert_int_equal(0, uv_sem_init(&sem, 0));
    pl_store_write(st, hold_work, NULL, &sem);
    for (size_t i = 0; i < n; i++) {
        b[i].status = 0;
        pl_store_message_post(st, &b[i].p, bpost_cb, &b[i]);
    }
    uv_sem_post(&sem);
    for (size_t i = 0; i < n; i++)
        while (b[i].status == 0)
            uv_run(&f->loop, UV_RUN_ONCE);
    uv_sem_destroy(&sem);
}

static uint64_t batched(pl_store_t *st)
{
    pl_store_stats_t s = {0};
    pl_store_get_stats(st, &s);
    return s.batched_posts;
}

static void test_post_batch(void **state)
{
    fx_t *f = *state;
    world_t w = mkworld(f->db);
    int64_t g2 = mkgroup(f->db, w.b, &w.a, 1);
    pl_post_t pre = req(&w, "pre", TEXT);
    assert_int_equal(0, pl_db_message_send(f->db, &pre));
    assert_int_equal(1, pre.message.seq);
    bpost_t b[8] = {
        {.p = req(&w, "n1", TEXT)},
        {.p = req(&w, "n2", "{\"type\":\"text\",\"body\":\"q\\\"uote\\\\ {a,b}\"}")},
        {.p = req(&w, "n3", TEXT)},
        {.p = req(&w, "n1", "{\"type\":\"text\",\"body\":\"again\"}")}, /* repeats 0 */
        {.p = req(&w, "n4", TEXT)},                                     /* no such room */
        {.p = req(&w, "pre", TEXT)},                                    /* stored before */
        {.p = req(&w, "n5", TEXT)},
        {.p = req(&w, "n\"6\\,{}", TEXT)}, /* array-literal characters in a client_id */
    };
    b[1].p.room_id = g2;
    b[4].p.room_id = 999;
    b[6].p.room_id = g2;
    b[6].p.expires_in = 1000;
    post_all(f, f->st, b, 8);
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(1, b[i].status);
    int64_t want_seq[8] = {2, 1, 3, 2, 0, 1, 2, 4};
    bool want_dup[8] = {false, false, false, true, false, true, false, false};
    for (size_t i = 0; i < 8; i++) {
        if (i == 4) {
            assert_int_equal(PL_REFUSAL_NOT_FOUND, b[i].p.refused);
            continue;
        }
        assert_int_equal(PL_REFUSAL_NONE, b[i].p.refused);
        assert_int_equal(want_seq[i], b[i].p.message.seq);
        assert_int_equal(want_dup[i], b[i].p.duplicate);
        assert_int_equal(b[i].p.room_id, b[i].p.message.room_id);
        assert_int_equal(w.a, b[i].p.message.sender);
        assert_string_equal(b[i].p.client_id, b[i].p.message.client_id);
        assert_int_equal(0, b[i].p.root.id);
    }
    /* a repeat in the batch and a stored one: the originals */
    assert_int_equal(b[0].p.message.id, b[3].p.message.id);
    assert_string_equal(TEXT, b[3].p.message.content);
    assert_int_equal(pre.message.id, b[5].p.message.id);
    assert_string_equal(b[1].p.content, b[1].p.message.content);
    assert_int_equal(b[6].p.message.ts + 1000, b[6].p.message.expires_ts);
    if (fx_pg() != NULL)
        assert_int_equal(5, batched(f->st)); /* 0, 1, 2, 6, 7 */
    pl_post_dispose(&pre);

    /* what is stored: gap-free seqs, last_seq, the rows as read back */
    pl_message_t *m = NULL;
    size_t n = 0;
    assert_int_equal(0, pl_db_messages_after(f->db, w.g, 0, 10, &m, &n));
    assert_int_equal(4, n);
    const char *cids[4] = {"pre", "n1", "n3", "n\"6\\,{}"};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal((int64_t)i + 1, m[i].seq);
        assert_string_equal(cids[i], m[i].client_id);
        pl_message_dispose(&m[i]);
    }
    free(m);
    assert_int_equal(0, pl_db_messages_after(f->db, g2, 0, 10, &m, &n));
    assert_int_equal(2, n);
    assert_string_equal(b[1].p.content, m[0].content);
    assert_int_equal(b[6].p.message.expires_ts, m[1].expires_ts);
    for (size_t i = 0; i < n; i++)
        pl_message_dispose(&m[i]);
    free(m);
    pl_room_t r;
    assert_int_equal(0, pl_db_room_get(f->db, w.g, &r));
    assert_int_equal(4, r.last_seq);
    pl_room_dispose(&r);
    assert_int_equal(0, pl_db_room_get(f->db, g2, &r));
    assert_int_equal(2, r.last_seq);
    pl_room_dispose(&r);
    for (size_t i = 0; i < 8; i++)
        pl_post_dispose(&b[i].p);

    /* a post that fails (its sender does not exist) takes no other down:
     * the others get the next seqs, without a gap; on PostgreSQL the run
     * goes one by one (none of it batched: not tried again from each job) */
    uint64_t batched0 = batched(f->st);
    bpost_t c[4] = {{.p = req(&w, "m1", TEXT)},
                    {.p = req(&w, "m2", TEXT)},
                    {.p = req(&w, "m3", TEXT)},
                    {.p = req(&w, "m4", TEXT)}};
    c[1].p.sender = 99999;
    post_all(f, f->st, c, 4);
    assert_int_equal(batched0, batched(f->st));
    assert_int_equal(1, c[0].status);
    assert_int_equal(PL_REFUSAL_NONE, c[0].p.refused);
    assert_int_equal(5, c[0].p.message.seq);
    /* refused on SQLite; on PostgreSQL the writer's foreign-key error
     * fails that job alone (PL_EIO) */
    if (c[1].status == 1)
        assert_int_equal(PL_REFUSAL_NOT_FOUND, c[1].p.refused);
    else
        assert_int_equal(PL_EIO + 1, c[1].status);
    assert_int_equal(1, c[2].status);
    assert_int_equal(PL_REFUSAL_NONE, c[2].p.refused);
    assert_int_equal(6, c[2].p.message.seq);
    assert_int_equal(1, c[3].status);
    assert_int_equal(7, c[3].p.message.seq);
    for (size_t i = 0; i < 4; i++)
        pl_post_dispose(&c[i].p);
    assert_int_equal(0, pl_db_room_get(f->db, w.g, &r));
    assert_int_equal(7, r.last_seq);
    pl_room_dispose(&r);
}

/* Two writer nodes (two stores on one database) posting into the same
 * rooms at once, half of the client_ids sent to both (a client's resend
 * through another node): every room's seqs are 1..N without a gap, each
 * client_id is stored once, and both nodes answer it with the same
 * message. A job that fails (a deadlock between the nodes' room locks) is
 * resent, as a client would. PostgreSQL only (one SQLite file has one
 * writer). */
#define NODE_POSTS 120
#define NODE_ROOMS 3
static void test_post_batch_two_nodes(void **state)
{
    fx_t *f = *state;
    if (fx_pg() == NULL)
        skip();
    world_t w = mkworld(f->db);
    int64_t rooms[NODE_ROOMS];
    for (int i = 0; i < NODE_ROOMS; i++)
        rooms[i] = mkgroup(f->db, w.a, &w.b, 1);
    pl_store_t *st2 = NULL;
    assert_int_equal(0, pl_store_open(&f->loop, &f->cfg, &st2));
    static char cid[2 * NODE_POSTS][16];
    static bpost_t b[2][NODE_POSTS];
    for (int node = 0; node < 2; node++)
        for (int i = 0; i < NODE_POSTS; i++) {
            int k = node * NODE_POSTS / 2 + i; /* node 1 repeats node 0's second half */
            snprintf(cid[k], sizeof cid[k], "x%d", k);
            b[node][i] = (bpost_t){.p = req(&w, cid[k], TEXT)};
            b[node][i].p.room_id = rooms[k % NODE_ROOMS];
        }
    /* Both nodes' batches queued at once, each behind a held writer. */
    uv_sem_t sem[2];
    pl_store_t *sts[2] = {f->st, st2};
    for (int node = 0; node < 2; node++) {
        assert_int_equal(0, uv_sem_init(&sem[node], 0));
        pl_store_write(sts[node], hold_work, NULL, &sem[node]);
        for (int i = 0; i < NODE_POSTS; i++)
            pl_store_message_post(sts[node], &b[node][i].p, bpost_cb, &b[node][i]);
    }
    uv_sem_post(&sem[0]);
    uv_sem_post(&sem[1]);
    for (int round = 0; round < 20; round++) {
        bool again = false;
        for (int node = 0; node < 2; node++)
            for (int i = 0; i < NODE_POSTS; i++)
                while (b[node][i].status == 0)
                    uv_run(&f->loop, UV_RUN_ONCE);
        for (int node = 0; node < 2; node++)
            for (int i = 0; i < NODE_POSTS; i++)
                if (b[node][i].status != 1) { /* failed: resend */
                    assert_int_equal(PL_EIO + 1, b[node][i].status);
                    b[node][i].status = 0;
                    again = true;
                    pl_store_message_post(sts[node], &b[node][i].p, bpost_cb, &b[node][i]);
                }
        if (!again)
            break;
    }
    for (int node = 0; node < 2; node++)
        for (int i = 0; i < NODE_POSTS; i++) {
            assert_int_equal(1, b[node][i].status);
            assert_int_equal(PL_REFUSAL_NONE, b[node][i].p.refused);
        }
    /* the repeated client_ids: one message, stored by one of the nodes */
    for (int i = NODE_POSTS / 2; i < NODE_POSTS; i++) {
        pl_post_t *x = &b[0][i].p, *y = &b[1][i - NODE_POSTS / 2].p;
        assert_string_equal(x->client_id, y->client_id);
        assert_int_equal(x->message.id, y->message.id);
        assert_int_equal(x->message.seq, y->message.seq);
        assert_true(x->duplicate != y->duplicate);
    }
    /* every room: 1..N, N its last_seq, 3 * NODE_POSTS / 2 rows in all */
    size_t total = 0;
    for (int k = 0; k < NODE_ROOMS; k++) {
        pl_message_t *m = NULL;
        size_t n = 0;
        assert_int_equal(0, pl_db_messages_after(f->db, rooms[k], 0, 1000, &m, &n));
        for (size_t i = 0; i < n; i++) {
            assert_int_equal((int64_t)i + 1, m[i].seq);
            pl_message_dispose(&m[i]);
        }
        free(m);
        pl_room_t r;
        assert_int_equal(0, pl_db_room_get(f->db, rooms[k], &r));
        assert_int_equal((int64_t)n, r.last_seq);
        pl_room_dispose(&r);
        total += n;
    }
    assert_int_equal(3 * NODE_POSTS / 2, total);
    for (int node = 0; node < 2; node++)
        for (int i = 0; i < NODE_POSTS; i++)
            pl_post_dispose(&b[node][i].p);
    pl_store_close(st2); /* its close callback runs in fx_close's loop run */
    uv_sem_destroy(&sem[0]);
    uv_sem_destroy(&sem[1]);
}

/* ---- changing: pl_db_message_change ---- */

/* The post's after hook (the push jobs of issue 15) runs inside the write
 * job of each new message, batched or not, and what it writes commits with
 * the message: 4 new posts, 4 hook calls, 4 queued jobs; a duplicate runs
 * no hook. */
static int after_hook(pl_db_t *db, const pl_message_t *m, void *arg)
{
    int *calls = arg;
    (*calls)++;
    char key[32];
    snprintf(key, sizeof key, "t:r%lld", (long long)m->room_id);
    return pl_db_job_enqueue(db, "test_after", key, "{}", 0, 1000, NULL);
}

static void test_post_batch_after_hook(void **state)
{
    fx_t *f = *state;
    world_t w = mkworld(f->db);
    int calls = 0;
    bpost_t b[5] = {
        {.p = req(&w, "h1", TEXT)}, {.p = req(&w, "h2", TEXT)}, {.p = req(&w, "h3", TEXT)},
        {.p = req(&w, "h4", TEXT)}, {.p = req(&w, "h1", TEXT)}, /* a repeat: no hook */
    };
    for (size_t i = 0; i < 5; i++) {
        b[i].p.after = after_hook;
        b[i].p.after_arg = &calls;
    }
    uint64_t before = batched(f->st);
    post_all(f, f->st, b, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(1, b[i].status);
        assert_int_equal(PL_REFUSAL_NONE, b[i].p.refused);
        assert_int_equal(i == 4, b[i].p.duplicate);
    }
    assert_int_equal(4, calls);
    if (fx_pg() != NULL)
        assert_int_equal(4, batched(f->st) - before); /* the hooks ran in the batch */
    pl_job_counts_t jc = {0};
    assert_int_equal(0, pl_db_job_counts(f->db, 1000, &jc));
    assert_int_equal(4, jc.queued);
    for (size_t i = 0; i < 5; i++)
        pl_post_dispose(&b[i].p);
}

static pl_change_t change(const world_t *w, pl_change_kind_t kind, int64_t user, int64_t seq)
{
    return (pl_change_t){.kind = kind, .room_id = w->g, .seq = seq, .user = user};
}

static void test_change_edit_delete(void **state)
{
    fx_t *f = *state;
    world_t w = mkworld(f->db);
    int64_t seq = post_text(f->db, w.g, w.a, "e1");

    pl_change_t c = change(&w, PL_CHANGE_EDIT, w.b, seq); /* bob edits alice's */
    c.content = TEXT;
    assert_int_equal(0, pl_db_message_change(f->db, &c));
    assert_int_equal(PL_REFUSAL_NOT_AUTHOR, c.refused);
    pl_change_dispose(&c);
    c = change(&w, PL_CHANGE_DELETE, w.a, 99);
    assert_int_equal(0, pl_db_message_change(f->db, &c));
    assert_int_equal(PL_REFUSAL_NO_MESSAGE, c.refused);
    pl_change_dispose(&c);

    const char *names[] = {"bob", "carol"};
    c = change(&w, PL_CHANGE_EDIT, w.a, seq);
    c.content = "{\"type\":\"text\",\"body\":\"@bob @carol\"}";
    c.mention_names = names;
    c.nmention_names = 2;
    assert_int_equal(0, pl_db_message_change(f->db, &c));
    assert_int_equal(PL_REFUSAL_NONE, c.refused);
    assert_true(c.changed);
    assert_true(c.message.edited_ts > 0);
    char want[32];
    snprintf(want, sizeof want, "[\"u%lld\"]", (long long)w.b);
    assert_string_equal(want, c.message.mentions);
    pl_change_dispose(&c);

    c = change(&w, PL_CHANGE_DELETE, w.a, seq);
    assert_int_equal(0, pl_db_message_change(f->db, &c));
    assert_true(c.changed && c.message.deleted);
    int64_t version = c.message.version;
    pl_change_dispose(&c);
    /* again: nothing changes, the tombstone comes back */
    assert_int_equal(0, pl_db_message_change(f->db, &c));
    assert_int_equal(PL_REFUSAL_NONE, c.refused);
    assert_false(c.changed);
    assert_int_equal(version, c.message.version);
    pl_change_dispose(&c);
    c = change(&w, PL_CHANGE_EDIT, w.a, seq);
    c.content = TEXT;
    assert_int_equal(0, pl_db_message_change(f->db, &c));
    assert_int_equal(PL_REFUSAL_DELETED, c.refused);
    pl_change_dispose(&c);
    c = change(&w, PL_CHANGE_REACT, w.b, seq);
    c.emoji = "\xF0\x9F\x91\x8D";
    c.max_reactions = 20;
    assert_int_equal(0, pl_db_message_change(f->db, &c));
    assert_int_equal(PL_REFUSAL_NO_MESSAGE, c.refused); /* no reactions on a tombstone */
    pl_change_dispose(&c);
}

static void test_change_react(void **state)
{
    fx_t *f = *state;
    world_t w = mkworld(f->db);
    int64_t seq = post_text(f->db, w.g, w.a, "r1");
    pl_change_t c = change(&w, PL_CHANGE_REACT, w.b, seq);
    c.emoji = ":party:";
    c.custom_shortcode = "party";
    c.max_reactions = 1;
    assert_int_equal(0, pl_db_message_change(f->db, &c));
    assert_int_equal(PL_REFUSAL_NO_EMOJI, c.refused);
    pl_change_dispose(&c);
    c.remove = true; /* taking off a reaction of a missing emoji is fine */
    assert_int_equal(0, pl_db_message_change(f->db, &c));
    assert_int_equal(PL_REFUSAL_NONE, c.refused);
    assert_false(c.changed);
    pl_change_dispose(&c);

    c = change(&w, PL_CHANGE_REACT, w.b, seq);
    c.emoji = "\xF0\x9F\x91\x8D";
    c.max_reactions = 1;
    assert_int_equal(0, pl_db_message_change(f->db, &c));
    assert_true(c.changed);
    assert_non_null(c.message.reactions);
    pl_change_dispose(&c);
    c.emoji = "\xF0\x9F\x98\x80"; /* a second one is over the cap of 1 */
    assert_int_equal(0, pl_db_message_change(f->db, &c));
    assert_int_equal(PL_REFUSAL_TOO_MANY, c.refused);
    pl_change_dispose(&c);
}

/* ---- retention: pl_db_messages_retire ---- */

/* Posts a text message at now_ms; returns its seq (and id in *id). */
static int64_t post_at(pl_db_t *db, int64_t room, int64_t sender, const char *cid, int64_t now_ms,
                       int64_t *id)
{
    pl_message_new_t in = {.room_id = room,
                           .sender = sender,
                           .client_id = cid,
                           .content = "{\"type\":\"text\",\"body\":\"old words\"}",
                           .now_ms = now_ms};
    pl_message_t m = {0}, root = {0};
    bool dup = true;
    assert_int_equal(0, pl_db_message_post(db, &in, &m, &dup, &root));
    int64_t seq = m.seq;
    *id = m.id;
    pl_message_dispose(&m);
    pl_message_dispose(&root);
    return seq;
}

static void test_retire(void **state)
{
    fx_t *f = *state;
    world_t w = mkworld(f->db);
    int64_t id1, id2, id3, id4;
    int64_t s1 = post_at(f->db, w.g, w.a, "t1", 1000, &id1);
    int64_t s2 = post_at(f->db, w.g, w.b, "t2", 2000, &id2);
    int64_t s3 = post_at(f->db, w.g, w.a, "t3", 2400, &id3);
    int64_t s4 = post_at(f->db, w.g, w.a, "t4", 3000, &id4);
    pl_message_t m = {0};
    assert_int_equal(0, pl_db_message_delete(f->db, w.g, s2, &m)); /* already gone */
    pl_message_dispose(&m);

    /* limit 1: one row per call, the cursor moves past it */
    pl_message_t *out = NULL;
    size_t n = 9;
    int64_t next = -1;
    assert_int_equal(0, pl_db_messages_retire(f->db, 2500, 0, 1, &out, &n, &next));
    assert_int_equal(1, n);
    assert_int_equal(s1, out[0].seq);
    assert_true(out[0].deleted);
    assert_int_equal(id1, next);
    pl_messages_free(out, n);
    /* the tombstone passes without a new version; then t3 */
    assert_int_equal(0, pl_db_messages_retire(f->db, 2500, next, 10, &out, &n, &next));
    assert_int_equal(1, n);
    assert_int_equal(s3, out[0].seq);
    assert_int_equal(id3, next);
    pl_messages_free(out, n);
    /* t4 is newer than the cutoff: nothing, the cursor stays */
    assert_int_equal(0, pl_db_messages_retire(f->db, 2500, next, 10, &out, &n, &next));
    assert_int_equal(0, n);
    assert_int_equal(id3, next);
    pl_messages_free(out, n);
    /* a restart scans again from 0: only t4 is live and old enough now */
    assert_int_equal(0, pl_db_messages_retire(f->db, 3000, 0, 10, &out, &n, &next));
    assert_int_equal(1, n);
    assert_int_equal(s4, out[0].seq);
    assert_int_equal(id4, next);
    pl_messages_free(out, n);

    /* every message is a tombstone whose text is gone */
    int64_t seqs[] = {s1, s2, s3, s4};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(0, pl_db_message_get(f->db, w.g, seqs[i], &m));
        assert_true(m.deleted);
        assert_null(strstr(m.content, "old words"));
        pl_message_dispose(&m);
    }
    /* an empty table (past the last id) */
    assert_int_equal(0, pl_db_messages_retire(f->db, 9000, id4, 10, &out, &n, &next));
    assert_int_equal(0, n);
    assert_int_equal(id4, next);
    pl_messages_free(out, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_post_new_and_duplicate),
        T(test_post_reply_and_thread),
        T(test_post_media),
        T(test_post_mentions),
        T(test_post_job),
        T(test_post_batch),
        T(test_post_batch_two_nodes),
        T(test_post_batch_after_hook),
        T(test_change_edit_delete),
        T(test_change_react),
        T(test_reactions_order_same_ms),
        T(test_retire),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
