/*
 * Collecting, ordering and printing repository problems (see diag.h).
 */
#include "catalog/diag.h"

#include <stdlib.h>
#include <string.h>

void diag_add(DiagList *d, const char *path, int line, const char *fmt, ...)
{
    grow_array((void **)&d->items, &d->cap, d->n + 1, sizeof(Diag));
    va_list ap;
    va_start(ap, fmt);
    d->items[d->n].message = xvasprintf(fmt, ap);
    va_end(ap);
    d->items[d->n].path = xstrdup(path);
    d->items[d->n].line = line < 1 ? 1 : line;
    d->n++;
}

static int cmp_diag(const void *pa, const void *pb)
{
    const Diag *a = pa, *b = pb;
    int c = strcmp(a->path, b->path);
    if (c)
        return c;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    return strcmp(a->message, b->message);
}

void diag_sort(DiagList *d)
{
    if (d->n > 1)
        qsort(d->items, d->n, sizeof(Diag), cmp_diag);
}

void diag_print(const DiagList *d, const char *prefix, FILE *out)
{
    bool with_prefix = prefix && *prefix && strcmp(prefix, ".") != 0;
    size_t plen = with_prefix ? strlen(prefix) : 0;
    bool slash = with_prefix && prefix[plen - 1] != '/';
    for (size_t i = 0; i < d->n; i++)
        fprintf(out, "%s%s%s:%d: %s\n", with_prefix ? prefix : "", slash ? "/" : "",
                d->items[i].path, d->items[i].line, d->items[i].message);
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
