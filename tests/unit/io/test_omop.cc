// test_omop.cc: OMOP CDM tables -> person-level cohort, read back through the
// real cohort reader. A hand-worked example pins every feature kind (index
// dates, windows, ties, units, labels, persons left out); a generated data
// set is checked value by value against features computed here, naively, per
// person from the event lists; errors name the file, line and column and
// leave nothing behind.
#include "gzip.hh"
#include "pivot_test.hh"

#include <map>
#include <random>
#include <sstream>

namespace {

using sltest::Stats;

class OmopTest : public sltest::PivotTest {
protected:
    sl_status run(const std::string &spec, sl_omop_stats *stats = nullptr, int64_t chunk_rows = 0,
                  const char *project = nullptr) {
        out_ = dir_.file("cohort.h5");
        sl_omop_opts o{};
        o.dir = dir_.path().c_str();
        o.spec = spec.c_str();
        o.out = out_.c_str();
        o.kek = kek_.get();
        o.project = project;
        o.chunk_rows = chunk_rows;
        o.progress = false;
        return sl_omop_ingest(&o, stats);
    }
    sl_status ingest(const std::string &spec_text, sl_omop_stats *stats = nullptr,
                     int64_t chunk_rows = 0, const char *project = nullptr) {
        return run(write("spec.yaml", spec_text), stats, chunk_rows, project);
    }
    sl_status run_spec(const std::string &spec) override { return run(spec); }
    void write_example();
};

void OmopTest::write_example() {
    write("person.csv",
          "person_id,gender_concept_id,year_of_birth,race_concept_id,ethnicity_concept_id\n"
          "1,8532,1950,8527,0\n"
          "2,8507,1980,8516,0\n"
          "3,8532,1970,,0\n"
          "4,0,1990,8527,0\n");
    write("observation_period.csv",
          "observation_period_id,person_id,observation_period_start_date,"
          "observation_period_end_date,period_type_concept_id\n"
          "1,1,2010-01-01,2020-01-01,44814724\n"
          "2,2,2012-06-01,2020-01-01,44814724\n"
          "3,3,2011-01-01,2020-01-01,44814724\n"
          "4,1,2005-03-01 00:00:00,2009-01-01,44814724\n");  // as some databases export dates
    write("measurement.csv",
          "measurement_id,person_id,measurement_concept_id,measurement_date,value_as_number,"
          "unit_concept_id\n"
          "1,1,3004410,2004-05-01,6.5,8554\n"
          "2,1,3004410,2005-01-01,7.0,8554\n"
          "4,2,3004410,2012-01-01,6.1,8554\n"
          "3,2,3004410,2012-01-01T08:30:00.250Z,5.9,8554\n"
          "5,3,3004410,2012-01-01,9.9,8554\n"
          "6,3,999,2010-01-01,,\n"
          "7,2,3004410,2012-02-01,,8554\n");
    write("condition_occurrence.tsv",  // tab-separated, as some databases export
          "condition_occurrence_id\tperson_id\tcondition_concept_id\tcondition_start_date\n"
          "1\t1\t201826\t2000-01-01\n"
          "2\t2\t201826\t2013-01-01\n"
          "3\t2\t443238\t2014-01-01\n"
          "4\t3\t201826\t2011-01-01\n");  // on person 3's index date: in both windows
    write("DEATH.csv", "person_id,death_date,cause_concept_id\n3,2015-01-01,\n");
    write("visit_occurrence.csv",
          "visit_occurrence_id,person_id,visit_concept_id,visit_start_date,visit_end_date\n"
          "1,1,9201,2004-06-01,2004-06-05\n"   // inpatient, in the year before the index
          "2,1,9201,2003-01-01,2003-01-02\n"   // before that year
          "3,1,9202,2005-01-01,2005-01-01\n"   // outpatient
          "4,2,9201,2012-05-31,2012-06-02\n");
}

const char *const kExampleSpec = R"(sluice_omop: 1
index: observation_period_start
features:
  - name: sex
    person: gender
  - name: age
    person: age
    lower: 0
    upper: 110
  - name: race
    person: race
  - name: hba1c
    measurement: [3004410]
    value: latest
    to: 0
    lower: 3
    upper: 20
  - name: hba1c_first
    measurement: 3004410
    value: earliest
  - name: hba1c_mean
    measurement: 3004410
    value: mean
  - name: hba1c_max
    measurement: 3004410
    value: max
    unit: 8554
  - name: diabetes
    condition: [201826, 443238]
    to: 0
  - name: diabetes_n
    condition: [443238, 201826]
    value: count
    from: 0
    class: other
  - name: died_days
    death: any
    value: days_to_first
  - name: inpatient_year
    visit: [9201, 9203]
    value: count
    from: -365
    to: -1
)";

TEST_F(OmopTest, HandWorkedExample) {
    write_example();
    Stats stats;
    ASSERT_EQ(ingest(kExampleSpec, &stats), SL_OK) << last_error();
    EXPECT_EQ(stats.persons, 3);
    EXPECT_EQ(stats.left_out, 1);  // person 4 has no observation period
    EXPECT_EQ(stats.ncols, 12);
    EXPECT_EQ(stats.events, 16);
    // persons with a value: sex, age, race, hba1c, hba1c_first, hba1c_mean,
    // hba1c_max, diabetes (yes), diabetes_n (a count is always there), died_days,
    // inpatient_year
    ASSERT_NE(stats.present, nullptr);
    EXPECT_EQ(std::vector<int64_t>(stats.present, stats.present + 11),
              (std::vector<int64_t>{3, 3, 2, 2, 3, 3, 3, 2, 3, 1, 3}));
    load(out_);
    ASSERT_EQ(sl_cohort_nrows(cohort_.get()), 3);

    // Index dates: 2005-03-01 (earliest of two periods), 2012-06-01, 2011-01-01.
    for (int r = 0; r < 3; r++)
        EXPECT_EQ(id_at(r), hmac(std::to_string(r + 1))) << r;
    EXPECT_EQ(sl_cohort_col(cohort_.get(), 0)->type, SL_COL_ID);
    EXPECT_EQ(levels(col("sex")), (std::vector<std::string>{"F", "M"}));
    EXPECT_EQ(at<int32_t>(col("sex"), 0), 0);
    EXPECT_EQ(at<int32_t>(col("sex"), 1), 1);
    EXPECT_EQ(at<int32_t>(col("sex"), 2), 0);
    EXPECT_EQ(sl_cohort_col(cohort_.get(), col("sex"))->cls, SL_CLASS_QUASI);
    EXPECT_EQ(at<int64_t>(col("age"), 0), 55);
    EXPECT_EQ(at<int64_t>(col("age"), 1), 32);
    EXPECT_EQ(at<int64_t>(col("age"), 2), 41);
    EXPECT_EQ(sl_cohort_col(cohort_.get(), col("age"))->upper, 110.0);
    EXPECT_EQ(levels(col("race")), (std::vector<std::string>{"8516", "8527"}));
    EXPECT_EQ(at<int32_t>(col("race"), 0), 1);
    EXPECT_EQ(at<int32_t>(col("race"), 1), 0);
    EXPECT_EQ(at<int32_t>(col("race"), 2), SL_CAT_MISSING);

    // latest up to the index: person 2's two rows on one date -> the larger id
    // (4: 6.1); person 3's only row is after the index.
    int h = col("hba1c");
    EXPECT_EQ(sl_cohort_col(cohort_.get(), h)->type, SL_COL_REAL);
    EXPECT_EQ(sl_cohort_col(cohort_.get(), h)->cls, SL_CLASS_SENSITIVE);
    EXPECT_EQ(sl_cohort_col(cohort_.get(), h)->lower, 3.0);
    EXPECT_EQ(at<double>(h, 0), 7.0);
    EXPECT_EQ(at<double>(h, 1), 6.1);
    EXPECT_TRUE(std::isnan(at<double>(h, 2)));
    // earliest, no window: the smaller id on a shared date; rows without a value skipped
    EXPECT_EQ(at<double>(col("hba1c_first"), 0), 6.5);
    EXPECT_EQ(at<double>(col("hba1c_first"), 1), 5.9);
    EXPECT_EQ(at<double>(col("hba1c_first"), 2), 9.9);
    EXPECT_EQ(at<double>(col("hba1c_mean"), 0), 6.75);
    EXPECT_EQ(at<double>(col("hba1c_mean"), 1), (6.1 + 5.9) / 2);
    EXPECT_EQ(at<double>(col("hba1c_max"), 1), 6.1);

    int d = col("diabetes");
    EXPECT_EQ(levels(d), (std::vector<std::string>{"no", "yes"}));
    EXPECT_EQ(at<int32_t>(d, 0), 1);
    EXPECT_EQ(at<int32_t>(d, 1), 0);  // both after the index
    EXPECT_EQ(at<int32_t>(d, 2), 1);  // `to: 0` includes the index date
    EXPECT_EQ(at<int64_t>(col("diabetes_n"), 0), 0);  // before the window
    EXPECT_EQ(at<int64_t>(col("diabetes_n"), 1), 2);
    EXPECT_EQ(at<int64_t>(col("diabetes_n"), 2), 1);  // `from: 0` too
    EXPECT_EQ(sl_cohort_col(cohort_.get(), col("diabetes_n"))->cls, SL_CLASS_OTHER);
    EXPECT_EQ(at<int64_t>(col("died_days"), 0), SL_INT_MISSING);
    EXPECT_EQ(at<int64_t>(col("died_days"), 2), 1461);  // 2011-01-01 -> 2015-01-01
    EXPECT_EQ(at<int64_t>(col("inpatient_year"), 0), 1);
    EXPECT_EQ(at<int64_t>(col("inpatient_year"), 1), 1);
    EXPECT_EQ(at<int64_t>(col("inpatient_year"), 2), 0);
}

// Tables may come gzip-compressed (.csv.gz, .tsv.gz, upper-case too) and
// read as the plain ones; a table beside its own gzip copy is refused, and
// a truncated one is an error naming it.
TEST_F(OmopTest, GzipTablesReadAsPlainOnes) {
    write_example();
    auto pack = [&](const char *name) {
        auto bytes = sltest::read_file(dir_.file(name));
        std::string text(bytes.begin(), bytes.end());
        ASSERT_EQ(std::remove(dir_.file(name).c_str()), 0);
        write(std::string(name) + ".gz", sltest::gzip(text));
    };
    for (const char *name : {"person.csv", "measurement.csv", "condition_occurrence.tsv",
                             "DEATH.csv", "visit_occurrence.csv"})
        pack(name);
    Stats stats;
    ASSERT_EQ(ingest(kExampleSpec, &stats), SL_OK) << last_error();
    EXPECT_EQ(stats.persons, 3);
    EXPECT_EQ(stats.events, 16);
    load(out_);
    EXPECT_EQ(at<int64_t>(col("age"), 1), 32);
    EXPECT_EQ(at<double>(col("hba1c"), 1), 6.1);
    EXPECT_EQ(at<int64_t>(col("diabetes_n"), 1), 2);
    EXPECT_EQ(at<int64_t>(col("died_days"), 2), 1461);
    EXPECT_EQ(at<int64_t>(col("inpatient_year"), 0), 1);
    discard();

    write("DEATH.csv", "person_id,death_date,cause_concept_id\n3,2015-01-01,\n");
    expect_error(kExampleSpec, SL_ERR_FORMAT,
                 "DEATH.csv and " + dir_.file("DEATH.csv") +
                     ".gz: the same table twice, plain and compressed");
    ASSERT_EQ(std::remove(dir_.file("DEATH.csv").c_str()), 0);
    auto bytes = sltest::read_file(dir_.file("measurement.csv.gz"));
    write("measurement.csv.gz", std::string(bytes.begin(), bytes.end() - 12));
    expect_error(kExampleSpec, SL_ERR_FORMAT,
                 "measurement.csv.gz: the gzip file ends before its compressed stream does");
}

TEST_F(OmopTest, CheckReadsSpecAndHeadersOnly) {
    write_example();
    std::string spec = write("spec.yaml", kExampleSpec);
    auto check = [&](Stats *stats) {
        sl_omop_opts o{};
        o.dir = dir_.path().c_str();
        o.spec = spec.c_str();
        o.check = true;  // no key, no output
        return sl_omop_ingest(&o, stats);
    };
    auto before = files();
    {
        Stats stats;
        ASSERT_EQ(check(&stats), SL_OK) << last_error();
        EXPECT_EQ(stats.tables, 6);  // person, observation_period, measurement,
                                     // condition_occurrence, visit_occurrence, death
        EXPECT_EQ(stats.ncols, 12);
        EXPECT_EQ(stats.persons, 0);
    }
    // A bad value in a row is not seen; a missing column is.
    write("measurement.csv",
          "measurement_id,person_id,measurement_concept_id,measurement_date,value_as_number,"
          "unit_concept_id\n1,1,3004410,not-a-date,6.5,8554\n");
    EXPECT_EQ(check(nullptr), SL_OK) << last_error();
    write("measurement.csv", "measurement_id,person_id,measurement_concept_id,measurement_date\n");
    EXPECT_EQ(check(nullptr), SL_ERR_FORMAT);
    EXPECT_NE(last_error().find("measurement.csv:1: no column value_as_number in the header"),
              std::string::npos)
        << last_error();
    EXPECT_EQ(files(), before);
}

TEST_F(OmopTest, FixedIndexLabelsAndProjectPseudonyms) {
    write_example();
    ASSERT_EQ(ingest("sluice_omop: 1\nindex: 2012-06-01\nfeatures:\n"
                     "  - name: race\n    person: race\n"
                     "    labels: {8527: White, 8516: Black, 0: Unknown}\n"
                     "  - name: yob\n    person: year_of_birth\n"
                     "  - name: hba1c_days\n    measurement: 3004410\n    value: days_to_first\n",
                     nullptr, 2, "study-7"),
              SL_OK)
        << last_error();
    load(out_);
    ASSERT_EQ(sl_cohort_nrows(cohort_.get()), 4);  // everyone has the fixed index
    EXPECT_EQ(sl_cohort_chunk_rows(cohort_.get()), 2);
    EXPECT_EQ(id_at(3), hmac("4", "pseudonym:study-7"));
    EXPECT_EQ(levels(col("race")), (std::vector<std::string>{"White", "Black", "Unknown"}));
    EXPECT_EQ(at<int32_t>(col("race"), 0), 0);
    EXPECT_EQ(at<int32_t>(col("race"), 1), 1);
    EXPECT_EQ(at<int32_t>(col("race"), 2), SL_CAT_MISSING);
    EXPECT_EQ(at<int64_t>(col("yob"), 3), 1990);
    // 2004-05-01 is 2953 days before 2012-06-01
    EXPECT_EQ(at<int64_t>(col("hba1c_days"), 0), -2953);
    EXPECT_EQ(at<int64_t>(col("hba1c_days"), 1), -152);
    EXPECT_EQ(at<int64_t>(col("hba1c_days"), 3), SL_INT_MISSING);
}

TEST_F(OmopTest, CohortTableGivesPopulationAndIndex) {
    write_example();
    write("cohort.csv",
          "cohort_definition_id,subject_id,cohort_start_date,cohort_end_date\n"
          "17,2,2013-06-01,2014-01-01\n"
          "18,1,2001-01-01,2002-01-01\n"
          "17,4,2012-01-01,2013-01-01\n"
          "17,2,2012-12-31,2013-01-01\n");
    Stats stats;
    ASSERT_EQ(ingest("sluice_omop: 1\nindex: {cohort: 17}\nfeatures:\n"
                     "  - {name: age, person: age}\n"
                     "  - {name: dx, condition: [201826], value: days_to_first}\n",
                     &stats),
              SL_OK)
        << last_error();
    EXPECT_EQ(stats.persons, 2);
    EXPECT_EQ(stats.left_out, 2);
    load(out_);
    ASSERT_EQ(sl_cohort_nrows(cohort_.get()), 2);
    EXPECT_EQ(id_at(0), hmac("2"));
    EXPECT_EQ(id_at(1), hmac("4"));
    EXPECT_EQ(at<int64_t>(col("age"), 0), 2012 - 1980);  // the earlier of two entries
    EXPECT_EQ(at<int64_t>(col("age"), 1), 2012 - 1990);
    EXPECT_EQ(at<int64_t>(col("dx"), 0), 1);  // 2012-12-31 -> 2013-01-01
    EXPECT_EQ(at<int64_t>(col("dx"), 1), SL_INT_MISSING);
    discard();

    expect_error("sluice_omop: 1\nindex: {cohort: 99}\nfeatures:\n  - {name: a, person: age}\n",
                 SL_ERR_FORMAT, "no person has an index date (no subject of the cohort");
    expect_error("sluice_omop: 1\nindex: {cohort: x}\nfeatures:\n  - {name: a, person: age}\n",
                 SL_ERR_FORMAT, "spec.yaml:2:17: expected an integer for 'cohort' in 'index'");
    expect_error("sluice_omop: 1\nindex: {cohrt: 1}\nfeatures:\n  - {name: a, person: age}\n",
                 SL_ERR_FORMAT, "spec.yaml:2:9: unknown key 'cohrt' in 'index'");
    write("cohort.csv", "cohort_definition_id,subject_id,cohort_start_date\n17,5,2012-01-01\n");
    expect_error("sluice_omop: 1\nindex: {cohort: 17}\nfeatures:\n  - {name: a, person: age}\n",
                 SL_ERR_FORMAT, "cohort.csv:2: column 2 (subject_id): no such person");
}

TEST_F(OmopTest, FirstVisitAsIndex) {
    write_example();
    const std::string spec = "sluice_omop: 1\nindex: first_visit\nfeatures:\n"
                             "  - {name: age, person: age}\n"
                             "  - {name: visits, visit: [9201, 9202], value: count}\n";
    Stats stats;
    ASSERT_EQ(ingest(spec, &stats), SL_OK) << last_error();
    EXPECT_EQ(stats.persons, 2);  // persons 3 and 4 have no visit
    EXPECT_EQ(stats.left_out, 2);
    EXPECT_EQ(stats.tables, 2);   // person, visit_occurrence (read twice, counted once)
    load(out_);
    EXPECT_EQ(id_at(0), hmac("1"));
    EXPECT_EQ(at<int64_t>(col("age"), 0), 2003 - 1950);  // the earliest of three visits
    EXPECT_EQ(at<int64_t>(col("age"), 1), 2012 - 1980);
    EXPECT_EQ(at<int64_t>(col("visits"), 0), 3);
    discard();
    write("visit_occurrence.csv", "visit_occurrence_id,person_id,visit_concept_id\n");
    expect_error(spec, SL_ERR_FORMAT, "visit_occurrence.csv:1: no column visit_start_date");
    write("visit_occurrence.csv",
          "visit_occurrence_id,person_id,visit_concept_id,visit_start_date\n");
    expect_error(spec, SL_ERR_FORMAT,
                 "no person has an index date (no visit in visit_occurrence.csv)");
}

TEST_F(OmopTest, DescendantsFromConceptAncestor) {
    write_example();
    const std::string spec = "sluice_omop: 1\nindex: 2020-01-01\nfeatures:\n"
                             "  - {name: t2dm, condition: [201826], value: count}\n"
                             "  - {name: t2dm_all, condition: [201826], value: count, "
                             "descendants: true}\n";
    expect_error(spec, SL_ERR_IO,
                 "concept_ancestor.csv: no such file, nor a .tsv, upper-case or .gz one; "
                 "expected the table concept_ancestor (feature 't2dm_all' at ");
    // 443238 descends from 201826; the other rows must not count: an ancestor
    // of 201826, and a descendant of an unlisted concept.
    write("concept_ancestor.csv",
          "ancestor_concept_id,descendant_concept_id,min_levels_of_separation\n"
          "201826,201826,0\n201826,443238,1\n1,201826,1\n443238,999,1\n");
    ASSERT_EQ(ingest(spec), SL_OK) << last_error();
    load(out_);
    EXPECT_EQ(at<int64_t>(col("t2dm"), 1), 1);
    EXPECT_EQ(at<int64_t>(col("t2dm_all"), 1), 2);
    EXPECT_EQ(at<int64_t>(col("t2dm_all"), 0), 1);
    discard();
    expect_error("sluice_omop: 1\nindex: 2020-01-01\nfeatures:\n"
                 "  - {name: a, condition: [1], descendants: yes}\n",
                 SL_ERR_FORMAT, "spec.yaml:4:44: expected 'descendants' of feature 'a' to be true");
    expect_error("sluice_omop: 1\nindex: 2020-01-01\nfeatures:\n"
                 "  - {name: a, death: any, descendants: true}\n",
                 SL_ERR_FORMAT, "'descendants' needs a list of concepts, not any");
    expect_error("sluice_omop: 1\nindex: 2020-01-01\nfeatures:\n"
                 "  - {name: a, person: age, descendants: true}\n",
                 SL_ERR_FORMAT, "'descendants' applies to event features");
}

TEST_F(OmopTest, ExcludedConceptsAndTheirDescendants) {
    write_example();
    // 201826 > 443238 > 999; a .csv is read before the example's .tsv
    write("concept_ancestor.csv",
          "ancestor_concept_id,descendant_concept_id\n"
          "201826,443238\n201826,999\n443238,999\n");
    write("condition_occurrence.csv",
          "person_id,condition_concept_id,condition_start_date\n"
          "1,201826,2000-01-01\n2,443238,2013-01-01\n3,999,2011-01-01\n");
    const std::string head = "sluice_omop: 1\nindex: 2020-01-01\nfeatures:\n";
    ASSERT_EQ(ingest(head +
                     "  - {name: all, condition: 201826, descendants: true, value: count}\n"
                     "  - {name: some, condition: 201826, descendants: true, exclude: 443238,"
                     " value: count}\n"
                     "  - {name: flat, condition: [201826, 443238, 999], exclude: [443238],"
                     " value: count}\n"),
              SL_OK)
        << last_error();
    load(out_);
    std::vector<int64_t> all, some, flat;
    for (int r = 0; r < 3; r++) {
        all.push_back(at<int64_t>(col("all"), r));
        some.push_back(at<int64_t>(col("some"), r));
        flat.push_back(at<int64_t>(col("flat"), r));
    }
    EXPECT_EQ(all, (std::vector<int64_t>{1, 1, 1}));
    EXPECT_EQ(some, (std::vector<int64_t>{1, 0, 0}));  // 443238 and, below it, 999 left out
    EXPECT_EQ(flat, (std::vector<int64_t>{1, 0, 1}));  // no descendants: only 443238
    discard();
    expect_error(head + "  - {name: a, condition: [1, 2], exclude: [2, 1]}\n", SL_ERR_FORMAT,
                 "spec.yaml:4:12: feature 'a' excludes every concept it lists");
    expect_error(head + "  - {name: a, death: any, exclude: [2]}\n", SL_ERR_FORMAT,
                 "'exclude' needs a list of concepts, not any");
    expect_error(head + "  - {name: a, person: age, exclude: [2]}\n", SL_ERR_FORMAT,
                 "'exclude' applies to event features");
}

TEST_F(OmopTest, LatestConceptValue) {
    // Smoking status as OMOP records it: observation rows whose value is a
    // concept (45879404 never, 45883458 former, 45881517 current smoker).
    write("person.csv", "person_id\n1\n2\n3\n4\n");
    write("observation.csv",
          "observation_id,person_id,observation_concept_id,observation_date,"
          "value_as_concept_id,value_as_number\n"
          "1,1,43054909,2019-01-01,45881517,\n"
          "2,1,43054909,2019-06-01,45883458,\n"
          "3,2,43054909,2019-06-01,45881517,\n"
          "5,2,43054909,2019-06-01,45879404,\n"
          "4,2,43054909,2019-06-01,45883458,\n"
          "6,3,43054909,2018-01-01,0,\n"
          "7,3,43054909,2017-01-01,45879404,\n"
          "8,4,43054909,2021-01-01,45881517,\n"
          "9,4,43054909,2019-01-01,,12\n");
    const std::string head = "sluice_omop: 1\nindex: 2020-01-01\nfeatures:\n"
                             "  - {name: smoking, observation: 43054909, value: latest_concept,"
                             " to: 0";
    ASSERT_EQ(ingest(head + "}\n"), SL_OK) << last_error();
    load(out_);
    int c = col("smoking");
    EXPECT_EQ(sl_cohort_col(cohort_.get(), c)->type, SL_COL_CAT);
    EXPECT_EQ(levels(c), (std::vector<std::string>{"45879404", "45883458"}));
    EXPECT_EQ(at<int32_t>(c, 0), 1);  // the later of two dates
    EXPECT_EQ(at<int32_t>(c, 1), 0);  // three on one date: the largest observation_id
    EXPECT_EQ(at<int32_t>(c, 2), 0);  // concept 0 (no matching concept) is no value
    EXPECT_EQ(at<int32_t>(c, 3), SL_CAT_MISSING);  // after the index, or without a concept
    discard();
    ASSERT_EQ(ingest(head + ", labels: {45879404: never, 45883458: former, 45881517: current}}\n"),
              SL_OK)
        << last_error();
    load(out_);
    EXPECT_EQ(levels(col("smoking")), (std::vector<std::string>{"never", "former", "current"}));
    EXPECT_EQ(at<int32_t>(col("smoking"), 0), 1);
    discard();
    expect_error(head + ", unit: 1}\n", SL_ERR_FORMAT,
                 "'unit' applies to numbers, not to latest_concept");
    expect_error(head + ", lower: 1}\n", SL_ERR_FORMAT,
                 "feature 'smoking' is categorical; 'lower' applies to numbers");
}

TEST_F(OmopTest, ConceptFieldWithoutAnyConcept) {
    // Every race is 0 (no matching concept) or empty: a column with no levels.
    write("person.csv", "person_id,race_concept_id\n1,0\n2,\n");
    ASSERT_EQ(ingest("sluice_omop: 1\nindex: 2020-01-01\nfeatures:\n"
                     "  - {name: race, person: race}\n"),
              SL_OK)
        << last_error();
    load(out_);
    EXPECT_TRUE(levels(col("race")).empty());
    EXPECT_EQ(at<int32_t>(col("race"), 0), SL_CAT_MISSING);
    EXPECT_EQ(at<int32_t>(col("race"), 1), SL_CAT_MISSING);
}

TEST_F(OmopTest, UnitsAreNeverMixed) {
    write("person.csv", "person_id\n1\n2\n");
    write("measurement.csv",
          "measurement_id,person_id,measurement_concept_id,measurement_date,value_as_number,"
          "unit_concept_id\n"
          "1,1,3013682,2020-01-01,5.1,8753\n"
          "2,2,3013682,2020-01-01,92,8840\n"
          "3,2,3013682,2020-02-01,4.9,8753\n");
    const std::string head = "sluice_omop: 1\nindex: 2021-01-01\nfeatures:\n"
                             "  - name: glucose\n    measurement: 3013682\n    value: mean\n";
    expect_error(head, SL_ERR_FORMAT,
                 "measurement.csv:3: column 6 (unit_concept_id): feature 'glucose' (");
    expect_error(head, SL_ERR_FORMAT, "spec.yaml:4:11) would mix values of two units");
    ASSERT_EQ(ingest(head + "    unit: 8753\n"), SL_OK) << last_error();
    load(out_);
    EXPECT_EQ(at<double>(col("glucose"), 0), 5.1);
    EXPECT_EQ(at<double>(col("glucose"), 1), 4.9);
}

TEST_F(OmopTest, TableErrorsNameFileLineAndColumn) {
    const std::string spec = "sluice_omop: 1\nindex: observation_period_start\nfeatures:\n"
                             "  - name: dx\n    condition: [1]\n";
    write("person.csv", "PERSON_ID,year_of_birth\n10,1950\n11,1960\n10,1970\n");
    expect_error(spec, SL_ERR_FORMAT, "person.csv:4: person_id repeats line 2");
    write("person.csv", "person_id\n10\nx\n");
    expect_error(spec, SL_ERR_FORMAT, "person.csv:3: column 1 (person_id): expected an integer");
    write("person.csv", "person_id\n10\n11\n");
    expect_error(spec, SL_ERR_IO, "observation_period.csv: no such file");
    write("observation_period.csv", "person_id,observation_period_start_date\n10,2020-13-01\n");
    expect_error(spec, SL_ERR_FORMAT,
                 "observation_period.csv:2: column 2 (observation_period_start_date): expected "
                 "a date YYYY-MM-DD");
    for (const char *bad : {"2020-01-01 24:00:00", "2020-01-01 12:00", "2020-01-01T12:00:61",
                            "2020-01-01 12:00:00.", "2020-01-01x12:00:00"}) {
        write("observation_period.csv",
              std::string("person_id,observation_period_start_date\n10,") + bad + "\n");
        expect_error(spec, SL_ERR_FORMAT,
                     "observation_period.csv:2: column 2 (observation_period_start_date): "
                     "expected a date YYYY-MM-DD, optionally with a time");
    }
    write("observation_period.csv", "person_id,observation_period_start_date\n10,2020-01-01\n");
    expect_error(spec, SL_ERR_IO,
                 "condition_occurrence.csv: no such file, nor a .tsv, upper-case or .gz one; "
                 "expected the table condition_occurrence (feature 'dx' at ");
    write("condition_occurrence.csv", "person_id,condition_concept_id\n10,1\n");
    expect_error(spec, SL_ERR_FORMAT,
                 "condition_occurrence.csv:1: no column condition_start_date in the header");
    write("condition_occurrence.csv",
          "person_id,condition_concept_id,condition_start_date\n10,1,2020-01-01\n12,1,2020-01-01\n");
    expect_error(spec, SL_ERR_FORMAT,
                 "condition_occurrence.csv:3: column 1 (person_id): no such person in person.csv");
    write("condition_occurrence.csv",
          "person_id,condition_concept_id,condition_start_date\n10,,2020-01-01\n");
    expect_error(spec, SL_ERR_FORMAT,
                 "condition_occurrence.csv:2: column 2 (condition_concept_id): missing, expected "
                 "an integer");
    // Events of other concepts and of persons without an index are not read further.
    write("condition_occurrence.csv",
          "person_id,condition_concept_id,condition_start_date\n11,1,bad\n10,2,bad\n");
    Stats stats;
    ASSERT_EQ(ingest(spec, &stats), SL_OK) << last_error();
    EXPECT_EQ(stats.persons, 1);
    EXPECT_EQ(stats.left_out, 1);
}

TEST_F(OmopTest, SpecErrorsNameLineAndColumn) {
    write("person.csv", "person_id\n1\n");
    const std::string h = "sluice_omop: 1\nindex: 2020-01-01\nfeatures:\n";
    expect_error("sluice_omop: 2\nindex: 2020-01-01\nfeatures:\n  - name: a\n    person: age\n",
                 SL_ERR_FORMAT, "spec.yaml:1:14: expected sluice_omop: 1");
    expect_error("sluice_omop: 1\nindex: yesterday\nfeatures:\n  - name: a\n    person: age\n",
                 SL_ERR_FORMAT, "spec.yaml:2:8: expected 'index' to be observation_period_start");
    expect_error(h + "  - name: a\n    person: age\n    colour: red\n", SL_ERR_FORMAT,
                 "spec.yaml:6:5: unknown key 'colour' in feature 1, expected one of name, person");
    expect_error(h + "  - name: a\n", SL_ERR_FORMAT, "spec.yaml:4:5: feature 'a' has no source");
    expect_error(h + "  - name: a\n    person: age\n    condition: [1]\n", SL_ERR_FORMAT,
                 "spec.yaml:6:17: feature 'a' names two sources");
    expect_error(h + "  - name: a\n    person: height\n", SL_ERR_FORMAT,
                 "spec.yaml:5:13: expected 'person' of feature 'a' to be gender");
    expect_error(h + "  - name: a\n    person: age\n  - name: a\n    person: race\n",
                 SL_ERR_FORMAT, "spec.yaml:6:11: feature name 'a' repeats feature 1");
    expect_error(h + "  - name: person_id\n    person: age\n", SL_ERR_FORMAT,
                 "spec.yaml:4:11: feature 1: expected a cohort column name");
    expect_error(h + "  - name: a\n    condition: [1]\n    value: latest\n", SL_ERR_FORMAT,
                 "spec.yaml:6:12: 'latest' needs values; only measurement and observation");
    expect_error(h + "  - name: a\n    condition: [1, x]\n", SL_ERR_FORMAT,
                 "spec.yaml:5:20: expected an integer for a concept id");
    expect_error(h + "  - name: a\n    condition: [1, 1]\n", SL_ERR_FORMAT,
                 "spec.yaml:5:17: concept 1 is listed twice");
    expect_error(h + "  - name: a\n    condition: any\n", SL_ERR_FORMAT,
                 "spec.yaml:5:16: expected an integer for a concept id");
    expect_error(h + "  - name: a\n    condition: [1]\n    from: 5\n    to: 4\n", SL_ERR_FORMAT,
                 "spec.yaml:7:9: 'from' of feature 'a' is after its 'to'");
    expect_error(h + "  - name: a\n    condition: [1]\n    unit: 8554\n", SL_ERR_FORMAT,
                 "spec.yaml:6:11: 'unit' applies to measurement and observation");
    expect_error(h + "  - name: a\n    person: age\n    to: 0\n", SL_ERR_FORMAT,
                 "spec.yaml:6:9: 'to' applies to event features");
    expect_error(h + "  - name: a\n    condition: [1]\n    lower: 0\n", SL_ERR_FORMAT,
                 "spec.yaml:6:12: feature 'a' is categorical; 'lower' applies to numbers");
    expect_error(h + "  - name: a\n    measurement: [1]\n    labels: {1: x}\n", SL_ERR_FORMAT,
                 "spec.yaml:6:14: 'labels' applies to gender, race, ethnicity and latest_concept");
    expect_error(h + "  - name: a\n    person: race\n    labels: {1: x, 1: y}\n", SL_ERR_FORMAT,
                 "invalid YAML");
    expect_error(h + "  - name: a\n    person: age\n    class: identifier\n", SL_ERR_FORMAT,
                 "spec.yaml:6:12: expected 'class' of feature 'a' to be quasi, sensitive");
    expect_error(h, SL_ERR_FORMAT, "expected 'features' to be a non-empty list");
}

// ---- a generated data set against a naive oracle ----

struct Event {
    int64_t id, person, concept;
    int32_t date;    // days since 1970-01-01
    bool has_value;
    double value;
    int64_t unit;
};

struct World {
    std::vector<int64_t> pid, gender, yob;
    std::vector<int32_t> index;  // INT32_MIN: no observation period
    std::vector<Event> meas, cond;
};

std::string date_text(int32_t days) {
    char t[11];
    sl_format_date(days, t);
    return t;
}

World make_world(uint64_t seed, int persons) {
    std::mt19937_64 rng(seed);
    World w;
    int64_t next_id = 1;
    for (int p = 0; p < persons; p++) {
        w.pid.push_back(1000 + 7 * p + static_cast<int64_t>(rng() % 5));
        w.gender.push_back(rng() % 10 == 0 ? 0 : (rng() % 2 ? 8507 : 8532));
        w.yob.push_back(1930 + static_cast<int64_t>(rng() % 70));
        w.index.push_back(rng() % 20 == 0 ? INT32_MIN : 14000 + static_cast<int32_t>(rng() % 3000));
        int nm = static_cast<int>(rng() % 6);
        for (int k = 0; k < nm; k++) {
            Event e{};
            e.id = next_id++;
            e.person = p;
            e.concept = rng() % 4 == 0 ? 3005673 : 3004410;
            e.date = 13000 + static_cast<int32_t>(rng() % 5000);
            if (k > 0 && rng() % 3 == 0)
                e.date = w.meas.back().date;  // ties on one date
            e.has_value = rng() % 8 != 0;
            e.value = static_cast<double>(rng() % 2000) / 100.0;
            e.unit = rng() % 10 == 0 ? 8840 : 8554;
            w.meas.push_back(e);
        }
        int nc = static_cast<int>(rng() % 4);
        for (int k = 0; k < nc; k++)
            w.cond.push_back(Event{next_id++, p, rng() % 2 ? 201826 : 4329847,
                                   12000 + static_cast<int32_t>(rng() % 8000), false, 0, 0});
    }
    std::shuffle(w.meas.begin(), w.meas.end(), rng);
    std::shuffle(w.cond.begin(), w.cond.end(), rng);
    return w;
}

TEST_F(OmopTest, GeneratedCohortMatchesNaiveFeatures) {
    const int persons = 700;
    World w = make_world(20261207, persons);
    std::ostringstream person, obs, meas, cond;
    person << "person_id,gender_concept_id,year_of_birth\n";
    obs << "person_id,observation_period_start_date\n";
    for (int p = 0; p < persons; p++) {
        person << w.pid[p] << ',' << w.gender[p] << ',' << w.yob[p] << '\n';
        if (w.index[p] != INT32_MIN) {  // two periods, the earlier one counts
            obs << w.pid[p] << ',' << date_text(w.index[p] + 400) << '\n';
            obs << w.pid[p] << ',' << date_text(w.index[p]) << '\n';
        }
    }
    meas << "value_as_number,measurement_date,person_id,measurement_concept_id,unit_concept_id,"
            "measurement_id\n";
    for (const Event &e : w.meas)
        meas << (e.has_value ? std::to_string(e.value) : std::string("NA")) << ','
             << date_text(e.date) << ',' << w.pid[e.person] << ',' << e.concept << ',' << e.unit
             << ',' << e.id << '\n';
    cond << "condition_occurrence_id,person_id,condition_concept_id,condition_start_date\n";
    for (const Event &e : w.cond)
        cond << e.id << ',' << w.pid[e.person] << ',' << e.concept << ',' << date_text(e.date)
             << '\n';
    write("person.csv", person.str());
    write("observation_period.csv", obs.str());
    write("measurement.csv", meas.str());
    write("condition_occurrence.csv", cond.str());
    Stats stats;
    ASSERT_EQ(ingest(R"(sluice_omop: 1
index: observation_period_start
features:
  - {name: sex, person: gender}
  - {name: age, person: age}
  - {name: last, measurement: [3004410, 3005673], value: latest, unit: 8554, from: -730, to: 0}
  - {name: first, measurement: [3004410], value: earliest, unit: 8554}
  - {name: avg, measurement: [3005673], value: mean, unit: 8554, to: 30}
  - {name: low, measurement: [3004410], value: min, unit: 8554, from: 0}
  - {name: n, measurement: [3004410, 3005673], value: count, to: 0}
  - {name: dx, condition: [201826], to: -1}
  - {name: dx_days, condition: [201826, 4329847], value: days_to_first, from: 0}
)",
                     &stats, 64),
              SL_OK)
        << last_error();
    load(out_);
    int64_t row = 0;
    for (int p = 0; p < persons; p++) {
        if (w.index[p] == INT32_MIN)
            continue;
        SCOPED_TRACE("person " + std::to_string(p));
        int32_t ix = w.index[p];
        EXPECT_EQ(id_at(row), hmac(std::to_string(w.pid[p])));
        int32_t sex = w.gender[p] == 8532 ? 0 : w.gender[p] == 8507 ? 1 : SL_CAT_MISSING;
        EXPECT_EQ(at<int32_t>(col("sex"), row), sex);
        EXPECT_EQ(at<int64_t>(col("age"), row),
                  std::stoll(date_text(ix).substr(0, 4)) - w.yob[p]);
        // naive: scan every event of this person for every feature
        const Event *last = nullptr, *first = nullptr;
        double sum = 0, low = 0;
        int nsum = 0, nlow = 0, n = 0, dx = 0, dx_days = INT32_MAX;
        for (const Event &e : w.meas) {
            if (e.person != p)
                continue;
            int32_t rel = e.date - ix;
            if (rel <= 0)
                n++;
            bool ok = e.has_value && e.unit == 8554;
            if (ok && rel >= -730 && rel <= 0 &&
                (!last || e.date > last->date || (e.date == last->date && e.id > last->id)))
                last = &e;
            if (ok && e.concept == 3004410 &&
                (!first || e.date < first->date || (e.date == first->date && e.id < first->id)))
                first = &e;
            if (ok && e.concept == 3005673 && rel <= 30) {
                sum += e.value;
                nsum++;
            }
            if (ok && e.concept == 3004410 && rel >= 0) {
                if (nlow == 0 || e.value < low)
                    low = e.value;
                nlow++;
            }
        }
        for (const Event &e : w.cond) {
            if (e.person != p)
                continue;
            int32_t rel = e.date - ix;
            if (e.concept == 201826 && rel <= -1)
                dx = 1;
            if (rel >= 0 && rel < dx_days)
                dx_days = rel;
        }
        auto same = [](double got, bool present, double want) {
            return present ? got == want : std::isnan(got);
        };
        EXPECT_TRUE(same(at<double>(col("last"), row), last, last ? last->value : 0));
        EXPECT_TRUE(same(at<double>(col("first"), row), first, first ? first->value : 0));
        EXPECT_TRUE(same(at<double>(col("avg"), row), nsum > 0, nsum ? sum / nsum : 0));
        EXPECT_TRUE(same(at<double>(col("low"), row), nlow > 0, low));
        EXPECT_EQ(at<int64_t>(col("n"), row), n);
        EXPECT_EQ(at<int32_t>(col("dx"), row), dx);
        EXPECT_EQ(at<int64_t>(col("dx_days"), row),
                  dx_days == INT32_MAX ? SL_INT_MISSING : int64_t{dx_days});
        row++;
    }
    EXPECT_EQ(row, sl_cohort_nrows(cohort_.get()));
    EXPECT_EQ(stats.persons, row);
    EXPECT_EQ(stats.left_out, persons - row);
    EXPECT_GT(sl_cohort_nchunks(cohort_.get()), 5);
}

TEST_F(OmopTest, NothingLeftBehindAfterALateError) {
    write_example();
    // The unit clash is found while reading measurement.csv, after person and
    // index; the output must not exist and no temporary file may remain.
    write("measurement.csv",
          "measurement_id,person_id,measurement_concept_id,measurement_date,value_as_number,"
          "unit_concept_id\n1,1,3004410,2004-05-01,6.5,8554\n2,1,3004410,2004-05-02,6.5,8555\n");
    expect_error("sluice_omop: 1\nindex: observation_period_start\nfeatures:\n"
                 "  - {name: h, measurement: 3004410, value: max}\n",
                 SL_ERR_FORMAT, "would mix values of two units");
    EXPECT_FALSE(std::filesystem::exists(out_));
}

}  // namespace
