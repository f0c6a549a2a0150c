/* SPDX-License-Identifier: MIT */
/* state.c -- presence and rate-limit buckets shared in Redis (state.h): Lua
 * scripts on the cluster's publishing connection, and their replies checked
 * and decoded. */
#include "cluster/state.h"

#include <errno.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/redis_call.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

/* The Redis time in ms; TIME makes the script non-deterministic, so it is
 * replicated by its effects (the default from Redis 7; asked for before). */
#define LUA_NOW                                                                                    \
    "if redis.replicate_commands then redis.replicate_commands() end\n"                            \
    "local tm = redis.call('TIME')\n"                                                              \
    "local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)\n"

/* list: the users touched; appends to out each one whose status over the
 * live nodes differs from pl:ps:<user>, and stores the new one. */
#define LUA_SETTLE                                                                                 \
    "local function settle(list, out)\n"                                                           \
    "  local live = redis.call('ZRANGEBYSCORE', 'pl:live', now, '+inf')\n"                         \
    "  for _, u in ipairs(list) do\n"                                                              \
    "    local a = 0\n"                                                                            \
    "    for _, n in ipairs(live) do\n"                                                            \
    "      local v = redis.call('HGET', 'pl:pn:' .. n, u)\n"                                       \
    "      if v == '1' then a = 1 break elseif v == '2' then a = 2 end\n"                          \
    "    end\n"                                                                                    \
    "    local old = tonumber(redis.call('GET', 'pl:ps:' .. u) or '0')\n"                          \
    "    if a ~= old then\n"                                                                       \
    "      if a == 0 then redis.call('DEL', 'pl:ps:' .. u)\n"                                      \
    "      else redis.call('SET', 'pl:ps:' .. u, a) end\n"                                         \
    "      out[#out + 1] = u\n"                                                                    \
    "      out[#out + 1] = a\n"                                                                    \
    "    end\n"                                                                                    \
    "  end\n"                                                                                      \
    "end\n"

/* ARGV: node, ttl_ms, mode ('r' replace, 's' set), then user, status pairs.
 * Returns the changes as user, status pairs. */
static const char lua_set[] = LUA_NOW LUA_SETTLE
    "local node, ttl = ARGV[1], tonumber(ARGV[2])\n"
    "local hk = 'pl:pn:' .. node\n"
    "local seen, list = {}, {}\n"
    "local function touch(u) if not seen[u] then seen[u] = true list[#list + 1] = u end end\n"
    "if ARGV[3] == 'r' then\n"
    "  for _, u in ipairs(redis.call('HKEYS', hk)) do touch(u) end\n"
    "  redis.call('DEL', hk)\n"
    "  redis.call('ZADD', 'pl:live', now + ttl, node)\n"
    "else\n"
    "  redis.call('ZADD', 'pl:live', 'XX', now + ttl, node)\n"
    "end\n"
    "for i = 4, #ARGV - 1, 2 do\n"
    "  local u, s = ARGV[i], ARGV[i + 1]\n"
    "  if s == '0' then redis.call('HDEL', hk, u) else redis.call('HSET', hk, u, s) end\n"
    "  touch(u)\n"
    "end\n"
    "local out = {}\n"
    "settle(list, out)\n"
    "return out\n";

/* ARGV: node, ttl_ms. Returns {1 if the node was not there, then the
 * changes of reaped nodes' users as user, status pairs}. */
static const char lua_heartbeat[] =
    LUA_NOW LUA_SETTLE "local node, ttl = ARGV[1], tonumber(ARGV[2])\n"
                       "local out = {redis.call('ZADD', 'pl:live', now + ttl, node)}\n"
                       "local dead = redis.call('ZRANGEBYSCORE', 'pl:live', '-inf', '(' .. now)\n"
                       "if #dead > 0 then\n"
                       "  local seen, list = {}, {}\n"
                       "  for _, n in ipairs(dead) do\n"
                       "    redis.call('ZREM', 'pl:live', n)\n"
                       "    for _, u in ipairs(redis.call('HKEYS', 'pl:pn:' .. n)) do\n"
                       "      if not seen[u] then seen[u] = true list[#list + 1] = u end\n"
                       "    end\n"
                       "    redis.call('DEL', 'pl:pn:' .. n)\n"
                       "  end\n"
                       "  settle(list, out)\n"
                       "end\n"
                       "return out\n";

/* ARGV: rate, burst, then user, count pairs. Returns each bucket's tokens
 * (a string) after taking the count; the bucket may owe down to -burst. */
static const char lua_rate[] =
    LUA_NOW "local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
            "local ttl = math.ceil(burst * 2000 / rate) + 1000\n"
            "local out = {}\n"
            "for i = 3, #ARGV - 1, 2 do\n"
            "  local k = 'pl:rl:' .. ARGV[i]\n"
            "  local v = redis.call('HMGET', k, 't', 'a')\n"
            "  local t = tonumber(v[1]) or burst\n"
            "  local at = tonumber(v[2]) or now\n"
            "  if now > at then t = math.min(burst, t + (now - at) * rate / 1000) end\n"
            "  t = t - tonumber(ARGV[i + 1])\n"
            "  if t < -burst then t = -burst end\n"
            "  redis.call('HSET', k, 't', tostring(t), 'a', tostring(now))\n"
            "  redis.call('PEXPIRE', k, ttl)\n"
            "  out[#out + 1] = tostring(t)\n"
            "end\n"
            "return out\n";

enum { CALL_SET, CALL_HB, CALL_GET, CALL_RATE };

struct pl_cstate {
    pl_rcall_owner_t o; /* calls: n is the number of users asked (get, rate) */
    int64_t ttl_ms;
};
_Static_assert(offsetof(pl_cstate_t, o) == 0, "release frees the owner as the state");

/* ---- decoding (pure) ---- */

static bool parse_i64(const char *s, size_t len, int64_t *out)
{
    if (len == 0 || len > 19)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int pl_cstate__decode_changes(const void *rp, size_t first, pl_cstate_pres_t **out)
{
    const redisReply *r = rp;
    *out = NULL;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < first ||
        (r->elements - first) % 2 != 0)
        return PL_EPROTO;
    size_t n = (r->elements - first) / 2;
    if (n == 0)
        return 0;
    pl_cstate_pres_t *c = pl_xcalloc(n, sizeof *c);
    for (size_t i = 0; i < n; i++) {
        const redisReply *u = r->element[first + 2 * i], *s = r->element[first + 2 * i + 1];
        if (u == NULL || s == NULL || u->type != REDIS_REPLY_STRING ||
            !parse_i64(u->str, u->len, &c[i].user) || c[i].user <= 0 ||
            s->type != REDIS_REPLY_INTEGER || s->integer < 0 || s->integer > 2) {
            free(c);
            return PL_EPROTO;
        }
        c[i].status = (int)s->integer;
    }
    *out = c;
    return (int)n;
}

int pl_cstate__decode_status(const void *rp, size_t n, int *out)
{
    const redisReply *r = rp;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != n)
        return PL_EPROTO;
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = r->element[i];
        if (e == NULL)
            return PL_EPROTO;
        if (e->type == REDIS_REPLY_NIL)
            out[i] = 0;
        else if (e->type == REDIS_REPLY_STRING && e->len == 1 &&
                 (e->str[0] == '1' || e->str[0] == '2'))
            out[i] = e->str[0] - '0';
        else
            return PL_EPROTO;
    }
    return 0;
}

int pl_cstate__decode_tokens(const void *rp, size_t n, double *out)
{
    const redisReply *r = rp;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != n)
        return PL_EPROTO;
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = r->element[i];
        char buf[64];
        if (e == NULL || e->type != REDIS_REPLY_STRING || e->len == 0 || e->len >= sizeof buf)
            return PL_EPROTO;
        memcpy(buf, e->str, e->len);
        buf[e->len] = '\0';
        char *end;
        errno = 0;
        double v = strtod(buf, &end);
        if (end != buf + e->len || errno != 0 || !isfinite(v)) /* a NUL inside too */
            return PL_EPROTO;
        out[i] = v;
    }
    return 0;
}

/* ---- calls ---- */

static int on_reply(const pl_rcall_t *c, const void *rp, int rc)
{
    const redisReply *r = rp;
    switch (c->kind) {
    case CALL_SET:
    case CALL_HB: {
        pl_cstate_pres_t *ch = NULL;
        int n = 0;
        bool rejoined = false;
        size_t first = c->kind == CALL_HB ? 1 : 0;
        if (rc == 0 && c->kind == CALL_HB &&
            (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0] == NULL ||
             r->element[0]->type != REDIS_REPLY_INTEGER))
            rc = PL_EPROTO;
        if (rc == 0 && c->kind == CALL_HB)
            rejoined = r->element[0]->integer == 1;
        if (rc == 0 && (n = pl_cstate__decode_changes(r, first, &ch)) < 0)
            rc = n;
        if (rc != 0)
            n = 0;
        if (c->kind == CALL_SET)
            ((pl_cstate_pres_cb)c->cb)(c->arg, rc, ch, (size_t)n);
        else
            ((pl_cstate_hb_cb)c->cb)(c->arg, rc, rejoined, ch, (size_t)n);
        free(ch);
        break;
    }
    case CALL_GET: {
        int *s = pl_xcalloc(c->n + 1, sizeof *s);
        if (rc == 0)
            rc = pl_cstate__decode_status(r, c->n, s);
        ((pl_cstate_get_cb)c->cb)(c->arg, rc, rc == 0 ? s : NULL, rc == 0 ? c->n : 0);
        free(s);
        break;
    }
    case CALL_RATE: {
        double *t = pl_xcalloc(c->n + 1, sizeof *t);
        if (rc == 0)
            rc = pl_cstate__decode_tokens(r, c->n, t);
        ((pl_cstate_rate_cb)c->cb)(c->arg, rc, rc == 0 ? t : NULL, rc == 0 ? c->n : 0);
        free(t);
        break;
    }
    }
    return rc;
}

/* Sends g and frees it; on success the reply goes to cb through on_reply. */
static int send_call(pl_cstate_t *st, int kind, void (*cb)(void), void *arg, size_t n,
                     pl_rargs_t *g)
{
    int rc = pl_rcall_send(&st->o, on_reply, kind, cb, arg, n, g);
    pl_rargs_dispose(g);
    return rc;
}

static void release(pl_rcall_owner_t *o)
{
    free(o); /* the first member of pl_cstate_t */
}

pl_cstate_t *pl_cstate_new(pl_cluster_t *cl, int64_t ttl_ms)
{
    pl_cstate_t *st = pl_xcalloc(1, sizeof *st);
    st->o = (pl_rcall_owner_t){.cl = cl, .what = "shared state", .release = release};
    st->ttl_ms = ttl_ms;
    return st;
}

void pl_cstate_free(pl_cstate_t *st)
{
    if (st == NULL)
        return;
    pl_rcall_close(&st->o);
}

bool pl_cstate_up(pl_cstate_t *st)
{
    return pl_rcall_up(&st->o);
}

uint64_t pl_cstate_epoch(pl_cstate_t *st)
{
    return pl_cluster__pub_epoch(st->o.cl);
}

int pl_cstate_presence_set(pl_cstate_t *st, bool replace, const pl_cstate_pres_t *mine, size_t n,
                           pl_cstate_pres_cb cb, void *arg)
{
    if (n > PL_CSTATE_BATCH * 64)
        return PL_EINVAL;
    const char *node = pl_cluster_node(st->o.cl);
    pl_rargs_t a;
    pl_rargs_init(&a, 6 + 2 * n);
    pl_rargs_script(&a, lua_set, sizeof lua_set - 1);
    pl_rargs_str(&a, node);
    pl_rargs_i64(&a, st->ttl_ms);
    pl_rargs_str(&a, replace ? "r" : "s");
    for (size_t i = 0; i < n; i++) {
        pl_rargs_i64(&a, mine[i].user);
        pl_rargs_i64(&a, mine[i].status);
    }
    return send_call(st, CALL_SET, (void (*)(void))cb, arg, n, &a);
}

int pl_cstate_heartbeat(pl_cstate_t *st, pl_cstate_hb_cb cb, void *arg)
{
    const char *node = pl_cluster_node(st->o.cl);
    pl_rargs_t a;
    pl_rargs_init(&a, 6);
    pl_rargs_script(&a, lua_heartbeat, sizeof lua_heartbeat - 1);
    pl_rargs_str(&a, node);
    pl_rargs_i64(&a, st->ttl_ms);
    return send_call(st, CALL_HB, (void (*)(void))cb, arg, 0, &a);
}

int pl_cstate_presence_get(pl_cstate_t *st, const int64_t *users, size_t n, pl_cstate_get_cb cb,
                           void *arg)
{
    if (n == 0 || n > PL_CSTATE_BATCH)
        return PL_EINVAL;
    pl_rargs_t a;
    pl_rargs_init(&a, 1 + n);
    pl_rargs_str(&a, "MGET");
    for (size_t i = 0; i < n; i++)
        pl_rargs_fmt(&a, "pl:ps:%" PRId64, users[i]);
    return send_call(st, CALL_GET, (void (*)(void))cb, arg, n, &a);
}

int pl_cstate_rate_take(pl_cstate_t *st, double rate, double burst, const int64_t *users,
                        const uint32_t *counts, size_t n, pl_cstate_rate_cb cb, void *arg)
{
    if (n == 0 || n > PL_CSTATE_BATCH || !(rate > 0) || !(burst > 0))
        return PL_EINVAL;
    pl_rargs_t a;
    pl_rargs_init(&a, 5 + 2 * n);
    pl_rargs_script(&a, lua_rate, sizeof lua_rate - 1);
    pl_rargs_double(&a, rate);
    pl_rargs_double(&a, burst);
    for (size_t i = 0; i < n; i++) {
        pl_rargs_i64(&a, users[i]);
        pl_rargs_i64(&a, (int64_t)counts[i]);
    }
    return send_call(st, CALL_RATE, (void (*)(void))cb, arg, n, &a);
}
