/*
 * What the gateway does with one client statement: relay it, answer it from Duro's virtual tables
 * (duro.status, duro.runs), run duro_refresh(...), or refuse it; plus the relations it reads and a
 * cheap pre-filter that decides whether parsing is worth it. Pure (libpg_query, no I/O).
 * Not for: answering the virtual tables (sqlengine/) or knowing which views are managed.
 */
#ifndef DURO_PROXY_INTERCEPT_H
#define DURO_PROXY_INTERCEPT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/util.h"

typedef enum InterceptKind {
    INTERCEPT_PASS, /* nothing of Duro's: relay unchanged (also when the parser rejects the text) */
    INTERCEPT_VIRTUAL, /* a SELECT reading only duro.status / duro.runs: Duro answers it */
    INTERCEPT_MIXED,   /* Duro's names used in a way Duro refuses: error_sqlstate/error_message */
    INTERCEPT_REFRESH, /* duro_refresh(...) called on its own */
} InterceptKind;

typedef struct InterceptInfo {
    InterceptKind kind;
    int n_statements; /* statements in the text (0 when the parser rejects it) */
    /* INTERCEPT_REFRESH: the view argument, either a string literal or a parameter; and force. */
    char *refresh_name;      /* the literal's value as written, or NULL when refresh_param > 0;
                                split it with intercept_view_name */
    int refresh_param;       /* $n of the name, 0 when a literal */
    bool refresh_force;      /* literal true (the second argument), default false */
    int refresh_force_param; /* $n of the force argument, 0 when literal/absent */
    /* INTERCEPT_MIXED: "0A000", "42P01" or "42883", and a message for the client. */
    char *error_sqlstate;
    char *error_message;
    /* INTERCEPT_MIXED: a SELECT combining duro.* with other relations, which the copies published
     * in the warehouse ([catalog] publish) can answer. */
    bool copy_answers;
    /* Every relation the statement(s) name (reads, and DML targets too), once each in text order:
     * "schema.table" when qualified (a catalog part is dropped), "table" when not, folded as SQL
     * does. CTE references and duro.* are not here. Filled for every kind, empty when PASS
     * because the parser rejected the text. */
    StrVec relations;
    /* INTERCEPT_VIRTUAL: libpg_query's tree of the statement, handed to the SQL engine so that it
     * does not parse the text again; freed by intercept_info_free. NULL for other kinds. */
    struct PgQuery__ParseResult *tree;
} InterceptInfo;

/* Classifies sql into *out (free with intercept_info_free). Always returns 0: SQL the parser
 * rejects, or nested deeper than catalog/sqltree reads (SQLTREE_MAX_DEPTH), is INTERCEPT_PASS
 * with no relations. */
int intercept_analyze(const char *sql, InterceptInfo *out);
void intercept_info_free(InterceptInfo *info);

/* Whether ident (len bytes, also NUL-terminated, as SQL folds it: unquoted identifiers are
 * lower-cased, quoted ones kept exactly) names a managed view's table; arg is caller data. */
typedef bool (*InterceptIsName)(const char *ident, size_t len, void *arg);

/* A ready-made name set for intercept_may_concern: folded names, sorted by strcmp. */
typedef struct InterceptNameSet {
    const char *const *names;
    size_t n;
} InterceptNameSet;

/* InterceptIsName over an InterceptNameSet (arg), by binary search. */
bool intercept_name_set_has(const char *ident, size_t len, void *set);

/*
 * Cheap pre-filter without parsing, in one pass and without allocation: true when the text could
 * concern Duro: it contains the identifier duro or duro_refresh (any case, quoted or not) or an
 * identifier for which is_name (may be NULL) says yes. String literals ('..', E'..', $tag$..$tag$)
 * and comments (--, nested block comments) are skipped. False positives are possible (a column
 * named like a view), false negatives are not for text PostgreSQL accepts.
 */
bool intercept_may_concern(const char *sql, size_t len, InterceptIsName is_name, void *arg);

/*
 * Splits a schema-qualified view name given as a string argument of duro_refresh, with SQL
 * identifier rules: 'First.Cities' -> first.cities, '"first"."cities"' -> first.cities,
 * '"Odd.Name".x' keeps the dot inside quotes. Returns "schema.table" (caller frees), or NULL when
 * malformed (an empty part, unbalanced quotes, more than two parts, no schema).
 */
char *intercept_view_name(const char *arg);

#endif
