/*
 * The web UI's charts, drawn on the server as inline SVG: the timeline of runs, a view's
 * duration and rows over time, and the dependency graph in columns by depth. Every label is
 * escaped; every shape's <title> is its tooltip. Not for: reading the catalog.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web/context.h"

#define TL_WIDTH   1000
#define TL_LABEL   220
#define TL_ROW     18
#define TL_MAXROWS 60

/* The index of name in names (adding it when there is room), or -1. */
static int row_of(const char **names, int *n, const char *name)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    if (*n >= TL_MAXROWS)
        return -1;
    names[*n] = name;
    return (*n)++;
}

static void time_label(char out[32], int64_t us, int64_t span_us)
{
    char t[32];
    web_time(t, us);
    /* The hour and minute when the window is under a day, else the date too. */
    if (span_us < 86400LL * 1000000 && strlen(t) >= 16)
        memcpy(out, t + 11, 5), out[5] = '\0';
    else if (strlen(t) >= 16)
        memcpy(out, t, 16), out[10] = ' ', out[16] = '\0';
    else
        strcpy(out, t);
}

void web_chart_timeline(struct evbuffer *b, const StoreRun *runs, size_t n, int64_t from_us,
                        int64_t to_us)
{
    const char *names[TL_MAXROWS];
    int rows = 0, left_out = 0;
    int *row = xcalloc(n ? n : 1, sizeof *row);
    for (size_t i = n; i-- > 0;) /* oldest first, so rows follow first appearance */
        if ((row[i] = row_of(names, &rows, runs[i].view)) < 0)
            left_out++;
    int height = 30 + (rows ? rows : 1) * TL_ROW;
    double span = (double)(to_us - from_us), plot = TL_WIDTH - TL_LABEL - 10;
    evbuffer_add_printf(b,
                        "<svg class=\"timeline\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
                        "role=\"img\" aria-label=\"runs over time\">",
                        TL_WIDTH, height, TL_WIDTH, height);
    for (int k = 0; k <= 6; k++) {
        double x = TL_LABEL + plot * k / 6;
        char label[32];
        time_label(label, from_us + (int64_t)(span * k / 6), to_us - from_us);
        evbuffer_add_printf(b,
                            "<line class=\"axis\" x1=\"%.1f\" y1=\"14\" x2=\"%.1f\" y2=\"%d\"/>"
                            "<text x=\"%.1f\" y=\"11\" text-anchor=\"%s\">%s</text>",
                            x, x, height, x, k == 6 ? "end" : "middle", label);
    }
    for (int r = 0; r < rows; r++) {
        evbuffer_add_printf(b, "<text x=\"4\" y=\"%d\">", 30 + r * TL_ROW);
        web_html(b, names[r]);
        evbuffer_add_printf(b, "</text>");
    }
    for (size_t i = 0; i < n; i++) {
        if (row[i] < 0)
            continue;
        int64_t start = runs[i].started_us < from_us ? from_us : runs[i].started_us;
        int64_t end = runs[i].finished_us ? runs[i].finished_us : to_us;
        if (end > to_us)
            end = to_us;
        double x = TL_LABEL + plot * (double)(start - from_us) / span;
        double w = plot * (double)(end - start) / span;
        char started[32], took[32];
        web_time(started, runs[i].started_us);
        web_duration(took, (runs[i].finished_us ? runs[i].finished_us : end) - runs[i].started_us);
        evbuffer_add_printf(b, "<a href=\"/views/");
        web_url(b, runs[i].view);
        evbuffer_add_printf(b,
                            "\"><rect class=\"bar-%s\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
                            "height=\"%d\"><title>",
                            web_outcome_class(runs[i].outcome), x, 19 + row[i] * TL_ROW,
                            w < 2 ? 2 : w, TL_ROW - 4);
        web_html(b, runs[i].view);
        evbuffer_add_printf(b, " %s, %s, %s", runs[i].outcome, started, took);
        evbuffer_add_printf(b, "</title></rect></a>");
    }
    evbuffer_add_printf(b, "</svg>");
    if (left_out)
        evbuffer_add_printf(b, "<p class=\"note\">%d runs of more views than %d are not drawn.</p>",
                            left_out, TL_MAXROWS);
    free(row);
}

/* One small line chart of value(run) over time, of the runs where it is known (>= 0). */
static void series(struct evbuffer *b, const char *title, const StoreRun *runs, size_t n, bool rows)
{
    const int W = 480, H = 160, L = 60, T = 20, B = 20;
    int64_t t0 = 0, t1 = 0, vmax = 0;
    size_t points = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t v = rows ? runs[i].rows : runs[i].finished_us - runs[i].started_us;
        if (!runs[i].finished_us || v < 0 || strcmp(runs[i].outcome, "ok") != 0)
            continue;
        if (!points || runs[i].started_us < t0)
            t0 = runs[i].started_us;
        if (!points || runs[i].started_us > t1)
            t1 = runs[i].started_us;
        if (v > vmax)
            vmax = v;
        points++;
    }
    evbuffer_add_printf(b,
                        "<svg viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\" "
                        "aria-label=\"%s\"><text x=\"4\" y=\"13\">%s</text>",
                        W, H, W, H, title, title);
    if (!points) {
        evbuffer_add_printf(b, "<text x=\"%d\" y=\"%d\">no successful run yet</text></svg>", L,
                            H / 2);
        return;
    }
    char top[32];
    if (rows)
        snprintf(top, sizeof top, "%lld", (long long)vmax);
    else
        web_duration(top, vmax);
    evbuffer_add_printf(b,
                        "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
                        "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
                        "<text x=\"4\" y=\"%d\">%s</text><text x=\"4\" y=\"%d\">0</text>"
                        "<polyline class=\"line\" points=\"",
                        L, T, L, H - B, L, H - B, W - 10, H - B, T + 10, top, H - B);
    double span = t1 > t0 ? (double)(t1 - t0) : 1, vspan = vmax > 0 ? (double)vmax : 1;
    for (size_t i = n; i-- > 0;) {
        int64_t v = rows ? runs[i].rows : runs[i].finished_us - runs[i].started_us;
        if (!runs[i].finished_us || v < 0 || strcmp(runs[i].outcome, "ok") != 0)
            continue;
        double x =
            points == 1 ? (L + W - 10) / 2.0 : L + (W - 10 - L) * (runs[i].started_us - t0) / span;
        double y = H - B - (H - B - T) * (double)v / vspan;
        evbuffer_add_printf(b, "%.1f,%.1f ", x, y);
    }
    evbuffer_add_printf(b, "\"/>");
    for (size_t i = n; i-- > 0;) { /* a dot for each run, its value as the tooltip */
        int64_t v = rows ? runs[i].rows : runs[i].finished_us - runs[i].started_us;
        if (!runs[i].finished_us || v < 0 || strcmp(runs[i].outcome, "ok") != 0)
            continue;
        double x =
            points == 1 ? (L + W - 10) / 2.0 : L + (W - 10 - L) * (runs[i].started_us - t0) / span;
        double y = H - B - (H - B - T) * (double)v / vspan;
        char at[32], value[32];
        web_time(at, runs[i].started_us);
        if (rows)
            snprintf(value, sizeof value, "%lld rows", (long long)v);
        else
            web_duration(value, v);
        evbuffer_add_printf(b,
                            "<circle class=\"dot\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\"><title>%s: %s"
                            "</title></circle>",
                            x, y, at, value);
    }
    evbuffer_add_printf(b, "</svg>");
}

void web_chart_series(struct evbuffer *b, const StoreRun *runs, size_t n)
{
    evbuffer_add_printf(b, "<div class=\"grid\"><div>");
    series(b, "duration", runs, n, false);
    evbuffer_add_printf(b, "</div><div>");
    series(b, "rows", runs, n, true);
    evbuffer_add_printf(b, "</div></div>");
}

/* ---- the dependency graph ---- */

#define G_COL 230
#define G_ROW 26
#define G_BOX 200

static int find_view(const StoreView *views, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(views[i].name) == len && strncmp(views[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

void web_chart_graph(struct evbuffer *b, const StoreView *views, size_t n, const char *center)
{
    /* Edges from each dependency to its reader, among the views given. */
    int *from = NULL, *to = NULL;
    size_t n_edges = 0, cap_from = 0, cap_to = 0;
    for (size_t i = 0; i < n; i++) {
        for (const char *p = views[i].depends_on; p && *p;) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            int d = find_view(views, n, p, len);
            if (d >= 0 && (size_t)d != i) {
                grow_array((void **)&from, &cap_from, n_edges + 1, sizeof *from);
                grow_array((void **)&to, &cap_to, n_edges + 1, sizeof *to);
                from[n_edges] = d;
                to[n_edges++] = (int)i;
            }
            p = comma ? comma + 1 : NULL;
        }
    }
    /* Depth: one more than the deepest dependency; n passes bound it when there is a cycle. */
    int *depth = xcalloc(n ? n : 1, sizeof *depth);
    for (size_t pass = 0; pass < n; pass++) {
        bool changed = false;
        for (size_t e = 0; e < n_edges; e++)
            if (depth[to[e]] < depth[from[e]] + 1 && depth[from[e]] + 1 < (int)n) {
                depth[to[e]] = depth[from[e]] + 1;
                changed = true;
            }
        if (!changed)
            break;
    }
    int max_depth = 0;
    for (size_t i = 0; i < n; i++)
        max_depth = depth[i] > max_depth ? depth[i] : max_depth;
    int *slot = xcalloc(n ? n : 1, sizeof *slot),
        *used = xcalloc((size_t)max_depth + 1, sizeof *used);
    int max_rows = 1;
    for (size_t i = 0; i < n; i++) {
        slot[i] = used[depth[i]]++;
        max_rows = used[depth[i]] > max_rows ? used[depth[i]] : max_rows;
    }
    int width = (max_depth + 1) * G_COL + 20, height = max_rows * G_ROW + 20;
    evbuffer_add_printf(b,
                        "<svg class=\"graph\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
                        "role=\"img\" aria-label=\"dependency graph\">",
                        width, height, width, height);
    for (size_t e = 0; e < n_edges; e++)
        evbuffer_add_printf(b, "<path class=\"edge\" d=\"M%d %d C%d %d %d %d %d %d\"/>",
                            10 + depth[from[e]] * G_COL + G_BOX, 20 + slot[from[e]] * G_ROW,
                            10 + depth[from[e]] * G_COL + G_BOX + 15, 20 + slot[from[e]] * G_ROW,
                            10 + depth[to[e]] * G_COL - 15, 20 + slot[to[e]] * G_ROW,
                            10 + depth[to[e]] * G_COL, 20 + slot[to[e]] * G_ROW);
    for (size_t i = 0; i < n; i++) {
        WebState st = web_view_state(&views[i]);
        const char *cls = st == WEB_STATE_NEVER ? "never" : web_state_name(st);
        int x = 10 + depth[i] * G_COL, y = 10 + slot[i] * G_ROW;
        bool here = center && strcmp(center, views[i].name) == 0;
        evbuffer_add_printf(b, "<a href=\"/views/");
        web_url(b, views[i].name);
        evbuffer_add_printf(b,
                            "\"><rect class=\"node-%s%s\" x=\"%d\" y=\"%d\" width=\"%d\" "
                            "height=\"%d\" rx=\"4\"><title>",
                            cls, here ? " center" : "", x, y, G_BOX, G_ROW - 6);
        web_html(b, views[i].name);
        evbuffer_add_printf(b, ": %s</title></rect><text x=\"%d\" y=\"%d\">", web_state_name(st),
                            x + 5, y + 14);
        /* Long names are cut to fit the box; the tooltip has the whole name. */
        char label[40];
        size_t len = strlen(views[i].name), keep = len > 30 ? 28 : len;
        while (keep < len && keep > 0 && ((unsigned char)views[i].name[keep] & 0xc0) == 0x80)
            keep--; /* not inside a UTF-8 sequence */
        snprintf(label, sizeof label, "%.*s%s", (int)keep, views[i].name, keep < len ? "…" : "");
        web_html(b, label);
        evbuffer_add_printf(b, "</text></a>");
    }
    evbuffer_add_printf(b, "</svg>");
    free(from);
    free(to);
    free(depth);
    free(slot);
    free(used);
}
