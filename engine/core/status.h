/*
 * status.h: status codes and error propagation shared by every sluice module.
 *
 * Every fallible function returns an sl_status. SL_OK is zero; failures are
 * negative. The failing site records a one-line, user-facing message (which
 * must never contain secrets or row-level values) and each SL_CALL on the way
 * up appends file:line:function to a per-thread trace for debugging.
 *
 * The macros assume the calling function declares `sl_status st` and has one
 * label `cleanup:` that releases what it acquired.
 */
#ifndef SL_CORE_STATUS_H
#define SL_CORE_STATUS_H

#include <stddef.h>

typedef enum sl_status {
    SL_OK = 0,
    SL_ERR_NOMEM = -1,       /* allocation failed */
    SL_ERR_ARG = -2,         /* invalid argument or usage */
    SL_ERR_IO = -3,          /* file system or OS error */
    SL_ERR_FORMAT = -4,      /* malformed input: CSV, YAML, cohort metadata */
    SL_ERR_CRYPTO = -5,      /* authentication failed: tampered, moved or foreign data */
    SL_ERR_KEY = -6,         /* key file unusable: permissions, format, wrong key */
    SL_ERR_DENIED = -7,      /* refused by policy or enclave check */
    SL_ERR_VERSION = -8,     /* unsupported format version */
    SL_ERR_MPI = -9,         /* MPI call failed */
    SL_ERR_HDF5 = -10,       /* HDF5 call failed */
    SL_ERR_EXISTS = -11,     /* refused to overwrite */
    SL_ERR_UNSUPPORTED = -12,/* valid request this build or backend cannot serve */
    SL_ERR_NUMERIC = -13,    /* numerical failure: singular, non-convergence */
    SL_ERR_INTEGRITY = -14,  /* audit log or ledger integrity check failed */
    SL_ERR_CUDA = -15,       /* CUDA or cuBLAS call failed */
    SL_ERR_INTERNAL = -16    /* broken invariant */
} sl_status;

/* Short name of a status ("format error"). Never NULL. Not collective. */
const char *sl_status_str(sl_status st);

/* Records `fmt` as the current thread's error message for `code` and
 * returns `code`. The message must not contain secrets or row values. */
sl_status sl_error_set(sl_status code, const char *file, int line, const char *func,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Prefixes the current message with `fmt: ` (adds context such as a file name). */
void sl_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Appends a trace frame; used by SL_CALL. */
void sl_error_trace(const char *file, int line, const char *func);

/* The current thread's last message ("" if none) and trace ("" if none). */
const char *sl_error_message(void);
const char *sl_error_trace_text(void);

/* Forgets the current message and trace. */
void sl_error_clear(void);

#define SL_CALL(expr)                                              \
    do {                                                           \
        st = (expr);                                               \
        if (st != SL_OK) {                                         \
            sl_error_trace(__FILE__, __LINE__, __func__);          \
            goto cleanup;                                          \
        }                                                          \
    } while (0)

#define SL_FAIL(code, ...)                                                       \
    do {                                                                         \
        st = sl_error_set((code), __FILE__, __LINE__, __func__, __VA_ARGS__);    \
        goto cleanup;                                                            \
    } while (0)

#define SL_CHECK(cond, code, ...)                                                \
    do {                                                                         \
        if (!(cond))                                                             \
            SL_FAIL((code), __VA_ARGS__);                                        \
    } while (0)

/* Internal invariant; aborts with a message when broken (always on). */
void sl_assert_fail(const char *expr, const char *file, int line, const char *func)
    __attribute__((noreturn));
#define SL_ASSERT(cond) \
    ((cond) ? (void)0 : sl_assert_fail(#cond, __FILE__, __LINE__, __func__))

#endif
