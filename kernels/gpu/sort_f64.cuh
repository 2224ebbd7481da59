/*
 * sort_f64.cuh: grouped sort on the GPU (SL_OP_SORT_F64), the entry point
 * the gpu backend calls (private to kernels/gpu).
 */
#ifndef SL_KERNELS_GPU_SORT_F64_CUH
#define SL_KERNELS_GPU_SORT_F64_CUH

#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "kernels/kernel.h"

struct sl_gpu;

/* Writes each cell's kept non-NaN values in IEEE total order to
 * sorted[cell_start[c] .. cell_start[c+1]), and the NaN counts, exactly as
 * the reference does (bit for bit). SL_ERR_ARG for a bad cell (first row
 * named); SL_ERR_CUDA; SL_ERR_UNSUPPORTED when the device has no room.
 * Outputs change only on success. */
sl_status sl_sort_f64_gpu(struct sl_gpu *g, const struct sl_sort_f64_args *a);
}

#endif
