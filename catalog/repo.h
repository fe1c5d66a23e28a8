/*
 * The views repository as Duro understands it: every view with its SQL, tests,
 * effective configuration, dependencies and effective interval, plus every
 * problem found. repo_build() is pure (files in memory to a Repo);
 * repo_load() is the thin I/O edge that reads a directory and calls it.
 */
#ifndef DURO_CATALOG_REPO_H
#define DURO_CATALOG_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog/config.h"
#include "catalog/diag.h"
#include "catalog/names.h"
#include "core/settings.h"
#include "core/util.h"

/* Identifier limits: catalog/names (PostgreSQL's, the default; Redshift's). */
#define REPO_MAX_IDENT_POSTGRES NAMES_MAX_IDENT
#define REPO_MAX_IDENT_REDSHIFT NAMES_MAX_IDENT_REDSHIFT
/* The longest suffix Duro appends to a table name ("_duro_temp"). */
#define REPO_TABLE_SUFFIX_MAX 10
/* The largest SQL file (query, tests, DDL) Duro analyses. */
#define REPO_MAX_SQL_BYTES (1024 * 1024)
/* Stack of the threads that run the PostgreSQL parser, which recurses per nesting level. */
#define REPO_PARSER_STACK (64u * 1024 * 1024)

/* A file of the repository, read into memory. */
typedef struct RepoFile {
    char *path; /* relative to the root, '/'-separated: "first/cities — 24h.sql" */
    char *text; /* NUL-terminated contents */
} RepoFile;

typedef enum ViewKind {
    VIEW_KIND_SQL,       /* the .sql file is the query */
    VIEW_KIND_PROCESSOR, /* _select.sql feeds a .py whose result has the .sql file's DDL */
} ViewKind;

typedef struct View {
    char *name;   /* "schema.table", lower case */
    char *schema; /* "schema" */
    char *table;  /* "table" */
    ViewKind kind;
    char *source;       /* path of the view file (the one carrying the interval) */
    char *query;        /* the SELECT (for processors: the _select.sql text) */
    char *query_source; /* path the query came from */
    char *ddl;          /* processors: the CREATE TABLE of the result; else NULL */
    char *tests;        /* text of the _test.sql file, or NULL */
    char *tests_source;
    char *processor;    /* processors: path of the .py file */
    char *requirements; /* processors: path of _requirements.txt, or NULL */
    char *processor_text;
    char *requirements_text;
    int64_t interval;           /* own interval in seconds; 0 = none */
    int64_t effective_interval; /* seconds; 0 = none (an error unless disabled) */
    ViewConfig config;          /* effective, after inheritance */
    char *config_text;          /* config_describe(&config) */
    bool enabled;               /* own enabled and every dependency's */
    bool tokenized;             /* the parser rejected the query; deps came from the tokenizer */
    StrVec columns;             /* output columns, when columns_known */
    bool columns_known;
    size_t *deps; /* indices into Repo.views of the views this one reads, sorted by name */
    size_t n_deps;
    size_t *dependents; /* indices of the views that read this one, sorted by name */
    size_t n_dependents;
    char hash[65]; /* SHA-256 hex of query, tests, DDL, processor files and config */
    char *cycle;   /* in a dependency cycle or reading one: "dependency cycle: a.x -> b.y ->
                      a.x" (never built); else NULL */
} View;

typedef struct RepoIndexEntry RepoIndexEntry; /* private: name -> index */

typedef struct Repo {
    View *views; /* sorted by name */
    size_t n_views;
    DiagList diags;  /* every problem found; a repository is valid when empty */
    size_t n_cycles; /* of those, dependency cycles: the rest of the views can still be built */
    RepoIndexEntry *index;
    uint64_t fingerprint; /* repo_load: what repo_fingerprint said of the files read */
} Repo;

typedef struct RepoOptions {
    int max_ident_len; /* REPO_MAX_IDENT_POSTGRES (default when 0) or _REDSHIFT */
    Dialect dialect;   /* how SQL is read (catalog/sqlinfo): DIALECT_POSTGRES by default */
    int threads;       /* SQL analysis threads; 0 = one per online CPU */
} RepoOptions;

/*
 * Builds *out from files (which it does not take). Views with problems are
 * kept where that makes sense (e.g. a bad config line is skipped), dropped
 * where it does not (an unreadable name). Always fills out->diags.
 */
void repo_build(const RepoFile *files, size_t n_files, const RepoOptions *opt, Repo *out);

/*
 * Reads every file under dir (hidden entries skipped) and builds *out.
 * Returns 0, or -1 when dir itself cannot be read (out->diags says why).
 */
int repo_load(const char *dir, const RepoOptions *opt, Repo *out) MUST_CHECK;

/*
 * A fingerprint of the files repo_load would read under dir (their paths,
 * sizes, inodes and modification times), without reading them: equal to the
 * fingerprint of a Repo loaded from the same, unchanged files. Cheap enough to
 * decide whether a re-scan must load the repository again. 0, or -1 when dir
 * cannot be read.
 */
int repo_fingerprint(const char *dir, const RepoOptions *opt, uint64_t *fingerprint) MUST_CHECK;

void repo_free(Repo *r);

/* The view called name ("schema.table"), or NULL. */
View *repo_find(const Repo *r, const char *name);

void repo_files_free(RepoFile *files, size_t n);

#endif
