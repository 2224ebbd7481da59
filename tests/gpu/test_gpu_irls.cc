// GPU fused IRLS step (SL_OP_IRLS_STEP) against cpu_ref within the
// tolerance below, for both families, with prior weights, offsets and mask,
// on both Gram paths (p + 1 <= 64 tiles, wider cuBLAS); R's clamping of the
// logit; errors naming the first bad row with the reference's status; bit-
// identical steps; and whole logistic and Gaussian fits on the GPU whose
// coefficients equal the CPU backend's to 1e-9 relative.
#include "gpu_test.hh"

#include <cfloat>
#include <functional>

extern "C" {
#include "kernels/linalg.h"
}

using gputest::Gpu;
using sltest::Rng;

namespace {

// Tolerance relative to the sum of |terms| of each output. Besides the
// order of summation (as for the Gram, see test_gpu_gram.cc), the GPU's exp
// and log may differ from the C library's by an ulp or two, which moves W
// and z of a row by a few ulps (more, relatively, only for rows clamped at
// |eta| > 30, whose weights are ~1e-13 and do not register in the sums).
constexpr double kTol = 1e-11;

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
        pr.beta.push_back(j == 0 ? -0.3 : 0.4 * std::sin(static_cast<double>(j)) / std::sqrt(p));
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
                             pr.n > 0 ? pr.y.data() : nullptr,
                             pr.use_w ? pr.w.data() : nullptr,
                             pr.use_off ? pr.off.data() : nullptr,
                             pr.use_mask ? pr.mask.data() : nullptr,
                             pr.beta.data(),
                             pr.family,
                             res.xtwx.data(),
                             res.xtwz.data(),
                             &res.sums};
}

// The scale of each output: sums of |terms| with W and z in plain double.
struct Scale {
    std::vector<double> xtwx, xtwz;
    double dev = 0, w = 0;
};

Scale scale(const Problem &pr)
{
    Scale s;
    size_t p = static_cast<size_t>(pr.p);
    s.xtwx.assign(p * p, 0);
    s.xtwz.assign(p, 0);
    for (int64_t i = 0; i < pr.n; i++) {
        size_t k = static_cast<size_t>(i);
        double a = pr.use_w ? pr.w[k] : 1, off = pr.use_off ? pr.off[k] : 0, eta = off, W, z;
        if ((pr.use_mask && !pr.mask[k]) || a == 0)
            continue;
        for (size_t j = 0; j < p; j++)
            eta += pr.x[k + j * static_cast<size_t>(pr.n)] * pr.beta[j];
        if (pr.family == SL_GLM_GAUSSIAN_IDENTITY) {
            W = a;
            z = pr.y[k] - off;
            s.dev += a * (pr.y[k] - eta) * (pr.y[k] - eta);
        } else {
            double mu = 1 / (1 + std::exp(-eta));
            W = a * mu * (1 - mu);
            z = eta - off + (pr.y[k] - mu) / (mu * (1 - mu));
            s.dev += 2 * a * std::fabs(std::log(pr.y[k] > 0.5 ? mu : 1 - mu));
        }
        for (size_t j = 0; j < p; j++) {
            double xj = pr.x[k + j * static_cast<size_t>(pr.n)];
            for (size_t q = 0; q < p; q++)
                s.xtwx[q + j * p] += std::fabs(W * pr.x[k + q * static_cast<size_t>(pr.n)] * xj);
            s.xtwz[j] += std::fabs(W * z * xj);
        }
        s.w += a;
    }
    return s;
}

::testing::AssertionResult near(double got, double want, double sc)
{
    if (std::fabs(got - want) <= kTol * sc + 1e-300)
        return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << got << " vs " << want << " (relative "
                                         << std::fabs(got - want) / sc << ")";
}

void expect_close(const Result &g, const Result &r, const Scale &s)
{
    for (size_t k = 0; k < g.xtwx.size(); k++)
        ASSERT_TRUE(near(g.xtwx[k], r.xtwx[k], s.xtwx[k])) << "xtwx " << k;
    for (size_t k = 0; k < g.xtwz.size(); k++)
        ASSERT_TRUE(near(g.xtwz[k], r.xtwz[k], s.xtwz[k])) << "xtwz " << k;
    EXPECT_EQ(g.sums.n_used, r.sums.n_used);
    EXPECT_EQ(g.sums.n_boundary, r.sums.n_boundary);
    EXPECT_TRUE(near(g.sums.deviance, r.sums.deviance, s.dev));
    EXPECT_TRUE(near(g.sums.minus2_loglik, r.sums.minus2_loglik, s.dev));
    EXPECT_TRUE(near(g.sums.sum_log_w, r.sums.sum_log_w, s.w));
    EXPECT_TRUE(near(g.sums.sum_w, r.sums.sum_w, s.w));
    EXPECT_TRUE(near(g.sums.sum_wy, r.sums.sum_wy, s.w));
}

class GpuIrls : public Gpu {
  protected:
    Result step(struct sl_backend *b, const Problem &pr)
    {
        Result res;
        sl_irls_step_args a = args(pr, res);
        if (b == gpu_) {
            EXPECT_TRUE(on_gpu(SL_OP_IRLS_STEP, &a));
        } else {
            EXPECT_TRUE(sltest::run(b, SL_OP_IRLS_STEP, &a));
        }
        return res;
    }
};

TEST_F(GpuIrls, StepMatchesReference)
{
    for (sl_glm_family fam : {SL_GLM_GAUSSIAN_IDENTITY, SL_GLM_BINOMIAL_LOGIT}) {
        for (int64_t p : {1, 2, 7, 21, 63, 64, 100}) {
            for (int64_t n : gputest::sizes()) {
                if (p >= 63 && n > 20000)
                    continue;  // keep cpu_ref quick
                Problem pr = make(n, p, fam, static_cast<uint64_t>(n + 1000 * p + fam));
                for (int mode = 0; mode < 3; mode++) {
                    pr.use_w = mode >= 1;
                    pr.use_off = mode >= 1;
                    pr.use_mask = mode == 2;
                    SCOPED_TRACE(::testing::Message() << "family " << fam << " n " << n << " p "
                                                      << p << " mode " << mode);
                    expect_close(step(gpu_, pr), step(ref_, pr), scale(pr));
                }
            }
        }
    }
}

TEST_F(GpuIrls, ClampsTheLogitLikeR)
{
    // one row, x = 1, beta = 40: R's linkinv uses exp(eta) = 1/eps, mu.eta = eps
    Problem pr{1, 1, SL_GLM_BINOMIAL_LOGIT, {1.0}, {1.0}, {}, {}, {40.0}, {}};
    Result g = step(gpu_, pr), r = step(ref_, pr);
    EXPECT_EQ(g.sums.n_boundary, 1);
    EXPECT_EQ(g.xtwx, r.xtwx);  // no exp or log reached: the same bits
    EXPECT_EQ(g.xtwz, r.xtwz);
    EXPECT_EQ(g.sums.deviance, r.sums.deviance);
}

TEST_F(GpuIrls, BadRowsFailLikeTheReference)
{
    Problem pr = make(100000, 3, SL_GLM_BINOMIAL_LOGIT, 8);
    pr.use_mask = pr.use_w = pr.use_off = true;
    pr.mask[100] = 0;
    pr.y[100] = NAN;  // masked out: fine
    pr.w[200] = 0;
    pr.y[200] = 7;  // weight 0: fine
    struct Case {
        size_t row;
        std::function<void(Problem &)> spoil;
    };
    std::vector<Case> cases = {
        {85001, [](Problem &q) { q.y[85001] = 1.5; }},
        {85002, [](Problem &q) { q.y[85002] = NAN; }},
        {85003, [](Problem &q) { q.w[85003] = -1; }},
        {85004, [](Problem &q) { q.w[85004] = INFINITY; }},
        {85005, [](Problem &q) { q.off[85005] = NAN; }},
        {85006, [](Problem &q) { q.x[85006 + 100000] = NAN; }},
        {85007, [](Problem &q) { q.beta[1] = 1e300; q.x[85007 + 100000] = 1e300; }},
    };
    for (const Case &c : cases) {
        Problem bad = pr;
        bad.mask[c.row] = 1;
        bad.w[c.row] = 1;
        c.spoil(bad);
        bad.y[99000] = -3;  // a later bad row: the first one is named
        Result res, ref;
        sl_irls_step_args a = args(bad, res), r = args(bad, ref);
        res.xtwx.assign(9, 3.0);
        sl_status want = sl_kernel_run(ref_, SL_OP_IRLS_STEP, &r);
        std::string want_msg = sl_error_message();
        ASSERT_NE(want, SL_OK);
        EXPECT_EQ(sl_kernel_run(gpu_, SL_OP_IRLS_STEP, &a), want) << "row " << c.row;
        EXPECT_EQ(std::string(sl_error_message()), want_msg);
        EXPECT_NE(want_msg.find("row " + std::to_string(c.row)), std::string::npos) << want_msg;
        EXPECT_EQ(res.xtwx, std::vector<double>(9, 3.0));
        EXPECT_EQ(res.sums.n_used, 0);
    }
}

TEST_F(GpuIrls, StepBitIdenticalAcrossRunsAndChunkings)
{
    for (int64_t p : {21, 80}) {
        Problem pr = make(gputest::big(p > 64 ? 100003 : 300007), p, SL_GLM_BINOMIAL_LOGIT, 12);
        pr.use_w = pr.use_off = pr.use_mask = true;
        Result a1 = step(gpu_, pr), a2 = step(gpu_, pr);
        size_t old = sl_gpu_set_stage_bytes(1 << 20);
        Result a3 = step(gpu_, pr);
        sl_gpu_set_stage_bytes(old);
        for (const Result *r : {&a2, &a3}) {
            EXPECT_TRUE(sltest::same_bits(a1.xtwx.data(), r->xtwx.data(), a1.xtwx.size()));
            EXPECT_TRUE(sltest::same_bits(a1.xtwz.data(), r->xtwz.data(), a1.xtwz.size()));
            EXPECT_EQ(std::memcmp(&a1.sums, &r->sums, sizeof a1.sums), 0);
        }
    }
}

// Design columns as scattered pointers (as the GLM job passes decrypted
// cohort columns): copied one by one, the same bits as one matrix.
TEST_F(GpuIrls, StepFromScatteredColumnsMatchesOneMatrix)
{
    for (int64_t p : {21, 80}) {
        Problem pr = make(100003, p, SL_GLM_BINOMIAL_LOGIT, 13);
        pr.use_w = pr.use_off = pr.use_mask = true;
        Result whole = step(gpu_, pr), scattered;
        std::vector<std::vector<double>> own(static_cast<size_t>(p));
        for (int64_t j = p - 1; j >= 0; j--)  // allocated in reverse: not equally spaced
            own[static_cast<size_t>(j)].assign(pr.x.begin() + j * pr.n,
                                               pr.x.begin() + (j + 1) * pr.n);
        sl_irls_step_args a = args(pr, scattered);
        for (int64_t j = 0; j < p; j++)
            scattered.cols[static_cast<size_t>(j)] = own[static_cast<size_t>(j)].data();
        ASSERT_TRUE(on_gpu(SL_OP_IRLS_STEP, &a));
        EXPECT_TRUE(sltest::same_bits(whole.xtwx.data(), scattered.xtwx.data(), whole.xtwx.size()));
        EXPECT_TRUE(sltest::same_bits(whole.xtwz.data(), scattered.xtwz.data(), whole.xtwz.size()));
        EXPECT_EQ(std::memcmp(&whole.sums, &scattered.sums, sizeof whole.sums), 0);
    }
}

// IRLS to convergence with R's rule (|dev - dev_old| / (|dev| + 0.1) < 1e-10),
// as the GLM job does; X kept resident on the device when asked.
std::vector<double> fit(struct sl_backend *b, Problem pr, bool keep, int *iters)
{
    double dev_old = 0;
    std::fill(pr.beta.begin(), pr.beta.end(), 0.0);
    if (keep) {
        EXPECT_EQ(sl_backend_keep(b, pr.x.data(), pr.x.size() * sizeof(double)), SL_OK);
    }
    for (*iters = 1; *iters <= 30; (*iters)++) {
        Result r;
        sl_irls_step_args a = args(pr, r);
        EXPECT_TRUE(sltest::run(b, SL_OP_IRLS_STEP, &a));
        if (*iters > 1 && std::fabs(r.sums.deviance - dev_old) / (std::fabs(r.sums.deviance) + 0.1) <
                              1e-10)
            break;
        dev_old = r.sums.deviance;
        EXPECT_EQ(sl_spd_solve(pr.p, r.xtwx.data(), pr.p, r.xtwz.data(), 1e-7, pr.beta.data(),
                               nullptr, nullptr),
                  SL_OK);
    }
    if (keep)
        sl_backend_forget(b, pr.x.data());
    return pr.beta;
}

TEST_F(GpuIrls, FitsEqualTheCpuBackend)
{
    struct Case {
        sl_glm_family fam;
        int64_t n, p;
    };
    for (Case c : {Case{SL_GLM_BINOMIAL_LOGIT, gputest::big(300000), 21},
                   Case{SL_GLM_GAUSSIAN_IDENTITY, gputest::big(300000), 21},
                   Case{SL_GLM_BINOMIAL_LOGIT, gputest::big(40000), 70}}) {
        Problem pr = make(c.n, c.p, c.fam, static_cast<uint64_t>(c.p));
        pr.use_w = pr.use_off = pr.use_mask = true;
        int it_gpu = 0, it_cpu = 0;
        SCOPED_TRACE(::testing::Message() << "family " << c.fam << " p " << c.p);
        int64_t before = sl_gpu_calls_served();
        std::vector<double> bg = fit(gpu_, pr, true, &it_gpu);
        EXPECT_EQ(sl_gpu_calls_served() - before, it_gpu) << "every step on the GPU";
        std::vector<double> bc = fit(cpu_, pr, false, &it_cpu);
        double norm = 0, diff = 0;
        for (size_t j = 0; j < bg.size(); j++) {
            norm = std::max(norm, std::fabs(bc[j]));
            diff = std::max(diff, std::fabs(bg[j] - bc[j]));
        }
        EXPECT_LE(diff, 1e-9 * norm) << it_gpu << " and " << it_cpu << " iterations";
    }
}

}  // namespace
