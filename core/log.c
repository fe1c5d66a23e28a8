/*
 * The log sink: timestamped single lines on stderr (see log.h). Every message is made one line
 * here, whatever it holds: control characters (a libpq error's DETAIL line, a client's user name
 * with a newline and a forged timestamp) are written escaped, so that one event is one line and no
 * client can write a line of its own into the log.
 */
#include "core/log.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>
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
    char escaped[4 * sizeof(line)];
    log_escape(line, escaped, sizeof(escaped));
    fprintf(stderr, "%s %s %s\n", stamp, level_names[level], escaped);
}

/* Escapes in[0 .. len) into out (size bytes, always terminated), keeping \n and \t with keep_lines.
 */
static size_t escape(const char *in, size_t len, char *out, size_t size, bool keep_lines)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        char buf[5];
        if (keep_lines && (c == '\n' || c == '\t'))
            buf[0] = (char)c, buf[1] = '\0';
        else if (c == '\n')
            memcpy(buf, "\\n", 3);
        else if (c == '\r')
            memcpy(buf, "\\r", 3);
        else if (c == '\t')
            memcpy(buf, "\\t", 3);
        else if (c < 0x20 || c == 0x7f)
            snprintf(buf, sizeof(buf), "\\x%02x", c);
        else
            buf[0] = (char)c, buf[1] = '\0';
        size_t n = strlen(buf);
        if (o + n >= size)
            break;
        memcpy(out + o, buf, n);
        o += n;
    }
    out[o] = '\0';
    return o;
}

/* The length of in without the trailing newlines and spaces libpq's messages end with. */
static size_t trimmed_len(const char *in)
{
    size_t len = strlen(in);
    while (len > 0 && (in[len - 1] == '\n' || in[len - 1] == '\r' || in[len - 1] == ' '))
        len--;
    return len;
}

size_t log_escape(const char *in, char *out, size_t size)
{
    assert(size > 0);
    return escape(in, trimmed_len(in), out, size, false);
}

char *log_escape_dup(const char *in, LogEscapeMode mode)
{
    size_t len = trimmed_len(in), size = 4 * len + 1;
    char *out = xmalloc(size);
    escape(in, len, out, size, mode == LOG_ESCAPE_KEEP_LINES);
    return out;
}
