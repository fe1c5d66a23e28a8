/*
 * The web UI's writers of untrusted text: HTML (and SVG) escaping, JSON strings, URL encoding,
 * and the formats of times and durations; the words for states. Everything a page or the API
 * shows from the catalog goes through here. Not for: layout (layout.c) or charts (chart.c).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "web/context.h"

void web_html(struct evbuffer *b, const char *s)
{
    const char *run = s;
    for (; s && *s; s++) {
        const char *rep = NULL;
        switch (*s) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            continue;
        }
        evbuffer_add(b, run, (size_t)(s - run));
        evbuffer_add(b, rep, strlen(rep));
        run = s + 1;
    }
    if (s)
        evbuffer_add(b, run, (size_t)(s - run));
}

void web_json_str(struct evbuffer *b, const char *s)
{
    if (!s) {
        evbuffer_add(b, "null", 4);
        return;
    }
    evbuffer_add(b, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        /* < and > too, so that JSON never carries a tag into a page that embeds it. */
        if (ch >= 0x20 && ch != '"' && ch != '\\' && ch != '<' && ch != '>')
            continue;
        evbuffer_add(b, run, (size_t)(s - run));
        if (ch == '"' || ch == '\\')
            evbuffer_add_printf(b, "\\%c", ch);
        else if (ch == '\n')
            evbuffer_add(b, "\\n", 2);
        else
            evbuffer_add_printf(b, "\\u%04x", ch);
        run = s + 1;
    }
    evbuffer_add(b, run, (size_t)(s - run));
    evbuffer_add(b, "\"", 1);
}

void web_url(struct evbuffer *b, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '.' || ch == '_' || ch == '-' || ch == '~')
            evbuffer_add(b, s, 1);
        else
            evbuffer_add_printf(b, "%%%02X", ch);
    }
}

void web_time(char out[32], int64_t us)
{
    out[0] = '\0';
    if (us <= 0)
        return;
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    if (gmtime_r(&t, &tm))
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void web_duration(char out[32], int64_t us)
{
    if (us < 0)
        snprintf(out, 32, "-");
    else if (us < 1000000)
        snprintf(out, 32, "%lld ms", (long long)(us / 1000));
    else if (us < 60 * 1000000LL)
        snprintf(out, 32, "%.1f s", (double)us / 1e6);
    else if (us < 3600 * 1000000LL)
        snprintf(out, 32, "%lld min %lld s", (long long)(us / 60000000),
                 (long long)(us / 1000000 % 60));
    else
        snprintf(out, 32, "%lld h %lld min", (long long)(us / 3600000000LL),
                 (long long)(us / 60000000 % 60));
}

void web_interval(char out[32], int64_t seconds)
{
    static const struct {
        int64_t s;
        const char *unit;
    } units[] = {{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}};
    out[0] = '\0';
    for (size_t i = 0; seconds > 0 && i < sizeof units / sizeof units[0]; i++)
        if (seconds % units[i].s == 0) {
            snprintf(out, 32, "%lld%s", (long long)(seconds / units[i].s), units[i].unit);
            return;
        }
}

int web_parse_time(const char *s, int64_t *us)
{
    struct tm tm = {0};
    int n = 0, y, mo, d, h = 0, mi = 0, sec = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3)
        return -1;
    s += n;
    if (*s == 'T' || *s == ' ') {
        int m = 0;
        if (sscanf(s + 1, "%2d:%2d%n", &h, &mi, &m) != 2)
            return -1;
        s += 1 + m;
        if (*s == ':') {
            if (sscanf(s + 1, "%2d%n", &sec, &m) != 1)
                return -1;
            s += 1 + m;
        }
    }
    if (*s == 'Z')
        s++;
    if (*s || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970 ||
        y > 9999)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *us = (int64_t)t * 1000000;
    return 0;
}

WebState web_view_state(const StoreView *v)
{
    if (v->running)
        return WEB_STATE_RUNNING;
    if (v->last_failed)
        return WEB_STATE_FAILED;
    if (!v->enabled)
        return WEB_STATE_DISABLED;
    if (!v->built_hash)
        return WEB_STATE_NEVER;
    return WEB_STATE_OK;
}

const char *web_state_name(WebState st)
{
    switch (st) {
    case WEB_STATE_FAILED:
        return "failed";
    case WEB_STATE_RUNNING:
        return "running";
    case WEB_STATE_NEVER:
        return "never built";
    case WEB_STATE_DISABLED:
        return "disabled";
    case WEB_STATE_OK:
        return "ok";
    }
    return "ok";
}

const char *web_outcome_class(const char *outcome)
{
    RunOutcome o;
    if (!outcome || run_outcome_parse(outcome, &o) != 0)
        return "other";
    switch (o) {
    case RUN_OK:
        return "ok";
    case RUN_FAILED:
    case RUN_TESTS_FAILED:
        return "failed";
    case RUN_CANCELLED:
        return "cancelled";
    case RUN_RUNNING:
        return "running";
    }
    return "other";
}
