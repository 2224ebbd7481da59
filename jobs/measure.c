/*
 * measure.c: numeric columns as doubles (see measure.h).
 */
#include "jobs/measure.h"

#include <math.h>

#include "engine/config.h"
#include "io/format.h"

sl_status sl_measure_init(struct sl_measure *m, const struct sl_cohort *c, const char *name,
                          const char *where)
{
    sl_status st = SL_OK;
    int col = -1;
    const struct sl_colinfo *info;

    SL_CALL(sl_column_find(c, name, where, NULL, &col));
    info = sl_cohort_col(c, col);
    SL_CHECK(info->type == SL_COL_INT || info->type == SL_COL_REAL || info->type == SL_COL_DATE,
             SL_ERR_FORMAT, "%s: column '%s' is %s; a numeric column (integer, real or date) "
             "is needed", where, name, sl_coltype_name(info->type));
    m->col = col;
    m->type = info->type;
    m->name = info->name;
    m->lower = info->lower;
    m->upper = info->upper;
cleanup:
    return st;
}

sl_status sl_measure_rows(const struct sl_measure *m, const struct sl_frame *fr, int64_t r0,
                          int64_t r1, double *scratch, const double **values)
{
    sl_status st = SL_OK;
    int fc = sl_frame_find(fr, m->col);
    int64_t len = r1 - r0;

    SL_CHECK(fc >= 0, SL_ERR_INTERNAL, "column '%s' not loaded", m->name);
    SL_CHECK(r0 >= 0 && r0 <= r1 && r1 <= fr->nrows, SL_ERR_INTERNAL, "row range out of frame");
    switch (m->type) {
    case SL_COL_REAL:
        *values = (const double *)fr->data[fc]->data + r0;
        break;
    case SL_COL_INT: {
        const int64_t *src = (const int64_t *)fr->data[fc]->data + r0;
        for (int64_t i = 0; i < len; i++)
            scratch[i] = src[i] == SL_INT_MISSING ? NAN : (double)src[i];
        *values = scratch;
        break;
    }
    case SL_COL_DATE: {
        const int32_t *src = (const int32_t *)fr->data[fc]->data + r0;
        for (int64_t i = 0; i < len; i++)
            scratch[i] = src[i] == SL_DATE_MISSING ? NAN : (double)src[i];
        *values = scratch;
        break;
    }
    default:
        SL_FAIL(SL_ERR_INTERNAL, "column '%s' is not numeric", m->name);
    }
cleanup:
    return st;
}

int64_t sl_frame_max_chunk_rows(const struct sl_frame *fr)
{
    int64_t most = 1;
    for (int64_t k = 0; k < fr->nchunks; k++) {
        int64_t len = fr->chunk_row0[k + 1] - fr->chunk_row0[k];
        if (len > most)
            most = len;
    }
    return most;
}
