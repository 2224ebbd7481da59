/*
 * cells512.h: the cells of 8 rows, and per-cell tables, for the AVX-512
 * few-cell kernels (cell_brackets.c, cell_fixed.c). Include only where
 * AVX-512 F is enabled.
 */
#ifndef SL_KERNELS_CPU_CELLS512_H
#define SL_KERNELS_CPU_CELLS512_H

#include <immintrin.h>
#include <stdint.h>

/* Rows [r, r + 8): *c = their cells widened to 64 bits (0 without cell),
 * *ok = the rows that are in a cell below ncells (cell -1 and a mask of 0
 * drop a row). Returns 0 when a row has a cell neither -1 nor below ncells:
 * the caller's plain loop then finds it. */
static inline __attribute__((always_inline)) int
sl_cells8(const int32_t *cell, const uint8_t *mask, int64_t r, int64_t ncells, __m512i *c,
          __mmask8 *ok)
{
    *c = _mm512_setzero_si512();
    *ok = 0xff;
    if (cell) {
        *c = _mm512_cvtepi32_epi64(_mm256_loadu_si256((const __m256i *)(cell + r)));
        *ok = _mm512_cmplt_epu64_mask(*c, _mm512_set1_epi64(ncells));
        return (__mmask8)(*ok | _mm512_cmpeq_epi64_mask(*c, _mm512_set1_epi64(-1))) == 0xff;
    }
    if (mask) {
        __m512i m = _mm512_cvtepu8_epi64(_mm_loadl_epi64((const __m128i *)(mask + r)));
        *ok = _mm512_test_epi64_mask(m, _mm512_set1_epi64(0xff));
    }
    return 1;
}

/* Entry c of the 16-entry table for each lane's cell c: one two-register
 * permute. */
static inline __attribute__((always_inline)) __m512i sl_by_cell(__m512i c, const void *table)
{
    const int64_t *t = table;
    return _mm512_permutex2var_epi64(_mm512_loadu_si512(t), c, _mm512_loadu_si512(t + 8));
}

/* Entry c of the 32-entry table for each lane's cell c: a two-register
 * permute in each half, the half chosen by bit 4 of c (`upper`, the lanes
 * whose cell is 16 or more, computed once for all the tables of a step). */
static inline __attribute__((always_inline)) __m512i sl_by_cell32(__m512i c, __mmask8 upper,
                                                                  const void *table)
{
    const int64_t *t = table;
    return _mm512_mask_blend_epi64(
        upper, _mm512_permutex2var_epi64(_mm512_loadu_si512(t), c, _mm512_loadu_si512(t + 8)),
        _mm512_permutex2var_epi64(_mm512_loadu_si512(t + 16), c, _mm512_loadu_si512(t + 24)));
}

#endif
