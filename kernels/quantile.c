/*
 * quantile.c: exact quantiles from sorted runs.
 *
 * Each rank sorts its chunk values (SL_OP_SORT_F64); the engine gathers the
 * sorted runs in chunk order, merges them and reads quantiles off the merged
 * array with the same arithmetic as R's quantile(type = 7), so released
 * quantiles match what an analyst would compute in R.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "kernels/kernel.h"

sl_status sl_quantile_type7(const double *sorted, int64_t n, double prob, double *out)
{
    sl_status st = SL_OK;
    const double fuzz = 100 * DBL_EPSILON; /* R accepts probs within 100 eps of [0, 1] */
    double index, lo, hi, q;

    SL_CHECK(out, SL_ERR_ARG, "quantile: out is NULL");
    SL_CHECK(n >= 0 && (n == 0 || sorted), SL_ERR_ARG, "quantile: no data for n = %lld",
             (long long)n);
    SL_CHECK(!isnan(prob) && prob >= -fuzz && prob <= 1 + fuzz, SL_ERR_ARG,
             "quantile: probability %g is outside [0, 1]", prob);
    prob = prob < 0 ? 0 : (prob > 1 ? 1 : prob);
    if (n == 0) {
        *out = NAN;
        goto cleanup;
    }
    index = 1 + (double)(n - 1) * prob;
    lo = floor(index);
    hi = ceil(index);
    q = sorted[(int64_t)lo - 1];
    if (index > lo && sorted[(int64_t)hi - 1] != q) {
        double h = index - lo;
        q = (1 - h) * q + h * sorted[(int64_t)hi - 1];
    }
    *out = q;
cleanup:
    return st;
}

/* Key whose unsigned order is the IEEE total order of the double. */
static uint64_t total_key(double v)
{
    uint64_t k;
    memcpy(&k, &v, sizeof k);
    return (k >> 63) ? ~k : k | (UINT64_C(1) << 63);
}

/* Min-heap of run indices ordered by the run's current head. */
struct merge_heap {
    int64_t *run;  /* heap of run indices */
    int64_t size;
    const double *const *runs;
    int64_t *pos;  /* next unread element of each run */
};

static int heap_less(const struct merge_heap *h, int64_t a, int64_t b)
{
    uint64_t ka = total_key(h->runs[a][h->pos[a]]), kb = total_key(h->runs[b][h->pos[b]]);
    return ka < kb || (ka == kb && a < b);
}

static void heap_sift_down(struct merge_heap *h, int64_t i)
{
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, m = i, tmp;
        if (l < h->size && heap_less(h, h->run[l], h->run[m]))
            m = l;
        if (r < h->size && heap_less(h, h->run[r], h->run[m]))
            m = r;
        if (m == i)
            return;
        tmp = h->run[i];
        h->run[i] = h->run[m];
        h->run[m] = tmp;
        i = m;
    }
}

sl_status sl_sorted_merge_f64(const double *const *runs, const int64_t *lens, int64_t nruns,
                              double *out)
{
    sl_status st = SL_OK;
    struct merge_heap h = {NULL, 0, runs, NULL};
    int64_t w = 0;

    SL_CHECK(nruns >= 0 && (nruns == 0 || (runs && lens)), SL_ERR_ARG,
             "merge: runs or lens is NULL");
    for (int64_t r = 0; r < nruns; r++) {
        SL_CHECK(lens[r] >= 0 && (lens[r] == 0 || runs[r]), SL_ERR_ARG,
                 "merge: run %lld has a negative length or no data", (long long)r);
        SL_CHECK(lens[r] == 0 || out, SL_ERR_ARG, "merge: out is NULL");
    }
    h.run = sl_malloc((size_t)nruns * sizeof *h.run);
    h.pos = sl_calloc((size_t)nruns, sizeof *h.pos);
    SL_CHECK(h.run && h.pos, SL_ERR_NOMEM, "merge: out of memory for %lld runs", (long long)nruns);
    for (int64_t r = 0; r < nruns; r++)
        if (lens[r] > 0)
            h.run[h.size++] = r;
    for (int64_t i = h.size / 2 - 1; i >= 0; i--)
        heap_sift_down(&h, i);
    while (h.size > 0) {
        int64_t r = h.run[0];
        out[w++] = runs[r][h.pos[r]++];
        if (h.pos[r] == lens[r])
            h.run[0] = h.run[--h.size];
        heap_sift_down(&h, 0);
    }
cleanup:
    sl_free(h.run);
    sl_free(h.pos);
    return st;
}
