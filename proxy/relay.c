/*
 * The relay's pump (see relay.h). Whole messages that pass are found by
 * peeking at their headers in the source buffer and moved in one
 * evbuffer_remove_buffer call, which hands over full chains without copying;
 * a message that is still arriving is streamed as its bytes come in.
 */
#include "proxy/relay.h"

#include <event2/buffer.h>

void relay_init(Relay *r, Stream *src, Stream *dst, uint32_t max_len, const RelayOps *ops,
                void *arg)
{
    *r = (Relay){.src = src,
                 .dst = dst,
                 .max_len = max_len,
                 .ops = ops,
                 .arg = arg,
                 .bytes_counter = METRICS_N_COUNTERS};
    stream_set_low_water(dst, RELAY_LOW_WATER);
}

void relay_watch(Relay *r, Stream *st)
{
    r->watch = st;
    stream_set_low_water(st, RELAY_LOW_WATER);
}

bool relay_full(Stream *st)
{
    return stream_pending(st) >= RELAY_HIGH_WATER;
}

bool relay_at_boundary(const Relay *r)
{
    return r->remaining == 0;
}

static void relay_update_reading(Relay *r)
{
    stream_enable_read(r->src, !r->blocked && !r->paused);
}

/* Peeks at the header at offset off of in; in holds at least CODEC_HEADER_LEN bytes from off. */
static CodecStatus relay_peek_header(Relay *r, struct evbuffer *in, size_t off, CodecHeader *h,
                                     CodecError *err)
{
    uint8_t hdr[CODEC_HEADER_LEN];
    struct evbuffer_ptr pos;
    evbuffer_ptr_set(in, &pos, off, EVBUFFER_PTR_SET);
    evbuffer_copyout_from(in, &pos, hdr, sizeof hdr);
    return codec_header(hdr, sizeof hdr, r->max_len, h, err);
}

/* A RELAY_PEEK verdict on the message of size bytes at offset off of in (avail bytes from off):
 * on_peek's verdict once it is whole and small, else RELAY_HOLD. */
static RelayVerdict relay_peek(Relay *r, struct evbuffer *in, size_t off, size_t avail, size_t size)
{
    if (size > RELAY_PEEK_MAX || avail < size)
        return RELAY_HOLD;
    uint8_t msg[RELAY_PEEK_MAX];
    struct evbuffer_ptr pos;
    evbuffer_ptr_set(in, &pos, off, EVBUFFER_PTR_SET);
    evbuffer_copyout_from(in, &pos, msg, size);
    return r->ops->on_peek(r->arg, msg, size) == RELAY_PASS ? RELAY_PASS : RELAY_HOLD;
}

/*
 * True when dst (or watch) is full even after sending what the socket takes
 * now: then a drained callback will come, once output waits for the socket.
 */
static bool relay_dst_full(Relay *r)
{
    if (!relay_full(r->dst) && !(r->watch && relay_full(r->watch)))
        return false;
    stream_flush(r->dst);
    if (r->watch)
        stream_flush(r->watch);
    return relay_full(r->dst) || (r->watch && relay_full(r->watch));
}

static int relay_move(Relay *r)
{
    struct evbuffer *in = stream_input(r->src);
    struct evbuffer *out = stream_output(r->dst);
    size_t scan_from; /* bytes at the front of in already passed on, not moved yet */
    for (;;) {
        if (r->paused)
            return 0;
        if (relay_dst_full(r)) {
            r->blocked = true;
            relay_update_reading(r);
            return 0;
        }
        size_t avail = evbuffer_get_length(in);
        if (r->remaining > 0) {
            size_t n = avail < r->remaining ? avail : r->remaining;
            if (n == 0)
                return 0;
            evbuffer_remove_buffer(in, out, n);
            r->remaining -= n;
            continue;
        }
        if (r->hold_size > 0) {
            if (avail < r->hold_size)
                return 0; /* the rest is on its way */
            size_t n = r->hold_size;
            const uint8_t *msg = evbuffer_pullup(in, (ev_ssize_t)n);
            r->hold_size = 0;
            int rc = r->ops->on_message(r->arg, msg, n);
            if (rc < 0)
                return -1;
            if (rc == RELAY_MSG_FORWARD) {
                /*
                 * Not moved yet: the messages behind it join its run, so that the
                 * whole read moves as one piece (no copy of a part of it, one send).
                 */
                scan_from = n;
                goto scan;
            }
            if (rc > 0) { /* kept for later */
                r->hold_size = n;
                r->paused = true;
                relay_update_reading(r);
                return 0;
            }
            evbuffer_drain(in, n);
            continue;
        }

        scan_from = 0;
    scan:;
        /* Find the run of whole messages to pass at the front, and what ends it. */
        size_t run = scan_from;
        bool stop = false;
        while (!stop && run < RELAY_HIGH_WATER && avail - run >= CODEC_HEADER_LEN) {
            CodecHeader h;
            CodecError err;
            if (relay_peek_header(r, in, run, &h, &err) != CODEC_OK) {
                evbuffer_remove_buffer(in, out, run);
                r->ops->on_error(r->arg, err.msg);
                return -1;
            }
            RelayVerdict v = r->ops->on_header(r->arg, &h);
            if (v == RELAY_PEEK)
                v = relay_peek(r, in, run, avail - run, h.size);
            if (v == RELAY_PASS && avail - run >= h.size) {
                run += h.size;
            } else if (v == RELAY_PASS) {
                r->remaining = h.size - (avail - run); /* streamed from here on */
                run = avail;
                stop = true;
            } else if (v == RELAY_HOLD) {
                r->hold_size = h.size;
                stop = true;
            } else {
                r->paused = true;
                stop = true;
            }
        }
        if (run > 0)
            evbuffer_remove_buffer(in, out, run);
        if (r->paused) {
            relay_update_reading(r);
            return 0;
        }
        if (run == 0 && r->hold_size == 0)
            return 0; /* not even a header yet */
    }
}

int relay_pump(Relay *r)
{
    size_t before = evbuffer_get_length(stream_input(r->src));
    int rc = relay_move(r);
    size_t after = evbuffer_get_length(stream_input(r->src));
    if (before > after && r->bytes_counter != METRICS_N_COUNTERS)
        metrics_add(r->bytes_counter, before - after);
    if (rc == 0)
        stream_flush(r->dst); /* one send for everything moved */
    return rc;
}

int relay_drained(Relay *r)
{
    if (!r->blocked)
        return 0;
    r->blocked = false;
    relay_update_reading(r);
    return relay_pump(r);
}

int relay_resume(Relay *r)
{
    if (!r->paused)
        return 0;
    r->paused = false;
    relay_update_reading(r);
    return relay_pump(r);
}
