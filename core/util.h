/*
 * Small helpers every module uses: allocation that aborts on exhaustion, string
 * duplication and formatting, a growable string vector, and whole-file reads.
 * Nothing here knows about views, SQL or sockets.
 */
#ifndef DURO_CORE_UTIL_H
#define DURO_CORE_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DURO_VERSION "0.1.0"

#define ARRAY_LEN(a)      (sizeof(a) / sizeof((a)[0]))
#define MUST_CHECK        __attribute__((warn_unused_result))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

/* Allocation: these never return NULL; running out of memory aborts the process. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) PRINTF_LIKE(1, 2);
char *xvasprintf(const char *fmt, va_list ap) PRINTF_LIKE(1, 0);
/* Returns p; aborts like xmalloc when a library's allocating constructor returned NULL. */
void *xnonnull(void *p);

/* Grows *items (of *cap elements of size elem) so that it holds at least need elements. */
void grow_array(void **items, size_t *cap, size_t need, size_t elem);

/* A vector of owned, NUL-terminated strings. Zero-initialised is empty. */
typedef struct StrVec {
    char **items;
    size_t n;
    size_t cap;
} StrVec;

void strvec_push(StrVec *v, const char *s); /* copies s */
void strvec_push_owned(StrVec *v, char *s); /* takes ownership of s */
bool strvec_contains(const StrVec *v, const char *s);
bool strvec_remove(StrVec *v, const char *s); /* true when s was there */
void strvec_sort(StrVec *v);
void strvec_clear(StrVec *v);
void strvec_free(StrVec *v);
void strvec_copy(StrVec *dst, const StrVec *src); /* dst is cleared first */
char *strvec_join(const StrVec *v, const char *sep);

/*
 * Parses s whole as a positive integer followed by one unit letter from units
 * (any of "smhdw": seconds, minutes, hours, days, weeks; either case). When
 * units contains 's', a bare number counts seconds. Returns 0 and sets
 * *seconds, or -1 when s is not such a duration or exceeds max_seconds.
 */
int parse_duration(const char *s, const char *units, int64_t max_seconds,
                   int64_t *seconds) MUST_CHECK;

/* Reads a whole file into a NUL-terminated buffer. Returns NULL (errno set) on failure. */
char *read_file(const char *path, size_t *len_out) MUST_CHECK;

/* ASCII-only helpers, independent of the C locale. */
bool str_ieq(const char *a, const char *b);
void str_lower(char *s);
char *str_trim(char *s); /* trims ASCII whitespace in place, returns the new start */
bool str_ends_with(const char *s, const char *suffix);
/* PostgreSQL's boolean input: t, true, y, yes, on, 1 or f, false, n, no, off, 0, in any case,
 * with whitespace around. Returns 0 and sets *v, or -1 when s is none of these. */
int parse_bool(const char *s, bool *v) MUST_CHECK;

/* n bytes as 2n lowercase hex digits and a NUL into out. */
void hex_encode(const unsigned char *bytes, size_t n, char *out);
/* The SHA-256 of n bytes of data as lowercase hex (OpenSSL). */
#define SHA256_HEX_LEN 64
void sha256_hex(const void *data, size_t n, char out[SHA256_HEX_LEN + 1]);

#endif
