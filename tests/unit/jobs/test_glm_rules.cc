// Model release rules (engine/gate_model.c) on hand-built glm tables: every
// rule one below, at and one above its boundary, shared verdicts across the
// coefficients, and evidence that never quotes a small level's count.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>

#include "tests/unit/engine/tables.hh"

extern "C" {
#include "engine/gate.h"
#include "engine/rules.h"
#include "engine/table.h"
}

namespace {

using sltest::rule_verdict;

using Table = sltest::TablePtr;

// A glm output with `p` coefficients fitted on `n` patients, df_residual
// `df`, and the levels given as (variable, role, level, patients).
struct Level {
    const char *var, *role, *level;
    int64_t n;
};

Table model_table(int64_t p, int64_t n, int64_t df, std::initializer_list<Level> levels,
                  bool with_cov = false)
{
    static const char *names[] = {"(Intercept)", "a", "b", "c", "d", "e", "f", "g", "h", "i"};
    sl_dim dim{const_cast<char *>("term"), static_cast<int32_t>(p), const_cast<char **>(names),
               nullptr};
    sl_table *t = nullptr;
    EXPECT_EQ(sl_table_create("m", "glm", 1, &dim, &t), SL_OK);
    for (int64_t c = 0; c < p; c++)
        t->n[c] = n;
    t->model = json_pack("{s:s,s:I,s:I}", "family", "binomial", "n", (json_int_t)n,
                         "df_residual", (json_int_t)df);
    if (with_cov)
        json_object_set_new(t->model, "covariance", json_pack("{s:[],s:[]}", "terms", "matrix"));
    json_t *lv = json_array();
    for (auto &l : levels)
        json_array_append_new(lv, json_pack("{s:s,s:s,s:s,s:I}", "variable", l.var, "role",
                                            l.role, "level", l.level, "n", (json_int_t)l.n));
    t->facts = json_pack("{s:I,s:I,s:o}", "n", (json_int_t)n, "n_params", (json_int_t)p,
                         "levels", lv);
    return Table(t);
}

std::string status(const sl_table *t, const char *rule)
{
    json_t *v = rule_verdict(t, rule);
    return v ? json_string_value(json_object_get(v, "status")) : "absent";
}

sl_rules defaults()
{
    sl_rules r;
    sl_rules_default(&r);
    return r;
}

}  // namespace

TEST(ModelRules, DofBoundary)
{
    sl_rules r = defaults();
    ASSERT_EQ(r.min_dof, 10);
    for (auto [df, want] : {std::pair{9, "fail"}, {10, "pass"}, {11, "pass"}}) {
        auto t = model_table(3, 1000, df, {});
        ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
        EXPECT_EQ(status(t.get(), "model_dof"), want) << df;
        json_t *ev = json_object_get(rule_verdict(t.get(), "model_dof"), "evidence");
        EXPECT_EQ(json_integer_value(json_object_get(ev, "df_residual")), df);
    }
}

TEST(ModelRules, ParamsBoundaryIsExact)
{
    // default 33/100: p = 33 needs n >= 100
    sl_rules r = defaults();
    ASSERT_EQ(r.glm_max_param_frac.num, 33);
    ASSERT_EQ(r.glm_max_param_frac.den, 100);
    r.min_dof = 0;
    struct {
        int64_t p, n;
        const char *want;
    } cases[] = {{33, 99, "fail"}, {33, 100, "pass"}, {33, 101, "pass"}};
    static const char *many[40];
    for (int i = 0; i < 40; i++)
        many[i] = "t";
    for (auto &c : cases) {
        sl_dim dim{const_cast<char *>("term"), static_cast<int32_t>(c.p),
                   const_cast<char **>(many), nullptr};
        sl_table *raw = nullptr;
        ASSERT_EQ(sl_table_create("m", "glm", 1, &dim, &raw), SL_OK);
        Table t(raw);
        t->model = json_pack("{s:I}", "df_residual", (json_int_t)(c.n - c.p));
        t->facts = json_pack("{s:I,s:I,s:[]}", "n", (json_int_t)c.n, "n_params",
                             (json_int_t)c.p, "levels");
        ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
        EXPECT_EQ(status(t.get(), "model_params"), c.want) << c.p << " of " << c.n;
    }
}

TEST(ModelRules, ParamsWithATightenedFraction)
{
    sl_rules r = defaults();
    r.glm_max_param_frac = {1, 10};
    for (auto [n, want] : {std::pair{49, "fail"}, {50, "pass"}, {51, "pass"}}) {
        auto t = model_table(5, n, 40, {});
        ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
        EXPECT_EQ(status(t.get(), "model_params"), want) << n;
    }
}

TEST(ModelRules, LevelsBoundaryAndQuietEvidence)
{
    sl_rules r = defaults();
    for (auto [k, want] : {std::pair{9, "fail"}, {10, "pass"}, {11, "pass"}}) {
        auto t = model_table(4, 500, 496,
                             {{"low", "outcome", "0", 300},
                              {"low", "outcome", "1", 200},
                              {"region", "predictor", "north", 480},
                              {"region", "predictor", "islands", k}});
        ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
        EXPECT_EQ(status(t.get(), "model_levels"), want) << k;
        if (std::string(want) == "fail") {
            json_t *v = rule_verdict(t.get(), "model_levels");
            const char *reason = json_string_value(json_object_get(v, "reason"));
            ASSERT_NE(reason, nullptr);
            EXPECT_NE(std::string(reason).find("level 'islands' of 'region'"), std::string::npos)
                << reason;
            char *dump = json_dumps(v, JSON_COMPACT);
            EXPECT_EQ(std::string(dump).find("\"n\""), std::string::npos)
                << "the evidence must not quote level counts: " << dump;
            EXPECT_EQ(std::string(dump).find(":9"), std::string::npos) << dump;
            free(dump);
            EXPECT_EQ(t->decision, SL_DECISION_FAIL);
        }
    }
}

TEST(ModelRules, SmallOutcomeLevelFails)
{
    sl_rules r = defaults();
    r.min_safe_count = 20;
    auto t = model_table(2, 500, 498,
                         {{"dead", "outcome", "0", 481}, {"dead", "outcome", "1", 19}});
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(status(t.get(), "model_levels"), "fail");
    auto ok = model_table(2, 500, 498,
                          {{"dead", "outcome", "0", 480}, {"dead", "outcome", "1", 20}});
    ASSERT_EQ(sl_gate_evaluate(ok.get(), &r), SL_OK);
    EXPECT_EQ(status(ok.get(), "model_levels"), "pass");
}

TEST(ModelRules, EmptyOutcomeLevelFails)
{
    sl_rules r = defaults();
    auto t = model_table(2, 500, 498,
                         {{"dead", "outcome", "0", 500}, {"dead", "outcome", "1", 0}});
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(status(t.get(), "model_levels"), "fail");
}

TEST(ModelRules, CovarianceOnlyWhenThePolicyReleasesIt)
{
    sl_rules r = defaults();
    ASSERT_FALSE(r.release_covariance);
    auto with = model_table(3, 1000, 997, {}, true);
    ASSERT_EQ(sl_gate_evaluate(with.get(), &r), SL_OK);
    EXPECT_EQ(status(with.get(), "model_per_row"), "fail");
    EXPECT_EQ(with->decision, SL_DECISION_FAIL);
    auto without = model_table(3, 1000, 997, {});
    ASSERT_EQ(sl_gate_evaluate(without.get(), &r), SL_OK);
    EXPECT_EQ(status(without.get(), "model_per_row"), "pass");
    r.release_covariance = true;
    auto allowed = model_table(3, 1000, 997, {}, true);
    ASSERT_EQ(sl_gate_evaluate(allowed.get(), &r), SL_OK);
    EXPECT_EQ(status(allowed.get(), "model_per_row"), "pass");
}

TEST(ModelRules, PerRowValuesNeedTheirOwnPermission)
{
    sl_rules r = defaults();
    r.release_covariance = true;
    auto t = model_table(3, 1000, 997, {});
    json_object_set_new(t->model, "residuals", json_array());
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(status(t.get(), "model_per_row"), "fail");
    r.release_per_row = true;
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(status(t.get(), "model_per_row"), "pass");
}

TEST(ModelRules, EveryCoefficientSharesTheVerdicts)
{
    sl_rules r = defaults();
    auto t = model_table(5, 1000, 9, {});
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    for (int64_t c = 0; c < t->ncells; c++)
        EXPECT_EQ(t->cell_decision[c], SL_DECISION_FAIL);
    auto good = model_table(5, 1000, 995,
                            {{"sex", "predictor", "F", 500}, {"sex", "predictor", "M", 500}});
    ASSERT_EQ(sl_gate_evaluate(good.get(), &r), SL_OK);
    EXPECT_EQ(good->decision, SL_DECISION_PASS);
    for (const char *rule : {"model_dof", "model_params", "model_levels", "model_per_row"})
        EXPECT_EQ(status(good.get(), rule), "pass") << rule;
    for (int64_t c = 0; c < good->ncells; c++)
        EXPECT_EQ(good->cell_decision[c], SL_DECISION_PASS);
}

TEST(ModelRules, MissingFactsFailClosed)
{
    sl_rules r = defaults();
    auto t = model_table(3, 1000, 997, {});
    json_decref(t->facts);
    t->facts = nullptr;
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(status(t.get(), "model_params"), "fail");
    EXPECT_EQ(status(t.get(), "model_levels"), "fail");
    EXPECT_EQ(t->decision, SL_DECISION_FAIL);
}

TEST(ModelRules, OnlyModelsAreJudged)
{
    sl_rules r = defaults();
    static const char *levels[] = {"a", "b"};
    sl_dim dim{const_cast<char *>("g"), 2, const_cast<char **>(levels), nullptr};
    sl_table *raw = nullptr;
    ASSERT_EQ(sl_table_create("c", "count", 1, &dim, &raw), SL_OK);
    Table t(raw);
    t->n[0] = t->n[1] = 50;
    ASSERT_EQ(sl_gate_evaluate(t.get(), &r), SL_OK);
    EXPECT_EQ(status(t.get(), "model_dof"), "absent");
}
