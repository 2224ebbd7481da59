/*
 * cellstats.c: per-cell moments and exact order statistics across ranks
 * (see cellstats.h).
 */
#include "jobs/cellstats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/parallel.h"
#include "jobs/chunkpass.h"
#include "jobs/dominance.h"

/* ---- reducers ---- */

static sl_status exec_sum(void *ctx, int64_t *buf, int64_t n)
{
    return sl_exec_sum_i64(ctx, buf, n);
}

static sl_status exec_gather(void *ctx, const double *local, int64_t count, double **all,
                             int64_t *total)
{
    return sl_exec_allgather_f64(ctx, local, count, all, total);
}

void sl_reducer_exec(struct sl_reducer *r, struct sl_exec *ex)
{
    r->ctx = ex;
    r->sum_i64 = exec_sum;
    r->allgather_f64 = exec_gather;
}

static sl_status single_sum(void *ctx, int64_t *buf, int64_t n)
{
    (void)ctx;
    (void)buf;
    (void)n;
    return SL_OK;
}

static sl_status single_gather(void *ctx, const double *local, int64_t count, double **all,
                               int64_t *total)
{
    sl_status st = SL_OK;
    double *out = sl_malloc((size_t)(count > 0 ? count : 1) * sizeof *out);
    (void)ctx;
    *all = NULL;
    *total = 0;
    SL_CHECK(out, SL_ERR_NOMEM, "out of memory");
    if (count > 0)
        memcpy(out, local, (size_t)count * sizeof *out);
    *all = out;
    *total = count;
cleanup:
    return st;
}

void sl_reducer_single(struct sl_reducer *r)
{
    r->ctx = NULL;
    r->sum_i64 = single_sum;
    r->allgather_f64 = single_gather;
}

/* ---- moments by chunk ---- */

void sl_moment_records_clear(struct sl_moment_records *rec)
{
    if (rec->v)
        sl_wipe(rec->v, (size_t)rec->cap * SL_MOMENT_RECORD * sizeof(double));
    sl_free(rec->v);
    memset(rec, 0, sizeof *rec);
}

/* Room for `more` records; a grown array replaces the old one, which is
 * wiped. */
static sl_status records_reserve(struct sl_moment_records *rec, int64_t more)
{
    sl_status st = SL_OK;
    int64_t cap = rec->cap ? rec->cap : 256;
    double *grown = NULL;

    if (rec->count + more <= rec->cap)
        return SL_OK;
    while (cap < rec->count + more)
        cap *= 2;
    grown = sl_malloc((size_t)cap * SL_MOMENT_RECORD * sizeof *grown);
    SL_CHECK(grown, SL_ERR_NOMEM, "out of memory for %lld partial summaries", (long long)cap);
    if (rec->count)
        memcpy(grown, rec->v, (size_t)rec->count * SL_MOMENT_RECORD * sizeof *grown);
    if (rec->v)
        sl_wipe(rec->v, (size_t)rec->cap * SL_MOMENT_RECORD * sizeof(double));
    sl_free(rec->v);
    rec->v = grown;
    rec->cap = cap;
cleanup:
    return st;
}

/* Per-thread state of the moments pass. */
struct moments_thread {
    struct sl_secbuf *scratch;  /* converted values of one chunk */
    struct sl_secbuf *accbuf;   /* struct sl_moments [ncells] */
    struct sl_moment_records rec;
    struct sl_dominance *dom;   /* [ncells] or NULL */
};

struct moments_pass {
    struct sl_backend *b;
    const struct sl_frame *fr;
    const struct sl_measure *m;
    int nmeas;
    int64_t ncells;
    struct moments_thread *th;
};

static sl_status moments_chunk(void *ctx, const struct sl_chunk_view *v)
{
    sl_status st = SL_OK;
    struct moments_pass *p = ctx;
    struct moments_thread *th = &p->th[v->thread];
    struct sl_moments *acc = th->accbuf->data;

    for (int j = 0; j < p->nmeas; j++) {
        const double *values = NULL;
        struct sl_group_moments_args args;
        SL_CALL(sl_measure_rows(&p->m[j], p->fr, v->r0, v->r1,
                                th->scratch ? th->scratch->data : NULL, &values));
        args = (struct sl_group_moments_args){.n = v->r1 - v->r0,
                                              .values = values,
                                              .cell = v->cell,
                                              .mask = v->mask,
                                              .ncells = p->ncells,
                                              .out = acc};
        SL_CALL(sl_kernel_run(p->b, SL_OP_GROUP_MOMENTS, &args));
        for (int64_t c = 0; c < p->ncells; c++) {
            double *r;
            if (acc[c].n_present == 0 && acc[c].n_missing == 0)
                continue;
            SL_CALL(records_reserve(&th->rec, 1));
            r = th->rec.v + th->rec.count * SL_MOMENT_RECORD;
            r[0] = (double)p->fr->chunk_index[v->k];
            r[1] = (double)(j * p->ncells + c);
            r[2] = (double)acc[c].n_present;
            r[3] = (double)acc[c].n_missing;
            r[4] = acc[c].sum;
            r[5] = acc[c].mean;
            r[6] = acc[c].m2;
            th->rec.count++;
            memset(&acc[c], 0, sizeof acc[c]);
        }
        if (j == 0 && th->dom)
            SL_CALL(sl_dominance_add_rows(values, v->cell, v->mask, v->r1 - v->r0, p->ncells,
                                          th->dom));
    }
cleanup:
    return st;
}

sl_status sl_moments_by_chunk(struct sl_backend *b, const struct sl_frame *fr,
                              const struct sl_grouping *g, const uint8_t *mask,
                              const struct sl_measure *m, int nmeas, struct sl_dominance *dom,
                              struct sl_moment_records *rec)
{
    sl_status st = SL_OK;
    int nt = sl_chunk_threads(b), convert = 0;
    size_t rows = (size_t)sl_frame_max_chunk_rows(fr);
    struct moments_pass p = {b, fr, m, nmeas, g->ncells, NULL};

    for (int j = 0; j < nmeas; j++)
        convert |= m[j].type != SL_COL_REAL;
    p.th = sl_calloc((size_t)nt, sizeof *p.th);
    SL_CHECK(p.th, SL_ERR_NOMEM, "out of memory");
    for (int t = 0; t < nt; t++) {
        if (convert)
            SL_CALL(sl_secbuf_create(rows * sizeof(double), &p.th[t].scratch));
        SL_CALL(sl_secbuf_create((size_t)g->ncells * sizeof(struct sl_moments), &p.th[t].accbuf));
        if (dom) {
            p.th[t].dom = sl_calloc((size_t)g->ncells, sizeof *p.th[t].dom);
            SL_CHECK(p.th[t].dom, SL_ERR_NOMEM, "out of memory");
        }
    }
    SL_CALL(sl_chunk_pass(b, fr, g, mask, moments_chunk, &p));
    for (int t = 0; t < nt; t++) {
        SL_CALL(records_reserve(rec, p.th[t].rec.count));
        if (p.th[t].rec.count)
            memcpy(rec->v + rec->count * SL_MOMENT_RECORD, p.th[t].rec.v,
                   (size_t)p.th[t].rec.count * SL_MOMENT_RECORD * sizeof(double));
        rec->count += p.th[t].rec.count;
        for (int64_t c = 0; dom && c < g->ncells; c++)
            sl_dominance_merge(&dom[c], &p.th[t].dom[c]);
    }
cleanup:
    for (int t = 0; p.th && t < nt; t++) {
        sl_secbuf_destroy(&p.th[t].scratch);
        sl_secbuf_destroy(&p.th[t].accbuf);
        sl_moment_records_clear(&p.th[t].rec);
        if (p.th[t].dom)
            sl_wipe(p.th[t].dom, (size_t)g->ncells * sizeof *p.th[t].dom);
        sl_free(p.th[t].dom);
    }
    sl_free(p.th);
    return st;
}

/* Per-thread counts of the counting pass. */
struct count_pass {
    struct sl_backend *b;
    int64_t ncells;
    int64_t **counts; /* [threads][ncells] */
};

static sl_status count_chunk(void *ctx, const struct sl_chunk_view *v)
{
    struct count_pass *p = ctx;
    struct sl_group_count_args args = {.n = v->r1 - v->r0,
                                       .cell = v->cell,
                                       .mask = v->mask,
                                       .ncells = p->ncells,
                                       .counts = p->counts[v->thread]};
    return sl_kernel_run(p->b, SL_OP_GROUP_COUNT, &args);
}

sl_status sl_count_by_chunk(struct sl_backend *b, const struct sl_frame *fr,
                            const struct sl_grouping *g, const uint8_t *mask, int64_t *counts)
{
    sl_status st = SL_OK;
    int nt = sl_chunk_threads(b);
    struct count_pass p = {b, g->ncells, NULL};

    p.counts = sl_calloc((size_t)nt, sizeof *p.counts);
    SL_CHECK(p.counts, SL_ERR_NOMEM, "out of memory");
    for (int t = 0; t < nt; t++) {
        p.counts[t] = sl_calloc((size_t)g->ncells, sizeof **p.counts);
        SL_CHECK(p.counts[t], SL_ERR_NOMEM, "out of memory");
    }
    SL_CALL(sl_chunk_pass(b, fr, g, mask, count_chunk, &p));
    for (int t = 0; t < nt; t++)
        for (int64_t c = 0; c < g->ncells; c++)
            counts[c] += p.counts[t][c];
cleanup:
    for (int t = 0; p.counts && t < nt; t++)
        sl_free(p.counts[t]);
    sl_free(p.counts);
    return st;
}

static int record_order(const void *a, const void *b)
{
    const double *x = a, *y = b;
    if (x[0] != y[0])
        return x[0] < y[0] ? -1 : 1;
    if (x[1] != y[1])
        return x[1] < y[1] ? -1 : 1;
    return 0;
}

sl_status sl_moments_fold(double *rec, int64_t count, const struct sl_layout *lay,
                          int64_t nmeasures, struct sl_moments *out)
{
    sl_status st = SL_OK;
    int64_t targets[SL_LAYOUT_MAX_TARGETS], nslots = nmeasures * lay->nfull;
    struct sl_moments *full = NULL;

    qsort(rec, (size_t)count, SL_MOMENT_RECORD * sizeof *rec, record_order);
    full = sl_calloc((size_t)(nslots > 0 ? nslots : 1), sizeof *full);
    SL_CHECK(full, SL_ERR_NOMEM, "out of memory for %lld cell summaries", (long long)nslots);
    /* each full-grid cell over the chunks in order, then the cells into
     * their published targets in cell order */
    for (int64_t i = 0; i < count; i++) {
        const double *r = rec + i * SL_MOMENT_RECORD;
        int64_t slot = (int64_t)r[1];
        struct sl_moments part;
        SL_CHECK(r[1] >= 0 && slot < nslots, SL_ERR_INTERNAL,
                 "moment record for slot %lld outside %lld", (long long)slot, (long long)nslots);
        part = (struct sl_moments){.n_present = (int64_t)r[2],
                                   .n_missing = (int64_t)r[3],
                                   .sum = r[4],
                                   .mean = r[5],
                                   .m2 = r[6]};
        sl_moments_combine(&full[slot], &part);
    }
    for (int64_t slot = 0; slot < nslots; slot++) {
        int64_t meas = slot / lay->nfull;
        int k;
        if (full[slot].n_present == 0 && full[slot].n_missing == 0)
            continue;
        k = sl_layout_targets(lay, slot % lay->nfull, targets);
        for (int t = 0; t < k; t++)
            sl_moments_combine(&out[meas * lay->ncells + targets[t]], &full[slot]);
    }
cleanup:
    if (full)
        sl_wipe(full, (size_t)(nslots > 0 ? nslots : 1) * sizeof *full);
    sl_free(full);
    return st;
}

sl_status sl_moments_gather(const struct sl_reducer *r, const struct sl_moment_records *rec,
                            struct sl_moment_records *all)
{
    sl_status st = SL_OK;
    double *v = NULL;
    int64_t total = 0;

    sl_moment_records_clear(all);
    SL_CALL(r->allgather_f64(r->ctx, rec->v, rec->count * SL_MOMENT_RECORD, &v, &total));
    SL_CHECK(total % SL_MOMENT_RECORD == 0, SL_ERR_INTERNAL, "gathered moments are truncated");
    all->v = v;
    all->cap = total / SL_MOMENT_RECORD;
    all->count = all->cap;
    v = NULL;
cleanup:
    if (v)
        sl_wipe(v, (size_t)total * sizeof *v);
    sl_free(v);
    return st;
}

void sl_moments_cell_rows(const struct sl_moment_records *rec, int64_t slot0, int64_t ncells,
                          int64_t *n)
{
    for (int64_t i = 0; i < rec->count; i++) {
        const double *r = rec->v + i * SL_MOMENT_RECORD;
        int64_t c = (int64_t)r[1] - slot0;
        if (r[1] >= (double)slot0 && c < ncells)
            n[c] += (int64_t)r[2] + (int64_t)r[3];
    }
}

/* ---- exact order statistics ---- */

/* s->v: the values of m, read in place or converted into s->conv. */
static sl_status values_fill(struct sl_cell_values *s, const struct sl_frame *fr,
                             const struct sl_measure *m)
{
    sl_status st = SL_OK;
    if (m->type != SL_COL_REAL)
        SL_CALL(sl_secpool_get((size_t)fr->nrows * sizeof(double), &s->conv));
    SL_CALL(sl_measure_rows(m, fr, 0, fr->nrows, s->conv ? s->conv->data : NULL, &s->v));
cleanup:
    return st;
}

sl_status sl_cell_values_create(const struct sl_frame *fr, const struct sl_grouping *g,
                                const uint8_t *mask, const struct sl_measure *m,
                                struct sl_cell_values **out)
{
    sl_status st = SL_OK;
    struct sl_cell_values *s = NULL;

    *out = NULL;
    s = sl_calloc(1, sizeof *s);
    SL_CHECK(s, SL_ERR_NOMEM, "out of memory");
    s->nrows = fr->nrows;
    s->ncells = g->ncells;
    if (g->ndims > 0) {
        SL_CALL(sl_secpool_get((size_t)fr->nrows * sizeof(int32_t), &s->cells));
        SL_CALL(sl_grouping_cells_frame(g, fr, mask, s->cells->data));
        s->cell = s->cells->data;
    } else {
        s->mask = mask;
    }
    if (m)
        SL_CALL(values_fill(s, fr, m));
    *out = s;
    s = NULL;
cleanup:
    sl_cell_values_destroy(&s);
    return st;
}

sl_status sl_cell_values_with(const struct sl_cell_values *cells, const struct sl_frame *fr,
                              const struct sl_measure *m, struct sl_cell_values **out)
{
    sl_status st = SL_OK;
    struct sl_cell_values *s = NULL;

    *out = NULL;
    SL_CHECK(cells->nrows == fr->nrows, SL_ERR_INTERNAL,
             "cell index of %lld rows used with a frame of %lld", (long long)cells->nrows,
             (long long)fr->nrows);
    s = sl_calloc(1, sizeof *s);
    SL_CHECK(s, SL_ERR_NOMEM, "out of memory");
    s->nrows = cells->nrows;
    s->ncells = cells->ncells;
    s->cell = cells->cell;
    s->mask = cells->mask;
    SL_CALL(values_fill(s, fr, m));
    *out = s;
    s = NULL;
cleanup:
    sl_cell_values_destroy(&s);
    return st;
}

void sl_cell_values_destroy(struct sl_cell_values **sp)
{
    struct sl_cell_values *s;
    if (!sp || !*sp)
        return;
    s = *sp;
    sl_secpool_put(&s->conv);
    sl_secpool_put(&s->cells);
    sl_free(s);
    *sp = NULL;
}

void sl_type7_order(int64_t n, double prob, int64_t *lo, int64_t *hi)
{
    double index = 1 + (double)(n - 1) * prob;
    *lo = (int64_t)floor(index) - 1;
    *hi = (int64_t)ceil(index) - 1;
}

double sl_type7_value(int64_t n, double prob, double x_lo, double x_hi)
{
    double index = 1 + (double)(n - 1) * prob, lo = floor(index), q = x_lo;
    if (index > lo && x_hi != q) {
        double h = index - lo;
        q = (1 - h) * q + h * x_hi;
    }
    return q;
}

sl_status sl_quantiles_exact(const struct sl_reducer *r, const struct sl_cell_values *s,
                             const struct sl_layout *lay, const int64_t *npresent, int nprobs,
                             const double *probs, const struct sl_row_visitor *visit,
                             double *out)
{
    sl_status st = SL_OK;
    int64_t *mstart = NULL, *members = NULL, *qcell = NULL, *qrank = NULL, *qcount = NULL;
    int64_t nq = 0;
    int64_t cap = 2 * lay->ncells * nprobs;
    double *x = NULL;

    SL_CALL(sl_layout_members(lay, &mstart, &members));
    qcell = sl_malloc((size_t)(cap > 0 ? cap : 1) * sizeof *qcell);
    qrank = sl_malloc((size_t)(cap > 0 ? cap : 1) * sizeof *qrank);
    qcount = sl_malloc((size_t)(cap > 0 ? cap : 1) * sizeof *qcount);
    x = sl_malloc((size_t)(cap > 0 ? cap : 1) * sizeof *x);
    SL_CHECK(qcell && qrank && qcount && x, SL_ERR_NOMEM, "out of memory");
    for (int64_t p = 0; p < lay->ncells; p++)
        for (int j = 0; j < nprobs && npresent[p] > 0; j++) {
            sl_type7_order(npresent[p], probs[j], &qrank[nq], &qrank[nq + 1]);
            qcell[nq] = qcell[nq + 1] = p;
            qcount[nq] = qcount[nq + 1] = npresent[p];
            nq += 2;
        }
    SL_CALL(sl_select_exact(r, s, mstart, members, nq, qcell, qrank, qcount, visit, x));
    nq = 0;
    for (int64_t p = 0; p < lay->ncells; p++)
        for (int j = 0; j < nprobs; j++) {
            if (npresent[p] == 0) {
                out[p * nprobs + j] = NAN;
                continue;
            }
            out[p * nprobs + j] = sl_type7_value(npresent[p], probs[j], x[nq], x[nq + 1]);
            nq += 2;
        }
cleanup:
    if (x)
        sl_wipe(x, (size_t)(cap > 0 ? cap : 1) * sizeof *x);
    sl_free(x);
    sl_free(mstart);
    sl_free(members);
    sl_free(qcell);
    sl_free(qrank);
    sl_free(qcount);
    return st;
}

sl_status sl_count_extremes(const struct sl_reducer *r, const struct sl_cell_values *s,
                            const struct sl_layout *lay, const double *lo, const double *hi,
                            int64_t *at_lo, int64_t *at_hi)
{
    sl_status st = SL_OK;
    int64_t *tstart = NULL, *tlist = NULL, *part = NULL, *both = NULL, bad = -1;
    int64_t np = lay->ncells;
    int nw = sl_max_threads();
    /* each worker's counters (lo's, then hi's) are followed by a cache line
     * of slack, so no line holds two workers' counters */
    int64_t per = (2 * np + 15) / 8 * 8;
    double *near = NULL; /* [2][nfull]: a row of cell c can equal some lo only
                          * at or below near[c], some hi only at or above
                          * near[nfull + c] */

    /* The published cells of every full-grid cell, as a list. */
    tstart = sl_calloc((size_t)lay->nfull + 1, sizeof *tstart);
    tlist = sl_malloc((size_t)lay->nfull * SL_LAYOUT_MAX_TARGETS * sizeof *tlist);
    part = sl_calloc((size_t)nw * (size_t)per, sizeof *part);
    both = sl_malloc((size_t)(2 * np + 1) * sizeof *both);
    near = sl_malloc((size_t)(2 * lay->nfull + 1) * sizeof *near);
    SL_CHECK(tstart && tlist && part && both && near, SL_ERR_NOMEM, "out of memory");
    for (int64_t c = 0; c < lay->nfull; c++) {
        tstart[c + 1] = tstart[c] + sl_layout_targets(lay, c, tlist + tstart[c]);
        near[c] = -INFINITY;
        near[lay->nfull + c] = INFINITY;
        for (int64_t j = tstart[c]; j < tstart[c + 1]; j++) {
            double l = lo[tlist[j]], h = hi[tlist[j]];
            near[c] = l > near[c] ? l : near[c];
            near[lay->nfull + c] = h < near[lay->nfull + c] ? h : near[lay->nfull + c];
        }
    }
    SL_OMP(parallel num_threads(nw) reduction(max : bad))
    for (int t = sl_thread_num(); t < nw; t += sl_num_threads()) {
        int64_t *cnt = part + (int64_t)t * per;
        for (int64_t i = s->nrows * t / nw; i < s->nrows * (t + 1) / nw; i++) {
            int64_t c = s->cell ? s->cell[i] : (s->mask && !s->mask[i] ? -1 : 0);
            double v = s->v[i];
            if (c < 0 || c >= lay->nfull) {
                if (c < -1 || c >= lay->nfull)
                    bad = i > bad ? i : bad;
                continue;
            }
            if (!(v <= near[c]) && !(v >= near[lay->nfull + c]))
                continue;
            for (int64_t j = tstart[c]; j < tstart[c + 1]; j++) {
                cnt[tlist[j]] += v == lo[tlist[j]];
                cnt[np + tlist[j]] += v == hi[tlist[j]];
            }
        }
    }
    SL_CHECK(bad < 0, SL_ERR_INTERNAL, "row %lld has a cell outside the grid", (long long)bad);
    for (int64_t p = 0; p < 2 * np; p++) {
        both[p] = 0;
        for (int t = 0; t < nw; t++)
            both[p] += part[(int64_t)t * per + p];
    }
    SL_CALL(r->sum_i64(r->ctx, both, 2 * np));
    memcpy(at_lo, both, (size_t)np * sizeof *at_lo);
    memcpy(at_hi, both + np, (size_t)np * sizeof *at_hi);
cleanup:
    sl_free(tstart);
    sl_free(tlist);
    sl_free(part);
    sl_free(both);
    if (near)
        sl_wipe(near, (size_t)(2 * lay->nfull + 1) * sizeof *near);
    sl_free(near);
    return st;
}
