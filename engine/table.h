/*
 * table.h: an analysis output on its way to the release gate.
 *
 * A table is a grid of cells over up to SL_TABLE_MAX_DIMS dimensions of
 * labelled levels (categories, or intervals of a numeric column: bands,
 * bins; row-major: the last dimension varies fastest), or a single cell
 * when it has no dimension. Every cell carries the exact number of distinct
 * patients behind it (what count rules judge) and any number of statistic
 * columns. Model outputs use one dimension ("term") and add model-level
 * facts in `model`. The gate fills in the verdicts; only the gate decides what
 * may leave.
 *
 * A table holds aggregates, never rows; it still counts as secret until the
 * gate has passed it, so nothing prints a table before that.
 */
#ifndef SL_ENGINE_TABLE_H
#define SL_ENGINE_TABLE_H

#include <jansson.h>
#include <stdint.h>

#include "engine/core/status.h"

#define SL_TABLE_MAX_DIMS 3

enum sl_decision { SL_DECISION_PASS = 0, SL_DECISION_REVIEW = 1, SL_DECISION_FAIL = 2 };
const char *sl_decision_name(enum sl_decision d);

enum sl_stat_kind {
    SL_STAT_COUNT = 0,  /* a count of patients or values (integer valued) */
    SL_STAT_SUM,
    SL_STAT_MEAN,
    SL_STAT_SD,
    SL_STAT_VAR,
    SL_STAT_QUANTILE,
    SL_STAT_MIN,
    SL_STAT_MAX,
    SL_STAT_MISSING,    /* count of missing values */
    SL_STAT_COEF,       /* model coefficient table columns */
    SL_STAT_OTHER
};

/* Levels of a dimension that are intervals of a numeric column (bands,
 * histogram bins), for the differencing rule (ledger.h): level l holds the
 * values up to end upper[l] of the ascending ends, end k being the value
 * end[k], included when closed[k]; upper[l] == nends: no end (+inf), -1: a
 * level that is no interval (missing, Total). Values below end k are the
 * levels with upper <= k. */
struct sl_intervals {
    char *column;
    int32_t nends;
    double *end;           /* [nends] ascending */
    unsigned char *closed; /* [nends] */
    int32_t *upper;        /* [nlevels of the dimension] */
};

/* An interval description of `nends` ends and `nlevels` levels (zeroed,
 * column copied). SL_ERR_NOMEM. */
sl_status sl_intervals_create(const char *column, int32_t nends, int32_t nlevels,
                              struct sl_intervals **out);
void sl_intervals_destroy(struct sl_intervals **iv);

struct sl_dim {
    char *name;
    int32_t nlevels;
    char **levels;
    struct sl_intervals *iv; /* levels that are intervals of a column, or NULL */
};

struct sl_stat {
    char *name;             /* column name in CSV/JSON, e.g. "mean" */
    enum sl_stat_kind kind;
    double *v;              /* [ncells]; NaN = not available */
    int64_t *support;       /* [ncells] distinct patients the value rests on (present
                               values for mean/sd/quantiles, patients sharing the extreme
                               for min/max), or NULL: the cell's n */
};

/* Dominance evidence of one magnitude cell (sums, means). Contributions are
 * per-patient values of the measure in fixed point, value * 2^SL_FIXED_SHIFT
 * rounded to nearest, so rules compare exactly with rational thresholds. */
#define SL_FIXED_SHIFT 20
#define SL_DOM_TOP 4
struct sl_dominance {
    int64_t ncontrib;        /* patients with a present value */
    int64_t top[SL_DOM_TOP]; /* largest contributions, descending; 0 where fewer */
    int64_t total_hi;        /* sum of all contributions as a signed 128-bit */
    uint64_t total_lo;       /*   integer: total_hi * 2^64 + total_lo */
    int has_negative;        /* some contribution < 0: dominance is undefined */
};

/* Exact aggregates of a value column for noisy sums and means (privacy: dp,
 * engine/dp.h), which a job type fills in place of the statistics: per
 * cell, the patients with a value and the sum of their values clamped to
 * the column's public bounds and put on the lattice center + step * k,
 * |k| <= SL_DP_RADIUS (sl_dp_lattice). The engine adds noise to both and
 * derives the sum and mean columns from them. */
#define SL_DP_RADIUS 1024
#define SL_DP_POINTS (2 * SL_DP_RADIUS + 1)
struct sl_dp_values {
    int64_t *present;        /* [ncells] patients with a value */
    int64_t *lattice;        /* [ncells] sum of their lattice points */
    int64_t *hist;           /* [ncells * SL_DP_POINTS] patients at each lattice point
                                (-SL_DP_RADIUS first), for noisy medians, or NULL */
    double lower, upper;     /* the public bounds */
    double center, step;     /* (lower + upper) / 2, (upper - lower) / (2 SL_DP_RADIUS) */
    int sum_stat, mean_stat; /* stat columns to fill, -1 where not asked for */
    int present_stat;        /* count column of patients with a value, or -1 */
    int median_stat;         /* median column (needs hist), or -1 */
};

struct sl_table {
    char *name;             /* output name from the job file */
    char *analysis;         /* analysis type, e.g. "count" */
    json_t *spec;           /* the analysis as written (owned) */
    int ndims;
    struct sl_dim dims[SL_TABLE_MAX_DIMS];
    int64_t ncells;
    int64_t *n;             /* [ncells] distinct patients per cell */
    int nstats;
    struct sl_stat *stats;
    struct sl_dominance *dom; /* [ncells] for magnitude tables, else NULL */
    int dom_stat;           /* index of the stat column the dominance refers to */
    struct sl_dp_values *dp_values; /* for noisy sums and means, else NULL */
    json_t *model;          /* model-level results released with the table (owned) or NULL */
    json_t *facts;          /* what rules need but is not itself released, e.g. patients
                               per level of each model term (owned) or NULL; rules quote
                               from it in their evidence only what may be shown */
    int margins;            /* 1: the last level of every dimension is the margin
                               "Total", holding the sum over that dimension (cells with
                               any coordinate on it are margin cells; mitigate.h);
                               0: no margin cells */

    /* Filled by the gate. */
    enum sl_decision decision;
    enum sl_decision *cell_decision; /* [ncells] */
    json_t *verdicts;       /* array of {rule, status, cells:[...], evidence, reason} */

    /* Filled by mitigation (mitigate.h) when one applies. */
    unsigned char *withheld; /* [ncells] SL_WITHHELD_* flags, or NULL: none withheld */
    json_t *mitigation;     /* what was applied (owned), or NULL */
};

/* Flags of table->withheld. A withheld value is wiped from the table (count 0,
 * statistics NaN) and written as NA / null. */
#define SL_WITHHELD_CELL 1  /* the cell's count and statistics */
#define SL_WITHHELD_STATS 2 /* the cell's statistics only; its count is released */

/* Creates a table with the given dimensions (levels copied) and zeroed counts.
 * dims may be NULL when ndims is 0 (one cell). */
sl_status sl_table_create(const char *name, const char *analysis, int ndims,
                          const struct sl_dim *dims, struct sl_table **out);

/* Adds a statistic column (values NaN) and returns its index in *index. */
sl_status sl_table_add_stat(struct sl_table *t, const char *name, enum sl_stat_kind kind,
                            int *index);

/* Allocates (zeroed) the support counts of stat column `index`. */
sl_status sl_table_stat_support(struct sl_table *t, int index, int64_t **support);

/* Allocates (zeroed) dominance evidence for every cell, for stat `index`. */
sl_status sl_table_enable_dominance(struct sl_table *t, int index);

/* Sets the bounds, center and step of dv for public bounds lower < upper
 * (finite). */
void sl_dp_values_bounds(struct sl_dp_values *dv, double lower, double upper);

/* Allocates (zeroed) t->dp_values for a column with public bounds
 * lower < upper (finite); its stat columns start at -1. */
sl_status sl_table_enable_dp_values(struct sl_table *t, double lower, double upper);

/* Allocates (zeroed) t->dp_values->hist (after sl_table_enable_dp_values).
 * SL_ERR_ARG when it would exceed 2^24 entries (8,192 cells). */
sl_status sl_table_enable_dp_hist(struct sl_table *t);

/* The lattice point of value x (not NaN) for t->dp_values: x clamped to the
 * bounds, then round((x - center) / step), within [-SL_DP_RADIUS,
 * SL_DP_RADIUS]. */
int64_t sl_dp_lattice(const struct sl_dp_values *dv, double x);

/* Level labels of cell `cell`, one per dimension, borrowed. */
void sl_table_cell_levels(const struct sl_table *t, int64_t cell, const char **labels);

void sl_table_destroy(struct sl_table **t);

/* A growable list of tables an analysis produces (rank 0 only). */
struct sl_outputs {
    struct sl_table **tables;
    int count;
    int cap;
};

/* Appends, taking ownership of *t (NULLs it). */
sl_status sl_outputs_push(struct sl_outputs *o, struct sl_table **t);
void sl_outputs_clear(struct sl_outputs *o);

#endif
