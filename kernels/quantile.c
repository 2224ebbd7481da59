/*
 * quantile.c: R's quantile(type = 7) of a sorted array, the arithmetic the
 * analyses' exact quantiles reproduce (jobs/cellstats.c, sl_type7_value)
 * and the oracle their tests compare against.
 */
#include <float.h>
#include <math.h>

#include "kernels/kernel.h"

sl_status sl_quantile_type7(const double *sorted, int64_t n, double prob, double *out)
{
    sl_status st = SL_OK;
    const double fuzz = 100 * DBL_EPSILON; /* R accepts probs within 100 eps of [0, 1] */
    double index, lo, hi, q;

    SL_CHECK(out, SL_ERR_ARG, "quantile: out is NULL");
    SL_CHECK(n >= 0 && (n == 0 || sorted), SL_ERR_ARG, "quantile: no data for n = %lld",
             (long long)n);
    SL_CHECK(!isnan(prob) && prob >= -fuzz && prob <= 1 + fuzz, SL_ERR_ARG,
             "quantile: probability %g is outside [0, 1]", prob);
    prob = prob < 0 ? 0 : (prob > 1 ? 1 : prob);
    if (n == 0) {
        *out = NAN;
        goto cleanup;
    }
    index = 1 + (double)(n - 1) * prob;
    lo = floor(index);
    hi = ceil(index);
    q = sorted[(int64_t)lo - 1];
    if (index > lo && sorted[(int64_t)hi - 1] != q) {
        double h = index - lo;
        q = (1 - h) * q + h * sorted[(int64_t)hi - 1];
    }
    *out = q;
cleanup:
    return st;
}
