/*
 * The daemon's configuration file (conf/duro.conf, described in the README): INI sections read
 * with inih, defaults for every key, and DURO_<SECTION>_<KEY> environment
 * variables overriding the file (the way to pass secrets). Not for: the views
 * repository's own .conf files (catalog/config).
 */
#ifndef DURO_CORE_SETTINGS_H
#define DURO_CORE_SETTINGS_H

#include <stdint.h>

#include "core/util.h"

/*
 * The enumerated keys, each parsed once into its enum beside its canonical
 * text (which is what logs show and libpq takes). The enums follow the order
 * of the key's choices in settings.c.
 */
typedef enum SettingsTls { SETTINGS_TLS_ALLOW, SETTINGS_TLS_REQUIRE } SettingsTls;
typedef enum SettingsSwitch { SETTINGS_OFF, SETTINGS_ON } SettingsSwitch;
/* The warehouse's SQL dialect ([warehouse] dialect); planner/dialect writes its SQL. */
typedef enum Dialect { DIALECT_POSTGRES, DIALECT_REDSHIFT } Dialect;
typedef enum SettingsSslMode {
    SETTINGS_SSLMODE_DISABLE,
    SETTINGS_SSLMODE_ALLOW,
    SETTINGS_SSLMODE_PREFER,
    SETTINGS_SSLMODE_REQUIRE,
    SETTINGS_SSLMODE_VERIFY_CA,
    SETTINGS_SSLMODE_VERIFY_FULL,
} SettingsSslMode;

typedef struct Settings {
    struct {
        char *listen; /* "127.0.0.1:6432" */
        char *tls_cert;
        char *tls_key;
        char *tls; /* "allow" or "require" */
        SettingsTls tls_mode;
        int max_clients;
        int max_logins;        /* connections not yet logged in (TLS, startup, authentication) */
        int64_t login_timeout; /* seconds a connection may take to log in */
        int64_t max_message;   /* bytes: the largest message a client may send */
        int64_t inspect_limit; /* bytes: larger queries are relayed as they come, unexamined */
        char *inspect;         /* "on": Duro answers its own SQL and holds reads of stale views */
        int64_t duro_query_timeout;   /* seconds a query on duro.status/duro.runs may take */
        int64_t duro_query_max_bytes; /* the largest result of such a query, in memory */
        SettingsSwitch inspect_mode;
    } gateway;
    struct {
        char *dialect; /* "postgres" or "redshift" */
        Dialect dialect_kind;
        char *host;
        int port;
        char *dbname;
        char *user;
        char *password;
        char *sslmode; /* disable, allow, prefer, require, verify-ca, verify-full */
        SettingsSslMode sslmode_kind;
    } warehouse;
    struct {
        char *path;     /* resolved against the config file's directory */
        int64_t rescan; /* seconds */
    } views;
    struct {
        char *path; /* resolved against the config file's directory */
        /* A PostgreSQL database shared by instances instead of the file at path; "" = none.
         * Its password must never be shown: see settings_catalog_target. */
        char *url;
        /* duro.status and duro.runs published in the warehouse (planner/publish). */
        char *publish; /* "on" or "off" */
        SettingsSwitch publish_mode;
        char *schema;
        StrVec readers;
        int64_t publish_every; /* seconds */
        int64_t keep_runs;     /* seconds; not in this release */
    } catalog;
    struct {
        int64_t poll; /* seconds */
        int concurrency;
        StrVec admins; /* empty = everyone */
        int64_t grace; /* seconds running builds get to finish after SIGTERM */
        /* The swap of a rebuilt view: how long one try may wait for its locks (seconds, 1 to
         * 3600), and how many tries before the run fails naming the session in the way. */
        int64_t swap_lock_timeout;
        int swap_tries;
        char *instance; /* this Duro's name in warehouse session names; "" = derived */
    } worker;
    struct {
        char *listen; /* "" = no web UI */
        char *token;
        char *public; /* "on" or "off" */
        SettingsSwitch public_mode;
    } web;
    struct {
        char *endpoint;
        char *region;
        char *bucket;
        char *prefix;
        char *access_key_id;
        char *secret_access_key;
        char *iam_role;
    } s3;
    struct {
        char *failure_webhook;
        char *success_webhook;
        char *log_webhook;
        int64_t success_every; /* seconds: successes are told in one message this often */
        int64_t log_every;     /* seconds between two summaries on log_webhook */
    } slack;
    /*
     * "[section] key" of each key set to something other than empty or its default whose feature
     * is not in this release (shared catalogs, the runs' retention): accepted
     * so that a configuration written for a later release loads, and listed here so that
     * `duro serve` can say that they have no effect.
     */
    StrVec not_in_release;
} Settings;

/*
 * Loads defaults, then path (when not NULL), then environment overrides.
 * Every string field is set (possibly ""). Returns 0, or -1 with *error
 * (caller frees) naming the file and line of the first problem: unknown
 * section or key, a key set twice, bad number or duration, unknown enum value.
 */
int settings_load(const char *path, Settings *out, char **error) MUST_CHECK;

/* The sections of duro.conf, as bits: what a command uses. */
typedef enum SettingsSection {
    SETTINGS_GATEWAY = 1 << 0,
    SETTINGS_WAREHOUSE = 1 << 1,
    SETTINGS_VIEWS = 1 << 2,
    SETTINGS_CATALOG = 1 << 3,
    SETTINGS_WORKER = 1 << 4,
    SETTINGS_WEB = 1 << 5,
    SETTINGS_S3 = 1 << 6,
    SETTINGS_SLACK = 1 << 7,
    SETTINGS_ALL = (1 << 8) - 1,
} SettingsSection;

/*
 * settings_load for a command that uses only the sections in used (SettingsSection bits): an
 * invalid value in another section leaves that key at its default instead of failing, so that
 * `duro check` or `duro refresh` runs with a configuration whose [web] part, say, is for a newer
 * daemon. Unknown sections and keys, and duplicate keys, are errors everywhere (they are typos).
 */
int settings_load_for(const char *path, unsigned used, Settings *out, char **error) MUST_CHECK;
void settings_free(Settings *s);
/* The catalog to open: [catalog] url when set, else the file at [catalog] path. */
const char *settings_catalog_target(const Settings *s);
/* The catalog as a log line may name it: the path, or the URL without password or parameters.
 * Caller frees. */
char *settings_catalog_shown(const Settings *s);
/* A database URL as a log line may show it: no password, no parameters. Caller frees. */
char *settings_url_shown(const char *url);

/* Parses a size "512kB", "64MB", "1GB" or a bare number of bytes (units 1024-based). 0 or -1. */
int settings_parse_size(const char *s, int64_t *bytes) MUST_CHECK;

/* Parses a duration "30s", "10m", "2h", "1d" (also a bare number of seconds). Returns 0 or -1. */
int settings_parse_duration(const char *s, int64_t *seconds) MUST_CHECK;

/* The host (brackets of an IPv6 address taken off; caller frees) and port of a valid HOST:PORT
 * listen value. Returns 0, or -1 when it is not one. */
int settings_listen_split(const char *listen, char **host, uint16_t *port) MUST_CHECK;

#endif
