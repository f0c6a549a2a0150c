/* SPDX-License-Identifier: MIT */
/* store_pg.h -- the PostgreSQL backend's entry points (store_pg*.c): each
 * public pl_db_<name> of store.h is pl_pg_<name> here, with the same
 * contract; store_pg.c puts those it implements in the backend table. Not
 * for use outside src/store/. */
#ifndef PL_STORE_STORE_PG_H
#define PL_STORE_STORE_PG_H

#include "store/store_backend.h"

int pl_pg_store_open(uv_loop_t *loop, const pl_config_t *cfg, pl_store_t **out);
void pl_pg_store_close(pl_store_t *st);
pl_db_t *pl_pg_store_direct(pl_store_t *st);
void pl_pg_store_write(pl_store_t *st, pl_store_work_cb work, pl_store_done_cb done, void *arg);
void pl_pg_store_write_post(pl_store_t *st, pl_post_t *p, pl_store_work_cb work,
                            pl_store_done_cb done);
void pl_pg_store_read(pl_store_t *st, pl_store_work_cb work, pl_store_done_cb done, void *arg);
void pl_pg_store_get_stats(pl_store_t *st, pl_store_stats_t *out);
void pl_pg_rollback_job(pl_db_t *db);
#define PL_PG_DECLARE(name, params, args) int pl_pg_##name params;
PL_STORE_DB_FNS(PL_PG_DECLARE)
#undef PL_PG_DECLARE

#endif
