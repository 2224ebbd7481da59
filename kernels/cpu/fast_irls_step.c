/*
 * fast_irls_step.c: one fused pass of IRLS for a chunk (SL_OP_IRLS_STEP).
 *
 * Per block of rows the row source computes the linear predictor, the
 * working weights and response and the deviance, and packs sqrt(W) X with
 * sqrt(W) z as an extra column; the shared Gram engine (fast_gram.c) then
 * yields X'WX and X'Wz together as one augmented Gram, so X is read from
 * memory once per step.
 */
#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "kernels/cpu/cpu_impl.h"
#include "kernels/cpu/glm_row.h"

static int irls_fill(const void *ctx, int64_t r0, int64_t nr, double *buf, size_t ld,
                     double *s, double *scal, int64_t *bad_row)
{
    const struct sl_irls_step_args *a = ctx;
    double *zcol = buf + (size_t)a->p * ld;
    int any_zero = 0;

    /* eta without the offset, column by column (s holds it for now) */
    memset(s, 0, (size_t)nr * sizeof(double));
    for (int64_t j = 0; j < a->p; j++) {
        const double *x = a->x[j] + r0;
        double b = a->beta[j];
        for (int64_t r = 0; r < nr; r++)
            s[r] = s[r] + x[r] * b;
    }
    for (int64_t r = 0; r < nr; r++) {
        int64_t row = r0 + r;
        double w = a->prior_w ? a->prior_w[row] : 1.0;
        double off = a->offset ? a->offset[row] : 0.0;
        struct sl_glm_row o = {0, 0, 0, 0, 0};
        int kind;
        if (a->mask && !a->mask[row]) {
            s[r] = 0;
            zcol[r] = 0;
            any_zero = 1;
            continue;
        }
        if (!(w >= 0 && w <= DBL_MAX)) {
            *bad_row = row;
            return SL_GLM_ROW_BAD_WEIGHT;
        }
        if (w == 0) {
            s[r] = 0;
            zcol[r] = 0;
            any_zero = 1;
            continue;
        }
        kind = sl_glm_row_eval(a->family, s[r] + off, off, a->y[row], w, &o);
        if (kind) {
            *bad_row = row;
            return kind;
        }
        s[r] = sqrt(o.w);
        zcol[r] = s[r] * o.z;
        any_zero |= s[r] == 0;
        scal[SL_GLM_SUM_N_USED] += 1;
        scal[SL_GLM_SUM_N_BOUNDARY] += o.boundary;
        scal[SL_GLM_SUM_DEVIANCE] += o.dev;
        scal[SL_GLM_SUM_M2LL] += o.m2ll;
        if (a->prior_w)
            scal[SL_GLM_SUM_LOG_W] += log(w);
        scal[SL_GLM_SUM_W] += w;
        scal[SL_GLM_SUM_WY] += w * a->y[row];
    }
    for (int64_t j = 0; j < a->p; j++)
        sl_gram_scale_rows(buf + (size_t)j * ld, s, a->x[j] + r0, nr);
    /* rows left out are zero whatever X holds there (NaN * 0 is NaN) */
    if (any_zero)
        for (int64_t r = 0; r < nr; r++)
            if (s[r] == 0)
                for (int64_t j = 0; j < a->p; j++)
                    buf[(size_t)j * ld + (size_t)r] = 0;
    return 0;
}

sl_status sl_irls_step_cpu_fast(const struct sl_irls_step_args *a)
{
    sl_status st = SL_OK;
    struct sl_secbuf *tri = NULL;
    struct sl_gram_stream *streams = NULL;
    struct sl_gram_plan plan = {a->n, a->p + 1, SL_GLM_NSUMS, irls_fill, a, NULL, 0};
    size_t p = (size_t)a->p;
    double scal[SL_GLM_NSUMS];
    const double *t;
    int kind = 0;
    int64_t bad = -1;

    streams = sl_calloc(p + 4, sizeof *streams);
    SL_CHECK(streams, SL_ERR_NOMEM, "irls_step: out of memory");
    for (size_t j = 0; j < p; j++)
        streams[j] = (struct sl_gram_stream){a->x[j], sizeof(double)};
    streams[p] = (struct sl_gram_stream){a->y, sizeof(double)};
    streams[p + 1] = (struct sl_gram_stream){a->prior_w, sizeof(double)};
    streams[p + 2] = (struct sl_gram_stream){a->offset, sizeof(double)};
    streams[p + 3] = (struct sl_gram_stream){a->mask, 1};
    plan.streams = streams;
    plan.nstreams = (int)(p + 4);
    SL_CALL(sl_secpool_get(sl_tri_size(p + 1) * sizeof(double), &tri));
    SL_CALL(sl_gram_engine_run(&plan, tri->data, scal, &kind, &bad));
    if (kind)
        SL_CALL(sl_glm_row_error(kind, a->family, bad));
    t = tri->data;
    for (size_t j = 0; j < p; j++) {
        for (size_t i = 0; i <= j; i++) {
            a->xtwx[i + j * p] += t[sl_tri_index(i, j)];
            if (i != j)
                a->xtwx[j + i * p] += t[sl_tri_index(i, j)];
        }
        a->xtwz[j] += t[sl_tri_index(j, p)];
    }
    a->sums->n_used += (int64_t)scal[SL_GLM_SUM_N_USED];
    a->sums->n_boundary += (int64_t)scal[SL_GLM_SUM_N_BOUNDARY];
    a->sums->deviance += scal[SL_GLM_SUM_DEVIANCE];
    a->sums->minus2_loglik += scal[SL_GLM_SUM_M2LL];
    a->sums->sum_log_w += scal[SL_GLM_SUM_LOG_W];
    a->sums->sum_w += scal[SL_GLM_SUM_W];
    a->sums->sum_wy += scal[SL_GLM_SUM_WY];
cleanup:
    sl_secpool_put(&tri);
    sl_free(streams);
    return st;
}
