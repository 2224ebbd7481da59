/*
 * fast_histogram.c: threaded histogram per cell (SL_OP_HISTOGRAM).
 *
 * Threads split the rows and keep private integer counters (exact in any
 * order). A value's bin is guessed from evenly spaced edges and checked
 * against the real ones (binary search when the guess is off by more than
 * one bin).
 */
#include <limits.h>
#include <math.h>

#include "engine/core/alloc.h"
#include "kernels/cpu/cpu_impl.h"

/* Bin of v, e[0] <= v <= e[nbins], by binary search: the largest b in
 * [0, nbins) with e[b] <= v (so v == e[nbins] lands in the last bin). */
static int64_t bin_search(const double *e, int64_t nbins, double v)
{
    int64_t lo = 0, len = nbins;
    while (len > 1) {
        int64_t half = len / 2;
        lo = e[lo + half] <= v ? lo + half : lo;
        len -= half;
    }
    return lo;
}

/* Slot of v among bins 0 .. nbins-1, then below, above, missing. The bin is
 * first guessed as if the edges were evenly spaced (`scale` = nbins / (e[nbins]
 * - e[0])), then checked against the edges and moved by one; a guess further
 * off falls back to the binary search, so the result always obeys the rule. */
static inline int64_t slot_of(const double *e, int64_t nbins, double scale, double v)
{
    double g;
    int64_t b;
    if (v != v)
        return nbins + 2;
    if (v < e[0])
        return nbins;
    if (v > e[nbins])
        return nbins + 1;
    g = (v - e[0]) * scale;
    b = g < (double)(nbins - 1) ? (int64_t)g : nbins - 1;
    if (v < e[b]) {
        b--;
        if (v < e[b])
            return bin_search(e, nbins, v);
    } else if (b < nbins - 1 && v >= e[b + 1]) {
        b++;
        if (b < nbins - 1 && v >= e[b + 1])
            return bin_search(e, nbins, v);
    }
    return b;
}

/* Counts rows [r0, r1) into cnt ((ncells + 1) x width counters; cell slot
 * 0 takes the dropped rows); returns the first row with a bad cell, or
 * INT64_MAX. */
static int64_t hist_rows(const struct sl_histogram_args *a, int64_t r0, int64_t r1, int64_t *cnt,
                         uint32_t *slot)
{
    int64_t nbins = a->nedges - 1, width = nbins + 3, n = r1 - r0;
    const double *e = a->edges, *v = a->values + r0;
    double scale = (double)nbins / (e[nbins] - e[0]);
    if (sl_row_slots(a->cell, a->mask, a->ncells, r0, r1, slot)) {
        int64_t bad = sl_first_bad_cell(a->cell, a->mask, a->ncells, r0, r1);
        if (bad >= 0)
            return bad;
    }
    for (int64_t i = 0; i < n; i++)
        cnt[(int64_t)slot[i] * width + slot_of(e, nbins, scale, v[i])]++;
    return INT64_MAX;
}

sl_status sl_histogram_cpu_fast(const struct sl_histogram_args *a)
{
    sl_status st = SL_OK;
    int nthreads = sl_max_threads();
    /* each thread's counters are followed by a cache line of slack, so no
     * line holds two threads' counters */
    int64_t nbins = a->nedges - 1, width = nbins + 3;
    int64_t per = ((a->ncells + 1) * width + 15) / 8 * 8;
    int64_t bad = INT64_MAX;
    int parallel = a->n >= SL_PARALLEL_MIN_ROWS;
    int64_t *cnt = sl_calloc((size_t)nthreads * (size_t)per, sizeof *cnt);
    uint32_t *slots = sl_malloc((size_t)nthreads * SL_SEGMENT_ROWS * sizeof *slots);

    SL_CHECK(cnt && slots, SL_ERR_NOMEM, "histogram: out of memory for %lld cells",
             (long long)a->ncells);
    (void)parallel;
    SL_OMP(parallel if (parallel) reduction(min : bad))
    {
        int64_t *mine = cnt + (int64_t)sl_thread_num() * per;
        uint32_t *slot = slots + (int64_t)sl_thread_num() * SL_SEGMENT_ROWS;
        SL_OMP(for schedule(static))
        for (int64_t r0 = 0; r0 < a->n; r0 += SL_SEGMENT_ROWS) {
            int64_t r1 = r0 + SL_SEGMENT_ROWS < a->n ? r0 + SL_SEGMENT_ROWS : a->n;
            int64_t b = hist_rows(a, r0, r1, mine, slot);
            if (b < bad)
                bad = b;
        }
    }
    if (bad != INT64_MAX)
        SL_CALL(sl_cell_error("histogram", bad, a->ncells));
    for (int t = 1; t < nthreads; t++)
        for (int64_t k = 0; k < per; k++)
            cnt[k] += cnt[(int64_t)t * per + k];
    for (int64_t c = 0; c < a->ncells; c++) {
        const int64_t *h = cnt + (c + 1) * width;
        for (int64_t b = 0; b < nbins; b++)
            a->counts[c * nbins + b] += h[b];
        if (a->below)
            a->below[c] += h[nbins];
        if (a->above)
            a->above[c] += h[nbins + 1];
        if (a->missing)
            a->missing[c] += h[nbins + 2];
    }
cleanup:
    sl_free(cnt);
    sl_free(slots);
    return st;
}
