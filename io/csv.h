/*
 * csv.h: a streaming reader for the CSV exports that ingest turns into cohorts.
 *
 * Raw exports can be many gigabytes, so the reader holds one buffer of the
 * file at a time and hands out one record at a time. It reads RFC 4180 CSV:
 *   - the first record is the header: unique, non-empty column names;
 *   - fields are separated by commas (or tabs, sl_csv_open_delim); a field
 *     that starts with a double quote is quoted and may hold separators, line
 *     breaks and doubled quotes ("");
 *     a quote inside an unquoted field is an ordinary character;
 *   - records end with LF or CRLF; the last one may lack its line break;
 *     empty lines are skipped;
 *   - the text must be UTF-8 (a leading byte order mark is skipped); NUL bytes
 *     are refused;
 *   - an empty field and the field NA (quoted or not) are missing values.
 * Every record must have as many fields as the header. A file that starts
 * with gzip's magic bytes is read as the text it holds (io/gz_impl.h).
 *
 * Errors are SL_ERR_FORMAT with a message naming the file, the 1-based line
 * and, for field errors, the 1-based column number and header name, and what
 * was expected ("export.csv:57: expected 8 fields as in the header, found 7").
 * Messages never contain field values.
 *
 * The file's content is secret (row-level data): the buffer is a secbuf and
 * is wiped when the reader is closed.
 */
#ifndef SL_IO_CSV_H
#define SL_IO_CSV_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/core/status.h"

struct sl_csv;

/* Opens `path` and reads its header. SL_ERR_IO if it cannot be opened or read,
 * SL_ERR_FORMAT for an empty file or a bad header (empty or repeated names,
 * invalid UTF-8, unterminated quote). *out is released with sl_csv_close.
 * Not collective. */
sl_status sl_csv_open(const char *path, struct sl_csv **out);

/* The same for a file whose fields are separated by `delim`, ',' or '\t'
 * (tab-separated exports); SL_ERR_ARG for any other separator. */
sl_status sl_csv_open_delim(const char *path, char delim, struct sl_csv **out);

/* Closes the file and wipes the buffer. NULL-safe; NULLs *csv. */
void sl_csv_close(struct sl_csv **csv);

/* The path as given to sl_csv_open (borrowed). */
const char *sl_csv_path(const struct sl_csv *csv);

/* Number of columns (header fields) and the name of column `col` (0-based;
 * borrowed, valid until close). */
int sl_csv_ncols(const struct sl_csv *csv);
const char *sl_csv_colname(const struct sl_csv *csv, int col);

/* Reads the next record. *got is 1 when a record was read, 0 at the end of the
 * file. SL_ERR_FORMAT for a ragged record, an unterminated quote, invalid
 * UTF-8 or text after a closing quote; SL_ERR_IO on a read error. Fields of
 * the previous record become invalid. Not collective. */
sl_status sl_csv_next(struct sl_csv *csv, int *got);

/* Field `col` (0-based) of the current record: NUL-terminated, with quotes
 * removed; its length in *len if len is non-NULL. Secret, borrowed until the
 * next sl_csv_next. */
const char *sl_csv_field(const struct sl_csv *csv, int col, size_t *len);

/* 1 if field `col` of the current record is missing (empty or NA). */
int sl_csv_missing(const struct sl_csv *csv, int col);

/* Line on which the current record starts, and on which field `col` starts
 * (they differ after a quoted field with line breaks). 1-based. */
int64_t sl_csv_line(const struct sl_csv *csv);
int64_t sl_csv_field_line(const struct sl_csv *csv, int col);

/* Bytes of the file consumed so far (compressed ones for a gzip file), and
 * the file's size when opened. */
int64_t sl_csv_offset(const struct sl_csv *csv);
int64_t sl_csv_size(const struct sl_csv *csv);

/* Goes back to the first record after the header. SL_ERR_IO on failure. */
sl_status sl_csv_rewind(struct sl_csv *csv);

/* Records `code` with the message "<path>:<line>: column <n> (<name>): " and
 * the formatted text for field `col` of the current record, and returns
 * `code`. For callers that reject a field's content; the text must not
 * contain the value. */
sl_status sl_csv_field_error(const struct sl_csv *csv, int col, sl_status code, const char *fmt,
                             ...) __attribute__((format(printf, 4, 5)));

#endif
