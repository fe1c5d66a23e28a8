/*
 * Problems found while reading a views repository, each tied to a file and a
 * line, printed as "path:line: message". A run collects all of them rather
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
    char *message;
} Diag;

typedef struct DiagList {
    Diag *items;
    size_t n;
    size_t cap;
} DiagList;

void diag_add(DiagList *d, const char *path, int line, const char *fmt, ...) PRINTF_LIKE(4, 5);
/* Sorts by path, then line, then message, so that output is stable. */
void diag_sort(DiagList *d);
/* Prints each problem as "PREFIX/path:line: message" (no prefix when prefix is NULL or "."). */
void diag_print(const DiagList *d, const char *prefix, FILE *out);
void diag_free(DiagList *d);

#endif
