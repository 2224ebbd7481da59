/*
 * mitigate.c: suppression, redaction and rounding of gated tables (see
 * mitigate.h for what each does and why).
 *
 * The table is a grid: dimension d has len[d] levels, the last of which is
 * the margin "Total" when the table has margins. A line along d is the set of
 * cells that differ only in their coordinate on d; its interior cells sum to
 * its margin cell (or to a total published elsewhere when the table has no
 * margins). Secondary suppression works on these lines.
 */
#include "engine/mitigate.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/gate_impl.h"

struct grid {
    int ndims;
    int margins;
    int64_t len[SL_TABLE_MAX_DIMS];
    int64_t stride[SL_TABLE_MAX_DIMS];
    int64_t ncells;
};

static void grid_init(const struct sl_table *t, struct grid *g)
{
    int64_t stride = 1;
    memset(g, 0, sizeof *g);
    g->ndims = t->ndims;
    g->margins = t->margins != 0 && t->ndims > 0;
    g->ncells = t->ncells;
    for (int d = t->ndims - 1; d >= 0; d--) {
        g->len[d] = t->dims[d].nlevels;
        g->stride[d] = stride;
        stride *= g->len[d];
    }
}

static int64_t coord(const struct grid *g, int64_t c, int d)
{
    return (c / g->stride[d]) % g->len[d];
}

/* Number of the cell's coordinates that sit on a margin level. */
static int on_margins(const struct grid *g, int64_t c)
{
    int k = 0;
    if (!g->margins)
        return 0;
    for (int d = 0; d < g->ndims; d++)
        k += coord(g, c, d) == g->len[d] - 1;
    return k;
}

/* Calls fn(margin cell) for every margin cell that sums interior cell i. */
static void for_margins_of(const struct grid *g, int64_t i, void (*fn)(int64_t, void *), void *arg)
{
    if (!g->margins)
        return;
    for (unsigned mask = 1; mask < (1u << g->ndims); mask++) {
        int64_t m = i;
        for (int d = 0; d < g->ndims; d++)
            if (mask & (1u << d))
                m += (g->len[d] - 1 - coord(g, i, d)) * g->stride[d];
        fn(m, arg);
    }
}

sl_status sl_mitigation_param(const struct sl_params *p, unsigned *kinds)
{
    sl_status st = SL_OK;
    const char *v = NULL;

    *kinds = 0;
    SL_CALL(sl_params_string(p, SL_MITIGATION_PARAM, false, &v));
    if (!v)
        goto cleanup;
    if (strcmp(v, "suppress") == 0)
        *kinds = SL_MITIGATE_SUPPRESS;
    else if (strcmp(v, "round") == 0)
        *kinds = SL_MITIGATE_ROUND;
    else
        SL_FAIL(SL_ERR_FORMAT, "%s: mitigation is '%.40s'; expected suppress or round",
                sl_params_where(p, SL_MITIGATION_PARAM), v);
cleanup:
    return st;
}

int64_t sl_round_count(int64_t v, int64_t base)
{
    if (base <= 1 || v < 0 || v > INT64_MAX - base)
        return v;
    return (v + base / 2) / base * base;
}

/* ---- secondary suppression ---- */

/* Preference of a cell as a secondary suppression (smaller is better):
 * interior before margin cells, non-empty before empty, few patients, then
 * the first. */
static int better(const struct sl_table *t, const struct grid *g, int64_t a, int64_t b)
{
    int ma = on_margins(g, a), mb = on_margins(g, b);
    if (ma != mb)
        return ma < mb;
    if ((t->n[a] == 0) != (t->n[b] == 0))
        return t->n[a] != 0;
    if (t->n[a] != t->n[b])
        return t->n[a] < t->n[b];
    return a < b;
}

/* Withheld cells on the line through `cell` along dimension e. */
static int64_t line_count(const struct grid *g, const unsigned char *sup, int64_t cell, int e)
{
    int64_t first = cell - coord(g, cell, e) * g->stride[e], k = 0;
    for (int64_t l = 0; l < g->len[e]; l++)
        k += sup[first + l * g->stride[e]] != 0;
    return k;
}

/* How a partner for a line along d changes the other lines through it:
 * *fresh counts lines it would leave with a single withheld cell (they had
 * none), *fixes those it completes (they had exactly one). */
static void partner_effect(const struct grid *g, const unsigned char *sup, int64_t cell, int d,
                           int *fresh, int *fixes)
{
    *fresh = 0;
    *fixes = 0;
    for (int e = 0; e < g->ndims; e++) {
        int64_t k;
        if (e == d)
            continue;
        k = line_count(g, sup, cell, e);
        *fresh += k == 0;
        *fixes += k == 1;
    }
}

/* Whether `a` is a better partner than `b` for a line along d: fewer new
 * single-cell lines, more lines completed (so patterns close into
 * rectangles instead of cascading), then better() above. */
static int better_partner(const struct sl_table *t, const struct grid *g,
                          const unsigned char *sup, int d, int64_t a, int64_t b)
{
    int fa, xa, fb, xb;
    partner_effect(g, sup, a, d, &fa, &xa);
    partner_effect(g, sup, b, d, &fb, &xb);
    if (fa != fb)
        return fa < fb;
    if (xa != xb)
        return xa > xb;
    return better(t, g, a, b);
}

/* One pass of the line rule over every line. A line needs another withheld
 * cell when it holds exactly one, or (for counts) withheld counts summing to
 * 0, which reveals them all. Returns the number of cells added; *stuck
 * counts lines that cannot be fixed. */
static int64_t line_pass(const struct sl_table *t, const struct grid *g, unsigned char *sup,
                         int counts, int64_t *stuck)
{
    int64_t added = 0;
    *stuck = 0;
    for (int d = 0; d < g->ndims; d++) {
        for (int64_t c = 0; c < g->ncells; c++) {
            int64_t k = 0, sum = 0, best = -1;
            int zero_sum;
            if (coord(g, c, d) != 0)
                continue;
            for (int64_t l = 0; l < g->len[d]; l++) {
                int64_t cell = c + l * g->stride[d];
                if (sup[cell]) {
                    k++;
                    sum += t->n[cell];
                }
            }
            zero_sum = counts && k >= 1 && sum == 0;
            if (k != 1 && !zero_sum)
                continue;
            for (int64_t l = 0; l < g->len[d]; l++) {
                int64_t cell = c + l * g->stride[d];
                if (sup[cell] || (zero_sum && t->n[cell] == 0))
                    continue;
                if (best < 0 || better_partner(t, g, sup, d, cell, best))
                    best = cell;
            }
            if (best < 0) {
                (*stuck)++;
                continue;
            }
            sup[best] = 2;
            added++;
        }
    }
    return added;
}

/* 2-D tables: rows are nodes 0..len[0]-1, columns len[0]..len[0]+len[1]-1,
 * withheld cells are edges. Finds a bridge (a withheld cell the line totals
 * determine); *bridge = -1 when there is none. */
struct graph {
    int64_t nv, ne;
    int64_t *start; /* [nv + 1] */
    int64_t *adj;   /* [2 ne] cell ids */
};

static void graph_free(struct graph *gr)
{
    sl_free(gr->start);
    sl_free(gr->adj);
    memset(gr, 0, sizeof *gr);
}

static int64_t other_end(const struct grid *g, int64_t cell, int64_t v)
{
    int64_t r = cell / g->len[1], col = g->len[0] + cell % g->len[1];
    return v == r ? col : r;
}

static sl_status graph_build(const struct grid *g, const unsigned char *sup, struct graph *gr)
{
    sl_status st = SL_OK;
    int64_t *fill = NULL;

    memset(gr, 0, sizeof *gr);
    gr->nv = g->len[0] + g->len[1];
    for (int64_t c = 0; c < g->ncells; c++)
        gr->ne += sup[c] != 0;
    gr->start = sl_calloc((size_t)gr->nv + 1, sizeof *gr->start);
    gr->adj = sl_malloc((size_t)(2 * gr->ne + 1) * sizeof *gr->adj);
    fill = sl_calloc((size_t)gr->nv, sizeof *fill);
    SL_CHECK(gr->start && gr->adj && fill, SL_ERR_NOMEM, "out of memory");
    for (int64_t c = 0; c < g->ncells; c++)
        if (sup[c]) {
            gr->start[c / g->len[1] + 1]++;
            gr->start[g->len[0] + c % g->len[1] + 1]++;
        }
    for (int64_t v = 0; v < gr->nv; v++)
        gr->start[v + 1] += gr->start[v];
    for (int64_t c = 0; c < g->ncells; c++)
        if (sup[c]) {
            int64_t r = c / g->len[1], col = g->len[0] + c % g->len[1];
            gr->adj[gr->start[r] + fill[r]++] = c;
            gr->adj[gr->start[col] + fill[col]++] = c;
        }
cleanup:
    sl_free(fill);
    if (st != SL_OK)
        graph_free(gr);
    return st;
}

/* Tarjan's bridge search, iterative. */
static sl_status find_bridge(const struct grid *g, const struct graph *gr, int64_t *bridge)
{
    sl_status st = SL_OK;
    int64_t *tin = NULL, *low = NULL, *sv = NULL, *se = NULL, *si = NULL, timer = 0;

    *bridge = -1;
    tin = sl_malloc((size_t)gr->nv * sizeof *tin);
    low = sl_malloc((size_t)gr->nv * sizeof *low);
    sv = sl_malloc((size_t)gr->nv * sizeof *sv);
    se = sl_malloc((size_t)gr->nv * sizeof *se);
    si = sl_malloc((size_t)gr->nv * sizeof *si);
    SL_CHECK(tin && low && sv && se && si, SL_ERR_NOMEM, "out of memory");
    for (int64_t v = 0; v < gr->nv; v++)
        tin[v] = -1;
    for (int64_t s = 0; s < gr->nv && *bridge < 0; s++) {
        int64_t top = 0;
        if (tin[s] >= 0 || gr->start[s] == gr->start[s + 1])
            continue;
        tin[s] = low[s] = timer++;
        sv[0] = s;
        se[0] = -1;
        si[0] = gr->start[s];
        while (top >= 0 && *bridge < 0) {
            int64_t v = sv[top];
            if (si[top] < gr->start[v + 1]) {
                int64_t e = gr->adj[si[top]++], u;
                if (e == se[top])
                    continue;
                u = other_end(g, e, v);
                if (tin[u] < 0) {
                    tin[u] = low[u] = timer++;
                    top++;
                    sv[top] = u;
                    se[top] = e;
                    si[top] = gr->start[u];
                } else if (tin[u] < low[v]) {
                    low[v] = tin[u];
                }
            } else {
                top--;
                if (top >= 0) {
                    int64_t p = sv[top];
                    if (low[v] < low[p])
                        low[p] = low[v];
                    if (low[v] > tin[p])
                        *bridge = se[top + 1];
                }
            }
        }
    }
cleanup:
    sl_free(tin);
    sl_free(low);
    sl_free(sv);
    sl_free(se);
    sl_free(si);
    return st;
}

/* Marks in `side` (1) the nodes reachable from `from` without crossing the
 * edge `cut`. */
static sl_status reach(const struct grid *g, const struct graph *gr, int64_t from, int64_t cut,
                       unsigned char *side)
{
    sl_status st = SL_OK;
    int64_t *queue = sl_malloc((size_t)gr->nv * sizeof *queue), head = 0, tail = 0;
    SL_CHECK(queue, SL_ERR_NOMEM, "out of memory");
    memset(side, 0, (size_t)gr->nv);
    side[from] = 1;
    queue[tail++] = from;
    while (head < tail) {
        int64_t v = queue[head++];
        for (int64_t k = gr->start[v]; k < gr->start[v + 1]; k++) {
            int64_t u;
            if (gr->adj[k] == cut)
                continue;
            u = other_end(g, gr->adj[k], v);
            if (!side[u]) {
                side[u] = 1;
                queue[tail++] = u;
            }
        }
    }
cleanup:
    sl_free(queue);
    return st;
}

/* Withholds one more cell so that the bridge `cut` lies on a cycle: a cell
 * joining the two sides the bridge separates. *added is 1, or 0 when no such
 * cell exists (it always does once every node has degree 0 or >= 2). */
static sl_status close_bridge(const struct sl_table *t, const struct grid *g,
                              const struct graph *gr, int64_t cut, unsigned char *sup,
                              int *added)
{
    sl_status st = SL_OK;
    unsigned char *a = sl_malloc((size_t)gr->nv), *b = sl_malloc((size_t)gr->nv);
    int64_t r = cut / g->len[1], col = g->len[0] + cut % g->len[1], best = -1;

    *added = 0;
    SL_CHECK(a && b, SL_ERR_NOMEM, "out of memory");
    SL_CALL(reach(g, gr, r, cut, a));
    SL_CALL(reach(g, gr, col, cut, b));
    for (int64_t c = 0; c < g->ncells; c++) {
        int64_t cr = c / g->len[1], cc = g->len[0] + c % g->len[1];
        if (sup[c] || !((a[cr] && b[cc]) || (b[cr] && a[cc])))
            continue;
        if (best < 0 || better(t, g, c, best))
            best = c;
    }
    if (best >= 0) {
        sup[best] = 2;
        *added = 1;
    }
cleanup:
    sl_free(a);
    sl_free(b);
    return st;
}

/* ---- 3-D tables: the exact check by linear algebra ---- */

/* The elimination below is exact arithmetic modulo the prime 2^61 - 1. Its
 * matrices hold 0 and +-1, so every entry of the reduced form is a ratio of
 * two minors; modulo P the form is the same unless P divides one of those
 * minors, which for a prime this large no table's minors are expected to
 * do. Doubles were used before: partial pivoting on +-1 matrices can grow
 * rounding noise by 2^(rows - 1), past any tolerance. */
__extension__ typedef unsigned __int128 mod_u128;
#define MOD_P UINT64_C(0x1FFFFFFFFFFFFFFF)

static uint64_t mod_mul(uint64_t a, uint64_t b)
{
    mod_u128 x = (mod_u128)a * b;
    uint64_t s = (uint64_t)(x & MOD_P) + (uint64_t)(x >> 61);
    return s >= MOD_P ? s - MOD_P : s;
}

static uint64_t mod_sub(uint64_t a, uint64_t b)
{
    return a >= b ? a - b : a + MOD_P - b;
}

/* a^(P - 2) = 1 / a for a != 0. */
static uint64_t mod_inv(uint64_t a)
{
    uint64_t r = 1;
    for (uint64_t e = MOD_P - 2; e; e >>= 1) {
        if (e & 1)
            r = mod_mul(r, a);
        a = mod_mul(a, a);
    }
    return r;
}

/* Limits of one exact check: entries of its dense matrix (256 MiB) and
 * multiply-adds of the elimination (seconds; the matrices are sparse: the
 * suppression of a 50 x 50 x 10 table that ends with about 6000 withheld
 * cells takes about 2 s here, checks included). Tables beyond them are not
 * protected by suppression (the note says so). */
#define DETERMINED_MAX_ENTRIES 3.2e7
#define DETERMINED_MAX_WORK 1e10

/* Marks in det[] the withheld cells the table's lines determine. Unknowns
 * are the withheld cells, one relation per line (its interior cells sum to
 * its margin cell, or without margins to a total known from elsewhere).
 * A withheld value is determined iff every solution of the homogeneous
 * system is 0 there: in reduced row echelon form, iff its column is a pivot
 * whose row has nothing in the free columns. Only lines holding a withheld
 * cell make a relation. *any: some cell is; -1 when the check would exceed
 * the limits above. */
static sl_status determined(const struct grid *g, const unsigned char *sup, unsigned char *det,
                            int *any)
{
    sl_status st = SL_OK;
    int64_t k = 0, m = 0, rank = 0, *col = sl_malloc((size_t)g->ncells * sizeof *col);
    int64_t *cell_of = NULL, *pivot_row = NULL;
    uint64_t *a = NULL;
    double work = 0;

    *any = 0;
    SL_CHECK(col, SL_ERR_NOMEM, "out of memory");
    for (int64_t c = 0; c < g->ncells; c++) {
        col[c] = sup[c] ? k++ : -1;
        det[c] = 0;
    }
    for (int d = 0; d < g->ndims; d++)
        for (int64_t c = 0; c < g->ncells; c++)
            if (coord(g, c, d) == 0 && line_count(g, sup, c, d) > 0)
                m++;
    if ((double)m * (double)k > DETERMINED_MAX_ENTRIES) {
        *any = -1;
        goto cleanup;
    }
    cell_of = sl_malloc((size_t)(k + 1) * sizeof *cell_of);
    pivot_row = sl_malloc((size_t)(k + 1) * sizeof *pivot_row);
    a = sl_calloc((size_t)(m * k + 1), sizeof *a);
    SL_CHECK(cell_of && pivot_row && a, SL_ERR_NOMEM, "out of memory for %lld relations",
             (long long)m);
    for (int64_t c = 0; c < g->ncells; c++)
        if (col[c] >= 0)
            cell_of[col[c]] = c;
    m = 0;
    for (int d = 0; d < g->ndims; d++)
        for (int64_t c = 0; c < g->ncells; c++) {
            if (coord(g, c, d) != 0 || line_count(g, sup, c, d) == 0)
                continue;
            for (int64_t l = 0; l < g->len[d]; l++) {
                int64_t cell = c + l * g->stride[d];
                if (col[cell] >= 0)
                    a[m * k + col[cell]] = g->margins && l == g->len[d] - 1 ? MOD_P - 1 : 1;
            }
            m++;
        }
    /* Gauss-Jordan: any nonzero pivot will do, the arithmetic being exact */
    for (int64_t j = 0; j < k; j++) {
        int64_t piv = -1;
        uint64_t inv;
        pivot_row[j] = -1;
        for (int64_t i = rank; i < m && piv < 0; i++)
            if (a[i * k + j] != 0)
                piv = i;
        if (piv < 0)
            continue;
        for (int64_t x = 0; x < k && piv != rank; x++) {
            uint64_t tmp = a[piv * k + x];
            a[piv * k + x] = a[rank * k + x];
            a[rank * k + x] = tmp;
        }
        inv = mod_inv(a[rank * k + j]);
        for (int64_t x = j; x < k; x++)
            a[rank * k + x] = mod_mul(a[rank * k + x], inv);
        for (int64_t i = 0; i < m; i++) {
            uint64_t f = a[i * k + j];
            if (i == rank || f == 0)
                continue;
            for (int64_t x = j; x < k; x++)
                a[i * k + x] = mod_sub(a[i * k + x], mod_mul(f, a[rank * k + x]));
            work += (double)(k - j);
        }
        if (work > DETERMINED_MAX_WORK) {
            *any = -1;
            goto cleanup;
        }
        pivot_row[j] = rank++;
    }
    for (int64_t j = 0; j < k; j++) {
        int free_part = 0;
        if (pivot_row[j] < 0)
            continue;
        for (int64_t x = 0; x < k && !free_part; x++)
            free_part = pivot_row[x] < 0 && a[pivot_row[j] * k + x] != 0;
        if (!free_part) {
            det[cell_of[j]] = 1;
            *any = 1;
        }
    }
cleanup:
    sl_free(col);
    sl_free(cell_of);
    sl_free(pivot_row);
    sl_free(a);
    return st;
}

/* Withholds the box through the determined cell `cell` that costs least: a
 * second level on every dimension, and every cell with one of the two
 * levels on each; its cells with alternating signs (a margin level taking
 * the sign of the other) solve every line's relation with zeros, so none of
 * its values is determined any more. Cost: fewest newly withheld margin
 * cells, then fewest newly withheld cells, then fewest patients in them.
 * Marks the box's cells in `boxed` (none of them is determined now) and
 * sets *added when it withheld any. Returns 0 when no box exists (a
 * dimension with one level). */
static int close_box(const struct sl_table *t, const struct grid *g, int64_t cell,
                     unsigned char *sup, unsigned char *boxed, int *added)
{
    int64_t other[SL_TABLE_MAX_DIMS], best[SL_TABLE_MAX_DIMS], best_cost[3] = {0, 0, 0};
    int found = 0, nd = g->ndims;

    for (int d = 0; d < nd; d++) {
        if (g->len[d] < 2)
            return 0;
        other[d] = coord(g, cell, d) == 0 ? 1 : 0;
    }
    for (;;) {
        int64_t cost[3] = {0, 0, 0};
        for (unsigned mask = 1; mask < (1u << nd); mask++) {
            int64_t c = cell;
            for (int d = 0; d < nd; d++)
                if (mask & (1u << d))
                    c += (other[d] - coord(g, cell, d)) * g->stride[d];
            if (sup[c])
                continue;
            cost[0] += on_margins(g, c) > 0;
            cost[1]++;
            cost[2] += t->n[c];
        }
        if (!found || cost[0] < best_cost[0] ||
            (cost[0] == best_cost[0] &&
             (cost[1] < best_cost[1] || (cost[1] == best_cost[1] && cost[2] < best_cost[2])))) {
            found = 1;
            memcpy(best, other, sizeof other);
            memcpy(best_cost, cost, sizeof cost);
        }
        /* next combination of other levels, skipping the cell's own */
        {
            int d = nd - 1;
            for (; d >= 0; d--) {
                do
                    other[d]++;
                while (other[d] == coord(g, cell, d));
                if (other[d] < g->len[d])
                    break;
                other[d] = coord(g, cell, d) == 0 ? 1 : 0;
            }
            if (d < 0)
                break;
        }
    }
    for (unsigned mask = 0; mask < (1u << nd); mask++) {
        int64_t c = cell;
        for (int d = 0; d < nd; d++)
            if (mask & (1u << d))
                c += (best[d] - coord(g, cell, d)) * g->stride[d];
        boxed[c] = 1;
        if (!sup[c]) {
            sup[c] = 2;
            *added = 1;
        }
    }
    return 1;
}

/* Extends the withheld set `sup` (nonzero = withheld; cells added get 2)
 * until no withheld value can be recomputed from the lines (see mitigate.h).
 * `counts`: sup is about patient counts (zero sums matter). *stuck > 0 when
 * some line cannot be protected. */
static sl_status protect(const struct sl_table *t, const struct grid *g, unsigned char *sup,
                         int counts, int64_t *stuck)
{
    sl_status st = SL_OK;
    struct graph gr = {0};
    unsigned char *det = NULL;

    for (;;) {
        int64_t bridge = -1;
        int added = 0, any = 0;
        while (line_pass(t, g, sup, counts, stuck) > 0)
            continue;
        if (*stuck || g->ndims < 2)
            break;
        if (g->ndims > 2) {
            /* every determined cell outside the boxes closed so far in this
             * round gets a box of its own, then the check runs again */
            int64_t open = 0;
            if (!det)
                det = sl_malloc(2 * (size_t)g->ncells);
            SL_CHECK(det, SL_ERR_NOMEM, "out of memory");
            SL_CALL(determined(g, sup, det, &any));
            memset(det + g->ncells, 0, (size_t)g->ncells);
            for (int64_t c = 0; c < g->ncells && any > 0; c++)
                if (det[c] && !det[g->ncells + c])
                    open += !close_box(t, g, c, sup, det + g->ncells, &added);
            if (!any)
                break;
            /* too large, no box, or (only through rounding) nothing added */
            if (any < 0 || open > 0 || !added) {
                *stuck = 1;
                break;
            }
            continue;
        }
        SL_CALL(graph_build(g, sup, &gr));
        SL_CALL(find_bridge(g, &gr, &bridge));
        if (bridge >= 0)
            SL_CALL(close_bridge(t, g, &gr, bridge, sup, &added));
        graph_free(&gr);
        if (bridge < 0)
            break;
        if (!added) {
            *stuck = 1;
            break;
        }
    }
cleanup:
    graph_free(&gr);
    sl_free(det);
    return st;
}

/* ---- margins and rounding ---- */

struct sum_arg {
    int64_t *v;
    int64_t add;
};

static void add_to(int64_t m, void *arg)
{
    struct sum_arg *s = arg;
    s->v[m] += s->add;
}

/* Recomputes margin cells of v as sums of interior cells, leaving out
 * interior cells with skip[i] set (skip may be NULL). */
static void margins_i64(const struct grid *g, int64_t *v, const unsigned char *skip)
{
    struct sum_arg s = {v, 0};
    if (!g->margins)
        return;
    for (int64_t c = 0; c < g->ncells; c++)
        if (on_margins(g, c))
            v[c] = 0;
    for (int64_t c = 0; c < g->ncells; c++) {
        if (on_margins(g, c) || (skip && skip[c]))
            continue;
        s.add = v[c];
        for_margins_of(g, c, add_to, &s);
    }
}

struct flag_arg {
    unsigned char *flags;
};

static void withhold_stats(int64_t m, void *arg)
{
    struct flag_arg *f = arg;
    if (!(f->flags[m] & SL_WITHHELD_CELL))
        f->flags[m] |= SL_WITHHELD_STATS;
}

static int is_countlike(enum sl_stat_kind k)
{
    return k == SL_STAT_COUNT || k == SL_STAT_MISSING;
}

/* Rounds n and count-like columns; margins become sums of rounded interior
 * cells (without withheld ones when `skip` is given). */
static sl_status round_table(struct sl_table *t, const struct grid *g, int64_t base,
                             const unsigned char *skip)
{
    sl_status st = SL_OK;
    int64_t *tmp = sl_malloc((size_t)t->ncells * sizeof *tmp);

    SL_CHECK(tmp, SL_ERR_NOMEM, "out of memory");
    for (int64_t c = 0; c < t->ncells; c++)
        t->n[c] = sl_round_count(t->n[c], base);
    margins_i64(g, t->n, skip);
    for (int s = 0; s < t->nstats; s++) {
        double *v = t->stats[s].v;
        if (!is_countlike(t->stats[s].kind))
            continue;
        for (int64_t c = 0; c < t->ncells; c++)
            tmp[c] = isnan(v[c]) || v[c] < 0 ? 0 : sl_round_count((int64_t)v[c], base);
        margins_i64(g, tmp, skip);
        for (int64_t c = 0; c < t->ncells; c++)
            if (!isnan(v[c]) || on_margins(g, c))
                v[c] = (double)tmp[c];
    }
cleanup:
    sl_free(tmp);
    return st;
}

/* Wipes withheld values from the table. */
static void wipe(struct sl_table *t, const unsigned char *flags)
{
    for (int64_t c = 0; c < t->ncells; c++) {
        if (!flags[c])
            continue;
        for (int s = 0; s < t->nstats; s++) {
            t->stats[s].v[c] = NAN;
            if (t->stats[s].support)
                t->stats[s].support[c] = 0;
        }
        if (t->dom)
            memset(&t->dom[c], 0, sizeof t->dom[c]);
        if (flags[c] & SL_WITHHELD_CELL)
            t->n[c] = 0;
    }
}

/* ---- the mitigation ---- */

/* Cells failing a rule, by scope; *table_rule names a failing table-scope
 * rule, if any. */
static void primary_flags(const struct sl_table *t, unsigned char *flags, const char **table_rule)
{
    size_t i;
    json_t *v;
    *table_rule = NULL;
    json_array_foreach(t->verdicts, i, v) {
        const char *status = json_string_value(json_object_get(v, "status"));
        const char *scope = json_string_value(json_object_get(v, "scope"));
        json_t *cells = json_object_get(v, "cells");
        if (!status || strcmp(status, "fail") != 0)
            continue;
        if (scope && strcmp(scope, "table") == 0) {
            *table_rule = json_string_value(json_object_get(v, "rule"));
            continue;
        }
        for (int64_t c = 0; c < t->ncells; c++) {
            const char *cs = json_string_value(json_array_get(cells, (size_t)c));
            if (cs && strcmp(cs, "fail") == 0)
                flags[c] |= scope && strcmp(scope, "stat") == 0 ? SL_WITHHELD_STATS
                                                                : SL_WITHHELD_CELL;
        }
    }
    for (int64_t c = 0; c < t->ncells; c++)
        if (flags[c] & SL_WITHHELD_CELL)
            flags[c] = SL_WITHHELD_CELL;
}

static json_t *kind_names(unsigned kinds)
{
    json_t *a = json_array();
    if (kinds & SL_MITIGATE_SUPPRESS)
        json_array_append_new(a, json_string("suppress"));
    if (kinds & SL_MITIGATE_REDACT)
        json_array_append_new(a, json_string("redact"));
    if (kinds & SL_MITIGATE_ROUND)
        json_array_append_new(a, json_string("round"));
    return a;
}

/* Suppression with secondary suppression; fills flags and the per-cell
 * markers. *stuck > 0 when a line cannot be protected. */
static sl_status suppress(struct sl_table *t, const struct grid *g, unsigned char *flags,
                          const char **marker, json_t *m, int64_t *stuck)
{
    sl_status st = SL_OK;
    unsigned char *sup = sl_calloc((size_t)t->ncells, 1);
    int64_t primary = 0, secondary = 0, stats_primary = 0, stats_secondary = 0, stuck2 = 0;

    SL_CHECK(sup, SL_ERR_NOMEM, "out of memory");
    for (int64_t c = 0; c < t->ncells; c++)
        sup[c] = (flags[c] & SL_WITHHELD_CELL) != 0;
    SL_CALL(protect(t, g, sup, 1, stuck));
    for (int64_t c = 0; c < t->ncells; c++) {
        if (sup[c] == 2)
            flags[c] = SL_WITHHELD_CELL;
        if (flags[c] & SL_WITHHELD_CELL) {
            marker[c] = sup[c] == 2 ? "suppressed (secondary)" : "suppressed";
            primary += sup[c] == 1;
            secondary += sup[c] == 2;
        }
    }
    if (t->nstats > 0) {
        for (int64_t c = 0; c < t->ncells; c++)
            sup[c] = flags[c] != 0;
        SL_CALL(protect(t, g, sup, 0, &stuck2));
        *stuck += stuck2;
        for (int64_t c = 0; c < t->ncells; c++) {
            if (flags[c] & SL_WITHHELD_CELL)
                continue;
            if (sup[c] == 2)
                flags[c] = SL_WITHHELD_STATS;
            if (flags[c] & SL_WITHHELD_STATS) {
                marker[c] = sup[c] == 2 ? "statistics withheld (secondary)"
                                        : "statistics withheld";
                stats_primary += sup[c] == 1;
                stats_secondary += sup[c] == 2;
            }
        }
    }
    /* Margins hold the true totals of every interior cell. */
    margins_i64(g, t->n, NULL);
    json_object_set_new(m, "suppressed",
                        json_pack("{s:I,s:I,s:I,s:I}", "primary", (json_int_t)primary,
                                  "secondary", (json_int_t)secondary, "statistics_primary",
                                  (json_int_t)stats_primary, "statistics_secondary",
                                  (json_int_t)stats_secondary));
    json_object_set_new(
        m, "protection",
        json_string(g->ndims <= 2
                        ? "no withheld value can be recomputed exactly from the table's "
                          "line totals and margins (checked on the graph of lines)"
                        : "no withheld value can be recomputed exactly from the table's "
                          "line totals and margins (checked by linear algebra)"));
cleanup:
    sl_free(sup);
    return st;
}

/* Redaction: failing cells withheld, no secondary suppression; margins lose
 * their statistics when a cell they sum is withheld. */
static void redact(struct sl_table *t, const struct grid *g, unsigned char *flags,
                   const char **marker, json_t *m)
{
    struct flag_arg f = {flags};
    int64_t cells = 0, stats = 0;
    for (int64_t c = 0; c < t->ncells; c++) {
        if (flags[c] & SL_WITHHELD_CELL) {
            marker[c] = "redacted";
            cells++;
        } else if (flags[c] & SL_WITHHELD_STATS) {
            marker[c] = "statistics withheld";
            stats++;
        }
    }
    for (int64_t c = 0; c < t->ncells; c++)
        if (flags[c] && !on_margins(g, c))
            for_margins_of(g, c, withhold_stats, &f);
    for (int64_t c = 0; c < t->ncells; c++)
        if (flags[c] == SL_WITHHELD_STATS && !marker[c])
            marker[c] = "statistics withheld (margin)";
    json_object_set_new(m, "redacted",
                        json_pack("{s:I,s:I}", "cells", (json_int_t)cells, "statistics",
                                  (json_int_t)stats));
}

/* Decides and applies `kinds` to t; when nothing can be applied, *note says
 * why and the table is left as it was. On success *flags (owned by the
 * caller) are the withheld flags. */
static sl_status apply(struct sl_table *t, const struct sl_rules *rules, unsigned kinds,
                       unsigned char *flags, json_t *m, const char **note, char *buf,
                       size_t cap)
{
    sl_status st = SL_OK;
    struct grid g;
    unsigned char *skip = NULL;
    const char **marker = sl_calloc((size_t)t->ncells, sizeof *marker);
    const char *table_rule = NULL;
    json_t *cells = NULL;
    int64_t stuck = 0, nfail = 0, interior = 0, interior_withheld = 0;

    *note = NULL;
    SL_CHECK(marker, SL_ERR_NOMEM, "out of memory");
    grid_init(t, &g);
    if (!sl_gate_is_frequency(t)) {
        snprintf(buf, cap, "not applicable to %s outputs", t->analysis);
        *note = buf;
        goto cleanup;
    }
    primary_flags(t, flags, &table_rule);
    if (table_rule) {
        snprintf(buf, cap, "the output fails as a whole (%s); no mitigation helps", table_rule);
        *note = buf;
        goto cleanup;
    }
    for (int64_t c = 0; c < t->ncells; c++)
        nfail += flags[c] != 0;
    if (nfail && !(kinds & (SL_MITIGATE_SUPPRESS | SL_MITIGATE_REDACT)))
        *note = "rounding does not make failing cells safe; ask for suppression";
    else if (!nfail && kinds == SL_MITIGATE_SUPPRESS)
        *note = "no cell fails: nothing to suppress";
    if (*note)
        goto cleanup;
    if (nfail && (kinds & SL_MITIGATE_SUPPRESS))
        SL_CALL(suppress(t, &g, flags, marker, m, &stuck));
    else if (nfail)
        redact(t, &g, flags, marker, m);
    for (int64_t c = 0; c < t->ncells; c++) {
        if (on_margins(&g, c))
            continue;
        interior++;
        interior_withheld += (flags[c] & SL_WITHHELD_CELL) != 0;
    }
    if (stuck)
        *note = "some withheld values could not be protected by further suppression";
    else if (interior_withheld == interior)
        *note = "every cell would be withheld";
    if (*note)
        goto cleanup;
    if (kinds & SL_MITIGATE_ROUND) {
        if (!(kinds & SL_MITIGATE_SUPPRESS)) {
            skip = sl_malloc((size_t)t->ncells);
            SL_CHECK(skip, SL_ERR_NOMEM, "out of memory");
            for (int64_t c = 0; c < t->ncells; c++)
                skip[c] = (flags[c] & SL_WITHHELD_CELL) != 0;
        }
        SL_CALL(round_table(t, &g, rules->round_base, skip));
        json_object_set_new(m, "rounded",
                            json_pack("{s:I,s:s}", "base", (json_int_t)rules->round_base,
                                      "rule", "nearest multiple, halves away from zero"));
    }
    if (g.margins)
        json_object_set_new(m, "margins",
                            json_string(kinds & SL_MITIGATE_ROUND
                                            ? "recomputed as sums of the rounded cells"
                                            : "recomputed from the cells (true totals)"));
    cells = json_array();
    SL_CHECK(cells, SL_ERR_NOMEM, "out of memory");
    for (int64_t c = 0; c < t->ncells; c++)
        json_array_append_new(cells, marker[c] ? json_string(marker[c]) : json_null());
    json_object_set_new(m, "cells", cells);
    cells = NULL;
    wipe(t, flags);
cleanup:
    json_decref(cells);
    sl_free(skip);
    sl_free(marker);
    return st;
}

sl_status sl_mitigate(struct sl_table *t, const struct sl_rules *rules, unsigned job_kinds)
{
    sl_status st = SL_OK;
    unsigned policy = rules->redact_at_most > 0 ? SL_MITIGATE_REDACT | SL_MITIGATE_ROUND : 0;
    unsigned kinds = job_kinds | policy;
    unsigned char *flags = NULL;
    const char *note = NULL;
    json_t *m = NULL;
    char buf[256];
    int any = 0;

    if (kinds & SL_MITIGATE_SUPPRESS)
        kinds &= ~SL_MITIGATE_REDACT;
    if (!kinds)
        return SL_OK;
    m = json_pack("{s:o,s:s,s:b}", "requested", kind_names(kinds), "by",
                  job_kinds && policy ? "job and policy" : job_kinds ? "job" : "policy",
                  "applied", 0);
    flags = sl_calloc((size_t)t->ncells, 1);
    SL_CHECK(m && flags, SL_ERR_NOMEM, "out of memory");
    SL_CALL(apply(t, rules, kinds, flags, m, &note, buf, sizeof buf));
    if (note) {
        json_object_set_new(m, "note", json_string(note));
    } else {
        for (int64_t c = 0; c < t->ncells; c++)
            any |= flags[c] != 0;
        if (any) {
            sl_free(t->withheld);
            t->withheld = flags;
            flags = NULL;
        }
        json_object_set_new(m, "applied", json_true());
        t->decision = SL_DECISION_REVIEW;
    }
    json_decref(t->mitigation);
    t->mitigation = m;
    m = NULL;
cleanup:
    json_decref(m);
    sl_free(flags);
    return st;
}
