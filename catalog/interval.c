/*
 * Interval parsing and formatting (see interval.h).
 */
#include "catalog/interval.h"

#include <stdio.h>

int interval_parse(const char *s, int64_t *seconds)
{
    return parse_duration(s, "mhdw", INTERVAL_MAX_SECONDS, seconds);
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
