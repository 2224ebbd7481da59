/*
 * rules.c: default numbers of the disclosure rules (ACRO-like, see
 * shared reference sdc-rules.md).
 */
#include "engine/rules.h"

void sl_rules_default(struct sl_rules *r)
{
    r->min_safe_count = 10;
    r->zero_is_unsafe = true;
    r->nk_n = 2;
    r->nk_k = (struct sl_ratio){9, 10};
    r->p_ratio = (struct sl_ratio){1, 10};
    r->min_dof = 10;
    r->check_missing = false;
    r->round_base = 5;
    r->redact_at_most = 0;
    r->glm_max_param_frac = (struct sl_ratio){33, 100};
    r->allow_minmax = false;
    r->minmax_min_count = 10;
    r->release_covariance = false;
    r->release_per_row = false;
}
