/*
 * histogram.c: the `histogram` analysis: patients per bin of a numeric
 * column, optionally by up to two other columns (categorical, or numeric
 * cut into bands).
 *
 *   - type: histogram
 *     name: age_hist                  (optional)
 *     column: age                     (required: integer, real or date)
 *     edges: [0, 18, 40, 65, 120]     (optional: bin edges, strictly
 *                                      increasing; "YYYY-MM-DD" for dates)
 *     bins: 10                        (optional: equal-width bins between the
 *                                      column's public bounds in the schema)
 *     by: [sex]                       (optional: 0 to 2 categorical columns, or
 *                                      numeric ones cut by `bands`)
 *     mitigation: suppress            (optional: suppress or round; engine)
 *     privacy: dp                     (optional: noisy counts, engine/dp.h;
 *     rho: 0.005  (or epsilon: 0.5)    every bin and missing level shown)
 *
 * Bin edges come from the job or from the operator's public bounds, never
 * from the data: a range computed from the data would disclose the extreme
 * patients. Without edges and bins, 10 bins over the public bounds. Bins are
 * [a,b) except the last, [a,b]; values below the first edge, above the last
 * and missing values are counted in the bins "(-inf,a)", "(b,+inf)" and
 * "(missing)", shown when some patient falls in them: they are counts of
 * patients too and the gate judges them like the others. An empty one of
 * these three is structural (the bounds are public), so it is left out
 * rather than failing the zero-cell rule.
 *
 * One output table whose last dimension is "bin". Counts are integers summed
 * exactly across ranks. Rules: the count rules on n.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "io/schema.h"
#include "jobs/chunkpass.h"
#include "jobs/grouping.h"
#include "jobs/jobs.h"
#include "jobs/measure.h"

#define HIST_MAX_BINS 10000
#define HIST_DEFAULT_BINS 10

struct histogram_state {
    char *name;
    json_t *spec; /* the analysis as written */
    struct sl_grouping g;
    struct sl_measure m;
    int64_t nedges;
    double *edges;
    const char *source; /* "job" or "schema bounds" */
    bool dp;            /* privacy: dp: every bin and level is shown */
};

static void histogram_destroy(void *state)
{
    struct histogram_state *s = state;
    if (!s)
        return;
    sl_free(s->name);
    json_decref(s->spec);
    sl_free(s->edges);
    sl_free(s);
}

/* An edge as it appears in bin labels: ISO dates for date columns. */
static void format_edge(char *buf, size_t cap, double v, enum sl_coltype type)
{
    if (type == SL_COL_DATE && v == floor(v) && fabs(v) < 1e9) {
        char day[11];
        sl_format_date((int32_t)v, day);
        snprintf(buf, cap, "%s", day);
    } else {
        snprintf(buf, cap, "%.15g", v);
    }
}

static sl_status edges_from_job(struct histogram_state *s, const struct sl_analysis *a)
{
    sl_status st = SL_OK;
    const char **text = NULL;
    double *num = NULL;
    int n = 0;

    if (s->m.type == SL_COL_DATE) {
        SL_CALL(sl_params_strings(a->params, "edges", true, &text, &n));
        num = sl_malloc((size_t)(n > 0 ? n : 1) * sizeof *num);
        SL_CHECK(num, SL_ERR_NOMEM, "out of memory");
        for (int i = 0; i < n; i++) {
            int32_t days;
            SL_CHECK(sl_parse_date(text[i], strlen(text[i]), &days) == 0, SL_ERR_FORMAT,
                     "%s: edge '%s' of date column '%s' is not a date YYYY-MM-DD",
                     sl_params_where(a->params, "edges"), text[i], s->m.name);
            num[i] = days;
        }
    } else {
        SL_CALL(sl_params_doubles(a->params, "edges", true, &num, &n));
    }
    SL_CHECK(n >= 2 && n <= HIST_MAX_BINS + 1, SL_ERR_FORMAT,
             "%s: 'edges' needs between 2 and %d edges, got %d",
             sl_params_where(a->params, "edges"), HIST_MAX_BINS + 1, n);
    for (int i = 0; i < n; i++) {
        SL_CHECK(isfinite(num[i]), SL_ERR_FORMAT, "%s: edge %d is not a finite number",
                 sl_params_where(a->params, "edges"), i + 1);
        SL_CHECK(i == 0 || num[i] > num[i - 1], SL_ERR_FORMAT,
                 "%s: edges must increase strictly (edge %d is not above edge %d)",
                 sl_params_where(a->params, "edges"), i + 1, i);
    }
    s->edges = num;
    s->nedges = n;
    s->source = "job";
    num = NULL;
cleanup:
    sl_free(text);
    sl_free(num);
    return st;
}

static sl_status edges_from_bounds(struct histogram_state *s, const struct sl_analysis *a)
{
    sl_status st = SL_OK;
    int64_t bins = HIST_DEFAULT_BINS;
    double lo = s->m.lower, hi = s->m.upper;

    SL_CALL(sl_params_int(a->params, "bins", false, &bins));
    SL_CHECK(bins >= 1 && bins <= HIST_MAX_BINS, SL_ERR_FORMAT,
             "%s: 'bins' must be between 1 and %d", sl_params_where(a->params, "bins"),
             HIST_MAX_BINS);
    SL_CHECK(isfinite(lo) && isfinite(hi), SL_ERR_FORMAT,
             "%s: column '%s' has no public bounds (lower, upper) in the cohort's schema; give "
             "the bin 'edges' in the job",
             sl_params_where(a->params, sl_params_has(a->params, "bins") ? "bins" : NULL),
             s->m.name);
    SL_CHECK(lo < hi, SL_ERR_FORMAT, "%s: the public bounds of column '%s' are equal; give the "
             "bin 'edges' in the job", sl_params_where(a->params, NULL), s->m.name);
    s->edges = sl_malloc((size_t)(bins + 1) * sizeof *s->edges);
    SL_CHECK(s->edges, SL_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i <= bins; i++)
        s->edges[i] = i == bins ? hi : lo + (hi - lo) * ((double)i / (double)bins);
    for (int64_t i = 1; i <= bins; i++)
        SL_CHECK(s->edges[i] > s->edges[i - 1], SL_ERR_FORMAT,
                 "%s: %lld bins are too narrow for the bounds of column '%s'",
                 sl_params_where(a->params, "bins"), (long long)bins, s->m.name);
    s->nedges = bins + 1;
    s->source = "schema bounds";
cleanup:
    return st;
}

static sl_status histogram_prepare(const struct sl_analysis *a, const struct sl_cohort *c,
                                   const struct sl_rules *rules, void **state, int **cols,
                                   int *ncols)
{
    static const char *const known[] = {"column",     "edges",   "bins", "by",      "bands",
                                        "mitigation", "privacy", "rho",  "epsilon", NULL};
    sl_status st = SL_OK;
    struct histogram_state *s = NULL;
    const char *column = NULL;
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
    SL_CALL(sl_params_string(a->params, "column", true, &column));
    SL_CALL(sl_measure_init(&s->m, c, column, sl_params_where(a->params, "column")));
    SL_CALL(sl_grouping_parse(&s->g, a, "by", c));
    s->dp = sl_params_has(a->params, "privacy");
    SL_CHECK(s->g.ndims < SL_TABLE_MAX_DIMS, SL_ERR_FORMAT,
             "%s: a histogram groups by at most %d columns (its bins are a dimension too)",
             sl_params_where(a->params, "by"), SL_TABLE_MAX_DIMS - 1);
    SL_CHECK(!(sl_params_has(a->params, "edges") && sl_params_has(a->params, "bins")),
             SL_ERR_FORMAT, "%s: give either 'edges' or 'bins', not both",
             sl_params_where(a->params, "bins"));
    if (sl_params_has(a->params, "edges"))
        SL_CALL(edges_from_job(s, a));
    else
        SL_CALL(edges_from_bounds(s, a));
    out = sl_malloc((size_t)(s->g.ndims + 1) * sizeof *out);
    SL_CHECK(out, SL_ERR_NOMEM, "out of memory");
    memcpy(out, s->g.cols, (size_t)s->g.ndims * sizeof *out);
    out[s->g.ndims] = s->m.col;
    *cols = out;
    *ncols = s->g.ndims + 1;
    *state = s;
    out = NULL;
    s = NULL;
cleanup:
    sl_free(out);
    histogram_destroy(s);
    return st;
}

/* The "bin" dimension: below, the bins, above, missing, keeping the slots
 * with keep[l] != 0, and its intervals: slot l ends at edge l (the last
 * edge included), the slot above at +inf. Labels sl_malloc'd. */
static sl_status bin_dim(const struct histogram_state *s, const uint8_t *keep, struct sl_dim *dim)
{
    sl_status st = SL_OK;
    int64_t nbins = s->nedges - 1;
    int32_t nlev = (int32_t)(nbins + 3);
    char a[40], b[40], label[96];

    dim->name = (char *)"bin";
    dim->nlevels = 0;
    dim->levels = sl_calloc((size_t)nlev, sizeof(char *));
    SL_CHECK(dim->levels, SL_ERR_NOMEM, "out of memory");
    SL_CALL(sl_intervals_create(s->m.name, (int32_t)s->nedges, nlev, &dim->iv));
    memcpy(dim->iv->end, s->edges, (size_t)s->nedges * sizeof *s->edges);
    dim->iv->closed[s->nedges - 1] = 1;
    for (int32_t l = 0; l < nlev; l++) {
        if (!keep[l])
            continue;
        dim->iv->upper[dim->nlevels] = l <= nbins + 1 ? l : -1;
        if (l == 0) {
            format_edge(a, sizeof a, s->edges[0], s->m.type);
            snprintf(label, sizeof label, "(-inf,%s)", a);
        } else if (l <= nbins) {
            format_edge(a, sizeof a, s->edges[l - 1], s->m.type);
            format_edge(b, sizeof b, s->edges[l], s->m.type);
            snprintf(label, sizeof label, "[%s,%s%c", a, b, l == nbins ? ']' : ')');
        } else if (l == nbins + 1) {
            format_edge(b, sizeof b, s->edges[nbins], s->m.type);
            snprintf(label, sizeof label, "(%s,+inf)", b);
        } else {
            snprintf(label, sizeof label, "%s", SL_MISSING_LABEL);
        }
        dim->levels[dim->nlevels] = sl_strdup(label);
        SL_CHECK(dim->levels[dim->nlevels], SL_ERR_NOMEM, "out of memory");
        dim->nlevels++;
    }
cleanup:
    return st;
}

static void bin_dim_free(struct sl_dim *dim)
{
    if (dim->levels)
        for (int32_t l = 0; l < dim->nlevels; l++)
            sl_free(dim->levels[l]);
    sl_free(dim->levels);
    dim->levels = NULL;
    sl_intervals_destroy(&dim->iv);
}

/* Per-thread counts of the binning pass. */
struct bin_thread {
    struct sl_secbuf *scratch; /* converted values of one chunk, or NULL */
    int64_t *counts;           /* [ncells * nbins] */
    int64_t *below, *above, *missing; /* [ncells] each */
};

struct bin_pass {
    const struct histogram_state *s;
    struct sl_backend *b;
    const struct sl_frame *fr;
    struct bin_thread *th;
};

static sl_status bin_chunk(void *ctx, const struct sl_chunk_view *v)
{
    sl_status st = SL_OK;
    struct bin_pass *p = ctx;
    struct bin_thread *th = &p->th[v->thread];
    const double *values = NULL;
    struct sl_histogram_args args;

    SL_CALL(sl_measure_rows(&p->s->m, p->fr, v->r0, v->r1,
                            th->scratch ? th->scratch->data : NULL, &values));
    args = (struct sl_histogram_args){.n = v->r1 - v->r0,
                                      .values = values,
                                      .cell = v->cell,
                                      .mask = v->mask,
                                      .ncells = p->s->g.ncells,
                                      .edges = p->s->edges,
                                      .nedges = p->s->nedges,
                                      .counts = th->counts,
                                      .below = th->below,
                                      .above = th->above,
                                      .missing = th->missing};
    SL_CALL(sl_kernel_run(p->b, SL_OP_HISTOGRAM, &args));
cleanup:
    return st;
}

/* This rank's counts per full-grid cell and bin slot (below, the bins,
 * above, missing) in `full` (ncells * (nbins + 3), zeroed). */
static sl_status count_bins(const struct histogram_state *s, struct sl_exec *ex, int64_t *full)
{
    sl_status st = SL_OK;
    struct sl_backend *b = sl_exec_backend(ex);
    const struct sl_frame *fr = sl_exec_frame(ex);
    int64_t nbins = s->nedges - 1, width = nbins + 3, nc = s->g.ncells;
    int nt = sl_chunk_threads(b);
    struct bin_pass p = {s, b, fr, NULL};

    p.th = sl_calloc((size_t)nt, sizeof *p.th);
    SL_CHECK(p.th, SL_ERR_NOMEM, "out of memory");
    for (int t = 0; t < nt; t++) {
        struct bin_thread *th = &p.th[t];
        th->counts = sl_calloc((size_t)(nc * nbins), sizeof *th->counts);
        th->below = sl_calloc((size_t)nc, sizeof *th->below);
        th->above = sl_calloc((size_t)nc, sizeof *th->above);
        th->missing = sl_calloc((size_t)nc, sizeof *th->missing);
        SL_CHECK(th->counts && th->below && th->above && th->missing, SL_ERR_NOMEM,
                 "out of memory");
        if (s->m.type != SL_COL_REAL)
            SL_CALL(sl_secbuf_create((size_t)sl_frame_max_chunk_rows(fr) * sizeof(double),
                                     &th->scratch));
    }
    st = sl_chunk_pass(b, fr, &s->g, sl_exec_mask(ex), bin_chunk, &p);
    if (st == SL_ERR_FORMAT)
        sl_error_prefix("%s", sl_cohort_path(sl_exec_cohort(ex)));
    SL_CALL(st);
    for (int t = 0; t < nt; t++)
        for (int64_t c = 0; c < nc; c++) {
            const struct bin_thread *th = &p.th[t];
            full[c * width] += th->below[c];
            for (int64_t bin = 0; bin < nbins; bin++)
                full[c * width + 1 + bin] += th->counts[c * nbins + bin];
            full[c * width + nbins + 1] += th->above[c];
            full[c * width + nbins + 2] += th->missing[c];
        }
cleanup:
    for (int t = 0; p.th && t < nt; t++) {
        sl_secbuf_destroy(&p.th[t].scratch);
        sl_free(p.th[t].counts);
        sl_free(p.th[t].below);
        sl_free(p.th[t].above);
        sl_free(p.th[t].missing);
    }
    sl_free(p.th);
    return st;
}

static sl_status histogram_execute(void *state, struct sl_exec *ex, struct sl_outputs *outs)
{
    sl_status st = SL_OK;
    struct histogram_state *s = state;
    int64_t width = s->nedges + 2, *full = NULL, *ngroup = NULL, kept = 0;
    uint8_t *keep = NULL;
    struct sl_layout lay;
    struct sl_dim dim = {NULL, 0, NULL, NULL};
    struct sl_table *t = NULL;
    json_t *edges = NULL;

    full = sl_calloc((size_t)(s->g.ncells * width), sizeof *full);
    ngroup = sl_calloc((size_t)s->g.ncells, sizeof *ngroup);
    SL_CHECK(full && ngroup, SL_ERR_NOMEM, "out of memory");
    SL_CALL(count_bins(s, ex, full));
    SL_CALL(sl_exec_sum_i64(ex, full, s->g.ncells * width));
    if (sl_exec_rank(ex) != 0)
        goto cleanup;
    for (int64_t c = 0; c < s->g.ncells; c++)
        for (int64_t b = 0; b < width; b++)
            ngroup[c] += full[c * width + b];
    /* The below, above and missing slots are kept only when not empty
     * (always for noisy counts, whose layout must not depend on the data). */
    keep = sl_malloc((size_t)width);
    SL_CHECK(keep, SL_ERR_NOMEM, "out of memory");
    memset(keep, 1, (size_t)width);
    if (!s->dp) {
        const int64_t special[3] = {0, width - 2, width - 1};
        for (int k = 0; k < 3; k++) {
            int64_t total = 0;
            for (int64_t c = 0; c < s->g.ncells; c++)
                total += full[c * width + special[k]];
            keep[special[k]] = total > 0;
        }
    }
    for (int64_t c = 0; c < s->g.ncells; c++)
        for (int64_t b = 0; b < width; b++)
            if (keep[b])
                full[kept++] = full[c * width + b];
    sl_layout_init(&lay, &s->g, s->dp ? NULL : ngroup, 0);
    SL_CALL(bin_dim(s, keep, &dim));
    SL_CALL(sl_layout_table(&lay, &s->g, sl_exec_cohort(ex), s->name, "histogram", &dim, &t));
    t->spec = json_incref(s->spec);
    sl_layout_sum_i64(&lay, full, dim.nlevels, t->n);
    edges = json_array();
    SL_CHECK(edges, SL_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < s->nedges; i++)
        json_array_append_new(edges, json_real(s->edges[i]));
    t->facts = json_pack("{s:s,s:s,s:o,s:s}", "column", s->m.name, "type",
                         sl_coltype_name(s->m.type), "edges", edges, "edges_from", s->source);
    edges = NULL;
    SL_CHECK(t->facts, SL_ERR_NOMEM, "out of memory");
    SL_CALL(sl_outputs_push(outs, &t));
cleanup:
    json_decref(edges);
    bin_dim_free(&dim);
    sl_free(keep);
    sl_free(full);
    sl_free(ngroup);
    sl_table_destroy(&t);
    return st;
}

const struct sl_job_type sl_job_histogram = {
    .name = "histogram",
    .summary = "patients per bin of a numeric column, bins from the job or from public bounds, "
               "optionally by up to 2 categorical or banded columns",
    .prepare = histogram_prepare,
    .execute = histogram_execute,
    .destroy = histogram_destroy,
    .dp_counts = 1,
};
