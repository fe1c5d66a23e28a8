/*
 * Redshift loads of a Python processor's result (the [s3] settings of conf/duro.conf): the
 * CSV file is uploaded to S3 with a SigV4-signed PUT, loaded with COPY ... FROM
 * 's3://...', and the object is deleted. Signing, key encoding, the CSV's NULL
 * marking and the COPY text are pure functions; s3_load_csv does the I/O
 * (libcurl, wh_exec). Not for: PostgreSQL, which loads the file with COPY FROM STDIN.
 */
#ifndef DURO_PLANNER_S3_H
#define DURO_PLANNER_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "catalog/repo.h"  /* View: v->schema, v->table */
#include "core/settings.h" /* Settings: s->s3.endpoint, region, bucket, prefix, keys, iam_role */
#include "planner/warehouse.h" /* Warehouse, wh_exec, WhStatus */

/* A request header to sign besides host, x-amz-content-sha256 and x-amz-date. */
typedef struct S3Header {
    const char *name; /* any case: signed lowercased */
    const char *value;
} S3Header;

/*
 * The value of the Authorization header of an S3 request signed with AWS
 * Signature Version 4: "AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/s3/aws4_request,
 * SignedHeaders=<names>,Signature=<hex>". Pure: no clock, no network.
 *   host: the Host header as sent ("s3.us-east-1.amazonaws.com", "localhost:9000");
 *   path: the canonical URI, already encoded (s3_uri_encode), e.g. "/bucket/a%20b.csv";
 *   query: the canonical query string, "" for none;
 *   headers: nheaders more headers to sign, each name once (NULL when nheaders is 0);
 *   amz_date: the x-amz-date header, "20130524T000000Z";
 *   payload_sha256: hex SHA-256 of the body, or "UNSIGNED-PAYLOAD" (the x-amz-content-sha256
 * header). The signed headers are those three plus headers, sorted by name. Caller frees.
 */
char *s3_authorization(const char *method, const char *host, const char *path, const char *query,
                       const S3Header *headers, size_t nheaders, const char *amz_date,
                       const char *payload_sha256, const char *region, const char *access_key,
                       const char *secret);

/*
 * s URI-encoded as SigV4 wants it: A-Z a-z 0-9 - _ . ~ kept, every other byte
 * (UTF-8 included) as %XY in uppercase hex; '/' kept when keep_slash. Caller frees.
 */
char *s3_uri_encode(const char *s, bool keep_slash);

/* The object key "<prefix>/<schema>.<table>/<unique>.csv" ([s3] prefix without its outer '/'). */
char *s3_object_key(const Settings *s, const char *schema, const char *table, const char *unique);

/*
 * Where the object key is, path-style, on [s3] endpoint (default
 * https://s3.<region>.amazonaws.com): *url to request, its *host (Host header)
 * and *path (canonical URI). Returns 0, or -1 with *error when the endpoint is
 * not http:// or https://. Caller frees all three (or *error).
 */
int s3_object_address(const Settings *s, const char *key, char **url, char **host, char **path,
                      char **error) MUST_CHECK;

/*
 * Copies the CSV in to out, writing null_as for every unquoted empty field
 * (a NULL) and ending every record with "\n" (CRLF and CR outside quotes
 * become LF). Quoted fields, "" included, are copied byte for byte. A blank
 * line is a record of one NULL field, as in PostgreSQL's COPY.
 * Returns 0, or -1 with *error (caller frees) on a read or write error or when
 * the file ends inside a quoted field.
 */
int s3_csv_mark_nulls(FILE *in, FILE *out, const char *null_as, char **error) MUST_CHECK;

/*
 * COPY "schema"."table" FROM 's3_url' <credentials> FORMAT AS CSV IGNOREHEADER 1
 * NULL AS 'null_as' TIMEFORMAT 'auto' [REGION '<region>'], with IAM_ROLE when
 * [s3] iam_role is set, else ACCESS_KEY_ID/SECRET_ACCESS_KEY: then the text
 * holds a secret and must never be logged or shown. NULL when a literal would
 * hold a backslash (Redshift may read it as an escape). Caller frees.
 */
char *s3_copy_sql(const Settings *s, const char *schema, const char *table, const char *s3_url,
                  const char *null_as);

/*
 * Loads the CSV file csv_path (a header line, then rows; NULL as an empty unquoted field) into
 * the table "schema"."table" on Redshift: uploads it to
 * s3://bucket/prefix/<schema>.<table>/<unique>.csv, runs COPY with IAM_ROLE (when [s3] iam_role is
 * set) or the access keys, then deletes the object. deadline_us bounds the whole load
 * (CLOCK_REALTIME microseconds, 0 = none). Returns WH_OK with *rows set, or another WhStatus with
 * *error (caller frees; never a secret).
 *
 * The settings are checked before w is used. The upload is a copy of the file
 * made by s3_csv_mark_nulls beside csv_path (removed from the directory as soon
 * as it is opened); its payload is sent as UNSIGNED-PAYLOAD. The object is
 * deleted whether COPY succeeded or not (and after a PUT that timed out), with
 * up to 30 seconds of its own past the deadline; a failed delete is only
 * logged. A wh_cancel is seen once COPY starts, not during the upload.
 */
WhStatus s3_load_csv(Warehouse *w, const Settings *s, const char *schema, const char *table,
                     const char *csv_path, int64_t deadline_us, int64_t *rows,
                     char **error) MUST_CHECK;

#endif
