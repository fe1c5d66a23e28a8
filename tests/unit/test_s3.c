/*
 * Unit tests for planner/s3.c: SigV4 signatures against the examples AWS publishes for S3
 * ("Signature Calculations for the Authorization Header": GET Object, PUT Object, GET Bucket
 * Lifecycle, GET Bucket (List Objects)), key encoding, object addresses, the CSV's NULL marking
 * (driven by s3_cases.txt), the exact COPY text, and the settings checks of s3_load_csv.
 * No network: the PUT, DELETE and COPY themselves are not exercised here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "planner/s3.h"

/* The credentials and time of AWS's examples. */
#define EX_KEY    "AKIAIOSFODNN7EXAMPLE"
#define EX_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define EX_DATE   "20130524T000000Z"
#define EX_HOST   "examplebucket.s3.amazonaws.com"
#define EX_EMPTY  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define EX_CRED                                                                                    \
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"

static void set(char **field, const char *value)
{
    free(*field);
    *field = xstrdup(value);
}

/* Default settings with a bucket and access keys. */
static void settings_init(Settings *s)
{
    char *error = NULL;
    assert_int_equal(settings_load(NULL, s, &error), 0);
    set(&s->s3.endpoint, "");
    set(&s->s3.region, "us-east-1");
    set(&s->s3.bucket, "bucket");
    set(&s->s3.prefix, "duro");
    set(&s->s3.access_key_id, EX_KEY);
    set(&s->s3.secret_access_key, EX_SECRET);
    set(&s->s3.iam_role, "");
}

static void assert_auth(char *auth, const char *expected)
{
    assert_non_null(auth);
    assert_string_equal(auth, expected);
    free(auth);
}

/* GET /test.txt with Range: its canonical request hashes to 7344ae5b...; header names in any case.
 */
static void test_sigv4_get_object(void **state)
{
    (void)state;
    S3Header range = {"Range", "bytes=0-9"};
    assert_auth(s3_authorization("GET", EX_HOST, "/test.txt", "", &range, 1, EX_DATE, EX_EMPTY,
                                 "us-east-1", EX_KEY, EX_SECRET),
                EX_CRED
                "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
                "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

/* PUT /test$file.text with Date and a storage class; values are trimmed before signing. */
static void test_sigv4_put_object(void **state)
{
    (void)state;
    char *key = s3_uri_encode("test$file.text", true);
    char *path = xasprintf("/%s", key);
    assert_string_equal(path, "/test%24file.text");
    S3Header headers[] = {{"x-amz-storage-class", "  REDUCED_REDUNDANCY "},
                          {"Date", "Fri, 24 May 2013 00:00:00 GMT"}};
    const char *expected =
        EX_CRED "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"
                "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd";
    assert_auth(s3_authorization("PUT", EX_HOST, path, "", headers, 2, EX_DATE,
                                 "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
                                 "us-east-1", EX_KEY, EX_SECRET),
                expected);
    free(key);
    free(path);
}

/* The canonical query string is signed as given. */
static void test_sigv4_query(void **state)
{
    (void)state;
    const char *signed_names = "SignedHeaders=host;x-amz-content-sha256;x-amz-date,";
    char *lifecycle =
        xasprintf("%s%sSignature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
                  EX_CRED, signed_names);
    assert_auth(s3_authorization("GET", EX_HOST, "/", "lifecycle=", NULL, 0, EX_DATE, EX_EMPTY,
                                 "us-east-1", EX_KEY, EX_SECRET),
                lifecycle);
    char *list =
        xasprintf("%s%sSignature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
                  EX_CRED, signed_names);
    assert_auth(s3_authorization("GET", EX_HOST, "/", "max-keys=2&prefix=J", NULL, 0, EX_DATE,
                                 EX_EMPTY, "us-east-1", EX_KEY, EX_SECRET),
                list);
    free(lifecycle);
    free(list);
}

/* The region, the method and the secret all change the signature; the secret never shows. */
static void test_sigv4_inputs(void **state)
{
    (void)state;
    char *base = s3_authorization("PUT", "h", "/b/k", "", NULL, 0, EX_DATE, "UNSIGNED-PAYLOAD",
                                  "eu-west-1", EX_KEY, EX_SECRET);
    char *other[] = {
        s3_authorization("PUT", "h", "/b/k", "", NULL, 0, EX_DATE, "UNSIGNED-PAYLOAD", "us-east-1",
                         EX_KEY, EX_SECRET),
        s3_authorization("DELETE", "h", "/b/k", "", NULL, 0, EX_DATE, "UNSIGNED-PAYLOAD",
                         "eu-west-1", EX_KEY, EX_SECRET),
        s3_authorization("PUT", "h", "/b/k", "", NULL, 0, EX_DATE, "UNSIGNED-PAYLOAD", "eu-west-1",
                         EX_KEY, "another secret"),
    };
    assert_non_null(strstr(base, "/20130524/eu-west-1/s3/aws4_request,"));
    assert_null(strstr(base, EX_SECRET));
    const char *sig = strstr(base, "Signature=");
    for (size_t i = 0; i < ARRAY_LEN(other); i++) {
        assert_string_not_equal(strstr(other[i], "Signature="), sig);
        free(other[i]);
    }
    free(base);
}

static void test_uri_encode(void **state)
{
    (void)state;
    const struct {
        const char *in;
        bool keep_slash;
        const char *out;
    } cases[] = {
        {"AZaz09-_.~", true, "AZaz09-_.~"},
        {"duro/first.my table/x.csv", true, "duro/first.my%20table/x.csv"},
        {"duro/first.my table/x.csv", false, "duro%2Ffirst.my%20table%2Fx.csv"},
        {"straße/ü €.csv", true, "stra%C3%9Fe/%C3%BC%20%E2%82%AC.csv"},
        {"a+b=c&d?e#f%g'h\"i", true, "a%2Bb%3Dc%26d%3Fe%23f%25g%27h%22i"},
        {"", true, ""},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *out = s3_uri_encode(cases[i].in, cases[i].keep_slash);
        assert_string_equal(out, cases[i].out);
        free(out);
    }
}

static void test_object_key(void **state)
{
    (void)state;
    Settings s;
    settings_init(&s);
    const struct {
        const char *prefix;
        const char *key;
    } cases[] = {
        {"duro", "duro/First.countries_duro_temp/abc.csv"},
        {"/a/b//", "a/b/First.countries_duro_temp/abc.csv"},
        {"", "First.countries_duro_temp/abc.csv"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        set(&s.s3.prefix, cases[i].prefix);
        char *key = s3_object_key(&s, "First", "countries_duro_temp", "abc");
        assert_string_equal(key, cases[i].key);
        free(key);
    }
    settings_free(&s);
}

static void test_object_address(void **state)
{
    (void)state;
    Settings s;
    settings_init(&s);
    const struct {
        const char *endpoint;
        const char *region;
        const char *url, *host, *path; /* url NULL: an error */
    } cases[] = {
        {"", "eu-west-1", "https://s3.eu-west-1.amazonaws.com/bucket/duro/a%20b.csv",
         "s3.eu-west-1.amazonaws.com", "/bucket/duro/a%20b.csv"},
        {"", "", "https://s3.us-east-1.amazonaws.com/bucket/duro/a%20b.csv",
         "s3.us-east-1.amazonaws.com", "/bucket/duro/a%20b.csv"},
        {"http://localhost:9000/", "us-east-1", "http://localhost:9000/bucket/duro/a%20b.csv",
         "localhost:9000", "/bucket/duro/a%20b.csv"},
        {"https://storage.example.com/s3", "us-east-1",
         "https://storage.example.com/s3/bucket/duro/a%20b.csv", "storage.example.com",
         "/s3/bucket/duro/a%20b.csv"},
        {"s3.amazonaws.com", "us-east-1", NULL, NULL, NULL},
        {"https://", "us-east-1", NULL, NULL, NULL},
        {"https://host/?x=1", "us-east-1", NULL, NULL, NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        set(&s.s3.endpoint, cases[i].endpoint);
        set(&s.s3.region, cases[i].region);
        char *url = NULL, *host = NULL, *path = NULL, *error = NULL;
        int rc = s3_object_address(&s, "duro/a b.csv", &url, &host, &path, &error);
        if (cases[i].url == NULL) {
            assert_int_equal(rc, -1);
            assert_non_null(strstr(error, "is not an http:// or https:// address"));
            free(error);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_string_equal(url, cases[i].url);
        assert_string_equal(host, cases[i].host);
        assert_string_equal(path, cases[i].path);
        free(url);
        free(host);
        free(path);
    }
    settings_free(&s);
}

/* s with the cases file's escapes \n \r \t \\ turned into their bytes (in place). */
static char *unescape(char *s)
{
    char *o = s;
    for (const char *p = s; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            *o++ = *p == 'n' ? '\n' : *p == 'r' ? '\r' : *p == 't' ? '\t' : *p;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return s;
}

static void test_csv_cases(void **state)
{
    (void)state;
    char *text = read_file("s3_cases.txt", NULL);
    assert_non_null(text);
    int cases = 0, line_no = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        line_no++;
        if (line[0] == '#')
            continue;
        char *tab = strchr(line, '\t');
        assert_non_null(tab);
        *tab = '\0';
        const char *input = unescape(line), *expected = unescape(tab + 1);

        FILE *in = tmpfile();
        assert_non_null(in);
        fputs(input, in);
        rewind(in);
        char *out_text = NULL;
        size_t out_len = 0;
        FILE *out = open_memstream(&out_text, &out_len);
        char *error = NULL;
        int rc = s3_csv_mark_nulls(in, out, "NULL", &error);
        fclose(out);
        fclose(in);
        if (expected[0] == '!') {
            if (rc != -1 || !strstr(error, expected + 1))
                print_error("case on line %d: expected an error, got %s\n", line_no,
                            error ? error : out_text);
            assert_int_equal(rc, -1);
            assert_non_null(strstr(error, expected + 1));
        } else {
            if (rc != 0 || strcmp(out_text, expected) != 0)
                print_error("case on line %d: got \"%s\"\n", line_no, rc ? error : out_text);
            assert_int_equal(rc, 0);
            assert_string_equal(out_text, expected);
        }
        free(error);
        free(out_text);
        cases++;
    }
    assert_true(cases >= 20);
    free(text);
}

static void test_copy_sql_role(void **state)
{
    (void)state;
    Settings s;
    settings_init(&s);
    set(&s.s3.iam_role, "arn:aws:iam::123:role/o'brien");
    char *sql =
        s3_copy_sql(&s, "First", "count\"ries_duro_temp",
                    "s3://bucket/duro/First.count\"ries_duro_temp/it's.csv", "duro_null_0a");
    assert_non_null(sql);
    assert_string_equal(sql,
                        "COPY \"First\".\"count\"\"ries_duro_temp\" "
                        "FROM 's3://bucket/duro/First.count\"ries_duro_temp/it''s.csv' "
                        "IAM_ROLE 'arn:aws:iam::123:role/o''brien' FORMAT AS CSV IGNOREHEADER 1 "
                        "NULL AS 'duro_null_0a' TIMEFORMAT 'auto' REGION 'us-east-1'");
    free(sql);
    settings_free(&s);
}

static void test_copy_sql_keys(void **state)
{
    (void)state;
    Settings s;
    settings_init(&s);
    set(&s.s3.region, "");
    set(&s.s3.secret_access_key, "se'cret/+x");
    char *sql = s3_copy_sql(&s, "first", "countries_duro_temp",
                            "s3://bucket/duro/first.countries_duro_temp/abc.csv", "duro_null_0a");
    assert_non_null(sql);
    assert_string_equal(sql,
                        "COPY \"first\".\"countries_duro_temp\" "
                        "FROM 's3://bucket/duro/first.countries_duro_temp/abc.csv' "
                        "ACCESS_KEY_ID 'AKIAIOSFODNN7EXAMPLE' SECRET_ACCESS_KEY 'se''cret/+x' "
                        "FORMAT AS CSV IGNOREHEADER 1 NULL AS 'duro_null_0a' TIMEFORMAT 'auto'");
    free(sql);
    /* A backslash in any literal: no statement at all. */
    set(&s.s3.secret_access_key, "a\\b");
    assert_null(s3_copy_sql(&s, "first", "t", "s3://bucket/k", "duro_null_0a"));
    set(&s.s3.iam_role, "arn:aws:iam::123:role/r");
    assert_null(s3_copy_sql(&s, "first", "t", "s3://bucket/k\\", "duro_null_0a"));
    settings_free(&s);
}

/* Settings are checked before the warehouse (NULL here) or the file is touched. */
static void test_load_settings(void **state)
{
    (void)state;
    Settings s;
    settings_init(&s);
    const struct {
        const char *bucket, *key, *secret;
        const char *error;
    } cases[] = {
        {"", EX_KEY, EX_SECRET,
         "[s3] bucket is not set: Redshift loads a processor's result through S3"},
        {"bucket", "", EX_SECRET,
         "[s3] access_key_id and secret_access_key are not set: Duro uploads a processor's "
         "result to S3 with them"},
        {"bucket", EX_KEY, "",
         "[s3] access_key_id and secret_access_key are not set: Duro uploads a processor's "
         "result to S3 with them"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        set(&s.s3.bucket, cases[i].bucket);
        set(&s.s3.access_key_id, cases[i].key);
        set(&s.s3.secret_access_key, cases[i].secret);
        int64_t rows = -1;
        char *error = NULL;
        assert_int_equal(s3_load_csv(NULL, &s, "first", "countries_duro_temp",
                                     "/nonexistent/out.csv", 0, &rows, &error),
                         WH_ERROR);
        assert_int_equal(rows, 0);
        assert_string_equal(error, cases[i].error);
        free(error);
    }
    settings_free(&s);
}

/* What fails before any request: a missing file, a bad endpoint (told first), a passed deadline. */
static void test_load_offline(void **state)
{
    (void)state;
    Settings s;
    settings_init(&s);
    char dir[] = "/tmp/duro-test-s3-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *csv = xasprintf("%s/out.csv", dir);
    int64_t rows = -1;
    char *error = NULL;

    assert_int_equal(s3_load_csv(NULL, &s, "first", "t", csv, 0, &rows, &error), WH_ERROR);
    char *missing = xasprintf("%s: No such file or directory", csv);
    assert_string_equal(error, missing);
    free(missing);
    free(error);

    FILE *f = fopen(csv, "w");
    assert_non_null(f);
    fputs("a,b\n1,\n", f);
    fclose(f);
    set(&s.s3.endpoint, "ftp://files.example.com");
    assert_int_equal(s3_load_csv(NULL, &s, "first", "t", csv, 0, &rows, &error), WH_ERROR);
    assert_string_equal(error,
                        "[s3] endpoint \"ftp://files.example.com\" is not an http:// or https:// "
                        "address");
    free(error);

    set(&s.s3.endpoint, "");
    assert_int_equal(s3_load_csv(NULL, &s, "first", "t", csv, 1, &rows, &error), WH_TIMEOUT);
    assert_int_equal(strncmp(error, "S3 PUT s3://bucket/duro/first.t/", 32), 0);
    assert_true(str_ends_with(error, ".csv: timed out"));
    assert_null(strstr(error, EX_SECRET));
    free(error);
    assert_int_equal(rows, 0);

    /* The marked copy never stays beside the file. */
    DIR *d = opendir(dir);
    assert_non_null(d);
    int entries = 0;
    for (struct dirent *e = readdir(d); e; e = readdir(d))
        entries += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(entries, 1);
    unlink(csv);
    rmdir(dir);
    free(csv);
    settings_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigv4_get_object), cmocka_unit_test(test_sigv4_put_object),
        cmocka_unit_test(test_sigv4_query),      cmocka_unit_test(test_sigv4_inputs),
        cmocka_unit_test(test_uri_encode),       cmocka_unit_test(test_object_key),
        cmocka_unit_test(test_object_address),   cmocka_unit_test(test_csv_cases),
        cmocka_unit_test(test_copy_sql_role),    cmocka_unit_test(test_copy_sql_keys),
        cmocka_unit_test(test_load_settings),    cmocka_unit_test(test_load_offline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
