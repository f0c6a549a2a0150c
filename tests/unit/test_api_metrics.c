/* SPDX-License-Identifier: MIT */
/* test_api_metrics.c -- the Prometheus text rendering of GET /metrics
 * (issue 17): counters get _total, levels are gauges, the loops become a
 * labelled family, odd keys and non-integers are skipped, the process's
 * numbers use the client libraries' names and a field not read is left out. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "api/api_metrics.h"

static void test_render(void **state)
{
    (void)state;
    json_t *o =
        json_pack("{s:I,s:I,s:s,s:I,s:[{s:I},{s:I}],s:{s:I,s:I}}", "messages_stored", (json_int_t)7,
                  "sessions", (json_int_t)2, "version", "x", "Bad-Key", (json_int_t)1, "loops",
                  "ws_opened", (json_int_t)3, "ws_opened", (json_int_t)4, "errors", "forbidden",
                  (json_int_t)5, "x\"y", (json_int_t)1);
    pl_proc_stats_t p = {.cpu_seconds = 1.5,
                         .rss_bytes = 4096,
                         .virtual_bytes = -1,
                         .open_fds = 9,
                         .max_fds = 1024,
                         .start_time_unix = 1700000000};
    pl_buf_t b;
    pl_buf_init(&b);
    pl_metrics_render(&b, o, &p);
    pl_buf_append(&b, "", 1);
    const char *t = pl_buf_head(&b);
    assert_non_null(strstr(t, "# TYPE parley_messages_stored_total counter\n"
                              "parley_messages_stored_total 7\n"));
    assert_non_null(strstr(t, "# TYPE parley_sessions gauge\nparley_sessions 2\n"));
    assert_null(strstr(t, "version"));
    assert_null(strstr(t, "Bad"));
    assert_non_null(strstr(t, "parley_loop_ws_opened_total{loop=\"0\"} 3\n"
                              "parley_loop_ws_opened_total{loop=\"1\"} 4\n"));
    assert_non_null(strstr(t, "# TYPE parley_errors_total counter\n"
                              "parley_errors_total{code=\"forbidden\"} 5\n"));
    assert_null(strstr(t, "x\"y")); /* a code that would break the label is left out */
    assert_non_null(strstr(t, "process_cpu_seconds_total 1.5\n"));
    assert_non_null(strstr(t, "process_resident_memory_bytes 4096\n"));
    assert_null(strstr(t, "process_virtual_memory_bytes"));
    assert_non_null(strstr(t, "process_open_fds 9\n"));
    assert_non_null(strstr(t, "process_start_time_seconds 1700000000\n"));
    /* every family has HELP and TYPE before its samples */
    assert_non_null(strstr(t, "# HELP process_open_fds "));
    pl_buf_dispose(&b);
    json_decref(o);

    /* A histogram: cumulative buckets, +Inf equal to _count. */
    o = json_pack("{s:{s:{s:[f,f],s:[I,I,I],s:f}}}", "histograms", "store_commit_seconds", "le",
                  0.001, 0.01, "counts", (json_int_t)2, (json_int_t)3, (json_int_t)1, "sum", 0.5);
    pl_buf_init(&b);
    pl_metrics_render(&b, o, NULL);
    pl_buf_append(&b, "", 1);
    t = pl_buf_head(&b);
    assert_non_null(strstr(t, "# TYPE parley_store_commit_seconds histogram\n"
                              "parley_store_commit_seconds_bucket{le=\"0.001\"} 2\n"
                              "parley_store_commit_seconds_bucket{le=\"0.01\"} 5\n"
                              "parley_store_commit_seconds_bucket{le=\"+Inf\"} 6\n"
                              "parley_store_commit_seconds_sum 0.5\n"
                              "parley_store_commit_seconds_count 6\n"));
    pl_buf_dispose(&b);
    json_decref(o);
}

static void test_read_self(void **state)
{
    (void)state;
    pl_proc_stats_t p;
    pl_proc_stats_read(&p);
    assert_true(p.cpu_seconds >= 0);
    assert_true(p.rss_bytes > 0);
    assert_true(p.open_fds >= 3); /* stdin, stdout, stderr */
    assert_true(p.start_time_unix > 1e9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_read_self),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
