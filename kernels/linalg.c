/*
 * linalg.c: aliasing-aware Cholesky solve and inverse (see linalg.h).
 *
 * An in-order Cholesky that skips columns whose pivot falls below the
 * tolerance finds the aliased columns; the kept submatrix is then factorised
 * by LAPACK's dpotrf when the build has LAPACK, or taken from that same
 * in-order factor otherwise.
 */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "kernels/linalg.h"

#ifdef SL_HAVE_BLAS
#include <lapacke.h>
#endif

/* Upper Cholesky factor R (r x r, column-major) of the kept submatrix and
 * the kept column indices. */
struct spd_factor {
    int64_t p, r;
    int64_t *keep; /* [r] */
    double *R;     /* [r * r] */
};

static void factor_free(struct spd_factor *f)
{
    sl_free(f->keep);
    sl_free(f->R);
    f->keep = NULL;
    f->R = NULL;
}

static sl_status factor(int64_t p, const double *a, int64_t lda, double tol, struct spd_factor *f,
                        uint8_t *aliased)
{
    sl_status st = SL_OK;
    size_t np = (size_t)(p > 0 ? p : 1);

    SL_CHECK(p >= 0 && lda >= (p > 1 ? p : 1) && (p == 0 || a), SL_ERR_ARG,
             "spd: bad matrix (p = %lld, lda = %lld)", (long long)p, (long long)lda);
    SL_CHECK(tol >= 0 && tol < 1, SL_ERR_ARG, "spd: tolerance %g is outside [0, 1)", tol);
    SL_CHECK(p <= (int64_t)INT_MAX, SL_ERR_ARG, "spd: p = %lld is too large for LAPACK",
             (long long)p);
    f->p = p;
    f->r = 0;
    f->keep = sl_malloc(np * sizeof *f->keep);
    f->R = sl_calloc(np * np, sizeof *f->R);
    SL_CHECK(f->keep && f->R, SL_ERR_NOMEM, "spd: out of memory for a %lld x %lld matrix",
             (long long)p, (long long)p);
    for (int64_t j = 0; j < p; j++) {
        int64_t r = f->r;
        double ajj = a[j + j * lda], d = ajj;
        for (int64_t i = 0; i <= j; i++)
            SL_CHECK(!isnan(a[i + j * lda]), SL_ERR_NUMERIC,
                     "spd: entry (%lld, %lld) of the matrix is NaN", (long long)i, (long long)j);
        SL_CHECK(ajj >= 0, SL_ERR_NUMERIC,
                 "spd: the matrix is not positive semi-definite (diagonal entry %lld is "
                 "negative)",
                 (long long)j);
        /* column r of R against the kept columns so far (left-looking) */
        for (int64_t k = 0; k < r; k++) {
            double s = a[f->keep[k] + j * lda];
            for (int64_t m = 0; m < k; m++)
                s -= f->R[m + k * (int64_t)np] * f->R[m + r * (int64_t)np];
            s /= f->R[k + k * (int64_t)np];
            f->R[k + r * (int64_t)np] = s;
            d -= s * s;
        }
        if (ajj == 0 || !(d >= tol * tol * ajj) || d <= 0) {
            for (int64_t k = 0; k < r; k++)
                f->R[k + r * (int64_t)np] = 0;
            if (aliased)
                aliased[j] = 1;
            continue;
        }
        if (aliased)
            aliased[j] = 0;
        f->R[r + r * (int64_t)np] = sqrt(d);
        f->keep[f->r++] = j;
    }
#ifdef SL_HAVE_BLAS
    {
        /* refactorise the kept submatrix with LAPACK, packed to r x r */
        int64_t r = f->r;
        lapack_int info;
        memset(f->R, 0, np * np * sizeof *f->R);
        for (int64_t jj = 0; jj < r; jj++)
            for (int64_t ii = 0; ii <= jj; ii++)
                f->R[ii + jj * r] = a[f->keep[ii] + f->keep[jj] * lda];
        if (r > 0) {
            info = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', (lapack_int)r, f->R, (lapack_int)r);
            SL_CHECK(info == 0, SL_ERR_NUMERIC,
                     "spd: LAPACK dpotrf failed (info %d) on the %lld kept columns", (int)info,
                     (long long)r);
        }
    }
#else
    /* compact the in-order factor from stride np to stride r */
    for (int64_t jj = 0; jj < f->r; jj++)
        for (int64_t ii = 0; ii <= jj; ii++)
            f->R[ii + jj * f->r] = f->R[ii + jj * (int64_t)np];
#endif
cleanup:
    if (st != SL_OK)
        factor_free(f);
    return st;
}

/* Solves R'R y = y in place (r values). */
static sl_status factor_solve(const struct spd_factor *f, double *y)
{
    sl_status st = SL_OK;
    int64_t r = f->r;
    if (r == 0)
        goto cleanup;
#ifdef SL_HAVE_BLAS
    {
        lapack_int info = LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'U', (lapack_int)r, 1, f->R,
                                         (lapack_int)r, y, (lapack_int)r);
        SL_CHECK(info == 0, SL_ERR_NUMERIC, "spd: LAPACK dpotrs failed (info %d)", (int)info);
    }
#else
    for (int64_t i = 0; i < r; i++) {
        double s = y[i];
        for (int64_t k = 0; k < i; k++)
            s -= f->R[k + i * r] * y[k];
        y[i] = s / f->R[i + i * r];
    }
    for (int64_t i = r - 1; i >= 0; i--) {
        double s = y[i];
        for (int64_t k = i + 1; k < r; k++)
            s -= f->R[i + k * r] * y[k];
        y[i] = s / f->R[i + i * r];
    }
#endif
cleanup:
    return st;
}

sl_status sl_spd_solve(int64_t p, const double *a, int64_t lda, const double *b, double tol,
                       double *x, uint8_t *aliased, int64_t *rank)
{
    sl_status st = SL_OK;
    struct spd_factor f = {0, 0, NULL, NULL};
    double *y = NULL;

    SL_CHECK(p == 0 || (b && x), SL_ERR_ARG, "spd_solve: b or x is NULL");
    SL_CALL(factor(p, a, lda, tol, &f, aliased));
    y = sl_malloc((size_t)(f.r > 0 ? f.r : 1) * sizeof *y);
    SL_CHECK(y, SL_ERR_NOMEM, "spd_solve: out of memory");
    for (int64_t k = 0; k < f.r; k++)
        y[k] = b[f.keep[k]];
    SL_CALL(factor_solve(&f, y));
    for (int64_t j = 0; j < p; j++)
        x[j] = 0;
    for (int64_t k = 0; k < f.r; k++)
        x[f.keep[k]] = y[k];
    if (rank)
        *rank = f.r;
cleanup:
    factor_free(&f);
    sl_free(y);
    return st;
}

sl_status sl_spd_inverse(int64_t p, const double *a, int64_t lda, double tol, double *inv,
                         int64_t ldinv, uint8_t *aliased, int64_t *rank)
{
    sl_status st = SL_OK;
    struct spd_factor f = {0, 0, NULL, NULL};
    double *ri = NULL;
    int64_t r;

    SL_CHECK(p == 0 || (inv && ldinv >= p), SL_ERR_ARG, "spd_inverse: bad inv or ldinv");
    SL_CALL(factor(p, a, lda, tol, &f, aliased));
    r = f.r;
    ri = sl_calloc((size_t)(r > 0 ? r * r : 1), sizeof *ri);
    SL_CHECK(ri, SL_ERR_NOMEM, "spd_inverse: out of memory");
#ifdef SL_HAVE_BLAS
    if (r > 0) {
        lapack_int info;
        memcpy(ri, f.R, (size_t)(r * r) * sizeof *ri);
        info = LAPACKE_dpotri(LAPACK_COL_MAJOR, 'U', (lapack_int)r, ri, (lapack_int)r);
        SL_CHECK(info == 0, SL_ERR_NUMERIC, "spd: LAPACK dpotri failed (info %d)", (int)info);
    }
#else
    for (int64_t c = 0; c < r; c++) {
        double *col = ri + c * r;
        col[c] = 1;
        SL_CALL(factor_solve(&f, col));
    }
#endif
    for (int64_t j = 0; j < p; j++)
        for (int64_t i = 0; i < p; i++)
            inv[i + j * ldinv] = 0;
    for (int64_t jj = 0; jj < r; jj++)
        for (int64_t ii = 0; ii <= jj; ii++) {
            double v = ri[ii + jj * r];
            inv[f.keep[ii] + f.keep[jj] * ldinv] = v;
            inv[f.keep[jj] + f.keep[ii] * ldinv] = v;
        }
    if (rank)
        *rank = r;
cleanup:
    factor_free(&f);
    sl_free(ri);
    return st;
}
