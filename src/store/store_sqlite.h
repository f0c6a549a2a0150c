/* SPDX-License-Identifier: MIT */
/* store_sqlite.h -- the SQLite backend's entry points (store_sqlite*.c): each
 * public pl_db_<name> of store.h is pl_sq_<name> here, with the same contract;
 * store_sqlite.c puts them in the backend table. Not for use outside
 * src/store/. */
#ifndef PL_STORE_STORE_SQLITE_H
#define PL_STORE_STORE_SQLITE_H

#include "store/store_backend.h"

int pl_sq_store_open(uv_loop_t *loop, const pl_config_t *cfg, pl_store_t **out);
void pl_sq_store_close(pl_store_t *st);
pl_db_t *pl_sq_store_direct(pl_store_t *st);
void pl_sq_store_write(pl_store_t *st, pl_store_work_cb work, pl_store_done_cb done, void *arg);
void pl_sq_store_read(pl_store_t *st, pl_store_work_cb work, pl_store_done_cb done, void *arg);
void pl_sq_store_get_stats(pl_store_t *st, pl_store_stats_t *out);
void pl_sq_rollback_job(pl_db_t *db);
#define PL_SQ_DECLARE(name, params, args) int pl_sq_##name params;
PL_STORE_ALL_FNS(PL_SQ_DECLARE)
#undef PL_SQ_DECLARE

#endif
