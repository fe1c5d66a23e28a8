/*
 * The gateway (see gateway.h): the listener, the list of sessions, cancel
 * requests forwarded to the warehouse, and the thread running the loop. Other
 * threads talk to it only through events made active (libevent's pthreads
 * support makes that safe), so the loop's data needs no locks.
 */
#include "proxy/gateway.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/metrics.h"
#include "proxy/backend.h"
#include "proxy/codec.h"
#include "proxy/evaluate.h"
#include "proxy/session.h"
#include "proxy/tls.h"
#include "proxy/views.h"
#include "sqlengine/vtable.h"

#define GATEWAY_BACKLOG           1024
#define GATEWAY_CONNECT_TIMEOUT_S 10
#define GATEWAY_RELISTEN_MS       200 /* pause after accept() failed, e.g. out of descriptors */
#define GATEWAY_SUMMARY_SECONDS   60  /* period of the info line counting sessions */

/*
 * A cancel request on its way to the warehouse. The client's own cancel connection
 * (requester) stays open until the warehouse has closed ours, as PostgreSQL closes a cancel
 * connection only once the backend has been signalled: a client that waits for that close
 * (libpq's PQcancel does) knows its cancel cannot hit the statement it sends next.
 */
typedef struct CancelJob {
    Gateway *gw;
    uint32_t session;
    Session *requester; /* NULL once it has gone */
    BackendConnect *connecting;
    Stream *conn;
    struct event *timer;
    uint8_t packet[CODEC_CANCEL_REQUEST_LEN];
    bool sent;
    bool done;
    struct CancelJob *next;
} CancelJob;

/* How long a forwarded cancel request may take before the client's connection is closed anyway. */
#define CANCEL_TIMEOUT_SECS 10

struct Gateway {
    GatewayEnv env;
    struct event_base *base;
    struct evdns_base *dns;
    struct evconnlistener *listener;
    char *listen;
    SSL_CTX *client_ctx;
    pthread_t thread;
    bool thread_started;
    struct event *stop_accepting_ev;
    struct event *close_sessions_ev;
    struct event *exit_ev;
    struct event *reap_ev;
    struct event *relisten_ev;
    struct event *summary_ev; /* the periodic "sessions opened/closed" line */
    int opened, closed;       /* admitted sessions since the last summary */
    Session *sessions;        /* live, doubly linked through session_next/prev */
    Session *dead;            /* waiting for reap_cb, singly linked */
    CancelJob *cancels;
    int admitted; /* sessions past their startup message, against max_clients */
    uint32_t next_id;
    bool ids_wrapped;
    atomic_int connections; /* client connections open */
    /* Duro's SQL */
    StrVec admins;
    Views *views; /* NULL without [gateway] inspect */
};

/* ---- sessions ---------------------------------------------------------------- */

uint32_t gateway_new_session_id(Gateway *gw)
{
    for (;;) {
        uint32_t id = ++gw->next_id & 0x7fffffffu; /* a positive int32, like a PID */
        if (id == 0) {
            gw->ids_wrapped = true;
            continue;
        }
        if (!gw->ids_wrapped)
            return id;
        bool used = false;
        for (Session *s = gw->sessions; s && !used; s = *session_next(s))
            used = session_id(s) == id;
        if (!used)
            return id;
    }
}

bool gateway_admit(Gateway *gw, Session *s)
{
    (void)s;
    if (gw->admitted >= gw->env.max_clients)
        return false;
    gw->admitted++;
    gw->opened++;
    metrics_add(METRICS_SESSIONS_OPENED, 1);
    metrics_gauge_add(METRICS_SESSIONS_OPEN, 1);
    return true;
}

static void list_remove(Gateway *gw, Session *s)
{
    Session *next = *session_next(s), *prev = *session_prev(s);
    if (prev)
        *session_next(prev) = next;
    else
        gw->sessions = next;
    if (next)
        *session_prev(next) = prev;
    *session_next(s) = *session_prev(s) = NULL;
}

void gateway_session_dead(Gateway *gw, Session *s)
{
    for (CancelJob *job = gw->cancels; job; job = job->next)
        if (job->requester == s)
            job->requester = NULL;
    list_remove(gw, s);
    *session_next(s) = gw->dead;
    gw->dead = s;
    event_active(gw->reap_ev, EV_TIMEOUT, 0);
}

/* Each session's opening and closing is logged at debug; info gets one line a period, and only
 * when sessions came or went. */
static void summary_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    Gateway *gw = arg;
    if (gw->opened == 0 && gw->closed == 0)
        return;
    log_info("gateway: %d session%s opened, %d closed in the last %d s; %d open", gw->opened,
             gw->opened == 1 ? "" : "s", gw->closed, GATEWAY_SUMMARY_SECONDS, gw->admitted);
    gw->opened = gw->closed = 0;
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    Gateway *gw = arg;
    while (gw->dead) {
        Session *s = gw->dead;
        gw->dead = *session_next(s);
        if (session_admitted(s)) {
            gw->admitted--;
            gw->closed++;
            metrics_gauge_add(METRICS_SESSIONS_OPEN, -1);
        }
        session_free(s);
        atomic_fetch_sub(&gw->connections, 1);
    }
    for (CancelJob **p = &gw->cancels; *p;) {
        CancelJob *job = *p;
        if (!job->done) {
            p = &job->next;
            continue;
        }
        *p = job->next;
        backend_connect_abort(job->connecting);
        stream_free(job->conn);
        event_free(job->timer);
        free(job);
    }
}

/* ---- cancel requests ------------------------------------------------------------ */

static void cancel_finish(CancelJob *job)
{
    if (job->done)
        return;
    job->done = true;
    if (job->requester)
        session_cancel_done(job->requester);
    job->requester = NULL;
    event_active(job->gw->reap_ev, EV_TIMEOUT, 0);
}

/* The warehouse sends nothing on a cancel connection; whatever comes is dropped. */
static void cancel_read_cb(Stream *st, void *arg)
{
    (void)arg;
    struct evbuffer *in = stream_input(st);
    evbuffer_drain(in, evbuffer_get_length(in));
}

static void cancel_drained_cb(Stream *st, void *arg)
{
    CancelJob *job = arg;
    if (stream_pending(st) == 0)
        job->sent = true; /* now the warehouse closes the connection once it has acted */
}

static void cancel_event_cb(Stream *st, short what, int err, void *arg)
{
    (void)st;
    (void)what;
    (void)err;
    CancelJob *job = arg;
    if (job->sent)
        log_debug("session %u: cancel request forwarded to the warehouse", job->session);
    else
        log_warn("session %u: the warehouse closed the connection before taking the cancel "
                 "request",
                 job->session);
    cancel_finish(job);
}

static void cancel_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    CancelJob *job = arg;
    log_warn("session %u: the warehouse did not answer a cancel request within %d s", job->session,
             CANCEL_TIMEOUT_SECS);
    cancel_finish(job);
}

static void cancel_ready(Stream *conn, const char *error, void *arg)
{
    CancelJob *job = arg;
    job->connecting = NULL;
    if (!conn) {
        log_warn("session %u: cannot forward a cancel request: %s", job->session, error);
        cancel_finish(job);
        return;
    }
    job->conn = conn;
    stream_setcb(conn, cancel_read_cb, cancel_drained_cb, cancel_event_cb, job);
    stream_enable_read(conn, true); /* to see the close */
    stream_write(conn, job->packet, sizeof job->packet);
    job->sent = stream_pending(conn) == 0;
}

bool gateway_cancel_request(Gateway *gw, Session *requester, uint32_t pid, uint32_t key)
{
    Session *s = gw->sessions;
    while (s && !session_cancel_matches(s, pid, key))
        s = *session_next(s);
    uint32_t backend_key;
    if (s && session_cancel_wait(s))
        return false; /* it was waiting for a refresh, not for the warehouse */
    if (!s || !session_backend_key(s, &pid, &backend_key)) {
        log_info("cancel request for backend %u ignored: no such session, or a wrong key", pid);
        return false;
    }
    CancelJob *job = xcalloc(1, sizeof *job);
    job->gw = gw;
    job->session = session_id(s);
    job->requester = requester;
    job->timer = xnonnull(evtimer_new(gw->base, cancel_timeout_cb, job));
    struct timeval limit = {CANCEL_TIMEOUT_SECS, 0};
    evtimer_add(job->timer, &limit);
    uint32_t fields[4] = {htonl(CODEC_CANCEL_REQUEST_LEN), htonl(CODEC_CANCEL_REQUEST), htonl(pid),
                          htonl(backend_key)};
    memcpy(job->packet, fields, sizeof job->packet);
    job->next = gw->cancels;
    gw->cancels = job;
    job->connecting = backend_connect(gw->base, &gw->env.warehouse, cancel_ready, job);
    return true;
}

/* ---- the listener ------------------------------------------------------------------ */

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *peer,
                      int peer_len, void *arg)
{
    (void)l;
    Gateway *gw = arg;
    atomic_fetch_add(&gw->connections, 1);
    Session *s = session_new(gw, &gw->env, fd, peer, peer_len);
    *session_next(s) = gw->sessions;
    if (gw->sessions)
        *session_prev(gw->sessions) = s;
    gw->sessions = s;
}

static void relisten_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    Gateway *gw = arg;
    if (gw->listener)
        evconnlistener_enable(gw->listener);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
    Gateway *gw = arg;
    int err = EVUTIL_SOCKET_ERROR();
    log_warn("gateway: accept failed: %s", evutil_socket_error_to_string(err));
    evconnlistener_disable(l);
    struct timeval tv = {0, GATEWAY_RELISTEN_MS * 1000};
    event_add(gw->relisten_ev, &tv);
}

static void stop_accepting_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    Gateway *gw = arg;
    if (gw->listener) {
        evconnlistener_free(gw->listener);
        gw->listener = NULL;
        log_info("gateway: no longer accepting connections on %s", gw->listen);
    }
}

static void close_sessions_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    Gateway *gw = arg;
    Session *next;
    for (Session *s = gw->sessions; s; s = next) {
        next = *session_next(s);
        session_shutdown(s);
    }
}

static void exit_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    Gateway *gw = arg;
    event_base_loopbreak(gw->base);
}

static void *gateway_thread(void *arg)
{
    Gateway *gw = arg;
    event_base_loop(gw->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

/* Resolves HOST:PORT (settings checked its shape) for bind(). */
static int resolve_listen(const char *listen, struct sockaddr_storage *ss, int *len, char **error)
{
    const char *colon = strrchr(listen, ':');
    char *host = xstrndup(listen, (size_t)(colon - listen));
    if (host[0] == '[') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    free(host);
    if (rc != 0) {
        *error = xasprintf("[gateway] listen %s: %s", listen, gai_strerror(rc));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = (int)res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* Each session holds two descriptors: raises the soft limit so that max_clients fit. */
static void raise_fd_limit(int max_clients)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)max_clients * 2 + 64;
    if (rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
        log_warn("gateway: the open files limit (%llu) is too low for [gateway] max_clients = %d "
                 "(%llu needed)",
                 (unsigned long long)rl.rlim_cur, max_clients, (unsigned long long)want);
}

Gateway *gateway_start(const Settings *s, Scheduler *sc, char **error)
{
    static pthread_once_t threads_once = PTHREAD_ONCE_INIT;
    pthread_once(&threads_once, (void (*)(void))evthread_use_pthreads);

    Gateway *gw = xcalloc(1, sizeof *gw);
    gw->listen = xstrdup(s->gateway.listen);
    gw->base = xnonnull(event_base_new());
    gw->env.base = gw->base;
    gw->env.tls_required = s->gateway.tls_mode == SETTINGS_TLS_REQUIRE;
    gw->env.max_message = (uint32_t)s->gateway.max_message;
    gw->env.max_clients = s->gateway.max_clients;
    gw->env.inspect = s->gateway.inspect_mode == SETTINGS_ON;
    strvec_copy(&gw->admins, &s->worker.admins);
    raise_fd_limit(s->gateway.max_clients);
    if (gw->env.inspect) {
        gw->views = views_open(gw->base, s->catalog.path, sc, error);
        if (!gw->views)
            goto fail;
        gw->env.answer.vt = vtable_open(error);
        if (!gw->env.answer.vt)
            goto fail;
        gw->env.answer.pool = eval_start(gw->base, s, error);
        if (!gw->env.answer.pool)
            goto fail;
        gw->env.inspection =
            (InspectEnv){gw->views, &gw->env.answer, &gw->admins, (size_t)s->gateway.inspect_limit};
    }

    TlsSslMode mode;
    if (tls_parse_sslmode(s->warehouse.sslmode, &mode) != 0) {
        *error = xasprintf("[warehouse] sslmode: unknown value %s", s->warehouse.sslmode);
        goto fail;
    }
    if (*s->gateway.tls_cert) {
        gw->env.server_ctx = tls_server_ctx(s->gateway.tls_cert, s->gateway.tls_key, error);
        if (!gw->env.server_ctx)
            goto fail;
    }
    if (mode != TLS_SSLMODE_DISABLE) {
        gw->client_ctx = tls_client_ctx(mode, error);
        if (!gw->client_ctx)
            goto fail;
    }
    gw->dns = evdns_base_new(gw->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    if (!gw->dns)
        log_warn("gateway: no DNS configuration; host names resolve with blocking lookups");
    gw->env.warehouse = (BackendTarget){
        .host = xstrdup(s->warehouse.host),
        .port = s->warehouse.port,
        .sslmode = mode,
        .ctx = gw->client_ctx,
        .dns = gw->dns,
        .timeout_s = GATEWAY_CONNECT_TIMEOUT_S,
    };

    struct sockaddr_storage ss;
    int sslen;
    if (resolve_listen(s->gateway.listen, &ss, &sslen, error) != 0)
        goto fail;
    gw->listener = evconnlistener_new_bind(
        gw->base, accept_cb, gw, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
        GATEWAY_BACKLOG, (struct sockaddr *)&ss, sslen);
    if (!gw->listener) {
        *error = xasprintf("[gateway] listen %s: %s", s->gateway.listen,
                           evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        goto fail;
    }
    evconnlistener_set_error_cb(gw->listener, accept_error_cb);

    gw->stop_accepting_ev = xnonnull(event_new(gw->base, -1, 0, stop_accepting_cb, gw));
    gw->close_sessions_ev = xnonnull(event_new(gw->base, -1, 0, close_sessions_cb, gw));
    gw->exit_ev = xnonnull(event_new(gw->base, -1, 0, exit_cb, gw));
    gw->reap_ev = xnonnull(event_new(gw->base, -1, 0, reap_cb, gw));
    gw->relisten_ev = xnonnull(event_new(gw->base, -1, 0, relisten_cb, gw));
    gw->summary_ev = xnonnull(event_new(gw->base, -1, EV_PERSIST, summary_cb, gw));
    struct timeval period = {GATEWAY_SUMMARY_SECONDS, 0};
    event_add(gw->summary_ev, &period);

    if (pthread_create(&gw->thread, NULL, gateway_thread, gw) != 0) {
        *error = xstrdup("gateway: cannot start its thread");
        goto fail;
    }
    gw->thread_started = true;
    log_info("gateway listening on %s (TLS for clients: %s; to the warehouse: sslmode=%s)",
             s->gateway.listen,
             gw->env.server_ctx ? (gw->env.tls_required ? "required" : "allowed") : "off",
             s->warehouse.sslmode);
    return gw;
fail:
    gateway_free(gw);
    return NULL;
}

void gateway_stop_accepting(Gateway *gw)
{
    event_active(gw->stop_accepting_ev, EV_TIMEOUT, 0);
}

void gateway_close_sessions(Gateway *gw)
{
    event_active(gw->close_sessions_ev, EV_TIMEOUT, 0);
}

int gateway_sessions(const Gateway *gw)
{
    return atomic_load(&((Gateway *)gw)->connections);
}

void gateway_halt(Gateway *gw)
{
    if (gw->thread_started) {
        event_active(gw->exit_ev, EV_TIMEOUT, 0);
        pthread_join(gw->thread, NULL);
        gw->thread_started = false;
    }
}

void gateway_free(Gateway *gw)
{
    if (!gw)
        return;
    gateway_halt(gw);
    while (gw->sessions) {
        Session *s = gw->sessions;
        list_remove(gw, s);
        session_free(s);
    }
    while (gw->dead) {
        Session *s = gw->dead;
        gw->dead = *session_next(s);
        session_free(s);
    }
    while (gw->cancels) {
        CancelJob *job = gw->cancels;
        gw->cancels = job->next;
        backend_connect_abort(job->connecting);
        stream_free(job->conn);
        event_free(job->timer);
        free(job);
    }
    if (gw->listener)
        evconnlistener_free(gw->listener);
    struct event *evs[] = {gw->stop_accepting_ev, gw->close_sessions_ev, gw->exit_ev,
                           gw->reap_ev,           gw->relisten_ev,       gw->summary_ev};
    for (size_t i = 0; i < ARRAY_LEN(evs); i++)
        if (evs[i])
            event_free(evs[i]);
    eval_free(gw->env.answer.pool); /* every session has let go of its job */
    vtable_close(gw->env.answer.vt);
    views_free(gw->views);
    strvec_free(&gw->admins);
    if (gw->dns)
        evdns_base_free(gw->dns, 0);
    event_base_free(gw->base);
    SSL_CTX_free(gw->env.server_ctx);
    SSL_CTX_free(gw->client_ctx);
    free((char *)gw->env.warehouse.host);
    free(gw->listen);
    free(gw);
}
