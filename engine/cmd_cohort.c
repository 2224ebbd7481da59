/*
 * cmd_cohort.c: `sluice ingest` and `sluice inspect`, the operator's commands
 * for creating and examining encrypted cohorts.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cli.h"
#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "engine/run.h"
#include "io/cohort.h"
#include "io/ingest.h"
#include "io/omop.h"
#include "io/plink.h"
#include "io/inspect.h"
#include "io/keys.h"

static const char *ingest_usage =
    "usage: sluice ingest --key KEK --in EXPORT.csv --out COHORT.h5\n"
    "                     [--schema SCHEMA.yaml] [--project NAME] [--chunk-rows N] [--quiet]\n"
    "       sluice ingest --key KEK --omop DIR --features SPEC.yaml --out COHORT.h5\n"
    "                     [--project NAME] [--chunk-rows N] [--quiet]\n"
    "       sluice ingest --omop DIR --features SPEC.yaml --check\n"
    "       sluice ingest --key KEK --fhir DIR --features SPEC.yaml --out COHORT.h5\n"
    "                     [--project NAME] [--chunk-rows N] [--quiet]\n"
    "       sluice ingest --fhir DIR --features SPEC.yaml --check\n"
    "       sluice ingest --key KEK --plink PREFIX [--variants FILE] --out COHORT.h5\n"
    "                     [--genotypes dosage|calls|both] [--project NAME] [--chunk-rows N]\n"
    "       sluice ingest --plink PREFIX [--variants FILE] --check\n"
    "\n"
    "Encrypts a CSV export (header row; quoted fields; empty or NA = missing;\n"
    "UTF-8) into a cohort: one HDF5 dataset per column, every chunk sealed with\n"
    "AES-256-GCM under a fresh data key wrapped by KEK. Patient ids are replaced\n"
    "by keyed HMAC-SHA-256 pseudonyms (per project with --project).\n"
    "\n"
    "Without --schema the column types are inferred and written beside the\n"
    "output as COHORT.schema.yaml: review it (types, sensitivity classes,\n"
    "public bounds) and pass it back with --schema. On any error nothing is\n"
    "left behind.\n"
    "\n"
    "With --omop, DIR holds OMOP CDM v5.4 tables as CSV (person.csv, and\n"
    "observation_period or cohort, measurement, observation,\n"
    "condition_occurrence, drug_exposure, procedure_occurrence, visit_occurrence,\n"
    "death or concept_ancestor as the spec needs them). The feature spec turns\n"
    "each person's events into one row: person fields (gender, age,\n"
    "year_of_birth, race, ethnicity) and, per concept set and window of days\n"
    "around an index date, any | count | days_to_first, latest | earliest |\n"
    "mean | min | max of value_as_number, or latest_concept. Ingest ends with\n"
    "the persons who have each feature. --check reads only the spec and the\n"
    "headers of the tables it needs, in seconds however large the tables are,\n"
    "and writes nothing. See docs/omop.md.\n"
    "\n"
    "With --fhir, DIR holds a FHIR Bulk Data export as NDJSON (Patient.ndjson,\n"
    "and Encounter, Observation, Condition, MedicationRequest or Procedure\n"
    "files as the spec needs them; several files per type allowed). The spec\n"
    "(sluice_fhir: 1) is the same language with system|code codes and sources\n"
    "observation, condition, medication, procedure, encounter and death.\n"
    "See docs/fhir.md.\n"
    "\n"
    "With --plink, PREFIX.bed/.bim/.fam is a PLINK 1 binary fileset: one row\n"
    "per sample (pseudonym of the sample id), its sex and phenotype, and per\n"
    "variant of FILE (one id a line; all variants when at most 1000) the\n"
    "number of copies of allele 1 (dosage, for regressions), the call as a\n"
    "category A1/A1, A1/A2, A2/A2 (calls, for tables), or both (ID and ID_gt).\n"
    "See docs/plink.md.\n";

static int ingest_events(const struct sl_omop_opts *o, const char *keyfile, bool fhir)
{
    sl_status (*ingest)(const struct sl_omop_opts *, struct sl_omop_stats *) =
        fhir ? sl_fhir_ingest : sl_omop_ingest;
    struct sl_omop_opts oo = *o;
    struct sl_omop_stats stats = {0};
    struct sl_kek *kek = NULL;
    struct sl_cohort *c = NULL;
    sl_status st;

    if (oo.check) {
        st = ingest(&oo, &stats);
        if (st != SL_OK) {
            fprintf(stderr, "sluice ingest: %s\n", sl_error_message());
            return sl_exit_code(st);
        }
        if (fhir)
            printf("%s: %d features; the files of %d resource types in %s are there and "
                   "start with resources of their type; nothing was written\n",
                   oo.spec, stats.ncols - 1, stats.tables, oo.dir);
        else
            printf("%s: %d features; the headers of %d tables in %s have the columns they "
                   "need; nothing was written\n",
                   oo.spec, stats.ncols - 1, stats.tables, oo.dir);
        sl_omop_stats_clear(&stats);
        return 0;
    }
    st = sl_kek_load(keyfile, &kek);
    if (st == SL_OK) {
        oo.kek = kek;
        st = ingest(&oo, &stats);
    }
    sl_kek_destroy(&kek);
    if (st != SL_OK) {
        fprintf(stderr, "sluice ingest: %s\n", sl_error_message());
        fprintf(stderr, "sluice ingest: nothing was written\n");
        return sl_exit_code(st);
    }
    printf("ingested %lld persons x %d columns into %s from %lld events in %.1f s\n",
           (long long)stats.persons, stats.ncols, oo.out, (long long)stats.events,
           stats.seconds);
    if (stats.left_out > 0)
        printf("left out %lld persons without an index date\n",
               (long long)stats.left_out);
    if (sl_cohort_open(oo.out, &c) == SL_OK) {
        printf("persons with a value ('yes' for any):\n");
        for (int i = 1; i < stats.ncols; i++)
            printf("  %-24s %12lld%s\n", sl_cohort_col(c, i)->name,
                   (long long)stats.present[i - 1],
                   stats.present[i - 1] == 0
                       ? (fhir ? "   (none: check the codes and unit)"
                               : "   (none: check the concepts and unit)")
                       : "");
        sl_cohort_close(&c);
    }
    sl_omop_stats_clear(&stats);
    return 0;
}

static int ingest_plink(const struct sl_plink_opts *o, const char *keyfile)
{
    struct sl_plink_opts po = *o;
    struct sl_plink_stats stats = {0};
    struct sl_kek *kek = NULL;
    sl_status st = SL_OK;

    if (!po.check) {
        st = sl_kek_load(keyfile, &kek);
        po.kek = kek;
    }
    if (st == SL_OK)
        st = sl_plink_ingest(&po, &stats);
    sl_kek_destroy(&kek);
    if (st != SL_OK) {
        fprintf(stderr, "sluice ingest: %s\n", sl_error_message());
        if (!po.check)
            fprintf(stderr, "sluice ingest: nothing was written\n");
        return sl_exit_code(st);
    }
    if (po.check) {
        printf("%s: %lld samples, %d of %lld variants taken, a %s phenotype; the .bed has "
               "the size they imply; nothing was written\n",
               po.prefix, (long long)stats.samples, stats.variants,
               (long long)stats.variants_in_bim,
               stats.quantitative ? "quantitative" : "case/control");
        return 0;
    }
    printf("ingested %lld samples x %d columns (%d variants, a %s phenotype) into %s in %.1f s\n",
           (long long)stats.samples, stats.ncols, stats.variants,
           stats.quantitative ? "quantitative" : "case/control", po.out, stats.seconds);
    int64_t calls = stats.samples * stats.variants;
    printf("missing calls: %lld of %lld (%.2f%%)\n", (long long)stats.missing_calls,
           (long long)calls, calls > 0 ? 100.0 * (double)stats.missing_calls / (double)calls : 0.0);
    return 0;
}

int sl_cmd_ingest(int argc, char **argv)
{
    static const struct option longs[] = {{"key", required_argument, NULL, 'k'},
                                          {"in", required_argument, NULL, 'i'},
                                          {"out", required_argument, NULL, 'o'},
                                          {"schema", required_argument, NULL, 's'},
                                          {"project", required_argument, NULL, 'p'},
                                          {"chunk-rows", required_argument, NULL, 'c'},
                                          {"omop", required_argument, NULL, 'm'},
                                          {"fhir", required_argument, NULL, 'F'},
                                          {"plink", required_argument, NULL, 'P'},
                                          {"variants", required_argument, NULL, 'V'},
                                          {"genotypes", required_argument, NULL, 'G'},
                                          {"features", required_argument, NULL, 'f'},
                                          {"check", no_argument, NULL, 'K'},
                                          {"quiet", no_argument, NULL, 'q'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    struct sl_ingest_opts o = {0};
    struct sl_omop_opts om = {0};
    struct sl_ingest_stats stats = {0};
    const char *keyfile = NULL, *fhir = NULL, *plink = NULL, *variants = NULL,
               *genotypes = NULL;
    struct sl_kek *kek = NULL;
    char *schema_out = NULL, *end = NULL;
    sl_status st;
    int c;

    o.progress = true;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'k': keyfile = optarg; break;
        case 'i': o.in = optarg; break;
        case 'o': o.out = optarg; break;
        case 's': o.schema_path = optarg; break;
        case 'p': o.project = optarg; break;
        case 'm': om.dir = optarg; break;
        case 'F': fhir = optarg; break;
        case 'P': plink = optarg; break;
        case 'V': variants = optarg; break;
        case 'G': genotypes = optarg; break;
        case 'f': om.spec = optarg; break;
        case 'K': om.check = true; break;
        case 'q': o.progress = false; break;
        case 'c':
            o.chunk_rows = strtoll(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || o.chunk_rows < 1) {
                fprintf(stderr, "sluice ingest: --chunk-rows expects a positive integer\n");
                return 2;
            }
            break;
        case 'h': fputs(ingest_usage, stdout); return 0;
        default:
            fprintf(stderr, "sluice ingest: unknown or incomplete option '%s'\n%s",
                    argv[optind - 1], ingest_usage);
            return 2;
        }
    }
    if (plink || variants || genotypes) {
        struct sl_plink_opts po = {0};
        if (genotypes && strcmp(genotypes, "dosage") != 0 && strcmp(genotypes, "calls") != 0 &&
            strcmp(genotypes, "both") != 0) {
            fprintf(stderr, "sluice ingest: --genotypes expects dosage, calls or both\n");
            return 2;
        }
        po.genotypes = !genotypes || genotypes[0] == 'd' ? SL_PLINK_DOSAGE
                       : genotypes[0] == 'c'            ? SL_PLINK_CALLS
                                                        : SL_PLINK_BOTH;
        if (!plink || (!om.check && (!keyfile || !o.out)) || o.in || o.schema_path || om.dir ||
            fhir || om.spec || optind != argc) {
            fprintf(stderr, "sluice ingest: --plink needs --key and --out unless --check; "
                            "--variants and --genotypes go with --plink; it takes no --in, "
                            "--schema, --omop, --fhir or --features\n%s",
                    ingest_usage);
            return 2;
        }
        po.prefix = plink;
        po.variants = variants;
        po.out = o.out;
        po.project = o.project;
        po.chunk_rows = o.chunk_rows;
        po.check = om.check;
        if (sl_process_harden() != SL_OK)
            fprintf(stderr, "sluice ingest: warning: %s\n", sl_error_message());
        return ingest_plink(&po, keyfile);
    }
    if (om.dir || fhir || om.spec || om.check) {
        const char *opt = fhir ? "--fhir" : "--omop";
        if (om.dir && fhir) {
            fprintf(stderr, "sluice ingest: give --omop or --fhir, not both\n%s", ingest_usage);
            return 2;
        }
        if (fhir)
            om.dir = fhir;
        if (!om.dir || !om.spec || (!om.check && (!keyfile || !o.out)) || o.in ||
            o.schema_path || optind != argc) {
            fprintf(stderr, "sluice ingest: %s needs --features, and --key and --out unless "
                            "--check; it takes neither --in nor --schema\n%s",
                    opt, ingest_usage);
            return 2;
        }
        om.out = o.out;
        om.project = o.project;
        om.chunk_rows = o.chunk_rows;
        om.progress = o.progress;
        if (sl_process_harden() != SL_OK)
            fprintf(stderr, "sluice ingest: warning: %s\n", sl_error_message());
        return ingest_events(&om, keyfile, fhir != NULL);
    }
    if (!keyfile || !o.in || !o.out || optind != argc) {
        fprintf(stderr, "sluice ingest: --key, --in and --out are required\n%s", ingest_usage);
        return 2;
    }
    if (sl_process_harden() != SL_OK)
        fprintf(stderr, "sluice ingest: warning: %s\n", sl_error_message());
    st = sl_kek_load(keyfile, &kek);
    if (st == SL_OK) {
        o.kek = kek;
        st = sl_ingest(&o, &stats);
    }
    sl_kek_destroy(&kek);
    if (st != SL_OK) {
        fprintf(stderr, "sluice ingest: %s\n", sl_error_message());
        fprintf(stderr, "sluice ingest: nothing was written\n");
        return sl_exit_code(st);
    }
    printf("ingested %lld patients x %d columns into %s in %.1f s (%.0f rows/s)\n",
           (long long)stats.rows, stats.ncols, o.out, stats.seconds,
           stats.seconds > 0 ? (double)stats.rows / stats.seconds : 0.0);
    if (stats.schema_written && sl_ingest_schema_path(o.out, &schema_out) == SL_OK)
        printf("inferred schema written to %s: review it and pass it back with --schema\n",
               schema_out);
    sl_free(schema_out);
    return 0;
}

static const char *inspect_usage =
    "usage: sluice inspect COHORT.h5 [--key KEK]\n"
    "\n"
    "Prints what anyone may see without a key: format version, UUID, the key\n"
    "the data key is wrapped under, rows, chunk layout, and each column's name,\n"
    "type, sensitivity class and number of categories. With --key, also\n"
    "decrypts and authenticates every chunk and reports the first bad one\n"
    "(exit code 4).\n";

int sl_cmd_inspect(int argc, char **argv)
{
    static const struct option longs[] = {{"key", required_argument, NULL, 'k'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    const char *keyfile = NULL, *path;
    struct sl_cohort *cohort = NULL;
    struct sl_kek *kek = NULL;
    sl_status st;
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "hk:", longs, NULL)) != -1) {
        if (c == 'h') {
            fputs(inspect_usage, stdout);
            return 0;
        }
        if (c != 'k') {
            fprintf(stderr, "sluice inspect: unknown or incomplete option '%s'\n%s",
                    argv[optind - 1], inspect_usage);
            return 2;
        }
        keyfile = optarg;
    }
    if (optind != argc - 1) {
        fprintf(stderr, "sluice inspect: expected one cohort file\n%s", inspect_usage);
        return 2;
    }
    path = argv[optind];
    if (keyfile && sl_process_harden() != SL_OK)
        fprintf(stderr, "sluice inspect: warning: %s\n", sl_error_message());
    st = sl_cohort_open(path, &cohort);
    if (st == SL_OK)
        st = sl_cohort_print_info(cohort, stdout);
    if (st == SL_OK && keyfile) {
        st = sl_kek_load(keyfile, &kek);
        if (st == SL_OK)
            st = sl_cohort_unlock(cohort, kek);
        if (st == SL_OK)
            st = sl_cohort_verify(cohort);
        if (st == SL_OK)
            printf("verified: all %lld chunks of %d columns authenticate under this key\n",
                   (long long)sl_cohort_nchunks(cohort), sl_cohort_ncols(cohort));
    }
    sl_kek_destroy(&kek);
    sl_cohort_close(&cohort);
    if (st != SL_OK) {
        fprintf(stderr, "sluice inspect: %s\n", sl_error_message());
        return sl_exit_code(st);
    }
    return 0;
}
