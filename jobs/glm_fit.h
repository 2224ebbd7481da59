/*
 * glm_fit.h: the IRLS driver behind the `glm` analysis, usable without MPI.
 *
 * A fit sees its data as blocks (one per cohort chunk) of design columns
 * in secret memory. Each iteration runs SL_OP_IRLS_STEP on every
 * block into zeroed outputs, hands the per-block partials (X'WX, X'Wz and
 * the scalar sums) to a gather callback that returns every block's partials
 * in a fixed global order, folds them left to right and solves by an
 * aliasing-aware Cholesky (glm_linalg.h). Every rank thus folds and
 * solves identical numbers and reaches bit-identical estimates whatever the
 * number of ranks; the job passes a gather built on sl_exec_gather_chunks,
 * tests and benchmarks one that keeps everything in the process.
 *
 * The iteration is R's glm.fit: the same start (mustart from the family's
 * initialize), the same working weights and responses, convergence when
 * |dev - dev_old| / (|dev| + 0.1) < epsilon, at most maxit iterations; the
 * covariance comes from the X'WX the last solve used, as R's summary.glm
 * does. Step-halving (towards the previous estimate) is applied when the
 * deviance is not finite or, from the second iteration on, when it rises by
 * the convergence tolerance or more; an iteration that had to halve never
 * counts as converged (only a full step can end the fit).
 */
#ifndef SL_JOBS_GLM_FIT_H
#define SL_JOBS_GLM_FIT_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/core/status.h"
#include "kernels/kernel.h"

/* Tolerance of the aliasing test (glm_linalg.h): a column is aliased when
 * its part not explained by the earlier kept columns is shorter than this
 * fraction of its length. */
#define SL_GLM_ALIAS_TOL 1e-6

/* One block of rows (all arrays secret, borrowed by the driver). Design
 * columns are pointers, so a column that is a cohort column as decrypted is
 * used in place; rows outside the mask are never read (they may hold NaN). */
struct sl_glm_block {
    int64_t n;              /* rows */
    const double *const *x; /* [p] design columns, each [n] */
    double *z;              /* [n] scratch column that the driver overwrites */
    const double *y;        /* [n] response (binomial: 0 or 1) */
    const double *prior_w;  /* [n] prior weights >= 0, or NULL for 1 */
    const double *offset;   /* [n] or NULL for 0 */
    const uint8_t *mask;    /* [n] rows in the model (filter and complete cases), or NULL */
};

/* Turns this process's per-block partials (`local`: `width` doubles for each
 * of its `nlocal` blocks, in its block order) into every block's partials in
 * the fixed global order: *all (sl_malloc'd, caller frees) with *nall blocks.
 * Collective in the MPI version; identical output on every rank. */
typedef sl_status (*sl_glm_gather_fn)(void *ctx, const double *local, int64_t nlocal,
                                      int64_t width, double **all, int64_t *nall);

struct sl_glm_problem {
    enum sl_glm_family family;
    int64_t p;                 /* design columns, >= 1 */
    bool intercept;            /* column 0 is the intercept (all ones) */
    bool has_offset;           /* some block has an offset (the null model is then fitted) */
    int64_t nblocks;           /* this process's blocks */
    const struct sl_glm_block *blocks;
    struct sl_backend *backend;
    sl_glm_gather_fn gather;
    void *gather_ctx;
    int maxit;                 /* R's default 25 */
    double epsilon;            /* R's default 1e-8 */
    /* Called after every iteration with its number and deviance (for the
     * job's progress lines), or NULL. null_model is false for the
     * iterations of the model and true for those of the null model
     * (intercept and offset) that follow them when has_offset and intercept
     * are set; each fit numbers its iterations from 1. */
    void (*progress)(void *ctx, bool null_model, int iteration, double deviance);
    void *progress_ctx;
};

struct sl_glm_fit {
    int64_t p;
    int64_t rank;              /* columns not aliased */
    double *beta;              /* [p] estimates; NaN for aliased columns */
    double *cov_unscaled;      /* [p * p] inverse of X'WX over the kept columns, column-major;
                                  NaN in aliased rows and columns */
    uint8_t *aliased;          /* [p] 1 = aliased */
    uint8_t *diverging;        /* [p] 1 = still moving by more than 0.1% at the last step */
    double deviance;
    double null_deviance;
    double aic;
    double dispersion;         /* 1 (binomial) or deviance / df_residual (gaussian) */
    int64_t n_used;            /* rows in the fit: in the mask with prior weight > 0 */
    int64_t n_boundary;        /* binomial: fitted probabilities within 10 eps of 0 or 1 */
    int64_t df_residual;       /* n_used - rank */
    int64_t df_null;           /* n_used - intercept */
    int iterations;
    bool converged;
    bool halving_failed;       /* step-halving could not bring the deviance down */
    int halvings;              /* step halvings over the whole fit */
    /* The null model's own IRLS fit (intercept and offset, as R's glm fits it
     * for null.deviance); without one (no offset or no intercept, or a
     * binomial response that is all 0 or all 1) null_iterations is 0 and
     * null_converged true. A null fit that did not converge still sets
     * null_deviance, from its last iteration, as R does. */
    int null_iterations;
    bool null_converged;
    bool null_halving_failed;  /* step-halving could not bring the null deviance down */
};

/* Fits the model. Collective through pr->gather (every process calls it with
 * its own blocks). SL_ERR_NUMERIC when no finite deviance can be reached
 * from the start ("no valid set of coefficients", as R) or when step-halving
 * cannot make the deviance finite; SL_ERR_ARG for an invalid problem or data
 * the kernel refuses; SL_ERR_NOMEM. Non-convergence is not an error: see
 * converged and null_converged. *out is owned by the caller. */
sl_status sl_glm_fit_run(const struct sl_glm_problem *pr, struct sl_glm_fit **out);
void sl_glm_fit_destroy(struct sl_glm_fit **f);

/* A gather for a process that holds every block (tests, benchmarks): *all is
 * a copy of `local`. ctx is unused. */
sl_status sl_glm_gather_self(void *ctx, const double *local, int64_t nlocal, int64_t width,
                             double **all, int64_t *nall);

/* ---- inference ---- */

/* Two-sided p-value of a standard normal statistic: P(|Z| >= |z|). */
double sl_glm_p_normal(double z);
/* Two-sided p-value of Student's t with df > 0 degrees of freedom:
 * P(|T| >= |t|) = I_{df/(df+t^2)}(df/2, 1/2). NaN for df <= 0 or NaN input. */
double sl_glm_p_student(double t, double df);
/* Regularized incomplete beta I_x(a, b) for a, b > 0, x in [0, 1], given x
 * and 1 - x separately (so callers avoid cancellation). NaN when invalid. */
double sl_glm_ibeta(double a, double b, double x, double one_minus_x);

/* Normal quantile used by Wald intervals: qnorm(0.975). */
#define SL_GLM_Z975 1.959963984540054

#endif
