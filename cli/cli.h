/*
 * The sub-commands of the duro binary, each a main-like function taking the
 * arguments after its name (argv[0] is the sub-command). Exit codes: 0 success,
 * 1 the work found problems, 2 bad usage or setup.
 */
#ifndef DURO_CLI_CLI_H
#define DURO_CLI_CLI_H

#include "catalog/repo.h"

int cli_check(int argc, char **argv);
int cli_graph(int argc, char **argv);
int cli_refresh(int argc, char **argv);
int cli_serve(int argc, char **argv);

/*
 * Shared by check and graph: parses [-c FILE] [DIR] and loads the repository
 * (DIR, else the config's [views] path, else "views"). Returns 0 and fills
 * *repo and *dir (caller frees), or an exit code after printing the problem.
 */
int cli_load_repo(int argc, char **argv, const char *usage, Repo *repo, char **dir);

#endif
