/*
 * prepare.h: a job's analyses made ready against a cohort's metadata.
 *
 * Preparing needs no key and reads no row: the analyses' parameters are
 * checked against the cohort's public metadata (column names, types,
 * levels, bounds), so `sluice run` does it before it unwraps a key, and
 * `sluice submit` before it queues the job; both also ask whether the
 * policy grants the cohort to the user.
 */
#ifndef SL_ENGINE_PREPARE_H
#define SL_ENGINE_PREPARE_H

#include "engine/config.h"
#include "engine/core/status.h"
#include "engine/dp.h"
#include "engine/job.h"
#include "io/cohort.h"

/* One prepared analysis. */
struct sl_prepared {
    const struct sl_job_type *type;
    void *state;              /* the type's, for its execute and destroy */
    int *cols;                /* cohort columns it reads (sl_malloc'd) */
    int ncols;
    struct sl_dp_request dp;  /* the noisy counts it asks for */
    unsigned kinds;           /* the mitigation it asks for (mitigate.h) */
};

/* Prepares analysis `an` of `job` on cohort c: its job type, its noise
 * request (refused when `policy` sets no privacy budget), the type's own
 * parameters and columns, and its mitigation. SL_ERR_FORMAT naming the
 * job file's line and column. *p is zeroed first; sl_prepared_clear frees
 * what it holds, on failure too. Not collective. */
sl_status sl_analysis_prepare(const struct sl_job *job, const struct sl_analysis *an,
                              const struct sl_policy *policy, const struct sl_cohort *c,
                              struct sl_prepared *p);
void sl_prepared_clear(struct sl_prepared *p);

/* SL_ERR_DENIED unless `policy` covers the job's cohort and grants it to
 * `user`, naming the job, cohort and policy. Not collective. */
sl_status sl_job_authorised(const struct sl_job *job, const struct sl_policy *policy,
                            const char *user);

/* Checks every analysis of `job` and its row filter against cohort c's
 * metadata, as `sluice run` will (sl_analysis_prepare), and keeps nothing.
 * Not collective. */
sl_status sl_job_check(const struct sl_job *job, const struct sl_policy *policy,
                       const struct sl_cohort *c);

#endif
