/*
 * The catalog in PostgreSQL ([catalog] url): its schema, created at once at the current version
 * (SQLite's catalogs go through catalog/store.c's migrations one by one), the version kept in
 * duro_schema, and change notifications for cdb_data_version. The tables, columns and triggers
 * are SQLite's, in PostgreSQL's words: integers are bigint (booleans too, 0 or 1, as SQLite
 * keeps them), run_steps has a rowid of its own for the order steps were recorded in. Not for:
 * reading or writing what the catalog holds (the same SQL as SQLite's, in store*.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/store_db.h"

/*
 * The schema at version 8; later versions append a migration to pg_migrations below, as
 * store.c's migrations for SQLite.
 */
// clang-format off
static const char pg_schema[] =
    "CREATE TABLE views (\n"
    "    name text COLLATE \"C\" PRIMARY KEY,\n"
    "    schema_name text NOT NULL,\n"
    "    table_name text NOT NULL,\n"
    "    kind text NOT NULL,\n"
    "    source text NOT NULL,\n"
    "    interval_s bigint NOT NULL,\n"
    "    effective_interval_s bigint NOT NULL,\n"
    "    enabled bigint NOT NULL,\n"
    "    config text NOT NULL,\n"
    "    depends_on text NOT NULL,\n"
    "    hash text NOT NULL,\n"
    "    built_hash text,\n"
    "    first_seen_us bigint NOT NULL,\n"
    "    changed_us bigint NOT NULL,\n"
    "    last_success_us bigint,\n"
    "    last_duration_us bigint,\n"
    "    \"rows\" bigint,\n"
    "    last_run_id bigint,\n"
    "    last_run_started_us bigint,\n"
    "    last_run_outcome text,\n"
    "    last_run_error text,\n"
    "    last_ok_id bigint,\n"
    "    running_runs bigint NOT NULL DEFAULT 0,\n"
    "    running_id bigint,\n"
    "    own_failures bigint NOT NULL DEFAULT 0,\n"
    "    own_retry_us bigint\n"
    ");\n"
    "CREATE TABLE runs (\n"
    "    id bigserial PRIMARY KEY,\n"
    "    \"view\" text COLLATE \"C\" NOT NULL,\n"
    "    \"trigger\" text NOT NULL,\n"
    "    started_us bigint NOT NULL,\n"
    "    finished_us bigint,\n"
    "    outcome text NOT NULL,\n"
    "    \"rows\" bigint,\n"
    "    error text,\n"
    "    hash text,\n"
    "    pid bigint,\n"
    "    retry_us bigint,\n"
    "    instance text,\n"
    "    process_start text\n"
    ");\n"
    "CREATE INDEX runs_by_view ON runs (\"view\", started_us);\n"
    "CREATE INDEX runs_by_started ON runs (started_us);\n"
    "CREATE INDEX runs_running ON runs (\"view\") WHERE outcome = 'running';\n"
    "CREATE INDEX runs_by_view_outcome ON runs (\"view\", outcome, id);\n"
    "CREATE INDEX runs_by_view_id ON runs (\"view\", id);\n"
    "CREATE INDEX runs_own_failures ON runs (\"view\", id) WHERE retry_us IS NOT NULL;\n"
    "CREATE TABLE run_steps (\n"
    "    run_id bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n"
    "    step text NOT NULL,\n"
    "    started_us bigint NOT NULL,\n"
    "    finished_us bigint NOT NULL,\n"
    "    error text,\n"
    "    rowid bigserial -- the order steps were recorded in, as SQLite's rowid\n"
    ");\n"
    "CREATE INDEX run_steps_by_run ON run_steps (run_id, started_us);\n"
    "CREATE TABLE notices (\n"
    "    \"view\" text COLLATE \"C\" PRIMARY KEY,\n"
    "    failing bigint NOT NULL,\n"
    "    failure_sent_us bigint NOT NULL,\n"
    "    overdue bigint NOT NULL\n"
    ");\n"
    "CREATE TABLE view_reads (\n"
    "    \"view\" text COLLATE \"C\" NOT NULL,\n"
    "    hour bigint NOT NULL,\n"
    "    reads bigint NOT NULL,\n"
    "    readers text NOT NULL,\n"
    "    PRIMARY KEY (\"view\", hour)\n"
    ");\n"
    "CREATE TABLE view_last_read (\n"
    "    \"view\" text COLLATE \"C\" PRIMARY KEY,\n"
    "    last_read_us bigint NOT NULL\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS duro_leader (\n"
    "    id int PRIMARY KEY CHECK (id = 1),\n"
    "    generation bigint NOT NULL,\n"
    "    instance text NOT NULL,\n"
    "    host text NOT NULL,\n"
    "    since_us bigint NOT NULL\n"
    ");\n"
    "CREATE FUNCTION duro_view_facts(who text) RETURNS void LANGUAGE plpgsql AS $f$\n"
    "BEGIN\n"
    VIEW_FACTS("who")
    "END $f$;\n"
    "CREATE FUNCTION duro_runs_facts() RETURNS trigger LANGUAGE plpgsql AS $f$\n"
    "BEGIN\n"
    "    IF TG_OP <> 'DELETE' THEN\n"
    "        PERFORM duro_view_facts(NEW.\"view\");\n"
    "    ELSIF OLD.outcome = 'running' OR EXISTS (SELECT 1 FROM views v\n"
    "            WHERE v.name = OLD.\"view\"\n"
    "            AND (OLD.id = v.last_run_id OR OLD.id >= coalesce(v.last_ok_id, 0))) THEN\n"
    "        PERFORM duro_view_facts(OLD.\"view\");\n"
    "    END IF;\n"
    "    RETURN NULL;\n"
    "END $f$;\n"
    "CREATE TRIGGER runs_facts AFTER INSERT OR UPDATE OR DELETE ON runs\n"
    "    FOR EACH ROW EXECUTE FUNCTION duro_runs_facts();\n"
    "CREATE FUNCTION duro_views_facts() RETURNS trigger LANGUAGE plpgsql AS $f$\n"
    "BEGIN\n"
    "    PERFORM duro_view_facts(NEW.name);\n"
    "    RETURN NULL;\n"
    "END $f$;\n"
    "CREATE TRIGGER views_facts_insert AFTER INSERT ON views\n"
    "    FOR EACH ROW EXECUTE FUNCTION duro_views_facts();\n"
    "CREATE TRIGGER views_facts_changed AFTER UPDATE OF changed_us ON views\n"
    "    FOR EACH ROW EXECUTE FUNCTION duro_views_facts();\n"
    "-- every change tells the other connections (cdb_data_version), once per transaction\n"
    "CREATE FUNCTION duro_notify() RETURNS trigger LANGUAGE plpgsql AS $f$\n"
    "BEGIN\n"
    "    PERFORM pg_notify('duro_catalog', '');\n"
    "    RETURN NULL;\n"
    "END $f$;\n"
    "CREATE TRIGGER views_notify AFTER INSERT OR UPDATE OR DELETE ON views\n"
    "    FOR EACH STATEMENT EXECUTE FUNCTION duro_notify();\n"
    "CREATE TRIGGER runs_notify AFTER INSERT OR UPDATE OR DELETE ON runs\n"
    "    FOR EACH STATEMENT EXECUTE FUNCTION duro_notify();\n"
    "CREATE TRIGGER notices_notify AFTER INSERT OR UPDATE OR DELETE ON notices\n"
    "    FOR EACH STATEMENT EXECUTE FUNCTION duro_notify();\n"
    "CREATE TABLE duro_schema (version int NOT NULL);\n"
    "INSERT INTO duro_schema VALUES (8);\n";
// clang-format on

/* Migrations after the schema above: none yet. */
static const char *const pg_migrations[] = {NULL};
#define PG_SCHEMA_AT 8

_Static_assert(PG_SCHEMA_AT + (int)(sizeof pg_migrations / sizeof pg_migrations[0]) - 1 ==
                   STORE_SCHEMA_VERSION,
               "the PostgreSQL schema reaches the current version");

/* The schema version (0 = no catalog yet) and how many tables the database's schema has. */
static int pg_read_version(Store *s, int *version, int *n_tables)
{
    CdbStmt *st = NULL;
    *version = 0;
    if (sdb_prepare(s,
                    "SELECT to_regclass('duro_schema') IS NOT NULL, (SELECT count(*) FROM"
                    " pg_tables WHERE schemaname = current_schema())",
                    &st))
        return -1;
    bool has = false;
    if (cdb_step(st) == CDB_ROW) {
        has = cdb_column_int(st, 0) != 0;
        if (n_tables)
            *n_tables = (int)cdb_column_int(st, 1);
    } else {
        sdb_set_db_error(s, "cannot read schema version");
        cdb_finalize(st);
        return -1;
    }
    cdb_finalize(st);
    if (!has)
        return 0;
    if (sdb_prepare(s, "SELECT max(version) FROM duro_schema", &st))
        return -1;
    int rc = cdb_step(st);
    if (rc == CDB_ROW)
        *version = (int)sdb_col_range(st, 0, 0, 1000000, 0);
    else
        sdb_set_db_error(s, "cannot read schema version");
    cdb_finalize(st);
    return rc == CDB_ROW ? 0 : -1;
}

int spg_version(Store *s)
{
    int version = 0;
    return pg_read_version(s, &version, NULL) ? -1 : version;
}

int spg_open(Store *s, char **error)
{
    int version = 0, n_tables = 0;
    if (pg_read_version(s, &version, &n_tables)) {
        *error = xasprintf("cannot read catalog %s: %s", s->path, s->error);
        return -1;
    }
    if (version > STORE_SCHEMA_VERSION) {
        *error = xasprintf("catalog %s was written by a newer Duro (schema version %d, this Duro "
                           "knows up to %d)",
                           s->path, version, STORE_SCHEMA_VERSION);
        return -1;
    }
    if (version == 0 && n_tables > 0) {
        *error = xasprintf("catalog %s is a PostgreSQL database but not a Duro catalog (its "
                           "schema has tables and no duro_schema): give Duro a database or "
                           "schema of its own",
                           s->path);
        return -1;
    }
    if (version == STORE_SCHEMA_VERSION)
        return 0;
    /* Under the catalog's write lock, the version read again: of several instances starting at
     * once, one creates or migrates, the others find it done. */
    if (sdb_begin_write(s) || pg_read_version(s, &version, NULL))
        goto fail;
    if (version == 0 && sdb_exec_sql(s, pg_schema, "cannot create the catalog's schema"))
        goto fail;
    for (int v = version ? version : PG_SCHEMA_AT; v < STORE_SCHEMA_VERSION; v++) {
        const char *sql = pg_migrations[v - PG_SCHEMA_AT];
        if (sdb_exec_sql(s, sql, "migration failed") ||
            sdb_exec_sql(s, "UPDATE duro_schema SET version = version + 1", "migration failed"))
            goto fail;
    }
    if (sdb_commit(s) == 0)
        return 0;
fail:
    sdb_rollback(s);
    *error = xasprintf("cannot migrate catalog %s to schema version %d: %s", s->path,
                       STORE_SCHEMA_VERSION, s->error);
    return -1;
}

/*
 * Instances' liveness. Every catalog connection of a process holds, for its life, a shared
 * advisory lock named after the process's instance (marker_instance): the server lets it go
 * the moment the connection is gone, with the process or cut off. An instance no connection
 * holds the lock of has no build running. The key: SPG_INSTANCE_CLASS and the instance's first
 * 8 hex digits as a 32-bit number.
 */
#define SPG_INSTANCE_CLASS 0x64757230 /* "dur0" */

static int32_t instance_key(const char *instance)
{
    uint32_t k = 0;
    for (int i = 0; i < 8 && instance[i]; i++) {
        char c = instance[i];
        uint32_t d = c >= '0' && c <= '9'   ? (uint32_t)(c - '0')
                     : c >= 'a' && c <= 'f' ? (uint32_t)(c - 'a' + 10)
                                            : (uint32_t)(unsigned char)c % 16;
        k = k << 4 | d;
    }
    return (int32_t)k;
}

int spg_hold_instance(Store *s, const char *instance)
{
    char *sql = xasprintf("SELECT pg_advisory_lock_shared(%d, %d)", SPG_INSTANCE_CLASS,
                          (int)instance_key(instance));
    int rc = cdb_session_sql(s->db, sql);
    free(sql);
    if (rc != CDB_OK) {
        sdb_set_db_error(s, "cannot take the instance's lock");
        return -1;
    }
    return 0;
}

int spg_instance_alive(Store *s, const char *instance)
{
    CdbStmt *st = NULL;
    /* A lock some connection holds (shared) is not granted exclusively: the instance lives. */
    if (sdb_prepare(s,
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
                    " AND database = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database())"
                    " AND granted AND classid = CAST(?1 AS bigint)"
                    " AND objid = CAST(?2 AS bigint) AND objsubid = 2)",
                    &st) ||
        sdb_bind_values(s, st, "ii", (int64_t)(uint32_t)SPG_INSTANCE_CLASS,
                        (int64_t)(uint32_t)instance_key(instance)))
        goto fail;
    if (cdb_step(st) != CDB_ROW) {
        sdb_set_db_error(s, "cannot tell whether an instance is running");
        goto fail;
    }
    int alive = cdb_column_int(st, 0) != 0;
    cdb_finalize(st);
    return alive;
fail:
    cdb_finalize(st);
    return -1;
}
