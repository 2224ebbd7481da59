/*
 * fast_group_moments.c: threaded grouped moments (SL_OP_GROUP_MOMENTS).
 *
 * Rows are cut into segments of segment_rows(ncells) rows (SL_SEGMENT_ROWS,
 * more when there are many cells, so that merging the segment summaries
 * stays cheap next to reading the rows). A thread summarises a segment per
 * cell in two passes (sums, then squared deviations from the segment mean;
 * the segment stays in cache for the second pass), with the row selection
 * resolved up front into per-row slots so that the row loops do not branch
 * on it, and leaner loops for the usual segment without missing values.
 * With at most SL_CELL_SLOTS slots (describe by sex) both passes run in
 * vector lanes instead (cell_lanes.c): row i of the segment to lane i mod 8
 * of every slot under a compare mask, the lanes folded in a fixed order.
 * Segments run in waves; after each wave their summaries are merged into
 * the chunk's in segment order with sl_moments_combine, so the result does
 * not depend on the thread count. Only cells a segment touches are merged
 * and reset, so the cost does not grow with the number of cells.
 */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "engine/core/secbuf.h"
#include "kernels/cpu/cpu_impl.h"

/* Memory for the segment summaries of one wave. */
#define WAVE_BYTES (16 * 1024 * 1024)

/* Accumulators of one cell within a segment. `counts` packs the kept rows
 * (low 32 bits) and the present values (high 32 bits) so that a row updates
 * one counter. */
struct slot_acc {
    double sum, mean, m2;
    uint64_t counts;
};

/* Per-thread scratch of one segment. Slot k = cell + 1 holds a cell, slot 0
 * the dropped rows, so the row loops need no branches on the selection.
 * With few slots there are COPIES interleaved sets of them (row i updates
 * set i mod COPIES), so that runs of rows in one cell do not wait on each
 * other's stores; the sets are folded in a fixed order. */
struct seg_acc {
    struct sl_secbuf *mem;
    struct slot_acc *slot; /* [copies * (ncells + 1)], all zero between segments */
    int32_t *touched;      /* slots seen in the segment */
    uint32_t *row_slot;    /* [segment_rows] slot of each row */
    int64_t copies;
};

/* With at most this many slots: COPIES sets, and the touched slots are found
 * by a scan after the row loop instead of a test in it. */
#define SCAN_SLOTS 1024
#define COPIES 4

/* Rows per segment: at least 8 rows per cell, at most 2^20. Depends on the
 * number of cells only, so the results stay independent of the threads. */
static int64_t segment_rows(int64_t ncells)
{
    int64_t rows = SL_SEGMENT_ROWS;
    while (rows < 8 * ncells && rows < (INT64_C(1) << 20))
        rows *= 2;
    return rows;
}

static sl_status seg_acc_create(int64_t ncells, struct seg_acc *s)
{
    sl_status st = SL_OK;
    size_t ns = (size_t)ncells + 1;
    size_t rows = (size_t)segment_rows(ncells), nt = ns < rows + 1 ? ns : rows + 1;
    s->copies = ns <= SCAN_SLOTS ? COPIES : 1;
    SL_CALL(sl_secpool_get((size_t)s->copies * ns * sizeof(struct slot_acc) +
                                 (nt + rows) * sizeof(uint32_t),
                             &s->mem));
    s->slot = s->mem->data;
    s->touched = (int32_t *)(s->slot + (size_t)s->copies * ns);
    s->row_slot = (uint32_t *)(s->touched + nt);
cleanup:
    return st;
}

/* x when keep is 1, +0.0 when it is 0 (also for a NaN x), without a branch. */
static inline double keep_or_zero(uint64_t keep, double x)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    bits &= -keep;
    memcpy(&x, &bits, sizeof bits);
    return x;
}

static inline void add_value(struct slot_acc *c, double x, int has_nan)
{
    if (has_nan) {
        uint64_t present = x == x;
        c->counts += 1 + (present << 32);
        c->sum += keep_or_zero(present, x);
    } else {
        c->counts += 1 + (UINT64_C(1) << 32);
        c->sum += x;
    }
}

static inline void add_square(struct slot_acc *c, double x, double mean, int has_nan)
{
    double d = x - mean;
    if (has_nan)
        d = keep_or_zero(x == x, d);
    c->m2 += d * d;
}

/* The two passes with COPIES interleaved sets; called with a constant
 * has_nan so that each case compiles to its own lean loop (the arithmetic
 * on present values is the same in both). `mean` is set by the caller
 * between the passes, in set 0. */
static inline void pass_sums(const double *v, const uint32_t *rs, int64_t n,
                             struct slot_acc *acc, int64_t ns, int has_nan)
{
    struct slot_acc *a1 = acc + ns, *a2 = a1 + ns, *a3 = a2 + ns;
    int64_t i = 0;
    for (; i + COPIES <= n; i += COPIES) {
        add_value(&acc[rs[i]], v[i], has_nan);
        add_value(&a1[rs[i + 1]], v[i + 1], has_nan);
        add_value(&a2[rs[i + 2]], v[i + 2], has_nan);
        add_value(&a3[rs[i + 3]], v[i + 3], has_nan);
    }
    for (; i < n; i++)
        add_value(&acc[(i % COPIES) * ns + rs[i]], v[i], has_nan);
}

static inline void pass_squares(const double *v, const uint32_t *rs, int64_t n,
                                struct slot_acc *acc, int64_t ns, int has_nan)
{
    struct slot_acc *a1 = acc + ns, *a2 = a1 + ns, *a3 = a2 + ns;
    int64_t i = 0;
    for (; i + COPIES <= n; i += COPIES) {
        add_square(&acc[rs[i]], v[i], acc[rs[i]].mean, has_nan);
        add_square(&a1[rs[i + 1]], v[i + 1], acc[rs[i + 1]].mean, has_nan);
        add_square(&a2[rs[i + 2]], v[i + 2], acc[rs[i + 2]].mean, has_nan);
        add_square(&a3[rs[i + 3]], v[i + 3], acc[rs[i + 3]].mean, has_nan);
    }
    for (; i < n; i++)
        add_square(&acc[(i % COPIES) * ns + rs[i]], v[i], acc[rs[i]].mean, has_nan);
}

/* The two passes with one set (many cells), tracking the touched slots. */
static inline int64_t pass_sums_tracked(const double *v, const uint32_t *rs, int64_t n,
                                        struct slot_acc *acc, int32_t *touched, int has_nan)
{
    int64_t nt = 0;
    for (int64_t i = 0; i < n; i++) {
        struct slot_acc *c = &acc[rs[i]];
        if (c->counts == 0)
            touched[nt++] = (int32_t)rs[i];
        add_value(c, v[i], has_nan);
    }
    return nt;
}

static inline void pass_squares_single(const double *v, const uint32_t *rs, int64_t n,
                                       struct slot_acc *acc, int has_nan)
{
    for (int64_t i = 0; i < n; i++)
        add_square(&acc[rs[i]], v[i], acc[rs[i]].mean, has_nan);
}

static void set_mean(struct slot_acc *c)
{
    uint64_t np = c->counts >> 32;
    c->mean = np > 0 ? c->sum / (double)np : 0.0;
}

/* A segment with at most SL_CELL_SLOTS slots, in vector lanes: per slot the
 * lane sums, the mean, the lane sums of squared deviations, each folded as
 * sl_lanes_sum does. The sums pass tests every value for NaN itself (it is
 * the first to read the values, so the test hides in its memory stalls);
 * the squares pass skips the test when every kept value was present. */
static void segment_lanes(const double *v, const uint32_t *rs, int64_t n, int ns,
                          struct sl_moments *out, int32_t *cells, int64_t *nout)
{
    int has_nan = 0;
    double sum[SL_CELL_SLOTS * SL_CELL_LANES] = {0}, m2[SL_CELL_SLOTS * SL_CELL_LANES] = {0};
    double mean[SL_CELL_SLOTS] = {0};
    int64_t kept[SL_CELL_SLOTS] = {0}, present[SL_CELL_SLOTS] = {0};

    sl_cpu_cell_sums()(v, rs, n, ns, 1, sum, kept, present);
    for (int k = 1; k < ns; k++) {
        has_nan |= present[k] != kept[k];
        if (present[k] > 0)
            mean[k] = sl_lanes_sum(sum + k * SL_CELL_LANES) / (double)present[k];
    }
    sl_cpu_cell_squares()(v, rs, n, ns, has_nan, mean, m2);
    for (int k = 1; k < ns; k++) {
        struct sl_moments *m = &out[*nout];
        if (kept[k] == 0)
            continue;
        cells[(*nout)++] = k - 1;
        m->n_present = present[k];
        m->n_missing = kept[k] - present[k];
        m->sum = sl_lanes_sum(sum + k * SL_CELL_LANES);
        m->mean = mean[k];
        m->m2 = sl_lanes_sum(m2 + k * SL_CELL_LANES);
    }
}

/* Summarises rows [r0, r1) into out[0 .. *nout) with their cells in
 * cells[]; returns the first row with a bad cell or -1. */
static int64_t segment(const struct sl_group_moments_args *a, int64_t r0, int64_t r1,
                       struct seg_acc *s, struct sl_moments *out, int32_t *cells, int64_t *nout)
{
    const double *v = a->values + r0;
    const uint32_t *rs = s->row_slot;
    struct slot_acc *acc = s->slot;
    int64_t n = r1 - r0, nt = 0, ns = a->ncells + 1;
    int has_nan;
    *nout = 0;
    if (sl_row_slots(a->cell, a->mask, a->ncells, r0, r1, s->row_slot)) {
        int64_t bad = sl_first_bad_cell(a->cell, a->mask, a->ncells, r0, r1);
        if (bad >= 0)
            return bad;
    }
    if (ns <= SL_CELL_SLOTS) {
        segment_lanes(v, rs, n, (int)ns, out, cells, nout);
        return -1;
    }
    has_nan = sl_any_nonfinite(v, n);
    if (s->copies == COPIES) {
        if (has_nan)
            pass_sums(v, rs, n, acc, ns, 1);
        else
            pass_sums(v, rs, n, acc, ns, 0);
        /* fold the sets into set 0: ((s0 + s1) + (s2 + s3)) */
        for (int64_t k = 0; k < ns; k++) {
            struct slot_acc *c0 = &acc[k], *c1 = c0 + ns, *c2 = c1 + ns, *c3 = c2 + ns;
            if ((c0->counts | c1->counts | c2->counts | c3->counts) == 0)
                continue;
            c0->counts += c1->counts + c2->counts + c3->counts;
            c0->sum = (c0->sum + c1->sum) + (c2->sum + c3->sum);
            set_mean(c0);
            s->touched[nt++] = (int32_t)k;
        }
        if (has_nan)
            pass_squares(v, rs, n, acc, ns, 1);
        else
            pass_squares(v, rs, n, acc, ns, 0);
        for (int64_t t = 0; t < nt; t++) {
            struct slot_acc *c0 = &acc[s->touched[t]], *c1 = c0 + ns, *c2 = c1 + ns, *c3 = c2 + ns;
            c0->m2 = (c0->m2 + c1->m2) + (c2->m2 + c3->m2);
        }
    } else {
        nt = has_nan ? pass_sums_tracked(v, rs, n, acc, s->touched, 1)
                     : pass_sums_tracked(v, rs, n, acc, s->touched, 0);
        for (int64_t t = 0; t < nt; t++)
            set_mean(&acc[s->touched[t]]);
        if (has_nan)
            pass_squares_single(v, rs, n, acc, 1);
        else
            pass_squares_single(v, rs, n, acc, 0);
    }
    for (int64_t t = 0; t < nt; t++) {
        int32_t k = s->touched[t];
        struct slot_acc *c = &acc[k];
        if (k > 0) {
            struct sl_moments *m = &out[*nout];
            cells[(*nout)++] = k - 1;
            m->n_present = (int64_t)(c->counts >> 32);
            m->n_missing = (int64_t)(c->counts & 0xffffffffu) - m->n_present;
            m->sum = c->sum;
            m->mean = c->mean;
            m->m2 = c->m2;
        }
        for (int64_t copy = 0; copy < s->copies; copy++)
            memset(&acc[copy * ns + k], 0, sizeof *c);
    }
    return -1;
}

sl_status sl_group_moments_cpu_fast(const struct sl_group_moments_args *a)
{
    sl_status st = SL_OK;
    struct sl_secbuf *chunk = NULL;
    struct sl_moments *total, *wave_m;
    int32_t *wave_c;
    int64_t *wave_n;
    int64_t rows = segment_rows(a->ncells);
    int64_t nseg = (a->n + rows - 1) / rows, bad = INT64_MAX;
    int64_t slot = a->ncells < rows ? a->ncells : rows, wave;
    int nomem = 0, parallel = a->n >= SL_PARALLEL_MIN_ROWS;

    /* segments per wave: enough to keep the threads busy, few enough to
     * bound the memory for their summaries */
    wave = WAVE_BYTES / (slot * (int64_t)(sizeof(struct sl_moments) + sizeof(int32_t)));
    if (wave < sl_max_threads())
        wave = sl_max_threads();
    if (wave > nseg)
        wave = nseg > 0 ? nseg : 1;
    SL_CALL(sl_secpool_get((size_t)a->ncells * sizeof *total +
                                 (size_t)(wave * slot) * (sizeof *wave_m + sizeof *wave_c) +
                                 (size_t)wave * sizeof *wave_n,
                             &chunk));
    total = chunk->data;
    wave_m = total + a->ncells;
    wave_n = (int64_t *)(wave_m + wave * slot);
    wave_c = (int32_t *)(wave_n + wave);
    (void)parallel;
    SL_OMP(parallel if (parallel))
    {
        struct seg_acc s = {NULL, NULL, NULL, NULL, 0};
        int ok = seg_acc_create(a->ncells, &s) == SL_OK;
        if (!ok) {
            SL_OMP(atomic write)
            nomem = 1;
        }
        for (int64_t w0 = 0; w0 < nseg; w0 += wave) {
            int64_t w1 = w0 + wave < nseg ? w0 + wave : nseg;
            SL_OMP(for schedule(dynamic, 1))
            for (int64_t k = w0; k < w1; k++) {
                int64_t r0 = k * rows, i = k - w0;
                int64_t r1 = r0 + rows < a->n ? r0 + rows : a->n;
                int64_t b = -1;
                wave_n[i] = 0;
                if (ok)
                    b = segment(a, r0, r1, &s, wave_m + i * slot, wave_c + i * slot, &wave_n[i]);
                if (b >= 0) {
                    SL_OMP(critical(sl_moments_error))
                    bad = b < bad ? b : bad;
                }
            }
            /* merge the wave's segment summaries in segment order */
            SL_OMP(single)
            for (int64_t i = 0; i < w1 - w0; i++)
                for (int64_t t = 0; t < wave_n[i]; t++)
                    sl_moments_combine(&total[wave_c[i * slot + t]], &wave_m[i * slot + t]);
        }
        sl_secpool_put(&s.mem);
    }
    SL_CHECK(!nomem, SL_ERR_NOMEM, "group_moments: out of memory for %lld cells",
             (long long)a->ncells);
    if (bad != INT64_MAX)
        SL_CALL(sl_cell_error("group_moments", bad, a->ncells));
    for (int64_t c = 0; c < a->ncells; c++)
        if (total[c].n_present > 0 || total[c].n_missing > 0)
            sl_moments_combine(&a->out[c], &total[c]);
cleanup:
    sl_secpool_put(&chunk);
    return st;
}
