/*
 * Internal to catalog/sqlinfo: what sqlinfo reads from libpg_query's tokenizer alone, for text the
 * PostgreSQL parser rejects (Redshift-only syntax) and for what only the text's spelling tells
 * (statement spans, how a reference is written, the table a CREATE TABLE names). Not for: text the
 * parser reads (sqlinfo walks its tree), or use outside sqlinfo.
 */
#ifndef DURO_CATALOG_SQLTOKENS_H
#define DURO_CATALOG_SQLTOKENS_H

#include <pg_query/pg_query.pb-c.h>
#include <stdbool.h>
#include <stddef.h>

#include "catalog/sqlinfo.h"

/* An analysis under way (by the parser's tree or by tokens): the text, the result being built, its
 * relations array's capacity, and the first error met. */
typedef struct SqlAnalysis {
    const char *sql;
    SqlInfo *out;
    size_t relations_cap;
    char *error;
    int error_offset;
} SqlAnalysis;

/* Records the first failure (the message is owned by the analysis); always returns -1. */
int sqlanalysis_fail(SqlAnalysis *a, int offset, const char *fmt, ...) PRINTF_LIKE(3, 4);

/* A text's tokens from libpg_query's scanner. */
typedef struct SqlTokens {
    const char *sql;
    PgQuery__ScanResult *scan; /* NULL when the tokenizer rejected the text */
    PgQuery__ScanToken **t;    /* the significant tokens: comments dropped */
    int n;
    char *error; /* why the tokenizer rejected the text */
    int error_offset;
} SqlTokens;

/* Scans sql into *ts (free with sqltokens_free in every case). Returns 0, or -1 with ts->error
 * and ts->error_offset set (an unterminated quote or comment). */
int sqltokens_scan(const char *sql, SqlTokens *ts) MUST_CHECK;
void sqltokens_free(SqlTokens *ts);

/*
 * Analyses a text from its tokens, statement by statement: checks it is what kind wants (as far as
 * tokens tell) and appends the relations it reads to out->relations (unsorted; out->relations must
 * be empty). Sets out->mode to SQL_TOKENIZED, columns unknown. Returns 0, or -1 with *error
 * (caller frees) and *error_offset.
 */
int sqltokens_analyze(const SqlTokens *ts, SqlKind kind, SqlInfo *out, char **error,
                      int *error_offset) MUST_CHECK;

/* The statements: the non-empty runs of tokens between semicolons, into *spans (caller frees);
 * returns their count. */
size_t sqltokens_statements(const SqlTokens *ts, SqlSpan **spans);

/* Records how the reference at r->location is written (r->extent, r->bare_from_item); parsed: the
 * parser read the text, so "(" before a name starts a FROM item. */
void sqltokens_record_extent(const SqlTokens *ts, bool parsed, SqlRelation *r);

/* sqlinfo_created_table on the first statement of a text's tokens. */
int sqltokens_created_table(const SqlTokens *ts, SqlRelation *table, int *end, bool *temporary,
                            char **error, int *error_offset) MUST_CHECK;

#endif
