/*
 * The PostgreSQL types the engine knows (and the columns of duro.status and duro.runs), which
 * casts and comparisons PostgreSQL allows between them, and their text input and output as
 * PostgreSQL reads and prints it (TimeZone UTC, IntervalStyle postgres). Pure functions on text and
 * numbers. Not for: SQLite, parse trees, or evaluating anything.
 */
#include "sqlengine/internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- Types and tables ---- */

const VtTypeInfo vt_ty_info[TY_COUNT] = {
    {"unknown", VT_OID_TEXT, -1},    {"text", VT_OID_TEXT, -1},
    {"boolean", VT_OID_BOOL, 1},     {"integer", VT_OID_INT4, 4},
    {"bigint", VT_OID_INT8, 8},      {"double precision", VT_OID_FLOAT8, 8},
    {"numeric", VT_OID_NUMERIC, -1}, {"timestamp with time zone", VT_OID_TIMESTAMPTZ, 8},
    {"date", VT_OID_DATE, 4},        {"interval", VT_OID_INTERVAL, 16},
};

static const ColDef status_cols[] = {
    {"view", TY_TEXT},       {"interval", TY_TEXT},   {"effective_interval", TY_TEXT},
    {"state", TY_TEXT},      {"last_refresh", TY_TS}, {"last_duration_s", TY_FLOAT8},
    {"next_refresh", TY_TS}, {"rows", TY_INT8},       {"depends_on", TY_TEXT},
    {"last_error", TY_TEXT}, {"source", TY_TEXT},     {"reads_24h", TY_INT8},
    {"last_read", TY_TS},    {"readers", TY_TEXT},
};
static const ColDef runs_cols[] = {
    {"id", TY_INT8},     {"view", TY_TEXT},    {"started", TY_TS},
    {"finished", TY_TS}, {"outcome", TY_TEXT}, {"duration_s", TY_FLOAT8},
    {"rows", TY_INT8},   {"trigger", TY_TEXT}, {"error", TY_TEXT},
};
static const ColDef leader_cols[] = {
    {"instance", TY_TEXT}, {"host", TY_TEXT},          {"generation", TY_INT8},
    {"since", TY_TS},      {"this_instance", TY_BOOL},
};
_Static_assert(VT_TABLE_STATUS == 0 && VT_TABLE_RUNS == 1 && VT_TABLE_LEADER == 2,
               "vt_tables in the order of VtTable");
const VtTableDef vt_tables[VT_N_TABLES] = {
    {"status", "duro.status", status_cols, ARRAY_LEN(status_cols)},
    {"runs", "duro.runs", runs_cols, ARRAY_LEN(runs_cols)},
    {"leader", "duro.leader", leader_cols, ARRAY_LEN(leader_cols)},
};

int vt_table_index(const char *relname)
{
    for (size_t i = 0; i < ARRAY_LEN(vt_tables); i++)
        if (strcmp(vt_tables[i].name, relname) == 0)
            return (int)i;
    return -1;
}

bool vtable_is_table(const char *relname)
{
    return vt_table_index(relname) >= 0;
}

bool vt_ty_is_number(Ty t)
{
    return t == TY_INT4 || t == TY_INT8 || t == TY_FLOAT8 || t == TY_NUMERIC;
}

/* The type two operands are compared or combined in, or TY_COUNT when PostgreSQL has none. */
Ty vt_common_type(Ty a, Ty b)
{
    if (a == TY_UNKNOWN)
        return b;
    if (b == TY_UNKNOWN || a == b)
        return a;
    if (vt_ty_is_number(a) && vt_ty_is_number(b)) {
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
Ty vt_ty_of_oid(uint32_t oid)
{
    switch (oid) {
    case VT_OID_BOOL:
        return TY_BOOL;
    case VT_OID_INT2:
    case VT_OID_INT4:
        return TY_INT4;
    case VT_OID_INT8:
        return TY_INT8;
    case VT_OID_FLOAT4:
    case VT_OID_FLOAT8:
        return TY_FLOAT8;
    case VT_OID_NUMERIC:
        return TY_NUMERIC;
    case VT_OID_TIMESTAMP:
    case VT_OID_TIMESTAMPTZ:
        return TY_TS;
    case VT_OID_DATE:
        return TY_DATE;
    case VT_OID_INTERVAL:
        return TY_INTERVAL;
    case 0:
    case VT_OID_UNKNOWN:
        return TY_UNKNOWN;
    default:
        return TY_TEXT; /* text, varchar, name, bpchar, and anything else read as text */
    }
}

/* The type a cast names (last part of the type name), or TY_COUNT. */
Ty vt_ty_of_name(const char *name)
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
bool vt_cast_allowed(Ty src, Ty dst)
{
    if (src == dst || dst == TY_TEXT || src == TY_TEXT || src == TY_UNKNOWN)
        return true;
    if (vt_ty_is_number(src) && vt_ty_is_number(dst))
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
int64_t vt_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void vt_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
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

int64_t vt_floor_div(int64_t a, int64_t b)
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

/*
 * Parses a timestamptz (date_only: the date, time and zone ignored as date_in does). Accepts
 * 'YYYY-MM-DD[( |T)HH:MM[:SS[.frac]]][ ][Z|UTC|GMT|+HH[:MM]|-HHMM]', epoch, infinity,
 * -infinity, now, today, tomorrow, yesterday. Returns 0 and *us (for DT_PLAIN) and *special.
 */
int vt_parse_timestamp(const char *text, bool date_only, int64_t *us, DtSpecial *special)
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
    /* A year as large as 9 digits allow is past what microseconds in an int64 can hold. */
    int64_t days = vt_days_from_civil(y, (int)mo, (int)d), midnight;
    if (__builtin_mul_overflow(days, US_PER_DAY, &midnight))
        return -1;
    if (date_only)
        *us = midnight;
    else if (__builtin_add_overflow(
                 midnight,
                 h * US_PER_HOUR + mi * US_PER_MIN + sec * US_PER_SEC + frac - tz * US_PER_SEC, us))
        return -1;
    return 0;
}

/* The value of a special timestamp at now. */
int64_t vt_resolve_special(DtSpecial special, int64_t value, int64_t now)
{
    int64_t today = vt_floor_div(now, US_PER_DAY) * US_PER_DAY;
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
int vt_parse_interval(const char *text, int64_t *us)
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
int vt_parse_int8(const char *text, int64_t *v)
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
int vt_parse_float8(const char *text, double *v)
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

/* An offset as PostgreSQL prints it after a time: +01, -03:30, +00:09:21. */
static void format_offset(int32_t secs, char *buf, size_t size)
{
    char sign = secs < 0 ? '-' : '+';
    int32_t a = secs < 0 ? -secs : secs;
    if (a % 60 != 0)
        snprintf(buf, size, "%c%02d:%02d:%02d", sign, a / 3600, a / 60 % 60, a % 60);
    else if (a % 3600 != 0)
        snprintf(buf, size, "%c%02d:%02d", sign, a / 3600, a / 60 % 60);
    else
        snprintf(buf, size, "%c%02d", sign, a / 3600);
}

/* A timestamptz as PostgreSQL prints it in zone z (NULL: UTC). */
char *vt_format_timestamp(int64_t us, bool date_only, const VtZone *z)
{
    if (us == INT64_MAX)
        return xstrdup("infinity");
    if (us <= INT64_MIN + 1)
        return xstrdup("-infinity");
    int32_t offset = date_only ? 0 : vt_zone_offset(z, us);
    char zone[16];
    format_offset(offset, zone, sizeof zone);
    us += (int64_t)offset * US_PER_SEC;
    int64_t days = vt_floor_div(us, US_PER_DAY), rem = us - days * US_PER_DAY, y;
    int m, d;
    vt_civil_from_days(days, &y, &m, &d);
    bool bc = y <= 0;
    if (bc)
        y = 1 - y;
    if (date_only)
        return xasprintf("%04lld-%02d-%02d%s", (long long)y, m, d, bc ? " BC" : "");
    char frac[16];
    format_fraction(rem % US_PER_SEC, frac, sizeof(frac));
    return xasprintf("%04lld-%02d-%02d %02d:%02d:%02d%s%s%s", (long long)y, m, d,
                     (int)(rem / US_PER_HOUR), (int)(rem / US_PER_MIN % 60),
                     (int)(rem / US_PER_SEC % 60), frac, zone, bc ? " BC" : "");
}

/* An interval of us as PostgreSQL prints it (IntervalStyle postgres), as days and time. */
char *vt_format_interval(int64_t us)
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
char *vt_format_float8(double v)
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
char *vt_format_numeric(double v, int scale)
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
