/*
 * ssl_impl.h: the OpenSSL error domain of io/ (private).
 *
 * OpenSSL calls return 1 on success and leave the reasons for a failure on a
 * per-thread error queue. SL_CALL_SSL turns any other return value into an
 * sl_status whose message says what sluice was doing, followed by the queue's
 * reasons; the queue is drained so that a later failure never reports stale
 * reasons. OpenSSL's reason strings never contain key material.
 *
 * Usage, inside a function with `sl_status st` and a `cleanup:` label:
 *   SL_CALL_SSL(EVP_DigestInit_ex(md, EVP_sha256(), NULL), SL_ERR_CRYPTO,
 *               "cannot start hashing %s", path);
 */
#ifndef SL_IO_SSL_IMPL_H
#define SL_IO_SSL_IMPL_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "engine/core/status.h"

/* Records `code` with the formatted message, then ": " and every reason left
 * on the OpenSSL error queue (joined by "; "), and empties the queue. Returns
 * `code`. Not collective. */
static inline sl_status sl_ssl_fail(sl_status code, const char *file, int line, const char *func,
                                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static inline sl_status sl_ssl_fail(sl_status code, const char *file, int line, const char *func,
                                    const char *fmt, ...)
{
    char msg[768];
    size_t used;
    unsigned long e;
    int first = 1;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    used = strlen(msg);
    while ((e = ERR_get_error()) != 0) {
        char reason[256];
        ERR_error_string_n(e, reason, sizeof reason);
        if (used + 4 < sizeof msg) {
            snprintf(msg + used, sizeof msg - used, "%s%s", first ? " (OpenSSL: " : "; ", reason);
            used = strlen(msg);
        }
        first = 0;
    }
    if (!first && used + 2 < sizeof msg) {
        msg[used++] = ')';
        msg[used] = '\0';
    }
    return sl_error_set(code, file, line, func, "%s", msg);
}

/* Calls `expr`; anything but 1 fails with `code` and the formatted message. */
#define SL_CALL_SSL(expr, code, ...)                                                 \
    do {                                                                             \
        if ((expr) != 1) {                                                           \
            st = sl_ssl_fail((code), __FILE__, __LINE__, __func__, __VA_ARGS__);     \
            goto cleanup;                                                            \
        }                                                                            \
    } while (0)

#endif
