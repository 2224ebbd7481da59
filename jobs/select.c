/*
 * select.c: exact order statistics across ranks by radix selection (see
 * cellstats.h).
 *
 * A value's 64-bit key orders like the IEEE total order. The k-th smallest
 * value of a published cell is found digit by digit from the top of the key.
 * A round looks at the next digit: every rank counts, for each query group
 * (a published cell and the key prefix its queries have reached), how many
 * of its values fall in each bin of that digit; the counts are summed over
 * the ranks and each query moves into the bin that holds its rank. Only
 * counts travel; the value is known once all 64 bits are.
 *
 * A rank keeps its values per node, a full-grid cell with a key prefix (a
 * published cell with margins covers several full-grid cells). The first
 * round reads the frame; then the values of a node that fall in a bin some
 * query moved into are copied to that child node, so later rounds read
 * only the candidates. A node whose values all go to one child hands its
 * memory over instead. Work is cut into equal slices per logical worker
 * (rows in the first round, each node's candidates later) and copies go to
 * offsets computed from the per-worker counts, so the candidates, like the
 * counts, do not depend on the thread count.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/parallel.h"
#include "engine/core/secbuf.h"
#include "jobs/cellstats.h"

#define DIGIT_MAX 12
/* Counters per worker and round; the digit narrows when there are many nodes. */
#define COUNTER_BUDGET ((int64_t)1 << 17)
/* Candidate buffers a selection may hold at once: one per round. */
#define MAX_BUFFERS 64

struct query {
    int64_t index;   /* position in the caller's arrays */
    int64_t cell;    /* published cell */
    int64_t rank;    /* 0-based rank among the values with the prefix */
    uint64_t prefix; /* the top `bits` bits of the answer's key */
    int64_t group;
};

struct node {
    int64_t cell;        /* full-grid cell */
    uint64_t prefix;
    const uint64_t *key; /* this rank's candidates (after the first round) */
    int64_t len;
    int64_t from;        /* its bin among the previous round's counters */
};

/* (node, group) pairs of a round: every member cell of a group's published
 * cell with the group's prefix. */
struct pair {
    int64_t cell;
    uint64_t prefix;
    int64_t group;
    int64_t node;
};

struct round {
    struct query *q;
    int64_t nq;
    int64_t ngroups;
    struct node *nodes;
    int64_t nnodes;
    int64_t *gstart, *gnodes; /* nodes of group g: gnodes[gstart[g] .. gstart[g + 1]) */
    int64_t *first_query;     /* [ngroups] a query of the group */
};

static int cmp_query(const void *pa, const void *pb)
{
    const struct query *a = pa, *b = pb;
    if (a->cell != b->cell)
        return a->cell < b->cell ? -1 : 1;
    if (a->prefix != b->prefix)
        return a->prefix < b->prefix ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

static int cmp_pair(const void *pa, const void *pb)
{
    const struct pair *a = pa, *b = pb;
    if (a->cell != b->cell)
        return a->cell < b->cell ? -1 : 1;
    if (a->prefix != b->prefix)
        return a->prefix < b->prefix ? -1 : 1;
    return (a->group > b->group) - (a->group < b->group);
}

static void round_free(struct round *rd)
{
    sl_free(rd->nodes);
    sl_free(rd->gstart);
    sl_free(rd->gnodes);
    sl_free(rd->first_query);
    rd->nodes = NULL;
    rd->gstart = rd->gnodes = rd->first_query = NULL;
    rd->nnodes = rd->ngroups = 0;
}

/* Groups the queries by (published cell, prefix) and lists the nodes the
 * groups need, sorted by (full-grid cell, prefix). Node data is left empty. */
static sl_status round_plan(struct round *rd, const int64_t *mstart, const int64_t *members)
{
    sl_status st = SL_OK;
    struct pair *pairs = NULL;
    int64_t npairs = 0, k = 0;

    qsort(rd->q, (size_t)rd->nq, sizeof *rd->q, cmp_query);
    rd->ngroups = 0;
    for (int64_t i = 0; i < rd->nq; i++) {
        if (i == 0 || rd->q[i].cell != rd->q[i - 1].cell || rd->q[i].prefix != rd->q[i - 1].prefix) {
            rd->ngroups++;
            npairs += mstart[rd->q[i].cell + 1] - mstart[rd->q[i].cell];
        }
        rd->q[i].group = rd->ngroups - 1;
    }
    rd->first_query = sl_malloc((size_t)(rd->ngroups + 1) * sizeof *rd->first_query);
    rd->gstart = sl_calloc((size_t)(rd->ngroups + 1), sizeof *rd->gstart);
    rd->gnodes = sl_malloc((size_t)(npairs + 1) * sizeof *rd->gnodes);
    rd->nodes = sl_malloc((size_t)(npairs + 1) * sizeof *rd->nodes);
    pairs = sl_malloc((size_t)(npairs + 1) * sizeof *pairs);
    SL_CHECK(rd->first_query && rd->gstart && rd->gnodes && rd->nodes && pairs, SL_ERR_NOMEM,
             "out of memory for %lld selection nodes", (long long)npairs);
    for (int64_t i = rd->nq - 1; i >= 0; i--)
        rd->first_query[rd->q[i].group] = i;
    for (int64_t g = 0; g < rd->ngroups; g++) {
        const struct query *q = &rd->q[rd->first_query[g]];
        for (int64_t m = mstart[q->cell]; m < mstart[q->cell + 1]; m++)
            pairs[k++] = (struct pair){members[m], q->prefix, g, 0};
        rd->gstart[g + 1] = k;
    }
    qsort(pairs, (size_t)npairs, sizeof *pairs, cmp_pair);
    rd->nnodes = 0;
    for (int64_t i = 0; i < npairs; i++) {
        if (i == 0 || pairs[i].cell != pairs[i - 1].cell ||
            pairs[i].prefix != pairs[i - 1].prefix)
            rd->nodes[rd->nnodes++] = (struct node){pairs[i].cell, pairs[i].prefix, NULL, 0, 0};
        pairs[i].node = rd->nnodes - 1;
    }
    /* Each group's nodes: a counting pass by group over the sorted pairs. */
    {
        int64_t *next = sl_malloc((size_t)(rd->ngroups + 1) * sizeof *next);
        SL_CHECK(next, SL_ERR_NOMEM, "out of memory");
        memcpy(next, rd->gstart, (size_t)rd->ngroups * sizeof *next);
        for (int64_t i = 0; i < npairs; i++)
            rd->gnodes[next[pairs[i].group]++] = pairs[i].node;
        sl_free(next);
    }
cleanup:
    sl_free(pairs);
    return st;
}

/* Index of the node (cell, prefix) in the sorted nodes, or -1. */
static int64_t find_node(const struct node *nodes, int64_t n, int64_t cell, uint64_t prefix)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        const struct node *x = &nodes[mid];
        if (x->cell < cell || (x->cell == cell && x->prefix < prefix))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && nodes[lo].cell == cell && nodes[lo].prefix == prefix ? lo : -1;
}

/* Digit geometry of a round: `bits` known, `width` counted below them. */
struct digit {
    int shift;
    int width;
    uint64_t mask;
};

static inline int64_t digit_of(const struct digit *d, uint64_t key)
{
    return (int64_t)((key >> d->shift) & d->mask);
}

/* Row r's node in the first round (node_of[c] for its full-grid cell c),
 * -1 when the row is dropped, missing or in no queried cell, -2 when its
 * cell is out of range. */
static inline int64_t row_node(const struct sl_cell_values *s, const int64_t *node_of, int64_t r)
{
    int64_t c = s->cell ? s->cell[r] : (s->mask && !s->mask[r] ? -1 : 0);
    if ((uint64_t)c >= (uint64_t)s->ncells)
        return c == -1 ? -1 : -2;
    return s->v[r] != s->v[r] ? -1 : node_of[c];
}

/* Counts (hist != NULL) or copies (cursor != NULL) worker t's slice of the
 * frame's rows in the first round. Counting spreads rows over ROW_COPIES
 * copies of the counters, `stride` apart: rows of one cell often share the
 * top digit (sign and exponent), and increments of one counter would wait
 * on each other. Returns the first row with a cell out of range, or -1. */
#define ROW_COPIES 4
static int64_t rows_slice(const struct sl_cell_values *s, const int64_t *node_of,
                          const struct digit *d, int t, int nw, int64_t *hist, int64_t stride,
                          int64_t *cursor, uint64_t *out)
{
    int64_t r0 = s->nrows * t / nw, r1 = s->nrows * (t + 1) / nw, nbins = (int64_t)d->mask + 1;
    for (int64_t r = r0; r < r1; r++) {
        int64_t n = row_node(s, node_of, r), *w;
        uint64_t k;
        if (n < 0) {
            if (n == -2)
                return r;
            continue;
        }
        k = sl_total_key(s->v[r]);
        if (hist) {
            hist[(r & (ROW_COPIES - 1)) * stride + n * nbins + digit_of(d, k)]++;
            continue;
        }
        w = &cursor[n * nbins + digit_of(d, k)];
        if (*w >= 0)
            out[(*w)++] = k;
    }
    return -1;
}

/* The same over worker t's slice of every node's candidates. */
static void nodes_slice(const struct round *rd, const struct digit *d, int t, int nw,
                        int64_t *hist, int64_t *cursor, uint64_t *out)
{
    int64_t nbins = (int64_t)d->mask + 1;
    for (int64_t n = 0; n < rd->nnodes; n++) {
        const struct node *x = &rd->nodes[n];
        int64_t i0 = x->len * t / nw, i1 = x->len * (t + 1) / nw;
        if (hist) {
            int64_t *h = hist + n * nbins;
            for (int64_t i = i0; i < i1; i++)
                h[digit_of(d, x->key[i])]++;
        } else {
            int64_t *cur = cursor + n * nbins;
            for (int64_t i = i0; i < i1; i++) {
                int64_t *w = &cur[digit_of(d, x->key[i])];
                if (*w >= 0)
                    out[(*w)++] = x->key[i];
            }
        }
    }
}

/* One parallel sweep of the round's data by nw logical workers: counting
 * into per-worker histograms (hist, [nw][nnodes][nbins], in the first round
 * ROW_COPIES such arrays one after the other) or copying with per-worker
 * cursors (cursor, [nw][nnodes][nbins]). */
static sl_status sweep(const struct sl_cell_values *s, const struct round *rd, int first,
                       const int64_t *node_of, const struct digit *d, int nw, int64_t *hist,
                       int64_t *cursor, uint64_t *out)
{
    sl_status st = SL_OK;
    int64_t per = rd->nnodes * ((int64_t)d->mask + 1), bad = -1;

    SL_OMP(parallel num_threads(nw) reduction(max : bad))
    for (int t = sl_thread_num(); t < nw; t += sl_num_threads()) {
        int64_t *h = hist ? hist + t * per : NULL, *c = cursor ? cursor + t * per : NULL;
        if (first) {
            int64_t r = rows_slice(s, node_of, d, t, nw, h, nw * per, c, out);
            if (r > bad)
                bad = r;
        } else {
            nodes_slice(rd, d, t, nw, h, c, out);
        }
    }
    SL_CHECK(bad < 0, SL_ERR_INTERNAL, "row %lld has a cell outside the grid of %lld cells",
             (long long)bad, (long long)s->ncells);
cleanup:
    return st;
}

/* Digit width for a round with `bits` known: as wide as the counters allow. */
static struct digit round_digit(int bits, int64_t nnodes, int64_t ngroups)
{
    struct digit d;
    int64_t most = nnodes > ngroups ? nnodes : ngroups;
    int w = DIGIT_MAX;
    while (w > 1 && ((int64_t)1 << w) * (most > 0 ? most : 1) > COUNTER_BUDGET)
        w--;
    if (w > 64 - bits)
        w = 64 - bits;
    d.width = w;
    d.shift = 64 - bits - w;
    d.mask = (UINT64_C(1) << w) - 1;
    return d;
}

sl_status sl_select_exact(const struct sl_reducer *r, const struct sl_cell_values *s,
                          const int64_t *mstart, const int64_t *members, int64_t nq,
                          const int64_t *qcell, const int64_t *qrank, double *out)
{
    sl_status st = SL_OK;
    struct round rd = {0}, next = {0};
    struct sl_secbuf *bufs[MAX_BUFFERS] = {NULL};
    int nbufs = 0, bits = 0, nw = sl_max_threads();
    int64_t *hist = NULL, *tot = NULL, *grp = NULL, *node_of = NULL;
    uint8_t *chosen = NULL;

    if (nq == 0)
        return SL_OK;
    rd.nq = nq;
    rd.q = sl_malloc((size_t)nq * sizeof *rd.q);
    node_of = sl_malloc((size_t)s->ncells * sizeof *node_of);
    SL_CHECK(rd.q && node_of, SL_ERR_NOMEM, "out of memory for %lld order statistics",
             (long long)nq);
    for (int64_t i = 0; i < nq; i++)
        rd.q[i] = (struct query){i, qcell[i], qrank[i], 0, 0};
    SL_CALL(round_plan(&rd, mstart, members));
    for (int64_t c = 0; c < s->ncells; c++)
        node_of[c] = -1;
    for (int64_t n = 0; n < rd.nnodes; n++)
        node_of[rd.nodes[n].cell] = n;
    for (int round = 0; bits < 64; round++) {
        struct digit d = round_digit(bits, rd.nnodes, rd.ngroups);
        int64_t nbins = (int64_t)d.mask + 1, per = rd.nnodes * nbins, need = 0;
        uint64_t *dst = NULL;

        /* Count this rank's values per node and bin, per worker. */
        hist = sl_calloc((size_t)((round == 0 ? ROW_COPIES : 1) * nw * per + 1), sizeof *hist);
        tot = sl_calloc((size_t)(per + 1), sizeof *tot);
        grp = sl_calloc((size_t)(rd.ngroups * nbins + 1), sizeof *grp);
        SL_CHECK(hist && tot && grp, SL_ERR_NOMEM, "out of memory for selection counts");
        SL_CALL(sweep(s, &rd, round == 0, node_of, &d, nw, hist, NULL, NULL));
        for (int k = 1; round == 0 && k < ROW_COPIES; k++)
            for (int64_t i = 0; i < nw * per; i++)
                hist[i] += hist[k * nw * per + i];
        for (int t = 0; t < nw; t++)
            for (int64_t i = 0; i < per; i++)
                tot[i] += hist[t * per + i];
        for (int64_t g = 0; g < rd.ngroups; g++)
            for (int64_t j = rd.gstart[g]; j < rd.gstart[g + 1]; j++)
                for (int64_t b = 0; b < nbins; b++)
                    grp[g * nbins + b] += tot[rd.gnodes[j] * nbins + b];
        SL_CALL(r->sum_i64(r->ctx, grp, rd.ngroups * nbins));
        if (round == 0)
            for (int64_t i = 0; i < nq; i++) {
                const int64_t *h = grp + rd.q[i].group * nbins;
                int64_t all = 0;
                for (int64_t b = 0; b < nbins; b++)
                    all += h[b];
                SL_CHECK(rd.q[i].rank >= 0 && rd.q[i].rank < all, SL_ERR_INTERNAL,
                         "order statistic %lld asked of a cell with %lld values",
                         (long long)rd.q[i].rank, (long long)all);
            }
        /* Every query moves into the bin that holds its rank. */
        for (int64_t i = 0; i < nq; i++) {
            struct query *q = &rd.q[i];
            const int64_t *h = grp + q->group * nbins;
            int64_t b = 0;
            while (q->rank >= h[b]) {
                q->rank -= h[b];
                b++;
            }
            q->prefix = (bits == 0 ? 0 : q->prefix << d.width) | (uint64_t)b;
        }
        bits += d.width;
        if (bits == 64)
            break;
        /* Next round's nodes take their values from this round's. */
        next.nq = nq;
        next.q = rd.q;
        SL_CALL(round_plan(&next, mstart, members));
        chosen = sl_calloc((size_t)(per + 1), sizeof *chosen);
        SL_CHECK(chosen, SL_ERR_NOMEM, "out of memory");
        for (int64_t n = 0; n < next.nnodes; n++) {
            struct node *x = &next.nodes[n];
            int64_t parent = find_node(rd.nodes, rd.nnodes, x->cell, x->prefix >> d.width);
            SL_CHECK(parent >= 0, SL_ERR_INTERNAL, "selection node without a parent");
            x->from = parent * nbins + (int64_t)(x->prefix & d.mask);
            x->len = tot[x->from];
            if (round > 0 && x->len == rd.nodes[parent].len)
                x->key = rd.nodes[parent].key; /* every value goes here: no copy */
            else
                need += x->len;
        }
        if (need > 0) {
            SL_CHECK(nbufs < MAX_BUFFERS, SL_ERR_INTERNAL, "selection ran out of rounds");
            SL_CALL(sl_secpool_take((size_t)need * sizeof(uint64_t), &bufs[nbufs]));
            dst = bufs[nbufs++]->data;
        }
        /* Cursors: each worker's share of a copied child, in worker order;
         * -1 where nothing is copied. */
        need = 0;
        for (int64_t n = 0; n < next.nnodes; n++) {
            struct node *x = &next.nodes[n];
            if (x->key || x->len == 0)
                continue;
            chosen[x->from] = 1;
            x->key = dst + need;
            for (int t = 0; t < nw; t++) {
                int64_t c = hist[t * per + x->from];
                hist[t * per + x->from] = need;
                need += c;
            }
        }
        for (int t = 0; t < nw; t++)
            for (int64_t i = 0; i < per; i++)
                if (!chosen[i])
                    hist[t * per + i] = -1;
        if (dst)
            SL_CALL(sweep(s, &rd, round == 0, node_of, &d, nw, NULL, hist, dst));
        sl_free(chosen);
        chosen = NULL;
        sl_free(hist);
        sl_free(tot);
        sl_free(grp);
        hist = tot = grp = NULL;
        round_free(&rd);
        rd.ngroups = next.ngroups;
        rd.nodes = next.nodes;
        rd.nnodes = next.nnodes;
        rd.gstart = next.gstart;
        rd.gnodes = next.gnodes;
        rd.first_query = next.first_query;
        memset(&next, 0, sizeof next);
    }
    for (int64_t i = 0; i < nq; i++)
        out[rd.q[i].index] = sl_total_value(rd.q[i].prefix);
cleanup:
    for (int i = 0; i < nbufs; i++)
        sl_secpool_put(&bufs[i]);
    next.q = NULL;
    round_free(&next);
    round_free(&rd);
    if (rd.q)
        sl_wipe(rd.q, (size_t)nq * sizeof *rd.q);
    sl_free(rd.q);
    sl_free(node_of);
    sl_free(hist);
    sl_free(tot);
    sl_free(grp);
    sl_free(chosen);
    return st;
}
