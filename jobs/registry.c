/*
 * registry.c: the analysis types sluice knows, by name.
 */
#include <string.h>

#include "engine/job.h"
#include "jobs/jobs.h"

static const struct sl_job_type *const g_types[] = {
    &sl_job_count,
    &sl_job_describe,
    &sl_job_crosstab,
    &sl_job_histogram,
    &sl_job_glm,
    NULL,
};

const struct sl_job_type *const *sl_job_types(void) { return g_types; }

const struct sl_job_type *sl_job_type_find(const char *name)
{
    for (int i = 0; g_types[i]; i++)
        if (strcmp(g_types[i]->name, name) == 0)
            return g_types[i];
    return NULL;
}
