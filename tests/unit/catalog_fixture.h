/*
 * What the catalog's unit tests share: a fresh temporary directory per test with the path of a
 * catalog file in it (not created), removed with everything in it afterwards. Not for: opening
 * the catalog or filling it (each test says what it needs).
 */
#ifndef DURO_TESTS_CATALOG_FIXTURE_H
#define DURO_TESTS_CATALOG_FIXTURE_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"

typedef struct Fixture {
    char dir[64];
    char *db; /* dir/duro.db */
} Fixture;

static int setup(void **state)
{
    Fixture *f = xcalloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/duro-test-catalog-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    f->db = xasprintf("%s/duro.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    DIR *d = opendir(f->dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char *p = xasprintf("%s/%s", f->dir, e->d_name);
            unlink(p);
            free(p);
        }
        closedir(d);
    }
    rmdir(f->dir);
    free(f->db);
    free(f);
    return 0;
}

#endif
