// GPU grouped sort (SL_OP_SORT_F64, exact quantiles) against cpu_ref: bit for
// bit equal output, cell layout and NaN counts, in IEEE total order (-0
// before +0), on adversarial values (signed zeros, infinities, denormals,
// NaNs of both signs, ties), one cell (single sort) and several (sort by
// value then stably by cell), tiny cells, 0 rows; nothing is written past
// the values kept; bad cells fail cleanly.
#include "gpu_test.hh"

using gputest::Gpu;

namespace {

TEST_F(Gpu, SortEqualsReferenceBitForBit)
{
    for (int64_t ncells : {1, 2, 3, 1000}) {
        for (int64_t n : gputest::sizes()) {
            gputest::Rows d = gputest::make_rows(n, ncells, static_cast<uint64_t>(n + 13 * ncells),
                                                 true);
            for (int mode = 0; mode < 4; mode++) {
                const int32_t *cell = mode & 1 ? d.cell.data() : nullptr;
                const uint8_t *mask = mode & 2 ? d.mask.data() : nullptr;
                std::vector<double> got(static_cast<size_t>(n) + 1, 9.0), want(got);
                std::vector<int64_t> gs(static_cast<size_t>(ncells) + 1, -1), ws(gs);
                std::vector<int64_t> gm(static_cast<size_t>(ncells), -1), wm(gm);
                struct sl_sort_f64_args a = {n,      d.v.data(), cell,      mask,
                                             ncells, got.data(), gs.data(), gm.data()};
                struct sl_sort_f64_args r = {n,      d.v.data(), cell,      mask,
                                             ncells, want.data(), ws.data(), wm.data()};
                ASSERT_TRUE(on_gpu(SL_OP_SORT_F64, &a));
                ASSERT_TRUE(sltest::run(ref_, SL_OP_SORT_F64, &r));
                SCOPED_TRACE(::testing::Message() << "n " << n << " ncells " << ncells << " mode "
                                                  << mode);
                EXPECT_EQ(gs, ws);
                EXPECT_EQ(gm, wm);
                // every slot, the untouched tail (9.0) included
                EXPECT_TRUE(sltest::same_bits(got.data(), want.data(), got.size()));
            }
        }
    }
}

TEST_F(Gpu, SortSignedZerosAndInfinitiesInTotalOrder)
{
    const double inf = std::numeric_limits<double>::infinity();
    std::vector<double> v;
    for (int i = 0; i < 20000; i++)
        v.push_back(i % 4 == 0 ? 0.0 : (i % 4 == 1 ? -0.0 : (i % 4 == 2 ? inf : -inf)));
    std::vector<double> got(v.size());
    int64_t start[2];
    struct sl_sort_f64_args a = {static_cast<int64_t>(v.size()), v.data(), nullptr, nullptr, 1,
                                 got.data(), start, nullptr};
    ASSERT_TRUE(on_gpu(SL_OP_SORT_F64, &a));
    ASSERT_EQ(start[1], 20000);
    for (size_t i = 0; i < got.size(); i++) {
        size_t q = i / 5000;  // -inf, -0, +0, +inf in blocks of 5000
        double want = q == 0 ? -inf : (q == 1 ? -0.0 : (q == 2 ? 0.0 : inf));
        ASSERT_TRUE(sltest::same_bits(&got[i], &want, 1)) << "at " << i;
    }
}

TEST_F(Gpu, SortBadCellFailsAndLeavesOutputsAlone)
{
    gputest::Rows d = gputest::make_rows(90000, 3, 8, false);
    d.cell[81234] = 3;
    d.mask[81234] = 1;
    std::vector<double> out(90000, 1.5);
    std::vector<int64_t> start(4, 7), miss(3, 8);
    struct sl_sort_f64_args a = {90000, d.v.data(), d.cell.data(), d.mask.data(), 3,
                                 out.data(), start.data(), miss.data()};
    EXPECT_EQ(sl_kernel_run(gpu_, SL_OP_SORT_F64, &a), SL_ERR_ARG);
    EXPECT_NE(std::string(sl_error_message()).find("row 81234"), std::string::npos)
        << sl_error_message();
    EXPECT_EQ(out, std::vector<double>(90000, 1.5));
    EXPECT_EQ(start, std::vector<int64_t>(4, 7));
    EXPECT_EQ(miss, std::vector<int64_t>(3, 8));
}

}  // namespace
