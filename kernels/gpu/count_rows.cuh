/*
 * count_rows.cuh: exact integer counting of rows by key on the GPU (private
 * to kernels/gpu), shared by the grouped count, the histogram and the counts
 * that the moments and the sort need.
 *
 * A functor maps row i of a chunk to a key in [0, nkeys), to -1 (not
 * counted) or to -2 (a bad cell: the row is reported). Each block keeps
 * 32-bit counters in shared memory when the keys fit, and otherwise adds to
 * the 64-bit global counters directly; lanes of a warp that share a key add
 * once. Counting is integer arithmetic, so the totals are exact and the same
 * whatever order the blocks run in. The functor may also write per-row
 * outputs (the sort's keys).
 */
#ifndef SL_KERNELS_GPU_COUNT_ROWS_CUH
#define SL_KERNELS_GPU_COUNT_ROWS_CUH

#include "kernels/gpu/gpu_impl.cuh"

/* Keys counted in shared memory (32 KiB of counters). */
#define SL_GPU_SMEM_COUNTERS 8192
/* Rows per launch, so that no 32-bit block counter can overflow. */
#define SL_GPU_COUNT_ROWS_MAX ((int64_t)1 << 30)

template <class KeyFn>
__global__ void __launch_bounds__(SL_GPU_THREADS)
    sl_gpu_count_kernel(KeyFn key_of, int64_t nr, int64_t r0, int64_t nkeys, int use_smem,
                        unsigned long long *SL_GPU_RESTRICT counts,
                        unsigned long long *SL_GPU_RESTRICT bad)
{
    extern __shared__ unsigned int local[];
    if (use_smem) {
        for (int64_t k = threadIdx.x; k < nkeys; k += blockDim.x)
            local[k] = 0;
        __syncthreads();
    }
    SL_GPU_WARP_ROWS(i, nr)
    {
        long long key = -1;
        if (i < nr) {
            key = key_of(i);
            if (key == -2) {
                atomicMin(bad, (unsigned long long)(r0 + i));
                key = -1;
            }
        }
        if (use_smem)
            sl_gpu_warp_count(local, key);
        else
            sl_gpu_warp_count(counts, key);
    }
    if (use_smem) {
        __syncthreads();
        for (int64_t k = threadIdx.x; k < nkeys; k += blockDim.x)
            if (local[k])
                atomicAdd(&counts[k], (unsigned long long)local[k]);
    }
}

/* Counts the rows [0, nr) of a chunk starting at global row r0 into
 * counts[0 .. nkeys) (device, accumulated) and lowers *bad to the first bad
 * row. On g->compute. */
template <class KeyFn>
sl_status sl_gpu_count_rows(struct sl_gpu *g, KeyFn key_of, int64_t nr, int64_t r0,
                            int64_t nkeys, unsigned long long *counts, unsigned long long *bad)
{
    sl_status st = SL_OK;
    int use_smem = nkeys <= SL_GPU_SMEM_COUNTERS;
    size_t smem = use_smem ? (size_t)nkeys * sizeof(unsigned int) : 0;
    for (int64_t s = 0; s < nr; s += SL_GPU_COUNT_ROWS_MAX) {
        int64_t len = nr - s < SL_GPU_COUNT_ROWS_MAX ? nr - s : SL_GPU_COUNT_ROWS_MAX;
        KeyFn part = key_of;
        part.shift(s);
        sl_gpu_count_kernel<<<sl_gpu_grid(g, len), SL_GPU_THREADS, smem, g->compute>>>(
            part, len, r0 + s, nkeys, use_smem, counts, bad);
        SL_CHECK_LAUNCH();
    }
cleanup:
    return st;
}

#endif
