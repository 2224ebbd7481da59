/*
 * frame.c: the decrypted rows one MPI rank holds, and which chunks it reads.
 *
 * Ranks split a cohort by whole chunks, so every rank can read its part
 * independently and per-chunk partial results can be combined in chunk order
 * whatever the number of ranks. Chunks are decrypted straight into the
 * frame's secret column buffers (no staging copy), on all of the rank's
 * threads (sl_cohort_read_chunks), and a load that fails part way wipes
 * everything it had decrypted.
 */
#include "io/frame.h"

#include <string.h>

#include "engine/core/alloc.h"

sl_status sl_chunks_assign(int64_t nchunks, int rank, int size, enum sl_assign how,
                           int64_t **chunks, int64_t *count)
{
    sl_status st = SL_OK;
    int64_t n = 0;
    int64_t first = 0;
    int64_t *list = NULL;

    *chunks = NULL;
    *count = 0;
    SL_CHECK(nchunks >= 0, SL_ERR_ARG, "negative number of chunks");
    SL_CHECK(size > 0 && rank >= 0 && rank < size, SL_ERR_ARG, "rank %d is not in 0..%d", rank,
             size - 1);
    SL_CHECK(how == SL_ASSIGN_CONTIGUOUS || how == SL_ASSIGN_STRIDED, SL_ERR_ARG,
             "unknown chunk assignment %d", (int)how);
    if (how == SL_ASSIGN_CONTIGUOUS) {
        int64_t base = nchunks / size;
        int64_t extra = nchunks % size;
        n = base + (rank < extra);
        first = rank * base + (rank < extra ? rank : extra);
    } else {
        n = rank < nchunks ? (nchunks - rank + size - 1) / size : 0;
    }
    list = sl_malloc((size_t)n * sizeof *list);
    SL_CHECK(list, SL_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++)
        list[i] = how == SL_ASSIGN_CONTIGUOUS ? first + i : rank + i * size;
    *chunks = list;
    *count = n;
    list = NULL;
cleanup:
    sl_free(list);
    return st;
}

static sl_status frame_check_args(struct sl_cohort *c, const int *cols, int ncols,
                                  const int64_t *chunks, int64_t nchunks)
{
    sl_status st = SL_OK;

    SL_CHECK(c, SL_ERR_ARG, "no cohort given");
    SL_CHECK(ncols >= 0 && (ncols == 0 || cols), SL_ERR_ARG, "%s: bad column list",
             sl_cohort_path(c));
    SL_CHECK(nchunks >= 0 && (nchunks == 0 || chunks), SL_ERR_ARG, "%s: bad chunk list",
             sl_cohort_path(c));
    for (int j = 0; j < ncols; j++) {
        SL_CHECK(cols[j] >= 0 && cols[j] < sl_cohort_ncols(c), SL_ERR_ARG,
                 "%s: no column %d", sl_cohort_path(c), cols[j]);
        for (int k = 0; k < j; k++)
            SL_CHECK(cols[k] != cols[j], SL_ERR_ARG, "%s: column %s is listed twice",
                     sl_cohort_path(c), sl_cohort_col(c, cols[j])->name);
    }
    for (int64_t i = 0; i < nchunks; i++) {
        SL_CHECK(chunks[i] >= 0 && chunks[i] < sl_cohort_nchunks(c), SL_ERR_ARG,
                 "%s: no chunk %lld (the cohort has %lld)", sl_cohort_path(c),
                 (long long)chunks[i], (long long)sl_cohort_nchunks(c));
        SL_CHECK(i == 0 || chunks[i] > chunks[i - 1], SL_ERR_ARG,
                 "%s: chunk list must be strictly ascending", sl_cohort_path(c));
    }
cleanup:
    return st;
}

sl_status sl_frame_load(struct sl_cohort *c, const int *cols, int ncols, const int64_t *chunks,
                        int64_t nchunks, struct sl_frame **out)
{
    sl_status st = SL_OK;
    struct sl_frame *f = NULL;
    void **dst = NULL;
    size_t *len = NULL;

    *out = NULL;
    SL_CALL(frame_check_args(c, cols, ncols, chunks, nchunks));
    dst = sl_calloc((size_t)nchunks + 1, sizeof *dst);
    len = sl_calloc((size_t)nchunks + 1, sizeof *len);
    SL_CHECK(dst && len, SL_ERR_NOMEM, "out of memory");
    f = sl_calloc(1, sizeof *f);
    SL_CHECK(f, SL_ERR_NOMEM, "out of memory");
    f->col_index = sl_calloc((size_t)ncols, sizeof *f->col_index);
    f->data = sl_calloc((size_t)ncols, sizeof *f->data);
    f->chunk_index = sl_calloc((size_t)nchunks, sizeof *f->chunk_index);
    f->chunk_row0 = sl_calloc((size_t)nchunks + 1, sizeof *f->chunk_row0);
    SL_CHECK(f->col_index && f->data && f->chunk_index && f->chunk_row0, SL_ERR_NOMEM,
             "out of memory");
    f->ncols = ncols;
    f->nchunks = nchunks;
    for (int64_t i = 0; i < nchunks; i++) {
        f->chunk_index[i] = chunks[i];
        f->chunk_row0[i] = f->nrows;
        f->nrows += sl_cohort_chunk_nrows(c, chunks[i]);
    }
    f->chunk_row0[nchunks] = f->nrows;
    for (int j = 0; j < ncols; j++) {
        size_t esize = sl_coltype_size(sl_cohort_col(c, cols[j])->type);
        size_t bytes = 0;
        f->col_index[j] = cols[j];
        SL_CHECK(sl_size_mul(esize, (size_t)f->nrows, &bytes) == 0, SL_ERR_NOMEM,
                 "%s: %lld rows of column %s do not fit in memory", sl_cohort_path(c),
                 (long long)f->nrows, sl_cohort_col(c, cols[j])->name);
        SL_CALL(sl_secbuf_create(bytes, &f->data[j]));
        for (int64_t i = 0; i < nchunks; i++) {
            dst[i] = (unsigned char *)f->data[j]->data + (size_t)f->chunk_row0[i] * esize;
            len[i] = (size_t)(f->chunk_row0[i + 1] - f->chunk_row0[i]) * esize;
        }
        SL_CALL(sl_cohort_read_chunks(c, cols[j], chunks, nchunks, dst, len));
    }
    *out = f;
    f = NULL;
cleanup:
    sl_frame_destroy(&f);
    sl_free(dst);
    sl_free(len);
    return st;
}

void sl_frame_destroy(struct sl_frame **fp)
{
    struct sl_frame *f;

    if (!fp || !*fp)
        return;
    f = *fp;
    if (f->data)
        for (int j = 0; j < f->ncols; j++)
            sl_secbuf_destroy(&f->data[j]);
    sl_free(f->data);
    sl_free(f->col_index);
    sl_free(f->chunk_index);
    sl_free(f->chunk_row0);
    sl_free(f);
    *fp = NULL;
}

int sl_frame_find(const struct sl_frame *f, int cohort_col)
{
    for (int j = 0; j < f->ncols; j++)
        if (f->col_index[j] == cohort_col)
            return j;
    return -1;
}
