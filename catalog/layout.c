/*
 * File-name grammar of the views repository (see layout.h): separators
 * (hyphen, en dash, em dash, with or without spaces or NBSP), the interval
 * suffix, both layouts, and the names Duro rejects rather than truncates.
 */
#include "catalog/layout.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "catalog/interval.h"
#include "catalog/repo.h"
#include "core/util.h"

#define NAME_HINT "letters, digits and _, not starting with a digit"

bool layout_is_identifier(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!letter && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

/* Length of the separator dash at s (hyphen-minus, en dash, em dash), or 0. */
static size_t dash_len(const unsigned char *s)
{
    if (s[0] == '-')
        return 1;
    if (s[0] == 0xE2 && s[1] == 0x80 && (s[2] == 0x93 || s[2] == 0x94))
        return 3;
    return 0;
}

/* Length of the whitespace character at s (ASCII, NBSP, Unicode spaces), or 0. */
static size_t space_len(const unsigned char *s)
{
    if (s[0] == ' ' || s[0] == '\t')
        return 1;
    if (s[0] == 0xC2 && s[1] == 0xA0) /* NO-BREAK SPACE */
        return 2;
    if (s[0] == 0xE2 && s[1] == 0x80 && ((s[2] >= 0x80 && s[2] <= 0x8A) || s[2] == 0xAF))
        return 3; /* EN QUAD .. HAIR SPACE, NARROW NO-BREAK SPACE */
    if (s[0] == 0xE2 && s[1] == 0x81 && s[2] == 0x9F) /* MEDIUM MATHEMATICAL SPACE */
        return 3;
    if (s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80) /* IDEOGRAPHIC SPACE */
        return 3;
    return 0;
}

/* Trims whitespace (as space_len sees it) from both ends of [*start, *end). */
static void trim_spaces(const char **start, const char **end)
{
    size_t n;
    while (*start < *end && (n = space_len((const unsigned char *)*start)) > 0)
        *start += n;
    for (;;) {
        const char *p = *end;
        size_t back = 0;
        for (size_t k = 1; k <= 3 && p - k >= *start; k++) {
            if (space_len((const unsigned char *)(p - k)) == k) {
                back = k;
                break;
            }
        }
        if (!back)
            break;
        *end -= back;
    }
}

static void set_error(LayoutName *out, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* Marks out as a bad name with a formatted reason. */
static void set_error(LayoutName *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    out->role = LAYOUT_ERROR;
    vsnprintf(out->error, sizeof(out->error), fmt, ap);
    va_end(ap);
}

/* Copies a validated, lower-cased name into dst; false (error set) when invalid or too long. */
static bool take_name(LayoutName *out, char *dst, const char *what, const char *s, size_t len,
                      int max_len)
{
    char shown[200];
    snprintf(shown, sizeof(shown), "%.*s", (int)(len < 190 ? len : 190), s);
    if (!layout_is_identifier(s, len)) {
        set_error(out, "%s name '%s' is not an SQL identifier (" NAME_HINT ")", what, shown);
        return false;
    }
    if ((int)len > max_len) {
        out->role = LAYOUT_ERROR;
        snprintf(out->error, sizeof(out->error),
                 "%s name '%s' is too long: at most %d characters%s", what, shown, max_len,
                 strcmp(what, "table") == 0
                     ? " (Duro adds up to 10 characters, such as _duro_temp, to table names)"
                     : "");
        return false;
    }
    memcpy(dst, s, len);
    dst[len] = '\0';
    str_lower(dst);
    return true;
}

/*
 * Splits a view stem into name and interval at its last separator. Returns
 * false with the error set when the interval is malformed.
 */
static bool split_interval(LayoutName *out, const char *stem, const char **name_end)
{
    const char *end = stem + strlen(stem), *sep = NULL;
    size_t seplen = 0;
    for (const char *p = stem; *p; p++) {
        size_t n = dash_len((const unsigned char *)p);
        if (n) {
            sep = p;
            seplen = n;
            p += n - 1;
        }
    }
    *name_end = end;
    if (!sep)
        return true;
    const char *ival = sep + seplen, *ival_end = end, *name_start = stem;
    trim_spaces(&ival, &ival_end);
    *name_end = sep;
    trim_spaces(&name_start, name_end);
    char text[64];
    size_t n = (size_t)(ival_end - ival);
    snprintf(text, sizeof(text), "%.*s", (int)(n < 60 ? n : 60), ival);
    if (n >= 60 || interval_parse(text, &out->interval) != 0) {
        set_error(out, "invalid interval '%s' in the file name (%s)", text,
                  "a positive integer and m, h, d or w: 30m, 24h, 7d, 1w");
        return false;
    }
    return true;
}

/* Strips suffix from [s, *end) when present. */
static bool cut_suffix(const char *s, const char **end, const char *suffix)
{
    size_t n = (size_t)(*end - s), m = strlen(suffix);
    if (n > m && memcmp(*end - m, suffix, m) == 0) {
        *end -= m;
        return true;
    }
    return false;
}

/*
 * Fills schema and table from [s, end): "table" inside a schema directory, or
 * "schema.table" at the top level.
 */
static bool take_view_name(LayoutName *out, const char *s, const char *end, int max_ident)
{
    int max_table = max_ident - REPO_TABLE_SUFFIX_MAX;
    if (!out->top_level)
        return take_name(out, out->table, "table", s, (size_t)(end - s), max_table);
    const char *dot = memchr(s, '.', (size_t)(end - s));
    if (!dot && !layout_is_identifier(s, (size_t)(end - s)))
        return take_name(out, out->table, "view", s, (size_t)(end - s), max_table);
    if (!dot) {
        char shown[200];
        snprintf(shown, sizeof(shown), "%.*s", (int)(end - s < 190 ? end - s : 190), s);
        set_error(out,
                  "'%s' at the top level needs a schema: name it schema.table (as in "
                  "'second.child - 24h.sql') or put it in a schema directory",
                  shown);
        return false;
    }
    return take_name(out, out->schema, "schema", s, (size_t)(dot - s), max_ident) &&
           take_name(out, out->table, "table", dot + 1, (size_t)(end - dot - 1), max_table);
}

/* Classifies a .sql file's stem: view (with or without interval), tests or processor input. */
static void classify_sql(LayoutName *out, const char *stem, int max_ident)
{
    const char *name_end;
    if (!split_interval(out, stem, &name_end))
        return;
    out->role = LAYOUT_VIEW;
    if (out->interval == 0) {
        if (cut_suffix(stem, &name_end, "_test"))
            out->role = LAYOUT_TESTS;
        else if (cut_suffix(stem, &name_end, "_select"))
            out->role = LAYOUT_SELECT;
    }
    take_view_name(out, stem, name_end, max_ident);
}

/* Classifies a .conf file's stem (global, schema or table config). */
static void classify_conf(LayoutName *out, const char *stem, const char *dir, int max_ident)
{
    const char *end = stem + strlen(stem);
    if (out->top_level) {
        if (strcmp(stem, "global") == 0) {
            out->role = LAYOUT_GLOBAL_CONF;
            return;
        }
        if (!memchr(stem, '.', (size_t)(end - stem))) {
            out->role = LAYOUT_SCHEMA_CONF;
            take_name(out, out->schema, "schema", stem, (size_t)(end - stem), max_ident);
            return;
        }
        out->role = LAYOUT_TABLE_CONF;
        take_view_name(out, stem, end, max_ident);
        return;
    }
    if (str_ieq(stem, dir)) {
        out->role = LAYOUT_SCHEMA_CONF;
        out->table[0] = '\0';
        return;
    }
    out->role = LAYOUT_TABLE_CONF;
    take_view_name(out, stem, end, max_ident);
}

void layout_classify(const char *path, int max_ident, LayoutName *out)
{
    memset(out, 0, sizeof(*out));
    out->role = LAYOUT_IGNORED;
    if (max_ident <= 0)
        max_ident = REPO_MAX_IDENT_POSTGRES;

    const char *slash = strchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    out->top_level = slash == NULL;

    static const char *const exts[] = {".sql", ".conf", ".py", "_requirements.txt"};
    size_t blen = strlen(base), ext = ARRAY_LEN(exts);
    for (size_t i = 0; i < ARRAY_LEN(exts); i++) {
        size_t el = strlen(exts[i]);
        if (blen > el && str_ieq(base + blen - el, exts[i])) {
            ext = i;
            break;
        }
    }
    if (ext == ARRAY_LEN(exts) || base[0] == '.')
        return;
    if (slash && strchr(base, '/')) {
        set_error(out, "views live at most one directory deep (schema/table.sql or "
                       "schema.table.sql at the top level)");
        return;
    }

    char dir[256] = "";
    if (slash) {
        size_t dl = (size_t)(slash - path);
        if (!take_name(out, out->schema, "schema directory", path, dl, max_ident))
            return;
        snprintf(dir, sizeof(dir), "%s", out->schema);
    }

    char stem[512];
    size_t sl = blen - strlen(exts[ext]);
    if (sl >= sizeof(stem)) {
        set_error(out, "file name too long");
        return;
    }
    memcpy(stem, base, sl);
    stem[sl] = '\0';

    switch (ext) {
    case 0:
        classify_sql(out, stem, max_ident);
        break;
    case 1:
        classify_conf(out, stem, dir, max_ident);
        break;
    case 2:
        out->role = LAYOUT_PROCESSOR;
        take_view_name(out, stem, stem + sl, max_ident);
        break;
    case 3:
        out->role = LAYOUT_REQUIREMENTS;
        take_view_name(out, stem, stem + sl, max_ident);
        break;
    }
}
