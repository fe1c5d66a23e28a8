/*
 * libFuzzer target for the analysis of a view's SQL (catalog/sqlinfo): the input is the text of
 * a view file, a tests file or a processor's DDL, in either dialect (PostgreSQL SQL the parser
 * reads, Redshift-only SQL that falls back to the tokenizer). Every entry point runs on it; spans
 * and offsets must lie inside the text. Not for: the repository as a whole (fuzz_repo).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/sqlinfo.h"
#include "fuzz/fuzz.h"

static void check_span(SqlSpan s, int len)
{
    FUZZ_ASSERT((s.start == -1 && s.end == -1) ||
                (0 <= s.start && s.start <= s.end && s.end <= len));
}

static void analyze(const char *sql, int len, SqlKind kind)
{
    SqlInfo info;
    char *error = NULL;
    int offset = -2;
    if (sqlinfo_analyze(sql, kind, &info, &error, &offset) != 0) {
        FUZZ_ASSERT(error != NULL && offset >= -1 && offset <= len);
        (void)sqlinfo_line_of(sql, offset);
        free(error);
        return;
    }
    for (size_t i = 0; i < info.n_relations; i++) {
        const SqlRelation *r = &info.relations[i];
        FUZZ_ASSERT(r->name != NULL && r->location >= 0 && r->location <= len);
        check_span(r->extent, len);
    }
    FUZZ_ASSERT(info.n_statements >= 0);
    for (int i = 0; i < info.n_statements; i++)
        check_span(info.statements[i], len);
    if (kind == SQL_KIND_DDL)
        FUZZ_ASSERT(info.created.name != NULL);
    sqlinfo_free(&info);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    char *sql = malloc(size + 1);
    FUZZ_ASSERT(sql);
    memcpy(sql, data, size);
    sql[size] = '\0';
    int len = (int)strlen(sql);

    analyze(sql, len, SQL_KIND_QUERY);
    analyze(sql, len, SQL_KIND_TESTS);
    analyze(sql, len, SQL_KIND_DDL);

    SqlRelation table = {0};
    int end = -1, offset = -2;
    bool temporary = false;
    char *error = NULL;
    if (sqlinfo_created_table(sql, &table, &end, &temporary, &error, &offset) == 0) {
        FUZZ_ASSERT(table.name != NULL && end > 0 && end <= len);
        free(table.schema);
        free(table.name);
    } else {
        FUZZ_ASSERT(error != NULL);
        free(error);
    }

    SqlSpan *spans = NULL;
    size_t n = 0;
    error = NULL;
    if (sqlinfo_statements(sql, &spans, &n, &error) == 0) {
        for (size_t i = 0; i < n; i++)
            check_span(spans[i], len);
        free(spans);
    } else {
        FUZZ_ASSERT(error != NULL);
        free(error);
    }
    (void)sqlinfo_has_table_attributes(sql);
    (void)sqlinfo_line_of(sql, len);
    free(sql);
    return 0;
}
