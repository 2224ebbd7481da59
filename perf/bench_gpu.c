/*
 * bench_gpu.c: the GPU kernel backend against the CPU backend on the same
 * machine, with the device's limits as references taken in the same run.
 *
 * For each op (grouped count, moments and histogram and the grouped sort on
 * 1e7 rows in 16 cells; the weighted Gram of 1e7 x 32; one logistic IRLS step
 * on 1e7 x 21) and for a whole logistic fit (1e7 rows, 20 predictors and an
 * intercept, to convergence by R's rule) it prints and writes as CSV:
 *   - the "cpu" backend's time;
 *   - the "gpu" backend's time with the inputs in host memory (every call
 *     streams them over the bus: what a one-off call costs) and with them
 *     kept on the device (sl_backend_keep: what repeated passes cost, e.g.
 *     the IRLS iterations after the first);
 *   - for the GPU with kept inputs, the input bytes read per second as a
 *     fraction of the device-to-device copy bandwidth measured in this run
 *     (bytes read + written per second of a 1 GiB cudaMemcpy), and for the
 *     Gram and IRLS step the FP64 rate as a fraction of the device's FP64
 *     peak (multiprocessors x 64 FP64 units x 2 x clock for Hopper; NVIDIA's
 *     H100 whitepaper gives 34 TFLOP/s for the H100 SXM5, 67 with FP64 tensor
 *     cores, which these kernels do not use).
 * Times are medians of --reps runs after one warm-up. Without a usable CUDA
 * device (or a build without CUDA) the GPU figures are skipped and the CPU
 * figures still printed. perf/plot_gpu.py draws the CSV.
 *
 * Usage: bench_gpu [--csv FILE] [--reps N] [--rows N]
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "perf/bench_util.h"
#include "engine/core/alloc.h"
#include "kernels/kernel.h"
#include "kernels/linalg.h"
#ifdef SL_HAVE_CUDA
#include "kernels/gpu/gpu.h"
#endif

#define MAX_REPS 50
#define NCELLS 16
#define NBINS 20
#define GRAM_P 32
#define FIT_P 21

struct device_ref {
    int have;
    char name[256];
    double copy_gbs;     /* measured device-to-device copy, read + write */
    double fp64_gflops;  /* FP64 FMA peak */
};

struct bench {
    struct sl_backend *cpu, *gpu;
    struct device_ref dev;
    FILE *csv;
    int reps;
    int64_t rows;
};

/* The seed of the generated data (reproducible across runs). */
static uint64_t g_rng = 0x9b5eed5eedULL;

static void check(sl_status st, const char *what)
{
    if (st != SL_OK) {
        fprintf(stderr, "bench_gpu: %s failed: %s: %s\n", what, sl_status_str(st),
                sl_error_message());
        exit(1);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One timed call: `reset` clears the outputs, `run` makes the call. */
typedef void bench_fn(void *ctx, struct sl_backend *be);

static double median_time(const struct bench *B, struct sl_backend *be, bench_fn *reset,
                          bench_fn *run, void *ctx)
{
    double t[MAX_REPS];
    reset(ctx, be);
    run(ctx, be); /* warm-up: module load, allocations */
    for (int r = 0; r < B->reps; r++) {
        double t0;
        reset(ctx, be);
        t0 = sl_bench_now();
        run(ctx, be);
        t[r] = sl_bench_now() - t0;
    }
    qsort(t, (size_t)B->reps, sizeof t[0], cmp_double);
    return t[B->reps / 2];
}

/* Prints and records one figure. bytes: input bytes read once; flops: 0 when
 * the op is not arithmetic-bound. Fractions only for the GPU with kept data. */
static void report(const struct bench *B, const char *op, int64_t rows, int64_t cols,
                   const char *backend, const char *mode, double seconds, double bytes,
                   double flops)
{
    double gbs = bytes / seconds / 1e9, gflops = flops / seconds / 1e9;
    int frac = B->dev.have && strcmp(backend, "gpu") == 0 && strcmp(mode, "kept") == 0;
    double bw_frac = frac && bytes > 0 ? gbs / B->dev.copy_gbs : NAN;
    double fp_frac = frac && flops > 0 && B->dev.fp64_gflops > 0 ? gflops / B->dev.fp64_gflops
                                                                 : NAN;
    printf("%-14s %9lld x %-3lld %-4s %-5s %10.2f ms", op, (long long)rows, (long long)cols,
           backend, mode, 1e3 * seconds);
    if (bytes > 0)
        printf(" %8.1f GB/s", gbs);
    if (flops > 0)
        printf(" %9.1f GFLOP/s", gflops);
    if (frac && bytes > 0)
        printf("  %5.1f%% of copy bandwidth", 100 * bw_frac);
    if (frac && flops > 0)
        printf(", %5.1f%% of FP64 peak", 100 * fp_frac);
    printf("\n");
    if (B->csv)
        fprintf(B->csv, "%s,%lld,%lld,%s,%s,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,\"%s\",%.9g,%.9g\n", op,
                (long long)rows, (long long)cols, backend, mode, seconds, bytes / 1e9,
                bytes > 0 ? gbs : NAN,
                bw_frac, flops > 0 ? gflops : NAN, fp_frac, B->dev.have ? B->dev.name : "",
                B->dev.have ? B->dev.copy_gbs : NAN, B->dev.have ? B->dev.fp64_gflops : NAN);
}

/* Runs one op on the CPU, on the GPU from host memory and on the GPU with
 * the `nkeep` inputs kept on the device. */
static void compare(const struct bench *B, const char *op, int64_t rows, int64_t cols,
                    double bytes, double flops, bench_fn *reset, bench_fn *run, void *ctx,
                    const void *const *keep, const size_t *keep_bytes, int nkeep)
{
    report(B, op, rows, cols, "cpu", "host", median_time(B, B->cpu, reset, run, ctx), bytes,
           flops);
    if (!B->gpu)
        return;
    report(B, op, rows, cols, "gpu", "host", median_time(B, B->gpu, reset, run, ctx), bytes,
           flops);
    for (int k = 0; k < nkeep; k++)
        check(sl_backend_keep(B->gpu, keep[k], keep_bytes[k]), "keep");
    report(B, op, rows, cols, "gpu", "kept", median_time(B, B->gpu, reset, run, ctx), bytes,
           flops);
    for (int k = 0; k < nkeep; k++)
        sl_backend_forget(B->gpu, keep[k]);
}

/* ---- grouped statistics on 1e7 rows ---- */

struct grouped {
    int64_t n;
    double *v, *sorted, edges[NBINS + 1];
    int32_t *cell;
    uint8_t *mask;
    int64_t counts[NCELLS], hist[NCELLS * NBINS], start[NCELLS + 1];
    struct sl_moments mom[NCELLS];
};

static void grouped_reset(void *ctx, struct sl_backend *be)
{
    struct grouped *g = ctx;
    (void)be;
    memset(g->counts, 0, sizeof g->counts);
    memset(g->hist, 0, sizeof g->hist);
    memset(g->mom, 0, sizeof g->mom);
}

static void run_count(void *ctx, struct sl_backend *be)
{
    struct grouped *g = ctx;
    struct sl_group_count_args a = {g->n, g->cell, g->mask, NCELLS, g->counts};
    check(sl_kernel_run(be, SL_OP_GROUP_COUNT, &a), "group_count");
}

static void run_moments(void *ctx, struct sl_backend *be)
{
    struct grouped *g = ctx;
    struct sl_group_moments_args a = {g->n, g->v, g->cell, g->mask, NCELLS, g->mom};
    check(sl_kernel_run(be, SL_OP_GROUP_MOMENTS, &a), "group_moments");
}

static void run_histogram(void *ctx, struct sl_backend *be)
{
    struct grouped *g = ctx;
    struct sl_histogram_args a = {g->n,    g->v,  g->cell, g->mask, NCELLS, g->edges,
                                  NBINS + 1, g->hist, NULL, NULL, NULL};
    check(sl_kernel_run(be, SL_OP_HISTOGRAM, &a), "histogram");
}

static void run_sort(void *ctx, struct sl_backend *be)
{
    struct grouped *g = ctx;
    struct sl_sort_f64_args a = {g->n, g->v, g->cell, g->mask, NCELLS, g->sorted, g->start, NULL};
    check(sl_kernel_run(be, SL_OP_SORT_F64, &a), "sort_f64");
}

static void bench_grouped(const struct bench *B)
{
    struct grouped g;
    const void *keep[3];
    size_t kb[3];
    double n;
    memset(&g, 0, sizeof g);
    g.n = B->rows;
    n = (double)g.n;
    g.v = sl_bench_malloc("bench_gpu", (size_t)g.n * sizeof *g.v);
    g.sorted = sl_bench_malloc("bench_gpu", (size_t)g.n * sizeof *g.sorted);
    g.cell = sl_bench_malloc("bench_gpu", (size_t)g.n * sizeof *g.cell);
    g.mask = sl_bench_malloc("bench_gpu", (size_t)g.n);
    for (int64_t i = 0; i < g.n; i++) {
        g.v[i] = sl_bench_unif(&g_rng) < 0.01 ? NAN : 50 + 10 * sl_bench_normal(&g_rng);
        g.cell[i] = (int32_t)(sl_bench_next(&g_rng) % NCELLS);
        g.mask[i] = sl_bench_unif(&g_rng) < 0.9;
    }
    for (int b = 0; b <= NBINS; b++)
        g.edges[b] = 10.0 + 4.0 * b;
    keep[0] = g.cell;
    kb[0] = (size_t)g.n * sizeof *g.cell;
    keep[1] = g.mask;
    kb[1] = (size_t)g.n;
    keep[2] = g.v;
    kb[2] = (size_t)g.n * sizeof *g.v;
    compare(B, "group_count", g.n, 1, n * 5, 0, grouped_reset, run_count, &g, keep, kb, 2);
    compare(B, "group_moments", g.n, 1, n * 13, 0, grouped_reset, run_moments, &g, keep, kb, 3);
    compare(B, "histogram", g.n, 1, n * 13, 0, grouped_reset, run_histogram, &g, keep, kb, 3);
    compare(B, "sort_f64", g.n, 1, n * 13, 0, grouped_reset, run_sort, &g, keep, kb, 3);
    sl_free(g.v);
    sl_free(g.sorted);
    sl_free(g.cell);
    sl_free(g.mask);
}

/* ---- weighted Gram, 1e7 x 32 ---- */

struct gram {
    int64_t n, p;
    double *x, *w, g[GRAM_P * GRAM_P];
    const double *xc[GRAM_P];
};

static void gram_reset(void *ctx, struct sl_backend *be)
{
    struct gram *s = ctx;
    (void)be;
    memset(s->g, 0, sizeof s->g);
}

static void run_gram(void *ctx, struct sl_backend *be)
{
    struct gram *s = ctx;
    struct sl_gram_args a = {s->n, s->p, s->xc, s->w, NULL, s->g};
    check(sl_kernel_run(be, SL_OP_GRAM, &a), "gram");
}

static void bench_gram(const struct bench *B)
{
    struct gram s;
    const void *keep[2];
    size_t kb[2];
    s.n = B->rows;
    s.p = GRAM_P;
    s.x = sl_bench_malloc("bench_gpu", (size_t)(s.n * s.p) * sizeof *s.x);
    s.w = sl_bench_malloc("bench_gpu", (size_t)s.n * sizeof *s.w);
    sl_bench_columns(s.x, s.n, s.p, s.xc);
    for (int64_t i = 0; i < s.n * s.p; i++)
        s.x[i] = sl_bench_normal(&g_rng) + 0.5;
    for (int64_t i = 0; i < s.n; i++)
        s.w[i] = sl_bench_unif(&g_rng);
    keep[0] = s.x;
    kb[0] = (size_t)(s.n * s.p) * sizeof *s.x;
    keep[1] = s.w;
    kb[1] = (size_t)s.n * sizeof *s.w;
    /* bytes: X and w once; flops: the n p (p + 1) of the symmetric product */
    compare(B, "gram", s.n, s.p, (double)s.n * (double)(s.p + 1) * 8,
            (double)s.n * (double)s.p * (double)(s.p + 1), gram_reset, run_gram, &s, keep, kb, 2);
    sl_free(s.x);
    sl_free(s.w);
}

/* ---- logistic regression, 1e7 x 21 ---- */

struct logit {
    int64_t n, p;
    double *x, *y, beta[FIT_P], xtwx[FIT_P * FIT_P], xtwz[FIT_P];
    const double *xc[FIT_P];
    struct sl_irls_sums sums;
};

static void logit_reset(void *ctx, struct sl_backend *be)
{
    struct logit *s = ctx;
    (void)be;
    memset(s->xtwx, 0, sizeof s->xtwx);
    memset(s->xtwz, 0, sizeof s->xtwz);
    memset(&s->sums, 0, sizeof s->sums);
}

static void run_step(void *ctx, struct sl_backend *be)
{
    struct logit *s = ctx;
    struct sl_irls_step_args a = {s->n,    s->p,    s->xc,   s->y, NULL, NULL, NULL,
                                  s->beta, SL_GLM_BINOMIAL_LOGIT, s->xtwx, s->xtwz, &s->sums};
    check(sl_kernel_run(be, SL_OP_IRLS_STEP, &a), "irls_step");
}

/* The whole fit: beta from 0 until |ddev| / (|dev| + 0.1) < 1e-8 (R's glm
 * rule), as the GLM job does; with `keep`, X and y stay on the device. */
static void run_fit(void *ctx, struct sl_backend *be)
{
    struct logit *s = ctx;
    double dev_old = 0;
    memset(s->beta, 0, sizeof s->beta);
    for (int it = 1; it <= 25; it++) {
        logit_reset(s, be);
        run_step(s, be);
        if (it > 1 && fabs(s->sums.deviance - dev_old) / (fabs(s->sums.deviance) + 0.1) < 1e-8)
            break;
        dev_old = s->sums.deviance;
        check(sl_spd_solve(s->p, s->xtwx, s->p, s->xtwz, 1e-7, s->beta, NULL, NULL), "spd_solve");
    }
}

static void noop(void *ctx, struct sl_backend *be)
{
    (void)ctx;
    (void)be;
}

static void bench_logit(const struct bench *B)
{
    struct logit s;
    double truth[FIT_P], cpu_beta[FIT_P], bytes, flops, t, diff = 0, norm = 0;
    const void *keep[2];
    size_t kb[2];
    memset(&s, 0, sizeof s);
    s.n = B->rows;
    s.p = FIT_P;
    s.x = sl_bench_malloc("bench_gpu", (size_t)(s.n * s.p) * sizeof *s.x);
    s.y = sl_bench_malloc("bench_gpu", (size_t)s.n * sizeof *s.y);
    sl_bench_columns(s.x, s.n, s.p, s.xc);
    for (int64_t j = 0; j < s.p; j++)
        truth[j] = j == 0 ? -0.5 : 0.3 * sin((double)j);
    for (int64_t i = 0; i < s.n; i++) {
        double eta = 0;
        for (int64_t j = 0; j < s.p; j++) {
            s.x[i + j * s.n] = j == 0 ? 1.0 : sl_bench_normal(&g_rng);
            eta += s.x[i + j * s.n] * truth[j];
        }
        s.y[i] = sl_bench_unif(&g_rng) < 1 / (1 + exp(-eta)) ? 1.0 : 0.0;
    }
    memcpy(s.beta, truth, sizeof truth);
    keep[0] = s.x;
    kb[0] = (size_t)(s.n * s.p) * sizeof *s.x;
    keep[1] = s.y;
    kb[1] = (size_t)s.n * sizeof *s.y;
    /* one step: X and y once; the augmented Gram (p + 1 columns) */
    bytes = (double)s.n * (double)(s.p + 1) * 8;
    flops = (double)s.n * (double)(s.p + 1) * (double)(s.p + 2);
    compare(B, "irls_step", s.n, s.p, bytes, flops, logit_reset, run_step, &s, keep, kb, 2);

    /* the whole fit, once per backend (it is many calls already) */
    t = sl_bench_now();
    run_fit(&s, B->cpu);
    t = sl_bench_now() - t;
    memcpy(cpu_beta, s.beta, sizeof cpu_beta);
    report(B, "logistic_fit", s.n, s.p, "cpu", "host", t, 0, 0);
    if (B->gpu) {
        t = median_time(B, B->gpu, noop, run_fit, &s);
        report(B, "logistic_fit", s.n, s.p, "gpu", "host", t, 0, 0);
        for (int k = 0; k < 2; k++)
            check(sl_backend_keep(B->gpu, keep[k], kb[k]), "keep");
        t = median_time(B, B->gpu, noop, run_fit, &s);
        report(B, "logistic_fit", s.n, s.p, "gpu", "kept", t, 0, 0);
        for (int k = 0; k < 2; k++)
            sl_backend_forget(B->gpu, keep[k]);
        for (int j = 0; j < FIT_P; j++) {
            diff = fmax(diff, fabs(s.beta[j] - cpu_beta[j]));
            norm = fmax(norm, fabs(cpu_beta[j]));
        }
        printf("logistic fit: GPU and CPU coefficients differ by %.2e relative (max norm)\n",
               diff / norm);
    }
    sl_free(s.x);
    sl_free(s.y);
}

static void device_refs(struct bench *B)
{
#ifdef SL_HAVE_CUDA
    struct sl_gpu_info info;
    if (sl_backend_get("gpu", &B->gpu) != SL_OK || sl_gpu_info_get(&info) != SL_OK) {
        printf("no CUDA device: GPU figures skipped (%s)\n", sl_error_message());
        B->gpu = NULL;
        return;
    }
    check(sl_gpu_measure_copy_bandwidth((size_t)1 << 30, 10, &B->dev.copy_gbs), "copy bandwidth");
    B->dev.have = 1;
    B->dev.fp64_gflops = info.fp64_peak_gflops;
    (void)snprintf(B->dev.name, sizeof B->dev.name, "%s", info.name);
    printf("device: %s, %d SMs, %.0f GiB; copy bandwidth measured %.0f GB/s (read + write; "
           "%.0f GB/s theoretical); FP64 peak %.0f GFLOP/s (tensor cores %.0f, unused)\n",
           info.name, info.multiprocessors, info.memory_gib, B->dev.copy_gbs,
           info.peak_bandwidth_gbs, info.fp64_peak_gflops, info.fp64_tensor_peak_gflops);
    /* every size in this benchmark is above the backend's threshold anyway */
    (void)sl_gpu_set_min_rows(0);
#else
    printf("no CUDA device: GPU figures skipped (this build has no CUDA backend)\n");
    B->gpu = NULL;
#endif
}

int main(int argc, char **argv)
{
    struct bench B;
    const char *csv = NULL;
    memset(&B, 0, sizeof B);
    B.reps = 5;
    B.rows = 10000000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc) {
            csv = argv[++i];
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            B.reps = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc) {
            B.rows = atoll(argv[++i]);
        } else {
            fprintf(stderr, "usage: bench_gpu [--csv FILE] [--reps N] [--rows N]\n");
            return 2;
        }
    }
    if (B.reps < 1 || B.reps > MAX_REPS || B.rows < 1000) {
        fprintf(stderr, "bench_gpu: --reps must be in [1, %d] and --rows at least 1000\n",
                MAX_REPS);
        return 2;
    }
    check(sl_backend_get("cpu", &B.cpu), "cpu backend");
    device_refs(&B);
    printf("bench_gpu: %s; %lld rows, median of %d runs\n", sl_kernels_config(),
           (long long)B.rows, B.reps);
    if (csv) {
        B.csv = fopen(csv, "w");
        if (!B.csv) {
            fprintf(stderr, "bench_gpu: cannot write %s\n", csv);
            return 1;
        }
        fprintf(B.csv, "op,rows,cols,backend,mode,seconds,input_gb,gb_per_s,bandwidth_fraction,"
                       "gflop_per_s,fp64_fraction,device,device_copy_gbs,device_fp64_gflops\n");
    }
    bench_grouped(&B);
    bench_gram(&B);
    bench_logit(&B);
    if (B.csv && fclose(B.csv) != 0) {
        fprintf(stderr, "bench_gpu: error writing %s\n", csv);
        return 1;
    }
    sl_backends_shutdown();
    return 0;
}
