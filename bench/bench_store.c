/* SPDX-License-Identifier: MIT */
/* bench_store.c -- message appends per second through the store's
 * group-committing writer (SQLite, or PostgreSQL with PARLEYD_STORE=postgres
 * and PARLEYD_PG_CONNINFO), with a fixed number of jobs in flight.
 *
 * Built as build/bench_store (CMake target bench_store, not run by ctest).
 * Usage: bench_store [total=200000] [inflight=1000] [rooms=100] [dir=mkdtemp]
 * synchronous=FULL, so the figure depends on the disk's fsync latency. */
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

typedef struct bench bench_t;

typedef struct {
    bench_t *b;
    int64_t room;
    int64_t n; /* client_id counter */
    char cid[32], content[96];
    pl_post_t p;
} job_t;

struct bench {
    pl_store_t *st;
    int64_t sender;
    int64_t *rooms;
    int64_t nrooms;
    int64_t submitted, completed, failed, total;
    uint64_t max_latency_ns;
};

static void submit(bench_t *b, job_t *j);

static void append_done(int status, void *arg)
{
    job_t *j = arg;
    bench_t *b = j->b;
    b->completed++;
    if (status != 0 || j->p.refused != PL_REFUSAL_NONE || j->p.duplicate)
        b->failed++;
    pl_post_dispose(&j->p);
    if (b->submitted < b->total)
        submit(b, j);
    else
        free(j);
}

static void submit(bench_t *b, job_t *j)
{
    j->room = b->rooms[b->submitted % b->nrooms];
    j->n = b->submitted++;
    snprintf(j->cid, sizeof j->cid, "b%" PRId64, j->n);
    /* A text body, as a client's `send` carries it (so PostgreSQL's
     * generated tsvector and its GIN index are part of the cost). */
    snprintf(j->content, sizeof j->content,
             "{\"type\":\"text\",\"body\":\"hello, this is benchmark message %" PRId64 "\"}", j->n);
    /* The domain operation a `send` runs (pl_store_message_post: the job
     * that calls pl_db_message_send, or the PostgreSQL writer's batched
     * appends). */
    j->p = (pl_post_t){
        .room_id = j->room, .sender = b->sender, .client_id = j->cid, .content = j->content};
    pl_store_message_post(b->st, &j->p, append_done, j);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(int argc, char **argv)
{
    bench_t b = {.total = argc > 1 ? atoll(argv[1]) : 200000};
    int64_t inflight = argc > 2 ? atoll(argv[2]) : 1000;
    b.nrooms = argc > 3 ? atoll(argv[3]) : 100;
    char tmp[] = "/tmp/pl_bench_store_XXXXXX";
    const char *dir = argc > 4 ? argv[4] : mkdtemp(tmp);
    if (dir == NULL || b.total <= 0 || inflight <= 0 || b.nrooms <= 0) {
        fprintf(stderr, "usage: bench_store [total] [inflight] [rooms] [dir]\n");
        return 2;
    }

    uv_loop_t loop;
    uv_loop_init(&loop);
    pl_config_t cfg;
    pl_config_init(&cfg);
    char err[128];
    pl_config_set(&cfg, "data_dir", dir, err, sizeof err);
    /* PARLEYD_STORE=postgres PARLEYD_PG_CONNINFO=... measure the PostgreSQL
     * backend (issue 13). */
    if (pl_config_load_env(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    pl_log_set_level(PL_LOG_WARN);
    if (pl_store_open(&loop, &cfg, &b.st) != 0)
        return 1;

    pl_db_t *db = pl_store_direct(b.st);
    if (pl_db_user_create(db, "bench", "Bench", "x", pl_now_ms(), &b.sender) != 0)
        return 1;
    b.rooms = pl_xcalloc((size_t)b.nrooms, sizeof *b.rooms);
    for (int64_t i = 0; i < b.nrooms; i++) {
        char name[32];
        snprintf(name, sizeof name, "room%" PRId64, i);
        if (pl_db_room_create_group(db, name, b.sender, NULL, 0, pl_now_ms(), &b.rooms[i]) != 0)
            return 1;
    }

    uint64_t t0 = pl_mono_ns();
    for (int64_t i = 0; i < inflight && b.submitted < b.total; i++) {
        job_t *j = pl_xcalloc(1, sizeof *j);
        j->b = &b;
        submit(&b, j);
    }
    while (b.completed < b.total)
        uv_run(&loop, UV_RUN_ONCE);
    double secs = (double)(pl_mono_ns() - t0) / 1e9;

    pl_store_stats_t s;
    pl_store_get_stats(b.st, &s);
    printf("appends=%" PRId64 " inflight=%" PRId64 " rooms=%" PRId64 " secs=%.3f "
           "appends_per_sec=%.0f commits=%" PRIu64 " jobs_per_commit=%.1f batched=%" PRIu64
           " failed=%" PRId64 "\n",
           b.total, inflight, b.nrooms, secs, (double)b.total / secs, s.commits,
           s.commits ? (double)s.write_jobs / (double)s.commits : 0.0, s.batched_posts, b.failed);

    pl_store_close(b.st);
    uv_run(&loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&loop);
    pl_config_dispose(&cfg);
    free(b.rooms);
    if (argc <= 4)
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc == 0 && b.failed == 0 ? 0 : 1;
}
