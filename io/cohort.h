/*
 * cohort.h: writing and reading encrypted cohorts (layout in format.h).
 *
 * Writers seal every chunk with AES-256-GCM under a fresh data key and write
 * it with direct chunk I/O; there is no code path that stores plaintext.
 * Readers open metadata without a key; sl_cohort_unlock unwraps the data key,
 * after which chunks can be decrypted one at a time into secret memory.
 * Every decrypt fails closed: on any failure the destination is wiped.
 */
#ifndef SL_IO_COHORT_H
#define SL_IO_COHORT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/status.h"
#include "io/keys.h"

enum sl_coltype { SL_COL_ID = 1, SL_COL_INT = 2, SL_COL_REAL = 3, SL_COL_CAT = 4, SL_COL_DATE = 5 };
enum sl_colclass { SL_CLASS_IDENTIFIER = 1, SL_CLASS_QUASI = 2, SL_CLASS_SENSITIVE = 3,
                   SL_CLASS_OTHER = 4 };

struct sl_colinfo {
    char *name;
    enum sl_coltype type;
    enum sl_colclass cls;
    int32_t nlevels;   /* categorical: number of labels */
    char **levels;     /* categorical: labels, code i is levels[i] */
    double lower;      /* public lower bound, NaN if none */
    double upper;      /* public upper bound, NaN if none */
};

/* Bytes per element of a column type (32 for id). */
size_t sl_coltype_size(enum sl_coltype type);
const char *sl_coltype_name(enum sl_coltype type);
const char *sl_colclass_name(enum sl_colclass cls);
/* Parses "integer" etc.; returns 0 if unknown. */
enum sl_coltype sl_coltype_parse(const char *s);
enum sl_colclass sl_colclass_parse(const char *s);

/* ---- writing ---- */

struct sl_cohort_writer;

/* Starts a cohort at `path`: data go to a temporary file beside it, renamed
 * into place only by sl_cohort_writer_finish. SL_ERR_EXISTS if `path`
 * exists. `cols` is borrowed (copied). chunk_rows <= 0 means the default. */
sl_status sl_cohort_writer_create(const char *path, const struct sl_kek *kek,
                                  const struct sl_colinfo *cols, int ncols, int64_t chunk_rows,
                                  struct sl_cohort_writer **out);

/* Sets (replaces) the category labels of categorical column `col`; may be
 * called any time before finish. `levels` is borrowed (copied). */
sl_status sl_cohort_writer_set_levels(struct sl_cohort_writer *w, int col, int32_t nlevels,
                                      const char *const *levels);

/* Appends `nrows` rows. columns[i] points to nrows elements of column i's type
 * (secret, borrowed). Full chunks are sealed and written at once. */
sl_status sl_cohort_writer_append(struct sl_cohort_writer *w, int64_t nrows,
                                  const void *const *columns);

/* Seals the last partial chunk, writes the metadata and renames into place. */
sl_status sl_cohort_writer_finish(struct sl_cohort_writer *w);

/* Frees the writer; if not finished, removes the temporary file. NULL-safe. */
void sl_cohort_writer_destroy(struct sl_cohort_writer **w);

/* ---- reading ---- */

struct sl_cohort;

/* Opens metadata (no key needed). SL_ERR_VERSION for a newer or older
 * unsupported format, SL_ERR_FORMAT for a file that is not a sluice cohort. */
sl_status sl_cohort_open(const char *path, struct sl_cohort **out);
void sl_cohort_close(struct sl_cohort **c);

const char *sl_cohort_path(const struct sl_cohort *c);
uint32_t sl_cohort_version(const struct sl_cohort *c);
const char *sl_cohort_uuid(const struct sl_cohort *c);   /* 32 hex digits */
const char *sl_cohort_kek_id(const struct sl_cohort *c);
int64_t sl_cohort_nrows(const struct sl_cohort *c);
int64_t sl_cohort_chunk_rows(const struct sl_cohort *c);
int64_t sl_cohort_nchunks(const struct sl_cohort *c);
int sl_cohort_ncols(const struct sl_cohort *c);
/* Column i, or NULL outside [0, ncols); the columns form one array, so
 * sl_cohort_col(c, 0) + i is column i. */
const struct sl_colinfo *sl_cohort_col(const struct sl_cohort *c, int i);
/* Column index by name, or -1. */
int sl_cohort_find(const struct sl_cohort *c, const char *name);
/* Rows in chunk `chunk` (the last may be short). */
int64_t sl_cohort_chunk_nrows(const struct sl_cohort *c, int64_t chunk);

/* Unwraps the data key with `kek`. SL_ERR_KEY when the KEK is not the one the
 * file was written for. */
sl_status sl_cohort_unlock(struct sl_cohort *c, const struct sl_kek *kek);

/* Decrypts chunk `chunk` of column `col` into dst (secret, at least
 * sl_cohort_chunk_nrows * element size bytes). SL_ERR_CRYPTO naming the file
 * and dataset on any authentication failure; dst is wiped on failure.
 * A cohort handle reuses one read buffer and cipher context: use it from one
 * thread at a time. */
sl_status sl_cohort_read_chunk(struct sl_cohort *c, int col, int64_t chunk, void *dst,
                               size_t dst_size);

/* Decrypts chunks[0..n) of column `col` into dst[i] (secret, dst_size[i]
 * bytes each) on up to OpenMP's thread count: HDF5 finds the sealed chunks
 * on the calling thread (it is used from one thread only), then the threads
 * read them (pread on HDF5's file descriptor) and open them in parallel,
 * each with its own copy of the cipher context and read buffer. Fails like
 * sl_cohort_read_chunk, reporting the first failing
 * chunk in list order, with every destination wiped. Call it from one thread
 * at a time per cohort handle. */
sl_status sl_cohort_read_chunks(struct sl_cohort *c, int col, const int64_t *chunks, int64_t n,
                                void *const *dst, const size_t *dst_size);

/* Decrypts every chunk of every column and reports the first failure
 * (column name and chunk index in the message). Used by `sluice inspect --key`. */
sl_status sl_cohort_verify(struct sl_cohort *c);

#endif
