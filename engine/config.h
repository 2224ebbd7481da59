/*
 * config.h: the operator's policy file and the researcher's job file.
 *
 * Both are YAML. Every error names the file, line and column and says what
 * was expected ("policy.yaml:12:5: expected an integer >= 1 for
 * 'min_safe_count'"). A job's `rules:` section may only tighten the policy;
 * an attempt to loosen a rule is an error naming the rule.
 *
 * Analyses keep their YAML parameters as an sl_params handle so each job
 * type (jobs/) reads its own parameters with the same quality of errors.
 */
#ifndef SL_ENGINE_CONFIG_H
#define SL_ENGINE_CONFIG_H

#include <stdbool.h>
#include <jansson.h>
#include <stdint.h>

#include "engine/core/status.h"
#include "engine/rules.h"

/* ---- parameters of one analysis (a YAML mapping) ---- */

struct sl_params;

/* Each getter: SL_OK and *out set when present and well typed; when absent,
 * `required` gives SL_ERR_FORMAT "file:line:col: analysis 'x' needs 'key'",
 * otherwise SL_OK with *out keeping its default (sl_params_has tells the two
 * apart). Wrong type: SL_ERR_FORMAT naming file:line:col of the value.
 * Numbers and booleans must be unquoted. Strings are borrowed from the
 * params (valid while the job lives). Not collective. */
sl_status sl_params_string(const struct sl_params *p, const char *key, bool required,
                           const char **out);
sl_status sl_params_int(const struct sl_params *p, const char *key, bool required, int64_t *out);
sl_status sl_params_double(const struct sl_params *p, const char *key, bool required, double *out);
sl_status sl_params_bool(const struct sl_params *p, const char *key, bool required, bool *out);
/* An exact decimal in [lo, hi] ((lo, hi] when lo_open), unquoted, such as
 * 0.005 (engine/config_impl.h: sl_ratio_parse). */
sl_status sl_params_ratio(const struct sl_params *p, const char *key, bool required,
                          struct sl_ratio lo, bool lo_open, struct sl_ratio hi,
                          struct sl_ratio *out);
/* A string or a list of strings; *out is an sl_malloc'd array of borrowed
 * strings (caller sl_free's the array only). */
sl_status sl_params_strings(const struct sl_params *p, const char *key, bool required,
                            const char ***out, int *count);
/* A list of numbers; *out sl_malloc'd (caller frees). */
sl_status sl_params_doubles(const struct sl_params *p, const char *key, bool required,
                            double **out, int *count);
/* A mapping of names to strings, e.g. `reference: {sex: "F"}`: *keys and
 * *values receive sl_malloc'd arrays of *count borrowed strings (the caller
 * sl_free's both arrays; NULL and 0 when absent or empty). Keys must be plain
 * names and values strings; errors name the offending key or value. */
sl_status sl_params_string_map(const struct sl_params *p, const char *key, bool required,
                               const char ***keys, const char ***values, int *count);
/* The mapping under `key` as parameters of their own, e.g. `bands: {age:
 * [18, 40]}` whose keys are column names: *sub NULL when absent, else a new
 * handle (sl_params_free) read with the same getters, whose errors name the
 * file, line and column of its entries. Not collective. */
sl_status sl_params_sub(const struct sl_params *p, const char *key, struct sl_params **sub);
void sl_params_free(struct sl_params **p);
/* The keys of the mapping, in file order: *keys is an sl_malloc'd array of
 * borrowed strings (caller sl_free's the array only). Keys must be plain
 * names. */
sl_status sl_params_keys(const struct sl_params *p, const char ***keys, int *count);
/* True when the mapping has `key` (whatever its value). */
bool sl_params_has(const struct sl_params *p, const char *key);
/* Rejects keys not in the NULL-terminated `known` list ("type" and "name"
 * are always accepted), naming the first unknown key, its position, the
 * closest accepted key and all accepted keys. */
sl_status sl_params_only(const struct sl_params *p, const char *const *known);
/* The analysis as written, as JSON (new reference; for results.json).
 * Unquoted integers, reals and booleans keep their type; the rest are strings. */
json_t *sl_params_to_json(const struct sl_params *p);
/* "file:line:col" of `key`'s value (or of the mapping if key is NULL or
 * absent), for job types' own error messages. The string belongs to `p` and
 * is valid until the next sl_params_where call on it. */
const char *sl_params_where(const struct sl_params *p, const char *key);

/* For a column `name` the cohort lacks (its ncols columns `cols`), into out:
 * "did you mean 'region'?" naming the closest columns (fewest edits,
 * ignoring case; fewer than a third of the name's length plus one, at most
 * 3), else "expected one of the cohort's columns: a, b, ..." (the first 10). */
struct sl_colinfo;
void sl_column_hint(const struct sl_colinfo *cols, int ncols, const char *name, char *out,
                    size_t size);

/* The index of cohort c's column `name` into *col. SL_ERR_FORMAT when it has
 * none: "WHERE: the cohort has no column 'NAME' (ROLE); HINT", without
 * " (ROLE)" when role is NULL, HINT from sl_column_hint. */
struct sl_cohort;
sl_status sl_column_find(const struct sl_cohort *c, const char *name, const char *where,
                         const char *role, int *col);

/* ---- job file ---- */

struct sl_analysis {
    char *name;               /* output name: given, or "<type>_<index>" */
    char *type;               /* "count", "describe", ... */
    struct sl_params *params; /* the whole mapping, type and name included */
};

struct sl_job {
    char *path;               /* job file as given */
    unsigned char sha256[32]; /* of the file's bytes */
    char *name;               /* `name:` or the file's base name without extension */
    char *cohort;             /* cohort path, resolved relative to the job file */
    char *filter;             /* row filter expression or NULL */
    char *filter_where;       /* "file:line:col" of the filter text, for its errors */
    int nanalyses;
    struct sl_analysis *analyses;
    char *backend;            /* "auto" (default), "cpu", "gpu" */
    int ranks;                /* resources.ranks, default 1 */
    int threads;              /* resources.threads: kernel threads per rank, default 1 */
    int gpus;                 /* resources.gpus, default 0 */
    char *time_limit;         /* resources.time, e.g. "00:30:00", or NULL */
    char *memory;             /* resources.memory, e.g. "4G", or NULL */
    char *project;            /* project name for budgets and ledgers, or NULL */
    struct sl_rules rules;    /* policy rules tightened by the job's `rules:` */
};

/* ---- policy file ---- */

struct sl_cohort_grant {
    char *path;               /* cohort path, resolved relative to the policy file */
    char **users;             /* may run jobs on it; "*" means anyone */
    int nusers;
};

struct sl_policy {
    char *path;
    unsigned char sha256[32];
    char *key_file;           /* KEK file, resolved relative to the policy, or NULL */
    char *audit_key_file;     /* key file whose "audit" sub-key MACs the audit log;
                                 default: key_file. A separate file lets refusals be
                                 logged without reading the KEK. */
    bool allow_local;         /* runs outside Slurm allowed (default false) */
    char **enclave_partitions;
    int nenclave_partitions;
    char **enclave_nodes;     /* empty: any node of the enclave partitions */
    int nenclave_nodes;
    char *emergency_partition;/* or NULL */
    char **emergency_users;
    int nemergency_users;
    struct sl_cohort_grant *cohorts;
    int ncohorts;
    char *released_dir;       /* default "released" beside the policy */
    char *held_dir;           /* default "held" */
    char *audit_log;          /* default "audit/audit.log" */
    char *audit_witness;      /* or NULL: the log's witness (sl_audit_set_witness) */
    char *ledger_dir;         /* default "ledger" */
    int reviewers_required;   /* default 2 */
    char *profile;            /* "acro" (default) or "opensafely" */
    struct sl_rules rules;
    char *default_partition;  /* for sluice submit; default: first enclave partition */
    char *default_time;       /* default "01:00:00" */
    int64_t privacy_budget;   /* privacy.rho per cohort and project in units of
                                 1/SL_DP_UNITS (engine/dp.h); 0: no noisy outputs */
    double privacy_delta;     /* privacy.delta (1e-6): spent rho is also reported as
                                 (epsilon, delta) at this delta */
};

/* Loads and validates a policy file (format and defaults: engine/config.c).
 * *out is owned by the caller (sl_policy_destroy). SL_ERR_IO when the file
 * cannot be read; SL_ERR_FORMAT "file:line:col: what; expected ..." for YAML
 * syntax errors, unknown keys, wrong types, missing keys and values out of
 * range. Not collective. */
sl_status sl_policy_load(const char *path, struct sl_policy **out);
/* NULL-safe; NULLs *p. */
void sl_policy_destroy(struct sl_policy **p);

/* Loads a job file; its rules start from `policy->rules` (sl_rules_default
 * when policy is NULL) and may only be tightened. The filter's syntax is
 * checked here (sl_filter_parse); binding it needs the cohort. The analyses'
 * params stay valid until sl_job_destroy. Errors as for sl_policy_load.
 * Not collective. */
sl_status sl_job_load(const char *path, const struct sl_policy *policy, struct sl_job **out);
/* NULL-safe; NULLs *j. */
void sl_job_destroy(struct sl_job **j);

/* The grant covering `cohort_path` (compared after realpath), or NULL. */
const struct sl_cohort_grant *sl_policy_find_cohort(const struct sl_policy *p,
                                                    const char *cohort_path);
/* True if `user` is listed in the grant (or the grant lists "*"). */
bool sl_grant_allows(const struct sl_cohort_grant *g, const char *user);

#endif
