/*
 * gz_impl.h: reading a gzip-compressed export as the text it holds.
 *
 * Exports arrive compressed (`Observation.ndjson.gz`, `person.csv.gz`); the
 * readers of io/ know such a file by its first two bytes (gzip's magic) and
 * take its text from here instead of read(2). zlib's state and its window
 * hold recent plaintext, so they live in a secret arena, and the compressed
 * bytes in a secret buffer; everything is wiped at close. A file of several
 * members (written in parts) reads as their texts one after the other.
 *
 * Errors name the file, never its content: a truncated file, a corrupt one
 * (with the compressed offset), a read failure.
 */
#ifndef SL_IO_GZ_IMPL_H
#define SL_IO_GZ_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/status.h"

struct sl_gz;

/* 1 when the file open on fd starts with gzip's magic bytes (read with
 * pread: the file position is left as it was). */
int sl_gz_magic(int fd);

/* Starts inflating the file open on fd from its current position (the
 * caller keeps the fd and closes it after sl_gz_close); `path` (borrowed,
 * kept for messages) names it. SL_ERR_NOMEM. */
sl_status sl_gz_open(const char *path, int fd, struct sl_gz **out);

/* Up to `cap` more bytes of the text into dst; *k 0 at its end.
 * SL_ERR_FORMAT for a corrupt or truncated file, SL_ERR_IO. */
sl_status sl_gz_read(struct sl_gz *gz, char *dst, size_t cap, size_t *k);

/* Compressed bytes the text read so far came from (for progress against the
 * file's size). */
int64_t sl_gz_consumed(const struct sl_gz *gz);

/* Back to the start of the file (lseek to 0) and of its text. SL_ERR_IO. */
sl_status sl_gz_restart(struct sl_gz *gz);

/* Wipes and frees; NULL-safe, NULLs *gz. The fd stays open. */
void sl_gz_close(struct sl_gz **gz);

#endif
