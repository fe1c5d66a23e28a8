/*
 * SQL text for building a view in PostgreSQL or Redshift (see dialect.h): the temp table with its
 * Redshift attributes (from the query, or from a Python processor's DDL), swap renames, grants,
 * dependent views, snapshots and the view's tests with self-references pointed at the temp table
 * (statements, references and names as catalog/sqlinfo reads them). Pure text generation; not
 * for: running SQL or deciding when to.
 */
#include "planner/dialect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/names.h"
#include "catalog/sqlinfo.h"

/* A growable string, for assembling statements. */
typedef struct Buf {
    char *s;
    size_t len;
    size_t cap;
} Buf;

/* Appends n bytes of s. */
static void buf_add_n(Buf *b, const char *s, size_t n)
{
    grow_array((void **)&b->s, &b->cap, b->len + n + 1, 1);
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

/* Appends s. */
static void buf_add(Buf *b, const char *s)
{
    buf_add_n(b, s, strlen(s));
}

/* Appends s and frees it. */
static void buf_add_owned(Buf *b, char *s)
{
    buf_add(b, s);
    free(s);
}

/* The built string (never NULL); the Buf no longer owns it. */
static char *buf_take(Buf *b)
{
    if (b->s == NULL)
        return xstrdup("");
    char *s = b->s;
    *b = (Buf){0};
    return s;
}

/* ---- Statements ---- */

char *dialect_statement(const char *sql)
{
    SqlSpan *spans;
    size_t n;
    char *error = NULL, *out = NULL;
    if (sql == NULL)
        return NULL;
    if (sqlinfo_statements(sql, &spans, &n, &error) < 0) {
        free(error);
        return NULL;
    }
    if (n == 1)
        out = xstrndup(sql + spans[0].start, (size_t)(spans[0].end - spans[0].start));
    free(spans);
    return out;
}

/* ---- DDL ---- */

char *dialect_create_schema(const char *schema)
{
    char *s = sql_ident(schema);
    char *out = xasprintf("CREATE SCHEMA IF NOT EXISTS %s", s);
    free(s);
    return out;
}

/* The Redshift table attributes of a config, each preceded by a space ("" when none). */
static char *redshift_attributes(const ViewConfig *c)
{
    Buf b = {0};
    const char *style = c->distkey != NULL ? "key" : c->diststyle;
    if (style != NULL) {
        char *upper = xstrdup(style);
        for (char *p = upper; *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
        buf_add(&b, " DISTSTYLE ");
        buf_add_owned(&b, upper);
    }
    if (c->distkey != NULL) {
        buf_add(&b, " DISTKEY (");
        buf_add_owned(&b, sql_ident(c->distkey));
        buf_add(&b, ")");
    }
    if (c->sortkey.n > 0) {
        buf_add(&b, " COMPOUND SORTKEY (");
        for (size_t i = 0; i < c->sortkey.n; i++) {
            if (i > 0)
                buf_add(&b, ", ");
            buf_add_owned(&b, sql_ident(c->sortkey.items[i]));
        }
        buf_add(&b, ")");
    }
    return buf_take(&b);
}

char *dialect_create_temp(Dialect d, const View *v)
{
    if (v->kind == VIEW_KIND_PROCESSOR)
        return NULL; /* built from the processor's DDL and CSV, not by CREATE TABLE AS */
    char *query = dialect_statement(v->query);
    if (query == NULL)
        return NULL;
    char *table = sql_table(v->schema, v->table, DIALECT_TEMP_SUFFIX);
    char *attributes = d == DIALECT_REDSHIFT ? redshift_attributes(&v->config) : xstrdup("");
    char *out = xasprintf("CREATE TABLE %s%s AS\n%s\n", table, attributes, query);
    free(attributes);
    free(table);
    free(query);
    return out;
}

char *dialect_drop_table(const char *schema, const char *table, const char *suffix)
{
    char *t = sql_table(schema, table, suffix);
    char *out = xasprintf("DROP TABLE IF EXISTS %s", t);
    free(t);
    return out;
}

char *dialect_rename(const char *schema, const char *from, const char *to)
{
    char *t = sql_table(schema, from, NULL), *n = sql_ident(to);
    char *out = xasprintf("ALTER TABLE %s RENAME TO %s", t, n);
    free(t);
    free(n);
    return out;
}

/*
 * A grantee of the config ("jane", "group g", "role r", "public") as GRANT
 * writes it. PostgreSQL has no ROLE keyword there: a role is named plainly.
 */
static char *grantee_sql(Dialect d, const char *g)
{
    if (strncmp(g, "group ", 6) == 0) {
        char *name = sql_ident(g + 6);
        char *out = xasprintf("GROUP %s", name);
        free(name);
        return out;
    }
    if (strncmp(g, "role ", 5) == 0) {
        if (d == DIALECT_POSTGRES)
            return sql_ident(g + 5);
        char *name = sql_ident(g + 5);
        char *out = xasprintf("ROLE %s", name);
        free(name);
        return out;
    }
    if (strcmp(g, "public") == 0)
        return xstrdup("PUBLIC");
    return sql_ident(g);
}

char *dialect_grant(Dialect d, const View *v)
{
    const StrVec *grants = &v->config.grant_select;
    if (grants->n == 0)
        return NULL;
    Buf b = {0};
    buf_add(&b, "GRANT SELECT ON ");
    buf_add_owned(&b, sql_table(v->schema, v->table, NULL));
    buf_add(&b, " TO ");
    for (size_t i = 0; i < grants->n; i++) {
        if (i > 0)
            buf_add(&b, ", ");
        buf_add_owned(&b, grantee_sql(d, grants->items[i]));
    }
    return buf_take(&b);
}

/*
 * Every view reading the table: edges are the view -> relation dependencies of views' _RETURN
 * rules (pg_depend rows of a pg_rewrite object on a pg_class object, the rule's own view excluded);
 * paths are followed from the table through views only (a materialized view is not rebuilt and
 * stops the walk), at most 100 deep (against rule cycles), and each view is ordered by its longest
 * path, which puts it after every view it reads. Catalog OIDs are looked up by name rather than
 * with regclass casts, which Redshift lacks for some catalogs.
 */
static const char dependent_views_sql[] =
    "WITH RECURSIVE edges (view_oid, read_oid) AS (\n"
    "    SELECT DISTINCT r.ev_class, d.refobjid\n"
    "    FROM pg_catalog.pg_depend d\n"
    "    JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid\n"
    "    JOIN pg_catalog.pg_class v ON v.oid = r.ev_class\n"
    "    WHERE d.classid = (SELECT c.oid FROM pg_catalog.pg_class c\n"
    "                       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n"
    "                       WHERE n.nspname = 'pg_catalog' AND c.relname = 'pg_rewrite')\n"
    "      AND d.refclassid = (SELECT c.oid FROM pg_catalog.pg_class c\n"
    "                          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n"
    "                          WHERE n.nspname = 'pg_catalog' AND c.relname = 'pg_class')\n"
    "      AND v.relkind = 'v'\n"
    "      AND r.ev_class <> d.refobjid\n"
    "),\n"
    "paths (view_oid, depth) AS (\n"
    "    SELECT e.view_oid, 1\n"
    "    FROM edges e\n"
    "    JOIN pg_catalog.pg_class t ON t.oid = e.read_oid\n"
    "    JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace\n"
    "    WHERE n.nspname = $1 AND t.relname = $2\n"
    "    UNION ALL\n"
    "    SELECT e.view_oid, p.depth + 1\n"
    "    FROM paths p\n"
    "    JOIN edges e ON e.read_oid = p.view_oid\n"
    "    WHERE p.depth < 100\n"
    ")\n"
    "SELECT n.nspname::text AS \"schema\", c.relname::text AS \"name\",\n"
    "       pg_catalog.pg_get_viewdef(c.oid)::text AS \"definition\"\n"
    "FROM (SELECT view_oid, max(depth) AS depth FROM paths GROUP BY view_oid) x\n"
    "JOIN pg_catalog.pg_class c ON c.oid = x.view_oid\n"
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n"
    "ORDER BY x.depth, n.nspname, c.relname";

const char *dialect_dependent_views_sql(Dialect d)
{
    (void)d; /* Redshift has the same catalogs; late-binding views have no pg_depend rows */
    return dependent_views_sql;
}

/* Whether c is ASCII whitespace. */
static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

char *dialect_replace_view(const char *schema, const char *name, const char *definition)
{
    const char *start = definition;
    while (is_space(*start))
        start++;
    size_t len = strlen(start);
    while (len > 0 && (is_space(start[len - 1]) || start[len - 1] == ';'))
        len--;
    char *t = sql_table(schema, name, NULL);
    char *out = xasprintf("CREATE OR REPLACE VIEW %s AS\n%.*s", t, (int)len, start);
    free(t);
    return out;
}

/* ---- Tests ---- */

/* Whether a relation reference names the view. */
static bool is_view_reference(const SqlRelation *r, const View *v)
{
    return strcmp(names_schema_or_default(r->schema), v->schema) == 0 &&
           strcmp(r->name, v->table) == 0;
}

/*
 * One test statement with every reference to the view replaced by the temp table. Returns the
 * new text (caller frees), or NULL with *error set.
 */
static char *rewrite_test(const char *stmt, const View *v, char **error)
{
    SqlInfo info;
    int offset;

    if (sqlinfo_analyze(stmt, SQL_KIND_TESTS, &info, error, &offset) < 0)
        return NULL;

    char *temp = sql_table(v->schema, v->table, DIALECT_TEMP_SUFFIX);
    char *alias = sql_ident(v->table);
    Buf b = {0};
    int copied = 0;
    bool ok = true;
    for (size_t i = 0; i < info.n_relations && ok; i++) {
        const SqlRelation *r = &info.relations[i];
        SqlSpan span = r->extent;
        if (!is_view_reference(r, v) || r->location < copied)
            continue;
        if (span.start < 0) {
            *error =
                xasprintf("could not find the reference to %s at byte %d", v->name, r->location);
            ok = false;
            break;
        }
        buf_add_n(&b, stmt + copied, (size_t)(span.start - copied));
        buf_add(&b, temp);
        if (r->bare_from_item) {
            buf_add(&b, " AS ");
            buf_add(&b, alias);
        }
        copied = span.end;
    }
    char *out = NULL;
    if (ok) {
        buf_add(&b, stmt + copied);
        out = buf_take(&b);
    }
    free(b.s);
    free(alias);
    free(temp);
    sqlinfo_free(&info);
    return out;
}

int dialect_tests(const View *v, StrVec *out, char **error)
{
    SqlSpan *spans;
    size_t n;
    *error = NULL;
    if (v->tests == NULL)
        return 0;
    if (sqlinfo_statements(v->tests, &spans, &n, error) < 0)
        return -1;
    StrVec rewritten = {0};
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char *stmt = xstrndup(v->tests + spans[i].start, (size_t)(spans[i].end - spans[i].start));
        char *sql = rewrite_test(stmt, v, error);
        free(stmt);
        if (sql == NULL) {
            rc = -1;
            break;
        }
        strvec_push_owned(&rewritten, sql);
    }
    if (rc == 0)
        for (size_t i = 0; i < rewritten.n; i++)
            strvec_push(out, rewritten.items[i]);
    strvec_free(&rewritten);
    free(spans);
    return rc;
}

/* ---- Processors ---- */

char *dialect_processor_create_temp(Dialect d, const View *v, char **error)
{
    char *stmt = dialect_statement(v->ddl);
    if (stmt == NULL) {
        *error = xstrdup("the DDL is not exactly one CREATE TABLE statement");
        return NULL;
    }
    SqlRelation made;
    int end, at;
    bool temporary;
    char *out = NULL;
    if (sqlinfo_created_table(stmt, &made, &end, &temporary, error, &at) < 0) {
        /* *error is set */
    } else if (temporary) {
        *error = xstrdup(
            "the DDL creates a temporary table; a processor's result must be a permanent table");
    } else if (strcmp(made.name, v->table) != 0 ||
               (made.schema && strcmp(made.schema, v->schema))) {
        *error = xasprintf("the DDL creates %.*s, not %s", end - made.location,
                           stmt + made.location, v->name);
    } else {
        Buf b = {0};
        buf_add_n(&b, stmt, (size_t)made.location);
        buf_add_owned(&b, sql_table(v->schema, v->table, DIALECT_TEMP_SUFFIX));
        buf_add(&b, stmt + end);
        if (d == DIALECT_REDSHIFT && !sqlinfo_has_table_attributes(stmt))
            buf_add_owned(&b, redshift_attributes(&v->config));
        out = buf_take(&b);
    }
    free(made.schema);
    free(made.name);
    free(stmt);
    return out;
}

/* ---- Snapshots ---- */

/* The warehouse's current time: timestamptz on PostgreSQL, timestamp on Redshift. */
static const char *now_sql(Dialect d)
{
    return d == DIALECT_REDSHIFT ? "GETDATE()" : "now()";
}

char *dialect_snapshot_create(Dialect d, const View *v)
{
    char *history = sql_table(v->schema, v->table, DIALECT_HISTORY_SUFFIX);
    char *live = sql_table(v->schema, v->table, NULL);
    char *out = xasprintf("CREATE TABLE %s AS SELECT *, %s AS snapshot_timestamp FROM %s", history,
                          now_sql(d), live);
    free(history);
    free(live);
    return out;
}

char *dialect_snapshot_due(Dialect d, const View *v)
{
    char *history = sql_table(v->schema, v->table, DIALECT_HISTORY_SUFFIX);
    char *out =
        xasprintf("SELECT coalesce(max(snapshot_timestamp) <= %s - interval '%lld seconds', "
                  "true) FROM %s",
                  now_sql(d), (long long)v->config.snapshots_interval, history);
    free(history);
    return out;
}

char *dialect_snapshot_insert(Dialect d, const View *v)
{
    char *history = sql_table(v->schema, v->table, DIALECT_HISTORY_SUFFIX);
    char *live = sql_table(v->schema, v->table, NULL);
    char *out = xasprintf("INSERT INTO %s SELECT *, %s FROM %s", history, now_sql(d), live);
    free(history);
    free(live);
    return out;
}

char *dialect_snapshot_prune(Dialect d, const View *v)
{
    if (v->config.snapshots_stored_for <= 0)
        return NULL;
    char *history = sql_table(v->schema, v->table, DIALECT_HISTORY_SUFFIX);
    char *out = xasprintf("DELETE FROM %s WHERE snapshot_timestamp < %s - interval '%lld seconds'",
                          history, now_sql(d), (long long)v->config.snapshots_stored_for);
    free(history);
    return out;
}

/* "_" is a LIKE wildcard: escaped with "!", named explicitly so no string setting matters. */
static const char leftovers_sql[] =
    "SELECT schemaname::text AS \"schema\", tablename::text AS \"table\" FROM "
    "pg_catalog.pg_tables\n"
    "WHERE tablename LIKE '%!_duro!_temp' ESCAPE '!' OR tablename LIKE '%!_duro!_old' ESCAPE '!'\n"
    "ORDER BY schemaname, tablename";

const char *dialect_leftovers_sql(Dialect d)
{
    (void)d;
    return leftovers_sql;
}

/* ---- Sessions ---- */

static const char sessions_sql_postgres[] =
    "SELECT pid::text AS pid, application_name::text AS name FROM pg_catalog.pg_stat_activity\n"
    "WHERE usename = current_user AND pid <> pg_catalog.pg_backend_pid()\n"
    "  AND left(application_name, length($1::text)) = $1::text\n"
    "ORDER BY pid";

/* The comment is "/" "* <name> *" "/" then a newline: the name starts at character 4. */
static const char sessions_sql_redshift[] =
    "SELECT pid::varchar AS pid, trim(split_part(substring(query, 4), ' */', 1)) AS name\n"
    "FROM stv_recents\n"
    "WHERE status = 'Running' AND trim(user_name) = current_user AND pid <> pg_backend_pid()\n"
    "  AND left(query, length($1::varchar) + 3) = '/* ' || $1::varchar\n"
    "ORDER BY pid";

const char *dialect_sessions_sql(Dialect d)
{
    return d == DIALECT_REDSHIFT ? sessions_sql_redshift : sessions_sql_postgres;
}

const char *dialect_terminate_sql(Dialect d)
{
    return d == DIALECT_REDSHIFT ? "SELECT pg_terminate_backend($1::integer)"
                                 : "SELECT pg_catalog.pg_terminate_backend($1::integer)";
}

const char *dialect_session_alive_sql(Dialect d)
{
    return d == DIALECT_REDSHIFT
               ? "SELECT count(*) FROM stv_sessions WHERE process = $1::integer"
               : "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE pid = $1::integer";
}

char *dialect_lock(Dialect d, const StrVec *relations)
{
    char *list = strvec_join(relations, ", ");
    char *sql = d == DIALECT_REDSHIFT ? xasprintf("LOCK %s", list)
                                      : xasprintf("LOCK TABLE %s IN ACCESS EXCLUSIVE MODE", list);
    free(list);
    return sql;
}

char *dialect_swap_lock_bound(Dialect d, int64_t ms)
{
    return d == DIALECT_REDSHIFT ? xasprintf("SET LOCAL statement_timeout TO %lld", (long long)ms)
                                 : xasprintf("SET LOCAL lock_timeout = '%lldms'", (long long)ms);
}

const char *dialect_swap_lock_unbound(Dialect d)
{
    return d == DIALECT_REDSHIFT ? "SET LOCAL statement_timeout TO DEFAULT" : NULL;
}

bool dialect_lock_timed_out(Dialect d, const char *sqlstate)
{
    return strcmp(sqlstate, d == DIALECT_REDSHIFT ? "57014" : "55P03") == 0;
}

/*
 * Granted locks only (a session still waiting is not the one in the way), in a transaction that
 * began before the swap's wait did (a reader let through after it gave up is not either).
 */
static const char lock_holders_postgres_sql[] =
    "SELECT a.pid::text AS \"pid\", a.usename::text AS \"user\", a.state::text AS \"state\",\n"
    "       to_char(a.state_change AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC' AS "
    "\"since\",\n"
    "       floor(extract(epoch FROM clock_timestamp() - a.state_change))::bigint::text AS "
    "\"seconds\"\n"
    "FROM pg_catalog.pg_stat_activity a\n"
    "WHERE a.pid <> pg_catalog.pg_backend_pid()\n"
    "  AND (a.xact_start IS NULL OR a.xact_start <= clock_timestamp() - $3::integer * interval "
    "'1 second')\n"
    "  AND EXISTS (SELECT 1 FROM pg_catalog.pg_locks l\n"
    "              JOIN pg_catalog.pg_class c ON c.oid = l.relation\n"
    "              JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n"
    "              WHERE l.pid = a.pid AND l.granted AND n.nspname = $1 AND c.relname = $2)\n"
    "ORDER BY a.xact_start NULLS LAST, a.pid\n"
    "LIMIT 3";

static const char lock_holders_redshift_sql[] =
    "SELECT DISTINCT t.pid::text AS \"pid\", trim(t.txn_owner)::text AS \"user\",\n"
    "       CASE WHEN r.pid IS NULL THEN 'idle in transaction' ELSE 'active' END AS \"state\",\n"
    "       to_char(t.txn_start, 'YYYY-MM-DD HH24:MI:SS') || ' UTC' AS \"since\",\n"
    "       datediff(second, t.txn_start, getdate())::text AS \"seconds\"\n"
    "FROM svv_transactions t\n"
    "JOIN pg_catalog.pg_class c ON c.oid = t.relation\n"
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\n"
    "LEFT JOIN (SELECT DISTINCT pid FROM stv_recents WHERE status = 'Running') r ON r.pid = "
    "t.pid\n"
    "WHERE t.granted AND t.lockable_object_type = 'relation' AND t.pid <> pg_backend_pid()\n"
    "  AND n.nspname = $1 AND c.relname = $2\n"
    "  AND t.txn_start <= dateadd(second, -$3::integer, getdate())\n"
    "ORDER BY 4, 1\n"
    "LIMIT 3";

const char *dialect_lock_holders_sql(Dialect d)
{
    return d == DIALECT_REDSHIFT ? lock_holders_redshift_sql : lock_holders_postgres_sql;
}

RepoOptions dialect_repo_options(Dialect d)
{
    return (RepoOptions){
        .max_ident_len = d == DIALECT_REDSHIFT ? NAMES_MAX_IDENT_REDSHIFT : NAMES_MAX_IDENT,
        .dialect = d,
    };
}

/* ---- The build guard ---- */

#define GUARD_TABLE "duro_build_guard"

void dialect_guard_take(Dialect d, const char *schema, StrVec *out)
{
    if (d != DIALECT_REDSHIFT) {
        strvec_push(out, "SELECT pg_catalog.pg_try_advisory_lock(" DIALECT_GUARD_CLASS
                         ", pg_catalog.hashtext($1::text))");
        return;
    }
    char *guard = sql_table(schema, GUARD_TABLE, NULL);
    strvec_push_owned(out, dialect_create_schema(schema));
    strvec_push_owned(out, xasprintf("CREATE TABLE IF NOT EXISTS %s (view_name VARCHAR(256) NOT "
                                     "NULL, owner_pid INTEGER NOT NULL, since TIMESTAMP NOT NULL)",
                                     guard));
    strvec_push(out, "BEGIN");
    strvec_push_owned(out, xasprintf("LOCK %s", guard));
    strvec_push_owned(out, xasprintf("DELETE FROM %s WHERE view_name = $1::varchar AND owner_pid "
                                     "NOT IN (SELECT process FROM stv_sessions)",
                                     guard));
    strvec_push_owned(out, xasprintf("INSERT INTO %s SELECT $1::varchar, pg_backend_pid(), "
                                     "getdate() WHERE NOT EXISTS (SELECT 1 FROM %s WHERE "
                                     "view_name = $1::varchar)",
                                     guard, guard));
    strvec_push(out, "COMMIT");
    strvec_push_owned(out, xasprintf("SELECT count(*) > 0 FROM %s WHERE view_name = $1::varchar "
                                     "AND owner_pid = pg_backend_pid()",
                                     guard));
    free(guard);
}

char *dialect_guard_release(Dialect d, const char *schema)
{
    if (d != DIALECT_REDSHIFT)
        return xstrdup("SELECT pg_catalog.pg_advisory_unlock(" DIALECT_GUARD_CLASS
                       ", pg_catalog.hashtext($1::text))");
    char *guard = sql_table(schema, GUARD_TABLE, NULL);
    char *sql = xasprintf(
        "DELETE FROM %s WHERE view_name = $1::varchar AND owner_pid = pg_backend_pid()", guard);
    free(guard);
    return sql;
}

char *dialect_guard_holder(Dialect d, const char *schema)
{
    if (d != DIALECT_REDSHIFT)
        return xstrdup(
            "SELECT a.application_name::text AS name, l.pid::text AS pid,\n"
            "       to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS since\n"
            "FROM pg_catalog.pg_locks l\n"
            "LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid\n"
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2\n"
            "  AND l.classid = " DIALECT_GUARD_CLASS "::oid\n"
            "  AND l.objid = pg_catalog.hashtext($1::text)::oid\n"
            "  AND l.database = (SELECT oid FROM pg_catalog.pg_database\n"
            "                    WHERE datname = pg_catalog.current_database())\n"
            "LIMIT 1");
    char *guard = sql_table(schema, GUARD_TABLE, NULL);
    char *sql =
        xasprintf("SELECT trim(s.user_name)::varchar AS name, g.owner_pid::varchar AS pid,\n"
                  "       to_char(g.since, 'YYYY-MM-DD HH24:MI:SS') AS since\n"
                  "FROM %s g LEFT JOIN stv_sessions s ON s.process = g.owner_pid\n"
                  "WHERE g.view_name = $1::varchar\n"
                  "LIMIT 1",
                  guard);
    free(guard);
    return sql;
}

/* ---- the published copies of duro.status and duro.runs ------------------------------- */

typedef enum PubType { PUB_TEXT, PUB_TIME, PUB_FLOAT, PUB_INT } PubType;

typedef struct PubColumn {
    const char *name;
    PubType type;
} PubColumn;

/* The virtual tables' columns (sqlengine/db.c), in their order. */
static const PubColumn status_columns[] = {
    {"view", PUB_TEXT},         {"interval", PUB_TEXT},     {"effective_interval", PUB_TEXT},
    {"state", PUB_TEXT},        {"last_refresh", PUB_TIME}, {"last_duration_s", PUB_FLOAT},
    {"next_refresh", PUB_TIME}, {"rows", PUB_INT},          {"depends_on", PUB_TEXT},
    {"last_error", PUB_TEXT},   {"source", PUB_TEXT},       {"reads_24h", PUB_INT},
    {"last_read", PUB_TIME},    {"readers", PUB_TEXT},
};
static const PubColumn runs_columns[] = {
    {"id", PUB_INT},        {"view", PUB_TEXT},    {"started", PUB_TIME},
    {"finished", PUB_TIME}, {"outcome", PUB_TEXT}, {"duration_s", PUB_FLOAT},
    {"rows", PUB_INT},      {"trigger", PUB_TEXT}, {"error", PUB_TEXT},
};

static const PubColumn *pub_columns(PublishTable t, size_t *n)
{
    if (t == PUBLISH_STATUS) {
        *n = ARRAY_LEN(status_columns);
        return status_columns;
    }
    *n = ARRAY_LEN(runs_columns);
    return runs_columns;
}

const char *dialect_publish_name(PublishTable t)
{
    return t == PUBLISH_STATUS ? "status" : "runs";
}

size_t dialect_publish_ncolumns(PublishTable t)
{
    size_t n;
    (void)pub_columns(t, &n);
    return n;
}

static const char *pub_type(Dialect d, PubType t)
{
    static const char *const pg[] = {"text", "timestamptz", "float8", "int8"};
    static const char *const rs[] = {"VARCHAR(65535)", "TIMESTAMPTZ", "DOUBLE PRECISION", "BIGINT"};
    return d == DIALECT_REDSHIFT ? rs[t] : pg[t];
}

char *dialect_publish_create(Dialect d, const char *schema, PublishTable t)
{
    size_t n;
    const PubColumn *cols = pub_columns(t, &n);
    Buf b = {0};
    buf_add(&b, "CREATE TABLE IF NOT EXISTS ");
    buf_add_owned(&b, sql_table(schema, dialect_publish_name(t), NULL));
    buf_add(&b, " (");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            buf_add(&b, ", ");
        buf_add_owned(&b, sql_ident(cols[i].name));
        buf_add(&b, " ");
        buf_add(&b, pub_type(d, cols[i].type));
    }
    buf_add(&b, ")");
    return buf_take(&b);
}

const char *dialect_publish_exists_sql(void)
{
    return "SELECT count(*) FROM pg_catalog.pg_class c"
           " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
           " WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname IN ('status', 'runs')";
}

const char *dialect_schema_exists_sql(void)
{
    return "SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = $1";
}

void dialect_publish_grants(Dialect d, const char *schema, const StrVec *readers, StrVec *out)
{
    if (readers->n == 0)
        return;
    Buf to = {0};
    for (size_t i = 0; i < readers->n; i++) {
        if (i > 0)
            buf_add(&to, ", ");
        buf_add_owned(&to, grantee_sql(d, readers->items[i]));
    }
    char *s = sql_ident(schema);
    char *status = sql_table(schema, "status", NULL);
    char *runs = sql_table(schema, "runs", NULL);
    strvec_push_owned(out, xasprintf("GRANT USAGE ON SCHEMA %s TO %s", s, to.s));
    strvec_push_owned(out, xasprintf("GRANT SELECT ON %s, %s TO %s", status, runs, to.s));
    free(s);
    free(status);
    free(runs);
    free(to.s);
}

char *dialect_publish_insert(const char *schema, PublishTable t, size_t nrows)
{
    size_t n;
    const PubColumn *cols = pub_columns(t, &n);
    Buf b = {0};
    buf_add(&b, "INSERT INTO ");
    buf_add_owned(&b, sql_table(schema, dialect_publish_name(t), NULL));
    buf_add(&b, " (");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            buf_add(&b, ", ");
        buf_add_owned(&b, sql_ident(cols[i].name));
    }
    buf_add(&b, ") VALUES ");
    size_t param = 1;
    for (size_t r = 0; r < nrows; r++) {
        buf_add(&b, r > 0 ? ", (" : "(");
        for (size_t i = 0; i < n; i++) {
            char num[32];
            snprintf(num, sizeof num, "%s$%zu", i > 0 ? ", " : "", param++);
            buf_add(&b, num);
        }
        buf_add(&b, ")");
    }
    return buf_take(&b);
}

char *dialect_publish_clear_status(const char *schema)
{
    char *t = sql_table(schema, "status", NULL);
    char *out = xasprintf("DELETE FROM %s", t);
    free(t);
    return out;
}

char *dialect_publish_trim_runs(const char *schema)
{
    char *t = sql_table(schema, "runs", NULL);
    char *out = xasprintf("DELETE FROM %s WHERE \"id\" > $1 OR \"id\" < $2", t);
    free(t);
    return out;
}

char *dialect_publish_final_sql(const char *schema)
{
    char *t = sql_table(schema, "runs", NULL);
    char *out = xasprintf("SELECT coalesce((SELECT min(\"id\") - 1 FROM %s WHERE \"outcome\" = "
                          "'running'), (SELECT max(\"id\") FROM %s), 0)",
                          t, t);
    free(t);
    return out;
}
