# shellcheck shell=bash
# Shared helpers for the Slurm tests (sourced, not run). Needs SLURM_CONF
# (the test cluster's slurm.conf), SL_BIN (build/bin) and SL_SOURCE (the
# source tree). Every test works in its own directory, readable by all so
# that jobs and `nobody` can reach it; jobs it submits are cancelled on exit.
set -euo pipefail

# The cluster's configuration is the only Slurm setting taken from outside:
# a test run inside a Slurm job must not pass that job's SLURM_* variables on.
for v in $(compgen -v SLURM_); do
  [ "$v" = SLURM_CONF ] || unset "$v"
done
: "${SLURM_CONF:?SLURM_CONF must name the test cluster (slurm/sluice-cluster start)}"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-slurm.XXXXXX")
chmod 755 "$WORK"
: >"$WORK/.jobs"
: >"$WORK/.remove"
cleanup() {
  local ids
  ids=$(cat "$WORK/.jobs" 2>/dev/null || true)
  if [ -n "$ids" ]; then
    # shellcheck disable=SC2086
    scancel $ids 2>/dev/null || true
  fi
  while read -r path; do
    rm -rf -- "$path"
  done <"$WORK/.remove"
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
# shellcheck disable=SC2034 # used by the tests that source this
HOST=$(hostname -s)

fail() { echo "FAIL: $*" >&2; exit 1; }

# remove_on_exit PATH: PATH (outside $WORK) is removed when the test ends.
remove_on_exit() { echo "$1" >>"$WORK/.remove"; }

# submit SBATCH_ARGS...: submits with --parsable, prints the job id and
# remembers it for cleanup. sbatch's stderr goes to $WORK/submit.err.
submit() {
  local id
  id=$(sbatch --parsable "$@" 2>"$WORK/submit.err") || return $?
  id=${id%%;*}
  echo "$id" >>"$WORK/.jobs"
  echo "$id"
}

# job_state ID: the job's state, or GONE once the controller forgot it.
job_state() {
  local s
  s=$(squeue -h -j "$1" -o %T 2>/dev/null || true)
  echo "${s:-GONE}"
}

# wait_for SECONDS CMD...: retries CMD every 0.2 s until it succeeds.
wait_for() {
  local tries=$(( $1 * 5 )); shift
  until "$@"; do
    (( tries-- > 0 )) || return 1
    sleep 0.2
  done
}

# A link named `sluice` to the enclave probe: job_submit.lua sees a sluice
# job, and the probe prints the enclave check's decision.
probe_as_sluice() {
  mkdir -p "$WORK/bin"
  ln -sf "$SL_BIN/sl_enclave_probe" "$WORK/bin/sluice"
  echo "$WORK/bin/sluice"
}

# policy FILE [YAML lines...]: a minimal policy; the lines add or set keys.
policy() {
  local file=$1; shift
  {
    echo "version: 1"
    echo "cohorts: [{path: cohort.h5, users: [\"*\"]}]"
    printf '%s\n' "$@"
  } >"$file"
  grep -q '^enclave:' "$file" || echo "enclave: {partitions: [enclave]}" >>"$file"
}
