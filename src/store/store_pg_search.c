/* SPDX-License-Identifier: MIT */
/* store_pg_search.c -- full-text search on PostgreSQL's own FTS: the
 * generated messages.tsv column (store_pg.c's schema) and its GIN index.
 * The index changes in the transaction that changes the message, so there
 * is no indexer and no read-your-writes wait as with SQLite's search.db. */
#include "store/store_pg_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"

enum { ST_SEARCH, ST__COUNT };

/* The membership join keeps results to rooms the user is a member of. */
#define MSG_SEARCH_WHERE                                                                           \
    "JOIN members mb ON mb.room_id = m.room_id AND mb.user_id = $1 "                               \
    "WHERE m.tsv @@ to_tsquery('simple', $2) AND NOT m.deleted "                                   \
    "AND ($3::bigint = 0 OR m.room_id = $3::bigint) AND ($4::bigint = 0 OR m.id < $4::bigint) "    \
    "AND (m.expires_ts = 0 OR m.expires_ts > $5) ORDER BY m.id DESC LIMIT $6"

static const char *sql[ST__COUNT];
static pl_pg_table_t stmts = {sql, ST__COUNT, 0};
static uv_once_t sql_once = UV_ONCE_INIT;
static char *search_sql;

static void build_sql(void)
{
    size_t n = strlen(pl_pg__msg_select) + sizeof MSG_SEARCH_WHERE;
    search_sql = pl_xmalloc(n);
    memcpy(search_sql, pl_pg__msg_select, strlen(pl_pg__msg_select));
    memcpy(search_sql + strlen(pl_pg__msg_select), MSG_SEARCH_WHERE, sizeof MSG_SEARCH_WHERE);
    sql[ST_SEARCH] = search_sql;
}

/* Turns user text into a tsquery: every whitespace-separated word becomes a
 * quoted prefix term ('word':*), all of them ANDed, so operators and quotes
 * in the text are literal and the query is never a syntax error (the
 * equivalent of the SQLite backend's "word"* terms). NULL when the text
 * holds no word. */
static char *ts_query(const char *text)
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
            pl_buf_lit(&b, " & ");
        pl_buf_lit(&b, "'");
        while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            if (*p == '\'')
                pl_buf_lit(&b, "'");
            else if (*p == '\\')
                pl_buf_lit(&b, "\\");
            pl_buf_append(&b, p, 1);
            p++;
        }
        pl_buf_lit(&b, "':*");
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

int pl_pg_search(pl_db_t *d, int64_t user_id, const char *query, int64_t room_id, int64_t before_id,
                 int64_t now_ms, int64_t limit, pl_message_t **out, size_t *n)
{
    uv_once(&sql_once, build_sql);
    char *q = ts_query(query);
    if (q == NULL) {
        *out = NULL;
        *n = 0;
        return 0;
    }
    pl_pg_args_t a = {0};
    pl_pg__int(&a, user_id);
    pl_pg__text(&a, q);
    pl_pg__int(&a, room_id);
    pl_pg__int(&a, before_id);
    pl_pg__int(&a, now_ms);
    pl_pg__int(&a, limit < 0 ? 0 : limit);
    PGresult *r = NULL;
    int rc = pl_pg__run(PG_DB(d), &stmts, ST_SEARCH, &a, false, "search", &r);
    free(q);
    if (rc != 0)
        return rc;
    pl_pg__messages_from(r, out, n);
    PQclear(r);
    return 0;
}
