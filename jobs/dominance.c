/*
 * dominance.c: fixed-point dominance evidence per cell (see dominance.h).
 */
#include "jobs/dominance.h"

#include <math.h>
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

/* Partial sums of one cell over a block of rows. The 128-bit total is kept
 * as the sums of the contributions' low 32 bits (unsigned) and high 32 bits
 * (signed), which cannot overflow within ROWS_BLOCK rows, so a row costs
 * two additions and no carry. Rows i go to copy i % DOM_COPIES, so that runs
 * of rows in one cell do not wait on each other's stores. */
struct dom_part {
    uint64_t lo;
    int64_t hi;
    int64_t count;
    int64_t neg; /* set by the rare second look at a block with negatives */
};

#define DOM_COPIES 4
#define ROWS_BLOCK ((int64_t)1 << 24)
#define TOP_EMPTY INT64_MIN /* never a contribution: they saturate at -INT64_MAX */

/* Adds to out a block's evidence of one cell: its total, the 128-bit
 * total_hi * 2^64 + total_lo, and its largest contributions (TOP_EMPTY where
 * fewer). */
static void fold_block(struct sl_dominance *out, int64_t total_hi, uint64_t total_lo,
                       int64_t count, int negative, const int64_t *top)
{
    struct sl_dominance b;
    if (count == 0)
        return;
    memset(&b, 0, sizeof b);
    b.ncontrib = count;
    b.has_negative = negative;
    b.total_hi = total_hi;
    b.total_lo = total_lo;
    for (int i = 0; i < SL_DOM_TOP; i++)
        b.top[i] = top[i] == TOP_EMPTY ? 0 : top[i];
    sl_dominance_merge(out, &b);
}

/* Folds the parts and candidate tops of a block into out, resetting them. */
static void flush_parts(struct dom_part *part, int64_t *top, int64_t ncells,
                        struct sl_dominance *out)
{
    for (int64_t c = 0; c < ncells; c++) {
        uint64_t lo = 0;
        int64_t hi = 0, count = 0;
        int negative = 0;
        for (int k = 0; k < DOM_COPIES; k++) {
            struct dom_part *p = &part[k * ncells + c];
            lo += p->lo;
            hi += p->hi;
            count += p->count;
            negative |= p->neg != 0;
            memset(p, 0, sizeof *p);
        }
        /* total = hi * 2^32 + lo */
        fold_block(&out[c], (hi >> 32) + (((uint64_t)hi << 32) + lo < lo),
                   ((uint64_t)hi << 32) + lo, count, negative, top + c * SL_DOM_TOP);
        for (int i = 0; i < SL_DOM_TOP; i++)
            top[c * SL_DOM_TOP + i] = TOP_EMPTY;
    }
}

/* A grid of at most SL_FIXED_CELLS cells: the kernel's per-cell sums. */
static sl_status add_rows_few(const double *v, const int32_t *cell, const uint8_t *mask,
                              int64_t n, int64_t ncells, struct sl_dominance *out)
{
    sl_status st = SL_OK;
    struct sl_fixed_cells f;
    int64_t bad;

    memset(&f, 0, sizeof f);
    f.scale = (double)((int64_t)1 << SL_FIXED_SHIFT);
    f.ncells = (int)ncells;
    for (int64_t c = 0; c < ncells; c++)
        for (int i = 0; i < SL_FIXED_TOP; i++)
            f.top[c][i] = TOP_EMPTY;
    bad = sl_fixed_cells_rows(&f, v, cell, mask, n);
    SL_CHECK(bad < 0, SL_ERR_INTERNAL, "row %lld has cell %lld of %lld", (long long)bad,
             (long long)(cell ? cell[bad] : 0), (long long)ncells);
    for (int64_t c = 0; c < ncells; c++)
        fold_block(&out[c], f.total_hi[c], f.total_lo[c], f.count[c], f.negative[c] != 0,
                   f.top[c]);
cleanup:
    sl_wipe(&f, sizeof f);
    return st;
}

_Static_assert(SL_FIXED_TOP == SL_DOM_TOP, "the kernel keeps as many largest values as evidence");

sl_status sl_dominance_add_rows(const double *v, const int32_t *cell, const uint8_t *mask,
                                int64_t n, int64_t ncells, struct sl_dominance *out)
{
    sl_status st = SL_OK;
    struct dom_part *part = NULL;
    int64_t *top = NULL;

    if (ncells >= 1 && ncells <= SL_FIXED_CELLS)
        return add_rows_few(v, cell, mask, n, ncells, out);
    part = sl_calloc((size_t)(DOM_COPIES * ncells), sizeof *part);
    top = sl_malloc((size_t)(SL_DOM_TOP * ncells) * sizeof *top);
    SL_CHECK(part && top, SL_ERR_NOMEM, "out of memory for %lld cells", (long long)ncells);
    for (int64_t i = 0; i < SL_DOM_TOP * ncells; i++)
        top[i] = TOP_EMPTY;
    for (int64_t b0 = 0; b0 < n; b0 += ROWS_BLOCK) {
        int64_t b1 = n - b0 < ROWS_BLOCK ? n : b0 + ROWS_BLOCK;
        uint64_t any_negative = 0;
        for (int64_t r = b0; r < b1; r++) {
            int64_t c = cell ? cell[r] : (mask && !mask[r] ? -1 : 0), x;
            struct dom_part *p;
            int64_t *t;
            if (c < 0 || isnan(v[r])) {
                SL_CHECK(c >= -1, SL_ERR_INTERNAL, "row %lld has cell %lld", (long long)r,
                         (long long)c);
                continue;
            }
            SL_CHECK(c < ncells, SL_ERR_INTERNAL, "row %lld has cell %lld of %lld",
                     (long long)r, (long long)c, (long long)ncells);
            x = sl_fixed_from_double(v[r]);
            p = &part[(r & (DOM_COPIES - 1)) * ncells + c];
            p->lo += (uint64_t)x & 0xffffffffu;
            p->hi += x >> 32;
            p->count++;
            any_negative |= (uint64_t)x;
            t = &top[c * SL_DOM_TOP];
            if (x > t[SL_DOM_TOP - 1]) {
                int i = SL_DOM_TOP - 1;
                for (; i > 0 && t[i - 1] < x; i--)
                    t[i] = t[i - 1];
                t[i] = x;
            }
        }
        /* Negative contributions are rare: find their cells only when the
         * block has one. */
        for (int64_t r = b0; any_negative >> 63 && r < b1; r++) {
            int64_t c = cell ? cell[r] : (mask && !mask[r] ? -1 : 0);
            if (c >= 0 && !isnan(v[r]) && sl_fixed_from_double(v[r]) < 0)
                part[c].neg = 1;
        }
        flush_parts(part, top, ncells, out);
    }
cleanup:
    if (part)
        sl_wipe(part, (size_t)(DOM_COPIES * ncells) * sizeof *part);
    if (top)
        sl_wipe(top, (size_t)(SL_DOM_TOP * ncells) * sizeof *top);
    sl_free(part);
    sl_free(top);
    return st;
}

sl_status sl_dominance_from_values(const struct sl_cell_values *s, struct sl_dominance *out)
{
    sl_status st = SL_OK;
    int nw = sl_max_threads();
    struct sl_dominance *part = NULL;
    sl_status wst = SL_OK;
    char msg[256] = "";

    part = sl_calloc((size_t)nw * (size_t)s->ncells, sizeof *part);
    SL_CHECK(part, SL_ERR_NOMEM, "out of memory for %lld cells", (long long)s->ncells);
    /* Equal row slices, one per logical worker; the evidence of a cell is
     * integer sums and the largest values, the same in any split. */
    SL_OMP(parallel num_threads(nw))
    for (int t = sl_thread_num(); t < nw; t += sl_num_threads()) {
        int64_t r0 = s->nrows * t / nw, r1 = s->nrows * (t + 1) / nw;
        sl_status e = sl_dominance_add_rows(s->v + r0, s->cell ? s->cell + r0 : NULL,
                                            s->mask ? s->mask + r0 : NULL, r1 - r0, s->ncells,
                                            part + (int64_t)t * s->ncells);
        if (e != SL_OK)
            SL_OMP(critical(sl_dominance_from_values))
            {
                if (wst == SL_OK) {
                    wst = e;
                    snprintf(msg, sizeof msg, "%s", sl_error_message());
                }
            }
    }
    SL_CHECK(wst == SL_OK, wst, "%s", msg);
    for (int t = 0; t < nw; t++)
        for (int64_t c = 0; c < s->ncells; c++)
            sl_dominance_merge(&out[c], &part[(int64_t)t * s->ncells + c]);
cleanup:
    if (part)
        sl_wipe(part, (size_t)nw * (size_t)s->ncells * sizeof *part);
    sl_free(part);
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
