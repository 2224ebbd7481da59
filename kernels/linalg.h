/*
 * linalg.h: small dense solves for model fitting (the GLM driver's
 * X'WX beta = X'Wz and the coefficient covariance).
 *
 * The p x p systems are tiny next to the data passes that build them, so
 * these run on the host, through LAPACK (OpenBLAS) when the build has it and
 * a plain C Cholesky otherwise. Both first find the aliased columns the way
 * R's lm and glm do: columns are taken in order, and a column whose part not
 * explained by the earlier kept columns is small is dropped (aliased), so the
 * fit proceeds on the rest and the aliased coefficients are reported as
 * such (R prints NA).
 *
 * Not collective. Inputs are borrowed; outputs are caller-owned arrays.
 */
#ifndef SL_KERNELS_LINALG_H
#define SL_KERNELS_LINALG_H

#include <stdint.h>

#include "engine/core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Solves A x = b for a symmetric positive semi-definite p x p matrix A
 * (column-major, leading dimension lda >= max(1, p); only the upper triangle
 * is read). Column j is aliased when its residual after projection on the
 * kept columns before it, relative to its own length, is below tol:
 * d_j < tol^2 A_jj with d_j the Cholesky pivot (R's dqrdc2 criterion
 * applied to the Gram matrix; usable for tol >= about 1e-7, since the Gram
 * squares the condition number). Aliased columns get x_j = 0 and are left out
 * of the solve. aliased (p bytes, 1 = aliased) and rank may be NULL.
 * SL_ERR_ARG for bad sizes or tol outside [0, 1); SL_ERR_NUMERIC when A has a
 * negative or NaN diagonal entry or a NaN entry. */
sl_status sl_spd_solve(int64_t p, const double *a, int64_t lda, const double *b, double tol,
                       double *x, uint8_t *aliased, int64_t *rank);

/* Inverse of A restricted to the kept columns, as above: inv (column-major,
 * leading dimension ldinv >= max(1, p), full symmetric) has zero rows and
 * columns for aliased columns. */
sl_status sl_spd_inverse(int64_t p, const double *a, int64_t lda, double tol, double *inv,
                         int64_t ldinv, uint8_t *aliased, int64_t *rank);

#ifdef __cplusplus
}
#endif

#endif
