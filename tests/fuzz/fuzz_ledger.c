/*
 * fuzz_ledger.c: fuzz target for the release ledger reader (engine/ledger.c),
 * the file that remembers what was released so that differencing attacks
 * across jobs can be refused; it must never be trusted unchecked.
 *
 * The first byte picks a mode; the rest is a ledger file, placed where the
 * ledger of cohort "c0ffee" without a project lives
 * (<dir>/release/c0ffee/none.json, in a scratch directory).
 *  mode 0 (format 2, MAC-protected): sl_ledger_open and sl_ledger_check_file
 *    must refuse it (the target never computes a MAC, so a fuzzed file that
 *    opens would be a MAC bypass), without crashing on any shape of JSON.
 *  mode 1 (format 1, adopt): sl_ledger_adopt takes an unauthenticated
 *    format-1 ledger (the operator vouches for it). When it is adopted, its
 *    entries are trusted from then on: sl_ledger_conflict is run against a
 *    few entries (two for the sliver check: intervals, a filter's bounds),
 *    one is recorded and a job forgotten, the ledger is
 *    committed, and it must then open with sl_ledger_open, hold as many
 *    entries, and pass sl_ledger_check_file at sequence 2.
 */
#define _XOPEN_SOURCE 700
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "engine/core/status.h"
#include "engine/ledger.h"

#include "fuzz_workdir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_dir[4200], g_file[4200];
static const unsigned char g_key[32] = {9,  8,  7,  6,  5,  4,  3,  2,  1,  0,  1,
                                        2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,
                                        13, 14, 15, 16, 17, 18, 19, 20, 21, 22};

static void exercise(struct sl_ledger *l)
{
    static const char *const entries[] = {
        "{\"job_id\":\"new\",\"output\":\"o\",\"filter\":\"age > 3\",\"population\":5,"
        "\"dimensions\":[{\"name\":\"sex\",\"levels\":[\"F\",\"M\"]}]}",
        "{\"job_id\":\"new\",\"output\":\"o\",\"filter\":\"\",\"population\":0,"
        "\"dimensions\":[]}",
        "{\"job_id\":\"new\",\"output\":\"o2\",\"filter\":\"\",\"population\":9223372036854775807,"
        "\"dimensions\":[{\"name\":\"sex\"},{\"name\":\"region\"}]}",
        "{\"job_id\":\"j1\",\"output\":\"o\",\"filter\":\"x\",\"population\":1,"
        "\"dimensions\":[{\"name\":\"a\"}]}",
        /* bands of age by sex, margins: the sliver check reads the ledger's intervals */
        "{\"job_id\":\"new\",\"output\":\"b\",\"filter\":\"\",\"population\":20,"
        "\"margins\":true,\"dimensions\":[{\"name\":\"sex\",\"levels\":[\"F\",\"M\","
        "\"Total\"]},{\"name\":\"age\",\"levels\":[\"<41\",\">=41\",\"Total\"],"
        "\"column\":\"age\",\"ends\":[[41,false]],\"upper\":[0,1,-1]}],"
        "\"cells\":[4,6,10,5,5,10,9,11,20]}",
        /* a filter's bounds of age: the sliver check reads the ranges */
        "{\"job_id\":\"new\",\"output\":\"r\",\"filter\":\"age >= 40\",\"conjuncts\":"
        "[{\"text\":\"age >= 40\",\"bounds\":\"age\"}],\"population\":20,\"dimensions\":"
        "[{\"name\":\"sex\",\"levels\":[\"F\",\"M\"]}],\"cells\":[10,10],\"ranges\":"
        "[{\"column\":\"age\",\"from\":[40,false],\"to\":null}]}",
    };
    for (size_t k = 0; k < sizeof entries / sizeof entries[0]; k++) {
        json_t *e = json_loads(entries[k], 0, NULL);
        if (!e)
            abort();
        const json_t *hit;
        char why[512];
        (void)sl_ledger_conflict(l, e, 10, &hit, why, sizeof why);
        (void)sl_ledger_conflict(l, e, INT64_MAX, &hit, why, sizeof why);
        if (k == 0 && sl_ledger_record(l, e) != SL_OK)
            abort();
        json_decref(e);
    }
    sl_ledger_forget(l, "j1");
    json_t *state = sl_ledger_state(l);
    json_decref(state);
    (void)sl_ledger_size(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_dir[0]) {
        char release[4200], cohort[4200];
        fuzz_workdir_file("ledgers", g_dir, sizeof g_dir);
        fuzz_workdir_file("ledgers/release", release, sizeof release);
        fuzz_workdir_file("ledgers/release/c0ffee", cohort, sizeof cohort);
        fuzz_workdir_file("ledgers/release/c0ffee/none.json", g_file, sizeof g_file);
        if (mkdir(g_dir, 0700) != 0 || mkdir(release, 0700) != 0 || mkdir(cohort, 0700) != 0)
            abort();
    }
    if (size < 1)
        return 0;
    fuzz_put(g_file, data + 1, size - 1);
    struct sl_ledger *l = NULL;
    int64_t seq = 0;
    char mac[65];
    if (data[0] % 2 == 0) {
        if (sl_ledger_open(g_dir, "c0ffee", NULL, g_key, &l) == SL_OK) {
            fprintf(stderr, "a fuzzed ledger opened without a valid MAC\n");
            abort();
        }
        if (l)
            abort();
        sl_error_clear();
        if (sl_ledger_check_file(g_file, g_key, &seq, mac) == SL_OK) {
            fprintf(stderr, "a fuzzed ledger passed sl_ledger_check_file\n");
            abort();
        }
    } else if (sl_ledger_adopt(g_dir, "release/c0ffee/none.json", g_key, &l) == SL_OK) {
        exercise(l);
        if (sl_ledger_commit(l) != SL_OK) {
            fprintf(stderr, "commit of an adopted ledger failed: %s\n", sl_error_message());
            abort();
        }
        int64_t n = sl_ledger_size(l);
        sl_ledger_close(&l);
        if (sl_ledger_open(g_dir, "c0ffee", NULL, g_key, &l) != SL_OK) {
            fprintf(stderr, "an adopted and committed ledger does not open: %s\n",
                    sl_error_message());
            abort();
        }
        if (sl_ledger_size(l) != n)
            abort();
        exercise(l);
        sl_ledger_close(&l);
        /* adopt commits (sequence 1), then the harness commits (2) */
        if (sl_ledger_check_file(g_file, g_key, &seq, mac) != SL_OK || seq != 2) {
            fprintf(stderr, "an adopted ledger fails sl_ledger_check_file: %s\n",
                    sl_error_message());
            abort();
        }
    }
    sl_ledger_close(&l);
    unlink(g_file);
    sl_error_clear();
    return 0;
}
