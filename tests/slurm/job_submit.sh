#!/usr/bin/env bash
# slurm/job_submit.lua as documented: a sluice job without a partition is
# routed to the enclave; a sluice job on a non-enclave partition and a
# non-sluice job on an enclave partition are rejected with a message naming
# the reason; only listed users reach the emergency partition; a job cannot
# be moved onto the enclave later. Jobs are held, so nothing runs.
source "$(dirname "$0")/lib.sh"

# expect_reject MESSAGE_PATTERN SBATCH_ARGS...
expect_reject() {
  local pattern=$1; shift
  if submit --hold "$@" >/dev/null; then
    fail "accepted, expected a rejection: sbatch $*"
  fi
  grep -Eq -- "$pattern" submit.err || fail "rejection of 'sbatch $*' does not say '$pattern': $(cat submit.err)"
}

# expect_partition PARTITION SBATCH_ARGS...
expect_partition() {
  local want=$1 id part; shift
  id=$(submit --hold "$@") || fail "rejected, expected acceptance: sbatch $*: $(cat submit.err)"
  part=$(squeue -h -j "$id" -o %P)
  [ "$part" = "$want" ] || fail "sbatch $*: partition '$part', expected '$want'"
  scancel "$id"
}

SLUICE_LINE='srun --mpi=pmix /opt/sluice/bin/sluice run --policy p.yaml job.yaml'

# Routing.
expect_partition enclave --wrap "$SLUICE_LINE"
grep -q "routed to the enclave partition 'enclave'" submit.err || fail "routing not announced: $(cat submit.err)"
expect_partition enclave --wrap "srun 'sluice' run job.yaml"
expect_partition enclave -p enclave --wrap "$SLUICE_LINE"
expect_partition general --wrap "hostname"
expect_partition general -p general --wrap "echo sluicerun; mysluice run job.yaml"

# Rejections.
expect_reject "runs sluice, which only runs on the enclave partitions.*--partition=general" \
  -p general --wrap "$SLUICE_LINE"
expect_reject "runs sluice.*--partition=general" -p enclave,general --wrap "$SLUICE_LINE"
expect_reject "partition 'enclave' is reserved for sluice jobs" -p enclave --wrap "hostname"
expect_reject "partition 'enclave' is reserved for sluice jobs" -p enclave \
  --wrap "# sluice run job.yaml is only a comment here"
expect_reject "partition 'enclave' is reserved for sluice jobs" -p enclave \
  --wrap "hostname # not sluice run either"

# Emergency partition: listed users only (root is listed in the shipped table).
expect_partition urgent -p urgent --wrap "$SLUICE_LINE"
expect_reject "partition 'urgent' is reserved for sluice jobs" -p urgent --wrap "hostname"
set +e
setpriv --reuid=65534 --regid=65534 --clear-groups \
  sbatch --hold -D "$WORK" -p urgent --wrap "$SLUICE_LINE" >/dev/null 2>submit.err
rc=$?
set -e
[ $rc -ne 0 ] || fail "user nobody reached the emergency partition"
grep -q "user 'nobody' may not use the emergency partition 'urgent'" submit.err \
  || fail "emergency rejection unclear: $(cat submit.err)"

# Moving a held general job onto the enclave is refused (scontrol shows no
# plugin message for updates, only the failure).
id=$(submit --hold -p general --wrap "hostname") || fail "general job rejected"
if scontrol update jobid="$id" partition=enclave 2>update.err; then
  fail "a general job was moved onto the enclave partition"
fi
[ "$(squeue -h -j "$id" -o %P)" = general ] || fail "job $id left the general partition"
echo "job_submit.lua: ok"
