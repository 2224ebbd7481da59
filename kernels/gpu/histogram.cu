/*
 * histogram.cu: histogram per cell on the GPU (SL_OP_HISTOGRAM).
 *
 * Every kept row gets one key, cell * (nbins + 3) + slot, where the slot is
 * its bin, or below, above or missing; the bin is found by binary search on
 * the edges (the largest b with edges[b] <= v, so a value equal to the last
 * edge lands in the last bin), which is the reference's rule exactly. Keys
 * are counted with integer atomics (count_rows.cuh): exact.
 */
#include "kernels/gpu/count_rows.cuh"
#include "kernels/gpu/histogram.cuh"

extern "C" {
#include "engine/core/alloc.h"
}

namespace {

struct bin_key {
    const double *values;
    const int32_t *cell;
    const uint8_t *mask;
    const double *edges;
    int64_t ncells, nbins;
    __device__ long long operator()(int64_t i) const
    {
        int64_t c = sl_gpu_row_cell(cell, mask, ncells, i), slot, lo = 0, len = nbins;
        double v;
        if (c < 0)
            return (long long)c;
        v = values[i];
        if (v != v)
            slot = nbins + 2;
        else if (v < __ldg(&edges[0]))
            slot = nbins;
        else if (v > __ldg(&edges[nbins]))
            slot = nbins + 1;
        else {
            while (len > 1) {
                int64_t half = len / 2;
                lo = __ldg(&edges[lo + half]) <= v ? lo + half : lo;
                len -= half;
            }
            slot = lo;
        }
        return (long long)(c * (nbins + 3) + slot);
    }
    void shift(int64_t s)
    {
        values += s;
        cell = cell ? cell + s : NULL;
        mask = mask ? mask + s : NULL;
    }
};

struct hist_ctx {
    const struct sl_histogram_args *a;
    const double *edges;
    unsigned long long *counts, *bad;
};

sl_status hist_chunk(struct sl_gpu *g, void *ctxp, int64_t r0, int64_t nr,
                     const struct sl_gpu_view *v)
{
    struct hist_ctx *ctx = (struct hist_ctx *)ctxp;
    const struct sl_histogram_args *a = ctx->a;
    bin_key key = {(const double *)v[0].dev, (const int32_t *)v[1].dev, (const uint8_t *)v[2].dev,
                   ctx->edges, a->ncells, a->nedges - 1};
    return sl_gpu_count_rows(g, key, nr, r0, a->ncells * (a->nedges + 2), ctx->counts, ctx->bad);
}

} // namespace

sl_status sl_histogram_gpu(struct sl_gpu *g, const struct sl_histogram_args *a)
{
    sl_status st = SL_OK;
    struct hist_ctx ctx = {a, NULL, NULL, NULL};
    struct sl_gpu_col cols[3] = {{a->values, sizeof(double), 1, 0, NULL},
                                 {a->cell, sizeof(int32_t), 1, 0, NULL},
                                 {a->mask, 1, 1, 0, NULL}};
    int64_t nbins = a->nedges - 1, width = nbins + 3, nkeys = a->ncells * width;
    size_t bytes = (size_t)nkeys * sizeof(unsigned long long);
    unsigned long long *host = (unsigned long long *)sl_malloc(bytes + sizeof *host);

    SL_CHECK(host, SL_ERR_NOMEM, "histogram: out of memory for %lld cells", (long long)a->ncells);
    SL_CALL(sl_gpu_alloc(g, (size_t)a->nedges * sizeof(double), (void **)&ctx.edges));
    SL_CALL(sl_gpu_upload(g, (void *)ctx.edges, a->edges, (size_t)a->nedges * sizeof(double)));
    SL_CALL(sl_gpu_alloc(g, bytes, (void **)&ctx.counts));
    SL_CALL_CUDA(cudaMemsetAsync(ctx.counts, 0, bytes, g->compute));
    SL_CALL(sl_gpu_flag_new(g, &ctx.bad));
    SL_CALL(sl_gpu_pipe_run(g, a->n, cols, 3, 1, 0, hist_chunk, &ctx, NULL));
    SL_CALL(sl_gpu_download(g, host, ctx.counts, bytes));
    SL_CALL(sl_gpu_download(g, host + nkeys, ctx.bad, sizeof *host));
    SL_CALL(sl_gpu_check_cells("histogram", host[nkeys], a->ncells));
    for (int64_t c = 0; c < a->ncells; c++) {
        const unsigned long long *h = host + c * width;
        for (int64_t b = 0; b < nbins; b++)
            a->counts[c * nbins + b] += (int64_t)h[b];
        if (a->below)
            a->below[c] += (int64_t)h[nbins];
        if (a->above)
            a->above[c] += (int64_t)h[nbins + 1];
        if (a->missing)
            a->missing[c] += (int64_t)h[nbins + 2];
    }
cleanup:
    sl_free(host);
    return st;
}
