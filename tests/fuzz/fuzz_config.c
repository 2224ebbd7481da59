/*
 * fuzz_config.c: fuzz target for the YAML job and policy file loaders
 * (engine/config.c, engine/config_yaml.c, engine/params.c): job files are
 * written by users, policy files by operators, and both reach libfyaml only
 * after sluice's own text check.
 *
 * Each input is written to job.yaml in a scratch directory and loaded both
 * as a policy (sl_policy_load) and as a job (sl_job_load, with the default
 * rules and, when the policy loaded, with its rules). What loads must have
 * its required fields; for every analysis of a loaded job, common parameters
 * are read with each typed getter (sl_params_*), their positions asked for,
 * the mapping converted to JSON, and its noisy-count request read
 * (sl_dp_param: an accepted one charges a whole number of units within the
 * limits it documents). sl_malloc balances after every input.
 * The corpus holds the '%' directive with a byte that is not UTF-8, on which
 * libfyaml 0.7.12 never returned before sluice checked the text first.
 */
#define _XOPEN_SOURCE 700
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/config.h"
#include "engine/core/alloc.h"
#include "engine/core/log.h"
#include "engine/core/status.h"
#include "engine/dp.h"

#include "fuzz_workdir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[4200];

static const char *const keys[] = {"by",      "formula", "family",   "reference", "breaks",
                                   "probs",   "bins",    "weights",  "offset",    "columns",
                                   "column",  "value",   "covariance", "min",     "max",
                                   "type",    "name",    "percentiles", "top",
                                   "privacy", "rho",     "epsilon",  NULL};

static void exercise_params(const struct sl_params *p)
{
    for (int k = 0; keys[k]; k++) {
        const char *key = keys[k];
        const char *s = NULL;
        int64_t i = 0;
        double d = 0;
        bool b = false;
        const char **sv = NULL, **mk = NULL, **mv = NULL;
        double *dv = NULL;
        int n = 0;
        (void)sl_params_has(p, key);
        (void)sl_params_string(p, key, k % 2 == 0, &s);
        (void)sl_params_int(p, key, false, &i);
        (void)sl_params_double(p, key, false, &d);
        (void)sl_params_bool(p, key, false, &b);
        if (sl_params_strings(p, key, false, &sv, &n) == SL_OK)
            for (int j = 0; j < n; j++)
                if (!sv[j])
                    abort();
        sl_free(sv);
        n = 0;
        if (sl_params_doubles(p, key, false, &dv, &n) == SL_OK)
            for (int j = 0; j < n; j++)
                (void)dv[j];
        sl_free(dv);
        n = 0;
        if (sl_params_string_map(p, key, false, &mk, &mv, &n) == SL_OK)
            for (int j = 0; j < n; j++)
                if (!mk[j] || !mv[j])
                    abort();
        sl_free(mk);
        sl_free(mv);
        (void)sl_params_where(p, key);
        sl_error_clear();
    }
    (void)sl_params_where(p, NULL);
    static const char *const known[] = {"by", "formula", "family", NULL};
    (void)sl_params_only(p, known);
    json_t *j = sl_params_to_json(p);
    char *dump = j ? json_dumps(j, JSON_COMPACT) : NULL;
    free(dump);
    json_decref(j);
    for (int counts = 0; counts < 2; counts++) {
        struct sl_dp_request req;
        if (sl_dp_param(p, "a", counts, &req) == SL_OK && req.mechanism != SL_DP_NONE) {
            /* rho or epsilon in (0, 10] with 6 decimals: rho <= 50 */
            if (!counts || req.units <= 0 || req.units > 50 * SL_DP_UNITS ||
                req.param.num <= 0 || req.param.den <= 0 || req.param.den > 1000000) {
                abort();
            }
            json_t *d = sl_dp_describe(&req);
            if (!d)
                abort();
            json_decref(d);
        }
        sl_error_clear();
    }
}

static void exercise_job(const struct sl_job *job)
{
    if (!job->name || !job->cohort || !job->backend || job->nanalyses < 1)
        abort();
    for (int a = 0; a < job->nanalyses; a++) {
        if (!job->analyses[a].name || !job->analyses[a].type || !job->analyses[a].params)
            abort();
        exercise_params(job->analyses[a].params);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0]) {
        fuzz_workdir_file("job.yaml", path, sizeof path);
        sl_log_set_level(SL_LOG_ERROR);
    }
    fuzz_put(path, data, size);

    int64_t live0 = sl_alloc_live();
    struct sl_policy *pol = NULL;
    if (sl_policy_load(path, &pol) == SL_OK) {
        if (!pol || pol->nenclave_partitions < 1 || pol->ncohorts < 1)
            abort();
        for (int c = 0; c < pol->ncohorts; c++)
            (void)sl_grant_allows(&pol->cohorts[c], "alice");
    }
    sl_error_clear();

    struct sl_job *job = NULL;
    if (sl_job_load(path, NULL, &job) == SL_OK) {
        exercise_job(job);
        sl_job_destroy(&job);
    }
    sl_error_clear();
    if (pol) {
        if (sl_job_load(path, pol, &job) == SL_OK) {
            exercise_job(job);
            sl_job_destroy(&job);
        }
        sl_error_clear();
    }
    sl_policy_destroy(&pol);
    if (sl_alloc_live() != live0) {
        fprintf(stderr, "sl_malloc leak: %lld -> %lld\n", (long long)live0,
                (long long)sl_alloc_live());
        abort();
    }
    return 0;
}
