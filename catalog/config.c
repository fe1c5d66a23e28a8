/*
 * View configuration files: the key=value grammar, value validation and
 * inheritance (see config.h). Problems become diagnostics with file and line;
 * a bad line is dropped and the rest of the file still applies.
 */
#include "catalog/config.h"

#include <stdlib.h>
#include <string.h>

#include "catalog/interval.h"

#define INTERVAL_HINT "a positive integer and m, h, d or w: 30m, 24h, 7d, 1w"

typedef enum KeyType {
    KEY_GRANTEES,
    KEY_DISTSTYLE,
    KEY_COLUMN,
    KEY_COLUMNS,
    KEY_INTERVAL,
    KEY_STALE_READ,
    KEY_BOOL,
    KEY_DURATION, /* like an interval, and seconds too: 30s */
} KeyType;

static const struct {
    const char *name;
    KeyType type;
} known_keys[] = {
    {"grant_select", KEY_GRANTEES},
    {"diststyle", KEY_DISTSTYLE},
    {"distkey", KEY_COLUMN},
    {"sortkey", KEY_COLUMNS},
    {"snapshots_interval", KEY_INTERVAL},
    {"snapshots_stored_for", KEY_INTERVAL},
    {"stale_read", KEY_STALE_READ},
    {"timeout", KEY_INTERVAL},
    {"enabled", KEY_BOOL},
    {"alert_after", KEY_DURATION},
    {"idle_after", KEY_DURATION},
};

#define DURATION_MAX_SECONDS (366LL * 86400)

/* The index of key in known_keys, or -1. */
static int key_index(const char *key)
{
    for (size_t i = 0; i < ARRAY_LEN(known_keys); i++)
        if (strcmp(known_keys[i].name, key) == 0)
            return (int)i;
    return -1;
}

static bool ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool ident_char(char c)
{
    return ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}

/*
 * Normalises one SQL name: unquoted identifiers fold to lower case, "quoted"
 * ones keep their case. extra lists further characters allowed unquoted (role
 * names such as "metabase-ro" or "jane@corp"). Returns NULL when s is not a name.
 */
static char *normalize_name(const char *s, const char *extra)
{
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        char *out = xmalloc(n), *o = out;
        for (size_t i = 1; i < n - 1; i++) {
            if (s[i] == '"') {
                if (s[i + 1] != '"' || i + 1 >= n - 1)
                    goto bad;
                i++;
            }
            *o++ = s[i];
        }
        *o = '\0';
        if (o == out)
            goto bad;
        return out;
    bad:
        free(out);
        return NULL;
    }
    if (n == 0 || !ident_start(s[0]))
        return NULL;
    for (size_t i = 1; i < n; i++)
        if (!ident_char(s[i]) && !(extra && strchr(extra, s[i])))
            return NULL;
    char *out = xstrdup(s);
    str_lower(out);
    return out;
}

/* Normalises a grantee: "name", "group name" or "role name". NULL when invalid. */
static char *normalize_grantee(char *s)
{
    static const char *const kinds[] = {"group", "role"};
    for (size_t k = 0; k < ARRAY_LEN(kinds); k++) {
        size_t kl = strlen(kinds[k]);
        if (strncasecmp(s, kinds[k], kl) == 0 && (s[kl] == ' ' || s[kl] == '\t')) {
            char *name = normalize_name(str_trim(s + kl), ".@+:-");
            if (!name)
                return NULL;
            char *out = xasprintf("%s %s", kinds[k], name);
            free(name);
            return out;
        }
    }
    return normalize_name(s, ".@+:-");
}

/*
 * Splits a comma-separated value into trimmed items. Returns false (and an
 * error in *why) on an empty item such as "a,,b".
 */
static bool split_list(const char *value, StrVec *items, char **why)
{
    if (*value == '\0')
        return true;
    char *copy = xstrdup(value), *save = NULL;
    bool ok = true;
    size_t commas = 0;
    for (const char *p = value; *p; p++)
        commas += *p == ',';
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *t = str_trim(tok);
        if (*t == '\0') {
            ok = false;
            break;
        }
        strvec_push(items, t);
    }
    if (ok && items->n != commas + 1)
        ok = false;
    if (!ok)
        *why = xstrdup("empty item in a comma-separated list");
    free(copy);
    return ok;
}

/*
 * Validates and normalises a grant_select value for op. On success returns the
 * normalised list ("a,group b" or, in the legacy form, "-a,+c"); else NULL
 * with *why set.
 */
static char *normalize_grantees(const char *value, ConfigOp op, char **why)
{
    StrVec items = {0}, out = {0};
    char *result = NULL;
    if (!split_list(value, &items, why))
        goto done;
    size_t signed_items = 0;
    for (size_t i = 0; i < items.n; i++)
        signed_items += items.items[i][0] == '+' || items.items[i][0] == '-';
    if (signed_items && op != CONFIG_SET) {
        *why = xstrdup("+name and -name belong in 'grant_select=' only; "
                       "with += or -= list plain names");
        goto done;
    }
    if (signed_items && signed_items != items.n) {
        *why = xstrdup("mixes plain names with +name/-name: write 'grant_select=a, b' to replace "
                       "the inherited list, or 'grant_select+=a' / 'grant_select-=b' to edit it");
        goto done;
    }
    for (size_t i = 0; i < items.n; i++) {
        char *item = items.items[i];
        char sign = (item[0] == '+' || item[0] == '-') ? item[0] : 0;
        char *g = normalize_grantee(str_trim(item + (sign ? 1 : 0)));
        if (!g) {
            *why = xasprintf("'%s' is not a user, 'group name' or 'role name'", item);
            goto done;
        }
        if (sign) {
            strvec_push_owned(&out, xasprintf("%c%s", sign, g));
            free(g);
        } else {
            strvec_push_owned(&out, g);
        }
    }
    result = strvec_join(&out, ",");
done:
    strvec_free(&items);
    strvec_free(&out);
    return result;
}

/* Validates a value of the given type; returns the normalised value or NULL with *why. */
static char *normalize_value(const char *key, KeyType type, ConfigOp op, const char *value,
                             char **why)
{
    int64_t seconds;
    switch (type) {
    case KEY_GRANTEES:
        return normalize_grantees(value, op, why);
    case KEY_DISTSTYLE: {
        static const char *const styles[] = {"even", "key", "all", "auto"};
        for (size_t i = 0; i < ARRAY_LEN(styles); i++)
            if (str_ieq(value, styles[i]))
                return xstrdup(styles[i]);
        *why = xasprintf("invalid diststyle '%s' (even, key, all or auto)", value);
        return NULL;
    }
    case KEY_COLUMN: {
        char *name = normalize_name(value, NULL);
        if (!name)
            *why = xasprintf("invalid %s '%s': one column name", key, value);
        return name;
    }
    case KEY_COLUMNS: {
        StrVec items = {0}, names = {0};
        char *result = NULL;
        if (*value == '\0') {
            *why = xasprintf("empty %s (write '%s=null' to reset it)", key, key);
            return NULL;
        }
        if (split_list(value, &items, why)) {
            for (size_t i = 0; i < items.n; i++) {
                char *name = normalize_name(items.items[i], NULL);
                if (!name) {
                    *why = xasprintf("invalid column name '%s' in %s", items.items[i], key);
                    break;
                }
                strvec_push_owned(&names, name);
            }
            if (names.n == items.n)
                result = strvec_join(&names, ",");
        }
        strvec_free(&items);
        strvec_free(&names);
        return result;
    }
    case KEY_INTERVAL:
        if (interval_parse(value, &seconds) == 0)
            return xstrdup(value);
        *why = xasprintf("invalid interval '%s' for %s (%s)", value, key, INTERVAL_HINT);
        return NULL;
    case KEY_STALE_READ:
        if (str_ieq(value, "wait") || str_ieq(value, "serve")) {
            char *v = xstrdup(value);
            str_lower(v);
            return v;
        }
        *why = xasprintf("invalid stale_read '%s' (wait or serve)", value);
        return NULL;
    case KEY_DURATION:
        if (parse_duration(value, "smhdw", DURATION_MAX_SECONDS, &seconds) == 0)
            return xstrdup(value);
        *why = xasprintf("invalid duration '%s' for %s (a positive integer and s, m, h, d or w: "
                         "90s, 30m, 2h)",
                         value, key);
        return NULL;
    case KEY_BOOL:
        if (str_ieq(value, "true") || str_ieq(value, "yes") || str_ieq(value, "on"))
            return xstrdup("true");
        if (str_ieq(value, "false") || str_ieq(value, "no") || str_ieq(value, "off"))
            return xstrdup("false");
        *why = xasprintf("invalid %s '%s' (true or false)", key, value);
        return NULL;
    }
    return NULL;
}

static void add_entry(ConfigFile *f, const char *key, ConfigOp op, char *value, int line)
{
    grow_array((void **)&f->entries, &f->cap, f->n + 1, sizeof(ConfigEntry));
    f->entries[f->n++] = (ConfigEntry){xstrdup(key), op, value, line};
}

/* The line an earlier plain assignment of key was on in f, or 0. */
static int earlier_assignment(const ConfigFile *f, const char *key)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->entries[i].key, key) == 0 && f->entries[i].op != CONFIG_ADD &&
            f->entries[i].op != CONFIG_REMOVE)
            return f->entries[i].line;
    return 0;
}

/* Parses one line (comment already cut off, trimmed, not empty). */
static void parse_line(const char *path, char *text, int line, ConfigFile *out, DiagList *diags)
{
    char *eq = strchr(text, '=');
    if (!eq) {
        diag_add(diags, path, line, "expected key=value, found '%s'", text);
        return;
    }
    *eq = '\0';
    char *key = str_trim(text), *value = str_trim(eq + 1);
    ConfigOp op = CONFIG_SET;
    size_t kl = strlen(key);
    if (kl > 0 && (key[kl - 1] == '+' || key[kl - 1] == '-')) {
        op = key[kl - 1] == '+' ? CONFIG_ADD : CONFIG_REMOVE;
        key[kl - 1] = '\0';
        key = str_trim(key);
    }
    int k = key_index(key);
    if (k < 0) {
        diag_add(diags, path, line,
                 "unknown key '%s' (known: grant_select, diststyle, distkey, sortkey, "
                 "snapshots_interval, snapshots_stored_for, stale_read, timeout, enabled, "
                 "alert_after, idle_after)",
                 key);
        return;
    }
    if (op != CONFIG_SET && known_keys[k].type != KEY_GRANTEES) {
        diag_add(diags, path, line, "'%s' only applies to grant_select",
                 op == CONFIG_ADD ? "+=" : "-=");
        return;
    }
    if (str_ieq(value, "null")) {
        if (op != CONFIG_SET) {
            diag_add(diags, path, line, "null resets a key: write '%s=null'", key);
            return;
        }
        op = CONFIG_RESET;
    } else if (op != CONFIG_SET && *value == '\0') {
        diag_add(diags, path, line, "'%s%s=' needs at least one name", key,
                 op == CONFIG_ADD ? "+" : "-");
        return;
    }
    if (known_keys[k].type != KEY_GRANTEES) {
        int first = earlier_assignment(out, key);
        if (first) {
            diag_add(diags, path, line, "%s is already set on line %d", key, first);
            return;
        }
    }
    char *normalized = NULL;
    if (op != CONFIG_RESET) {
        char *why = NULL;
        normalized = normalize_value(key, known_keys[k].type, op, value, &why);
        if (!normalized) {
            diag_add(diags, path, line, "%s", why ? why : "invalid value");
            free(why);
            return;
        }
    }
    add_entry(out, key, op, normalized, line);
}

void config_file_parse(const char *path, const char *text, ConfigFile *out, DiagList *diags)
{
    memset(out, 0, sizeof(*out));
    out->path = xstrdup(path);
    char *copy = xstrdup(text), *p = copy;
    for (int line = 1; p; line++) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        char *hash = strchr(p, '#');
        if (hash)
            *hash = '\0';
        char *t = str_trim(p);
        if (*t)
            parse_line(path, t, line, out, diags);
        p = nl ? nl + 1 : NULL;
    }
    free(copy);
}

void config_file_free(ConfigFile *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->entries[i].key);
        free(f->entries[i].value);
    }
    free(f->entries);
    free(f->path);
    memset(f, 0, sizeof(*f));
}

void config_init(ViewConfig *c)
{
    memset(c, 0, sizeof(*c));
    c->stale_read = STALE_READ_WAIT;
    c->timeout = CONFIG_DEFAULT_TIMEOUT;
    c->enabled = true;
}

/* Adds or removes each grantee of a normalised list; signed items carry their own op. */
static void edit_grantees(StrVec *grants, const char *list, ConfigOp op)
{
    StrVec items = {0};
    char *why = NULL;
    if (split_list(list, &items, &why)) {
        for (size_t i = 0; i < items.n; i++) {
            const char *g = items.items[i];
            ConfigOp item_op = op;
            if (*g == '+' || *g == '-')
                item_op = *g++ == '+' ? CONFIG_ADD : CONFIG_REMOVE;
            if (item_op == CONFIG_REMOVE)
                strvec_remove(grants, g);
            else if (!strvec_contains(grants, g))
                strvec_push(grants, g);
        }
    }
    free(why);
    strvec_free(&items);
    strvec_sort(grants);
}

static void apply_grants(ViewConfig *c, const ConfigEntry *e)
{
    switch (e->op) {
    case CONFIG_RESET:
        strvec_clear(&c->grant_select);
        break;
    case CONFIG_SET:
        /* A plain list replaces; the legacy "-a, +c" list edits. */
        if (e->value[0] != '+' && e->value[0] != '-')
            strvec_clear(&c->grant_select);
        edit_grantees(&c->grant_select, e->value, CONFIG_ADD);
        break;
    case CONFIG_ADD:
    case CONFIG_REMOVE:
        edit_grantees(&c->grant_select, e->value, e->op);
        break;
    }
}

void config_apply(ViewConfig *c, const ConfigFile *f)
{
    for (size_t i = 0; i < f->n; i++) {
        const ConfigEntry *e = &f->entries[i];
        bool reset = e->op == CONFIG_RESET;
        ConfigOrigin origin = {reset ? NULL : f->path, reset ? 0 : e->line};
        if (strcmp(e->key, "grant_select") == 0) {
            apply_grants(c, e);
        } else if (strcmp(e->key, "diststyle") == 0) {
            free(c->diststyle);
            c->diststyle = reset ? NULL : xstrdup(e->value);
        } else if (strcmp(e->key, "distkey") == 0) {
            free(c->distkey);
            c->distkey = reset ? NULL : xstrdup(e->value);
            c->distkey_origin = origin;
        } else if (strcmp(e->key, "sortkey") == 0) {
            strvec_clear(&c->sortkey);
            if (!reset) {
                char *why = NULL;
                (void)split_list(e->value, &c->sortkey, &why);
                free(why);
            }
            c->sortkey_origin = origin;
        } else if (strcmp(e->key, "snapshots_interval") == 0) {
            c->snapshots_interval = 0;
            if (!reset && interval_parse(e->value, &c->snapshots_interval) != 0)
                c->snapshots_interval = 0;
        } else if (strcmp(e->key, "snapshots_stored_for") == 0) {
            c->snapshots_stored_for = 0;
            if (!reset && interval_parse(e->value, &c->snapshots_stored_for) != 0)
                c->snapshots_stored_for = 0;
        } else if (strcmp(e->key, "timeout") == 0) {
            c->timeout = CONFIG_DEFAULT_TIMEOUT;
            if (!reset && interval_parse(e->value, &c->timeout) != 0)
                c->timeout = CONFIG_DEFAULT_TIMEOUT;
        } else if (strcmp(e->key, "stale_read") == 0) {
            c->stale_read =
                !reset && strcmp(e->value, "serve") == 0 ? STALE_READ_SERVE : STALE_READ_WAIT;
        } else if (strcmp(e->key, "enabled") == 0) {
            c->enabled = reset || strcmp(e->value, "true") == 0;
        } else if (strcmp(e->key, "alert_after") == 0) {
            c->alert_after = 0;
            if (!reset &&
                parse_duration(e->value, "smhdw", DURATION_MAX_SECONDS, &c->alert_after) != 0)
                c->alert_after = 0;
        } else if (strcmp(e->key, "idle_after") == 0) {
            c->idle_after = 0;
            if (!reset &&
                parse_duration(e->value, "smhdw", DURATION_MAX_SECONDS, &c->idle_after) != 0)
                c->idle_after = 0;
        }
    }
}

void config_copy(ViewConfig *dst, const ViewConfig *src)
{
    *dst = *src;
    dst->grant_select = (StrVec){0};
    dst->sortkey = (StrVec){0};
    strvec_copy(&dst->grant_select, &src->grant_select);
    strvec_copy(&dst->sortkey, &src->sortkey);
    dst->diststyle = src->diststyle ? xstrdup(src->diststyle) : NULL;
    dst->distkey = src->distkey ? xstrdup(src->distkey) : NULL;
}

void config_free(ViewConfig *c)
{
    strvec_free(&c->grant_select);
    strvec_free(&c->sortkey);
    free(c->diststyle);
    free(c->distkey);
    memset(c, 0, sizeof(*c));
}

char *config_describe(const ViewConfig *c)
{
    char *grants = strvec_join(&c->grant_select, ",");
    char *sortkey = strvec_join(&c->sortkey, ",");
    char *out =
        xasprintf("grant_select=%s\ndiststyle=%s\ndistkey=%s\nsortkey=%s\n"
                  "snapshots_interval=%lld\nsnapshots_stored_for=%lld\n"
                  "stale_read=%s\ntimeout=%lld\nenabled=%s\n",
                  grants, c->diststyle ? c->diststyle : "", c->distkey ? c->distkey : "", sortkey,
                  (long long)c->snapshots_interval, (long long)c->snapshots_stored_for,
                  c->stale_read == STALE_READ_SERVE ? "serve" : "wait", (long long)c->timeout,
                  c->enabled ? "true" : "false");
    free(grants);
    free(sortkey);
    if (c->alert_after) {
        /* Written only when set, so that views configured without it keep their hash. */
        char *with = xasprintf("%salert_after=%lld\n", out, (long long)c->alert_after);
        free(out);
        out = with;
    }
    if (c->idle_after) {
        /* The same: views without it keep the hash they had before the key did anything. */
        char *with = xasprintf("%sidle_after=%lld\n", out, (long long)c->idle_after);
        free(out);
        out = with;
    }
    return out;
}

int64_t config_described_alert_after(const char *described)
{
    const char *line = described ? strstr(described, "\nalert_after=") : NULL;
    return line ? strtoll(line + 13, NULL, 10) : 0;
}

int64_t config_described_idle_after(const char *described)
{
    const char *line = described ? strstr(described, "\nidle_after=") : NULL;
    return line ? strtoll(line + 12, NULL, 10) : 0;
}

StaleRead config_described_stale_read(const char *described)
{
    for (const char *line = described; line && *line;) {
        if (strncmp(line, "stale_read=", 11) == 0)
            return strncmp(line + 11, "serve\n", 6) == 0 || strcmp(line + 11, "serve") == 0
                       ? STALE_READ_SERVE
                       : STALE_READ_WAIT;
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return STALE_READ_WAIT;
}
