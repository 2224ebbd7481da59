/*
 * irls_step.cu: one fused pass of iteratively reweighted least squares on
 * the GPU (SL_OP_IRLS_STEP).
 *
 * Per row, in one pass over X: the linear predictor (summed over the
 * columns in order, as the CPU does), the family's working weight W and
 * response z and the deviance terms (kernels/cpu/glm_row.h, R's formulas and clamping),
 * then W x_i x_j and W z x_j through the Gram engine (gram_engine.cuh) with z
 * as an extra column, so X'WX and X'Wz come out together as one augmented
 * Gram. The scalar sums (rows used, boundary rows, deviance, -2 log
 * likelihood, weight sums) are summed per row slot in row order and across
 * slots and segments in a fixed order. A bad row is recorded on the device
 * as (row, error kind) with an integer atomic minimum, so the error named is
 * the first bad row's, as in the reference.
 */
extern "C" {
#include "kernels/cpu/glm_row.h"
}
#include "kernels/gpu/gram_engine.cuh"
#include "kernels/gpu/irls_step.cuh"

extern "C" {
#include "engine/core/alloc.h"
}

/* Scalar-sum partials of the cuBLAS path: one per SL_GPU_THREADS rows. */
#define BLAS_SCAL_ROWS SL_GPU_THREADS

namespace {

__device__ __forceinline__ void flag_row(unsigned long long *bad, int64_t row, int kind)
{
    atomicMin(bad, (unsigned long long)row * 8ULL + (unsigned long long)kind);
}

/* The row's working quantities; returns 1 when the row is used. */
__device__ __forceinline__ int irls_row(int family, double eta, const double *y,
                                        const double *offset, double a, int64_t i,
                                        int64_t global, unsigned long long *bad,
                                        struct sl_glm_row *o)
{
    double off = offset ? offset[i] : 0.0;
    int kind = sl_glm_row_eval((enum sl_glm_family)family, eta + off, off, y[i], a, o);
    if (kind) {
        flag_row(bad, global, kind);
        return 0;
    }
    return 1;
}

__device__ __forceinline__ void add_scalars(double *scal, const struct sl_glm_row *o,
                                            double a, double y, int has_prior)
{
    scal[SL_GLM_SUM_N_USED] += 1;
    scal[SL_GLM_SUM_N_BOUNDARY] += o->boundary;
    scal[SL_GLM_SUM_DEVIANCE] += o->dev;
    scal[SL_GLM_SUM_M2LL] += o->m2ll;
    if (has_prior)
        scal[SL_GLM_SUM_LOG_W] += log(a);
    scal[SL_GLM_SUM_W] += a;
    scal[SL_GLM_SUM_WY] += a * y;
}

/* Row source of the tile kernel: X, then W and z from the row arithmetic. */
struct irls_rows {
    enum { kScalars = SL_GLM_NSUMS };
    const double *x;
    int64_t ldx;
    const double *y, *prior_w, *offset;
    const uint8_t *mask;
    int p, family;
    int64_t r0;
    unsigned long long *bad;
    double beta[SL_GRAM_QMAX];

    __device__ void stage(double *xs, double *ws, const struct sl_gram_shape &sh, int64_t s0,
                          int cnt, double *scal) const
    {
        const int qpad = 4 * sh.nb;
        for (int idx = (int)threadIdx.x; idx < SL_GRAM_SUB * qpad; idx += blockDim.x) {
            int r = idx % SL_GRAM_SUB, c = idx / SL_GRAM_SUB;
            xs[r * sh.lds + c] = r < cnt && c < p ? x[c * ldx + s0 + r] : 0.0;
        }
        __syncthreads();
        for (int r = (int)threadIdx.x; r < SL_GRAM_SUB; r += blockDim.x) {
            double *xr = xs + r * sh.lds, W = 0, z = 0;
            if (r < cnt) {
                int64_t i = s0 + r;
                double a = prior_w ? prior_w[i] : 1.0;
                if (mask && !mask[i]) {
                    a = 0;
                } else if (!(a >= 0 && a <= DBL_MAX)) {
                    flag_row(bad, r0 + i, SL_GLM_ROW_BAD_WEIGHT);
                    a = 0;
                }
                if (a > 0) {
                    struct sl_glm_row o;
                    double eta = 0;
                    for (int j = 0; j < p; j++)
                        eta = eta + xr[j] * beta[j];
                    if (irls_row(family, eta, y, offset, a, i, r0 + i, bad, &o)) {
                        W = o.w;
                        z = o.z;
                        add_scalars(scal, &o, a, y[i], prior_w != NULL);
                    }
                }
            }
            ws[r] = W;
            xr[p] = z;
            if (W == 0)
                for (int j = 0; j < p; j++)
                    xr[j] = 0;
        }
    }
};

/* cuBLAS path: the same row arithmetic, one thread per row, writing sqrt(W)
 * X and sqrt(W) z into A and each block's scalar sums (threads summed in a
 * fixed tree) into scal_part[(r0 + b0) / BLAS_SCAL_ROWS + block]. */
__global__ void __launch_bounds__(SL_GPU_THREADS)
    irls_rows_blas(const double *SL_GPU_RESTRICT x, int64_t ldx, const double *SL_GPU_RESTRICT y,
                   const double *SL_GPU_RESTRICT prior_w, const double *SL_GPU_RESTRICT offset,
                   const uint8_t *SL_GPU_RESTRICT mask, const double *SL_GPU_RESTRICT beta, int p,
                   int family, int64_t nrows, int64_t global0, double *SL_GPU_RESTRICT A,
                   int64_t lda, double *SL_GPU_RESTRICT scal_part, unsigned long long *bad)
{
    __shared__ double red[SL_GLM_NSUMS][SL_GPU_THREADS];
    const int t = (int)threadIdx.x;
    int64_t r = (int64_t)blockIdx.x * blockDim.x + t;
    double scal[SL_GLM_NSUMS], s = 0, z = 0;

    for (int k = 0; k < SL_GLM_NSUMS; k++)
        scal[k] = 0;
    if (r < nrows) {
        double a = prior_w ? prior_w[r] : 1.0;
        if (mask && !mask[r]) {
            a = 0;
        } else if (!(a >= 0 && a <= DBL_MAX)) {
            flag_row(bad, global0 + r, SL_GLM_ROW_BAD_WEIGHT);
            a = 0;
        }
        if (a > 0) {
            struct sl_glm_row o;
            double eta = 0;
            for (int j = 0; j < p; j++)
                eta = eta + x[j * ldx + r] * __ldg(&beta[j]);
            if (irls_row(family, eta, y, offset, a, r, global0 + r, bad, &o)) {
                s = sqrt(o.w);
                z = s * o.z;
                add_scalars(scal, &o, a, y[r], prior_w != NULL);
            }
        }
        for (int j = 0; j < p; j++)
            A[j * lda + r] = s != 0 ? s * x[j * ldx + r] : 0.0;
        A[(int64_t)p * lda + r] = s != 0 ? z : 0.0;
    }
    for (int k = 0; k < SL_GLM_NSUMS; k++)
        red[k][t] = scal[k];
    __syncthreads();
    for (int h = SL_GPU_THREADS / 2; h > 0; h >>= 1) {
        if (t < h)
            for (int k = 0; k < SL_GLM_NSUMS; k++)
                red[k][t] += red[k][t + h];
        __syncthreads();
    }
    if (t < SL_GLM_NSUMS)
        scal_part[(global0 / BLAS_SCAL_ROWS + blockIdx.x) * SL_GLM_NSUMS + t] = red[t][0];
}

struct irls_ctx {
    const struct sl_irls_step_args *a;
    struct sl_gram_shape sh;
    int blas;
    int64_t blas_rows;
    double *part;            /* tiles: segment partials */
    double *A, *C, *scal_part, *beta; /* cuBLAS */
    unsigned long long *bad;
};

sl_status irls_chunk(struct sl_gpu *g, void *ctxp, int64_t r0, int64_t nr,
                     const struct sl_gpu_view *v)
{
    sl_status st = SL_OK;
    struct irls_ctx *ctx = (struct irls_ctx *)ctxp;
    const struct sl_irls_step_args *a = ctx->a;
    const double *x = (const double *)v[0].dev, *y = (const double *)v[1].dev;
    const double *pw = (const double *)v[2].dev, *off = (const double *)v[3].dev;
    const uint8_t *mask = (const uint8_t *)v[4].dev;
    int p = (int)a->p;

    if (!ctx->blas) {
        irls_rows rows;
        rows.x = x;
        rows.ldx = v[0].stride;
        rows.y = y;
        rows.prior_w = pw;
        rows.offset = off;
        rows.mask = mask;
        rows.p = p;
        rows.family = (int)a->family;
        rows.r0 = r0;
        rows.bad = ctx->bad;
        for (int j = 0; j < SL_GRAM_QMAX; j++)
            rows.beta[j] = j < p ? a->beta[j] : 0.0;
        SL_CALL(sl_gram_tiles_launch(g, rows, ctx->sh, r0, nr, ctx->part));
        goto cleanup;
    }
    for (int64_t b0 = 0; b0 < nr; b0 += ctx->blas_rows) {
        int64_t rows = nr - b0 < ctx->blas_rows ? nr - b0 : ctx->blas_rows;
        irls_rows_blas<<<(unsigned)((rows + SL_GPU_THREADS - 1) / SL_GPU_THREADS), SL_GPU_THREADS,
                         0, g->compute>>>(
            x + b0, v[0].stride, y + b0, pw ? pw + b0 : NULL, off ? off + b0 : NULL,
            mask ? mask + b0 : NULL, ctx->beta, p, (int)a->family, rows, r0 + b0, ctx->A,
            ctx->blas_rows, ctx->scal_part, ctx->bad);
        SL_CHECK_LAUNCH();
        SL_CALL(sl_gram_blas_fold(g, ctx->A, rows, ctx->blas_rows, p + 1, ctx->C));
    }
cleanup:
    return st;
}

} // namespace

sl_status sl_irls_step_gpu(struct sl_gpu *g, const struct sl_irls_step_args *a)
{
    sl_status st = SL_OK;
    struct irls_ctx ctx;
    struct sl_gpu_col cols[5] = {{a->x[0], sizeof(double), a->p, 0, (const void *const *)a->x},
                                 {a->y, sizeof(double), 1, 0, NULL},
                                 {a->prior_w, sizeof(double), 1, 0, NULL},
                                 {a->offset, sizeof(double), 1, 0, NULL},
                                 {a->mask, 1, 1, 0, NULL}};
    int p = (int)a->p, q = p + 1;
    int64_t nseg = (a->n + SL_GRAM_SEG - 1) / SL_GRAM_SEG, width, nscal_rows;
    double *sums = NULL, *dev_sums = NULL, *dev_scal = NULL, scal[SL_GLM_NSUMS];
    unsigned long long bad = 0;

    memset(&ctx, 0, sizeof ctx);
    ctx.a = a;
    ctx.blas = q > SL_GRAM_QMAX;
    ctx.sh = sl_gram_shape_make(q, SL_GLM_NSUMS);
    ctx.blas_rows = sl_gram_blas_rows(q);
    width = ctx.blas ? (int64_t)q * q : ctx.sh.width;
    sums = (double *)sl_malloc((size_t)width * sizeof *sums);
    SL_CHECK(sums, SL_ERR_NOMEM, "irls_step: out of memory");
    SL_CALL(sl_gpu_flag_new(g, &ctx.bad));
    SL_CALL(sl_gpu_alloc(g, (size_t)width * sizeof(double), (void **)&dev_sums));
    if (ctx.blas) {
        SL_CALL(sl_gram_blas_prepare(g));
        nscal_rows = (a->n + BLAS_SCAL_ROWS - 1) / BLAS_SCAL_ROWS;
        SL_CALL(sl_gpu_alloc(g, (size_t)(ctx.blas_rows * q) * sizeof(double), (void **)&ctx.A));
        SL_CALL(sl_gpu_alloc(g, (size_t)(nscal_rows * SL_GLM_NSUMS) * sizeof(double),
                             (void **)&ctx.scal_part));
        SL_CALL(sl_gpu_alloc(g, SL_GLM_NSUMS * sizeof(double), (void **)&dev_scal));
        SL_CALL(sl_gpu_alloc(g, (size_t)p * sizeof(double), (void **)&ctx.beta));
        SL_CALL(sl_gpu_upload(g, ctx.beta, a->beta, (size_t)p * sizeof(double)));
        ctx.C = dev_sums;
        SL_CALL_CUDA(cudaMemsetAsync(ctx.C, 0, (size_t)width * sizeof(double), g->compute));
    } else {
        nscal_rows = 0;
        SL_CALL(sl_gpu_alloc(g, (size_t)(nseg * width) * sizeof(double), (void **)&ctx.part));
    }
    SL_CALL(sl_gpu_pipe_run(g, a->n, cols, 5, ctx.blas ? ctx.blas_rows : SL_GRAM_SEG, 0,
                            irls_chunk, &ctx, NULL));
    if (ctx.blas)
        SL_CALL(sl_gpu_ordered_sum(g, ctx.scal_part, nscal_rows, SL_GLM_NSUMS, dev_scal));
    else
        SL_CALL(sl_gpu_ordered_sum(g, ctx.part, nseg, width, dev_sums));
    SL_CALL(sl_gpu_download(g, &bad, ctx.bad, sizeof bad));
    if (bad != ~0ULL)
        SL_CALL(sl_glm_row_error((int)(bad % 8), a->family, (int64_t)(bad / 8)));
    SL_CALL(sl_gpu_download(g, sums, dev_sums, (size_t)width * sizeof *sums));
    if (ctx.blas)
        SL_CALL(sl_gpu_download(g, scal, dev_scal, sizeof scal));
    else
        memcpy(scal, sums + ctx.sh.ntiles * 16, sizeof scal);
    for (int j = 0; j < p; j++) {
        for (int i = 0; i <= j; i++) {
            double v = ctx.blas ? sums[i + j * q] : sl_gram_tile_value(sums, &ctx.sh, i, j);
            a->xtwx[i + j * p] += v;
            if (i != j)
                a->xtwx[j + i * p] += v;
        }
        a->xtwz[j] += ctx.blas ? sums[j + p * q] : sl_gram_tile_value(sums, &ctx.sh, j, p);
    }
    a->sums->n_used += (int64_t)scal[SL_GLM_SUM_N_USED];
    a->sums->n_boundary += (int64_t)scal[SL_GLM_SUM_N_BOUNDARY];
    a->sums->deviance += scal[SL_GLM_SUM_DEVIANCE];
    a->sums->minus2_loglik += scal[SL_GLM_SUM_M2LL];
    a->sums->sum_log_w += scal[SL_GLM_SUM_LOG_W];
    a->sums->sum_w += scal[SL_GLM_SUM_W];
    a->sums->sum_wy += scal[SL_GLM_SUM_WY];
cleanup:
    sl_free(sums);
    return st;
}
