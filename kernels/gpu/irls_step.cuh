/*
 * irls_step.cuh: the fused IRLS step on the GPU (SL_OP_IRLS_STEP), the
 * entry point the gpu backend calls (private to kernels/gpu).
 */
#ifndef SL_KERNELS_GPU_IRLS_STEP_CUH
#define SL_KERNELS_GPU_IRLS_STEP_CUH

#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "kernels/kernel.h"

struct sl_gpu;

/* xtwx += X'WX, xtwz += X'Wz and sums += the step's sums at beta, with the
 * formulas and clamping of kernels/cpu/glm_row.h, for p + 1 <=
 * SL_GRAM_BLAS_QMAX. Errors as the reference (kernel.h): SL_ERR_ARG or
 * SL_ERR_NUMERIC naming the first bad row; SL_ERR_CUDA; SL_ERR_UNSUPPORTED
 * when the device has no room. Outputs change only on success. */
sl_status sl_irls_step_gpu(struct sl_gpu *g, const struct sl_irls_step_args *a);
}

#endif
