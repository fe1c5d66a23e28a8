/*
 * Unit tests for core/settings: defaults, values from a file (with inline
 * comments), DURO_* environment overrides, path resolution, and every error
 * with the line it names. Config files are written to a mkdtemp directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/settings.h"

static char tmpdir[] = "/tmp/duro-settings-XXXXXX";
static char conf_path[64];

/* Every variable settings_load looks at, so that the caller's environment cannot leak in. */
static const char *const env_vars[] = {
    "DURO_GATEWAY_LISTEN",
    "DURO_GATEWAY_TLS_CERT",
    "DURO_GATEWAY_TLS_KEY",
    "DURO_GATEWAY_TLS",
    "DURO_GATEWAY_MAX_CLIENTS",
    "DURO_WAREHOUSE_DIALECT",
    "DURO_WAREHOUSE_HOST",
    "DURO_WAREHOUSE_PORT",
    "DURO_WAREHOUSE_DBNAME",
    "DURO_WAREHOUSE_USER",
    "DURO_WAREHOUSE_PASSWORD",
    "DURO_WAREHOUSE_SSLMODE",
    "DURO_VIEWS_PATH",
    "DURO_VIEWS_RESCAN",
    "DURO_CATALOG_PATH",
    "DURO_CATALOG_URL",
    "DURO_CATALOG_PUBLISH",
    "DURO_CATALOG_SCHEMA",
    "DURO_CATALOG_READERS",
    "DURO_CATALOG_PUBLISH_EVERY",
    "DURO_CATALOG_KEEP_RUNS",
    "DURO_WORKER_POLL",
    "DURO_WORKER_CONCURRENCY",
    "DURO_WORKER_ADMINS",
    "DURO_WORKER_SWAP_LOCK_TIMEOUT",
    "DURO_WORKER_SWAP_TRIES",
    "DURO_WEB_LISTEN",
    "DURO_WEB_TOKEN",
    "DURO_WEB_PUBLIC",
    "DURO_S3_ENDPOINT",
    "DURO_S3_REGION",
    "DURO_S3_BUCKET",
    "DURO_S3_PREFIX",
    "DURO_S3_ACCESS_KEY_ID",
    "DURO_S3_SECRET_ACCESS_KEY",
    "DURO_S3_IAM_ROLE",
    "DURO_SLACK_FAILURE_WEBHOOK",
    "DURO_SLACK_SUCCESS_WEBHOOK",
    "DURO_SLACK_LOG_WEBHOOK",
};

/* SPEC's configuration, with every section, every key it names and inline ; comments. */
static const char spec_example[] =
    "[gateway]\n"
    "listen = 127.0.0.1:6432\n"
    "tls_cert =                 ; PEM files; when set, clients may (tls = allow) or must (tls = "
    "require) use TLS\n"
    "tls_key =\n"
    "tls = allow\n"
    "max_clients = 1000\n"
    "\n"
    "[warehouse]\n"
    "dialect = postgres         ; or redshift\n"
    "host = 127.0.0.1\n"
    "port = 5432\n"
    "dbname = postgres\n"
    "user = duro                ; the service account that builds the views\n"
    "password =\n"
    "sslmode = prefer           ; for the gateway's and the worker's warehouse connections\n"
    "\n"
    "[views]\n"
    "path = views\n"
    "rescan = 10s\n"
    "\n"
    "[catalog]\n"
    "path = duro.db             ; SQLite, the embedded default\n"
    "url =                      ; postgresql://... instead: one catalog shared by several "
    "instances (one leads the scheduler)\n"
    "publish = on               ; keep duro.status / duro.runs as real tables in the warehouse\n"
    "schema = duro\n"
    "readers =                  ; roles granted SELECT on the published tables (default: the "
    "admins)\n"
    "publish_every = 10s\n"
    "keep_runs = 90d\n"
    "\n"
    "[worker]\n"
    "poll = 30s\n"
    "concurrency = 2\n"
    "admins =                   ; roles allowed to CALL duro_refresh and to force refreshes; "
    "empty = everyone\n"
    "\n"
    "[web]\n"
    "listen = 127.0.0.1:8080    ; empty = no web UI\n"
    "token =                    ; when set, required for every action that changes something\n"
    "public = off               ; on = allow a non-loopback listen without a token\n"
    "\n"
    "[s3]\n"
    "endpoint =                 ; e.g. https://s3.amazonaws.com or a local S3-compatible server\n"
    "region = us-east-1\n"
    "bucket =\n"
    "prefix = duro\n"
    "access_key_id =\n"
    "secret_access_key =\n"
    "iam_role =                 ; Redshift COPY uses IAM_ROLE when set, else the keys\n"
    "\n"
    "[slack]\n"
    "failure_webhook =\n"
    "success_webhook =\n"
    "log_webhook =\n";

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++)
        unsetenv(env_vars[i]);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static int group_setup(void **state)
{
    (void)state;
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(conf_path, sizeof(conf_path), "%s/duro.conf", tmpdir);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    unlink(conf_path);
    return rmdir(tmpdir);
}

static int test_setup(void **state)
{
    (void)state;
    clear_env();
    return 0;
}

/* Writes text to conf_path and loads it; the load must succeed. */
static void load_ok(const char *text, Settings *s)
{
    write_file(conf_path, text);
    char *error = NULL;
    int rc = settings_load(conf_path, s, &error);
    if (rc != 0)
        fail_msg("unexpected error: %s", error);
    assert_null(error);
}

/* Writes text to conf_path and loads it; returns the error (caller frees). */
static char *load_fail(const char *text)
{
    write_file(conf_path, text);
    Settings s;
    char *error = NULL;
    assert_int_equal(settings_load(conf_path, &s, &error), -1);
    assert_non_null(error);
    assert_null(s.gateway.listen); /* left zeroed */
    settings_free(&s);
    return error;
}

/* Every field except the two paths, which depend on where the file is. */
static void assert_defaults_except_paths(const Settings *s)
{
    assert_string_equal(s->gateway.listen, "127.0.0.1:6432");
    assert_string_equal(s->gateway.tls_cert, "");
    assert_string_equal(s->gateway.tls_key, "");
    assert_string_equal(s->gateway.tls, "allow");
    assert_int_equal(s->gateway.tls_mode, SETTINGS_TLS_ALLOW);
    assert_int_equal(s->gateway.max_clients, 1000);
    assert_int_equal(s->gateway.max_logins, 200);
    assert_int_equal(s->gateway.login_timeout, 60);
    assert_int_equal(s->gateway.max_message, 64 << 20);
    assert_int_equal(s->gateway.inspect_limit, 1 << 20);
    assert_string_equal(s->gateway.inspect, "on");
    assert_int_equal(s->gateway.inspect_mode, SETTINGS_ON);
    assert_string_equal(s->warehouse.dialect, "postgres");
    assert_int_equal(s->warehouse.dialect_kind, DIALECT_POSTGRES);
    assert_string_equal(s->warehouse.host, "127.0.0.1");
    assert_int_equal(s->warehouse.port, 5432);
    assert_string_equal(s->warehouse.dbname, "postgres");
    assert_string_equal(s->warehouse.user, "duro");
    assert_string_equal(s->warehouse.password, "");
    assert_string_equal(s->warehouse.sslmode, "prefer");
    assert_int_equal(s->warehouse.sslmode_kind, SETTINGS_SSLMODE_PREFER);
    assert_int_equal(s->views.rescan, 10);
    assert_string_equal(s->catalog.url, "");
    assert_int_equal(s->catalog.publish_mode, SETTINGS_ON);
    assert_string_equal(s->catalog.schema, "duro");
    assert_int_equal(s->catalog.readers.n, 0);
    assert_int_equal(s->catalog.publish_every, 10);
    assert_int_equal(s->catalog.keep_runs, 90 * 24 * 3600);
    assert_int_equal(s->worker.poll, 30);
    assert_int_equal(s->worker.concurrency, 2);
    assert_int_equal(s->worker.admins.n, 0);
    assert_int_equal(s->worker.swap_lock_timeout, 5);
    assert_int_equal(s->worker.swap_tries, 5);
    assert_string_equal(s->web.listen, "127.0.0.1:8080");
    assert_string_equal(s->web.token, "");
    assert_int_equal(s->web.public_mode, SETTINGS_OFF);
    assert_string_equal(s->s3.endpoint, "");
    assert_string_equal(s->s3.region, "us-east-1");
    assert_string_equal(s->s3.bucket, "");
    assert_string_equal(s->s3.prefix, "duro");
    assert_string_equal(s->s3.access_key_id, "");
    assert_string_equal(s->s3.secret_access_key, "");
    assert_string_equal(s->s3.iam_role, "");
    assert_string_equal(s->slack.failure_webhook, "");
    assert_string_equal(s->slack.success_webhook, "");
    assert_string_equal(s->slack.log_webhook, "");
    assert_int_equal(s->slack.success_every, 60);
    assert_int_equal(s->slack.log_every, 3600);
    assert_int_equal(s->not_in_release.n, 0);
}

static void test_defaults_without_file(void **state)
{
    (void)state;
    Settings s;
    char *error = NULL;
    assert_int_equal(settings_load(NULL, &s, &error), 0);
    assert_defaults_except_paths(&s);
    assert_string_equal(s.views.path, "views");
    assert_string_equal(s.catalog.path, "duro.db");
    settings_free(&s);
}

static void test_empty_file_gives_defaults(void **state)
{
    (void)state;
    Settings s;
    load_ok("", &s);
    assert_defaults_except_paths(&s);
    settings_free(&s);
}

static void test_spec_example_with_inline_comments(void **state)
{
    (void)state;
    Settings s;
    char views[128], catalog[128];
    load_ok(spec_example, &s);
    assert_defaults_except_paths(&s);
    snprintf(views, sizeof(views), "%s/views", tmpdir);
    snprintf(catalog, sizeof(catalog), "%s/duro.db", tmpdir);
    assert_string_equal(s.views.path, views);
    assert_string_equal(s.catalog.path, catalog);
    settings_free(&s);
}

/* The shipped example must load and hold the defaults (skipped when run from elsewhere). */
static void test_shipped_conf_holds_defaults(void **state)
{
    (void)state;
    static const char *const candidates[] = {"conf/duro.conf", "../../conf/duro.conf"};
    for (size_t i = 0; i < 2; i++) {
        if (access(candidates[i], R_OK) != 0)
            continue;
        Settings s;
        char *error = NULL;
        int rc = settings_load(candidates[i], &s, &error);
        if (rc != 0)
            fail_msg("%s", error);
        assert_defaults_except_paths(&s);
        assert_true(str_ends_with(s.views.path, "conf/views"));
        assert_true(str_ends_with(s.catalog.path, "conf/duro.db"));
        settings_free(&s);
        return;
    }
    skip();
}

static void test_file_values(void **state)
{
    (void)state;
    Settings s;
    load_ok("# a comment\n"
            "; another\n"
            "[gateway]\n"
            "listen = 0.0.0.0:7432\n"
            "tls_cert = /etc/duro/cert.pem\n"
            "tls_key = /etc/duro/key.pem   # inline hash comment\n"
            "tls = REQUIRE\n"
            "max_clients = 50\n"
            "max_logins = 10\n"
            "login_timeout = 2m\n"
            "max_message = 512kB\n"
            "inspect_limit = 64kB\n"
            "  [ warehouse ]  \n"
            "  dialect = redshift\n"
            "host = example.redshift.amazonaws.com\n"
            "port = 5439\n"
            "dbname = dev\n"
            "user = svc_duro\n"
            "password = pa;ss#word\n"
            "sslmode = verify-full\n"
            "[views]\n"
            "path = /srv/views\n"
            "rescan = 2m\n"
            "[catalog]\n"
            "path = /var/lib/duro/duro.db\n"
            "[worker]\n"
            "poll = 1h\n"
            "concurrency = 8\n"
            "admins = alice ,  bob,,alice, carol \n"
            "swap_lock_timeout = 1m\n"
            "swap_tries = 3\n"
            "[web]\n"
            "listen =\n"
            "token = t0ken\n"
            "[s3]\n"
            "endpoint = http://127.0.0.1:9000\n"
            "region = eu-west-1\n"
            "bucket = b\n"
            "prefix = p/q\n"
            "access_key_id = AKIA\n"
            "secret_access_key = s3cret\n"
            "iam_role = arn:aws:iam::1:role/x\n"
            "[slack]\n"
            "failure_webhook = https://hooks.example/f\n"
            "success_webhook = https://hooks.example/s\n"
            "log_webhook = https://hooks.example/l\n",
            &s);
    assert_string_equal(s.gateway.listen, "0.0.0.0:7432");
    assert_string_equal(s.gateway.tls_cert, "/etc/duro/cert.pem");
    assert_string_equal(s.gateway.tls_key, "/etc/duro/key.pem");
    assert_string_equal(s.gateway.tls, "require");
    assert_int_equal(s.gateway.tls_mode, SETTINGS_TLS_REQUIRE);
    assert_int_equal(s.gateway.max_clients, 50);
    assert_int_equal(s.gateway.max_logins, 10);
    assert_int_equal(s.gateway.login_timeout, 120);
    assert_int_equal(s.gateway.max_message, 512 << 10);
    assert_int_equal(s.gateway.inspect_limit, 64 << 10);
    assert_string_equal(s.warehouse.dialect, "redshift");
    assert_int_equal(s.warehouse.dialect_kind, DIALECT_REDSHIFT);
    assert_string_equal(s.warehouse.host, "example.redshift.amazonaws.com");
    assert_int_equal(s.warehouse.port, 5439);
    assert_string_equal(s.warehouse.dbname, "dev");
    assert_string_equal(s.warehouse.user, "svc_duro");
    assert_string_equal(s.warehouse.password, "pa;ss#word"); /* no space: not a comment */
    assert_string_equal(s.warehouse.sslmode, "verify-full");
    assert_int_equal(s.warehouse.sslmode_kind, SETTINGS_SSLMODE_VERIFY_FULL);
    assert_string_equal(s.views.path, "/srv/views");
    assert_int_equal(s.views.rescan, 120);
    assert_string_equal(s.catalog.path, "/var/lib/duro/duro.db");
    assert_int_equal(s.worker.poll, 3600);
    assert_int_equal(s.worker.concurrency, 8);
    assert_int_equal(s.worker.admins.n, 3);
    assert_string_equal(s.worker.admins.items[0], "alice");
    assert_string_equal(s.worker.admins.items[1], "bob");
    assert_string_equal(s.worker.admins.items[2], "carol");
    assert_int_equal(s.worker.swap_lock_timeout, 60);
    assert_int_equal(s.worker.swap_tries, 3);
    assert_string_equal(s.web.listen, "");
    assert_string_equal(s.web.token, "t0ken");
    assert_string_equal(s.s3.endpoint, "http://127.0.0.1:9000");
    assert_string_equal(s.s3.region, "eu-west-1");
    assert_string_equal(s.s3.bucket, "b");
    assert_string_equal(s.s3.prefix, "p/q");
    assert_string_equal(s.s3.access_key_id, "AKIA");
    assert_string_equal(s.s3.secret_access_key, "s3cret");
    assert_string_equal(s.s3.iam_role, "arn:aws:iam::1:role/x");
    assert_string_equal(s.slack.failure_webhook, "https://hooks.example/f");
    assert_string_equal(s.slack.success_webhook, "https://hooks.example/s");
    assert_string_equal(s.slack.log_webhook, "https://hooks.example/l");
    settings_free(&s);
}

static void test_names_are_case_insensitive(void **state)
{
    (void)state;
    Settings s;
    load_ok("[Worker]\nConcurrency = 3\nADMINS = c\n"
            "[warehouse]\nsslmode = VERIFY-CA\n[gateway]\ninspect = Off\n",
            &s);
    assert_int_equal(s.worker.admins.n, 1);
    assert_string_equal(s.worker.admins.items[0], "c");
    assert_int_equal(s.worker.concurrency, 3);
    assert_string_equal(s.warehouse.sslmode, "verify-ca");
    assert_int_equal(s.warehouse.sslmode_kind, SETTINGS_SSLMODE_VERIFY_CA);
    assert_string_equal(s.gateway.inspect, "off");
    assert_int_equal(s.gateway.inspect_mode, SETTINGS_OFF);
    settings_free(&s);
}

/* The dialect is read once, here: any case, and nothing but its two names. */
static void test_dialect_names(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        Dialect want;
    } ok[] = {{"redshift", DIALECT_REDSHIFT},
              {"postgres", DIALECT_POSTGRES},
              {"Redshift", DIALECT_REDSHIFT}};
    for (size_t i = 0; i < ARRAY_LEN(ok); i++) {
        char *text = xasprintf("[warehouse]\ndialect = %s\n", ok[i].value);
        Settings s;
        load_ok(text, &s);
        assert_int_equal(s.warehouse.dialect_kind, ok[i].want);
        settings_free(&s);
        free(text);
    }
    static const char *const bad[] = {"mysql", "postgresql", ""};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        char *text = xasprintf("[warehouse]\ndialect = %s\n", bad[i]);
        char *error = load_fail(text);
        assert_non_null(strstr(error, "expected postgres or redshift"));
        free(error);
        free(text);
    }
}

static void test_bom_and_crlf(void **state)
{
    (void)state;
    Settings s;
    load_ok("\xEF\xBB\xBF[warehouse]\r\nport = 6543\r\nhost = db\r\n", &s);
    assert_int_equal(s.warehouse.port, 6543);
    assert_string_equal(s.warehouse.host, "db");
    settings_free(&s);
}

static void test_env_overrides_file(void **state)
{
    (void)state;
    Settings s;
    setenv("DURO_WAREHOUSE_PASSWORD", " secret with spaces ", 1);
    setenv("DURO_WAREHOUSE_PORT", "7000", 1);
    setenv("DURO_GATEWAY_MAX_CLIENTS", "12", 1);
    setenv("DURO_WORKER_ADMINS", " x , y ,", 1);
    setenv("DURO_WORKER_POLL", "5m", 1);
    setenv("DURO_SLACK_FAILURE_WEBHOOK", "https://hooks.example/T/B/X", 1);
    load_ok("[warehouse]\nport = 6000\npassword = from-file\n[worker]\nadmins = z\n", &s);
    assert_string_equal(s.warehouse.password, " secret with spaces ");
    assert_int_equal(s.warehouse.port, 7000);
    assert_int_equal(s.gateway.max_clients, 12);
    assert_int_equal(s.worker.admins.n, 2);
    assert_string_equal(s.worker.admins.items[0], "x");
    assert_string_equal(s.worker.admins.items[1], "y");
    assert_int_equal(s.worker.poll, 300);
    assert_string_equal(s.slack.failure_webhook, "https://hooks.example/T/B/X");
    settings_free(&s);
}

static void test_env_without_file(void **state)
{
    (void)state;
    Settings s;
    char *error = NULL;
    setenv("DURO_WAREHOUSE_DIALECT", "redshift", 1);
    setenv("DURO_WEB_LISTEN", "", 1);
    assert_int_equal(settings_load(NULL, &s, &error), 0);
    assert_string_equal(s.warehouse.dialect, "redshift");
    assert_string_equal(s.web.listen, "");
    settings_free(&s);
}

static void test_env_error_names_variable(void **state)
{
    (void)state;
    Settings s;
    char *error = NULL;
    setenv("DURO_GATEWAY_MAX_CLIENTS", "lots", 1);
    assert_int_equal(settings_load(NULL, &s, &error), -1);
    assert_string_equal(error, "DURO_GATEWAY_MAX_CLIENTS: invalid value 'lots' for [gateway] "
                               "max_clients: expected a positive integer");
    free(error);
    settings_free(&s);

    clear_env();
    setenv("DURO_GATEWAY_TLS", "require", 1);
    assert_int_equal(settings_load(NULL, &s, &error), -1);
    assert_string_equal(error, "DURO_GATEWAY_TLS: [gateway] tls = require needs tls_cert and "
                               "tls_key");
    free(error);

    /* The checks across keys run after the overrides: here the variable supplies the key. */
    clear_env();
    setenv("DURO_GATEWAY_TLS_KEY", "/k.pem", 1);
    load_ok("[gateway]\ntls_cert = /c.pem\ntls_key =\ntls = require\n", &s);
    assert_string_equal(s.gateway.tls_cert, "/c.pem");
    assert_string_equal(s.gateway.tls_key, "/k.pem");
    settings_free(&s);
}

static void test_relative_paths_resolve_against_config_dir(void **state)
{
    (void)state;
    Settings s;
    char expect[160];
    load_ok("[views]\npath = repo/views\n", &s);
    snprintf(expect, sizeof(expect), "%s/repo/views", tmpdir);
    assert_string_equal(s.views.path, expect);
    snprintf(expect, sizeof(expect), "%s/duro.db", tmpdir); /* the default, too */
    assert_string_equal(s.catalog.path, expect);
    settings_free(&s);

    load_ok("[views]\npath = /abs/views\n[catalog]\npath = :memory:\n", &s);
    assert_string_equal(s.views.path, "/abs/views");
    assert_string_equal(s.catalog.path, ":memory:");
    settings_free(&s);

    /* A path from the environment is the user's, relative to the working directory. */
    setenv("DURO_CATALOG_PATH", "state/duro.db", 1);
    load_ok("[catalog]\npath = other.db\n", &s);
    assert_string_equal(s.catalog.path, "state/duro.db");
    settings_free(&s);
}

static void test_config_in_working_directory(void **state)
{
    (void)state;
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    write_file(conf_path, "[views]\npath = v\n");
    assert_int_equal(chdir(tmpdir), 0);
    Settings s;
    char *error = NULL;
    int rc = settings_load("duro.conf", &s, &error);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, 0);
    assert_string_equal(s.views.path, "v");
    assert_string_equal(s.catalog.path, "duro.db");
    settings_free(&s);
}

static void test_missing_file(void **state)
{
    (void)state;
    Settings s;
    char *error = NULL;
    char path[128];
    snprintf(path, sizeof(path), "%s/nope.conf", tmpdir);
    assert_int_equal(settings_load(path, &s, &error), -1);
    char *expect = xasprintf("%s: cannot read: No such file or directory", path);
    assert_string_equal(error, expect);
    free(expect);
    free(error);
}

/* Each bad file and the exact error after "PATH". */
static const struct {
    const char *text;
    const char *error;
} bad_files[] = {
    {"[gateway]\nlisten = 127.0.0.1:6432\nbogus = 1\n", ":3: unknown key 'bogus' in [gateway]"},
    {"[gateway]\n\n[nosuch]\nx = 1\n", ":3: unknown section [nosuch]"},
    {"[gateway]\n[nosuch]\n", ":2: unknown section [nosuch]"},
    {"port = 5432\n", ":1: key 'port' outside of any [section]"},
    {"[gateway\nlisten = x\n", ":1: syntax error: expected [section]"},
    {"[gateway] x\n", ":1: syntax error: expected [section]"},
    {"[web]\n\njust some words\n", ":3: syntax error: expected key = value"},
    {"[warehouse]\nport = 0\n",
     ":2: invalid value '0' for [warehouse] port: expected a port number (1-65535)"},
    {"[warehouse]\nport = 65536\n",
     ":2: invalid value '65536' for [warehouse] port: expected a port number (1-65535)"},
    {"[warehouse]\nport = -1\n",
     ":2: invalid value '-1' for [warehouse] port: expected a port number (1-65535)"},
    {"[warehouse]\nport = 54x\n",
     ":2: invalid value '54x' for [warehouse] port: expected a port number (1-65535)"},
    {"[warehouse]\nport =\n",
     ":2: invalid value '' for [warehouse] port: expected a port number (1-65535)"},
    {"[gateway]\nmax_clients = 0\n",
     ":2: invalid value '0' for [gateway] max_clients: expected a positive integer"},
    {"[gateway]\nmax_logins = 0\n",
     ":2: invalid value '0' for [gateway] max_logins: expected a positive integer"},
    {"[gateway]\nlogin_timeout = 0s\n", ":2: invalid value '0s' for [gateway] login_timeout: "
                                        "expected a duration such as 10s, 1m or 2m"},
    {"[gateway]\nmax_clients = 99999999999\n",
     ":2: invalid value '99999999999' for [gateway] max_clients: expected a positive integer"},
    {"[worker]\nconcurrency = two\n",
     ":2: invalid value 'two' for [worker] concurrency: expected a positive integer"},
    {"[warehouse]\ndialect = mysql\n",
     ":2: invalid value 'mysql' for [warehouse] dialect: expected postgres or redshift"},
    {"[gateway]\ntls = maybe\n",
     ":2: invalid value 'maybe' for [gateway] tls: expected allow or require"},
    {"[warehouse]\nsslmode = sometimes\n",
     ":2: invalid value 'sometimes' for [warehouse] sslmode: expected disable, allow, prefer, "
     "require, verify-ca or verify-full"},
    {"[views]\nrescan = 0s\n",
     ":2: invalid value '0s' for [views] rescan: expected a duration such as 30s, 10m, 2h or 1d"},
    {"[worker]\n\npoll = 1.5h\n",
     ":3: invalid value '1.5h' for [worker] poll: expected a duration such as 30s, 10m, 2h or 1d"},
    {"[worker]\npoll =   ; nothing\n",
     ":2: invalid value '' for [worker] poll: expected a duration such as 30s, 10m, 2h or 1d"},
    {"[gateway]\nlisten = 6432\n",
     ":2: invalid value '6432' for [gateway] listen: expected HOST:PORT, or empty for no gateway"},
    {"[web]\nlisten = localhost\n",
     ":2: invalid value 'localhost' for [web] listen: expected HOST:PORT, or empty for no web UI"},
    {"[views]\npath =\n", ":2: invalid value '' for [views] path: expected a non-empty path"},
    {"[gateway]\ntls_cert = cert.pem\n", ":2: [gateway] tls_cert is set but tls_key is not"},
    {"[gateway]\n\ntls_key = key.pem\n", ":3: [gateway] tls_key is set but tls_cert is not"},
    {"[gateway]\ntls = require\n", ":2: [gateway] tls = require needs tls_cert and tls_key"},
    {"[gateway]\nmax_message = 1kB\n",
     ":2: invalid value '1kB' for [gateway] max_message: expected a size from 16kB to 1GB, such as "
     "512kB, 64MB or 1GB"},
    {"[gateway]\nmax_message = 2GB\n",
     ":2: invalid value '2GB' for [gateway] max_message: expected a size from 16kB to 1GB, such as "
     "512kB, 64MB or 1GB"},
    {"[gateway]\ninspect_limit = 8kB\n",
     ":2: invalid value '8kB' for [gateway] inspect_limit: expected a size from 16kB to 1GB, such "
     "as 512kB, 1MB or 16MB"},
    {"[worker]\nswap_lock_timeout = 2h\n",
     ":2: invalid value '2h' for [worker] swap_lock_timeout: expected a duration from 1s to 1h, "
     "such as 5s or 1m"},
    {"[worker]\nswap_lock_timeout = 0\n",
     ":2: invalid value '0' for [worker] swap_lock_timeout: expected a duration from 1s to 1h, "
     "such as 5s or 1m"},
    {"[worker]\nswap_tries = 0\n",
     ":2: invalid value '0' for [worker] swap_tries: expected an integer from 1 to 100"},
    {"[worker]\nswap_tries = 101\n",
     ":2: invalid value '101' for [worker] swap_tries: expected an integer from 1 to 100"},
    /* The first problem wins. */
    {"[worker]\nconcurrency = 0\n[nosuch]\n",
     ":2: invalid value '0' for [worker] concurrency: expected a positive integer"},
};

static void test_bad_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
        char *error = load_fail(bad_files[i].text);
        char *expect = xasprintf("%s%s", conf_path, bad_files[i].error);
        if (strcmp(error, expect) != 0)
            fail_msg("case %zu:\n got: %s\nwant: %s", i, error, expect);
        free(expect);
        free(error);
    }
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    char *error = load_fail("[worker]\npoll = 30s\nconcurrency = 2\n[web]\n[worker]\nPOLL = 1m\n");
    assert_non_null(strstr(error, ":6: [worker] poll is set twice (first on line 2)"));
    free(error);
    /* The environment overriding the file is not a duplicate. */
    setenv("DURO_WORKER_POLL", "5s", 1);
    Settings s;
    load_ok("[worker]\npoll = 30s\n", &s);
    assert_int_equal(s.worker.poll, 5);
    settings_free(&s);
    unsetenv("DURO_WORKER_POLL");
}

static void test_sections_a_command_does_not_use(void **state)
{
    (void)state;
    write_file(conf_path, "[gateway]\nlisten = nowhere\ntls = require\n[web]\nlisten = x\n"
                          "[worker]\npoll = 2m\n");
    Settings s;
    char *error = NULL;
    assert_int_equal(settings_load_for(conf_path, SETTINGS_WORKER | SETTINGS_VIEWS, &s, &error), 0);
    assert_int_equal(s.worker.poll, 120);
    assert_string_equal(s.gateway.listen, "127.0.0.1:6432"); /* the default stays */
    assert_string_equal(s.web.listen, "127.0.0.1:8080");
    settings_free(&s);
    /* The daemon uses them all. */
    assert_int_equal(settings_load(conf_path, &s, &error), -1);
    assert_non_null(strstr(error, "invalid value 'nowhere' for [gateway] listen"));
    free(error);
    /* An unknown key is a typo wherever it is. */
    write_file(conf_path, "[web]\nlisen = 127.0.0.1:1\n");
    assert_int_equal(settings_load_for(conf_path, SETTINGS_VIEWS, &s, &error), -1);
    assert_non_null(strstr(error, "unknown key 'lisen' in [web]"));
    free(error);
}

/* SPEC's catalog keys load and are checked; none is of a feature not in this release. */
static void test_features_not_in_release(void **state)
{
    (void)state;
    Settings s;
    load_ok("[catalog]\nurl = postgresql://duro:hunter2@db/duro\npublish = OFF\nschema = duro\n"
            "readers = jane, john\npublish_every = 1m\nkeep_runs = 30d\n"
            "[web]\nlisten = 0.0.0.0:9000\ntoken =\n"
            "[slack]\nfailure_webhook = https://hooks.slack.com/services/T/B/x\n",
            &s);
    assert_string_equal(s.catalog.url, "postgresql://duro:hunter2@db/duro");
    assert_int_equal(s.catalog.publish_mode, SETTINGS_OFF);
    assert_int_equal(s.catalog.readers.n, 2);
    assert_int_equal(s.catalog.publish_every, 60);
    assert_int_equal(s.catalog.keep_runs, 30 * 24 * 3600);
    /* Every feature is in this release: nothing is listed, the shared catalog included. */
    assert_int_equal(s.not_in_release.n, 0);
    /* The catalog opened is the URL; it is shown without its password. */
    assert_string_equal(settings_catalog_target(&s), "postgresql://duro:hunter2@db/duro");
    char *shown = settings_catalog_shown(&s);
    assert_string_equal(shown, "postgresql://duro@db/duro");
    free(shown);
    settings_free(&s);
    load_ok("[catalog]\nurl = postgres://:pw@h:5433/c?sslmode=require&password=pw\n", &s);
    shown = settings_catalog_shown(&s);
    assert_string_equal(shown, "postgres://h:5433/c");
    free(shown);
    settings_free(&s);
    load_ok("[catalog]\npath = /var/lib/duro/duro.db\n", &s);
    assert_string_equal(settings_catalog_target(&s), "/var/lib/duro/duro.db");
    settings_free(&s);
    char *bad = load_fail("[catalog]\nurl = mysql://duro@db/duro\n");
    assert_non_null(strstr(bad, ":2: [catalog] url must be a PostgreSQL URL"));
    free(bad);

    /* The web UI is in this release: its keys are not listed. */
    setenv("DURO_WEB_PUBLIC", "on", 1);
    load_ok("[web]\nlisten =\n", &s);
    assert_int_equal(s.not_in_release.n, 0);
    settings_free(&s);
    unsetenv("DURO_WEB_PUBLIC");

    char *error = load_fail("[catalog]\npublish = sometimes\n");
    assert_non_null(strstr(error, ":2: invalid value 'sometimes' for [catalog] publish"));
    free(error);
    /* A catalog URL may carry a password. */
    error = load_fail("[catalog]\nurl = postgresql://duro:hunter2@db/duro\nkeep_runs = forever\n");
    assert_null(strstr(error, "hunter2"));
    free(error);
}

static void test_empty_gateway_listen(void **state)
{
    (void)state;
    Settings s;
    load_ok("[gateway]\nlisten =\n", &s);
    assert_string_equal(s.gateway.listen, "");
    settings_free(&s);
}

static void test_long_lines(void **state)
{
    (void)state;
    /* A long comment is fine; a long value is reported with its line. */
    char text[1024];
    char pad[400];
    memset(pad, 'x', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    snprintf(text, sizeof(text), "[s3]\nbucket = b   ; %s\n", pad);
    Settings s;
    load_ok(text, &s);
    assert_string_equal(s.s3.bucket, "b");
    settings_free(&s);

    snprintf(text, sizeof(text), "[s3]\n\nbucket = %s\n", pad);
    char *error = load_fail(text);
    char *expect = xasprintf("%s:3: line too long", conf_path);
    assert_true(strncmp(error, expect, strlen(expect)) == 0);
    free(expect);
    free(error);
}

static void test_secrets_never_echoed(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "[warehouse]\npasword = hunter2\n", /* misspelled key */
        "[warehouse]\npassword hunter2\n",  /* missing '=' */
        "[web]\ntoken\n= hunter2\n",        /* broken across lines */
        "[warehouse]\npassword = hunter2\nport = x\n",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        char *error = load_fail(texts[i]);
        if (strstr(error, "hunter2"))
            fail_msg("case %zu echoes the secret: %s", i, error);
        free(error);
    }

    setenv("DURO_WAREHOUSE_PASSWORD", "hunter2", 1);
    setenv("DURO_WEB_TOKEN", "hunter2", 1);
    setenv("DURO_S3_SECRET_ACCESS_KEY", "hunter2", 1);
    setenv("DURO_WAREHOUSE_SSLMODE", "bogus", 1);
    char *error = load_fail("[warehouse]\n");
    assert_string_equal(error, "DURO_WAREHOUSE_SSLMODE: invalid value 'bogus' for [warehouse] "
                               "sslmode: expected disable, allow, prefer, require, verify-ca or "
                               "verify-full");
    free(error);
}

static void test_parse_duration(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t seconds; /* -1 = invalid */
    } cases[] = {
        {"30s", 30},   {"10m", 600},   {"2h", 7200},
        {"1d", 86400}, {"1w", 604800}, {"45", 45},
        {"2H", 7200},  {"0", -1},      {"0s", -1},
        {"", -1},      {"s", -1},      {"-5s", -1},
        {"1.5h", -1},  {"10 s", -1},   {" 10s", -1},
        {"10sec", -1}, {"10y", -1},    {"99999999999999999999", -1},
        {"5200w", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t got = -1;
        int rc = settings_parse_duration(cases[i].text, &got);
        if (cases[i].seconds < 0) {
            if (rc != -1)
                fail_msg("'%s' should be invalid", cases[i].text);
        } else if (rc != 0 || got != cases[i].seconds) {
            fail_msg("'%s': rc %d, got %lld", cases[i].text, rc, (long long)got);
        }
    }
}

static void test_parse_size(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t bytes; /* -1 = invalid */
    } cases[] = {
        {"512kB", 512 << 10},
        {"64MB", 64 << 20},
        {"1GB", 1 << 30},
        {"1gb", 1 << 30},
        {"20000", 20000},
        {"0", -1},
        {"", -1},
        {"MB", -1},
        {"1.5MB", -1},
        {"-1MB", -1},
        {"1 MB", -1},
        {"1TB", -1},
        {"99999999999999GB", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t got = -1;
        int rc = settings_parse_size(cases[i].text, &got);
        if (cases[i].bytes < 0) {
            if (rc != -1)
                fail_msg("'%s' should be invalid", cases[i].text);
        } else if (rc != 0 || got != cases[i].bytes) {
            fail_msg("'%s': rc %d, got %lld", cases[i].text, rc, (long long)got);
        }
    }
}

static void test_free_is_idempotent(void **state)
{
    (void)state;
    Settings s;
    char *error = NULL;
    assert_int_equal(settings_load(NULL, &s, &error), 0);
    settings_free(&s);
    assert_null(s.warehouse.host);
    settings_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults_without_file, test_setup),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test_setup(test_empty_file_gives_defaults, test_setup),
        cmocka_unit_test_setup(test_spec_example_with_inline_comments, test_setup),
        cmocka_unit_test_setup(test_shipped_conf_holds_defaults, test_setup),
        cmocka_unit_test_setup(test_file_values, test_setup),
        cmocka_unit_test_setup(test_names_are_case_insensitive, test_setup),
        cmocka_unit_test_setup(test_dialect_names, test_setup),
        cmocka_unit_test_setup(test_bom_and_crlf, test_setup),
        cmocka_unit_test_setup(test_env_overrides_file, test_setup),
        cmocka_unit_test_setup(test_env_without_file, test_setup),
        cmocka_unit_test_setup(test_env_error_names_variable, test_setup),
        cmocka_unit_test_setup(test_relative_paths_resolve_against_config_dir, test_setup),
        cmocka_unit_test_setup(test_config_in_working_directory, test_setup),
        cmocka_unit_test_setup(test_missing_file, test_setup),
        cmocka_unit_test_setup(test_bad_files, test_setup),
        cmocka_unit_test_setup(test_long_lines, test_setup),
        cmocka_unit_test_setup(test_duplicate_keys, test_setup),
        cmocka_unit_test_setup(test_sections_a_command_does_not_use, test_setup),
        cmocka_unit_test_setup(test_empty_gateway_listen, test_setup),
        cmocka_unit_test_setup(test_features_not_in_release, test_setup),
        cmocka_unit_test_setup(test_secrets_never_echoed, test_setup),
        cmocka_unit_test_setup(test_parse_duration, test_setup),
        cmocka_unit_test_setup(test_free_is_idempotent, test_setup),
    };
    int failed = cmocka_run_group_tests_name("settings", tests, group_setup, group_teardown);
    clear_env();
    return failed;
}
