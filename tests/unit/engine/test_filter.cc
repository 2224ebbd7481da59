// test_filter.cc: the row filter (engine/filter.h): parsing, precedence and
// canonical text; parse and bind errors with their positions; evaluation of
// every operator, in-lists, missing values, three-valued logic, categorical
// labels and dates, over frames built by hand; and a randomised comparison
// with a row-by-row reference across block boundaries.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <cstring>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tests/unit/mangle.hh"

extern "C" {
#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "engine/core/status.h"
#include "engine/filter.h"
#include "io/cohort.h"
#include "io/format.h"
#include "io/frame.h"
#include "io/keys.h"
}

namespace {

const int64_t kIntNA = SL_INT_MISSING;
const int32_t kCatNA = SL_CAT_MISSING;
const int32_t kDateNA = SL_DATE_MISSING;
const double kNaN = std::nan("");

// Column metadata the tests bind against (cohort column index = position).
enum { C_PID, C_AGE, C_BMI, C_SEX, C_REGION, C_DOB, C_A, C_B, C_STAGE, C_NCOLS };

class Columns {
  public:
    Columns()
    {
        add("pid", SL_COL_ID, {});
        add("age", SL_COL_INT, {});
        add("bmi", SL_COL_REAL, {});
        add("sex", SL_COL_CAT, {"F", "M"});
        add("region", SL_COL_CAT, {"North", "South", "East", "West"});
        add("dob", SL_COL_DATE, {});
        add("a", SL_COL_INT, {});
        add("b", SL_COL_INT, {});
        std::vector<std::string> stages;
        for (int i = 1; i <= 12; i++)
            stages.push_back("s" + std::to_string(i));
        add("stage", SL_COL_CAT, stages);
        for (size_t i = 0; i < names_.size(); i++) {
            sl_colinfo c{};
            c.name = const_cast<char *>(names_[i].c_str());
            c.type = types_[i];
            c.cls = SL_CLASS_OTHER;
            c.nlevels = static_cast<int32_t>(level_ptrs_[i].size());
            c.levels = level_ptrs_[i].empty() ? nullptr : level_ptrs_[i].data();
            c.lower = c.upper = kNaN;
            infos_.push_back(c);
        }
    }
    const sl_colinfo *data() const { return infos_.data(); }
    int size() const { return static_cast<int>(infos_.size()); }

  private:
    void add(const char *name, sl_coltype t, std::vector<std::string> levels)
    {
        names_.push_back(name);
        types_.push_back(t);
        levels_.push_back(std::move(levels));
        level_ptrs_.emplace_back();
        // The labels live in the inner vector's heap buffer, which stays put
        // when levels_ grows, so these pointers remain valid.
        auto &lv = levels_.back();
        for (auto &s : lv)
            level_ptrs_.back().push_back(const_cast<char *>(s.c_str()));
    }
    std::vector<std::string> names_;
    std::vector<sl_coltype> types_;
    std::vector<std::vector<std::string>> levels_;
    std::vector<std::vector<char *>> level_ptrs_;
    std::vector<sl_colinfo> infos_;

  public:
    Columns(const Columns &) = delete;
};

// A frame built by hand: each column's values in a secbuf.
class Frame {
  public:
    explicit Frame(int64_t nrows) : nrows_(nrows) {}
    ~Frame()
    {
        for (sl_secbuf *b : bufs_)
            sl_secbuf_destroy(&b);
    }
    template <class T> void add(int cohort_col, const std::vector<T> &v)
    {
        EXPECT_EQ(static_cast<int64_t>(v.size()), nrows_);
        sl_secbuf *b = nullptr;
        EXPECT_EQ(sl_secbuf_create(v.size() * sizeof(T), &b), SL_OK);
        if (!v.empty())
            std::memcpy(b->data, v.data(), v.size() * sizeof(T));
        bufs_.push_back(b);
        cols_.push_back(cohort_col);
    }
    const sl_frame *get()
    {
        row0_[0] = 0;
        row0_[1] = nrows_;
        fr_.nrows = nrows_;
        fr_.ncols = static_cast<int>(cols_.size());
        fr_.col_index = cols_.data();
        fr_.data = bufs_.data();
        fr_.nchunks = 1;
        fr_.chunk_index = chunk_;
        fr_.chunk_row0 = row0_;
        return &fr_;
    }

  private:
    int64_t nrows_;
    std::vector<int> cols_;
    std::vector<sl_secbuf *> bufs_;
    int64_t chunk_[1] = {0};
    int64_t row0_[2] = {0, 0};
    sl_frame fr_{};
};

class FilterTest : public ::testing::Test {
  protected:
    void SetUp() override
    {
        live_ = sl_alloc_live();
        secret_live_ = sl_secbuf_live();
        sl_error_clear();
    }
    void TearDown() override
    {
        sl_filter_destroy(&f_);
        EXPECT_EQ(sl_alloc_live(), live_) << "allocations leaked";
        EXPECT_EQ(sl_secbuf_live(), secret_live_) << "secret buffers leaked";
    }
    sl_status parse(const std::string &text, const char *where = "job.yaml:4:9")
    {
        sl_filter_destroy(&f_);
        return sl_filter_parse(text.c_str(), where, &f_);
    }
    sl_status parse_bind(const std::string &text)
    {
        sl_status st = parse(text);
        if (st != SL_OK)
            return st;
        return sl_filter_bind_columns(f_, cols_.data(), cols_.size());
    }
    // Rows that pass, as indices.
    std::vector<int> pass(const std::string &text, Frame &fr)
    {
        EXPECT_EQ(parse_bind(text), SL_OK) << text << ": " << sl_error_message();
        const sl_frame *f = fr.get();
        std::vector<uint8_t> mask(static_cast<size_t>(f->nrows), 7);
        EXPECT_EQ(sl_filter_eval(f_, f, 0, f->nrows, mask.data()), SL_OK)
            << text << ": " << sl_error_message();
        std::vector<int> out;
        for (size_t i = 0; i < mask.size(); i++) {
            EXPECT_TRUE(mask[i] == 0 || mask[i] == 1);
            if (mask[i] == 1)
                out.push_back(static_cast<int>(i));
        }
        return out;
    }

    Columns cols_;
    sl_filter *f_ = nullptr;
    int64_t live_ = 0;
    long secret_live_ = 0;
};

using Rows = std::vector<int>;

// ---- parsing ----

TEST_F(FilterTest, CanonicalTextAndPrecedence)
{
    struct Case {
        const char *in, *out;
    } cases[] = {
        {"age >= 40 and sex == \"F\"", "(age >= 40 and sex == \"F\")"},
        {"a == 1 or b == 2 and c == 3", "(a == 1 or (b == 2 and c == 3))"},
        {"a == 1 and b == 2 or c == 3", "((a == 1 and b == 2) or c == 3)"},
        {"not a == 1 and b == 2", "((not a == 1) and b == 2)"},
        {"not a == 1 or not b == 2 and c == 3", "((not a == 1) or ((not b == 2) and c == 3))"},
        {"not (a == 1 or b == 2)", "not (a == 1 or b == 2)"},
        {"a == 1 and b == 2 and c == 3", "(a == 1 and b == 2 and c == 3)"},
        {"a == 1 and (b == 2 and c == 3)", "(a == 1 and (b == 2 and c == 3))"},
        {"a == 1 or b == 2 or c == 3 and d == 4", "(a == 1 or b == 2 or (c == 3 and d == 4))"},
        {"a == 1 and (b == 2 or c == 3)", "(a == 1 and (b == 2 or c == 3))"},
        {"not not a == 1", "not not a == 1"},
        {"not a == 1 and not (b == 2 and c == 3)",
         "((not a == 1) and (not (b == 2 and c == 3)))"},
        {"((a==1))", "a == 1"},
        {"  a   <=\t-2.50 ", "a <= -2.5"},
        {"a!=0.1", "a != 0.1"},
        {"a > 1e3", "a > 1000"},
        {"a > 1.5e16", "a > 15000000000000000"},
        {"a > 1e17", "a > 1e+17"},
        {"a > 0.00001", "a > 1e-05"},
        {"a > 123.456", "a > 123.456"},
        {"a < .5", "a < 0.5"},
        {"a>=-7", "a >= -7"},
        {"a > -0.0", "a > 0"},
        {"a > -0e30", "a > 0"},
        {"x in [1,2 ,3]", "x in [1, 2, 3]"},
        {"sex in ['F']", "sex in [\"F\"]"},
        {"x is missing", "x is missing"},
        {"x  is  not  missing", "x is not missing"},
        {"s == 'it\\'s'", "s == \"it's\""},
        {"s == \"a\\\"b\\\\c\"", "s == \"a\\\"b\\\\c\""},
        {"d < \"2020-01-01\"", "d < \"2020-01-01\""},
        {"A_b9 == 1", "A_b9 == 1"},
    };
    for (const Case &c : cases) {
        ASSERT_EQ(parse(c.in), SL_OK) << c.in << ": " << sl_error_message();
        EXPECT_STREQ(sl_filter_text(f_), c.out) << c.in;
        // The canonical text parses to itself.
        std::string canon = sl_filter_text(f_);
        ASSERT_EQ(parse(canon), SL_OK) << canon;
        EXPECT_EQ(std::string(sl_filter_text(f_)), canon);
    }
}

// Found by fuzzing: the canonical text nested each 'not' twice and each
// link of an 'and' chain once more, and escaped quotes could double its
// length, so that what results.json recorded could fail to parse.
TEST_F(FilterTest, CanonicalTextAlwaysParsesAgain)
{
    std::string nots;
    for (int i = 0; i < 64; i++)
        nots += "not ";
    std::string chain = "a == 1";
    for (int i = 0; i < 998; i++) // 999 conditions, and b == 2 below: the most allowed
        chain += " and a == 1";
    std::string quotes = "s == '" + std::string(40000, '"') + "'";
    for (const std::string &in : {nots + "a == 1", chain, "(" + chain + ") or b == 2"}) {
        ASSERT_EQ(parse(in), SL_OK) << in.substr(0, 80) << ": " << sl_error_message();
        std::string canon = sl_filter_text(f_);
        ASSERT_EQ(parse(canon), SL_OK) << canon.substr(0, 80) << ": " << sl_error_message();
        EXPECT_EQ(std::string(sl_filter_text(f_)), canon);
    }
    // where the full text cannot be written within the limits, the filter is
    // refused when it is read
    EXPECT_EQ(parse(quotes), SL_ERR_FORMAT);
    EXPECT_NE(std::string(sl_error_message()).find("as results.json records it, the expression "
                                                   "would be too long; expected at most 65536"),
              std::string::npos)
        << sl_error_message();
    std::string deep = "a == 1"; // 33 levels of parentheses, 66 written out
    for (int i = 0; i < 33; i++)
        deep = "a == 1 or a == 1 and (" + deep + ")";
    EXPECT_EQ(parse(deep), SL_ERR_FORMAT);
    EXPECT_NE(std::string(sl_error_message()).find("would be nested too deeply; expected at "
                                                   "most 64"),
              std::string::npos)
        << sl_error_message();
}

TEST_F(FilterTest, ParseErrorsGiveTheCharacterPosition)
{
    struct Case {
        const char *in, *msg;
    } cases[] = {
        {"age 40", "character 5: expected a comparison operator after 'age' (==, !=, <, <=, >, "
                   ">=, in [...] or is missing), found '40'"},
        {"x == 1 or age", "character 14: expected a comparison operator after 'age' (==, !=, "
                          "<, <=, >, >=, in [...] or is missing), found the end of the "
                          "expression"},
        {"age >= ", "character 8: expected a number or a \"string\" after '>=', found the end "
                    "of the expression"},
        {"age >= sex", "character 8: expected a number or a \"string\" after '>=', found "
                       "'sex' (labels and text go in quotes, as 'sex'; a column is compared "
                       "with values, not with another column)"},
        {"sex == F", "character 8: expected a number or a \"string\" after '==', found 'F' "
                     "(labels and text go in quotes, as 'F'; a column is compared with values, "
                     "not with another column)"},
        {"(age > 1", "character 9: expected ')' to close the '(' at character 1, found the end "
                     "of the expression"},
        {"age > 1)", "character 8: unexpected ')' after a complete condition; expected 'and', "
                     "'or' or the end"},
        {"age > 1 AND sex == 1", "character 9: unexpected 'AND' after a complete condition; "
                                 "expected 'and', 'or' or the end (keywords are lower case)"},
        {"age = 4", "character 5: '=' is not an operator; expected '==' for equality"},
        {"age > 1 && b == 2", "character 9: '&&' is not an operator; expected 'and'"},
        {"age > 1 | b == 2", "character 9: '|' is not an operator; expected 'or'"},
        {"!(a == 1)", "character 1: '!' is not an operator; expected '!=' or 'not'"},
        {"sex == \"F", "character 8: the string starting here has no closing \"; expected "
                       "\"text\""},
        {"sex == 'a\\nb'", "character 10: unknown escape '\\n' in a string; expected \\\", \\' "
                           "or \\\\"},
        {"", "character 1: the expression is empty; expected a condition such as age >= 40"},
        {"   ", "character 4: the expression is empty; expected a condition such as age >= 40"},
        {"x is 5", "character 6: expected 'missing' or 'not missing' after 'is', found '5'"},
        {"x in 1", "character 6: expected '[' after 'in', found '1'"},
        {"x in [1 2]", "character 9: expected ',' or ']' in the list opened at character 6, "
                       "found '2'"},
        {"x in []", "character 7: expected a number or a \"string\" in the list, found ']'"},
        {"region in [North, 'South']", "character 12: expected a number or a \"string\" in "
                                       "the list, found 'North' (labels and text go in "
                                       "quotes, as 'North')"},
        {"40 > age", "character 1: expected a column name, 'not' or '(', found '40'"},
        {"and x == 1", "character 1: expected a column name, 'not' or '(', found 'and'"},
        {"x == 40abc", "character 6: malformed number '40abc'; expected digits such as 40, -2 "
                       "or 0.5"},
        {"x == 1.2.3", "character 6: malformed number '1.2.3'; expected digits such as 40, -2 "
                       "or 0.5"},
        {"x == 1e999", "character 6: the number '1e999' is out of range; expected a finite "
                       "number"},
        {"d >= 2020-01-31 and x == 1", "character 6: the date 2020-01-31 needs quotes; "
                                       "expected '2020-01-31'"},
        {"d in [2020-01-31]", "character 7: the date 2020-01-31 needs quotes; expected "
                              "'2020-01-31'"},
        {"x == 1 @", "character 8: unexpected character '@'; expected a column name, an "
                     "operator, a number or a \"string\""},
        // Positions count characters, not bytes: "é" is two bytes.
        {"sex == \"é\" and age 5", "character 20: expected a comparison operator after 'age' "
                                   "(==, !=, <, <=, >, >=, in [...] or is missing), found "
                                   "'5'"},
    };
    for (const Case &c : cases) {
        EXPECT_EQ(parse(c.in), SL_ERR_FORMAT) << c.in;
        EXPECT_EQ(std::string(sl_error_message()), std::string("job.yaml:4:9: filter: at ") +
                                                       c.msg)
            << c.in;
        EXPECT_EQ(f_, nullptr);
    }
    EXPECT_EQ(parse("age 40", nullptr), SL_ERR_FORMAT);
    EXPECT_EQ(std::string(sl_error_message()).rfind("filter: at character 5: ", 0), 0u);
}

TEST_F(FilterTest, NestingIsBounded)
{
    std::string deep(65, '(');
    deep += "a == 1" + std::string(65, ')');
    EXPECT_EQ(parse(deep), SL_ERR_FORMAT);
    EXPECT_EQ(std::string(sl_error_message()),
              "job.yaml:4:9: filter: at character 65: the expression is nested too deeply; "
              "expected at most 64 levels of 'not' and parentheses");
    std::string ok(64, '(');
    ok += "a == 1" + std::string(64, ')');
    EXPECT_EQ(parse(ok), SL_OK) << sl_error_message();
    EXPECT_STREQ(sl_filter_text(f_), "a == 1");
    std::string nots;
    for (int i = 0; i < 65; i++)
        nots += "not ";
    EXPECT_EQ(parse(nots + "a == 1"), SL_ERR_FORMAT);
    EXPECT_EQ(std::string(sl_error_message()).rfind("job.yaml:4:9: filter: at character 257: "
                                                    "the expression is nested too deeply",
                                                    0),
              0u)
        << sl_error_message();

    // Long flat chains are fine up to 1000 conditions.
    std::string chain = "a == 0";
    for (int i = 1; i < 1000; i++)
        chain += " or a == " + std::to_string(i);
    ASSERT_EQ(parse(chain), SL_OK) << sl_error_message();
    EXPECT_EQ(parse(chain + " or b == 1"), SL_ERR_FORMAT);
    EXPECT_EQ(std::string(sl_error_message()),
              "job.yaml:4:9: filter: at character " + std::to_string(chain.size() + 5) +
                  ": the expression has too many conditions; expected at most 1000");
}

// ---- binding ----

TEST_F(FilterTest, BindErrors)
{
    struct Case {
        const char *in, *msg;
    } cases[] = {
        {"agee > 40", "character 1: unknown column 'agee'; did you mean 'age'?"},
        {"AGE > 40", "character 1: unknown column 'AGE'; did you mean 'age'?"},
        {"regoin == \"North\"", "character 1: unknown column 'regoin'; did you mean "
                                 "'region'?"},
        {"c > 1", "character 1: unknown column 'c'; expected one of the cohort's columns: pid, "
                  "age, bmi, sex, region, dob, a, b, stage"},
        {"age == 1 and zzzzzz > 1",
         "character 14: unknown column 'zzzzzz'; expected one of the cohort's columns: pid, "
         "age, bmi, sex, region, dob, a, b, stage"},
        {"sex == \"X\"", "character 8: \"X\" is not a level of column 'sex'; expected one of "
                         "\"F\", \"M\""},
        {"sex in [\"F\", \"f\"]", "character 14: \"f\" is not a level of column 'sex'; "
                                  "expected one of \"F\", \"M\""},
        {"stage == \"s13\"", "character 10: \"s13\" is not a level of column 'stage'; expected "
                             "one of \"s1\", \"s2\", \"s3\", \"s4\", \"s5\", \"s6\", \"s7\", "
                             "\"s8\", \"s9\", \"s10\" and 2 more"},
        {"age == \"40\"", "character 8: column 'age' is numeric (integer); expected a number, "
                          "not the string \"40\""},
        {"bmi in [20, \"x\"]", "character 13: column 'bmi' is numeric (real); expected a "
                               "number, not the string \"x\""},
        {"stage == 2", "character 10: column 'stage' is categorical; expected a label in "
                       "quotes such as \"2\", not a number"},
        {"sex < \"M\"", "character 5: column 'sex' is categorical; expected ==, != or in, not "
                        "'<'"},
        {"dob > 5", "character 7: column 'dob' is a date; expected a date string such as "
                    "\"1980-01-31\", not a number"},
        {"dob > \"2021-02-29\"", "character 7: \"2021-02-29\" is not a valid date; expected "
                                 "\"YYYY-MM-DD\""},
        {"dob > \"2021-1-5\"", "character 7: \"2021-1-5\" is not a valid date; expected "
                               "\"YYYY-MM-DD\""},
        {"pid == \"abc\"", "character 1: column 'pid' holds patient identifiers and cannot be "
                           "filtered on; expected a column of another type"},
        {"pid is missing", "character 1: column 'pid' holds patient identifiers and cannot be "
                           "filtered on; expected a column of another type"},
    };
    for (const Case &c : cases) {
        ASSERT_EQ(parse(c.in), SL_OK) << c.in;
        EXPECT_EQ(sl_filter_bind_columns(f_, cols_.data(), cols_.size()), SL_ERR_FORMAT)
            << c.in;
        EXPECT_EQ(std::string(sl_error_message()), std::string("job.yaml:4:9: filter: at ") +
                                                       c.msg)
            << c.in;
        int *cols = nullptr;
        int n = 0;
        EXPECT_EQ(sl_filter_columns(f_, &cols, &n), SL_ERR_ARG) << "left unbound: " << c.in;
    }
}

TEST_F(FilterTest, ColumnsAreSortedAndDistinct)
{
    ASSERT_EQ(parse_bind("dob is missing or age > 1 and (sex == \"F\" or age < 90) and "
                         "bmi is missing"),
              SL_OK)
        << sl_error_message();
    int *cols = nullptr;
    int n = 0;
    ASSERT_EQ(sl_filter_columns(f_, &cols, &n), SL_OK);
    ASSERT_EQ(n, 4);
    EXPECT_EQ(cols[0], C_AGE);
    EXPECT_EQ(cols[1], C_BMI);
    EXPECT_EQ(cols[2], C_SEX);
    EXPECT_EQ(cols[3], C_DOB);
    sl_free(cols);

    // Rebinding against another layout follows the new column indices.
    sl_colinfo moved[2] = {cols_.data()[C_SEX], cols_.data()[C_AGE]};
    ASSERT_EQ(parse("age > 1 and sex == \"M\""), SL_OK);
    ASSERT_EQ(sl_filter_bind_columns(f_, cols_.data(), cols_.size()), SL_OK);
    ASSERT_EQ(sl_filter_bind_columns(f_, moved, 2), SL_OK) << sl_error_message();
    ASSERT_EQ(sl_filter_columns(f_, &cols, &n), SL_OK);
    ASSERT_EQ(n, 2);
    EXPECT_EQ(cols[0], 0);
    EXPECT_EQ(cols[1], 1);
    sl_free(cols);
}

// The ranges a filter keeps of numeric and date columns: conjuncts of the
// whole expression only, the tightest bounds each, integer comparisons
// with fractions as evaluated (age > 40.5 keeps 41 and above).
TEST_F(FilterTest, RangesOfConjunctsOnNumericAndDateColumns)
{
    struct Want {
        std::string column;
        bool has_from, from_closed;
        double from;
        bool has_to, to_closed;
        double to;
    };
    auto ranges = [&](const std::string &text) {
        EXPECT_EQ(parse_bind(text), SL_OK) << text << ": " << sl_error_message();
        sl_filter_range *r = nullptr;
        int n = -1;
        EXPECT_EQ(sl_filter_ranges(f_, &r, &n), SL_OK) << text;
        std::vector<Want> out;
        for (int i = 0; i < n; i++)
            out.push_back({r[i].column, r[i].has_from, r[i].from_closed, r[i].from, r[i].has_to,
                           r[i].to_closed, r[i].to});
        sl_free(r);
        return out;
    };
    auto expect = [](const std::vector<Want> &got, const Want &w, const std::string &text) {
        for (const Want &g : got)
            if (g.column == w.column) {
                EXPECT_EQ(g.has_from, w.has_from) << text;
                EXPECT_EQ(g.has_to, w.has_to) << text;
                if (w.has_from) {
                    EXPECT_EQ(g.from, w.from) << text;
                    EXPECT_EQ(g.from_closed, w.from_closed) << text;
                }
                if (w.has_to) {
                    EXPECT_EQ(g.to, w.to) << text;
                    EXPECT_EQ(g.to_closed, w.to_closed) << text;
                }
                return;
            }
        ADD_FAILURE() << text << ": no range of " << w.column;
    };

    std::string t = "age >= 40 and sex == \"F\" and (age < 65 and bmi > 30)";
    auto r = ranges(t);
    ASSERT_EQ(r.size(), 2u) << t;
    expect(r, {"age", true, false, 40, true, false, 65}, t);
    expect(r, {"bmi", true, true, 30, false, false, 0}, t);

    t = "age > 40.5 and age <= 70.5 and age >= 30";
    r = ranges(t);
    ASSERT_EQ(r.size(), 1u) << t;
    expect(r, {"age", true, false, 41, true, true, 70}, t);

    t = "age == 50 and age > 50";
    expect(ranges(t), {"age", true, true, 50, true, true, 50}, t);
    t = "age <= 50 and age < 50";
    expect(ranges(t), {"age", false, false, 0, true, false, 50}, t);
    t = "dob >= \"1970-01-11\"";
    expect(ranges(t), {"dob", true, false, 10, false, false, 0}, t);

    for (const char *none : {"age >= 40 or age < 20", "not (age < 40)", "age != 40",
                             "age in [40, 41]", "sex == \"F\"", "age is not missing",
                             "age == 40.5"})
        EXPECT_TRUE(ranges(none).empty()) << none;

    ASSERT_EQ(parse("age > 1"), SL_OK);
    sl_filter_range *unbound = nullptr;
    int n = 0;
    EXPECT_EQ(sl_filter_ranges(f_, &unbound, &n), SL_ERR_ARG);
    sl_filter_conjunct *c = nullptr;
    EXPECT_EQ(sl_filter_conjuncts(f_, &c, &n), SL_ERR_ARG);
}

// Top-level conjuncts: canonical text, sorted, repeats once, range
// comparisons marked with their column; the same list for any order and
// grouping of "and"; an "or" or "not" is one conjunct, bounding nothing.
TEST_F(FilterTest, ConjunctsSortedOnceWithTheirBounds)
{
    auto conj = [&](const std::string &text) {
        EXPECT_EQ(parse_bind(text), SL_OK) << text << ": " << sl_error_message();
        sl_filter_conjunct *c = nullptr;
        int n = -1;
        EXPECT_EQ(sl_filter_conjuncts(f_, &c, &n), SL_OK) << text;
        std::string s;
        for (int i = 0; i < n; i++)
            s += std::string(i ? " | " : "") + c[i].text + (c[i].bounds ? " @" : "") +
                 (c[i].bounds ? c[i].bounds : "");
        sl_filter_conjuncts_free(&c, n);
        EXPECT_EQ(c, nullptr);
        return s;
    };
    EXPECT_EQ(conj("sex == \"F\" and (age >= 40 and bmi > 30) and sex == \"F\""),
              "age >= 40 @age | bmi > 30 @bmi | sex == \"F\"");
    EXPECT_EQ(conj("bmi > 30 and (sex == \"F\" and age >= 40)"),
              conj("(age >= 40 and bmi > 30) and sex == \"F\""));
    EXPECT_EQ(conj("age != 50 and age in [1, 2] and dob < \"2000-01-01\""),
              "age != 50 | age in [1, 2] | dob < \"2000-01-01\" @dob");
    EXPECT_EQ(conj("(age >= 40 or sex == \"F\") and not (bmi > 30)"),
              "(age >= 40 or sex == \"F\") | (not bmi > 30)");
    EXPECT_EQ(conj("age >= 40 or sex == \"F\""), "(age >= 40 or sex == \"F\")");
    EXPECT_EQ(conj("age == 40.5"), "age == 40.5");
}

TEST_F(FilterTest, BindsAgainstARealCohort)
{
    char tmpl[] = "/tmp/sl_test_filter_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl;
    const std::string kek_path = dir + "/centre.kek", path = dir + "/cohort.h5";
    sl_kek *kek = nullptr;
    sl_cohort_writer *w = nullptr;
    sl_cohort *c = nullptr;
    sl_frame *frame = nullptr;
    int64_t *chunks = nullptr;
    int *cols = nullptr;
    int ncols = 0;
    int64_t nchunks = 0;
    const int64_t n = 10;
    {
        ASSERT_EQ(sl_kek_generate_file(kek_path.c_str()), SL_OK) << sl_error_message();
        ASSERT_EQ(sl_kek_load(kek_path.c_str(), &kek), SL_OK) << sl_error_message();
        char pid[] = "pid", age[] = "age", sex[] = "sex", dob[] = "dob";
        sl_colinfo info[4] = {};
        char *names[4] = {pid, age, sex, dob};
        sl_coltype types[4] = {SL_COL_ID, SL_COL_INT, SL_COL_CAT, SL_COL_DATE};
        for (int i = 0; i < 4; i++) {
            info[i].name = names[i];
            info[i].type = types[i];
            info[i].cls = i == 0 ? SL_CLASS_IDENTIFIER : SL_CLASS_QUASI;
            info[i].lower = info[i].upper = kNaN;
        }
        // Chunks of 4 rows, so the filter runs over a frame of several chunks.
        ASSERT_EQ(sl_cohort_writer_create(path.c_str(), kek, info, 4, 4, &w), SL_OK)
            << sl_error_message();
        const char *levels[] = {"F", "M"};
        ASSERT_EQ(sl_cohort_writer_set_levels(w, 2, 2, levels), SL_OK) << sl_error_message();
        std::vector<unsigned char> ids(static_cast<size_t>(n) * SL_ID_BYTES, 0xab);
        std::vector<int64_t> ages = {30, 45, 50, kIntNA, 41, 39, 70, 40, 55, 20};
        std::vector<int32_t> sexes = {0, 0, 1, 0, kCatNA, 0, 0, 1, 0, 1};
        std::vector<int32_t> dobs = {0, 3652, 11017, 19782, 100, kDateNA, -1, 5000, 3651, 0};
        const void *data[4] = {ids.data(), ages.data(), sexes.data(), dobs.data()};
        ASSERT_EQ(sl_cohort_writer_append(w, n, data), SL_OK) << sl_error_message();
        ASSERT_EQ(sl_cohort_writer_finish(w), SL_OK) << sl_error_message();
    }
    ASSERT_EQ(sl_cohort_open(path.c_str(), &c), SL_OK) << sl_error_message();

    // Binding needs metadata only, no key.
    ASSERT_EQ(parse("dob is not missing and sex == \"M\" or age >= 40 and dob >= \"1980-01-01\""),
              SL_OK);
    ASSERT_EQ(sl_filter_bind(f_, c), SL_OK) << sl_error_message();
    ASSERT_EQ(sl_filter_columns(f_, &cols, &ncols), SL_OK);
    ASSERT_EQ(ncols, 3);
    EXPECT_EQ(cols[0], 1);
    EXPECT_EQ(cols[1], 2);
    EXPECT_EQ(cols[2], 3);

    ASSERT_EQ(sl_cohort_unlock(c, kek), SL_OK) << sl_error_message();
    ASSERT_EQ(sl_chunks_assign(sl_cohort_nchunks(c), 0, 1, SL_ASSIGN_CONTIGUOUS, &chunks,
                               &nchunks),
              SL_OK);
    ASSERT_EQ(sl_frame_load(c, cols, ncols, chunks, nchunks, &frame), SL_OK)
        << sl_error_message();
    std::vector<uint8_t> mask(n);
    ASSERT_EQ(sl_filter_eval(f_, frame, 0, n, mask.data()), SL_OK) << sl_error_message();
    // Rows 2, 7, 9 are men with a known dob; row 1 is 45 and born 1980-01-01.
    // Row 3 (age missing) and row 4 (sex missing) are unknown, so dropped;
    // rows 6 and 8 are old enough but born before 1980.
    EXPECT_EQ(mask, (std::vector<uint8_t>{0, 1, 1, 0, 0, 0, 0, 1, 0, 1}));

    // Against the real cohort, errors name the column the same way.
    ASSERT_EQ(parse("sex == \"X\""), SL_OK);
    EXPECT_EQ(sl_filter_bind(f_, c), SL_ERR_FORMAT);
    EXPECT_EQ(std::string(sl_error_message()), "job.yaml:4:9: filter: at character 8: \"X\" "
                                               "is not a level of column 'sex'; expected one "
                                               "of \"F\", \"M\"");
    ASSERT_EQ(parse("pid is missing"), SL_OK);
    EXPECT_EQ(sl_filter_bind(f_, c), SL_ERR_FORMAT);

    sl_frame_destroy(&frame);
    sl_free(chunks);
    sl_free(cols);
    sl_cohort_close(&c);
    sl_cohort_writer_destroy(&w);
    sl_kek_destroy(&kek);
    std::filesystem::remove_all(dir);
}

// ---- evaluation ----

TEST_F(FilterTest, IntegerOperators)
{
    Frame fr(7);
    fr.add<int64_t>(C_AGE, {-5, 0, 39, 40, 41, kIntNA, INT64_MAX});
    EXPECT_EQ(pass("age == 40", fr), (Rows{3}));
    EXPECT_EQ(pass("age != 40", fr), (Rows{0, 1, 2, 4, 6}));
    EXPECT_EQ(pass("age < 40", fr), (Rows{0, 1, 2}));
    EXPECT_EQ(pass("age <= 40", fr), (Rows{0, 1, 2, 3}));
    EXPECT_EQ(pass("age > 40", fr), (Rows{4, 6}));
    EXPECT_EQ(pass("age >= 40", fr), (Rows{3, 4, 6}));
    EXPECT_EQ(pass("age >= -5", fr), (Rows{0, 1, 2, 3, 4, 6}));
    EXPECT_EQ(pass("age == 9223372036854775807", fr), (Rows{6}));
    EXPECT_EQ(pass("age == 40.0", fr), (Rows{3}));
    // Fractional literals on an integer column compare exactly.
    EXPECT_EQ(pass("age > 40.5", fr), (Rows{4, 6}));
    EXPECT_EQ(pass("age >= 40.5", fr), (Rows{4, 6}));
    EXPECT_EQ(pass("age < 40.5", fr), (Rows{0, 1, 2, 3}));
    EXPECT_EQ(pass("age <= -4.5", fr), (Rows{0}));
    EXPECT_EQ(pass("age == 40.5", fr), (Rows{}));
    EXPECT_EQ(pass("age != 40.5", fr), (Rows{0, 1, 2, 3, 4, 6}));
    EXPECT_EQ(pass("age < 1e30", fr), (Rows{0, 1, 2, 3, 4, 6}));
    EXPECT_EQ(pass("age > 1e30", fr), (Rows{}));
    EXPECT_EQ(pass("age > -1e30", fr), (Rows{0, 1, 2, 3, 4, 6}));
    EXPECT_EQ(pass("age in [0, 41, 40.5, 1000]", fr), (Rows{1, 4}));
    EXPECT_EQ(pass("age in [0.5]", fr), (Rows{}));
    EXPECT_EQ(pass("not age in [0.5]", fr), (Rows{0, 1, 2, 3, 4, 6}));
    EXPECT_EQ(pass("age is missing", fr), (Rows{5}));
    EXPECT_EQ(pass("age is not missing", fr), (Rows{0, 1, 2, 3, 4, 6}));
}

TEST_F(FilterTest, RealOperators)
{
    Frame fr(6);
    fr.add<double>(C_BMI, {18.5, 25.0, 30.2, kNaN, -0.0, 24.999});
    EXPECT_EQ(pass("bmi == 25", fr), (Rows{1}));
    EXPECT_EQ(pass("bmi != 25", fr), (Rows{0, 2, 4, 5}));
    EXPECT_EQ(pass("bmi < 25", fr), (Rows{0, 4, 5}));
    EXPECT_EQ(pass("bmi <= 25", fr), (Rows{0, 1, 4, 5}));
    EXPECT_EQ(pass("bmi > 18.5", fr), (Rows{1, 2, 5}));
    EXPECT_EQ(pass("bmi >= 18.5", fr), (Rows{0, 1, 2, 5}));
    EXPECT_EQ(pass("bmi == 0", fr), (Rows{4}));
    EXPECT_EQ(pass("bmi in [30.2, 18.5, 99]", fr), (Rows{0, 2}));
    EXPECT_EQ(pass("bmi in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 25]", fr), (Rows{1}));
    EXPECT_EQ(pass("bmi is missing", fr), (Rows{3}));
    EXPECT_EQ(pass("not bmi is missing", fr), (Rows{0, 1, 2, 4, 5}));
}

TEST_F(FilterTest, CategoricalByLabel)
{
    Frame fr(6);
    fr.add<int32_t>(C_SEX, {0, 1, kCatNA, 1, 0, 0});
    fr.add<int32_t>(C_REGION, {0, 1, 2, 3, kCatNA, 2});
    EXPECT_EQ(pass("sex == \"F\"", fr), (Rows{0, 4, 5}));
    EXPECT_EQ(pass("sex == 'M'", fr), (Rows{1, 3}));
    EXPECT_EQ(pass("sex != \"F\"", fr), (Rows{1, 3}));
    EXPECT_EQ(pass("not sex == \"F\"", fr), (Rows{1, 3}));
    EXPECT_EQ(pass("sex in [\"M\"]", fr), (Rows{1, 3}));
    EXPECT_EQ(pass("region in [\"North\", \"East\"]", fr), (Rows{0, 2, 5}));
    EXPECT_EQ(pass("not region in [\"North\", \"East\"]", fr), (Rows{1, 3}));
    EXPECT_EQ(pass("sex is missing or region is missing", fr), (Rows{2, 4}));
    EXPECT_EQ(pass("sex == \"F\" and region == \"East\"", fr), (Rows{5}));
}

TEST_F(FilterTest, DatesCompareAsDays)
{
    Frame fr(6);
    // 1969-12-31, 1970-01-01, 1980-01-01, 2000-03-01, 2024-02-29, missing
    fr.add<int32_t>(C_DOB, {-1, 0, 3652, 11017, 19782, kDateNA});
    EXPECT_EQ(pass("dob == \"2024-02-29\"", fr), (Rows{4}));
    EXPECT_EQ(pass("dob == \"2000-03-01\"", fr), (Rows{3}));
    EXPECT_EQ(pass("dob == \"1969-12-31\"", fr), (Rows{0}));
    EXPECT_EQ(pass("dob < \"1970-01-01\"", fr), (Rows{0}));
    EXPECT_EQ(pass("dob >= \"1980-01-01\"", fr), (Rows{2, 3, 4}));
    EXPECT_EQ(pass("dob > \"1979-12-31\" and dob <= \"2000-02-29\"", fr), (Rows{2}));
    EXPECT_EQ(pass("dob != \"1970-01-01\"", fr), (Rows{0, 2, 3, 4}));
    EXPECT_EQ(pass("dob in [\"1970-01-01\", \"2000-03-01\"]", fr), (Rows{1, 3}));
    EXPECT_EQ(pass("dob is missing", fr), (Rows{5}));
}

TEST_F(FilterTest, ThreeValuedLogicTruthTable)
{
    // Rows: every combination of a == 1 and b == 1 being true (1), false (0)
    // and unknown (missing): index = 3 * ta + tb with t: 0 true, 1 false, 2 unknown.
    const int64_t v[3] = {1, 0, kIntNA};
    std::vector<int64_t> a, b;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            a.push_back(v[i]);
            b.push_back(v[j]);
        }
    Frame fr(9);
    fr.add(C_A, a);
    fr.add(C_B, b);
    // T=true, F=false, U=unknown; rows pass only when true.
    //            a:  T  T  T  F  F  F  U  U  U
    //            b:  T  F  U  T  F  U  T  F  U
    // and:           T  F  U  F  F  F  U  F  U
    // or:            T  T  T  T  F  U  T  U  U
    // not a:         F  F  F  T  T  T  U  U  U
    // not(and):      F  T  U  T  T  T  U  T  U
    // not(or):       F  F  F  F  T  U  F  U  U
    EXPECT_EQ(pass("a == 1 and b == 1", fr), (Rows{0}));
    EXPECT_EQ(pass("a == 1 or b == 1", fr), (Rows{0, 1, 2, 3, 6}));
    EXPECT_EQ(pass("not a == 1", fr), (Rows{3, 4, 5}));
    EXPECT_EQ(pass("not (a == 1 and b == 1)", fr), (Rows{1, 3, 4, 5, 7}));
    EXPECT_EQ(pass("not (a == 1 or b == 1)", fr), (Rows{4}));
    EXPECT_EQ(pass("not not a == 1", fr), (Rows{0, 1, 2}));
    // "is missing" is never unknown.
    EXPECT_EQ(pass("a is missing or b == 1", fr), (Rows{0, 3, 6, 7, 8}));
    EXPECT_EQ(pass("(a == 1 or b == 1) and not (a == 1 and b == 1)", fr), (Rows{1, 3}));
}

TEST_F(FilterTest, EvalRowRangeAndErrors)
{
    Frame fr(5);
    fr.add<int64_t>(C_AGE, {10, 20, 30, 40, 50});
    const sl_frame *f = fr.get();
    ASSERT_EQ(parse("age >= 30"), SL_OK);
    uint8_t mask[5] = {9, 9, 9, 9, 9};
    EXPECT_EQ(sl_filter_eval(f_, f, 0, 5, mask), SL_ERR_ARG) << "unbound";
    ASSERT_EQ(sl_filter_bind_columns(f_, cols_.data(), cols_.size()), SL_OK);
    ASSERT_EQ(sl_filter_eval(f_, f, 1, 3, mask), SL_OK) << sl_error_message();
    EXPECT_EQ(mask[0], 0);
    EXPECT_EQ(mask[1], 1);
    EXPECT_EQ(mask[2], 1);
    EXPECT_EQ(mask[3], 9) << "nothing written past nrows";
    EXPECT_EQ(sl_filter_eval(f_, f, 5, 0, mask), SL_OK);
    EXPECT_EQ(sl_filter_eval(f_, f, 3, 3, mask), SL_ERR_ARG);
    EXPECT_EQ(sl_filter_eval(f_, f, -1, 2, mask), SL_ERR_ARG);

    ASSERT_EQ(parse_bind("age > 1 and bmi > 2"), SL_OK);
    EXPECT_EQ(sl_filter_eval(f_, f, 0, 5, mask), SL_ERR_ARG);
    EXPECT_EQ(std::string(sl_error_message()),
              "sl_filter_eval: the frame lacks column 'bmi' that the filter reads");
}

// Row-by-row reference with Kleene logic, for the randomised comparison.
// Random age, bmi, sex, region and date of birth for n rows, each value
// missing one time in `every`.
struct Clinical {
    std::vector<int64_t> age;
    std::vector<double> bmi;
    std::vector<int32_t> sex, region, dob;
    Clinical(int64_t n, std::mt19937_64 &rng, unsigned every)
        : age(static_cast<size_t>(n)), bmi(static_cast<size_t>(n)), sex(static_cast<size_t>(n)),
          region(static_cast<size_t>(n)), dob(static_cast<size_t>(n))
    {
        for (size_t i = 0; i < age.size(); i++) {
            age[i] = rng() % every == 0 ? kIntNA : static_cast<int64_t>(rng() % 100);
            bmi[i] = rng() % every == 0 ? kNaN : 15.0 + static_cast<double>(rng() % 2000) / 100.0;
            sex[i] = rng() % every == 0 ? kCatNA : static_cast<int32_t>(rng() % 2);
            region[i] = rng() % every == 0 ? kCatNA : static_cast<int32_t>(rng() % 4);
            dob[i] = rng() % every == 0 ? kDateNA : static_cast<int32_t>(rng() % 20000);
        }
    }
    void add_to(Frame &fr) const
    {
        fr.add(C_AGE, age);
        fr.add(C_BMI, bmi);
        fr.add(C_SEX, sex);
        fr.add(C_REGION, region);
        fr.add(C_DOB, dob);
    }
};

using Tv = std::optional<bool>;

TEST_F(FilterTest, MatchesRowByRowReferenceAcrossBlocks)
{
    const int64_t n = 10007;
    std::mt19937_64 rng(12345);
    Clinical cl(n, rng, 10);
    const std::vector<int64_t> &age = cl.age;
    const std::vector<double> &bmi = cl.bmi;
    const std::vector<int32_t> &sex = cl.sex, &region = cl.region, &dob = cl.dob;
    Frame fr(n);
    cl.add_to(fr);

    auto AND = [](Tv x, Tv y) -> Tv {
        if (x == false || y == false)
            return false;
        if (x == true && y == true)
            return true;
        return std::nullopt;
    };
    auto OR = [](Tv x, Tv y) -> Tv {
        if (x == true || y == true)
            return true;
        if (x == false && y == false)
            return false;
        return std::nullopt;
    };
    auto NOT = [](Tv x) -> Tv { return x ? Tv(!*x) : std::nullopt; };
    // 1990-06-15 is day 7470.
    const std::string text = "(age >= 40 and sex == \"F\") or not (bmi < 25.5 or region in "
                             "[\"North\", \"East\"]) and (dob is missing or dob > "
                             "\"1990-06-15\") or not age < 90";
    auto ref = [&](int64_t i) -> Tv {
        Tv age40 = age[i] == kIntNA ? Tv() : Tv(age[i] >= 40);
        Tv female = sex[i] < 0 ? Tv() : Tv(sex[i] == 0);
        Tv lean = std::isnan(bmi[i]) ? Tv() : Tv(bmi[i] < 25.5);
        Tv ne = region[i] < 0 ? Tv() : Tv(region[i] == 0 || region[i] == 2);
        Tv late = dob[i] == kDateNA ? Tv(true) : Tv(dob[i] > 7470);
        Tv young = age[i] == kIntNA ? Tv() : Tv(age[i] < 90);
        return OR(OR(AND(age40, female), AND(NOT(OR(lean, ne)), late)), NOT(young));
    };
    ASSERT_EQ(parse_bind(text), SL_OK) << sl_error_message();
    const sl_frame *f = fr.get();
    std::vector<uint8_t> mask(n);
    ASSERT_EQ(sl_filter_eval(f_, f, 0, n, mask.data()), SL_OK);
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++) {
        ASSERT_EQ(mask[i], ref(i) == true ? 1 : 0) << "row " << i;
        kept += mask[i];
    }
    EXPECT_GT(kept, n / 10);
    EXPECT_LT(kept, n - n / 10);
    // A window that starts and ends inside blocks.
    const int64_t row0 = 1000, rows = 7001;
    std::vector<uint8_t> part(rows);
    ASSERT_EQ(sl_filter_eval(f_, f, row0, rows, part.data()), SL_OK);
    for (int64_t i = 0; i < rows; i++)
        ASSERT_EQ(part[i], mask[row0 + i]) << "row " << row0 + i;
}

}  // namespace

// Mangled expressions (characters deleted, tokens and odd bytes inserted,
// spans replaced): each one is either refused with its position, or parses
// and then binds or is refused likewise; what parses prints a canonical
// text that parses again to itself, and what binds keeps the same rows as
// its canonical text. Nothing leaks, and the sanitizer build runs this too.
TEST_F(FilterTest, MangledExpressionsAreRefusedCleanlyOrRoundTrip)
{
    const int64_t n = 300;
    std::mt19937_64 vr(99);
    Clinical cl(n, vr, 8);
    std::vector<int64_t> a(n), b(n);
    std::vector<int32_t> stage(n);
    for (int64_t i = 0; i < n; i++) {
        a[i] = vr() % 8 == 0 ? kIntNA : static_cast<int64_t>(vr() % 5) - 2;
        b[i] = static_cast<int64_t>(vr() % 5000) - 2500;
        stage[i] = vr() % 8 == 0 ? kCatNA : static_cast<int32_t>(vr() % 12);
    }
    Frame fr(n);
    cl.add_to(fr);
    fr.add(C_A, a);
    fr.add(C_B, b);
    fr.add(C_STAGE, stage);
    const sl_frame *frame = fr.get();
    auto rows = [&](const std::string &what) {
        std::vector<uint8_t> mask(static_cast<size_t>(n), 7);
        EXPECT_EQ(sl_filter_eval(f_, frame, 0, n, mask.data()), SL_OK)
            << what << ": " << sl_error_message();
        for (uint8_t m : mask)
            EXPECT_TRUE(m == 0 || m == 1) << what;
        return mask;
    };
    const std::vector<std::string> seeds = {
        "age >= 40 and sex == \"F\"",
        "not (bmi < 18.5 or bmi > 30) and region in [\"North\", \"East\"]",
        "dob >= \"2001-02-03\" and stage != \"s12\"",
        "bmi is missing or not (a is missing)",
        "(a == 1 or b != -2.5e3) and (sex in [\"M\"] or age <= 17)",
    };
    const std::vector<std::string> pieces = {
        "(", ")", "[", "]", ",", "\"", "and", "or", "not", "==", "!=", "<", "<=", ">", ">=",
        "in", "is", "missing", " ", "1e308", "1e999", "-", "0.5", "\\", "\xff", "\xc3\xa9", "age",
        "sex", "\"F\"", "'", "\t", "99999999999999999999", "\"2001-13-45\"", "pid", "..", "nan"};
    std::mt19937_64 rng(20261207);
    int parsed = 0, bound = 0;
    for (int i = 0; i < 100000; i++) {
        std::string s = sltest::mangle(seeds[rng() % seeds.size()], pieces, rng, 4, 6);
        sl_status st = parse(s);
        if (st != SL_OK) {
            ASSERT_EQ(st, SL_ERR_FORMAT) << s;
            std::string msg = sl_error_message();
            ASSERT_NE(msg.find("job.yaml:4:9"), std::string::npos) << s << ": " << msg;
            ASSERT_NE(msg.find("character"), std::string::npos) << s << ": " << msg;
            continue;
        }
        parsed++;
        std::string canon = sl_filter_text(f_);
        st = sl_filter_bind_columns(f_, cols_.data(), cols_.size());
        ASSERT_TRUE(st == SL_OK || st == SL_ERR_FORMAT) << s << ": " << sl_error_message();
        std::vector<uint8_t> kept;
        if (st == SL_OK) {
            bound++;
            kept = rows(s);
        }
        ASSERT_EQ(parse(canon), SL_OK) << s << " printed as " << canon << ": "
                                       << sl_error_message();
        ASSERT_EQ(std::string(sl_filter_text(f_)), canon) << s;
        if (!kept.empty()) {
            ASSERT_EQ(sl_filter_bind_columns(f_, cols_.data(), cols_.size()), SL_OK) << canon;
            ASSERT_EQ(rows(canon), kept) << s << " printed as " << canon;
        }
    }
    // the mangling leaves enough intact to reach the binder and evaluator paths
    EXPECT_GT(parsed, 5000);
    EXPECT_GT(bound, 1000);
}
