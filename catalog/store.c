/*
 * The catalog store (see store.h): opens and migrates Duro's SQLite file, makes
 * its views table match the repository, records refresh runs and their steps,
 * and reads them back. Every value is bound to a prepared statement, never
 * spliced into SQL. Not for: deciding what is stale (planner/staleness),
 * building views, or reading the repository.
 */
#include "catalog/store.h"

#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* How long a connection waits for another one's lock before giving up. */
#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_RETRY_SLEEP_MS  10

struct Store {
    sqlite3 *db;
    sqlite3_stmt *data_version; /* prepared once: asked before every statement the gateway reads */
    char *path;
    char *error; /* the last failure on this Store, or NULL */
    int errcode; /* its SQLite extended result code (SQLITE_ERROR for our own checks) */
};

/*
 * Schema migrations in order; migrations[i] takes user_version from i to i + 1
 * in its own transaction. Never edit a released one: append a new one and bump
 * STORE_SCHEMA_VERSION.
 */
typedef struct Migration {
    int version;
    const char *sql;
} Migration;

static const Migration migrations[] = {
    {1, "CREATE TABLE views (\n"
        "    name TEXT PRIMARY KEY NOT NULL,        -- schema.table\n"
        "    schema_name TEXT NOT NULL,\n"
        "    table_name TEXT NOT NULL,\n"
        "    kind TEXT NOT NULL,                    -- sql or processor\n"
        "    source TEXT NOT NULL,                  -- path of the view file\n"
        "    interval_s INTEGER NOT NULL,           -- own interval; 0 = none\n"
        "    effective_interval_s INTEGER NOT NULL, -- 0 = none\n"
        "    enabled INTEGER NOT NULL,\n"
        "    config TEXT NOT NULL,                  -- config_describe() text\n"
        "    depends_on TEXT NOT NULL,              -- comma-separated view names\n"
        "    hash TEXT NOT NULL,                    -- definition hash now\n"
        "    built_hash TEXT,                       -- last built successfully; NULL = never\n"
        "    first_seen_us INTEGER NOT NULL,\n"
        "    changed_us INTEGER NOT NULL,           -- when hash last changed\n"
        "    last_success_us INTEGER,               -- NULL = never\n"
        "    last_duration_us INTEGER,\n"
        "    \"rows\" INTEGER                         -- of the last success; NULL = unknown\n"
        ");\n"
        "CREATE TABLE runs (                        -- no foreign key: runs outlive their view\n"
        "    id INTEGER PRIMARY KEY,\n"
        "    \"view\" TEXT NOT NULL,\n"
        "    \"trigger\" TEXT NOT NULL,               -- schedule, call, read, web, dependency\n"
        "    started_us INTEGER NOT NULL,\n"
        "    finished_us INTEGER,                   -- NULL while running\n"
        "    outcome TEXT NOT NULL,                 -- running ok failed tests_failed cancelled\n"
        "    \"rows\" INTEGER,                        -- NULL = unknown\n"
        "    error TEXT,\n"
        "    hash TEXT                              -- definition hash the run built\n"
        ");\n"
        "CREATE INDEX runs_by_view ON runs (\"view\", started_us);\n"
        "CREATE INDEX runs_by_started ON runs (started_us);\n"
        "CREATE INDEX runs_running ON runs (\"view\") WHERE outcome = 'running';\n"
        "CREATE TABLE run_steps (\n"
        "    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n"
        "    step TEXT NOT NULL,\n"
        "    started_us INTEGER NOT NULL,\n"
        "    finished_us INTEGER NOT NULL,\n"
        "    error TEXT                             -- NULL when the step succeeded\n"
        ");\n"
        "CREATE INDEX run_steps_by_run ON run_steps (run_id, started_us);\n"},
    {2, "ALTER TABLE runs ADD COLUMN pid INTEGER;    -- process that runs it; NULL = unknown\n"},
    {3, "ALTER TABLE runs ADD COLUMN retry_us INTEGER; -- a failure of the view's own: its next "
        "try\n"},
};

_Static_assert(sizeof migrations / sizeof migrations[0] == STORE_SCHEMA_VERSION,
               "one migration per schema version");

static void set_error(Store *s, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* Records a failure found by this file's own checks. */
static void set_error(Store *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    free(s->error);
    s->error = msg;
    s->errcode = SQLITE_ERROR;
}

/* Records the connection's current SQLite error, prefixed with what was being done. */
static void set_db_error(Store *s, const char *doing)
{
    const char *msg = sqlite3_errmsg(s->db);
    char *copy = xstrdup(msg ? msg : "unknown error");
    free(s->error);
    s->error = xasprintf("%s: %s", doing, copy);
    s->errcode = sqlite3_extended_errcode(s->db);
    free(copy);
}

static int prepare(Store *s, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
        set_db_error(s, "cannot prepare statement");
        return -1;
    }
    return 0;
}

/*
 * Binds parameters ?1, ?2, ... in order, one letter of spec each: 't' a
 * const char * (NULL binds NULL), 'i' an int64_t, 'n' an int64_t where a
 * negative value means unknown and binds NULL.
 */
static int bind_values(Store *s, sqlite3_stmt *st, const char *spec, ...)
{
    va_list ap;
    int rc = SQLITE_OK;
    va_start(ap, spec);
    for (int i = 0; spec[i] && rc == SQLITE_OK; i++) {
        int idx = i + 1;
        switch (spec[i]) {
        case 't': {
            const char *text = va_arg(ap, const char *);
            rc = text ? sqlite3_bind_text(st, idx, text, -1, SQLITE_TRANSIENT)
                      : sqlite3_bind_null(st, idx);
            break;
        }
        case 'i':
            rc = sqlite3_bind_int64(st, idx, (sqlite3_int64)va_arg(ap, int64_t));
            break;
        case 'n': {
            int64_t value = va_arg(ap, int64_t);
            rc = value < 0 ? sqlite3_bind_null(st, idx)
                           : sqlite3_bind_int64(st, idx, (sqlite3_int64)value);
            break;
        }
        default:
            abort(); /* a bug in this file */
        }
    }
    va_end(ap);
    if (rc != SQLITE_OK) {
        set_db_error(s, "cannot bind value");
        return -1;
    }
    return 0;
}

/* Runs a statement that returns no rows and resets it for reuse. */
static int step_done(Store *s, sqlite3_stmt *st, const char *doing)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        set_db_error(s, doing);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Runs one or more statements without parameters. */
static int exec_sql(Store *s, const char *sql, const char *doing)
{
    char *msg = NULL;
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        free(s->error);
        s->error = xasprintf("%s: %s", doing, msg ? msg : sqlite3_errstr(rc));
        s->errcode = sqlite3_extended_errcode(s->db);
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* Write transactions take the write lock up front so they wait (busy timeout) instead of
 * failing with SQLITE_BUSY when upgrading from a read. */
static int begin_write(Store *s)
{
    return exec_sql(s, "BEGIN IMMEDIATE", "cannot start transaction");
}

/* A read transaction: one consistent snapshot for several statements. */
static int begin_read(Store *s)
{
    return exec_sql(s, "BEGIN", "cannot start transaction");
}

static int commit(Store *s)
{
    return exec_sql(s, "COMMIT", "cannot commit");
}

/* Rolls back the open transaction, if any; keeps the error that caused it. */
static void rollback(Store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* A copy of a text column, or NULL when it is NULL. */
static char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *text = sqlite3_column_text(st, i);
    return text ? xstrdup((const char *)text) : NULL;
}

/* A copy of a text column that is never NULL. */
static char *col_text_nn(sqlite3_stmt *st, int i)
{
    char *text = col_text(st, i);
    return text ? text : xstrdup("");
}

static int64_t col_int(sqlite3_stmt *st, int i, int64_t if_null)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return if_null;
    return (int64_t)sqlite3_column_int64(st, i);
}

/* Reads the schema version and how many schema objects exist, from one snapshot. */
static int read_version(Store *s, int *version, int *n_objects)
{
    sqlite3_stmt *st = NULL;
    if (prepare(s,
                "SELECT (SELECT user_version FROM pragma_user_version),"
                " (SELECT count(*) FROM sqlite_master)",
                &st))
        goto fail;
    if (sqlite3_step(st) != SQLITE_ROW) {
        set_db_error(s, "cannot read schema version");
        goto fail;
    }
    *version = sqlite3_column_int(st, 0);
    if (n_objects)
        *n_objects = sqlite3_column_int(st, 1);
    sqlite3_finalize(st);
    return 0;
fail:
    sqlite3_finalize(st);
    return -1;
}

/* WAL so readers never block the writer, and the settings every connection needs. */
static int configure(Store *s)
{
    sqlite3_stmt *st = NULL;
    if (prepare(s, "PRAGMA journal_mode = WAL", &st))
        goto fail;
    /* Switching a new file to WAL does not always wait in the busy handler: when
     * several connections create the catalog at once, retry within the same budget. */
    for (int waited_ms = 0;; waited_ms += STORE_RETRY_SLEEP_MS) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            break;
        if ((rc & 0xff) != SQLITE_BUSY || waited_ms >= STORE_BUSY_TIMEOUT_MS) {
            set_db_error(s, "cannot switch to WAL mode");
            goto fail;
        }
        sqlite3_reset(st);
        sqlite3_sleep(STORE_RETRY_SLEEP_MS);
    }
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    /* An in-memory catalog (":memory:", throwaway) cannot use WAL and does not need it. */
    if (!mode || (!str_ieq(mode, "wal") && !str_ieq(mode, "memory"))) {
        set_error(s, "cannot switch to WAL mode (journal mode is %s)", mode ? mode : "unknown");
        goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (exec_sql(s, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON",
                 "cannot configure connection"))
        goto fail;
    return 0;
fail:
    sqlite3_finalize(st);
    return -1;
}

/*
 * Applies every migration the file lacks, each in its own transaction. The
 * version is read again under the write lock, so two processes opening a new
 * file at once do not both apply a migration.
 */
static int migrate(Store *s, int *failed_version)
{
    char *bump = NULL;
    for (size_t i = 0; i < ARRAY_LEN(migrations); i++) {
        const Migration *m = &migrations[i];
        int version = 0;
        *failed_version = m->version;
        if (begin_write(s) || read_version(s, &version, NULL))
            goto fail;
        if (version < m->version) {
            /* PRAGMA takes no parameters; the value is our own constant. */
            bump = xasprintf("PRAGMA user_version = %d", m->version);
            if (exec_sql(s, m->sql, "migration failed") || exec_sql(s, bump, "migration failed"))
                goto fail;
            free(bump);
            bump = NULL;
        }
        if (commit(s))
            goto fail;
    }
    return 0;
fail:
    free(bump);
    rollback(s);
    return -1;
}

int store_open(const char *path, Store **out, char **error)
{
    Store *s = xcalloc(1, sizeof *s);
    int version = 0, n_objects = 0, failed_version = 0;
    s->path = xstrdup(path);
    *out = NULL;
    *error = NULL;

    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        *error = xasprintf("cannot open catalog %s: %s", path,
                           s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);

    /* Look before changing anything: a refused file must be left as it is. */
    if (read_version(s, &version, &n_objects)) {
        if ((s->errcode & 0xff) == SQLITE_NOTADB)
            *error = xasprintf("catalog %s is not a SQLite database", path);
        else
            *error = xasprintf("cannot read catalog %s: %s", path, s->error);
        goto fail;
    }
    if (version > STORE_SCHEMA_VERSION) {
        *error = xasprintf("catalog %s was written by a newer Duro (schema version %d, this Duro "
                           "knows up to %d)",
                           path, version, STORE_SCHEMA_VERSION);
        goto fail;
    }
    if (version == 0 && n_objects > 0) {
        *error = xasprintf("catalog %s is a SQLite database but not a Duro catalog (it has "
                           "tables and no schema version)",
                           path);
        goto fail;
    }
    if (configure(s)) {
        *error = xasprintf("cannot open catalog %s: %s", path, s->error);
        goto fail;
    }
    if (version < STORE_SCHEMA_VERSION && migrate(s, &failed_version)) {
        *error = xasprintf("cannot migrate catalog %s to schema version %d: %s", path,
                           failed_version, s->error);
        goto fail;
    }
    *out = s;
    return 0;
fail:
    store_close(s);
    return -1;
}

void store_close(Store *s)
{
    if (!s)
        return;
    sqlite3_finalize(s->data_version);
    sqlite3_close_v2(s->db);
    free(s->path);
    free(s->error);
    free(s);
}

int store_schema_version(Store *s)
{
    int version = 0;
    return read_version(s, &version, NULL) ? -1 : version;
}

int64_t store_data_version(Store *s)
{
    if (!s->data_version &&
        sqlite3_prepare_v2(s->db, "PRAGMA data_version", -1, &s->data_version, NULL) != SQLITE_OK)
        return -1;
    int64_t v = -1;
    if (sqlite3_step(s->data_version) == SQLITE_ROW)
        v = sqlite3_column_int64(s->data_version, 0);
    sqlite3_reset(s->data_version);
    return v;
}

const char *store_error(Store *s)
{
    return s->error ? s->error : sqlite3_errmsg(s->db);
}

/* ---- views ---- */

/* Parameters shared by the insert and the update: ?1 name ... ?11 hash, ?12 now. */
#define SYNC_BIND_SPEC "tttttiiittti"

static const char sync_get_sql[] = "SELECT hash FROM views WHERE name = ?1";

static const char sync_insert_sql[] =
    "INSERT INTO views (name, schema_name, table_name, kind, source, interval_s,"
    " effective_interval_s, enabled, config, depends_on, hash, first_seen_us, changed_us)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)";

/* built_hash is deliberately absent: only a successful run writes it. Unchanged rows are not
 * rewritten, so a periodic re-scan of an unchanged repository writes nothing. */
static const char sync_update_sql[] =
    "UPDATE views SET schema_name = ?2, table_name = ?3, kind = ?4, source = ?5,"
    " interval_s = ?6, effective_interval_s = ?7, enabled = ?8, config = ?9, depends_on = ?10,"
    " hash = ?11, changed_us = CASE WHEN hash = ?11 THEN changed_us ELSE ?12 END"
    " WHERE name = ?1 AND (schema_name IS NOT ?2 OR table_name IS NOT ?3 OR kind IS NOT ?4"
    " OR source IS NOT ?5 OR interval_s IS NOT ?6 OR effective_interval_s IS NOT ?7"
    " OR enabled IS NOT ?8 OR config IS NOT ?9 OR depends_on IS NOT ?10 OR hash IS NOT ?11)";

static const char *view_kind_name(ViewKind kind)
{
    return kind == VIEW_KIND_PROCESSOR ? "processor" : "sql";
}

/* The view's schema and table, from its fields or else split from its name. */
static void view_split_name(const View *v, char **schema, char **table)
{
    const char *dot = strchr(v->name, '.');
    if (v->schema)
        *schema = xstrdup(v->schema);
    else
        *schema = dot ? xstrndup(v->name, (size_t)(dot - v->name)) : xstrdup("");
    if (v->table)
        *table = xstrdup(v->table);
    else
        *table = xstrdup(dot ? dot + 1 : v->name);
}

/* The names of the views v reads, comma-separated, into *out. -1 on a bad index. */
static int view_depends_on(Store *s, const Repo *r, const View *v, char **out)
{
    StrVec names = {0};
    *out = NULL;
    for (size_t i = 0; i < v->n_deps; i++) {
        if (v->deps[i] >= r->n_views) {
            set_error(s, "view %s has a dependency index out of range (%zu of %zu views)", v->name,
                      v->deps[i], r->n_views);
            strvec_free(&names);
            return -1;
        }
        strvec_push(&names, r->views[v->deps[i]].name);
    }
    *out = strvec_join(&names, ",");
    strvec_free(&names);
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int store_sync(Store *s, const Repo *r, int64_t now_us, StoreSyncStats *stats, char **error)
{
    StoreSyncStats counts = {0};
    sqlite3_stmt *get = NULL, *ins = NULL, *upd = NULL, *list = NULL, *del = NULL;
    const char **repo_names = NULL;
    StrVec stored = {0};
    char *deps = NULL, *schema = NULL, *table = NULL;
    int rc;

    *error = NULL;
    if (stats)
        memset(stats, 0, sizeof *stats);
    if (begin_write(s))
        goto fail;
    if (prepare(s, sync_get_sql, &get) || prepare(s, sync_insert_sql, &ins) ||
        prepare(s, sync_update_sql, &upd) || prepare(s, "SELECT name FROM views", &list) ||
        prepare(s, "DELETE FROM views WHERE name = ?1", &del))
        goto fail;

    for (size_t i = 0; i < r->n_views; i++) {
        const View *v = &r->views[i];
        if (!v->name) {
            set_error(s, "view %zu of the repository has no name", i);
            goto fail;
        }
        if (view_depends_on(s, r, v, &deps))
            goto fail;
        view_split_name(v, &schema, &table);

        bool found = false, same = false;
        if (bind_values(s, get, "t", v->name))
            goto fail;
        rc = sqlite3_step(get);
        if (rc == SQLITE_ROW) {
            const char *hash = (const char *)sqlite3_column_text(get, 0);
            found = true;
            same = hash && strcmp(hash, v->hash) == 0;
        } else if (rc != SQLITE_DONE) {
            set_db_error(s, "cannot read views");
            goto fail;
        }
        sqlite3_reset(get);

        sqlite3_stmt *write = found ? upd : ins;
        if (bind_values(s, write, SYNC_BIND_SPEC, v->name, schema, table, view_kind_name(v->kind),
                        v->source ? v->source : "", v->interval, v->effective_interval,
                        (int64_t)v->enabled, v->config_text ? v->config_text : "", deps, v->hash,
                        now_us) ||
            step_done(s, write, "cannot write view"))
            goto fail;
        if (!found)
            counts.added++;
        else if (same)
            counts.unchanged++;
        else
            counts.changed++;
        free(deps);
        free(schema);
        free(table);
        deps = schema = table = NULL;
    }

    /* Views no longer in the repository leave the catalog; their runs stay. */
    while ((rc = sqlite3_step(list)) == SQLITE_ROW)
        strvec_push_owned(&stored, col_text_nn(list, 0));
    if (rc != SQLITE_DONE) {
        set_db_error(s, "cannot read views");
        goto fail;
    }
    repo_names = xcalloc(r->n_views, sizeof *repo_names);
    for (size_t i = 0; i < r->n_views; i++)
        repo_names[i] = r->views[i].name;
    if (r->n_views > 1)
        qsort(repo_names, r->n_views, sizeof *repo_names, cmp_name);
    for (size_t i = 0; i < stored.n; i++) {
        const char *name = stored.items[i];
        if (r->n_views > 0 && bsearch(&name, repo_names, r->n_views, sizeof *repo_names, cmp_name))
            continue;
        if (bind_values(s, del, "t", name) || step_done(s, del, "cannot delete view"))
            goto fail;
        counts.removed++;
    }

    if (commit(s))
        goto fail;
    sqlite3_finalize(get);
    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
    sqlite3_finalize(list);
    sqlite3_finalize(del);
    free(repo_names);
    strvec_free(&stored);
    if (stats)
        *stats = counts;
    return 0;
fail:
    *error = xasprintf("cannot update catalog %s: %s", s->path, s->error);
    sqlite3_finalize(get);
    sqlite3_finalize(ins);
    sqlite3_finalize(upd);
    sqlite3_finalize(list);
    sqlite3_finalize(del);
    rollback(s);
    free(repo_names);
    strvec_free(&stored);
    free(deps);
    free(schema);
    free(table);
    return -1;
}

/*
 * Every view column, plus the outcome and error of the view's newest finished
 * run (newest by start, as duro.runs lists them) and whether one is running.
 */
/*
 * The failures of view v's own (runs with a next try) since its last success,
 * of its current definition: a change of the definition starts them over.
 */
#define OWN_FAILURES                                                                               \
    " WHERE f.\"view\" = v.name AND f.retry_us IS NOT NULL AND f.started_us >= v.changed_us"       \
    " AND f.id > coalesce((SELECT max(o.id) FROM runs o"                                           \
    " WHERE o.\"view\" = v.name AND o.outcome = 'ok'), 0)"

#define VIEW_SELECT                                                                                \
    "SELECT v.name, v.source, v.kind, v.interval_s, v.effective_interval_s, v.enabled,"            \
    " v.config, v.depends_on, v.hash, v.built_hash, v.first_seen_us, v.changed_us,"                \
    " v.last_success_us, v.last_duration_us, v.\"rows\", lr.outcome, lr.error,"                    \
    " EXISTS (SELECT 1 FROM runs r WHERE r.\"view\" = v.name AND r.outcome = 'running'),"          \
    " lr.started_us >= v.changed_us,"                                                              \
    " (SELECT count(*) FROM runs f" OWN_FAILURES "),"                                              \
    " (SELECT max(f.retry_us) FROM runs f" OWN_FAILURES ")"                                        \
    " FROM views v LEFT JOIN runs lr ON lr.id = (SELECT r.id FROM runs r"                          \
    " WHERE r.\"view\" = v.name AND r.outcome <> 'running'"                                        \
    " ORDER BY r.started_us DESC, r.id DESC LIMIT 1)"

static void read_view_row(sqlite3_stmt *st, StoreView *v)
{
    v->name = col_text_nn(st, 0);
    v->source = col_text_nn(st, 1);
    v->kind = col_text_nn(st, 2);
    v->interval = col_int(st, 3, 0);
    v->effective_interval = col_int(st, 4, 0);
    v->enabled = col_int(st, 5, 0) != 0;
    v->config = col_text_nn(st, 6);
    v->depends_on = col_text_nn(st, 7);
    v->hash = col_text_nn(st, 8);
    v->built_hash = col_text(st, 9);
    v->first_seen_us = col_int(st, 10, 0);
    v->changed_us = col_int(st, 11, 0);
    v->last_success_us = col_int(st, 12, 0);
    v->last_duration_us = col_int(st, 13, 0);
    v->rows = col_int(st, 14, -1);
    v->last_outcome = col_text(st, 15);
    RunOutcome last;
    /* A failure of a definition changed since is no failure of the view as it is now. */
    bool current = col_int(st, 18, 0) != 0;
    v->last_failed = current && v->last_outcome &&
                     (run_outcome_parse(v->last_outcome, &last) != 0 || last != RUN_OK);
    v->last_error = v->last_failed ? col_text(st, 16) : NULL;
    v->running = col_int(st, 17, 0) != 0;
    v->failures = (int)col_int(st, 19, 0);
    v->retry_us = col_int(st, 20, 0);
}

int store_get_view(Store *s, const char *name, StoreView *out)
{
    sqlite3_stmt *st = NULL;
    memset(out, 0, sizeof *out);
    if (prepare(s, VIEW_SELECT " WHERE v.name = ?1", &st) || bind_values(s, st, "t", name))
        goto fail;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_finalize(st);
        return 1;
    }
    if (rc != SQLITE_ROW) {
        set_db_error(s, "cannot read view");
        goto fail;
    }
    read_view_row(st, out);
    sqlite3_finalize(st);
    return 0;
fail:
    sqlite3_finalize(st);
    return -1;
}

int store_list_views(Store *s, StoreView **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    StoreView *views = NULL;
    size_t count = 0, cap = 0;
    int rc;
    *out = NULL;
    *n = 0;
    if (prepare(s, VIEW_SELECT " ORDER BY v.name", &st))
        goto fail;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        grow_array((void **)&views, &cap, count + 1, sizeof *views);
        memset(&views[count], 0, sizeof *views);
        read_view_row(st, &views[count++]);
    }
    if (rc != SQLITE_DONE) {
        set_db_error(s, "cannot list views");
        goto fail;
    }
    sqlite3_finalize(st);
    *out = views;
    *n = count;
    return 0;
fail:
    sqlite3_finalize(st);
    store_views_free(views, count);
    return -1;
}

/* Frees what *v holds (not v itself) and empties it. */
void store_view_free(StoreView *v)
{
    if (!v)
        return;
    free(v->name);
    free(v->source);
    free(v->kind);
    free(v->config);
    free(v->depends_on);
    free(v->hash);
    free(v->built_hash);
    free(v->last_outcome);
    free(v->last_error);
    memset(v, 0, sizeof *v);
}

/* Frees an array from store_list_views and everything in it. */
void store_views_free(StoreView *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        store_view_free(&v[i]);
    free(v);
}

/* ---- runs ---- */

/* Whether process pid is alive on this machine (the catalog is a local file). */
static bool process_alive(int64_t pid)
{
    if (pid <= 0 || pid > INT32_MAX)
        return false;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/*
 * Closes the running runs of view (of every view when view is NULL) whose
 * process is gone. Sets *live_pid to the process of one still running, or 0.
 * Call inside a write transaction.
 */
static int close_dead_runs(Store *s, const char *view, int64_t now_us, int64_t *live_pid,
                           int *closed)
{
    sqlite3_stmt *sel = NULL, *upd = NULL;
    *live_pid = 0;
    if (prepare(
            s,
            "SELECT id, pid FROM runs WHERE outcome = 'running' AND (?1 IS NULL OR \"view\" = ?1)",
            &sel) ||
        bind_values(s, sel, "t", view) ||
        prepare(s,
                "UPDATE runs SET outcome = 'cancelled', finished_us = ?2, error = ?3 WHERE id = ?1",
                &upd))
        goto fail;
    int rc;
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(sel, 0), pid = sqlite3_column_int64(sel, 1);
        if (process_alive(pid)) {
            *live_pid = pid;
            continue;
        }
        char *why =
            pid > 0 ? xasprintf("interrupted: process %lld ended during the run", (long long)pid)
                    : xstrdup("interrupted: the process ended during the run");
        int bad =
            bind_values(s, upd, "iit", id, now_us, why) || step_done(s, upd, "cannot close run");
        free(why);
        if (bad)
            goto fail;
        if (closed)
            (*closed)++;
    }
    if (rc != SQLITE_DONE) {
        set_db_error(s, "cannot list running runs");
        goto fail;
    }
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    return 0;
fail:
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    return -1;
}

int store_runs_close_dead(Store *s, int64_t now_us, int *closed)
{
    int64_t live;
    *closed = 0;
    if (begin_write(s))
        return -1;
    if (close_dead_runs(s, NULL, now_us, &live, closed)) {
        rollback(s);
        return -1;
    }
    return commit(s);
}

int store_run_begin(Store *s, const char *view, RunTrigger trigger, int64_t started_us,
                    int64_t *run_id)
{
    sqlite3_stmt *st = NULL;
    int64_t live = 0;
    *run_id = 0;
    if (!view || !*view) {
        set_error(s, "cannot record run: no view name");
        return -1;
    }
    if ((size_t)trigger > RUN_TRIGGER_DEPENDENCY) {
        set_error(s, "cannot record run: unknown trigger %d", (int)trigger);
        return -1;
    }
    if (begin_write(s))
        return -1;
    if (close_dead_runs(s, view, started_us, &live, NULL))
        goto fail;
    if (live) {
        set_error(s, "%s is already being built by process %lld", view, (long long)live);
        rollback(s);
        return 1;
    }
    if (prepare(s,
                "INSERT INTO runs (\"view\", \"trigger\", started_us, outcome, pid)"
                " VALUES (?1, ?2, ?3, 'running', ?4)",
                &st) ||
        bind_values(s, st, "tti", view, run_trigger_name(trigger), started_us) ||
        sqlite3_bind_int64(st, 4, (sqlite3_int64)getpid()) != SQLITE_OK ||
        step_done(s, st, "cannot record run"))
        goto fail;
    *run_id = (int64_t)sqlite3_last_insert_rowid(s->db);
    sqlite3_finalize(st);
    return commit(s);
fail:
    sqlite3_finalize(st);
    rollback(s);
    return -1;
}

int store_run_step(Store *s, int64_t run_id, const char *step, int64_t started_us,
                   int64_t finished_us, const char *error)
{
    sqlite3_stmt *st = NULL;
    if (!step || !*step) {
        set_error(s, "cannot record step of run %lld: no step name", (long long)run_id);
        goto fail;
    }
    if (prepare(s,
                "INSERT INTO run_steps (run_id, step, started_us, finished_us, error)"
                " VALUES (?1, ?2, ?3, ?4, ?5)",
                &st) ||
        bind_values(s, st, "itiit", run_id, step, started_us, finished_us, error))
        goto fail;
    if (step_done(s, st, "cannot record step")) {
        if (s->errcode == SQLITE_CONSTRAINT_FOREIGNKEY)
            set_error(s, "cannot record step %s: no run %lld", step, (long long)run_id);
        goto fail;
    }
    sqlite3_finalize(st);
    return 0;
fail:
    sqlite3_finalize(st);
    return -1;
}

int store_run_finish(Store *s, int64_t run_id, RunOutcome outcome, int64_t finished_us,
                     int64_t rows, const char *error, const char *built_hash, int64_t retry_us)
{
    sqlite3_stmt *run = NULL, *view = NULL;
    bool ok = outcome == RUN_OK;
    if ((size_t)outcome >= RUN_RUNNING) {
        set_error(s, "cannot finish run %lld: outcome \"%s\" does not end a run", (long long)run_id,
                  run_outcome_name(outcome));
        goto fail;
    }
    if (ok && !built_hash) {
        set_error(s, "cannot finish run %lld: a successful run needs the hash it built",
                  (long long)run_id);
        goto fail;
    }
    if (begin_write(s))
        goto fail;
    if (prepare(s,
                "UPDATE runs SET outcome = ?2, finished_us = ?3, \"rows\" = ?4, error = ?5,"
                " hash = ?6, retry_us = ?7 WHERE id = ?1 AND outcome = 'running'",
                &run) ||
        bind_values(s, run, "itinttn", run_id, run_outcome_name(outcome), finished_us, rows, error,
                    built_hash, ok || retry_us <= 0 ? (int64_t)-1 : retry_us) ||
        step_done(s, run, "cannot finish run"))
        goto fail;
    if (sqlite3_changes(s->db) == 0) {
        set_error(s, "cannot finish run %lld: no such run in progress", (long long)run_id);
        goto fail;
    }
    /* Only a success moves the built hash; a view removed meanwhile matches no row. */
    if (ok && (prepare(s,
                       "UPDATE views SET built_hash = ?2, last_success_us = ?3,"
                       " last_duration_us = ?3 - (SELECT started_us FROM runs WHERE id = ?1),"
                       " \"rows\" = ?4 WHERE name = (SELECT \"view\" FROM runs WHERE id = ?1)",
                       &view) ||
               bind_values(s, view, "itin", run_id, built_hash, finished_us, rows) ||
               step_done(s, view, "cannot record success")))
        goto fail;
    if (commit(s))
        goto fail;
    sqlite3_finalize(run);
    sqlite3_finalize(view);
    return 0;
fail:
    sqlite3_finalize(run);
    sqlite3_finalize(view);
    rollback(s);
    return -1;
}

#define RUN_SELECT                                                                                 \
    "SELECT id, \"view\", \"trigger\", outcome, started_us, finished_us, \"rows\", error FROM "    \
    "runs"
#define RUN_ORDER " ORDER BY started_us DESC, id DESC LIMIT ?2"

static void run_free(StoreRun *run)
{
    free(run->view);
    free(run->trigger);
    free(run->outcome);
    free(run->error);
    for (size_t i = 0; i < run->n_steps; i++) {
        free(run->steps[i].step);
        free(run->steps[i].error);
    }
    free(run->steps);
}

/* Reads the steps of run in the order they ran. */
static int read_steps(Store *s, sqlite3_stmt *st, StoreRun *run)
{
    size_t cap = 0;
    int rc;
    if (bind_values(s, st, "i", run->id))
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        grow_array((void **)&run->steps, &cap, run->n_steps + 1, sizeof *run->steps);
        StoreStep *step = &run->steps[run->n_steps++];
        step->step = col_text_nn(st, 0);
        step->started_us = col_int(st, 1, 0);
        step->finished_us = col_int(st, 2, 0);
        step->error = col_text(st, 3);
    }
    if (rc != SQLITE_DONE)
        set_db_error(s, "cannot list run steps");
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int store_list_runs(Store *s, const char *view, size_t limit, StoreRun **out, size_t *n)
{
    sqlite3_stmt *runs_st = NULL, *steps_st = NULL;
    StoreRun *runs = NULL;
    size_t count = 0, cap = 0;
    int64_t max_rows = limit == 0 || limit > (uint64_t)INT64_MAX ? -1 : (int64_t)limit;
    int rc;
    *out = NULL;
    *n = 0;
    if (begin_read(s))
        goto fail;
    if (prepare(s, view ? RUN_SELECT " WHERE \"view\" = ?1" RUN_ORDER : RUN_SELECT RUN_ORDER,
                &runs_st) ||
        prepare(s,
                "SELECT step, started_us, finished_us, error FROM run_steps"
                " WHERE run_id = ?1 ORDER BY started_us, rowid",
                &steps_st) ||
        bind_values(s, runs_st, "ti", view, max_rows))
        goto fail;
    while ((rc = sqlite3_step(runs_st)) == SQLITE_ROW) {
        grow_array((void **)&runs, &cap, count + 1, sizeof *runs);
        StoreRun *run = &runs[count++];
        memset(run, 0, sizeof *run);
        run->id = col_int(runs_st, 0, 0);
        run->view = col_text_nn(runs_st, 1);
        run->trigger = col_text_nn(runs_st, 2);
        run->outcome = col_text_nn(runs_st, 3);
        run->started_us = col_int(runs_st, 4, 0);
        run->finished_us = col_int(runs_st, 5, 0);
        run->rows = col_int(runs_st, 6, -1);
        run->error = col_text(runs_st, 7);
    }
    if (rc != SQLITE_DONE) {
        set_db_error(s, "cannot list runs");
        goto fail;
    }
    for (size_t i = 0; i < count; i++)
        if (read_steps(s, steps_st, &runs[i]))
            goto fail;
    if (commit(s))
        goto fail;
    sqlite3_finalize(runs_st);
    sqlite3_finalize(steps_st);
    *out = runs;
    *n = count;
    return 0;
fail:
    sqlite3_finalize(runs_st);
    sqlite3_finalize(steps_st);
    rollback(s);
    store_runs_free(runs, count);
    return -1;
}

void store_runs_free(StoreRun *runs, size_t n)
{
    for (size_t i = 0; runs && i < n; i++)
        run_free(&runs[i]);
    free(runs);
}

/* ---- reads for the web UI ---------------------------------------------------------------------
 * Each one bounded and served by an index: runs_by_started for a time window, runs_by_view for
 * one view, runs_running for the runs in progress, views' primary key for one view.
 */

/* The view is failed: its newest finished run is not ok and built its current definition. */
#define WEB_LAST_RUN                                                                               \
    " LEFT JOIN runs lr ON lr.id = (SELECT r.id FROM runs r"                                       \
    " WHERE r.\"view\" = v.name AND r.outcome <> 'running'"                                        \
    " ORDER BY r.started_us DESC, r.id DESC LIMIT 1)"
#define WEB_FAILED                                                                                 \
    " (lr.outcome IS NOT NULL AND lr.outcome <> 'ok' AND lr.started_us >= v.changed_us)"

int store_web_count_views(Store *s, int64_t *n)
{
    sqlite3_stmt *st = NULL;
    *n = 0;
    if (prepare(s, "SELECT count(*) FROM views", &st))
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    else
        set_db_error(s, "cannot count views");
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

int store_web_views_page(Store *s, size_t offset, size_t limit, StoreView **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    StrVec names = {0};
    StoreView *views = NULL;
    size_t count = 0;
    int rc;
    *out = NULL;
    *n = 0;
    if (begin_read(s))
        return -1;
    /* Failed, for the order: a run that is not ok started since the last success, of the
     * definition as it is now (one seek in runs_by_view per view; the state shown is
     * store_get_view's). */
    if (prepare(s,
                "SELECT v.name FROM views v ORDER BY EXISTS (SELECT 1 FROM runs r"
                " WHERE r.\"view\" = v.name AND r.started_us >= coalesce(v.last_success_us, 0)"
                " AND r.started_us >= v.changed_us AND r.outcome NOT IN ('ok', 'running'))"
                " DESC, v.last_success_us IS NULL, v.last_success_us DESC, v.name"
                " LIMIT ?1 OFFSET ?2",
                &st) ||
        bind_values(s, st, "ii", (int64_t)limit, (int64_t)offset))
        goto fail;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        strvec_push(&names, (const char *)sqlite3_column_text(st, 0));
    if (rc != SQLITE_DONE) {
        set_db_error(s, "cannot list views");
        goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
    views = xcalloc(names.n ? names.n : 1, sizeof *views);
    for (; count < names.n; count++)
        if (store_get_view(s, names.items[count], &views[count]) != 0)
            goto fail;
    if (commit(s))
        goto fail;
    strvec_free(&names);
    *out = views;
    *n = count;
    return 0;
fail:
    sqlite3_finalize(st);
    rollback(s);
    strvec_free(&names);
    store_views_free(views, count);
    return -1;
}

int store_web_graph(Store *s, size_t limit, StoreView **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    StoreView *views = NULL;
    size_t count = 0, cap = 0;
    int rc;
    *out = NULL;
    *n = 0;
    if (prepare(s,
                "SELECT v.name, v.depends_on, v.enabled, v.built_hash IS NOT NULL," WEB_FAILED ","
                " EXISTS (SELECT 1 FROM runs r WHERE r.\"view\" = v.name AND r.outcome = 'running')"
                " FROM views v" WEB_LAST_RUN " ORDER BY v.name LIMIT ?1",
                &st) ||
        bind_values(s, st, "i", (int64_t)limit))
        goto fail;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        grow_array((void **)&views, &cap, count + 1, sizeof *views);
        StoreView *v = &views[count++];
        memset(v, 0, sizeof *v);
        v->name = col_text_nn(st, 0);
        v->depends_on = col_text_nn(st, 1);
        v->enabled = col_int(st, 2, 0) != 0;
        v->built_hash = col_int(st, 3, 0) ? xstrdup("") : NULL;
        v->last_failed = col_int(st, 4, 0) != 0;
        v->running = col_int(st, 5, 0) != 0;
    }
    if (rc != SQLITE_DONE) {
        set_db_error(s, "cannot list views");
        goto fail;
    }
    sqlite3_finalize(st);
    *out = views;
    *n = count;
    return 0;
fail:
    sqlite3_finalize(st);
    store_views_free(views, count);
    return -1;
}

int store_web_dependents(Store *s, const char *view, StrVec *out)
{
    sqlite3_stmt *st = NULL;
    int rc;
    if (prepare(s,
                "SELECT name FROM views WHERE instr(',' || depends_on || ',', ',' || ?1 || ',') > 0"
                " ORDER BY name LIMIT 1000",
                &st) ||
        bind_values(s, st, "t", view))
        goto fail;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        strvec_push(out, (const char *)sqlite3_column_text(st, 0));
    if (rc != SQLITE_DONE) {
        set_db_error(s, "cannot list dependents");
        goto fail;
    }
    sqlite3_finalize(st);
    return 0;
fail:
    sqlite3_finalize(st);
    return -1;
}

int store_web_mean_duration(Store *s, const char *view, int64_t *mean_us)
{
    sqlite3_stmt *st = NULL;
    *mean_us = -1;
    if (prepare(s,
                "SELECT avg(d) FROM (SELECT finished_us - started_us AS d FROM runs"
                " WHERE \"view\" = ?1 AND outcome = 'ok' ORDER BY started_us DESC LIMIT 20)",
                &st) ||
        bind_values(s, st, "t", view))
        goto fail;
    if (sqlite3_step(st) != SQLITE_ROW) {
        set_db_error(s, "cannot read durations");
        goto fail;
    }
    if (sqlite3_column_type(st, 0) != SQLITE_NULL)
        *mean_us = (int64_t)sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return 0;
fail:
    sqlite3_finalize(st);
    return -1;
}

int store_web_activity(Store *s, int64_t since_us, int64_t now_us, int64_t *runs, int64_t *busy_us)
{
    sqlite3_stmt *st = NULL;
    *runs = 0;
    *busy_us = 0;
    if (prepare(s,
                "SELECT count(*), coalesce(sum(min(coalesce(finished_us, ?2), ?2)"
                " - max(started_us, ?1)), 0) FROM runs WHERE started_us >= ?1",
                &st) ||
        bind_values(s, st, "ii", since_us, now_us))
        goto fail;
    if (sqlite3_step(st) != SQLITE_ROW) {
        set_db_error(s, "cannot count runs");
        goto fail;
    }
    *runs = sqlite3_column_int64(st, 0);
    *busy_us = sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    return 0;
fail:
    sqlite3_finalize(st);
    return -1;
}

/* Reads the rows of st (RUN_SELECT's columns), and their steps when with_steps. */
static int web_read_runs(Store *s, sqlite3_stmt *st, bool with_steps, StoreRun **out, size_t *n)
{
    sqlite3_stmt *steps_st = NULL;
    StoreRun *runs = NULL;
    size_t count = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        grow_array((void **)&runs, &cap, count + 1, sizeof *runs);
        StoreRun *run = &runs[count++];
        memset(run, 0, sizeof *run);
        run->id = col_int(st, 0, 0);
        run->view = col_text_nn(st, 1);
        run->trigger = col_text_nn(st, 2);
        run->outcome = col_text_nn(st, 3);
        run->started_us = col_int(st, 4, 0);
        run->finished_us = col_int(st, 5, 0);
        run->rows = col_int(st, 6, -1);
        run->error = col_text(st, 7);
    }
    if (rc != SQLITE_DONE) {
        set_db_error(s, "cannot list runs");
        goto fail;
    }
    if (with_steps) {
        if (prepare(s,
                    "SELECT step, started_us, finished_us, error FROM run_steps"
                    " WHERE run_id = ?1 ORDER BY started_us, rowid",
                    &steps_st))
            goto fail;
        for (size_t i = 0; i < count; i++)
            if (read_steps(s, steps_st, &runs[i]))
                goto fail;
    }
    sqlite3_finalize(steps_st);
    *out = runs;
    *n = count;
    return 0;
fail:
    sqlite3_finalize(steps_st);
    store_runs_free(runs, count);
    return -1;
}

int store_web_runs_window(Store *s, int64_t from_us, int64_t to_us, size_t limit, StoreRun **out,
                          size_t *n)
{
    sqlite3_stmt *st = NULL;
    *out = NULL;
    *n = 0;
    /* Runs that started up to a day before the window and are still going in it are drawn too. */
    if (prepare(s,
                RUN_SELECT " WHERE started_us >= ?1 - 86400000000 AND started_us < ?2"
                           " AND coalesce(finished_us, ?2) >= ?1"
                           " ORDER BY started_us DESC, id DESC LIMIT ?3",
                &st) ||
        bind_values(s, st, "iii", from_us, to_us, (int64_t)limit))
        goto fail;
    int rc = web_read_runs(s, st, false, out, n);
    sqlite3_finalize(st);
    return rc;
fail:
    sqlite3_finalize(st);
    return -1;
}

/* The partial index runs_running, named: ordered by start, SQLite would rather walk every run
 * in runs_by_started's order. */
#define RUN_SELECT_RUNNING                                                                         \
    "SELECT id, \"view\", \"trigger\", outcome, started_us, finished_us, \"rows\", error"          \
    " FROM runs INDEXED BY runs_running WHERE outcome = 'running' ORDER BY started_us, id"         \
    " LIMIT ?1"

int store_web_runs_running(Store *s, size_t limit, StoreRun **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    *out = NULL;
    *n = 0;
    if (prepare(s, RUN_SELECT_RUNNING, &st) || bind_values(s, st, "i", (int64_t)limit))
        goto fail;
    int rc = web_read_runs(s, st, false, out, n);
    sqlite3_finalize(st);
    return rc;
fail:
    sqlite3_finalize(st);
    return -1;
}

int store_web_runs(Store *s, const char *view, int64_t since_us, int64_t before_id, size_t limit,
                   StoreRun **out, size_t *n)
{
    sqlite3_stmt *st = NULL;
    *out = NULL;
    *n = 0;
    /* Newest first; before_id continues after the run of that id (0: from the newest). */
    if (begin_read(s))
        return -1;
    if (prepare(s,
                view ? RUN_SELECT " WHERE \"view\" = ?1 AND started_us >= ?2 AND (?3 = 0 OR"
                                  " (started_us, id) < (SELECT started_us, id FROM runs"
                                  " WHERE id = ?3)) ORDER BY started_us DESC, id DESC LIMIT ?4"
                     : RUN_SELECT " WHERE ?1 IS NULL AND started_us >= ?2 AND (?3 = 0 OR"
                                  " (started_us, id) < (SELECT started_us, id FROM runs"
                                  " WHERE id = ?3)) ORDER BY started_us DESC, id DESC LIMIT ?4",
                &st) ||
        bind_values(s, st, "tiii", view, since_us, before_id, (int64_t)limit))
        goto fail;
    if (web_read_runs(s, st, true, out, n) || commit(s))
        goto fail;
    sqlite3_finalize(st);
    return 0;
fail:
    sqlite3_finalize(st);
    rollback(s);
    store_runs_free(*out, *n);
    *out = NULL;
    *n = 0;
    return -1;
}

int store_web_ping(Store *s)
{
    return exec_sql(s, "SELECT count(*) FROM views WHERE 0", "catalog does not answer");
}
