/*
 * libFuzzer target for the views repository reader (catalog/repo: repo_build, which is what
 * repo_load runs on the files it reads). The input is a whole repository as text: a block
 * "==> path <==" line per file, then its contents; text before the first block choosing the
 * dialect ("redshift" there: Redshift's identifier limit). Not for: reading directories.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/repo.h"
#include "fuzz/fuzz.h"

#define FUZZ_MAX_FILES 32

static const char MARK[] = "==> ";
static const char MARK_END[] = " <==\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    FUZZ_ASSERT(text);
    memcpy(text, data, size);
    text[size] = '\0';

    RepoFile files[FUZZ_MAX_FILES];
    size_t n = 0;
    char *p = strstr(text, MARK);
    RepoOptions opt = {.max_ident_len = REPO_MAX_IDENT_POSTGRES, .threads = 1};
    if (p) {
        *p = '\0';
        if (strstr(text, "redshift"))
            opt.max_ident_len = REPO_MAX_IDENT_REDSHIFT;
        *p = MARK[0];
    }
    while (p && n < FUZZ_MAX_FILES) {
        char *path = p + strlen(MARK);
        char *path_end = strstr(path, MARK_END);
        if (!path_end)
            break;
        char *body = path_end + strlen(MARK_END);
        char *next = strstr(body, MARK);
        size_t body_len = next ? (size_t)(next - body) : strlen(body);
        files[n].path = strndup(path, (size_t)(path_end - path));
        files[n].text = strndup(body, body_len);
        FUZZ_ASSERT(files[n].path && files[n].text);
        n++;
        p = next;
    }

    Repo repo;
    repo_build(files, n, &opt, &repo);
    for (size_t i = 0; i < repo.n_views; i++) {
        const View *v = &repo.views[i];
        FUZZ_ASSERT(v->name && v->schema && v->table && strlen(v->hash) == 64);
        FUZZ_ASSERT(repo_find(&repo, v->name) == v);
        for (size_t d = 0; d < v->n_deps; d++)
            FUZZ_ASSERT(v->deps[d] < repo.n_views);
    }
    for (size_t i = 0; i < repo.diags.n; i++)
        FUZZ_ASSERT(repo.diags.items[i].path && repo.diags.items[i].line >= 1);
    repo_free(&repo);
    for (size_t i = 0; i < n; i++) {
        free(files[i].path);
        free(files[i].text);
    }
    free(text);
    return 0;
}
