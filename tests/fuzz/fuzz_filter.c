/*
 * fuzz_filter.c: fuzz target for the row filter language (engine/filter.c),
 * which reads text a user writes in a job file.
 *
 * Each input is parsed with sl_filter_parse. What parses must also:
 *   - have a canonical text (sl_filter_text) that parses again to exactly
 *     the same text: that text goes into results.json and the release
 *     ledger, where it is read back and compared;
 *   - bind to a fixed set of columns (every type, levels and bounds) or be
 *     refused by sl_filter_bind_columns, list its columns in ascending
 *     order, and evaluate over a hand-built 10-row frame (edge and missing
 *     values in every column) to the same 0/1 mask whole and from an offset,
 *     after a rebind, and from its canonical text.
 * A refusal leaves no filter behind, and sl_malloc and secret buffers
 * balance after every input.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "engine/core/status.h"
#include "engine/filter.h"
#include "io/cohort.h"
#include "io/format.h"
#include "io/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *sex_lv[] = {"F", "M"};
static char *region_lv[] = {"North", "South", "East", "West"};
static char *smoker_lv[] = {"no", "yes", ""};
static char *stage_lv[] = {"s1", "s2", "s3", "s4", "s5", "s6",
                           "s7", "s8", "s9", "s10", "s11", "s12"};

static struct sl_colinfo cols[] = {
    {"pid", SL_COL_ID, SL_CLASS_IDENTIFIER, 0, NULL, NAN, NAN},
    {"age", SL_COL_INT, SL_CLASS_QUASI, 0, NULL, 0, 120},
    {"bmi", SL_COL_REAL, SL_CLASS_SENSITIVE, 0, NULL, NAN, NAN},
    {"sex", SL_COL_CAT, SL_CLASS_QUASI, 2, sex_lv, NAN, NAN},
    {"region", SL_COL_CAT, SL_CLASS_QUASI, 4, region_lv, NAN, NAN},
    {"dob", SL_COL_DATE, SL_CLASS_QUASI, 0, NULL, NAN, NAN},
    {"a", SL_COL_INT, SL_CLASS_OTHER, 0, NULL, NAN, NAN},
    {"b", SL_COL_INT, SL_CLASS_OTHER, 0, NULL, NAN, NAN},
    {"x", SL_COL_REAL, SL_CLASS_OTHER, 0, NULL, -1, 1},
    {"smoker", SL_COL_CAT, SL_CLASS_OTHER, 3, smoker_lv, NAN, NAN},
    {"stage", SL_COL_CAT, SL_CLASS_OTHER, 12, stage_lv, NAN, NAN},
    {"empty", SL_COL_CAT, SL_CLASS_OTHER, 0, NULL, NAN, NAN},
};
#define NCOLS ((int)(sizeof cols / sizeof cols[0]))

/* The frame: every column above (frame column i is cohort column i). */
#define NROWS 10
static const int64_t i64_rows[NROWS] = {40, SL_INT_MISSING, 0, -1, INT64_MAX, INT64_MIN + 1,
                                        120, 1000, 9007199254740993LL, 2};
static const double f64_rows[NROWS] = {22.5, NAN, 0.0, -0.0, 1e308, -1e-320,
                                       30.0, 0.1, 9007199254740993.0, 2.0};
static const int32_t cat_rows[NROWS] = {0, 1, SL_CAT_MISSING, 3, 2, 11, 0, 1, 2, 0};
static const int32_t date_rows[NROWS] = {0, SL_DATE_MISSING, -719162, 18262, 2932896,
                                         INT32_MAX, -1, 1, 3652, 18322};
static const uint8_t id_rows[NROWS * 32];
static struct sl_frame frame;
static int frame_cols[NCOLS];
static struct sl_secbuf *frame_data[NCOLS];

static void frame_free(void)
{
    for (int c = 0; c < NCOLS; c++)
        sl_secbuf_destroy(&frame_data[c]);
}

static void frame_init(void)
{
    frame.nrows = NROWS;
    frame.ncols = NCOLS;
    frame.col_index = frame_cols;
    frame.data = frame_data;
    for (int c = 0; c < NCOLS; c++) {
        const void *src = NULL;
        size_t el = 0;
        switch (cols[c].type) {
        case SL_COL_ID: src = id_rows, el = 32; break;
        case SL_COL_INT: src = i64_rows, el = 8; break;
        case SL_COL_REAL: src = f64_rows, el = 8; break;
        case SL_COL_CAT: src = cat_rows, el = 4; break;
        case SL_COL_DATE: src = date_rows, el = 4; break;
        }
        frame_cols[c] = c;
        if (!src || sl_secbuf_create(NROWS * el, &frame_data[c]) != SL_OK)
            abort();
        memcpy(frame_data[c]->data, src, NROWS * el);
        if (cols[c].type == SL_COL_CAT) /* codes valid for this column */
            for (int r = 0; r < NROWS; r++) {
                int32_t *v = (int32_t *)frame_data[c]->data + r;
                if (*v >= cols[c].nlevels)
                    *v = cols[c].nlevels > 0 ? *v % cols[c].nlevels : SL_CAT_MISSING;
            }
    }
    atexit(frame_free);
}

/* Evaluates a bound filter over the frame; whole and from row 3 must agree. */
static void eval_rows(const struct sl_filter *f, uint8_t *mask)
{
    uint8_t part[NROWS];
    if (sl_filter_eval(f, &frame, 0, NROWS, mask) != SL_OK)
        abort();
    if (sl_filter_eval(f, &frame, 3, NROWS - 3, part) != SL_OK)
        abort();
    for (int r = 0; r < NROWS; r++)
        if (mask[r] > 1 || (r >= 3 && part[r - 3] != mask[r]))
            abort();
}

/* The canonical text parses again, to itself. */
static void check_canonical(const char *canon)
{
    struct sl_filter *g = NULL;
    if (sl_filter_parse(canon, "canon", &g) != SL_OK) {
        fprintf(stderr, "canonical text does not parse: [%s]: %s\n", canon, sl_error_message());
        abort();
    }
    if (strcmp(sl_filter_text(g), canon) != 0) {
        fprintf(stderr, "canonical text not stable: [%s] -> [%s]\n", canon, sl_filter_text(g));
        abort();
    }
    sl_filter_destroy(&g);
}

/* Binds, lists columns and evaluates f; its canonical text must agree. */
static void check_bound(struct sl_filter *f, const char *canon)
{
    int *used = NULL, nused = 0;
    uint8_t m1[NROWS], m2[NROWS];
    struct sl_filter *c = NULL;

    if (sl_filter_bind_columns(f, cols, NCOLS) != SL_OK)
        return;
    if (sl_filter_columns(f, &used, &nused) == SL_OK) {
        for (int i = 0; i < nused; i++)
            if (used[i] < 0 || used[i] >= NCOLS || (i && used[i] <= used[i - 1]))
                abort();
        sl_free(used);
    }
    eval_rows(f, m1);
    if (sl_filter_parse(canon, "canon", &c) != SL_OK)
        abort(); /* check_canonical ran first */
    if (sl_filter_bind_columns(c, cols, NCOLS) != SL_OK) {
        fprintf(stderr, "canonical text does not bind: [%s]: %s\n", canon, sl_error_message());
        abort();
    }
    eval_rows(c, m2);
    if (memcmp(m1, m2, sizeof m1) != 0) {
        fprintf(stderr, "canonical text selects other rows: [%s]\n", canon);
        abort();
    }
    sl_filter_destroy(&c);
    if (sl_filter_bind_columns(f, cols, NCOLS) != SL_OK) /* rebinding works too */
        abort();
    eval_rows(f, m2);
    if (memcmp(m1, m2, sizeof m1) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    struct sl_filter *f = NULL;

    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    if (!frame.data)
        frame_init();
    int64_t live0 = sl_alloc_live();
    long sec0 = sl_secbuf_live();

    if (sl_filter_parse(text, "job.yaml:4:9", &f) == SL_OK) {
        const char *canon = f ? sl_filter_text(f) : NULL;
        if (!canon)
            abort();
        check_canonical(canon);
        check_bound(f, canon);
        sl_filter_destroy(&f);
    } else if (f) {
        abort(); /* no output on failure */
    }
    sl_error_clear();

    if (sl_alloc_live() != live0 || sl_secbuf_live() != sec0) {
        fprintf(stderr, "sl_malloc/secbuf leak: %lld -> %lld, %ld -> %ld\n", (long long)live0,
                (long long)sl_alloc_live(), sec0, sl_secbuf_live());
        abort();
    }
    free(text);
    return 0;
}
