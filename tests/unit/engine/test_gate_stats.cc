// Release gate: statistic rules (threshold on support, (n,k) and p-ratio
// dominance in exact 128-bit fixed point, residual degrees of freedom for
// sd/variance, missing values, min/max), each at one below, at and one above
// its boundary.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "tables.hh"

extern "C" {
#include "engine/gate.h"
#include "engine/rules.h"
#include "engine/table.h"
}

namespace {

using sltest::rule_verdict;

using sltest::TablePtr;

// A 1-D describe-like table of `ncells` groups, every cell with `n` patients.
TablePtr make_table(int ncells, int64_t n = 100, const char *analysis = "describe")
{
    static const char *levels[] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    sl_dim dim{const_cast<char *>("group"), ncells, const_cast<char **>(levels), nullptr};
    sl_table *t = nullptr;
    EXPECT_EQ(sl_table_create("t", analysis, 1, &dim, &t), SL_OK);
    for (int c = 0; c < ncells; c++)
        t->n[c] = n;
    return TablePtr(t);
}

int add_stat(sl_table *t, const char *name, sl_stat_kind kind, std::vector<int64_t> support,
             double value = 1.5)
{
    int idx = -1;
    EXPECT_EQ(sl_table_add_stat(t, name, kind, &idx), SL_OK);
    for (int64_t c = 0; c < t->ncells; c++)
        t->stats[idx].v[c] = value;
    if (!support.empty()) {
        int64_t *s = nullptr;
        EXPECT_EQ(sl_table_stat_support(t, idx, &s), SL_OK);
        for (size_t c = 0; c < support.size(); c++)
            s[c] = support[c];
    }
    return idx;
}

std::string cell(const sl_table *t, const char *rule, size_t c)
{
    json_t *v = rule_verdict(t, rule);
    if (!v)
        return "absent";
    return json_string_value(json_array_get(json_object_get(v, "cells"), c));
}

std::string status(const sl_table *t, const char *rule)
{
    json_t *v = rule_verdict(t, rule);
    return v ? json_string_value(json_object_get(v, "status")) : "absent";
}

// Sets cell c's dominance evidence from contributions (fixed-point integers),
// the way jobs/dominance.c keeps it: the 4 largest, a 128-bit total.
void set_dom(sl_table *t, int64_t c, std::vector<int64_t> top, int64_t ncontrib,
             __int128 total, bool negative = false)
{
    sl_dominance *d = &t->dom[c];
    std::memset(d, 0, sizeof *d);
    for (size_t i = 0; i < top.size() && i < SL_DOM_TOP; i++)
        d->top[i] = top[i];
    d->ncontrib = ncontrib;
    d->has_negative = negative;
    unsigned __int128 u = static_cast<unsigned __int128>(total);
    d->total_hi = static_cast<int64_t>(static_cast<uint64_t>(u >> 64));
    d->total_lo = static_cast<uint64_t>(u);
}

void set_dom_exact(sl_table *t, int64_t c, std::vector<int64_t> all)
{
    __int128 total = 0;
    for (int64_t x : all)
        total += x;
    std::vector<int64_t> sorted = all;
    std::sort(sorted.rbegin(), sorted.rend());
    sorted.resize(std::min<size_t>(sorted.size(), SL_DOM_TOP));
    set_dom(t, c, sorted, static_cast<int64_t>(all.size()), total);
}

TablePtr sum_table(int ncells)
{
    auto t = make_table(ncells);
    int s = add_stat(t.get(), "sum", SL_STAT_SUM, {});
    EXPECT_EQ(sl_table_enable_dominance(t.get(), s), SL_OK);
    return t;
}

sl_rules defaults()
{
    sl_rules r;
    sl_rules_default(&r);
    return r;
}

}  // namespace

TEST(GateStats, MinCountOnSupportBoundary)
{
    sl_rules r = defaults();
    auto t = make_table(3);
    add_stat(t.get(), "median", SL_STAT_QUANTILE, {9, 10, 11});
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(cell(t.get(), "stat_min_count", 0), "fail");
    EXPECT_EQ(cell(t.get(), "stat_min_count", 1), "pass");
    EXPECT_EQ(cell(t.get(), "stat_min_count", 2), "pass");
    EXPECT_EQ(t->cell_decision[0], SL_DECISION_FAIL);
    EXPECT_EQ(t->cell_decision[1], SL_DECISION_PASS);
    json_t *v = rule_verdict(t.get(), "stat_min_count");
    EXPECT_STREQ(json_string_value(json_object_get(v, "scope")), "stat");
}

TEST(GateStats, MinCountAppliesToEveryMagnitudeKind)
{
    sl_rules r = defaults();
    for (sl_stat_kind k : {SL_STAT_SUM, SL_STAT_MEAN, SL_STAT_SD, SL_STAT_VAR, SL_STAT_QUANTILE,
                           SL_STAT_MIN, SL_STAT_MAX}) {
        auto t = make_table(2);
        add_stat(t.get(), "x", k, {9, 10});
        ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
        EXPECT_EQ(cell(t.get(), "stat_min_count", 0), "fail") << k;
        EXPECT_EQ(cell(t.get(), "stat_min_count", 1), "pass") << k;
    }
}

TEST(GateStats, MinCountWithoutSupportUsesTheCellCount)
{
    sl_rules r = defaults();
    auto t = make_table(2);
    t->n[0] = 9;
    t->n[1] = 10;
    add_stat(t.get(), "mean", SL_STAT_MEAN, {});
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(cell(t.get(), "stat_min_count", 0), "fail");
    EXPECT_EQ(cell(t.get(), "stat_min_count", 1), "pass");
}

TEST(GateStats, AbsentValuesAreNotJudged)
{
    sl_rules r = defaults();
    auto t = make_table(1);
    int s = add_stat(t.get(), "sd", SL_STAT_SD, {1});
    t->stats[s].v[0] = NAN;
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(cell(t.get(), "stat_min_count", 0), "pass");
    EXPECT_EQ(cell(t.get(), "dof_sd", 0), "pass");
}

TEST(GateStats, CountColumnsAreThresholded)
{
    sl_rules r = defaults();
    auto t = make_table(4);
    int s = add_stat(t.get(), "present", SL_STAT_COUNT, {});
    t->stats[s].v[0] = 9;
    t->stats[s].v[1] = 10;
    t->stats[s].v[2] = 11;
    t->stats[s].v[3] = 0;
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(cell(t.get(), "stat_min_count", 0), "fail");
    EXPECT_EQ(cell(t.get(), "stat_min_count", 1), "pass");
    EXPECT_EQ(cell(t.get(), "stat_min_count", 2), "pass");
    EXPECT_EQ(cell(t.get(), "stat_min_count", 3), "pass");
}

// Missing counts are left to the optional missing_values rule.
TEST(GateStats, MissingCountsAreNotThresholded)
{
    sl_rules r = defaults();
    auto t = make_table(1);
    int s = add_stat(t.get(), "missing", SL_STAT_MISSING, {});
    t->stats[s].v[0] = 3;
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(status(t.get(), "stat_min_count"), "absent");
    EXPECT_EQ(t->decision, SL_DECISION_PASS);
}

// top-2 share exactly k (0.9) fails; just below passes; above fails.
TEST(GateStats, NkExactlyAtK)
{
    sl_rules r = defaults();
    auto t = sum_table(3);
    set_dom_exact(t.get(), 0, {45, 45, 10});             // 90/100 = k
    set_dom_exact(t.get(), 1, {450000, 449999, 100001}); // just below k
    set_dom_exact(t.get(), 2, {450000, 450001, 99999});  // just above k
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(cell(t.get(), "dominance_nk", 0), "fail");
    EXPECT_EQ(cell(t.get(), "dominance_nk", 1), "pass");
    EXPECT_EQ(cell(t.get(), "dominance_nk", 2), "fail");
    json_t *v = rule_verdict(t.get(), "dominance_nk");
    EXPECT_STREQ(json_string_value(json_object_get(v, "scope")), "stat");
    EXPECT_NE(std::string(json_string_value(json_object_get(v, "reason"))).find("0.9"),
              std::string::npos);
}

// Sums beyond 64 bits compare exactly: with nk_n = 4 and e = 2^59 the top
// four hold 36e (> 2^64) of a total of 40e, exactly k: fail; one more unit
// in the total: pass.
TEST(GateStats, NkExactBeyond64Bits)
{
    sl_rules r = defaults();
    r.nk_n = 4;
    const int64_t e = int64_t{1} << 59;
    auto t = sum_table(2);
    set_dom(t.get(), 0, {9 * e, 9 * e, 9 * e, 9 * e}, 8, static_cast<__int128>(40) * e);
    set_dom(t.get(), 1, {9 * e, 9 * e, 9 * e, 9 * e}, 8, static_cast<__int128>(40) * e + 1);
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(cell(t.get(), "dominance_nk", 0), "fail");
    EXPECT_EQ(cell(t.get(), "dominance_nk", 1), "pass");
}

TEST(GateStats, FewerThanNContributorsAlwaysDominate)
{
    sl_rules r = defaults();
    auto t = sum_table(2);
    set_dom_exact(t.get(), 0, {5});
    set_dom_exact(t.get(), 1, {5, 5});
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(cell(t.get(), "dominance_nk", 0), "fail");
    EXPECT_EQ(cell(t.get(), "dominance_nk", 1), "fail");
}

// rest / x1 exactly p (0.1) passes; one unit below fails; above passes.
TEST(GateStats, PRatioExactlyAtP)
{
    sl_rules r = defaults();
    auto t = sum_table(3);
    set_dom_exact(t.get(), 0, {100, 50, 5, 5});  // rest 10 = 0.1 * 100
    set_dom_exact(t.get(), 1, {100, 50, 5, 4});  // rest 9
    set_dom_exact(t.get(), 2, {100, 50, 6, 5});  // rest 11
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(cell(t.get(), "dominance_p", 0), "pass");
    EXPECT_EQ(cell(t.get(), "dominance_p", 1), "fail");
    EXPECT_EQ(cell(t.get(), "dominance_p", 2), "pass");
}

TEST(GateStats, PRatioWithOneContributorFails)
{
    sl_rules r = defaults();
    auto t = sum_table(1);
    set_dom_exact(t.get(), 0, {7});
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(cell(t.get(), "dominance_p", 0), "fail");
}

TEST(GateStats, AllZeroContributionsDiscloseNothing)
{
    sl_rules r = defaults();
    auto t = sum_table(1);
    set_dom_exact(t.get(), 0, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(cell(t.get(), "dominance_nk", 0), "pass");
    EXPECT_EQ(cell(t.get(), "dominance_p", 0), "pass");
}

TEST(GateStats, NegativeContributionsGiveReview)
{
    sl_rules r = defaults();
    auto t = sum_table(2);
    set_dom(t.get(), 0, {90, 5, 3, 2}, 20, 50, true);
    set_dom_exact(t.get(), 1, {10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10});
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(cell(t.get(), "dominance_nk", 0), "review");
    EXPECT_EQ(cell(t.get(), "dominance_p", 0), "review");
    EXPECT_EQ(cell(t.get(), "dominance_nk", 1), "pass");
    EXPECT_EQ(t->decision, SL_DECISION_REVIEW);
    EXPECT_NE(std::string(json_string_value(json_object_get(rule_verdict(t.get(), "dominance_nk"),
                                                             "reason")))
                  .find("negative"),
              std::string::npos);
}

TEST(GateStats, InconsistentEvidenceIsNotTrusted)
{
    sl_rules r = defaults();
    auto t = sum_table(1);
    set_dom(t.get(), 0, {10, 20, 0, 0}, 2, 30);  // not descending
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(cell(t.get(), "dominance_nk", 0), "review");
}

TEST(GateStats, SumsWithoutEvidenceGoToReview)
{
    sl_rules r = defaults();
    auto t = make_table(1);
    add_stat(t.get(), "sum", SL_STAT_SUM, {50});
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(cell(t.get(), "dominance_nk", 0), "review");
}

// nk_n beyond the 4 contributions kept: decided from exact bounds when
// they agree, review when they do not.
TEST(GateStats, NkBeyondKeptContributionsUsesBounds)
{
    sl_rules r = defaults();
    r.nk_n = 6;
    auto t = sum_table(3);
    // Top 4 alone already hold 95% of the total: fail.
    set_dom(t.get(), 0, {30, 25, 20, 20}, 10, 100);
    // At most 4 * 10 + 2 * 10 = 60% of the total: pass.
    set_dom(t.get(), 1, {10, 10, 10, 10}, 10, 100);
    // Between 80% (kept) and 100% (bound): undecidable, review.
    set_dom(t.get(), 2, {20, 20, 20, 20}, 6, 100);
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(cell(t.get(), "dominance_nk", 0), "fail");
    EXPECT_EQ(cell(t.get(), "dominance_nk", 1), "pass");
    EXPECT_EQ(cell(t.get(), "dominance_nk", 2), "review");
}

// sd needs support - 1 >= min_dof: support 10 fails, 11 (dof == min) and 12 pass.
TEST(GateStats, DofBoundary)
{
    sl_rules r = defaults();
    auto t = make_table(3);
    add_stat(t.get(), "sd", SL_STAT_SD, {10, 11, 12});
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(cell(t.get(), "dof_sd", 0), "fail");
    EXPECT_EQ(cell(t.get(), "dof_sd", 1), "pass");
    EXPECT_EQ(cell(t.get(), "dof_sd", 2), "pass");
    EXPECT_EQ(cell(t.get(), "stat_min_count", 0), "pass");
}

TEST(GateStats, DofAppliesToVarianceWithCustomMinimum)
{
    sl_rules r = defaults();
    r.min_dof = 20;
    auto t = make_table(3);
    add_stat(t.get(), "var", SL_STAT_VAR, {20, 21, 22});
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(cell(t.get(), "dof_sd", 0), "fail");
    EXPECT_EQ(cell(t.get(), "dof_sd", 1), "pass");
    EXPECT_EQ(cell(t.get(), "dof_sd", 2), "pass");
}

TEST(GateStats, MissingValuesRuleIsOptional)
{
    sl_rules r = defaults();
    auto t = make_table(2);
    int s = add_stat(t.get(), "missing", SL_STAT_MISSING, {});
    t->stats[s].v[0] = 0;
    t->stats[s].v[1] = 12;
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(status(t.get(), "missing_values"), "absent");
    r.check_missing = true;
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(cell(t.get(), "missing_values", 0), "pass");
    EXPECT_EQ(cell(t.get(), "missing_values", 1), "review");
    EXPECT_EQ(t->decision, SL_DECISION_REVIEW);
}

TEST(GateStats, MissingValuesFromSupport)
{
    sl_rules r = defaults();
    r.check_missing = true;
    auto t = make_table(2, 50);
    add_stat(t.get(), "mean", SL_STAT_MEAN, {50, 49});
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(cell(t.get(), "missing_values", 0), "pass");
    EXPECT_EQ(cell(t.get(), "missing_values", 1), "review");
}

TEST(GateStats, MinMaxNeedsThePolicy)
{
    sl_rules r = defaults();
    auto t = make_table(1);
    add_stat(t.get(), "max", SL_STAT_MAX, {50});
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(cell(t.get(), "minmax", 0), "fail");
    EXPECT_NE(std::string(json_string_value(json_object_get(rule_verdict(t.get(), "minmax"),
                                                             "reason")))
                  .find("allow_minmax"),
              std::string::npos);
}

// Allowed: the extreme must be shared by minmax_min_count patients.
TEST(GateStats, MinMaxSharingBoundary)
{
    sl_rules r = defaults();
    r.allow_minmax = true;
    r.minmax_min_count = 12;
    r.min_safe_count = 5;
    auto t = make_table(3);
    add_stat(t.get(), "min", SL_STAT_MIN, {11, 12, 13});
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(cell(t.get(), "minmax", 0), "fail");
    EXPECT_EQ(cell(t.get(), "minmax", 1), "pass");
    EXPECT_EQ(cell(t.get(), "minmax", 2), "pass");
}

TEST(GateStats, ModelTablesAreLeftToModelRules)
{
    sl_rules r = defaults();
    auto t = make_table(1, 100, "glm");
    add_stat(t.get(), "sd", SL_STAT_SD, {3});
    t->model = json_object();
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(status(t.get(), "stat_min_count"), "absent");
    EXPECT_EQ(status(t.get(), "dof_sd"), "absent");
}

// Evidence is operator-only and never a patient's value: the dominance
// evidence carries contributor counts, not the contributions.
TEST(GateStats, DominanceEvidenceHasNoContributions)
{
    sl_rules r = defaults();
    auto t = sum_table(1);
    set_dom_exact(t.get(), 0, {123456789, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5});
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    char *text = json_dumps(rule_verdict(t.get(), "dominance_nk"), 0);
    ASSERT_NE(text, nullptr);
    EXPECT_EQ(std::string(text).find("123456789"), std::string::npos);
    EXPECT_NE(std::string(text).find("\"contributors\": 12"), std::string::npos);
    free(text);
}
