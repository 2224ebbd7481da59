/*
 * group_moments.cuh: grouped moments on the GPU (SL_OP_GROUP_MOMENTS), the
 * entry point the gpu backend calls (private to kernels/gpu).
 */
#ifndef SL_KERNELS_GPU_GROUP_MOMENTS_CUH
#define SL_KERNELS_GPU_GROUP_MOMENTS_CUH

#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "kernels/kernel.h"

struct sl_gpu;

/* out[c] = sl_moments_combine(out[c], P[c]) with P[c] computed in pieces of
 * fixed size, each in two passes, merged in order (see group_moments.cu).
 * SL_ERR_ARG for a bad cell (first row named); SL_ERR_CUDA;
 * SL_ERR_UNSUPPORTED when the device has no room. Outputs change only on
 * success. */
sl_status sl_group_moments_gpu(struct sl_gpu *g, const struct sl_group_moments_args *a);
}

#endif
