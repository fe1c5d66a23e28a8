/*
 * SQL names (see names.h): folding, quoting, the identifier limit, schema.table and the default
 * schema. Pure string functions; not for: reading SQL statements (catalog/sqlinfo).
 */
#include "catalog/names.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

char *names_ident(const char *s, size_t len)
{
    char *name;
    if (len >= 2 && s[0] == '"') {
        name = xmalloc(len);
        size_t n = 0;
        for (size_t k = 1; k + 1 < len; k++) {
            name[n++] = s[k];
            if (s[k] == '"' && s[k + 1] == '"')
                k++;
        }
        name[n] = '\0';
    } else {
        name = xstrndup(s, len);
        str_lower(name);
    }
    name[names_clip(name, strlen(name))] = '\0';
    return name;
}

size_t names_clip(const char *s, size_t n)
{
    if (n <= NAMES_MAX_IDENT)
        return n;
    n = NAMES_MAX_IDENT;
    while (n > 0 && (s[n] & 0xC0) == 0x80)
        n--; /* do not cut a UTF-8 sequence */
    return n;
}

char *names_quote(const char *name)
{
    size_t quotes = 0;
    for (const char *p = name; *p; p++)
        quotes += *p == '"';
    char *out = xmalloc(strlen(name) + quotes + 3), *o = out;
    *o++ = '"';
    for (const char *p = name; *p; p++) {
        if (*p == '"')
            *o++ = '"';
        *o++ = *p;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

char *names_quote_table(const char *schema, const char *table, const char *suffix)
{
    char *full = xasprintf("%s%s", table, suffix != NULL ? suffix : "");
    char *s = names_quote(schema), *t = names_quote(full);
    char *out = xasprintf("%s.%s", s, t);
    free(full);
    free(s);
    free(t);
    return out;
}

const char *names_schema_or_default(const char *schema)
{
    return schema != NULL ? schema : NAMES_DEFAULT_SCHEMA;
}

char *names_qualified(const char *schema, const char *table)
{
    return xasprintf("%s.%s", names_schema_or_default(schema), table);
}

/* Reads one part of a typed name at *p into a new string, folded; NULL when malformed. */
static char *read_part(const char **p)
{
    const char *s = *p;
    char *out;
    if (*s == '"') {
        size_t cap = strlen(s), n = 0;
        out = xmalloc(cap + 1);
        for (s++;; s++) {
            if (*s == '\0')
                goto fail;
            if (*s == '"') {
                if (s[1] != '"')
                    break;
                s++;
            }
            out[n++] = *s;
        }
        s++;
        out[n] = '\0';
        if (n == 0)
            goto fail;
    } else {
        size_t n = 0;
        while (s[n] != '\0' && s[n] != '.' && s[n] != '"')
            n++;
        out = xstrndup(s, n);
        s += n;
        char *t = str_trim(out);
        if (t != out)
            memmove(out, t, strlen(t) + 1);
        if (out[0] == '\0' || strpbrk(out, " \t\r\n") != NULL)
            goto fail;
        str_lower(out);
    }
    *p = s;
    return out;
fail:
    free(out);
    return NULL;
}

char *names_parse_qualified(const char *text)
{
    const char *p = text;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    char *schema = read_part(&p);
    char *table = NULL;
    if (schema == NULL || *p != '.')
        goto fail;
    p++;
    table = read_part(&p);
    if (table == NULL)
        goto fail;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    if (*p != '\0')
        goto fail;
    char *name = xasprintf("%s.%s", schema, table);
    free(schema);
    free(table);
    return name;
fail:
    free(schema);
    free(table);
    return NULL;
}

char *names_parse_view(const char *text)
{
    char *name = names_parse_qualified(text);
    if (name == NULL) {
        char *qualified = xasprintf("%s.%s", NAMES_DEFAULT_SCHEMA, text);
        name = names_parse_qualified(qualified);
        free(qualified);
    }
    return name;
}
