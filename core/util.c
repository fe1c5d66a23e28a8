/*
 * Allocation, string and file helpers shared by every module (see util.h).
 */
#include "core/util.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void out_of_memory(size_t n)
{
    fprintf(stderr, "duro: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        out_of_memory(n);
    return p;
}

void *xnonnull(void *p)
{
    if (!p)
        out_of_memory(0);
    return p;
}

void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        out_of_memory(count * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        out_of_memory(n);
    return q;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        abort();
    char *p = xmalloc((size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = xvasprintf(fmt, ap);
    va_end(ap);
    return p;
}

void grow_array(void **items, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return;
    size_t n = *cap ? *cap : 8;
    while (n < need)
        n *= 2;
    if (n > SIZE_MAX / elem)
        out_of_memory(SIZE_MAX);
    *items = xrealloc(*items, n * elem);
    *cap = n;
}

void strvec_push_owned(StrVec *v, char *s)
{
    grow_array((void **)&v->items, &v->cap, v->n + 1, sizeof(char *));
    v->items[v->n++] = s;
}

void strvec_push(StrVec *v, const char *s)
{
    strvec_push_owned(v, xstrdup(s));
}

bool strvec_contains(const StrVec *v, const char *s)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->items[i], s) == 0)
            return true;
    return false;
}

bool strvec_remove(StrVec *v, const char *s)
{
    for (size_t i = 0; i < v->n; i++) {
        if (strcmp(v->items[i], s) == 0) {
            free(v->items[i]);
            memmove(&v->items[i], &v->items[i + 1], (v->n - i - 1) * sizeof(char *));
            v->n--;
            return true;
        }
    }
    return false;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void strvec_sort(StrVec *v)
{
    if (v->n > 1)
        qsort(v->items, v->n, sizeof(char *), cmp_str);
}

void strvec_clear(StrVec *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->items[i]);
    v->n = 0;
}

void strvec_free(StrVec *v)
{
    strvec_clear(v);
    free(v->items);
    v->items = NULL;
    v->cap = 0;
}

void strvec_copy(StrVec *dst, const StrVec *src)
{
    strvec_clear(dst);
    for (size_t i = 0; i < src->n; i++)
        strvec_push(dst, src->items[i]);
}

char *strvec_join(const StrVec *v, const char *sep)
{
    size_t seplen = strlen(sep), len = 0;
    for (size_t i = 0; i < v->n; i++)
        len += strlen(v->items[i]) + (i ? seplen : 0);
    char *out = xmalloc(len + 1), *p = out;
    for (size_t i = 0; i < v->n; i++) {
        if (i) {
            memcpy(p, sep, seplen);
            p += seplen;
        }
        size_t n = strlen(v->items[i]);
        memcpy(p, v->items[i], n);
        p += n;
    }
    *p = '\0';
    return out;
}

char *read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    /* Size the buffer from the file so that many small files cost what they hold. */
    struct stat st;
    size_t cap = 256, len = 0;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0)
        cap = (size_t)st.st_size + 2; /* one spare byte: the last read comes up short at EOF */
    char *buf = xmalloc(cap);
    for (;;) {
        size_t want = cap - len - 1;
        size_t got = fread(buf + len, 1, want, f);
        len += got;
        if (got < want)
            break; /* end of file or error */
        cap *= 2;
        buf = xrealloc(buf, cap);
    }
    if (ferror(f)) {
        int saved = errno ? errno : EIO;
        fclose(f);
        free(buf);
        errno = saved;
        return NULL;
    }
    fclose(f);
    buf[len] = '\0';
    if (len_out)
        *len_out = len;
    return buf;
}

int parse_duration(const char *s, const char *units, int64_t max_seconds, int64_t *seconds)
{
    static const struct {
        char letter;
        int64_t seconds;
    } unit_table[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}};
    if (*s < '0' || *s > '9')
        return -1;
    int64_t n = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        n = n * 10 + (*p - '0');
        if (n > max_seconds)
            return -1;
    }
    char letter = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
    if (letter == '\0')
        letter = 's'; /* a bare number: seconds, where allowed */
    else if (p[1] != '\0')
        return -1;
    int64_t unit = 0;
    for (size_t i = 0; i < ARRAY_LEN(unit_table); i++)
        if (unit_table[i].letter == letter && strchr(units, letter))
            unit = unit_table[i].seconds;
    if (unit == 0 || n <= 0 || n > max_seconds / unit)
        return -1;
    *seconds = n * unit;
    return 0;
}

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool str_ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (ascii_lower(*a) != ascii_lower(*b))
            return false;
    return *a == *b;
}

void str_lower(char *s)
{
    for (; *s; s++)
        *s = ascii_lower(*s);
}

static bool ascii_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

char *str_trim(char *s)
{
    while (ascii_space(*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && ascii_space(s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Whether the n bytes at s spell word, ASCII case-insensitively. */
static bool ascii_ieq_n(const char *s, size_t n, const char *word)
{
    size_t i = 0;
    for (; i < n && word[i] != '\0'; i++)
        if (ascii_lower(s[i]) != ascii_lower(word[i]))
            return false;
    return i == n && word[i] == '\0';
}

int parse_bool(const char *s, bool *v)
{
    static const char *const yes[] = {"t", "true", "y", "yes", "on", "1"};
    static const char *const no[] = {"f", "false", "n", "no", "off", "0"};
    while (ascii_space(*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && ascii_space(s[n - 1]))
        n--;
    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
        if (ascii_ieq_n(s, n, yes[i])) {
            *v = true;
            return 0;
        }
        if (ascii_ieq_n(s, n, no[i])) {
            *v = false;
            return 0;
        }
    }
    return -1;
}

bool str_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

void hex_encode(const unsigned char *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

void sha256_hex(const void *data, size_t n, char out[SHA256_HEX_LEN + 1])
{
    unsigned char md[SHA256_HEX_LEN / 2];
    if (!EVP_Digest(data, n, md, NULL, EVP_sha256(), NULL))
        abort(); /* only when OpenSSL cannot allocate */
    hex_encode(md, sizeof(md), out);
}
