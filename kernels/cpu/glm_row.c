/*
 * glm_row.c: the error messages of the per-row GLM arithmetic (host only).
 */
#include "kernels/cpu/glm_row.h"

sl_status sl_glm_row_error(int kind, enum sl_glm_family family, int64_t row)
{
    sl_status st = SL_OK;
    switch (kind) {
    case SL_GLM_ROW_BAD_WEIGHT:
        SL_FAIL(SL_ERR_ARG, "irls_step: the prior weight of row %lld is negative or not finite",
                (long long)row);
    case SL_GLM_ROW_BAD_Y:
        SL_FAIL(SL_ERR_ARG, "irls_step: the response of row %lld is %s", (long long)row,
                family == SL_GLM_BINOMIAL_LOGIT ? "missing or outside [0, 1]"
                                                : "missing or not finite");
    case SL_GLM_ROW_BAD_OFFSET:
        SL_FAIL(SL_ERR_ARG, "irls_step: the offset of row %lld is not finite", (long long)row);
    case SL_GLM_ROW_BAD_ETA:
        SL_FAIL(SL_ERR_NUMERIC,
                "irls_step: the linear predictor of row %lld is not finite (a missing value in "
                "X, or diverging coefficients)",
                (long long)row);
    default:
        SL_FAIL(SL_ERR_INTERNAL, "irls_step: unknown row error %d", kind);
    }
cleanup:
    return st;
}
