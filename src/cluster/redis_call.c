/* SPDX-License-Identifier: MIT */
/* redis_call.c -- commands on the cluster's publishing connection and the
 * bookkeeping of their owners (redis_call.h). */
#include "cluster/redis_call.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

typedef struct {
    pl_rcall_t c;
    pl_rcall_reply_fn on;
} call_t;

static void maybe_release(pl_rcall_owner_t *o)
{
    if (o->dead && o->pending == 0)
        o->release(o);
}

static void on_reply(redisAsyncContext *ac, void *rp, void *priv)
{
    (void)ac;
    call_t *c = priv;
    const redisReply *r = rp;
    pl_rcall_owner_t *o = c->c.owner;
    int rc = r == NULL ? PL_ECLOSED : 0;
    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        pl_log(PL_LOG_WARN, "cluster", "%s call failed kind=%d err=\"%.*s\"", o->what, c->c.kind,
               (int)(r->len < 200 ? r->len : 200), r->str);
        rc = PL_EPROTO;
    }
    if (c->on(&c->c, r, rc) == PL_EPROTO)
        pl_log(PL_LOG_WARN, "cluster", "%s: unexpected reply kind=%d", o->what, c->c.kind);
    free(c);
    o->pending--;
    maybe_release(o);
}

int pl_rcall_send(pl_rcall_owner_t *o, pl_rcall_reply_fn on, int kind, void (*cb)(void), void *arg,
                  size_t n, const pl_rargs_t *g)
{
    redisAsyncContext *ac = o->dead ? NULL : pl_cluster__pub(o->cl);
    if (ac == NULL)
        return PL_ECLOSED;
    call_t *c = pl_xcalloc(1, sizeof *c);
    c->c = (pl_rcall_t){.owner = o, .kind = kind, .cb = cb, .arg = arg, .n = n};
    c->on = on;
    if (redisAsyncCommandArgv(ac, on_reply, c, g->argc, g->argv, g->argl) != REDIS_OK) {
        free(c);
        return PL_ECLOSED;
    }
    o->pending++;
    return 0;
}

void pl_rcall_close(pl_rcall_owner_t *o)
{
    o->dead = true;
    maybe_release(o);
}

bool pl_rcall_up(const pl_rcall_owner_t *o)
{
    return !o->dead && pl_cluster__pub(o->cl) != NULL;
}

/* ---- arguments ---- */

void pl_rargs_init(pl_rargs_t *g, size_t cap)
{
    g->argv = pl_xcalloc(cap, sizeof *g->argv);
    g->argl = pl_xcalloc(cap, sizeof *g->argl);
    g->nums = pl_xcalloc(cap, sizeof *g->nums);
    g->argc = 0;
    g->cap = (int)cap;
}

void pl_rargs_dispose(pl_rargs_t *g)
{
    free(g->argv);
    free(g->argl);
    free(g->nums);
}

/* More arguments than pl_rargs_init made room for: a bug in the caller. */
static void check_room(const pl_rargs_t *g)
{
    if (g->argc < g->cap)
        return;
    pl_log(PL_LOG_ERROR, "cluster", "redis call: more than %d arguments", g->cap);
    abort();
}

void pl_rargs_mem(pl_rargs_t *g, const char *s, size_t len)
{
    check_room(g);
    g->argv[g->argc] = s;
    g->argl[g->argc++] = len;
}

void pl_rargs_str(pl_rargs_t *g, const char *s)
{
    pl_rargs_mem(g, s, strlen(s));
}

/* Formats into the slot of the argument about to be added. */
static char *num_slot(pl_rargs_t *g)
{
    check_room(g);
    return g->nums[g->argc];
}

static void add_num(pl_rargs_t *g, char *p, int len)
{
    int max = (int)sizeof g->nums[0];
    pl_rargs_mem(g, p, (size_t)(len < 0 ? 0 : len < max ? len : max - 1));
}

void pl_rargs_fmt(pl_rargs_t *g, const char *fmt, int64_t v)
{
    char *p = num_slot(g);
    add_num(g, p, snprintf(p, sizeof g->nums[0], fmt, v));
}

void pl_rargs_i64(pl_rargs_t *g, int64_t v)
{
    char *p = num_slot(g);
    add_num(g, p, snprintf(p, sizeof g->nums[0], "%" PRId64, v));
}

void pl_rargs_double(pl_rargs_t *g, double v)
{
    char *p = num_slot(g);
    add_num(g, p, snprintf(p, sizeof g->nums[0], "%.9g", v));
}

void pl_rargs_script(pl_rargs_t *g, const char *script, size_t len)
{
    pl_rargs_mem(g, "EVAL", 4);
    pl_rargs_mem(g, script, len);
    pl_rargs_mem(g, "0", 1);
}
