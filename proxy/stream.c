/*
 * Streams (see stream.h). A socket stream keeps one persistent read event and
 * a write event that is added only while output waits for the socket; errors
 * met while flushing inside someone else's callback are reported from an
 * event of their own, so a callback never runs inside a flush.
 */
#include "proxy/stream.h"

#include <errno.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/util.h"

#define STREAM_READ_SIZE 16384 /* bytes asked of one read */
#define STREAM_IOV_MAX   16    /* buffer pieces handed to one send */

struct Stream {
    evutil_socket_t fd;      /* socket streams */
    struct bufferevent *bev; /* TLS streams */
    struct evbuffer *in;     /* socket streams: ours; TLS: the bufferevent's */
    struct evbuffer *out;
    struct event *read_ev;   /* socket streams */
    struct event *write_ev;  /* socket streams, added while output waits */
    struct event *failed_ev; /* reports a flush error outside the flush */
    struct event *deadline_ev;
    size_t low_water;
    bool reading;
    bool writing; /* write_ev is added: output waits for the socket */
    bool failed;  /* an error or end was seen: no more reads or writes */
    int error;
    short failed_what;
    StreamCb read_cb;
    StreamCb drained_cb;
    StreamEventCb event_cb;
    void *arg;
};

static void stream_fail(Stream *st, short what, int err, bool now)
{
    if (st->failed)
        return;
    st->failed = true;
    st->failed_what = what;
    st->error = err;
    if (st->read_ev)
        event_del(st->read_ev);
    if (st->write_ev)
        event_del(st->write_ev);
    st->writing = false;
    if (st->bev)
        bufferevent_disable(st->bev, EV_READ | EV_WRITE);
    if (now && st->event_cb)
        st->event_cb(st, what, err, st->arg);
    else
        event_active(st->failed_ev, EV_TIMEOUT, 0);
}

static void stream_failed_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    Stream *st = arg;
    if (st->event_cb)
        st->event_cb(st, st->failed_what, st->error, st->arg);
}

static void stream_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    Stream *st = arg;
    if (st->event_cb)
        st->event_cb(st, BEV_EVENT_TIMEOUT, 0, st->arg);
}

/*
 * Writes as much output as the socket takes. Returns 0, or an errno value.
 * Socket calls (send, recv; sendmsg for several pieces) rather than
 * write/writev/readv: they skip the file layer.
 */
static int stream_send(Stream *st)
{
    while (evbuffer_get_length(st->out) > 0) {
        struct evbuffer_iovec v[STREAM_IOV_MAX];
        int n = evbuffer_peek(st->out, -1, NULL, v, STREAM_IOV_MAX);
        if (n > STREAM_IOV_MAX)
            n = STREAM_IOV_MAX;
        ssize_t sent;
        if (n == 1) { /* the usual case: no iovec for the kernel to copy in and check */
            sent = send(st->fd, v[0].iov_base, v[0].iov_len, MSG_NOSIGNAL);
        } else {
            struct msghdr msg = {.msg_iov = (struct iovec *)v, .msg_iovlen = (size_t)n};
            sent = sendmsg(st->fd, &msg, MSG_NOSIGNAL);
        }
        if (sent < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            return (e == EAGAIN || e == EWOULDBLOCK) ? 0 : e;
        }
        evbuffer_drain(st->out, (size_t)sent);
        if (sent == 0)
            return 0;
    }
    return 0;
}

static void stream_read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    Stream *st = arg;
    /* One extent: recv into it, with no iovec for the kernel to copy in and check. */
    struct evbuffer_iovec iov;
    if (evbuffer_reserve_space(st->in, STREAM_READ_SIZE, &iov, 1) != 1) {
        stream_fail(st, BEV_EVENT_ERROR, ENOMEM, true);
        return;
    }
    ssize_t got = recv(fd, iov.iov_base, iov.iov_len, 0);
    if (got < 0) {
        int e = errno;
        evbuffer_commit_space(st->in, NULL, 0);
        if (e != EAGAIN && e != EWOULDBLOCK && e != EINTR)
            stream_fail(st, BEV_EVENT_ERROR, e, true);
        return;
    }
    if (got == 0) {
        evbuffer_commit_space(st->in, NULL, 0);
        stream_fail(st, BEV_EVENT_EOF, 0, true);
        return;
    }
    iov.iov_len = (size_t)got;
    evbuffer_commit_space(st->in, &iov, 1);
    if (st->read_cb)
        st->read_cb(st, st->arg);
}

static void stream_write_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    Stream *st = arg;
    int e = stream_send(st);
    if (e) {
        stream_fail(st, BEV_EVENT_ERROR, e, true);
        return;
    }
    size_t left = evbuffer_get_length(st->out);
    if (left == 0) {
        event_del(st->write_ev);
        st->writing = false;
    }
    if (left <= st->low_water && st->drained_cb)
        st->drained_cb(st, st->arg);
}

static void bev_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    Stream *st = arg;
    if (st->read_cb)
        st->read_cb(st, st->arg);
}

static void bev_write_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    Stream *st = arg;
    if (st->drained_cb)
        st->drained_cb(st, st->arg);
}

static void bev_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    Stream *st = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        stream_fail(st, (what & BEV_EVENT_EOF) ? BEV_EVENT_EOF : BEV_EVENT_ERROR,
                    EVUTIL_SOCKET_ERROR(), true);
}

static Stream *stream_new(struct event_base *base)
{
    Stream *st = xcalloc(1, sizeof *st);
    st->fd = -1;
    st->failed_ev = xnonnull(event_new(base, -1, 0, stream_failed_cb, st));
    st->deadline_ev = xnonnull(event_new(base, -1, 0, stream_deadline_cb, st));
    return st;
}

Stream *stream_socket(struct event_base *base, evutil_socket_t fd)
{
    Stream *st = stream_new(base);
    st->fd = fd;
    st->in = xnonnull(evbuffer_new());
    st->out = xnonnull(evbuffer_new());
    st->read_ev = xnonnull(event_new(base, fd, EV_READ | EV_PERSIST, stream_read_cb, st));
    st->write_ev = xnonnull(event_new(base, fd, EV_WRITE | EV_PERSIST, stream_write_cb, st));
    return st;
}

Stream *stream_tls(struct event_base *base, struct bufferevent *bev)
{
    Stream *st = stream_new(base);
    st->bev = bev;
    st->in = bufferevent_get_input(bev);
    st->out = bufferevent_get_output(bev);
    /* A peer that closes without close_notify has ended the stream, not failed it. */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    bufferevent_setcb(bev, bev_read_cb, bev_write_cb, bev_event_cb, st);
    bufferevent_set_timeouts(bev, NULL, NULL);
    bufferevent_disable(bev, EV_READ);
    bufferevent_enable(bev, EV_WRITE);
    return st;
}

static void stream_free_common(Stream *st)
{
    event_free(st->failed_ev);
    event_free(st->deadline_ev);
    if (st->read_ev) {
        event_free(st->read_ev);
        event_free(st->write_ev);
        evbuffer_free(st->in);
        evbuffer_free(st->out);
    }
    free(st);
}

evutil_socket_t stream_release(Stream *st)
{
    if (st->bev)
        return -1;
    evutil_socket_t fd = st->fd;
    stream_free_common(st);
    return fd;
}

void stream_free(Stream *st)
{
    if (!st)
        return;
    if (st->bev) {
        SSL *ssl = bufferevent_openssl_get_ssl(st->bev);
        if (ssl && SSL_is_init_finished(ssl))
            SSL_shutdown(ssl); /* best-effort close_notify, never waits */
        bufferevent_free(st->bev);
    } else if (st->fd >= 0) {
        close(st->fd);
    }
    stream_free_common(st);
}

void stream_setcb(Stream *st, StreamCb read_cb, StreamCb drained_cb, StreamEventCb event_cb,
                  void *arg)
{
    st->read_cb = read_cb;
    st->drained_cb = drained_cb;
    st->event_cb = event_cb;
    st->arg = arg;
}

struct evbuffer *stream_input(Stream *st)
{
    return st->in;
}

struct evbuffer *stream_output(Stream *st)
{
    return st->out;
}

size_t stream_pending(Stream *st)
{
    return evbuffer_get_length(st->out);
}

bool stream_is_tls(const Stream *st)
{
    return st->bev != NULL;
}

struct bufferevent *stream_bufferevent(Stream *st)
{
    return st->bev;
}

void stream_enable_read(Stream *st, bool on)
{
    if (st->failed || st->reading == on)
        return;
    st->reading = on;
    if (st->bev) {
        if (on)
            bufferevent_enable(st->bev, EV_READ);
        else
            bufferevent_disable(st->bev, EV_READ);
    } else if (on) {
        event_add(st->read_ev, NULL);
    } else {
        event_del(st->read_ev);
    }
}

void stream_set_low_water(Stream *st, size_t bytes)
{
    st->low_water = bytes;
    if (st->bev)
        bufferevent_setwatermark(st->bev, EV_WRITE, bytes, 0);
}

void stream_flush(Stream *st)
{
    /* A flag rather than event_pending: no lock of the event base per flush. */
    if (st->bev || st->failed || st->writing)
        return; /* TLS writes by itself; a waiting write event will send the rest */
    int e = stream_send(st);
    if (e) {
        stream_fail(st, BEV_EVENT_ERROR, e, false);
    } else if (evbuffer_get_length(st->out) > 0) {
        event_add(st->write_ev, NULL);
        st->writing = true;
    }
}

void stream_write(Stream *st, const void *data, size_t len)
{
    evbuffer_add(st->out, data, len);
    stream_flush(st);
}

void stream_set_deadline(Stream *st, int seconds)
{
    if (seconds <= 0) {
        event_del(st->deadline_ev);
        return;
    }
    struct timeval tv = {seconds, 0};
    event_add(st->deadline_ev, &tv);
}
