/*
 * ledger.h: the release ledger, the gate's memory of what has left.
 *
 * One table on its own can pass every rule and still disclose in
 * combination with an earlier one: two counts of the same breakdown over
 * populations that differ by three patients describe those three patients.
 * The ledger records every released table per cohort (file UUID) and project,
 * and the gate refuses a new table whose population (its total number of
 * patients) differs from an earlier released one's by 1 to
 * min_safe_count - 1 patients under a different filter (or its count
 * within a combination of the levels of the dimensions both tables show,
 * where one filter nests in the other by its conjuncts), or one that
 * cuts a numeric column (bands, histogram bins, a filter's bounds) at
 * points that leave 1 to min_safe_count - 1 patients between its ends and
 * an earlier table's (rule "differencing", scope "table": the output fails
 * as a whole and the reason names the earlier job; it never states the
 * difference). See sl_ledger_conflict.
 *
 * Only what is actually released is recorded: outputs that pass, when the
 * job is released, and held outputs when reviewers approve them (the review
 * checks them against the ledger again at that moment).
 *
 * Storage: <ledger_dir>/release/<cohort-uuid>/<project>.json, one JSON
 * document {"format":2, "cohort":..., "project":..., "sequence":N,
 * "entries":[...], "mac":...}, each
 * entry {"job_id", "output", "analysis", "dimensions":[{name, levels}],
 * "filter" (canonical text, "" for none), "population", "cells":[n...],
 * "recorded"}, with "margins": true for tables with margins and, on a
 * dimension of intervals of a column, "column", "ends":[[value, closed]...]
 * and "upper":[end index per level] (table.h's struct sl_intervals), and
 * "conjuncts" and "ranges" of its filter (sl_ledger_entry_filter); a privacy charge (dp.h) is an entry with a null population,
 * no cells and "privacy": {mechanism, rho, ...}. The project part of the name is "p_<project>" for names of
 * letters, digits, '.', '_', '-' (else "h_" and a hash), "none" without a
 * project. Operator-only: directories 0700, files 0600. Crash-safe: the
 * whole document is written to a temporary file, fsynced and renamed over
 * the old one (then the directory is fsynced); an exclusive flock on
 * <project>.lock is held from open (or sl_ledger_relock) to close (or
 * sl_ledger_unlock), so a check and the record that follows it are atomic
 * with respect to other jobs and reviews.
 *
 * Integrity: "mac" is HMAC-SHA-256, under a key derived from the audit key
 * (label "ledger"), of the rest of the document in canonical form (compact,
 * keys sorted), and "sequence" counts the commits. A ledger whose MAC does
 * not match is refused (SL_ERR_INTEGRITY), so nothing is released against
 * an edited ledger. Every commit is audited with its sequence and MAC
 * (sl_ledger_state), so a ledger deleted, or replaced by an older copy of
 * itself, is refused by the next job or review against the log's last
 * record of it (sl_ledger_check_audited), and `sluice audit verify --ledger
 * DIR` finds it too.
 */
#ifndef SL_ENGINE_LEDGER_H
#define SL_ENGINE_LEDGER_H

#include <jansson.h>
#include <stdint.h>

#include "engine/audit.h"
#include "engine/core/status.h"
#include "engine/rules.h"
#include "engine/table.h"

struct sl_ledger;
struct sl_filter_conjunct; /* engine/filter.h */
struct sl_filter_range;

/* The ledger entry of a gated table, before any mitigation (its population
 * and cell counts are the true ones). `filter` is the canonical filter text
 * or NULL. The population is the sum of the interior cells of tabulating
 * analyses; other outputs get a null population and are never compared.
 * *out is a new reference. SL_ERR_NOMEM. Not collective. */
sl_status sl_ledger_entry(const struct sl_table *t, const char *job_id, const char *filter,
                          json_t **out);

/* Adds to `entry` what the differencing rule reads of its job's filter
 * (filter.h): "conjuncts", its top-level conjuncts (sl_filter_conjuncts)
 * as [{"text", "bounds": column of a range comparison}], empty for no
 * filter, and "ranges", the ranges they keep of numeric and date columns
 * (sl_filter_ranges) as [{"column", "from", "to"}], ends [value, closed]
 * or null, none when nr is 0. SL_ERR_NOMEM. */
sl_status sl_ledger_entry_filter(json_t *entry, const struct sl_filter_conjunct *c, int nc,
                                 const struct sl_filter_range *r, int nr);

#define SL_LEDGER_FORMAT 2

/* Opens (creating directories and files as needed) and locks the ledger of
 * cohort `uuid` and `project` (NULL: none) under `ledger_dir`, and checks
 * its MAC under `key` (32 bytes, secret, copied: sl_kek_derive of the audit
 * key with label "ledger"). Blocks until the lock is free. SL_ERR_IO,
 * SL_ERR_INTEGRITY (the file is not a ledger of this format, or its MAC does
 * not match), SL_ERR_NOMEM. Rank 0 only; not collective. */
sl_status sl_ledger_open(const char *ledger_dir, const char *uuid, const char *project,
                         const unsigned char key[32], struct sl_ledger **out);

/* Releases the lock of an open ledger and keeps the ledger, for
 * sl_ledger_relock or sl_ledger_close; what it holds may go stale
 * meanwhile. SL_ERR_IO. Not collective. */
sl_status sl_ledger_unlock(struct sl_ledger *l);

/* Locks the ledger again (blocks until the lock is free) and reads the
 * file anew, as sl_ledger_open does: when its bytes are those last read or
 * committed (SHA-256 compared) the document in memory stays, its MAC
 * checked on those bytes already; otherwise the file is parsed and its MAC
 * checked, and changes not committed are dropped. A job checks its ledger
 * when it starts and again, under the lock, at the release: the second
 * look costs a read and a hash unless another job or review committed in
 * between. SL_ERR_IO, SL_ERR_INTEGRITY, SL_ERR_NOMEM. Not collective. */
sl_status sl_ledger_relock(struct sl_ledger *l);

/* Takes the ledger `name` (its path under `ledger_dir`, as sl_ledger_list
 * gives it) from format 1 (sluice before ledgers had MACs: no sequence, no
 * mac) into this format: checks its form (cohort, project, entries) and
 * that it lies where its cohort and project put it, then, under its lock,
 * commits it with sequence 1 and a MAC under `key`. The operator vouches
 * for the content: nothing in a format-1 ledger could tell an edit. *out is
 * the open ledger, for the caller to audit (sl_ledger_state) and close.
 * SL_ERR_INTEGRITY when it is not a format-1 ledger ("adopted already" for
 * this format) or lies elsewhere, SL_ERR_IO, SL_ERR_NOMEM. Not collective. */
sl_status sl_ledger_adopt(const char *ledger_dir, const char *name, const unsigned char key[32],
                          struct sl_ledger **out);

/* Adds to the object `names` (as keys, values true) the path under
 * `ledger_dir` of every ledger file there: release/<cohort>/<project>.json.
 * No ledger yet is not an error. SL_ERR_ARG (a path too long), SL_ERR_NOMEM. */
sl_status sl_ledger_list(const char *ledger_dir, json_t *names);

/* The earliest recorded entry that `entry` may not be released beside,
 * into *hit (NULL when none; borrowed, valid until the ledger changes):
 * - population: a table of another job under a different filter whose
 *   population differs from entry's by 1 .. min_safe_count-1 patients, or,
 *   where one filter keeps only patients the other keeps by their
 *   "conjuncts" and "ranges" (sl_ledger_entry_filter), whose count within
 *   a combination of the levels of the dimensions both tables share (same
 *   name, levels and interval ends; each table summed over its other
 *   dimensions, margins left out) does;
 * - slivers: a table (of any job, this one's earlier outputs too) under
 *   the same filter but for its bounds of a numeric column (the same text,
 *   the same "conjuncts" besides its bounds, sl_ledger_entry_filter, or,
 *   neither bounding it, the same population) that cuts
 *   that column at other points (intervals of the column: bands, histogram
 *   bins, "ends" and "upper" of a dimension; or its filter's bounds,
 *   "ranges"; one of the two tables with intervals), where two
 *   neighbouring ends, one of each table, leave 1 .. min_safe_count-1
 *   patients between them, counted from the nearest end both tables have
 *   (or either infinity), in all or in any combination of the levels of
 *   the dimensions both tables share.
 * `why` (cap bytes) receives the reason on a hit, naming the entry but
 * never the difference. SL_ERR_NOMEM. Not collective. */
sl_status sl_ledger_conflict(const struct sl_ledger *l, const json_t *entry,
                             int64_t min_safe_count, const json_t **hit, char *why, size_t cap);

/* Judges `t` (already through sl_gate_evaluate) against the ledger: adds the
 * verdict "differencing" (pass, or fail for every cell, scope "table") for
 * tabulating analyses. `entry` from sl_ledger_entry. SL_ERR_NOMEM. */
sl_status sl_ledger_judge(const struct sl_ledger *l, struct sl_table *t, const json_t *entry,
                          const struct sl_rules *rules);

/* Adds `entry` (copied, with the time recorded) unless an entry with the same
 * job id and output is there already. In memory until sl_ledger_commit. */
sl_status sl_ledger_record(struct sl_ledger *l, const json_t *entry);

/* Removes every entry of `job_id` (a release that did not happen) except
 * its privacy charges: their noise was drawn. */
void sl_ledger_forget(struct sl_ledger *l, const char *job_id);

/* The sum of the privacy charges recorded (entries with "privacy", whose
 * "rho" is a decimal: dp.h), in units of 1/SL_DP_UNITS. SL_ERR_INTEGRITY
 * when a charge is malformed. Not collective. */
sl_status sl_ledger_privacy_spent(const struct sl_ledger *l, int64_t *units);

/* Writes the ledger durably (temporary file, fsync, rename, fsync of the
 * directory), with its sequence advanced and its MAC renewed. SL_ERR_IO,
 * SL_ERR_NOMEM. */
sl_status sl_ledger_commit(struct sl_ledger *l);

/* What the audit log keeps of the ledger after a commit: {"ledger": path
 * under the ledger directory, "ledger_dir": that directory resolved,
 * "sequence", "ledger_mac"} (a new reference,
 * NULL when out of memory). Nothing in it is secret. */
json_t *sl_ledger_state(const struct sl_ledger *l);

/* Compares the open ledger with the last commit of it that the audit log
 * `a` recorded (its newest "ledger" event naming it): SL_ERR_INTEGRITY when
 * the ledger is behind that commit (rolled back to an earlier copy, or
 * deleted and begun again) or has its sequence with another MAC (a copy
 * that went its own way). A ledger ahead of the record (a commit whose
 * event a crash lost, or another job's commit not yet audited) passes, as
 * does one the log never recorded (*note then says so, else NULL; static
 * text). The log's lines after that record are checked on the way (MAC,
 * chain: sl_audit_find_last); those before it are `sluice audit verify`'s.
 * SL_ERR_INTEGRITY also for a log that fails those checks; SL_ERR_IO,
 * SL_ERR_NOMEM. Not collective. */
sl_status sl_ledger_check_audited(const struct sl_ledger *l, const struct sl_audit *a,
                                  const char **note);

/* Reads the ledger file at `path` and checks its format and MAC under
 * `key` (as sl_ledger_open does, without locking or creating anything):
 * *sequence and mac (64 hex digits) are the file's. SL_ERR_INTEGRITY when
 * it is missing, unreadable, not a ledger or its MAC does not match;
 * SL_ERR_NOMEM. Not collective. */
sl_status sl_ledger_check_file(const char *path, const unsigned char key[32], int64_t *sequence,
                               char mac[65]);

/* Loads the key file `key_path` (the audit key: the policy's
 * audit_key_file, else its key_file), opens the audit log `log` under its
 * "audit" sub-key, gives it the witness `witness` (the policy's
 * paths.audit_witness; NULL: none) and derives the ledger key (sub-key
 * "ledger"; secret, the caller wipes it). Errors of sl_kek_load,
 * sl_audit_open and sl_audit_set_witness. Rank 0 only. */
sl_status sl_ledger_audit_open(const char *key_path, const char *log, const char *witness,
                               struct sl_audit **audit, unsigned char ledger_key[32]);

/* Number of entries (for tests and messages). */
int64_t sl_ledger_size(const struct sl_ledger *l);

/* Unlocks and frees. NULL-safe; uncommitted changes are dropped. */
void sl_ledger_close(struct sl_ledger **l);

#endif
