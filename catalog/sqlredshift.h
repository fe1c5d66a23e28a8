/*
 * Redshift-only syntax that the PostgreSQL parser rejects, rewritten into PostgreSQL of the same
 * length, so that catalog/sqlinfo can tell "rejected only for Redshift syntax" (the rewrite parses)
 * from a real mistake (it does not, and the parser's error points into the original text). Pure.
 * Not for: reading relations (the tokenizer does that for such text) or running the rewrite.
 */
#ifndef DURO_CATALOG_SQLREDSHIFT_H
#define DURO_CATALOG_SQLREDSHIFT_H

#include <pg_query/pg_query.pb-c.h>

/*
 * The text sql (whose significant tokens, comments dropped, are t[0..n)) with every Redshift-only
 * construct it recognises rewritten; caller frees. NULL when there is none. Byte offsets and line
 * breaks are kept. The constructs, each where PostgreSQL would not accept it:
 *   SELECT [DISTINCT|ALL] TOP n          TOP n blanked
 *   APPROXIMATE COUNT(...) / PERCENTILE_DISC(...)   APPROXIMATE blanked
 *   QUALIFY condition                    HAVING condition (AND when the query has a HAVING)
 *   FROM x PIVOT (...) / UNPIVOT [INCLUDE|EXCLUDE NULLS] (...)
 *                                        the clause blanked (the keyword kept as the alias of a
 *                                        subquery that has none)
 *   LISTAGG(DISTINCT ...) WITHIN GROUP   DISTINCT blanked
 *   #name (a temporary table)            _name
 *   VARCHAR(MAX), CHAR(MAX), VARBYTE(MAX)...     MAX written as a number
 *   CREATE TABLE attributes: DISTSTYLE x, [COMPOUND|INTERLEAVED] SORTKEY (...), DISTKEY (...),
 *   column DISTKEY / SORTKEY, ENCODE x, BACKUP YES|NO, IDENTITY(seed, step)   blanked
 * Casts to Redshift types (::super, ::hllsketch), LISTAGG / MEDIAN / PERCENTILE_CONT ... WITHIN
 * GROUP and the like need nothing: the PostgreSQL parser reads them as it reads any name.
 */
char *sqlredshift_neutral(const char *sql, PgQuery__ScanToken *const *t, int n);

#endif
