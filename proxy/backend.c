/*
 * Connecting to the warehouse (see backend.h): a small state machine driven by
 * one bufferevent's callbacks. TCP connect, then for any sslmode but disable an
 * SSLRequest; 'S' switches the socket to a TLS bufferevent, 'N' continues in
 * plain text only for prefer.
 */
#include "proxy/backend.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "proxy/codec.h"

/* The bufferevent while connecting: a plain one does not own its socket, a TLS one does. */
typedef struct Conn {
    struct bufferevent *bev;
    bool tls;
} Conn;

typedef enum BackendState {
    BACKEND_CONNECTING,
    BACKEND_SSL_ANSWER, /* SSLRequest sent; waiting for 'S' or 'N' */
    BACKEND_HANDSHAKE,  /* TLS handshake in progress */
    BACKEND_DONE,       /* the callback is scheduled */
} BackendState;

struct BackendConnect {
    struct event_base *base;
    BackendTarget t;
    char *host;
    BackendState state;
    Conn conn;
    BackendReadyFn cb;
    void *arg;
    struct event *done_ev; /* runs the callback outside bufferevent callbacks */
    char *error;           /* NULL on success */
};

static void conn_close(Conn *c)
{
    if (!c->bev)
        return;
    if (c->tls) {
        bufferevent_free(c->bev);
    } else {
        evutil_socket_t fd = bufferevent_getfd(c->bev);
        bufferevent_free(c->bev);
        if (fd >= 0)
            close(fd);
    }
    c->bev = NULL;
}

static void backend_done_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    BackendConnect *bc = arg;
    if (bc->error) {
        conn_close(&bc->conn);
        bc->cb(NULL, bc->error, bc->arg);
    } else {
        Stream *st;
        if (bc->conn.tls) {
            st = stream_tls(bc->base, bc->conn.bev);
        } else {
            evutil_socket_t sock = bufferevent_getfd(bc->conn.bev);
            bufferevent_free(bc->conn.bev); /* plain: leaves the socket open */
            st = stream_socket(bc->base, sock);
        }
        bc->conn.bev = NULL; /* the stream's now */
        bc->cb(st, NULL, bc->arg);
    }
    backend_connect_abort(bc);
}

/* Ends the attempt: success when error is NULL. Takes ownership of error. */
static void backend_finish(BackendConnect *bc, char *error)
{
    if (bc->state == BACKEND_DONE) {
        free(error);
        return;
    }
    bc->state = BACKEND_DONE;
    bc->error = error;
    if (bc->conn.bev)
        bufferevent_disable(bc->conn.bev, EV_READ | EV_WRITE);
    event_active(bc->done_ev, EV_TIMEOUT, 0);
}

/* Fails with "<what> the warehouse at HOST:PORT: <why>". */
static void backend_fail(BackendConnect *bc, const char *what, const char *why)
{
    backend_finish(bc, xasprintf("%s the warehouse at %s:%d: %s", what, bc->host, bc->t.port, why));
}

static void backend_event_cb(struct bufferevent *bev, short what, void *arg);
static void backend_read_cb(struct bufferevent *bev, void *arg);

static void backend_start_tls(BackendConnect *bc)
{
    char *error = NULL;
    SSL *ssl = tls_client_ssl(bc->t.ctx, bc->t.sslmode, bc->host, &error);
    if (!ssl) {
        backend_fail(bc, "could not set up TLS with", error);
        free(error);
        return;
    }
    evutil_socket_t fd = bufferevent_getfd(bc->conn.bev);
    bufferevent_free(bc->conn.bev); /* plain: leaves the socket open */
    bc->conn.bev = bufferevent_openssl_socket_new(bc->base, fd, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                  BEV_OPT_CLOSE_ON_FREE);
    if (!bc->conn.bev) {
        SSL_free(ssl);
        close(fd);
        backend_fail(bc, "could not set up TLS with", "out of memory");
        return;
    }
    bc->conn.tls = true;
    bc->state = BACKEND_HANDSHAKE;
    struct timeval tv = {bc->t.timeout_s, 0};
    bufferevent_set_timeouts(bc->conn.bev, &tv, &tv);
    bufferevent_setcb(bc->conn.bev, NULL, NULL, backend_event_cb, bc);
    bufferevent_enable(bc->conn.bev, EV_READ | EV_WRITE);
}

static void backend_read_cb(struct bufferevent *bev, void *arg)
{
    BackendConnect *bc = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (bc->state != BACKEND_SSL_ANSWER || evbuffer_get_length(in) == 0)
        return;
    uint8_t answer;
    evbuffer_remove(in, &answer, 1);
    if (answer == 'S') {
        /* Anything after the 'S' came unencrypted from a man in the middle (CVE-2021-23222). */
        if (evbuffer_get_length(in) > 0)
            backend_fail(bc, "TLS refused: unencrypted data from",
                         "received after its answer to SSLRequest");
        else
            backend_start_tls(bc);
    } else if (answer == 'N' && bc->t.sslmode == TLS_SSLMODE_PREFER) {
        backend_finish(bc, NULL);
    } else if (answer == 'N') {
        backend_fail(bc, "could not connect to",
                     "the server does not support TLS, and [warehouse] "
                     "sslmode requires it");
    } else {
        backend_fail(bc, "could not connect to", "unexpected answer to SSLRequest");
    }
}

static void backend_event_cb(struct bufferevent *bev, short what, void *arg)
{
    BackendConnect *bc = arg;
    if (what & BEV_EVENT_CONNECTED) {
        if (bc->state == BACKEND_HANDSHAKE) {
            backend_finish(bc, NULL);
            return;
        }
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (bc->t.sslmode == TLS_SSLMODE_DISABLE) {
            backend_finish(bc, NULL);
            return;
        }
        uint8_t req[CODEC_STARTUP_HEADER_LEN];
        uint32_t len = htonl(CODEC_STARTUP_HEADER_LEN), code = htonl(CODEC_SSL_REQUEST);
        memcpy(req, &len, 4);
        memcpy(req + 4, &code, 4);
        bc->state = BACKEND_SSL_ANSWER;
        bufferevent_write(bev, req, sizeof req);
        bufferevent_setcb(bev, backend_read_cb, NULL, backend_event_cb, bc);
        bufferevent_enable(bev, EV_READ);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        backend_fail(bc, "could not connect to", "timed out");
        return;
    }
    if (bc->state == BACKEND_HANDSHAKE) {
        unsigned long e = bufferevent_get_openssl_error(bev);
        char buf[256] = "the connection was closed during the handshake";
        if (e) {
            const char *reason = ERR_reason_error_string(e);
            snprintf(buf, sizeof buf, "%s", reason ? reason : "handshake failed");
        }
        if (e && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
            SSL *ssl = bufferevent_openssl_get_ssl(bev);
            long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
            if (v != X509_V_OK)
                snprintf(buf, sizeof buf, "certificate verify failed: %s",
                         X509_verify_cert_error_string(v));
        }
        backend_fail(bc, "TLS handshake failed with", buf);
        return;
    }
    int dns_err = bufferevent_socket_get_dns_error(bev);
    const char *why = dns_err ? evutil_gai_strerror(dns_err)
                      : (what & BEV_EVENT_EOF)
                          ? "the connection was closed"
                          : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR());
    backend_fail(bc, "could not connect to", why);
}

BackendConnect *backend_connect(struct event_base *base, const BackendTarget *t, BackendReadyFn cb,
                                void *arg)
{
    BackendConnect *bc = xcalloc(1, sizeof *bc);
    bc->base = base;
    bc->t = *t;
    bc->host = xstrdup(t->host);
    bc->t.host = bc->host;
    bc->cb = cb;
    bc->arg = arg;
    bc->done_ev = xnonnull(event_new(base, -1, 0, backend_done_cb, bc));
    bc->conn.bev = xnonnull(bufferevent_socket_new(base, -1, 0));
    struct timeval tv = {t->timeout_s, 0};
    bufferevent_set_timeouts(bc->conn.bev, &tv, &tv);
    bufferevent_setcb(bc->conn.bev, NULL, NULL, backend_event_cb, bc);
    bufferevent_enable(bc->conn.bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect_hostname(bc->conn.bev, t->dns, AF_UNSPEC, bc->host, t->port) !=
            0 &&
        bc->state != BACKEND_DONE)
        backend_fail(bc, "could not connect to",
                     evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    return bc;
}

void backend_connect_abort(BackendConnect *bc)
{
    if (!bc)
        return;
    conn_close(&bc->conn);
    event_free(bc->done_ev);
    free(bc->error);
    free(bc->host);
    free(bc);
}
