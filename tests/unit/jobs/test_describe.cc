// The describe, crosstab and histogram job types' parameters: what they
// accept, which columns they load, and the errors they give (file:line:col
// and what was expected), on the fixture cohort's metadata (pid, age
// integer 0..120, bmi real, sex categorical, dx_date date).
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

}  // namespace
