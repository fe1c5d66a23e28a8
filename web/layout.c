/*
 * The frame of every page of the web UI: the head, the navigation, and the one style sheet
 * (served as /static/duro.css so that the Content-Security-Policy allows no inline style). No
 * script, nothing from another site. Not for: a page's content.
 */
#include <string.h>

#include "web/context.h"

static const char css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}"
    "header{background:#1d2330;color:#fff;padding:8px 16px;display:flex;gap:18px;"
    "align-items:center}"
    "header a{color:#cfd8ea;text-decoration:none}header a.here{color:#fff;font-weight:600}"
    "header .brand{font-weight:700;color:#fff}main{padding:12px 16px}"
    "table{border-collapse:collapse;background:#fff;width:100%}"
    "th,td{padding:4px 8px;border-bottom:1px solid #e3e6eb;text-align:left;vertical-align:top}"
    "th{background:#eef0f4;font-weight:600}td.num{text-align:right}"
    "tr.failed td{color:#b3261e}tr.failed td a{color:#b3261e}.error{color:#b3261e}"
    "pre{background:#fff;border:1px solid #e3e6eb;padding:8px;overflow:auto;max-height:400px}"
    "form.inline{display:inline;margin:0}button{font:inherit;padding:1px 8px;cursor:pointer}"
    ".state-failed{color:#b3261e;font-weight:600}.state-running{color:#1f5fbf}"
    ".state-never{color:#8a6d00}.state-disabled{color:#777}.state-ok{color:#1e7b34}"
    "svg{background:#fff;border:1px solid #e3e6eb;max-width:100%;height:auto}"
    "svg text{font:11px system-ui,sans-serif;fill:#1d2330}"
    ".bar-ok,.node-ok{fill:#4caf50}.bar-failed,.node-failed{fill:#d9453b}"
    ".bar-running,.node-running{fill:#3d7fe0}.bar-cancelled,.node-cancelled{fill:#9e9e9e}"
    ".bar-other,.node-never{fill:#e0b43a}.node-disabled{fill:#c4c4c4}"
    ".edge{stroke:#8b93a3;stroke-width:1;fill:none}.center{stroke:#1d2330;stroke-width:3}"
    ".line{stroke:#3d7fe0;stroke-width:1.5;fill:none}.dot{fill:#3d7fe0}.axis{stroke:#c5cad3}"
    ".summary{font-size:16px;margin:8px 0}.pager a{margin-right:12px}"
    ".note{color:#555}.grid{display:grid;grid-template-columns:1fr 1fr;gap:12px}"
    "@media(max-width:900px){.grid{grid-template-columns:1fr}}\n";

void web_static_css(WebCtx *c, struct evhttp_request *req)
{
    (void)c;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, css, sizeof css - 1);
    web_reply(req, 200, "text/css; charset=utf-8", b);
}

void web_page_begin(struct evbuffer *b, const char *title, const char *nav)
{
    static const char *const links[][2] = {
        {"/", "Runs"}, {"/views", "Views"}, {"/graph", "Graph"}, {"/login", "Log in"}};
    evbuffer_add_printf(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                           "<meta name=\"viewport\" content=\"width=device-width\">"
                           "<link rel=\"icon\" href=\"data:,\">"
                           "<link rel=\"stylesheet\" href=\"/static/duro.css\"><title>");
    web_html(b, title);
    evbuffer_add_printf(b, " — Duro</title></head><body><header><span class=\"brand\">Duro</span>");
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
        evbuffer_add_printf(b, "<a href=\"%s\"%s>%s</a>", links[i][0],
                            strcmp(nav, links[i][0]) == 0 ? " class=\"here\"" : "", links[i][1]);
    evbuffer_add_printf(b, "</header><main>");
}

void web_page_end(struct evbuffer *b)
{
    evbuffer_add_printf(b, "</main></body></html>\n");
}

void web_refresh_buttons(struct evbuffer *b, const char *name)
{
    for (int tree = 0; tree < 2; tree++) {
        evbuffer_add_printf(b, "<form class=\"inline\" method=\"post\" action=\"/views/");
        web_url(b, name);
        evbuffer_add_printf(b, "/%s\"><button type=\"submit\">%s</button></form> ",
                            tree ? "refresh-tree" : "refresh", tree ? "Refresh tree" : "Refresh");
    }
}
