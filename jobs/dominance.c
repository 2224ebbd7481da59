/*
 * dominance.c: fixed-point dominance evidence per cell (see dominance.h).
 */
#include "jobs/dominance.h"

#include <stdio.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/parallel.h"

/* Doubles per gathered cell: cell, ncontrib, has_negative, then total_hi,
 * total_lo and top[0..SL_DOM_TOP) as two exact 32-bit halves each. */
#define DOM_RECORD (3 + 2 * (2 + SL_DOM_TOP))

static void add128(struct sl_dominance *d, int64_t hi, uint64_t lo)
{
    uint64_t sum = d->total_lo + lo;
    uint64_t carry = sum < lo;
    d->total_hi = (int64_t)((uint64_t)d->total_hi + (uint64_t)hi + carry);
    d->total_lo = sum;
}

static int64_t kept_of(const struct sl_dominance *d)
{
    return d->ncontrib < SL_DOM_TOP ? d->ncontrib : SL_DOM_TOP;
}

/* Inserts x among the kept largest, which hold `kept` values. */
static void top_insert(int64_t *top, int64_t kept, int64_t x)
{
    int64_t i;
    if (kept == SL_DOM_TOP && x <= top[SL_DOM_TOP - 1])
        return;
    i = kept < SL_DOM_TOP ? kept : SL_DOM_TOP - 1;
    for (; i > 0 && top[i - 1] < x; i--)
        top[i] = top[i - 1];
    top[i] = x;
}

void sl_dominance_add(struct sl_dominance *d, int64_t x)
{
    top_insert(d->top, kept_of(d), x);
    d->ncontrib++;
    d->has_negative |= x < 0;
    add128(d, x < 0 ? -1 : 0, (uint64_t)x);
}

void sl_dominance_merge(struct sl_dominance *acc, const struct sl_dominance *b)
{
    int64_t kept = kept_of(acc), kb = kept_of(b);
    for (int64_t i = 0; i < kb; i++) {
        top_insert(acc->top, kept, b->top[i]);
        if (kept < SL_DOM_TOP)
            kept++;
    }
    acc->ncontrib += b->ncontrib;
    acc->has_negative |= b->has_negative;
    add128(acc, b->total_hi, b->total_lo);
}

#define TOP_EMPTY INT64_MIN /* never a contribution: they saturate at -INT64_MAX */

/* Adds to out the kernel's evidence of one cell: its total, the 128-bit
 * total_hi * 2^64 + total_lo, its count and negatives. Its largest
 * contributions started as out's and took the new ones in; they replace
 * out's (TOP_EMPTY where fewer). */
static void fold_cell(struct sl_dominance *out, int64_t total_hi, uint64_t total_lo,
                      int64_t count, int negative, const int64_t *top)
{
    add128(out, total_hi, total_lo);
    out->ncontrib += count;
    out->has_negative |= negative;
    for (int i = 0; i < SL_DOM_TOP; i++)
        out->top[i] = top[i] == TOP_EMPTY ? 0 : top[i];
}

_Static_assert(SL_FIXED_TOP == SL_DOM_TOP, "the kernel keeps as many largest values as evidence");

sl_status sl_dominance_add_rows(const double *v, const int32_t *cell, const uint8_t *mask,
                                int64_t n, int64_t ncells, struct sl_dominance *out)
{
    sl_status st = SL_OK;
    struct sl_fixed_cells f;
    int64_t *buf = NULL, words = 0, bad;

    if (n == 0)
        return SL_OK;
    SL_CHECK(ncells >= 1, SL_ERR_INTERNAL, "%lld rows and no cells", (long long)n);
    /* totals (high, low), counts, negatives, largest, the kernel's scratch */
    words = (4 + SL_FIXED_TOP) * ncells + SL_FIXED_SCRATCH(ncells);
    buf = sl_calloc((size_t)words, sizeof *buf);
    SL_CHECK(buf, SL_ERR_NOMEM, "out of memory for %lld cells", (long long)ncells);
    f = (struct sl_fixed_cells){.scale = (double)((int64_t)1 << SL_FIXED_SHIFT),
                                .ncells = ncells,
                                .total_hi = buf,
                                .total_lo = (uint64_t *)(buf + ncells),
                                .count = buf + 2 * ncells,
                                .negative = buf + 3 * ncells,
                                .top = buf + 4 * ncells,
                                .scratch = buf + (4 + SL_FIXED_TOP) * ncells};
    /* the kernel's largest start as out's, so that few rows beat them */
    for (int64_t c = 0; c < ncells; c++)
        for (int64_t i = 0; i < SL_FIXED_TOP; i++)
            f.top[c * SL_FIXED_TOP + i] = i < kept_of(&out[c]) ? out[c].top[i] : TOP_EMPTY;
    bad = sl_fixed_cells_rows(&f, v, cell, mask, n);
    SL_CHECK(bad < 0, SL_ERR_INTERNAL, "row %lld has cell %lld of %lld", (long long)bad,
             (long long)(cell ? cell[bad] : 0), (long long)ncells);
    for (int64_t c = 0; c < ncells; c++)
        fold_cell(&out[c], f.total_hi[c], f.total_lo[c], f.count[c], f.negative[c] != 0,
                  f.top + c * SL_FIXED_TOP);
cleanup:
    if (buf)
        sl_wipe(buf, (size_t)words * sizeof *buf);
    sl_free(buf);
    return st;
}

struct sl_dominance_pass {
    const struct sl_cell_values *s;
    int nw;
    struct sl_dominance *part; /* [nw][ncells] */
    sl_status st;              /* the first failure of a worker */
    char msg[256];
};

static void pass_rows(void *ctx, int worker, int64_t r0, int64_t r1)
{
    struct sl_dominance_pass *p = ctx;
    const struct sl_cell_values *s = p->s;
    sl_status e = sl_dominance_add_rows(s->v + r0, s->cell ? s->cell + r0 : NULL,
                                        s->mask ? s->mask + r0 : NULL, r1 - r0, s->ncells,
                                        p->part + (int64_t)worker * s->ncells);
    if (e != SL_OK)
        SL_OMP(critical(sl_dominance_pass))
        {
            if (p->st == SL_OK) {
                p->st = e;
                snprintf(p->msg, sizeof p->msg, "%s", sl_error_message());
            }
        }
}

sl_status sl_dominance_pass_begin(const struct sl_cell_values *s, struct sl_dominance_pass **dp,
                                  struct sl_row_visitor *visit)
{
    sl_status st = SL_OK;
    struct sl_dominance_pass *p = sl_calloc(1, sizeof *p);

    *dp = NULL;
    SL_CHECK(p, SL_ERR_NOMEM, "out of memory");
    p->s = s;
    p->nw = sl_max_threads();
    p->part = sl_calloc((size_t)p->nw * (size_t)s->ncells, sizeof *p->part);
    SL_CHECK(p->part, SL_ERR_NOMEM, "out of memory for %lld cells", (long long)s->ncells);
    *visit = (struct sl_row_visitor){pass_rows, p};
    *dp = p;
    p = NULL;
cleanup:
    if (p)
        sl_free(p->part);
    sl_free(p);
    return st;
}

sl_status sl_dominance_pass_end(struct sl_dominance_pass **dp, struct sl_dominance *out)
{
    sl_status st = SL_OK;
    struct sl_dominance_pass *p = *dp;
    int64_t nc;

    if (!p)
        return SL_OK;
    *dp = NULL;
    nc = p->s->ncells;
    SL_CHECK(p->st == SL_OK, p->st, "%s", p->msg);
    /* the evidence of a cell is integer sums and the largest values, the
     * same in any split of the rows */
    for (int t = 0; t < p->nw; t++)
        for (int64_t c = 0; c < nc; c++)
            sl_dominance_merge(&out[c], &p->part[(int64_t)t * nc + c]);
cleanup:
    sl_wipe(p->part, (size_t)p->nw * (size_t)nc * sizeof *p->part);
    sl_free(p->part);
    sl_free(p);
    return st;
}

sl_status sl_dominance_from_values(const struct sl_cell_values *s, struct sl_dominance *out)
{
    sl_status st = SL_OK;
    struct sl_dominance_pass *dp = NULL;
    struct sl_row_visitor visit;

    SL_CALL(sl_dominance_pass_begin(s, &dp, &visit));
    sl_visit_rows(s->nrows, &visit);
    SL_CALL(sl_dominance_pass_end(&dp, out));
cleanup:
    return st;
}

static void put_u64(double *dst, uint64_t u)
{
    dst[0] = (double)(u >> 32);
    dst[1] = (double)(u & 0xffffffffu);
}

static uint64_t get_u64(const double *src)
{
    return ((uint64_t)src[0] << 32) | (uint64_t)src[1];
}

sl_status sl_dominance_reduce(const struct sl_reducer *r, const struct sl_dominance *local,
                              const struct sl_layout *lay, struct sl_dominance *out)
{
    sl_status st = SL_OK;
    double *packed = NULL, *all = NULL;
    struct sl_dominance *full = NULL;
    int64_t nloc = 0, cap = 1, total = 0, targets[SL_LAYOUT_MAX_TARGETS];

    for (int64_t c = 0; c < lay->nfull; c++)
        cap += local[c].ncontrib > 0;
    packed = sl_malloc((size_t)cap * DOM_RECORD * sizeof *packed);
    full = sl_calloc((size_t)lay->nfull, sizeof *full);
    SL_CHECK(packed && full, SL_ERR_NOMEM, "out of memory for dominance evidence");
    for (int64_t c = 0; c < lay->nfull; c++) {
        double *p = packed + nloc * DOM_RECORD;
        if (local[c].ncontrib == 0)
            continue;
        p[0] = (double)c;
        p[1] = (double)local[c].ncontrib;
        p[2] = local[c].has_negative ? 1 : 0;
        put_u64(p + 3, (uint64_t)local[c].total_hi);
        put_u64(p + 5, local[c].total_lo);
        for (int i = 0; i < SL_DOM_TOP; i++)
            put_u64(p + 7 + 2 * i, (uint64_t)local[c].top[i]);
        nloc++;
    }
    SL_CALL(r->allgather_f64(r->ctx, packed, nloc * DOM_RECORD, &all, &total));
    SL_CHECK(total % DOM_RECORD == 0, SL_ERR_INTERNAL, "gathered dominance evidence is truncated");
    for (int64_t i = 0; i < total / DOM_RECORD; i++) {
        const double *p = all + i * DOM_RECORD;
        struct sl_dominance d;
        int64_t c = (int64_t)p[0];
        SL_CHECK(p[0] >= 0 && c < lay->nfull, SL_ERR_INTERNAL, "dominance evidence for cell %lld",
                 (long long)c);
        d.ncontrib = (int64_t)p[1];
        d.has_negative = p[2] != 0;
        d.total_hi = (int64_t)get_u64(p + 3);
        d.total_lo = get_u64(p + 5);
        for (int j = 0; j < SL_DOM_TOP; j++)
            d.top[j] = (int64_t)get_u64(p + 7 + 2 * j);
        sl_dominance_merge(&full[c], &d);
    }
    for (int64_t c = 0; c < lay->nfull; c++) {
        int k;
        if (full[c].ncontrib == 0)
            continue;
        k = sl_layout_targets(lay, c, targets);
        for (int t = 0; t < k; t++)
            sl_dominance_merge(&out[targets[t]], &full[c]);
    }
cleanup:
    if (packed)
        sl_wipe(packed, (size_t)cap * DOM_RECORD * sizeof *packed);
    if (all)
        sl_wipe(all, (size_t)total * sizeof *all);
    if (full)
        sl_wipe(full, (size_t)lay->nfull * sizeof *full);
    sl_free(packed);
    sl_free(all);
    sl_free(full);
    return st;
}
