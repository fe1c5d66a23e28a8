/*
 * One line per event on stderr: "2026-11-22T03:07:09Z LEVEL message".
 * The macros test the level before any formatting happens, so a disabled
 * debug line costs a comparison. No credentials may ever be passed in.
 */
#ifndef DURO_CORE_LOG_H
#define DURO_CORE_LOG_H

#include "core/util.h"

typedef enum LogLevel {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN = 1,
    LOG_LEVEL_INFO = 2,
    LOG_LEVEL_DEBUG = 3,
} LogLevel;

extern LogLevel log_level;

/* Parses "error", "warn", "info" or "debug". Returns 0, or -1 leaving *out alone. */
int log_parse_level(const char *s, LogLevel *out) MUST_CHECK;

void log_write(LogLevel level, const char *fmt, ...) PRINTF_LIKE(2, 3);

/*
 * Copies in to out (size bytes, always terminated) as one line: trailing newlines dropped, other
 * control characters written as \n, \r, \t or \xHH; cut short rather than overflow. Returns the
 * length written. log_write applies it to every message.
 */
size_t log_escape(const char *in, char *out, size_t size);

typedef enum LogEscapeMode {
    LOG_ESCAPE_ONE_LINE,   /* as log_escape: every control character escaped */
    LOG_ESCAPE_KEEP_LINES, /* newlines and tabs kept: text meant to span lines, stored or shown */
} LogEscapeMode;

/*
 * A copy of in (caller frees), trimmed and escaped as log_escape does, never cut short; with
 * LOG_ESCAPE_KEEP_LINES newlines and tabs stay. For text a client or the warehouse may have put
 * control characters in (a warehouse error quoting data) on its way to the catalog or a terminal.
 */
char *log_escape_dup(const char *in, LogEscapeMode mode);

#define LOG_AT(lvl, ...)                                                                           \
    do {                                                                                           \
        if ((lvl) <= log_level)                                                                    \
            log_write((lvl), __VA_ARGS__);                                                         \
    } while (0)
#define log_error(...) LOG_AT(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  LOG_AT(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  LOG_AT(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) LOG_AT(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
