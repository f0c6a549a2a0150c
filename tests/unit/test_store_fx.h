/* SPDX-License-Identifier: MIT */
/* test_store_fx.h -- the fixture of the store unit tests (test_store*.c): a
 * temp dir, a loop and an open store per test. Included by one .c each. */
#ifndef PL_TEST_STORE_FX_H
#define PL_TEST_STORE_FX_H

#include <ftw.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <uv.h>

#include "core/config.h"
#include "core/log.h"
#include "store/store.h"

typedef struct {
    char dir[64];
    char data[128]; /* dir/data/sub: open must create missing parents */
    uv_loop_t loop;
    pl_config_t cfg;
    pl_store_t *st;
    pl_db_t *db;
    char pgdb[64]; /* PostgreSQL run: this test's database ("" for SQLite) */
} fx_t;

/* PL_TEST_PG (a libpq conninfo of a throwaway cluster, set by the ctest
 * label `pg`, see tests/pg/) runs the same tests on the PostgreSQL backend:
 * each test gets a database of its own. */
static const char *fx_pg(void)
{
    const char *pg = getenv("PL_TEST_PG");
    return pg != NULL && pg[0] != '\0' ? pg : NULL;
}

/* Tests of SQLite specifics (the file, PRAGMAs) skip on PostgreSQL. */
#define FX_SQLITE_ONLY()                                                                           \
    do {                                                                                           \
        if (fx_pg() != NULL)                                                                       \
            skip();                                                                                \
    } while (0)

static int fx_pg_sql(const char *sql)
{
    char ci[512];
    snprintf(ci, sizeof ci, "%s dbname=postgres", fx_pg());
    PGconn *c = PQconnectdb(ci);
    int rc = -1;
    if (PQstatus(c) == CONNECTION_OK) {
        PGresult *r = PQexec(c, sql);
        rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
        if (rc != 0)
            fprintf(stderr, "fx: %s: %s", sql, PQerrorMessage(c));
        PQclear(r);
    } else {
        fprintf(stderr, "fx: connect: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return rc;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void fx_open(fx_t *f)
{
    assert_int_equal(0, pl_store_open(&f->loop, &f->cfg, &f->st));
    f->db = pl_store_direct(f->st);
}

/* pl_store_close, run the loop so the close callback drains, leak gate. */
static void fx_close(fx_t *f)
{
    pl_store_close(f->st);
    f->st = NULL;
    f->db = NULL;
    assert_int_equal(0, uv_run(&f->loop, UV_RUN_DEFAULT));
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/pl_store_XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->data, sizeof f->data, "%s/data/sub", f->dir);
    uv_loop_init(&f->loop);
    pl_config_init(&f->cfg);
    char err[128];
    if (pl_config_set(&f->cfg, "data_dir", f->data, err, sizeof err) != 0)
        return -1;
    if (fx_pg() != NULL) {
        static int seq;
        snprintf(f->pgdb, sizeof f->pgdb, "fx_%ld_%d", (long)getpid(), ++seq);
        char sql[128], ci[512];
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", f->pgdb);
        snprintf(ci, sizeof ci, "%s dbname=%s", fx_pg(), f->pgdb);
        if (fx_pg_sql(sql) != 0 || pl_config_set(&f->cfg, "store", "postgres", err, sizeof err) ||
            pl_config_set(&f->cfg, "pg_conninfo", ci, err, sizeof err) != 0)
            return -1;
    }
    pl_log_set_level(PL_LOG_WARN);
    fx_open(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    if (f->st != NULL)
        fx_close(f);
    assert_int_equal(0, uv_loop_close(&f->loop));
    pl_config_dispose(&f->cfg);
    if (f->pgdb[0] != '\0') {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->pgdb);
        fx_pg_sql(sql);
    }
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static int64_t mkuser(pl_db_t *db, const char *name)
{
    int64_t id = 0;
    assert_int_equal(0, pl_db_user_create(db, name, name, "$argon2id$x", 1000, &id));
    assert_true(id > 0);
    return id;
}

#endif
