// Per-cell statistics across ranks: R type-7 quantiles on tied and untied
// data, exact order statistics by distributed bisection, the per-chunk
// moments fold, layouts with margins, and bit-identical results whatever the
// number of (simulated) ranks, checked against values computed directly from
// the fixture's formulas.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <mutex>
#include <random>
#include <vector>

#include "stats_test_util.hh"
#include "tests/unit/io/fixture_values.hh"

extern "C" {
#include "jobs/chunkpass.h"
#include "jobs/dominance.h"
#include "kernels/kernel.h"
}

using namespace sltest;

namespace {

std::vector<double> parse_all(const char *text)
{
    std::vector<double> out;
    char *end = nullptr;
    for (const char *p = text;; p = end) {
        double v = std::strtod(p, &end);
        if (end == p)
            break;
        out.push_back(v);
    }
    return out;
}

const double kProbs[] = {0, 0.1, 0.25, 1.0 / 3, 0.5, 0.75, 0.9, 0.99, 1};

// Data sets and R 4's quantile(x, kProbs, type = 7) printed with %.17g.
struct RCase {
    const char *name;
    std::vector<double> x;
    const char *r;
};

std::vector<RCase> r_cases()
{
    return {
        {"untied", {3.1, -2.5, 7.25, 0.1, 9.9, 4.4, -0.3, 12.0, 5.5, 1.0, 2.2},
         "-2.5 -0.29999999999999999 0.55000000000000004 1.3999999999999997 3.1000000000000001 "
         "6.375 9.9000000000000004 11.790000000000001 12"},
        {"tied", {1, 1, 1, 2, 2, 3, 3, 3, 3, 7, 7, 10},
         "1 1 1.75 2 3 4 7 9.6700000000000017 10"},
        {"mixed", {-1e300, 1e-300, 0.1, 0.2, 0.3, 1.0 / 3, 2.0 / 3, 0.1, 0.3},
         "-1.0000000000000001e+300 -1.9999999999999997e+299 0.10000000000000001 "
         "0.10000000000000001 0.20000000000000001 0.29999999999999999 0.39999999999999974 "
         "0.64000000000000001 0.66666666666666663"},
        {"two", {0.1, 0.7},
         "0.10000000000000001 0.16000000000000006 0.25 0.29999999999999993 0.39999999999999997 "
         "0.54999999999999993 0.6399999999999999 0.69399999999999995 0.69999999999999996"},
        {"one", {42.5}, "42.5 42.5 42.5 42.5 42.5 42.5 42.5 42.5 42.5"},
    };
}

// Type 7 from two order statistics, as the analyses compute it.
double type7(const std::vector<double> &sorted, double p)
{
    int64_t lo, hi, n = static_cast<int64_t>(sorted.size());
    sl_type7_order(n, p, &lo, &hi);
    return sl_type7_value(n, p, sorted[static_cast<size_t>(lo)], sorted[static_cast<size_t>(hi)]);
}

TEST(Type7, EqualsRTiedAndUntied)
{
    for (const RCase &c : r_cases()) {
        std::vector<double> want = parse_all(c.r), x = c.x;
        ASSERT_EQ(want.size(), std::size(kProbs)) << c.name;
        std::sort(x.begin(), x.end());
        for (size_t j = 0; j < std::size(kProbs); j++) {
            double kernel = 0;
            EXPECT_EQ(type7(x, kProbs[j]), want[j]) << c.name << " p=" << kProbs[j];
            ASSERT_EQ(sl_quantile_type7(x.data(), static_cast<int64_t>(x.size()), kProbs[j],
                                        &kernel),
                      SL_OK);
            EXPECT_EQ(kernel, want[j]) << c.name << " p=" << kProbs[j];
        }
    }
}

TEST(Type7, SameDoubleAsKernelOnRandomTies)
{
    std::mt19937_64 rng(11);
    for (int trial = 0; trial < 2000; trial++) {
        size_t n = 1 + rng() % 40;
        std::vector<double> x(n);
        for (double &v : x)
            v = static_cast<double>(static_cast<int>(rng() % 7)) * 0.3 - 0.9;
        std::sort(x.begin(), x.end());
        double p = static_cast<double>(rng() % 1001) / 1000.0, kernel = 0;
        ASSERT_EQ(sl_quantile_type7(x.data(), static_cast<int64_t>(n), p, &kernel), SL_OK);
        ASSERT_EQ(type7(x, p), kernel) << "n=" << n << " p=" << p;
    }
}

// ---- layouts ----

sl_grouping two_dims(int32_t la, int32_t lb)
{
    sl_grouping g{};
    g.ndims = 2;
    g.cols[0] = 0;
    g.cols[1] = 1;
    g.nlevels[0] = la;
    g.nlevels[1] = lb;
    g.names[0] = "a";
    g.names[1] = "b";
    g.ncells = (int64_t)(la + 1) * (lb + 1);
    return g;
}

TEST(Layout, MarginsCoverEveryLevelAndMissingOnlyWhenUsed)
{
    // a: 2 levels (+ missing), b: 3 levels (+ missing); only a's missing is used.
    sl_grouping g = two_dims(2, 3);
    std::vector<int64_t> n(static_cast<size_t>(g.ncells), 1);
    for (int64_t c = 0; c < g.ncells; c++)
        if (c % 4 == 3)
            n[static_cast<size_t>(c)] = 0; // b missing: nobody
    sl_layout lay;
    sl_layout_init(&lay, &g, n.data(), 1);
    EXPECT_EQ(lay.shown[0], 3);
    EXPECT_EQ(lay.shown[1], 3);
    EXPECT_EQ(lay.ncells, 4 * 4);
    std::vector<int64_t> pub(static_cast<size_t>(lay.ncells), 0);
    sl_layout_sum_i64(&lay, n.data(), 1, pub.data());
    // Inner cells hold 1, row and column totals 3, the grand total 9.
    for (int64_t i = 0; i < 4; i++)
        for (int64_t j = 0; j < 4; j++) {
            int64_t want = (i == 3 ? 3 : 1) * (j == 3 ? 3 : 1);
            EXPECT_EQ(pub[static_cast<size_t>(i * 4 + j)], want) << i << "," << j;
        }
    int64_t t[SL_LAYOUT_MAX_TARGETS];
    EXPECT_EQ(sl_layout_targets(&lay, 3, t), 0); // (a0, b missing) is dropped
    ASSERT_EQ(sl_layout_targets(&lay, 1 * 4 + 2, t), 4);
    EXPECT_EQ(std::vector<int64_t>(t, t + 4), (std::vector<int64_t>{6, 7, 14, 15}));

    int64_t *start = nullptr, *members = nullptr;
    ASSERT_EQ(sl_layout_members(&lay, &start, &members), SL_OK);
    EXPECT_EQ(start[lay.ncells], 9 + 3 * 3 + 3 * 3 + 9);
    for (int64_t p = 0; p < lay.ncells; p++)
        for (int64_t i = start[p] + 1; i < start[p + 1]; i++)
            EXPECT_LT(members[i - 1], members[i]) << "members of " << p << " ascending";
    EXPECT_EQ(start[16] - start[15], 9); // grand total covers all used cells
    sl_free(start);
    sl_free(members);

    sl_layout plain;
    sl_layout_init(&plain, &g, n.data(), 0);
    EXPECT_EQ(plain.ncells, 9);
    ASSERT_EQ(sl_layout_targets(&plain, 2 * 4 + 1, t), 1);
    EXPECT_EQ(t[0], 2 * 3 + 1);
}

TEST(Layout, NoDimensionsIsOneCell)
{
    sl_grouping g{};
    g.ncells = 1;
    int64_t n = 5, t[SL_LAYOUT_MAX_TARGETS], pub = 0;
    sl_layout lay;
    sl_layout_init(&lay, &g, &n, 1);
    EXPECT_EQ(lay.ncells, 1);
    ASSERT_EQ(sl_layout_targets(&lay, 0, t), 1);
    sl_layout_sum_i64(&lay, &n, 1, &pub);
    EXPECT_EQ(pub, 5);
}

// ---- the fixture, reduced on 1 to 6 simulated ranks ----

constexpr int kAge = 1, kBmi = 2, kSex = 3, kDate = 4;
const double kFixtureProbs[] = {0.5, 0.25, 0.75, 0.1, 0.9, 0, 1};
constexpr int kNProbs = 7;

// Rows the tests' filter keeps: age missing or at least 25, and not every
// 11th row.
bool keep_row(int64_t row)
{
    int64_t a = slfixture::age(row);
    return (a == INT64_MIN || a >= 25) && row % 11 != 5;
}

double fixture_value(int col, int64_t row)
{
    if (col == kAge) {
        int64_t a = slfixture::age(row);
        return a == INT64_MIN ? NAN : static_cast<double>(a);
    }
    if (col == kBmi)
        return slfixture::bmi(row);
    int32_t d = slfixture::dx_date(row);
    return d == INT32_MIN ? NAN : static_cast<double>(d);
}

struct Reduced {
    std::vector<int64_t> n;
    std::vector<sl_moments> mom;             // [measure][cell]
    std::vector<double> q;                   // [measure][cell][prob]
    std::vector<int64_t> at_min, at_max;     // [measure][cell]
    std::vector<int64_t> at_median, at_q1;   // [measure][cell]: not extremes
    std::vector<sl_dominance> dom_values;    // [measure][cell]
    std::vector<sl_dominance> dom_scan;      // [measure][cell]
};

const int kMeasures[] = {kBmi, kAge, kDate};

sl_grouping by_sex()
{
    sl_grouping g{};
    g.ndims = 1;
    g.cols[0] = kSex;
    g.nlevels[0] = 3;
    g.names[0] = "sex";
    g.ncells = 4;
    return g;
}

// What one rank computes; every rank ends with the same results.
void rank_work(const sl_frame *fr, const sl_reducer &red, Reduced &out)
{
    sl_backend *b = nullptr;
    ASSERT_EQ(sl_backend_get("cpu", &b), SL_OK);
    sl_grouping g = by_sex();
    std::vector<uint8_t> mask(static_cast<size_t>(fr->nrows));
    for (int64_t k = 0; k < fr->nchunks; k++)
        for (int64_t r = fr->chunk_row0[k]; r < fr->chunk_row0[k + 1]; r++)
            mask[static_cast<size_t>(r)] = keep_row(fr->chunk_index[k] * slfixture::kChunkRows +
                                                    (r - fr->chunk_row0[k]));
    std::vector<int64_t> nfull(4, 0);
    ASSERT_EQ(sl_count_by_chunk(b, fr, &g, mask.data(), nfull.data()), SL_OK);
    ASSERT_EQ(red.sum_i64(red.ctx, nfull.data(), 4), SL_OK);
    sl_layout lay;
    sl_layout_init(&lay, &g, nfull.data(), 1);
    ASSERT_EQ(lay.ncells, 5);
    out.n.assign(5, 0);
    sl_layout_sum_i64(&lay, nfull.data(), 1, out.n.data());

    const int nm = 3;
    sl_measure m[nm];
    for (int j = 0; j < nm; j++)
        m[j] = sl_measure{kMeasures[j], j == 0 ? SL_COL_REAL : j == 1 ? SL_COL_INT : SL_COL_DATE,
                          "m", NAN, NAN};
    sl_moment_records rec{nullptr, 0, 0}, all{nullptr, 0, 0};
    ASSERT_EQ(sl_moments_by_chunk(b, fr, &g, mask.data(), m, nm, nullptr, &rec), SL_OK);
    ASSERT_EQ(sl_moments_gather(&red, &rec, &all), SL_OK);
    sl_moment_records_clear(&rec);
    for (int j = 0; j < nm; j++) { // every measure's summaries count the cells' rows
        std::vector<int64_t> rows(4, 0);
        sl_moments_cell_rows(&all, j * 4, 4, rows.data());
        EXPECT_EQ(rows, nfull) << j;
    }
    out.mom.assign(static_cast<size_t>(nm * 5), sl_moments{});
    ASSERT_EQ(sl_moments_fold(all.v, all.count, &lay, nm, out.mom.data()), SL_OK);
    sl_moment_records_clear(&all);

    out.q.assign(static_cast<size_t>(nm * 5 * kNProbs), 0);
    out.at_min.assign(static_cast<size_t>(nm * 5), 0);
    out.at_max.assign(static_cast<size_t>(nm * 5), 0);
    out.at_median.assign(static_cast<size_t>(nm * 5), 0);
    out.at_q1.assign(static_cast<size_t>(nm * 5), 0);
    out.dom_values.assign(static_cast<size_t>(nm * 5), sl_dominance{});
    out.dom_scan.assign(static_cast<size_t>(nm * 5), sl_dominance{});
    // one cell index for every measure, as describe builds it; each view
    // equals the values built on their own
    sl_cell_values *base = nullptr;
    ASSERT_EQ(sl_cell_values_create(fr, &g, mask.data(), nullptr, &base), SL_OK);
    CellValues base_owner(base);
    EXPECT_EQ(base->v, nullptr);
    for (int j = 0; j < nm; j++) {
        sl_cell_values *s = nullptr, *alone = nullptr;
        ASSERT_EQ(sl_cell_values_with(base, fr, &m[j], &s), SL_OK);
        CellValues vals(s);
        ASSERT_EQ(sl_cell_values_create(fr, &g, mask.data(), &m[j], &alone), SL_OK);
        CellValues alone_owner(alone);
        EXPECT_EQ(s->cell, base->cell);
        ASSERT_EQ(s->nrows, alone->nrows);
        EXPECT_EQ(s->ncells, alone->ncells);
        EXPECT_EQ(std::memcmp(s->cell, alone->cell, static_cast<size_t>(s->nrows) * 4), 0);
        EXPECT_EQ(std::memcmp(s->v, alone->v, static_cast<size_t>(s->nrows) * 8), 0) << j;
        std::vector<int64_t> np(5);
        std::vector<double> mins(5), maxs(5), medians(5), q1s(5);
        for (int p = 0; p < 5; p++)
            np[static_cast<size_t>(p)] = out.mom[static_cast<size_t>(j * 5 + p)].n_present;
        ASSERT_EQ(sl_quantiles_exact(&red, s, &lay, np.data(), kNProbs, kFixtureProbs,
                                     nullptr, out.q.data() + j * 5 * kNProbs),
                  SL_OK)
            << sl_error_message();
        for (int p = 0; p < 5; p++) { // the quantiles at 0 and 1 are the extremes
            mins[static_cast<size_t>(p)] = out.q[static_cast<size_t>((j * 5 + p) * kNProbs + 5)];
            maxs[static_cast<size_t>(p)] = out.q[static_cast<size_t>((j * 5 + p) * kNProbs + 6)];
            medians[static_cast<size_t>(p)] = out.q[static_cast<size_t>((j * 5 + p) * kNProbs)];
            q1s[static_cast<size_t>(p)] = out.q[static_cast<size_t>((j * 5 + p) * kNProbs + 1)];
        }
        ASSERT_EQ(sl_count_extremes(&red, s, &lay, medians.data(), q1s.data(),
                                    out.at_median.data() + j * 5, out.at_q1.data() + j * 5),
                  SL_OK);
        ASSERT_EQ(sl_count_extremes(&red, s, &lay, mins.data(), maxs.data(),
                                    out.at_min.data() + j * 5, out.at_max.data() + j * 5),
                  SL_OK);
        std::vector<sl_dominance> full(4, sl_dominance{}), full2(4, sl_dominance{});
        ASSERT_EQ(sl_dominance_from_values(s, full.data()), SL_OK);
        ASSERT_EQ(sl_dominance_reduce(&red, full.data(), &lay, out.dom_values.data() + j * 5),
                  SL_OK);
        // The same evidence gathered during a moments pass.
        ASSERT_EQ(sl_moments_by_chunk(b, fr, &g, mask.data(), &m[j], 1, full2.data(), &rec),
                  SL_OK);
        sl_moment_records_clear(&rec);
        ASSERT_EQ(sl_dominance_reduce(&red, full2.data(), &lay, out.dom_scan.data() + j * 5),
                  SL_OK);
    }
}

Reduced run_ranks(sl_cohort *c, int size)
{
    std::vector<Frame> frames;
    for (int r = 0; r < size; r++)
        frames.push_back(load_rank(c, {kAge, kBmi, kSex, kDate}, r, size));
    std::vector<Reduced> res(static_cast<size_t>(size));
    ThreadRanks ranks(size);
    ranks.run([&](int r, const sl_reducer &red) {
        rank_work(frames[static_cast<size_t>(r)].get(), red, res[static_cast<size_t>(r)]);
    });
    for (int r = 1; r < size; r++) {
        EXPECT_EQ(0, std::memcmp(res[0].q.data(), res[static_cast<size_t>(r)].q.data(),
                                 res[0].q.size() * sizeof(double)))
            << "rank " << r << " of " << size << " disagrees";
    }
    return res[0];
}

template <typename T>
bool same_bytes(const std::vector<T> &a, const std::vector<T> &b)
{
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

class FixtureStats : public StatsTest {};

TEST_F(FixtureStats, IdenticalOnOneToSixRanks)
{
    Cohort c = open_fixture();
    ASSERT_TRUE(c);
    Reduced one = run_ranks(c.get(), 1);
    for (int size = 2; size <= 6; size++) {
        Reduced other = run_ranks(c.get(), size);
        EXPECT_EQ(one.n, other.n) << size;
        EXPECT_TRUE(same_bytes(one.mom, other.mom)) << "moments differ on " << size << " ranks";
        EXPECT_TRUE(same_bytes(one.q, other.q)) << "quantiles differ on " << size << " ranks";
        EXPECT_EQ(one.at_min, other.at_min) << size;
        EXPECT_EQ(one.at_max, other.at_max) << size;
        EXPECT_TRUE(same_bytes(one.dom_values, other.dom_values)) << size;
        EXPECT_TRUE(same_bytes(one.dom_scan, other.dom_scan)) << size;
    }
}

// OpenMP's thread count, when the build has OpenMP.
extern "C" void omp_set_num_threads(int) __attribute__((weak));
extern "C" int omp_get_max_threads(void) __attribute__((weak));

TEST_F(FixtureStats, IdenticalForAnyThreadCount)
{
    if (!omp_set_num_threads || !omp_get_max_threads)
        GTEST_SKIP() << "built without OpenMP";
    Cohort c = open_fixture();
    ASSERT_TRUE(c);
    int before = omp_get_max_threads();
    omp_set_num_threads(1);
    Reduced one = run_ranks(c.get(), 2);
    omp_set_num_threads(3);
    Reduced three = run_ranks(c.get(), 2);
    omp_set_num_threads(before);
    EXPECT_TRUE(same_bytes(one.mom, three.mom));
    EXPECT_TRUE(same_bytes(one.q, three.q));
    EXPECT_TRUE(same_bytes(one.dom_scan, three.dom_scan));
}

TEST_F(FixtureStats, MatchesDirectComputation)
{
    Cohort c = open_fixture();
    ASSERT_TRUE(c);
    Reduced got = run_ranks(c.get(), 3);
    // Published cells: F, M, X, (missing), Total.
    for (int j = 0; j < 3; j++) {
        std::vector<std::vector<double>> vals(5);
        std::vector<int64_t> n(5, 0), missing(5, 0);
        for (int64_t row = 0; row < slfixture::kRows; row++) {
            if (!keep_row(row))
                continue;
            int32_t sx = slfixture::sex(row);
            size_t lev = sx < 0 ? 3 : static_cast<size_t>(sx);
            double v = fixture_value(kMeasures[j], row);
            for (size_t p : {lev, size_t{4}}) {
                n[p]++;
                if (std::isnan(v))
                    missing[p]++;
                else
                    vals[p].push_back(v);
            }
        }
        for (size_t p = 0; p < 5; p++) {
            const sl_moments &m = got.mom[static_cast<size_t>(j) * 5 + p];
            std::vector<double> &x = vals[p];
            std::sort(x.begin(), x.end());
            EXPECT_EQ(got.n[p], n[p]) << p;
            ASSERT_EQ(m.n_present, static_cast<int64_t>(x.size())) << j << "," << p;
            EXPECT_EQ(m.n_missing, missing[p]);
            ASSERT_FALSE(x.empty());
            long double sum = 0, ss = 0;
            for (double v : x)
                sum += v;
            long double mean = sum / static_cast<long double>(x.size());
            for (double v : x)
                ss += (v - mean) * (v - mean);
            EXPECT_NEAR(m.mean, static_cast<double>(mean), 1e-12 * std::fabs((double)mean));
            EXPECT_NEAR(m.m2, static_cast<double>(ss), 1e-12 * static_cast<double>(ss));
            EXPECT_EQ(got.q[(static_cast<size_t>(j) * 5 + p) * kNProbs + 5], x.front());
            EXPECT_EQ(got.q[(static_cast<size_t>(j) * 5 + p) * kNProbs + 6], x.back());
            for (int k = 0; k < kNProbs; k++) {
                double want = 0;
                ASSERT_EQ(sl_quantile_type7(x.data(), static_cast<int64_t>(x.size()),
                                            kFixtureProbs[k], &want),
                          SL_OK);
                EXPECT_EQ(got.q[(static_cast<size_t>(j) * 5 + p) * kNProbs +
                                static_cast<size_t>(k)],
                          want)
                    << "measure " << j << " cell " << p << " prob " << kFixtureProbs[k];
            }
            EXPECT_EQ(got.at_min[static_cast<size_t>(j) * 5 + p],
                      std::count(x.begin(), x.end(), x.front()));
            EXPECT_EQ(got.at_max[static_cast<size_t>(j) * 5 + p],
                      std::count(x.begin(), x.end(), x.back()));
            // counted the same way where the values are not the extremes
            EXPECT_EQ(got.at_median[static_cast<size_t>(j) * 5 + p],
                      std::count(x.begin(), x.end(), got.q[(static_cast<size_t>(j) * 5 + p) * kNProbs]));
            EXPECT_EQ(got.at_q1[static_cast<size_t>(j) * 5 + p],
                      std::count(x.begin(), x.end(),
                                 got.q[(static_cast<size_t>(j) * 5 + p) * kNProbs + 1]));
            // Dominance: fixed-point contributions, largest first.
            std::vector<int64_t> fx;
            __int128 total = 0;
            for (double v : x) {
                fx.push_back(static_cast<int64_t>(std::llround(v * 1048576.0)));
                total += fx.back();
            }
            std::sort(fx.rbegin(), fx.rend());
            for (const sl_dominance *d : {&got.dom_values[static_cast<size_t>(j) * 5 + p],
                                          &got.dom_scan[static_cast<size_t>(j) * 5 + p]}) {
                EXPECT_EQ(d->ncontrib, static_cast<int64_t>(x.size()));
                for (size_t i = 0; i < SL_DOM_TOP; i++)
                    EXPECT_EQ(d->top[i], i < fx.size() ? fx[i] : 0);
                __int128 t = static_cast<__int128>(
                    (static_cast<unsigned __int128>(static_cast<uint64_t>(d->total_hi)) << 64) |
                    d->total_lo);
                EXPECT_TRUE(t == total);
                EXPECT_EQ(d->has_negative, 0);
            }
        }
    }
}

TEST_F(FixtureStats, FoldDoesNotDependOnRecordOrder)
{
    Cohort c = open_fixture();
    ASSERT_TRUE(c);
    Frame fr = load_rank(c.get(), {kBmi, kSex}, 0, 1);
    sl_backend *b = nullptr;
    ASSERT_EQ(sl_backend_get("cpu", &b), SL_OK);
    sl_grouping g = by_sex();
    sl_measure m{kBmi, SL_COL_REAL, "bmi", NAN, NAN};
    sl_moment_records rec{nullptr, 0, 0};
    ASSERT_EQ(sl_moments_by_chunk(b, fr.get(), &g, nullptr, &m, 1, nullptr, &rec), SL_OK);
    EXPECT_EQ(rec.count, 5 * 4); // every chunk touches every sex level
    std::vector<int64_t> ones(4, 1);
    sl_layout lay;
    sl_layout_init(&lay, &g, ones.data(), 1);
    std::vector<double> copy(rec.v, rec.v + rec.count * SL_MOMENT_RECORD);
    std::vector<sl_moments> a(5, sl_moments{}), bb(5, sl_moments{});
    ASSERT_EQ(sl_moments_fold(rec.v, rec.count, &lay, 1, a.data()), SL_OK);
    // Reverse the records, then fold again.
    std::vector<double> rev;
    for (int64_t i = rec.count - 1; i >= 0; i--)
        rev.insert(rev.end(), copy.begin() + i * SL_MOMENT_RECORD,
                   copy.begin() + (i + 1) * SL_MOMENT_RECORD);
    ASSERT_EQ(sl_moments_fold(rev.data(), rec.count, &lay, 1, bb.data()), SL_OK);
    EXPECT_TRUE(same_bytes(a, bb));
    rev[1] = 99; // a slot outside the layout
    EXPECT_EQ(sl_moments_fold(rev.data(), rec.count, &lay, 1, bb.data()), SL_ERR_INTERNAL);
    sl_moment_records_clear(&rec);
}

TEST_F(FixtureStats, SelectExactFindsEveryRankAndRefusesOutOfRange)
{
    Cohort c = open_fixture();
    ASSERT_TRUE(c);
    Frame fr = load_rank(c.get(), {kAge}, 0, 1);
    sl_backend *b = nullptr;
    ASSERT_EQ(sl_backend_get("cpu", &b), SL_OK);
    sl_measure m{kAge, SL_COL_INT, "age", 0, 120};
    sl_cell_values *s = nullptr;
    sl_grouping none{};
    none.ncells = 1;
    ASSERT_EQ(sl_cell_values_create(fr.get(), &none, nullptr, &m, &s), SL_OK);
    CellValues vals(s);
    std::vector<double> x;
    for (int64_t row = 0; row < slfixture::kRows; row++)
        if (!std::isnan(fixture_value(kAge, row)))
            x.push_back(fixture_value(kAge, row));
    std::sort(x.begin(), x.end());
    int64_t mstart[2] = {0, 1}, members[1] = {0};
    std::vector<int64_t> qcell(x.size(), 0), qrank(x.size()),
        qcount(x.size(), static_cast<int64_t>(x.size()));
    std::iota(qrank.begin(), qrank.end(), 0);
    std::vector<double> got(x.size());
    sl_reducer red;
    sl_reducer_single(&red);
    ASSERT_EQ(sl_select_exact(&red, s, mstart, members, static_cast<int64_t>(x.size()),
                              qcell.data(), qrank.data(), qcount.data(), nullptr, got.data()),
              SL_OK);
    EXPECT_EQ(got, x);
    int64_t too_far = static_cast<int64_t>(x.size());
    double out = 0;
    EXPECT_EQ(sl_select_exact(&red, s, mstart, members, 1, qcell.data(), &too_far,
                              qcount.data(), nullptr, &out),
              SL_ERR_INTERNAL);
}

TEST_F(FixtureStats, SortedValuesKeepSignedZerosAndInfinities)
{
    // A hand-built frame: one real column, two chunks.
    const double v[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, 2.0, -0.0, 0.0};
    sl_secbuf *buf = nullptr;
    ASSERT_EQ(sl_secbuf_create(sizeof v, &buf), SL_OK);
    std::memcpy(buf->data, v, sizeof v);
    int col = 0;
    int64_t chunk_index[2] = {0, 1}, row0[3] = {0, 5, 8};
    sl_frame fr{8, 1, &col, &buf, 2, chunk_index, row0};
    sl_backend *b = nullptr;
    ASSERT_EQ(sl_backend_get("cpu", &b), SL_OK);
    sl_measure m{0, SL_COL_REAL, "v", NAN, NAN};
    sl_cell_values *s = nullptr;
    sl_grouping g{};
    g.ncells = 1;
    ASSERT_EQ(sl_cell_values_create(&fr, &g, nullptr, &m, &s), SL_OK);
    CellValues vals(s);
    int64_t one = 1, np = 7, eq = 0, eq_inf = 0;
    sl_layout lay;
    sl_layout_init(&lay, &g, &one, 0);
    sl_reducer red;
    sl_reducer_single(&red);
    double q[3], probs[3] = {0, 0.5, 1}, zero = 0.0;
    ASSERT_EQ(sl_quantiles_exact(&red, s, &lay, &np, 3, probs, nullptr, q), SL_OK);
    EXPECT_EQ(q[0], -INFINITY);
    EXPECT_EQ(q[1], 0.0);
    EXPECT_FALSE(std::signbit(q[1])) << "the middle of -inf -0 -0 +0 +0 2 inf is a +0";
    EXPECT_EQ(q[2], INFINITY);
    int64_t mstart[2] = {0, 1}, members[1] = {0}, qcell[2] = {0, 0}, qrank[2] = {2, 3},
            qcount[2] = {7, 7};
    double x[2];
    ASSERT_EQ(sl_select_exact(&red, s, mstart, members, 2, qcell, qrank, qcount, nullptr, x), SL_OK);
    EXPECT_TRUE(x[0] == 0.0 && std::signbit(x[0])) << "the third value is -0";
    EXPECT_TRUE(x[1] == 0.0 && !std::signbit(x[1])) << "the fourth value is +0";
    ASSERT_EQ(sl_count_extremes(&red, s, &lay, &zero, &q[2], &eq, &eq_inf), SL_OK);
    EXPECT_EQ(eq, 4) << "-0 and +0 are the same value";
    EXPECT_EQ(eq_inf, 1);
    sl_secbuf_destroy(&buf);
}

// A frame of `chunks` chunks of 100 rows: column 0 holds category codes.
struct CodeFrame {
    explicit CodeFrame(int64_t chunks, const std::vector<int32_t> &codes)
    {
        EXPECT_EQ(sl_secbuf_create(codes.size() * sizeof(int32_t), &buf), SL_OK);
        std::memcpy(buf->data, codes.data(), codes.size() * sizeof(int32_t));
        for (int64_t k = 0; k <= chunks; k++) {
            if (k < chunks)
                index.push_back(k);
            row0.push_back(std::min<int64_t>(k * 100, static_cast<int64_t>(codes.size())));
        }
        fr = sl_frame{static_cast<int64_t>(codes.size()), 1, &col, &buf, chunks, index.data(),
                      row0.data()};
    }
    ~CodeFrame() { sl_secbuf_destroy(&buf); }
    int col = 0;
    sl_secbuf *buf = nullptr;
    std::vector<int64_t> index, row0;
    sl_frame fr;
};

struct FailCtx {
    int64_t fail_from; // chunks at or after this fail
    std::vector<int> seen;
    std::mutex mu;
};

sl_status fail_late_chunks(void *ctx, const sl_chunk_view *v)
{
    auto *c = static_cast<FailCtx *>(ctx);
    {
        std::lock_guard<std::mutex> lock(c->mu);
        c->seen[static_cast<size_t>(v->k)]++;
    }
    if (v->k >= c->fail_from)
        return sl_error_set(SL_ERR_NUMERIC, __FILE__, __LINE__, __func__, "chunk %lld failed",
                            static_cast<long long>(v->k));
    for (int64_t r = v->r0; r < v->r1; r++)
        if (v->cell[r - v->r0] != static_cast<int32_t>(r % 3))
            return sl_error_set(SL_ERR_INTERNAL, __FILE__, __LINE__, __func__, "bad cell");
    return SL_OK;
}

class ChunkPass : public StatsTest {};

TEST_F(ChunkPass, ReportsTheFirstFailingChunk)
{
    std::vector<int32_t> codes(2000);
    for (size_t i = 0; i < codes.size(); i++)
        codes[i] = i % 3 == 2 ? -1 : static_cast<int32_t>(i % 3); // levels 0, 1, missing
    CodeFrame f(20, codes);
    sl_grouping g{};
    g.ndims = 1;
    g.nlevels[0] = 2;
    g.names[0] = "code";
    g.ncells = 3;
    sl_backend *b = nullptr;
    ASSERT_EQ(sl_backend_get("cpu", &b), SL_OK);
    FailCtx ok{INT64_MAX, std::vector<int>(20, 0), {}};
    ASSERT_EQ(sl_chunk_pass(b, &f.fr, &g, nullptr, fail_late_chunks, &ok), SL_OK)
        << sl_error_message();
    EXPECT_EQ(ok.seen, std::vector<int>(20, 1)) << "every chunk exactly once";
    FailCtx bad{7, std::vector<int>(20, 0), {}};
    EXPECT_EQ(sl_chunk_pass(b, &f.fr, &g, nullptr, fail_late_chunks, &bad), SL_ERR_NUMERIC);
    EXPECT_STREQ(sl_error_message(), "chunk 7 failed");
    for (int k = 0; k < 7; k++)
        EXPECT_EQ(bad.seen[static_cast<size_t>(k)], 1) << k;
}

TEST_F(ChunkPass, RefusesCodesOutsideTheLevels)
{
    std::vector<int32_t> codes(300, 1);
    codes[250] = 2; // only 0 and 1 exist
    CodeFrame f(3, codes);
    sl_grouping g{};
    g.ndims = 1;
    g.nlevels[0] = 2;
    g.names[0] = "sex";
    g.ncells = 3;
    std::vector<int32_t> cell(300);
    EXPECT_EQ(sl_grouping_cells_frame(&g, &f.fr, nullptr, cell.data()), SL_ERR_FORMAT);
    EXPECT_STREQ(sl_error_message(), "column 'sex' holds a category code outside its 2 levels");
    codes[250] = -2;
    CodeFrame f2(3, codes);
    EXPECT_EQ(sl_grouping_cells_frame(&g, &f2.fr, nullptr, cell.data()), SL_ERR_FORMAT);
    std::vector<int64_t> n(3, 0);
    sl_backend *b = nullptr;
    ASSERT_EQ(sl_backend_get("cpu", &b), SL_OK);
    EXPECT_EQ(sl_count_by_chunk(b, &f2.fr, &g, nullptr, n.data()), SL_ERR_FORMAT);
}

}  // namespace
