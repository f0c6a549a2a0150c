/* SPDX-License-Identifier: MIT */
/* test_hostile_chat.c -- the chat core's resource limits against hostile
 * clients, on the real parleyd: a stranger who fills a dm with 60 KB
 * messages must not lock its victim out (catch-up pages by bytes, replies
 * are never a slow consumer for their own size), list replies (history,
 * rooms, ...) are paged by bytes, pipelined requests cannot make the server
 * build hundreds of replies (RSS read from /proc/<pid>/status), and the
 * request rate is limited per user across connections, before JSON parsing,
 * and per address before auth. Each test starts its own server with the
 * settings it needs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <parley.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "wsjson.h"

static th_server_t srv;

#define BIG 60000             /* bytes of a big message body */
#define REPLY_MAX (256 << 10) /* max_reply_bytes' default */
#define PL_TEST_MIN(a, b) ((a) < (b) ? (a) : (b))

/* Growth allowed in memory tests. The bug grew parleyd by 530 MiB; a
 * bounded server stays within a few tens. Under AddressSanitizer every
 * allocation carries redzones and shadow memory, and freed blocks sit in a
 * quarantine instead of being reused: start() shrinks the quarantine and
 * the bound allows for the rest. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) /* TSan: shadow memory */
#define RSS_BOUND_KIB (48 * 1024)
#else
#define RSS_BOUND_KIB (32 * 1024)
#endif

/* ---- helpers ---- */

static void start(const char *const *settings)
{
#if defined(__SANITIZE_ADDRESS__)
    const char *old = getenv("ASAN_OPTIONS");
    if (old == NULL || strstr(old, "quarantine_size_mb") == NULL) {
        char opts[1024];
        snprintf(opts, sizeof opts, "%s%squarantine_size_mb=4", old ? old : "",
                 old && *old ? ":" : "");
        setenv("ASAN_OPTIONS", opts, 1);
    }
#endif
    th_server_start(&srv, settings);
    th_json_bind(&srv);
}

static void stop(void)
{
    th_server_stop(&srv);
    th_server_cleanup(&srv);
}

/* After a failed test: its server must not outlive it. */
static int teardown(void **state)
{
    (void)state;
    if (srv.pid > 0)
        th_server_cleanup(&srv); /* kill -9, then the data dir */
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One field of /proc/<pid>/status in KiB (VmRSS, VmHWM). */
static long proc_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long v = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, fl) && line[fl] == ':')
            v = strtol(line + fl + 1, NULL, 10);
    fclose(f);
    assert_true(v > 0);
    return v;
}

/* Next frame as JSON; fails the test on a close (naming its code) or a
 * timeout. Answers pings. */
static json_t *recv_json(int fd)
{
    static char buf[8 << 20];
    for (;;) {
        size_t len = 0;
        int code = 0;
        int op = th_ws_recv(fd, buf, sizeof buf, &len, &code, 15000);
        if (op < 0)
            fail_msg("no frame from the server (timeout or connection lost)");
        if (op == 0x8)
            fail_msg("the server closed the connection with %d", code);
        if (op == 0x9) {
            th_ws_send_frame(fd, 0x8A, buf, len);
            continue;
        }
        if (op == 0x1)
            return th_json_parse(buf);
    }
}

/* Size of the JSON text of j. */
static size_t json_size(json_t *j)
{
    char *t = json_dumps(j, JSON_COMPACT);
    size_t n = strlen(t);
    free(t);
    return n;
}

/* A text body of n bytes ('a' + tag). */
static char *body_of(size_t n, char tag)
{
    char *b = malloc(n + 1);
    memset(b, 'a' + tag % 26, n);
    b[n] = '\0';
    return b;
}

static void send_big(int fd, const char *room, const char *cid, size_t n)
{
    char *body = body_of(n, cid[strlen(cid) - 1]);
    json_t *r = th_call(fd,
                        "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"%s\",\"content\":"
                        "{\"type\":\"text\",\"body\":\"%s\"}",
                        room, cid, body);
    th_expect_ok(r);
    json_decref(r);
    free(body);
}

/* Writes everything it can; false once the peer is gone (a flood may be
 * cut short by the server closing the connection). */
static bool send_raw(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        c += w;
        n -= (size_t)w;
    }
    return true;
}

/* One masked text frame (<= 125 bytes) into out; returns its length. */
static size_t small_frame(char *out, const char *text)
{
    size_t n = strlen(text);
    assert_true(n <= 125);
    out[0] = (char)0x81;
    out[1] = (char)(0x80 | n);
    memset(out + 2, 0, 4); /* mask 0: the payload is sent as is */
    memcpy(out + 6, text, n);
    return n + 6;
}

/* Catches up like a client: auth with since {} (or sync from {}), then
 * sync again with the positions reached while the reply says more. Checks
 * that room's seqs arrive exactly once and in order; returns the pages. */
static int catch_up(int fd, const char *token, const char *room, int expect, bool via_auth)
{
    char req[512];
    int next = 1, pages = 0;
    bool more = true;
    while (more) {
        if (pages == 0 && via_auth)
            snprintf(req, sizeof req, "{\"id\":1,\"op\":\"auth\",\"token\":\"%s\",\"since\":{}}",
                     token);
        else
            snprintf(req, sizeof req, "{\"id\":%d,\"op\":\"sync\",\"since\":{\"%s\":%d}}",
                     pages + 1, room, next - 1);
        th_ws_send_text(fd, req);
        size_t page_bytes = 0;
        for (;;) {
            json_t *j = recv_json(fd);
            if (json_object_get(j, "re") != NULL) {
                th_expect_ok(j);
                more = json_is_true(json_object_get(j, "more"));
                json_decref(j);
                break;
            }
            const char *ev = th_jstr(j, "ev");
            if (ev && !strcmp(ev, "message") && !strcmp(th_jstr(j, "room"), room)) {
                assert_int_equal(next, th_jint(j, "seq"));
                next++;
                page_bytes += json_size(j);
            }
            json_decref(j);
        }
        /* Each page within the budget, give or take one message. */
        assert_true(page_bytes <= REPLY_MAX + BIG + 1024);
        pages++;
        assert_true(pages < 200);
    }
    assert_int_equal(expect + 1, next);
    return pages;
}

/* ---- item 3: replies and catch-up never lock a reader out ---- */

/* The stranger-dm lockout: 80 x 60 KB in a dm (4.8 MB, more than the
 * 4 MiB write queue). The victim catches up with auth+since and with
 * sync: every message once, in order, in several pages, never 4008. */
static void test_stranger_dm_lockout(void **state)
{
    (void)state;
    start(NULL);
    th_user_t stranger, victim;
    th_new_user(&stranger, "str");
    th_new_user(&victim, "vic");
    int fs = th_ws_login(&stranger);
    char members[96];
    snprintf(members, sizeof members, "[\"%s\"]", victim.name);
    char *dm = th_room_create(fs, "dm", members, NULL);
    for (int i = 0; i < 80; i++) {
        char cid[32];
        snprintf(cid, sizeof cid, "flood-%d", i);
        send_big(fs, dm, cid, BIG);
    }
    long slow0 = (long)th_stat("slow_consumers");

    int fv = th_ws_connect(srv.port, "/v1/ws");
    int pages = catch_up(fv, victim.token, dm, 80, true);
    assert_true(pages > 1); /* paged by bytes, not 4008 */
    close(fv);

    fv = th_ws_login(&victim);
    assert_true(catch_up(fv, victim.token, dm, 80, false) > 1);
    /* Still usable afterwards: live messages flow. */
    send_big(fs, dm, "after", 100);
    json_t *ev = th_next_event(fv, "message");
    assert_int_equal(81, th_jint(ev, "seq"));
    json_decref(ev);
    assert_int_equal(slow0, (long)th_stat("slow_consumers"));
    close(fv);
    close(fs);
    free(dm);
    stop();
}

/* history limit=100 over 60 KB messages: the newest that fit, more=true,
 * and paging backwards (and forwards with after) reaches every message. */
static void test_history_paged_by_bytes(void **state)
{
    (void)state;
    start(NULL);
    th_user_t a;
    th_new_user(&a, "his");
    int fa = th_ws_login(&a);
    char *room = th_room_create(fa, "group", "[]", "big");
    for (int i = 0; i < 100; i++) {
        char cid[32];
        snprintf(cid, sizeof cid, "h-%d", i);
        send_big(fa, room, cid, BIG);
    }
    int fr = th_ws_login(&a);
    json_int_t before = 0, seen = 0, expect = 100;
    int pages = 0;
    for (;;) {
        json_t *r = before ? th_call(fr,
                                     "\"op\":\"history\",\"room\":\"%s\",\"limit\":100,"
                                     "\"before\":%lld",
                                     room, (long long)before)
                           : th_call(fr, "\"op\":\"history\",\"room\":\"%s\",\"limit\":100", room);
        th_expect_ok(r);
        json_t *msgs = json_object_get(r, "messages");
        size_t n = json_array_size(msgs);
        assert_true(n > 0 && n < 100);
        assert_true(json_size(r) <= REPLY_MAX + BIG + 1024);
        /* Oldest first, the newest that fit, contiguous. */
        for (size_t i = 0; i < n; i++)
            assert_int_equal(expect - (json_int_t)n + 1 + (json_int_t)i,
                             th_jint(json_array_get(msgs, i), "seq"));
        expect -= (json_int_t)n;
        seen += (json_int_t)n;
        before = th_jint(json_array_get(msgs, 0), "seq");
        bool more = json_is_true(json_object_get(r, "more"));
        json_decref(r);
        pages++;
        assert_int_equal(before > 1, more);
        if (!more)
            break;
    }
    assert_int_equal(100, seen);
    assert_true(pages >= 20);
    /* Forwards: after=0, oldest first. */
    json_int_t after = 0;
    seen = 0;
    for (;;) {
        json_t *r = th_call(fr, "\"op\":\"history\",\"room\":\"%s\",\"limit\":100,\"after\":%lld",
                            room, (long long)after);
        th_expect_ok(r);
        json_t *msgs = json_object_get(r, "messages");
        size_t n = json_array_size(msgs);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(after + 1 + (json_int_t)i, th_jint(json_array_get(msgs, i), "seq"));
        after += (json_int_t)n;
        seen += (json_int_t)n;
        bool more = json_is_true(json_object_get(r, "more"));
        json_decref(r);
        if (!more)
            break;
    }
    assert_int_equal(100, seen);

    /* A thread of 10 big replies, and search over big messages: the same
     * byte budget, more=true, and paging with before reaches them all. */
    json_t *root = th_call(fa,
                           "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"root\",\"content\":"
                           "{\"type\":\"text\",\"body\":\"root\"}",
                           room);
    th_expect_ok(root);
    json_int_t rs = th_jint(json_object_get(root, "message"), "seq");
    json_decref(root);
    char *words = malloc(BIG + 1);
    for (size_t i = 0; i < BIG; i += 7)
        memcpy(words + i, "needle ", PL_TEST_MIN(7, BIG - i));
    words[BIG] = '\0';
    for (int i = 0; i < 10; i++) {
        json_t *r =
            th_call(fa,
                    "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"t-%d\",\"thread\":%lld,"
                    "\"content\":{\"type\":\"text\",\"body\":\"%s\"}",
                    room, i, (long long)rs, words);
        th_expect_ok(r);
        json_decref(r);
    }
    free(words);
    int tseen = 0;
    before = 0;
    for (int pages_t = 0;; pages_t++) {
        assert_true(pages_t < 20);
        json_t *r = before ? th_call(fr,
                                     "\"op\":\"thread\",\"room\":\"%s\",\"root\":%lld,"
                                     "\"before\":%lld",
                                     room, (long long)rs, (long long)before)
                           : th_call(fr, "\"op\":\"thread\",\"room\":\"%s\",\"root\":%lld", room,
                                     (long long)rs);
        th_expect_ok(r);
        assert_true(json_size(r) <= REPLY_MAX + 2 * BIG + 1024);
        json_t *msgs = json_object_get(r, "messages");
        tseen += (int)json_array_size(msgs);
        bool more = json_is_true(json_object_get(r, "more"));
        if (json_array_size(msgs))
            before = th_jint(json_array_get(msgs, 0), "seq");
        json_decref(r);
        if (!more)
            break;
        assert_true(tseen < 10);
    }
    assert_int_equal(10, tseen);
    int sseen = 0;
    char sbefore[32] = "";
    for (int pages_s = 0;; pages_s++) {
        assert_true(pages_s < 20);
        json_t *r = sbefore[0]
                        ? th_call(fr,
                                  "\"op\":\"search\",\"query\":\"needle\",\"limit\":100,"
                                  "\"before\":\"%s\"",
                                  sbefore)
                        : th_call(fr, "\"op\":\"search\",\"query\":\"needle\",\"limit\":100");
        th_expect_ok(r);
        assert_true(json_size(r) <= REPLY_MAX + BIG + 1024);
        json_t *res = json_object_get(r, "results");
        size_t n = json_array_size(res);
        sseen += (int)n;
        bool more = json_is_true(json_object_get(r, "more"));
        if (n)
            snprintf(sbefore, sizeof sbefore, "%s", th_jstr(json_array_get(res, n - 1), "id"));
        json_decref(r);
        if (!more)
            break;
        assert_true(n < 10);
    }
    assert_int_equal(10, sseen);
    close(fr);
    close(fa);
    free(room);
    stop();
}

/* 75 groups whose last message is 60 KB: `rooms` pages with more/next;
 * every room once; no reply over the budget. */
static void test_rooms_paged(void **state)
{
    (void)state;
    /* 75 new groups in a moment: past the default room_create_per_hour. */
    static const char *const sets[] = {"room_create_per_hour=1000", NULL};
    start(sets);
    th_user_t a;
    th_new_user(&a, "rms");
    int fa = th_ws_login(&a);
    for (int i = 0; i < 75; i++) {
        char name[32], cid[32];
        snprintf(name, sizeof name, "g%d", i);
        snprintf(cid, sizeof cid, "r-%d", i);
        char *room = th_room_create(fa, "group", "[]", name);
        send_big(fa, room, cid, BIG);
        free(room);
    }
    int fr = th_ws_login(&a);
    int total = 0, pages = 0;
    char after[32] = "";
    json_t *seen = json_object();
    for (;;) {
        json_t *r = after[0] ? th_call(fr, "\"op\":\"rooms\",\"after\":\"%s\"", after)
                             : th_call(fr, "\"op\":\"rooms\"");
        th_expect_ok(r);
        assert_true(json_size(r) <= REPLY_MAX + BIG + 4096);
        json_t *rooms = json_object_get(r, "rooms");
        size_t i;
        json_t *x;
        json_array_foreach(rooms, i, x)
        {
            const char *id = th_jstr(x, "id");
            assert_null(json_object_get(seen, id));
            json_object_set_new(seen, id, json_true());
            assert_int_equal(
                BIG, json_string_length(json_object_get(
                         json_object_get(json_object_get(x, "last_message"), "content"), "body")));
            total++;
        }
        pages++;
        bool more = json_is_true(json_object_get(r, "more"));
        if (more) {
            const char *next = th_jstr(r, "next");
            assert_non_null(next);
            assert_string_equal(next,
                                th_jstr(json_array_get(rooms, json_array_size(rooms) - 1), "id"));
            snprintf(after, sizeof after, "%s", next);
        }
        json_decref(r);
        if (!more)
            break;
    }
    assert_int_equal(75, total);
    assert_true(pages > 5);
    json_decref(seen);
    th_expect_err(th_call(fr, "\"op\":\"rooms\",\"after\":7"), "bad_request");
    close(fr);
    close(fa);
    stop();
}

/* 300 pipelined history requests over 60 KB messages, from a client that
 * does not read while it sends them: the server prepares at most
 * max_inflight_requests at once (the rest get too_many_pending at once),
 * keeps the rest of the answers waiting on the connection, and its memory
 * stays bounded (before: RSS 41 -> 267 MiB). Then every request has its
 * one answer. */
static void test_pipelined_history_bounded(void **state)
{
    (void)state;
    start(NULL);
    th_user_t a;
    th_new_user(&a, "pip");
    int fa = th_ws_login(&a);
    char *room = th_room_create(fa, "group", "[]", "pipe");
    for (int i = 0; i < 40; i++) {
        char cid[32];
        snprintf(cid, sizeof cid, "p-%d", i);
        send_big(fa, room, cid, BIG);
    }
    int fr = th_ws_login(&a);
    long rss0 = proc_kib(srv.pid, "VmRSS");
    char req[256];
    for (int i = 0; i < 300; i++) {
        snprintf(req, sizeof req, "{\"id\":%d,\"op\":\"history\",\"room\":\"%s\",\"limit\":100}",
                 1000 + i, room);
        th_ws_send_text(fr, req);
    }
    /* Not reading: give the server time to do what it will. */
    long peak = 0;
    for (int i = 0; i < 20; i++) {
        usleep(100 * 1000);
        long rss = proc_kib(srv.pid, "VmRSS");
        if (rss > peak)
            peak = rss;
    }
    long hwm = proc_kib(srv.pid, "VmHWM");
    print_message("pipelined history: VmRSS before %ld KiB, peak %ld KiB, VmHWM %ld KiB\n", rss0,
                  peak, hwm);
    assert_true(hwm - rss0 < RSS_BOUND_KIB);
    /* Now read: one answer per request, ok or too_many_pending. */
    char got[300] = {0};
    int oks = 0, refused = 0;
    for (int n = 0; n < 300;) {
        json_t *j = recv_json(fr);
        json_t *re = json_object_get(j, "re");
        if (re != NULL) {
            long id = (long)json_integer_value(re) - 1000;
            assert_true(id >= 0 && id < 300);
            assert_int_equal(0, got[id]);
            got[id] = 1;
            n++;
            if (json_is_true(json_object_get(j, "ok")))
                oks++;
            else {
                assert_string_equal("too_many_pending",
                                    th_jstr(json_object_get(j, "error"), "code"));
                refused++;
            }
        }
        json_decref(j);
    }
    print_message("pipelined history: %d answered, %d too_many_pending\n", oks, refused);
    assert_true(oks >= 32);
    assert_true(refused > 0);
    /* The connection is fine afterwards. */
    json_t *r = th_call(fr, "\"op\":\"ping\"");
    th_expect_ok(r);
    json_decref(r);
    close(fr);
    close(fa);
    free(room);
    stop();
}

/* receipts of a big group are paged by bytes (`after`/`next`): every
 * member once, by user id, over several pages; a bad cursor is refused. */
static void test_receipts_paged(void **state)
{
    (void)state;
    static const char *const settings[] = {"max_reply_bytes=16384", NULL};
    start(settings);
    enum { N = 250 }; /* about 90 bytes of receipt each: two 16 KiB pages */
    th_user_t owner, u;
    th_new_user(&owner, "rco");
    char *members = malloc(N * 48);
    size_t len = 0;
    members[len++] = '[';
    for (int i = 1; i < N; i++) {
        th_new_user(&u, "rcm");
        len += (size_t)sprintf(members + len, "%s\"%s\"", i > 1 ? "," : "", u.name);
    }
    members[len++] = ']';
    members[len] = '\0';
    int fo = th_ws_login(&owner);
    char *room = th_room_create(fo, "group", members, "big receipts");
    th_expect_err(th_call(fo, "\"op\":\"receipts\",\"room\":\"%s\",\"after\":7", room),
                  "bad_request");
    char after[32] = "";
    int seen = 0, pages = 0;
    long long last = 0;
    for (;;) {
        json_t *r = after[0] ? th_call(fo, "\"op\":\"receipts\",\"room\":\"%s\",\"after\":\"%s\"",
                                       room, after)
                             : th_call(fo, "\"op\":\"receipts\",\"room\":\"%s\"", room);
        th_expect_ok(r);
        json_t *arr = json_object_get(r, "receipts");
        for (size_t i = 0; i < json_array_size(arr); i++) {
            long long id = atoll(th_jstr(json_array_get(arr, i), "user") + 1);
            assert_true(id > last); /* by user id, each once */
            last = id;
            seen++;
        }
        pages++;
        bool more = json_is_true(json_object_get(r, "more"));
        if (more)
            snprintf(after, sizeof after, "%s", th_jstr(r, "next"));
        json_decref(r);
        if (!more)
            break;
    }
    assert_int_equal(N, seen);
    assert_true(pages >= 2);
    close(fo);
    free(room);
    free(members);
    stop();
}

/* Replies waiting for the client to read (behind a long answer) keep their
 * place: a send's reply still comes before its own message event, which
 * queues behind it instead of overtaking it. */
static void test_event_after_waiting_reply(void **state)
{
    (void)state;
    static const char *const settings[] = {"max_inflight_requests=64", NULL};
    start(settings);
    th_user_t a;
    th_new_user(&a, "ord");
    int fa = th_ws_login(&a);
    char *room = th_room_create(fa, "group", "[]", "order");
    for (int i = 0; i < 40; i++) {
        char cid[32];
        snprintf(cid, sizeof cid, "o-%d", i);
        send_big(fa, room, cid, BIG);
    }
    close(fa);
    int fr = th_ws_login(&a);
    /* About 7 MiB of answers (more than the sockets buffer), then a send:
     * its reply waits behind them on the server. */
    char req[512];
    for (int i = 0; i < 32; i++) {
        snprintf(req, sizeof req, "{\"id\":%d,\"op\":\"history\",\"room\":\"%s\",\"limit\":100}",
                 1000 + i, room);
        th_ws_send_text(fr, req);
    }
    usleep(300 * 1000);
    snprintf(req, sizeof req,
             "{\"id\":999,\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"o-last\","
             "\"content\":{\"type\":\"text\",\"body\":\"after\"}}",
             room);
    th_ws_send_text(fr, req);
    usleep(300 * 1000); /* the send commits and fans out before we read */
    bool replied = false, event = false;
    int answers = 0;
    while (answers < 33 || !event) {
        json_t *j = recv_json(fr);
        json_t *re = json_object_get(j, "re");
        if (re != NULL) {
            answers++;
            if (json_integer_value(re) == 999)
                replied = true;
        } else if (!strcmp(th_jstr(j, "ev"), "message") &&
                   json_integer_value(json_object_get(j, "seq")) == 41) {
            assert_true(replied); /* the send's reply came first */
            event = true;
        }
        json_decref(j);
    }
    close(fr);
    free(room);
    stop();
}

/* A client that asks for a lot and then reads nothing, while still sending
 * (blind pongs keep ws_idle_timeout_ms from firing): once its queue has not
 * moved for ws_idle_timeout_ms it is a slow consumer (4008), so the replies
 * waiting for it are not held for ever. */
static void test_stalled_reader_closed(void **state)
{
    (void)state;
    static const char *const settings[] = {"ws_idle_timeout_ms=1500", "ws_ping_interval_ms=1000",
                                           NULL};
    start(settings);
    th_user_t a;
    th_new_user(&a, "stl");
    int fa = th_ws_login(&a);
    char *room = th_room_create(fa, "group", "[]", "stall");
    for (int i = 0; i < 40; i++) {
        char cid[32];
        snprintf(cid, sizeof cid, "s-%d", i);
        send_big(fa, room, cid, BIG);
    }
    close(fa);
    int fr = th_ws_login(&a);
    char req[256];
    for (int i = 0; i < 32; i++) {
        snprintf(req, sizeof req, "{\"id\":%d,\"op\":\"history\",\"room\":\"%s\",\"limit\":100}",
                 1000 + i, room);
        th_ws_send_text(fr, req);
    }
    json_int_t slow0 = th_stat("slow_consumers");
    bool closed = false;
    for (int i = 0; i < 100 && !closed; i++) {
        usleep(100 * 1000);
        if (i % 3 == 0)
            (void)th_ws_try_send_frame(fr, 0x8A, NULL, 0); /* an unsolicited pong */
        closed = th_stat("slow_consumers") > slow0;
    }
    assert_true(closed);
    close(fr);
    free(room);
    stop();
}

/* With a write queue smaller than one reply, a reading client still gets
 * the reply (never 4008 for its own size), while a member who never reads
 * is closed with 4008 by the fan-out of the same room (today's rule). */
static void test_reply_not_slow_consumer(void **state)
{
    (void)state;
    static const char *const settings[] = {"max_write_queue=65536", "rate_limit_per_sec=100000",
                                           NULL};
    start(settings);
    th_user_t a, lazy;
    th_new_user(&a, "rep");
    th_new_user(&lazy, "lzy");
    int fa = th_ws_login(&a);
    char members[96];
    snprintf(members, sizeof members, "[\"%s\"]", lazy.name);
    char *room = th_room_create(fa, "group", members, "q");
    for (int i = 0; i < 8; i++) {
        char cid[32];
        snprintf(cid, sizeof cid, "q-%d", i);
        send_big(fa, room, cid, 30000);
    }
    long slow0 = (long)th_stat("slow_consumers");
    int fr = th_ws_login(&a);
    json_t *r = th_call(fr, "\"op\":\"history\",\"room\":\"%s\",\"limit\":8", room);
    th_expect_ok(r);
    assert_int_equal(8, json_array_size(json_object_get(r, "messages")));
    assert_true(json_size(r) > 3 * 65536); /* one reply, over three queues' worth */
    json_decref(r);
    assert_int_equal(slow0, (long)th_stat("slow_consumers"));
    close(fr);
    /* The lazy member never reads; the room's fan-out fills its queue. */
    int fl = th_ws_login(&lazy);
    /* 20 KB events: the sender's own reply and event fit its queue. */
    for (int i = 0; i < 1000 && (i % 10 || th_stat("slow_consumers") == slow0); i++) {
        char cid[32];
        snprintf(cid, sizeof cid, "f-%d", i);
        send_big(fa, room, cid, 20000);
    }
    assert_true(th_stat("slow_consumers") > slow0);
    assert_int_equal(4008, th_ws_expect_close(fl, 20000));
    close(fl);
    close(fa);
    free(room);
    stop();
}

/* Runs the CLI as the user logged in under home; stdout into out. Returns
 * the exit status. */
static int run_cli(const char *home, const char *stdin_text, char *out, size_t cap,
                   const char *args)
{
    const char *cli = getenv("PARLEY_CLI");
    if (cli == NULL)
        fail_msg("PARLEY_CLI is not set");
    char cmd[2048], infile[300];
    snprintf(infile, sizeof infile, "%s/stdin.txt", home);
    FILE *f = fopen(infile, "w");
    assert_non_null(f);
    fputs(stdin_text ? stdin_text : "", f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "env -u PARLEY_PASSWORD XDG_CONFIG_HOME='%s' '%s' --server %s %s < '%s' 2>/dev/null",
             home, cli, srv.url, args, infile);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = 0, r;
    while ((r = fread(out + n, 1, cap - 1 - n, p)) > 0 && n + r < cap - 1)
        n += r;
    n += r;
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The clients follow the paging: libparley seeds every room (rooms paged
 * with after/next) and catches up across pages; the CLI pages history and
 * rooms until it has what was asked. A small max_reply_bytes makes pages
 * of a few messages. */
static void test_clients_follow_paging(void **state)
{
    (void)state;
    static const char *const settings[] = {"max_reply_bytes=16384", "log_level=trace", NULL};
    start(settings);
    th_user_t a;
    th_new_user(&a, "cli");
    int fa = th_ws_login(&a);
    char *rooms[40];
    for (int i = 0; i < 40; i++) {
        char name[32], cid[32];
        snprintf(name, sizeof name, "c%d", i);
        snprintf(cid, sizeof cid, "c-%d", i);
        rooms[i] = th_room_create(fa, "group", "[]", name);
        send_big(fa, rooms[i], cid, 1500);
    }
    for (int i = 0; i < 59; i++) {
        char cid[32];
        snprintf(cid, sizeof cid, "h-%d", i);
        send_big(fa, rooms[0], cid, 2000);
    }
    /* libparley, "from now": positions of all 40 rooms come from `rooms`. */
    parley_client_t *c = NULL;
    parley_error_t err = {{0}, {0}, 0};
    assert_int_equal(PARLEY_OK, parley_sync_connect(srv.url, a.token, false, 15000, &c, &err));
    json_t *pos = parley_client_positions(c);
    assert_int_equal(40, json_object_size(pos));
    json_decref(pos);
    assert_int_equal(60, parley_client_get_position(c, rooms[0]));
    assert_int_equal(1, parley_client_get_position(c, rooms[39]));
    parley_client_free(c);
    /* libparley replaying history: the catch-up spans many sync pages. */
    c = NULL;
    assert_int_equal(PARLEY_OK, parley_sync_connect(srv.url, a.token, true, 15000, &c, &err));
    int seen0 = 0;
    for (json_t *ev; (ev = parley_wait_event(c, 0)) != NULL; json_decref(ev))
        if (!strcmp(th_jstr(ev, "ev"), "message") && !strcmp(th_jstr(ev, "room"), rooms[0]))
            assert_int_equal(++seen0, th_jint(ev, "seq"));
    assert_int_equal(60, seen0);
    assert_int_equal(60, parley_client_get_position(c, rooms[0]));
    parley_client_free(c);

    /* The CLI: rooms and history --limit 60 over pages of ~7 messages. */
    char home[] = "/tmp/parley-it-cliXXXXXX";
    assert_non_null(mkdtemp(home));
    static char out[1 << 20];
    char args[256];
    snprintf(args, sizeof args, "login %s", a.name);
    assert_int_equal(0, run_cli(home, "correct horse\n", out, sizeof out, args));
    assert_int_equal(0, run_cli(home, NULL, out, sizeof out, "--json rooms"));
    json_t *j = th_json_parse(out);
    assert_int_equal(40, json_array_size(j));
    json_decref(j);
    snprintf(args, sizeof args, "--json history %s --limit 60", rooms[0]);
    assert_int_equal(0, run_cli(home, NULL, out, sizeof out, args));
    j = th_json_parse(out);
    assert_int_equal(60, json_array_size(j));
    for (size_t i = 0; i < 60; i++)
        assert_int_equal((json_int_t)i + 1, th_jint(json_array_get(j, i), "seq"));
    json_decref(j);
    snprintf(args, sizeof args, "--json history %s --limit 20 --after 30", rooms[0]);
    assert_int_equal(0, run_cli(home, NULL, out, sizeof out, args));
    j = th_json_parse(out);
    assert_int_equal(20, json_array_size(j));
    assert_int_equal(31, th_jint(json_array_get(j, 0), "seq"));
    json_decref(j);
    snprintf(args, sizeof args, "rm -rf '%s'", home);
    assert_int_equal(0, system(args));
    for (int i = 0; i < 40; i++)
        free(rooms[i]);
    close(fa);
    stop();
}

/* ---- item 8: rate limits ---- */

/* Counts the answers to `total` pipelined requests on fd: ok, and
 * rate_limited (whose re must echo the request's id, and whose error says
 * retry_after_ms). */
static void count_answers(int fd, int total, int first_id, int *oks, int *limited, int *bad_json)
{
    char *got = calloc((size_t)total, 1);
    for (int n = 0; n < total;) {
        json_t *j = recv_json(fd);
        if (json_object_get(j, "re") == NULL) {
            json_decref(j);
            continue;
        }
        n++;
        const char *code = th_jstr(json_object_get(j, "error"), "code");
        if (json_is_true(json_object_get(j, "ok"))) {
            (*oks)++;
        } else if (!strcmp(code, "rate_limited")) {
            /* It says when a request would pass again. */
            json_int_t ms = th_jint(json_object_get(j, "error"), "retry_after_ms");
            assert_true(ms >= 1 && ms <= 60000);
            (*limited)++;
        } else if (!strcmp(code, "bad_json")) {
            (*bad_json)++;
        } else {
            fail_msg("unexpected answer %s", code);
        }
        json_t *re = json_object_get(j, "re");
        if (json_is_integer(re)) {
            long id = (long)json_integer_value(re) - first_id;
            assert_true(id >= 0 && id < total);
            assert_int_equal(0, got[id]);
            got[id] = 1;
        }
        json_decref(j);
    }
    free(got);
}

/* One user on 10 connections shares one bucket: at most burst + rate x
 * elapsed requests pass, not 10 times that. */
static void test_rate_limit_per_user(void **state)
{
    (void)state;
    static const char *const settings[] = {"rate_limit_per_sec=50", NULL};
    start(settings);
    th_user_t a;
    th_new_user(&a, "rl");
    int fd[10];
    for (int i = 0; i < 10; i++)
        fd[i] = th_ws_login(&a); /* 10 auths: before auth, per address */
    double t0 = now_s();
    char frame[160];
    for (int i = 0; i < 10; i++) {
        for (int k = 0; k < 100; k++) {
            char req[64];
            snprintf(req, sizeof req, "{\"id\":%d,\"op\":\"ping\"}", 10000 + k);
            size_t n = small_frame(frame, req);
            assert_true(send_raw(fd[i], frame, n));
        }
    }
    int oks = 0, limited = 0, bad = 0;
    for (int i = 0; i < 10; i++)
        count_answers(fd[i], 100, 10000, &oks, &limited, &bad);
    double elapsed = now_s() - t0;
    print_message("per user: %d ok, %d rate_limited in %.2f s\n", oks, limited, elapsed);
    assert_true(oks <= 100 + (int)(50 * elapsed) + 5);
    assert_true(limited >= 1000 - 100 - (int)(50 * elapsed) - 5);
    assert_int_equal(0, bad);
    for (int i = 0; i < 10; i++)
        close(fd[i]);
    stop();
}

/* Malformed frames are counted before they are parsed: a flood of bad JSON
 * gets rate_limited, not a bad_json answer each. Refused answers stay
 * small, and one that does not read them ends as a slow consumer with
 * bounded memory. */
static void test_malformed_json_counted(void **state)
{
    (void)state;
    static const char *const settings[] = {"rate_limit_per_sec=10", "max_write_queue=65536", NULL};
    start(settings);
    th_user_t a;
    th_new_user(&a, "mal");
    int fa = th_ws_login(&a);
    double t0 = now_s();
    char frame[160];
    for (int k = 0; k < 200; k++) {
        char req[64];
        snprintf(req, sizeof req, "{\"id\":%d,\"op\":\"ping\",oops", k);
        size_t n = small_frame(frame, req);
        assert_true(send_raw(fa, frame, n));
    }
    int oks = 0, limited = 0, bad = 0;
    count_answers(fa, 200, 0, &oks, &limited, &bad);
    double elapsed = now_s() - t0;
    print_message("malformed: %d bad_json, %d rate_limited in %.2f s\n", bad, limited, elapsed);
    assert_true(bad <= 20 + (int)(10 * elapsed) + 3);
    assert_true(limited > 150);
    close(fa);

    /* A flood that never reads its answers: closed as a slow consumer. */
    long rss0 = proc_kib(srv.pid, "VmRSS");
    int ff = th_ws_login(&a);
    static char burst[64 * 1024];
    size_t one = small_frame(frame, "{\"id\":123456789,\"op\":\"ping\"}");
    size_t per = sizeof burst / one;
    for (size_t i = 0; i < per; i++)
        memcpy(burst + i * one, frame, one);
    long slow0 = (long)th_stat("slow_consumers");
    for (int i = 0; i < 2000 && send_raw(ff, burst, per * one); i++) {
        if (i % 50 == 49 && th_stat("slow_consumers") > slow0)
            break;
    }
    assert_true(th_stat("slow_consumers") > slow0);
    assert_int_equal(4008, th_ws_expect_close(ff, 20000));
    long hwm = proc_kib(srv.pid, "VmHWM");
    print_message("refused flood: VmRSS before %ld KiB, VmHWM %ld KiB\n", rss0, hwm);
    assert_true(hwm - rss0 < RSS_BOUND_KIB);
    close(ff);
    stop();
}

/* Before auth the limit is per client address: 5 unauthenticated
 * connections from one address share one bucket, and malformed frames
 * count too. */
static void test_rate_limit_per_address(void **state)
{
    (void)state;
    static const char *const settings[] = {"rate_limit_ip_per_sec=10", NULL};
    start(settings);
    int fd[5];
    for (int i = 0; i < 5; i++)
        fd[i] = th_ws_connect(srv.port, "/v1/ws");
    double t0 = now_s();
    char frame[160];
    for (int i = 0; i < 5; i++) {
        for (int k = 0; k < 20; k++) {
            char req[64];
            snprintf(req, sizeof req, k % 2 ? "{\"id\":%d,\"op\":\"ping\"}" : "{\"id\":%d,oops",
                     500 + k);
            size_t n = small_frame(frame, req);
            assert_true(send_raw(fd[i], frame, n));
        }
    }
    int oks = 0, limited = 0, bad = 0;
    for (int i = 0; i < 5; i++)
        count_answers(fd[i], 20, 500, &oks, &limited, &bad);
    double elapsed = now_s() - t0;
    print_message("per address: %d ok, %d bad_json, %d rate_limited in %.2f s\n", oks, bad, limited,
                  elapsed);
    assert_true(oks + bad <= 20 + (int)(10 * elapsed) + 3);
    assert_true(limited >= 100 - 20 - (int)(10 * elapsed) - 3);
    for (int i = 0; i < 5; i++)
        close(fd[i]);
    /* The limit lifts by configuration (as the benchmarks do). */
    stop();
    static const char *const lifted[] = {"rate_limit_ip_per_sec=1000000", NULL};
    start(lifted);
    int fl = th_ws_connect(srv.port, "/v1/ws");
    for (int k = 0; k < 300; k++) {
        char req[64];
        snprintf(req, sizeof req, "{\"id\":%d,\"op\":\"ping\"}", 2000 + k);
        size_t n = small_frame(frame, req);
        assert_true(send_raw(fl, frame, n));
    }
    oks = limited = bad = 0;
    count_answers(fl, 300, 2000, &oks, &limited, &bad);
    assert_int_equal(300, oks);
    close(fl);
    stop();
}

/* More requests in flight than max_inflight_requests: the extra ones are
 * refused at once with too_many_pending (echoing their id); every request
 * is answered exactly once. */
static void test_too_many_pending(void **state)
{
    (void)state;
    static const char *const settings[] = {"max_inflight_requests=4", NULL};
    start(settings);
    th_user_t a;
    th_new_user(&a, "pen");
    int fa = th_ws_login(&a);
    char *room = th_room_create(fa, "group", "[]", "p");
    char req[256];
    for (int i = 0; i < 50; i++) {
        snprintf(req, sizeof req, "{\"id\":\"s%d\",\"op\":\"history\",\"room\":\"%s\"}", i, room);
        th_ws_send_text(fa, req);
    }
    int answered = 0, refused = 0;
    char got[50] = {0};
    while (answered < 50) {
        json_t *j = recv_json(fa);
        const char *re = th_jstr(j, "re");
        if (re != NULL) {
            int k = atoi(re + 1);
            assert_int_equal(0, got[k]);
            got[k] = 1;
            answered++;
            if (!json_is_true(json_object_get(j, "ok"))) {
                assert_string_equal("too_many_pending",
                                    th_jstr(json_object_get(j, "error"), "code"));
                refused++;
            }
        }
        json_decref(j);
    }
    assert_true(refused > 0);
    close(fa);
    free(room);
    stop();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_stranger_dm_lockout, teardown),
        cmocka_unit_test_teardown(test_history_paged_by_bytes, teardown),
        cmocka_unit_test_teardown(test_rooms_paged, teardown),
        cmocka_unit_test_teardown(test_pipelined_history_bounded, teardown),
        cmocka_unit_test_teardown(test_stalled_reader_closed, teardown),
        cmocka_unit_test_teardown(test_event_after_waiting_reply, teardown),
        cmocka_unit_test_teardown(test_receipts_paged, teardown),
        cmocka_unit_test_teardown(test_reply_not_slow_consumer, teardown),
        cmocka_unit_test_teardown(test_clients_follow_paging, teardown),
        cmocka_unit_test_teardown(test_rate_limit_per_user, teardown),
        cmocka_unit_test_teardown(test_malformed_json_counted, teardown),
        cmocka_unit_test_teardown(test_rate_limit_per_address, teardown),
        cmocka_unit_test_teardown(test_too_many_pending, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
