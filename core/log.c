/*
 * The log sink: timestamped single lines on stderr (see log.h).
 */
#include "core/log.h"

#include <stdio.h>
#include <time.h>

LogLevel log_level = LOG_LEVEL_INFO;

int log_parse_level(const char *s, LogLevel *out)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        if (str_ieq(s, names[i])) {
            *out = (LogLevel)i;
            return 0;
        }
    }
    return -1;
}

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void log_write(LogLevel level, const char *fmt, ...)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);

    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s %s %s\n", stamp, level_names[level], line);
}
