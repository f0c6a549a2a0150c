/* SPDX-License-Identifier: MIT */
/* wsjson.h -- JSON request/reply helpers over the harness's raw WebSocket
 * client, shared by the protocol-level integration tests. They act on the
 * server given to th_json_bind() and abort the test (cmocka) on surprises. */
#ifndef PL_TEST_WSJSON_H
#define PL_TEST_WSJSON_H

#include <jansson.h>
#include <stdbool.h>

#include "harness.h"

/** Server the helpers talk to (borrowed; must outlive the test group). */
void th_json_bind(th_server_t *s);

/** A fresh request id (for tests that build frames themselves). */
long th_next_id(void);

/** Parses server JSON or fails the test. Returns an owned reference. */
json_t *th_json_parse(const char *text);
/** Sends {"id":<fresh>,<fields>} where fields come from fmt (no "id"), waits
 * for its reply (skipping events) and returns it (owned). */
json_t *th_call(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Fails unless r is an ok reply (r is not released). */
void th_expect_ok(json_t *r);
/** Fails unless r is an error reply with code and a message; releases r. */
void th_expect_err(json_t *r, const char *code);

typedef struct {
    char name[40];
    char token[160];
    char id[32];
} th_user_t;

/** Registers a fresh user whose name starts with prefix. */
void th_new_user(th_user_t *u, const char *prefix);
/** Opens /v1/ws and authenticates as u; returns the fd. */
int th_ws_login(const th_user_t *u);
/** Next event named name (other frames are skipped); owned. */
json_t *th_next_event(int fd, const char *name);
/** True if no text frame arrives within ms. */
bool th_quiet(int fd, int ms);
/** create_room; returns the room id (free()). name may be NULL. */
char *th_room_create(int fd, const char *kind, const char *members_json, const char *name);

json_int_t th_jint(json_t *o, const char *k);
/** One counter of the bound server's GET /v1/stats. */
json_int_t th_stat(const char *key);
const char *th_jstr(json_t *o, const char *k);

#endif
