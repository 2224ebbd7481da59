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

#include <stdint.h>

#include "engine/core/status.h"
#include "io/cohort.h"
#include "io/frame.h"

struct sl_filter;

/* Parses `text`. `where` ("job.yaml:4:9") prefixes error messages, which
 * also give the offending character position within the expression. */
sl_status sl_filter_parse(const char *text, const char *where, struct sl_filter **out);

/* Resolves column names and category labels against the cohort's metadata
 * (no key needed). Unknown column, unknown label, type mismatch: SL_ERR_FORMAT. */
sl_status sl_filter_bind(struct sl_filter *f, const struct sl_cohort *c);

/* Cohort columns the bound filter reads; *cols is sl_malloc'd. */
sl_status sl_filter_columns(const struct sl_filter *f, int **cols, int *ncols);

/* For rows [row0, row0+nrows) of the frame, mask[i] = 1 if the row passes.
 * The frame must hold every column of sl_filter_columns. Not collective. */
sl_status sl_filter_eval(const struct sl_filter *f, const struct sl_frame *fr, int64_t row0,
                         int64_t nrows, uint8_t *mask);

/* The expression in canonical form (for results.json and the ledger). */
const char *sl_filter_text(const struct sl_filter *f);

void sl_filter_destroy(struct sl_filter **f);

#endif
