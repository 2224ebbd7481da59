/*
 * format.h: the sluice encrypted cohort format, version 1.
 *
 * One HDF5 file per cohort. Everything below except the chunk payloads is
 * plain HDF5 metadata, readable with h5dump/h5ls without a key.
 *
 *   /                          root group, attributes:
 *     sluice_format    uint32  format version (SL_FORMAT_VERSION)
 *     sluice_uuid      string  32 lowercase hex digits, fresh per file
 *     sluice_rows      int64   rows in every column of /patients
 *     sluice_chunk_rows int64  rows per chunk (last chunk may be short)
 *     sluice_kek_id    string  16 hex digits: fingerprint of the wrapping KEK
 *     sluice_wrapped_dek opaque 40 bytes: DEK wrapped with AES-256 key wrap
 *                              (RFC 3394) under the KEK's wrapping sub-key
 *                              (HKDF label "dek-wrap", see keys.h)
 *     sluice_created   string  ISO 8601 UTC time of ingest
 *   /patients                  group: one row per patient
 *     <column>                 1-D dataset, chunked by sluice_chunk_rows,
 *                              filter SL_FILTER_ID mandatory in its pipeline,
 *                              attributes:
 *       sluice_type   string  id | integer | real | categorical | date
 *       sluice_class  string  identifier | quasi | sensitive | other
 *       sluice_index  int32   column position (0-based)
 *       sluice_levels string[] category labels (categorical only), code i
 *                              is label i
 *       sluice_lower, sluice_upper  double  public bounds (optional)
 *
 * Each value dataset is 1-D, extensible, chunked by sluice_chunk_rows, with
 * fill time "never" and incremental allocation; its HDF5 element type is
 * opaque(32, tag "sluice pseudonym (HMAC-SHA-256)") for id, H5T_STD_I64LE for
 * integer, H5T_IEEE_F64LE for real and H5T_STD_I32LE for categorical and date.
 * Its pipeline holds filter SL_FILTER_ID, mandatory, with one client value:
 * the format version. Every stored chunk has filter mask 0. String attributes
 * are UTF-8, fixed length and NUL terminated, except sluice_levels (variable
 * length). sluice_wrapped_dek is opaque(40, tag "sluice data key (AES-256 key
 * wrap)"). Files are written with library version bounds 1.8 to 1.10, so
 * HDF5 1.10 tools read them.
 *
 * Element types in memory and inside each sealed chunk (little endian):
 *   id           32 bytes, HMAC-SHA-256 pseudonym of the source identifier
 *   integer      int64,  missing = SL_INT_MISSING
 *   real         double, missing = NaN
 *   categorical  int32 code, missing = SL_CAT_MISSING
 *   date         int32 days since 1970-01-01, missing = SL_DATE_MISSING
 *
 * A stored chunk is   ciphertext(len) || tag(16)   where len is the
 * plaintext length: rows_in_chunk * element size. The AES-256-GCM nonce is
 * 12 bytes: column index (uint32 big endian) || chunk index (uint64 big
 * endian); the DEK is fresh per file and every (column, chunk) is sealed once,
 * so no nonce repeats under a key. The additional data is
 *   "sluice-chunk" || version(u32 BE) || uuid(16 raw bytes) ||
 *   dataset path (bytes, then one 0 byte) || chunk index (u64 BE) ||
 *   plaintext length (u64 BE)
 * so a chunk that is moved, swapped, copied from another file or cut short
 * fails authentication.
 */
#ifndef SL_IO_FORMAT_H
#define SL_IO_FORMAT_H

#include <stdint.h>

#define SL_FORMAT_VERSION 1u
#define SL_FORMAT_MIN_VERSION 1u
#define SL_FILTER_ID 32100     /* HDF5 filter id stamped in every value dataset */
#define SL_TABLE_PATIENTS "/patients"
#define SL_DEFAULT_CHUNK_ROWS 65536
#define SL_MAX_CHUNK_ROWS (1 << 24) /* keeps a sealed chunk under 1 GiB */

#define SL_ID_BYTES 32
#define SL_GCM_TAG_BYTES 16
#define SL_GCM_NONCE_BYTES 12
#define SL_KEY_BYTES 32
#define SL_WRAPPED_KEY_BYTES 40

#define SL_INT_MISSING INT64_MIN
#define SL_CAT_MISSING (-1)
#define SL_DATE_MISSING INT32_MIN

#endif
