/*
 * cell_lanes.c: grouped sums for a handful of cells, in vector lanes.
 *
 * With few cells (describe by sex, by a yes/no flag) the scattered
 * per-cell updates of fast_group_moments.c wait on each other's stores.
 * These kernels instead keep, for each slot, 8 lane accumulators in
 * registers and add each row to every slot under a compare mask: row i of
 * the segment goes to lane i mod 8, so each lane sees its rows in row order
 * and the result is defined without reference to the vector width. Like
 * gram_tiles.c the file is compiled once per instruction set (SL_TILES_ISA
 * 0 = generic C, 1 = AVX2, 2 = AVX-512F); all variants perform the same
 * additions on every lane in the same order and agree to the last bit.
 * Counts are integers and may be formed in any order.
 */
#include <string.h>

#include "kernels/cpu/cpu_impl.h"

#if SL_TILES_ISA > 0
#include <immintrin.h>
#endif

#define LANES SL_CELL_LANES

/* The slot loops must unroll completely so that the accumulators live in
 * registers. */
#define UNROLL _Pragma("GCC unroll 8")

/* The rows after the last full group of 8, added in plain C to the lanes
 * the vector loops stored: the same arithmetic in every variant. */
static void sums_tail(const double *v, const uint32_t *slot, int64_t i0, int64_t n, int has_nan,
                      double *sum, int64_t *kept, int64_t *present)
{
    for (int64_t i = i0; i < n; i++) {
        uint32_t k = slot[i];
        double x = v[i];
        if (k == 0)
            continue;
        kept[k]++;
        if (!has_nan || x == x) {
            present[k]++;
            sum[k * LANES + (i & (LANES - 1))] += x;
        }
    }
}

static void squares_tail(const double *v, const uint32_t *slot, int64_t i0, int64_t n,
                         int has_nan, const double *mean, double *m2)
{
    for (int64_t i = i0; i < n; i++) {
        uint32_t k = slot[i];
        double x = v[i], d = x - mean[k];
        if (k > 0 && (!has_nan || x == x))
            m2[k * LANES + (i & (LANES - 1))] += d * d;
    }
}

#if SL_TILES_ISA == 0

void sl_cell_sums_generic(const double *v, const uint32_t *slot, int64_t n, int ns, int has_nan,
                          double *sum, int64_t *kept, int64_t *present)
{
    (void)ns;
    sums_tail(v, slot, 0, n, has_nan, sum, kept, present);
}

void sl_cell_squares_generic(const double *v, const uint32_t *slot, int64_t n, int ns,
                             int has_nan, const double *mean, double *m2)
{
    (void)ns;
    squares_tail(v, slot, 0, n, has_nan, mean, m2);
}

#elif SL_TILES_ISA == 1

/* Rows [at, at + 4): values, slots widened to 64 bits, and (with has_nan)
 * the mask of present values. */
static inline __attribute__((always_inline)) void
load_half(const double *v, const uint32_t *slot, int64_t at, const int has_nan, __m256d *x,
          __m256i *sl, __m256d *p)
{
    *x = _mm256_loadu_pd(v + at);
    *sl = _mm256_cvtepu32_epi64(_mm_loadu_si128((const __m128i *)(slot + at)));
    *p = has_nan ? _mm256_cmp_pd(*x, *x, _CMP_ORD_Q) : _mm256_setzero_pd();
}

/* AVX2: the 8 lanes as two halves of 4. Inlined with constant ns and
 * has_nan so that each case gets its own unrolled loop. */
static inline __attribute__((always_inline)) void
sums_avx2(const double *v, const uint32_t *slot, int64_t n8, const int ns, const int has_nan,
          double *sum, int64_t *kept, int64_t *present)
{
    __m256d s[SL_CELL_SLOTS][2];
    __m256i kc[SL_CELL_SLOTS][2], pc[SL_CELL_SLOTS][2];
    UNROLL for (int k = 1; k < ns; k++)
        UNROLL for (int h = 0; h < 2; h++) {
            s[k][h] = _mm256_setzero_pd();
            kc[k][h] = pc[k][h] = _mm256_setzero_si256();
        }
    for (int64_t i = 0; i < n8; i += LANES)
        UNROLL for (int h = 0; h < 2; h++) {
            __m256d x, p;
            __m256i sl;
            load_half(v, slot, i + 4 * h, has_nan, &x, &sl, &p);
            UNROLL for (int k = 1; k < ns; k++) {
                __m256i m = _mm256_cmpeq_epi64(sl, _mm256_set1_epi64x(k));
                __m256d mp = _mm256_castsi256_pd(m);
                if (has_nan) {
                    mp = _mm256_and_pd(mp, p);
                    pc[k][h] = _mm256_sub_epi64(pc[k][h], _mm256_castpd_si256(mp));
                }
                s[k][h] = _mm256_add_pd(s[k][h], _mm256_and_pd(x, mp));
                kc[k][h] = _mm256_sub_epi64(kc[k][h], m);
            }
        }
    UNROLL for (int k = 1; k < ns; k++)
        UNROLL for (int h = 0; h < 2; h++) {
            int64_t c[4], q[4];
            _mm256_storeu_pd(sum + k * LANES + 4 * h, s[k][h]);
            _mm256_storeu_si256((__m256i *)c, kc[k][h]);
            _mm256_storeu_si256((__m256i *)q, pc[k][h]);
            for (int l = 0; l < 4; l++) {
                kept[k] += c[l];
                present[k] += has_nan ? q[l] : c[l];
            }
        }
}

static inline __attribute__((always_inline)) void
squares_avx2(const double *v, const uint32_t *slot, int64_t n8, const int ns, const int has_nan,
             const double *mean, double *m2)
{
    __m256d q[SL_CELL_SLOTS][2], mk[SL_CELL_SLOTS];
    UNROLL for (int k = 1; k < ns; k++) {
        mk[k] = _mm256_set1_pd(mean[k]);
        q[k][0] = q[k][1] = _mm256_setzero_pd();
    }
    for (int64_t i = 0; i < n8; i += LANES)
        UNROLL for (int h = 0; h < 2; h++) {
            __m256d x, p;
            __m256i sl;
            load_half(v, slot, i + 4 * h, has_nan, &x, &sl, &p);
            UNROLL for (int k = 1; k < ns; k++) {
                __m256d mp = _mm256_castsi256_pd(_mm256_cmpeq_epi64(sl, _mm256_set1_epi64x(k)));
                __m256d d = _mm256_sub_pd(x, mk[k]);
                if (has_nan)
                    mp = _mm256_and_pd(mp, p);
                q[k][h] = _mm256_add_pd(q[k][h], _mm256_and_pd(_mm256_mul_pd(d, d), mp));
            }
        }
    UNROLL for (int k = 1; k < ns; k++)
        UNROLL for (int h = 0; h < 2; h++)
            _mm256_storeu_pd(m2 + k * LANES + 4 * h, q[k][h]);
}

#define SUMS_VEC sums_avx2
#define SQUARES_VEC squares_avx2
#define SUFFIX(name) name##_avx2

#elif SL_TILES_ISA == 2

/* AVX-512F: one register per slot holds its 8 lanes; masked adds. */
static inline __attribute__((always_inline)) void
sums_avx512(const double *v, const uint32_t *slot, int64_t n8, const int ns, const int has_nan,
            double *sum, int64_t *kept, int64_t *present)
{
    const __m512i one = _mm512_set1_epi64(1);
    __m512d s[SL_CELL_SLOTS];
    __m512i kc[SL_CELL_SLOTS], pc[SL_CELL_SLOTS];
    UNROLL for (int k = 1; k < ns; k++) {
        s[k] = _mm512_setzero_pd();
        kc[k] = pc[k] = _mm512_setzero_si512();
    }
    for (int64_t i = 0; i < n8; i += LANES) {
        __m512d x = _mm512_loadu_pd(v + i);
        __m512i sl = _mm512_cvtepu32_epi64(_mm256_loadu_si256((const __m256i *)(slot + i)));
        __mmask8 p = has_nan ? _mm512_cmp_pd_mask(x, x, _CMP_ORD_Q) : (__mmask8)0xff;
        UNROLL for (int k = 1; k < ns; k++) {
            __mmask8 m = _mm512_cmpeq_epi64_mask(sl, _mm512_set1_epi64(k));
            s[k] = _mm512_mask_add_pd(s[k], m & p, s[k], x);
            kc[k] = _mm512_mask_add_epi64(kc[k], m, kc[k], one);
            if (has_nan)
                pc[k] = _mm512_mask_add_epi64(pc[k], m & p, pc[k], one);
        }
    }
    UNROLL for (int k = 1; k < ns; k++) {
        int64_t c = _mm512_reduce_add_epi64(kc[k]);
        _mm512_storeu_pd(sum + k * LANES, s[k]);
        kept[k] += c;
        present[k] += has_nan ? _mm512_reduce_add_epi64(pc[k]) : c;
    }
}

static inline __attribute__((always_inline)) void
squares_avx512(const double *v, const uint32_t *slot, int64_t n8, const int ns,
               const int has_nan, const double *mean, double *m2)
{
    __m512d q[SL_CELL_SLOTS];
    __m512d means = _mm512_loadu_pd(mean); /* mean[slot], SL_CELL_SLOTS == 8 */
    UNROLL for (int k = 1; k < ns; k++)
        q[k] = _mm512_setzero_pd();
    for (int64_t i = 0; i < n8; i += LANES) {
        __m512d x = _mm512_loadu_pd(v + i);
        __m512i sl = _mm512_cvtepu32_epi64(_mm256_loadu_si256((const __m256i *)(slot + i)));
        __m512d d = _mm512_sub_pd(x, _mm512_permutexvar_pd(sl, means));
        __m512d dd = _mm512_mul_pd(d, d);
        __mmask8 p = has_nan ? _mm512_cmp_pd_mask(x, x, _CMP_ORD_Q) : (__mmask8)0xff;
        UNROLL for (int k = 1; k < ns; k++) {
            __mmask8 m = _mm512_cmpeq_epi64_mask(sl, _mm512_set1_epi64(k));
            q[k] = _mm512_mask_add_pd(q[k], m & p, q[k], dd);
        }
    }
    UNROLL for (int k = 1; k < ns; k++)
        _mm512_storeu_pd(m2 + k * LANES, q[k]);
}

#define SUMS_VEC sums_avx512
#define SQUARES_VEC squares_avx512
#define SUFFIX(name) name##_avx512

#else
#error "SL_TILES_ISA must be 0, 1 or 2"
#endif

#if SL_TILES_ISA > 0

/* One case of the dispatch on (ns, has_nan): every combination compiles to
 * its own loop with the slot loop unrolled. */
#define CELL_CASES(CALL)                                                                       \
    switch (ns * 2 + has_nan) {                                                                \
    case 4: CALL(2, 0); break;                                                                 \
    case 5: CALL(2, 1); break;                                                                 \
    case 6: CALL(3, 0); break;                                                                 \
    case 7: CALL(3, 1); break;                                                                 \
    case 8: CALL(4, 0); break;                                                                 \
    case 9: CALL(4, 1); break;                                                                 \
    case 10: CALL(5, 0); break;                                                                \
    case 11: CALL(5, 1); break;                                                                \
    case 12: CALL(6, 0); break;                                                                \
    case 13: CALL(6, 1); break;                                                                \
    case 14: CALL(7, 0); break;                                                                \
    case 15: CALL(7, 1); break;                                                                \
    case 16: CALL(8, 0); break;                                                                \
    case 17: CALL(8, 1); break;                                                                \
    default: break;                                                                            \
    }

void SUFFIX(sl_cell_sums)(const double *v, const uint32_t *slot, int64_t n, int ns, int has_nan,
                          double *sum, int64_t *kept, int64_t *present)
{
    int64_t n8 = n & ~(int64_t)(LANES - 1);
#define SUMS(NS, NAN) SUMS_VEC(v, slot, n8, NS, NAN, sum, kept, present)
    CELL_CASES(SUMS)
#undef SUMS
    sums_tail(v, slot, n8, n, has_nan, sum, kept, present);
}

void SUFFIX(sl_cell_squares)(const double *v, const uint32_t *slot, int64_t n, int ns,
                             int has_nan, const double *mean, double *m2)
{
    int64_t n8 = n & ~(int64_t)(LANES - 1);
#define SQUARES(NS, NAN) SQUARES_VEC(v, slot, n8, NS, NAN, mean, m2)
    CELL_CASES(SQUARES)
#undef SQUARES
    squares_tail(v, slot, n8, n, has_nan, mean, m2);
}

#endif
