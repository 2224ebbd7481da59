/*
 * fast_group_count.c: threaded rows-per-cell count (SL_OP_GROUP_COUNT).
 *
 * Integer counts add up exactly in any order, so threads split the rows
 * freely and keep private counters; with few cells each thread keeps four
 * interleaved copies so that runs of rows in one cell do not serialise on
 * one memory location.
 */
#include <limits.h>

#include "engine/core/alloc.h"
#include "kernels/cpu/cpu_impl.h"

/* Counts rows [r0, r1) into cnt: `copies` interleaved sets of ncells + 1
 * counters, counter 0 of each taking the dropped rows. Returns the first
 * row with a bad cell, or INT64_MAX. */
static int64_t count_rows(const struct sl_group_count_args *a, int64_t r0, int64_t r1,
                          int64_t copies, int64_t *cnt, uint32_t *slot)
{
    int64_t n = r1 - r0, stride = a->ncells + 1, i = 0;
    if (sl_row_slots(a->cell, a->mask, a->ncells, r0, r1, slot)) {
        int64_t bad = sl_first_bad_cell(a->cell, a->mask, a->ncells, r0, r1);
        if (bad >= 0)
            return bad;
    }
    if (copies == 4) {
        int64_t *c1 = cnt + stride, *c2 = c1 + stride, *c3 = c2 + stride;
        for (; i + 4 <= n; i += 4) {
            cnt[slot[i]]++;
            c1[slot[i + 1]]++;
            c2[slot[i + 2]]++;
            c3[slot[i + 3]]++;
        }
    }
    for (; i < n; i++)
        cnt[slot[i]]++;
    return INT64_MAX;
}

sl_status sl_group_count_cpu_fast(const struct sl_group_count_args *a)
{
    sl_status st = SL_OK;
    int nthreads = sl_max_threads();
    int64_t copies = a->ncells <= 256 ? 4 : 1;
    /* each thread's counters are followed by a cache line of slack, so no
     * line holds two threads' counters */
    int64_t per = (copies * (a->ncells + 1) + 15) / 8 * 8, bad = INT64_MAX;
    int parallel = a->n >= SL_PARALLEL_MIN_ROWS;
    int64_t *cnt = sl_calloc((size_t)nthreads * (size_t)per, sizeof *cnt);
    uint32_t *slots = sl_malloc((size_t)nthreads * SL_SEGMENT_ROWS * sizeof *slots);

    SL_CHECK(cnt && slots, SL_ERR_NOMEM, "group_count: out of memory for %lld cells",
             (long long)a->ncells);
    (void)parallel;
    SL_OMP(parallel if (parallel) reduction(min : bad))
    {
        int64_t *mine = cnt + (int64_t)sl_thread_num() * per;
        uint32_t *slot = slots + (int64_t)sl_thread_num() * SL_SEGMENT_ROWS;
        SL_OMP(for schedule(static))
        for (int64_t r0 = 0; r0 < a->n; r0 += SL_SEGMENT_ROWS) {
            int64_t r1 = r0 + SL_SEGMENT_ROWS < a->n ? r0 + SL_SEGMENT_ROWS : a->n;
            int64_t b = count_rows(a, r0, r1, copies, mine, slot);
            if (b < bad)
                bad = b;
        }
    }
    if (bad != INT64_MAX)
        SL_CALL(sl_cell_error("group_count", bad, a->ncells));
    for (int64_t t = 0; t < nthreads; t++)
        for (int64_t q = t == 0 ? 1 : 0; q < copies; q++)
            for (int64_t c = 1; c <= a->ncells; c++)
                cnt[c] += cnt[t * per + q * (a->ncells + 1) + c];
    for (int64_t c = 0; c < a->ncells; c++)
        a->counts[c] += cnt[c + 1];
cleanup:
    sl_free(cnt);
    sl_free(slots);
    return st;
}
