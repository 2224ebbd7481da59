/*
 * gate.h: the release gate, the only path by which results leave a job.
 *
 * The gate applies every disclosure rule that concerns a table, records
 * per-cell verdicts with the evidence a checker needs, and sets the table's
 * decision: the worst over all rules and cells (fail > review > pass).
 * Counts are distinct patients, compared exactly in integers.
 *
 * Rules (all comparisons exact, in integers or rationals):
 *   min_safe_count  a non-empty cell fails when it holds fewer than
 *                   rules.min_safe_count patients (the boundary is safe:
 *                   n == min_safe_count passes)
 *   zero_cells      an empty cell fails when rules.zero_is_unsafe
 *   redact_small_counts  profile opensafely: a cell of 1..redact_at_most
 *                   patients fails (and is redacted when mitigated)
 *   stat_min_count  a statistic (sum, mean, sd, variance, quantile, min,
 *                   max) resting on 1..min_safe_count-1 patients fails; so
 *                   does a count column (e.g. patients with a value) in that
 *                   range
 *   dominance_nk    the nk_n largest per-patient contributions make up at
 *                   least nk_k of the cell's total: fail
 *   dominance_p     total - x1 - x2 < p_ratio * x1: fail
 *                   (both: negative contributions make dominance undefined:
 *                   review)
 *   dof_sd          sd and variance need support - 1 >= min_dof
 *   missing_values  with rules.check_missing, a cell whose measure has
 *                   missing values gives review
 *   minmax          min/max fail unless rules.allow_minmax, and then unless
 *                   at least minmax_min_count patients share the extreme
 * The frequency rules judge tabulating analyses (count, crosstab, histogram,
 * describe); the statistic rules every non-model table by its columns'
 * kinds. Differencing against earlier releases is judged by the ledger
 * (ledger.h), model outputs by gate_model.c.
 */
#ifndef SL_ENGINE_GATE_H
#define SL_ENGINE_GATE_H

#include "engine/core/status.h"
#include "engine/rules.h"
#include "engine/table.h"

/* Evaluates every applicable rule on `t` (borrowed, modified: decision,
 * cell_decision, verdicts). A refusal is a decision, not an error: the
 * status is SL_OK unless memory runs out. Rank 0 only; not collective. */
sl_status sl_gate_evaluate(struct sl_table *t, const struct sl_rules *rules);

#endif
