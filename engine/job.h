/*
 * job.h: the interface between the engine and analysis types (jobs/).
 *
 * A job type describes an analysis: which columns it reads, how it turns a
 * rank's rows into partial results with kernel calls, how the partials are
 * reduced, and what tables it hands to the release gate. The engine owns the
 * lifecycle (authorise, unwrap, load, filter, execute, gate, release) and the
 * MPI context; job types reach MPI only through the sl_exec reductions below,
 * which combine partials in a fixed order so results do not depend on the
 * number of ranks.
 */
#ifndef SL_ENGINE_JOB_H
#define SL_ENGINE_JOB_H

#include <stdint.h>

#include "engine/config.h"
#include "engine/core/status.h"
#include "engine/table.h"
#include "io/cohort.h"
#include "io/frame.h"
#include "kernels/kernel.h"

struct sl_exec;

struct sl_job_type {
    const char *name;
    const char *summary;
    /* Reads and validates the analysis parameters against the cohort's
     * metadata (no data). Sets *state (owned by the job type) and the cohort
     * columns it needs (*cols sl_malloc'd). Called on every rank with the same
     * inputs. Not collective. */
    sl_status (*prepare)(const struct sl_analysis *a, const struct sl_cohort *c,
                         const struct sl_rules *rules, void **state, int **cols, int *ncols);
    /* Computes on this rank's rows and reduces through `ex`. Collective on the
     * job's communicator: every rank calls it, and the same sl_exec reductions
     * in the same order. Rank 0 appends the resulting tables to `out`. */
    sl_status (*execute)(void *state, struct sl_exec *ex, struct sl_outputs *out);
    /* Frees the state. NULL-safe. */
    void (*destroy)(void *state);
    /* Nonzero when its tables count patients so that each patient falls in
     * exactly one interior cell, with a layout that does not depend on the
     * data when the analysis asks for `privacy: dp` (engine/dp.h); prepare
     * refuses that request for the parameters it cannot serve. */
    int dp_counts;
};

/* The job type registered under `name` (jobs/registry.c), or NULL. */
const struct sl_job_type *sl_job_type_find(const char *name);
/* Registered types, NULL-terminated, for help text. */
const struct sl_job_type *const *sl_job_types(void);

/* ---- what execute() may use ---- */

int sl_exec_rank(const struct sl_exec *ex);
int sl_exec_size(const struct sl_exec *ex);
const struct sl_cohort *sl_exec_cohort(const struct sl_exec *ex);
const struct sl_rules *sl_exec_rules(const struct sl_exec *ex);
/* This rank's rows (borrowed, secret). */
const struct sl_frame *sl_exec_frame(const struct sl_exec *ex);
/* Row filter result per local row (1 = keep), or NULL when the job has no
 * filter. Borrowed. */
const uint8_t *sl_exec_mask(const struct sl_exec *ex);
/* The kernel backend chosen for the job. */
struct sl_backend *sl_exec_backend(struct sl_exec *ex);

/* Element-wise exact sum of `n` int64 over all ranks; result on every rank
 * in place. Collective. */
sl_status sl_exec_sum_i64(struct sl_exec *ex, int64_t *buf, int64_t n);

/* Gathers per-chunk partials: `local` holds `width` doubles for each chunk this
 * rank holds (in the frame's chunk order). On return *all (sl_malloc'd, caller
 * frees) holds width doubles for every chunk of the cohort in global chunk
 * order, on every rank. Folding *all left to right gives a result independent
 * of the number of ranks. Collective. */
sl_status sl_exec_gather_chunks(struct sl_exec *ex, const double *local, int64_t width,
                                double **all);

/* Like sl_exec_gather_chunks for variable-length per-rank data: every rank
 * contributes `count` doubles; *all receives the concatenation in rank order
 * (which is chunk order for contiguous assignment) and *total its length, on
 * every rank. Collective. */
sl_status sl_exec_allgather_f64(struct sl_exec *ex, const double *local, int64_t count,
                                double **all, int64_t *total);

/* Progress line for long work (rank 0 prints; rate-limited). Not collective. */
void sl_exec_progress(struct sl_exec *ex, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
