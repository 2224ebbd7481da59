#!/usr/bin/env bash
# The demo, end to end on one machine: installs what is missing, builds,
# generates a synthetic cohort, creates keys, ingests (encrypts) the cohort,
# runs a job on 2 MPI ranks, and shows what was released and what was
# withheld and why; then builds a second cohort from OMOP CDM tables, a third
# from a FHIR Bulk Data export and a fourth from PLINK genotypes, and runs a
# job on each. Everything lands in demo-out/ (recreated each run).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
bash scripts/deps.sh
bash scripts/build.sh
BIN=$ROOT/build/bin
OUT=$ROOT/demo-out
ROWS=${SL_DEMO_ROWS:-120000}
rm -rf "$OUT"
mkdir -p "$OUT"
cd "$OUT"

step() { printf '\n== %s\n' "$*"; }
# Runs job file $2 as job $1 on 2 MPI ranks and prints what it released.
run_job() {
  mpirun --allow-run-as-root --oversubscribe --mca pml ob1 --mca btl self,vader -np 2 \
    "$BIN/sluice" run --policy policy.yaml --job-id "$1" "$2"
  for f in released/"$1"/*.csv; do
    echo "--- $f"
    cat "$f"
  done
}

step "1. a synthetic export of $ROWS patients (CSV, clear ids: never leaves the operator)"
"$BIN/sluice-synth" --rows "$ROWS" --seed 2026 --out export.csv
head -3 export.csv

step "2. operator keys: centre key (wraps cohort data keys) and audit key"
"$BIN/sluice" keygen --out centre.kek
"$BIN/sluice" keygen --out audit.key

step "3. ingest: ids pseudonymised, every chunk AES-256-GCM sealed"
"$BIN/sluice" ingest --key centre.kek --in export.csv --out cohort.h5
rm -f export.csv

step "4. what anyone can see without a key"
"$BIN/sluice" inspect cohort.h5

step "5. the policy in force"
cp "$ROOT/demo/policy.yaml" "$ROOT/demo/job.yaml" .
mkdir -p witness
"$BIN/sluice" policy check policy.yaml

step "6. the researcher's job, on 2 MPI ranks"
cat job.yaml
mpirun --allow-run-as-root --oversubscribe --mca pml ob1 --mca btl self,vader -np 2 \
  "$BIN/sluice" run --policy policy.yaml \
  --job-id demo job.yaml

step "7. what the researcher gets"
ls -l released/demo
for f in released/demo/*.csv; do
  echo "--- $f"
  head -n 20 "$f"
  rows=$(($(wc -l <"$f") - 1))
  [ "$rows" -le 19 ] || echo "... ($rows rows in all)"
done

step "8. the privacy budget the noisy output spent"
"$BIN/sluice" ledger budget --policy policy.yaml

step "9. a second cohort, from OMOP CDM tables (one CSV file per table, one row per event)"
mkdir omop
"$BIN/sluice-synth" --rows 20000 --seed 2026 --omop omop
cp "$ROOT/demo/omop-features.yaml" "$ROOT/demo/omop-job.yaml" .
"$BIN/sluice" ingest --quiet --key centre.kek --omop omop --features omop-features.yaml \
  --out omop-cohort.h5
rm -rf omop
run_job demo-omop omop-job.yaml

step "10. a third cohort, from a FHIR Bulk Data export (NDJSON, one resource per line)"
mkdir fhir
"$BIN/sluice-synth" --rows 20000 --seed 2026 --fhir fhir
cp "$ROOT/demo/fhir-features.yaml" "$ROOT/demo/fhir-job.yaml" .
"$BIN/sluice" ingest --quiet --key centre.kek --fhir fhir --features fhir-features.yaml \
  --out fhir-cohort.h5
rm -rf fhir
run_job demo-fhir fhir-job.yaml

step "11. a fourth cohort, from PLINK genotypes (chip.bed/.bim/.fam)"
"$BIN/sluice-synth" --rows 20000 --seed 2026 --plink chip
cp "$ROOT/demo/plink-variants.txt" "$ROOT/demo/plink-job.yaml" .
"$BIN/sluice" ingest --key centre.kek --plink chip --variants plink-variants.txt \
  --genotypes both --out genotypes.h5
rm -f chip.bed chip.bim chip.fam
run_job demo-plink plink-job.yaml

step "12. the audit trail"
"$BIN/sluice" audit verify audit/audit.log --key audit.key --ledger ledger \
  --witness witness/audit.witness
echo "the witness's last anchors (each audit line's number and SHA-256):"
tail -n 3 witness/audit.witness
