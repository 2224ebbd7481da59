/*
 * gate_stats.c: release rules for statistic cells (see gate.h).
 *
 * A statistic in a released cell (a sum, mean, sd, quantile, extreme) says
 * something about the patients behind it, so it must rest on enough of
 * them, must not be dominated by one or two of them, and, for spreads, must
 * keep enough degrees of freedom. These rules look at the table's statistic
 * columns by kind and at the per-patient dominance evidence (table.h), and
 * decide exactly: counts are integers, dominance totals 128-bit fixed point
 * and thresholds rationals compared by cross-multiplication, never floating
 * point.
 *
 * Every rule here has scope "stat": a failing verdict concerns the cell's
 * statistic values, not its patient count (which the frequency rules judge).
 * Evidence is operator-only ("private"): supports, contributor counts and
 * missing counts, never a single patient's value.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/gate_impl.h"

__extension__ typedef unsigned __int128 sl_u128;
__extension__ typedef __int128 sl_i128;

/* A 192-bit unsigned integer, least significant word first. */
struct u192 {
    uint64_t w[3];
};

static struct u192 mul_u128_u64(sl_u128 a, uint64_t b)
{
    sl_u128 lo = (sl_u128)(uint64_t)a * b;
    sl_u128 hi = (sl_u128)(uint64_t)(a >> 64) * b;
    sl_u128 mid = (lo >> 64) + (sl_u128)(uint64_t)hi;
    struct u192 r;
    r.w[0] = (uint64_t)lo;
    r.w[1] = (uint64_t)mid;
    r.w[2] = (uint64_t)(hi >> 64) + (uint64_t)(mid >> 64);
    return r;
}

static int cmp_u192(struct u192 a, struct u192 b)
{
    for (int i = 2; i >= 0; i--)
        if (a.w[i] != b.w[i])
            return a.w[i] < b.w[i] ? -1 : 1;
    return 0;
}

/* Compares a * bd with c * cd exactly (-1, 0, 1); operands are non-negative. */
static int cmp_products(sl_u128 a, uint64_t bd, sl_u128 c, uint64_t cd)
{
    return cmp_u192(mul_u128_u64(a, bd), mul_u128_u64(c, cd));
}

static void fmt_ratio(struct sl_ratio r, char *buf, size_t cap)
{
    int64_t den = r.den, digits = 0;
    while (den > 1 && den % 10 == 0) {
        den /= 10;
        digits++;
    }
    if (den == 1 && digits > 0)
        snprintf(buf, cap, "%" PRId64 ".%0*" PRId64, r.num / r.den, (int)digits, r.num % r.den);
    else
        snprintf(buf, cap, "%" PRId64 "/%" PRId64, r.num, r.den);
}

static int is_magnitude(enum sl_stat_kind k)
{
    return k == SL_STAT_SUM || k == SL_STAT_MEAN || k == SL_STAT_SD || k == SL_STAT_VAR ||
           k == SL_STAT_QUANTILE || k == SL_STAT_MIN || k == SL_STAT_MAX;
}

static int64_t support_of(const struct sl_table *t, int s, int64_t c)
{
    return t->stats[s].support ? t->stats[s].support[c] : t->n[c];
}

static int has_kind(const struct sl_table *t, int (*pred)(enum sl_stat_kind))
{
    if (t->model)
        return 0;
    for (int s = 0; s < t->nstats; s++)
        if (pred(t->stats[s].kind))
            return 1;
    return 0;
}

/* Statistics the threshold judges: magnitudes on their support, count
 * columns on their value. A missing-value count is left to missing_values:
 * it says how many patients lack the measure, not what they have. */
static int is_judged(enum sl_stat_kind k)
{
    return is_magnitude(k) || k == SL_STAT_COUNT;
}

static int is_sum_or_mean(enum sl_stat_kind k)
{
    return k == SL_STAT_SUM || k == SL_STAT_MEAN;
}

static int is_spread(enum sl_stat_kind k)
{
    return k == SL_STAT_SD || k == SL_STAT_VAR;
}

static int is_extreme(enum sl_stat_kind k)
{
    return k == SL_STAT_MIN || k == SL_STAT_MAX;
}

/* Per-cell evidence: an array of {"private": {...}} objects, created empty. */
static json_t *evidence_new(int64_t ncells)
{
    json_t *ev = json_array();
    for (int64_t c = 0; ev && c < ncells; c++)
        if (json_array_append_new(ev, json_pack("{s:{}}", "private")) != 0) {
            json_decref(ev);
            ev = NULL;
        }
    return ev;
}

static json_t *cell_private(json_t *ev, int64_t c)
{
    return json_object_get(json_array_get(ev, (size_t)c), "private");
}

static sl_status finish(json_t *summary, json_t *ev, json_t *params)
{
    sl_status st = SL_OK;
    SL_CHECK(ev && params, SL_ERR_NOMEM, "out of memory");
    json_object_set_new(summary, "scope", json_string("stat"));
    json_object_set_new(summary, "parameters", params);
    params = NULL;
    json_object_set_new(summary, "evidence", ev);
    ev = NULL;
cleanup:
    json_decref(ev);
    json_decref(params);
    return st;
}

/* ---- stat_min_count ---- */

static int applies_min_count(const struct sl_table *t, const struct sl_rules *r)
{
    (void)r;
    return has_kind(t, is_judged);
}

static sl_status eval_min_count(const struct sl_table *t, const struct sl_rules *r,
                                enum sl_decision *verdict, json_t *summary)
{
    json_t *ev = evidence_new(t->ncells);
    int64_t values = 0, cells = 0;

    for (int64_t c = 0; ev && c < t->ncells; c++) {
        int bad = 0;
        for (int s = 0; s < t->nstats; s++) {
            const struct sl_stat *col = &t->stats[s];
            int64_t k;
            if (!is_judged(col->kind) || isnan(col->v[c]))
                continue;
            k = col->kind == SL_STAT_COUNT ? (int64_t)col->v[c] : support_of(t, s, c);
            json_object_set_new(cell_private(ev, c), col->name,
                                json_pack("{s:I}", "support", (json_int_t)k));
            if (k > 0 && k < r->min_safe_count) {
                bad = 1;
                values++;
            }
        }
        verdict[c] = bad ? SL_DECISION_FAIL : SL_DECISION_PASS;
        cells += bad;
    }
    if (values)
        json_object_set_new(summary, "reason",
                            json_sprintf("%" PRId64 " statistic value(s) in %" PRId64
                                         " cell(s) rest on between 1 and %" PRId64
                                         " patients; at least %" PRId64 " are required",
                                         values, cells, r->min_safe_count - 1,
                                         r->min_safe_count));
    return finish(summary, ev,
                  json_pack("{s:I}", "min_safe_count", (json_int_t)r->min_safe_count));
}

/* ---- dominance ---- */

/* What the evidence of one cell allows. */
enum dom_state { DOM_EMPTY, DOM_NEGATIVE, DOM_INCONSISTENT, DOM_OK };

static enum dom_state dom_check(const struct sl_dominance *d, sl_u128 *total)
{
    sl_i128 tot = (sl_i128)(((sl_u128)(uint64_t)d->total_hi << 64) | d->total_lo);
    sl_u128 sum = 0;
    int64_t kept = d->ncontrib < SL_DOM_TOP ? d->ncontrib : SL_DOM_TOP;

    if (d->ncontrib <= 0)
        return d->ncontrib == 0 ? DOM_EMPTY : DOM_INCONSISTENT;
    if (d->has_negative)
        return DOM_NEGATIVE;
    if (tot < 0)
        return DOM_INCONSISTENT;
    for (int i = 0; i < SL_DOM_TOP; i++) {
        if (d->top[i] < 0 || (i > 0 && d->top[i] > d->top[i - 1]) ||
            (i >= kept && d->top[i] != 0))
            return DOM_INCONSISTENT;
        sum += (sl_u128)(uint64_t)d->top[i];
    }
    if (sum > (sl_u128)tot || (d->ncontrib <= SL_DOM_TOP && sum != (sl_u128)tot))
        return DOM_INCONSISTENT;
    *total = (sl_u128)tot;
    return DOM_OK;
}

static int applies_dominance(const struct sl_table *t, const struct sl_rules *r)
{
    (void)r;
    return !t->model && (t->dom != NULL || has_kind(t, is_sum_or_mean));
}

/* Shared frame of both dominance rules: evidence, negatives, missing
 * evidence; `judge` decides cells whose evidence is usable. */
static sl_status eval_dominance(const struct sl_table *t, const struct sl_rules *r,
                                enum sl_decision *verdict, json_t *summary, json_t *params,
                                enum sl_decision (*judge)(const struct sl_dominance *d,
                                                          sl_u128 total,
                                                          const struct sl_rules *r),
                                const char *what)
{
    json_t *ev = evidence_new(t->ncells);
    int64_t failing = 0, negative = 0, unknown = 0, nodata = 0;

    for (int64_t c = 0; ev && c < t->ncells; c++) {
        sl_u128 total = 0;
        enum dom_state ds;
        if (!t->dom) {
            int present = 0;
            for (int s = 0; s < t->nstats; s++)
                present |= is_sum_or_mean(t->stats[s].kind) && !isnan(t->stats[s].v[c]);
            verdict[c] = present ? SL_DECISION_REVIEW : SL_DECISION_PASS;
            nodata += present;
            continue;
        }
        ds = dom_check(&t->dom[c], &total);
        json_object_set_new(cell_private(ev, c), "contributors",
                            json_integer((json_int_t)t->dom[c].ncontrib));
        json_object_set_new(cell_private(ev, c), "negative",
                            json_boolean(t->dom[c].has_negative));
        switch (ds) {
        case DOM_EMPTY: verdict[c] = SL_DECISION_PASS; break;
        case DOM_NEGATIVE:
            verdict[c] = SL_DECISION_REVIEW;
            negative++;
            break;
        case DOM_INCONSISTENT:
            verdict[c] = SL_DECISION_REVIEW;
            unknown++;
            break;
        case DOM_OK:
            verdict[c] = judge(&t->dom[c], total, r);
            failing += verdict[c] == SL_DECISION_FAIL;
            unknown += verdict[c] == SL_DECISION_REVIEW;
            break;
        }
    }
    if (failing || negative || unknown || nodata) {
        char text[512];
        size_t len = 0;
        text[0] = '\0';
        if (failing)
            len += (size_t)snprintf(text + len, sizeof text - len,
                                    "%" PRId64 " cell(s) are dominated: %s", failing, what);
        if (negative && len < sizeof text)
            len += (size_t)snprintf(text + len, sizeof text - len,
                                    "%s%" PRId64 " cell(s) have negative contributions, so "
                                    "dominance is undefined and needs a human decision",
                                    len ? "; " : "", negative);
        if (unknown && len < sizeof text)
            len += (size_t)snprintf(text + len, sizeof text - len,
                                    "%s%" PRId64 " cell(s) could not be judged exactly from "
                                    "the dominance evidence kept",
                                    len ? "; " : "", unknown);
        if (nodata && len < sizeof text)
            snprintf(text + len, sizeof text - len,
                     "%s%" PRId64 " cell(s) hold sums or means without per-patient dominance "
                     "evidence",
                     len ? "; " : "", nodata);
        json_object_set_new(summary, "reason", json_string(text));
    }
    return finish(summary, ev, params);
}

/* (n,k) rule: fail iff the min(nk_n, contributors) largest contributions sum
 * to at least nk_k of the total. The evidence keeps the SL_DOM_TOP largest;
 * for larger nk_n the sum is bounded between the kept ones and the kept ones
 * plus the rest at most the smallest kept each; undecided bounds give review. */
static enum sl_decision judge_nk(const struct sl_dominance *d, sl_u128 total,
                                 const struct sl_rules *r)
{
    int64_t m = d->ncontrib < r->nk_n ? d->ncontrib : r->nk_n;
    int64_t kept = m < SL_DOM_TOP ? m : SL_DOM_TOP;
    sl_u128 lo = 0, hi;
    uint64_t num = (uint64_t)r->nk_k.num, den = (uint64_t)r->nk_k.den;

    if (total == 0)
        return SL_DECISION_PASS;
    for (int64_t i = 0; i < kept; i++)
        lo += (sl_u128)(uint64_t)d->top[i];
    if (cmp_products(lo, den, total, num) >= 0)
        return SL_DECISION_FAIL;
    if (m <= SL_DOM_TOP)
        return SL_DECISION_PASS;
    hi = lo + (sl_u128)(uint64_t)(m - SL_DOM_TOP) * (sl_u128)(uint64_t)d->top[SL_DOM_TOP - 1];
    if (hi > total)
        hi = total;
    return cmp_products(hi, den, total, num) >= 0 ? SL_DECISION_REVIEW : SL_DECISION_PASS;
}

/* p-ratio rule: fail iff total - x1 - x2 < p * x1 (x2 = 0 with one
 * contributor); a cell whose largest contribution is 0 discloses nothing. */
static enum sl_decision judge_p(const struct sl_dominance *d, sl_u128 total,
                                const struct sl_rules *r)
{
    sl_u128 x1 = (sl_u128)(uint64_t)d->top[0];
    sl_u128 x2 = d->ncontrib > 1 ? (sl_u128)(uint64_t)d->top[1] : 0;
    sl_u128 rest = total - x1 - x2;
    if (x1 == 0)
        return SL_DECISION_PASS;
    return cmp_products(rest, (uint64_t)r->p_ratio.den, x1, (uint64_t)r->p_ratio.num) < 0
               ? SL_DECISION_FAIL
               : SL_DECISION_PASS;
}

static sl_status eval_nk(const struct sl_table *t, const struct sl_rules *r,
                         enum sl_decision *verdict, json_t *summary)
{
    char k[48], what[160];
    fmt_ratio(r->nk_k, k, sizeof k);
    snprintf(what, sizeof what, "the %d largest contributors hold at least %s of the total",
             r->nk_n, k);
    return eval_dominance(t, r, verdict, summary,
                          json_pack("{s:i,s:[I,I]}", "nk_n", r->nk_n, "nk_k",
                                    (json_int_t)r->nk_k.num, (json_int_t)r->nk_k.den),
                          judge_nk, what);
}

static sl_status eval_p(const struct sl_table *t, const struct sl_rules *r,
                        enum sl_decision *verdict, json_t *summary)
{
    char p[48], what[160];
    fmt_ratio(r->p_ratio, p, sizeof p);
    snprintf(what, sizeof what,
             "the total without its two largest contributions is less than %s of the largest",
             p);
    return eval_dominance(t, r, verdict, summary,
                          json_pack("{s:[I,I]}", "p_ratio", (json_int_t)r->p_ratio.num,
                                    (json_int_t)r->p_ratio.den),
                          judge_p, what);
}

/* ---- dof_sd ---- */

static int applies_dof(const struct sl_table *t, const struct sl_rules *r)
{
    (void)r;
    return has_kind(t, is_spread);
}

static sl_status eval_dof(const struct sl_table *t, const struct sl_rules *r,
                          enum sl_decision *verdict, json_t *summary)
{
    json_t *ev = evidence_new(t->ncells);
    int64_t failing = 0;

    for (int64_t c = 0; ev && c < t->ncells; c++) {
        int bad = 0;
        for (int s = 0; s < t->nstats; s++) {
            const struct sl_stat *col = &t->stats[s];
            int64_t k;
            if (!is_spread(col->kind) || isnan(col->v[c]))
                continue;
            k = support_of(t, s, c);
            if (k <= 0)
                continue;
            json_object_set_new(cell_private(ev, c), col->name,
                                json_pack("{s:I}", "dof", (json_int_t)(k - 1)));
            bad |= k - 1 < r->min_dof;
        }
        verdict[c] = bad ? SL_DECISION_FAIL : SL_DECISION_PASS;
        failing += bad;
    }
    if (failing)
        json_object_set_new(summary, "reason",
                            json_sprintf("%" PRId64 " cell(s) give a standard deviation or "
                                         "variance with fewer than %" PRId64
                                         " residual degrees of freedom",
                                         failing, r->min_dof));
    return finish(summary, ev, json_pack("{s:I}", "min_dof", (json_int_t)r->min_dof));
}

/* ---- missing_values ---- */

/* Where a cell's missing count comes from: a missing-count column, or the
 * cell's patients minus the support of a measured statistic; -1: neither. */
static int missing_source(const struct sl_table *t, int *is_count)
{
    for (int s = 0; s < t->nstats; s++)
        if (t->stats[s].kind == SL_STAT_MISSING) {
            *is_count = 1;
            return s;
        }
    for (int s = 0; s < t->nstats; s++)
        if (is_magnitude(t->stats[s].kind) && !is_extreme(t->stats[s].kind) &&
            t->stats[s].support) {
            *is_count = 0;
            return s;
        }
    return -1;
}

static int applies_missing(const struct sl_table *t, const struct sl_rules *r)
{
    int is_count;
    return r->check_missing && !t->model && missing_source(t, &is_count) >= 0;
}

static sl_status eval_missing(const struct sl_table *t, const struct sl_rules *r,
                              enum sl_decision *verdict, json_t *summary)
{
    json_t *ev = evidence_new(t->ncells);
    int is_count = 0;
    int s = missing_source(t, &is_count);
    int64_t cells = 0;

    (void)r;
    for (int64_t c = 0; ev && c < t->ncells; c++) {
        int64_t m = is_count ? (isnan(t->stats[s].v[c]) ? 0 : (int64_t)t->stats[s].v[c])
                             : t->n[c] - t->stats[s].support[c];
        json_object_set_new(cell_private(ev, c), "missing", json_integer((json_int_t)m));
        verdict[c] = m > 0 ? SL_DECISION_REVIEW : SL_DECISION_PASS;
        cells += m > 0;
    }
    if (cells)
        json_object_set_new(summary, "reason",
                            json_sprintf("%" PRId64 " cell(s) have missing values of the "
                                         "measure, which the statistics ignore; a reviewer "
                                         "must decide whether that discloses anything",
                                         cells));
    return finish(summary, ev, json_pack("{s:b}", "check_missing", 1));
}

/* ---- minmax ---- */

static int applies_minmax(const struct sl_table *t, const struct sl_rules *r)
{
    (void)r;
    return has_kind(t, is_extreme);
}

static sl_status eval_minmax(const struct sl_table *t, const struct sl_rules *r,
                             enum sl_decision *verdict, json_t *summary)
{
    json_t *ev = evidence_new(t->ncells);
    int64_t failing = 0;

    for (int64_t c = 0; ev && c < t->ncells; c++) {
        int bad = 0;
        for (int s = 0; s < t->nstats; s++) {
            const struct sl_stat *col = &t->stats[s];
            int64_t k;
            if (!is_extreme(col->kind) || isnan(col->v[c]))
                continue;
            k = support_of(t, s, c);
            json_object_set_new(cell_private(ev, c), col->name,
                                json_pack("{s:I}", "sharing", (json_int_t)k));
            bad |= !r->allow_minmax || k < r->minmax_min_count;
        }
        verdict[c] = bad ? SL_DECISION_FAIL : SL_DECISION_PASS;
        failing += bad;
    }
    if (failing)
        json_object_set_new(
            summary, "reason",
            r->allow_minmax
                ? json_sprintf("%" PRId64 " cell(s) give a minimum or maximum shared by fewer "
                               "than %" PRId64 " patients",
                               failing, r->minmax_min_count)
                : json_sprintf("%" PRId64 " cell(s) give a minimum or maximum, which the "
                               "policy does not release (allow_minmax is false)",
                               failing));
    return finish(summary, ev,
                  json_pack("{s:b,s:I}", "allow_minmax", r->allow_minmax, "minmax_min_count",
                            (json_int_t)r->minmax_min_count));
}

static const struct sl_gate_rule g_stats[] = {
    {"stat_min_count", applies_min_count, eval_min_count},
    {"dominance_nk", applies_dominance, eval_nk},
    {"dominance_p", applies_dominance, eval_p},
    {"dof_sd", applies_dof, eval_dof},
    {"missing_values", applies_missing, eval_missing},
    {"minmax", applies_minmax, eval_minmax},
};

const struct sl_gate_ruleset sl_gate_rules_stats = {g_stats, sizeof g_stats / sizeof g_stats[0]};
