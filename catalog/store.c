/*
 * The catalog store (see store.h): opens and migrates Duro's SQLite file, makes
 * its views table match the repository, records refresh runs and their steps,
 * and reads them back. Every value is bound to a prepared statement, never
 * spliced into SQL. Not for: deciding what is stale (planner/staleness),
 * building views, or reading the repository.
 */
#include "catalog/store.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "catalog/interval.h"
#include "catalog/marker.h"
#include "catalog/store_db.h"
#include "core/settings.h"

/* How long a connection waits for another one's lock before giving up. */
#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_RETRY_SLEEP_MS  10
/* How many problems quick_check reports at most (a damaged file can have thousands). */
#define STORE_CHECK_PROBLEMS_S "5"

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
    {4, "ALTER TABLE runs ADD COLUMN instance TEXT;      -- random id of the process's start\n"
        "ALTER TABLE runs ADD COLUMN process_start TEXT; -- boot id/start time of that process\n"},
    {5, "CREATE TABLE notices (                     -- what notifications said, per view\n"
        "    \"view\" TEXT PRIMARY KEY NOT NULL,\n"
        "    failing INTEGER NOT NULL,              -- a failure was told and no recovery yet\n"
        "    failure_sent_us INTEGER NOT NULL,      -- the last failure told; 0 = never\n"
        "    overdue INTEGER NOT NULL               -- an alert_after breach was told\n"
        ");\n"},
    {6, "-- a view's last run of an outcome (its status, retention) and its runs newest first\n"
        "CREATE INDEX runs_by_view_outcome ON runs (\"view\", outcome, id);\n"
        "CREATE INDEX runs_by_view_id ON runs (\"view\", id);\n"
        "-- a view's own failures (counted since its last success)\n"
        "CREATE INDEX runs_own_failures ON runs (\"view\", id) WHERE retry_us IS NOT NULL;\n"},
    {7, "CREATE TABLE view_reads (                 -- reads through the gateway, per hour\n"
        "    \"view\" TEXT NOT NULL,\n"
        "    hour INTEGER NOT NULL,                 -- µs since the epoch / 3600 s\n"
        "    reads INTEGER NOT NULL,\n"
        "    readers TEXT NOT NULL,                 -- sorted comma-separated roles, bounded\n"
        "    PRIMARY KEY (\"view\", hour)\n"
        ") WITHOUT ROWID;\n"
        "CREATE TABLE view_last_read (\n"
        "    \"view\" TEXT PRIMARY KEY NOT NULL,\n"
        "    last_read_us INTEGER NOT NULL\n"
        ") WITHOUT ROWID;\n"},
    /* clang-format cannot lay out strings around the VIEW_FACTS macro. */
    // clang-format off
    {8, "-- each view's run facts (duro.status, the scheduler), kept in its row by triggers\n"
        "ALTER TABLE views ADD COLUMN last_run_id INTEGER;         -- newest finished run\n"
        "ALTER TABLE views ADD COLUMN last_run_started_us INTEGER; -- its start, outcome, error\n"
        "ALTER TABLE views ADD COLUMN last_run_outcome TEXT;\n"
        "ALTER TABLE views ADD COLUMN last_run_error TEXT;\n"
        "ALTER TABLE views ADD COLUMN last_ok_id INTEGER;          -- newest successful run\n"
        "ALTER TABLE views ADD COLUMN running_runs INTEGER NOT NULL DEFAULT 0;\n"
        "ALTER TABLE views ADD COLUMN running_id INTEGER;          -- newest run in progress\n"
        "ALTER TABLE views ADD COLUMN own_failures INTEGER NOT NULL DEFAULT 0; -- since last_ok_id\n"
        "ALTER TABLE views ADD COLUMN own_retry_us INTEGER;        -- of the definition now\n"
        "CREATE TRIGGER runs_facts_insert AFTER INSERT ON runs BEGIN\n"
        VIEW_FACTS("NEW.\"view\"")
        "END;\n"
        "CREATE TRIGGER runs_facts_update AFTER UPDATE ON runs BEGIN\n"
        VIEW_FACTS("NEW.\"view\"")
        "END;\n"
        "-- retention never deletes a run these facts come from (store_prune.c); should a\n"
        "-- delete do so, they are read again\n"
        "CREATE TRIGGER runs_facts_delete AFTER DELETE ON runs WHEN OLD.outcome = 'running'"
        " OR EXISTS (SELECT 1 FROM views v WHERE v.name = OLD.\"view\""
        " AND (OLD.id = v.last_run_id OR OLD.id >= coalesce(v.last_ok_id, 0))) BEGIN\n"
        VIEW_FACTS("OLD.\"view\"")
        "END;\n"
        "CREATE TRIGGER views_facts_insert AFTER INSERT ON views BEGIN\n"
        VIEW_FACTS("NEW.name")
        "END;\n"
        "CREATE TRIGGER views_facts_changed AFTER UPDATE OF changed_us ON views BEGIN\n"
        VIEW_FACTS("NEW.name")
        "END;\n"
        VIEW_FACTS("name")},
    // clang-format on
};

_Static_assert(sizeof migrations / sizeof migrations[0] == STORE_SCHEMA_VERSION,
               "one migration per schema version");

void sdb_set_error(Store *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    free(s->error);
    s->error = msg;
    s->errcode = CDB_ERR_OTHER;
}

void sdb_set_db_error(Store *s, const char *doing)
{
    char *copy = xstrdup(cdb_errmsg(s->db));
    free(s->error);
    s->error = xasprintf("%s: %s", doing, copy);
    s->errcode = cdb_errclass(s->db);
    free(copy);
}

int sdb_prepare(Store *s, const char *sql, CdbStmt **st)
{
    if (cdb_prepare(s->db, sql, st) != CDB_OK) {
        sdb_set_db_error(s, "cannot prepare statement");
        return -1;
    }
    return 0;
}

int sdb_bind_values(Store *s, CdbStmt *st, const char *spec, ...)
{
    va_list ap;
    int rc = CDB_OK;
    va_start(ap, spec);
    for (int i = 0; spec[i] && rc == CDB_OK; i++) {
        int idx = i + 1;
        switch (spec[i]) {
        case 't': {
            const char *text = va_arg(ap, const char *);
            rc = cdb_bind_text(st, idx, text);
            break;
        }
        case 'i':
            rc = cdb_bind_int(st, idx, va_arg(ap, int64_t));
            break;
        case 'n': {
            int64_t value = va_arg(ap, int64_t);
            rc = value < 0 ? cdb_bind_null(st, idx) : cdb_bind_int(st, idx, value);
            break;
        }
        default:
            abort(); /* a bug in this file */
        }
    }
    va_end(ap);
    if (rc != CDB_OK) {
        sdb_set_db_error(s, "cannot bind value");
        return -1;
    }
    return 0;
}

int sdb_step_done(Store *s, CdbStmt *st, const char *doing)
{
    int rc = cdb_step(st);
    if (rc != CDB_DONE)
        sdb_set_db_error(s, doing);
    cdb_reset(st);
    cdb_clear_bindings(st);
    return rc == CDB_DONE ? 0 : -1;
}

int sdb_exec_sql(Store *s, const char *sql, const char *doing)
{
    if (cdb_exec(s->db, sql) != CDB_OK) {
        sdb_set_db_error(s, doing);
        return -1;
    }
    return 0;
}

/* Write transactions take the catalog's write lock up front (cdb_begin_write): writers, in
 * every process and instance, take turns. */
int sdb_begin_write(Store *s)
{
    if (cdb_begin_write(s->db) != CDB_OK) {
        sdb_set_db_error(s, "cannot start transaction");
        return -1;
    }
    return 0;
}

/* A read transaction: one consistent snapshot for several statements. */
int sdb_begin_read(Store *s)
{
    if (cdb_begin_read(s->db) != CDB_OK) {
        sdb_set_db_error(s, "cannot start transaction");
        return -1;
    }
    return 0;
}

int sdb_commit(Store *s)
{
    return sdb_exec_sql(s, "COMMIT", "cannot commit");
}

void sdb_rollback(Store *s)
{
    if (!cdb_autocommit(s->db) && cdb_rollback(s->db) != CDB_OK)
        return; /* the connection is gone, and its transaction with it */
}

char *sdb_col_text(CdbStmt *st, int i)
{
    const unsigned char *text = (const unsigned char *)cdb_column_text(st, i);
    if (!text)
        return NULL;
    size_t len = cdb_column_bytes(st, i);
    if (len <= STORE_MAX_TEXT)
        return xstrdup((const char *)text);
    /* Cut at the start of a UTF-8 character, and say so. */
    size_t keep = STORE_MAX_TEXT;
    while (keep > 0 && (text[keep] & 0xc0) == 0x80)
        keep--;
    char *cut = xstrndup((const char *)text, keep);
    char *out = xasprintf("%s... (cut: %zu bytes in the catalog)", cut, len);
    free(cut);
    return out;
}

char *sdb_col_text_nn(CdbStmt *st, int i)
{
    char *text = sdb_col_text(st, i);
    return text ? text : xstrdup("");
}

int64_t sdb_col_int(CdbStmt *st, int i, int64_t if_null)
{
    if (cdb_column_is_null(st, i))
        return if_null;
    return cdb_column_int(st, i);
}

int64_t sdb_col_range(CdbStmt *st, int i, int64_t min, int64_t max, int64_t if_unknown)
{
    if (!cdb_column_is_int(st, i))
        return if_unknown;
    int64_t v = cdb_column_int(st, i);
    return v < min || v > max ? if_unknown : v;
}

int64_t sdb_col_time(CdbStmt *st, int i)
{
    return sdb_col_range(st, i, 0, STORE_MAX_TIME_US, 0);
}

/* Reads the schema version and how many schema objects exist, from one snapshot. */
static int read_version(Store *s, int *version, int *n_objects)
{
    CdbStmt *st = NULL;
    if (sdb_prepare(s,
                    "SELECT (SELECT user_version FROM pragma_user_version),"
                    " (SELECT count(*) FROM sqlite_master)",
                    &st))
        goto fail;
    if (cdb_step(st) != CDB_ROW) {
        sdb_set_db_error(s, "cannot read schema version");
        goto fail;
    }
    *version = (int)cdb_column_int(st, 0);
    if (n_objects)
        *n_objects = (int)cdb_column_int(st, 1);
    cdb_finalize(st);
    return 0;
fail:
    cdb_finalize(st);
    return -1;
}

/* WAL so readers never block the writer, and the settings every connection needs. */
static int configure(Store *s)
{
    CdbStmt *st = NULL;
    if (sdb_prepare(s, "PRAGMA journal_mode = WAL", &st))
        goto fail;
    /* Switching a new file to WAL does not always wait in the busy handler: when
     * several connections create the catalog at once, retry within the same budget. */
    for (int waited_ms = 0;; waited_ms += STORE_RETRY_SLEEP_MS) {
        int rc = cdb_step(st);
        if (rc == CDB_ROW)
            break;
        if (cdb_errclass(s->db) != CDB_ERR_BUSY || waited_ms >= STORE_BUSY_TIMEOUT_MS) {
            sdb_set_db_error(s, "cannot switch to WAL mode");
            goto fail;
        }
        cdb_reset(st);
        struct timespec pause = {0, STORE_RETRY_SLEEP_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
    const char *mode = cdb_column_text(st, 0);
    /* An in-memory catalog (":memory:", throwaway) cannot use WAL and does not need it. */
    if (!mode || (!str_ieq(mode, "wal") && !str_ieq(mode, "memory"))) {
        sdb_set_error(s, "cannot switch to WAL mode (journal mode is %s)", mode ? mode : "unknown");
        goto fail;
    }
    cdb_finalize(st);
    st = NULL;
    if (sdb_exec_sql(s, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON",
                     "cannot configure connection"))
        goto fail;
    return 0;
fail:
    cdb_finalize(st);
    return -1;
}

/* The files checked whole by this process (their keys), so that each is checked once. */
static pthread_mutex_t checked_lock = PTHREAD_MUTEX_INITIALIZER;
static StrVec checked;

/* The identity of the file at path (device, inode and birth time), or the path when it has none. */
static char *file_key(const char *path)
{
    struct statx st;
    if (statx(AT_FDCWD, path, 0, STATX_INO | STATX_BTIME, &st) != 0)
        return xstrdup(path);
    return xasprintf("%u:%u:%llu:%lld.%u", st.stx_dev_major, st.stx_dev_minor,
                     (unsigned long long)st.stx_ino,
                     (st.stx_mask & STATX_BTIME) ? (long long)st.stx_btime.tv_sec : 0LL,
                     (st.stx_mask & STATX_BTIME) ? st.stx_btime.tv_nsec : 0u);
}

int64_t sdb_check_full_bytes = 256LL * 1024 * 1024;

/* Runs one quick_check statement; its problems (not "ok") are pushed onto problems. */
static int quick_check(Store *s, const char *sql, StrVec *problems)
{
    CdbStmt *st = NULL;
    int rc;
    if (sdb_prepare(s, sql, &st))
        return -1;
    while ((rc = cdb_step(st)) == CDB_ROW) {
        char *line = sdb_col_text_nn(st, 0);
        if (strcmp(line, "ok") == 0)
            free(line);
        else
            strvec_push_owned(problems, line);
    }
    if (rc != CDB_DONE)
        sdb_set_db_error(s, "cannot check it");
    cdb_finalize(st);
    return rc == CDB_DONE ? 0 : -1;
}

/* The size of a file, or 0 when it has none. */
static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

/*
 * Checks the file the first time this process opens it. Up to
 * sdb_check_full_bytes: SQLite's quick_check, which reads every page and
 * checks its structure (not the indexes' contents against their tables).
 * Larger: the views table, and that the pages SQLite counts are in the file or
 * its WAL (a truncated file); a page damaged elsewhere is found when read, as an
 * error. Returns 0, or -1 with s->error saying what is damaged.
 */
static int check_once(Store *s)
{
    pthread_mutex_lock(&checked_lock);
    bool done = strvec_contains(&checked, s->key);
    pthread_mutex_unlock(&checked_lock);
    if (done)
        return 0;
    StrVec problems = {0};
    int64_t size = file_size(s->path);
    int rc;
    if (size <= sdb_check_full_bytes) {
        rc = quick_check(s, "PRAGMA quick_check(" STORE_CHECK_PROBLEMS_S ")", &problems);
    } else {
        char *wal = xasprintf("%s-wal", s->path);
        int64_t wal_size = file_size(wal), pages = 0, page_size = 0;
        free(wal);
        CdbStmt *st = NULL;
        rc = sdb_prepare(s, "SELECT page_count, page_size FROM pragma_page_count, pragma_page_size",
                         &st);
        if (rc == 0 && cdb_step(st) == CDB_ROW) {
            pages = cdb_column_int(st, 0);
            page_size = cdb_column_int(st, 1);
        } else if (rc == 0) {
            sdb_set_db_error(s, "cannot check it");
            rc = -1;
        }
        cdb_finalize(st);
        if (rc == 0 && page_size > 0 && pages > (size + wal_size) / page_size)
            strvec_push_owned(&problems,
                              xasprintf("%lld pages of %lld bytes in a file of %lld "
                                        "bytes: it was cut short",
                                        (long long)pages, (long long)page_size, (long long)size));
        if (rc == 0 && problems.n == 0)
            rc = quick_check(s, "PRAGMA quick_check(views)", &problems);
    }
    if (rc == 0 && problems.n > 0) {
        char *text = strvec_join(&problems, "; ");
        sdb_set_error(s, "%s", text);
        free(text);
        rc = -1;
    }
    strvec_free(&problems);
    if (rc != 0)
        return -1;
    pthread_mutex_lock(&checked_lock);
    if (!strvec_contains(&checked, s->key))
        strvec_push(&checked, s->key);
    pthread_mutex_unlock(&checked_lock);
    return 0;
}

/* The error for a file SQLite found damaged (CDB_ERR_CORRUPT or CDB_ERR_NOTADB). */
static char *damaged(const char *path, const char *what)
{
    return xasprintf("catalog %s is damaged (%s): restore it from a backup, or move it away "
                     "and start with an empty one (every view is then built again)",
                     path, what);
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
        if (sdb_begin_write(s) || read_version(s, &version, NULL))
            goto fail;
        if (version < m->version) {
            /* PRAGMA takes no parameters; the value is our own constant. */
            bump = xasprintf("PRAGMA user_version = %d", m->version);
            if (sdb_exec_sql(s, m->sql, "migration failed") ||
                sdb_exec_sql(s, bump, "migration failed"))
                goto fail;
            free(bump);
            bump = NULL;
        }
        if (sdb_commit(s))
            goto fail;
    }
    return 0;
fail:
    free(bump);
    sdb_rollback(s);
    return -1;
}

/* Opens the SQLite file at s->path, checks, configures and migrates it. 0, or -1 with *error. */
static int open_sqlite(Store *s, char **error)
{
    const char *path = s->path;
    int version = 0, n_objects = 0, failed_version = 0;
    s->key = file_key(path);

    /* Look before changing anything: a refused file must be left as it is. */
    if (read_version(s, &version, &n_objects)) {
        if (s->errcode == CDB_ERR_NOTADB)
            *error = xasprintf("catalog %s is not a SQLite database", path);
        else if (s->errcode == CDB_ERR_CORRUPT)
            *error = damaged(path, s->error);
        else
            *error = xasprintf("cannot read catalog %s: %s", path, s->error);
        return -1;
    }
    if (version > STORE_SCHEMA_VERSION) {
        *error = xasprintf("catalog %s was written by a newer Duro (schema version %d, this Duro "
                           "knows up to %d)",
                           path, version, STORE_SCHEMA_VERSION);
        return -1;
    }
    if (version == 0 && n_objects > 0) {
        *error = xasprintf("catalog %s is a SQLite database but not a Duro catalog (it has "
                           "tables and no schema version)",
                           path);
        return -1;
    }
    free(s->error);
    s->error = NULL;
    if (check_once(s)) {
        CdbErr code = s->errcode;
        *error = code == CDB_ERR_OTHER || code == CDB_ERR_CORRUPT || code == CDB_ERR_NOTADB
                     ? damaged(path, s->error)
                     : xasprintf("cannot read catalog %s: %s", path, s->error);
        return -1;
    }
    if (configure(s)) {
        *error = xasprintf("cannot open catalog %s: %s", path, s->error);
        return -1;
    }
    if (version < STORE_SCHEMA_VERSION && migrate(s, &failed_version)) {
        *error = xasprintf("cannot migrate catalog %s to schema version %d: %s", path,
                           failed_version, s->error);
        return -1;
    }
    return 0;
}

int store_open(const char *target, Store **out, char **error)
{
    Store *s = xcalloc(1, sizeof *s);
    *out = NULL;
    *error = NULL;
    char *why = NULL;
    if (cdb_open(target, &s->db, NULL, &why) != 0) {
        /* The name as messages may show it: a URL's password never. */
        char *shown = cdb_is_url(target) ? settings_url_shown(target) : xstrdup(target);
        *error = xasprintf("cannot open catalog %s: %s", shown, why);
        free(shown);
        free(why);
        goto fail;
    }
    s->path = xstrdup(cdb_name(s->db));
    if (cdb_kind(s->db) == CDB_POSTGRES) {
        s->key = xasprintf("pg:%s", s->path);
        if (spg_hold_instance(s, marker_instance()) || spg_open(s, error)) {
            if (!*error)
                *error = xasprintf("cannot open catalog %s: %s", s->path, s->error);
            goto fail;
        }
    } else if (open_sqlite(s, error)) {
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
    cdb_close(s->db);
    free(s->path);
    free(s->key);
    free(s->error);
    free(s);
}

int store_schema_version(Store *s)
{
    if (cdb_kind(s->db) == CDB_POSTGRES)
        return spg_version(s);
    int version = 0;
    return read_version(s, &version, NULL) ? -1 : version;
}

bool store_shared(const Store *s)
{
    return cdb_kind(s->db) == CDB_POSTGRES;
}

int64_t store_data_version(Store *s)
{
    return cdb_data_version(s->db);
}

const char *store_error(Store *s)
{
    return s->error ? s->error : cdb_errmsg(s->db);
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
    " WHERE name = ?1 AND (schema_name IS DISTINCT FROM ?2 OR table_name IS DISTINCT FROM ?3 OR "
    "kind IS DISTINCT FROM ?4"
    " OR source IS DISTINCT FROM ?5 OR interval_s IS DISTINCT FROM ?6 OR effective_interval_s IS "
    "DISTINCT FROM ?7"
    " OR enabled IS DISTINCT FROM ?8 OR config IS DISTINCT FROM ?9 OR depends_on IS DISTINCT FROM "
    "?10 OR hash IS DISTINCT FROM ?11)";

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
            sdb_set_error(s, "view %s has a dependency index out of range (%zu of %zu views)",
                          v->name, v->deps[i], r->n_views);
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
    CdbStmt *get = NULL, *ins = NULL, *upd = NULL, *list = NULL, *del = NULL;
    const char **repo_names = NULL;
    StrVec stored = {0};
    char *deps = NULL, *schema = NULL, *table = NULL;
    int rc;

    *error = NULL;
    if (stats)
        memset(stats, 0, sizeof *stats);
    if (sdb_begin_write(s))
        goto fail;
    if (sdb_prepare(s, sync_get_sql, &get) || sdb_prepare(s, sync_insert_sql, &ins) ||
        sdb_prepare(s, sync_update_sql, &upd) || sdb_prepare(s, "SELECT name FROM views", &list) ||
        sdb_prepare(s, "DELETE FROM views WHERE name = ?1", &del))
        goto fail;

    for (size_t i = 0; i < r->n_views; i++) {
        const View *v = &r->views[i];
        if (!v->name) {
            sdb_set_error(s, "view %zu of the repository has no name", i);
            goto fail;
        }
        if (view_depends_on(s, r, v, &deps))
            goto fail;
        view_split_name(v, &schema, &table);

        bool found = false, same = false;
        if (sdb_bind_values(s, get, "t", v->name))
            goto fail;
        rc = cdb_step(get);
        if (rc == CDB_ROW) {
            const char *hash = cdb_column_text(get, 0);
            found = true;
            same = hash && strcmp(hash, v->hash) == 0;
        } else if (rc != CDB_DONE) {
            sdb_set_db_error(s, "cannot read views");
            goto fail;
        }
        cdb_reset(get);

        CdbStmt *write = found ? upd : ins;
        if (sdb_bind_values(s, write, SYNC_BIND_SPEC, v->name, schema, table,
                            view_kind_name(v->kind), v->source ? v->source : "", v->interval,
                            v->effective_interval, (int64_t)v->enabled,
                            v->config_text ? v->config_text : "", deps, v->hash, now_us) ||
            sdb_step_done(s, write, "cannot write view"))
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
    while ((rc = cdb_step(list)) == CDB_ROW)
        strvec_push_owned(&stored, sdb_col_text_nn(list, 0));
    if (rc != CDB_DONE) {
        sdb_set_db_error(s, "cannot read views");
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
        if (sdb_bind_values(s, del, "t", name) || sdb_step_done(s, del, "cannot delete view"))
            goto fail;
        counts.removed++;
    }

    if (sdb_commit(s))
        goto fail;
    cdb_finalize(get);
    cdb_finalize(ins);
    cdb_finalize(upd);
    cdb_finalize(list);
    cdb_finalize(del);
    free(repo_names);
    strvec_free(&stored);
    if (stats)
        *stats = counts;
    return 0;
fail:
    *error = xasprintf("cannot update catalog %s: %s", s->path, s->error);
    cdb_finalize(get);
    cdb_finalize(ins);
    cdb_finalize(upd);
    cdb_finalize(list);
    cdb_finalize(del);
    sdb_rollback(s);
    free(repo_names);
    strvec_free(&stored);
    free(deps);
    free(schema);
    free(table);
    return -1;
}

/*
 * Every view column, with the facts of its runs that migration 8's triggers keep in its row:
 * the outcome and error of its newest finished run (newest by start, as duro.runs lists them)
 * and whether that run built the definition as it is now, the runs in progress, and its own
 * failures since its last success with their next try; and its last read through the gateway.
 * One read of the views table (and of view_last_read by its key).
 */
#define VIEW_SELECT                                                                                \
    "SELECT v.name, v.source, v.kind, v.interval_s, v.effective_interval_s, v.enabled,"            \
    " v.config, v.depends_on, v.hash, v.built_hash, v.first_seen_us, v.changed_us,"                \
    " v.last_success_us, v.last_duration_us, v.\"rows\", v.last_run_outcome, v.last_run_error,"    \
    " v.running_runs, v.last_run_started_us >= v.changed_us, v.own_failures, v.own_retry_us,"      \
    " v.running_id, l.last_read_us"                                                                \
    " FROM views v LEFT JOIN view_last_read l ON l.\"view\" = v.name"

/* The bounds of a view's values: what is outside is unknown (store.h). */
static void read_view_row(Store *s, CdbStmt *st, StoreView *v)
{
    v->name = sdb_col_text_nn(st, 0);
    v->source = sdb_col_text_nn(st, 1);
    v->kind = sdb_col_text_nn(st, 2);
    v->interval = sdb_col_range(st, 3, 0, INTERVAL_MAX_SECONDS, 0);
    v->effective_interval = sdb_col_range(st, 4, 0, INTERVAL_MAX_SECONDS, 0);
    v->enabled = sdb_col_int(st, 5, 0) != 0;
    v->config = sdb_col_text_nn(st, 6);
    v->depends_on = sdb_col_text_nn(st, 7);
    v->hash = sdb_col_text_nn(st, 8);
    v->built_hash = sdb_col_text(st, 9);
    v->first_seen_us = sdb_col_time(st, 10);
    v->changed_us = sdb_col_time(st, 11);
    v->last_success_us = sdb_col_time(st, 12);
    v->last_duration_us = v->last_success_us ? sdb_col_time(st, 13) : 0;
    v->rows = sdb_col_range(st, 14, 0, INT64_MAX, -1);
    v->last_outcome = sdb_col_text(st, 15);
    RunOutcome last;
    /* A failure of a definition changed since is no failure of the view as it is now. */
    bool current = sdb_col_int(st, 18, 0) != 0;
    v->last_failed = current && v->last_outcome &&
                     (run_outcome_parse(v->last_outcome, &last) != 0 || last != RUN_OK);
    v->last_error = v->last_failed ? sdb_col_text(st, 16) : NULL;
    /* A run whose build ended, its end kept until the catalog takes it, is not running. */
    int64_t running = sdb_col_int(st, 17, 0);
    v->running = running > 1 || (running == 1 && !marker_is_ended(s->key, sdb_col_int(st, 21, 0)));
    v->failures = (int)sdb_col_range(st, 19, 0, INT32_MAX, 0);
    v->retry_us = sdb_col_time(st, 20);
    v->last_read_us = sdb_col_time(st, 22);
}

int store_get_view(Store *s, const char *name, StoreView *out)
{
    CdbStmt *st = NULL;
    memset(out, 0, sizeof *out);
    if (sdb_prepare(s, VIEW_SELECT " WHERE v.name = ?1", &st) || sdb_bind_values(s, st, "t", name))
        goto fail;
    int rc = cdb_step(st);
    if (rc == CDB_DONE) {
        cdb_finalize(st);
        return 1;
    }
    if (rc != CDB_ROW) {
        sdb_set_db_error(s, "cannot read view");
        goto fail;
    }
    read_view_row(s, st, out);
    cdb_finalize(st);
    return 0;
fail:
    cdb_finalize(st);
    return -1;
}

/* By name, as SQLite's BINARY collation orders them (memcmp of UTF-8: strcmp). */
static int cmp_view_name(const void *a, const void *b)
{
    return strcmp(((const StoreView *)a)->name, ((const StoreView *)b)->name);
}

static int list_views(Store *s, bool names_only, StoreView **out, size_t *n)
{
    CdbStmt *st = NULL;
    StoreView *views = NULL;
    size_t count = 0, cap = 0;
    int rc;
    *out = NULL;
    *n = 0;
    /* In the table's order, sorted here: ordered by name, SQLite would walk the name index and
     * look each row up in the table. */
    if (sdb_prepare(s, names_only ? "SELECT name FROM views" : VIEW_SELECT, &st))
        goto fail;
    while ((rc = cdb_step(st)) == CDB_ROW) {
        grow_array((void **)&views, &cap, count + 1, sizeof *views);
        memset(&views[count], 0, sizeof *views);
        if (names_only)
            views[count++].name = sdb_col_text_nn(st, 0);
        else
            read_view_row(s, st, &views[count++]);
    }
    if (rc != CDB_DONE) {
        sdb_set_db_error(s, "cannot list views");
        goto fail;
    }
    cdb_finalize(st);
    if (count > 1)
        qsort(views, count, sizeof *views, cmp_view_name);
    *out = views;
    *n = count;
    return 0;
fail:
    cdb_finalize(st);
    store_views_free(views, count);
    return -1;
}

int store_list_views(Store *s, StoreView **out, size_t *n)
{
    return list_views(s, false, out, n);
}

int store_list_view_names(Store *s, StoreView **out, size_t *n)
{
    return list_views(s, true, out, n);
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
