/*
 * duro graph: the dependency graph of a views repository in Graphviz DOT.
 * Edges point from a view to the views that read it (the way data flows);
 * schemas are clusters, disabled views dashed. Problems go to stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/interval.h"
#include "cli/cli.h"

static const char usage[] =
    "usage: duro graph [-c FILE] [DIR]\n"
    "\n"
    "Prints the dependency graph of the views repository DIR in Graphviz DOT\n"
    "(render it with: duro graph views | dot -Tsvg > views.svg). An edge a -> b\n"
    "means b reads a. Exit status: 0 when the repository is valid, 1 otherwise.\n"
    "\n"
    "  -c, --config FILE   read the dialect and the repository path from FILE\n"
    "  -h, --help          show this help\n";

int cli_graph(int argc, char **argv)
{
    Repo repo;
    char *dir = NULL;
    int rc = cli_load_repo(argc, argv, usage, &repo, &dir);
    if (rc != 0)
        return rc;

    printf("digraph duro {\n    rankdir=LR;\n    node [shape=box, fontname=\"Helvetica\"];\n");
    for (size_t i = 0; i < repo.n_views;) {
        const char *schema = repo.views[i].schema;
        printf("    subgraph \"cluster_%s\" {\n        label=\"%s\";\n", schema, schema);
        for (; i < repo.n_views && strcmp(repo.views[i].schema, schema) == 0; i++) {
            const View *v = &repo.views[i];
            char eff[32] = "no interval";
            if (v->effective_interval)
                interval_format(v->effective_interval, eff, sizeof(eff));
            printf("        \"%s\" [label=\"%s\\n%s%s%s\"%s];\n", v->name, v->table,
                   v->interval ? "" : "(", eff, v->interval ? "" : ")",
                   v->enabled ? "" : ", style=dashed, fontcolor=gray");
        }
        printf("    }\n");
    }
    for (size_t i = 0; i < repo.n_views; i++)
        for (size_t k = 0; k < repo.views[i].n_deps; k++)
            printf("    \"%s\" -> \"%s\";\n", repo.views[repo.views[i].deps[k]].name,
                   repo.views[i].name);
    printf("}\n");
    fflush(stdout);
    diag_print(&repo.diags, dir, stderr);
    rc = repo.diags.n ? 1 : 0;
    repo_free(&repo);
    free(dir);
    return rc;
}
