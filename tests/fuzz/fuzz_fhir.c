/*
 * fuzz_fhir.c: fuzz target for FHIR Bulk Data ingest (io/fhir.c, io/json.c,
 * io/pivot.c): the NDJSON reader, the in-place JSON tokenizer, references,
 * codings, dates and values, and the FHIR dialect of the feature spec.
 *
 * The first byte picks what the rest is: 0 mod 6, Observation.ndjson (gzip
 * when it starts with gzip's magic bytes); 1,
 * Patient.ndjson; 2, the feature spec; 3, the export's manifest.json (the
 * folder then also holds the fixed files under other names); 4,
 * Medication.ndjson; 5, MedicationRequest.ndjson (medications by code, by
 * reference and contained); the other files are fixed (3 patients,
 * encounters for 2 of them, conditions, medications, vaccines). A failed ingest leaves
 * no cohort behind. A cohort that was written must open, unlock, verify, hold
 * one row per patient with an index date and the columns the stats report,
 * and no feature may have a value for more patients than were written.
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

static char g_dir[4200], g_out[4200], g_spec[4200], g_fixed_spec[4200], g_med_spec[4200],
    g_manifest[4200];

static const char kPatient[] =
    "{\"resourceType\":\"Patient\",\"id\":\"a\",\"gender\":\"female\",\"birthDate\":\"1950\","
    "\"extension\":[{\"url\":\"http://hl7.org/fhir/us/core/StructureDefinition/us-core-race\","
    "\"extension\":[{\"url\":\"ombCategory\",\"valueCoding\":{\"system\":"
    "\"urn:oid:2.16.840.1.113883.6.238\",\"code\":\"2106-3\"}}]}]}\n"
    "{\"resourceType\":\"Patient\",\"id\":\"b\",\"gender\":\"male\",\"birthDate\":\"1980-02-03\","
    "\"deceasedDateTime\":\"2015-01-01T00:00:00+02:00\"}\n"
    "{\"resourceType\":\"Patient\",\"id\":\"c\"}\n";
static const char kObservation[] =
    "{\"resourceType\":\"Observation\",\"code\":{\"coding\":[{\"system\":\"http://loinc.org\","
    "\"code\":\"4548-4\"}]},\"subject\":{\"reference\":\"Patient/a\"},\"effectiveDateTime\":"
    "\"2009-05-01\",\"valueQuantity\":{\"value\":6.5,\"code\":\"%\"}}\n"
    "{\"resourceType\":\"Observation\",\"code\":{\"coding\":[{\"system\":\"http://loinc.org\","
    "\"code\":\"72166-2\"}]},\"subject\":{\"reference\":\"Patient/b\"},\"effectivePeriod\":"
    "{\"start\":\"2012-01-01\"},\"valueCodeableConcept\":{\"coding\":[{\"system\":\"sct\","
    "\"code\":\"8517006\"}]}}\n";
static const char kEncounter[] =
    "{\"resourceType\":\"Encounter\",\"class\":{\"system\":\"act\",\"code\":\"IMP\"},"
    "\"subject\":{\"reference\":\"Patient/a\"},\"period\":{\"start\":\"2010-01-01\"}}\n"
    "{\"resourceType\":\"Encounter\",\"class\":[{\"coding\":[{\"system\":\"act\",\"code\":"
    "\"AMB\"}]}],\"subject\":{\"reference\":\"urn:uuid:b\"},\"actualPeriod\":{\"start\":"
    "\"2012-06-01T10:00:00Z\"}}\n";
static const char kCondition[] =
    "{\"resourceType\":\"Condition\",\"code\":{\"coding\":[{\"system\":\"sct\",\"code\":"
    "\"44054006\"}]},\"subject\":{\"reference\":\"Patient/a\"},\"onsetDateTime\":\"2000-01-01\"}"
    "\n";
static const char kMedication[] =
    "{\"resourceType\":\"Medication\",\"id\":\"m1\",\"code\":{\"coding\":[{\"system\":"
    "\"rx\",\"code\":\"1\"}]}}\n"
    "{\"resourceType\":\"Medication\",\"id\":\"m2\"}\n";
static const char kMedicationRequest[] =
    "{\"resourceType\":\"MedicationRequest\",\"medicationReference\":{\"reference\":"
    "\"Medication/m1\"},\"subject\":{\"reference\":\"Patient/a\"},\"authoredOn\":"
    "\"2009-01-01\"}\n"
    "{\"resourceType\":\"MedicationRequest\",\"contained\":[{\"resourceType\":"
    "\"Medication\",\"id\":\"c\",\"code\":{\"coding\":[{\"system\":\"rx\",\"code\":"
    "\"1\"}]}}],\"medication\":{\"reference\":{\"reference\":\"#c\"}},\"subject\":"
    "{\"reference\":\"Patient/b\"},\"authoredOn\":\"2012-01-01\"}\n"
    "{\"resourceType\":\"MedicationRequest\",\"medicationCodeableConcept\":{\"coding\":"
    "[{\"system\":\"rx\",\"code\":\"1\"}]},\"subject\":{\"reference\":\"Patient/b\"},"
    "\"authoredOn\":\"2012-02-01\"}\n";
static const char kImmunization[] =
    "{\"resourceType\":\"Immunization\",\"status\":\"completed\",\"vaccineCode\":{\"coding\":"
    "[{\"system\":\"cvx\",\"code\":\"140\"}]},\"patient\":{\"reference\":\"Patient/a\"},"
    "\"occurrenceDateTime\":\"2009-10-01\"}\n"
    "{\"resourceType\":\"Immunization\",\"status\":\"not-done\",\"vaccineCode\":{\"coding\":"
    "[{\"system\":\"cvx\",\"code\":\"140\"}]},\"patient\":{\"reference\":\"Patient/b\"},"
    "\"occurrenceString\":\"autumn\"}\n";
static const char kFixedSpec[] =
    "sluice_fhir: 1\n"
    "index: first_encounter\n"
    "features:\n"
    "  - {name: sex, person: gender}\n"
    "  - {name: age, person: age}\n"
    "  - {name: race, person: race}\n"
    "  - {name: a, observation: [http://loinc.org|4548-4], value: latest, unit: \"%\"}\n"
    "  - {name: b, system: http://loinc.org, observation: [4548-4], value: earliest, to: 0}\n"
    "  - {name: c, observation: [http://loinc.org|4548-4], value: mean}\n"
    "  - {name: d, observation: [http://loinc.org|4548-4], value: count, from: -30}\n"
    "  - {name: e, observation: [http://loinc.org|72166-2], value: latest_concept}\n"
    "  - {name: f, condition: [sct|44054006], value: days_to_first}\n"
    "  - {name: g, encounter: [act|IMP, act|AMB], value: count}\n"
    "  - {name: h, death: any}\n";
/* modes 4 and 5: the fixed spec and a medication feature (a vaccine too) */
static const char kMedicationFeature[] =
    "  - {name: i, medication: [rx|1, cvx|140], value: days_to_first}\n";

static void put_file(const char *name, const void *data, size_t n)
{
    char path[4200];
    fuzz_workdir_file(name, path, sizeof path);
    fuzz_put(path, data, n);
}

static void init(void)
{
    snprintf(g_dir, sizeof g_dir, "%s", fuzz_workdir());
    fuzz_workdir_file("cohort.h5", g_out, sizeof g_out);
    fuzz_workdir_file("spec.yaml", g_spec, sizeof g_spec);
    fuzz_workdir_file("fixed.yaml", g_fixed_spec, sizeof g_fixed_spec);
    fuzz_workdir_file("manifest.json", g_manifest, sizeof g_manifest);
    put_file("Encounter.ndjson", kEncounter, sizeof kEncounter - 1);
    put_file("Condition.ndjson", kCondition, sizeof kCondition - 1);
    put_file("enc_1.ndjson", kEncounter, sizeof kEncounter - 1);
    put_file("cond_1.ndjson", kCondition, sizeof kCondition - 1);
    put_file("pat_1.ndjson", kPatient, sizeof kPatient - 1);
    put_file("obs_1.ndjson", kObservation, sizeof kObservation - 1);
    put_file("Immunization.ndjson", kImmunization, sizeof kImmunization - 1);
    fuzz_put(g_fixed_spec, kFixedSpec, sizeof kFixedSpec - 1);
    {
        char spec[sizeof kFixedSpec + sizeof kMedicationFeature];
        snprintf(spec, sizeof spec, "%s%s", kFixedSpec, kMedicationFeature);
        fuzz_workdir_file("med.yaml", g_med_spec, sizeof g_med_spec);
        fuzz_put(g_med_spec, spec, strlen(spec));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_dir[0])
        init();
    if (size < 1)
        return 0;
    int what = data[0] % 6;
    unlink(g_out);
    unlink(g_manifest);
    if (what == 3)
        fuzz_put(g_manifest, data + 1, size - 1);
    put_file("Observation.ndjson", what == 0 ? (const void *)(data + 1) : kObservation,
             what == 0 ? size - 1 : sizeof kObservation - 1);
    put_file("Patient.ndjson", what == 1 ? (const void *)(data + 1) : kPatient,
             what == 1 ? size - 1 : sizeof kPatient - 1);
    put_file("Medication.ndjson", what == 4 ? (const void *)(data + 1) : kMedication,
             what == 4 ? size - 1 : sizeof kMedication - 1);
    put_file("MedicationRequest.ndjson", what == 5 ? (const void *)(data + 1) : kMedicationRequest,
             what == 5 ? size - 1 : sizeof kMedicationRequest - 1);
    if (what == 2)
        fuzz_put(g_spec, data + 1, size - 1);

    struct sl_omop_stats stats;
    if (!fuzz_events_run(sl_fhir_ingest, "FHIR ingest", g_dir,
                         what == 2 ? g_spec : what >= 4 ? g_med_spec : g_fixed_spec, g_out,
                         &stats))
        return 0;
    /* with the fixed patients, 2 have an encounter (a fixed index keeps all 3);
     * a manifest may list the patients' file more than once */
    if ((what != 1 && what != 3 && (stats.persons + stats.left_out != 3 || stats.persons < 2)) ||
        stats.persons < 1) {
        fprintf(stderr, "%lld persons + %lld left out\n", (long long)stats.persons,
                (long long)stats.left_out);
        abort();
    }
    fuzz_events_done(g_out, &stats);
    return 0;
}
