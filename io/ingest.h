/*
 * ingest.h: turning a raw CSV export into an encrypted cohort.
 *
 * Ingest is the only place where clear patient identifiers pass through
 * sluice. It reads the export twice:
 *   pass 1 checks every record against the schema (given, or inferred from the
 *          header and the values), collects category levels and finds
 *          repeated patient ids;
 *   pass 2 converts the values into column buffers in secret memory, replaces
 *          each patient id by HMAC-SHA-256(pseudonym key, id) and hands the
 *          buffers to the cohort writer, which seals every chunk.
 * The pseudonym key is derived from the centre KEK with the label "pseudonym"
 * (or "pseudonym:<project>" for per-project pseudonyms that do not link across
 * projects). The id text is used as it is, without surrounding blanks.
 * Numbers and dates may have surrounding blanks; category labels are matched
 * exactly. Values are converted as format.h says (dates to days since
 * 1970-01-01, missing values to the format's markers).
 *
 * When no schema is given, the inferred one is written beside the output as
 * <out without .h5>.schema.yaml for the operator to review and pass back; an
 * existing file of that name is never overwritten (SL_ERR_EXISTS before any
 * work is done). A categorical column with at least SL_INGEST_ID_LIKE_ROWS
 * values present, more than half of them different, is refused during
 * inference: it looks like a second identifier or free text, and its levels
 * would be stored in the clear.
 *
 * Errors name the file, line, column number and header name and say what was
 * expected; they never show a value. On any error the cohort's temporary file
 * is removed and no schema file is left behind.
 */
#ifndef SL_IO_INGEST_H
#define SL_IO_INGEST_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/core/status.h"
#include "io/keys.h"

#define SL_INGEST_ID_LIKE_ROWS 100

struct sl_ingest_opts {
    const char *in;             /* CSV export to read (borrowed) */
    const char *out;            /* cohort to create; must not exist (borrowed) */
    const struct sl_kek *kek;   /* centre key (secret, borrowed) */
    const char *schema_path;    /* schema YAML, or NULL to infer one */
    const char *project;        /* per-project pseudonyms, or NULL */
    int64_t chunk_rows;         /* rows per cohort chunk; <= 0: SL_DEFAULT_CHUNK_ROWS */
    bool progress;              /* log rows done and rows/s every few seconds */
};

struct sl_ingest_stats {
    int64_t rows;               /* patients written */
    int ncols;                  /* columns written, the id included */
    int64_t bytes_in;           /* size of the CSV file */
    double seconds;             /* wall time of both passes */
    bool schema_written;        /* an inferred schema was written (see sl_ingest_schema_path) */
};

/* Ingests o->in into the encrypted cohort o->out. `stats` may be NULL; it is
 * written only on success. Status codes: SL_ERR_ARG for bad options (a project
 * name must be 1 to 64 characters of letters, digits, '.', '_' or '-'),
 * SL_ERR_EXISTS when the output or the schema file to write exists, SL_ERR_IO
 * for input that cannot be read or is not a regular file (it is read twice), SL_ERR_FORMAT for CSV, schema or value errors and
 * repeated patient ids (naming both lines), and the cohort writer's codes.
 * Not collective; call sl_process_harden() first. */
sl_status sl_ingest(const struct sl_ingest_opts *o, struct sl_ingest_stats *stats);

/* The path an inferred schema is written to for cohort `out`:
 * `out` without a trailing ".h5", then ".schema.yaml". *path is sl_malloc'd
 * (caller frees). */
sl_status sl_ingest_schema_path(const char *out, char **path);

#endif
