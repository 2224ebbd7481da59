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
 * Not collective: only rank 0 writes the log.
 * New directories get mode 0700; LOG, LOG.head (seq 0) and LOG.lock are
 * created 0600 when missing. The log's last line is checked against the head
 * (MAC, seq, hash); a head one line behind (crash between line and head) is
 * rewritten. SL_ERR_ARG (NULL or empty path, NULL key), SL_ERR_IO,
 * SL_ERR_INTEGRITY (last line bad or partial, head missing beside a
 * non-empty log, log and head disagree), SL_ERR_NOMEM. *out is NULL on
 * failure; close with sl_audit_close. */
sl_status sl_audit_open(const char *path, const unsigned char key[32], struct sl_audit **out);

/* Appends one event. `fields` is borrowed (may be NULL); its keys must not be
 * seq, time, event, prev or mac. Crash-safe: the line is durable on return.
 * Safe against other processes appending to the same log at the same time;
 * chains onto the log's actual last line, re-read under the lock. A line may
 * be at most 1 MiB. SL_ERR_ARG (reserved key, fields not an object, event
 * empty or not UTF-8, line too long), SL_ERR_INTEGRITY (the log's tail and
 * head disagree: nothing is written), SL_ERR_IO, SL_ERR_NOMEM. */
sl_status sl_audit_append(struct sl_audit *a, const char *event, const json_t *fields);

void sl_audit_close(struct sl_audit **a);

/* The witness of the log `a` has open: from now on every appended line's
 * anchor "LINE:SHA256" (its number and the SHA-256 of its bytes, as
 * `sluice audit verify` prints the head) is appended to the file `path`
 * (created 0600 when missing) once the line is durable, and before this
 * call returns and before every append the log must still hold the line the
 * witness names last, unchanged. Kept on storage this machine can only
 * append to, the witness shows a log rolled back together with its head,
 * or rewritten with the key, which nothing beside the log can. A missing or
 * empty witness is accepted only for an empty log (sl_audit_witness_add
 * starts one for a verified log). SL_ERR_INTEGRITY (rolled back, rewritten,
 * missing beside a non-empty log, malformed), SL_ERR_IO, SL_ERR_NOMEM. */
sl_status sl_audit_set_witness(struct sl_audit *a, const char *path);
/* Parses an anchor "LINE:SHA256" of n bytes (LINE >= 1, 64 hex digits in
 * either case); returns 0, or -1 when malformed. */
int sl_audit_anchor_parse(const char *s, size_t n, int64_t *line, unsigned char hash[32]);
/* The witness file's last anchor; *present is 0 when the file is missing or
 * empty. SL_ERR_INTEGRITY for a partial or malformed last line, SL_ERR_IO. */
sl_status sl_audit_witness_last(const char *path, int64_t *line, unsigned char hash[32],
                                int *present);
/* Appends the anchor LINE:SHA256 to the witness file (created 0600) and
 * syncs it. SL_ERR_IO. */
sl_status sl_audit_witness_add(const char *path, int64_t line, const unsigned char hash[32]);
/* The newest line of the log `a` has open whose "event" is `event` and that
 * has every member of the object `match` with an equal value: *entry is
 * that line without its "mac" (a new reference) and *seq its seq; NULL and 0
 * when no line matches. Reads the log backwards from its end as it was when
 * called, so the cost is that of the lines after the match (about 1 us a
 * line: only lines that may match are parsed). The newest line is checked
 * in full (form, MAC); each older one must hash to the "prev" of the line
 * after it and carry the seq before it, so the newest line's MAC vouches
 * for them all, and a line removed, added or replaced after the match is
 * found; the match itself is checked in full too. The lines before the
 * match are sl_audit_verify's to check. A log rolled back
 * together with its head to an older copy is consistent and not found: that
 * needs a record kept outside the log. SL_ERR_INTEGRITY (a line not
 * canonical, a bad MAC, a broken chain, a line longer than the limit, a
 * partial last line), SL_ERR_IO, SL_ERR_NOMEM. Not collective. */
sl_status sl_audit_find_last(const struct sl_audit *a, const char *event, const json_t *match,
                             json_t **entry, int64_t *seq);

/* Verifies the whole log. SL_OK and *nlines when intact; SL_ERR_INTEGRITY with
 * *bad_line (1-based) and a message saying what is wrong (bad MAC, broken
 * chain, sequence gap, truncated against the head, unparsable line).
 * Also: "edited line" for a line not in canonical form, "partial" for a last
 * line without its newline. *bad_line is 0 when the fault is in LOG.head
 * itself (missing beside a non-empty log, malformed, bad MAC). For a
 * truncated log *bad_line is the first missing line. A log exactly one line
 * ahead of its head is intact (crash between line and head update). Streams
 * the log; reads a consistent snapshot under a shared lock when LOG.lock
 * exists. *nlines is 0 and *bad_line 0 unless set as above; either may be
 * NULL. SL_ERR_IO when neither LOG nor LOG.head exists. Not collective. */
sl_status sl_audit_verify(const char *path, const unsigned char key[32], int64_t *nlines,
                          int64_t *bad_line);

/* Called with every line that sl_audit_verify_each has checked, in order:
 * its 1-based number, the entry (borrowed, without its "mac") and the
 * SHA-256 of the line's bytes (what the next line's "prev" names; the last
 * line's is the log's head). A status other than SL_OK stops the
 * verification and is returned. */
typedef sl_status sl_audit_visit_fn(void *ctx, int64_t line, const json_t *entry,
                                    const unsigned char hash[32]);

/* sl_audit_verify, calling visit(ctx, ...) for each line as it is checked
 * (visit may be NULL). A line is visited only once its MAC and chain are
 * good; the log's end is checked against the head after the last visit, so
 * a caller acts on what it collected only when this returns SL_OK. */
sl_status sl_audit_verify_each(const char *path, const unsigned char key[32],
                               sl_audit_visit_fn *visit, void *ctx, int64_t *nlines,
                               int64_t *bad_line);

#endif
