/*
 * fuzz_schema.c: fuzz target for schema files (io/schema.c), the YAML an
 * operator writes (or `sluice ingest` infers) to describe a cohort's columns.
 *
 * Each input is written to schema.yaml in a scratch directory and loaded
 * with sl_schema_load. A load either fails (with SL_ERR_FORMAT, no schema,
 * and a message that starts with the path) or succeeds, and then:
 *   - sl_schema_check must accept the schema;
 *   - sl_schema_write must write it, and loading what it wrote must give the
 *     same schema back (names, types, classes, levels, bounds, id column,
 *     fixed levels), so every schema sluice accepts survives its own writer.
 * The corpus holds the '%' directive with a byte that is not UTF-8, on which
 * libfyaml 0.7.12 never returned before sluice checked the text first.
 */
#define _XOPEN_SOURCE 700
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/core/status.h"
#include "io/schema.h"

#include "fuzz_workdir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_in[4200], g_out[4200];

static int same_double(double a, double b)
{
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

static void compare(const struct sl_schema *a, const struct sl_schema *b)
{
    if (a->ncols != b->ncols || a->id_col != b->id_col)
        abort();
    for (int i = 0; i < a->ncols; i++) {
        const struct sl_colinfo *x = &a->cols[i], *y = &b->cols[i];
        if (strcmp(x->name, y->name) != 0) {
            fprintf(stderr, "round trip changed column %d's name\n", i);
            abort();
        }
        if (x->type != y->type || x->cls != y->cls || x->nlevels != y->nlevels)
            abort();
        for (int32_t j = 0; j < x->nlevels; j++)
            if (strcmp(x->levels[j], y->levels[j]) != 0) {
                fprintf(stderr, "round trip changed level %d of column %d\n", (int)j, i);
                abort();
            }
        if (!same_double(x->lower, y->lower) || !same_double(x->upper, y->upper)) {
            fprintf(stderr, "round trip changed bounds of column %d: %.17g %.17g -> %.17g %.17g\n",
                    i, x->lower, x->upper, y->lower, y->upper);
            abort();
        }
        if (a->levels_fixed[i] != b->levels_fixed[i])
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_in[0]) {
        fuzz_workdir_file("schema.yaml", g_in, sizeof g_in);
        fuzz_workdir_file("written.yaml", g_out, sizeof g_out);
    }
    fuzz_put(g_in, data, size);

    struct sl_schema *s = NULL;
    sl_status st = sl_schema_load(g_in, &s);
    if (st != SL_OK) {
        if (s || st != SL_ERR_FORMAT)
            abort();
        if (strncmp(sl_error_message(), g_in, strlen(g_in)) != 0) {
            fprintf(stderr, "message does not start with the path: %s\n", sl_error_message());
            abort();
        }
        sl_error_clear();
        return 0;
    }
    if (sl_schema_check(s) != SL_OK)
        abort();
    unlink(g_out);
    if (sl_schema_write(s, g_out) != SL_OK) {
        fprintf(stderr, "loaded schema cannot be written: %s\n", sl_error_message());
        abort();
    }
    struct sl_schema *b = NULL;
    if (sl_schema_load(g_out, &b) != SL_OK) {
        fprintf(stderr, "written schema does not load back: %s\n", sl_error_message());
        abort();
    }
    compare(s, b);
    sl_schema_destroy(&b);
    sl_schema_destroy(&s);
    unlink(g_out);
    sl_error_clear();
    return 0;
}
