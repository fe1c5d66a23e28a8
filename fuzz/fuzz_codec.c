/*
 * libFuzzer target for the wire codec (proxy/codec): the input is what a client or a warehouse
 * could send, read the way the gateway reads it: one startup-phase packet, then regular messages
 * framed by codec_header, each handed (in a buffer of exactly its size, so that ASan sees any
 * over-read) to every reader. What parses is built again with the codec's builder and must read
 * back the same. Not for: the relay's buffering or the session's state machine.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "proxy/codec.h"

#define FUZZ_MAX_MESSAGE (1u << 20)

static void check_query(const uint8_t *msg, size_t len)
{
    CodecQuery q;
    if (codec_read_query(msg, len, &q, NULL) != CODEC_OK)
        return;
    FUZZ_ASSERT(strlen(q.sql) == q.sql_len);
    CodecBuf b;
    codec_buf_init(&b, FUZZ_MAX_MESSAGE * 2);
    codec_buf_start_message(&b, 'Q');
    codec_buf_put_string(&b, q.sql);
    codec_buf_finish_message(&b);
    FUZZ_ASSERT(codec_buf_ok(&b));
    FUZZ_ASSERT(b.len == len && memcmp(b.data, msg, len) == 0);
    codec_buf_free(&b);
}

static void check_bind(const uint8_t *msg, size_t len)
{
    CodecBind bind;
    if (codec_read_bind(msg, len, &bind, NULL) != CODEC_OK)
        return;
    CodecValue *values = calloc(bind.nparams ? bind.nparams : 1, sizeof *values);
    FUZZ_ASSERT(values);
    codec_bind_values(&bind, values);
    for (size_t i = 0; i < bind.nparams; i++) {
        int16_t f = codec_bind_param_format(&bind, i);
        (void)f;
        if (values[i].len >= 0) {
            FUZZ_ASSERT(values[i].data >= msg && values[i].data + values[i].len <= msg + len);
            volatile uint8_t sink = 0;
            for (int32_t k = 0; k < values[i].len; k++)
                sink ^= values[i].data[k];
            (void)sink;
        } else {
            FUZZ_ASSERT(values[i].len == -1 && values[i].data == NULL);
        }
    }
    for (size_t i = 0; i < (size_t)bind.nresult_formats + 2; i++)
        (void)codec_bind_result_format(&bind, i);
    free(values);
}

static void check_parse(const uint8_t *msg, size_t len)
{
    CodecParse p;
    if (codec_read_parse(msg, len, &p, NULL) != CODEC_OK)
        return;
    for (size_t i = 0; i < p.nparam_types; i++)
        (void)codec_parse_param_type(&p, i);
}

static void check_notice(const uint8_t *msg, size_t len)
{
    CodecNotice n;
    if (codec_read_notice(msg, len, &n, NULL) != CODEC_OK)
        return;
    static const char codes[] = "SVCMDHPpqWstcdnFLR";
    for (const char *c = codes; *c; c++) {
        const char *v = codec_notice_field(&n, *c);
        if (v)
            (void)strlen(v);
    }
    /* Built again from the fields the gateway keeps, it must read back the same. */
    CodecBuf b;
    codec_buf_init(&b, FUZZ_MAX_MESSAGE * 2);
    bool sqlstate_ok = n.sqlstate && strlen(n.sqlstate) == 5; /* the builder insists on it */
    codec_put_notice(&b, n.severity ? n.severity : "NOTICE", sqlstate_ok ? n.sqlstate : "00000",
                     n.message ? n.message : "", n.detail, n.hint);
    FUZZ_ASSERT(codec_buf_ok(&b));
    CodecNotice again;
    FUZZ_ASSERT(codec_read_notice(b.data, b.len, &again, NULL) == CODEC_OK);
    if (n.message)
        FUZZ_ASSERT(strcmp(again.message, n.message) == 0);
    if (n.detail)
        FUZZ_ASSERT(again.detail && strcmp(again.detail, n.detail) == 0);
    codec_buf_free(&b);
}

static void check_auth(const uint8_t *msg, size_t len)
{
    CodecAuth a;
    if (codec_read_auth(msg, len, &a, NULL) != CODEC_OK)
        return;
    FUZZ_ASSERT(a.nmechs <= CODEC_MAX_SASL_MECHS);
    CodecBuf b;
    codec_buf_init(&b, FUZZ_MAX_MESSAGE * 2);
    if (codec_sasl_strip_plus(msg, len, &b, NULL) == CODEC_OK) {
        FUZZ_ASSERT(codec_buf_ok(&b));
        CodecAuth stripped;
        FUZZ_ASSERT(codec_read_auth(b.data, b.len, &stripped, NULL) == CODEC_OK);
        FUZZ_ASSERT(stripped.code == CODEC_AUTH_SASL && stripped.nmechs > 0);
        for (size_t i = 0; i < stripped.nmechs; i++) {
            size_t n = strlen(stripped.mechs[i]);
            FUZZ_ASSERT(n < 5 || strcmp(stripped.mechs[i] + n - 5, "-PLUS") != 0);
        }
    }
    codec_buf_free(&b);
}

/* Every reader on one whole message; each checks the type byte itself. */
static void read_message(const uint8_t *msg, size_t len)
{
    check_query(msg, len);
    check_parse(msg, len);
    check_bind(msg, len);
    check_notice(msg, len);
    check_auth(msg, len);

    CodecExecute e;
    CodecTarget t;
    CodecPassword pw;
    CodecParameterStatus ps;
    CodecBackendKey key;
    char ready;
    (void)codec_read_execute(msg, len, &e, NULL);
    (void)codec_read_describe(msg, len, &t, NULL);
    (void)codec_read_close(msg, len, &t, NULL);
    (void)codec_read_password(msg, len, &pw, NULL);
    (void)codec_read_ready(msg, len, &ready, NULL);
    if (codec_read_parameter_status(msg, len, &ps, NULL) == CODEC_OK) {
        CodecBuf b;
        codec_buf_init(&b, FUZZ_MAX_MESSAGE * 2);
        codec_put_parameter_status(&b, ps.name, ps.value);
        FUZZ_ASSERT(codec_buf_ok(&b) && b.len == len && memcmp(b.data, msg, len) == 0);
        codec_buf_free(&b);
    }
    if (codec_read_backend_key(msg, len, &key, NULL) == CODEC_OK)
        FUZZ_ASSERT(key.key + key.key_len <= msg + len);
    (void)codec_type_name(msg[0], true);
    (void)codec_type_name(msg[0], false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    CodecError err;
    size_t pos = 0;

    /* The startup phase: packets until a StartupMessage (or an error) ends it. */
    for (;;) {
        CodecStartup su;
        CodecStatus st = codec_startup_header(data + pos, size - pos, FUZZ_MAX_MESSAGE, &su, &err);
        if (st != CODEC_OK)
            break;
        FUZZ_ASSERT(su.size >= CODEC_STARTUP_HEADER_LEN && su.size <= size - pos);
        if (su.kind == CODEC_STARTUP_MESSAGE) {
            FUZZ_ASSERT(su.user && *su.user && su.nparams <= CODEC_MAX_STARTUP_PARAMS);
            for (size_t i = 0; i < su.nparams; i++)
                FUZZ_ASSERT(strlen(su.params[i].name) + strlen(su.params[i].value) < su.size);
        }
        pos += su.size;
        if (su.kind == CODEC_STARTUP_MESSAGE)
            break;
    }

    /* Then regular messages, one exact-size copy each. */
    while (pos < size) {
        CodecHeader h;
        if (codec_header(data + pos, size - pos, FUZZ_MAX_MESSAGE, &h, &err) != CODEC_OK)
            break;
        if (h.size > size - pos) {
            /* Truncated: the readers must refuse what is there. */
            h.size = size - pos;
        }
        uint8_t *msg = malloc(h.size);
        FUZZ_ASSERT(msg);
        memcpy(msg, data + pos, h.size);
        read_message(msg, h.size);
        free(msg);
        pos += h.size;
    }
    return 0;
}
