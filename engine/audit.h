/*
 * audit.h: the tamper-evident audit log.
 *
 * Append-only JSON lines. Each line is one object:
 *   {"seq":N,"time":"...Z","event":"...", ...fields..., "prev":"<hex sha256
 *    of the previous line's bytes, or 64 zeros>","mac":"<hex HMAC-SHA-256
 *    over the line without its mac field, keyed with the audit key>"}
 * Beside LOG, LOG.head holds the last seq and line hash under the same MAC
 * (replaced by atomic rename), so cutting lines off the end is detected too.
 * Appends take an exclusive lock (flock on LOG.lock), write, fsync the line,
 * then update the head. Nothing secret is ever written: fields carry ids,
 * hashes and statuses, never values or keys.
 */
#ifndef SL_ENGINE_AUDIT_H
#define SL_ENGINE_AUDIT_H

#include <jansson.h>
#include <stdint.h>

#include "engine/core/status.h"

struct sl_audit;

/* Opens (creating, with parent directories, mode 0600) the log at `path`.
 * `key` (32 bytes, secret, copied) is the audit MAC key derived from the KEK.
 * Not collective: only rank 0 writes the log. */
sl_status sl_audit_open(const char *path, const unsigned char key[32], struct sl_audit **out);

/* Appends one event. `fields` is borrowed (may be NULL); its keys must not be
 * seq, time, event, prev or mac. Crash-safe: the line is durable on return. */
sl_status sl_audit_append(struct sl_audit *a, const char *event, const json_t *fields);

void sl_audit_close(struct sl_audit **a);

/* Verifies the whole log. SL_OK and *nlines when intact; SL_ERR_INTEGRITY with
 * *bad_line (1-based) and a message saying what is wrong (bad MAC, broken
 * chain, sequence gap, truncated against the head, unparsable line). */
sl_status sl_audit_verify(const char *path, const unsigned char key[32], int64_t *nlines,
                          int64_t *bad_line);

#endif
