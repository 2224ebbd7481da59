/*
 * release.h: writing what the gate decided.
 *
 * For a job with id ID:
 *   <released>/ID/results.json   every output: status, per-rule and per-cell
 *                                verdicts, evidence, reasons, mitigation,
 *                                file checksums, the job and the policy in
 *                                force
 *   <released>/ID/report.html    the same for people (report.h)
 *   <released>/ID/<name>.csv     each passing output, ready for R and pandas
 *   <released>/ID/<name>.json    the same as JSON
 *   <held>/ID/...                when some output's status is review
 *                                (operator only, mode 0700): those outputs'
 *                                files, the operator copy of results.json
 *                                (values and full evidence of held and
 *                                passing outputs, each held output's ledger
 *                                entry) and the operator's report.html;
 *                                `sluice review` adds votes.json
 *
 * results.json ("format": 1) is {"format", "job", "policy", "outputs": [...]}
 * with one entry per output:
 *   name, analysis, spec (the analysis as written), status (the gate's:
 *   pass, review, fail), margins, dimensions [{name, levels}], location
 *   ("released", "held" or null), rules (every verdict: rule, status, scope,
 *   parameters, cells [per-cell status], evidence [per cell], reason),
 *   reasons ["rule: reason"], cells [{levels, status, rules [names of the
 *   rules that did not pass], mitigation (marker), n and stats (values, only
 *   where released)}], mitigation (mitigate.h), review ({required, state,
 *   approvals, ...} for held outputs), files [{name, sha256}], model.
 * Values never appear for failing outputs or withheld cells, and no evidence
 * of a failing cell appears anywhere. Per-cell evidence (an array) is shown
 * in released/ only for outputs released unmitigated, without its "private"
 * parts; table-level evidence (an object, e.g. of model rules, which quote
 * only what may be shown) is kept, without its "private" part. Values of
 * held outputs appear in released/ only once reviewers have released them.
 *
 * Each directory is written under a temporary name and renamed into place,
 * so a reader never sees half a release; an existing ID is never overwritten.
 */
#ifndef SL_ENGINE_RELEASE_H
#define SL_ENGINE_RELEASE_H

#include <jansson.h>

#include "engine/core/status.h"
#include "engine/table.h"

struct sl_release_info {
    const char *job_id;
    const char *released_dir;
    const char *held_dir;
    json_t *job;     /* borrowed: the job section of results.json */
    json_t *policy;  /* borrowed: the policy section */
    json_t *const *ledger_entries; /* borrowed, one per output (or NULL): kept with held
                                      outputs so that their release can be recorded */
    int reviewers_required;        /* approvals a held output needs */
};

/* Writes the release (rank 0 only, not collective). Every table must have
 * been through sl_gate_evaluate (and any mitigation). *results receives the
 * public results.json's content (new reference). SL_ERR_EXISTS if a directory
 * for the job id exists in either area (then nothing is written). */
sl_status sl_release_write(const struct sl_release_info *info, const struct sl_outputs *outs,
                           json_t **results);

/* The researcher-visible form of an operator results.json output entry (new
 * reference; see above for what is dropped). NULL when out of memory. */
json_t *sl_results_public_entry(const json_t *entry);

/* Replaces `path` durably: writes a temporary file beside it (mode `mode`),
 * fsyncs, renames it over `path` and fsyncs the directory. SL_ERR_IO. */
sl_status sl_write_atomic(const char *path, const char *text, unsigned int mode);

/* fsync of a directory (after a rename in it). SL_ERR_IO. */
sl_status sl_fsync_dir(const char *dir);

/* Writes `t`'s cells as CSV / JSON text to `f` (used by release and review). */
sl_status sl_table_write_csv(const struct sl_table *t, FILE *f);
json_t *sl_table_to_json(const struct sl_table *t);

/* Hex SHA-256 of a file (65 bytes with the NUL). */
sl_status sl_sha256_file(const char *path, char hex[65]);
void sl_sha256_hex(const unsigned char digest[32], char hex[65]);

/* mkdir -p with `mode` for created directories. */
sl_status sl_mkdirs(const char *path, unsigned int mode);

#endif
