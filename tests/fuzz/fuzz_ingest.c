/*
 * fuzz_ingest.c: fuzz target for CSV ingest (io/ingest.c), which turns an
 * operator's export into an encrypted cohort: the CSV reader, the schema or
 * its inference, the value parsers and the cohort writer together.
 *
 * The first byte picks the schema: even, a fixed small schema file
 * (patient_id id, age integer 0..120, sex categorical F/M, bmi real, seen
 * date, note categorical without fixed levels); odd, none (inference, which
 * writes <out>.schema.yaml). The rest is the CSV, ingested in chunks of 3
 * rows. A failed ingest leaves no cohort and no schema behind. A cohort that
 * was written must open, unlock with the key, have the rows and columns the
 * stats report and verify (every chunk reads back), and an inferred schema
 * must load back with sl_schema_load. Files live in a scratch directory.
 */
#define _XOPEN_SOURCE 700
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/core/status.h"
#include "io/cohort.h"
#include "io/ingest.h"
#include "io/keys.h"
#include "io/schema.h"

#include "fuzz_workdir.h"
#include "fuzz_cohort.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_csv[4200], g_out[4200], g_schema[4200], g_inferred[4200];

static const char kSchema[] = "sluice_schema: 1\n"
                              "columns:\n"
                              "  - {name: patient_id, type: id, class: identifier}\n"
                              "  - {name: age, type: integer, class: quasi, lower: 0, upper: 120}\n"
                              "  - {name: sex, type: categorical, class: quasi, levels: [F, M]}\n"
                              "  - {name: bmi, type: real, class: sensitive}\n"
                              "  - {name: seen, type: date, class: quasi}\n"
                              "  - {name: note, type: categorical, class: other}\n";

static void init(void)
{
    fuzz_workdir_file("export.csv", g_csv, sizeof g_csv);
    fuzz_workdir_file("cohort.h5", g_out, sizeof g_out);
    fuzz_workdir_file("given.schema.yaml", g_schema, sizeof g_schema);
    fuzz_workdir_file("cohort.schema.yaml", g_inferred, sizeof g_inferred);
    fuzz_put(g_schema, kSchema, sizeof kSchema - 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_csv[0])
        init();
    if (size < 1)
        return 0;
    int infer = data[0] & 1;
    unlink(g_out);
    unlink(g_inferred);
    fuzz_put(g_csv, data + 1, size - 1);

    struct sl_ingest_opts o;
    struct sl_ingest_stats stats;
    memset(&o, 0, sizeof o);
    memset(&stats, 0, sizeof stats);
    o.in = g_csv;
    o.out = g_out;
    o.kek = fuzz_kek();
    o.schema_path = infer ? NULL : g_schema;
    o.chunk_rows = 3; /* several chunks even for small inputs */
    sl_status st = sl_ingest(&o, &stats);
    if (st != SL_OK) {
        fuzz_refused("ingest", g_inferred);
        fuzz_refused("ingest", g_out);
        return 0;
    }
    fuzz_check_cohort(g_out, stats.rows, stats.ncols);
    if (infer) {
        struct sl_schema *s = NULL;
        if (sl_schema_load(g_inferred, &s) != SL_OK) {
            fprintf(stderr, "inferred schema does not load back: %s\n", sl_error_message());
            abort();
        }
        if (s->ncols != stats.ncols)
            abort();
        sl_schema_destroy(&s);
    }
    unlink(g_out);
    unlink(g_inferred);
    sl_error_clear();
    return 0;
}
