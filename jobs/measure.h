/*
 * measure.h: a numeric cohort column read as doubles.
 *
 * The analyses that summarise values (describe, crosstab's cell values,
 * histogram) treat integer, real and date columns alike: as doubles with NaN
 * for a missing value, which is what the kernels take. Real columns are
 * passed to the kernels in place; integer and date columns are converted a
 * block of rows at a time into secret scratch memory, so the conversion
 * stays in cache and no full-size copy of a column is made. Dates count days
 * since 1970-01-01.
 */
#ifndef SL_JOBS_MEASURE_H
#define SL_JOBS_MEASURE_H

#include <stdint.h>

#include "engine/core/status.h"
#include "io/cohort.h"
#include "io/frame.h"

struct sl_measure {
    int col;              /* cohort column index */
    enum sl_coltype type; /* SL_COL_INT, SL_COL_REAL or SL_COL_DATE */
    const char *name;     /* borrowed from the cohort */
    double lower, upper;  /* the column's public bounds, NaN where none */
};

/* Looks up column `name` and checks that it is numeric (integer, real or
 * date). `where` ("file:line:col") prefixes the error message:
 * SL_ERR_FORMAT when the column is missing or not numeric. Not collective. */
sl_status sl_measure_init(struct sl_measure *m, const struct sl_cohort *c, const char *name,
                          const char *where);

/* Rows [r0, r1) of the frame's copy of the column as doubles, NaN for
 * missing. For real columns *values points into the frame; otherwise the
 * rows are converted into `scratch` (r1 - r0 doubles, caller-owned, secret)
 * and *values points there. SL_ERR_INTERNAL when the frame lacks the column.
 * Not collective. */
sl_status sl_measure_rows(const struct sl_measure *m, const struct sl_frame *fr, int64_t r0,
                          int64_t r1, double *scratch, const double **values);

/* Largest number of rows in one chunk of the frame (at least 1), the size of
 * a scratch block for chunk-wise sl_measure_rows. */
int64_t sl_frame_max_chunk_rows(const struct sl_frame *fr);

#endif
