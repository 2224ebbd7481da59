#!/usr/bin/env bash
# slurm/epilog.sh, run by slurmd when a job ends: the job's node-local
# scratch (/tmp/sluice-JOBID, /dev/shm/sluice-JOBID) is gone afterwards; a
# link planted in its place is removed without touching its target, and
# another job's scratch is left alone.
source "$(dirname "$0")/lib.sh"

mkdir -p victim
echo keep >victim/file
other=/tmp/sluice-0
remove_on_exit "$other"
mkdir -p "$other" && echo keep >"$other/file"

cat >scratch_job.sh <<JOB
#!/bin/bash
mkdir -p /tmp/sluice-\$SLURM_JOB_ID/sub /dev/shm/sluice-\$SLURM_JOB_ID
echo plaintext >/tmp/sluice-\$SLURM_JOB_ID/sub/spill
echo plaintext >/dev/shm/sluice-\$SLURM_JOB_ID/spill
ln -s "$WORK/victim" /tmp/sluice-\$SLURM_JOB_ID/link
ls /tmp/sluice-\$SLURM_JOB_ID/sub/spill /dev/shm/sluice-\$SLURM_JOB_ID/spill >"$WORK/made.\$SLURM_JOB_ID"
JOB
cat >link_job.sh <<JOB
#!/bin/bash
ln -s "$WORK/victim" /tmp/sluice-\$SLURM_JOB_ID && touch "$WORK/made.\$SLURM_JOB_ID"
JOB

# --wait returns when the job has ended; the epilog runs as it completes.
sbatch --wait -p general -o /dev/null scratch_job.sh >j1.out 2>submit.err || fail "scratch job: $(cat submit.err)"
sbatch --wait -p general -o /dev/null link_job.sh >j2.out 2>submit.err || fail "link job: $(cat submit.err)"
j1=$(grep -o '[0-9]*' j1.out)
j2=$(grep -o '[0-9]*' j2.out)
if ! test -s "made.$j1" || ! test -e "made.$j2"; then
  fail "the jobs did not make their scratch"
fi
gone() { [ ! -e "$1" ] && [ ! -L "$1" ]; }
for p in "/tmp/sluice-$j1" "/dev/shm/sluice-$j1" "/tmp/sluice-$j2"; do
  wait_for 30 gone "$p" || fail "$p still there after job end (states $(job_state "$j1") $(job_state "$j2"))"
done
[ "$(cat victim/file 2>/dev/null)" = keep ] || fail "the epilog followed a link out of the job's scratch"
[ "$(cat "$other/file" 2>/dev/null)" = keep ] || fail "the epilog removed another job's scratch"
sinfo -h -n "$HOST" -o %t | grep -qv drain || fail "the epilog drained the node"
echo "epilog: ok"
