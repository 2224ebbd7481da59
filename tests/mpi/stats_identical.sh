#!/usr/bin/env bash
# describe, crosstab and histogram, in every shape (overall and grouped by 1
# to 3 columns, categorical or banded numeric ones, margins, every
# statistic, integer, real and date columns, edges from the job and from
# public bounds, a row filter, suppression), on 1, 2 and 4 ranks: the
# released and held CSVs are byte-identical and so are the output sections
# of results.json.
source "$(dirname "$0")/stats_lib.sh"

stats_cohort 40000 2500
cat >job.yaml <<'YAML'
cohort: cohort.h5
filter: 'age >= 18 and not (smoker == "former")'
analyses:
  - {type: describe, name: d1, columns: [age, bmi, systolic_bp, hba1c, cost, admission_date],
     probs: [0.05, 0.95], minmax: true}
  - {type: describe, name: d2, columns: [bmi, cost], by: [sex, smoker], margins: true,
     probs: [0.1], minmax: true}
  - {type: describe, name: d3, columns: [systolic_bp], by: [sex, region, diagnosis],
     mitigation: suppress}
  - {type: crosstab, name: c1, rows: region}
  - {type: crosstab, name: c2, rows: region, cols: sex, value: cost, mitigation: suppress}
  - {type: crosstab, name: c3, rows: sex, cols: smoker, layers: diagnosis, value: bmi,
     stats: [sum, mean], mitigation: suppress}
  - {type: crosstab, name: c4, rows: diagnosis, cols: sex, margins: false, value: age,
     stats: [median, sd]}
  - {type: histogram, name: h1, column: age, bins: 11}
  - {type: histogram, name: h2, column: bmi, edges: [10, 18.5, 25, 30, 40, 60], by: [sex, smoker]}
  - {type: histogram, name: h3, column: admission_date,
     edges: ['2015-01-01', '2018-01-01', '2021-01-01', '2025-01-01']}
  - {type: histogram, name: h4, column: systolic_bp, edges: [80, 120, 140, 160], by: [region]}
  - {type: crosstab, name: c5, rows: age, cols: region, value: cost, mitigation: suppress,
     bands: {age: [30, 45, 60, 75]}}
  - {type: describe, name: d4, columns: [bmi], by: [admission_date, sex], margins: true,
     bands: {admission_date: ['2016-01-01', '2020-01-01']}}
  - {type: histogram, name: h5, column: bmi, edges: [18.5, 25, 30], by: [age],
     bands: {age: [50]}}
YAML
outputs="d1_age d1_bmi d1_systolic_bp d1_hba1c d1_cost d1_admission_date d2_bmi d2_cost
d3_systolic_bp c1 c2 c3 c4 h1 h2 h3 h4 c5 d4_bmi h5"
for np in 1 2 4; do
  # each run starts from an empty release ledger, and an audit log that
  # has no record of an earlier one (else the new ledger is a deletion)
  rm -rf ledger audit
  run_job "$np" job.yaml "np$np" >"np$np.out" 2>"np$np.err" ||
    { cat "np$np.out" "np$np.err"; fail "run on $np ranks failed"; }
  python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
json.dump(doc["outputs"], open(sys.argv[2], "w"), indent=1, sort_keys=True)
' "released/np$np/results.json" "outputs$np.json"
done
for o in $outputs; do
  f1=$(stats_output np1 "$o")
  for np in 2 4; do
    fn=$(stats_output "np$np" "$o")
    cmp "$f1" "$fn" || fail "$o differs between 1 and $np ranks"
  done
done
for np in 2 4; do
  cmp outputs1.json "outputs$np.json" || fail "results.json outputs differ between 1 and $np ranks"
done
echo "describe, crosstab, histogram identical on 1, 2, 4 ranks: ok"
