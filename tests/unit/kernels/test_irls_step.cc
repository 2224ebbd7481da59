// Fused IRLS step (SL_OP_IRLS_STEP): every backend against a long double
// evaluation of R's glm.fit formulas (1e-12 relative to the sum of absolute
// terms), closed-form logistic and least-squares fits driven through
// sl_spd_solve, R's clamping of the logit, errors, and bit-identical results
// across runs, thread counts and tile kernels.
#include "kernel_test.hh"

#include <cfloat>
#include <functional>

extern "C" {
#include "kernels/cpu/cpu_impl.h"
#include "kernels/linalg.h"
}

using sltest::BackendTest;
using sltest::Rng;

namespace {

struct Problem {
    int64_t n, p;
    sl_glm_family family;
    std::vector<double> x, y, w, off, beta;
    std::vector<uint8_t> mask;
    bool use_w = false, use_off = false, use_mask = false;
};

Problem make(int64_t n, int64_t p, sl_glm_family fam, uint64_t seed)
{
    Rng rng(seed);
    Problem pr{n, p, fam, {}, {}, {}, {}, {}, {}};
    pr.x.resize(static_cast<size_t>(std::max<int64_t>(n, 1) * p));
    for (int64_t j = 0; j < p; j++)
        pr.beta.push_back(j == 0 ? -0.3 : 0.4 * std::sin(static_cast<double>(j)));
    for (int64_t i = 0; i < n; i++) {
        double eta = 0;
        for (int64_t j = 0; j < p; j++) {
            double v = j == 0 ? 1.0 : rng.normal();
            pr.x[static_cast<size_t>(i + j * n)] = v;
            eta += v * pr.beta[static_cast<size_t>(j)];
        }
        pr.off.push_back(0.2 * rng.normal());
        pr.w.push_back(rng.unif() < 0.05 ? 0.0 : static_cast<double>(1 + rng.below(3)));
        pr.mask.push_back(rng.unif() < 0.93);
        if (fam == SL_GLM_BINOMIAL_LOGIT)
            pr.y.push_back(rng.unif() < 1 / (1 + std::exp(-eta)) ? 1.0 : 0.0);
        else
            pr.y.push_back(eta + rng.normal());
    }
    return pr;
}

struct Result {
    std::vector<double> xtwx, xtwz;
    std::vector<const double *> cols;
    sl_irls_sums sums{};
};

sl_irls_step_args args(const Problem &pr, Result &res)
{
    res.xtwx.assign(static_cast<size_t>(pr.p * pr.p), 0);
    res.xtwz.assign(static_cast<size_t>(pr.p), 0);
    res.sums = sl_irls_sums{};
    res.cols = sltest::columns(pr.x.data(), std::max<int64_t>(pr.n, 1), pr.p);
    return sl_irls_step_args{pr.n,
                             pr.p,
                             res.cols.data(),
                             pr.y.data(),
                             pr.use_w ? pr.w.data() : nullptr,
                             pr.use_off ? pr.off.data() : nullptr,
                             pr.use_mask ? pr.mask.data() : nullptr,
                             pr.beta.data(),
                             pr.family,
                             res.xtwx.data(),
                             res.xtwz.data(),
                             &res.sums};
}

Result step(struct sl_backend *b, const Problem &pr)
{
    Result res;
    sl_irls_step_args a = args(pr, res);
    EXPECT_TRUE(sltest::run(b, SL_OP_IRLS_STEP, &a));
    return res;
}

long double ylogy(long double y, long double mu) { return y != 0 ? y * std::log(y / mu) : 0; }

// R's glm.fit quantities in long double, with the scale of each sum.
struct Reference {
    std::vector<long double> xtwx, xtwz, sx, sz;
    long double dev = 0, m2ll = 0, slw = 0, sw = 0, swy = 0;
    int64_t used = 0, boundary = 0;
};

Reference reference(const Problem &pr)
{
    Reference r;
    size_t p = static_cast<size_t>(pr.p);
    r.xtwx.assign(p * p, 0);
    r.sx.assign(p * p, 0);
    r.xtwz.assign(p, 0);
    r.sz.assign(p, 0);
    for (int64_t i = 0; i < pr.n; i++) {
        size_t k = static_cast<size_t>(i);
        long double a = pr.use_w ? pr.w[k] : 1, off = pr.use_off ? pr.off[k] : 0, eta = off;
        long double y = pr.y[k], W, z;
        if ((pr.use_mask && !pr.mask[k]) || a == 0)
            continue;
        for (size_t j = 0; j < p; j++)
            eta += static_cast<long double>(pr.x[k + j * static_cast<size_t>(pr.n)]) * pr.beta[j];
        if (pr.family == SL_GLM_GAUSSIAN_IDENTITY) {
            W = a;
            z = y - off;
            r.dev += a * (y - eta) * (y - eta);
        } else {
            bool out = eta < -30 || eta > 30;
            long double e = eta < -30 ? DBL_EPSILON : (eta > 30 ? 1 / DBL_EPSILON : std::exp(eta));
            long double mu = e / (1 + e), d = out ? DBL_EPSILON : e / ((1 + e) * (1 + e));
            W = a * d * d / (mu * (1 - mu));
            z = eta - off + (y - mu) / d;
            long double dev = 2 * a * (ylogy(y, mu) + ylogy(1 - y, 1 - mu));
            r.dev += dev;
            r.m2ll += dev;  // 0/1 y with integer weights
            r.boundary += mu > 1 - 10 * DBL_EPSILON || mu < 10 * DBL_EPSILON;
        }
        for (size_t j = 0; j < p; j++) {
            long double xj = pr.x[k + j * static_cast<size_t>(pr.n)];
            for (size_t q = 0; q < p; q++) {
                long double t = W * pr.x[k + q * static_cast<size_t>(pr.n)] * xj;
                r.xtwx[q + j * p] += t;
                r.sx[q + j * p] += std::fabs(t);
            }
            r.xtwz[j] += W * z * xj;
            r.sz[j] += std::fabs(W * z * xj);
        }
        r.used++;
        r.slw += pr.use_w ? std::log(a) : 0;
        r.sw += a;
        r.swy += a * y;
    }
    return r;
}

::testing::AssertionResult near(double got, long double want, long double scale, double tol)
{
    long double err = std::fabs(static_cast<long double>(got) - want);
    if (err <= tol * scale + 1e-300)
        return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << got << " vs " << static_cast<double>(want)
                                         << " (relative error "
                                         << static_cast<double>(err / scale) << ")";
}

void expect_matches(const Result &got, const Reference &r, double tol)
{
    for (size_t k = 0; k < got.xtwx.size(); k++)
        EXPECT_TRUE(near(got.xtwx[k], r.xtwx[k], r.sx[k], tol)) << "xtwx " << k;
    for (size_t k = 0; k < got.xtwz.size(); k++)
        EXPECT_TRUE(near(got.xtwz[k], r.xtwz[k], r.sz[k], tol)) << "xtwz " << k;
    EXPECT_EQ(got.sums.n_used, r.used);
    EXPECT_EQ(got.sums.n_boundary, r.boundary);
    EXPECT_TRUE(near(got.sums.deviance, r.dev, r.dev, tol));
    EXPECT_TRUE(near(got.sums.minus2_loglik, r.m2ll, r.m2ll, tol));
    EXPECT_TRUE(near(got.sums.sum_log_w, r.slw, std::fabs(r.slw) + r.sw, tol));
    EXPECT_TRUE(near(got.sums.sum_w, r.sw, r.sw, tol));
    EXPECT_TRUE(near(got.sums.sum_wy, r.swy, r.sw, tol));
}

class IrlsStep : public BackendTest {};

TEST_P(IrlsStep, MatchesLongDoubleReference)
{
    const double tol = 1e-12;
    for (sl_glm_family fam : {SL_GLM_GAUSSIAN_IDENTITY, SL_GLM_BINOMIAL_LOGIT}) {
        for (int64_t p : {1, 2, 7, 21}) {
            for (int64_t n : sltest::awkward_sizes()) {
                Problem pr = make(n, p, fam, static_cast<uint64_t>(n + 1000 * p));
                for (int mode = 0; mode < 3; mode++) {
                    pr.use_w = mode >= 1;
                    pr.use_off = mode >= 1;
                    pr.use_mask = mode == 2;
                    Reference r = reference(pr);
                    SCOPED_TRACE(::testing::Message() << GetParam() << " family " << fam << " n "
                                                      << n << " p " << p << " mode " << mode);
                    expect_matches(step(be_, pr), r, tol);
                    expect_matches(step(ref_, pr), r, tol);
                }
            }
        }
    }
}

// Runs IRLS to convergence with R's rule; returns the iterations used.
int fit(struct sl_backend *b, Problem &pr, Result &last)
{
    double dev_old = 0;
    std::fill(pr.beta.begin(), pr.beta.end(), 0.0);
    for (int it = 1; it <= 50; it++) {
        last = step(b, pr);
        double dev = last.sums.deviance;
        if (it > 1 && std::fabs(dev - dev_old) / (std::fabs(dev) + 0.1) < 1e-12)
            return it;
        dev_old = last.sums.deviance;
        EXPECT_EQ(sl_spd_solve(pr.p, last.xtwx.data(), pr.p, last.xtwz.data(), 1e-7,
                               pr.beta.data(), nullptr, nullptr),
                  SL_OK);
    }
    return 50;
}

TEST_P(IrlsStep, LogisticTwoByTwoClosedForm)
{
    // x = 0: 30 successes of 100; x = 1: 60 of 120. The MLE reproduces the
    // observed proportions: beta0 = logit(0.3), beta1 = logit(0.5) - logit(0.3).
    // R: glm(y ~ x, binomial) on these rows; deviance
    // -2 (30 log .3 + 70 log .7 + 120 log .5).
    const double b0 = std::log(0.3 / 0.7), b1 = -b0;
    const double dev = -2 * (30 * std::log(0.3) + 70 * std::log(0.7) + 120 * std::log(0.5));
    Problem rows{220, 2, SL_GLM_BINOMIAL_LOGIT, {}, {}, {}, {}, {0, 0}, {}};
    rows.x.assign(440, 1.0);
    for (int i = 0; i < 220; i++) {
        rows.x[static_cast<size_t>(220 + i)] = i < 100 ? 0.0 : 1.0;
        rows.y.push_back(i < 100 ? (i < 30 ? 1.0 : 0.0) : (i < 160 ? 1.0 : 0.0));
    }
    Result last;
    fit(be_, rows, last);
    EXPECT_NEAR(rows.beta[0], b0, 1e-10);
    EXPECT_NEAR(rows.beta[1], b1, 1e-10);
    EXPECT_NEAR(last.sums.deviance, dev, 1e-9 * dev);
    EXPECT_EQ(last.sums.minus2_loglik, last.sums.deviance);  // 0/1 y: -2 loglik = deviance
    EXPECT_EQ(last.sums.n_used, 220);

    // The same data as 4 rows with frequency weights: same fit.
    Problem freq{4, 2, SL_GLM_BINOMIAL_LOGIT, {1, 1, 1, 1, 0, 0, 1, 1}, {1, 0, 1, 0},
                 {30, 70, 60, 60}, {}, {0, 0}, {}};
    freq.use_w = true;
    fit(be_, freq, last);
    EXPECT_NEAR(freq.beta[0], b0, 1e-10);
    EXPECT_NEAR(freq.beta[1], b1, 1e-10);
    EXPECT_NEAR(last.sums.deviance, dev, 1e-9 * dev);
    EXPECT_NEAR(last.sums.minus2_loglik, dev, 1e-9 * dev);
    EXPECT_EQ(last.sums.sum_w, 220.0);

    // As proportions with the trials as weights (R: glm(cbind(s, f) ~ x)):
    // same coefficients, a saturated deviance of 0, and R's AIC term
    // -2 sum log dbinom(s, m, p) = -2 (lchoose(100, 30) + lchoose(120, 60) + ...).
    Problem prop{2, 2, SL_GLM_BINOMIAL_LOGIT, {1, 1, 0, 1}, {0.3, 0.5}, {100, 120}, {}, {0, 0},
                 {}};
    prop.use_w = true;
    fit(be_, prop, last);
    EXPECT_NEAR(prop.beta[0], b0, 1e-10);
    EXPECT_NEAR(prop.beta[1], b1, 1e-10);
    EXPECT_NEAR(last.sums.deviance, 0.0, 1e-9);
    long double lchoose = std::lgamma(101.0L) - std::lgamma(31.0L) - std::lgamma(71.0L) +
                          std::lgamma(121.0L) - 2 * std::lgamma(61.0L);
    double m2ll = static_cast<double>(-2 * lchoose) + dev;
    EXPECT_NEAR(last.sums.minus2_loglik, m2ll, 1e-10 * m2ll);
}

TEST_P(IrlsStep, GaussianOneStepIsLeastSquares)
{
    Problem pr = make(5000, 4, SL_GLM_GAUSSIAN_IDENTITY, 31);
    pr.use_w = true;
    std::vector<double> start = {5, -5, 3, 0.25};
    pr.beta = start;
    Result r1 = step(be_, pr);
    std::vector<double> bhat(4);
    ASSERT_EQ(sl_spd_solve(4, r1.xtwx.data(), 4, r1.xtwz.data(), 1e-7, bhat.data(), nullptr,
                           nullptr),
              SL_OK);
    // weighted normal equations in long double by Gaussian elimination
    long double A[4][5] = {};
    for (int64_t i = 0; i < pr.n; i++) {
        long double w = pr.w[static_cast<size_t>(i)];
        for (int a = 0; a < 4; a++) {
            long double xa = pr.x[static_cast<size_t>(i + a * pr.n)];
            for (int b = 0; b < 4; b++)
                A[a][b] += w * xa * pr.x[static_cast<size_t>(i + b * pr.n)];
            A[a][4] += w * xa * pr.y[static_cast<size_t>(i)];
        }
    }
    for (int c = 0; c < 4; c++)
        for (int r = c + 1; r < 4; r++) {
            long double f = A[r][c] / A[c][c];
            for (int k = c; k < 5; k++)
                A[r][k] -= f * A[c][k];
        }
    long double sol[4];
    for (int r = 3; r >= 0; r--) {
        long double s = A[r][4];
        for (int k = r + 1; k < 4; k++)
            s -= A[r][k] * sol[k];
        sol[r] = s / A[r][r];
    }
    for (int k = 0; k < 4; k++)
        EXPECT_NEAR(bhat[static_cast<size_t>(k)], static_cast<double>(sol[k]), 1e-10);
    // the deviance at the solution is the weighted residual sum of squares
    pr.beta = bhat;
    Result r2 = step(be_, pr);
    long double rss = 0;
    for (int64_t i = 0; i < pr.n; i++) {
        long double fitv = 0;
        for (int k = 0; k < 4; k++)
            fitv += pr.x[static_cast<size_t>(i + k * pr.n)] *
                    static_cast<long double>(bhat[static_cast<size_t>(k)]);
        rss += pr.w[static_cast<size_t>(i)] * (pr.y[static_cast<size_t>(i)] - fitv) *
               (pr.y[static_cast<size_t>(i)] - fitv);
    }
    EXPECT_NEAR(r2.sums.deviance, static_cast<double>(rss), 1e-10 * static_cast<double>(rss));
    EXPECT_EQ(r2.sums.minus2_loglik, 0.0);
}

TEST_P(IrlsStep, ClampsTheLogitLikeR)
{
    // one row, x = 1, beta = 40: R's linkinv uses exp(eta) = 1/eps, mu.eta = eps
    Problem pr{1, 1, SL_GLM_BINOMIAL_LOGIT, {1.0}, {1.0}, {}, {}, {40.0}, {}};
    Result r = step(be_, pr);
    const double e = 1 / DBL_EPSILON, mu = e / (1 + e), d = DBL_EPSILON;
    const double W = d * d / (mu * (1 - mu)), z = 40 + (1 - mu) / d;
    EXPECT_EQ(r.sums.n_boundary, 1);
    EXPECT_NEAR(r.xtwx[0], W, 1e-15 * W);
    EXPECT_NEAR(r.xtwz[0], W * z, 1e-14 * W * z);
    EXPECT_NEAR(r.sums.deviance, 2 * std::log(1 / mu), 1e-30);
    pr.beta[0] = -40;
    pr.y[0] = 0;
    r = step(be_, pr);
    EXPECT_EQ(r.sums.n_boundary, 1);
    EXPECT_GT(r.xtwx[0], 0);
}

TEST_P(IrlsStep, BadRowsFailAndLeaveOutputsAlone)
{
    Problem pr = make(30000, 3, SL_GLM_BINOMIAL_LOGIT, 8);
    pr.use_mask = true;
    pr.use_w = true;
    pr.mask[100] = 0;
    pr.y[100] = NAN;  // masked out: fine
    pr.w[200] = 0;
    pr.y[200] = 7;  // weight 0: fine
    Result ok = step(be_, pr);
    struct Case {
        size_t row;
        std::function<void(Problem &)> spoil;
        sl_status want;
    };
    std::vector<Case> cases = {
        {25001, [](Problem &q) { q.y[25001] = 1.5; }, SL_ERR_ARG},
        {25002, [](Problem &q) { q.y[25002] = NAN; }, SL_ERR_ARG},
        {25003, [](Problem &q) { q.w[25003] = -1; }, SL_ERR_ARG},
        {25004, [](Problem &q) { q.x[25004 + 30000] = NAN; }, SL_ERR_NUMERIC},
    };
    for (const Case &c : cases) {
        Problem bad = pr;
        bad.mask[c.row] = 1;
        bad.w[c.row] = 1;
        c.spoil(bad);
        Result res;
        sl_irls_step_args a = args(bad, res);
        res.xtwx.assign(9, 3.0);
        EXPECT_EQ(sl_kernel_run(be_, SL_OP_IRLS_STEP, &a), c.want);
        EXPECT_NE(std::string(sl_error_message()).find("row " + std::to_string(c.row)),
                  std::string::npos)
            << sl_error_message();
        EXPECT_EQ(res.xtwx, std::vector<double>(9, 3.0));
        EXPECT_EQ(res.sums.n_used, 0);
    }
}

TEST_P(IrlsStep, BitIdenticalAcrossRunsAndThreads)
{
    Problem pr = make(100003, 21, SL_GLM_BINOMIAL_LOGIT, 12);
    pr.use_w = pr.use_off = pr.use_mask = true;
    Result a1, a2, t1;
    {
        sltest::Threads t(2);
        a1 = step(be_, pr);
        a2 = step(be_, pr);
    }
    {
        sltest::Threads t(1);
        t1 = step(be_, pr);
    }
    for (const Result *r : {&a2, &t1}) {
        EXPECT_TRUE(sltest::same_bits(a1.xtwx.data(), r->xtwx.data(), a1.xtwx.size()));
        EXPECT_TRUE(sltest::same_bits(a1.xtwz.data(), r->xtwz.data(), a1.xtwz.size()));
        EXPECT_EQ(std::memcmp(&a1.sums, &r->sums, sizeof a1.sums), 0);
    }
}

INSTANTIATE_TEST_SUITE_P(Backends, IrlsStep, ::testing::ValuesIn(sltest::backends_under_test()));

TEST(IrlsTiles, EveryInstructionSetGivesTheSameBits)
{
    struct sl_backend *cpu = sltest::backend("cpu");
    ASSERT_NE(cpu, nullptr);
    enum sl_cpu_isa best = sl_cpu_isa_best();
    Problem pr = make(20011, 9, SL_GLM_BINOMIAL_LOGIT, 4);
    pr.use_w = pr.use_off = pr.use_mask = true;
    Result want;
    bool first = true;
    for (enum sl_cpu_isa isa : {SL_CPU_ISA_GENERIC, SL_CPU_ISA_AVX2, SL_CPU_ISA_AVX512}) {
        if (sl_cpu_isa_select(isa) != SL_OK)
            continue;
        Result got = step(cpu, pr);
        if (first)
            want = got;
        first = false;
        EXPECT_TRUE(sltest::same_bits(got.xtwx.data(), want.xtwx.data(), got.xtwx.size()))
            << sl_cpu_isa_name(isa);
        EXPECT_TRUE(sltest::same_bits(got.xtwz.data(), want.xtwz.data(), got.xtwz.size()))
            << sl_cpu_isa_name(isa);
    }
    ASSERT_EQ(sl_cpu_isa_select(best), SL_OK);
}

}  // namespace
