/*
 * glm_linalg.h: the p x p Cholesky behind the GLM driver, bit-reproducible.
 *
 * The driver's systems X'WX beta = X'Wz must be solved to the same bits on
 * every rank and whatever the rank count, because every rank solves its own
 * copy. OpenBLAS's dpotrf and dpotri (kernels/linalg.c) return different bits
 * for different thread counts (dpotri from p = 27, dpotrf from p = 64 on the
 * project machine), and the thread count follows how mpiexec binds ranks to
 * cores. This file therefore factorises in plain C with a fixed operation
 * order; the systems are p x p and cost nothing next to the data passes.
 *
 * Aliasing follows kernels/linalg.h (R's dqrdc2 criterion on the Gram
 * matrix): columns are taken in order, and column j is aliased when its
 * Cholesky pivot d_j (the squared length of its part not explained by the
 * kept columns before it) is below tol^2 * A_jj. Not collective.
 */
#ifndef SL_JOBS_GLM_LINALG_H
#define SL_JOBS_GLM_LINALG_H

#include <stdint.h>

#include "engine/core/status.h"

struct sl_glm_chol {
    int64_t p;      /* order of the matrix */
    int64_t rank;   /* kept columns */
    int64_t *keep;  /* [rank] kept column indices, ascending */
    double *r;      /* [rank * rank] upper factor of the kept submatrix, column-major */
};

/* Factorises the symmetric positive semi-definite p x p matrix a
 * (column-major, leading dimension p, upper triangle read). aliased[p]
 * receives 1 for aliased columns. SL_ERR_NUMERIC for a NaN entry or a
 * negative diagonal entry, SL_ERR_ARG for bad sizes, SL_ERR_NOMEM. On
 * success f owns memory released by sl_glm_chol_free. */
sl_status sl_glm_chol_factor(int64_t p, const double *a, double tol, uint8_t *aliased,
                             struct sl_glm_chol *f);
/* x[p] = A^-1 b over the kept columns; aliased entries of x are 0. */
void sl_glm_chol_solve(const struct sl_glm_chol *f, const double *b, double *x);
/* inv[p * p] (column-major) = inverse of A over the kept columns, 0 in the
 * rows and columns of aliased ones. SL_ERR_NOMEM. */
sl_status sl_glm_chol_inverse(const struct sl_glm_chol *f, double *inv);
/* NULL-safe; leaves f empty. */
void sl_glm_chol_free(struct sl_glm_chol *f);

#endif
