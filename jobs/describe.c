/*
 * describe.c: the `describe` analysis: summaries of numeric columns,
 * overall or by up to three columns.
 *
 *   - type: describe
 *     name: bp                      (optional)
 *     columns: [systolic_bp, bmi]   (required: numeric columns)
 *     by: [sex]                     (optional: 0 to 3 categorical columns, or
 *                                    numeric ones cut into bands)
 *     bands: {age: [40, 65]}        (optional: cut points per numeric column
 *                                    of `by`, jobs/grouping.h)
 *     probs: [0.1, 0.9]             (optional: quantiles besides the median
 *                                    and quartiles)
 *     minmax: true                  (optional: minimum and maximum, only
 *                                    where the policy allows them)
 *     margins: true                 (optional: a "Total" level on every
 *                                    `by` column)
 *     mitigation: suppress          (optional: suppress or round; engine)
 *     privacy: dp                   (optional: noisy present count, mean and
 *     rho: 0.005 (or epsilon)        median only, per column, each charged in
 *                                    full; columns need public bounds:
 *                                    engine/dp.h)
 *
 * One output table per column, named "<name>_<column>", with the `by`
 * columns as dimensions. A cell's n counts its patients; the statistics are
 * present (patients with a value), missing, mean, sd, median, q1, q3, one
 * "p<100 prob>" per extra probability (exact quantiles, R's default type 7)
 * and, where released, min and max. Mean, sd and quantiles rest on the
 * patients with a value (their support); min and max on the patients sharing
 * the extreme. The mean carries dominance evidence, the values being each
 * patient's contribution. Dates are described in days since 1970-01-01.
 *
 * Moments are folded per chunk in global chunk order and quantiles are
 * exact order statistics, so results are the same on any number of ranks.
 * Rules: the count rules on n, and the statistic rules on the columns.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/log.h"
#include "engine/core/secbuf.h"
#include "jobs/cellstats.h"
#include "jobs/dominance.h"
#include "jobs/dpvalues.h"
#include "jobs/grouping.h"
#include "jobs/jobs.h"

#define DESCRIBE_MAX_PROBS 64

struct describe_state {
    char *name;
    json_t *spec; /* the analysis as written */
    struct sl_grouping g;
    int nmeas;
    struct sl_measure *meas;
    int nprobs;           /* median, q1, q3, then the extra probabilities */
    double probs[DESCRIBE_MAX_PROBS];
    char pnames[DESCRIBE_MAX_PROBS][24];
    bool minmax;          /* min and max computed and released */
    bool minmax_withheld; /* asked for, but the policy does not allow them */
    bool margins;
    bool dp;              /* privacy: dp: present and mean only, noisy */
};

static void describe_destroy(void *state)
{
    struct describe_state *s = state;
    if (!s)
        return;
    sl_free(s->name);
    json_decref(s->spec);
    sl_free(s->meas);
    sl_free(s);
}

/* Adds probability p under `label` unless it is already listed. */
static sl_status add_prob(struct describe_state *s, const struct sl_analysis *a, double p,
                          const char *label)
{
    sl_status st = SL_OK;
    for (int i = 0; i < s->nprobs; i++) {
        if (s->probs[i] == p)
            goto cleanup;
        SL_CHECK(strcmp(s->pnames[i], label) != 0, SL_ERR_FORMAT,
                 "%s: probabilities %.17g and %.17g would both be named '%s'",
                 sl_params_where(a->params, "probs"), s->probs[i], p, label);
    }
    SL_CHECK(s->nprobs < DESCRIBE_MAX_PROBS, SL_ERR_FORMAT,
             "%s: at most %d probabilities are supported", sl_params_where(a->params, "probs"),
             DESCRIBE_MAX_PROBS - 3);
    s->probs[s->nprobs] = p;
    snprintf(s->pnames[s->nprobs], sizeof s->pnames[0], "%s", label);
    s->nprobs++;
cleanup:
    return st;
}

static sl_status parse_probs(struct describe_state *s, const struct sl_analysis *a)
{
    sl_status st = SL_OK;
    double *extra = NULL;
    int nextra = 0;

    SL_CALL(add_prob(s, a, 0.5, "median"));
    SL_CALL(add_prob(s, a, 0.25, "q1"));
    SL_CALL(add_prob(s, a, 0.75, "q3"));
    SL_CALL(sl_params_doubles(a->params, "probs", false, &extra, &nextra));
    for (int i = 0; i < nextra; i++) {
        char label[24];
        SL_CHECK(extra[i] >= 0 && extra[i] <= 1, SL_ERR_FORMAT,
                 "%s: probability %g is outside [0, 1]", sl_params_where(a->params, "probs"),
                 extra[i]);
        snprintf(label, sizeof label, "p%.10g", extra[i] * 100);
        SL_CALL(add_prob(s, a, extra[i], label));
    }
cleanup:
    sl_free(extra);
    return st;
}

static sl_status describe_prepare(const struct sl_analysis *a, const struct sl_cohort *c,
                                  const struct sl_rules *rules, void **state, int **cols,
                                  int *ncols)
{
    static const char *const known[] = {"columns",    "by",      "bands", "probs",   "minmax",
                                        "margins",    "privacy", "rho",   "epsilon", "mitigation",
                                        NULL};
    sl_status st = SL_OK;
    struct describe_state *s = NULL;
    const char **names = NULL;
    int *out = NULL, n = 0;

    *state = NULL;
    *cols = NULL;
    *ncols = 0;
    SL_CALL(sl_params_only(a->params, known));
    s = sl_calloc(1, sizeof *s);
    SL_CHECK(s, SL_ERR_NOMEM, "out of memory");
    s->name = sl_strdup(a->name);
    s->spec = sl_params_to_json(a->params);
    SL_CHECK(s->name && s->spec, SL_ERR_NOMEM, "out of memory");
    SL_CALL(sl_params_strings(a->params, "columns", true, &names, &n));
    SL_CHECK(n > 0, SL_ERR_FORMAT, "%s: analysis '%s' needs at least one column in 'columns'",
             sl_params_where(a->params, "columns"), a->name);
    s->meas = sl_calloc((size_t)n, sizeof *s->meas);
    SL_CHECK(s->meas, SL_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        SL_CALL(sl_measure_init(&s->meas[i], c, names[i], sl_params_where(a->params, "columns")));
        for (int j = 0; j < i; j++)
            SL_CHECK(s->meas[j].col != s->meas[i].col, SL_ERR_FORMAT,
                     "%s: column '%s' is listed twice", sl_params_where(a->params, "columns"),
                     names[i]);
    }
    s->nmeas = n;
    SL_CALL(sl_grouping_parse(&s->g, a, "by", c));
    SL_CALL(parse_probs(s, a));
    SL_CALL(sl_params_bool(a->params, "minmax", false, &s->minmax));
    SL_CALL(sl_params_bool(a->params, "margins", false, &s->margins));
    s->dp = sl_params_has(a->params, "privacy");
    SL_CHECK(!s->dp || !(sl_params_has(a->params, "probs") || s->minmax), SL_ERR_FORMAT,
             "%s: under privacy: dp a column is described by its noisy count, mean and median "
             "only; expected analysis '%s' without '%s'",
             sl_params_where(a->params, "privacy"), a->name,
             sl_params_has(a->params, "probs") ? "probs" : "minmax");
    for (int i = 0; s->dp && i < s->nmeas; i++)
        SL_CHECK(isfinite(s->meas[i].lower) && isfinite(s->meas[i].upper) &&
                     s->meas[i].lower < s->meas[i].upper,
                 SL_ERR_FORMAT,
                 "%s: noisy means clamp column '%s' to its public bounds (lower, upper) in the "
                 "cohort's schema, which it does not have",
                 sl_params_where(a->params, "columns"), s->meas[i].name);
    if (s->minmax && !rules->allow_minmax) {
        s->minmax = false;
        s->minmax_withheld = true;
    }
    out = sl_malloc((size_t)(s->g.ndims + s->nmeas) * sizeof *out);
    SL_CHECK(out, SL_ERR_NOMEM, "out of memory");
    memcpy(out, s->g.cols, (size_t)s->g.ndims * sizeof *out);
    for (int i = 0; i < s->nmeas; i++)
        out[s->g.ndims + i] = s->meas[i].col;
    *cols = out;
    *ncols = s->g.ndims + s->nmeas;
    *state = s;
    out = NULL;
    s = NULL;
cleanup:
    sl_free(names);
    sl_free(out);
    describe_destroy(s);
    return st;
}

/* Everything computed for one column, over the published cells. */
struct column_result {
    const struct sl_moments *mom; /* [ncells] */
    const double *q;              /* [ncells * nq]: the probabilities, then with min and
                                     max the quantiles at 0 and 1 */
    int nq;
    const int64_t *at_min;        /* [ncells] or NULL */
    const int64_t *at_max;
    const struct sl_dominance *dom; /* [ncells] */
};

static sl_status add_stat(struct sl_table *t, const char *name, enum sl_stat_kind kind,
                          int *index, int64_t **support)
{
    sl_status st = SL_OK;
    SL_CALL(sl_table_add_stat(t, name, kind, index));
    if (support)
        SL_CALL(sl_table_stat_support(t, *index, support));
cleanup:
    return st;
}

/* Builds the output table of measure j (rank 0). */
static sl_status column_table(const struct describe_state *s, const struct sl_cohort *c,
                              const struct sl_layout *lay, const int64_t *n, int j,
                              const struct column_result *res, struct sl_table **out)
{
    sl_status st = SL_OK;
    struct sl_table *t = NULL;
    char tname[512];
    int ipres, imiss, imean, isd, iq[DESCRIBE_MAX_PROBS], imin = -1, imax = -1;
    int64_t *sup_mean, *sup_sd, *sup_q[DESCRIBE_MAX_PROBS], *sup_min = NULL, *sup_max = NULL;

    *out = NULL;
    snprintf(tname, sizeof tname, "%s_%s", s->name, s->meas[j].name);
    SL_CALL(sl_layout_table(lay, &s->g, c, tname, "describe", NULL, &t));
    t->spec = json_incref(s->spec);
    SL_CALL(add_stat(t, "present", SL_STAT_COUNT, &ipres, NULL));
    SL_CALL(add_stat(t, "missing", SL_STAT_MISSING, &imiss, NULL));
    SL_CALL(add_stat(t, "mean", SL_STAT_MEAN, &imean, &sup_mean));
    SL_CALL(add_stat(t, "sd", SL_STAT_SD, &isd, &sup_sd));
    for (int k = 0; k < s->nprobs; k++)
        SL_CALL(add_stat(t, s->pnames[k], SL_STAT_QUANTILE, &iq[k], &sup_q[k]));
    if (s->minmax) {
        SL_CALL(add_stat(t, "min", SL_STAT_MIN, &imin, &sup_min));
        SL_CALL(add_stat(t, "max", SL_STAT_MAX, &imax, &sup_max));
    }
    SL_CALL(sl_table_enable_dominance(t, imean));
    for (int64_t p = 0; p < t->ncells; p++) {
        const struct sl_moments *m = &res->mom[p];
        int64_t np = m->n_present;
        t->n[p] = n[p];
        t->stats[ipres].v[p] = (double)np;
        t->stats[imiss].v[p] = (double)m->n_missing;
        sup_mean[p] = sup_sd[p] = np;
        if (np > 0)
            t->stats[imean].v[p] = m->mean;
        if (np > 1)
            t->stats[isd].v[p] = sqrt(m->m2 / (double)(np - 1));
        for (int k = 0; k < s->nprobs; k++) {
            t->stats[iq[k]].v[p] = res->q[p * res->nq + k];
            sup_q[k][p] = np;
        }
        if (s->minmax && np > 0) {
            t->stats[imin].v[p] = res->q[p * res->nq + s->nprobs];
            t->stats[imax].v[p] = res->q[p * res->nq + s->nprobs + 1];
            sup_min[p] = res->at_min[p];
            sup_max[p] = res->at_max[p];
        }
        t->dom[p] = res->dom[p];
    }
    t->facts = json_pack("{s:s,s:s}", "column", s->meas[j].name, "type",
                         sl_coltype_name(s->meas[j].type));
    SL_CHECK(t->facts, SL_ERR_NOMEM, "out of memory");
    if (s->meas[j].type == SL_COL_DATE)
        json_object_set_new(t->facts, "unit", json_string("days since 1970-01-01"));
    if (s->minmax_withheld)
        json_object_set_new(t->facts, "minmax",
                            json_string("asked for but not computed: the policy does not allow "
                                        "minimum and maximum (allow_minmax is false)"));
    *out = t;
    t = NULL;
cleanup:
    sl_table_destroy(&t);
    return st;
}

/* Quantiles, extremes' supports and dominance of measure j, then its table. */
static sl_status describe_column(const struct describe_state *s, struct sl_exec *ex,
                                 const struct sl_reducer *red, const struct sl_layout *lay,
                                 const struct sl_cell_values *cells, const int64_t *n, int j,
                                 const struct sl_moments *mom, struct sl_outputs *outs)
{
    sl_status st = SL_OK;
    struct sl_cell_values *vals = NULL;
    struct sl_dominance *dfull = NULL, *dom = NULL;
    struct sl_dominance_pass *dp = NULL;
    struct sl_row_visitor visit;
    int64_t *npresent = NULL, *at_min = NULL, *at_max = NULL;
    double *q = NULL, *ext = NULL, probs[DESCRIBE_MAX_PROBS + 2];
    int nq = s->nprobs;
    struct sl_table *t = NULL;
    struct column_result res;

    memcpy(probs, s->probs, (size_t)s->nprobs * sizeof *probs);
    if (s->minmax) {
        probs[nq++] = 0;
        probs[nq++] = 1;
    }
    npresent = sl_malloc((size_t)lay->ncells * sizeof *npresent);
    q = sl_malloc((size_t)(lay->ncells * nq) * sizeof *q);
    dfull = sl_calloc((size_t)s->g.ncells, sizeof *dfull);
    dom = sl_calloc((size_t)lay->ncells, sizeof *dom);
    SL_CHECK(npresent && q && dfull && dom, SL_ERR_NOMEM, "out of memory");
    for (int64_t p = 0; p < lay->ncells; p++)
        npresent[p] = mom[p].n_present;
    SL_CALL(sl_cell_values_with(cells, sl_exec_frame(ex), &s->meas[j], &vals));
    /* the dominance evidence is gathered while the selection reads the rows */
    SL_CALL(sl_dominance_pass_begin(vals, &dp, &visit));
    SL_CALL(sl_quantiles_exact(red, vals, lay, npresent, nq, probs, &visit, q));
    SL_CALL(sl_dominance_pass_end(&dp, dfull));
    if (s->minmax) {
        at_min = sl_malloc((size_t)lay->ncells * sizeof *at_min);
        at_max = sl_malloc((size_t)lay->ncells * sizeof *at_max);
        ext = sl_malloc((size_t)(2 * lay->ncells) * sizeof *ext);
        SL_CHECK(at_min && at_max && ext, SL_ERR_NOMEM, "out of memory");
        for (int64_t p = 0; p < lay->ncells; p++) {
            ext[p] = q[p * nq + s->nprobs];
            ext[lay->ncells + p] = q[p * nq + s->nprobs + 1];
        }
        SL_CALL(sl_count_extremes(red, vals, lay, ext, ext + lay->ncells, at_min, at_max));
    }
    sl_cell_values_destroy(&vals);
    SL_CALL(sl_dominance_reduce(red, dfull, lay, dom));
    if (sl_exec_rank(ex) == 0) {
        res = (struct column_result){mom, q, nq, at_min, at_max, dom};
        SL_CALL(column_table(s, sl_exec_cohort(ex), lay, n, j, &res, &t));
        SL_CALL(sl_outputs_push(outs, &t));
    }
cleanup:
    (void)sl_dominance_pass_end(&dp, dfull);
    sl_cell_values_destroy(&vals);
    if (dfull)
        sl_wipe(dfull, (size_t)s->g.ncells * sizeof *dfull);
    if (dom)
        sl_wipe(dom, (size_t)lay->ncells * sizeof *dom);
    sl_free(dfull);
    sl_free(dom);
    sl_free(npresent);
    sl_free(q);
    sl_free(ext);
    sl_free(at_min);
    sl_free(at_max);
    sl_table_destroy(&t);
    return st;
}

/* privacy: dp: per column, the exact aggregates of a noisy present count,
 * mean and median (jobs/dpvalues.h); the engine adds the noise and draws
 * the medians (engine/dp.h). */
static sl_status describe_dp(const struct describe_state *s, struct sl_exec *ex,
                             struct sl_outputs *outs)
{
    sl_status st = SL_OK;
    struct sl_table *t = NULL;
    char tname[512];

    for (int j = 0; j < s->nmeas; j++) {
        snprintf(tname, sizeof tname, "%s_%s", s->name, s->meas[j].name);
        SL_CALL(sl_dp_values_output(&s->g, &s->meas[j], s->margins, 1, ex, tname, "describe",
                                    s->spec, &t));
        if (!t)
            continue;
        SL_CALL(add_stat(t, "present", SL_STAT_COUNT, &t->dp_values->present_stat, NULL));
        SL_CALL(add_stat(t, "mean", SL_STAT_MEAN, &t->dp_values->mean_stat, NULL));
        SL_CALL(add_stat(t, "median", SL_STAT_QUANTILE, &t->dp_values->median_stat, NULL));
        t->facts = json_pack("{s:s,s:s}", "column", s->meas[j].name, "type",
                             sl_coltype_name(s->meas[j].type));
        SL_CHECK(t->facts, SL_ERR_NOMEM, "out of memory");
        SL_CALL(sl_outputs_push(outs, &t));
    }
cleanup:
    sl_table_destroy(&t);
    return st;
}

static sl_status describe_execute(void *state, struct sl_exec *ex, struct sl_outputs *outs)
{
    sl_status st = SL_OK;
    struct describe_state *s = state;
    int64_t *nfull = NULL, *n = NULL;
    struct sl_moments *mom = NULL;
    struct sl_moment_records rec = {NULL, 0, 0}, all = {NULL, 0, 0};
    struct sl_reducer red;
    struct sl_layout lay = {0};
    struct sl_cell_values *cells = NULL;

    if (s->dp)
        return describe_dp(s, ex, outs);
    sl_reducer_exec(&red, ex);
    st = sl_moments_by_chunk(sl_exec_backend(ex), sl_exec_frame(ex), &s->g, sl_exec_mask(ex),
                             s->meas, s->nmeas, NULL, &rec);
    if (st == SL_ERR_FORMAT)
        sl_error_prefix("%s", sl_cohort_path(sl_exec_cohort(ex)));
    SL_CALL(st);
    SL_CALL(sl_moments_gather(&red, &rec, &all));
    sl_moment_records_clear(&rec);
    /* Every kept row is present or missing in the first column's summaries,
     * so they count the cells' patients too. */
    nfull = sl_calloc((size_t)s->g.ncells, sizeof *nfull);
    SL_CHECK(nfull, SL_ERR_NOMEM, "out of memory");
    sl_moments_cell_rows(&all, 0, s->g.ncells, nfull);
    sl_layout_init(&lay, &s->g, nfull, s->margins);
    n = sl_calloc((size_t)lay.ncells, sizeof *n);
    mom = sl_calloc((size_t)(lay.ncells * s->nmeas), sizeof *mom);
    SL_CHECK(n && mom, SL_ERR_NOMEM, "out of memory");
    sl_layout_sum_i64(&lay, nfull, 1, n);
    SL_CALL(sl_moments_fold(all.v, all.count, &lay, s->nmeas, mom));
    sl_moment_records_clear(&all);
    if (s->minmax_withheld && sl_exec_rank(ex) == 0)
        sl_log_warn("describe '%s': minimum and maximum are not computed; the policy does not "
                    "allow them (allow_minmax is false)", s->name);
    /* one cell index for every column */
    SL_CALL(sl_cell_values_create(sl_exec_frame(ex), &s->g, sl_exec_mask(ex), NULL, &cells));
    for (int j = 0; j < s->nmeas; j++) {
        sl_exec_progress(ex, "describe '%s': column %d of %d", s->name, j + 1, s->nmeas);
        SL_CALL(describe_column(s, ex, &red, &lay, cells, n, j, mom + j * lay.ncells, outs));
    }
cleanup:
    sl_cell_values_destroy(&cells);
    sl_moment_records_clear(&rec);
    sl_moment_records_clear(&all);
    if (mom)
        sl_wipe(mom, (size_t)(lay.ncells * s->nmeas) * sizeof *mom);
    sl_free(mom);
    sl_free(nfull);
    sl_free(n);
    return st;
}

const struct sl_job_type sl_job_describe = {
    .name = "describe",
    .summary = "count, missing, mean, sd and exact quantiles of numeric columns, optionally "
               "by up to 3 categorical or banded columns",
    .prepare = describe_prepare,
    .execute = describe_execute,
    .destroy = describe_destroy,
    .dp_counts = 1,
};
