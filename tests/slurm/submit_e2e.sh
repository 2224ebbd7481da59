#!/usr/bin/env bash
# End to end through Slurm with the real sluice: `sluice submit` of a job on
# the enclave releases its outputs; the same job on 4 ranks releases the
# same bytes as on 2; the job run on `general` is refused before the centre
# key is read, and the refusal is audited; a run outside Slurm with faked
# SLURM_* variables is refused; sbatch's refusals pass through
# `sluice submit` with its exit code; --emergency lands on the emergency
# partition. Skips (exit 77) while build/bin/sluice lacks `submit` or `run`.
source "$(dirname "$0")/lib.sh"

SLUICE="$SL_BIN/sluice"
if ! "$SLUICE" submit --help >/dev/null 2>&1 || ! "$SLUICE" run --help >/dev/null 2>&1; then
  echo "SKIP: $SLUICE does not exist or lacks the submit or run command"
  exit 77
fi

"$SL_BIN/sluice-synth" --rows 6000 --seed 11 --out export.csv >/dev/null
"$SLUICE" keygen --out centre.kek >/dev/null
"$SLUICE" keygen --out audit.key >/dev/null
"$SLUICE" ingest --quiet --key centre.kek --in export.csv --out cohort.h5 --chunk-rows 500 >/dev/null
rm export.csv
cat >policy.yaml <<YAML
version: 1
key_file: centre.kek
audit_key_file: audit.key
allow_local: false
enclave: {partitions: [enclave]}
emergency: {partition: urgent, users: [$(id -un)]}
cohorts: [{path: cohort.h5, users: ["*"]}]
paths: {released: released, held: held, audit_log: audit/audit.log, ledger: ledger}
YAML
# The 4-rank run gets its own release ledger, so that both runs are first
# releases and their results.json can be compared whole.
sed 's/ledger: ledger}/ledger: ledger4}/' policy.yaml >policy4.yaml
for np in 2 4; do
  cat >"job$np.yaml" <<YAML
name: counts$np
cohort: cohort.h5
filter: 'age >= 30'
analyses:
  - {type: count, name: total}
  - {type: count, name: by_sex_region, by: [sex, region]}
resources: {ranks: $np, time: "00:10:00"}
YAML
done

# show_logs: the job logs, for a failure message.
show_logs() { cat logs/* 2>/dev/null || true; }

# ---- sluice submit on the enclave, 2 and 4 ranks ----
declare -A ids
for np in 2 4; do
  pol=policy.yaml
  [ "$np" = 4 ] && pol=policy4.yaml
  SBATCH_WAIT=1 "$SLUICE" submit "job$np.yaml" --policy "$pol" >"submit$np.out" 2>"submit$np.err" \
    || fail "sluice submit job$np.yaml: $(cat "submit$np.err"; show_logs)"
  ids[$np]=$(cat "submit$np.out")
  [[ "${ids[$np]}" =~ ^[0-9]+$ ]] || fail "sluice submit printed '${ids[$np]}', not a job id"
  test -s "released/slurm-${ids[$np]}/results.json" || fail "job on $np ranks released nothing: $(show_logs)"
  python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
json.dump(doc["outputs"], open(sys.argv[2], "w"), indent=1, sort_keys=True)
' "released/slurm-${ids[$np]}/results.json" "outputs$np.json"
done
ls "released/slurm-${ids[2]}"/*.csv >/dev/null 2>&1 || fail "no CSV released"
for f in "released/slurm-${ids[2]}"/*.csv "released/slurm-${ids[2]}"/*.json; do
  b=$(basename "$f")
  [ "$b" = results.json ] && continue
  cmp "$f" "released/slurm-${ids[4]}/$b" || fail "$b differs between 2 and 4 ranks"
done
cmp outputs2.json outputs4.json || fail "results.json outputs differ between 2 and 4 ranks"

# ---- threads per rank: CPUs per task for sbatch and srun, OMP_NUM_THREADS ----
sed 's/ledger: ledger}/ledger: ledger_threads}/' policy.yaml >policy_threads.yaml
sed -e 's/^name: counts2/name: counts2t/' -e 's/ranks: 2,/ranks: 2, threads: 2,/' job2.yaml \
  >job2t.yaml
SBATCH_WAIT=1 "$SLUICE" submit job2t.yaml --policy policy_threads.yaml >submit2t.out \
  2>submit2t.err || fail "sluice submit job2t.yaml: $(cat submit2t.err; show_logs)"
tid=$(cat submit2t.out)
scontrol show job "$tid" | grep -q "NumCPUs=4 " \
  || fail "2 ranks x 2 threads were not given 4 CPUs: $(scontrol show job "$tid")"
for f in "released/slurm-${ids[2]}"/*.csv; do
  cmp "$f" "released/slurm-$tid/$(basename "$f")" || fail "2 threads per rank changed $(basename "$f")"
done
if grep -q "kernel threads on the" logs/*"$tid"*.err; then fail "threads took turns: $(show_logs)"; fi

# ---- the same job on general: refused before the key is read ----
# Through a variable the plugin does not see a sluice job, as a user might
# try; the enclave check still refuses. The key is moved away: reading it
# would fail differently (exit 1 or 4), so exit 3 shows the refusal came first.
mv centre.kek centre.kek.away
cat >general.sh <<JOB
#!/bin/bash
cd "$WORK"
S="$SLUICE"
srun --mpi=pmix "\$S" run --policy policy.yaml job2.yaml
JOB
set +e
sbatch --wait -p general -n 2 -o general.out general.sh >general.id 2>submit.err
rc=$?
set -e
mv centre.kek.away centre.kek
[ $rc -eq 3 ] || fail "job on general: exit $rc, expected 3 (refused): $(cat submit.err general.out)"
gid=$(grep -o '[0-9]*' general.id)
grep -q "partition 'general'" general.out || fail "refusal on general does not say why: $(cat general.out)"
test ! -e "released/slurm-$gid" || fail "the refused job released something"
grep '"event":"refused"' audit/audit.log | grep -q "partition 'general'" || fail "refusal on general not audited"

# ---- outside Slurm, faked variables ----
set +e
SLURM_JOB_ID=${ids[2]} SLURM_JOBID=${ids[2]} SLURM_JOB_PARTITION=enclave SLURM_JOB_NODELIST=$HOST \
  "$SLUICE" run --policy policy.yaml --job-id faked job2.yaml >faked.out 2>&1
rc=$?
set -e
[ $rc -eq 3 ] || fail "faked SLURM_* outside Slurm: exit $rc, expected 3: $(cat faked.out)"
test ! -e released/faked || fail "faked Slurm variables released something"
"$SLUICE" audit verify audit/audit.log --key audit.key >/dev/null || fail "audit log does not verify"

# ---- sbatch's refusals and exit code pass through ----
sed 's/^enclave: .*/enclave: {partitions: [enclave, general]}\nsubmit: {partition: general}/' \
  policy.yaml >policy_general.yaml
set +e
"$SLUICE" submit job2.yaml --policy policy_general.yaml >pass.out 2>pass.err
rc=$?
set -e
[ $rc -eq 1 ] || fail "sbatch rejection: sluice submit exit $rc, expected sbatch's 1"
grep -q "^sbatch: error: sluice: this job runs sluice" pass.err || fail "sbatch's message lost: $(cat pass.err)"
[ ! -s pass.out ] || fail "a rejected submission printed '$(cat pass.out)'"

# ---- --emergency ----
SBATCH_HOLD=1 "$SLUICE" submit --emergency job2.yaml --policy policy.yaml >emerg.out 2>emerg.err \
  || fail "--emergency: $(cat emerg.err)"
eid=$(cat emerg.out)
echo "$eid" >>"$WORK/.jobs"
[ "$(squeue -h -j "$eid" -o %P)" = urgent ] || fail "--emergency job is not on the emergency partition"
scancel "$eid"
# ---- the templates in slurm/ (sluice found on PATH, as at a site) ----
mkdir -p logs
export PATH="$SL_BIN:$PATH"
listing() { find released -mindepth 1 -maxdepth 1 -printf '%f\n' | sort; }
before=$(listing)
sbatch --wait --ntasks=2 --mem=1G "$SL_SOURCE/slurm/sbatch-cpu.sh" job4.yaml policy.yaml \
  >/dev/null 2>submit.err || fail "sbatch-cpu.sh: $(cat submit.err; show_logs)"
printf '%s\n' "# two job files" job2.yaml "" job4.yaml >jobs.txt
sbatch --wait --array=1-2 --mem=1G "$SL_SOURCE/slurm/sbatch-array.sh" jobs.txt policy.yaml \
  >/dev/null 2>submit.err || fail "sbatch-array.sh: $(cat submit.err; show_logs)"
new=$(comm -13 <(echo "$before") <(listing))
[ "$(wc -w <<<"$new")" -eq 3 ] || fail "templates released '$new', expected three new job directories"
for d in $new; do
  for f in "released/slurm-${ids[2]}"/*.csv; do
    cmp "$f" "released/$d/$(basename "$f")" || fail "template job $d released a different $(basename "$f")"
  done
done
gid=$(sbatch --parsable --hold "$SL_SOURCE/slurm/sbatch-gpu.sh" job2.yaml policy.yaml 2>submit.err) \
  || fail "sbatch-gpu.sh rejected: $(cat submit.err)"
echo "${gid%%;*}" >>"$WORK/.jobs"
squeue -h -j "${gid%%;*}" -o '%P %b' | grep -q "^enclave .*gpu:2" \
  || fail "sbatch-gpu.sh: $(squeue -h -j "${gid%%;*}" -o '%P %b')"
echo "sluice submit through Slurm: ok"
