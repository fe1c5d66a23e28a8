/*
 * Time zones for the engine's timestamptz output: a session's TimeZone (as the warehouse reports
 * it) read from the system's zoneinfo files (TZif, RFC 8536), or a POSIX-style fixed offset such
 * as PostgreSQL reports for SET TIME ZONE 1 ("<+01>-01"), and the UTC offset at an instant.
 * Not for: formatting (types.c) or input with zones (types.c parses explicit offsets only).
 */
#include "sqlengine/internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ZONEINFO_DIR       "/usr/share/zoneinfo/"
#define ZONE_MAX_FILE      (256 * 1024) /* the largest zone file is about 4 kB */
#define ZONE_MAX_OFFSET_S  (26 * 3600)  /* PostgreSQL's limit on a zone's offset from UTC */
#define ZONE_MAX_TRANSFERS 4096

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* A name that is a relative path inside the zoneinfo folder, and nothing else. */
static bool zone_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= VT_ZONE_NAME_MAX || name[0] == '/' || name[0] == '.' ||
        strstr(name, "..") != NULL)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && strchr("_+-/", name[i]) == NULL)
            return false;
    return true;
}

/* "[+-]h[:mm[:ss]]" into seconds; the rest of the text must be empty. 0, or -1. */
static int parse_hms(const char *s, int32_t *secs)
{
    int sign = 1;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    int part[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (!isdigit((unsigned char)*s))
            return -1;
        int v = 0;
        for (int k = 0; k < 3 && isdigit((unsigned char)*s); k++)
            v = v * 10 + (*s++ - '0');
        part[i] = v;
        if (*s != ':')
            break;
        s++;
    }
    if (*s != '\0' || part[1] > 59 || part[2] > 59)
        return -1;
    int32_t v = part[0] * 3600 + part[1] * 60 + part[2];
    if (v > ZONE_MAX_OFFSET_S)
        return -1;
    *secs = sign * v;
    return 0;
}

/* A POSIX zone without a daylight-saving part: "<+01>-01", "UTC+3", "EST5". */
static int parse_posix_fixed(const char *name, VtZone *z)
{
    const char *p = name;
    if (*p == '<') {
        p = strchr(p, '>');
        if (p == NULL)
            return -1;
        p++;
    } else {
        while (isalpha((unsigned char)*p))
            p++;
        if (p - name < 3)
            return -1;
    }
    int32_t west;
    if (*p == '\0' || parse_hms(p, &west) != 0)
        return -1;
    z->n = 0;
    z->initial = -west; /* POSIX counts hours west of Greenwich */
    return 0;
}

/* Reads a TZif file's version 2+ data (64-bit transition times). 0, or -1. */
static int parse_tzif(const uint8_t *d, size_t len, VtZone *z)
{
    if (len < 44 || memcmp(d, "TZif", 4) != 0 || d[4] < '2')
        return -1;
    /* Skip the version 1 block to reach the second header. */
    size_t isut = be32(d + 20), isstd = be32(d + 24), leap = be32(d + 28), timecnt = be32(d + 32),
           typecnt = be32(d + 36), charcnt = be32(d + 40);
    size_t v1 = timecnt * 5 + typecnt * 6 + charcnt + leap * 8 + isstd + isut;
    if (v1 > len - 44)
        return -1;
    d += 44 + v1;
    len -= 44 + v1;
    if (len < 44 || memcmp(d, "TZif", 4) != 0)
        return -1;
    isut = be32(d + 20);
    isstd = be32(d + 24);
    leap = be32(d + 28);
    timecnt = be32(d + 32);
    typecnt = be32(d + 36);
    charcnt = be32(d + 40);
    if (typecnt == 0 || typecnt > 256 || timecnt > ZONE_MAX_TRANSFERS ||
        timecnt * 9 + typecnt * 6 + charcnt + leap * 12 + isstd + isut > len - 44)
        return -1;
    const uint8_t *times = d + 44, *idx = times + timecnt * 8, *types = idx + timecnt;
    int32_t offsets[256];
    for (size_t i = 0; i < typecnt; i++) {
        offsets[i] = (int32_t)be32(types + i * 6);
        if (offsets[i] > ZONE_MAX_OFFSET_S || offsets[i] < -ZONE_MAX_OFFSET_S)
            return -1;
    }
    z->at = xcalloc(timecnt ? timecnt : 1, sizeof *z->at);
    z->offset = xcalloc(timecnt ? timecnt : 1, sizeof *z->offset);
    for (size_t i = 0; i < timecnt; i++) {
        if (idx[i] >= typecnt)
            return -1;
        z->at[i] = be64(times + i * 8);
        z->offset[i] = offsets[idx[i]];
    }
    z->n = timecnt;
    z->initial = offsets[0];
    return 0;
}

void vt_zone_clear(VtZone *z)
{
    free(z->at);
    free(z->offset);
    memset(z, 0, sizeof *z);
}

int vt_zone_load(const char *name, VtZone *z)
{
    vt_zone_clear(z);
    if (strcasecmp(name, "UTC") == 0 || strcasecmp(name, "GMT") == 0 || strcmp(name, "Z") == 0)
        goto named;
    if (parse_posix_fixed(name, z) == 0)
        goto named;
    if (!zone_name_ok(name))
        return -1;
    char path[sizeof ZONEINFO_DIR + VT_ZONE_NAME_MAX];
    snprintf(path, sizeof path, "%s%s", ZONEINFO_DIR, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    uint8_t *buf = xmalloc(ZONE_MAX_FILE);
    size_t len = fread(buf, 1, ZONE_MAX_FILE, f);
    bool whole = feof(f) && !ferror(f);
    fclose(f);
    int rc = whole ? parse_tzif(buf, len, z) : -1;
    free(buf);
    if (rc != 0) {
        vt_zone_clear(z);
        return -1;
    }
named:
    snprintf(z->name, sizeof z->name, "%s", name);
    return 0;
}

int32_t vt_zone_offset(const VtZone *z, int64_t us)
{
    if (z == NULL || z->n == 0)
        return z ? z->initial : 0;
    int64_t secs = vt_floor_div(us, US_PER_SEC);
    if (secs < z->at[0])
        return z->initial;
    /* The last transition at or before secs; past the last one its offset holds. */
    size_t lo = 0, hi = z->n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->at[mid] <= secs)
            lo = mid;
        else
            hi = mid;
    }
    return z->offset[lo];
}
