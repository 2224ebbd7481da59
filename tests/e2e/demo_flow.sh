#!/usr/bin/env bash
# The demo flow end to end: synthetic export -> keys -> ingest -> inspect ->
# 2-rank job -> released and withheld outputs -> audit verify, plus the
# checks that no clear value escaped.
source "$(dirname "$0")/lib.sh"

make_cohort 30000 4096
grep -q . cohort.schema.yaml || fail "no inferred schema written"
"$SL_BIN/sluice" inspect cohort.h5 >inspect.out
grep -q "30000" inspect.out || fail "inspect does not show the row count"
"$SL_BIN/sluice" inspect cohort.h5 --key centre.kek >/dev/null || fail "verify failed"

# No clear patient id of the export appears in the cohort file.
for id in $(sed -n '2,50p' export.csv | cut -d, -f1); do
  if grep -qa -- "$id" cohort.h5; then fail "clear id $id found in cohort.h5"; fi
done

write_policy true
cat >job.yaml <<'YAML'
name: flow
cohort: cohort.h5
analyses:
  - {type: count, name: total}
  - {type: count, name: by_sex, by: [sex]}
  - {type: count, name: rare, by: [region, diagnosis, smoker]}
YAML
run_job 2 job.yaml flow1 >run.out 2>run.err || { cat run.out run.err; fail "run failed"; }
cat run.out
test -f released/flow1/results.json || fail "no results.json"
test -f released/flow1/total.csv || fail "total.csv not released"
test -f released/flow1/by_sex.csv || fail "by_sex.csv not released"
test ! -e released/flow1/rare.csv || fail "failing output rare.csv was released"
test ! -e released/flow1/rare.json || fail "failing output rare.json was released"
total=$(sed -n '2p' released/flow1/total.csv)
[ "$total" = "30000" ] || fail "total is '$total', expected 30000"
grep -q '"status": "fail"' released/flow1/results.json || fail "rare output not marked fail"
# The failing output's cells carry statuses but no counts.
python3 - <<'PY' || fail "results.json shows values of a failing output"
import json
doc = json.load(open("released/flow1/results.json"))
rare = [o for o in doc["outputs"] if o["name"] == "rare"][0]
assert rare["status"] == "fail"
assert all("n" not in c for c in rare["cells"])
PY
grep -q "withheld" run.out || fail "summary does not say what was withheld"

"$SL_BIN/sluice" audit verify audit/audit.log --key audit.key >verify0.out \
  || fail "audit log does not verify"
anchor0=$(sed -n 's/^head: \([0-9]*:[0-9a-f]\{64\}\) .*/\1/p' verify0.out)
test -n "$anchor0" || { cat verify0.out; fail "verify printed no head"; }
cp audit/audit.log audit.log.flow1
cp audit/audit.log.head audit.log.head.flow1
grep -q '"event":"job_start"' audit/audit.log || fail "no job_start event"
grep -q '"event":"key_unwrap"' audit/audit.log || fail "no key_unwrap event"
grep -q '"event":"job_end"' audit/audit.log || fail "no job_end event"

# The same job id is never overwritten.
expect_exit 2 run_job 1 job.yaml flow1

# The release ledger carries a MAC and is audited at every commit: as the
# log last recorded it, it verifies; an older copy put back (a rollback) is
# found, and the next job refuses to run against it; an edited ledger is
# refused by the next job, which releases nothing.
"$SL_BIN/sluice" audit verify audit/audit.log --key audit.key --ledger ledger >verify.out \
  || fail "ledger does not verify"
grep -q "1 release ledger(s)" verify.out || { cat verify.out; fail "ledger not checked"; }
led=$(ls ledger/release/*/none.json)
cp "$led" ledger.old
run_job 1 job.yaml flow2 >/dev/null 2>&1 || fail "second run failed"
cp "$led" ledger.new
cp ledger.old "$led"
expect_exit 4 "$SL_BIN/sluice" audit verify audit/audit.log --key audit.key --ledger ledger
expect_exit 4 run_job 1 job.yaml flow2b
test ! -e released/flow2b || fail "a job released against a rolled-back ledger"
grep -q '"event":"ledger"' audit/audit.log || fail "no ledger event"
cp ledger.new "$led"
"$SL_BIN/sluice" audit verify audit/audit.log --key audit.key --ledger ledger >/dev/null \
  || fail "restored ledger does not verify"
sed -i '0,/"population": [0-9]*/s//"population": 29999/' "$led"
cmp -s "$led" ledger.new && fail "the ledger edit did not change the file"
expect_exit 4 run_job 1 job.yaml flow3
test ! -e released/flow3 || fail "a job released against an edited ledger"
expect_exit 4 "$SL_BIN/sluice" audit verify audit/audit.log --key audit.key --ledger ledger
cp ledger.new "$led"

# A ledger written before ledgers had MACs (format 1) is refused, naming the
# command that adopts it; an operator adopts it (audited), then jobs run
# against it, it verifies, and a second adoption finds nothing to do.
python3 - "$led" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
del doc["sequence"], doc["mac"]
doc["format"] = 1
json.dump(doc, open(sys.argv[1], "w"), indent=1)
PY
expect_exit 4 run_job 1 job.yaml flow4
grep -q "sluice ledger adopt" "$WORK/last.err" || { cat "$WORK/last.err"; fail "no hint to adopt"; }
test ! -e released/flow4 || fail "a job released against a format-1 ledger"
"$SL_BIN/sluice" ledger adopt --policy policy.yaml --dry-run >adopt.out
grep -q "format 1, [0-9]* entries from 1 jobs" adopt.out || { cat adopt.out; fail "dry run"; }
grep -q '"format": 1' "$led" || fail "a dry run changed the ledger"
"$SL_BIN/sluice" ledger adopt --policy policy.yaml >adopt.out
grep -q "1 ledger(s) adopted" adopt.out || { cat adopt.out; fail "not adopted"; }
grep -q '"event":"ledger_adopt"' audit/audit.log || fail "no ledger_adopt event"
"$SL_BIN/sluice" audit verify audit/audit.log --key audit.key --ledger ledger >/dev/null \
  || fail "adopted ledger does not verify"
run_job 1 job.yaml flow5 >/dev/null 2>run5.err || { cat run5.err; fail "run after adopt failed"; }
"$SL_BIN/sluice" ledger adopt --policy policy.yaml >adopt.out
grep -q "0 ledger(s) adopted, 1 of the current format" adopt.out || { cat adopt.out; fail "re-adopt"; }

# The head a verification prints anchors the log: the log still holds the
# head printed after the first job. Put back with its head file to its copy
# from after the first job, the log is consistent on its own, and only the
# anchor taken since finds the rollback.
"$SL_BIN/sluice" audit verify audit/audit.log --key audit.key --anchor "$anchor0" >verify.out \
  || fail "the log no longer holds the first job's head"
grep -q "1 anchor(s) held" verify.out || { cat verify.out; fail "anchor not checked"; }
anchor1=$(sed -n 's/^head: \([0-9]*:[0-9a-f]\{64\}\) .*/\1/p' verify.out)
test "${anchor1%%:*}" -gt "${anchor0%%:*}" || fail "the head did not move: $anchor0 $anchor1"
cp audit/audit.log audit.log.now
cp audit/audit.log.head audit.log.head.now
cp audit.log.flow1 audit/audit.log
cp audit.log.head.flow1 audit/audit.log.head
"$SL_BIN/sluice" audit verify audit/audit.log --key audit.key >/dev/null \
  || fail "the older copy is not consistent on its own"
expect_exit 4 "$SL_BIN/sluice" audit verify audit/audit.log --key audit.key --anchor "$anchor1"
grep -q "rolled back" "$WORK/last.err" || { cat "$WORK/last.err"; fail "rollback not named"; }
# A job run on the rolled-back log (the ledger, newer, still holds every
# release for differencing: a warning) writes its own next lines, so the
# log forks from the one anchored: the line after the first job's is no
# longer the one it was.
n0=${anchor0%%:*}
next_hash=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readlines()[int(sys.argv[2])])["prev"])' audit.log.now $((n0 + 1)))
run_job 1 job.yaml flow6 >/dev/null 2>&1 || fail "a job on the rolled-back log failed"
test "$(wc -l <audit/audit.log)" -gt "$n0" || fail "the refused job wrote nothing to the log"
"$SL_BIN/sluice" audit verify audit/audit.log --key audit.key >/dev/null \
  || fail "the forked log is not consistent on its own"
expect_exit 4 "$SL_BIN/sluice" audit verify audit/audit.log --key audit.key \
  --anchor "$((n0 + 1)):$next_hash"
grep -q "is not the line anchored" "$WORK/last.err" || { cat "$WORK/last.err"; fail "fork"; }
cp audit.log.now audit/audit.log
cp audit.log.head.now audit/audit.log.head
expect_exit 2 "$SL_BIN/sluice" audit verify audit/audit.log --key audit.key --anchor 3:abc

# Kernel threads that outnumber the CPUs a rank may run on are named, with
# the launcher options that fix it: two threads on one CPU (taskset), then
# one thread, which draws no warning.
OMP_NUM_THREADS=2 taskset -c 0 $SL_MPIEXEC --bind-to none -np 1 -x OMP_NUM_THREADS \
  "$SL_BIN/sluice" run --policy policy.yaml --job-id flow_bound2 job.yaml >/dev/null \
  2>bound.err || { cat bound.err; fail "a run on one CPU failed"; }
grep -q "runs 2 kernel threads on the 1 CPU(s) it is bound to" bound.err \
  || { cat bound.err; fail "two threads on one CPU not named"; }
OMP_NUM_THREADS=1 taskset -c 0 $SL_MPIEXEC --bind-to none -np 1 -x OMP_NUM_THREADS \
  "$SL_BIN/sluice" run --policy policy.yaml --job-id flow_bound1 job.yaml >/dev/null \
  2>bound.err || { cat bound.err; fail "a run on one CPU failed"; }
if grep -q "kernel threads on the" bound.err; then cat bound.err; fail "one thread warned"; fi

# With a witness in the policy the writers keep that record themselves: a
# job refuses a log with lines and no witness, a verification starts it,
# every line written after goes to it, and a job refuses the log rolled back
# with its head (and releases nothing).
sed -i 's#audit_log: audit/audit.log,#audit_log: audit/audit.log, audit_witness: worm/audit.witness,#' \
  policy.yaml
grep -q audit_witness policy.yaml || fail "the witness did not get into the policy"
mkdir -p worm
expect_exit 4 run_job 1 job.yaml flow7
grep -q "missing or empty" "$WORK/last.err" || { cat "$WORK/last.err"; fail "no witness"; }
test ! -e released/flow7 || fail "a job released beside a log without its witness"
"$SL_BIN/sluice" audit verify audit/audit.log --key audit.key --witness worm/audit.witness \
  >verify.out || { cat verify.out; fail "verify did not start the witness"; }
grep -q "witness worm/audit.witness started at line" verify.out || { cat verify.out; fail "start"; }
run_job 1 job.yaml flow8 >/dev/null 2>run8.err || { cat run8.err; fail "run with a witness"; }
test "$(tail -n 1 worm/audit.witness | cut -d: -f1)" -eq "$(wc -l <audit/audit.log)" \
  || fail "the witness does not name the log's last line"
cp audit/audit.log audit.log.flow8
cp audit/audit.log.head audit.log.head.flow8
run_job 1 job.yaml flow9 >/dev/null 2>run9.err || { cat run9.err; fail "run with a witness"; }
cp audit.log.flow8 audit/audit.log
cp audit.log.head.flow8 audit/audit.log.head
expect_exit 4 run_job 1 job.yaml flow10
grep -q "rolled back" "$WORK/last.err" || { cat "$WORK/last.err"; fail "rollback not named"; }
test ! -e released/flow10 || fail "a job released on a rolled-back log"
expect_exit 4 "$SL_BIN/sluice" audit verify audit/audit.log --key audit.key \
  --witness worm/audit.witness

# Tampering with the audit log is detected.
cp audit/audit.log audit.orig
sed -i '1s/"ranks":2/"ranks":3/' audit/audit.log
cmp -s audit/audit.log audit.orig && fail "the tamper step did not change the log"
expect_exit 4 "$SL_BIN/sluice" audit verify audit/audit.log --key audit.key
echo "demo flow: ok"
