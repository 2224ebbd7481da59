/*
 * glm_dist.c: the distribution functions behind GLM p-values (glm_fit.h).
 *
 * Normal tails come from erfc. Student's t tails come from the regularized
 * incomplete beta function, evaluated by its continued fraction (modified
 * Lentz) on the side where it converges fast, with log B(a, b) taken from a
 * Stirling series wherever plain lgamma differences would cancel. For
 * b = 1/2 and a >= 100 (Student's t with 200 or more degrees of freedom,
 * where the fraction loses digits near x = 1) an asymptotic expansion in
 * 1/a takes over. Accuracy is about 1e-13 relative over the range GLMs use
 * (checked against 40-digit values over df 30 .. 1e8, |t| 0.01 .. 40).
 */
#include <float.h>
#include <math.h>

#include "jobs/glm_fit.h"

#define LN_SQRT_2PI 0.91893853320467274178
#define LN_SQRT_PI 0.57236494292470008707

double sl_glm_p_normal(double z)
{
    if (isnan(z))
        return NAN;
    return erfc(fabs(z) / sqrt(2.0));
}

/* Stirling's correction: lgamma(z) - [(z - 1/2) ln z - z + ln sqrt(2 pi)],
 * for z >= 15 (series error below 1e-17 there). */
static double stirling_corr(double z)
{
    double z2 = 1 / (z * z);
    return (1.0 / 12 - z2 * (1.0 / 360 - z2 * (1.0 / 1260 - z2 * (1.0 / 1680 - z2 / 1188)))) / z;
}

/* ln B(a, b) without the cancellation of lgamma differences for large args. */
static double lbeta(double a, double b)
{
    double big = a > b ? a : b, small = a > b ? b : a;
    if (big < 15)
        return lgamma(a) + lgamma(b) - lgamma(a + b);
    if (small < 15) {
        /* lgamma(big + small) - lgamma(big), each piece of modest size */
        double ratio = (big - 0.5) * log1p(small / big) + small * log(big + small) - small +
                       stirling_corr(big + small) - stirling_corr(big);
        return lgamma(small) - ratio;
    }
    return LN_SQRT_2PI - 0.5 * log(a + b) + (a - 0.5) * log(a / (a + b)) +
           (b - 0.5) * log(b / (a + b)) + stirling_corr(a) + stirling_corr(b) -
           stirling_corr(a + b);
}

/* Continued fraction of I_x(a, b) / (x^a y^b / (a B(a, b))), modified Lentz. */
static double ibeta_cf(double a, double b, double x)
{
    const double tiny = 1e-300, tol = 1e-16;
    double c = 1, d = 1 - (a + b) * x / (a + 1), h;
    if (fabs(d) < tiny)
        d = tiny;
    d = 1 / d;
    h = d;
    for (int m = 1; m <= 100000; m++) {
        double dm = (double)m, two_m = 2 * dm, num, step;
        /* even step */
        num = dm * (b - dm) * x / ((a + two_m - 1) * (a + two_m));
        d = 1 + num * d;
        c = 1 + num / c;
        if (fabs(d) < tiny)
            d = tiny;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1 / d;
        h *= d * c;
        /* odd step */
        num = -(a + dm) * (a + b + dm) * x / ((a + two_m) * (a + two_m + 1));
        d = 1 + num * d;
        c = 1 + num / c;
        if (fabs(d) < tiny)
            d = tiny;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1 / d;
        step = d * c;
        h *= step;
        if (fabs(step - 1) < tol)
            break;
    }
    return h;
}

/* I_x(a, 1/2) for a >= 15 by the asymptotic expansion in 1/nu, nu = a - 1/4,
 * of DiDonato and Morris (ACM TOMS 708, BGRAT), with the incomplete gamma
 * ratio Q(1/2, z) = erfc(sqrt(z)). Near x = 1 (Student's t with many degrees
 * of freedom) the continued fraction loses digits to cancellation; this
 * expansion does not. Returns NaN if the series fails. */
static double ibeta_large_a_half(double a, double x, double y)
{
    const double b = 0.5, bm1 = -0.5, eps = 1e-16;
    double nu = a - 0.25, lnx = y > 0.375 ? log(x) : log1p(-y), z = -nu * lnx;
    double lr, r, u, q, j, sum, t = 1, cn = 1, v, t2;
    double c[31], d[31];
    int n2 = 0;

    if (!(z > 0))
        return NAN;
    /* r = e^-z z^b / Gamma(b); u = r Gamma(a + b) / (Gamma(a) nu^b) */
    lr = b * log(z) - z - LN_SQRT_PI;
    r = exp(lr);
    u = exp(lr + ((a - 0.5) * log1p(b / a) + b * log(a + b) - b + stirling_corr(a + b) -
                  stirling_corr(a)) -
            b * log(nu));
    if (!(u > 0) || !(r > 0))
        return erfc(sqrt(z));
    q = erfc(sqrt(z));
    v = 0.25 / (nu * nu);
    t2 = 0.25 * lnx * lnx;
    j = q / r;
    sum = j;
    for (int n = 1; n <= 30; n++) {
        double bp2n = b + n2, s = 0, dj;
        j = (bp2n * (bp2n + 1) * j + (z + bp2n + 1) * t) * v;
        n2 += 2;
        t *= t2;
        cn /= n2 * (n2 + 1);
        c[n] = cn;
        if (n > 1) {
            double coef = b - n;
            for (int i = 1; i < n; i++) {
                s += coef * c[i] * d[n - i];
                coef += b;
            }
        }
        d[n] = bm1 * cn + s / n;
        dj = d[n] * j;
        sum += dj;
        if (!(sum > 0))
            return NAN;
        if (fabs(dj) <= eps * sum)
            break;
    }
    return u * sum;
}

double sl_glm_ibeta(double a, double b, double x, double one_minus_x)
{
    double y = one_minus_x, lp;
    if (!(a > 0) || !(b > 0) || isnan(x) || isnan(y) || x < 0 || y < 0 ||
        fabs(x + y - 1) > 1e-12)
        return NAN;
    if (x == 0)
        return 0;
    if (y == 0)
        return 1;
    if (b == 0.5 && a >= 100) {
        double v = ibeta_large_a_half(a, x, y);
        if (!isnan(v))
            return v;
    }
    if (a == 0.5 && b >= 100) {
        double v = ibeta_large_a_half(b, y, x);
        if (!isnan(v))
            return 1 - v;
    }
    if (x > (a + 1) / (a + b + 2))
        return 1 - sl_glm_ibeta(b, a, y, x);
    /* log of the larger of x, y through log1p of the smaller, which is exact */
    lp = a * (x > 0.5 ? log1p(-y) : log(x)) + b * (y > 0.5 ? log1p(-x) : log(y)) - lbeta(a, b);
    return exp(lp) * ibeta_cf(a, b, x) / a;
}

double sl_glm_p_student(double t, double df)
{
    double t2, x, y;
    if (isnan(t) || isnan(df) || !(df > 0))
        return NAN;
    if (isinf(t))
        return 0;
    t2 = t * t;
    if (t2 > df) {
        double r = df / t2; /* x = r / (1 + r), y = 1 / (1 + r) */
        x = r / (1 + r);
        y = 1 / (1 + r);
    } else {
        x = df / (df + t2);
        y = t2 / (df + t2);
    }
    return sl_glm_ibeta(df / 2, 0.5, x, y);
}
