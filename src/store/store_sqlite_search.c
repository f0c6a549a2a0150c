/* SPDX-License-Identifier: MIT */
/* store_sqlite_search.c -- full-text search over the index in
 * search.db (store_sqlite_index.c keeps it). */
#include "store/store_internal.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

/* The statements of this file (see pl_sql_table_t). */
enum { ST_SEARCH, ST__COUNT };

static const char *const sql[ST__COUNT] = {
    /* The membership join keeps results to rooms the user may read. */
    [ST_SEARCH] = PL_STORE_MSG_SELECT
    "JOIN s.messages_fts f ON f.rowid = m.id "
    "JOIN members mb ON mb.room_id = m.room_id AND mb.user_id = ?1 "
    "WHERE f.messages_fts MATCH ?2 AND m.deleted = 0 AND (?3 = 0 OR m.room_id = ?3) "
    "AND (?4 = 0 OR m.id < ?4) AND (m.expires_ts = 0 OR m.expires_ts > ?5) "
    "ORDER BY m.id DESC LIMIT ?6",
};
static pl_sql_table_t stmts = PL_SQL_TABLE(sql);
#define STMT(db, id) pl_store__stmt((db), &stmts, (id))

/* Turns user text into an FTS5 query: every whitespace-separated word becomes
 * a quoted prefix term ("word"*), so operators and quotes in the text are
 * literal and the query can never be a syntax error. Returns NULL when the
 * text holds no word. */
static char *fts_query(const char *text)
{
    pl_buf_t b;
    pl_buf_init(&b);
    const char *p = text;
    size_t words = 0;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (*p == '\0')
            break;
        if (words++ > 0)
            pl_buf_lit(&b, " ");
        pl_buf_lit(&b, "\"");
        while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            if (*p == '"')
                pl_buf_lit(&b, "\"");
            pl_buf_append(&b, p, 1);
            p++;
        }
        pl_buf_lit(&b, "\"*");
    }
    char *out = NULL;
    if (words > 0) {
        out = pl_xmalloc(b.len + 1);
        memcpy(out, pl_buf_head(&b), b.len);
        out[b.len] = '\0';
    }
    pl_buf_dispose(&b);
    return out;
}

int pl_sq_search(pl_db_t *db, int64_t user_id, const char *query, int64_t room_id,
                 int64_t before_id, int64_t now_ms, int64_t limit, pl_message_t **out, size_t *n)
{
    char *q = fts_query(query);
    if (q == NULL) {
        *out = NULL;
        *n = 0;
        return 0;
    }
    /* Read-your-writes: everything committed before now is in the index. */
    if (db->ix != NULL && !pl_indexer_sync(db->ix, 2000))
        pl_log(PL_LOG_WARN, "store", "op=search msg=index behind (rebuild or backlog)");
    sqlite3_stmt *s = STMT(db, ST_SEARCH);
    if (s == NULL) {
        free(q);
        return PL_EIO;
    }
    sqlite3_bind_int64(s, 1, user_id);
    pl_store__bind_text(s, 2, q);
    sqlite3_bind_int64(s, 3, room_id);
    sqlite3_bind_int64(s, 4, before_id);
    sqlite3_bind_int64(s, 5, now_ms);
    sqlite3_bind_int64(s, 6, limit < 0 ? 0 : limit);
    int rc = pl_store__collect_messages(db, s, "search", out, n);
    free(q);
    return rc;
}
