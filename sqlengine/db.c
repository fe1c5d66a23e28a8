/*
 * The engine's in-memory SQLite database: opening it with its tables and functions, and loading
 * the rows of duro.status, duro.runs and duro.leader into it. Not for: reading the catalog (the
 * caller gives the rows) or running queries (execute.c).
 */
#include "sqlengine/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char vt_schema[] =
    "CREATE TABLE \"status\"(\"view\" TEXT, \"interval\" TEXT, \"effective_interval\" TEXT,"
    " \"state\" TEXT, \"last_refresh\" INTEGER, \"last_duration_s\" REAL,"
    " \"next_refresh\" INTEGER, \"rows\" INTEGER, \"depends_on\" TEXT, \"last_error\" TEXT,"
    " \"source\" TEXT, \"reads_24h\" INTEGER, \"last_read\" INTEGER, \"readers\" TEXT);"
    "CREATE TABLE \"runs\"(\"id\" INTEGER, \"view\" TEXT, \"started\" INTEGER,"
    " \"finished\" INTEGER, \"outcome\" TEXT, \"duration_s\" REAL, \"rows\" INTEGER,"
    " \"trigger\" TEXT, \"error\" TEXT);"
    "CREATE TABLE \"leader\"(\"instance\" TEXT, \"host\" TEXT, \"generation\" INTEGER,"
    " \"since\" INTEGER, \"this_instance\" INTEGER);";

VtDb *vtable_open(char **error)
{
    VtDb *db = xcalloc(1, sizeof(*db));
    *error = NULL;
    /* A VtDb is used by one thread at a time: no mutex of SQLite's around every call. */
    if (sqlite3_open_v2(":memory:", &db->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK)
        goto fail;
    if (vt_register_functions(db) != 0)
        goto fail;
    sqlite3_limit(db->db, SQLITE_LIMIT_LENGTH, VT_MAX_VALUE_BYTES);
    if (sqlite3_exec(db->db, vt_schema, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db->db, "INSERT INTO \"status\" VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                           -1, &db->insert_status, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db->db, "INSERT INTO \"runs\" VALUES (?,?,?,?,?,?,?,?,?)", -1,
                           &db->insert_runs, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db->db, "INSERT INTO \"leader\" VALUES (?,?,?,?,?)", -1,
                           &db->insert_leader, NULL) != SQLITE_OK)
        goto fail;
    return db;
fail:
    *error = xasprintf("cannot open the virtual tables: %s",
                       db->db ? sqlite3_errmsg(db->db) : "out of memory");
    vtable_close(db);
    return NULL;
}

void vtable_close(VtDb *db)
{
    if (db == NULL)
        return;
    sqlite3_finalize(db->insert_status);
    sqlite3_finalize(db->insert_runs);
    sqlite3_finalize(db->insert_leader);
    sqlite3_close(db->db);
    vt_zone_clear(&db->zone);
    free(db);
}

void vtable_set_clock(VtDb *db, int64_t now_us)
{
    db->fixed_now = now_us;
}

/* The text is not copied: the row is inserted, and its bindings cleared, before the caller's
 * strings go. */
static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v == NULL)
        sqlite3_bind_null(s, i);
    else
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

static void bind_time(sqlite3_stmt *s, int i, int64_t v)
{
    if (v == VT_NULL_TIME)
        sqlite3_bind_null(s, i);
    else
        sqlite3_bind_int64(s, i, v);
}

static void bind_double(sqlite3_stmt *s, int i, double v)
{
    if (isnan(v))
        sqlite3_bind_null(s, i);
    else
        sqlite3_bind_double(s, i, v);
}

static void bind_count(sqlite3_stmt *s, int i, int64_t v)
{
    if (v < 0)
        sqlite3_bind_null(s, i);
    else
        sqlite3_bind_int64(s, i, v);
}

/* Steps an insert once and resets it; 0 or -1. */
static int insert_row(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Ends a load begun with "BEGIN; DELETE ...": commits when ok, else rolls back with *error. */
static int load_end(VtDb *db, bool ok, const char *what, char **error)
{
    if (ok && sqlite3_exec(db->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    *error = xasprintf("cannot load %s: %s", what, sqlite3_errmsg(db->db));
    sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

int vtable_load(VtDb *db, const VtStatusRow *status, size_t n_status, const VtRunRow *runs,
                size_t n_runs, char **error)
{
    *error = NULL;
    bool ok = sqlite3_exec(db->db, "BEGIN; DELETE FROM \"status\"; DELETE FROM \"runs\";", NULL,
                           NULL, NULL) == SQLITE_OK;
    for (size_t i = 0; ok && i < n_status; i++) {
        const VtStatusRow *r = &status[i];
        sqlite3_stmt *s = db->insert_status;
        bind_text(s, 1, r->view);
        bind_text(s, 2, r->interval);
        bind_text(s, 3, r->effective_interval);
        bind_text(s, 4, r->state);
        bind_time(s, 5, r->last_refresh_us);
        bind_double(s, 6, r->last_duration_s);
        bind_time(s, 7, r->next_refresh_us);
        bind_count(s, 8, r->rows);
        bind_text(s, 9, r->depends_on);
        bind_text(s, 10, r->last_error);
        bind_text(s, 11, r->source);
        bind_count(s, 12, r->reads_24h);
        bind_time(s, 13, r->last_read_us);
        bind_text(s, 14, r->readers);
        ok = insert_row(s) == 0;
    }
    for (size_t i = 0; ok && i < n_runs; i++) {
        const VtRunRow *r = &runs[i];
        sqlite3_stmt *s = db->insert_runs;
        sqlite3_bind_int64(s, 1, r->id);
        bind_text(s, 2, r->view);
        bind_time(s, 3, r->started_us);
        bind_time(s, 4, r->finished_us);
        bind_text(s, 5, r->outcome);
        bind_double(s, 6, r->duration_s);
        bind_count(s, 7, r->rows);
        bind_text(s, 8, r->trigger);
        bind_text(s, 9, r->error);
        ok = insert_row(s) == 0;
    }
    return load_end(db, ok, "the virtual tables", error);
}

int vtable_load_leader(VtDb *db, const VtLeaderRow *rows, size_t n, char **error)
{
    *error = NULL;
    bool ok = sqlite3_exec(db->db, "BEGIN; DELETE FROM \"leader\";", NULL, NULL, NULL) == SQLITE_OK;
    for (size_t i = 0; ok && i < n; i++) {
        sqlite3_stmt *s = db->insert_leader;
        bind_text(s, 1, rows[i].instance);
        bind_text(s, 2, rows[i].host);
        sqlite3_bind_int64(s, 3, rows[i].generation);
        bind_time(s, 4, rows[i].since_us);
        sqlite3_bind_int(s, 5, rows[i].this_instance);
        ok = insert_row(s) == 0;
    }
    return load_end(db, ok, "duro.leader", error);
}
