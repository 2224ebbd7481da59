#!/usr/bin/env bash
# Authorisation: a run outside Slurm is refused when the policy forbids local
# runs (faked SLURM_* variables do not help), a user not granted the cohort is
# refused, and every refusal is an audit event with its reason. A refused run
# releases nothing and never reads the centre key.
source "$(dirname "$0")/lib.sh"

make_cohort 2000 500
cat >job.yaml <<'YAML'
cohort: cohort.h5
analyses: [{type: count}]
YAML

write_policy false
expect_exit 3 run_job 1 job.yaml local1
grep -qi "local" last.err || { cat last.err; fail "refusal does not say why"; }
test ! -e released/local1 || fail "refused run released something"

# The centre key is moved away: a refusal must come before reading it, so
# the exit code stays 3 (a key read would fail with 1 or 4 first).
mv centre.kek centre.kek.away
# (run without mpiexec, which would try to join the faked allocation)
SLURM_JOB_ID=4242 SLURM_JOB_PARTITION=enclave SLURM_JOBID=4242 \
  expect_exit 3 "$SL_BIN/sluice" run --policy policy.yaml --job-id faked job.yaml
mv centre.kek.away centre.kek
test ! -e released/faked || fail "faked Slurm variables released something"
grep -q '"event":"refused"' audit/audit.log || fail "refusal not audited"
"$SL_BIN/sluice" audit verify audit/audit.log --key audit.key >/dev/null

# A user outside the cohort's grant.
sed -i 's/users: \["\*"\]/users: [nobody-else]/' policy.yaml
sed -i 's/allow_local: false/allow_local: true/' policy.yaml
expect_exit 3 run_job 1 job.yaml notgranted
grep -q "may not run jobs" last.err || { cat last.err; fail "grant refusal unclear"; }
test "$(grep -c '"event":"refused"' audit/audit.log)" -ge 3 || fail "not every refusal audited"
echo "refusals: ok"
