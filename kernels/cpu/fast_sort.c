/*
 * fast_sort.c: grouped sort by LSD radix (SL_OP_SORT_F64).
 *
 * Values become 64-bit keys whose unsigned order is the IEEE total order,
 * are scattered into their cell's run, and each run is radix sorted with
 * 11-bit digits, skipping digits all keys share (the sign and exponent of
 * similar values). Long runs are sorted by all threads together with 8-bit
 * digits (parallel_sort). Equal keys are identical bit patterns, so the output is fully determined
 * whatever the threads. Keys are row values: they live in secret memory.
 */
#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "kernels/cpu/cpu_impl.h"

#define DIGIT_BITS 11
#define NDIGITS 6
#define RADIX (1 << DIGIT_BITS)
/* Runs at least this long are sorted by all threads with 8-bit digits. */
#define PAR_MIN 65536
#define PAR_DIGITS 8
#define PAR_RADIX 256

static void insertion_sort(uint64_t *k, int64_t len)
{
    for (int64_t i = 1; i < len; i++) {
        uint64_t v = k[i];
        int64_t j = i;
        for (; j > 0 && k[j - 1] > v; j--)
            k[j] = k[j - 1];
        k[j] = v;
    }
}

/* Sorts k[0..len) by their low `bits` bits (the keys agree above them)
 * with digits of `dbits` bits (at most DIGIT_BITS), using tmp[0..len);
 * hist holds NDIGITS * RADIX counters. */
static void radix_sort(uint64_t *k, uint64_t *tmp, int64_t len, int bits, int dbits,
                       int64_t *hist)
{
    uint64_t *src = k, *dst = tmp;
    int ndig = (bits + dbits - 1) / dbits;
    int64_t radix = (int64_t)1 << dbits, dmask = radix - 1;
    if (len < 64) {
        insertion_sort(k, len);
        return;
    }
    memset(hist, 0, (size_t)(ndig * radix) * sizeof *hist);
    for (int64_t i = 0; i < len; i++)
        for (int d = 0; d < ndig; d++)
            hist[d * radix + (int64_t)((k[i] >> (d * dbits)) & (uint64_t)dmask)]++;
    for (int d = 0; d < ndig; d++) {
        int64_t *h = hist + d * radix, sum = 0;
        uint64_t *t;
        if (h[(src[0] >> (d * dbits)) & (uint64_t)dmask] == len)
            continue;
        for (int64_t b = 0; b < radix; b++) {
            int64_t c = h[b];
            h[b] = sum;
            sum += c;
        }
        for (int64_t i = 0; i < len; i++)
            dst[h[(src[i] >> (d * dbits)) & (uint64_t)dmask]++] = src[i];
        t = src;
        src = dst;
        dst = t;
    }
    if (src != k)
        memcpy(k, src, (size_t)len * sizeof *k);
}

/* Sorts a long run k[0..len) using tmp[0..len) by LSD radix with 8-bit
 * digits, all threads on each pass: every thread counts the digit in its
 * own contiguous share of the keys and then scatters the share, at offsets
 * that place the shares in order, so each pass is the stable pass of the
 * serial sort and the result does not depend on the threads. 256
 * destinations per thread keep the scatter's write streams in L1. Digits
 * all keys share are skipped. */
static sl_status parallel_sort(uint64_t *k, uint64_t *tmp, int64_t len)
{
    sl_status st = SL_OK;
    struct sl_secbuf *mem = NULL;
    int nt = sl_max_threads();
    int64_t *hist, *off;
    uint64_t *sorted = k;

    SL_CALL(sl_secpool_get((size_t)(2 * nt * PAR_RADIX) * sizeof(int64_t), &mem));
    hist = mem->data;              /* [thread][bucket]: this pass's counts */
    off = hist + nt * PAR_RADIX;   /* [thread][bucket]: this pass's offsets */
    SL_OMP(parallel num_threads(nt))
    {
        int t = sl_thread_num(), n = sl_num_threads();
        int64_t i0, i1, *h = hist + t * PAR_RADIX, *o = off + t * PAR_RADIX;
        uint64_t *src = k, *dst = tmp; /* each thread swaps its own copies alike */
        i0 = len * t / n;
        i1 = len * (t + 1) / n;
        for (int d = 0; d < PAR_DIGITS; d++) {
            int64_t first, all = 0;
            memset(h, 0, PAR_RADIX * sizeof *h);
            for (int64_t i = i0; i < i1; i++)
                h[(src[i] >> (8 * d)) & (PAR_RADIX - 1)]++;
            SL_OMP(barrier)
            first = (int64_t)((src[0] >> (8 * d)) & (PAR_RADIX - 1));
            for (int u = 0; u < n; u++)
                all += hist[u * PAR_RADIX + first];
            if (all == len) {
                /* a digit all keys share */
                SL_OMP(barrier)
                continue;
            }
            SL_OMP(single)
            {
                /* bucket by bucket, the threads' shares in order */
                int64_t sum = 0;
                for (int b = 0; b < PAR_RADIX; b++)
                    for (int u = 0; u < n; u++) {
                        off[u * PAR_RADIX + b] = sum;
                        sum += hist[u * PAR_RADIX + b];
                    }
            }
            for (int64_t i = i0; i < i1; i++)
                dst[o[(src[i] >> (8 * d)) & (PAR_RADIX - 1)]++] = src[i];
            SL_OMP(barrier)
            {
                uint64_t *sw = src;
                src = dst;
                dst = sw;
            }
        }
        if (t == 0)
            sorted = src;
    }
    if (sorted != k)
        memcpy(k, sorted, (size_t)len * sizeof *k);
cleanup:
    sl_secpool_put(&mem);
    return st;
}

sl_status sl_sort_f64_cpu_fast(const struct sl_sort_f64_args *a)
{
    sl_status st = SL_OK;
    struct sl_secbuf *mem = NULL;
    int64_t *start = sl_calloc((size_t)a->ncells + 1, sizeof *start);
    int64_t *next = sl_calloc((size_t)a->ncells, sizeof *next);
    int64_t *miss = sl_calloc((size_t)a->ncells, sizeof *miss);
    uint64_t *keys, *tmp;
    int64_t *hist, m;

    SL_CHECK(start && next && miss, SL_ERR_NOMEM, "sort_f64: out of memory for %lld cells",
             (long long)a->ncells);
    for (int64_t r = 0; r < a->n; r++) {
        int64_t c = sl_row_cell(a->cell, a->mask, a->ncells, r);
        if (c < 0) {
            if (c == -2)
                SL_CALL(sl_cell_error("sort_f64", r, a->ncells));
            continue;
        }
        if (isnan(a->values[r]))
            miss[c]++;
        else
            start[c + 1]++;
    }
    for (int64_t c = 0; c < a->ncells; c++) {
        start[c + 1] += start[c];
        next[c] = start[c];
    }
    m = start[a->ncells];
    SL_CALL(sl_secpool_get(((size_t)m * 2 + NDIGITS * RADIX) * sizeof(uint64_t), &mem));
    keys = mem->data;
    tmp = keys + m;
    hist = (int64_t *)(tmp + m);
    for (int64_t r = 0; r < a->n; r++) {
        int64_t c = sl_row_cell(a->cell, a->mask, a->ncells, r);
        if (c >= 0 && !isnan(a->values[r]))
            keys[next[c]++] = sl_total_key(a->values[r]);
    }
    for (int64_t c = 0; c < a->ncells; c++) {
        int64_t len = start[c + 1] - start[c];
        if (len >= PAR_MIN)
            SL_CALL(parallel_sort(keys + start[c], tmp + start[c], len));
        else
            radix_sort(keys + start[c], tmp + start[c], len, 64, DIGIT_BITS, hist);
    }
    for (int64_t i = 0; i < m; i++)
        a->sorted[i] = sl_total_value(keys[i]);
    memcpy(a->cell_start, start, ((size_t)a->ncells + 1) * sizeof *start);
    if (a->n_missing)
        memcpy(a->n_missing, miss, (size_t)a->ncells * sizeof *miss);
cleanup:
    sl_secpool_put(&mem);
    sl_free(start);
    sl_free(next);
    sl_free(miss);
    return st;
}
