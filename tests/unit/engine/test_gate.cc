// Release gate: minimum safe count and zero-cell rules at their boundaries.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "tables.hh"

extern "C" {
#include "engine/gate.h"
#include "engine/rules.h"
#include "engine/table.h"
}

namespace {

using sltest::TablePtr;
using sltest::rule_status;

TablePtr count_table(std::initializer_list<int64_t> counts)
{
    static const char *levels[] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    sl_dim dim{const_cast<char *>("group"), static_cast<int32_t>(counts.size()),
               const_cast<char **>(levels), nullptr};
    sl_table *t = nullptr;
    EXPECT_EQ(sl_table_create("t", "count", 1, &dim, &t), SL_OK);
    int64_t i = 0;
    for (int64_t c : counts)
        t->n[i++] = c;
    return TablePtr(t);
}

}  // namespace

TEST(Gate, MinSafeCountBoundaryIsInclusive)
{
    sl_rules r;
    sl_rules_default(&r);
    ASSERT_EQ(r.min_safe_count, 10);
    auto t = count_table({9, 10, 11});
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(t->cell_decision[0], SL_DECISION_FAIL);
    EXPECT_EQ(t->cell_decision[1], SL_DECISION_PASS);
    EXPECT_EQ(t->cell_decision[2], SL_DECISION_PASS);
    EXPECT_EQ(t->decision, SL_DECISION_FAIL);
    EXPECT_EQ(rule_status(t.get(), "min_safe_count"), "fail");
}

TEST(Gate, AllCellsAtThresholdPass)
{
    sl_rules r;
    sl_rules_default(&r);
    auto t = count_table({10, 10, 1000});
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(t->decision, SL_DECISION_PASS);
    EXPECT_EQ(rule_status(t.get(), "min_safe_count"), "pass");
    EXPECT_EQ(rule_status(t.get(), "zero_cells"), "pass");
}

TEST(Gate, CustomThresholdMovesTheBoundary)
{
    sl_rules r;
    sl_rules_default(&r);
    r.min_safe_count = 20;
    auto t = count_table({19, 20, 21});
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(t->cell_decision[0], SL_DECISION_FAIL);
    EXPECT_EQ(t->cell_decision[1], SL_DECISION_PASS);
    EXPECT_EQ(t->cell_decision[2], SL_DECISION_PASS);
}

TEST(Gate, ZeroCellsFailWhenUnsafe)
{
    sl_rules r;
    sl_rules_default(&r);
    auto t = count_table({0, 50});
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(t->cell_decision[0], SL_DECISION_FAIL);
    EXPECT_EQ(t->cell_decision[1], SL_DECISION_PASS);
    EXPECT_EQ(rule_status(t.get(), "zero_cells"), "fail");
    EXPECT_EQ(rule_status(t.get(), "min_safe_count"), "pass");
}

TEST(Gate, ZeroCellsPassWhenAllowed)
{
    sl_rules r;
    sl_rules_default(&r);
    r.zero_is_unsafe = false;
    auto t = count_table({0, 50});
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(t->decision, SL_DECISION_PASS);
    EXPECT_EQ(rule_status(t.get(), "zero_cells"), "absent");
}

TEST(Gate, OneBelowThresholdFailsEvenNextToZeros)
{
    sl_rules r;
    sl_rules_default(&r);
    r.zero_is_unsafe = false;
    auto t = count_table({0, 1, 9});
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(t->cell_decision[0], SL_DECISION_PASS);
    EXPECT_EQ(t->cell_decision[1], SL_DECISION_FAIL);
    EXPECT_EQ(t->cell_decision[2], SL_DECISION_FAIL);
    EXPECT_EQ(t->decision, SL_DECISION_FAIL);
}

TEST(Gate, ReasonNamesTheRuleWithoutValues)
{
    sl_rules r;
    sl_rules_default(&r);
    auto t = count_table({3, 50});
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    json_t *v = json_array_get(t->verdicts, 0);
    const char *reason = json_string_value(json_object_get(v, "reason"));
    ASSERT_NE(reason, nullptr);
    EXPECT_NE(std::string(reason).find("at least 10"), std::string::npos);
    EXPECT_EQ(std::string(reason).find(" 3 "), std::string::npos);
}

TEST(Gate, UnknownAnalysisIsHeldForReview)
{
    sl_rules r;
    sl_rules_default(&r);
    sl_table *raw = nullptr;
    ASSERT_EQ(sl_table_create("x", "mystery", 0, nullptr, &raw), SL_OK);
    TablePtr t(raw);
    t->n[0] = 1000;
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(t->decision, SL_DECISION_REVIEW);
}

namespace {

TablePtr table_of(const char *analysis, std::initializer_list<int64_t> counts)
{
    static const char *levels[] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    sl_dim dim{const_cast<char *>("group"), static_cast<int32_t>(counts.size()),
               const_cast<char **>(levels), nullptr};
    sl_table *t = nullptr;
    EXPECT_EQ(sl_table_create("t", analysis, 1, &dim, &t), SL_OK);
    int64_t i = 0;
    for (int64_t c : counts)
        t->n[i++] = c;
    return TablePtr(t);
}

std::string cell_verdict(const sl_table *t, const char *rule, size_t cell)
{
    size_t i;
    json_t *v;
    json_array_foreach(t->verdicts, i, v) {
        if (std::strcmp(json_string_value(json_object_get(v, "rule")), rule) == 0)
            return json_string_value(json_array_get(json_object_get(v, "cells"), cell));
    }
    return "absent";
}

}  // namespace

// Every tabulating analysis gets the frequency rules on its patient counts.
TEST(Gate, FrequencyRulesCoverEveryTabulatingAnalysis)
{
    sl_rules r;
    sl_rules_default(&r);
    for (const char *analysis : {"count", "crosstab", "histogram", "describe"}) {
        auto t = table_of(analysis, {9, 10, 11, 0});
        ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK) << analysis;
        EXPECT_EQ(cell_verdict(t.get(), "min_safe_count", 0), "fail") << analysis;
        EXPECT_EQ(cell_verdict(t.get(), "min_safe_count", 1), "pass") << analysis;
        EXPECT_EQ(cell_verdict(t.get(), "min_safe_count", 2), "pass") << analysis;
        EXPECT_EQ(cell_verdict(t.get(), "zero_cells", 3), "fail") << analysis;
        EXPECT_EQ(t->decision, SL_DECISION_FAIL) << analysis;
    }
}

TEST(Gate, EvidenceHoldsEachCellsCount)
{
    sl_rules r;
    sl_rules_default(&r);
    auto t = count_table({12, 30});
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    json_t *v = json_array_get(t->verdicts, 0);
    json_t *ev = json_object_get(v, "evidence");
    ASSERT_TRUE(json_is_array(ev));
    EXPECT_EQ(json_integer_value(json_object_get(json_array_get(ev, 0), "n")), 12);
    EXPECT_EQ(json_integer_value(json_object_get(json_array_get(ev, 1), "n")), 30);
}

// Profile opensafely: 1..redact_at_most patients are redacted; the boundary
// redact_at_most itself is redacted, one above is not.
TEST(Gate, RedactSmallCountsBoundary)
{
    sl_rules r;
    sl_rules_default(&r);
    r.redact_at_most = 7;
    r.min_safe_count = 8;
    r.zero_is_unsafe = false;
    auto t = count_table({6, 7, 8, 0});
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(cell_verdict(t.get(), "redact_small_counts", 0), "fail");
    EXPECT_EQ(cell_verdict(t.get(), "redact_small_counts", 1), "fail");
    EXPECT_EQ(cell_verdict(t.get(), "redact_small_counts", 2), "pass");
    EXPECT_EQ(cell_verdict(t.get(), "redact_small_counts", 3), "pass");
}

TEST(Gate, RedactRuleAbsentOutsideTheProfile)
{
    sl_rules r;
    sl_rules_default(&r);
    auto t = count_table({50});
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(rule_status(t.get(), "redact_small_counts"), "absent");
}

// A model table is not a frequency table even if its analysis were named so.
TEST(Gate, ModelTablesAreNotJudgedAsFrequencies)
{
    sl_rules r;
    sl_rules_default(&r);
    auto t = table_of("count", {3});
    t->model = json_object();
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(rule_status(t.get(), "min_safe_count"), "absent");
}
