/*
 * libFuzzer target for the gateway's statement classifier (proxy/intercept): the input is a
 * client's SQL text. It runs the cheap pre-filter and the parser-based classifier and checks that
 * they agree the way the gateway relies on: whatever the classifier finds of Duro's, and every
 * relation it finds, the pre-filter must have let through (it may say yes too often, never too
 * rarely). Also splits the text as a duro_refresh argument. Not for: answering the statement.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "proxy/intercept.h"

/* InterceptIsName: yes when ident is the relation (arg) or its last dotted part. */
static bool is_relation(const char *ident, size_t len, void *arg)
{
    const char *rel = arg;
    size_t n = strlen(rel);
    if (len == n && memcmp(ident, rel, n) == 0)
        return true;
    return len < n && rel[n - len - 1] == '.' && memcmp(rel + n - len, ident, len) == 0;
}

/* Whether s[0 .. n) is UTF-8 (lead and continuation bytes; overlongs are not looked for):
 * PostgreSQL refuses other text before parsing it, so only that is compared with the parser. */
static bool is_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t len = s[i] < 0x80             ? 1
                     : (s[i] & 0xE0) == 0xC0 ? 2
                     : (s[i] & 0xF0) == 0xE0 ? 3
                     : (s[i] & 0xF8) == 0xF0 ? 4
                                             : 0;
        if (len == 0 || i + len > n)
            return false;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The gateway hands the pre-filter the text without its NUL, in a buffer of its own. */
    size_t len = strnlen((const char *)data, size);
    char *exact = malloc(len ? len : 1);
    char *sql = malloc(len + 1);
    FUZZ_ASSERT(exact && sql);
    memcpy(exact, data, len);
    memcpy(sql, data, len);
    sql[len] = '\0';

    static const char *const names[] = {"cities", "daily", "orders"};
    InterceptNameSet set = {names, sizeof names / sizeof names[0]};
    bool concerns = intercept_may_concern(exact, len, NULL, NULL);
    bool concerns_views = intercept_may_concern(exact, len, intercept_name_set_has, &set);
    FUZZ_ASSERT(concerns_views || !concerns);

    InterceptInfo info;
    FUZZ_ASSERT(intercept_analyze(sql, &info) == 0);
    if (info.kind != INTERCEPT_PASS)
        FUZZ_ASSERT(concerns);
    bool utf8 = is_utf8((const unsigned char *)sql, len);
    for (size_t i = 0; utf8 && i < info.relations.n; i++) {
        const char *rel = info.relations.items[i];
        FUZZ_ASSERT(intercept_may_concern(exact, len, is_relation, (void *)rel));
    }
    if (info.kind == INTERCEPT_MIXED)
        FUZZ_ASSERT(info.error_sqlstate && strlen(info.error_sqlstate) == 5 && info.error_message);
    if (info.kind == INTERCEPT_VIRTUAL)
        FUZZ_ASSERT(info.tree != NULL);
    if (info.kind == INTERCEPT_REFRESH && info.refresh_name) {
        char *name = intercept_view_name(info.refresh_name);
        free(name);
    }
    intercept_info_free(&info);

    char *name = intercept_view_name(sql);
    if (name)
        FUZZ_ASSERT(strchr(name, '.') != NULL);
    free(name);

    free(sql);
    free(exact);
    return 0;
}
