/*
 * fast_sort.c: grouped sort by LSD radix (SL_OP_SORT_F64).
 *
 * Values become 64-bit keys whose unsigned order is the IEEE total order,
 * are scattered into their cell's run, and each run is radix sorted with
 * 11-bit digits, skipping digits all keys share (the sign and exponent of
 * similar values). Equal keys are identical bit patterns, so the output is
 * fully determined. Keys are row values: they live in secret memory.
 */
#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "kernels/cpu/cpu_impl.h"

#define DIGIT_BITS 11
#define NDIGITS 6
#define RADIX (1 << DIGIT_BITS)

static uint64_t to_key(double v)
{
    uint64_t k;
    memcpy(&k, &v, sizeof k);
    return (k >> 63) ? ~k : k | (UINT64_C(1) << 63);
}

static double from_key(uint64_t k)
{
    double v;
    k = (k >> 63) ? k & ~(UINT64_C(1) << 63) : ~k;
    memcpy(&v, &k, sizeof v);
    return v;
}

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

/* Sorts k[0..len) using tmp[0..len); hist holds NDIGITS * RADIX counters. */
static void radix_sort(uint64_t *k, uint64_t *tmp, int64_t len, int64_t *hist)
{
    uint64_t *src = k, *dst = tmp;
    if (len < 64) {
        insertion_sort(k, len);
        return;
    }
    memset(hist, 0, NDIGITS * RADIX * sizeof *hist);
    for (int64_t i = 0; i < len; i++)
        for (int d = 0; d < NDIGITS; d++)
            hist[d * RADIX + (int64_t)((k[i] >> (d * DIGIT_BITS)) & (RADIX - 1))]++;
    for (int d = 0; d < NDIGITS; d++) {
        int64_t *h = hist + d * RADIX, sum = 0;
        uint64_t *t;
        if (h[(src[0] >> (d * DIGIT_BITS)) & (RADIX - 1)] == len)
            continue;
        for (int b = 0; b < RADIX; b++) {
            int64_t c = h[b];
            h[b] = sum;
            sum += c;
        }
        for (int64_t i = 0; i < len; i++)
            dst[h[(src[i] >> (d * DIGIT_BITS)) & (RADIX - 1)]++] = src[i];
        t = src;
        src = dst;
        dst = t;
    }
    if (src != k)
        memcpy(k, src, (size_t)len * sizeof *k);
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
    SL_CALL(sl_scratch_get(((size_t)m * 2 + NDIGITS * RADIX) * sizeof(uint64_t), &mem));
    keys = mem->data;
    tmp = keys + m;
    hist = (int64_t *)(tmp + m);
    for (int64_t r = 0; r < a->n; r++) {
        int64_t c = sl_row_cell(a->cell, a->mask, a->ncells, r);
        if (c >= 0 && !isnan(a->values[r]))
            keys[next[c]++] = to_key(a->values[r]);
    }
    for (int64_t c = 0; c < a->ncells; c++)
        radix_sort(keys + start[c], tmp + start[c], start[c + 1] - start[c], hist);
    for (int64_t i = 0; i < m; i++)
        a->sorted[i] = from_key(keys[i]);
    memcpy(a->cell_start, start, ((size_t)a->ncells + 1) * sizeof *start);
    if (a->n_missing)
        memcpy(a->n_missing, miss, (size_t)a->ncells * sizeof *miss);
cleanup:
    sl_scratch_put(&mem);
    sl_free(start);
    sl_free(next);
    sl_free(miss);
    return st;
}
