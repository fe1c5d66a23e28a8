/*
 * Argument handling shared by the commands that read a views repository
 * (check, graph): [-c FILE] [DIR], with the dialect from FILE deciding the
 * identifier length limit.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/settings.h"
#include "planner/dialect.h"

int cli_load_repo(int argc, char **argv, const char *usage, Repo *repo, char **dir)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *conf = NULL;
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1;) {
        switch (c) {
        case 'c':
            conf = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            exit(0);
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (argc - optind > 1) {
        fputs(usage, stderr);
        return 2;
    }

    RepoOptions opt = {0};
    char *from_conf = NULL;
    if (conf) {
        Settings s;
        char *error = NULL;
        /* Only where the views are and how to read them (the dialect) matter here. */
        if (settings_load_for(conf, SETTINGS_WAREHOUSE | SETTINGS_VIEWS, &s, &error) != 0) {
            fprintf(stderr, "duro: %s\n", error);
            free(error);
            return 2;
        }
        from_conf = xstrdup(s.views.path);
        opt = dialect_repo_options(s.warehouse.dialect_kind);
        settings_free(&s);
    }
    if (optind < argc) {
        *dir = xstrdup(argv[optind]);
        free(from_conf);
    } else {
        *dir = from_conf ? from_conf : xstrdup("views");
    }
    if (repo_load(*dir, &opt, repo) != 0) {
        fprintf(stderr, "duro: %s: %s\n", *dir, repo->diags.items[0].message);
        repo_free(repo);
        free(*dir);
        *dir = NULL;
        return 2;
    }
    return 0;
}
