/*
 * Problems found while reading a views repository, each tied to a file and a
 * line, printed as "path:line: message" ("path:line:column: message" when the
 * column is known: SQL syntax errors). A run collects all of them rather
 * than stopping at the first. Line 1 stands for "the file as a whole".
 */
#ifndef DURO_CATALOG_DIAG_H
#define DURO_CATALOG_DIAG_H

#include <stddef.h>
#include <stdio.h>

#include "core/util.h"

typedef struct Diag {
    char *path; /* relative to the repository root */
    int line;   /* 1-based */
    int column; /* 1-based, in characters; 0 when not known */
    char *message;
} Diag;

typedef struct DiagList {
    Diag *items;
    size_t n;
    size_t cap;
} DiagList;

void diag_add(DiagList *d, const char *path, int line, const char *fmt, ...) PRINTF_LIKE(4, 5);
/* diag_add with a column (0: none). */
void diag_add_at(DiagList *d, const char *path, int line, int column, const char *fmt, ...)
    PRINTF_LIKE(5, 6);
/* Sorts by path, then line, then column, then message, so that output is stable. */
void diag_sort(DiagList *d);
/* One problem as "PREFIX/path:line: message" or "PREFIX/path:line:column: message" (no prefix
 * when prefix is NULL or "."); caller frees. */
char *diag_format(const Diag *d, const char *prefix);
/* Prints each problem as diag_format does, one a line. */
void diag_print(const DiagList *d, const char *prefix, FILE *out);
void diag_free(DiagList *d);

#endif
