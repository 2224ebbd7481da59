/*
 * jobs.h: the built-in analysis types (one file each), for the registry.
 */
#ifndef SL_JOBS_JOBS_H
#define SL_JOBS_JOBS_H

#include "engine/job.h"

extern const struct sl_job_type sl_job_count;
extern const struct sl_job_type sl_job_describe;
extern const struct sl_job_type sl_job_crosstab;
extern const struct sl_job_type sl_job_histogram;
extern const struct sl_job_type sl_job_glm;

#endif
