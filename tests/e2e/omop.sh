#!/usr/bin/env bash
# OMOP CDM tables to released statistics: sluice-synth writes the tables,
# `sluice ingest --omop` pivots them with the demo's feature spec, a job
# tabulates the features on 1 and 2 ranks, and SQLite, given the same CSV
# files and the spec's rules written as SQL, must find the same persons, the
# same cells and the same means (HbA1c by diabetes and sex; mean BMI, maximum
# blood pressure, diagnosis counts and days to death per person, described);
# then again with the population and index dates of a cohort in the OMOP
# cohort table, and with the tables gzip-compressed. Also: the CLI's
# refusals and that a failed ingest leaves nothing behind.
SPEC=$(cd "$(dirname "$0")/../.." && pwd)/demo/omop-features.yaml
source "$(dirname "$0")/lib.sh"

mkdir omop
"$SL_BIN/sluice-synth" --rows 3000 --seed 11 --omop omop >/dev/null
"$SL_BIN/sluice" keygen --out centre.kek >/dev/null
"$SL_BIN/sluice" keygen --out audit.key >/dev/null

expect_exit 2 "$SL_BIN/sluice" ingest --key centre.kek --omop omop --out cohort.h5
grep -q -- "--omop needs --features" last.err || fail "missing --features not named"
expect_exit 2 "$SL_BIN/sluice" ingest --key centre.kek --omop omop --features "$SPEC" \
  --in x.csv --out cohort.h5
printf 'sluice_omop: 1\nindex: observation_period_start\nfeatures:\n  - {name: a, drug: [1], value: mean}\n' >bad.yaml
expect_exit 2 "$SL_BIN/sluice" ingest --key centre.kek --omop omop --features bad.yaml \
  --out cohort.h5
grep -q "bad.yaml:4:33: 'mean' needs values" last.err || { cat last.err; fail "spec error"; }
test ! -e cohort.h5 || fail "a refused ingest left cohort.h5"

ingest_events --omop omop "$SPEC" "11 features; the headers of 6 tables"
"$SL_BIN/sluice" inspect cohort.h5 >inspect.out
grep -Eq "hba1c +real +sensitive" inspect.out || fail "hba1c column: $(cat inspect.out)"
grep -Eq "diabetes +categorical +sensitive +2" inspect.out || fail "diabetes column"

write_policy true
cat >job.yaml <<'YAML'
cohort: cohort.h5
analyses:
  - {type: crosstab, name: hba1c, rows: diabetes, cols: sex, value: hba1c, margins: false}
  - {type: crosstab, name: hypertension, rows: hypertension, cols: sex, margins: false}
  - {type: crosstab, name: metformin, rows: metformin, cols: diabetes, margins: false}
  - {type: describe, name: d, columns: [bmi, systolic_bp, diabetes_visits, days_to_death]}
YAML
run_job 1 job.yaml one >job1.log 2>&1 || { cat job1.log; fail "job on 1 rank"; }
run_job 2 job.yaml two >/dev/null 2>&1 || fail "job on 2 ranks"
# metformin is prescribed after a diabetes diagnosis only: the cell
# (metformin yes, diabetes no) is empty, so the gate withholds the table.
grep -q "zero_cells: 1 cell(s) are empty" job1.log || { cat job1.log; fail "metformin"; }
test ! -e released/one/metformin.csv || fail "metformin table released"
for f in hba1c.csv hypertension.csv d_bmi.csv d_days_to_death.csv; do
  cmp "released/one/$f" "released/two/$f" || fail "$f differs between 1 and 2 ranks"
done

# The oracle: the same tables in SQLite, the spec's features as SQL.
sqlite3 oracle.db <<'SQL'
.mode csv
.import omop/person.csv person
.import omop/observation_period.csv observation_period
.import omop/measurement.csv measurement
.import omop/condition_occurrence.csv condition_occurrence
.import omop/drug_exposure.csv drug_exposure
.import omop/death.csv death
CREATE INDEX m_p ON measurement(person_id);
CREATE INDEX c_p ON condition_occurrence(person_id);
CREATE INDEX d_p ON drug_exposure(person_id);
CREATE TABLE idx AS SELECT person_id, MIN(observation_period_start_date) AS d
  FROM observation_period GROUP BY person_id;
CREATE TABLE feat AS SELECT
  CASE p.gender_concept_id WHEN '8532' THEN 'F' WHEN '8507' THEN 'M' END AS sex,
  CASE WHEN EXISTS (SELECT 1 FROM condition_occurrence c WHERE c.person_id = i.person_id
    AND c.condition_concept_id = '201826' AND c.condition_start_date <= i.d)
    THEN 'yes' ELSE 'no' END AS diabetes,
  CASE WHEN EXISTS (SELECT 1 FROM condition_occurrence c WHERE c.person_id = i.person_id
    AND c.condition_concept_id = '320128' AND c.condition_start_date <= i.d)
    THEN 'yes' ELSE 'no' END AS hypertension,
  CASE WHEN EXISTS (SELECT 1 FROM drug_exposure x WHERE x.person_id = i.person_id
    AND x.drug_concept_id = '1503297' AND x.drug_exposure_start_date <= i.d)
    THEN 'yes' ELSE 'no' END AS metformin,
  (SELECT CAST(m.value_as_number AS REAL) FROM measurement m
    WHERE m.person_id = i.person_id AND m.measurement_concept_id = '3004410'
      AND m.unit_concept_id = '8554' AND m.value_as_number <> ''
      AND julianday(m.measurement_date) - julianday(i.d) BETWEEN -730 AND 0
    ORDER BY m.measurement_date DESC, CAST(m.measurement_id AS INTEGER) DESC LIMIT 1) AS hba1c,
  (SELECT AVG(CAST(m.value_as_number AS REAL)) FROM measurement m
    WHERE m.person_id = i.person_id AND m.measurement_concept_id = '3038553'
      AND julianday(m.measurement_date) - julianday(i.d) BETWEEN -730 AND 0) AS bmi,
  (SELECT MAX(CAST(m.value_as_number AS REAL)) FROM measurement m
    WHERE m.person_id = i.person_id AND m.measurement_concept_id = '3004249'
      AND julianday(m.measurement_date) - julianday(i.d) BETWEEN -730 AND 0) AS systolic_bp,
  (SELECT COUNT(*) FROM condition_occurrence c WHERE c.person_id = i.person_id
    AND c.condition_concept_id = '201826') AS diabetes_visits,
  (SELECT MIN(CAST(julianday(x.death_date) - julianday(i.d) AS INTEGER)) FROM death x
    WHERE x.person_id = i.person_id AND x.death_date >= i.d) AS days_to_death
  FROM idx i JOIN person p ON p.person_id = i.person_id;
.output persons.txt
SELECT COUNT(*) FROM feat;
.output hba1c.txt
SELECT diabetes, sex, COUNT(*), COUNT(hba1c), printf('%.12g', AVG(hba1c)) FROM feat
  GROUP BY diabetes, sex ORDER BY diabetes, sex;
.output hypertension.txt
SELECT hypertension, sex, COUNT(*) FROM feat GROUP BY hypertension, sex;
.output metformin.txt
SELECT COUNT(*) FROM feat WHERE metformin = 'yes' AND diabetes = 'no';
.output describe.txt
SELECT 'bmi', COUNT(bmi), printf('%.12g', AVG(bmi)) FROM feat
UNION ALL SELECT 'systolic_bp', COUNT(systolic_bp), printf('%.12g', AVG(systolic_bp)) FROM feat
UNION ALL SELECT 'diabetes_visits', COUNT(*), printf('%.12g', AVG(diabetes_visits)) FROM feat
UNION ALL SELECT 'days_to_death', COUNT(days_to_death), printf('%.12g', AVG(days_to_death))
  FROM feat;
SQL
[ "$(cat persons.txt)" -eq "$persons" ] || fail "SQLite finds $(cat persons.txt) persons"
[ "$(cat metformin.txt)" -eq 0 ] || fail "SQLite finds metformin without diabetes"
python3 - released/one/hba1c.csv hba1c.txt released/one/hypertension.csv hypertension.txt <<'PY'
import csv, sys
def rows(path):
    with open(path) as f:
        return list(csv.reader(f))
got = {(r[0], r[1]): r for r in rows(sys.argv[1])[1:]}
for d, s, n, nv, mean in rows(sys.argv[2]):
    g = got.pop((d, s))
    assert int(g[2]) == int(n), (d, s, g, n)
    assert abs(float(g[3]) / float(g[4]) - int(nv)) < 1e-6, (d, s, g, nv)  # sum / mean
    assert abs(float(g[4]) - float(mean)) <= 1e-9 * abs(float(mean)), (d, s, g, mean)
assert not got, got
got = {(r[0], r[1]): r for r in rows(sys.argv[3])[1:]}
for m, d, n in rows(sys.argv[4]):
    assert int(got.pop((m, d))[2]) == int(n), (m, d)
assert not got, got
print("sluice and SQLite agree on", sys.argv[1], "and", sys.argv[3])
PY
# describe: persons with a value and the mean of each feature (mean of the
# per-person means for bmi, max for blood pressure, counts, days to death)
while IFS=, read -r name present mean; do
  got=$(sed -n 2p "released/one/d_$name.csv")
  python3 -c 'import sys
n, present, missing, mean = sys.argv[1].split(",")[:4]
assert int(present) == int(sys.argv[2]), (sys.argv[3], present, sys.argv[2])
assert abs(float(mean) - float(sys.argv[4])) <= 1e-9 * abs(float(sys.argv[4])), sys.argv[3:]
' "$got" "$present" "$name" "$mean" || fail "describe $name differs from SQLite"
done <describe.txt
[ "$(wc -l <describe.txt)" -eq 4 ] || fail "describe.txt: $(cat describe.txt)"

# The population and index dates of an OMOP cohort (definition 1: type 2
# diabetes from its first diagnosis), against the same in SQLite.
sed 's/^index: .*/index: {cohort: 1}/' "$SPEC" >cohort-spec.yaml
mv cohort.h5 by-observation.h5
"$SL_BIN/sluice" ingest --quiet --key centre.kek --omop omop --features cohort-spec.yaml \
  --out cohort.h5 >ingest2.out
persons=$(sed -n 's/^ingested \([0-9]*\) persons x 12 columns.*/\1/p' ingest2.out)
# Everyone in the cohort has the diagnosis on the index date (`to: 0`
# includes it), so the filter keeps them all.
cat >job2.yaml <<'YAML'
cohort: cohort.h5
filter: 'diabetes == "yes"'
analyses:
  - {type: crosstab, name: hypertension, rows: hypertension, cols: sex, margins: false}
YAML
run_job 2 job2.yaml in-cohort >job2.log 2>&1 || { cat job2.log; fail "job on the cohort"; }
sqlite3 oracle.db <<'SQL'
.mode csv
.import omop/cohort.csv cohort
CREATE TABLE idx2 AS SELECT subject_id AS person_id, MIN(cohort_start_date) AS d
  FROM cohort WHERE cohort_definition_id = '1' GROUP BY subject_id;
.output persons2.txt
SELECT COUNT(*) FROM idx2;
.output hypertension2.txt
SELECT CASE WHEN EXISTS (SELECT 1 FROM condition_occurrence c WHERE c.person_id = i.person_id
    AND c.condition_concept_id = '320128' AND c.condition_start_date <= i.d)
    THEN 'yes' ELSE 'no' END AS hypertension,
  CASE p.gender_concept_id WHEN '8532' THEN 'F' WHEN '8507' THEN 'M' END AS sex, COUNT(*)
  FROM idx2 i JOIN person p ON p.person_id = i.person_id GROUP BY 1, 2 ORDER BY 1, 2;
SQL
[ "$(cat persons2.txt)" -eq "$persons" ] || fail "SQLite finds $(cat persons2.txt) in the cohort"
tail -n +2 released/in-cohort/hypertension.csv | cut -d, -f1-3 | sort >sluice2.txt
[ "$(wc -l <sluice2.txt)" -eq 4 ] || fail "hypertension by sex: $(cat sluice2.txt)"
sort hypertension2.txt | cmp - sluice2.txt || fail "hypertension in the cohort differs"

# The same export gzip-compressed (.csv.gz, one table tab-separated as
# .tsv.gz) ingests to the same cohort (in chunks of the same size): the same
# job releases the same tables, to the last bit. A table beside its own
# gzip copy is refused.
mkdir omop-gz
for f in omop/*.csv; do gzip -c "$f" >"omop-gz/$(basename "$f").gz"; done
rm omop-gz/measurement.csv.gz
tr ',' '\t' <omop/measurement.csv | gzip >omop-gz/measurement.tsv.gz
mv cohort.h5 in-cohort.h5
"$SL_BIN/sluice" ingest --quiet --key centre.kek --omop omop-gz --features "$SPEC" \
  --out cohort.h5 --chunk-rows 500 >ingest-gz.out || fail "ingest of the gzip-compressed tables"
run_job 1 job.yaml gz >job-gz.log 2>&1 || { cat job-gz.log; fail "job on the gzip tables"; }
for f in hba1c.csv hypertension.csv d_bmi.csv d_days_to_death.csv; do
  cmp "released/one/$f" "released/gz/$f" || fail "$f differs for the gzip-compressed tables"
done
cp omop/death.csv omop-gz/
expect_exit 2 "$SL_BIN/sluice" ingest --key centre.kek --omop omop-gz --features "$SPEC" \
  --out twice.h5
grep -q "death.csv and .*death.csv.gz: the same table twice" last.err ||
  fail "a table beside its gzip copy: $(cat last.err)"
echo "e2e omop: ok"
