/*
 * Answers SELECTs over duro.status and duro.runs: the rows live in an in-memory SQLite database
 * (timestamps and intervals as integer µs, booleans as 0/1), a PostgreSQL query is translated from
 * libpg_query's protobuf tree into SQLite SQL while its PostgreSQL types are tracked, and results
 * are formatted as PostgreSQL prints them. Client text only reaches SQLite as bound parameters or
 * re-quoted literals. Not for: any other table, writes, or the wire protocol.
 */
#include "catalog/vtable.h"

#include <errno.h>
#include <math.h>
#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define US_PER_SEC    INT64_C(1000000)
#define US_PER_MIN    (60 * US_PER_SEC)
#define US_PER_HOUR   (60 * US_PER_MIN)
#define US_PER_DAY    (24 * US_PER_HOUR)
#define VT_MAX_PARAMS 32766 /* SQLite's limit on bound parameters */

/* ---- Types and tables ---- */

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

static const struct {
    const char *name;
    uint32_t oid;
    int16_t len;
} ty_info[TY_COUNT] = {
    {"unknown", VT_OID_TEXT, -1},    {"text", VT_OID_TEXT, -1},
    {"boolean", VT_OID_BOOL, 1},     {"integer", VT_OID_INT4, 4},
    {"bigint", VT_OID_INT8, 8},      {"double precision", VT_OID_FLOAT8, 8},
    {"numeric", VT_OID_NUMERIC, -1}, {"timestamp with time zone", VT_OID_TIMESTAMPTZ, 8},
    {"date", VT_OID_DATE, 4},        {"interval", VT_OID_INTERVAL, 16},
};

typedef struct ColDef {
    const char *name;
    Ty type;
} ColDef;

static const ColDef status_cols[] = {
    {"view", TY_TEXT},       {"interval", TY_TEXT},   {"effective_interval", TY_TEXT},
    {"state", TY_TEXT},      {"last_refresh", TY_TS}, {"last_duration_s", TY_FLOAT8},
    {"next_refresh", TY_TS}, {"rows", TY_INT8},       {"depends_on", TY_TEXT},
    {"last_error", TY_TEXT}, {"source", TY_TEXT},
};
static const ColDef runs_cols[] = {
    {"id", TY_INT8},     {"view", TY_TEXT},    {"started", TY_TS},
    {"finished", TY_TS}, {"outcome", TY_TEXT}, {"duration_s", TY_FLOAT8},
    {"rows", TY_INT8},   {"trigger", TY_TEXT}, {"error", TY_TEXT},
};
static const struct {
    const char *name;
    const ColDef *cols;
    size_t n;
} vt_tables[] = {{"status", status_cols, ARRAY_LEN(status_cols)},
                 {"runs", runs_cols, ARRAY_LEN(runs_cols)}};

static bool ty_is_number(Ty t)
{
    return t == TY_INT4 || t == TY_INT8 || t == TY_FLOAT8 || t == TY_NUMERIC;
}

/* The type two operands are compared or combined in, or TY_COUNT when PostgreSQL has none. */
static Ty common_type(Ty a, Ty b)
{
    if (a == TY_UNKNOWN)
        return b;
    if (b == TY_UNKNOWN || a == b)
        return a;
    if (ty_is_number(a) && ty_is_number(b)) {
        static const Ty order[] = {TY_FLOAT8, TY_NUMERIC, TY_INT8, TY_INT4};
        for (size_t i = 0; i < ARRAY_LEN(order); i++)
            if (a == order[i] || b == order[i])
                return order[i];
    }
    if ((a == TY_TS && b == TY_DATE) || (a == TY_DATE && b == TY_TS))
        return TY_TS;
    return TY_COUNT;
}

/* The type of a client-given parameter OID; TY_UNKNOWN when unspecified. */
static Ty ty_of_oid(uint32_t oid)
{
    switch (oid) {
    case 16:
        return TY_BOOL;
    case 21:
    case 23:
        return TY_INT4;
    case 20:
        return TY_INT8;
    case 700:
    case 701:
        return TY_FLOAT8;
    case 1700:
        return TY_NUMERIC;
    case 1114:
    case 1184:
        return TY_TS;
    case 1082:
        return TY_DATE;
    case 1186:
        return TY_INTERVAL;
    case 0:
    case 705:
        return TY_UNKNOWN;
    default:
        return TY_TEXT; /* text, varchar, name, bpchar, and anything else read as text */
    }
}

/* The type a cast names (last part of the type name), or TY_COUNT. */
static Ty ty_of_name(const char *name)
{
    static const struct {
        const char *name;
        Ty type;
    } names[] = {
        {"text", TY_TEXT},         {"varchar", TY_TEXT},    {"bpchar", TY_TEXT},
        {"name", TY_TEXT},         {"bool", TY_BOOL},       {"boolean", TY_BOOL},
        {"int2", TY_INT4},         {"int4", TY_INT4},       {"int", TY_INT4},
        {"integer", TY_INT4},      {"smallint", TY_INT4},   {"int8", TY_INT8},
        {"bigint", TY_INT8},       {"float8", TY_FLOAT8},   {"float4", TY_FLOAT8},
        {"real", TY_FLOAT8},       {"numeric", TY_NUMERIC}, {"decimal", TY_NUMERIC},
        {"timestamptz", TY_TS},    {"timestamp", TY_TS},    {"date", TY_DATE},
        {"interval", TY_INTERVAL},
    };
    for (size_t i = 0; i < ARRAY_LEN(names); i++)
        if (strcmp(names[i].name, name) == 0)
            return names[i].type;
    return TY_COUNT;
}

/* Whether PostgreSQL casts src to dst. */
static bool cast_allowed(Ty src, Ty dst)
{
    if (src == dst || dst == TY_TEXT || src == TY_TEXT || src == TY_UNKNOWN)
        return true;
    if (ty_is_number(src) && ty_is_number(dst))
        return true;
    if ((src == TY_BOOL && dst == TY_INT4) || (src == TY_INT4 && dst == TY_BOOL))
        return true;
    return (src == TY_TS && dst == TY_DATE) || (src == TY_DATE && dst == TY_TS);
}

/* ---- Text input: PostgreSQL's formats for the types used here ---- */

static const char *skip_space(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' || *s == '\v')
        s++;
    return s;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static bool leap_year(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap_year(y) ? 29 : days[m - 1];
}

/* Reads 1..max digits at *s into *v; returns the number read. */
static int read_digits(const char **s, int max, int64_t *v)
{
    int n = 0;
    *v = 0;
    while (n < max && **s >= '0' && **s <= '9') {
        *v = *v * 10 + (**s - '0');
        (*s)++;
        n++;
    }
    return n;
}

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
static int parse_timestamp(const char *text, bool date_only, int64_t *us, DtSpecial *special)
{
    const char *s = skip_space(text);
    static const struct {
        const char *word;
        DtSpecial special;
        int64_t value;
    } words[] = {{"epoch", DT_PLAIN, 0},
                 {"infinity", DT_PLAIN, INT64_MAX},
                 {"-infinity", DT_PLAIN, INT64_MIN + 1},
                 {"now", DT_NOW, 0},
                 {"today", DT_TODAY, 0},
                 {"tomorrow", DT_TOMORROW, 0},
                 {"yesterday", DT_YESTERDAY, 0}};
    *special = DT_PLAIN;
    for (size_t i = 0; i < ARRAY_LEN(words); i++) {
        size_t n = strlen(words[i].word);
        if (strncasecmp(s, words[i].word, n) == 0 && *skip_space(s + n) == '\0') {
            *special = words[i].special;
            *us = words[i].value;
            if (date_only && *special == DT_NOW)
                *special = DT_TODAY;
            return 0;
        }
    }
    int64_t y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, tz = 0;
    if (read_digits(&s, 9, &y) < 1 || *s++ != '-' || read_digits(&s, 2, &mo) < 1 || *s++ != '-' ||
        read_digits(&s, 2, &d) < 1)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, (int)mo))
        return -1;
    if (*s == 'T' || *s == 't' || (*s == ' ' && skip_space(s)[0] >= '0' && skip_space(s)[0] <= '9'))
        s = skip_space(s + 1);
    if (*s >= '0' && *s <= '9') {
        if (read_digits(&s, 2, &h) < 1 || *s++ != ':' || read_digits(&s, 2, &mi) != 2)
            return -1;
        if (*s == ':') {
            s++;
            if (read_digits(&s, 2, &sec) != 2)
                return -1;
            if (*s == '.') {
                s++;
                int64_t digit, scale = 100000;
                int n = 0;
                while (*s >= '0' && *s <= '9') {
                    digit = *s++ - '0';
                    if (n++ < 6)
                        frac += digit * scale;
                    else if (n == 7 && digit >= 5)
                        frac++; /* rounds to microseconds */
                    scale /= 10;
                }
                if (n == 0)
                    return -1;
            }
        }
        if (h > 24 || mi > 59 || sec > 60 || (h == 24 && (mi || sec || frac)))
            return -1;
    }
    s = skip_space(s);
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (strncasecmp(s, "UTC", 3) == 0 || strncasecmp(s, "GMT", 3) == 0) {
        s += 3;
    } else if (*s == '+' || *s == '-') {
        int sign = *s++ == '-' ? -1 : 1;
        int64_t th, tm = 0, ts = 0;
        int n = read_digits(&s, 2, &th);
        if (n < 1)
            return -1;
        if (*s == ':') {
            s++;
            if (read_digits(&s, 2, &tm) != 2)
                return -1;
            if (*s == ':' && (s++, read_digits(&s, 2, &ts) != 2))
                return -1;
        } else if (n == 2 && *s >= '0' && *s <= '9') {
            if (read_digits(&s, 2, &tm) != 2)
                return -1;
        }
        if (th > 15 || tm > 59 || ts > 59)
            return -1;
        tz = sign * (th * 3600 + tm * 60 + ts);
    }
    if (*skip_space(s) != '\0')
        return -1;
    int64_t days = days_from_civil(y, (int)mo, (int)d);
    if (date_only)
        *us = days * US_PER_DAY;
    else
        *us = days * US_PER_DAY + h * US_PER_HOUR + mi * US_PER_MIN + sec * US_PER_SEC + frac -
              tz * US_PER_SEC;
    return 0;
}

/* The value of a special timestamp at now. */
static int64_t resolve_special(DtSpecial special, int64_t value, int64_t now)
{
    int64_t today = floor_div(now, US_PER_DAY) * US_PER_DAY;
    switch (special) {
    case DT_NOW:
        return now;
    case DT_TODAY:
        return today;
    case DT_TOMORROW:
        return today + US_PER_DAY;
    case DT_YESTERDAY:
        return today - US_PER_DAY;
    default:
        return value;
    }
}

/*
 * Parses an interval: '[@] n unit [n unit ...] [HH:MM[:SS[.f]]] [ago]' with units from
 * microseconds to weeks, or a bare number of seconds. Returns 0, -1 when malformed, -2 for months
 * and years (calendar arithmetic is not supported).
 */
static int parse_interval(const char *text, int64_t *us)
{
    static const struct {
        const char *unit;
        int64_t us;
    } units[] = {
        {"microseconds", 1},
        {"microsecond", 1},
        {"usecs", 1},
        {"usec", 1},
        {"us", 1},
        {"milliseconds", 1000},
        {"millisecond", 1000},
        {"msecs", 1000},
        {"msec", 1000},
        {"ms", 1000},
        {"seconds", US_PER_SEC},
        {"second", US_PER_SEC},
        {"secs", US_PER_SEC},
        {"sec", US_PER_SEC},
        {"s", US_PER_SEC},
        {"minutes", US_PER_MIN},
        {"minute", US_PER_MIN},
        {"mins", US_PER_MIN},
        {"min", US_PER_MIN},
        {"m", US_PER_MIN},
        {"hours", US_PER_HOUR},
        {"hour", US_PER_HOUR},
        {"hrs", US_PER_HOUR},
        {"hr", US_PER_HOUR},
        {"h", US_PER_HOUR},
        {"days", US_PER_DAY},
        {"day", US_PER_DAY},
        {"d", US_PER_DAY},
        {"weeks", 7 * US_PER_DAY},
        {"week", 7 * US_PER_DAY},
        {"w", 7 * US_PER_DAY},
    };
    static const char *const calendar[] = {
        "months", "month",   "mons",   "mon",       "years",   "year",      "yrs",       "yr",
        "y",      "decades", "decade", "centuries", "century", "millennia", "millennium"};
    const char *s = skip_space(text);
    double total = 0;
    bool any = false, ago = false;
    if (*s == '@')
        s++;
    for (;;) {
        s = skip_space(s);
        if (*s == '\0')
            break;
        if (strncasecmp(s, "ago", 3) == 0 && *skip_space(s + 3) == '\0') {
            ago = true;
            break;
        }
        double sign = 1;
        if (*s == '+' || *s == '-')
            sign = *s++ == '-' ? -1 : 1;
        if (!((*s >= '0' && *s <= '9') || *s == '.'))
            return -1;
        /* HH:MM[:SS[.f]] */
        const char *colon = s;
        while (*colon >= '0' && *colon <= '9')
            colon++;
        if (*colon == ':') {
            int64_t h, mi, sec = 0;
            if (read_digits(&s, 9, &h) < 1 || *s++ != ':' || read_digits(&s, 2, &mi) != 2 ||
                mi > 59)
                return -1;
            double f = 0;
            if (*s == ':') {
                s++;
                if (read_digits(&s, 2, &sec) != 2 || sec > 59)
                    return -1;
                if (*s == '.') {
                    char *end;
                    f = strtod(s, &end);
                    s = end;
                }
            }
            total += sign * ((double)(h * US_PER_HOUR + mi * US_PER_MIN + sec * US_PER_SEC) +
                             f * (double)US_PER_SEC);
            any = true;
            continue;
        }
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (end == s || errno != 0 || (end[0] == 'e' || end[0] == 'E'))
            return -1;
        s = skip_space(end);
        size_t n = 0;
        while ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z'))
            n++;
        int64_t mult = 0;
        if (n == 0) {
            mult = US_PER_SEC;
        } else {
            for (size_t i = 0; i < ARRAY_LEN(units) && mult == 0; i++)
                if (strlen(units[i].unit) == n && strncasecmp(s, units[i].unit, n) == 0)
                    mult = units[i].us;
            for (size_t i = 0; i < ARRAY_LEN(calendar) && mult == 0; i++)
                if (strlen(calendar[i]) == n && strncasecmp(s, calendar[i], n) == 0)
                    return -2;
            if (mult == 0)
                return -1;
        }
        s += n;
        total += sign * v * (double)mult;
        any = true;
    }
    if (!any || !(fabs(total) < 9.2e18))
        return -1;
    *us = (int64_t)llround(ago ? -total : total);
    return 0;
}

/* Parses PostgreSQL's int8 input (whitespace around allowed). */
static int parse_int8(const char *text, int64_t *v)
{
    const char *s = skip_space(text);
    char *end;
    if (*s == '\0')
        return -1;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (end == s || errno != 0 || *skip_space(end) != '\0')
        return -1;
    *v = x;
    return 0;
}

/* Parses PostgreSQL's float8 input: a number, NaN, Infinity, -Infinity. */
static int parse_float8(const char *text, double *v)
{
    const char *s = skip_space(text);
    char *end;
    if (*s == '\0' || strncasecmp(s, "0x", 2) == 0 || strncasecmp(s, "-0x", 3) == 0)
        return -1;
    errno = 0;
    *v = strtod(s, &end);
    if (end == s || *skip_space(end) != '\0' || (errno == ERANGE && fabs(*v) > 1))
        return -1;
    return 0;
}

static int parse_bool(const char *text, bool *v)
{
    static const char *const yes[] = {"t", "true", "y", "yes", "on", "1"};
    static const char *const no[] = {"f", "false", "n", "no", "off", "0"};
    const char *s = skip_space(text);
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n'))
        n--;
    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
        if (strlen(yes[i]) == n && strncasecmp(s, yes[i], n) == 0) {
            *v = true;
            return 0;
        }
        if (strlen(no[i]) == n && strncasecmp(s, no[i], n) == 0) {
            *v = false;
            return 0;
        }
    }
    return -1;
}

/* ---- Text output ---- */

/* The fraction ".ffffff" of us (0..999999) with trailing zeros dropped, or "". */
static void format_fraction(int64_t us, char *buf, size_t size)
{
    if (us == 0) {
        buf[0] = '\0';
        return;
    }
    snprintf(buf, size, ".%06lld", (long long)us);
    size_t n = strlen(buf);
    while (buf[n - 1] == '0')
        buf[--n] = '\0';
}

/* A timestamptz as PostgreSQL prints it with TimeZone UTC. */
static char *format_timestamp(int64_t us, bool date_only)
{
    if (us == INT64_MAX)
        return xstrdup("infinity");
    if (us <= INT64_MIN + 1)
        return xstrdup("-infinity");
    int64_t days = floor_div(us, US_PER_DAY), rem = us - days * US_PER_DAY, y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    bool bc = y <= 0;
    if (bc)
        y = 1 - y;
    if (date_only)
        return xasprintf("%04lld-%02d-%02d%s", (long long)y, m, d, bc ? " BC" : "");
    char frac[16];
    format_fraction(rem % US_PER_SEC, frac, sizeof(frac));
    return xasprintf("%04lld-%02d-%02d %02d:%02d:%02d%s+00%s", (long long)y, m, d,
                     (int)(rem / US_PER_HOUR), (int)(rem / US_PER_MIN % 60),
                     (int)(rem / US_PER_SEC % 60), frac, bc ? " BC" : "");
}

/* An interval of us as PostgreSQL prints it (IntervalStyle postgres), as days and time. */
static char *format_interval(int64_t us)
{
    int64_t days = us / US_PER_DAY, rem = us % US_PER_DAY;
    char out[96] = "", frac[16];
    if (days != 0)
        snprintf(out, sizeof(out), "%lld day%s", (long long)days, days == 1 ? "" : "s");
    if (days == 0 || rem != 0) {
        uint64_t a = rem < 0 ? (uint64_t)-rem : (uint64_t)rem;
        format_fraction((int64_t)(a % US_PER_SEC), frac, sizeof(frac));
        size_t n = strlen(out);
        snprintf(out + n, sizeof(out) - n, "%s%s%02d:%02d:%02d%s", days != 0 ? " " : "",
                 rem < 0 ? "-" : (days < 0 ? "+" : ""), (int)(a / US_PER_HOUR),
                 (int)(a / US_PER_MIN % 60), (int)(a / US_PER_SEC % 60), frac);
    }
    return xstrdup(out);
}

/* A float8 as PostgreSQL 12+ prints it: the shortest text that reads back exactly. */
static char *format_float8(double v)
{
    if (isnan(v))
        return xstrdup("NaN");
    if (isinf(v))
        return xstrdup(v > 0 ? "Infinity" : "-Infinity");
    if (v == 0)
        return xstrdup(signbit(v) ? "-0" : "0");
    char sci[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(sci, sizeof(sci), "%.*e", p - 1, v);
        if (strtod(sci, NULL) == v)
            break;
    }
    /* sci is "-d.ddde+XX": collect the digits and the exponent */
    char digits[24];
    size_t nd = 0;
    const char *p = sci;
    bool neg = *p == '-';
    if (neg)
        p++;
    for (; *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    digits[nd] = '\0';
    int exp = atoi(p + 1);
    char out[64];
    size_t n = 0;
    if (neg)
        out[n++] = '-';
    if (exp < -4 || exp >= 15) {
        out[n++] = digits[0];
        if (nd > 1) {
            out[n++] = '.';
            memcpy(out + n, digits + 1, nd - 1);
            n += nd - 1;
        }
        snprintf(out + n, sizeof(out) - n, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
    } else if (exp < 0) {
        out[n++] = '0';
        out[n++] = '.';
        for (int i = 0; i < -exp - 1; i++)
            out[n++] = '0';
        memcpy(out + n, digits, nd);
        out[n + nd] = '\0';
    } else {
        for (int i = 0; i <= exp; i++)
            out[n++] = (size_t)i < nd ? digits[i] : '0';
        if (nd > (size_t)exp + 1) {
            out[n++] = '.';
            memcpy(out + n, digits + exp + 1, nd - (size_t)exp - 1);
            n += nd - (size_t)exp - 1;
        }
        out[n] = '\0';
    }
    return xstrdup(out);
}

/* A numeric held as a double, with scale digits after the point (-1: as few as needed). */
static char *format_numeric(double v, int scale)
{
    if (isnan(v))
        return xstrdup("NaN");
    if (scale >= 0)
        return xasprintf("%.*f", scale, v);
    char buf[64];
    snprintf(buf, sizeof(buf), "%.15g", v);
    if (strchr(buf, 'e') == NULL)
        return xstrdup(buf);
    snprintf(buf, sizeof(buf), "%.6f", v); /* PostgreSQL's numeric never uses an exponent */
    return xstrdup(buf);
}

/* ---- SQLite functions the translation calls ---- */

struct VtDb {
    sqlite3 *db;
    sqlite3_stmt *insert_status, *insert_runs;
    int64_t fixed_now; /* 0: the real clock */
    int64_t now;       /* what now() means for the running execution */
};

/* Reports an error from a function as "SQLSTATE:message" (read back by sqlite_error). */
static void fn_error(sqlite3_context *ctx, const char *sqlstate, const char *fmt, ...)
    PRINTF_LIKE(3, 4);

static void fn_error(sqlite3_context *ctx, const char *sqlstate, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    char *full = xasprintf("%s:%s", sqlstate, msg);
    sqlite3_result_error(ctx, full, -1);
    free(msg);
    free(full);
}

/* Returns a malloc'ed string as the function's text result. */
static void result_owned_text(sqlite3_context *ctx, char *s)
{
    sqlite3_result_text(ctx, s, -1, free);
}

/* The text of a value of type src, as a cast to text gives it. */
static char *value_text(sqlite3_value *v, Ty src)
{
    switch (src) {
    case TY_BOOL:
        return xstrdup(sqlite3_value_int64(v) ? "true" : "false");
    case TY_INT4:
    case TY_INT8:
        return xasprintf("%lld", (long long)sqlite3_value_int64(v));
    case TY_FLOAT8:
        return format_float8(sqlite3_value_double(v));
    case TY_NUMERIC:
        if (sqlite3_value_type(v) == SQLITE_INTEGER)
            return xasprintf("%lld", (long long)sqlite3_value_int64(v));
        return format_numeric(sqlite3_value_double(v), -1);
    case TY_TS:
        return format_timestamp(sqlite3_value_int64(v), false);
    case TY_DATE:
        return format_timestamp(sqlite3_value_int64(v), true);
    case TY_INTERVAL:
        return format_interval(sqlite3_value_int64(v));
    default:
        return xstrdup((const char *)sqlite3_value_text(v));
    }
}

/* Converts the text s to type dst into ctx's result; false with an error set. */
static bool text_to_result(sqlite3_context *ctx, const char *s, Ty dst, int64_t now)
{
    int64_t i;
    double f;
    bool b;
    DtSpecial special;
    switch (dst) {
    case TY_INT4:
    case TY_INT8:
        if (parse_int8(s, &i) != 0) {
            fn_error(ctx, "22P02", "invalid input syntax for type %s: \"%s\"", ty_info[dst].name,
                     s);
            return false;
        }
        if (dst == TY_INT4 && (i < INT32_MIN || i > INT32_MAX)) {
            fn_error(ctx, "22003", "value \"%s\" is out of range for type integer", s);
            return false;
        }
        sqlite3_result_int64(ctx, i);
        return true;
    case TY_FLOAT8:
    case TY_NUMERIC:
        if (parse_float8(s, &f) != 0) {
            fn_error(ctx, "22P02", "invalid input syntax for type %s: \"%s\"", ty_info[dst].name,
                     s);
            return false;
        }
        sqlite3_result_double(ctx, f);
        return true;
    case TY_BOOL:
        if (parse_bool(s, &b) != 0) {
            fn_error(ctx, "22P02", "invalid input syntax for type boolean: \"%s\"", s);
            return false;
        }
        sqlite3_result_int(ctx, b);
        return true;
    case TY_TS:
    case TY_DATE:
        if (parse_timestamp(s, dst == TY_DATE, &i, &special) != 0) {
            fn_error(ctx, "22007", "invalid input syntax for type %s: \"%s\"", ty_info[dst].name,
                     s);
            return false;
        }
        sqlite3_result_int64(ctx, resolve_special(special, i, now));
        return true;
    case TY_INTERVAL: {
        int rc = parse_interval(s, &i);
        if (rc != 0) {
            fn_error(ctx, rc == -2 ? "0A000" : "22007",
                     rc == -2 ? "intervals of months or years are not supported: \"%s\""
                              : "invalid input syntax for type interval: \"%s\"",
                     s);
            return false;
        }
        sqlite3_result_int64(ctx, i);
        return true;
    }
    default:
        sqlite3_result_text(ctx, s, -1, SQLITE_TRANSIENT);
        return true;
    }
}

/* Rounds half to even, and checks the range of an integer type. */
static bool double_to_int(sqlite3_context *ctx, double f, Ty dst, bool half_even)
{
    double r = half_even ? nearbyint(f) : round(f);
    double lo = dst == TY_INT4 ? -2147483648.0 : -9223372036854775808.0;
    double hi = dst == TY_INT4 ? 2147483647.0 : 9223372036854775807.0;
    if (isnan(r) || r < lo || r >= hi + (dst == TY_INT4 ? 1 : 0)) {
        fn_error(ctx, "22003", "%s out of range", ty_info[dst].name);
        return false;
    }
    sqlite3_result_int64(ctx, (int64_t)r);
    return true;
}

/* duro_cast(value, src, dst): PostgreSQL's cast between the types above. */
static void fn_cast(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    VtDb *db = sqlite3_user_data(ctx);
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    Ty src = (Ty)sqlite3_value_int(argv[1]), dst = (Ty)sqlite3_value_int(argv[2]);
    sqlite3_value *v = argv[0];
    if (src == TY_TEXT || src == TY_UNKNOWN) {
        (void)text_to_result(ctx, (const char *)sqlite3_value_text(v), dst, db->now);
        return;
    }
    if (dst == TY_TEXT) {
        result_owned_text(ctx, value_text(v, src));
        return;
    }
    switch (dst) {
    case TY_INT4:
    case TY_INT8:
        if (sqlite3_value_type(v) == SQLITE_FLOAT) {
            (void)double_to_int(ctx, sqlite3_value_double(v), dst, src == TY_FLOAT8);
        } else {
            int64_t i = sqlite3_value_int64(v);
            if (dst == TY_INT4 && (i < INT32_MIN || i > INT32_MAX))
                fn_error(ctx, "22003", "integer out of range");
            else
                sqlite3_result_int64(ctx, i);
        }
        return;
    case TY_FLOAT8:
        sqlite3_result_double(ctx, sqlite3_value_double(v));
        return;
    case TY_NUMERIC:
        if (sqlite3_value_type(v) == SQLITE_INTEGER) {
            sqlite3_result_int64(ctx, sqlite3_value_int64(v));
        } else {
            char buf[40]; /* float8 to numeric keeps 15 significant digits */
            snprintf(buf, sizeof(buf), "%.15g", sqlite3_value_double(v));
            sqlite3_result_double(ctx, strtod(buf, NULL));
        }
        return;
    case TY_BOOL:
        sqlite3_result_int(ctx, sqlite3_value_int64(v) != 0);
        return;
    case TY_DATE: {
        int64_t us = sqlite3_value_int64(v);
        if (us != INT64_MAX && us > INT64_MIN + 1)
            us = floor_div(us, US_PER_DAY) * US_PER_DAY;
        sqlite3_result_int64(ctx, us);
        return;
    }
    default:
        sqlite3_result_value(ctx, v);
        return;
    }
}

/* duro_div(a, b) and duro_mod(a, b): PostgreSQL's / and % (integer when both are). */
static void fn_divmod(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    bool mod = sqlite3_user_data(ctx) != NULL;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    if (sqlite3_value_type(argv[0]) == SQLITE_INTEGER &&
        sqlite3_value_type(argv[1]) == SQLITE_INTEGER) {
        int64_t a = sqlite3_value_int64(argv[0]), b = sqlite3_value_int64(argv[1]);
        if (b == 0) {
            fn_error(ctx, "22012", "division by zero");
            return;
        }
        if (b == -1) /* INT64_MIN / -1 overflows in C */
            sqlite3_result_int64(ctx, mod ? 0 : (int64_t)(0 - (uint64_t)a));
        else
            sqlite3_result_int64(ctx, mod ? a % b : a / b);
        return;
    }
    double a = sqlite3_value_double(argv[0]), b = sqlite3_value_double(argv[1]);
    if (b == 0) {
        fn_error(ctx, "22012", "division by zero");
        return;
    }
    sqlite3_result_double(ctx, mod ? fmod(a, b) : a / b);
}

/* Whether the UTF-8 text s matches the LIKE pattern p (escape \, ci: ASCII case-insensitive). */
static bool like_match(const char *s, const char *p, bool ci)
{
    const char *star_p = NULL, *star_s = NULL;
    for (;;) {
        if (*p == '%') {
            while (*p == '%')
                p++;
            star_p = p;
            star_s = s;
            continue;
        }
        if (*s == '\0') {
            if (*p == '\0')
                return true;
            goto backtrack;
        }
        if (*p == '_') {
            p++;
            s++;
            while ((*s & 0xC0) == 0x80)
                s++;
            continue;
        }
        if (*p != '\0') {
            const char *lit = p;
            if (*lit == '\\' && lit[1] != '\0')
                lit++;
            char a = *s, b = *lit;
            if (ci) {
                a = (a >= 'A' && a <= 'Z') ? (char)(a - 'A' + 'a') : a;
                b = (b >= 'A' && b <= 'Z') ? (char)(b - 'A' + 'a') : b;
            }
            if (a == b) {
                p = lit + 1;
                s++;
                continue;
            }
        }
    backtrack:
        if (star_p == NULL || *star_s == '\0')
            return false;
        star_s++;
        while ((*star_s & 0xC0) == 0x80)
            star_s++;
        s = star_s;
        p = star_p;
    }
}

/* duro_like(text, pattern, ci) */
static void fn_like(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    sqlite3_result_int(ctx, like_match((const char *)sqlite3_value_text(argv[0]),
                                       (const char *)sqlite3_value_text(argv[1]),
                                       sqlite3_value_int(argv[2]) != 0));
}

/* duro_round(x, n): numeric rounding, half away from zero; n NULL: float8's rint. */
static void fn_round(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    if (sqlite3_value_type(argv[1]) == SQLITE_NULL) {
        sqlite3_result_double(ctx, nearbyint(sqlite3_value_double(argv[0])));
        return;
    }
    int64_t n = sqlite3_value_int64(argv[1]);
    if (sqlite3_value_type(argv[0]) == SQLITE_INTEGER && n >= 0) {
        sqlite3_result_int64(ctx, sqlite3_value_int64(argv[0]));
        return;
    }
    if (n > 15 || n < -15) {
        sqlite3_result_double(ctx, n > 0 ? sqlite3_value_double(argv[0]) : 0.0);
        return;
    }
    double p = pow(10, (double)n), buf_v;
    char buf[40];
    snprintf(buf, sizeof(buf), "%.15g", sqlite3_value_double(argv[0]) * p);
    buf_v = round(strtod(buf, NULL));
    sqlite3_result_double(ctx, buf_v / p);
}

/* Calendar fields of a timestamp (µs, UTC). */
typedef struct Fields {
    int64_t year;
    int month, day, hour, minute, dow, doy;
    int64_t us_of_minute;
} Fields;

static Fields fields_of(int64_t us)
{
    Fields f;
    int64_t days = floor_div(us, US_PER_DAY), rem = us - days * US_PER_DAY;
    civil_from_days(days, &f.year, &f.month, &f.day);
    f.hour = (int)(rem / US_PER_HOUR);
    f.minute = (int)(rem / US_PER_MIN % 60);
    f.us_of_minute = rem % US_PER_MIN;
    f.dow = (int)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday (4) */
    f.doy = (int)(days - days_from_civil(f.year, 1, 1) + 1);
    return f;
}

/* The ISO week number of a date's fields. */
static int iso_week(const Fields *f)
{
    int64_t days = days_from_civil(f->year, f->month, f->day);
    int isodow = f->dow == 0 ? 7 : f->dow;
    int64_t thursday = days - isodow + 4;
    int64_t ty;
    int tm, td;
    civil_from_days(thursday, &ty, &tm, &td);
    return (int)((thursday - days_from_civil(ty, 1, 1)) / 7 + 1);
}

/* duro_extract(field, value, src): extract/date_part of a timestamp, date or interval. */
static void fn_extract(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[1]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    const char *field = (const char *)sqlite3_value_text(argv[0]);
    int64_t v = sqlite3_value_int64(argv[1]);
    Ty src = (Ty)sqlite3_value_int(argv[2]);
    if (strcmp(field, "epoch") == 0) {
        if (src == TY_DATE)
            sqlite3_result_int64(ctx, v / US_PER_SEC);
        else
            sqlite3_result_double(ctx, (double)v / 1e6);
        return;
    }
    if (src == TY_INTERVAL) {
        int64_t days = v / US_PER_DAY, rem = v % US_PER_DAY;
        if (strcmp(field, "day") == 0)
            sqlite3_result_int64(ctx, days);
        else if (strcmp(field, "hour") == 0)
            sqlite3_result_int64(ctx, rem / US_PER_HOUR);
        else if (strcmp(field, "minute") == 0)
            sqlite3_result_int64(ctx, rem / US_PER_MIN % 60);
        else if (strcmp(field, "second") == 0)
            sqlite3_result_double(ctx, (double)(rem % US_PER_MIN) / 1e6);
        else if (strcmp(field, "milliseconds") == 0)
            sqlite3_result_double(ctx, (double)(rem % US_PER_MIN) / 1e3);
        else if (strcmp(field, "microseconds") == 0)
            sqlite3_result_int64(ctx, rem % US_PER_MIN);
        else
            fn_error(ctx, "0A000", "interval units \"%s\" not supported", field);
        return;
    }
    Fields f = fields_of(v);
    int64_t r;
    if (strcmp(field, "year") == 0)
        r = f.year;
    else if (strcmp(field, "month") == 0)
        r = f.month;
    else if (strcmp(field, "day") == 0)
        r = f.day;
    else if (strcmp(field, "hour") == 0)
        r = f.hour;
    else if (strcmp(field, "minute") == 0)
        r = f.minute;
    else if (strcmp(field, "dow") == 0)
        r = f.dow;
    else if (strcmp(field, "isodow") == 0)
        r = f.dow == 0 ? 7 : f.dow;
    else if (strcmp(field, "doy") == 0)
        r = f.doy;
    else if (strcmp(field, "quarter") == 0)
        r = (f.month - 1) / 3 + 1;
    else if (strcmp(field, "week") == 0)
        r = iso_week(&f);
    else if (strcmp(field, "microseconds") == 0)
        r = f.us_of_minute;
    else if (strcmp(field, "second") == 0) {
        sqlite3_result_double(ctx, (double)f.us_of_minute / 1e6);
        return;
    } else if (strcmp(field, "milliseconds") == 0) {
        sqlite3_result_double(ctx, (double)f.us_of_minute / 1e3);
        return;
    } else {
        fn_error(ctx, "0A000", "units \"%s\" not supported", field);
        return;
    }
    sqlite3_result_int64(ctx, r);
}

/* duro_date_trunc(unit, ts) */
static void fn_date_trunc(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[1]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    const char *unit = (const char *)sqlite3_value_text(argv[0]);
    int64_t v = sqlite3_value_int64(argv[1]);
    if (v == INT64_MAX || v <= INT64_MIN + 1) {
        sqlite3_result_int64(ctx, v);
        return;
    }
    static const struct {
        const char *unit;
        int64_t us;
    } fixed[] = {{"microseconds", 1},    {"milliseconds", 1000}, {"second", US_PER_SEC},
                 {"minute", US_PER_MIN}, {"hour", US_PER_HOUR},  {"day", US_PER_DAY}};
    for (size_t i = 0; i < ARRAY_LEN(fixed); i++) {
        if (strcmp(unit, fixed[i].unit) == 0) {
            sqlite3_result_int64(ctx, floor_div(v, fixed[i].us) * fixed[i].us);
            return;
        }
    }
    Fields f = fields_of(v);
    int64_t days;
    if (strcmp(unit, "week") == 0) {
        days = days_from_civil(f.year, f.month, f.day) - (f.dow == 0 ? 6 : f.dow - 1);
    } else if (strcmp(unit, "month") == 0) {
        days = days_from_civil(f.year, f.month, 1);
    } else if (strcmp(unit, "quarter") == 0) {
        days = days_from_civil(f.year, (f.month - 1) / 3 * 3 + 1, 1);
    } else if (strcmp(unit, "year") == 0) {
        days = days_from_civil(f.year, 1, 1);
    } else {
        fn_error(ctx, "22023", "unit \"%s\" not recognized for date_trunc", unit);
        return;
    }
    sqlite3_result_int64(ctx, days * US_PER_DAY);
}

/* ---- The database ---- */

static void fn_now(sqlite3_context *ctx, int argc, sqlite3_value **argv);

static const char vt_schema[] =
    "CREATE TABLE \"status\"(\"view\" TEXT, \"interval\" TEXT, \"effective_interval\" TEXT,"
    " \"state\" TEXT, \"last_refresh\" INTEGER, \"last_duration_s\" REAL,"
    " \"next_refresh\" INTEGER, \"rows\" INTEGER, \"depends_on\" TEXT, \"last_error\" TEXT,"
    " \"source\" TEXT);"
    "CREATE TABLE \"runs\"(\"id\" INTEGER, \"view\" TEXT, \"started\" INTEGER,"
    " \"finished\" INTEGER, \"outcome\" TEXT, \"duration_s\" REAL, \"rows\" INTEGER,"
    " \"trigger\" TEXT, \"error\" TEXT);";

VtDb *vtable_open(char **error)
{
    VtDb *db = xcalloc(1, sizeof(*db));
    *error = NULL;
    if (sqlite3_open_v2(":memory:", &db->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK)
        goto fail;
    static const struct {
        const char *name;
        int nargs;
        void (*fn)(sqlite3_context *, int, sqlite3_value **);
        bool flag;
    } fns[] = {
        {"duro_cast", 3, fn_cast, false},
        {"duro_div", 2, fn_divmod, false},
        {"duro_mod", 2, fn_divmod, true},
        {"duro_like", 3, fn_like, false},
        {"duro_round", 2, fn_round, false},
        {"duro_extract", 3, fn_extract, false},
        {"duro_date_trunc", 2, fn_date_trunc, false},
        {"duro_now", 0, fn_now, true},
    };
    for (size_t i = 0; i < ARRAY_LEN(fns); i++) {
        void *data = fns[i].fn == fn_cast || fns[i].flag ? (void *)db : NULL;
        int flags = SQLITE_UTF8 | (fns[i].fn == fn_now ? 0 : SQLITE_DETERMINISTIC);
        if (sqlite3_create_function(db->db, fns[i].name, fns[i].nargs, flags, data, fns[i].fn, NULL,
                                    NULL) != SQLITE_OK)
            goto fail;
    }
    if (sqlite3_exec(db->db, vt_schema, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db->db, "INSERT INTO \"status\" VALUES (?,?,?,?,?,?,?,?,?,?,?)", -1,
                           &db->insert_status, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db->db, "INSERT INTO \"runs\" VALUES (?,?,?,?,?,?,?,?,?)", -1,
                           &db->insert_runs, NULL) != SQLITE_OK)
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
    sqlite3_close(db->db);
    free(db);
}

void vtable_set_clock(VtDb *db, int64_t now_us)
{
    db->fixed_now = now_us;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v == NULL)
        sqlite3_bind_null(s, i);
    else
        sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
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

int vtable_load(VtDb *db, const VtStatusRow *status, size_t n_status, const VtRunRow *runs,
                size_t n_runs, char **error)
{
    *error = NULL;
    if (sqlite3_exec(db->db, "BEGIN; DELETE FROM \"status\"; DELETE FROM \"runs\";", NULL, NULL,
                     NULL) != SQLITE_OK)
        goto fail;
    for (size_t i = 0; i < n_status; i++) {
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
        if (insert_row(s) != 0)
            goto fail;
    }
    for (size_t i = 0; i < n_runs; i++) {
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
        if (insert_row(s) != 0)
            goto fail;
    }
    if (sqlite3_exec(db->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    return 0;
fail:
    *error = xasprintf("cannot load the virtual tables: %s", sqlite3_errmsg(db->db));
    sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* ---- Translation: the PostgreSQL tree to SQLite SQL ---- */

struct VtStatement {
    VtDb *db;
    sqlite3_stmt *stmt;
    VtColumn *cols;
    Ty *col_ty;
    int *col_scale;
    size_t ncols;
    Ty *param_ty;
    uint32_t *param_oid; /* the client's, or 0 */
    size_t nparams;
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

static int tx_fail(Tx *tx, const char *sqlstate, const char *fmt, ...) PRINTF_LIKE(3, 4);

/* Records the first error; always returns -1. */
static int tx_fail(Tx *tx, const char *sqlstate, const char *fmt, ...)
{
    if (tx->err->sqlstate[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        snprintf(tx->err->sqlstate, sizeof(tx->err->sqlstate), "%s", sqlstate);
        vsnprintf(tx->err->message, sizeof(tx->err->message), fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* 0A000 with the table named: "duro.status: window functions are not supported". */
static int unsupported(Tx *tx, const char *what)
{
    return tx_fail(tx, "0A000", "%s: %s %s not supported", tx->label, what,
                   str_ends_with(what, "s") ? "are" : "is");
}

static void expr_clear(Expr *e)
{
    free(e->sql);
    free(e->lit);
    free(e->ungrouped);
    memset(e, 0, sizeof(*e));
}

static const char *node_str(const PgQuery__Node *n)
{
    return n != NULL && n->node_case == PG_QUERY__NODE__NODE_STRING ? n->string->sval : NULL;
}

/* A string literal quoted for SQLite. */
static char *quote_literal(const char *s)
{
    size_t n = 2;
    for (const char *p = s; *p; p++)
        n += *p == '\'' ? 2 : 1;
    char *out = xmalloc(n + 1), *o = out;
    *o++ = '\'';
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            *o++ = '\'';
        *o++ = *p;
    }
    *o++ = '\'';
    *o = '\0';
    return out;
}

/* A double as an SQLite literal. */
static char *double_sql(double v)
{
    if (isnan(v))
        return xstrdup("NULL");
    if (isinf(v))
        return xstrdup(v > 0 ? "9e999" : "-9e999");
    char *s = xasprintf("%.17g", v);
    if (strpbrk(s, ".e") == NULL) { /* stays a REAL for SQLite: 7.0 / 2 is not integer division */
        char *r = xasprintf("%s.0", s);
        free(s);
        s = r;
    }
    return s;
}

/* Makes sure parameter n exists; returns its index or -1. */
static int use_param(Tx *tx, int n)
{
    VtStatement *st = tx->st;
    if (n < 1 || n > VT_MAX_PARAMS)
        return tx_fail(tx, "42P02", "there is no parameter $%d", n);
    if ((size_t)n > st->nparams) {
        st->param_ty = xrealloc(st->param_ty, sizeof(Ty) * (size_t)n);
        st->param_oid = xrealloc(st->param_oid, sizeof(uint32_t) * (size_t)n);
        for (size_t i = st->nparams; i < (size_t)n; i++) {
            st->param_ty[i] = TY_UNKNOWN;
            st->param_oid[i] = 0;
        }
        st->nparams = (size_t)n;
    }
    return n - 1;
}

/* Gives an untyped expression (literal, NULL, pending parameter) type t. */
static int coerce(Tx *tx, Expr *e, Ty t)
{
    if (e->type != TY_UNKNOWN || t == TY_UNKNOWN)
        return 0;
    if (t == TY_COUNT)
        t = TY_TEXT;
    e->type = t;
    if (e->null_lit)
        return 0;
    if (e->param > 0) {
        tx->st->param_ty[e->param - 1] = t;
        return 0;
    }
    const char *s = e->lit;
    int64_t i;
    double f;
    bool b;
    DtSpecial special;
    int rc;
    switch (t) {
    case TY_INT4:
    case TY_INT8:
        if (parse_int8(s, &i) != 0)
            return tx_fail(tx, "22P02", "invalid input syntax for type %s: \"%s\"", ty_info[t].name,
                           s);
        if (t == TY_INT4 && (i < INT32_MIN || i > INT32_MAX))
            return tx_fail(tx, "22003", "value \"%s\" is out of range for type integer", s);
        e->sql = xasprintf("%lld", (long long)i);
        return 0;
    case TY_FLOAT8:
    case TY_NUMERIC:
        if (parse_float8(s, &f) != 0)
            return tx_fail(tx, "22P02", "invalid input syntax for type %s: \"%s\"", ty_info[t].name,
                           s);
        e->sql = double_sql(f);
        if (t == TY_NUMERIC) {
            const char *dot = strchr(s, '.');
            e->scale = dot && !strpbrk(s, "eE") ? (int)strspn(dot + 1, "0123456789") : 0;
        }
        return 0;
    case TY_BOOL:
        if (parse_bool(s, &b) != 0)
            return tx_fail(tx, "22P02", "invalid input syntax for type boolean: \"%s\"", s);
        e->sql = xstrdup(b ? "1" : "0");
        return 0;
    case TY_TS:
    case TY_DATE:
        if (parse_timestamp(s, t == TY_DATE, &i, &special) != 0)
            return tx_fail(tx, "22007", "invalid input syntax for type %s: \"%s\"", ty_info[t].name,
                           s);
        if (special == DT_PLAIN) {
            e->sql = xasprintf("%lld", (long long)i);
        } else {
            static const char *const forms[] = {"", "duro_now()", "(duro_cast(duro_now(), 7, 8))",
                                                "(duro_cast(duro_now(), 7, 8) + 86400000000)",
                                                "(duro_cast(duro_now(), 7, 8) - 86400000000)"};
            e->sql = xstrdup(forms[special]);
        }
        return 0;
    case TY_INTERVAL:
        rc = parse_interval(s, &i);
        if (rc == -2)
            return tx_fail(tx, "0A000", "%s: intervals of months or years are not supported",
                           tx->label);
        if (rc != 0)
            return tx_fail(tx, "22007", "invalid input syntax for type interval: \"%s\"", s);
        e->sql = xasprintf("%lld", (long long)i);
        return 0;
    default:
        e->sql = quote_literal(s);
        return 0;
    }
}

/* Finishes an expression whose type may still be unknown: text, as PostgreSQL resolves it. */
static int resolve(Tx *tx, Expr *e)
{
    return coerce(tx, e, TY_TEXT);
}

/* The SQL of e as text (PostgreSQL's output of its type); e must be typed. */
static char *text_sql(const Expr *e)
{
    if (e->type == TY_TEXT)
        return xstrdup(e->sql);
    return xasprintf("duro_cast(%s, %d, %d)", e->sql, (int)e->type, (int)TY_TEXT);
}

/* Moves the first "ungrouped" mark of src to dst when dst has none. */
static void take_ungrouped(Expr *dst, Expr *src)
{
    if (dst->ungrouped == NULL) {
        dst->ungrouped = src->ungrouped;
        src->ungrouped = NULL;
    }
}

static int translate(Tx *tx, const PgQuery__Node *n, Expr *out);

/* Translates both operands and gives them a common type; *t receives it. */
static int translate_pair(Tx *tx, const PgQuery__Node *l, const PgQuery__Node *r, Expr *a, Expr *b,
                          Ty *t, const char *op)
{
    if (translate(tx, l, a) != 0 || translate(tx, r, b) != 0)
        return -1;
    Ty c = common_type(a->type, b->type);
    if (c == TY_COUNT)
        return tx_fail(tx, "42883", "operator does not exist: %s %s %s", ty_info[a->type].name, op,
                       ty_info[b->type].name);
    if (c == TY_UNKNOWN)
        c = TY_TEXT;
    if (coerce(tx, a, c) != 0 || coerce(tx, b, c) != 0)
        return -1;
    *t = c;
    return 0;
}

/* Requires a boolean (an untyped literal becomes one). */
static int require_bool(Tx *tx, Expr *e, const char *what)
{
    if (coerce(tx, e, TY_BOOL) != 0)
        return -1;
    if (e->type != TY_BOOL)
        return tx_fail(tx, "42804", "argument of %s must be type boolean, not type %s", what,
                       ty_info[e->type].name);
    return 0;
}

/* Column reference: the FROM item and column, with PostgreSQL's errors. */
static int translate_column(Tx *tx, const PgQuery__ColumnRef *cr, Expr *out)
{
    const char *parts[4] = {0};
    size_t n = cr->n_fields;
    if (n > 3)
        return tx_fail(tx, "42601", "improper qualified name (too many dotted names)");
    for (size_t i = 0; i < n; i++) {
        parts[i] = node_str(cr->fields[i]);
        if (parts[i] == NULL)
            return tx_fail(tx, "0A000", "%s: \"*\" is only supported in the select list",
                           tx->label);
    }
    const char *col = parts[n - 1], *rel = n >= 2 ? parts[n - 2] : NULL;
    const char *schema = n == 3 ? parts[0] : NULL;
    int found = -1, col_index = -1;
    for (size_t i = 0; i < tx->n_from; i++) {
        const FromItem *f = &tx->from[i];
        if (rel != NULL && (strcmp(f->name, rel) != 0 || (schema && f->aliased)))
            continue;
        if (schema != NULL && strcmp(schema, "duro") != 0)
            continue;
        for (size_t c = 0; c < vt_tables[f->table].n; c++) {
            if (strcmp(vt_tables[f->table].cols[c].name, col) == 0) {
                if (found >= 0)
                    return tx_fail(tx, "42702", "column reference \"%s\" is ambiguous", col);
                found = (int)i;
                col_index = (int)c;
            }
        }
        if (rel != NULL && found < 0)
            return tx_fail(tx, "42703", "column %s.%s does not exist", rel, col);
    }
    if (found < 0) {
        if (rel != NULL)
            return tx_fail(tx, "42P01", "missing FROM-clause entry for table \"%s\"", rel);
        return tx_fail(tx, "42703", "column \"%s\" does not exist", col);
    }
    const ColDef *cd = &vt_tables[tx->from[found].table].cols[col_index];
    out->sql = xasprintf("\"t%d\".\"%s\"", found, cd->name);
    out->type = cd->type;
    out->scale = -1;
    out->name = cd->name;
    out->name_strength = 2;
    if (tx->grouped && tx->agg_depth == 0)
        out->ungrouped = xasprintf("%s.%s", tx->from[found].name, cd->name);
    return 0;
}

/* A constant. */
static int translate_const(Tx *tx, const PgQuery__AConst *c, Expr *out)
{
    out->scale = -1;
    if (c->isnull) {
        out->null_lit = true;
        out->sql = xstrdup("NULL");
        return 0;
    }
    switch (c->val_case) {
    case PG_QUERY__A__CONST__VAL_IVAL:
        out->type = TY_INT4;
        out->sql = xasprintf("%d", c->ival->ival);
        return 0;
    case PG_QUERY__A__CONST__VAL_FVAL: {
        const char *s = c->fval->fval;
        if (s[strspn(s, "0123456789.eE+-")] != '\0')
            return tx_fail(tx, "42601", "invalid number \"%s\"", s);
        int64_t i;
        if (strpbrk(s, ".eE") == NULL && parse_int8(s, &i) == 0) {
            out->type = TY_INT8;
            out->sql = xasprintf("%lld", (long long)i);
            return 0;
        }
        out->type = TY_NUMERIC;
        out->sql = double_sql(strtod(s, NULL));
        const char *dot = strchr(s, '.');
        out->scale = dot && !strpbrk(s, "eE") ? (int)strspn(dot + 1, "0123456789") : -1;
        return 0;
    }
    case PG_QUERY__A__CONST__VAL_BOOLVAL:
        out->type = TY_BOOL;
        out->sql = xstrdup(c->boolval->boolval ? "1" : "0");
        return 0;
    case PG_QUERY__A__CONST__VAL_SVAL:
        out->lit = xstrdup(c->sval->sval);
        return 0;
    default:
        return unsupported(tx, "bit string constants");
    }
}

/* The type a TypeName names, with numeric's scale (-1 when none). */
static int type_of_typename(Tx *tx, const PgQuery__TypeName *tn, Ty *t, int *scale)
{
    const char *name = tn->n_names ? node_str(tn->names[tn->n_names - 1]) : NULL;
    *scale = -1;
    if (name == NULL || tn->n_array_bounds > 0 || tn->setof)
        return unsupported(tx, "array types");
    *t = ty_of_name(name);
    if (*t == TY_COUNT)
        return tx_fail(tx, "0A000", "%s: type %s is not supported", tx->label, name);
    if (tn->n_typmods > 0) {
        if (*t == TY_NUMERIC && tn->n_typmods <= 2) {
            const PgQuery__Node *m = tn->typmods[tn->n_typmods - 1];
            if (tn->n_typmods == 1)
                *scale = 0;
            else if (m->node_case == PG_QUERY__NODE__NODE_A_CONST &&
                     m->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL)
                *scale = m->a_const->ival->ival;
            else
                return unsupported(tx, "type modifiers");
        } else if (*t != TY_TEXT && *t != TY_TS) {
            return unsupported(tx, "type modifiers");
        }
    }
    return 0;
}

/* Emits a cast of e (typed or not) to t, in place. */
static int cast_to(Tx *tx, Expr *e, Ty t, int scale)
{
    if (e->type == TY_UNKNOWN) {
        if (coerce(tx, e, t) != 0)
            return -1;
    } else if (e->type != t) {
        if (!cast_allowed(e->type, t))
            return tx_fail(tx, "42846", "cannot cast type %s to %s", ty_info[e->type].name,
                           ty_info[t].name);
        char *sql = xasprintf("duro_cast(%s, %d, %d)", e->sql, (int)e->type, (int)t);
        free(e->sql);
        e->sql = sql;
        e->scale = -1;
        e->type = t;
    }
    if (t == TY_NUMERIC && scale >= 0) {
        char *sql = xasprintf("duro_round(%s, %d)", e->sql, scale);
        free(e->sql);
        e->sql = sql;
        e->scale = scale;
    }
    return 0;
}

static int translate_cast(Tx *tx, const PgQuery__TypeCast *tc, Expr *out)
{
    Ty t;
    int scale;
    if (translate(tx, tc->arg, out) != 0 || type_of_typename(tx, tc->type_name, &t, &scale) != 0)
        return -1;
    if (out->name_strength <= 1) {
        const PgQuery__TypeName *tn = tc->type_name;
        out->name = node_str(tn->names[tn->n_names - 1]);
        out->name_strength = 1;
    }
    int rc = cast_to(tx, out, t, scale);
    out->param = 0;
    out->null_lit = false;
    return rc;
}

/* fmt (one of this file's fixed templates with up to two %s) applied to a and b. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static char *format_template(const char *fmt, const char *a, const char *b)
{
    return xasprintf(fmt, a, b);
}
#pragma GCC diagnostic pop

/* Arithmetic: + - * / % between numbers, timestamps, dates and intervals. */
static int translate_arith(Tx *tx, const char *op, Expr *a, Expr *b, Expr *out)
{
    /* An untyped operand takes the other's type, as PostgreSQL resolves unknown literals. */
    if (a->type == TY_UNKNOWN && b->type == TY_UNKNOWN)
        return tx_fail(tx, "42725", "operator is not unique: unknown %s unknown", op);
    if (coerce(tx, a, b->type) != 0 || coerce(tx, b, a->type) != 0)
        return -1;
    Ty x = a->type, y = b->type, r = TY_COUNT;
    char c = op[0];
    const char *fmt = NULL;
    if (ty_is_number(x) && ty_is_number(y)) {
        r = common_type(x, y);
        fmt = c == '/' ? "duro_div(%s, %s)" : c == '%' ? "duro_mod(%s, %s)" : NULL;
    } else if (c == '-' && (x == TY_TS || x == TY_DATE) && (y == TY_TS || y == TY_DATE) &&
               !(x == TY_DATE && y == TY_DATE)) {
        r = TY_INTERVAL;
    } else if (c == '-' && x == TY_DATE && y == TY_DATE) {
        r = TY_INT4;
        fmt = "((%s - %s) / 86400000000)";
    } else if ((c == '+' || c == '-') && (x == TY_TS || x == TY_DATE) && y == TY_INTERVAL) {
        r = TY_TS;
    } else if (c == '+' && x == TY_INTERVAL && (y == TY_TS || y == TY_DATE)) {
        r = TY_TS;
    } else if ((c == '+' || c == '-') && x == TY_INTERVAL && y == TY_INTERVAL) {
        r = TY_INTERVAL;
    } else if ((c == '+' || c == '-') && x == TY_DATE && (y == TY_INT4 || y == TY_INT8)) {
        r = TY_DATE;
        fmt = c == '+' ? "(%s + %s * 86400000000)" : "(%s - %s * 86400000000)";
    } else if (c == '*' &&
               ((x == TY_INTERVAL && ty_is_number(y)) || (ty_is_number(x) && y == TY_INTERVAL))) {
        r = TY_INTERVAL;
        fmt = "CAST(round(%s * %s) AS INTEGER)";
    } else if (c == '/' && x == TY_INTERVAL && ty_is_number(y)) {
        r = TY_INTERVAL;
        fmt = "CAST(round(duro_div(CAST(%s AS REAL), %s)) AS INTEGER)";
    }
    if (r == TY_COUNT || (c == '%' && !(ty_is_number(x) && ty_is_number(y))))
        return tx_fail(tx, "42883", "operator does not exist: %s %s %s", ty_info[x].name, op,
                       ty_info[y].name);
    if (fmt != NULL) {
        out->sql = format_template(fmt, a->sql, b->sql);
    } else {
        out->sql = xasprintf("(%s %c %s)", a->sql, c, b->sql);
    }
    out->type = r;
    out->scale = -1;
    return 0;
}

/* The operators of A_Expr kind AEXPR_OP. */
static int translate_op(Tx *tx, const PgQuery__AExpr *ae, Expr *out)
{
    const char *op = ae->n_name == 1 ? node_str(ae->name[0]) : NULL;
    Expr a = {0}, b = {0};
    int rc = -1;
    if (op == NULL) {
        return tx_fail(tx, "0A000", "%s: qualified operators are not supported", tx->label);
    }
    if (ae->lexpr == NULL) { /* prefix - or + */
        if (strcmp(op, "-") != 0 && strcmp(op, "+") != 0)
            return tx_fail(tx, "0A000", "%s: operator %s is not supported", tx->label, op);
        if (translate(tx, ae->rexpr, &b) != 0 || coerce(tx, &b, TY_FLOAT8) != 0)
            goto done;
        if (!ty_is_number(b.type) && b.type != TY_INTERVAL) {
            tx_fail(tx, "42883", "operator does not exist: %s %s", op, ty_info[b.type].name);
            goto done;
        }
        out->sql = op[0] == '-' ? xasprintf("(- %s)", b.sql) : xstrdup(b.sql);
        out->type = b.type;
        out->scale = b.scale;
        take_ungrouped(out, &b);
        rc = 0;
        goto done;
    }
    static const char *const cmp[] = {"=", "<>", "<", ">", "<=", ">="};
    for (size_t i = 0; i < ARRAY_LEN(cmp); i++) {
        if (strcmp(op, cmp[i]) == 0) {
            Ty t;
            if (translate_pair(tx, ae->lexpr, ae->rexpr, &a, &b, &t, op) != 0)
                goto done;
            out->sql = xasprintf("(%s %s %s)", a.sql, op, b.sql);
            out->type = TY_BOOL;
            rc = 0;
            goto merge;
        }
    }
    if (translate(tx, ae->lexpr, &a) != 0 || translate(tx, ae->rexpr, &b) != 0)
        goto done;
    if (strcmp(op, "||") == 0) {
        if (resolve(tx, &a) != 0 || resolve(tx, &b) != 0)
            goto done;
        char *x = text_sql(&a), *y = text_sql(&b);
        out->sql = xasprintf("(%s || %s)", x, y);
        free(x);
        free(y);
        out->type = TY_TEXT;
        rc = 0;
    } else if (strlen(op) == 1 && strchr("+-*/%", op[0]) != NULL) {
        rc = translate_arith(tx, op, &a, &b, out);
    } else {
        rc = tx_fail(tx, "0A000", "%s: operator %s is not supported", tx->label, op);
    }
merge:
    take_ungrouped(out, &a);
    take_ungrouped(out, &b);
done:
    expr_clear(&a);
    expr_clear(&b);
    return rc;
}

/* The items of a List node (IN lists, BETWEEN bounds). */
static PgQuery__Node **list_items(const PgQuery__Node *n, size_t *count)
{
    if (n == NULL || n->node_case != PG_QUERY__NODE__NODE_LIST) {
        *count = 0;
        return NULL;
    }
    *count = n->list->n_items;
    return n->list->items;
}

/* Translates e and items to one common type; fills exprs[0..n] (e first). */
static int translate_common(Tx *tx, const PgQuery__Node *first, PgQuery__Node **items, size_t n,
                            Expr *exprs, const char *what)
{
    Ty t = TY_UNKNOWN;
    for (size_t i = 0; i <= n; i++) {
        if (translate(tx, i == 0 ? first : items[i - 1], &exprs[i]) != 0)
            return -1;
        Ty c = common_type(t, exprs[i].type);
        if (c == TY_COUNT)
            return tx_fail(tx, "42804", "%s types %s and %s cannot be matched", what,
                           ty_info[t].name, ty_info[exprs[i].type].name);
        t = c;
    }
    if (t == TY_UNKNOWN)
        t = TY_TEXT;
    for (size_t i = 0; i <= n; i++)
        if (coerce(tx, &exprs[i], t) != 0)
            return -1;
    return 0;
}

static int translate_aexpr(Tx *tx, const PgQuery__AExpr *ae, Expr *out)
{
    const char *op = ae->n_name == 1 ? node_str(ae->name[0]) : NULL;
    size_t n = 0;
    PgQuery__Node **items;
    Expr *ex = NULL;
    int rc = -1;
    switch (ae->kind) {
    case PG_QUERY__A__EXPR__KIND__AEXPR_OP:
        return translate_op(tx, ae, out);
    case PG_QUERY__A__EXPR__KIND__AEXPR_DISTINCT:
    case PG_QUERY__A__EXPR__KIND__AEXPR_NOT_DISTINCT:
    case PG_QUERY__A__EXPR__KIND__AEXPR_NULLIF: {
        Expr a = {0}, b = {0};
        Ty t;
        if (translate_pair(tx, ae->lexpr, ae->rexpr, &a, &b, &t, "=") == 0) {
            if (ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_NULLIF) {
                out->sql = xasprintf("nullif(%s, %s)", a.sql, b.sql);
                out->type = t;
                out->scale = a.scale;
                out->name = "nullif";
                out->name_strength = 2;
            } else {
                out->sql = xasprintf(
                    "(%s %s %s)", a.sql,
                    ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_DISTINCT ? "IS NOT" : "IS", b.sql);
                out->type = TY_BOOL;
            }
            take_ungrouped(out, &a);
            take_ungrouped(out, &b);
            rc = 0;
        }
        expr_clear(&a);
        expr_clear(&b);
        return rc;
    }
    case PG_QUERY__A__EXPR__KIND__AEXPR_IN:
        items = list_items(ae->rexpr, &n);
        if (items == NULL)
            return unsupported(tx, "subqueries");
        break;
    case PG_QUERY__A__EXPR__KIND__AEXPR_BETWEEN:
    case PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN:
    case PG_QUERY__A__EXPR__KIND__AEXPR_BETWEEN_SYM:
    case PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN_SYM:
        items = list_items(ae->rexpr, &n);
        if (n != 2)
            return tx_fail(tx, "42601", "syntax error in BETWEEN");
        break;
    case PG_QUERY__A__EXPR__KIND__AEXPR_LIKE:
    case PG_QUERY__A__EXPR__KIND__AEXPR_ILIKE: {
        Expr a = {0}, b = {0};
        if (ae->rexpr != NULL && ae->rexpr->node_case == PG_QUERY__NODE__NODE_FUNC_CALL)
            return unsupported(tx, "LIKE with ESCAPE");
        if (translate(tx, ae->lexpr, &a) == 0 && translate(tx, ae->rexpr, &b) == 0 &&
            resolve(tx, &a) == 0 && resolve(tx, &b) == 0) {
            if (a.type != TY_TEXT || b.type != TY_TEXT) {
                tx_fail(tx, "42883", "operator does not exist: %s %s %s", ty_info[a.type].name,
                        op ? op : "~~", ty_info[b.type].name);
            } else {
                bool neg = op != NULL && op[0] == '!';
                out->sql = xasprintf("(%sduro_like(%s, %s, %d))", neg ? "NOT " : "", a.sql, b.sql,
                                     ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_ILIKE);
                out->type = TY_BOOL;
                take_ungrouped(out, &a);
                take_ungrouped(out, &b);
                rc = 0;
            }
        }
        expr_clear(&a);
        expr_clear(&b);
        return rc;
    }
    case PG_QUERY__A__EXPR__KIND__AEXPR_SIMILAR:
        return unsupported(tx, "SIMILAR TO");
    case PG_QUERY__A__EXPR__KIND__AEXPR_OP_ANY:
    case PG_QUERY__A__EXPR__KIND__AEXPR_OP_ALL:
        return unsupported(tx, "ANY and ALL");
    default:
        return unsupported(tx, "this operator");
    }
    ex = xcalloc(n + 1, sizeof(Expr));
    if (translate_common(tx, ae->lexpr, items, n, ex,
                         ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_IN ? "IN" : "BETWEEN") != 0)
        goto done;
    if (ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_IN) {
        StrVec parts = {0};
        for (size_t i = 1; i <= n; i++)
            strvec_push(&parts, ex[i].sql);
        char *list = strvec_join(&parts, ", ");
        strvec_free(&parts);
        out->sql = xasprintf("(%s %sIN (%s))", ex[0].sql,
                             op != NULL && strcmp(op, "<>") == 0 ? "NOT " : "", list);
        free(list);
    } else {
        bool neg = ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN ||
                   ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN_SYM;
        bool sym = ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_BETWEEN_SYM ||
                   ae->kind == PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN_SYM;
        if (sym)
            out->sql = xasprintf("(%s((%s BETWEEN %s AND %s) OR (%s BETWEEN %s AND %s)))",
                                 neg ? "NOT " : "", ex[0].sql, ex[1].sql, ex[2].sql, ex[0].sql,
                                 ex[2].sql, ex[1].sql);
        else
            out->sql = xasprintf("(%s %sBETWEEN %s AND %s)", ex[0].sql, neg ? "NOT " : "",
                                 ex[1].sql, ex[2].sql);
    }
    out->type = TY_BOOL;
    for (size_t i = 0; i <= n; i++)
        take_ungrouped(out, &ex[i]);
    rc = 0;
done:
    for (size_t i = 0; ex != NULL && i <= n; i++)
        expr_clear(&ex[i]);
    free(ex);
    return rc;
}

static int translate_bool(Tx *tx, const PgQuery__BoolExpr *be, Expr *out)
{
    StrVec parts = {0};
    int rc = -1;
    const char *name = be->boolop == PG_QUERY__BOOL_EXPR_TYPE__AND_EXPR  ? "AND"
                       : be->boolop == PG_QUERY__BOOL_EXPR_TYPE__OR_EXPR ? "OR"
                                                                         : "NOT";
    for (size_t i = 0; i < be->n_args; i++) {
        Expr a = {0};
        if (translate(tx, be->args[i], &a) != 0 || require_bool(tx, &a, name) != 0) {
            expr_clear(&a);
            goto done;
        }
        strvec_push(&parts, a.sql);
        take_ungrouped(out, &a);
        expr_clear(&a);
    }
    if (be->boolop == PG_QUERY__BOOL_EXPR_TYPE__NOT_EXPR) {
        if (parts.n != 1)
            goto done;
        out->sql = xasprintf("(NOT %s)", parts.items[0]);
    } else {
        char *sep = xasprintf(" %s ", name);
        char *joined = strvec_join(&parts, sep);
        out->sql = xasprintf("(%s)", joined);
        free(sep);
        free(joined);
    }
    out->type = TY_BOOL;
    rc = 0;
done:
    strvec_free(&parts);
    return rc;
}

/* CASE [arg] WHEN .. THEN .. [ELSE ..] END */
static int translate_case(Tx *tx, const PgQuery__CaseExpr *ce, Expr *out)
{
    size_t n = ce->n_args;
    Expr arg = {0};
    Expr *conds = xcalloc(n ? n : 1, sizeof(Expr)), *results = xcalloc(n + 1, sizeof(Expr));
    int rc = -1;
    StrVec parts = {0};
    Ty t = TY_UNKNOWN;
    if (ce->arg != NULL) {
        PgQuery__Node **whens = xcalloc(n ? n : 1, sizeof(PgQuery__Node *));
        for (size_t i = 0; i < n; i++) {
            if (ce->args[i]->node_case != PG_QUERY__NODE__NODE_CASE_WHEN) {
                free(whens);
                goto done;
            }
            whens[i] = ce->args[i]->case_when->expr;
        }
        Expr *all = xcalloc(n + 1, sizeof(Expr));
        int r = translate_common(tx, ce->arg, whens, n, all, "CASE/WHEN");
        free(whens);
        arg = all[0];
        for (size_t i = 0; i < n; i++)
            conds[i] = all[i + 1];
        free(all);
        if (r != 0)
            goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const PgQuery__CaseWhen *w = ce->args[i]->case_when;
        if (ce->arg == NULL &&
            (translate(tx, w->expr, &conds[i]) != 0 || require_bool(tx, &conds[i], "CASE") != 0))
            goto done;
        if (translate(tx, w->result, &results[i]) != 0)
            goto done;
    }
    if (ce->defresult != NULL && translate(tx, ce->defresult, &results[n]) != 0)
        goto done;
    for (size_t i = 0; i <= n; i++) {
        if (i == n && ce->defresult == NULL)
            break;
        Ty c = common_type(t, results[i].type);
        if (c == TY_COUNT) {
            tx_fail(tx, "42804", "CASE types %s and %s cannot be matched", ty_info[t].name,
                    ty_info[results[i].type].name);
            goto done;
        }
        t = c;
    }
    if (t == TY_UNKNOWN)
        t = TY_TEXT;
    strvec_push(&parts, "CASE");
    if (ce->arg != NULL)
        strvec_push(&parts, arg.sql);
    for (size_t i = 0; i <= n; i++) {
        if (i == n && ce->defresult == NULL)
            break;
        if (coerce(tx, &results[i], t) != 0)
            goto done;
        if (i < n)
            strvec_push_owned(&parts, xasprintf("WHEN %s THEN %s", conds[i].sql, results[i].sql));
        else
            strvec_push_owned(&parts, xasprintf("ELSE %s", results[i].sql));
        take_ungrouped(out, &results[i]);
        if (i < n)
            take_ungrouped(out, &conds[i]);
    }
    strvec_push(&parts, "END");
    out->sql = strvec_join(&parts, " ");
    out->type = t;
    out->scale = -1;
    out->name = "case";
    out->name_strength = 1;
    take_ungrouped(out, &arg);
    rc = 0;
done:
    expr_clear(&arg);
    for (size_t i = 0; i < n; i++)
        expr_clear(&conds[i]);
    for (size_t i = 0; i <= n; i++)
        expr_clear(&results[i]);
    free(conds);
    free(results);
    strvec_free(&parts);
    return rc;
}

static int translate_coalesce(Tx *tx, const PgQuery__CoalesceExpr *ce, Expr *out)
{
    size_t n = ce->n_args;
    if (n == 0)
        return tx_fail(tx, "42601", "COALESCE needs arguments");
    Expr *ex = xcalloc(n, sizeof(Expr));
    int rc = -1;
    if (translate_common(tx, ce->args[0], ce->args + 1, n - 1, ex, "COALESCE") == 0) {
        StrVec parts = {0};
        for (size_t i = 0; i < n; i++) {
            strvec_push(&parts, ex[i].sql);
            take_ungrouped(out, &ex[i]);
        }
        if (n == 1)
            strvec_push(&parts, "NULL");
        char *list = strvec_join(&parts, ", ");
        out->sql = xasprintf("coalesce(%s)", list);
        free(list);
        strvec_free(&parts);
        out->type = ex[0].type;
        out->scale = -1;
        out->name = "coalesce";
        out->name_strength = 2;
        rc = 0;
    }
    for (size_t i = 0; i < n; i++)
        expr_clear(&ex[i]);
    free(ex);
    return rc;
}

/* A string constant argument (extract's field, date_trunc's unit), lower-cased; NULL if not. */
static char *const_text_arg(const PgQuery__Node *n)
{
    if (n == NULL || n->node_case != PG_QUERY__NODE__NODE_A_CONST ||
        n->a_const->val_case != PG_QUERY__A__CONST__VAL_SVAL)
        return NULL;
    char *s = xstrdup(n->a_const->sval->sval);
    str_lower(s);
    return s;
}

/* extract(field from x) / date_part('field', x). */
static int translate_extract(Tx *tx, const PgQuery__FuncCall *fc, bool as_float, Expr *out)
{
    static const char *const fields[] = {"epoch",   "year",   "month",        "day",         "hour",
                                         "minute",  "second", "dow",          "isodow",      "doy",
                                         "quarter", "week",   "milliseconds", "microseconds"};
    static const char *const aliases[][2] = {{"years", "year"},
                                             {"months", "month"},
                                             {"days", "day"},
                                             {"hours", "hour"},
                                             {"minutes", "minute"},
                                             {"seconds", "second"},
                                             {"millisecond", "milliseconds"},
                                             {"microsecond", "microseconds"}};
    char *field = const_text_arg(fc->args[0]);
    Expr x = {0};
    int rc = -1;
    if (field == NULL) {
        unsupported(tx, "non-constant extract fields");
        goto done;
    }
    for (size_t i = 0; i < ARRAY_LEN(aliases); i++)
        if (strcmp(field, aliases[i][0]) == 0) {
            free(field);
            field = xstrdup(aliases[i][1]);
        }
    bool known = false;
    for (size_t i = 0; i < ARRAY_LEN(fields); i++)
        known = known || strcmp(field, fields[i]) == 0;
    if (!known) {
        tx_fail(tx, "0A000", "%s: extract field \"%s\" is not supported", tx->label, field);
        goto done;
    }
    if (translate(tx, fc->args[1], &x) != 0 || coerce(tx, &x, TY_TS) != 0)
        goto done;
    if (x.type != TY_TS && x.type != TY_DATE && x.type != TY_INTERVAL) {
        tx_fail(tx, "42883", "function extract(unknown, %s) does not exist", ty_info[x.type].name);
        goto done;
    }
    out->sql = xasprintf("duro_extract('%s', %s, %d)", field, x.sql, (int)x.type);
    out->type = as_float ? TY_FLOAT8 : TY_NUMERIC;
    if (strcmp(field, "second") == 0 || (strcmp(field, "epoch") == 0 && x.type != TY_DATE))
        out->scale = 6;
    else if (strcmp(field, "milliseconds") == 0)
        out->scale = 3;
    else
        out->scale = 0;
    if (as_float)
        out->scale = -1;
    take_ungrouped(out, &x);
    rc = 0;
done:
    free(field);
    expr_clear(&x);
    return rc;
}

/* An aggregate call. */
static int translate_aggregate(Tx *tx, const PgQuery__FuncCall *fc, const char *name, Expr *out)
{
    Expr a = {0}, sep = {0};
    int rc = -1;
    char *filter = NULL;
    if (tx->clause == CL_WHERE || tx->clause == CL_GROUP || tx->clause == CL_JOIN ||
        tx->clause == CL_LIMIT)
        return tx_fail(tx, "42803", "aggregate functions are not allowed in %s",
                       tx->clause == CL_WHERE   ? "WHERE"
                       : tx->clause == CL_GROUP ? "GROUP BY"
                       : tx->clause == CL_JOIN  ? "JOIN conditions"
                                                : "LIMIT");
    if (tx->agg_depth > 0)
        return tx_fail(tx, "42803", "aggregate function calls cannot be nested");
    if (fc->n_agg_order > 0)
        return unsupported(tx, "ORDER BY inside aggregates");
    tx->saw_agg = true;
    tx->agg_depth++;
    if (fc->agg_filter != NULL) {
        Expr f = {0};
        Clause saved = tx->clause;
        if (translate(tx, fc->agg_filter, &f) != 0 || require_bool(tx, &f, "FILTER") != 0) {
            expr_clear(&f);
            goto done;
        }
        tx->clause = saved;
        filter = xasprintf(" FILTER (WHERE %s)", f.sql);
        expr_clear(&f);
    }
    const char *distinct = fc->agg_distinct ? "DISTINCT " : "";
    if (fc->agg_star) {
        if (strcmp(name, "count") != 0) {
            tx_fail(tx, "42809", "%s(*) must be used to call a parameterless aggregate function",
                    name);
            goto done;
        }
        out->sql = xasprintf("count(*)%s", filter ? filter : "");
        out->type = TY_INT8;
        rc = 0;
        goto done;
    }
    size_t want = strcmp(name, "string_agg") == 0 ? 2 : 1;
    if (fc->n_args != want) {
        tx_fail(tx, "42883", "function %s with %zu arguments does not exist", name, fc->n_args);
        goto done;
    }
    if (translate(tx, fc->args[0], &a) != 0 || resolve(tx, &a) != 0)
        goto done;
    Ty t = a.type;
    const char *fn = name, *wrap = "%s";
    if (strcmp(name, "count") == 0) {
        out->type = TY_INT8;
    } else if (strcmp(name, "min") == 0 || strcmp(name, "max") == 0) {
        out->type = t;
        out->scale = a.scale;
    } else if (strcmp(name, "sum") == 0) {
        if (!ty_is_number(t) && t != TY_INTERVAL)
            goto no_function;
        out->type = t == TY_INT4 ? TY_INT8 : t == TY_INT8 ? TY_NUMERIC : t;
        out->scale = t == TY_INT8 ? 0 : a.scale;
    } else if (strcmp(name, "avg") == 0) {
        if (!ty_is_number(t) && t != TY_INTERVAL)
            goto no_function;
        out->type = t == TY_INTERVAL ? TY_INTERVAL : TY_FLOAT8;
        if (t == TY_INTERVAL)
            wrap = "CAST(round(%s) AS INTEGER)";
    } else if (strcmp(name, "bool_and") == 0 || strcmp(name, "every") == 0 ||
               strcmp(name, "bool_or") == 0) {
        if (t != TY_BOOL)
            goto no_function;
        fn = name[5] == 'o' ? "max" : "min";
        out->type = TY_BOOL;
    } else { /* string_agg */
        if (fc->agg_distinct) {
            unsupported(tx, "string_agg(DISTINCT ...)");
            goto done;
        }
        if (translate(tx, fc->args[1], &sep) != 0 || resolve(tx, &sep) != 0)
            goto done;
        if (t != TY_TEXT || sep.type != TY_TEXT)
            goto no_function;
        char *inner = xasprintf("group_concat(%s, %s)%s", a.sql, sep.sql, filter ? filter : "");
        out->sql = inner;
        out->type = TY_TEXT;
        rc = 0;
        goto done;
    }
    char *call = xasprintf("%s(%s%s)%s", fn, distinct, a.sql, filter ? filter : "");
    out->sql = format_template(wrap, call, "");
    free(call);
    rc = 0;
    goto done;
no_function:
    tx_fail(tx, "42883", "function %s(%s) does not exist", name, ty_info[t].name);
done:
    tx->agg_depth--;
    free(filter);
    expr_clear(&a);
    expr_clear(&sep);
    return rc;
}

/* A scalar function with text arguments and a fixed SQLite counterpart. */
static int translate_text_fn(Tx *tx, const PgQuery__FuncCall *fc, const char *name,
                             const char *sqlite_name, Ty result, Expr *out)
{
    Expr a = {0};
    int rc = -1;
    if (fc->n_args != 1) {
        tx_fail(tx, "42883", "function %s with %zu arguments does not exist", name, fc->n_args);
    } else if (translate(tx, fc->args[0], &a) == 0 && resolve(tx, &a) == 0) {
        if (a.type != TY_TEXT) {
            tx_fail(tx, "42883", "function %s(%s) does not exist", name, ty_info[a.type].name);
        } else {
            out->sql = xasprintf("%s(%s)", sqlite_name, a.sql);
            out->type = result;
            take_ungrouped(out, &a);
            rc = 0;
        }
    }
    expr_clear(&a);
    return rc;
}

/* concat(a, b, ...): NULLs ignored, everything as text. */
static int translate_concat(Tx *tx, const PgQuery__FuncCall *fc, Expr *out)
{
    StrVec parts = {0};
    int rc = -1;
    for (size_t i = 0; i < fc->n_args; i++) {
        Expr a = {0};
        if (translate(tx, fc->args[i], &a) != 0 || resolve(tx, &a) != 0) {
            expr_clear(&a);
            goto done;
        }
        char *t = text_sql(&a);
        strvec_push_owned(&parts, xasprintf("coalesce(%s, '')", t));
        free(t);
        take_ungrouped(out, &a);
        expr_clear(&a);
    }
    if (parts.n == 0) {
        tx_fail(tx, "42883", "function concat() does not exist");
        goto done;
    }
    char *joined = strvec_join(&parts, " || ");
    out->sql = xasprintf("(%s)", joined);
    free(joined);
    out->type = TY_TEXT;
    rc = 0;
done:
    strvec_free(&parts);
    return rc;
}

/* round(x) and round(x, n). */
static int translate_round(Tx *tx, const PgQuery__FuncCall *fc, Expr *out)
{
    Expr a = {0}, d = {0};
    int rc = -1;
    if (fc->n_args < 1 || fc->n_args > 2) {
        tx_fail(tx, "42883", "function round with %zu arguments does not exist", fc->n_args);
        goto done;
    }
    if (translate(tx, fc->args[0], &a) != 0 || coerce(tx, &a, TY_FLOAT8) != 0)
        goto done;
    if (fc->n_args == 2 && (translate(tx, fc->args[1], &d) != 0 || coerce(tx, &d, TY_INT4) != 0))
        goto done;
    if (!ty_is_number(a.type) || (fc->n_args == 2 && d.type != TY_INT4 && d.type != TY_INT8) ||
        (fc->n_args == 2 && a.type == TY_FLOAT8)) {
        tx_fail(tx, "42883", "function round(%s%s%s) does not exist", ty_info[a.type].name,
                fc->n_args == 2 ? ", " : "", fc->n_args == 2 ? ty_info[d.type].name : "");
        goto done;
    }
    if (a.type == TY_FLOAT8) {
        out->sql = xasprintf("duro_round(%s, NULL)", a.sql);
        out->type = TY_FLOAT8;
    } else {
        out->sql = xasprintf("duro_round(%s, %s)", a.sql, fc->n_args == 2 ? d.sql : "0");
        out->type = TY_NUMERIC;
        out->scale = 0;
        if (fc->n_args == 2) {
            const PgQuery__Node *n = fc->args[1];
            out->scale = n->node_case == PG_QUERY__NODE__NODE_A_CONST &&
                                 n->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL &&
                                 n->a_const->ival->ival >= 0
                             ? n->a_const->ival->ival
                             : -1;
        }
    }
    take_ungrouped(out, &a);
    take_ungrouped(out, &d);
    rc = 0;
done:
    expr_clear(&a);
    expr_clear(&d);
    return rc;
}

static int translate_func(Tx *tx, const PgQuery__FuncCall *fc, Expr *out)
{
    const char *name = node_str(fc->funcname[fc->n_funcname - 1]);
    if (name == NULL)
        return tx_fail(tx, "42601", "bad function name");
    if (fc->n_funcname > 2 ||
        (fc->n_funcname == 2 &&
         strcmp(node_str(fc->funcname[0]) ? node_str(fc->funcname[0]) : "", "pg_catalog") != 0))
        return tx_fail(tx, "42883", "function %s does not exist", name);
    out->name = name;
    out->name_strength = 2;
    out->scale = -1;
    if (fc->over != NULL)
        return unsupported(tx, "window functions");
    static const char *const aggregates[] = {"count",    "min",     "max",   "sum",       "avg",
                                             "bool_and", "bool_or", "every", "string_agg"};
    for (size_t i = 0; i < ARRAY_LEN(aggregates); i++)
        if (strcmp(name, aggregates[i]) == 0)
            return translate_aggregate(tx, fc, name, out);
    if (fc->agg_star || fc->agg_distinct || fc->n_agg_order || fc->agg_filter)
        return tx_fail(tx, "42809", "%s is not an aggregate function", name);
    if (fc->func_variadic)
        return unsupported(tx, "VARIADIC");
    for (size_t i = 0; i < fc->n_args; i++)
        if (fc->args[i]->node_case == PG_QUERY__NODE__NODE_NAMED_ARG_EXPR)
            return unsupported(tx, "named arguments");
    static const char *const nows[] = {"now", "transaction_timestamp", "statement_timestamp",
                                       "clock_timestamp"};
    for (size_t i = 0; i < ARRAY_LEN(nows); i++) {
        if (strcmp(name, nows[i]) == 0) {
            if (fc->n_args != 0)
                return tx_fail(tx, "42883", "function %s with arguments does not exist", name);
            out->sql = xstrdup("duro_now()");
            out->type = TY_TS;
            return 0;
        }
    }
    if (strcmp(name, "lower") == 0 || strcmp(name, "upper") == 0)
        return translate_text_fn(tx, fc, name, name, TY_TEXT, out);
    if (strcmp(name, "length") == 0 || strcmp(name, "char_length") == 0 ||
        strcmp(name, "character_length") == 0)
        return translate_text_fn(tx, fc, name, "length", TY_INT4, out);
    if (strcmp(name, "concat") == 0)
        return translate_concat(tx, fc, out);
    if (strcmp(name, "round") == 0)
        return translate_round(tx, fc, out);
    if ((strcmp(name, "extract") == 0 || strcmp(name, "date_part") == 0) && fc->n_args == 2)
        return translate_extract(tx, fc, name[0] == 'd', out);
    if (strcmp(name, "date_trunc") == 0 && fc->n_args == 2) {
        static const char *const units[] = {"microseconds", "milliseconds", "second", "minute",
                                            "hour",         "day",          "week",   "month",
                                            "quarter",      "year"};
        char *unit = const_text_arg(fc->args[0]);
        bool known = false;
        for (size_t i = 0; unit != NULL && i < ARRAY_LEN(units); i++)
            known = known || strcmp(unit, units[i]) == 0;
        Expr x = {0};
        int rc = -1;
        if (!known)
            tx_fail(tx, "0A000", "%s: date_trunc unit %s%s%s is not supported", tx->label,
                    unit ? "\"" : "", unit ? unit : "(not a constant)", unit ? "\"" : "");
        else if (translate(tx, fc->args[1], &x) == 0 && coerce(tx, &x, TY_TS) == 0) {
            if (x.type != TY_TS && x.type != TY_DATE) {
                tx_fail(tx, "42883", "function date_trunc(unknown, %s) does not exist",
                        ty_info[x.type].name);
            } else {
                out->sql = xasprintf("duro_date_trunc('%s', %s)", unit, x.sql);
                out->type = TY_TS;
                take_ungrouped(out, &x);
                rc = 0;
            }
        }
        free(unit);
        expr_clear(&x);
        return rc;
    }
    if (strcmp(name, "abs") == 0 && fc->n_args == 1) {
        Expr a = {0};
        int rc = -1;
        if (translate(tx, fc->args[0], &a) == 0 && coerce(tx, &a, TY_FLOAT8) == 0) {
            if (!ty_is_number(a.type) && a.type != TY_INTERVAL) {
                tx_fail(tx, "42883", "function abs(%s) does not exist", ty_info[a.type].name);
            } else {
                out->sql = xasprintf("abs(%s)", a.sql);
                out->type = a.type;
                out->scale = a.scale;
                take_ungrouped(out, &a);
                rc = 0;
            }
        }
        expr_clear(&a);
        return rc;
    }
    return tx_fail(tx, "0A000", "%s: function %s is not supported", tx->label, name);
}

/* After translating a node: an expression equal to a GROUP BY expression is grouped. */
static void mark_grouped(Tx *tx, Expr *e)
{
    if (e->ungrouped != NULL && e->sql != NULL && strvec_contains(&tx->group_sql, e->sql)) {
        free(e->ungrouped);
        e->ungrouped = NULL;
    }
}

static int translate(Tx *tx, const PgQuery__Node *n, Expr *out)
{
    memset(out, 0, sizeof(*out));
    out->scale = -1;
    if (n == NULL)
        return tx_fail(tx, "42601", "missing expression");
    int rc;
    switch (n->node_case) {
    case PG_QUERY__NODE__NODE_COLUMN_REF:
        rc = translate_column(tx, n->column_ref, out);
        break;
    case PG_QUERY__NODE__NODE_A_CONST:
        rc = translate_const(tx, n->a_const, out);
        break;
    case PG_QUERY__NODE__NODE_PARAM_REF: {
        int i = use_param(tx, n->param_ref->number);
        if (i < 0)
            return -1;
        out->param = n->param_ref->number;
        out->type = tx->st->param_ty[i];
        out->sql = xasprintf("?%d", out->param);
        rc = 0;
        break;
    }
    case PG_QUERY__NODE__NODE_TYPE_CAST:
        rc = translate_cast(tx, n->type_cast, out);
        break;
    case PG_QUERY__NODE__NODE_A_EXPR:
        rc = translate_aexpr(tx, n->a_expr, out);
        break;
    case PG_QUERY__NODE__NODE_BOOL_EXPR:
        rc = translate_bool(tx, n->bool_expr, out);
        break;
    case PG_QUERY__NODE__NODE_NULL_TEST: {
        Expr a = {0};
        rc = translate(tx, n->null_test->arg, &a);
        if (rc == 0 && (rc = resolve(tx, &a)) == 0) {
            out->sql = xasprintf(
                "(%s IS %sNULL)", a.sql,
                n->null_test->nulltesttype == PG_QUERY__NULL_TEST_TYPE__IS_NULL ? "" : "NOT ");
            out->type = TY_BOOL;
            take_ungrouped(out, &a);
        }
        expr_clear(&a);
        break;
    }
    case PG_QUERY__NODE__NODE_BOOLEAN_TEST: {
        static const char *const forms[] = {"",         "IS 1",    "IS NOT 1",   "IS 0",
                                            "IS NOT 0", "IS NULL", "IS NOT NULL"};
        Expr a = {0};
        int k = n->boolean_test->booltesttype;
        rc = translate(tx, n->boolean_test->arg, &a);
        if (rc == 0 && (rc = require_bool(tx, &a, "IS TRUE")) == 0 && k >= 1 && k <= 6) {
            out->sql = xasprintf("(%s %s)", a.sql, forms[k]);
            out->type = TY_BOOL;
            take_ungrouped(out, &a);
        }
        expr_clear(&a);
        break;
    }
    case PG_QUERY__NODE__NODE_CASE_EXPR:
        rc = translate_case(tx, n->case_expr, out);
        break;
    case PG_QUERY__NODE__NODE_COALESCE_EXPR:
        rc = translate_coalesce(tx, n->coalesce_expr, out);
        break;
    case PG_QUERY__NODE__NODE_FUNC_CALL:
        rc = translate_func(tx, n->func_call, out);
        break;
    case PG_QUERY__NODE__NODE_SQLVALUE_FUNCTION: {
        PgQuery__SQLValueFunctionOp op = n->sqlvalue_function->op;
        if (op == PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP ||
            op == PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP_N ||
            op == PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIMESTAMP ||
            op == PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_LOCALTIMESTAMP_N) {
            out->sql = xstrdup("duro_now()");
            out->type = TY_TS;
            out->name = op <= PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_TIMESTAMP_N
                            ? "current_timestamp"
                            : "localtimestamp";
        } else if (op == PG_QUERY__SQLVALUE_FUNCTION_OP__SVFOP_CURRENT_DATE) {
            out->sql = xasprintf("duro_cast(duro_now(), %d, %d)", (int)TY_TS, (int)TY_DATE);
            out->type = TY_DATE;
            out->name = "current_date";
        } else {
            return unsupported(tx, "this SQL value function");
        }
        out->name_strength = 2;
        rc = 0;
        break;
    }
    case PG_QUERY__NODE__NODE_SUB_LINK:
        return unsupported(tx, "subqueries");
    case PG_QUERY__NODE__NODE_MIN_MAX_EXPR:
        return unsupported(tx, "GREATEST and LEAST");
    case PG_QUERY__NODE__NODE_A_ARRAY_EXPR:
    case PG_QUERY__NODE__NODE_A_INDIRECTION:
        return unsupported(tx, "arrays");
    case PG_QUERY__NODE__NODE_ROW_EXPR:
        return unsupported(tx, "row constructors");
    case PG_QUERY__NODE__NODE_COLLATE_CLAUSE:
        return unsupported(tx, "COLLATE");
    default:
        return tx_fail(tx, "0A000", "%s: %s is not supported", tx->label,
                       n->base.descriptor && n->node_case ? "this expression" : "an empty node");
    }
    if (rc == 0 && tx->grouped)
        mark_grouped(tx, out);
    return rc;
}

/* ---- Whole statements ---- */

/* Adds a FROM item of a RangeVar; returns its index or -1. */
static int add_from(Tx *tx, const PgQuery__RangeVar *rv)
{
    int table = -1;
    if (rv->schemaname == NULL || strcmp(rv->schemaname, "duro") != 0 ||
        (rv->catalogname != NULL && rv->catalogname[0] != '\0')) {
        return tx_fail(tx, "0A000", "only duro.status and duro.runs can be read here, not %s%s%s",
                       rv->schemaname && rv->schemaname[0] ? rv->schemaname : "",
                       rv->schemaname && rv->schemaname[0] ? "." : "", rv->relname);
    }
    for (size_t i = 0; i < ARRAY_LEN(vt_tables); i++)
        if (strcmp(vt_tables[i].name, rv->relname) == 0)
            table = (int)i;
    if (table < 0)
        return tx_fail(tx, "42P01", "relation \"duro.%s\" does not exist", rv->relname);
    if (rv->alias != NULL && rv->alias->n_colnames > 0)
        return tx_fail(tx, "0A000", "duro.%s: column aliases in FROM are not supported",
                       rv->relname);
    if (tx->label == NULL)
        tx->label = rv->relname[0] == 's' ? "duro.status" : "duro.runs";
    grow_array((void **)&tx->from, &tx->from_cap, tx->n_from + 1, sizeof(FromItem));
    bool aliased = rv->alias != NULL && rv->alias->aliasname && rv->alias->aliasname[0];
    tx->from[tx->n_from] =
        (FromItem){aliased ? rv->alias->aliasname : vt_tables[table].name, aliased, table};
    return (int)tx->n_from++;
}

/* Sets the label from the first relation of the FROM clause, before anything can fail. */
static void find_label(Tx *tx, const PgQuery__Node *n)
{
    while (n != NULL && tx->label == NULL) {
        if (n->node_case == PG_QUERY__NODE__NODE_RANGE_VAR) {
            tx->label = strcmp(n->range_var->relname, "runs") == 0 ? "duro.runs" : "duro.status";
            return;
        }
        if (n->node_case != PG_QUERY__NODE__NODE_JOIN_EXPR)
            return;
        n = n->join_expr->larg;
    }
}

/* A FROM clause item as SQLite SQL (*sql, caller frees). */
static int translate_from(Tx *tx, const PgQuery__Node *n, char **sql)
{
    if (n->node_case == PG_QUERY__NODE__NODE_RANGE_VAR) {
        int i = add_from(tx, n->range_var);
        if (i < 0)
            return -1;
        *sql = xasprintf("\"%s\" AS \"t%d\"", vt_tables[tx->from[i].table].name, i);
        return 0;
    }
    if (n->node_case == PG_QUERY__NODE__NODE_JOIN_EXPR) {
        const PgQuery__JoinExpr *j = n->join_expr;
        if (j->is_natural || j->n_using_clause > 0)
            return unsupported(tx, "NATURAL joins and USING");
        if (j->alias != NULL)
            return unsupported(tx, "aliases of joins");
        static const char *const kinds[] = {"", "INNER", "LEFT", "FULL", "RIGHT"};
        int k = j->jointype;
        if (k < 1 || k > 4)
            return unsupported(tx, "this join type");
        char *l = NULL, *r = NULL;
        if (translate_from(tx, j->larg, &l) != 0 || translate_from(tx, j->rarg, &r) != 0) {
            free(l);
            free(r);
            return -1;
        }
        Expr q = {0};
        int rc = 0;
        if (j->quals != NULL) {
            Clause saved = tx->clause;
            tx->clause = CL_JOIN;
            rc = translate(tx, j->quals, &q);
            if (rc == 0)
                rc = require_bool(tx, &q, "JOIN/ON");
            tx->clause = saved;
        }
        if (rc == 0)
            *sql = q.sql ? xasprintf("%s %s JOIN %s ON %s", l, kinds[k], r, q.sql)
                         : xasprintf("%s CROSS JOIN %s", l, r);
        expr_clear(&q);
        free(l);
        free(r);
        return rc;
    }
    if (n->node_case == PG_QUERY__NODE__NODE_RANGE_SUBSELECT)
        return unsupported(tx, "subqueries in FROM");
    if (n->node_case == PG_QUERY__NODE__NODE_RANGE_FUNCTION)
        return unsupported(tx, "functions in FROM");
    return unsupported(tx, "this FROM item");
}

/* The output name PostgreSQL gives an expression without an alias. */
static const char *figure_name(const Expr *e)
{
    return e->name_strength > 0 && e->name != NULL ? e->name : "?column?";
}

/* One output column in progress. */
typedef struct Target {
    char *sql;
    char *name;
    Ty type;
    int scale;
} Target;

static void targets_free(Target *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(t[i].sql);
        free(t[i].name);
    }
    free(t);
}

/* Translates the select list into *targets; checks grouping when tx->grouped. */
static int translate_targets(Tx *tx, const PgQuery__SelectStmt *s, Target **targets, size_t *n)
{
    size_t cap = 0;
    *targets = NULL;
    *n = 0;
    tx->clause = CL_TARGET;
    for (size_t i = 0; i < s->n_target_list; i++) {
        const PgQuery__Node *node = s->target_list[i];
        if (node->node_case != PG_QUERY__NODE__NODE_RES_TARGET)
            return tx_fail(tx, "42601", "bad select list");
        const PgQuery__ResTarget *rt = node->res_target;
        const PgQuery__Node *val = rt->val;
        if (val != NULL && val->node_case == PG_QUERY__NODE__NODE_COLUMN_REF) {
            const PgQuery__ColumnRef *cr = val->column_ref;
            if (cr->n_fields > 0 &&
                cr->fields[cr->n_fields - 1]->node_case == PG_QUERY__NODE__NODE_A_STAR) {
                const char *rel = cr->n_fields >= 2 ? node_str(cr->fields[cr->n_fields - 2]) : NULL;
                bool any = false;
                if (cr->n_fields > 3 ||
                    (cr->n_fields == 3 &&
                     strcmp(node_str(cr->fields[0]) ? node_str(cr->fields[0]) : "", "duro") != 0))
                    return tx_fail(tx, "42P01", "missing FROM-clause entry");
                for (size_t f = 0; f < tx->n_from; f++) {
                    if (rel != NULL && strcmp(tx->from[f].name, rel) != 0)
                        continue;
                    any = true;
                    for (size_t c = 0; c < vt_tables[tx->from[f].table].n; c++) {
                        const ColDef *cd = &vt_tables[tx->from[f].table].cols[c];
                        char *sql = xasprintf("\"t%zu\".\"%s\"", f, cd->name);
                        if (tx->grouped && !strvec_contains(&tx->group_sql, sql)) {
                            free(sql);
                            return tx_fail(tx, "42803",
                                           "column \"%s.%s\" must appear in the GROUP BY clause "
                                           "or be used in an aggregate function",
                                           tx->from[f].name, cd->name);
                        }
                        grow_array((void **)targets, &cap, *n + 1, sizeof(Target));
                        (*targets)[(*n)++] = (Target){sql, xstrdup(cd->name), cd->type, -1};
                    }
                }
                if (!any)
                    return rel ? tx_fail(tx, "42P01", "missing FROM-clause entry for table \"%s\"",
                                         rel)
                               : tx_fail(tx, "42601",
                                         "SELECT * with no tables specified is not "
                                         "valid");
                continue;
            }
        }
        Expr e;
        if (translate(tx, val, &e) != 0 || resolve(tx, &e) != 0) {
            expr_clear(&e);
            return -1;
        }
        if (e.ungrouped != NULL) {
            tx_fail(tx, "42803",
                    "column \"%s\" must appear in the GROUP BY clause or be used in an aggregate "
                    "function",
                    e.ungrouped);
            expr_clear(&e);
            return -1;
        }
        grow_array((void **)targets, &cap, *n + 1, sizeof(Target));
        (*targets)[(*n)++] = (Target){
            e.sql, xstrdup(rt->name && rt->name[0] ? rt->name : figure_name(&e)), e.type, e.scale};
        e.sql = NULL;
        expr_clear(&e);
    }
    return 0;
}

/* A position ("order by 2") or output name ("order by n") naming a select-list item: its
 * 1-based index, 0 when n is neither, -1 on error. by_name: output names count. */
static int target_ref(Tx *tx, const PgQuery__Node *n, bool by_name, const char *clause)
{
    if (n->node_case == PG_QUERY__NODE__NODE_A_CONST &&
        n->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL) {
        int k = n->a_const->ival->ival;
        if (k < 1 || (size_t)k > tx->n_targets)
            return tx_fail(tx, "42P10", "%s position %d is not in select list", clause, k);
        return k;
    }
    if (by_name && n->node_case == PG_QUERY__NODE__NODE_COLUMN_REF &&
        n->column_ref->n_fields == 1) {
        const char *name = node_str(n->column_ref->fields[0]);
        for (size_t i = 0; name != NULL && i < tx->n_targets; i++)
            if (strcmp(tx->target_name[i], name) == 0)
                return (int)i + 1;
    }
    return 0;
}

/* Translates a LIMIT/OFFSET expression (int8) into *sql. */
static int translate_limit(Tx *tx, const PgQuery__Node *n, const char *dflt, char **sql)
{
    Expr e;
    tx->clause = CL_LIMIT;
    if (translate(tx, n, &e) != 0 || coerce(tx, &e, TY_INT8) != 0) {
        expr_clear(&e);
        return -1;
    }
    if (e.type != TY_INT8 && e.type != TY_INT4) {
        tx_fail(tx, "42804", "argument of LIMIT must be type bigint, not type %s",
                ty_info[e.type].name);
        expr_clear(&e);
        return -1;
    }
    *sql = xasprintf("coalesce(%s, %s)", e.sql, dflt);
    expr_clear(&e);
    return 0;
}

/* Requires e (translated in a grouped query) to use columns only in aggregates or grouped. */
static int check_grouped(Tx *tx, const Expr *e)
{
    if (e->ungrouped == NULL)
        return 0;
    return tx_fail(tx, "42803",
                   "column \"%s\" must appear in the GROUP BY clause or be used in an aggregate "
                   "function",
                   e->ungrouped);
}

/* GROUP BY items: input columns first, then positions and output names; into list. */
static int translate_group_by(Tx *tx, const PgQuery__SelectStmt *s, StrVec *list)
{
    for (size_t i = 0; i < s->n_group_clause; i++) {
        const PgQuery__Node *g = s->group_clause[i];
        Expr e;
        if (g->node_case == PG_QUERY__NODE__NODE_GROUPING_SET)
            return unsupported(tx, "ROLLUP, CUBE and GROUPING SETS");
        tx->clause = CL_GROUP;
        int k = target_ref(tx, g, false, "GROUP BY");
        if (k < 0)
            return -1;
        if (k == 0 && translate(tx, g, &e) != 0) {
            expr_clear(&e);
            /* an output name when no input column has it */
            if (strcmp(tx->err->sqlstate, "42703") != 0 ||
                (k = target_ref(tx, g, true, "GROUP BY")) <= 0)
                return -1;
            tx->err->sqlstate[0] = '\0';
        }
        if (k > 0) {
            strvec_push(&tx->group_sql, tx->target_sql[k - 1]);
            strvec_push(list, tx->target_sql[k - 1]);
            continue;
        }
        if (resolve(tx, &e) != 0) {
            expr_clear(&e);
            return -1;
        }
        strvec_push(&tx->group_sql, e.sql);
        strvec_push(list, e.sql);
        expr_clear(&e);
    }
    return 0;
}

/* ORDER BY: positions and output names first, then expressions; PostgreSQL's NULLs order. */
static int translate_order_by(Tx *tx, const PgQuery__SelectStmt *s, StrVec *list)
{
    for (size_t i = 0; i < s->n_sort_clause; i++) {
        const PgQuery__Node *sn = s->sort_clause[i];
        if (sn->node_case != PG_QUERY__NODE__NODE_SORT_BY)
            return tx_fail(tx, "42601", "bad ORDER BY");
        const PgQuery__SortBy *sb = sn->sort_by;
        if (sb->sortby_dir == PG_QUERY__SORT_BY_DIR__SORTBY_USING)
            return unsupported(tx, "ORDER BY ... USING");
        tx->clause = CL_ORDER;
        int k = target_ref(tx, sb->node, true, "ORDER BY");
        char *key;
        if (k < 0)
            return -1;
        if (k > 0) {
            key = xasprintf("%d", k);
        } else {
            Expr e;
            if (translate(tx, sb->node, &e) != 0 || resolve(tx, &e) != 0 ||
                check_grouped(tx, &e) != 0) {
                expr_clear(&e);
                return -1;
            }
            key = e.sql;
            e.sql = NULL;
            expr_clear(&e);
        }
        bool desc = sb->sortby_dir == PG_QUERY__SORT_BY_DIR__SORTBY_DESC;
        bool nulls_first =
            sb->sortby_nulls == PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_FIRST ||
            (sb->sortby_nulls == PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_DEFAULT && desc);
        strvec_push_owned(list, xasprintf("%s %s NULLS %s", key, desc ? "DESC" : "ASC",
                                          nulls_first ? "FIRST" : "LAST"));
        free(key);
    }
    return 0;
}

/* Checks what a SELECT uses that is not supported at all. */
static int check_select_shape(Tx *tx, const PgQuery__SelectStmt *s, bool *distinct)
{
    if (s->op != PG_QUERY__SET_OPERATION__SETOP_NONE)
        return unsupported(tx, "UNION, INTERSECT and EXCEPT");
    if (s->with_clause != NULL)
        return unsupported(tx, "WITH queries");
    if (s->into_clause != NULL)
        return unsupported(tx, "SELECT INTO");
    if (s->n_locking_clause > 0)
        return unsupported(tx, "FOR UPDATE and FOR SHARE");
    if (s->n_window_clause > 0)
        return unsupported(tx, "window functions");
    if (s->n_values_lists > 0)
        return unsupported(tx, "VALUES");
    if (s->group_distinct)
        return unsupported(tx, "GROUP BY DISTINCT");
    if (s->limit_option == PG_QUERY__LIMIT_OPTION__LIMIT_OPTION_WITH_TIES)
        return unsupported(tx, "FETCH ... WITH TIES");
    *distinct = false;
    for (size_t i = 0; i < s->n_distinct_clause; i++) {
        if (s->distinct_clause[i] != NULL &&
            s->distinct_clause[i]->node_case != PG_QUERY__NODE__NODE__NOT_SET)
            return unsupported(tx, "DISTINCT ON");
        *distinct = true;
    }
    return 0;
}

/* Translates one SELECT into SQLite SQL (*sql) and the statement's columns. */
static int translate_select(Tx *tx, const PgQuery__SelectStmt *s, char **sql)
{
    StrVec parts = {0}, list = {0};
    Target *targets = NULL;
    size_t n_targets = 0;
    Expr e = {0};
    char *from_sql = NULL, *where_sql = NULL, *group_sql = NULL, *having_sql = NULL;
    char *order_sql = NULL, *limit_sql = NULL, *offset_sql = NULL;
    bool distinct = false;
    int rc = -1;
    for (size_t i = 0; i < s->n_from_clause; i++)
        find_label(tx, s->from_clause[i]);
    if (tx->label == NULL)
        tx->label = "duro";
    if (check_select_shape(tx, s, &distinct) != 0)
        goto done;

    for (size_t i = 0; i < s->n_from_clause; i++) {
        char *item;
        if (translate_from(tx, s->from_clause[i], &item) != 0)
            goto done;
        strvec_push_owned(&list, item);
    }
    from_sql = list.n ? strvec_join(&list, ", ") : NULL;
    strvec_clear(&list);

    if (s->where_clause != NULL) {
        tx->clause = CL_WHERE;
        if (translate(tx, s->where_clause, &e) != 0 || require_bool(tx, &e, "WHERE") != 0)
            goto done;
        where_sql = e.sql;
        e.sql = NULL;
        expr_clear(&e);
    }

    /* The select list, once to learn names, positions and whether it aggregates. */
    tx->grouped = false;
    if (translate_targets(tx, s, &targets, &n_targets) != 0)
        goto done;
    tx->n_targets = n_targets;
    tx->target_sql = xcalloc(n_targets ? n_targets : 1, sizeof(char *));
    tx->target_name = xcalloc(n_targets ? n_targets : 1, sizeof(char *));
    for (size_t i = 0; i < n_targets; i++) {
        tx->target_sql[i] = targets[i].sql;
        tx->target_name[i] = targets[i].name;
    }
    bool grouped = s->n_group_clause > 0 || s->having_clause != NULL || tx->saw_agg;

    if (translate_group_by(tx, s, &list) != 0)
        goto done;
    group_sql = list.n ? strvec_join(&list, ", ") : NULL;
    strvec_clear(&list);

    /* The select list again, now checking that it is grouped. */
    if (grouped) {
        tx->grouped = true;
        Target *again = NULL;
        size_t n_again = 0;
        int r = translate_targets(tx, s, &again, &n_again);
        targets_free(again, n_again);
        if (r != 0)
            goto done;
    }

    if (s->having_clause != NULL) {
        tx->clause = CL_HAVING;
        if (translate(tx, s->having_clause, &e) != 0 || require_bool(tx, &e, "HAVING") != 0 ||
            check_grouped(tx, &e) != 0)
            goto done;
        having_sql = e.sql;
        e.sql = NULL;
        expr_clear(&e);
    }

    if (translate_order_by(tx, s, &list) != 0)
        goto done;
    order_sql = list.n ? strvec_join(&list, ", ") : NULL;
    strvec_clear(&list);

    if (s->limit_count != NULL && translate_limit(tx, s->limit_count, "-1", &limit_sql) != 0)
        goto done;
    if (s->limit_offset != NULL && translate_limit(tx, s->limit_offset, "0", &offset_sql) != 0)
        goto done;

    for (size_t i = 0; i < n_targets; i++)
        strvec_push(&list, targets[i].sql);
    char *select_list = list.n ? strvec_join(&list, ", ") : xstrdup("NULL");
    strvec_push_owned(&parts, xasprintf("SELECT %s%s", distinct ? "DISTINCT " : "", select_list));
    free(select_list);
    if (from_sql)
        strvec_push_owned(&parts, xasprintf("FROM %s", from_sql));
    if (where_sql)
        strvec_push_owned(&parts, xasprintf("WHERE %s", where_sql));
    if (group_sql)
        strvec_push_owned(&parts, xasprintf("GROUP BY %s", group_sql));
    if (having_sql)
        strvec_push_owned(&parts, xasprintf("HAVING %s", having_sql));
    if (order_sql)
        strvec_push_owned(&parts, xasprintf("ORDER BY %s", order_sql));
    if (limit_sql || offset_sql)
        strvec_push_owned(&parts, xasprintf("LIMIT %s OFFSET %s", limit_sql ? limit_sql : "-1",
                                            offset_sql ? offset_sql : "0"));
    *sql = strvec_join(&parts, " ");

    VtStatement *st = tx->st;
    st->ncols = n_targets;
    st->cols = xcalloc(n_targets ? n_targets : 1, sizeof(VtColumn));
    st->col_ty = xcalloc(n_targets ? n_targets : 1, sizeof(Ty));
    st->col_scale = xcalloc(n_targets ? n_targets : 1, sizeof(int));
    for (size_t i = 0; i < n_targets; i++) {
        Ty t = targets[i].type == TY_UNKNOWN ? TY_TEXT : targets[i].type;
        st->cols[i] = (VtColumn){xstrdup(targets[i].name), ty_info[t].oid, ty_info[t].len};
        st->col_ty[i] = t;
        st->col_scale[i] = targets[i].scale;
    }
    rc = 0;
done:
    free(from_sql);
    free(where_sql);
    free(group_sql);
    free(having_sql);
    free(order_sql);
    free(limit_sql);
    free(offset_sql);
    expr_clear(&e);
    strvec_free(&parts);
    strvec_free(&list);
    targets_free(targets, n_targets);
    free(tx->target_sql);
    free(tx->target_name);
    tx->target_sql = tx->target_name = NULL;
    return rc;
}

/* ---- Preparing and running ---- */

/* Copies SQLite's error into err: our functions' "SQLSTATE:message", or a generic state. */
static void sqlite_error(sqlite3 *db, VtError *err)
{
    const char *msg = sqlite3_errmsg(db);
    const char *colon = strchr(msg, ':');
    if (colon != NULL && colon - msg == 5 &&
        strspn(msg, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") >= 5) {
        memcpy(err->sqlstate, msg, 5);
        err->sqlstate[5] = '\0';
        snprintf(err->message, sizeof(err->message), "%s", colon + 1);
    } else if (strstr(msg, "integer overflow") != NULL) {
        snprintf(err->sqlstate, sizeof(err->sqlstate), "22003");
        snprintf(err->message, sizeof(err->message), "bigint out of range");
    } else if (strstr(msg, "aggregate") != NULL) {
        snprintf(err->sqlstate, sizeof(err->sqlstate), "42803");
        snprintf(err->message, sizeof(err->message), "%s", msg);
    } else {
        snprintf(err->sqlstate, sizeof(err->sqlstate), "XX000");
        snprintf(err->message, sizeof(err->message), "virtual tables: %s", msg);
    }
}

/* duro_now(): the time of the running execution. */
static void fn_now(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    VtDb *db = sqlite3_user_data(ctx);
    sqlite3_result_int64(ctx, db->now);
}

VtStatement *vtable_prepare(VtDb *db, const char *sql, const uint32_t *param_types,
                            size_t n_param_types, VtError *err)
{
    VtStatement *st = xcalloc(1, sizeof(*st));
    Tx tx = {.st = st, .err = err};
    PgQuery__ParseResult *tree = NULL;
    char *lite = NULL;
    memset(err, 0, sizeof(*err));
    st->db = db;
    PgQueryProtobufParseResult parsed = pg_query_parse_protobuf(sql);
    if (parsed.error != NULL) {
        tx_fail(&tx, "42601", "%s", parsed.error->message);
        goto fail;
    }
    tree = pg_query__parse_result__unpack(NULL, parsed.parse_tree.len,
                                          (const uint8_t *)parsed.parse_tree.data);
    if (tree == NULL) {
        tx_fail(&tx, "XX000", "cannot read the parse tree");
        goto fail;
    }
    if (tree->n_stmts != 1 || tree->stmts[0]->stmt == NULL ||
        tree->stmts[0]->stmt->node_case != PG_QUERY__NODE__NODE_SELECT_STMT) {
        tx_fail(&tx, "0A000", "duro.status and duro.runs are read by one SELECT at a time");
        goto fail;
    }
    if (n_param_types > 0) {
        if (use_param(&tx,
                      (int)(n_param_types > VT_MAX_PARAMS ? VT_MAX_PARAMS + 1 : n_param_types)) < 0)
            goto fail;
        for (size_t i = 0; i < n_param_types; i++) {
            st->param_oid[i] = ty_of_oid(param_types[i]) == TY_UNKNOWN ? 0 : param_types[i];
            st->param_ty[i] = ty_of_oid(param_types[i]);
        }
    }
    if (translate_select(&tx, tree->stmts[0]->stmt->select_stmt, &lite) != 0)
        goto fail;
    for (size_t i = 0; i < st->nparams; i++)
        if (st->param_ty[i] == TY_UNKNOWN)
            st->param_ty[i] = TY_TEXT;
    if (sqlite3_prepare_v2(db->db, lite, -1, &st->stmt, NULL) != SQLITE_OK) {
        sqlite_error(db->db, err);
        goto fail;
    }
    free(lite);
    strvec_free(&tx.group_sql);
    free(tx.from);
    pg_query__parse_result__free_unpacked(tree, NULL);
    pg_query_free_protobuf_parse_result(parsed);
    return st;
fail:
    if (err->sqlstate[0] == '\0')
        tx_fail(&tx, "XX000", "cannot translate the query");
    free(lite);
    strvec_free(&tx.group_sql);
    free(tx.from);
    if (tree != NULL)
        pg_query__parse_result__free_unpacked(tree, NULL);
    pg_query_free_protobuf_parse_result(parsed);
    vtable_statement_free(st);
    return NULL;
}

size_t vtable_nparams(const VtStatement *st)
{
    return st->nparams;
}

uint32_t vtable_param_type(const VtStatement *st, size_t i)
{
    return st->param_oid[i] != 0 ? st->param_oid[i] : ty_info[st->param_ty[i]].oid;
}

size_t vtable_ncolumns(const VtStatement *st)
{
    return st->ncols;
}

const VtColumn *vtable_column(const VtStatement *st, size_t i)
{
    return &st->cols[i];
}

static int bind_fail(VtError *err, const char *sqlstate, const char *fmt, ...) PRINTF_LIKE(3, 4);

/* Fills err; always returns -1. */
static int bind_fail(VtError *err, const char *sqlstate, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", sqlstate);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -1;
}

/* Converts parameter i's text to its type and binds it. */
static int bind_param(VtStatement *st, size_t i, const char *text, VtError *err)
{
    sqlite3_stmt *s = st->stmt;
    int idx = (int)i + 1;
    Ty t = st->param_ty[i];
    int64_t v;
    double f;
    bool b;
    DtSpecial special;
    int rc;
    if (idx > sqlite3_bind_parameter_count(s))
        idx = 0; /* not used by the query: only checked */
    if (text == NULL) {
        if (idx)
            sqlite3_bind_null(s, idx);
        return 0;
    }
    switch (t) {
    case TY_INT4:
    case TY_INT8:
        if (parse_int8(text, &v) != 0)
            return bind_fail(err, "22P02", "invalid input syntax for type %s: \"%s\"",
                             ty_info[t].name, text);
        if (t == TY_INT4 && (v < INT32_MIN || v > INT32_MAX))
            return bind_fail(err, "22003", "value \"%s\" is out of range for type integer", text);
        if (idx)
            sqlite3_bind_int64(s, idx, v);
        return 0;
    case TY_FLOAT8:
    case TY_NUMERIC:
        if (parse_float8(text, &f) != 0)
            return bind_fail(err, "22P02", "invalid input syntax for type %s: \"%s\"",
                             ty_info[t].name, text);
        if (idx)
            sqlite3_bind_double(s, idx, f);
        return 0;
    case TY_BOOL:
        if (parse_bool(text, &b) != 0)
            return bind_fail(err, "22P02", "invalid input syntax for type boolean: \"%s\"", text);
        if (idx)
            sqlite3_bind_int(s, idx, b);
        return 0;
    case TY_TS:
    case TY_DATE:
        if (parse_timestamp(text, t == TY_DATE, &v, &special) != 0)
            return bind_fail(err, "22007", "invalid input syntax for type %s: \"%s\"",
                             ty_info[t].name, text);
        if (idx)
            sqlite3_bind_int64(s, idx, resolve_special(special, v, st->db->now));
        return 0;
    case TY_INTERVAL:
        rc = parse_interval(text, &v);
        if (rc == -2)
            return bind_fail(err, "0A000", "intervals of months or years are not supported: \"%s\"",
                             text);
        if (rc != 0)
            return bind_fail(err, "22007", "invalid input syntax for type interval: \"%s\"", text);
        if (idx)
            sqlite3_bind_int64(s, idx, v);
        return 0;
    default:
        if (idx)
            sqlite3_bind_text(s, idx, text, -1, SQLITE_TRANSIENT);
        return 0;
    }
}

/* Reads column c of the current row as type t into v. */
static void read_value(sqlite3_stmt *s, int c, Ty t, int scale, VtValue *v)
{
    memset(v, 0, sizeof(*v));
    if (sqlite3_column_type(s, c) == SQLITE_NULL) {
        v->null = true;
        return;
    }
    switch (t) {
    case TY_BOOL:
        v->i = sqlite3_column_int64(s, c) != 0;
        v->text = xstrdup(v->i ? "t" : "f");
        return;
    case TY_INT4:
    case TY_INT8:
        v->i = sqlite3_column_int64(s, c);
        v->f = (double)v->i;
        v->text = xasprintf("%lld", (long long)v->i);
        return;
    case TY_FLOAT8:
        v->f = sqlite3_column_double(s, c);
        v->text = format_float8(v->f);
        return;
    case TY_NUMERIC:
        if (sqlite3_column_type(s, c) == SQLITE_INTEGER) {
            v->i = sqlite3_column_int64(s, c);
            v->f = (double)v->i;
            v->text = scale > 0 ? xasprintf("%lld.%0*d", (long long)v->i, scale, 0)
                                : xasprintf("%lld", (long long)v->i);
        } else {
            v->f = sqlite3_column_double(s, c);
            v->text = format_numeric(v->f, scale);
        }
        return;
    case TY_TS:
    case TY_DATE:
        v->i = sqlite3_column_int64(s, c);
        v->text = format_timestamp(v->i, t == TY_DATE);
        return;
    case TY_INTERVAL:
        v->i = sqlite3_column_int64(s, c);
        v->text = format_interval(v->i);
        return;
    default:
        v->text = xstrdup((const char *)sqlite3_column_text(s, c));
        return;
    }
}

/* The current time in µs since the epoch. */
static int64_t clock_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * US_PER_SEC + ts.tv_nsec / 1000;
}

int vtable_execute(VtStatement *st, const char *const *params, size_t nparams, VtValue **rows,
                   size_t *nrows, VtError *err)
{
    sqlite3_stmt *s = st->stmt;
    VtValue *out = NULL;
    size_t n = 0, cap = 0;
    memset(err, 0, sizeof(*err));
    *rows = NULL;
    *nrows = 0;
    if (nparams != st->nparams)
        return bind_fail(err, "08P01",
                         "bind message supplies %zu parameters, but prepared statement requires "
                         "%zu",
                         nparams, st->nparams);
    st->db->now = st->db->fixed_now ? st->db->fixed_now : clock_now_us();
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    for (size_t i = 0; i < nparams; i++)
        if (bind_param(st, i, params[i], err) != 0)
            return -1;
    for (;;) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            sqlite_error(st->db->db, err);
            sqlite3_reset(s);
            vtable_rows_free(out, n, st->ncols);
            return -1;
        }
        grow_array((void **)&out, &cap, (n + 1) * (st->ncols ? st->ncols : 1), sizeof(VtValue));
        for (size_t c = 0; c < st->ncols; c++)
            read_value(s, (int)c, st->col_ty[c], st->col_scale[c], &out[n * st->ncols + c]);
        n++;
    }
    sqlite3_reset(s);
    *rows = out;
    *nrows = n;
    return 0;
}

void vtable_rows_free(VtValue *rows, size_t nrows, size_t ncols)
{
    if (rows == NULL)
        return;
    for (size_t i = 0; i < nrows * ncols; i++)
        free(rows[i].text);
    free(rows);
}

void vtable_statement_free(VtStatement *st)
{
    if (st == NULL)
        return;
    sqlite3_finalize(st->stmt);
    for (size_t i = 0; i < st->ncols; i++)
        free(st->cols[i].name);
    free(st->cols);
    free(st->col_ty);
    free(st->col_scale);
    free(st->param_ty);
    free(st->param_oid);
    free(st);
}
