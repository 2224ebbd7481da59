/*
 * moments.c: merging per-chunk summaries of a real column.
 *
 * The engine reduces grouped moments chunk by chunk in a fixed order; this
 * is the one formula every backend and the engine use to merge two
 * summaries, so a result never depends on who merged it.
 */
#include "kernels/kernel.h"

void sl_moments_combine(struct sl_moments *acc, const struct sl_moments *b)
{
    int64_t na = acc->n_present, nb = b->n_present;
    double n, delta;

    acc->n_missing += b->n_missing;
    if (nb == 0)
        return;
    if (na == 0) {
        acc->n_present = nb;
        acc->sum = b->sum;
        acc->mean = b->mean;
        acc->m2 = b->m2;
        return;
    }
    n = (double)(na + nb);
    delta = b->mean - acc->mean;
    acc->n_present = na + nb;
    acc->sum += b->sum;
    acc->mean += delta * ((double)nb / n);
    acc->m2 += b->m2 + delta * delta * ((double)na * ((double)nb / n));
}
