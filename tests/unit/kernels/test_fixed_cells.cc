// Fixed-point sums per cell (sl_fixed_cells_rows): every instruction-set
// variant against a plain model, for 1 to 10 cells (registers), 11 to 4096
// (lane tables) and 4097 (plain C), with cells, with a mask and with
// neither, on values that round at halves, saturate, are negative, signed
// zeros or missing, or rise row after row (each one enters its cell's
// largest), sums carried over from an earlier call, blocks that each need
// their own second look, and a cell out of range.
#include "kernel_test.hh"

#include <algorithm>
#include <functional>
#include <limits>

extern "C" {
#include "kernels/cpu/cpu_impl.h"
}

using sltest::Rng;

namespace {

const double kScale = 1048576.0;

// The kernel's arrays, owned; the scratch starts with junk (any content).
struct Cells {
    int64_t ncells;
    std::vector<int64_t> hi, count, negative, top, scratch;
    std::vector<uint64_t> lo;
    explicit Cells(int64_t n)
        : ncells(n), hi(static_cast<size_t>(n)), count(static_cast<size_t>(n)),
          negative(static_cast<size_t>(n)), top(static_cast<size_t>(n * SL_FIXED_TOP), INT64_MIN),
          scratch(static_cast<size_t>(SL_FIXED_SCRATCH(n)), 0x5a5a5a5a5a5a5a5a),
          lo(static_cast<size_t>(n))
    {
    }
    sl_fixed_cells view()
    {
        return {kScale,       ncells,         hi.data(),  lo.data(), count.data(),
                negative.data(), top.data(), scratch.data()};
    }
};

// The definition in kernel.h, row by row; returns the first bad row or -1.
int64_t model(Cells &f, const std::vector<double> &v, const std::vector<int32_t> &cell,
              const std::vector<uint8_t> &mask)
{
    for (size_t r = 0; r < v.size(); r++) {
        int64_t c = !cell.empty() ? cell[r] : (!mask.empty() && !mask[r] ? -1 : 0);
        if (c == -1)
            continue;
        if (c < 0 || c >= f.ncells)
            return static_cast<int64_t>(r);
        if (std::isnan(v[r]))
            continue;
        int64_t x = sl_fixed_round(v[r], kScale);
        size_t uc = static_cast<size_t>(c);
        unsigned __int128 total =
            (static_cast<unsigned __int128>(static_cast<uint64_t>(f.hi[uc])) << 64) | f.lo[uc];
        total += static_cast<unsigned __int128>(static_cast<__int128>(x));
        f.hi[uc] = static_cast<int64_t>(static_cast<uint64_t>(total >> 64));
        f.lo[uc] = static_cast<uint64_t>(total);
        f.count[uc]++;
        f.negative[uc] |= x < 0;
        auto t = f.top.begin() + static_cast<ptrdiff_t>(uc * SL_FIXED_TOP);
        std::vector<int64_t> all(t, t + SL_FIXED_TOP);
        all.push_back(x);
        std::sort(all.rbegin(), all.rend());
        std::copy(all.begin(), all.begin() + SL_FIXED_TOP, t);
    }
    return -1;
}

void expect_same(const Cells &got, const Cells &want, const std::string &what)
{
    for (size_t c = 0; c < static_cast<size_t>(want.ncells); c++) {
        EXPECT_EQ(got.lo[c], want.lo[c]) << what << " cell " << c;
        EXPECT_EQ(got.hi[c], want.hi[c]) << what << " cell " << c;
        EXPECT_EQ(got.count[c], want.count[c]) << what << " cell " << c;
        EXPECT_EQ(got.negative[c] != 0, want.negative[c] != 0) << what << " cell " << c;
        for (size_t i = 0; i < SL_FIXED_TOP; i++)
            EXPECT_EQ(got.top[c * SL_FIXED_TOP + i], want.top[c * SL_FIXED_TOP + i])
                << what << " cell " << c << " top " << i;
    }
}

int each_isa(const std::function<void(const std::string &)> &fn)
{
    enum sl_cpu_isa best = sl_cpu_isa_best();
    int tried = 0;
    for (enum sl_cpu_isa isa : {SL_CPU_ISA_GENERIC, SL_CPU_ISA_AVX2, SL_CPU_ISA_AVX512}) {
        if (sl_cpu_isa_select(isa) != SL_OK)
            continue;
        fn(sl_cpu_isa_name(isa));
        tried++;
    }
    EXPECT_EQ(sl_cpu_isa_select(best), SL_OK);
    return tried;
}

// Runs the kernel under every instruction set from `start` and compares
// with `want`.
void expect_kernel(const Cells &start, const Cells &want, const std::vector<double> &v,
                   const std::vector<int32_t> &cell, const std::vector<uint8_t> &mask,
                   int64_t bad, const std::string &what)
{
    EXPECT_GE(each_isa([&](const std::string &isa) {
                  Cells got = start;
                  sl_fixed_cells f = got.view();
                  EXPECT_EQ(sl_fixed_cells_rows(&f, v.data(), cell.empty() ? nullptr : cell.data(),
                                                mask.empty() ? nullptr : mask.data(),
                                                static_cast<int64_t>(v.size())),
                            bad)
                      << isa << " " << what;
                  expect_same(got, want, isa + " " + what);
              }),
              1);
}

} // namespace

TEST(FixedCells, EveryVariantFollowsTheDefinition)
{
    const double inf = std::numeric_limits<double>::infinity();
    // up to SL_FIXED_CELLS the sums live in registers, above in lane tables,
    // above 4096 cells in plain C
    std::vector<int> grids;
    for (int n = 1; n <= SL_FIXED_CELLS; n++)
        grids.push_back(n);
    for (int n : {SL_FIXED_CELLS + 1, 16, 17, 40, 120, 4096, 4097})
        grids.push_back(n);
    // with `huge`, values of 2^45 to 2^92 in fixed point, many of them past
    // what the lane sums hold or saturating: every block's totals are taken
    // again row by row; without, the lane sums hold
    for (bool huge : {false, true})
    for (int shape : {0, 1, 2}) // cells; a mask; neither
        for (int ncells : grids) {
            if (shape > 0 && ncells > 1)
                continue;
            Rng rng(static_cast<uint64_t>(100000 * huge + 10000 * shape + ncells));
            std::vector<double> v;
            std::vector<int32_t> cell;
            std::vector<uint8_t> mask;
            double rise = 0;
            for (int64_t i = 0; i < 5003; i++) {
                uint64_t k = rng.next() % 20;
                if (!huge && (k == 1 || k == 2))
                    k = 12;
                double sign = rng.below(2) ? 1.0 : -1.0;
                double x = k == 0   ? NAN
                           : k == 1 ? sign * inf
                           : k == 2 ? std::ldexp(sign, 25 + static_cast<int>(rng.below(48)))
                           : k == 3 ? -0.0
                           : k == 4 ? (static_cast<double>(rng.below(2001)) - 1000.5) / kScale
                           : k < 12 ? (rise += 0.25)
                                    : rng.normal() * 1e4;
                v.push_back(x);
                if (shape == 0)
                    cell.push_back(static_cast<int32_t>(rng.below(ncells + 1)) - 1);
                else if (shape == 1)
                    mask.push_back(rng.unif() < 0.8);
            }
            // a first call's sums stand; the second adds to them
            Cells want(ncells);
            std::vector<double> head(v.begin(), v.begin() + 500);
            std::vector<int32_t> chead(cell.begin(), cell.begin() + (cell.empty() ? 0 : 500));
            std::vector<uint8_t> mhead(mask.begin(), mask.begin() + (mask.empty() ? 0 : 500));
            ASSERT_EQ(model(want, head, chead, mhead), -1);
            Cells start = want;
            ASSERT_EQ(model(want, v, cell, mask), -1);
            expect_kernel(start, want, v, cell, mask, -1,
                          std::string(huge ? "huge" : "") + " shape " + std::to_string(shape) +
                              " cells " + std::to_string(ncells));
        }
}

// Runs of rows over several blocks, where one block holds a value past
// 2^49 in fixed point (the lane tables' bound, within the registers' 2^55),
// another 64 finite values of 2^61 in one cell (8 per lane: their lane sums
// wrap unless the block is taken again), followed by a step of missing
// values, and another block the only negative one: each block stands alone.
TEST(FixedCells, BlocksStandAlone)
{
    for (int ncells : {8, 40}) {
        Rng rng(static_cast<uint64_t>(ncells));
        std::vector<double> v;
        std::vector<int32_t> cell;
        for (int64_t i = 0; i < 150001; i++) {
            v.push_back(std::floor(rng.unif() * 1e6) / 8);
            cell.push_back(static_cast<int32_t>(rng.below(ncells)));
        }
        v[70001] = std::ldexp(1.0, 32);
        v[70002] = std::ldexp(1.0, 32);
        for (size_t r = 100000; r < 100064; r++) {
            v[r] = std::ldexp(1.0, 41);
            cell[r] = 0;
        }
        for (size_t r = 100064; r < 100072; r++)
            v[r] = NAN;
        v[140003] = -3.5;
        Cells want(ncells);
        ASSERT_EQ(model(want, v, cell, {}), -1);
        expect_kernel(Cells(ncells), want, v, cell, {}, -1, "cells " + std::to_string(ncells));
    }
}

TEST(FixedCells, StopsAtACellOutOfRange)
{
    for (int ncells : {3, 40})
        for (int32_t bad : {ncells, -2}) {
            std::vector<double> v(300, 2.5);
            std::vector<int32_t> cell(300, 1);
            cell[203] = bad;
            cell[250] = bad;
            Cells want(ncells);
            ASSERT_EQ(model(want, v, cell, {}), 203);
            expect_kernel(Cells(ncells), want, v, cell, {}, 203,
                          "cells " + std::to_string(ncells) + " bad " + std::to_string(bad));
        }
}
