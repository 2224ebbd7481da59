/*
 * cell_brackets.c: the bracket pass of exact selection (sl_bracket_rows,
 * see kernel.h) for grids of a few cells.
 *
 * Each row's segment is the number of its cell's bounds at or below its
 * key. The plain C variant counts them row by row. The AVX-512 variant
 * takes 8 rows at a time: the bounds of each row's cell come from a permute
 * by cell index (one register up to 8 cells, two up to 16; up to 32, one
 * such permute in each half and a blend by bit 4 of the cell), the segment
 * is a sum of compare masks, and the 8 counter increments go to 8 separate
 * copies of the counters (row r to copy (r - r0) mod 8), so that no two
 * increments of one step touch the same counter. The candidates are packed
 * in row order by a compress in registers. Both variants compute the same counters and candidates. Like
 * cell_lanes.c the file is compiled once per instruction set (SL_TILES_ISA
 * 0 = generic C, 1 = AVX2, 2 = AVX-512F); AVX2 has no unsigned 64-bit
 * compare or compress, so its build uses the plain C variant.
 */
#include <string.h>

#include "kernels/cpu/cpu_impl.h"

#if SL_TILES_ISA == 2
#include "kernels/cpu/cells512.h"
#endif

#if SL_TILES_ISA != 1

/* The number of cell c's bounds at or below key k: a binary search down to
 * a few bounds, then compares without branches (the keys are random to the
 * branch predictor). The padding sorts last. */
static inline int64_t segment(const struct sl_brackets *b, int64_t c, uint64_t k)
{
    int64_t lo = 0, hi = b->nbounds;
    while (hi - lo > 8) {
        int64_t mid = lo + (hi - lo) / 2;
        if (b->bound[mid][c] <= k)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (int64_t j = lo; j < hi; j++)
        lo += b->bound[j][c] <= k;
    return lo;
}

/* Rows [from, r1) in plain C; lanes count from r0. */
static int64_t rows_plain(const struct sl_brackets *b, const double *v, const int32_t *cell,
                          const uint8_t *mask, int64_t r0, int64_t from, int64_t r1,
                          int64_t *hist, double *cv, int32_t *cs, int64_t cap, int64_t *np)
{
    int64_t n = *np;
    for (int64_t r = from; r < r1; r++) {
        int64_t c = cell ? cell[r] : (mask && !mask[r] ? -1 : 0), s, g;
        double x = v[r];
        uint64_t k;
        if ((uint64_t)c >= (uint64_t)b->ncells) {
            if (c == -1)
                continue;
            *np = n;
            return r;
        }
        if (x != x)
            continue;
        k = sl_total_key(x);
        s = segment(b, c, k);
        g = b->seg0[c] + s;
        hist[((r - r0) & (SL_BRACKET_LANES - 1)) * b->stride + g]++;
        if ((b->copy[c] >> s) & 1) {
            if (n < cap) {
                cv[n] = x;
                cs[n] = (int32_t)g;
            }
            n++;
        }
    }
    *np = n;
    return -1;
}

#endif

#if SL_TILES_ISA == 0

int64_t sl_bracket_rows_generic(const struct sl_brackets *b, const double *v,
                                const int32_t *cell, const uint8_t *mask, int64_t r0, int64_t r1,
                                int64_t *hist, double *cv, int32_t *cs, int64_t cap, int64_t *n)
{
    return rows_plain(b, v, cell, mask, r0, r0, r1, hist, cv, cs, cap, n);
}

#elif SL_TILES_ISA == 2

/* The bound and counter loops must unroll: their bounds are constants. */
#define UNROLL _Pragma("GCC unroll 8")

/* Entry c of a per-cell table for grids of up to 16 (wide 1) or 32 (wide
 * 2) cells; `upper` marks the lanes whose cell is 16 or more. */
static inline __attribute__((always_inline)) __m512i by_cell(__m512i c, __mmask8 upper,
                                                             const void *table, const int wide)
{
    return wide == 2 ? sl_by_cell32(c, upper, table) : sl_by_cell(c, table);
}

/* Inlined with constants: `nbk` bounds per cell (-1: b->nbounds, read at
 * run time) and `wide` (0: up to 8 cells, one-register tables; 1: up to
 * 16, two-register tables; 2: up to 32, two of those). With at most 8
 * cells and a constant count the tables stay in registers. */
static inline __attribute__((always_inline)) int64_t
rows_avx512(const struct sl_brackets *b, const double *v, const int32_t *cell, const uint8_t *mask,
            int64_t r0, int64_t r1, int64_t *hist, double *cv, int32_t *cs, int64_t cap,
            int64_t *np, const int nbk, const int wide)
{
    const __m512i one = _mm512_set1_epi64(1), top = _mm512_set1_epi64(INT64_MIN);
    const int64_t st = b->stride;
    /* counter copy of lane l, and where a row without a value counts: a
     * spare counter past the copies, never read */
    const __m512i lane = _mm512_set_epi64(7 * st, 6 * st, 5 * st, 4 * st, 3 * st, 2 * st, st, 0);
    const __m512i spare = _mm512_set1_epi64(SL_BRACKET_LANES * st);
    const __m512i seg8 = _mm512_loadu_si512(b->seg0), copy8 = _mm512_loadu_si512(b->copy);
    const int nb = nbk >= 0 ? nbk : b->nbounds;
    __m512i bound8[8];
    int64_t n = *np, r = r0;
    /* the counters of a step are incremented one step later, when its
     * vector store of their indices has left the store queue */
    int64_t at[2][SL_BRACKET_LANES] __attribute__((aligned(64)));
    int cur = 0;

    for (int j = 0; j < (nbk > 0 ? nbk : 0); j++)
        bound8[j] = _mm512_loadu_si512(b->bound[j]);
    for (int l = 0; l < SL_BRACKET_LANES; l++)
        at[1][l] = SL_BRACKET_LANES * st;

    for (; r + SL_BRACKET_LANES <= r1; r += SL_BRACKET_LANES) {
        __m512i c, s = _mm512_setzero_si512(), key, g;
        __m512d x;
        __mmask8 ok, take, upper = 0;
        /* a cell out of range: the plain loop finds the row */
        if (!sl_cells8(cell, mask, r, b->ncells, &c, &ok))
            break;
        if (wide == 2)
            upper = _mm512_test_epi64_mask(c, _mm512_set1_epi64(16));
        x = _mm512_loadu_pd(v + r);
        ok = _mm512_mask_cmp_pd_mask(ok, x, x, _CMP_ORD_Q);
        key = _mm512_castpd_si512(x);
        key = _mm512_xor_si512(key, _mm512_or_si512(_mm512_srai_epi64(key, 63), top));
        UNROLL for (int j = 0; j < nb; j++) {
            __m512i bj = wide      ? by_cell(c, upper, b->bound[j], wide)
                         : nbk > 0 ? _mm512_permutexvar_epi64(c, bound8[j])
                                   : _mm512_permutexvar_epi64(c, _mm512_loadu_si512(b->bound[j]));
            s = _mm512_mask_add_epi64(s, _mm512_cmple_epu64_mask(bj, key), s, one);
        }
        g = _mm512_add_epi64(
            wide ? by_cell(c, upper, b->seg0, wide) : _mm512_permutexvar_epi64(c, seg8), s);
        take = _mm512_mask_test_epi64_mask(
            ok,
            _mm512_srlv_epi64(
                wide ? by_cell(c, upper, b->copy, wide) : _mm512_permutexvar_epi64(c, copy8), s),
            one);
        _mm512_store_si512(at[cur], _mm512_mask_add_epi64(spare, ok, g, lane));
        cur ^= 1;
        UNROLL for (int l = 0; l < SL_BRACKET_LANES; l++)
            hist[at[cur][l]]++;
        if (n + SL_BRACKET_LANES <= cap) {
            _mm512_storeu_pd(cv + n, _mm512_maskz_compress_pd(take, x));
            _mm256_storeu_si256((__m256i *)(cs + n),
                                _mm512_cvtepi64_epi32(_mm512_maskz_compress_epi64(take, g)));
            n += __builtin_popcount(take);
        } else {
            int64_t gl[SL_BRACKET_LANES];
            double xl[SL_BRACKET_LANES];
            _mm512_storeu_si512(gl, g);
            _mm512_storeu_pd(xl, x);
            for (int l = 0; l < SL_BRACKET_LANES; l++) {
                if (!((take >> l) & 1))
                    continue;
                if (n < cap) {
                    cv[n] = xl[l];
                    cs[n] = (int32_t)gl[l];
                }
                n++;
            }
        }
    }
    cur ^= 1;
    for (int l = 0; l < SL_BRACKET_LANES; l++)
        hist[at[cur][l]]++;
    *np = n;
    return rows_plain(b, v, cell, mask, r0, r, r1, hist, cv, cs, cap, np);
}

int64_t sl_bracket_rows_avx512(const struct sl_brackets *b, const double *v,
                               const int32_t *cell, const uint8_t *mask, int64_t r0, int64_t r1,
                               int64_t *hist, double *cv, int32_t *cs, int64_t cap, int64_t *np)
{
#define ROWS(NB, WIDE) rows_avx512(b, v, cell, mask, r0, r1, hist, cv, cs, cap, np, NB, WIDE)
    if (b->ncells > 16)
        return ROWS(-1, 2);
    if (b->ncells > 8)
        return ROWS(-1, 1);
    switch (b->nbounds) {
    case 1: return ROWS(1, 0);
    case 2: return ROWS(2, 0);
    case 3: return ROWS(3, 0);
    case 4: return ROWS(4, 0);
    case 5: return ROWS(5, 0);
    case 6: return ROWS(6, 0);
    case 7: return ROWS(7, 0);
    case 8: return ROWS(8, 0);
    default: return ROWS(-1, 0);
    }
#undef ROWS
}

#endif
