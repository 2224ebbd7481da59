// GPU grouped counts (SL_OP_GROUP_COUNT) and histograms (SL_OP_HISTOGRAM)
// against cpu_ref: exactly equal, on random and adversarial rows (NaN, +-inf,
// -0/+0, values on the edges), with and without cells and mask, for cell
// counts on both sides of the shared-memory counter limit (8192 keys), tiny
// groups, 0 rows and sizes that are no multiple of any block size; bad cells
// name the first bad row and leave the outputs alone.
#include "gpu_test.hh"

using gputest::Gpu;

namespace {

TEST_F(Gpu, GroupCountEqualsReference)
{
    for (int64_t ncells : {1, 3, 1000, 9001}) {
        for (int64_t n : gputest::sizes()) {
            gputest::Rows d = gputest::make_rows(n, ncells, static_cast<uint64_t>(n * 7 + ncells),
                                                 false);
            for (int mode = 0; mode < 4; mode++) {
                const int32_t *cell = mode & 1 ? d.cell.data() : nullptr;
                const uint8_t *mask = mode & 2 ? d.mask.data() : nullptr;
                std::vector<int64_t> got(static_cast<size_t>(ncells), 5), want(got);
                struct sl_group_count_args a = {n, cell, mask, ncells, got.data()};
                struct sl_group_count_args r = {n, cell, mask, ncells, want.data()};
                ASSERT_TRUE(on_gpu(SL_OP_GROUP_COUNT, &a));
                ASSERT_TRUE(sltest::run(ref_, SL_OP_GROUP_COUNT, &r));
                EXPECT_EQ(got, want) << "n " << n << " ncells " << ncells << " mode " << mode;
            }
        }
    }
}

TEST_F(Gpu, HistogramEqualsReference)
{
    // edges with values landing exactly on them, including the closed last edge
    const std::vector<double> edges = {-3, -1, -0.0, 0.5, 1, 2, 3, 10, 50, 60, 100};
    const int64_t nbins = static_cast<int64_t>(edges.size()) - 1;
    for (int64_t ncells : {1, 4, 600, 1000}) {  // 600 * 13 keys fit shared memory, 1000 * 13 do not
        for (int64_t n : gputest::sizes()) {
            for (bool wild : {false, true}) {
                gputest::Rows d = gputest::make_rows(
                    n, ncells, static_cast<uint64_t>(n * 3 + ncells + wild), wild);
                for (size_t i = 0; i < d.v.size(); i += 97)
                    d.v[i] = edges[i % edges.size()];
                std::vector<int64_t> gc(static_cast<size_t>(ncells * nbins), 1), wc(gc);
                std::vector<int64_t> gb(static_cast<size_t>(ncells), 2), ga(gb), gm(gb);
                std::vector<int64_t> wb(gb), wa(gb), wm(gb);
                struct sl_histogram_args a = {n,         d.v.data(), d.cell.data(), d.mask.data(),
                                              ncells,    edges.data(), nbins + 1,   gc.data(),
                                              gb.data(), ga.data(),  gm.data()};
                struct sl_histogram_args r = {n,         d.v.data(), d.cell.data(), d.mask.data(),
                                              ncells,    edges.data(), nbins + 1,   wc.data(),
                                              wb.data(), wa.data(),  wm.data()};
                ASSERT_TRUE(on_gpu(SL_OP_HISTOGRAM, &a));
                ASSERT_TRUE(sltest::run(ref_, SL_OP_HISTOGRAM, &r));
                SCOPED_TRACE(::testing::Message() << "n " << n << " ncells " << ncells);
                EXPECT_EQ(gc, wc);
                EXPECT_EQ(gb, wb);
                EXPECT_EQ(ga, wa);
                EXPECT_EQ(gm, wm);
            }
        }
    }
}

TEST_F(Gpu, HistogramWithoutOptionalOutputsOrCells)
{
    const int64_t n = 50001;
    gputest::Rows d = gputest::make_rows(n, 1, 17, true);
    const double edges[] = {-1e300, 0, 1e300};
    std::vector<int64_t> got(2, 0), want(2, 0);
    struct sl_histogram_args a = {n, d.v.data(), nullptr, nullptr, 1, edges, 3, got.data(),
                                  nullptr, nullptr, nullptr};
    struct sl_histogram_args r = a;
    r.counts = want.data();
    ASSERT_TRUE(on_gpu(SL_OP_HISTOGRAM, &a));
    ASSERT_TRUE(sltest::run(ref_, SL_OP_HISTOGRAM, &r));
    EXPECT_EQ(got, want);
}

TEST_F(Gpu, BadCellsNameTheFirstRowAndLeaveOutputsAlone)
{
    const int64_t n = 300007;
    gputest::Rows d = gputest::make_rows(n, 4, 5, false);
    d.cell[299999] = -7;
    d.cell[123457] = 4;  // the first bad one
    d.mask[123457] = 1;
    d.mask[299999] = 1;
    d.cell[100] = 99;  // masked out: fine
    d.mask[100] = 0;
    std::vector<int64_t> counts(4, 3);
    struct sl_group_count_args a = {n, d.cell.data(), d.mask.data(), 4, counts.data()};
    EXPECT_EQ(sl_kernel_run(gpu_, SL_OP_GROUP_COUNT, &a), SL_ERR_ARG);
    EXPECT_NE(std::string(sl_error_message()).find("row 123457"), std::string::npos)
        << sl_error_message();
    EXPECT_EQ(counts, std::vector<int64_t>(4, 3));
    const double edges[] = {0, 50, 100};
    std::vector<int64_t> hist(8, 9);
    struct sl_histogram_args h = {n,      d.v.data(), d.cell.data(), d.mask.data(), 4, edges, 3,
                                  hist.data(), nullptr, nullptr, nullptr};
    EXPECT_EQ(sl_kernel_run(gpu_, SL_OP_HISTOGRAM, &h), SL_ERR_ARG);
    EXPECT_NE(std::string(sl_error_message()).find("row 123457"), std::string::npos)
        << sl_error_message();
    EXPECT_EQ(hist, std::vector<int64_t>(8, 9));
}

}  // namespace
