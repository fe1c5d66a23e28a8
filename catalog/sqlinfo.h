/*
 * What Duro learns from the SQL of a view, its tests or a processor's DDL, using libpg_query: the
 * relations a statement reads and the names of the columns it outputs, or why the text is not
 * acceptable (a syntax error, a statement of the wrong kind). With the Redshift dialect, text the
 * PostgreSQL parser rejects only for Redshift-only syntax (such as "select top 10") is accepted,
 * its relations read by libpg_query's tokenizer. Pure and thread-safe. Not for: deciding which
 * relations are managed views.
 */
#ifndef DURO_CATALOG_SQLINFO_H
#define DURO_CATALOG_SQLINFO_H

#include <stdbool.h>
#include <stddef.h>

#include "core/settings.h"
#include "core/util.h"

typedef enum SqlKind {
    SQL_KIND_QUERY, /* exactly one SELECT (VALUES, set operations and WITH included) */
    SQL_KIND_TESTS, /* one or more SELECTs */
    SQL_KIND_DDL,   /* exactly one CREATE TABLE */
} SqlKind;

typedef enum SqlMode {
    SQL_PARSED,    /* the PostgreSQL parser read it: everything below is exact */
    SQL_TOKENIZED, /* Redshift-only syntax, or nested deeper than catalog/sqltree walks: relations
                      found by the tokenizer, columns unknown */
} SqlMode;

/* A byte range [start, end) of a text; {-1, -1} when unknown. */
typedef struct SqlSpan {
    int start;
    int end;
} SqlSpan;

/* One reference to a relation, as SQL resolves names (catalog/names: folded, cut to the limit). */
typedef struct SqlRelation {
    char *schema; /* NULL when unqualified */
    char *name;
    int location; /* byte offset of the reference in the text */
    /* The reference as written: every part of the dotted name with the blanks, comments and
     * quotes between them (sqlinfo_analyze only). */
    SqlSpan extent;
    bool bare_from_item; /* a FROM item without an alias: replacing it needs "AS name" */
} SqlRelation;

typedef struct SqlInfo {
    SqlMode mode;
    /* Every reference to a relation read (FROM, JOIN, subqueries, set operations), in text order,
     * repeats included. CTE references and names in comments, strings or columns are not here. */
    SqlRelation *relations;
    size_t n_relations;
    /* Output column names (for SQL_KIND_DDL: the table's columns), folded as SQL does.
     * Only meaningful when columns_known. */
    StrVec columns;
    bool columns_known; /* false when tokenized, or an output is "*" / "t.*" */
    int n_statements;
    /* Each statement, from its first token to its last (comments and ";" around it left out). */
    SqlSpan *statements;
    /* SQL_KIND_DDL: the table the statement creates (see sqlinfo_created_table); else zero. */
    SqlRelation created;
} SqlInfo;

/* Why a text was rejected. */
typedef struct SqlError {
    char *message; /* caller frees */
    int offset;    /* the byte offset the problem is at, or -1 */
    bool syntax;   /* the PostgreSQL parser's (or tokenizer's) own error, at the position it
                      points at: worth a column in messages */
} SqlError;

/*
 * Analyses sql as the given kind, as the dialect's warehouse would read it. Returns 0 on success.
 * On failure returns -1, fills *error and leaves *out empty: a syntax error, or the text is not a
 * single SELECT / only SELECTs / one CREATE TABLE.
 *
 * When the PostgreSQL parser rejects the text, its statements are first checked from their tokens
 * (a wrong kind of statement is reported as such). Then, with DIALECT_POSTGRES, the parser's
 * error is the answer. With DIALECT_REDSHIFT the text is accepted (SQL_TOKENIZED) only when the
 * failure is explained by Redshift-only syntax: the known Redshift-only constructs (TOP n,
 * QUALIFY, APPROXIMATE, PIVOT / UNPIVOT (...), LISTAGG(DISTINCT ...), #temp names, VARCHAR(MAX),
 * DISTSTYLE / DISTKEY / SORTKEY / ENCODE / BACKUP / IDENTITY(...) in CREATE TABLE; see
 * catalog/sqlredshift) are rewritten into PostgreSQL of the same length and the result must parse;
 * if it does not, its error (at the same position in the text) is reported, so that a trailing
 * comma next to a TOP is still caught.
 */
int sqlinfo_analyze_as(const char *sql, SqlKind kind, Dialect dialect, SqlInfo *out,
                       SqlError *error) MUST_CHECK;

/* sqlinfo_analyze_as with DIALECT_REDSHIFT, the more lenient of the two, with the error as a
 * message (caller frees) and its offset (or -1). */
int sqlinfo_analyze(const char *sql, SqlKind kind, SqlInfo *out, char **error,
                    int *error_offset) MUST_CHECK;
void sqlinfo_free(SqlInfo *info);

/*
 * The table a CREATE [GLOBAL|LOCAL] [TEMP|TEMPORARY|UNLOGGED] TABLE
 * [IF NOT EXISTS] name (...) statement at the start of sql creates, read
 * from its tokens (comments skipped): its name as SQL resolves it into
 * *table (schema NULL when unqualified; location: the name's first byte),
 * the end of the name in *end, and whether it is temporary. Returns 0, or -1
 * with *error (caller frees) and *error_offset when the text does not start
 * that way. Free *table's strings.
 */
int sqlinfo_created_table(const char *sql, SqlRelation *table, int *end, bool *temporary,
                          char **error, int *error_offset) MUST_CHECK;

/*
 * The statements of sql, as sqlinfo_analyze records them, into *spans (caller frees) and *n,
 * whatever they are. Returns 0, or -1 with *error set (caller frees) when even the tokenizer
 * rejects the text (an unterminated quote or comment).
 */
int sqlinfo_statements(const char *sql, SqlSpan **spans, size_t *n, char **error) MUST_CHECK;

/* Whether sql writes Redshift table attributes of its own: an unquoted DISTSTYLE, DISTKEY or
 * SORTKEY (false when the tokenizer rejects the text). */
bool sqlinfo_has_table_attributes(const char *sql);

/* The 1-based line of a byte offset into text (1 for offsets < 0). */
int sqlinfo_line_of(const char *text, int offset);
/* The 1-based column, in characters, of a byte offset into a UTF-8 text (1 for offsets < 0). */
int sqlinfo_column_of(const char *text, int offset);

#endif
