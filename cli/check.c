/*
 * duro check: validates a views repository. Lists every view with its own and
 * effective interval and its dependencies on stdout, every problem as
 * "path:line: message" on stderr ("path:line:column: message" for an SQL syntax error), and
 * exits 1 when there is any.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/interval.h"
#include "cli/cli.h"

static const char usage[] =
    "usage: duro check [-c FILE] [DIR]\n"
    "\n"
    "Validates the views repository DIR (default: the [views] path of FILE, else ./views).\n"
    "Prints each view with its interval, effective interval and dependencies, then every\n"
    "problem as path:line: message (path:line:column: message for an SQL syntax error).\n"
    "SQL is read as the dialect of FILE says (default: postgres). Exit status: 0 when valid,\n"
    "1 otherwise.\n"
    "\n"
    "  -c, --config FILE   read the dialect and the repository path from FILE\n"
    "  -h, --help          show this help\n";

/* Writes an interval ("24h") or "-" into buf. */
static void format_or_dash(int64_t seconds, char *buf, size_t size)
{
    if (seconds > 0)
        interval_format(seconds, buf, size);
    else
        snprintf(buf, size, "-");
}

/* The notes column: what is special about a view. */
static char *view_notes(const View *v)
{
    StrVec notes = {0};
    if (!v->enabled)
        strvec_push(&notes, v->config.enabled ? "disabled (a dependency is)" : "disabled");
    if (v->kind == VIEW_KIND_PROCESSOR)
        strvec_push(&notes, "python processor");
    if (v->tests)
        strvec_push(&notes, "tested");
    if (v->tokenized)
        strvec_push(&notes, "read by the tokenizer");
    char *out = strvec_join(&notes, ", ");
    strvec_free(&notes);
    return out;
}

int cli_check(int argc, char **argv)
{
    Repo repo;
    char *dir = NULL;
    int rc = cli_load_repo(argc, argv, usage, &repo, &dir);
    if (rc != 0)
        return rc;

    int name_w = 4;
    for (size_t i = 0; i < repo.n_views; i++) {
        int len = (int)strlen(repo.views[i].name);
        if (len > name_w)
            name_w = len;
    }
    if (repo.n_views > 0)
        printf("%-*s  %-8s  %-9s  %-s\n", name_w, "VIEW", "INTERVAL", "EFFECTIVE",
               "DEPENDS ON / NOTES");
    for (size_t i = 0; i < repo.n_views; i++) {
        const View *v = &repo.views[i];
        char own[32], eff[32];
        format_or_dash(v->interval, own, sizeof(own));
        format_or_dash(v->effective_interval, eff, sizeof(eff));
        StrVec deps = {0};
        for (size_t k = 0; k < v->n_deps; k++)
            strvec_push(&deps, repo.views[v->deps[k]].name);
        char *dep_list = deps.n ? strvec_join(&deps, ", ") : xstrdup("-");
        char *notes = view_notes(v);
        printf("%-*s  %-8s  %-9s  %s%s%s%s\n", name_w, v->name, own, eff, dep_list,
               *notes ? "  [" : "", notes, *notes ? "]" : "");
        free(notes);
        free(dep_list);
        strvec_free(&deps);
    }
    fflush(stdout);
    diag_print(&repo.diags, dir, stderr);
    printf("%zu view%s, %zu problem%s\n", repo.n_views, repo.n_views == 1 ? "" : "s", repo.diags.n,
           repo.diags.n == 1 ? "" : "s");
    rc = repo.diags.n ? 1 : 0;
    repo_free(&repo);
    free(dir);
    return rc;
}
