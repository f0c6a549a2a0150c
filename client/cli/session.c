/* SPDX-License-Identifier: MIT */
/* session.c -- the CLI's stored session (token file) and password input. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <jansson.h>
#include <stdbool.h>

int cli_session_path(char *out, size_t cap, char *dir, size_t dir_cap)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    int n;
    if (xdg && *xdg)
        n = snprintf(dir, dir_cap, "%s/parley", xdg);
    else if (home && *home)
        n = snprintf(dir, dir_cap, "%s/.config/parley", home);
    else
        return -1;
    if (n < 0 || (size_t)n >= dir_cap)
        return -1;
    n = snprintf(out, cap, "%s/session.json", dir);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static char *dup_field(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? strdup(v) : NULL;
}

int cli_session_load(cli_session_t *s)
{
    memset(s, 0, sizeof(*s));
    char path[4096], dir[4096];
    if (cli_session_path(path, sizeof(path), dir, sizeof(dir)) < 0)
        return -1;
    json_t *o = json_load_file(path, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return -1;
    }
    s->server = dup_field(o, "server");
    s->username = dup_field(o, "username");
    s->user_id = dup_field(o, "user_id");
    s->token = dup_field(o, "token");
    json_decref(o);
    return 0;
}

/* Creates dir and its parent with mode 0700 when missing. */
static int make_dir(const char *dir)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", dir);
    char *slash = strrchr(tmp, '/');
    if (slash && slash != tmp) {
        *slash = '\0';
        if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
            return -1;
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -1;
    return chmod(dir, 0700);
}

int cli_session_save(const cli_session_t *s)
{
    char path[4096], dir[4096], tmp[4200];
    if (cli_session_path(path, sizeof(path), dir, sizeof(dir)) < 0) {
        fprintf(stderr, "parley: config_error: neither XDG_CONFIG_HOME nor HOME is set\n");
        return -1;
    }
    if (make_dir(dir) < 0) {
        fprintf(stderr, "parley: config_error: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    json_t *o = json_pack("{s:s?, s:s?, s:s?, s:s?}", "server", s->server, "username", s->username,
                          "user_id", s->user_id, "token", s->token);
    char *text = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
    json_decref(o);
    if (text == NULL)
        return -1;
    snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = -1;
    if (fd >= 0) {
        size_t len = strlen(text);
        /* fchmod: the umask must not widen or narrow what we promise. */
        if (fchmod(fd, 0600) == 0 && write(fd, text, len) == (ssize_t)len &&
            write(fd, "\n", 1) == 1 && fsync(fd) == 0)
            rc = 0;
        if (close(fd) < 0)
            rc = -1;
        if (rc == 0 && rename(tmp, path) < 0)
            rc = -1;
        if (rc < 0)
            unlink(tmp);
    }
    if (rc < 0)
        fprintf(stderr, "parley: config_error: %s: %s\n", path, strerror(errno));
    free(text);
    return rc;
}

void cli_session_remove(void)
{
    char path[4096], dir[4096];
    if (cli_session_path(path, sizeof(path), dir, sizeof(dir)) == 0)
        unlink(path);
}

void cli_session_dispose(cli_session_t *s)
{
    free(s->server);
    free(s->username);
    free(s->user_id);
    free(s->token);
    memset(s, 0, sizeof(*s));
}

static char *read_line(FILE *f)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    if (n < 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

char *cli_read_password(const char *prompt)
{
    const char *env = getenv("PARLEY_PASSWORD");
    if (env != NULL)
        return strdup(env);
    if (!isatty(STDIN_FILENO))
        return read_line(stdin);
    FILE *tty = fopen("/dev/tty", "r+");
    if (tty == NULL)
        return read_line(stdin);
    fprintf(tty, "%s", prompt);
    fflush(tty);
    struct termios old, noecho;
    int fd = fileno(tty);
    bool restore = tcgetattr(fd, &old) == 0;
    if (restore) {
        noecho = old;
        noecho.c_lflag &= ~(tcflag_t)ECHO;
        noecho.c_lflag |= ECHONL;
        tcsetattr(fd, TCSAFLUSH, &noecho);
    }
    char *pw = read_line(tty);
    if (restore)
        tcsetattr(fd, TCSAFLUSH, &old);
    fclose(tty);
    return pw;
}

/* ---- tail positions ---- */

static int positions_path(char *out, size_t cap, char *dir, size_t dir_cap)
{
    char session[4096];
    if (cli_session_path(session, sizeof(session), dir, dir_cap) < 0)
        return -1;
    int n = snprintf(out, cap, "%s/positions.json", dir);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int cli_position_load(const char *server, const char *user_id, const char *room, long long *seq,
                      long long *version)
{
    char path[4200], dir[4096], key[1024];
    if (positions_path(path, sizeof(path), dir, sizeof(dir)) < 0)
        return -1;
    json_t *o = json_load_file(path, 0, NULL);
    snprintf(key, sizeof(key), "%s %s", server, user_id);
    json_t *v = json_object_get(json_object_get(o, key), room);
    int rc = -1;
    if (json_is_integer(v)) { /* written before versions existed */
        *seq = (long long)json_integer_value(v);
        *version = 0;
        rc = 0;
    } else if (json_is_integer(json_object_get(v, "seq"))) {
        *seq = (long long)json_integer_value(json_object_get(v, "seq"));
        *version = (long long)json_integer_value(json_object_get(v, "version"));
        rc = 0;
    }
    json_decref(o);
    return rc;
}

void cli_position_save(const char *server, const char *user_id, const char *room, long long seq,
                       long long version)
{
    char path[4200], dir[4096], tmp[4300], key[1024];
    if (positions_path(path, sizeof(path), dir, sizeof(dir)) < 0 || make_dir(dir) < 0)
        return;
    json_t *o = json_load_file(path, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        o = json_object();
    }
    snprintf(key, sizeof(key), "%s %s", server, user_id);
    json_t *mine = json_object_get(o, key);
    if (!json_is_object(mine)) {
        mine = json_object();
        json_object_set_new(o, key, mine);
    }
    json_object_set_new(
        mine, room,
        json_pack("{s:I, s:I}", "seq", (json_int_t)seq, "version", (json_int_t)version));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
        char *text = json_dumps(o, JSON_COMPACT);
        bool ok = text && write(fd, text, strlen(text)) == (ssize_t)strlen(text);
        free(text);
        ok = close(fd) == 0 && ok;
        if (ok)
            (void)rename(tmp, path);
        else
            unlink(tmp);
    }
    json_decref(o);
}
