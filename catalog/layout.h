/*
 * The repository layout: what a file's path means (README, "File names"). A view file,
 * its tests, a config at one of the five places, a processor's parts, or
 * nothing Duro reads. Pure: a path in, a classification out; no file is opened.
 */
#ifndef DURO_CATALOG_LAYOUT_H
#define DURO_CATALOG_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum LayoutRole {
    LAYOUT_IGNORED,      /* not a file Duro reads (README.md, notes.txt, ...) */
    LAYOUT_ERROR,        /* a file Duro would read, with a bad name: see error */
    LAYOUT_VIEW,         /* <table><SEP><interval>.sql or <table>.sql */
    LAYOUT_TESTS,        /* <table>_test.sql */
    LAYOUT_SELECT,       /* <table>_select.sql: a processor's input query */
    LAYOUT_PROCESSOR,    /* <table>.py */
    LAYOUT_REQUIREMENTS, /* <table>_requirements.txt */
    LAYOUT_GLOBAL_CONF,  /* global.conf at the root */
    LAYOUT_SCHEMA_CONF,  /* <schema>.conf at the root, or <schema>/<schema>.conf */
    LAYOUT_TABLE_CONF,   /* <schema>.<table>.conf at the root, or <schema>/<table>.conf */
} LayoutRole;

typedef struct LayoutName {
    LayoutRole role;
    bool top_level; /* the file sits at the root (schema.table naming) */
    char schema[128];
    char table[128];  /* empty for schema and global configs */
    int64_t interval; /* LAYOUT_VIEW: seconds, 0 = no interval in the name */
    char error[320];  /* LAYOUT_ERROR: what is wrong, for "path:1: error" */
} LayoutName;

/*
 * Classifies path ('/'-separated, relative to the repository root). Names are
 * folded to lower case as unquoted SQL identifiers are; max_ident is the
 * warehouse's identifier length limit, which schema names and table names plus
 * Duro's longest suffix must fit.
 */
void layout_classify(const char *path, int max_ident, LayoutName *out);

/* Whether s is an SQL identifier as Duro accepts in names: [A-Za-z_][A-Za-z0-9_]*. */
bool layout_is_identifier(const char *s, size_t len);

#endif
