/* SPDX-License-Identifier: MIT */
/* main.c -- parleyd: flags and config, startup, signals, graceful shutdown. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <uv.h>

#include "api/api.h"
#include "chat/chat.h"
#include "cluster/cluster.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "http/http.h"
#include "jobs/jobs.h"
#include "net/server.h"
#include "push/push.h"
#include "store/store.h"
#include "version.h"
#include "ws/ws_conn.h"

static const char usage[] =
    "usage: parleyd [options]\n"
    "\n"
    "  --listen HOST:PORT   address to serve on (default 127.0.0.1:8080)\n"
    "  --data DIR           data directory, holds parley.db (default ./data)\n"
    "  --config FILE        read `key value` settings from FILE\n"
    "  --set KEY=VALUE      set one config key (repeatable; wins over the file)\n"
    "  --log-level LEVEL    error, warn, info, debug or trace\n"
    "  --threads N          event loop threads (0 = one per online CPU)\n"
    "  --config-test        validate the configuration, print it, and exit\n"
    "  --reset-link USER    print a one-time password reset link for USER and exit\n"
    "  --mail-to ADDRESS    with --reset-link: email the link to ADDRESS instead (smtp_url)\n"
    "                       (works while the server runs: the database is shared)\n"
    "  --invite-code        print a one-time invite code (registration = invite) and exit\n"
    "  --make-admin USER    make USER a server admin (audit log, moderation) and exit\n"
    "  --revoke-admin USER  take the server admin role from USER and exit\n"
    "  --help               show this help\n"
    "  --version            show the version\n"
    "\n"
    "Every config key may also be set as PARLEYD_<KEY> in the environment.\n"
    "See docs/operations.md for the keys, their defaults and limits.\n";

typedef struct {
    uv_loop_t *loop;
    pl_server_t *srv;
    pl_store_t *st;
    uv_signal_t sigterm, sigint;
    uv_signal_t sighup; /* reloads the TLS certificate */
    bool stopping;
    bool draining; /* SIGTERM with drain_ms: /readyz says 503, the drain timer runs */
    uv_timer_t drain;
    int64_t drain_ms;
    pl_api_t *api;
    pl_chat_t *chat;
    pl_cluster_t *cluster; /* NULL: single node */
    pl_jobs_t *jobs;       /* durable job runner (issue 13); NULL until the server runs */
    pl_push_t *push;       /* Web Push (issue 15); NULL: push_enabled false */
} app_t;

/* The last step of a shutdown: the store commits what is queued (done
 * callbacks run on the loop), then the loop's own handles close. */
static void close_store(void *arg)
{
    app_t *app = arg;
    /* No push handler runs any more (the job runner stopped); removals of
     * gone subscriptions already handed to the store still commit. */
    pl_chat_set_push(app->chat, NULL, NULL, NULL);
    pl_push_close(app->push);
    app->push = NULL;
    pl_store_close(app->st);
    uv_close((uv_handle_t *)&app->sigterm, NULL);
    uv_close((uv_handle_t *)&app->sigint, NULL);
    uv_close((uv_handle_t *)&app->drain, NULL);
    uv_close((uv_handle_t *)&app->sighup, NULL);
}

static void wake_jobs(void *ud)
{
    pl_jobs_wake(ud);
}

static void on_server_down(void *arg)
{
    app_t *app = arg;
    pl_log(PL_LOG_INFO, "main", "server closed; flushing the store");
    /* Timers that start store jobs stop first: the store is gone after
     * this, and later loop runs (pl_*_free) still fire due timers. */
    pl_chat_stop(app->chat);
    pl_api_stop(app->api);
    /* The bus goes before the store: backfills still completing find no
     * bus to publish on. */
    pl_chat_set_cluster(app->chat, NULL);
    pl_api_set_cluster(app->api, NULL);
    pl_cluster_free(app->cluster);
    app->cluster = NULL;
    /* Running jobs finish (each within jobs_timeout_ms) and their outcome is
     * committed before the store closes. */
    pl_api_set_jobs(app->api, NULL);
    if (app->jobs != NULL)
        pl_jobs_stop(app->jobs, close_store, app);
    else
        close_store(app);
}

/* SIGHUP: new TLS connections get the certificate and key now on disk
 * (after a renewal); open ones keep theirs. A bad file keeps the old one. */
static void on_sighup(uv_signal_t *h, int signum)
{
    (void)signum;
    app_t *app = h->data;
    char err[512];
    if (pl_server_tls_reload(app->srv, err, sizeof err) != 0)
        pl_log(PL_LOG_ERROR, "main", "SIGHUP: TLS reload failed, the old certificate stays err=%s",
               err);
}

static void shutdown_now(app_t *app)
{
    app->stopping = true;
    uv_timer_stop(&app->drain);
    pl_server_shutdown(app->srv, on_server_down, app);
}

static void on_drained(uv_timer_t *t)
{
    app_t *app = t->data;
    pl_log(PL_LOG_INFO, "main", "drain over: closing connections (1001)");
    shutdown_now(app);
}

/* SIGTERM or SIGINT. With drain_ms > 0 the node first only says it is not
 * ready (/readyz 503), so the load balancer stops sending new clients,
 * then closes its WebSockets with 1001 (the clients reconnect, through the
 * balancer, to another node) and exits. A signal during the drain ends it
 * early; one during the shutdown exits at once. */
static void on_signal(uv_signal_t *h, int signum)
{
    app_t *app = h->data;
    if (app->stopping) {
        pl_log(PL_LOG_WARN, "main", "signal=%d again: exiting now", signum);
        exit(1);
    }
    if (app->draining || app->drain_ms == 0) {
        pl_log(PL_LOG_INFO, "main", "signal=%d: shutting down", signum);
        shutdown_now(app);
        return;
    }
    app->draining = true;
    pl_api_set_draining(app->api);
    pl_log(PL_LOG_INFO, "main", "signal=%d: draining for drain_ms=%" PRId64 " (/readyz 503)",
           signum, app->drain_ms);
    uv_timer_start(&app->drain, on_drained, (uint64_t)app->drain_ms, 0);
}

typedef struct {
    pl_api_t *api;
    pl_chat_t *chat;
} handlers_ud_t;

static void on_http(void *ud, pl_http_req_t *req)
{
    pl_api_on_http(((handlers_ud_t *)ud)->api, req);
}

static bool on_headers(void *ud, pl_http_req_t *req, pl_http_stream_t *out)
{
    return pl_api_on_headers(((handlers_ud_t *)ud)->api, req, out);
}

static void on_ws_open(void *ud, pl_conn_t *c)
{
    pl_chat_on_ws_open(((handlers_ud_t *)ud)->chat, c);
}

static void on_ws_message(void *ud, pl_conn_t *c, const char *data, size_t len)
{
    pl_chat_on_ws_message(((handlers_ud_t *)ud)->chat, c, data, len);
}

static void on_ws_close(void *ud, pl_conn_t *c)
{
    pl_chat_on_ws_close(((handlers_ud_t *)ud)->chat, c);
}

/* File descriptors open now (0 if /proc is not there). */
static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return 0;
    long n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own fd */
}

/* Every connection is a file descriptor. A soft open-file limit below the
 * hard one only limits us (systemd and shells often leave it at 1024), so
 * it is raised to the hard limit. max_connections is then capped to what
 * the limit allows after the fds open now (database, logs) and fd_reserve
 * more (media files being read or written, loop threads, the search
 * index): past that, connections are refused at accept (closed at once)
 * instead of taking the descriptors an upload or a download needs.
 * Called before the server starts: no other thread reads cfg yet. */
static void fit_fd_limit(pl_config_t *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = rl.rlim_max;
    if (want == RLIM_INFINITY) {
        /* Linux refuses more than fs.nr_open even for an unlimited hard limit. */
        want = 1048576;
        FILE *f = fopen("/proc/sys/fs/nr_open", "r");
        unsigned long long nr;
        if (f && fscanf(f, "%llu", &nr) == 1 && nr > 0)
            want = (rlim_t)nr;
        if (f)
            fclose(f);
    }
    if (rl.rlim_cur < want) {
        struct rlimit raised = {want, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            pl_log(PL_LOG_INFO, "main", "open-file limit raised from=%" PRIu64 " to=%" PRIu64,
                   (uint64_t)rl.rlim_cur, (uint64_t)want);
            rl.rlim_cur = want;
        } else {
            pl_log(PL_LOG_WARN, "main", "cannot raise the open-file limit from=%" PRIu64 " err=%s",
                   (uint64_t)rl.rlim_cur, strerror(errno));
        }
    }
    long open = open_fds();
    int64_t fit = (int64_t)rl.rlim_cur - open - cfg->fd_reserve;
    if (fit < 1)
        fit = 1;
    if (cfg->max_connections > fit) {
        pl_log(PL_LOG_WARN, "main",
               "max_connections capped from=%" PRId64 " to=%" PRId64
               " by the open-file limit=%" PRIu64 " fds_open=%ld fd_reserve=%" PRId64,
               cfg->max_connections, fit, (uint64_t)rl.rlim_cur, open, cfg->fd_reserve);
        cfg->max_connections = fit;
    }
}

static void on_ws_drain(void *ud, pl_conn_t *c)
{
    pl_chat_on_ws_drain(((handlers_ud_t *)ud)->chat, c);
}

static pl_config_t *config_to_free; /* so error exits free it too */

static int fail_config(const char *msg)
{
    fprintf(stderr, "parleyd: %s\n", msg);
    if (config_to_free)
        pl_config_dispose(config_to_free);
    return 2;
}

/* --reset-link / --invite-code: one write on the store's direct connection
 * (SQLite in WAL mode lets it run beside a live server), the result on
 * stdout, then exit. */
static int run_operator_command(app_t *app, pl_config_t *cfg, const char *cmd, const char *arg,
                                const char *mail_to)
{
    char out[512] = "";
    int rc = mail_to != NULL ? pl_api_operator_reset_mail(app->loop, app->st, cfg, arg, mail_to,
                                                          out, sizeof out)
                             : pl_api_operator_command(app->st, cfg, cmd, arg, out, sizeof out);
    pl_store_close(app->st);
    uv_run(app->loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(app->loop);
    if (rc < 0)
        fprintf(stderr, "parleyd: %s\n", out);
    else
        printf("%s\n", out);
    fflush(stdout);
    pl_config_dispose(cfg);
    return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    pl_config_t cfg;
    char err[512];
    bool config_test = false;
    const char *op_cmd = NULL, *op_arg = NULL; /* --reset-link / --invite-code */
    const char *mail_to = NULL;                /* --reset-link USER --mail-to ADDR */
    pl_config_init(&cfg);
    config_to_free = &cfg;

    /* Pass 1: the config file, so flags can override it wherever they appear. */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            pl_config_dispose(&cfg);
            return 0;
        }
        if (!strcmp(argv[i], "--version")) {
            printf("parleyd %s\n", PL_VERSION);
            pl_config_dispose(&cfg);
            return 0;
        }
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc)
                return fail_config("--config needs a FILE");
            if (pl_config_load_file(&cfg, argv[++i], err, sizeof err) < 0)
                return fail_config(err);
        }
    }
    if (pl_config_load_env(&cfg, err, sizeof err) < 0)
        return fail_config(err);
    /* Pass 2: flags. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *key = NULL;
        if (!strcmp(a, "--config")) {
            i++;
            continue;
        } else if (!strcmp(a, "--config-test")) {
            config_test = true;
            continue;
        } else if (!strcmp(a, "--invite-code")) {
            op_cmd = "invite-code";
            continue;
        } else if (!strcmp(a, "--reset-link")) {
            if (i + 1 >= argc)
                return fail_config("--reset-link needs a USERNAME");
            op_cmd = "reset-link";
            op_arg = argv[++i];
            continue;
        } else if (!strcmp(a, "--make-admin") || !strcmp(a, "--revoke-admin")) {
            /* moderation (issue 17): server admins */
            if (i + 1 >= argc)
                return fail_config("--make-admin / --revoke-admin need a USERNAME");
            op_cmd = a + 2;
            op_arg = argv[++i];
            continue;
        } else if (!strcmp(a, "--mail-to")) {
            if (i + 1 >= argc)
                return fail_config("--mail-to needs an ADDRESS");
            mail_to = argv[++i];
            continue;
        } else if (!strcmp(a, "--listen")) {
            key = "listen";
        } else if (!strcmp(a, "--data")) {
            key = "data_dir";
        } else if (!strcmp(a, "--log-level")) {
            key = "log_level";
        } else if (!strcmp(a, "--threads")) {
            key = "threads";
        } else if (!strcmp(a, "--set")) {
            if (i + 1 >= argc || strchr(argv[i + 1], '=') == NULL)
                return fail_config("--set needs KEY=VALUE");
            char *kv = strdup(argv[++i]);
            char *eq = strchr(kv, '=');
            *eq = '\0';
            int rc = pl_config_set(&cfg, kv, eq + 1, err, sizeof err);
            free(kv);
            if (rc < 0)
                return fail_config(err);
            continue;
        } else {
            snprintf(err, sizeof err, "unknown option '%s' (see --help)", a);
            return fail_config(err);
        }
        if (i + 1 >= argc) {
            snprintf(err, sizeof err, "%s needs a value", a);
            return fail_config(err);
        }
        if (pl_config_set(&cfg, key, argv[++i], err, sizeof err) < 0)
            return fail_config(err);
    }
    if (pl_config_validate(&cfg, err, sizeof err) < 0)
        return fail_config(err);
    if (config_test) {
        pl_config_print(&cfg, stdout);
        pl_config_dispose(&cfg);
        return 0;
    }
    pl_log_set_level(pl_log_parse_level(cfg.log_level));

    if (sodium_init() < 0) {
        pl_log(PL_LOG_ERROR, "main", "libsodium failed to initialise");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    app_t app = {0};
    app.loop = uv_default_loop();
    int rc = pl_store_open(app.loop, &cfg, &app.st);
    if (rc < 0) {
        pl_log(PL_LOG_ERROR, "main", "cannot open the store in %s err=%s", cfg.data_dir,
               pl_strerror(rc));
        pl_config_dispose(&cfg);
        return 1;
    }
    if (mail_to != NULL && (op_cmd == NULL || strcmp(op_cmd, "reset-link") != 0)) {
        pl_store_close(app.st);
        uv_run(app.loop, UV_RUN_DEFAULT);
        return fail_config("--mail-to goes with --reset-link USER");
    }
    if (op_cmd != NULL)
        return run_operator_command(&app, &cfg, op_cmd, op_arg, mail_to);
    pl_chat_t *chat = NULL;
    pl_api_t *api = NULL;
    int exit_code = 0;
    if ((rc = pl_chat_new(app.loop, &cfg, app.st, &chat)) < 0) {
        pl_log(PL_LOG_ERROR, "main", "cannot load rooms err=%s", pl_strerror(rc));
        exit_code = 1;
        goto stop_store;
    }
    api = pl_api_new(app.loop, &cfg, app.st, chat);
    if (cfg.redis[0] != '\0') {
        /* Several nodes: the cross-node bus (src/cluster). */
        pl_cluster_handlers_t ch;
        pl_chat_cluster_handlers(chat, &ch);
        if ((rc = pl_cluster_new(app.loop, &cfg, &ch, &app.cluster)) < 0) {
            exit_code = 1;
            goto stop_store;
        }
        pl_chat_set_cluster(chat, app.cluster);
        pl_api_set_cluster(api, app.cluster);
    }
    fit_fd_limit(&cfg);
    /* One server, two handler owners: HTTP goes to api, WebSockets (an
     * upgrade from HTTP) to chat. */
    handlers_ud_t hud = {api, chat};
    pl_http_handlers_t hh = {
        .on_http = on_http,
        .on_headers = on_headers,
        .ud = &hud,
        .on_upgrade = pl_ws_upgrade,
    };
    pl_server_handlers_t h = {
        .on_accept = pl_http_accept,
        .accept_ud = &hh,
        .on_open = on_ws_open,
        .on_message = on_ws_message,
        .on_close = on_ws_close,
        .on_drain = on_ws_drain,
        .ud = &hud,
    };
    if ((rc = pl_server_new(app.loop, &cfg, &h, &app.srv)) < 0) {
        pl_log(PL_LOG_ERROR, "main", "cannot listen on %s err=%s", cfg.listen, pl_strerror(rc));
        exit_code = 1;
        goto stop_store;
    }
    pl_api_set_server(api, app.srv);
    pl_chat_set_server(chat, app.srv);
    /* Durable background jobs (issue 13): email over SMTP for now. */
    pl_jobs_new(app.loop, app.st, &cfg, &app.jobs);
    bool curl_ok = pl_jobs_email_setup() == 0; /* libcurl's global init, for push too */
    if (curl_ok)
        pl_jobs_register(app.jobs, "email", pl_jobs_email_run, &cfg);
    /* Web Push (issue 15): the VAPID key from data_dir (made on the first
     * start); sends enqueue `push` jobs with the message. */
    if (cfg.push_enabled && curl_ok) {
        if (pl_push_new(app.loop, app.st, &cfg, &app.push) != 0) {
            exit_code = 1;
            app.stopping = true;
        } else {
            pl_jobs_register(app.jobs, PL_PUSH_JOB_KIND, pl_push_job_run, app.push);
            pl_chat_set_push(chat, app.push, wake_jobs, app.jobs);
        }
    }
    pl_api_set_jobs(api, app.jobs); /* registers the media GC's handler */
    pl_jobs_start(app.jobs);
    app.api = api;
    app.chat = chat;
    app.drain_ms = cfg.drain_ms;
    uv_timer_init(app.loop, &app.drain);
    app.drain.data = &app;

    uv_signal_init(app.loop, &app.sigterm);
    uv_signal_init(app.loop, &app.sigint);
    app.sigterm.data = app.sigint.data = &app;
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);
    uv_signal_start(&app.sigint, on_signal, SIGINT);
    uv_signal_init(app.loop, &app.sighup);
    app.sighup.data = &app;
    uv_signal_start(&app.sighup, on_sighup, SIGHUP);

    char tls_err[512];
    if (exit_code != 0) { /* the VAPID key (logged) */
        pl_server_shutdown(app.srv, on_server_down, &app);
    } else if ((rc = pl_server_tls_start(app.srv, tls_err, sizeof tls_err)) != 0) {
        pl_log(PL_LOG_ERROR, "main", "cannot start TLS: %s", tls_err);
        exit_code = 1;
        app.stopping = true;
        pl_server_shutdown(app.srv, on_server_down, &app);
    } else {
        pl_log(PL_LOG_INFO, "main", "parleyd %s listening on http://%s data=%s", PL_VERSION,
               cfg.listen, cfg.data_dir);
        if (cfg.tls_listen[0])
            pl_log(PL_LOG_INFO, "main", "and on https://%s", cfg.tls_listen);
    }
    uv_run(app.loop, UV_RUN_DEFAULT);
    pl_server_free(app.srv);
    pl_jobs_free(app.jobs);
    goto done;

stop_store:
    /* Startup failed after the store opened: close it cleanly (its handle
     * and a failed server's are freed by running the loop once more). */
    pl_chat_stop(chat);
    pl_api_stop(api);
    pl_chat_set_cluster(chat, NULL);
    pl_cluster_free(app.cluster);
    pl_store_close(app.st);
    uv_run(app.loop, UV_RUN_DEFAULT);
done:
    pl_api_free(api);
    pl_chat_free(chat);
    rc = uv_loop_close(app.loop);
    if (rc != 0)
        pl_log(PL_LOG_WARN, "main", "loop closed with handles open err=%s", uv_strerror(rc));
    if (exit_code == 0)
        pl_log(PL_LOG_INFO, "main", "bye");
    pl_config_dispose(&cfg);
    return exit_code;
}
