/*
 * The PostgreSQL protocol v3 codec: framing (where a message starts and ends),
 * readers for the few messages the gateway looks inside, and a builder for the
 * messages it sends itself. Pure: byte views in, structs or bytes out. No
 * sockets and no buffering policy; the relay decides what to keep and when.
 */
#ifndef DURO_PROXY_CODEC_H
#define DURO_PROXY_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/util.h"

#define CODEC_HEADER_LEN         5 /* type byte + int32 length */
#define CODEC_STARTUP_HEADER_LEN 8 /* int32 length + int32 code */
#define CODEC_MAX_STARTUP_PARAMS 64
/* PostgreSQL's MAX_STARTUP_PACKET_LENGTH (10000 bytes after the length word), with that word. */
#define CODEC_MAX_STARTUP_LEN 10004
#define CODEC_MAX_SASL_MECHS  16

#define CODEC_PROTOCOL_3_0       196608u /* 3 << 16 */
#define CODEC_CANCEL_REQUEST     80877102u
#define CODEC_SSL_REQUEST        80877103u
#define CODEC_GSSENC_REQUEST     80877104u
#define CODEC_CANCEL_REQUEST_LEN 16

/* Authentication ('R') codes the gateway cares about. */
#define CODEC_AUTH_OK            0
#define CODEC_AUTH_CLEARTEXT     3
#define CODEC_AUTH_MD5           5
#define CODEC_AUTH_SASL          10
#define CODEC_AUTH_SASL_CONTINUE 11
#define CODEC_AUTH_SASL_FINAL    12

typedef enum CodecStatus {
    CODEC_OK,
    CODEC_NEED_MORE, /* incomplete: call again when the view holds out->size bytes */
    CODEC_ERROR,     /* malformed: see CodecError; the connection should be dropped */
} CodecStatus;

/* Why a parse failed; every function taking one accepts NULL. */
typedef struct CodecError {
    char msg[256];
} CodecError;

/* A parameter value or a DataRow column: len -1 (data NULL) is SQL NULL. */
typedef struct CodecValue {
    const uint8_t *data;
    int32_t len;
} CodecValue;

/* ---- Framing ---------------------------------------------------------- */

typedef struct CodecHeader {
    uint8_t type;
    uint32_t length; /* the length field: itself + body */
    size_t size;     /* the whole message: 1 + length; on NEED_MORE, CODEC_HEADER_LEN */
} CodecHeader;

/*
 * Parses a regular message header from the first CODEC_HEADER_LEN bytes of
 * data; never reads more, so a large body can be streamed. NEED_MORE when
 * len < 5; ERROR when the length field is below 4 or above max_len.
 */
CodecStatus codec_header(const uint8_t *data, size_t len, uint32_t max_len, CodecHeader *out,
                         CodecError *err) MUST_CHECK;

typedef enum CodecStartupKind {
    CODEC_STARTUP_MESSAGE, /* answer: authentication, or NegotiateProtocolVersion if minor > 0 */
    CODEC_STARTUP_SSL,     /* answer: the single byte 'S' (then TLS) or 'N' */
    CODEC_STARTUP_GSSENC,  /* answer: the single byte 'G' or 'N' */
    CODEC_STARTUP_CANCEL,
} CodecStartupKind;

typedef struct CodecParam {
    const char *name; /* user, database, application_name, options, replication, _pq_.* ... */
    const char *value;
} CodecParam;

/* A startup-phase packet; strings point into the caller's buffer. */
typedef struct CodecStartup {
    CodecStartupKind kind;
    size_t size;          /* the whole packet (its length field); on NEED_MORE, bytes needed */
    uint16_t minor;       /* MESSAGE: requested minor version of protocol 3 */
    uint32_t cancel_pid;  /* CANCEL */
    uint32_t cancel_key;  /* CANCEL */
    const char *user;     /* MESSAGE: never NULL or empty */
    const char *database; /* MESSAGE: NULL when absent (PostgreSQL then uses user) */
    size_t nparams;
    CodecParam params[CODEC_MAX_STARTUP_PARAMS];
    uint32_t version; /* the packet's protocol version or request code (once known) */
    /*
     * On ERROR, what PostgreSQL's postmaster does with such a packet: NULL when
     * it closes the connection without a word (a bad length, a malformed
     * CancelRequest), else the SQLSTATE of the FATAL error it sends, in the
     * message format of protocol 2 when codec_startup_v2() says so.
     */
    const char *sqlstate;
} CodecStartup;

/*
 * Parses a startup-phase packet (no type byte). NEED_MORE until the whole
 * packet is there (out->size says how much that is); ERROR for a length below
 * 8 or above max_len (known from 4 bytes on), a protocol other than 3.x, an
 * unknown request code or a malformed StartupMessage, with PostgreSQL's answer
 * in out->sqlstate and its message in err.
 */
CodecStatus codec_startup_header(const uint8_t *data, size_t len, uint32_t max_len,
                                 CodecStartup *out, CodecError *err) MUST_CHECK;

/*
 * An SSLRequest or GSSENCRequest after the same request was answered (or over
 * TLS): PostgreSQL takes its code for a protocol version it does not support.
 * Sets out and err as codec_startup_header does for one; returns CODEC_ERROR.
 */
CodecStatus codec_startup_repeated(CodecStartup *out, CodecError *err);

/* True when an error about the packet goes in protocol 2's format (codec_put_error_v2). */
bool codec_startup_v2(const CodecStartup *su);

/* ---- Readers: each takes one complete message (type + length + body) ---- */

typedef struct CodecQuery { /* 'Q' */
    const char *sql;
    size_t sql_len;
} CodecQuery;

typedef struct CodecParse { /* 'P' */
    const char *name;       /* "" is the unnamed statement */
    const char *query;
    uint16_t nparam_types;
    const uint8_t *param_types; /* raw; use codec_parse_param_type() */
} CodecParse;

typedef struct CodecBind { /* 'B' */
    const char *portal;
    const char *statement;
    uint16_t nparam_formats; /* 0 (all text), 1 (all the same) or nparams */
    const uint8_t *param_formats;
    uint16_t nparams;
    const uint8_t *values; /* raw; use codec_bind_values() */
    uint16_t nresult_formats;
    const uint8_t *result_formats;
} CodecBind;

typedef struct CodecExecute { /* 'E' */
    const char *portal;
    int32_t max_rows; /* 0: no limit */
} CodecExecute;

typedef struct CodecTarget { /* 'D' Describe, 'C' Close */
    char kind;               /* 'S' statement or 'P' portal */
    const char *name;        /* "" is the unnamed one */
} CodecTarget;

typedef struct CodecPassword { /* 'p': password, SASLInitialResponse, SASLResponse, GSS */
    const uint8_t *data;
    size_t len;
} CodecPassword;

typedef struct CodecNotice { /* 'E' ErrorResponse, 'N' NoticeResponse; absent fields NULL */
    const char *severity;    /* S (localized) */
    const char *severity_nl; /* V (9.6+, never localized) */
    const char *sqlstate;    /* C */
    const char *message;     /* M */
    const char *detail;      /* D */
    const char *hint;        /* H */
    const char *position;    /* P */
    const uint8_t *fields;   /* raw, for codec_notice_field() */
    size_t fields_len;
} CodecNotice;

typedef struct CodecParameterStatus { /* 'S' */
    const char *name;
    const char *value;
} CodecParameterStatus;

typedef struct CodecBackendKey { /* 'K' */
    uint32_t pid;
    const uint8_t *key; /* 4 bytes up to protocol 3.1, up to 256 from 3.2 */
    size_t key_len;
} CodecBackendKey;

typedef struct CodecAuth { /* 'R' */
    int32_t code;
    const uint8_t *payload; /* after the code: MD5 salt, SASL data ... */
    size_t payload_len;
    size_t nmechs; /* code 10: the SASL mechanisms offered, in order */
    const char *mechs[CODEC_MAX_SASL_MECHS];
} CodecAuth;

CodecStatus codec_read_query(const uint8_t *msg, size_t len, CodecQuery *out,
                             CodecError *err) MUST_CHECK;
CodecStatus codec_read_parse(const uint8_t *msg, size_t len, CodecParse *out,
                             CodecError *err) MUST_CHECK;
CodecStatus codec_read_bind(const uint8_t *msg, size_t len, CodecBind *out,
                            CodecError *err) MUST_CHECK;
CodecStatus codec_read_execute(const uint8_t *msg, size_t len, CodecExecute *out,
                               CodecError *err) MUST_CHECK;
CodecStatus codec_read_describe(const uint8_t *msg, size_t len, CodecTarget *out,
                                CodecError *err) MUST_CHECK;
CodecStatus codec_read_close(const uint8_t *msg, size_t len, CodecTarget *out,
                             CodecError *err) MUST_CHECK;
CodecStatus codec_read_password(const uint8_t *msg, size_t len, CodecPassword *out,
                                CodecError *err) MUST_CHECK;
CodecStatus codec_read_notice(const uint8_t *msg, size_t len, CodecNotice *out,
                              CodecError *err) MUST_CHECK; /* 'E' or 'N' */
CodecStatus codec_read_ready(const uint8_t *msg, size_t len, char *status,
                             CodecError *err) MUST_CHECK; /* 'I', 'T' or 'E' */
CodecStatus codec_read_parameter_status(const uint8_t *msg, size_t len, CodecParameterStatus *out,
                                        CodecError *err) MUST_CHECK;
CodecStatus codec_read_backend_key(const uint8_t *msg, size_t len, CodecBackendKey *out,
                                   CodecError *err) MUST_CHECK;
CodecStatus codec_read_auth(const uint8_t *msg, size_t len, CodecAuth *out,
                            CodecError *err) MUST_CHECK;

/* Type OID of parameter i (< nparam_types) of a Parse; 0 means unspecified. */
uint32_t codec_parse_param_type(const CodecParse *p, size_t i);
/* Format (0 text, 1 binary) of parameter i of a Bind, applying the 0/1/n rule. */
int16_t codec_bind_param_format(const CodecBind *b, size_t i);
/* Format of result column i of a Bind (0 or 1 code: applies to all; else code i, 0 past the end).
 */
int16_t codec_bind_result_format(const CodecBind *b, size_t i);
/* Fills values[0 .. b->nparams) with pointers into the message; cannot fail. */
void codec_bind_values(const CodecBind *b, CodecValue *values);
/* Field `code` of an ErrorResponse/NoticeResponse (the last if repeated), or NULL. */
const char *codec_notice_field(const CodecNotice *n, char code);

/* ---- Builder: messages the gateway writes, with a sticky error flag ------ */

/*
 * Owns a growable byte array holding any number of whole messages. Any failure
 * (growing past max, put outside a message, finish without start, a bad
 * argument) sets failed and turns every later call into a no-op; check
 * codec_buf_ok() once before sending data[0 .. len).
 */
typedef struct CodecBuf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max;       /* cap on len */
    size_t msg_start; /* offset of the open message's type byte */
    bool in_message;
    bool failed;
} CodecBuf;

void codec_buf_init(CodecBuf *b, size_t max);
void codec_buf_reset(CodecBuf *b); /* empties b and clears the error, keeping the memory */
void codec_buf_free(CodecBuf *b);
/* True when nothing failed and no message is left open. */
bool codec_buf_ok(const CodecBuf *b) MUST_CHECK;

void codec_buf_start_message(CodecBuf *b, uint8_t type);
void codec_buf_put_byte(CodecBuf *b, uint8_t v);
void codec_buf_put_int16(CodecBuf *b, int16_t v);
void codec_buf_put_int32(CodecBuf *b, int32_t v);
void codec_buf_put_string(CodecBuf *b, const char *s); /* with its NUL */
void codec_buf_put_bytes(CodecBuf *b, const void *p, size_t n);
void codec_buf_finish_message(CodecBuf *b); /* fills in the length */

/* One column of a RowDescription: table OID and column number are sent as 0, typmod -1. */
typedef struct CodecColumn {
    const char *name;
    uint32_t type_oid;
    int16_t type_size; /* -1 for varlena */
    int16_t format;    /* 0 text, 1 binary */
} CodecColumn;

/* ErrorResponse with S and V = severity, C, M, and D, H when not NULL. */
void codec_put_error(CodecBuf *b, const char *severity, const char *sqlstate, const char *message,
                     const char *detail, const char *hint);
void codec_put_notice(CodecBuf *b, const char *severity, const char *sqlstate, const char *message,
                      const char *detail, const char *hint);
/*
 * A protocol-2 ErrorResponse, for a client that asked for protocol 2 in its
 * startup packet: 'E', then "SEVERITY:  message\n" with its NUL; no length word
 * and no fields.
 */
void codec_put_error_v2(CodecBuf *b, const char *severity, const char *message);
void codec_put_ready(CodecBuf *b, char status); /* 'I', 'T' or 'E' */
void codec_put_parameter_status(CodecBuf *b, const char *name, const char *value);
void codec_put_row_description(CodecBuf *b, const CodecColumn *cols, size_t n);
void codec_put_data_row(CodecBuf *b, const CodecValue *values, size_t n);
void codec_put_command_complete(CodecBuf *b, const char *tag); /* "SELECT 3", "CALL" */
void codec_put_empty_query(CodecBuf *b);
void codec_put_parse_complete(CodecBuf *b);
void codec_put_bind_complete(CodecBuf *b);
void codec_put_close_complete(CodecBuf *b);
void codec_put_no_data(CodecBuf *b);
void codec_put_portal_suspended(CodecBuf *b);
void codec_put_auth_ok(CodecBuf *b);
/* NegotiateProtocolVersion: the newest minor version supported and the _pq_.* options not. */
void codec_put_negotiate_version(CodecBuf *b, uint16_t minor, const char *const *unsupported,
                                 size_t n);

/*
 * Writes into out a copy of the AuthenticationSASL message msg without the
 * channel-binding mechanisms (names ending in "-PLUS"): the gateway terminates
 * TLS, so the client cannot bind to the warehouse's channel. ERROR when msg is
 * not a well-formed AuthenticationSASL or no mechanism would remain.
 */
CodecStatus codec_sasl_strip_plus(const uint8_t *msg, size_t len, CodecBuf *out,
                                  CodecError *err) MUST_CHECK;

/* The message type's name for logs ("Query", "RowDescription", ...), "unknown" if none. */
const char *codec_type_name(uint8_t type, bool from_server);

#endif
