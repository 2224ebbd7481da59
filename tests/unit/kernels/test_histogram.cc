// Histograms (SL_OP_HISTOGRAM): the bin rule at every edge, exact agreement
// with cpu_ref, per-cell layout and accumulation.
#include "kernel_test.hh"

#include <limits>

using sltest::BackendTest;
using sltest::Rng;

namespace {

class Histogram : public BackendTest {};

TEST_P(Histogram, BinRuleAtEdges)
{
    // bins [0,1) [1,2.5) [2.5,4]; the last bin is closed
    const double edges[] = {0, 1, 2.5, 4};
    const double inf = std::numeric_limits<double>::infinity();
    const double v[] = {0,   0.999, 1,    2.4999, 2.5, 3.9999, 4,   4.0000001,
                        -0., -1e-300, -inf, inf,    NAN, 1.7,    100, std::nextafter(0.0, -1.0)};
    const int64_t n = sizeof v / sizeof v[0];
    std::vector<int64_t> counts(3, 0), below(1, 0), above(1, 0), missing(1, 0);
    struct sl_histogram_args a = {n,     v,          nullptr,      nullptr,       1, edges, 4,
                                  counts.data(), below.data(), above.data(), missing.data()};
    ASSERT_TRUE(sltest::run(be_, SL_OP_HISTOGRAM, &a));
    // bin 0: 0, 0.999, -0.0 ; bin 1: 1, 2.4999, 1.7 ; bin 2: 2.5, 3.9999, 4
    EXPECT_EQ(counts, (std::vector<int64_t>{3, 3, 3}));
    EXPECT_EQ(below[0], 3);  // -1e-300, -inf, the double just below 0
    EXPECT_EQ(above[0], 3);  // 4.0000001, inf, 100
    EXPECT_EQ(missing[0], 1);
}

TEST_P(Histogram, MatchesReferenceExactly)
{
    for (int64_t nedges : {2, 3, 17, 64}) {
        for (int uneven = 0; uneven < 2; uneven++) {
            // evenly spaced edges (the kernel's guess lands) and quadratic ones
            // (the guess misses and a search takes over)
            std::vector<double> edges;
            for (int64_t i = 0; i < nedges; i++) {
                double t = static_cast<double>(i) / static_cast<double>(nedges - 1);
                edges.push_back(-3.0 + 6.0 * (uneven ? t * t : t));
            }
            for (int64_t n : sltest::awkward_sizes()) {
                const int64_t ncells = 4, nbins = nedges - 1;
                Rng rng(static_cast<uint64_t>(n * 31 + nedges));
                std::vector<double> v;
                std::vector<int32_t> cell;
                std::vector<uint8_t> mask;
                for (int64_t i = 0; i < n; i++) {
                    double x = rng.unif() < 0.1 ? edges[static_cast<size_t>(rng.below(nedges))]
                                                : 1.2 * rng.normal();
                    v.push_back(rng.unif() < 0.01 ? NAN : x);
                    cell.push_back(static_cast<int32_t>(rng.below(ncells + 1)) - 1);
                    mask.push_back(rng.unif() < 0.95);
                }
                std::vector<int64_t> gc(static_cast<size_t>(ncells * nbins), 2), gb(4, 1), ga(4, 0),
                    gm(4, 0);
                std::vector<int64_t> wc = gc, wb = gb, wa = ga, wm = gm;
                struct sl_histogram_args a = {n, v.data(), cell.data(), mask.data(), ncells,
                                              edges.data(), nedges, gc.data(), gb.data(), ga.data(),
                                              gm.data()};
                struct sl_histogram_args r = {n, v.data(), cell.data(), mask.data(), ncells,
                                              edges.data(), nedges, wc.data(), wb.data(), wa.data(),
                                              wm.data()};
                ASSERT_TRUE(sltest::run(be_, SL_OP_HISTOGRAM, &a));
                ASSERT_TRUE(sltest::run(ref_, SL_OP_HISTOGRAM, &r));
                EXPECT_EQ(gc, wc) << "n " << n << " nedges " << nedges << " uneven " << uneven;
                EXPECT_EQ(gb, wb);
                EXPECT_EQ(ga, wa);
                EXPECT_EQ(gm, wm);
            }
        }
    }
}

TEST_P(Histogram, CellsAndOptionalOutputs)
{
    const double edges[] = {0, 10, 20};
    const double v[] = {5, 15, 25, 5, -1, 5};
    const int32_t cell[] = {0, 0, 0, 1, 1, -1};
    std::vector<int64_t> counts(4, 0);
    struct sl_histogram_args a = {6,       v,       cell,    nullptr, 2, edges, 3, counts.data(),
                                  nullptr, nullptr, nullptr};
    ASSERT_TRUE(sltest::run(be_, SL_OP_HISTOGRAM, &a));
    ASSERT_TRUE(sltest::run(be_, SL_OP_HISTOGRAM, &a));  // accumulates
    EXPECT_EQ(counts, (std::vector<int64_t>{2, 2, 2, 0}));
}

TEST_P(Histogram, BadCellFailsAndLeavesCountsAlone)
{
    const double edges[] = {0, 1};
    std::vector<double> v(20000, 0.5);
    std::vector<int32_t> cell(20000, 0);
    cell[19999] = 1;
    std::vector<int64_t> counts(1, 7);
    struct sl_histogram_args a = {20000, v.data(), cell.data(), nullptr, 1,      edges, 2,
                                  counts.data(), nullptr, nullptr,  nullptr};
    EXPECT_EQ(sl_kernel_run(be_, SL_OP_HISTOGRAM, &a), SL_ERR_ARG);
    EXPECT_NE(std::string(sl_error_message()).find("row 19999"), std::string::npos);
    EXPECT_EQ(counts[0], 7);
}

INSTANTIATE_TEST_SUITE_P(Backends, Histogram, ::testing::ValuesIn(sltest::backends_under_test()));

}  // namespace
