/*
 * cpu_impl.h: the CPU kernels behind the "cpu" and "cpu_ref" backends
 * (private to kernels/).
 *
 * ref_<op>.c hold the plain C reference of each op: sequential, written for
 * clarity, the oracle of the conformance tests and the fallback for calls
 * the fast code declines. fast_<op>.c hold the optimised versions: OpenMP
 * across fixed-size row segments whose partials are merged in segment order
 * (so the thread count never changes a bit of the result), and, for the
 * Gram family, SIMD tile kernels chosen at run time by instruction set. All
 * tile kernels accumulate every Gram entry in the same 8 lanes with fused
 * multiply-adds in row order, so the generic, AVX2 and AVX-512 code give
 * bit-identical results.
 */
#ifndef SL_KERNELS_CPU_IMPL_H
#define SL_KERNELS_CPU_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/clones.h"
#include "engine/core/parallel.h"
#include "engine/core/secbuf.h"
#include "kernels/kernel.h"

/* Rows per segment for the grouped ops and per superblock for the Gram
 * family. Part of the numerical definition of the "cpu" results: changing
 * them changes the last bits. Multiples of SL_GRAM_LANES. */
#define SL_SEGMENT_ROWS 8192
#define SL_GRAM_SUPER_ROWS 4096
/* Lanes per Gram entry: entry (i, j) is the sum over 8 interleaved row
 * sequences (row r goes to lane (r - superblock start) mod 8), reduced as
 * ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)). */
#define SL_GRAM_LANES 8

/* The sum of 8 lanes in that fixed tree order (the Gram entries and the
 * few-cell lane sums of cell_lanes.c). */
static inline double sl_lanes_sum(const double *l)
{
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}
/* Columns per tile side. */
#define SL_GRAM_TILE 4
/* Largest p (columns including IRLS's working response) the fast Gram
 * serves; its lane accumulators grow as p^2. Larger p runs on cpu_ref. */
#define SL_GRAM_FAST_PMAX 1024

/* Below this many rows a fast kernel runs on one thread. */
#define SL_PARALLEL_MIN_ROWS 16384


/* ---- reference kernels (ref_<op>.c) ---- */
sl_status sl_group_count_cpu_ref(const struct sl_group_count_args *a);
sl_status sl_group_moments_cpu_ref(const struct sl_group_moments_args *a);
sl_status sl_histogram_cpu_ref(const struct sl_histogram_args *a);
sl_status sl_gram_cpu_ref(const struct sl_gram_args *a);
sl_status sl_irls_step_cpu_ref(const struct sl_irls_step_args *a);
sl_status sl_sort_f64_cpu_ref(const struct sl_sort_f64_args *a);

/* ---- fast kernels (fast_<op>.c) ---- */
sl_status sl_group_count_cpu_fast(const struct sl_group_count_args *a);
sl_status sl_group_moments_cpu_fast(const struct sl_group_moments_args *a);
sl_status sl_histogram_cpu_fast(const struct sl_histogram_args *a);
sl_status sl_gram_cpu_fast(const struct sl_gram_args *a);
sl_status sl_irls_step_cpu_fast(const struct sl_irls_step_args *a);
sl_status sl_sort_f64_cpu_fast(const struct sl_sort_f64_args *a);

/* ---- row selection shared by all kernels ---- */

/* Cell of row r: -1 when the row is dropped, -2 when the row is kept by the
 * mask but its cell index is outside [-1, ncells). */
static inline int64_t sl_row_cell(const int32_t *cell, const uint8_t *mask, int64_t ncells,
                                  int64_t r)
{
    int64_t c;
    if (mask && !mask[r])
        return -1;
    if (!cell)
        return 0;
    c = cell[r];
    return c < -1 || c >= ncells ? -2 : c;
}

/* Slots of rows [r0, r1) for the branch-free row loops: cell + 1 for a kept
 * row with a valid cell, 0 for a dropped row (and for a bad cell, which is
 * reported by returning nonzero). Vectorised, with an AVX2 clone chosen at
 * run time where the compiler supports it (integer work: same result). */
uint32_t sl_row_slots(const int32_t *cell, const uint8_t *mask, int64_t ncells, int64_t r0,
                      int64_t r1, uint32_t *slot);

/* Whether v[0..n) holds a NaN or an infinity (vectorised). */
int sl_any_nonfinite(const double *v, int64_t n);

/* First row in [r0, r1) the mask keeps whose cell is outside [-1, ncells). */
int64_t sl_first_bad_cell(const int32_t *cell, const uint8_t *mask, int64_t ncells, int64_t r0,
                          int64_t r1);

/* Records the error for a cell outside its range at `row`. */
sl_status sl_cell_error(const char *op, int64_t row, int64_t ncells);

/* ---- Gram engine shared by SL_OP_GRAM and SL_OP_IRLS_STEP (fast_gram.c) ---- */

/* Packed upper triangle: entry (i, j), i <= j, of a q x q matrix. */
static inline size_t sl_tri_index(size_t i, size_t j) { return j * (j + 1) / 2 + i; }
static inline size_t sl_tri_size(size_t q) { return q * (q + 1) / 2; }

/* Index of tile (I, J), I <= J, among the upper tiles of ng column groups,
 * enumerated row of tiles by row of tiles. */
static inline size_t sl_gram_tile_index(size_t I, size_t J, size_t ng)
{
    return I * (2 * ng - I + 1) / 2 + (J - I);
}

/* Tile kernel, one row of tiles: for the upper tiles (I, J), J = I .. ng-1,
 * of the ng groups of 4 columns of buf (column c at buf + c * ld, 64-byte
 * aligned, ld a multiple of 8), and rows [k0, k1) (multiples of 8):
 * acc[t][e][l] = fma(buf[4I+a][k], buf[4J+b][k], acc[t][e][l]) for
 * k = k0 + l, k0 + l + 8, ... in order, e = 4a + b,
 * t = sl_gram_tile_index(I, J, ng), 16 entries of 8 lanes per tile. On the
 * diagonal tile only entries with a <= b are defined. */
typedef void sl_gram_tiles_fn(const double *buf, size_t ld, size_t k0, size_t k1, size_t I,
                              size_t ng, double *acc);
sl_gram_tiles_fn sl_gram_tile_row_generic;
#ifdef SL_HAVE_ISA_AVX2
sl_gram_tiles_fn sl_gram_tile_row_avx2;
#endif
#ifdef SL_HAVE_ISA_AVX512
sl_gram_tiles_fn sl_gram_tile_row_avx512;
#endif

/* ---- grouped sums of a few cells in vector lanes (cell_lanes.c) ---- */

/* Most slots (cells + 1; slot 0 holds the dropped rows) the lane kernels
 * serve, and their lanes: row i of a segment goes to lane i mod 8. */
#define SL_CELL_SLOTS 8
#define SL_CELL_LANES 8

/* For slots k = 1 .. ns-1 (2 <= ns <= SL_CELL_SLOTS) of rows [0, n):
 * sum[k * 8 + l] += the present values of the slot's rows in lane l, in row
 * order; kept[k] += its rows; present[k] += its present (non-NaN) values.
 * has_nan = 0 promises that v has no NaN. Slot 0 entries are not touched. */
typedef void sl_cell_sums_fn(const double *v, const uint32_t *slot, int64_t n, int ns,
                             int has_nan, double *sum, int64_t *kept, int64_t *present);
/* Likewise m2[k * 8 + l] += (v[i] - mean[k])^2 over the present values;
 * mean has SL_CELL_SLOTS entries. */
typedef void sl_cell_squares_fn(const double *v, const uint32_t *slot, int64_t n, int ns,
                                int has_nan, const double *mean, double *m2);
sl_cell_sums_fn sl_cell_sums_generic;
sl_cell_squares_fn sl_cell_squares_generic;
#ifdef SL_HAVE_ISA_AVX2
sl_cell_sums_fn sl_cell_sums_avx2;
sl_cell_squares_fn sl_cell_squares_avx2;
#endif
#ifdef SL_HAVE_ISA_AVX512
sl_cell_sums_fn sl_cell_sums_avx512;
sl_cell_squares_fn sl_cell_squares_avx512;
#endif

/* ---- the bracket pass of exact selection (cell_brackets.c) ---- */

typedef int64_t sl_bracket_rows_fn(const struct sl_brackets *b, const double *v,
                                   const int32_t *cell, const uint8_t *mask, int64_t r0,
                                   int64_t r1, int64_t *hist, double *cv, int32_t *cs,
                                   int64_t cap, int64_t *n);
sl_bracket_rows_fn sl_bracket_rows_generic;
#ifdef SL_HAVE_ISA_AVX512
sl_bracket_rows_fn sl_bracket_rows_avx512;
#endif

/* ---- fixed-point evidence per cell (cell_fixed.c) ---- */

typedef int64_t sl_fixed_cells_fn(struct sl_fixed_cells *f, const double *v,
                                  const int32_t *cell, const uint8_t *mask, int64_t n);
sl_fixed_cells_fn sl_fixed_cells_rows_generic;
#ifdef SL_HAVE_ISA_AVX512
sl_fixed_cells_fn sl_fixed_cells_rows_avx512;
#endif

/* A row source for the Gram engine: writes rows [r0, r0 + nr) of the chunk,
 * transformed, as columns 0 .. q-1 of buf (column c at buf + c * ld) and adds
 * the rows' contributions to the scalar sums `scal`, in row order. `tmp`
 * holds ld doubles of scratch. Returns 0 or an op-specific error kind with
 * *bad_row set. Runs on worker threads: must not touch the error state. */
typedef int sl_gram_fill_fn(const void *ctx, int64_t r0, int64_t nr, double *buf, size_t ld,
                            double *tmp, double *scal, int64_t *bad_row);

/* An input array the row source reads, row r at base + r * elem: the
 * engine prefetches the next block's rows while the tiles run. */
struct sl_gram_stream {
    const void *base;
    size_t elem;
};

struct sl_gram_plan {
    int64_t n;             /* rows */
    int64_t q;             /* columns produced by fill */
    int nscal;             /* scalar sums produced by fill */
    sl_gram_fill_fn *fill;
    const void *ctx;
    const struct sl_gram_stream *streams; /* what fill reads, for prefetching */
    int nstreams;
};

/* d[0..n) = s[i] * x[i] (fast_gram.c). */
void sl_gram_scale_rows(double *d, const double *s, const double *x, int64_t n);

/* s[0..n) = sqrt of the row weights w (1 without), 0 for rows mask leaves
 * out; w or mask may be NULL, not both. Returns nonzero when a kept row's
 * weight is negative or not finite; *any_zero: some s is 0 (fast_gram.c). */
uint32_t sl_gram_weight_roots(double *s, const double *w, const uint8_t *mask, int64_t n,
                              uint32_t *any_zero);

/* Runs the plan: tri[sl_tri_index(i, j)] = sum over superblocks, in order,
 * of the superblock's Gram entry, and scal likewise for the scalar sums. tri
 * (sl_tri_size(q)) and scal (nscal) are overwritten. On a fill error returns
 * SL_OK with *err_kind != 0 and *err_row the first failing row (the caller
 * words the message). */
sl_status sl_gram_engine_run(const struct sl_gram_plan *plan, double *tri, double *scal,
                             int *err_kind, int64_t *err_row);

/* ---- instruction set selection (cpu_isa.c) ---- */

enum sl_cpu_isa { SL_CPU_ISA_GENERIC = 0, SL_CPU_ISA_AVX2 = 1, SL_CPU_ISA_AVX512 = 2 };

/* The best ISA this build and machine support (detected once). */
enum sl_cpu_isa sl_cpu_isa_best(void);
/* Selects the tile kernel; SL_ERR_UNSUPPORTED when the ISA is not built in
 * or the machine lacks it. For tests and benchmarks; process-wide. */
sl_status sl_cpu_isa_select(enum sl_cpu_isa isa);
enum sl_cpu_isa sl_cpu_isa_current(void);
const char *sl_cpu_isa_name(enum sl_cpu_isa isa);
sl_gram_tiles_fn *sl_cpu_gram_tiles(void);
sl_cell_sums_fn *sl_cpu_cell_sums(void);
sl_cell_squares_fn *sl_cpu_cell_squares(void);
/* On AVX2 these two use the generic variant. */
sl_bracket_rows_fn *sl_cpu_bracket_rows(void);
sl_fixed_cells_fn *sl_cpu_fixed_cells(void);
/* "isa avx512, openmp 2 threads, lapack yes" */
const char *sl_cpu_describe(void);

#endif
