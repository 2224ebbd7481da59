// The describe, crosstab, histogram and count job types' parameters: what
// they accept, which columns they load, and the errors they give
// (file:line:col and what was expected), on the fixture cohort's metadata
// (pid, age integer 0..120, bmi real, sex categorical, dx_date date); the
// labels of banded grouping columns.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "stats_test_util.hh"

using namespace sltest;

namespace {

bool contains(const std::string &text, const std::string &part)
{
    return text.find(part) != std::string::npos;
}

class DescribeParams : public StatsTest {};

TEST_F(DescribeParams, LoadsByColumnsThenMeasures)
{
    Prepared p = prepare("{type: describe, name: d, columns: [bmi, age, dx_date], by: [sex], "
                         "probs: [0.1, 0.9, 0.5], minmax: true, margins: true}");
    ASSERT_EQ(p.st, SL_OK) << p.error;
    EXPECT_EQ(p.cols, (std::vector<int>{3, 2, 1, 4}));
    Prepared one = prepare("{type: describe, columns: bmi}");
    ASSERT_EQ(one.st, SL_OK) << one.error;
    EXPECT_EQ(one.cols, (std::vector<int>{2}));
}

TEST_F(DescribeParams, RefusesWhatItCannotDescribe)
{
    Prepared p = prepare("{type: describe, columns: [sex]}");
    EXPECT_EQ(p.st, SL_ERR_FORMAT);
    EXPECT_TRUE(contains(p.error, "job.yaml:3:")) << p.error;
    EXPECT_TRUE(contains(p.error, "'sex' is categorical; a numeric column")) << p.error;
    p = prepare("{type: describe, columns: [weight]}");
    EXPECT_TRUE(contains(p.error, "the cohort has no column 'weight'; expected one of the "
                                  "cohort's columns: ")) << p.error;
    p = prepare("{type: describe, columns: [BMI]}");
    EXPECT_TRUE(contains(p.error, "the cohort has no column 'BMI'; did you mean 'bmi'?"))
        << p.error;
    p = prepare("{type: describe, columns: [bmi], by: [sexx]}");
    EXPECT_TRUE(contains(p.error, "the cohort has no column 'sexx'; did you mean 'sex'?"))
        << p.error;
    p = prepare("{type: describe, columns: [bmi, bmi]}");
    EXPECT_TRUE(contains(p.error, "column 'bmi' is listed twice")) << p.error;
    p = prepare("{type: describe}");
    EXPECT_EQ(p.st, SL_ERR_FORMAT);
    EXPECT_TRUE(contains(p.error, "columns")) << p.error;
    p = prepare("{type: describe, columns: [bmi], probs: [1.5]}");
    EXPECT_TRUE(contains(p.error, "probability 1.5 is outside [0, 1]")) << p.error;
    p = prepare("{type: describe, columns: [bmi], by: [age]}");
    EXPECT_TRUE(contains(p.error, "grouping needs a categorical column")) << p.error;
    p = prepare("{type: describe, columns: [bmi], groupby: [sex]}");
    EXPECT_EQ(p.st, SL_ERR_FORMAT);
    EXPECT_TRUE(contains(p.error, "groupby")) << p.error;
    p = prepare("{type: describe, columns: [bmi], minmax: yes please}");
    EXPECT_EQ(p.st, SL_ERR_FORMAT) << p.error;
}

TEST_F(DescribeParams, MinMaxNeedsThePolicy)
{
    sl_rules r;
    sl_rules_default(&r);
    r.allow_minmax = false;
    // Not an error: min and max are simply not computed (the job says so).
    EXPECT_EQ(prepare("{type: describe, columns: [bmi], minmax: true}", &r).st, SL_OK);
    r.allow_minmax = true;
    EXPECT_EQ(prepare("{type: describe, columns: [bmi], minmax: true}", &r).st, SL_OK);
}

class CrosstabParams : public StatsTest {};

TEST_F(CrosstabParams, AcceptsOneToThreeDimensionsAndAValue)
{
    Prepared p = prepare("{type: crosstab, rows: sex}");
    ASSERT_EQ(p.st, SL_OK) << p.error;
    EXPECT_EQ(p.cols, (std::vector<int>{3}));
    p = prepare("{type: crosstab, rows: sex, value: bmi, stats: [median, sum]}");
    ASSERT_EQ(p.st, SL_OK) << p.error;
    EXPECT_EQ(p.cols, (std::vector<int>{3, 2}));
}

TEST_F(CrosstabParams, RefusesBadShapes)
{
    Prepared p = prepare("{type: crosstab, cols: sex}");
    EXPECT_EQ(p.st, SL_ERR_FORMAT);
    EXPECT_TRUE(contains(p.error, "rows")) << p.error;
    p = prepare("{type: crosstab, rows: sex, cols: sex}");
    EXPECT_TRUE(contains(p.error, "column 'sex' is listed twice")) << p.error;
    p = prepare("{type: crosstab, rows: sex, layers: sex}");
    EXPECT_TRUE(contains(p.error, "'layers' needs 'cols'")) << p.error;
    p = prepare("{type: crosstab, rows: sex, stats: [sum]}");
    EXPECT_TRUE(contains(p.error, "does not name")) << p.error;
    p = prepare("{type: crosstab, rows: sex, value: bmi, stats: [sum, mode]}");
    EXPECT_TRUE(contains(p.error, "unknown statistic 'mode'; expected some of sum, mean, sd, "
                                  "median"))
        << p.error;
    p = prepare("{type: crosstab, rows: sex, value: bmi, stats: [sum, sum]}");
    EXPECT_TRUE(contains(p.error, "statistic 'sum' is listed twice")) << p.error;
    p = prepare("{type: crosstab, rows: sex, value: pid}");
    EXPECT_TRUE(contains(p.error, "'pid' is id; a numeric column")) << p.error;
    p = prepare("{type: crosstab, rows: age}");
    EXPECT_TRUE(contains(p.error, "grouping needs a categorical column")) << p.error;
}

class HistogramParams : public StatsTest {};

TEST_F(HistogramParams, EdgesFromTheJobOrFromPublicBounds)
{
    Prepared p = prepare("{type: histogram, column: bmi, edges: [10, 20.5, 30, 60]}");
    ASSERT_EQ(p.st, SL_OK) << p.error;
    EXPECT_EQ(p.cols, (std::vector<int>{2}));
    p = prepare("{type: histogram, column: age, bins: 12, by: [sex]}");
    ASSERT_EQ(p.st, SL_OK) << p.error;
    EXPECT_EQ(p.cols, (std::vector<int>{3, 1}));
    EXPECT_EQ(prepare("{type: histogram, column: age}").st, SL_OK);
    p = prepare("{type: histogram, column: dx_date, edges: ['2021-01-01', '2022-02-28']}");
    EXPECT_EQ(p.st, SL_OK) << p.error;
}

TEST_F(HistogramParams, NeverFromTheData)
{
    Prepared p = prepare("{type: histogram, column: bmi, bins: 5}");
    EXPECT_EQ(p.st, SL_ERR_FORMAT);
    EXPECT_TRUE(contains(p.error, "column 'bmi' has no public bounds (lower, upper)")) << p.error;
    EXPECT_TRUE(contains(p.error, "job.yaml:3:")) << p.error;
    p = prepare("{type: histogram, column: bmi}");
    EXPECT_TRUE(contains(p.error, "give the bin 'edges' in the job")) << p.error;
}

TEST_F(HistogramParams, RefusesBadEdges)
{
    Prepared p = prepare("{type: histogram, column: bmi, edges: [1, 3, 2]}");
    EXPECT_TRUE(contains(p.error, "edges must increase strictly (edge 3 is not above edge 2)"))
        << p.error;
    p = prepare("{type: histogram, column: bmi, edges: [1]}");
    EXPECT_TRUE(contains(p.error, "between 2 and")) << p.error;
    p = prepare("{type: histogram, column: age, edges: [0, 50], bins: 3}");
    EXPECT_TRUE(contains(p.error, "either 'edges' or 'bins'")) << p.error;
    p = prepare("{type: histogram, column: age, bins: 0}");
    EXPECT_TRUE(contains(p.error, "'bins' must be between 1 and")) << p.error;
    p = prepare("{type: histogram, column: dx_date, edges: ['2021-02-30', '2022-01-01']}");
    EXPECT_TRUE(contains(p.error, "edge '2021-02-30' of date column 'dx_date' is not a date"))
        << p.error;
    p = prepare("{type: histogram, column: age, by: [sex, sex]}");
    EXPECT_TRUE(contains(p.error, "listed twice")) << p.error;
    p = prepare("{type: histogram, column: sex, edges: [0, 1]}");
    EXPECT_TRUE(contains(p.error, "numeric column")) << p.error;
}

class BandParams : public StatsTest {};

TEST_F(BandParams, NumericColumnsGroupByTheJobsCuts)
{
    Prepared p = prepare("{type: describe, columns: [bmi], by: [sex, age], "
                         "bands: {age: [18, 65]}}");
    ASSERT_EQ(p.st, SL_OK) << p.error;
    EXPECT_EQ(p.cols, (std::vector<int>{3, 1, 2}));
    p = prepare("{type: crosstab, rows: dx_date, cols: sex, value: age, "
                "bands: {dx_date: ['2021-01-01']}}");
    ASSERT_EQ(p.st, SL_OK) << p.error;
    EXPECT_EQ(p.cols, (std::vector<int>{4, 3, 1}));
    p = prepare("{type: count, by: [bmi], bands: {bmi: [18.5, 25, 30]}}");
    ASSERT_EQ(p.st, SL_OK) << p.error;
    EXPECT_EQ(p.cols, (std::vector<int>{2}));
    p = prepare("{type: histogram, column: bmi, edges: [10, 60], by: [age], bands: {age: [40]}}");
    ASSERT_EQ(p.st, SL_OK) << p.error;
    EXPECT_EQ(p.cols, (std::vector<int>{1, 2}));
}

TEST_F(BandParams, RefusesCutsItCannotUse)
{
    Prepared p = prepare("{type: describe, columns: [bmi], by: [age]}");
    EXPECT_EQ(p.st, SL_ERR_FORMAT);
    EXPECT_TRUE(contains(p.error, "job.yaml:3:")) << p.error;
    EXPECT_TRUE(contains(p.error, "column 'age' is integer; grouping needs a categorical column, "
                                  "or cut points that band this one (bands: {age: [...]})"))
        << p.error;
    p = prepare("{type: count, by: [pid], bands: {pid: [1]}}");
    EXPECT_TRUE(contains(p.error, "column 'pid' is id; grouping needs a categorical column"))
        << p.error;
    p = prepare("{type: count, by: [age], bands: {age: [40, 30]}}");
    EXPECT_TRUE(contains(p.error, "cut points must increase strictly (cut 2 is not above cut 1)"))
        << p.error;
    p = prepare("{type: count, by: [age], bands: {age: [17.5]}}");
    EXPECT_TRUE(contains(p.error, "cut 1 (17.5) of integer column 'age' is not a whole number"))
        << p.error;
    p = prepare("{type: count, by: [age], bands: {age: []}}");
    EXPECT_TRUE(contains(p.error, "column 'age' needs between 1 and 99 cut points, got 0"))
        << p.error;
    p = prepare("{type: count, by: [dx_date], bands: {dx_date: ['2021-02-30']}}");
    EXPECT_TRUE(contains(p.error, "cut 1 of date column 'dx_date' is '2021-02-30'; expected a "
                                  "date YYYY-MM-DD"))
        << p.error;
    p = prepare("{type: count, by: [sex], bands: {sex: [1]}}");
    EXPECT_TRUE(contains(p.error, "column 'sex' is categorical: its levels are its groups"))
        << p.error;
    p = prepare("{type: count, name: c, by: [sex], bands: {bmi: [20]}}");
    EXPECT_TRUE(contains(p.error, "'bands' cuts column 'bmi', which analysis 'c' does not group "
                                  "by"))
        << p.error;
    p = prepare("{type: crosstab, name: x, rows: sex, bands: {age: [40]}}");
    EXPECT_TRUE(contains(p.error, "'bands' cuts column 'age', which analysis 'x' does not group "
                                  "by"))
        << p.error;
    p = prepare("{type: count, by: [age], bands: [age, 40]}");
    EXPECT_EQ(p.st, SL_ERR_FORMAT);
    EXPECT_TRUE(contains(p.error, "mapping")) << p.error;
    p = prepare("{type: count, by: [age], band: {age: [40]}}");
    EXPECT_TRUE(contains(p.error, "band")) << p.error;
}

// An unknown key's error lists the accepted ones once each (type and name
// are always accepted).
TEST_F(BandParams, AcceptedKeysAreListedOnce)
{
    Prepared p = prepare("{type: count, byy: [sex]}");
    EXPECT_TRUE(contains(p.error, "accepted keys: type, name, by, bands, mitigation, privacy, "
                                  "rho, epsilon"))
        << p.error;
    p = prepare("{type: glm, formula: \"age ~ bmi\", bandz: {bmi: [20]}}");
    EXPECT_TRUE(contains(p.error, "accepted keys: type, name, formula, family, weights, offset, "
                                  "bands, reference, covariance"))
        << p.error;
}

TEST(BandLabels, IntegerRealAndDateBands)
{
    auto labels = [](sl_coltype type, std::vector<double> cuts) {
        sl_band b{};
        b.type = type;
        b.ncuts = (int)cuts.size();
        for (size_t i = 0; i < cuts.size(); i++)
            b.cuts[i] = cuts[i];
        std::vector<std::string> out;
        for (int32_t l = 0; l <= b.ncuts; l++) {
            char buf[48];
            sl_band_label(&b, l, buf, sizeof buf);
            out.push_back(buf);
        }
        return out;
    };
    using V = std::vector<std::string>;
    EXPECT_EQ(labels(SL_COL_INT, {18, 40, 41}), (V{"<18", "18-39", "40", ">=41"}));
    EXPECT_EQ(labels(SL_COL_INT, {-10, -5}), (V{"<-10", "-10 to -6", ">=-5"}));
    EXPECT_EQ(labels(SL_COL_REAL, {18.5, 25}), (V{"<18.5", "[18.5,25)", ">=25"}));
    EXPECT_EQ(labels(SL_COL_DATE, {18628, 18993}),
              (V{"<2021-01-01", "[2021-01-01,2022-01-01)", ">=2022-01-01"}));
}

}  // namespace
