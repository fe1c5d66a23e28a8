/*
 * Interval parsing and formatting (see interval.h).
 */
#include "catalog/interval.h"

#include <stdio.h>

int interval_parse(const char *s, int64_t *seconds)
{
    int64_t n = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        n = n * 10 + (*p - '0');
        if (n > INTERVAL_MAX_SECONDS / 60)
            return -1;
    }
    int64_t unit;
    switch (*p) {
    case 'm':
    case 'M':
        unit = 60;
        break;
    case 'h':
    case 'H':
        unit = 3600;
        break;
    case 'd':
    case 'D':
        unit = 24 * 3600;
        break;
    case 'w':
    case 'W':
        unit = 7 * 24 * 3600;
        break;
    default:
        return -1;
    }
    if (p[1] != '\0' || n <= 0 || n * unit > INTERVAL_MAX_SECONDS)
        return -1;
    *seconds = n * unit;
    return 0;
}

void interval_format(int64_t seconds, char *buf, size_t size)
{
    static const struct {
        int64_t unit;
        char name;
    } units[] = {{7 * 24 * 3600, 'w'}, {24 * 3600, 'd'}, {3600, 'h'}, {60, 'm'}};
    for (size_t i = 0; i < ARRAY_LEN(units); i++) {
        if (seconds >= units[i].unit && seconds % units[i].unit == 0) {
            snprintf(buf, size, "%lld%c", (long long)(seconds / units[i].unit), units[i].name);
            return;
        }
    }
    snprintf(buf, size, "%llds", (long long)seconds);
}
