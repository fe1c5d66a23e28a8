/*
 * The SQL functions registered in the engine's SQLite database, which the translated SQL calls
 * for what SQLite does differently from PostgreSQL: casts, division, LIKE, rounding, extract,
 * date_trunc and now(). Errors are reported as "SQLSTATE:message" for execute.c to read back.
 * Not for: deciding when they are called (the translation does).
 */
#include "sqlengine/internal.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Reports an error from a function as "SQLSTATE:message" (read back by sqlite_error in execute.c).
 */
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
static char *value_text(sqlite3_value *v, Ty src, const VtZone *zone)
{
    switch (src) {
    case TY_BOOL:
        return xstrdup(sqlite3_value_int64(v) ? "true" : "false");
    case TY_INT4:
    case TY_INT8:
        return xasprintf("%lld", (long long)sqlite3_value_int64(v));
    case TY_FLOAT8:
        return vt_format_float8(sqlite3_value_double(v));
    case TY_NUMERIC:
        if (sqlite3_value_type(v) == SQLITE_INTEGER)
            return xasprintf("%lld", (long long)sqlite3_value_int64(v));
        return vt_format_numeric(sqlite3_value_double(v), -1);
    case TY_TS:
        return vt_format_timestamp(sqlite3_value_int64(v), false, zone);
    case TY_DATE:
        return vt_format_timestamp(sqlite3_value_int64(v), true, NULL);
    case TY_INTERVAL:
        return vt_format_interval(sqlite3_value_int64(v));
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
        if (vt_parse_int8(s, &i) != 0) {
            fn_error(ctx, "22P02", "invalid input syntax for type %s: \"%s\"", vt_ty_info[dst].name,
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
        if (vt_parse_float8(s, &f) != 0) {
            fn_error(ctx, "22P02", "invalid input syntax for type %s: \"%s\"", vt_ty_info[dst].name,
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
        if (vt_parse_timestamp(s, dst == TY_DATE, &i, &special) != 0) {
            fn_error(ctx, "22007", "invalid input syntax for type %s: \"%s\"", vt_ty_info[dst].name,
                     s);
            return false;
        }
        sqlite3_result_int64(ctx, vt_resolve_special(special, i, now));
        return true;
    case TY_INTERVAL: {
        int rc = vt_parse_interval(s, &i);
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
        fn_error(ctx, "22003", "%s out of range", vt_ty_info[dst].name);
        return false;
    }
    sqlite3_result_int64(ctx, (int64_t)r);
    return true;
}

/* duro_cast(value, src, dst): PostgreSQL's cast between the engine's types. */
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
        result_owned_text(ctx, value_text(v, src, &db->zone));
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
            us = vt_floor_div(us, US_PER_DAY) * US_PER_DAY;
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
    int64_t days = vt_floor_div(us, US_PER_DAY), rem = us - days * US_PER_DAY;
    vt_civil_from_days(days, &f.year, &f.month, &f.day);
    f.hour = (int)(rem / US_PER_HOUR);
    f.minute = (int)(rem / US_PER_MIN % 60);
    f.us_of_minute = rem % US_PER_MIN;
    f.dow = (int)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday (4) */
    f.doy = (int)(days - vt_days_from_civil(f.year, 1, 1) + 1);
    return f;
}

/* The ISO week number of a date's fields. */
static int iso_week(const Fields *f)
{
    int64_t days = vt_days_from_civil(f->year, f->month, f->day);
    int isodow = f->dow == 0 ? 7 : f->dow;
    int64_t thursday = days - isodow + 4;
    int64_t ty;
    int tm, td;
    vt_civil_from_days(thursday, &ty, &tm, &td);
    return (int)((thursday - vt_days_from_civil(ty, 1, 1)) / 7 + 1);
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
            sqlite3_result_int64(ctx, vt_floor_div(v, fixed[i].us) * fixed[i].us);
            return;
        }
    }
    Fields f = fields_of(v);
    int64_t days;
    if (strcmp(unit, "week") == 0) {
        days = vt_days_from_civil(f.year, f.month, f.day) - (f.dow == 0 ? 6 : f.dow - 1);
    } else if (strcmp(unit, "month") == 0) {
        days = vt_days_from_civil(f.year, f.month, 1);
    } else if (strcmp(unit, "quarter") == 0) {
        days = vt_days_from_civil(f.year, (f.month - 1) / 3 * 3 + 1, 1);
    } else if (strcmp(unit, "year") == 0) {
        days = vt_days_from_civil(f.year, 1, 1);
    } else {
        fn_error(ctx, "22023", "unit \"%s\" not recognized for date_trunc", unit);
        return;
    }
    sqlite3_result_int64(ctx, days * US_PER_DAY);
}

/* Appends one to_char field: the pattern p of length n (case as written) of local fields f. */
static void to_char_field(FILE *b, const char *p, bool fm, const Fields *f, int64_t us,
                          int32_t offset)
{
    static const char *const months[] = {"January",   "February", "March",    "April",
                                         "May",       "June",     "July",     "August",
                                         "September", "October",  "November", "December"};
    static const char *const days[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                       "Thursday", "Friday", "Saturday"};
    int hour12 = f->hour % 12 == 0 ? 12 : f->hour % 12;
    int64_t frac = vt_floor_div(us, 1) % US_PER_SEC;
    if (frac < 0)
        frac += US_PER_SEC;
    const char *word = NULL;
    int width = 0;
    if (strncmp(p, "YYYY", 4) == 0) {
        fprintf(b, fm ? "%lld" : "%04lld", (long long)f->year);
    } else if (strncmp(p, "YY", 2) == 0) {
        fprintf(b, "%02d", (int)(f->year % 100));
    } else if (strncmp(p, "HH24", 4) == 0) {
        fprintf(b, fm ? "%d" : "%02d", f->hour);
    } else if (strncmp(p, "HH12", 4) == 0 || strncmp(p, "HH", 2) == 0) {
        fprintf(b, fm ? "%d" : "%02d", hour12);
    } else if (strncmp(p, "MI", 2) == 0) {
        fprintf(b, fm ? "%d" : "%02d", f->minute);
    } else if (strncmp(p, "SS", 2) == 0) {
        fprintf(b, fm ? "%d" : "%02d", (int)(f->us_of_minute / US_PER_SEC));
    } else if (strncmp(p, "MS", 2) == 0) {
        fprintf(b, "%03d", (int)(frac / 1000));
    } else if (strncmp(p, "US", 2) == 0) {
        fprintf(b, "%06d", (int)frac);
    } else if (strncmp(p, "DDD", 3) == 0) {
        fprintf(b, fm ? "%d" : "%03d", f->doy);
    } else if (strncmp(p, "DD", 2) == 0) {
        fprintf(b, fm ? "%d" : "%02d", f->day);
    } else if (strncmp(p, "MM", 2) == 0) {
        fprintf(b, fm ? "%d" : "%02d", f->month);
    } else if (strncmp(p, "OF", 2) == 0) {
        int32_t a = offset < 0 ? -offset : offset;
        fprintf(b, "%c%02d", offset < 0 ? '-' : '+', a / 3600);
        if (a % 3600)
            fprintf(b, ":%02d", a / 60 % 60);
    } else if (strncasecmp(p, "AM", 2) == 0 || strncasecmp(p, "PM", 2) == 0) {
        bool upper = p[0] == 'A' || p[0] == 'P';
        fputs(f->hour < 12 ? (upper ? "AM" : "am") : (upper ? "PM" : "pm"), b);
    } else if (strncasecmp(p, "Month", 5) == 0) {
        word = months[f->month - 1];
        width = 9;
    } else if (strncasecmp(p, "Mon", 3) == 0) {
        word = months[f->month - 1];
        width = -3;
    } else if (strncasecmp(p, "Day", 3) == 0) {
        word = days[f->dow];
        width = 9;
    } else if (strncasecmp(p, "Dy", 2) == 0) {
        word = days[f->dow];
        width = -2 - 1;
    } else if (p[0] == 'D') {
        fprintf(b, "%d", f->dow + 1);
    } else if (p[0] == 'Q') {
        fprintf(b, "%d", (f->month - 1) / 3 + 1);
    }
    if (word == NULL)
        return;
    /* Case as written: "MON" upper, "Mon" capitalised, "mon" lower. */
    size_t len = width < 0 ? (size_t)-width : strlen(word);
    bool all_upper = p[1] >= 'A' && p[1] <= 'Z', all_lower = p[0] >= 'a' && p[0] <= 'z';
    for (size_t i = 0; i < len; i++) {
        char c = word[i];
        if (all_upper)
            c = (char)toupper((unsigned char)c);
        else if (all_lower || i > 0)
            c = (char)tolower((unsigned char)c);
        fputc(c, b);
    }
    for (size_t i = len; !fm && width > 0 && i < (size_t)width; i++)
        fputc(' ', b);
}

/* duro_to_char(timestamp, pattern, is_date): PostgreSQL's to_char for the common patterns, in
 * the session's TimeZone; other characters are copied, "quoted text" as it is. */
static void fn_to_char(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    VtDb *db = sqlite3_user_data(ctx);
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    int64_t us = sqlite3_value_int64(argv[0]);
    const char *p = (const char *)sqlite3_value_text(argv[1]);
    int32_t offset = sqlite3_value_int(argv[2]) ? 0 : vt_zone_offset(&db->zone, us);
    Fields f = fields_of(us + (int64_t)offset * US_PER_SEC);
    static const char *const patterns[] = {
        "YYYY", "HH24", "HH12", "Month", "MONTH", "month", "DDD", "YY", "HH", "MI",  "SS",
        "MS",   "US",   "DD",   "MM",    "OF",    "AM",    "PM",  "am", "pm", "Mon", "MON",
        "mon",  "Day",  "DAY",  "day",   "Dy",    "DY",    "dy",  "D",  "Q"};
    char *text = NULL;
    size_t len = 0;
    FILE *m = xnonnull(open_memstream(&text, &len));
    while (*p) {
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++) {
                if (*p == '\\' && p[1])
                    p++;
                fputc(*p, m);
            }
            if (*p)
                p++;
            continue;
        }
        bool fm = strncasecmp(p, "FM", 2) == 0;
        const char *q = fm ? p + 2 : p;
        size_t matched = 0;
        for (size_t i = 0; i < ARRAY_LEN(patterns) && !matched; i++)
            if (strncmp(q, patterns[i], strlen(patterns[i])) == 0)
                matched = strlen(patterns[i]);
        if (matched) {
            to_char_field(m, q, fm, &f, us, offset);
            p = q + matched;
        } else {
            fputc(*p++, m);
        }
    }
    fclose(m);
    result_owned_text(ctx, text);
}

/* duro_now(): the time of the running execution. */
static void fn_now(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    (void)argv;
    VtDb *db = sqlite3_user_data(ctx);
    sqlite3_result_int64(ctx, db->now);
}

int vt_register_functions(VtDb *db)
{
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
        {"duro_to_char", 3, fn_to_char, true},
    };
    for (size_t i = 0; i < ARRAY_LEN(fns); i++) {
        void *data = fns[i].fn == fn_cast || fns[i].flag ? (void *)db : NULL;
        int flags = SQLITE_UTF8 |
                    (fns[i].fn == fn_now || fns[i].fn == fn_to_char ? 0 : SQLITE_DETERMINISTIC);
        if (sqlite3_create_function(db->db, fns[i].name, fns[i].nargs, flags, data, fns[i].fn, NULL,
                                    NULL) != SQLITE_OK)
            return -1;
    }
    return 0;
}
