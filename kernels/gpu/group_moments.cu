/*
 * group_moments.cu: grouped moments on the GPU (SL_OP_GROUP_MOMENTS).
 *
 * Deterministic by construction. The rows of each cell are brought together
 * in row order: with one cell they already are; with several, a stable
 * radix sort by cell (CUB) moves each cell's rows into one run, keeping
 * their order. Each run is cut into pieces of PIECE_ROWS rows counted from
 * the run's start. A block summarises a piece in two passes (count, missing
 * and sum, then the sum of squared deviations from the piece's mean), with
 * every thread summing fixed rows in order and the threads combined in a
 * fixed tree. The piece summaries come back to the host and are merged per
 * cell in piece order with sl_moments_combine, the formula every backend and
 * the engine use. So the result depends only on the inputs, never on the
 * scheduling, and repeated calls are bit-identical.
 */
#include <cub/device/device_radix_sort.cuh>

#include "kernels/gpu/count_rows.cuh"
#include "kernels/gpu/group_moments.cuh"

extern "C" {
#include "engine/core/alloc.h"
}

#define PIECE_ROWS 4096
#define PER_THREAD (PIECE_ROWS / SL_GPU_THREADS)

namespace {

struct piece {
    int64_t start; /* first row of the piece in the (sorted) row order */
    int32_t len;
    int32_t cell;
};

/* Key of row i: 0 dropped, cell + 1 kept, -2 bad; stored for the pieces. */
struct slot_key {
    const int32_t *cell;
    const uint8_t *mask;
    uint32_t *keys;
    int64_t ncells;
    __device__ long long operator()(int64_t i) const
    {
        int64_t c = sl_gpu_row_cell(cell, mask, ncells, i);
        keys[i] = c >= 0 ? (uint32_t)(c + 1) : 0u;
        return c == -2 ? -2 : (long long)(c + 1);
    }
    void shift(int64_t s)
    {
        cell = cell ? cell + s : NULL;
        mask = mask ? mask + s : NULL;
        keys += s;
    }
};

struct mom_ctx {
    const struct sl_group_moments_args *a;
    uint32_t *keys;
    unsigned long long *counts, *bad;
};

sl_status mom_chunk(struct sl_gpu *g, void *ctxp, int64_t r0, int64_t nr,
                    const struct sl_gpu_view *v)
{
    struct mom_ctx *ctx = (struct mom_ctx *)ctxp;
    slot_key key = {(const int32_t *)v[1].dev, (const uint8_t *)v[2].dev, ctx->keys + r0,
                    ctx->a->ncells};
    return sl_gpu_count_rows(g, key, nr, r0, ctx->a->ncells + 1, ctx->counts, ctx->bad);
}

/* Sums a[0 .. SL_GPU_THREADS) into a[0] in a fixed tree. */
template <class T>
__device__ void tree_sum(T *a)
{
    for (int s = SL_GPU_THREADS / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s)
            a[threadIdx.x] += a[threadIdx.x + s];
        __syncthreads();
    }
}

__global__ void __launch_bounds__(SL_GPU_THREADS)
    piece_moments(const double *SL_GPU_RESTRICT vals, const uint32_t *SL_GPU_RESTRICT keys,
                  const struct piece *SL_GPU_RESTRICT pieces, struct sl_moments *out)
{
    __shared__ double s_sum[SL_GPU_THREADS];
    __shared__ long long s_np[SL_GPU_THREADS], s_nm[SL_GPU_THREADS];
    const struct piece pc = pieces[blockIdx.x];
    const int t = (int)threadIdx.x;
    double v[PER_THREAD], sum = 0, mean = 0, m2 = 0;
    long long np = 0, nm = 0, total_np;
    unsigned present = 0;

#pragma unroll
    for (int k = 0; k < PER_THREAD; k++) {
        int off = t + k * SL_GPU_THREADS;
        v[k] = 0;
        if (off < pc.len && keys[pc.start + off] != 0) {
            double x = vals[pc.start + off];
            if (x != x) {
                nm++;
            } else {
                np++;
                sum += x;
                v[k] = x;
                present |= 1u << k;
            }
        }
    }
    s_sum[t] = sum;
    s_np[t] = np;
    s_nm[t] = nm;
    __syncthreads();
    tree_sum(s_sum);
    tree_sum(s_np);
    tree_sum(s_nm);
    total_np = s_np[0];
    sum = s_sum[0];
    if (total_np > 0)
        mean = sum / (double)total_np;
    __syncthreads();
#pragma unroll
    for (int k = 0; k < PER_THREAD; k++) {
        if (present >> k & 1u) {
            double d = v[k] - mean;
            m2 += d * d;
        }
    }
    s_sum[t] = m2;
    __syncthreads();
    tree_sum(s_sum);
    if (t == 0) {
        struct sl_moments m;
        m.n_present = total_np;
        m.n_missing = s_nm[0];
        m.sum = sum;
        m.mean = mean;
        m.m2 = s_sum[0];
        out[blockIdx.x] = m;
    }
}

} // namespace

sl_status sl_group_moments_gpu(struct sl_gpu *g, const struct sl_group_moments_args *a)
{
    sl_status st = SL_OK;
    struct mom_ctx ctx = {a, NULL, NULL, NULL};
    struct sl_gpu_col cols[3] = {{a->values, sizeof(double), 1, 0, NULL},
                                 {a->cell, sizeof(int32_t), 1, 0, NULL},
                                 {a->mask, 1, 1, 0, NULL}};
    struct sl_gpu_view whole[3];
    int sorted = a->cell && a->ncells > 1;
    int64_t nkeys = a->ncells + 1, npieces = 0, pos;
    unsigned long long *host = (unsigned long long *)sl_malloc((size_t)(nkeys + 1) * sizeof *host);
    struct sl_moments *total = (struct sl_moments *)sl_calloc((size_t)a->ncells, sizeof *total);
    struct sl_moments *pm = NULL, *dev_pm = NULL;
    struct piece *pieces = NULL, *dev_pieces = NULL;
    const double *vals;
    const uint32_t *keys;

    SL_CHECK(host && total, SL_ERR_NOMEM, "group_moments: out of memory for %lld cells",
             (long long)a->ncells);
    if (a->n == 0)
        goto cleanup;
    SL_CALL(sl_gpu_alloc(g, (size_t)a->n * sizeof(uint32_t), (void **)&ctx.keys));
    SL_CALL(sl_gpu_alloc(g, (size_t)nkeys * sizeof *host, (void **)&ctx.counts));
    SL_CALL_CUDA(cudaMemsetAsync(ctx.counts, 0, (size_t)nkeys * sizeof *host, g->compute));
    SL_CALL(sl_gpu_flag_new(g, &ctx.bad));
    SL_CALL(sl_gpu_pipe_run(g, a->n, cols, 3, 1, 1, mom_chunk, &ctx, whole));
    SL_CALL(sl_gpu_download(g, host, ctx.counts, (size_t)nkeys * sizeof *host));
    SL_CALL(sl_gpu_download(g, host + nkeys, ctx.bad, sizeof *host));
    SL_CALL(sl_gpu_check_cells("group_moments", host[nkeys], a->ncells));
    vals = (const double *)whole[0].dev;
    keys = ctx.keys;
    if (sorted) {
        /* stable: each cell's rows keep their row order */
        uint32_t *keys_out;
        double *vals_out;
        void *temp = NULL;
        size_t temp_bytes = 0;
        int bits = sl_gpu_key_bits((uint64_t)a->ncells);
        SL_CALL_CUDA(cub::DeviceRadixSort::SortPairs(NULL, temp_bytes, keys, (uint32_t *)NULL,
                                                     vals, (double *)NULL, a->n, 0, bits,
                                                     g->compute));
        SL_CALL(sl_gpu_alloc(g, temp_bytes, &temp));
        SL_CALL(sl_gpu_alloc(g, (size_t)a->n * sizeof *keys_out, (void **)&keys_out));
        SL_CALL(sl_gpu_alloc(g, (size_t)a->n * sizeof *vals_out, (void **)&vals_out));
        SL_CALL_CUDA(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys, keys_out, vals,
                                                     vals_out, a->n, 0, bits, g->compute));
        keys = keys_out;
        vals = vals_out;
        for (int64_t c = 0; c < a->ncells; c++)
            npieces += ((int64_t)host[c + 1] + PIECE_ROWS - 1) / PIECE_ROWS;
    } else {
        npieces = (a->n + PIECE_ROWS - 1) / PIECE_ROWS;
    }
    pieces = (struct piece *)sl_malloc((size_t)(npieces > 0 ? npieces : 1) * sizeof *pieces);
    pm = (struct sl_moments *)sl_malloc((size_t)(npieces > 0 ? npieces : 1) * sizeof *pm);
    SL_CHECK(pieces && pm, SL_ERR_NOMEM, "group_moments: out of memory");
    npieces = 0;
    if (sorted) {
        /* runs in key order: the dropped rows (key 0) first, then cell by cell */
        pos = (int64_t)host[0];
        for (int64_t c = 0; c < a->ncells; c++) {
            int64_t len = (int64_t)host[c + 1];
            for (int64_t off = 0; off < len; off += PIECE_ROWS)
                pieces[npieces++] = (struct piece){
                    pos + off, (int32_t)(len - off < PIECE_ROWS ? len - off : PIECE_ROWS),
                    (int32_t)c};
            pos += len;
        }
    } else {
        for (int64_t off = 0; off < a->n; off += PIECE_ROWS)
            pieces[npieces++] = (struct piece){
                off, (int32_t)(a->n - off < PIECE_ROWS ? a->n - off : PIECE_ROWS), 0};
    }
    if (npieces > 0) {
        SL_CALL(sl_gpu_alloc(g, (size_t)npieces * sizeof *dev_pieces, (void **)&dev_pieces));
        SL_CALL(sl_gpu_alloc(g, (size_t)npieces * sizeof *dev_pm, (void **)&dev_pm));
        SL_CALL(sl_gpu_upload(g, dev_pieces, pieces, (size_t)npieces * sizeof *pieces));
        piece_moments<<<(unsigned)npieces, SL_GPU_THREADS, 0, g->compute>>>(vals, keys,
                                                                          dev_pieces, dev_pm);
        SL_CHECK_LAUNCH();
        SL_CALL(sl_gpu_download(g, pm, dev_pm, (size_t)npieces * sizeof *pm));
    }
    for (int64_t k = 0; k < npieces; k++)
        sl_moments_combine(&total[pieces[k].cell], &pm[k]);
    for (int64_t c = 0; c < a->ncells; c++)
        if (total[c].n_present > 0 || total[c].n_missing > 0)
            sl_moments_combine(&a->out[c], &total[c]);
cleanup:
    sl_free(host);
    sl_free(total);
    sl_free(pieces);
    sl_free(pm);
    return st;
}
