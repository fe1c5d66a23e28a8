/*
 * duro refresh: refreshes views once from the command line, without the
 * daemon: each named view after its stale dependencies (--tree: after all of
 * them), dependencies first, up to [worker] concurrency in parallel.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/names.h"
#include "catalog/store.h"
#include "cli/cli.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/settings.h"
#include "planner/refresh.h"
#include "planner/worker.h"

static const char usage[] =
    "usage: duro refresh [-c FILE] [--tree] VIEW...\n"
    "\n"
    "Refreshes each VIEW (schema.table, or a table in public) now, after the views it\n"
    "reads that are stale.\n"
    "Prints one line per view built.\n"
    "\n"
    "Exit status: 0 when every build succeeded; 1 when a build failed, an unreachable\n"
    "warehouse included (its line says why); 2 when nothing was built: a bad command line\n"
    "or configuration, a repository with problems, an unknown or disabled VIEW, or a\n"
    "catalog that cannot be opened or read.\n"
    "\n"
    "  -c, --config FILE   configuration (default: duro.conf)\n"
    "  -t, --tree          also rebuild every view the named ones read, stale or not\n"
    "  -h, --help          show this help\n";

/* Loads what a refresh needs; prints the problem and returns an exit code on failure. */
static int prepare(const char *conf, Settings *s, Dialect *d, Repo *r, Store **store)
{
    char *error = NULL;
    /* A refresh from the command line starts no gateway, web UI or notifications. */
    if (settings_load_for(conf,
                          SETTINGS_WAREHOUSE | SETTINGS_VIEWS | SETTINGS_CATALOG | SETTINGS_WORKER |
                              SETTINGS_S3,
                          s, &error) != 0) {
        fprintf(stderr, "duro: %s\n", error);
        free(error);
        return 2;
    }
    *d = s->warehouse.dialect_kind;
    RepoOptions opt = dialect_repo_options(*d);
    if (repo_load(s->views.path, &opt, r) != 0 || r->diags.n) {
        fprintf(stderr, "duro: the views repository %s has problems; nothing was refreshed\n",
                s->views.path);
        diag_print(&r->diags, s->views.path, stderr);
        return 2;
    }
    StoreSyncStats stats;
    int closed;
    if (store_open(settings_catalog_target(s), store, &error) != 0 ||
        store_sync(*store, r, clock_wall_us(), &stats, &error) != 0 ||
        store_runs_close_dead(*store, clock_wall_us(), &closed) != 0) {
        fprintf(stderr, "duro: %s\n", error ? error : store_error(*store));
        free(error);
        return 2;
    }
    return 0;
}

/* One line per view built, in build order; an error is escaped to stay on its line (see log.h). */
static void print_report(const RefreshReport *rep)
{
    for (size_t k = 0; k < rep->n; k++) {
        const PipelineResult *res = &rep->builds[k].result;
        const char *name = rep->builds[k].view->name;
        double secs = (double)(res->finished_us - res->started_us) / 1e6;
        if (res->outcome == RUN_OK) {
            printf("%s: ok, %lld rows in %.2fs\n", name, (long long)res->rows, secs);
            continue;
        }
        char *error = log_escape_dup(res->error ? res->error : "", LOG_ESCAPE_ONE_LINE);
        printf("%s: %s: %s\n", name, pipeline_outcome_name(res), error);
        free(error);
    }
}

int cli_refresh(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"tree", no_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *conf = "duro.conf";
    bool force = false;
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "c:th", longopts, NULL)) != -1;) {
        if (c == 'c') {
            conf = optarg;
        } else if (c == 't') {
            force = true;
        } else if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        } else {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (optind == argc) {
        fputs(usage, stderr);
        return 2;
    }
    log_level = LOG_LEVEL_WARN;

    Settings s = {0};
    Dialect d = DIALECT_POSTGRES;
    Repo r = {0};
    Store *store = NULL;
    int rc = prepare(conf, &s, &d, &r, &store);
    size_t *targets = xcalloc((size_t)(argc - optind), sizeof(size_t)), n = 0;
    for (int i = optind; rc == 0 && i < argc; i++) {
        char *name = names_parse_view(argv[i]); /* as CALL duro_refresh reads its argument */
        const View *v = name ? repo_find(&r, name) : NULL;
        if (!v) {
            fprintf(stderr, "duro: unknown view %s\n", argv[i]);
            rc = 2;
        } else if (!v->enabled) {
            fprintf(stderr, "duro: %s is disabled (enabled=false, on it or a view it reads)\n",
                    v->name);
            rc = 2;
        } else {
            targets[n++] = (size_t)(v - r.views);
        }
        free(name);
    }
    if (rc == 0) {
        RefreshRequest want = {
            .targets = targets, .n_targets = n, .force = force, .trigger = RUN_TRIGGER_CALL};
        RefreshReport rep;
        char *error = NULL;
        Worker *w = worker_new(&s, d);
        if (refresh_run(w, store, &r, &want, &rep, &error) != 0) {
            fprintf(stderr, "duro: %s\n", error);
            free(error);
            rc = 2;
        } else {
            print_report(&rep);
            rc = rep.n_failed ? 1 : 0;
            refresh_report_free(&rep);
        }
        worker_free(w);
    }
    free(targets);
    store_close(store);
    repo_free(&r);
    settings_free(&s);
    return rc;
}
