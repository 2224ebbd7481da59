/*
 * chunkpass.c: chunk-parallel passes over a frame (see chunkpass.h).
 */
#include "jobs/chunkpass.h"

#include <stdio.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/parallel.h"
#include "engine/core/secbuf.h"
#include "jobs/measure.h"


int sl_chunk_threads(const struct sl_backend *b)
{
    int n = sl_max_threads();
    return strncmp(sl_backend_name(b), "cpu", 3) == 0 && n > 1 ? n : 1;
}

/* The first failure one thread saw. */
struct failure {
    int64_t k; /* chunk, or INT64_MAX */
    sl_status st;
    char msg[512];
};

sl_status sl_chunk_pass(struct sl_backend *b, const struct sl_frame *fr,
                        const struct sl_grouping *g, const uint8_t *mask, sl_chunk_fn fn,
                        void *ctx)
{
    sl_status st = SL_OK;
    int nt = sl_chunk_threads(b);
    struct sl_secbuf **cells = NULL;
    struct failure *fail = NULL;
    size_t rows = (size_t)sl_frame_max_chunk_rows(fr);
    int64_t first = INT64_MAX;
    int which = -1;

    cells = sl_calloc((size_t)nt, sizeof *cells);
    fail = sl_calloc((size_t)nt, sizeof *fail);
    SL_CHECK(cells && fail, SL_ERR_NOMEM, "out of memory");
    for (int t = 0; t < nt; t++) {
        fail[t].k = INT64_MAX;
        if (g->ndims > 0)
            SL_CALL(sl_secbuf_create(rows * sizeof(int32_t), &cells[t]));
    }
    SL_OMP(parallel for num_threads(nt) schedule(dynamic, 1))
    for (int64_t k = 0; k < fr->nchunks; k++) {
        int t = nt > 1 ? sl_thread_num() : 0;
        struct sl_chunk_view v = {k, fr->chunk_row0[k], fr->chunk_row0[k + 1], t, NULL, NULL};
        sl_status cs = SL_OK;
        if (fail[t].k != INT64_MAX)
            continue; /* this thread has failed already; its first failure stands */
        if (g->ndims > 0) {
            cs = sl_grouping_cells_rows(g, fr, mask, v.r0, v.r1, cells[t]->data);
            v.cell = cells[t]->data;
        } else {
            v.mask = mask ? mask + v.r0 : NULL;
        }
        if (cs == SL_OK)
            cs = fn(ctx, &v);
        if (cs != SL_OK) {
            fail[t].k = k;
            fail[t].st = cs;
            snprintf(fail[t].msg, sizeof fail[t].msg, "%s", sl_error_message());
        }
    }
    for (int t = 0; t < nt; t++)
        if (fail[t].k < first) {
            first = fail[t].k;
            which = t;
        }
    if (which >= 0)
        SL_FAIL(fail[which].st, "%s", fail[which].msg);
cleanup:
    for (int t = 0; cells && t < nt; t++)
        sl_secbuf_destroy(&cells[t]);
    sl_free(cells);
    sl_free(fail);
    return st;
}
