/*
 * review.h: `sluice review`, the human decision on outputs held for review.
 *
 * Outputs whose status is `review` (mitigated, dominance undefined, missing
 * values, analyses no rule covers) wait in the operator-only held/<job-id>/.
 * Reviewers vote on each:
 *
 *   sluice review list                      held outputs and their votes
 *   sluice review show JOB/OUTPUT           one output: rules, reasons,
 *                                           mitigation, cells, votes
 *   sluice review approve JOB/OUTPUT        an approval
 *   sluice review reject JOB/OUTPUT --reason TEXT
 *
 * Who votes. The reviewer is the *real* user id of the process (getuid),
 * never an option: install sluice for review so that it runs with the
 * effective uid of the service account that owns held/, the ledger and the
 * audit key (set-uid binary, or a wrapper), while the real uid stays the
 * person's. When the real uid is 0 and sudo started the command (SUDO_USER
 * and SUDO_UID name the same non-root account), the reviewer is SUDO_USER.
 * Each vote is recorded under that name and uid. One vote per distinct user:
 * voting again replaces the user's earlier vote, so the same user approving
 * twice counts once. The user who ran the job cannot vote on its outputs.
 *
 * What votes decide (per output, with R = the policy's reviewers_required,
 * default 2):
 *   pending     fewer than R approvals and no rejection
 *   released    R approvals from distinct users and no rejection: the
 *               output's files are copied into released/<job-id>/, its
 *               results.json entry there gets its values, evidence (unless
 *               mitigated) and checksums, report.html is rewritten, and the
 *               release is recorded in the differencing ledger
 *   rejected    rejections only: stays held
 *   conflicted  approvals and rejections: stays held
 *   blocked     approved, but the differencing ledger (checked again at
 *               release) refuses it: stays held
 * Failing outputs are never held and cannot be approved; a released output
 * takes no more votes.
 *
 * Every vote, release and block is an audit event (review_vote,
 * review_release, review_blocked), appended before the state changes. Votes
 * live in held/<job-id>/votes.json, rewritten atomically (temporary file,
 * fsync, rename) under an exclusive flock on held/<job-id>/.lock; every
 * release step is idempotent, so a vote repeated after a crash completes an
 * interrupted release.
 */
#ifndef SL_ENGINE_REVIEW_H
#define SL_ENGINE_REVIEW_H

#include <jansson.h>

#include "engine/audit.h"
#include "engine/core/status.h"

struct sl_reviewer {
    char name[64];
    long uid;
    int via_sudo;
};

/* Where held and released outputs, the ledger and the audit log are. */
struct sl_review_ctx {
    const char *held_dir;
    const char *released_dir;
    const char *ledger_dir;
    int reviewers_required;
    struct sl_audit *audit; /* borrowed; every vote is appended to it */
    const unsigned char *ledger_key; /* borrowed, secret, 32 bytes: MACs the release
                                        ledger (sl_ledger_open) */
};

/* The reviewer running this process (see above). SL_ERR_DENIED when the
 * real uid has no user name. Not collective. */
sl_status sl_review_identity(struct sl_reviewer *who);

/* Records `who`'s vote (approve != 0: approval; else rejection with
 * `reason`, required) on OUTPUT of JOB and releases the output when the
 * approvals suffice. *result (new reference) is {"state", "approvals":
 * [users], "rejections": [users], "required", "message"}.
 * SL_ERR_ARG (bad names, no such held output, missing reason, output
 * already released by the gate), SL_ERR_DENIED (failing output, the job's
 * own user, a vote on a released output that is not an approval),
 * SL_ERR_IO, SL_ERR_INTEGRITY (held file changed since the gate wrote it,
 * audit log), SL_ERR_NOMEM. Not collective. */
sl_status sl_review_vote(const struct sl_review_ctx *ctx, const char *job_id, const char *output,
                         const struct sl_reviewer *who, int approve, const char *reason,
                         json_t **result);

/* Every held output: [{"job_id", "output", "state", "approvals", "rejections",
 * "required", "votes"}], sorted by job id then output. SL_ERR_IO,
 * SL_ERR_NOMEM. */
sl_status sl_review_list(const struct sl_review_ctx *ctx, json_t **out);

/* The operator results.json entry of one held output with its votes added
 * ("votes", "state"). SL_ERR_ARG when there is no such output. */
sl_status sl_review_show(const struct sl_review_ctx *ctx, const char *job_id, const char *output,
                         json_t **out);

#endif
