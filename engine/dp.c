/*
 * dp.c: differentially private counts, sums, means and medians (see dp.h):
 * the request in a job file, exact samplers, the exponential mechanism, and
 * noise on a table.
 *
 * Samplers follow Canonne, Kamath and Steinke (2020), written from their
 * description: Bernoulli(exp(-g)) for rational g by the alternating series,
 * geometric by a uniform remainder and a unit-rate integer part, discrete
 * Laplace from signed geometrics, discrete Gaussian by rejection from a
 * discrete Laplace. All of it in 128-bit integers with every product
 * checked; a value out of range fails closed (SL_ERR_INTERNAL), never
 * rounds.
 */
#include "engine/dp.h"

#include <inttypes.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "engine/config.h"
#include "engine/config_impl.h"
#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "engine/gate_impl.h"
#include "engine/ledger.h"

__extension__ typedef unsigned __int128 u128;

/* ---- the request ---- */

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static struct sl_ratio reduce(struct sl_ratio r)
{
    int64_t g = gcd64(r.num, r.den);
    if (g > 1) {
        r.num /= g;
        r.den /= g;
    }
    return r;
}

sl_status sl_dp_param(const struct sl_params *p, const char *analysis, int counts,
                      struct sl_dp_request *out)
{
    sl_status st = SL_OK;
    const char *privacy = NULL;
    int has_rho = sl_params_has(p, "rho"), has_eps = sl_params_has(p, "epsilon");
    const struct sl_ratio zero = {0, 1}, ten = {10, 1};
    struct sl_ratio r;

    memset(out, 0, sizeof *out);
    if (!sl_params_has(p, "privacy")) {
        SL_CHECK(!has_rho && !has_eps, SL_ERR_FORMAT,
                 "%s: '%s' sets the privacy loss of noisy counts, which analysis '%s' does "
                 "not ask for; expected 'privacy: dp' beside it",
                 sl_params_where(p, has_rho ? "rho" : "epsilon"), has_rho ? "rho" : "epsilon",
                 analysis);
        goto cleanup;
    }
    SL_CALL(sl_params_string(p, "privacy", true, &privacy));
    SL_CHECK(strcmp(privacy, "dp") == 0, SL_ERR_FORMAT,
             "%s: privacy '%.32s' is not known; expected 'dp' (differentially private counts)",
             sl_params_where(p, "privacy"), privacy);
    SL_CHECK(counts, SL_ERR_FORMAT,
             "%s: analysis '%s' cannot be released with privacy: dp; noisy outputs are "
             "available for count, crosstab, histogram and describe",
             sl_params_where(p, "privacy"), analysis);
    SL_CHECK(has_rho != has_eps, SL_ERR_FORMAT,
             "%s: analysis '%s' asks for privacy: dp with %s; expected one of 'rho' (zCDP, "
             "discrete Gaussian noise) or 'epsilon' (pure DP, discrete Laplace noise)",
             sl_params_where(p, "privacy"), analysis, has_rho ? "both rho and epsilon"
                                                              : "neither rho nor epsilon");
    SL_CHECK(!sl_params_has(p, "mitigation"), SL_ERR_FORMAT,
             "%s: mitigation does not apply to noisy counts: cells below the minimum safe "
             "count are withheld after the noise",
             sl_params_where(p, "mitigation"));
    SL_CALL(sl_params_ratio(p, has_rho ? "rho" : "epsilon", true, zero, true, ten, &r));
    SL_CHECK(r.den <= 1000000, SL_ERR_FORMAT, "%s: expected at most 6 decimals",
             sl_params_where(p, has_rho ? "rho" : "epsilon"));
    /* r.den is a power of ten <= 10^6, which divides SL_DP_UNITS / 2 and
     * whose square divides 10^12. */
    if (has_rho) {
        out->mechanism = SL_DP_GAUSSIAN;
        out->units = r.num * (SL_DP_UNITS / r.den);
    } else {
        out->mechanism = SL_DP_LAPLACE;
        out->units = r.num * r.num * (INT64_C(1000000000000) / (r.den * r.den));
    }
    out->param = reduce(r);
cleanup:
    return st;
}

void sl_dp_units_format(int64_t units, char *buf, size_t size)
{
    /* units * 5 / 10^13 */
    const int64_t scale = INT64_C(10000000000000);
    int64_t v = units * 5, frac = v % scale;
    char digits[16];
    int n = 13;
    if (frac == 0) {
        snprintf(buf, size, "%" PRId64, v / scale);
        return;
    }
    snprintf(digits, sizeof digits, "%013" PRId64, frac);
    while (n > 0 && digits[n - 1] == '0')
        n--;
    digits[n] = '\0';
    snprintf(buf, size, "%" PRId64 ".%s", v / scale, digits);
}

/* Reads the digits at *p (at most `max`) into *value; their count, or -1
 * when there are more. */
static int read_digits(const char **p, int max, int64_t *value)
{
    int n = 0;
    for (*value = 0; **p >= '0' && **p <= '9'; (*p)++, n++) {
        if (n == max)
            return -1;
        *value = *value * 10 + (**p - '0');
    }
    return n;
}

int sl_dp_units_parse(const char *s, int64_t *units)
{
    int64_t whole, frac = 0;
    int nfrac = 0;
    const char *p = s;
    if (read_digits(&p, 7, &whole) <= 0)
        return 0;
    if (*p == '.') {
        p++;
        nfrac = read_digits(&p, 13, &frac);
        if (nfrac <= 0)
            return 0;
    }
    if (*p != '\0' || whole > 1000000)
        return 0;
    for (int i = nfrac; i < 13; i++)
        frac *= 10;
    if (frac % 5 != 0)
        return 0;
    *units = whole * SL_DP_UNITS + frac / 5;
    return 1;
}

/* ---- (epsilon, delta) ---- */

/* log of the conversion's delta bound at order a (any a > 1 is valid). */
static double log_delta_at(double rho, double eps, double a)
{
    return (a - 1) * (a * rho - eps) + a * log1p(-1 / a) - log(a - 1);
}

/* log of the best delta bound for (rho, eps): the bound is convex in a, so
 * its minimum is where the derivative (2a - 1) rho - eps + log(1 - 1/a)
 * changes sign, found by bisection. */
static double log_delta(double rho, double eps)
{
    double lo = 1.0 + 1e-9, hi = (eps + 1) / (2 * rho) + 2;
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if ((2 * mid - 1) * rho - eps + log1p(-1 / mid) < 0)
            lo = mid;
        else
            hi = mid;
    }
    return log_delta_at(rho, eps, 0.5 * (lo + hi));
}

double sl_dp_epsilon(double rho, double delta)
{
    double lo = 0, hi, target = log(delta);
    if (rho <= 0)
        return 0;
    /* the simple bound rho + 2 sqrt(rho log(1/delta)) always suffices */
    hi = rho + 2 * sqrt(rho * -target);
    for (int i = 0; i < 200 && hi - lo > 1e-9 * hi; i++) {
        double mid = 0.5 * (lo + hi);
        /* a small margin for libm's rounding keeps hi on the safe side */
        if (log_delta(rho, mid) <= target - 1e-12)
            hi = mid;
        else
            lo = mid;
    }
    return nextafter(hi, INFINITY);
}

/* ---- randomness ---- */

struct sl_dp_rng {
    unsigned char buf[4096];
    size_t pos;
};

sl_status sl_dp_rng_create(struct sl_dp_rng **out)
{
    sl_status st = SL_OK;
    *out = sl_calloc(1, sizeof **out);
    SL_CHECK(*out, SL_ERR_NOMEM, "out of memory");
    (*out)->pos = sizeof (*out)->buf;
cleanup:
    return st;
}

void sl_dp_rng_destroy(struct sl_dp_rng **r)
{
    if (!r || !*r)
        return;
    OPENSSL_cleanse(*r, sizeof **r);
    sl_free(*r);
    *r = NULL;
}

static sl_status rng_bytes(struct sl_dp_rng *r, unsigned char *out, size_t n)
{
    sl_status st = SL_OK;
    if (r->pos + n > sizeof r->buf) {
        SL_CHECK(RAND_priv_bytes(r->buf, (int)sizeof r->buf) == 1, SL_ERR_INTERNAL,
                 "the random generator failed; no noisy output is released");
        r->pos = 0;
    }
    memcpy(out, r->buf + r->pos, n);
    OPENSSL_cleanse(r->buf + r->pos, n);
    r->pos += n;
cleanup:
    return st;
}

static int bit_length(u128 v)
{
    int b = 0;
    while (v) {
        b++;
        v >>= 1;
    }
    return b;
}

/* Uniform on [0, m), m >= 1: the low bits of whole bytes, rejected when too
 * large (fewer than two tries on average). */
static sl_status uniform_below(struct sl_dp_rng *r, u128 m, u128 *out)
{
    sl_status st = SL_OK;
    int bits = bit_length(m - 1);
    size_t nbytes = (size_t)(bits + 7) / 8;
    unsigned char b[16];

    *out = 0;
    if (bits == 0)
        goto cleanup;
    for (;;) {
        u128 v = 0;
        SL_CALL(rng_bytes(r, b, nbytes));
        for (size_t i = 0; i < nbytes; i++)
            v = (v << 8) | b[i];
        if (bits < 128)
            v &= (((u128)1) << bits) - 1;
        if (v < m) {
            *out = v;
            break;
        }
    }
cleanup:
    OPENSSL_cleanse(b, sizeof b);
    return st;
}

sl_status sl_dp_uniform(struct sl_dp_rng *r, uint64_t m, uint64_t *out)
{
    sl_status st = SL_OK;
    u128 v;
    SL_CHECK(m >= 1, SL_ERR_ARG, "uniform sample on an empty range");
    SL_CALL(uniform_below(r, m, &v));
    *out = (uint64_t)v;
cleanup:
    return st;
}

static const u128 U128_MAX = ~(u128)0;

/* Bernoulli(exp(-n/d)) for 0 <= n <= d: stops at the first failure of
 * Bernoulli(g/k), k = 1, 2, ...; the count is odd with probability
 * exp(-g). */
static sl_status bern_exp_unit(struct sl_dp_rng *r, u128 n, u128 d, int *out)
{
    sl_status st = SL_OK;
    u128 k = 1, v;
    for (;;) {
        SL_CHECK(k <= U128_MAX / d, SL_ERR_INTERNAL,
                 "noise sampler out of range; no noisy output is released");
        SL_CALL(uniform_below(r, d * k, &v));
        if (v >= n)
            break;
        k++;
    }
    *out = (int)(k & 1);
cleanup:
    return st;
}

/* Bernoulli(exp(-(whole + rem/d))), rem < d: exp(-1) for each whole unit,
 * then the fraction. */
static sl_status bern_exp_split(struct sl_dp_rng *r, u128 whole, u128 rem, u128 d, int *out)
{
    sl_status st = SL_OK;
    int b = 1;
    for (u128 i = 0; i < whole && b; i++)
        SL_CALL(bern_exp_unit(r, 1, 1, &b));
    if (b)
        SL_CALL(bern_exp_unit(r, rem, d, &b));
    *out = b;
cleanup:
    return st;
}

/* Bernoulli(exp(-n/d)) for any n >= 0. */
static sl_status bern_exp(struct sl_dp_rng *r, u128 n, u128 d, int *out)
{
    return bern_exp_split(r, n / d, n % d, d, out);
}

sl_status sl_dp_bernoulli_exp(struct sl_dp_rng *r, uint64_t n, uint64_t d, int *out)
{
    sl_status st = SL_OK;
    SL_CHECK(d >= 1 && d <= (UINT64_C(1) << 62), SL_ERR_ARG,
             "Bernoulli(exp(-n/d)) needs 1 <= d <= 2^62");
    SL_CALL(bern_exp(r, n, d, out));
cleanup:
    return st;
}

/* Geometric: P(k) = (1 - exp(-s/t)) exp(-k s/t), k >= 0 (s, t >= 1). A
 * remainder u on [0, t) with weight exp(-u/t), plus t times a unit-rate
 * geometric, divided by s. */
static sl_status geometric(struct sl_dp_rng *r, u128 s, u128 t, u128 *out)
{
    sl_status st = SL_OK;
    u128 u, v = 0;
    int b;
    for (;;) {
        SL_CALL(uniform_below(r, t, &u));
        SL_CALL(bern_exp(r, u, t, &b));
        if (b)
            break;
    }
    for (;;) {
        SL_CALL(bern_exp_unit(r, 1, 1, &b));
        if (!b)
            break;
        v++;
    }
    SL_CHECK(v <= (U128_MAX - u) / t, SL_ERR_INTERNAL,
             "noise sampler out of range; no noisy output is released");
    *out = (u + t * v) / s;
cleanup:
    return st;
}

/* Discrete Laplace of scale a/b, as a sign and magnitude. */
static sl_status laplace(struct sl_dp_rng *r, u128 a, u128 b, int *negative, u128 *mag)
{
    sl_status st = SL_OK;
    unsigned char sign = 0;
    for (;;) {
        SL_CALL(rng_bytes(r, &sign, 1));
        SL_CALL(geometric(r, b, a, mag));
        if ((sign & 1) && *mag == 0)
            continue;
        *negative = sign & 1;
        break;
    }
cleanup:
    return st;
}

sl_status sl_dp_laplace(struct sl_dp_rng *r, uint64_t a, uint64_t b, int64_t *out)
{
    sl_status st = SL_OK;
    const uint64_t cap = UINT64_C(1) << 40;
    int neg;
    u128 mag;
    SL_CHECK(a >= 1 && b >= 1 && a <= cap && b <= cap, SL_ERR_ARG,
             "discrete Laplace scale a/b needs 1 <= a, b <= 2^40");
    SL_CALL(laplace(r, a, b, &neg, &mag));
    SL_CHECK(mag <= (u128)INT64_MAX, SL_ERR_INTERNAL,
             "noise sampler out of range; no noisy output is released");
    *out = neg ? -(int64_t)mag : (int64_t)mag;
cleanup:
    return st;
}

static uint64_t isqrt64(uint64_t v)
{
    uint64_t x = 0;
    for (int b = 31; b >= 0; b--) {
        uint64_t c = x | (UINT64_C(1) << b);
        if (c * c <= v)
            x = c;
    }
    return x;
}

sl_status sl_dp_gaussian(struct sl_dp_rng *r, uint64_t p, uint64_t q, int64_t *out)
{
    sl_status st = SL_OK;
    uint64_t t;
    SL_CHECK(p >= 1 && q >= 1 && p <= (UINT64_C(1) << 42) && q <= (UINT64_C(1) << 25), SL_ERR_ARG,
             "discrete Gaussian variance p/q needs 1 <= p <= 2^42 and 1 <= q <= 2^25");
    /* t = floor(sigma) + 1 <= 2^21 + 1 */
    t = isqrt64(p / q) + 1;
    for (;;) {
        int neg, keep;
        u128 mag, x, diff, den;
        SL_CALL(laplace(r, t, 1, &neg, &mag));
        /* keep with probability exp(-(|y| - sigma^2/t)^2 / (2 sigma^2)) =
         * exp(-(|y| t q - p)^2 / (2 p q t^2)). The denominator is below
         * 2^112; |y| t q is about (|y| / sigma) p, so the difference stays
         * below 2^64, and its square within 128 bits, unless |y| is over
         * 2^11 sigma (probability far below 2^-1000): then fail closed. */
        SL_CHECK(mag < ((u128)1 << 40), SL_ERR_INTERNAL,
                 "noise sampler out of range; no noisy output is released");
        x = mag * t * q;
        diff = x > p ? x - p : p - x;
        SL_CHECK(diff >> 64 == 0, SL_ERR_INTERNAL,
                 "noise sampler out of range; no noisy output is released");
        den = (u128)2 * p * q * t * t;
        SL_CALL(bern_exp_split(r, diff * diff / den, diff * diff % den, den, &keep));
        if (keep) {
            *out = neg ? -(int64_t)mag : (int64_t)mag;
            break;
        }
    }
cleanup:
    return st;
}

/* ---- release ---- */

/* The parameter of the noise for one query of L1 and L2 sensitivity
 * `sens` that receives 1/`share` of the request, reduced: for rho, the
 * variance sens^2 share / (2 rho) of a discrete Gaussian; for epsilon, the
 * scale sens share / epsilon of a discrete Laplace. The shares of an
 * output's queries sum to 1. (rho and epsilon have num, den <= 10^7 and
 * sens^2 share <= 2^21: no overflow.) */
static struct sl_ratio noise_param(const struct sl_dp_request *req, int64_t sens, int64_t share)
{
    const struct sl_ratio r = req->param;
    if (req->mechanism == SL_DP_GAUSSIAN)
        return reduce((struct sl_ratio){sens * sens * share * r.den, 2 * r.num});
    return reduce((struct sl_ratio){sens * share * r.den, r.num});
}

static sl_status noise(struct sl_dp_rng *rng, const struct sl_dp_request *req, int64_t sens,
                       int64_t share, int64_t *out)
{
    struct sl_ratio q = noise_param(req, sens, share);
    if (req->mechanism == SL_DP_GAUSSIAN)
        return sl_dp_gaussian(rng, (uint64_t)q.num, (uint64_t)q.den, out);
    return sl_dp_laplace(rng, (uint64_t)q.num, (uint64_t)q.den, out);
}

/* {"query", "share", "sensitivity", "sigma2" or "scale"} of one query. */
static json_t *describe_query(const struct sl_dp_request *req, const char *query, int64_t sens,
                              int64_t share)
{
    char v[48], sh[16];
    sl_ratio_format(noise_param(req, sens, share), v, sizeof v);
    snprintf(sh, sizeof sh, "1/%lld", (long long)share);
    return json_pack("{s:s,s:s,s:I,s:s}", "query", query, "share", share == 1 ? "1" : sh,
                     "sensitivity", (json_int_t)sens,
                     req->mechanism == SL_DP_GAUSSIAN ? "sigma2" : "scale", v);
}

json_t *sl_dp_describe(const struct sl_dp_request *req)
{
    char rho[48], a[48], v[48];
    sl_dp_units_format(req->units, rho, sizeof rho);
    sl_ratio_format(req->param, a, sizeof a);
    sl_ratio_format(noise_param(req, 1, 1), v, sizeof v);
    if (req->mechanism == SL_DP_GAUSSIAN)
        return json_pack("{s:s,s:s,s:s,s:i}", "mechanism", "discrete_gaussian", "rho", rho,
                         "sigma2", v, "sensitivity", 1);
    return json_pack("{s:s,s:s,s:s,s:s,s:i}", "mechanism", "discrete_laplace", "epsilon", a,
                     "scale", v, "rho", rho, "sensitivity", 1);
}

/* Whether cell c of t lies on a margin; its coordinates into coord. */
static int cell_coords(const struct sl_table *t, int64_t c, int32_t *coord)
{
    int margin = 0;
    for (int d = t->ndims - 1; d >= 0; d--) {
        coord[d] = (int32_t)(c % t->dims[d].nlevels);
        c /= t->dims[d].nlevels;
        margin |= t->margins && coord[d] == t->dims[d].nlevels - 1;
    }
    return margin;
}

static int64_t cell_index(const struct sl_table *t, const int32_t *coord)
{
    int64_t c = 0;
    for (int d = 0; d < t->ndims; d++)
        c = c * t->dims[d].nlevels + coord[d];
    return c;
}

/* Noise on the interior cells of v (share of the request, sensitivity
 * sens; at least 0 when clamp), then its margins from them. */
static sl_status noisy_cells(struct sl_table *t, int64_t *v, const struct sl_dp_request *req,
                             int64_t sens, int64_t share, int clamp, struct sl_dp_rng *rng)
{
    sl_status st = SL_OK;
    int32_t coord[SL_TABLE_MAX_DIMS], m[SL_TABLE_MAX_DIMS];
    for (int64_t c = 0; c < t->ncells; c++) {
        int64_t z;
        if (cell_coords(t, c, coord)) {
            v[c] = 0;
            continue;
        }
        SL_CALL(noise(rng, req, sens, share, &z));
        v[c] += z;
        if (clamp && v[c] < 0)
            v[c] = 0;
    }
    /* Margins: each interior cell adds to every cell that replaces a
     * non-empty subset of its coordinates by Total. */
    for (int64_t c = 0; t->margins && c < t->ncells; c++) {
        if (cell_coords(t, c, coord))
            continue;
        for (int sub = 1; sub < (1 << t->ndims); sub++) {
            for (int d = 0; d < t->ndims; d++)
                m[d] = (sub >> d) & 1 ? t->dims[d].nlevels - 1 : coord[d];
            v[cell_index(t, m)] += v[c];
        }
    }
cleanup:
    return st;
}

/* How an output splits its request over its queries: each gets 1/share
 * (0: no such query). Counts alone take all of it; with a value column,
 * counts, patients with a value and lattice sums take 1/4, 1/4 and 1/2,
 * or 1/4 each with a median. */
struct shares {
    int64_t n, present, lattice, median;
};

static struct shares shares_of(const struct sl_dp_values *dv)
{
    if (!dv)
        return (struct shares){1, 0, 0, 0};
    if (dv->median_stat >= 0)
        return (struct shares){4, 4, 4, 4};
    return (struct shares){4, 4, 2, 0};
}

static uint64_t isqrt128(u128 v)
{
    uint64_t x = 0;
    for (int b = 63; b >= 0; b--) {
        u128 c = x | (UINT64_C(1) << b);
        if (c * c <= v)
            x = (uint64_t)c;
    }
    return x;
}

/* The epsilon of an exponential mechanism given 1/share of the request:
 * epsilon / share, or for rho the largest e / 10^6 with e^2 / 8 <= rho /
 * share (the mechanism is epsilon^2/8-zCDP). A numerator of 0 when rho is
 * too small for any. */
static struct sl_ratio em_epsilon(const struct sl_dp_request *req, int64_t share)
{
    const struct sl_ratio r = req->param;
    if (req->mechanism == SL_DP_LAPLACE)
        return reduce((struct sl_ratio){r.num, r.den * share});
    /* e^2 <= 8 10^12 num / (den share), floored: exact */
    u128 bound = (u128)8000000000000 * (u128)r.num / ((u128)r.den * (u128)share);
    return (struct sl_ratio){(int64_t)isqrt128(bound), 1000000};
}

sl_status sl_dp_em_select(struct sl_dp_rng *r, const uint64_t *scores, int64_t m,
                          struct sl_ratio eps, int64_t *out)
{
    sl_status st = SL_OK;
    uint64_t best = UINT64_MAX;
    SL_CHECK(m >= 1 && eps.num >= 1 && eps.den >= 1 && eps.den <= INT64_C(1) << 40 &&
                 eps.num <= INT64_C(1) << 40,
             SL_ERR_ARG, "the exponential mechanism needs candidates and 0 < epsilon");
    for (int64_t j = 0; j < m; j++)
        best = scores[j] < best ? scores[j] : best;
    for (;;) {
        uint64_t j;
        int keep;
        SL_CALL(sl_dp_uniform(r, (uint64_t)m, &j));
        /* accept with exp(-epsilon (score - best) / 2): the candidates end
         * up chosen with probability proportional to exp(-epsilon score / 2) */
        SL_CALL(bern_exp(r, (u128)(scores[j] - best) * (u128)eps.num, (u128)2 * (u128)eps.den,
                         &keep));
        if (keep) {
            *out = (int64_t)j;
            break;
        }
    }
cleanup:
    return st;
}

/* The noisy median of interior cell c: the exponential mechanism over the
 * lattice points with the score |below - above| (one patient moves it by at
 * most 1). */
static sl_status em_median(const struct sl_dp_values *dv, int64_t c, struct sl_ratio eps,
                           struct sl_dp_rng *rng, uint64_t *scores, double *median)
{
    sl_status st = SL_OK;
    const int64_t *h = dv->hist + c * SL_DP_POINTS;
    int64_t total = 0, below = 0, j = 0;
    for (int64_t i = 0; i < SL_DP_POINTS; i++)
        total += h[i];
    for (int64_t i = 0; i < SL_DP_POINTS; i++) {
        int64_t above = total - below - h[i];
        scores[i] = (uint64_t)(below > above ? below - above : above - below);
        below += h[i];
    }
    SL_CALL(sl_dp_em_select(rng, scores, SL_DP_POINTS, eps, &j));
    *median = dv->center + dv->step * (double)(j - SL_DP_RADIUS);
cleanup:
    return st;
}

/* The sum, mean and present columns from noisy present counts and lattice
 * sums (the medians are drawn before); statistics resting on fewer than
 * min_safe_count (noisy) patients are withheld, medians included. Returns
 * how many cells had their statistics withheld. */
static int64_t value_stats(struct sl_table *t, const struct sl_rules *rules)
{
    const struct sl_dp_values *dv = t->dp_values;
    int64_t withheld = 0;
    for (int64_t c = 0; c < t->ncells; c++) {
        double p = (double)dv->present[c], k = (double)dv->lattice[c], mean;
        if (t->withheld[c] || dv->present[c] < rules->min_safe_count) {
            withheld += !t->withheld[c];
            t->withheld[c] |= SL_WITHHELD_STATS;
            continue;
        }
        mean = dv->center + dv->step * k / p;
        mean = mean < dv->lower ? dv->lower : mean > dv->upper ? dv->upper : mean;
        const double v[3] = {dv->center * p + dv->step * k, mean, p};
        const int col[3] = {dv->sum_stat, dv->mean_stat, dv->present_stat};
        for (int i = 0; i < 3; i++) {
            if (col[i] < 0)
                continue;
            t->stats[col[i]].v[c] = v[i];
            if (t->stats[col[i]].support)
                t->stats[col[i]].support[c] = dv->present[c];
        }
    }
    return withheld;
}

sl_status sl_dp_apply(struct sl_table *t, const struct sl_dp_request *req,
                      const struct sl_rules *rules, struct sl_dp_rng *rng)
{
    sl_status st = SL_OK;
    enum sl_decision *verdict = NULL;
    json_t *summary = NULL;
    struct sl_dp_values *dv = t->dp_values;
    int64_t withheld = 0, stats_withheld = 0, counted = 0;
    uint64_t *scores = NULL;
    struct shares sh;

    for (int i = 0; i < t->nstats; i++)
        counted += dv && (i == dv->sum_stat || i == dv->mean_stat || i == dv->present_stat ||
                          i == dv->median_stat);
    SL_CHECK(!t->dom && req->mechanism != SL_DP_NONE && counted == t->nstats &&
                 (!dv || dv->median_stat < 0 || dv->hist),
             SL_ERR_ARG,
             "noisy outputs hold patient counts, and counts, sums, means and medians of a value "
             "column only");
    sh = shares_of(dv);
    if (sh.median) {
        /* the medians first, from the exact counts per lattice point, which
         * are then wiped; margin cells get none */
        struct sl_ratio eps = em_epsilon(req, sh.median);
        int32_t coord[SL_TABLE_MAX_DIMS];
        SL_CHECK(eps.num > 0, SL_ERR_ARG, "rho is too small for a noisy median");
        scores = sl_malloc(SL_DP_POINTS * sizeof *scores);
        SL_CHECK(scores, SL_ERR_NOMEM, "out of memory");
        for (int64_t c = 0; c < t->ncells; c++)
            if (!cell_coords(t, c, coord))
                SL_CALL(em_median(dv, c, eps, rng, scores, &t->stats[dv->median_stat].v[c]));
        sl_wipe(dv->hist, (size_t)(t->ncells * SL_DP_POINTS) * sizeof *dv->hist);
    }
    SL_CALL(noisy_cells(t, t->n, req, 1, sh.n, 1, rng));
    if (dv) {
        SL_CALL(noisy_cells(t, dv->present, req, 1, sh.present, 1, rng));
        SL_CALL(noisy_cells(t, dv->lattice, req, SL_DP_RADIUS, sh.lattice, 0, rng));
    }
    if (!t->withheld)
        t->withheld = sl_calloc((size_t)t->ncells, 1);
    verdict = sl_malloc((size_t)t->ncells * sizeof *verdict);
    SL_CHECK(t->withheld && verdict, SL_ERR_NOMEM, "out of memory");
    for (int64_t c = 0; c < t->ncells; c++) {
        verdict[c] = SL_DECISION_PASS;
        if (t->n[c] < rules->min_safe_count) {
            t->withheld[c] |= SL_WITHHELD_CELL;
            t->n[c] = 0;
            withheld++;
        }
    }
    if (dv)
        stats_withheld = value_stats(t, rules);
    summary = json_pack("{s:s,s:{s:I},s:{s:I,s:I,s:s}}", "scope", "cell", "parameters",
                        "min_safe_count", (json_int_t)rules->min_safe_count, "evidence",
                        "withheld_cells", (json_int_t)withheld, "withheld_statistics",
                        (json_int_t)stats_withheld, "applied_to", "noisy counts");
    st = sl_gate_add_verdict(t, "dp_threshold", verdict, summary);
    summary = NULL;
    SL_CALL(st);
cleanup:
    json_decref(summary);
    sl_free(verdict);
    sl_free(scores);
    return st;
}

sl_status sl_dp_judge_budget(struct sl_table *t, const struct sl_dp_request *req, int64_t spent,
                             int64_t budget, double delta, int *charge)
{
    sl_status st = SL_OK;
    static const char *const headline[] = {"mechanism", "epsilon", "rho", "sigma2", "scale",
                                           "budget", "left", "epsilon_spent"};
    enum sl_decision *verdict = NULL;
    json_t *summary = NULL, *params = NULL, *ev = sl_dp_describe(req);
    char sb[48], bb[48], lb[48];

    *charge = spent <= budget && req->units <= budget - spent;
    json_decref(t->verdicts);
    t->verdicts = json_array();
    verdict = sl_malloc((size_t)t->ncells * sizeof *verdict);
    SL_CHECK(t->verdicts && verdict && ev, SL_ERR_NOMEM, "out of memory");
    t->decision = SL_DECISION_PASS;
    for (int64_t c = 0; c < t->ncells; c++) {
        t->cell_decision[c] = SL_DECISION_PASS;
        verdict[c] = *charge ? SL_DECISION_PASS : SL_DECISION_FAIL;
    }
    sl_dp_units_format(spent, sb, sizeof sb);
    sl_dp_units_format(budget, bb, sizeof bb);
    sl_dp_units_format(*charge ? budget - spent - req->units : budget - spent, lb, sizeof lb);
    SL_CHECK(json_object_set_new(ev, "spent_before", json_string(sb)) == 0 &&
                 json_object_set_new(ev, "budget", json_string(bb)) == 0 &&
                 json_object_set_new(ev, "left", json_string(lb)) == 0,
             SL_ERR_NOMEM, "out of memory");
    if (t->dp_values) {
        const struct sl_dp_values *dv = t->dp_values;
        struct shares sh = shares_of(dv);
        json_t *q = json_pack("[o,o,o]", describe_query(req, "patients", 1, sh.n),
                              describe_query(req, "patients with a value", 1, sh.present),
                              describe_query(req, "sum of lattice points", SL_DP_RADIUS,
                                             sh.lattice));
        if (q && sh.median) {
            char e[48];
            sl_ratio_format(em_epsilon(req, sh.median), e, sizeof e);
            json_array_append_new(
                q, json_pack("{s:s,s:s,s:i,s:s,s:s}", "query",
                             "median of each interior cell: exponential mechanism over the "
                             "lattice points (margin cells get none)",
                             "share", "1/4", "sensitivity", 1, "epsilon", e, "candidates",
                             "2049 lattice points"));
        }
        SL_CHECK(q && json_object_set_new(ev, "queries", q) == 0 &&
                     json_object_set_new(ev, "value_lattice",
                                         json_pack("{s:f,s:f,s:f,s:f}", "lower", dv->lower,
                                                   "upper", dv->upper, "center", dv->center,
                                                   "step", dv->step)) == 0,
                 SL_ERR_NOMEM, "out of memory");
        json_object_del(ev, "sigma2");
        json_object_del(ev, "scale");
        json_object_del(ev, "sensitivity");
    }
    if (*charge) {
        /* 6 decimals, rounded up: still a valid bound */
        double eps = sl_dp_epsilon((double)(spent + req->units) / (double)SL_DP_UNITS, delta);
        SL_CHECK(json_object_set_new(ev, "epsilon_spent",
                                     json_sprintf("%.6f", ceil(eps * 1e6) / 1e6)) == 0 &&
                     json_object_set_new(ev, "at_delta", json_real(delta)) == 0,
                 SL_ERR_NOMEM, "out of memory");
    }
    /* the headline numbers, flat, for the report's parameters column */
    params = json_object();
    SL_CHECK(params, SL_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < sizeof headline / sizeof headline[0]; i++) {
        json_t *v = json_object_get(ev, headline[i]);
        if (v && json_object_set(params, headline[i], v) != 0)
            SL_FAIL(SL_ERR_NOMEM, "out of memory");
    }
    summary = json_pack("{s:s,s:O,s:O}", "scope", "table", "parameters", params, "evidence", ev);
    SL_CHECK(summary, SL_ERR_NOMEM, "out of memory");
    if (!*charge) {
        char need[48];
        sl_dp_units_format(req->units, need, sizeof need);
        json_object_set_new(summary, "reason",
                            json_sprintf("the output needs rho %s of the privacy budget of this "
                                         "cohort and project, which has %s of %s left; no "
                                         "noise was drawn and nothing was charged",
                                         need, lb, bb));
    }
    st = sl_gate_add_verdict(t, "privacy_budget", verdict, summary);
    summary = NULL;
    SL_CALL(st);
cleanup:
    json_decref(params);
    json_decref(ev);
    json_decref(summary);
    sl_free(verdict);
    return st;
}

sl_status sl_dp_ledger_entry(const struct sl_table *t, const struct sl_dp_request *req,
                             const char *job_id, const char *filter, json_t **out)
{
    sl_status st = SL_OK;
    json_t *e = NULL, *d = sl_dp_describe(req);

    *out = NULL;
    SL_CHECK(d, SL_ERR_NOMEM, "out of memory");
    SL_CALL(sl_ledger_entry(t, job_id, filter, &e));
    SL_CHECK(json_object_set_new(e, "population", json_null()) == 0 &&
                 json_object_set_new(e, "cells", json_array()) == 0 &&
                 json_object_set(e, "privacy", d) == 0,
             SL_ERR_NOMEM, "out of memory");
    *out = e;
    e = NULL;
cleanup:
    json_decref(d);
    json_decref(e);
    return st;
}
