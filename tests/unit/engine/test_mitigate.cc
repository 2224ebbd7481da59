// Mitigation: rounding, suppression with secondary suppression (checked by a
// margin attack that tries to recompute withheld cells), redaction.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tables.hh"

extern "C" {
#include "engine/core/alloc.h"
#include "engine/gate.h"
#include "engine/gate_impl.h"
#include "engine/mitigate.h"
#include "engine/release.h"
#include "engine/rules.h"
#include "engine/table.h"
}

namespace {

using sltest::TablePtr;

const char *kLevels[] = {"l0", "l1", "l2", "l3", "l4", "l5", "l6", "l7", "l8", "l9"};

// A 1-D or 2-D crosstab from its interior counts; with margins a "Total"
// level ends each dimension and margin cells hold the sums.
TablePtr make_table(const std::vector<std::vector<int64_t>> &interior, bool margins,
                    const char *analysis = "crosstab")
{
    bool one_d = interior.size() == 1;
    int R = static_cast<int>(interior.size()), C = static_cast<int>(interior[0].size());
    std::vector<std::vector<const char *>> labels(2);
    for (int i = 0; i < R; i++)
        labels[0].push_back(kLevels[i]);
    for (int j = 0; j < C; j++)
        labels[1].push_back(kLevels[j]);
    if (margins) {
        labels[0].push_back("Total");
        labels[1].push_back("Total");
    }
    sl_dim dims[2] = {
        {const_cast<char *>("rows"), static_cast<int32_t>(labels[0].size()),
         const_cast<char **>(labels[0].data()), nullptr},
        {const_cast<char *>("cols"), static_cast<int32_t>(labels[1].size()),
         const_cast<char **>(labels[1].data()), nullptr}};
    sl_table *t = nullptr;
    if (one_d)
        EXPECT_EQ(sl_table_create("t", analysis, 1, &dims[1], &t), SL_OK);
    else
        EXPECT_EQ(sl_table_create("t", analysis, 2, dims, &t), SL_OK);
    t->margins = margins;
    int W = C + (margins ? 1 : 0);
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) {
            int64_t v = interior[i][j];
            int64_t base = one_d ? j : static_cast<int64_t>(i) * W + j;
            t->n[base] += v;
            if (!margins)
                continue;
            if (one_d) {
                t->n[C] += v;
            } else {
                t->n[static_cast<int64_t>(i) * W + C] += v;
                t->n[static_cast<int64_t>(R) * W + j] += v;
                t->n[static_cast<int64_t>(R) * W + C] += v;
            }
        }
    return TablePtr(t);
}

// A 3-D crosstab from its interior counts v[a][b][c]; with margins a
// "Total" level ends each dimension and every margin cell holds its sum.
TablePtr make_table3(const std::vector<std::vector<std::vector<int64_t>>> &v, bool margins)
{
    int64_t n[3] = {static_cast<int64_t>(v.size()), static_cast<int64_t>(v[0].size()),
                    static_cast<int64_t>(v[0][0].size())};
    std::vector<std::string> names_of(64);
    std::vector<std::vector<const char *>> labels(3);
    sl_dim dims[3];
    const char *names[3] = {"x", "y", "z"};
    for (size_t i = 0; i < names_of.size(); i++)
        names_of[i] = "l" + std::to_string(i);
    for (int d = 0; d < 3; d++) {
        for (int64_t i = 0; i < n[d]; i++)
            labels[static_cast<size_t>(d)].push_back(names_of[static_cast<size_t>(i)].c_str());
        if (margins)
            labels[static_cast<size_t>(d)].push_back("Total");
        dims[d] = {const_cast<char *>(names[d]),
                   static_cast<int32_t>(labels[static_cast<size_t>(d)].size()),
                   const_cast<char **>(labels[static_cast<size_t>(d)].data()), nullptr};
    }
    sl_table *t = nullptr;
    EXPECT_EQ(sl_table_create("t", "crosstab", 3, dims, &t), SL_OK);
    t->margins = margins;
    int64_t L1 = dims[1].nlevels, L2 = dims[2].nlevels;
    for (int64_t a = 0; a < n[0]; a++)
        for (int64_t b = 0; b < n[1]; b++)
            for (int64_t c = 0; c < n[2]; c++)
                for (int mask = 0; mask < (margins ? 8 : 1); mask++) {
                    int64_t x = mask & 4 ? n[0] : a, y = mask & 2 ? n[1] : b,
                            z = mask & 1 ? n[2] : c;
                    t->n[(x * L1 + y) * L2 + z] +=
                        v[static_cast<size_t>(a)][static_cast<size_t>(b)][static_cast<size_t>(c)];
                }
    return TablePtr(t);
}

sl_rules defaults()
{
    sl_rules r;
    sl_rules_default(&r);
    return r;
}

bool withheld(const sl_table *t, int64_t c)
{
    return t->withheld && (t->withheld[c] & SL_WITHHELD_CELL);
}

// One linear relation the attacker knows: sum of interior cells equals the
// margin cell (margin >= 0) or a total published elsewhere.
struct Line {
    std::vector<int64_t> interior;
    int64_t margin;
    int64_t total;
};

// The relations of a table of any dimension: along every dimension, each
// line's interior cells sum to its margin cell. Without margins the attacker
// is assumed to know every line's true total from elsewhere.
std::vector<Line> lines_of(const sl_table *t, const std::vector<int64_t> &truth)
{
    std::vector<Line> lines;
    bool m = t->margins != 0;
    int nd = t->ndims;
    std::vector<int64_t> len(static_cast<size_t>(nd)), stride(static_cast<size_t>(nd));
    int64_t s = 1;
    for (int d = nd - 1; d >= 0; d--) {
        len[static_cast<size_t>(d)] = t->dims[d].nlevels;
        stride[static_cast<size_t>(d)] = s;
        s *= len[static_cast<size_t>(d)];
    }
    for (int d = 0; d < nd; d++) {
        int64_t L = len[static_cast<size_t>(d)], st = stride[static_cast<size_t>(d)];
        for (int64_t c = 0; c < t->ncells; c++) {
            if ((c / st) % L != 0)
                continue;
            Line l{{}, m ? c + (L - 1) * st : -1, 0};
            for (int64_t i = 0; i < L - (m ? 1 : 0); i++) {
                l.interior.push_back(c + i * st);
                l.total += truth[static_cast<size_t>(c + i * st)];
            }
            lines.push_back(l);
        }
    }
    return lines;
}

// Peeling attack: solve any relation with one unknown, repeat. Returns the
// withheld cells it recovers.
std::set<int64_t> peel(const sl_table *t, const std::vector<int64_t> &truth)
{
    std::vector<Line> lines = lines_of(t, truth);
    std::vector<bool> known(static_cast<size_t>(t->ncells));
    for (int64_t c = 0; c < t->ncells; c++)
        known[static_cast<size_t>(c)] = !withheld(t, c);
    std::set<int64_t> solved;
    for (bool progress = true; progress;) {
        progress = false;
        for (const Line &l : lines) {
            std::vector<int64_t> unknown;
            for (int64_t c : l.interior)
                if (!known[static_cast<size_t>(c)])
                    unknown.push_back(c);
            if (l.margin >= 0 && !known[static_cast<size_t>(l.margin)])
                unknown.push_back(l.margin);
            if (unknown.size() == 1) {
                known[static_cast<size_t>(unknown[0])] = true;
                solved.insert(unknown[0]);
                progress = true;
            }
        }
    }
    return solved;
}

// Rank of the integer matrix a modulo the prime p, exactly.
int rank_mod(const std::vector<std::vector<int64_t>> &in, int64_t p)
{
    auto power = [p](int64_t x, int64_t e) {
        int64_t r = 1;
        for (x %= p; e > 0; e >>= 1, x = x * x % p)
            if (e & 1)
                r = r * x % p;
        return r;
    };
    std::vector<std::vector<int64_t>> a = in;
    for (auto &row : a)
        for (int64_t &x : row)
            x = ((x % p) + p) % p;
    int rank = 0;
    size_t rows = a.size(), cols = rows ? a[0].size() : 0;
    for (size_t c = 0; c < cols && static_cast<size_t>(rank) < rows; c++) {
        size_t top = static_cast<size_t>(rank), piv = top;
        while (piv < rows && a[piv][c] == 0)
            piv++;
        if (piv == rows)
            continue;
        std::swap(a[piv], a[top]);
        int64_t inv = power(a[top][c], p - 2);
        for (size_t r = 0; r < rows; r++) {
            if (r == top || a[r][c] == 0)
                continue;
            int64_t f = a[r][c] * inv % p;
            for (size_t k = c; k < cols; k++)
                a[r][k] = ((a[r][k] - f * a[top][k]) % p + p) % p;
        }
        rank++;
    }
    return rank;
}

// Rank over the rationals, in exact arithmetic: a prime can only lower the
// rank (when it divides every minor of the full size), so the larger of two
// primes' ranks is it (both primes differ from the engine's 2^61 - 1).
int rank_of(const std::vector<std::vector<int64_t>> &a)
{
    return std::max(rank_mod(a, 1000000007), rank_mod(a, 998244353));
}

// Linear-algebra attack: a withheld cell is determined by the relations iff
// its column is not in the span of the other unknowns' columns. Also the
// non-negativity attack: relations whose unknowns must sum to 0.
std::set<int64_t> solve(const sl_table *t, const std::vector<int64_t> &truth)
{
    std::vector<Line> lines = lines_of(t, truth);
    std::vector<int64_t> unknown;
    std::vector<int> col(static_cast<size_t>(t->ncells), -1);
    for (int64_t c = 0; c < t->ncells; c++)
        if (withheld(t, c)) {
            col[static_cast<size_t>(c)] = static_cast<int>(unknown.size());
            unknown.push_back(c);
        }
    std::set<int64_t> found;
    if (unknown.empty())
        return found;
    std::vector<std::vector<int64_t>> a;
    for (const Line &l : lines) {
        std::vector<int64_t> row(unknown.size(), 0);
        int64_t rhs = l.margin >= 0 ? 0 : l.total;
        bool any = false;
        for (int64_t c : l.interior) {
            if (col[static_cast<size_t>(c)] >= 0) {
                row[static_cast<size_t>(col[static_cast<size_t>(c)])] += 1;
                any = true;
            } else {
                rhs -= truth[static_cast<size_t>(c)];
            }
        }
        if (l.margin >= 0) {
            if (col[static_cast<size_t>(l.margin)] >= 0) {
                row[static_cast<size_t>(col[static_cast<size_t>(l.margin)])] -= 1;
                any = true;
            } else {
                rhs += truth[static_cast<size_t>(l.margin)];
            }
        }
        if (!any)
            continue;
        a.push_back(row);
        bool margin_unknown = l.margin >= 0 && col[static_cast<size_t>(l.margin)] >= 0;
        if (rhs == 0 && !margin_unknown)
            for (int64_t c : l.interior)
                if (col[static_cast<size_t>(c)] >= 0)
                    found.insert(c);
    }
    int full = rank_of(a);
    for (size_t j = 0; j < unknown.size(); j++) {
        std::vector<std::vector<int64_t>> b = a;
        for (auto &row : b)
            row.erase(row.begin() + static_cast<long>(j));
        if (rank_of(b) < full)
            found.insert(unknown[j]);
    }
    return found;
}

std::vector<int64_t> snapshot(const sl_table *t)
{
    return std::vector<int64_t>(t->n, t->n + t->ncells);
}

// A cell count: small (1-9, failing) with probability small/10, empty with
// probability 1/10, else 10-199.
int64_t random_count(std::mt19937 &rng, unsigned small)
{
    unsigned k = rng() % 10;
    return k < small ? 1 + static_cast<int64_t>(rng() % 9)
           : k < small + 1 ? 0
                           : 10 + static_cast<int64_t>(rng() % 190);
}

// a x b x c random counts (see random_count).
std::vector<std::vector<std::vector<int64_t>>> random_counts3(std::mt19937 &rng, size_t a,
                                                              size_t b, size_t c, unsigned small)
{
    std::vector<std::vector<std::vector<int64_t>>> v(
        a, std::vector<std::vector<int64_t>>(b, std::vector<int64_t>(c)));
    for (auto &plane : v)
        for (auto &row : plane)
            for (auto &x : row)
                x = random_count(rng, small);
    return v;
}

// Suppresses t, then checks that failing cells are withheld, published
// ones keep their value, and neither attack recovers a withheld one.
// Returns 1 when t was mitigated (review), 0 when it could not be.
int suppress_and_attack(sl_table *t, const sl_rules &r, int trial)
{
    auto truth = snapshot(t);
    EXPECT_EQ(sl_gate_evaluate(t, &r), SL_OK);
    EXPECT_EQ(sl_mitigate(t, &r, SL_MITIGATE_SUPPRESS), SL_OK);
    if (t->decision != SL_DECISION_REVIEW)
        return 0;
    for (int64_t c = 0; c < t->ncells; c++) {
        if (t->cell_decision[c] == SL_DECISION_FAIL) {
            EXPECT_TRUE(withheld(t, c)) << "trial " << trial << " cell " << c;
        }
        if (!withheld(t, c)) {
            EXPECT_EQ(t->n[c], truth[static_cast<size_t>(c)]) << "trial " << trial;
        }
    }
    EXPECT_TRUE(peel(t, truth).empty()) << "trial " << trial;
    EXPECT_TRUE(solve(t, truth).empty()) << "trial " << trial;
    return 1;
}

std::string note_of(const sl_table *t)
{
    json_t *n = json_object_get(t->mitigation, "note");
    return n ? json_string_value(n) : "";
}

}  // namespace

TEST(Mitigate, RoundCountHalvesAwayFromZero)
{
    EXPECT_EQ(sl_round_count(2, 5), 0);
    EXPECT_EQ(sl_round_count(3, 5), 5);
    EXPECT_EQ(sl_round_count(7, 5), 5);
    EXPECT_EQ(sl_round_count(8, 5), 10);
    EXPECT_EQ(sl_round_count(12, 5), 10);
    EXPECT_EQ(sl_round_count(13, 5), 15);
    EXPECT_EQ(sl_round_count(24, 10), 20);
    EXPECT_EQ(sl_round_count(25, 10), 30);
    EXPECT_EQ(sl_round_count(26, 10), 30);
    EXPECT_EQ(sl_round_count(0, 5), 0);
}

TEST(Mitigate, RoundingRecomputesMarginsFromRoundedCells)
{
    sl_rules r = defaults();
    auto t = make_table({{12, 23, 34}, {41, 17, 18}}, true);
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    ASSERT_EQ(t->decision, SL_DECISION_PASS);
    ASSERT_EQ(sl_mitigate(t.get(), &r, SL_MITIGATE_ROUND), SL_OK);
    EXPECT_EQ(t->decision, SL_DECISION_REVIEW);
    // interior 10 25 35 / 40 15 20; row totals 70 75; column totals 50 40 55; 145
    const int64_t want[] = {10, 25, 35, 70, 40, 15, 20, 75, 50, 40, 55, 145};
    for (int64_t c = 0; c < t->ncells; c++)
        EXPECT_EQ(t->n[c], want[c]) << c;
    EXPECT_TRUE(json_is_true(json_object_get(t->mitigation, "applied")));
    EXPECT_EQ(json_integer_value(json_object_get(json_object_get(t->mitigation, "rounded"),
                                                 "base")),
              5);
    EXPECT_STREQ(json_string_value(json_object_get(t->mitigation, "by")), "job");
}

TEST(Mitigate, RoundingAloneLeavesFailingCellsFailing)
{
    sl_rules r = defaults();
    auto t = make_table({{3, 50, 60}}, true);
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    ASSERT_EQ(sl_mitigate(t.get(), &r, SL_MITIGATE_ROUND), SL_OK);
    EXPECT_EQ(t->decision, SL_DECISION_FAIL);
    EXPECT_FALSE(json_is_true(json_object_get(t->mitigation, "applied")));
    EXPECT_NE(note_of(t.get()).find("suppression"), std::string::npos);
    EXPECT_EQ(t->n[0], 3);
}

TEST(Mitigate, SuppressOneDimensionalNeedsASecondCell)
{
    sl_rules r = defaults();
    auto t = make_table({{3, 50, 60}}, true);
    auto truth = snapshot(t.get());
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    ASSERT_EQ(sl_mitigate(t.get(), &r, SL_MITIGATE_SUPPRESS), SL_OK);
    EXPECT_EQ(t->decision, SL_DECISION_REVIEW);
    ASSERT_NE(t->withheld, nullptr);
    EXPECT_TRUE(withheld(t.get(), 0));
    EXPECT_TRUE(withheld(t.get(), 1));   // smallest other cell
    EXPECT_FALSE(withheld(t.get(), 2));
    EXPECT_FALSE(withheld(t.get(), 3));  // the total keeps its true value
    EXPECT_EQ(t->n[3], 113);
    EXPECT_EQ(t->n[0], 0);               // wiped
    EXPECT_TRUE(peel(t.get(), truth).empty());
    EXPECT_TRUE(solve(t.get(), truth).empty());
    json_t *cells = json_object_get(t->mitigation, "cells");
    EXPECT_STREQ(json_string_value(json_array_get(cells, 0)), "suppressed");
    EXPECT_STREQ(json_string_value(json_array_get(cells, 1)), "suppressed (secondary)");
}

// The attacker must be able to do harm: with primary suppression only, a
// row with one withheld cell gives it away.
TEST(Mitigate, AttackRecoversPrimaryOnlySuppression)
{
    auto t = make_table({{3, 50, 60}, {40, 41, 42}}, true);
    auto truth = snapshot(t.get());
    t->withheld = static_cast<unsigned char *>(sl_calloc(static_cast<size_t>(t->ncells), 1));
    t->withheld[0] = SL_WITHHELD_CELL;
    EXPECT_EQ(peel(t.get(), truth), std::set<int64_t>{0});
    EXPECT_EQ(solve(t.get(), truth), std::set<int64_t>{0});
}

// Every node of the withheld-cell graph has degree >= 2, yet cell (1,2)
// joins two otherwise separate cycles: the line rule alone leaves it
// recoverable; the exact check must add a cell.
TEST(Mitigate, BridgeBetweenCyclesIsClosed)
{
    sl_rules r = defaults();
    std::vector<std::vector<int64_t>> v = {{2, 3, 90, 95}, {4, 5, 6, 97}, {91, 92, 7, 8},
                                           {93, 94, 9, 3}};
    auto t = make_table(v, false);
    auto truth = snapshot(t.get());
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);

    // The primary pattern is attackable.
    auto probe = make_table(v, false);
    probe->withheld = static_cast<unsigned char *>(sl_calloc(16, 1));
    for (int64_t c = 0; c < 16; c++)
        probe->withheld[c] = t->cell_decision[c] == SL_DECISION_FAIL ? SL_WITHHELD_CELL : 0;
    EXPECT_EQ(solve(probe.get(), truth), std::set<int64_t>{6});

    ASSERT_EQ(sl_mitigate(t.get(), &r, SL_MITIGATE_SUPPRESS), SL_OK);
    ASSERT_EQ(t->decision, SL_DECISION_REVIEW) << note_of(t.get());
    EXPECT_TRUE(peel(t.get(), truth).empty());
    EXPECT_TRUE(solve(t.get(), truth).empty());
    EXPECT_GE(json_integer_value(json_object_get(json_object_get(t->mitigation, "suppressed"),
                                                 "secondary")),
              1);
}

// Margin attack on many random tables, with and without margins: no withheld
// count can be recomputed from the lines, margins or known totals.
TEST(Mitigate, MarginAttackFailsOnRandomTables)
{
    sl_rules r = defaults();
    std::mt19937 rng(20261123);
    int mitigated = 0;
    for (int trial = 0; trial < 300; trial++) {
        int R = 1 + static_cast<int>(rng() % 6), C = 2 + static_cast<int>(rng() % 5);
        bool margins = rng() % 2 == 0;
        std::vector<std::vector<int64_t>> v(static_cast<size_t>(R),
                                            std::vector<int64_t>(static_cast<size_t>(C)));
        for (auto &row : v)
            for (auto &x : row)
                x = random_count(rng, 3);
        auto t = make_table(v, margins);
        mitigated += suppress_and_attack(t.get(), r, trial);
    }
    EXPECT_GT(mitigated, 100);
}

// Withheld empty cells paired only with empty cells would sum to 0 and so
// be known: the partner must hold patients.
TEST(Mitigate, ZeroSumLinesGetANonEmptyPartner)
{
    sl_rules r = defaults();
    auto t = make_table({{0, 0, 50, 60}}, true);
    auto truth = snapshot(t.get());
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    ASSERT_EQ(sl_mitigate(t.get(), &r, SL_MITIGATE_SUPPRESS), SL_OK);
    ASSERT_EQ(t->decision, SL_DECISION_REVIEW);
    EXPECT_TRUE(withheld(t.get(), 0));
    EXPECT_TRUE(withheld(t.get(), 1));
    EXPECT_TRUE(withheld(t.get(), 2));
    EXPECT_TRUE(solve(t.get(), truth).empty());
}

// A cell failing only a statistic rule keeps its count; its statistics go,
// with a second cell's statistics so the margin's cannot give them away.
TEST(Mitigate, StatisticFailuresWithholdOnlyStatistics)
{
    sl_rules r = defaults();
    auto t = make_table({{40, 50, 60}}, true, "describe");
    int s = -1;
    ASSERT_EQ(sl_table_add_stat(t.get(), "median", SL_STAT_QUANTILE, &s), SL_OK);
    int64_t *support = nullptr;
    ASSERT_EQ(sl_table_stat_support(t.get(), s, &support), SL_OK);
    const int64_t sup[] = {5, 50, 60, 115};
    for (int64_t c = 0; c < 4; c++) {
        t->stats[s].v[c] = 1.0 + static_cast<double>(c);
        support[c] = sup[c];
    }
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    ASSERT_EQ(sl_mitigate(t.get(), &r, SL_MITIGATE_SUPPRESS), SL_OK);
    ASSERT_EQ(t->decision, SL_DECISION_REVIEW);
    ASSERT_NE(t->withheld, nullptr);
    EXPECT_EQ(t->withheld[0], SL_WITHHELD_STATS);
    EXPECT_EQ(t->withheld[1], SL_WITHHELD_STATS);
    EXPECT_EQ(t->withheld[2], 0);
    EXPECT_EQ(t->n[0], 40);
    EXPECT_TRUE(std::isnan(t->stats[s].v[0]));
    EXPECT_TRUE(std::isnan(t->stats[s].v[1]));
    EXPECT_EQ(t->stats[s].v[2], 3.0);
}

TEST(Mitigate, TableScopeFailuresCannotBeMitigated)
{
    sl_rules r = defaults();
    auto t = make_table({{30, 50, 60}}, false);
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    std::vector<sl_decision> v(static_cast<size_t>(t->ncells), SL_DECISION_FAIL);
    ASSERT_EQ(sl_gate_add_verdict(t.get(), "differencing", v.data(),
                                  json_pack("{s:s}", "scope", "table")),
              SL_OK);
    ASSERT_EQ(sl_mitigate(t.get(), &r, SL_MITIGATE_SUPPRESS), SL_OK);
    EXPECT_EQ(t->decision, SL_DECISION_FAIL);
    EXPECT_NE(note_of(t.get()).find("differencing"), std::string::npos);
    EXPECT_EQ(t->withheld, nullptr);
}

// Profile opensafely: redact 1..7, round the rest to 5, margins are sums of
// the rounded released cells; the policy asks, whatever the job says.
TEST(Mitigate, PolicyRedactsThenRounds)
{
    sl_rules r = defaults();
    r.redact_at_most = 7;
    r.min_safe_count = 8;
    auto t = make_table({{5, 12, 33}}, true);
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    ASSERT_EQ(t->decision, SL_DECISION_FAIL);
    ASSERT_EQ(sl_mitigate(t.get(), &r, 0), SL_OK);
    EXPECT_EQ(t->decision, SL_DECISION_REVIEW);
    EXPECT_TRUE(withheld(t.get(), 0));
    EXPECT_EQ(t->n[1], 10);
    EXPECT_EQ(t->n[2], 35);
    EXPECT_EQ(t->n[3], 45);
    EXPECT_STREQ(json_string_value(json_object_get(t->mitigation, "by")), "policy");
    EXPECT_STREQ(json_string_value(json_array_get(json_object_get(t->mitigation, "cells"), 0)),
                 "redacted");
}

TEST(Mitigate, NotApplicableToOtherOutputs)
{
    sl_rules r = defaults();
    auto t = make_table({{3, 50}}, false, "glm");
    t->model = json_object();
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    sl_decision before = t->decision;
    ASSERT_EQ(sl_mitigate(t.get(), &r, SL_MITIGATE_SUPPRESS), SL_OK);
    EXPECT_EQ(t->decision, before);
    EXPECT_NE(note_of(t.get()).find("not applicable"), std::string::npos);
}

TEST(Mitigate, EveryCellWithheldIsAFailure)
{
    sl_rules r = defaults();
    auto t = make_table({{3, 4}}, true);
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    ASSERT_EQ(sl_mitigate(t.get(), &r, SL_MITIGATE_SUPPRESS), SL_OK);
    EXPECT_EQ(t->decision, SL_DECISION_FAIL);
    EXPECT_FALSE(json_is_true(json_object_get(t->mitigation, "applied")));
}

TEST(Mitigate, NothingToSuppressStaysPass)
{
    sl_rules r = defaults();
    auto t = make_table({{30, 40}}, true);
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    ASSERT_EQ(sl_mitigate(t.get(), &r, SL_MITIGATE_SUPPRESS), SL_OK);
    EXPECT_EQ(t->decision, SL_DECISION_PASS);
    EXPECT_FALSE(json_is_true(json_object_get(t->mitigation, "applied")));
}

TEST(Mitigate, NoRequestNoRecord)
{
    sl_rules r = defaults();
    auto t = make_table({{3, 40}}, true);
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    ASSERT_EQ(sl_mitigate(t.get(), &r, 0), SL_OK);
    EXPECT_EQ(t->mitigation, nullptr);
    EXPECT_EQ(t->decision, SL_DECISION_FAIL);
}

// 3-D tables: every line holds 0 or at least 2 withheld cells, and the
// exact check finds nothing the lines determine.
TEST(Mitigate, ThreeDimensionalLinesHoldNoSingleWithheldCell)
{
    sl_rules r = defaults();
    const char *lv[] = {"a", "b", "c"};
    sl_dim dims[3] = {{const_cast<char *>("x"), 3, const_cast<char **>(lv), nullptr},
                      {const_cast<char *>("y"), 3, const_cast<char **>(lv), nullptr},
                      {const_cast<char *>("z"), 3, const_cast<char **>(lv), nullptr}};
    sl_table *raw = nullptr;
    ASSERT_EQ(sl_table_create("t", "crosstab", 3, dims, &raw), SL_OK);
    TablePtr t(raw);
    for (int64_t c = 0; c < 27; c++)
        t->n[c] = 20 + c;
    t->n[13] = 4;
    auto truth = snapshot(t.get());
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    ASSERT_EQ(sl_mitigate(t.get(), &r, SL_MITIGATE_SUPPRESS), SL_OK);
    ASSERT_EQ(t->decision, SL_DECISION_REVIEW);
    EXPECT_TRUE(solve(t.get(), truth).empty());
    const int64_t stride[3] = {9, 3, 1};
    for (int d = 0; d < 3; d++)
        for (int64_t c = 0; c < 27; c++) {
            if ((c / stride[d]) % 3 != 0)
                continue;
            int k = 0;
            for (int l = 0; l < 3; l++)
                k += withheld(t.get(), c + l * stride[d]);
            EXPECT_NE(k, 1) << "dimension " << d << " line at " << c;
        }
    EXPECT_NE(std::string(json_string_value(json_object_get(t->mitigation, "protection")))
                  .find("linear algebra"),
              std::string::npos);
}

// Margin attack on random 3-D tables, with and without margins: the line
// rule alone leaves patterns whose withheld counts the lines determine (a
// withheld cell whose lines are each closed by different partners); the
// exact check must leave none.
TEST(Mitigate, MarginAttackFailsOnRandom3DTables)
{
    sl_rules r = defaults();
    std::mt19937 rng(20261206);
    int mitigated = 0;
    for (int trial = 0; trial < 150; trial++) {
        size_t A = 2 + rng() % 3, B = 2 + rng() % 3, C = 2 + rng() % 4;
        bool margins = rng() % 2 == 0;
        auto t = make_table3(random_counts3(rng, A, B, C, 2), margins);
        mitigated += suppress_and_attack(t.get(), r, trial);
    }
    EXPECT_GT(mitigated, 50);
}

// A larger 3-D table is protected the same way; one too large to check
// exactly is not mitigated at all, and says why.
TEST(Mitigate, LargerThreeDimensionalTablesCheckedOrRefused)
{
    sl_rules r = defaults();
    std::mt19937 rng(7);
    auto t = make_table3(random_counts3(rng, 7, 6, 5, 1), true);
    EXPECT_EQ(suppress_and_attack(t.get(), r, 0), 1);
    auto big = make_table3(random_counts3(rng, 60, 60, 10, 2), true);
    ASSERT_EQ(sl_gate_evaluate(big.get(), &r), SL_OK);
    ASSERT_EQ(sl_mitigate(big.get(), &r, SL_MITIGATE_SUPPRESS), SL_OK);
    EXPECT_EQ(big->decision, SL_DECISION_FAIL);
    EXPECT_NE(note_of(big.get()).find("could not be protected"), std::string::npos)
        << note_of(big.get());
}

// Withheld values never reach the CSV or JSON renderings.
TEST(Mitigate, WithheldValuesAreNeverWritten)
{
    sl_rules r = defaults();
    auto t = make_table({{7, 501, 602}}, true);
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    ASSERT_EQ(sl_mitigate(t.get(), &r, SL_MITIGATE_SUPPRESS), SL_OK);
    char *buf = nullptr;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ASSERT_EQ(sl_table_write_csv(t.get(), f), SL_OK);
    fclose(f);
    std::string csv(buf, len);
    free(buf);
    EXPECT_EQ(csv, "cols,n\nl0,NA\nl1,NA\nl2,602\nTotal,1110\n");
    json_t *doc = sl_table_to_json(t.get());
    char *text = json_dumps(doc, JSON_COMPACT);
    EXPECT_EQ(std::string(text).find("501"), std::string::npos);
    EXPECT_NE(std::string(text).find("\"n\":null"), std::string::npos);
    free(text);
    json_decref(doc);
}

// The job parameter: suppress, round, absent; anything else is an error that
// names the value's position.
TEST(Mitigate, ParameterFromTheJobFile)
{
    char tmpl[] = "/tmp/sluice-mitigate-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    std::string dir = tmpl;
    {
        std::FILE *f = std::fopen((dir + "/policy.yaml").c_str(), "w");
        std::fputs("version: 1\nenclave: {partitions: [enclave]}\n"
                   "cohorts: [{path: cohort.h5, users: [alice]}]\n",
                   f);
        std::fclose(f);
        f = std::fopen((dir + "/job.yaml").c_str(), "w");
        std::fputs("cohort: cohort.h5\nanalyses:\n"
                   "  - {type: count, mitigation: suppress}\n"
                   "  - {type: count, mitigation: round}\n"
                   "  - {type: count}\n"
                   "  - {type: count, mitigation: hide}\n",
                   f);
        std::fclose(f);
    }
    sl_policy *policy = nullptr;
    sl_job *job = nullptr;
    ASSERT_EQ(sl_policy_load((dir + "/policy.yaml").c_str(), &policy), SL_OK);
    ASSERT_EQ(sl_job_load((dir + "/job.yaml").c_str(), policy, &job), SL_OK);
    ASSERT_EQ(job->nanalyses, 4);
    unsigned k = 99;
    EXPECT_EQ(sl_mitigation_param(job->analyses[0].params, &k), SL_OK);
    EXPECT_EQ(k, SL_MITIGATE_SUPPRESS);
    EXPECT_EQ(sl_mitigation_param(job->analyses[1].params, &k), SL_OK);
    EXPECT_EQ(k, SL_MITIGATE_ROUND);
    EXPECT_EQ(sl_mitigation_param(job->analyses[2].params, &k), SL_OK);
    EXPECT_EQ(k, 0u);
    EXPECT_EQ(sl_mitigation_param(job->analyses[3].params, &k), SL_ERR_FORMAT);
    std::string msg = sl_error_message();
    EXPECT_NE(msg.find("job.yaml:6:"), std::string::npos) << msg;
    EXPECT_NE(msg.find("expected suppress or round"), std::string::npos) << msg;
    sl_job_destroy(&job);
    sl_policy_destroy(&policy);
    EXPECT_EQ(std::system(("rm -rf '" + dir + "'").c_str()), 0);
}
