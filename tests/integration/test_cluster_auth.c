/* SPDX-License-Identifier: MIT */
/* test_cluster_auth.c -- login state shared by two nodes (issues 12, 13):
 * the password step of an MFA login on node A and its second step on node
 * B; a replayed ticket refused on both; wrong codes spread over both nodes
 * spend a ticket after PL_MFA_TICKET_TRIES in total; two second steps sent
 * at once to the two nodes redeem one ticket once; totp/setup on A and
 * totp/enable on B; a passkey registered with options from A and finished
 * on B, and a passkey login with options from B and the assertion on A; a
 * password brute force alternating between the nodes held to the
 * configured count in total (not twice it); forged and oversized tickets
 * and challenges; an option flood from one address capped over both nodes;
 * and Redis down: logins fail closed (503), never unlimited.
 *
 * Two parleyd nodes on one SQLite data directory (or, under the `pg`
 * label, one PostgreSQL database) and a redis-server, all started here and
 * stopped by PID. Skipped without redis-server. The software authenticator
 * is test_passkey.c's (Ed25519, "none" attestation). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <liboath/oath.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster_fx.h"
#include "harness.h"
#include "webauthn_soft.h"

#define ORIGIN "http://localhost:8080"
#define PW "correct horse battery"
#define FAILS_PER_ACCOUNT_IP 5 /* login_failures_per_account_ip_hour of both nodes */
#define CHALLENGES_PER_IP 8    /* webauthn_challenges_per_ip of both nodes */
#define TICKET_TRIES 3         /* PL_MFA_TICKET_TRIES */

static char tmpdir[256];
static th_proc_t redis;
static th_server_t na, nb;

static const char *const *node_settings(const char *node_id)
{
    static char r[2][64], n[2][64];
    int i = node_id[0] == 'a' ? 0 : 1;
    snprintf(r[i], sizeof r[i], "redis=127.0.0.1:%d", redis.port);
    snprintf(n[i], sizeof n[i], "node_id=%s", node_id);
    static const char *s[2][16];
    s[i][0] = r[i];
    s[i][1] = n[i];
    s[i][2] = "webauthn_rp_id=localhost";
    s[i][3] = "webauthn_origins=" ORIGIN;
    s[i][4] = "webauthn_challenges_per_ip=8" /* CHALLENGES_PER_IP */;
    s[i][5] = "login_failures_per_account_ip_hour=5" /* FAILS_PER_ACCOUNT_IP */;
    s[i][6] = "login_failures_per_account_hour=1000";
    s[i][7] = "login_failures_per_ip_hour=1000";
    s[i][8] = "login_per_ip_min=1000";
    s[i][9] = "login_backoff_free_failures=1000";
    s[i][10] = "redis_reconnect_max_ms=400";
    s[i][11] = "totp_secret_key=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    s[i][12] = "log_level=debug";
    s[i][13] = NULL;
    return s[i];
}

static void node_start(th_server_t *n, const char *node_id)
{
    if (n == &na) {
        th_server_start(n, node_settings(node_id));
    } else {
        memset(n, 0, sizeof *n);
        snprintf(n->data_dir, sizeof n->data_dir, "%s", na.data_dir);
        snprintf(n->log_path, sizeof n->log_path, "%s/parleyd-%s.log", tmpdir, node_id);
        snprintf(n->pg_conninfo, sizeof n->pg_conninfo, "%s", na.pg_conninfo);
        n->pg_shared = na.pg_conninfo[0] != '\0';
        th_server_restart(n, node_settings(node_id));
    }
    th_wait_ready(n->port, 200);
}

static int setup(void **state)
{
    (void)state;
    if (!th_have("redis-server"))
        return 0; /* each test skips */
    char t[] = "/tmp/parley-it-XXXXXX";
    assert_non_null(mkdtemp(t));
    snprintf(tmpdir, sizeof tmpdir, "%s", t);
    redis.port = th_free_port();
    th_redis_start(&redis, tmpdir);
    node_start(&na, "a");
    node_start(&nb, "b");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (tmpdir[0] == '\0')
        return 0;
    if (na.pid > 0)
        th_server_stop(&na);
    if (nb.pid > 0)
        th_server_stop(&nb);
    if (redis.pid > 0)
        th_proc_kill(&redis, SIGTERM);
    th_server_cleanup(&na);
    if (!getenv("PARLEY_KEEP_LOGS")) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    return 0;
}

#define NEED_CLUSTER()                                                                             \
    do {                                                                                           \
        if (tmpdir[0] == '\0')                                                                     \
            skip();                                                                                \
    } while (0)

/* ---- HTTP ---- */

typedef struct {
    int status;
    char text[65536];
    json_t *json;
} resp_t;

/* Sends a request (Connection: close) and returns the socket. */
static int req_send(int port, const char *method, const char *path, const char *token,
                    const char *body)
{
    char head[2048];
    int n = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n",
                     method, path);
    if (token)
        n += snprintf(head + n, sizeof head - (size_t)n, "Authorization: Bearer %s\r\n", token);
    if (body)
        n += snprintf(head + n, sizeof head - (size_t)n,
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n", strlen(body));
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    int fd = th_connect(port);
    th_send_all(fd, head, (size_t)n);
    if (body)
        th_send_all(fd, body, strlen(body));
    return fd;
}

static int req_finish(int fd, resp_t *r)
{
    size_t got = th_recv_until_close(fd, r->text, sizeof r->text, 60000);
    th_close(fd);
    r->status = -1;
    if (got >= 12)
        sscanf(r->text, "HTTP/1.%*d %d", &r->status);
    json_decref(r->json);
    const char *b = strstr(r->text, "\r\n\r\n");
    r->json = b ? json_loads(b + 4, 0, NULL) : NULL;
    return r->status;
}

static int post(th_server_t *s, const char *path, const char *token, const char *body, resp_t *r)
{
    return req_finish(req_send(s->port, "POST", path, token, body), r);
}

static const char *jstr(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    if (v == NULL)
        fail_msg("no string %s", key);
    return v;
}

static const char *err_code(resp_t *r)
{
    const char *c = json_string_value(json_object_get(json_object_get(r->json, "error"), "code"));
    return c ? c : "";
}

static json_int_t stat_of(th_server_t *s, const char *key)
{
    char body[16384];
    assert_int_equal(200, th_http(s->port, "GET", "/v1/stats", NULL, NULL, body, sizeof body));
    json_t *o = json_loads(body, 0, NULL);
    json_int_t n = json_integer_value(json_object_get(o, key));
    json_decref(o);
    return n;
}

static void totp_at(const char *b32, int offset, char out[7])
{
    char *raw = NULL;
    size_t len = 0;
    assert_int_equal(OATH_OK, oath_base32_decode(b32, strlen(b32), &raw, &len));
    assert_int_equal(OATH_OK, oath_totp_generate(raw, len, time(NULL) + offset, 30, 0, 6, out));
    free(raw);
}

/* A new user on node s; token out. */
static void new_user(th_server_t *s, const char *prefix, char user[40], char token[128])
{
    th_unique_name(prefix, user, 40);
    th_register(s->port, user, PW, token, NULL);
}

/* totp/setup on A, totp/enable on B: the pending secret crosses nodes. */
static void enable_totp_across(const char *token, char secret[64], char codes[10][32])
{
    resp_t r = {0};
    assert_int_equal(200, post(&na, "/v1/account/totp/setup", token, NULL, &r));
    snprintf(secret, 64, "%s", jstr(r.json, "secret"));
    char body[128], code[7];
    assert_int_equal(400,
                     post(&nb, "/v1/account/totp/enable", token, "{\"code\":\"0000000\"}", &r));
    totp_at(secret, 0, code);
    snprintf(body, sizeof body, "{\"code\":\"%s\"}", code);
    assert_int_equal(200, post(&nb, "/v1/account/totp/enable", token, body, &r));
    json_t *a = json_object_get(r.json, "recovery_codes");
    assert_int_equal(10, json_array_size(a));
    for (size_t i = 0; i < 10; i++)
        snprintf(codes[i], 32, "%s", json_string_value(json_array_get(a, i)));
    /* The setup was spent by the enable: a second enable finds none. */
    assert_int_equal(409, post(&na, "/v1/account/totp/enable", token, body, &r));
    json_decref(r.json);
}

/* The password step on s: 401 mfa_required; the ticket out. */
static void password_step(th_server_t *s, const char *user, char ticket[128])
{
    resp_t r = {0};
    char body[256];
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"%s\"}", user, PW);
    assert_int_equal(401, post(s, "/v1/login", NULL, body, &r));
    assert_string_equal("mfa_required", err_code(&r));
    snprintf(ticket, 128, "%s", jstr(json_object_get(r.json, "error"), "mfa_ticket"));
    json_decref(r.json);
}

/* ---- tests: MFA tickets and TOTP setups ---- */

static void test_mfa_across_nodes(void **state)
{
    (void)state;
    NEED_CLUSTER();
    char user[40], tok[128], secret[64], codes[10][32], ticket[128], body[512], code[7];
    new_user(&na, "cmfa", user, tok);
    enable_totp_across(tok, secret, codes);
    resp_t r = {0};
    /* Password on A, TOTP on B. */
    password_step(&na, user, ticket);
    totp_at(secret, 30, code);
    snprintf(body, sizeof body, "{\"mfa_ticket\":\"%s\",\"totp\":\"%s\",\"device_name\":\"b\"}",
             ticket, code);
    assert_int_equal(200, post(&nb, "/v1/login/mfa", NULL, body, &r));
    assert_non_null(json_object_get(r.json, "token"));
    /* The ticket is spent for both nodes (a recovery code, so the TOTP
     * step's own single use is not what refuses it). */
    snprintf(body, sizeof body, "{\"mfa_ticket\":\"%s\",\"recovery_code\":\"%s\"}", ticket,
             codes[0]);
    assert_int_equal(401, post(&na, "/v1/login/mfa", NULL, body, &r));
    assert_string_equal("invalid_mfa_ticket", err_code(&r));
    assert_int_equal(401, post(&nb, "/v1/login/mfa", NULL, body, &r));
    assert_string_equal("invalid_mfa_ticket", err_code(&r));
    /* Wrong factors spread over both nodes spend a ticket at the
     * TICKET_TRIES-th in total. */
    password_step(&nb, user, ticket);
    snprintf(body, sizeof body, "{\"mfa_ticket\":\"%s\",\"recovery_code\":\"aaaa-aaaa-aaaa\"}",
             ticket);
    for (int i = 0; i < TICKET_TRIES; i++) {
        assert_int_equal(401, post(i % 2 ? &na : &nb, "/v1/login/mfa", NULL, body, &r));
        assert_string_equal("bad_second_factor", err_code(&r));
    }
    snprintf(body, sizeof body, "{\"mfa_ticket\":\"%s\",\"recovery_code\":\"%s\"}", ticket,
             codes[1]);
    assert_int_equal(401, post(&na, "/v1/login/mfa", NULL, body, &r));
    assert_string_equal("invalid_mfa_ticket", err_code(&r));
    assert_int_equal(401, post(&nb, "/v1/login/mfa", NULL, body, &r));
    assert_string_equal("invalid_mfa_ticket", err_code(&r));
    /* Two second steps at once, one to each node, with two different
     * valid recovery codes: the claim lets one through. */
    for (int round = 0; round < 3; round++) {
        password_step(round % 2 ? &nb : &na, user, ticket);
        char b1[512], b2[512];
        snprintf(b1, sizeof b1, "{\"mfa_ticket\":\"%s\",\"recovery_code\":\"%s\"}", ticket,
                 codes[2 + 2 * round]);
        snprintf(b2, sizeof b2, "{\"mfa_ticket\":\"%s\",\"recovery_code\":\"%s\"}", ticket,
                 codes[3 + 2 * round]);
        int fa = req_send(na.port, "POST", "/v1/login/mfa", NULL, b1);
        int fb = req_send(nb.port, "POST", "/v1/login/mfa", NULL, b2);
        resp_t ra = {0}, rb = {0};
        int sa = req_finish(fa, &ra), sb = req_finish(fb, &rb);
        assert_int_equal(1, (sa == 200) + (sb == 200));
        resp_t *loser = sa == 200 ? &rb : &ra;
        assert_int_equal(401, loser->status);
        assert_string_equal("invalid_mfa_ticket", err_code(loser));
        json_decref(ra.json);
        json_decref(rb.json);
    }
    json_decref(r.json);
}

/* ---- tests: WebAuthn challenges ---- */

/* The software authenticator: harness/webauthn_soft.h. */

static void test_passkey_across_nodes(void **state)
{
    (void)state;
    NEED_CLUSTER();
    char user[40], tok[128];
    new_user(&na, "cpk", user, tok);
    th_authn_t a;
    th_authn_new(&a);
    resp_t r = {0};
    /* Registration: options from A, finish on B. */
    char ch[128];
    assert_int_equal(200, post(&na, "/v1/passkeys/register/options", tok, "{}", &r));
    snprintf(ch, sizeof ch, "%s", jstr(r.json, "challenge"));
    char *body = th_authn_registration(&a, ch, ORIGIN);
    assert_int_equal(201, post(&nb, "/v1/passkeys/register", tok, body, &r));
    /* The challenge was single use over both nodes. */
    assert_int_equal(400, post(&na, "/v1/passkeys/register", tok, body, &r));
    assert_string_equal("bad_challenge", err_code(&r));
    free(body);
    /* Passwordless login: options from B, the assertion on A. */
    assert_int_equal(200, post(&nb, "/v1/passkeys/login/options", NULL, "{}", &r));
    snprintf(ch, sizeof ch, "%s", jstr(r.json, "challenge"));
    body = th_authn_assertion(&a, ch, ORIGIN, 1);
    assert_int_equal(200, post(&na, "/v1/passkeys/login", NULL, body, &r));
    assert_non_null(json_object_get(r.json, "token"));
    /* A replay on the other node: the challenge is gone. */
    assert_int_equal(400, post(&nb, "/v1/passkeys/login", NULL, body, &r));
    assert_string_equal("bad_challenge", err_code(&r));
    free(body);
    /* A login challenge does not answer a registration. */
    assert_int_equal(200, post(&na, "/v1/passkeys/login/options", NULL, "{}", &r));
    snprintf(ch, sizeof ch, "%s", jstr(r.json, "challenge"));
    th_authn_t b;
    th_authn_new(&b);
    body = th_authn_registration(&b, ch, ORIGIN);
    assert_int_equal(400, post(&nb, "/v1/passkeys/register", tok, body, &r));
    assert_string_equal("bad_challenge", err_code(&r));
    free(body);
    /* ... and stays outstanding for a login (counter 2). */
    body = th_authn_assertion(&a, ch, ORIGIN, 2);
    assert_int_equal(200, post(&nb, "/v1/passkeys/login", NULL, body, &r));
    free(body);
    /* The passkey as a second factor: password on B, assertion on A. */
    char ticket[128];
    password_step(&nb, user, ticket);
    assert_int_equal(200, post(&nb, "/v1/passkeys/login/options", NULL, "{}", &r));
    snprintf(ch, sizeof ch, "%s", jstr(r.json, "challenge"));
    char *text = th_authn_assertion(&a, ch, ORIGIN, 3);
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    json_t *mb =
        json_pack("{s:s,s:O}", "mfa_ticket", ticket, "passkey", json_object_get(j, "credential"));
    json_decref(j);
    text = json_dumps(mb, JSON_COMPACT);
    json_decref(mb);
    assert_int_equal(200, post(&na, "/v1/login/mfa", NULL, text, &r));
    free(text);
    json_decref(r.json);
}

/* ---- tests: limits ---- */

static void test_brute_force_two_nodes(void **state)
{
    (void)state;
    NEED_CLUSTER();
    char user[40], tok[128], body[256];
    new_user(&na, "cbf", user, tok);
    json_int_t v0 = stat_of(&na, "password_verifications") + stat_of(&nb, "password_verifications");
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"guess guess\"}", user);
    resp_t r = {0};
    int n401 = 0, n429 = 0;
    for (int i = 0; i < 4 * FAILS_PER_ACCOUNT_IP; i++) {
        int st = post(i % 2 ? &nb : &na, "/v1/login", NULL, body, &r);
        assert_true(st == 401 || st == 429);
        if (st == 429) {
            assert_non_null(strstr(r.text, "\r\nRetry-After: "));
            n429++;
        }
        n401 += st == 401;
    }
    json_int_t v1 = stat_of(&na, "password_verifications") + stat_of(&nb, "password_verifications");
    printf("brute force over two nodes: %d of %d guesses reached Argon2id (limit %d)\n", n401,
           4 * FAILS_PER_ACCOUNT_IP, FAILS_PER_ACCOUNT_IP);
    assert_true(n401 >= 1);
    assert_true(n401 <= FAILS_PER_ACCOUNT_IP); /* per node it would be twice that */
    assert_int_equal(n401, v1 - v0);
    assert_true(n429 >= 4 * FAILS_PER_ACCOUNT_IP - FAILS_PER_ACCOUNT_IP);
    json_decref(r.json);
}

/* ---- tests: hostile input ---- */

static void test_forged_and_flood(void **state)
{
    (void)state;
    NEED_CLUSTER();
    resp_t r = {0};
    char body[1024];
    /* Forged tickets: well-formed but never issued, strange, oversized. */
    char big[300];
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    const char *forged[] = {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "../../pl:a:mt",
                            "*3\\r\\n$3\\r\\nDEL", "\\u00e9t\\u00e9"};
    for (size_t i = 0; i < sizeof forged / sizeof *forged; i++) {
        snprintf(body, sizeof body, "{\"mfa_ticket\":\"%s\",\"totp\":\"123456\"}", forged[i]);
        for (int n = 0; n < 2; n++) {
            assert_int_equal(401, post(n ? &nb : &na, "/v1/login/mfa", NULL, body, &r));
            assert_string_equal("invalid_mfa_ticket", err_code(&r));
        }
    }
    snprintf(body, sizeof body, "{\"mfa_ticket\":\"%s\",\"totp\":\"123456\"}", big);
    assert_int_equal(400, post(&nb, "/v1/login/mfa", NULL, body, &r));
    /* Forged challenges in a passkey login: refused on both nodes. */
    th_authn_t a;
    th_authn_new(&a);
    char *text = th_authn_assertion(&a, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", ORIGIN, 1);
    assert_int_equal(400, post(&na, "/v1/passkeys/login", NULL, text, &r));
    assert_string_equal("bad_challenge", err_code(&r));
    free(text);
    text = th_authn_assertion(&a, big, ORIGIN, 1);
    int st = post(&nb, "/v1/passkeys/login", NULL, text, &r);
    assert_true(st == 400 || st == 413);
    free(text);
    /* An option flood from one address: CHALLENGES_PER_IP outstanding
     * over both nodes, then 429 on either. */
    int ok = 0, limited = 0;
    for (int i = 0; i < 2 * CHALLENGES_PER_IP; i++) {
        st = post(i % 2 ? &nb : &na, "/v1/passkeys/login/options", NULL, "{}", &r);
        assert_true(st == 200 || st == 429);
        ok += st == 200;
        limited += st == 429;
    }
    /* Earlier tests of this suite hold some of the address's challenges. */
    assert_true(ok <= CHALLENGES_PER_IP);
    assert_true(limited >= CHALLENGES_PER_IP);
    /* Both nodes still serve. */
    th_wait_ready(na.port, 200);
    th_wait_ready(nb.port, 200);
    json_decref(r.json);
}

/* Redis down: logins fail closed with 503 (no limit skipped, no ticket
 * trusted) on both nodes; Redis back: they work again. Last: it stops
 * Redis. */
static void test_redis_down_fails_closed(void **state)
{
    (void)state;
    NEED_CLUSTER();
    char user[40], tok[128], body[256];
    new_user(&na, "cdown", user, tok);
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"%s\"}", user, PW);
    resp_t r = {0};
    assert_int_equal(200, post(&nb, "/v1/login", NULL, body, &r));
    int port = redis.port;
    th_proc_kill(&redis, SIGTERM);
    for (int n = 0; n < 2; n++) {
        assert_int_equal(503, post(n ? &nb : &na, "/v1/login", NULL, body, &r));
        assert_string_equal("unavailable", err_code(&r));
        assert_non_null(strstr(r.text, "\r\nRetry-After: "));
        assert_int_equal(503, post(n ? &nb : &na, "/v1/passkeys/login/options", NULL, "{}", &r));
    }
    redis.port = port;
    th_redis_start(&redis, tmpdir);
    /* Poll (generous deadline) until both nodes reconnected. */
    for (int n = 0; n < 2; n++) {
        int64_t deadline = th_now_ms() + 30000;
        int st;
        while ((st = post(n ? &nb : &na, "/v1/login", NULL, body, &r)) == 503 &&
               th_now_ms() < deadline)
            usleep(50 * 1000);
        assert_int_equal(200, st);
    }
    json_decref(r.json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mfa_across_nodes),        cmocka_unit_test(test_passkey_across_nodes),
        cmocka_unit_test(test_brute_force_two_nodes),   cmocka_unit_test(test_forged_and_flood),
        cmocka_unit_test(test_redis_down_fails_closed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
