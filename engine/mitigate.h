/*
 * mitigate.h: suppression and rounding of gated tables.
 *
 * The gate judges a table as computed; a mitigation then changes what would
 * be released so that failing cells do not leave, and always makes the output
 * `review`: a human approves a mitigated output, it never passes silently.
 * What was done is recorded in table->mitigation (and so in results.json);
 * the gate's unmitigated verdicts stay as they were.
 *
 * Who asks:
 *   - the job, per analysis: `mitigation: suppress` or `mitigation: round`
 *     (job types accept the key; the engine reads it with
 *     sl_mitigation_param);
 *   - the policy: profile "opensafely" (rules.redact_at_most > 0) redacts
 *     small cells and rounds every released count, for every output.
 *
 * Margins. A table with margins (table->margins = 1) carries, as the last
 * level of every dimension, a "Total" level holding the sum over that
 * dimension: in 1-D the last cell is the grand total; in 2-D the last row
 * holds the column totals, the last column the row totals, the corner the
 * grand total. Patient counts (n) and count-like columns of margin cells are
 * recomputed here from the interior cells. A table without margins is treated
 * as if its margins were public anyway (the same population's totals are
 * usually released elsewhere), so suppression protects against them too.
 *
 * Suppression (`suppress`). Cells failing a rule of scope "cell" are withheld
 * whole (count and statistics); cells failing only rules of scope "stat" have
 * their statistics withheld. Then secondary suppression: every line of the
 * table (a row or column of a 2-D table, the whole of a 1-D table, together
 * with its margin) that holds exactly one withheld value, or withheld counts
 * that sum to 0, gets another withheld cell (the non-margin cell with the
 * fewest patients, non-empty first), repeated to a fixed point. For 2-D
 * tables the pattern is then checked exactly: a withheld value can be solved
 * for from the line totals iff it is a bridge of the bipartite graph of rows
 * and columns joined by withheld cells, and every bridge gets a further
 * withheld cell closing a cycle through it. 3-D tables are checked by
 * linear algebra: with the withheld cells as unknowns and one relation per
 * line, a withheld value is determined iff it is 0 in every solution of the
 * homogeneous system (reduced row echelon form, doubles; any rounding error
 * errs towards "determined"), and each determined cell gets the cheapest
 * box through it withheld (a second level on every dimension, all 2^3
 * cells), which no line can solve. So in 1-D, 2-D and 3-D tables no withheld
 * value can be recomputed from the margins. Margins keep the true totals (a
 * failing margin cell is withheld like any other cell). A 3-D table too
 * large to check (a relation matrix over 256 MiB, or 1e10 operations; 50 x 50
 * x 10 with 7800 withheld cells takes under a second) is not mitigated and
 * says so. Table-scope
 * failures (differencing) cannot be suppressed: the output stays `fail`.
 *
 * Rounding (`round`). Every released count (n and count-like columns) is
 * rounded to the nearest multiple of rules.round_base, halves away from zero
 * (base 10: 25 -> 30), and margins are recomputed as sums of the rounded
 * interior cells. Rounding alone does not make a failing cell safe: a table
 * with failing cells stays `fail` unless they are also suppressed or
 * redacted.
 *
 * Redaction (policy profile "opensafely"). Failing cells are withheld without
 * secondary suppression; every other count is rounded and margins are the
 * sums of the rounded released cells (withheld cells not included); a
 * margin's statistics are withheld when any cell it sums is withheld.
 * With `mitigation: suppress` in such a policy, suppression (with secondary
 * suppression, true margins) is followed by the rounding.
 *
 * Withheld values are wiped from the table (count 0, statistics NaN, table.h
 * SL_WITHHELD_*) so that no later writer can leak them.
 */
#ifndef SL_ENGINE_MITIGATE_H
#define SL_ENGINE_MITIGATE_H

#include "engine/config.h"
#include "engine/core/status.h"
#include "engine/rules.h"
#include "engine/table.h"

/* The analysis parameter job types must accept (sl_params_only). */
#define SL_MITIGATION_PARAM "mitigation"

/* Mitigation kinds (bit flags). */
#define SL_MITIGATE_SUPPRESS 1u
#define SL_MITIGATE_ROUND 2u
#define SL_MITIGATE_REDACT 4u

/* Reads an analysis's `mitigation` parameter into *kinds: 0 when absent,
 * SL_MITIGATE_SUPPRESS for "suppress", SL_MITIGATE_ROUND for "round".
 * SL_ERR_FORMAT naming file:line:col for anything else. Not collective. */
sl_status sl_mitigation_param(const struct sl_params *p, unsigned *kinds);

/* Applies the job's `job_kinds` and whatever `rules` (the policy's profile)
 * add to a table that has been through sl_gate_evaluate (and the ledger).
 * Tables other than tabulating analyses (sl_gate_is_frequency) are left as
 * they are, with the request recorded as not applicable. Sets
 * t->mitigation, t->withheld and t->decision as described above. Nothing
 * happens (t->mitigation stays NULL) when no mitigation is asked for.
 * SL_ERR_NOMEM. Rank 0 only; not collective. */
sl_status sl_mitigate(struct sl_table *t, const struct sl_rules *rules, unsigned job_kinds);

/* Rounds v >= 0 to the nearest multiple of base > 0, halves up. */
int64_t sl_round_count(int64_t v, int64_t base);

#endif
