/*
 * glm_linalg.c: reproducible aliasing-aware Cholesky (see glm_linalg.h).
 *
 * Left-looking, in column order, skipping aliased columns; every sum runs in
 * index order, so the result depends on the input values alone.
 */
#include "jobs/glm_linalg.h"

#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"

void sl_glm_chol_free(struct sl_glm_chol *f)
{
    if (!f)
        return;
    sl_free(f->keep);
    sl_free(f->r);
    memset(f, 0, sizeof *f);
}

sl_status sl_glm_chol_factor(int64_t p, const double *a, double tol, uint8_t *aliased,
                             struct sl_glm_chol *f)
{
    sl_status st = SL_OK;
    double *r = NULL;
    int64_t *keep = NULL, rank = 0;

    memset(f, 0, sizeof *f);
    SL_CHECK(p >= 1 && p <= (int64_t)1 << 20 && a && tol >= 0 && tol < 1, SL_ERR_ARG,
             "cholesky: bad arguments (p = %lld, tol = %g)", (long long)p, tol);
    r = sl_calloc((size_t)(p * p), sizeof *r); /* stride p while factorising */
    keep = sl_malloc((size_t)p * sizeof *keep);
    SL_CHECK(r && keep, SL_ERR_NOMEM, "out of memory");
    for (int64_t j = 0; j < p; j++) {
        double ajj = a[j + j * p], d = ajj;
        double *col = r + rank * p; /* column `rank` of the factor, rows 0..rank-1 */
        for (int64_t i = 0; i <= j; i++)
            SL_CHECK(!isnan(a[i + j * p]), SL_ERR_NUMERIC,
                     "cholesky: entry (%lld, %lld) is NaN", (long long)i, (long long)j);
        SL_CHECK(ajj >= 0, SL_ERR_NUMERIC,
                 "cholesky: diagonal entry %lld is negative; the matrix is not a Gram matrix",
                 (long long)j);
        for (int64_t k = 0; k < rank; k++) {
            double s = a[keep[k] + j * p];
            const double *rk = r + k * p;
            for (int64_t m = 0; m < k; m++)
                s -= rk[m] * col[m];
            s /= rk[k];
            col[k] = s;
            d -= s * s;
        }
        if (ajj == 0 || !(d >= tol * tol * ajj) || !(d > 0)) {
            for (int64_t k = 0; k < rank; k++)
                col[k] = 0;
            aliased[j] = 1;
            continue;
        }
        aliased[j] = 0;
        col[rank] = sqrt(d);
        keep[rank++] = j;
    }
    /* compact from stride p to stride rank */
    for (int64_t jj = 0; jj < rank; jj++)
        for (int64_t ii = 0; ii <= jj; ii++)
            r[ii + jj * rank] = r[ii + jj * p];
    f->p = p;
    f->rank = rank;
    f->keep = keep;
    f->r = r;
    keep = NULL;
    r = NULL;
cleanup:
    sl_free(keep);
    sl_free(r);
    return st;
}

void sl_glm_chol_solve(const struct sl_glm_chol *f, const double *b, double *x)
{
    int64_t n = f->rank;
    const double *r = f->r;
    for (int64_t j = 0; j < f->p; j++)
        x[j] = 0;
    /* R' y = b_K, then R x_K = y; y lives in x at the kept positions */
    for (int64_t i = 0; i < n; i++) {
        double s = b[f->keep[i]];
        for (int64_t k = 0; k < i; k++)
            s -= r[k + i * n] * x[f->keep[k]];
        x[f->keep[i]] = s / r[i + i * n];
    }
    for (int64_t i = n - 1; i >= 0; i--) {
        double s = x[f->keep[i]];
        for (int64_t k = i + 1; k < n; k++)
            s -= r[i + k * n] * x[f->keep[k]];
        x[f->keep[i]] = s / r[i + i * n];
    }
}

sl_status sl_glm_chol_inverse(const struct sl_glm_chol *f, double *inv)
{
    sl_status st = SL_OK;
    int64_t n = f->rank, p = f->p;
    const double *r = f->r;
    double *ri = NULL;

    ri = sl_calloc((size_t)(n > 0 ? n * n : 1), sizeof *ri);
    SL_CHECK(ri, SL_ERR_NOMEM, "out of memory");
    /* R^-1, upper triangular, column by column */
    for (int64_t j = 0; j < n; j++) {
        ri[j + j * n] = 1 / r[j + j * n];
        for (int64_t i = j - 1; i >= 0; i--) {
            double s = 0;
            for (int64_t k = i + 1; k <= j; k++)
                s += r[i + k * n] * ri[k + j * n];
            ri[i + j * n] = -s / r[i + i * n];
        }
    }
    for (int64_t j = 0; j < p * p; j++)
        inv[j] = 0;
    /* A^-1 = R^-1 R^-T */
    for (int64_t jj = 0; jj < n; jj++)
        for (int64_t ii = 0; ii <= jj; ii++) {
            double s = 0;
            for (int64_t k = jj; k < n; k++)
                s += ri[ii + k * n] * ri[jj + k * n];
            inv[f->keep[ii] + f->keep[jj] * p] = s;
            inv[f->keep[jj] + f->keep[ii] * p] = s;
        }
cleanup:
    sl_free(ri);
    return st;
}
