#!/bin/bash
#
# sbatch-cpu.sh: one sluice job on CPU ranks, under Slurm.
#
#   mkdir -p logs && sbatch sbatch-cpu.sh JOB.yaml [POLICY.yaml]
#
# JOB.yaml is the researcher's job file; POLICY.yaml the centre's policy
# (default: $SLUICE_POLICY, else /etc/sluice/policy.yaml). `sluice submit
# JOB.yaml` writes an equivalent script from the job and policy for you;
# this template is for those who want to see and adjust every line.
#
#   --partition  an enclave partition named in the policy; sluice refuses to
#                unwrap keys anywhere else (the site's job_submit.lua also
#                routes sluice jobs there when no partition is given)
#   --ntasks     MPI ranks; results are identical whatever the number
#   --time       wall-clock limit; --mem per node
#   --output     logs/ must exist before the job starts (Slurm does not
#                create it); %x is the job name, %j the job id
#
# srun starts the ranks with PMIx (--mpi=pmix: Debian's Open MPI needs it).
# Results appear in the policy's released/ directory under slurm-<job id>.
#
#SBATCH --job-name=sluice-cpu
#SBATCH --partition=enclave
#SBATCH --ntasks=4
#SBATCH --time=01:00:00
#SBATCH --mem=4G
#SBATCH --output=logs/%x-%j.out
#SBATCH --error=logs/%x-%j.err

set -eu
JOB=${1:?usage: sbatch sbatch-cpu.sh JOB.yaml [POLICY.yaml]}
POLICY=${2:-${SLUICE_POLICY:-/etc/sluice/policy.yaml}}

srun --mpi=pmix sluice run --policy "$POLICY" "$JOB"
