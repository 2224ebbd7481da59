/*
 * glm_row.h: the per-row arithmetic of an IRLS step (private to kernels/).
 *
 * The link, working weight, working response, deviance and log-likelihood of
 * one observation, written once after R's glm.fit and family objects, so the
 * reference, the fast CPU and the CUDA IRLS kernels cannot drift apart on the
 * statistics and differ only in how they sum (and, on the device, where its
 * exp and log differ from the C library's by an ulp or two). Compiled by nvcc
 * the inline functions are host and device functions.
 */
#ifndef SL_KERNELS_CPU_GLM_ROW_H
#define SL_KERNELS_CPU_GLM_ROW_H

#include <float.h>
#include <math.h>
#include <stdint.h>

#include "kernels/kernel.h"

#ifdef __CUDACC__
#define SL_GLM_ROW_FN __host__ __device__ static inline
#else
#define SL_GLM_ROW_FN static inline
#endif

/* Error kinds of a row (0 = fine). */
enum {
    SL_GLM_ROW_BAD_WEIGHT = 1, /* prior weight negative or not finite (kept row) */
    SL_GLM_ROW_BAD_Y = 2,      /* response missing, infinite or (binomial) outside [0, 1] */
    SL_GLM_ROW_BAD_OFFSET = 3, /* offset not finite */
    SL_GLM_ROW_BAD_ETA = 4     /* linear predictor not finite */
};

/* Scalar sums a row source accumulates, in this order. */
enum {
    SL_GLM_SUM_N_USED = 0,
    SL_GLM_SUM_N_BOUNDARY,
    SL_GLM_SUM_DEVIANCE,
    SL_GLM_SUM_M2LL,
    SL_GLM_SUM_LOG_W,
    SL_GLM_SUM_W,
    SL_GLM_SUM_WY,
    SL_GLM_NSUMS
};

struct sl_glm_row {
    double w;        /* working weight W */
    double z;        /* working response */
    double dev;      /* prior-weighted unit deviance */
    double m2ll;     /* -2 log-likelihood contribution (binomial) */
    int boundary;    /* fitted probability within 10 eps of 0 or 1 */
};

/* log(m!) for a non-negative integer m given as a double. */
SL_GLM_ROW_FN double sl_glm_log_factorial(double m)
{
    const double half_log_2pi = 0.91893853320467274178;
    double s = 0, m2;
    if (m < 16) {
        for (double i = 2; i <= m; i++)
            s += log(i);
        return s;
    }
    /* Stirling series; the first omitted term is below 1e-14 for m >= 16. */
    m2 = m * m;
    return (m + 0.5) * log(m) - m + half_log_2pi +
           (1.0 / 12 - (1.0 / 360 - (1.0 / 1260 - 1.0 / (1680 * m2)) / m2) / m2) / m;
}

/* Sets the error for a row error kind and returns its status. */
sl_status sl_glm_row_error(int kind, enum sl_glm_family family, int64_t row);

/* y log(y / mu) with 0 log 0 = 0, as R's binomial_dev_resids. */
SL_GLM_ROW_FN double sl_glm_ylogy(double y, double mu) { return y != 0 ? y * log(y / mu) : 0; }

/* Evaluates one used row: eta includes the offset `off`; `a` is the prior
 * weight (> 0, finite). Returns 0 or an error kind. */
SL_GLM_ROW_FN int sl_glm_row_eval(enum sl_glm_family family, double eta, double off, double y,
                                  double a, struct sl_glm_row *o)
{
    if (!isfinite(off))
        return SL_GLM_ROW_BAD_OFFSET;
    if (!isfinite(eta))
        return SL_GLM_ROW_BAD_ETA;
    if (family == SL_GLM_GAUSSIAN_IDENTITY) {
        double r = y - eta;
        if (!isfinite(y))
            return SL_GLM_ROW_BAD_Y;
        o->w = a;
        o->z = y - off;
        o->dev = a * (r * r);
        o->m2ll = 0;
        o->boundary = 0;
        return 0;
    }
    if (!(y >= 0 && y <= 1))
        return SL_GLM_ROW_BAD_Y;
    {
        /* R's logit_linkinv and logit_mu_eta */
        const double thresh = 30.0;
        int outside = eta < -thresh || eta > thresh;
        double e = eta < -thresh ? DBL_EPSILON : (eta > thresh ? 1 / DBL_EPSILON : exp(eta));
        double ope = 1 + e;
        double mu = e / ope;
        double d = outside ? DBL_EPSILON : e / (ope * ope);
        double var = mu * (1 - mu);
        double n_trials = nearbyint(a), k = nearbyint(a * y);
        o->w = a * (d * d) / var;
        o->z = (eta - off) + (y - mu) / d;
        o->dev = 2 * a * (sl_glm_ylogy(y, mu) + sl_glm_ylogy(1 - y, 1 - mu));
        o->boundary = mu > 1 - 10 * DBL_EPSILON || mu < 10 * DBL_EPSILON;
        if ((y == 0 || y == 1) && n_trials == a) {
            o->m2ll = o->dev;
        } else {
            /* R: -2 * dbinom(round(a y), round(a), mu, log = TRUE) */
            double ll = sl_glm_log_factorial(n_trials) - sl_glm_log_factorial(k) -
                        sl_glm_log_factorial(n_trials - k);
            if (k > 0)
                ll += k * log(mu);
            if (n_trials - k > 0)
                ll += (n_trials - k) * log(1 - mu);
            o->m2ll = -2 * ll;
        }
    }
    return 0;
}

#endif
