/*
 * dpvalues.h: the exact aggregates behind noisy sums and means
 * (engine/dp.h, struct sl_dp_values in engine/table.h), shared by the
 * analyses that summarise a value column under privacy: dp.
 */
#ifndef SL_JOBS_DPVALUES_H
#define SL_JOBS_DPVALUES_H

#include <stdint.h>

#include "engine/job.h"
#include "jobs/grouping.h"
#include "jobs/measure.h"

/* One pass over this rank's kept rows, then sums over all ranks: per cell
 * of grouping g, the patients, the patients with a value of m and the sum
 * of their lattice points (sl_dp_lattice over m's public bounds, which
 * must be finite). On rank 0 *out receives the published table `name` of
 * `analysis` (spec: a new reference is taken), laid out without looking at
 * the data (every missing level; a Total level per dimension with
 * `margins`), with n and t->dp_values filled; the caller adds the statistic
 * columns and names them in t->dp_values. With `hist`, also the patients
 * at each lattice point per cell (t->dp_values->hist, for noisy medians;
 * SL_ERR_ARG beyond sl_table_enable_dp_hist's limit, checked before the
 * pass). NULL on the other ranks. Collective. */
sl_status sl_dp_values_output(const struct sl_grouping *g, const struct sl_measure *m,
                              int margins, int hist, struct sl_exec *ex, const char *name,
                              const char *analysis, json_t *spec, struct sl_table **out);

#endif
