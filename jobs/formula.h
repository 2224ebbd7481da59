/*
 * formula.h: R-style model formulas and the design matrices they describe.
 *
 * A researcher writes a model as R does, `low ~ age + lwt + race + smoke`,
 * and expects R's coefficients under R's names. This module parses the
 * formula into terms with R's semantics (`a:b` interaction, `a*b` = a + b +
 * a:b, `-` removes a term, `0`/`- 1` drops the intercept, terms ordered by
 * degree then appearance), and, once the columns' kinds and used levels are
 * known, lays out the design matrix: numeric variables enter as they are,
 * categorical ones as treatment contrasts against a reference level, or as
 * full indicator columns where R's marginality rule asks for them (an
 * interaction whose margin is absent, the first factor of a model without an
 * intercept). Column names follow R: "(Intercept)", "age", "raceblack",
 * "sexM:age".
 *
 * Parsing and layout need no data; sl_design_fill_column turns one chunk of decrypted
 * column values into a block of the design (secret in, secret out).
 */
#ifndef SL_JOBS_FORMULA_H
#define SL_JOBS_FORMULA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/core/status.h"

/* Variables a formula may name (terms are bit sets over them). */
#define SL_FORMULA_MAX_VARS 64
/* Coefficients a design may have. */
#define SL_DESIGN_MAX_COLS 4096

struct sl_formula {
    char *text;        /* as written */
    char *response;    /* the left-hand side variable */
    int nvars;         /* right-hand side variables, in order of first appearance */
    char **vars;       /* [nvars] names (also those that only appear in removed terms) */
    int nterms;
    uint64_t *terms;   /* [nterms] bit v set when vars[v] is in the term; ordered by
                          degree, then by first appearance (R's terms.formula) */
    bool intercept;
};

/* Parses `text` (R formula syntax: names, backquoted names, `~ + - * : ( )`,
 * and the numbers 0 and 1 for the intercept). Errors are SL_ERR_FORMAT with
 * "formula 'TEXT': at character N: what was expected" (N counts from 1);
 * callers prefix the file position. Functions (log(x)), `^`, `/`, `%in%` and
 * a response repeated on the right are refused with a message saying so.
 * *out is owned by the caller. Not collective. */
sl_status sl_formula_parse(const char *text, struct sl_formula **out);
void sl_formula_destroy(struct sl_formula **f);

/* R's label of term `t` ("sex:age", variables in formula order) into buf. */
void sl_formula_term_label(const struct sl_formula *f, int t, char *buf, size_t size);

/* Whether variable v appears in some term (not only in removed ones). */
bool sl_formula_uses_var(const struct sl_formula *f, int v);

/* How a right-hand side variable enters the design. */
struct sl_design_var {
    bool categorical;
    int32_t nlevels;           /* categorical: levels kept in the design (unused dropped) */
    const char *const *labels; /* categorical: [nlevels] level labels, borrowed */
    int32_t reference;         /* categorical: index of the reference level */
};

/* One column of the design: the product of its factors, each a numeric
 * variable (level -1) or the indicator of one level of a categorical one. */
struct sl_design {
    int64_t ncols;
    char **names;          /* [ncols] coefficient names as R writes them */
    int *col_term;         /* [ncols] index of the formula term, -1 for the intercept */
    int64_t *fac_start;    /* [ncols + 1] range of the column's factors in fac_var/fac_level */
    int *fac_var;          /* variable index of each factor */
    int32_t *fac_level;    /* level index for categorical factors, -1 for numeric ones */
};

/* Lays out the design of `f` for variables described by vars[nvars] (same
 * order as f->vars). Columns: the intercept first (when f->intercept), then
 * each term's columns with the first variable varying fastest.
 * SL_ERR_FORMAT when the model has no coefficient or more than
 * SL_DESIGN_MAX_COLS. Not collective. */
sl_status sl_design_create(const struct sl_formula *f, const struct sl_design_var *vars,
                           struct sl_design **out);
void sl_design_destroy(struct sl_design **d);

/* Column c's values when it is a numeric variable on its own: num[v] (so
 * the caller can use it in place, from the same row on); NULL when the
 * column has to be computed (the intercept, an indicator, a product). Not
 * collective. */
const double *sl_design_column_ref(const struct sl_design *d, int64_t c,
                                   const double *const *num);

/* Writes rows [0, n) of design column c into col[0, n). num[v] holds
 * numeric variable v's values (NULL for categorical ones), lev[v]
 * categorical variable v's design level index per row (NULL for numeric
 * ones). Rows with keep[i] == 0 are written as 0 (keep NULL keeps every
 * row). Inputs and output are secret. Not collective. */
void sl_design_fill_column(const struct sl_design *d, int64_t c, int64_t n,
                           const double *const *num, const int32_t *const *lev,
                           const uint8_t *keep, double *col);

#endif
