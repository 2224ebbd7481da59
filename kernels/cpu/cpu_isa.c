/*
 * cpu_isa.c: run-time choice of the SIMD kernels.
 *
 * The build compiles the Gram tile kernel, the few-cell lane sums, the
 * bracket pass of exact selection and the fixed-point sums per cell once
 * per instruction set it can target (AVX-512 means F and DQ); the best one
 * this machine supports is chosen on first use. All of them produce the
 * same bits, so the choice only affects speed, and tests can force each one
 * in turn to prove it.
 */
#include <stdatomic.h>
#include <stdio.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/cpu/cpu_impl.h"

/* -1 = not chosen yet */
static atomic_int g_isa = -1;

static int machine_has(enum sl_cpu_isa isa)
{
    switch (isa) {
    case SL_CPU_ISA_GENERIC:
        return 1;
    case SL_CPU_ISA_AVX2:
#if defined(SL_HAVE_ISA_AVX2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
        return 0;
#endif
    case SL_CPU_ISA_AVX512:
#if defined(SL_HAVE_ISA_AVX512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
#else
        return 0;
#endif
    }
    return 0;
}

enum sl_cpu_isa sl_cpu_isa_best(void)
{
    if (machine_has(SL_CPU_ISA_AVX512))
        return SL_CPU_ISA_AVX512;
    if (machine_has(SL_CPU_ISA_AVX2))
        return SL_CPU_ISA_AVX2;
    return SL_CPU_ISA_GENERIC;
}

sl_status sl_cpu_isa_select(enum sl_cpu_isa isa)
{
    sl_status st = SL_OK;
    SL_CHECK(machine_has(isa), SL_ERR_UNSUPPORTED,
             "the %s tile kernel is not built in or not supported by this CPU",
             sl_cpu_isa_name(isa));
    atomic_store(&g_isa, (int)isa);
cleanup:
    return st;
}

enum sl_cpu_isa sl_cpu_isa_current(void)
{
    int isa = atomic_load(&g_isa);
    if (isa < 0) {
        isa = (int)sl_cpu_isa_best();
        atomic_store(&g_isa, isa);
    }
    return (enum sl_cpu_isa)isa;
}

const char *sl_cpu_isa_name(enum sl_cpu_isa isa)
{
    switch (isa) {
    case SL_CPU_ISA_GENERIC: return "generic";
    case SL_CPU_ISA_AVX2: return "avx2";
    case SL_CPU_ISA_AVX512: return "avx512";
    }
    return "unknown";
}

sl_gram_tiles_fn *sl_cpu_gram_tiles(void)
{
    switch (sl_cpu_isa_current()) {
#ifdef SL_HAVE_ISA_AVX512
    case SL_CPU_ISA_AVX512: return sl_gram_tile_row_avx512;
#endif
#ifdef SL_HAVE_ISA_AVX2
    case SL_CPU_ISA_AVX2: return sl_gram_tile_row_avx2;
#endif
    default: return sl_gram_tile_row_generic;
    }
}

sl_cell_sums_fn *sl_cpu_cell_sums(void)
{
    switch (sl_cpu_isa_current()) {
#ifdef SL_HAVE_ISA_AVX512
    case SL_CPU_ISA_AVX512: return sl_cell_sums_avx512;
#endif
#ifdef SL_HAVE_ISA_AVX2
    case SL_CPU_ISA_AVX2: return sl_cell_sums_avx2;
#endif
    default: return sl_cell_sums_generic;
    }
}

sl_cell_squares_fn *sl_cpu_cell_squares(void)
{
    switch (sl_cpu_isa_current()) {
#ifdef SL_HAVE_ISA_AVX512
    case SL_CPU_ISA_AVX512: return sl_cell_squares_avx512;
#endif
#ifdef SL_HAVE_ISA_AVX2
    case SL_CPU_ISA_AVX2: return sl_cell_squares_avx2;
#endif
    default: return sl_cell_squares_generic;
    }
}

sl_bracket_rows_fn *sl_cpu_bracket_rows(void)
{
    switch (sl_cpu_isa_current()) {
#ifdef SL_HAVE_ISA_AVX512
    case SL_CPU_ISA_AVX512: return sl_bracket_rows_avx512;
#endif
    default: return sl_bracket_rows_generic;
    }
}

int64_t sl_bracket_rows(const struct sl_brackets *b, const double *v, const int32_t *cell,
                        const uint8_t *mask, int64_t r0, int64_t r1, int64_t *hist, double *cv,
                        int32_t *cs, int64_t cap, int64_t *n)
{
    return sl_cpu_bracket_rows()(b, v, cell, mask, r0, r1, hist, cv, cs, cap, n);
}

sl_fixed_cells_fn *sl_cpu_fixed_cells(void)
{
    switch (sl_cpu_isa_current()) {
#ifdef SL_HAVE_ISA_AVX512
    case SL_CPU_ISA_AVX512: return sl_fixed_cells_rows_avx512;
#endif
    default: return sl_fixed_cells_rows_generic;
    }
}

int64_t sl_fixed_cells_rows(struct sl_fixed_cells *f, const double *v, const int32_t *cell,
                            const uint8_t *mask, int64_t n)
{
    return sl_cpu_fixed_cells()(f, v, cell, mask, n);
}

const char *sl_cpu_describe(void)
{
    static _Thread_local char line[128];
#ifdef _OPENMP
    const char *openmp = "on";
    int threads = omp_get_max_threads();
#else
    const char *openmp = "off";
    int threads = 1;
#endif
#ifdef SL_HAVE_BLAS
    const char *lapack = "yes";
#else
    const char *lapack = "no (plain C Cholesky)";
#endif
    (void)snprintf(line, sizeof line, "cpu tile kernel %s, OpenMP %s (%d threads), LAPACK %s",
                   sl_cpu_isa_name(sl_cpu_isa_current()), openmp, threads, lapack);
    return line;
}
