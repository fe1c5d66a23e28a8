/*
 * Who may act through the web UI: an action (a POST) is refused when it comes from a page of
 * another site (Sec-Fetch-Site, or Origin against Host), and, when [web] token is set, unless it
 * carries the token (Authorization: Bearer) or the login cookie (HttpOnly, SameSite=Strict; its
 * value is an HMAC of the token, never the token). Reading pages needs no token. Not for: what
 * an action does (actions.c).
 */
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "web/context.h"

#define WEB_COOKIE "duro_session"

void web_auth_init(WebCtx *c)
{
    const char *token = c->settings->web.token;
    c->session[0] = '\0';
    if (!*token)
        return;
    static const char what[] = "duro web session v1";
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), token, (int)strlen(token), (const unsigned char *)what, sizeof what - 1, mac,
         &len);
    hex_encode(mac, len > 32 ? 32 : len, c->session);
}

/* Compares two strings in time that does not depend on where they differ. */
static bool secret_equal(const char *a, const char *b)
{
    char ha[SHA256_HEX_LEN + 1], hb[SHA256_HEX_LEN + 1];
    sha256_hex(a, strlen(a), ha);
    sha256_hex(b, strlen(b), hb);
    return CRYPTO_memcmp(ha, hb, SHA256_HEX_LEN) == 0;
}

/* Whether req carries the token or the login cookie. */
static bool has_token(WebCtx *c, struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *auth = evhttp_find_header(h, "Authorization");
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0 &&
        secret_equal(auth + 7, c->settings->web.token))
        return true;
    const char *cookies = evhttp_find_header(h, "Cookie");
    for (const char *p = cookies; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        size_t klen = strlen(WEB_COOKIE);
        if (len > klen && strncmp(p, WEB_COOKIE "=", klen + 1) == 0 && len - klen - 1 < 128) {
            char value[128];
            memcpy(value, p + klen + 1, len - klen - 1);
            value[len - klen - 1] = '\0';
            if (secret_equal(value, c->session))
                return true;
        }
        p = end ? end + 1 : NULL;
    }
    return false;
}

bool web_cross_site(struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *site = evhttp_find_header(h, "Sec-Fetch-Site");
    if (site && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0)
        return true;
    const char *origin = evhttp_find_header(h, "Origin");
    if (!origin)
        return false;
    const char *host = evhttp_find_header(h, "Host");
    const char *o = strstr(origin, "://");
    return !host || !o || strcmp(o + 3, host) != 0;
}

bool web_auth_action(WebCtx *c, struct evhttp_request *req, bool json)
{
    if (web_cross_site(req)) {
        web_reply_error(req, 403, json, "refused: the request comes from another site");
        return false;
    }
    if (*c->session && !has_token(c, req)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                          "Bearer realm=\"duro\"");
        web_reply_error(req, 401, json,
                        "this action needs the web UI's token: log in at /login, or send "
                        "Authorization: Bearer with it");
        return false;
    }
    return true;
}

static void login_form(WebCtx *c, struct evhttp_request *req, int status, const char *message)
{
    struct evbuffer *b = evbuffer_new();
    web_page_begin(b, "Log in", "/login");
    evbuffer_add_printf(b, "<h1>Log in</h1>");
    if (message) {
        evbuffer_add_printf(b, "<p class=\"error\">");
        web_html(b, message);
        evbuffer_add_printf(b, "</p>");
    }
    if (!*c->session) {
        evbuffer_add_printf(b, "<p>No token is set ([web] token): actions need no login.</p>");
    } else {
        evbuffer_add_printf(
            b, "<p>Pages can be read without logging in; refreshing a view needs the token of "
               "[web] token.</p><form method=\"post\" action=\"/login\"><label>Token "
               "<input type=\"password\" name=\"token\" autocomplete=\"current-password\" "
               "required></label> <button type=\"submit\">Log in</button></form>");
    }
    web_page_end(b);
    web_reply(req, status, "text/html; charset=utf-8", b);
}

void web_login(WebCtx *c, struct evhttp_request *req)
{
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST)
        return login_form(c, req, 200, NULL);
    if (web_cross_site(req))
        return web_reply_error(req, 403, false, "refused: the request comes from another site");
    if (!*c->session)
        return login_form(c, req, 200, NULL);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    char *body = xmalloc(len + 1);
    evbuffer_copyout(in, body, len);
    body[len] = '\0';
    struct evkeyvalq form;
    bool ok = false;
    if (strlen(body) == len && evhttp_parse_query_str(body, &form) == 0) {
        const char *token = evhttp_find_header(&form, "token");
        ok = token && secret_equal(token, c->settings->web.token);
        evhttp_clear_headers(&form);
    }
    free(body);
    if (!ok) {
        log_warn("web UI: a login with a wrong token");
        return login_form(c, req, 401, "wrong token");
    }
    char *cookie = xasprintf(WEB_COOKIE "=%s; HttpOnly; SameSite=Strict; Path=/", c->session);
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    evhttp_add_header(out, "Set-Cookie", cookie);
    evhttp_add_header(out, "Location", "/views");
    free(cookie);
    web_reply(req, 303, "text/plain; charset=utf-8", NULL);
}
