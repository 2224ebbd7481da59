/*
 * kernel.h: the single public API of sluice's numerical kernels.
 *
 * Every computation on row data goes through sl_kernel_run(backend, op, args):
 * an operation code, one argument struct per operation and an opaque backend
 * (the plain C reference, the optimised CPU code, later the GPU). Keeping one
 * entry point lets the engine pick a backend per job, lets the dispatcher
 * validate every call in one place and fall back to the CPU, and lets the
 * conformance tests run every op on every backend against the reference.
 *
 * Conventions shared by all ops:
 * - An op works on one chunk of n rows. Inputs are host arrays, borrowed for
 *   the call, and hold secret (per-patient) values; outputs are host arrays
 *   owned by the caller. Kernels keep no reference to either after returning
 *   and wipe every scratch copy they make.
 * - Outputs are accumulated: each op computes the chunk's partial result P,
 *   a deterministic function of the inputs alone (not of the thread count or
 *   the backend's blocking), and folds it into the outputs once (counts +=,
 *   sums +=, moments by sl_moments_combine). Zeroed outputs therefore receive
 *   exactly P, which is what the engine needs to combine per-chunk partials in
 *   a fixed order. SL_OP_SORT_F64 is the exception: it overwrites.
 * - Row selection: `mask` (optional, NULL = keep every row) drops rows whose
 *   byte is 0; `cell` (optional, NULL = every row in cell 0) gives each row's
 *   cell in [0, ncells) or -1 to drop it. Any other cell value fails with
 *   SL_ERR_ARG.
 * - Integer results (counts, histograms) are exact on every backend. Real
 *   results of the "cpu" backend are bit-identical between runs and between
 *   thread counts on a given machine; the tolerances against "cpu_ref" are
 *   stated in the conformance tests.
 * - On failure the outputs are left untouched.
 */
#ifndef SL_KERNELS_KERNEL_H
#define SL_KERNELS_KERNEL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum sl_op {
    SL_OP_GROUP_COUNT = 0,   /* struct sl_group_count_args */
    SL_OP_GROUP_MOMENTS = 1, /* struct sl_group_moments_args */
    SL_OP_HISTOGRAM = 2,     /* struct sl_histogram_args */
    SL_OP_GRAM = 3,          /* struct sl_gram_args */
    SL_OP_IRLS_STEP = 4,     /* struct sl_irls_step_args */
    SL_OP_SORT_F64 = 5,      /* struct sl_sort_f64_args */
    SL_OP_COUNT = 6          /* number of ops, not an op */
};

/* Rows per cell: counts[c] += number of kept rows in cell c. Exact. */
struct sl_group_count_args {
    int64_t n;            /* rows, >= 0 */
    const int32_t *cell;  /* [n] cell per row, -1 = drop; NULL = all in cell 0 */
    const uint8_t *mask;  /* [n] 0 = drop; NULL = keep all */
    int64_t ncells;       /* >= 1 (and <= INT32_MAX + 1) */
    int64_t *counts;      /* [ncells] accumulated */
};

/* Per-cell summary of a real column. An all-zero struct is the empty summary;
 * mean and m2 are meaningful only when n_present > 0. (The minimum and
 * maximum are order statistics, found by selection in jobs/select.c.) */
struct sl_moments {
    int64_t n_present; /* kept rows with a non-NaN value */
    int64_t n_missing; /* kept rows whose value is NaN */
    double sum;        /* sum of the present values */
    double mean;       /* their mean */
    double m2;         /* sum of squared deviations from the mean (variance * (n - 1)) */
};

/* Grouped moments: out[c] = sl_moments_combine(out[c], P[c]) where P[c] is
 * the chunk's summary of cell c. Within a chunk the mean and m2 are computed
 * in two passes over fixed segments of rows, merged in row order with the
 * combine formula, so they are stable and independent of the thread count. */
struct sl_group_moments_args {
    int64_t n;
    const double *values; /* [n] NaN = missing */
    const int32_t *cell;  /* [n] or NULL */
    const uint8_t *mask;  /* [n] or NULL */
    int64_t ncells;       /* >= 1 */
    struct sl_moments *out; /* [ncells] accumulated */
};

/* Histogram per cell over nbins = nedges - 1 bins. Bin b holds values v with
 * edges[b] <= v < edges[b+1]; the last bin is closed (v == edges[nbins]
 * belongs to it). v < edges[0] (including -inf) counts as below, v >
 * edges[nbins] (including +inf) as above, NaN as missing. Exact. */
struct sl_histogram_args {
    int64_t n;
    const double *values; /* [n] */
    const int32_t *cell;  /* [n] or NULL */
    const uint8_t *mask;  /* [n] or NULL */
    int64_t ncells;       /* >= 1 */
    const double *edges;  /* [nedges] finite, strictly increasing */
    int64_t nedges;       /* >= 2 */
    int64_t *counts;      /* [ncells * nbins] accumulated; counts[c * nbins + b] */
    int64_t *below;       /* [ncells] accumulated, or NULL if not wanted */
    int64_t *above;       /* [ncells] accumulated, or NULL */
    int64_t *missing;     /* [ncells] accumulated, or NULL */
};

/* Weighted Gram matrix of a tall-skinny block: g += X' diag(w) X.
 * X is n x p, given as p column pointers, so that a caller can pass columns
 * it already holds (a decrypted cohort column) without copying them. Rows with
 * mask 0 or weight 0 are left out entirely (a NaN in such a row does not
 * propagate); a NaN in a kept row does. Weights must be finite and >= 0:
 * SL_ERR_ARG names the first row whose weight is not (rows the mask drops
 * are not checked). The "cpu" backend computes each entry as sums of
 * (sqrt(w) x_i)(sqrt(w) x_j) in fixed 8-lane, 4096-row blocks. */
struct sl_gram_args {
    int64_t n;
    int64_t p;            /* columns, >= 0 */
    const double *const *x; /* [p] columns, each [n] */
    const double *w;      /* [n] weights, or NULL for all 1 */
    const uint8_t *mask;  /* [n] or NULL */
    double *g;            /* [p * p] column-major, full symmetric, accumulated */
};

enum sl_glm_family {
    SL_GLM_GAUSSIAN_IDENTITY = 0,
    SL_GLM_BINOMIAL_LOGIT = 1
};

/* Scalar results of an IRLS step, accumulated by += (the counts exactly). */
struct sl_irls_sums {
    int64_t n_used;       /* rows with mask != 0 and prior weight > 0 */
    int64_t n_boundary;   /* binomial: used rows with mu < 10 eps or mu > 1 - 10 eps (eps =
                             DBL_EPSILON), R's "fitted probabilities numerically 0 or 1" */
    double deviance;      /* sum of prior-weighted unit deviances at beta
                             (gaussian: the weighted residual sum of squares) */
    double minus2_loglik; /* binomial: -2 log-likelihood at beta exactly as R's binomial()$aic
                             (equals the deviance for 0/1 y); gaussian: 0, see below */
    double sum_log_w;     /* sum of log(prior weight) over used rows */
    double sum_w;         /* sum of prior weights over used rows */
    double sum_wy;        /* sum of prior weight * y over used rows */
};

/* One fused pass of iteratively reweighted least squares at coefficients
 * beta, for the canonical GLMs. For every used row i (mask != 0, prior weight
 * a_i > 0):
 *   eta_i = x_i' beta + offset_i
 *   gaussian: mu_i = eta_i, W_i = a_i, z_i = y_i - offset_i,
 *             unit deviance (y_i - mu_i)^2
 *   binomial: mu_i = e/(1+e), e = exp(eta_i) clamped as R's logit linkinv
 *             (e = DBL_EPSILON below eta -30, 1/DBL_EPSILON above 30, so mu
 *             stays in [2.2e-16, 1 - 2.2e-16]); d_i = dmu/deta = e/(1+e)^2,
 *             or DBL_EPSILON outside [-30, 30] (R's mu.eta);
 *             W_i = a_i d_i^2 / (mu_i (1 - mu_i)),
 *             z_i = (eta_i - offset_i) + (y_i - mu_i) / d_i,
 *             unit deviance 2 (y log(y/mu) + (1-y) log((1-y)/(1-mu))), 0 log 0 = 0
 * and accumulates
 *   xtwx += X' W X (p x p, column-major, full symmetric)
 *   xtwz += X' W z (p)
 *   sums += see struct sl_irls_sums.
 * The IRLS update is then beta_new = xtwx^{-1} xtwz (sl_spd_solve), exactly
 * R's glm.fit step; xtwx at the converged beta is the Fisher information, its
 * inverse the unscaled covariance. The deviance refers to the beta passed in,
 * so step-halving compares the deviance returned by the call at beta_new with
 * the previous one. AIC: binomial AIC = minus2_loglik + 2 rank; gaussian (R's
 * gaussian()$aic) = n_used (log(2 pi deviance / n_used) + 1) + 2 - sum_log_w
 * + 2 rank, the extra 2 counting the dispersion.
 * Errors: SL_ERR_ARG when a row that is not masked out has a negative or
 * non-finite prior weight, or a used row has a NaN response or a non-finite
 * offset, or (binomial) y outside [0, 1]; SL_ERR_NUMERIC when a used row's
 * linear predictor is not finite (NaN in X, diverging beta). */
struct sl_irls_step_args {
    int64_t n;
    int64_t p;              /* >= 1 */
    const double *const *x; /* [p] columns of the design, each [n] */
    const double *y;        /* [n] response; binomial: proportion of successes in [0, 1] */
    const double *prior_w;  /* [n] prior weights >= 0 (binomial: trials when y is a proportion),
                               or NULL for all 1 */
    const double *offset;   /* [n] or NULL for 0 */
    const uint8_t *mask;    /* [n] or NULL */
    const double *beta;     /* [p] */
    enum sl_glm_family family;
    double *xtwx;           /* [p * p] accumulated */
    double *xtwz;           /* [p] accumulated */
    struct sl_irls_sums *sums; /* accumulated */
};

/* Sorted non-missing values, grouped by cell: for every cell c the kept rows
 * of c with a non-NaN value, ascending in IEEE total order (-0 before +0),
 * are written to sorted[cell_start[c] .. cell_start[c+1]). Overwrites its
 * outputs (the one op that does not accumulate). Feeds exact quantiles: the
 * engine gathers the sorted runs, merges them (sl_sorted_merge_f64) and
 * applies sl_quantile_type7. */
struct sl_sort_f64_args {
    int64_t n;
    const double *values; /* [n] NaN = missing */
    const int32_t *cell;  /* [n] or NULL */
    const uint8_t *mask;  /* [n] or NULL */
    int64_t ncells;       /* >= 1 */
    double *sorted;       /* [n] capacity; secret output */
    int64_t *cell_start;  /* [ncells + 1] overwritten; cell_start[ncells] = values written */
    int64_t *n_missing;   /* [ncells] overwritten with NaN counts, or NULL */
};

struct sl_backend;

/* Looks up a backend: "cpu" (OpenMP + SIMD, the default), "cpu_ref" (plain
 * C, the test oracle), "gpu" (SL_ERR_UNSUPPORTED when not built or no device
 * is usable) or "auto" (the first usable of gpu, cpu). The backend is created
 * on first use and lives until sl_backends_shutdown; *out is borrowed.
 * Thread-safe. Returns SL_ERR_ARG for an unknown name. Not collective. */
sl_status sl_backend_get(const char *name, struct sl_backend **out);

/* The backend's name ("cpu", ...). Never NULL. */
const char *sl_backend_name(const struct sl_backend *b);

/* Runs `op` with its argument struct on backend `b`. Validates the arguments
 * (SL_ERR_ARG with a message naming the field), runs on `b` if it supports
 * the call and otherwise on "cpu", or on "cpu_ref" for calls "cpu" declines.
 * Synchronous: outputs are complete on return. Status codes as documented
 * per op; SL_ERR_NOMEM when scratch memory cannot be had. Not collective. */
sl_status sl_kernel_run(struct sl_backend *b, enum sl_op op, void *args);

/* Declares that [host, host + bytes) will be passed unchanged to several
 * calls until sl_backend_forget; a device backend may keep a copy next to
 * the device (wiped when forgotten). No-op on CPU backends. */
sl_status sl_backend_keep(struct sl_backend *b, const void *host, size_t bytes);
void sl_backend_forget(struct sl_backend *b, const void *host);

/* Waits until the backend has no work or transfers in flight. */
sl_status sl_backend_sync(struct sl_backend *b);

/* Releases every backend's resources (device contexts, kept copies). Handles
 * from sl_backend_get are invalid afterwards; a later get starts afresh. */
void sl_backends_shutdown(void);

/* Name of an op ("gram"), or "unknown". */
const char *sl_op_name(enum sl_op op);

/* One line describing the kernel build and this machine: ISA in use, OpenMP
 * threads, LAPACK, GPU. For logs and benchmark output. */
const char *sl_kernels_config(void);

/* Threads the CPU kernels run on: OpenMP's limit (OMP_NUM_THREADS, else
 * the CPUs this process may run on), 1 without OpenMP. */
int sl_kernel_threads(void);

/* ---- combining partial results (pure functions, not collective) ---- */

/* acc = acc (+) b by the parallel formula of Chan, Golub and LeVeque:
 * n = na + nb, delta = mean_b - mean_a, mean = mean_a + delta * nb / n,
 * m2 = m2_a + m2_b + delta^2 * na * nb / n; sums and counts add up. Empty
 * sides are exact identities. Not commutative in the last bit: the engine
 * folds partials in a fixed order. */
void sl_moments_combine(struct sl_moments *acc, const struct sl_moments *b);

/* The 64-bit key whose unsigned order is the IEEE total order of doubles
 * (-NaN < -inf < ... < -0 < +0 < ... < +inf < NaN), and back. Sorting and
 * selecting on keys orders values exactly, signed zeros included. */
static inline uint64_t sl_total_key(double v)
{
    uint64_t k;
    memcpy(&k, &v, sizeof k);
    return (k >> 63) ? ~k : k | (UINT64_C(1) << 63);
}

static inline double sl_total_value(uint64_t k)
{
    double v;
    k = (k >> 63) ? k & ~(UINT64_C(1) << 63) : ~k;
    memcpy(&v, &k, sizeof v);
    return v;
}

/* ---- the bracket pass of exact selection (jobs/select.c) ---- */

#define SL_BRACKET_CELLS 32
#define SL_BRACKET_BOUNDS 63
#define SL_BRACKET_LANES 8

/* The segments of a grid of at most SL_BRACKET_CELLS cells, each cell cut
 * by up to SL_BRACKET_BOUNDS bounds on the total-order key (sl_total_key):
 * a value of cell c with key k lies in segment s of c, s = the number of
 * c's bounds at or below k, and is counted by counter seg0[c] + s. */
struct sl_brackets {
    int ncells;  /* 1 .. SL_BRACKET_CELLS */
    int nbounds; /* 0 .. SL_BRACKET_BOUNDS; a cell with fewer pads with UINT64_MAX */
    int64_t stride; /* counters per copy: every seg0[c] + s is below it */
    uint64_t bound[SL_BRACKET_BOUNDS][SL_BRACKET_CELLS]; /* [j][c], ascending in j */
    int64_t seg0[SL_BRACKET_CELLS];
    uint64_t copy[SL_BRACKET_CELLS]; /* bit s set: segment s of c holds candidates */
};

/* One pass over rows [r0, r1) of v in full-grid cells cell[r] (-1 =
 * dropped) or, with cell NULL, all in cell 0 except where mask (may be NULL)
 * is 0. A row with a cell and a value (not NaN) in segment s of cell c adds 1
 * to hist[((r - r0) mod SL_BRACKET_LANES) * b->stride + seg0[c] + s]; hist
 * has SL_BRACKET_LANES * b->stride + 1 counters (the last is scratch). When
 * bit s of copy[c] is set the row is also candidate *n: cv[*n] = v[r] and
 * cs[*n] = seg0[c] + s while *n < cap, and *n grows by one either way, so
 * candidates keep row order and a full buffer still counts them. Returns the
 * first row whose cell is neither -1 nor below ncells (the pass stops
 * there), or -1. Runs on the calling thread, with a variant per instruction
 * set (kernels/cpu/cell_brackets.c) that all give the same output. */
int64_t sl_bracket_rows(const struct sl_brackets *b, const double *v, const int32_t *cell,
                        const uint8_t *mask, int64_t r0, int64_t r1, int64_t *hist, double *cv,
                        int32_t *cs, int64_t cap, int64_t *n);

/* ---- fixed-point evidence per cell (jobs/dominance.c) ---- */

/* round(v * scale), half away from zero, saturating at +-(2^63 - 1) (for
 * large |v| and infinities); v must not be NaN. Adding the largest double
 * below 1/2 and truncating rounds every product, halves included, as
 * round() does, without a library call. */
static inline int64_t sl_fixed_round(double v, double scale)
{
    double x = v * scale;
    if (!(fabs(x) < 9223372036854775807.0))
        return x < 0 ? -INT64_MAX : INT64_MAX;
    return (int64_t)(x + copysign(0.49999999999999994, x));
}

/* Grids up to this many cells keep their sums in registers (more cells:
 * the lane tables are faster). */
#define SL_FIXED_CELLS 10
#define SL_FIXED_TOP 4

/* Per-cell sums of contributions x = sl_fixed_round(v, scale), in arrays of
 * the caller with ncells entries each (top: SL_FIXED_TOP per cell). The
 * kernel adds to what the caller put there: zeros or earlier sums, and in
 * top earlier largest values, descending, INT64_MIN where fewer. Like the
 * sums, the scratch is left holding values derived from rows: the caller
 * wipes it. */
struct sl_fixed_cells {
    double scale;
    int64_t ncells;       /* >= 1 */
    int64_t *total_hi;    /* sum of x, a signed 128-bit integer: */
    uint64_t *total_lo;   /*   total_hi * 2^64 + total_lo */
    int64_t *count;
    int64_t *negative;    /* 1: some x < 0 */
    int64_t *top;         /* [ncells][SL_FIXED_TOP]: largest x, descending */
    int64_t *scratch;     /* SL_FIXED_SCRATCH(ncells) entries of any content */
};

/* Entries of the kernel's scratch for a grid of n cells: per-lane tables of
 * sums, counts and the smallest kept value per cell. */
#define SL_FIXED_SCRATCH(n) (32 * ((int64_t)(n) + 1))

/* Adds the present values of rows [0, n) to the sums of their cells: row r
 * in cell[r] (-1 = dropped) or, with cell NULL, in cell 0 unless mask (may
 * be NULL) is 0. Returns the first row whose cell is neither -1 nor below
 * ncells (the sums then hold the rows before it), or -1. Integer totals and
 * the largest values do not depend on the order of the rows, so the
 * variants per instruction set (kernels/cpu/cell_fixed.c) give the same
 * output. */
int64_t sl_fixed_cells_rows(struct sl_fixed_cells *f, const double *v, const int32_t *cell,
                            const uint8_t *mask, int64_t n);

/* Sample quantile of type 7 (R's default) of sorted[0..n) at prob in [0, 1],
 * computed as R's quantile.default does: index = 1 + (n - 1) prob,
 * lo = floor(index), hi = ceiling(index), q = x[lo], and where index > lo and
 * x[hi] != q, q = (1 - h) q + h x[hi] with h = index - lo (1-based x).
 * *out = NaN when n == 0 (R's NA). SL_ERR_ARG for prob outside [0, 1] or NaN. */
sl_status sl_quantile_type7(const double *sorted, int64_t n, double prob, double *out);

#ifdef __cplusplus
}
#endif

#endif
