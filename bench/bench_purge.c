/* SPDX-License-Identifier: MIT */
/* bench_purge.c -- cost of forgetting deleted text in the search index: the
 * statements store_sqlite_index.c runs (the FTS5 table of search.db, an
 * incremental optimize in steps of 1000 pages, a TRUNCATE checkpoint) on an
 * index of N messages written in batches as the indexer writes them, after a
 * few scattered deletes. Prints the purge time and the search latency
 * (prefix queries, as pl_db_search builds them) before and after.
 *
 * Not in CMake (like bench_store.c); build and run:
 *   cc -O2 bench/bench_purge.c $(pkg-config --cflags --libs sqlite3) -o bench_purge
 *   ./bench_purge [messages=100000] [batch=500] [deletes=100] [dir=mkdtemp]
 * The words come from a fixed pseudo-random vocabulary of 30000 words, 3-20
 * words a message, so the figures repeat from run to run. */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define VOCAB 30000

static char vocab[VOCAB][12];
static uint64_t rng = 88172645463325252u;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void exec(sqlite3 *h, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(h, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", sql, err);
        exit(1);
    }
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* Mean milliseconds of one prefix query over 500 vocabulary words. */
static double query_ms(sqlite3 *h)
{
    sqlite3_stmt *s;
    sqlite3_prepare_v2(h,
                       "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1 "
                       "ORDER BY rowid DESC LIMIT 20",
                       -1, &s, NULL);
    double t0 = now_s();
    long rows = 0;
    for (int i = 0; i < 500; i++) {
        char q[32];
        snprintf(q, sizeof q, "\"%.11s\"*", vocab[(i * 59) % VOCAB]);
        sqlite3_bind_text(s, 1, q, -1, SQLITE_TRANSIENT);
        while (sqlite3_step(s) == SQLITE_ROW)
            rows++;
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    return (now_s() - t0) * 1000 / 500;
}

/* The purge of store_sqlite_index.c: merge steps until one changes nothing,
 * then TRUNCATE the WAL. Returns the steps. */
static int purge(sqlite3 *h)
{
    int steps = 0;
    for (;;) {
        int before = sqlite3_total_changes(h);
        exec(h, "INSERT INTO messages_fts(messages_fts, rank) VALUES ('merge', -1000)");
        if (sqlite3_total_changes(h) - before < 2)
            break;
        steps++;
    }
    exec(h, "PRAGMA wal_checkpoint(TRUNCATE)");
    return steps;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    long batch = argc > 2 ? atol(argv[2]) : 500;
    long ndel = argc > 3 ? atol(argv[3]) : 100;
    char tmpl[] = "/tmp/bench-purge-XXXXXX";
    const char *dir = argc > 4 ? argv[4] : mkdtemp(tmpl);
    if (dir == NULL || n < 1 || batch < 1)
        return 2;
    for (int i = 0; i < VOCAB; i++) {
        int len = 3 + (int)(next_rand() % 7);
        for (int k = 0; k < len; k++)
            vocab[i][k] = (char)('a' + next_rand() % 26);
        vocab[i][len] = '\0';
    }
    char path[512];
    snprintf(path, sizeof path, "%s/search.db", dir);
    sqlite3 *h;
    if (sqlite3_open(path, &h) != SQLITE_OK)
        return 1;
    exec(h, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; PRAGMA secure_delete=ON;"
            "CREATE VIRTUAL TABLE messages_fts USING fts5(body, "
            "tokenize = 'unicode61 remove_diacritics 2')");
    sqlite3_stmt *ins, *del;
    sqlite3_prepare_v2(h, "INSERT INTO messages_fts(rowid, body) VALUES (?1, ?2)", -1, &ins, NULL);
    sqlite3_prepare_v2(h, "DELETE FROM messages_fts WHERE rowid = ?1", -1, &del, NULL);
    double t0 = now_s();
    for (long id = 1; id <= n;) {
        exec(h, "BEGIN");
        for (long k = 0; k < batch && id <= n; k++, id++) {
            char body[512] = "";
            int words = 3 + (int)(next_rand() % 18);
            for (int w = 0; w < words; w++) {
                strcat(body, w ? " " : "");
                strcat(body, vocab[next_rand() % VOCAB]);
            }
            sqlite3_bind_int64(ins, 1, id);
            sqlite3_bind_text(ins, 2, body, -1, SQLITE_TRANSIENT);
            sqlite3_step(ins);
            sqlite3_reset(ins);
        }
        exec(h, "COMMIT");
    }
    exec(h, "PRAGMA wal_checkpoint(TRUNCATE)");
    printf("index: %ld messages in batches of %ld: %.2f s, search.db %ld KiB\n", n, batch,
           now_s() - t0, file_size(path) / 1024);
    /* Deletes as they come: a few per indexer batch. */
    for (long k = 0; k < ndel; k++) {
        if (k % 10 == 0)
            exec(h, "BEGIN");
        sqlite3_bind_int64(del, 1, 1 + (long)(next_rand() % (uint64_t)n));
        sqlite3_step(del);
        sqlite3_reset(del);
        if (k % 10 == 9 || k + 1 == ndel)
            exec(h, "COMMIT");
    }
    printf("search before purge: %.3f ms/query\n", query_ms(h));
    t0 = now_s();
    int steps = purge(h);
    printf("purge after %ld deletes: %.3f s (%d steps), search.db %ld KiB\n", ndel, now_s() - t0,
           steps, file_size(path) / 1024);
    printf("search after purge: %.3f ms/query\n", query_ms(h));
    /* The steady state: one more window of deletes on the merged index. */
    for (long k = 0; k < 10; k++) {
        sqlite3_bind_int64(del, 1, 1 + (long)(next_rand() % (uint64_t)n));
        sqlite3_step(del);
        sqlite3_reset(del);
    }
    t0 = now_s();
    steps = purge(h);
    printf("next purge (10 deletes on a merged index): %.3f s (%d steps)\n", now_s() - t0, steps);
    sqlite3_finalize(ins);
    sqlite3_finalize(del);
    sqlite3_close(h);
    if (argc <= 4) {
        char p2[600];
        snprintf(p2, sizeof p2, "%s/search.db", dir);
        unlink(p2);
        rmdir(dir);
    }
    return 0;
}
