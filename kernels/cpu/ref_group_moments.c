/*
 * ref_group_moments.c: reference grouped moments (SL_OP_GROUP_MOMENTS).
 *
 * Textbook two-pass: per cell the count and sum, then the mean, then the sum
 * of squared deviations from it, each a sequential loop over the whole
 * chunk.
 */
#include <math.h>

#include "engine/core/secbuf.h"
#include "kernels/cpu/cpu_impl.h"

sl_status sl_group_moments_cpu_ref(const struct sl_group_moments_args *a)
{
    sl_status st = SL_OK;
    struct sl_secbuf *mem = NULL;
    struct sl_moments *p;

    SL_CALL(sl_secpool_get((size_t)a->ncells * sizeof *p, &mem));
    p = mem->data;
    for (int64_t r = 0; r < a->n; r++) {
        int64_t c = sl_row_cell(a->cell, a->mask, a->ncells, r);
        double v = a->values[r];
        if (c == -2)
            SL_CALL(sl_cell_error("group_moments", r, a->ncells));
        if (c < 0)
            continue;
        if (isnan(v)) {
            p[c].n_missing++;
            continue;
        }
        p[c].n_present++;
        p[c].sum += v;
    }
    for (int64_t c = 0; c < a->ncells; c++)
        if (p[c].n_present > 0)
            p[c].mean = p[c].sum / (double)p[c].n_present;
    for (int64_t r = 0; r < a->n; r++) {
        int64_t c = sl_row_cell(a->cell, a->mask, a->ncells, r);
        double v = a->values[r];
        if (c >= 0 && !isnan(v))
            p[c].m2 += (v - p[c].mean) * (v - p[c].mean);
    }
    for (int64_t c = 0; c < a->ncells; c++)
        sl_moments_combine(&a->out[c], &p[c]);
cleanup:
    sl_secpool_put(&mem);
    return st;
}
