/*
 * Rewriting Redshift-only constructs into PostgreSQL of the same length (see sqlredshift.h), over
 * libpg_query's tokens. Not for: deciding when the rewrite is used (catalog/sqlinfo).
 */
#include "catalog/sqlredshift.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"

/* The text being rewritten and its tokens. */
typedef struct Rewrite {
    const char *sql;
    PgQuery__ScanToken *const *t;
    int n;
    char *out; /* a copy of sql, changed in place */
    bool changed;
} Rewrite;

/* Whether token i exists and is of the given kind. */
static bool tok(const Rewrite *r, int i, int token)
{
    return i >= 0 && i < r->n && (int)r->t[i]->token == token;
}

/* Whether token i is the unquoted word w (an identifier or a keyword, any case). */
static bool word(const Rewrite *r, int i, const char *w)
{
    if (i < 0 || i >= r->n)
        return false;
    const PgQuery__ScanToken *k = r->t[i];
    size_t len = (size_t)(k->end - k->start);
    if (k->token != PG_QUERY__TOKEN__IDENT && k->keyword_kind == PG_QUERY__KEYWORD_KIND__NO_KEYWORD)
        return false;
    return len == strlen(w) && strncasecmp(r->sql + k->start, w, len) == 0;
}

/* Whether token i is a plain identifier (not a keyword, not quoted: a likely alias). */
static bool plain_ident(const Rewrite *r, int i)
{
    return tok(r, i, PG_QUERY__TOKEN__IDENT) && r->sql[r->t[i]->start] != '"';
}

/* The index of the ")" closing the "(" at token open, or -1. */
static int close_of(const Rewrite *r, int open)
{
    int depth = 0;
    for (int i = open; i < r->n; i++) {
        if (tok(r, i, PG_QUERY__TOKEN__ASCII_40))
            depth++;
        else if (tok(r, i, PG_QUERY__TOKEN__ASCII_41) && --depth == 0)
            return i;
    }
    return -1;
}

/* Blanks tokens from..to (inclusive) and what lies between them, line breaks kept. */
static void blank(Rewrite *r, int from, int to)
{
    for (int o = r->t[from]->start; o < r->t[to]->end; o++)
        if (r->out[o] != '\n')
            r->out[o] = ' ';
    r->changed = true;
}

/* Overwrites token i (exactly strlen(text) bytes long) with text. */
static void replace(Rewrite *r, int i, const char *text)
{
    memcpy(r->out + r->t[i]->start, text, strlen(text));
    r->changed = true;
}

/* Whether token i ends an operand (then a "#" after it is Redshift's XOR, not a name). */
static bool operand_end(const Rewrite *r, int i)
{
    static const int kinds[] = {
        PG_QUERY__TOKEN__IDENT,    PG_QUERY__TOKEN__UIDENT,   PG_QUERY__TOKEN__FCONST,
        PG_QUERY__TOKEN__SCONST,   PG_QUERY__TOKEN__BCONST,   PG_QUERY__TOKEN__XCONST,
        PG_QUERY__TOKEN__ICONST,   PG_QUERY__TOKEN__PARAM,    PG_QUERY__TOKEN__USCONST,
        PG_QUERY__TOKEN__ASCII_41, PG_QUERY__TOKEN__ASCII_93,
    };
    for (size_t k = 0; k < ARRAY_LEN(kinds); k++)
        if (tok(r, i, kinds[k]))
            return true;
    return false;
}

/* Whether token i names a type whose size Redshift lets be MAX: varchar(max) and the like. */
static bool sized_type(const Rewrite *r, int i)
{
    static const char *const types[] = {"varchar", "character", "char",    "varying",  "nvarchar",
                                        "nchar",   "bpchar",    "varbyte", "varbinary"};
    for (size_t k = 0; k < ARRAY_LEN(types); k++)
        if (word(r, i, types[k]))
            return true;
    return false;
}

/* Whether the query level of token i (back to its SELECT) has a HAVING before it. */
static bool level_has_having(const Rewrite *r, int i)
{
    int depth = 0;
    for (int k = i - 1; k >= 0; k--) {
        if (tok(r, k, PG_QUERY__TOKEN__ASCII_41)) {
            depth++;
        } else if (tok(r, k, PG_QUERY__TOKEN__ASCII_40)) {
            if (depth == 0)
                return false;
            depth--;
        } else if (depth == 0 && tok(r, k, PG_QUERY__TOKEN__SELECT)) {
            return false;
        } else if (depth == 0 && tok(r, k, PG_QUERY__TOKEN__HAVING)) {
            return true;
        }
    }
    return false;
}

/* Rewrites the construct starting at token i, if any; returns the last token it covers (or i). */
static int rewrite_at(Rewrite *r, int i)
{
    if (word(r, i, "top") && tok(r, i + 1, PG_QUERY__TOKEN__ICONST) &&
        (tok(r, i - 1, PG_QUERY__TOKEN__SELECT) ||
         ((tok(r, i - 1, PG_QUERY__TOKEN__DISTINCT) || tok(r, i - 1, PG_QUERY__TOKEN__ALL)) &&
          tok(r, i - 2, PG_QUERY__TOKEN__SELECT)))) {
        blank(r, i, i + 1);
        return i + 1;
    }
    if (word(r, i, "approximate") && tok(r, i + 2, PG_QUERY__TOKEN__ASCII_40)) {
        blank(r, i, i);
        return i;
    }
    if (word(r, i, "qualify") && i > 0 && i + 1 < r->n && !tok(r, i - 1, PG_QUERY__TOKEN__SELECT) &&
        !tok(r, i - 1, PG_QUERY__TOKEN__ASCII_44) && !tok(r, i - 1, PG_QUERY__TOKEN__ASCII_40) &&
        !tok(r, i - 1, PG_QUERY__TOKEN__ASCII_46) && !tok(r, i - 1, PG_QUERY__TOKEN__AS) &&
        !tok(r, i + 1, PG_QUERY__TOKEN__ASCII_44) && !tok(r, i + 1, PG_QUERY__TOKEN__ASCII_41) &&
        !tok(r, i + 1, PG_QUERY__TOKEN__ASCII_59) && !tok(r, i + 1, PG_QUERY__TOKEN__FROM) &&
        !tok(r, i + 1, PG_QUERY__TOKEN__ASCII_46)) {
        replace(r, i, level_has_having(r, i) ? "and    " : "having ");
        return i;
    }
    if (word(r, i, "pivot") || word(r, i, "unpivot")) {
        int open = i + 1;
        if (word(r, i, "unpivot") &&
            (tok(r, open, PG_QUERY__TOKEN__INCLUDE) || tok(r, open, PG_QUERY__TOKEN__EXCLUDE)) &&
            tok(r, open + 1, PG_QUERY__TOKEN__NULLS_P))
            open += 2;
        int close = tok(r, open, PG_QUERY__TOKEN__ASCII_40) ? close_of(r, open) : -1;
        if (close < 0)
            return i;
        bool alias_after = tok(r, close + 1, PG_QUERY__TOKEN__AS) || plain_ident(r, close + 1);
        if (tok(r, i - 1, PG_QUERY__TOKEN__ASCII_41) && !alias_after)
            blank(r, i + 1, close); /* the keyword stays, as the subquery's alias */
        else
            blank(r, i, close);
        return close;
    }
    if (word(r, i, "max") && tok(r, i - 1, PG_QUERY__TOKEN__ASCII_40) &&
        tok(r, i + 1, PG_QUERY__TOKEN__ASCII_41) && sized_type(r, i - 2)) {
        replace(r, i, "256");
        return i;
    }
    if (word(r, i, "listagg") && tok(r, i + 1, PG_QUERY__TOKEN__ASCII_40) &&
        tok(r, i + 2, PG_QUERY__TOKEN__DISTINCT)) {
        blank(r, i + 2, i + 2);
        return i + 2;
    }
    const PgQuery__ScanToken *k = r->t[i];
    if (k->token == PG_QUERY__TOKEN__Op && k->end - k->start == 1 && r->sql[k->start] == '#' &&
        i + 1 < r->n && r->t[i + 1]->start == k->end && r->sql[k->end] != '"' &&
        (tok(r, i + 1, PG_QUERY__TOKEN__IDENT) ||
         r->t[i + 1]->keyword_kind != PG_QUERY__KEYWORD_KIND__NO_KEYWORD) &&
        !operand_end(r, i - 1)) {
        replace(r, i, "_");
        return i;
    }
    /* CREATE TABLE attributes. */
    if ((word(r, i, "diststyle") || word(r, i, "encode")) && i + 1 < r->n &&
        !tok(r, i + 1, PG_QUERY__TOKEN__ASCII_40)) {
        blank(r, i, i + 1);
        return i + 1;
    }
    if ((word(r, i, "compound") || word(r, i, "interleaved")) && word(r, i + 1, "sortkey")) {
        blank(r, i, i);
        return i;
    }
    if (word(r, i, "distkey") || word(r, i, "sortkey")) {
        int last = i;
        if (tok(r, i + 1, PG_QUERY__TOKEN__ASCII_40) && close_of(r, i + 1) > 0)
            last = close_of(r, i + 1);
        else if (word(r, i + 1, "auto"))
            last = i + 1;
        blank(r, i, last);
        return last;
    }
    if (word(r, i, "backup") && (word(r, i + 1, "yes") || tok(r, i + 1, PG_QUERY__TOKEN__NO))) {
        blank(r, i, i + 1);
        return i + 1;
    }
    if (tok(r, i, PG_QUERY__TOKEN__IDENTITY_P) && !tok(r, i - 1, PG_QUERY__TOKEN__AS) &&
        tok(r, i + 1, PG_QUERY__TOKEN__ASCII_40) && close_of(r, i + 1) > 0) {
        int last = close_of(r, i + 1);
        blank(r, i, last);
        return last;
    }
    return i;
}

char *sqlredshift_neutral(const char *sql, PgQuery__ScanToken *const *t, int n)
{
    Rewrite r = {sql, t, n, xstrdup(sql), false};
    for (int i = 0; i < n; i++)
        i = rewrite_at(&r, i);
    if (!r.changed) {
        free(r.out);
        return NULL;
    }
    return r.out;
}
