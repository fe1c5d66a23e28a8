/*
 * The protocol v3 codec: framing boundaries, startup packets, every reader on
 * valid input and on every truncation, the builder (round trips and the sticky
 * error flag), and random bytes into every parser. Messages under test live in
 * exact-size heap buffers so that ASan catches any read past the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "proxy/codec.h"

#define MAX_LEN 1024u

/* A string literal with embedded NULs, and its length without the implicit final NUL. */
#define BYTES(s) (const uint8_t *)(s), sizeof(s) - 1

/* An exact-size heap copy of n bytes, so ASan flags reads past the end. */
static uint8_t *dup_exact(const void *p, size_t n)
{
    uint8_t *d = xmalloc(n ? n : 1);
    if (n)
        memcpy(d, p, n);
    return d;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A heap message: type, length field `length` (or 4 + blen when 0), then body. */
static uint8_t *frame(uint8_t type, const uint8_t *body, size_t blen, uint32_t length, size_t *len)
{
    *len = 5 + blen;
    uint8_t *m = xmalloc(*len);
    m[0] = type;
    put_be32(m + 1, length ? length : (uint32_t)(4 + blen));
    if (blen)
        memcpy(m + 5, body, blen);
    return m;
}

/* A heap startup packet: length field (or 8 + plen when 0), code, then params. */
static uint8_t *startup(uint32_t code, const uint8_t *params, size_t plen, uint32_t length,
                        size_t *len)
{
    *len = 8 + plen;
    uint8_t *m = xmalloc(*len);
    put_be32(m, length ? length : (uint32_t)*len);
    put_be32(m + 4, code);
    if (plen)
        memcpy(m + 8, params, plen);
    return m;
}

/* ---- Framing ---------------------------------------------------------- */

static void test_header_need_more(void **state)
{
    (void)state;
    const uint8_t full[] = {'Q', 0, 0, 0, 9};
    for (size_t n = 0; n < 5; n++) {
        uint8_t *m = dup_exact(full, n);
        CodecHeader h;
        assert_int_equal(codec_header(m, n, MAX_LEN, &h, NULL), CODEC_NEED_MORE);
        assert_int_equal(h.size, CODEC_HEADER_LEN);
        free(m);
    }
}

static void test_header_lengths(void **state)
{
    (void)state;
    static const struct {
        uint32_t length;
        CodecStatus want;
        const char *err;
    } cases[] = {
        {0, CODEC_ERROR, "invalid message length 0"},
        {1, CODEC_ERROR, "invalid message length 1"},
        {2, CODEC_ERROR, "invalid message length 2"},
        {3, CODEC_ERROR, "invalid message length 3"},
        {4, CODEC_OK, NULL},
        {100, CODEC_OK, NULL},
        {MAX_LEN, CODEC_OK, NULL},
        {MAX_LEN + 1, CODEC_ERROR, "message too large: 1025 bytes, the maximum is 1024"},
        {0x7fffffffu, CODEC_ERROR, "message too large: 2147483647 bytes"},
        {0x80000000u, CODEC_ERROR, "invalid message length -2147483648"},
        {0xffffffffu, CODEC_ERROR, "invalid message length -1"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        /* Only the 5 header bytes: the body is never needed. */
        uint8_t *m = xmalloc(5);
        m[0] = 'D';
        put_be32(m + 1, cases[i].length);
        CodecHeader h;
        CodecError err = {""};
        assert_int_equal(codec_header(m, 5, MAX_LEN, &h, &err), cases[i].want);
        if (cases[i].want == CODEC_OK) {
            assert_int_equal(h.type, 'D');
            assert_int_equal(h.length, cases[i].length);
            assert_int_equal(h.size, 1 + (size_t)cases[i].length);
        } else {
            assert_non_null(strstr(err.msg, cases[i].err));
        }
        free(m);
    }
}

static void test_startup_need_more(void **state)
{
    (void)state;
    size_t len;
    uint8_t *full = startup(CODEC_PROTOCOL_3_0, BYTES("user\0alice\0\0"), 0, &len);
    for (size_t n = 0; n < len; n++) {
        uint8_t *m = dup_exact(full, n);
        CodecStartup s;
        assert_int_equal(codec_startup_header(m, n, 10000, &s, NULL), CODEC_NEED_MORE);
        assert_int_equal(s.size, n < 4 ? CODEC_STARTUP_HEADER_LEN : len);
        free(m);
    }
    CodecStartup s;
    assert_int_equal(codec_startup_header(full, len, 10000, &s, NULL), CODEC_OK);
    free(full);
}

/* What PostgreSQL 15's postmaster does with each packet: accept it, close silently ("" below),
 * or send a FATAL error with this SQLSTATE and message. */
static void test_startup_cases(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        uint32_t code;
        const char *params;
        size_t plen;
        uint32_t length; /* 0: the real length */
        CodecStatus want;
        CodecStartupKind kind;
        const char *sqlstate; /* on ERROR: "" for a silent close */
        const char *err;
    } cases[] = {
#define P(s) s, sizeof(s) - 1
        {"ssl", CODEC_SSL_REQUEST, P(""), 0, CODEC_OK, CODEC_STARTUP_SSL, NULL, NULL},
        {"gssenc", CODEC_GSSENC_REQUEST, P(""), 0, CODEC_OK, CODEC_STARTUP_GSSENC, NULL, NULL},
        {"ssl, long", CODEC_SSL_REQUEST, P("abcd"), 0, CODEC_OK, CODEC_STARTUP_SSL, NULL, NULL},
        {"cancel", CODEC_CANCEL_REQUEST, P("\0\0\0\x2a\x12\x34\x56\x78"), 0, CODEC_OK,
         CODEC_STARTUP_CANCEL, NULL, NULL},
        {"cancel, short", CODEC_CANCEL_REQUEST, P("\0\0\0\x2a"), 0, CODEC_ERROR, 0, "",
         "a CancelRequest of 12 bytes, expected 16"},
        {"cancel, long", CODEC_CANCEL_REQUEST, P("\0\0\0\x2a\x12\x34\x56\x78\0\0\0\0"), 0,
         CODEC_ERROR, 0, "", "a CancelRequest of 20 bytes"},
        {"v3.0", CODEC_PROTOCOL_3_0,
         P("user\0alice\0database\0shop\0options\0-c search_path=x\0\0"), 0, CODEC_OK,
         CODEC_STARTUP_MESSAGE, NULL, NULL},
        {"v3.2", CODEC_PROTOCOL_3_0 | 2, P("user\0alice\0_pq_.x\0on\0\0"), 0, CODEC_OK,
         CODEC_STARTUP_MESSAGE, NULL, NULL},
        {"v2", 2u << 16, P("user\0alice\0\0"), 0, CODEC_ERROR, 0, "0A000",
         "unsupported frontend protocol 2.0: server supports 3.0 to 3.0"},
        {"v4", 4u << 16, P("user\0alice\0\0"), 0, CODEC_ERROR, 0, "0A000",
         "unsupported frontend protocol 4.0: server supports 3.0 to 3.0"},
        {"unknown request", 80877199u, P(""), 0, CODEC_ERROR, 0, "0A000",
         "unsupported frontend protocol 1234.5775: server supports 3.0 to 3.0"},
        {"no user", CODEC_PROTOCOL_3_0, P("database\0shop\0\0"), 0, CODEC_ERROR, 0, "28000",
         "no PostgreSQL user name specified in startup packet"},
        {"empty user", CODEC_PROTOCOL_3_0, P("user\0\0\0"), 0, CODEC_ERROR, 0, "28000",
         "no PostgreSQL user name specified in startup packet"},
        {"no params", CODEC_PROTOCOL_3_0, P(""), 0, CODEC_ERROR, 0, "08P01",
         "invalid startup packet layout: expected terminator as last byte"},
        {"no final NUL", CODEC_PROTOCOL_3_0, P("user\0alice\0"), 0, CODEC_ERROR, 0, "08P01",
         "expected terminator as last byte"},
        {"truncated name", CODEC_PROTOCOL_3_0, P("user\0alice\0data"), 0, CODEC_ERROR, 0, "08P01",
         "expected terminator as last byte"},
        {"name without value", CODEC_PROTOCOL_3_0, P("user\0alice\0database\0"), 0, CODEC_ERROR, 0,
         "08P01", "expected terminator as last byte"},
        {"truncated value", CODEC_PROTOCOL_3_0, P("user\0ali"), 0, CODEC_ERROR, 0, "08P01",
         "expected terminator as last byte"},
        {"bytes after NUL", CODEC_PROTOCOL_3_0, P("user\0alice\0\0xy"), 0, CODEC_ERROR, 0, "08P01",
         "expected terminator as last byte"},
        {"no user, bad layout", CODEC_PROTOCOL_3_0, P("database\0shop\0"), 0, CODEC_ERROR, 0,
         "08P01", "expected terminator as last byte"},
        {"length 7", CODEC_SSL_REQUEST, P(""), 7, CODEC_ERROR, 0, "",
         "invalid length of startup packet: 7"},
        {"negative length", CODEC_SSL_REQUEST, P(""), 0x80000008u, CODEC_ERROR, 0, "",
         "invalid length of startup packet: -2147483640"},
        {"too large", CODEC_SSL_REQUEST, P(""), CODEC_MAX_STARTUP_LEN + 1, CODEC_ERROR, 0, "",
         "invalid length of startup packet: 10005 bytes, the maximum is 10004"},
#undef P
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        size_t len;
        uint8_t *m = startup(cases[i].code, (const uint8_t *)cases[i].params, cases[i].plen,
                             cases[i].length, &len);
        CodecStartup s;
        CodecError err = {""};
        CodecStatus st = codec_startup_header(m, len, CODEC_MAX_STARTUP_LEN, &s, &err);
        if (st != cases[i].want)
            fail_msg("%s: status %d, want %d (%s)", cases[i].name, st, cases[i].want, err.msg);
        free(m);
        if (st == CODEC_OK) {
            assert_int_equal(s.kind, cases[i].kind);
            continue;
        }
        if (!strstr(err.msg, cases[i].err))
            fail_msg("%s: error \"%s\", want \"%s\"", cases[i].name, err.msg, cases[i].err);
        if (strcmp(s.sqlstate ? s.sqlstate : "", cases[i].sqlstate) != 0)
            fail_msg("%s: SQLSTATE \"%s\", want \"%s\"", cases[i].name,
                     s.sqlstate ? s.sqlstate : "(silent close)", cases[i].sqlstate);
        if (*cases[i].sqlstate)
            assert_int_equal(codec_startup_v2(&s), cases[i].code == 2u << 16);
    }
}

/* The largest startup packet PostgreSQL accepts is accepted; a typed message is not one. */
static void test_startup_limits(void **state)
{
    (void)state;
    size_t plen = CODEC_MAX_STARTUP_LEN - CODEC_STARTUP_HEADER_LEN;
    uint8_t *params = xcalloc(1, plen);
    memcpy(params, "user\0alice\0app\0", 15);
    memset(params + 15, 'x', plen - 17); /* app's value, its NUL, then the terminator */
    size_t len;
    uint8_t *m = startup(CODEC_PROTOCOL_3_0, params, plen, 0, &len);
    assert_int_equal(len, CODEC_MAX_STARTUP_LEN);
    CodecStartup s;
    CodecError err = {""};
    assert_int_equal(codec_startup_header(m, len, CODEC_MAX_STARTUP_LEN, &s, &err), CODEC_OK);
    assert_string_equal(s.user, "alice");
    free(m);
    free(params);

    /* node-postgres's Terminate before any startup reads as a length of 0x58000000. */
    static const uint8_t terminate[] = {'X', 0, 0, 0, 4};
    assert_int_equal(
        codec_startup_header(terminate, sizeof terminate, CODEC_MAX_STARTUP_LEN, &s, &err),
        CODEC_ERROR);
    assert_null(s.sqlstate);

    /* A request answered once comes again: PostgreSQL's unsupported version. */
    static const uint8_t ssl[] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
    assert_int_equal(codec_startup_header(ssl, sizeof ssl, CODEC_MAX_STARTUP_LEN, &s, &err),
                     CODEC_OK);
    assert_int_equal(codec_startup_repeated(&s, &err), CODEC_ERROR);
    assert_string_equal(s.sqlstate, "0A000");
    assert_string_equal(err.msg, "unsupported frontend protocol 1234.5679: server supports 3.0 "
                                 "to 3.0");
}

/* Protocol 2's ErrorResponse: 'E', the text with severity and a newline, a NUL; no length. */
static void test_error_v2(void **state)
{
    (void)state;
    CodecBuf b;
    codec_buf_init(&b, 1024);
    codec_put_error_v2(&b, "FATAL",
                       "unsupported frontend protocol 2.0: server supports 3.0 to 3.0");
    assert_true(codec_buf_ok(&b));
    static const char want[] =
        "EFATAL:  unsupported frontend protocol 2.0: server supports 3.0 to 3.0\n";
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    codec_put_ready(&b, 'I'); /* the buffer goes on as before */
    assert_true(codec_buf_ok(&b));
    assert_int_equal(b.len, sizeof want + 6);
    codec_buf_free(&b);
}

static void test_startup_fields(void **state)
{
    (void)state;
    size_t len;
    CodecStartup s;
    uint8_t *m = startup(CODEC_PROTOCOL_3_0 | 2,
                         BYTES("user\0alice\0database\0shop\0application_name\0psql\0"
                               "_pq_.command_marker\0on\0\0"),
                         0, &len);
    assert_int_equal(codec_startup_header(m, len, 10000, &s, NULL), CODEC_OK);
    assert_int_equal(s.size, len);
    assert_int_equal(s.minor, 2);
    assert_string_equal(s.user, "alice");
    assert_string_equal(s.database, "shop");
    assert_int_equal(s.nparams, 4);
    assert_string_equal(s.params[2].name, "application_name");
    assert_string_equal(s.params[2].value, "psql");
    assert_string_equal(s.params[3].name, "_pq_.command_marker");
    free(m);

    m = startup(CODEC_PROTOCOL_3_0, BYTES("user\0bob\0\0"), 0, &len);
    assert_int_equal(codec_startup_header(m, len, 10000, &s, NULL), CODEC_OK);
    assert_null(s.database);
    assert_int_equal(s.minor, 0);
    free(m);

    m = startup(CODEC_CANCEL_REQUEST, BYTES("\0\0\x30\x39\xde\xad\xbe\xef"), 0, &len);
    assert_int_equal(codec_startup_header(m, len, 10000, &s, NULL), CODEC_OK);
    assert_int_equal(s.cancel_pid, 12345);
    assert_int_equal(s.cancel_key, 0xdeadbeefu);
    free(m);

    /* A pipelined byte after the packet is not part of it. */
    uint8_t ssl[] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f, 'x'};
    assert_int_equal(codec_startup_header(ssl, sizeof ssl, 10000, &s, NULL), CODEC_OK);
    assert_int_equal(s.kind, CODEC_STARTUP_SSL);
    assert_int_equal(s.size, 8);
}

/* ---- Readers ---------------------------------------------------------- */

/* Every reader behind one signature, for the table-driven tests. */
typedef CodecStatus (*ReadFn)(const uint8_t *msg, size_t len, CodecError *err);

#define READER(fn, T)                                                                              \
    static CodecStatus try_##fn(const uint8_t *msg, size_t len, CodecError *err)                   \
    {                                                                                              \
        T out;                                                                                     \
        return codec_##fn(msg, len, &out, err);                                                    \
    }
READER(read_query, CodecQuery)
READER(read_parse, CodecParse)
READER(read_bind, CodecBind)
READER(read_execute, CodecExecute)
READER(read_describe, CodecTarget)
READER(read_close, CodecTarget)
READER(read_password, CodecPassword)
READER(read_notice, CodecNotice)
READER(read_ready, char)
READER(read_parameter_status, CodecParameterStatus)
READER(read_backend_key, CodecBackendKey)
READER(read_auth, CodecAuth)
#undef READER

static CodecStatus try_strip_plus(const uint8_t *msg, size_t len, CodecError *err)
{
    CodecBuf b;
    codec_buf_init(&b, 1 << 16);
    CodecStatus st = codec_sasl_strip_plus(msg, len, &b, err);
    assert_true(codec_buf_ok(&b));
    codec_buf_free(&b);
    return st;
}

/* A valid body for each reader; prefixes of it must be rejected unless prefix_ok. */
static const struct {
    const char *name;
    ReadFn read;
    uint8_t type;
    const char *body;
    size_t blen;
    bool prefix_ok;
} readers[] = {
#define B(s) s, sizeof(s) - 1
    {"Query", try_read_query, 'Q', B("SELECT 1\0"), false},
    {"Parse", try_read_parse, 'P', B("s1\0SELECT $1, $2\0\0\2\0\0\0\x17\0\0\0\0"), false},
    {"Bind", try_read_bind, 'B',
     B("p1\0s1\0\0\1\0\1\0\3\0\0\0\4\0\0\0\x2a\xff\xff\xff\xff\0\0\0\0\0\1\0\0"), false},
    {"Execute", try_read_execute, 'E', B("p1\0\0\0\0\x64"), false},
    {"Describe", try_read_describe, 'D', B("Ss1\0"), false},
    {"Close", try_read_close, 'C', B("P\0"), false},
    {"PasswordMessage", try_read_password, 'p', B("secret\0"), true},
    {"ErrorResponse", try_read_notice, 'E',
     B("SERROR\0VERROR\0C42P01\0Mrelation \"x\" does not exist\0P15\0\0"), false},
    {"NoticeResponse", try_read_notice, 'N', B("SNOTICE\0C00000\0Mwaiting\0\0"), false},
    {"ReadyForQuery", try_read_ready, 'Z', B("T"), false},
    {"ParameterStatus", try_read_parameter_status, 'S', B("TimeZone\0UTC\0"), false},
    {"BackendKeyData", try_read_backend_key, 'K', B("\0\0\x30\x39\xde\xad\xbe\xef"), false},
    {"AuthenticationOk", try_read_auth, 'R', B("\0\0\0\0"), false},
    {"AuthenticationMD5", try_read_auth, 'R', B("\0\0\0\5abcd"), false},
    {"AuthenticationSASL", try_read_auth, 'R', B("\0\0\0\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"),
     false},
    {"SASL strip", try_strip_plus, 'R', B("\0\0\0\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"),
     false},
#undef B
};

static void test_readers_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(readers); i++) {
        size_t len;
        uint8_t *m =
            frame(readers[i].type, (const uint8_t *)readers[i].body, readers[i].blen, 0, &len);
        CodecError err = {""};
        if (readers[i].read(m, len, &err) != CODEC_OK)
            fail_msg("%s: %s", readers[i].name, err.msg);
        /* The wrong type byte is refused. */
        m[0] = 'x';
        assert_int_equal(readers[i].read(m, len, &err), CODEC_ERROR);
        assert_non_null(strstr(err.msg, "message type is 0x78"));
        free(m);
    }
}

/* Every truncation, with the length field fixed to match or left stale, is an error. */
static void test_readers_truncated(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(readers); i++) {
        size_t full;
        uint8_t *whole =
            frame(readers[i].type, (const uint8_t *)readers[i].body, readers[i].blen, 0, &full);
        for (size_t k = 0; k < readers[i].blen; k++) {
            size_t len;
            uint8_t *m = frame(readers[i].type, (const uint8_t *)readers[i].body, k, 0, &len);
            CodecError err = {""};
            CodecStatus st = readers[i].read(m, len, &err);
            if (!readers[i].prefix_ok && st != CODEC_ERROR)
                fail_msg("%s: body prefix of %zu bytes accepted", readers[i].name, k);
            if (st == CODEC_ERROR)
                assert_true(strlen(err.msg) > 0);
            free(m);
        }
        for (size_t n = 0; n < full; n++) {
            uint8_t *m = dup_exact(whole, n);
            CodecError err = {""};
            assert_int_equal(readers[i].read(m, n, &err), CODEC_ERROR);
            assert_true(strlen(err.msg) > 0);
            free(m);
        }
        free(whole);
    }
}

static void test_read_query(void **state)
{
    (void)state;
    size_t len;
    CodecQuery q;
    CodecError err = {""};
    uint8_t *m = frame('Q', BYTES("SELECT 1\0"), 0, &len);
    assert_int_equal(codec_read_query(m, len, &q, &err), CODEC_OK);
    assert_string_equal(q.sql, "SELECT 1");
    assert_int_equal(q.sql_len, 8);
    assert_ptr_equal(q.sql, (const char *)m + 5); /* points into the message */
    free(m);

    m = frame('Q', BYTES("SELECT 1\0; DROP\0"), 0, &len);
    assert_int_equal(codec_read_query(m, len, &q, &err), CODEC_ERROR);
    assert_string_equal(err.msg, "Query: 7 unexpected bytes at the end of the message");
    free(m);

    m = frame('Q', BYTES("SELECT 1"), 0, &len);
    assert_int_equal(codec_read_query(m, len, &q, &err), CODEC_ERROR);
    assert_string_equal(err.msg, "Query: the query string runs past the end of the message");
    free(m);

    m = frame('Q', BYTES("SELECT 1\0"), 20, &len);
    assert_int_equal(codec_read_query(m, len, &q, &err), CODEC_ERROR);
    assert_string_equal(err.msg, "Query: length field says 20 but the message has 13 bytes");
    free(m);
}

static void test_read_parse_execute_target(void **state)
{
    (void)state;
    size_t len;
    CodecError err = {""};
    CodecParse p;
    uint8_t *m = frame('P', BYTES("s1\0SELECT $1, $2\0\0\2\0\0\0\x17\0\0\0\0"), 0, &len);
    assert_int_equal(codec_read_parse(m, len, &p, &err), CODEC_OK);
    assert_string_equal(p.name, "s1");
    assert_string_equal(p.query, "SELECT $1, $2");
    assert_int_equal(p.nparam_types, 2);
    assert_int_equal(codec_parse_param_type(&p, 0), 23);
    assert_int_equal(codec_parse_param_type(&p, 1), 0);
    free(m);

    m = frame('P', BYTES("\0SELECT 1\0\xff\xff"), 0, &len);
    assert_int_equal(codec_read_parse(m, len, &p, &err), CODEC_ERROR);
    assert_string_equal(err.msg, "Parse: negative parameter type count -1");
    free(m);

    m = frame('P', BYTES("\0SELECT 1\0\0\3\0\0\0\x17"), 0, &len);
    assert_int_equal(codec_read_parse(m, len, &p, &err), CODEC_ERROR);
    assert_string_equal(err.msg, "Parse: the message ends inside the parameter types");
    free(m);

    CodecExecute e;
    m = frame('E', BYTES("\0\0\0\0\0"), 0, &len);
    assert_int_equal(codec_read_execute(m, len, &e, &err), CODEC_OK);
    assert_string_equal(e.portal, "");
    assert_int_equal(e.max_rows, 0);
    free(m);

    CodecTarget t;
    m = frame('D', BYTES("Pcur\0"), 0, &len);
    assert_int_equal(codec_read_describe(m, len, &t, &err), CODEC_OK);
    assert_int_equal(t.kind, 'P');
    assert_string_equal(t.name, "cur");
    free(m);

    m = frame('C', BYTES("Xs1\0"), 0, &len);
    assert_int_equal(codec_read_close(m, len, &t, &err), CODEC_ERROR);
    assert_string_equal(err.msg, "Close: invalid kind 0x58, expected 'S' or 'P'");
    free(m);

    CodecPassword pw;
    m = frame('p', BYTES("n,,n=,r=abc"), 0, &len);
    assert_int_equal(codec_read_password(m, len, &pw, &err), CODEC_OK);
    assert_int_equal(pw.len, 11);
    assert_memory_equal(pw.data, "n,,n=,r=abc", 11);
    free(m);
}

static void test_read_bind(void **state)
{
    (void)state;
    size_t len;
    CodecError err = {""};
    CodecBind b;
    /* portal p1, statement s1, one format code (binary) for all, 3 values: 42, NULL, "", and
     * one result format code (binary). */
    uint8_t *m =
        frame('B', BYTES("p1\0s1\0\0\1\0\1\0\3\0\0\0\4\0\0\0\x2a\xff\xff\xff\xff\0\0\0\0\0\1\0\1"),
              0, &len);
    assert_int_equal(codec_read_bind(m, len, &b, &err), CODEC_OK);
    assert_string_equal(b.portal, "p1");
    assert_string_equal(b.statement, "s1");
    assert_int_equal(b.nparams, 3);
    assert_int_equal(codec_bind_param_format(&b, 2), 1);
    assert_int_equal(codec_bind_result_format(&b, 7), 1);
    CodecValue v[3];
    codec_bind_values(&b, v);
    assert_int_equal(v[0].len, 4);
    assert_memory_equal(v[0].data, "\0\0\0\x2a", 4);
    assert_int_equal(v[1].len, -1);
    assert_null(v[1].data);
    assert_int_equal(v[2].len, 0);
    assert_non_null(v[2].data);
    free(m);

    /* No formats at all: text. */
    m = frame('B', BYTES("\0\0\0\0\0\0\0\0"), 0, &len);
    assert_int_equal(codec_read_bind(m, len, &b, &err), CODEC_OK);
    assert_int_equal(b.nparams, 0);
    assert_int_equal(codec_bind_param_format(&b, 0), 0);
    assert_int_equal(codec_bind_result_format(&b, 0), 0);
    free(m);

    static const struct {
        const char *body;
        size_t blen;
        const char *err;
    } bad[] = {
#define B(s) s, sizeof(s) - 1
        {B("\0\0\0\0\0\3\0\0\0\1x"),
         "Bind: 3 parameter values declared but the message ends after 1"},
        {B("\0\0\0\0\0\2\0\0\0\1x\0\0\0\x09xy"),
         "Bind: 2 parameter values declared but the message ends after 1"},
        {B("\0\0\0\0\x7f\xff"), "Bind: 32767 parameter values declared but the message ends "
                                "after 0"},
        {B("\0\0\0\0\0\1\xff\xff\xff\xfe\0\0"), "Bind: parameter 1 has invalid length -2"},
        {B("\0\0\xff\xfe"), "Bind: negative parameter format count -2"},
        {B("\0\0\0\2\0\0\0\0\0\1\xff\xff\xff\xff\0\0"), "Bind: 2 parameter formats for 1 "
                                                        "parameters"},
        {B("\0\0\0\1\0\2\0\0\0\0"), "Bind: unsupported parameter format 2"},
        {B("\0\0\0\0\0\0\0\1\0\5"), "Bind: unsupported result format 5"},
        {B("\0\0\0\0\0\0\0\3\0\0"), "Bind: the message ends inside the result format codes"},
        {B("\0\0\0\0\0\0\0\0\0"), "Bind: 1 unexpected bytes at the end of the message"},
#undef B
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        m = frame('B', (const uint8_t *)bad[i].body, bad[i].blen, 0, &len);
        assert_int_equal(codec_read_bind(m, len, &b, &err), CODEC_ERROR);
        assert_string_equal(err.msg, bad[i].err);
        free(m);
    }
}

static void test_read_server_messages(void **state)
{
    (void)state;
    size_t len;
    CodecError err = {""};
    CodecNotice n;
    uint8_t *m = frame(
        'E', BYTES("SERROR\0VERROR\0C42P01\0Mrelation \"x\" does not exist\0P15\0Fparse.c\0\0"), 0,
        &len);
    assert_int_equal(codec_read_notice(m, len, &n, &err), CODEC_OK);
    assert_string_equal(n.severity, "ERROR");
    assert_string_equal(n.severity_nl, "ERROR");
    assert_string_equal(n.sqlstate, "42P01");
    assert_string_equal(n.message, "relation \"x\" does not exist");
    assert_string_equal(n.position, "15");
    assert_null(n.detail);
    assert_null(n.hint);
    assert_string_equal(codec_notice_field(&n, 'F'), "parse.c");
    assert_null(codec_notice_field(&n, 'L'));
    free(m);

    m = frame('N', BYTES("SNOTICE\0Mhi\0"), 0, &len); /* no terminator */
    assert_int_equal(codec_read_notice(m, len, &n, &err), CODEC_ERROR);
    assert_string_equal(err.msg, "NoticeResponse: the message ends inside the field list");
    free(m);

    char status;
    m = frame('Z', BYTES("X"), 0, &len);
    assert_int_equal(codec_read_ready(m, len, &status, &err), CODEC_ERROR);
    assert_string_equal(err.msg, "ReadyForQuery: invalid status 0x58");
    free(m);
    m = frame('Z', BYTES("E"), 0, &len);
    assert_int_equal(codec_read_ready(m, len, &status, &err), CODEC_OK);
    assert_int_equal(status, 'E');
    free(m);

    CodecParameterStatus ps;
    m = frame('S', BYTES("server_version\00016.2\0"), 0, &len);
    assert_int_equal(codec_read_parameter_status(m, len, &ps, &err), CODEC_OK);
    assert_string_equal(ps.name, "server_version");
    assert_string_equal(ps.value, "16.2");
    free(m);

    CodecBackendKey k;
    m = frame('K', BYTES("\0\0\x30\x39\xde\xad\xbe\xef"), 0, &len);
    assert_int_equal(codec_read_backend_key(m, len, &k, &err), CODEC_OK);
    assert_int_equal(k.pid, 12345);
    assert_int_equal(k.key_len, 4);
    free(m);

    CodecAuth a;
    m = frame('R', BYTES("\0\0\0\5abcd"), 0, &len);
    assert_int_equal(codec_read_auth(m, len, &a, &err), CODEC_OK);
    assert_int_equal(a.code, CODEC_AUTH_MD5);
    assert_memory_equal(a.payload, "abcd", 4);
    free(m);
    m = frame('R', BYTES("\0\0\0\5abc"), 0, &len);
    assert_int_equal(codec_read_auth(m, len, &a, &err), CODEC_ERROR);
    assert_string_equal(err.msg, "Authentication: MD5 salt of 3 bytes, expected 4");
    free(m);
    /* Redshift's SHA-256 digest request (13) and its IdP request (14): opaque, relayed as sent. */
    m = frame('R', BYTES("\0\0\0\x0d\0\0\0\1\0\0\0\4salt\0\0\0\5nonce"), 0, &len);
    assert_int_equal(codec_read_auth(m, len, &a, &err), CODEC_OK);
    assert_int_equal(a.code, 13);
    assert_int_equal(a.payload_len, 21);
    free(m);
    m = frame('R', BYTES("\0\0\0\x0e\1\2\3\4"), 0, &len);
    assert_int_equal(codec_read_auth(m, len, &a, &err), CODEC_OK);
    assert_int_equal(a.code, 14);
    assert_int_equal(a.payload_len, 4);
    free(m);
}

static void test_sasl(void **state)
{
    (void)state;
    size_t len;
    CodecError err = {""};
    CodecAuth a;
    CodecBuf b;
    codec_buf_init(&b, 4096);

    /* With the channel-binding variant: stripped. */
    uint8_t *m = frame('R', BYTES("\0\0\0\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"), 0, &len);
    assert_int_equal(codec_read_auth(m, len, &a, &err), CODEC_OK);
    assert_int_equal(a.nmechs, 2);
    assert_string_equal(a.mechs[0], "SCRAM-SHA-256-PLUS");
    assert_string_equal(a.mechs[1], "SCRAM-SHA-256");
    assert_int_equal(codec_sasl_strip_plus(m, len, &b, &err), CODEC_OK);
    assert_true(codec_buf_ok(&b));
    size_t want_len;
    uint8_t *want = frame('R', BYTES("\0\0\0\x0aSCRAM-SHA-256\0\0"), 0, &want_len);
    assert_int_equal(b.len, want_len);
    assert_memory_equal(b.data, want, want_len);
    free(m);

    /* Without: an identical copy. */
    codec_buf_reset(&b);
    assert_int_equal(codec_sasl_strip_plus(want, want_len, &b, &err), CODEC_OK);
    assert_int_equal(b.len, want_len);
    assert_memory_equal(b.data, want, want_len);
    free(want);

    /* Only channel binding: nothing the client could use through the gateway. */
    codec_buf_reset(&b);
    m = frame('R', BYTES("\0\0\0\x0aSCRAM-SHA-256-PLUS\0\0"), 0, &len);
    assert_int_equal(codec_sasl_strip_plus(m, len, &b, &err), CODEC_ERROR);
    assert_non_null(strstr(err.msg, "only channel-binding"));
    assert_int_equal(b.len, 0);
    free(m);

    /* Not SASL; and a list without its terminator. */
    m = frame('R', BYTES("\0\0\0\0"), 0, &len);
    assert_int_equal(codec_sasl_strip_plus(m, len, &b, &err), CODEC_ERROR);
    assert_string_equal(err.msg, "Authentication: code 0 is not SASL");
    free(m);
    m = frame('R', BYTES("\0\0\0\x0aSCRAM-SHA-256\0"), 0, &len);
    assert_int_equal(codec_read_auth(m, len, &a, &err), CODEC_ERROR);
    assert_string_equal(err.msg,
                        "AuthenticationSASL: the mechanism list runs past the end of the message");
    free(m);
    codec_buf_free(&b);
}

/* ---- Builder ---------------------------------------------------------- */

/* Checks b holds exactly the message type + body (length field computed here). */
static void assert_message(const CodecBuf *b, size_t off, uint8_t type, const void *body,
                           size_t blen)
{
    assert_true(off + 5 + blen <= b->len);
    assert_int_equal(b->data[off], type);
    CodecHeader h;
    assert_int_equal(codec_header(b->data + off, b->len - off, MAX_LEN, &h, NULL), CODEC_OK);
    assert_int_equal(h.length, 4 + blen);
    if (blen)
        assert_memory_equal(b->data + off + 5, body, blen);
}

static void test_builder_bytes(void **state)
{
    (void)state;
    CodecBuf b;
    codec_buf_init(&b, MAX_LEN);
    static const struct {
        void (*put)(CodecBuf *b);
        uint8_t type;
    } empty[] = {
        {codec_put_empty_query, 'I'},   {codec_put_parse_complete, '1'},
        {codec_put_bind_complete, '2'}, {codec_put_close_complete, '3'},
        {codec_put_no_data, 'n'},       {codec_put_portal_suspended, 's'},
    };
    for (size_t i = 0; i < ARRAY_LEN(empty); i++) {
        codec_buf_reset(&b);
        empty[i].put(&b);
        assert_true(codec_buf_ok(&b));
        assert_int_equal(b.len, 5);
        assert_message(&b, 0, empty[i].type, NULL, 0);
    }

    codec_buf_reset(&b);
    CodecColumn cols[] = {{"view", 25, -1, 0}, {"rows", 20, 8, 1}};
    codec_put_row_description(&b, cols, 2);
    size_t off = b.len;
    CodecValue vals[] = {{(const uint8_t *)"a.b", 3}, {NULL, -1}};
    codec_put_data_row(&b, vals, 2);
    size_t off2 = b.len;
    codec_put_command_complete(&b, "SELECT 1");
    size_t off3 = b.len;
    codec_put_auth_ok(&b);
    size_t off4 = b.len;
    const char *const opts[] = {"_pq_.x"};
    codec_put_negotiate_version(&b, 0, opts, 1);
    assert_true(codec_buf_ok(&b));
    assert_message(&b, 0, 'T',
                   "\0\2"
                   "view\0\0\0\0\0\0\0\0\0\0\x19\xff\xff\xff\xff\xff\xff\0\0"
                   "rows\0\0\0\0\0\0\0\0\0\0\x14\0\x08\xff\xff\xff\xff\0\1",
                   2 + 2 * 23);
    assert_message(&b, off, 'D', "\0\2\0\0\0\3a.b\xff\xff\xff\xff", 13);
    assert_message(&b, off2, 'C', "SELECT 1", 9);
    assert_message(&b, off3, 'R', "\0\0\0\0", 4);
    assert_message(&b, off4, 'v', "\0\3\0\0\0\0\0\1_pq_.x", 15);
    assert_int_equal(b.len, off4 + 20);
    codec_buf_free(&b);
}

static void test_builder_round_trip(void **state)
{
    (void)state;
    CodecBuf b;
    CodecError err = {""};
    codec_buf_init(&b, MAX_LEN);

    codec_put_error(&b, "ERROR", "42P01", "view \"x.y\" is not managed", "some detail", "a hint");
    assert_true(codec_buf_ok(&b));
    CodecNotice n;
    assert_int_equal(codec_read_notice(b.data, b.len, &n, &err), CODEC_OK);
    assert_string_equal(n.severity, "ERROR");
    assert_string_equal(n.severity_nl, "ERROR");
    assert_string_equal(n.sqlstate, "42P01");
    assert_string_equal(n.message, "view \"x.y\" is not managed");
    assert_string_equal(n.detail, "some detail");
    assert_string_equal(n.hint, "a hint");

    codec_buf_reset(&b);
    codec_put_notice(&b, "NOTICE", "00000", "waiting for first.cities", NULL, NULL);
    assert_true(codec_buf_ok(&b));
    assert_int_equal(codec_read_notice(b.data, b.len, &n, &err), CODEC_OK);
    assert_string_equal(n.severity, "NOTICE");
    assert_string_equal(n.message, "waiting for first.cities");
    assert_null(n.detail);
    assert_null(n.hint);

    codec_buf_reset(&b);
    codec_put_ready(&b, 'T');
    char status;
    assert_true(codec_buf_ok(&b));
    assert_int_equal(codec_read_ready(b.data, b.len, &status, &err), CODEC_OK);
    assert_int_equal(status, 'T');

    codec_buf_reset(&b);
    codec_put_parameter_status(&b, "client_encoding", "UTF8");
    CodecParameterStatus ps;
    assert_true(codec_buf_ok(&b));
    assert_int_equal(codec_read_parameter_status(b.data, b.len, &ps, &err), CODEC_OK);
    assert_string_equal(ps.name, "client_encoding");
    assert_string_equal(ps.value, "UTF8");

    /* A Bind built by hand with the primitives reads back. */
    codec_buf_reset(&b);
    codec_buf_start_message(&b, 'B');
    codec_buf_put_string(&b, "");
    codec_buf_put_string(&b, "s");
    codec_buf_put_int16(&b, 0);
    codec_buf_put_int16(&b, 2);
    codec_buf_put_int32(&b, -1);
    codec_buf_put_int32(&b, 2);
    codec_buf_put_bytes(&b, "hi", 2);
    codec_buf_put_int16(&b, 0);
    codec_buf_finish_message(&b);
    assert_true(codec_buf_ok(&b));
    CodecBind bind;
    assert_int_equal(codec_read_bind(b.data, b.len, &bind, &err), CODEC_OK);
    CodecValue v[2];
    codec_bind_values(&bind, v);
    assert_int_equal(v[0].len, -1);
    assert_int_equal(v[1].len, 2);
    assert_memory_equal(v[1].data, "hi", 2);
    codec_buf_free(&b);
}

static void test_builder_sticky(void **state)
{
    (void)state;
    CodecBuf b;
    codec_buf_init(&b, 16);

    /* finish without start */
    codec_buf_finish_message(&b);
    assert_false(codec_buf_ok(&b));
    codec_put_ready(&b, 'I'); /* a no-op now */
    codec_buf_start_message(&b, 'Q');
    codec_buf_put_string(&b, "x");
    codec_buf_finish_message(&b);
    assert_int_equal(b.len, 0);
    assert_false(codec_buf_ok(&b));

    /* reset clears the flag */
    codec_buf_reset(&b);
    codec_put_ready(&b, 'I');
    assert_true(codec_buf_ok(&b));
    assert_int_equal(b.len, 6);

    /* growth past the cap: the message is abandoned, the flag stays */
    codec_put_command_complete(&b, "SELECT 12345");
    assert_false(codec_buf_ok(&b));
    assert_int_equal(b.len, 11); /* header written, the string not */
    codec_buf_finish_message(&b);
    codec_put_ready(&b, 'I');
    assert_false(codec_buf_ok(&b));
    assert_int_equal(b.len, 11);

    /* exactly at the cap is fine */
    codec_buf_reset(&b);
    codec_put_command_complete(&b, "0123456789");
    assert_true(codec_buf_ok(&b));
    assert_int_equal(b.len, 16);

    /* Misuse: put outside a message, start inside one, a message left open, bad arguments. */
    codec_buf_reset(&b);
    codec_buf_put_int32(&b, 1);
    assert_false(codec_buf_ok(&b));
    codec_buf_reset(&b);
    codec_buf_start_message(&b, 'Q');
    codec_buf_start_message(&b, 'Q');
    assert_false(codec_buf_ok(&b));
    codec_buf_reset(&b);
    codec_buf_start_message(&b, 'Q');
    assert_false(codec_buf_ok(&b));
    codec_buf_reset(&b);
    codec_put_error(&b, "ERROR", "123", "bad sqlstate", NULL, NULL);
    assert_false(codec_buf_ok(&b));
    codec_buf_reset(&b);
    codec_put_ready(&b, 'x');
    assert_false(codec_buf_ok(&b));
    codec_buf_reset(&b);
    codec_put_parameter_status(&b, "a", NULL);
    assert_false(codec_buf_ok(&b));
    codec_buf_free(&b);
}

static void test_type_name(void **state)
{
    (void)state;
    assert_string_equal(codec_type_name('Q', false), "Query");
    assert_string_equal(codec_type_name('D', false), "Describe");
    assert_string_equal(codec_type_name('D', true), "DataRow");
    assert_string_equal(codec_type_name('E', true), "ErrorResponse");
    assert_string_equal(codec_type_name('E', false), "Execute");
    assert_string_equal(codec_type_name('~', false), "unknown");
    assert_string_equal(codec_type_name(0xff, true), "unknown");
}

/* ---- Fuzz ------------------------------------------------------------- */

/* xorshift32: a fixed, portable sequence. */
static uint32_t next_random(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Random bytes into every parser, raw and with a well-formed header in front. */
static void test_fuzz(void **state)
{
    (void)state;
    uint32_t seed = 0x2545f491;
    size_t accepted[ARRAY_LEN(readers)] = {0};
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = next_random(&seed) % 65;
        uint8_t *m = xmalloc(n ? n : 1);
        for (size_t i = 0; i < n; i++)
            m[i] = (uint8_t)next_random(&seed);
        /* Bias towards small numbers so counts and lengths sometimes fit. */
        if (n > 0 && next_random(&seed) % 2)
            for (size_t i = 0; i < n; i++)
                m[i] = m[i] % 4 == 0 ? 0 : m[i] % 8 == 1 ? 1 : m[i];
        size_t r = iter % ARRAY_LEN(readers);
        if (n >= 5 && iter % 3 != 0) {
            m[0] = readers[r].type;
            put_be32(m + 1, (uint32_t)(n - 1));
        }
        CodecError err = {""};
        for (size_t i = 0; i < ARRAY_LEN(readers); i++) {
            err.msg[0] = 0;
            if (readers[i].read(m, n, &err) == CODEC_ERROR)
                assert_true(err.msg[0] != 0);
            else
                accepted[i]++;
        }
        CodecHeader h;
        CodecStartup s;
        CodecStatus st = codec_header(m, n, MAX_LEN, &h, &err);
        assert_true(st == CODEC_OK || st == CODEC_NEED_MORE || st == CODEC_ERROR);
        if (n >= 8 && iter % 2) {
            put_be32(m, (uint32_t)n);
            if (iter % 4 == 1)
                put_be32(m + 4, CODEC_PROTOCOL_3_0);
        }
        st = codec_startup_header(m, n, MAX_LEN, &s, &err);
        if (st == CODEC_OK && s.kind == CODEC_STARTUP_MESSAGE)
            assert_true(s.user >= (const char *)m && s.user < (const char *)m + n);
        free(m);
    }
    assert_true(accepted[0] + accepted[2] + accepted[7] > 0);
}

/* Valid messages with a few bytes changed and the length kept consistent: deep paths. */
static void test_fuzz_mutations(void **state)
{
    (void)state;
    uint32_t seed = 0x9e3779b9;
    size_t accepted = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t r = iter % ARRAY_LEN(readers);
        uint8_t body[96];
        size_t blen = readers[r].blen;
        assert_true(blen <= sizeof body);
        memcpy(body, readers[r].body, blen);
        for (uint32_t k = next_random(&seed) % 3 + 1; k > 0 && blen > 0; k--) {
            uint32_t x = next_random(&seed);
            body[x % blen] = (uint8_t)(x >> 8 & 1 ? x >> 16 : x >> 16 & 3);
        }
        if (next_random(&seed) % 4 == 0)
            blen = next_random(&seed) % (blen + 1);
        size_t len;
        uint8_t *m = frame(readers[r].type, body, blen, 0, &len);
        CodecError err = {""};
        if (readers[r].read(m, len, &err) == CODEC_OK)
            accepted++;
        else
            assert_true(err.msg[0] != 0);
        free(m);
    }
    assert_true(accepted > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_need_more),
        cmocka_unit_test(test_header_lengths),
        cmocka_unit_test(test_startup_need_more),
        cmocka_unit_test(test_startup_cases),
        cmocka_unit_test(test_startup_limits),
        cmocka_unit_test(test_error_v2),
        cmocka_unit_test(test_startup_fields),
        cmocka_unit_test(test_readers_valid),
        cmocka_unit_test(test_readers_truncated),
        cmocka_unit_test(test_read_query),
        cmocka_unit_test(test_read_parse_execute_target),
        cmocka_unit_test(test_read_bind),
        cmocka_unit_test(test_read_server_messages),
        cmocka_unit_test(test_sasl),
        cmocka_unit_test(test_builder_bytes),
        cmocka_unit_test(test_builder_round_trip),
        cmocka_unit_test(test_builder_sticky),
        cmocka_unit_test(test_type_name),
        cmocka_unit_test(test_fuzz),
        cmocka_unit_test(test_fuzz_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
