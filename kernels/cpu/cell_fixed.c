/*
 * cell_fixed.c: fixed-point sums, counts and largest contributions of a few
 * cells (sl_fixed_cells_rows, see kernel.h), the dominance evidence of
 * describe and crosstab.
 *
 * The plain C variant takes a row at a time. The AVX-512 variant converts 8
 * values a step (multiply, add the signed near-half, truncate: the same
 * double operations as sl_fixed_round) and keeps, for each cell, 8 lane
 * accumulators of the low and high halves in registers, added under a
 * compare mask of the cell. A value can enter its cell's largest only when
 * it beats the smallest kept one; the 8 rows are compared with those in one
 * step and the rare winners are inserted one by one. All sums are integers
 * and the largest values are a multiset, so both variants give the same
 * output. Like cell_lanes.c the file is compiled once per instruction set
 * (SL_TILES_ISA 0 = generic C, 1 = AVX2, 2 = AVX-512F with DQ for the
 * conversion); AVX2 has no 64-bit conversion, so its build uses the plain
 * C variant.
 */
#include <string.h>

#include "kernels/cpu/cpu_impl.h"

#if SL_TILES_ISA == 2
#include "kernels/cpu/cells512.h"
#endif

#if SL_TILES_ISA != 1

/* Inserts x, larger than t[SL_FIXED_TOP - 1], among the largest. */
static void top_push(int64_t *t, int64_t x)
{
    int i = SL_FIXED_TOP - 1;
    for (; i > 0 && t[i - 1] < x; i--)
        t[i] = t[i - 1];
    t[i] = x;
}

/* Rows [from, n) in plain C. */
static int64_t rows_plain(struct sl_fixed_cells *f, const double *v, const int32_t *cell,
                          const uint8_t *mask, int64_t from, int64_t n)
{
    for (int64_t r = from; r < n; r++) {
        int64_t c = cell ? cell[r] : (mask && !mask[r] ? -1 : 0), x;
        if ((uint64_t)c >= (uint64_t)f->ncells) {
            if (c == -1)
                continue;
            return r;
        }
        if (v[r] != v[r])
            continue;
        x = sl_fixed_round(v[r], f->scale);
        f->lo[c] += (uint64_t)x & 0xffffffffu;
        f->hi[c] += x >> 32;
        f->count[c]++;
        f->negative[c] |= x < 0;
        if (x > f->top[c][SL_FIXED_TOP - 1])
            top_push(f->top[c], x);
    }
    return -1;
}

#endif

#if SL_TILES_ISA == 0

int64_t sl_fixed_cells_rows_generic(struct sl_fixed_cells *f, const double *v,
                                    const int32_t *cell, const uint8_t *mask, int64_t n)
{
    return rows_plain(f, v, cell, mask, 0, n);
}

#elif SL_TILES_ISA == 2

/* The cell loops must unroll so that the accumulators live in registers. */
#define UNROLL _Pragma("GCC unroll 8")

/* Inlined with a constant number of cells: each count gets its own loop. */
static inline __attribute__((always_inline)) int64_t
rows_avx512(struct sl_fixed_cells *f, const double *v, const int32_t *cell, const uint8_t *mask,
            int64_t n, const int nc)
{
    const __m512d scale = _mm512_set1_pd(f->scale);
    const __m512d limit = _mm512_set1_pd(9223372036854775807.0);
    const __m512i half = _mm512_castpd_si512(_mm512_set1_pd(0.49999999999999994));
    const __m512i sign = _mm512_set1_epi64(INT64_MIN), low32 = _mm512_set1_epi64(0xffffffff);
    const __m512i most = _mm512_set1_epi64(INT64_MAX), least = _mm512_set1_epi64(-INT64_MAX);
    __m512i lo[SL_FIXED_CELLS], hi[SL_FIXED_CELLS], ng[SL_FIXED_CELLS], least_kept;
    /* the smallest kept value per cell; cells past nc never win */
    int64_t floor_of[SL_FIXED_CELLS];
    int64_t r = 0;

    UNROLL for (int k = 0; k < SL_FIXED_CELLS; k++)
        floor_of[k] = k < nc ? f->top[k][SL_FIXED_TOP - 1] : INT64_MAX;
    least_kept = _mm512_loadu_si512(floor_of);
    UNROLL for (int k = 0; k < nc; k++)
        lo[k] = hi[k] = ng[k] = _mm512_setzero_si512();
    for (; r + 8 <= n; r += 8) {
        __m512i c, x;
        __m512d p;
        __mmask8 ok, win;
        /* a cell out of range: the plain loop finds the row */
        if (!sl_cells8(cell, mask, r, nc, &c, &ok))
            break;
        p = _mm512_loadu_pd(v + r);
        ok = _mm512_mask_cmp_pd_mask(ok, p, p, _CMP_ORD_Q);
        p = _mm512_mul_pd(p, scale);
        x = _mm512_cvttpd_epi64(_mm512_add_pd(
            p, _mm512_castsi512_pd(_mm512_or_si512(_mm512_and_si512(_mm512_castpd_si512(p), sign),
                                                   half))));
        x = _mm512_mask_blend_epi64(
            _mm512_cmp_pd_mask(_mm512_abs_pd(p), limit, _CMP_LT_OQ),
            _mm512_mask_blend_epi64(_mm512_cmp_pd_mask(p, _mm512_setzero_pd(), _CMP_LT_OQ), most,
                                    least),
            x);
        UNROLL for (int k = 0; k < nc; k++) {
            __mmask8 m = nc == 1 ? ok : ok & _mm512_cmpeq_epi64_mask(c, _mm512_set1_epi64(k));
            lo[k] = _mm512_mask_add_epi64(lo[k], m, lo[k], _mm512_and_si512(x, low32));
            hi[k] = _mm512_mask_add_epi64(hi[k], m, hi[k], _mm512_srai_epi64(x, 32));
            ng[k] = _mm512_mask_or_epi64(ng[k], m, ng[k], x);
            f->count[k] += __builtin_popcount(m);
        }
        win = _mm512_mask_cmpgt_epi64_mask(ok, x, _mm512_permutexvar_epi64(c, least_kept));
        if (win) {
            int64_t xl[8], cl[8];
            _mm512_storeu_si512(xl, x);
            _mm512_storeu_si512(cl, c);
            for (int l = 0; l < 8; l++) {
                int64_t *t;
                if (!((win >> l) & 1))
                    continue;
                /* an earlier winner of this step may have raised the floor */
                t = f->top[cl[l]];
                if (xl[l] > t[SL_FIXED_TOP - 1]) {
                    top_push(t, xl[l]);
                    floor_of[cl[l]] = t[SL_FIXED_TOP - 1];
                }
            }
            least_kept = _mm512_loadu_si512(floor_of);
        }
    }
    UNROLL for (int k = 0; k < nc; k++) {
        f->lo[k] += (uint64_t)_mm512_reduce_add_epi64(lo[k]);
        f->hi[k] += _mm512_reduce_add_epi64(hi[k]);
        f->negative[k] |= _mm512_reduce_or_epi64(ng[k]) < 0;
    }
    return rows_plain(f, v, cell, mask, r, n);
}

int64_t sl_fixed_cells_rows_avx512(struct sl_fixed_cells *f, const double *v,
                                   const int32_t *cell, const uint8_t *mask, int64_t n)
{
    switch (f->ncells) {
    case 1: return rows_avx512(f, v, cell, mask, n, 1);
    case 2: return rows_avx512(f, v, cell, mask, n, 2);
    case 3: return rows_avx512(f, v, cell, mask, n, 3);
    case 4: return rows_avx512(f, v, cell, mask, n, 4);
    case 5: return rows_avx512(f, v, cell, mask, n, 5);
    case 6: return rows_avx512(f, v, cell, mask, n, 6);
    case 7: return rows_avx512(f, v, cell, mask, n, 7);
    default: return rows_avx512(f, v, cell, mask, n, 8);
    }
}

#endif
