// R-style formulas: parsing with R's term semantics and ordering, error
// positions, and design layout (R's coefficient names and coding rule).
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tests/unit/mangle.hh"

extern "C" {
#include "engine/core/alloc.h"
#include "jobs/formula.h"
}

namespace {

struct FormulaDel {
    void operator()(sl_formula *f) const { sl_formula_destroy(&f); }
};
struct DesignDel {
    void operator()(sl_design *d) const { sl_design_destroy(&d); }
};
using Formula = std::unique_ptr<sl_formula, FormulaDel>;
using Design = std::unique_ptr<sl_design, DesignDel>;

Formula parse(const std::string &text_s)
{
    const char *text = text_s.c_str();
    sl_formula *f = nullptr;
    sl_status st = sl_formula_parse(text, &f);
    EXPECT_EQ(st, SL_OK) << text << ": " << sl_error_message();
    return Formula(f);
}

std::string parse_error(const std::string &text_s)
{
    const char *text = text_s.c_str();
    sl_formula *f = nullptr;
    sl_status st = sl_formula_parse(text, &f);
    EXPECT_EQ(st, SL_ERR_FORMAT) << text;
    EXPECT_EQ(f, nullptr);
    return sl_error_message();
}

std::vector<std::string> labels(const sl_formula *f)
{
    std::vector<std::string> out;
    char buf[256];
    for (int t = 0; t < f->nterms; t++) {
        sl_formula_term_label(f, t, buf, sizeof buf);
        out.push_back(buf);
    }
    return out;
}

std::vector<std::string> names(const sl_design *d)
{
    return std::vector<std::string>(d->names, d->names + d->ncols);
}

// The variables of a design, in formula order: numeric, or categorical with
// level labels and a reference level.
struct Vars {
    std::vector<std::vector<const char *>> levels;
    std::vector<int> refs;
    std::vector<sl_design_var> dv;
    void numeric() { add({}, 0); }
    void categorical(std::vector<const char *> lv, int ref = 0) { add(std::move(lv), ref); }

private:
    void add(std::vector<const char *> lv, int ref)
    {
        levels.push_back(std::move(lv));
        refs.push_back(ref);
        dv.clear();
        for (size_t i = 0; i < levels.size(); i++)
            dv.push_back(sl_design_var{!levels[i].empty(), static_cast<int32_t>(levels[i].size()),
                                       levels[i].empty() ? nullptr : levels[i].data(), refs[i]});
    }
};

Design design(const sl_formula *f, const Vars &v)
{
    sl_design *d = nullptr;
    sl_status st = sl_design_create(f, v.dv.data(), &d);
    EXPECT_EQ(st, SL_OK) << sl_error_message();
    return Design(d);
}

class FormulaTest : public ::testing::Test {
protected:
    void SetUp() override { live_ = sl_alloc_live(); }
    void TearDown() override { EXPECT_EQ(sl_alloc_live(), live_) << "allocations leaked"; }
    int64_t live_ = 0;
};

}  // namespace

TEST_F(FormulaTest, MainEffectsKeepTheirOrder)
{
    auto f = parse("low ~ age + lwt + race + smoke");
    ASSERT_TRUE(f);
    EXPECT_STREQ(f->response, "low");
    EXPECT_TRUE(f->intercept);
    EXPECT_EQ(labels(f.get()), (std::vector<std::string>{"age", "lwt", "race", "smoke"}));
}

TEST_F(FormulaTest, StarExpandsAndTermsAreOrderedByDegree)
{
    auto f = parse("y ~ a:b + c + a*d");
    ASSERT_TRUE(f);
    // R: terms(y ~ a:b + c + a*d) -> c, a, d, a:b, a:d
    EXPECT_EQ(labels(f.get()), (std::vector<std::string>{"c", "a", "d", "a:b", "a:d"}));
}

TEST_F(FormulaTest, InteractionLabelsFollowVariableOrder)
{
    auto f = parse("y ~ b:a + a");
    ASSERT_TRUE(f);
    EXPECT_EQ(labels(f.get()), (std::vector<std::string>{"a", "b:a"}));
}

TEST_F(FormulaTest, ThreeWayStar)
{
    auto f = parse("y ~ a*b*c");
    ASSERT_TRUE(f);
    EXPECT_EQ(labels(f.get()),
              (std::vector<std::string>{"a", "b", "c", "a:b", "a:c", "b:c", "a:b:c"}));
}

TEST_F(FormulaTest, ParenthesesDistribute)
{
    auto f = parse("y ~ (a + b):c");
    ASSERT_TRUE(f);
    EXPECT_EQ(labels(f.get()), (std::vector<std::string>{"a:c", "b:c"}));
}

TEST_F(FormulaTest, RemovalAndRepeats)
{
    auto f = parse("y ~ a*b - a:b + a + b");
    ASSERT_TRUE(f);
    EXPECT_EQ(labels(f.get()), (std::vector<std::string>{"a", "b"}));
    auto g = parse("y ~ a*b - (a + b)");
    ASSERT_TRUE(g);
    EXPECT_EQ(labels(g.get()), (std::vector<std::string>{"a:b"}));
}

TEST_F(FormulaTest, InterceptForms)
{
    EXPECT_FALSE(parse("y ~ x - 1")->intercept);
    EXPECT_FALSE(parse("y ~ 0 + x")->intercept);
    EXPECT_FALSE(parse("y ~ -1 + x")->intercept);
    EXPECT_FALSE(parse("y ~ x + 0")->intercept);
    EXPECT_TRUE(parse("y ~ 0 + x + 1")->intercept);
    EXPECT_TRUE(parse("y ~ 1 + x")->intercept);
    auto f = parse("y ~ 1");
    EXPECT_TRUE(f->intercept);
    EXPECT_EQ(f->nterms, 0);
}

TEST_F(FormulaTest, BackquotedAndDottedNames)
{
    auto f = parse("wt.loss ~ `age at entry` + ph.ecog");
    ASSERT_TRUE(f);
    EXPECT_STREQ(f->response, "wt.loss");
    ASSERT_EQ(f->nvars, 2);
    EXPECT_STREQ(f->vars[0], "age at entry");
    EXPECT_STREQ(f->vars[1], "ph.ecog");
}

TEST_F(FormulaTest, ErrorsGiveTheCharacterPosition)
{
    EXPECT_NE(parse_error("y ~ a +").find("at character 8: expected a term"), std::string::npos)
        << sl_error_message();
    EXPECT_NE(parse_error("y ~ a + + b").find("at character 9"), std::string::npos);
    EXPECT_NE(parse_error("~ a").find("at character 1: expected the response"),
              std::string::npos);
    EXPECT_NE(parse_error("y a").find("at character 3: expected '~'"), std::string::npos);
    EXPECT_NE(parse_error("y ~ (a + b").find("expected ')' to close the '(' at character 5"),
              std::string::npos);
    EXPECT_NE(parse_error("y ~ a b").find("at character 7"), std::string::npos);
}

TEST_F(FormulaTest, UnsupportedSyntaxIsNamed)
{
    EXPECT_NE(parse_error("y ~ log(x)").find("functions such as log() are not supported"),
              std::string::npos)
        << sl_error_message();
    EXPECT_NE(parse_error("y ~ (a + b)^2").find("at character 12: '^' is not supported"),
              std::string::npos)
        << sl_error_message();
    EXPECT_NE(parse_error("y ~ a / b").find("nested terms"), std::string::npos);
    EXPECT_NE(parse_error("y ~ .").find("'.' (all other columns)"), std::string::npos);
    EXPECT_NE(parse_error("y ~ 2 + x").find("only be 0 or 1"), std::string::npos);
    EXPECT_NE(parse_error("y ~ a:1").find("cannot be part of an interaction"),
              std::string::npos);
    EXPECT_NE(parse_error("y ~ x + y").find("at character 9: the response 'y' also appears"),
              std::string::npos)
        << sl_error_message();
    EXPECT_NE(parse_error("y ~ `a").find("not closed"), std::string::npos);
}

TEST_F(FormulaTest, DesignNamesAsR)
{
    // R: model.matrix(low ~ age + race + smoke) with race = white/black/other
    auto f = parse("low ~ age + race + smoke");
    Vars v;
    v.numeric();
    v.categorical({"white", "black", "other"});
    v.numeric();
    auto d = design(f.get(), v);
    EXPECT_EQ(names(d.get()), (std::vector<std::string>{"(Intercept)", "age", "raceblack",
                                                        "raceother", "smoke"}));
}

TEST_F(FormulaTest, ReferenceLevelMovesTheContrast)
{
    auto f = parse("low ~ race");
    Vars v;
    v.categorical({"white", "black", "other"}, 1);
    auto d = design(f.get(), v);
    EXPECT_EQ(names(d.get()),
              (std::vector<std::string>{"(Intercept)", "racewhite", "raceother"}));
}

TEST_F(FormulaTest, FactorByNumericInteraction)
{
    auto f = parse("y ~ sex*age");
    Vars v;
    v.categorical({"F", "M"});
    v.numeric();
    auto d = design(f.get(), v);
    EXPECT_EQ(names(d.get()),
              (std::vector<std::string>{"(Intercept)", "sexM", "age", "sexM:age"}));
}

TEST_F(FormulaTest, InteractionWithoutMarginUsesIndicators)
{
    // R: model.matrix(low ~ age*smoke + race:lwt + ui): race has no main effect,
    // so race:lwt gets one column per race level.
    auto f = parse("low ~ age*smoke + race:lwt + ui");
    Vars v;
    v.numeric();
    v.numeric();
    v.categorical({"white", "black", "other"});
    v.numeric();
    v.numeric();
    auto d = design(f.get(), v);
    EXPECT_EQ(names(d.get()),
              (std::vector<std::string>{"(Intercept)", "age", "smoke", "ui", "age:smoke",
                                        "racewhite:lwt", "raceblack:lwt", "raceother:lwt"}));
}

TEST_F(FormulaTest, TwoFactorsFirstVariesFastest)
{
    auto f = parse("y ~ a*b");
    Vars v;
    v.categorical({"a1", "a2", "a3"});
    v.categorical({"b1", "b2", "b3"});
    auto d = design(f.get(), v);
    EXPECT_EQ(names(d.get()),
              (std::vector<std::string>{"(Intercept)", "aa2", "aa3", "bb2", "bb3", "aa2:bb2",
                                        "aa3:bb2", "aa2:bb3", "aa3:bb3"}));
}

TEST_F(FormulaTest, MissingMarginOfTwoFactors)
{
    // R: model.matrix(~ a + a:b): b is coded by indicators within a:b
    auto f = parse("y ~ a + a:b");
    Vars v;
    v.categorical({"a1", "a2"});
    v.categorical({"b1", "b2"});
    auto d = design(f.get(), v);
    EXPECT_EQ(names(d.get()),
              (std::vector<std::string>{"(Intercept)", "aa2", "aa1:bb2", "aa2:bb2"}));
}

TEST_F(FormulaTest, NoInterceptGivesTheFirstFactorAllLevels)
{
    auto f = parse("low ~ 0 + race + age + sex");
    Vars v;
    v.categorical({"white", "black", "other"});
    v.numeric();
    v.categorical({"F", "M"});
    auto d = design(f.get(), v);
    EXPECT_EQ(names(d.get()), (std::vector<std::string>{"racewhite", "raceblack", "raceother",
                                                        "age", "sexM"}));
}

TEST_F(FormulaTest, EmptyModelIsRefused)
{
    auto f = parse("y ~ 0");
    ASSERT_TRUE(f);
    Vars v;
    sl_design *d = nullptr;
    EXPECT_EQ(sl_design_create(f.get(), v.dv.data(), &d), SL_ERR_FORMAT);
    EXPECT_EQ(d, nullptr);
    EXPECT_NE(std::string(sl_error_message()).find("no coefficients"), std::string::npos);
}

TEST_F(FormulaTest, TooManyColumnsIsRefused)
{
    auto f = parse("y ~ a:b:c");
    std::vector<std::string> store(30);
    std::vector<const char *> lv;
    for (int i = 0; i < 30; i++) {
        store[i] = "l" + std::to_string(i);
        lv.push_back(store[i].c_str());
    }
    Vars v;
    v.categorical(lv);
    v.categorical(lv);
    v.categorical(lv);
    sl_design *d = nullptr;
    EXPECT_EQ(sl_design_create(f.get(), v.dv.data(), &d), SL_ERR_FORMAT);
    EXPECT_NE(std::string(sl_error_message()).find("more than 4096"), std::string::npos);
}

// Found by fuzzing: parentheses recursed without a limit (a stack overflow
// at 30000 levels), and a*b*...*p built 2^16 - 1 terms in quadratic time
// (2 s; 27 s with 18 variables, never ending with more).
TEST_F(FormulaTest, NestingAndExpansionAreBounded)
{
    auto nested = [](int n) {
        return "y ~ " + std::string(static_cast<size_t>(n), '(') + "a" +
               std::string(static_cast<size_t>(n), ')');
    };
    EXPECT_EQ(parse(nested(64))->nterms, 1);
    EXPECT_NE(parse_error(nested(65)).find("at character 69: parentheses nested too deeply; "
                                           "expected at most 64 levels"),
              std::string::npos)
        << sl_error_message();
    EXPECT_NE(parse_error(nested(100000)).find("nested too deeply"), std::string::npos);

    std::string star = "y ~ v0";
    for (int v = 1; v < 12; v++)
        star += "*v" + std::to_string(v);
    EXPECT_EQ(parse(star)->nterms, 4095);
    EXPECT_NE(parse_error(star + "*v12").find("the formula expands to more than 4096 terms"),
              std::string::npos)
        << sl_error_message();
    std::string big = "y ~ v0";
    for (int v = 1; v < 64; v++)
        big += "*v" + std::to_string(v);
    EXPECT_NE(parse_error(big).find("more than 4096 terms"), std::string::npos);

    // 4095 x 4095 combinations that all fall back on the same 4095 terms
    std::string twelve = star.substr(4);
    EXPECT_NE(parse_error("y ~ (" + twelve + "):(" + twelve + ")")
                  .find("repeat the same terms too often to expand"),
              std::string::npos)
        << sl_error_message();
    // and the same work spread over many small steps
    std::string many = "y ~ (" + twelve + ")";
    for (int i = 0; i < 2000; i++)
        many += ":(v0*v1*v2*v3)";
    EXPECT_NE(parse_error(many).find("repeat the same terms too often"), std::string::npos)
        << sl_error_message();
}

TEST_F(FormulaTest, FillComputesProductsAndIndicators)
{
    auto f = parse("y ~ sex*age + x:age");
    Vars v;
    v.categorical({"F", "M"});
    v.numeric();
    v.numeric();
    auto d = design(f.get(), v);
    ASSERT_EQ(names(d.get()), (std::vector<std::string>{"(Intercept)", "sexM", "age",
                                                        "sexM:age", "age:x"}));
    const int64_t n = 4, ld = 5;
    double age[n] = {30, 40, 50, 60}, x[n] = {1.5, -2, 0.25, 3};
    int32_t sex[n] = {0, 1, 1, 0};
    uint8_t keep[n] = {1, 1, 0, 1};
    const double *num[3] = {nullptr, age, x};
    const int32_t *lev[3] = {sex, nullptr, nullptr};
    std::vector<double> out(ld * 5, -7.0);
    for (int64_t c = 0; c < 5; c++)
        sl_design_fill_column(d.get(), c, n, num, lev, keep, out.data() + c * ld);
    auto at = [&](int64_t i, int64_t c) { return out[c * ld + i]; };
    for (int64_t i = 0; i < n; i++) {
        double k = keep[i];
        EXPECT_EQ(at(i, 0), k);
        EXPECT_EQ(at(i, 1), k * (sex[i] == 1));
        EXPECT_EQ(at(i, 2), k * age[i]);
        EXPECT_EQ(at(i, 3), k * (sex[i] == 1) * age[i]);
        EXPECT_EQ(at(i, 4), k * age[i] * x[i]);
    }
    EXPECT_EQ(out[4], -7.0) << "rows past n must not be written";
    // a numeric variable on its own is used in place; the others are computed
    EXPECT_EQ(sl_design_column_ref(d.get(), 2, num), age);
    for (int64_t c : {0, 1, 3, 4})
        EXPECT_EQ(sl_design_column_ref(d.get(), c, num), nullptr) << c;
}

// Mangled formulas: each one is refused with its text and a character
// position, or parses; the label of a parsed one's terms, written back as a
// formula, parses to the same terms. Nothing leaks (the fixture checks).
TEST_F(FormulaTest, MangledFormulasAreRefusedWithAPositionOrRoundTrip)
{
    const std::vector<std::string> seeds = {
        "outcome ~ age + bmi + sex + region + age:sex",
        "y ~ (a + b + c)^2", "y ~ a * b * c - a:b:c - 1", "low ~ `odd name` + x.1 + 0",
        "y ~ a + (b + c):d + 1"};
    const std::vector<std::string> pieces = {"~", "+", "-", "*", ":", "(", ")", "`", "0", "1",
                                             " ", "a", "log(", "^", "/", "%in%", "\xff", ".",
                                             "y", "\t", "``", "2"};
    std::mt19937_64 rng(1972);
    int parsed = 0;
    for (int i = 0; i < 20000; i++) {
        std::string s = sltest::mangle(seeds[rng() % seeds.size()], pieces, rng, 3, 4);
        sl_formula *f = nullptr;
        sl_status st = sl_formula_parse(s.c_str(), &f);
        if (st != SL_OK) {
            ASSERT_EQ(st, SL_ERR_FORMAT) << s;
            ASSERT_EQ(f, nullptr) << s;
            std::string msg = sl_error_message();
            ASSERT_NE(msg.find("character"), std::string::npos) << s << ": " << msg;
            continue;
        }
        Formula owned(f);
        parsed++;
        // a term as its variables' names, sorted (labels follow the order in
        // which variables first appear, which writing back may change)
        auto term_sets = [](const sl_formula *h) {
            std::vector<std::vector<std::string>> out;
            for (int t = 0; t < h->nterms; t++) {
                std::vector<std::string> names;
                for (int v = 0; v < h->nvars; v++)
                    if ((h->terms[t] >> v) & 1)
                        names.push_back(h->vars[v]);
                std::sort(names.begin(), names.end());
                out.push_back(names);
            }
            return out;
        };
        std::string again = std::string("`") + f->response + "` ~ " + (f->intercept ? "1" : "0");
        for (int t = 0; t < f->nterms; t++) {
            std::string term;
            for (int v = 0; v < f->nvars; v++)
                if ((f->terms[t] >> v) & 1)
                    term += (term.empty() ? "`" : ":`") + std::string(f->vars[v]) + "`";
            again += " + " + term;
        }
        sl_formula *g = nullptr;
        ASSERT_EQ(sl_formula_parse(again.c_str(), &g), SL_OK)
            << s << " written back as " << again << ": " << sl_error_message();
        Formula back(g);
        EXPECT_EQ(term_sets(g), term_sets(f)) << s << " written back as " << again;
        EXPECT_EQ(g->intercept, f->intercept) << s;
    }
    EXPECT_GT(parsed, 1000);
}
