#!/bin/bash
#
# sbatch-gpu.sh: one sluice job on GPU ranks, under Slurm.
#
#   mkdir -p logs && sbatch sbatch-gpu.sh JOB.yaml [POLICY.yaml]
#
# As sbatch-cpu.sh, with one GPU per rank: --gres=gpu:N gives the job N GPUs
# on each node and srun binds one to each rank (--gpus-per-task=1 sets
# CUDA_VISIBLE_DEVICES per rank). `sluice run --backend gpu` asks for the
# GPU backend whatever the job file says; leave the option out to let the
# job file's `backend:` (default auto) decide. GPU results match the CPU
# reference within each kernel's stated tolerance; exact counts, and
# everything the release gate decides on, are identical.
#
#   --partition  an enclave partition with GPU nodes, named in the policy
#   --ntasks     MPI ranks, one per GPU; keep equal to the gpu count per node
#                times the number of nodes
#   --gres       gpu:N per node (Slurm's GresTypes=gpu must be configured)
#
#SBATCH --job-name=sluice-gpu
#SBATCH --partition=enclave
#SBATCH --nodes=1
#SBATCH --ntasks=2
#SBATCH --gres=gpu:2
#SBATCH --time=01:00:00
#SBATCH --mem=16G
#SBATCH --output=logs/%x-%j.out
#SBATCH --error=logs/%x-%j.err

set -eu
JOB=${1:?usage: sbatch sbatch-gpu.sh JOB.yaml [POLICY.yaml]}
POLICY=${2:-${SLUICE_POLICY:-/etc/sluice/policy.yaml}}

srun --mpi=pmix --gpus-per-task=1 sluice run --backend gpu --policy "$POLICY" "$JOB"
