/*
 * The gateway (see gateway.h): the listener, the list of sessions, cancel
 * requests forwarded to the warehouse, and the thread running the loop. Other
 * threads talk to it only through events made active (libevent's pthreads
 * support makes that safe), so the loop's data needs no locks.
 */
#include "proxy/gateway.h"

#include <arpa/inet.h>
#include <errno.h>
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

#include "core/clock.h"
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
#define GATEWAY_RELISTEN_MS       100  /* first pause after accept() failed (out of descriptors) */
#define GATEWAY_RELISTEN_MAX_MS   1000 /* it doubles up to this while accept() keeps failing */
#define GATEWAY_SUMMARY_SECONDS   60   /* period of the info line counting sessions */
/* With max_logins reached, a new connection replaces one that waited this long for its client. */
#define GATEWAY_EVICT_AFTER_US (1 * CLOCK_US_PER_SECOND)

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
    int admitted;            /* sessions past their startup message, against max_clients */
    int logins;              /* sessions from accept to logged in, against max_logins */
    int refused;             /* connections refused at max_logins since the summary */
    int evicted;             /* logins ended to make room since the summary */
    int cancels_ignored;     /* cancel requests that matched no session since the summary */
    bool logins_full_said;   /* max_logins was reached in this summary period, and logged */
    int accept_failures;     /* accept() failures in a row */
    int accept_failed;       /* accept() failures since the summary */
    bool accept_failed_said; /* logged; again once a summary period passed without one */
    int relisten_ms;         /* the current pause after one */
    CodecBuf refusal;        /* the ErrorResponse for a connection over max_logins */
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

void gateway_login_done(Gateway *gw, Session *s)
{
    (void)s;
    gw->logins--;
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
    if (gw->refused > 0 || gw->evicted > 0)
        log_warn("gateway: [gateway] max_logins = %d reached: %d connection%s refused, %d login%s "
                 "ended to make room in the last %d s",
                 gw->env.max_logins, gw->refused, gw->refused == 1 ? "" : "s", gw->evicted,
                 gw->evicted == 1 ? "" : "s", GATEWAY_SUMMARY_SECONDS);
    gw->refused = gw->evicted = 0;
    gw->logins_full_said = false;
    if (gw->cancels_ignored > 0)
        log_info("gateway: %d cancel request%s matched no session (or had a wrong key) in the last "
                 "%d s",
                 gw->cancels_ignored, gw->cancels_ignored == 1 ? "" : "s", GATEWAY_SUMMARY_SECONDS);
    gw->cancels_ignored = 0;
    if (gw->accept_failed > 0)
        log_warn("gateway: accept() failed %d times in the last %d s", gw->accept_failed,
                 GATEWAY_SUMMARY_SECONDS);
    else
        gw->accept_failed_said = false;
    gw->accept_failed = 0;
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
        /* Logged one by one at debug only: any client may send them, as fast as it connects. */
        log_debug("cancel request for backend %u ignored: no such session, or a wrong key", pid);
        gw->cancels_ignored++;
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

/* max_logins is reached: logged once a summary period, which then counts what it cost. */
static void logins_full(Gateway *gw)
{
    if (gw->logins_full_said)
        return;
    gw->logins_full_said = true;
    log_warn("gateway: %d connections are logging in ([gateway] max_logins): a new one takes the "
             "place of one that waited over a second for its client, else it is refused; counts "
             "follow every %d s while it lasts",
             gw->env.max_logins, GATEWAY_SUMMARY_SECONDS);
}

/*
 * With max_logins sessions logging in, ends the one that has waited longest for its client, if
 * that is over GATEWAY_EVICT_AFTER_US: idle or trickling connections cannot keep a real login
 * out, while logins under way are left alone. True when there is room now.
 */
static bool make_room_for_login(Gateway *gw)
{
    int64_t limit = clock_mono_us() - GATEWAY_EVICT_AFTER_US, oldest = 0;
    Session *victim = NULL;
    for (Session *s = gw->sessions; s; s = *session_next(s)) {
        int64_t since = session_evictable_since(s);
        if (since > 0 && since <= limit && (!victim || since < oldest)) {
            victim = s;
            oldest = since;
        }
    }
    if (!victim)
        return false;
    logins_full(gw);
    session_evict(victim, gw->env.max_logins);
    gw->evicted++;
    return gw->logins < gw->env.max_logins;
}

/*
 * Refuses a connection over max_logins before it costs a session: PostgreSQL's 53300 and a close.
 * What the client already sent is read first, so that the close is a FIN that leaves the error
 * readable rather than a reset; never a wait.
 */
static void refuse_connection(Gateway *gw, evutil_socket_t fd)
{
    char sink[4096];
    for (int i = 0; i < 4 && recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++)
        continue;
    if (send(fd, gw->refusal.data, gw->refusal.len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        log_debug("gateway: could not send the refusal: %s",
                  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    evutil_closesocket(fd);
    logins_full(gw);
    gw->refused++;
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *peer,
                      int peer_len, void *arg)
{
    (void)l;
    Gateway *gw = arg;
    gw->accept_failures = 0;
    if (gw->logins >= gw->env.max_logins && !make_room_for_login(gw)) {
        refuse_connection(gw, fd);
        return;
    }
    atomic_fetch_add(&gw->connections, 1);
    gw->logins++;
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

/*
 * accept() failed (out of descriptors, EMFILE or ENFILE, most likely): stop accepting for a
 * pause that doubles while it keeps failing, so the loop neither spins nor logs each failure;
 * new connections wait in the backlog meanwhile. The first failure is logged, then a count in
 * each summary period that has some.
 */
static void accept_error_cb(struct evconnlistener *l, void *arg)
{
    Gateway *gw = arg;
    int err = EVUTIL_SOCKET_ERROR();
    gw->accept_failed++;
    if (gw->accept_failures++ == 0)
        gw->relisten_ms = GATEWAY_RELISTEN_MS;
    else if (gw->relisten_ms < GATEWAY_RELISTEN_MAX_MS)
        gw->relisten_ms = gw->relisten_ms * 2 < GATEWAY_RELISTEN_MAX_MS ? gw->relisten_ms * 2
                                                                        : GATEWAY_RELISTEN_MAX_MS;
    if (!gw->accept_failed_said) {
        gw->accept_failed_said = true;
        log_warn("gateway: accept failed: %s%s; new connections wait until it works again",
                 evutil_socket_error_to_string(err),
                 err == EMFILE || err == ENFILE ? " (the open files limit is too low for "
                                                  "[gateway] max_clients and max_logins)"
                                                : "");
    }
    evconnlistener_disable(l);
    struct timeval tv = {gw->relisten_ms / 1000, (gw->relisten_ms % 1000) * 1000};
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
    event_del(gw->relisten_ev);
    /* Connections still logging in would become sessions: they end now, as new ones would. */
    Session *next;
    for (Session *s = gw->sessions; s; s = next) {
        next = *session_next(s);
        if (session_logging_in(s))
            session_shutdown(s);
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
    char *host = NULL, service[8];
    uint16_t port;
    if (settings_listen_split(listen, &host, &port) != 0) {
        *error = xasprintf("[gateway] listen %s: not HOST:PORT", listen);
        return -1;
    }
    snprintf(service, sizeof service, "%u", (unsigned)port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, service, &hints, &res);
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

/*
 * A session holds two descriptors once it connects to the warehouse, one before: raises the soft
 * limit so that max_clients sessions and max_logins more logging in fit.
 */
static void raise_fd_limit(int max_clients, int max_logins)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)max_clients * 2 + (rlim_t)max_logins + 64;
    if (rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
        log_warn("gateway: the open files limit (%llu) is too low for [gateway] max_clients = %d "
                 "and max_logins = %d (%llu needed)",
                 (unsigned long long)rl.rlim_cur, max_clients, max_logins,
                 (unsigned long long)want);
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
    gw->env.max_logins = s->gateway.max_logins;
    gw->env.login_timeout_s = (int)s->gateway.login_timeout;
    codec_buf_init(&gw->refusal, 1024);
    char *refusal = xasprintf("sorry, too many clients already: %d connections are logging in "
                              "([gateway] max_logins)",
                              gw->env.max_logins);
    codec_put_error(&gw->refusal, "FATAL", "53300", refusal, NULL, NULL);
    free(refusal);
    gw->env.inspect = s->gateway.inspect_mode == SETTINGS_ON;
    strvec_copy(&gw->admins, &s->worker.admins);
    raise_fd_limit(s->gateway.max_clients, s->gateway.max_logins);
    if (gw->env.inspect) {
        gw->views = views_open(gw->base, settings_catalog_target(s), sc, error);
        if (!gw->views)
            goto fail;
        gw->env.answer.vt = vtable_open(error);
        if (!gw->env.answer.vt)
            goto fail;
        gw->env.answer.pool = eval_start(gw->base, s, error);
        if (!gw->env.answer.pool)
            goto fail;
        bool published =
            s->catalog.publish_mode == SETTINGS_ON && strcmp(s->catalog.schema, "duro") == 0;
        gw->env.inspection = (InspectEnv){
            gw->views, &gw->env.answer, &gw->admins, (size_t)s->gateway.inspect_limit,
            published ? (s->catalog.publish_every > 0 ? s->catalog.publish_every : 1) : 0};
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
    codec_buf_free(&gw->refusal);
    free((char *)gw->env.warehouse.host);
    free(gw->listen);
    free(gw);
}
