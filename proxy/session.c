/*
 * One client session (see session.h). The state changes in one function,
 * session_set_state. A session is never freed inside its own callbacks:
 * session_close marks it, a deferred event closes the warehouse side, and once
 * the client has what was left for it the gateway frees the session.
 */
#include "proxy/session.h"

#include <arpa/inet.h>
#include <assert.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/clock.h"
#include "core/log.h"
#include "proxy/codec.h"
#include "proxy/inspect.h"
#include "proxy/relay.h"

#define SESSION_FLUSH_TIMEOUT_S 5 /* for a closing session's last bytes to leave */
#define SESSION_SERVER_MAX_LEN  0x7fffffffu
/*
 * The largest message a client may send before it is logged in (a password, a SASL or GSS
 * answer), its length field: PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH, whatever max_message says.
 */
#define SESSION_MAX_AUTH_MESSAGE 65535u

typedef enum SessionState {
    SESSION_STARTUP,       /* reading startup packets */
    SESSION_TLS_ANSWER,    /* our 'S' is on its way to the client */
    SESSION_TLS_HANDSHAKE, /* TLS handshake with the client */
    SESSION_CONNECTING,    /* opening the warehouse connection */
    SESSION_AUTH,          /* relaying authentication, until the first ReadyForQuery */
    SESSION_READY,         /* relaying queries */
    SESSION_CLOSING,       /* flushing the client's last bytes */
    SESSION_DEAD,          /* handed back to the gateway */
} SessionState;

static const char *const state_names[] = {
    "startup", "tls-answer", "tls-handshake", "connecting", "auth", "ready", "closing", "dead",
};

struct Session {
    Gateway *gw;
    const GatewayEnv *env;
    SessionState state;
    uint32_t id;                   /* for logs */
    uint32_t key;                  /* the cancel key the client sees, with the warehouse's PID */
    Stream *client;                /* NULL during the TLS handshake */
    struct bufferevent *handshake; /* the client's TLS bufferevent until the handshake is done */
    Stream *server;                /* NULL until connected */
    BackendConnect *connecting;    /* while connecting */
    Relay up;                      /* client to warehouse */
    Relay down;                    /* warehouse to client */
    char peer[INET6_ADDRSTRLEN + 8];
    char *user;
    char *database;
    uint8_t *startup; /* the startup message for the warehouse, until sent */
    size_t startup_len;
    bool admitted; /* counted against max_clients */
    bool ssl_done; /* an SSLRequest was just answered: another one is refused, as PostgreSQL does */
    bool gss_done; /* likewise a GSSENCRequest */
    bool startup_full; /* session_startup stopped reading while the client's output is full */
    bool client_terminated;
    bool server_fatal;      /* the warehouse sent a FATAL error the client has */
    bool sasl_started;      /* the warehouse asked for SASL; the client's first answer is next */
    bool auth_asked;        /* the warehouse asked the client for a password or SASL answer */
    bool logging_in;        /* counted by the gateway against max_logins, until logged in */
    int64_t accepted_us;    /* clock_mono_us at accept */
    struct event *login_ev; /* [gateway] login_timeout, from accept to the first ReadyForQuery */
    bool has_backend_key;
    uint32_t backend_pid;
    uint32_t backend_key;
    char *close_reason;
    struct event *close_ev;
    Session *next;
    Session *prev;
    Inspect *inspect; /* Duro's SQL, with [gateway] inspect = on; else NULL */
    struct event *resume_ev;
};

static void session_startup(Session *s);
static void session_start_tls(Session *s);
static void session_close(Session *s, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* ---- small things ---------------------------------------------------------- */

uint32_t session_id(const Session *s)
{
    return s->id;
}

bool session_cancel_matches(const Session *s, uint32_t pid, uint32_t key)
{
    return s->has_backend_key && s->backend_pid == pid && s->key == key;
}

void session_cancel_done(Session *s)
{
    session_close(s, "cancel request");
}

bool session_backend_key(const Session *s, uint32_t *pid, uint32_t *key)
{
    if (!s->has_backend_key || s->state >= SESSION_CLOSING)
        return false;
    *pid = s->backend_pid;
    *key = s->backend_key;
    return true;
}

bool session_admitted(const Session *s)
{
    return s->admitted;
}

Session **session_next(Session *s)
{
    return &s->next;
}

Session **session_prev(Session *s)
{
    return &s->prev;
}

static const char *session_who(const Session *s)
{
    return s->user ? s->user : "?";
}

/* The session is logged in or closing: no longer counted against max_logins, no login deadline. */
static void session_end_login(Session *s)
{
    if (!s->logging_in)
        return;
    s->logging_in = false;
    event_del(s->login_ev);
    gateway_login_done(s->gw, s);
}

/*
 * The one place the state changes. Until SESSION_READY the login deadline (login_ev, armed at
 * accept) runs over every state; a closing session gets SESSION_FLUSH_TIMEOUT_S for its last bytes.
 */
static void session_set_state(Session *s, SessionState next)
{
    log_debug("session %u: %s -> %s", s->id, state_names[s->state], state_names[next]);
    SessionState prev = s->state;
    /* Forward only, but for the plain startup again once TLS is up. */
    assert(next > prev || (prev == SESSION_TLS_HANDSHAKE && next == SESSION_STARTUP));
    s->state = next;
    if (next >= SESSION_READY)
        session_end_login(s);
    if (next == SESSION_CLOSING && s->client)
        stream_set_deadline(s->client, SESSION_FLUSH_TIMEOUT_S);
}

/* Queues a message relayed from the warehouse for the client; the down relay flushes it. */
static void session_queue(Session *s, const void *data, size_t len)
{
    evbuffer_add(stream_output(s->client), data, len);
}

/*
 * Sends bytes of Duro's own to the client: its answers, its errors, its
 * answers to SSL and GSS requests. Whoever reads the client stops while the
 * client's output is full (relay_full): the up relay, which watches it, and
 * session_startup before there is one.
 */
static void session_to_client(Session *s, const void *data, size_t len)
{
    evbuffer_add(stream_output(s->client), data, len);
    stream_flush(s->client);
}

/* Queues an ErrorResponse for the client when it can be sent whole, between messages. */
static void session_send_error(Session *s, const char *severity, const char *sqlstate,
                               const char *message, const char *hint)
{
    if (!s->client || s->state >= SESSION_CLOSING || s->state == SESSION_TLS_ANSWER)
        return; /* after our 'S', the client reads only TLS */
    if (s->server && !relay_at_boundary(&s->down))
        return; /* mid-message: the client will see the connection close */
    CodecBuf b;
    codec_buf_init(&b, 64 * 1024);
    codec_put_error(&b, severity, sqlstate, message, NULL, hint);
    if (codec_buf_ok(&b))
        session_to_client(s, b.data, b.len);
    codec_buf_free(&b);
}

/* Sends a FATAL error to the client and closes the session. */
static void session_fail(Session *s, const char *sqlstate, const char *message, const char *hint)
{
    session_send_error(s, "FATAL", sqlstate, message, hint);
    session_close(s, "%s", message);
}

static void session_dead(Session *s)
{
    if (s->state == SESSION_DEAD)
        return;
    session_set_state(s, SESSION_DEAD);
    gateway_session_dead(s->gw, s);
}

/* The deferred half of closing: runs outside every callback of this session. */
static void session_close_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    Session *s = arg;
    backend_connect_abort(s->connecting);
    s->connecting = NULL;
    stream_free(s->server);
    s->server = NULL;
    if (!s->client) {
        session_dead(s);
        return;
    }
    stream_set_low_water(s->client, 0);
    stream_flush(s->client);
    if (stream_pending(s->client) == 0)
        session_dead(s);
}

static void session_close(Session *s, const char *fmt, ...)
{
    if (s->state >= SESSION_CLOSING)
        return;
    va_list ap;
    va_start(ap, fmt);
    s->close_reason = xvasprintf(fmt, ap);
    va_end(ap);
    if (s->admitted)
        log_debug("session %u (%s@%s from %s) closed: %s", s->id, session_who(s),
                  s->database ? s->database : "?", s->peer, s->close_reason);
    else
        log_debug("session %u from %s closed: %s", s->id, s->peer, s->close_reason);
    session_set_state(s, SESSION_CLOSING);
    if (s->client)
        stream_enable_read(s->client, false);
    if (s->handshake)
        bufferevent_disable(s->handshake, EV_READ | EV_WRITE);
    if (s->server)
        stream_enable_read(s->server, false);
    event_active(s->close_ev, EV_TIMEOUT, 0);
}

void session_shutdown(Session *s)
{
    session_send_error(s, "FATAL", "57P01", "terminating connection due to administrator command",
                       "Duro is shutting down.");
    session_close(s, "Duro is shutting down");
}

/* ---- logging in ------------------------------------------------------------------ */

/* [gateway] login_timeout passed before the first ReadyForQuery: PostgreSQL's
 * authentication_timeout. */
static void session_login_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    Session *s = arg;
    if (s->state >= SESSION_READY)
        return;
    session_send_error(s, "FATAL", "57014", "canceling authentication due to timeout", NULL);
    session_close(s, "not logged in within [gateway] login_timeout (%d s)",
                  s->env->login_timeout_s);
}

bool session_logging_in(const Session *s)
{
    return s->logging_in;
}

int64_t session_evictable_since(const Session *s)
{
    if (!s->logging_in)
        return 0;
    switch (s->state) {
    case SESSION_STARTUP:
    case SESSION_TLS_ANSWER:
    case SESSION_TLS_HANDSHAKE:
        return s->accepted_us;
    case SESSION_AUTH:
        return s->auth_asked ? s->accepted_us : 0;
    default:
        return 0; /* waiting for the warehouse, or done */
    }
}

void session_evict(Session *s, int max_logins)
{
    char *msg = xasprintf("sorry, too many clients already: %d connections were logging in "
                          "([gateway] max_logins) and this one had waited longest",
                          max_logins);
    session_fail(s, "53300", msg, NULL);
    free(msg);
}

/* ---- waiting --------------------------------------------------------------------- */

/* Runs the paused relay again: the held client message comes back to up_on_message. */
static void session_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    Session *s = arg;
    if (s->state == SESSION_READY) {
        assert(s->up.paused);
        relay_resume(&s->up);
    }
}

/* Hands the held client message to the session again, from an event of its own. */
static void session_resume(void *arg)
{
    Session *s = arg;
    if (s->up.paused)
        event_active(s->resume_ev, EV_TIMEOUT, 0);
}

bool session_cancel_wait(Session *s)
{
    return s->inspect && inspect_cancel_wait(s->inspect);
}

/* ---- warehouse to client ----------------------------------------------------- */

static RelayVerdict down_on_header(void *arg, const CodecHeader *h)
{
    Session *s = arg;
    if (s->inspect && s->state == SESSION_READY)
        inspect_server_header(s->inspect, (char)h->type);
    switch (h->type) {
    case '3': /* CloseComplete: Duro's own Close is answered too (inspect.c) */
        return s->inspect ? RELAY_HOLD : RELAY_PASS;
    case 'Z': /* ReadyForQuery: the transaction status; down_on_peek */
        return s->state == SESSION_READY ? RELAY_PEEK : RELAY_HOLD;
    case 'R': /* Authentication: SASL mechanisms to filter, success to note */
    case 'K': /* BackendKeyData: replaced by the session's own */
    case 'E': /* ErrorResponse: a FATAL one ends the session */
    case 'S': /* ParameterStatus: TimeZone, for Duro's own answers */
        return RELAY_HOLD;
    default:
        return RELAY_PASS;
    }
}

static int down_auth(Session *s, const uint8_t *msg, size_t len)
{
    CodecAuth auth;
    CodecError err;
    if (codec_read_auth(msg, len, &auth, &err) != CODEC_OK) {
        session_fail(s, "08P01", "the warehouse sent a malformed authentication message", NULL);
        return -1;
    }
    if (auth.code == CODEC_AUTH_SASL) {
        CodecBuf b;
        codec_buf_init(&b, len + 16);
        if (codec_sasl_strip_plus(msg, len, &b, &err) != CODEC_OK) {
            codec_buf_free(&b);
            session_fail(s, "28000",
                         "the warehouse offers only SASL mechanisms with channel binding, which "
                         "cannot work through a gateway that terminates TLS",
                         NULL);
            return -1;
        }
        session_queue(s, b.data, b.len);
        codec_buf_free(&b);
        s->sasl_started = true;
        s->auth_asked = true;
        return 0;
    }
    if (auth.code == CODEC_AUTH_OK)
        log_debug("session %u: %s authenticated", s->id, session_who(s));
    else if (auth.code != CODEC_AUTH_SASL_FINAL)
        s->auth_asked = true; /* a password, a SASL or GSS answer: the client's turn */
    session_queue(s, msg, len);
    return 0;
}

static int down_backend_key(Session *s, const uint8_t *msg, size_t len)
{
    CodecBackendKey k;
    CodecError err;
    if (codec_read_backend_key(msg, len, &k, &err) != CODEC_OK || k.key_len != 4) {
        session_fail(s, "08P01", "the warehouse sent a malformed BackendKeyData message", NULL);
        return -1;
    }
    s->backend_pid = k.pid;
    s->backend_key =
        (uint32_t)k.key[0] << 24 | (uint32_t)k.key[1] << 16 | (uint32_t)k.key[2] << 8 | k.key[3];
    s->has_backend_key = true;
    /*
     * The client sees the warehouse's PID (pg_backend_pid() and NOTIFY senders agree with it)
     * but a key of the session's own: a cancel request must come through us.
     */
    uint8_t out[13] = {'K', 0, 0, 0, 12};
    uint32_t pid = htonl(s->backend_pid), key = htonl(s->key);
    memcpy(out + 5, &pid, 4);
    memcpy(out + 9, &key, 4);
    session_queue(s, out, sizeof out);
    return 0;
}

static int down_on_message(void *arg, const uint8_t *msg, size_t len)
{
    Session *s = arg;
    if (s->state >= SESSION_CLOSING)
        return -1;
    CodecError err;
    char tx_status;
    switch (msg[0]) {
    case 'R':
        return down_auth(s, msg, len);
    case 'K':
        return down_backend_key(s, msg, len);
    case 'S':
        if (s->inspect)
            inspect_server_parameter(s->inspect, msg, len);
        break;
    case '3':
        if (s->inspect && inspect_server_close_complete(s->inspect))
            return 0; /* answers a Close of Duro's */
        break;
    case 'Z':
        if (codec_read_ready(msg, len, &tx_status, &err) != CODEC_OK) {
            session_fail(s, "08P01", "the warehouse sent a malformed ReadyForQuery message", NULL);
            return -1;
        }
        if (s->state == SESSION_AUTH) {
            session_set_state(s, SESSION_READY);
            log_debug("session %u: %s@%s from %s connected%s", s->id, session_who(s), s->database,
                      s->peer, stream_is_tls(s->client) ? " (TLS)" : "");
            if (s->up.paused) /* what the client sent ahead: inspected now, after this message */
                event_active(s->resume_ev, EV_TIMEOUT, 0);
        }
        if (s->inspect && inspect_server_ready(s->inspect, tx_status))
            return 0; /* answers a Sync of Duro's */
        break;
    case 'E': {
        CodecNotice n;
        if (codec_read_notice(msg, len, &n, &err) == CODEC_OK) {
            const char *sev = n.severity_nl ? n.severity_nl : n.severity;
            if (sev && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0))
                s->server_fatal = true;
            if (s->state == SESSION_AUTH)
                log_info("session %u: the warehouse refused %s: %s", s->id, session_who(s),
                         n.message ? n.message : "(no message)");
            if (s->inspect && inspect_server_error(s->inspect))
                return 0; /* answers a message of Duro's */
        }
        break;
    }
    default:
        break;
    }
    return RELAY_MSG_FORWARD;
}

/*
 * A whole ReadyForQuery of a ready session, before the answer ahead of it is moved to the client:
 * noted here, so that the answer and it leave in one piece, unless it is malformed or answers a
 * Sync of Duro's (then down_on_message sees it).
 */
static RelayVerdict down_on_peek(void *arg, const uint8_t *msg, size_t len)
{
    Session *s = arg;
    CodecError err;
    char tx_status;
    if (s->state != SESSION_READY || codec_read_ready(msg, len, &tx_status, &err) != CODEC_OK ||
        (s->inspect && inspect_server_ready_is_ours(s->inspect)))
        return RELAY_HOLD;
    if (s->inspect)
        inspect_server_ready(s->inspect, tx_status);
    return RELAY_PASS;
}

static void down_on_error(void *arg, const char *why)
{
    Session *s = arg;
    log_warn("session %u: malformed message from the warehouse: %s", s->id, why);
    session_close(s, "malformed message from the warehouse: %s", why);
}

static const RelayOps down_ops = {down_on_header, down_on_message, down_on_error, down_on_peek};

/* ---- client to warehouse ----------------------------------------------------- */

/*
 * Until the first ReadyForQuery only authentication messages ('p', PostgreSQL's size limit for
 * them) and Terminate pass; anything else the client pipelined waits, unread, until the session is
 * ready (down_on_message resumes the relay) and is inspected then like every later message.
 */
static RelayVerdict up_on_auth_header(Session *s, const CodecHeader *h)
{
    if (h->type == 'X')
        return RELAY_PASS;
    if (h->type != 'p')
        return RELAY_PAUSE;
    if (h->length > SESSION_MAX_AUTH_MESSAGE) {
        char *msg = xasprintf("invalid message length: an authentication message of %u bytes "
                              "(at most %u before login)",
                              h->length, SESSION_MAX_AUTH_MESSAGE);
        session_fail(s, "08P01", msg, NULL);
        free(msg);
        return RELAY_PAUSE; /* closing: nothing more is read */
    }
    s->auth_asked = false;
    return s->sasl_started ? RELAY_HOLD : RELAY_PASS; /* the SASLInitialResponse: up_on_message */
}

static RelayVerdict up_on_header(void *arg, const CodecHeader *h)
{
    Session *s = arg;
    if (h->type == 'X')
        s->client_terminated = true;
    if (s->state == SESSION_AUTH)
        return up_on_auth_header(s, h);
    if (s->state != SESSION_READY || !s->inspect)
        return RELAY_PASS;
    return inspect_header(s->inspect, (char)h->type, h->size);
}

/* A held client message in a session that inspects: what Duro's interception decides. */
static int up_inspect(Session *s, const uint8_t *msg, size_t len)
{
    const char *why = NULL;
    switch (inspect_statement(s->inspect, msg, len, &why)) {
    case INSPECT_PASS:
        return RELAY_MSG_FORWARD;
    case INSPECT_ANSWER:
        return 0;
    case INSPECT_WAIT:
        return 1;
    case INSPECT_REFUSE:
        break;
    }
    session_fail(s, "08P01", why, NULL);
    return -1;
}

static int up_on_message(void *arg, const uint8_t *msg, size_t len)
{
    Session *s = arg;
    if (s->state >= SESSION_CLOSING)
        return -1;
    if (s->state == SESSION_READY && s->inspect && msg[0] != 'p')
        return up_inspect(s, msg, len);
    if (msg[0] == 'p' && s->sasl_started) {
        s->sasl_started = false;
        /* SASLInitialResponse: mechanism, int32 length, then the GS2 header "y,," or "n,,". */
        const uint8_t *nul = memchr(msg + 5, 0, len - 5);
        if (nul && (size_t)(nul - msg) + 5 < len && nul[5] == 'y' && stream_is_tls(s->server)) {
            /*
             * The client supports channel binding and saw no -PLUS mechanism; the warehouse,
             * reached over TLS, would take that as a downgrade attack and refuse.
             */
            bool client_tls = stream_is_tls(s->client);
            char *m = xasprintf("SCRAM authentication through Duro with TLS %s needs channel "
                                "binding turned off in the client",
                                client_tls ? "on both legs (client to Duro and Duro to the "
                                             "warehouse)"
                                           : "on the warehouse leg (Duro to the warehouse; the "
                                             "client's connection to Duro has none)");
            session_fail(s, "28000", m,
                         client_tls ? "Connect with channel_binding=disable: Duro terminates "
                                      "TLS, so the client's channel cannot be bound to the "
                                      "warehouse's."
                                    : "Connect with channel_binding=disable: the client "
                                      "announced channel binding, which the warehouse's TLS "
                                      "connection from Duro cannot honour.");
            free(m);
            return -1;
        }
    }
    return RELAY_MSG_FORWARD;
}

static void up_on_error(void *arg, const char *why)
{
    Session *s = arg;
    bool too_large = strstr(why, "too large") != NULL;
    session_fail(s, "08P01", why,
                 too_large ? "Duro refuses client messages larger than [gateway] max_message."
                           : NULL);
}

static const RelayOps up_ops = {up_on_header, up_on_message, up_on_error};

/* ---- the warehouse connection ------------------------------------------------ */

static void server_read_cb(Stream *st, void *arg)
{
    (void)st;
    Session *s = arg;
    if (s->state < SESSION_CLOSING)
        relay_pump(&s->down);
}

static void server_drained_cb(Stream *st, void *arg)
{
    (void)st;
    Session *s = arg;
    if (s->state < SESSION_CLOSING)
        relay_drained(&s->up);
}

static void server_event_cb(Stream *st, short what, int err, void *arg)
{
    (void)st;
    Session *s = arg;
    if (s->state >= SESSION_CLOSING)
        return;
    if (s->client_terminated) {
        session_close(s, "the client terminated the session");
        return;
    }
    char why[256];
    if (what & BEV_EVENT_EOF)
        snprintf(why, sizeof why, "the warehouse closed the connection");
    else
        snprintf(why, sizeof why, "lost the connection to the warehouse: %s",
                 evutil_socket_error_to_string(err));
    if (!s->server_fatal)
        session_send_error(s, "FATAL", "08006", why, NULL);
    session_close(s, "%s", why);
}

static void client_read_cb(Stream *st, void *arg);
static void client_drained_cb(Stream *st, void *arg);
static void client_event_cb(Stream *st, short what, int err, void *arg);

static void session_backend_ready(Stream *server, const char *error, void *arg)
{
    Session *s = arg;
    s->connecting = NULL;
    if (!server) {
        log_warn("session %u (%s): %s", s->id, session_who(s), error);
        session_fail(s, "08001", error, NULL);
        return;
    }
    s->server = server;
    relay_init(&s->up, s->client, server, s->env->max_message, &up_ops, s);
    relay_watch(&s->up, s->client); /* Duro's own answers go there */
    relay_init(&s->down, server, s->client, SESSION_SERVER_MAX_LEN, &down_ops, s);
    s->up.bytes_counter = METRICS_BYTES_TO_WAREHOUSE;
    s->down.bytes_counter = METRICS_BYTES_TO_CLIENTS;
    stream_setcb(server, server_read_cb, server_drained_cb, server_event_cb, s);
    stream_write(server, s->startup, s->startup_len);
    free(s->startup);
    s->startup = NULL;
    session_set_state(s, SESSION_AUTH);
    stream_enable_read(server, true);
    stream_enable_read(s->client, true);
    relay_pump(&s->up); /* anything the client sent early */
}

/* ---- the client connection ----------------------------------------------------- */

static void client_read_cb(Stream *st, void *arg)
{
    (void)st;
    Session *s = arg;
    if (s->state == SESSION_STARTUP)
        session_startup(s);
    else if (s->state == SESSION_AUTH || s->state == SESSION_READY)
        relay_pump(&s->up);
}

static void client_drained_cb(Stream *st, void *arg)
{
    Session *s = arg;
    switch (s->state) {
    case SESSION_TLS_ANSWER:
        if (stream_pending(st) == 0)
            session_start_tls(s);
        break;
    case SESSION_STARTUP:
        if (s->startup_full) {
            s->startup_full = false;
            stream_enable_read(st, true);
            session_startup(s);
        }
        break;
    case SESSION_AUTH:
    case SESSION_READY:
        if (relay_drained(&s->down) == 0 && s->state < SESSION_CLOSING)
            relay_drained(&s->up);
        break;
    case SESSION_CLOSING:
        if (!s->server && !s->connecting && stream_pending(st) == 0)
            session_dead(s);
        break;
    default:
        break;
    }
}

static void client_event_cb(Stream *st, short what, int err, void *arg)
{
    (void)st;
    Session *s = arg;
    if (s->state == SESSION_CLOSING) {
        session_dead(s); /* gone, or too slow to take its last bytes */
        return;
    }
    if (s->state == SESSION_DEAD)
        return;
    if (what & BEV_EVENT_EOF)
        session_close(s, s->client_terminated ? "the client terminated the session"
                                              : "the client closed the connection");
    else
        session_close(s, "client connection error: %s", evutil_socket_error_to_string(err));
}

static void handshake_event_cb(struct bufferevent *bev, short what, void *arg)
{
    Session *s = arg;
    if (s->state != SESSION_TLS_HANDSHAKE)
        return;
    if (what & BEV_EVENT_CONNECTED) {
        s->handshake = NULL;
        s->client = stream_tls(s->env->base, bev);
        stream_setcb(s->client, client_read_cb, client_drained_cb, client_event_cb, s);
        stream_set_low_water(s->client, RELAY_LOW_WATER);
        s->ssl_done = s->gss_done = true; /* neither request is taken over TLS */
        session_set_state(s, SESSION_STARTUP);
        stream_enable_read(s->client, true);
        session_startup(s);
        return;
    }
    unsigned long e = bufferevent_get_openssl_error(bev);
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    if (what & BEV_EVENT_TIMEOUT)
        reason = "timed out";
    session_close(s, "TLS handshake with the client failed: %s",
                  reason ? reason : "connection closed");
}

/* Our 'S' reached the client: the same socket continues as TLS. */
static void session_start_tls(Session *s)
{
    SSL *ssl = SSL_new(s->env->server_ctx);
    if (!ssl) {
        session_close(s, "cannot set up TLS");
        return;
    }
    evutil_socket_t fd = stream_release(s->client);
    s->client = NULL;
    s->handshake = bufferevent_openssl_socket_new(s->env->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                  BEV_OPT_CLOSE_ON_FREE);
    if (!s->handshake) {
        SSL_free(ssl);
        evutil_closesocket(fd);
        session_close(s, "cannot set up TLS");
        return;
    }
    bufferevent_setcb(s->handshake, NULL, NULL, handshake_event_cb, s);
    session_set_state(s, SESSION_TLS_HANDSHAKE);
    bufferevent_enable(s->handshake, EV_READ | EV_WRITE);
}

/* ---- startup ----------------------------------------------------------------- */

/* The startup message for the warehouse: protocol 3.0, the client's parameters but _pq_.* ones. */
static void session_build_startup(Session *s, const CodecStartup *su)
{
    size_t n = CODEC_STARTUP_HEADER_LEN + 1;
    for (size_t i = 0; i < su->nparams; i++)
        if (strncmp(su->params[i].name, "_pq_.", 5) != 0)
            n += strlen(su->params[i].name) + strlen(su->params[i].value) + 2;
    uint8_t *p = xmalloc(n);
    uint32_t len = htonl((uint32_t)n), version = htonl(CODEC_PROTOCOL_3_0);
    memcpy(p, &len, 4);
    memcpy(p + 4, &version, 4);
    size_t off = CODEC_STARTUP_HEADER_LEN;
    for (size_t i = 0; i < su->nparams; i++) {
        if (strncmp(su->params[i].name, "_pq_.", 5) == 0)
            continue;
        size_t a = strlen(su->params[i].name) + 1, b = strlen(su->params[i].value) + 1;
        memcpy(p + off, su->params[i].name, a);
        memcpy(p + off + a, su->params[i].value, b);
        off += a + b;
    }
    p[off] = 0;
    s->startup = p;
    s->startup_len = n;
}

/* A StartupMessage: checks, then connects to the warehouse. Returns false when closing. */
static bool session_startup_message(Session *s, const CodecStartup *su)
{
    if (s->env->tls_required && !stream_is_tls(s->client)) {
        session_fail(s, "28000",
                     "this gateway accepts only TLS connections ([gateway] tls = require)",
                     "Connect with sslmode=require.");
        return false;
    }
    s->user = xstrdup(su->user);
    s->database = xstrdup(su->database ? su->database : su->user);
    if (!gateway_admit(s->gw, s)) {
        char *msg = xasprintf("sorry, too many clients already ([gateway] max_clients = %d)",
                              s->env->max_clients);
        log_warn("session %u: %s@%s from %s refused: %s", s->id, s->user, s->database, s->peer,
                 msg);
        session_fail(s, "53300", msg, NULL);
        free(msg);
        return false;
    }
    s->admitted = true;
    if (s->inspect)
        inspect_set_user(s->inspect, s->user);
    session_build_startup(s, su);

    /* Protocol 3.2 and _pq_ options are declined here, before the warehouse sees them. */
    const char *unsupported[CODEC_MAX_STARTUP_PARAMS];
    size_t nunsupported = 0;
    for (size_t i = 0; i < su->nparams; i++)
        if (strncmp(su->params[i].name, "_pq_.", 5) == 0)
            unsupported[nunsupported++] = su->params[i].name;
    if (su->minor > 0 || nunsupported > 0) {
        CodecBuf b;
        codec_buf_init(&b, CODEC_MAX_STARTUP_LEN * 2);
        codec_put_negotiate_version(&b, 0, unsupported, nunsupported);
        if (codec_buf_ok(&b))
            session_to_client(s, b.data, b.len);
        codec_buf_free(&b);
    }

    session_set_state(s, SESSION_CONNECTING);
    stream_enable_read(s->client, false);
    s->connecting = backend_connect(s->env->base, &s->env->warehouse, session_backend_ready, s);
    return true;
}

/*
 * A startup packet PostgreSQL refuses: its FATAL error (in protocol 2's format
 * for a client that asked for protocol 2), or a close without a word.
 */
static void session_refuse_startup(Session *s, const CodecStartup *su, const CodecError *err)
{
    if (!su->sqlstate) {
        session_close(s, "%s", err->msg);
        return;
    }
    if (!codec_startup_v2(su)) {
        session_fail(s, su->sqlstate, err->msg, NULL);
        return;
    }
    CodecBuf b;
    codec_buf_init(&b, sizeof err->msg + 64);
    codec_put_error_v2(&b, "FATAL", err->msg);
    if (codec_buf_ok(&b))
        session_to_client(s, b.data, b.len);
    codec_buf_free(&b);
    session_close(s, "%s", err->msg);
}

/*
 * Answers 'N' to an SSLRequest or a GSSENCRequest of len bytes at the front
 * of in. As in PostgreSQL, what the client sent before reading the answer is
 * refused: it was not sent knowing whether the connection would be encrypted.
 * Returns false when closing.
 */
static bool session_refuse_encryption(Session *s, struct evbuffer *in, size_t len, const char *what)
{
    evbuffer_drain(in, len);
    session_to_client(s, "N", 1);
    if (evbuffer_get_length(in) == 0)
        return true;
    char *msg = xasprintf("received unencrypted data after %s request", what);
    session_fail(s, "08P01", msg, NULL);
    free(msg);
    return false;
}

/*
 * Reads startup packets for as long as the session stays in SESSION_STARTUP,
 * as PostgreSQL's postmaster does (ProcessStartupPacket), and stops reading
 * while the client's output is full.
 */
static void session_startup(Session *s)
{
    struct evbuffer *in = stream_input(s->client);
    while (s->state == SESSION_STARTUP) {
        if (relay_full(s->client)) {
            s->startup_full = true; /* client_drained_cb reads on */
            stream_enable_read(s->client, false);
            return;
        }
        size_t len = evbuffer_get_length(in);
        if (len == 0)
            return;
        size_t look = len < CODEC_MAX_STARTUP_LEN ? len : CODEC_MAX_STARTUP_LEN;
        const uint8_t *data = evbuffer_pullup(in, (ev_ssize_t)look);
        CodecStartup su;
        CodecError err;
        CodecStatus st = codec_startup_header(data, look, CODEC_MAX_STARTUP_LEN, &su, &err);
        if (st == CODEC_NEED_MORE)
            return;
        if (st == CODEC_OK && ((su.kind == CODEC_STARTUP_SSL && s->ssl_done) ||
                               (su.kind == CODEC_STARTUP_GSSENC && s->gss_done)))
            st = codec_startup_repeated(&su, &err);
        if (st == CODEC_ERROR) {
            session_refuse_startup(s, &su, &err);
            return;
        }
        switch (su.kind) {
        case CODEC_STARTUP_SSL:
            if (!s->env->server_ctx) {
                s->ssl_done = true;
                s->gss_done = false;
                if (!session_refuse_encryption(s, in, su.size, "SSL"))
                    return;
                break;
            }
            if (len != su.size) { /* CVE-2021-23214: nothing may come before the handshake */
                session_fail(s, "08P01", "received unencrypted data after SSL request", NULL);
                return;
            }
            evbuffer_drain(in, su.size);
            session_set_state(s, SESSION_TLS_ANSWER);
            stream_enable_read(s->client, false);
            session_to_client(s, "S", 1);
            if (stream_pending(s->client) == 0 && s->state == SESSION_TLS_ANSWER)
                session_start_tls(s);
            return;
        case CODEC_STARTUP_GSSENC: /* Duro has no GSSAPI encryption */
            s->gss_done = true;
            s->ssl_done = false;
            if (!session_refuse_encryption(s, in, su.size, "GSSAPI encryption"))
                return;
            break;
        case CODEC_STARTUP_CANCEL:
            evbuffer_drain(in, su.size);
            /* Nothing more may come on a cancel connection; it closes once the request is in. */
            stream_enable_read(s->client, false);
            if (!gateway_cancel_request(s->gw, s, su.cancel_pid, su.cancel_key))
                session_close(s, "cancel request");
            return;
        case CODEC_STARTUP_MESSAGE: {
            bool ok = session_startup_message(s, &su);
            evbuffer_drain(in, su.size);
            if (!ok)
                return;
            break;
        }
        }
    }
}

/* ---- what the interception of Duro's SQL may do ------------------------------- */

static void session_ops_to_client(void *arg, const void *data, size_t len)
{
    session_to_client(arg, data, len);
}

static bool session_ops_at_boundary(void *arg)
{
    Session *s = arg;
    return relay_at_boundary(&s->down);
}

static void session_ops_to_server(void *arg, const void *data, size_t len)
{
    Session *s = arg;
    evbuffer_add(stream_output(s->server), data, len);
    stream_flush(s->server);
}

static const InspectOps session_inspect_ops = {session_ops_to_client, session_ops_at_boundary,
                                               session_ops_to_server, session_resume};

Session *session_new(Gateway *gw, const GatewayEnv *env, evutil_socket_t fd,
                     const struct sockaddr *peer, int peer_len)
{
    Session *s = xcalloc(1, sizeof *s);
    s->gw = gw;
    s->env = env;
    s->id = gateway_new_session_id(gw);
    evutil_secure_rng_get_bytes(&s->key, sizeof s->key);
    s->close_ev = xnonnull(event_new(env->base, -1, 0, session_close_cb, s));
    s->accepted_us = clock_mono_us();
    s->logging_in = true; /* the gateway counts it */
    s->login_ev = xnonnull(evtimer_new(env->base, session_login_timeout_cb, s));
    struct timeval login = {env->login_timeout_s, 0};
    evtimer_add(s->login_ev, &login);
    s->resume_ev = xnonnull(event_new(env->base, -1, 0, session_resume_cb, s));
    if (env->inspect)
        s->inspect = inspect_new(&env->inspection, s->id, &session_inspect_ops, s);

    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (peer->sa_family == AF_INET && peer_len >= (int)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const void *)peer;
        evutil_inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
    } else if (peer->sa_family == AF_INET6 && peer_len >= (int)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const void *)peer;
        evutil_inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
    }
    snprintf(s->peer, sizeof s->peer, "%s:%d", host, port);

    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    s->client = stream_socket(env->base, fd);
    stream_setcb(s->client, client_read_cb, client_drained_cb, client_event_cb, s);
    stream_set_low_water(s->client, RELAY_LOW_WATER);
    stream_enable_read(s->client, true);
    return s;
}

void session_free(Session *s)
{
    if (!s)
        return;
    backend_connect_abort(s->connecting);
    stream_free(s->server);
    stream_free(s->client);
    if (s->handshake)
        bufferevent_free(s->handshake);
    event_free(s->close_ev);
    event_free(s->resume_ev);
    event_free(s->login_ev);
    inspect_free(s->inspect);
    free(s->user);
    free(s->database);
    free(s->startup);
    free(s->close_reason);
    free(s);
}
