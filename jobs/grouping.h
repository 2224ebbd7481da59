/*
 * grouping.h: grouping rows by up to three columns: categorical ones by
 * their levels, numeric ones by bands between cut points the job gives.
 *
 * Shared by the analyses that tabulate (count, describe, crosstab,
 * histogram). A grouping maps each row to a cell of the "full grid": every
 * level of each column plus one "(missing)" level per column. After the
 * reduction, a layout maps the full grid onto the published table: missing
 * levels that no patient has are dropped and, with margins, every dimension
 * ends with a "Total" level that covers all of its levels. Statistics of a
 * published cell are always computed from the full-grid cells it covers, in
 * ascending full-grid order, so margins need no second pass over the rows.
 */
#ifndef SL_JOBS_GROUPING_H
#define SL_JOBS_GROUPING_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/config.h"
#include "engine/job.h"
#include "engine/table.h"

#define SL_MISSING_LABEL "(missing)"
#define SL_TOTAL_LABEL "Total"

/* Bands of a numeric column (integer, real or date), from the analysis's
 * `bands: {age: [18, 40, 65]}`: band 0 holds the values below the first
 * cut, band i those in [cut i-1, cut i), the last those at or above the last
 * cut, so every value has a band; missing values go to the column's missing
 * level as a category's do. The cuts are the job's: public, never taken
 * from the data. Integer and date columns take whole-number cuts (dates
 * written YYYY-MM-DD), so their bands compare exactly. */
#define SL_BAND_MAX_CUTS 99

struct sl_band {
    int ncuts;                     /* 0: the column is categorical */
    enum sl_coltype type;          /* of the banded column */
    double cuts[SL_BAND_MAX_CUTS]; /* strictly increasing */
};

struct sl_grouping {
    int ndims;
    int cols[SL_TABLE_MAX_DIMS];        /* cohort column indices */
    int32_t nlevels[SL_TABLE_MAX_DIMS]; /* levels or bands of each column (without missing) */
    const char *names[SL_TABLE_MAX_DIMS]; /* column names (borrowed from the cohort) */
    struct sl_band band[SL_TABLE_MAX_DIMS];
    int64_t ncells;                     /* full grid incl. missing levels */
};

/* Reads the optional `key` (a column name or a list of up to 3) from the
 * analysis parameters and checks each is a categorical column of the
 * cohort, or a numeric one with cut points in the analysis's `bands`; then
 * checks that `bands` names only numeric columns of the grouping
 * (sl_grouping_check_bands). Not collective. */
sl_status sl_grouping_parse(struct sl_grouping *g, const struct sl_analysis *a, const char *key,
                            const struct sl_cohort *c);

/* Appends the one column named by the string parameter `key` (categorical,
 * or numeric with cut points in `bands`).
 * When the key is absent: SL_ERR_FORMAT if `required`, else nothing is
 * appended. Fails when the grouping would exceed SL_TABLE_MAX_DIMS columns or
 * repeat a column. `g` must have been initialised (zeroed with ncells = 1, or
 * by sl_grouping_parse). Not collective. */
sl_status sl_grouping_append(struct sl_grouping *g, const struct sl_analysis *a, const char *key,
                             bool required, const struct sl_cohort *c);

/* SL_ERR_FORMAT when the analysis's `bands` names a column that the
 * grouping does not cut into bands (one it does not group by, or a
 * categorical one). For callers that build a grouping with
 * sl_grouping_append. Not collective. */
sl_status sl_grouping_check_bands(const struct sl_grouping *g, const struct sl_analysis *a);

/* The cut points of numeric column `info` (integer, real or date) from an
 * analysis's `bands` mapping (sl_params_sub) into b: 1 to SL_BAND_MAX_CUTS,
 * strictly increasing, whole numbers for integer columns, YYYY-MM-DD for
 * dates. SL_ERR_FORMAT naming the entry's file:line:col. Not collective. */
sl_status sl_band_parse(struct sl_band *b, const struct sl_params *bands,
                        const struct sl_colinfo *info);

/* out[i] = the band of row i of `col` (the frame's data of the banded
 * column, from the first row wanted), `missing` where the value is missing;
 * with `scale` nonzero, out[i] * scale + that instead (cell indices built a
 * column at a time). */
void sl_band_rows(const struct sl_band *b, const void *col, int64_t n, int32_t missing,
                  int32_t scale, int32_t *out);

/* The label of band `level` of `b` into buf (SL_BAND_LABEL_MAX holds any):
 * "<18", "18-39", "40", ">=65" for integer columns, "<18.5", "[18.5,25)",
 * ">=30" for real ones and the same with YYYY-MM-DD for dates. */
#define SL_BAND_LABEL_MAX 96
void sl_band_label(const struct sl_band *b, int32_t level, char *buf, size_t cap);

/* Cell index of every row of the frame in [0, ncells), or -1 for rows the
 * mask drops. `cell` (secret) holds frame->nrows entries. Not collective. */
sl_status sl_grouping_cells(const struct sl_grouping *g, const struct sl_exec *ex,
                            int32_t *cell);

/* The same on any frame that holds the grouping columns; `mask` (borrowed,
 * may be NULL) drops rows whose byte is 0. SL_ERR_FORMAT when a category
 * code lies outside its column's levels (every row's code is checked,
 * dropped or not). A banded column's values give their bands. Not
 * collective. */
sl_status sl_grouping_cells_frame(const struct sl_grouping *g, const struct sl_frame *fr,
                                  const uint8_t *mask, int32_t *cell);

/* The same for frame rows [r0, r1) only: cell[i] is the cell of row r0 + i
 * (mask indexed by frame row). Not collective. */
sl_status sl_grouping_cells_rows(const struct sl_grouping *g, const struct sl_frame *fr,
                                 const uint8_t *mask, int64_t r0, int64_t r1, int32_t *cell);

/* Creates the published table from full-grid patient counts `n`: drops each
 * column's missing level when no patient has it, unless `every_level` (a
 * layout that does not depend on the data: engine/dp.h). `map` (ncells
 * entries, caller-allocated) receives each full-grid cell's index in the
 * table, or -1 where the cell was dropped. */
sl_status sl_grouping_table(const struct sl_grouping *g, const struct sl_cohort *c,
                            const char *name, const char *analysis, const int64_t *n,
                            int every_level, int64_t *map, struct sl_table **out);

/* ---- layouts: full grid -> published table ---- */

/* Published cells one full-grid cell may contribute to (itself and, with
 * margins, one per subset of dimensions replaced by Total). */
#define SL_LAYOUT_MAX_TARGETS (1 << SL_TABLE_MAX_DIMS)

struct sl_layout {
    int ndims;
    int margins;                       /* every dimension ends with a Total level */
    int64_t nfull;                     /* cells of the full grid */
    int64_t ncells;                    /* cells of the published grid */
    int32_t full[SL_TABLE_MAX_DIMS];   /* full-grid levels per dimension (with missing) */
    int32_t shown[SL_TABLE_MAX_DIMS];  /* published levels per dimension before Total */
    int32_t pub[SL_TABLE_MAX_DIMS];    /* published levels per dimension */
};

/* Lays out grouping `g` given its full-grid patient counts `n` (the same on
 * every rank after the reduction): a column's missing level is shown when
 * any patient has it; always when n is NULL, for a layout that does not
 * depend on the data (noisy counts: engine/dp.h). Not collective; cannot
 * fail. */
void sl_layout_init(struct sl_layout *lay, const struct sl_grouping *g, const int64_t *n,
                    int margins);

/* Writes to `targets` the published cells full-grid cell `cell` contributes
 * to, ascending, and returns how many (0 for a cell of a dropped level). */
int sl_layout_targets(const struct sl_layout *lay, int64_t cell, int64_t *targets);

/* For every published cell, the full-grid cells it covers, ascending:
 * (*members)[(*start)[p] .. (*start)[p + 1]). Both sl_malloc'd (caller
 * frees). Not collective. */
sl_status sl_layout_members(const struct sl_layout *lay, int64_t **start, int64_t **members);

/* Sums `width` int64 per full-grid cell into the published cells:
 * pub[t * width + j] += full[c * width + j] for every target t of c. `pub`
 * holds lay->ncells * width entries and is accumulated. */
void sl_layout_sum_i64(const struct sl_layout *lay, const int64_t *full, int64_t width,
                       int64_t *pub);

/* Creates the published table of the layout with zeroed counts; with
 * `extra` (may be NULL) one more dimension is appended last, so cell p of the
 * layout and level b of `extra` are table cell p * extra->nlevels + b. Sets
 * t->margins. SL_ERR_ARG when the table would have more than
 * SL_TABLE_MAX_DIMS dimensions. */
sl_status sl_layout_table(const struct sl_layout *lay, const struct sl_grouping *g,
                          const struct sl_cohort *c, const char *name, const char *analysis,
                          const struct sl_dim *extra, struct sl_table **out);

#endif
