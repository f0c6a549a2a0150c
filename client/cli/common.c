/* SPDX-License-Identifier: MIT */
/* common.c -- what the parley CLI's commands share besides the connection:
 * error reports, JSON and message output, argument helpers. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "parley: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'parley --help'.\n");
    va_end(ap);
    return EXIT_USAGE;
}

int cli_fail(const parley_error_t *err)
{
    return cli_fail_msg(err->code[0] ? err->code : "error", err->message);
}

int cli_fail_msg(const char *code, const char *msg)
{
    fprintf(stderr, "parley: %s: %s\n", code, msg);
    return EXIT_ERR;
}

void cli_print_json(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    if (s) {
        printf("%s\n", s);
        free(s);
    }
}

void cli_print_message(cli_t *cli, const json_t *m)
{
    if (cli->json) {
        cli_print_json(m);
    } else {
        char *line = cli_format_message(m, cli->names);
        if (line)
            printf("%s\n", line);
        free(line);
    }
    fflush(stdout);
}

void cli_print_saved(cli_t *cli, const char *id, const char *path)
{
    if (cli->json) {
        json_t *o = json_pack("{s:s, s:s}", "media", id, "path", path);
        cli_print_json(o);
        json_decref(o);
    } else {
        printf("saved %s\n", path);
    }
}

void cli_new_client_id(char cid[40])
{
    unsigned char rnd[12];
    memcpy(cid, "cli-", 5);
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(cid + 4, 40 - 4, rnd, sizeof(rnd));
}

int cli_parse_int(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < 0)
        return -1;
    *out = v;
    return 0;
}

char *cli_join_args(int argc, char **argv)
{
    size_t len = 1;
    for (int i = 0; i < argc; i++)
        len += strlen(argv[i]) + 1;
    char *text = calloc(1, len);
    for (int i = 0; text && i < argc; i++) {
        if (i > 0)
            strcat(text, " ");
        strcat(text, argv[i]);
    }
    return text;
}
