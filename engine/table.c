/*
 * table.c: construction and teardown of gate-bound output tables.
 */
#include "engine/table.h"

#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"

const char *sl_decision_name(enum sl_decision d)
{
    switch (d) {
    case SL_DECISION_PASS: return "pass";
    case SL_DECISION_REVIEW: return "review";
    case SL_DECISION_FAIL: return "fail";
    }
    return "fail";
}

sl_status sl_intervals_create(const char *column, int32_t nends, int32_t nlevels,
                              struct sl_intervals **out)
{
    sl_status st = SL_OK;
    struct sl_intervals *iv = sl_calloc(1, sizeof *iv);

    *out = NULL;
    SL_CHECK(iv, SL_ERR_NOMEM, "out of memory");
    iv->nends = nends;
    iv->column = sl_strdup(column);
    iv->end = sl_calloc((size_t)nends + 1, sizeof *iv->end);
    iv->closed = sl_calloc((size_t)nends + 1, sizeof *iv->closed);
    iv->upper = sl_calloc((size_t)nlevels + 1, sizeof *iv->upper);
    SL_CHECK(iv->column && iv->end && iv->closed && iv->upper, SL_ERR_NOMEM, "out of memory");
    *out = iv;
    iv = NULL;
cleanup:
    sl_intervals_destroy(&iv);
    return st;
}

void sl_intervals_destroy(struct sl_intervals **ivp)
{
    struct sl_intervals *iv;
    if (!ivp || !*ivp)
        return;
    iv = *ivp;
    sl_free(iv->column);
    sl_free(iv->end);
    sl_free(iv->closed);
    sl_free(iv->upper);
    sl_free(iv);
    *ivp = NULL;
}

/* A copy of src (levels of a dimension of `nlevels`) into *out. */
static sl_status intervals_copy(const struct sl_intervals *src, int32_t nlevels,
                                struct sl_intervals **out)
{
    sl_status st = SL_OK;
    SL_CALL(sl_intervals_create(src->column, src->nends, nlevels, out));
    memcpy((*out)->end, src->end, (size_t)src->nends * sizeof *src->end);
    memcpy((*out)->closed, src->closed, (size_t)src->nends * sizeof *src->closed);
    memcpy((*out)->upper, src->upper, (size_t)nlevels * sizeof *src->upper);
cleanup:
    return st;
}

static void dim_clear(struct sl_dim *d)
{
    if (d->levels)
        for (int32_t i = 0; i < d->nlevels; i++)
            sl_free(d->levels[i]);
    sl_free(d->levels);
    sl_free(d->name);
    sl_intervals_destroy(&d->iv);
    memset(d, 0, sizeof *d);
}

sl_status sl_table_create(const char *name, const char *analysis, int ndims,
                          const struct sl_dim *dims, struct sl_table **out)
{
    sl_status st = SL_OK;
    struct sl_table *t = NULL;
    int64_t ncells = 1;

    *out = NULL;
    SL_CHECK(ndims >= 0 && ndims <= SL_TABLE_MAX_DIMS, SL_ERR_ARG,
             "a table has at most %d dimensions", SL_TABLE_MAX_DIMS);
    t = sl_calloc(1, sizeof *t);
    SL_CHECK(t, SL_ERR_NOMEM, "out of memory");
    t->name = sl_strdup(name);
    t->analysis = sl_strdup(analysis);
    SL_CHECK(t->name && t->analysis, SL_ERR_NOMEM, "out of memory");
    t->ndims = ndims;
    for (int d = 0; d < ndims; d++) {
        SL_CHECK(dims[d].nlevels > 0, SL_ERR_ARG, "dimension '%s' has no levels", dims[d].name);
        t->dims[d].name = sl_strdup(dims[d].name);
        t->dims[d].levels = sl_calloc((size_t)dims[d].nlevels, sizeof(char *));
        SL_CHECK(t->dims[d].name && t->dims[d].levels, SL_ERR_NOMEM, "out of memory");
        t->dims[d].nlevels = dims[d].nlevels;
        for (int32_t i = 0; i < dims[d].nlevels; i++) {
            t->dims[d].levels[i] = sl_strdup(dims[d].levels[i]);
            SL_CHECK(t->dims[d].levels[i], SL_ERR_NOMEM, "out of memory");
        }
        if (dims[d].iv)
            SL_CALL(intervals_copy(dims[d].iv, dims[d].nlevels, &t->dims[d].iv));
        SL_CHECK(ncells <= INT64_MAX / dims[d].nlevels, SL_ERR_ARG, "table too large");
        ncells *= dims[d].nlevels;
    }
    SL_CHECK(ncells <= (int64_t)1 << 31, SL_ERR_ARG,
             "table '%s' would have %lld cells; at most 2^31 are supported", name,
             (long long)ncells);
    t->ncells = ncells;
    t->n = sl_calloc((size_t)ncells, sizeof *t->n);
    t->cell_decision = sl_calloc((size_t)ncells, sizeof *t->cell_decision);
    SL_CHECK(t->n && t->cell_decision, SL_ERR_NOMEM, "out of memory");
    t->decision = SL_DECISION_FAIL;
    *out = t;
    t = NULL;
cleanup:
    sl_table_destroy(&t);
    return st;
}

sl_status sl_table_add_stat(struct sl_table *t, const char *name, enum sl_stat_kind kind,
                            int *index)
{
    sl_status st = SL_OK;
    struct sl_stat *grown;
    double *v = NULL;
    char *copy = NULL;

    v = sl_malloc((size_t)t->ncells * sizeof *v);
    copy = sl_strdup(name);
    SL_CHECK(v && copy, SL_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < t->ncells; i++)
        v[i] = NAN;
    grown = sl_realloc(t->stats, (size_t)(t->nstats + 1) * sizeof *grown);
    SL_CHECK(grown, SL_ERR_NOMEM, "out of memory");
    t->stats = grown;
    t->stats[t->nstats] = (struct sl_stat){copy, kind, v, NULL};
    *index = t->nstats++;
    v = NULL;
    copy = NULL;
cleanup:
    sl_free(v);
    sl_free(copy);
    return st;
}

sl_status sl_table_stat_support(struct sl_table *t, int index, int64_t **support)
{
    sl_status st = SL_OK;
    SL_CHECK(index >= 0 && index < t->nstats, SL_ERR_ARG, "no stat column %d", index);
    if (!t->stats[index].support) {
        t->stats[index].support = sl_calloc((size_t)t->ncells, sizeof(int64_t));
        SL_CHECK(t->stats[index].support, SL_ERR_NOMEM, "out of memory");
    }
    *support = t->stats[index].support;
cleanup:
    return st;
}

sl_status sl_table_enable_dominance(struct sl_table *t, int index)
{
    sl_status st = SL_OK;
    SL_CHECK(index >= 0 && index < t->nstats, SL_ERR_ARG, "no stat column %d", index);
    if (!t->dom) {
        t->dom = sl_calloc((size_t)t->ncells, sizeof *t->dom);
        SL_CHECK(t->dom, SL_ERR_NOMEM, "out of memory");
    }
    t->dom_stat = index;
cleanup:
    return st;
}

void sl_table_cell_levels(const struct sl_table *t, int64_t cell, const char **labels)
{
    for (int d = t->ndims - 1; d >= 0; d--) {
        labels[d] = t->dims[d].levels[cell % t->dims[d].nlevels];
        cell /= t->dims[d].nlevels;
    }
}

void sl_dp_values_bounds(struct sl_dp_values *dv, double lower, double upper)
{
    dv->lower = lower;
    dv->upper = upper;
    dv->center = lower + (upper - lower) / 2;
    dv->step = (upper - lower) / (2.0 * SL_DP_RADIUS);
}

sl_status sl_table_enable_dp_values(struct sl_table *t, double lower, double upper)
{
    sl_status st = SL_OK;
    struct sl_dp_values *dv;
    SL_CHECK(isfinite(lower) && isfinite(upper) && lower < upper, SL_ERR_ARG,
             "noisy sums need finite public bounds lower < upper");
    if (!t->dp_values) {
        t->dp_values = sl_calloc(1, sizeof *t->dp_values);
        SL_CHECK(t->dp_values, SL_ERR_NOMEM, "out of memory");
    }
    dv = t->dp_values;
    if (!dv->present)
        dv->present = sl_calloc((size_t)t->ncells, sizeof *dv->present);
    if (!dv->lattice)
        dv->lattice = sl_calloc((size_t)t->ncells, sizeof *dv->lattice);
    SL_CHECK(dv->present && dv->lattice, SL_ERR_NOMEM, "out of memory");
    sl_dp_values_bounds(dv, lower, upper);
    dv->sum_stat = dv->mean_stat = dv->present_stat = dv->median_stat = -1;
cleanup:
    return st;
}

sl_status sl_table_enable_dp_hist(struct sl_table *t)
{
    sl_status st = SL_OK;
    SL_CHECK(t->dp_values, SL_ERR_ARG, "noisy medians need the aggregates of noisy means");
    SL_CHECK(t->ncells <= ((int64_t)1 << 24) / SL_DP_POINTS, SL_ERR_ARG,
             "table '%s': noisy medians keep %d points a cell and take at most %lld cells, "
             "not %lld",
             t->name, SL_DP_POINTS, (long long)(((int64_t)1 << 24) / SL_DP_POINTS),
             (long long)t->ncells);
    if (!t->dp_values->hist) {
        t->dp_values->hist =
            sl_calloc((size_t)(t->ncells * SL_DP_POINTS), sizeof *t->dp_values->hist);
        SL_CHECK(t->dp_values->hist, SL_ERR_NOMEM, "out of memory");
    }
cleanup:
    return st;
}

int64_t sl_dp_lattice(const struct sl_dp_values *dv, double x)
{
    double k;
    if (x < dv->lower)
        x = dv->lower;
    if (x > dv->upper)
        x = dv->upper;
    k = nearbyint((x - dv->center) / dv->step);
    return k < -SL_DP_RADIUS ? -SL_DP_RADIUS : k > SL_DP_RADIUS ? SL_DP_RADIUS : (int64_t)k;
}

void sl_table_destroy(struct sl_table **tp)
{
    struct sl_table *t;
    if (!tp || !*tp)
        return;
    t = *tp;
    for (int d = 0; d < t->ndims; d++)
        dim_clear(&t->dims[d]);
    for (int i = 0; i < t->nstats; i++) {
        sl_free(t->stats[i].name);
        sl_free(t->stats[i].v);
        sl_free(t->stats[i].support);
    }
    sl_free(t->stats);
    sl_free(t->n);
    sl_free(t->cell_decision);
    sl_free(t->dom);
    if (t->dp_values) {
        sl_free(t->dp_values->present);
        sl_free(t->dp_values->lattice);
        sl_free(t->dp_values->hist);
        sl_free(t->dp_values);
    }
    sl_free(t->name);
    sl_free(t->analysis);
    json_decref(t->spec);
    json_decref(t->model);
    json_decref(t->facts);
    json_decref(t->verdicts);
    sl_free(t->withheld);
    json_decref(t->mitigation);
    sl_free(t);
    *tp = NULL;
}

sl_status sl_outputs_push(struct sl_outputs *o, struct sl_table **t)
{
    sl_status st = SL_OK;
    if (o->count == o->cap) {
        int cap = o->cap ? o->cap * 2 : 8;
        struct sl_table **grown = sl_realloc(o->tables, (size_t)cap * sizeof *grown);
        SL_CHECK(grown, SL_ERR_NOMEM, "out of memory");
        o->tables = grown;
        o->cap = cap;
    }
    o->tables[o->count++] = *t;
    *t = NULL;
cleanup:
    return st;
}

void sl_outputs_clear(struct sl_outputs *o)
{
    for (int i = 0; i < o->count; i++)
        sl_table_destroy(&o->tables[i]);
    sl_free(o->tables);
    memset(o, 0, sizeof *o);
}
