/*
 * gate.c: disclosure rules of the release gate (see gate.h).
 *
 * Each rule looks at a table and, when it applies, returns one verdict per
 * cell plus a summary object {rule, status, parameters, cells, reason}. The
 * table's cell decisions are the worst verdict per cell; its decision the
 * worst over cells. Rules come in rule sets (gate_impl.h), listed in g_sets;
 * this file holds the frequency set (patient counts of tabulating analyses)
 * and sl_gate_add_verdict, which also folds in verdicts judged outside the
 * sets (the differencing ledger).
 */
#include "engine/gate.h"

#include <inttypes.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/gate_impl.h"

int sl_gate_is_frequency(const struct sl_table *t)
{
    static const char *const tabulating[] = {"count", "crosstab", "histogram", "describe"};
    if (t->model)
        return 0;
    for (size_t i = 0; i < sizeof tabulating / sizeof tabulating[0]; i++)
        if (strcmp(t->analysis, tabulating[i]) == 0)
            return 1;
    return 0;
}

static int applies_frequency(const struct sl_table *t, const struct sl_rules *r)
{
    (void)r;
    return sl_gate_is_frequency(t);
}

static int applies_zero(const struct sl_table *t, const struct sl_rules *r)
{
    return sl_gate_is_frequency(t) && r->zero_is_unsafe;
}

static int applies_redact(const struct sl_table *t, const struct sl_rules *r)
{
    return sl_gate_is_frequency(t) && r->redact_at_most > 0;
}

/* Per-cell evidence of the frequency rules: the cell's patient count. */
static sl_status count_evidence(const struct sl_table *t, json_t *summary)
{
    sl_status st = SL_OK;
    json_t *ev = json_array();
    SL_CHECK(ev, SL_ERR_NOMEM, "out of memory");
    for (int64_t c = 0; c < t->ncells; c++)
        SL_CHECK(json_array_append_new(ev, json_pack("{s:I}", "n", (json_int_t)t->n[c])) == 0,
                 SL_ERR_NOMEM, "out of memory");
    SL_CHECK(json_object_set_new(summary, "evidence", ev) == 0, SL_ERR_NOMEM, "out of memory");
    ev = NULL;
cleanup:
    json_decref(ev);
    return st;
}

static sl_status eval_min_count(const struct sl_table *t, const struct sl_rules *r,
                                enum sl_decision *verdict, json_t *summary)
{
    int64_t failing = 0;
    for (int64_t c = 0; c < t->ncells; c++) {
        int unsafe = t->n[c] > 0 && t->n[c] < r->min_safe_count;
        verdict[c] = unsafe ? SL_DECISION_FAIL : SL_DECISION_PASS;
        failing += unsafe;
    }
    json_object_set_new(summary, "parameters",
                        json_pack("{s:I}", "min_safe_count", (json_int_t)r->min_safe_count));
    if (failing)
        json_object_set_new(summary, "reason",
                            json_sprintf("%" PRId64 " cell(s) hold between 1 and %" PRId64
                                         " patients; at least %" PRId64 " are required",
                                         failing, r->min_safe_count - 1, r->min_safe_count));
    return count_evidence(t, summary);
}

static sl_status eval_zero(const struct sl_table *t, const struct sl_rules *r,
                           enum sl_decision *verdict, json_t *summary)
{
    int64_t zeros = 0;
    (void)r;
    for (int64_t c = 0; c < t->ncells; c++) {
        verdict[c] = t->n[c] == 0 ? SL_DECISION_FAIL : SL_DECISION_PASS;
        zeros += t->n[c] == 0;
    }
    json_object_set_new(summary, "parameters", json_pack("{s:b}", "zero_is_unsafe", 1));
    if (zeros)
        json_object_set_new(summary, "reason",
                            json_sprintf("%" PRId64 " cell(s) are empty and the policy treats "
                                         "empty cells as disclosive",
                                         zeros));
    return count_evidence(t, summary);
}

/* Profile "opensafely": counts of 1 to redact_at_most patients are redacted
 * (the cell fails; the policy's redact-and-round mitigation blanks it). */
static sl_status eval_redact(const struct sl_table *t, const struct sl_rules *r,
                             enum sl_decision *verdict, json_t *summary)
{
    int64_t small = 0;
    for (int64_t c = 0; c < t->ncells; c++) {
        int unsafe = t->n[c] > 0 && t->n[c] <= r->redact_at_most;
        verdict[c] = unsafe ? SL_DECISION_FAIL : SL_DECISION_PASS;
        small += unsafe;
    }
    json_object_set_new(summary, "parameters",
                        json_pack("{s:I}", "redact_at_most", (json_int_t)r->redact_at_most));
    if (small)
        json_object_set_new(summary, "reason",
                            json_sprintf("%" PRId64 " cell(s) describe %" PRId64
                                         " or fewer patients and are redacted",
                                         small, r->redact_at_most));
    return count_evidence(t, summary);
}

static const struct sl_gate_rule g_frequency[] = {
    {"min_safe_count", applies_frequency, eval_min_count},
    {"zero_cells", applies_zero, eval_zero},
    {"redact_small_counts", applies_redact, eval_redact},
};

const struct sl_gate_ruleset sl_gate_rules_frequency = {g_frequency,
                                                        sizeof g_frequency / sizeof g_frequency[0]};

/* Every rule set, in the order their verdicts appear in results.json. */
static const struct sl_gate_ruleset *const g_sets[] = {&sl_gate_rules_frequency,
                                                       &sl_gate_rules_stats,
                                                       &sl_gate_rules_model};

static enum sl_decision worse(enum sl_decision a, enum sl_decision b)
{
    return a > b ? a : b;
}

sl_status sl_gate_add_verdict(struct sl_table *t, const char *rule,
                              const enum sl_decision *verdict, json_t *summary)
{
    sl_status st = SL_OK;
    enum sl_decision worst = SL_DECISION_PASS;
    json_t *cells = json_array();

    SL_CHECK(summary && cells && t->verdicts, SL_ERR_NOMEM, "out of memory");
    SL_CHECK(json_object_set_new(summary, "rule", json_string(rule)) == 0, SL_ERR_NOMEM,
             "out of memory");
    for (int64_t c = 0; c < t->ncells; c++) {
        worst = worse(worst, verdict[c]);
        t->cell_decision[c] = worse(t->cell_decision[c], verdict[c]);
        SL_CHECK(json_array_append_new(cells, json_string(sl_decision_name(verdict[c]))) == 0,
                 SL_ERR_NOMEM, "out of memory");
    }
    SL_CHECK(json_object_set_new(summary, "cells", cells) == 0, SL_ERR_NOMEM, "out of memory");
    cells = NULL;
    json_object_set_new(summary, "status", json_string(sl_decision_name(worst)));
    t->decision = worse(t->decision, worst);
    SL_CHECK(json_array_append(t->verdicts, summary) == 0, SL_ERR_NOMEM, "out of memory");
cleanup:
    json_decref(cells);
    json_decref(summary);
    return st;
}

/* Runs one rule on `t` and folds its verdicts into the table. */
static sl_status apply_rule(struct sl_table *t, const struct sl_rules *rules,
                            const struct sl_gate_rule *rule, enum sl_decision *verdict)
{
    sl_status st = SL_OK;
    json_t *summary = NULL;

    if (!rule->applies(t, rules))
        return SL_OK;
    summary = json_pack("{s:s}", "rule", rule->name);
    SL_CHECK(summary, SL_ERR_NOMEM, "out of memory");
    for (int64_t c = 0; c < t->ncells; c++)
        verdict[c] = SL_DECISION_PASS;
    st = rule->eval(t, rules, verdict, summary);
    if (st == SL_OK) {
        st = sl_gate_add_verdict(t, rule->name, verdict, summary);
        summary = NULL;
    }
    SL_CALL(st);
cleanup:
    json_decref(summary);
    return st;
}

sl_status sl_gate_evaluate(struct sl_table *t, const struct sl_rules *rules)
{
    sl_status st = SL_OK;
    enum sl_decision *verdict = NULL;

    json_decref(t->verdicts);
    t->verdicts = json_array();
    verdict = sl_malloc((size_t)t->ncells * sizeof *verdict);
    SL_CHECK(t->verdicts && verdict, SL_ERR_NOMEM, "out of memory");
    for (int64_t c = 0; c < t->ncells; c++)
        t->cell_decision[c] = SL_DECISION_PASS;
    t->decision = SL_DECISION_PASS;

    for (size_t k = 0; k < sizeof g_sets / sizeof g_sets[0]; k++) {
        for (size_t i = 0; i < g_sets[k]->count; i++) {
            SL_CALL(apply_rule(t, rules, &g_sets[k]->rules[i], verdict));
        }
    }
    /* An analysis no rule covers cannot be judged: it is held for review. */
    if (json_array_size(t->verdicts) == 0) {
        t->decision = SL_DECISION_REVIEW;
        for (int64_t c = 0; c < t->ncells; c++)
            t->cell_decision[c] = SL_DECISION_REVIEW;
    }
cleanup:
    sl_free(verdict);
    return st;
}
