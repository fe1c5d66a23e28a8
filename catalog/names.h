/*
 * SQL names, as PostgreSQL and Redshift read them: identifier folding and quoting, the length
 * limit, "schema.table" read and written, and the public schema an unqualified name lives in.
 * Every other module asks here. Pure functions, no I/O. Not for: finding names in SQL text
 * (catalog/sqlinfo) or deciding which names are managed views (catalog/repo).
 */
#ifndef DURO_CATALOG_NAMES_H
#define DURO_CATALOG_NAMES_H

#include <stddef.h>

/* PostgreSQL's identifier limit (NAMEDATALEN - 1 bytes); longer names are cut. */
#define NAMES_MAX_IDENT 63
/* Redshift's identifier limit. */
#define NAMES_MAX_IDENT_REDSHIFT 127
/* The schema an unqualified relation name resolves to. */
#define NAMES_DEFAULT_SCHEMA "public"

/*
 * The name an identifier written as the len bytes at s stands for: unquoted, folded to lower
 * case; quoted, unquoted ("" is one quote) and kept; either way cut to NAMES_MAX_IDENT bytes
 * (never inside a UTF-8 sequence), as PostgreSQL does. Caller frees.
 */
char *names_ident(const char *s, size_t len);

/* How many of the n bytes at s a name keeps: n, or when n > NAMES_MAX_IDENT (s then holds at
 * least NAMES_MAX_IDENT + 1 bytes) NAMES_MAX_IDENT less any partial UTF-8 sequence at the cut. */
size_t names_clip(const char *s, size_t n);

/* name as a quoted identifier ("a""b" for a"b). Caller frees. */
char *names_quote(const char *name);

/* "schema"."table<suffix>", both quoted; suffix may be NULL. Caller frees. */
char *names_quote_table(const char *schema, const char *table, const char *suffix);

/* The schema of a relation reference: schema, or NAMES_DEFAULT_SCHEMA when it is NULL. */
const char *names_schema_or_default(const char *schema);

/* "schema.table" (unquoted, the catalog's key of a view); schema NULL means the default. Caller
 * frees. */
char *names_qualified(const char *schema, const char *table);

/*
 * Reads a view name a user typed as schema.table: each part an unquoted name (folded, blanks
 * around it allowed) or a "quoted" one (kept). Returns "schema.table" (caller frees), or NULL
 * when the text is not exactly two non-empty parts.
 */
char *names_parse_qualified(const char *text);

/* Like names_parse_qualified, but a name of one part is a table in NAMES_DEFAULT_SCHEMA, as
 * PostgreSQL's default search_path has it. Caller frees; NULL when malformed. */
char *names_parse_view(const char *text);

#endif
