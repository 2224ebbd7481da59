#!/usr/bin/env bash
# The same job on 1, 2 and 4 ranks gives byte-identical released outputs and
# identical output sections of results.json.
# Each rank count gets its own release ledger, so that differencing checks
# against the earlier runs cannot make the evidence differ.
source "$(dirname "$0")/../e2e/lib.sh"

make_cohort 50000 3000
write_policy true
cat >job.yaml <<'YAML'
cohort: cohort.h5
filter: 'age >= 30 and not (smoker == "yes")'
analyses:
  - {type: count, name: total}
  - {type: count, name: by_sex_region, by: [sex, region]}
  - {type: count, name: by_three, by: [sex, smoker, diagnosis]}
YAML
for np in 1 2 4; do
  sed -i "s/ledger: ledger[^}]*}/ledger: ledger-np$np}/" policy.yaml
  grep -q "ledger-np$np" policy.yaml || fail "could not set a fresh ledger"
  run_job "$np" job.yaml "np$np" >/dev/null 2>"np$np.err" || { cat "np$np.err"; fail "run on $np ranks failed"; }
  python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
json.dump(doc["outputs"], open(sys.argv[2], "w"), indent=1, sort_keys=True)
' "released/np$np/results.json" "outputs$np.json"
done
for np in 2 4; do
  for f in released/np1/*.csv released/np1/*.json; do
    b=$(basename "$f")
    [ "$b" = results.json ] && continue
    cmp "$f" "released/np$np/$b" || fail "$b differs between 1 and $np ranks"
  done
  cmp outputs1.json "outputs$np.json" || fail "results.json outputs differ between 1 and $np ranks"
done
ls released/np1/*.csv >/dev/null || fail "nothing released"
echo "identical on 1, 2, 4 ranks: ok"
