/*
 * OpenSSL for the gateway's two legs: the server context clients reach with
 * sslmode=require ([gateway] tls_cert, tls_key), and the client context and
 * per-connection objects towards the warehouse ([warehouse] sslmode). Not for:
 * the worker's libpq connections, which do their own TLS.
 */
#ifndef DURO_PROXY_TLS_H
#define DURO_PROXY_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>

#include "core/util.h"

typedef enum TlsSslMode {
    TLS_SSLMODE_DISABLE,     /* "disable", and "allow" (which libpq tries plain first) */
    TLS_SSLMODE_PREFER,      /* TLS when the warehouse offers it */
    TLS_SSLMODE_REQUIRE,     /* TLS or nothing; the certificate is not checked */
    TLS_SSLMODE_VERIFY_CA,   /* ... and signed by a trusted CA */
    TLS_SSLMODE_VERIFY_FULL, /* ... and issued for the host name */
} TlsSslMode;

/* Maps a [warehouse] sslmode value (as settings accepts it) to its mode. 0, or -1 if unknown. */
int tls_parse_sslmode(const char *s, TlsSslMode *out) MUST_CHECK;

/*
 * A server context with the PEM certificate chain and private key. Returns
 * NULL with *error (caller frees) naming the file and OpenSSL's reason.
 */
SSL_CTX *tls_server_ctx(const char *cert_path, const char *key_path, char **error) MUST_CHECK;

/*
 * A client context for the warehouse leg. Verifying modes trust OpenSSL's
 * default paths (the system store, or SSL_CERT_FILE / SSL_CERT_DIR when set).
 * Returns NULL with *error (caller frees).
 */
SSL_CTX *tls_client_ctx(TlsSslMode mode, char **error) MUST_CHECK;

/*
 * An SSL object for one connection to host: SNI when host is a name, and with
 * verify-full the name check. NULL (with *error) on failure.
 */
SSL *tls_client_ssl(SSL_CTX *ctx, TlsSslMode mode, const char *host, char **error) MUST_CHECK;

/* OpenSSL's oldest queued error as text (then clears the queue), or fallback if there is none. */
char *tls_error_text(const char *fallback) MUST_CHECK;

#endif
