/*
 * config.c: the operator's policy file and the researcher's job file.
 *
 * Both are YAML, read with libfyaml (config_yaml.c). Every error names the
 * file, line and column and says what was expected; unknown keys are errors
 * so that a typo never silently leaves a default in force. A job's `rules:`
 * may only tighten the policy's rules.
 *
 * Policy file (keys in any order; relative paths resolve against the
 * directory of the policy file):
 *
 *   version: 1                          required; the only version
 *   key_file: centre.kek                KEK file (optional)
 *   audit_key_file: audit.key           key for the audit MAC (optional;
 *                                       default: key_file)
 *   allow_local: false                  runs outside Slurm (default false)
 *   enclave:                            required
 *     partitions: [enclave]             required, at least one
 *     nodes: [node01, node02]           optional; empty: any node of them
 *   emergency:                          optional
 *     partition: urgent                 required within emergency
 *     users: [oncall]                   required within emergency
 *   cohorts:                            required, at least one
 *     - path: cohort.h5
 *       users: [alice, bob]             "*" means anyone
 *   paths:                              optional, defaults shown
 *     released: released
 *     held: held
 *     audit_log: audit/audit.log
 *     audit_witness: /worm/audit.witness  optional, no default: see audit.h
 *     ledger: ledger
 *   review: {reviewers_required: 2}     optional, default 2
 *   submit:                             optional defaults for sluice submit
 *     partition: enclave                default: the first enclave partition
 *     time: "01:00:00"                  default 01:00:00 (Slurm time format)
 *   rules:                              optional
 *     profile: acro                     acro (default) or opensafely
 *     min_safe_count: 10                and every other field of
 *     nk_k: 0.9                         struct sl_rules (engine/rules.h) by
 *     ...                               its name; ratios as exact decimals
 *   privacy:                            optional; without it no output may
 *     rho: 1                            ask for noisy counts. The zCDP budget
 *                                       of each cohort and project (dp.h)
 *     delta: 1e-6                       reports spent rho as (epsilon, delta)
 *
 * Profile "acro" is sl_rules_default; "opensafely" is the same with
 * redact_at_most 7, round_base 5 and min_safe_count 8. Numbers given
 * explicitly override the profile.
 *
 * Job file (relative paths resolve against the job file's directory):
 *
 *   name: demo-counts                   optional; default: file base name
 *   cohort: cohort.h5                   required
 *   project: diabetes-2026              optional
 *   filter: 'age >= 40 and sex == "F"'  optional (grammar: filter.h)
 *   analyses:                           required, at least one
 *     - {type: count, name: by_sex, by: [sex]}   name default <type>_<i>
 *   backend: auto                       auto (default), cpu or gpu
 *   resources: {ranks: 2, threads: 4, gpus: 0, time: "00:30:00", memory: "4G"}
 *   rules: {min_safe_count: 20}         may only tighten the policy
 */
#define _XOPEN_SOURCE 700 /* realpath */

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/config.h"
#include "engine/config_impl.h"
#include "engine/core/alloc.h"
#include "engine/dp.h"
#include "engine/filter.h"

enum { SL_NAME_MAX = 100, SL_ANALYSIS_NAME_MAX = 64 };

/* ---- small helpers ---- */

static bool name_ok(const char *s, bool allow_dot, size_t maxlen)
{
    size_t n = strlen(s);
    if (n == 0 || n > maxlen || s[0] == '-' || s[0] == '.')
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || (allow_dot && c == '.');
        if (!ok)
            return false;
    }
    return true;
}

static bool node_list_ok(const char *s)
{
    if (s[0] == '\0' || s[0] == '-')
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.' || c == '[' || c == ']' || c == ',';
        if (!ok)
            return false;
    }
    return true;
}

static bool digits(const char **p, int maxdig)
{
    int n = 0;
    while (**p >= '0' && **p <= '9') {
        (*p)++;
        if (++n > maxdig)
            return false;
    }
    return n > 0;
}

/* Slurm time: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S. */
static bool slurm_time_ok(const char *s)
{
    const char *p = s;
    const char *dash = strchr(s, '-');
    if (dash != NULL) {
        if (!digits(&p, 5) || *p != '-')
            return false;
        p++;
    }
    int groups = 0;
    for (;;) {
        if (!digits(&p, 6))
            return false;
        groups++;
        if (*p == '\0')
            break;
        if (*p != ':' || groups == 3)
            return false;
        p++;
    }
    return groups >= 1 && groups <= 3;
}

/* Slurm memory: a positive integer with an optional K, M, G or T suffix. */
static bool memory_ok(const char *s)
{
    const char *p = s;
    bool nonzero = false;
    for (const char *q = s; *q >= '0' && *q <= '9'; q++)
        nonzero |= *q != '0';
    if (!digits(&p, 12) || !nonzero)
        return false;
    if (*p != '\0' && strchr("KMGTkmgt", *p) != NULL)
        p++;
    return *p == '\0';
}

static char *resolve(const char *dir, const char *p)
{
    if (p[0] == '/' || strcmp(dir, ".") == 0)
        return sl_strdup(p);
    size_t n = strlen(dir) + strlen(p) + 2;
    char *out = sl_malloc(n);
    if (out != NULL)
        snprintf(out, n, "%s/%s", dir, p);
    return out;
}

/* A path value resolved against the file's directory. */
static sl_status get_path(const struct sl_ymap *m, const char *key, bool required,
                          const char *dflt, char **out)
{
    sl_status st = SL_OK;
    const char *s = dflt;
    bool found = false;
    SL_CALL(sl_ymap_string(m, key, required, &s, &found));
    if (found && s[0] == '\0') {
        struct fy_node *keyn;
        struct fy_node *val = sl_ymap_get(m, key, &keyn);
        SL_YAML_FAIL(m->y, val, keyn, "%s%s is an empty string; expected a file path",
                     m->prefix, key);
    }
    if (s == NULL)
        goto cleanup;
    *out = resolve(m->y->dir, s);
    SL_CHECK(*out != NULL, SL_ERR_NOMEM, "out of memory");
cleanup:
    return st;
}

static void free_strv(char **v, int n)
{
    if (v == NULL)
        return;
    for (int i = 0; i < n; i++)
        sl_free(v[i]);
    sl_free(v);
}

/* A list of names (or one name) copied; each must pass `check`. */
static sl_status get_names(const struct sl_ymap *m, const char *key, bool required,
                           bool nonempty, bool (*check)(const char *), const char *what,
                           char ***out, int *count)
{
    sl_status st = SL_OK;
    const char **v = NULL;
    char **copy = NULL;
    int n = 0;
    bool found = false;
    struct fy_node *keyn;
    struct fy_node *val = sl_ymap_get(m, key, &keyn);
    SL_CALL(sl_ymap_strings(m, key, required, &v, &n, &found));
    if (!found)
        goto cleanup;
    if (nonempty && n == 0)
        SL_YAML_FAIL(m->y, val, keyn, "%s%s is an empty list; expected at least one %s",
                     m->prefix, key, what);
    if (n > 0) {
        copy = sl_calloc((size_t)n, sizeof *copy);
        SL_CHECK(copy != NULL, SL_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        if (!check(v[i])) {
            bool list = fy_node_get_type(val) == FYNT_SEQUENCE;
            struct fy_node *item = list ? fy_node_sequence_get_by_index(val, i) : val;
            SL_YAML_FAIL(m->y, item, keyn, "%s%s has '%.64s'; expected %s", m->prefix, key,
                         v[i], what);
        }
        copy[i] = sl_strdup(v[i]);
        SL_CHECK(copy[i] != NULL, SL_ERR_NOMEM, "out of memory");
    }
    *out = copy;
    *count = n;
    copy = NULL;
cleanup:
    free_strv(copy, n);
    sl_free(v);
    return st;
}

static bool check_partition(const char *s)
{
    return name_ok(s, true, SL_NAME_MAX);
}

static bool check_node(const char *s)
{
    return node_list_ok(s);
}

static bool check_user(const char *s)
{
    return strcmp(s, "*") == 0 || name_ok(s, true, SL_NAME_MAX);
}

static sl_status dup_string(const char *s, char **out)
{
    sl_status st = SL_OK;
    *out = sl_strdup(s);
    SL_CHECK(*out != NULL, SL_ERR_NOMEM, "out of memory");
cleanup:
    return st;
}

/* ---- rules ---- */

enum rule_kind { RK_I64, RK_INT, RK_BOOL, RK_RATIO };

struct rule_def {
    const char *key;
    enum rule_kind kind;
    size_t off;
    int64_t lo, hi;           /* integers */
    struct sl_ratio rlo, rhi; /* ratios */
    bool lo_open;
    int stricter;             /* +1: larger (or true) is stricter; -1: smaller (false) */
};

#define RULE_I64(k, l, h, s) {#k, RK_I64, offsetof(struct sl_rules, k), l, h, {0, 1}, {0, 1}, false, s}
#define RULE_INT(k, l, h, s) {#k, RK_INT, offsetof(struct sl_rules, k), l, h, {0, 1}, {0, 1}, false, s}
#define RULE_BOOL(k, s) {#k, RK_BOOL, offsetof(struct sl_rules, k), 0, 1, {0, 1}, {0, 1}, false, s}
#define RULE_RATIO(k, open, s) \
    {#k, RK_RATIO, offsetof(struct sl_rules, k), 0, 0, {0, 1}, {1, 1}, open, s}

static const struct rule_def rule_defs[] = {
    RULE_I64(min_safe_count, 1, 1000000000, +1),
    RULE_BOOL(zero_is_unsafe, +1),
    RULE_INT(nk_n, 1, 1000, +1),
    RULE_RATIO(nk_k, true, -1),
    RULE_RATIO(p_ratio, false, +1),
    RULE_I64(min_dof, 0, 1000000000, +1),
    RULE_BOOL(check_missing, +1),
    RULE_I64(round_base, 1, 1000000000, +1),
    RULE_I64(redact_at_most, 0, 1000000000, +1),
    RULE_RATIO(glm_max_param_frac, true, -1),
    RULE_BOOL(allow_minmax, -1),
    RULE_I64(minmax_min_count, 1, 1000000000, +1),
    RULE_BOOL(release_covariance, -1),
    RULE_BOOL(release_per_row, -1),
};
enum { SL_NRULES = sizeof rule_defs / sizeof rule_defs[0] };

static const char *const rule_keys[] = {
    "min_safe_count", "zero_is_unsafe", "nk_n", "nk_k", "p_ratio", "min_dof",
    "check_missing", "round_base", "redact_at_most", "glm_max_param_frac", "allow_minmax",
    "minmax_min_count", "release_covariance", "release_per_row", NULL};

/* Reads one rule into *r if present; *cmp receives sign(new - old). */
static sl_status read_rule(const struct sl_ymap *m, const struct rule_def *d, struct sl_rules *r,
                           bool *found, int *cmp, char *oldtxt, char *newtxt, size_t txtsize)
{
    sl_status st = SL_OK;
    char *base = (char *)r + d->off;
    *cmp = 0;
    switch (d->kind) {
    case RK_I64:
    case RK_INT: {
        int64_t old = d->kind == RK_I64 ? *(int64_t *)(void *)base : *(int *)(void *)base;
        int64_t v = old;
        SL_CALL(sl_ymap_int(m, d->key, false, d->lo, d->hi, &v, found));
        *cmp = (v > old) - (v < old);
        snprintf(oldtxt, txtsize, "%lld", (long long)old);
        snprintf(newtxt, txtsize, "%lld", (long long)v);
        if (d->kind == RK_I64)
            *(int64_t *)(void *)base = v;
        else
            *(int *)(void *)base = (int)v;
        break;
    }
    case RK_BOOL: {
        bool old = *(bool *)(void *)base;
        bool v = old;
        SL_CALL(sl_ymap_bool(m, d->key, false, &v, found));
        *cmp = (int)v - (int)old;
        snprintf(oldtxt, txtsize, "%s", old ? "true" : "false");
        snprintf(newtxt, txtsize, "%s", v ? "true" : "false");
        *(bool *)(void *)base = v;
        break;
    }
    case RK_RATIO: {
        struct sl_ratio old = *(struct sl_ratio *)(void *)base;
        struct sl_ratio v = old;
        SL_CALL(sl_ymap_ratio(m, d->key, false, d->rlo, d->lo_open, d->rhi, &v, found));
        *cmp = sl_ratio_cmp(v, old);
        sl_ratio_format(old, oldtxt, txtsize);
        sl_ratio_format(v, newtxt, txtsize);
        *(struct sl_ratio *)(void *)base = v;
        break;
    }
    }
cleanup:
    return st;
}

static void rules_profile(const char *profile, struct sl_rules *r)
{
    sl_rules_default(r);
    if (strcmp(profile, "opensafely") == 0) {
        r->redact_at_most = 7;
        r->round_base = 5;
        r->min_safe_count = 8;
    }
}

/* The policy's rules: a profile, then explicit numbers. */
static sl_status policy_rules(const struct sl_ymap *root, struct sl_policy *p)
{
    sl_status st = SL_OK;
    struct sl_ymap m;
    bool found = false;
    const char *profile = "acro";
    static const char *const extra[] = {"profile", NULL};
    SL_CALL(sl_ymap_map(root, "rules", false, &m, &found));
    if (found) {
        SL_CALL(sl_ymap_only(&m, rule_keys, extra));
        SL_CALL(sl_ymap_string(&m, "profile", false, &profile, NULL));
        if (strcmp(profile, "acro") != 0 && strcmp(profile, "opensafely") != 0) {
            struct fy_node *keyn;
            struct fy_node *val = sl_ymap_get(&m, "profile", &keyn);
            SL_YAML_FAIL(root->y, val, keyn, "rules.profile is '%.64s'; expected acro or "
                         "opensafely", profile);
        }
    }
    SL_CALL(dup_string(profile, &p->profile));
    rules_profile(profile, &p->rules);
    if (!found)
        goto cleanup;
    for (int i = 0; i < SL_NRULES; i++) {
        char a[48], b[48];
        int cmp;
        SL_CALL(read_rule(&m, &rule_defs[i], &p->rules, &found, &cmp, a, b, sizeof a));
    }
cleanup:
    return st;
}

/* The job's rules: the policy's, tightened. */
static sl_status job_rules(const struct sl_ymap *root, const struct sl_rules *base,
                           struct sl_rules *out)
{
    sl_status st = SL_OK;
    struct sl_ymap m;
    bool found = false;
    *out = *base;
    SL_CALL(sl_ymap_map(root, "rules", false, &m, &found));
    if (!found)
        goto cleanup;
    struct fy_node *keyn;
    struct fy_node *val = sl_ymap_get(&m, "profile", &keyn);
    if (keyn != NULL)
        SL_YAML_FAIL(root->y, keyn, NULL,
                     "rules.profile is set by the policy; expected only individual rules such "
                     "as min_safe_count, which a job may tighten");
    SL_CALL(sl_ymap_only(&m, rule_keys, NULL));
    for (int i = 0; i < SL_NRULES; i++) {
        const struct rule_def *d = &rule_defs[i];
        char was[48], now[48];
        int cmp;
        SL_CALL(read_rule(&m, d, out, &found, &cmp, was, now, sizeof was));
        if (found && cmp * d->stricter < 0) {
            val = sl_ymap_get(&m, d->key, &keyn);
            SL_YAML_FAIL(root->y, val, keyn,
                         "rules.%s %s would loosen the policy's %s; a job may only tighten "
                         "rules",
                         d->key, now, was);
        }
    }
cleanup:
    return st;
}

/* ---- policy ---- */

static sl_status policy_enclave(const struct sl_ymap *root, struct sl_policy *p)
{
    sl_status st = SL_OK;
    struct sl_ymap m;
    static const char *const keys[] = {"partitions", "nodes", NULL};
    SL_CALL(sl_ymap_map(root, "enclave", true, &m, NULL));
    SL_CALL(sl_ymap_only(&m, keys, NULL));
    SL_CALL(get_names(&m, "partitions", true, true, check_partition,
                      "a Slurm partition name (letters, digits, '_', '-', '.')",
                      &p->enclave_partitions, &p->nenclave_partitions));
    SL_CALL(get_names(&m, "nodes", false, false, check_node,
                      "a node name or Slurm host list such as node[01-04]", &p->enclave_nodes,
                      &p->nenclave_nodes));
cleanup:
    return st;
}

static sl_status policy_emergency(const struct sl_ymap *root, struct sl_policy *p)
{
    sl_status st = SL_OK;
    struct sl_ymap m;
    bool found = false;
    const char *part = NULL;
    static const char *const keys[] = {"partition", "users", NULL};
    SL_CALL(sl_ymap_map(root, "emergency", false, &m, &found));
    if (!found)
        goto cleanup;
    SL_CALL(sl_ymap_only(&m, keys, NULL));
    SL_CALL(sl_ymap_string(&m, "partition", true, &part, NULL));
    if (!check_partition(part)) {
        struct fy_node *keyn;
        struct fy_node *val = sl_ymap_get(&m, "partition", &keyn);
        SL_YAML_FAIL(m.y, val, keyn, "emergency.partition is '%.64s'; expected a Slurm "
                     "partition name (letters, digits, '_', '-', '.')", part);
    }
    SL_CALL(dup_string(part, &p->emergency_partition));
    SL_CALL(get_names(&m, "users", true, true, check_user, "a user name",
                      &p->emergency_users, &p->nemergency_users));
cleanup:
    return st;
}

static sl_status policy_cohorts(const struct sl_ymap *root, struct sl_policy *p)
{
    sl_status st = SL_OK;
    struct fy_node *list = NULL;
    static const char *const keys[] = {"path", "users", NULL};
    static const char expect[] = "a list of cohorts, each a mapping {path: ..., users: [...]}";
    SL_CALL(sl_ymap_list(root, "cohorts", true, expect, &list, NULL));
    int n = fy_node_sequence_item_count(list);
    if (n == 0) {
        struct fy_node *keyn;
        sl_ymap_get(root, "cohorts", &keyn);
        SL_YAML_FAIL(root->y, list, keyn, "cohorts is an empty list; expected %s", expect);
    }
    p->cohorts = sl_calloc((size_t)n, sizeof *p->cohorts);
    SL_CHECK(p->cohorts != NULL, SL_ERR_NOMEM, "out of memory");
    void *iter = NULL;
    struct fy_node *item;
    for (int i = 0; (item = fy_node_sequence_iterate(list, &iter)) != NULL; i++) {
        struct sl_cohort_grant *g = &p->cohorts[i];
        p->ncohorts = i + 1;
        if (fy_node_is_alias(item) || fy_node_get_type(item) != FYNT_MAPPING) {
            char desc[96];
            sl_yaml_describe(item, desc, sizeof desc);
            SL_YAML_FAIL(root->y, item, list, "cohorts item %d is %s; expected a mapping "
                         "{path: ..., users: [...]}", i + 1, desc);
        }
        struct sl_ymap m;
        char name[64], prefix[64];
        snprintf(name, sizeof name, "cohorts item %d", i + 1);
        snprintf(prefix, sizeof prefix, "cohorts item %d: ", i + 1);
        sl_ymap_init(&m, root->y, item, list, name, prefix);
        SL_CALL(sl_ymap_only(&m, keys, NULL));
        SL_CALL(get_path(&m, "path", true, NULL, &g->path));
        SL_CALL(get_names(&m, "users", true, true, check_user,
                          "a user name, or \"*\" for anyone", &g->users, &g->nusers));
    }
cleanup:
    return st;
}

static sl_status policy_paths(const struct sl_ymap *root, struct sl_policy *p)
{
    sl_status st = SL_OK;
    struct sl_ymap m;
    bool found = false;
    static const char *const keys[] = {"released", "held", "audit_log", "audit_witness",
                                       "ledger", NULL};
    SL_CALL(sl_ymap_map(root, "paths", false, &m, &found));
    if (found) {
        SL_CALL(sl_ymap_only(&m, keys, NULL));
        SL_CALL(get_path(&m, "released", false, "released", &p->released_dir));
        SL_CALL(get_path(&m, "held", false, "held", &p->held_dir));
        SL_CALL(get_path(&m, "audit_log", false, "audit/audit.log", &p->audit_log));
        SL_CALL(get_path(&m, "audit_witness", false, NULL, &p->audit_witness));
        SL_CALL(get_path(&m, "ledger", false, "ledger", &p->ledger_dir));
    } else {
        p->released_dir = resolve(root->y->dir, "released");
        p->held_dir = resolve(root->y->dir, "held");
        p->audit_log = resolve(root->y->dir, "audit/audit.log");
        p->ledger_dir = resolve(root->y->dir, "ledger");
        SL_CHECK(p->released_dir && p->held_dir && p->audit_log && p->ledger_dir, SL_ERR_NOMEM,
                 "out of memory");
    }
cleanup:
    return st;
}

static sl_status policy_review_submit(const struct sl_ymap *root, struct sl_policy *p)
{
    sl_status st = SL_OK;
    struct sl_ymap m;
    bool found = false;
    static const char *const review_keys[] = {"reviewers_required", NULL};
    static const char *const submit_keys[] = {"partition", "time", NULL};
    int64_t reviewers = 2;
    const char *part = p->enclave_partitions[0];
    const char *time = "01:00:00";
    SL_CALL(sl_ymap_map(root, "review", false, &m, &found));
    if (found) {
        SL_CALL(sl_ymap_only(&m, review_keys, NULL));
        SL_CALL(sl_ymap_int(&m, "reviewers_required", false, 1, 100, &reviewers, NULL));
    }
    p->reviewers_required = (int)reviewers;
    SL_CALL(sl_ymap_map(root, "submit", false, &m, &found));
    if (found) {
        struct fy_node *keyn;
        struct fy_node *val;
        bool has = false;
        SL_CALL(sl_ymap_only(&m, submit_keys, NULL));
        SL_CALL(sl_ymap_string(&m, "partition", false, &part, &has));
        bool known = false;
        for (int i = 0; i < p->nenclave_partitions; i++)
            known |= strcmp(part, p->enclave_partitions[i]) == 0;
        if (has && !known) {
            char list[256] = "";
            for (int i = 0; i < p->nenclave_partitions; i++)
                sl_strbuf_append(list, sizeof list, "%s%s", i ? ", " : "",
                                 p->enclave_partitions[i]);
            val = sl_ymap_get(&m, "partition", &keyn);
            SL_YAML_FAIL(m.y, val, keyn, "submit.partition '%.64s' is not an enclave "
                         "partition; expected one of: %s", part, list);
        }
        SL_CALL(sl_ymap_string(&m, "time", false, &time, &has));
        if (has && !slurm_time_ok(time)) {
            val = sl_ymap_get(&m, "time", &keyn);
            SL_YAML_FAIL(m.y, val, keyn, "submit.time is '%.64s'; expected a Slurm time "
                         "such as \"01:00:00\", \"90\" (minutes) or \"1-12:00:00\"", time);
        }
    }
    SL_CALL(dup_string(part, &p->default_partition));
    SL_CALL(dup_string(time, &p->default_time));
cleanup:
    return st;
}

/* privacy: {rho: 1, delta: 1e-6}: the zCDP budget of each cohort and
 * project (dp.h), in units of 1/SL_DP_UNITS, 0 when absent (noisy outputs
 * refused); delta (default 1e-6) only for reporting what was spent as an
 * (epsilon, delta) guarantee. */
static sl_status policy_privacy(const struct sl_ymap *root, struct sl_policy *p)
{
    sl_status st = SL_OK;
    struct sl_ymap m;
    bool found = false;
    static const char *const keys[] = {"rho", "delta", NULL};
    const struct sl_ratio zero = {0, 1}, most = {1000, 1};
    struct sl_ratio rho;
    bool has = false;

    p->privacy_budget = 0;
    p->privacy_delta = 1e-6;
    SL_CALL(sl_ymap_map(root, "privacy", false, &m, &found));
    if (!found)
        goto cleanup;
    SL_CALL(sl_ymap_only(&m, keys, NULL));
    SL_CALL(sl_ymap_ratio(&m, "rho", true, zero, true, most, &rho, NULL));
    SL_CALL(sl_ymap_double(&m, "delta", false, &p->privacy_delta, &has));
    if (has && !(p->privacy_delta > 0 && p->privacy_delta <= 0.01)) {
        struct fy_node *keyn;
        struct fy_node *val = sl_ymap_get(&m, "delta", &keyn);
        SL_YAML_FAIL(m.y, val, keyn, "privacy.delta is %g; expected a probability in (0, 0.01], "
                     "such as 1e-6", p->privacy_delta);
    }
    /* a denominator of sl_ratio_parse is a power of ten <= 10^9 */
    p->privacy_budget = rho.num * (SL_DP_UNITS / rho.den);
cleanup:
    return st;
}

sl_status sl_policy_load(const char *path, struct sl_policy **out)
{
    sl_status st = SL_OK;
    struct sl_yaml *y = NULL;
    struct sl_policy *p = NULL;
    struct sl_ymap root;
    static const char *const keys[] = {"version", "key_file", "audit_key_file", "allow_local",
                                       "enclave", "emergency", "cohorts", "paths", "review",
                                       "submit", "rules", "privacy", NULL};
    SL_CHECK(path != NULL && out != NULL, SL_ERR_ARG, "sl_policy_load: NULL argument");
    *out = NULL;
    SL_CALL(sl_yaml_load(path, "policy", &y));
    p = sl_calloc(1, sizeof *p);
    SL_CHECK(p != NULL, SL_ERR_NOMEM, "out of memory");
    SL_CALL(dup_string(path, &p->path));
    memcpy(p->sha256, y->sha256, sizeof p->sha256);
    sl_ymap_init(&root, y, sl_yaml_root(y), NULL, "the policy", "");
    SL_CALL(sl_ymap_only(&root, keys, NULL));

    int64_t version = 0;
    SL_CALL(sl_ymap_int(&root, "version", true, INT64_MIN, INT64_MAX, &version, NULL));
    if (version != 1) {
        struct fy_node *keyn;
        struct fy_node *val = sl_ymap_get(&root, "version", &keyn);
        SL_YAML_FAIL(y, val, keyn, "policy version %lld is not supported; expected version: 1",
                     (long long)version);
    }
    SL_CALL(get_path(&root, "key_file", false, NULL, &p->key_file));
    SL_CALL(get_path(&root, "audit_key_file", false, NULL, &p->audit_key_file));
    if (p->audit_key_file == NULL && p->key_file != NULL)
        SL_CALL(dup_string(p->key_file, &p->audit_key_file));
    p->allow_local = false;
    SL_CALL(sl_ymap_bool(&root, "allow_local", false, &p->allow_local, NULL));
    SL_CALL(policy_enclave(&root, p));
    SL_CALL(policy_emergency(&root, p));
    SL_CALL(policy_cohorts(&root, p));
    SL_CALL(policy_paths(&root, p));
    SL_CALL(policy_review_submit(&root, p));
    SL_CALL(policy_rules(&root, p));
    SL_CALL(policy_privacy(&root, p));
    *out = p;
    p = NULL;
cleanup:
    sl_policy_destroy(&p);
    sl_yaml_destroy(&y);
    return st;
}

void sl_policy_destroy(struct sl_policy **pp)
{
    if (pp == NULL || *pp == NULL)
        return;
    struct sl_policy *p = *pp;
    sl_free(p->path);
    sl_free(p->key_file);
    sl_free(p->audit_key_file);
    free_strv(p->enclave_partitions, p->nenclave_partitions);
    free_strv(p->enclave_nodes, p->nenclave_nodes);
    sl_free(p->emergency_partition);
    free_strv(p->emergency_users, p->nemergency_users);
    for (int i = 0; i < p->ncohorts; i++) {
        sl_free(p->cohorts[i].path);
        free_strv(p->cohorts[i].users, p->cohorts[i].nusers);
    }
    sl_free(p->cohorts);
    sl_free(p->released_dir);
    sl_free(p->held_dir);
    sl_free(p->audit_log);
    sl_free(p->audit_witness);
    sl_free(p->ledger_dir);
    sl_free(p->profile);
    sl_free(p->default_partition);
    sl_free(p->default_time);
    sl_free(p);
    *pp = NULL;
}

const struct sl_cohort_grant *sl_policy_find_cohort(const struct sl_policy *p,
                                                    const char *cohort_path)
{
    char want[PATH_MAX], have[PATH_MAX];
    if (p == NULL || cohort_path == NULL || realpath(cohort_path, want) == NULL)
        return NULL;
    for (int i = 0; i < p->ncohorts; i++)
        if (realpath(p->cohorts[i].path, have) != NULL && strcmp(want, have) == 0)
            return &p->cohorts[i];
    return NULL;
}

bool sl_grant_allows(const struct sl_cohort_grant *g, const char *user)
{
    if (g == NULL || user == NULL || user[0] == '\0')
        return false;
    for (int i = 0; i < g->nusers; i++)
        if (strcmp(g->users[i], "*") == 0 || strcmp(g->users[i], user) == 0)
            return true;
    return false;
}

/* ---- job ---- */

/* The public job and what must outlive the load: the YAML document that
 * every analysis's parameters point into. */
struct job_impl {
    struct sl_job pub;        /* first: &impl->pub == (struct sl_job *)impl */
    struct sl_yaml *yaml;
    struct sl_params *params; /* [pub.nanalyses] */
};

static sl_status job_name(const struct sl_ymap *root, const char *path, char **out)
{
    sl_status st = SL_OK;
    const char *given = NULL;
    bool found = false;
    SL_CALL(sl_ymap_string(root, "name", false, &given, &found));
    if (found) {
        if (!name_ok(given, true, SL_NAME_MAX)) {
            struct fy_node *keyn;
            struct fy_node *val = sl_ymap_get(root, "name", &keyn);
            SL_YAML_FAIL(root->y, val, keyn, "name is '%.64s'; expected letters, digits, '_', "
                         "'-' and '.' (not first), at most %d characters", given, SL_NAME_MAX);
        }
        SL_CALL(dup_string(given, out));
        goto cleanup;
    }
    const char *base = strrchr(path, '/');
    base = base != NULL ? base + 1 : path;
    SL_CALL(dup_string(base, out));
    char *dot = strrchr(*out, '.');
    if (dot != NULL && dot != *out)
        *dot = '\0';
    if (!name_ok(*out, true, SL_NAME_MAX)) {
        sl_free(*out);
        *out = NULL;
        SL_FAIL(SL_ERR_FORMAT, "%s: the job name taken from the file name is not usable; "
                "expected a `name:` with letters, digits, '_', '-' and '.'", path);
    }
cleanup:
    return st;
}

static sl_status job_analyses(const struct sl_ymap *root, struct job_impl *j)
{
    sl_status st = SL_OK;
    struct fy_node *list = NULL;
    static const char expect[] =
        "a list of analyses, each a mapping with at least `type`, e.g. {type: count, by: [sex]}";
    SL_CALL(sl_ymap_list(root, "analyses", true, expect, &list, NULL));
    int n = fy_node_sequence_item_count(list);
    if (n == 0) {
        struct fy_node *keyn;
        sl_ymap_get(root, "analyses", &keyn);
        SL_YAML_FAIL(root->y, list, keyn, "analyses is an empty list; expected %s", expect);
    }
    j->pub.analyses = sl_calloc((size_t)n, sizeof *j->pub.analyses);
    j->params = sl_calloc((size_t)n, sizeof *j->params);
    SL_CHECK(j->pub.analyses != NULL && j->params != NULL, SL_ERR_NOMEM, "out of memory");
    void *iter = NULL;
    struct fy_node *item;
    for (int i = 0; (item = fy_node_sequence_iterate(list, &iter)) != NULL; i++) {
        struct sl_analysis *a = &j->pub.analyses[i];
        struct sl_params *pp = &j->params[i];
        j->pub.nanalyses = i + 1;
        if (fy_node_is_alias(item) || fy_node_get_type(item) != FYNT_MAPPING) {
            char desc[96];
            sl_yaml_describe(item, desc, sizeof desc);
            SL_YAML_FAIL(root->y, item, list, "analyses item %d is %s; expected a mapping "
                         "with at least `type`, e.g. {type: count, by: [sex]}", i + 1, desc);
        }
        struct sl_ymap m;
        char ctx[64];
        snprintf(ctx, sizeof ctx, "analyses item %d", i + 1);
        sl_ymap_init(&m, root->y, item, list, ctx, "");
        const char *type = NULL, *name = NULL;
        bool named = false;
        SL_CALL(sl_ymap_string(&m, "type", true, &type, NULL));
        struct fy_node *keyn;
        struct fy_node *val = sl_ymap_get(&m, "type", &keyn);
        if (!name_ok(type, false, SL_ANALYSIS_NAME_MAX))
            SL_YAML_FAIL(m.y, val, keyn, "type is '%.64s'; expected an analysis type such as "
                         "count or describe", type);
        SL_CALL(sl_ymap_string(&m, "name", false, &name, &named));
        char dflt[SL_ANALYSIS_NAME_MAX + 16];
        if (named) {
            val = sl_ymap_get(&m, "name", &keyn);
            if (!name_ok(name, false, SL_ANALYSIS_NAME_MAX))
                SL_YAML_FAIL(m.y, val, keyn, "name is '%.64s'; expected letters, digits, '_' "
                             "and '-', at most %d characters", name, SL_ANALYSIS_NAME_MAX);
        } else {
            snprintf(dflt, sizeof dflt, "%s_%d", type, i + 1);
            name = dflt;
        }
        for (int k = 0; k < i; k++)
            if (strcmp(j->pub.analyses[k].name, name) == 0) {
                int line, col;
                sl_yaml_mark(j->params[k].map.node, NULL, &line, &col);
                SL_YAML_FAIL(m.y, named ? val : item, item, "analysis name '%s' is already used "
                             "by the analysis at line %d; expected unique names (set `name:`)",
                             name, line);
            }
        SL_CALL(dup_string(type, &a->type));
        SL_CALL(dup_string(name, &a->name));
        char pctx[SL_ANALYSIS_NAME_MAX + 16];
        snprintf(pctx, sizeof pctx, "analysis '%s'", name);
        char pprefix[SL_ANALYSIS_NAME_MAX + 16];
        snprintf(pprefix, sizeof pprefix, "analysis '%s': ", name);
        sl_ymap_init(&pp->map, root->y, item, list, pctx, pprefix);
        pp->where = sl_malloc(512);
        SL_CHECK(pp->where != NULL, SL_ERR_NOMEM, "out of memory");
        pp->where[0] = '\0';
        a->params = pp;
    }
cleanup:
    return st;
}

static sl_status job_resources(const struct sl_ymap *root, struct sl_job *j)
{
    sl_status st = SL_OK;
    struct sl_ymap m;
    bool found = false, has = false;
    static const char *const keys[] = {"ranks", "threads", "gpus", "time", "memory", NULL};
    int64_t ranks = 1, threads = 1, gpus = 0;
    const char *s = NULL;
    struct fy_node *keyn, *val;
    j->ranks = 1;
    j->threads = 1;
    j->gpus = 0;
    SL_CALL(sl_ymap_map(root, "resources", false, &m, &found));
    if (!found)
        goto cleanup;
    SL_CALL(sl_ymap_only(&m, keys, NULL));
    SL_CALL(sl_ymap_int(&m, "ranks", false, 1, 100000, &ranks, NULL));
    SL_CALL(sl_ymap_int(&m, "threads", false, 1, 1024, &threads, NULL));
    SL_CALL(sl_ymap_int(&m, "gpus", false, 0, 1024, &gpus, NULL));
    j->ranks = (int)ranks;
    j->threads = (int)threads;
    j->gpus = (int)gpus;
    SL_CALL(sl_ymap_string(&m, "time", false, &s, &has));
    if (has) {
        if (!slurm_time_ok(s)) {
            val = sl_ymap_get(&m, "time", &keyn);
            SL_YAML_FAIL(m.y, val, keyn, "resources.time is '%.64s'; expected a Slurm time "
                         "such as \"00:30:00\", \"90\" (minutes) or \"1-12:00:00\"", s);
        }
        SL_CALL(dup_string(s, &j->time_limit));
    }
    SL_CALL(sl_ymap_string(&m, "memory", false, &s, &has));
    if (has) {
        if (!memory_ok(s)) {
            val = sl_ymap_get(&m, "memory", &keyn);
            SL_YAML_FAIL(m.y, val, keyn, "resources.memory is '%.64s'; expected a size such "
                         "as \"4G\" or \"512M\"", s);
        }
        SL_CALL(dup_string(s, &j->memory));
    }
cleanup:
    return st;
}

static sl_status job_filter(const struct sl_ymap *root, struct sl_job *j)
{
    sl_status st = SL_OK;
    const char *text = NULL;
    bool found = false;
    struct sl_filter *f = NULL;
    SL_CALL(sl_ymap_string(root, "filter", false, &text, &found));
    if (!found)
        goto cleanup;
    struct fy_node *keyn;
    struct fy_node *val = sl_ymap_get(root, "filter", &keyn);
    char where[512];
    sl_yaml_where(root->y, val, keyn, where, sizeof where);
    SL_CALL(dup_string(text, &j->filter));
    SL_CALL(dup_string(where, &j->filter_where));
    SL_CALL(sl_filter_parse(text, where, &f));
cleanup:
    sl_filter_destroy(&f);
    return st;
}

sl_status sl_job_load(const char *path, const struct sl_policy *policy, struct sl_job **out)
{
    sl_status st = SL_OK;
    struct job_impl *j = NULL;
    struct sl_ymap root;
    struct sl_rules base;
    static const char *const keys[] = {"name", "cohort", "project", "filter", "analyses",
                                       "backend", "resources", "rules", NULL};
    SL_CHECK(path != NULL && out != NULL, SL_ERR_ARG, "sl_job_load: NULL argument");
    *out = NULL;
    j = sl_calloc(1, sizeof *j);
    SL_CHECK(j != NULL, SL_ERR_NOMEM, "out of memory");
    SL_CALL(sl_yaml_load(path, "job", &j->yaml));
    struct sl_job *pub = &j->pub;
    SL_CALL(dup_string(path, &pub->path));
    memcpy(pub->sha256, j->yaml->sha256, sizeof pub->sha256);
    sl_ymap_init(&root, j->yaml, sl_yaml_root(j->yaml), NULL, "the job", "");
    SL_CALL(sl_ymap_only(&root, keys, NULL));

    SL_CALL(job_name(&root, path, &pub->name));
    SL_CALL(get_path(&root, "cohort", true, NULL, &pub->cohort));
    const char *project = NULL;
    bool has = false;
    SL_CALL(sl_ymap_string(&root, "project", false, &project, &has));
    if (has) {
        if (!name_ok(project, true, SL_NAME_MAX)) {
            struct fy_node *keyn;
            struct fy_node *val = sl_ymap_get(&root, "project", &keyn);
            SL_YAML_FAIL(j->yaml, val, keyn, "project is '%.64s'; expected letters, digits, "
                         "'_', '-' and '.' (not first)", project);
        }
        SL_CALL(dup_string(project, &pub->project));
    }
    SL_CALL(job_filter(&root, pub));
    SL_CALL(job_analyses(&root, j));
    const char *backend = "auto";
    SL_CALL(sl_ymap_string(&root, "backend", false, &backend, &has));
    if (strcmp(backend, "auto") != 0 && strcmp(backend, "cpu") != 0 &&
        strcmp(backend, "gpu") != 0) {
        struct fy_node *keyn;
        struct fy_node *val = sl_ymap_get(&root, "backend", &keyn);
        SL_YAML_FAIL(j->yaml, val, keyn, "backend is '%.64s'; expected auto, cpu or gpu",
                     backend);
    }
    SL_CALL(dup_string(backend, &pub->backend));
    SL_CALL(job_resources(&root, pub));
    if (policy != NULL)
        base = policy->rules;
    else
        sl_rules_default(&base);
    SL_CALL(job_rules(&root, &base, &pub->rules));
    *out = pub;
    j = NULL;
cleanup:
    if (j != NULL) {
        struct sl_job *tmp = &j->pub;
        sl_job_destroy(&tmp);
    }
    return st;
}

void sl_job_destroy(struct sl_job **jp)
{
    if (jp == NULL || *jp == NULL)
        return;
    struct job_impl *j = (struct job_impl *)(void *)*jp;
    struct sl_job *p = &j->pub;
    for (int i = 0; i < p->nanalyses; i++) {
        sl_free(p->analyses[i].name);
        sl_free(p->analyses[i].type);
        if (j->params != NULL)
            sl_free(j->params[i].where);
    }
    sl_free(p->analyses);
    sl_free(j->params);
    sl_free(p->path);
    sl_free(p->name);
    sl_free(p->cohort);
    sl_free(p->filter);
    sl_free(p->filter_where);
    sl_free(p->backend);
    sl_free(p->time_limit);
    sl_free(p->memory);
    sl_free(p->project);
    sl_yaml_destroy(&j->yaml);
    sl_free(j);
    *jp = NULL;
}
