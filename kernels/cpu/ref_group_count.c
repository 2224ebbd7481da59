/*
 * ref_group_count.c: reference rows-per-cell count (SL_OP_GROUP_COUNT).
 */
#include "engine/core/alloc.h"
#include "kernels/cpu/cpu_impl.h"

sl_status sl_group_count_cpu_ref(const struct sl_group_count_args *a)
{
    sl_status st = SL_OK;
    int64_t *local = sl_calloc((size_t)a->ncells, sizeof *local);

    SL_CHECK(local, SL_ERR_NOMEM, "group_count: out of memory for %lld cells",
             (long long)a->ncells);
    for (int64_t r = 0; r < a->n; r++) {
        int64_t c = sl_row_cell(a->cell, a->mask, a->ncells, r);
        if (c == -2)
            SL_CALL(sl_cell_error("group_count", r, a->ncells));
        if (c >= 0)
            local[c]++;
    }
    for (int64_t c = 0; c < a->ncells; c++)
        a->counts[c] += local[c];
cleanup:
    sl_free(local);
    return st;
}
