/*
 * group_count.cu: rows per cell on the GPU (SL_OP_GROUP_COUNT).
 *
 * The cell and mask columns stream to the device chunk by chunk; each chunk
 * is counted with exact integer atomics (count_rows.cuh), so the counts are
 * the reference's whatever the scheduling. The counters come back once.
 */
#include "kernels/gpu/count_rows.cuh"
#include "kernels/gpu/group_count.cuh"

extern "C" {
#include "engine/core/alloc.h"
}

namespace {

struct cell_key {
    const int32_t *cell;
    const uint8_t *mask;
    int64_t ncells;
    __device__ long long operator()(int64_t i) const
    {
        return (long long)sl_gpu_row_cell(cell, mask, ncells, i);
    }
    void shift(int64_t s)
    {
        cell = cell ? cell + s : NULL;
        mask = mask ? mask + s : NULL;
    }
};

struct count_ctx {
    const struct sl_group_count_args *a;
    unsigned long long *counts, *bad;
};

sl_status count_chunk(struct sl_gpu *g, void *ctxp, int64_t r0, int64_t nr,
                      const struct sl_gpu_view *v)
{
    struct count_ctx *ctx = (struct count_ctx *)ctxp;
    cell_key key = {(const int32_t *)v[0].dev, (const uint8_t *)v[1].dev, ctx->a->ncells};
    return sl_gpu_count_rows(g, key, nr, r0, ctx->a->ncells, ctx->counts, ctx->bad);
}

} // namespace

sl_status sl_group_count_gpu(struct sl_gpu *g, const struct sl_group_count_args *a)
{
    sl_status st = SL_OK;
    struct count_ctx ctx = {a, NULL, NULL};
    struct sl_gpu_col cols[2] = {{a->cell, sizeof(int32_t), 1, 0, NULL}, {a->mask, 1, 1, 0, NULL}};
    size_t bytes = (size_t)a->ncells * sizeof(unsigned long long);
    unsigned long long *host = (unsigned long long *)sl_malloc(bytes + sizeof *host);

    SL_CHECK(host, SL_ERR_NOMEM, "group_count: out of memory for %lld cells",
             (long long)a->ncells);
    SL_CALL(sl_gpu_alloc(g, bytes, (void **)&ctx.counts));
    SL_CALL_CUDA(cudaMemsetAsync(ctx.counts, 0, bytes, g->compute));
    SL_CALL(sl_gpu_flag_new(g, &ctx.bad));
    SL_CALL(sl_gpu_pipe_run(g, a->n, cols, 2, 1, 0, count_chunk, &ctx, NULL));
    SL_CALL(sl_gpu_download(g, host, ctx.counts, bytes));
    SL_CALL(sl_gpu_download(g, host + a->ncells, ctx.bad, sizeof *host));
    SL_CALL(sl_gpu_check_cells("group_count", host[a->ncells], a->ncells));
    for (int64_t c = 0; c < a->ncells; c++)
        a->counts[c] += (int64_t)host[c];
cleanup:
    sl_free(host);
    return st;
}
