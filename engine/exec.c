/*
 * exec.c: the reductions and accessors job types use (job.h).
 *
 * Reductions that involve floating point never rely on MPI's reduction
 * order: partials are gathered and folded in global chunk order by the
 * caller, which makes results identical on any number of ranks.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine/core/alloc.h"
#include "engine/core/log.h"
#include "engine/exec_impl.h"
#include "engine/mpi_impl.h"

sl_status sl_mpi_error(int code, const char *file, int line, const char *func, const char *what)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "code %d", code);
    return sl_error_set(SL_ERR_MPI, file, line, func, "MPI call failed (%s): %s", what, text);
}

int sl_exec_rank(const struct sl_exec *ex) { return ex->rank; }
int sl_exec_size(const struct sl_exec *ex) { return ex->size; }
const struct sl_cohort *sl_exec_cohort(const struct sl_exec *ex) { return ex->cohort; }
const struct sl_rules *sl_exec_rules(const struct sl_exec *ex) { return ex->rules; }
const struct sl_frame *sl_exec_frame(const struct sl_exec *ex) { return ex->frame; }
struct sl_backend *sl_exec_backend(struct sl_exec *ex) { return ex->backend; }

const uint8_t *sl_exec_mask(const struct sl_exec *ex)
{
    return ex->mask ? (const uint8_t *)ex->mask->data : NULL;
}

sl_status sl_exec_sum_i64(struct sl_exec *ex, int64_t *buf, int64_t n)
{
    sl_status st = SL_OK;
    int count;
    SL_MPI_COUNT(n, count);
    if (ex->mpi)
        SL_CALL_MPI(MPI_Allreduce(MPI_IN_PLACE, buf, count, MPI_INT64_T, MPI_SUM, ex->comm));
cleanup:
    return st;
}

sl_status sl_exec_allgather_f64(struct sl_exec *ex, const double *local, int64_t count,
                                double **all, int64_t *total)
{
    sl_status st = SL_OK;
    int *counts = NULL, *displs = NULL, mine;
    double *out = NULL;
    int64_t sum = 0;

    *all = NULL;
    *total = 0;
    SL_MPI_COUNT(count, mine);
    counts = sl_malloc((size_t)ex->size * sizeof *counts);
    displs = sl_malloc((size_t)ex->size * sizeof *displs);
    SL_CHECK(counts && displs, SL_ERR_NOMEM, "out of memory");
    counts[0] = mine;
    if (ex->mpi)
        SL_CALL_MPI(MPI_Allgather(&mine, 1, MPI_INT, counts, 1, MPI_INT, ex->comm));
    for (int r = 0; r < ex->size; r++) {
        SL_CHECK(sum <= INT32_MAX, SL_ERR_ARG, "gathered data exceed one MPI message");
        displs[r] = (int)sum;
        sum += counts[r];
    }
    SL_CHECK(sum <= INT32_MAX, SL_ERR_ARG, "gathered data exceed one MPI message");
    out = sl_malloc((size_t)(sum ? sum : 1) * sizeof *out);
    SL_CHECK(out, SL_ERR_NOMEM, "out of memory");
    if (ex->mpi)
        SL_CALL_MPI(MPI_Allgatherv(local, mine, MPI_DOUBLE, out, counts, displs, MPI_DOUBLE,
                                   ex->comm));
    else if (mine > 0)
        memcpy(out, local, (size_t)mine * sizeof *out);
    *all = out;
    *total = sum;
    out = NULL;
cleanup:
    sl_free(out);
    sl_free(counts);
    sl_free(displs);
    return st;
}

sl_status sl_exec_gather_chunks(struct sl_exec *ex, const double *local, int64_t width,
                                double **all)
{
    sl_status st = SL_OK;
    double *packed = NULL, *gathered = NULL, *out = NULL;
    int64_t nlocal = ex->frame->nchunks, total = 0, nchunks = sl_cohort_nchunks(ex->cohort);
    int64_t rec = width + 1;

    *all = NULL;
    /* Each record is (global chunk index, width values): ranks may hold any
     * chunks, and the records are placed by index. */
    packed = sl_malloc((size_t)(nlocal * rec + 1) * sizeof *packed);
    SL_CHECK(packed, SL_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < nlocal; i++) {
        packed[i * rec] = (double)ex->frame->chunk_index[i];
        for (int64_t j = 0; j < width; j++)
            packed[i * rec + 1 + j] = local[i * width + j];
    }
    SL_CALL(sl_exec_allgather_f64(ex, packed, nlocal * rec, &gathered, &total));
    SL_CHECK(total == nchunks * rec, SL_ERR_INTERNAL,
             "chunk partials cover %lld of %lld chunks", (long long)(total / rec),
             (long long)nchunks);
    out = sl_calloc((size_t)(nchunks * width + 1), sizeof *out);
    SL_CHECK(out, SL_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < nchunks; i++) {
        int64_t chunk = (int64_t)gathered[i * rec];
        SL_ASSERT(chunk >= 0 && chunk < nchunks);
        for (int64_t j = 0; j < width; j++)
            out[chunk * width + j] = gathered[i * rec + 1 + j];
    }
    *all = out;
    out = NULL;
cleanup:
    sl_free(packed);
    sl_free(gathered);
    sl_free(out);
    return st;
}

void sl_exec_progress(struct sl_exec *ex, const char *fmt, ...)
{
    struct timespec ts;
    double now;
    char msg[512];
    va_list ap;
    if (ex->rank != 0)
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    now = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    if (now - ex->last_progress < 2.0)
        return;
    ex->last_progress = now;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sl_log_info("progress: %s", msg);
}
