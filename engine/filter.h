/*
 * filter.h: the job's row filter, e.g.  age >= 40 and sex == "F".
 *
 * Grammar (case-sensitive keywords):
 *   expr    := or
 *   or      := and ("or" and)*
 *   and     := unary ("and" unary)*
 *   unary   := "not" unary | "(" expr ")" | cmp
 *   cmp     := column op literal | column "is" ["not"] "missing"
 *             | column "in" "[" literal ("," literal)* "]"
 *   op      := "==" | "!=" | "<" | "<=" | ">" | ">="
 *   literal := number | "string"        (dates as "YYYY-MM-DD" strings)
 * Comparisons on a missing value are unknown; unknown rows are dropped
 * (three-valued logic: not unknown = unknown, false and unknown = false,
 * true or unknown = true). Categorical columns compare by label; only ==,
 * != and in apply to them. Id columns cannot be filtered on.
 */
#ifndef SL_ENGINE_FILTER_H
#define SL_ENGINE_FILTER_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/core/status.h"
#include "io/cohort.h"
#include "io/frame.h"

struct sl_filter;

/* Parses `text`. `where` ("job.yaml:4:9") prefixes error messages, which
 * also give the offending character position within the expression. */
sl_status sl_filter_parse(const char *text, const char *where, struct sl_filter **out);

/* Resolves column names and category labels against the cohort's metadata
 * (no key needed). Unknown column (the message lists close names), unknown
 * label (lists up to 10 levels), string/number mismatch, an operator that
 * does not apply, an id column: SL_ERR_FORMAT with the character position.
 * May be called again to rebind; on failure the filter is left unbound.
 * Not collective. */
sl_status sl_filter_bind(struct sl_filter *f, const struct sl_cohort *c);

/* The same against a bare column list (`cols` borrowed; column i of the list
 * is cohort column i). sl_filter_bind calls it with the cohort's columns. */
sl_status sl_filter_bind_columns(struct sl_filter *f, const struct sl_colinfo *cols, int ncols);

/* Cohort columns the bound filter reads, ascending and distinct; *cols is
 * sl_malloc'd. SL_ERR_ARG when not bound. */
sl_status sl_filter_columns(const struct sl_filter *f, int **cols, int *ncols);

/* What the filter implies of one numeric or date column: every row it
 * passes has a value of `column` at or above the end `from` and below the
 * end `to`, ends as in table.h's struct sl_intervals (closed: the value
 * itself is below the end); dates in days since 1970-01-01. */
struct sl_filter_range {
    const char *column; /* borrowed from the filter */
    bool has_from, has_to;
    bool from_closed, to_closed;
    double from, to;
};

/* The ranges of the bound filter's comparisons (<, <=, >, >=, ==) of an
 * integer, real or date column with a value that are conjuncts of the whole
 * expression (`age >= 40 and age < 65 and sex == "F"` gives age from 40 to
 * 65), one per column, the tightest bounds each; comparisons under "or" or
 * "not" give none. *out sl_malloc'd, *n entries. SL_ERR_ARG when not
 * bound, SL_ERR_NOMEM. */
sl_status sl_filter_ranges(const struct sl_filter *f, struct sl_filter_range **out, int *n);

/* A top-level conjunct of a filter: its canonical text, and the column of
 * the range it bounds when it is one of sl_filter_ranges' comparisons. */
struct sl_filter_conjunct {
    char *text;
    const char *bounds; /* borrowed from the filter, or NULL */
};

/* The bound filter's top-level conjuncts (the operands of its outermost
 * chain of "and"s, the whole expression when that is no "and"), sorted by
 * text, repeats once: the same list for filters that differ only in the
 * order and grouping of their conjuncts. *out for
 * sl_filter_conjuncts_free, *n entries. SL_ERR_ARG when not bound,
 * SL_ERR_NOMEM. */
sl_status sl_filter_conjuncts(const struct sl_filter *f, struct sl_filter_conjunct **out, int *n);
void sl_filter_conjuncts_free(struct sl_filter_conjunct **c, int n);

/* For rows [row0, row0+nrows) of the frame, mask[i] = 1 if row row0 + i
 * passes (the expression is true), else 0. The frame must hold every column of
 * sl_filter_columns. SL_ERR_ARG when the filter is not bound, the rows are
 * outside the frame or a column is missing from it. Temporaries derived from
 * the rows live in secret memory. Not collective; reentrant. */
sl_status sl_filter_eval(const struct sl_filter *f, const struct sl_frame *fr, int64_t row0,
                         int64_t nrows, uint8_t *mask);

/* The expression in canonical form (for results.json and the ledger):
 * every and/or/not fully parenthesised, single spaces, strings in double
 * quotes, numbers in their shortest exact form, e.g.
 * (age >= 40 and sex == "F"). Borrowed from f. */
const char *sl_filter_text(const struct sl_filter *f);

void sl_filter_destroy(struct sl_filter **f);

#endif
