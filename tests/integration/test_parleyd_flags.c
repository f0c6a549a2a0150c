/* SPDX-License-Identifier: MIT */
/* test_parleyd_flags.c -- parleyd's command line and config errors: clear
 * messages naming the key, exit code 2; --help, --version, --config-test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char out[65536];

/* Runs parleyd with args (a shell fragment); returns the exit code and leaves
 * stdout+stderr in out. */
static int run(const char *args)
{
    char cmd[2048];
    const char *bin = getenv("PARLEYD");
    assert_non_null(bin);
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", bin, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void expect(const char *args, int code, const char *needle)
{
    int rc = run(args);
    if (rc != code || strstr(out, needle) == NULL)
        fail_msg("parleyd %s: exit %d (want %d), output: %s (want '%s')", args, rc, code, out,
                 needle);
}

static void test_help_version(void **state)
{
    (void)state;
    expect("--help", 0, "--listen HOST:PORT");
    expect("--version", 0, "parleyd ");
    expect("--threads 3 --config-test", 0, "\nthreads 3\n");
}

static void test_bad_flags(void **state)
{
    (void)state;
    expect("--bogus", 2, "unknown option '--bogus'");
    expect("--listen", 2, "--listen needs a value");
    expect("--listen nonsense --config-test", 2, "'listen'");
    expect("--set nokey", 2, "--set needs KEY=VALUE");
    expect("--set max_ws_message=1", 2, "'max_ws_message'");
    expect("--set no_such_key=1", 2, "unknown config key 'no_such_key'");
    expect("--log-level loud", 2, "'log_level'");
    expect("--threads many", 2, "'threads'");
    expect("--threads 257 --config-test", 2, "'threads'");
    expect("--threads", 2, "--threads needs a value");
    expect("--config /nonexistent/parleyd.conf", 2, "cannot open");
}

static void test_config_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/parley-flags-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], args[512];
    snprintf(path, sizeof path, "%s/p.conf", dir);
    FILE *f = fopen(path, "w");
    fputs("# test\nmax_ws_message 2m\nws_echo true\n", f);
    fclose(f);
    snprintf(args, sizeof args, "--config %s --config-test", path);
    expect(args, 0, "max_ws_message 2097152");
    assert_non_null(strstr(out, "ws_echo true"));
    /* flags win over the file, wherever they stand */
    snprintf(args, sizeof args, "--set max_ws_message=4m --config %s --config-test", path);
    expect(args, 0, "max_ws_message 4194304");
    f = fopen(path, "w");
    fputs("max_ws_message 2m\n\nmax_write_queue lots\n", f);
    fclose(f);
    snprintf(args, sizeof args, "--config %s", path);
    expect(args, 2, "p.conf:3: config key 'max_write_queue'");
    /* environment */
    expect("--config-test 2>&1 | grep -q . ; PARLEYD_WS_ECHO=maybe $PARLEYD --config-test", 2,
           "PARLEYD_WS_ECHO");
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_version),
        cmocka_unit_test(test_bad_flags),
        cmocka_unit_test(test_config_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
