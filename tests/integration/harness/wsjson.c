/* SPDX-License-Identifier: MIT */
/* wsjson.c -- JSON request/reply helpers for integration tests. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wsjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static th_server_t *bound;
static long next_id = 100;

void th_json_bind(th_server_t *s)
{
    bound = s;
}

long th_next_id(void)
{
    return next_id++;
}

json_t *th_json_parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (j == NULL)
        fail_msg("bad JSON from server: %s (%s)", e.text, text);
    return j;
}

json_t *th_call(int fd, const char *fmt, ...)
{
    static char body[200000], frame[200100];
    static char buf[4 << 20];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    long id = th_next_id();
    snprintf(frame, sizeof frame, "{\"id\":%ld,%s}", id, body);
    long n = th_ws_request(fd, id, frame, buf, sizeof buf);
    assert_true(n > 0);
    return th_json_parse(buf);
}

void th_expect_ok(json_t *r)
{
    if (!json_is_true(json_object_get(r, "ok")))
        fail_msg("expected ok reply, got %s", json_dumps(r, 0));
}

void th_expect_err(json_t *r, const char *code)
{
    json_t *e = json_object_get(r, "error");
    const char *got = json_string_value(json_object_get(e, "code"));
    if (json_is_true(json_object_get(r, "ok")) || got == NULL || strcmp(got, code) != 0)
        fail_msg("expected error %s, got %s", code, json_dumps(r, 0));
    assert_non_null(json_string_value(json_object_get(e, "message")));
    json_decref(r);
}

void th_new_user(th_user_t *u, const char *prefix)
{
    th_unique_name(prefix, u->name, sizeof u->name);
    th_register(bound->port, u->name, "correct horse", u->token, u->id);
}

int th_ws_login(const th_user_t *u)
{
    int fd = th_ws_connect(bound->port, "/v1/ws");
    json_t *r = th_call(fd, "\"op\":\"auth\",\"token\":\"%s\"", u->token);
    th_expect_ok(r);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "user"), "id")),
                        u->id);
    json_decref(r);
    return fd;
}

json_t *th_next_event(int fd, const char *name)
{
    static char buf[1 << 20];
    for (int i = 0; i < 100; i++) {
        if (th_ws_recv_text(fd, buf, sizeof buf, 5000) < 0)
            fail_msg("no %s event", name);
        json_t *j = th_json_parse(buf);
        const char *ev = json_string_value(json_object_get(j, "ev"));
        if (ev && !strcmp(ev, name))
            return j;
        json_decref(j);
    }
    fail_msg("no %s event after 100 frames", name);
    return NULL;
}

bool th_quiet(int fd, int ms)
{
    char buf[4096];
    return th_ws_recv_text(fd, buf, sizeof buf, ms) < 0;
}

char *th_room_create(int fd, const char *kind, const char *members_json, const char *name)
{
    json_t *r =
        th_call(fd, "\"op\":\"create_room\",\"kind\":\"%s\",\"members\":%s%s%s%s", kind,
                members_json, name ? ",\"name\":\"" : "", name ? name : "", name ? "\"" : "");
    th_expect_ok(r);
    char *id = strdup(json_string_value(json_object_get(json_object_get(r, "room"), "id")));
    json_decref(r);
    return id;
}

json_int_t th_jint(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

const char *th_jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

json_int_t th_stat(const char *key)
{
    char body[4096];
    assert_int_equal(200, th_http(bound->port, "GET", "/v1/stats", NULL, NULL, body, sizeof body));
    json_t *j = th_json_parse(body);
    json_int_t v = th_jint(j, key);
    json_decref(j);
    return v;
}
