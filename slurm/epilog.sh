#!/usr/bin/env bash
#
# epilog.sh: Slurm node epilog that wipes the node-local scratch a sluice job
# may have used.
#
# Why: sluice keeps plaintext in locked memory and never writes it to disk,
# but a job may still leave files in node-local scratch (MPI or HDF5 spill,
# core files of a crashed helper, whatever a site's own wrapper writes). On
# an enclave node nothing of one job may be left for the next. slurmd runs
# this script as root on every node of a job when the job ends.
#
# slurm.conf:   Epilog=/path/to/sluice/slurm/epilog.sh
#               (the file must be executable and owned by root)
#
# What it removes, for job id J (SLURM_JOB_ID, digits only, or nothing is
# done): every directory named in SCRATCH_PATTERNS below with %j replaced by
# J, e.g. /tmp/sluice-J and /dev/shm/sluice-J. A site that gives jobs a private
# scratch directory under another base (for example a per-job SLURM_TMPDIR of
# /local/scratch/J) adds its pattern there, or sets SLUICE_EPILOG_PATTERNS
# (space-separated) in slurmd's environment.
#
# Safety:
#   - only absolute paths whose last component contains the job id, with no
#     `..` component, are considered;
#   - a symbolic link in place of a directory is removed as a link; its target
#     is never followed or touched;
#   - `rm --one-file-system` never crosses into another file system mounted
#     inside the directory;
#   - the parent of each directory must exist and be a real directory (not a
#     link), so a renamed or redirected base is left alone.
#
# Exit status: 0 when every directory is gone (or never existed). Non-zero
# when one is still there after the attempt; Slurm then drains the node, so
# an operator looks at it before another job lands on leftover data.

set -uo pipefail

SCRATCH_PATTERNS=${SLUICE_EPILOG_PATTERNS:-"/tmp/sluice-%j /dev/shm/sluice-%j"}

job="${SLURM_JOB_ID:-}"
[[ "$job" =~ ^[0-9]+$ ]] || exit 0

status=0
for pattern in $SCRATCH_PATTERNS; do
    path="${pattern//%j/$job}"
    case "$path" in
        /*) ;;
        *) echo "sluice epilog: ignoring relative pattern '$pattern'" >&2; continue ;;
    esac
    case "/$path/" in
        */../*|*/./*) echo "sluice epilog: ignoring pattern '$pattern' with . or .." >&2; continue ;;
    esac
    [[ "${path##*/}" == *"$job"* ]] || { echo "sluice epilog: ignoring pattern '$pattern' without %j in its last component" >&2; continue; }
    parent="${path%/*}"
    [[ -n "$parent" ]] || parent=/
    [[ -d "$parent" && ! -L "$parent" ]] || continue
    if [[ -L "$path" ]]; then
        rm -f -- "$path"
    elif [[ -e "$path" ]]; then
        rm -rf --one-file-system -- "$path"
    fi
    if [[ -e "$path" || -L "$path" ]]; then
        echo "sluice epilog: job $job: could not remove $path" >&2
        status=1
    fi
done
exit "$status"
