/*
 * gpu_impl.cuh: the machinery the CUDA kernels share (private to kernels/gpu).
 *
 * One struct sl_gpu per process holds the device context: a compute stream
 * on which every kernel of a call runs in a fixed order (so block partials
 * are folded in the same order on every run), two copy streams that move the
 * next chunk of rows while the current one is computed, two pinned staging
 * buffers, a device scratch arena that is zeroed after every call (it holds
 * row data), and the copies kept resident by sl_backend_keep.
 *
 * The op files (<op>.cu) use four services: SL_CALL_CUDA / SL_CALL_CUBLAS to
 * turn a foreign error into SL_ERR_CUDA (or SL_ERR_UNSUPPORTED for an
 * allocation the device cannot give, so the dispatcher reruns the call on the
 * CPU); sl_gpu_alloc for scratch; sl_gpu_pipe_run to stream the call's row
 * arrays to the device chunk by chunk with a callback per chunk; and
 * sl_gpu_ordered_sum to reduce per-block partials in a fixed tree.
 *
 * Host code here is C++ only because nvcc compiles it: it follows the C
 * rules of the project (status codes, one cleanup label, declarations before
 * the first jump to cleanup).
 */
#ifndef SL_KERNELS_GPU_IMPL_CUH
#define SL_KERNELS_GPU_IMPL_CUH

/* C headers the project headers pull in, included first so that they are not
 * first seen inside the extern "C" block below. */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>

extern "C" {
#include "engine/core/status.h"
#include "kernels/backend_impl.h"
#include "kernels/kernel.h"
}

/* ---- cuBLAS, opened on first use ---- */

/* cuBLAS is opened with dlopen when the first GPU context is made, not
 * linked: a process that links it maps and initialises it at start (about
 * 0.1 s and 200 MB of touched pages here), which every sluice command and
 * every rank of a CPU job would pay on a machine that has the CUDA toolkit.
 * The entry points used, with cublas_v2.h's types. */
struct sl_cublas {
    decltype(&cublasCreate_v2) create;
    decltype(&cublasDestroy_v2) destroy;
    decltype(&cublasGetStatusString) status_string;
    decltype(&cublasSetStream_v2) set_stream;
    decltype(&cublasSetAtomicsMode) set_atomics_mode;
    decltype(&cublasSetWorkspace_v2) set_workspace;
    decltype(&cublasDsyrk_v2) dsyrk;
};
extern struct sl_cublas sl_cublas;

/* Opens cuBLAS once per process (the library found at build time, else by
 * its soname) and fills sl_cublas. SL_ERR_UNSUPPORTED naming the library
 * and the loader's reason when it cannot. Thread-safe. */
sl_status sl_gpu_cublas_load(void);

/* ---- errors ---- */

/* Records a failed CUDA runtime call and returns SL_ERR_CUDA, or
 * SL_ERR_UNSUPPORTED for cudaErrorMemoryAllocation (the call is then rerun on
 * the CPU). Clears the runtime's last-error state. */
sl_status sl_gpu_cuda_error(cudaError_t err, const char *call, const char *file, int line,
                            const char *func);
/* The same for cuBLAS (CUBLAS_STATUS_ALLOC_FAILED gives SL_ERR_UNSUPPORTED). */
sl_status sl_gpu_cublas_error(cublasStatus_t err, const char *call, const char *file, int line,
                              const char *func);

#define SL_CALL_CUDA(expr)                                                                   \
    do {                                                                                     \
        cudaError_t sl_cuda_err_ = (expr);                                                   \
        if (sl_cuda_err_ != cudaSuccess) {                                                   \
            st = sl_gpu_cuda_error(sl_cuda_err_, #expr, __FILE__, __LINE__, __func__);       \
            goto cleanup;                                                                    \
        }                                                                                    \
    } while (0)

#define SL_CALL_CUBLAS(expr)                                                                 \
    do {                                                                                     \
        cublasStatus_t sl_cublas_st_ = (expr);                                               \
        if (sl_cublas_st_ != CUBLAS_STATUS_SUCCESS) {                                        \
            st = sl_gpu_cublas_error(sl_cublas_st_, #expr, __FILE__, __LINE__, __func__);    \
            goto cleanup;                                                                    \
        }                                                                                    \
    } while (0)

/* After a kernel launch: reports a bad launch configuration. */
#define SL_CHECK_LAUNCH() SL_CALL_CUDA(cudaGetLastError())

/* The CPU backends' message for a row whose cell is outside [-1, ncells)
 * (kernels/cpu/cpu_impl.h), so both report the same text. */
extern "C" sl_status sl_cell_error(const char *op, int64_t row, int64_t ncells);

/* Reports the first bad row found on the device (flag != UINT64_MAX) as a
 * bad cell of `op`; SL_OK otherwise. */
sl_status sl_gpu_check_cells(const char *op, unsigned long long flag, int64_t ncells);

/* ---- the device context ---- */

/* A host range kept on the device (sl_backend_keep). */
struct sl_gpu_kept {
    const void *host;
    size_t bytes;
    void *dev;
};

/* One cudaMalloc'ed block of the scratch arena; [0, used) is handed out in
 * the current call and zeroed when it ends. */
struct sl_gpu_block {
    unsigned char *base;
    size_t bytes, used;
};

#define SL_GPU_MAX_BLOCKS 16

struct sl_gpu {
    int device;
    int multiprocessors;
    cudaStream_t compute;   /* every kernel of a call, in order */
    cudaStream_t copy[2];   /* host-to-device copies, one per staging slot */
    cudaEvent_t copied[2];  /* slot's copy finished: its pinned buffer is free */
    cudaEvent_t consumed[2]; /* compute finished with the slot's device rows */
    cublasHandle_t blas;    /* bound to `compute` */
    unsigned char *pinned[2]; /* page-locked staging, excluded from core dumps */
    size_t pinned_bytes;    /* per slot */
    size_t pinned_dirty[2]; /* bytes written in this call, wiped at its end */
    struct sl_gpu_block blocks[SL_GPU_MAX_BLOCKS];
    int nblocks;
    size_t arena_hint;      /* one block this large next time */
    struct sl_gpu_kept *kept;
    size_t nkept, kept_cap;
};

/* Creates the context on `device` (made current): streams, events, the
 * cuBLAS handle. Staging and scratch are allocated on first use.
 * SL_ERR_CUDA; SL_ERR_NOMEM. */
sl_status sl_gpu_create(int device, struct sl_gpu **out);
/* Waits for the device, zeroes and frees the kept copies, the scratch and
 * the staging buffers, and releases the context's handles. NULL-safe; NULLs
 * *g. */
void sl_gpu_destroy(struct sl_gpu **g);

/* sl_backend_keep / sl_backend_forget: a zeroed-on-release device copy of
 * [host, host + bytes), replacing an earlier one of the same host address.
 * SL_ERR_UNSUPPORTED when the device has no room (the hint is then ignored by
 * the caller); SL_ERR_CUDA; SL_ERR_NOMEM. */
sl_status sl_gpu_keep(struct sl_gpu *g, const void *host, size_t bytes);
void sl_gpu_forget(struct sl_gpu *g, const void *host);

/* Device scratch of `bytes` (256-byte aligned, contents undefined) valid
 * until the end of the current call. SL_ERR_UNSUPPORTED when the device has
 * no room (the call then runs on the CPU); SL_ERR_CUDA. */
sl_status sl_gpu_alloc(struct sl_gpu *g, size_t bytes, void **out);

/* Ends a call: waits for all streams, zeroes every scratch byte handed out
 * and every staging byte written (they held row data), and trims the arena.
 * Returns the first error met while doing so (after doing all of it). */
sl_status sl_gpu_call_end(struct sl_gpu *g);

/* Device address of [host, host + bytes) when it lies inside a kept range at
 * an offset aligned to `align`, else NULL. */
const void *sl_gpu_resident(const struct sl_gpu *g, const void *host, size_t bytes, size_t align);

/* Copies host bytes to device memory through the staging buffers (pageable
 * source; returns when the copy is complete). */
sl_status sl_gpu_upload(struct sl_gpu *g, void *dev, const void *host, size_t bytes);

/* ---- streaming row arrays to the device ---- */

/* A group of `count` row arrays of one element type: array k holds row r at
 * (const char *)host + (k * stride + r) * elem, or, with `arrays`, at
 * (const char *)arrays[k] + r * elem (then host is arrays[0]). host NULL:
 * the group is absent (its view is NULL). On the device the arrays of a
 * group are always equally spaced (the view's stride). */
struct sl_gpu_col {
    const void *host;
    size_t elem;
    int64_t count;
    int64_t stride;             /* elements between arrays (ldx); ignored when count == 1
                                   or with arrays */
    const void *const *arrays;  /* [count] or NULL */
};

/* Where a group's rows of the current chunk are on the device: array k's
 * row r0 + i at (const char *)dev + (k * stride + i) * elem. */
struct sl_gpu_view {
    const void *dev;
    int64_t stride;
};

/* Called once per chunk of rows [r0, r0 + nr) with the views of the groups
 * (in the order given), after the chunk's copies; launches its kernels on
 * g->compute. r0 is a multiple of the granule. */
typedef sl_status sl_gpu_chunk_fn(struct sl_gpu *g, void *ctx, int64_t r0, int64_t nr,
                                  const struct sl_gpu_view *views);

/* Streams n rows of the groups to the device and calls fn per chunk. Chunks
 * start at multiples of `granule`, so an op whose blocks cover fixed row
 * ranges (multiples of the granule) computes the same partials whatever the
 * chunk size. Groups kept resident are not copied. With `whole` every row
 * stays on the device until the call ends and whole_views (optional, one per
 * group) receives the view of row 0; without it two slots alternate and the
 * copy of chunk k + 1 overlaps the kernels of chunk k. */
sl_status sl_gpu_pipe_run(struct sl_gpu *g, int64_t n, const struct sl_gpu_col *cols, int ncols,
                          int64_t granule, int whole, sl_gpu_chunk_fn *fn, void *ctx,
                          struct sl_gpu_view *whole_views);

/* ---- reductions in a fixed order ---- */

/* out[e] (device, width doubles) = the sum over r of part[r * width + e],
 * folded 64 rows at a time in row order, then the group sums likewise, until
 * one row is left: a tree fixed by `rows`, so the result is a deterministic
 * function of the partials. rows == 0 gives zeros. On g->compute. */
sl_status sl_gpu_ordered_sum(struct sl_gpu *g, const double *part, int64_t rows, int64_t width,
                             double *out);

/* A device word for "the first bad row": set to UINT64_MAX; kernels lower it
 * with atomicMin, which gives the same row whatever the scheduling. */
sl_status sl_gpu_flag_new(struct sl_gpu *g, unsigned long long **flag);

/* Copies `bytes` from the device to host memory on g->compute and waits. */
sl_status sl_gpu_download(struct sl_gpu *g, void *host, const void *dev, size_t bytes);

/* Threads per block and blocks for a grid-stride loop over `items`. */
#define SL_GPU_THREADS 256
int sl_gpu_grid(const struct sl_gpu *g, int64_t items);

/* Bits needed for the keys 0 .. maxkey (at least 1). */
int sl_gpu_key_bits(uint64_t maxkey);

/* Marks a kernel parameter that is read only. */
#define SL_GPU_RESTRICT __restrict__

/* Cell of row i as the CPU kernels see it (cpu_impl.h, sl_row_cell): -1 when
 * the row is dropped, -2 when the mask keeps it but its cell is outside
 * [-1, ncells), else the cell. */
__device__ __forceinline__ int64_t sl_gpu_row_cell(const int32_t *cell, const uint8_t *mask,
                                                   int64_t ncells, int64_t i)
{
    int64_t c;
    if (mask && !mask[i])
        return -1;
    if (!cell)
        return 0;
    c = cell[i];
    return c < -1 || c >= ncells ? -2 : c;
}

/* Adds 1 to counter[key] for every lane of the warp whose key is >= 0, with
 * one atomic per distinct key (its lowest lane adds the number of lanes that
 * share it). Integer atomics: the totals do not depend on the order. Every
 * lane of the warp must call it together. */
template <class T>
__device__ __forceinline__ void sl_gpu_warp_count(T *counter, long long key)
{
    unsigned peers = __match_any_sync(0xffffffffu, key);
    if (key >= 0 && (int)(threadIdx.x & 31) == __ffs(peers) - 1)
        atomicAdd(&counter[key], (T)__popc(peers));
}

/* Grid-stride loop over rows [0, nr) in which every lane of a warp runs the
 * same iterations (rows past nr get i >= nr), as sl_gpu_warp_count needs. */
#define SL_GPU_WARP_ROWS(i, nr)                                                              \
    for (int64_t sl_base_ = (int64_t)blockIdx.x * blockDim.x + (threadIdx.x & ~31u),         \
                 i = sl_base_ + (threadIdx.x & 31u);                                         \
         sl_base_ < (nr);                                                                    \
         sl_base_ += (int64_t)gridDim.x * blockDim.x, i = sl_base_ + (threadIdx.x & 31u))

#endif
