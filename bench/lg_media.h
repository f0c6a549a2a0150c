/* SPDX-License-Identifier: MIT */
/* lg_media.h -- the load generator's media scenario: chat latency before and
 * during a big upload and its download, transfer rates, server RSS. */
#ifndef PL_BENCH_LG_MEDIA_H
#define PL_BENCH_LG_MEDIA_H

#include "lg.h"

typedef struct {
    int port;
    pid_t server_pid;          /* for RSS samples */
    int nclients;              /* chat connections */
    const char *const *tokens; /* per chat client (borrowed) */
    const char *const *rooms;  /* per chat client: the room it sends to (borrowed) */
    const char *upload_token;  /* the user who uploads and downloads */
    double rate;               /* chat sends per second, all clients together */
    uint64_t bytes;            /* upload size */
    double baseline_s;         /* chat alone before the upload starts */
} lg_media_opt_t;

typedef struct {
    lg_hist_t lat[3]; /* delivery latency: before, during upload, during download */
    uint64_t deliveries[3];
    uint64_t sends;
    uint64_t rss_before, rss_max[3];
    int up_status, down_status;
    double up_s, down_s;
    uint64_t down_bytes;
    double loop_cpu[3], proc_cpu[3]; /* server CPU-s during upload [1] / download [2]:
                                        its loop thread, the whole process */
} lg_media_res_t;

/** Runs the scenario against a server that already has the users and rooms.
 * Blocking; returns 0 or -1 (a client lost its connection). */
int lg_media_run(const lg_media_opt_t *o, lg_media_res_t *r);

#endif
