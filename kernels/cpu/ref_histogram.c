/*
 * ref_histogram.c: reference histogram per cell (SL_OP_HISTOGRAM).
 *
 * Each value is placed by a linear scan over the bins with the bin rule of
 * kernel.h spelled out literally, independent of the fast kernel's search.
 */
#include <math.h>

#include "engine/core/alloc.h"
#include "kernels/cpu/cpu_impl.h"

sl_status sl_histogram_cpu_ref(const struct sl_histogram_args *a)
{
    sl_status st = SL_OK;
    int64_t nbins = a->nedges - 1, width = nbins + 3;
    int64_t *local = sl_calloc((size_t)(a->ncells * width), sizeof *local);
    const double *e = a->edges;

    SL_CHECK(local, SL_ERR_NOMEM, "histogram: out of memory for %lld cells", (long long)a->ncells);
    for (int64_t r = 0; r < a->n; r++) {
        int64_t c = sl_row_cell(a->cell, a->mask, a->ncells, r), slot = -1;
        double v = a->values[r];
        if (c == -2)
            SL_CALL(sl_cell_error("histogram", r, a->ncells));
        if (c < 0)
            continue;
        if (isnan(v))
            slot = nbins + 2;
        else if (v < e[0])
            slot = nbins;
        else if (v > e[nbins])
            slot = nbins + 1;
        for (int64_t b = 0; b < nbins && slot < 0; b++)
            if (e[b] <= v && (v < e[b + 1] || (b == nbins - 1 && v == e[b + 1])))
                slot = b;
        local[c * width + slot]++;
    }
    for (int64_t c = 0; c < a->ncells; c++) {
        for (int64_t b = 0; b < nbins; b++)
            a->counts[c * nbins + b] += local[c * width + b];
        if (a->below)
            a->below[c] += local[c * width + nbins];
        if (a->above)
            a->above[c] += local[c * width + nbins + 1];
        if (a->missing)
            a->missing[c] += local[c * width + nbins + 2];
    }
cleanup:
    sl_free(local);
    return st;
}
