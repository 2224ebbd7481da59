/*
 * prepare.c: a job's analyses made ready against a cohort's metadata (see
 * prepare.h).
 */
#include "engine/prepare.h"

#include <stdio.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/filter.h"
#include "engine/mitigate.h"

sl_status sl_analysis_prepare(const struct sl_job *job, const struct sl_analysis *an,
                              const struct sl_policy *policy, const struct sl_cohort *c,
                              struct sl_prepared *p)
{
    sl_status st = SL_OK;

    memset(p, 0, sizeof *p);
    p->type = sl_job_type_find(an->type);
    if (!p->type) {
        char known[256] = "";
        for (const struct sl_job_type *const *t = sl_job_types(); *t; t++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s",
                     known[0] ? ", " : "", (*t)->name);
        SL_FAIL(SL_ERR_FORMAT, "%s: unknown analysis type '%s'; expected one of: %s",
                sl_params_where(an->params, "type"), an->type, known);
    }
    SL_CALL(sl_dp_param(an->params, an->name, p->type->dp_counts, &p->dp));
    SL_CHECK(p->dp.mechanism == SL_DP_NONE || policy->privacy_budget > 0, SL_ERR_FORMAT,
             "%s: analysis '%s' asks for noisy counts, but the policy %s sets no privacy "
             "budget (privacy: {rho: ...})",
             sl_params_where(an->params, "privacy"), an->name, policy->path);
    SL_CALL(p->type->prepare(an, c, &job->rules, &p->state, &p->cols, &p->ncols));
    SL_CALL(sl_mitigation_param(an->params, &p->kinds));
cleanup:
    return st;
}

void sl_prepared_clear(struct sl_prepared *p)
{
    if (p->type && p->type->destroy)
        p->type->destroy(p->state);
    sl_free(p->cols);
    memset(p, 0, sizeof *p);
}

sl_status sl_job_authorised(const struct sl_job *job, const struct sl_policy *policy,
                            const char *user)
{
    sl_status st = SL_OK;
    const struct sl_cohort_grant *g = sl_policy_find_cohort(policy, job->cohort);
    SL_CHECK(g, SL_ERR_DENIED, "%s: cohort %s is not covered by the policy %s", job->path,
             job->cohort, policy->path);
    SL_CHECK(sl_grant_allows(g, user), SL_ERR_DENIED,
             "user '%s' may not run jobs on cohort %s (policy %s)", user, job->cohort,
             policy->path);
cleanup:
    return st;
}

sl_status sl_job_check(const struct sl_job *job, const struct sl_policy *policy,
                       const struct sl_cohort *c)
{
    sl_status st = SL_OK;
    struct sl_filter *f = NULL;
    struct sl_prepared p;

    memset(&p, 0, sizeof p);
    if (job->filter) {
        SL_CALL(sl_filter_parse(job->filter, job->filter_where, &f));
        SL_CALL(sl_filter_bind(f, c));
    }
    for (int a = 0; a < job->nanalyses; a++) {
        st = sl_analysis_prepare(job, &job->analyses[a], policy, c, &p);
        sl_prepared_clear(&p);
        SL_CALL(st);
    }
cleanup:
    sl_filter_destroy(&f);
    return st;
}
