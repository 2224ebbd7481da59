/*
 * exec_impl.h: the execution context behind job.h's sl_exec (engine-private).
 */
#ifndef SL_ENGINE_EXEC_IMPL_H
#define SL_ENGINE_EXEC_IMPL_H

#include <mpi.h>
#include <stdint.h>

#include "engine/core/secbuf.h"
#include "engine/job.h"

struct sl_exec {
    int mpi;       /* MPI is initialised; else one process and comm unused */
    MPI_Comm comm;
    int rank;
    int size;
    struct sl_cohort *cohort;        /* borrowed */
    const struct sl_rules *rules;    /* borrowed */
    struct sl_frame *frame;          /* borrowed, secret */
    struct sl_secbuf *mask;          /* owned, secret; NULL without a filter */
    struct sl_backend *backend;      /* borrowed */
    double last_progress;            /* wall time of the last progress line */
};

#endif
