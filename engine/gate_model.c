/*
 * gate_model.c: release rules for fitted models (analysis "glm").
 *
 * A model's cells are its coefficients; the risks are model-wide, so every
 * rule here gives all cells of a model the same verdict:
 *   model_dof     residual degrees of freedom >= rules.min_dof (ACRO); fewer
 *                 lets the fit reproduce individual responses
 *   model_params  parameters <= rules.glm_max_param_frac * n, compared exactly
 *                 as p * den <= num * n (DataSHIELD's nfilter.glm)
 *   model_levels  every level of a binary outcome, of every categorical
 *                 predictor and of every binary numeric model column is held
 *                 by at least rules.min_safe_count patients (DataSHIELD); a
 *                 small level makes its coefficient a statement about a few
 *                 patients
 *   model_per_row the covariance matrix only with rules.release_covariance,
 *                 per-row values (residuals, fitted values) only with
 *                 rules.release_per_row
 * The numbers come from the table's `model` (released) and `facts` (never
 * released); evidence quotes only what may be shown: degrees of freedom,
 * parameter and patient totals the model releases anyway, and the names of
 * small levels without their counts.
 */
#include <inttypes.h>
#include <string.h>

#include "engine/config_impl.h"
#include "engine/gate_impl.h"

static int is_model(const struct sl_table *t, const struct sl_rules *r)
{
    (void)r;
    return strcmp(t->analysis, "glm") == 0;
}

static void all_cells(const struct sl_table *t, enum sl_decision *verdict, enum sl_decision d)
{
    for (int64_t c = 0; c < t->ncells; c++)
        verdict[c] = d;
}

/* An integer member of obj, or -1 when absent or not an integer. */
static int64_t int_member(const json_t *obj, const char *key)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

static sl_status eval_dof(const struct sl_table *t, const struct sl_rules *r,
                          enum sl_decision *verdict, json_t *summary)
{
    int64_t df = int_member(t->model, "df_residual");
    int ok = df >= 0 && df >= r->min_dof;
    all_cells(t, verdict, ok ? SL_DECISION_PASS : SL_DECISION_FAIL);
    json_object_set_new(summary, "parameters",
                        json_pack("{s:I}", "min_dof", (json_int_t)r->min_dof));
    json_object_set_new(summary, "evidence",
                        df >= 0 ? json_pack("{s:I}", "df_residual", (json_int_t)df)
                                : json_pack("{s:n}", "df_residual"));
    if (df < 0)
        json_object_set_new(summary, "reason",
                            json_string("the model's residual degrees of freedom are unknown"));
    else if (!ok)
        json_object_set_new(summary, "reason",
                            json_sprintf("the model has %" PRId64 " residual degrees of freedom; "
                                         "at least %" PRId64 " are required",
                                         df, r->min_dof));
    return SL_OK;
}

static sl_status eval_params(const struct sl_table *t, const struct sl_rules *r,
                             enum sl_decision *verdict, json_t *summary)
{
    int64_t p = int_member(t->facts, "n_params"), n = int_member(t->facts, "n");
    int known = p >= 0 && n >= 0, ok;
    char frac[64];

    sl_ratio_format(r->glm_max_param_frac, frac, sizeof frac);
    /* p / n <= num / den, exactly; n == 0 only passes a model with no parameters */
    ok = known && (n > 0 ? sl_ratio_cmp((struct sl_ratio){p, n}, r->glm_max_param_frac) <= 0
                         : p == 0);
    all_cells(t, verdict, ok ? SL_DECISION_PASS : SL_DECISION_FAIL);
    json_object_set_new(summary, "parameters",
                        json_pack("{s:[I,I]}", "glm_max_param_frac",
                                  (json_int_t)r->glm_max_param_frac.num,
                                  (json_int_t)r->glm_max_param_frac.den));
    json_object_set_new(summary, "evidence",
                        known ? json_pack("{s:I,s:I}", "parameters", (json_int_t)p, "n",
                                          (json_int_t)n)
                              : json_pack("{s:n,s:n}", "parameters", "n"));
    if (!known)
        json_object_set_new(summary, "reason",
                            json_string("the model's number of parameters or patients is "
                                        "unknown"));
    else if (!ok)
        json_object_set_new(summary, "reason",
                            json_sprintf("the model has %" PRId64 " parameters for %" PRId64
                                         " patients; at most %s of the patients are allowed",
                                         p, n, frac));
    return SL_OK;
}

static sl_status eval_levels(const struct sl_table *t, const struct sl_rules *r,
                             enum sl_decision *verdict, json_t *summary)
{
    sl_status st = SL_OK;
    json_t *levels = t->facts ? json_object_get(t->facts, "levels") : NULL, *lv;
    json_t *small = json_array();
    size_t i;
    int64_t checked = 0;
    char reason[1024] = "";

    SL_CHECK(small, SL_ERR_NOMEM, "out of memory");
    json_array_foreach(levels, i, lv) {
        const char *var = json_string_value(json_object_get(lv, "variable"));
        const char *level = json_string_value(json_object_get(lv, "level"));
        const char *role = json_string_value(json_object_get(lv, "role"));
        int64_t n = int_member(lv, "n");
        checked++;
        if (n >= r->min_safe_count)
            continue;
        json_array_append_new(small, json_pack("{s:s,s:s,s:s}", "variable", var ? var : "?",
                                               "role", role ? role : "?", "level",
                                               level ? level : "?"));
        sl_strbuf_append(reason, sizeof reason, "%slevel '%s' of '%s' (%s)", reason[0] ? "; " : "",
                         level ? level : "?", var ? var : "?", role ? role : "?");
    }
    all_cells(t, verdict,
              levels && json_array_size(small) == 0 ? SL_DECISION_PASS : SL_DECISION_FAIL);
    json_object_set_new(summary, "parameters",
                        json_pack("{s:I}", "min_safe_count", (json_int_t)r->min_safe_count));
    json_object_set_new(summary, "evidence",
                        json_pack("{s:I,s:O}", "levels_checked", (json_int_t)checked,
                                  "small_levels", small));
    if (!levels)
        json_object_set_new(summary, "reason",
                            json_string("the patients per level of the model's columns are "
                                        "unknown"));
    else if (json_array_size(small) > 0)
        json_object_set_new(summary, "reason",
                            json_sprintf("fewer than %" PRId64 " patients hold %s",
                                         r->min_safe_count, reason));
cleanup:
    json_decref(small);
    return st;
}

static sl_status eval_per_row(const struct sl_table *t, const struct sl_rules *r,
                              enum sl_decision *verdict, json_t *summary)
{
    static const char *const per_row[] = {"residuals", "fitted_values", "linear_predictors",
                                          "working_weights", NULL};
    int cov = t->model && json_object_get(t->model, "covariance") != NULL;
    int rows = 0, ok;
    for (int k = 0; per_row[k]; k++)
        rows |= t->model && json_object_get(t->model, per_row[k]) != NULL;
    ok = (!cov || r->release_covariance) && (!rows || r->release_per_row);
    all_cells(t, verdict, ok ? SL_DECISION_PASS : SL_DECISION_FAIL);
    json_object_set_new(summary, "parameters",
                        json_pack("{s:b,s:b}", "release_covariance", r->release_covariance,
                                  "release_per_row", r->release_per_row));
    json_object_set_new(summary, "evidence",
                        json_pack("{s:b,s:b}", "covariance_included", cov, "per_row_included",
                                  rows));
    if (!ok)
        json_object_set_new(summary, "reason",
                            json_sprintf("the output includes %s, which the policy does not "
                                         "release",
                                         cov && !r->release_covariance
                                             ? "the covariance matrix"
                                             : "per-row values (residuals or fitted values)"));
    return SL_OK;
}

static const struct sl_gate_rule g_model[] = {
    {"model_dof", is_model, eval_dof},
    {"model_params", is_model, eval_params},
    {"model_levels", is_model, eval_levels},
    {"model_per_row", is_model, eval_per_row},
};

const struct sl_gate_ruleset sl_gate_rules_model = {g_model, sizeof g_model / sizeof g_model[0]};
