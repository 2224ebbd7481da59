/*
 * omop.h: turning OMOP CDM v5.4 tables into an encrypted person-level cohort.
 *
 * Centres that keep their data in the OMOP Common Data Model export it as one
 * CSV file per table, one row per clinical event. Analyses need one row per
 * patient, so ingest pivots the event tables into features, as an operator's
 * feature spec says, and seals the result like any other cohort. Nothing but
 * the sealed cohort is written: the pivot happens in secret memory.
 *
 * The folder holds <table>.csv (or <TABLE>.csv; .tsv for tab-separated
 * files) for each table the spec needs, with the CDM's column names in the header (any case, any order,
 * other columns ignored): person (always), observation_period or cohort
 * (for the index dates they give), concept_ancestor (for descendants),
 * measurement, observation,
 * condition_occurrence, drug_exposure, procedure_occurrence,
 * visit_occurrence, death.
 *
 * The feature spec (YAML):
 *
 *   sluice_omop: 1
 *   index: observation_period_start     # or first_visit, {cohort: 17}, or a date
 *   features:
 *     - name: sex
 *       person: gender                  # gender | age | year_of_birth | race | ethnicity
 *     - name: age
 *       person: age                     # whole years: index year - year_of_birth
 *       lower: 18                       # public bounds, as in a column schema
 *       upper: 100
 *     - name: hba1c
 *       measurement: [3004410, 3005673] # concept ids (measurement_concept_id)
 *       value: latest                   # latest | earliest | mean | min | max
 *                                       #   | latest_concept
 *       unit: 8554                      # unit_concept_id to keep (optional)
 *       from: -365                      # days relative to the index date,
 *       to: 0                           #   both ends included, each optional
 *     - name: diabetes
 *       condition: [201826, 443238]     # value: any (default) | count | days_to_first
 *       descendants: true               # and their descendants in concept_ancestor
 *       to: 0
 *     - name: died
 *       death: any                      # or a list of cause_concept_ids
 *       value: days_to_first
 *       from: 0
 *
 * Index date: `observation_period_start` is each person's earliest
 * observation_period_start_date; `first_visit` the earliest visit_start_date
 * of visit_occurrence.csv; `{cohort: ID}` is each person's earliest
 * cohort_start_date among the rows of cohort.csv (the results table that
 * cohort tools such as ATLAS fill) with cohort_definition_id ID, whose
 * subject_id is a person_id. Persons without an index date are left out
 * (counted in the stats). A date gives every person that index.
 *
 * Sources and what a feature holds (one row per person of person.csv, in its
 * order; events outside the window, of other concepts or, when `unit` is
 * given, of another unit_concept_id do not count):
 *   person: gender, race, ethnicity  categorical; labels are the concept ids
 *                                    as text (gender: 8507 M, 8532 F), or the
 *                                    feature's `labels` map {concept: label};
 *                                    concept 0 and unlabelled ids are missing
 *           age, year_of_birth       integer (age: the OHDSI convention)
 *   measurement, observation (value_as_number):
 *           latest, earliest         real: the value on the latest (earliest)
 *                                    date; on one date the row with the larger
 *                                    (smaller) <table>_id
 *           mean, min, max           real, over the rows with a value
 *           latest_concept           categorical: value_as_concept_id on the
 *                                    latest date (ties as for latest; 0 is no
 *                                    value), labelled like race, `labels` too
 *   any source but person:
 *           any                      categorical no | yes
 *           count                    integer: matching rows
 *           days_to_first            integer: days from the index date to the
 *                                    earliest matching row, missing if none
 * `descendants: true` adds every descendant_concept_id of the listed
 * concepts from concept_ancestor.csv (the OMOP vocabulary table) to the set;
 * `exclude: [ids]` takes concepts out again (with their descendants when
 * `descendants` is true), as cohort tools' concept sets do.
 * Value features ignore rows without a value and are missing when no row has
 * one. Without `unit`, all values a feature takes must share one
 * unit_concept_id (units are never mixed silently). Classes default to quasi
 * for person fields and sensitive for the rest; `class` overrides.
 *
 * Dates are YYYY-MM-DD, or a date with a time (YYYY-MM-DD HH:MM:SS, or ISO
 * 8601 with T, a fraction, and Z or an offset +HH:MM), which counts by
 * its date.
 *
 * The cohort's id column is person_id, pseudonymised like `sluice ingest`
 * does (HMAC of the id's canonical decimal text). Errors name the file, line
 * and column (spec and CSV alike) and never show a value: a repeated
 * person_id, a missing or malformed id or concept, and in the rows a feature
 * uses a person missing from person.csv or a missing or malformed date or
 * value; a missing table or column.
 */
#ifndef SL_IO_OMOP_H
#define SL_IO_OMOP_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/core/status.h"
#include "io/keys.h"

struct sl_omop_opts {
    const char *dir;            /* folder of OMOP tables as CSV (borrowed) */
    const char *spec;           /* feature spec YAML (borrowed) */
    const char *out;            /* cohort to create; must not exist (borrowed) */
    const struct sl_kek *kek;   /* centre key (secret, borrowed) */
    const char *project;        /* per-project pseudonyms, or NULL */
    int64_t chunk_rows;         /* rows per cohort chunk; <= 0: SL_DEFAULT_CHUNK_ROWS */
    bool progress;              /* log rows read every few seconds, and rows of
                                   other units left out per feature */
    bool check;                 /* only read the spec and the headers of the tables
                                   it needs; write nothing (out and kek may be NULL) */
};

struct sl_omop_stats {
    int64_t persons;            /* rows written */
    int64_t left_out;           /* persons without an index date */
    int ncols;                  /* columns written, person_id included */
    int64_t events;             /* rows read from the event tables */
    int tables;                 /* tables read (with check: whose headers were read) */
    double seconds;
    int64_t *present;           /* [ncols - 1] per feature, persons written with a value
                                   ('yes' for any): a feature that nobody has points at a
                                   wrong concept or unit; sl_malloc'd */
};

/* Frees what the stats own and zeroes them. */
void sl_omop_stats_clear(struct sl_omop_stats *stats);

/* Ingests o->dir into the encrypted cohort o->out. `stats` may be NULL; it is
 * written only on success (release it with sl_omop_stats_clear). SL_ERR_ARG for bad options, SL_ERR_EXISTS when the
 * output exists, SL_ERR_IO for a table that cannot be read, SL_ERR_FORMAT for
 * spec and table errors, and the cohort writer's codes; on any error nothing
 * is left behind. Not collective; call sl_process_harden() first. */
sl_status sl_omop_ingest(const struct sl_omop_opts *o, struct sl_omop_stats *stats);

/* The same for a FHIR Bulk Data export: o->dir holds NDJSON files of
 * Patient, Encounter, Observation, Condition, MedicationRequest and
 * Procedure resources, and o->spec is a `sluice_fhir: 1` spec whose codes are
 * system|code strings (docs/fhir.md). stats->tables counts resource types.
 * Not collective; call sl_process_harden() first. */
sl_status sl_fhir_ingest(const struct sl_omop_opts *o, struct sl_omop_stats *stats);

#endif
