/*
 * dpvalues.c: exact aggregates for noisy sums and means (see dpvalues.h).
 */
#include "jobs/dpvalues.h"

#include <math.h>

#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"

/* This rank's part of the aggregates into f (3 * g->ncells, zeroed) and,
 * when h is not NULL, the patients at each lattice point into h
 * (g->ncells * SL_DP_POINTS, zeroed). */
static sl_status local_pass(const struct sl_grouping *g, const struct sl_measure *m,
                            struct sl_exec *ex, int64_t *f, int64_t *h)
{
    sl_status st = SL_OK;
    const struct sl_frame *fr = sl_exec_frame(ex);
    int64_t nc = g->ncells, block = sl_frame_max_chunk_rows(fr);
    int32_t *cell = NULL;
    struct sl_secbuf *scratch = NULL;
    struct sl_dp_values lat = {0};

    sl_dp_values_bounds(&lat, m->lower, m->upper);
    cell = sl_malloc((size_t)block * sizeof *cell);
    SL_CHECK(cell, SL_ERR_NOMEM, "out of memory");
    SL_CALL(sl_secbuf_create((size_t)block * sizeof(double), &scratch));
    for (int64_t r0 = 0; r0 < fr->nrows; r0 += block) {
        int64_t r1 = r0 + block < fr->nrows ? r0 + block : fr->nrows;
        const double *v;
        SL_CALL(sl_grouping_cells_rows(g, fr, sl_exec_mask(ex), r0, r1, cell));
        SL_CALL(sl_measure_rows(m, fr, r0, r1, scratch->data, &v));
        for (int64_t i = 0; i < r1 - r0; i++) {
            if (cell[i] < 0)
                continue;
            f[cell[i]]++;
            if (!isnan(v[i])) {
                int64_t k = sl_dp_lattice(&lat, v[i]);
                f[nc + cell[i]]++;
                f[2 * nc + cell[i]] += k;
                if (h)
                    h[(int64_t)cell[i] * SL_DP_POINTS + SL_DP_RADIUS + k]++;
            }
        }
    }
cleanup:
    sl_free(cell);
    sl_secbuf_destroy(&scratch);
    return st;
}

sl_status sl_dp_values_output(const struct sl_grouping *g, const struct sl_measure *m,
                              int margins, int hist, struct sl_exec *ex, const char *name,
                              const char *analysis, json_t *spec, struct sl_table **out)
{
    sl_status st = SL_OK;
    int64_t nc = g->ncells, *f = NULL, *h = NULL;
    struct sl_layout lay;
    struct sl_table *t = NULL;

    *out = NULL;
    /* the table first (every rank: its size does not depend on the data),
     * so that one too large for medians is refused before any pass */
    sl_layout_init(&lay, g, NULL, margins);
    SL_CALL(sl_layout_table(&lay, g, sl_exec_cohort(ex), name, analysis, NULL, &t));
    t->spec = json_incref(spec);
    SL_CALL(sl_table_enable_dp_values(t, m->lower, m->upper));
    if (hist) {
        SL_CALL(sl_table_enable_dp_hist(t));
        SL_CHECK(nc <= t->ncells, SL_ERR_INTERNAL, "a layout smaller than its grouping");
        h = sl_calloc((size_t)(nc * SL_DP_POINTS), sizeof *h);
    }
    f = sl_calloc((size_t)(3 * nc), sizeof *f);
    SL_CHECK(f && (h || !hist), SL_ERR_NOMEM, "out of memory");
    SL_CALL(local_pass(g, m, ex, f, h));
    SL_CALL(sl_exec_sum_i64(ex, f, 3 * nc));
    if (h)
        SL_CALL(sl_exec_sum_i64(ex, h, nc * SL_DP_POINTS));
    if (sl_exec_rank(ex) != 0)
        goto cleanup;
    sl_layout_sum_i64(&lay, f, 1, t->n);
    sl_layout_sum_i64(&lay, f + nc, 1, t->dp_values->present);
    sl_layout_sum_i64(&lay, f + 2 * nc, 1, t->dp_values->lattice);
    if (h)
        sl_layout_sum_i64(&lay, h, SL_DP_POINTS, t->dp_values->hist);
    *out = t;
    t = NULL;
cleanup:
    if (f)
        sl_wipe(f, (size_t)(3 * nc) * sizeof *f);
    if (h)
        sl_wipe(h, (size_t)(nc * SL_DP_POINTS) * sizeof *h);
    sl_free(f);
    sl_free(h);
    sl_table_destroy(&t);
    return st;
}
