# Shared helpers for the end-to-end tests (sourced, not run).
# Needs SL_BIN (build/bin) and SL_MPIEXEC (mpiexec plus its flags) in the
# environment; every test works in its own temporary directory.
set -euo pipefail

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_exit CODE CMD...: runs CMD, fails the test unless it exits with CODE.
expect_exit() {
  local want=$1; shift
  set +e
  "$@" >"$WORK/last.out" 2>"$WORK/last.err"
  local got=$?
  set -e
  if [ "$got" -ne "$want" ]; then
    cat "$WORK/last.out" "$WORK/last.err" >&2
    fail "expected exit $want, got $got: $*"
  fi
}

# make_cohort ROWS CHUNK_ROWS: synthetic export, keys and cohort.h5 in $WORK.
make_cohort() {
  "$SL_BIN/sluice-synth" --rows "$1" --seed 7 --out export.csv >/dev/null
  "$SL_BIN/sluice" keygen --out centre.kek >/dev/null
  "$SL_BIN/sluice" keygen --out audit.key >/dev/null
  "$SL_BIN/sluice" ingest --quiet --key centre.kek --in export.csv --out cohort.h5 \
    --chunk-rows "$2" >/dev/null
}

# write_policy [allow_local]: a policy over cohort.h5 for everyone.
write_policy() {
  cat >policy.yaml <<YAML
version: 1
key_file: centre.kek
audit_key_file: audit.key
allow_local: ${1:-true}
enclave: {partitions: [enclave]}
cohorts: [{path: cohort.h5, users: ["*"]}]
paths: {released: released, held: held, audit_log: audit/audit.log, ledger: ledger}
rules: {min_safe_count: 10, zero_is_unsafe: true}
YAML
}

# no_launcher CMD...: runs CMD without the variables an MPI launcher leaves
# in the environment (as when started from a shell).
no_launcher() {
  (
    for v in $(compgen -e); do
      case $v in OMPI_* | PMIX_* | PMI_* | HYDRA_* | MPI_LOCALNRANKS | SLURM_STEP_ID) unset "$v" ;; esac
    done
    "$@"
  )
}

# ingest_events FLAG DIR SPEC CHECKED: an event export (--omop or --fhir)
# of 3000 persons. `--check` with SPEC passes and prints CHECKED, with
# bad.yaml it is refused and writes nothing; then the ingest into
# cohort.h5 (500-row chunks, summary in ingest.out) sets persons and left
# (left out without an index date), which must add up to 3000; the
# number of columns is the spec's (CHECKED names its features).
ingest_events() {
  "$SL_BIN/sluice" ingest "$1" "$2" --features "$3" --check >check.out ||
    fail "--check: $(cat check.out)"
  grep -q "$4" check.out || fail "--check: $(cat check.out)"
  expect_exit 2 "$SL_BIN/sluice" ingest "$1" "$2" --features bad.yaml --check
  test ! -e cohort.h5 || fail "--check wrote a cohort"
  "$SL_BIN/sluice" ingest --quiet --key centre.kek "$1" "$2" --features "$3" \
    --out cohort.h5 --chunk-rows 500 >ingest.out
  cat ingest.out
  persons=$(sed -n 's/^ingested \([0-9]*\) persons x [0-9]* columns.*/\1/p' ingest.out)
  left=$(sed -n 's/^left out \([0-9]*\) persons without.*/\1/p' ingest.out)
  [ -n "$persons" ] && [ -n "$left" ] || fail "ingest summary: $(cat ingest.out)"
  [ $((persons + left)) -eq 3000 ] || fail "persons $persons + left out $left != 3000"
}

# run_job NP JOB ID [extra args]: runs the job on NP ranks.
run_job() {
  local np=$1 job=$2 id=$3; shift 3
  $SL_MPIEXEC -np "$np" "$SL_BIN/sluice" run --policy policy.yaml --job-id "$id" "$@" "$job"
}
