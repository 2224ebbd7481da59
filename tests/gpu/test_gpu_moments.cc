// GPU grouped moments (SL_OP_GROUP_MOMENTS) against cpu_ref: counts exactly
// equal; sum, mean and m2 within the tolerance below; NaN as missing, +-inf
// and huge values giving the same non-finite results; a single cell (no
// sort), several cells (sorted path), thousands of tiny cells; folding into
// non-empty outputs; stability for large offsets; bit-identical results
// across runs, staging sizes (chunkings) and residency.
#include "gpu_test.hh"

using gputest::Gpu;
using sltest::Rng;

namespace {

// Tolerance, relative to the natural scale of each quantity (sum |x| for the
// sum, sum |x| / n for the mean, m2 itself for m2). cpu_ref sums each cell
// sequentially: its rounding error is below n eps sum|x| (5.8e-11 at the
// largest size here, 2.6e5 rows) and in practice near sqrt(n) eps sum|x|
// (1e-13); the GPU sums 16 rows per thread, then a 256-way tree, then the
// 4096-row pieces in order, whose error is smaller still. 1e-11 is a hundred
// times the practical error of either and far below the effect of one
// wrong, lost or doubled row (about 1/n of the sum).
constexpr double kTol = 1e-11;

::testing::AssertionResult close(double got, double want, double scale)
{
    if (std::isnan(want) ? std::isnan(got)
                         : (std::isinf(want) ? got == want
                                             : std::fabs(got - want) <= kTol * scale))
        return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << got << " vs " << want << " (scale " << scale << ")";
}

void expect_close(const std::vector<sl_moments> &got, const std::vector<sl_moments> &want,
                  const gputest::Rows &d, const int32_t *cell, const uint8_t *mask)
{
    std::vector<double> abs_sum(got.size(), 0);
    for (size_t i = 0; i < d.v.size(); i++) {
        if ((mask && !mask[i]) || (cell && cell[i] < 0) || std::isnan(d.v[i]))
            continue;
        abs_sum[cell ? static_cast<size_t>(cell[i]) : 0] += std::fabs(d.v[i]);
    }
    for (size_t c = 0; c < got.size(); c++) {
        const sl_moments &g = got[c], &w = want[c];
        SCOPED_TRACE(::testing::Message() << "cell " << c);
        EXPECT_EQ(g.n_present, w.n_present);
        EXPECT_EQ(g.n_missing, w.n_missing);
        if (w.n_present == 0)
            continue;
        EXPECT_TRUE(close(g.sum, w.sum, abs_sum[c]));
        EXPECT_TRUE(close(g.mean, w.mean, abs_sum[c] / static_cast<double>(w.n_present)));
        EXPECT_TRUE(close(g.m2, w.m2, w.m2));
    }
}

TEST_F(Gpu, MomentsMatchReference)
{
    for (int64_t ncells : {1, 2, 16, 3000}) {
        for (int64_t n : gputest::sizes()) {
            for (bool wild : {false, true}) {
                gputest::Rows d = gputest::make_rows(
                    n, ncells, static_cast<uint64_t>(n * 11 + ncells * 2 + wild), wild);
                for (int mode = 0; mode < 4; mode++) {
                    const int32_t *cell = mode & 1 ? d.cell.data() : nullptr;
                    const uint8_t *mask = mode & 2 ? d.mask.data() : nullptr;
                    std::vector<sl_moments> got(static_cast<size_t>(ncells)), want(got);
                    struct sl_group_moments_args a = {n, d.v.data(), cell, mask, ncells,
                                                      got.data()};
                    struct sl_group_moments_args r = a;
                    r.out = want.data();
                    ASSERT_TRUE(on_gpu(SL_OP_GROUP_MOMENTS, &a));
                    ASSERT_TRUE(sltest::run(ref_, SL_OP_GROUP_MOMENTS, &r));
                    SCOPED_TRACE(::testing::Message() << "n " << n << " ncells " << ncells
                                                      << " mode " << mode << " wild " << wild);
                    expect_close(got, want, d, cell, mask);
                }
            }
        }
    }
}

TEST_F(Gpu, MomentsKnownValuesAndFolding)
{
    // 2 4 4 4 5 5 7 9: mean 5, sum of squared deviations 32; NaN is missing
    const double v[] = {2, 4, NAN, 4, 4, 5, 5, 7, 9, 100};
    const uint8_t mask[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
    sl_moments m = {};
    struct sl_group_moments_args a = {10, v, nullptr, mask, 1, &m};
    ASSERT_TRUE(on_gpu(SL_OP_GROUP_MOMENTS, &a));
    EXPECT_EQ(m.n_present, 8);
    EXPECT_EQ(m.n_missing, 1);
    EXPECT_EQ(m.sum, 40.0);
    EXPECT_EQ(m.mean, 5.0);
    EXPECT_EQ(m.m2, 32.0);
    // folded into a non-empty summary by sl_moments_combine, as cpu_ref does
    sl_moments ref = m;
    ASSERT_TRUE(on_gpu(SL_OP_GROUP_MOMENTS, &a));
    a.out = &ref;
    ASSERT_TRUE(sltest::run(ref_, SL_OP_GROUP_MOMENTS, &a));
    EXPECT_EQ(std::memcmp(&m, &ref, sizeof m), 0);
    EXPECT_EQ(m.n_present, 16);
    EXPECT_EQ(m.m2, 64.0);
}

TEST_F(Gpu, MomentsStableForLargeOffsets)
{
    const int64_t n = 50000;
    Rng rng(9);
    std::vector<double> v(n);
    long double mean = 0, m2 = 0;
    for (auto &x : v)
        x = 1e9 + rng.unif();
    for (double x : v)
        mean += x;
    mean /= n;
    for (double x : v)
        m2 += (x - mean) * (x - mean);
    sl_moments m = {};
    struct sl_group_moments_args a = {n, v.data(), nullptr, nullptr, 1, &m};
    ASSERT_TRUE(on_gpu(SL_OP_GROUP_MOMENTS, &a));
    // two passes per piece keep the variance: a one-pass sum of squares loses every digit
    EXPECT_NEAR(m.m2, static_cast<double>(m2), 1e-6 * static_cast<double>(m2));
    EXPECT_NEAR(m.mean, static_cast<double>(mean), 1e-13 * 1e9);
}

TEST_F(Gpu, MomentsBitIdenticalAcrossRunsChunkingsAndResidency)
{
    const int64_t n = gputest::big(400003);
    gputest::Rows d = gputest::make_rows(n, 6, 77, false);
    auto once = [&](int64_t ncells, const int32_t *cell) {
        std::vector<sl_moments> out(static_cast<size_t>(ncells));
        struct sl_group_moments_args a = {n, d.v.data(), cell, d.mask.data(), ncells, out.data()};
        EXPECT_TRUE(on_gpu(SL_OP_GROUP_MOMENTS, &a));
        return out;
    };
    for (int64_t ncells : {1, 6}) {
        const int32_t *cell = ncells > 1 ? d.cell.data() : nullptr;
        std::vector<sl_moments> first = once(ncells, cell), again = once(ncells, cell);
        size_t old = sl_gpu_set_stage_bytes(1 << 20);  // many chunks
        std::vector<sl_moments> small = once(ncells, cell);
        sl_gpu_set_stage_bytes(old);
        ASSERT_EQ(sl_backend_keep(gpu_, d.v.data(), d.v.size() * sizeof(double)), SL_OK);
        std::vector<sl_moments> kept = once(ncells, cell);
        sl_backend_forget(gpu_, d.v.data());
        for (const auto *o : {&again, &small, &kept})
            EXPECT_EQ(std::memcmp(first.data(), o->data(), first.size() * sizeof(sl_moments)), 0)
                << "ncells " << ncells;
    }
}

TEST_F(Gpu, MomentsBadCellFailsAndLeavesOutputAlone)
{
    gputest::Rows d = gputest::make_rows(100000, 3, 4, false);
    d.cell[77777] = 3;
    d.mask[77777] = 1;
    std::vector<sl_moments> out(3);
    out[1].n_present = 2;
    out[1].mean = 7;
    std::vector<sl_moments> before = out;
    struct sl_group_moments_args a = {100000, d.v.data(), d.cell.data(), d.mask.data(), 3,
                                      out.data()};
    EXPECT_EQ(sl_kernel_run(gpu_, SL_OP_GROUP_MOMENTS, &a), SL_ERR_ARG);
    EXPECT_NE(std::string(sl_error_message()).find("row 77777"), std::string::npos)
        << sl_error_message();
    EXPECT_EQ(std::memcmp(out.data(), before.data(), sizeof(sl_moments) * 3), 0);
}

}  // namespace
