/*
 * select.c: exact order statistics across ranks (see cellstats.h), by
 * radix selection of the values in brackets that a sample points to.
 *
 * Radix selection. A value's 64-bit key orders like the IEEE total order.
 * The k-th smallest value of a published cell is found digit by digit from
 * the top of the key. A round looks at the next digit: every rank counts,
 * for each query group (a published cell and the key prefix its queries
 * have reached), how many of its values fall in each bin of that digit; the
 * counts are summed over the ranks and each query moves into the bin that
 * holds its rank. Only counts travel; the value is known once all 64 bits
 * are. A rank keeps its values per node, a full-grid cell with a key prefix
 * (a published cell with margins covers several full-grid cells). The first
 * round reads the rows; then the values of a node that fall in a bin some
 * query moved into are copied to that child node, so later rounds read only
 * those. A node whose values all go to one child hands its memory over
 * instead. Work is cut into equal slices per logical worker and copies go to
 * offsets computed from the per-worker counts, so the candidates, like the
 * counts, do not depend on the thread count.
 *
 * Brackets. Clinical values share their sign and exponent, so the first
 * digit of the key hardly splits them and the first copy would move most
 * rows. Instead every rank samples every S-th row (at most SAMPLE_ROWS); the
 * sample's own order statistics around where each answer should fall
 * (radix selection of the sample: counts only) give each query a bracket of
 * keys [lo, up), the same on every rank; a side the sample cannot bound
 * (a small cell) stays open, and brackets of one published cell that
 * overlap (the two neighbouring ranks of a type 7 quantile) become one.
 * One pass over the rows then counts each cell's values per segment
 * between the brackets' bounds and copies the values inside brackets (for
 * grids of up to SL_BRACKET_CELLS cells the kernel sl_bracket_rows does
 * this pass, SIMD where the CPU has AVX-512). With the
 * counts summed over the ranks, a query whose rank falls inside its bracket
 * is answered by radix selection of the copied candidates, from below the
 * top bits that all brackets' ends share (a bracket of a single value needs
 * none); one whose rank does not, by radix selection over all rows. Every
 * path is exact, so the answers do not depend on the sample, the rank
 * layout or the thread count. A caller's row visitor sees each block of
 * rows right after the pass has read it (describe's dominance evidence).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/parallel.h"
#include "engine/core/secbuf.h"
#include "jobs/cellstats.h"

#define DIGIT_MAX 12
#define DIGIT_MIN 8
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

/* Row r's full-grid cell, -1 when the row is dropped, -2 when its cell is
 * out of range. */
static inline int64_t row_cell(const struct sl_cell_values *s, int64_t r)
{
    int64_t c = s->cell ? s->cell[r] : (s->mask && !s->mask[r] ? -1 : 0);
    if ((uint64_t)c >= (uint64_t)s->ncells)
        return c == -1 ? -1 : -2;
    return c;
}

/* Row r's node in the first round (node_of[c] for its full-grid cell c),
 * -1 when the row is dropped, missing or in no queried cell, -2 when its
 * cell is out of range. */
static inline int64_t row_node(const struct sl_cell_values *s, const int64_t *node_of, int64_t r)
{
    int64_t c = row_cell(s, r);
    if (c < 0)
        return c;
    return s->v[r] != s->v[r] ? -1 : node_of[c];
}

/* Counts (hist != NULL) or copies (cursor != NULL) worker t's slice of the
 * frame's rows in the first round. Counting spreads rows over `copies`
 * copies of the counters (1 or ROW_COPIES), `stride` apart: rows of one
 * cell often share the top digit (sign and exponent), and with few nodes
 * increments of one counter would wait on each other. With more than
 * ROW_COPY_NODES nodes, neighbouring rows seldom meet at one counter, and
 * copies would only add counters to clear and sum. Returns the first row
 * with a cell out of range, or -1. */
#define ROW_COPIES 4
#define ROW_COPY_NODES 8
static int64_t rows_slice(const struct sl_cell_values *s, const int64_t *node_of,
                          const struct digit *d, int t, int nw, int64_t *hist, int copies,
                          int64_t stride, int64_t *cursor, uint64_t *out)
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
            hist[(r & (copies - 1)) * stride + n * nbins + digit_of(d, k)]++;
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
 * `copies` such arrays one after the other) or copying with per-worker
 * cursors (cursor, [nw][nnodes][nbins]). */
static sl_status sweep(const struct sl_cell_values *s, const struct round *rd, int first,
                       const int64_t *node_of, const struct digit *d, int nw, int copies,
                       int64_t *hist, int64_t *cursor, uint64_t *out)
{
    sl_status st = SL_OK;
    int64_t per = rd->nnodes * ((int64_t)d->mask + 1), bad = -1;

    SL_OMP(parallel num_threads(nw) reduction(max : bad))
    for (int t = sl_thread_num(); t < nw; t += sl_num_threads()) {
        int64_t *h = hist ? hist + t * per : NULL, *c = cursor ? cursor + t * per : NULL;
        if (first) {
            int64_t r = rows_slice(s, node_of, d, t, nw, h, copies, nw * per, c, out);
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

/* Digit width for a round with `bits` known: as wide as the counters allow,
 * and no wider than the values left call for: with at most `left` values
 * (over all ranks) in any group, 2^w bins need not exceed about `left`
 * (down to DIGIT_MIN bits). A round's bookkeeping and its sum across the
 * ranks go with its counters, while its data shrinks fast. */
static struct digit round_digit(int bits, int64_t nnodes, int64_t ngroups, int64_t left)
{
    struct digit d;
    int64_t most = nnodes > ngroups ? nnodes : ngroups;
    int w = DIGIT_MAX;
    while (w > 1 && ((int64_t)1 << w) * (most > 0 ? most : 1) > COUNTER_BUDGET)
        w--;
    while (w > DIGIT_MIN && ((int64_t)1 << (w - 1)) >= left)
        w--;
    if (w > 64 - bits)
        w = 64 - bits;
    d.width = w;
    d.shift = 64 - bits - w;
    d.mask = (UINT64_C(1) << w) - 1;
    return d;
}

/* Scratch kept over the rounds of a selection: a round's counters freed
 * and allocated again would come back as fresh pages, which cost more than
 * the round (0.5-3 ms a megabyte on the project's virtual machine). */
struct scratch {
    void *p;
    size_t cap;
};

/* At least `bytes` of s, zeroed when `zero`; NULL when out of memory. */
static void *scratch_get(struct scratch *s, size_t bytes, int zero)
{
    if (bytes > s->cap) {
        size_t want = bytes + bytes / 2;
        sl_free(s->p);
        s->p = sl_malloc(want);
        s->cap = s->p ? want : 0;
    }
    if (s->p && zero)
        memset(s->p, 0, bytes);
    return s->p;
}

/* The radix selection itself (see the top of the file): every query over
 * the rows of s. With bits0 > 0, every value of a query's published cell
 * has the top bits0 bits prefix0[i] (its bracket's), and the rounds start
 * below them. Collective through r. */
static sl_status radix_select(const struct sl_reducer *r, const struct sl_cell_values *s,
                              const int64_t *mstart, const int64_t *members, int64_t nq,
                              const int64_t *qcell, const int64_t *qrank, int bits0,
                              const uint64_t *prefix0, double *out)
{
    sl_status st = SL_OK;
    struct round rd = {0}, next = {0};
    struct sl_secbuf *bufs[MAX_BUFFERS] = {NULL};
    int nbufs = 0, bits = bits0, nw = sl_max_threads();
    int64_t *hist, *tot, *grp, *node_of = NULL, left = INT64_MAX;
    int64_t *used, *gsum;
    uint8_t *chosen;
    /* hist, tot, grp, used, gsum, chosen */
    struct scratch sc[6] = {{NULL, 0}, {NULL, 0}, {NULL, 0}, {NULL, 0}, {NULL, 0}, {NULL, 0}};

    if (nq == 0)
        return SL_OK;
    rd.nq = nq;
    rd.q = sl_malloc((size_t)nq * sizeof *rd.q);
    node_of = sl_malloc((size_t)s->ncells * sizeof *node_of);
    SL_CHECK(rd.q && node_of, SL_ERR_NOMEM, "out of memory for %lld order statistics",
             (long long)nq);
    for (int64_t i = 0; i < nq; i++)
        rd.q[i] = (struct query){i, qcell[i], qrank[i], bits0 > 0 ? prefix0[i] : 0, 0};
    SL_CALL(round_plan(&rd, mstart, members));
    for (int64_t c = 0; c < s->ncells; c++)
        node_of[c] = -1;
    for (int64_t n = 0; n < rd.nnodes; n++)
        node_of[rd.nodes[n].cell] = n;
    for (int round = 0; bits < 64; round++) {
        struct digit d = round_digit(bits, rd.nnodes, rd.ngroups, left);
        int64_t nbins = (int64_t)d.mask + 1, per = rd.nnodes * nbins, need = 0;
        int copies = round == 0 && rd.nnodes <= ROW_COPY_NODES ? ROW_COPIES : 1;
        uint64_t *dst = NULL;

        /* Count this rank's values per node and bin, per worker. */
        hist = scratch_get(&sc[0], (size_t)(copies * nw * per + 1) * sizeof *hist, 1);
        tot = scratch_get(&sc[1], (size_t)(per + 1) * sizeof *tot, 1);
        grp = scratch_get(&sc[2], (size_t)(rd.ngroups * nbins + 1) * sizeof *grp, 1);
        used = scratch_get(&sc[3], (size_t)(2 * rd.nnodes + 1) * sizeof *used, 0);
        gsum = scratch_get(&sc[4], (size_t)(2 * rd.ngroups + 1) * sizeof *gsum, 0);
        SL_CHECK(hist && tot && grp && used && gsum, SL_ERR_NOMEM,
                 "out of memory for selection counts");
        SL_CALL(sweep(s, &rd, round == 0, node_of, &d, nw, copies, hist, NULL, NULL));
        for (int k = 1; k < copies; k++)
            for (int64_t i = 0; i < nw * per; i++)
                hist[i] += hist[k * nw * per + i];
        for (int t = 0; t < nw; t++)
            for (int64_t i = 0; i < per; i++)
                tot[i] += hist[t * per + i];
        /* Values of one node share most of their top bits: each node's
         * bins with values on this rank lie in [used[2n], used[2n + 1]),
         * and the loops below stay there (a bin outside holds nothing
         * here, and no value of this rank's meets its cursor). */
        for (int64_t n = 0; n < rd.nnodes; n++) {
            const int64_t *h = tot + n * nbins;
            int64_t lo = 0, hi = nbins;
            while (lo < hi && h[lo] == 0)
                lo++;
            while (hi > lo && h[hi - 1] == 0)
                hi--;
            used[2 * n] = lo;
            used[2 * n + 1] = hi;
        }
        for (int64_t g = 0; g < rd.ngroups; g++)
            for (int64_t j = rd.gstart[g]; j < rd.gstart[g + 1]; j++) {
                int64_t n = rd.gnodes[j];
                for (int64_t b = used[2 * n]; b < used[2 * n + 1]; b++)
                    grp[g * nbins + b] += tot[n * nbins + b];
            }
        SL_CALL(r->sum_i64(r->ctx, grp, rd.ngroups * nbins));
        /* each group's values over all ranks, and its first bin with any */
        for (int64_t g = 0; g < rd.ngroups; g++) {
            const int64_t *h = grp + g * nbins;
            int64_t b = 0;
            gsum[2 * g] = 0;
            while (b < nbins && h[b] == 0)
                b++;
            gsum[2 * g + 1] = b;
            for (; b < nbins; b++)
                gsum[2 * g] += h[b];
        }
        if (round == 0)
            for (int64_t i = 0; i < nq; i++)
                SL_CHECK(rd.q[i].rank >= 0 && rd.q[i].rank < gsum[2 * rd.q[i].group],
                         SL_ERR_INTERNAL, "order statistic %lld asked of a cell with %lld values",
                         (long long)rd.q[i].rank, (long long)gsum[2 * rd.q[i].group]);
        /* Every query moves into the bin that holds its rank; `left` is
         * the most values any of those bins holds. */
        left = 0;
        for (int64_t i = 0; i < nq; i++) {
            struct query *q = &rd.q[i];
            const int64_t *h = grp + q->group * nbins;
            int64_t b = gsum[2 * q->group + 1];
            while (q->rank >= h[b]) {
                q->rank -= h[b];
                b++;
            }
            q->prefix = (bits == 0 ? 0 : q->prefix << d.width) | (uint64_t)b;
            left = h[b] > left ? h[b] : left;
        }
        bits += d.width;
        if (bits == 64)
            break;
        /* Next round's nodes take their values from this round's. */
        next.nq = nq;
        next.q = rd.q;
        SL_CALL(round_plan(&next, mstart, members));
        chosen = scratch_get(&sc[5], (size_t)(per + 1) * sizeof *chosen, 1);
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
            for (int64_t n = 0; n < rd.nnodes; n++)
                for (int64_t i = n * nbins + used[2 * n]; i < n * nbins + used[2 * n + 1]; i++)
                    if (!chosen[i])
                        hist[t * per + i] = -1;
        if (dst)
            SL_CALL(sweep(s, &rd, round == 0, node_of, &d, nw, 1, NULL, hist, dst));
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
    for (int i = 0; i < 6; i++)
        sl_free(sc[i].p);
    return st;
}

/* ---- bracketed selection ---- */

/* Rows a rank samples at most for up to 3 cells: every S-th row,
 * S = ceil(nrows / sample_rows(ncells)). */
#define SAMPLE_ROWS 65536
/* Half-width of a bracket in sample ranks: this many standard deviations of
 * the answer's rank in the sample, plus a little. */
#define BRACKET_SIGMAS 3.5
#define BRACKET_SLACK 4.0

/* A query's bracket: keys in [lo, up), lo from 0 without has_lo, up to the
 * top without has_up. A point bracket (up == lo + 1) is one value: a hit
 * needs no candidates. */
struct bracket {
    int has_lo, has_up;
    uint64_t lo, up;
    int64_t below, inside; /* over all ranks: values under lo, values in the bracket */
};

/* A bracket's width in a cell's values shrinks with the square root of the
 * cell's sampled values, while the sample costs per sampled row: with more
 * cells the balance of the two moves to a larger sample, by the cube root
 * of the number of cells. */
static int64_t sample_rows(int64_t ncells)
{
    return ncells > 3 ? (int64_t)(SAMPLE_ROWS * cbrt((double)ncells / 3.0)) : SAMPLE_ROWS;
}

static int is_point(const struct bracket *b)
{
    return b->has_lo && b->has_up && b->up == b->lo + 1;
}

/* n rounded up to 5, 6, 7 or 8 times a power of two (at most a quarter
 * more): buffers of nearly the same size come out the same, so the pool
 * hands them back (fresh secret pages cost far more than reused ones). */
static int64_t pool_size(int64_t n)
{
    int64_t unit = 1;
    while (8 * unit < n)
        unit *= 2;
    for (int64_t m = 4; m < 8; m++)
        if (m * unit >= n)
            return m * unit;
    return 8 * unit;
}

/* Every S-th row of s, as cell values of their own (secret); a sampled row
 * without a cell or a value keeps its place with cell -1. */
struct sample {
    struct sl_secbuf *vbuf, *cbuf;
    struct sl_cell_values cv;
    int64_t stride;
};

static void sample_free(struct sample *sm)
{
    sl_secpool_put(&sm->vbuf);
    sl_secpool_put(&sm->cbuf);
}

/* The workers take the sampled rows in equal shares of places (the rows lie
 * a stride apart, so each costs a read from memory). */
static sl_status sample_take(const struct sl_cell_values *s, struct sample *sm)
{
    sl_status st = SL_OK;
    int64_t want = sample_rows(s->ncells);
    int64_t stride = s->nrows > want ? (s->nrows + want - 1) / want : 1;
    int64_t m = (s->nrows + stride - 1) / stride, cap = pool_size(m + 1), bad = INT64_MAX;
    int nw = sl_max_threads();
    double *v;
    int32_t *cell;

    SL_CALL(sl_secpool_take((size_t)cap * sizeof *v, &sm->vbuf));
    SL_CALL(sl_secpool_take((size_t)cap * sizeof *cell, &sm->cbuf));
    v = sm->vbuf->data;
    cell = sm->cbuf->data;
    SL_OMP(parallel num_threads(nw) reduction(min : bad))
    for (int t = sl_thread_num(); t < nw; t += sl_num_threads())
        for (int64_t i = m * t / nw; i < m * (t + 1) / nw; i++) {
            int64_t r = i * stride, c = row_cell(s, r);
            double x = s->v[r];
            bad = c == -2 && r < bad ? r : bad;
            v[i] = x;
            cell[i] = (int32_t)(c >= 0 && x == x ? c : -1);
        }
    SL_CHECK(bad == INT64_MAX, SL_ERR_INTERNAL,
             "row %lld has a cell outside the grid of %lld cells", (long long)bad,
             (long long)s->ncells);
    sm->cv = (struct sl_cell_values){v, cell, NULL, m, s->ncells, NULL, NULL};
    sm->stride = stride;
cleanup:
    return st;
}

/* Queries of every full-grid cell: qof[qstart[c] .. qstart[c + 1]) are the
 * queries i whose published cell has c among its members. */
static sl_status queries_by_cell(int64_t ncells, const int64_t *mstart, const int64_t *members,
                                 int64_t nq, const int64_t *qcell, int64_t **qstart,
                                 int64_t **qof)
{
    sl_status st = SL_OK;
    int64_t *start = sl_calloc((size_t)ncells + 2, sizeof *start), *of = NULL, *next = NULL;
    int64_t n = 0;

    SL_CHECK(start, SL_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < nq; i++)
        for (int64_t m = mstart[qcell[i]]; m < mstart[qcell[i] + 1]; m++) {
            start[members[m] + 1]++;
            n++;
        }
    for (int64_t c = 0; c < ncells; c++)
        start[c + 1] += start[c];
    of = sl_malloc((size_t)(n + 1) * sizeof *of);
    next = sl_malloc((size_t)(ncells + 1) * sizeof *next);
    SL_CHECK(of && next, SL_ERR_NOMEM, "out of memory");
    memcpy(next, start, (size_t)ncells * sizeof *next);
    for (int64_t i = 0; i < nq; i++)
        for (int64_t m = mstart[qcell[i]]; m < mstart[qcell[i] + 1]; m++)
            of[next[members[m]]++] = i;
    *qstart = start;
    *qof = of;
    start = of = NULL;
cleanup:
    sl_free(start);
    sl_free(of);
    sl_free(next);
    return st;
}

static int cmp_span(const void *pa, const void *pb)
{
    const struct sl_rank_span *a = pa, *b = pb;
    if (a->cell != b->cell)
        return a->cell < b->cell ? -1 : 1;
    if (a->lo != b->lo)
        return a->lo < b->lo ? -1 : 1;
    return (a->query > b->query) - (a->query < b->query);
}

void sl_rank_spans_merge(struct sl_rank_span *sp, int64_t n)
{
    qsort(sp, (size_t)n, sizeof *sp, cmp_span);
    for (int64_t a = 0, b; a < n; a = b) {
        int64_t hi = sp[a].hi;
        for (b = a + 1; b < n && sp[a].m > 0 && sp[b].cell == sp[a].cell && sp[b].lo <= hi; b++)
            hi = sp[b].hi > hi ? sp[b].hi : hi;
        sp[a].hi = hi;
        for (int64_t k = a + 1; k < b; k++) {
            sp[k].lo = sp[a].lo;
            sp[k].hi = hi;
        }
    }
}

/* Brackets from the sample, identical on every rank: the sample's order
 * statistics around where each answer should fall (found by radix selection
 * of the sample, so only counts travel). Where the sample holds too few of
 * a cell's values to bound an answer on a side, the bracket is open there,
 * up to the whole cell: such cells are small, and copying their values in
 * the bracket pass costs less than a radix selection over all rows.
 * Collective through r. */
static sl_status plan_brackets(const struct sl_reducer *r, const struct sample *sm,
                               const int64_t *mstart, const int64_t *members, int64_t nq,
                               const int64_t *qcell, const int64_t *qrank, const int64_t *qcount,
                               struct bracket *br)
{
    sl_status st = SL_OK;
    const struct sl_cell_values *cv = &sm->cv;
    int64_t ncells = cv->ncells, nsq = 0, *cnt = NULL, *sq = NULL;
    struct sl_rank_span *sp = NULL;
    double *sx = NULL;

    /* sampled values, and sampled rows weighted by the stride (the size of
     * a cell where the caller gives none), per cell */
    cnt = sl_calloc((size_t)(2 * ncells + 1), sizeof *cnt);
    sq = sl_malloc((size_t)(4 * nq + 1) * sizeof *sq);
    sx = sl_malloc((size_t)(2 * nq + 1) * sizeof *sx);
    sp = sl_malloc((size_t)(nq + 1) * sizeof *sp);
    SL_CHECK(cnt && sq && sx && sp, SL_ERR_NOMEM, "out of memory for selection brackets");
    for (int64_t i = 0; i < cv->nrows; i++)
        if (cv->cell[i] >= 0) {
            cnt[cv->cell[i]]++;
            cnt[ncells + cv->cell[i]] += sm->stride;
        }
    SL_CALL(r->sum_i64(r->ctx, cnt, 2 * ncells));
    for (int64_t i = 0; i < nq; i++) {
        int64_t m = 0, est = 0;
        double f, j, d;
        memset(&br[i], 0, sizeof br[i]);
        sp[i] = (struct sl_rank_span){qcell[i], 0, 0, 0, i};
        for (int64_t k = mstart[qcell[i]]; k < mstart[qcell[i] + 1]; k++) {
            m += cnt[members[k]];
            est += cnt[ncells + members[k]];
        }
        if (qcount[i] > 0)
            est = qcount[i];
        if (m == 0 || est == 0)
            continue;
        /* the answer's share of the cell, exact when the caller knows the
         * cell's size: then only the sample's rank is uncertain */
        f = ((double)qrank[i] + 0.5) / (double)est;
        f = f < 0 ? 0 : (f > 1 ? 1 : f);
        j = f * (double)m;
        d = BRACKET_SIGMAS * sqrt((double)m * f * (1 - f)) + BRACKET_SLACK;
        sp[i].lo = (int64_t)floor(j - d);
        sp[i].hi = (int64_t)ceil(j + d);
        sp[i].lo = sp[i].lo < 0 ? -1 : sp[i].lo;
        sp[i].hi = sp[i].hi >= m ? m : sp[i].hi;
        sp[i].m = m;
    }
    sl_rank_spans_merge(sp, nq);
    /* sample ranks of each bracket's ends, in query order: sq[0 .. nsq)
     * cells, sq[2nq ..) ranks */
    for (int64_t k = 0; k < nq; k++) {
        const struct sl_rank_span *a = &sp[k];
        struct bracket *b = &br[a->query];
        b->has_lo = a->m > 0 && a->lo >= 0;
        b->has_up = a->m > 0 && a->hi < a->m;
        if (b->has_lo) {
            sq[nsq] = a->cell;
            sq[2 * nq + nsq++] = a->lo;
        }
        if (b->has_up) {
            sq[nsq] = a->cell;
            sq[2 * nq + nsq++] = a->hi;
        }
    }
    SL_CALL(radix_select(r, cv, mstart, members, nsq, sq, sq + 2 * nq, 0, NULL, sx));
    nsq = 0;
    for (int64_t k = 0; k < nq; k++) {
        struct bracket *b = &br[sp[k].query];
        if (b->has_lo)
            b->lo = sl_total_key(sx[nsq++]);
        if (b->has_up)
            b->up = sl_total_key(sx[nsq++]) + 1;
    }
cleanup:
    if (sx)
        sl_wipe(sx, (size_t)(2 * nq + 1) * sizeof *sx);
    sl_free(sx);
    sl_free(sp);
    sl_free(cnt);
    sl_free(sq);
    return st;
}

/* The brackets cut each queried full-grid cell's keys into segments: cell
 * c's sorted distinct bounds bnd[bstart[c] .. bstart[c + 1]) make segment
 * seg0[c] + j hold the keys in [bound j - 1, bound j) (from 0, to the top).
 * copy marks the segments some bracket that is not a point needs. */
struct segments {
    int64_t *bstart, *seg0;
    uint64_t *bnd;
    uint8_t *copy;
    int64_t nseg;
    uint64_t *pad8; /* where no cell has more than 8 bounds: cell c's bounds at
                     * pad8[8 c ..], padded with UINT64_MAX (which no key of
                     * a value reaches); else NULL */
};

static void segments_free(struct segments *sg)
{
    sl_free(sg->bstart);
    sl_free(sg->seg0);
    sl_free(sg->bnd);
    sl_free(sg->copy);
    sl_free(sg->pad8);
    memset(sg, 0, sizeof *sg);
}

static int cmp_u64(const void *pa, const void *pb)
{
    uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
    return (a > b) - (a < b);
}

/* Number of bounds b[0 .. nb) at or below k: the segment of key k. The
 * last few bounds are counted without branches (the values are random to
 * the branch predictor). */
static inline int64_t seg_of(const uint64_t *b, int64_t nb, uint64_t k)
{
    int64_t lo = 0, hi = nb;
    while (hi - lo > 8) {
        int64_t mid = lo + (hi - lo) / 2;
        if (b[mid] <= k)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (int64_t j = lo; j < hi; j++)
        lo += b[j] <= k;
    return lo;
}

/* The segment of key k among 8 padded bounds: compares in a fixed number,
 * so that cells with different numbers of bounds cost no mispredictions. */
static inline int64_t seg_of8(const uint64_t *b, uint64_t k)
{
    int64_t s = 0;
    _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++)
        s += b[j] <= k;
    return s;
}

/* Segments of cell c that bracket b covers: [*j0, *j1]. */
static void bracket_span(const struct segments *sg, int64_t c, const struct bracket *b,
                         int64_t *j0, int64_t *j1)
{
    const uint64_t *bnd = sg->bnd + sg->bstart[c];
    int64_t nb = sg->bstart[c + 1] - sg->bstart[c];
    /* a bound is in the list, so the segment starting at it is found */
    *j0 = b->has_lo ? seg_of(bnd, nb, b->lo) : 0;
    *j1 = b->has_up ? seg_of(bnd, nb, b->up) - 1 : nb;
}

static sl_status segments_build(int64_t ncells, const int64_t *mstart, const int64_t *members,
                                int64_t nq, const int64_t *qcell, const struct bracket *br,
                                struct segments *sg)
{
    sl_status st = SL_OK;
    int64_t *qstart = NULL, *qof = NULL, nb = 0, most = 0;

    memset(sg, 0, sizeof *sg);
    SL_CALL(queries_by_cell(ncells, mstart, members, nq, qcell, &qstart, &qof));
    sg->bstart = sl_calloc((size_t)ncells + 2, sizeof *sg->bstart);
    sg->seg0 = sl_calloc((size_t)ncells + 2, sizeof *sg->seg0);
    sg->bnd = sl_malloc((size_t)(2 * qstart[ncells] + 1) * sizeof *sg->bnd);
    SL_CHECK(sg->bstart && sg->seg0 && sg->bnd, SL_ERR_NOMEM, "out of memory");
    /* each cell's bounds, sorted and without repeats */
    for (int64_t c = 0; c < ncells; c++) {
        uint64_t *b = sg->bnd + nb;
        int64_t n = 0, k = 0;
        for (int64_t e = qstart[c]; e < qstart[c + 1]; e++) {
            const struct bracket *q = &br[qof[e]];
            if (q->has_lo)
                b[n++] = q->lo;
            if (q->has_up)
                b[n++] = q->up;
        }
        qsort(b, (size_t)n, sizeof *b, cmp_u64);
        for (int64_t j = 0; j < n; j++)
            if (j == 0 || b[j] != b[j - 1])
                b[k++] = b[j];
        sg->bstart[c] = nb;
        sg->seg0[c + 1] = sg->seg0[c] + (qstart[c + 1] > qstart[c] ? k + 1 : 0);
        nb += k;
    }
    sg->bstart[ncells] = nb;
    sg->nseg = sg->seg0[ncells];
    SL_CHECK(sg->nseg < INT32_MAX, SL_ERR_NOMEM, "too many selection segments (%lld)",
             (long long)sg->nseg);
    sg->copy = sl_calloc((size_t)sg->nseg + 1, sizeof *sg->copy);
    SL_CHECK(sg->copy, SL_ERR_NOMEM, "out of memory");
    for (int64_t c = 0; c < ncells; c++)
        most = sg->bstart[c + 1] - sg->bstart[c] > most ? sg->bstart[c + 1] - sg->bstart[c] : most;
    if (most <= 8) {
        sg->pad8 = sl_malloc((size_t)(8 * ncells + 1) * sizeof *sg->pad8);
        SL_CHECK(sg->pad8, SL_ERR_NOMEM, "out of memory");
        for (int64_t c = 0; c < ncells; c++)
            for (int64_t j = 0; j < 8; j++)
                sg->pad8[8 * c + j] = sg->bstart[c] + j < sg->bstart[c + 1]
                                          ? sg->bnd[sg->bstart[c] + j]
                                          : UINT64_MAX;
    }
    for (int64_t c = 0; c < ncells; c++)
        for (int64_t e = qstart[c]; e < qstart[c + 1]; e++) {
            int64_t j0, j1;
            if (is_point(&br[qof[e]]))
                continue;
            bracket_span(sg, c, &br[qof[e]], &j0, &j1);
            for (int64_t j = j0; j <= j1; j++)
                sg->copy[sg->seg0[c] + j] = 1;
        }
cleanup:
    sl_free(qstart);
    sl_free(qof);
    return st;
}

/* A worker's candidates: values in segments to copy, with their segment. */
struct cands {
    struct sl_secbuf *vbuf, *sbuf;
    int64_t n, cap;
};

static sl_status cands_reserve(struct cands *cd, int64_t cap)
{
    sl_status st = SL_OK;
    cap = pool_size(cap);
    sl_secpool_put(&cd->vbuf);
    sl_secpool_put(&cd->sbuf);
    SL_CALL(sl_secpool_take((size_t)(cap + 1) * sizeof(double), &cd->vbuf));
    SL_CALL(sl_secpool_take((size_t)(cap + 1) * sizeof(int32_t), &cd->sbuf));
    cd->cap = cap;
    cd->n = 0;
cleanup:
    return st;
}

/* Rows [r0, r1): counts per segment into hist (when not NULL) and copies
 * the values of copy segments while there is room (cd->n counts them all).
 * With kb (a grid of a few cells) the kernel does it, counting into its
 * SL_BRACKET_LANES copies of the counters; without, the counts go to the
 * first copy. Returns the first row whose cell is out of range, or -1. */
static int64_t bracket_rows(const struct sl_cell_values *s, const struct segments *sg,
                            const struct sl_brackets *kb, int64_t r0, int64_t r1, int64_t *hist,
                            struct cands *cd)
{
    int64_t n = cd->n;
    double *cv = cd->vbuf->data;
    int32_t *cs = cd->sbuf->data;
    if (kb)
        return sl_bracket_rows(kb, s->v, s->cell, s->mask, r0, r1, hist, cv, cs, cd->cap, &cd->n);
    for (int64_t r = r0; r < r1; r++) {
        int64_t c = row_cell(s, r), g;
        double v;
        if (c < 0) {
            if (c == -2)
                return r;
            continue;
        }
        v = s->v[r];
        if (sg->seg0[c + 1] == sg->seg0[c] || v != v)
            continue;
        g = sg->seg0[c] + (sg->pad8 ? seg_of8(sg->pad8 + 8 * c, sl_total_key(v))
                                    : seg_of(sg->bnd + sg->bstart[c],
                                             sg->bstart[c + 1] - sg->bstart[c], sl_total_key(v)));
        if (hist)
            hist[g]++;
        /* written at n (or at the spare slot past cap once full), kept when
         * the segment is copied: no branch on the value */
        {
            int64_t at = n < cd->cap ? n : cd->cap;
            cv[at] = v;
            cs[at] = (int32_t)g;
            n += sg->copy[g];
        }
    }
    cd->n = n;
    return -1;
}

/* Rows a visitor gets at a time: they are still in cache when it reads
 * them after the bracket pass. */
#define VISIT_ROWS 32768

/* Worker t's slice of the rows through bracket_rows, in blocks that `visit`
 * (may be NULL) sees after the pass. Returns the first row whose cell is
 * out of range, or -1. */
static int64_t bracket_slice(const struct sl_cell_values *s, const struct segments *sg,
                             const struct sl_brackets *kb, int t, int nw, int64_t *hist,
                             struct cands *cd, const struct sl_row_visitor *visit)
{
    int64_t r0 = s->nrows * t / nw, r1 = s->nrows * (t + 1) / nw;
    for (int64_t b0 = r0; b0 < r1; b0 += VISIT_ROWS) {
        int64_t b1 = b0 + VISIT_ROWS < r1 ? b0 + VISIT_ROWS : r1;
        int64_t bad = bracket_rows(s, sg, kb, b0, b1, hist, cd);
        if (bad >= 0)
            return bad;
        if (visit)
            visit->fn(visit->ctx, t, b0, b1);
    }
    return -1;
}

void sl_visit_rows(int64_t nrows, const struct sl_row_visitor *v)
{
    int nw = sl_max_threads();
    SL_OMP(parallel num_threads(nw))
    for (int t = sl_thread_num(); t < nw; t += sl_num_threads()) {
        int64_t r1 = nrows * (t + 1) / nw;
        for (int64_t b0 = nrows * t / nw; b0 < r1; b0 += VISIT_ROWS)
            v->fn(v->ctx, t, b0, b0 + VISIT_ROWS < r1 ? b0 + VISIT_ROWS : r1);
    }
}

/* The segments as the bracket kernel's table in *out, or NULL when the grid
 * or its bounds do not fit. A cell without segments counts in counter
 * sg->nseg of each copy (never read) and copies nothing. */
static sl_status brackets_table(const struct sl_cell_values *s, const struct segments *sg,
                                struct sl_brackets **out)
{
    sl_status st = SL_OK;
    struct sl_brackets *kb;
    int64_t nb = 0;

    *out = NULL;
    if (s->ncells > SL_BRACKET_CELLS)
        return SL_OK;
    for (int64_t c = 0; c < s->ncells; c++)
        if (sg->bstart[c + 1] - sg->bstart[c] > nb)
            nb = sg->bstart[c + 1] - sg->bstart[c];
    if (nb > SL_BRACKET_BOUNDS)
        return SL_OK;
    kb = sl_calloc(1, sizeof *kb);
    SL_CHECK(kb, SL_ERR_NOMEM, "out of memory for the selection segments");
    kb->ncells = (int)s->ncells;
    kb->nbounds = (int)nb;
    kb->stride = sg->nseg + 1;
    for (int64_t c = 0; c < s->ncells; c++) {
        int used = sg->seg0[c + 1] > sg->seg0[c];
        int64_t k = used ? sg->bstart[c + 1] - sg->bstart[c] : 0;
        for (int64_t j = 0; j < nb; j++)
            kb->bound[j][c] = j < k ? sg->bnd[sg->bstart[c] + j] : UINT64_MAX;
        kb->seg0[c] = used ? sg->seg0[c] : sg->nseg;
        for (int64_t j = 0; used && j <= k; j++)
            kb->copy[c] |= (uint64_t)sg->copy[sg->seg0[c] + j] << j;
    }
    *out = kb;
cleanup:
    return st;
}

/* Share of this rank's sampled rows whose values fall in copy segments. */
static double copy_share(const struct sample *sm, const struct segments *sg)
{
    int64_t n = 0;
    for (int64_t t = 0; t < sm->cv.nrows; t++) {
        int64_t c = sm->cv.cell[t];
        if (c >= 0 && sg->seg0[c + 1] > sg->seg0[c])
            n += sg->copy[sg->seg0[c] + seg_of(sg->bnd + sg->bstart[c],
                                               sg->bstart[c + 1] - sg->bstart[c],
                                               sl_total_key(sm->cv.v[t]))];
    }
    return sm->cv.nrows > 0 ? (double)n / (double)sm->cv.nrows : 1.0;
}

/* One pass over the rows by nw workers: counts per segment summed over the
 * workers into tot, and every candidate copied into *out (secret, the
 * caller puts it back to the pool) as cell values whose cells are segments.
 * `visit` sees each row once. */
static sl_status bracket_pass(const struct sl_cell_values *s, const struct sample *sm,
                              const struct segments *sg, const struct sl_row_visitor *visit,
                              int64_t *tot, struct cands *out)
{
    sl_status st = SL_OK;
    int nw = sl_max_threads();
    int64_t *hist = NULL, bad = -1, total = 0, stride = sg->nseg + 1;
    /* each worker's counters (and the spare one past them, where rows
     * without a value count) are followed by a cache line of slack, so no
     * line holds two workers' counters */
    int64_t width = (SL_BRACKET_LANES * stride + 1 + 15) / 8 * 8;
    struct cands *cd = NULL;
    struct sl_brackets *kb = NULL;
    double share = copy_share(sm, sg);

    hist = sl_calloc((size_t)(nw * width), sizeof *hist);
    cd = sl_calloc((size_t)nw, sizeof *cd);
    SL_CHECK(hist && cd, SL_ERR_NOMEM, "out of memory for selection counts");
    SL_CALL(brackets_table(s, sg, &kb));
    for (int t = 0; t < nw; t++) {
        int64_t rows = s->nrows * (t + 1) / nw - s->nrows * t / nw;
        double want = (double)rows * (1.25 * share + 0.001) + 1024;
        SL_CALL(cands_reserve(&cd[t], want < (double)rows ? (int64_t)want : rows));
    }
    SL_OMP(parallel num_threads(nw) reduction(max : bad))
    for (int t = sl_thread_num(); t < nw; t += sl_num_threads()) {
        int64_t b = bracket_slice(s, sg, kb, t, nw, hist + t * width, &cd[t], visit);
        if (b > bad)
            bad = b;
    }
    SL_CHECK(bad < 0, SL_ERR_INTERNAL, "row %lld has a cell outside the grid of %lld cells",
             (long long)bad, (long long)s->ncells);
    for (int64_t g = 0; g < sg->nseg; g++)
        for (int64_t k = 0; k < nw * SL_BRACKET_LANES; k++)
            tot[g] += hist[k / SL_BRACKET_LANES * width + k % SL_BRACKET_LANES * stride + g];
    /* a worker that ran out of room copies its slice again, now to size
     * (its counters are summed: scratch now) */
    for (int t = 0; t < nw; t++)
        if (cd[t].n > cd[t].cap) {
            SL_CALL(cands_reserve(&cd[t], cd[t].n));
            (void)bracket_slice(s, sg, kb, t, nw, kb ? hist + t * width : NULL, &cd[t], NULL);
        }
    for (int t = 0; t < nw; t++)
        total += cd[t].n;
    SL_CALL(cands_reserve(out, total));
    for (int t = 0; t < nw; t++) {
        memcpy((double *)out->vbuf->data + out->n, cd[t].vbuf->data,
               (size_t)cd[t].n * sizeof(double));
        memcpy((int32_t *)out->sbuf->data + out->n, cd[t].sbuf->data,
               (size_t)cd[t].n * sizeof(int32_t));
        out->n += cd[t].n;
    }
cleanup:
    for (int t = 0; cd && t < nw; t++) {
        sl_secpool_put(&cd[t].vbuf);
        sl_secpool_put(&cd[t].sbuf);
    }
    sl_free(cd);
    sl_free(hist);
    if (kb)
        sl_wipe(kb, sizeof *kb);
    sl_free(kb);
    return st;
}

/* The top bits that every key of bracket b shares (63 for one value). */
static int bracket_common(const struct bracket *b)
{
    uint64_t lo = b->has_lo ? b->lo : 0, hi = b->has_up ? b->up - 1 : UINT64_MAX;
    return lo == hi ? 63 : __builtin_clzll(lo ^ hi);
}

/* Puts the hits whose brackets are closed on both sides first in hq[0 ..
 * nhit) (their ranks, hq[nq ..], alike), the open ones after, each part in
 * its order; returns how many are closed. A bracket open on a side (a thin
 * cell) shares no top bits with its keys: selected with the closed ones, it
 * would make every hit's first round count and copy all candidates on the
 * sign and exponent they share. `tmp` has room for 2 nhit. */
static int64_t hits_closed_first(const struct bracket *br, int64_t nq, int64_t nhit, int64_t *hq,
                                 int64_t *tmp)
{
    int64_t k = 0, closed = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int64_t h = 0; h < nhit; h++) {
            const struct bracket *b = &br[hq[h]];
            if ((b->has_lo && b->has_up) == (pass == 0)) {
                tmp[k] = hq[h];
                tmp[nhit + k++] = hq[nq + h];
                closed += pass == 0;
            }
        }
    for (int64_t h = 0; h < nhit; h++) {
        hq[h] = tmp[h];
        hq[nq + h] = tmp[nhit + h];
    }
    return closed;
}

sl_status sl_select_exact(const struct sl_reducer *r, const struct sl_cell_values *s,
                          const int64_t *mstart, const int64_t *members, int64_t nq,
                          const int64_t *qcell, const int64_t *qrank, const int64_t *qcount,
                          const struct sl_row_visitor *visit, double *out)
{
    sl_status st = SL_OK;
    struct sample sm = {NULL, NULL, {0}, 1};
    struct bracket *br = NULL;
    struct segments sg = {NULL, NULL, NULL, NULL, 0, NULL};
    struct cands cand = {NULL, NULL, 0, 0};
    int64_t *tot = NULL, *hq = NULL, *hstart = NULL, *hmem = NULL, *hcell = NULL, *mq = NULL;
    int64_t nhit = 0, nmiss = 0, nmem = 0;
    uint64_t *hpre = NULL;
    int bits0 = 63;
    double *x = NULL;

    if (nq == 0) {
        if (visit)
            sl_visit_rows(s->nrows, visit);
        return SL_OK;
    }
    br = sl_calloc((size_t)nq, sizeof *br);
    /* hit queries: hq[0 .. nhit) index, hq[nq ..) rank among the candidates;
     * misses: mq[0 .. nmiss) index, mq[nq ..) cell, mq[2 nq ..) rank */
    hq = sl_malloc((size_t)(2 * nq) * sizeof *hq);
    mq = sl_malloc((size_t)(3 * nq) * sizeof *mq);
    hstart = sl_malloc((size_t)(nq + 1) * sizeof *hstart);
    x = sl_malloc((size_t)nq * sizeof *x);
    SL_CHECK(br && hq && mq && hstart && x, SL_ERR_NOMEM, "out of memory for %lld order statistics",
             (long long)nq);
    SL_CALL(sample_take(s, &sm));
    SL_CALL(plan_brackets(r, &sm, mstart, members, nq, qcell, qrank, qcount, br));
    SL_CALL(segments_build(s->ncells, mstart, members, nq, qcell, br, &sg));
    tot = sl_calloc((size_t)sg.nseg + 1, sizeof *tot);
    SL_CHECK(tot, SL_ERR_NOMEM, "out of memory for selection counts");
    SL_CALL(bracket_pass(s, &sm, &sg, visit, tot, &cand));
    SL_CALL(r->sum_i64(r->ctx, tot, sg.nseg));
    /* where each answer is: in its bracket (a point: known), or not */
    hstart[0] = 0;
    for (int64_t i = 0; i < nq; i++) {
        struct bracket *b = &br[i];
        int64_t all = 0;
        for (int64_t m = mstart[qcell[i]]; m < mstart[qcell[i] + 1]; m++) {
            int64_t c = members[m], j0, j1;
            bracket_span(&sg, c, b, &j0, &j1);
            for (int64_t j = sg.seg0[c]; j < sg.seg0[c + 1]; j++) {
                int64_t k = j - sg.seg0[c];
                all += tot[j];
                b->below += k < j0 ? tot[j] : 0;
                b->inside += k >= j0 && k <= j1 ? tot[j] : 0;
            }
        }
        SL_CHECK(qrank[i] >= 0 && qrank[i] < all, SL_ERR_INTERNAL,
                     "order statistic %lld asked of a cell with %lld values", (long long)qrank[i],
                     (long long)all);
        if (qrank[i] < b->below || qrank[i] >= b->below + b->inside) {
            mq[nmiss] = i;
            mq[nq + nmiss] = qcell[i];
            mq[2 * nq + nmiss++] = qrank[i];
        } else if (is_point(b)) {
            out[i] = sl_total_value(b->lo);
        } else {
            hq[nhit] = i;
            hq[nq + nhit++] = qrank[i] - b->below;
        }
    }
    /* hits: radix selection among the candidates; published cell h is
     * made of the segments that query hq[h]'s bracket covers */
    if (nhit > 0) {
        struct sl_cell_values cv = {cand.vbuf->data, cand.sbuf->data, NULL, cand.n, sg.nseg,
                                    NULL, NULL};
        int64_t k = 0, nclosed;
        int bits1 = 63;
        for (int64_t h = 0; h < nhit; h++)
            for (int64_t m = mstart[qcell[hq[h]]]; m < mstart[qcell[hq[h]] + 1]; m++) {
                int64_t j0, j1;
                bracket_span(&sg, members[m], &br[hq[h]], &j0, &j1);
                nmem += j1 - j0 + 1;
            }
        /* hmem is the reordering's scratch before it takes the segments */
        hmem = sl_malloc((size_t)(nmem > 2 * nhit ? nmem : 2 * nhit) * sizeof *hmem);
        hcell = sl_malloc((size_t)nhit * sizeof *hcell);
        hpre = sl_malloc((size_t)nhit * sizeof *hpre);
        SL_CHECK(hmem && hcell && hpre, SL_ERR_NOMEM, "out of memory");
        nclosed = hits_closed_first(br, nq, nhit, hq, hmem);
        for (int64_t h = 0; h < nhit; h++) {
            for (int64_t m = mstart[qcell[hq[h]]]; m < mstart[qcell[hq[h]] + 1]; m++) {
                int64_t c = members[m], j0, j1;
                bracket_span(&sg, c, &br[hq[h]], &j0, &j1);
                for (int64_t j = j0; j <= j1; j++)
                    hmem[k++] = sg.seg0[c] + j;
            }
            hstart[h + 1] = k;
            hcell[h] = h;
        }
        /* the candidates of a bracket share the top bits of its ends: the
         * rounds start below the shortest such prefix, of the closed
         * brackets and of the open ones apart */
        for (int64_t h = 0; h < nhit; h++) {
            int common = bracket_common(&br[hq[h]]);
            if (h < nclosed)
                bits0 = common < bits0 ? common : bits0;
            else
                bits1 = common < bits1 ? common : bits1;
        }
        for (int64_t h = 0; h < nhit; h++) {
            const struct bracket *b = &br[hq[h]];
            int bits = h < nclosed ? bits0 : bits1;
            hpre[h] = bits > 0 ? (b->has_lo ? b->lo : 0) >> (64 - bits) : 0;
        }
        if (nclosed > 0)
            SL_CALL(radix_select(r, &cv, hstart, hmem, nclosed, hcell, hq + nq, bits0, hpre, x));
        if (nclosed < nhit)
            SL_CALL(radix_select(r, &cv, hstart, hmem, nhit - nclosed, hcell + nclosed,
                                 hq + nq + nclosed, bits1, hpre + nclosed, x + nclosed));
        for (int64_t h = 0; h < nhit; h++)
            out[hq[h]] = x[h];
    }
    /* misses: radix selection over all rows */
    if (nmiss > 0) {
        SL_CALL(radix_select(r, s, mstart, members, nmiss, mq + nq, mq + 2 * nq, 0, NULL, x));
        for (int64_t k = 0; k < nmiss; k++)
            out[mq[k]] = x[k];
    }
cleanup:
    sample_free(&sm);
    segments_free(&sg);
    sl_secpool_put(&cand.vbuf);
    sl_secpool_put(&cand.sbuf);
    if (x)
        sl_wipe(x, (size_t)nq * sizeof *x);
    sl_free(x);
    sl_free(br);
    sl_free(tot);
    sl_free(hq);
    sl_free(mq);
    sl_free(hstart);
    sl_free(hmem);
    sl_free(hcell);
    if (hpre)
        sl_wipe(hpre, (size_t)nhit * sizeof *hpre);
    sl_free(hpre);
    return st;
}
