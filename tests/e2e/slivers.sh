#!/usr/bin/env bash
# Differencing by cut points: a count by age bands is released; a later job
# cutting age one year further along (bands, or a histogram whose last
# edge includes that year) fails its differencing rule when that year holds
# 1 to 9 patients (min_safe_count 10), and names the earlier output; the
# same cuts again, a year holding 10 or more, or another filter far apart
# pass; a filter's bound on age is a cut like a band's. The
# years are picked from the export, so the test knows each group's size.
# Then `sluice ledger list` shows the operator every table that passed, with
# its cuts and filter, and none that failed.
source "$(dirname "$0")/lib.sh"

make_cohort 4000 1000
write_policy true
read -r small big < <(python3 - <<'PY'
import csv
from collections import Counter
ages = Counter(int(r["age"]) for r in csv.DictReader(open("export.csv"))
               if r["age"] not in ("", "NA"))
def below(a):
    return sum(n for b, n in ages.items() if b < a)
total = sum(ages.values())
# a year of 1 to 9 patients with enough on both sides for every band to pass
small = min(a for a, n in ages.items()
            if 1 <= n <= 9 and below(a) >= 10 and total - below(a + 1) >= 10)
big = max(ages, key=lambda a: ages[a])
assert ages[big] >= 10
print(small, big)
PY
)
# status of the differencing rule of output OUT of job ID
differencing() {
  python3 - "$1" "$2" <<'PY'
import json, sys
doc = json.load(open(f"released/{sys.argv[1]}/results.json"))
out = [o for o in doc["outputs"] if o["name"] == sys.argv[2]][0]
rule = [r for r in out["rules"] if r["rule"] == "differencing"][0]
print(rule["status"], rule.get("reason", ""))
PY
}
job() {  # job ID ANALYSIS [FILTER]
  { echo "cohort: cohort.h5"; [ -n "${3:-}" ] && echo "filter: '$3'"
    echo "analyses:"; echo "  - $2"; } >"$1.yaml"
  run_job 1 "$1.yaml" "$1" >"$1.out" 2>"$1.err" || { cat "$1.out" "$1.err"; fail "job $1 failed"; }
}

job first "{type: count, name: a, by: [age], bands: {age: [$small]}}"
test -f released/first/a.csv || fail "the first table was not released"

job shifted "{type: count, name: b, by: [age], bands: {age: [$((small + 1))]}}"
read -r status reason < <(differencing shifted b)
[ "$status" = fail ] || fail "bands one year apart around $small passed differencing"
case "$reason" in
  *"cuts of 'age'"*"output 'a' of job first"*) ;;
  *) fail "reason does not name the column and the earlier output: $reason" ;;
esac

job edges "{type: histogram, name: h, column: age, edges: [0, $small]}"
[ "$(differencing edges h | cut -d' ' -f1)" = fail ] ||
  fail "a histogram whose last edge includes $small passed differencing"

job again "{type: describe, name: d, columns: [bmi], by: [age], bands: {age: [$small]}}"
[ "$(differencing again d_bmi | cut -d' ' -f1)" = pass ] || fail "the same cuts again failed"

job big1 "{type: count, name: b1, by: [age], bands: {age: [$big]}}"
[ "$(differencing big1 b1 | cut -d' ' -f1)" = pass ] || fail "cuts far apart failed"
job big2 "{type: count, name: b2, by: [age], bands: {age: [$((big + 1))]}}"
[ "$(differencing big2 b2 | cut -d' ' -f1)" = pass ] || fail "a year of 10 or more patients failed"

job filtered "{type: count, name: f, by: [age], bands: {age: [$((small + 1))]}}" "sex == \"F\""
[ "$(differencing filtered f | cut -d' ' -f1)" = pass ] ||
  fail "another filter's table, far apart above and below the cuts, failed"

# A filter's bound is a cut: the patients at or above small + 1 against
# those at or above small (the first table) leave the year small.
job bound "{type: count, name: g, by: [sex]}" "age >= $((small + 1))"
read -r status reason < <(differencing bound g)
[ "$status" = fail ] || fail "a filter bounding age at $((small + 1)) passed differencing"
case "$reason" in
  *"cuts of 'age'"*) ;;
  *) fail "reason does not name the column cut by the filter: $reason" ;;
esac
job bound2 "{type: count, name: g2, by: [sex]}" "age >= $((big + 1))"
[ "$(differencing bound2 g2 | cut -d' ' -f1)" = pass ] ||
  fail "a filter bound beside a year of 10 or more patients failed"
# The operator's view of what was released: every table that passed, with
# its cut points and filter, none that failed.
"$SL_BIN/sluice" ledger list --policy policy.yaml >list.out || { cat list.out; fail "ledger list"; }
for o in "a (count)" "d_bmi (describe)" "b1 (count)" "b2 (count)" "f (count)" "g2 (count)"; do
  grep -q "  $o\$" list.out || { cat list.out; fail "ledger list lacks $o"; }
done
! grep -Eq "  (b|h|g) \(" list.out || { cat list.out; fail "ledger list shows a failed output"; }
grep -q "by age cut at $small; filter (none); " list.out || { cat list.out; fail "no cut points"; }
grep -q "filter 'sex == \"F\"'" list.out || { cat list.out; fail "no filter"; }
grep -q "^1 ledger(s) under ledger: 6 released table(s), 0 privacy charge(s)$" list.out ||
  { cat list.out; fail "ledger list totals"; }
echo "slivers: ok ($small: a small year, $big: a large one)"
