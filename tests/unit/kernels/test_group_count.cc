// Grouped counts (SL_OP_GROUP_COUNT): exact agreement with cpu_ref on every
// backend, accumulation, row selection, and errors that leave outputs alone.
#include "kernel_test.hh"

using sltest::BackendTest;
using sltest::Rng;

namespace {

struct Data {
    std::vector<int32_t> cell;
    std::vector<uint8_t> mask;
};

Data make(int64_t n, int64_t ncells, uint64_t seed)
{
    Rng rng(seed);
    Data d;
    for (int64_t i = 0; i < n; i++) {
        // runs of equal cells, some dropped rows (-1), a few masked rows
        d.cell.push_back(rng.unif() < 0.05 ? -1 : static_cast<int32_t>(rng.below(ncells)));
        d.mask.push_back(rng.unif() < 0.9);
    }
    return d;
}

class GroupCount : public BackendTest {};

TEST_P(GroupCount, MatchesReferenceExactly)
{
    for (int64_t ncells : {1, 3, 300}) {
        for (int64_t n : sltest::awkward_sizes()) {
            Data d = make(n, ncells, 11 + static_cast<uint64_t>(n));
            for (int use_mask = 0; use_mask < 2; use_mask++) {
                std::vector<int64_t> got(static_cast<size_t>(ncells), 5), want(got);
                const uint8_t *mask = use_mask ? d.mask.data() : nullptr;
                struct sl_group_count_args a = {n, d.cell.data(), mask, ncells, got.data()};
                struct sl_group_count_args r = a;
                r.counts = want.data();
                ASSERT_TRUE(sltest::run(be_, SL_OP_GROUP_COUNT, &a));
                ASSERT_TRUE(sltest::run(ref_, SL_OP_GROUP_COUNT, &r));
                EXPECT_EQ(got, want) << "n " << n << " ncells " << ncells << " mask " << use_mask;
            }
        }
    }
}

TEST_P(GroupCount, CountsByHand)
{
    const int32_t cell[] = {0, 2, 2, -1, 1, 2, 0};
    const uint8_t mask[] = {1, 1, 0, 1, 1, 1, 1};
    std::vector<int64_t> counts = {10, 20, 30};
    struct sl_group_count_args a = {7, cell, mask, 3, counts.data()};
    ASSERT_TRUE(sltest::run(be_, SL_OP_GROUP_COUNT, &a));
    EXPECT_EQ(counts, (std::vector<int64_t>{12, 21, 32}));
    // no cell array: every kept row is in cell 0
    std::vector<int64_t> all = {0};
    struct sl_group_count_args b = {7, nullptr, mask, 1, all.data()};
    ASSERT_TRUE(sltest::run(be_, SL_OP_GROUP_COUNT, &b));
    EXPECT_EQ(all[0], 6);
}

TEST_P(GroupCount, BadCellFailsAndLeavesCountsAlone)
{
    Data d = make(30000, 4, 3);
    d.cell[25000] = 4;   // first bad row
    d.cell[29000] = -7;  // second bad row
    d.mask[25000] = 1;
    d.mask[29000] = 1;
    std::vector<int64_t> counts(4, 9);
    struct sl_group_count_args a = {30000, d.cell.data(), d.mask.data(), 4, counts.data()};
    EXPECT_EQ(sl_kernel_run(be_, SL_OP_GROUP_COUNT, &a), SL_ERR_ARG);
    EXPECT_NE(std::string(sl_error_message()).find("row 25000"), std::string::npos)
        << sl_error_message();
    EXPECT_EQ(counts, std::vector<int64_t>(4, 9));
    // a bad cell in a row the mask drops is ignored
    d.mask[25000] = 0;
    d.mask[29000] = 0;
    EXPECT_TRUE(sltest::run(be_, SL_OP_GROUP_COUNT, &a));
}

TEST_P(GroupCount, SameResultForAnyThreadCount)
{
    Data d = make(100003, 7, 5);
    std::vector<int64_t> one(7, 0), two(7, 0);
    {
        sltest::Threads t(1);
        struct sl_group_count_args a = {100003, d.cell.data(), d.mask.data(), 7, one.data()};
        ASSERT_TRUE(sltest::run(be_, SL_OP_GROUP_COUNT, &a));
    }
    {
        sltest::Threads t(2);
        struct sl_group_count_args a = {100003, d.cell.data(), d.mask.data(), 7, two.data()};
        ASSERT_TRUE(sltest::run(be_, SL_OP_GROUP_COUNT, &a));
    }
    EXPECT_EQ(one, two);
}

INSTANTIATE_TEST_SUITE_P(Backends, GroupCount, ::testing::ValuesIn(sltest::backends_under_test()));

}  // namespace
