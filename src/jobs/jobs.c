/* SPDX-License-Identifier: MIT */
/* jobs.c -- the job runner (jobs.h). Everything here runs on the loop
 * thread except the handlers (libuv pool). The state machine of a job on
 * this node: claimed (a store write job, so the claim is committed before
 * the handler starts) -> handler on the pool -> finish (a store write job:
 * complete, retry at now + backoff, or dead). A claim is made only while
 * fewer than jobs_workers jobs are in flight, so the pool is never flooded
 * and a slow handler cannot starve the others of the pool beyond that. */
#include "jobs/jobs.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

#define KINDS_MAX 16
#define LEASE_MARGIN_MS 60000 /* lease = handler timeout + this */
#define PURGE_BATCH 500
#define PURGE_EVERY 30 /* maintenance rounds between two purges */

typedef struct {
    char kind[PL_JOB_KIND_MAX + 1];
    pl_jobs_handler_cb run;
    void *ud;
} kind_t;

struct pl_jobs {
    uv_loop_t *loop;
    pl_store_t *st;
    int64_t workers, poll_ms, timeout_ms, base_ms, max_ms, max_attempts, retention_ms;
    char worker[PL_JOB_WORKER_MAX + 1];
    kind_t kinds[KINDS_MAX];
    size_t nkinds;
    uv_timer_t poll, maint;
    uv_async_t wake;
    bool started;     /* release done: claims may run */
    bool stopping;    /* pl_jobs_stop called */
    bool claiming;    /* a claim write job is in flight */
    bool counting;    /* a counts read job is in flight */
    int64_t inflight; /* claimed jobs not yet finished (handler or finish write) */
    int64_t pending;  /* our store jobs in flight (claim, finish, counts, purge, release) */
    int handles_open;
    uint64_t rounds;
    void (*stop_cb)(void *arg);
    void *stop_arg;
    pl_jobs_stats_t stats;
};

typedef struct {
    uv_work_t w;
    pl_jobs_t *j;
    pl_job_t job;
    const kind_t *k;
    int rc; /* handler result */
    char err[256];
    bool overran;
    /* the finish */
    bool dead;
    int64_t retry_at, now;
    int frc; /* store result of the finish */
} run_t;

static void tick(pl_jobs_t *j);

int64_t pl_jobs_backoff_ms(int64_t base_ms, int64_t max_ms, int64_t attempts, uint32_t rnd)
{
    if (base_ms < 1)
        base_ms = 1;
    if (max_ms < base_ms)
        max_ms = base_ms;
    int64_t d = base_ms;
    for (int64_t i = 1; i < attempts && d < max_ms; i++)
        d = d > max_ms / 2 ? max_ms : d * 2;
    if (d > max_ms)
        d = max_ms;
    /* jitter: d * [0.8, 1.2), so retries of many jobs that failed together
     * (a target that was down) do not come back together */
    double f = 0.8 + 0.4 * ((double)rnd / 4294967296.0);
    int64_t out = (int64_t)((double)d * f);
    return out > 0 ? out : 1;
}

/* ---- stop ---- */

static void on_handle_closed(uv_handle_t *h)
{
    pl_jobs_t *j = h->data;
    if (--j->handles_open == 0 && j->stop_cb != NULL)
        j->stop_cb(j->stop_arg);
}

static void check_stopped(pl_jobs_t *j)
{
    if (!j->stopping || j->inflight > 0 || j->pending > 0 || j->handles_open != 3 ||
        uv_is_closing((uv_handle_t *)&j->wake))
        return;
    pl_log(PL_LOG_INFO, "jobs", "op=stop worker=%s", j->worker);
    uv_close((uv_handle_t *)&j->poll, on_handle_closed);
    uv_close((uv_handle_t *)&j->maint, on_handle_closed);
    uv_close((uv_handle_t *)&j->wake, on_handle_closed);
}

void pl_jobs_stop(pl_jobs_t *j, void (*cb)(void *arg), void *arg)
{
    j->stopping = true;
    j->stop_cb = cb;
    j->stop_arg = arg;
    uv_timer_stop(&j->poll);
    uv_timer_stop(&j->maint);
    check_stopped(j);
}

/* ---- finish: complete, retry or dead ---- */

static void finish_work(pl_db_t *db, void *arg)
{
    run_t *r = arg;
    pl_jobs_t *j = r->j;
    if (r->rc == 0)
        r->frc = pl_db_job_complete(db, r->job.id, j->worker, r->now);
    else
        r->frc = pl_db_job_fail(db, r->job.id, j->worker, r->err, r->retry_at, r->dead, r->now);
    if (r->frc < 0 && r->frc != PL_ENOTFOUND)
        pl_db_rollback_job(db);
}

static void finish_done(int status, void *arg)
{
    run_t *r = arg;
    pl_jobs_t *j = r->j;
    j->pending--;
    j->inflight--;
    if (status == 0 && r->frc == PL_ENOTFOUND) {
        /* Our lease ran out and another worker holds the job now. */
        j->stats.lost++;
        pl_log(PL_LOG_WARN, "jobs", "op=finish job=%" PRId64 " kind=%s err=lease lost", r->job.id,
               r->job.kind);
    } else if (status != 0 || r->frc != 0) {
        /* Not recorded: the claim stays until its lease expires, then the
         * job runs again (at least once). */
        pl_log(PL_LOG_ERROR, "jobs", "op=finish job=%" PRId64 " kind=%s err=%s", r->job.id,
               r->job.kind, pl_strerror(status != 0 ? status : r->frc));
    } else if (r->rc == 0) {
        j->stats.succeeded++;
        pl_log(PL_LOG_DEBUG, "jobs", "op=done job=%" PRId64 " kind=%s attempts=%" PRId64, r->job.id,
               r->job.kind, r->job.attempts);
    } else {
        j->stats.failed++;
        if (r->dead)
            j->stats.died++;
        pl_log(r->dead ? PL_LOG_ERROR : PL_LOG_WARN, "jobs",
               "op=%s job=%" PRId64 " kind=%s attempts=%" PRId64 " retry_in_ms=%" PRId64
               " err=\"%s\"",
               r->dead ? "dead" : "retry", r->job.id, r->job.kind, r->job.attempts,
               r->dead ? 0 : r->retry_at - r->now, r->err);
    }
    pl_job_dispose(&r->job);
    free(r);
    if (j->stopping)
        check_stopped(j);
    else
        tick(j);
}

static void finish(run_t *r)
{
    pl_jobs_t *j = r->j;
    r->now = pl_now_ms();
    if (r->rc != 0) {
        r->dead = r->rc == PL_JOBS_PERMANENT || r->job.attempts >= j->max_attempts;
        r->retry_at = r->now + pl_jobs_backoff_ms(j->base_ms, j->max_ms, r->job.attempts,
                                                  randombytes_random());
    }
    j->pending++;
    pl_store_write(j->st, finish_work, finish_done, r);
}

/* ---- handlers on the pool ---- */

static void run_work(uv_work_t *w)
{
    run_t *r = w->data;
    uint64_t t0 = uv_hrtime();
    r->rc = r->k->run(r->k->ud, &r->job, r->j->timeout_ms, r->err, sizeof r->err);
    if (r->rc > 0)
        r->rc = PL_EIO; /* only 0 is success */
    r->overran = (uv_hrtime() - t0) / 1000000u > (uint64_t)r->j->timeout_ms;
}

static void run_after(uv_work_t *w, int status)
{
    run_t *r = w->data;
    r->j->stats.running--;
    if (status != 0) { /* cancelled: cannot happen once queued, but be safe */
        r->rc = PL_EIO;
        snprintf(r->err, sizeof r->err, "handler cancelled");
    }
    if (r->overran)
        r->j->stats.overran++;
    if (r->rc != 0 && r->err[0] == '\0')
        snprintf(r->err, sizeof r->err, "%s", pl_strerror(r->rc));
    finish(r);
}

static const kind_t *find_kind(pl_jobs_t *j, const char *kind)
{
    for (size_t i = 0; i < j->nkinds; i++)
        if (strcmp(j->kinds[i].kind, kind) == 0)
            return &j->kinds[i];
    return NULL;
}

static void start_job(pl_jobs_t *j, pl_job_t *job)
{
    run_t *r = pl_xcalloc(1, sizeof *r);
    r->j = j;
    r->job = *job; /* takes the strings */
    r->k = find_kind(j, job->kind);
    j->inflight++;
    if (r->k == NULL) {
        /* Maybe a newer node's kind: retried (another node may know it),
         * dead after the attempts like any failure. */
        j->stats.unknown++;
        r->rc = PL_EIO;
        snprintf(r->err, sizeof r->err, "no handler for kind '%.40s' on %s", job->kind, j->worker);
        finish(r);
        return;
    }
    if (job->attempts > j->max_attempts) {
        /* Claimed again after its worker died more often than it may run. */
        r->rc = PL_EIO;
        snprintf(r->err, sizeof r->err, "claimed %" PRId64 " times without finishing",
                 job->attempts);
        finish(r);
        return;
    }
    r->w.data = r;
    j->stats.running++;
    if (uv_queue_work(j->loop, &r->w, run_work, run_after) != 0) {
        j->stats.running--;
        r->rc = PL_EIO;
        snprintf(r->err, sizeof r->err, "cannot queue the handler");
        finish(r);
    }
}

/* ---- claims ---- */

typedef struct {
    pl_jobs_t *j;
    size_t limit;
    int64_t now, lease;
    pl_job_t *v;
    size_t n;
    int rc;
} claim_t;

static void claim_work(pl_db_t *db, void *arg)
{
    claim_t *c = arg;
    c->rc = pl_db_job_claim(db, c->j->worker, c->now, c->lease, c->limit, &c->v, &c->n);
    if (c->rc < 0)
        pl_db_rollback_job(db);
}

static void claim_done(int status, void *arg)
{
    claim_t *c = arg;
    pl_jobs_t *j = c->j;
    j->pending--;
    j->claiming = false;
    if (status != 0 || c->rc != 0) {
        pl_log(PL_LOG_WARN, "jobs", "op=claim err=%s", pl_strerror(status != 0 ? status : c->rc));
        for (size_t i = 0; i < c->n; i++)
            pl_job_dispose(&c->v[i]);
        c->n = 0; /* not committed: nothing is ours */
    }
    j->stats.claimed += c->n;
    /* Claimed means committed as ours: run them even when stopping began
     * (the stop waits for them). */
    for (size_t i = 0; i < c->n; i++)
        start_job(j, &c->v[i]);
    bool full = c->n > 0 && c->n == c->limit;
    free(c->v);
    free(c);
    if (j->stopping)
        check_stopped(j);
    else if (full)
        tick(j); /* more may be due: claim again when a worker is free */
}

static void tick(pl_jobs_t *j)
{
    if (!j->started || j->stopping || j->claiming || j->inflight >= j->workers)
        return;
    claim_t *c = pl_xcalloc(1, sizeof *c);
    c->j = j;
    c->limit = (size_t)(j->workers - j->inflight);
    c->now = pl_now_ms();
    c->lease = j->timeout_ms + LEASE_MARGIN_MS;
    j->claiming = true;
    j->pending++;
    pl_store_write(j->st, claim_work, claim_done, c);
}

static void on_poll(uv_timer_t *t)
{
    tick(t->data);
}

static void on_wake(uv_async_t *a)
{
    tick(a->data);
}

void pl_jobs_wake(pl_jobs_t *j)
{
    if (j != NULL)
        uv_async_send(&j->wake);
}

/* ---- maintenance: counts for stats, retention ---- */

typedef struct {
    pl_jobs_t *j;
    int64_t now;
    pl_job_counts_t c;
    size_t purged;
    int rc;
} maint_t;

static void counts_work(pl_db_t *db, void *arg)
{
    maint_t *m = arg;
    m->rc = pl_db_job_counts(db, m->now, &m->c);
}

static void counts_done(int status, void *arg)
{
    maint_t *m = arg;
    pl_jobs_t *j = m->j;
    j->pending--;
    j->counting = false;
    if (status == 0 && m->rc == 0)
        j->stats.table = m->c;
    free(m);
    check_stopped(j);
}

static void purge_work(pl_db_t *db, void *arg)
{
    maint_t *m = arg;
    m->rc = pl_db_job_purge(db, m->now, PURGE_BATCH, &m->purged);
    if (m->rc < 0)
        pl_db_rollback_job(db);
}

static void purge_done(int status, void *arg)
{
    maint_t *m = arg;
    pl_jobs_t *j = m->j;
    j->pending--;
    if (status == 0 && m->rc == 0 && m->purged > 0)
        pl_log(PL_LOG_DEBUG, "jobs", "op=purge done_jobs=%zu", m->purged);
    free(m);
    check_stopped(j);
}

static void on_maint(uv_timer_t *t)
{
    pl_jobs_t *j = t->data;
    if (j->stopping)
        return;
    if (!j->counting) {
        maint_t *m = pl_xcalloc(1, sizeof *m);
        m->j = j;
        m->now = pl_now_ms();
        j->counting = true;
        j->pending++;
        pl_store_read(j->st, counts_work, counts_done, m);
    }
    if (j->rounds++ % PURGE_EVERY == 0) {
        maint_t *m = pl_xcalloc(1, sizeof *m);
        m->j = j;
        m->now = pl_now_ms() - j->retention_ms;
        j->pending++;
        pl_store_write(j->st, purge_work, purge_done, m);
    }
}

/* ---- lifecycle ---- */

int pl_jobs_new(uv_loop_t *loop, pl_store_t *st, const pl_config_t *cfg, pl_jobs_t **out)
{
    pl_jobs_t *j = pl_xcalloc(1, sizeof *j);
    j->loop = loop;
    j->st = st;
    j->workers = cfg->jobs_workers;
    j->poll_ms = cfg->jobs_poll_ms;
    j->timeout_ms = cfg->jobs_timeout_ms;
    j->base_ms = cfg->jobs_retry_base_ms;
    j->max_ms = cfg->jobs_retry_max_ms;
    j->max_attempts = cfg->jobs_max_attempts;
    j->retention_ms = cfg->jobs_retention_ms;
    /* One SQLite node owns its database: a fixed name, so a restart takes
     * its old claims back at once (pl_jobs_start) instead of waiting out
     * their leases. Several nodes: node_id (fixed per node by the operator)
     * or hostname-pid. */
    if (cfg->node_id[0] != '\0') {
        snprintf(j->worker, sizeof j->worker, "%s", cfg->node_id);
    } else if (strcmp(cfg->store, "postgres") != 0) {
        snprintf(j->worker, sizeof j->worker, "local");
    } else {
        char host[64] = "node";
        (void)gethostname(host, sizeof host);
        host[sizeof host - 1] = '\0';
        snprintf(j->worker, sizeof j->worker, "%s-%ld", host, (long)getpid());
    }
    uv_timer_init(loop, &j->poll);
    uv_timer_init(loop, &j->maint);
    uv_async_init(loop, &j->wake, on_wake);
    j->poll.data = j->maint.data = j->wake.data = j;
    j->handles_open = 3;
    *out = j;
    return 0;
}

int pl_jobs_register(pl_jobs_t *j, const char *kind, pl_jobs_handler_cb run, void *ud)
{
    if (pl_job_check(kind, NULL, "{}") != 0 || run == NULL)
        return PL_EINVAL;
    if (find_kind(j, kind) != NULL)
        return PL_EEXIST;
    if (j->nkinds >= KINDS_MAX)
        return PL_ETOOBIG;
    kind_t *k = &j->kinds[j->nkinds++];
    snprintf(k->kind, sizeof k->kind, "%s", kind);
    k->run = run;
    k->ud = ud;
    return 0;
}

typedef struct {
    pl_jobs_t *j;
    size_t n;
    int rc;
} release_t;

static void release_work(pl_db_t *db, void *arg)
{
    release_t *r = arg;
    r->rc = pl_db_job_release(db, r->j->worker, &r->n);
    if (r->rc < 0)
        pl_db_rollback_job(db);
}

static void release_done(int status, void *arg)
{
    release_t *r = arg;
    pl_jobs_t *j = r->j;
    j->pending--;
    if (status == 0 && r->rc == 0 && r->n > 0)
        pl_log(PL_LOG_INFO, "jobs", "op=release worker=%s jobs=%zu", j->worker, r->n);
    free(r);
    if (j->stopping) {
        check_stopped(j);
        return;
    }
    j->started = true;
    uv_timer_start(&j->poll, on_poll, (uint64_t)j->poll_ms, (uint64_t)j->poll_ms);
    tick(j);
}

void pl_jobs_start(pl_jobs_t *j)
{
    /* Counts for stats every few polls (at most 5 s apart), on every node. */
    uint64_t every = (uint64_t)PL_MIN(PL_MAX(j->poll_ms * 2, 200), 5000);
    uv_timer_start(&j->maint, on_maint, 0, every);
    pl_log(PL_LOG_INFO, "jobs", "op=start worker=%s workers=%" PRId64 " kinds=%zu", j->worker,
           j->workers, j->nkinds);
    if (j->workers == 0)
        return;
    release_t *r = pl_xcalloc(1, sizeof *r);
    r->j = j;
    j->pending++;
    pl_store_write(j->st, release_work, release_done, r);
}

void pl_jobs_free(pl_jobs_t *j)
{
    free(j);
}

void pl_jobs_get_stats(pl_jobs_t *j, pl_jobs_stats_t *out)
{
    *out = j->stats;
}
