/* SPDX-License-Identifier: MIT */
/* test_push.c -- Web Push end to end (issue 15) against a local push
 * service stand-in (tests/push/pushsvc.cjs, Node's own crypto; started and
 * stopped by PID) that checks every push independently of parleyd's C code:
 * the VAPID JWT (ES256, raw R||S, aud, exp, sub) verified with the k= key,
 * TTL/Urgency/Topic headers, and the body decrypted with the subscription's
 * private key (RFC 8291). Covered: a DM to an offline user is pushed once
 * with the right content and headers; a connected, active recipient gets
 * none; group messages push mentions only by default, a room set to
 * `nothing` pushes nothing, settings reach the user's other devices; who may
 * subscribe (not before auth, hostile subscriptions, the per-user bound);
 * 404/410 removes the subscription; a message acked while the push service
 * is down, with a parleyd restart in between, is pushed exactly once when it
 * comes back. Runs on PostgreSQL too (label pg). Skipped without node. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "wsjson.h"

#define DEADLINE_MS 30000 /* generous: the machine may be loaded */

typedef struct {
    pid_t pid;
    int port;
    char state[300];
} svc_t;

static th_server_t srv;
static svc_t svc;
static char tmpdir[64];

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Starts the stand-in (port 0: any; else that port, after an outage). */
static void svc_start(svc_t *v)
{
    const char *src = getenv("PARLEY_SRC");
    char script[600], port[16];
    snprintf(script, sizeof script, "%s/tests/push/pushsvc.cjs", src != NULL ? src : ".");
    snprintf(port, sizeof port, "%d", v->port);
    int pfd[2];
    assert_int_equal(0, pipe(pfd));
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execlp("node", "node", script, "--port", port, "--state", v->state, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    v->pid = pid;
    char line[64] = "";
    size_t n = 0;
    int64_t deadline = now_ms() + DEADLINE_MS;
    while (n + 1 < sizeof line && now_ms() < deadline && strchr(line, '\n') == NULL) {
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t k = read(pfd[0], line + n, sizeof line - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
        line[n] = '\0';
    }
    close(pfd[0]);
    if (sscanf(line, "ready %d", &v->port) != 1)
        fail_msg("pushsvc did not start (got '%s')", line);
}

static void svc_stop(svc_t *v)
{
    if (v->pid <= 0)
        return;
    kill(v->pid, SIGTERM);
    int st;
    for (int i = 0; i < 1000 && waitpid(v->pid, &st, WNOHANG) != v->pid; i++)
        usleep(10000);
    kill(v->pid, SIGKILL); /* if still there */
    waitpid(v->pid, NULL, WNOHANG);
    v->pid = 0;
}

/* A new subscription at the stand-in: {id, endpoint, keys} (owned). */
static json_t *svc_sub(void)
{
    char body[2048];
    assert_int_equal(200, th_http(svc.port, "POST", "/ctl/sub", NULL, "{}", body, sizeof body));
    return th_json_parse(body);
}

static void svc_answer(const char *id, int status)
{
    char req[64], body[256];
    snprintf(req, sizeof req, "{\"id\":\"%s\",\"status\":%d}", id, status);
    assert_int_equal(200, th_http(svc.port, "POST", "/ctl/answer", NULL, req, body, sizeof body));
}

/* What the stand-in received for a subscription: {pushes, errors}, owned.
 * Any push that failed a check fails the test here. */
static json_t *svc_received(const char *id)
{
    static char body[1 << 16];
    char path[64];
    snprintf(path, sizeof path, "/ctl/received?id=%s", id);
    assert_int_equal(200, th_http(svc.port, "GET", path, NULL, NULL, body, sizeof body));
    json_t *r = th_json_parse(body);
    json_t *errors = json_object_get(r, "errors");
    if (json_array_size(errors) > 0)
        fail_msg("the push service refused a push: %s",
                 json_string_value(json_array_get(errors, 0)));
    return r;
}

/* Polls until the subscription holds want pushes; returns them (owned). */
static json_t *wait_pushes(const char *id, size_t want)
{
    int64_t deadline = now_ms() + DEADLINE_MS;
    for (;;) {
        json_t *r = svc_received(id);
        json_t *p = json_incref(json_object_get(r, "pushes"));
        json_decref(r);
        if (json_array_size(p) >= want) {
            assert_int_equal(want, json_array_size(p));
            return p;
        }
        json_decref(p);
        if (now_ms() > deadline)
            fail_msg("sub %s: fewer than %zu pushes after %d ms", id, want, DEADLINE_MS);
        usleep(50000);
    }
}

/* Registers the stand-in's subscription sub for the user of fd. */
static void subscribe(int fd, json_t *sub)
{
    json_t *keys = json_object_get(sub, "keys");
    json_t *r = th_call(fd,
                        "\"op\":\"push_subscribe\",\"subscription\":{\"endpoint\":\"%s\","
                        "\"expirationTime\":null,\"keys\":{\"p256dh\":\"%s\",\"auth\":\"%s\"}}",
                        th_jstr(sub, "endpoint"), th_jstr(keys, "p256dh"), th_jstr(keys, "auth"));
    th_expect_ok(r);
    json_decref(r);
}

/* Waits until the server counts n open WebSockets (a closed one is gone
 * from the room's live list, so it counts as offline). */
static void wait_sessions(json_int_t n)
{
    int64_t deadline = now_ms() + DEADLINE_MS;
    while (th_stat("sessions") != n) {
        if (now_ms() > deadline)
            fail_msg("sessions never became %lld", (long long)n);
        usleep(20000);
    }
}

static json_int_t send_text(int fd, const char *room, const char *text)
{
    static int n;
    json_t *r = th_call(fd,
                        "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"c%d\","
                        "\"content\":{\"type\":\"text\",\"body\":\"%s\"}",
                        room, ++n, text);
    th_expect_ok(r);
    json_int_t seq = th_jint(json_object_get(r, "message"), "seq");
    json_decref(r);
    return seq;
}

static const char *const settings[] = {
    "push_allow_local=true",     "push_ttl_s=600",
    "push_max_subscriptions=3",  "jobs_poll_ms=100",
    "jobs_retry_base_ms=100",    "jobs_retry_max_ms=1000",
    "push_timeout_ms=5000",      "push_subject=mailto:ops@example.org",
    "call_ring_timeout_ms=1000", /* calls (issue 19): test_missed_call */
    "sweep_interval_ms=100",     NULL,
};

static int group_setup(void **state)
{
    (void)state;
    if (system("node --version >/dev/null 2>&1") != 0) {
        print_message("node not found: skipped\n");
        return -1;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/parley-push-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(svc.state, sizeof svc.state, "%s/pushsvc.json", tmpdir);
    svc_start(&svc);
    th_server_start(&srv, settings);
    th_json_bind(&srv);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    th_server_stop(&srv);
    th_server_cleanup(&srv);
    svc_stop(&svc);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        return -1;
    return 0;
}

/* A DM to an offline user: one push, VAPID-signed with the key push_key
 * gives, decrypted content, TTL, urgency, topic = the room. */
static void test_dm_offline(void **state)
{
    (void)state;
    th_user_t a, b;
    th_new_user(&a, "pa");
    th_new_user(&b, "pb");
    int fb = th_ws_login(&b);
    json_t *k = th_call(fb, "\"op\":\"push_key\"");
    th_expect_ok(k);
    json_t *sub = svc_sub();
    subscribe(fb, sub);
    th_close(fb); /* b is offline */
    wait_sessions(0);
    int fa = th_ws_login(&a);
    char members[80];
    snprintf(members, sizeof members, "[\"%s\"]", b.name);
    char *room = th_room_create(fa, "dm", members, NULL);
    json_int_t seq = send_text(fa, room, "hello bob");
    json_t *p = wait_pushes(th_jstr(sub, "id"), 1);
    json_t *one = json_array_get(p, 0), *data = json_object_get(one, "data");
    assert_int_equal(600, th_jint(one, "ttl"));
    assert_string_equal("high", th_jstr(one, "urgency"));
    assert_string_equal(room, th_jstr(one, "topic"));
    assert_string_equal(th_jstr(k, "key"), th_jstr(one, "k"));
    assert_string_equal("hello bob", th_jstr(data, "body"));
    assert_string_equal("dm", th_jstr(data, "why"));
    assert_string_equal(room, th_jstr(data, "room"));
    assert_int_equal(seq, th_jint(data, "seq"));
    assert_string_equal(a.id, th_jstr(data, "sender"));
    assert_non_null(strstr(th_jstr(data, "title"), a.name));
    assert_false(json_is_true(json_object_get(data, "content_free")));
    json_decref(p);

    /* b connected and active: no push for the next message. Then offline
     * again: the message after it is pushed, and it is the only new one
     * (a room's pushes go out in order, so a push of the first would have
     * come before). */
    fb = th_ws_login(&b);
    send_text(fa, room, "while connected");
    json_decref(th_next_event(fb, "message"));
    th_close(fb);
    wait_sessions(1);
    send_text(fa, room, "offline again");
    p = wait_pushes(th_jstr(sub, "id"), 2);
    assert_string_equal("offline again",
                        th_jstr(json_object_get(json_array_get(p, 1), "data"), "body"));
    json_decref(p);

    /* content-free: the setting (synced) hides the text */
    fb = th_ws_login(&b);
    json_t *r = th_call(fb, "\"op\":\"push_settings_set\",\"content_free\":true");
    th_expect_ok(r);
    assert_true(json_is_true(json_object_get(json_object_get(r, "settings"), "content_free")));
    json_decref(r);
    th_close(fb);
    wait_sessions(1);
    send_text(fa, room, "secret text");
    p = wait_pushes(th_jstr(sub, "id"), 3);
    data = json_object_get(json_array_get(p, 2), "data");
    assert_null(json_object_get(data, "body"));
    assert_true(json_is_true(json_object_get(data, "content_free")));
    char want[80];
    snprintf(want, sizeof want, "New message from %s", a.name);
    assert_string_equal(want, th_jstr(data, "title"));
    json_decref(p);
    free(room);
    th_close(fa);
    json_decref(sub);
    json_decref(k);
}

/* Groups: mentions only by default; level `nothing` silences a room; the
 * settings reach the user's other device as an event. */
static void test_group_settings(void **state)
{
    (void)state;
    th_user_t a, b, c;
    th_new_user(&a, "ga");
    th_new_user(&b, "gb");
    th_new_user(&c, "gc");
    int fb = th_ws_login(&b);
    json_t *sub = svc_sub();
    subscribe(fb, sub);
    th_close(fb);
    wait_sessions(0);
    int fa = th_ws_login(&a);
    char members[120], text[80];
    snprintf(members, sizeof members, "[\"%s\",\"%s\"]", b.name, c.name);
    char *room = th_room_create(fa, "group", members, "crew");
    send_text(fa, room, "nothing for bob here");
    snprintf(text, sizeof text, "hey @%s look", b.name);
    send_text(fa, room, text);
    json_t *p = wait_pushes(th_jstr(sub, "id"), 1);
    json_t *data = json_object_get(json_array_get(p, 0), "data");
    assert_string_equal(text, th_jstr(data, "body"));
    assert_string_equal("mention", th_jstr(data, "why"));
    assert_string_equal("crew", th_jstr(data, "room_name"));
    json_decref(p);

    /* two devices of b: settings set on one arrive on the other */
    int fb1 = th_ws_login(&b), fb2 = th_ws_login(&b);
    json_t *r =
        th_call(fb1, "\"op\":\"push_settings_set\",\"room\":\"%s\",\"level\":\"nothing\"", room);
    th_expect_ok(r);
    json_decref(r);
    json_t *ev = th_next_event(fb2, "push_settings");
    assert_string_equal(
        "nothing",
        th_jstr(json_object_get(json_object_get(json_object_get(ev, "settings"), "rooms"), room),
                "level"));
    json_decref(ev);
    r = th_call(fb2, "\"op\":\"push_settings_get\"");
    th_expect_ok(r);
    json_decref(r);
    /* hostile settings */
    th_expect_err(
        th_call(fb1, "\"op\":\"push_settings_set\",\"room\":\"%s\",\"level\":\"loud\"", room),
        "bad_request");
    th_expect_err(th_call(fb1, "\"op\":\"push_settings_set\",\"dnd\":{\"start\":\"25:00\","
                               "\"end\":\"07:00\"}"),
                  "bad_request");
    th_expect_err(th_call(fb1, "\"op\":\"push_settings_set\",\"room\":\"r999999\","
                               "\"level\":\"all\""),
                  "forbidden");
    th_expect_err(th_call(fb1, "\"op\":\"push_settings_set\""), "bad_request");
    th_close(fb1);
    th_close(fb2);
    wait_sessions(1);
    send_text(fa, room, text); /* a mention, but the room says nothing */
    /* then a DM, which is pushed: the only new push */
    snprintf(members, sizeof members, "[\"%s\"]", b.name);
    char *dm = th_room_create(fa, "dm", members, NULL);
    send_text(fa, dm, "dm to bob");
    p = wait_pushes(th_jstr(sub, "id"), 2);
    assert_string_equal("dm to bob",
                        th_jstr(json_object_get(json_array_get(p, 1), "data"), "body"));
    json_decref(p);
    free(room);
    free(dm);
    th_close(fa);
    json_decref(sub);
}

/* Who may subscribe, and what. */
static void test_subscribe_rules(void **state)
{
    (void)state;
    json_t *sub = svc_sub();
    json_t *keys = json_object_get(sub, "keys");
    /* before auth */
    int fd = th_ws_connect(srv.port, "/v1/ws");
    th_expect_err(th_call(fd,
                          "\"op\":\"push_subscribe\",\"subscription\":{\"endpoint\":\"%s\","
                          "\"keys\":{\"p256dh\":\"%s\",\"auth\":\"%s\"}}",
                          th_jstr(sub, "endpoint"), th_jstr(keys, "p256dh"), th_jstr(keys, "auth")),
                  "unauthenticated");
    th_expect_err(th_call(fd, "\"op\":\"push_key\""), "unauthenticated");
    th_close(fd);
    wait_sessions(0);
    th_user_t u;
    th_new_user(&u, "su");
    fd = th_ws_login(&u);
    const char *bad[] = {
        "\"subscription\":{\"endpoint\":\"ftp://x/\",\"keys\":{\"p256dh\":\"%s\",\"auth\":\"%s\"}}",
        "\"subscription\":{\"endpoint\":\"http://u:p@127.0.0.1/\",\"keys\":{\"p256dh\":\"%s\","
        "\"auth\":\"%s\"}}",
        "\"subscription\":{\"endpoint\":\"http://127.0.0.1/\",\"keys\":{\"p256dh\":\"%.20s\","
        "\"auth\":\"%s\"}}",
        "\"subscription\":{\"endpoint\":\"http://127.0.0.1/\",\"keys\":{\"p256dh\":\"%s\","
        "\"auth\":\"%.10s\"}}",
        "\"subscription\":\"%s%s\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char args[600], req[700];
        snprintf(args, sizeof args, bad[i], th_jstr(keys, "p256dh"), th_jstr(keys, "auth"));
        snprintf(req, sizeof req, "\"op\":\"push_subscribe\",%s", args);
        th_expect_err(th_call(fd, "%s", req), "bad_request");
    }
    /* the bound (push_max_subscriptions=3); the same endpoint again is no new one */
    json_t *s[4];
    for (int i = 0; i < 4; i++)
        s[i] = svc_sub();
    for (int i = 0; i < 3; i++)
        subscribe(fd, s[i]);
    subscribe(fd, s[0]);
    json_t *k3 = json_object_get(s[3], "keys");
    th_expect_err(th_call(fd,
                          "\"op\":\"push_subscribe\",\"subscription\":{\"endpoint\":\"%s\","
                          "\"keys\":{\"p256dh\":\"%s\",\"auth\":\"%s\"}}",
                          th_jstr(s[3], "endpoint"), th_jstr(k3, "p256dh"), th_jstr(k3, "auth")),
                  "too_many_subscriptions");
    json_t *r =
        th_call(fd, "\"op\":\"push_unsubscribe\",\"endpoint\":\"%s\"", th_jstr(s[1], "endpoint"));
    th_expect_ok(r);
    json_decref(r);
    th_expect_err(
        th_call(fd, "\"op\":\"push_unsubscribe\",\"endpoint\":\"%s\"", th_jstr(s[1], "endpoint")),
        "not_found");
    subscribe(fd, s[3]);
    json_t *l = th_call(fd, "\"op\":\"push_subscriptions\"");
    th_expect_ok(l);
    assert_int_equal(3, json_array_size(json_object_get(l, "subscriptions")));
    assert_true(json_is_true(
        json_object_get(json_array_get(json_object_get(l, "subscriptions"), 0), "this_device")));
    json_decref(l);
    /* another user cannot remove it */
    th_user_t o;
    th_new_user(&o, "so");
    int fo = th_ws_login(&o);
    th_expect_err(
        th_call(fo, "\"op\":\"push_unsubscribe\",\"endpoint\":\"%s\"", th_jstr(s[3], "endpoint")),
        "not_found");
    th_close(fo);
    for (int i = 0; i < 4; i++)
        json_decref(s[i]);
    th_close(fd);
    json_decref(sub);
}

/* A push service answering 410 (or 404): the subscription is removed. */
static void test_gone_removes(void **state)
{
    (void)state;
    static const int codes[] = {410, 404};
    for (int i = 0; i < 2; i++) {
        th_user_t a, b;
        th_new_user(&a, "xa");
        th_new_user(&b, "xb");
        int fb = th_ws_login(&b);
        json_t *sub = svc_sub();
        subscribe(fb, sub);
        svc_answer(th_jstr(sub, "id"), codes[i]);
        th_close(fb);
        wait_sessions(0);
        int fa = th_ws_login(&a);
        char members[80];
        snprintf(members, sizeof members, "[\"%s\"]", b.name);
        char *room = th_room_create(fa, "dm", members, NULL);
        send_text(fa, room, "to a gone browser");
        /* the stand-in answered the push with the code ... */
        int64_t deadline = now_ms() + DEADLINE_MS;
        for (;;) {
            json_t *r = svc_received(th_jstr(sub, "id"));
            json_int_t answered = th_jint(r, "answered");
            json_decref(r);
            if (answered >= 1)
                break;
            if (now_ms() > deadline)
                fail_msg("no push reached the stand-in");
            usleep(50000);
        }
        /* ... and then the subscription is gone */
        fb = th_ws_login(&b);
        for (;;) {
            json_t *r = th_call(fb, "\"op\":\"push_subscriptions\"");
            th_expect_ok(r);
            size_t n = json_array_size(json_object_get(r, "subscriptions"));
            json_decref(r);
            if (n == 0)
                break;
            if (now_ms() > deadline)
                fail_msg("a subscription answered %d was not removed", codes[i]);
            usleep(50000);
        }
        free(room);
        th_close(fa);
        th_close(fb);
        json_decref(sub);
    }
}

/* The send path skips rooms where nobody but the sender may be pushed
 * (push_ops.c caches that per room): a room that had no subscriber when
 * its first messages were sent pushes as soon as a member subscribes. */
static void test_subscribe_after_room(void **state)
{
    (void)state;
    th_user_t a, b;
    th_new_user(&a, "sa");
    th_new_user(&b, "sb");
    int fa = th_ws_login(&a);
    char members[80];
    snprintf(members, sizeof members, "[\"%s\"]", b.name);
    char *room = th_room_create(fa, "dm", members, NULL);
    send_text(fa, room, "nobody subscribed yet"); /* the room's answer: none */
    json_t *sub = svc_sub();
    int fb = th_ws_login(&b);
    subscribe(fb, sub);
    th_close(fb);
    wait_sessions(1);
    send_text(fa, room, "now b is subscribed");
    json_t *p = wait_pushes(th_jstr(sub, "id"), 1);
    assert_string_equal("now b is subscribed",
                        th_jstr(json_object_get(json_array_get(p, 0), "data"), "body"));
    json_decref(p);
    th_close(fa);
    free(room);
    json_decref(sub);
}

/* A message acked while the push service is down, with parleyd restarted
 * before it comes back: pushed exactly once when it does. */
static void test_outage_restart(void **state)
{
    (void)state;
    th_user_t a, b;
    th_new_user(&a, "oa");
    th_new_user(&b, "ob");
    int fb = th_ws_login(&b);
    json_t *sub = svc_sub();
    subscribe(fb, sub);
    th_close(fb);
    wait_sessions(0);
    int fa = th_ws_login(&a);
    char members[80];
    snprintf(members, sizeof members, "[\"%s\"]", b.name);
    char *room = th_room_create(fa, "dm", members, NULL);
    th_close(fa);

    svc_stop(&svc); /* the push service is down (its port stays ours: same port later) */
    fa = th_ws_login(&a);
    send_text(fa, room, "sent during the outage"); /* acked: stored with its push job */
    /* the job is tried and fails at least once (polled, generous deadline) */
    int64_t deadline = now_ms() + DEADLINE_MS;
    while (th_stat("jobs_failed") < 1) {
        if (now_ms() > deadline)
            fail_msg("the push job was never tried during the outage");
        usleep(50000);
    }
    th_close(fa);
    /* parleyd restarts while the service is still down */
    assert_int_equal(0, th_server_stop(&srv));
    th_server_restart(&srv, settings);
    svc_start(&svc); /* back, same port, same state */
    json_t *p = wait_pushes(th_jstr(sub, "id"), 1);
    assert_string_equal("sent during the outage",
                        th_jstr(json_object_get(json_array_get(p, 0), "data"), "body"));
    json_decref(p);
    /* exactly once: the next message of the room is the only other push
     * (a room's pushes go out in order behind any retry of the first) */
    fa = th_ws_login(&a);
    send_text(fa, room, "after the outage");
    p = wait_pushes(th_jstr(sub, "id"), 2);
    assert_string_equal("after the outage",
                        th_jstr(json_object_get(json_array_get(p, 1), "data"), "body"));
    json_decref(p);
    th_close(fa);
    free(room);
    json_decref(sub);
}

/* Calls (issue 19): a call nobody answers ends as missed, and its history
 * message is pushed to the offline callee like a message. */
static void test_missed_call(void **state)
{
    (void)state;
    th_user_t a, b;
    th_new_user(&a, "ma");
    th_new_user(&b, "mb");
    int fb = th_ws_login(&b);
    json_t *sub = svc_sub();
    subscribe(fb, sub);
    int fa = th_ws_login(&a);
    char members[80];
    snprintf(members, sizeof members, "[\"%s\"]", b.name);
    char *room = th_room_create(fa, "dm", members, NULL);
    th_close(fb); /* b is offline */
    wait_sessions(1);
    json_t *r = th_call(fa, "\"op\":\"call_invite\",\"room\":\"%s\",\"kind\":\"video\"", room);
    th_expect_ok(r);
    json_decref(r);
    json_t *e = th_next_event(fa, "call_end"); /* call_ring_timeout_ms: 1 s */
    assert_string_equal("timeout", th_jstr(e, "reason"));
    json_decref(e);
    json_t *p = wait_pushes(th_jstr(sub, "id"), 1);
    json_t *data = json_object_get(json_array_get(p, 0), "data");
    assert_string_equal("call", th_jstr(data, "content_type"));
    assert_string_equal("dm", th_jstr(data, "why"));
    assert_string_equal(a.id, th_jstr(data, "sender"));
    assert_string_equal(room, th_jstr(data, "room"));
    json_decref(p);
    free(room);
    th_close(fa);
    json_decref(sub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dm_offline),           cmocka_unit_test(test_group_settings),
        cmocka_unit_test(test_subscribe_rules),      cmocka_unit_test(test_gone_removes),
        cmocka_unit_test(test_subscribe_after_room), cmocka_unit_test(test_outage_restart),
        cmocka_unit_test(test_missed_call),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
