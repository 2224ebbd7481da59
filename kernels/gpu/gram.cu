/*
 * gram.cu: weighted Gram matrix of a tall-skinny block on the GPU
 * (SL_OP_GRAM), g += X' diag(w) X.
 *
 * X, w and the mask stream to the device in chunks of whole segments while
 * the previous chunk is computed (or are used in place where kept). Rows
 * with mask 0 or weight 0 are replaced by zeros before any arithmetic, so a
 * NaN in such a row does not propagate; a NaN in a kept row does. Narrow X
 * (p <= 64) goes through the tile kernel of gram_engine.cuh, wider X through
 * cuBLAS dsyrk on sqrt(w)-scaled blocks; see that header for why both are
 * deterministic.
 */
#include "kernels/gpu/gram.cuh"
#include "kernels/gpu/gram_engine.cuh"

extern "C" {
#include "engine/core/alloc.h"
}

namespace {

/* Row source of the tile kernel: x and w as given. */
struct gram_rows {
    enum { kScalars = 0 };
    const double *x;
    int64_t ldx;
    const double *w;
    const uint8_t *mask;
    int p;
    int64_t r0;
    unsigned long long *bad;

    __device__ void stage(double *xs, double *ws, const struct sl_gram_shape &sh, int64_t s0,
                          int cnt, double *) const
    {
        const int qpad = 4 * sh.nb;
        for (int r = (int)threadIdx.x; r < SL_GRAM_SUB; r += blockDim.x) {
            double wr = 0;
            if (r < cnt) {
                int64_t i = s0 + r;
                int keep = !mask || mask[i];
                double wv = w ? w[i] : 1.0;
                if (keep && !(wv >= 0 && wv <= DBL_MAX))
                    atomicMin(bad, (unsigned long long)(r0 + i));
                else if (keep)
                    wr = wv;
            }
            ws[r] = wr;
        }
        __syncthreads();
        for (int idx = (int)threadIdx.x; idx < SL_GRAM_SUB * qpad; idx += blockDim.x) {
            int r = idx % SL_GRAM_SUB, c = idx / SL_GRAM_SUB;
            double v = 0;
            if (r < cnt && c < p && ws[r] != 0)
                v = x[c * ldx + s0 + r];
            xs[r * sh.lds + c] = v;
        }
    }
};

/* cuBLAS path: A[c * lda + r] = sqrt(w_r) x_rc, zero for rows left out. */
__global__ void scale_rows(const double *SL_GPU_RESTRICT x, int64_t ldx,
                           const double *SL_GPU_RESTRICT w, const uint8_t *SL_GPU_RESTRICT mask,
                           int p, int64_t nrows, int64_t r0, double *SL_GPU_RESTRICT A,
                           int64_t lda, unsigned long long *bad)
{
    int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    double s = 0;
    if (r >= nrows)
        return;
    if (!mask || mask[r]) {
        double wv = w ? w[r] : 1.0;
        if (!(wv >= 0 && wv <= DBL_MAX))
            atomicMin(bad, (unsigned long long)(r0 + r));
        else
            s = sqrt(wv);
    }
    for (int c = 0; c < p; c++)
        A[c * lda + r] = s != 0 ? s * x[c * ldx + r] : 0.0;
}

struct gram_ctx {
    const struct sl_gram_args *a;
    struct sl_gram_shape sh;
    int blas;
    int64_t blas_rows;
    double *part; /* tiles: segment partials */
    double *A, *C; /* cuBLAS: scaled block, Gram */
    unsigned long long *bad;
};

sl_status gram_chunk(struct sl_gpu *g, void *ctxp, int64_t r0, int64_t nr,
                     const struct sl_gpu_view *v)
{
    sl_status st = SL_OK;
    struct gram_ctx *ctx = (struct gram_ctx *)ctxp;
    const double *x = (const double *)v[0].dev, *w = (const double *)v[1].dev;
    const uint8_t *mask = (const uint8_t *)v[2].dev;

    if (!ctx->blas) {
        gram_rows rows = {x, v[0].stride, w, mask, (int)ctx->a->p, r0, ctx->bad};
        SL_CALL(sl_gram_tiles_launch(g, rows, ctx->sh, r0, nr, ctx->part));
        goto cleanup;
    }
    for (int64_t b0 = 0; b0 < nr; b0 += ctx->blas_rows) {
        int64_t rows = nr - b0 < ctx->blas_rows ? nr - b0 : ctx->blas_rows;
        scale_rows<<<(unsigned)((rows + SL_GPU_THREADS - 1) / SL_GPU_THREADS), SL_GPU_THREADS, 0,
                     g->compute>>>(x + b0, v[0].stride, w ? w + b0 : NULL, mask ? mask + b0 : NULL,
                                   (int)ctx->a->p, rows, r0 + b0, ctx->A, ctx->blas_rows, ctx->bad);
        SL_CHECK_LAUNCH();
        SL_CALL(sl_gram_blas_fold(g, ctx->A, rows, ctx->blas_rows, (int)ctx->a->p, ctx->C));
    }
cleanup:
    return st;
}

} // namespace

sl_status sl_gram_gpu(struct sl_gpu *g, const struct sl_gram_args *a)
{
    sl_status st = SL_OK;
    struct gram_ctx ctx;
    struct sl_gpu_col cols[3] = {
        {a->p > 0 ? a->x[0] : NULL, sizeof(double), a->p, 0, (const void *const *)a->x},
        {a->w, sizeof(double), 1, 0, NULL},
        {a->mask, 1, 1, 0, NULL}};
    int p = (int)a->p;
    int64_t nseg = (a->n + SL_GRAM_SEG - 1) / SL_GRAM_SEG, width;
    double *sums = NULL, *dev_sums = NULL;
    unsigned long long bad = 0;

    memset(&ctx, 0, sizeof ctx);
    ctx.a = a;
    ctx.blas = p > SL_GRAM_QMAX;
    ctx.sh = sl_gram_shape_make(p, 0);
    ctx.blas_rows = sl_gram_blas_rows(p);
    width = ctx.blas ? (int64_t)p * p : ctx.sh.width;
    sums = (double *)sl_malloc((size_t)width * sizeof *sums);
    SL_CHECK(sums, SL_ERR_NOMEM, "gram: out of memory");
    SL_CALL(sl_gpu_flag_new(g, &ctx.bad));
    SL_CALL(sl_gpu_alloc(g, (size_t)width * sizeof(double), (void **)&dev_sums));
    if (ctx.blas) {
        SL_CALL(sl_gram_blas_prepare(g));
        SL_CALL(sl_gpu_alloc(g, (size_t)(ctx.blas_rows * p) * sizeof(double), (void **)&ctx.A));
        ctx.C = dev_sums;
        SL_CALL_CUDA(cudaMemsetAsync(ctx.C, 0, (size_t)width * sizeof(double), g->compute));
    } else {
        SL_CALL(sl_gpu_alloc(g, (size_t)(nseg * width) * sizeof(double), (void **)&ctx.part));
    }
    SL_CALL(sl_gpu_pipe_run(g, a->n, cols, 3, ctx.blas ? ctx.blas_rows : SL_GRAM_SEG, 0,
                            gram_chunk, &ctx, NULL));
    if (!ctx.blas)
        SL_CALL(sl_gpu_ordered_sum(g, ctx.part, nseg, width, dev_sums));
    SL_CALL(sl_gpu_download(g, &bad, ctx.bad, sizeof bad));
    if (bad != ~0ULL)
        SL_FAIL(SL_ERR_ARG, "gram: the weight of row %lld is negative or not finite",
                (long long)bad);
    SL_CALL(sl_gpu_download(g, sums, dev_sums, (size_t)width * sizeof *sums));
    for (int j = 0; j < p; j++)
        for (int i = 0; i <= j; i++) {
            double v = ctx.blas ? sums[i + j * p] : sl_gram_tile_value(sums, &ctx.sh, i, j);
            a->g[i + j * p] += v;
            if (i != j)
                a->g[j + i * p] += v;
        }
cleanup:
    sl_free(sums);
    return st;
}
