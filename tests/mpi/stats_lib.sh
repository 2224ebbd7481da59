# Shared setup of the tests of describe, crosstab and histogram (sourced):
# a synthetic cohort whose schema gives age and bmi public bounds, and a
# lenient policy (every count rule at its loosest, min/max allowed) so that
# nearly every cell is released and can be compared.
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"

# stats_cohort ROWS CHUNK_ROWS
stats_cohort() {
  "$SL_BIN/sluice-synth" --rows "$1" --seed 11 --out export.csv >/dev/null
  "$SL_BIN/sluice" keygen --out centre.kek >/dev/null
  "$SL_BIN/sluice" keygen --out audit.key >/dev/null
  "$SL_BIN/sluice" ingest --quiet --key centre.kek --in export.csv --out inferred.h5 \
    --chunk-rows "$2" >/dev/null
  python3 - inferred.schema.yaml schema.yaml <<'PY'
import sys
out = []
col = None
for line in open(sys.argv[1]):
    out.append(line)
    s = line.strip()
    if s.startswith("- name:"):
        col = s.split(":", 1)[1].strip().strip('"')
    if s.startswith("class:") and col in ("age", "bmi"):
        ind = line[: len(line) - len(line.lstrip())]
        lo, hi = {"age": ("0", "110"), "bmi": ("10", "60")}[col]
        out.append(f"{ind}lower: {lo}\n{ind}upper: {hi}\n")
open(sys.argv[2], "w").write("".join(out))
PY
  "$SL_BIN/sluice" ingest --quiet --key centre.kek --in export.csv --out cohort.h5 \
    --schema schema.yaml --chunk-rows "$2" >/dev/null
  cat >policy.yaml <<YAML
version: 1
key_file: centre.kek
audit_key_file: audit.key
allow_local: true
enclave: {partitions: [enclave]}
cohorts: [{path: cohort.h5, users: ["*"]}]
paths: {released: released, held: held, audit_log: audit/audit.log, ledger: ledger}
rules: {min_safe_count: 1, zero_is_unsafe: false, nk_n: 1, nk_k: 1, p_ratio: 0, min_dof: 0,
        allow_minmax: true, minmax_min_count: 1}
YAML
}

# stats_output ID NAME: path of the CSV of output NAME of run ID (released or
# held), or fails.
stats_output() {
  local f
  for f in "released/$1/$2.csv" "held/$1/$2.csv"; do
    [ -f "$f" ] && { echo "$f"; return 0; }
  done
  fail "output $2 of run $1 was neither released nor held"
}
