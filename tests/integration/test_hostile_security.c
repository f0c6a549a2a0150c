/* SPDX-License-Identifier: MIT */
/* test_hostile_security.c -- what the other hostile suites leave out
 * (issue 12): secrets never reach the log (session, stats and media tokens,
 * passwords; TOTP secrets and otpauth URIs, recovery codes, MFA tickets,
 * password-reset tokens and links, invite codes, passkey challenges: each
 * made during the test, then searched for in the whole server log at
 * log_level trace, and in the operator commands' own stderr), every op
 * before auth is refused,
 * a stranger learns nothing from the message-level ops, a token is dead
 * everywhere after logout (its open WebSocket included), CR/LF cannot be
 * injected into response headers, request smuggling is refused and the
 * connection closed, and every oversized input gets its documented error.
 * After each attack the server still answers /healthz.
 *
 * Already covered elsewhere, so not repeated here: headers over
 * max_http_header_bytes, bodies over max_http_body_bytes and two
 * Content-Length (test_http.c), bad chunk data of uploads (test_media.c),
 * history/join/invite/... by a stranger (test_hostile_rooms.c), WebSocket
 * messages over the limits (test_protocol.c, test_hostile_net.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <liboath/oath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "wsjson.h"

#define STATS_TOKEN "st4t5-t0ken-n0t-in-l0gs-7d1e9a"
#define PASSWORD "pa55word-n0t-in-l0gs"

static th_server_t srv;
static const char *const settings[] = {"log_level=trace", "stats_token=" STATS_TOKEN,
                                       "rate_limit_per_sec=100000", "rate_limit_ip_per_sec=100000",
                                       NULL};

static void assert_healthy(void)
{
    char body[256];
    assert_int_equal(200, th_http(srv.port, "GET", "/healthz", NULL, NULL, body, sizeof body));
}

/* Sends raw bytes and reads one response; returns its status (head and
 * body copied). */
static int raw_request(const char *req, size_t len, char *head, size_t hcap, char *body,
                       size_t bcap, int *fd_out)
{
    int fd = th_connect(srv.port);
    th_send_all(fd, req, len);
    int st = th_read_response(fd, head, hcap, body, bcap);
    if (fd_out != NULL)
        *fd_out = fd;
    else
        close(fd);
    return st;
}

/* The file's whole content (NUL-terminated; free()). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    assert_non_null(p);
    p[fread(p, 1, (size_t)n, f)] = '\0';
    fclose(f);
    return p;
}

/* One POST /v1/media with a bearer token; returns the status. */
static int upload(const char *token, const char *query, const char *data, char *body, size_t bcap)
{
    char req[2048];
    int n = snprintf(req, sizeof req,
                     "POST /v1/media%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     query, token, strlen(data), data);
    char head[4096];
    return raw_request(req, (size_t)n, head, sizeof head, body, bcap, NULL);
}

/* ---- 1: secrets never reach the log ---- */

static void test_tokens_not_logged(void **state)
{
    (void)state;
    char name[40], json[256], body[4096], token[160], token2[160];
    th_unique_name("tk", name, sizeof name);
    snprintf(json, sizeof json, "{\"username\":\"%s\",\"password\":\"" PASSWORD "\"}", name);
    assert_int_equal(201, th_http(srv.port, "POST", "/v1/register", NULL, json, body, sizeof body));
    json_t *r = th_json_parse(body);
    snprintf(token, sizeof token, "%s", th_jstr(r, "token"));
    json_decref(r);
    assert_int_equal(200, th_http(srv.port, "POST", "/v1/login", NULL, json, body, sizeof body));
    r = th_json_parse(body);
    snprintf(token2, sizeof token2, "%s", th_jstr(r, "token"));
    json_decref(r);
    /* A wrong password, then the right one with a typo'd user. */
    char bad[256];
    snprintf(bad, sizeof bad, "{\"username\":\"%s\",\"password\":\"" PASSWORD "x\"}", name);
    assert_int_equal(401, th_http(srv.port, "POST", "/v1/login", NULL, bad, body, sizeof body));

    /* WebSocket: a bad token, then the real one, a request with the token
     * in it, and the token in the upgrade's query string. */
    const char *bogus = "b0gus-t0ken-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    int fd = th_ws_connect(srv.port, "/v1/ws");
    th_expect_err(th_call(fd, "\"op\":\"auth\",\"token\":\"%s\"", bogus), "unauthenticated");
    json_t *ok = th_call(fd, "\"op\":\"auth\",\"token\":\"%s\"", token2);
    th_expect_ok(ok);
    json_decref(ok);
    th_expect_err(th_call(fd, "\"op\":\"auth\",\"token\":\"%s\"", token2), "bad_request");
    close(fd);
    char path[400];
    snprintf(path, sizeof path, "/v1/ws?token=%s&access_token=%s", token2, token2);
    fd = th_ws_connect(srv.port, path);
    close(fd);

    /* Media with the bearer token, a bad bearer token, the token in a
     * query string. */
    assert_int_equal(201, upload(token2, "?name=a.txt", "some text", body, sizeof body));
    r = th_json_parse(body);
    char mpath[400];
    snprintf(mpath, sizeof mpath, "/v1/media/%s?token=%s", th_jstr(r, "id"), token2);
    json_decref(r);
    assert_int_equal(401, upload(bogus, "", "x", body, sizeof body));
    char tmp[4096];
    th_http(srv.port, "GET", mpath, token2, NULL, tmp, sizeof tmp);
    th_http(srv.port, "GET", mpath, bogus, NULL, tmp, sizeof tmp);

    /* /v1/stats with its token, and with a wrong one. */
    assert_int_equal(200,
                     th_http(srv.port, "GET", "/v1/stats", STATS_TOKEN, NULL, tmp, sizeof tmp));
    th_http(srv.port, "GET", "/v1/stats", STATS_TOKEN "x", NULL, tmp, sizeof tmp);

    /* Logout, then the dead token everywhere. */
    assert_int_equal(200, th_http(srv.port, "POST", "/v1/logout", token, NULL, body, sizeof body));
    assert_int_equal(401, th_http(srv.port, "POST", "/v1/logout", token, NULL, body, sizeof body));
    fd = th_ws_connect(srv.port, "/v1/ws");
    th_expect_err(th_call(fd, "\"op\":\"auth\",\"token\":\"%s\"", token), "unauthenticated");
    close(fd);
    assert_healthy();
    usleep(200 * 1000); /* the last log lines */

    char *log = slurp(srv.log_path);
    assert_non_null(strstr(log, "DEBUG")); /* debug (and trace) logging really was on */
    assert_non_null(strstr(log, "logout"));
    /* The scan sees request data: the failed login names the user. */
    assert_non_null(strstr(log, name));
    free(log);
    const char *secrets[] = {token, token2, bogus, STATS_TOKEN, PASSWORD};
    th_assert_not_in_file(srv.log_path, secrets, sizeof secrets / sizeof *secrets);
}

/* ---- 1b: account secrets never reach the log ---- */

#define ACCT_PW "acc0unt-pa55-n0t-in-l0gs"
#define ACCT_PW2 "an0ther-pa55-n0t-in-l0gs"
#define ACCT_PW3 "th1rd-pa55-n0t-in-l0gs"
#define ORIGIN "http://localhost:8080"

/* The TOTP code of a base32 secret at now + offset seconds (liboath, the
 * server's own library). */
static void totp_at(const char *b32, int offset, char out[7])
{
    char *raw = NULL;
    size_t len = 0;
    assert_int_equal(OATH_OK, oath_base32_decode(b32, strlen(b32), &raw, &len));
    assert_int_equal(OATH_OK, oath_totp_generate(raw, len, time(NULL) + offset, 30, 0, 6, out));
    free(raw);
}

/* Runs `parleyd --data DIR --log-level trace ARGS` beside the running s and
 * returns its first stdout line (the secret it prints); its stderr (the log
 * of the command) goes to errpath. */
static void operator_cmd(const th_server_t *s, const char *args, const char *errpath, char *out,
                         size_t cap)
{
    char cmd[2048], store[700] = "";
    if (s->pg_conninfo[0] != '\0')
        snprintf(store, sizeof store, " --set store=postgres --set 'pg_conninfo=%s'",
                 s->pg_conninfo);
    snprintf(cmd, sizeof cmd, "'%s' --data '%s'%s --log-level trace %s 2>'%s'", getenv("PARLEYD"),
             s->data_dir, store, args, errpath);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(out, (int)cap, p));
    assert_int_equal(0, pclose(p));
    out[strcspn(out, "\n")] = '\0';
}

/* POST path (token optional) on s; the reply parsed (decref it). */
static json_t *post_json(const th_server_t *s, const char *path, const char *token,
                         const char *body, int want)
{
    static char reply[65536];
    int st = th_http(s->port, "POST", path, token, body, reply, sizeof reply);
    if (st != want)
        fail_msg("POST %s: %d, wanted %d: %s", path, st, want, reply);
    return th_json_parse(reply);
}

/* The mfa_ticket of a password login that needs a second factor. */
static void mfa_ticket(const th_server_t *s, const char *user, const char *pw, char out[256])
{
    char body[512];
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"%s\"}", user, pw);
    json_t *r = post_json(s, "/v1/login", NULL, body, 401);
    snprintf(out, 256, "%s", th_jstr(json_object_get(r, "error"), "mfa_ticket"));
    json_decref(r);
}

static void test_account_secrets_not_logged(void **state)
{
    (void)state;
    th_server_t s;
    const char *set[] = {"log_level=trace",
                         "registration=invite",
                         "public_url=https://chat.example.org/",
                         "webauthn_rp_id=localhost",
                         "webauthn_origins=" ORIGIN,
                         "rate_limit_per_sec=100000",
                         "rate_limit_ip_per_sec=100000",
                         NULL};
    th_server_start(&s, set);
    char errlog[600], user[40], body[1024], buf[512];
    snprintf(errlog, sizeof errlog, "%s/operator.log", s.data_dir);
    th_unique_name("sl", user, sizeof user);

    /* An invite code (operator command), a wrong one, then the right one. */
    char invite[256], t1[160];
    operator_cmd(&s, "--invite-code", errlog, invite, sizeof invite);
    th_assert_not_in_file(errlog, (const char *const[]){invite}, 1);
    snprintf(body, sizeof body,
             "{\"username\":\"%s\",\"password\":\"" ACCT_PW "\",\"invite_code\":\"%sx\"}", user,
             invite);
    json_decref(post_json(&s, "/v1/register", NULL, body, 403));
    snprintf(body, sizeof body,
             "{\"username\":\"%s\",\"password\":\"" ACCT_PW "\",\"invite_code\":\"%s\"}", user,
             invite);
    json_t *r = post_json(&s, "/v1/register", NULL, body, 201);
    snprintf(t1, sizeof t1, "%s", th_jstr(r, "token"));
    json_decref(r);

    /* TOTP: the setup's secret and otpauth URI, a wrong code, the enable's
     * recovery codes, then a second set (the first is replaced). */
    char secret[128], uri[512], code[7], codes[20][32];
    r = post_json(&s, "/v1/account/totp/setup", t1, NULL, 200);
    snprintf(secret, sizeof secret, "%s", th_jstr(r, "secret"));
    snprintf(uri, sizeof uri, "%s", th_jstr(r, "uri"));
    json_decref(r);
    json_decref(post_json(&s, "/v1/account/totp/enable", t1, "{\"code\":\"000000x\"}", 400));
    totp_at(secret, 0, code);
    snprintf(body, sizeof body, "{\"code\":\"%s\"}", code);
    r = post_json(&s, "/v1/account/totp/enable", t1, body, 200);
    json_t *a = json_object_get(r, "recovery_codes");
    assert_int_equal(10, json_array_size(a));
    for (size_t i = 0; i < 10; i++)
        snprintf(codes[i], sizeof codes[i], "%s", json_string_value(json_array_get(a, i)));
    json_decref(r);
    r = post_json(&s, "/v1/account/recovery_codes", t1, "{\"password\":\"" ACCT_PW "\"}", 200);
    a = json_object_get(r, "recovery_codes");
    assert_int_equal(10, json_array_size(a));
    for (size_t i = 0; i < 10; i++)
        snprintf(codes[10 + i], sizeof codes[i], "%s", json_string_value(json_array_get(a, i)));
    json_decref(r);

    /* MFA tickets: one spent on an old recovery code (refused), one on a
     * current recovery code, one on a TOTP code (the next step's: the
     * enable's own step is used). */
    char tickets[3][256], t2[160], t3[160];
    mfa_ticket(&s, user, ACCT_PW, tickets[0]);
    snprintf(body, sizeof body, "{\"mfa_ticket\":\"%s\",\"recovery_code\":\"%s\"}", tickets[0],
             codes[0]);
    json_decref(post_json(&s, "/v1/login/mfa", NULL, body, 401));
    mfa_ticket(&s, user, ACCT_PW, tickets[1]);
    snprintf(body, sizeof body, "{\"mfa_ticket\":\"%s\",\"recovery_code\":\"%s\"}", tickets[1],
             codes[10]);
    r = post_json(&s, "/v1/login/mfa", NULL, body, 200);
    snprintf(t2, sizeof t2, "%s", th_jstr(r, "token"));
    json_decref(r);
    mfa_ticket(&s, user, ACCT_PW, tickets[2]);
    totp_at(secret, 30, code);
    snprintf(body, sizeof body, "{\"mfa_ticket\":\"%s\",\"totp\":\"%s\"}", tickets[2], code);
    r = post_json(&s, "/v1/login/mfa", NULL, body, 200);
    snprintf(t3, sizeof t3, "%s", th_jstr(r, "token"));
    json_decref(r);

    /* Passkey challenges: registration options (with a session) and login
     * options, each answered with a made-up credential carrying it. */
    char challenges[2][128];
    r = post_json(&s, "/v1/passkeys/register/options", t2, "{}", 200);
    snprintf(challenges[0], sizeof challenges[0], "%s", th_jstr(r, "challenge"));
    json_decref(r);
    r = post_json(&s, "/v1/passkeys/login/options", NULL, "{}", 200);
    snprintf(challenges[1], sizeof challenges[1], "%s", th_jstr(r, "challenge"));
    json_decref(r);
    for (int i = 0; i < 2; i++) {
        /* clientDataJSON carries the challenge as JSON text, base64url'd
         * by the client; here sent raw too, as a hostile client might. */
        snprintf(body, sizeof body,
                 "{\"credential\":{\"id\":\"AAAA\",\"rawId\":\"AAAA\",\"type\":\"public-key\","
                 "\"response\":{\"clientDataJSON\":\"%s\",\"authenticatorData\":\"%s\","
                 "\"signature\":\"AAAA\",\"attestationObject\":\"%s\"}}}",
                 challenges[i], challenges[i], challenges[i]);
        char reply[4096];
        int st = th_http(s.port, "POST", i == 0 ? "/v1/passkeys/register" : "/v1/passkeys/login",
                         i == 0 ? t2 : NULL, body, reply, sizeof reply);
        assert_true(st >= 400 && st < 500);
    }

    /* A password change (old and new password), a reset link (operator
     * command), a wrong reset token, then the right one. */
    snprintf(body, sizeof body,
             "{\"old_password\":\"" ACCT_PW "\",\"new_password\":\"" ACCT_PW2 "\"}");
    json_decref(post_json(&s, "/v1/account/password", t3, body, 200));
    char link[512], reset[256], args[256];
    snprintf(args, sizeof args, "--set public_url=https://chat.example.org/ --reset-link %s", user);
    operator_cmd(&s, args, errlog, link, sizeof link);
    const char *h = strstr(link, "#reset=");
    assert_non_null(h);
    snprintf(reset, sizeof reset, "%s", h + 7);
    th_assert_not_in_file(errlog, (const char *const[]){link, reset}, 2);
    snprintf(body, sizeof body, "{\"token\":\"%sx\",\"new_password\":\"" ACCT_PW3 "\"}", reset);
    json_decref(post_json(&s, "/v1/account/reset", NULL, body, 400));
    snprintf(body, sizeof body, "{\"token\":\"%s\",\"new_password\":\"" ACCT_PW3 "\"}", reset);
    json_decref(post_json(&s, "/v1/account/reset", NULL, body, 200));
    /* The reset revoked every session: t1..t3 are refused, and logged in
     * the refusal path. */
    const char *olds[] = {t1, t2, t3};
    for (int i = 0; i < 3; i++)
        assert_int_equal(401,
                         th_http(s.port, "GET", "/v1/sessions", olds[i], NULL, buf, sizeof buf));

    /* Stopped, so every line is written: then the whole log is scanned. */
    th_server_stop(&s);
    const char *secrets[64] = {invite,        t1,         t2,         t3,         secret,
                               uri,           tickets[0], tickets[1], tickets[2], challenges[0],
                               challenges[1], link,       reset,      ACCT_PW,    ACCT_PW2,
                               ACCT_PW3};
    size_t n = 16;
    for (int i = 0; i < 20; i++)
        secrets[n++] = codes[i];
    /* The log is the verbose one and saw these requests. */
    static const char *const seen[] = {"DEBUG", "totp enabled", "login with second factor",
                                       "password changed", "password reset"};
    for (size_t i = 0; i < sizeof seen / sizeof *seen; i++)
        if (!th_file_has(s.log_path, seen[i]))
            fail_msg("'%s' is not in %s", seen[i], s.log_path);
    th_assert_not_in_file(s.log_path, secrets, n);
    th_server_cleanup(&s);
}

/* ---- 2: every op before auth ---- */

static void test_unauthenticated_every_op(void **state)
{
    (void)state;
    static const char *const ops[] = {
        "create_room",    "join",        "leave",        "invite",        "invites",
        "decline",        "rooms",       "send",         "history",       "sync",
        "read",           "edit",        "delete",       "react",         "typing",
        "delivered",      "receipts",    "thread",       "room_settings", "presence",
        "presence_query", "profile_get", "profile_set",  "settings_get",  "settings_set",
        "search",         "emoji_add",   "emoji_remove", "emoji_list",
    };
    int fd = th_ws_connect(srv.port, "/v1/ws");
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        /* Bare, and with plausible arguments (a real room id of someone). */
        th_expect_err(th_call(fd, "\"op\":\"%s\"", ops[i]), "unauthenticated");
        th_expect_err(th_call(fd, "\"op\":\"%s\",\"room\":\"r1\",\"seq\":1", ops[i]),
                      "unauthenticated");
    }
    /* The connection is still usable: auth works afterwards. */
    th_user_t u;
    th_new_user(&u, "ua");
    json_t *r = th_call(fd, "\"op\":\"auth\",\"token\":\"%s\"", u.token);
    th_expect_ok(r);
    json_decref(r);
    close(fd);
    assert_healthy();
}

/* ---- 3: other users' rooms, message-level ops ---- */

/* The error a stranger gets, as text without the id (the reply must be the
 * same for an existing room and a missing one). */
static char *stranger_reply(int fd, const char *fmt, const char *room)
{
    char req[512];
    snprintf(req, sizeof req, fmt, room);
    json_t *r = th_call(fd, "%s", req);
    json_t *err = json_object_get(r, "error");
    assert_non_null(err);
    char *t = json_dumps(err, JSON_SORT_KEYS);
    json_decref(r);
    return t;
}

static void test_stranger_message_ops(void **state)
{
    (void)state;
    th_user_t a, b, c;
    th_new_user(&a, "sa");
    th_new_user(&b, "sb");
    th_new_user(&c, "sc");
    int fa = th_ws_login(&a), fc = th_ws_login(&c);
    char members[64];
    snprintf(members, sizeof members, "[\"%s\"]", b.name);
    char *room = th_room_create(fa, "group", members, "secret plans");
    json_t *r = th_call(fa,
                        "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"s1\",\"content\":"
                        "{\"type\":\"text\",\"body\":\"the launch code\"}",
                        room);
    th_expect_ok(r);
    json_decref(r);
    static const char *const fmts[] = {
        "\"op\":\"edit\",\"room\":\"%s\",\"seq\":1,\"content\":{\"type\":\"text\",\"body\":\"x\"}",
        "\"op\":\"delete\",\"room\":\"%s\",\"seq\":1",
        "\"op\":\"react\",\"room\":\"%s\",\"seq\":1,\"emoji\":\"\\ud83d\\udc4d\"",
        "\"op\":\"delivered\",\"room\":\"%s\",\"seq\":1",
        "\"op\":\"search\",\"query\":\"launch\",\"room\":\"%s\"",
    };
    for (size_t i = 0; i < sizeof fmts / sizeof *fmts; i++) {
        char *real = stranger_reply(fc, fmts[i], room);
        char *none = stranger_reply(fc, fmts[i], "r999999");
        if (strstr(real, "\"forbidden\"") == NULL || strcmp(real, none) != 0)
            fail_msg("op %zu: existing room %s, missing room %s", i, real, none);
        free(real);
        free(none);
    }
    /* Search without a room finds nothing of it; sync names no such room. */
    r = th_call(fc, "\"op\":\"search\",\"query\":\"launch\"");
    th_expect_ok(r);
    assert_int_equal(0, json_array_size(json_object_get(r, "results")));
    json_decref(r);
    /* Nothing changed for the members. */
    r = th_call(fa, "\"op\":\"history\",\"room\":\"%s\"", room);
    th_expect_ok(r);
    char *t = json_dumps(r, 0);
    assert_non_null(strstr(t, "the launch code"));
    assert_null(strstr(t, "reactions\":[{"));
    free(t);
    json_decref(r);
    free(room);
    close(fa);
    close(fc);
    assert_healthy();
}

/* ---- 4: a token after logout ---- */

static void test_token_replay_after_logout(void **state)
{
    (void)state;
    th_user_t u;
    th_new_user(&u, "lo");
    int fd = th_ws_login(&u);
    char body[4096];
    assert_int_equal(200,
                     th_http(srv.port, "POST", "/v1/logout", u.token, NULL, body, sizeof body));
    /* The open socket of the session is closed (1008, docs/protocol.md). */
    assert_int_equal(1008, th_ws_expect_close(fd, 5000));
    close(fd);
    /* HTTP: 401 on every authenticated endpoint. */
    assert_int_equal(401,
                     th_http(srv.port, "POST", "/v1/logout", u.token, NULL, body, sizeof body));
    th_expect_err(th_json_parse(body), "unauthenticated");
    assert_int_equal(401, upload(u.token, "?name=x.txt", "data", body, sizeof body));
    th_expect_err(th_json_parse(body), "unauthenticated");
    assert_int_equal(401,
                     th_http(srv.port, "GET", "/v1/media/f1", u.token, NULL, body, sizeof body));
    /* WebSocket: refused, and the connection stays open for a retry. */
    fd = th_ws_connect(srv.port, "/v1/ws");
    th_expect_err(th_call(fd, "\"op\":\"auth\",\"token\":\"%s\"", u.token), "unauthenticated");
    th_expect_err(th_call(fd, "\"op\":\"rooms\""), "unauthenticated");
    close(fd);
    assert_healthy();
}

/* ---- 5: header injection ---- */

/* True if a response head has a header line starting with name. */
static bool head_has_line(const char *head, const char *name)
{
    for (const char *p = strstr(head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n"))
        if (strncasecmp(p + 2, name, strlen(name)) == 0)
            return true;
    return false;
}

static void test_header_injection(void **state)
{
    (void)state;
    char head[8192], body[8192];
    /* CR/LF in a request header value: 400 and closed. */
    static const char *const bad[] = {
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: b\rSet-Cookie: evil=1\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: b\nContent-Length: 5\r\n\r\nhello",
        "GET /v1/x?a=\r\nSet-Cookie: evil=1 HTTP/1.1\r\nHost: x\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int fd;
        assert_int_equal(
            400, raw_request(bad[i], strlen(bad[i]), head, sizeof head, body, sizeof body, &fd));
        assert_false(head_has_line(head, "Set-Cookie"));
        assert_true(th_peer_closed(fd, 5000));
        close(fd);
        assert_healthy();
    }
    /* Encoded CR/LF in the path and the query string: never decoded into a
     * header (404 or 400, no injected line). */
    static const char *const enc[] = {
        "GET /v1/nothing?x=%0d%0aSet-Cookie:%20evil=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /v1/%0d%0aSet-Cookie:%20evil=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /%0d%0aSet-Cookie:%20evil=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /v1/media/f1?x=%0d%0aSet-Cookie:%20evil=1 HTTP/1.1\r\nHost: x\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof enc / sizeof *enc; i++) {
        int st = raw_request(enc[i], strlen(enc[i]), head, sizeof head, body, sizeof body, NULL);
        assert_true(st >= 400 && st < 500);
        assert_false(head_has_line(head, "Set-Cookie"));
        assert_null(strstr(head, "evil"));
    }
    /* An upload named with CR/LF, quotes and ';': the download's
     * Content-Disposition holds none of them. */
    th_user_t u;
    th_new_user(&u, "hi");
    assert_int_equal(201, upload(u.token, "?name=evil%0d%0aSet-Cookie:%20x=1%22%3b%5c.txt",
                                 "plain text, served as an attachment", body, sizeof body));
    json_t *r = th_json_parse(body);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET /v1/media/%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                     "Connection: close\r\n\r\n",
                     th_jstr(r, "id"), u.token);
    json_decref(r);
    assert_int_equal(200, raw_request(req, (size_t)n, head, sizeof head, body, sizeof body, NULL));
    assert_false(head_has_line(head, "Set-Cookie"));
    const char *cd = strcasestr(head, "\r\nContent-Disposition: attachment; filename=\"");
    assert_non_null(cd);
    const char *v = cd + strlen("\r\nContent-Disposition: attachment; filename=\"");
    const char *end = strstr(v, "\r\n");
    assert_non_null(end);
    assert_true(end > v && end[-1] == '"');
    for (const char *p = v; p < end - 1; p++)
        assert_true(*p >= 0x20 && *p < 0x7f && *p != '"' && *p != ';' && *p != '\\');
    assert_healthy();
}

/* ---- 6: request smuggling ---- */

static void test_request_smuggling(void **state)
{
    (void)state;
    static const char *const reqs[] = {
        /* Content-Length and Transfer-Encoding together, both orders. */
        "POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /v1/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        "Content-Length: 4\r\nContent-Type: application/json\r\n\r\n0\r\n\r\n",
        /* Two Content-Length that agree are still two. */
        "POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
        "POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 2, 2\r\n\r\n{}",
        "POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: -1\r\n\r\n",
        "POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 99999999999999999999999\r\n\r\n{}",
        /* Chunked with bad chunk sizes. */
        "POST /v1/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: application/json\r\n\r\n-1\r\nx\r\n0\r\n\r\n",
        "POST /v1/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: application/json\r\n\r\nfffffffffffffffffffff\r\nx\r\n0\r\n\r\n",
        "POST /v1/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: application/json\r\n\r\n0x2\r\n{}\r\n0\r\n\r\n",
        "POST /v1/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: application/json\r\n\r\n2\r\n{}xx\r\n0\r\n\r\n",
        /* chunked not last: the length of the body cannot be known. */
        "POST /v1/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n"
        "Content-Type: application/json\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        /* obs-fold, also of Transfer-Encoding itself; a blank before the
         * colon. */
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: b\r\n  folded\r\n\r\n",
        "POST /v1/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n"
        "Content-Type: application/json\r\n\r\n0\r\n\r\n",
        "POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Length : 2\r\n"
        "Content-Type: application/json\r\n\r\n{}",
        "POST /v1/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n"
        "Content-Type: application/json\r\n\r\n0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof reqs / sizeof *reqs; i++) {
        /* A second request right behind: it must never be answered. */
        char req[1024];
        int n = snprintf(req, sizeof req, "%sGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", reqs[i]);
        int fd = th_connect(srv.port);
        th_send_all(fd, req, (size_t)n);
        char head[4096], body[4096];
        int st = th_read_response(fd, head, sizeof head, body, sizeof body);
        if (st != 400 || strstr(body, "\"bad_request\"") == NULL)
            fail_msg("request %zu: status %d body %s", i, st, body);
        if (!th_peer_closed(fd, 5000))
            fail_msg("request %zu: the connection stayed open", i);
        close(fd);
        assert_healthy();
    }
}

/* ---- 7: oversized everything ---- */

static void test_oversized(void **state)
{
    (void)state;
    char head[4096], body[4096];
    /* A URL over max_http_header_bytes (16 KiB): 431 headers_too_large. */
    size_t big = 20000;
    char *req = malloc(big + 64);
    int n = snprintf(req, big + 64, "GET /");
    memset(req + n, 'a', big);
    n += (int)big;
    n += snprintf(req + n, 64, " HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(431, raw_request(req, (size_t)n, head, sizeof head, body, sizeof body, NULL));
    assert_non_null(strstr(body, "\"headers_too_large\""));
    assert_healthy();
    /* Many headers: within the byte cap they are fine (the count is bounded
     * by the bytes), past it 431. */
    for (int count = 200; count <= 4000; count += 3800) {
        char *many = malloc((size_t)count * 16 + 128);
        size_t m = 0;
        m += (size_t)sprintf(many, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
        for (int i = 0; i < count; i++)
            m += (size_t)sprintf(many + m, "X-%d: 1\r\n", i);
        m += (size_t)sprintf(many + m, "\r\n");
        int st = raw_request(many, m, head, sizeof head, body, sizeof body, NULL);
        assert_int_equal(count == 200 ? 200 : 431, st);
        free(many);
        assert_healthy();
    }
    free(req);

    /* Usernames: long, very long, and not UTF-8. */
    char *json = malloc(200000);
    char *name = malloc(100001);
    memset(name, 'a', 100000);
    name[100000] = '\0';
    for (size_t len = 33; len <= 100000; len *= 50) {
        name[len] = '\0';
        snprintf(json, 200000, "{\"username\":\"%s\",\"password\":\"correct horse\"}", name);
        name[len] = 'a';
        assert_int_equal(400,
                         th_http(srv.port, "POST", "/v1/register", NULL, json, body, sizeof body));
        th_expect_err(th_json_parse(body), "invalid_username");
    }
    free(name);
    free(json);
    assert_healthy();

    /* WebSocket: room names, JSON depth, JSON numbers, content, queries. */
    th_user_t u;
    th_new_user(&u, "ov");
    int fd = th_ws_login(&u);
    char *frame = malloc(70000);
    char longname[300];
    memset(longname, 'n', 200);
    longname[200] = '\0';
    th_expect_err(
        th_call(fd, "\"op\":\"create_room\",\"kind\":\"group\",\"members\":[],\"name\":\"%s\"",
                longname),
        "too_large");
    /* 5000 nested arrays: jansson's depth limit, bad_json. */
    n = sprintf(frame,
                "{\"id\":1,\"op\":\"send\",\"room\":\"r1\",\"client_id\":\"x\",\"content\":");
    for (int i = 0; i < 5000; i++)
        frame[n++] = '[';
    for (int i = 0; i < 5000; i++)
        frame[n++] = ']';
    frame[n++] = '}';
    frame[n] = '\0';
    th_ws_send_text(fd, frame);
    long len = th_ws_recv_text(fd, frame, 70000, 5000);
    assert_true(len > 0);
    th_expect_err(th_json_parse(frame), "bad_json");
    static const char *const numbers[] = {
        "{\"id\":2,\"op\":\"history\",\"room\":\"r1\",\"limit\":1e400}",
        "{\"id\":3,\"op\":\"history\",\"room\":\"r1\",\"limit\":123456789012345678901234567890}",
        "{\"id\":99999999999999999999999999999999999999,\"op\":\"ping\"}",
    };
    for (size_t i = 0; i < sizeof numbers / sizeof *numbers; i++) {
        th_ws_send_text(fd, numbers[i]);
        len = th_ws_recv_text(fd, frame, 70000, 5000);
        assert_true(len > 0);
        th_expect_err(th_json_parse(frame), "bad_json");
    }
    th_expect_err(th_call(fd, "\"op\":\"history\",\"room\":\"r1\",\"limit\":-1e-400"),
                  "bad_request");
    th_expect_err(th_call(fd, "\"op\":\"history\",\"room\":\"r1\",\"limit\":1000000000"),
                  "bad_request");
    /* Content over max_content_bytes (64 KiB), a query over 200 bytes, a
     * display name over 64. */
    memset(frame, 'x', 66000);
    frame[66000] = '\0';
    th_expect_err(th_call(fd,
                          "\"op\":\"send\",\"room\":\"r1\",\"client_id\":\"c\",\"content\":"
                          "{\"type\":\"text\",\"body\":\"%s\"}",
                          frame),
                  "too_large");
    frame[300] = '\0';
    th_expect_err(th_call(fd, "\"op\":\"search\",\"query\":\"%s\"", frame), "bad_request");
    frame[100] = '\0';
    th_expect_err(th_call(fd, "\"op\":\"profile_set\",\"display_name\":\"%s\"", frame),
                  "too_large");
    /* Still serving this connection. */
    json_t *r = th_call(fd, "\"op\":\"ping\"");
    th_expect_ok(r);
    json_decref(r);
    free(frame);
    close(fd);
    assert_healthy();
}

static int setup(void **state)
{
    (void)state;
    th_server_start(&srv, settings);
    th_json_bind(&srv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    th_server_stop(&srv);
    th_server_cleanup(&srv);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens_not_logged),
        cmocka_unit_test(test_account_secrets_not_logged),
        cmocka_unit_test(test_unauthenticated_every_op),
        cmocka_unit_test(test_stranger_message_ops),
        cmocka_unit_test(test_token_replay_after_logout),
        cmocka_unit_test(test_header_injection),
        cmocka_unit_test(test_request_smuggling),
        cmocka_unit_test(test_oversized),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
