// Exact order statistics (jobs/select.c: brackets from a sample, radix
// selection among their candidates or over all rows) against a plain sort:
// many cells (narrower digits), published cells made of several full-grid
// cells, heavy ties (a child node that takes all of its parent's values;
// brackets of one value), signed zeros, infinities, missing values and
// dropped rows, a frame without grouping columns, a sample unlike the other
// rows, overlapping brackets; the same bits on 1 to 3 threads, on 1 to 4 ranks simulated by
// threads and with every instruction set's bracket pass.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#include "stats_test_util.hh"
#include "tests/unit/kernels/kernel_test.hh"

extern "C" {
#include "engine/core/parallel.h"
#include "jobs/cellstats.h"
#include "jobs/dominance.h"
#include "kernels/cpu/cpu_impl.h"
}

using namespace sltest;

namespace {

uint64_t total_key(double v)
{
    uint64_t k;
    std::memcpy(&k, &v, sizeof k);
    return (k >> 63) ? ~k : k | (uint64_t{1} << 63);
}

struct Case {
    std::vector<double> v;
    std::vector<int32_t> cell; // empty: no grouping column, rows kept by `mask`
    std::vector<uint8_t> mask;
    int64_t ncells = 1;
    std::vector<int64_t> mstart, members; // published cells
    std::vector<int64_t> qcell, qrank, qcount; // qcount: the cell's values
    std::vector<double> expect;
};

double draw(std::mt19937_64 &rng, int kind)
{
    std::normal_distribution<double> normal(0.0, 1e3);
    uint64_t u = rng() % 100;
    if (u < 2)
        return NAN; // missing
    switch (kind) {
    case 0:
        return static_cast<double>(rng() % 21); // integers, many ties
    case 1:
        return normal(rng);
    default:
        // nine in ten share one value; signed zeros and infinities
        if (u < 90)
            return 5.0;
        if (u < 93)
            return -0.0;
        if (u < 96)
            return 0.0;
        return u < 98 ? INFINITY : -INFINITY;
    }
}

// Queries ranks(m) of every published cell of c (m: its values), with the
// expected answers from sorting.
void add_queries(Case &c, const std::function<std::vector<int64_t>(int64_t)> &ranks)
{
    for (size_t p = 0; p + 1 < c.mstart.size(); p++) {
        std::vector<uint64_t> keys;
        for (int64_t j = c.mstart[p]; j < c.mstart[p + 1]; j++)
            for (size_t r = 0; r < c.v.size(); r++) {
                int64_t cell = !c.cell.empty() ? c.cell[r] : (c.mask[r] ? 0 : -1);
                if (cell == c.members[static_cast<size_t>(j)] && !std::isnan(c.v[r]))
                    keys.push_back(total_key(c.v[r]));
            }
        std::sort(keys.begin(), keys.end());
        int64_t m = static_cast<int64_t>(keys.size());
        if (m == 0)
            continue;
        for (int64_t rank : ranks(m)) {
            uint64_t k = keys[static_cast<size_t>(rank)];
            k = (k >> 63) ? k & ~(uint64_t{1} << 63) : ~k;
            double x;
            std::memcpy(&x, &k, sizeof x);
            c.qcell.push_back(static_cast<int64_t>(p));
            c.qrank.push_back(rank);
            c.qcount.push_back(m);
            c.expect.push_back(x);
        }
    }
}

// Rows in `ncells` full-grid cells (with_cells) or one cell under a mask;
// published cells: every full-grid cell, blocks of ten, and all of them.
// Queries: both ends, the quartiles and two random ranks of every published
// cell with values; expected answers from sorting.
Case make_case(int64_t n, int64_t ncells, bool with_cells, uint64_t seed)
{
    Case c;
    std::mt19937_64 rng(seed);
    c.ncells = ncells;
    for (int64_t r = 0; r < n; r++) {
        int64_t cell = static_cast<int64_t>(rng() % static_cast<uint64_t>(ncells + 1)) - 1;
        c.v.push_back(draw(rng, static_cast<int>((cell < 0 ? 0 : cell) % 3)));
        if (with_cells)
            c.cell.push_back(static_cast<int32_t>(cell));
        else
            c.mask.push_back(cell >= 0 ? 1 : 0);
    }
    std::vector<std::vector<int64_t>> pub;
    for (int64_t k = 0; k < ncells; k++)
        pub.push_back({k});
    for (int64_t k = 0; k + 10 <= ncells; k += 10) {
        std::vector<int64_t> block;
        for (int64_t j = 0; j < 10; j++)
            block.push_back(k + j);
        pub.push_back(block);
    }
    if (ncells > 1) {
        std::vector<int64_t> everything;
        for (int64_t k = 0; k < ncells; k++)
            everything.push_back(k);
        pub.push_back(everything);
    }
    c.mstart.push_back(0);
    for (const std::vector<int64_t> &cells : pub) {
        c.members.insert(c.members.end(), cells.begin(), cells.end());
        c.mstart.push_back(static_cast<int64_t>(c.members.size()));
    }
    add_queries(c, [&](int64_t m) -> std::vector<int64_t> {
        return {0, m - 1, m / 2, m / 4, 3 * m / 4,
                static_cast<int64_t>(rng() % static_cast<uint64_t>(m)),
                static_cast<int64_t>(rng() % static_cast<uint64_t>(m))};
    });
    return c;
}

// The rows [r0, r1) of a case as one rank's cell values.
sl_cell_values view(const Case &c, int64_t r0, int64_t r1)
{
    sl_cell_values s{};
    s.v = c.v.data() + r0;
    s.cell = c.cell.empty() ? nullptr : c.cell.data() + r0;
    s.mask = c.mask.empty() ? nullptr : c.mask.data() + r0;
    s.nrows = r1 - r0;
    s.ncells = c.ncells;
    return s;
}

std::vector<double> select_ranks(const Case &c, int size)
{
    int64_t n = static_cast<int64_t>(c.v.size()), nq = static_cast<int64_t>(c.qcell.size());
    std::vector<std::vector<double>> got(static_cast<size_t>(size));
    ThreadRanks ranks(size);
    ranks.run([&](int r, const sl_reducer &red) {
        sl_cell_values s = view(c, n * r / size, n * (r + 1) / size);
        std::vector<double> &out = got[static_cast<size_t>(r)];
        out.assign(static_cast<size_t>(nq), 0.0);
        EXPECT_EQ(sl_select_exact(&red, &s, c.mstart.data(), c.members.data(), nq,
                                  c.qcell.data(), c.qrank.data(), c.qcount.data(), nullptr, out.data()),
                  SL_OK)
            << sl_error_message();
    });
    for (int r = 1; r < size; r++)
        EXPECT_TRUE(same_bits(got[0].data(), got[static_cast<size_t>(r)].data(),
                              static_cast<size_t>(nq)))
            << "rank " << r << " of " << size;
    return got[0];
}

void expect_exact(const Case &c)
{
    ASSERT_FALSE(c.expect.empty());
    enum sl_cpu_isa best = sl_cpu_isa_best();
    // every instruction set: grids of up to 32 cells take the bracket kernel
    for (enum sl_cpu_isa isa : {SL_CPU_ISA_GENERIC, SL_CPU_ISA_AVX2, SL_CPU_ISA_AVX512}) {
        if (sl_cpu_isa_select(isa) != SL_OK)
            continue;
        for (int threads : {1, 2, 3}) {
            Threads t(threads);
            for (int size : {1, 2, 4}) {
                std::vector<double> got = select_ranks(c, size);
                ASSERT_EQ(got.size(), c.expect.size());
                EXPECT_TRUE(same_bits(got.data(), c.expect.data(), got.size()))
                    << sl_cpu_isa_name(isa) << ", " << threads << " threads, " << size
                    << " ranks";
                for (size_t i = 0; i < got.size() && i < 1000; i++)
                    ASSERT_EQ(total_key(got[i]), total_key(c.expect[i]))
                        << "query " << i << " (cell " << c.qcell[i] << ", rank " << c.qrank[i]
                        << "), " << sl_cpu_isa_name(isa) << ", " << threads << " threads, "
                        << size << " ranks";
            }
        }
    }
    ASSERT_EQ(sl_cpu_isa_select(best), SL_OK);
}

} // namespace

TEST(Select, ManyCellsNarrowDigitsAndBlocksOfCells)
{
    // 150 full-grid cells: the first round counts fewer than 12 bits.
    expect_exact(make_case(60000, 150, true, 11));
}

TEST(Select, FewLargeCellsWithHeavyTies)
{
    expect_exact(make_case(200000, 3, true, 12));
}

TEST(Select, SixteenCellsOneKernelPass)
{
    // the most cells of the kernel's two-register tables, with blocks of
    // ten published
    expect_exact(make_case(120000, 16, true, 18));
}

TEST(Select, ThirtyTwoCellsOneKernelPass)
{
    // past 16 cells the kernel's tables take two permutes and a blend; 32
    // is the most it takes
    expect_exact(make_case(120000, 30, true, 23));
    expect_exact(make_case(120000, 32, true, 24));
}

TEST(Select, NoGroupingColumnRowsKeptByMask)
{
    expect_exact(make_case(50000, 1, false, 13));
}

// The cells' sizes as the caller gives them only steer the brackets: sizes
// far off (most brackets miss), none (0: estimated from the sample) or
// exact, the answers are the same.
TEST(Select, CellSizesSteerTheBracketsOnly)
{
    for (int hint : {0, 1, 2, 3}) {
        Case c = make_case(300000, 12, true, 19);
        for (int64_t &n : c.qcount)
            n = hint == 0 ? 0 : hint == 1 ? n / 3 + 1 : hint == 2 ? 3 * n : n;
        expect_exact(c);
    }
}

TEST(Select, LargeCellsSampledEveryFewRows)
{
    // 300000 rows: every rank samples every 2nd to 5th row, so the brackets
    // come from a sample and most answers from the candidates in them.
    expect_exact(make_case(300000, 3, true, 16));
}

// The sampled rows (every 4th on one rank) hold distinct values while all
// other rows share one value inside their brackets: the sample misjudges
// both where the answers are (some brackets miss: radix over all rows) and
// how many rows a bracket holds (a worker runs out of room for candidates
// and copies its slice again). Answers stay exact on every rank layout.
TEST(Select, SampleUnlikeTheOtherRows)
{
    const int64_t n = 200000;
    Case c;
    c.ncells = 2;
    for (int64_t r = 0; r < n; r++) {
        c.v.push_back(r % 4 == 0 ? static_cast<double>(r) : 100000.5);
        c.cell.push_back(static_cast<int32_t>((r / 8) % 2));
    }
    c.mstart = {0, 1, 2, 4};
    c.members = {0, 1, 0, 1};
    add_queries(c, [](int64_t m) -> std::vector<int64_t> {
        return {0, m / 10, m / 4, m / 2, 3 * m / 4, m - 2, m - 1};
    });
    expect_exact(c);
}

// 40 cells, each queried at its quartiles only: at most 8 bounds a cell,
// the padded compares of the plain bracket pass.
TEST(Select, ManyCellsFewBoundsEach)
{
    Case c;
    std::mt19937_64 rng(21);
    c.ncells = 40;
    c.mstart.push_back(0);
    for (int64_t k = 0; k < c.ncells; k++) {
        c.members.push_back(k);
        c.mstart.push_back(k + 1);
    }
    for (int64_t r = 0; r < 400000; r++) {
        int64_t cell = static_cast<int64_t>(rng() % 41) - 1;
        c.v.push_back(draw(rng, static_cast<int>((cell < 0 ? 0 : cell) % 3)));
        c.cell.push_back(static_cast<int32_t>(cell));
    }
    add_queries(c, [](int64_t m) -> std::vector<int64_t> { return {m / 4, m / 2, 3 * m / 4}; });
    expect_exact(c);
}

// Among cells of 60000 rows, one of 200 rows (a few sampled values: its
// brackets open on one side or both) and one of a single row (most likely
// not sampled at all: its bracket is the whole cell).
TEST(Select, SmallCellsAmongLargeOnes)
{
    Case c;
    std::mt19937_64 rng(20);
    c.ncells = 5;
    for (int64_t r = 0; r < 180201; r++) {
        c.v.push_back(draw(rng, static_cast<int>(r % 3)));
        c.cell.push_back(r == 90001 ? 4 : r % 900 == 7 ? 3 : static_cast<int32_t>(r % 3));
    }
    c.v[90001] = 42.5;
    c.mstart = {0, 1, 2, 3, 4, 5, 10};
    c.members = {0, 1, 2, 3, 4, 0, 1, 2, 3, 4};
    add_queries(c, [](int64_t m) -> std::vector<int64_t> {
        return {0, m / 4, m / 2, 3 * m / 4, m - 1};
    });
    expect_exact(c);
}

// Brackets in sample ranks before they become keys: those of one published
// cell that overlap (or touch at a rank) become their union, open sides
// included; other cells' and unsampled cells' brackets stay as they are.
TEST(Select, OverlappingRankSpansOfACellBecomeTheirUnion)
{
    std::vector<sl_rank_span> sp = {
        {0, 10, 20, 100, 0}, {0, 15, 25, 100, 1}, {0, 30, 40, 100, 2}, {0, 40, 45, 100, 3},
        {0, -1, 5, 100, 4},  {1, 10, 20, 50, 5},  {2, 0, 0, 0, 6},     {2, 0, 0, 0, 7},
        {3, 95, 100, 100, 8}, {3, 90, 97, 100, 9}};
    sl_rank_spans_merge(sp.data(), static_cast<int64_t>(sp.size()));
    std::vector<std::array<int64_t, 2>> got(sp.size());
    for (const sl_rank_span &x : sp)
        got[static_cast<size_t>(x.query)] = {x.lo, x.hi};
    const std::vector<std::array<int64_t, 2>> want = {{10, 25}, {10, 25}, {30, 45}, {30, 45},
                                                      {-1, 5},  {10, 20}, {0, 0},   {0, 0},
                                                      {90, 100}, {90, 100}};
    EXPECT_EQ(got, want);
    for (size_t k = 1; k < sp.size(); k++)
        EXPECT_TRUE(sp[k - 1].cell < sp[k].cell ||
                    (sp[k - 1].cell == sp[k].cell && sp[k - 1].lo <= sp[k].lo))
            << "sorted by cell and lower end at " << k;
}

// Type 7 asks for two neighbouring ranks, and close probabilities ask for
// nearby ones: their brackets overlap and are merged into one, also where
// a side is open (ranks next to the ends, a cell of 300 rows), with 3 cells
// (the bracket kernel) and with 24 (the plain pass). The answers stay
// exact (any bracket gives exact answers; the merge itself is checked on
// sl_rank_spans_merge above).
TEST(Select, OverlappingBracketsStayExact)
{
    for (int64_t ncells : {3, 24}) {
        Case c;
        std::mt19937_64 rng(22);
        std::normal_distribution<double> normal(120.0, 15.0);
        c.ncells = ncells;
        c.mstart.push_back(0);
        for (int64_t k = 0; k < ncells; k++) {
            c.members.push_back(k);
            c.mstart.push_back(k + 1);
        }
        for (int64_t r = 0; r < 240000; r++) {
            int64_t cell = r % 800 == 5 ? ncells - 1 : static_cast<int64_t>(rng() % 2);
            c.v.push_back(rng() % 20 == 0 ? NAN : normal(rng));
            c.cell.push_back(static_cast<int32_t>(cell));
        }
        add_queries(c, [](int64_t m) -> std::vector<int64_t> {
            return {m / 2, m / 2 + 1, m / 4, m / 4 + 1, m / 4 + m / 100, 3 * m / 4,
                    3 * m / 4 + 1, 0, 1, 2, m - 3, m - 2, m - 1};
        });
        expect_exact(c);
    }
}

TEST(Select, RanksWithoutRows)
{
    // 3 rows on up to 4 ranks: some ranks hold nothing, sample nothing and
    // copy nothing, and still take part in every reduction.
    expect_exact(make_case(3, 2, true, 17));
}

TEST(Select, RefusesARankBeyondTheCell)
{
    Case c = make_case(1000, 3, true, 14);
    sl_cell_values s = view(c, 0, static_cast<int64_t>(c.v.size()));
    sl_reducer red;
    sl_reducer_single(&red);
    int64_t qcell = 0, qrank = 1000, qcount = 1000;
    double out = 0;
    EXPECT_EQ(sl_select_exact(&red, &s, c.mstart.data(), c.members.data(), 1, &qcell, &qrank,
                              &qcount, nullptr, &out),
              SL_ERR_INTERNAL);
    EXPECT_NE(std::string(sl_error_message()).find("order statistic 1000"), std::string::npos)
        << sl_error_message();
}

TEST(Select, RefusesACellOutsideTheGrid)
{
    Case c = make_case(1000, 3, true, 15);
    c.cell[500] = 3;
    sl_cell_values s = view(c, 0, static_cast<int64_t>(c.v.size()));
    sl_reducer red;
    sl_reducer_single(&red);
    double out = 0;
    EXPECT_EQ(sl_select_exact(&red, &s, c.mstart.data(), c.members.data(), 1, c.qcell.data(),
                              c.qrank.data(), c.qcount.data(), nullptr, &out),
              SL_ERR_INTERNAL);
    EXPECT_NE(std::string(sl_error_message()).find("row 500"), std::string::npos)
        << sl_error_message();
}

namespace {

// Counts the visits of every row; flags a worker index out of range.
struct Visits {
    std::vector<int> times;
    int bad_worker = 0;
};

void count_visit(void *ctx, int worker, int64_t r0, int64_t r1)
{
    Visits *v = static_cast<Visits *>(ctx);
    if (worker < 0 || worker >= sl_max_threads())
        v->bad_worker = 1;
    for (int64_t r = r0; r < r1; r++)
        v->times[static_cast<size_t>(r)]++;
}

} // namespace

// A row visitor sees every row once during the selection: with the bracket
// kernel (3 cells) and without it (40 cells), with queries and without any,
// on 1 to 3 threads, with rows that span several blocks per worker.
TEST(Select, VisitorSeesEveryRowOnce)
{
    for (int64_t ncells : {3, 40})
        for (bool queries : {true, false})
            for (int threads : {1, 2, 3}) {
                Threads t(threads);
                Case c = make_case(200003, ncells, true, 21);
                sl_cell_values s = view(c, 0, static_cast<int64_t>(c.v.size()));
                sl_reducer red;
                sl_reducer_single(&red);
                Visits v;
                v.times.assign(c.v.size(), 0);
                sl_row_visitor visit = {count_visit, &v};
                int64_t nq = queries ? static_cast<int64_t>(c.qcell.size()) : 0;
                std::vector<double> out(c.qcell.size());
                ASSERT_EQ(sl_select_exact(&red, &s, c.mstart.data(), c.members.data(), nq,
                                          c.qcell.data(), c.qrank.data(), c.qcount.data(), &visit,
                                          out.data()),
                          SL_OK)
                    << sl_error_message();
                EXPECT_EQ(v.bad_worker, 0);
                size_t wrong = 0;
                for (int k : v.times)
                    wrong += k != 1;
                EXPECT_EQ(wrong, 0u) << ncells << " cells, queries " << queries << ", "
                                     << threads << " threads";
                if (queries) {
                    EXPECT_TRUE(same_bits(out.data(), c.expect.data(), out.size()));
                }
            }
}

// describe's dominance evidence, gathered while the selection reads the
// rows, equals the evidence of the rows added in one call.
TEST(Select, DominanceEvidenceRidesOnTheSelection)
{
    for (int64_t ncells : {3, 40}) {
        Case c = make_case(150001, ncells, true, 22);
        for (size_t r = 0; r < c.v.size(); r += 97)
            c.v[r] = -c.v[r] * 1e9; // negatives and values past the lanes' exact range
        sl_cell_values s = view(c, 0, static_cast<int64_t>(c.v.size()));
        sl_reducer red;
        sl_reducer_single(&red);
        std::vector<sl_dominance> got(static_cast<size_t>(ncells), sl_dominance{}),
            want(static_cast<size_t>(ncells), sl_dominance{});
        sl_dominance_pass *dp = nullptr;
        sl_row_visitor visit;
        std::vector<double> out(c.qcell.size());
        ASSERT_EQ(sl_dominance_pass_begin(&s, &dp, &visit), SL_OK);
        ASSERT_EQ(sl_select_exact(&red, &s, c.mstart.data(), c.members.data(),
                                  static_cast<int64_t>(c.qcell.size()), c.qcell.data(),
                                  c.qrank.data(), c.qcount.data(), &visit, out.data()),
                  SL_OK);
        ASSERT_EQ(sl_dominance_pass_end(&dp, got.data()), SL_OK);
        EXPECT_EQ(dp, nullptr);
        ASSERT_EQ(sl_dominance_add_rows(c.v.data(), c.cell.data(), nullptr,
                                        static_cast<int64_t>(c.v.size()), ncells, want.data()),
                  SL_OK);
        for (size_t k = 0; k < got.size(); k++) {
            const sl_dominance &g = got[k], &w = want[k];
            EXPECT_EQ(g.ncontrib, w.ncontrib) << "cell " << k << " of " << ncells;
            EXPECT_EQ(g.total_hi, w.total_hi) << "cell " << k << " of " << ncells;
            EXPECT_EQ(g.total_lo, w.total_lo) << "cell " << k << " of " << ncells;
            EXPECT_EQ(g.has_negative, w.has_negative) << "cell " << k << " of " << ncells;
            for (int i = 0; i < SL_DOM_TOP && i < w.ncontrib; i++)
                EXPECT_EQ(g.top[i], w.top[i]) << "cell " << k << " of " << ncells;
        }
    }
}
