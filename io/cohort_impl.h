/*
 * cohort_impl.h: names and helpers shared by the cohort writer and reader
 * (private to io/).
 *
 * The attribute names are the on-disk vocabulary of format.h; keeping them in
 * one place keeps the writer and the reader in step.
 */
#ifndef SL_IO_COHORT_IMPL_H
#define SL_IO_COHORT_IMPL_H

#include "io/cohort.h"

#define SL_ATTR_FORMAT "sluice_format"
#define SL_ATTR_UUID "sluice_uuid"
#define SL_ATTR_ROWS "sluice_rows"
#define SL_ATTR_CHUNK_ROWS "sluice_chunk_rows"
#define SL_ATTR_KEK_ID "sluice_kek_id"
#define SL_ATTR_WRAPPED_DEK "sluice_wrapped_dek"
#define SL_ATTR_CREATED "sluice_created"
#define SL_ATTR_TYPE "sluice_type"
#define SL_ATTR_CLASS "sluice_class"
#define SL_ATTR_INDEX "sluice_index"
#define SL_ATTR_LEVELS "sluice_levels"
#define SL_ATTR_LOWER "sluice_lower"
#define SL_ATTR_UPPER "sluice_upper"

#define SL_OPAQUE_TAG_ID "sluice pseudonym (HMAC-SHA-256)"
#define SL_OPAQUE_TAG_DEK "sluice data key (AES-256 key wrap)"

/* Longest column name in bytes, and most columns per table. */
#define SL_COL_NAME_MAX 255
#define SL_COLS_MAX 65536

/* Frees what a colinfo owns (name, levels) and zeroes it. NULL-safe. */
void sl_colinfo_clear(struct sl_colinfo *ci);

/* Checks that `name` can be a column (dataset) name: 1 to SL_COL_NAME_MAX
 * bytes, no '/', no control characters, not "." or "..". Returns 1 if so. */
int sl_colname_valid(const char *name);

#endif
