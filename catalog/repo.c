/*
 * Builds the views repository model (see repo.h): gathers the files of each
 * view, applies config inheritance, analyses the SQL (in parallel, it is the
 * costly part), resolves dependencies, finds cycles, and computes effective
 * intervals, enabled flags and definition hashes. repo_build is pure; the
 * directory walk at the end of the file is the only I/O.
 */
#include "catalog/repo.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uthash.h>

#include "catalog/interval.h"
#include "catalog/layout.h"
#include "catalog/sqlinfo.h"

struct RepoIndexEntry {
    const char *name; /* borrowed from the View */
    size_t index;
    UT_hash_handle hh;
};

/* The files that make up one view, gathered by name. */
typedef struct ViewFiles {
    int64_t interval;
    const RepoFile *view, *tests, *select, *py, *req;
    const RepoFile *conf[2]; /* top level schema.table.conf, then schema/table.conf */
    const ConfigFile *parsed[2];
    UT_hash_handle hh;
    char name[]; /* "schema.table" */
} ViewFiles;

/* The config files of one schema. */
typedef struct SchemaFiles {
    char schema[128];
    const RepoFile *conf[2]; /* top level schema.conf, then schema/schema.conf */
    const ConfigFile *parsed[2];
    UT_hash_handle hh;
} SchemaFiles;

/*
 * One piece of SQL to analyse; many are run by a few threads. A worker reduces
 * the analysis to what the view keeps (dependencies, output columns) and frees
 * the rest at once, so that memory does not grow with every relation seen.
 */
typedef struct SqlJob {
    const char *text;
    SqlKind kind;
    size_t view;  /* index into Repo.views */
    bool deps;    /* this job's relations are the view's dependencies */
    bool columns; /* this job's output columns are the view's */
    int rc;
    SqlError error;
} SqlJob;

typedef struct JobQueue {
    Repo *repo; /* views and index; each view is written by its own jobs only */
    Dialect dialect;
    SqlJob *jobs;
    size_t n;
    atomic_size_t next;
} JobQueue;

/* --- gathering files -------------------------------------------------------------------- */

static ViewFiles *files_for(ViewFiles **all, const LayoutName *ln)
{
    char name[260];
    snprintf(name, sizeof(name), "%s.%s", ln->schema, ln->table);
    ViewFiles *vf;
    HASH_FIND_STR(*all, name, vf);
    if (!vf) {
        size_t len = strlen(name);
        vf = xcalloc(1, sizeof(*vf) + len + 1);
        memcpy(vf->name, name, len + 1);
        HASH_ADD_KEYPTR(hh, *all, vf->name, len, vf);
    }
    return vf;
}

static SchemaFiles *schema_for(SchemaFiles **all, const char *schema)
{
    SchemaFiles *sf;
    HASH_FIND_STR(*all, schema, sf);
    if (!sf) {
        sf = xcalloc(1, sizeof(*sf));
        snprintf(sf->schema, sizeof(sf->schema), "%s", schema);
        HASH_ADD_STR(*all, schema, sf);
    }
    return sf;
}

/* Records f in *slot, or reports it as a second file for the same purpose. */
static void claim(const RepoFile **slot, const RepoFile *f, const char *what, const char *name,
                  DiagList *diags)
{
    if (*slot) {
        diag_add(diags, f->path, 1, "duplicate %s for %s: '%s' already provides it", what, name,
                 (*slot)->path);
        return;
    }
    *slot = f;
}

static int cmp_file_ptr(const void *a, const void *b)
{
    return strcmp((*(const RepoFile *const *)a)->path, (*(const RepoFile *const *)b)->path);
}

/* Sorts files by path and sorts each into its view or schema. */
static void gather(const RepoFile *files, size_t n, int max_ident, ViewFiles **views,
                   SchemaFiles **schemas, const RepoFile **global, DiagList *diags)
{
    const RepoFile **sorted = xmalloc((n ? n : 1) * sizeof(*sorted));
    for (size_t i = 0; i < n; i++)
        sorted[i] = &files[i];
    qsort(sorted, n, sizeof(*sorted), cmp_file_ptr);

    for (size_t i = 0; i < n; i++) {
        const RepoFile *f = sorted[i];
        LayoutName ln;
        layout_classify(f->path, max_ident, &ln);
        int place = ln.top_level ? 0 : 1;
        switch (ln.role) {
        case LAYOUT_IGNORED:
            break;
        case LAYOUT_ERROR:
            diag_add(diags, f->path, 1, "%s", ln.error);
            break;
        case LAYOUT_GLOBAL_CONF:
            *global = f;
            break;
        case LAYOUT_SCHEMA_CONF:
            schema_for(schemas, ln.schema)->conf[place] = f;
            break;
        case LAYOUT_TABLE_CONF:
            files_for(views, &ln)->conf[place] = f;
            break;
        case LAYOUT_VIEW: {
            ViewFiles *vf = files_for(views, &ln);
            claim(&vf->view, f, "view file", vf->name, diags);
            if (vf->view == f)
                vf->interval = ln.interval;
            break;
        }
        case LAYOUT_TESTS:
            claim(&files_for(views, &ln)->tests, f, "tests file", files_for(views, &ln)->name,
                  diags);
            break;
        case LAYOUT_SELECT:
            claim(&files_for(views, &ln)->select, f, "input query", files_for(views, &ln)->name,
                  diags);
            break;
        case LAYOUT_PROCESSOR:
            claim(&files_for(views, &ln)->py, f, "processor", files_for(views, &ln)->name, diags);
            break;
        case LAYOUT_REQUIREMENTS:
            claim(&files_for(views, &ln)->req, f, "requirements file", files_for(views, &ln)->name,
                  diags);
            break;
        }
    }
    free(sorted);
}

/* --- analysing SQL in parallel ---------------------------------------------------------- */

static void resolve_deps(Repo *r, size_t vi, const SqlInfo *info);

static void *job_worker(void *arg)
{
    JobQueue *q = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&q->next, 1);
        if (i >= q->n)
            break;
        SqlJob *j = &q->jobs[i];
        SqlInfo info;
        j->rc = sqlinfo_analyze_as(j->text, j->kind, q->dialect, &info, &j->error);
        if (j->rc != 0)
            continue;
        View *v = &q->repo->views[j->view];
        const SqlRelation *made = &info.created;
        if (j->kind == SQL_KIND_DDL && (strcmp(made->name, v->table) != 0 ||
                                        (made->schema && strcmp(made->schema, v->schema) != 0))) {
            /* A processor's DDL is the view's table: its temp copy is made by renaming it. */
            j->rc = -1;
            j->error.message =
                xasprintf("the DDL creates %s%s%s, not %s", made->schema ? made->schema : "",
                          made->schema ? "." : "", made->name, v->name);
            j->error.offset = made->location;
        }
        if (j->deps) {
            resolve_deps(q->repo, j->view, &info);
            v->tokenized = info.mode == SQL_TOKENIZED;
        }
        if (j->columns && info.columns_known) {
            v->columns_known = true;
            v->columns = info.columns; /* moved */
            info.columns = (StrVec){0};
        }
        sqlinfo_free(&info);
    }
    return NULL;
}

/*
 * Runs every job on up to `threads` threads. The threads get large stacks: the
 * PostgreSQL parser recurses once per nesting level of an expression.
 */
static void run_jobs(Repo *repo, Dialect dialect, SqlJob *jobs, size_t n, int threads)
{
    JobQueue q = {repo, dialect, jobs, n, 0};
    if (threads <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cpus > 0 ? (int)cpus : 1;
    }
    if (threads > 16)
        threads = 16;
    if (n < 64)
        threads = 1;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, REPO_PARSER_STACK);
    pthread_t tids[16];
    int started = 0;
    for (int t = 0; t < threads; t++)
        if (pthread_create(&tids[started], &attr, job_worker, &q) == 0)
            started++;
    pthread_attr_destroy(&attr);
    if (started == 0)
        job_worker(&q); /* no thread could be had: do the work here */
    for (int t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
}

/* Reports a failed job against the file its text came from. */
static void report_job(const SqlJob *j, const char *path, DiagList *diags)
{
    if (j->rc == 0)
        return;
    /* A syntax error has the parser's position: line and column. */
    diag_add_at(diags, path, sqlinfo_line_of(j->text, j->error.offset),
                j->error.syntax ? sqlinfo_column_of(j->text, j->error.offset) : 0, "%s",
                j->error.message ? j->error.message : "invalid SQL");
}

/* --- the model --------------------------------------------------------------------------- */

static int cmp_files_name(const void *a, const void *b)
{
    return strcmp((*(ViewFiles *const *)a)->name, (*(ViewFiles *const *)b)->name);
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* Reports the files of vf that cannot stand without a view file (or a processor). */
static void check_orphans(const ViewFiles *vf, DiagList *diags)
{
    const char *table = strchr(vf->name, '.') + 1;
    if (!vf->view) {
        const RepoFile *parts[] = {vf->tests, vf->conf[0], vf->conf[1], vf->select, vf->req};
        const char *what[] = {"tests", "config", "config", "input query", "requirements"};
        for (size_t i = 0; i < ARRAY_LEN(parts); i++)
            if (parts[i])
                diag_add(diags, parts[i]->path, 1, "%s for %s, which has no view file", what[i],
                         vf->name);
        if (vf->py)
            diag_add(diags, vf->py->path, 1,
                     "processor %s has no DDL file ('%s - 1h.sql' holding the CREATE TABLE of "
                     "its result)",
                     vf->name, table);
        return;
    }
    if (vf->py && !vf->select)
        diag_add(diags, vf->py->path, 1, "processor %s has no input query (%s_select.sql)",
                 vf->name, table);
    if (!vf->py && vf->select)
        diag_add(diags, vf->select->path, 1,
                 "%s_select.sql is a processor's input query, but there is no %s.py", table, table);
    if (!vf->py && vf->req)
        diag_add(diags, vf->req->path, 1, "requirements for %s, which has no processor (%s.py)",
                 vf->name, table);
}

/* Parses config file f into *slot; returns slot, or NULL when there is no file. */
static const ConfigFile *parse_config(const RepoFile *f, ConfigFile *slot, size_t *n,
                                      DiagList *diags)
{
    if (!f)
        return NULL;
    config_file_parse(f->path, f->text, slot, diags);
    (*n)++;
    return slot;
}

/* Hex SHA-256 of everything that defines what a view builds. */
static void hash_definition(View *v)
{
    const char *parts[] = {v->kind == VIEW_KIND_PROCESSOR ? "processor" : "sql",
                           v->query,
                           v->tests,
                           v->ddl,
                           v->processor_text,
                           v->requirements_text,
                           v->config_text};
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
        abort();
    for (size_t i = 0; i < ARRAY_LEN(parts); i++) {
        /* Each part is length-prefixed so that moving text between parts changes the hash. */
        char prefix[32];
        int pl = snprintf(prefix, sizeof(prefix), "%zu:", parts[i] ? strlen(parts[i]) : (size_t)0);
        EVP_DigestUpdate(ctx, prefix, (size_t)pl);
        if (parts[i])
            EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]));
    }
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    hex_encode(md, len < 32 ? len : 32, v->hash);
}

/* Checks that distkey and sortkey name output columns of the view's query. */
static void check_keys(const View *v, DiagList *diags)
{
    if (v->config.diststyle && strcmp(v->config.diststyle, "key") == 0 && !v->config.distkey)
        diag_add(diags, v->source, 1,
                 "%s has diststyle=key but no distkey (Redshift needs the column to distribute on)",
                 v->name);
    if (!v->columns_known)
        return;
    char *columns = strvec_join(&v->columns, ", ");
    const ViewConfig *c = &v->config;
    if (c->distkey && !strvec_contains(&v->columns, c->distkey))
        diag_add(diags, c->distkey_origin.path, c->distkey_origin.line,
                 "distkey '%s' is not an output column of %s (its columns: %s)", c->distkey,
                 v->name, columns);
    for (size_t i = 0; i < c->sortkey.n; i++)
        if (!strvec_contains(&v->columns, c->sortkey.items[i]))
            diag_add(diags, c->sortkey_origin.path, c->sortkey_origin.line,
                     "sortkey column '%s' is not an output column of %s (its columns: %s)",
                     c->sortkey.items[i], v->name, columns);
    free(columns);
}

/* Adds index d to v's dependencies unless it is there already. */
static void add_dep(View *v, size_t d, size_t *cap)
{
    for (size_t i = 0; i < v->n_deps; i++)
        if (v->deps[i] == d)
            return;
    grow_array((void **)&v->deps, cap, v->n_deps + 1, sizeof(size_t));
    v->deps[v->n_deps++] = d;
}

/* Resolves the relations a view reads to managed views (unqualified names: the default schema). */
static void resolve_deps(Repo *r, size_t vi, const SqlInfo *info)
{
    View *v = &r->views[vi];
    size_t cap = 0;
    for (size_t i = 0; i < info->n_relations; i++) {
        const SqlRelation *rel = &info->relations[i];
        char name[600];
        snprintf(name, sizeof(name), "%s.%s", names_schema_or_default(rel->schema), rel->name);
        RepoIndexEntry *e;
        HASH_FIND_STR(r->index, name, e);
        if (e && e->index != vi) /* a view reading its own previous version is no dependency */
            add_dep(v, e->index, &cap);
    }
    if (v->n_deps > 1)
        qsort(v->deps, v->n_deps, sizeof(size_t), cmp_size);
}

/* Fills every view's dependents from the dependencies. */
static void link_dependents(Repo *r)
{
    size_t *caps = xcalloc(r->n_views ? r->n_views : 1, sizeof(size_t));
    for (size_t i = 0; i < r->n_views; i++) {
        for (size_t k = 0; k < r->views[i].n_deps; k++) {
            View *d = &r->views[r->views[i].deps[k]];
            size_t di = r->views[i].deps[k];
            grow_array((void **)&d->dependents, &caps[di], d->n_dependents + 1, sizeof(size_t));
            d->dependents[d->n_dependents++] = i; /* i ascends, so this stays sorted */
        }
    }
    free(caps);
}

/*
 * Orders views dependencies-first (iterative DFS, post-order) into order[] and
 * reports each dependency cycle once, as "a.x -> b.y -> a.x".
 */
static void order_views(Repo *r, size_t *order)
{
    enum { WHITE, GRAY, BLACK };
    size_t n = r->n_views, emitted = 0;
    unsigned char *color = xcalloc(n ? n : 1, 1);
    bool *in_cycle = xcalloc(n ? n : 1, sizeof(bool));
    size_t *stack = xmalloc((n ? n : 1) * sizeof(size_t));
    size_t *edge = xmalloc((n ? n : 1) * sizeof(size_t));
    for (size_t root = 0; root < n; root++) {
        if (color[root] != WHITE)
            continue;
        size_t depth = 0;
        stack[depth] = root;
        edge[depth] = 0;
        color[root] = GRAY;
        while (true) {
            size_t v = stack[depth];
            if (edge[depth] < r->views[v].n_deps) {
                size_t d = r->views[v].deps[edge[depth]++];
                if (color[d] == WHITE) {
                    color[d] = GRAY;
                    stack[++depth] = d;
                    edge[depth] = 0;
                } else if (color[d] == GRAY) {
                    size_t from = depth;
                    while (stack[from] != d)
                        from--;
                    bool seen = false;
                    for (size_t k = from; k <= depth; k++)
                        seen |= in_cycle[stack[k]];
                    if (!seen) {
                        StrVec names = {0};
                        for (size_t k = from; k <= depth; k++) {
                            in_cycle[stack[k]] = true;
                            strvec_push(&names, r->views[stack[k]].name);
                        }
                        strvec_push(&names, r->views[d].name);
                        char *path = strvec_join(&names, " -> ");
                        diag_add(&r->diags, r->views[d].source, 1, "dependency cycle: %s", path);
                        r->n_cycles++;
                        for (size_t k = from; k <= depth; k++)
                            if (!r->views[stack[k]].cycle)
                                r->views[stack[k]].cycle = xasprintf("dependency cycle: %s", path);
                        free(path);
                        strvec_free(&names);
                    }
                }
                continue;
            }
            color[v] = BLACK;
            order[emitted++] = v;
            if (depth == 0)
                break;
            depth--;
        }
    }
    free(color);
    free(in_cycle);
    free(stack);
    free(edge);
}

/* Gives every view that reads a view in a cycle, directly or not, the cycle's text. */
static void mark_cycle_dependents(Repo *r)
{
    size_t n = r->n_views;
    size_t *queue = xmalloc((n ? n : 1) * sizeof(size_t));
    size_t head = 0, tail = 0;
    for (size_t i = 0; i < n; i++)
        if (r->views[i].cycle)
            queue[tail++] = i;
    while (head < tail) {
        const View *v = &r->views[queue[head++]];
        for (size_t k = 0; k < v->n_dependents; k++) {
            View *d = &r->views[v->dependents[k]];
            if (d->cycle)
                continue;
            d->cycle = xstrdup(v->cycle);
            queue[tail++] = v->dependents[k];
        }
    }
    free(queue);
}

/* Effective intervals (dependents first) and enabled flags (dependencies first). */
static void derive_schedule(Repo *r, const size_t *order)
{
    /* Own flags first: in a dependency cycle a view comes before one of its dependencies. */
    for (size_t k = 0; k < r->n_views; k++)
        r->views[k].enabled = r->views[k].config.enabled;
    for (size_t k = 0; k < r->n_views; k++) {
        View *v = &r->views[order[k]];
        for (size_t i = 0; i < v->n_deps; i++)
            v->enabled = v->enabled && r->views[v->deps[i]].enabled;
    }
    for (size_t k = r->n_views; k-- > 0;) {
        View *v = &r->views[order[k]];
        v->effective_interval = v->interval;
        if (v->interval)
            continue;
        for (size_t i = 0; i < v->n_dependents; i++) {
            int64_t e = r->views[v->dependents[i]].effective_interval;
            if (e && (!v->effective_interval || e < v->effective_interval))
                v->effective_interval = e;
        }
    }
    for (size_t i = 0; i < r->n_views; i++) {
        View *v = &r->views[i];
        if (!v->effective_interval && v->enabled)
            diag_add(&r->diags, v->source, 1,
                     "%s has no interval and no view with an interval depends on it: add one "
                     "to the file name (as in '%s - 1h.sql') or set enabled=false",
                     v->name, v->table);
    }
}

/* Fills the View for vf from its files and the config chain. */
/* The text of f for a view: moved out of f when the build owns the files, else copied. */
static char *take_text(const RepoFile *f, bool move)
{
    if (!move)
        return xstrdup(f->text);
    char *text = f->text;
    ((RepoFile *)f)->text = NULL;
    return text;
}

static void init_view(View *v, const ViewFiles *vf, const ConfigFile *const chain[5], bool move)
{
    const char *dot = strchr(vf->name, '.');
    v->name = xstrdup(vf->name);
    v->schema = xstrndup(vf->name, (size_t)(dot - vf->name));
    v->table = xstrdup(dot + 1);
    v->source = xstrdup(vf->view->path);
    v->interval = vf->interval;
    if (vf->py) {
        v->kind = VIEW_KIND_PROCESSOR;
        v->ddl = take_text(vf->view, move);
        v->processor = xstrdup(vf->py->path);
        v->processor_text = take_text(vf->py, move);
        v->query = vf->select ? take_text(vf->select, move) : xstrdup("");
        v->query_source = xstrdup(vf->select ? vf->select->path : vf->py->path);
        if (vf->req) {
            v->requirements = xstrdup(vf->req->path);
            v->requirements_text = take_text(vf->req, move);
        }
    } else {
        v->kind = VIEW_KIND_SQL;
        v->query = take_text(vf->view, move);
        v->query_source = xstrdup(vf->view->path);
    }
    if (vf->tests) {
        v->tests = take_text(vf->tests, move);
        v->tests_source = xstrdup(vf->tests->path);
    }
    config_init(&v->config);
    for (int i = 0; i < 5; i++)
        if (chain[i])
            config_apply(&v->config, chain[i]);
    v->config_text = config_describe(&v->config);
}

/* repo_build, moving the texts of views out of files when `move` (the caller then owns no text). */
static void build(const RepoFile *files, size_t n_files, const RepoOptions *opt, bool move,
                  Repo *out)
{
    memset(out, 0, sizeof(*out));
    int max_ident = opt && opt->max_ident_len > 0 ? opt->max_ident_len : REPO_MAX_IDENT_POSTGRES;
    ViewFiles *vfs = NULL;
    SchemaFiles *sfs = NULL;
    const RepoFile *global = NULL;
    gather(files, n_files, max_ident, &vfs, &sfs, &global, &out->diags);

    /* Config files, each parsed once and kept beside the view or schema it configures. */
    ConfigFile *configs = xcalloc(n_files + 1, sizeof(ConfigFile));
    size_t n_conf = 0;
    const ConfigFile *global_conf = parse_config(global, &configs[n_conf], &n_conf, &out->diags);
    for (SchemaFiles *sf = sfs; sf; sf = sf->hh.next)
        for (int i = 0; i < 2; i++)
            sf->parsed[i] = parse_config(sf->conf[i], &configs[n_conf], &n_conf, &out->diags);
    for (ViewFiles *vf = vfs; vf; vf = vf->hh.next)
        for (int i = 0; i < 2; i++)
            vf->parsed[i] = parse_config(vf->conf[i], &configs[n_conf], &n_conf, &out->diags);

    /* Views, sorted by name. */
    size_t n_vf = HASH_COUNT(vfs), n = 0;
    ViewFiles **sorted = xmalloc((n_vf ? n_vf : 1) * sizeof(*sorted));
    for (ViewFiles *vf = vfs; vf; vf = vf->hh.next) {
        check_orphans(vf, &out->diags);
        if (vf->view)
            sorted[n++] = vf;
    }
    qsort(sorted, n, sizeof(*sorted), cmp_files_name);
    out->views = xcalloc(n ? n : 1, sizeof(View));
    out->n_views = n;
    for (size_t i = 0; i < n; i++) {
        const ViewFiles *vf = sorted[i];
        SchemaFiles *sf;
        char schema[128];
        snprintf(schema, sizeof(schema), "%.*s", (int)(strchr(vf->name, '.') - vf->name), vf->name);
        HASH_FIND_STR(sfs, schema, sf);
        const ConfigFile *chain[5] = {
            global_conf,   sf ? sf->parsed[0] : NULL, sf ? sf->parsed[1] : NULL, vf->parsed[0],
            vf->parsed[1],
        };
        init_view(&out->views[i], vf, chain, move);
        RepoIndexEntry *e = xcalloc(1, sizeof(*e));
        e->name = out->views[i].name;
        e->index = i;
        HASH_ADD_KEYPTR(hh, out->index, e->name, strlen(e->name), e);
    }

    /* SQL: the query, the tests and (processors) the DDL of every view; slot[3i+k] = job or -1. */
    size_t max_jobs = 0;
    for (size_t i = 0; i < n; i++)
        max_jobs += 1 + (out->views[i].tests != NULL) + (out->views[i].ddl != NULL);
    SqlJob *jobs = xcalloc(max_jobs ? max_jobs : 1, sizeof(SqlJob));
    long *slot = xmalloc(3 * (n ? n : 1) * sizeof(long));
    size_t n_jobs = 0;
    for (size_t i = 0; i < n; i++) {
        View *v = &out->views[i];
        bool no_select = v->kind == VIEW_KIND_PROCESSOR && !sorted[i]->select;
        const char *texts[3] = {no_select ? NULL : v->query, v->tests, v->ddl};
        const SqlKind kinds[3] = {SQL_KIND_QUERY, SQL_KIND_TESTS, SQL_KIND_DDL};
        const char *paths[3] = {v->query_source, v->tests_source, v->source};
        for (int k = 0; k < 3; k++) {
            size_t len = texts[k] ? strlen(texts[k]) : 0;
            if (len > REPO_MAX_SQL_BYTES) {
                diag_add(&out->diags, paths[k], 1,
                         "file is %zu KiB; Duro reads SQL files of at most %d KiB", len / 1024,
                         REPO_MAX_SQL_BYTES / 1024);
                texts[k] = NULL;
            }
            slot[3 * i + k] = texts[k] ? (long)n_jobs : -1;
            if (texts[k])
                jobs[n_jobs++] = (SqlJob){
                    .text = texts[k],
                    .kind = kinds[k],
                    .view = i,
                    .deps = kinds[k] == SQL_KIND_QUERY,
                    .columns = kinds[k] ==
                               (v->kind == VIEW_KIND_PROCESSOR ? SQL_KIND_DDL : SQL_KIND_QUERY),
                };
        }
    }
    run_jobs(out, opt ? opt->dialect : DIALECT_POSTGRES, jobs, n_jobs, opt ? opt->threads : 0);

    for (size_t i = 0; i < n; i++) {
        View *v = &out->views[i];
        SqlJob *q = slot[3 * i] >= 0 ? &jobs[slot[3 * i]] : NULL;
        SqlJob *t = slot[3 * i + 1] >= 0 ? &jobs[slot[3 * i + 1]] : NULL;
        SqlJob *d = slot[3 * i + 2] >= 0 ? &jobs[slot[3 * i + 2]] : NULL;
        if (q)
            report_job(q, v->query_source, &out->diags);
        if (t)
            report_job(t, v->tests_source, &out->diags);
        if (d)
            report_job(d, v->source, &out->diags);
        check_keys(v, &out->diags);
        /* Origins point into the parsed config files, which end with this build. */
        v->config.distkey_origin = (ConfigOrigin){0};
        v->config.sortkey_origin = (ConfigOrigin){0};
        hash_definition(v);
    }
    free(slot);
    for (size_t j = 0; j < n_jobs; j++)
        free(jobs[j].error.message);
    free(jobs);

    link_dependents(out);
    size_t *order = xmalloc((n ? n : 1) * sizeof(size_t));
    order_views(out, order);
    mark_cycle_dependents(out);
    derive_schedule(out, order);
    free(order);
    diag_sort(&out->diags);

    for (size_t i = 0; i < n_conf; i++)
        config_file_free(&configs[i]);
    free(configs);
    free(sorted);
    ViewFiles *vf, *vtmp;
    HASH_ITER(hh, vfs, vf, vtmp)
    {
        HASH_DEL(vfs, vf);
        free(vf);
    }
    SchemaFiles *sf, *stmp;
    HASH_ITER(hh, sfs, sf, stmp)
    {
        HASH_DEL(sfs, sf);
        free(sf);
    }
}

void repo_build(const RepoFile *files, size_t n_files, const RepoOptions *opt, Repo *out)
{
    build(files, n_files, opt, false, out);
}

View *repo_find(const Repo *r, const char *name)
{
    RepoIndexEntry *e;
    HASH_FIND_STR(r->index, name, e);
    return e ? &r->views[e->index] : NULL;
}

void repo_free(Repo *r)
{
    RepoIndexEntry *e, *tmp;
    HASH_ITER(hh, r->index, e, tmp)
    {
        HASH_DEL(r->index, e);
        free(e);
    }
    for (size_t i = 0; i < r->n_views; i++) {
        View *v = &r->views[i];
        free(v->name);
        free(v->schema);
        free(v->table);
        free(v->source);
        free(v->query);
        free(v->query_source);
        free(v->ddl);
        free(v->tests);
        free(v->tests_source);
        free(v->processor);
        free(v->requirements);
        free(v->processor_text);
        free(v->requirements_text);
        free(v->cycle);
        free(v->config_text);
        config_free(&v->config);
        strvec_free(&v->columns);
        free(v->deps);
        free(v->dependents);
    }
    free(r->views);
    diag_free(&r->diags);
    memset(r, 0, sizeof(*r));
}

void repo_files_free(RepoFile *files, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(files[i].path);
        free(files[i].text);
    }
    free(files);
}

/* --- reading a directory (the only I/O here) --------------------------------------------- */

typedef struct FileList {
    RepoFile *items;
    size_t n;
    size_t cap;
    bool read;            /* read the files; else only fingerprint them */
    uint64_t fingerprint; /* FNV-1a over every file's path, size, inode and mtime */
} FileList;

/* Folds n bytes into an FNV-1a hash. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

/* Adds what identifies one version of a file to the fingerprint. */
static void fingerprint_file(FileList *out, const char *relpath, const struct stat *st)
{
    int64_t stamp[4] = {(int64_t)st->st_size, (int64_t)st->st_ino, (int64_t)st->st_mtim.tv_sec,
                        (int64_t)st->st_mtim.tv_nsec};
    out->fingerprint = fnv1a(out->fingerprint, relpath, strlen(relpath) + 1);
    out->fingerprint = fnv1a(out->fingerprint, stamp, sizeof(stamp));
}

/*
 * Reads the files under root/rel that Duro has a use for, depth first. Below
 * the schema directories only names are recorded (with empty text), so the
 * build can say they are too deep.
 */
static void walk(const char *root, const char *rel, int depth, int max_ident, FileList *out,
                 DiagList *diags)
{
    char *dirpath = *rel ? xasprintf("%s/%s", root, rel) : xstrdup(root);
    DIR *dir = opendir(dirpath);
    if (!dir) {
        diag_add(diags, *rel ? rel : ".", 1, "cannot read directory: %s", strerror(errno));
        free(dirpath);
        return;
    }
    StrVec names = {0};
    for (struct dirent *de; (de = readdir(dir)) != NULL;)
        if (de->d_name[0] != '.')
            strvec_push(&names, de->d_name);
    closedir(dir);
    strvec_sort(&names);

    for (size_t i = 0; i < names.n; i++) {
        char *relpath = *rel ? xasprintf("%s/%s", rel, names.items[i]) : xstrdup(names.items[i]);
        char *full = xasprintf("%s/%s", root, relpath);
        struct stat st;
        if (stat(full, &st) != 0) {
            diag_add(diags, relpath, 1, "cannot read: %s", strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            if (depth < 2)
                walk(root, relpath, depth + 1, max_ident, out, diags);
        } else if (S_ISREG(st.st_mode)) {
            LayoutName ln;
            layout_classify(relpath, max_ident, &ln);
            if (ln.role != LAYOUT_IGNORED)
                fingerprint_file(out, relpath, &st);
            if (ln.role != LAYOUT_IGNORED && out->read) {
                char *text = depth < 2 ? read_file(full, NULL) : xstrdup("");
                if (!text) {
                    diag_add(diags, relpath, 1, "cannot read: %s", strerror(errno));
                } else {
                    if ((unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB &&
                        (unsigned char)text[2] == 0xBF) /* UTF-8 byte order mark */
                        memmove(text, text + 3, strlen(text + 3) + 1);
                    grow_array((void **)&out->items, &out->cap, out->n + 1, sizeof(RepoFile));
                    out->items[out->n++] = (RepoFile){xstrdup(relpath), text};
                }
            }
        }
        free(full);
        free(relpath);
    }
    strvec_free(&names);
    free(dirpath);
}

int repo_load(const char *dir, const RepoOptions *opt, Repo *out)
{
    int max_ident = opt && opt->max_ident_len > 0 ? opt->max_ident_len : REPO_MAX_IDENT_POSTGRES;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        memset(out, 0, sizeof(*out));
        diag_add(&out->diags, ".", 1, "cannot read the views repository: %s",
                 stat(dir, &st) != 0 ? strerror(errno) : "not a directory");
        return -1;
    }
    FileList files = {.read = true, .fingerprint = 14695981039346656037ULL};
    DiagList io_diags = {0};
    walk(dir, "", 0, max_ident, &files, &io_diags);
    build(files.items, files.n, opt, true, out);
    out->fingerprint = fnv1a(files.fingerprint, &io_diags.n, sizeof(io_diags.n));
    for (size_t i = 0; i < io_diags.n; i++)
        diag_add(&out->diags, io_diags.items[i].path, io_diags.items[i].line, "%s",
                 io_diags.items[i].message);
    diag_sort(&out->diags);
    diag_free(&io_diags);
    repo_files_free(files.items, files.n);
    return 0;
}

int repo_fingerprint(const char *dir, const RepoOptions *opt, uint64_t *fingerprint)
{
    int max_ident = opt && opt->max_ident_len > 0 ? opt->max_ident_len : REPO_MAX_IDENT_POSTGRES;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return -1;
    FileList files = {.read = false, .fingerprint = 14695981039346656037ULL};
    DiagList diags = {0};
    walk(dir, "", 0, max_ident, &files, &diags);
    *fingerprint = fnv1a(files.fingerprint, &diags.n, sizeof(diags.n));
    diag_free(&diags);
    return 0;
}
