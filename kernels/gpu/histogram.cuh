/*
 * histogram.cuh: histogram per cell on the GPU (SL_OP_HISTOGRAM), the entry
 * point the gpu backend calls (private to kernels/gpu).
 */
#ifndef SL_KERNELS_GPU_HISTOGRAM_CUH
#define SL_KERNELS_GPU_HISTOGRAM_CUH

#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "kernels/kernel.h"

struct sl_gpu;

/* counts, below, above and missing += the chunk's counts (exact), with the
 * bin rule of kernel.h. SL_ERR_ARG for a bad cell (first row named);
 * SL_ERR_CUDA; SL_ERR_UNSUPPORTED when the device has no room. Outputs
 * change only on success. */
sl_status sl_histogram_gpu(struct sl_gpu *g, const struct sl_histogram_args *a);
}

#endif
