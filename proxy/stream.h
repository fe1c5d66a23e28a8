/*
 * A connection's bytes for the relay: an input and an output buffer, and
 * callbacks when there is something to read, when the output has drained and
 * when the connection ends. Over a plain socket it reads when readable and
 * writes at once, waiting for the socket only when a write would block (one
 * send per relayed burst, no event changes); over TLS it wraps a libevent
 * OpenSSL bufferevent. Not for: message boundaries (relay.c).
 */
#ifndef DURO_PROXY_STREAM_H
#define DURO_PROXY_STREAM_H

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct Stream Stream;

typedef void (*StreamCb)(Stream *st, void *arg);
/* what: BEV_EVENT_EOF, BEV_EVENT_ERROR (errno-style code in err) or BEV_EVENT_TIMEOUT. */
typedef void (*StreamEventCb)(Stream *st, short what, int err, void *arg);

/* A stream over a connected non-blocking socket, which it owns. Reading starts disabled. */
Stream *stream_socket(struct event_base *base, evutil_socket_t fd);

/* A stream over a connected TLS bufferevent, which it owns (it must own its socket and SSL). */
Stream *stream_tls(struct event_base *base, struct bufferevent *bev);

/*
 * Frees a socket stream without closing its socket, which it returns (for a
 * switch to TLS). -1 for a TLS stream, which is then left alone.
 */
evutil_socket_t stream_release(Stream *st);

/* Closes the connection (TLS: with a close_notify) and frees everything. NULL-safe. */
void stream_free(Stream *st);

/*
 * read_cb: new input. drained_cb: after output had to wait for the socket,
 * it went down to the low-water mark (or empty). event_cb: end of stream,
 * error or timeout; reading has stopped.
 */
void stream_setcb(Stream *st, StreamCb read_cb, StreamCb drained_cb, StreamEventCb event_cb,
                  void *arg);

struct evbuffer *stream_input(Stream *st);
struct evbuffer *stream_output(Stream *st);
size_t stream_pending(Stream *st); /* bytes of output not yet sent */
bool stream_is_tls(const Stream *st);
struct bufferevent *stream_bufferevent(Stream *st); /* the TLS bufferevent, or NULL */

void stream_enable_read(Stream *st, bool on);
void stream_set_low_water(Stream *st, size_t bytes);

/* Sends what the output holds now, as far as the socket takes it; the rest when writable. */
void stream_flush(Stream *st);

/* Adds data to the output and flushes. */
void stream_write(Stream *st, const void *data, size_t len);

/* Calls event_cb with BEV_EVENT_TIMEOUT after seconds, unless cleared (seconds 0) first. */
void stream_set_deadline(Stream *st, int seconds);

#endif
