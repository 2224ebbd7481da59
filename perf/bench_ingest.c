/*
 * bench_ingest.c: throughput of CSV ingest and of reading (decrypting) the
 * resulting cohort, next to OpenSSL's own AES-256-GCM speed measured in the
 * same run on the same core.
 *
 *   bench_ingest [--rows N] [--dir DIR] [--keep]
 *
 * Generates N patients (default 1e7) x 20 columns with sluice-synth (found
 * beside this executable; 12 realistic columns plus x1..x8), ingests the CSV
 * (both passes, schema inferred), and the same CSV compressed with `gzip -1`
 * (the reader inflates it as it goes, both passes; the ratio to the plain
 * ingest's time is the price of compression), then opens the cohort and decrypts every
 * chunk of every column with sl_frame_load, best of 3, once on one thread
 * and once on all OpenMP threads (chunks are opened in parallel). The
 * reference is EVP AES-256-GCM decryption (and encryption) of 64 KiB blocks
 * on one core, so "read on 1 thread / OpenSSL" is the share of the AES-GCM
 * figure the cohort reader reaches per core (the design target is 80% or
 * more). Every load maps, locks and zeroes fresh secret memory for the frame
 * (not counted separately: it is part of every job's load).
 * Files go to a fresh directory under DIR (default $TMPDIR or /tmp) and are
 * removed at the end unless --keep is given.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "perf/bench_synth.h"
#include "perf/bench_util.h"
#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "engine/core/status.h"
#include "io/cohort.h"
#include "io/frame.h"
#include "io/ingest.h"
#include "io/keys.h"

#define BENCH_WIDE 8 /* 12 synth columns + 8 = 20 */
#define BENCH_BLOCK (64 * 1024)

/* Runs sluice-synth to write `rows` rows to csv. */
static sl_status run_synth(const char *csv, long long rows)
{
    char nrows[32], wide[16];
    snprintf(nrows, sizeof nrows, "%lld", rows);
    snprintf(wide, sizeof wide, "%d", BENCH_WIDE);
    char *args[] = {NULL, "--rows", nrows, "--seed", "1", "--wide", wide, "--out", (char *)csv,
                    NULL};
    return sl_bench_synth(args);
}

/* OpenSSL AES-256-GCM over 64 KiB blocks for about `seconds`: bytes/s of
 * decryption (tag checked) and of encryption. */
static sl_status openssl_gcm(double seconds, double *dec_bps, double *enc_bps)
{
    sl_status st = SL_OK;
    unsigned char key[32], iv[12], tag[16];
    unsigned char *in = NULL, *ct = NULL, *out = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    EVP_CIPHER *aes = NULL;
    int len = 0;

    in = sl_malloc(BENCH_BLOCK);
    ct = sl_malloc(BENCH_BLOCK);
    out = sl_malloc(BENCH_BLOCK);
    ctx = EVP_CIPHER_CTX_new();
    aes = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    SL_CHECK(in && ct && out && ctx && aes, SL_ERR_NOMEM, "out of memory");
    SL_CHECK(RAND_bytes(key, sizeof key) == 1 && RAND_bytes(iv, sizeof iv) == 1 &&
                 RAND_bytes(in, BENCH_BLOCK) == 1,
             SL_ERR_CRYPTO, "RAND_bytes failed");
    for (int mode = 0; mode < 2; mode++) {
        int64_t blocks = 0;
        double t0 = sl_bench_now(), t = t0;
        while (t - t0 < seconds) {
            for (int k = 0; k < 64; k++) {
                if (mode == 0) {
                    SL_CHECK(EVP_EncryptInit_ex2(ctx, aes, key, iv, NULL) == 1 &&
                                 EVP_EncryptUpdate(ctx, ct, &len, in, BENCH_BLOCK) == 1 &&
                                 EVP_EncryptFinal_ex(ctx, ct + len, &len) == 1 &&
                                 EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1,
                             SL_ERR_CRYPTO, "AES-GCM encryption failed");
                } else {
                    SL_CHECK(EVP_DecryptInit_ex2(ctx, aes, key, iv, NULL) == 1 &&
                                 EVP_DecryptUpdate(ctx, out, &len, ct, BENCH_BLOCK) == 1 &&
                                 EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1 &&
                                 EVP_DecryptFinal_ex(ctx, out + len, &len) == 1,
                             SL_ERR_CRYPTO, "AES-GCM decryption failed");
                }
                blocks++;
            }
            t = sl_bench_now();
        }
        double bps = (double)blocks * BENCH_BLOCK / (t - t0);
        if (mode == 0)
            *enc_bps = bps;
        else
            *dec_bps = bps;
    }
    SL_CHECK(memcmp(in, out, BENCH_BLOCK) == 0, SL_ERR_INTERNAL, "AES-GCM round trip differs");
cleanup:
    EVP_CIPHER_free(aes);
    EVP_CIPHER_CTX_free(ctx);
    sl_free(in);
    sl_free(ct);
    sl_free(out);
    return st;
}

/* Opens, unlocks and decrypts every chunk of every column into a frame, and
 * times that (seconds in *t_read) apart from wiping and freeing the frame
 * (*t_wipe). */
static sl_status read_all(const char *path, const struct sl_kek *kek, int64_t *bytes,
                          int64_t *rows, double *t_read, double *t_wipe)
{
    sl_status st = SL_OK;
    struct sl_cohort *c = NULL;
    struct sl_frame *f = NULL;
    int *cols = NULL;
    int64_t *chunks = NULL, nchunks = 0;
    double t0 = sl_bench_now();

    SL_CALL(sl_cohort_open(path, &c));
    SL_CALL(sl_cohort_unlock(c, kek));
    int ncols = sl_cohort_ncols(c);
    cols = sl_malloc((size_t)ncols * sizeof *cols);
    SL_CHECK(cols, SL_ERR_NOMEM, "out of memory");
    for (int j = 0; j < ncols; j++)
        cols[j] = j;
    SL_CALL(sl_chunks_assign(sl_cohort_nchunks(c), 0, 1, SL_ASSIGN_CONTIGUOUS, &chunks, &nchunks));
    SL_CALL(sl_frame_load(c, cols, ncols, chunks, nchunks, &f));
    *t_read = sl_bench_now() - t0;
    *rows = f->nrows;
    *bytes = 0;
    for (int j = 0; j < ncols; j++)
        *bytes += f->nrows * (int64_t)sl_coltype_size(sl_cohort_col(c, j)->type);
    t0 = sl_bench_now();
    sl_frame_destroy(&f);
    *t_wipe = sl_bench_now() - t0;
cleanup:
    sl_frame_destroy(&f);
    sl_free(chunks);
    sl_free(cols);
    sl_cohort_close(&c);
    return st;
}

static void usage(FILE *f)
{
    fputs("usage: bench_ingest [--rows N] [--dir DIR] [--keep]\n"
          "  N patients x 20 columns (default 10000000); files in a fresh directory under DIR\n",
          f);
}

int main(int argc, char **argv)
{
    sl_status st = SL_OK;
    long long rows = 10000000;
    const char *base = getenv("TMPDIR");
    int keep = 0;
    char dir[PATH_MAX], csv[PATH_MAX + 32], out[PATH_MAX + 32], kekp[PATH_MAX + 32];
    char gz[PATH_MAX + 32], outgz[PATH_MAX + 32], cmd[3 * PATH_MAX + 128];
    int64_t csv_bytes;
    struct sl_kek *kek = NULL;
    struct sl_ingest_stats stats;
    struct stat sb;

    if (!base || !base[0])
        base = "/tmp";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc) {
            char *end;
            rows = strtoll(argv[++i], &end, 10);
            if (*end || rows < 1) {
                fprintf(stderr, "bench_ingest: --rows expects a positive integer\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            base = argv[++i];
        } else if (strcmp(argv[i], "--keep") == 0) {
            keep = 1;
        } else {
            usage(stderr);
            return 2;
        }
    }
    snprintf(dir, sizeof dir, "%s/sluice-bench-ingest-XXXXXX", base);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "bench_ingest: cannot create a directory under %s: %s\n", base,
                strerror(errno));
        return 1;
    }
    snprintf(csv, sizeof csv, "%s/bench.csv", dir);
    snprintf(out, sizeof out, "%s/bench.h5", dir);
    snprintf(kekp, sizeof kekp, "%s/bench.kek", dir);
    snprintf(gz, sizeof gz, "%s/bench-gz.csv.gz", dir);
    snprintf(outgz, sizeof outgz, "%s/bench-gz.h5", dir);

    printf("bench_ingest: %lld rows x %d columns in %s\n", rows, 12 + BENCH_WIDE, dir);
    double t0 = sl_bench_now();
    SL_CALL(run_synth(csv, rows));
    double t_gen = sl_bench_now() - t0;
    SL_CHECK(stat(csv, &sb) == 0, SL_ERR_IO, "%s: %s", csv, strerror(errno));
    csv_bytes = (int64_t)sb.st_size;
    printf("  generate  %8.2f s  %10.0f rows/s  %6.3f GB/s of CSV (%.2f GB)\n", t_gen,
           (double)rows / t_gen, (double)sb.st_size / t_gen * 1e-9, (double)sb.st_size * 1e-9);

    SL_CALL(sl_kek_generate_file(kekp));
    SL_CALL(sl_kek_load(kekp, &kek));

    struct sl_ingest_opts o = {csv, out, kek, NULL, NULL, 0, false};
    t0 = sl_bench_now();
    SL_CALL(sl_ingest(&o, &stats));
    double t_ing = sl_bench_now() - t0;
    SL_CHECK(stat(out, &sb) == 0, SL_ERR_IO, "%s: %s", out, strerror(errno));
    int64_t plain = 0, nread = 0;

    snprintf(cmd, sizeof cmd, "gzip -1 -c '%s' > '%s'", csv, gz);
    SL_CHECK(system(cmd) == 0, SL_ERR_IO, "%s: gzip failed", csv);
    struct stat gsb;
    SL_CHECK(stat(gz, &gsb) == 0, SL_ERR_IO, "%s: %s", gz, strerror(errno));
    struct sl_ingest_stats gstats;
    struct sl_ingest_opts og = {gz, outgz, kek, NULL, NULL, 0, false};
    t0 = sl_bench_now();
    SL_CALL(sl_ingest(&og, &gstats));
    double t_gz = sl_bench_now() - t0;

    /* a first read warms the page cache; then best of 3 on one thread and
     * best of 3 on all threads */
    double t_read1 = 1e30, t_readn = 1e30, t_wipe = 0, t;
    int nthreads = 1;
#ifdef _OPENMP
    nthreads = omp_get_max_threads();
#endif
    SL_CALL(read_all(out, kek, &plain, &nread, &t, &t_wipe));
    for (int rep = 0; rep < 6; rep++) {
        int one = rep < 3;
#ifdef _OPENMP
        omp_set_num_threads(one ? 1 : nthreads);
#endif
        SL_CALL(read_all(out, kek, &plain, &nread, &t, &t_wipe));
        if (one && t < t_read1)
            t_read1 = t;
        if (!one && t < t_readn)
            t_readn = t;
    }
    printf("  ingest    %8.2f s  %10.0f rows/s  %6.3f GB/s of CSV, %6.3f GB/s of values "
           "(%d columns, 2 passes)\n",
           t_ing, (double)rows / t_ing, (double)stats.bytes_in / t_ing * 1e-9,
           (double)plain / t_ing * 1e-9, stats.ncols);
    printf("  ingest gz %8.2f s  %10.0f rows/s  %6.3f GB/s of CSV text from %.2f GB of gzip -1 "
           "(%.2fx the plain ingest's time)\n",
           t_gz, (double)rows / t_gz, (double)csv_bytes / t_gz * 1e-9, (double)gsb.st_size * 1e-9,
           t_gz / t_ing);
    printf("  read      %8.2f s  %10.0f rows/s  %6.3f GB/s of decrypted values on 1 thread "
           "(%.2f GB; file %.2f GB; open + unlock + sl_frame_load)\n",
           t_read1, (double)rows / t_read1, (double)plain / t_read1 * 1e-9, (double)plain * 1e-9,
           (double)sb.st_size * 1e-9);
    printf("  read      %8.2f s  %10.0f rows/s  %6.3f GB/s on %d threads (%.2fx one thread)\n",
           t_readn, (double)rows / t_readn, (double)plain / t_readn * 1e-9, nthreads,
           t_read1 / t_readn);
    printf("  wipe      %8.2f s  (sl_frame_destroy of the decrypted frame, not in read)\n",
           t_wipe);

    double dec = 0, enc = 0;
    SL_CALL(openssl_gcm(1.0, &dec, &enc));
    printf("  openssl   AES-256-GCM, EVP, 64 KiB blocks, one core: decrypt %.3f GB/s, "
           "encrypt %.3f GB/s\n",
           dec * 1e-9, enc * 1e-9);
    printf("  read on 1 thread / openssl decrypt = %.2f\n", (double)plain / t_read1 / dec);
cleanup:
    sl_kek_destroy(&kek);
    if (!keep) {
        unlink(csv);
        unlink(out);
        unlink(kekp);
        unlink(gz);
        unlink(outgz);
        char schema[PATH_MAX + 32];
        snprintf(schema, sizeof schema, "%s/bench.schema.yaml", dir);
        unlink(schema);
        snprintf(schema, sizeof schema, "%s/bench-gz.schema.yaml", dir);
        unlink(schema);
        rmdir(dir);
    }
    if (st != SL_OK) {
        fprintf(stderr, "bench_ingest: %s\n", sl_error_message());
        return 1;
    }
    return 0;
}
