/*
 * frame.h: the rows of a cohort one MPI rank holds in memory.
 *
 * A frame is the decrypted content of a set of chunks, for a chosen set of
 * columns, stored column by column in secret memory (secbuf). It remembers
 * which global chunk each run of rows came from so that per-chunk partial
 * results can be combined in a fixed order whatever the number of ranks.
 */
#ifndef SL_IO_FRAME_H
#define SL_IO_FRAME_H

#include <stdint.h>

#include "engine/core/secbuf.h"
#include "io/cohort.h"

enum sl_assign { SL_ASSIGN_CONTIGUOUS = 0, SL_ASSIGN_STRIDED = 1 };

struct sl_frame {
    int64_t nrows;            /* rows held */
    int ncols;                /* columns held */
    int *col_index;           /* [ncols] cohort column index of each frame column */
    struct sl_secbuf **data;  /* [ncols] secret: nrows elements of the column's type */
    int64_t nchunks;          /* chunks held */
    int64_t *chunk_index;     /* [nchunks] global chunk index, ascending */
    int64_t *chunk_row0;      /* [nchunks + 1] first local row of each chunk; last = nrows */
};

/* The chunks rank `rank` of `size` reads: contiguous blocks or round robin.
 * *chunks is allocated with sl_malloc (caller frees); ascending. */
sl_status sl_chunks_assign(int64_t nchunks, int rank, int size, enum sl_assign how,
                           int64_t **chunks, int64_t *count);

/* Reads and decrypts `nchunks` chunks of the listed columns. Fails closed:
 * on any error no frame is returned and everything decrypted so far is wiped.
 * Not collective (each rank loads its own chunks). */
sl_status sl_frame_load(struct sl_cohort *c, const int *cols, int ncols, const int64_t *chunks,
                        int64_t nchunks, struct sl_frame **out);

/* Wipes and frees. NULL-safe. */
void sl_frame_destroy(struct sl_frame **f);

/* Frame column holding cohort column `cohort_col`, or -1. */
int sl_frame_find(const struct sl_frame *f, int cohort_col);

#endif
