#!/usr/bin/env bash
# A FHIR Bulk Data export to released statistics: sluice-synth writes the
# NDJSON files, `sluice ingest --fhir` pivots them with the demo's feature
# spec, a job tabulates the features on 1 and 2 ranks, and an oracle in
# Python, reading the same files with its json module as docs/fhir.md says,
# must find the same persons, the same cells and the same means (HbA1c by
# diabetes and sex, hypertension and smoking status by sex; mean BMI, maximum
# blood pressure, inpatient stays, days to death and age, described); then
# again with a date as the index, race and ethnicity, and the observations
# split into two files. Also: the CLI's refusals, and that a failed ingest
# leaves nothing behind. The export has what docs/fhir.md deals with:
# records entered in error (an encounter before the first among them, or one
# cancelled or planned; conditions refuted; observations cancelled),
# HbA1c in mmol/mol and without a value, units given by code or by display
# text only, same-day repeats, local codings beside and instead of LOINC,
# dateTimes whose date as written is not the date in UTC, effectivePeriod and
# effectiveInstant, onsetPeriod and recordedDate, absolute and urn:uuid
# references, birth years without a day, deceasedBoolean without a date,
# blood pressure panels whose 8480-6 components count as systolic values,
# medications stated (some before the first order, some entered in error),
# given (R4 and R5 shapes) and dispensed (some declined) besides those
# ordered, and influenza vaccines (Immunization, some not done).
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SPEC=$ROOT/demo/fhir-features.yaml
source "$(dirname "$0")/lib.sh"

mkdir fhir
"$SL_BIN/sluice-synth" --rows 3000 --seed 11 --fhir fhir >/dev/null
"$SL_BIN/sluice" keygen --out centre.kek >/dev/null
"$SL_BIN/sluice" keygen --out audit.key >/dev/null

expect_exit 2 "$SL_BIN/sluice" ingest --key centre.kek --fhir fhir --out cohort.h5
grep -q -- "--features" last.err || fail "missing --features not named: $(cat last.err)"
expect_exit 2 "$SL_BIN/sluice" ingest --key centre.kek --fhir fhir \
  --features "$ROOT/demo/omop-features.yaml" --out cohort.h5
grep -q "sluice_fhir" last.err || fail "an OMOP spec for --fhir: $(cat last.err)"
printf 'sluice_fhir: 1\nindex: first_encounter\nfeatures:\n%s\n' \
  '  - {name: a, medication: ["x|1"], value: mean}' >bad.yaml
expect_exit 2 "$SL_BIN/sluice" ingest --key centre.kek --fhir fhir --features bad.yaml \
  --out cohort.h5
grep -q "bad.yaml:4:43: 'mean' needs values" last.err || { cat last.err; fail "spec error"; }
# A resource of a patient who is not in Patient.ndjson: the error names the
# file and line, never the value, and nothing is written.
mkdir bad
cp fhir/*.ndjson bad/
line=$(($(wc -l <bad/Observation.ndjson) + 1))
{ printf '{"resourceType":"Observation","id":"x1","status":"final",'
  printf '"code":{"coding":[{"system":"http://loinc.org","code":"4548-4"}]},'
  printf '"subject":{"reference":"Patient/nobody-here"},"effectiveDateTime":"2015-03-04",'
  printf '"valueQuantity":{"value":6.1,"code":"%%"}}\n'
} >>bad/Observation.ndjson
expect_exit 2 "$SL_BIN/sluice" ingest --key centre.kek --fhir bad --features "$SPEC" \
  --out cohort.h5
grep -q "Observation.ndjson:$line:" last.err || { cat last.err; fail "data error"; }
! grep -q "nobody-here" last.err || fail "the error shows a value: $(cat last.err)"
test ! -e cohort.h5 || fail "a refused ingest left cohort.h5"

ingest_events --fhir fhir "$SPEC" "12 features;.*nothing was written"
"$SL_BIN/sluice" inspect cohort.h5 >inspect.out
grep -Eq "hba1c +real +sensitive" inspect.out || fail "hba1c column: $(cat inspect.out)"
grep -Eq "sex +categorical +quasi +2" inspect.out || fail "sex column: $(cat inspect.out)"
grep -Eq "smoking +categorical +sensitive +3" inspect.out || fail "smoking column"
grep -Eq "inpatient_stays +integer +sensitive" inspect.out || fail "inpatient_stays column"

# The oracle: every patient's features from the NDJSON files, following
# docs/fhir.md and the demo spec, then the released cells and means checked
# against them. oracle.py DIR INDEX RELEASED PERSONS [--sex-present] CHECK...
# with INDEX first_encounter or a date, and CHECK one of
#   ct:NAME:ROWS:COLS:VALUE  crosstab NAME.csv (COLS and VALUE may be empty):
#                            the same cells, n, and the sum and mean of VALUE
#   d:NAME:COL,COL,...       describe NAME_COL.csv: n, present and mean
#   none:A:LA:B:LB           no person has A == LA and B == LB
cat >oracle.py <<'PY'
import csv, datetime, gzip, json, os, sys
from collections import Counter, defaultdict

LOINC, SCT = "http://loinc.org", "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ACTCODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CVX = "http://hl7.org/fhir/sid/cvx"
SMOKING = {SCT + "|266919005": "never", SCT + "|8517006": "former", SCT + "|77176002": "current"}
# statuses besides entered-in-error that say an event did not happen
NOT_DONE = {"Encounter": ("planned", "cancelled"), "Observation": ("cancelled",),
            "Procedure": ("not-done",), "MedicationStatement": ("not-taken",),
            "MedicationAdministration": ("not-done",),
            "MedicationDispense": ("cancelled", "declined"), "Immunization": ("not-done",)}
folder, index, released, persons = sys.argv[1:5]
checks = [a for a in sys.argv[5:] if a != "--sex-present"]

def day(text):  # a date, or a dateTime that counts by its date as written
    assert len(text) == 10 or text[10] == "T", text
    return datetime.date.fromisoformat(text[:10]).toordinal()

def resources(kind):  # T.ndjson, T.*.ndjson and T-*.ndjson (or .ndjson.gz) in name order
    names = sorted(n for n in os.listdir(folder) if n.endswith((".ndjson", ".ndjson.gz")) and (
        n in (kind + ".ndjson", kind + ".ndjson.gz") or n.startswith(kind + ".")
        or n.startswith(kind + "-")))
    for name in names:
        path = os.path.join(folder, name)
        with (gzip.open(path, "rt", encoding="utf-8") if name.endswith(".gz")
              else open(path, encoding="utf-8")) as f:
            for line in f:
                if not line.strip():
                    continue
                r = json.loads(line)
                assert r["resourceType"] == kind, (name, r["resourceType"])
                gone = NOT_DONE.get(kind, ()) + ("entered-in-error",)
                if r.get("status") not in gone and not any(
                        c.get("code") in ("entered-in-error", "refuted")
                        for c in r.get("verificationStatus", {}).get("coding", [])):
                    yield r

def patient(r):  # Immunization names its patient in patient, the others in subject
    ref = (r["patient"] if r["resourceType"] == "Immunization" else r["subject"])["reference"]
    pid = ref[len("urn:uuid:"):] if ref.startswith("urn:uuid:") else ref.split("Patient/")[-1]
    assert pid in patients, ref
    return pid

def has(codings, system, code):
    return any(c.get("system") == system and c.get("code") == code for c in codings)

def omb(r, what):  # the first ombCategory code of the US Core race or ethnicity extension
    for e in r.get("extension", []):
        if e.get("url") == "http://hl7.org/fhir/us/core/StructureDefinition/us-core-" + what:
            for x in e.get("extension", []):
                if x.get("url") == "ombCategory":
                    return x["valueCoding"]["code"]

patients = {}
for r in resources("Patient"):
    assert r["id"] not in patients, r["id"]
    patients[r["id"]] = r
idx, stays = {}, Counter()
for r in resources("Encounter"):
    p, d = patient(r), day(r["period"]["start"])
    idx[p] = min(idx.get(p, d), d)
    stays[p] += r["class"].get("system") == ACTCODE and r["class"].get("code") == "IMP"
if index != "first_encounter":
    idx = {p: day(index) for p in patients}
line = 0
obs = defaultdict(list)  # (patient, LOINC code) -> [(day, line, value, unit, concept)]
for r in resources("Observation"):
    line += 1
    for code in ("4548-4", "39156-5", "8480-6", "72166-2"):
        # the resource's own code, else the first component with it (panels)
        hit = r if has(r["code"].get("coding", []), LOINC, code) else next(
            (c for c in r.get("component", []) if has(c["code"].get("coding", []), LOINC, code)),
            None)
        if hit is not None:
            when = r.get("effectiveDateTime") or (r.get("effectivePeriod") or {}).get("start") \
                or r["effectiveInstant"]
            q = hit.get("valueQuantity") or {}
            concept = (hit.get("valueCodeableConcept") or {}).get("coding", [None])[0]
            obs[patient(r), code].append((day(when), line, q.get("value"),
                                          q.get("code", q.get("unit")), concept))
first = {}  # (patient, code) -> the earliest date of a condition or prescription
for r in resources("Condition"):
    for code in ("44054006", "59621000"):
        if has(r["code"].get("coding", []), SCT, code):
            d = day(r.get("onsetDateTime") or (r.get("onsetPeriod") or {}).get("start")
                    or r["recordedDate"])
            first[patient(r), code] = min(first.get((patient(r), code), d), d)
# a medication ordered, stated, given or dispensed: R4 medicationCodeableConcept or R5
# medication.concept; each type's date elements in docs/fhir.md's order
for kind, dates in (("MedicationRequest", ("authoredOn",)),
                    ("MedicationStatement", ("effectiveDateTime", "effectivePeriod",
                                             "dateAsserted")),
                    ("MedicationAdministration", ("effectiveDateTime", "effectivePeriod",
                                                  "occurenceDateTime", "occurencePeriod")),
                    ("MedicationDispense", ("whenHandedOver", "whenPrepared"))):
    for r in resources(kind):
        med = r.get("medicationCodeableConcept") or r["medication"]["concept"]
        if has(med.get("coding", []), RXNORM, "860975"):
            when = next(r[k] for k in dates if k in r)
            d = day(when["start"] if isinstance(when, dict) else when)
            first[patient(r), "860975"] = min(first.get((patient(r), "860975"), d), d)

flu = defaultdict(list)  # patient -> the dates of influenza vaccines given
for r in resources("Immunization"):
    if has(r["vaccineCode"].get("coding", []), CVX, "140"):
        flu[patient(r)].append(day(r["occurrenceDateTime"]))

rows = []
for p, r in patients.items():
    if p not in idx:
        continue
    i = idx[p]
    def window(code, lo=-10**9, hi=10**9):
        return [o for o in obs[p, code] if lo <= o[0] - i <= hi]
    f = {"sex": {"female": "F", "male": "M"}.get(r.get("gender")),
         "age": datetime.date.fromordinal(i).year - int(r["birthDate"][:4]),
         "race": omb(r, "race"), "ethnicity": omb(r, "ethnicity")}
    a1c = [o for o in window("4548-4", -730, 0) if o[2] is not None and o[3] == "%"]
    f["hba1c"] = max(a1c, key=lambda o: o[:2])[2] if a1c else None  # ties: the later line
    bmi = [o[2] for o in window("39156-5", -730, 0) if o[2] is not None]
    assert len({o[3] for o in window("39156-5") if o[2] is not None}) <= 1, "BMI units"
    f["bmi"] = sum(bmi) / len(bmi) if bmi else None
    sbp = [o[2] for o in window("8480-6", -730, 0) if o[2] is not None]
    f["systolic_bp"] = max(sbp) if sbp else None
    smoking = [o for o in window("72166-2") if o[4]]
    c = max(smoking, key=lambda o: o[:2])[4] if smoking else None
    f["smoking"] = c and SMOKING.get("%s|%s" % (c.get("system"), c.get("code")))
    for name, code in (("diabetes", "44054006"), ("hypertension", "59621000"),
                       ("metformin", "860975")):
        f[name] = "yes" if first.get((p, code), i + 1) <= i else "no"
    f["flu_vaccine"] = "yes" if any(-365 <= d - i <= 0 for d in flu[p]) else "no"
    f["inpatient_stays"] = stays[p]
    death = r.get("deceasedDateTime")
    f["days_to_death"] = day(death) - i if death and day(death) >= i else None
    rows.append(f)
assert len(rows) == int(persons), ("persons", len(rows), persons)
if "--sex-present" in sys.argv:
    rows = [f for f in rows if f["sex"] is not None]

def table(name):
    with open(os.path.join(released, name + ".csv")) as f:
        t = list(csv.reader(f))
    return [dict(zip(t[0], g)) for g in t[1:]], [g[:3] for g in t[1:]]

def near(got, want):
    return abs(float(got) - want) <= 1e-9 * abs(want)

for check in checks:
    kind, name, spec = check.split(":", 2)
    if kind == "ct":
        rowcol, value = [d for d in spec.split(":")[:2] if d], spec.split(":")[2]
        cells = defaultdict(list)
        for f in rows:
            cells[tuple(f[d] or "(missing)" for d in rowcol)].append(f.get(value))
        got, keys = table(name)
        got = {tuple(k[:len(rowcol)]): g for k, g in zip(keys, got)}
        assert set(got) == set(cells), (check, sorted(got), sorted(cells))
        for key, vals in cells.items():
            g, vals = got[key], [v for v in vals if v is not None]
            assert int(g["n"]) == len(cells[key]), (check, key, g, len(cells[key]))
            if value:
                assert near(g["sum"], sum(vals)), (check, key, g, sum(vals))
                assert near(g["mean"], sum(vals) / len(vals)), (check, key, g)
    elif kind == "d":
        for col in spec.split(","):
            g = table(name + "_" + col)[0][0]
            vals = [f[col] for f in rows if f[col] is not None]
            assert int(g["n"]) == len(rows), (check, col, g, len(rows))
            assert int(g["present"]) == len(vals), (check, col, g, len(vals))
            assert near(g["mean"], sum(vals) / len(vals)), (check, col, g, sum(vals) / len(vals))
    else:
        la, b, lb = spec.split(":")
        assert not any(f[name] == la and f[b] == lb for f in rows), check
    print("sluice and the oracle agree:", check)
PY

write_policy true
# Gender other and unknown are missing; the few such persons would make
# small cells, so the tables are of the persons with F or M.
cat >job.yaml <<'YAML'
cohort: cohort.h5
filter: 'sex is not missing'
analyses:
  - {type: crosstab, name: hba1c, rows: diabetes, cols: sex, value: hba1c, margins: false}
  - {type: crosstab, name: hypertension, rows: hypertension, cols: sex, margins: false}
  - {type: crosstab, name: smoking, rows: smoking, cols: sex, margins: false}
  - {type: crosstab, name: metformin, rows: metformin, cols: diabetes, margins: false}
  - {type: crosstab, name: metformin_sex, rows: metformin, cols: sex, margins: false}
  - {type: crosstab, name: flu, rows: flu_vaccine, cols: sex, margins: false}
  - {type: describe, name: d, columns: [bmi, systolic_bp, inpatient_stays, days_to_death, age]}
YAML
run_job 1 job.yaml one >job1.log 2>&1 || { cat job1.log; fail "job on 1 rank"; }
run_job 2 job.yaml two >/dev/null 2>&1 || fail "job on 2 ranks"
# metformin is prescribed on or after a diabetes diagnosis only: the cell
# (metformin yes, diabetes no) is empty, so the gate withholds the table.
grep -q "zero_cells: 1 cell(s) are empty" job1.log || { cat job1.log; fail "metformin"; }
test ! -e released/one/metformin.csv || fail "metformin table released"
for f in hba1c hypertension smoking flu d_bmi d_systolic_bp d_inpatient_stays d_days_to_death d_age; do
  cmp "released/one/$f.csv" "released/two/$f.csv" || fail "$f.csv differs between 1 and 2 ranks"
done
python3 oracle.py fhir first_encounter released/one "$persons" --sex-present \
  ct:hba1c:diabetes:sex:hba1c ct:hypertension:hypertension:sex: ct:smoking:smoking:sex: \
  ct:metformin_sex:metformin:sex: ct:flu:flu_vaccine:sex: \
  d:d:bmi,systolic_bp,inpatient_stays,days_to_death,age none:metformin:yes:diabetes:no ||
  fail "sluice and the oracle disagree (index: first_encounter)"

# A date as the index: every patient is in, with or without encounters;
# race and ethnicity added (their levels: the OMB codes). The observations
# are split into two files, read in name order (Observation-2 first, and
# gzip-compressed), beside a file of another resource type that must be
# ignored.
mkdir split
cp fhir/Patient.ndjson fhir/Encounter.ndjson fhir/Condition.ndjson fhir/Medication*.ndjson \
  split/
half=$(($(wc -l <fhir/Observation.ndjson) / 2))
head -n "$half" fhir/Observation.ndjson >split/Observation.ndjson
echo >>split/Observation.ndjson
tail -n +$((half + 1)) fhir/Observation.ndjson | gzip >split/Observation-2.ndjson.gz
echo '{"resourceType":"ObservationDefinition","id":"od1"}' >split/ObservationDefinition.ndjson
{ sed 's/^index: .*/index: 2018-01-01/' "$SPEC"
  printf '  - {name: race, person: race}\n  - {name: ethnicity, person: ethnicity}\n'
} >dated.yaml
mv cohort.h5 by-encounter.h5
"$SL_BIN/sluice" ingest --quiet --key centre.kek --fhir split --features dated.yaml \
  --out cohort.h5 >ingest2.out
grep -q "^ingested 3000 persons x 15 columns" ingest2.out || fail "$(cat ingest2.out)"
! grep -q "^left out" ingest2.out || fail "left out with a date as the index"
cat >job2.yaml <<'YAML'
cohort: cohort.h5
analyses:
  - {type: crosstab, name: hba1c, rows: diabetes, value: hba1c, margins: false}
  - {type: crosstab, name: sex, rows: sex, margins: false}
  - {type: crosstab, name: race, rows: race, cols: ethnicity, margins: false}
  - {type: describe, name: d, columns: [age, bmi, days_to_death]}
YAML
run_job 2 job2.yaml dated >job2.log 2>&1 || { cat job2.log; fail "job on the dated cohort"; }
python3 oracle.py split 2018-01-01 released/dated 3000 ct:hba1c:diabetes::hba1c ct:sex:sex:: \
  ct:race:race:ethnicity: d:d:age,bmi,days_to_death ||
  fail "sluice and the oracle disagree (index: 2018-01-01)"
echo "e2e fhir: ok"
