/*
 * submit.h: `sluice submit`, a job file turned into a Slurm batch job.
 *
 * Researchers should not have to know the enclave's partition names or how
 * sluice is launched under Slurm. The policy knows the partition and the
 * default time limit, the job file knows its ranks, GPUs, time and memory;
 * this writes the batch script from both and hands it to sbatch on stdin.
 * The script holds paths and resource requests only, never a secret.
 */
#ifndef SL_ENGINE_SUBMIT_H
#define SL_ENGINE_SUBMIT_H

#include <stdbool.h>

#include "engine/config.h"
#include "engine/core/status.h"

/* What the script asks for besides the job and policy. */
struct sl_submit_opts {
    bool emergency;           /* request the policy's emergency partition */
    const char *user;         /* submitting user, for the emergency check */
    const char *sluice_path;  /* absolute path of the sluice binary to run */
    const char *logs_dir;     /* absolute directory for --output/--error */
};

/*
 * Writes the batch script for `job` under `policy` into *out (sl_malloc'd,
 * caller sl_free's): #SBATCH lines for the job name, partition (the
 * emergency partition with opts->emergency, else the policy's submit
 * partition), --ntasks (ranks), --time (job, else policy default), --mem
 * (when the job gives memory), --gres=gpu:N (when the job asks for GPUs),
 * --output/--error under opts->logs_dir; then
 *   srun --mpi=pmix SLUICE run --policy POLICY JOB
 * with absolute paths. Not collective. All arguments borrowed.
 * SL_ERR_DENIED when opts->emergency and the policy names no emergency
 * partition or does not list opts->user; SL_ERR_ARG when a path or value
 * cannot be written safely into the script (whitespace, quotes, '%' or
 * control characters where Slurm would misread them); SL_ERR_NOMEM.
 */
sl_status sl_submit_script(const struct sl_policy *policy, const struct sl_job *job,
                           const struct sl_submit_opts *opts, char **out);

/*
 * The command: sluice submit JOB.yaml [--dry-run] [--emergency] [--policy FILE]
 * (argv[0] is "submit"). The policy is FILE, else $SLUICE_POLICY, else
 * /etc/sluice/policy.yaml. --dry-run prints the script; otherwise the logs
 * directory (logs/ beside the job file) is created and `sbatch --parsable`
 * reads the script on stdin; its stderr passes through and the job id is
 * printed. Returns sbatch's exit code; 0 for --help and --dry-run; 1 for
 * any failure before sbatch (usage, job or policy errors, --emergency
 * refused), as sbatch does for a request it rejects.
 */
int sl_cmd_submit(int argc, char **argv);

#endif
