/*
 * bench_events.c: throughput of event ingest (OMOP CDM tables as CSV, FHIR
 * Bulk Data NDJSON) and of the JSON tokenizer behind FHIR ingest, next to a
 * plain read of the same bytes measured in the same run on the same core.
 *
 *   bench_events [--rows N] [--dir DIR] [--keep]
 *
 * Writes N patients (default 1e5) with sluice-synth (found beside this
 * executable) as an OMOP folder and as a FHIR export, then, best of 3:
 *   - tokenizes every line of Observation.ndjson held in memory, against a
 *     reference pass that finds the same line breaks and sums every byte
 *     ("tokenize / read" is the share of a plain read the tokenizer reaches);
 *   - ingests each folder with its demo feature spec (demo/omop-features.yaml,
 *     demo/fhir-features.yaml) into a fresh cohort: MB/s of input and
 *     events/s, on one core.
 * Files go to a fresh directory under DIR (default $TMPDIR or /tmp) and are
 * removed at the end unless --keep is given.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "perf/bench_synth.h"
#include "perf/bench_util.h"
#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "engine/core/status.h"
#include "io/json_impl.h"
#include "io/keys.h"
#include "io/omop.h"

#ifndef SL_DEMO_DIR
#error "SL_DEMO_DIR must name the project's demo/ folder"
#endif

/* Runs sluice-synth with --rows rows --MODE dir (made here). */
static sl_status run_synth(const char *mode, const char *dir, long long rows)
{
    sl_status st = SL_OK;
    char nrows[32], flag[16];
    snprintf(nrows, sizeof nrows, "%lld", rows);
    snprintf(flag, sizeof flag, "--%s", mode);
    SL_CHECK(mkdir(dir, 0700) == 0, SL_ERR_IO, "%s: %s", dir, strerror(errno));
    char *args[] = {NULL, "--rows", nrows, "--seed", "1", flag, (char *)dir, NULL};
    SL_CALL(sl_bench_synth(args));
cleanup:
    return st;
}

static int64_t tree_bytes;

static int add_size(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (type == FTW_F)
        tree_bytes += (int64_t)sb->st_size;
    return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

/* Bytes of the files under dir. */
static int64_t dir_bytes(const char *dir)
{
    tree_bytes = 0;
    nftw(dir, add_size, 16, FTW_PHYS);
    return tree_bytes;
}

/* Reads the whole file into a secbuf. */
static sl_status slurp(const char *path, struct sl_secbuf **out, size_t *len)
{
    sl_status st = SL_OK;
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    SL_CHECK(fd >= 0 && fstat(fd, &sb) == 0, SL_ERR_IO, "%s: %s", path, strerror(errno));
    SL_CALL(sl_secbuf_create((size_t)sb.st_size + 1, out));
    *len = 0;
    while (*len < (size_t)sb.st_size) {
        ssize_t k = read(fd, (char *)(*out)->data + *len, (size_t)sb.st_size - *len);
        SL_CHECK(k > 0, SL_ERR_IO, "%s: read failed", path);
        *len += (size_t)k;
    }
cleanup:
    if (fd >= 0)
        close(fd);
    return st;
}

/* Best of 3: seconds to tokenize every line of text[0, n), and of the
 * reference pass (line breaks found, every byte summed). */
static sl_status tokenize(const char *text, size_t n, double *tok_s, double *read_s,
                          int64_t *lines)
{
    sl_status st = SL_OK;
    struct sl_json js = {0};
    volatile uint64_t sink = 0;

    *tok_s = *read_s = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = sl_bench_now();
        int64_t k = 0;
        for (size_t i = 0; i < n;) {
            const char *nl = memchr(text + i, '\n', n - i);
            size_t end = nl ? (size_t)(nl - text) : n, off;
            const char *what;
            if (end > i)
                SL_CALL(sl_json_parse(&js, text + i, end - i, &off, &what));
            k++;
            i = end + 1;
        }
        double t1 = sl_bench_now();
        uint64_t sum = 0;
        for (size_t i = 0; i < n;) {
            const char *nl = memchr(text + i, '\n', n - i);
            size_t end = nl ? (size_t)(nl - text) : n;
            for (size_t b = i; b < end; b++)
                sum += (unsigned char)text[b];
            i = end + 1;
        }
        sink = sink + sum;
        double t2 = sl_bench_now();
        *tok_s = t1 - t0 < *tok_s ? t1 - t0 : *tok_s;
        *read_s = t2 - t1 < *read_s ? t2 - t1 : *read_s;
        *lines = k;
    }
cleanup:
    sl_json_free(&js);
    return st;
}

/* Best of 3 wall seconds of one ingest of dir with spec into out. */
static sl_status ingest(int fhir, const char *dir, const char *spec, const char *out,
                        const struct sl_kek *kek, double *best, int64_t *events)
{
    sl_status st = SL_OK;
    *best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        struct sl_omop_opts o = {.dir = dir, .spec = spec, .out = out, .kek = kek};
        struct sl_omop_stats stats = {0};
        unlink(out);
        double t0 = sl_bench_now();
        SL_CALL(fhir ? sl_fhir_ingest(&o, &stats) : sl_omop_ingest(&o, &stats));
        double t = sl_bench_now() - t0;
        *best = t < *best ? t : *best;
        *events = stats.events;
        sl_omop_stats_clear(&stats);
    }
cleanup:
    unlink(out);
    return st;
}

int main(int argc, char **argv)
{
    sl_status st = SL_OK;
    long long rows = 100000;
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    int keep = 0;
    char work[PATH_MAX], omop[PATH_MAX + 8], fhir[PATH_MAX + 8], obs[PATH_MAX + 32],
        out[PATH_MAX + 16], kekfile[PATH_MAX + 16];
    struct sl_kek *kek = NULL;
    struct sl_secbuf *text = NULL;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc) {
            rows = atoll(argv[++i]);
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            base = argv[++i];
        } else if (strcmp(argv[i], "--keep") == 0) {
            keep = 1;
        } else {
            fprintf(stderr, "usage: bench_events [--rows N] [--dir DIR] [--keep]\n");
            return 2;
        }
    }
    if (rows < 1) {
        fprintf(stderr, "bench_events: --rows must be positive\n");
        return 2;
    }
    snprintf(work, sizeof work, "%s/sl-bench-events-XXXXXX", base);
    if (!mkdtemp(work)) {
        fprintf(stderr, "bench_events: %s: %s\n", work, strerror(errno));
        return 1;
    }
    snprintf(omop, sizeof omop, "%s/omop", work);
    snprintf(fhir, sizeof fhir, "%s/fhir", work);
    snprintf(obs, sizeof obs, "%s/Observation.ndjson", fhir);
    snprintf(out, sizeof out, "%s/cohort.h5", work);
    snprintf(kekfile, sizeof kekfile, "%s/centre.kek", work);
    SL_CALL(sl_process_harden());
    SL_CALL(sl_kek_generate_file(kekfile));
    SL_CALL(sl_kek_load(kekfile, &kek));
    printf("bench_events: %lld patients in %s\n", rows, work);
    SL_CALL(run_synth("omop", omop, rows));
    SL_CALL(run_synth("fhir", fhir, rows));

    size_t n = 0;
    double tok_s, read_s;
    int64_t lines;
    SL_CALL(slurp(obs, &text, &n));
    SL_CALL(tokenize(text->data, n, &tok_s, &read_s, &lines));
    printf("tokenize Observation.ndjson: %lld lines, %.0f MB: %.0f MB/s; read %.0f MB/s; "
           "tokenize / read %.2f\n",
           (long long)lines, (double)n / 1e6, (double)n / tok_s / 1e6, (double)n / read_s / 1e6,
           read_s / tok_s);
    sl_secbuf_destroy(&text);

    const char *specs[2] = {SL_DEMO_DIR "/omop-features.yaml", SL_DEMO_DIR "/fhir-features.yaml"};
    const char *dirs[2] = {omop, fhir};
    for (int k = 0; k < 2; k++) {
        double best;
        int64_t events, bytes = dir_bytes(dirs[k]);
        SL_CALL(ingest(k, dirs[k], specs[k], out, kek, &best, &events));
        printf("ingest --%s: %.0f MB, %lld events: %.2f s, %.0f MB/s, %.2fe6 events/s\n",
               k ? "fhir" : "omop", (double)bytes / 1e6, (long long)events, best,
               (double)bytes / best / 1e6, (double)events / best / 1e6);
    }
cleanup:
    if (st != SL_OK)
        fprintf(stderr, "bench_events: %s\n", sl_error_message());
    sl_secbuf_destroy(&text);
    sl_kek_destroy(&kek);
    if (!keep)
        nftw(work, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return st == SL_OK ? 0 : 1;
}
