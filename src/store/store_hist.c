/* SPDX-License-Identifier: MIT */
/* store_hist.c -- the store writer's histograms (issue 17, /metrics): the
 * COMMIT's latency and the jobs per group commit, shared by both backends.
 * Called by the backends only (it calls nothing of theirs). */
#include <stdatomic.h>

#include "store/store_backend.h"

const double pl_store_commit_le[PL_STORE_HIST_N - 1] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                        0.05,   0.1,   0.25,   0.5,   1};
const double pl_store_batch_le[PL_STORE_HIST_N - 1] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};

static void hist_add(pl_store_hist_t *h, const double *le, double v, uint64_t sum_add)
{
    size_t i = 0;
    while (i < PL_STORE_HIST_N - 1 && v > le[i])
        i++;
    atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, sum_add, memory_order_relaxed);
}

void pl_store__observe_commit(pl_store_hist_t *lat, pl_store_hist_t *batch, uint64_t ns,
                              uint64_t jobs)
{
    hist_add(lat, pl_store_commit_le, (double)ns / 1e9, ns);
    hist_add(batch, pl_store_batch_le, (double)jobs, jobs);
}

void pl_store__hist_read(const pl_store_hist_t *lat, const pl_store_hist_t *batch,
                         pl_store_stats_t *out)
{
    for (size_t i = 0; i < PL_STORE_HIST_N; i++) {
        out->commit_counts[i] = atomic_load_explicit(&lat->counts[i], memory_order_relaxed);
        out->batch_counts[i] = atomic_load_explicit(&batch->counts[i], memory_order_relaxed);
    }
    out->commit_sum = (double)atomic_load_explicit(&lat->sum, memory_order_relaxed) / 1e9;
    out->batch_sum = atomic_load_explicit(&batch->sum, memory_order_relaxed);
}
