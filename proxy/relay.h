/*
 * Moving PostgreSQL protocol messages from one stream to another: the
 * relay knows where each message starts and ends, streams the bytes of the
 * messages it is told to pass (never holding a whole result set), and stops
 * reading its source while the destination (or the stream where its owner
 * answers the source, see relay_watch) is full. What to do with each
 * message is its owner's call, made at the message's header (or, for a small
 * one it asks to peek at, on the whole message). Not for: looking
 * inside messages (session.c, inspect.c) or opening connections (backend.c).
 */
#ifndef DURO_PROXY_RELAY_H
#define DURO_PROXY_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/metrics.h"
#include "proxy/codec.h"
#include "proxy/stream.h"

/*
 * Stop reading the source while the destination (or the watched stream, see
 * relay_watch) holds this much output; resume below the low mark.
 */
#define RELAY_HIGH_WATER (256 * 1024)
#define RELAY_LOW_WATER  (64 * 1024)

typedef enum RelayVerdict {
    RELAY_PASS,  /* move its bytes on as they arrive */
    RELAY_HOLD,  /* wait until it is whole, then hand it to on_message */
    RELAY_PAUSE, /* leave it (and everything after) in the source until relay_resume() */
    /*
     * A small message to look at before it passes: once it is whole (and at most
     * RELAY_PEEK_MAX bytes), on_peek sees it where it lies and says RELAY_PASS (it
     * moves with the messages around it) or RELAY_HOLD (on_message as above).
     * Larger or not yet whole, it is held.
     */
    RELAY_PEEK,
} RelayVerdict;

/* The largest message a RELAY_PEEK verdict shows to on_peek. */
#define RELAY_PEEK_MAX 64

/* What on_message returns to have the relay pass the held message on as it is. */
enum { RELAY_MSG_FORWARD = 2 };

typedef struct RelayOps {
    /* At the start of each message; asked again after a pause. */
    RelayVerdict (*on_header)(void *arg, const CodecHeader *h);
    /*
     * A held message, whole, in msg[0 .. len) (valid during the call; the
     * relay drains it afterwards). Returns 0 to go on, -1 to stop pumping
     * because the owner is closing the session, 1 to keep the message and
     * pause (relay_resume() hands it to on_message again), or
     * RELAY_MSG_FORWARD to pass it on unchanged: the relay moves it to dst,
     * after whatever on_message queued there, without a copy of the owner's.
     */
    int (*on_message)(void *arg, const uint8_t *msg, size_t len);
    /* A header that breaks the protocol; the owner closes the session. */
    void (*on_error)(void *arg, const char *why);
    /*
     * A whole message given RELAY_PEEK, in msg[0 .. len) (a copy, valid during
     * the call), looked at before the messages ahead of it are moved to dst: it
     * must write nothing to dst. Returns RELAY_PASS or RELAY_HOLD. NULL when the
     * owner gives no RELAY_PEEK verdicts.
     */
    RelayVerdict (*on_peek)(void *arg, const uint8_t *msg, size_t len);
} RelayOps;

typedef struct Relay {
    Stream *src;
    Stream *dst;
    Stream *watch;    /* where the owner answers the source itself, or NULL */
    uint32_t max_len; /* largest length field accepted */
    const RelayOps *ops;
    void *arg;
    size_t remaining; /* bytes of the message being streamed not yet moved */
    size_t hold_size; /* size of the held message being waited for, or 0 */
    bool blocked;     /* reading src stopped because dst (or watch) is full */
    bool paused;      /* reading src stopped by a RELAY_PAUSE verdict */
    /* Where the bytes taken from src are counted (core/metrics), once a pump; the owner sets it
       after relay_init. METRICS_N_COUNTERS (relay_init's choice) counts nowhere. */
    MetricsCounter bytes_counter;
} Relay;

/* Sets up a relay; sets dst's low-water mark. Reading src is the owner's to enable. */
void relay_init(Relay *r, Stream *src, Stream *dst, uint32_t max_len, const RelayOps *ops,
                void *arg);

/*
 * The owner writes answers of its own into st (the source's own connection,
 * for the client's relay): the source is not read either while st's output is
 * full. Call relay_drained from st's drained callback too.
 */
void relay_watch(Relay *r, Stream *st);

/* True when st's output holds RELAY_HIGH_WATER or more: stop reading what fills it. */
bool relay_full(Stream *st);

/*
 * Moves what it can and flushes dst: call from src's read callback. Returns 0,
 * or -1 once a callback stopped it.
 */
int relay_pump(Relay *r);

/*
 * The drained callback of dst (and of watch): resumes a blocked source and
 * pumps. Returns as relay_pump.
 */
int relay_drained(Relay *r);

/* Ends a pause: reads the source again and pumps. Returns as relay_pump. */
int relay_resume(Relay *r);

/* True between messages: the owner may write a whole message of its own to dst. */
bool relay_at_boundary(const Relay *r);

#endif
