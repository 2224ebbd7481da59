/*
 * schema.h: the column schema of a CSV export, and how it is inferred.
 *
 * A schema says, for every column of the export in order, its name, its type
 * (id | integer | real | categorical | date), its disclosure class
 * (identifier | quasi | sensitive | other), for categorical columns an
 * optional fixed list of levels (code i is the i-th level), and for integer
 * and real columns optional public bounds. It is a YAML file the operator
 * reviews and keeps beside the cohort:
 *
 *   sluice_schema: 1
 *   columns:
 *     - name: patient_id
 *       type: id
 *       class: identifier
 *     - name: sex
 *       type: categorical
 *       class: quasi
 *       levels: ["F", "M"]
 *     - name: age
 *       type: integer
 *       class: quasi
 *       lower: 0
 *       upper: 110
 *
 * Exactly one column has type id. A categorical column without `levels` gets
 * the levels found in the data, sorted by byte order. Bounds are public
 * numbers chosen by the operator (for histograms and noise scales); they are
 * never inferred from the data, since the data's range is itself a disclosure.
 *
 * Inference (when no schema is given) follows simple, documented rules:
 *   - id column: the first header name that equals, ignoring case, one of
 *     patient_id, person_id, subject_id, participant_id, patientid, personid,
 *     subjectid, id (tried in this order). No match is an error: pass a schema.
 *   - type of every other column, from its non-missing values: integer if all
 *     are integers, else real if all are decimal numbers, else date if all are
 *     YYYY-MM-DD, else categorical. A column with no values at all is real.
 *   - class: identifier for the id; quasi for dates and for names with a word
 *     (split at non-alphanumerics, ignoring case) in
 *     age sex gender region postcode postal zip zipcode dob yob birth birthdate
 *     ethnicity ethnic race country county district area occupation marital,
 *     or a word containing birth, postcode or zipcode;
 *     sensitive for names with a word that starts with one of
 *     diag icd condition disease bmi bp systolic diastolic pressure hba1c
 *     glucose cholesterol measure lab test result outcome death smok
 *     medication drug weight height;
 *     other otherwise. The quasi rule is tried first.
 */
#ifndef SL_IO_SCHEMA_H
#define SL_IO_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/status.h"
#include "io/cohort.h"

/* Most levels a categorical column may have. */
#define SL_SCHEMA_MAX_LEVELS (1 << 20)

struct sl_schema {
    int ncols;
    struct sl_colinfo *cols; /* [ncols] owned: names and levels sl_malloc'd */
    int id_col;              /* index of the id column */
    char *path;              /* file it was read from, or NULL when inferred */
    int *name_line;          /* [ncols] 1-based line:column of each name in path, */
    int *name_col;           /*         0 when inferred */
    int *levels_fixed;       /* [ncols] 1 if the schema lists the levels */
};

/* Allocates a schema of `ncols` columns, all zero (no names, type 0), with
 * NaN bounds and id_col -1. Not collective. */
sl_status sl_schema_create(int ncols, struct sl_schema **out);

/* Frees names, levels and the schema. NULL-safe; NULLs *s. */
void sl_schema_destroy(struct sl_schema **s);

/* Reads a schema file. SL_ERR_IO if it cannot be read; SL_ERR_FORMAT with
 * "<path>:<line>:<col>: ..." for YAML syntax errors, unknown keys, missing or
 * bad name/type/class, levels on a non-categorical column, repeated or empty
 * levels, bounds on a column that is not integer or real, lower > upper,
 * repeated column names, or not exactly one id column. Not collective. */
sl_status sl_schema_load(const char *path, struct sl_schema **out);

/* Writes `s` as YAML to `path`, which must not exist (SL_ERR_EXISTS: the file
 * is never overwritten). On any failure nothing is left at `path`. Level
 * labels are written (they are cohort metadata); no row values are. */
sl_status sl_schema_write(const struct sl_schema *s, const char *path);

/* Checks that the schema describes a usable cohort (one id column, known
 * types and classes, levels only on categoricals): SL_ERR_FORMAT otherwise. */
sl_status sl_schema_check(const struct sl_schema *s);

/* Replaces the levels of column `col` (borrowed, copied). */
sl_status sl_schema_set_levels(struct sl_schema *s, int col, int32_t nlevels,
                               const char *const *levels);

/* ---- inference rules (documented above) ---- */

/* Index of the id column among `names`, or -1 when no name matches. */
int sl_schema_guess_id(const char *const *names, int n);

/* Default class of a non-id column from its name and type. */
enum sl_colclass sl_schema_guess_class(const char *name, enum sl_coltype type);

/* ---- text forms of values ---- */

enum { SL_KIND_INT = 1, SL_KIND_REAL = 2, SL_KIND_DATE = 4 };

/* Which of the numeric and date forms s[0, len) has (a bit set of
 * SL_KIND_*). Surrounding blanks (space, tab) are ignored. */
unsigned sl_value_kinds(const char *s, size_t len);

/* Parses an integer (optional sign, decimal digits) in int64 range except
 * INT64_MIN (the missing marker). 0 on success, -1 otherwise. */
int sl_parse_int(const char *s, size_t len, int64_t *out);

/* Parses a finite decimal number (digits with an optional point and
 * exponent; no inf, nan or hex). `s` must be NUL-terminated at len.
 * 0 on success, -1 otherwise. */
int sl_parse_real(const char *s, size_t len, double *out);

/* Parses a calendar date YYYY-MM-DD (years 0001..9999) into days since
 * 1970-01-01. 0 on success, -1 otherwise. */
int sl_parse_date(const char *s, size_t len, int32_t *out);

/* Formats days since 1970-01-01 as YYYY-MM-DD into out (11 bytes);
 * "0000-00-00" outside years 0001..9999. */
void sl_format_date(int32_t days, char out[11]);

#endif
