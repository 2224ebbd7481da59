// Small dense solves (kernels/linalg.h): accuracy on well-conditioned
// systems, detection of aliased columns in order as R does, the inverse,
// and rejection of broken input.
#include "kernel_test.hh"

extern "C" {
#include "kernels/linalg.h"
}

using sltest::Rng;

namespace {

// Gram matrix of a random n x p design whose column `alias` (if >= 0) is the
// sum of columns 0 and 1.
std::vector<double> gram_of_design(int p, int alias, uint64_t seed)
{
    Rng rng(seed);
    const int n = 200;
    std::vector<double> x(static_cast<size_t>(n * p)), a(static_cast<size_t>(p * p), 0);
    auto at = [](int i, int j) { return static_cast<size_t>(i + j * n); };
    for (int j = 0; j < p; j++)
        for (int i = 0; i < n; i++)
            x[at(i, j)] = j == alias ? x[at(i, 0)] + x[at(i, 1)] : rng.normal();
    for (int j = 0; j < p; j++)
        for (int k = 0; k < p; k++)
            for (int i = 0; i < n; i++)
                a[static_cast<size_t>(j + k * p)] +=
                    x[static_cast<size_t>(i + j * n)] * x[static_cast<size_t>(i + k * n)];
    return a;
}

TEST(SpdSolve, SolvesWellConditionedSystems)
{
    for (int p : {1, 2, 5, 30}) {
        std::vector<double> a = gram_of_design(p, -1, static_cast<uint64_t>(p));
        std::vector<double> xtrue(static_cast<size_t>(p)), b(static_cast<size_t>(p), 0),
            x(static_cast<size_t>(p));
        for (int j = 0; j < p; j++)
            xtrue[static_cast<size_t>(j)] = 1.0 + j;
        for (int j = 0; j < p; j++)
            for (int k = 0; k < p; k++)
                b[static_cast<size_t>(j)] +=
                    a[static_cast<size_t>(j + k * p)] * xtrue[static_cast<size_t>(k)];
        std::vector<uint8_t> aliased(static_cast<size_t>(p), 9);
        int64_t rank = -1;
        ASSERT_EQ(sl_spd_solve(p, a.data(), p, b.data(), 1e-7, x.data(), aliased.data(), &rank),
                  SL_OK)
            << sl_error_message();
        EXPECT_EQ(rank, p);
        for (int j = 0; j < p; j++) {
            EXPECT_EQ(aliased[static_cast<size_t>(j)], 0);
            EXPECT_NEAR(x[static_cast<size_t>(j)], xtrue[static_cast<size_t>(j)], 1e-10 * (1 + j));
        }
    }
}

TEST(SpdSolve, FindsAliasedColumnsInOrder)
{
    // column 3 = column 0 + column 1: R's glm keeps 0, 1, 2 and reports 3 as NA
    const int p = 5;
    std::vector<double> a = gram_of_design(p, 3, 17), b(p), x(p);
    for (int j = 0; j < p; j++)
        b[static_cast<size_t>(j)] =
            a[static_cast<size_t>(j)] + 2 * a[static_cast<size_t>(j + 2 * p)];
    std::vector<uint8_t> aliased(p);
    int64_t rank = 0;
    ASSERT_EQ(sl_spd_solve(p, a.data(), p, b.data(), 1e-7, x.data(), aliased.data(), &rank), SL_OK);
    EXPECT_EQ(rank, 4);
    EXPECT_EQ(aliased, (std::vector<uint8_t>{0, 0, 0, 1, 0}));
    // b = A e0 + 2 A e2: the kept columns reproduce it exactly
    EXPECT_NEAR(x[0], 1.0, 1e-9);
    EXPECT_NEAR(x[1], 0.0, 1e-9);
    EXPECT_NEAR(x[2], 2.0, 1e-9);
    EXPECT_EQ(x[3], 0.0);
    EXPECT_NEAR(x[4], 0.0, 1e-9);
    // an all-zero column is aliased too
    std::vector<double> z = {4, 0, 0, 0};
    std::vector<double> rhs = {8, 0}, sol(2);
    ASSERT_EQ(sl_spd_solve(2, z.data(), 2, rhs.data(), 1e-7, sol.data(), aliased.data(), &rank),
              SL_OK);
    EXPECT_EQ(rank, 1);
    EXPECT_EQ(sol[0], 2.0);
    EXPECT_EQ(aliased[1], 1);
}

TEST(SpdInverse, InvertsTheKeptColumns)
{
    const int p = 5;
    std::vector<double> a = gram_of_design(p, 3, 23), inv(p * p);
    std::vector<uint8_t> aliased(p);
    int64_t rank = 0;
    ASSERT_EQ(sl_spd_inverse(p, a.data(), p, 1e-7, inv.data(), p, aliased.data(), &rank), SL_OK);
    EXPECT_EQ(rank, 4);
    const int keep[] = {0, 1, 2, 4};
    for (int i : keep)
        for (int j : keep) {
            double s = 0;
            for (int k : keep)
                s += a[static_cast<size_t>(i + k * p)] * inv[static_cast<size_t>(k + j * p)];
            EXPECT_NEAR(s, i == j ? 1.0 : 0.0, 1e-10) << i << "," << j;
            EXPECT_EQ(inv[static_cast<size_t>(i + j * p)], inv[static_cast<size_t>(j + i * p)]);
        }
    for (int k = 0; k < p; k++) {
        EXPECT_EQ(inv[static_cast<size_t>(3 + k * p)], 0.0);
        EXPECT_EQ(inv[static_cast<size_t>(k + 3 * p)], 0.0);
    }
}

TEST(SpdSolve, RejectsBrokenInput)
{
    std::vector<double> a = {-1, 0, 0, 1}, b = {1, 1}, x(2);
    EXPECT_EQ(sl_spd_solve(2, a.data(), 2, b.data(), 1e-7, x.data(), nullptr, nullptr),
              SL_ERR_NUMERIC);
    a = {1, 0, NAN, 1};
    EXPECT_EQ(sl_spd_solve(2, a.data(), 2, b.data(), 1e-7, x.data(), nullptr, nullptr),
              SL_ERR_NUMERIC);
    a = {1, 0, 0, 1};
    EXPECT_EQ(sl_spd_solve(2, a.data(), 2, b.data(), 1.5, x.data(), nullptr, nullptr), SL_ERR_ARG);
    EXPECT_EQ(sl_spd_solve(2, a.data(), 1, b.data(), 1e-7, x.data(), nullptr, nullptr), SL_ERR_ARG);
    EXPECT_EQ(sl_spd_solve(0, nullptr, 1, nullptr, 1e-7, nullptr, nullptr, nullptr), SL_OK);
}

}  // namespace
