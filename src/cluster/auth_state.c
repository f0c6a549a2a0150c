/* SPDX-License-Identifier: MIT */
/* auth_state.c -- login state shared in Redis (auth_state.h): two Lua
 * scripts on the cluster's publishing connection, and their replies checked
 * and decoded. */
#include "cluster/auth_state.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/redis_call.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

/* The Redis time in ms (see state.c: the scripts replicate by effects). */
#define LUA_NOW                                                                                    \
    "if redis.replicate_commands then redis.replicate_commands() end\n"                            \
    "local tm = redis.call('TIME')\n"                                                              \
    "local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)\n"

/* ARGV: op, kind, id, then per op:
 *   put:    value, tag, ttl_ms, max, evict ('1'/'0'), addr, per_addr
 *           -> 0 stored, 1 address cap, 2 full
 *   get / take: tag -> the value or nil
 *   claim:  tag, lease_ms -> the value or nil (claimed counts as absent)
 *   finish: ok ('1'/'0'), tries -> failures counted
 * A record's expiry is its key's PEXPIRE; the sorted sets only count. */
static const char lua_slot[] =
    LUA_NOW "local op, ix = ARGV[1], 'pl:a:' .. ARGV[2]\n"
            "local id = ARGV[3]\n"
            "local k = ix .. ':' .. id\n"
            "local function drop()\n"
            "  local x = redis.call('HGET', k, 'x')\n"
            "  if x and x ~= '' then redis.call('ZREM', ix .. ':ip:' .. x, id) end\n"
            "  redis.call('DEL', k)\n"
            "  redis.call('ZREM', ix, id)\n"
            "end\n"
            "if op == 'put' then\n"
            "  local ttl, max, per = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[10])\n"
            "  local addr = ARGV[9]\n"
            "  redis.call('ZREMRANGEBYSCORE', ix, '-inf', now)\n"
            "  local ax = nil\n"
            "  if addr ~= '' then\n"
            "    ax = ix .. ':ip:' .. addr\n"
            "    redis.call('ZREMRANGEBYSCORE', ax, '-inf', now)\n"
            "    if redis.call('ZCARD', ax) >= per then return 1 end\n"
            "  end\n"
            "  if not redis.call('ZSCORE', ix, id) then\n"
            "    while redis.call('ZCARD', ix) >= max do\n"
            "      if ARGV[8] ~= '1' then return 2 end\n"
            "      local old = redis.call('ZRANGE', ix, 0, 0)[1]\n"
            "      local ok = ix .. ':' .. old\n"
            "      local x = redis.call('HGET', ok, 'x')\n"
            "      if x and x ~= '' then redis.call('ZREM', ix .. ':ip:' .. x, old) end\n"
            "      redis.call('DEL', ok)\n"
            "      redis.call('ZREM', ix, old)\n"
            "    end\n"
            "  else\n"
            "    drop()\n"
            "  end\n"
            "  redis.call('DEL', k)\n"
            "  redis.call('HSET', k, 'v', ARGV[4], 't', ARGV[5], 'f', 0, 'x', addr)\n"
            "  redis.call('PEXPIRE', k, ttl)\n"
            "  redis.call('ZADD', ix, now + ttl, id)\n"
            "  if ax then\n"
            "    redis.call('ZADD', ax, now + ttl, id)\n"
            "    redis.call('PEXPIRE', ax, ttl)\n"
            "  end\n"
            "  return 0\n"
            "end\n"
            "local v = redis.call('HMGET', k, 'v', 't', 'c', 'f')\n"
            "if not v[1] then return false end\n"
            "if op == 'finish' then\n"
            "  if ARGV[4] == '1' then drop() return 0 end\n"
            "  local f = redis.call('HINCRBY', k, 'f', 1)\n"
            "  if f >= tonumber(ARGV[5]) then drop() else redis.call('HDEL', k, 'c') end\n"
            "  return f\n"
            "end\n"
            "if ARGV[4] ~= '' and v[2] ~= ARGV[4] then return false end\n"
            "if op == 'take' then drop() end\n"
            "if op == 'claim' then\n"
            "  if v[3] and tonumber(v[3]) > now then return false end\n"
            "  redis.call('HSET', k, 'c', now + tonumber(ARGV[5]))\n"
            "end\n"
            "return v[1]\n";

/* Token buckets as core/ratelimit.c: created full, refilled at rate per
 * second up to burst; a key expires once its bucket would be full again. */
#define LUA_BUCKETS                                                                                \
    "local function level(k, rate, burst)\n"                                                       \
    "  local v = redis.call('HMGET', k, 't', 'a')\n"                                               \
    "  local t, at = tonumber(v[1]) or burst, tonumber(v[2]) or now\n"                             \
    "  if now > at then t = math.min(burst, t + (now - at) * rate / 1000) end\n"                   \
    "  return t\n"                                                                                 \
    "end\n"                                                                                        \
    "local function save(k, t, rate, burst)\n"                                                     \
    "  redis.call('HSET', k, 't', tostring(t), 'a', tostring(now))\n"                              \
    "  redis.call('PEXPIRE', k, math.ceil((burst - t) * 1000 / rate) + 1000)\n"                    \
    "end\n"                                                                                        \
    "local function take(k, rate, burst)\n"                                                        \
    "  local t = level(k, rate, burst)\n"                                                          \
    "  if t >= 1 then save(k, t - 1, rate, burst) return 0 end\n"                                  \
    "  return math.ceil((1 - t) * 1000 / rate)\n"                                                  \
    "end\n"                                                                                        \
    "local function refund(k, rate, burst)\n"                                                      \
    "  save(k, math.min(burst, level(k, rate, burst) + 1), rate, burst)\n"                         \
    "end\n"

/* ARGV: op ('reg', 'begin', 'end'), user (hex), ip (hex), then the five
 * buckets' rate and burst (reg_ip, login_ip, fail_ip, fail_acct_ip,
 * fail_acct: ARGV[4..13]), free_failures, backoff_max_ms, known_ms
 * (ARGV[14..16]); end also outcome ('o', 'f', 'a') and account ('1'/'0'). */
static const char lua_limits[] = LUA_NOW LUA_BUCKETS
    "local op, user, ip = ARGV[1], ARGV[2], ARGV[3]\n"
    "local r = {}\n"
    "for i = 4, 13 do r[i - 3] = tonumber(ARGV[i]) end\n"
    "local free, bmax, known = tonumber(ARGV[14]), tonumber(ARGV[15]), tonumber(ARGV[16])\n"
    "if op == 'reg' then return {take('pl:l:reg:' .. ip, r[1], r[2])} end\n"
    "local pair = user .. ':' .. ip\n"
    "local kfip, kfap, kfa = 'pl:l:fip:' .. ip, 'pl:l:fap:' .. pair, 'pl:l:fa:' .. user\n"
    "local kbo, kkn = 'pl:l:bo:' .. pair, 'pl:l:kn:' .. pair\n"
    "if op == 'begin' then\n"
    "  local w = take('pl:l:lip:' .. ip, r[3], r[4])\n"
    "  if w > 0 then return {w, 1, 0} end\n"
    "  local u = tonumber(redis.call('HGET', kbo, 'u') or '0')\n"
    "  if u > now then return {u - now, 2, 0} end\n"
    "  local wi, wp, wa = take(kfip, r[5], r[6]), take(kfap, r[7], r[8]), take(kfa, r[9], r[10])\n"
    "  local account = wa == 0\n"
    "  if wa > 0 and redis.call('EXISTS', kkn) == 1 then wa = 0 end\n"
    "  if wi == 0 and wp == 0 and wa == 0 then return {0, 0, account and 1 or 0} end\n"
    "  if wi == 0 then refund(kfip, r[5], r[6]) end\n"
    "  if wp == 0 then refund(kfap, r[7], r[8]) end\n"
    "  if account then refund(kfa, r[9], r[10]) end\n"
    "  local why = 5\n"
    "  if wp > 0 then why = 3 elseif wi > 0 then why = 4 end\n"
    "  return {math.max(wi, wp, wa), why, 0}\n"
    "end\n"
    "local outcome = ARGV[17]\n"
    "if outcome == 'f' then\n"
    "  local f = redis.call('HINCRBY', kbo, 'f', 1)\n"
    "  local wait = 0\n"
    "  if f > free then\n"
    "    local n = f - free - 1\n"
    "    if n >= 40 then wait = bmax else wait = math.min(1000 * 2 ^ n, bmax) end\n"
    "  end\n"
    "  redis.call('HSET', kbo, 'u', now + wait)\n"
    "  redis.call('PEXPIRE', kbo, wait + 3600000)\n"
    "  return {0}\n"
    "end\n"
    "if outcome == 'o' then redis.call('DEL', kbo) end\n"
    "refund(kfip, r[5], r[6])\n"
    "refund(kfap, r[7], r[8])\n"
    "if ARGV[18] == '1' then refund(kfa, r[9], r[10]) end\n"
    "if outcome == 'o' then redis.call('SET', kkn, '1', 'PX', known) end\n"
    "return {0}\n";

enum { CALL_STR, CALL_INT, CALL_LIMIT };

struct pl_cauth {
    pl_rcall_owner_t o; /* calls: n is the number of integers expected (limits) */
};
_Static_assert(offsetof(pl_cauth_t, o) == 0, "release frees the owner as the state");

/* ---- decoding (pure) ---- */

int pl_cauth__decode_str(const void *rp, const char **v, size_t *len)
{
    const redisReply *r = rp;
    if (r == NULL)
        return PL_EPROTO;
    if (r->type == REDIS_REPLY_NIL)
        return PL_ENOTFOUND;
    if (r->type != REDIS_REPLY_STRING || r->len > PL_CAUTH_VALUE_MAX)
        return PL_EPROTO;
    *v = r->str;
    *len = r->len;
    return 0;
}

int pl_cauth__decode_int(const void *rp, int64_t *out)
{
    const redisReply *r = rp;
    if (r == NULL || r->type != REDIS_REPLY_INTEGER)
        return PL_EPROTO;
    *out = (int64_t)r->integer;
    return 0;
}

int pl_cauth__decode_ints(const void *rp, size_t n, int64_t *out)
{
    const redisReply *r = rp;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != n)
        return PL_EPROTO;
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = r->element[i];
        if (e == NULL || e->type != REDIS_REPLY_INTEGER || e->integer < 0)
            return PL_EPROTO;
        out[i] = (int64_t)e->integer;
    }
    return 0;
}

/* ---- calls ---- */

static int on_reply(const pl_rcall_t *c, const void *rp, int rc)
{
    const redisReply *r = rp;
    switch (c->kind) {
    case CALL_STR: {
        const char *v = NULL;
        size_t len = 0;
        if (rc == 0)
            rc = pl_cauth__decode_str(r, &v, &len);
        if (c->cb)
            ((pl_cauth_str_cb)c->cb)(c->arg, rc, rc == 0 ? v : NULL, rc == 0 ? len : 0);
        break;
    }
    case CALL_INT: {
        int64_t v = 0;
        if (rc == 0 && r->type == REDIS_REPLY_NIL)
            v = 0; /* finish of a record that is gone */
        else if (rc == 0)
            rc = pl_cauth__decode_int(r, &v);
        if (c->cb)
            ((pl_cauth_int_cb)c->cb)(c->arg, rc, v);
        break;
    }
    case CALL_LIMIT: {
        int64_t v[4] = {0};
        if (rc == 0)
            rc = pl_cauth__decode_ints(r, c->n, v);
        if (c->cb)
            ((pl_cauth_limit_cb)c->cb)(c->arg, rc, rc == 0 ? v : NULL, rc == 0 ? c->n : 0);
        break;
    }
    }
    return rc;
}

static void release(pl_rcall_owner_t *o)
{
    free(o); /* the first member of pl_cauth_t */
}

pl_cauth_t *pl_cauth_new(pl_cluster_t *cl)
{
    pl_cauth_t *a = pl_xcalloc(1, sizeof *a);
    a->o = (pl_rcall_owner_t){.cl = cl, .what = "auth state", .release = release};
    return a;
}

void pl_cauth_free(pl_cauth_t *a)
{
    if (a != NULL)
        pl_rcall_close(&a->o);
}

/* Sends g (at most ARGS_MAX arguments) and frees it. */
static int send_call(pl_cauth_t *a, int kind, void (*cb)(void), void *arg, size_t n, pl_rargs_t *g)
{
    int rc = pl_rcall_send(&a->o, on_reply, kind, cb, arg, n, g);
    pl_rargs_dispose(g);
    return rc;
}

#define ARGS_MAX 24

/* A kind or id: 1..PL_CAUTH_ID_MAX of [0-9a-z] (no separator of a key). */
static bool name_ok(const char *s)
{
    size_t n = strnlen(s, PL_CAUTH_ID_MAX + 1);
    if (n == 0 || n > PL_CAUTH_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z')))
            return false;
    return true;
}

int pl_cauth_slot_put(pl_cauth_t *a, const pl_cauth_put_t *p, pl_cauth_int_cb cb, void *arg)
{
    if (!name_ok(p->kind) || !name_ok(p->id) || p->value_len > PL_CAUTH_VALUE_MAX ||
        p->ttl_ms <= 0 || p->max < 1 || (p->addr[0] != '\0' && !name_ok(p->addr)))
        return PL_EINVAL;
    pl_rargs_t g;
    pl_rargs_init(&g, ARGS_MAX);
    pl_rargs_script(&g, lua_slot, sizeof lua_slot - 1);
    pl_rargs_str(&g, "put");
    pl_rargs_str(&g, p->kind);
    pl_rargs_str(&g, p->id);
    pl_rargs_mem(&g, p->value, p->value_len);
    pl_rargs_str(&g, p->tag);
    pl_rargs_i64(&g, p->ttl_ms);
    pl_rargs_i64(&g, p->max);
    pl_rargs_str(&g, p->evict ? "1" : "0");
    pl_rargs_str(&g, p->addr);
    pl_rargs_i64(&g, p->per_addr);
    return send_call(a, CALL_INT, (void (*)(void))cb, arg, 0, &g);
}

int pl_cauth_slot_read(pl_cauth_t *a, pl_cauth_read_t op, const char *kind, const char *id,
                       const char *tag, int64_t lease_ms, pl_cauth_str_cb cb, void *arg)
{
    if (!name_ok(kind) || !name_ok(id))
        return PL_EINVAL;
    pl_rargs_t g;
    pl_rargs_init(&g, ARGS_MAX);
    pl_rargs_script(&g, lua_slot, sizeof lua_slot - 1);
    pl_rargs_str(&g, op == PL_CAUTH_TAKE ? "take" : op == PL_CAUTH_CLAIM ? "claim" : "get");
    pl_rargs_str(&g, kind);
    pl_rargs_str(&g, id);
    pl_rargs_str(&g, tag);
    pl_rargs_i64(&g, lease_ms);
    return send_call(a, CALL_STR, (void (*)(void))cb, arg, 0, &g);
}

int pl_cauth_slot_finish(pl_cauth_t *a, const char *kind, const char *id, bool ok, int64_t tries,
                         pl_cauth_int_cb cb, void *arg)
{
    if (!name_ok(kind) || !name_ok(id))
        return PL_EINVAL;
    pl_rargs_t g;
    pl_rargs_init(&g, ARGS_MAX);
    pl_rargs_script(&g, lua_slot, sizeof lua_slot - 1);
    pl_rargs_str(&g, "finish");
    pl_rargs_str(&g, kind);
    pl_rargs_str(&g, id);
    pl_rargs_str(&g, ok ? "1" : "0");
    pl_rargs_i64(&g, tries);
    return send_call(a, CALL_INT, (void (*)(void))cb, arg, 0, &g);
}

static void limit_args(pl_rargs_t *g, const char *op, const pl_cauth_limits_t *l, const char *user,
                       const char *ip)
{
    pl_rargs_script(g, lua_limits, sizeof lua_limits - 1);
    pl_rargs_str(g, op);
    pl_rargs_str(g, user);
    pl_rargs_str(g, ip);
    const pl_cauth_rate_t *r[5] = {&l->reg_ip, &l->login_ip, &l->fail_ip, &l->fail_acct_ip,
                                   &l->fail_acct};
    for (int i = 0; i < 5; i++) {
        pl_rargs_double(g, r[i]->rate);
        pl_rargs_double(g, r[i]->burst);
    }
    pl_rargs_i64(g, l->free_failures);
    pl_rargs_i64(g, l->backoff_max_ms);
    pl_rargs_i64(g, l->known_ms);
}

/* A user or ip key: [0-9a-f] (hex), 1..PL_CAUTH_ID_MAX. */
static bool hex_ok(const char *s)
{
    return name_ok(s) && strspn(s, "0123456789abcdef") == strlen(s);
}

int pl_cauth_register(pl_cauth_t *a, const pl_cauth_limits_t *l, const char *ip,
                      pl_cauth_limit_cb cb, void *arg)
{
    if (!hex_ok(ip))
        return PL_EINVAL;
    pl_rargs_t g;
    pl_rargs_init(&g, ARGS_MAX);
    limit_args(&g, "reg", l, "0", ip);
    return send_call(a, CALL_LIMIT, (void (*)(void))cb, arg, 1, &g);
}

int pl_cauth_login_begin(pl_cauth_t *a, const pl_cauth_limits_t *l, const char *user,
                         const char *ip, pl_cauth_limit_cb cb, void *arg)
{
    if (!hex_ok(user) || !hex_ok(ip))
        return PL_EINVAL;
    pl_rargs_t g;
    pl_rargs_init(&g, ARGS_MAX);
    limit_args(&g, "begin", l, user, ip);
    return send_call(a, CALL_LIMIT, (void (*)(void))cb, arg, 3, &g);
}

int pl_cauth_login_end(pl_cauth_t *a, const pl_cauth_limits_t *l, const char *user, const char *ip,
                       char outcome, bool account, pl_cauth_limit_cb cb, void *arg)
{
    if (!hex_ok(user) || !hex_ok(ip) || (outcome != 'o' && outcome != 'f' && outcome != 'a'))
        return PL_EINVAL;
    pl_rargs_t g;
    pl_rargs_init(&g, ARGS_MAX);
    limit_args(&g, "end", l, user, ip);
    char oc[2] = {outcome, '\0'};
    pl_rargs_str(&g, oc);
    pl_rargs_str(&g, account ? "1" : "0");
    return send_call(a, CALL_LIMIT, (void (*)(void))cb, arg, 1, &g);
}
