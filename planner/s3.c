/*
 * Redshift loads through S3 (see s3.h): SigV4 signing with OpenSSL, one PUT
 * and one DELETE with libcurl's easy interface, the CSV's NULLs marked for
 * COPY, and the COPY itself through the worker's warehouse connection.
 * No credential ever reaches an error message or the log.
 */
#include "planner/s3.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "planner/dialect.h"

#define S3_SHA256_LEN 32
/* Hex SHA-256 of an empty body (the DELETE's payload). */
#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* The most of an S3 error response kept, for its <Code> and <Message>. */
#define S3_MAX_ERROR_BODY 8192
/* How long the DELETE may take, past the load's deadline if need be. */
#define S3_DELETE_TIMEOUT_MS 30000

/* ---- Signature Version 4 ---- */

static void hmac_sha256(const void *key, size_t key_len, const char *msg,
                        unsigned char out[S3_SHA256_LEN])
{
    unsigned int len = S3_SHA256_LEN;
    xnonnull(
        HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), out, &len));
}

/* A header as signed: lowercased name, value trimmed with inner runs of spaces made one. */
typedef struct SignedHeader {
    char *name;
    char *value;
} SignedHeader;

static SignedHeader signed_header(const char *name, const char *value)
{
    SignedHeader h = {xstrdup(name), xmalloc(strlen(value) + 1)};
    str_lower(h.name);
    char *o = h.value;
    for (const char *p = value; *p; p++) {
        if (*p == ' ' || *p == '\t') {
            if (o > h.value && o[-1] != ' ')
                *o++ = ' ';
        } else {
            *o++ = *p;
        }
    }
    while (o > h.value && o[-1] == ' ')
        o--;
    *o = '\0';
    return h;
}

static int signed_header_cmp(const void *a, const void *b)
{
    return strcmp(((const SignedHeader *)a)->name, ((const SignedHeader *)b)->name);
}

char *s3_authorization(const char *method, const char *host, const char *path, const char *query,
                       const S3Header *headers, size_t nheaders, const char *amz_date,
                       const char *payload_sha256, const char *region, const char *access_key,
                       const char *secret)
{
    size_t n = nheaders + 3;
    SignedHeader *h = xcalloc(n, sizeof(*h));
    h[0] = signed_header("host", host);
    h[1] = signed_header("x-amz-content-sha256", payload_sha256);
    h[2] = signed_header("x-amz-date", amz_date);
    for (size_t i = 0; i < nheaders; i++)
        h[3 + i] = signed_header(headers[i].name, headers[i].value);
    qsort(h, n, sizeof(*h), signed_header_cmp);

    StrVec lines = {0}, names = {0};
    for (size_t i = 0; i < n; i++) {
        strvec_push_owned(&lines, xasprintf("%s:%s\n", h[i].name, h[i].value));
        strvec_push(&names, h[i].name);
        free(h[i].name);
        free(h[i].value);
    }
    free(h);
    char *canonical_headers = strvec_join(&lines, "");
    char *signed_names = strvec_join(&names, ";");
    strvec_free(&lines);
    strvec_free(&names);

    char *canonical = xasprintf("%s\n%s\n%s\n%s\n%s\n%s", method, path, query, canonical_headers,
                                signed_names, payload_sha256);
    char canonical_hash[SHA256_HEX_LEN + 1];
    sha256_hex(canonical, strlen(canonical), canonical_hash);
    char date[9];
    snprintf(date, sizeof(date), "%.8s", amz_date);
    char *scope = xasprintf("%s/%s/s3/aws4_request", date, region);
    char *to_sign = xasprintf("AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, canonical_hash);

    /* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), "s3"), "aws4_request") */
    char *first_key = xasprintf("AWS4%s", secret);
    unsigned char k[S3_SHA256_LEN], sig[S3_SHA256_LEN];
    hmac_sha256(first_key, strlen(first_key), date, k);
    OPENSSL_cleanse(first_key, strlen(first_key));
    free(first_key);
    hmac_sha256(k, sizeof(k), region, k);
    hmac_sha256(k, sizeof(k), "s3", k);
    hmac_sha256(k, sizeof(k), "aws4_request", k);
    hmac_sha256(k, sizeof(k), to_sign, sig);
    OPENSSL_cleanse(k, sizeof(k));
    char sig_hex[SHA256_HEX_LEN + 1];
    hex_encode(sig, sizeof(sig), sig_hex);

    char *auth = xasprintf("AWS4-HMAC-SHA256 Credential=%s/%s,SignedHeaders=%s,Signature=%s",
                           access_key, scope, signed_names, sig_hex);
    free(canonical_headers);
    free(signed_names);
    free(canonical);
    free(scope);
    free(to_sign);
    return auth;
}

char *s3_uri_encode(const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = xmalloc(3 * strlen(s) + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~' || (*p == '/' && keep_slash)) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

/* ---- Where the object goes ---- */

char *s3_object_key(const Settings *s, const char *schema, const char *table, const char *unique)
{
    const char *prefix = s->s3.prefix;
    while (*prefix == '/')
        prefix++;
    int len = (int)strlen(prefix);
    while (len > 0 && prefix[len - 1] == '/')
        len--;
    return xasprintf("%.*s%s%s.%s/%s.csv", len, prefix, len ? "/" : "", schema, table, unique);
}

/* [s3] region, or us-east-1 when it is empty. */
static const char *s3_region(const Settings *s)
{
    return s->s3.region[0] ? s->s3.region : "us-east-1";
}

int s3_object_address(const Settings *s, const char *key, char **url, char **host, char **path,
                      char **error)
{
    char *endpoint = s->s3.endpoint[0] ? xstrdup(s->s3.endpoint)
                                       : xasprintf("https://s3.%s.amazonaws.com", s3_region(s));
    size_t len = strlen(endpoint);
    while (len > 0 && endpoint[len - 1] == '/')
        endpoint[--len] = '\0';
    const char *rest = NULL;
    if (strncmp(endpoint, "https://", 8) == 0)
        rest = endpoint + 8;
    else if (strncmp(endpoint, "http://", 7) == 0)
        rest = endpoint + 7;
    size_t host_len = rest ? strcspn(rest, "/?#") : 0;
    if (host_len == 0 || strchr(rest + host_len, '?') || strchr(rest + host_len, '#')) {
        *error = xasprintf("[s3] endpoint \"%s\" is not an http:// or https:// address", endpoint);
        free(endpoint);
        return -1;
    }
    char *bucket = s3_uri_encode(s->s3.bucket, false);
    char *object = s3_uri_encode(key, true);
    /* An endpoint's own path ("https://host/storage") comes first, as it is. */
    *path = xasprintf("%s/%s/%s", rest + host_len, bucket, object);
    *host = xstrndup(rest, host_len);
    *url = xasprintf("%.*s%s", (int)(rest - endpoint + host_len), endpoint, *path);
    free(bucket);
    free(object);
    free(endpoint);
    return 0;
}

/* ---- The CSV's NULLs ---- */

typedef enum CsvState {
    CSV_RECORD_START, /* before the first byte of a record */
    CSV_FIELD_START,  /* after a comma */
    CSV_UNQUOTED,     /* in a field that did not start with a quote */
    CSV_QUOTED,       /* between a field's quotes */
    CSV_QUOTE,        /* a quote in a quoted field: the closing one, or the first of "" */
    CSV_CR,           /* after a CR that ended a record: an LF right after belongs to it */
} CsvState;

int s3_csv_mark_nulls(FILE *in, FILE *out, const char *null_as, char **error)
{
    CsvState st = CSV_RECORD_START;
    int c;
    while ((c = getc_unlocked(in)) != EOF) {
        if (st == CSV_CR) {
            st = CSV_RECORD_START;
            if (c == '\n')
                continue;
        }
        if (st == CSV_QUOTE) {
            st = CSV_UNQUOTED; /* after the closing quote: like an unquoted field */
            if (c == '"')
                st = CSV_QUOTED;
        } else if (st == CSV_QUOTED) {
            if (c == '"')
                st = CSV_QUOTE;
            putc_unlocked(c, out);
            continue;
        }
        bool at_start = st == CSV_RECORD_START || st == CSV_FIELD_START;
        if (c == ',' || c == '\n' || c == '\r') {
            if (at_start)
                fputs(null_as, out);
            putc_unlocked(c == ',' ? ',' : '\n', out);
            st = c == ',' ? CSV_FIELD_START : c == '\r' ? CSV_CR : CSV_RECORD_START;
            continue;
        }
        if (at_start)
            st = c == '"' ? CSV_QUOTED : CSV_UNQUOTED;
        putc_unlocked(c, out);
    }
    if (st == CSV_FIELD_START) /* the last record ends with an empty field and no newline */
        fputs(null_as, out);
    if (ferror(in)) {
        *error = xasprintf("reading the CSV file: %s", strerror(errno));
        return -1;
    }
    if (st == CSV_QUOTED) {
        *error = xstrdup("the CSV file ends inside a quoted field");
        return -1;
    }
    if (fflush(out) != 0 || ferror(out)) {
        *error = xasprintf("writing the CSV file for S3: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- COPY ---- */

/* 'text' with inner quotes doubled, or NULL when text holds a backslash. */
static char *sql_literal(const char *text)
{
    if (strchr(text, '\\'))
        return NULL;
    char *out = xmalloc(2 * strlen(text) + 3), *o = out;
    *o++ = '\'';
    for (const char *p = text; *p; p++) {
        if (*p == '\'')
            *o++ = '\'';
        *o++ = *p;
    }
    *o++ = '\'';
    *o = '\0';
    return out;
}

/*
 * How NULLs survive the trip. The file's convention is PostgreSQL's: NULL is an
 * empty unquoted field, an empty string is "". Redshift's CSV parser does not
 * tell the two apart: without options both load as '' into CHAR/VARCHAR (and as
 * NULL into other types); EMPTYASNULL, as NULL AS '', makes both NULL, "" included;
 * BLANKSASNULL would also turn whitespace-only strings into NULL. So s3_load_csv writes a marker
 * into every unquoted empty field (s3_csv_mark_nulls), and COPY reads that marker
 * as NULL with NULL AS, for every column type; "" then loads as '' in string
 * columns. The marker is random per load, so no real value can match it.
 * TIMEFORMAT 'auto' takes the timestamp forms Python writes (with a space or a T).
 */
char *s3_copy_sql(const Settings *s, const char *schema, const char *table, const char *s3_url,
                  const char *null_as)
{
    bool role = s->s3.iam_role[0] != '\0';
    char *url = sql_literal(s3_url);
    char *cred1 = sql_literal(role ? s->s3.iam_role : s->s3.access_key_id);
    char *cred2 = role ? xstrdup("") : sql_literal(s->s3.secret_access_key);
    char *nulls = sql_literal(null_as);
    char *region = s->s3.region[0] ? sql_literal(s->s3.region) : xstrdup("");
    char *sql = NULL;
    if (url && cred1 && cred2 && nulls && region) {
        char *target = sql_table(schema, table, NULL);
        char *creds = role ? xasprintf("IAM_ROLE %s", cred1)
                           : xasprintf("ACCESS_KEY_ID %s SECRET_ACCESS_KEY %s", cred1, cred2);
        sql = xasprintf("COPY %s FROM %s %s FORMAT AS CSV IGNOREHEADER 1 NULL AS %s "
                        "TIMEFORMAT 'auto'%s%s",
                        target, url, creds, nulls, region[0] ? " REGION " : "", region);
        free(target);
        OPENSSL_cleanse(creds, strlen(creds));
        free(creds);
    }
    if (cred2)
        OPENSSL_cleanse(cred2, strlen(cred2));
    free(url);
    free(cred1);
    free(cred2);
    free(nulls);
    free(region);
    return sql;
}

/* ---- HTTP ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The first S3_MAX_ERROR_BODY bytes of a response body. */
typedef struct Body {
    char text[S3_MAX_ERROR_BODY + 1];
    size_t len;
} Body;

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    Body *b = arg;
    size_t take = size * n;
    if (take > S3_MAX_ERROR_BODY - b->len)
        take = S3_MAX_ERROR_BODY - b->len;
    memcpy(b->text + b->len, data, take);
    b->len += take;
    b->text[b->len] = '\0';
    return size * n;
}

/* The text of <tag>...</tag> in an S3 error body, or NULL. */
static char *xml_element(const char *body, const char *tag)
{
    char *open = xasprintf("<%s>", tag), *close = xasprintf("</%s>", tag);
    const char *start = strstr(body, open);
    const char *end = start ? strstr(start, close) : NULL;
    char *text = end ? xstrndup(start + strlen(open), (size_t)(end - start) - strlen(open)) : NULL;
    free(open);
    free(close);
    return text;
}

/* Seconds since the epoch as x-amz-date: 20130524T000000Z. */
static void amz_date_now(char out[17])
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/*
 * Sends one signed request for the object key: PUT with upload (size bytes) as
 * the body, or DELETE when upload is NULL. timeout_ms > 0. Returns WH_OK, or
 * WH_TIMEOUT / WH_ERROR with *error naming the s3:// object and S3's <Code>.
 */
static WhStatus s3_request(const Settings *s, const char *key, FILE *upload, int64_t size,
                           int64_t timeout_ms, char **error)
{
    const char *method = upload ? "PUT" : "DELETE";
    char *object = xasprintf("s3://%s/%s", s->s3.bucket, key);
    char *url = NULL, *host = NULL, *path = NULL;
    if (s3_object_address(s, key, &url, &host, &path, error) != 0) {
        free(object);
        return WH_ERROR;
    }
    pthread_once(&curl_once, curl_init);
    CURL *curl = curl_init_result == CURLE_OK ? curl_easy_init() : NULL;
    if (!curl) {
        *error = xasprintf("S3 %s %s: libcurl could not be initialised", method, object);
        free(object);
        free(url);
        free(host);
        free(path);
        return WH_ERROR;
    }

    char date[17];
    amz_date_now(date);
    /* The PUT goes unsigned (the file may be large; TLS protects it); the DELETE has no body. */
    const char *payload = upload ? "UNSIGNED-PAYLOAD" : S3_EMPTY_SHA256;
    char *auth = s3_authorization(method, host, path, "", NULL, 0, date, payload, s3_region(s),
                                  s->s3.access_key_id, s->s3.secret_access_key);
    char *lines[] = {xasprintf("Host: %s", host), xasprintf("x-amz-date: %s", date),
                     xasprintf("x-amz-content-sha256: %s", payload),
                     xasprintf("Authorization: %s", auth)};
    struct curl_slist *headers = NULL;
    for (size_t i = 0; i < ARRAY_LEN(lines); i++) {
        headers = xnonnull(curl_slist_append(headers, lines[i]));
        free(lines[i]);
    }
    free(auth);

    Body body = {.len = 0};
    char curl_error[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    if (upload) {
        curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(curl, CURLOPT_READDATA, upload);
        curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
    } else {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "DELETE");
    }

    WhStatus st = WH_OK;
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        st = WH_TIMEOUT;
        *error = xasprintf("S3 %s %s: timed out", method, object);
    } else if (rc != CURLE_OK) {
        st = WH_ERROR;
        *error = xasprintf("S3 %s %s: %s", method, object,
                           curl_error[0] ? curl_error : curl_easy_strerror(rc));
    } else if (status >= 300) {
        st = WH_ERROR;
        char *code = xml_element(body.text, "Code");
        char *message = xml_element(body.text, "Message");
        *error = xasprintf("S3 %s %s: HTTP %ld%s%s%s%s", method, object, status, code ? " " : "",
                           code ? code : "", message ? ": " : "", message ? message : "");
        free(code);
        free(message);
    }
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    free(object);
    free(url);
    free(host);
    free(path);
    return st;
}

/* ---- The load ---- */

/* n random bytes as 2n hex digits into out (2n + 1 bytes). Returns 0, or -1. */
static int random_hex(size_t n, char *out)
{
    unsigned char bytes[16];
    if (n > sizeof(bytes) || RAND_bytes(bytes, (int)n) != 1)
        return -1;
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", bytes[i]);
    return 0;
}

/* Milliseconds left before deadline_us (0 = none: a day), at least 1, or 0 once it has passed. */
static int64_t ms_left(int64_t deadline_us)
{
    if (deadline_us == 0)
        return 24 * 3600 * 1000;
    int64_t left = (deadline_us - clock_mono_us()) / 1000;
    return left > 0 ? left : 0;
}

/* The settings a load needs; NULL when they are there, else the message (static). */
static const char *s3_settings_problem(const Settings *s)
{
    if (!s->s3.bucket[0])
        return "[s3] bucket is not set: Redshift loads a processor's result through S3";
    if (!s->s3.access_key_id[0] || !s->s3.secret_access_key[0])
        return "[s3] access_key_id and secret_access_key are not set: Duro uploads a "
               "processor's result to S3 with them";
    return NULL;
}

/* The marked copy of csv_path, open for reading from its start, and its size. NULL with *error. */
static FILE *marked_copy(const char *csv_path, const char *null_as, int64_t *size, char **error)
{
    FILE *in = fopen(csv_path, "rb");
    if (!in) {
        *error = xasprintf("%s: %s", csv_path, strerror(errno));
        return NULL;
    }
    /* Beside the file, where there is room for it; gone from the directory once open. */
    char *tmp = xasprintf("%s.s3-%d", csv_path, (int)getpid());
    FILE *out = fopen(tmp, "w+b");
    if (!out)
        *error = xasprintf("%s: %s", tmp, strerror(errno));
    else
        unlink(tmp);
    free(tmp);
    char *mark_error = NULL;
    if (out && s3_csv_mark_nulls(in, out, null_as, &mark_error) != 0) {
        *error = xasprintf("%s: %s", csv_path, mark_error);
        free(mark_error);
        fclose(out);
        out = NULL;
    }
    fclose(in);
    if (out) {
        *size = ftello(out);
        rewind(out);
    }
    return out;
}

/* Rows COPY loaded: its command tag's count, else pg_last_copy_count() (Redshift). */
static int64_t copied_rows(Warehouse *w, PGresult *res, int64_t deadline_us)
{
    const char *tag = PQcmdTuples(res);
    if (tag[0])
        return strtoll(tag, NULL, 10);
    PGresult *count = NULL;
    int64_t rows = 0;
    if (wh_exec(w, "SELECT pg_last_copy_count()", 0, NULL, deadline_us, &count) == WH_OK &&
        PQntuples(count) == 1)
        rows = strtoll(PQgetvalue(count, 0, 0), NULL, 10);
    PQclear(count);
    return rows;
}

WhStatus s3_load_csv(Warehouse *w, const Settings *s, const char *schema, const char *table,
                     const char *csv_path, int64_t deadline_us, int64_t *rows, char **error)
{
    *rows = 0;
    *error = NULL;
    const char *problem = s3_settings_problem(s);
    if (problem) {
        *error = xstrdup(problem);
        return WH_ERROR;
    }
    /* COPY FROM loads every object whose key starts with the one given: a random name is unique. */
    char unique[33], marker[17];
    if (random_hex(16, unique) != 0 || random_hex(8, marker) != 0) {
        *error = xstrdup("no random bytes for the S3 object's name");
        return WH_ERROR;
    }
    char *null_as = xasprintf("duro_null_%s", marker);
    char *key = s3_object_key(s, schema, table, unique);
    char *s3_url = xasprintf("s3://%s/%s", s->s3.bucket, key);
    char *sql = s3_copy_sql(s, schema, table, s3_url, null_as);
    WhStatus st = WH_ERROR;
    FILE *file = NULL;
    char *url = NULL, *host = NULL, *path = NULL;
    if (s3_object_address(s, key, &url, &host, &path, error) != 0)
        goto done; /* a bad [s3] endpoint, told before the file is read */
    free(url);
    free(host);
    free(path);
    if (!sql) {
        *error = xasprintf("COPY into %s.%s: a backslash in [s3] settings or in the table's "
                           "name cannot be passed to Redshift",
                           schema, table);
        goto done;
    }
    int64_t size = 0;
    file = marked_copy(csv_path, null_as, &size, error);
    if (!file)
        goto done;
    int64_t left = ms_left(deadline_us);
    if (left == 0) {
        st = WH_TIMEOUT;
        *error = xasprintf("S3 PUT %s: timed out", s3_url);
        goto done;
    }
    st = s3_request(s, key, file, size, left, error);
    if (st == WH_ERROR)
        goto done; /* S3 said no, or could not be reached: there is no object */
    /* A PUT that timed out may still have landed: the object is deleted all the same. */
    if (st == WH_OK) {
        PGresult *res = NULL;
        st = wh_exec(w, sql, 0, NULL, deadline_us, &res);
        if (st == WH_OK) {
            *rows = copied_rows(w, res, deadline_us);
            PQclear(res);
        } else {
            /* The server's words only: the statement holds the keys when there is no role. */
            *error = xasprintf("COPY into %s.%s from %s: %s", schema, table, s3_url, wh_error(w));
            const char *secret = s->s3.secret_access_key;
            for (char *p = strstr(*error, secret); p; p = strstr(p, secret))
                memset(p, '*', strlen(secret));
        }
    }
    char *delete_error = NULL;
    if (s3_request(s, key, NULL, 0, S3_DELETE_TIMEOUT_MS, &delete_error) != WH_OK) {
        log_warn("%s (the object stays in the bucket)", delete_error);
        free(delete_error);
    }

done:
    if (file)
        fclose(file);
    if (sql) {
        OPENSSL_cleanse(sql, strlen(sql));
        free(sql);
    }
    free(null_as);
    free(key);
    free(s3_url);
    return st;
}
