/*
 * libFuzzer target for Duro's two configuration readers: the input is read both as a view
 * configuration file (catalog/config: parsed, applied over the defaults and over global.conf,
 * described) and as duro.conf (core/settings, from an anonymous in-memory file so that nothing
 * is written to disk), and its first line as a size and as a duration. Not for: the repository's
 * layout (fuzz_repo).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "catalog/config.h"
#include "core/settings.h"
#include "fuzz/fuzz.h"

static void view_config(const char *text)
{
    static const char global_text[] = "grant_select = group analysts\nsortkey = id\ntimeout = 2h\n";
    ConfigFile global, f;
    DiagList diags = {0};
    config_file_parse("global.conf", global_text, &global, &diags);
    FUZZ_ASSERT(diags.n == 0);
    config_file_parse("first/cities.conf", text, &f, &diags);
    for (size_t i = 0; i < diags.n; i++)
        FUZZ_ASSERT(diags.items[i].line >= 1 && diags.items[i].message != NULL);

    ViewConfig c;
    config_init(&c);
    config_apply(&c, &global);
    config_apply(&c, &f);
    char *described = config_describe(&c);
    (void)config_described_stale_read(described);

    /* The description is the definition's identity: a copy describes the same. */
    ViewConfig copy;
    config_init(&copy);
    config_copy(&copy, &c);
    char *again = config_describe(&copy);
    FUZZ_ASSERT(strcmp(described, again) == 0);
    free(again);
    free(described);
    config_free(&copy);
    config_free(&c);
    config_file_free(&f);
    config_file_free(&global);
    diag_free(&diags);
}

static void daemon_config(const uint8_t *data, size_t size)
{
    int fd = memfd_create("duro.conf", MFD_CLOEXEC);
    FUZZ_ASSERT(fd >= 0);
    FUZZ_ASSERT(size == 0 || write(fd, data, size) == (ssize_t)size);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    Settings s;
    char *error = NULL;
    if (settings_load(path, &s, &error) == 0) {
        FUZZ_ASSERT(error == NULL);
        FUZZ_ASSERT(s.gateway.listen && s.warehouse.host && s.views.path && s.catalog.path);
        FUZZ_ASSERT(s.gateway.max_message > 0 && s.worker.concurrency > 0);
        settings_free(&s);
    } else {
        FUZZ_ASSERT(error != NULL);
        free(error);
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    FUZZ_ASSERT(text);
    memcpy(text, data, size);
    text[size] = '\0';

    view_config(text);
    daemon_config(data, size);

    char *nl = strchr(text, '\n');
    if (nl)
        *nl = '\0';
    int64_t v;
    if (settings_parse_size(text, &v) == 0)
        FUZZ_ASSERT(v >= 0);
    if (settings_parse_duration(text, &v) == 0)
        FUZZ_ASSERT(v >= 0);
    free(text);
    return 0;
}
