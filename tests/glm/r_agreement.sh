#!/usr/bin/env bash
# Every model of tests/data/glm/models.csv, fitted by `sluice run` on 2 ranks
# from encrypted cohorts of the committed data sets (MASS birthwt and Pima.tr,
# survival lung, and 20000 patients from R's generator), matches R's glm
# (reference_*.csv, from make_reference.R) to 1e-6 relative: estimates,
# standard errors, z/t values, p-values, Wald intervals, deviances, AIC,
# dispersion, degrees of freedom, n, rows dropped, iterations, aliasing.
source "$(dirname "$0")/../e2e/lib.sh"
DATA=${SL_TEST_DATA:?}/glm

"$SL_BIN/sluice" keygen --out centre.kek >/dev/null
"$SL_BIN/sluice" keygen --out audit.key >/dev/null
for d in birthwt:64 pima_tr:64 lung:64 generated:1024; do
  "$SL_BIN/sluice" ingest --quiet --key centre.kek --in "$DATA/${d%:*}.csv" \
    --schema "$DATA/${d%:*}.schema.yaml" --out "${d%:*}.h5" --chunk-rows "${d#*:}" >/dev/null
done
cat >policy.yaml <<YAML
version: 1
key_file: centre.kek
audit_key_file: audit.key
allow_local: true
enclave: {partitions: [enclave]}
cohorts: [{path: birthwt.h5, users: ["*"]}, {path: pima_tr.h5, users: ["*"]}, {path: lung.h5, users: ["*"]},
          {path: generated.h5, users: ["*"]}]
paths: {released: released, held: held, audit_log: audit/audit.log, ledger: ledger}
rules: {min_safe_count: 10, zero_is_unsafe: true}
YAML

# one job file per data set, one analysis per model
python3 - "$DATA/models.csv" <<'PY'
import csv, json, sys
jobs = {}
for m in csv.DictReader(open(sys.argv[1])):
    a = {"type": "glm", "name": m["model"], "formula": m["formula"], "family": m["family"]}
    if m["weights"]: a["weights"] = m["weights"]
    if m["offset"]: a["offset"] = m["offset"]
    if m["reference"]:
        k, v = m["reference"].split("=")
        a["reference"] = {k: v}
    jobs.setdefault(m["data"], []).append(a)
for d, analyses in jobs.items():
    with open(f"job_{d}.yaml", "w") as f:
        f.write(f"cohort: {d}.h5\nanalyses:\n")
        for a in analyses:
            f.write("  - " + json.dumps(a) + "\n")
PY

for d in birthwt pima_tr lung generated; do
  run_job 2 "job_$d.yaml" "$d" >"$d.out" 2>"$d.err" || { cat "$d.out" "$d.err"; fail "job on $d failed"; }
done

python3 - "$DATA" <<'PY'
import csv, json, math, sys
data = sys.argv[1]
out = {}
for d in ("birthwt", "pima_tr", "lung", "generated"):
    for o in json.load(open(f"released/{d}/results.json"))["outputs"]:
        out[o["name"]] = o
bad = []
def close(got, want, what, rel=1e-6):
    if want is None:
        if got is not None:
            bad.append(f"{what}: {got} where R has NA")
        return
    if got is None or abs(got - want) > rel * abs(want):
        bad.append(f"{what}: sluice {got} vs R {want}")
checked = 0
for r in csv.DictReader(open(f"{data}/reference_model.csv")):
    o = out.get(r["model"])
    if o is None:
        bad.append(f"{r['model']}: no output")
        continue
    if o["status"] != "pass":
        bad.append(f"{r['model']}: status {o['status']}")
    m = o["model"]
    for k in ("n", "n_dropped", "df_residual", "df_null", "rank", "iterations"):
        if m[k] != int(r[k]):
            bad.append(f"{r['model']} {k}: sluice {m[k]} vs R {r[k]}")
    if m["converged"] != (r["converged"] == "TRUE"):
        bad.append(f"{r['model']} converged differs")
    if m["null_converged"] is not True:
        bad.append(f"{r['model']}: the null model's fit is not reported as converged")
    for k in ("deviance", "null_deviance", "aic", "dispersion"):
        close(m[k], float(r[k]), f"{r['model']} {k}")
    checked += 1
stat = {"statistic": None}
for r in csv.DictReader(open(f"{data}/reference_coef.csv")):
    o = out[r["model"]]
    terms = o["dimensions"][0]["levels"]
    if r["term"] not in terms:
        bad.append(f"{r['model']}: no term {r['term']}")
        continue
    cell = o["cells"][terms.index(r["term"])]["stats"]
    zt = "z_value" if "z_value" in cell else "t_value"
    for k, rk in (("estimate", "estimate"), ("std_error", "std_error"), (zt, "statistic"),
                  ("p_value", "p_value"), ("ci_lower", "ci_lower"), ("ci_upper", "ci_upper")):
        close(cell[k], None if r[rk] == "NA" else float(r[rk]), f"{r['model']} {r['term']} {k}")
    if r["estimate"] == "NA" and r["term"] not in o["model"]["aliased"]:
        bad.append(f"{r['model']}: {r['term']} not reported as aliased")
    checked += 1
if bad:
    print("\n".join(bad))
    sys.exit(1)
print(f"R agreement: {checked} models and coefficients within 1e-6")
PY
