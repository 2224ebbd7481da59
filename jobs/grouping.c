/*
 * grouping.c: rows to cells, and full grids to published tables, for
 * tabulating analyses (see grouping.h).
 */
#include "jobs/grouping.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/clones.h"
#include "engine/config.h"
#include "io/format.h"
#include "io/schema.h"

sl_status sl_band_parse(struct sl_band *b, const struct sl_params *bands,
                        const struct sl_colinfo *info)
{
    sl_status st = SL_OK;
    const char **text = NULL;
    double *num = NULL;
    int n = 0;
    const char *where;

    if (info->type == SL_COL_DATE) {
        SL_CALL(sl_params_strings(bands, info->name, true, &text, &n));
        num = sl_malloc((size_t)(n > 0 ? n : 1) * sizeof *num);
        SL_CHECK(num, SL_ERR_NOMEM, "out of memory");
        for (int i = 0; i < n; i++) {
            int32_t days;
            SL_CHECK(sl_parse_date(text[i], strlen(text[i]), &days) == 0, SL_ERR_FORMAT,
                     "%s: cut %d of date column '%s' is '%.40s'; expected a date YYYY-MM-DD",
                     sl_params_where(bands, info->name), i + 1, info->name, text[i]);
            num[i] = days;
        }
    } else {
        SL_CALL(sl_params_doubles(bands, info->name, true, &num, &n));
    }
    where = sl_params_where(bands, info->name);
    SL_CHECK(n >= 1 && n <= SL_BAND_MAX_CUTS, SL_ERR_FORMAT,
             "%s: column '%s' needs between 1 and %d cut points, got %d", where, info->name,
             SL_BAND_MAX_CUTS, n);
    for (int i = 0; i < n; i++) {
        SL_CHECK(isfinite(num[i]), SL_ERR_FORMAT, "%s: cut %d is not a finite number", where,
                 i + 1);
        /* whole numbers within 2^53 compare exactly with every int64 */
        SL_CHECK(info->type != SL_COL_INT || (num[i] == floor(num[i]) && fabs(num[i]) <= 0x1p53),
                 SL_ERR_FORMAT, "%s: cut %d (%.17g) of integer column '%s' is not a whole "
                 "number", where, i + 1, num[i], info->name);
        SL_CHECK(i == 0 || num[i] > num[i - 1], SL_ERR_FORMAT,
                 "%s: cut points must increase strictly (cut %d is not above cut %d)", where,
                 i + 1, i);
        b->cuts[i] = num[i];
    }
    b->ncuts = n;
    b->type = info->type;
cleanup:
    sl_free(text);
    sl_free(num);
    return st;
}

/* Adds cohort column `name` as the next grouping column: categorical, or
 * numeric with cut points in `bands` (NULL when the analysis has none). */
static sl_status add_column(struct sl_grouping *g, const struct sl_analysis *a, const char *key,
                            const char *name, const struct sl_params *bands,
                            const struct sl_cohort *c)
{
    sl_status st = SL_OK;
    int col = -1;
    const struct sl_colinfo *info;
    struct sl_band *b = NULL;
    int32_t nlevels;

    SL_CHECK(g->ndims < SL_TABLE_MAX_DIMS, SL_ERR_FORMAT,
             "%s: analysis '%s' groups by more than %d columns", sl_params_where(a->params, key),
             a->name, SL_TABLE_MAX_DIMS);
    b = &g->band[g->ndims];
    SL_CALL(sl_column_find(c, name, sl_params_where(a->params, key), NULL, &col));
    info = sl_cohort_col(c, col);
    for (int j = 0; j < g->ndims; j++)
        SL_CHECK(g->cols[j] != col, SL_ERR_FORMAT, "%s: column '%s' is listed twice",
                 sl_params_where(a->params, key), name);
    memset(b, 0, sizeof *b);
    if (info->type == SL_COL_CAT) {
        nlevels = info->nlevels;
    } else {
        SL_CHECK(info->type == SL_COL_INT || info->type == SL_COL_REAL ||
                     info->type == SL_COL_DATE,
                 SL_ERR_FORMAT, "%s: column '%s' is %s; grouping needs a categorical column",
                 sl_params_where(a->params, key), name, sl_coltype_name(info->type));
        SL_CHECK(bands && sl_params_has(bands, info->name), SL_ERR_FORMAT,
                 "%s: column '%s' is %s; grouping needs a categorical column, or cut points "
                 "that band this one (bands: {%s: [...]})",
                 sl_params_where(a->params, key), name, sl_coltype_name(info->type), name);
        SL_CALL(sl_band_parse(b, bands, info));
        nlevels = b->ncuts + 1;
    }
    SL_CHECK(g->ncells <= INT32_MAX / (nlevels + 1), SL_ERR_FORMAT,
             "%s: grouping by '%s' too would make more than 2^31 cells",
             sl_params_where(a->params, key), name);
    g->cols[g->ndims] = col;
    g->nlevels[g->ndims] = nlevels;
    g->names[g->ndims] = info->name;
    g->ndims++;
    g->ncells *= nlevels + 1;
cleanup:
    if (st != SL_OK && b)
        memset(b, 0, sizeof *b);
    return st;
}

sl_status sl_grouping_parse(struct sl_grouping *g, const struct sl_analysis *a, const char *key,
                            const struct sl_cohort *c)
{
    sl_status st = SL_OK;
    const char **names = NULL;
    int n = 0;
    struct sl_params *bands = NULL;

    memset(g, 0, sizeof *g);
    g->ncells = 1;
    SL_CALL(sl_params_strings(a->params, key, false, &names, &n));
    SL_CHECK(n <= SL_TABLE_MAX_DIMS, SL_ERR_FORMAT,
             "%s: analysis '%s' groups by %d columns; at most %d are allowed",
             sl_params_where(a->params, key), a->name, n, SL_TABLE_MAX_DIMS);
    SL_CALL(sl_params_sub(a->params, "bands", &bands));
    for (int i = 0; i < n; i++)
        SL_CALL(add_column(g, a, key, names[i], bands, c));
    SL_CALL(sl_grouping_check_bands(g, a));
cleanup:
    sl_params_free(&bands);
    sl_free(names);
    return st;
}

sl_status sl_grouping_append(struct sl_grouping *g, const struct sl_analysis *a, const char *key,
                             bool required, const struct sl_cohort *c)
{
    sl_status st = SL_OK;
    const char *name = NULL;
    struct sl_params *bands = NULL;

    SL_CALL(sl_params_string(a->params, key, required, &name));
    SL_CALL(sl_params_sub(a->params, "bands", &bands));
    if (name)
        SL_CALL(add_column(g, a, key, name, bands, c));
cleanup:
    sl_params_free(&bands);
    return st;
}

sl_status sl_grouping_check_bands(const struct sl_grouping *g, const struct sl_analysis *a)
{
    sl_status st = SL_OK;
    struct sl_params *bands = NULL;
    const char **keys = NULL;
    int n = 0;

    SL_CALL(sl_params_sub(a->params, "bands", &bands));
    if (!bands)
        goto cleanup;
    SL_CALL(sl_params_keys(bands, &keys, &n));
    for (int i = 0; i < n; i++) {
        int d = 0;
        while (d < g->ndims && strcmp(g->names[d], keys[i]) != 0)
            d++;
        SL_CHECK(d < g->ndims, SL_ERR_FORMAT,
                 "%s: 'bands' cuts column '%s', which analysis '%s' does not group by",
                 sl_params_where(bands, keys[i]), keys[i], a->name);
        SL_CHECK(g->band[d].ncuts > 0, SL_ERR_FORMAT,
                 "%s: column '%s' is categorical: its levels are its groups, and 'bands' cuts "
                 "numeric columns only",
                 sl_params_where(bands, keys[i]), keys[i]);
    }
cleanup:
    sl_free(keys);
    sl_params_free(&bands);
    return st;
}

void sl_band_label(const struct sl_band *b, int32_t level, char *buf, size_t cap)
{
    char lo[40] = "", hi[40] = "";
    double a = level > 0 ? b->cuts[level - 1] : 0, z = level < b->ncuts ? b->cuts[level] : 0;

    if (b->type == SL_COL_DATE) {
        if (level > 0)
            sl_format_date((int32_t)a, lo);
        if (level < b->ncuts)
            sl_format_date((int32_t)z, hi);
    } else {
        if (level > 0)
            snprintf(lo, sizeof lo, "%.15g", a);
        /* an integer band [a, z) holds a .. z - 1 */
        if (level < b->ncuts)
            snprintf(hi, sizeof hi, "%.15g", b->type == SL_COL_INT && level > 0 ? z - 1 : z);
    }
    if (level == 0)
        snprintf(buf, cap, "<%s", hi);
    else if (level == b->ncuts)
        snprintf(buf, cap, ">=%s", lo);
    else if (b->type != SL_COL_INT)
        snprintf(buf, cap, "[%s,%s)", lo, hi);
    else if (z - a == 1)
        snprintf(buf, cap, "%s", lo);
    else
        snprintf(buf, cap, a >= 0 ? "%s-%s" : "%s to %s", lo, hi);
}

/* Rows per block of the index loops: a constant trip count lets the compiler
 * vectorise them at -O2 (with an AVX2 clone where the compiler makes one:
 * integer work, the same result). */
#define INDEX_BLOCK 64
/* Rows whose cells are built column after column before moving on. */
#define CELL_BLOCK 2048

/* cell[i] = level of code[i] (missing -> nlev); returns nonzero when a code
 * is outside [-1, nlev). */
SL_CLONES_AVX2
static uint32_t first_level(const int32_t *restrict code, int32_t nlev, int32_t *restrict cell,
                            int64_t n)
{
    uint32_t bad = 0, top = (uint32_t)nlev;
    int64_t i = 0;
    for (; i + INDEX_BLOCK <= n; i += INDEX_BLOCK)
        for (int j = 0; j < INDEX_BLOCK; j++) {
            int32_t v = code[i + j];
            bad |= (uint32_t)v + 1u > top;
            cell[i + j] = v == SL_CAT_MISSING ? nlev : v;
        }
    for (; i < n; i++) {
        int32_t v = code[i];
        bad |= (uint32_t)v + 1u > top;
        cell[i] = v == SL_CAT_MISSING ? nlev : v;
    }
    return bad;
}

/* Count of the cuts at or below x (binary search, for many cuts). */
static inline int32_t band_of(const double *cuts, int n, double x)
{
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (cuts[mid] <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Up to this many cuts are counted without branches (values are random to
 * the branch predictor) over padded cut lists; more take a binary search. */
#define BAND_WIDE 16

/* The cuts of b padded to BAND_WIDE in each column type's own numbers:
 * doubles padded with NaN (no value is at or above one), whole numbers
 * (exact: the cuts of integer and date columns are whole, within 2^53)
 * padded with the type's largest value, which the count then caps; and
 * all the cuts as doubles, for the binary search. */
struct band_cuts {
    double r[BAND_WIDE];
    int64_t i[BAND_WIDE];
    int32_t d[BAND_WIDE];
    const double *all;
};

/* out[i] = the band of row i of `col` (of column type `type`), counted
 * against w padded cuts (w 0: a binary search of all nc), or `missing`;
 * with `combine`, out[i] * scale + that. Blocks of INDEX_BLOCK rows with
 * constant trip counts, so that GCC vectorises them at -O2; type, w and
 * combine are constants once inlined. */
static inline __attribute__((always_inline)) void
band_block(const struct band_cuts *bc, const int type, const int w, int32_t nc,
           const int combine, const void *col, int64_t n, int32_t missing, int32_t scale,
           int32_t *restrict out)
{
    for (int64_t b0 = 0; b0 < n; b0 += INDEX_BLOCK) {
        int64_t len = n - b0 < INDEX_BLOCK ? n - b0 : INDEX_BLOCK;
        for (int64_t j = 0; j < len; j++) {
            int32_t l = 0;
            int miss;
            if (type == SL_COL_REAL) {
                double x = ((const double *)col)[b0 + j];
                for (int k = 0; k < w; k++)
                    l += bc->r[k] <= x;
                if (!w)
                    l = band_of(bc->all, nc, x);
                miss = x != x;
            } else if (type == SL_COL_INT) {
                int64_t x = ((const int64_t *)col)[b0 + j];
                for (int k = 0; k < w; k++)
                    l += bc->i[k] <= x;
                if (!w)
                    l = band_of(bc->all, nc, (double)x);
                miss = x == SL_INT_MISSING;
            } else {
                int32_t x = ((const int32_t *)col)[b0 + j];
                for (int k = 0; k < w; k++)
                    l += bc->d[k] <= x;
                if (!w)
                    l = band_of(bc->all, nc, (double)x);
                miss = x == SL_DATE_MISSING;
            }
            l = l > nc ? nc : l;
            l = miss ? missing : l;
            out[b0 + j] = combine ? out[b0 + j] * scale + l : l;
        }
    }
}

/* band_block with the width the number of cuts needs. */
static inline __attribute__((always_inline)) void
band_width(const struct band_cuts *bc, const int type, int32_t nc, const int combine,
           const void *col, int64_t n, int32_t missing, int32_t scale, int32_t *out)
{
    if (nc <= 4)
        band_block(bc, type, 4, nc, combine, col, n, missing, scale, out);
    else if (nc <= 8)
        band_block(bc, type, 8, nc, combine, col, n, missing, scale, out);
    else if (nc <= BAND_WIDE)
        band_block(bc, type, BAND_WIDE, nc, combine, col, n, missing, scale, out);
    else
        band_block(bc, type, 0, nc, combine, col, n, missing, scale, out);
}

/* band_width for one column type, the first column or combined. */
static inline __attribute__((always_inline)) void
band_typed(const struct band_cuts *bc, const int type, int32_t nc, const void *col, int64_t n,
           int32_t missing, int32_t scale, int32_t *out)
{
    if (scale)
        band_width(bc, type, nc, 1, col, n, missing, scale, out);
    else
        band_width(bc, type, nc, 0, col, n, missing, scale, out);
}

SL_CLONES_AVX2
static void band_wide(const struct sl_band *b, const struct band_cuts *bc, const void *col,
                      int64_t n, int32_t missing, int32_t scale, int32_t *out)
{
    if (b->type == SL_COL_REAL)
        band_typed(bc, SL_COL_REAL, b->ncuts, col, n, missing, scale, out);
    else if (b->type == SL_COL_INT)
        band_typed(bc, SL_COL_INT, b->ncuts, col, n, missing, scale, out);
    else
        band_typed(bc, SL_COL_DATE, b->ncuts, col, n, missing, scale, out);
}

void sl_band_rows(const struct sl_band *b, const void *col, int64_t n, int32_t missing,
                  int32_t scale, int32_t *out)
{
    struct band_cuts bc;

    for (int k = 0; k < BAND_WIDE; k++) {
        int in = k < b->ncuts;
        bc.r[k] = in ? b->cuts[k] : NAN;
        bc.i[k] = in ? (int64_t)b->cuts[k] : INT64_MAX;
        bc.d[k] = in ? (int32_t)b->cuts[k] : INT32_MAX;
    }
    bc.all = b->cuts;
    band_wide(b, &bc, col, n, missing, scale, out);
}

/* cell[i] = cell[i] * (nlev + 1) + level of code[i]. */
SL_CLONES_AVX2
static uint32_t next_level(const int32_t *restrict code, int32_t nlev, int32_t *restrict cell,
                           int64_t n)
{
    uint32_t bad = 0, top = (uint32_t)nlev;
    int32_t f = nlev + 1;
    int64_t i = 0;
    for (; i + INDEX_BLOCK <= n; i += INDEX_BLOCK)
        for (int j = 0; j < INDEX_BLOCK; j++) {
            int32_t v = code[i + j];
            bad |= (uint32_t)v + 1u > top;
            cell[i + j] = cell[i + j] * f + (v == SL_CAT_MISSING ? nlev : v);
        }
    for (; i < n; i++) {
        int32_t v = code[i];
        bad |= (uint32_t)v + 1u > top;
        cell[i] = cell[i] * f + (v == SL_CAT_MISSING ? nlev : v);
    }
    return bad;
}

/* cell[i] = -1 where mask[i] is 0. */
SL_CLONES_AVX2
static void apply_mask(const uint8_t *restrict mask, int32_t *restrict cell, int64_t n)
{
    int64_t i = 0;
    for (; i + INDEX_BLOCK <= n; i += INDEX_BLOCK)
        for (int j = 0; j < INDEX_BLOCK; j++)
            cell[i + j] = mask[i + j] ? cell[i + j] : -1;
    for (; i < n; i++)
        cell[i] = mask[i] ? cell[i] : -1;
}

sl_status sl_grouping_cells_rows(const struct sl_grouping *g, const struct sl_frame *fr,
                                 const uint8_t *mask, int64_t r0, int64_t r1, int32_t *cell)
{
    sl_status st = SL_OK;
    int64_t n = r1 - r0;
    const int32_t *code[SL_TABLE_MAX_DIMS];
    const void *value[SL_TABLE_MAX_DIMS] = {NULL};

    SL_CHECK(r0 >= 0 && r0 <= r1 && r1 <= fr->nrows, SL_ERR_INTERNAL, "row range out of frame");
    for (int d = 0; d < g->ndims; d++) {
        int fc = sl_frame_find(fr, g->cols[d]);
        SL_CHECK(fc >= 0, SL_ERR_INTERNAL, "grouping column not loaded");
        code[d] = (const int32_t *)fr->data[fc]->data + r0;
        if (g->band[d].ncuts > 0)
            value[d] = (const char *)fr->data[fc]->data +
                       r0 * (g->band[d].type == SL_COL_DATE ? 4 : 8);
    }
    if (g->ndims == 0)
        memset(cell, 0, (size_t)n * sizeof *cell);
    /* all columns block by block, so that the block of cells stays in L1 */
    for (int64_t b0 = 0; b0 < n; b0 += CELL_BLOCK) {
        int64_t len = n - b0 < CELL_BLOCK ? n - b0 : CELL_BLOCK;
        for (int d = 0; d < g->ndims; d++) {
            uint32_t bad = 0;
            if (value[d])
                /* straight into the (secret) cells: no band is kept elsewhere */
                sl_band_rows(&g->band[d],
                             (const char *)value[d] + b0 * (g->band[d].type == SL_COL_DATE ? 4 : 8),
                             len, g->nlevels[d], d == 0 ? 0 : g->nlevels[d] + 1, cell + b0);
            else
                bad = d == 0 ? first_level(code[d] + b0, g->nlevels[d], cell + b0, len)
                             : next_level(code[d] + b0, g->nlevels[d], cell + b0, len);
            SL_CHECK(!bad, SL_ERR_FORMAT,
                     "column '%s' holds a category code outside its %d levels", g->names[d],
                     g->nlevels[d]);
        }
        if (mask)
            apply_mask(mask + r0 + b0, cell + b0, len);
    }
cleanup:
    return st;
}

sl_status sl_grouping_cells_frame(const struct sl_grouping *g, const struct sl_frame *fr,
                                  const uint8_t *mask, int32_t *cell)
{
    return sl_grouping_cells_rows(g, fr, mask, 0, fr->nrows, cell);
}

sl_status sl_grouping_cells(const struct sl_grouping *g, const struct sl_exec *ex, int32_t *cell)
{
    sl_status st = SL_OK;
    st = sl_grouping_cells_frame(g, sl_exec_frame(ex), sl_exec_mask(ex), cell);
    if (st == SL_ERR_FORMAT)
        sl_error_prefix("%s", sl_cohort_path(sl_exec_cohort(ex)));
    return st;
}

sl_status sl_grouping_table(const struct sl_grouping *g, const struct sl_cohort *c,
                            const char *name, const char *analysis, const int64_t *n,
                            int every_level, int64_t *map, struct sl_table **out)
{
    sl_status st = SL_OK;
    struct sl_layout lay;
    struct sl_table *t = NULL;

    *out = NULL;
    sl_layout_init(&lay, g, every_level ? NULL : n, 0);
    SL_CALL(sl_layout_table(&lay, g, c, name, analysis, NULL, &t));
    for (int64_t cell = 0; cell < g->ncells; cell++) {
        int64_t target;
        map[cell] = sl_layout_targets(&lay, cell, &target) ? target : -1;
        if (map[cell] >= 0)
            t->n[target] = n[cell];
    }
    *out = t;
    t = NULL;
cleanup:
    sl_table_destroy(&t);
    return st;
}

/* ---- layouts ---- */

void sl_layout_init(struct sl_layout *lay, const struct sl_grouping *g, const int64_t *n,
                    int margins)
{
    int keep_missing[SL_TABLE_MAX_DIMS] = {0};

    memset(lay, 0, sizeof *lay);
    lay->ndims = g->ndims;
    lay->margins = margins ? 1 : 0;
    lay->nfull = g->ncells;
    for (int d = 0; d < g->ndims; d++)
        lay->full[d] = g->nlevels[d] + 1;
    /* A missing level is kept when any patient has it (always without n). */
    for (int64_t cell = 0; cell < g->ncells; cell++) {
        int64_t rest = cell;
        if (n && n[cell] == 0)
            continue;
        for (int d = g->ndims - 1; d >= 0; d--) {
            if (rest % lay->full[d] == lay->full[d] - 1)
                keep_missing[d] = 1;
            rest /= lay->full[d];
        }
    }
    lay->ncells = 1;
    for (int d = 0; d < g->ndims; d++) {
        lay->shown[d] = g->nlevels[d] + keep_missing[d];
        lay->pub[d] = lay->shown[d] + lay->margins;
        lay->ncells *= lay->pub[d];
    }
}

int sl_layout_targets(const struct sl_layout *lay, int64_t cell, int64_t *targets)
{
    int32_t lev[SL_TABLE_MAX_DIMS];
    int64_t rest = cell;
    int nsub = lay->margins ? 1 << lay->ndims : 1, count = 0;

    for (int d = lay->ndims - 1; d >= 0; d--) {
        lev[d] = (int32_t)(rest % lay->full[d]);
        rest /= lay->full[d];
        if (lev[d] >= lay->shown[d])
            return 0;
    }
    /* Subset s replaces the levels of the dimensions in s by Total. Ascending
     * subsets do not give ascending cells, so sort the few targets. */
    for (int s = 0; s < nsub; s++) {
        int64_t idx = 0;
        for (int d = 0; d < lay->ndims; d++)
            idx = idx * lay->pub[d] + ((s >> d) & 1 ? lay->shown[d] : lev[d]);
        targets[count++] = idx;
    }
    for (int i = 1; i < count; i++) {
        int64_t v = targets[i];
        int j = i;
        for (; j > 0 && targets[j - 1] > v; j--)
            targets[j] = targets[j - 1];
        targets[j] = v;
    }
    return count;
}

sl_status sl_layout_members(const struct sl_layout *lay, int64_t **start_out,
                            int64_t **members_out)
{
    sl_status st = SL_OK;
    int64_t *start = NULL, *members = NULL, *next = NULL, total = 0;
    int64_t targets[SL_LAYOUT_MAX_TARGETS];

    *start_out = NULL;
    *members_out = NULL;
    start = sl_calloc((size_t)lay->ncells + 1, sizeof *start);
    next = sl_malloc((size_t)lay->ncells * sizeof *next);
    SL_CHECK(start && next, SL_ERR_NOMEM, "out of memory");
    for (int64_t c = 0; c < lay->nfull; c++) {
        int k = sl_layout_targets(lay, c, targets);
        for (int i = 0; i < k; i++)
            start[targets[i] + 1]++;
        total += k;
    }
    for (int64_t p = 0; p < lay->ncells; p++) {
        start[p + 1] += start[p];
        next[p] = start[p];
    }
    members = sl_malloc((size_t)(total ? total : 1) * sizeof *members);
    SL_CHECK(members, SL_ERR_NOMEM, "out of memory");
    for (int64_t c = 0; c < lay->nfull; c++) {
        int k = sl_layout_targets(lay, c, targets);
        for (int i = 0; i < k; i++)
            members[next[targets[i]]++] = c;
    }
    *start_out = start;
    *members_out = members;
    start = NULL;
    members = NULL;
cleanup:
    sl_free(start);
    sl_free(members);
    sl_free(next);
    return st;
}

void sl_layout_sum_i64(const struct sl_layout *lay, const int64_t *full, int64_t width,
                       int64_t *pub)
{
    int64_t targets[SL_LAYOUT_MAX_TARGETS];
    for (int64_t c = 0; c < lay->nfull; c++) {
        int k = sl_layout_targets(lay, c, targets);
        for (int i = 0; i < k; i++)
            for (int64_t j = 0; j < width; j++)
                pub[targets[i] * width + j] += full[c * width + j];
    }
}

sl_status sl_layout_table(const struct sl_layout *lay, const struct sl_grouping *g,
                          const struct sl_cohort *c, const char *name, const char *analysis,
                          const struct sl_dim *extra, struct sl_table **out)
{
    sl_status st = SL_OK;
    struct sl_dim dims[SL_TABLE_MAX_DIMS];
    char **labels[SL_TABLE_MAX_DIMS] = {NULL};
    char *text[SL_TABLE_MAX_DIMS] = {NULL}; /* band labels, SL_BAND_LABEL_MAX bytes each */
    struct sl_table *t = NULL;
    int ndims = lay->ndims + (extra ? 1 : 0);

    *out = NULL;
    memset(dims, 0, sizeof dims);
    SL_CHECK(ndims <= SL_TABLE_MAX_DIMS, SL_ERR_ARG,
             "table '%s' would have %d dimensions; at most %d are supported", name, ndims,
             SL_TABLE_MAX_DIMS);
    for (int d = 0; d < lay->ndims; d++) {
        const struct sl_colinfo *info = sl_cohort_col(c, g->cols[d]);
        const struct sl_band *b = &g->band[d];
        labels[d] = sl_calloc((size_t)lay->pub[d], sizeof(char *));
        SL_CHECK(labels[d], SL_ERR_NOMEM, "out of memory");
        if (b->ncuts > 0) {
            text[d] = sl_malloc((size_t)(b->ncuts + 1) * SL_BAND_LABEL_MAX);
            SL_CHECK(text[d], SL_ERR_NOMEM, "out of memory");
        }
        for (int32_t l = 0; l < lay->shown[d]; l++) {
            if (l >= g->nlevels[d]) {
                labels[d][l] = (char *)SL_MISSING_LABEL;
            } else if (b->ncuts > 0) {
                labels[d][l] = text[d] + SL_BAND_LABEL_MAX * l;
                sl_band_label(b, l, labels[d][l], SL_BAND_LABEL_MAX);
            } else {
                labels[d][l] = info->levels[l];
            }
        }
        if (lay->margins)
            labels[d][lay->shown[d]] = (char *)SL_TOTAL_LABEL;
        dims[d] = (struct sl_dim){info->name, lay->pub[d], labels[d], NULL};
        if (b->ncuts > 0) {
            /* band l ends at cut l (open), the last one at +inf */
            SL_CALL(sl_intervals_create(info->name, b->ncuts, lay->pub[d], &dims[d].iv));
            for (int k = 0; k < b->ncuts; k++)
                dims[d].iv->end[k] = b->cuts[k];
            for (int32_t l = 0; l < lay->pub[d]; l++)
                dims[d].iv->upper[l] = l < g->nlevels[d] ? l : -1;
        }
    }
    if (extra)
        dims[lay->ndims] = *extra;
    SL_CALL(sl_table_create(name, analysis, ndims, dims, &t));
    t->margins = lay->margins;
    *out = t;
    t = NULL;
cleanup:
    for (int d = 0; d < lay->ndims; d++) {
        sl_free(labels[d]);
        sl_free(text[d]);
        sl_intervals_destroy(&dims[d].iv);
    }
    sl_table_destroy(&t);
    return st;
}
