// Release ledger: differencing between released tables, persistence,
// locking between processes, and crash-safe writes.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tables.hh"

extern "C" {
#include "engine/audit.h"
#include "engine/gate.h"
#include "engine/core/alloc.h"
#include "engine/dp.h"
#include "engine/filter.h"
#include "engine/ledger.h"
#include "engine/mitigate.h"
#include "engine/rules.h"
#include "engine/table.h"
}

namespace {

using sltest::TablePtr;
struct LedgerDeleter {
    void operator()(sl_ledger *l) const { sl_ledger_close(&l); }
};
using LedgerPtr = std::unique_ptr<sl_ledger, LedgerDeleter>;

const unsigned char kKey[32] = {7, 1, 7, 2, 7, 3, 7, 4, 7, 5, 7, 6, 7, 7, 7, 8,
                                7, 9, 7, 10, 7, 11, 7, 12, 7, 13, 7, 14, 7, 15, 7, 16};

std::string verdict_of(const sl_table *t, const char *rule, const char *key)
{
    size_t i;
    json_t *v;
    json_array_foreach(t->verdicts, i, v) {
        if (std::strcmp(json_string_value(json_object_get(v, "rule")), rule) == 0) {
            json_t *x = json_object_get(v, key);
            return x ? json_string_value(x) : "";
        }
    }
    return "absent";
}

class Ledger : public ::testing::Test {
protected:
    void SetUp() override
    {
        char tmpl[] = "/tmp/sluice-ledger-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        sl_rules_default(&rules_);
    }
    void TearDown() override { EXPECT_EQ(std::system(("rm -rf '" + dir_ + "'").c_str()), 0); }

    LedgerPtr open(const char *project = "diabetes")
    {
        sl_ledger *l = nullptr;
        EXPECT_EQ(sl_ledger_open(dir_.c_str(), "0f1e2d3c-aaaa-bbbb-cccc-123456789abc", project,
                                 kKey, &l),
                  SL_OK);
        return LedgerPtr(l);
    }

    // A count table by `dims` (each of two levels) with the given counts.
    TablePtr table(std::vector<const char *> dims, std::vector<int64_t> counts,
                   const char *name = "by_sex")
    {
        static const char *lv[] = {"F", "M"};
        std::vector<sl_dim> d;
        for (const char *n : dims)
            d.push_back({const_cast<char *>(n), 2, const_cast<char **>(lv), nullptr});
        sl_table *t = nullptr;
        EXPECT_EQ(sl_table_create(name, "count", static_cast<int>(d.size()), d.data(), &t),
                  SL_OK);
        for (size_t c = 0; c < counts.size(); c++)
            t->n[c] = counts[c];
        EXPECT_EQ(sl_gate_evaluate(t, &rules_), SL_OK);
        return TablePtr(t);
    }

    // A count table by age cut at `cuts` (bands, or with `last_closed` a
    // histogram whose last end is included: "below", bins, "above"), after
    // a leading "sex" dimension (F, M) when `by_sex`, with margins when
    // asked; `counts` row-major over the shown levels.
    TablePtr banded(std::vector<double> cuts, std::vector<int64_t> counts, bool by_sex = false,
                    bool margins = false, bool last_closed = false)
    {
        static const char *sexes[] = {"F", "M", "Total"};
        std::vector<std::string> names;
        for (size_t l = 0; l <= cuts.size(); l++)
            names.push_back("band" + std::to_string(l));
        if (margins)
            names.push_back("Total");
        std::vector<char *> lv;
        for (auto &n : names)
            lv.push_back(const_cast<char *>(n.c_str()));
        sl_intervals *iv = nullptr;
        EXPECT_EQ(sl_intervals_create("age", static_cast<int32_t>(cuts.size()),
                                      static_cast<int32_t>(lv.size()), &iv),
                  SL_OK);
        for (size_t k = 0; k < cuts.size(); k++)
            iv->end[k] = cuts[k];
        iv->closed[cuts.size() - 1] = last_closed;
        for (size_t l = 0; l < lv.size(); l++)
            iv->upper[l] = l <= cuts.size() ? static_cast<int32_t>(l) : -1;
        std::vector<sl_dim> d;
        if (by_sex)
            d.push_back({const_cast<char *>("sex"), margins ? 3 : 2, const_cast<char **>(sexes),
                         nullptr});
        d.push_back({const_cast<char *>("age"), static_cast<int32_t>(lv.size()), lv.data(), iv});
        sl_table *t = nullptr;
        EXPECT_EQ(sl_table_create("by_age", "count", static_cast<int>(d.size()), d.data(), &t),
                  SL_OK);
        sl_intervals_destroy(&iv);
        t->margins = margins;
        EXPECT_EQ(static_cast<size_t>(t->ncells), counts.size());
        for (size_t c = 0; c < counts.size(); c++)
            t->n[c] = counts[c];
        EXPECT_EQ(sl_gate_evaluate(t, &rules_), SL_OK);
        return TablePtr(t);
    }

    // The differencing verdict of `t` under `filter` in job `job`.
    std::string judged(sl_ledger *l, const TablePtr &t, const char *job, const char *filter = "")
    {
        json_t *e = entry(t.get(), job, filter);
        EXPECT_EQ(sl_ledger_judge(l, t.get(), e, &rules_), SL_OK);
        json_decref(e);
        return verdict_of(t.get(), "differencing", "status");
    }

    // The entry of `t` under `filter` as a job writes it: a filter that
    // binds against age, bmi, sex, region, smoker and dob gives its
    // canonical text, conjuncts and ranges, no filter an empty list of
    // conjuncts; anything else ("a", "b") stands for a filter of an older
    // version, known only as its text.
    json_t *entry(const sl_table *t, const char *job, const char *filter)
    {
        static const char *sexes[] = {"F", "M"}, *regions[] = {"North", "South"};
        const char *names[] = {"age", "bmi", "sex", "region", "smoker", "dob"};
        const sl_coltype types[] = {SL_COL_INT, SL_COL_REAL, SL_COL_CAT,
                                    SL_COL_CAT, SL_COL_INT,  SL_COL_DATE};
        sl_colinfo cols[6];
        for (int i = 0; i < 6; i++) {
            cols[i] = sl_colinfo{};
            cols[i].name = const_cast<char *>(names[i]);
            cols[i].type = types[i];
        }
        cols[2].nlevels = cols[3].nlevels = 2;
        cols[2].levels = const_cast<char **>(sexes);
        cols[3].levels = const_cast<char **>(regions);
        sl_filter *f = nullptr;
        bool real = filter && *filter && sl_filter_parse(filter, nullptr, &f) == SL_OK &&
                    sl_filter_bind_columns(f, cols, 6) == SL_OK;
        json_t *e = nullptr;
        EXPECT_EQ(sl_ledger_entry(t, job, real ? sl_filter_text(f) : filter, &e), SL_OK);
        if (real) {
            sl_filter_range *r = nullptr;
            sl_filter_conjunct *c = nullptr;
            int nr = 0, nc = 0;
            EXPECT_EQ(sl_filter_ranges(f, &r, &nr), SL_OK);
            EXPECT_EQ(sl_filter_conjuncts(f, &c, &nc), SL_OK);
            EXPECT_EQ(sl_ledger_entry_filter(e, c, nc, r, nr), SL_OK);
            sl_free(r);
            sl_filter_conjuncts_free(&c, nc);
        } else if (!filter || !*filter) {
            EXPECT_EQ(sl_ledger_entry_filter(e, nullptr, 0, nullptr, 0), SL_OK);
        }
        sl_filter_destroy(&f);
        return e;
    }

    void record(sl_ledger *l, const sl_table *t, const char *job, const char *filter)
    {
        json_t *e = entry(t, job, filter);
        ASSERT_EQ(sl_ledger_record(l, e), SL_OK);
        json_decref(e);
    }

    std::string dir_;
    sl_rules rules_;
};
}  // namespace

TEST_F(Ledger, EntryHoldsTheTruePopulation)
{
    auto t = table({"sex"}, {120, 130});
    json_t *e = entry(t.get(), "job1", "age >= 40");
    EXPECT_EQ(json_integer_value(json_object_get(e, "population")), 250);
    EXPECT_STREQ(json_string_value(json_object_get(e, "filter")), "age >= 40");
    EXPECT_STREQ(json_string_value(json_object_get(e, "output")), "by_sex");
    EXPECT_EQ(json_array_size(json_object_get(e, "cells")), 2u);
    json_decref(e);
}

TEST_F(Ledger, MarginCellsDoNotCountTwice)
{
    static const char *lv[] = {"F", "M", "Total"};
    sl_dim d{const_cast<char *>("sex"), 3, const_cast<char **>(lv), nullptr};
    sl_table *raw = nullptr;
    ASSERT_EQ(sl_table_create("ct", "crosstab", 1, &d, &raw), SL_OK);
    TablePtr t(raw);
    t->margins = 1;
    t->n[0] = 40;
    t->n[1] = 60;
    t->n[2] = 100;
    json_t *e = entry(t.get(), "job1", nullptr);
    EXPECT_EQ(json_integer_value(json_object_get(e, "population")), 100);
    json_decref(e);
}

// Populations 1 .. min_safe_count-1 apart on the same dimensions under a
// different filter fail, naming the earlier job; 0 and min_safe_count apart
// pass.
TEST_F(Ledger, DifferencingBoundaries)
{
    auto l = open();
    record(l.get(), table({"sex"}, {500, 500}).get(), "job-early", "age >= 40");
    struct {
        int64_t second;
        const char *want;
    } cases[] = {{499, "fail"}, {491, "fail"}, {490, "pass"}, {500, "pass"}, {509, "fail"},
                 {510, "pass"}};
    for (auto &k : cases) {
        auto t = table({"sex"}, {500, k.second});
        json_t *e = entry(t.get(), "job-new", "age >= 41");
        ASSERT_EQ(sl_ledger_judge(l.get(), t.get(), e, &rules_), SL_OK);
        EXPECT_EQ(verdict_of(t.get(), "differencing", "status"), k.want) << k.second;
        if (std::strcmp(k.want, "fail") == 0) {
            EXPECT_EQ(t->decision, SL_DECISION_FAIL);
            std::string reason = verdict_of(t.get(), "differencing", "reason");
            EXPECT_NE(reason.find("job-early"), std::string::npos);
            EXPECT_NE(reason.find("'by_sex'"), std::string::npos);
            EXPECT_EQ(verdict_of(t.get(), "differencing", "scope"), "table");
        }
        json_decref(e);
    }
}

TEST_F(Ledger, SameFilterOrSameJobAreNotDifferencing)
{
    auto l = open();
    record(l.get(), table({"sex"}, {500, 500}).get(), "job-early", "age >= 40");
    EXPECT_EQ(judged(l.get(), table({"sex"}, {500, 497}), "job-new", "age >= 40"), "pass");
    EXPECT_EQ(judged(l.get(), table({"sex"}, {500, 497}), "job-early", "age >= 41"), "pass");
}

// Populations are compared whatever the tables' dimensions: a count by
// region under another filter whose total is 3 short describes 3 patients
// as well.
TEST_F(Ledger, PopulationsOfTablesOnOtherDimensionsAreCompared)
{
    auto l = open();
    record(l.get(), table({"sex"}, {500, 500}).get(), "job-early", "age >= 40");
    EXPECT_EQ(judged(l.get(), table({"region"}, {500, 497}), "job-new", "age >= 41"), "fail");
    EXPECT_EQ(judged(l.get(), table({"region"}, {500, 490}), "job-new", "age >= 41"), "pass");
    EXPECT_EQ(judged(l.get(), banded({41}, {503, 494}), "job-new", "age >= 41"), "fail");
    // filters known only as text, on other dimensions
    EXPECT_EQ(judged(l.get(), table({"region"}, {500, 497}), "job-new", "b"), "fail");
}

// Within one combination of the levels both tables show, where one filter
// keeps only patients the other keeps (a range inside the other's, or the
// same conjuncts and more): 3 women fewer under the second filter describe
// those women although the populations differ by 23; each table is summed
// over its other dimensions, margins left out; the reason names the shared
// dimensions, not the difference.
TEST_F(Ledger, CountsWithinSharedLevelsAreCompared)
{
    auto l = open();
    record(l.get(), table({"sex"}, {500, 500}).get(), "j1", "age >= 40");
    auto t = table({"sex"}, {497, 480});
    EXPECT_EQ(judged(l.get(), t, "j2", "age >= 41"), "fail");
    std::string reason = verdict_of(t.get(), "differencing", "reason");
    EXPECT_NE(reason.find("levels of sex,"), std::string::npos) << reason;
    EXPECT_NE(reason.find("'by_sex' of job j1"), std::string::npos) << reason;
    EXPECT_EQ(reason.find(" 3 "), std::string::npos) << reason;
    EXPECT_EQ(judged(l.get(), table({"sex"}, {490, 480}), "j2", "age >= 41"), "pass");
    EXPECT_EQ(judged(l.get(), table({"sex"}, {510, 480}), "j2", "age >= 41"), "pass");
    EXPECT_EQ(judged(l.get(), table({"sex"}, {480, 509}), "j2", "age >= 41"), "fail");

    // sex x region, F: 100 + 150, M: 200 + 250; region F: 300, M: 400
    record(l.get(), table({"sex", "region"}, {100, 150, 200, 250}).get(), "j3", "bmi > 30");
    EXPECT_EQ(judged(l.get(), table({"sex"}, {247, 430}), "j4", "bmi > 31"), "fail");
    EXPECT_EQ(judged(l.get(), table({"region"}, {297, 380}), "j4", "bmi > 31"), "fail");
    EXPECT_EQ(judged(l.get(), table({"region"}, {290, 380}), "j4", "bmi > 31"), "pass");
    EXPECT_EQ(judged(l.get(), table({"region", "sex"}, {100, 190, 150, 250}), "j4", "bmi > 31"),
              "pass");
    EXPECT_EQ(judged(l.get(), table({"region", "sex"}, {100, 195, 150, 250}), "j4", "bmi > 31"),
              "fail");

    // margins: F <60, >=60, Total; M ...; Total ...; by sex without age
    // the women are 500 (1000 if the age margin were counted too)
    record(l.get(), banded({60}, {200, 300, 500, 300, 400, 700, 500, 700, 1200}, true, true).get(),
           "j5", "region == \"North\"");
    EXPECT_EQ(judged(l.get(), banded({60}, {198, 300, 470, 200}, true), "j6",
                     "smoker == 1 and region == \"North\""),
              "fail");
    EXPECT_EQ(judged(l.get(), banded({60}, {190, 300, 470, 210}, true), "j6",
                     "smoker == 1 and region == \"North\""),
              "pass");
}

// Filters that do not nest by their conjuncts (or are known only as text)
// are compared on their populations alone: among many combinations of
// levels, two unrelated counts are likely to lie a few apart somewhere.
TEST_F(Ledger, CountsUnderFiltersThatDoNotNestAreNotCompared)
{
    auto l = open();
    record(l.get(), table({"sex"}, {500, 500}).get(), "j1", "smoker == 1");
    EXPECT_EQ(judged(l.get(), table({"sex"}, {497, 480}), "j2", "bmi > 30"), "pass");
    EXPECT_EQ(judged(l.get(), table({"sex"}, {497, 480}), "j2", "smoker == 1 and bmi > 30"),
              "fail");
    EXPECT_EQ(judged(l.get(), table({"sex"}, {497, 480}), "j2", "smoker == 1 or bmi > 30"),
              "pass");
    EXPECT_EQ(judged(l.get(), table({"sex"}, {497, 480}), "j2", "age >= 40 and smoker == 1"),
              "fail");
    record(l.get(), table({"sex"}, {500, 500}).get(), "j3", "a");
    EXPECT_EQ(judged(l.get(), table({"sex"}, {497, 480}), "j4", "b"), "pass");
    // ranges: [40, 65) inside [30, +inf), not inside [41, +inf)
    record(l.get(), table({"region"}, {300, 300}).get(), "j5", "age >= 30");
    record(l.get(), table({"region"}, {200, 200}).get(), "j6", "age >= 41");
    EXPECT_EQ(judged(l.get(), table({"region"}, {297, 250}), "j7", "age >= 40 and age < 65"),
              "fail");
    EXPECT_EQ(judged(l.get(), table({"region"}, {203, 150}), "j7", "age >= 40 and age < 65"),
              "pass");
}

// Under other filters, the counts of two tables also differ by the
// patients one filter keeps and the other does not: their cuts are not
// compared (the same cuts make a shared dimension, compared level by level
// where the filters nest). Filters with the same conjuncts in another
// order are the same filter.
TEST_F(Ledger, CutsUnderOtherFiltersAreNotSlivers)
{
    auto l = open();
    record(l.get(), banded({40}, {500, 500}).get(), "j1", "a");
    EXPECT_EQ(judged(l.get(), banded({41}, {503, 480}), "j2", "b"), "pass");
    record(l.get(), banded({40}, {500, 500}).get(), "j3", "sex == \"F\" and smoker == 1");
    EXPECT_EQ(judged(l.get(), banded({41}, {503, 497}), "j4", "(smoker == 1 and sex == \"F\")"),
              "fail");
    EXPECT_EQ(judged(l.get(), banded({41}, {503, 497}), "j4",
                     "smoker == 1 and sex == \"F\" and sex == \"F\""),
              "fail");
    EXPECT_EQ(judged(l.get(), banded({41}, {503, 487}), "j4",
                     "smoker == 1 and (sex == \"F\" or bmi > 30)"),
              "pass");
    EXPECT_EQ(judged(l.get(), banded({40}, {497, 480}), "j4",
                     "smoker == 1 and sex == \"F\" and bmi > 30"),
              "fail");
}

// Another filter of the same population is taken for the same patients: a
// conjunct that keeps everyone does not hide the cut moved by a year.
TEST_F(Ledger, CutsUnderFiltersOfTheSamePopulationAreSlivers)
{
    auto l = open();
    record(l.get(), banded({40}, {500, 500}).get(), "j1", "");
    EXPECT_EQ(judged(l.get(), banded({41}, {503, 497}), "j2", "bmi > -1000"), "fail");
    EXPECT_EQ(judged(l.get(), banded({41}, {503, 487}), "j2", "bmi > -1000"), "pass");
    EXPECT_EQ(judged(l.get(), banded({41}, {503, 497}), "j2", "a"), "fail");
    EXPECT_EQ(judged(l.get(), banded({41}, {520, 480}), "j2", "a"), "pass");
}

// A filter's bounds cut its column: under `age >= 40` a count by sex
// holds the patients at or above 40, a band at 41 without a filter those
// at or above 41; 3 apart, they describe 3 patients aged 40. Both ends of
// a range: the patients from 40 to 65 against the band [40, 66) leave
// those aged 65. Intervals under a range: a band at 50 under `age >= 40`
// shows the patients from 40 to 49, its own cell.
TEST_F(Ledger, FilterBoundsAreCuts)
{
    {
        auto l = open("p1");
        record(l.get(), banded({41}, {600, 400}).get(), "j1", "");
        auto t = table({"sex"}, {203, 200});
        EXPECT_EQ(judged(l.get(), t, "j2", "age >= 40"), "fail");
        EXPECT_NE(verdict_of(t.get(), "differencing", "reason").find("cuts of 'age'"),
                  std::string::npos);
        EXPECT_EQ(judged(l.get(), table({"sex"}, {210, 200}), "j2", "age >= 40"),
                  "pass");
        // the other way round: the range recorded first
        auto m = open("p2");
        record(m.get(), table({"sex"}, {203, 200}).get(), "j1", "age >= 40");
        EXPECT_EQ(judged(m.get(), banded({41}, {600, 400}), "j2"), "fail");
        EXPECT_EQ(judged(m.get(), banded({41}, {580, 420}), "j2"), "pass");
    }
    {
        // the rest of the filter must be the same
        auto l = open("p5");
        record(l.get(), banded({41}, {600, 400}).get(), "j1", "");
        record(l.get(), banded({41}, {300, 200}).get(), "j2", "sex == \"F\"");
        EXPECT_EQ(judged(l.get(), table({"region"}, {100, 103}), "j3",
                         "age >= 40 and sex == \"F\""),
                  "fail");
        EXPECT_EQ(judged(l.get(), table({"region"}, {200, 203}), "j3",
                         "age >= 40 and sex == \"F\""),
                  "pass");
    }
    {
        auto l = open("p3");
        record(l.get(), banded({40, 66}, {300, 500, 200}).get(), "j1", "");
        EXPECT_EQ(judged(l.get(), table({"sex"}, {250, 247}), "j2", "age >= 40 and age < 65"),
                  "fail");
        EXPECT_EQ(judged(l.get(), table({"sex"}, {240, 240}), "j2", "age >= 40 and age < 65"),
                  "pass");
    }
    {
        auto l = open("p4");
        record(l.get(), banded({50}, {700, 300}).get(), "j1", "");
        EXPECT_EQ(judged(l.get(), banded({50}, {197, 300}), "j2", "age >= 40"),
                  "pass");
        record(l.get(), banded({41}, {506, 494}).get(), "j0", "");
        EXPECT_EQ(judged(l.get(), banded({50}, {197, 300}), "j2", "age >= 40"),
                  "fail");
    }
}

TEST_F(Ledger, DimensionOrderDoesNotMatter)
{
    auto l = open();
    record(l.get(), table({"sex", "region"}, {100, 100, 100, 100}).get(), "j1", "");
    auto t = table({"region", "sex"}, {100, 100, 100, 98});
    json_t *e = entry(t.get(), "j2", "age > 3");
    ASSERT_EQ(sl_ledger_judge(l.get(), t.get(), e, &rules_), SL_OK);
    EXPECT_EQ(verdict_of(t.get(), "differencing", "status"), "fail");
    json_decref(e);
}

// The reason never states the difference itself.
TEST_F(Ledger, ReasonDoesNotStateTheDifference)
{
    auto l = open();
    record(l.get(), table({"sex"}, {500, 500}).get(), "j1", "a");
    auto t = table({"sex"}, {500, 497});
    json_t *e = entry(t.get(), "j2", "b");
    ASSERT_EQ(sl_ledger_judge(l.get(), t.get(), e, &rules_), SL_OK);
    std::string reason = verdict_of(t.get(), "differencing", "reason");
    EXPECT_EQ(reason.find(" 3 "), std::string::npos);
    EXPECT_NE(reason.find("between 1 and 9"), std::string::npos);
    json_decref(e);
}

// Suppression cannot repair a differencing failure.
TEST_F(Ledger, DifferencingSurvivesMitigation)
{
    auto l = open();
    record(l.get(), table({"sex"}, {500, 500}).get(), "j1", "a");
    auto t = table({"sex"}, {500, 497});
    json_t *e = entry(t.get(), "j2", "b");
    ASSERT_EQ(sl_ledger_judge(l.get(), t.get(), e, &rules_), SL_OK);
    ASSERT_EQ(sl_mitigate(t.get(), &rules_, SL_MITIGATE_SUPPRESS), SL_OK);
    EXPECT_EQ(t->decision, SL_DECISION_FAIL);
    json_decref(e);
}

// Bands cut one year apart under the same filter give the patients of that
// year: 1 .. min_safe_count-1 of them fail (in any job, this one too), 0 and
// min_safe_count pass; the reason names the column and the earlier output
// but not the size of the group.
TEST_F(Ledger, SliversBetweenShiftedCutsFail)
{
    auto l = open();
    record(l.get(), banded({40}, {500, 500}).get(), "job-early", "");
    struct {
        int64_t below41;
        const char *want;
    } cases[] = {{500, "pass"}, {501, "fail"}, {509, "fail"}, {510, "pass"}};
    for (auto &k : cases) {
        auto t = banded({41}, {k.below41, 1000 - k.below41});
        EXPECT_EQ(judged(l.get(), t, "job-new"), k.want) << k.below41;
        if (std::strcmp(k.want, "fail") == 0) {
            std::string reason = verdict_of(t.get(), "differencing", "reason");
            EXPECT_NE(reason.find("cuts of 'age'"), std::string::npos) << reason;
            EXPECT_NE(reason.find("'by_age' of job job-early"), std::string::npos) << reason;
            EXPECT_NE(reason.find("between 1 and 9"), std::string::npos) << reason;
            EXPECT_EQ(reason.find(" 1 patient"), std::string::npos) << reason;
        }
    }
    EXPECT_EQ(judged(l.get(), banded({41}, {503, 497}), "job-early"), "fail");
    EXPECT_EQ(judged(l.get(), banded({41}, {503, 487}), "job-new", "smoker == 1"), "pass");
    // a bound of the same column is a cut of its own, not another filter
    EXPECT_EQ(judged(l.get(), banded({41}, {503, 497}), "job-new", "age > 3"), "fail");
    EXPECT_EQ(judged(l.get(), banded({40}, {500, 500}), "job-new"), "pass");
    EXPECT_EQ(judged(l.get(), banded({20, 40, 60}, {100, 400, 300, 200}), "job-new"), "pass");
}

// Neighbouring ends only: a third table whose cut falls between two others
// is compared with each, and groups between two ends of one table are that
// table's own cells.
TEST_F(Ledger, SliversAreFoundBetweenNeighbouringEnds)
{
    auto l = open();
    record(l.get(), banded({30, 50}, {300, 400, 300}).get(), "j1", "");
    // 45 lies between 30 and 50: [45, 50) holds 4 patients
    EXPECT_EQ(judged(l.get(), banded({45}, {696, 304}), "j2"), "fail");
    EXPECT_EQ(judged(l.get(), banded({45}, {650, 350}), "j2"), "pass");
    // [30, 31) holds 2: found although 31's other neighbour is far
    EXPECT_EQ(judged(l.get(), banded({31, 70}, {302, 600, 98}), "j2"), "fail");
}

// Within each combination of the shared dimensions' levels: a group of 3
// women is found although the sexes together differ by 23; a table
// without sex is compared on the sums over sex, margins left out.
TEST_F(Ledger, SliversPerSharedLevelsAndWithoutDoubleCountedMargins)
{
    auto l = open();
    record(l.get(), banded({40}, {250, 250, 250, 250}, true).get(), "j1", "");
    EXPECT_EQ(judged(l.get(), banded({41}, {253, 247, 270, 230}, true), "j2"), "fail");
    EXPECT_EQ(judged(l.get(), banded({41}, {523, 477}), "j2"), "pass");
    EXPECT_EQ(judged(l.get(), banded({41}, {505, 495}), "j2"), "fail");
    // margins: F <40, >=40, Total; M ...; Total ... (the Totals are sums)
    auto m = l.get();
    record(m, banded({60}, {200, 300, 500, 0, 0, 0, 200, 300, 500}, true, true).get(), "j3",
           "f");
    // without sex: 205 below 61 against 200 below 60 (400 if the sex
    // margin were counted too)
    EXPECT_EQ(judged(m, banded({61}, {205, 295}), "j4", "f"), "fail");
    EXPECT_EQ(judged(m, banded({61}, {230, 270}), "j4", "f"), "pass");
}

// A histogram's last end includes its value: against a band cut at the
// same value, the patients exactly at it are a group of their own.
TEST_F(Ledger, ClosedAndOpenEndsAtOneValueDiffer)
{
    auto l = open();
    record(l.get(), banded({40}, {500, 500}).get(), "j1", "");
    // ends 0 (open) and 40 (closed): below 0, [0, 40], above 40
    EXPECT_EQ(judged(l.get(), banded({0, 40}, {0, 507, 493}, false, false, true), "j2"), "fail");
    EXPECT_EQ(judged(l.get(), banded({0, 40}, {0, 500, 500}, false, false, true), "j2"), "pass");
}

TEST_F(Ledger, CommittedEntriesPersistAndRecordIsIdempotent)
{
    {
        auto l = open();
        auto t = table({"sex"}, {50, 60});
        record(l.get(), t.get(), "j1", "a");
        record(l.get(), t.get(), "j1", "a");
        EXPECT_EQ(sl_ledger_size(l.get()), 1);
        ASSERT_EQ(sl_ledger_commit(l.get()), SL_OK);
    }
    {
        auto l = open();
        EXPECT_EQ(sl_ledger_size(l.get()), 1);
        record(l.get(), table({"sex"}, {5, 6}, "other").get(), "j2", "a");
        sl_ledger_forget(l.get(), "j1");
        EXPECT_EQ(sl_ledger_size(l.get()), 1);
    }
    // Uncommitted changes are dropped.
    auto l = open();
    EXPECT_EQ(sl_ledger_size(l.get()), 1);
    auto other = open("another-project");
    EXPECT_EQ(sl_ledger_size(other.get()), 0);
}

TEST_F(Ledger, CorruptLedgerIsRefused)
{
    {
        auto l = open();
        ASSERT_EQ(sl_ledger_commit(l.get()), SL_OK);
    }
    std::string path = dir_ + "/release/0f1e2d3c-aaaa-bbbb-cccc-123456789abc/p_diabetes.json";
    std::ofstream(path, std::ios::trunc) << "{\"format\":1,\"entr";
    sl_ledger *l = nullptr;
    EXPECT_EQ(sl_ledger_open(dir_.c_str(), "0f1e2d3c-aaaa-bbbb-cccc-123456789abc", "diabetes",
                             kKey, &l),
              SL_ERR_INTEGRITY);
    EXPECT_EQ(l, nullptr);
}

// The ledger carries a MAC over its content and a commit sequence: an edit,
// a ledger written under another key, or one of the old format without a
// MAC is refused; what the audit log keeps (sl_ledger_state) is what the
// file holds.
TEST_F(Ledger, EditedLedgerOrWrongKeyIsRefused)
{
    std::string path = dir_ + "/release/0f1e2d3c-aaaa-bbbb-cccc-123456789abc/p_diabetes.json";
    {
        auto l = open();
        record(l.get(), table({"sex"}, {50, 60}).get(), "j1", "a");
        ASSERT_EQ(sl_ledger_commit(l.get()), SL_OK);
        record(l.get(), table({"sex"}, {70, 60}, "b").get(), "j2", "a");
        ASSERT_EQ(sl_ledger_commit(l.get()), SL_OK);
        json_t *state = sl_ledger_state(l.get());
        int64_t seq = 0;
        char mac[65];
        ASSERT_EQ(sl_ledger_check_file(path.c_str(), kKey, &seq, mac), SL_OK)
            << sl_error_message();
        EXPECT_EQ(json_integer_value(json_object_get(state, "sequence")), 2);
        EXPECT_EQ(seq, 2);
        EXPECT_STREQ(json_string_value(json_object_get(state, "ledger_mac")), mac);
        EXPECT_STREQ(json_string_value(json_object_get(state, "ledger")),
                     "release/0f1e2d3c-aaaa-bbbb-cccc-123456789abc/p_diabetes.json");
        json_decref(state);
    }
    std::string good;
    {
        std::ifstream in(path);
        std::stringstream text;
        text << in.rdbuf();
        good = text.str();
    }
    auto refused = [&](const unsigned char *key, const char *what) {
        sl_ledger *l = nullptr;
        EXPECT_EQ(sl_ledger_open(dir_.c_str(), "0f1e2d3c-aaaa-bbbb-cccc-123456789abc", "diabetes",
                                 key, &l),
                  SL_ERR_INTEGRITY);
        EXPECT_EQ(l, nullptr);
        EXPECT_NE(std::string(sl_error_message()).find(what), std::string::npos)
            << sl_error_message();
    };
    // one entry's population lowered: the MAC no longer matches
    std::string edited = good;
    const std::string from = "\"population\": 110", to = "\"population\": 109";
    size_t at = edited.find(from);
    ASSERT_NE(at, std::string::npos);
    edited.replace(at, from.size(), to);
    std::ofstream(path, std::ios::trunc) << edited;
    refused(kKey, "does not match its MAC");
    // the entries cut off: likewise
    std::ofstream(path, std::ios::trunc)
        << "{\"format\": 2, \"sequence\": 2, \"entries\": [], \"mac\": \"00\"}";
    refused(kKey, "does not match its MAC");
    // the true file under another key
    std::ofstream(path, std::ios::trunc) << good;
    unsigned char other[32];
    std::memcpy(other, kKey, sizeof other);
    other[0] ^= 1;
    refused(other, "does not match its MAC");
    // a ledger of the format before MACs
    std::ofstream(path, std::ios::trunc) << "{\"format\": 1, \"entries\": []}";
    refused(kKey, "format 1");
    std::ofstream(path, std::ios::trunc) << good;
    EXPECT_EQ(sl_ledger_size(open().get()), 2);
}

// A job checks its ledger when it starts, unlocks it while it computes and
// locks it again at the release: the document read at the start serves
// only while the file keeps the bytes it was read from; another process's
// commit is read, an edit is refused, and changes not committed are
// dropped.
TEST_F(Ledger, RelockReadsTheFileAgainWhenItChanged)
{
    std::string path = dir_ + "/release/0f1e2d3c-aaaa-bbbb-cccc-123456789abc/p_diabetes.json";
    auto l = open();
    record(l.get(), table({"sex"}, {50, 60}).get(), "j1", "a");
    ASSERT_EQ(sl_ledger_commit(l.get()), SL_OK);
    ASSERT_EQ(sl_ledger_unlock(l.get()), SL_OK);
    ASSERT_EQ(sl_ledger_relock(l.get()), SL_OK) << sl_error_message();
    EXPECT_EQ(sl_ledger_size(l.get()), 1);
    ASSERT_EQ(sl_ledger_unlock(l.get()), SL_OK);
    {
        auto other = open();
        record(other.get(), table({"sex"}, {70, 60}, "b").get(), "j2", "a");
        ASSERT_EQ(sl_ledger_commit(other.get()), SL_OK);
    }
    ASSERT_EQ(sl_ledger_relock(l.get()), SL_OK) << sl_error_message();
    EXPECT_EQ(sl_ledger_size(l.get()), 2);
    json_t *state = sl_ledger_state(l.get());
    EXPECT_EQ(json_integer_value(json_object_get(state, "sequence")), 2);
    json_decref(state);

    // not committed: dropped although the file did not change
    record(l.get(), table({"sex"}, {80, 60}, "c").get(), "j3", "a");
    EXPECT_EQ(sl_ledger_size(l.get()), 3);
    ASSERT_EQ(sl_ledger_unlock(l.get()), SL_OK);
    ASSERT_EQ(sl_ledger_relock(l.get()), SL_OK) << sl_error_message();
    EXPECT_EQ(sl_ledger_size(l.get()), 2);

    // edited while unlocked: refused
    ASSERT_EQ(sl_ledger_unlock(l.get()), SL_OK);
    std::string text;
    {
        std::ifstream in(path);
        std::stringstream buf;
        buf << in.rdbuf();
        text = buf.str();
    }
    const std::string from = "\"population\": 130", to = "\"population\": 129";
    size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos);
    text.replace(at, from.size(), to);
    std::ofstream(path, std::ios::trunc) << text;
    EXPECT_EQ(sl_ledger_relock(l.get()), SL_ERR_INTEGRITY);
    EXPECT_NE(std::string(sl_error_message()).find("does not match its MAC"), std::string::npos)
        << sl_error_message();
}

// A stale temporary file from a crash mid-write does not disturb the
// ledger, which only ever holds a complete document.
TEST_F(Ledger, StaleTemporaryFileIsHarmless)
{
    {
        auto l = open();
        record(l.get(), table({"sex"}, {50, 60}).get(), "j1", "a");
        ASSERT_EQ(sl_ledger_commit(l.get()), SL_OK);
    }
    std::string d = dir_ + "/release/0f1e2d3c-aaaa-bbbb-cccc-123456789abc/";
    std::ofstream(d + ".p_diabetes.json.99999.tmp") << "{garbage";
    auto l = open();
    EXPECT_EQ(sl_ledger_size(l.get()), 1);
    record(l.get(), table({"sex"}, {50, 61}, "b").get(), "j2", "a");
    ASSERT_EQ(sl_ledger_commit(l.get()), SL_OK);
}

// Two processes recording at once both land: the lock serialises them.
TEST_F(Ledger, ConcurrentWritersDoNotLoseEntries)
{
    const int kProcs = 4, kEach = 5;
    std::vector<pid_t> kids;
    for (int p = 0; p < kProcs; p++) {
        pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            int bad = 0;
            for (int k = 0; k < kEach; k++) {
                sl_ledger *l = nullptr;
                if (sl_ledger_open(dir_.c_str(), "0f1e2d3c-aaaa-bbbb-cccc-123456789abc",
                                   "diabetes", kKey, &l) != SL_OK) {
                    bad = 1;
                    break;
                }
                std::string job = "job-" + std::to_string(p) + "-" + std::to_string(k);
                json_t *e = json_pack("{s:s,s:s,s:s,s:[],s:s,s:i,s:[]}", "job_id", job.c_str(),
                                      "output", "o", "analysis", "count", "dimensions",
                                      "filter", "", "population", 10, "cells");
                bad |= sl_ledger_record(l, e) != SL_OK || sl_ledger_commit(l) != SL_OK;
                json_decref(e);
                sl_ledger_close(&l);
            }
            _exit(bad);
        }
        kids.push_back(pid);
    }
    for (pid_t pid : kids) {
        int status = 0;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    auto l = open();
    EXPECT_EQ(sl_ledger_size(l.get()), kProcs * kEach);
}

TEST_F(Ledger, UnsafeProjectNamesAreHashed)
{
    auto l = open("../../etc");
    ASSERT_NE(l, nullptr);
    ASSERT_EQ(sl_ledger_commit(l.get()), SL_OK);
    std::string d = dir_ + "/release/0f1e2d3c-aaaa-bbbb-cccc-123456789abc/";
    EXPECT_EQ(std::system(("ls '" + d + "' | grep -q '^h_[0-9a-f]*\\.json$'").c_str()), 0);
}

// A ledger is judged against the last commit the audit log recorded of it:
// an older copy put back, a deleted ledger and a copy that went its own way
// are refused; one ahead of the record, or never recorded, passes with a
// note.
TEST_F(Ledger, RolledBackLedgerIsRefusedAgainstTheAuditLog)
{
    const std::string path = dir_ + "/release/0f1e2d3c-aaaa-bbbb-cccc-123456789abc/p_diabetes.json";
    const unsigned char akey[32] = {9, 8, 7};
    sl_audit *a = nullptr;
    ASSERT_EQ(sl_audit_open((dir_ + "/audit/audit.log").c_str(), akey, &a), SL_OK)
        << sl_error_message();
    std::unique_ptr<sl_audit, void (*)(sl_audit *)> audit(a, [](sl_audit *p) { sl_audit_close(&p); });
    auto read = [&]() {
        std::ifstream in(path);
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    };
    auto commit = [&](const char *job, int64_t n, bool audited) {
        auto l = open();
        record(l.get(), table({"sex"}, {n, 60}, job).get(), job, "a");
        ASSERT_EQ(sl_ledger_commit(l.get()), SL_OK);
        json_t *state = sl_ledger_state(l.get());
        if (audited) {
            ASSERT_EQ(sl_audit_append(a, "ledger", state), SL_OK) << sl_error_message();
        }
        json_decref(state);
    };
    auto judge = [&](const char **note) {
        auto l = open();
        EXPECT_NE(l, nullptr);
        return l ? sl_ledger_check_audited(l.get(), a, note) : SL_ERR_INTERNAL;
    };
    const char *note = "unset";

    // a new ledger, and one the log has a record of
    EXPECT_EQ(judge(&note), SL_OK) << sl_error_message();
    EXPECT_EQ(note, nullptr);
    commit("j1", 50, true);
    const std::string first = read();
    commit("j2", 51, true);
    EXPECT_EQ(judge(&note), SL_OK) << sl_error_message();
    EXPECT_EQ(note, nullptr);
    // the same ledger name under another ledger directory, and other events
    // after it, change nothing
    {
        json_t *f = json_pack("{s:s,s:s,s:i,s:s}", "ledger",
                              "release/0f1e2d3c-aaaa-bbbb-cccc-123456789abc/p_diabetes.json",
                              "ledger_dir", "/elsewhere", "sequence", 9, "ledger_mac", "00");
        ASSERT_EQ(sl_audit_append(a, "ledger", f), SL_OK);
        ASSERT_EQ(sl_audit_append(a, "job_end", nullptr), SL_OK);
        json_decref(f);
    }
    EXPECT_EQ(judge(&note), SL_OK) << sl_error_message();
    const std::string second = read();

    // the first copy put back
    std::ofstream(path, std::ios::trunc) << first;
    EXPECT_EQ(judge(&note), SL_ERR_INTEGRITY);
    EXPECT_NE(std::string(sl_error_message()).find("rolled back"), std::string::npos)
        << sl_error_message();
    // deleted: a new, empty ledger is begun, and refused
    std::remove(path.c_str());
    EXPECT_EQ(judge(&note), SL_ERR_INTEGRITY);
    EXPECT_NE(std::string(sl_error_message()).find("sequence 0"), std::string::npos)
        << sl_error_message();

    // a copy of sequence 2 with other entries (first plus another commit)
    std::ofstream(path, std::ios::trunc) << first;
    commit("j9", 70, false);
    EXPECT_EQ(judge(&note), SL_ERR_INTEGRITY);
    EXPECT_NE(std::string(sl_error_message()).find("another MAC"), std::string::npos)
        << sl_error_message();

    // ahead of the record: a commit whose event was lost passes, with a note
    std::ofstream(path, std::ios::trunc) << second;
    commit("j3", 52, false);
    note = nullptr;
    EXPECT_EQ(judge(&note), SL_OK) << sl_error_message();
    ASSERT_NE(note, nullptr);
    EXPECT_NE(std::string(note).find("ahead"), std::string::npos) << note;

    // rolled back, and the log's record of the newer copy cut out of it:
    // the chain the search walks back along is broken
    commit("j4", 53, true);
    ASSERT_EQ(sl_audit_append(a, "job_end", nullptr), SL_OK);
    {
        const std::string log = dir_ + "/audit/audit.log";
        std::ifstream in(log);
        std::vector<std::string> kept;
        for (std::string line; std::getline(in, line);)
            kept.push_back(line);
        in.close();
        auto last = std::find_if(kept.rbegin(), kept.rend(), [](const std::string &l) {
            return l.find("\"event\":\"ledger\"") != std::string::npos;
        });
        ASSERT_NE(last, kept.rend());
        kept.erase(std::next(last).base());
        std::ofstream out(log, std::ios::trunc);
        for (const std::string &line : kept)
            out << line << '\n';
    }
    std::ofstream(path, std::ios::trunc) << second;
    EXPECT_EQ(judge(&note), SL_ERR_INTEGRITY);
    EXPECT_NE(std::string(sl_error_message()).find("does not chain"), std::string::npos)
        << sl_error_message();

    // a ledger the log never recorded passes, with a note
    audit.reset();
    EXPECT_EQ(std::system(("rm -rf '" + dir_ + "/audit'").c_str()), 0);
    ASSERT_EQ(sl_audit_open((dir_ + "/audit/audit.log").c_str(), akey, &a), SL_OK);
    audit.reset(a);
    note = nullptr;
    EXPECT_EQ(judge(&note), SL_OK) << sl_error_message();
    ASSERT_NE(note, nullptr);
    EXPECT_NE(std::string(note).find("no commit"), std::string::npos) << note;
}

// A format-1 ledger (written before ledgers had MACs) is refused with the
// command that adopts it; adopted, it opens with its entries at commit 1,
// and the differencing rule still sees them. Adopting it twice, a malformed
// one, or one moved under another cohort is refused.
TEST_F(Ledger, Format1LedgerIsAdoptedOnce)
{
    const std::string rel = "release/0f1e2d3c-aaaa-bbbb-cccc-123456789abc/p_diabetes.json";
    const std::string path = dir_ + "/" + rel;
    auto rewrite = [&](const std::function<void(json_t *)> &change) {
        json_error_t err;
        json_t *doc = json_load_file(path.c_str(), 0, &err);
        ASSERT_NE(doc, nullptr) << err.text;
        change(doc);
        ASSERT_EQ(json_dump_file(doc, path.c_str(), JSON_INDENT(1)), 0);
        json_decref(doc);
    };
    {
        auto l = open();
        record(l.get(), table({"sex"}, {50, 60}).get(), "j1", "");
        record(l.get(), table({"sex"}, {40, 30}, "by_sex2").get(), "j2", "age > 3");
        ASSERT_EQ(sl_ledger_commit(l.get()), SL_OK);
    }
    rewrite([](json_t *doc) {
        json_object_del(doc, "sequence");
        json_object_del(doc, "mac");
        json_object_set_new(doc, "format", json_integer(1));
    });
    std::ifstream in(path);
    const std::string format1((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

    sl_ledger *l = nullptr;
    EXPECT_EQ(sl_ledger_open(dir_.c_str(), "0f1e2d3c-aaaa-bbbb-cccc-123456789abc", "diabetes",
                             kKey, &l),
              SL_ERR_INTEGRITY);
    EXPECT_NE(std::string(sl_error_message()).find("sluice ledger adopt"), std::string::npos)
        << sl_error_message();

    ASSERT_EQ(sl_ledger_adopt(dir_.c_str(), rel.c_str(), kKey, &l), SL_OK) << sl_error_message();
    json_t *state = sl_ledger_state(l);
    EXPECT_EQ(json_integer_value(json_object_get(state, "sequence")), 1);
    EXPECT_STREQ(json_string_value(json_object_get(state, "ledger")), rel.c_str());
    json_decref(state);
    sl_ledger_close(&l);
    {
        auto again = open();
        ASSERT_NE(again, nullptr);
        EXPECT_EQ(sl_ledger_size(again.get()), 2);
        // 110 patients then, 113 now under another filter: differencing
        auto t = table({"sex"}, {53, 60});
        json_t *e = entry(t.get(), "j3", "age > 9");
        ASSERT_EQ(sl_ledger_judge(again.get(), t.get(), e, &rules_), SL_OK);
        EXPECT_EQ(verdict_of(t.get(), "differencing", "status"), "fail");
        json_decref(e);
    }
    EXPECT_EQ(sl_ledger_adopt(dir_.c_str(), rel.c_str(), kKey, &l), SL_ERR_INTEGRITY);
    EXPECT_NE(std::string(sl_error_message()).find("adopted already"), std::string::npos)
        << sl_error_message();

    // an entry without its job id
    std::ofstream(path, std::ios::trunc) << format1;
    rewrite([](json_t *doc) {
        json_object_del(json_array_get(json_object_get(doc, "entries"), 1), "job_id");
    });
    EXPECT_EQ(sl_ledger_adopt(dir_.c_str(), rel.c_str(), kKey, &l), SL_ERR_INTEGRITY);
    EXPECT_NE(std::string(sl_error_message()).find("entry 2"), std::string::npos)
        << sl_error_message();
    EXPECT_EQ(l, nullptr);

    // a population that is not a count (found by fuzzing: INT64_MIN was
    // adopted, and the differencing rule then overflowed on it)
    for (json_int_t bad : {json_int_t{-1}, json_int_t{INT64_MIN}}) {
        std::ofstream(path, std::ios::trunc) << format1;
        rewrite([bad](json_t *doc) {
            json_object_set_new(json_array_get(json_object_get(doc, "entries"), 0), "population",
                                json_integer(bad));
        });
        EXPECT_EQ(sl_ledger_adopt(dir_.c_str(), rel.c_str(), kKey, &l), SL_ERR_INTEGRITY);
        EXPECT_NE(std::string(sl_error_message())
                      .find("entry 1 is not a ledger entry (expected job_id, output, dimensions, "
                            "filter, and population: a count of patients, or null)"),
                  std::string::npos)
            << sl_error_message();
        EXPECT_EQ(l, nullptr);
    }

    // a privacy charge (noisy counts came after format 1)
    std::ofstream(path, std::ios::trunc) << format1;
    rewrite([](json_t *doc) {
        json_object_set_new(json_array_get(json_object_get(doc, "entries"), 1), "privacy",
                            json_pack("{s:s}", "rho", "0.5"));
    });
    EXPECT_EQ(sl_ledger_adopt(dir_.c_str(), rel.c_str(), kKey, &l), SL_ERR_INTEGRITY);
    EXPECT_NE(std::string(sl_error_message()).find("entry 2 is a privacy charge"),
              std::string::npos)
        << sl_error_message();
    EXPECT_EQ(l, nullptr);

    // moved under another cohort's directory
    const std::string other = "release/11111111-2222-3333-4444-555555555555/p_diabetes.json";
    ASSERT_EQ(std::system(("mkdir -p '" + dir_ + "/release/11111111-2222-3333-4444-555555555555'")
                              .c_str()),
              0);
    std::ofstream(dir_ + "/" + other, std::ios::trunc) << format1;
    EXPECT_EQ(sl_ledger_adopt(dir_.c_str(), other.c_str(), kKey, &l), SL_ERR_INTEGRITY);
    EXPECT_NE(std::string(sl_error_message()).find("moved or renamed"), std::string::npos)
        << sl_error_message();
}

// Privacy charges (dp.h) add up exactly across commits, are never compared
// for differencing (no population), and stay when a job's release entries
// are forgotten: their noise was drawn.
TEST_F(Ledger, PrivacyChargesAddUpAndOutliveForget)
{
    auto charge = [&](sl_ledger *l, const char *job, const char *output, int64_t num,
                      int64_t den) {
        auto t = table({"sex"}, {5, 6}, output);
        sl_dp_request req{};
        req.mechanism = SL_DP_GAUSSIAN;
        req.param = {num, den};
        req.units = num * (SL_DP_UNITS / den);
        json_t *e = nullptr;
        ASSERT_EQ(sl_dp_ledger_entry(t.get(), &req, job, "", &e), SL_OK);
        EXPECT_TRUE(json_is_null(json_object_get(e, "population")));
        EXPECT_EQ(json_array_size(json_object_get(e, "cells")), 0u);
        ASSERT_EQ(sl_ledger_record(l, e), SL_OK);
        json_decref(e);
    };
    int64_t spent = -1;
    {
        auto l = open();
        ASSERT_EQ(sl_ledger_privacy_spent(l.get(), &spent), SL_OK);
        EXPECT_EQ(spent, 0);
        charge(l.get(), "j1", "a", 1, 10);
        charge(l.get(), "j1", "b", 2, 10);
        record(l.get(), table({"sex"}, {50, 60}).get(), "j1", "");
        ASSERT_EQ(sl_ledger_commit(l.get()), SL_OK);
    }
    auto l = open();
    charge(l.get(), "j2", "a", 3, 1000000);
    ASSERT_EQ(sl_ledger_privacy_spent(l.get(), &spent), SL_OK);
    EXPECT_EQ(spent, SL_DP_UNITS / 10 * 3 + SL_DP_UNITS / 1000000 * 3);  // 0.300003 exactly
    sl_ledger_forget(l.get(), "j1");
    EXPECT_EQ(sl_ledger_size(l.get()), 3);  // the release entry of j1 went, its charges stay
    ASSERT_EQ(sl_ledger_privacy_spent(l.get(), &spent), SL_OK);
    EXPECT_EQ(spent, SL_DP_UNITS / 10 * 3 + SL_DP_UNITS / 1000000 * 3);
    // a table differing by 1 patient from the charged ones is not compared
    auto t = table({"sex"}, {5, 7});
    json_t *e = entry(t.get(), "j3", "age > 9");
    const json_t *hit = e;
    char why[512];
    ASSERT_EQ(sl_ledger_conflict(l.get(), e, rules_.min_safe_count, &hit, why, sizeof why),
              SL_OK);
    EXPECT_EQ(hit, nullptr);
    json_decref(e);
}
