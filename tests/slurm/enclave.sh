#!/usr/bin/env bash
# sl_enclave_check against a real controller (through sl_enclave_probe):
# refused outside Slurm when the policy forbids local runs, whatever SLURM_*
# variables say (faked, or copied from a real running job); allowed inside
# an enclave job; refused inside a general job, on a node outside the
# policy's node list, with a faked job id inside a job, for another uid, and
# on the emergency partition for users the policy does not list.
source "$(dirname "$0")/lib.sh"

PROBE="$SL_BIN/sl_enclave_probe"
SLUICE=$(probe_as_sluice)
policy deny.yaml "allow_local: false"
policy local.yaml "allow_local: true"
policy othernode.yaml "enclave: {partitions: [enclave], nodes: [other01, 'other[02-04]']}"
policy thisnode.yaml "enclave: {partitions: [enclave], nodes: ['other[01-04]', $HOST]}"
policy emerg_ok.yaml "emergency: {partition: urgent, users: [$(id -un)]}"
policy emerg_other.yaml "emergency: {partition: urgent, users: [someone-else]}"

# expect FILE WORD PATTERN: FILE's first line starts with WORD and matches PATTERN.
expect() {
  local line
  line=$(head -n 1 "$1" 2>/dev/null || true)
  [[ "$line" == "$2"* ]] || fail "$1: expected $2, got: ${line:-nothing}"
  grep -Eq -- "$3" <<<"$line" || fail "$1: '$line' does not match '$3'"
}

# ---- outside Slurm ----
set +e
env -u SLURM_JOB_ID "$PROBE" --policy deny.yaml >out.nojob; rc=$?
set -e
[ $rc -eq 3 ] || fail "outside Slurm, allow_local false: exit $rc, expected 3"
expect out.nojob DENY "not inside a Slurm job.*allow_local: false"

"$PROBE" --policy local.yaml >out.local || fail "allow_local true refused: $(cat out.local)"
expect out.local ALLOW "slurm=0"

set +e
SLURM_JOB_ID=4242 SLURM_JOB_PARTITION=enclave SLURM_JOB_NODELIST=$HOST SLURM_NODELIST=$HOST \
  "$PROBE" --policy deny.yaml >out.fake; rc=$?
set -e
[ $rc -eq 3 ] || fail "faked SLURM_* variables: exit $rc, expected 3"
expect out.fake DENY "does not place this process in any job"

# Faked variables and no Slurm configuration at all: refused at once.
start=$(date +%s%N)
set +e
env -u SLURM_CONF SLURM_JOB_ID=4242 SLURM_JOB_PARTITION=enclave "$PROBE" --policy local.yaml >out.noconf
rc=$?
set -e
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ $rc -eq 3 ] || fail "faked SLURM_JOB_ID without SLURM_CONF: exit $rc, expected 3"
[ ! -e /etc/slurm/slurm.conf ] || echo "note: /etc/slurm/slurm.conf exists; the no-configuration case is not tested"
[ -e /etc/slurm/slurm.conf ] || expect out.noconf DENY "no Slurm configuration"
[ "$ms" -lt 2000 ] || fail "refusal without a configuration took $ms ms"

set +e
SLURM_JOB_ID=12x "$PROBE" --policy deny.yaml >out.badid; rc=$?
set -e
[ $rc -eq 3 ] || fail "malformed SLURM_JOB_ID: exit $rc"
expect out.badid DENY "is not a Slurm job id"

# ---- inside an enclave job ----
cat >enclave_job.sh <<JOB
#!/bin/bash
cd "$WORK"
srun --mpi=pmix "$SLUICE" run --policy deny.yaml >in.srun 2>&1
"$SLUICE" run --policy deny.yaml >in.direct 2>&1
"$SLUICE" run --policy othernode.yaml >in.othernode 2>&1
"$SLUICE" run --policy thisnode.yaml >in.thisnode 2>&1
SLURM_JOB_ID=999999 "$SLUICE" run --policy deny.yaml >in.fakeid 2>&1
setpriv --reuid=65534 --regid=65534 --clear-groups "$SLUICE" run --policy deny.yaml >in.nobody 2>&1
touch in.ready
sleep 120
JOB
job=$(submit -p enclave -n 1 -o enclave_job.out enclave_job.sh) || fail "enclave job not accepted: $(cat submit.err)"
wait_for 60 test -e in.ready || fail "enclave job did not run (state $(job_state "$job")): $(cat enclave_job.out 2>/dev/null)"

# The job is running: copying its id into another process's environment
# does not make that process part of it.
set +e
SLURM_JOB_ID=$job SLURM_JOB_PARTITION=enclave SLURM_JOB_NODELIST=$HOST \
  "$PROBE" --policy deny.yaml >out.stolen; rc=$?
set -e
scancel "$job"
[ $rc -eq 3 ] || fail "the id of a running enclave job, copied outside it: exit $rc, expected 3"
expect out.stolen DENY "does not place this process in any job"

expect in.srun ALLOW "^ALLOW job=$job partition=enclave node=$HOST user=$(id -un) slurm=1$"
expect in.direct ALLOW "job=$job partition=enclave"
expect in.othernode DENY "node '$HOST' of Slurm job $job is not an enclave node"
expect in.thisnode ALLOW "node=$HOST"
expect in.fakeid DENY "SLURM_JOB_ID is 999999 but the Slurm daemon places this process in job $job"
expect in.nobody DENY "belongs to uid $(id -u), not to the calling uid 65534"

# ---- inside a general job (the probe is not a sluice job, so the plugin lets it in) ----
set +e
sbatch --wait -p general -n 1 -o general.out --wrap "cd '$WORK' && '$PROBE' --policy deny.yaml" \
  >/dev/null 2>submit.err
rc=$?
set -e
[ $rc -eq 3 ] || fail "probe in a general job: exit $rc, expected 3: $(cat submit.err general.out)"
expect general.out DENY "runs in partition 'general', which is not in the enclave"

# ---- inside an emergency job ----
cat >urgent_job.sh <<JOB
#!/bin/bash
cd "$WORK"
"$SLUICE" run --policy emerg_ok.yaml >u.ok 2>&1
"$SLUICE" run --policy emerg_other.yaml >u.other 2>&1
"$SLUICE" run --policy deny.yaml >u.none 2>&1
exit 0
JOB
sbatch --wait -p urgent -n 1 -o urgent.out urgent_job.sh >/dev/null 2>submit.err \
  || fail "emergency job failed: $(cat submit.err urgent.out)"
expect u.ok ALLOW "partition=urgent"
expect u.other DENY "emergency partition 'urgent' but user '$(id -un)' is not an emergency user"
expect u.none DENY "partition 'urgent', which is not in the enclave"
echo "enclave check: ok"
