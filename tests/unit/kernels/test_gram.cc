// Weighted Gram (SL_OP_GRAM): every backend within 1e-12 of a long double
// reference (relative to sum |w x_i x_j|, the scale of the rounding error),
// row selection, accumulation, errors, and bit-identical results across
// runs, thread counts and the CPU's tile kernels (generic, AVX2, AVX-512).
#include "kernel_test.hh"

extern "C" {
#include "kernels/cpu/cpu_impl.h"
}

using sltest::BackendTest;
using sltest::Rng;

namespace {

struct Problem {
    int64_t n, p, ldx;
    std::vector<double> x, w;
    std::vector<uint8_t> mask;
};

Problem make(int64_t n, int64_t p, uint64_t seed, int64_t pad = 0)
{
    Rng rng(seed);
    Problem pr{n, p, std::max<int64_t>(n + pad, 1), {}, {}, {}};
    pr.x.assign(static_cast<size_t>(pr.ldx * p), NAN);  // padding rows stay NaN
    for (int64_t j = 0; j < p; j++)
        for (int64_t i = 0; i < n; i++)
            pr.x[static_cast<size_t>(i + j * pr.ldx)] = rng.normal() + 0.3 * static_cast<double>(j);
    for (int64_t i = 0; i < n; i++) {
        pr.w.push_back(rng.unif() < 0.05 ? 0.0 : 2 * rng.unif());
        pr.mask.push_back(rng.unif() < 0.9);
    }
    return pr;
}

// Long double reference of X' diag(w) X and of sum |w x_i x_j|.
void reference(const Problem &pr, bool weighted, bool masked, std::vector<long double> &g,
               std::vector<long double> &scale)
{
    size_t p = static_cast<size_t>(pr.p);
    g.assign(p * p, 0);
    scale.assign(p * p, 0);
    for (int64_t r = 0; r < pr.n; r++) {
        long double w = weighted ? pr.w[static_cast<size_t>(r)] : 1;
        if ((masked && !pr.mask[static_cast<size_t>(r)]) || w == 0)
            continue;
        for (size_t j = 0; j < p; j++)
            for (size_t i = 0; i < p; i++) {
                long double t = w * pr.x[static_cast<size_t>(r) + i * static_cast<size_t>(pr.ldx)] *
                                pr.x[static_cast<size_t>(r) + j * static_cast<size_t>(pr.ldx)];
                g[i + j * p] += t;
                scale[i + j * p] += std::fabs(t);
            }
    }
}

::testing::AssertionResult within(const std::vector<double> &got, const std::vector<long double> &g,
                                  const std::vector<long double> &scale, double tol)
{
    for (size_t k = 0; k < got.size(); k++) {
        long double err = std::fabs(static_cast<long double>(got[k]) - g[k]);
        if (!(err <= tol * scale[k] + 1e-300))
            return ::testing::AssertionFailure()
                   << "entry " << k << ": " << got[k] << " vs " << static_cast<double>(g[k])
                   << " (error " << static_cast<double>(err / (scale[k] + 1e-300))
                   << " of sum |terms|)";
    }
    return ::testing::AssertionSuccess();
}

std::vector<double> gram(struct sl_backend *b, const Problem &pr, bool weighted, bool masked,
                         double init = 0)
{
    std::vector<double> g(static_cast<size_t>(pr.p * pr.p), init);
    auto xc = sltest::columns(pr.x.data(), pr.ldx, pr.p);
    struct sl_gram_args a = {pr.n,
                             pr.p,
                             pr.p > 0 ? xc.data() : nullptr,
                             weighted ? pr.w.data() : nullptr,
                             masked ? pr.mask.data() : nullptr,
                             g.data()};
    EXPECT_TRUE(sltest::run(b, SL_OP_GRAM, &a));
    return g;
}

class Gram : public BackendTest {};

TEST_P(Gram, MatchesLongDoubleReference)
{
    const double tol = 1e-12;
    std::vector<int64_t> sizes = sltest::awkward_sizes();
    sizes.push_back(65549);
    for (int64_t p : {1, 3, 4, 5, 32, 33}) {
        for (int64_t n : sizes) {
            if (p == 33 && n > 20000)
                continue;  // keep the long double reference quick
            Problem pr = make(n, p, static_cast<uint64_t>(n * 100 + p), n % 3);
            for (int mode = 0; mode < 3; mode++) {
                bool weighted = mode >= 1, masked = mode == 2;
                std::vector<long double> g, scale;
                reference(pr, weighted, masked, g, scale);
                EXPECT_TRUE(within(gram(be_, pr, weighted, masked), g, scale, tol))
                    << GetParam() << " n " << n << " p " << p << " mode " << mode;
                EXPECT_TRUE(within(gram(ref_, pr, weighted, masked), g, scale, tol))
                    << "cpu_ref n " << n << " p " << p << " mode " << mode;
            }
        }
    }
}

TEST_P(Gram, SymmetricAndAccumulated)
{
    Problem pr = make(5003, 6, 1);
    std::vector<double> once = gram(be_, pr, true, true), twice(once.size());
    for (size_t j = 0; j < 6; j++)
        for (size_t i = 0; i < 6; i++)
            EXPECT_EQ(once[i + 6 * j], once[j + 6 * i]);
    // g += G: starting from 1.0 adds exactly the same partial
    std::vector<double> from_one = gram(be_, pr, true, true, 1.0);
    for (size_t k = 0; k < once.size(); k++)
        EXPECT_EQ(from_one[k], 1.0 + once[k]);
}

TEST_P(Gram, LeftOutRowsDoNotPropagateNaN)
{
    Problem pr = make(3000, 5, 2);
    for (int64_t j = 0; j < 5; j++) {
        pr.x[static_cast<size_t>(17 + j * pr.ldx)] = NAN;  // masked out
        pr.x[static_cast<size_t>(18 + j * pr.ldx)] = NAN;  // weight 0
    }
    pr.mask[17] = 0;
    pr.mask[18] = 1;
    pr.w[18] = 0;
    for (double v : gram(be_, pr, true, true))
        EXPECT_FALSE(std::isnan(v));
}

TEST_P(Gram, BadWeightFailsAndLeavesGAlone)
{
    Problem pr = make(40000, 3, 3);
    pr.w[33333] = -1;
    pr.w[39000] = NAN;
    pr.mask[33333] = 1;
    pr.mask[39000] = 1;
    std::vector<double> g(9, 4.0);
    auto xc = sltest::columns(pr.x.data(), pr.ldx, 3);
    struct sl_gram_args a = {pr.n, 3, xc.data(), pr.w.data(), pr.mask.data(), g.data()};
    EXPECT_EQ(sl_kernel_run(be_, SL_OP_GRAM, &a), SL_ERR_ARG);
    EXPECT_NE(std::string(sl_error_message()).find("row 33333"), std::string::npos)
        << sl_error_message();
    EXPECT_EQ(g, std::vector<double>(9, 4.0));
    pr.w[33333] = 1;  // the NaN weight alone is reported too
    EXPECT_EQ(sl_kernel_run(be_, SL_OP_GRAM, &a), SL_ERR_ARG);
    EXPECT_NE(std::string(sl_error_message()).find("row 39000"), std::string::npos);
}

TEST_P(Gram, WeightsOfLeftOutRowsAreNotChecked)
{
    Problem pr = make(40000, 3, 4);
    pr.w[100] = -1;
    pr.w[20000] = NAN;
    pr.w[30000] = INFINITY;
    pr.mask[100] = pr.mask[20000] = pr.mask[30000] = 0;
    std::vector<double> g(9, 0.0);
    auto xc = sltest::columns(pr.x.data(), pr.ldx, 3);
    struct sl_gram_args a = {pr.n, 3, xc.data(), pr.w.data(), pr.mask.data(), g.data()};
    EXPECT_EQ(sl_kernel_run(be_, SL_OP_GRAM, &a), SL_OK) << sl_error_message();
    for (double v : g)
        EXPECT_TRUE(std::isfinite(v));
    // without a mask every row is kept, so the same weights fail
    a.mask = nullptr;
    EXPECT_EQ(sl_kernel_run(be_, SL_OP_GRAM, &a), SL_ERR_ARG);
    EXPECT_NE(std::string(sl_error_message()).find("row 100"), std::string::npos)
        << sl_error_message();
    pr.w[100] = pr.w[20000] = 1;  // an infinite weight alone is refused too
    EXPECT_EQ(sl_kernel_run(be_, SL_OP_GRAM, &a), SL_ERR_ARG);
    EXPECT_NE(std::string(sl_error_message()).find("row 30000"), std::string::npos);
}

TEST_P(Gram, BitIdenticalAcrossRunsAndThreads)
{
    Problem pr = make(100003, 21, 8);
    std::vector<double> a1, a2, t1;
    {
        sltest::Threads t(2);
        a1 = gram(be_, pr, true, true);
        a2 = gram(be_, pr, true, true);
    }
    {
        sltest::Threads t(1);
        t1 = gram(be_, pr, true, true);
    }
    EXPECT_TRUE(sltest::same_bits(a1.data(), a2.data(), a1.size()));
    EXPECT_TRUE(sltest::same_bits(a1.data(), t1.data(), a1.size()));
}

INSTANTIATE_TEST_SUITE_P(Backends, Gram, ::testing::ValuesIn(sltest::backends_under_test()));

// The CPU backend's tile kernels must agree to the last bit.
TEST(GramTiles, EveryInstructionSetGivesTheSameBits)
{
    struct sl_backend *cpu = sltest::backend("cpu");
    ASSERT_NE(cpu, nullptr);
    enum sl_cpu_isa best = sl_cpu_isa_best();
    for (int64_t p : {1, 5, 8, 13}) {
        Problem pr = make(9001, p, static_cast<uint64_t>(p));
        std::vector<double> want;
        int tried = 0;
        for (enum sl_cpu_isa isa : {SL_CPU_ISA_GENERIC, SL_CPU_ISA_AVX2, SL_CPU_ISA_AVX512}) {
            if (sl_cpu_isa_select(isa) != SL_OK)
                continue;
            std::vector<double> got = gram(cpu, pr, true, true);
            if (want.empty())
                want = got;
            EXPECT_TRUE(sltest::same_bits(got.data(), want.data(), got.size()))
                << sl_cpu_isa_name(isa) << " p " << p;
            tried++;
        }
        EXPECT_GE(tried, 1);
    }
    ASSERT_EQ(sl_cpu_isa_select(best), SL_OK);
}

}  // namespace
