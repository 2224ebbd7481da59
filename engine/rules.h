/*
 * rules.h: the numbers of the release gate's disclosure rules.
 *
 * The policy sets them (optionally from a named profile); a job file may
 * tighten them, never loosen them. Ratios are exact rationals so that
 * boundary comparisons are done in integers (see the gate).
 */
#ifndef SL_ENGINE_RULES_H
#define SL_ENGINE_RULES_H

#include <stdbool.h>
#include <stdint.h>

struct sl_ratio {
    int64_t num;
    int64_t den; /* > 0 */
};

struct sl_rules {
    int64_t min_safe_count;       /* a cell is safe iff distinct patients >= this (10) */
    bool zero_is_unsafe;          /* empty cells fail (true) */
    int nk_n;                     /* dominance: number of largest contributors (2) */
    struct sl_ratio nk_k;         /* dominance: fail iff top-n sum >= k * total (9/10) */
    struct sl_ratio p_ratio;      /* p%: fail iff rest < p * largest (1/10) */
    int64_t min_dof;              /* residual degrees of freedom (10) */
    bool check_missing;           /* missing values in a cell give review (false) */
    int64_t round_base;           /* rounding mitigation base (5) */
    int64_t redact_at_most;       /* profile "opensafely": redact counts <= this, 0 = off */
    struct sl_ratio glm_max_param_frac; /* parameters <= frac * n (33/100) */
    bool allow_minmax;            /* release min/max at all (false) */
    int64_t minmax_min_count;     /* patients sharing an extreme for it to be released (10) */
    bool release_covariance;      /* model covariance matrix (false) */
    bool release_per_row;         /* residuals, fitted values (false) */
};

/* ACRO-like defaults (the numbers in parentheses above). */
void sl_rules_default(struct sl_rules *r);

#endif
