/*
 * parallel.h: OpenMP for every module, vanishing without it.
 *
 * SL_OMP(directive) is `#pragma omp directive` when the file is compiled
 * with OpenMP and nothing otherwise (no unknown-pragma warning); the thread
 * queries answer 0 and 1 then. Header only: each library that uses it links
 * OpenMP itself when found.
 */
#ifndef SL_CORE_PARALLEL_H
#define SL_CORE_PARALLEL_H

#define SL_PRAGMA_STR(x) #x
#ifdef _OPENMP
#include <omp.h>
#define SL_OMP(directive) _Pragma(SL_PRAGMA_STR(omp directive))
static inline int sl_thread_num(void) { return omp_get_thread_num(); }
static inline int sl_num_threads(void) { return omp_get_num_threads(); }
static inline int sl_max_threads(void) { return omp_get_max_threads(); }
#else
#define SL_OMP(directive)
static inline int sl_thread_num(void) { return 0; }
static inline int sl_num_threads(void) { return 1; }
static inline int sl_max_threads(void) { return 1; }
#endif

#endif
