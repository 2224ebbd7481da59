// Fixed-point sums of a few cells (sl_fixed_cells_rows): every
// instruction-set variant against a plain model, for 1 to 16 cells, with
// cells, with a mask and with neither, on values that round at halves,
// saturate, are negative, signed zeros or missing, or rise row after row
// (each one enters its cell's largest), sums carried over from an earlier
// call, and a cell out of range.
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

sl_fixed_cells fresh(int ncells)
{
    sl_fixed_cells f{};
    f.scale = kScale;
    f.ncells = ncells;
    for (auto &t : f.top)
        for (int64_t &x : t)
            x = INT64_MIN;
    return f;
}

// The definition in kernel.h, row by row; returns the first bad row or -1.
int64_t model(sl_fixed_cells &f, const std::vector<double> &v, const std::vector<int32_t> &cell,
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
        int64_t x = sl_fixed_round(v[r], f.scale);
        size_t uc = static_cast<size_t>(c);
        unsigned __int128 total =
            (static_cast<unsigned __int128>(static_cast<uint64_t>(f.total_hi[uc])) << 64) |
            f.total_lo[uc];
        total += static_cast<unsigned __int128>(static_cast<__int128>(x));
        f.total_hi[uc] = static_cast<int64_t>(static_cast<uint64_t>(total >> 64));
        f.total_lo[uc] = static_cast<uint64_t>(total);
        f.count[uc]++;
        f.negative[uc] |= x < 0;
        int64_t *t = f.top[uc];
        std::vector<int64_t> all(t, t + SL_FIXED_TOP);
        all.push_back(x);
        std::sort(all.rbegin(), all.rend());
        std::copy(all.begin(), all.begin() + SL_FIXED_TOP, t);
    }
    return -1;
}

void expect_same(const sl_fixed_cells &got, const sl_fixed_cells &want, const std::string &what)
{
    for (int c = 0; c < want.ncells; c++) {
        EXPECT_EQ(got.total_lo[c], want.total_lo[c]) << what << " cell " << c;
        EXPECT_EQ(got.total_hi[c], want.total_hi[c]) << what << " cell " << c;
        EXPECT_EQ(got.count[c], want.count[c]) << what << " cell " << c;
        EXPECT_EQ(got.negative[c] != 0, want.negative[c] != 0) << what << " cell " << c;
        for (int i = 0; i < SL_FIXED_TOP; i++)
            EXPECT_EQ(got.top[c][i], want.top[c][i]) << what << " cell " << c << " top " << i;
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

} // namespace

TEST(FixedCells, EveryVariantFollowsTheDefinition)
{
    const double inf = std::numeric_limits<double>::infinity();
    // with `huge`, values that saturate or pass 2^55 in fixed point: every
    // block's totals are taken again row by row; without, the lane sums hold
    for (bool huge : {false, true})
    for (int shape : {0, 1, 2}) // cells; a mask; neither
        for (int ncells = 1; ncells <= SL_FIXED_CELLS; ncells++) {
            if (shape > 0 && ncells > 1)
                continue;
            Rng rng(static_cast<uint64_t>(100 * huge + 10 * shape + ncells));
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
                           : k == 2 ? std::ldexp(sign, 43 + static_cast<int>(rng.below(30)))
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
            sl_fixed_cells want = fresh(ncells);
            std::vector<double> head(v.begin(), v.begin() + 500);
            std::vector<int32_t> chead(cell.begin(), cell.begin() + (cell.empty() ? 0 : 500));
            std::vector<uint8_t> mhead(mask.begin(), mask.begin() + (mask.empty() ? 0 : 500));
            ASSERT_EQ(model(want, head, chead, mhead), -1);
            sl_fixed_cells start = want;
            ASSERT_EQ(model(want, v, cell, mask), -1);
            EXPECT_GE(each_isa([&](const std::string &isa) {
                          sl_fixed_cells got = start;
                          EXPECT_EQ(sl_fixed_cells_rows(&got, v.data(),
                                                        cell.empty() ? nullptr : cell.data(),
                                                        mask.empty() ? nullptr : mask.data(),
                                                        static_cast<int64_t>(v.size())),
                                    -1);
                          expect_same(got, want,
                                      isa + (huge ? " huge" : "") + " shape " +
                                          std::to_string(shape) + " cells " +
                                          std::to_string(ncells));
                      }),
                      1);
        }
}

TEST(FixedCells, StopsAtACellOutOfRange)
{
    std::vector<double> v(300, 2.5);
    for (int32_t bad : {3, -2}) {
        std::vector<int32_t> cell(300, 1);
        cell[203] = bad;
        cell[250] = bad;
        sl_fixed_cells want = fresh(3);
        ASSERT_EQ(model(want, v, cell, {}), 203);
        each_isa([&](const std::string &isa) {
            sl_fixed_cells got = fresh(3);
            EXPECT_EQ(sl_fixed_cells_rows(&got, v.data(), cell.data(), nullptr, 300), 203) << isa;
            expect_same(got, want, isa + " cell " + std::to_string(bad));
        });
    }
}
