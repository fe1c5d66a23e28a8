/*
 * libFuzzer target for the SQL engine behind duro.* (sqlengine/): the input is a client's SELECT,
 * then its parameter values, separated by NUL bytes ("\xff" alone stands for SQL NULL). It is
 * prepared and run over a small fixed snapshot of duro.status and duro.runs, as the gateway does
 * for a Query or a Parse/Bind/Execute. Not for: deciding what is Duro's (fuzz_intercept).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "sqlengine/vtable.h"

#define FUZZ_MAX_PARAMS 16

/* 2026-11-22 00:00:00 UTC, and the snapshot's clock: 07:00 that day. */
#define DAY0 INT64_C(1795305600000000)
#define H    INT64_C(3600000000)
#define SEC  INT64_C(1000000)
#define NOW  (DAY0 + 7 * H)

static const VtStatusRow snapshot_status[] = {
    {"first.cities", "1h", "1h", "fresh", DAY0 + 6 * H + 123456, 1.5, DAY0 + 8 * H, 120, "", NULL,
     "first/cities.sql"},
    {"first.orders", NULL, "24h", "stale", DAY0 - 18 * H, 12.25, DAY0 + 6 * H, 5000, "first.cities",
     NULL, "first/orders.sql"},
    {"second.daily", "30m", "30m", "failed", DAY0 + 5 * H, 0.5, DAY0 + 5 * H, 10,
     "first.orders,first.cities", "boom: 'quoted'", "second/daily.sql"},
    {"second.never", NULL, "24h", "never", VT_NULL_TIME, NAN, VT_NULL_TIME, -1, "", NULL,
     "second/never.sql"},
    {"Odd.Name", NULL, "24h", "disabled", VT_NULL_TIME, NAN, VT_NULL_TIME, -1, NULL, NULL,
     "odd/name.sql"},
};

static const VtRunRow snapshot_runs[] = {
    {1, "first.cities", DAY0 - 19 * H, DAY0 - 19 * H + 1500000, "ok", 1.5, 100, "schedule", NULL},
    {2, "first.orders", DAY0 - 18 * H, DAY0 - 18 * H + 12 * SEC, "ok", 12.25, 4900, "schedule",
     NULL},
    {3, "second.daily", DAY0 + 5 * H, DAY0 + 5 * H + 2 * SEC, "failed", 2.0, -1, "schedule",
     "boom"},
    {4, "first.cities", DAY0 + 6 * H, VT_NULL_TIME, "running", NAN, -1, "call", NULL},
    {5, "first.orders", DAY0 + 6 * H, DAY0 + 6 * H + 3 * SEC, "tests_failed", 3, -1, "web",
     "test x failed"},
    {6, "second.daily", DAY0 + 6 * H, DAY0 + 6 * H + 250000, "cancelled", 0.25, -1, "read", NULL},
};

/* Loaded once: the snapshot is what every input reads. */
static VtDb *snapshot(void)
{
    static VtDb *db;
    if (db)
        return db;
    char *error = NULL;
    db = vtable_open(&error);
    FUZZ_ASSERT(db);
    FUZZ_ASSERT(vtable_load(db, snapshot_status, sizeof snapshot_status / sizeof *snapshot_status,
                            snapshot_runs, sizeof snapshot_runs / sizeof *snapshot_runs,
                            &error) == 0);
    vtable_set_clock(db, NOW);
    return db;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    VtDb *db = snapshot();
    char *text = malloc(size + 1);
    FUZZ_ASSERT(text);
    memcpy(text, data, size);
    text[size] = '\0';

    /* The SQL, then up to FUZZ_MAX_PARAMS values after it. */
    const char *params[FUZZ_MAX_PARAMS];
    size_t nparams = 0;
    size_t pos = strlen(text) + 1;
    while (pos <= size && nparams < FUZZ_MAX_PARAMS) {
        const char *p = text + pos;
        params[nparams++] = strcmp(p, "\xff") == 0 ? NULL : p;
        pos += strlen(p) + 1;
    }

    /* Client-given types for the first two parameters: unspecified and int8. */
    static const uint32_t types[] = {0, VT_OID_INT8};
    VtError err;
    VtStatement *st = vtable_prepare(db, text, types, nparams > 1 ? 2 : nparams, &err);
    if (!st) {
        FUZZ_ASSERT(strlen(err.sqlstate) == 5);
        free(text);
        return 0;
    }
    for (size_t i = 0; i < vtable_nparams(st); i++)
        (void)vtable_param_type(st, i);
    size_t ncols = vtable_ncolumns(st);
    for (size_t i = 0; i < ncols; i++)
        FUZZ_ASSERT(vtable_column(st, i)->name != NULL);

    /* Run twice, as a prepared statement would be: the second run must give the same rows. */
    size_t counts[2] = {0, 0};
    for (int run = 0; run < 2; run++) {
        VtValue *rows = NULL;
        size_t nrows = 0;
        if (vtable_execute(st, params, nparams, &rows, &nrows, &err) != 0) {
            FUZZ_ASSERT(strlen(err.sqlstate) == 5);
            counts[run] = SIZE_MAX;
            continue;
        }
        for (size_t i = 0; i < nrows * ncols; i++)
            if (!rows[i].null)
                FUZZ_ASSERT(rows[i].text != NULL);
        counts[run] = nrows;
        vtable_rows_free(rows, nrows, ncols);
    }
    (void)counts;
    vtable_statement_free(st);
    free(text);
    return 0;
}
