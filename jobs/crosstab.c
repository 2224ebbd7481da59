/*
 * crosstab.c: the `crosstab` analysis: distinct patients per combination of
 * one to three columns (categorical, or numeric cut into bands), with
 * margins, and optionally a numeric column summarised per cell.
 *
 *   - type: crosstab
 *     name: ct                        (optional)
 *     rows: region                    (required)
 *     cols: sex                       (optional)
 *     layers: smoker                  (optional; needs cols)
 *     bands: {age: [40, 65]}          (optional: cut points per numeric
 *                                      dimension, jobs/grouping.h)
 *     margins: true                   (optional, default true: every
 *                                      dimension ends with a "Total" level)
 *     value: cost                     (optional numeric column)
 *     stats: [sum, mean, sd, median]  (optional with value; default all four)
 *     mitigation: suppress            (optional: suppress or round; engine)
 *     privacy: dp                     (optional: noisy counts, and with value
 *     rho: 0.005  (or epsilon: 0.5)    a noisy sum and mean, engine/dp.h; every
 *                                      missing level shown)
 *
 * One output table with dimensions rows, cols, layers. A cell's n counts its
 * patients (margins included: a Total level covers every level of its
 * dimension, "(missing)" too). With `value`, each requested statistic of the
 * cell's present values is a column resting on the patients with a value,
 * and the sum (or else the mean) carries dominance evidence: every patient's
 * value is that patient's contribution (one row per patient).
 *
 * Margin cells are folded from the same per-chunk partials as inner cells,
 * so no second pass is made, and results are the same on any number of
 * ranks. Rules: the count rules on n, and the statistic rules on the values.
 */
#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "jobs/cellstats.h"
#include "jobs/dominance.h"
#include "jobs/dpvalues.h"
#include "jobs/grouping.h"
#include "jobs/jobs.h"

enum ct_stat { CT_SUM = 0, CT_MEAN, CT_SD, CT_MEDIAN, CT_NSTATS };

static const char *const g_stat_names[CT_NSTATS] = {"sum", "mean", "sd", "median"};
static const enum sl_stat_kind g_stat_kinds[CT_NSTATS] = {SL_STAT_SUM, SL_STAT_MEAN, SL_STAT_SD,
                                                          SL_STAT_QUANTILE};

struct crosstab_state {
    char *name;
    json_t *spec; /* the analysis as written */
    struct sl_grouping g;
    bool margins;
    bool dp;      /* privacy: dp: the layout shows every level */
    bool has_value;
    struct sl_measure value;
    int nstats;
    enum ct_stat stats[CT_NSTATS]; /* in the order asked for */
};

static void crosstab_destroy(void *state)
{
    struct crosstab_state *s = state;
    if (!s)
        return;
    sl_free(s->name);
    json_decref(s->spec);
    sl_free(s);
}

static int wants(const struct crosstab_state *s, enum ct_stat k)
{
    for (int i = 0; i < s->nstats; i++)
        if (s->stats[i] == k)
            return 1;
    return 0;
}

static sl_status parse_stats(struct crosstab_state *s, const struct sl_analysis *a)
{
    sl_status st = SL_OK;
    const char **names = NULL;
    int n = 0;

    SL_CHECK(s->has_value || !sl_params_has(a->params, "stats"), SL_ERR_FORMAT,
             "%s: 'stats' summarises the 'value' column, which analysis '%s' does not name",
             sl_params_where(a->params, "stats"), a->name);
    if (!s->has_value)
        goto cleanup;
    if (!sl_params_has(a->params, "stats")) {
        /* all four; sum and mean for noisy values (privacy: dp) */
        for (int k = 0; k < (sl_params_has(a->params, "privacy") ? CT_SD : CT_NSTATS); k++)
            s->stats[s->nstats++] = (enum ct_stat)k;
        goto cleanup;
    }
    SL_CALL(sl_params_strings(a->params, "stats", true, &names, &n));
    SL_CHECK(n > 0, SL_ERR_FORMAT, "%s: 'stats' lists no statistic; expected some of sum, mean, "
             "sd, median", sl_params_where(a->params, "stats"));
    for (int i = 0; i < n; i++) {
        int k = 0;
        while (k < CT_NSTATS && strcmp(names[i], g_stat_names[k]) != 0)
            k++;
        SL_CHECK(k < CT_NSTATS, SL_ERR_FORMAT,
                 "%s: unknown statistic '%s'; expected some of sum, mean, sd, median",
                 sl_params_where(a->params, "stats"), names[i]);
        SL_CHECK(!wants(s, (enum ct_stat)k), SL_ERR_FORMAT, "%s: statistic '%s' is listed twice",
                 sl_params_where(a->params, "stats"), names[i]);
        s->stats[s->nstats++] = (enum ct_stat)k;
    }
cleanup:
    sl_free(names);
    return st;
}

static sl_status crosstab_prepare(const struct sl_analysis *a, const struct sl_cohort *c,
                                  const struct sl_rules *rules, void **state, int **cols,
                                  int *ncols)
{
    static const char *const known[] = {"rows",    "cols",  "layers", "bands",      "margins",
                                        "value",   "stats", "privacy", "mitigation", "rho",
                                        "epsilon", NULL};
    sl_status st = SL_OK;
    struct crosstab_state *s = NULL;
    const char *value = NULL;
    int *out = NULL;

    (void)rules;
    *state = NULL;
    *cols = NULL;
    *ncols = 0;
    SL_CALL(sl_params_only(a->params, known));
    s = sl_calloc(1, sizeof *s);
    SL_CHECK(s, SL_ERR_NOMEM, "out of memory");
    s->name = sl_strdup(a->name);
    s->spec = sl_params_to_json(a->params);
    SL_CHECK(s->name && s->spec, SL_ERR_NOMEM, "out of memory");
    s->g.ncells = 1;
    SL_CALL(sl_grouping_append(&s->g, a, "rows", true, c));
    SL_CALL(sl_grouping_append(&s->g, a, "cols", false, c));
    SL_CHECK(s->g.ndims == 2 || !sl_params_has(a->params, "layers"), SL_ERR_FORMAT,
             "%s: 'layers' needs 'cols' in analysis '%s'", sl_params_where(a->params, "layers"),
             a->name);
    SL_CALL(sl_grouping_append(&s->g, a, "layers", false, c));
    SL_CALL(sl_grouping_check_bands(&s->g, a));
    s->margins = true;
    SL_CALL(sl_params_bool(a->params, "margins", false, &s->margins));
    SL_CALL(sl_params_string(a->params, "value", false, &value));
    if (value) {
        SL_CALL(sl_measure_init(&s->value, c, value, sl_params_where(a->params, "value")));
        for (int d = 0; d < s->g.ndims; d++)
            SL_CHECK(s->g.cols[d] != s->value.col, SL_ERR_FORMAT,
                     "%s: column '%s' is both a dimension and the value",
                     sl_params_where(a->params, "value"), value);
        s->has_value = true;
    }
    s->dp = sl_params_has(a->params, "privacy");
    SL_CALL(parse_stats(s, a));
    if (s->dp && s->has_value) {
        SL_CHECK(!wants(s, CT_SD) && !wants(s, CT_MEDIAN), SL_ERR_FORMAT,
                 "%s: under privacy: dp a value column is summarised by its sum and mean "
                 "only; expected 'stats' of sum and mean",
                 sl_params_where(a->params, "stats"));
        SL_CHECK(isfinite(s->value.lower) && isfinite(s->value.upper) &&
                     s->value.lower < s->value.upper,
                 SL_ERR_FORMAT,
                 "%s: noisy sums and means clamp column '%s' to its public bounds (lower, "
                 "upper) in the cohort's schema, which it does not have",
                 sl_params_where(a->params, "value"), value);
    }
    out = sl_malloc((size_t)(s->g.ndims + 1) * sizeof *out);
    SL_CHECK(out, SL_ERR_NOMEM, "out of memory");
    memcpy(out, s->g.cols, (size_t)s->g.ndims * sizeof *out);
    if (s->has_value)
        out[s->g.ndims] = s->value.col;
    *cols = out;
    *ncols = s->g.ndims + (s->has_value ? 1 : 0);
    *state = s;
    out = NULL;
    s = NULL;
cleanup:
    sl_free(out);
    crosstab_destroy(s);
    return st;
}

/* Per published cell results of the value column. */
struct value_result {
    struct sl_moments *mom;   /* [ncells] */
    double *median;           /* [ncells] or NULL */
    struct sl_dominance *dom; /* [ncells] */
};

/* Median of the value column per published cell. */
static sl_status value_median(const struct crosstab_state *s, struct sl_exec *ex,
                              const struct sl_reducer *red, const struct sl_layout *lay,
                              struct value_result *res)
{
    sl_status st = SL_OK;
    struct sl_cell_values *vals = NULL;
    int64_t *npresent = NULL;
    const double half = 0.5;

    npresent = sl_malloc((size_t)lay->ncells * sizeof *npresent);
    SL_CHECK(npresent, SL_ERR_NOMEM, "out of memory");
    for (int64_t p = 0; p < lay->ncells; p++)
        npresent[p] = res->mom[p].n_present;
    SL_CALL(sl_cell_values_create(sl_exec_frame(ex), &s->g, sl_exec_mask(ex), &s->value, &vals));
    SL_CALL(sl_quantiles_exact(red, vals, lay, npresent, 1, &half, NULL, res->median));
cleanup:
    sl_cell_values_destroy(&vals);
    sl_free(npresent);
    return st;
}

static sl_status crosstab_table(const struct crosstab_state *s, const struct sl_cohort *c,
                                const struct sl_layout *lay, const int64_t *n,
                                const struct value_result *res, struct sl_table **out)
{
    sl_status st = SL_OK;
    struct sl_table *t = NULL;
    int dom_index = -1;

    *out = NULL;
    SL_CALL(sl_layout_table(lay, &s->g, c, s->name, "crosstab", NULL, &t));
    t->spec = json_incref(s->spec);
    memcpy(t->n, n, (size_t)t->ncells * sizeof *n);
    for (int i = 0; i < s->nstats; i++) {
        enum ct_stat k = s->stats[i];
        int index;
        int64_t *support;
        SL_CALL(sl_table_add_stat(t, g_stat_names[k], g_stat_kinds[k], &index));
        SL_CALL(sl_table_stat_support(t, index, &support));
        for (int64_t p = 0; p < t->ncells; p++) {
            const struct sl_moments *m = &res->mom[p];
            double v = NAN;
            support[p] = m->n_present;
            if (k == CT_SUM && m->n_present > 0)
                v = m->sum;
            else if (k == CT_MEAN && m->n_present > 0)
                v = m->mean;
            else if (k == CT_SD && m->n_present > 1)
                v = sqrt(m->m2 / (double)(m->n_present - 1));
            else if (k == CT_MEDIAN)
                v = res->median[p];
            t->stats[index].v[p] = v;
        }
        if (k == CT_SUM || (k == CT_MEAN && !wants(s, CT_SUM)))
            dom_index = index;
    }
    if (dom_index >= 0) {
        SL_CALL(sl_table_enable_dominance(t, dom_index));
        memcpy(t->dom, res->dom, (size_t)t->ncells * sizeof *t->dom);
    }
    if (s->has_value) {
        t->facts = json_pack("{s:s,s:s}", "value", s->value.name, "type",
                             sl_coltype_name(s->value.type));
        SL_CHECK(t->facts, SL_ERR_NOMEM, "out of memory");
    }
    *out = t;
    t = NULL;
cleanup:
    sl_table_destroy(&t);
    return st;
}

/* privacy: dp with a value column: the exact aggregates of the noisy sum
 * and mean (jobs/dpvalues.h); the engine adds the noise (engine/dp.h). */
static sl_status crosstab_dp_values(const struct crosstab_state *s, struct sl_exec *ex,
                                    struct sl_outputs *outs)
{
    sl_status st = SL_OK;
    struct sl_table *t = NULL;

    SL_CALL(sl_dp_values_output(&s->g, &s->value, s->margins, 0, ex, s->name, "crosstab",
                                s->spec, &t));
    if (!t)
        goto cleanup;
    for (int i = 0; i < s->nstats; i++) {
        int index;
        int64_t *support;
        SL_CALL(sl_table_add_stat(t, g_stat_names[s->stats[i]], g_stat_kinds[s->stats[i]],
                                  &index));
        SL_CALL(sl_table_stat_support(t, index, &support));
        if (s->stats[i] == CT_SUM)
            t->dp_values->sum_stat = index;
        else
            t->dp_values->mean_stat = index;
    }
    t->facts = json_pack("{s:s,s:s}", "value", s->value.name, "type",
                         sl_coltype_name(s->value.type));
    SL_CHECK(t->facts, SL_ERR_NOMEM, "out of memory");
    SL_CALL(sl_outputs_push(outs, &t));
cleanup:
    sl_table_destroy(&t);
    return st;
}

static sl_status crosstab_execute(void *state, struct sl_exec *ex, struct sl_outputs *outs)
{
    sl_status st = SL_OK;
    struct crosstab_state *s = state;
    const struct sl_frame *fr = sl_exec_frame(ex);
    struct sl_backend *b = sl_exec_backend(ex);
    int64_t *nfull = NULL, *n = NULL;
    struct sl_table *t = NULL;
    struct sl_layout lay = {0};
    struct value_result res = {NULL, NULL, NULL};
    struct sl_moment_records rec = {NULL, 0, 0}, all = {NULL, 0, 0};
    struct sl_dominance *dfull = NULL;
    struct sl_reducer red;
    int median = wants(s, CT_MEDIAN);

    if (s->dp && s->has_value)
        return crosstab_dp_values(s, ex, outs);
    sl_reducer_exec(&red, ex);
    nfull = sl_calloc((size_t)s->g.ncells, sizeof *nfull);
    dfull = sl_calloc((size_t)s->g.ncells, sizeof *dfull);
    SL_CHECK(nfull && dfull, SL_ERR_NOMEM, "out of memory");
    if (s->has_value) {
        /* One pass: moments and dominance evidence per chunk. The summaries
         * count every kept row, present or missing. */
        st = sl_moments_by_chunk(b, fr, &s->g, sl_exec_mask(ex), &s->value, 1, dfull, &rec);
    } else {
        st = sl_count_by_chunk(b, fr, &s->g, sl_exec_mask(ex), nfull);
    }
    if (st == SL_ERR_FORMAT)
        sl_error_prefix("%s", sl_cohort_path(sl_exec_cohort(ex)));
    SL_CALL(st);
    if (s->has_value) {
        SL_CALL(sl_moments_gather(&red, &rec, &all));
        sl_moment_records_clear(&rec);
        sl_moments_cell_rows(&all, 0, s->g.ncells, nfull);
    } else {
        SL_CALL(sl_exec_sum_i64(ex, nfull, s->g.ncells));
    }
    sl_layout_init(&lay, &s->g, s->dp ? NULL : nfull, s->margins);
    n = sl_calloc((size_t)lay.ncells, sizeof *n);
    SL_CHECK(n, SL_ERR_NOMEM, "out of memory");
    sl_layout_sum_i64(&lay, nfull, 1, n);
    if (s->has_value) {
        res.mom = sl_calloc((size_t)lay.ncells, sizeof *res.mom);
        res.median = sl_malloc((size_t)lay.ncells * sizeof *res.median);
        res.dom = sl_calloc((size_t)lay.ncells, sizeof *res.dom);
        SL_CHECK(res.mom && res.median && res.dom, SL_ERR_NOMEM, "out of memory");
        SL_CALL(sl_moments_fold(all.v, all.count, &lay, 1, res.mom));
        sl_moment_records_clear(&all);
        if (median)
            SL_CALL(value_median(s, ex, &red, &lay, &res));
        SL_CALL(sl_dominance_reduce(&red, dfull, &lay, res.dom));
    }
    if (sl_exec_rank(ex) == 0) {
        SL_CALL(crosstab_table(s, sl_exec_cohort(ex), &lay, n, &res, &t));
        SL_CALL(sl_outputs_push(outs, &t));
    }
cleanup:
    sl_moment_records_clear(&rec);
    sl_moment_records_clear(&all);
    if (dfull)
        sl_wipe(dfull, (size_t)s->g.ncells * sizeof *dfull);
    if (res.mom)
        sl_wipe(res.mom, (size_t)lay.ncells * sizeof *res.mom);
    if (res.dom)
        sl_wipe(res.dom, (size_t)lay.ncells * sizeof *res.dom);
    sl_free(dfull);
    sl_free(res.mom);
    sl_free(res.median);
    sl_free(res.dom);
    sl_free(nfull);
    sl_free(n);
    sl_table_destroy(&t);
    return st;
}

const struct sl_job_type sl_job_crosstab = {
    .name = "crosstab",
    .summary = "distinct patients by 1 to 3 categorical or banded columns with margins, "
               "optionally with the sum, mean, sd and median of a numeric column per cell",
    .prepare = crosstab_prepare,
    .execute = crosstab_execute,
    .destroy = crosstab_destroy,
    .dp_counts = 1,
};
