/*
 * Collecting, ordering and printing repository problems (see diag.h).
 */
#include "catalog/diag.h"

#include <stdlib.h>
#include <string.h>

/* Appends a problem with its message formatted from fmt and ap. */
static void diag_addv(DiagList *d, const char *path, int line, int column, const char *fmt,
                      va_list ap) PRINTF_LIKE(5, 0);

static void diag_addv(DiagList *d, const char *path, int line, int column, const char *fmt,
                      va_list ap)
{
    grow_array((void **)&d->items, &d->cap, d->n + 1, sizeof(Diag));
    d->items[d->n].message = xvasprintf(fmt, ap);
    d->items[d->n].path = xstrdup(path);
    d->items[d->n].line = line < 1 ? 1 : line;
    d->items[d->n].column = column < 0 ? 0 : column;
    d->n++;
}

void diag_add(DiagList *d, const char *path, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_addv(d, path, line, 0, fmt, ap);
    va_end(ap);
}

void diag_add_at(DiagList *d, const char *path, int line, int column, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_addv(d, path, line, column, fmt, ap);
    va_end(ap);
}

static int cmp_diag(const void *pa, const void *pb)
{
    const Diag *a = pa, *b = pb;
    int c = strcmp(a->path, b->path);
    if (c)
        return c;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    if (a->column != b->column)
        return a->column < b->column ? -1 : 1;
    return strcmp(a->message, b->message);
}

void diag_sort(DiagList *d)
{
    if (d->n > 1)
        qsort(d->items, d->n, sizeof(Diag), cmp_diag);
}

char *diag_format(const Diag *d, const char *prefix)
{
    bool with_prefix = prefix && *prefix && strcmp(prefix, ".") != 0;
    size_t plen = with_prefix ? strlen(prefix) : 0;
    bool slash = with_prefix && prefix[plen - 1] != '/';
    char column[16] = "";
    if (d->column > 0)
        snprintf(column, sizeof(column), ":%d", d->column);
    return xasprintf("%s%s%s:%d%s: %s", with_prefix ? prefix : "", slash ? "/" : "", d->path,
                     d->line, column, d->message);
}

void diag_print(const DiagList *d, const char *prefix, FILE *out)
{
    for (size_t i = 0; i < d->n; i++) {
        char *line = diag_format(&d->items[i], prefix);
        fprintf(out, "%s\n", line);
        free(line);
    }
}

void diag_free(DiagList *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->items[i].path);
        free(d->items[i].message);
    }
    free(d->items);
    memset(d, 0, sizeof(*d));
}
