/*
 * dp.h: differentially private release of patient counts, and of sums and
 * means of a value column per cell.
 *
 * An analysis whose table counts patients so that each patient falls in
 * exactly one interior cell (count, crosstab, histogram, describe: the
 * cohort holds one row per patient) may ask for noise in place of the
 * disclosure rules:
 *
 *   privacy: dp
 *   rho: 0.005        discrete Gaussian noise of variance 1/(2 rho) on every
 *                     interior cell: rho-zCDP
 *   epsilon: 0.5      (instead of rho) discrete Laplace noise of scale
 *                     1/epsilon: epsilon-DP, charged as rho = epsilon^2/2
 *
 * Neighbouring cohorts differ by one patient, who changes one interior cell
 * by one, so the interior cells have L1 and L2 sensitivity 1. Noisy counts
 * below zero become zero and margins are sums of the noisy interior cells:
 * post-processing, which costs nothing. Cells whose noisy count is below
 * the policy's min_safe_count are withheld (also post-processing); no
 * decision ever looks at an exact count. The layout of the table (which
 * levels and bins it shows) does not depend on the data.
 *
 * With a value column (crosstab `value`, describe's columns; table.h:
 * struct sl_dp_values) the output answers three queries per cell: patients (1/4 of the request),
 * patients with a value (1/4) and the sum of their values clamped to the
 * column's public bounds and rounded to a lattice of 2 SL_DP_RADIUS + 1
 * points (1/2; sensitivity SL_DP_RADIUS lattice steps). The sum released is
 * center * present + step * lattice sum, the mean center + step * lattice
 * sum / present clamped to the bounds; statistics resting on fewer than
 * min_safe_count noisy patients are withheld. With a median (describe) the
 * four queries take 1/4 each, the median being the exponential mechanism
 * over the lattice points per interior cell (sl_dp_em_select; for rho, at
 * the largest 6-decimal epsilon with epsilon^2/8 <= rho/4); margin cells
 * get no median.
 *
 * Budget: the policy's privacy.rho per cohort and project; zCDP composes by
 * addition. Every output's charge is recorded in the release ledger and
 * committed durably before its noise is drawn, so a crash can waste budget
 * but never release without charging; the ledger's lock keeps concurrent
 * jobs from overspending. An output that would exceed the budget fails and
 * no noise is drawn for it.
 *
 * Amounts of rho are exact: every budget and charge is an integer number
 * of units of 1/SL_DP_UNITS (5e-13), which holds every rho of 6 decimals,
 * every epsilon^2/2 of an epsilon of 6 decimals and every budget of 9.
 *
 * Samplers are exact (Canonne, Kamath and Steinke 2020): integer and
 * rational arithmetic only, randomness from OpenSSL's RAND_priv_bytes.
 * Any failure of the generator fails the release closed.
 */
#ifndef SL_ENGINE_DP_H
#define SL_ENGINE_DP_H

#include <jansson.h>
#include <stdint.h>

#include "engine/core/status.h"
#include "engine/rules.h"
#include "engine/table.h"

struct sl_params;

#define SL_DP_UNITS INT64_C(2000000000000) /* units of rho per 1 */

enum sl_dp_mechanism { SL_DP_NONE = 0, SL_DP_GAUSSIAN, SL_DP_LAPLACE };

/* What an analysis asks for. */
struct sl_dp_request {
    enum sl_dp_mechanism mechanism;
    struct sl_ratio param; /* rho (Gaussian) or epsilon (Laplace), as written, reduced */
    int64_t units;         /* rho charged, in units of 1/SL_DP_UNITS */
};

/* Reads `privacy`, `rho` and `epsilon` of an analysis: mechanism SL_DP_NONE
 * when it has no `privacy`. rho and epsilon are decimals in (0, 10] with at
 * most 6 decimals. SL_ERR_FORMAT naming file:line:col for a value out of
 * range, both or neither of rho and epsilon, either without privacy: dp,
 * and `privacy` on an analysis type that does not count patients
 * (`counts` false). Not collective. */
sl_status sl_dp_param(const struct sl_params *p, const char *analysis, int counts,
                      struct sl_dp_request *out);

/* "0.005" for 10^10 units: the exact decimal (at most 13 decimals). */
void sl_dp_units_format(int64_t units, char *buf, size_t size);
/* Parses what sl_dp_units_format writes; false when malformed, negative,
 * not a whole number of units or above 10^6. */
int sl_dp_units_parse(const char *s, int64_t *units);

/* The epsilon at which rho-zCDP implies (epsilon, delta)-DP, by the
 * conversion of Canonne, Kamath and Steinke (2020): the smallest epsilon
 * (to 1e-9 relative, rounded up) with
 *   min over a > 1 of exp((a-1)(a rho - epsilon)) (1 - 1/a)^a / (a-1) <= delta.
 * Always a valid bound, never below the exact one; 0 for rho 0. Floating
 * point: it reports, it never decides (the budget is kept in rho).
 * rho >= 0, 0 < delta < 1. */
double sl_dp_epsilon(double rho, double delta);

/* ---- samplers ---- */

struct sl_dp_rng;

/* A generator over RAND_priv_bytes with a buffer that is wiped when
 * destroyed. SL_ERR_NOMEM. */
sl_status sl_dp_rng_create(struct sl_dp_rng **out);
void sl_dp_rng_destroy(struct sl_dp_rng **r);

/* *out uniform on [0, m), m >= 1. SL_ERR_INTERNAL when the generator fails. */
sl_status sl_dp_uniform(struct sl_dp_rng *r, uint64_t m, uint64_t *out);
/* *out = 1 with probability exp(-n/d) exactly (n >= 0, 1 <= d <= 2^62). */
sl_status sl_dp_bernoulli_exp(struct sl_dp_rng *r, uint64_t n, uint64_t d, int *out);
/* Discrete Laplace of scale a/b: P(y) proportional to exp(-|y| b/a);
 * 1 <= a, b <= 2^40. */
sl_status sl_dp_laplace(struct sl_dp_rng *r, uint64_t a, uint64_t b, int64_t *out);
/* Discrete Gaussian of variance parameter p/q: P(y) proportional to
 * exp(-y^2 q/(2p)); 1 <= p <= 2^42, 1 <= q <= 2^25. SL_ERR_ARG outside. */
sl_status sl_dp_gaussian(struct sl_dp_rng *r, uint64_t p, uint64_t q, int64_t *out);

/* The exponential mechanism: candidate j of m chosen with probability
 * proportional to exp(-eps * scores[j] / 2) (eps-DP when one patient moves
 * every score by at most 1), exactly, by uniform proposals accepted with
 * exp(-eps (scores[j] - min) / 2). 0 < eps.num, eps.den <= 2^40. */
sl_status sl_dp_em_select(struct sl_dp_rng *r, const uint64_t *scores, int64_t m,
                          struct sl_ratio eps, int64_t *out);

/* ---- release ---- */

/* The noise parameters of a request, as JSON for evidence and the ledger:
 * {"mechanism": "discrete_gaussian", "rho": "0.005", "sigma2": "100"} or
 * {"mechanism": "discrete_laplace", "epsilon": "0.5", "scale": "2",
 * "rho": "0.125"}. NULL when out of memory. */
json_t *sl_dp_describe(const struct sl_dp_request *req);

/* Starts the verdicts of a noisy output (the count rules never judge it)
 * with "privacy_budget": pass when `spent` plus the request's charge is
 * within `budget` (units of 1/SL_DP_UNITS), else fail for every cell (scope
 * table) with the reason; *charge is 1 when it fits. The evidence also
 * gives the rho spent once charged as epsilon at `delta`
 * (sl_dp_epsilon). SL_ERR_NOMEM. */
sl_status sl_dp_judge_budget(struct sl_table *t, const struct sl_dp_request *req, int64_t spent,
                             int64_t budget, double delta, int *charge);

/* The release ledger's record of a charge: the entry of `t` (before noise)
 * with a null population and no cells, so differencing never compares it,
 * and "privacy" (sl_dp_describe). *out is a new reference. SL_ERR_NOMEM. */
sl_status sl_dp_ledger_entry(const struct sl_table *t, const struct sl_dp_request *req,
                             const char *job_id, const char *filter, json_t **out);

/* Adds noise to the interior cells of `t` (a counting table: no statistic
 * columns, no dominance), clamps them at zero, recomputes its margins from
 * them, withholds cells below rules->min_safe_count and sets the verdict
 * "dp_threshold" (pass). The caller has charged the budget already. The
 * exact counts are overwritten. SL_ERR_INTERNAL (generator), SL_ERR_NOMEM. */
sl_status sl_dp_apply(struct sl_table *t, const struct sl_dp_request *req,
                      const struct sl_rules *rules, struct sl_dp_rng *rng);

#endif
