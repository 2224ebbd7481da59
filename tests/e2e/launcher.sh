#!/usr/bin/env bash
# Started from a shell, without an MPI launcher, `sluice run` is one process
# that never initialises MPI (no helper daemon); it releases what the same
# job releases on MPI ranks, to the byte.
source "$(dirname "$0")/lib.sh"

make_cohort 20000 4096
write_policy true
cat >job.yaml <<'YAML'
name: launcher
cohort: cohort.h5
analyses:
  - {type: count, name: by_sex, by: [sex]}
  - {type: describe, name: bmi, columns: [bmi], by: [sex]}
  - {type: crosstab, name: ct, rows: smoker, value: bmi, stats: [sum, mean, sd, median]}
YAML
run_job 2 job.yaml ranks2 >run2.out 2>run2.err || { cat run2.out run2.err; fail "2-rank run"; }
no_launcher "$SL_BIN/sluice" -v run --policy policy.yaml --job-id alone job.yaml \
  >alone.out 2>alone.err || { cat alone.out alone.err; fail "run without a launcher"; }
grep -q "no MPI launcher" alone.err || { cat alone.err; fail "the run without a launcher used MPI"; }
$SL_MPIEXEC -np 1 "$SL_BIN/sluice" -v run --policy policy.yaml --job-id mpi1 job.yaml \
  >mpi1.out 2>mpi1.err || { cat mpi1.out mpi1.err; fail "run under the launcher"; }
grep -q "no MPI launcher" mpi1.err && fail "a run under mpiexec did not use MPI"
n=0
for f in released/ranks2/*.csv; do
  for id in alone mpi1; do
    cmp -s "$f" "released/$id/${f##*/}" || fail "${f##*/} of job $id differs from 2 ranks"
  done
  n=$((n + 1))
done
[ "$n" -ge 3 ] || fail "only $n outputs released"
echo "launcher: ok"
