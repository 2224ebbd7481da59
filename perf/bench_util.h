/*
 * bench_util.h: what every benchmark in perf/ needs: a monotonic clock,
 * reproducible pseudo-random data (splitmix64, so figures do not depend on
 * the C library's rand) and allocation that stops the benchmark when memory
 * runs out. Header-only, so the standalone kernels build (CUDA and CMake
 * only) can compile the GPU benchmark from it too.
 */
#ifndef SL_PERF_BENCH_UTIL_H
#define SL_PERF_BENCH_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "engine/core/alloc.h"

/* Seconds on the monotonic clock. */
static inline double sl_bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* splitmix64 step on *state. */
static inline uint64_t sl_bench_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double sl_bench_unif(uint64_t *state)
{
    return (double)(sl_bench_next(state) >> 11) * 0x1.0p-53;
}

/* Standard normal (Box-Muller, one value per two uniforms). */
static inline double sl_bench_normal(uint64_t *state)
{
    double u = sl_bench_unif(state), v = sl_bench_unif(state);
    return sqrt(-2 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

/* sl_malloc that ends the benchmark `who` with a message when it fails. */
static inline void *sl_bench_malloc(const char *who, size_t bytes)
{
    void *p = sl_malloc(bytes);
    if (!p) {
        fprintf(stderr, "%s: out of memory (%zu bytes)\n", who, bytes);
        exit(1);
    }
    return p;
}

/* The column pointers the Gram and IRLS kernels take, of a column-major
 * matrix x with leading dimension ld: cols[j] = x + j * ld, j < p (at most
 * SL_BENCH_MAX_COLS). */
#define SL_BENCH_MAX_COLS 256
static inline void sl_bench_columns(const double *x, int64_t ld, int64_t p, const double **cols)
{
    for (int64_t j = 0; j < p && j < SL_BENCH_MAX_COLS; j++)
        cols[j] = x + j * ld;
}

#endif
