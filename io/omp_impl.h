/*
 * omp_impl.h: OpenMP pragmas for io/ that vanish when the compiler has no
 * OpenMP (private to io/).
 */
#ifndef SL_IO_OMP_IMPL_H
#define SL_IO_OMP_IMPL_H

#ifdef _OPENMP
#include <omp.h>
#define SL_IO_PRAGMA(x) _Pragma(#x)
#define SL_IO_OMP(directive) SL_IO_PRAGMA(omp directive)
static inline int sl_io_max_threads(void) { return omp_get_max_threads(); }
static inline int sl_io_thread_num(void) { return omp_get_thread_num(); }
#else
#define SL_IO_OMP(directive)
static inline int sl_io_max_threads(void) { return 1; }
static inline int sl_io_thread_num(void) { return 0; }
#endif

#endif
