/*
 * gram_tiles.c: the register-blocked inner kernel of the weighted Gram.
 *
 * Tall-skinny X'X is a poor fit for BLAS dsyrk (small p x p output, huge
 * inner dimension), so sluice computes it with its own kernel: X is packed in
 * row blocks, and each 4 x 4 tile of the upper triangle is accumulated in
 * registers as 8 lanes of fused multiply-adds while the block streams from
 * cache. One call handles one row of tiles (the left group's 4 columns stay
 * in L1 while the groups to their right stream past). This file is compiled
 * once per instruction set (SL_TILES_ISA 0 = generic C, 1 = AVX2 + FMA,
 * 2 = AVX-512F); every variant performs the same fma operations on every
 * lane in the same order (see cpu_impl.h), so they agree to the last bit.
 */
#include <math.h>

#include "kernels/cpu/cpu_impl.h"

#if SL_TILES_ISA > 0
#include <immintrin.h>
#endif

#if SL_TILES_ISA == 0

/* One tile, plain C: the reference arithmetic of all variants. */
static void tile(const double *bi, const double *bj, size_t ld, size_t k0, size_t k1, double *t)
{
    for (size_t k = k0; k < k1; k += SL_GRAM_LANES)
        for (size_t a = 0; a < SL_GRAM_TILE; a++)
            for (size_t b = 0; b < SL_GRAM_TILE; b++)
                for (size_t l = 0; l < SL_GRAM_LANES; l++) {
                    double *e = t + (a * SL_GRAM_TILE + b) * SL_GRAM_LANES + l;
                    *e = fma(bi[a * ld + k + l], bj[b * ld + k + l], *e);
                }
}

void sl_gram_tile_row_generic(const double *buf, size_t ld, size_t k0, size_t k1, size_t I,
                              size_t ng, double *acc)
{
    for (size_t J = I; J < ng; J++)
        tile(buf + 4 * I * ld, buf + 4 * J * ld, ld, k0, k1,
             acc + sl_gram_tile_index(I, J, ng) * 16 * SL_GRAM_LANES);
}

#elif SL_TILES_ISA == 1

/* Half h (lanes 4h .. 4h+3) of the tile entries for columns a0, a0 + 1 of
 * the left group against the 4 columns of the right group: 8 ymm
 * accumulators, 6 loads per 8 fmas, within AVX2's 16 registers. */
static void tile_pass(const double *bi, const double *bj, size_t ld, size_t k0, size_t k1,
                      size_t a0, size_t h, double *t)
{
    double *e0 = t + (a0 * 4) * SL_GRAM_LANES + 4 * h;
    double *e1 = t + ((a0 + 1) * 4) * SL_GRAM_LANES + 4 * h;
    __m256d c00 = _mm256_load_pd(e0), c01 = _mm256_load_pd(e0 + 8);
    __m256d c02 = _mm256_load_pd(e0 + 16), c03 = _mm256_load_pd(e0 + 24);
    __m256d c10 = _mm256_load_pd(e1), c11 = _mm256_load_pd(e1 + 8);
    __m256d c12 = _mm256_load_pd(e1 + 16), c13 = _mm256_load_pd(e1 + 24);
    const double *x0 = bi + a0 * ld + 4 * h, *x1 = x0 + ld;
    const double *y0 = bj + 4 * h, *y1 = y0 + ld, *y2 = y1 + ld, *y3 = y2 + ld;
    for (size_t k = k0; k < k1; k += SL_GRAM_LANES) {
        __m256d a = _mm256_load_pd(x0 + k), b = _mm256_load_pd(x1 + k);
        __m256d v0 = _mm256_load_pd(y0 + k), v1 = _mm256_load_pd(y1 + k);
        __m256d v2 = _mm256_load_pd(y2 + k), v3 = _mm256_load_pd(y3 + k);
        c00 = _mm256_fmadd_pd(a, v0, c00);
        c01 = _mm256_fmadd_pd(a, v1, c01);
        c02 = _mm256_fmadd_pd(a, v2, c02);
        c03 = _mm256_fmadd_pd(a, v3, c03);
        c10 = _mm256_fmadd_pd(b, v0, c10);
        c11 = _mm256_fmadd_pd(b, v1, c11);
        c12 = _mm256_fmadd_pd(b, v2, c12);
        c13 = _mm256_fmadd_pd(b, v3, c13);
    }
    _mm256_store_pd(e0, c00);
    _mm256_store_pd(e0 + 8, c01);
    _mm256_store_pd(e0 + 16, c02);
    _mm256_store_pd(e0 + 24, c03);
    _mm256_store_pd(e1, c10);
    _mm256_store_pd(e1 + 8, c11);
    _mm256_store_pd(e1 + 16, c12);
    _mm256_store_pd(e1 + 24, c13);
}

void sl_gram_tile_row_avx2(const double *buf, size_t ld, size_t k0, size_t k1, size_t I,
                           size_t ng, double *acc)
{
    for (size_t J = I; J < ng; J++) {
        double *t = acc + sl_gram_tile_index(I, J, ng) * 16 * SL_GRAM_LANES;
        for (size_t h = 0; h < 2; h++) {
            tile_pass(buf + 4 * I * ld, buf + 4 * J * ld, ld, k0, k1, 0, h, t);
            tile_pass(buf + 4 * I * ld, buf + 4 * J * ld, ld, k0, k1, 2, h, t);
        }
    }
}

#elif SL_TILES_ISA == 2

#define LOAD(e) _mm512_load_pd(t + (e) * SL_GRAM_LANES)
#define STORE(e, v) _mm512_store_pd(t + (e) * SL_GRAM_LANES, v)
#define FMA(x, y, c) c = _mm512_fmadd_pd(x, y, c)

/* Off-diagonal tile: 16 zmm accumulators, 8 loads per 16 fmas. */
static void tile_off(const double *bi, const double *bj, size_t ld, size_t k0, size_t k1,
                     double *t)
{
    __m512d c00 = LOAD(0), c01 = LOAD(1), c02 = LOAD(2), c03 = LOAD(3);
    __m512d c10 = LOAD(4), c11 = LOAD(5), c12 = LOAD(6), c13 = LOAD(7);
    __m512d c20 = LOAD(8), c21 = LOAD(9), c22 = LOAD(10), c23 = LOAD(11);
    __m512d c30 = LOAD(12), c31 = LOAD(13), c32 = LOAD(14), c33 = LOAD(15);
    const double *x0 = bi, *x1 = bi + ld, *x2 = x1 + ld, *x3 = x2 + ld;
    const double *y0 = bj, *y1 = bj + ld, *y2 = y1 + ld, *y3 = y2 + ld;
    for (size_t k = k0; k < k1; k += SL_GRAM_LANES) {
        __m512d a0 = _mm512_load_pd(x0 + k), a1 = _mm512_load_pd(x1 + k);
        __m512d a2 = _mm512_load_pd(x2 + k), a3 = _mm512_load_pd(x3 + k);
        __m512d b0 = _mm512_load_pd(y0 + k), b1 = _mm512_load_pd(y1 + k);
        __m512d b2 = _mm512_load_pd(y2 + k), b3 = _mm512_load_pd(y3 + k);
        FMA(a0, b0, c00); FMA(a0, b1, c01); FMA(a0, b2, c02); FMA(a0, b3, c03);
        FMA(a1, b0, c10); FMA(a1, b1, c11); FMA(a1, b2, c12); FMA(a1, b3, c13);
        FMA(a2, b0, c20); FMA(a2, b1, c21); FMA(a2, b2, c22); FMA(a2, b3, c23);
        FMA(a3, b0, c30); FMA(a3, b1, c31); FMA(a3, b2, c32); FMA(a3, b3, c33);
    }
    STORE(0, c00); STORE(1, c01); STORE(2, c02); STORE(3, c03);
    STORE(4, c10); STORE(5, c11); STORE(6, c12); STORE(7, c13);
    STORE(8, c20); STORE(9, c21); STORE(10, c22); STORE(11, c23);
    STORE(12, c30); STORE(13, c31); STORE(14, c32); STORE(15, c33);
}

/* Diagonal tile: only the 10 entries with a <= b. */
static void tile_diag(const double *bi, size_t ld, size_t k0, size_t k1, double *t)
{
    __m512d c00 = LOAD(0), c01 = LOAD(1), c02 = LOAD(2), c03 = LOAD(3);
    __m512d c11 = LOAD(5), c12 = LOAD(6), c13 = LOAD(7);
    __m512d c22 = LOAD(10), c23 = LOAD(11), c33 = LOAD(15);
    const double *x0 = bi, *x1 = bi + ld, *x2 = x1 + ld, *x3 = x2 + ld;
    for (size_t k = k0; k < k1; k += SL_GRAM_LANES) {
        __m512d a0 = _mm512_load_pd(x0 + k), a1 = _mm512_load_pd(x1 + k);
        __m512d a2 = _mm512_load_pd(x2 + k), a3 = _mm512_load_pd(x3 + k);
        FMA(a0, a0, c00); FMA(a0, a1, c01); FMA(a0, a2, c02); FMA(a0, a3, c03);
        FMA(a1, a1, c11); FMA(a1, a2, c12); FMA(a1, a3, c13);
        FMA(a2, a2, c22); FMA(a2, a3, c23);
        FMA(a3, a3, c33);
    }
    STORE(0, c00); STORE(1, c01); STORE(2, c02); STORE(3, c03);
    STORE(5, c11); STORE(6, c12); STORE(7, c13);
    STORE(10, c22); STORE(11, c23); STORE(15, c33);
}

void sl_gram_tile_row_avx512(const double *buf, size_t ld, size_t k0, size_t k1, size_t I,
                             size_t ng, double *acc)
{
    const double *bi = buf + 4 * I * ld;
    tile_diag(bi, ld, k0, k1, acc + sl_gram_tile_index(I, I, ng) * 16 * SL_GRAM_LANES);
    for (size_t J = I + 1; J < ng; J++)
        tile_off(bi, buf + 4 * J * ld, ld, k0, k1,
                 acc + sl_gram_tile_index(I, J, ng) * 16 * SL_GRAM_LANES);
}

#else
#error "SL_TILES_ISA must be 0, 1 or 2"
#endif
