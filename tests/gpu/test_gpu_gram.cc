// GPU weighted Gram (SL_OP_GRAM) against cpu_ref within the tolerance below,
// on both paths (the tile kernel up to 64 columns, cuBLAS dsyrk beyond), with
// weights, mask, leading dimensions above n and NaN in rows left out;
// accumulation g += G; bad weights; bit-identical results across runs,
// staging sizes (chunkings) and residency (sl_backend_keep).
#include "gpu_test.hh"

using gputest::Gpu;
using sltest::Rng;

namespace {

// Tolerance relative to sum_r |w_r x_ri x_rj|, the scale of the rounding
// error of entry (i, j). cpu_ref sums the rows in order (error below n eps
// of that scale, about sqrt(n) eps in practice); the tile kernel sums at most
// 4096 rows per thread group with fused multiply-adds, then the groups and
// the 4096-row segments in a fixed tree; cuBLAS blocks its own way. 1e-11 is
// far above what either does in practice (1e-13) and far below the effect of
// one wrong row.
constexpr double kTol = 1e-11;

struct Problem {
    int64_t n, p, ldx;
    std::vector<double> x, w;
    std::vector<uint8_t> mask;
};

// poison: 0 none, 1 NaN in rows of weight 0, 2 also in rows the mask drops
// (rows that must be left out before any arithmetic in modes 1 and 2 below).
Problem make(int64_t n, int64_t p, uint64_t seed, int64_t pad, int poison = 2)
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
        if ((poison >= 1 && pr.w.back() == 0) || (poison == 2 && !pr.mask.back()))
            for (int64_t j = 0; j < p; j += 3)
                pr.x[static_cast<size_t>(i + j * pr.ldx)] = NAN;  // must not propagate
    }
    return pr;
}

std::vector<double> gram(struct sl_backend *b, const Problem &pr, bool weighted, bool masked,
                         bool *served = nullptr)
{
    std::vector<double> g(static_cast<size_t>(pr.p * pr.p), 0.0);
    auto xc = sltest::columns(pr.x.data(), pr.ldx, pr.p);
    struct sl_gram_args a = {pr.n,
                             pr.p,
                             xc.data(),
                             weighted ? pr.w.data() : nullptr,
                             masked ? pr.mask.data() : nullptr,
                             g.data()};
    int64_t before = sl_gpu_calls_served();
    EXPECT_TRUE(sltest::run(b, SL_OP_GRAM, &a));
    if (served)
        *served = sl_gpu_calls_served() == before + 1;
    return g;
}

std::vector<double> scale(const Problem &pr, bool weighted, bool masked)
{
    size_t p = static_cast<size_t>(pr.p);
    std::vector<double> s(p * p, 0.0);
    for (int64_t r = 0; r < pr.n; r++) {
        double w = weighted ? pr.w[static_cast<size_t>(r)] : 1;
        if ((masked && !pr.mask[static_cast<size_t>(r)]) || w == 0)
            continue;
        for (size_t j = 0; j < p; j++)
            for (size_t i = 0; i < p; i++)
                s[i + j * p] += std::fabs(w * pr.x[static_cast<size_t>(r) + i * static_cast<size_t>(pr.ldx)] *
                                          pr.x[static_cast<size_t>(r) + j * static_cast<size_t>(pr.ldx)]);
    }
    return s;
}

TEST_F(Gpu, GramMatchesReference)
{
    for (int64_t p : {1, 3, 4, 5, 21, 32, 33, 63, 64, 65, 130}) {
        for (int64_t n : gputest::sizes()) {
            if (p >= 63 && n > 20000)
                continue;  // keep cpu_ref quick
            for (int mode = 0; mode < 3; mode++) {
                Problem pr = make(n, p, static_cast<uint64_t>(n * 131 + p), n % 3, mode);
                bool weighted = mode >= 1, masked = mode == 2, served = false;
                std::vector<double> got = gram(gpu_, pr, weighted, masked, &served);
                std::vector<double> want = gram(ref_, pr, weighted, masked);
                std::vector<double> s = scale(pr, weighted, masked);
                EXPECT_TRUE(served) << "the gpu backend declined p " << p;
                for (size_t k = 0; k < got.size(); k++) {
                    ASSERT_FALSE(std::isnan(got[k])) << "p " << p << " n " << n << " entry " << k;
                    ASSERT_LE(std::fabs(got[k] - want[k]), kTol * s[k] + 1e-300)
                        << "p " << p << " n " << n << " mode " << mode << " entry " << k;
                }
                for (int64_t j = 0; j < p; j++)
                    for (int64_t i = 0; i < j; i++)
                        ASSERT_EQ(got[static_cast<size_t>(i + j * p)],
                                  got[static_cast<size_t>(j + i * p)]);
            }
        }
    }
}

TEST_F(Gpu, GramAccumulatesAndPropagatesNaNOfKeptRows)
{
    for (int64_t p : {6, 70}) {
        Problem pr = make(20011, p, 3, 0);
        std::vector<double> once = gram(gpu_, pr, true, true);
        std::vector<double> g(once.size(), 1.0);
        auto xc = sltest::columns(pr.x.data(), pr.ldx, p);
        struct sl_gram_args a = {pr.n, p, xc.data(), pr.w.data(), pr.mask.data(), g.data()};
        ASSERT_TRUE(on_gpu(SL_OP_GRAM, &a));
        for (size_t k = 0; k < g.size(); k++)
            EXPECT_EQ(g[k], 1.0 + once[k]);  // g += G, G computed the same way
        // a NaN in a kept row reaches exactly the entries of its column
        pr.mask[500] = 1;
        pr.w[500] = 1;
        for (int64_t j = 0; j < p; j++)
            pr.x[static_cast<size_t>(500 + j * pr.ldx)] = j == 2 ? NAN : 1.0;
        std::vector<double> nan = gram(gpu_, pr, true, true);
        for (int64_t j = 0; j < p; j++)
            for (int64_t i = 0; i < p; i++)
                EXPECT_EQ(std::isnan(nan[static_cast<size_t>(i + j * p)]), i == 2 || j == 2);
    }
}

TEST_F(Gpu, GramBadWeightFailsAndLeavesGAlone)
{
    for (int64_t p : {3, 80}) {
        Problem pr = make(140000, p, 5, 0);
        pr.w[133333] = -1;
        pr.w[139000] = NAN;
        pr.mask[133333] = 1;
        pr.mask[139000] = 1;
        pr.w[7] = -5;  // masked out: fine
        pr.mask[7] = 0;
        std::vector<double> g(static_cast<size_t>(p * p), 4.0);
        auto xc = sltest::columns(pr.x.data(), pr.ldx, p);
        struct sl_gram_args a = {pr.n, p, xc.data(), pr.w.data(), pr.mask.data(), g.data()};
        EXPECT_EQ(sl_kernel_run(gpu_, SL_OP_GRAM, &a), SL_ERR_ARG);
        EXPECT_NE(std::string(sl_error_message()).find("row 133333"), std::string::npos)
            << sl_error_message();
        EXPECT_EQ(g, std::vector<double>(static_cast<size_t>(p * p), 4.0));
    }
}

TEST_F(Gpu, GramBitIdenticalAcrossRunsChunkingsAndResidency)
{
    for (int64_t p : {20, 32, 66}) {
        Problem pr = make(gputest::big(p > 64 ? 150001 : 300007), p, 12, 5);
        std::vector<double> first = gram(gpu_, pr, true, true);
        std::vector<double> again = gram(gpu_, pr, true, true);
        size_t old = sl_gpu_set_stage_bytes(1 << 20);
        std::vector<double> small = gram(gpu_, pr, true, true);
        sl_gpu_set_stage_bytes(old);
        ASSERT_EQ(sl_backend_keep(gpu_, pr.x.data(), pr.x.size() * sizeof(double)), SL_OK);
        std::vector<double> kept = gram(gpu_, pr, true, true);
        sl_backend_forget(gpu_, pr.x.data());
        std::vector<double> after = gram(gpu_, pr, true, true);
        for (const auto *o : {&again, &small, &kept, &after})
            EXPECT_TRUE(sltest::same_bits(first.data(), o->data(), first.size())) << "p " << p;
    }
}

}  // namespace

// Columns given as scattered pointers (the GLM job passes decrypted cohort
// columns in place) are copied one by one; the result is the same bits as
// the same columns in one matrix, on both paths.
TEST_F(Gpu, GramFromScatteredColumnsMatchesOneMatrix)
{
    for (int64_t p : {5, 70}) {
        Problem pr = make(90001, p, 17, 0);
        std::vector<std::vector<double>> own(static_cast<size_t>(p));
        std::vector<const double *> xc;
        for (int64_t j = p - 1; j >= 0; j--) {  // allocated in reverse: not equally spaced
            auto &c = own[static_cast<size_t>(j)];
            c.assign(pr.x.begin() + j * pr.ldx, pr.x.begin() + j * pr.ldx + pr.n);
        }
        for (int64_t j = 0; j < p; j++)
            xc.push_back(own[static_cast<size_t>(j)].data());
        std::vector<double> g(static_cast<size_t>(p * p), 0.0);
        struct sl_gram_args a = {pr.n, p, xc.data(), pr.w.data(), pr.mask.data(), g.data()};
        ASSERT_TRUE(on_gpu(SL_OP_GRAM, &a));
        EXPECT_EQ(g, gram(gpu_, pr, true, true)) << "p " << p;
    }
}
