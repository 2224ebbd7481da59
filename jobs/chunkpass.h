/*
 * chunkpass.h: one pass over a rank's rows, chunk by chunk.
 *
 * The analyses compute a partial result per chunk, which is what makes them
 * independent of the number of ranks; it also makes chunks independent of
 * each other. So on a CPU backend a pass runs chunks in parallel (OpenMP
 * threads, one chunk at a time per thread; kernels called from a chunk run
 * on that thread), and what a chunk needs - its cell index, its converted
 * values - is built in small per-thread buffers that stay in cache, never as
 * whole-frame arrays. No result depends on the thread count: each chunk's
 * partial is computed alone, and callers either fold partials in chunk order
 * or add integers. With other backends chunks run one after the other.
 */
#ifndef SL_JOBS_CHUNKPASS_H
#define SL_JOBS_CHUNKPASS_H

#include <stdint.h>

#include "engine/core/status.h"
#include "io/frame.h"
#include "jobs/grouping.h"
#include "kernels/kernel.h"

/* What a chunk callback sees. */
struct sl_chunk_view {
    int64_t k;           /* chunk position in the frame (global: fr->chunk_index[k]) */
    int64_t r0, r1;      /* its frame rows */
    int thread;          /* in [0, sl_chunk_threads) */
    const int32_t *cell; /* [r1 - r0] cell of each row, -1 = dropped (secret, borrowed), or
                            NULL when the grouping has no column: kept rows are in cell 0 */
    const uint8_t *mask; /* [r1 - r0] when cell is NULL: 0 = dropped; or NULL: all kept */
};

typedef sl_status (*sl_chunk_fn)(void *ctx, const struct sl_chunk_view *v);

/* Threads a pass with backend `b` uses (>= 1): OpenMP's thread count on the
 * CPU backends, else 1. Callers size per-thread state with it. */
int sl_chunk_threads(const struct sl_backend *b);

/* Calls fn(ctx, view) once for every chunk of the frame, with the chunk's
 * rows grouped by `g` and filtered by `mask` (frame rows, may be NULL).
 * Calls for different chunks may run concurrently on different threads;
 * calls with the same view->thread never do. Returns SL_OK, or the status
 * and message of the failing chunk that comes first in the frame (later
 * chunks may or may not have run). Not collective. */
sl_status sl_chunk_pass(struct sl_backend *b, const struct sl_frame *fr,
                        const struct sl_grouping *g, const uint8_t *mask, sl_chunk_fn fn,
                        void *ctx);

#endif
