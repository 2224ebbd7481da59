/*
 * fuzz_cohort.h: what the ingest fuzz targets (CSV, OMOP, FHIR, PLINK) share:
 * a centre key made once per process in the scratch directory, and the two
 * properties every ingest must keep: a refused input leaves no cohort
 * behind, and a written cohort opens with the key, holds the rows and
 * columns the ingest reported and verifies (every chunk authenticates); and
 * for the event ingests (OMOP, FHIR) running them and checking what they
 * wrote.
 * Include after fuzz_workdir.h, from the target's only source file.
 */
#ifndef SL_TESTS_FUZZ_COHORT_H
#define SL_TESTS_FUZZ_COHORT_H

#include <stdint.h>

#include "engine/core/status.h"
#include "io/cohort.h"
#include "io/keys.h"
#include "io/omop.h"

static struct sl_kek *fuzz_kek_loaded;

static inline void fuzz_kek_free(void)
{
    sl_kek_destroy(&fuzz_kek_loaded);
}

/* The process's centre key (centre.kek in the scratch directory). */
static inline const struct sl_kek *fuzz_kek(void)
{
    if (!fuzz_kek_loaded) {
        char path[4200];
        fuzz_workdir_file("centre.kek", path, sizeof path);
        if (sl_kek_generate_file(path) != SL_OK || sl_kek_load(path, &fuzz_kek_loaded) != SL_OK) {
            fprintf(stderr, "kek: %s\n", sl_error_message());
            abort();
        }
        atexit(fuzz_kek_free);
    }
    return fuzz_kek_loaded;
}

/* After a refused ingest (what: "OMOP ingest"): aborts if `out` exists. */
static inline void fuzz_refused(const char *what, const char *out)
{
    struct stat sb;
    if (stat(out, &sb) == 0) {
        fprintf(stderr, "%s failed (%s) but left output behind\n", what, sl_error_message());
        abort();
    }
    sl_error_clear();
}

/* After an ingest that wrote `out`: aborts unless it opens with the key,
 * has `rows` rows and `ncols` columns, and verifies. */
static inline void fuzz_check_cohort(const char *out, int64_t rows, int ncols)
{
    struct sl_cohort *c = NULL;
    if (sl_cohort_open(out, &c) != SL_OK || sl_cohort_unlock(c, fuzz_kek()) != SL_OK) {
        fprintf(stderr, "ingested cohort does not open: %s\n", sl_error_message());
        abort();
    }
    if (sl_cohort_nrows(c) != rows || sl_cohort_ncols(c) != ncols) {
        fprintf(stderr, "ingested cohort has %lld rows x %d columns; the ingest reported %lld x %d\n",
                (long long)sl_cohort_nrows(c), sl_cohort_ncols(c), (long long)rows, ncols);
        abort();
    }
    if (sl_cohort_verify(c) != SL_OK) {
        fprintf(stderr, "ingested cohort does not verify: %s\n", sl_error_message());
        abort();
    }
    sl_cohort_close(&c);
}

/* Per-feature counts of persons with a value: each within 0..persons. */
static inline void fuzz_check_present(const int64_t *present, int n, int64_t persons)
{
    for (int i = 0; i < n; i++)
        if (present[i] < 0 || present[i] > persons) {
            fprintf(stderr, "feature %d: %lld persons with a value of %lld\n", i + 1,
                    (long long)present[i], (long long)persons);
            abort();
        }
}

/* An event ingest (sl_omop_ingest or sl_fhir_ingest; `what` names it) of
 * folder `dir` with the spec file `spec` into `out`, 2 rows a chunk.
 * Returns 0 after a refusal (checked: nothing left behind), else 1 with
 * *stats filled; the caller checks the persons, then fuzz_events_done. */
static inline int fuzz_events_run(sl_status (*ingest)(const struct sl_omop_opts *,
                                                      struct sl_omop_stats *),
                                  const char *what, const char *dir, const char *spec,
                                  const char *out, struct sl_omop_stats *stats)
{
    struct sl_omop_opts o;
    memset(&o, 0, sizeof o);
    memset(stats, 0, sizeof *stats);
    o.dir = dir;
    o.spec = spec;
    o.out = out;
    o.kek = fuzz_kek();
    o.chunk_rows = 2;
    if (ingest(&o, stats) != SL_OK) {
        fuzz_refused(what, out);
        return 0;
    }
    return 1;
}

/* After an event ingest wrote `out`: the cohort checks (fuzz_check_cohort,
 * fuzz_check_present), then the stats are freed and the cohort removed. */
static inline void fuzz_events_done(const char *out, struct sl_omop_stats *stats)
{
    fuzz_check_cohort(out, stats->persons, stats->ncols);
    fuzz_check_present(stats->present, stats->ncols - 1, stats->persons);
    sl_omop_stats_clear(stats);
    unlink(out);
    sl_error_clear();
}

#endif
