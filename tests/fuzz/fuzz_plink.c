/*
 * fuzz_plink.c: fuzz target for PLINK ingest (io/plink.c): the .fam and
 * .bim readers, the variant list and the .bed checks and decoding.
 *
 * The first byte picks what the rest is: 0 mod 4, chip.fam; 1, chip.bim;
 * 2, chip.bed; 3, the variant list; the other files are fixed (3 samples, 3
 * variants). A failed ingest leaves no cohort behind. A cohort that was
 * written must open, unlock, verify, hold one row per sample and the columns
 * the stats report, and count no more missing calls than it has calls.
 */
#define _XOPEN_SOURCE 700
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/core/status.h"
#include "io/cohort.h"
#include "io/keys.h"
#include "io/plink.h"

#include "fuzz_workdir.h"
#include "fuzz_cohort.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_prefix[4200], g_out[4200], g_list[4200];

static const char kFam[] = "f1 s1 0 0 1 1\nf2 s2 0 0 2 2\nf3 s3 0 0 0 -9\n";
static const char kBim[] = "1 rs1 0 100 A G\n1 rs2 0 200 C T\n2 rs3 0.5 300 G A\n";
static const unsigned char kBed[] = {0x6c, 0x1b, 0x01, 0x1b, 0x24, 0x3f};
static const char kList[] = "# taken\nrs3\nrs1\n";

static void put_file(const char *name, const void *data, size_t n)
{
    char path[4200];
    fuzz_workdir_file(name, path, sizeof path);
    fuzz_put(path, data, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_prefix[0]) {
        fuzz_workdir_file("chip", g_prefix, sizeof g_prefix);
        fuzz_workdir_file("cohort.h5", g_out, sizeof g_out);
        fuzz_workdir_file("list.txt", g_list, sizeof g_list);
    }
    if (size < 1)
        return 0;
    int what = data[0] % 4;
    const void *rest = data + 1;
    unlink(g_out);
    put_file("chip.fam", what == 0 ? rest : kFam, what == 0 ? size - 1 : sizeof kFam - 1);
    put_file("chip.bim", what == 1 ? rest : kBim, what == 1 ? size - 1 : sizeof kBim - 1);
    put_file("chip.bed", what == 2 ? rest : kBed, what == 2 ? size - 1 : sizeof kBed);
    put_file("list.txt", what == 3 ? rest : kList, what == 3 ? size - 1 : sizeof kList - 1);

    struct sl_plink_opts o;
    struct sl_plink_stats stats;
    memset(&o, 0, sizeof o);
    memset(&stats, 0, sizeof stats);
    o.prefix = g_prefix;
    o.variants = data[0] & 4 ? g_list : NULL;
    o.out = g_out;
    o.kek = fuzz_kek();
    o.chunk_rows = 2;
    sl_status st = sl_plink_ingest(&o, &stats);
    if (st != SL_OK) {
        fuzz_refused("PLINK ingest", g_out);
        return 0;
    }
    if (stats.samples < 1 || stats.ncols != stats.variants + 3 ||
        stats.missing_calls > stats.samples * stats.variants) {
        fprintf(stderr, "%lld samples, %d variants, %d columns, %lld missing calls\n",
                (long long)stats.samples, stats.variants, stats.ncols,
                (long long)stats.missing_calls);
        abort();
    }
    fuzz_check_cohort(g_out, stats.samples, stats.ncols);
    unlink(g_out);
    sl_error_clear();
    return 0;
}
