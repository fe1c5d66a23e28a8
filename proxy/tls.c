/*
 * OpenSSL contexts for the gateway (see tls.h). Settings follow what libpq
 * and PostgreSQL use: TLS 1.2 or later, the library's default ciphers.
 */
#include "proxy/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <string.h>

int tls_parse_sslmode(const char *s, TlsSslMode *out)
{
    static const struct {
        const char *name;
        TlsSslMode mode;
    } modes[] = {
        {"disable", TLS_SSLMODE_DISABLE},     {"allow", TLS_SSLMODE_DISABLE},
        {"prefer", TLS_SSLMODE_PREFER},       {"require", TLS_SSLMODE_REQUIRE},
        {"verify-ca", TLS_SSLMODE_VERIFY_CA}, {"verify-full", TLS_SSLMODE_VERIFY_FULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(modes); i++) {
        if (str_ieq(s, modes[i].name)) {
            *out = modes[i].mode;
            return 0;
        }
    }
    return -1;
}

char *tls_error_text(const char *fallback)
{
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0)
        return xstrdup(fallback);
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    const char *reason = ERR_reason_error_string(e);
    return xstrdup(reason ? reason : buf);
}

SSL_CTX *tls_server_ctx(const char *cert_path, const char *key_path, char **error)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        *error = tls_error_text("cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    const char *failed = NULL;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1)
        failed = cert_path;
    else if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1)
        failed = key_path;
    if (failed) {
        char *why = tls_error_text("unreadable");
        *error = xasprintf("[gateway] TLS: %s: %s", failed, why);
        free(why);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        char *why = tls_error_text("does not match the certificate");
        *error = xasprintf("[gateway] TLS: %s: %s", key_path, why);
        free(why);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

SSL_CTX *tls_client_ctx(TlsSslMode mode, char **error)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        *error = tls_error_text("cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    if (mode >= TLS_SSLMODE_VERIFY_CA) {
        if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
            char *why = tls_error_text("no trusted certificates");
            *error = xasprintf("[warehouse] sslmode: %s", why);
            free(why);
            SSL_CTX_free(ctx);
            return NULL;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    return ctx;
}

static bool is_ip_address(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

SSL *tls_client_ssl(SSL_CTX *ctx, TlsSslMode mode, const char *host, char **error)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl) {
        *error = tls_error_text("cannot create a TLS connection");
        return NULL;
    }
    bool ip = is_ip_address(host);
    if (!ip && SSL_set_tlsext_host_name(ssl, host) != 1)
        goto fail;
    if (mode == TLS_SSLMODE_VERIFY_FULL) {
        /* A name is matched against the certificate's DNS names, an address against its IPs. */
        X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host) : SSL_set1_host(ssl, host);
        if (ok != 1)
            goto fail;
    }
    return ssl;
fail:
    *error = tls_error_text("cannot set the warehouse's host name for TLS");
    SSL_free(ssl);
    return NULL;
}
