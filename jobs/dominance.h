/*
 * dominance.h: per-cell dominance evidence of a measure (table.h's struct
 * sl_dominance), exact across ranks.
 *
 * Dominance rules ask whether one or two patients make up most of a cell's
 * sum. The patient table has one row per patient, so a patient's total
 * contribution is the row's value. Contributions are kept in fixed point
 * (value * 2^SL_FIXED_SHIFT, rounded half away from zero) so the gate can
 * compare them with rational thresholds exactly; the total is a 128-bit
 * integer. Everything here is integer arithmetic: the evidence of a cell is
 * the same however its rows are split between ranks or chunks.
 */
#ifndef SL_JOBS_DOMINANCE_H
#define SL_JOBS_DOMINANCE_H

#include <math.h>
#include <stdint.h>

#include "engine/table.h"
#include "jobs/cellstats.h"
#include "jobs/grouping.h"
#include "jobs/measure.h"

/* round(v * 2^SL_FIXED_SHIFT), saturating at +-(2^63 - 1) (for |v| beyond
 * about 8.8e12 and for infinities). v must not be NaN. Inline: the row loops
 * call it once per value. */
static inline int64_t sl_fixed_from_double(double v)
{
    return sl_fixed_round(v, (double)((int64_t)1 << SL_FIXED_SHIFT));
}

/* Adds one patient's contribution x to the evidence. */
void sl_dominance_add(struct sl_dominance *d, int64_t x);

/* acc := evidence of the union of acc's and b's patients. */
void sl_dominance_merge(struct sl_dominance *acc, const struct sl_dominance *b);

/* Adds the present values v[0..n) to the evidence of their cells: row i
 * belongs to cell[i] (-1: dropped), or with `cell` NULL to cell 0 when
 * `mask` (may be NULL) keeps it. `out` has ncells entries and accumulates.
 * SL_ERR_INTERNAL for a cell outside [-1, ncells). Not collective. */
sl_status sl_dominance_add_rows(const double *v, const int32_t *cell, const uint8_t *mask,
                                int64_t n, int64_t ncells, struct sl_dominance *out);

/* The same evidence of every row of `s` (out: s->ncells entries, zeroed
 * by the caller), rows split between the threads. Not collective. */
sl_status sl_dominance_from_values(const struct sl_cell_values *s, struct sl_dominance *out);

/* The same evidence gathered by a row visitor, so that a pass that reads
 * the rows anyway (an exact selection) brings them into cache for it:
 * begin sets *visit, which must then see every row of s once (see
 * sl_row_visitor); end merges the workers' evidence into out (s->ncells
 * entries, accumulated) or reports the first failure, and frees *dp in
 * either case (NULL-safe). */
struct sl_dominance_pass;
sl_status sl_dominance_pass_begin(const struct sl_cell_values *s, struct sl_dominance_pass **dp,
                                  struct sl_row_visitor *visit);
sl_status sl_dominance_pass_end(struct sl_dominance_pass **dp, struct sl_dominance *out);

/* Merges every rank's full-grid evidence `local` (lay->nfull entries) and
 * maps it onto the published cells: out (lay->ncells entries, zeroed by the
 * caller) on every rank. Collective through r. */
sl_status sl_dominance_reduce(const struct sl_reducer *r, const struct sl_dominance *local,
                              const struct sl_layout *lay, struct sl_dominance *out);

#endif
