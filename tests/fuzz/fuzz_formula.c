/*
 * fuzz_formula.c: fuzz target for the R-style model formula parser
 * (jobs/formula.c), which reads the `formula` a user writes for a GLM.
 *
 * Each input is parsed with sl_formula_parse. What parses must have sane
 * terms (none empty, no bit beyond its variables) that all have labels; its
 * design is then laid out with sl_design_create for a fixed description of
 * the variables by name (sex, region, smoker, race and stage categorical,
 * with levels and references as the GLM job passes them; anything else
 * numeric), every design column is checked against the formula and filled
 * for a few rows. A refusal leaves nothing behind, and sl_malloc balances
 * after every input. Nesting and the number of terms are bounded by the
 * parser, so deep parentheses and long products (a*b*...*p) must be refused
 * or built quickly: the corpus holds both.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/status.h"
#include "jobs/formula.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NROWS 3

static const char *sex_lv[] = {"F", "M"};
static const char *region_lv[] = {"North", "South", "East", "West"};
static const char *smoker_lv[] = {"no", "yes"};
static const char *race_lv[] = {"white", "black", "other"};
static const char *stage_lv[] = {"s1", "s2", "s3", "s4", "s5", "s6",
                                 "s7", "s8", "s9", "s10", "s11", "s12"};

static const struct {
    const char *name;
    struct sl_design_var dv;
} known[] = {
    {"sex", {true, 2, sex_lv, 0}},       {"region", {true, 4, region_lv, 1}},
    {"smoker", {true, 2, smoker_lv, 1}}, {"race", {true, 3, race_lv, 0}},
    {"stage", {true, 12, stage_lv, 11}},
};

static const double num_vals[NROWS] = {1.5, -2.0, 0.25};
static const int32_t lev_vals[NROWS] = {0, 1, 1};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    int64_t live0 = sl_alloc_live();

    struct sl_formula *f = NULL;
    sl_status st = sl_formula_parse(text, &f);
    if (st == SL_OK) {
        if (!f || f->nvars < 0 || f->nvars > SL_FORMULA_MAX_VARS || f->nterms < 0)
            abort();
        char label[256];
        for (int t = 0; t < f->nterms; t++) {
            if (f->terms[t] == 0)
                abort(); /* an empty term is the intercept, not a term */
            if (f->nvars < 64 && (f->terms[t] >> f->nvars) != 0)
                abort(); /* a bit beyond the variables */
            sl_formula_term_label(f, t, label, sizeof label);
        }
        for (int v = 0; v < f->nvars; v++)
            (void)sl_formula_uses_var(f, v);

        struct sl_design_var dv[SL_FORMULA_MAX_VARS];
        const double *num[SL_FORMULA_MAX_VARS];
        const int32_t *lev[SL_FORMULA_MAX_VARS];
        for (int v = 0; v < f->nvars; v++) {
            dv[v] = (struct sl_design_var){false, 0, NULL, 0};
            for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
                if (strcmp(f->vars[v], known[k].name) == 0)
                    dv[v] = known[k].dv;
            num[v] = dv[v].categorical ? NULL : num_vals;
            lev[v] = dv[v].categorical ? lev_vals : NULL;
        }
        struct sl_design *d = NULL;
        if (sl_design_create(f, dv, &d) == SL_OK) {
            if (!d || d->ncols <= 0 || d->ncols > SL_DESIGN_MAX_COLS)
                abort();
            double col[NROWS];
            static const uint8_t keep[NROWS] = {1, 0, 1};
            for (int64_t c = 0; c < d->ncols; c++) {
                if (!d->names[c] || d->col_term[c] < -1 || d->col_term[c] >= f->nterms)
                    abort();
                for (int64_t k = d->fac_start[c]; k < d->fac_start[c + 1]; k++) {
                    int v = d->fac_var[k];
                    if (v < 0 || v >= f->nvars)
                        abort();
                    if (dv[v].categorical ? (d->fac_level[k] < 0 ||
                                             d->fac_level[k] >= dv[v].nlevels)
                                          : d->fac_level[k] != -1)
                        abort();
                }
                (void)sl_design_column_ref(d, c, num);
                sl_design_fill_column(d, c, NROWS, num, lev, keep, col);
            }
            sl_design_destroy(&d);
        } else if (d) {
            abort();
        }
        sl_formula_destroy(&f);
    } else if (f) {
        abort();
    }
    sl_error_clear();
    if (sl_alloc_live() != live0) {
        fprintf(stderr, "sl_malloc leak: %lld -> %lld\n", (long long)live0,
                (long long)sl_alloc_live());
        abort();
    }
    free(text);
    return 0;
}
