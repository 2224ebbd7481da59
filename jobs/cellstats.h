/*
 * cellstats.h: per-cell statistics of a measure, reduced across ranks so
 * that every result is identical to the last bit on any number of ranks.
 *
 * Three reductions serve describe and crosstab:
 *   - moments (count, missing, sum, mean, m2): SL_OP_GROUP_MOMENTS
 *     runs on every chunk with zeroed outputs; the per-chunk partials of the
 *     cells a chunk touches travel as records (chunk, slot, summary) and are
 *     folded with sl_moments_combine in global chunk order, then slot order.
 *     A chunk's partial does not depend on which rank holds it, so neither
 *     does the fold.
 *   - exact order statistics: the k-th smallest value of a cell over all
 *     ranks is found by radix selection on the 64-bit key whose unsigned
 *     order is IEEE total order, 12 bits a round (select.c): every rank
 *     counts its values per bin of the next digit, the counts are summed
 *     exactly, and each query narrows to the bin holding its rank; first
 *     within a bracket of keys found from a sample of the rows, so that one
 *     pass over the rows copies only the values near the answers. Row
 *     values never leave their rank; only counts travel. The k-th value of a
 *     multiset does not depend on how it is split, nor on the thread count.
 *   - R type-7 quantiles from two order statistics, with R's arithmetic.
 * Published cells (layouts, grouping.h) are folded from their full-grid
 * cells in ascending order, so margins come from the same partials.
 *
 * Ranks communicate through a reducer: the job's sl_exec, or a single
 * process (benchmarks, tests), which runs the very same code.
 */
#ifndef SL_JOBS_CELLSTATS_H
#define SL_JOBS_CELLSTATS_H

#include <stdint.h>

#include "engine/core/secbuf.h"
#include "engine/job.h"
#include "engine/table.h"
#include "jobs/grouping.h"
#include "jobs/measure.h"
#include "kernels/kernel.h"

/* ---- reducers ---- */

struct sl_reducer {
    void *ctx;
    /* Element-wise exact sum over all ranks, in place on every rank. */
    sl_status (*sum_i64)(void *ctx, int64_t *buf, int64_t n);
    /* Concatenation of every rank's `count` doubles in rank order, on every
     * rank; *all sl_malloc'd. */
    sl_status (*allgather_f64)(void *ctx, const double *local, int64_t count, double **all,
                               int64_t *total);
};

/* Reducer over the job's ranks (sl_exec_sum_i64, sl_exec_allgather_f64). */
void sl_reducer_exec(struct sl_reducer *r, struct sl_exec *ex);
/* Reducer of a single process: sums are identities, gathers copies. */
void sl_reducer_single(struct sl_reducer *r);

/* ---- moments by chunk ---- */

/* Doubles per record: chunk, slot, n_present, n_missing, sum, mean, m2.
 * Counts and indices are integers below 2^53, exact in a double. */
#define SL_MOMENT_RECORD 7

/* Growable list of records (secret: a partial over one patient is that
 * patient's value). */
struct sl_moment_records {
    double *v;
    int64_t count;
    int64_t cap;
};

/* Wipes and frees the records; the struct is left empty. */
void sl_moment_records_clear(struct sl_moment_records *rec);

/* One pass over the frame (sl_chunk_pass): for every chunk and every
 * measure m[j], runs SL_OP_GROUP_MOMENTS on the chunk's rows grouped by `g`
 * and filtered by `mask` (may be NULL) into zeroed outputs, and appends one
 * record per cell with a kept row (present or missing), with slot
 * j * g->ncells + cell. With `dom` (g->ncells entries, accumulated), also
 * adds the dominance evidence of m[0] while the chunk is in cache. Not
 * collective. */
sl_status sl_moments_by_chunk(struct sl_backend *b, const struct sl_frame *fr,
                              const struct sl_grouping *g, const uint8_t *mask,
                              const struct sl_measure *m, int nmeas, struct sl_dominance *dom,
                              struct sl_moment_records *rec);

/* Kept rows per cell of `g` (rows filtered by `mask`, may be NULL):
 * counts[c] += rows, by SL_OP_GROUP_COUNT on every chunk (one pass, exact).
 * Not collective. */
sl_status sl_count_by_chunk(struct sl_backend *b, const struct sl_frame *fr,
                            const struct sl_grouping *g, const uint8_t *mask, int64_t *counts);

/* Folds `count` records (any order; they are sorted here by chunk, then
 * slot) into out: slot s is full-grid cell s % lay->nfull of measure
 * s / lay->nfull. Each slot's records are combined in chunk order, then each
 * slot's summary goes, in slot order, to out[measure * lay->ncells + t] for
 * each published target t. `out` holds nmeasures * lay->ncells entries,
 * zeroed by the caller. `rec` is sorted in place. SL_ERR_INTERNAL on a
 * record whose slot is out of range. Not collective. */
sl_status sl_moments_fold(double *rec, int64_t count, const struct sl_layout *lay,
                          int64_t nmeasures, struct sl_moments *out);

/* Gathers every rank's records into *all (emptied first), on every rank.
 * Collective through r. */
sl_status sl_moments_gather(const struct sl_reducer *r, const struct sl_moment_records *rec,
                            struct sl_moment_records *all);

/* Kept rows (present and missing) per full-grid cell of the measure whose
 * slots start at slot0: n[c] += rows of slot slot0 + c, for c < ncells.
 * Exact, so it can stand in for a separate count of the cells. */
void sl_moments_cell_rows(const struct sl_moment_records *rec, int64_t slot0, int64_t ncells,
                          int64_t *n);

/* ---- exact order statistics ---- */

/* This rank's values of a measure with the full-grid cell of every row. Real
 * columns are read in place; integer and date columns are converted, and
 * the cell index is built (or borrowed, see sl_cell_values_with), into
 * secret buffers the struct owns. */
struct sl_cell_values {
    const double *v;      /* [nrows] NaN = missing */
    const int32_t *cell;  /* [nrows] full-grid cell, -1 = dropped; NULL without grouping
                             columns: every row in cell 0 unless `mask` drops it */
    const uint8_t *mask;  /* [nrows] 0 = dropped, with cell NULL; or NULL */
    int64_t nrows;
    int64_t ncells;
    struct sl_secbuf *conv, *cells;
};

/* The values of `m` by cell of `g`, rows filtered by `mask` (may be NULL).
 * One pass for the cell index (none without grouping columns), one for a
 * conversion. With m NULL only the cell index (v is NULL), for
 * sl_cell_values_with. Not collective. */
sl_status sl_cell_values_create(const struct sl_frame *fr, const struct sl_grouping *g,
                                const uint8_t *mask, const struct sl_measure *m,
                                struct sl_cell_values **out);

/* The values of `m` with the cells of `cells` (from sl_cell_values_create
 * on the same frame): its cell index is borrowed, so `cells` must outlive
 * *out. Several measures by one grouping build the index once. Not
 * collective. */
sl_status sl_cell_values_with(const struct sl_cell_values *cells, const struct sl_frame *fr,
                              const struct sl_measure *m, struct sl_cell_values **out);

/* Wipes and frees; NULL-safe; NULLs *s. */
void sl_cell_values_destroy(struct sl_cell_values **s);

/* Work a caller wants done on the rows of a sl_cell_values while a pass of
 * its own reads them, so that each block of rows comes from memory once:
 * fn(ctx, worker, r0, r1) for blocks [r0, r1) that cover [0, nrows) exactly
 * once, called on worker threads 0 .. sl_max_threads() - 1, one block at a
 * time per worker. fn runs on worker threads, so it must not touch the
 * error state: it keeps failures in ctx. */
struct sl_row_visitor {
    void (*fn)(void *ctx, int worker, int64_t r0, int64_t r1);
    void *ctx;
};

/* Hands rows [0, nrows) to v in blocks, every worker its equal slice. */
void sl_visit_rows(int64_t nrows, const struct sl_row_visitor *v);

/* Exact order statistics: out[i] is the value of 0-based rank qrank[i]
 * (ascending IEEE total order) among the values, over all ranks, of the
 * full-grid cells members[mstart[q] .. mstart[q + 1]) with q = qcell[i]
 * (a published cell, see sl_layout_members). Every qrank[i] must lie below
 * that cell's number of values: SL_ERR_INTERNAL otherwise. qcount[i] is
 * that number as the caller knows it; it only steers the work (the sample's
 * brackets), and the answers are exact whatever it holds. `visit` (may be
 * NULL) sees every row of s, in blocks, while the selection's pass over the
 * rows reads them. Collective through r: every rank passes the same
 * queries. */
sl_status sl_select_exact(const struct sl_reducer *r, const struct sl_cell_values *s,
                          const int64_t *mstart, const int64_t *members, int64_t nq,
                          const int64_t *qcell, const int64_t *qrank, const int64_t *qcount,
                          const struct sl_row_visitor *visit, double *out);

/* A query's bracket in ranks [lo, hi] of the m values sampled from its
 * published cell `cell`, before the sample's order statistics make it keys
 * (sl_select_exact's plan): lo -1 is open below, hi m open above; m 0
 * (nothing sampled) is no bracket. */
struct sl_rank_span {
    int64_t cell, lo, hi, m, query;
};

/* Sorts sp[0 .. n) by cell, lower end and query, and makes the spans of one
 * cell that overlap their union, so that the two neighbouring ranks of a
 * type 7 quantile, and close probabilities, share bounds (fewer segments in
 * the bracket pass, the same keys to copy). Spans with m 0 stay as they
 * are. */
void sl_rank_spans_merge(struct sl_rank_span *sp, int64_t n);

/* 0-based order statistics R's type-7 quantile of n > 0 sorted values at
 * `prob` reads: x[lo] and x[hi]. */
void sl_type7_order(int64_t n, double prob, int64_t *lo, int64_t *hi);

/* R's type-7 quantile from those two order statistics, with the arithmetic
 * of sl_quantile_type7 (so the result is the same double). */
double sl_type7_value(int64_t n, double prob, double x_lo, double x_hi);

/* Type-7 quantiles of every published cell: out[p * nprobs + j] for
 * probs[j] in [0, 1], npresent[p] values in cell p (NaN when 0). `visit`
 * (may be NULL) sees every row as sl_select_exact's does. Collective
 * through r. */
sl_status sl_quantiles_exact(const struct sl_reducer *r, const struct sl_cell_values *s,
                             const struct sl_layout *lay, const int64_t *npresent, int nprobs,
                             const double *probs, const struct sl_row_visitor *visit,
                             double *out);

/* For every published cell p, the number of values over all ranks equal
 * to lo[p] into at_lo[p] and equal to hi[p] into at_hi[p] (numerically, so
 * -0 and +0 count alike; 0 where lo[p] or hi[p] is NaN), in one pass. Any
 * lo and hi give the right counts; with the cells' minima and maxima most
 * rows are passed over after two compares. Collective through r. */
sl_status sl_count_extremes(const struct sl_reducer *r, const struct sl_cell_values *s,
                            const struct sl_layout *lay, const double *lo, const double *hi,
                            int64_t *at_lo, int64_t *at_hi);

#endif
