/*
 * Loading conf/duro.conf (see settings.h): a table of every known key with its
 * default and its kind, libinih for the INI grammar, then DURO_<SECTION>_<KEY>
 * environment overrides and the checks that span several keys. Not for: what
 * the values mean to the gateway or the scheduler.
 */
#include "core/settings.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds of [gateway] max_message and inspect_limit: a startup packet must fit; PostgreSQL's own
 * limit above. */
#define SETTINGS_SIZE_MIN (16LL << 10)
#define SETTINGS_SIZE_MAX (1LL << 30)

/* Longest duration accepted: ten years, so that arithmetic on it never overflows. */
#define SETTINGS_DURATION_MAX (520LL * 7 * 24 * 3600)

/* Bounds of KEY_WAIT ([worker] swap_lock_timeout) and KEY_TRIES ([worker] swap_tries). */
#define SETTINGS_WAIT_MAX  3600
#define SETTINGS_TRIES_MAX 100

typedef enum KeyKind {
    KEY_STRING,     /* any text, possibly empty */
    KEY_PATH,       /* non-empty; relative ones resolve against the config file's directory */
    KEY_LISTEN,     /* HOST:PORT */
    KEY_LISTEN_OFF, /* HOST:PORT, or empty for "off" */
    KEY_CHOICE,     /* one of KeyDef.choices, case-insensitive, stored in its canonical spelling,
                       and its index in the enum at KeyDef.choice_offset */
    KEY_PORT,       /* 1..65535 */
    KEY_COUNT,      /* a positive int */
    KEY_DURATION,   /* see settings_parse_duration */
    KEY_WAIT,       /* a duration from 1s to SETTINGS_WAIT_MAX: a bound on a wait, never "none" */
    KEY_TRIES,      /* 1..SETTINGS_TRIES_MAX */
    KEY_SIZE,       /* see settings_parse_size */
    KEY_LIST,       /* comma-separated, trimmed, empty items and repeats dropped */
} KeyKind;

typedef struct KeyDef {
    const char *section;
    const char *name;
    KeyKind kind;
    size_t offset; /* of the field in Settings */
    const char *default_value;
    bool secret; /* never echoed in an error */
    const char *const *choices;
    const char *expected; /* what a valid value looks like, for errors */
    size_t choice_offset; /* KEY_CHOICE: of the enum field in Settings */
} KeyDef;

static const char *const dialects[] = {"postgres", "redshift", NULL};
static const char *const tls_modes[] = {"allow", "require", NULL};
static const char *const on_off[] = {"off", "on", NULL};
static const char *const sslmodes[] = {"disable",   "allow",       "prefer", "require",
                                       "verify-ca", "verify-full", NULL};

/* The choices are the enums' names, in order; a choice is stored through an int. */
_Static_assert(ARRAY_LEN(tls_modes) - 1 == SETTINGS_TLS_REQUIRE + 1, "tls_modes");
_Static_assert(ARRAY_LEN(on_off) - 1 == SETTINGS_ON + 1, "on_off");
_Static_assert(ARRAY_LEN(dialects) - 1 == DIALECT_REDSHIFT + 1, "dialects");
_Static_assert(ARRAY_LEN(sslmodes) - 1 == SETTINGS_SSLMODE_VERIFY_FULL + 1, "sslmodes");
_Static_assert(sizeof(SettingsTls) == sizeof(int) && sizeof(SettingsSwitch) == sizeof(int) &&
                   sizeof(Dialect) == sizeof(int) && sizeof(SettingsSslMode) == sizeof(int),
               "choice enums are int-sized");

#define FIELD(f) offsetof(Settings, f)

static const KeyDef keys[] = {
    {"gateway", "listen", KEY_LISTEN_OFF, FIELD(gateway.listen), "127.0.0.1:6432", false, NULL,
     "HOST:PORT, or empty for no gateway"},
    {"gateway", "tls_cert", KEY_STRING, FIELD(gateway.tls_cert), "", false, NULL, NULL},
    {"gateway", "tls_key", KEY_STRING, FIELD(gateway.tls_key), "", false, NULL, NULL},
    {"gateway", "tls", KEY_CHOICE, FIELD(gateway.tls), "allow", false, tls_modes,
     "allow or require", FIELD(gateway.tls_mode)},
    {"gateway", "max_clients", KEY_COUNT, FIELD(gateway.max_clients), "1000", false, NULL,
     "a positive integer"},
    {"gateway", "max_logins", KEY_COUNT, FIELD(gateway.max_logins), "200", false, NULL,
     "a positive integer"},
    {"gateway", "login_timeout", KEY_DURATION, FIELD(gateway.login_timeout), "60s", false, NULL,
     "a duration such as 10s, 1m or 2m"},
    {"gateway", "inspect", KEY_CHOICE, FIELD(gateway.inspect), "on", false, on_off, "on or off",
     FIELD(gateway.inspect_mode)},
    {"gateway", "max_message", KEY_SIZE, FIELD(gateway.max_message), "64MB", false, NULL,
     "a size from 16kB to 1GB, such as 512kB, 64MB or 1GB"},
    {"gateway", "inspect_limit", KEY_SIZE, FIELD(gateway.inspect_limit), "1MB", false, NULL,
     "a size from 16kB to 1GB, such as 512kB, 1MB or 16MB"},
    {"gateway", "duro_query_timeout", KEY_DURATION, FIELD(gateway.duro_query_timeout), "10s", false,
     NULL, "a duration such as 10s, 1m or 1h"},
    {"gateway", "duro_query_max_bytes", KEY_SIZE, FIELD(gateway.duro_query_max_bytes), "64MB",
     false, NULL, "a size from 16kB to 1GB, such as 512kB, 64MB or 1GB"},

    {"warehouse", "dialect", KEY_CHOICE, FIELD(warehouse.dialect), "postgres", false, dialects,
     "postgres or redshift", FIELD(warehouse.dialect_kind)},
    {"warehouse", "host", KEY_STRING, FIELD(warehouse.host), "127.0.0.1", false, NULL, NULL},
    {"warehouse", "port", KEY_PORT, FIELD(warehouse.port), "5432", false, NULL,
     "a port number (1-65535)"},
    {"warehouse", "dbname", KEY_STRING, FIELD(warehouse.dbname), "postgres", false, NULL, NULL},
    {"warehouse", "user", KEY_STRING, FIELD(warehouse.user), "duro", false, NULL, NULL},
    {"warehouse", "password", KEY_STRING, FIELD(warehouse.password), "", true, NULL, NULL},
    {"warehouse", "sslmode", KEY_CHOICE, FIELD(warehouse.sslmode), "prefer", false, sslmodes,
     "disable, allow, prefer, require, verify-ca or verify-full", FIELD(warehouse.sslmode_kind)},

    {"views", "path", KEY_PATH, FIELD(views.path), "views", false, NULL, "a non-empty path"},
    {"views", "rescan", KEY_DURATION, FIELD(views.rescan), "10s", false, NULL,
     "a duration such as 30s, 10m, 2h or 1d"},

    {"catalog", "path", KEY_PATH, FIELD(catalog.path), "duro.db", false, NULL, "a non-empty path"},
    /* A URL may hold a password. */
    {"catalog", "url", KEY_STRING, FIELD(catalog.url), "", true, NULL, NULL},
    {"catalog", "publish", KEY_CHOICE, FIELD(catalog.publish), "on", false, on_off, "on or off",
     FIELD(catalog.publish_mode)},
    {"catalog", "schema", KEY_STRING, FIELD(catalog.schema), "duro", false, NULL, NULL},
    {"catalog", "readers", KEY_LIST, FIELD(catalog.readers), "", false, NULL, NULL},
    {"catalog", "publish_every", KEY_DURATION, FIELD(catalog.publish_every), "10s", false, NULL,
     "a duration such as 30s, 10m, 2h or 1d"},
    {"catalog", "keep_runs", KEY_DURATION, FIELD(catalog.keep_runs), "90d", false, NULL,
     "a duration such as 30s, 10m, 2h or 1d"},

    {"worker", "poll", KEY_DURATION, FIELD(worker.poll), "30s", false, NULL,
     "a duration such as 30s, 10m, 2h or 1d"},
    {"worker", "concurrency", KEY_COUNT, FIELD(worker.concurrency), "2", false, NULL,
     "a positive integer"},
    {"worker", "admins", KEY_LIST, FIELD(worker.admins), "", false, NULL, NULL},
    {"worker", "grace", KEY_DURATION, FIELD(worker.grace), "30s", false, NULL,
     "a duration such as 30s, 10m, 2h or 1d"},
    {"worker", "swap_lock_timeout", KEY_WAIT, FIELD(worker.swap_lock_timeout), "5s", false, NULL,
     "a duration from 1s to 1h, such as 5s or 1m"},
    {"worker", "swap_tries", KEY_TRIES, FIELD(worker.swap_tries), "5", false, NULL,
     "an integer from 1 to 100"},
    {"worker", "instance", KEY_STRING, FIELD(worker.instance), "", false, NULL, NULL},

    {"web", "listen", KEY_LISTEN_OFF, FIELD(web.listen), "127.0.0.1:8080", false, NULL,
     "HOST:PORT, or empty for no web UI"},
    {"web", "token", KEY_STRING, FIELD(web.token), "", true, NULL, NULL},
    {"web", "public", KEY_CHOICE, FIELD(web.public), "off", false, on_off, "on or off",
     FIELD(web.public_mode)},

    {"s3", "endpoint", KEY_STRING, FIELD(s3.endpoint), "", false, NULL, NULL},
    {"s3", "region", KEY_STRING, FIELD(s3.region), "us-east-1", false, NULL, NULL},
    {"s3", "bucket", KEY_STRING, FIELD(s3.bucket), "", false, NULL, NULL},
    {"s3", "prefix", KEY_STRING, FIELD(s3.prefix), "duro", false, NULL, NULL},
    {"s3", "access_key_id", KEY_STRING, FIELD(s3.access_key_id), "", true, NULL, NULL},
    {"s3", "secret_access_key", KEY_STRING, FIELD(s3.secret_access_key), "", true, NULL, NULL},
    {"s3", "iam_role", KEY_STRING, FIELD(s3.iam_role), "", false, NULL, NULL},

    /* Incoming-webhook URLs carry their credential in the path. */
    {"slack", "failure_webhook", KEY_STRING, FIELD(slack.failure_webhook), "", true, NULL, NULL},
    {"slack", "success_webhook", KEY_STRING, FIELD(slack.success_webhook), "", true, NULL, NULL},
    {"slack", "log_webhook", KEY_STRING, FIELD(slack.log_webhook), "", true, NULL, NULL},
    {"slack", "success_every", KEY_DURATION, FIELD(slack.success_every), "1m", false, NULL,
     "a duration such as 30s, 1m or 1h"},
    {"slack", "log_every", KEY_DURATION, FIELD(slack.log_every), "1h", false, NULL,
     "a duration such as 10m, 1h or 1d"},
};

#define N_KEYS ARRAY_LEN(keys)

/* In the order of the SettingsSection bits. */
static const char *const sections[] = {"gateway", "warehouse", "views", "catalog",
                                       "worker",  "web",       "s3",    "slack"};
_Static_assert(SETTINGS_ALL == (1 << ARRAY_LEN(sections)) - 1, "one bit per section");

/*
 * The keys of features not in this release: a whole section (name NULL) or one key. They are read
 * and checked like the others, and listed in Settings.not_in_release when set.
 */
static const struct {
    const char *section, *name;
} not_in_release[] = {
    {NULL, NULL}, /* none in this release */
};

/* The SettingsSection bit of a section named in the key table. */
static unsigned section_bit(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(sections); i++)
        if (strcmp(name, sections[i]) == 0)
            return 1u << i;
    abort(); /* a typo in the key table */
}

/* Where a key's current value came from. */
typedef struct Origin {
    int line;        /* line in the config file; 0 = not from the file */
    const char *env; /* the environment variable that set it, or NULL */
} Origin;

typedef struct Loader {
    Settings *s;
    const char *path; /* the config file, or NULL */
    const char *text; /* its contents, read by config_reader */
    size_t len;
    size_t pos;
    int lineno;                 /* of the line config_reader returned last */
    char env_names[N_KEYS][64]; /* DURO_<SECTION>_<KEY> */
    Origin origin[N_KEYS];
    unsigned used;    /* SettingsSection bits whose values must be valid */
    bool set[N_KEYS]; /* given a value other than empty or the default */
    char *error;      /* the first problem, owned */
} Loader;

static void loader_fail(Loader *ld, char *message)
{
    if (ld->error)
        free(message);
    else
        ld->error = message;
}

/* "PATH:LINE", "PATH" or the variable's name: the prefix of an error about key k. */
static char *origin_text(const Loader *ld, size_t k)
{
    if (ld->origin[k].env)
        return xstrdup(ld->origin[k].env);
    if (ld->origin[k].line > 0)
        return xasprintf("%s:%d", ld->path, ld->origin[k].line);
    return xstrdup(ld->path ? ld->path : "settings");
}

static void *field(Settings *s, const KeyDef *k)
{
    return (char *)s + k->offset;
}

/* Parses a whole decimal integer in [min, max]. */
static bool parse_int(const char *s, long min, long max, int *out)
{
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        return false;
    *out = (int)v;
    return true;
}

/* HOST:PORT with a non-empty host (an IPv6 address in brackets) and a port 1..65535. */
static bool listen_valid(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return false;
    int port;
    if (!parse_int(colon + 1, 1, 65535, &port))
        return false;
    size_t hostlen = (size_t)(colon - s);
    for (size_t i = 0; i < hostlen; i++)
        if (s[i] == ' ' || s[i] == '\t' || s[i] == '/')
            return false;
    if (s[0] == '[')
        return hostlen > 2 && s[hostlen - 1] == ']';
    return memchr(s, ':', hostlen) == NULL;
}

int settings_listen_split(const char *listen, char **host, uint16_t *port)
{
    if (!listen_valid(listen))
        return -1;
    const char *colon = strrchr(listen, ':');
    size_t len = (size_t)(colon - listen);
    *host = listen[0] == '[' ? xstrndup(listen + 1, len - 2) : xstrndup(listen, len);
    *port = (uint16_t)atoi(colon + 1);
    return 0;
}

/* Splits a comma-separated list into v (cleared first), trimming items, dropping empty ones. */
static void parse_list(const char *value, StrVec *v)
{
    strvec_clear(v);
    char *copy = xstrdup(value);
    char *rest = copy;
    for (char *item = strsep(&rest, ","); item; item = strsep(&rest, ",")) {
        item = str_trim(item);
        if (*item && !strvec_contains(v, item))
            strvec_push(v, item);
    }
    free(copy);
}

/* Checks value for key k and stores it. Returns false (the field unchanged) when it is invalid. */
static bool store_value(Settings *s, const KeyDef *k, const char *raw)
{
    void *f = field(s, k);
    if (k->kind == KEY_STRING) {
        free(*(char **)f);
        *(char **)f = xstrdup(raw);
        return true;
    }
    if (k->kind == KEY_LIST) {
        parse_list(raw, (StrVec *)f);
        return true;
    }

    char *copy = xstrdup(raw);
    char *value = str_trim(copy);
    bool ok = false;
    switch (k->kind) {
    case KEY_PATH:
    case KEY_LISTEN:
    case KEY_LISTEN_OFF:
        if (k->kind == KEY_PATH)
            ok = *value != '\0';
        else
            ok = (k->kind == KEY_LISTEN_OFF && *value == '\0') || listen_valid(value);
        if (ok) {
            free(*(char **)f);
            *(char **)f = xstrdup(value);
        }
        break;
    case KEY_CHOICE:
        for (const char *const *c = k->choices; *c; c++) {
            if (str_ieq(value, *c)) {
                free(*(char **)f);
                *(char **)f = xstrdup(*c);
                *(int *)((char *)s + k->choice_offset) = (int)(c - k->choices);
                ok = true;
                break;
            }
        }
        break;
    case KEY_PORT:
        ok = parse_int(value, 1, 65535, (int *)f);
        break;
    case KEY_COUNT:
        ok = parse_int(value, 1, INT_MAX, (int *)f);
        break;
    case KEY_DURATION:
        ok = settings_parse_duration(value, (int64_t *)f) == 0;
        break;
    case KEY_WAIT:
        ok = settings_parse_duration(value, (int64_t *)f) == 0;
        ok = ok && *(int64_t *)f >= 1 && *(int64_t *)f <= SETTINGS_WAIT_MAX;
        break;
    case KEY_TRIES:
        ok = parse_int(value, 1, SETTINGS_TRIES_MAX, (int *)f);
        break;
    case KEY_SIZE:
        ok = settings_parse_size(value, (int64_t *)f) == 0;
        ok = ok && *(int64_t *)f >= SETTINGS_SIZE_MIN && *(int64_t *)f <= SETTINGS_SIZE_MAX;
        break;
    case KEY_STRING:
    case KEY_LIST:
        break;
    }
    free(copy);
    return ok;
}

/* Stores value for key k, which origin[k] already describes; records an error when invalid. */
static bool apply(Loader *ld, size_t k, const char *value)
{
    char *copy = xstrdup(value), *trimmed = str_trim(copy);
    bool set = *trimmed != '\0' && !str_ieq(trimmed, keys[k].default_value);
    free(copy);
    ld->set[k] = false;
    if (store_value(ld->s, &keys[k], value)) {
        ld->set[k] = set;
        return true;
    }
    if (!(ld->used & section_bit(keys[k].section)))
        return true; /* not this command's concern: the default stays */
    char *where = origin_text(ld, k);
    if (keys[k].secret)
        loader_fail(ld, xasprintf("%s: invalid value for [%s] %s: expected %s", where,
                                  keys[k].section, keys[k].name, keys[k].expected));
    else
        loader_fail(ld, xasprintf("%s: invalid value '%s' for [%s] %s: expected %s", where, value,
                                  keys[k].section, keys[k].name, keys[k].expected));
    free(where);
    return false;
}

static const char *known_section(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(sections); i++)
        if (str_ieq(name, sections[i]))
            return sections[i];
    return NULL;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Cuts an inline comment: ';' or '#' after whitespace, as in "port = 5432   ; comment". */
static void cut_inline_comment(char *line)
{
    for (char *p = line; *p; p++) {
        if ((*p == ';' || *p == '#') && p > line && is_space(p[-1])) {
            *p = '\0';
            return;
        }
    }
}

/*
 * The ini_reader inih pulls lines through: it counts lines (so that errors can
 * name them), removes comments and surrounding whitespace, checks section
 * headers and the shape of each line, and hands inih "[section]" or
 * "key = value" only. Returns NULL at the end of the text or after an error.
 */
static char *config_reader(char *buf, int size, void *stream)
{
    Loader *ld = stream;
    if (ld->error || ld->pos >= ld->len || size < 3)
        return NULL;
    const char *start = ld->text + ld->pos;
    const char *nl = memchr(start, '\n', ld->len - ld->pos);
    size_t n = nl ? (size_t)(nl - start) : ld->len - ld->pos;
    ld->pos += n + (nl ? 1 : 0);
    ld->lineno++;

    char *copy = xstrndup(start, n);
    char *line = copy;
    if (ld->lineno == 1 && n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
        line += 3; /* a UTF-8 byte order mark */
    line = str_trim(line);
    if (*line == ';' || *line == '#')
        *line = '\0';
    cut_inline_comment(line);
    line = str_trim(line);

    char *out = NULL;
    if (*line == '[') {
        char *close = strchr(line, ']');
        if (!close || close[1] != '\0') {
            loader_fail(ld,
                        xasprintf("%s:%d: syntax error: expected [section]", ld->path, ld->lineno));
        } else {
            *close = '\0';
            const char *name = known_section(str_trim(line + 1));
            if (name)
                out = xasprintf("[%s]", name);
            else
                loader_fail(ld, xasprintf("%s:%d: unknown section [%s]", ld->path, ld->lineno,
                                          str_trim(line + 1)));
        }
    } else if (*line && !strpbrk(line, "=:")) {
        /* The line is not echoed: it may be a mistyped secret. */
        loader_fail(ld,
                    xasprintf("%s:%d: syntax error: expected key = value", ld->path, ld->lineno));
    } else {
        out = xstrdup(line);
    }

    char *ret = NULL;
    if (out) {
        size_t len = strlen(out);
        if (len + 2 > (size_t)size) {
            loader_fail(ld, xasprintf("%s:%d: line too long (at most %d characters without "
                                      "comments)",
                                      ld->path, ld->lineno, size - 2));
        } else {
            memcpy(buf, out, len);
            buf[len] = '\n';
            buf[len + 1] = '\0';
            ret = buf;
        }
    }
    free(out);
    free(copy);
    return ret;
}

/* inih's callback for each "key = value" of the file. Returns 0 to flag an error. */
static int config_handler(void *user, const char *section, const char *name, const char *value)
{
    Loader *ld = user;
    if (ld->error)
        return 0;
    if (!*section) {
        loader_fail(
            ld, xasprintf("%s:%d: key '%s' outside of any [section]", ld->path, ld->lineno, name));
        return 0;
    }
    for (size_t k = 0; k < N_KEYS; k++) {
        if (strcmp(keys[k].section, section) == 0 && str_ieq(keys[k].name, name)) {
            if (ld->origin[k].line > 0) {
                loader_fail(ld,
                            xasprintf("%s:%d: [%s] %s is set twice (first on line %d)", ld->path,
                                      ld->lineno, section, keys[k].name, ld->origin[k].line));
                return 0;
            }
            ld->origin[k].line = ld->lineno;
            ld->origin[k].env = NULL;
            return apply(ld, k, value) ? 1 : 0;
        }
    }
    loader_fail(ld,
                xasprintf("%s:%d: unknown key '%s' in [%s]", ld->path, ld->lineno, name, section));
    return 0;
}

static void load_file(Loader *ld)
{
    size_t len;
    char *text = read_file(ld->path, &len);
    if (!text) {
        loader_fail(ld, xasprintf("%s: cannot read: %s", ld->path, strerror(errno)));
        return;
    }
    if (memchr(text, '\0', len)) {
        loader_fail(ld, xasprintf("%s: not a text file (contains a NUL byte)", ld->path));
        free(text);
        return;
    }
    ld->text = text;
    ld->len = len;
    int rc = ini_parse_stream(config_reader, ld, config_handler, ld);
    if (!ld->error && rc > 0)
        loader_fail(ld, xasprintf("%s:%d: syntax error", ld->path, rc));
    else if (!ld->error && rc < 0)
        loader_fail(ld, xasprintf("%s: cannot parse (error %d)", ld->path, rc));
    ld->text = NULL;
    free(text);
}

static void load_environment(Loader *ld)
{
    for (size_t k = 0; k < N_KEYS && !ld->error; k++) {
        const char *value = getenv(ld->env_names[k]);
        if (!value)
            continue;
        ld->origin[k].env = ld->env_names[k];
        (void)apply(ld, k, value);
    }
}

/* Rewrites relative paths that came from the file, or are defaults, against the file's directory.
 */
static void resolve_paths(Loader *ld)
{
    const char *slash = ld->path ? strrchr(ld->path, '/') : NULL;
    if (!slash)
        return;
    int dirlen = (int)(slash - ld->path);
    for (size_t k = 0; k < N_KEYS; k++) {
        if (keys[k].kind != KEY_PATH || ld->origin[k].env)
            continue;
        char **p = field(ld->s, &keys[k]);
        if ((*p)[0] == '/' || strcmp(*p, ":memory:") == 0)
            continue;
        char *joined = xasprintf("%.*s/%s", dirlen, ld->path, *p);
        free(*p);
        *p = joined;
    }
}

static size_t key_index(const char *section, const char *name)
{
    for (size_t k = 0; k < N_KEYS; k++)
        if (strcmp(keys[k].section, section) == 0 && strcmp(keys[k].name, name) == 0)
            return k;
    abort(); /* a typo in this file */
}

/* The checks that involve several keys: TLS needs a certificate and its key together. */
static void check_consistency(Loader *ld)
{
    const char *url = ld->s->catalog.url;
    if ((ld->used & SETTINGS_CATALOG) && *url && strncmp(url, "postgresql://", 13) != 0 &&
        strncmp(url, "postgres://", 11) != 0) {
        char *where = origin_text(ld, key_index("catalog", "url"));
        loader_fail(ld, xasprintf("%s: [catalog] url must be a PostgreSQL URL, "
                                  "postgresql://user@host:port/dbname",
                                  where));
        free(where);
        return;
    }
    if (!(ld->used & SETTINGS_GATEWAY))
        return;
    size_t cert = key_index("gateway", "tls_cert"), key = key_index("gateway", "tls_key");
    size_t tls = key_index("gateway", "tls");
    const Settings *s = ld->s;
    bool has_cert = *s->gateway.tls_cert != '\0', has_key = *s->gateway.tls_key != '\0';
    if (has_cert != has_key) {
        char *where = origin_text(ld, has_cert ? cert : key);
        loader_fail(ld, xasprintf("%s: [gateway] %s is set but %s is not", where,
                                  has_cert ? "tls_cert" : "tls_key",
                                  has_cert ? "tls_key" : "tls_cert"));
        free(where);
    } else if (s->gateway.tls_mode == SETTINGS_TLS_REQUIRE && !has_cert) {
        char *where = origin_text(ld, tls);
        loader_fail(ld, xasprintf("%s: [gateway] tls = require needs tls_cert and tls_key", where));
        free(where);
    }
}

/* Fills Settings.not_in_release. */
static void list_not_in_release(Loader *ld)
{
    for (size_t k = 0; k < N_KEYS; k++) {
        if (!ld->set[k])
            continue;
        for (size_t i = 0; i < ARRAY_LEN(not_in_release); i++) {
            if (not_in_release[i].section &&
                strcmp(keys[k].section, not_in_release[i].section) == 0 &&
                (!not_in_release[i].name || strcmp(keys[k].name, not_in_release[i].name) == 0)) {
                strvec_push_owned(&ld->s->not_in_release,
                                  xasprintf("[%s] %s", keys[k].section, keys[k].name));
                break;
            }
        }
    }
}

int settings_load(const char *path, Settings *out, char **error)
{
    return settings_load_for(path, SETTINGS_ALL, out, error);
}

/* On failure *out is left zeroed (settings_free on it is harmless). */
int settings_load_for(const char *path, unsigned used, Settings *out, char **error)
{
    memset(out, 0, sizeof(*out));
    *error = NULL;
    Loader *ld = xcalloc(1, sizeof(*ld));
    ld->s = out;
    ld->path = path;
    ld->used = used;
    for (size_t k = 0; k < N_KEYS; k++) {
        char *name = ld->env_names[k];
        snprintf(name, sizeof(ld->env_names[k]), "DURO_%s_%s", keys[k].section, keys[k].name);
        for (char *p = name; *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
        if (!store_value(out, &keys[k], keys[k].default_value))
            abort(); /* a bad default in the table */
    }

    if (path)
        load_file(ld);
    if (!ld->error)
        load_environment(ld);
    if (!ld->error)
        resolve_paths(ld);
    if (!ld->error)
        check_consistency(ld);
    if (!ld->error)
        list_not_in_release(ld);

    int rc = 0;
    if (ld->error) {
        settings_free(out);
        *error = ld->error;
        rc = -1;
    }
    free(ld);
    return rc;
}

const char *settings_catalog_target(const Settings *s)
{
    return s->catalog.url && *s->catalog.url ? s->catalog.url : s->catalog.path;
}

char *settings_catalog_shown(const Settings *s)
{
    const char *url = s->catalog.url;
    if (!url || !*url)
        return xstrdup(s->catalog.path);
    return settings_url_shown(url);
}

char *settings_url_shown(const char *url)
{
    /* scheme://[user[:password]@]host[:port][/dbname][?params]: no password, no params (one may
     * be password=). */
    const char *rest = strstr(url, "://");
    rest = rest ? rest + 3 : url;
    size_t end = strcspn(rest, "?");
    const char *at = memchr(rest, '@', end);
    const char *hostpart = at ? at + 1 : rest;
    size_t userlen = at ? strcspn(rest, ":@") : 0;
    return xasprintf("%.*s%.*s%s%.*s", (int)(rest - url), url, (int)userlen, rest,
                     userlen ? "@" : "", (int)(end - (size_t)(hostpart - rest)), hostpart);
}

void settings_free(Settings *s)
{
    for (size_t k = 0; k < N_KEYS; k++) {
        void *f = field(s, &keys[k]);
        switch (keys[k].kind) {
        case KEY_STRING:
        case KEY_PATH:
        case KEY_LISTEN:
        case KEY_LISTEN_OFF:
        case KEY_CHOICE:
            free(*(char **)f);
            break;
        case KEY_LIST:
            strvec_free((StrVec *)f);
            break;
        case KEY_PORT:
        case KEY_COUNT:
        case KEY_DURATION:
        case KEY_WAIT:
        case KEY_TRIES:
        case KEY_SIZE:
            break;
        }
    }
    strvec_free(&s->not_in_release);
    memset(s, 0, sizeof(*s));
}

int settings_parse_size(const char *s, int64_t *bytes)
{
    static const struct {
        const char *suffix;
        int64_t factor;
    } units[] = {{"kB", 1LL << 10}, {"MB", 1LL << 20}, {"GB", 1LL << 30}, {"", 1}};
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        return -1;
    long long n = strtoll(s, &end, 10);
    if (errno || n <= 0)
        return -1;
    for (size_t i = 0; i < ARRAY_LEN(units); i++) {
        if (str_ieq(end, units[i].suffix)) {
            if (n > INT64_MAX / units[i].factor)
                return -1;
            *bytes = n * units[i].factor;
            return 0;
        }
    }
    return -1;
}

int settings_parse_duration(const char *s, int64_t *seconds)
{
    return parse_duration(s, "smhdw", SETTINGS_DURATION_MAX, seconds);
}
