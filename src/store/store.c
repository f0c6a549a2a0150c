/* SPDX-License-Identifier: MIT */
/* store.c -- the public store API: picks the backend at open (config key
 * `store`) and dispatches every pl_store_* / pl_db_* call through the
 * backend of its store or connection (store_backend.h). */
#include "store/store.h"

#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "store/store_backend.h"

int pl_store_open(uv_loop_t *loop, const pl_config_t *cfg, pl_store_t **out)
{
    const char *kind = cfg->store != NULL && cfg->store[0] != '\0' ? cfg->store : "sqlite";
    if (strcmp(kind, "sqlite") == 0)
        return pl_store_sqlite_backend.open(loop, cfg, out);
    if (strcmp(kind, "postgres") == 0)
        return pl_store_pg_backend.open(loop, cfg, out);
    pl_log(PL_LOG_ERROR, "store", "op=open err=unknown store backend '%s'", kind);
    return PL_EIO;
}

void pl_store_close(pl_store_t *st)
{
    if (st != NULL)
        PL_STORE_BE(st)->close(st);
}

pl_db_t *pl_store_direct(pl_store_t *st)
{
    return PL_STORE_BE(st)->direct(st);
}

void pl_store_write(pl_store_t *st, pl_store_work_cb work, pl_store_done_cb done, void *arg)
{
    PL_STORE_BE(st)->write(st, work, done, arg);
}

void pl_store_read(pl_store_t *st, pl_store_work_cb work, pl_store_done_cb done, void *arg)
{
    PL_STORE_BE(st)->read(st, work, done, arg);
}

void pl_store_get_stats(pl_store_t *st, pl_store_stats_t *out)
{
    PL_STORE_BE(st)->get_stats(st, out);
}

void pl_db_rollback_job(pl_db_t *db)
{
    PL_STORE_BE(db)->rollback_job(db);
}

/* The write job of a post: backend-neutral, it calls the dispatched
 * pl_db_message_send. */
static void post_work(pl_db_t *db, void *arg)
{
    pl_post_t *p = arg;
    if (pl_db_message_send(db, p) < 0)
        pl_db_rollback_job(db);
    else if (p->after != NULL && p->refused == PL_REFUSAL_NONE && !p->duplicate)
        p->after(db, &p->message, p->after_arg);
}

static void post_done(int status, void *arg)
{
    pl_post_t *p = arg;
    p->_done(status, p->_arg);
}

void pl_store_message_post(pl_store_t *st, pl_post_t *p, pl_store_done_cb done, void *arg)
{
    p->_done = done;
    p->_arg = arg;
    const pl_store_backend_t *be = PL_STORE_BE(st);
    if (be->write_post != NULL)
        be->write_post(st, p, post_work, post_done);
    else
        pl_store_write(st, post_work, post_done, p);
}

static int unsupported(const pl_store_backend_t *be, const char *fn)
{
    pl_log(PL_LOG_ERROR, "store", "op=%s err=not implemented by the %s backend", fn, be->name);
    return PL_EIO;
}

#define PL_DISPATCH(name, params, args)                                                            \
    int pl_db_##name params                                                                        \
    {                                                                                              \
        const pl_store_backend_t *be = PL_STORE_BE(db);                                            \
        return be->name != NULL ? be->name args : unsupported(be, #name);                          \
    }
PL_STORE_ALL_FNS(PL_DISPATCH)
#undef PL_DISPATCH
