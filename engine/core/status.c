/*
 * status.c: per-thread error message and trace behind status.h.
 */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SL_MSG_CAP = 1024, SL_TRACE_CAP = 2048 };

static _Thread_local char tls_msg[SL_MSG_CAP];
static _Thread_local char tls_trace[SL_TRACE_CAP];

const char *sl_status_str(sl_status st)
{
    switch (st) {
    case SL_OK: return "ok";
    case SL_ERR_NOMEM: return "out of memory";
    case SL_ERR_ARG: return "invalid argument";
    case SL_ERR_IO: return "i/o error";
    case SL_ERR_FORMAT: return "format error";
    case SL_ERR_CRYPTO: return "authentication failed";
    case SL_ERR_KEY: return "key error";
    case SL_ERR_DENIED: return "denied";
    case SL_ERR_VERSION: return "unsupported version";
    case SL_ERR_MPI: return "mpi error";
    case SL_ERR_HDF5: return "hdf5 error";
    case SL_ERR_EXISTS: return "already exists";
    case SL_ERR_UNSUPPORTED: return "unsupported";
    case SL_ERR_NUMERIC: return "numerical failure";
    case SL_ERR_INTEGRITY: return "integrity check failed";
    case SL_ERR_CUDA: return "cuda error";
    case SL_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

static void trace_append(const char *file, int line, const char *func)
{
    size_t used = strlen(tls_trace);
    if (used + 8 >= SL_TRACE_CAP)
        return;
    snprintf(tls_trace + used, SL_TRACE_CAP - used, "  at %s:%d (%s)\n", file, line, func);
}

sl_status sl_error_set(sl_status code, const char *file, int line, const char *func,
                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tls_msg, SL_MSG_CAP, fmt, ap);
    va_end(ap);
    tls_trace[0] = '\0';
    trace_append(file, line, func);
    return code;
}

void sl_error_prefix(const char *fmt, ...)
{
    char prefix[SL_MSG_CAP];
    char old[SL_MSG_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, tls_msg, SL_MSG_CAP);
    size_t plen = strlen(prefix);
    memcpy(tls_msg, prefix, plen + 1);
    if (old[0] != '\0' && plen + 2 < SL_MSG_CAP) {
        memcpy(tls_msg + plen, ": ", 3);
        size_t room = SL_MSG_CAP - plen - 3;
        size_t olen = strnlen(old, room);
        memcpy(tls_msg + plen + 2, old, olen);
        tls_msg[plen + 2 + olen] = '\0';
    }
}

void sl_error_trace(const char *file, int line, const char *func)
{
    trace_append(file, line, func);
}

const char *sl_error_message(void) { return tls_msg; }
const char *sl_error_trace_text(void) { return tls_trace; }

void sl_error_clear(void)
{
    tls_msg[0] = '\0';
    tls_trace[0] = '\0';
}

void sl_assert_fail(const char *expr, const char *file, int line, const char *func)
{
    fprintf(stderr, "sluice: internal invariant broken: %s at %s:%d (%s)\n", expr, file, line,
            func);
    abort();
}
