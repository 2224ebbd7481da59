/*
 * group_count.cuh: rows per cell on the GPU (SL_OP_GROUP_COUNT), the entry
 * point the gpu backend calls (private to kernels/gpu).
 */
#ifndef SL_KERNELS_GPU_GROUP_COUNT_CUH
#define SL_KERNELS_GPU_GROUP_COUNT_CUH

#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "kernels/kernel.h"

struct sl_gpu;

/* counts[c] += kept rows of cell c (exact). Inputs are streamed to the
 * device (or used where kept). SL_ERR_ARG for a cell outside [-1, ncells)
 * (the first such row is named); SL_ERR_CUDA; SL_ERR_UNSUPPORTED when the
 * device has no room. Outputs change only on success. */
sl_status sl_group_count_gpu(struct sl_gpu *g, const struct sl_group_count_args *a);
}

#endif
