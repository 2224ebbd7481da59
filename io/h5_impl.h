/*
 * h5_impl.h: the HDF5 error domain of io/ and the sluice filter entry (private).
 *
 * HDF5 calls return a negative value on failure and push their reasons onto
 * the library's error stack, which by default HDF5 also prints to stderr.
 * sl_h5_init turns that printing off (sluice reports errors itself) and
 * registers the sluice filter (h5filter.c). SL_CALL_H5 turns a negative return
 * into SL_ERR_HDF5 whose message says what sluice was doing, followed by the
 * innermost reasons on the HDF5 error stack, and clears the stack.
 *
 * Usage, inside a function with `sl_status st` and a `cleanup:` label:
 *   SL_CALL_H5(file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), "cannot open %s", path);
 */
#ifndef SL_IO_H5_IMPL_H
#define SL_IO_H5_IMPL_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <hdf5.h>

#include "engine/core/status.h"

/* Turns off HDF5's automatic error printing for this thread and registers the
 * sluice filter (SL_FILTER_ID) with this process's HDF5 library if it is not
 * registered yet. Idempotent; every io entry point that opens HDF5 files calls
 * it first. SL_ERR_HDF5 if registration fails. Not collective. */
sl_status sl_h5_init(void);

/* Adds the sluice filter to the dataset creation property list `dcpl` as a
 * mandatory filter, with the format version as its only client value.
 * SL_ERR_HDF5 on failure. Not collective. */
sl_status sl_h5_filter_add(hid_t dcpl);

/* 1 if the pipeline of `dcpl` holds the sluice filter as a mandatory filter,
 * 0 if not (absent, optional, or the pipeline cannot be read). Not collective. */
int sl_h5_filter_present(hid_t dcpl);

struct sl_h5_reasons {
    char text[512];
    int count;
};

static inline herr_t sl_h5_reason_add(unsigned n, const H5E_error2_t *err, void *data)
{
    struct sl_h5_reasons *r = data;
    size_t used = strlen(r->text);
    (void)n;
    if (r->count >= 3 || !err->desc || !err->desc[0])
        return 0;
    snprintf(r->text + used, sizeof r->text - used, "%s%s", r->count ? "; " : "", err->desc);
    r->count++;
    return 0;
}

/* Records `code` with the formatted message, then the innermost reasons on
 * the HDF5 error stack in parentheses, and clears the stack. Returns `code`.
 * Not collective. */
static inline sl_status sl_h5_fail(sl_status code, const char *file, int line, const char *func,
                                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static inline sl_status sl_h5_fail(sl_status code, const char *file, int line, const char *func,
                                   const char *fmt, ...)
{
    char msg[512];
    struct sl_h5_reasons r;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r.text[0] = '\0';
    r.count = 0;
    (void)H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, sl_h5_reason_add, &r);
    (void)H5Eclear2(H5E_DEFAULT);
    if (r.count)
        return sl_error_set(code, file, line, func, "%s (HDF5: %s)", msg, r.text);
    return sl_error_set(code, file, line, func, "%s", msg);
}

/* Evaluates `expr`; a negative value fails with SL_ERR_HDF5 and the message. */
#define SL_CALL_H5(expr, ...) SL_CALL_H5_AS(SL_ERR_HDF5, expr, __VA_ARGS__)

/* As SL_CALL_H5, with another status code where the failure means more than
 * "the HDF5 library failed" (a damaged file is SL_ERR_FORMAT). */
#define SL_CALL_H5_AS(code, expr, ...)                                                \
    do {                                                                            \
        if ((expr) < 0) {                                                           \
            st = sl_h5_fail((code), __FILE__, __LINE__, __func__, __VA_ARGS__);     \
            goto cleanup;                                                           \
        }                                                                           \
    } while (0)

#endif
