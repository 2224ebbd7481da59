/*
 * ref_sort.c: reference grouped sort (SL_OP_SORT_F64): a counting pass by
 * cell, then the C library's qsort on each cell's run.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "kernels/cpu/cpu_impl.h"

/* IEEE total order on non-NaN doubles: -0 before +0. */
static int cmp_total(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    if (a < b)
        return -1;
    if (a > b)
        return 1;
    return (int)!signbit(a) - (int)!signbit(b);
}

sl_status sl_sort_f64_cpu_ref(const struct sl_sort_f64_args *a)
{
    sl_status st = SL_OK;
    int64_t *start = sl_calloc((size_t)a->ncells + 1, sizeof *start);
    int64_t *next = sl_calloc((size_t)a->ncells, sizeof *next);
    int64_t *miss = sl_calloc((size_t)a->ncells, sizeof *miss);

    SL_CHECK(start && next && miss, SL_ERR_NOMEM, "sort_f64: out of memory for %lld cells",
             (long long)a->ncells);
    for (int64_t r = 0; r < a->n; r++) {
        int64_t c = sl_row_cell(a->cell, a->mask, a->ncells, r);
        if (c == -2)
            SL_CALL(sl_cell_error("sort_f64", r, a->ncells));
        if (c < 0)
            continue;
        if (isnan(a->values[r]))
            miss[c]++;
        else
            start[c + 1]++;
    }
    for (int64_t c = 0; c < a->ncells; c++) {
        start[c + 1] += start[c];
        next[c] = start[c];
    }
    for (int64_t r = 0; r < a->n; r++) {
        int64_t c = sl_row_cell(a->cell, a->mask, a->ncells, r);
        if (c >= 0 && !isnan(a->values[r]))
            a->sorted[next[c]++] = a->values[r];
    }
    for (int64_t c = 0; c < a->ncells; c++)
        qsort(a->sorted + start[c], (size_t)(start[c + 1] - start[c]), sizeof(double), cmp_total);
    memcpy(a->cell_start, start, ((size_t)a->ncells + 1) * sizeof *start);
    if (a->n_missing)
        memcpy(a->n_missing, miss, (size_t)a->ncells * sizeof *miss);
cleanup:
    sl_free(start);
    sl_free(next);
    sl_free(miss);
    return st;
}
