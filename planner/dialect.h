/*
 * The SQL Duro sends to build a view, for each warehouse dialect: the temp
 * table (Redshift: DISTSTYLE/DISTKEY/COMPOUND SORTKEY from the config), by
 * CREATE TABLE AS or from a Python processor's DDL, the renames of the swap,
 * grants, snapshots, the dependent views to rebuild, and the view's tests
 * rewritten to read the temp table. Pure text generation: every
 * identifier quoted, no value ever spliced (values are bound by the caller as
 * $1, $2). Not for: running anything (planner/pipeline does).
 */
#ifndef DURO_PLANNER_DIALECT_H
#define DURO_PLANNER_DIALECT_H

#include <stdbool.h>

#include "catalog/names.h"
#include "catalog/repo.h"
#include "core/settings.h" /* Dialect */
#include "core/util.h"

#define DIALECT_TEMP_SUFFIX    "_duro_temp"
#define DIALECT_OLD_SUFFIX     "_duro_old"
#define DIALECT_HISTORY_SUFFIX "_history"

/* How the views repository is read for this warehouse: its identifier length limit. */
RepoOptions dialect_repo_options(Dialect d);

/* The SQL generators' names for catalog/names quoting: cities -> "cities"; and
 * "schema"."table<suffix>" (suffix may be NULL or ""). */
#define sql_ident names_quote
#define sql_table names_quote_table

/*
 * The text of the one statement in sql, without a trailing semicolon or the
 * comments and blanks after it, so that it can follow "AS". NULL when sql does
 * not hold exactly one statement.
 */
char *dialect_statement(const char *sql);

/* CREATE SCHEMA IF NOT EXISTS "s" */
char *dialect_create_schema(const char *schema);

/*
 * CREATE TABLE "s"."t_duro_temp" <attributes> AS\n<query>\n
 * Redshift attributes, in this order, each only when configured:
 *   DISTSTYLE EVEN|ALL|AUTO|KEY, DISTKEY ("c"), COMPOUND SORTKEY ("a", "b").
 * A distkey implies DISTSTYLE KEY, whatever diststyle says (Redshift accepts no
 * other style with a DISTKEY). PostgreSQL: no attributes. NULL when the query
 * is not one statement.
 */
char *dialect_create_temp(Dialect d, const View *v);

/*
 * A Python processor's temp table, from the DDL in its view file: the same
 * CREATE [UNLOGGED] TABLE [IF NOT EXISTS] statement (comments, blanks and
 * column list kept; a trailing ";" dropped) with the table's name replaced by
 * "s"."t_duro_temp". The name in the DDL must be the view's own, qualified
 * (s.t) or not (t), folded and quoted as SQL does. On Redshift the config's
 * DISTSTYLE/DISTKEY/COMPOUND SORTKEY are appended as dialect_create_temp writes
 * them, unless the DDL has a DISTSTYLE, DISTKEY or SORTKEY of its own: then the
 * DDL wins and none of the config's are added. Returns the statement, or NULL
 * with *error (caller frees) when the DDL is not one such CREATE TABLE, is a
 * TEMP table, or creates another table.
 */
char *dialect_processor_create_temp(Dialect d, const View *v, char **error);

/* DROP TABLE IF EXISTS "s"."t<suffix>" */
char *dialect_drop_table(const char *schema, const char *table, const char *suffix);

/* ALTER TABLE "s"."<from>" RENAME TO "<to>" (to is unqualified: a rename stays in its schema). */
char *dialect_rename(const char *schema, const char *from, const char *to);

/*
 * GRANT SELECT ON "s"."t" TO "jane", GROUP "analysts", ROLE "r" — one
 * statement for all grantees of the view's config; NULL when there are none
 * (an empty grant set grants nothing). "public" is granted as PUBLIC. On
 * PostgreSQL a role is named without the ROLE keyword, which only Redshift has.
 */
char *dialect_grant(Dialect d, const View *v);

/*
 * The views that read table $1.$2 (schema, name bound by the caller), directly
 * or through other views, one row each: schema, name, definition
 * (pg_get_viewdef), in an order where a view comes after every view it reads.
 */
const char *dialect_dependent_views_sql(Dialect d);

/*
 * Locks relations (already quoted, qualified names) in the given order, for the
 * rest of the transaction: PostgreSQL LOCK TABLE ... IN ACCESS EXCLUSIVE MODE
 * (a view's lock extends to what it reads); Redshift LOCK (tables only there,
 * so the caller passes tables only).
 */
char *dialect_lock(Dialect d, const StrVec *relations);

/*
 * The bound on the swap's lock waits, run first in the swap's transaction. PostgreSQL:
 * SET LOCAL lock_timeout = '<ms>ms' — each lock request waits at most that long, then the
 * statement fails with 55P03, and the bound holds until the transaction ends. Redshift has no
 * lock_timeout: SET LOCAL statement_timeout TO <ms> — the LOCK statement is cancelled (57014)
 * past it; dialect_swap_lock_unbound lifts it once the locks are held.
 */
char *dialect_swap_lock_bound(Dialect d, int64_t ms);

/* Run after the swap's LOCK succeeded: NULL on PostgreSQL (the bound stays), Redshift
 * SET LOCAL statement_timeout TO DEFAULT (the later statements are not lock waits). */
const char *dialect_swap_lock_unbound(Dialect d);

/* Whether a swap statement that failed with sqlstate gave up waiting for a lock under
 * dialect_swap_lock_bound: PostgreSQL 55P03 (lock_not_available), Redshift 57014. */
bool dialect_lock_timed_out(Dialect d, const char *sqlstate);

/*
 * The other sessions holding a lock on table $1.$2 (schema, name bound by the caller) in a
 * transaction at least $3 seconds old (the swap's wait): one row each, oldest transaction first,
 * at most 3, columns pid, user, state, since (text, UTC), seconds (in that state). PostgreSQL:
 * pg_locks and pg_stat_activity (state and since are NULL where the service account may not see
 * them). Redshift: SVV_TRANSACTIONS (a session running a query per STV_RECENTS is "active", else
 * "idle in transaction"; since = the transaction's start; a non-superuser sees its own sessions
 * only).
 */
const char *dialect_lock_holders_sql(Dialect d);

/* CREATE OR REPLACE VIEW "s"."v" AS\n<definition> */
char *dialect_replace_view(const char *schema, const char *name, const char *definition);

/*
 * The view's tests, one statement each, with every reference to the view
 * itself rewritten to "s"."t_duro_temp" (references found by the parser or
 * tokenizer, so names in comments, strings and CTEs are left alone). Returns 0
 * and appends to *out, or -1 with *error set.
 */
int dialect_tests(const View *v, StrVec *out, char **error) MUST_CHECK;

/* The snapshot step: "s"."t" into "s"."t_history", stamped with the warehouse's now. */
char *dialect_snapshot_create(Dialect d,
                              const View *v); /* CREATE TABLE ..._history AS SELECT *, now */
char *dialect_snapshot_due(Dialect d, const View *v);    /* one row, one boolean: newest older than
                                                            snapshots_interval (true when empty) */
char *dialect_snapshot_insert(Dialect d, const View *v); /* INSERT INTO ..._history SELECT *, now */
char *dialect_snapshot_prune(Dialect d,
                             const View *v); /* DELETE ... older than snapshots_stored_for;
                                                NULL when kept forever */

/*
 * Leftovers of interrupted builds: rows schema, table for every table whose
 * name ends in _duro_temp or _duro_old. The caller keeps those whose name,
 * less the suffix, is a managed view.
 */
const char *dialect_leftovers_sql(Dialect d);

/*
 * The service account's other sessions whose name starts with $1 (bound by the caller: a prefix
 * of plain characters), one row each: pid (the server process, as PG_TERMINATE_BACKEND takes it)
 * and name. PostgreSQL: every such session in pg_stat_activity, named by its application_name.
 * Redshift, whose session tables show no application_name to a non-superuser: the running
 * statements in STV_RECENTS that start with the comment "/ * <name> * /" Duro puts before each.
 */
const char *dialect_sessions_sql(Dialect d);

/* Ends the session of server process $1: one row, one boolean (false when it was gone). */
const char *dialect_terminate_sql(Dialect d);

/* Whether server process $1 still has a session: one row, one count (pg_stat_activity,
 * STV_SESSIONS). */
const char *dialect_session_alive_sql(Dialect d);

/*
 * The build guard: one build of a view at a time across every Duro process on the warehouse,
 * whatever catalog each has, held by the build's connection. Every statement below that names $1
 * is bound to the view's name, schema.table (as View.name); the others take no parameter.
 *
 * PostgreSQL: a session-level advisory lock with two int4 keys, DIALECT_GUARD_CLASS ("duro" in
 * ASCII) and hashtext(schema.table); the server releases it when the connection ends. Two views
 * whose names hash alike share a guard: one waits for the other's build (never a wrong drop).
 *
 * Redshift, which has no advisory lock: a table "s"."duro_build_guard" (view_name, owner_pid,
 * since) in the view's schema, one row per view being built, claimed in a short transaction under
 * LOCK; a row whose owner_pid has no session in STV_SESSIONS any more is stale and deleted by the
 * next claim. A non-superuser sees only its own user's sessions there: every Duro on one
 * warehouse must use the same service account (or a superuser).
 */
#define DIALECT_GUARD_CLASS "1685418607"

/* Appends the statements that try to take the guard, to run in order; the last answers one row,
 * one boolean: whether this session holds it now. They wait for no other build. */
void dialect_guard_take(Dialect d, const char *schema, StrVec *out);

/* Releases the guard this session holds (one statement; nothing when it holds none). */
char *dialect_guard_release(Dialect d, const char *schema);

/* Who holds the guard: at most one row, columns name (PostgreSQL: application_name; Redshift:
 * the user), pid (server process) and since (UTC text: PostgreSQL when the session began,
 * Redshift when the guard was taken). */
char *dialect_guard_holder(Dialect d, const char *schema);

/* ---- The published copies of duro.status and duro.runs (planner/publish) ---------------- */

/* The two tables Duro publishes in [catalog] schema. */
typedef enum PublishTable {
    PUBLISH_STATUS, /* duro.status: one row per view */
    PUBLISH_RUNS,   /* duro.runs: one row per run */
} PublishTable;
#define PUBLISH_TABLES 2

/* The table's name ("status", "runs") and its number of columns (as the virtual table's). */
const char *dialect_publish_name(PublishTable t);
size_t dialect_publish_ncolumns(PublishTable t);

/*
 * CREATE TABLE IF NOT EXISTS "s"."status" ("view" text, ...): the virtual table's columns and
 * PostgreSQL types (text, timestamptz, float8, int8). Redshift, whose TEXT is VARCHAR(256):
 * VARCHAR(65535) for the text columns, DOUBLE PRECISION, BIGINT, TIMESTAMPTZ.
 */
char *dialect_publish_create(Dialect d, const char *schema, PublishTable t);

/* One row, one count: how many of the two tables exist in schema $1 (2 = both). */
const char *dialect_publish_exists_sql(void);

/* One row, one count: whether schema $1 exists (1) or not (0). */
const char *dialect_schema_exists_sql(void);

/*
 * The grants of the published tables to readers ("jane", "group g", "role r", "public", as a
 * view's grant_select): GRANT USAGE ON SCHEMA "s" TO ..., then GRANT SELECT ON "s"."status",
 * "s"."runs" TO ...; appended to *out (nothing when readers is empty).
 */
void dialect_publish_grants(Dialect d, const char *schema, const StrVec *readers, StrVec *out);

/*
 * INSERT INTO "s"."t" ("c1", ...) VALUES ($1, ...), ($n+1, ...): nrows rows of parameters, plain
 * INSERT ... VALUES on both dialects (Redshift's batch insert).
 */
char *dialect_publish_insert(const char *schema, PublishTable t, size_t nrows);

/* DELETE FROM "s"."status": the status rows are replaced whole, DELETE then INSERT. */
char *dialect_publish_clear_status(const char *schema);

/* DELETE FROM "s"."runs" WHERE "id" > $1 OR "id" < $2: the runs published again, and those the
 * catalog no longer keeps. */
char *dialect_publish_trim_runs(const char *schema);

/* One row, one int8: the id up to which the published runs are final (all finished): the
 * smallest running id less one, else the largest id, else 0. */
char *dialect_publish_final_sql(const char *schema);

#endif
