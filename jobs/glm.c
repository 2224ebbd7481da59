/*
 * glm.c: the `glm` analysis: generalised linear models as R's glm fits them.
 *
 *   - type: glm
 *     name: risk                                   (optional)
 *     formula: "low ~ age + lwt + race + smoke"    (R syntax, see formula.h)
 *     family: binomial                             (gaussian (default) or binomial)
 *     weights: w                                   (optional numeric column)
 *     offset: o                                    (optional numeric column)
 *     reference: {race: "white"}                   (optional; default the first used level)
 *     bands: {age: [40, 65]}                       (optional: numeric predictors as
 *                                                   categorical ones, cut at these points
 *                                                   like a table's bands, jobs/grouping.h)
 *     covariance: true                             (optional; released only if the policy
 *                                                   sets rules.release_covariance)
 *
 * Rows outside the filter are ignored; rows with a missing value in any model
 * column (response, predictors, weights, offset) are dropped and counted, as
 * R's na.omit does; categorical levels no remaining patient has are dropped
 * (R's drop.unused.levels). A binomial outcome is a number that is 0 or 1, or
 * a categorical column with two levels (the second level is 1).
 *
 * Execution: one pass over this rank's rows finds the complete cases, checks
 * values, counts patients per level of every categorical column and the
 * values of numeric columns that have at most three (to find binary ones);
 * the counts are summed exactly across ranks. The design is then a list of
 * column pointers per chunk: a numeric predictor on its own is the column as
 * decrypted (no copy), and only indicators and products are written into
 * secret memory. The IRLS driver (glm_fit.h) fits
 * the model with per-chunk kernel partials folded in global chunk order, so
 * every rank ends with the same bits. Rank 0 builds the coefficient table
 * ("term" dimension, R's coefficient names), the model summary and the facts
 * the model release rules need (engine/gate_model.c).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine/core/alloc.h"
#include "engine/core/log.h"
#include "engine/core/parallel.h"
#include "engine/core/secbuf.h"
#include "engine/config.h"
#include "io/cohort.h"
#include "io/format.h"
#include "jobs/formula.h"
#include "jobs/glm_fit.h"
#include "jobs/grouping.h"
#include "jobs/jobs.h"
#include "jobs/measure.h"

enum glm_role { ROLE_RESPONSE = 0, ROLE_PREDICTOR, ROLE_WEIGHTS, ROLE_OFFSET };

/* A cohort column the model reads. */
struct glm_col {
    const char *name;      /* borrowed from the formula or the parameters */
    enum glm_role role;
    int var;               /* predictors: index in the formula's variables, else -1 */
    int col;               /* cohort column */
    enum sl_coltype type;  /* SL_COL_CAT for a banded predictor too */
    int32_t nlevels;       /* categorical: dictionary size, or bands */
    const char *const *labels; /* categorical: dictionary, borrowed from the cohort */
    struct sl_band *band;  /* a numeric predictor cut into bands (owned), or NULL */
    char **band_labels;    /* their labels (owned, one allocation), or NULL */
};

struct glm_state {
    char *name;
    json_t *spec;
    struct sl_formula *f;
    enum sl_glm_family family;
    bool covariance;
    int ncols;             /* model columns: response, predictors, then weights, offset */
    struct glm_col *cols;
    int weights;           /* index in cols, or -1 */
    int offset;            /* index in cols, or -1 */
    int32_t *ref;          /* [f->nvars] named reference code, or -1 */
};

static void glm_destroy(void *state)
{
    struct glm_state *s = state;
    if (!s)
        return;
    sl_free(s->name);
    json_decref(s->spec);
    sl_formula_destroy(&s->f);
    for (int k = 0; s->cols && k < s->ncols; k++) {
        sl_free(s->cols[k].band);
        sl_free(s->cols[k].band_labels);
    }
    sl_free(s->cols);
    sl_free(s->ref);
    sl_free(s);
}

/* Makes predictor `gc` (numeric) categorical: its bands from the job's cut
 * points, labelled as a table's bands are. */
static sl_status band_col(struct glm_col *gc, const struct sl_params *bands,
                          const struct sl_colinfo *info)
{
    sl_status st = SL_OK;

    gc->band = sl_calloc(1, sizeof *gc->band);
    SL_CHECK(gc->band, SL_ERR_NOMEM, "out of memory");
    SL_CALL(sl_band_parse(gc->band, bands, info));
    gc->nlevels = gc->band->ncuts + 1;
    gc->band_labels = sl_malloc((size_t)gc->nlevels * (sizeof(char *) + SL_BAND_LABEL_MAX));
    SL_CHECK(gc->band_labels, SL_ERR_NOMEM, "out of memory");
    for (int32_t l = 0; l < gc->nlevels; l++) {
        gc->band_labels[l] =
            (char *)(gc->band_labels + gc->nlevels) + (size_t)l * SL_BAND_LABEL_MAX;
        sl_band_label(gc->band, l, gc->band_labels[l], SL_BAND_LABEL_MAX);
    }
    gc->type = SL_COL_CAT;
    gc->labels = (const char *const *)gc->band_labels;
cleanup:
    return st;
}

/* Binds `name` to a cohort column for `role`, checking its type; a
 * predictor that `bands` (may be NULL) cuts becomes categorical. */
static sl_status bind_col(const struct sl_analysis *a, const struct sl_cohort *c,
                          enum sl_glm_family fam, const char *key, const char *name,
                          enum glm_role role, int var, const struct sl_params *bands,
                          struct glm_col *out)
{
    sl_status st = SL_OK;
    int col = -1;
    const struct sl_colinfo *info;
    static const char *const what[] = {"the response", "predictor", "the weights",
                                       "the offset"};

    SL_CALL(sl_column_find(c, name, sl_params_where(a->params, key), what[role], &col));
    info = sl_cohort_col(c, col);
    SL_CHECK(info->type != SL_COL_ID, SL_ERR_FORMAT,
             "%s: '%s' is the patient identifier; it cannot enter a model",
             sl_params_where(a->params, key), name);
    switch (role) {
    case ROLE_RESPONSE:
        if (fam == SL_GLM_BINOMIAL_LOGIT)
            SL_CHECK(info->type == SL_COL_INT || info->type == SL_COL_REAL ||
                         (info->type == SL_COL_CAT && info->nlevels == 2),
                     SL_ERR_FORMAT,
                     "%s: a binomial outcome must be a 0/1 number or a categorical column "
                     "with two levels; '%s' is %s%s",
                     sl_params_where(a->params, key), name, sl_coltype_name(info->type),
                     info->type == SL_COL_CAT ? " with other than two levels" : "");
        else
            SL_CHECK(info->type == SL_COL_INT || info->type == SL_COL_REAL, SL_ERR_FORMAT,
                     "%s: a gaussian response must be numeric; '%s' is %s",
                     sl_params_where(a->params, key), name, sl_coltype_name(info->type));
        break;
    case ROLE_PREDICTOR: break;
    case ROLE_WEIGHTS:
    case ROLE_OFFSET:
        SL_CHECK(info->type == SL_COL_INT || info->type == SL_COL_REAL, SL_ERR_FORMAT,
                 "%s: %s must be a numeric column; '%s' is %s",
                 sl_params_where(a->params, key), what[role], name,
                 sl_coltype_name(info->type));
        break;
    }
    *out = (struct glm_col){name,       role,          var,  col,
                            info->type, info->nlevels, (const char *const *)info->levels,
                            NULL,       NULL};
    if (role == ROLE_PREDICTOR && bands && sl_params_has(bands, name)) {
        SL_CHECK(info->type == SL_COL_INT || info->type == SL_COL_REAL ||
                     info->type == SL_COL_DATE,
                 SL_ERR_FORMAT, "%s: 'bands' cuts '%s', which is %s; only numeric predictors "
                 "are cut into bands",
                 sl_params_where(bands, name), name, sl_coltype_name(info->type));
        SL_CALL(band_col(out, bands, info));
    }
cleanup:
    return st;
}

static sl_status glm_prepare(const struct sl_analysis *a, const struct sl_cohort *c,
                             const struct sl_rules *rules, void **state, int **cols, int *ncols)
{
    static const char *const known[] = {"formula",   "family", "weights",    "offset",
                                        "bands",     "reference", "covariance", NULL};
    sl_status st = SL_OK;
    struct glm_state *s = NULL;
    const char *formula = NULL, *family = "gaussian", *wname = NULL, *oname = NULL;
    const char **rkeys = NULL, **rvals = NULL, **bkeys = NULL;
    int nref = 0, nbands = 0, *out = NULL, nout = 0;
    json_t *refj = NULL;
    struct sl_params *bands = NULL;

    (void)rules;
    *state = NULL;
    *cols = NULL;
    *ncols = 0;
    SL_CALL(sl_params_only(a->params, known));
    s = sl_calloc(1, sizeof *s);
    SL_CHECK(s, SL_ERR_NOMEM, "out of memory");
    s->weights = s->offset = -1;
    s->name = sl_strdup(a->name);
    SL_CHECK(s->name, SL_ERR_NOMEM, "out of memory");
    SL_CALL(sl_params_string(a->params, "formula", true, &formula));
    st = sl_formula_parse(formula, &s->f);
    if (st != SL_OK) {
        sl_error_prefix("%s", sl_params_where(a->params, "formula"));
        goto cleanup;
    }
    SL_CALL(sl_params_string(a->params, "family", false, &family));
    if (strcmp(family, "binomial") == 0)
        s->family = SL_GLM_BINOMIAL_LOGIT;
    else if (strcmp(family, "gaussian") == 0)
        s->family = SL_GLM_GAUSSIAN_IDENTITY;
    else
        SL_FAIL(SL_ERR_FORMAT, "%s: unknown family '%.64s'; expected gaussian or binomial",
                sl_params_where(a->params, "family"), family);
    SL_CALL(sl_params_string(a->params, "weights", false, &wname));
    SL_CALL(sl_params_string(a->params, "offset", false, &oname));
    SL_CALL(sl_params_bool(a->params, "covariance", false, &s->covariance));

    s->cols = sl_calloc((size_t)s->f->nvars + 3, sizeof *s->cols);
    s->ref = sl_malloc(((size_t)s->f->nvars + 1) * sizeof *s->ref);
    SL_CHECK(s->cols && s->ref, SL_ERR_NOMEM, "out of memory");
    SL_CALL(sl_params_sub(a->params, "bands", &bands));
    SL_CALL(bind_col(a, c, s->family, "formula", s->f->response, ROLE_RESPONSE, -1, NULL,
                     &s->cols[s->ncols++]));
    for (int v = 0; v < s->f->nvars; v++) {
        s->ref[v] = -1;
        SL_CALL(bind_col(a, c, s->family, "formula", s->f->vars[v], ROLE_PREDICTOR, v, bands,
                         &s->cols[s->ncols++]));
    }
    if (wname) {
        s->weights = s->ncols;
        SL_CALL(bind_col(a, c, s->family, "weights", wname, ROLE_WEIGHTS, -1, NULL,
                         &s->cols[s->ncols++]));
    }
    if (oname) {
        s->offset = s->ncols;
        SL_CALL(bind_col(a, c, s->family, "offset", oname, ROLE_OFFSET, -1, NULL,
                         &s->cols[s->ncols++]));
    }
    if (bands)
        SL_CALL(sl_params_keys(bands, &bkeys, &nbands));
    for (int i = 0; i < nbands; i++) {
        int v = 0;
        while (v < s->f->nvars && strcmp(s->f->vars[v], bkeys[i]) != 0)
            v++;
        SL_CHECK(v < s->f->nvars && sl_formula_uses_var(s->f, v), SL_ERR_FORMAT,
                 "%s: 'bands' cuts '%.64s', which is not a predictor of the formula",
                 sl_params_where(bands, bkeys[i]), bkeys[i]);
    }

    refj = json_object();
    SL_CHECK(refj, SL_ERR_NOMEM, "out of memory");
    SL_CALL(sl_params_string_map(a->params, "reference", false, &rkeys, &rvals, &nref));
    for (int r = 0; r < nref; r++) {
        int v = -1;
        const struct glm_col *gc;
        for (int k = 0; k < s->f->nvars; k++)
            if (strcmp(s->f->vars[k], rkeys[r]) == 0)
                v = k;
        SL_CHECK(v >= 0 && sl_formula_uses_var(s->f, v), SL_ERR_FORMAT,
                 "%s: reference names '%.64s', which is not a predictor of the formula",
                 sl_params_where(a->params, "reference"), rkeys[r]);
        gc = &s->cols[1 + v];
        SL_CHECK(gc->type == SL_COL_CAT, SL_ERR_FORMAT,
                 "%s: reference names '%.64s', which is %s, not categorical",
                 sl_params_where(a->params, "reference"), rkeys[r], sl_coltype_name(gc->type));
        for (int32_t l = 0; l < gc->nlevels; l++)
            if (strcmp(gc->labels[l], rvals[r]) == 0)
                s->ref[v] = l;
        SL_CHECK(s->ref[v] >= 0, SL_ERR_FORMAT,
                 "%s: '%.64s' is not a level of '%.64s'",
                 sl_params_where(a->params, "reference"), rvals[r], rkeys[r]);
        json_object_set_new(refj, rkeys[r], json_string(rvals[r]));
    }

    s->spec = json_pack("{s:s,s:s,s:s,s:O,s:b}", "type", "glm", "formula", formula, "family",
                        family, "reference", refj, "covariance", s->covariance);
    SL_CHECK(s->spec, SL_ERR_NOMEM, "out of memory");
    json_object_set_new(s->spec, "weights", wname ? json_string(wname) : json_null());
    json_object_set_new(s->spec, "offset", oname ? json_string(oname) : json_null());
    if (bands) {
        json_t *all = sl_params_to_json(a->params);
        SL_CHECK(all, SL_ERR_NOMEM, "out of memory");
        json_object_set(s->spec, "bands", json_object_get(all, "bands"));
        json_decref(all);
    }

    out = sl_malloc((size_t)s->ncols * sizeof *out);
    SL_CHECK(out, SL_ERR_NOMEM, "out of memory");
    for (int k = 0; k < s->ncols; k++) {
        int dup = 0;
        for (int j = 0; j < nout; j++)
            dup |= out[j] == s->cols[k].col;
        if (!dup)
            out[nout++] = s->cols[k].col;
    }
    *cols = out;
    *ncols = nout;
    *state = s;
    out = NULL;
    s = NULL;
cleanup:
    json_decref(refj);
    sl_params_free(&bands);
    sl_free(bkeys);
    sl_free(rkeys);
    sl_free(rvals);
    sl_free(out);
    glm_destroy(s);
    return st;
}

/* ---- execution ---- */

/* Distinct values of a numeric model column, up to three (more: k = 4). */
struct distinct {
    int k;
    double v[3];
    int64_t c[3];
};

/* Per-rank facts from the pass over the rows, reduced across ranks. */
struct scan {
    int64_t *ints;       /* [NI + per column bad + per column level counts] */
    int64_t nints;
    int64_t *bad;        /* [ncols] rows with invalid values, per model column */
    int64_t **levels;    /* [ncols] categorical: patients per dictionary code */
    struct distinct *dist; /* [ncols] numeric columns (merged across ranks) */
};

enum { I_KEPT, I_COMPLETE, NI };

static void scan_free(struct scan *sc)
{
    sl_free(sc->ints);
    sl_free(sc->levels);
    sl_free(sc->dist);
    memset(sc, 0, sizeof *sc);
}

static double col_number(const struct glm_col *c, const void *data, int64_t i)
{
    switch (c->type) {
    case SL_COL_INT: return (double)((const int64_t *)data)[i];
    case SL_COL_REAL: return ((const double *)data)[i];
    case SL_COL_DATE: return (double)((const int32_t *)data)[i];
    default: return NAN;
    }
}

/* cc[i] = 0 where column c is missing. One typed loop per column. */
static void col_drop_missing(const struct glm_col *c, const void *data, int64_t n, uint8_t *cc)
{
    switch (c->type) {
    case SL_COL_INT: {
        const int64_t *v = data;
        for (int64_t i = 0; i < n; i++)
            cc[i] = (uint8_t)(cc[i] & (v[i] != SL_INT_MISSING));
        break;
    }
    case SL_COL_REAL: {
        const double *v = data;
        for (int64_t i = 0; i < n; i++)
            cc[i] = (uint8_t)(cc[i] & !isnan(v[i]));
        break;
    }
    case SL_COL_CAT:
    case SL_COL_DATE: {
        const int32_t *v = data;
        int32_t missing = c->type == SL_COL_CAT ? SL_CAT_MISSING : SL_DATE_MISSING;
        for (int64_t i = 0; i < n; i++)
            cc[i] = (uint8_t)(cc[i] & (v[i] != missing));
        break;
    }
    default:
        memset(cc, 0, (size_t)n);
    }
}

/* Rows among cc whose value is invalid for the column's role: a category
 * code outside the dictionary, an infinite number, a binomial outcome other
 * than 0 or 1, a negative weight. */
static int64_t col_count_invalid(const struct glm_state *s, const struct glm_col *c,
                                 const void *data, int64_t n, const uint8_t *cc)
{
    int64_t bad = 0;
    int binary = c->role == ROLE_RESPONSE && s->family == SL_GLM_BINOMIAL_LOGIT;
    int weights = c->role == ROLE_WEIGHTS;
    if (c->type == SL_COL_CAT) {
        const int32_t *v = data;
        for (int64_t i = 0; i < n; i++)
            bad += cc[i] && (v[i] < 0 || v[i] >= c->nlevels);
        return bad;
    }
    if (c->type == SL_COL_INT) {
        const int64_t *v = data;
        for (int64_t i = 0; i < n; i++)
            bad += cc[i] && ((binary && v[i] != 0 && v[i] != 1) || (weights && v[i] < 0));
        return bad;
    }
    if (c->type == SL_COL_REAL) {
        const double *v = data;
        for (int64_t i = 0; i < n; i++)
            bad += cc[i] && (!isfinite(v[i]) || (binary && v[i] != 0 && v[i] != 1) ||
                             (weights && v[i] < 0));
        return bad;
    }
    return 0;
}

static void distinct_add(struct distinct *d, double v, int64_t count)
{
    if (d->k > 3)
        return;
    for (int j = 0; j < d->k; j++)
        if (d->v[j] == v) {
            d->c[j] += count;
            return;
        }
    if (d->k == 3) {
        d->k = 4;
        return;
    }
    d->v[d->k] = v;
    d->c[d->k++] = count;
}

/* Adds the distinct values `from` found after those of d (later rows, or a
 * later rank). */
static void distinct_merge(struct distinct *d, const struct distinct *from)
{
    if (from->k > 3)
        d->k = 4;
    for (int j = 0; j < from->k && from->k <= 3; j++)
        distinct_add(d, from->v[j], from->c[j]);
}

/* Rows below this many are scanned on one thread. */
#define SCAN_PARALLEL_ROWS 16384

/* Column data from row r0 on. */
static const void *col_from(const struct glm_col *c, const void *data, int64_t r0)
{
    return (const char *)data + (size_t)r0 * sl_coltype_size(c->type);
}

/* Rows [r0, r1) of the pass: complete cases into cc, counts into ints (laid
 * out as sc->ints) and the first distinct values of numeric columns, in row
 * order, into dist. */
static void scan_slice(const struct glm_state *s, const struct scan *sc, const void **data,
                       const uint8_t *mask, int64_t r0, int64_t r1, uint8_t *cc, int64_t *ints,
                       struct distinct *dist)
{
    int64_t n = r1 - r0;
    uint8_t *c = cc + r0;

    for (int64_t i = 0; i < n; i++) {
        c[i] = !mask || mask[r0 + i];
        ints[I_KEPT] += c[i];
    }
    for (int k = 0; k < s->ncols; k++)
        col_drop_missing(&s->cols[k], col_from(&s->cols[k], data[k], r0), n, c);
    for (int k = 0; k < s->ncols; k++)
        ints[NI + k] = col_count_invalid(s, &s->cols[k], col_from(&s->cols[k], data[k], r0), n, c);
    for (int64_t i = 0; i < n; i++)
        ints[I_COMPLETE] += c[i];
    for (int k = 0; k < s->ncols; k++) {
        const struct glm_col *col = &s->cols[k];
        const void *v = col_from(col, data[k], r0);
        if (col->type == SL_COL_CAT) {
            const int32_t *code = v;
            int64_t *lev = ints + (sc->levels[k] - sc->ints);
            for (int64_t i = 0; i < n; i++)
                if (c[i] && code[i] >= 0 && code[i] < col->nlevels)
                    lev[code[i]]++;
        } else {
            for (int64_t i = 0; i < n && dist[k].k <= 3; i++)
                if (c[i])
                    distinct_add(&dist[k], col_number(col, v, i), 1);
        }
    }
}

/* The pass over this rank's rows: complete cases into cc, counts summed
 * across ranks, distinct values of numeric columns merged across ranks.
 * The threads take contiguous slices; their counts are summed and their
 * distinct values merged in slice order, which is row order, so the facts
 * do not depend on the thread count. */
static sl_status scan_rows(const struct glm_state *s, struct sl_exec *ex, const void **data,
                           uint8_t *cc, struct scan *sc)
{
    sl_status st = SL_OK;
    const struct sl_frame *fr = sl_exec_frame(ex);
    const uint8_t *mask = sl_exec_mask(ex);
    int64_t off, *part = NULL;
    double *packed = NULL, *all = NULL;
    int64_t total = 0;
    struct distinct *pdist = NULL;
    int nt = fr->nrows >= SCAN_PARALLEL_ROWS ? sl_max_threads() : 1;

    memset(sc, 0, sizeof *sc);
    sc->nints = NI + s->ncols;
    for (int k = 0; k < s->ncols; k++)
        if (s->cols[k].type == SL_COL_CAT)
            sc->nints += s->cols[k].nlevels;
    sc->ints = sl_calloc((size_t)sc->nints, sizeof *sc->ints);
    sc->levels = sl_calloc((size_t)s->ncols, sizeof *sc->levels);
    sc->dist = sl_calloc((size_t)s->ncols, sizeof *sc->dist);
    packed = sl_calloc((size_t)s->ncols * 7, sizeof *packed);
    part = sl_calloc((size_t)(nt * sc->nints), sizeof *part);
    pdist = sl_calloc((size_t)nt * (size_t)s->ncols, sizeof *pdist);
    SL_CHECK(sc->ints && sc->levels && sc->dist && packed && part && pdist, SL_ERR_NOMEM,
             "out of memory");
    sc->bad = sc->ints + NI;
    off = NI + s->ncols;
    for (int k = 0; k < s->ncols; k++)
        if (s->cols[k].type == SL_COL_CAT) {
            sc->levels[k] = sc->ints + off;
            off += s->cols[k].nlevels;
        }

    SL_OMP(parallel for num_threads(nt) schedule(static, 1))
    for (int t = 0; t < nt; t++)
        scan_slice(s, sc, data, mask, fr->nrows * t / nt, fr->nrows * (t + 1) / nt, cc,
                   part + (int64_t)t * sc->nints, pdist + (int64_t)t * s->ncols);
    for (int t = 0; t < nt; t++) {
        for (int64_t i = 0; i < sc->nints; i++)
            sc->ints[i] += part[(int64_t)t * sc->nints + i];
        for (int k = 0; k < s->ncols; k++)
            distinct_merge(&sc->dist[k], &pdist[(int64_t)t * s->ncols + k]);
    }
    SL_CALL(sl_exec_sum_i64(ex, sc->ints, sc->nints));

    /* distinct values: (k, v0, c0, v1, c1, v2, c2) per column, merged in rank order */
    for (int k = 0; k < s->ncols; k++) {
        const struct distinct *d = &sc->dist[k];
        packed[k * 7] = (double)d->k;
        for (int j = 0; j < 3; j++) {
            packed[k * 7 + 1 + 2 * j] = j < d->k && d->k <= 3 ? d->v[j] : 0;
            packed[k * 7 + 2 + 2 * j] = j < d->k && d->k <= 3 ? (double)d->c[j] : 0;
        }
    }
    SL_CALL(sl_exec_allgather_f64(ex, packed, (int64_t)s->ncols * 7, &all, &total));
    memset(sc->dist, 0, (size_t)s->ncols * sizeof *sc->dist);
    for (int64_t r = 0; r < total / (s->ncols * 7); r++)
        for (int k = 0; k < s->ncols; k++) {
            const double *e = all + (r * s->ncols + k) * 7;
            struct distinct d = {(int)e[0], {e[1], e[3], e[5]},
                                 {(int64_t)e[2], (int64_t)e[4], (int64_t)e[6]}};
            distinct_merge(&sc->dist[k], &d);
            sl_wipe(&d, sizeof d);
        }
cleanup:
    sl_wipe(packed, (size_t)s->ncols * 7 * sizeof *packed);
    sl_free(packed);
    sl_free(part);
    if (pdist)
        sl_wipe(pdist, (size_t)nt * (size_t)s->ncols * sizeof *pdist);
    sl_free(pdist);
    if (all)
        sl_wipe(all, (size_t)total * sizeof *all);
    sl_free(all);
    return st;
}

/* Refuses data a model cannot use, with the same message on every rank. */
static sl_status check_scan(const struct glm_state *s, const struct sl_exec *ex,
                            const struct scan *sc)
{
    sl_status st = SL_OK;
    const char *cohort = sl_cohort_path(sl_exec_cohort(ex));
    for (int k = 0; k < s->ncols; k++) {
        const struct glm_col *c = &s->cols[k];
        if (!sc->bad[k])
            continue;
        if (c->type == SL_COL_CAT)
            SL_FAIL(SL_ERR_FORMAT, "%s: column '%s' holds a category code outside its %d levels",
                    cohort, c->name, c->nlevels);
        if (c->role == ROLE_RESPONSE && s->family == SL_GLM_BINOMIAL_LOGIT)
            SL_FAIL(SL_ERR_FORMAT,
                    "analysis '%s': the binomial outcome '%s' must be 0 or 1, and some rows "
                    "hold other values",
                    s->name, c->name);
        if (c->role == ROLE_WEIGHTS)
            SL_FAIL(SL_ERR_FORMAT,
                    "analysis '%s': weights '%s' must be finite and >= 0, and some rows hold "
                    "negative or infinite values",
                    s->name, c->name);
        SL_FAIL(SL_ERR_FORMAT, "analysis '%s': column '%s' holds infinite values", s->name,
                c->name);
    }
    SL_CHECK(sc->ints[I_KEPT] > 0, SL_ERR_FORMAT,
             "analysis '%s': no rows pass the job's filter; there is nothing to model", s->name);
    SL_CHECK(sc->ints[I_COMPLETE] > 0, SL_ERR_FORMAT,
             "analysis '%s': no rows remain for the model: every row that passes the filter "
             "has a missing value in a model column",
             s->name);
cleanup:
    return st;
}

/* Levels of every categorical predictor kept in the design (those with
 * patients), reference levels, and the code -> design level maps. */
struct levels {
    struct sl_design_var *dv;  /* [nvars] */
    const char **labels;       /* storage for dv[v].labels */
    int32_t **map;             /* [nvars] code -> design level, or -1 */
};

static void levels_free(struct levels *lv, int nvars)
{
    if (lv->map)
        for (int v = 0; v < nvars; v++)
            sl_free(lv->map[v]);
    sl_free(lv->map);
    sl_free(lv->dv);
    sl_free(lv->labels);
    memset(lv, 0, sizeof *lv);
}

static sl_status build_levels(const struct glm_state *s, const struct scan *sc,
                              struct levels *lv)
{
    sl_status st = SL_OK;
    int nv = s->f->nvars;
    int64_t nlab = 0, used = 0;

    memset(lv, 0, sizeof *lv);
    for (int v = 0; v < nv; v++)
        nlab += s->cols[1 + v].nlevels;
    lv->dv = sl_calloc((size_t)nv + 1, sizeof *lv->dv);
    lv->labels = sl_calloc((size_t)nlab + 1, sizeof *lv->labels);
    lv->map = sl_calloc((size_t)nv + 1, sizeof *lv->map);
    SL_CHECK(lv->dv && lv->labels && lv->map, SL_ERR_NOMEM, "out of memory");
    for (int v = 0; v < nv; v++) {
        const struct glm_col *c = &s->cols[1 + v];
        const int64_t *cnt = sc->levels[1 + v];
        struct sl_design_var *d = &lv->dv[v];
        if (c->type != SL_COL_CAT)
            continue;
        d->categorical = true;
        d->labels = lv->labels + used;
        d->reference = 0;
        lv->map[v] = sl_malloc((size_t)c->nlevels * sizeof *lv->map[v]);
        SL_CHECK(lv->map[v], SL_ERR_NOMEM, "out of memory");
        for (int32_t l = 0; l < c->nlevels; l++) {
            lv->map[v][l] = -1;
            if (cnt[l] == 0)
                continue;
            if (l == s->ref[v])
                d->reference = d->nlevels;
            lv->map[v][l] = d->nlevels;
            lv->labels[used++] = c->labels[l];
            d->nlevels++;
        }
        if (!sl_formula_uses_var(s->f, v))
            continue;
        SL_CHECK(s->ref[v] < 0 || cnt[s->ref[v]] > 0, SL_ERR_FORMAT,
                 "analysis '%s': the reference level '%s' of '%s' has no patients among the "
                 "rows used",
                 s->name, c->labels[s->ref[v] < 0 ? 0 : s->ref[v]], c->name);
        SL_CHECK(d->nlevels >= 2, SL_ERR_FORMAT,
                 "analysis '%s': the categorical predictor '%s' has fewer than two levels "
                 "among the rows used; it cannot be estimated",
                 s->name, c->name);
    }
cleanup:
    return st;
}

/* The model's rows as doubles: numeric predictors, response, weights, offset
 * (real columns as decrypted, others converted); design level indices of
 * categorical predictors. All secret; only rows in cc are meaningful. */
struct rows {
    struct sl_secbuf **buf; /* [ncols] converted columns where needed */
    const double **num;     /* [nvars] */
    const int32_t **lev;    /* [nvars] */
    const double *y, *w, *off;
};

static void rows_free(struct rows *r, int ncols)
{
    if (r->buf)
        for (int k = 0; k < ncols; k++)
            sl_secbuf_destroy(&r->buf[k]);
    sl_free(r->buf);
    sl_free(r->num);
    sl_free(r->lev);
    memset(r, 0, sizeof *r);
}

static sl_status build_rows(const struct glm_state *s, int64_t n, const void **data,
                            const uint8_t *cc, const struct levels *lv, struct rows *r)
{
    sl_status st = SL_OK;
    int nv = s->f->nvars;

    memset(r, 0, sizeof *r);
    r->buf = sl_calloc((size_t)s->ncols, sizeof *r->buf);
    r->num = sl_calloc((size_t)nv + 1, sizeof *r->num);
    r->lev = sl_calloc((size_t)nv + 1, sizeof *r->lev);
    SL_CHECK(r->buf && r->num && r->lev, SL_ERR_NOMEM, "out of memory");
    for (int k = 0; k < s->ncols; k++) {
        const struct glm_col *c = &s->cols[k];
        int v = c->var;
        if (c->type == SL_COL_CAT && c->role == ROLE_PREDICTOR) {
            int32_t *out;
            const int32_t *code = data[k];
            SL_CALL(sl_secbuf_create((size_t)(n > 0 ? n : 1) * sizeof(int32_t), &r->buf[k]));
            out = r->buf[k]->data;
            for (int64_t i = 0; i < n; i++)
                out[i] = cc[i] ? lv->map[v][code[i]] : -1;
            r->lev[v] = out;
            continue;
        }
        {
            const double *out;
            if (c->type == SL_COL_REAL) {
                /* used as decrypted: rows outside cc are never read */
                out = data[k];
            } else {
                double *conv;
                SL_CALL(sl_secbuf_create((size_t)(n > 0 ? n : 1) * sizeof(double), &r->buf[k]));
                conv = r->buf[k]->data;
                for (int64_t i = 0; i < n; i++) {
                    if (!cc[i])
                        conv[i] = 0;
                    else if (c->type == SL_COL_CAT) /* two-level outcome: second level is 1 */
                        conv[i] = ((const int32_t *)data[k])[i] == 1 ? 1.0 : 0.0;
                    else
                        conv[i] = col_number(c, data[k], i);
                }
                out = conv;
            }
            switch (c->role) {
            case ROLE_RESPONSE: r->y = out; break;
            case ROLE_PREDICTOR: r->num[v] = out; break;
            case ROLE_WEIGHTS: r->w = out; break;
            case ROLE_OFFSET: r->off = out; break;
            }
        }
    }
cleanup:
    return st;
}

/* Progress lines (rank 0, rate-limited by sl_exec_progress). */
static void fit_progress(void *ctx, bool null_model, int iteration, double deviance)
{
    sl_exec_progress(ctx, "glm: %siteration %d, deviance %.10g", null_model ? "null model " : "",
                     iteration, deviance);
}

static sl_status gather_chunks(void *ctx, const double *local, int64_t nlocal, int64_t width,
                               double **all, int64_t *nall)
{
    sl_status st = SL_OK;
    struct sl_exec *ex = ctx;
    (void)nlocal;
    *nall = 0;
    SL_CALL(sl_exec_gather_chunks(ex, local, width, all));
    *nall = sl_cohort_nchunks(sl_exec_cohort(ex));
cleanup:
    return st;
}

static json_t *num_json(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static void fmt_value(double v, char *buf, size_t size)
{
    snprintf(buf, size, "%.15g", v);
}

/* Patients per level of the outcome and of every categorical or binary
 * column: what model_levels judges (never released as such). */
static sl_status facts_levels(const struct glm_state *s, const struct scan *sc, json_t *arr)
{
    sl_status st = SL_OK;
    static const char *const role_name[] = {"outcome", "predictor", "weights", "offset"};
    char label[64];

    for (int k = 0; k < s->ncols; k++) {
        const struct glm_col *c = &s->cols[k];
        const struct distinct *d = &sc->dist[k];
        const char *role = role_name[c->role];
        if (c->role == ROLE_RESPONSE && s->family == SL_GLM_GAUSSIAN_IDENTITY)
            role = "response";
        if (c->role == ROLE_PREDICTOR && !sl_formula_uses_var(s->f, c->var))
            continue;
        if (c->type == SL_COL_CAT) {
            for (int32_t l = 0; l < c->nlevels; l++) {
                /* unused predictor levels are not in the model; outcome levels always are */
                if (sc->levels[k][l] == 0 && c->role != ROLE_RESPONSE)
                    continue;
                SL_CHECK(json_array_append_new(
                             arr, json_pack("{s:s,s:s,s:s,s:I}", "variable", c->name, "role",
                                            role, "level", c->labels[l], "n",
                                            (json_int_t)sc->levels[k][l])) == 0,
                         SL_ERR_NOMEM, "out of memory");
            }
        } else if (c->role == ROLE_RESPONSE && s->family == SL_GLM_BINOMIAL_LOGIT) {
            for (int j = 0; j < 2; j++) {
                int64_t n = 0;
                for (int e = 0; e < d->k && d->k <= 3; e++)
                    if (d->v[e] == (double)j)
                        n = d->c[e];
                SL_CHECK(json_array_append_new(
                             arr, json_pack("{s:s,s:s,s:s,s:I}", "variable", c->name, "role",
                                            role, "level", j ? "1" : "0", "n", (json_int_t)n)) ==
                             0,
                         SL_ERR_NOMEM, "out of memory");
            }
        } else if (d->k == 2) {
            int lo = d->v[0] < d->v[1] ? 0 : 1;
            for (int j = 0; j < 2; j++) {
                int e = j == 0 ? lo : 1 - lo;
                fmt_value(d->v[e], label, sizeof label);
                SL_CHECK(json_array_append_new(
                             arr, json_pack("{s:s,s:s,s:s,s:I,s:b}", "variable", c->name,
                                            "role", role, "level", label, "n",
                                            (json_int_t)d->c[e], "binary_numeric", 1)) == 0,
                         SL_ERR_NOMEM, "out of memory");
            }
        }
    }
cleanup:
    return st;
}

/* The warning for a null model (intercept and offset) whose own IRLS fit did
 * not converge, into buf: its deviance is still reported as null_deviance,
 * as R does (R warns "fitting to calculate the null deviance did not
 * converge"). */
static void null_fit_warning(const struct sl_glm_fit *fit, char *buf, size_t size)
{
    if (fit->null_halving_failed)
        snprintf(buf, size,
                 "null-model non-convergence: step-halving could not reduce the deviance of "
                 "the null model (intercept and offset) at iteration %d; null_deviance is that "
                 "of its last step",
                 fit->null_iterations);
    else
        snprintf(buf, size,
                 "null-model non-convergence: the null model (intercept and offset) did not "
                 "converge in %d iterations (relative deviance change still >= 1e-8); "
                 "null_deviance is that of its last iteration",
                 fit->null_iterations);
}

static sl_status add_warnings(const struct glm_state *s, const struct sl_design *d,
                              const struct sl_glm_fit *fit, const struct sl_rules *rules,
                              json_t *model)
{
    sl_status st = SL_OK;
    json_t *warn = json_array(), *aliased = json_array(), *notes = json_array();
    char names[1024] = "", dnames[1024] = "", text[256];
    int naliased = 0, ndiv = 0;

    SL_CHECK(warn && aliased && notes, SL_ERR_NOMEM, "out of memory");
    for (int64_t j = 0; j < d->ncols; j++) {
        if (fit->aliased[j]) {
            json_array_append_new(aliased, json_string(d->names[j]));
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                     naliased++ ? ", " : "", d->names[j]);
        }
        if (fit->diverging[j])
            snprintf(dnames + strlen(dnames), sizeof dnames - strlen(dnames), "%s%s",
                     ndiv++ ? ", " : "", d->names[j]);
    }
    if (naliased)
        json_array_append_new(
            warn, json_sprintf("rank deficiency: %d coefficient(s) not estimable because their "
                               "columns are linear combinations of earlier columns (aliased, "
                               "reported as null): %s",
                               naliased, names));
    if (fit->n_boundary > 0)
        json_array_append_new(
            warn, json_sprintf("separation: fitted probabilities numerically 0 or 1 occurred; "
                               "the outcome is completely or quasi-completely separated by "
                               "the predictors, so maximum likelihood estimates do not exist "
                               "and the estimates and standard errors of the separating terms "
                               "are meaningless%s%s",
                               ndiv ? "; estimates still diverging: " : "", ndiv ? dnames : ""));
    if (!fit->converged) {
        if (fit->halving_failed)
            json_array_append_new(
                warn, json_sprintf("non-convergence: step-halving could not reduce the "
                                   "deviance at iteration %d; the estimates are those of the "
                                   "last step",
                                   fit->iterations));
        else
            json_array_append_new(
                warn, json_sprintf("non-convergence: the algorithm did not converge in %d "
                                   "iterations (relative deviance change still >= 1e-8)%s%s",
                                   fit->iterations,
                                   ndiv && fit->n_boundary == 0 ? "; estimates still diverging: "
                                                                : "",
                                   ndiv && fit->n_boundary == 0 ? dnames : ""));
    }
    if (!fit->null_converged) {
        null_fit_warning(fit, text, sizeof text);
        json_array_append_new(warn, json_string(text));
    }
    if (s->covariance && !rules->release_covariance)
        json_array_append_new(notes, json_string("the covariance matrix was requested, but the "
                                                 "policy does not release covariance matrices "
                                                 "(rules.release_covariance)"));
    json_object_set_new(model, "separation", json_boolean(fit->n_boundary > 0));
    json_object_set_new(model, "warnings", warn);
    json_object_set_new(model, "aliased", aliased);
    json_object_set_new(model, "notes", notes);
    warn = aliased = notes = NULL;
cleanup:
    json_decref(warn);
    json_decref(aliased);
    json_decref(notes);
    return st;
}

static sl_status build_table(const struct glm_state *s, const struct sl_design *d,
                             const struct levels *lv, const struct scan *sc,
                             const struct sl_glm_fit *fit, const struct sl_rules *rules,
                             struct sl_table **out)
{
    sl_status st = SL_OK;
    struct sl_table *t = NULL;
    struct sl_dim dim = {(char *)"term", (int32_t)d->ncols, d->names, NULL};
    int ie, ise, istat, ip, ilo, ihi;
    int binomial = s->family == SL_GLM_BINOMIAL_LOGIT;
    json_t *model = NULL, *facts = NULL, *levels = NULL, *ref = NULL;
    int64_t p = d->ncols;

    *out = NULL;
    SL_CALL(sl_table_create(s->name, "glm", 1, &dim, &t));
    SL_CALL(sl_table_add_stat(t, "estimate", SL_STAT_COEF, &ie));
    SL_CALL(sl_table_add_stat(t, "std_error", SL_STAT_COEF, &ise));
    SL_CALL(sl_table_add_stat(t, binomial ? "z_value" : "t_value", SL_STAT_COEF, &istat));
    SL_CALL(sl_table_add_stat(t, "p_value", SL_STAT_COEF, &ip));
    SL_CALL(sl_table_add_stat(t, "ci_lower", SL_STAT_COEF, &ilo));
    SL_CALL(sl_table_add_stat(t, "ci_upper", SL_STAT_COEF, &ihi));
    for (int64_t j = 0; j < p; j++) {
        double b = fit->beta[j], se = sqrt(fit->dispersion * fit->cov_unscaled[j + j * p]);
        double z = b / se;
        t->n[j] = fit->n_used;
        if (fit->aliased[j])
            continue;
        t->stats[ie].v[j] = b;
        t->stats[ise].v[j] = se;
        t->stats[istat].v[j] = z;
        t->stats[ip].v[j] = binomial ? sl_glm_p_normal(z)
                                     : sl_glm_p_student(z, (double)fit->df_residual);
        t->stats[ilo].v[j] = b - SL_GLM_Z975 * se;
        t->stats[ihi].v[j] = b + SL_GLM_Z975 * se;
    }

    ref = json_object();
    SL_CHECK(ref, SL_ERR_NOMEM, "out of memory");
    for (int v = 0; v < s->f->nvars; v++)
        if (lv->dv[v].categorical && sl_formula_uses_var(s->f, v))
            json_object_set_new(ref, s->f->vars[v],
                                json_string(lv->dv[v].labels[lv->dv[v].reference]));
    model = json_pack(
        "{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:o,s:o,s:b,s:o,s:i,s:b,s:o,s:s,s:O}", "family",
        binomial ? "binomial" : "gaussian", "link", binomial ? "logit" : "identity", "formula",
        s->f->text, "n", (json_int_t)fit->n_used, "n_dropped",
        (json_int_t)(sc->ints[I_KEPT] - sc->ints[I_COMPLETE]), "df_residual",
        (json_int_t)fit->df_residual, "df_null", (json_int_t)fit->df_null, "rank",
        (json_int_t)fit->rank, "deviance", num_json(fit->deviance), "null_deviance",
        num_json(fit->null_deviance), "null_converged", fit->null_converged, "aic",
        num_json(fit->aic), "iterations", fit->iterations,
        "converged", fit->converged, "dispersion", num_json(fit->dispersion), "statistic",
        binomial ? "z" : "t", "reference", ref);
    SL_CHECK(model, SL_ERR_NOMEM, "out of memory");
    json_object_set_new(model, "weights",
                        s->weights >= 0 ? json_string(s->cols[s->weights].name) : json_null());
    json_object_set_new(model, "offset",
                        s->offset >= 0 ? json_string(s->cols[s->offset].name) : json_null());
    SL_CALL(add_warnings(s, d, fit, rules, model));
    if (s->covariance && rules->release_covariance) {
        json_t *rows = json_array(), *terms = json_array();
        SL_CHECK(rows && terms, SL_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; i < p; i++) {
            json_t *row = json_array();
            json_array_append_new(terms, json_string(d->names[i]));
            for (int64_t j = 0; j < p; j++)
                json_array_append_new(row,
                                      num_json(fit->dispersion * fit->cov_unscaled[i + j * p]));
            json_array_append_new(rows, row);
        }
        json_object_set_new(model, "covariance",
                            json_pack("{s:o,s:o}", "terms", terms, "matrix", rows));
    }

    levels = json_array();
    SL_CHECK(levels, SL_ERR_NOMEM, "out of memory");
    SL_CALL(facts_levels(s, sc, levels));
    facts = json_pack("{s:I,s:I,s:I,s:O}", "n", (json_int_t)fit->n_used, "n_params",
                      (json_int_t)p, "rank", (json_int_t)fit->rank, "levels", levels);
    SL_CHECK(facts, SL_ERR_NOMEM, "out of memory");

    t->spec = json_incref(s->spec);
    t->model = model;
    t->facts = facts;
    model = facts = NULL;
    *out = t;
    t = NULL;
cleanup:
    json_decref(ref);
    json_decref(levels);
    json_decref(model);
    json_decref(facts);
    sl_table_destroy(&t);
    return st;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static sl_status glm_execute(void *state, struct sl_exec *ex, struct sl_outputs *outs)
{
    sl_status st = SL_OK;
    struct glm_state *s = state;
    const struct sl_frame *fr = sl_exec_frame(ex);
    const void **data = NULL;
    struct sl_secbuf *ccbuf = NULL, *xbuf = NULL, *onesbuf = NULL, **bandbuf = NULL;
    struct scan sc;
    struct levels lv;
    struct rows rw;
    struct sl_design *d = NULL;
    struct sl_glm_block *blocks = NULL;
    const double **colptr = NULL;
    double *ones;
    struct sl_glm_fit *fit = NULL;
    struct sl_table *t = NULL;
    struct sl_glm_problem pr;
    uint8_t *cc;
    int64_t n = fr->nrows, p, nmade;
    size_t xsize;
    double t0 = now_s(), ts = t0, t1;

    memset(&sc, 0, sizeof sc);
    memset(&lv, 0, sizeof lv);
    memset(&rw, 0, sizeof rw);
    data = sl_calloc((size_t)s->ncols, sizeof *data);
    SL_CHECK(data, SL_ERR_NOMEM, "out of memory");
    bandbuf = sl_calloc((size_t)s->ncols, sizeof *bandbuf);
    SL_CHECK(bandbuf, SL_ERR_NOMEM, "out of memory");
    for (int k = 0; k < s->ncols; k++) {
        int fc = sl_frame_find(fr, s->cols[k].col);
        SL_CHECK(fc >= 0, SL_ERR_INTERNAL, "model column '%s' not loaded", s->cols[k].name);
        data[k] = fr->data[fc]->data;
        if (s->cols[k].band) {
            /* a banded predictor is read as the category codes of its bands */
            SL_CALL(sl_secbuf_create((size_t)(n > 0 ? n : 1) * sizeof(int32_t), &bandbuf[k]));
            sl_band_rows(s->cols[k].band, data[k], n, SL_CAT_MISSING, 0, bandbuf[k]->data);
            data[k] = bandbuf[k]->data;
        }
    }
    SL_CALL(sl_secbuf_create((size_t)(n > 0 ? n : 1), &ccbuf));
    cc = ccbuf->data;
    SL_CALL(scan_rows(s, ex, data, cc, &sc));
    ts = now_s();
    SL_CALL(check_scan(s, ex, &sc));
    SL_CALL(build_levels(s, &sc, &lv));
    SL_CALL(sl_design_create(s->f, lv.dv, &d));
    SL_CALL(build_rows(s, n, data, cc, &lv, &rw));

    /* The design by columns: a numeric predictor on its own is used as
     * decrypted (or converted) in place; the intercept reads one shared
     * block of ones (rows outside cc are never read); only indicators and
     * products are written out, with the driver's scratch column. */
    p = d->ncols;
    nmade = 1;
    for (int64_t c = 0; c < p; c++)
        nmade += d->fac_start[c + 1] > d->fac_start[c] && !sl_design_column_ref(d, c, rw.num);
    SL_CHECK(sl_size_mul((size_t)(n + 1), (size_t)nmade * sizeof(double), &xsize) == 0,
             SL_ERR_NOMEM, "the design matrix is too large");
    SL_CALL(sl_secbuf_create(xsize, &xbuf));
    SL_CALL(sl_secbuf_create((size_t)(sl_frame_max_chunk_rows(fr) + 1) * sizeof(double),
                             &onesbuf));
    ones = onesbuf->data;
    for (int64_t i = 0; i <= sl_frame_max_chunk_rows(fr); i++)
        ones[i] = 1.0;
    blocks = sl_calloc((size_t)fr->nchunks + 1, sizeof *blocks);
    colptr = sl_calloc((size_t)(fr->nchunks * p + 1), sizeof *colptr);
    SL_CHECK(blocks && colptr, SL_ERR_NOMEM, "out of memory");
    for (int64_t b = 0; b < fr->nchunks; b++) {
        int64_t r0 = fr->chunk_row0[b], nb = fr->chunk_row0[b + 1] - r0, made = 1;
        const double *num[SL_FORMULA_MAX_VARS];
        const int32_t *lev[SL_FORMULA_MAX_VARS];
        const double **cols = colptr + b * p;
        double *x = xbuf->data;
        for (int v = 0; v < s->f->nvars; v++) {
            num[v] = rw.num[v] ? rw.num[v] + r0 : NULL;
            lev[v] = rw.lev[v] ? rw.lev[v] + r0 : NULL;
        }
        for (int64_t c = 0; c < p; c++) {
            if ((cols[c] = sl_design_column_ref(d, c, num)))
                continue;
            if (d->fac_start[c + 1] == d->fac_start[c]) {
                cols[c] = ones;
                continue;
            }
            sl_design_fill_column(d, c, nb, num, lev, cc + r0, x + made * n + r0);
            cols[c] = x + made++ * n + r0;
        }
        blocks[b] = (struct sl_glm_block){nb,
                                          cols,
                                          x + r0,
                                          rw.y + r0,
                                          rw.w ? rw.w + r0 : NULL,
                                          rw.off ? rw.off + r0 : NULL,
                                          cc + r0};
    }
    pr = (struct sl_glm_problem){.family = s->family,
                                 .p = p,
                                 .intercept = s->f->intercept,
                                 .has_offset = s->offset >= 0,
                                 .nblocks = fr->nchunks,
                                 .blocks = blocks,
                                 .backend = sl_exec_backend(ex),
                                 .gather = gather_chunks,
                                 .gather_ctx = ex,
                                 .maxit = 25,
                                 .epsilon = 1e-8,
                                 .progress = fit_progress,
                                 .progress_ctx = ex};
    sl_exec_progress(ex, "glm '%s': fitting %" PRId64 " coefficients", s->name, p);
    t1 = now_s();
    st = sl_glm_fit_run(&pr, &fit);
    if (st != SL_OK) {
        sl_error_prefix("analysis '%s'", s->name);
        goto cleanup;
    }
    sl_log_debug("glm '%s': scan %.3f s, design %.3f s, fit %.3f s (%d iterations, %" PRId64
                 " rows here)",
                 s->name, ts - t0, t1 - ts, now_s() - t1, fit->iterations, n);
    if (sl_exec_rank(ex) == 0) {
        if (!fit->null_converged) {
            char text[256];
            null_fit_warning(fit, text, sizeof text);
            sl_log_warn("glm '%s': %s", s->name, text);
        }
        SL_CALL(build_table(s, d, &lv, &sc, fit, sl_exec_rules(ex), &t));
        SL_CALL(sl_outputs_push(outs, &t));
    }
cleanup:
    sl_table_destroy(&t);
    sl_glm_fit_destroy(&fit);
    sl_free(blocks);
    sl_free(colptr);
    sl_secbuf_destroy(&xbuf);
    sl_secbuf_destroy(&onesbuf);
    rows_free(&rw, s->ncols);
    sl_design_destroy(&d);
    levels_free(&lv, s->f->nvars);
    scan_free(&sc);
    sl_secbuf_destroy(&ccbuf);
    for (int k = 0; bandbuf && k < s->ncols; k++)
        sl_secbuf_destroy(&bandbuf[k]);
    sl_free(bandbuf);
    sl_free(data);
    return st;
}

const struct sl_job_type sl_job_glm = {
    .name = "glm",
    .summary = "generalised linear model (gaussian or binomial/logit) from an R formula",
    .prepare = glm_prepare,
    .execute = glm_execute,
    .destroy = glm_destroy,
};
