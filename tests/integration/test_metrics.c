/* SPDX-License-Identifier: MIT */
/* test_metrics.c -- GET /metrics (issue 17) on the real parleyd: the live
 * output passes `promtool check metrics` (Debian package prometheus), it
 * carries the /v1/stats counters and the process's numbers, counters move
 * with traffic, and it is refused (403) like /v1/stats outside stats_allow
 * without stats_token. /readyz answers 200 while the store is reachable. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "wsjson.h"

static char body[1 << 20];

/* The value of the sample line that starts with name followed by a space. */
static double sample(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; p != NULL && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, name, n) && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    fail_msg("no sample %s", name);
    return -1;
}

static void test_promtool(void **state)
{
    (void)state;
    if (system("command -v promtool >/dev/null 2>&1") != 0) {
        print_message("promtool not installed (scripts/install-deps.sh --test): skipped\n");
        skip();
    }
    th_server_t s;
    static const char *const sets[] = {"stats_token=metrics-token-0123456789", NULL};
    th_server_start(&s, sets);
    th_json_bind(&s);
    assert_int_equal(200, th_http(s.port, "GET", "/metrics", NULL, NULL, body, sizeof body));
    double stored0 = sample(body, "parley_messages_stored_total");
    assert_true(sample(body, "process_open_fds") > 0);
    assert_true(sample(body, "process_resident_memory_bytes") > 0);
    assert_true(sample(body, "process_start_time_seconds") > 1e9);
    assert_non_null(strstr(body, "# TYPE parley_sessions gauge"));
    assert_non_null(strstr(body, "parley_loop_connections_accepted_total{loop=\"0\"}"));

    /* Traffic moves the counters. */
    th_user_t a, b;
    th_new_user(&a, "pa");
    th_new_user(&b, "pb");
    int fa = th_ws_login(&a);
    char members[64];
    snprintf(members, sizeof members, "[\"%s\"]", b.name);
    char *room = th_room_create(fa, "dm", members, NULL);
    json_t *r =
        th_call(fa,
                "\"op\":\"send\",\"room\":\"%s\",\"client_id\":\"c1\",\"content\":{\"type\":"
                "\"text\",\"body\":\"hi\"}",
                room);
    th_expect_ok(r);
    json_decref(r);
    th_expect_err(th_call(fa, "\"op\":\"no_such_op\""), "unknown_op");
    th_expect_err(th_call(fa, "\"op\":\"no_such_op\""), "unknown_op");
    assert_int_equal(200, th_http(s.port, "GET", "/metrics", NULL, NULL, body, sizeof body));
    assert_true(sample(body, "parley_errors_total{code=\"unknown_op\"}") >= 2);
    assert_true(sample(body, "parley_messages_stored_total") >= stored0 + 1);
    assert_true(sample(body, "parley_sessions") >= 1);
    /* The writer's histograms: the send committed at least once. */
    assert_true(sample(body, "parley_store_commit_seconds_count") >= 1);
    assert_true(sample(body, "parley_store_commit_jobs_count") >= 1);
    assert_true(sample(body, "parley_store_commit_seconds_bucket{le=\"+Inf\"}") ==
                sample(body, "parley_store_commit_seconds_count"));

    /* promtool lints the live output. */
    char path[300], cmd[700];
    snprintf(path, sizeof path, "%s.metrics", s.data_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(body, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "promtool check metrics < '%s' > '%s.out' 2>&1", path, path);
    int rc = system(cmd);
    if (rc != 0) {
        snprintf(cmd, sizeof cmd, "cat '%s.out' >&2", path);
        (void)system(cmd);
    }
    assert_int_equal(0, rc);
    unlink(path);
    snprintf(cmd, sizeof cmd, "%s.out", path);
    unlink(cmd);

    /* The bearer token opens it as it opens /v1/stats. */
    assert_int_equal(200, th_http(s.port, "GET", "/metrics", "metrics-token-0123456789", NULL, body,
                                  sizeof body));
    assert_int_equal(200, th_http(s.port, "GET", "/readyz", NULL, NULL, body, sizeof body));
    free(room);
    th_close(fa);
    th_server_stop(&s);
    th_server_cleanup(&s);
}

/* Outside stats_allow and without the token: 403, nothing revealed. */
static void test_refused(void **state)
{
    (void)state;
    th_server_t s;
    static const char *const sets[] = {"stats_allow=10.9.9.0/24",
                                       "stats_token=metrics-token-0123456789", NULL};
    th_server_start(&s, sets);
    assert_int_equal(403, th_http(s.port, "GET", "/metrics", NULL, NULL, body, sizeof body));
    assert_null(strstr(body, "parley_"));
    assert_non_null(strstr(body, "forbidden"));
    assert_int_equal(
        403, th_http(s.port, "GET", "/metrics", "wrong-token-0123456789", NULL, body, sizeof body));
    assert_int_equal(200, th_http(s.port, "GET", "/metrics", "metrics-token-0123456789", NULL, body,
                                  sizeof body));
    assert_int_equal(405, th_http(s.port, "POST", "/metrics", NULL, "{}", body, sizeof body));
    th_server_stop(&s);
    th_server_cleanup(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_promtool),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
