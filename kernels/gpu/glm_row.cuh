/*
 * glm_row.cuh: the per-row arithmetic of an IRLS step in device code
 * (private to kernels/gpu).
 *
 * A line-by-line transcription of kernels/cpu/glm_row.h (R's glm.fit and
 * family objects: the logit clamped at |eta| > 30 with mu.eta = DBL_EPSILON,
 * the binomial deviance with 0 log 0 = 0, R's -2 log-likelihood for
 * proportions), with the same checks in the same order so that a bad row
 * fails with the same error kind. The backend is compiled without fused
 * multiply-adds (--fmad=false), like the CPU code (-ffp-contract=off), so the
 * two differ only where the device's exp and log differ from the C
 * library's (at most a unit or two in the last place).
 */
#ifndef SL_KERNELS_GPU_GLM_ROW_CUH
#define SL_KERNELS_GPU_GLM_ROW_CUH

#include <float.h>
#include <math.h>

extern "C" {
#include "kernels/cpu/glm_row.h"
}

struct sl_gpu_glm_row {
    double w, z, dev, m2ll;
    int boundary;
};

/* log(m!) for a non-negative integer m given as a double (sl_glm_log_factorial). */
__device__ __forceinline__ double sl_gpu_log_factorial(double m)
{
    const double half_log_2pi = 0.91893853320467274178;
    double s = 0, m2;
    if (m < 16) {
        for (double i = 2; i <= m; i++)
            s += log(i);
        return s;
    }
    m2 = m * m;
    return (m + 0.5) * log(m) - m + half_log_2pi +
           (1.0 / 12 - (1.0 / 360 - (1.0 / 1260 - 1.0 / (1680 * m2)) / m2) / m2) / m;
}

__device__ __forceinline__ double sl_gpu_ylogy(double y, double mu)
{
    return y != 0 ? y * log(y / mu) : 0;
}

/* sl_glm_row_eval: eta includes the offset `off`; `a` is the prior weight
 * (> 0, finite). Returns 0 or an SL_GLM_ROW_* error kind. */
__device__ __forceinline__ int sl_gpu_glm_row_eval(int family, double eta, double off, double y,
                                                   double a, struct sl_gpu_glm_row *o)
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
        const double thresh = 30.0;
        int outside = eta < -thresh || eta > thresh;
        double e = eta < -thresh ? DBL_EPSILON : (eta > thresh ? 1 / DBL_EPSILON : exp(eta));
        double ope = 1 + e;
        double mu = e / ope;
        double d = outside ? DBL_EPSILON : e / (ope * ope);
        double var = mu * (1 - mu);
        double n_trials = rint(a), k = rint(a * y);
        o->w = a * (d * d) / var;
        o->z = (eta - off) + (y - mu) / d;
        o->dev = 2 * a * (sl_gpu_ylogy(y, mu) + sl_gpu_ylogy(1 - y, 1 - mu));
        o->boundary = mu > 1 - 10 * DBL_EPSILON || mu < 10 * DBL_EPSILON;
        if ((y == 0 || y == 1) && n_trials == a) {
            o->m2ll = o->dev;
        } else {
            double ll = sl_gpu_log_factorial(n_trials) - sl_gpu_log_factorial(k) -
                        sl_gpu_log_factorial(n_trials - k);
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
