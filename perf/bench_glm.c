/*
 * bench_glm.c: the glm analysis's IRLS fit on this process, timed.
 *
 * Generates a logistic regression problem (default 1e6 rows, 20 standard
 * normal predictors and an intercept, seeded), lays it out as the glm job
 * does (column-major design blocks of 65536 rows, one per cohort chunk, in
 * secret memory) and fits it with the driver the job uses (jobs/glm_fit.h),
 * folding the per-block partials in process. Prints the compute time of the
 * whole fit (start, iterations to convergence, null deviance), the passes
 * over the data, the achieved GFLOP/s and the ratio to the 0.2 s target.
 *
 * With --csv FILE it instead writes the same data (an id column, y, x1..xK;
 * values on a 1e-6 grid so the CSV holds them exactly) for the comparison
 * with statsmodels, R and the end-to-end job (perf/bench_glm_compare.sh).
 *
 * With --mask every block gets a row mask (all rows kept), as in the job,
 * where the mask holds the filter and the complete cases.
 *
 * Usage: bench_glm [--rows N] [--cols K] [--seed S] [--reps R]
 *                  [--backend cpu|cpu_ref] [--block B] [--mask] [--csv FILE]
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "perf/bench_util.h"
#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "jobs/glm_fit.h"
#include "kernels/kernel.h"

/* splitmix64 and Box-Muller: the same data on every machine */
static uint64_t g_rng;
static uint64_t rng_next(void)
{
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static double rng_unif(void) { return ((double)(rng_next() >> 11) + 0.5) * 0x1.0p-53; }
static double rng_normal(void)
{
    double u = rng_unif(), v = rng_unif();
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* A value on the 1e-6 grid, which "%.6f" prints and strtod reads back exactly. */
static double grid(double v) { return round(v * 1e6) / 1e6; }

/* True coefficients: intercept -0.5, then a repeating pattern of small effects. */
static double true_beta(int j) { return j == 0 ? -0.5 : 0.15 * (double)(j % 5 - 2); }

/* Row i's predictors into x[0..k) and its outcome; the stream is consumed in
 * row order, so any block size gives the same data. */
static double next_row(int k, double *x)
{
    double eta = true_beta(0);
    for (int j = 0; j < k; j++) {
        x[j] = grid(rng_normal());
        eta += true_beta(j + 1) * x[j];
    }
    return rng_unif() < 1 / (1 + exp(-eta)) ? 1.0 : 0.0;
}

static int write_csv(const char *path, int64_t n, int k)
{
    FILE *f = fopen(path, "w");
    double x[256];
    if (!f) {
        perror(path);
        return 1;
    }
    fprintf(f, "patient_id,y");
    for (int j = 0; j < k; j++)
        fprintf(f, ",x%d", j + 1);
    fputc('\n', f);
    for (int64_t i = 0; i < n; i++) {
        double y = next_row(k, x);
        fprintf(f, "P%lld,%d", (long long)i, (int)y);
        for (int j = 0; j < k; j++)
            fprintf(f, ",%.6f", x[j]);
        fputc('\n', f);
    }
    if (fclose(f) != 0) {
        perror(path);
        return 1;
    }
    printf("wrote %lld rows x %d predictors to %s\n", (long long)n, k, path);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int64_t n = 1000000, block = 65536;
    int k = 20, reps = 5, with_mask = 0;
    uint64_t seed = 20261101;
    const char *backend = "cpu", *csv = NULL;
    struct sl_backend *be = NULL;
    struct sl_secbuf *xbuf = NULL, *ybuf = NULL, *mbuf = NULL;
    struct sl_glm_block *blocks = NULL;
    const double **cols = NULL;
    struct sl_glm_fit *fit = NULL;
    double *times = NULL, xrow[256];
    int64_t p, q, nblocks;
    int rc = 1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--rows") == 0 && v)
            n = atoll(v), i++;
        else if (strcmp(a, "--cols") == 0 && v)
            k = atoi(v), i++;
        else if (strcmp(a, "--seed") == 0 && v)
            seed = strtoull(v, NULL, 10), i++;
        else if (strcmp(a, "--reps") == 0 && v)
            reps = atoi(v), i++;
        else if (strcmp(a, "--backend") == 0 && v)
            backend = v, i++;
        else if (strcmp(a, "--block") == 0 && v)
            block = atoll(v), i++;
        else if (strcmp(a, "--mask") == 0)
            with_mask = 1;
        else if (strcmp(a, "--csv") == 0 && v)
            csv = v, i++;
        else {
            fprintf(stderr,
                    "usage: bench_glm [--rows N] [--cols K] [--seed S] [--reps R] "
                    "[--backend B] [--block B] [--mask] [--csv FILE]\n");
            return 2;
        }
    }
    if (n < 1 || k < 1 || k > 255 || reps < 1 || block < 1) {
        fprintf(stderr, "bench_glm: rows, cols (1..255), reps and block must be positive\n");
        return 2;
    }
    g_rng = seed;
    if (csv)
        return write_csv(csv, n, k);

    p = k + 1;
    q = p + 1;
    nblocks = (n + block - 1) / block;
    if (sl_backend_get(backend, &be) != SL_OK ||
        sl_secbuf_create((size_t)(n * q) * sizeof(double), &xbuf) != SL_OK ||
        sl_secbuf_create((size_t)n * sizeof(double), &ybuf) != SL_OK ||
        sl_secbuf_create((size_t)n, &mbuf) != SL_OK) {
        fprintf(stderr, "bench_glm: %s\n", sl_error_message());
        goto cleanup;
    }
    blocks = calloc((size_t)nblocks, sizeof *blocks);
    cols = calloc((size_t)(nblocks * p), sizeof *cols);
    times = calloc((size_t)reps, sizeof *times);
    if (!blocks || !cols || !times)
        goto cleanup;
    for (int64_t b = 0; b < nblocks; b++) {
        int64_t r0 = b * block, nb = r0 + block <= n ? block : n - r0;
        double *x = (double *)xbuf->data + r0 * q, *y = (double *)ybuf->data + r0;
        for (int64_t i = 0; i < nb; i++) {
            y[i] = next_row(k, xrow);
            x[i] = 1;
            for (int j = 0; j < k; j++)
                x[(j + 1) * nb + i] = xrow[j];
        }
        memset((uint8_t *)mbuf->data + r0, 1, (size_t)nb);
        sl_bench_columns(x, nb, p, cols + b * p);
        blocks[b] = (struct sl_glm_block){nb, cols + b * p, x + p * nb, y, NULL, NULL,
                                          with_mask ? (uint8_t *)mbuf->data + r0 : NULL};
    }

    printf("glm fit: %lld rows x %lld coefficients (logistic), %lld blocks of %lld rows%s, "
           "backend %s\n",
           (long long)n, (long long)p, (long long)nblocks, (long long)block,
           with_mask ? " with a row mask" : "", backend);
    printf("kernels: %s\n", sl_kernels_config());
    for (int r = 0; r < reps; r++) {
        struct sl_glm_problem pr = {SL_GLM_BINOMIAL_LOGIT, p, true, false, nblocks, blocks, be,
                                    sl_glm_gather_self, NULL, 25, 1e-8, NULL, NULL};
        double t0 = sl_bench_now();
        sl_glm_fit_destroy(&fit);
        if (sl_glm_fit_run(&pr, &fit) != SL_OK) {
            fprintf(stderr, "bench_glm: %s\n", sl_error_message());
            goto cleanup;
        }
        times[r] = sl_bench_now() - t0;
    }
    {
        /* passes: the start (Gram of p+1 columns), one IRLS step per
         * iteration, and the null model's step on the intercept column */
        double passes = 2.0 + fit->iterations;
        double flops_pass = (double)n * ((double)(q * (q + 1)) + 2.0 * (double)p);
        double best, median;
        qsort(times, (size_t)reps, sizeof *times, cmp_double);
        best = times[0];
        median = times[reps / 2];
        printf("converged %s in %d iterations; deviance %.10g; beta[1] %.6f (true %.2f)\n",
               fit->converged ? "yes" : "no", fit->iterations, fit->deviance, fit->beta[1],
               true_beta(1));
        printf("compute time: best %.4f s, median %.4f s over %d runs (%.0f passes over "
               "%.0f MB of design)\n",
               best, median, reps, passes, (double)(n * p) * 8 / 1e6);
        printf("throughput: %.1f GFLOP/s (Gram and linear predictor), %.2f GB/s of design "
               "read\n",
               passes * flops_pass / best / 1e9, passes * (double)(n * p) * 8 / best / 1e9);
        printf("target 0.2 s for 1e6 x 21: %s (%.2fx the target)\n",
               best <= 0.2 ? "met" : "missed", best / 0.2);
        printf("RESULT glm_fit_seconds=%.4f iterations=%d\n", best, fit->iterations);
    }
    rc = 0;
cleanup:
    sl_glm_fit_destroy(&fit);
    free(blocks);
    free(cols);
    free(times);
    sl_secbuf_destroy(&xbuf);
    sl_secbuf_destroy(&ybuf);
    sl_secbuf_destroy(&mbuf);
    sl_backends_shutdown();
    return rc;
}
