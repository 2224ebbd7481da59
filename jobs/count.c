/*
 * count.c: the `count` analysis: distinct patients, optionally grouped by up
 * to three columns.
 *
 *   - type: count
 *     name: by_sex_region        (optional)
 *     by: [sex, region]          (optional: 0 to 3 categorical columns, or
 *                                 numeric ones cut into bands)
 *     bands: {age: [18, 40, 65]} (optional: cut points per numeric column
 *                                 of `by`, jobs/grouping.h)
 *     privacy: dp                (optional: noisy counts, engine/dp.h;
 *     rho: 0.005 (or epsilon)     every missing level shown)
 *
 * The patient table holds one row per patient (ingest rejects duplicate
 * ids), so distinct patients are rows that pass the filter. Counts are
 * integers summed exactly across ranks. Rules: min_safe_count, zero_cells.
 */
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "jobs/grouping.h"
#include "jobs/jobs.h"

struct count_state {
    char *name;
    json_t *spec; /* the analysis as written */
    struct sl_grouping g;
    bool dp; /* privacy: dp: every level is shown */
};

static void count_destroy(void *state)
{
    struct count_state *s = state;
    if (!s)
        return;
    sl_free(s->name);
    json_decref(s->spec);
    sl_free(s);
}

static sl_status count_prepare(const struct sl_analysis *a, const struct sl_cohort *c,
                               const struct sl_rules *rules, void **state, int **cols,
                               int *ncols)
{
    static const char *const known[] = {"by",  "bands",   "mitigation", "privacy",
                                        "rho", "epsilon", NULL};
    sl_status st = SL_OK;
    struct count_state *s = NULL;
    int *out = NULL;

    (void)rules;
    *state = NULL;
    *cols = NULL;
    *ncols = 0;
    SL_CALL(sl_params_only(a->params, known));
    s = sl_calloc(1, sizeof *s);
    SL_CHECK(s, SL_ERR_NOMEM, "out of memory");
    s->name = sl_strdup(a->name);
    s->spec = sl_params_to_json(a->params);
    SL_CHECK(s->name && s->spec, SL_ERR_NOMEM, "out of memory");
    SL_CALL(sl_grouping_parse(&s->g, a, "by", c));
    s->dp = sl_params_has(a->params, "privacy");
    out = sl_malloc((size_t)(s->g.ndims + 1) * sizeof *out);
    SL_CHECK(out, SL_ERR_NOMEM, "out of memory");
    memcpy(out, s->g.cols, (size_t)s->g.ndims * sizeof *out);
    *cols = out;
    *ncols = s->g.ndims;
    *state = s;
    out = NULL;
    s = NULL;
cleanup:
    sl_free(out);
    count_destroy(s);
    return st;
}

static sl_status count_execute(void *state, struct sl_exec *ex, struct sl_outputs *outs)
{
    sl_status st = SL_OK;
    struct count_state *s = state;
    const struct sl_frame *fr = sl_exec_frame(ex);
    struct sl_secbuf *cells = NULL;
    int64_t *n = NULL, *map = NULL;
    struct sl_table *t = NULL;
    struct sl_group_count_args args;

    n = sl_calloc((size_t)s->g.ncells, sizeof *n);
    map = sl_malloc((size_t)s->g.ncells * sizeof *map);
    SL_CHECK(n && map, SL_ERR_NOMEM, "out of memory");
    SL_CALL(sl_secbuf_create((size_t)fr->nrows * sizeof(int32_t), &cells));
    SL_CALL(sl_grouping_cells(&s->g, ex, cells->data));
    args = (struct sl_group_count_args){.n = fr->nrows, .cell = cells->data, .mask = NULL,
                                        .ncells = s->g.ncells, .counts = n};
    SL_CALL(sl_kernel_run(sl_exec_backend(ex), SL_OP_GROUP_COUNT, &args));
    SL_CALL(sl_exec_sum_i64(ex, n, s->g.ncells));
    if (sl_exec_rank(ex) == 0) {
        SL_CALL(sl_grouping_table(&s->g, sl_exec_cohort(ex), s->name, "count", n, s->dp, map,
                                  &t));
        t->spec = json_incref(s->spec);
        SL_CALL(sl_outputs_push(outs, &t));
    }
cleanup:
    sl_secbuf_destroy(&cells);
    sl_free(n);
    sl_free(map);
    sl_table_destroy(&t);
    return st;
}

const struct sl_job_type sl_job_count = {
    .name = "count",
    .summary = "distinct patients, optionally by up to 3 categorical or banded columns",
    .prepare = count_prepare,
    .execute = count_execute,
    .destroy = count_destroy,
    .dp_counts = 1,
};
