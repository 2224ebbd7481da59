// test_fhir.cc: FHIR Bulk Data NDJSON -> person-level cohort, read back
// through the real cohort reader. A hand-worked export pins every source,
// the index date, codings (several per resource, R4 and R5 shapes), units,
// entered-in-error records, ties across files and pseudonyms; errors name the
// file and line, never a value, and leave nothing behind.

#include "gzip.hh"
#include "pivot_test.hh"

namespace {

using sltest::Stats;

class FhirTest : public sltest::PivotTest {
protected:
    sl_status run(const std::string &spec, sl_omop_stats *stats = nullptr, bool check = false,
                  bool progress = false) {
        out_ = dir_.file("cohort.h5");
        sl_omop_opts o{};
        o.dir = dir_.path().c_str();
        o.spec = spec.c_str();
        o.out = check ? nullptr : out_.c_str();
        o.kek = check ? nullptr : kek_.get();
        o.check = check;
        o.progress = progress;
        return sl_fhir_ingest(&o, stats);
    }
    sl_status ingest(const std::string &spec_text, sl_omop_stats *stats = nullptr) {
        return run(write("spec.yaml", spec_text), stats);
    }
    sl_status run_spec(const std::string &spec) override { return run(spec); }
    void write_example();
    // Patient.ndjson with bare Patients of these ids.
    void write_patients(const std::vector<std::string> &ids) {
        std::string text;
        for (const auto &id : ids)
            text += R"({"resourceType":"Patient","id":")" + id + "\"}\n";
        write("Patient.ndjson", text);
    }
};

const char *const kRace =
    R"("extension":[{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",)"
    R"("extension":[{"url":"ombCategory","valueCoding":{"system":)"
    R"("urn:oid:2.16.840.1.113883.6.238","code":"2106-3"}},{"url":"text","valueString":"W"}]}])";

void FhirTest::write_example() {
    write("Patient.ndjson",
          std::string(R"({"resourceType":"Patient","id":"p1","gender":"female",)"
                      R"("birthDate":"1970-05-02",)") +
              kRace +
              "}\n"
              R"({"resourceType":"Patient","id":"p-2.x","gender":"male","birthDate":"1980",)"
              R"("deceasedDateTime":"2021-03-01T10:00:00+01:00"})"
              "\n\n"  // a blank line is skipped
              R"({"resourceType":"Patient","id":"p3","gender":"other","birthDate":"1990-07"})"
              "\r\n"
              R"({"resourceType":"Patient","id":"p4","deceasedBoolean":true})"
              "\n");
    const std::string imp =
        R"("class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"})";
    write("Encounter.ndjson",
          R"({"resourceType":"Encounter","id":"e1",)" + imp +
              R"(,"subject":{"reference":"Patient/p1"},"period":{"start":"2020-01-10T08:00:00Z"}})"
              "\n"
              // R5: class is a list of CodeableConcepts, the start is actualPeriod
              R"({"resourceType":"Encounter","id":"e2","class":[{"coding":[{"system":)"
              R"("http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"}]}],)"
              R"("subject":{"reference":"urn:uuid:p-2.x"},"actualPeriod":{"start":"2020-02-01"}})"
              "\n"
              R"({"resourceType":"Encounter","id":"e3",)" +
              imp +
              R"(,"subject":{"reference":"https://h.example/fhir/Patient/p1/_history/2"},)"
              R"("period":{"start":"2020-06-01"}})"
              "\n"
              R"({"resourceType":"Encounter","id":"e4","status":"entered-in-error",)" +
              imp + R"(,"subject":{"reference":"Patient/p3"},"period":{"start":"2019-01-01"}})" +
              "\n");
    const std::string a1c = R"("code":{"coding":[{"system":"urn:local","code":"A1C"},)"
                            R"({"system":"http://loinc.org","code":"4548-4"}]})";
    write("Observation.ndjson",
          R"({"resourceType":"Observation","id":"o1",)" + a1c +
              R"(,"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2019-12-01",)"
              R"("valueQuantity":{"value":6.5,"unit":"%","system":"http://unitsofmeasure.org",)"
              R"("code":"%"}})"
              "\n"
              R"({"resourceType":"Observation","id":"o2",)" +
              a1c +
              R"(,"subject":{"reference":"Patient/p1"},"effectivePeriod":{"start":"2020-01-05"},)"
              R"("valueQuantity":{"value":7.25,"code":"%"}})"
              "\n"
              R"({"resourceType":"Observation","id":"o3","status":"entered-in-error",)" +
              a1c +
              R"(,"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2020-01-06",)"
              R"("valueQuantity":{"value":9.9,"code":"%"}})"
              "\n"
              R"({"resourceType":"Observation","id":"o4",)" +
              a1c +
              R"(,"subject":{"reference":"Patient/p-2.x"},"effectiveDateTime":"2020-01-05",)"
              R"("valueQuantity":{"value":50,"code":"mmol/mol"}})"
              "\n"
              R"({"resourceType":"Observation","id":"o5","code":{"coding":[{"system":)"
              R"("http://loinc.org","code":"72166-2"}]},"subject":{"reference":"Patient/p-2.x"},)"
              R"("effectiveDateTime":"2020-01-05","valueCodeableConcept":{"coding":[{"system":)"
              R"("http://snomed.info/sct","code":"77176002"}]}})"
              "\n"
              // no value: counts, but has no value for latest
              R"({"resourceType":"Observation","id":"o7",)" +
              a1c +
              R"(,"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2020-01-08",)"
              R"("dataAbsentReason":{"coding":[{"code":"not-performed"}]}})"
              "\n"
              // an unrequested code: nothing else of it is read (its date is bad)
              R"({"resourceType":"Observation","id":"o6","code":{"coding":[{"system":)"
              R"("http://loinc.org","code":"1-1"}]},"subject":{"reference":"Patient/nobody"},)"
              R"("effectiveDateTime":"soon"})"
              "\n");
    write("Condition.ndjson",
          R"({"resourceType":"Condition","id":"c1","code":{"coding":[{"system":)"
          R"("http://snomed.info/sct","code":"44054006"},{"system":)"
          R"("http://hl7.org/fhir/sid/icd-10-cm","code":"E11"}]},)"
          R"("subject":{"reference":"Patient/p1"},"onsetDateTime":"2015-01-01"})"
          "\n"
          R"({"resourceType":"Condition","id":"c2","verificationStatus":{"coding":[{"code":)"
          R"("entered-in-error"}]},"code":{"coding":[{"system":"http://snomed.info/sct",)"
          R"("code":"44054006"}]},"subject":{"reference":"Patient/p-2.x"},)"
          R"("onsetDateTime":"2015-01-01"})"
          "\n"
          R"({"resourceType":"Condition","id":"c3","code":{"coding":[{"system":)"
          R"("http://snomed.info/sct","code":"44054006"}]},)"
          R"("subject":{"reference":"Patient/p-2.x"},"recordedDate":"2020-03-01"})"
          "\n");
}

const char *const kExampleSpec = R"(sluice_fhir: 1
index: first_encounter
features:
  - {name: sex, person: gender}
  - {name: age, person: age}
  - {name: race, person: race, labels: {"2106-3": White}}
  - name: hba1c
    system: http://loinc.org
    observation: ["4548-4"]
    value: latest
    unit: "%"
  - name: hba1c_n
    observation: ["http://loinc.org|4548-4", "urn:local|A1C"]
    value: count
  - name: smoking
    observation: ["http://loinc.org|72166-2"]
    value: latest_concept
  - name: diabetes
    condition: ["http://snomed.info/sct|44054006", "http://hl7.org/fhir/sid/icd-10-cm|E11"]
    to: 0
  - name: stays
    encounter: ["http://terminology.hl7.org/CodeSystem/v3-ActCode|IMP"]
    value: count
  - {name: died, death: any, value: days_to_first}
)";

TEST_F(FhirTest, HandWorkedExport) {
    write_example();
    Stats stats;
    ASSERT_EQ(ingest(kExampleSpec, &stats), SL_OK) << last_error();
    // p3's only encounter was entered in error, p4 has none: left out.
    EXPECT_EQ(stats.persons, 2);
    EXPECT_EQ(stats.left_out, 2);
    EXPECT_EQ(stats.ncols, 10);
    EXPECT_EQ(stats.events, 7 + 3 + 4);  // Observation, Condition, Encounter resources
    EXPECT_EQ(stats.tables, 4);          // Patient, Encounter, Observation, Condition
    EXPECT_EQ(std::vector<int64_t>(stats.present, stats.present + 9),
              (std::vector<int64_t>{2, 2, 1, 1, 2, 1, 1, 2, 1}));
    load(out_);
    ASSERT_EQ(sl_cohort_nrows(cohort_.get()), 2);
    EXPECT_EQ(id_at(0), hmac("p1"));
    EXPECT_EQ(id_at(1), hmac("p-2.x"));
    // Index dates: p1 2020-01-10 (the earlier of two stays), p-2.x 2020-02-01.
    EXPECT_EQ(levels(col("sex")), (std::vector<std::string>{"F", "M"}));
    EXPECT_EQ(at<int32_t>(col("sex"), 0), 0);
    EXPECT_EQ(at<int32_t>(col("sex"), 1), 1);
    EXPECT_EQ(at<int64_t>(col("age"), 0), 50);
    EXPECT_EQ(at<int64_t>(col("age"), 1), 40);  // birthDate 1980: only the year counts
    EXPECT_EQ(levels(col("race")), (std::vector<std::string>{"White"}));
    EXPECT_EQ(at<int32_t>(col("race"), 0), 0);
    EXPECT_EQ(at<int32_t>(col("race"), 1), SL_CAT_MISSING);
    // latest in %: o3 never happened; p-2.x's only value is in mmol/mol.
    EXPECT_EQ(at<double>(col("hba1c"), 0), 7.25);
    EXPECT_TRUE(std::isnan(at<double>(col("hba1c"), 1)));
    // a resource with two matching codings counts once; o7 has no value but counts
    EXPECT_EQ(at<int64_t>(col("hba1c_n"), 0), 3);
    EXPECT_EQ(at<int64_t>(col("hba1c_n"), 1), 1);
    EXPECT_EQ(levels(col("smoking")), (std::vector<std::string>{"77176002"}));
    EXPECT_EQ(at<int32_t>(col("smoking"), 0), SL_CAT_MISSING);
    EXPECT_EQ(at<int32_t>(col("smoking"), 1), 0);
    // c1 before p1's index; c2 entered in error; c3 after p-2.x's index
    EXPECT_EQ(at<int32_t>(col("diabetes"), 0), 1);
    EXPECT_EQ(at<int32_t>(col("diabetes"), 1), 0);
    EXPECT_EQ(at<int64_t>(col("stays"), 0), 2);
    EXPECT_EQ(at<int64_t>(col("stays"), 1), 0);
    EXPECT_EQ(at<int64_t>(col("died"), 0), SL_INT_MISSING);
    EXPECT_EQ(at<int64_t>(col("died"), 1), 394);  // 2020-02-01 -> 2021-03-01
}

// The same export with Patient and Observation files gzip-compressed (the
// observations as two members, a file written in parts, named
// Observation-1.ndjson.gz) gives the same cohort; a file beside its own
// gzip copy, a truncated or a corrupt gzip file is an error naming it.
TEST_F(FhirTest, GzipFilesReadAsPlainOnes) {
    write_example();
    auto text = [&](const char *name) {
        auto bytes = sltest::read_file(dir_.file(name));
        return std::string(bytes.begin(), bytes.end());
    };
    std::string obs = text("Observation.ndjson"), pat = text("Patient.ndjson");
    size_t half = obs.find('\n', obs.size() / 2) + 1;
    ASSERT_EQ(std::remove(dir_.file("Observation.ndjson").c_str()), 0);
    ASSERT_EQ(std::remove(dir_.file("Patient.ndjson").c_str()), 0);
    write("Observation-1.ndjson.gz",
          sltest::gzip(obs.substr(0, half)) + sltest::gzip(obs.substr(half)));
    write("Patient.ndjson.gz", sltest::gzip(pat));
    Stats stats;
    ASSERT_EQ(ingest(kExampleSpec, &stats), SL_OK) << last_error();
    EXPECT_EQ(stats.persons, 2);
    EXPECT_EQ(stats.events, 7 + 3 + 4);
    load(out_);
    EXPECT_EQ(id_at(1), hmac("p-2.x"));
    EXPECT_EQ(at<int64_t>(col("age"), 1), 40);
    EXPECT_EQ(at<double>(col("hba1c"), 0), 7.25);
    EXPECT_EQ(at<int64_t>(col("hba1c_n"), 0), 3);
    EXPECT_EQ(at<int32_t>(col("smoking"), 1), 0);
    EXPECT_EQ(at<int64_t>(col("died"), 1), 394);
    discard();

    write("Patient.ndjson", pat);
    expect_error(kExampleSpec, SL_ERR_FORMAT,
                 "Patient.ndjson.gz: the same file twice, plain and compressed");
    ASSERT_EQ(std::remove(dir_.file("Patient.ndjson").c_str()), 0);
    std::string whole = sltest::gzip(obs);
    write("Observation-1.ndjson.gz", whole.substr(0, whole.size() - 12));
    expect_error(kExampleSpec, SL_ERR_FORMAT,
                 "Observation-1.ndjson.gz: the gzip file ends before its compressed stream does");
    whole[20] = static_cast<char>(whole[20] ^ 0x55);
    whole[21] = static_cast<char>(whole[21] ^ 0x55);
    write("Observation-1.ndjson.gz", whole);
    expect_error(kExampleSpec, SL_ERR_FORMAT, "Observation-1.ndjson.gz: not a valid gzip file");
}

TEST_F(FhirTest, CheckLooksAtFilesAndFirstResources) {
    write_example();
    std::string spec = write("spec.yaml", kExampleSpec);
    auto before = files();
    Stats stats;
    ASSERT_EQ(run(spec, &stats, true), SL_OK) << last_error();
    EXPECT_EQ(stats.tables, 4);
    EXPECT_EQ(stats.ncols, 10);
    std::filesystem::remove(dir_.file("Condition.ndjson"));
    EXPECT_EQ(run(spec, nullptr, true), SL_ERR_IO);
    EXPECT_NE(last_error().find("no Condition.ndjson (nor Condition.*.ndjson, Condition-*.ndjson); "
                                "expected the Condition resources (feature 'diabetes' at "),
              std::string::npos)
        << last_error();
    before.erase(std::find(before.begin(), before.end(), "Condition.ndjson"));
    EXPECT_EQ(files(), before);
    // the first resource of each file is read, for the patients, the index
    // and the events: a misnamed file shows (one reader of each in this spec)
    write_example();
    spec = write("spec.yaml", "sluice_fhir: 1\nindex: first_encounter\nfeatures:\n"
                              "  - {name: dx, condition: [sct|1]}\n");
    const char *const misnamed[] = {"Patient", "Encounter", "Condition"};
    for (const char *type : misnamed) {
        std::string name = std::string(type) + ".ndjson";
        std::ifstream in(dir_.file(name), std::ios::binary);
        std::string keep((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        write(name, R"({"resourceType":"Procedure","id":"x"})"
                    "\n");
        EXPECT_EQ(run(spec, nullptr, true), SL_ERR_FORMAT) << type;
        EXPECT_NE(last_error().find(name + ":1: expected a resource of type " + type),
                  std::string::npos)
            << last_error();
        write(name, keep);
    }
}

TEST_F(FhirTest, SeveralFilesTiesAndFixedIndex) {
    write("Patient.ndjson", R"({"resourceType":"Patient","id":"a"})"
                            "\n");
    write("Patient-2.ndjson", R"({"resourceType":"Patient","id":"b"})"
                              "\n");
    write("Patients.ndjson", "not read: not a Patient file name\n");
    auto obs = [](const char *id, const char *who, const char *date, double v) {
        return std::string(R"({"resourceType":"Observation","id":")") + id +
               R"(","code":{"coding":[{"system":"s","code":"c"}]},"subject":{"reference":)"
               R"("Patient/)" +
               who + R"("},"effectiveDateTime":")" + date + R"(","valueQuantity":{"value":)" +
               std::to_string(v) + "}}\n";
    };
    // On one date the later resource wins for latest, the earlier for earliest;
    // Observation-b.ndjson comes after Observation-a.ndjson.
    write("Observation-a.ndjson", obs("1", "a", "2019-05-01", 1) + obs("2", "a", "2019-05-01", 2));
    write("Observation-b.ndjson", obs("3", "a", "2019-05-01T23:59:59Z", 3) +
                                      obs("4", "b", "2018-01-01", 4));
    Stats stats;
    ASSERT_EQ(ingest("sluice_fhir: 1\nindex: 2020-01-01\nfeatures:\n"
                     "  - {name: last, observation: [s|c], value: latest}\n"
                     "  - {name: first, observation: [s|c], value: earliest}\n"
                     "  - {name: mean, observation: [s|c], value: mean}\n",
                     &stats),
              SL_OK)
        << last_error();
    EXPECT_EQ(stats.persons, 2);
    EXPECT_EQ(stats.left_out, 0);
    load(out_);
    // files in byte order of their names: Patient-2.ndjson ('-') before Patient.ndjson ('.')
    EXPECT_EQ(id_at(0), hmac("b"));
    EXPECT_EQ(id_at(1), hmac("a"));
    EXPECT_EQ(at<double>(col("last"), 1), 3);
    EXPECT_EQ(at<double>(col("first"), 1), 1);
    EXPECT_EQ(at<double>(col("mean"), 1), 2);
    EXPECT_EQ(at<double>(col("last"), 0), 4);
}

TEST_F(FhirTest, UnitsAreNeverMixed) {
    write("Patient.ndjson", R"({"resourceType":"Patient","id":"a"})"
                            "\n");
    write("Observation.ndjson",
          R"({"resourceType":"Observation","code":{"coding":[{"system":"s","code":"c"}]},)"
          R"("subject":{"reference":"Patient/a"},"effectiveDateTime":"2019-05-01",)"
          R"("valueQuantity":{"value":7,"code":"%"}})"
          "\n"
          R"({"resourceType":"Observation","code":{"coding":[{"system":"s","code":"c"}]},)"
          R"("subject":{"reference":"Patient/a"},"effectiveDateTime":"2019-05-02",)"
          R"("valueQuantity":{"value":53,"code":"mmol/mol"}})"
          "\n");
    expect_error("sluice_fhir: 1\nindex: 2020-01-01\nfeatures:\n"
                 "  - {name: v, observation: [s|c], value: max}\n",
                 SL_ERR_FORMAT,
                 "Observation.ndjson:2: feature 'v' (" + dir_.file("spec.yaml") +
                     ":4:12) would mix values of two units: this unit differs from line 1's");
    // A row without a value is in no unit: not counted as left out for its unit.
    write("Observation-2.ndjson",
          R"({"resourceType":"Observation","code":{"coding":[{"system":"s","code":"c"}]},)"
          R"("subject":{"reference":"Patient/a"},"effectiveDateTime":"2019-05-03"})"
          "\n");
    testing::internal::CaptureStderr();
    ASSERT_EQ(run(write("spec.yaml", "sluice_fhir: 1\nindex: 2020-01-01\nfeatures:\n"
                                     "  - {name: v, observation: [s|c], value: max, "
                                     "unit: mmol/mol}\n"),
                  nullptr, false, true),
              SL_OK)
        << last_error();
    std::string log = testing::internal::GetCapturedStderr();
    EXPECT_NE(log.find("feature 'v': 1 rows in another unit left out"), std::string::npos)
        << log;
    load(out_);
    EXPECT_EQ(at<double>(col("v"), 0), 53);
}

TEST_F(FhirTest, ResourceErrorsNameFileAndLineNeverAValue) {
    const std::string spec = "sluice_fhir: 1\nindex: first_encounter\nfeatures:\n"
                             "  - {name: n, encounter: [s|c], value: count}\n";
    const std::string enc = R"({"resourceType":"Encounter","class":{"system":"s","code":"c"},)";
    struct Case {
        std::string patients, encounters, what;
    };
    const std::string pa = R"({"resourceType":"Patient","id":"SECRET1"})"
                           "\n";
    const std::vector<Case> cases = {
        {R"({"resourceType":"Patient","id":"SECRET1",})"
         "\n",
         "", "Patient.ndjson:1: column 42: invalid JSON: expected a string key"},
        {R"({"resourceType":"Observation","id":"SECRET1"})"
         "\n",
         "", "Patient.ndjson:1: expected a resource of type Patient"},
        {R"(["SECRET1"])"
         "\n",
         "", "Patient.ndjson:1: expected a resource of type Patient"},
        {pa + pa, "", "Patient.ndjson:2: id repeats line 1's patient"},
        {R"({"resourceType":"Patient","id":"SECRET 1"})"
         "\n",
         "", "Patient.ndjson:1: id: expected a FHIR id"},
        {R"({"resourceType":"Patient","id":"SECRET\u00001"})"
         "\n",
         "", "Patient.ndjson:1: id: expected a string of at most 1023 bytes without \\u0000"},
        {R"({"resourceType":"Patient","id":"SECRET1","birthDate":"19SECRET"})"
         "\n",
         "", ""},  // birthDate is not read: no feature needs it
        {pa,
         enc + R"("subject":{"reference":"Patient/SECRET2"},"period":{"start":"2020-01-01"}})"
               "\n",
         "Encounter.ndjson:1: subject.reference: expected Patient/<id> of a patient"},
        {pa, enc + R"("subject":{"reference":"Group/SECRET1"},"period":{"start":"2020-01-01"}})"
                   "\n",
         "Encounter.ndjson:1: subject.reference: expected Patient/<id>"},
        {pa, enc + R"("subject":{"reference":"Patient/SECRET1"},"period":{"start":"2020-01"}})"
                   "\n",
         "Encounter.ndjson:1: period.start: expected a full date YYYY-MM-DD"},
        {pa, enc + R"("subject":{"reference":"Patient/SECRET1"}})"
                   "\n",
         "Encounter.ndjson:1: no date: expected period.start or actualPeriod.start"},
    };
    for (const auto &c : cases) {
        SCOPED_TRACE(c.what);
        write("Patient.ndjson", c.patients);
        write("Encounter.ndjson", c.encounters.empty()
                                      ? enc + R"("subject":{"reference":"Patient/SECRET1"},)"
                                              R"("period":{"start":"2020-01-01"}})"
                                              "\n"
                                      : c.encounters);
        if (c.what.empty()) {
            EXPECT_EQ(ingest(spec), SL_OK) << last_error();
            discard();
            continue;
        }
        expect_error(spec, SL_ERR_FORMAT, c.what);
        EXPECT_EQ(last_error().find("SECRET"), std::string::npos) << last_error();
    }
}

TEST_F(FhirTest, SpecErrors) {
    write_example();
    expect_error("sluice_omop: 1\nindex: 2020-01-01\nfeatures:\n  - {name: a, person: age}\n",
                 SL_ERR_FORMAT,
                 "spec.yaml:1:14: this is a spec for OMOP tables (sluice_omop: 1); --fhir reads "
                 "sluice_fhir: 1");
    expect_error("sluice_fhir: 1\nindex: observation_period_start\nfeatures:\n"
                 "  - {name: a, person: age}\n",
                 SL_ERR_FORMAT,
                 "spec.yaml:2:8: expected 'index' to be first_encounter or a date YYYY-MM-DD");
    expect_error("sluice_fhir: 1\nindex: 2020-01-01\nfeatures:\n  - {name: a, condition: [E11]}\n",
                 SL_ERR_FORMAT,
                 "spec.yaml:4:27: expected system|code for a code, or a 'system' for feature 'a'");
    expect_error("sluice_fhir: 1\nindex: 2020-01-01\nfeatures:\n"
                 "  - {name: a, condition: [s|x], descendants: true}\n",
                 SL_ERR_FORMAT, "spec.yaml:4:46: 'descendants' needs OMOP's concept_ancestor");
    expect_error("sluice_fhir: 1\nindex: 2020-01-01\nfeatures:\n  - {name: a, measurement: [1]}\n",
                 SL_ERR_FORMAT,
                 "spec.yaml:4:15: unknown key 'measurement' in feature 1, expected one of name, "
                 "person, observation, condition, medication, procedure, encounter, death, system");
    expect_error("sluice_fhir: 1\nindex: 2020-01-01\nfeatures:\n  - {name: a, death: [s|x]}\n",
                 SL_ERR_FORMAT, "spec.yaml:4:23: expected death: any (FHIR Patient gives no cause of death)");
    expect_error("sluice_fhir: 1\nindex: 2020-01-01\nfeatures:\n"
                 "  - {name: a, condition: [s|x, s|x]}\n",
                 SL_ERR_FORMAT, "spec.yaml:4:27: a code is listed twice for feature 'a'");
    expect_error("sluice_fhir: 1\nindex: 2020-01-01\nfeatures:\n"
                 "  - {name: a, person: gender, system: s}\n",
                 SL_ERR_FORMAT, "gender values (female, male, other, unknown) have no 'system'");
    expect_error("sluice_fhir: 1\nindex: 2020-01-01\nfeatures:\n"
                 "  - {name: a, condition: [s|x], value: mean}\n",
                 SL_ERR_FORMAT, "'mean' needs values; only observation features have them");
}

TEST_F(FhirTest, ComponentsOfPanelsCountAsTheirCodes) {
    write("Patient.ndjson", R"({"resourceType":"Patient","id":"a"})"
                            "\n");
    auto component = [](const char *code, const char *value) {
        return std::string(R"({"code":{"coding":[{"system":"http://loinc.org","code":")") +
               code + R"("}]},"valueQuantity":{"value":)" + value + R"(,"code":"mm[Hg]"}})";
    };
    auto panel = [&](const char *date, const char *sbp, const char *dbp) {
        return std::string(R"({"resourceType":"Observation","code":{"coding":[{"system":)"
                           R"("http://loinc.org","code":"85354-9"}]},)"
                           R"("subject":{"reference":"Patient/a"},"effectiveDateTime":")") +
               date + R"(","component":[)" + component("8480-6", sbp) + "," +
               component("8462-4", dbp) + "]}\n";
    };
    write("Observation.ndjson",
          R"({"resourceType":"Observation","code":{"coding":[{"system":"http://loinc.org",)"
          R"("code":"8480-6"}]},"subject":{"reference":"Patient/a"},)"
          R"("effectiveDateTime":"2019-01-01","valueQuantity":{"value":150,"code":"mm[Hg]"}})"
          "\n" +
              panel("2019-06-01", "130", "85") + panel("2019-03-01", "141", "95"));
    const std::string spec = "sluice_fhir: 1\nindex: 2020-01-01\nfeatures:\n"
                             "  - {name: sbp, system: http://loinc.org, observation: [8480-6], "
                             "value: latest}\n"
                             "  - {name: sbp_max, system: http://loinc.org, observation: [8480-6], "
                             "value: max}\n"
                             "  - {name: dbp, system: http://loinc.org, observation: [8462-4], "
                             "value: mean}\n"
                             // the panel's own code and a component's: once per resource
                             "  - {name: bp_n, system: http://loinc.org, "
                             "observation: [85354-9, 8480-6], value: count}\n";
    ASSERT_EQ(ingest(spec), SL_OK) << last_error();
    load(out_);
    EXPECT_EQ(at<double>(col("sbp"), 0), 130);
    EXPECT_EQ(at<double>(col("sbp_max"), 0), 150);
    EXPECT_EQ(at<double>(col("dbp"), 0), 90);
    EXPECT_EQ(at<int64_t>(col("bp_n"), 0), 3);
    discard();
    write("Observation.ndjson", panel("2019-06-01", "\"high\"", "85"));
    expect_error(spec, SL_ERR_FORMAT,
                 "Observation.ndjson:1: component.valueQuantity.value: expected a finite number");
}

TEST_F(FhirTest, ManifestListsTheFiles) {
    write("Patient.ndjson", "not read: the manifest lists the files\n");
    write("pat_1.ndjson", R"({"resourceType":"Patient","id":"a"})"
                          "\n");
    auto obs = [](const char *value) {
        return std::string(R"({"resourceType":"Observation","code":{"coding":[{"system":"s",)"
                           R"("code":"c"}]},"subject":{"reference":"Patient/a"},)"
                           R"("effectiveDateTime":"2019-05-01","valueQuantity":{"value":)") +
               value + "}}\n";
    };
    write("obs-a.ndjson", obs("1"));
    write("obs-b.ndjson", obs("2"));
    // files in the manifest's order: obs-a.ndjson comes last, so its row is the latest
    const std::string head = R"({"transactionTime":"2021-01-01T00:00:00Z","request":"x",)"
                             R"("requiresAccessToken":true,"output":[)"
                             R"({"type":"Patient","url":"https://h.example/out/pat_1.ndjson"},)"
                             R"({"type":"Observation","url":"https://h.example/out/obs-b.ndjson"},)";
    write("manifest.json", head +
                               R"({"type":"Observation","url":"https://h.example/out/obs-a.ndjson)"
                               R"(?sig=1"}],"error":[{"type":"OperationOutcome","url":"e.ndjson"}]})");
    const std::string spec = "sluice_fhir: 1\nindex: 2020-01-01\nfeatures:\n"
                             "  - {name: v, observation: [s|c], value: latest}\n";
    testing::internal::CaptureStderr();
    ASSERT_EQ(ingest(spec), SL_OK) << last_error();
    std::string log = testing::internal::GetCapturedStderr();
    EXPECT_NE(log.find("manifest.json lists error files"), std::string::npos) << log;
    load(out_);
    EXPECT_EQ(id_at(0), hmac("a"));
    EXPECT_EQ(at<double>(col("v"), 0), 1);
    discard();

    write("manifest.json", head + R"({"type":"Observation","url":"https://h.example/out/"}]})");
    expect_error(spec, SL_ERR_FORMAT,
                 "manifest.json: output 3 (Observation): expected a url ending in a file name");
    write("manifest.json", head + R"({"type":"Observation","url":"obs-c.ndjson"}]})");
    expect_error(spec, SL_ERR_IO, "manifest.json: output 3 (Observation): no file obs-c.ndjson");
    write("manifest.json", R"({"output":[{"type":"Observation","url":"obs-a.ndjson"}]})");
    expect_error(spec, SL_ERR_IO,
                 "manifest.json: no output of type Patient; expected the Patient resources");
    write("manifest.json", R"({"output":{}})");
    expect_error(spec, SL_ERR_FORMAT, "manifest.json: expected a Bulk Data manifest");
    write("manifest.json", R"({"output":[}})");
    expect_error(spec, SL_ERR_FORMAT, "manifest.json: byte 12: invalid JSON");
}

TEST_F(FhirTest, R5MedicationAndProcedureShapes) {
    write("Patient.ndjson", R"({"resourceType":"Patient","id":"a"})"
                            "\n");
    write("MedicationRequest.ndjson",
          R"({"resourceType":"MedicationRequest","medication":{"concept":{"coding":[{"system":)"
          R"("rx","code":"1"}]}},"subject":{"reference":"Patient/a"},"authoredOn":"2019-12-01"})"
          "\n");
    write("Procedure.ndjson",
          R"({"resourceType":"Procedure","code":{"coding":[{"system":"sct","code":"p"}]},)"
          R"("subject":{"reference":"Patient/a"},"occurrencePeriod":{"start":"2019-12-21"}})"
          "\n");
    ASSERT_EQ(ingest("sluice_fhir: 1\nindex: 2020-01-01\nfeatures:\n"
                     "  - {name: med, medication: [rx|1], value: days_to_first}\n"
                     "  - {name: proc, procedure: [sct|p], value: days_to_first}\n"),
              SL_OK)
        << last_error();
    load(out_);
    EXPECT_EQ(at<int64_t>(col("med"), 0), -31);
    EXPECT_EQ(at<int64_t>(col("proc"), 0), -11);
    discard();
    write("Procedure.ndjson",
          R"({"resourceType":"Procedure","code":{"coding":[{"system":"sct","code":"p"}]},)"
          R"("subject":{"reference":"Patient/a"}})"
          "\n");
    expect_error("sluice_fhir: 1\nindex: 2020-01-01\nfeatures:\n"
                 "  - {name: proc, procedure: [sct|p]}\n",
                 SL_ERR_FORMAT,
                 "Procedure.ndjson:1: no date: expected performedDateTime, performedPeriod.start, "
                 "occurrenceDateTime or occurrencePeriod.start");
}

TEST_F(FhirTest, MedicationProcedureAndLevelsFromData) {
    write("Patient.ndjson",
          std::string(R"({"resourceType":"Patient","id":"a",)") + kRace +
              "}\n"
              R"({"resourceType":"Patient","id":"b","extension":[{"url":)"
              R"("http://hl7.org/fhir/us/core/StructureDefinition/us-core-race","extension":)"
              R"([{"url":"ombCategory","valueCoding":{"system":)"
              R"("urn:oid:2.16.840.1.113883.6.238","code":"2054-5"}}]}]})"
              "\n");
    write("MedicationRequest.ndjson",
          R"({"resourceType":"MedicationRequest","status":"active","medicationCodeableConcept":)"
          R"({"coding":[{"system":"rx","code":"860975"}]},"subject":{"reference":"Patient/b"},)"
          R"("authoredOn":"2019-02-03T04:05:06.789-05:00"})"
          "\n");
    write("Procedure.ndjson",
          R"({"resourceType":"Procedure","code":{"coding":[{"system":"sct","code":"p"}]},)"
          R"("subject":{"reference":"Patient/a"},"performedPeriod":{"start":"2019-12-31"}})"
          "\n");
    ASSERT_EQ(ingest("sluice_fhir: 1\nindex: 2020-01-01\nfeatures:\n"
                     "  - {name: race, person: race}\n"
                     "  - {name: met, medication: [rx|860975], value: days_to_first}\n"
                     "  - {name: proc, procedure: [sct|p], from: -1}\n"),
              SL_OK)
        << last_error();
    load(out_);
    // levels from the data: the codes, without their system, in code order
    EXPECT_EQ(levels(col("race")), (std::vector<std::string>{"2054-5", "2106-3"}));
    EXPECT_EQ(at<int32_t>(col("race"), 0), 1);
    EXPECT_EQ(at<int32_t>(col("race"), 1), 0);
    EXPECT_EQ(at<int64_t>(col("met"), 1), -332);  // 2019-02-03 -> 2020-01-01
    EXPECT_EQ(at<int64_t>(col("met"), 0), SL_INT_MISSING);
    EXPECT_EQ(at<int32_t>(col("proc"), 0), 1);
    EXPECT_EQ(at<int32_t>(col("proc"), 1), 0);
}

// A medication feature reads what was ordered, stated and given, in that
// order of files: MedicationStatement (R4 effective[x], else dateAsserted)
// and MedicationAdministration (R4 effective[x], R5 occurence[x]), each
// entered-in-error one passed over; any one of the three types suffices.
TEST_F(FhirTest, MedicationsOrderedStatedAndGiven) {
    write_patients({"a", "b", "c"});
    const std::string rx = R"("medicationCodeableConcept":{"coding":[{"system":"rx","code":"1"}]})";
    write("MedicationStatement.ndjson",
          R"({"resourceType":"MedicationStatement","status":"recorded",)" + rx +
              R"(,"subject":{"reference":"Patient/a"},"effectivePeriod":{"start":"2019-11-01"}})"
              "\n"
              R"({"resourceType":"MedicationStatement",)" + rx +
              R"(,"subject":{"reference":"Patient/b"},"dateAsserted":"2019-12-02"})"
              "\n"
              R"({"resourceType":"MedicationStatement","status":"entered-in-error",)" + rx +
              R"(,"subject":{"reference":"Patient/c"},"effectiveDateTime":"2019-01-01"})"
              "\n");
    write("MedicationAdministration-1.ndjson",
          R"({"resourceType":"MedicationAdministration","medication":{"concept":{"coding":)"
          R"([{"system":"rx","code":"1"}]}},"subject":{"reference":"Patient/a"},)"
          R"("occurenceDateTime":"2019-12-30T23:00:00Z"})"
          "\n"
          R"({"resourceType":"MedicationAdministration",)" + rx +
              R"(,"subject":{"reference":"Patient/c"},"effectiveDateTime":"2019-12-25"})"
              "\n");
    const std::string spec = "sluice_fhir: 1\nindex: 2020-01-01\nfeatures:\n"
                             "  - {name: first, medication: [rx|1], value: days_to_first}\n"
                             "  - {name: n, medication: [rx|1], value: count}\n";
    ASSERT_EQ(ingest(spec), SL_OK) << last_error();
    load(out_);
    EXPECT_EQ(at<int64_t>(col("first"), 0), -61);  // stated 2019-11-01, given 2019-12-30
    EXPECT_EQ(at<int64_t>(col("n"), 0), 2);
    EXPECT_EQ(at<int64_t>(col("first"), 1), -30);  // asserted 2019-12-02
    EXPECT_EQ(at<int64_t>(col("first"), 2), -7);   // the stated 2019-01-01 never happened
    EXPECT_EQ(at<int64_t>(col("n"), 2), 1);
    discard();

    write("MedicationAdministration-1.ndjson",
          R"({"resourceType":"MedicationAdministration",)" + rx +
              R"(,"subject":{"reference":"Patient/a"}})"
              "\n");
    expect_error(spec, SL_ERR_FORMAT,
                 "MedicationAdministration-1.ndjson:1: no date: expected effectiveDateTime, "
                 "effectivePeriod.start, occurenceDateTime or occurencePeriod.start");
    write("MedicationAdministration-1.ndjson",
          R"({"resourceType":"MedicationStatement",)" + rx +
              R"(,"subject":{"reference":"Patient/a"},"dateAsserted":"2019-12-02"})"
              "\n");
    expect_error(spec, SL_ERR_FORMAT,
                 "MedicationAdministration-1.ndjson:1: expected a resource of type "
                 "MedicationAdministration");
    ASSERT_EQ(std::remove(dir_.file("MedicationAdministration-1.ndjson").c_str()), 0);
    ASSERT_EQ(std::remove(dir_.file("MedicationStatement.ndjson").c_str()), 0);
    expect_error(spec, SL_ERR_IO,
                 "no MedicationRequest, MedicationStatement, MedicationAdministration, "
                 "MedicationDispense or Immunization files");
}

// Medications dispensed (whenHandedOver, else whenPrepared) and vaccines
// given (Immunization: vaccineCode, occurrenceDateTime, the patient in
// patient.reference) count as medications too, after the other types;
// events whose status says they did not happen are passed over: a
// dispense cancelled or declined, a vaccine, administration or procedure
// not done, a medication not taken.
TEST_F(FhirTest, DispensesAndVaccinesAndWhatDidNotHappen) {
    write_patients({"a", "b", "c"});
    const std::string rx = R"("medicationCodeableConcept":{"coding":[{"system":"rx","code":"1"}]})";
    const std::string cvx = R"("vaccineCode":{"coding":[{"system":"cvx","code":"140"}]})";
    write("MedicationDispense.ndjson",
          R"({"resourceType":"MedicationDispense","status":"completed",)" + rx +
              R"(,"subject":{"reference":"Patient/a"},"whenPrepared":"2019-10-01",)"
              R"("whenHandedOver":"2019-10-03"})"
              "\n"
              R"({"resourceType":"MedicationDispense",)" + rx +
              R"(,"subject":{"reference":"Patient/b"},"whenPrepared":"2019-11-01"})"
              "\n"
              R"({"resourceType":"MedicationDispense","status":"declined",)" + rx +
              R"(,"subject":{"reference":"Patient/c"},"whenHandedOver":"2019-01-01"})"
              "\n"
              R"({"resourceType":"MedicationDispense","status":"cancelled",)" + rx +
              R"(,"subject":{"reference":"Patient/c"},"whenHandedOver":"2019-01-02"})"
              "\n");
    write("MedicationStatement.ndjson",
          R"({"resourceType":"MedicationStatement","status":"not-taken",)" + rx +
              R"(,"subject":{"reference":"Patient/c"},"dateAsserted":"2019-02-01"})"
              "\n");
    write("MedicationAdministration.ndjson",
          R"({"resourceType":"MedicationAdministration","status":"not-done",)" + rx +
              R"(,"subject":{"reference":"Patient/c"},"effectiveDateTime":"2019-03-01"})"
              "\n"
              R"({"resourceType":"MedicationAdministration","status":"completed",)" + rx +
              R"(,"subject":{"reference":"Patient/c"},"effectiveDateTime":"2019-12-01"})"
              "\n");
    write("Immunization.ndjson",
          R"({"resourceType":"Immunization","status":"completed",)" + cvx +
              R"(,"patient":{"reference":"Patient/a"},)"
              R"("occurrenceDateTime":"2019-09-15T09:00:00Z"})"
              "\n"
              R"({"resourceType":"Immunization","status":"not-done",)" + cvx +
              R"(,"patient":{"reference":"Patient/b"},"occurrenceDateTime":"2019-09-16"})"
              "\n");
    write("Procedure.ndjson",
          R"({"resourceType":"Procedure","status":"not-done","code":{"coding":[{"system":)"
          R"("sct","code":"p"}]},"subject":{"reference":"Patient/a"},)"
          R"("performedDateTime":"2019-12-31"})"
          "\n");
    const std::string spec = "sluice_fhir: 1\nindex: 2020-01-01\nfeatures:\n"
                             "  - {name: first, medication: [rx|1], value: days_to_first}\n"
                             "  - {name: n, medication: [rx|1], value: count}\n"
                             "  - {name: flu, medication: [cvx|140], value: days_to_first}\n"
                             "  - {name: proc, procedure: [sct|p]}\n";
    ASSERT_EQ(ingest(spec), SL_OK) << last_error();
    load(out_);
    EXPECT_EQ(at<int64_t>(col("first"), 0), -90);  // handed over 2019-10-03
    EXPECT_EQ(at<int64_t>(col("first"), 1), -61);  // prepared 2019-11-01
    EXPECT_EQ(at<int64_t>(col("first"), 2), -31);  // only the administration that was done
    EXPECT_EQ(at<int64_t>(col("n"), 2), 1);
    EXPECT_EQ(at<int64_t>(col("flu"), 0), -108);  // 2019-09-15
    EXPECT_EQ(at<int64_t>(col("flu"), 1), SL_INT_MISSING);
    EXPECT_EQ(at<int32_t>(col("proc"), 0), 0);
    discard();

    write("Immunization.ndjson",
          R"({"resourceType":"Immunization",)" + cvx +
              R"(,"subject":{"reference":"Patient/a"},"occurrenceDateTime":"2019-09-15"})"
              "\n");
    expect_error(spec, SL_ERR_FORMAT,
                 "Immunization.ndjson:1: patient.reference: expected Patient/<id> of a patient "
                 "in the Patient files");
    write("Immunization.ndjson",
          R"({"resourceType":"Immunization",)" + cvx +
              R"(,"patient":{"reference":"Patient/a"},"occurrenceString":"autumn 2019"})"
              "\n");
    expect_error(spec, SL_ERR_FORMAT, "Immunization.ndjson:1: no date: expected occurrenceDateTime");
    write("MedicationDispense.ndjson",
          R"({"resourceType":"MedicationDispense",)" + rx +
              R"(,"subject":{"reference":"Patient/a"}})"
              "\n");
    expect_error(spec, SL_ERR_FORMAT,
                 "MedicationDispense.ndjson:1: no date: expected whenHandedOver or whenPrepared");
}

// An encounter planned or cancelled is no first encounter (nor an
// encounter feature's event), a cancelled observation no measurement, and
// a refuted diagnosis no condition.
TEST_F(FhirTest, PlannedCancelledAndRefutedDidNotHappen) {
    write_patients({"a", "b"});
    const std::string imp =
        R"("class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"})";
    write("Encounter.ndjson",
          R"({"resourceType":"Encounter","status":"planned",)" + imp +
              R"(,"subject":{"reference":"Patient/a"},"period":{"start":"2018-01-01"}})"
              "\n"
              R"({"resourceType":"Encounter","status":"cancelled",)" + imp +
              R"(,"subject":{"reference":"Patient/a"},"period":{"start":"2018-06-01"}})"
              "\n"
              R"({"resourceType":"Encounter","status":"finished",)" + imp +
              R"(,"subject":{"reference":"Patient/a"},"period":{"start":"2019-01-01"}})"
              "\n"
              R"({"resourceType":"Encounter","status":"cancelled",)" + imp +
              R"(,"subject":{"reference":"Patient/b"},"period":{"start":"2019-01-01"}})"
              "\n"
              R"({"resourceType":"Encounter",)" + imp +
              R"(,"subject":{"reference":"Patient/b"},"period":{"start":"2019-02-01"}})"
              "\n");
    const std::string a1c = R"("code":{"coding":[{"system":"http://loinc.org","code":"4548-4"}]})";
    write("Observation.ndjson",
          R"({"resourceType":"Observation","status":"final",)" + a1c +
              R"(,"subject":{"reference":"Patient/a"},"effectiveDateTime":"2018-12-01",)"
              R"("valueQuantity":{"value":7.0,"code":"%"}})"
              "\n"
              R"({"resourceType":"Observation","status":"cancelled",)" + a1c +
              R"(,"subject":{"reference":"Patient/a"},"effectiveDateTime":"2018-12-20",)"
              R"("valueQuantity":{"value":9.9,"code":"%"}})"
              "\n");
    const std::string dm =
        R"("code":{"coding":[{"system":"http://snomed.info/sct","code":"44054006"}]})";
    write("Condition.ndjson",
          R"({"resourceType":"Condition","verificationStatus":{"coding":[{"code":"refuted"}]},)" +
              dm + R"(,"subject":{"reference":"Patient/a"},"onsetDateTime":"2015-01-01"})"
              "\n"
              R"({"resourceType":"Condition","verificationStatus":{"coding":[{"code":)"
              R"("confirmed"}]},)" +
              dm + R"(,"subject":{"reference":"Patient/b"},"onsetDateTime":"2015-01-01"})"
              "\n");
    ASSERT_EQ(ingest("sluice_fhir: 1\nindex: first_encounter\nfeatures:\n"
                     "  - {name: a1c, observation: [http://loinc.org|4548-4], value: latest}\n"
                     "  - {name: a1c_day, observation: [http://loinc.org|4548-4], "
                     "value: days_to_first}\n"
                     "  - {name: dm, condition: [http://snomed.info/sct|44054006], to: 0}\n"
                     "  - {name: dm_day, condition: [http://snomed.info/sct|44054006], "
                     "value: days_to_first}\n"
                     "  - {name: stays, encounter: [http://terminology.hl7.org/CodeSystem/"
                     "v3-ActCode|IMP], value: count}\n"),
              SL_OK)
        << last_error();
    load(out_);
    // the index dates: 2019-01-01 (not the planned 2018-01-01), 2019-02-01
    EXPECT_EQ(at<int64_t>(col("a1c_day"), 0), -31);   // 2018-12-01
    EXPECT_EQ(at<int64_t>(col("dm_day"), 1), -1492);  // 2015-01-01
    EXPECT_EQ(at<int64_t>(col("dm_day"), 0), SL_INT_MISSING);
    EXPECT_DOUBLE_EQ(at<double>(col("a1c"), 0), 7.0);
    EXPECT_EQ(at<int32_t>(col("dm"), 0), 0);
    EXPECT_EQ(at<int32_t>(col("dm"), 1), 1);
    EXPECT_EQ(at<int64_t>(col("stays"), 0), 1);
    EXPECT_EQ(at<int64_t>(col("stays"), 1), 1);
}

// A medication given by reference: to one of the export's Medication
// resources (R4 medicationReference, R5 medication.reference; also as an
// absolute URL) or to a Medication contained in the resource. A reference
// the export cannot resolve matches nothing, and is counted in a warning.
TEST_F(FhirTest, MedicationsByReference) {
    write_patients({"a", "b", "c", "d"});
    write("Medication.ndjson",
          R"({"resourceType":"Medication","id":"m1","code":{"coding":[{"system":"other",)"
          R"("code":"x"},{"system":"rx","code":"1"}]}})"
          "\n"
          R"({"resourceType":"Medication","id":"m2","code":{"coding":[{"system":"rx","code":"2"}]}})"
          "\n");
    write("MedicationRequest.ndjson",
          R"({"resourceType":"MedicationRequest","medicationReference":{"reference":)"
          R"("Medication/m1"},"subject":{"reference":"Patient/a"},"authoredOn":"2019-12-01"})"
          "\n"
          R"({"resourceType":"MedicationRequest","medicationReference":{"reference":)"
          R"("Medication/m2"},"subject":{"reference":"Patient/b"},"authoredOn":"2019-12-01"})"
          "\n"
          R"({"resourceType":"MedicationRequest","medicationReference":{"reference":)"
          R"("Medication/m9"},"subject":{"reference":"Patient/d"},"authoredOn":"2019-12-01"})"
          "\n");
    write("MedicationStatement.ndjson",
          R"({"resourceType":"MedicationStatement","medication":{"reference":{"reference":)"
          R"("https://h.example/fhir/Medication/m1/_history/3"}},)"
          R"("subject":{"reference":"Patient/b"},"effectiveDateTime":"2019-12-21"})"
          "\n");
    write("MedicationAdministration.ndjson",
          R"({"resourceType":"MedicationAdministration","contained":[{"resourceType":)"
          R"("Medication","id":"c1","code":{"coding":[{"system":"rx","code":"1"}]}}],)"
          R"("medicationReference":{"reference":"#c1"},"subject":{"reference":"Patient/c"},)"
          R"("effectiveDateTime":"2019-12-31"})"
          "\n");
    const std::string spec = "sluice_fhir: 1\nindex: 2020-01-01\nfeatures:\n"
                             "  - {name: one, medication: [rx|1], value: days_to_first}\n"
                             "  - {name: two, medication: [rx|2], value: days_to_first}\n";
    testing::internal::CaptureStderr();
    sl_status st = ingest(spec);
    std::string err = testing::internal::GetCapturedStderr();
    ASSERT_EQ(st, SL_OK) << last_error();
    EXPECT_NE(err.find("1 medication resources name a Medication that no Medication file holds"),
              std::string::npos)
        << err;
    load(out_);
    EXPECT_EQ(at<int64_t>(col("one"), 0), -31);
    EXPECT_EQ(at<int64_t>(col("two"), 0), SL_INT_MISSING);
    EXPECT_EQ(at<int64_t>(col("one"), 1), -11);
    EXPECT_EQ(at<int64_t>(col("two"), 1), -31);
    EXPECT_EQ(at<int64_t>(col("one"), 2), -1);
    EXPECT_EQ(at<int64_t>(col("one"), 3), SL_INT_MISSING);
    discard();

    write("MedicationAdministration.ndjson",
          R"({"resourceType":"MedicationAdministration","medicationReference":{"reference":)"
          R"("#c2"},"subject":{"reference":"Patient/c"},"effectiveDateTime":"2019-12-31"})"
          "\n");
    expect_error(spec, SL_ERR_FORMAT,
                 "MedicationAdministration.ndjson:1: medicationReference.reference: no "
                 "contained Medication has the id it names");
    write("MedicationAdministration.ndjson",
          R"({"resourceType":"MedicationAdministration","medicationReference":{"reference":)"
          R"("Substance/s1"},"subject":{"reference":"Patient/c"},"effectiveDateTime":"2019-12-31"})"
          "\n");
    expect_error(spec, SL_ERR_FORMAT,
                 "MedicationAdministration.ndjson:1: medicationReference.reference: expected "
                 "Medication/<id>");
    write("Medication.ndjson",
          R"({"resourceType":"Medication","id":"m1"})"
          "\n"
          R"({"resourceType":"Medication","id":"m1"})"
          "\n");
    expect_error(spec, SL_ERR_FORMAT,
                 "Medication.ndjson:2: id: an earlier Medication has the same id");
}

}  // namespace
