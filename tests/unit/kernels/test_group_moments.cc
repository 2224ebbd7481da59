// Grouped moments (SL_OP_GROUP_MOMENTS) and sl_moments_combine: agreement
// with cpu_ref (counts exact; sum, mean and m2 within 1e-12 relative to
// their scale), the combine formula on split data, numerical stability, and
// bit-identical results across runs, thread counts and the CPU's few-cell
// lane kernels (generic, AVX2, AVX-512).
#include "kernel_test.hh"

extern "C" {
#include "kernels/cpu/cpu_impl.h"
}

using sltest::BackendTest;
using sltest::Rng;

namespace {

struct Data {
    std::vector<double> v;
    std::vector<int32_t> cell;
    std::vector<uint8_t> mask;
};

Data make(int64_t n, int64_t ncells, uint64_t seed, double shift = 0, double nan_frac = 0.02)
{
    Rng rng(seed);
    Data d;
    for (int64_t i = 0; i < n; i++) {
        d.v.push_back(rng.unif() < nan_frac ? NAN : shift + 3 * rng.normal());
        d.cell.push_back(rng.unif() < 0.03 ? -1 : static_cast<int32_t>(rng.below(ncells)));
        d.mask.push_back(rng.unif() < 0.92);
    }
    return d;
}

// |a - b| <= tol * scale
::testing::AssertionResult close(double a, double b, double tol, double scale)
{
    if (std::fabs(a - b) <= tol * scale)
        return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << a << " vs " << b << " (diff " << std::fabs(a - b)
                                         << ", allowed " << tol * scale << ")";
}

// `scale` bounds |x| over the values summarised.
void expect_moments_close(const sl_moments &g, const sl_moments &w, double tol, double scale)
{
    EXPECT_EQ(g.n_present, w.n_present);
    EXPECT_EQ(g.n_missing, w.n_missing);
    if (w.n_present == 0)
        return;
    EXPECT_TRUE(close(g.mean, w.mean, tol, scale));
    EXPECT_TRUE(close(g.sum, w.sum, tol, scale * static_cast<double>(w.n_present)));
    EXPECT_TRUE(close(g.m2, w.m2, tol, std::fmax(w.m2, 1e-300)));
}

class GroupMoments : public BackendTest {};

TEST_P(GroupMoments, MatchesReference)
{
    // tolerance: both are two-pass sums in double, in different orders
    const double tol = 1e-12;
    // 1 to 7 cells take the vector-lane path, more the scattered one
    for (int64_t ncells : {1, 3, 5, 7, 8, 1000, 3000}) {
        for (int64_t n : sltest::awkward_sizes()) {
            // with and without missing values (the kernel has a path for each)
            Data d = make(n, ncells, 100 + static_cast<uint64_t>(n), 10.0, n % 2 ? 0.0 : 0.02);
            std::vector<sl_moments> got(static_cast<size_t>(ncells)), want(got);
            struct sl_group_moments_args a = {n, d.v.data(), d.cell.data(), d.mask.data(), ncells,
                                              got.data()};
            struct sl_group_moments_args r = a;
            r.out = want.data();
            ASSERT_TRUE(sltest::run(be_, SL_OP_GROUP_MOMENTS, &a));
            ASSERT_TRUE(sltest::run(ref_, SL_OP_GROUP_MOMENTS, &r));
            double scale = 0;
            for (double x : d.v)
                scale = std::isnan(x) ? scale : std::fmax(scale, std::fabs(x));
            for (int64_t c = 0; c < ncells; c++)
                expect_moments_close(got[static_cast<size_t>(c)], want[static_cast<size_t>(c)], tol,
                                     scale);
        }
    }
}

TEST_P(GroupMoments, KnownValues)
{
    // 2 4 4 4 5 5 7 9: mean 5, sum of squared deviations 32; NaN is missing
    const double v[] = {2, 4, NAN, 4, 4, 5, 5, 7, 9, 100};
    const uint8_t mask[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
    sl_moments m = {};
    struct sl_group_moments_args a = {10, v, nullptr, mask, 1, &m};
    ASSERT_TRUE(sltest::run(be_, SL_OP_GROUP_MOMENTS, &a));
    EXPECT_EQ(m.n_present, 8);
    EXPECT_EQ(m.n_missing, 1);
    EXPECT_EQ(m.sum, 40.0);
    EXPECT_EQ(m.mean, 5.0);
    EXPECT_EQ(m.m2, 32.0);
}

TEST_P(GroupMoments, StableForLargeOffsets)
{
    // values 1e9 + u with u uniform in [0, 1): a one-pass sum of squares loses
    // every digit here; two passes keep the variance to near machine precision
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
    ASSERT_TRUE(sltest::run(be_, SL_OP_GROUP_MOMENTS, &a));
    EXPECT_TRUE(close(m.m2, static_cast<double>(m2), 1e-6, static_cast<double>(m2)));
    // the mean carries the rounding of a sum of 50000 terms near 1e9
    EXPECT_TRUE(close(m.mean, static_cast<double>(mean), 1e-13, 1e9));
}

TEST_P(GroupMoments, AccumulatesByCombine)
{
    Data d = make(30000, 3, 21, -4.0);
    std::vector<sl_moments> whole(3), parts(3);
    struct sl_group_moments_args a = {30000, d.v.data(), d.cell.data(), d.mask.data(), 3,
                                      whole.data()};
    ASSERT_TRUE(sltest::run(be_, SL_OP_GROUP_MOMENTS, &a));
    // the same rows in three calls of odd sizes, folded into one output
    const int64_t cuts[] = {0, 7777, 7778, 30000};
    for (int k = 0; k < 3; k++) {
        struct sl_group_moments_args b = {cuts[k + 1] - cuts[k], d.v.data() + cuts[k],
                                          d.cell.data() + cuts[k], d.mask.data() + cuts[k], 3,
                                          parts.data()};
        ASSERT_TRUE(sltest::run(be_, SL_OP_GROUP_MOMENTS, &b));
    }
    for (int c = 0; c < 3; c++)
        expect_moments_close(parts[static_cast<size_t>(c)], whole[static_cast<size_t>(c)], 1e-12,
                             20.0);
}

TEST_P(GroupMoments, BadCellFailsAndLeavesOutputAlone)
{
    Data d = make(20000, 2, 4);
    d.cell[17000] = 2;
    d.mask[17000] = 1;
    std::vector<sl_moments> out(2);
    out[0].n_present = 3;
    out[0].mean = 1.5;
    std::vector<sl_moments> before = out;
    struct sl_group_moments_args a = {20000, d.v.data(), d.cell.data(), d.mask.data(), 2,
                                      out.data()};
    EXPECT_EQ(sl_kernel_run(be_, SL_OP_GROUP_MOMENTS, &a), SL_ERR_ARG);
    EXPECT_NE(std::string(sl_error_message()).find("row 17000"), std::string::npos)
        << sl_error_message();
    EXPECT_EQ(std::memcmp(out.data(), before.data(), sizeof(sl_moments) * 2), 0);
}

TEST_P(GroupMoments, BitIdenticalAcrossRunsAndThreads)
{
    Data d = make(100003, 6, 77, 2.5);
    std::vector<sl_moments> a1(6), a2(6), t1(6);
    struct sl_group_moments_args a = {100003, d.v.data(), d.cell.data(), d.mask.data(), 6,
                                      a1.data()};
    {
        sltest::Threads t(2);
        ASSERT_TRUE(sltest::run(be_, SL_OP_GROUP_MOMENTS, &a));
        a.out = a2.data();
        ASSERT_TRUE(sltest::run(be_, SL_OP_GROUP_MOMENTS, &a));
    }
    {
        sltest::Threads t(1);
        a.out = t1.data();
        ASSERT_TRUE(sltest::run(be_, SL_OP_GROUP_MOMENTS, &a));
    }
    EXPECT_EQ(std::memcmp(a1.data(), a2.data(), sizeof(sl_moments) * 6), 0);
    EXPECT_EQ(std::memcmp(a1.data(), t1.data(), sizeof(sl_moments) * 6), 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, GroupMoments,
                         ::testing::ValuesIn(sltest::backends_under_test()));

// The few-cell lane kernels of the CPU backend (generic C, AVX2, AVX-512)
// must agree to the last bit, with and without missing and infinite values
// and for segment tails that are not a multiple of the 8 lanes.
TEST(GroupMomentsLanes, EveryInstructionSetGivesTheSameBits)
{
    struct sl_backend *cpu = sltest::backend("cpu");
    ASSERT_NE(cpu, nullptr);
    enum sl_cpu_isa best = sl_cpu_isa_best();
    for (int64_t ncells : {1, 2, 4, 7}) {
        for (int64_t n : {int64_t{13}, int64_t{8195}, int64_t{40001}}) {
            Data d = make(n, ncells, static_cast<uint64_t>(n * 8 + ncells), 1e3,
                          ncells % 2 ? 0.05 : 0.0);
            if (ncells == 4)
                d.v[static_cast<size_t>(n / 2)] = INFINITY;
            std::vector<sl_moments> want;
            int tried = 0;
            for (enum sl_cpu_isa isa : {SL_CPU_ISA_GENERIC, SL_CPU_ISA_AVX2, SL_CPU_ISA_AVX512}) {
                if (sl_cpu_isa_select(isa) != SL_OK)
                    continue;
                std::vector<sl_moments> got(static_cast<size_t>(ncells));
                struct sl_group_moments_args a = {n, d.v.data(), d.cell.data(), d.mask.data(),
                                                  ncells, got.data()};
                ASSERT_TRUE(sltest::run(cpu, SL_OP_GROUP_MOMENTS, &a));
                if (want.empty())
                    want = got;
                EXPECT_EQ(std::memcmp(got.data(), want.data(), sizeof(sl_moments) * got.size()), 0)
                    << sl_cpu_isa_name(isa) << " ncells " << ncells << " n " << n;
                tried++;
            }
            EXPECT_GE(tried, 1);
        }
    }
    ASSERT_EQ(sl_cpu_isa_select(best), SL_OK);
}

// ---- sl_moments_combine on its own ----

sl_moments summary(const std::vector<double> &v)
{
    sl_moments m = {};
    for (double x : v) {
        m.n_present++;
        m.sum += x;
    }
    m.mean = m.n_present ? m.sum / static_cast<double>(m.n_present) : 0;
    for (double x : v)
        m.m2 += (x - m.mean) * (x - m.mean);
    return m;
}

TEST(MomentsCombine, SplitDataEqualsOnePass)
{
    Rng rng(5);
    std::vector<double> all;
    for (int i = 0; i < 1001; i++)
        all.push_back(100 + rng.normal());
    sl_moments whole = summary(all), acc = {};
    const size_t cuts[] = {0, 1, 300, 301, 1001};
    for (int k = 0; k < 4; k++) {
        std::vector<double> part(all.begin() + static_cast<long>(cuts[k]),
                                 all.begin() + static_cast<long>(cuts[k + 1]));
        sl_moments p = summary(part);
        sl_moments_combine(&acc, &p);
    }
    EXPECT_EQ(acc.n_present, whole.n_present);
    EXPECT_TRUE(close(acc.mean, whole.mean, 1e-14, 100));
    EXPECT_TRUE(close(acc.sum, whole.sum, 1e-14, 100 * 1001));
    EXPECT_TRUE(close(acc.m2, whole.m2, 1e-12, whole.m2));
}

TEST(MomentsCombine, EmptySidesAreIdentities)
{
    sl_moments a = summary({1, 2, 3}), b = {}, c = {};
    b.n_missing = 4;
    sl_moments before = a;
    sl_moments_combine(&a, &b);  // only missing values on the right
    EXPECT_EQ(a.n_missing, 4);
    a.n_missing = 0;
    EXPECT_EQ(std::memcmp(&a, &before, sizeof a), 0);
    sl_moments_combine(&c, &before);  // empty on the left: exact copy
    EXPECT_EQ(std::memcmp(&c, &before, sizeof c), 0);
}

TEST(MomentsCombine, HandComputed)
{
    // {1, 2, 3} (+) {10}: n 4, delta 8, mean 2 + 8 / 4 = 4, m2 = 2 + 0 + 64 * 3 / 4 = 50
    sl_moments a = summary({1, 2, 3}), b = summary({10});
    sl_moments_combine(&a, &b);
    EXPECT_EQ(a.n_present, 4);
    EXPECT_EQ(a.mean, 4.0);
    EXPECT_EQ(a.m2, 50.0);
    EXPECT_EQ(a.sum, 16.0);
}

}  // namespace
