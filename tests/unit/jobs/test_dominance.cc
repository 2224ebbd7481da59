// Dominance evidence: fixed-point rounding and saturation, the top
// contributions and the 128-bit total under any split and merge order, and
// the exchange between (simulated) ranks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "stats_test_util.hh"

extern "C" {
#include "jobs/dominance.h"
#include "kernels/cpu/cpu_impl.h"
}

using namespace sltest;

namespace {

__int128 total_of(const sl_dominance &d)
{
    return static_cast<__int128>(
        (static_cast<unsigned __int128>(static_cast<uint64_t>(d.total_hi)) << 64) | d.total_lo);
}

// The evidence a brute-force computation gives for contributions x.
void expect_evidence(const sl_dominance &d, std::vector<int64_t> x)
{
    __int128 total = 0;
    for (int64_t v : x)
        total += v;
    std::sort(x.rbegin(), x.rend());
    EXPECT_EQ(d.ncontrib, static_cast<int64_t>(x.size()));
    for (size_t i = 0; i < SL_DOM_TOP; i++)
        EXPECT_EQ(d.top[i], i < x.size() ? x[i] : 0) << "top " << i;
    EXPECT_TRUE(total_of(d) == total);
    EXPECT_EQ(d.has_negative != 0,
              std::any_of(x.begin(), x.end(), [](int64_t v) { return v < 0; }));
}

TEST(Fixed, RoundsHalfAwayFromZeroAndSaturates)
{
    const double unit = 1.0 / 1048576.0; // 2^-SL_FIXED_SHIFT
    EXPECT_EQ(SL_FIXED_SHIFT, 20);
    EXPECT_EQ(sl_fixed_from_double(1.0), 1048576);
    EXPECT_EQ(sl_fixed_from_double(-2.5), -2621440);
    EXPECT_EQ(sl_fixed_from_double(unit / 2), 1);
    EXPECT_EQ(sl_fixed_from_double(-unit / 2), -1);
    EXPECT_EQ(sl_fixed_from_double(unit / 4), 0);
    EXPECT_EQ(sl_fixed_from_double(1.5 * unit), 2);
    EXPECT_EQ(sl_fixed_from_double(8e12), static_cast<int64_t>(8e12 * 1048576.0));
    EXPECT_EQ(sl_fixed_from_double(1e300), INT64_MAX);
    EXPECT_EQ(sl_fixed_from_double(INFINITY), INT64_MAX);
    EXPECT_EQ(sl_fixed_from_double(-INFINITY), -INT64_MAX);
    // Exact halves, their neighbours and arbitrary values agree with round().
    std::mt19937_64 rng(9);
    for (int i = 0; i < 300000; i++) {
        double v;
        uint64_t r = rng();
        if (i % 3 == 0)
            v = (static_cast<double>(static_cast<int64_t>(r >> 24)) + 0.5) * unit;
        else if (i % 3 == 1)
            v = std::nextafter((static_cast<double>(static_cast<int64_t>(r >> 30)) + 0.5) * unit,
                               r & 1 ? INFINITY : -INFINITY);
        else
            v = std::ldexp(static_cast<double>(r >> 11), -static_cast<int>(r % 70));
        if (r & 4)
            v = -v;
        double w = std::round(v * 1048576.0);
        int64_t want = w >= 0x1p63    ? INT64_MAX
                       : w <= -0x1p63 ? -INT64_MAX
                                      : static_cast<int64_t>(w);
        ASSERT_EQ(sl_fixed_from_double(v), want) << std::hexfloat << v;
    }
}

TEST(Dominance, AnySplitAndMergeOrderGivesTheSameEvidence)
{
    std::mt19937_64 rng(5);
    for (int trial = 0; trial < 500; trial++) {
        size_t n = rng() % 12;
        std::vector<int64_t> x(n);
        for (int64_t &v : x)
            v = static_cast<int64_t>(rng() % 2000) - (trial % 3 == 0 ? 300 : 0);
        // Split into parts, add each part, merge the parts in a random order.
        size_t nparts = 1 + rng() % 4;
        std::vector<sl_dominance> parts(nparts, sl_dominance{});
        for (int64_t v : x)
            sl_dominance_add(&parts[rng() % nparts], v);
        std::shuffle(parts.begin(), parts.end(), rng);
        sl_dominance acc{};
        for (const sl_dominance &p : parts)
            sl_dominance_merge(&acc, &p);
        expect_evidence(acc, x);
    }
}

TEST(Dominance, TotalCarriesPastSixtyFourBits)
{
    sl_dominance a{}, b{};
    std::vector<int64_t> x;
    for (int i = 0; i < 40; i++) {
        int64_t v = INT64_MAX - i;
        x.push_back(v);
        sl_dominance_add(i % 2 ? &a : &b, v);
    }
    x.push_back(-INT64_MAX);
    sl_dominance_add(&a, -INT64_MAX);
    sl_dominance_merge(&a, &b);
    expect_evidence(a, x);
    EXPECT_GT(a.total_hi, 0);
}

// Rows added in one call give the brute-force evidence for few and many
// cells, with cells, with a mask only and with neither, for values that
// round at halves, saturate (huge and infinite), are negative, zero or
// missing, or rise row after row (every row enters the largest); a cell out
// of range is refused with its row. Grids of up to 16 cells keep the
// kernel's sums in registers, larger ones in lane tables; every
// instruction set's variant is run, and rows come in one call or three.
static void rows_equal_brute_force()
{
    std::mt19937_64 rng(31);
    double rise = 0;
    bool huge = true;
    auto value = [&]() -> double {
        uint64_t r = rng(), k = r % 40;
        if (!huge && (k == 1 || k == 2))
            k = 20; // nothing of 2^47 or more in fixed point: lane sums hold
        if (k >= 30)
            return rise += 1.0 / 1024;
        if (k == 0)
            return NAN;
        if (k == 1)
            return (r & 64) ? INFINITY : -INFINITY;
        if (k == 2) // 2^50 to 2^92 in fixed point (saturating past 2^63)
            return (r & 64 ? 1 : -1) * std::ldexp(1.0, 30 + static_cast<int>(r % 43));
        if (k == 3)
            return -0.0;
        if (k < 6)
            return -static_cast<double>(r % 1000) / 1048576.0 - 0.5 / 1048576.0;
        return std::ldexp(static_cast<double>(huge ? r >> 20 : r >> 38), -static_cast<int>(r % 48));
    };
    for (int64_t n : {1, 7, 511, 512, 513, 3000, 70001}) {
        huge = n != 70001 && n != 513; // moderate values: the kernel's fast totals
        for (int64_t used : {1, 3, 8}) {
            std::vector<double> v(static_cast<size_t>(n));
            std::vector<int32_t> cell(static_cast<size_t>(n));
            std::vector<uint8_t> mask(static_cast<size_t>(n));
            for (int64_t i = 0; i < n; i++) {
                v[static_cast<size_t>(i)] = value();
                cell[static_cast<size_t>(i)] =
                    static_cast<int32_t>(static_cast<int64_t>(rng() % static_cast<uint64_t>(used + 1)) - 1);
                mask[static_cast<size_t>(i)] = cell[static_cast<size_t>(i)] >= 0;
            }
            for (int64_t ncells : {used, used + 9, used + 40}) {
                std::vector<sl_dominance> got(static_cast<size_t>(ncells), sl_dominance{});
                ASSERT_EQ(sl_dominance_add_rows(v.data(), cell.data(), nullptr, n, ncells,
                                                got.data()),
                          SL_OK);
                // the same rows in three calls, as chunks: each call's
                // largest start from what the calls before left
                std::vector<sl_dominance> pieces(static_cast<size_t>(ncells), sl_dominance{});
                const int64_t cut[4] = {0, n / 3, n / 3 + n / 5, n};
                for (int k = 0; k < 3; k++)
                    ASSERT_EQ(sl_dominance_add_rows(v.data() + cut[k], cell.data() + cut[k],
                                                    nullptr, cut[k + 1] - cut[k], ncells,
                                                    pieces.data()),
                              SL_OK);
                for (int64_t c = 0; c < ncells; c++) {
                    std::vector<int64_t> x;
                    for (int64_t i = 0; i < n; i++)
                        if (cell[static_cast<size_t>(i)] == c && !std::isnan(v[static_cast<size_t>(i)]))
                            x.push_back(sl_fixed_from_double(v[static_cast<size_t>(i)]));
                    expect_evidence(got[static_cast<size_t>(c)], x);
                    expect_evidence(pieces[static_cast<size_t>(c)], x);
                }
                std::vector<sl_dominance> masked(static_cast<size_t>(ncells), sl_dominance{}),
                    all(static_cast<size_t>(ncells), sl_dominance{});
                ASSERT_EQ(sl_dominance_add_rows(v.data(), nullptr, mask.data(), n, ncells,
                                                masked.data()),
                          SL_OK);
                ASSERT_EQ(sl_dominance_add_rows(v.data(), nullptr, nullptr, n, ncells,
                                                all.data()),
                          SL_OK);
                std::vector<int64_t> xm, xa;
                for (int64_t i = 0; i < n; i++) {
                    if (std::isnan(v[static_cast<size_t>(i)]))
                        continue;
                    xa.push_back(sl_fixed_from_double(v[static_cast<size_t>(i)]));
                    if (mask[static_cast<size_t>(i)])
                        xm.push_back(xa.back());
                }
                expect_evidence(masked[0], xm);
                expect_evidence(all[0], xa);
            }
        }
    }
    // thousands of contributions of 2^60 in one cell: only 128 bits hold
    // their total, on the few-cell and the many-cell path
    for (int64_t ncells : {2, 20}) {
        std::vector<double> v(5000, std::ldexp(1.0, 40));
        std::vector<int32_t> cell(5000, 1);
        std::vector<sl_dominance> got(static_cast<size_t>(ncells), sl_dominance{});
        ASSERT_EQ(sl_dominance_add_rows(v.data(), cell.data(), nullptr, 5000, ncells, got.data()),
                  SL_OK);
        expect_evidence(got[1], std::vector<int64_t>(5000, int64_t{1} << 60));
    }
    // a cell out of range is refused, with its row
    std::vector<double> v(600, 1.0);
    std::vector<int32_t> cell(600, 0);
    cell[550] = 3;
    for (int64_t ncells : {3, 12}) {
        std::vector<sl_dominance> d(static_cast<size_t>(ncells), sl_dominance{});
        cell[550] = static_cast<int32_t>(ncells);
        EXPECT_EQ(sl_dominance_add_rows(v.data(), cell.data(), nullptr, 600, ncells, d.data()),
                  SL_ERR_INTERNAL);
        EXPECT_NE(std::string(sl_error_message()).find("row 550"), std::string::npos)
            << sl_error_message();
    }
}

TEST(Dominance, RowsEqualBruteForce)
{
    enum sl_cpu_isa best = sl_cpu_isa_best();
    for (enum sl_cpu_isa isa : {SL_CPU_ISA_GENERIC, SL_CPU_ISA_AVX2, SL_CPU_ISA_AVX512}) {
        if (sl_cpu_isa_select(isa) != SL_OK)
            continue;
        SCOPED_TRACE(sl_cpu_isa_name(isa));
        rows_equal_brute_force();
    }
    ASSERT_EQ(sl_cpu_isa_select(best), SL_OK);
}

// The same evidence from rows with explicit cells, from a moments pass over
// a grouped and filtered frame, and from the frame's cell values; reduced
// over simulated ranks holding one chunk each and mapped to published cells.
TEST(Dominance, ReducedAcrossRanksEqualsBruteForce)
{
    const int size = 3;
    const double v[size][4] = {
        {1.5, NAN, -0.25, 7.0}, {2.0, 2.0, 100.0, 3.0}, {NAN, 0.5, 9.0, 1.0}};
    const int32_t code[size][4] = {{0, 1, 1, 0}, {1, 0, 0, 1}, {0, 0, 1, 1}};
    const uint8_t keep[size][4] = {{1, 1, 1, 1}, {1, 1, 0, 1}, {1, 1, 1, 1}};
    const int32_t cellv[size][4] = {{0, 1, 1, 0}, {1, 0, -1, 1}, {0, 0, 1, 1}};
    std::vector<std::vector<sl_secbuf *>> bufs(size, std::vector<sl_secbuf *>(2));
    std::vector<int> cols = {0, 1};
    std::vector<std::vector<int64_t>> idx(size), row0(size);
    std::vector<sl_frame> frames(size);
    for (int r = 0; r < size; r++) {
        size_t ur = static_cast<size_t>(r);
        ASSERT_EQ(sl_secbuf_create(sizeof v[r], &bufs[ur][0]), SL_OK);
        ASSERT_EQ(sl_secbuf_create(sizeof code[r], &bufs[ur][1]), SL_OK);
        std::memcpy(bufs[ur][0]->data, v[r], sizeof v[r]);
        std::memcpy(bufs[ur][1]->data, code[r], sizeof code[r]);
        idx[ur] = {r};
        row0[ur] = {0, 4};
        frames[ur] = sl_frame{4, 2, cols.data(), bufs[ur].data(), 1, idx[ur].data(),
                              row0[ur].data()};
    }
    // One dimension of 2 levels (+ missing, unused), with a Total.
    sl_grouping g{};
    g.ndims = 1;
    g.cols[0] = 1;
    g.nlevels[0] = 2;
    g.names[0] = "g";
    g.ncells = 3;
    int64_t nfull[3] = {1, 1, 0};
    sl_layout lay;
    sl_layout_init(&lay, &g, nfull, 1);
    ASSERT_EQ(lay.ncells, 3);
    std::vector<std::vector<sl_dominance>> rows(size), pass(size), scan(size);
    ThreadRanks ranks(size);
    ranks.run([&](int r, const sl_reducer &red) {
        size_t ur = static_cast<size_t>(r);
        sl_measure m{0, SL_COL_REAL, "v", NAN, NAN};
        std::vector<sl_dominance> f1(3, sl_dominance{}), f2(3, sl_dominance{}),
            f3(3, sl_dominance{});
        sl_backend *b = nullptr;
        ASSERT_EQ(sl_backend_get("cpu", &b), SL_OK);
        ASSERT_EQ(sl_dominance_add_rows(v[r], cellv[r], nullptr, 4, 3, f1.data()), SL_OK);
        sl_moment_records rec{nullptr, 0, 0};
        ASSERT_EQ(sl_moments_by_chunk(b, &frames[ur], &g, keep[r], &m, 1, f2.data(), &rec), SL_OK);
        sl_moment_records_clear(&rec);
        sl_cell_values *s = nullptr;
        ASSERT_EQ(sl_cell_values_create(&frames[ur], &g, keep[r], &m, &s), SL_OK);
        ASSERT_EQ(sl_dominance_from_values(s, f3.data()), SL_OK);
        sl_cell_values_destroy(&s);
        std::vector<sl_dominance> *from[3] = {&f1, &f2, &f3}, *to[3] = {&rows[ur], &pass[ur],
                                                                        &scan[ur]};
        for (int i = 0; i < 3; i++) {
            to[i]->assign(3, sl_dominance{});
            ASSERT_EQ(sl_dominance_reduce(&red, from[i]->data(), &lay, to[i]->data()), SL_OK);
        }
    });
    auto fx = [](double d) { return sl_fixed_from_double(d); };
    std::vector<int64_t> c0 = {fx(1.5), fx(7.0), fx(2.0), fx(0.5)};
    std::vector<int64_t> c1 = {fx(-0.25), fx(2.0), fx(3.0), fx(9.0), fx(1.0)};
    std::vector<int64_t> all = c0;
    all.insert(all.end(), c1.begin(), c1.end());
    for (int r = 0; r < size; r++)
        for (const auto *res : {&rows[static_cast<size_t>(r)], &pass[static_cast<size_t>(r)],
                                &scan[static_cast<size_t>(r)]}) {
            expect_evidence((*res)[0], c0);
            expect_evidence((*res)[1], c1);
            expect_evidence((*res)[2], all);
        }
    uint8_t bad_cell_mask[1] = {1};
    int32_t bad_cell[1] = {5};
    sl_dominance d[3] = {};
    EXPECT_EQ(sl_dominance_add_rows(v[0], bad_cell, bad_cell_mask, 1, 3, d), SL_ERR_INTERNAL);
    for (auto &fb : bufs)
        for (sl_secbuf *b : fb)
            sl_secbuf_destroy(&b);
}

}  // namespace
