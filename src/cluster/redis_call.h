/* SPDX-License-Identifier: MIT */
/* redis_call.h -- one command on the cluster's publishing connection, its
 * reply handed back to the module that sent it (state.c, auth_state.c).
 *
 * An owner counts its calls in flight: closing it while replies are still
 * due defers its release until the last one has come back (hiredis calls
 * every callback once, with a NULL reply when the connection goes). */
#ifndef PL_CLUSTER_REDIS_CALL_H
#define PL_CLUSTER_REDIS_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/cluster.h"

typedef struct pl_rcall_owner pl_rcall_owner_t;

struct pl_rcall_owner {
    pl_cluster_t *cl;
    const char *what;                        /* for the log: "shared state" */
    void (*release)(pl_rcall_owner_t *self); /* frees the owner once closed and idle */
    int pending;                             /* calls sent, not answered */
    bool dead;                               /* pl_rcall_close was called */
};

/* One call: what the owner's reply function needs to decode and answer. */
typedef struct {
    pl_rcall_owner_t *owner;
    int kind;
    void (*cb)(void); /* the kind's callback type */
    void *arg;
    size_t n;
} pl_rcall_t;

/* Decodes r (a redisReply, NULL when the connection closed) and calls c->cb.
 * rc is PL_ECLOSED without a reply, PL_EPROTO for an error reply (already
 * logged), else 0. Returns the outcome (PL_EPROTO is logged). */
typedef int (*pl_rcall_reply_fn)(const pl_rcall_t *c, const void *r, int rc);

/* A command's arguments, numbers formatted into storage of their own. */
typedef struct {
    const char **argv;
    size_t *argl;
    char (*nums)[32];
    int argc, cap;
} pl_rargs_t;

void pl_rargs_init(pl_rargs_t *g, size_t cap);
void pl_rargs_dispose(pl_rargs_t *g);
void pl_rargs_mem(pl_rargs_t *g, const char *s, size_t len);
void pl_rargs_str(pl_rargs_t *g, const char *s);
/* fmt holds one int64 conversion ("%" PRId64, "pl:ps:%" PRId64). */
void pl_rargs_fmt(pl_rargs_t *g, const char *fmt, int64_t v);
void pl_rargs_i64(pl_rargs_t *g, int64_t v);
void pl_rargs_double(pl_rargs_t *g, double v);
/* EVAL script 0: a Lua script with no keys (they are built from ARGV). */
void pl_rargs_script(pl_rargs_t *g, const char *script, size_t len);

/* Sends g; on success on(c, reply, rc) runs once when the reply is in.
 * PL_ECLOSED when the owner is closed or Redis is not connected. */
int pl_rcall_send(pl_rcall_owner_t *o, pl_rcall_reply_fn on, int kind, void (*cb)(void), void *arg,
                  size_t n, const pl_rargs_t *g);

/* Closes the owner: release runs now, or after the last pending reply. */
void pl_rcall_close(pl_rcall_owner_t *o);

/* Whether calls can be sent now. */
bool pl_rcall_up(const pl_rcall_owner_t *o);

#endif
