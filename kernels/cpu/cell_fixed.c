/*
 * cell_fixed.c: fixed-point totals, counts and largest contributions per
 * cell (sl_fixed_cells_rows, see kernel.h), the dominance evidence of
 * describe and crosstab.
 *
 * The plain C variant takes a row at a time and adds each contribution to
 * its cell's 128-bit total. The AVX-512 variant works in blocks of steps of
 * 8 rows. A step converts 8 values (multiply, add the signed near-half,
 * truncate: the same double operations as sl_fixed_round). Then:
 *
 * - up to SL_FIXED_CELLS cells: each value goes to its cell's register of 8
 *   lane sums under a compare mask; counts are population counts of those
 *   masks (up to POPCOUNT_CELLS cells) or go to 8-bit fields of two
 *   registers (one field per cell), the cells that saw a negative value to
 *   a bit mask. Blocks are BLOCK_STEPS steps; the sums stay in registers
 *   (each is passed on by value), and the rare value past 2^63 in fixed
 *   point is saturated in a branch of its own.
 * - more cells (up to MANY_MAX): each lane adds its value and a count to its
 *   own table in the scratch (8 tables, so no two stores of a step meet);
 *   dropped rows go to a spare cell. Batches of rows are converted in
 *   vectors first and added to the tables in a scalar loop after. Blocks
 *   are MANY_BLOCK rows, and a block with a negative value is read again
 *   for the cells that had one.
 *
 * A lane's 64-bit sum cannot wrap while every |x| in its block stays below
 * a bound (2^55, 2^49); a block that holds a larger one has its totals taken
 * again row by row. A value can enter its cell's largest only when it beats
 * the smallest kept one; the 8 rows are compared with those in one step and
 * the rare winners inserted one by one. Totals are exact integers and the
 * largest values a multiset, so every variant gives the same output. Like
 * cell_lanes.c the file is compiled once per instruction set (SL_TILES_ISA
 * 0 = generic C, 1 = AVX2, 2 = AVX-512F with DQ for the conversion); AVX2
 * has no 64-bit conversion, so its build uses the plain C variant.
 */
#include <string.h>

#include "kernels/cpu/cpu_impl.h"

#if SL_TILES_ISA == 2
#include "kernels/cpu/cells512.h"
#endif

#if SL_TILES_ISA != 1

/* Adds x, sign-extended, to the 128-bit total hi * 2^64 + lo. */
static inline void add128(int64_t *hi, uint64_t *lo, int64_t x)
{
    uint64_t s = *lo + (uint64_t)x;
    *hi += (x < 0 ? -1 : 0) + (s < *lo);
    *lo = s;
}

/* Inserts x, larger than t[SL_FIXED_TOP - 1], among the largest. */
static void top_push(int64_t *t, int64_t x)
{
    int i = SL_FIXED_TOP - 1;
    for (; i > 0 && t[i - 1] < x; i--)
        t[i] = t[i - 1];
    t[i] = x;
}

/* Row r's cell, -1 when dropped (without cells: by mask). */
static inline int64_t cell_of(const int32_t *cell, const uint8_t *mask, int64_t r)
{
    return cell ? cell[r] : (mask && !mask[r] ? -1 : 0);
}

/* Rows [from, n) in plain C; with `sums_only` (rows already counted, their
 * cells known good) only the totals. */
static int64_t rows_plain(struct sl_fixed_cells *f, const double *v, const int32_t *cell,
                          const uint8_t *mask, int64_t from, int64_t n, int sums_only)
{
    for (int64_t r = from; r < n; r++) {
        int64_t c = cell_of(cell, mask, r), x;
        if ((uint64_t)c >= (uint64_t)f->ncells) {
            if (c == -1)
                continue;
            return r;
        }
        if (v[r] != v[r])
            continue;
        x = sl_fixed_round(v[r], f->scale);
        add128(&f->total_hi[c], &f->total_lo[c], x);
        if (sums_only)
            continue;
        f->count[c]++;
        f->negative[c] |= x < 0;
        if (x > f->top[c * SL_FIXED_TOP + SL_FIXED_TOP - 1])
            top_push(f->top + c * SL_FIXED_TOP, x);
    }
    return -1;
}

#endif

#if SL_TILES_ISA == 0

int64_t sl_fixed_cells_rows_generic(struct sl_fixed_cells *f, const double *v,
                                    const int32_t *cell, const uint8_t *mask, int64_t n)
{
    return rows_plain(f, v, cell, mask, 0, n, 0);
}

#elif SL_TILES_ISA == 2

/* Steps of 8 rows per block: 8-bit count fields hold 255. */
#define BLOCK_STEPS 255

/* Rows per block of the many-cell path: a lane adds at most MANY_BLOCK / 8
 * = 2^13 values, each |x| < 2^MANY_BITS, so its sum stays below 2^62. */
#define MANY_BLOCK (8 << 13)
#define MANY_BITS 49
/* Above this many cells the lane tables outgrow the caches: plain C. */
#define MANY_MAX 4096

/* The cell loops must unroll so that the sums live in registers. */
#define UNROLL _Pragma("GCC unroll 16")

/* sl_fixed_round of 8 products p = v * scale with |p| below 2^63: add the
 * signed near-half, truncate. */
static inline __attribute__((always_inline)) __m512i round8(__m512d p)
{
    const __m512i half = _mm512_castpd_si512(_mm512_set1_pd(0.49999999999999994));
    const __m512i sign = _mm512_set1_epi64(INT64_MIN);
    return _mm512_cvttpd_epi64(_mm512_add_pd(
        p, _mm512_castsi512_pd(
               _mm512_or_si512(_mm512_and_si512(_mm512_castpd_si512(p), sign), half))));
}

/* round8's x where `in` is set, +-(2^63 - 1) by the sign of p elsewhere. */
static inline __attribute__((always_inline)) __m512i saturate8(__m512d p, __m512i x, __mmask8 in)
{
    const __m512i most = _mm512_set1_epi64(INT64_MAX), least = _mm512_set1_epi64(-INT64_MAX);
    return _mm512_mask_blend_epi64(
        in,
        _mm512_mask_blend_epi64(_mm512_cmp_pd_mask(p, _mm512_setzero_pd(), _CMP_LT_OQ), most,
                                least),
        x);
}

/* sl_fixed_round of 8 values, with its double operations. */
static inline __attribute__((always_inline)) __m512i fixed8(__m512d v, __m512d scale)
{
    const __m512d limit = _mm512_set1_pd(9223372036854775807.0);
    __m512d p = _mm512_mul_pd(v, scale);
    return saturate8(p, round8(p), _mm512_cmp_pd_mask(_mm512_abs_pd(p), limit, _CMP_LT_OQ));
}

/* The largest of cell c take x if it beats their smallest; floor_of[c]
 * follows. */
static void top_offer(struct sl_fixed_cells *f, int64_t *floor_of, int64_t c, int64_t x)
{
    int64_t *t = f->top + c * SL_FIXED_TOP;
    /* an earlier winner of this step may have raised the floor */
    if (x > t[SL_FIXED_TOP - 1]) {
        top_push(t, x);
        floor_of[c] = t[SL_FIXED_TOP - 1];
    }
}

/* Adds cell k's lane sums (with `exact`; else they are taken again row by
 * row), its count and whether it saw a negative value to f. The caller
 * passes each sum by value, so that its array of sums stays in registers. */
static inline __attribute__((always_inline)) void
flush_cell(struct sl_fixed_cells *f, int k, int exact, __m512i sum, int64_t count, uint64_t negs)
{
    if (exact) {
        int64_t l8[8];
        _mm512_storeu_si512(l8, sum);
        for (int l = 0; l < 8; l++)
            add128(&f->total_hi[k], &f->total_lo[k], l8[l]);
    }
    f->count[k] += count;
    f->negative[k] |= (int64_t)((negs >> k) & 1);
}

/* Cell k's count from the 8-bit fields of lowc and highc. */
static inline int64_t field_count(const int64_t *a, const int64_t *b, int k)
{
    int64_t n = 0;
    for (int l = 0; l < 8; l++)
        n += (int64_t)(((uint64_t)(k < 8 ? a[l] : b[l]) >> (8 * (k & 7))) & 255);
    return n;
}

/* Up to this many cells a step's counts are population counts of the cells'
 * masks in general registers, which the vector units, the bottleneck, do
 * not see; more cells count in 8-bit fields of two vectors. */
#define POPCOUNT_CELLS 4

/* A block whose every |v * scale| stays below this has exact lane sums:
 * each |x| is below 2^55, and a lane adds at most BLOCK_STEPS of them. */
#define BLOCK_EXACT 18014398509481984.0 /* 2^54 */

/* Inlined with a constant number of cells: each count gets its own loop. */
static inline __attribute__((always_inline)) int64_t
rows_avx512(struct sl_fixed_cells *f, const double *v, const int32_t *cell, const uint8_t *mask,
            int64_t n, const int nc)
{
    const __m512d scale = _mm512_set1_pd(f->scale);
    const __m512d limit = _mm512_set1_pd(9223372036854775807.0);
    const __m512i one = _mm512_set1_epi64(1);
    const __m512i seven = _mm512_set1_epi64(7), eight = _mm512_set1_epi64(8);
    __m512i sum[SL_FIXED_CELLS];
    int64_t cnt[SL_FIXED_CELLS];
    /* the smallest kept value per cell (sl_by_cell reads 16); cells past
     * nc never win */
    int64_t floor_of[16];
    int64_t r = 0;
    int stop = 0;

    UNROLL for (int k = 0; k < 16; k++)
        floor_of[k] = k < nc ? f->top[k * SL_FIXED_TOP + SL_FIXED_TOP - 1] : INT64_MAX;
    while (!stop && r + 8 <= n) {
        int64_t b0 = r, b1 = r + 8 * BLOCK_STEPS < n ? r + 8 * BLOCK_STEPS : n;
        __m512i lowc = _mm512_setzero_si512(), highc = lowc, neg = lowc;
        /* the largest |p| of the block; a NaN leaves it as it was */
        __m512d big = _mm512_setzero_pd();
        UNROLL for (int k = 0; k < nc; k++) {
            sum[k] = _mm512_setzero_si512();
            cnt[k] = 0;
        }
        for (; r + 8 <= b1; r += 8) {
            __m512i c, x;
            __m512d p, ap;
            __mmask8 ok, in, win;
            /* a cell out of range: the plain loop finds the row */
            if (!sl_cells8(cell, mask, r, nc, &c, &ok)) {
                stop = 1;
                break;
            }
            p = _mm512_loadu_pd(v + r);
            ok = _mm512_mask_cmp_pd_mask(ok, p, p, _CMP_ORD_Q);
            p = _mm512_mul_pd(p, scale);
            ap = _mm512_abs_pd(p);
            x = round8(p);
            in = _mm512_cmp_pd_mask(ap, limit, _CMP_LT_OQ);
            if ((in & ok) != ok)
                x = saturate8(p, x, in);
            big = _mm512_max_pd(ap, big);
            UNROLL for (int k = 0; k < nc; k++) {
                __mmask8 m = nc == 1 ? ok : ok & _mm512_cmpeq_epi64_mask(c, _mm512_set1_epi64(k));
                sum[k] = _mm512_mask_add_epi64(sum[k], m, sum[k], x);
                if (nc <= POPCOUNT_CELLS)
                    cnt[k] += __builtin_popcount((unsigned)m);
            }
            /* the cells with a negative value, the counts in 8-bit fields */
            neg = _mm512_mask_or_epi64(neg, _mm512_mask_cmplt_epi64_mask(ok, x,
                                                                         _mm512_setzero_si512()),
                                       neg, _mm512_sllv_epi64(one, c));
            if (nc > POPCOUNT_CELLS) {
                __m512i hot =
                    _mm512_sllv_epi64(one, _mm512_slli_epi64(_mm512_and_si512(c, seven), 3));
                lowc = _mm512_mask_add_epi64(lowc, _mm512_mask_cmplt_epi64_mask(ok, c, eight),
                                             lowc, hot);
                if (nc > 8)
                    highc = _mm512_mask_add_epi64(
                        highc, _mm512_mask_cmpge_epi64_mask(ok, c, eight), highc, hot);
            }
            win = _mm512_mask_cmpgt_epi64_mask(ok, x, sl_by_cell(c, floor_of));
            if (win) {
                int64_t xl[8], cl[8];
                _mm512_storeu_si512(xl, x);
                _mm512_storeu_si512(cl, c);
                for (int l = 0; l < 8; l++)
                    if ((win >> l) & 1)
                        top_offer(f, floor_of, cl[l], xl[l]);
            }
        }
        /* a value too large for exact lane sums: this block's totals again,
         * row by row */
        {
            int exact = _mm512_reduce_max_pd(big) < BLOCK_EXACT;
            uint64_t negs = (uint64_t)_mm512_reduce_or_epi64(neg);
            int64_t a[8], b[8];
            _mm512_storeu_si512(a, lowc);
            _mm512_storeu_si512(b, highc);
            UNROLL for (int k = 0; k < nc; k++)
                flush_cell(f, k, exact, sum[k],
                           nc <= POPCOUNT_CELLS ? cnt[k] : field_count(a, b, k), negs);
            if (!exact)
                (void)rows_plain(f, v, cell, mask, b0, r, 1);
        }
    }
    return rows_plain(f, v, cell, mask, r, n, 0);
}

/* Marks the cells of rows [from, to) (cells known good) that hold a
 * negative contribution. */
static void mark_negative(struct sl_fixed_cells *f, const double *v, const int32_t *cell,
                          const uint8_t *mask, int64_t from, int64_t to)
{
    for (int64_t r = from; r < to; r++) {
        int64_t c = cell_of(cell, mask, r);
        if (c >= 0 && v[r] == v[r] && sl_fixed_round(v[r], f->scale) < 0)
            f->negative[c] = 1;
    }
}

/* Rows a batch of the many-cell path converts before it adds them. */
#define BATCH 256

/* More than SL_FIXED_CELLS cells: per-lane tables in the scratch, entry
 * (lane, cell) at lane * stride + 4 cell holding the lane's sum and count
 * and the cell's smallest kept value (the same in every lane); cell nc
 * takes the dropped rows and its floor is never beaten. A batch of up to
 * BATCH rows is first converted in vectors (values and table entries to
 * arrays on the stack), then added to the tables row by row: moving each
 * lane of a vector to a general register on its own, or gathering the
 * floors, costs more than the additions. */
static int64_t rows_many(struct sl_fixed_cells *f, const double *v, const int32_t *cell,
                         const uint8_t *mask, int64_t n)
{
    const int64_t nc = f->ncells, stride = 4 * (nc + 1);
    /* unsigned: a block's sums may wrap before its second look */
    uint64_t *lane = (uint64_t *)f->scratch;
    const __m512d scale = _mm512_set1_pd(f->scale);
    const __m512i base =
        _mm512_mullo_epi64(_mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_epi64(stride));
    const __m512i spare = _mm512_set1_epi64(nc);
    int64_t xb[BATCH], ab[BATCH], r = 0;
    int stop = 0;

    for (int64_t c = 0; c <= nc; c++)
        for (int l = 0; l < 8; l++)
            lane[l * stride + 4 * c + 2] =
                (uint64_t)(c < nc ? f->top[c * SL_FIXED_TOP + SL_FIXED_TOP - 1] : INT64_MAX);
    while (!stop && r + 8 <= n) {
        int64_t b0 = r, b1 = r + MANY_BLOCK < n ? r + MANY_BLOCK : n;
        __m512i big = _mm512_setzero_si512(), neg = big;
        int exact;
        for (int64_t e = 0; e < 8 * stride; e += 4)
            lane[e] = lane[e + 1] = 0;
        while (!stop && r + 8 <= b1) {
            int64_t e = r + BATCH < b1 ? r + BATCH : b1, q = r;
            for (; q + 8 <= e; q += 8) {
                __m512i c, x;
                __m512d p;
                __mmask8 ok;
                if (!sl_cells8(cell, mask, q, nc, &c, &ok)) {
                    stop = 1;
                    break;
                }
                p = _mm512_loadu_pd(v + q);
                ok = _mm512_mask_cmp_pd_mask(ok, p, p, _CMP_ORD_Q);
                x = _mm512_maskz_mov_epi64(ok, fixed8(p, scale));
                c = _mm512_mask_blend_epi64(ok, spare, c);
                big = _mm512_or_si512(big, _mm512_xor_si512(x, _mm512_srai_epi64(x, 63)));
                neg = _mm512_or_si512(neg, x);
                _mm512_storeu_si512(xb + (q - r), x);
                _mm512_storeu_si512(ab + (q - r), _mm512_add_epi64(base, _mm512_slli_epi64(c, 2)));
            }
            for (int64_t i = 0; i < q - r; i++) {
                uint64_t *t = lane + ab[i];
                t[0] += (uint64_t)xb[i];
                t[1]++;
                if (xb[i] > (int64_t)t[2]) {
                    int64_t c = (ab[i] - (i & 7) * stride) / 4, *top = f->top + c * SL_FIXED_TOP;
                    top_push(top, xb[i]);
                    for (int l = 0; l < 8; l++)
                        lane[l * stride + 4 * c + 2] = (uint64_t)top[SL_FIXED_TOP - 1];
                }
            }
            r = q;
        }
        /* a value too large for exact lane sums: this block's totals again,
         * row by row */
        exact = !((uint64_t)_mm512_reduce_or_epi64(big) >> MANY_BITS);
        if (!exact)
            (void)rows_plain(f, v, cell, mask, b0, r, 1);
        for (int64_t c = 0; c < nc; c++)
            for (int l = 0; l < 8; l++) {
                const uint64_t *t = lane + l * stride + 4 * c;
                if (exact)
                    add128(&f->total_hi[c], &f->total_lo[c], (int64_t)t[0]);
                f->count[c] += (int64_t)t[1];
            }
        if (_mm512_reduce_or_epi64(neg) < 0)
            mark_negative(f, v, cell, mask, b0, r);
    }
    return rows_plain(f, v, cell, mask, r, n, 0);
}

int64_t sl_fixed_cells_rows_avx512(struct sl_fixed_cells *f, const double *v,
                                   const int32_t *cell, const uint8_t *mask, int64_t n)
{
    if (f->ncells > MANY_MAX)
        return rows_plain(f, v, cell, mask, 0, n, 0);
    if (f->ncells > SL_FIXED_CELLS)
        return rows_many(f, v, cell, mask, n);
    switch (f->ncells) {
    case 1: return rows_avx512(f, v, cell, mask, n, 1);
    case 2: return rows_avx512(f, v, cell, mask, n, 2);
    case 3: return rows_avx512(f, v, cell, mask, n, 3);
    case 4: return rows_avx512(f, v, cell, mask, n, 4);
    case 5: return rows_avx512(f, v, cell, mask, n, 5);
    case 6: return rows_avx512(f, v, cell, mask, n, 6);
    case 7: return rows_avx512(f, v, cell, mask, n, 7);
    case 8: return rows_avx512(f, v, cell, mask, n, 8);
    case 9: return rows_avx512(f, v, cell, mask, n, 9);
    default: return rows_avx512(f, v, cell, mask, n, 10);
    }
}

#endif
