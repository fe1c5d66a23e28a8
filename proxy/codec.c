/*
 * The PostgreSQL protocol v3 codec (see codec.h): framing, readers that check
 * every count and length against the message before trusting it, and the
 * sticky-error message builder. No I/O and no allocation except CodecBuf's.
 */
#include "proxy/codec.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

static void set_error(CodecError *err, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* Formats the reason into err (when given). */
static void set_error(CodecError *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

/* Big-endian 16-bit integer at p. */
static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Big-endian 32-bit integer at p. */
static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* ---- Framing ---------------------------------------------------------- */

CodecStatus codec_header(const uint8_t *data, size_t len, uint32_t max_len, CodecHeader *out,
                         CodecError *err)
{
    memset(out, 0, sizeof *out);
    out->size = CODEC_HEADER_LEN;
    if (len < CODEC_HEADER_LEN)
        return CODEC_NEED_MORE;
    out->type = data[0];
    out->length = get_u32(data + 1);
    if ((int32_t)out->length < 4) {
        set_error(err, "invalid message length %" PRId32 " for message type 0x%02x",
                  (int32_t)out->length, data[0]);
        return CODEC_ERROR;
    }
    if (out->length > max_len) {
        set_error(err, "message too large: %" PRIu32 " bytes, the maximum is %" PRIu32, out->length,
                  max_len);
        return CODEC_ERROR;
    }
    out->size = 1 + (size_t)out->length;
    return CODEC_OK;
}

/* PostgreSQL's answers to malformed startup packets (ProcessStartupPacket in its postmaster). */
#define SQLSTATE_PROTOCOL_VIOLATION "08P01"
#define SQLSTATE_NOT_SUPPORTED      "0A000"
#define SQLSTATE_NO_AUTHORIZATION   "28000"

/* Refuses a startup packet as PostgreSQL does: with sqlstate, or (NULL) a silent close. */
static CodecStatus startup_refuse(CodecStartup *out, const char *sqlstate)
{
    out->sqlstate = sqlstate;
    return CODEC_ERROR;
}

/*
 * Splits a StartupMessage's body data[8 .. length) into out->params. Like
 * PostgreSQL, any flaw in the layout is one error: the terminator must be the
 * last byte.
 */
static CodecStatus parse_startup_params(const uint8_t *data, size_t length, CodecStartup *out,
                                        CodecError *err)
{
    size_t pos = CODEC_STARTUP_HEADER_LEN;
    while (pos < length && data[pos] != 0) {
        const char *name = (const char *)data + pos;
        const uint8_t *nul = memchr(data + pos, 0, length - pos);
        if (!nul)
            break; /* the name runs past the end */
        size_t value_pos = (size_t)(nul - data) + 1;
        nul = value_pos < length ? memchr(data + value_pos, 0, length - value_pos) : NULL;
        if (!nul) {
            pos = length; /* no value, or one that runs past the end */
            break;
        }
        if (out->nparams == CODEC_MAX_STARTUP_PARAMS) {
            set_error(err, "too many parameters in the startup packet (at most %d)",
                      CODEC_MAX_STARTUP_PARAMS);
            return startup_refuse(out, SQLSTATE_PROTOCOL_VIOLATION);
        }
        const char *value = (const char *)data + value_pos;
        out->params[out->nparams++] = (CodecParam){name, value};
        if (strcmp(name, "user") == 0)
            out->user = value;
        else if (strcmp(name, "database") == 0)
            out->database = value;
        pos = (size_t)(nul - data) + 1;
    }
    if (pos + 1 != length) {
        set_error(err, "invalid startup packet layout: expected terminator as last byte");
        return startup_refuse(out, SQLSTATE_PROTOCOL_VIOLATION);
    }
    if (!out->user || !*out->user) {
        set_error(err, "no PostgreSQL user name specified in startup packet");
        return startup_refuse(out, SQLSTATE_NO_AUTHORIZATION);
    }
    return CODEC_OK;
}

/* A protocol version (or request code) PostgreSQL 3.0 to 3.x does not speak. */
static CodecStatus startup_unsupported(CodecStartup *out, CodecError *err)
{
    set_error(err,
              "unsupported frontend protocol %" PRIu32 ".%" PRIu32 ": server supports 3.0 to 3.0",
              out->version >> 16, out->version & 0xffff);
    return startup_refuse(out, SQLSTATE_NOT_SUPPORTED);
}

CodecStatus codec_startup_repeated(CodecStartup *out, CodecError *err)
{
    return startup_unsupported(out, err);
}

bool codec_startup_v2(const CodecStartup *su)
{
    return su->version >> 16 < 3;
}

CodecStatus codec_startup_header(const uint8_t *data, size_t len, uint32_t max_len,
                                 CodecStartup *out, CodecError *err)
{
    memset(out, 0, sizeof *out);
    out->size = CODEC_STARTUP_HEADER_LEN;
    if (len < 4)
        return CODEC_NEED_MORE;
    uint32_t length = get_u32(data);
    /* PostgreSQL logs these and closes without an answer; so does a typed message here. */
    if ((int32_t)length < CODEC_STARTUP_HEADER_LEN) {
        set_error(err, "invalid length of startup packet: %" PRId32, (int32_t)length);
        return startup_refuse(out, NULL);
    }
    if (length > max_len) {
        set_error(err,
                  "invalid length of startup packet: %" PRIu32 " bytes, the maximum is %" PRIu32,
                  length, max_len);
        return startup_refuse(out, NULL);
    }
    out->size = length;
    if (len < length)
        return CODEC_NEED_MORE;

    out->version = get_u32(data + 4);
    switch (out->version) {
    case CODEC_SSL_REQUEST:
    case CODEC_GSSENC_REQUEST:
        /* Any bytes after the code are part of the request, as PostgreSQL reads it. */
        out->kind = out->version == CODEC_SSL_REQUEST ? CODEC_STARTUP_SSL : CODEC_STARTUP_GSSENC;
        return CODEC_OK;
    case CODEC_CANCEL_REQUEST:
        out->kind = CODEC_STARTUP_CANCEL;
        if (length != CODEC_CANCEL_REQUEST_LEN) {
            set_error(err,
                      "invalid length of startup packet: a CancelRequest of %" PRIu32
                      " bytes, expected %d",
                      length, CODEC_CANCEL_REQUEST_LEN);
            return startup_refuse(out, NULL);
        }
        out->cancel_pid = get_u32(data + 8);
        out->cancel_key = get_u32(data + 12);
        return CODEC_OK;
    default:
        break;
    }
    if (out->version >> 16 != 3)
        return startup_unsupported(out, err);
    out->kind = CODEC_STARTUP_MESSAGE;
    out->minor = (uint16_t)(out->version & 0xffff);
    return parse_startup_params(data, length, out, err);
}

/* ---- Readers ---------------------------------------------------------- */

/* A read position in one message's body; every read is bounds-checked. */
typedef struct Cursor {
    const uint8_t *body;
    size_t len;
    size_t pos;
    const char *what; /* the message's name, prefixing errors */
    CodecError *err;
} Cursor;

/* Checks msg is one whole message of type `type` and points c at its body. */
static bool MUST_CHECK open_message(Cursor *c, const uint8_t *msg, size_t len, uint8_t type,
                                    const char *what, CodecError *err)
{
    *c = (Cursor){.what = what, .err = err};
    if (len < CODEC_HEADER_LEN) {
        set_error(err, "%s: %zu bytes is shorter than a message header", what, len);
        return false;
    }
    if (msg[0] != type) {
        set_error(err, "%s: message type is 0x%02x, expected '%c'", what, msg[0], type);
        return false;
    }
    uint32_t length = get_u32(msg + 1);
    if (length != len - 1) {
        set_error(err, "%s: length field says %" PRIu32 " but the message has %zu bytes", what,
                  length, len - 1);
        return false;
    }
    c->body = msg + CODEC_HEADER_LEN;
    c->len = len - CODEC_HEADER_LEN;
    return true;
}

/* Reads a NUL-terminated string (named `field` in errors). */
static bool MUST_CHECK read_string(Cursor *c, const char *field, const char **out)
{
    const uint8_t *nul = c->pos < c->len ? memchr(c->body + c->pos, 0, c->len - c->pos) : NULL;
    if (!nul) {
        set_error(c->err, "%s: the %s runs past the end of the message", c->what, field);
        return false;
    }
    *out = (const char *)c->body + c->pos;
    c->pos = (size_t)(nul - c->body) + 1;
    return true;
}

/* Reads n raw bytes. */
static bool MUST_CHECK read_bytes(Cursor *c, const char *field, size_t n, const uint8_t **out)
{
    if (n > c->len - c->pos) {
        set_error(c->err, "%s: the message ends inside the %s", c->what, field);
        return false;
    }
    *out = c->body + c->pos;
    c->pos += n;
    return true;
}

/* Reads a big-endian uint16. */
static bool MUST_CHECK read_u16(Cursor *c, const char *field, uint16_t *out)
{
    const uint8_t *p;
    if (!read_bytes(c, field, 2, &p))
        return false;
    *out = get_u16(p);
    return true;
}

/* Reads a big-endian uint32. */
static bool MUST_CHECK read_u32(Cursor *c, const char *field, uint32_t *out)
{
    const uint8_t *p;
    if (!read_bytes(c, field, 4, &p))
        return false;
    *out = get_u32(p);
    return true;
}

/* Reads an int16 count that must not be negative. */
static bool MUST_CHECK read_count(Cursor *c, const char *field, uint16_t *out)
{
    if (!read_u16(c, field, out))
        return false;
    if (*out > INT16_MAX) {
        set_error(c->err, "%s: negative %s %d", c->what, field, (int16_t)*out);
        return false;
    }
    return true;
}

/* Checks that the whole body was consumed. */
static bool MUST_CHECK at_end(Cursor *c)
{
    if (c->pos != c->len) {
        set_error(c->err, "%s: %zu unexpected bytes at the end of the message", c->what,
                  c->len - c->pos);
        return false;
    }
    return true;
}

/* Checks n format codes at p are 0 (text) or 1 (binary). */
static bool MUST_CHECK check_formats(Cursor *c, const char *field, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint16_t f = get_u16(p + 2 * i);
        if (f > 1) {
            set_error(c->err, "%s: unsupported %s %d", c->what, field, (int16_t)f);
            return false;
        }
    }
    return true;
}

/* Steps over Bind parameter value i of n: an int32 length (-1 for NULL) and its bytes. */
static bool MUST_CHECK skip_bind_value(Cursor *c, unsigned i, unsigned n)
{
    int32_t vlen = c->len - c->pos >= 4 ? (int32_t)get_u32(c->body + c->pos) : 0;
    if (vlen < -1) {
        set_error(c->err, "Bind: parameter %u has invalid length %" PRId32, i + 1, vlen);
        return false;
    }
    if (c->len - c->pos < 4 || (vlen > 0 && (size_t)vlen > c->len - c->pos - 4)) {
        set_error(c->err, "Bind: %u parameter values declared but the message ends after %u", n, i);
        return false;
    }
    c->pos += 4 + (vlen > 0 ? (size_t)vlen : 0);
    return true;
}

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        if (!(expr))                                                                               \
            return CODEC_ERROR;                                                                    \
    } while (0)

CodecStatus codec_read_query(const uint8_t *msg, size_t len, CodecQuery *out, CodecError *err)
{
    Cursor c;
    memset(out, 0, sizeof *out);
    CHECK(open_message(&c, msg, len, 'Q', "Query", err));
    CHECK(read_string(&c, "query string", &out->sql));
    CHECK(at_end(&c));
    out->sql_len = c.len - 1;
    return CODEC_OK;
}

CodecStatus codec_read_parse(const uint8_t *msg, size_t len, CodecParse *out, CodecError *err)
{
    Cursor c;
    memset(out, 0, sizeof *out);
    CHECK(open_message(&c, msg, len, 'P', "Parse", err));
    CHECK(read_string(&c, "statement name", &out->name));
    CHECK(read_string(&c, "query string", &out->query));
    CHECK(read_count(&c, "parameter type count", &out->nparam_types));
    CHECK(read_bytes(&c, "parameter types", 4 * (size_t)out->nparam_types, &out->param_types));
    CHECK(at_end(&c));
    return CODEC_OK;
}

CodecStatus codec_read_bind(const uint8_t *msg, size_t len, CodecBind *out, CodecError *err)
{
    Cursor c;
    memset(out, 0, sizeof *out);
    CHECK(open_message(&c, msg, len, 'B', "Bind", err));
    CHECK(read_string(&c, "portal name", &out->portal));
    CHECK(read_string(&c, "statement name", &out->statement));
    CHECK(read_count(&c, "parameter format count", &out->nparam_formats));
    CHECK(read_bytes(&c, "parameter format codes", 2 * (size_t)out->nparam_formats,
                     &out->param_formats));
    CHECK(check_formats(&c, "parameter format", out->param_formats, out->nparam_formats));
    CHECK(read_count(&c, "parameter count", &out->nparams));
    if (out->nparam_formats > 1 && out->nparam_formats != out->nparams) {
        set_error(err, "Bind: %u parameter formats for %u parameters", out->nparam_formats,
                  out->nparams);
        return CODEC_ERROR;
    }
    out->values = c.body + c.pos;
    for (unsigned i = 0; i < out->nparams; i++)
        CHECK(skip_bind_value(&c, i, out->nparams));
    CHECK(read_count(&c, "result format count", &out->nresult_formats));
    CHECK(read_bytes(&c, "result format codes", 2 * (size_t)out->nresult_formats,
                     &out->result_formats));
    CHECK(check_formats(&c, "result format", out->result_formats, out->nresult_formats));
    CHECK(at_end(&c));
    return CODEC_OK;
}

CodecStatus codec_read_execute(const uint8_t *msg, size_t len, CodecExecute *out, CodecError *err)
{
    Cursor c;
    uint32_t rows;
    memset(out, 0, sizeof *out);
    CHECK(open_message(&c, msg, len, 'E', "Execute", err));
    CHECK(read_string(&c, "portal name", &out->portal));
    CHECK(read_u32(&c, "row limit", &rows));
    CHECK(at_end(&c));
    out->max_rows = (int32_t)rows;
    return CODEC_OK;
}

/* Describe and Close: a kind byte ('S' or 'P') and a name. */
static CodecStatus read_target(const uint8_t *msg, size_t len, uint8_t type, const char *what,
                               CodecTarget *out, CodecError *err)
{
    Cursor c;
    const uint8_t *kind;
    memset(out, 0, sizeof *out);
    CHECK(open_message(&c, msg, len, type, what, err));
    CHECK(read_bytes(&c, "kind", 1, &kind));
    if (*kind != 'S' && *kind != 'P') {
        set_error(err, "%s: invalid kind 0x%02x, expected 'S' or 'P'", what, *kind);
        return CODEC_ERROR;
    }
    out->kind = (char)*kind;
    CHECK(read_string(&c, "name", &out->name));
    CHECK(at_end(&c));
    return CODEC_OK;
}

CodecStatus codec_read_describe(const uint8_t *msg, size_t len, CodecTarget *out, CodecError *err)
{
    return read_target(msg, len, 'D', "Describe", out, err);
}

CodecStatus codec_read_close(const uint8_t *msg, size_t len, CodecTarget *out, CodecError *err)
{
    return read_target(msg, len, 'C', "Close", out, err);
}

CodecStatus codec_read_password(const uint8_t *msg, size_t len, CodecPassword *out, CodecError *err)
{
    Cursor c;
    memset(out, 0, sizeof *out);
    CHECK(open_message(&c, msg, len, 'p', "PasswordMessage", err));
    out->data = c.body;
    out->len = c.len;
    return CODEC_OK;
}

CodecStatus codec_read_notice(const uint8_t *msg, size_t len, CodecNotice *out, CodecError *err)
{
    Cursor c;
    memset(out, 0, sizeof *out);
    bool is_error = len > 0 && msg[0] == 'E';
    CHECK(open_message(&c, msg, len, is_error ? 'E' : 'N',
                       is_error ? "ErrorResponse" : "NoticeResponse", err));
    out->fields = c.body;
    out->fields_len = c.len;
    for (;;) {
        const uint8_t *code;
        const char *value;
        CHECK(read_bytes(&c, "field list", 1, &code));
        if (*code == 0)
            break;
        CHECK(read_string(&c, "field value", &value));
        const char **slot = *code == 'S'   ? &out->severity
                            : *code == 'V' ? &out->severity_nl
                            : *code == 'C' ? &out->sqlstate
                            : *code == 'M' ? &out->message
                            : *code == 'D' ? &out->detail
                            : *code == 'H' ? &out->hint
                            : *code == 'P' ? &out->position
                                           : NULL;
        if (slot)
            *slot = value;
    }
    CHECK(at_end(&c));
    return CODEC_OK;
}

const char *codec_notice_field(const CodecNotice *n, char code)
{
    const char *found = NULL;
    size_t pos = 0;
    /* The reader validated the layout: code, string, ..., 0. */
    while (pos < n->fields_len && n->fields[pos] != 0) {
        const char *value = (const char *)n->fields + pos + 1;
        if (n->fields[pos] == (uint8_t)code)
            found = value;
        pos += 2 + strlen(value);
    }
    return found;
}

CodecStatus codec_read_ready(const uint8_t *msg, size_t len, char *status, CodecError *err)
{
    Cursor c;
    const uint8_t *s;
    *status = 0;
    CHECK(open_message(&c, msg, len, 'Z', "ReadyForQuery", err));
    CHECK(read_bytes(&c, "status", 1, &s));
    CHECK(at_end(&c));
    if (*s != 'I' && *s != 'T' && *s != 'E') {
        set_error(err, "ReadyForQuery: invalid status 0x%02x", *s);
        return CODEC_ERROR;
    }
    *status = (char)*s;
    return CODEC_OK;
}

CodecStatus codec_read_parameter_status(const uint8_t *msg, size_t len, CodecParameterStatus *out,
                                        CodecError *err)
{
    Cursor c;
    memset(out, 0, sizeof *out);
    CHECK(open_message(&c, msg, len, 'S', "ParameterStatus", err));
    CHECK(read_string(&c, "parameter name", &out->name));
    CHECK(read_string(&c, "parameter value", &out->value));
    CHECK(at_end(&c));
    return CODEC_OK;
}

CodecStatus codec_read_backend_key(const uint8_t *msg, size_t len, CodecBackendKey *out,
                                   CodecError *err)
{
    Cursor c;
    memset(out, 0, sizeof *out);
    CHECK(open_message(&c, msg, len, 'K', "BackendKeyData", err));
    CHECK(read_u32(&c, "process ID", &out->pid));
    out->key = c.body + c.pos;
    out->key_len = c.len - c.pos;
    if (out->key_len < 4 || out->key_len > 256) {
        set_error(err, "BackendKeyData: secret key of %zu bytes, expected 4 to 256", out->key_len);
        return CODEC_ERROR;
    }
    return CODEC_OK;
}

CodecStatus codec_read_auth(const uint8_t *msg, size_t len, CodecAuth *out, CodecError *err)
{
    Cursor c;
    uint32_t code;
    memset(out, 0, sizeof *out);
    CHECK(open_message(&c, msg, len, 'R', "Authentication", err));
    CHECK(read_u32(&c, "code", &code));
    out->code = (int32_t)code;
    out->payload = c.body + c.pos;
    out->payload_len = c.len - c.pos;
    if ((code == CODEC_AUTH_OK || code == CODEC_AUTH_CLEARTEXT) && out->payload_len != 0) {
        set_error(err, "Authentication: %zu unexpected bytes after code %" PRIu32, out->payload_len,
                  code);
        return CODEC_ERROR;
    }
    if (code == CODEC_AUTH_MD5 && out->payload_len != 4) {
        set_error(err, "Authentication: MD5 salt of %zu bytes, expected 4", out->payload_len);
        return CODEC_ERROR;
    }
    if (code != CODEC_AUTH_SASL)
        return CODEC_OK;
    /* A list of mechanism names, ended by an empty one. */
    c.what = "AuthenticationSASL";
    for (;;) {
        const char *mech;
        CHECK(read_string(&c, "mechanism list", &mech));
        if (!*mech)
            break;
        if (out->nmechs == CODEC_MAX_SASL_MECHS) {
            set_error(err, "AuthenticationSASL: more than %d mechanisms", CODEC_MAX_SASL_MECHS);
            return CODEC_ERROR;
        }
        out->mechs[out->nmechs++] = mech;
    }
    CHECK(at_end(&c));
    return CODEC_OK;
}

uint32_t codec_parse_param_type(const CodecParse *p, size_t i)
{
    return i < p->nparam_types ? get_u32(p->param_types + 4 * i) : 0;
}

int16_t codec_bind_param_format(const CodecBind *b, size_t i)
{
    if (b->nparam_formats == 0)
        return 0;
    if (b->nparam_formats == 1)
        return (int16_t)get_u16(b->param_formats);
    return i < b->nparam_formats ? (int16_t)get_u16(b->param_formats + 2 * i) : 0;
}

int16_t codec_bind_result_format(const CodecBind *b, size_t i)
{
    if (b->nresult_formats == 0)
        return 0;
    if (b->nresult_formats == 1)
        return (int16_t)get_u16(b->result_formats);
    return i < b->nresult_formats ? (int16_t)get_u16(b->result_formats + 2 * i) : 0;
}

void codec_bind_values(const CodecBind *b, CodecValue *values)
{
    const uint8_t *p = b->values; /* validated by codec_read_bind */
    for (size_t i = 0; i < b->nparams; i++) {
        int32_t vlen = (int32_t)get_u32(p);
        p += 4;
        values[i] = (CodecValue){vlen < 0 ? NULL : p, vlen < 0 ? -1 : vlen};
        if (vlen > 0)
            p += vlen;
    }
}

/* ---- Builder ---------------------------------------------------------- */

void codec_buf_init(CodecBuf *b, size_t max)
{
    *b = (CodecBuf){.max = max};
}

void codec_buf_reset(CodecBuf *b)
{
    b->len = 0;
    b->in_message = false;
    b->failed = false;
}

void codec_buf_free(CodecBuf *b)
{
    free(b->data);
    *b = (CodecBuf){.max = b->max};
}

bool codec_buf_ok(const CodecBuf *b)
{
    return !b->failed && !b->in_message;
}

/* Makes room for n more bytes inside an open message; false (and failed) if it cannot. */
static bool MUST_CHECK buf_room(CodecBuf *b, size_t n)
{
    if (b->failed)
        return false;
    if (!b->in_message || n > b->max - b->len || b->len + n - b->msg_start - 1 > INT32_MAX) {
        b->failed = true;
        return false;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        if (cap > b->max)
            cap = b->max;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
    return true;
}

void codec_buf_start_message(CodecBuf *b, uint8_t type)
{
    if (b->failed)
        return;
    if (b->in_message) {
        b->failed = true;
        return;
    }
    b->in_message = true;
    b->msg_start = b->len;
    if (!buf_room(b, 5))
        return;
    b->data[b->len] = type;
    memset(b->data + b->len + 1, 0, 4); /* the length, filled in by finish */
    b->len += 5;
}

void codec_buf_put_bytes(CodecBuf *b, const void *p, size_t n)
{
    if (!buf_room(b, n))
        return;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
}

void codec_buf_put_byte(CodecBuf *b, uint8_t v)
{
    codec_buf_put_bytes(b, &v, 1);
}

void codec_buf_put_int16(CodecBuf *b, int16_t v)
{
    uint16_t u = (uint16_t)v;
    uint8_t be[2] = {(uint8_t)(u >> 8), (uint8_t)u};
    codec_buf_put_bytes(b, be, 2);
}

void codec_buf_put_int32(CodecBuf *b, int32_t v)
{
    uint32_t u = (uint32_t)v;
    uint8_t be[4] = {(uint8_t)(u >> 24), (uint8_t)(u >> 16), (uint8_t)(u >> 8), (uint8_t)u};
    codec_buf_put_bytes(b, be, 4);
}

void codec_buf_put_string(CodecBuf *b, const char *s)
{
    if (!s) {
        b->failed = true;
        return;
    }
    codec_buf_put_bytes(b, s, strlen(s) + 1);
}

void codec_buf_finish_message(CodecBuf *b)
{
    if (b->failed)
        return;
    if (!b->in_message) {
        b->failed = true;
        return;
    }
    uint32_t length = (uint32_t)(b->len - b->msg_start - 1);
    uint8_t *p = b->data + b->msg_start + 1;
    p[0] = (uint8_t)(length >> 24);
    p[1] = (uint8_t)(length >> 16);
    p[2] = (uint8_t)(length >> 8);
    p[3] = (uint8_t)length;
    b->in_message = false;
}

/* A message with no body. */
static void put_empty(CodecBuf *b, uint8_t type)
{
    codec_buf_start_message(b, type);
    codec_buf_finish_message(b);
}

/* ErrorResponse or NoticeResponse. */
static void put_notice(CodecBuf *b, uint8_t type, const char *severity, const char *sqlstate,
                       const char *message, const char *detail, const char *hint)
{
    if (!severity || !sqlstate || strlen(sqlstate) != 5 || !message) {
        b->failed = true;
        return;
    }
    codec_buf_start_message(b, type);
    codec_buf_put_byte(b, 'S');
    codec_buf_put_string(b, severity);
    codec_buf_put_byte(b, 'V');
    codec_buf_put_string(b, severity);
    codec_buf_put_byte(b, 'C');
    codec_buf_put_string(b, sqlstate);
    codec_buf_put_byte(b, 'M');
    codec_buf_put_string(b, message);
    if (detail) {
        codec_buf_put_byte(b, 'D');
        codec_buf_put_string(b, detail);
    }
    if (hint) {
        codec_buf_put_byte(b, 'H');
        codec_buf_put_string(b, hint);
    }
    codec_buf_put_byte(b, 0);
    codec_buf_finish_message(b);
}

void codec_put_error(CodecBuf *b, const char *severity, const char *sqlstate, const char *message,
                     const char *detail, const char *hint)
{
    put_notice(b, 'E', severity, sqlstate, message, detail, hint);
}

void codec_put_notice(CodecBuf *b, const char *severity, const char *sqlstate, const char *message,
                      const char *detail, const char *hint)
{
    put_notice(b, 'N', severity, sqlstate, message, detail, hint);
}

void codec_put_error_v2(CodecBuf *b, const char *severity, const char *message)
{
    if (!severity || !message) {
        b->failed = true;
        return;
    }
    size_t start = b->len;
    codec_buf_start_message(b, 'E');
    codec_buf_put_bytes(b, severity, strlen(severity));
    codec_buf_put_bytes(b, ":  ", 3);
    codec_buf_put_bytes(b, message, strlen(message));
    codec_buf_put_string(b, "\n");
    if (b->failed)
        return;
    /* Built as a protocol 3 message, then without its length word. */
    b->in_message = false;
    memmove(b->data + start + 1, b->data + start + 5, b->len - start - 5);
    b->len -= 4;
}

void codec_put_ready(CodecBuf *b, char status)
{
    if (status != 'I' && status != 'T' && status != 'E') {
        b->failed = true;
        return;
    }
    codec_buf_start_message(b, 'Z');
    codec_buf_put_byte(b, (uint8_t)status);
    codec_buf_finish_message(b);
}

void codec_put_parameter_status(CodecBuf *b, const char *name, const char *value)
{
    codec_buf_start_message(b, 'S');
    codec_buf_put_string(b, name);
    codec_buf_put_string(b, value);
    codec_buf_finish_message(b);
}

void codec_put_row_description(CodecBuf *b, const CodecColumn *cols, size_t n)
{
    if (n > INT16_MAX) {
        b->failed = true;
        return;
    }
    codec_buf_start_message(b, 'T');
    codec_buf_put_int16(b, (int16_t)n);
    for (size_t i = 0; i < n; i++) {
        codec_buf_put_string(b, cols[i].name);
        codec_buf_put_int32(b, 0); /* table OID */
        codec_buf_put_int16(b, 0); /* column number */
        codec_buf_put_int32(b, (int32_t)cols[i].type_oid);
        codec_buf_put_int16(b, cols[i].type_size);
        codec_buf_put_int32(b, -1); /* typmod */
        codec_buf_put_int16(b, cols[i].format);
    }
    codec_buf_finish_message(b);
}

void codec_put_data_row(CodecBuf *b, const CodecValue *values, size_t n)
{
    if (n > INT16_MAX) {
        b->failed = true;
        return;
    }
    codec_buf_start_message(b, 'D');
    codec_buf_put_int16(b, (int16_t)n);
    for (size_t i = 0; i < n; i++) {
        if (!values[i].data || values[i].len < 0) {
            codec_buf_put_int32(b, -1);
            continue;
        }
        codec_buf_put_int32(b, values[i].len);
        codec_buf_put_bytes(b, values[i].data, (size_t)values[i].len);
    }
    codec_buf_finish_message(b);
}

void codec_put_command_complete(CodecBuf *b, const char *tag)
{
    codec_buf_start_message(b, 'C');
    codec_buf_put_string(b, tag);
    codec_buf_finish_message(b);
}

void codec_put_empty_query(CodecBuf *b)
{
    put_empty(b, 'I');
}

void codec_put_parse_complete(CodecBuf *b)
{
    put_empty(b, '1');
}

void codec_put_bind_complete(CodecBuf *b)
{
    put_empty(b, '2');
}

void codec_put_close_complete(CodecBuf *b)
{
    put_empty(b, '3');
}

void codec_put_no_data(CodecBuf *b)
{
    put_empty(b, 'n');
}

void codec_put_portal_suspended(CodecBuf *b)
{
    put_empty(b, 's');
}

void codec_put_auth_ok(CodecBuf *b)
{
    codec_buf_start_message(b, 'R');
    codec_buf_put_int32(b, CODEC_AUTH_OK);
    codec_buf_finish_message(b);
}

void codec_put_negotiate_version(CodecBuf *b, uint16_t minor, const char *const *unsupported,
                                 size_t n)
{
    if (n > INT32_MAX) {
        b->failed = true;
        return;
    }
    codec_buf_start_message(b, 'v');
    codec_buf_put_int32(b, (int32_t)(CODEC_PROTOCOL_3_0 | minor));
    codec_buf_put_int32(b, (int32_t)n);
    for (size_t i = 0; i < n; i++)
        codec_buf_put_string(b, unsupported[i]);
    codec_buf_finish_message(b);
}

CodecStatus codec_sasl_strip_plus(const uint8_t *msg, size_t len, CodecBuf *out, CodecError *err)
{
    CodecAuth auth;
    if (codec_read_auth(msg, len, &auth, err) != CODEC_OK)
        return CODEC_ERROR;
    if (auth.code != CODEC_AUTH_SASL) {
        set_error(err, "Authentication: code %" PRId32 " is not SASL", auth.code);
        return CODEC_ERROR;
    }
    size_t kept = 0;
    for (size_t i = 0; i < auth.nmechs; i++)
        kept += !str_ends_with(auth.mechs[i], "-PLUS");
    if (kept == 0) {
        set_error(err, "AuthenticationSASL: the server offers only channel-binding mechanisms");
        return CODEC_ERROR;
    }
    codec_buf_start_message(out, 'R');
    codec_buf_put_int32(out, CODEC_AUTH_SASL);
    for (size_t i = 0; i < auth.nmechs; i++)
        if (!str_ends_with(auth.mechs[i], "-PLUS"))
            codec_buf_put_string(out, auth.mechs[i]);
    codec_buf_put_byte(out, 0);
    codec_buf_finish_message(out);
    return CODEC_OK;
}

/* ---- Logging ---------------------------------------------------------- */

const char *codec_type_name(uint8_t type, bool from_server)
{
    static const char *const server[128] = {
        ['R'] = "Authentication",
        ['K'] = "BackendKeyData",
        ['1'] = "ParseComplete",
        ['2'] = "BindComplete",
        ['3'] = "CloseComplete",
        ['C'] = "CommandComplete",
        ['d'] = "CopyData",
        ['c'] = "CopyDone",
        ['G'] = "CopyInResponse",
        ['H'] = "CopyOutResponse",
        ['W'] = "CopyBothResponse",
        ['D'] = "DataRow",
        ['I'] = "EmptyQueryResponse",
        ['E'] = "ErrorResponse",
        ['V'] = "FunctionCallResponse",
        ['v'] = "NegotiateProtocolVersion",
        ['n'] = "NoData",
        ['N'] = "NoticeResponse",
        ['A'] = "NotificationResponse",
        ['t'] = "ParameterDescription",
        ['S'] = "ParameterStatus",
        ['s'] = "PortalSuspended",
        ['Z'] = "ReadyForQuery",
        ['T'] = "RowDescription",
    };
    static const char *const client[128] = {
        ['B'] = "Bind",         ['C'] = "Close",     ['d'] = "CopyData",        ['c'] = "CopyDone",
        ['f'] = "CopyFail",     ['D'] = "Describe",  ['E'] = "Execute",         ['H'] = "Flush",
        ['F'] = "FunctionCall", ['P'] = "Parse",     ['p'] = "PasswordMessage", ['Q'] = "Query",
        ['S'] = "Sync",         ['X'] = "Terminate",
    };
    const char *name = type < 128 ? (from_server ? server : client)[type] : NULL;
    return name ? name : "unknown";
}
