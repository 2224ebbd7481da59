/*
 * bench_stats.c: describe- and crosstab-like statistics over a generated
 * in-memory cohort, timed through the code the analyses run, next to the
 * machine's memory read bandwidth measured in the same run.
 *
 *   bench_stats [--rows N] [--reps R] [--chunk-rows C] [--bw-threads T] [--only NAME]
 *               [--isa generic|avx2|avx512]
 *
 * The cohort (default 1e7 rows, chunks of 65536 rows as ingest writes them)
 * lives in secret buffers like a decrypted frame: sex, region and smoker
 * (categorical codes, some missing), age (integer, some missing), bmi (real,
 * 5% missing), sbp and cost (real). Values come from a counter-based
 * generator (splitmix64 of row * 8 + column), so perf/bench_stats_duckdb.py
 * builds the very same table; both print the same CHECK lines.
 *
 * Timed, best of R repetitions, each with the steps the jobs take
 * (jobs/describe.c, jobs/crosstab.c) and a single-process reducer:
 *   describe      bmi, sbp, cost by sex: one chunk-parallel pass (cell index
 *                 of the chunk, SL_OP_GROUP_MOMENTS per column), gather, fold
 *                 in chunk order;
 *   describe_all  the same without grouping;
 *   quantiles     one cell index, then per column exact quartiles by radix
 *                 selection and dominance evidence of the rows (describe's
 *                 heavier half, reported on its own);
 *   crosstab      region x sex x smoker with margins, cost per cell: one pass
 *                 (cell index, moments, dominance evidence), fold;
 *   crosstab_n    the same table of counts only (SL_OP_GROUP_COUNT);
 *   quantiles_region  (with --only only) quantiles by region, 10 cells;
 *   quantiles_grid    (with --only only) quantiles by region x sex x smoker,
 *                 120 cells;
 *   extremes      (with --only only) the counts of values at each cell's
 *                 minimum and maximum, bmi, sbp and cost by sex with
 *                 margins (describe where the policy allows min and max);
 *   crosstab_bands  (with --only only) crosstab_n's table with age cut into
 *                 bands at 18, 40, 65 in place of region: the cost of a
 *                 banded grouping column against a categorical one.
 * Input bytes are the columns a computation reads (8 per real value, 4 per
 * category code); their rate is compared with the read bandwidth of T
 * threads (default: all online CPUs) summing squares over 1 GiB. Kernel
 * threads follow OMP_NUM_THREADS. Lines starting with RESULT and CHECK are
 * for perf/bench_stats.sh. --only runs one computation (for a profiler);
 * --isa forces the kernels of one instruction set (default: the best this
 * machine has), to time the plain C variants on a machine with AVX-512.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "perf/bench_util.h"
#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "io/format.h"
#include "jobs/cellstats.h"
#include "jobs/dominance.h"
#include "jobs/grouping.h"
#include "jobs/measure.h"
#include "kernels/cpu/cpu_impl.h"
#include "kernels/kernel.h"

enum { C_SEX, C_REGION, C_SMOKER, C_AGE, C_BMI, C_SBP, C_COST, NCOLS };

static const int g_nlevels[3] = {2, 9, 3};
static const char *const g_names[NCOLS] = {"sex", "region", "smoker", "age", "bmi", "sbp", "cost"};

static uint64_t mix(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ---- the cohort ---- */

struct bench {
    int64_t rows;
    struct sl_frame fr;
    int col_index[NCOLS];
    struct sl_secbuf *data[NCOLS];
    int64_t *chunk_index, *chunk_row0;
};

static sl_status generate(struct bench *b, int64_t rows, int64_t chunk_rows)
{
    sl_status st = SL_OK;
    int64_t nchunks = (rows + chunk_rows - 1) / chunk_rows;
    int32_t *sex, *region, *smoker;
    int64_t *age;
    double *bmi, *sbp, *cost;

    b->rows = rows;
    for (int c = 0; c < NCOLS; c++) {
        size_t elem = c <= C_SMOKER ? sizeof(int32_t) : sizeof(double);
        SL_CALL(sl_secbuf_create((size_t)rows * elem, &b->data[c]));
        b->col_index[c] = c;
    }
    sex = b->data[C_SEX]->data;
    region = b->data[C_REGION]->data;
    smoker = b->data[C_SMOKER]->data;
    age = b->data[C_AGE]->data;
    bmi = b->data[C_BMI]->data;
    sbp = b->data[C_SBP]->data;
    cost = b->data[C_COST]->data;
    for (int64_t i = 0; i < rows; i++) {
        uint64_t r[NCOLS];
        double u[NCOLS];
        for (int c = 0; c < NCOLS; c++) {
            r[c] = mix((uint64_t)i * 8 + (uint64_t)c);
            u[c] = (double)(r[c] >> 11) * 0x1p-53;
        }
        sex[i] = r[C_SEX] % 100 == 0 ? SL_CAT_MISSING : (int32_t)((r[C_SEX] >> 8) % 2);
        region[i] = (int32_t)((r[C_REGION] >> 8) % 9);
        smoker[i] = r[C_SMOKER] % 100 < 3 ? SL_CAT_MISSING : (int32_t)((r[C_SMOKER] >> 8) % 3);
        age[i] = r[C_AGE] % 100 < 2 ? SL_INT_MISSING : (int64_t)((r[C_AGE] >> 8) % 101);
        bmi[i] = r[C_BMI] % 100 < 5 ? NAN : 15 + 30 * u[C_BMI];
        sbp[i] = 90 + 80 * u[C_SBP];
        cost[i] = 50 + 20000 * (u[C_COST] * u[C_COST] * u[C_COST]);
    }
    b->chunk_index = sl_malloc((size_t)nchunks * sizeof *b->chunk_index);
    b->chunk_row0 = sl_malloc((size_t)(nchunks + 1) * sizeof *b->chunk_row0);
    SL_CHECK(b->chunk_index && b->chunk_row0, SL_ERR_NOMEM, "out of memory");
    for (int64_t k = 0; k <= nchunks; k++) {
        if (k < nchunks)
            b->chunk_index[k] = k;
        b->chunk_row0[k] = k * chunk_rows < rows ? k * chunk_rows : rows;
    }
    b->fr = (struct sl_frame){rows, NCOLS, b->col_index, b->data, nchunks, b->chunk_index,
                              b->chunk_row0};
cleanup:
    return st;
}

static void bench_free(struct bench *b)
{
    for (int c = 0; c < NCOLS; c++)
        sl_secbuf_destroy(&b->data[c]);
    sl_free(b->chunk_index);
    sl_free(b->chunk_row0);
}

/* Exact facts both generators must agree on. */
static void print_checks(const struct bench *b)
{
    const int32_t *sex = b->data[C_SEX]->data;
    const int64_t *age = b->data[C_AGE]->data;
    const double *bmi = b->data[C_BMI]->data;
    int64_t nsex[3] = {0, 0, 0}, nbmi = 0, agesum = 0;
    for (int64_t i = 0; i < b->rows; i++) {
        nsex[sex[i] < 0 ? 2 : sex[i]]++;
        nbmi += !isnan(bmi[i]);
        agesum += age[i] == SL_INT_MISSING ? 0 : age[i];
    }
    printf("CHECK rows=%lld sex0=%lld sex1=%lld sexna=%lld bmi_present=%lld age_sum=%lld\n",
           (long long)b->rows, (long long)nsex[0], (long long)nsex[1], (long long)nsex[2],
           (long long)nbmi, (long long)agesum);
}

/* ---- memory read bandwidth ---- */

struct bw_part {
    const double *x;
    int64_t n;
    double sum;
};

static void *bw_worker(void *arg)
{
    struct bw_part *p = arg;
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= p->n; i += 4) {
        s0 += p->x[i] * p->x[i];
        s1 += p->x[i + 1] * p->x[i + 1];
        s2 += p->x[i + 2] * p->x[i + 2];
        s3 += p->x[i + 3] * p->x[i + 3];
    }
    for (; i < p->n; i++)
        s0 += p->x[i] * p->x[i];
    p->sum = (s0 + s1) + (s2 + s3);
    return NULL;
}

/* Best rate of `threads` threads each summing squares over its share of a
 * 1 GiB array, in bytes per second. */
static double read_bandwidth(int threads, int reps)
{
    int64_t n = (int64_t)1 << 27;
    double *x = malloc((size_t)n * sizeof *x), best = 0, sink = 0;
    struct bw_part parts[64];
    pthread_t tid[64];
    if (!x)
        return 0;
    for (int64_t i = 0; i < n; i++)
        x[i] = (double)(i & 1023) * 0.5;
    for (int r = 0; r < reps; r++) {
        double t0 = sl_bench_now(), dt;
        for (int t = 0; t < threads; t++) {
            parts[t] = (struct bw_part){x + n / threads * t, n / threads, 0};
            pthread_create(&tid[t], NULL, bw_worker, &parts[t]);
        }
        for (int t = 0; t < threads; t++) {
            pthread_join(tid[t], NULL);
            sink += parts[t].sum;
        }
        dt = sl_bench_now() - t0;
        if ((double)n * 8 / dt > best)
            best = (double)n * 8 / dt;
    }
    free(x);
    if (sink == 42)
        printf(" ");
    return best;
}

/* ---- the timed computations ---- */

struct timing {
    double pass, fold, total; /* the pass over the rows; gathering and folding */
};

static void keep_best(struct timing *best, const struct timing *t)
{
    if (best->total == 0 || t->total < best->total)
        *best = *t;
}

static struct sl_grouping grouping(const int *cols, int n)
{
    struct sl_grouping g;
    memset(&g, 0, sizeof g);
    g.ncells = 1;
    for (int d = 0; d < n; d++) {
        g.cols[d] = cols[d];
        g.nlevels[d] = g_nlevels[cols[d]];
        g.names[d] = g_names[cols[d]];
        g.ncells *= g_nlevels[cols[d]] + 1;
    }
    g.ndims = n;
    return g;
}

static struct sl_measure measure(int col)
{
    return (struct sl_measure){col, SL_COL_REAL, g_names[col], NAN, NAN};
}

/* describe: moments of bmi, sbp and cost, by sex or overall. */
static sl_status run_describe(struct bench *b, struct sl_backend *be, int by, struct timing *tm,
                              double *check)
{
    sl_status st = SL_OK;
    const int by_cols[1] = {C_SEX};
    struct sl_grouping g = grouping(by_cols, by ? 1 : 0);
    struct sl_moment_records rec = {NULL, 0, 0}, all = {NULL, 0, 0};
    struct sl_reducer red;
    struct sl_layout lay;
    struct sl_moments *mom = NULL;
    int64_t nfull[16] = {0};
    const struct sl_measure m[3] = {measure(C_BMI), measure(C_SBP), measure(C_COST)};
    double t0 = sl_bench_now(), t1;

    sl_reducer_single(&red);
    SL_CALL(sl_moments_by_chunk(be, &b->fr, &g, NULL, m, 3, NULL, &rec));
    t1 = sl_bench_now();
    SL_CALL(sl_moments_gather(&red, &rec, &all));
    sl_moments_cell_rows(&all, 0, g.ncells, nfull);
    sl_layout_init(&lay, &g, nfull, 0);
    mom = sl_calloc((size_t)(3 * lay.ncells), sizeof *mom);
    SL_CHECK(mom, SL_ERR_NOMEM, "out of memory");
    SL_CALL(sl_moments_fold(all.v, all.count, &lay, 3, mom));
    *tm = (struct timing){t1 - t0, sl_bench_now() - t1, sl_bench_now() - t0};
    *check = mom[0].mean;
cleanup:
    sl_moment_records_clear(&rec);
    sl_moment_records_clear(&all);
    sl_free(mom);
    return st;
}

/* Present values per cell. */
static void present_by_cell(const struct sl_cell_values *v, int64_t *npresent)
{
    memset(npresent, 0, (size_t)v->ncells * sizeof *npresent);
    for (int64_t r = 0; r < v->nrows; r++)
        if (v->cell[r] >= 0 && !isnan(v->v[r]))
            npresent[v->cell[r]]++;
}

/* describe's quantiles and dominance evidence of bmi, sbp and cost by the
 * columns by[0 .. nby) (sex: 3 cells with the missing level; region: 10;
 * region x sex x smoker: 120). */
static sl_status run_quantiles(struct bench *b, const int *by, int nby, struct timing *tm,
                               double *check)
{
    sl_status st = SL_OK;
    struct sl_grouping g = grouping(by, nby);
    struct sl_cell_values *cells = NULL, *vals = NULL;
    struct sl_reducer red;
    struct sl_layout lay;
    int64_t *nfull = NULL, *npresent = NULL;
    const int cols[3] = {C_BMI, C_SBP, C_COST};
    const double probs[3] = {0.5, 0.25, 0.75};
    double *q = NULL, tp = 0, tf = 0;
    struct sl_dominance *dfull = NULL, *dom = NULL;
    struct sl_dominance_pass *dp = NULL;
    struct sl_row_visitor visit;

    sl_reducer_single(&red);
    nfull = sl_malloc((size_t)g.ncells * sizeof *nfull);
    npresent = sl_malloc((size_t)g.ncells * sizeof *npresent);
    q = sl_malloc((size_t)(3 * g.ncells) * sizeof *q);
    dfull = sl_malloc((size_t)g.ncells * sizeof *dfull);
    dom = sl_malloc((size_t)g.ncells * sizeof *dom);
    SL_CHECK(nfull && npresent && q && dfull && dom, SL_ERR_NOMEM, "out of memory");
    for (int64_t c = 0; c < g.ncells; c++)
        nfull[c] = 1;
    sl_layout_init(&lay, &g, nfull, 0);
    /* describe builds one cell index for all its columns */
    tp = sl_bench_now();
    SL_CALL(sl_cell_values_create(&b->fr, &g, NULL, NULL, &cells));
    tp = sl_bench_now() - tp;
    for (int j = 0; j < 3; j++) {
        struct sl_measure m = measure(cols[j]);
        double t0 = sl_bench_now(), t1;
        double tc;
        SL_CALL(sl_cell_values_with(cells, &b->fr, &m, &vals));
        tc = sl_bench_now();
        /* describe has these counts from its moments pass: not timed */
        present_by_cell(vals, npresent);
        t1 = sl_bench_now();
        t0 += t1 - tc;
        memset(dfull, 0, (size_t)g.ncells * sizeof *dfull);
        memset(dom, 0, (size_t)g.ncells * sizeof *dom);
        /* as describe: the dominance evidence rides on the selection's pass */
        SL_CALL(sl_dominance_pass_begin(vals, &dp, &visit));
        SL_CALL(sl_quantiles_exact(&red, vals, &lay, npresent, 3, probs, &visit, q));
        SL_CALL(sl_dominance_pass_end(&dp, dfull));
        SL_CALL(sl_dominance_reduce(&red, dfull, &lay, dom));
        sl_cell_values_destroy(&vals);
        tp += t1 - t0;
        tf += sl_bench_now() - t1;
    }
    *tm = (struct timing){tp, tf, tp + tf};
    *check = q[0];
cleanup:
    (void)sl_dominance_pass_end(&dp, dfull);
    sl_cell_values_destroy(&vals);
    sl_cell_values_destroy(&cells);
    sl_free(nfull);
    sl_free(npresent);
    sl_free(q);
    sl_free(dfull);
    sl_free(dom);
    return st;
}

/* describe's counts of the values at each cell's minimum and maximum
 * (where the policy allows min and max) of bmi, sbp and cost by sex; the
 * extremes themselves come from the selection and are not timed. */
static sl_status run_extremes(struct bench *b, struct timing *tm, double *check)
{
    sl_status st = SL_OK;
    const int by_cols[1] = {C_SEX}, cols[3] = {C_BMI, C_SBP, C_COST};
    struct sl_grouping g = grouping(by_cols, 1);
    struct sl_cell_values *cells = NULL, *vals = NULL;
    struct sl_reducer red;
    struct sl_layout lay;
    int64_t nfull[16], at[2][16], tg[SL_LAYOUT_MAX_TARGETS];
    double lo[16], hi[16], t = 0;

    sl_reducer_single(&red);
    for (int64_t c = 0; c < g.ncells; c++)
        nfull[c] = 1;
    sl_layout_init(&lay, &g, nfull, 1);
    SL_CHECK(lay.ncells <= 16, SL_ERR_INTERNAL, "%lld published cells", (long long)lay.ncells);
    SL_CALL(sl_cell_values_create(&b->fr, &g, NULL, NULL, &cells));
    for (int j = 0; j < 3; j++) {
        struct sl_measure m = measure(cols[j]);
        double t0;
        SL_CALL(sl_cell_values_with(cells, &b->fr, &m, &vals));
        for (int64_t p = 0; p < lay.ncells; p++) {
            lo[p] = INFINITY;
            hi[p] = -INFINITY;
        }
        for (int64_t r = 0; r < vals->nrows; r++) {
            int64_t nt;
            if (vals->cell[r] < 0 || isnan(vals->v[r]))
                continue;
            nt = sl_layout_targets(&lay, vals->cell[r], tg);
            for (int64_t k = 0; k < nt; k++) {
                lo[tg[k]] = fmin(lo[tg[k]], vals->v[r]);
                hi[tg[k]] = fmax(hi[tg[k]], vals->v[r]);
            }
        }
        t0 = sl_bench_now();
        SL_CALL(sl_count_extremes(&red, vals, &lay, lo, hi, at[0], at[1]));
        t += sl_bench_now() - t0;
        sl_cell_values_destroy(&vals);
    }
    *tm = (struct timing){t, 0, t};
    *check = (double)(at[0][lay.ncells - 1] + at[1][lay.ncells - 1]);
cleanup:
    sl_cell_values_destroy(&vals);
    sl_cell_values_destroy(&cells);
    return st;
}

/* crosstab: region x sex x smoker with margins (or, `banded`, age cut at
 * 18, 40 and 65 in place of region); with `value`, cost's moments and
 * dominance evidence per cell, else counts only. */
static sl_status run_crosstab(struct bench *b, struct sl_backend *be, int value, int banded,
                              struct timing *tm, double *check)
{
    sl_status st = SL_OK;
    const int by_cols[3] = {C_REGION, C_SEX, C_SMOKER};
    struct sl_grouping g = grouping(by_cols, 3);
    struct sl_moment_records rec = {NULL, 0, 0}, all = {NULL, 0, 0};
    struct sl_reducer red;
    struct sl_layout lay;
    struct sl_moments *mom = NULL;
    struct sl_dominance *dfull = NULL, *dom = NULL;
    int64_t *nfull = NULL, *n = NULL;
    struct sl_measure m = measure(C_COST);
    double t0, t1;

    if (banded) {
        g.cols[0] = C_AGE;
        g.names[0] = g_names[C_AGE];
        g.band[0] = (struct sl_band){3, SL_COL_INT, {18, 40, 65}};
        g.nlevels[0] = 4;
        g.ncells = g.ncells / (g_nlevels[C_REGION] + 1) * 5;
    }
    t0 = sl_bench_now();
    sl_reducer_single(&red);
    nfull = sl_calloc((size_t)g.ncells, sizeof *nfull);
    dfull = sl_calloc((size_t)g.ncells, sizeof *dfull);
    SL_CHECK(nfull && dfull, SL_ERR_NOMEM, "out of memory");
    if (value)
        SL_CALL(sl_moments_by_chunk(be, &b->fr, &g, NULL, &m, 1, dfull, &rec));
    else
        SL_CALL(sl_count_by_chunk(be, &b->fr, &g, NULL, nfull));
    t1 = sl_bench_now();
    if (value) {
        SL_CALL(sl_moments_gather(&red, &rec, &all));
        sl_moments_cell_rows(&all, 0, g.ncells, nfull);
    }
    sl_layout_init(&lay, &g, nfull, 1);
    n = sl_calloc((size_t)lay.ncells, sizeof *n);
    mom = sl_calloc((size_t)lay.ncells, sizeof *mom);
    dom = sl_calloc((size_t)lay.ncells, sizeof *dom);
    SL_CHECK(n && mom && dom, SL_ERR_NOMEM, "out of memory");
    sl_layout_sum_i64(&lay, nfull, 1, n);
    if (value) {
        SL_CALL(sl_moments_fold(all.v, all.count, &lay, 1, mom));
        SL_CALL(sl_dominance_reduce(&red, dfull, &lay, dom));
    }
    *tm = (struct timing){t1 - t0, sl_bench_now() - t1, sl_bench_now() - t0};
    *check = value ? mom[lay.ncells - 1].mean : (double)n[lay.ncells - 1];
cleanup:
    sl_moment_records_clear(&rec);
    sl_moment_records_clear(&all);
    sl_free(nfull);
    sl_free(n);
    sl_free(mom);
    sl_free(dfull);
    sl_free(dom);
    return st;
}

static int wanted(const char *only, const char *name)
{
    return !only || strcmp(only, name) == 0;
}

static void report(const char *name, const struct timing *t, double bytes, double rows,
                   double bw, double check)
{
    double rate = bytes / t->total;
    printf("%-13s %8.1f ms  (pass %7.1f, fold %5.1f)  %6.2f GB/s  %5.1f%% of bandwidth  "
           "%7.1f Mrows/s\n",
           name, 1e3 * t->total, 1e3 * t->pass, 1e3 * t->fold, rate / 1e9, 100 * rate / bw,
           rows / t->total / 1e6);
    printf("RESULT %s seconds=%.6f bytes=%.0f gbps=%.3f fraction=%.4f check=%.10g\n", name,
           t->total, bytes, rate / 1e9, rate / bw, check);
}

int main(int argc, char **argv)
{
    sl_status st = SL_OK;
    int64_t rows = 10000000, chunk_rows = SL_DEFAULT_CHUNK_ROWS;
    int reps = 5, bw_threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    const char *only = NULL, *isa = NULL;
    struct bench b;
    struct sl_backend *be = NULL;
    struct timing td = {0, 0, 0}, ta = {0, 0, 0}, tq = {0, 0, 0}, tc = {0, 0, 0},
                  tn = {0, 0, 0}, tr = {0, 0, 0}, tg = {0, 0, 0}, te = {0, 0, 0},
                  tb = {0, 0, 0}, t;
    const int by_sex[1] = {C_SEX}, by_region[1] = {C_REGION},
              by_grid[3] = {C_REGION, C_SEX, C_SMOKER};
    double bw, cd = 0, ca = 0, cq = 0, cc = 0, cn = 0, cr = 0, cg = 0, ce = 0, cb = 0, r;

    memset(&b, 0, sizeof b);
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--rows") == 0)
            rows = atoll(argv[i + 1]);
        else if (strcmp(argv[i], "--reps") == 0)
            reps = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--chunk-rows") == 0)
            chunk_rows = atoll(argv[i + 1]);
        else if (strcmp(argv[i], "--bw-threads") == 0)
            bw_threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--only") == 0)
            only = argv[i + 1];
        else if (strcmp(argv[i], "--isa") == 0)
            isa = argv[i + 1];
        else
            rows = 0;
    }
    if (rows < 1 || reps < 1 || chunk_rows < 1 || bw_threads < 1 || bw_threads > 64 ||
        argc % 2 == 0) {
        fprintf(stderr, "usage: bench_stats [--rows N] [--reps R] [--chunk-rows C] "
                        "[--bw-threads T] [--only describe|describe_all|quantiles|crosstab|"
                        "crosstab_n|quantiles_region|quantiles_grid|extremes|crosstab_bands]\n"
                        "                   [--isa generic|avx2|avx512]\n");
        return 2;
    }
    for (enum sl_cpu_isa k = SL_CPU_ISA_GENERIC; isa && k <= SL_CPU_ISA_AVX512; k++)
        if (strcmp(isa, sl_cpu_isa_name(k)) == 0) {
            SL_CALL(sl_cpu_isa_select(k));
            isa = NULL;
        }
    SL_CHECK(!isa, SL_ERR_ARG, "unknown --isa %s (generic, avx2 or avx512)", isa);
    SL_CALL(sl_backend_get("cpu", &be));
    printf("%s\n", sl_kernels_config());
    SL_CALL(generate(&b, rows, chunk_rows));
    print_checks(&b);
    bw = read_bandwidth(bw_threads, 5);
    printf("memory read bandwidth, %d threads (sum of squares over 1 GiB): %.2f GB/s\n",
           bw_threads, bw / 1e9);
    printf("RESULT bandwidth gbps=%.3f threads=%d\n", bw / 1e9, bw_threads);
    printf("%lld rows in %lld chunks, best of %d\n", (long long)rows, (long long)b.fr.nchunks,
           reps);
    for (int k = 0; k < reps; k++) {
        if (wanted(only, "describe")) {
            SL_CALL(run_describe(&b, be, 1, &t, &cd));
            keep_best(&td, &t);
        }
        if (wanted(only, "describe_all")) {
            SL_CALL(run_describe(&b, be, 0, &t, &ca));
            keep_best(&ta, &t);
        }
        if (wanted(only, "crosstab")) {
            SL_CALL(run_crosstab(&b, be, 1, 0, &t, &cc));
            keep_best(&tc, &t);
        }
        if (wanted(only, "crosstab_n")) {
            SL_CALL(run_crosstab(&b, be, 0, 0, &t, &cn));
            keep_best(&tn, &t);
        }
        if (wanted(only, "quantiles")) {
            SL_CALL(run_quantiles(&b, by_sex, 1, &t, &cq));
            keep_best(&tq, &t);
        }
        /* only on request: not part of perf/bench_stats.sh */
        if (only && strcmp(only, "quantiles_region") == 0) {
            SL_CALL(run_quantiles(&b, by_region, 1, &t, &cr));
            keep_best(&tr, &t);
        }
        if (only && strcmp(only, "quantiles_grid") == 0) {
            SL_CALL(run_quantiles(&b, by_grid, 3, &t, &cg));
            keep_best(&tg, &t);
        }
        if (only && strcmp(only, "extremes") == 0) {
            SL_CALL(run_extremes(&b, &t, &ce));
            keep_best(&te, &t);
        }
        if (only && strcmp(only, "crosstab_bands") == 0) {
            SL_CALL(run_crosstab(&b, be, 0, 1, &t, &cb));
            keep_best(&tb, &t);
            SL_CALL(run_crosstab(&b, be, 0, 0, &t, &cn));
            keep_best(&tn, &t);
        }
    }
    r = (double)rows;
    if (wanted(only, "describe"))
        report("describe", &td, r * (3 * 8 + 4), r, bw, cd);
    if (wanted(only, "describe_all"))
        report("describe_all", &ta, r * 3 * 8, r, bw, ca);
    if (wanted(only, "quantiles"))
        report("quantiles", &tq, r * (3 * 8 + 4), r, bw, cq);
    if (only && strcmp(only, "quantiles_region") == 0)
        report("quantiles_region", &tr, r * (3 * 8 + 4), r, bw, cr);
    if (only && strcmp(only, "quantiles_grid") == 0)
        report("quantiles_grid", &tg, r * (3 * 8 + 3 * 4), r, bw, cg);
    if (only && strcmp(only, "extremes") == 0)
        report("extremes", &te, r * (3 * 8 + 4), r, bw, ce);
    if (wanted(only, "crosstab"))
        report("crosstab", &tc, r * (3 * 4 + 8), r, bw, cc);
    if (wanted(only, "crosstab_n") || (only && strcmp(only, "crosstab_bands") == 0))
        report("crosstab_n", &tn, r * 3 * 4, r, bw, cn);
    if (only && strcmp(only, "crosstab_bands") == 0)
        report("crosstab_bands", &tb, r * (8 + 2 * 4), r, bw, cb);
cleanup:
    bench_free(&b);
    sl_backends_shutdown();
    if (st != SL_OK) {
        fprintf(stderr, "bench_stats: %s\n", sl_error_message());
        return 1;
    }
    return 0;
}
