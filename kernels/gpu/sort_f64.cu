/*
 * sort_f64.cu: grouped sort on the GPU (SL_OP_SORT_F64), for exact quantiles.
 *
 * Each value becomes a 64-bit key whose unsigned order is the IEEE total
 * order (-0 before +0; the same map as kernels/cpu/fast_sort.c). Rows that
 * are dropped or NaN get the largest key and a cell past the last, so they
 * sort behind every kept value. CUB's radix sort orders the keys; with
 * several cells a second, stable, radix sort by cell groups them while
 * keeping each cell's values in order. Equal keys are equal bit patterns, so
 * the output is fully determined. Counts per cell and NaN counts are exact
 * integer atomics (count_rows.cuh).
 */
#include <string.h>

#include <cub/device/device_radix_sort.cuh>

#include "kernels/gpu/count_rows.cuh"
#include "kernels/gpu/sort_f64.cuh"

extern "C" {
#include "engine/core/alloc.h"
}

namespace {

__device__ __forceinline__ unsigned long long to_key(double v)
{
    unsigned long long k = (unsigned long long)__double_as_longlong(v);
    return (k >> 63) ? ~k : k | (1ULL << 63);
}

__device__ __forceinline__ double from_key(unsigned long long k)
{
    k = (k >> 63) ? k & ~(1ULL << 63) : ~k;
    return __longlong_as_double((long long)k);
}

/* Counter key of row i: cell c for a kept value, ncells + c for a kept NaN,
 * -1 dropped, -2 bad. Writes the sort keys of the row. */
struct sort_key {
    const double *values;
    const int32_t *cell;
    const uint8_t *mask;
    unsigned long long *vkey;
    uint32_t *ckey;
    int64_t ncells;
    __device__ long long operator()(int64_t i) const
    {
        int64_t c = sl_gpu_row_cell(cell, mask, ncells, i);
        double v = values[i];
        int keep = c >= 0 && v == v;
        vkey[i] = keep ? to_key(v) : ~0ULL;
        ckey[i] = keep ? (uint32_t)c : (uint32_t)ncells;
        if (c < 0)
            return (long long)c;
        return (long long)(keep ? c : ncells + c);
    }
    void shift(int64_t s)
    {
        values += s;
        cell = cell ? cell + s : NULL;
        mask = mask ? mask + s : NULL;
        vkey += s;
        ckey += s;
    }
};

struct sort_ctx {
    const struct sl_sort_f64_args *a;
    unsigned long long *vkey;
    uint32_t *ckey;
    unsigned long long *counts, *bad;
};

sl_status sort_chunk(struct sl_gpu *g, void *ctxp, int64_t r0, int64_t nr,
                     const struct sl_gpu_view *v)
{
    struct sort_ctx *ctx = (struct sort_ctx *)ctxp;
    sort_key key = {(const double *)v[0].dev, (const int32_t *)v[1].dev, (const uint8_t *)v[2].dev,
                    ctx->vkey + r0, ctx->ckey + r0, ctx->a->ncells};
    return sl_gpu_count_rows(g, key, nr, r0, 2 * ctx->a->ncells, ctx->counts, ctx->bad);
}

__global__ void keys_to_values(const unsigned long long *SL_GPU_RESTRICT k, int64_t m,
                               double *SL_GPU_RESTRICT out)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < m;
         i += (int64_t)gridDim.x * blockDim.x)
        out[i] = from_key(k[i]);
}

} // namespace

sl_status sl_sort_f64_gpu(struct sl_gpu *g, const struct sl_sort_f64_args *a)
{
    sl_status st = SL_OK;
    struct sort_ctx ctx = {a, NULL, NULL, NULL, NULL};
    struct sl_gpu_col cols[3] = {{a->values, sizeof(double), 1, 0, NULL},
                                 {a->cell, sizeof(int32_t), 1, 0, NULL},
                                 {a->mask, 1, 1, 0, NULL}};
    int64_t nkeys = 2 * a->ncells, m = 0;
    int by_cell = a->cell && a->ncells > 1;
    unsigned long long *host = (unsigned long long *)sl_malloc((size_t)(nkeys + 1) * sizeof *host);
    unsigned long long *vk_out = NULL, *vk_final;
    uint32_t *ck_out = NULL, *ck_final = NULL;
    double *out_dev = NULL;
    void *temp = NULL;
    size_t temp_bytes = 0, t2 = 0;

    SL_CHECK(host, SL_ERR_NOMEM, "sort_f64: out of memory for %lld cells", (long long)a->ncells);
    memset(host, 0, (size_t)(nkeys + 1) * sizeof *host);
    if (a->n > 0) {
        SL_CALL(sl_gpu_alloc(g, (size_t)a->n * sizeof *ctx.vkey, (void **)&ctx.vkey));
        SL_CALL(sl_gpu_alloc(g, (size_t)a->n * sizeof *ctx.ckey, (void **)&ctx.ckey));
        SL_CALL(sl_gpu_alloc(g, (size_t)nkeys * sizeof *host, (void **)&ctx.counts));
        SL_CALL_CUDA(cudaMemsetAsync(ctx.counts, 0, (size_t)nkeys * sizeof *host, g->compute));
        SL_CALL(sl_gpu_flag_new(g, &ctx.bad));
        SL_CALL(sl_gpu_pipe_run(g, a->n, cols, 3, 1, 1, sort_chunk, &ctx, NULL));
        SL_CALL(sl_gpu_download(g, host, ctx.counts, (size_t)nkeys * sizeof *host));
        SL_CALL(sl_gpu_download(g, host + nkeys, ctx.bad, sizeof *host));
        SL_CALL(sl_gpu_check_cells("sort_f64", host[nkeys], a->ncells));
        for (int64_t c = 0; c < a->ncells; c++)
            m += (int64_t)host[c];
    }
    if (m > 0) {
        SL_CALL(sl_gpu_alloc(g, (size_t)a->n * sizeof *vk_out, (void **)&vk_out));
        if (by_cell) {
            SL_CALL(sl_gpu_alloc(g, (size_t)a->n * sizeof *ck_out, (void **)&ck_out));
            SL_CALL(sl_gpu_alloc(g, (size_t)a->n * sizeof *ck_final, (void **)&ck_final));
            SL_CALL_CUDA(cub::DeviceRadixSort::SortPairs(NULL, temp_bytes, ctx.vkey, vk_out,
                                                         ctx.ckey, ck_out, a->n, 0, 64,
                                                         g->compute));
            SL_CALL_CUDA(cub::DeviceRadixSort::SortPairs(
                NULL, t2, ck_out, ck_final, vk_out, ctx.vkey, a->n, 0,
                sl_gpu_key_bits((uint64_t)a->ncells), g->compute));
            temp_bytes = t2 > temp_bytes ? t2 : temp_bytes;
        } else {
            SL_CALL_CUDA(cub::DeviceRadixSort::SortKeys(NULL, temp_bytes, ctx.vkey, vk_out, a->n,
                                                        0, 64, g->compute));
        }
        SL_CALL(sl_gpu_alloc(g, temp_bytes, &temp));
        if (by_cell) {
            /* by value, then stably by cell: each cell's run stays in value order */
            SL_CALL_CUDA(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, ctx.vkey, vk_out,
                                                         ctx.ckey, ck_out, a->n, 0, 64,
                                                         g->compute));
            SL_CALL_CUDA(cub::DeviceRadixSort::SortPairs(
                temp, temp_bytes, ck_out, ck_final, vk_out, ctx.vkey, a->n, 0,
                sl_gpu_key_bits((uint64_t)a->ncells), g->compute));
            vk_final = ctx.vkey;
        } else {
            SL_CALL_CUDA(cub::DeviceRadixSort::SortKeys(temp, temp_bytes, ctx.vkey, vk_out, a->n,
                                                        0, 64, g->compute));
            vk_final = vk_out;
        }
        /* the first m keys are the kept values; decode them in place of the spare buffer */
        out_dev = (double *)(vk_final == ctx.vkey ? vk_out : ctx.vkey);
        keys_to_values<<<sl_gpu_grid(g, m), SL_GPU_THREADS, 0, g->compute>>>(vk_final, m,
                                                                              out_dev);
        SL_CHECK_LAUNCH();
        SL_CALL(sl_gpu_download(g, a->sorted, out_dev, (size_t)m * sizeof(double)));
    }
    a->cell_start[0] = 0;
    for (int64_t c = 0; c < a->ncells; c++)
        a->cell_start[c + 1] = a->cell_start[c] + (int64_t)host[c];
    if (a->n_missing)
        for (int64_t c = 0; c < a->ncells; c++)
            a->n_missing[c] = (int64_t)host[a->ncells + c];
cleanup:
    sl_free(host);
    return st;
}
