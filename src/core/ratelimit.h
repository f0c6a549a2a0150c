/* SPDX-License-Identifier: MIT */
/* ratelimit.h -- token buckets, alone or in a table keyed by bytes (an IP
 * address, a user id, a username) whose size is bounded, so an attacker
 * rotating keys cannot grow it. Pure: the caller passes the clock.
 *
 * Threading: a table belongs to one thread (no locks inside). */
#ifndef PL_CORE_RATELIMIT_H
#define PL_CORE_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

/** One token bucket. Start it full with pl_bucket_init. */
typedef struct {
    double tokens;
    uint64_t at_ns; /* last refill */
} pl_bucket_t;

/** Fills b to burst at now_ns. */
void pl_bucket_init(pl_bucket_t *b, double burst, uint64_t now_ns);

/** Refills b at rate tokens per second (capped at burst), then takes cost
 * tokens if it holds them. Returns 0 when they were taken, otherwise the
 * milliseconds until they would be there (>= 1; for Retry-After), taking
 * nothing. rate must be > 0; a cost above burst is never granted. */
uint64_t pl_bucket_take(pl_bucket_t *b, double rate, double burst, double cost, uint64_t now_ns);

typedef struct pl_ratelimit pl_ratelimit_t;

/** A table of buckets (rate per second, burst) for at most max_keys keys of
 * at most 64 bytes. When full, a new key evicts the least recently used one
 * (it then starts with a full bucket: an attacker needs as many distinct
 * keys as the table holds to gain anything). Free with pl_ratelimit_free. */
pl_ratelimit_t *pl_ratelimit_new(double rate, double burst, size_t max_keys);
void pl_ratelimit_free(pl_ratelimit_t *rl);

/** pl_bucket_take on key's bucket (created full on first use). Longer keys
 * are cut to 64 bytes. */
uint64_t pl_ratelimit_take(pl_ratelimit_t *rl, const void *key, size_t klen, double cost,
                           uint64_t now_ns);

/** What pl_ratelimit_take would answer for cost, without taking anything,
 * adding the key, or moving it in the LRU order: an unknown key answers 0
 * (a full bucket). Probing this way cannot evict anyone's entry. */
uint64_t pl_ratelimit_peek(const pl_ratelimit_t *rl, const void *key, size_t klen, double cost,
                           uint64_t now_ns);

/** Puts cost tokens back into key's bucket (up to burst), e.g. a login that
 * succeeded after all. Unknown keys are ignored. */
void pl_ratelimit_refund(pl_ratelimit_t *rl, const void *key, size_t klen, double cost);

/** Keys in the table (for tests and stats). */
size_t pl_ratelimit_size(const pl_ratelimit_t *rl);

#endif
