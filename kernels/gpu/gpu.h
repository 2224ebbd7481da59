/*
 * gpu.h: what the CUDA backend offers beyond kernel.h, for its tests, the
 * GPU benchmark and the configuration line (built only with CUDA, where the
 * library defines SL_HAVE_CUDA).
 *
 * The kernels themselves are reached through kernel.h like every backend
 * ("gpu"). This header adds the few things a benchmark or a conformance test
 * needs to know about the device: what it is, what its memory moves in a
 * device-to-device copy measured in the same run, how many calls the GPU
 * actually served, and a way to lower the size below which the backend
 * declines work so that small test inputs reach the device.
 */
#ifndef SL_KERNELS_GPU_GPU_H
#define SL_KERNELS_GPU_GPU_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Rows below which the gpu backend declines a call by default, so that
 * "auto" runs it on the CPU: a GPU call costs a few launches, a stream
 * synchronisation and the copies back, about 50 to 100 microseconds, which is
 * what the CPU backend needs for about 65536 rows of a grouped statistic. */
#define SL_GPU_MIN_ROWS_DEFAULT 65536

/* Sets the row threshold of the gpu backend's supports() (0 serves every
 * size) and returns the previous one. Process-wide; for tests and
 * benchmarks. Not collective. */
int64_t sl_gpu_set_min_rows(int64_t rows);

/* Sets the size of each of the two pinned staging buffers through which
 * row data is copied to the device (and so the chunk size of the copy
 * pipeline; a chunk is never smaller than one block of the op's kernel) and
 * returns the previous size. Default 64 MiB; at least 1 MiB. Takes effect at
 * the next call; never changes a result. Process-wide; for tests and
 * benchmarks. Not collective. */
size_t sl_gpu_set_stage_bytes(size_t bytes);

/* Number of kernel calls the gpu backend has served (completed on the
 * device) since the process started. Lets a test check that a call did not
 * silently fall back to the CPU. Not collective. */
int64_t sl_gpu_calls_served(void);

/* The device the gpu backend uses (chosen by local rank, see
 * backend_gpu.cu). Peaks are the datasheet-style figures the hardware
 * reports: memory bandwidth = 2 x memory clock x bus width (HBM transfers
 * twice per clock); FP64 vector peak = multiprocessors x FP64 units per
 * multiprocessor x 2 flops x SM clock, with 64 units for compute capability
 * 9.x (NVIDIA H100 whitepaper: H100 SXM5 34 TFLOP/s FP64, 67 TFLOP/s FP64
 * tensor core) and 32 for 8.0, 0 (unknown) otherwise. */
struct sl_gpu_info {
    char name[256];
    int device;               /* CUDA device index in use */
    int cc_major, cc_minor;   /* compute capability */
    int multiprocessors;
    double memory_gib;        /* global memory */
    double peak_bandwidth_gbs; /* theoretical memory bandwidth, GB/s */
    double fp64_peak_gflops;  /* FP64 FMA pipes, GFLOP/s; 0 when unknown */
    double fp64_tensor_peak_gflops; /* FP64 tensor cores, GFLOP/s; 0 when unknown */
    int runtime_version;      /* CUDA runtime, e.g. 13000 */
};

/* Fills *out for the gpu backend's device (initialising the backend).
 * SL_ERR_UNSUPPORTED without a usable device; SL_ERR_CUDA. Not collective. */
sl_status sl_gpu_info_get(struct sl_gpu_info *out);

/* Measures the device's memory bandwidth in this run: copies `bytes` from
 * one device buffer to another `reps` times (after one warm-up copy), timed
 * with CUDA events, and stores the median rate counting bytes read plus
 * bytes written, in GB/s. The reference against which the benchmark states
 * the fraction of bandwidth a kernel reaches. SL_ERR_UNSUPPORTED without a
 * device or when the buffers cannot be had; SL_ERR_ARG; SL_ERR_CUDA. Not
 * collective. */
sl_status sl_gpu_measure_copy_bandwidth(size_t bytes, int reps, double *gbs);

/* Opens cuBLAS as the first GPU context does (it is opened on first use,
 * not linked, so that processes that never use the GPU do not pay for it)
 * and checks its entry points. SL_ERR_UNSUPPORTED naming the library when
 * it cannot be opened. Needs no device. Not collective. */
sl_status sl_gpu_blas_open(void);

/* One line for the configuration line (sl_kernels_config): the device in
 * use or why there is none. Never NULL; the text lives until the next call
 * on the same thread. Not collective. */
const char *sl_gpu_describe(void);

#ifdef __cplusplus
}
#endif

#endif
