/*
 * bench_kernels.c: throughput of the CPU kernels against the machine's own
 * references, measured in the same run.
 *
 * References: memory read bandwidth (a threaded dot product over arrays far
 * larger than the caches), OpenBLAS dgemm (2000^3) and OpenBLAS dsyrk on the
 * same tall-skinny matrix as sluice's Gram kernel. Then: the Gram kernel on
 * 1e6 x 32, the grouped count, moments and histogram on 1e7 rows (GB/s of
 * input read and the fraction of the bandwidth), the sort, and the fused IRLS
 * step for a 1e6 x 21 logistic regression (intercept + 20 predictors), per
 * step and for a whole fit to convergence.
 *
 * Usage: bench_kernels [backend]   (default "cpu")
 */
#include <cblas.h>
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

/* Repetitions per figure; the best is reported (the machine is shared). */
#define REPS 7

#ifdef _OPENMP
#define OMP_PARALLEL_FOR _Pragma("omp parallel for schedule(static)")
#define OMP_PARALLEL_FOR_SUM_S _Pragma("omp parallel for schedule(static) reduction(+ : s)")
#else
#define OMP_PARALLEL_FOR
#define OMP_PARALLEL_FOR_SUM_S
#endif

/* The seed of the generated data (reproducible across runs). */
static uint64_t g_rng = 0x5eed5eed5eedULL;

/* OpenBLAS's worker threads keep spinning for a while after a call; let
 * them go idle before timing anything else on the same two cores. */
static void settle(void)
{
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static void check(sl_status st, const char *what)
{
    if (st != SL_OK) {
        fprintf(stderr, "bench_kernels: %s failed: %s: %s\n", what, sl_status_str(st),
                sl_error_message());
        exit(1);
    }
}

static double bandwidth_gbs(void)
{
    const size_t n = (size_t)1 << 25; /* 2 x 256 MiB */
    double *a = sl_bench_malloc("bench_kernels", n * sizeof *a), *b = sl_bench_malloc("bench_kernels", n * sizeof *b), best = 1e30, sink = 0;
    OMP_PARALLEL_FOR
    for (size_t i = 0; i < n; i++) {
        a[i] = 1.0 + (double)(i & 7);
        b[i] = 0.5;
    }
    for (int rep = 0; rep < REPS; rep++) {
        double t = sl_bench_now(), s = 0;
        OMP_PARALLEL_FOR_SUM_S
        for (size_t i = 0; i < n; i++)
            s += a[i] * b[i];
        t = sl_bench_now() - t;
        sink += s;
        if (t < best)
            best = t;
    }
    if (sink < 0)
        printf("%g\n", sink);
    sl_free(a);
    sl_free(b);
    return 2.0 * (double)n * sizeof(double) / best / 1e9;
}

static double dgemm_gflops(void)
{
    const int n = 2000;
    size_t nn = (size_t)n * (size_t)n;
    double *a = sl_bench_malloc("bench_kernels", nn * sizeof *a), *b = sl_bench_malloc("bench_kernels", nn * sizeof *b), *c = sl_bench_malloc("bench_kernels", nn * sizeof *c);
    double best = 1e30;
    for (size_t i = 0; i < nn; i++) {
        a[i] = sl_bench_unif(&g_rng);
        b[i] = sl_bench_unif(&g_rng);
    }
    for (int rep = 0; rep < REPS; rep++) {
        double t = sl_bench_now();
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a, n, b, n, 0.0, c,
                    n);
        t = sl_bench_now() - t;
        if (t < best)
            best = t;
    }
    sl_free(a);
    sl_free(b);
    sl_free(c);
    return 2.0 * n * (double)n * n / best / 1e9;
}

static void bench_gram(struct sl_backend *be, double bw)
{
    const int64_t n = 1000000, p = 32;
    double *x = sl_bench_malloc("bench_kernels", (size_t)(n * p) * sizeof *x), *w = sl_bench_malloc("bench_kernels", (size_t)n * sizeof *w);
    double *g = sl_bench_malloc("bench_kernels", (size_t)(p * p) * sizeof *g), *c = sl_bench_malloc("bench_kernels", (size_t)(p * p) * sizeof *c);
    double flops = (double)n * (double)p * (double)(p + 1), t_syrk = 1e30, t_gram = 1e30;
    double t_wgram = 1e30, maxrel = 0;
    const double *xc[SL_BENCH_MAX_COLS];
    sl_bench_columns(x, n, p, xc);
    for (int64_t i = 0; i < n * p; i++)
        x[i] = sl_bench_normal(&g_rng) + 0.5;
    for (int64_t i = 0; i < n; i++)
        w[i] = sl_bench_unif(&g_rng);
    for (int rep = 0; rep < REPS; rep++) {
        double t = sl_bench_now();
        cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, (int)p, (int)n, 1.0, x, (int)n, 0.0, c,
                    (int)p);
        t = sl_bench_now() - t;
        if (t < t_syrk)
            t_syrk = t;
    }
    settle();
    for (int rep = 0; rep < REPS; rep++) {
        struct sl_gram_args a = {n, p, xc, NULL, NULL, g};
        double t;
        memset(g, 0, (size_t)(p * p) * sizeof *g);
        t = sl_bench_now();
        check(sl_kernel_run(be, SL_OP_GRAM, &a), "gram");
        t = sl_bench_now() - t;
        if (t < t_gram)
            t_gram = t;
    }
    for (int64_t j = 0; j < p; j++)
        for (int64_t i = 0; i <= j; i++) {
            double rel = fabs(g[i + j * p] - c[i + j * p]) / fabs(c[i + j * p]);
            if (rel > maxrel)
                maxrel = rel;
        }
    for (int rep = 0; rep < REPS; rep++) {
        struct sl_gram_args a = {n, p, xc, w, NULL, g};
        double t;
        memset(g, 0, (size_t)(p * p) * sizeof *g);
        t = sl_bench_now();
        check(sl_kernel_run(be, SL_OP_GRAM, &a), "weighted gram");
        t = sl_bench_now() - t;
        if (t < t_wgram)
            t_wgram = t;
    }
    printf("OpenBLAS dsyrk X'X, 1e6 x 32:         %7.1f GFLOP/s  (%.1f ms; flops n p (p+1))\n",
           flops / t_syrk / 1e9, 1e3 * t_syrk);
    printf("sluice gram X'X, 1e6 x 32:            %7.1f GFLOP/s  (%.1f ms)  %.2fx dsyrk, "
           "max rel diff %.1e\n",
           flops / t_gram / 1e9, 1e3 * t_gram, t_syrk / t_gram, maxrel);
    printf("sluice gram X'WX, 1e6 x 32:           %7.1f GFLOP/s  (%.1f ms)  %.2fx dsyrk\n",
           flops / t_wgram / 1e9, 1e3 * t_wgram, t_syrk / t_wgram);
    printf("  (reading X once at the measured bandwidth takes %.1f ms)\n",
           1e3 * (double)(n * p) * 8 / (bw * 1e9));
    sl_free(x);
    sl_free(w);
    sl_free(g);
    sl_free(c);
}

static void bench_grouped(struct sl_backend *be, double bw)
{
    const int64_t n = 10000000, ncells = 16, nbins = 20;
    double *v = sl_bench_malloc("bench_kernels", (size_t)n * sizeof *v), edges[21];
    int32_t *cell = sl_bench_malloc("bench_kernels", (size_t)n * sizeof *cell);
    uint8_t *mask = sl_bench_malloc("bench_kernels", (size_t)n);
    int64_t counts[16], hist[16 * 20];
    struct sl_moments mom[16];
    double t_count = 1e30, t_mom = 1e30, t_mom_nomask = 1e30, t_hist = 1e30;
    for (int64_t i = 0; i < n; i++) {
        v[i] = sl_bench_unif(&g_rng) < 0.01 ? NAN : 50 + 10 * sl_bench_normal(&g_rng);
        cell[i] = (int32_t)(sl_bench_next(&g_rng) % (uint64_t)ncells);
        mask[i] = sl_bench_unif(&g_rng) < 0.9;
    }
    for (int b = 0; b <= nbins; b++)
        edges[b] = 10.0 + 4.0 * b;
    for (int rep = 0; rep < REPS; rep++) {
        struct sl_group_count_args a = {n, cell, mask, ncells, counts};
        double t;
        memset(counts, 0, sizeof counts);
        t = sl_bench_now();
        check(sl_kernel_run(be, SL_OP_GROUP_COUNT, &a), "group_count");
        t = sl_bench_now() - t;
        if (t < t_count)
            t_count = t;
    }
    for (int rep = 0; rep < REPS; rep++) {
        struct sl_group_moments_args a = {n, v, cell, mask, ncells, mom};
        double t;
        memset(mom, 0, sizeof mom);
        t = sl_bench_now();
        check(sl_kernel_run(be, SL_OP_GROUP_MOMENTS, &a), "group_moments");
        t = sl_bench_now() - t;
        if (t < t_mom)
            t_mom = t;
    }
    for (int rep = 0; rep < REPS; rep++) {
        struct sl_group_moments_args a = {n, v, cell, NULL, ncells, mom};
        double t;
        memset(mom, 0, sizeof mom);
        t = sl_bench_now();
        check(sl_kernel_run(be, SL_OP_GROUP_MOMENTS, &a), "group_moments");
        t = sl_bench_now() - t;
        if (t < t_mom_nomask)
            t_mom_nomask = t;
    }
    for (int rep = 0; rep < REPS; rep++) {
        struct sl_histogram_args a = {n,  v,     cell, mask, ncells, edges, nbins + 1,
                                      hist, NULL, NULL, NULL};
        double t;
        memset(hist, 0, sizeof hist);
        t = sl_bench_now();
        check(sl_kernel_run(be, SL_OP_HISTOGRAM, &a), "histogram");
        t = sl_bench_now() - t;
        if (t < t_hist)
            t_hist = t;
    }
    {
        double b_count = (double)n * 5, b_mom = (double)n * 13, b_mom2 = (double)n * 12;
        printf("group_count, 1e7 rows, 16 cells, mask:   %6.1f GB/s  (%.1f ms)  %3.0f%% of "
               "bandwidth\n",
               b_count / t_count / 1e9, 1e3 * t_count, 100 * b_count / t_count / 1e9 / bw);
        printf("group_moments, 1e7 rows, 16 cells, mask: %6.1f GB/s  (%.1f ms)  %3.0f%% of "
               "bandwidth\n",
               b_mom / t_mom / 1e9, 1e3 * t_mom, 100 * b_mom / t_mom / 1e9 / bw);
        printf("group_moments, 1e7 rows, 16 cells:       %6.1f GB/s  (%.1f ms)  %3.0f%% of "
               "bandwidth\n",
               b_mom2 / t_mom_nomask / 1e9, 1e3 * t_mom_nomask,
               100 * b_mom2 / t_mom_nomask / 1e9 / bw);
        printf("histogram, 1e7 rows, 16 cells x 20 bins: %6.1f GB/s  (%.1f ms)  %3.0f%% of "
               "bandwidth\n",
               b_mom / t_hist / 1e9, 1e3 * t_hist, 100 * b_mom / t_hist / 1e9 / bw);
    }
    {
        const int64_t ns = 1000000;
        double *sorted = sl_bench_malloc("bench_kernels", (size_t)ns * sizeof *sorted), t_sort = 1e30;
        int64_t start[2];
        for (int rep = 0; rep < REPS; rep++) {
            struct sl_sort_f64_args a = {ns, v, NULL, NULL, 1, sorted, start, NULL};
            double t = sl_bench_now();
            check(sl_kernel_run(be, SL_OP_SORT_F64, &a), "sort_f64");
            t = sl_bench_now() - t;
            if (t < t_sort)
                t_sort = t;
        }
        printf("sort_f64, 1e6 values:                    %6.1f Mvalues/s (%.1f ms)\n",
               (double)ns / t_sort / 1e6, 1e3 * t_sort);
        sl_free(sorted);
    }
    sl_free(v);
    sl_free(cell);
    sl_free(mask);
}

static void bench_irls(struct sl_backend *be)
{
    const int64_t n = 1000000, p = 21;
    double *x = sl_bench_malloc("bench_kernels", (size_t)(n * p) * sizeof *x), *y = sl_bench_malloc("bench_kernels", (size_t)n * sizeof *y);
    double beta_true[21], beta[21], xtwx[21 * 21], xtwz[21], t_step = 1e30, t_fit, dev_old = 0;
    int iter = 0;
    const double *xc[SL_BENCH_MAX_COLS];
    sl_bench_columns(x, n, p, xc);
    for (int64_t j = 0; j < p; j++)
        beta_true[j] = j == 0 ? -0.5 : 0.3 * sin((double)j);
    for (int64_t i = 0; i < n; i++) {
        double eta = 0;
        for (int64_t j = 0; j < p; j++) {
            x[i + j * n] = j == 0 ? 1.0 : sl_bench_normal(&g_rng);
            eta += x[i + j * n] * beta_true[j];
        }
        y[i] = sl_bench_unif(&g_rng) < 1 / (1 + exp(-eta)) ? 1.0 : 0.0;
    }
    for (int rep = 0; rep < REPS; rep++) {
        struct sl_irls_sums sums;
        struct sl_irls_step_args a = {n,    p,         xc,    y,    NULL, NULL,
                                      NULL, beta_true, SL_GLM_BINOMIAL_LOGIT, xtwx, xtwz, &sums};
        double t;
        memset(xtwx, 0, sizeof xtwx);
        memset(xtwz, 0, sizeof xtwz);
        memset(&sums, 0, sizeof sums);
        t = sl_bench_now();
        check(sl_kernel_run(be, SL_OP_IRLS_STEP, &a), "irls_step");
        t = sl_bench_now() - t;
        if (t < t_step)
            t_step = t;
    }
    memset(beta, 0, sizeof beta);
    t_fit = sl_bench_now();
    for (iter = 1; iter <= 25; iter++) {
        struct sl_irls_sums sums;
        struct sl_irls_step_args a = {n,    p,    xc,   y,    NULL, NULL,
                                      NULL, beta, SL_GLM_BINOMIAL_LOGIT, xtwx, xtwz, &sums};
        memset(xtwx, 0, sizeof xtwx);
        memset(xtwz, 0, sizeof xtwz);
        memset(&sums, 0, sizeof sums);
        check(sl_kernel_run(be, SL_OP_IRLS_STEP, &a), "irls_step");
        if (iter > 1 && fabs(sums.deviance - dev_old) / (fabs(sums.deviance) + 0.1) < 1e-8)
            break;
        dev_old = sums.deviance;
        check(sl_spd_solve(p, xtwx, p, xtwz, 1e-7, beta, NULL, NULL), "spd_solve");
    }
    t_fit = sl_bench_now() - t_fit;
    printf("irls_step, logistic 1e6 x 21:            %6.1f ms per step (%.1f GFLOP/s on the "
           "augmented Gram)\n",
           1e3 * t_step, (double)n * (double)(p + 1) * (double)(p + 2) / t_step / 1e9);
    printf("logistic fit 1e6 x 21 to convergence:    %6.1f ms, %d passes (R glm's rule "
           "|ddev|/(|dev|+0.1) < 1e-8), deviance %.6f\n",
           1e3 * t_fit, iter, dev_old);
    sl_free(x);
    sl_free(y);
}

int main(int argc, char **argv)
{
    struct sl_backend *be = NULL;
    double bw, gemm;
    char load[64] = "unknown";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (!fgets(load, sizeof load, f))
            strcpy(load, "unknown");
        fclose(f);
        load[strcspn(load, "\n")] = 0;
    }
    check(sl_backend_get(argc > 1 ? argv[1] : "cpu", &be), "backend");
    printf("bench_kernels: backend %s; %s\n", sl_backend_name(be), sl_kernels_config());
    printf("load average at start: %s (figures are the best of %d runs)\n", load, REPS);
    bw = bandwidth_gbs();
    gemm = dgemm_gflops();
    settle();
    printf("memory read bandwidth (dot product, 512 MiB): %6.1f GB/s\n", bw);
    printf("OpenBLAS dgemm 2000^3:                %7.1f GFLOP/s\n", gemm);
    bench_gram(be, bw);
    bench_grouped(be, bw);
    bench_irls(be);
    sl_backends_shutdown();
    return 0;
}
