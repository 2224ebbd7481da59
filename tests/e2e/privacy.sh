#!/usr/bin/env bash
# Noisy counts (privacy: dp) end to end: requests the engine refuses, the
# budget charged per cohort and project and committed to the release ledger
# before noise, an exhausted budget failing without noise, concurrent jobs
# that cannot overspend, a layout that does not depend on the filter, runs
# on 1 and 2 ranks, the operator's budget listing, a tampered ledger, and
# the audit trail.
source "$(dirname "$0")/lib.sh"

make_cohort 3000 500
write_policy true

job() {  # job NAME ANALYSIS [FILTER]: a job file NAME.yaml with one analysis
  {
    echo "cohort: cohort.h5"
    echo "project: dp-study"
    [ -n "${3:-}" ] && echo "filter: '$3'"
    echo "analyses:"
    echo "  - $2"
  } >"$1.yaml"
}
refused() {  # refused JOB PATTERN: exit 2 and PATTERN in the error
  expect_exit 2 run_job 1 "$1.yaml" "$1"
  grep -q "$2" last.err || { cat last.err; fail "$1: error does not say '$2'"; }
  test ! -e "released/$1" || fail "$1: refused job released something"
}

# Without a budget in the policy, nothing noisy runs.
job nobudget '{type: crosstab, rows: region, privacy: dp, rho: 0.005}'
refused nobudget "sets no privacy budget"

echo "privacy: {rho: 0.02}" >>policy.yaml
job model '{type: glm, formula: "outcome ~ age", family: binomial, privacy: dp, rho: 0.005}'
refused model "available for count, crosstab, histogram and describe"
job both '{type: crosstab, rows: region, privacy: dp, rho: 0.005, epsilon: 1}'
refused both "both rho and epsilon"
job neither '{type: crosstab, rows: region, privacy: dp}'
refused neither "neither rho nor epsilon"
job decimals '{type: crosstab, rows: region, privacy: dp, rho: 0.0000005}'
refused decimals "at most 6 decimals"
job big '{type: crosstab, rows: region, privacy: dp, epsilon: 11}'
refused big "expected a decimal number in (0, 10]"
job mitigated '{type: crosstab, rows: region, privacy: dp, rho: 0.005, mitigation: suppress}'
refused mitigated "mitigation does not apply to noisy counts"
job stray '{type: crosstab, rows: region, rho: 0.005}'
refused stray "expected 'privacy: dp' beside it"
test ! -d ledger/release || ! grep -rq privacy ledger/release || fail "a refused job charged"

# Two outputs of 0.005 each (one Gaussian, one Laplace with epsilon 0.1,
# rho = 0.1^2 / 2), on 2 ranks: charged, released, audited.
cat >both.yaml <<'YAML'
cohort: cohort.h5
project: dp-study
analyses:
  - {type: crosstab, name: ct, rows: region, cols: sex, privacy: dp, rho: 0.005}
  - {type: histogram, name: h, column: age, edges: [0, 40, 60, 80], privacy: dp, epsilon: 0.1}
YAML
run_job 2 both.yaml dp1 >run.out 2>run.err || { cat run.out run.err; fail "dp1 failed"; }
grep -q "ct  *pass" run.out && grep -q "h  *pass" run.out || { cat run.out; fail "dp1 not released"; }
ledger=$(ls ledger/release/*/p_dp-study.json)
python3 - "$ledger" released/dp1/results.json released/dp1/ct.csv <<'PY'
import csv, json, sys
ledger, results, ctcsv = sys.argv[1:]
charges = [e for e in json.load(open(ledger))["entries"] if "privacy" in e]
assert [(c["output"], c["privacy"]["rho"]) for c in charges] == [("ct", "0.005"), ("h", "0.005")], charges
assert all(c["population"] is None and c["cells"] == [] for c in charges), "exact counts in a charge"
outs = {o["name"]: o for o in json.load(open(results))["outputs"]}
ev = [r for r in outs["ct"]["rules"] if r["rule"] == "privacy_budget"][0]["evidence"]
assert ev["mechanism"] == "discrete_gaussian" and ev["sigma2"] == "100", ev
assert (ev["spent_before"], ev["left"], ev["budget"]) == ("0", "0.015", "0.02"), ev
# rho 0.005 as (epsilon, 1e-6): between the exact conversion and the simple bound
assert ev["at_delta"] == 1e-6 and 0.3 < float(ev["epsilon_spent"]) < 0.005 + 2 * (0.005 * 13.8156) ** 0.5, ev
ev = [r for r in outs["h"]["rules"] if r["rule"] == "privacy_budget"][0]["evidence"]
assert ev["mechanism"] == "discrete_laplace" and ev["scale"] == "10" and ev["rho"] == "0.005", ev
assert ev["spent_before"] == "0.005", ev
assert not [r for r in outs["ct"]["rules"] if r["rule"] in ("min_safe_count", "differencing")]
# margins are sums of the noisy interior cells (withheld ones included):
# the grand total is the sum of the column totals
rows = list(csv.DictReader(open(ctcsv)))
val = lambda r: 0 if r["n"] == "NA" else int(r["n"])
tot = {r["sex"]: val(r) for r in rows if r["region"] == "Total"}
assert tot["Total"] == tot["F"] + tot["M"] + tot["(missing)"] or "NA" in [r["n"] for r in rows if r["region"] == "Total"], tot
assert all(r["n"] == "NA" or int(r["n"]) >= 10 for r in rows), "a released cell below the threshold"
PY
[ $? -eq 0 ] || fail "dp1 results"
grep -q '"event":"privacy_charge".*"spent_rho":"0.01"' audit/audit.log || fail "charge not audited"

# The layout shows every level whatever the filter: no patient without a
# sex passes this filter, yet the "(missing)" level is there (crosstab and
# count: 0.00055 and 0.03^2 / 2 = 0.00045).
cat >filtered.yaml <<'YAML'
cohort: cohort.h5
project: dp-study
filter: 'sex == "F"'
analyses:
  - {type: crosstab, name: ct, rows: sex, privacy: dp, rho: 0.00055}
  - {type: count, name: n, by: [sex], privacy: dp, epsilon: 0.03}
YAML
run_job 1 filtered.yaml dp2 >/dev/null 2>run.err || { cat run.err; fail "dp2 failed"; }
cut -d, -f1 released/dp2/ct.csv | tr '\n' ' ' | grep -q '^sex F M (missing) Total $' ||
  { cat released/dp2/ct.csv; fail "the layout depends on the filter"; }
cut -d, -f1 released/dp2/n.csv | tr '\n' ' ' | grep -q '^sex F M (missing) $' ||
  { cat released/dp2/n.csv; fail "the count's layout depends on the filter"; }

# 0.011 spent of 0.02: two concurrent jobs of 0.004 each fit, a third of
# 0.004 after them does not (0.023), and fails without noise.
job c1 '{type: crosstab, name: ct, rows: region, privacy: dp, rho: 0.004}'
cp c1.yaml c2.yaml
# (single processes without a launcher: the ledger's lock is what is tested,
# not two mpiexec starting at once)
solo() { no_launcher "$SL_BIN/sluice" run --policy policy.yaml --job-id "$@"; }
solo dpc1 c1.yaml >c1.out 2>&1 &
first=$!
solo dpc2 c2.yaml >c2.out 2>&1 || { cat c2.out; fail "dpc2 errored"; }
wait "$first" || { cat c1.out; fail "dpc1 errored"; }
grep -q "ct  *pass" c1.out && grep -q "ct  *pass" c2.out || { cat c1.out c2.out; fail "concurrent"; }
run_job 1 c1.yaml dpc3 >c3.out 2>&1 || { cat c3.out; fail "dpc3 errored"; }
grep -q "ct  *fail" c3.out && grep -q "has 0.001 of 0.02 left" c3.out || { cat c3.out; fail "overspent"; }
test ! -e released/dpc3/ct.csv || fail "an output over budget was released"
test "$(grep -o '"privacy":' "$ledger" | wc -l)" -eq 6 || fail "charges: $(grep -c privacy "$ledger")"

# Budgets are per project: another project starts from nothing.
sed 's/dp-study/other-study/' c1.yaml >o1.yaml
run_job 1 o1.yaml dpo1 >o1.out 2>&1 && grep -q "ct  *pass" o1.out || { cat o1.out; fail "project"; }

# Noisy sums and means need public bounds: refused on the inferred schema,
# and for statistics without a noisy form.
job nobounds '{type: crosstab, rows: sex, value: bmi, privacy: dp, rho: 0.01}'
refused nobounds "public bounds (lower, upper) in the cohort's schema, which it does not have"
job sd '{type: crosstab, rows: sex, value: bmi, stats: [mean, sd], privacy: dp, rho: 0.01}'
refused sd "sum and mean only"
job quantiles '{type: describe, columns: [bmi], probs: [0.9], privacy: dp, rho: 0.01}'
refused quantiles "noisy count, mean and median only"
job dnobounds '{type: describe, columns: [bmi], privacy: dp, rho: 0.01}'
refused dnobounds "noisy means clamp column 'bmi'"
# With bounds (bmi in [10, 70]) in another cohort: the noisy means by sex
# within 1.5 of the exact ones (their noise sd is about 0.25 here), and a
# noisy describe.
python3 - <<'PY'
s = open("cohort.schema.yaml").read()
s = s.replace('name: "bmi"\n    type: real\n', 'name: "bmi"\n    type: real\n    lower: 10\n    upper: 70\n')
assert "upper: 70" in s
open("bounds.schema.yaml", "w").write(s)
PY
"$SL_BIN/sluice" ingest --quiet --key centre.kek --in export.csv --out bounded.h5 \
  --schema bounds.schema.yaml --chunk-rows 500 >/dev/null 2>ingest.err ||
  { cat ingest.err; fail "ingest with bounds"; }
sed -i 's/cohorts: \[{path: cohort.h5, users: \["\*"\]}\]/cohorts: [{path: cohort.h5, users: ["*"]}, {path: bounded.h5, users: ["*"]}]/' policy.yaml
cat >values.yaml <<'YAML'
cohort: bounded.h5
project: dp-values
analyses:
  - {type: crosstab, name: noisy, rows: sex, value: bmi, privacy: dp, rho: 0.01}
  - {type: crosstab, name: exact, rows: sex, value: bmi, stats: [sum, mean]}
  - {type: describe, name: dnoisy, columns: [bmi], by: [sex], privacy: dp, epsilon: 0.1}
  - {type: describe, name: dexact, columns: [bmi], by: [sex]}
YAML
run_job 2 values.yaml dpv >run.out 2>run.err || { cat run.out run.err; fail "dpv failed"; }
grep -q "noisy  *pass" run.out || { cat run.out; fail "noisy means not released"; }
python3 - released/dpv/noisy.csv released/dpv/exact.csv released/dpv/results.json <<'PY'
import csv, json, sys
noisy = {r["sex"]: r for r in csv.DictReader(open(sys.argv[1]))}
exact = {r["sex"]: r for r in csv.DictReader(open(sys.argv[2]))}
for sex in ("F", "M", "Total"):
    assert abs(float(noisy[sex]["mean"]) - float(exact[sex]["mean"])) < 1.5, (sex, noisy[sex], exact[sex])
    # the sum's noise: center 40 times the noisy count's (sd 14 a cell) and the
    # lattice sum's (sd 300 a cell): about 1100 for the Total of three cells
    assert abs(float(noisy[sex]["sum"]) - float(exact[sex]["sum"])) < 6600, (sex, noisy[sex], exact[sex])
# no patient lacks a sex, yet the level is shown (its noisy count may pass
# the threshold: about one run in four at this budget)
assert "(missing)" in noisy, noisy
out = [o for o in json.load(open(sys.argv[3]))["outputs"] if o["name"] == "noisy"][0]
ev = [r for r in out["rules"] if r["rule"] == "privacy_budget"][0]["evidence"]
assert [q["share"] for q in ev["queries"]] == ["1/4", "1/4", "1/2"], ev
assert ev["queries"][2]["sensitivity"] == 1024 and ev["value_lattice"]["step"] == 60 / 2048, ev
assert not [r for r in out["rules"] if r["rule"].startswith("dominance")], "exact rules ran"
PY
python3 - released/dpv/dnoisy_bmi.csv released/dpv/dexact_bmi.csv <<'PY'
import csv, sys
noisy = {r["sex"]: r for r in csv.DictReader(open(sys.argv[1]))}
exact = {r["sex"]: r for r in csv.DictReader(open(sys.argv[2]))}
assert list(next(iter(noisy.values())).keys()) == ["sex", "n", "present", "mean", "median"], noisy
for sex in ("F", "M"):
    # epsilon 0.1 (rho 0.005: 0.015 of the project's 0.02 spent): the mean's
    # noise sd is about 0.8 here, the count's about 57
    assert abs(float(noisy[sex]["mean"]) - float(exact[sex]["mean"])) < 5, (noisy[sex], exact[sex])
    assert abs(int(noisy[sex]["present"]) - int(exact[sex]["present"])) < 350, (noisy[sex], exact[sex])
    # the median: the exponential mechanism at epsilon 0.025 over points 0.03 apart,
    # a few patients each: typically within 0.5
    assert abs(float(noisy[sex]["median"]) - float(exact[sex]["median"])) < 3, (noisy[sex], exact[sex])
PY

"$SL_BIN/sluice" ledger budget --policy policy.yaml >budget.out || { cat budget.out; fail "budget"; }
grep -Eq " dp-study +6 +0.019 +0.001 " budget.out && grep -Eq " other-study +1 +0.004 +0.016 " budget.out ||
  { cat budget.out; fail "budget listing"; }

# A charge deleted from the ledger (to get budget back) breaks its MAC: the
# listing and every job on it refuse it.
cp "$ledger" ledger.bak
python3 - "$ledger" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["entries"] = [e for e in d["entries"] if "privacy" not in e]
json.dump(d, open(sys.argv[1], "w"), indent=1)
PY
expect_exit 4 "$SL_BIN/sluice" ledger budget --policy policy.yaml
grep -q "does not match its MAC" last.err || { cat last.err; fail "tampered ledger listed"; }
expect_exit 4 run_job 1 c1.yaml dpt
test ! -e released/dpt || fail "a job ran on a tampered ledger"
cp ledger.bak "$ledger"

"$SL_BIN/sluice" audit verify audit/audit.log --key audit.key --ledger ledger >/dev/null ||
  fail "audit verify"
echo "privacy: ok"
