/*
 * fuzz_omop.c: fuzz target for OMOP ingest (io/omop.c): the feature spec
 * reader, and the pivot of event tables into person-level features.
 *
 * The first byte picks what the rest is: even, the feature spec, run over
 * fixed small tables (4 persons, 3 with an observation period; cohort,
 * concept_ancestor, measurement, observation, condition_occurrence,
 * drug_exposure, visit_occurrence, death); odd, measurement.csv, read by
 * a fixed spec that asks for every value kind. A failed ingest leaves no
 * cohort behind. A cohort that was written must open, unlock, verify (every
 * chunk reads back), hold one row per person with an index date (persons
 * and those left out make 4) and the columns the stats report, and no
 * feature may have a value for more persons than were written. Files live in a scratch
 * directory; cohorts are written in chunks of 2 rows.
 */
#define _XOPEN_SOURCE 700
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/core/status.h"
#include "io/cohort.h"
#include "io/keys.h"
#include "io/omop.h"

#include "fuzz_workdir.h"
#include "fuzz_cohort.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_dir[4200], g_meas[4200], g_out[4200], g_spec[4200], g_fixed_spec[4200];

static const char kPerson[] =
    "person_id,gender_concept_id,year_of_birth,race_concept_id,ethnicity_concept_id\n"
    "1,8532,1950,8527,0\n2,8507,1980,8516,0\n3,8532,1970,,0\n4,0,1990,8527,0\n";
static const char kObservation[] =
    "person_id,observation_period_start_date\n1,2010-01-01\n2,2012-06-01\n3,2011-01-01\n"
    "1,2005-03-01\n";
static const char kMeasurement[] =
    "measurement_id,person_id,measurement_concept_id,measurement_date,value_as_number,"
    "unit_concept_id\n1,1,3004410,2004-05-01,6.5,8554\n2,1,3004410,2005-01-01,7.0,8554\n"
    "3,2,3004410,2012-01-01,5.9,8554\n";
static const char kCondition[] =
    "condition_occurrence_id,person_id,condition_concept_id,condition_start_date\n"
    "1,1,201826,2000-01-01\n2,2,201826,2013-01-01\n";
static const char kDrug[] =
    "drug_exposure_id,person_id,drug_concept_id,drug_exposure_start_date\n1,2,1503297,2013-02-01\n";
static const char kDeath[] = "person_id,death_date,cause_concept_id\n3,2015-01-01,\n";
static const char kCohort[] = "cohort_definition_id,subject_id,cohort_start_date\n"
                              "1,1,2010-01-01\n1,2,2012-01-01\n2,3,2011-01-01\n1,2,2011-06-01\n";
static const char kObservationTable[] =
    "observation_id,person_id,observation_concept_id,observation_date,value_as_concept_id,"
    "value_as_number,unit_concept_id\n1,1,43054909,2004-01-01 10:00:00,45879404,,\n"
    "2,2,43054909,2012-01-01,0,3.5,8554\n";
static const char kVisit[] = "visit_occurrence_id,person_id,visit_concept_id,visit_start_date\n"
                             "1,1,9201,2004-06-01\n2,3,9202,2010-12-31T23:59:59Z\n";
static const char kAncestor[] = "ancestor_concept_id,descendant_concept_id\n"
                                "201826,201826\n201826,443238\n3004410,3004410\n";
static const char kFixedSpec[] = "sluice_omop: 1\n"
                                 "index: observation_period_start\n"
                                 "features:\n"
                                 "  - {name: a, measurement: [3004410, 1], value: latest}\n"
                                 "  - {name: b, measurement: 3004410, value: earliest, to: 0}\n"
                                 "  - {name: c, measurement: 3004410, value: mean, unit: 8554}\n"
                                 "  - {name: d, measurement: 3004410, value: min, from: -30}\n"
                                 "  - {name: e, measurement: 3004410, value: max}\n"
                                 "  - {name: f, measurement: 3004410, value: count}\n"
                                 "  - {name: g, measurement: 3004410, value: days_to_first}\n"
                                 "  - {name: h, measurement: [3004410], from: -5, to: 5}\n";

static void put_table(const char *name, const char *text)
{
    char path[4200];
    fuzz_workdir_file(name, path, sizeof path);
    fuzz_put(path, text, strlen(text));
}

static void init(void)
{
    snprintf(g_dir, sizeof g_dir, "%s", fuzz_workdir());
    fuzz_workdir_file("measurement.csv", g_meas, sizeof g_meas);
    fuzz_workdir_file("cohort.h5", g_out, sizeof g_out);
    fuzz_workdir_file("spec.yaml", g_spec, sizeof g_spec);
    fuzz_workdir_file("fixed.yaml", g_fixed_spec, sizeof g_fixed_spec);
    put_table("person.csv", kPerson);
    put_table("observation_period.csv", kObservation);
    put_table("condition_occurrence.csv", kCondition);
    put_table("drug_exposure.csv", kDrug);
    put_table("death.csv", kDeath);
    put_table("cohort.csv", kCohort);
    put_table("concept_ancestor.csv", kAncestor);
    put_table("observation.csv", kObservationTable);
    put_table("visit_occurrence.csv", kVisit);
    fuzz_put(g_fixed_spec, kFixedSpec, sizeof kFixedSpec - 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_dir[0])
        init();
    if (size < 1)
        return 0;
    int tables = data[0] & 1;
    unlink(g_out);
    if (tables) {
        fuzz_put(g_meas, data + 1, size - 1);
    } else {
        fuzz_put(g_meas, kMeasurement, sizeof kMeasurement - 1);
        fuzz_put(g_spec, data + 1, size - 1);
    }

    struct sl_omop_stats stats;
    if (!fuzz_events_run(sl_omop_ingest, "OMOP ingest", g_dir, tables ? g_fixed_spec : g_spec,
                         g_out, &stats))
        return 0;
    /* 3 persons have an observation period, cohorts 1 and 2 hold 2 and 1; a
     * fixed index date keeps all 4 */
    if (stats.persons + stats.left_out != 4 || stats.persons < 1) {
        fprintf(stderr, "%lld persons + %lld left out\n", (long long)stats.persons,
                (long long)stats.left_out);
        abort();
    }
    fuzz_events_done(g_out, &stats);
    return 0;
}
