/*
 * ref_irls_step.c: reference IRLS step (SL_OP_IRLS_STEP), plain C.
 *
 * Row by row: the linear predictor, the family's working quantities
 * (glm_row.h) and sequential sums of W x_i x_j and W z x_j. The oracle for
 * the fused fast kernel.
 */
#include <float.h>
#include <math.h>

#include "engine/core/secbuf.h"
#include "kernels/cpu/cpu_impl.h"
#include "kernels/cpu/glm_row.h"

sl_status sl_irls_step_cpu_ref(const struct sl_irls_step_args *a)
{
    sl_status st = SL_OK;
    struct sl_secbuf *mem = NULL;
    size_t p = (size_t)a->p;
    double *g, *s, scal[SL_GLM_NSUMS] = {0};

    SL_CALL(sl_secpool_get((p * p + p) * sizeof(double), &mem));
    g = mem->data;
    s = g + p * p;
    for (int64_t r = 0; r < a->n; r++) {
        double w = a->prior_w ? a->prior_w[r] : 1.0;
        double off = a->offset ? a->offset[r] : 0.0, eta = 0;
        struct sl_glm_row o = {0, 0, 0, 0, 0};
        int kind;
        if (a->mask && !a->mask[r])
            continue;
        if (!(w >= 0 && w <= DBL_MAX))
            SL_CALL(sl_glm_row_error(SL_GLM_ROW_BAD_WEIGHT, a->family, r));
        if (w == 0)
            continue;
        for (size_t j = 0; j < p; j++)
            eta = eta + a->x[j][r] * a->beta[j];
        kind = sl_glm_row_eval(a->family, eta + off, off, a->y[r], w, &o);
        if (kind)
            SL_CALL(sl_glm_row_error(kind, a->family, r));
        for (size_t j = 0; j < p; j++) {
            double xj = a->x[j][r];
            for (size_t i = 0; i <= j; i++)
                g[i + j * p] += o.w * a->x[i][r] * xj;
            s[j] += o.w * o.z * xj;
        }
        scal[SL_GLM_SUM_N_USED] += 1;
        scal[SL_GLM_SUM_N_BOUNDARY] += o.boundary;
        scal[SL_GLM_SUM_DEVIANCE] += o.dev;
        scal[SL_GLM_SUM_M2LL] += o.m2ll;
        if (a->prior_w)
            scal[SL_GLM_SUM_LOG_W] += log(w);
        scal[SL_GLM_SUM_W] += w;
        scal[SL_GLM_SUM_WY] += w * a->y[r];
    }
    for (size_t j = 0; j < p; j++) {
        for (size_t i = 0; i <= j; i++) {
            a->xtwx[i + j * p] += g[i + j * p];
            if (i != j)
                a->xtwx[j + i * p] += g[i + j * p];
        }
        a->xtwz[j] += s[j];
    }
    a->sums->n_used += (int64_t)scal[SL_GLM_SUM_N_USED];
    a->sums->n_boundary += (int64_t)scal[SL_GLM_SUM_N_BOUNDARY];
    a->sums->deviance += scal[SL_GLM_SUM_DEVIANCE];
    a->sums->minus2_loglik += scal[SL_GLM_SUM_M2LL];
    a->sums->sum_log_w += scal[SL_GLM_SUM_LOG_W];
    a->sums->sum_w += scal[SL_GLM_SUM_W];
    a->sums->sum_wy += scal[SL_GLM_SUM_WY];
cleanup:
    sl_secpool_put(&mem);
    return st;
}
