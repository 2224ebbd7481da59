/*
 * ref_gram.c: reference weighted Gram (SL_OP_GRAM), plain C.
 *
 * Entry by entry, a sequential sum over the rows of w x_i x_j. Slow and
 * obviously right: the oracle for the fast kernels.
 */
#include <float.h>

#include "engine/core/secbuf.h"
#include "kernels/cpu/cpu_impl.h"

sl_status sl_gram_cpu_ref(const struct sl_gram_args *a)
{
    sl_status st = SL_OK;
    struct sl_secbuf *mem = NULL;
    size_t p = (size_t)a->p;
    double *g, *w;

    SL_CALL(sl_secpool_get((p * p + (size_t)a->n) * sizeof(double), &mem));
    g = mem->data;
    w = g + p * p;
    for (int64_t r = 0; r < a->n; r++) {
        int keep = !a->mask || a->mask[r];
        w[r] = a->w ? a->w[r] : 1.0;
        SL_CHECK(!keep || (w[r] >= 0 && w[r] <= DBL_MAX), SL_ERR_ARG,
                 "gram: the weight of row %lld is negative or not finite", (long long)r);
        if (!keep)
            w[r] = 0;
    }
    for (size_t j = 0; j < p; j++)
        for (size_t i = 0; i <= j; i++) {
            const double *xi = a->x[i], *xj = a->x[j];
            double s = 0;
            for (int64_t r = 0; r < a->n; r++)
                if (w[r] != 0)
                    s += w[r] * xi[r] * xj[r];
            g[i + j * p] = s;
        }
    for (size_t j = 0; j < p; j++)
        for (size_t i = 0; i <= j; i++) {
            a->g[i + j * p] += g[i + j * p];
            if (i != j)
                a->g[j + i * p] += g[i + j * p];
        }
cleanup:
    sl_secpool_put(&mem);
    return st;
}
