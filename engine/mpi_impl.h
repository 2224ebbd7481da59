/*
 * mpi_impl.h: the one wrapper for MPI's error domain (engine-private).
 * Communicators use MPI_ERRORS_RETURN, so every call's code is checked.
 */
#ifndef SL_ENGINE_MPI_IMPL_H
#define SL_ENGINE_MPI_IMPL_H

#include <mpi.h>

#include "engine/core/status.h"

sl_status sl_mpi_error(int code, const char *file, int line, const char *func, const char *what);

#define SL_CALL_MPI(expr)                                                        \
    do {                                                                         \
        int sl_mpi_rc_ = (expr);                                                 \
        if (sl_mpi_rc_ != MPI_SUCCESS) {                                         \
            st = sl_mpi_error(sl_mpi_rc_, __FILE__, __LINE__, __func__, #expr);  \
            goto cleanup;                                                        \
        }                                                                        \
    } while (0)

/* Checks that a count fits the int MPI takes. */
#define SL_MPI_COUNT(n, out)                                                     \
    do {                                                                         \
        SL_CHECK((n) >= 0 && (n) <= INT32_MAX, SL_ERR_ARG,                       \
                 "%lld elements exceed one MPI message", (long long)(n));        \
        (out) = (int)(n);                                                        \
    } while (0)

#endif
