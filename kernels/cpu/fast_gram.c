/*
 * fast_gram.c: the blocked, threaded weighted Gram (SL_OP_GRAM) and the
 * engine it shares with the fused IRLS step.
 *
 * The rows of a chunk are cut into superblocks of SL_GRAM_SUPER_ROWS. A
 * thread takes a superblock, has the op's row source pack it block by block
 * into an aligned column buffer (scaled by sqrt(w), masked rows zeroed),
 * runs the SIMD tile kernel over each block and reduces the 8 lanes of every
 * entry into the superblock's partial. Superblocks run in waves; after each
 * wave the partials are added to the chunk total in superblock order. The
 * result is therefore the same for any thread count, wave size and tile
 * kernel.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "kernels/cpu/cpu_impl.h"


/* Target size of the packed block buffer (per thread): half of a 1 MiB L2,
 * leaving room for the next block arriving by prefetch. */
#define BLOCK_BYTES (512 * 1024)
/* Rows per sub-block of the tile loop: a tile row's 4 left columns (8 KiB)
 * stay in L1 while the tiles to their right stream past. */
#define SUB_ROWS 256
/* Memory for the partials of one wave of superblocks. */
#define WAVE_BYTES (8 * 1024 * 1024)

/* Per-thread scratch: packed block, lane accumulators, superblock partial. */
struct engine_scratch {
    struct sl_secbuf *mem;
    double *buf;  /* ps columns of ld rows */
    double *tmp;  /* ld doubles for the row source */
    double *acc;  /* ntiles * 16 * 8 */
    double *part; /* tri(q) + nscal */
};

struct engine_shape {
    size_t q, ps, ng, ntiles, nb, ld, tri;
};

static struct engine_shape engine_shape(const struct sl_gram_plan *plan)
{
    struct engine_shape s;
    s.q = (size_t)plan->q;
    s.ps = (s.q + SL_GRAM_TILE - 1) / SL_GRAM_TILE * SL_GRAM_TILE;
    s.ng = s.ps / SL_GRAM_TILE;
    s.ntiles = s.ng * (s.ng + 1) / 2;
    /* rows per block: about BLOCK_BYTES of packed columns, at least 64, and
     * an even split of the superblock */
    s.nb = BLOCK_BYTES / (s.ps * sizeof(double));
    s.nb = s.nb < 64 ? 64 : s.nb;
    s.nb = (SL_GRAM_SUPER_ROWS + s.nb - 1) / s.nb;
    s.nb = (SL_GRAM_SUPER_ROWS / s.nb + SL_GRAM_LANES - 1) / SL_GRAM_LANES * SL_GRAM_LANES;
    /* pad columns by one cache line so that they do not share L1 sets */
    s.ld = s.nb + SL_GRAM_LANES;
    s.tri = sl_tri_size(s.q);
    return s;
}

static sl_status scratch_create(const struct engine_shape *s, int nscal,
                                struct engine_scratch *out)
{
    sl_status st = SL_OK;
    size_t nbuf = (s->ps + 1) * s->ld, nacc = s->ntiles * 16 * SL_GRAM_LANES;
    size_t npart = s->tri + (size_t)nscal;
    SL_CALL(sl_secpool_get((nbuf + nacc + npart) * sizeof(double), &out->mem));
    out->buf = out->mem->data;
    out->tmp = out->buf + s->ps * s->ld;
    out->acc = out->buf + nbuf;
    out->part = out->acc + nacc;
cleanup:
    return st;
}

/* Walks the rows [r0, r1) of every input stream, issuing prefetches a few
 * cache lines at a time between tile rows, so that the next block arrives
 * from memory while the current one is being multiplied. */
struct prefetch {
    const struct sl_gram_plan *plan;
    int64_t r0, r1;
    int stream;
    const char *at, *end;
};

static void prefetch_start(struct prefetch *pf, const struct sl_gram_plan *plan, int64_t r0,
                           int64_t r1)
{
    pf->plan = plan;
    pf->r0 = r0;
    pf->r1 = r1;
    pf->stream = -1;
    pf->at = pf->end = NULL;
}

static void prefetch_some(struct prefetch *pf, size_t lines)
{
    while (lines > 0) {
        if (pf->at >= pf->end) {
            const struct sl_gram_stream *st;
            if (pf->r0 >= pf->r1 || ++pf->stream >= pf->plan->nstreams)
                return;
            st = &pf->plan->streams[pf->stream];
            if (!st->base)
                continue;
            pf->at = (const char *)st->base + (size_t)pf->r0 * st->elem;
            pf->end = (const char *)st->base + (size_t)pf->r1 * st->elem;
        }
        __builtin_prefetch(pf->at, 0, 2);
        pf->at += 64;
        lines--;
    }
}

/* Computes the partial of one superblock into sc->part; returns an error
 * kind from the row source, or 0. */
static int superblock(const struct sl_gram_plan *plan, const struct engine_shape *s,
                      sl_gram_tiles_fn *tiles, int64_t sb, int64_t next_sb,
                      struct engine_scratch *sc, int64_t *bad_row)
{
    int64_t r0 = sb * SL_GRAM_SUPER_ROWS;
    int64_t r1 = r0 + SL_GRAM_SUPER_ROWS < plan->n ? r0 + SL_GRAM_SUPER_ROWS : plan->n;
    double *scal = sc->part + s->tri;
    struct prefetch pf;

    memset(sc->acc, 0, s->ntiles * 16 * SL_GRAM_LANES * sizeof(double));
    memset(scal, 0, (size_t)plan->nscal * sizeof(double));
    for (int64_t b0 = r0; b0 < r1; b0 += (int64_t)s->nb) {
        size_t nr = (size_t)(r1 - b0 < (int64_t)s->nb ? r1 - b0 : (int64_t)s->nb);
        size_t nr8 = (nr + SL_GRAM_LANES - 1) / SL_GRAM_LANES * SL_GRAM_LANES;
        size_t nsub = (nr8 + SUB_ROWS - 1) / SUB_ROWS, per_call;
        /* prefetch the next block, or the first block of the superblock
         * this thread probably takes next */
        int64_t n0 = b0 + (int64_t)nr, n1 = n0 + (int64_t)s->nb < r1 ? n0 + (int64_t)s->nb : r1;
        int kind = plan->fill(plan->ctx, b0, (int64_t)nr, sc->buf, s->ld, sc->tmp, scal, bad_row);
        if (kind)
            return kind;
        for (size_t c = 0; c < s->q && nr8 > nr; c++)
            memset(sc->buf + c * s->ld + nr, 0, (nr8 - nr) * sizeof(double));
        if (n0 >= r1 && next_sb < (plan->n + SL_GRAM_SUPER_ROWS - 1) / SL_GRAM_SUPER_ROWS) {
            n0 = next_sb * SL_GRAM_SUPER_ROWS;
            n1 = n0 + (int64_t)s->nb < plan->n ? n0 + (int64_t)s->nb : plan->n;
        }
        prefetch_start(&pf, plan, n0, n1);
        per_call = ((size_t)(n1 > n0 ? n1 - n0 : 0) * s->q * sizeof(double) / 64) /
                       (nsub * s->ng) + 4;
        for (size_t k0 = 0; k0 < nr8; k0 += SUB_ROWS) {
            size_t k1 = k0 + SUB_ROWS < nr8 ? k0 + SUB_ROWS : nr8;
            for (size_t I = 0; I < s->ng; I++) {
                tiles(sc->buf, s->ld, k0, k1, I, s->ng, sc->acc);
                prefetch_some(&pf, per_call);
            }
        }
    }
    for (size_t J = 0; J < s->ng; J++)
        for (size_t I = 0; I <= J; I++) {
            const double *t = sc->acc + sl_gram_tile_index(I, J, s->ng) * 16 * SL_GRAM_LANES;
            for (size_t a = 0; a < SL_GRAM_TILE; a++)
                for (size_t b = 0; b < SL_GRAM_TILE; b++) {
                    size_t i = 4 * I + a, j = 4 * J + b;
                    if (i <= j && j < s->q)
                        sc->part[sl_tri_index(i, j)] =
                            sl_lanes_sum(t + (a * SL_GRAM_TILE + b) * SL_GRAM_LANES);
                }
        }
    return 0;
}

sl_status sl_gram_engine_run(const struct sl_gram_plan *plan, double *tri, double *scal,
                             int *err_kind, int64_t *err_row)
{
    sl_status st = SL_OK;
    struct engine_shape s = engine_shape(plan);
    struct sl_secbuf *wave_mem = NULL;
    sl_gram_tiles_fn *tiles = sl_cpu_gram_tiles();
    int64_t nsb = (plan->n + SL_GRAM_SUPER_ROWS - 1) / SL_GRAM_SUPER_ROWS;
    size_t width = s.tri + (size_t)plan->nscal, wave;
    double *parts;
    int nomem = 0, parallel = plan->n >= SL_PARALLEL_MIN_ROWS;

    *err_kind = 0;
    *err_row = -1;
    memset(tri, 0, s.tri * sizeof(double));
    memset(scal, 0, (size_t)plan->nscal * sizeof(double));
    /* superblocks per wave: enough to keep the threads busy, few enough to
     * bound the memory for their partials (WAVE_BYTES) */
    wave = WAVE_BYTES / (width * sizeof(double));
    wave = wave / (size_t)sl_max_threads() * (size_t)sl_max_threads();
    if (wave < (size_t)(4 * sl_max_threads()))
        wave = (size_t)(4 * sl_max_threads());
    if (wave > (size_t)nsb)
        wave = (size_t)(nsb > 0 ? nsb : 1);
    SL_CALL(sl_secpool_get(wave * width * sizeof(double), &wave_mem));
    parts = wave_mem->data;
    (void)parallel;
    SL_OMP(parallel if (parallel))
    {
        struct engine_scratch sc = {NULL, NULL, NULL, NULL, NULL};
        int ok = scratch_create(&s, plan->nscal, &sc) == SL_OK;
        int64_t nthreads = sl_num_threads();
        if (!ok) {
            SL_OMP(atomic write)
            nomem = 1;
        }
        for (int64_t w0 = 0; w0 < nsb; w0 += (int64_t)wave) {
            int64_t w1 = w0 + (int64_t)wave < nsb ? w0 + (int64_t)wave : nsb;
            /* dynamic, so a thread that gets less of the machine does less of
             * the work; with both running evenly a thread's next superblock
             * is usually sb + nthreads, which the last block prefetches */
            SL_OMP(for schedule(dynamic, 1))
            for (int64_t sb = w0; sb < w1; sb++) {
                double *part = parts + (size_t)(sb - w0) * width;
                int64_t bad = -1;
                int kind = ok ? superblock(plan, &s, tiles, sb, sb + nthreads, &sc, &bad) : 0;
                if (ok && !kind)
                    memcpy(part, sc.part, width * sizeof(double));
                if (kind) {
                    SL_OMP(critical(sl_gram_error))
                    if (!*err_kind || bad < *err_row) {
                        *err_kind = kind;
                        *err_row = bad;
                    }
                }
            }
            /* fold the wave's partials in superblock order, entry by entry */
            SL_OMP(for schedule(static))
            for (size_t e = 0; e < width; e++) {
                double *dst = e < s.tri ? &tri[e] : &scal[e - s.tri];
                for (int64_t sb = w0; sb < w1; sb++)
                    *dst += parts[(size_t)(sb - w0) * width + e];
            }
        }
        sl_secpool_put(&sc.mem);
    }
    SL_CHECK(!nomem, SL_ERR_NOMEM, "gram: out of memory for the packed row blocks");
cleanup:
    sl_secpool_put(&wave_mem);
    return st;
}

/* ---- SL_OP_GRAM ---- */

enum { GRAM_BAD_WEIGHT = 1 };

/* d = s * x elementwise (the row scaling of the packed columns); with an
 * AVX2 clone where GCC can build one (a product is exact-rounded either way). */
SL_CLONES_AVX2
void sl_gram_scale_rows(double *restrict d, const double *restrict s, const double *restrict x,
                        int64_t n)
{
    for (int64_t r = 0; r < n; r++)
        d[r] = s[r] * x[r];
}

/* s = sqrt(w) for kept rows (w = 1 without weights), 0 for rows left out.
 * Returns whether a kept row's weight is negative or not finite; *any_zero
 * says whether some s is 0. Branch-free, so that it vectorises (the square
 * root is exactly rounded either way). */
SL_CLONES_AVX2
uint32_t sl_gram_weight_roots(double *restrict s, const double *restrict w,
                              const uint8_t *restrict mask, int64_t n, uint32_t *any_zero)
{
    uint32_t bad = 0, zero = 0;
    if (w && mask)
        for (int64_t r = 0; r < n; r++) {
            /* +0 for rows left out, by masking the bits (no branch) */
            uint64_t bits;
            double wr = w[r];
            memcpy(&bits, &wr, sizeof bits);
            bits &= -(uint64_t)(mask[r] != 0);
            memcpy(&wr, &bits, sizeof wr);
            bad |= (uint32_t)!((wr >= 0) & (wr <= DBL_MAX));
            s[r] = sqrt(wr);
            zero |= s[r] == 0;
        }
    else if (w)
        for (int64_t r = 0; r < n; r++) {
            bad |= (uint32_t)!((w[r] >= 0) & (w[r] <= DBL_MAX));
            s[r] = sqrt(w[r]);
            zero |= s[r] == 0;
        }
    else
        for (int64_t r = 0; r < n; r++) {
            s[r] = mask[r] ? 1.0 : 0.0;
            zero |= mask[r] == 0;
        }
    *any_zero = zero;
    return bad;
}

static int gram_fill(const void *ctx, int64_t r0, int64_t nr, double *buf, size_t ld,
                     double *s, double *scal, int64_t *bad_row)
{
    const struct sl_gram_args *a = ctx;
    const uint8_t *mask = a->mask ? a->mask + r0 : NULL;
    const double *w = a->w ? a->w + r0 : NULL;
    uint32_t any_zero = 0;
    (void)scal;
    if (!w && !mask) {
        for (int64_t j = 0; j < a->p; j++)
            memcpy(buf + (size_t)j * ld, a->x[j] + r0, (size_t)nr * sizeof(double));
        return 0;
    }
    if (sl_gram_weight_roots(s, w, mask, nr, &any_zero)) {
        for (int64_t r = 0; r < nr; r++)
            if ((!mask || mask[r]) && !(w[r] >= 0 && w[r] <= DBL_MAX)) {
                *bad_row = r0 + r;
                return GRAM_BAD_WEIGHT;
            }
    }
    for (int64_t j = 0; j < a->p; j++)
        sl_gram_scale_rows(buf + (size_t)j * ld, s, a->x[j] + r0, nr);
    /* rows left out are zero whatever X holds there (NaN * 0 is NaN) */
    if (any_zero)
        for (int64_t r = 0; r < nr; r++)
            if (s[r] == 0)
                for (int64_t j = 0; j < a->p; j++)
                    buf[(size_t)j * ld + (size_t)r] = 0;
    return 0;
}

sl_status sl_gram_cpu_fast(const struct sl_gram_args *a)
{
    sl_status st = SL_OK;
    struct sl_secbuf *tri = NULL;
    struct sl_gram_stream *streams = NULL;
    struct sl_gram_plan plan = {a->n, a->p, 0, gram_fill, a, NULL, 0};
    size_t p = (size_t)a->p;
    int kind = 0;
    int64_t bad = -1;
    double scal_unused = 0;

    if (a->p == 0)
        goto cleanup;
    streams = sl_calloc(p + 2, sizeof *streams);
    SL_CHECK(streams, SL_ERR_NOMEM, "gram: out of memory");
    for (size_t j = 0; j < p; j++)
        streams[j] = (struct sl_gram_stream){a->x[j], sizeof(double)};
    streams[p] = (struct sl_gram_stream){a->w, sizeof(double)};
    streams[p + 1] = (struct sl_gram_stream){a->mask, 1};
    plan.streams = streams;
    plan.nstreams = (int)(p + 2);
    SL_CALL(sl_secpool_get(sl_tri_size(p) * sizeof(double), &tri));
    SL_CALL(sl_gram_engine_run(&plan, tri->data, &scal_unused, &kind, &bad));
    SL_CHECK(kind == 0, SL_ERR_ARG, "gram: the weight of row %lld is negative or not finite",
             (long long)bad);
    for (size_t j = 0; j < p; j++)
        for (size_t i = 0; i <= j; i++) {
            double v = ((const double *)tri->data)[sl_tri_index(i, j)];
            a->g[i + j * p] += v;
            if (i != j)
                a->g[j + i * p] += v;
        }
cleanup:
    sl_secpool_put(&tri);
    sl_free(streams);
    return st;
}
