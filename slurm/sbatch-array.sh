#!/bin/bash
#
# sbatch-array.sh: several sluice jobs as one Slurm job array.
#
#   mkdir -p logs
#   sbatch --array=1-$(wc -l <jobs.txt) sbatch-array.sh jobs.txt [POLICY.yaml]
#
# jobs.txt lists one job file per line; array task i runs line i (blank
# lines and lines starting with # are skipped by numbering only the others).
# Every task is its own Slurm job with its own id, so its results appear in
# the policy's released/ directory under slurm-<task's job id>, and each
# passes the release gate on its own: the gate's differencing ledger sees
# the tasks' outputs one after the other, as if submitted separately.
# Add %N to --array (e.g. --array=1-20%4) to run at most N tasks at once.
#
#   --partition  an enclave partition named in the policy
#   --ntasks     MPI ranks per task
#   --output     %A is the array's job id, %a the task index
#
#SBATCH --job-name=sluice-array
#SBATCH --partition=enclave
#SBATCH --ntasks=2
#SBATCH --time=01:00:00
#SBATCH --mem=4G
#SBATCH --output=logs/%x-%A_%a.out
#SBATCH --error=logs/%x-%A_%a.err

set -eu
LIST=${1:?usage: sbatch --array=1-N sbatch-array.sh JOBS.txt [POLICY.yaml]}
POLICY=${2:-${SLUICE_POLICY:-/etc/sluice/policy.yaml}}
: "${SLURM_ARRAY_TASK_ID:?submit with sbatch --array=1-N}"

JOB=$(grep -v -e '^[[:space:]]*$' -e '^[[:space:]]*#' "$LIST" | sed -n "${SLURM_ARRAY_TASK_ID}p")
if [ -z "$JOB" ]; then
  echo "sbatch-array.sh: $LIST has no job file number $SLURM_ARRAY_TASK_ID" >&2
  exit 1
fi

srun --mpi=pmix sluice run --policy "$POLICY" "$JOB"
