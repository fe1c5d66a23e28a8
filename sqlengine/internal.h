/*
 * What the files of the SQL engine share: the PostgreSQL types it tracks, the two tables' columns,
 * the database and statement structures, the translation state, and the helpers one file defines
 * and others call. Only the engine's own files include it. Not for: callers of the engine
 * (vtable.h).
 */
#ifndef DURO_SQLENGINE_INTERNAL_H
#define DURO_SQLENGINE_INTERNAL_H

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"
#include "sqlengine/vtable.h"

#define US_PER_SEC         INT64_C(1000000)
#define US_PER_MIN         (60 * US_PER_SEC)
#define US_PER_HOUR        (60 * US_PER_MIN)
#define US_PER_DAY         (24 * US_PER_HOUR)
#define VT_MAX_PARAMS      32766      /* SQLite's limit on bound parameters */
#define VT_MAX_VALUE_BYTES (16 << 20) /* the longest text a query may build */
#define VT_PROGRESS_STEPS  10000      /* virtual machine steps between two checks of VtLimits */

/* ---- Types and tables (types.c) ---- */

/* The PostgreSQL types a translated expression can have. */
typedef enum Ty {
    TY_UNKNOWN, /* an untyped string literal, NULL or parameter not resolved yet */
    TY_TEXT,
    TY_BOOL,
    TY_INT4,
    TY_INT8,
    TY_FLOAT8,
    TY_NUMERIC,
    TY_TS,
    TY_DATE,
    TY_INTERVAL,
    TY_COUNT
} Ty;

/* A column of duro.status or duro.runs and its type. */
typedef struct ColDef {
    const char *name;
    Ty type;
} ColDef;

#define VT_N_TABLES 3 /* duro.status, duro.runs and duro.leader */

/* The virtual tables: their names (without the schema) and columns. */
typedef struct VtTableDef {
    const char *name;
    const char *label; /* with its schema, for messages */
    const ColDef *cols;
    size_t n;
} VtTableDef;
extern const VtTableDef vt_tables[VT_N_TABLES];
/* The index in vt_tables of the table named relname (without the schema), or -1. */
int vt_table_index(const char *relname);

/* A type's name in messages, its OID and its length on the wire. */
typedef struct VtTypeInfo {
    const char *name;
    uint32_t oid;
    int16_t len;
} VtTypeInfo;
extern const VtTypeInfo vt_ty_info[TY_COUNT];

bool vt_ty_is_number(Ty t);
/* The type two operands are compared or combined in, or TY_COUNT when PostgreSQL has none. */
Ty vt_common_type(Ty a, Ty b);
/* The type of a client-given parameter OID; TY_UNKNOWN when unspecified. */
Ty vt_ty_of_oid(uint32_t oid);
/* The type a cast names (last part of the type name), or TY_COUNT. */
Ty vt_ty_of_name(const char *name);
/* Whether PostgreSQL casts src to dst. */
bool vt_cast_allowed(Ty src, Ty dst);

/* ---- Text input and output (types.c) ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
int64_t vt_days_from_civil(int64_t y, int m, int d);
void vt_civil_from_days(int64_t z, int64_t *y, int *m, int *d);
int64_t vt_floor_div(int64_t a, int64_t b);

/* Special values of timestamps and dates that depend on the time of the query. */
typedef enum DtSpecial {
    DT_PLAIN,
    DT_NOW,
    DT_TODAY,
    DT_TOMORROW,
    DT_YESTERDAY,
} DtSpecial;

/*
 * Parses a timestamptz (date_only: the date, time and zone ignored as date_in does). Accepts
 * 'YYYY-MM-DD[( |T)HH:MM[:SS[.frac]]][ ][Z|UTC|GMT|+HH[:MM]|-HHMM]', epoch, infinity,
 * -infinity, now, today, tomorrow, yesterday. Returns 0 and *us (for DT_PLAIN) and *special.
 */
int vt_parse_timestamp(const char *text, bool date_only, int64_t *us, DtSpecial *special);
/* The value of a special timestamp at now. */
int64_t vt_resolve_special(DtSpecial special, int64_t value, int64_t now);
/*
 * Parses an interval: '[@] n unit [n unit ...] [HH:MM[:SS[.f]]] [ago]' with units from
 * microseconds to weeks, or a bare number of seconds. Returns 0, -1 when malformed, -2 for months
 * and years (calendar arithmetic is not supported).
 */
int vt_parse_interval(const char *text, int64_t *us);
/* Parses PostgreSQL's int8 input (whitespace around allowed). */
int vt_parse_int8(const char *text, int64_t *v);
/* Parses PostgreSQL's float8 input: a number, NaN, Infinity, -Infinity. */
int vt_parse_float8(const char *text, double *v);

/* A session's time zone: UTC offsets (seconds east) from each transition on (zone.c). */
#define VT_ZONE_NAME_MAX 64
typedef struct VtZone {
    char name[VT_ZONE_NAME_MAX]; /* as given; "" = none loaded (UTC) */
    int64_t *at;                 /* transition instants, seconds since the epoch, ascending */
    int32_t *offset;             /* the offset from at[i] on */
    size_t n;
    int32_t initial; /* before the first transition, or always when n = 0 */
} VtZone;
/* Loads a zone: UTC/GMT, a POSIX fixed offset ("<+01>-01", "UTC+3"), or a zoneinfo name
 * ("Europe/Paris"). 0, or -1 (z then holds nothing: UTC). */
int vt_zone_load(const char *name, VtZone *z);
void vt_zone_clear(VtZone *z);
/* The offset from UTC in seconds at the instant us (µs since the epoch); NULL = UTC. */
int32_t vt_zone_offset(const VtZone *z, int64_t us);

/* A timestamptz as PostgreSQL prints it in zone z (NULL: UTC), or a date (date_only: z unused). */
char *vt_format_timestamp(int64_t us, bool date_only, const VtZone *z);
/* An interval of us as PostgreSQL prints it (IntervalStyle postgres), as days and time. */
char *vt_format_interval(int64_t us);
/* A float8 as PostgreSQL 12+ prints it: the shortest text that reads back exactly. */
char *vt_format_float8(double v);
/* A numeric held as a double, with scale digits after the point (-1: as few as needed). */
char *vt_format_numeric(double v, int scale);

/* ---- The database (db.c) and the SQLite functions it registers (functions.c) ---- */

struct VtDb {
    sqlite3 *db;
    sqlite3_stmt *insert_status, *insert_runs, *insert_leader;
    int64_t fixed_now;      /* 0: the real clock */
    int64_t now;            /* what now() means for the running execution */
    VtZone zone;            /* the TimeZone timestamptz values are printed in */
    const VtLimits *limits; /* of the running execution, for the progress handler */
    VtStop stopped;         /* why the progress handler stopped it */
};

/* Registers the duro_* SQL functions the translation calls on db->db; 0, or -1 (SQLite's error). */
int vt_register_functions(VtDb *db) MUST_CHECK;

/* ---- Translation: the PostgreSQL tree to SQLite SQL ---- */

struct VtStatement {
    VtDb *db;
    sqlite3_stmt *stmt;
    char *sql; /* the translated SQLite SQL, for vtable_statement_copy */
    VtColumn *cols;
    Ty *col_ty;
    int *col_scale;
    size_t ncols;
    Ty *param_ty;
    uint32_t *param_oid; /* the client's, or 0 */
    size_t nparams;
    unsigned tables; /* bit 1 << VtTable of each table read */
    int runs_refs;   /* how many times duro.runs is named in FROM clauses */
    /* Every row the statement may read from duro.runs has view = this: a literal (runs_view) or
     * parameter runs_view_param (1-based); NULL and 0 when it says nothing so simple. */
    char *runs_view;
    int runs_view_param;
    /* The statement reads at most the newest (highest id) LIMIT + OFFSET runs of those its WHERE
     * allows: each a literal (>= 0) or parameter *_param (1-based); runs_newest false when not. */
    bool runs_newest;
    int64_t runs_limit, runs_offset;
    int runs_limit_param, runs_offset_param;
};

/* One translated expression. */
typedef struct Expr {
    char *sql; /* NULL for an untyped literal not coerced yet */
    Ty type;   /* TY_UNKNOWN: literal (lit), NULL (null_lit) or pending parameter */
    char *lit; /* an untyped string literal's value */
    bool null_lit;
    int param;         /* $n when the expression is exactly a parameter */
    int scale;         /* numeric digits after the point, -1 when not fixed */
    char *ungrouped;   /* a column used outside aggregates and GROUP BY, for 42803 */
    int name_strength; /* FigureColname: 2 a real name, 1 a type or "case", 0 none */
    const char *name;  /* points into the tree or a static string */
} Expr;

/* The FROM items visible. */
typedef struct FromItem {
    const char *name; /* the alias, or the table name */
    bool aliased;
    int table;
} FromItem;

typedef enum Clause {
    CL_TARGET,
    CL_WHERE,
    CL_GROUP,
    CL_HAVING,
    CL_ORDER,
    CL_LIMIT,
    CL_JOIN
} Clause;

typedef struct Tx {
    VtStatement *st;
    VtError *err;
    FromItem *from;
    size_t n_from, from_cap;
    const char *label; /* "duro.status", for messages */
    Clause clause;
    bool grouped;
    int agg_depth;
    bool saw_agg;
    StrVec group_sql;
    char **target_sql; /* pass-1 targets, for GROUP BY / ORDER BY by position or name */
    char **target_name;
    size_t n_targets;
} Tx;

/* Expressions (translate.c). */

/* Records the first error; always returns -1. */
int vt_tx_fail(Tx *tx, const char *sqlstate, const char *fmt, ...) PRINTF_LIKE(3, 4);
/* 0A000 with the table named: "duro.status: window functions are not supported". */
int vt_unsupported(Tx *tx, const char *what);
void vt_expr_clear(Expr *e);
const char *vt_node_str(const PgQuery__Node *n);
/* Makes sure parameter n exists; returns its index or -1. */
int vt_use_param(Tx *tx, int n);
/* Gives an untyped expression (literal, NULL, pending parameter) type t. */
int vt_coerce(Tx *tx, Expr *e, Ty t);
/* Finishes an expression whose type may still be unknown: text, as PostgreSQL resolves it. */
int vt_resolve(Tx *tx, Expr *e);
/* The SQL of e as text (PostgreSQL's output of its type); e must be typed. */
char *vt_text_sql(const Expr *e);
/* Moves the first "ungrouped" mark of src to dst when dst has none. */
void vt_take_ungrouped(Expr *dst, Expr *src);
/* Translates both operands and gives them a common type; *t receives it. */
int vt_translate_pair(Tx *tx, const PgQuery__Node *l, const PgQuery__Node *r, Expr *a, Expr *b,
                      Ty *t, const char *op);
/* Requires a boolean (an untyped literal becomes one). */
int vt_require_bool(Tx *tx, Expr *e, const char *what);
/* Translates any expression node into *out; 0, or -1 with the error in tx. */
int vt_translate(Tx *tx, const PgQuery__Node *n, Expr *out);

/* Operators and conditionals (operators.c). */

/* fmt (one of the engine's fixed templates with up to two %s) applied to a and b. */
char *vt_format_template(const char *fmt, const char *a, const char *b);
int vt_translate_aexpr(Tx *tx, const PgQuery__AExpr *ae, Expr *out);
int vt_translate_bool(Tx *tx, const PgQuery__BoolExpr *be, Expr *out);
/* CASE [arg] WHEN .. THEN .. [ELSE ..] END */
int vt_translate_case(Tx *tx, const PgQuery__CaseExpr *ce, Expr *out);
int vt_translate_coalesce(Tx *tx, const PgQuery__CoalesceExpr *ce, Expr *out);

/* Function calls and aggregates (calls.c). */
int vt_translate_func(Tx *tx, const PgQuery__FuncCall *fc, Expr *out);

/* Whole statements (select.c). */

/* Translates one SELECT into SQLite SQL (*sql) and the statement's columns. */
int vt_translate_select(Tx *tx, const PgQuery__SelectStmt *s, char **sql);

#endif
