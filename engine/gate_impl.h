/*
 * gate_impl.h: how disclosure rules plug into the release gate
 * (engine-private).
 *
 * A rule decides whether it applies to a table, then gives one verdict per
 * cell and fills a summary object: "parameters" (the numbers it used),
 * "evidence" (what a checker needs to confirm the verdict; never values of
 * cells that fail), and "reason" (one sentence, only when something is not
 * pass). Rules live in rule sets by family, one file each; gate.c runs every
 * set on every table.
 *
 * A summary may also carry:
 *   "scope"     what a failing verdict concerns, and so what suppression can
 *               do about it (mitigate.h): "cell" (default: the whole cell,
 *               its count and statistics), "stat" (only the cell's statistic
 *               values; its patient count may stay), "table" (the output as a
 *               whole; no cell-level mitigation helps)
 *   "evidence"  per cell: an array with one entry per cell (an object, or
 *               null where the rule has nothing to say); or for the table as
 *               a whole: an object. Evidence holds counts and verdict
 *               details, never a single patient's value. The release drops
 *               per-cell evidence of failing cells everywhere and shows the
 *               rest to researchers only for outputs released unmitigated;
 *               numbers that only operators may see go in a "private"
 *               object (per cell, or in the table-level object).
 */
#ifndef SL_ENGINE_GATE_IMPL_H
#define SL_ENGINE_GATE_IMPL_H

#include <jansson.h>
#include <stddef.h>

#include "engine/gate.h"

struct sl_gate_rule {
    const char *name;
    int (*applies)(const struct sl_table *t, const struct sl_rules *r);
    sl_status (*eval)(const struct sl_table *t, const struct sl_rules *r,
                      enum sl_decision *verdict, json_t *summary);
};

struct sl_gate_ruleset {
    const struct sl_gate_rule *rules;
    size_t count;
};

/* Frequency rules (gate.c): min_safe_count, zero_cells, redact_small_counts. */
extern const struct sl_gate_ruleset sl_gate_rules_frequency;

/* Statistic rules (gate_stats.c): stat_min_count, dominance_nk, dominance_p,
 * dof_sd, missing_values, minmax. */
extern const struct sl_gate_ruleset sl_gate_rules_stats;

/* Model rules (gate_model.c): model_dof, model_params, model_levels,
 * model_per_row. */
extern const struct sl_gate_ruleset sl_gate_rules_model;

/* Tabulating analyses whose patient counts are released (count, crosstab,
 * histogram, describe): the frequency rules judge their cells, and they are
 * the outputs that suppression and rounding apply to. */
int sl_gate_is_frequency(const struct sl_table *t);

/* Adds a verdict computed outside the rule sets (the differencing ledger) to
 * `t`: sets summary's "rule" to `rule`, "cells" and "status" from `verdict`
 * ([ncells], borrowed), folds the verdicts into the cell decisions and the
 * table's decision and appends the summary to t->verdicts (takes ownership
 * of `summary` whatever the outcome). SL_ERR_NOMEM. Not collective. */
sl_status sl_gate_add_verdict(struct sl_table *t, const char *rule,
                              const enum sl_decision *verdict, json_t *summary);

#endif
