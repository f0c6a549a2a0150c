/* SPDX-License-Identifier: MIT */
/* auth_state.h -- login state shared by the nodes in Redis (issues 12, 13):
 * short-lived single-use records (MFA tickets, pending TOTP setups,
 * WebAuthn challenges) and the login / registration abuse limits, so the
 * second step of a login, a TOTP enable or the end of a passkey ceremony
 * may reach any node, and N nodes grant no more attempts than one.
 *
 * Records ("slots"), one Lua script, atomic per call:
 *
 *   pl:a:<kind>:<id>          hash {v: value, t: tag, f: failures,
 *                             c: claimed until (ms), x: address}, PEXPIRE ttl
 *   pl:a:<kind>               sorted set id -> expiry (ms): bounds the kind
 *                             to `max` live records (the oldest evicted, or
 *                             the put refused)
 *   pl:a:<kind>:ip:<address>  sorted set id -> expiry: at most `per_addr`
 *                             live records per client address (when asked)
 *
 * The caller chooses id: a hash of a secret (tickets, challenges), never
 * the secret, or a public key (a user id). Values are opaque bytes.
 *
 * Limits, one Lua script mirroring auth/auth_limits.c on Redis' clock:
 * token buckets pl:l:<name>:<key> {t: tokens, a: ms} that expire once full
 * again, the backoff of a (account, address) pair pl:l:bo:<pair> {f, u},
 * and pl:l:kn:<pair> for the addresses an account logged in from. Keys are
 * hex (the caller's address key and username), so no input picks another
 * key's name.
 *
 * Every call answers once through its callback (NULL: fire and forget):
 * rc 0 with the result, PL_ENOTFOUND (slot reads: no live record), or
 * PL_ECLOSED (Redis unreachable, or the connection went away before the
 * reply) / PL_EPROTO (an unexpected reply). A call made while the
 * connection is down fails at once (returns PL_ECLOSED, no callback).
 * Threading: the loop of the cluster it was made for. */
#ifndef PL_CLUSTER_AUTH_STATE_H
#define PL_CLUSTER_AUTH_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/cluster.h"

#define PL_CAUTH_ID_MAX 128     /* bytes of a slot id */
#define PL_CAUTH_VALUE_MAX 2048 /* bytes of a slot value */

typedef struct pl_cauth pl_cauth_t;

/** A slot read: v (borrowed for the call) when rc == 0. */
typedef void (*pl_cauth_str_cb)(void *arg, int rc, const char *v, size_t len);
/** An integer answer (put: 0 stored, 1 per-address cap, 2 table full). */
typedef void (*pl_cauth_int_cb)(void *arg, int rc, int64_t v);
/** A limit answer: vals[0..n) (borrowed for the call) when rc == 0. */
typedef void (*pl_cauth_limit_cb)(void *arg, int rc, const int64_t *vals, size_t n);

/** The state over cl's publishing connection. Borrows cl (free this first). */
pl_cauth_t *pl_cauth_new(pl_cluster_t *cl);
/** Frees a once its calls have answered. NULL ok. */
void pl_cauth_free(pl_cauth_t *a);

/* ---- slots ---- */

/** What pl_cauth_slot_put stores (all borrowed for the call). */
typedef struct {
    const char *kind;  /* short name: "mt", "ts", "wc" */
    const char *id;    /* 1..PL_CAUTH_ID_MAX bytes of [0-9a-z] */
    const char *value; /* up to PL_CAUTH_VALUE_MAX bytes */
    size_t value_len;  /* */
    const char *tag;   /* compared by reads ("" none) */
    int64_t ttl_ms;    /* > 0 */
    int64_t max;       /* live records of the kind */
    bool evict;        /* full: drop the oldest (else refuse, 2) */
    const char *addr;  /* per-address key ([0-9a-f]) or "" */
    int64_t per_addr;  /* live records per addr (when addr != "") */
} pl_cauth_put_t;

/** Stores a record (an existing one of the same id is replaced). The
 * answer is 0, 1 (addr holds per_addr records) or 2 (full, !evict). */
int pl_cauth_slot_put(pl_cauth_t *a, const pl_cauth_put_t *p, pl_cauth_int_cb cb, void *arg);

typedef enum {
    PL_CAUTH_GET,   /* read a live record */
    PL_CAUTH_TAKE,  /* read and delete it (single use) */
    PL_CAUTH_CLAIM, /* read it and mark it claimed for lease_ms, unless it is */
} pl_cauth_read_t;

/** Reads kind/id when it is live and its tag equals tag ("" matches any
 * record; a record of another tag is left as it is). PL_CAUTH_CLAIM finds
 * a claimed record (claim not yet ended or expired) as absent. */
int pl_cauth_slot_read(pl_cauth_t *a, pl_cauth_read_t op, const char *kind, const char *id,
                       const char *tag, int64_t lease_ms, pl_cauth_str_cb cb, void *arg);

/** Ends a claim: ok deletes the record; otherwise counts a failure,
 * deletes the record at the tries-th and releases the claim before. The
 * answer is the failures counted (0 after ok or for no record). */
int pl_cauth_slot_finish(pl_cauth_t *a, const char *kind, const char *id, bool ok, int64_t tries,
                         pl_cauth_int_cb cb, void *arg);

/* ---- limits ---- */

/** A bucket: rate tokens per second, at most burst. */
typedef struct {
    double rate, burst;
} pl_cauth_rate_t;

/** The limits of auth_limits.h, from the same config keys. */
typedef struct {
    pl_cauth_rate_t reg_ip, login_ip, fail_ip, fail_acct_ip, fail_acct;
    int64_t free_failures;  /* login_backoff_free_failures */
    int64_t backoff_max_ms; /* login_backoff_max_ms */
    int64_t known_ms;       /* how long an address stays known to an account */
} pl_cauth_limits_t;

/** Why login_begin refused (vals[1]). */
enum {
    PL_CAUTH_WHY_NONE = 0,
    PL_CAUTH_WHY_LOGIN_IP = 1,
    PL_CAUTH_WHY_BACKOFF = 2,
    PL_CAUTH_WHY_FAIL_ACCT_IP = 3,
    PL_CAUTH_WHY_FAIL_IP = 4,
    PL_CAUTH_WHY_FAIL_ACCT = 5,
};

/** A registration from ip (hex address key). Answer {wait_ms}. */
int pl_cauth_register(pl_cauth_t *a, const pl_cauth_limits_t *l, const char *ip,
                      pl_cauth_limit_cb cb, void *arg);
/** login_begin of auth_limits.h for user (hex of the normalized name) at
 * ip. Answer {wait_ms, why, account}: wait 0 means the attempt may go on,
 * a failure is reserved in each bucket (account: also in the account's),
 * and pl_cauth_login_end must follow. */
int pl_cauth_login_begin(pl_cauth_t *a, const pl_cauth_limits_t *l, const char *user,
                         const char *ip, pl_cauth_limit_cb cb, void *arg);
/** login_end: outcome 'o' ok, 'f' failed, 'a' aborted. Answer {0}. */
int pl_cauth_login_end(pl_cauth_t *a, const pl_cauth_limits_t *l, const char *user, const char *ip,
                       char outcome, bool account, pl_cauth_limit_cb cb, void *arg);

/* Reply decoders (pure; exposed for the unit tests and the fuzz target).
 * r is a redisReply. */
/** A bulk string (0, *v and *len into r), nil (PL_ENOTFOUND) or PL_EPROTO. */
int pl_cauth__decode_str(const void *r, const char **v, size_t *len);
/** An integer into *out, or PL_EPROTO. */
int pl_cauth__decode_int(const void *r, int64_t *out);
/** An array of exactly n non-negative integers, or PL_EPROTO. */
int pl_cauth__decode_ints(const void *r, size_t n, int64_t *out);

#endif
