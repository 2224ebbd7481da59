/*
 * gram.cuh: weighted Gram matrix on the GPU (SL_OP_GRAM), the entry point
 * the gpu backend calls (private to kernels/gpu).
 */
#ifndef SL_KERNELS_GPU_GRAM_CUH
#define SL_KERNELS_GPU_GRAM_CUH

#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "kernels/kernel.h"

struct sl_gpu;

/* g += X' diag(w) X for 1 <= p <= SL_GRAM_BLAS_QMAX (gram_engine.cuh), by the
 * tile kernel up to 64 columns and by cuBLAS dsyrk beyond. SL_ERR_ARG for a
 * kept row whose weight is negative or not finite (the first is named);
 * SL_ERR_CUDA; SL_ERR_UNSUPPORTED when the device has no room. g changes only
 * on success. */
sl_status sl_gram_gpu(struct sl_gpu *g, const struct sl_gram_args *a);
}

#endif
