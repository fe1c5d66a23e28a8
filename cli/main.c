/*
 * Entry point: dispatches to the sub-commands (check.c, graph.c, refresh.c,
 * serve.c) and prints the top-level help and version. Nothing else lives here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/log.h"
#include "core/util.h"

static const char usage[] =
    "usage: duro <command> [options]\n"
    "\n"
    "Duro keeps materialized views in Amazon Redshift (and PostgreSQL) fresh.\n"
    "\n"
    "commands:\n"
    "  check [-c FILE] [DIR]   validate a views repository: list each view with its\n"
    "                          effective interval and dependencies, and every problem\n"
    "                          as path:line: message (exit 1 when there is one)\n"
    "  graph [-c FILE] [DIR]   print the dependency graph in Graphviz DOT\n"
    "  refresh [-c FILE] [--tree] VIEW...\n"
    "                          refresh views now, after their stale dependencies\n"
    "  serve [-c FILE]         run the daemon: refresh stale views on schedule\n"
    "\n"
    "DIR defaults to the [views] path of FILE, else ./views.\n"
    "Run 'duro COMMAND -h' for a command's options.\n"
    "\n"
    "options:\n"
    "  -h, --help     show this help\n"
    "  --version      show the version\n";

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"check", cli_check},
    {"graph", cli_graph},
    {"refresh", cli_refresh},
    {"serve", cli_serve},
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    const char *level = getenv("DURO_LOG_LEVEL");
    if (level && log_parse_level(level, &log_level) != 0) {
        fprintf(stderr, "duro: DURO_LOG_LEVEL=%s: expected error, warn, info or debug\n", level);
        return 2;
    }
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("duro %s\n", DURO_VERSION);
        return 0;
    }
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "duro: unknown command '%s'\n\n%s", cmd, usage);
    return 2;
}
