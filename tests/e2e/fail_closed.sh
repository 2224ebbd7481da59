#!/usr/bin/env bash
# A job over a tampered cohort or with the wrong key fails closed: exit 4, a
# message naming the file and dataset, and no release directory at all.
source "$(dirname "$0")/lib.sh"

make_cohort 5000 1000
write_policy true
cat >job.yaml <<'YAML'
cohort: cohort.h5
analyses: [{type: count, by: [sex]}]
YAML
run_job 2 job.yaml ok >/dev/null 2>&1 || fail "untampered run failed"
test -f released/ok/count_1.csv || fail "untampered run released nothing"

# Wrong key: another KEK given with --key.
"$SL_BIN/sluice" keygen --out other.kek >/dev/null
expect_exit 4 run_job 2 job.yaml wrongkey --key other.kek
test ! -e released/wrongkey || fail "wrong key still released something"

# One flipped byte inside a sealed chunk of the 'sex' dataset.
cp cohort.h5 pristine.h5
off=$("$SL_BIN/sluice-chunk-offset" cohort.h5 /patients/sex 2)
printf '\xff' | dd of=cohort.h5 bs=1 seek="$((off + 5))" conv=notrunc status=none
expect_exit 4 run_job 2 job.yaml flipped
grep -q "/patients/sex" last.err || { cat last.err; fail "error does not name the dataset"; }
grep -q "cohort.h5" last.err || fail "error does not name the file"
test ! -e released/flipped || fail "tampered cohort still released something"

# A cohort cut short.
cp pristine.h5 cohort.h5
truncate -s $(( $(stat -c %s cohort.h5) - 4096 )) cohort.h5
set +e; run_job 2 job.yaml truncated >/dev/null 2>&1; rc=$?; set -e
[ "$rc" -ne 0 ] || fail "truncated cohort was accepted"
test ! -e released/truncated || fail "truncated cohort still released something"
echo "fail closed: ok"
