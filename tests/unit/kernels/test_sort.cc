// Grouped sort (SL_OP_SORT_F64) and R's type 7 quantile:
// bit-exact agreement with cpu_ref (IEEE total order, -0 before +0), the
// cell layout, and quantiles checked against values R gives.
#include "kernel_test.hh"

#include <algorithm>
#include <limits>

using sltest::BackendTest;
using sltest::Rng;

namespace {

class SortF64 : public BackendTest {};

TEST_P(SortF64, MatchesReferenceBitForBit)
{
    const double inf = std::numeric_limits<double>::infinity();
    const double specials[] = {0.0,  -0.0,  inf,    -inf, 5e-324, -5e-324,
                               1e308, -1e308, 1.0, 1.0,  NAN,    -2.5};
    std::vector<int64_t> sizes = sltest::awkward_sizes();
    sizes.push_back(63);
    sizes.push_back(64);
    sizes.push_back(65);
    sizes.push_back(300007); // runs long enough for the all-threads radix sort
    for (int64_t ncells : {1, 3}) {
        for (int64_t n : sizes) {
            Rng rng(static_cast<uint64_t>(n + 7 * ncells));
            std::vector<double> v;
            std::vector<int32_t> cell;
            std::vector<uint8_t> mask;
            for (int64_t i = 0; i < n; i++) {
                double x = rng.unif() < 0.2 ? specials[rng.below(12)]
                           : rng.unif() < 0.3 ? std::round(rng.normal() * 4)  // ties
                                              : rng.normal() * 1e3;
                v.push_back(x);
                cell.push_back(static_cast<int32_t>(rng.below(ncells + 1)) - 1);
                mask.push_back(rng.unif() < 0.9);
            }
            std::vector<double> got(static_cast<size_t>(n) + 1, 9.0), want(got);
            std::vector<int64_t> gs(static_cast<size_t>(ncells) + 1), ws(gs), gm(3, 5), wm(3, 5);
            struct sl_sort_f64_args a = {n, v.data(), cell.data(), mask.data(), ncells,
                                         got.data(), gs.data(), gm.data()};
            struct sl_sort_f64_args r = {n, v.data(), cell.data(), mask.data(), ncells,
                                         want.data(), ws.data(), wm.data()};
            ASSERT_TRUE(sltest::run(be_, SL_OP_SORT_F64, &a));
            ASSERT_TRUE(sltest::run(ref_, SL_OP_SORT_F64, &r));
            EXPECT_EQ(gs, ws);
            EXPECT_EQ(gm, wm);
            EXPECT_TRUE(sltest::same_bits(got.data(), want.data(), static_cast<size_t>(n)))
                << "n " << n << " ncells " << ncells;
            for (int64_t c = 0; c < ncells; c++)
                for (int64_t i = gs[static_cast<size_t>(c)] + 1; i < gs[static_cast<size_t>(c) + 1];
                     i++) {
                    double lo = got[static_cast<size_t>(i - 1)], hi = got[static_cast<size_t>(i)];
                    EXPECT_TRUE(lo < hi || (lo == hi && (std::signbit(lo) || !std::signbit(hi))))
                        << "not in total order at " << i;
                }
        }
    }
}

TEST_P(SortF64, CellsMissingAndMask)
{
    const double v[] = {3, -0.0, NAN, 1, 0.0, 2, NAN, -1};
    const int32_t cell[] = {1, 0, 0, 1, 0, -1, 1, 1};
    const uint8_t mask[] = {1, 1, 1, 1, 1, 1, 1, 0};
    double sorted[8];
    int64_t start[3], missing[2];
    struct sl_sort_f64_args a = {8, v, cell, mask, 2, sorted, start, missing};
    ASSERT_TRUE(sltest::run(be_, SL_OP_SORT_F64, &a));
    EXPECT_EQ(start[0], 0);
    EXPECT_EQ(start[1], 2);
    EXPECT_EQ(start[2], 4);
    EXPECT_TRUE(std::signbit(sorted[0]));  // -0 before +0
    EXPECT_EQ(sorted[1], 0.0);
    EXPECT_FALSE(std::signbit(sorted[1]));
    EXPECT_EQ(sorted[2], 1.0);
    EXPECT_EQ(sorted[3], 3.0);
    EXPECT_EQ(missing[0], 1);
    EXPECT_EQ(missing[1], 1);
}

TEST_P(SortF64, SameBitsForAnyThreadCount)
{
    // one long run (the all-threads radix sort) and a narrow range of
    // positive values, whose high key bits all agree (skipped digits)
    const int64_t n = 200003;
    Rng rng(11);
    std::vector<double> v;
    for (int64_t i = 0; i < n; i++)
        v.push_back(i % 3 ? 15 + 30 * rng.unif() : std::round(rng.unif() * 50));
    std::vector<std::vector<double>> out;
    for (int threads : {1, 2, 3}) {
        sltest::Threads t(threads);
        std::vector<double> got(static_cast<size_t>(n));
        int64_t start[2];
        struct sl_sort_f64_args a = {n, v.data(), nullptr, nullptr, 1, got.data(), start, nullptr};
        ASSERT_TRUE(sltest::run(be_, SL_OP_SORT_F64, &a));
        EXPECT_EQ(start[1], n);
        EXPECT_TRUE(std::is_sorted(got.begin(), got.end()));
        out.push_back(got);
    }
    EXPECT_TRUE(sltest::same_bits(out[0].data(), out[1].data(), static_cast<size_t>(n)));
    EXPECT_TRUE(sltest::same_bits(out[0].data(), out[2].data(), static_cast<size_t>(n)));
}

INSTANTIATE_TEST_SUITE_P(Backends, SortF64, ::testing::ValuesIn(sltest::backends_under_test()));

double q7(const std::vector<double> &x, double p)
{
    double out = -1;
    EXPECT_EQ(sl_quantile_type7(x.data(), static_cast<int64_t>(x.size()), p, &out), SL_OK);
    return out;
}

TEST(QuantileType7, UntiedDataAsR)
{
    // R: quantile(c(1, 2, 3, 4, 5), c(0, .1, .25, .5, .9, 1), type = 7)
    //    -> 1.0 1.4 2.0 3.0 4.6 5.0
    std::vector<double> x = {1, 2, 3, 4, 5};
    EXPECT_EQ(q7(x, 0), 1.0);
    EXPECT_NEAR(q7(x, 0.1), 1.4, 1e-15);
    EXPECT_EQ(q7(x, 0.25), 2.0);
    EXPECT_EQ(q7(x, 0.5), 3.0);
    EXPECT_NEAR(q7(x, 0.9), 4.6, 1e-15);
    EXPECT_EQ(q7(x, 1), 5.0);
    // R: quantile(c(-3.5, 0, 0.25, 7, 11, 11, 20), c(.33, .8), type = 7) -> 0.245 11.000
    std::vector<double> y = {-3.5, 0, 0.25, 7, 11, 11, 20};
    EXPECT_NEAR(q7(y, 0.33), 0.245, 1e-15);
    EXPECT_EQ(q7(y, 0.8), 11.0);
    // R: quantile(c(10, 20), 1/3, type = 7) -> 13.33333
    EXPECT_NEAR(q7({10, 20}, 1.0 / 3), 40.0 / 3, 1e-14);
}

TEST(QuantileType7, TiedDataAsR)
{
    // R: quantile(c(1, 1, 2, 2, 2, 10), c(.1, .25, .5, .75, .9), type = 7)
    //    -> 1.00 1.25 2.00 2.00 6.00
    std::vector<double> x = {1, 1, 2, 2, 2, 10};
    EXPECT_EQ(q7(x, 0.1), 1.0);
    EXPECT_EQ(q7(x, 0.25), 1.25);
    EXPECT_EQ(q7(x, 0.5), 2.0);
    EXPECT_EQ(q7(x, 0.75), 2.0);  // x[hi] == x[lo]: no interpolation at all
    EXPECT_EQ(q7(x, 0.9), 6.0);
    // R: quantile(c(4, 4, 4), .37, type = 7) -> 4
    EXPECT_EQ(q7({4, 4, 4}, 0.37), 4.0);
}

TEST(QuantileType7, EdgeCases)
{
    double out = 0;
    EXPECT_EQ(q7({42}, 0.7), 42.0);  // n = 1
    ASSERT_EQ(sl_quantile_type7(nullptr, 0, 0.5, &out), SL_OK);
    EXPECT_TRUE(std::isnan(out));  // R: NA
    // R accepts probabilities within 100 eps of [0, 1] and clamps them
    EXPECT_EQ(q7({1, 2}, 1 + 1e-15), 2.0);
    EXPECT_EQ(q7({1, 2}, -1e-15), 1.0);
    const double one = 1;
    EXPECT_EQ(sl_quantile_type7(&one, 1, 1.01, &out), SL_ERR_ARG);
    EXPECT_EQ(sl_quantile_type7(&one, 1, NAN, &out), SL_ERR_ARG);
}

}  // namespace
