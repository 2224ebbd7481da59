/*
 * gram_engine.cuh: the weighted Gram engine shared by SL_OP_GRAM and
 * SL_OP_IRLS_STEP on the GPU (private to kernels/gpu).
 *
 * Two paths, both deterministic (the same bits on every run on a given
 * device) because the blocking is fixed and block partials are summed in a
 * fixed order, never with floating-point atomics:
 *
 * - Tiles (q <= SL_GRAM_QMAX columns, q counting IRLS's working response):
 *   one block per segment of SL_GRAM_SEG rows. The block stages SL_GRAM_SUB
 *   rows at a time in shared memory (a "row source" functor fills them:
 *   plain weighted X for the Gram, the IRLS row arithmetic for the step) and
 *   each thread accumulates a 4 x 4 tile of entries over a fixed subset of
 *   the rows with fused multiply-adds, w x_i times x_j. The threads sharing
 *   a tile are summed in a fixed order, giving the segment's partial of the
 *   upper-triangle tiles (plus the row source's scalar sums); the segments'
 *   partials are reduced by sl_gpu_ordered_sum. X is read from device
 *   memory once.
 *
 * - cuBLAS (wider q): blocks of sl_gram_blas_rows(q) rows are scaled by
 *   sqrt(w) (zero for rows left out) into a scratch matrix and folded into
 *   the Gram by cublasDsyrk with beta = 1, block after block in row order on
 *   one stream. cuBLAS routines are bit-reproducible on a given GPU model
 *   with atomics disallowed (the default, set explicitly in context.cu).
 */
#ifndef SL_KERNELS_GPU_GRAM_ENGINE_CUH
#define SL_KERNELS_GPU_GRAM_ENGINE_CUH

#include "kernels/gpu/gpu_impl.cuh"

#define SL_GRAM_SEG 4096 /* rows per block and partial; part of the numerical definition */
#define SL_GRAM_SUB 64   /* rows staged in shared memory at a time */
#define SL_GRAM_QMAX 64  /* widest Gram the tile kernel serves */
#define SL_GRAM_BLAS_QMAX 4096 /* widest Gram the backend serves at all */

/* Layout of the tile kernel for q columns and nscal scalar sums. */
struct sl_gram_shape {
    int q, nb, ntiles, groups, lds, nscal;
    int width;     /* doubles per segment partial: ntiles * 16 + nscal */
    int xs_len;    /* doubles of shared memory before the weights */
    size_t smem;   /* dynamic shared memory, bytes */
};

static inline struct sl_gram_shape sl_gram_shape_make(int q, int nscal)
{
    struct sl_gram_shape sh;
    int red;
    sh.q = q;
    sh.nb = (q + 3) / 4;
    sh.ntiles = sh.nb * (sh.nb + 1) / 2;
    sh.groups = SL_GPU_THREADS / sh.ntiles;
    sh.lds = 4 * sh.nb + 1; /* odd: rows fall in different banks */
    sh.nscal = nscal;
    sh.width = sh.ntiles * 16 + nscal;
    sh.xs_len = SL_GRAM_SUB * sh.lds;
    red = sh.groups * sh.ntiles * 16;
    if (red > sh.xs_len)
        sh.xs_len = red;
    if (SL_GRAM_SUB * nscal > sh.xs_len)
        sh.xs_len = SL_GRAM_SUB * nscal;
    sh.smem = (size_t)(sh.xs_len + SL_GRAM_SUB) * sizeof(double);
    return sh;
}

/* Entry (i, j), i <= j, from the reduced tile sums. */
static inline double sl_gram_tile_value(const double *sums, const struct sl_gram_shape *sh, int i,
                                        int j)
{
    int I = i / 4, J = j / 4;
    int t = I * (2 * sh->nb - I + 1) / 2 + (J - I);
    return sums[t * 16 + 4 * (i % 4) + (j % 4)];
}

/*
 * The row source interface (a functor passed by value):
 *   enum { kScalars = ... };  scalar sums it produces (0 for the Gram)
 *   __device__ void stage(double *xs, double *ws, const sl_gram_shape &sh,
 *                         int64_t s0, int cnt, double *scal) const;
 *     writes rows [s0, s0 + cnt) of the chunk into xs (row r at xs + r *
 *     lds, columns 0 .. 4 nb - 1, zero past q and for rows left out) and
 *     their weights into ws (0 = left out); threads 0 .. SL_GRAM_SUB - 1
 *     each own one row slot and add its scalars to scal. Called by all
 *     threads; may synchronise the block.
 */
template <class Rows>
__global__ void __launch_bounds__(SL_GPU_THREADS)
    sl_gram_tiles_kernel(const Rows rows, const struct sl_gram_shape sh, int64_t nr, int64_t seg0,
                         double *SL_GPU_RESTRICT part)
{
    extern __shared__ double smem[];
    double *xs = smem, *ws = smem + sh.xs_len;
    const int t = (int)threadIdx.x;
    const int tile = t / sh.groups, grp = t % sh.groups;
    const bool active = tile < sh.ntiles;
    const int64_t rb = (int64_t)blockIdx.x * SL_GRAM_SEG;
    const int64_t re = rb + SL_GRAM_SEG < nr ? rb + SL_GRAM_SEG : nr;
    double acc[4][4], scal[Rows::kScalars > 0 ? Rows::kScalars : 1];
    double *out = part + (seg0 + blockIdx.x) * (int64_t)sh.width;
    int I = 0, J = 0;

#pragma unroll
    for (int a = 0; a < 4; a++)
#pragma unroll
        for (int b = 0; b < 4; b++)
            acc[a][b] = 0;
#pragma unroll
    for (int k = 0; k < (Rows::kScalars > 0 ? Rows::kScalars : 1); k++)
        scal[k] = 0;
    if (active) {
        int k = tile;
        while (k >= sh.nb - I) {
            k -= sh.nb - I;
            I++;
        }
        J = I + k;
    }
    for (int64_t s0 = rb; s0 < re; s0 += SL_GRAM_SUB) {
        const int cnt = (int)(re - s0 < SL_GRAM_SUB ? re - s0 : SL_GRAM_SUB);
        rows.stage(xs, ws, sh, s0, cnt, scal);
        __syncthreads();
        if (active) {
            const double *xa = xs + 4 * I, *xb = xs + 4 * J;
            for (int r = grp; r < cnt; r += sh.groups) {
                const double w = ws[r];
                const double *pa = xa + r * sh.lds, *pb = xb + r * sh.lds;
                double av[4], bv[4];
#pragma unroll
                for (int k = 0; k < 4; k++) {
                    av[k] = w * pa[k];
                    bv[k] = pb[k];
                }
#pragma unroll
                for (int a = 0; a < 4; a++)
#pragma unroll
                    for (int b = 0; b < 4; b++)
                        acc[a][b] = fma(av[a], bv[b], acc[a][b]);
            }
        }
        __syncthreads();
    }
    /* the groups of a tile, summed in group order */
    if (active)
#pragma unroll
        for (int e = 0; e < 16; e++)
            xs[(tile * 16 + e) * sh.groups + grp] = acc[e / 4][e % 4];
    __syncthreads();
    for (int e = t; e < sh.ntiles * 16; e += blockDim.x) {
        const double *src = xs + e * sh.groups;
        double s = src[0];
        for (int k = 1; k < sh.groups; k++)
            s += src[k];
        out[e] = s;
    }
    if (Rows::kScalars > 0) {
        /* the row slots' scalar sums, in slot order */
        __syncthreads();
        if (t < SL_GRAM_SUB)
            for (int k = 0; k < Rows::kScalars; k++)
                xs[k * SL_GRAM_SUB + t] = scal[k];
        __syncthreads();
        if (t < Rows::kScalars) {
            double s = xs[t * SL_GRAM_SUB];
            for (int r = 1; r < SL_GRAM_SUB; r++)
                s += xs[t * SL_GRAM_SUB + r];
            out[sh.ntiles * 16 + t] = s;
        }
    }
}

/* Launches the tile kernel on the rows [0, nr) of a chunk starting at row r0
 * (a multiple of SL_GRAM_SEG); segment partials go to part. */
template <class Rows>
sl_status sl_gram_tiles_launch(struct sl_gpu *g, const Rows &rows, const struct sl_gram_shape &sh,
                               int64_t r0, int64_t nr, double *part)
{
    sl_status st = SL_OK;
    int64_t blocks = (nr + SL_GRAM_SEG - 1) / SL_GRAM_SEG;
    if (blocks > 0) {
        sl_gram_tiles_kernel<Rows><<<(unsigned)blocks, SL_GPU_THREADS, sh.smem, g->compute>>>(
            rows, sh, nr, r0 / SL_GRAM_SEG, part);
        SL_CHECK_LAUNCH();
    }
cleanup:
    return st;
}

/* Rows per cuBLAS block for q columns: 65536, halved while the scaled block
 * would exceed 64 MiB, at least 1024. A function of q only, so the blocking
 * (and the result) does not depend on the chunking. */
static inline int64_t sl_gram_blas_rows(int q)
{
    int64_t rows = 65536;
    while (rows > 1024 && rows * (int64_t)q * (int64_t)sizeof(double) > ((int64_t)64 << 20))
        rows /= 2;
    return rows;
}

/* cuBLAS's workspace for the call, taken from the scratch arena so that
 * whatever it holds is zeroed with the rest when the call ends (NVIDIA's
 * recommended size for Hopper). Must be set by every call that uses cuBLAS:
 * the arena may move between calls. */
#define SL_GRAM_BLAS_WORKSPACE ((size_t)32 << 20)

static inline sl_status sl_gram_blas_prepare(struct sl_gpu *g)
{
    sl_status st = SL_OK;
    void *ws = NULL;
    SL_CALL(sl_gpu_alloc(g, SL_GRAM_BLAS_WORKSPACE, &ws));
    SL_CALL_CUBLAS(sl_cublas.set_workspace(g->blas, ws, SL_GRAM_BLAS_WORKSPACE));
cleanup:
    return st;
}

/* Folds the scaled block A (nrows x q, leading dimension lda) into the upper
 * triangle of C (q x q): C += A' A. On g->compute. */
static inline sl_status sl_gram_blas_fold(struct sl_gpu *g, const double *A, int64_t nrows,
                                          int64_t lda, int q, double *C)
{
    sl_status st = SL_OK;
    const double one = 1.0;
    if (nrows > 0)
        SL_CALL_CUBLAS(sl_cublas.dsyrk(g->blas, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_T, q,
                                       (int)nrows, &one, A, (int)lda, &one, C, q));
cleanup:
    return st;
}

#endif
