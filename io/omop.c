/*
 * omop.c: OMOP CDM tables -> person-level encrypted cohort (omop.h).
 *
 * The spec is read first, so every mistake in it is reported before a table
 * is opened. person.csv is read into secret memory (ids, and the fields the
 * spec asks for) with an open-addressing table from person_id to row; then
 * the index dates; then each event table the spec needs, once, streaming:
 * a row's concept is looked up among the (concept, feature) pairs of that
 * table, and only a matching row's person, date, unit and value are parsed
 * and folded into the feature's per-person state (secret memory). Last, the
 * rows are converted batch by batch and handed to the cohort writer.
 */
#include "io/omop.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "engine/core/alloc.h"
#include "engine/core/log.h"
#include "engine/core/secbuf.h"
#include "io/cohort.h"
#include "io/cohort_impl.h"
#include "io/csv.h"
#include "io/format.h"
#include "io/hash_impl.h"
#include "io/pseudonym_impl.h"
#include "io/schema.h"
#include "io/yaml_impl.h"

#define OMOP_PROGRESS_SECONDS 2.0
#define OMOP_SPEC_MAX_BYTES (4 << 20)
#define OMOP_MAX_CONCEPTS 100000
#define OMOP_MAX_EXPANDED 10000000

enum source { SRC_PERSON, SRC_MEASUREMENT, SRC_OBSERVATION, SRC_CONDITION, SRC_DRUG,
              SRC_PROCEDURE, SRC_VISIT, SRC_DEATH, NSRC };
enum agg { AGG_ANY, AGG_COUNT, AGG_DAYS_TO_FIRST, AGG_LATEST, AGG_EARLIEST, AGG_MEAN, AGG_MIN,
           AGG_MAX, AGG_LATEST_CONCEPT, NAGG };

/* value_as_number features, and those that keep the latest or earliest row. */
static int numeric_value(enum agg a) { return a >= AGG_LATEST && a <= AGG_MAX; }
static int keeps_row(enum agg a)
{
    return a == AGG_LATEST || a == AGG_EARLIEST || a == AGG_LATEST_CONCEPT;
}
enum pfield { PF_GENDER, PF_AGE, PF_YOB, PF_RACE, PF_ETHNICITY, NPF };

/* What each source is called in the spec, and its table's columns. */
struct table_desc {
    const char *key;        /* spec key */
    const char *table;      /* file name without .csv */
    const char *row_id;     /* primary key, or NULL */
    const char *concept;    /* concept column */
    int concept_nullable;
    const char *date;       /* event date */
    const char *value;      /* value_as_number, or NULL */
    const char *unit;       /* unit_concept_id, or NULL */
    const char *value_concept; /* value_as_concept_id, or NULL */
};

static const struct table_desc tables[NSRC] = {
    [SRC_PERSON] = {.key = "person", .table = "person"},
    [SRC_MEASUREMENT] = {.key = "measurement", .table = "measurement",
                         .row_id = "measurement_id", .concept = "measurement_concept_id",
                         .date = "measurement_date", .value = "value_as_number",
                         .unit = "unit_concept_id", .value_concept = "value_as_concept_id"},
    [SRC_OBSERVATION] = {.key = "observation", .table = "observation",
                         .row_id = "observation_id", .concept = "observation_concept_id",
                         .date = "observation_date", .value = "value_as_number",
                         .unit = "unit_concept_id", .value_concept = "value_as_concept_id"},
    [SRC_CONDITION] = {.key = "condition", .table = "condition_occurrence",
                       .row_id = "condition_occurrence_id", .concept = "condition_concept_id",
                       .date = "condition_start_date"},
    [SRC_DRUG] = {.key = "drug", .table = "drug_exposure", .row_id = "drug_exposure_id",
                  .concept = "drug_concept_id", .date = "drug_exposure_start_date"},
    [SRC_PROCEDURE] = {.key = "procedure", .table = "procedure_occurrence",
                       .row_id = "procedure_occurrence_id", .concept = "procedure_concept_id",
                       .date = "procedure_date"},
    [SRC_VISIT] = {.key = "visit", .table = "visit_occurrence", .row_id = "visit_occurrence_id",
                   .concept = "visit_concept_id", .date = "visit_start_date"},
    [SRC_DEATH] = {.key = "death", .table = "death", .concept = "cause_concept_id",
                   .concept_nullable = 1, .date = "death_date"},
};

static const char *const agg_names[NAGG] = {"any",  "count", "days_to_first", "latest", "earliest",
                                            "mean", "min",   "max",           "latest_concept"};
static const char *const pf_names[NPF] = {"gender", "age", "year_of_birth", "race", "ethnicity"};
static const char *const pf_columns[NPF] = {"gender_concept_id", "year_of_birth",
                                            "year_of_birth", "race_concept_id",
                                            "ethnicity_concept_id"};

struct label {
    int64_t concept;
    int32_t code;           /* index into the feature's levels */
};

struct feature {
    char *name;
    int line, col;          /* of the name in the spec */
    enum source src;
    enum pfield field;      /* person features */
    enum agg agg;           /* event features */
    int64_t *concepts;      /* sorted; NULL with all_concepts */
    int nconcepts;
    int all_concepts;       /* death: any */
    int descendants;        /* add the concepts' descendants (concept_ancestor) */
    int64_t *excl;          /* concepts to leave out (with their descendants); sorted */
    int nexcl;
    int has_unit, has_from, has_to;
    int64_t unit, from, to;
    double lower, upper;
    enum sl_colclass cls;
    struct label *labels;   /* person categorical features with `labels` */
    int nlabels;
    char **levels;          /* categorical output labels */
    int32_t nlevels;
    /* per-person state (secret) */
    struct sl_secbuf *n, *val, *cv, *date, *tie; /* cv: latest value_as_concept_id */
    int unit_known;         /* without `unit`: the unit of the first value */
    int64_t unit_seen, unit_line;
    int64_t other_unit;     /* rows left out for another unit */
    int64_t present;        /* persons written with a value ('yes' for any) */
};

struct omop {
    const struct sl_omop_opts *o;
    struct feature *f;
    int nf;
    enum { INDEX_DATE, INDEX_OBSERVATION, INDEX_COHORT } index_kind;
    int32_t index_date;     /* INDEX_DATE */
    int64_t cohort_id;      /* INDEX_COHORT: cohort_definition_id */
    int need_pf[NPF];
    int need_ancestors;     /* some feature asks for descendants */
    int need_src[NSRC];
    int64_t np;             /* persons */
    struct sl_secbuf *pid;  /* int64 [np] clear person ids (secret) */
    int64_t *pline;         /* [np] line of each person in person.csv */
    struct sl_secbuf *slots;/* struct slot [nslots], open addressing (secret) */
    size_t nslots;
    struct sl_secbuf *pf[NPF]; /* int64 [np] person fields the spec needs */
    struct sl_secbuf *index;/* int32 [np] index date, SL_DATE_MISSING if none */
    int64_t last_id, last_row;  /* the person found last (secret), row -1 if none */
    struct sl_pseudonymizer *pn;
    double t0, last_progress;
    int64_t events;
    int tables;             /* tables opened */
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the spec ---- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static sl_status read_int(const char *path, struct fy_node *v, const char *what, int64_t *out)
{
    sl_status st = SL_OK;
    const char *t = sl_io_yaml_scalar(v);
    if (!t || sl_parse_int(t, strlen(t), out) != 0)
        SL_IO_YAML_FAIL(path, v, "expected an integer for %s", what);
cleanup:
    return st;
}

/* Reads a concept id or a list of them (sorted, no repeats) into *ids. */
static sl_status read_id_list(const char *path, struct fy_node *v, const char *key,
                              const struct feature *f, int64_t **ids, int *n)
{
    sl_status st = SL_OK;

    if (fy_node_is_scalar(v)) {
        *ids = sl_malloc(sizeof **ids);
        SL_CHECK(*ids, SL_ERR_NOMEM, "out of memory");
        *n = 1;
        SL_CALL(read_int(path, v, "a concept id", &(*ids)[0]));
    } else if (fy_node_is_sequence(v)) {
        int count = fy_node_sequence_item_count(v);
        void *it = NULL;
        struct fy_node *item;
        if (count < 1 || count > OMOP_MAX_CONCEPTS)
            SL_IO_YAML_FAIL(path, v, "expected 1 to %d concept ids for '%s' of feature '%s'",
                            OMOP_MAX_CONCEPTS, key, f->name);
        *ids = sl_malloc((size_t)count * sizeof **ids);
        SL_CHECK(*ids, SL_ERR_NOMEM, "out of memory");
        while ((item = fy_node_sequence_iterate(v, &it)) != NULL)
            SL_CALL(read_int(path, item, "a concept id", &(*ids)[(*n)++]));
        qsort(*ids, (size_t)count, sizeof **ids, cmp_i64);
        for (int i = 1; i < count; i++)
            if ((*ids)[i] == (*ids)[i - 1])
                SL_IO_YAML_FAIL(path, v, "concept %lld is listed twice for feature '%s'",
                                (long long)(*ids)[i], f->name);
    } else {
        SL_IO_YAML_FAIL(path, v, "expected a concept id or a list of them for '%s'%s", key,
                        f->src == SRC_DEATH && strcmp(key, "death") == 0 ? ", or any" : "");
    }
cleanup:
    return st;
}

static sl_status read_concepts(const char *path, struct fy_node *v, struct feature *f)
{
    if (f->src == SRC_DEATH && fy_node_is_scalar(v)) {
        const char *t = sl_io_yaml_scalar(v);
        if (t && strcmp(t, "any") == 0) {
            f->all_concepts = 1;
            return SL_OK;
        }
    }
    return read_id_list(path, v, tables[f->src].key, f, &f->concepts, &f->nconcepts);
}

/* Adds `label` to the feature's levels if new; its code in *code. */
static sl_status add_level(struct feature *f, const char *label, int32_t *code)
{
    sl_status st = SL_OK;
    for (int32_t i = 0; i < f->nlevels; i++)
        if (strcmp(f->levels[i], label) == 0) {
            *code = i;
            goto cleanup;
        }
    char **lv = sl_realloc(f->levels, (size_t)(f->nlevels + 1) * sizeof *lv);
    SL_CHECK(lv, SL_ERR_NOMEM, "out of memory");
    f->levels = lv;
    f->levels[f->nlevels] = sl_strdup(label);
    SL_CHECK(f->levels[f->nlevels], SL_ERR_NOMEM, "out of memory");
    *code = f->nlevels++;
cleanup:
    return st;
}

static sl_status read_labels(const char *path, struct fy_node *v, struct feature *f)
{
    sl_status st = SL_OK;
    void *it = NULL;
    struct fy_node_pair *p;

    if (!fy_node_is_mapping(v) || fy_node_mapping_item_count(v) < 1)
        SL_IO_YAML_FAIL(path, v, "expected 'labels' of feature '%s' to map concept ids to labels",
                        f->name);
    f->labels = sl_calloc((size_t)fy_node_mapping_item_count(v), sizeof *f->labels);
    SL_CHECK(f->labels, SL_ERR_NOMEM, "out of memory");
    while ((p = fy_node_mapping_iterate(v, &it)) != NULL) {
        struct label *l = &f->labels[f->nlabels];
        const char *t = sl_io_yaml_scalar(fy_node_pair_value(p));
        SL_CALL(read_int(path, fy_node_pair_key(p), "a concept id in 'labels'", &l->concept));
        for (int i = 0; i < f->nlabels; i++)
            if (f->labels[i].concept == l->concept)
                SL_IO_YAML_FAIL(path, fy_node_pair_key(p),
                                "concept %lld is labelled twice for feature '%s'",
                                (long long)l->concept, f->name);
        if (!t)
            SL_IO_YAML_FAIL(path, fy_node_pair_value(p) ? fy_node_pair_value(p)
                                                        : fy_node_pair_key(p),
                            "expected a non-empty label for concept %lld of feature '%s'",
                            (long long)l->concept, f->name);
        SL_CALL(add_level(f, t, &l->code));
        f->nlabels++;
    }
cleanup:
    return st;
}

static sl_status read_feature(struct omop *g, const char *path, struct fy_node *m, int i)
{
    static const char *const allowed[] = {"name",  "person", "measurement", "observation",
                                          "condition", "drug", "procedure", "visit", "death",
                                          "value", "unit", "from", "to", "lower", "upper",
                                          "class", "labels", "descendants", "exclude", NULL};
    sl_status st = SL_OK;
    struct feature *f = &g->f[i];
    struct fy_node *name_n, *src_n = NULL, *n;
    char ctx[48];
    const char *t;

    f->lower = f->upper = NAN;
    if (!fy_node_is_mapping(m))
        SL_IO_YAML_FAIL(path, m, "expected feature %d to be a mapping with a name and a source",
                        i + 1);
    snprintf(ctx, sizeof ctx, " in feature %d", i + 1);
    SL_CALL(sl_io_yaml_known_keys(path, m, allowed, ctx));
    name_n = fy_node_mapping_lookup_by_string(m, "name", FY_NT);
    t = sl_io_yaml_scalar(name_n);
    if (!t)
        SL_IO_YAML_FAIL(path, name_n ? name_n : m, "expected a non-empty 'name' for feature %d",
                        i + 1);
    if (!sl_colname_valid(t) || strcmp(t, "person_id") == 0)
        SL_IO_YAML_FAIL(path, name_n,
                        "feature %d: expected a cohort column name (1 to %d bytes without '/' "
                        "or control characters) other than person_id",
                        i + 1, SL_COL_NAME_MAX);
    f->name = sl_strdup(t);
    SL_CHECK(f->name, SL_ERR_NOMEM, "out of memory");
    {
        struct sl_io_yaml_where w = sl_io_yaml_where(name_n);
        f->line = w.line;
        f->col = w.col;
    }
    for (int j = 0; j < i; j++)
        if (strcmp(g->f[j].name, f->name) == 0)
            SL_IO_YAML_FAIL(path, name_n, "feature name '%s' repeats feature %d", f->name, j + 1);
    for (int s = 0; s < NSRC; s++) {
        n = fy_node_mapping_lookup_by_string(m, tables[s].key, FY_NT);
        if (!n)
            continue;
        if (src_n)
            SL_IO_YAML_FAIL(path, n, "feature '%s' names two sources ('%s' and '%s'), expected one",
                            f->name, tables[f->src].key, tables[s].key);
        src_n = n;
        f->src = (enum source)s;
    }
    if (!src_n)
        SL_IO_YAML_FAIL(path, m,
                        "feature '%s' has no source, expected one of person, measurement, "
                        "observation, condition, drug, procedure, visit, death",
                        f->name);

    if (f->src == SRC_PERSON) {
        static const char *const no_keys[] = {"value", "unit", "from", "to", "descendants",
                                              "exclude"};
        t = sl_io_yaml_scalar(src_n);
        f->field = NPF;
        for (int k = 0; t && k < NPF; k++)
            if (strcmp(t, pf_names[k]) == 0)
                f->field = (enum pfield)k;
        if (f->field == NPF)
            SL_IO_YAML_FAIL(path, src_n,
                            "expected 'person' of feature '%s' to be gender, age, year_of_birth, "
                            "race or ethnicity",
                            f->name);
        for (size_t k = 0; k < sizeof no_keys / sizeof *no_keys; k++)
            if ((n = fy_node_mapping_lookup_by_string(m, no_keys[k], FY_NT)) != NULL)
                SL_IO_YAML_FAIL(path, n, "'%s' applies to event features, not to person field '%s'",
                                no_keys[k], pf_names[f->field]);
        g->need_pf[f->field] = 1;
        f->cls = SL_CLASS_QUASI;
    } else {
        SL_CALL(read_concepts(path, src_n, f));
        if ((n = fy_node_mapping_lookup_by_string(m, "descendants", FY_NT)) != NULL) {
            t = sl_io_yaml_scalar(n);
            if (!t || (strcmp(t, "true") != 0 && strcmp(t, "false") != 0))
                SL_IO_YAML_FAIL(path, n, "expected 'descendants' of feature '%s' to be true or "
                                         "false",
                                f->name);
            if (f->all_concepts && t[0] == 't')
                SL_IO_YAML_FAIL(path, n, "'descendants' needs a list of concepts, not any");
            f->descendants = t[0] == 't';
            g->need_ancestors |= f->descendants;
        }
        if ((n = fy_node_mapping_lookup_by_string(m, "exclude", FY_NT)) != NULL) {
            if (f->all_concepts)
                SL_IO_YAML_FAIL(path, n, "'exclude' needs a list of concepts, not any");
            SL_CALL(read_id_list(path, n, "exclude", f, &f->excl, &f->nexcl));
        }
        f->agg = AGG_ANY;
        if ((n = fy_node_mapping_lookup_by_string(m, "value", FY_NT)) != NULL) {
            t = sl_io_yaml_scalar(n);
            f->agg = NAGG;
            for (int k = 0; t && k < NAGG; k++)
                if (strcmp(t, agg_names[k]) == 0)
                    f->agg = (enum agg)k;
            if (f->agg == NAGG)
                SL_IO_YAML_FAIL(path, n,
                                "expected 'value' of feature '%s' to be any, count, "
                                "days_to_first, latest, earliest, mean, min, max or "
                                "latest_concept",
                                f->name);
            if (f->agg >= AGG_LATEST && !tables[f->src].value)
                SL_IO_YAML_FAIL(path, n,
                                "'%s' needs values; only measurement and observation features "
                                "have them (expected any, count or days_to_first)",
                                t);
        }
        if ((n = fy_node_mapping_lookup_by_string(m, "unit", FY_NT)) != NULL) {
            if (!tables[f->src].unit)
                SL_IO_YAML_FAIL(path, n, "'unit' applies to measurement and observation features");
            if (f->agg == AGG_LATEST_CONCEPT)
                SL_IO_YAML_FAIL(path, n, "'unit' applies to numbers, not to latest_concept");
            SL_CALL(read_int(path, n, "'unit' (a unit_concept_id)", &f->unit));
            f->has_unit = 1;
        }
        if ((n = fy_node_mapping_lookup_by_string(m, "from", FY_NT)) != NULL) {
            SL_CALL(read_int(path, n, "'from' (days relative to the index date)", &f->from));
            f->has_from = 1;
        }
        if ((n = fy_node_mapping_lookup_by_string(m, "to", FY_NT)) != NULL) {
            SL_CALL(read_int(path, n, "'to' (days relative to the index date)", &f->to));
            f->has_to = 1;
            if (f->has_from && f->from > f->to)
                SL_IO_YAML_FAIL(path, n, "'from' of feature '%s' is after its 'to'", f->name);
        }
        g->need_src[f->src] = 1;
        f->cls = SL_CLASS_SENSITIVE;
    }

    {
        int concepts = (f->src == SRC_PERSON && f->field != PF_AGE && f->field != PF_YOB) ||
                       (f->src != SRC_PERSON && f->agg == AGG_LATEST_CONCEPT);
        int categorical = concepts || (f->src != SRC_PERSON && f->agg == AGG_ANY);
        n = fy_node_mapping_lookup_by_string(m, "labels", FY_NT);
        if (n && !concepts)
            SL_IO_YAML_FAIL(path, n, "'labels' applies to gender, race, ethnicity and "
                                     "latest_concept features");
        if (n)
            SL_CALL(read_labels(path, n, f));
        if (categorical) {
            static const char *const bound_keys[] = {"lower", "upper"};
            for (int k = 0; k < 2; k++)
                if ((n = fy_node_mapping_lookup_by_string(m, bound_keys[k], FY_NT)) != NULL)
                    SL_IO_YAML_FAIL(path, n, "feature '%s' is categorical; '%s' applies to numbers",
                                    f->name, bound_keys[k]);
        } else {
            struct fy_node *lo = fy_node_mapping_lookup_by_string(m, "lower", FY_NT);
            struct fy_node *up = fy_node_mapping_lookup_by_string(m, "upper", FY_NT);
            if (lo && ((t = sl_io_yaml_scalar(lo)) == NULL ||
                       sl_parse_real(t, strlen(t), &f->lower) != 0))
                SL_IO_YAML_FAIL(path, lo, "expected a number for 'lower' of feature '%s'", f->name);
            if (up && ((t = sl_io_yaml_scalar(up)) == NULL ||
                       sl_parse_real(t, strlen(t), &f->upper) != 0))
                SL_IO_YAML_FAIL(path, up, "expected a number for 'upper' of feature '%s'", f->name);
            if (lo && up && f->lower > f->upper)
                SL_IO_YAML_FAIL(path, lo, "'lower' of feature '%s' is above its 'upper'", f->name);
        }
    }
    if ((n = fy_node_mapping_lookup_by_string(m, "class", FY_NT)) != NULL) {
        t = sl_io_yaml_scalar(n);
        enum sl_colclass c = t ? sl_colclass_parse(t) : 0;
        if (!c || c == SL_CLASS_IDENTIFIER)
            SL_IO_YAML_FAIL(path, n, "expected 'class' of feature '%s' to be quasi, sensitive or "
                                     "other",
                            f->name);
        f->cls = c;
    }
cleanup:
    return st;
}

static sl_status read_spec(struct omop *g)
{
    static const char *const top[] = {"sluice_omop", "index", "features", NULL};
    sl_status st = SL_OK;
    const char *path = g->o->spec;
    struct sl_io_yaml_file yf;
    struct fy_node *root, *n, *feats;
    const char *t;

    SL_CALL(sl_io_yaml_open(path, OMOP_SPEC_MAX_BYTES, "feature spec",
                            "keys sluice_omop, index and features", &yf));
    root = fy_document_root(yf.doc);
    SL_CALL(sl_io_yaml_known_keys(path, root, top, ""));
    n = fy_node_mapping_lookup_by_string(root, "sluice_omop", FY_NT);
    if (!n || (t = sl_io_yaml_scalar(n)) == NULL || strcmp(t, "1") != 0)
        SL_IO_YAML_FAIL(path, n ? n : root, "expected sluice_omop: 1 (the only spec version)");
    n = fy_node_mapping_lookup_by_string(root, "index", FY_NT);
    t = sl_io_yaml_scalar(n);
    if (n && fy_node_is_mapping(n)) {
        static const char *const index_keys[] = {"cohort", NULL};
        SL_CALL(sl_io_yaml_known_keys(path, n, index_keys, " in 'index'"));
        SL_CALL(read_int(path, fy_node_mapping_lookup_by_string(n, "cohort", FY_NT),
                         "'cohort' in 'index' (a cohort_definition_id)", &g->cohort_id));
        g->index_kind = INDEX_COHORT;
    } else if (t && strcmp(t, "observation_period_start") == 0) {
        g->index_kind = INDEX_OBSERVATION;
    } else if (!t || sl_parse_date(t, strlen(t), &g->index_date) != 0) {
        SL_IO_YAML_FAIL(path, n ? n : root,
                        "expected 'index' to be observation_period_start, {cohort: ID} or a "
                        "date YYYY-MM-DD");
    }
    feats = fy_node_mapping_lookup_by_string(root, "features", FY_NT);
    if (!feats || !fy_node_is_sequence(feats) || fy_node_sequence_item_count(feats) < 1)
        SL_IO_YAML_FAIL(path, feats ? feats : root, "expected 'features' to be a non-empty list");
    g->f = sl_calloc((size_t)fy_node_sequence_item_count(feats), sizeof *g->f);
    SL_CHECK(g->f, SL_ERR_NOMEM, "out of memory");
    {
        void *it = NULL;
        struct fy_node *m;
        while ((m = fy_node_sequence_iterate(feats, &it)) != NULL)
            SL_CALL(read_feature(g, path, m, g->nf++));
    }
    if (g->need_pf[PF_GENDER]) {
        for (int i = 0; i < g->nf; i++) {
            struct feature *f = &g->f[i];
            if (f->src != SRC_PERSON || f->field != PF_GENDER || f->labels)
                continue;
            f->labels = sl_calloc(2, sizeof *f->labels);
            SL_CHECK(f->labels, SL_ERR_NOMEM, "out of memory");
            f->labels[0].concept = 8532;
            SL_CALL(add_level(f, "F", &f->labels[0].code));
            f->labels[1].concept = 8507;
            SL_CALL(add_level(f, "M", &f->labels[1].code));
            f->nlabels = 2;
        }
    }
cleanup:
    sl_io_yaml_close(&yf);
    return st;
}

/* ---- tables ---- */

static void progress(struct omop *g, struct sl_csv *csv, int64_t rows, int force)
{
    double t;
    if (!g->o->progress)
        return;
    t = now_seconds();
    if (!force && t - g->last_progress < OMOP_PROGRESS_SECONDS)
        return;
    g->last_progress = t;
    double size = (double)sl_csv_size(csv);
    sl_log_info("ingest %s: %lld rows (%.0f%% of the file)", sl_csv_path(csv), (long long)rows,
                size > 0 ? 100.0 * (double)sl_csv_offset(csv) / size : 100.0);
}

/* Reads the next row of a table into the reader (*got 0 at the end),
 * counting rows and reporting progress every few seconds. */
static sl_status next_row(struct omop *g, struct sl_csv *csv, int64_t *rows, int *got)
{
    sl_status st = SL_OK;
    SL_CALL(sl_csv_next(csv, got));
    if (*got && (++*rows & 0xFFFF) == 0)
        progress(g, csv, *rows, 0);
cleanup:
    return st;
}

/* Opens the first of <dir>/<table>.csv, <TABLE>.csv, <table>.tsv and
 * <TABLE>.tsv that exists (.tsv: tab-separated). */
static sl_status open_table(struct omop *g, const char *table, const char *why,
                            struct sl_csv **csv)
{
    static const char *const ext[] = {"csv", "tsv"};
    sl_status st = SL_OK;
    char path[4][512];
    struct stat sb;

    for (int k = 0; k < 4; k++) {
        size_t n = (size_t)snprintf(path[k], sizeof path[k], "%s/%s.%s", g->o->dir, table,
                                    ext[k / 2]);
        SL_CHECK(n < sizeof path[k], SL_ERR_ARG, "%s: the folder name is too long", g->o->dir);
        for (size_t i = strlen(g->o->dir) + 1; k % 2 && i < n - 4; i++)
            if (path[k][i] >= 'a' && path[k][i] <= 'z')
                path[k][i] = (char)(path[k][i] - 'a' + 'A');
        if (stat(path[k], &sb) == 0) {
            SL_CALL(sl_csv_open_delim(path[k], k < 2 ? ',' : '\t', csv));
            g->tables++;
            goto cleanup;
        }
    }
    SL_FAIL(SL_ERR_IO, "%s: no such file, nor a .tsv or upper-case one; expected the table %s "
                       "(%s)",
            path[0], table, why);
cleanup:
    return st;
}

/* Column `name` of the table (header names compared ignoring case). */
static sl_status find_column(struct sl_csv *csv, const char *name, int *col)
{
    sl_status st = SL_OK;
    *col = -1;
    for (int j = 0; j < sl_csv_ncols(csv); j++)
        if (strcasecmp(sl_csv_colname(csv, j), name) == 0)
            *col = j;
    SL_CHECK(*col >= 0, SL_ERR_FORMAT,
             "%s:1: no column %s in the header; expected the OMOP CDM v5.4 columns", sl_csv_path(csv),
             name);
cleanup:
    return st;
}

static sl_status field_int(struct sl_csv *csv, int col, int nullable, int64_t *v, int *missing)
{
    sl_status st = SL_OK;
    size_t n;
    const char *s = sl_csv_field(csv, col, &n);
    *missing = sl_csv_missing(csv, col);
    if (*missing && !nullable)
        return sl_csv_field_error(csv, col, SL_ERR_FORMAT, "missing, expected an integer");
    if (!*missing && sl_parse_int(s, n, v) != 0)
        return sl_csv_field_error(csv, col, SL_ERR_FORMAT, "expected an integer");
    return st;
}

/* 1 when t[0, n) is a time of day HH:MM:SS, optionally with a fraction of a
 * second and a trailing Z. */
static int is_time(const char *t, size_t n)
{
    size_t i = 8;
    if (n < 8 || t[2] != ':' || t[5] != ':')
        return 0;
    for (int k = 0; k < 8; k += 3)
        if (t[k] < '0' || t[k] > '9' || t[k + 1] < '0' || t[k + 1] > '9')
            return 0;
    if ((t[0] - '0') * 10 + (t[1] - '0') > 23 || t[3] > '5' ||
        (t[6] - '0') * 10 + (t[7] - '0') > 60)
        return 0;
    if (i < n && t[i] == '.') {
        for (i++; i < n && t[i] >= '0' && t[i] <= '9'; i++)
            ;
        if (t[i - 1] == '.')
            return 0;
    }
    if (i < n && t[i] == 'Z')
        i++;
    return i == n;
}

/* A date, YYYY-MM-DD, or a date and time (YYYY-MM-DD HH:MM:SS, or with a T,
 * as databases export their date columns) of which the date counts. */
static sl_status field_date(struct sl_csv *csv, int col, int32_t *v)
{
    static const char *const expected = "expected a date YYYY-MM-DD, optionally with a time";
    size_t n;
    const char *s = sl_csv_field(csv, col, &n);
    if (sl_csv_missing(csv, col))
        return sl_csv_field_error(csv, col, SL_ERR_FORMAT, "missing, %s", expected);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    if (n > 10 && (s[10] == ' ' || s[10] == 'T') && is_time(s + 11, n - 11))
        n = 10;
    if (sl_parse_date(s, n, v) != 0)
        return sl_csv_field_error(csv, col, SL_ERR_FORMAT, "%s", expected);
    return SL_OK;
}


/* A person in the lookup table: the id beside its row, so that a lookup
 * touches one cache line. */
struct slot {
    int64_t id;
    int64_t row1;           /* row + 1, 0 = empty */
};

/* Row of person `id`, or -1. */
static int64_t person_find(const struct omop *g, int64_t id)
{
    const struct slot *slot = g->slots->data;
    size_t i = (size_t)sl_mix64((uint64_t)id) & (g->nslots - 1);
    while (slot[i].row1) {
        if (slot[i].id == id)
            return slot[i].row1 - 1;
        i = (i + 1) & (g->nslots - 1);
    }
    return -1;
}

/* Counts person.csv's rows, then reads ids and fields into secret memory. */
static sl_status read_persons(struct omop *g)
{
    sl_status st = SL_OK;
    struct sl_csv *csv = NULL;
    int idc, pfc[NPF], got, miss;
    int64_t r = 0, v;

    SL_CALL(open_table(g, "person", "every spec reads person", &csv));
    SL_CALL(find_column(csv, "person_id", &idc));
    for (int k = 0; k < NPF; k++)
        if (g->need_pf[k])
            SL_CALL(find_column(csv, pf_columns[k], &pfc[k]));
    if (g->o->check)
        goto cleanup;
    for (;;) {
        SL_CALL(sl_csv_next(csv, &got));
        if (!got)
            break;
        g->np++;
    }
    SL_CHECK(g->np > 0, SL_ERR_FORMAT, "%s: no persons, expected at least one row",
             sl_csv_path(csv));
    SL_CALL(sl_csv_rewind(csv));
    g->nslots = 16;
    while (g->nslots < (size_t)g->np * 2)
        g->nslots *= 2;
    SL_CALL(sl_secbuf_create((size_t)g->np * sizeof(int64_t), &g->pid));
    SL_CALL(sl_secbuf_create(g->nslots * sizeof(struct slot), &g->slots));
    g->pline = sl_malloc((size_t)g->np * sizeof *g->pline);
    SL_CHECK(g->pline, SL_ERR_NOMEM, "out of memory for %lld persons", (long long)g->np);
    for (int k = 0; k < NPF; k++)
        if (g->need_pf[k])
            SL_CALL(sl_secbuf_create((size_t)g->np * sizeof(int64_t), &g->pf[k]));
    int64_t *pid = g->pid->data;
    struct slot *slot = g->slots->data;
    for (;;) {
        SL_CALL(sl_csv_next(csv, &got));
        if (!got)
            break;
        SL_CHECK(r < g->np, SL_ERR_IO, "%s: the file changed during ingest", sl_csv_path(csv));
        SL_CALL(field_int(csv, idc, 0, &v, &miss));
        size_t i = (size_t)sl_mix64((uint64_t)v) & (g->nslots - 1);
        while (slot[i].row1) {
            if (slot[i].id == v)
                SL_FAIL(SL_ERR_FORMAT, "%s:%lld: person_id repeats line %lld, expected one row "
                                       "per person",
                        sl_csv_path(csv), (long long)sl_csv_line(csv),
                        (long long)g->pline[slot[i].row1 - 1]);
            i = (i + 1) & (g->nslots - 1);
        }
        pid[r] = v;
        slot[i] = (struct slot){v, r + 1};
        g->pline[r] = sl_csv_line(csv);
        for (int k = 0; k < NPF; k++) {
            if (!g->need_pf[k])
                continue;
            int64_t x = SL_INT_MISSING;
            SL_CALL(field_int(csv, pfc[k], 1, &x, &miss));
            if (miss)
                x = SL_INT_MISSING;
            ((int64_t *)g->pf[k]->data)[r] = x;
        }
        r++;
    }
    SL_CHECK(r == g->np, SL_ERR_IO, "%s: the file changed during ingest", sl_csv_path(csv));
cleanup:
    sl_csv_close(&csv);
    return st;
}

/* Reads the person of the current row: its row in person.csv, or an error.
 * Exports list a person's events together, so the last person found is
 * tried first. */
static sl_status row_person(struct omop *g, struct sl_csv *csv, int idc, int64_t *p)
{
    sl_status st = SL_OK;
    int64_t v;
    int miss;
    SL_CALL(field_int(csv, idc, 0, &v, &miss));
    if (g->last_row >= 0 && g->last_id == v) {
        *p = g->last_row;
        goto cleanup;
    }
    *p = person_find(g, v);
    g->last_id = v;
    g->last_row = *p;
    if (*p < 0)
        st = sl_csv_field_error(csv, idc, SL_ERR_FORMAT,
                                "no such person in person.csv, expected every event's person "
                                "to be there");
cleanup:
    return st;
}

static sl_status read_index(struct omop *g)
{
    sl_status st = SL_OK;
    struct sl_csv *csv = NULL;
    int idc, dc, cc = -1, got, miss;
    int64_t p, def, rows = 0;
    int32_t d, *index;

    SL_CALL(sl_secbuf_create((size_t)g->np * sizeof(int32_t), &g->index));
    index = g->index->data;
    for (int64_t i = 0; i < g->np; i++)
        index[i] = g->index_kind == INDEX_DATE ? g->index_date : SL_DATE_MISSING;
    if (g->index_kind == INDEX_DATE)
        goto cleanup;
    if (g->index_kind == INDEX_OBSERVATION) {
        SL_CALL(open_table(g, "observation_period", "index: observation_period_start reads it",
                           &csv));
        SL_CALL(find_column(csv, "person_id", &idc));
        SL_CALL(find_column(csv, "observation_period_start_date", &dc));
    } else {
        SL_CALL(open_table(g, "cohort", "index: {cohort: ...} reads it", &csv));
        SL_CALL(find_column(csv, "cohort_definition_id", &cc));
        SL_CALL(find_column(csv, "subject_id", &idc));
        SL_CALL(find_column(csv, "cohort_start_date", &dc));
    }
    if (g->o->check)
        goto cleanup;
    for (;;) {
        SL_CALL(next_row(g, csv, &rows, &got));
        if (!got)
            break;
        if (cc >= 0) {
            SL_CALL(field_int(csv, cc, 0, &def, &miss));
            if (def != g->cohort_id)
                continue;
        }
        SL_CALL(row_person(g, csv, idc, &p));
        SL_CALL(field_date(csv, dc, &d));
        if (index[p] == SL_DATE_MISSING || d < index[p])
            index[p] = d;
    }
cleanup:
    sl_csv_close(&csv);
    return st;
}

static sl_status feature_state(struct feature *f, int64_t np)
{
    sl_status st = SL_OK;
    if (f->src == SRC_PERSON)
        goto cleanup;
    SL_CALL(sl_secbuf_create((size_t)np * sizeof(int64_t), &f->n));
    if (numeric_value(f->agg))
        SL_CALL(sl_secbuf_create((size_t)np * sizeof(double), &f->val));
    if (f->agg == AGG_LATEST_CONCEPT)
        SL_CALL(sl_secbuf_create((size_t)np * sizeof(int64_t), &f->cv));
    if (keeps_row(f->agg) || f->agg == AGG_DAYS_TO_FIRST)
        SL_CALL(sl_secbuf_create((size_t)np * sizeof(int32_t), &f->date));
    if (keeps_row(f->agg))
        SL_CALL(sl_secbuf_create((size_t)np * sizeof(int64_t), &f->tie));
cleanup:
    return st;
}

/* A (concept, feature) pair of one table. */
struct match {
    int64_t concept;
    int feature;
};

static int cmp_match(const void *a, const void *b)
{
    const struct match *x = a, *y = b;
    if (x->concept != y->concept)
        return (x->concept > y->concept) - (x->concept < y->concept);
    return (x->feature > y->feature) - (x->feature < y->feature);
}

/* Folds the current row into feature f for person p (rel: days from the
 * index date). */
static sl_status fold(struct feature *f, struct sl_csv *csv, const int *cols, int64_t p,
                      int32_t rel, const char *spec)
{
    sl_status st = SL_OK;
    int64_t *n = f->n->data;
    int64_t unit = 0, rowid = 0, cval = 0;
    int miss, unit_miss = 1;
    double v = NAN;

    if ((f->has_from && rel < f->from) || (f->has_to && rel > f->to))
        goto cleanup;
    if (cols[4] >= 0 && (f->has_unit || numeric_value(f->agg))) {
        SL_CALL(field_int(csv, cols[4], 1, &unit, &unit_miss));
        if (f->has_unit && (unit_miss || unit != f->unit)) {
            f->other_unit++;
            goto cleanup;
        }
    }
    if (f->agg == AGG_LATEST_CONCEPT) {
        SL_CALL(field_int(csv, cols[1], 1, &cval, &miss));
        if (miss || cval == 0) /* 0: no matching concept */
            goto cleanup;
    }
    if (numeric_value(f->agg)) {
        size_t len;
        const char *s = sl_csv_field(csv, cols[3], &len);
        if (sl_csv_missing(csv, cols[3]))
            goto cleanup;
        if (sl_parse_real(s, len, &v) != 0)
            return sl_csv_field_error(csv, cols[3], SL_ERR_FORMAT, "expected a number");
        if (!f->has_unit) {
            int64_t u = unit_miss ? INT64_MIN : unit;
            if (!f->unit_known) {
                f->unit_known = 1;
                f->unit_seen = u;
                f->unit_line = sl_csv_line(csv);
            } else if (u != f->unit_seen) {
                return sl_csv_field_error(
                    csv, cols[4], SL_ERR_FORMAT,
                    "feature '%s' (%s:%d:%d) would mix values of two units: this unit differs "
                    "from line %lld's; expected one unit, or a 'unit' in the feature",
                    f->name, spec, f->line, f->col, (long long)f->unit_line);
            }
        }
    }
    switch (f->agg) {
    case AGG_ANY:
    case AGG_COUNT: n[p]++; break;
    case AGG_DAYS_TO_FIRST: {
        int32_t *d = f->date->data;
        if (n[p] == 0 || rel < d[p])
            d[p] = rel;
        n[p]++;
        break;
    }
    case AGG_LATEST:
    case AGG_EARLIEST:
    case AGG_LATEST_CONCEPT: {
        int32_t *d = f->date->data;
        int64_t *tie = f->tie->data;
        int later = f->agg != AGG_EARLIEST;
        SL_CALL(field_int(csv, cols[0], 0, &rowid, &miss));
        if (n[p] == 0 || (later ? rel > d[p] : rel < d[p]) ||
            (rel == d[p] && (later ? rowid > tie[p] : rowid < tie[p]))) {
            d[p] = rel;
            tie[p] = rowid;
            if (f->agg == AGG_LATEST_CONCEPT)
                ((int64_t *)f->cv->data)[p] = cval;
            else
                ((double *)f->val->data)[p] = v;
        }
        n[p]++;
        break;
    }
    case AGG_MEAN: ((double *)f->val->data)[p] += v; n[p]++; break;
    case AGG_MIN:
    case AGG_MAX: {
        double *val = f->val->data;
        if (n[p] == 0 || (f->agg == AGG_MIN ? v < val[p] : v > val[p]))
            val[p] = v;
        n[p]++;
        break;
    }
    case NAGG: break;
    }
cleanup:
    return st;
}

/* A growing list of concept ids. */
struct idlist {
    int64_t *v;
    int n, cap;
};

static sl_status idlist_push(struct idlist *l, int64_t x)
{
    sl_status st = SL_OK;
    if (l->n == l->cap) {
        int nc = l->cap ? 2 * l->cap : 64;
        int64_t *more = sl_realloc(l->v, (size_t)nc * sizeof *more);
        SL_CHECK(more, SL_ERR_NOMEM, "out of memory");
        l->v = more;
        l->cap = nc;
    }
    l->v[l->n++] = x;
cleanup:
    return st;
}

/* Adds extra[0, nextra) to the sorted set ids[0, *n), keeping it sorted and
 * without repeats. */
static sl_status merge_ids(int64_t **ids, int *n, const int64_t *extra, int nextra)
{
    sl_status st = SL_OK;
    if (nextra == 0)
        goto cleanup;
    int64_t *all = sl_realloc(*ids, (size_t)(*n + nextra) * sizeof *all);
    SL_CHECK(all, SL_ERR_NOMEM, "out of memory");
    *ids = all;
    memcpy(all + *n, extra, (size_t)nextra * sizeof *all);
    int total = *n + nextra, k = 0;
    qsort(all, (size_t)total, sizeof *all, cmp_i64);
    for (int j = 0; j < total; j++)
        if (k == 0 || all[j] != all[k - 1])
            all[k++] = all[j];
    *n = k;
cleanup:
    return st;
}

/* Adds to each feature with `descendants` every descendant_concept_id of
 * its listed concepts, and of its excluded ones, in concept_ancestor.csv
 * (vocabulary, not patient data). */
static sl_status expand_descendants(struct omop *g)
{
    sl_status st = SL_OK;
    struct sl_csv *csv = NULL;
    int ac, dc, got, miss;
    int64_t anc, desc, rows = 0;
    struct idlist *inc = NULL, *exc = NULL;
    char why[160];

    inc = sl_calloc((size_t)g->nf, sizeof *inc);
    exc = sl_calloc((size_t)g->nf, sizeof *exc);
    SL_CHECK(inc && exc, SL_ERR_NOMEM, "out of memory");
    for (int i = 0; i < g->nf; i++)
        if (g->f[i].descendants) {
            snprintf(why, sizeof why, "feature '%s' at %s:%d:%d asks for descendants",
                     g->f[i].name, g->o->spec, g->f[i].line, g->f[i].col);
            break;
        }
    SL_CALL(open_table(g, "concept_ancestor", why, &csv));
    SL_CALL(find_column(csv, "ancestor_concept_id", &ac));
    SL_CALL(find_column(csv, "descendant_concept_id", &dc));
    if (g->o->check)
        goto cleanup;
    for (;;) {
        SL_CALL(next_row(g, csv, &rows, &got));
        if (!got)
            break;
        SL_CALL(field_int(csv, ac, 0, &anc, &miss));
        for (int i = 0; i < g->nf; i++) {
            struct feature *f = &g->f[i];
            if (!f->descendants)
                continue;
            int in = bsearch(&anc, f->concepts, (size_t)f->nconcepts, sizeof anc, cmp_i64) != NULL;
            int out = f->nexcl > 0 &&
                      bsearch(&anc, f->excl, (size_t)f->nexcl, sizeof anc, cmp_i64) != NULL;
            if (!in && !out)
                continue;
            SL_CALL(field_int(csv, dc, 0, &desc, &miss));
            SL_CHECK(f->nconcepts + inc[i].n + exc[i].n < OMOP_MAX_EXPANDED, SL_ERR_FORMAT,
                     "%s: feature '%s' has more than %d concepts with their descendants",
                     sl_csv_path(csv), f->name, OMOP_MAX_EXPANDED);
            if (in)
                SL_CALL(idlist_push(&inc[i], desc));
            if (out)
                SL_CALL(idlist_push(&exc[i], desc));
        }
    }
    for (int i = 0; i < g->nf; i++) {
        struct feature *f = &g->f[i];
        SL_CALL(merge_ids(&f->concepts, &f->nconcepts, inc[i].v, inc[i].n));
        SL_CALL(merge_ids(&f->excl, &f->nexcl, exc[i].v, exc[i].n));
    }
cleanup:
    for (int i = 0; i < g->nf && inc && exc; i++) {
        sl_free(inc[i].v);
        sl_free(exc[i].v);
    }
    sl_free(inc);
    sl_free(exc);
    sl_csv_close(&csv);
    return st;
}

/* Takes each feature's excluded concepts (and, with `descendants`, theirs)
 * out of its concept set; a set left empty is an error. */
static sl_status apply_excludes(struct omop *g)
{
    sl_status st = SL_OK;
    for (int i = 0; i < g->nf; i++) {
        struct feature *f = &g->f[i];
        int k = 0;
        if (!f->nexcl)
            continue;
        for (int j = 0; j < f->nconcepts; j++)
            if (!bsearch(&f->concepts[j], f->excl, (size_t)f->nexcl, sizeof *f->excl, cmp_i64))
                f->concepts[k++] = f->concepts[j];
        f->nconcepts = k;
        SL_CHECK(k > 0, SL_ERR_FORMAT,
                 "%s:%d:%d: feature '%s' excludes every concept it lists; expected some left",
                 g->o->spec, f->line, f->col, f->name);
    }
cleanup:
    return st;
}

static sl_status read_events(struct omop *g, enum source s)
{
    sl_status st = SL_OK;
    const struct table_desc *t = &tables[s];
    struct sl_csv *csv = NULL;
    struct match *mt = NULL;
    int *all = NULL;
    size_t nm = 0, nall = 0;
    int idc, cc, dc, cols[5] = {-1, -1, -1, -1, -1}, got, miss;
    int64_t rows = 0, p, concept;
    int32_t d;
    char why[160];
    const int32_t *index = g->index->data;

    for (int i = 0; i < g->nf; i++)
        if (g->f[i].src == s) {
            nm += (size_t)g->f[i].nconcepts;
            nall += (size_t)g->f[i].all_concepts;
        }
    mt = sl_malloc((nm ? nm : 1) * sizeof *mt);
    all = sl_malloc((nall ? nall : 1) * sizeof *all);
    SL_CHECK(mt && all, SL_ERR_NOMEM, "out of memory");
    nm = nall = 0;
    for (int i = 0; i < g->nf; i++) {
        struct feature *f = &g->f[i];
        if (f->src != s)
            continue;
        if (!nm && !nall)
            snprintf(why, sizeof why, "feature '%s' at %s:%d:%d reads it", f->name, g->o->spec,
                     f->line, f->col);
        for (int k = 0; k < f->nconcepts; k++)
            mt[nm++] = (struct match){f->concepts[k], i};
        if (f->all_concepts)
            all[nall++] = i;
    }
    qsort(mt, nm, sizeof *mt, cmp_match);

    SL_CALL(open_table(g, t->table, why, &csv));
    SL_CALL(find_column(csv, "person_id", &idc));
    SL_CALL(find_column(csv, t->concept, &cc));
    SL_CALL(find_column(csv, t->date, &dc));
    for (int i = 0; i < g->nf; i++) {
        const struct feature *f = &g->f[i];
        if (f->src != s)
            continue;
        if (keeps_row(f->agg) && cols[0] < 0)
            SL_CALL(find_column(csv, t->row_id, &cols[0]));
        if (f->agg == AGG_LATEST_CONCEPT && cols[1] < 0)
            SL_CALL(find_column(csv, t->value_concept, &cols[1]));
        if (numeric_value(f->agg) && cols[3] < 0)
            SL_CALL(find_column(csv, t->value, &cols[3]));
        if ((numeric_value(f->agg) || f->has_unit) && cols[4] < 0)
            SL_CALL(find_column(csv, t->unit, &cols[4]));
    }
    if (g->o->check)
        goto cleanup;
    for (;;) {
        SL_CALL(next_row(g, csv, &rows, &got));
        if (!got)
            break;
        SL_CALL(field_int(csv, cc, t->concept_nullable, &concept, &miss));
        size_t lo = 0, hi = nm;
        if (!miss) {
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (mt[mid].concept < concept)
                    lo = mid + 1;
                else
                    hi = mid;
            }
        } else {
            lo = nm;
        }
        if ((lo == nm || mt[lo].concept != concept) && nall == 0)
            continue;
        SL_CALL(row_person(g, csv, idc, &p));
        if (index[p] == SL_DATE_MISSING)
            continue;
        SL_CALL(field_date(csv, dc, &d));
        int32_t rel = d - index[p];
        for (size_t k = lo; k < nm && mt[k].concept == concept; k++)
            SL_CALL(fold(&g->f[mt[k].feature], csv, cols, p, rel, g->o->spec));
        for (size_t k = 0; k < nall; k++)
            SL_CALL(fold(&g->f[all[k]], csv, cols, p, rel, g->o->spec));
    }
    progress(g, csv, rows, 1);
    g->events += rows;
cleanup:
    sl_csv_close(&csv);
    sl_free(mt);
    sl_free(all);
    return st;
}

/* ---- output ---- */

/* Levels of a concept-valued feature without `labels`: the concept ids the
 * persons written hold (0 and missing excluded), in numeric order, as text. */
static sl_status concept_levels(struct omop *g, struct feature *f)
{
    sl_status st = SL_OK;
    const int64_t *x = f->src == SRC_PERSON ? g->pf[f->field]->data : f->cv->data;
    const int64_t *has = f->src == SRC_PERSON ? NULL : f->n->data;
    const int32_t *index = g->index->data;
    struct sl_secbuf *tmp = NULL;
    int64_t n = 0;

    SL_CALL(sl_secbuf_create((size_t)g->np * sizeof(int64_t), &tmp));
    int64_t *c = tmp->data;
    for (int64_t i = 0; i < g->np; i++)
        if (index[i] != SL_DATE_MISSING && (!has || has[i] > 0) && x[i] != SL_INT_MISSING &&
            x[i] != 0)
            c[n++] = x[i];
    qsort(c, (size_t)n, sizeof *c, cmp_i64);
    for (int64_t i = 0; i < n; i++) {
        if (i > 0 && c[i] == c[i - 1])
            continue;
        SL_CHECK(f->nlevels < SL_SCHEMA_MAX_LEVELS, SL_ERR_FORMAT,
                 "feature '%s': more than %d distinct concepts", f->name, SL_SCHEMA_MAX_LEVELS);
        char text[24];
        int32_t code;
        snprintf(text, sizeof text, "%lld", (long long)c[i]);
        struct label *more = sl_realloc(f->labels, (size_t)(f->nlabels + 1) * sizeof *more);
        SL_CHECK(more, SL_ERR_NOMEM, "out of memory");
        f->labels = more;
        SL_CALL(add_level(f, text, &code));
        f->labels[f->nlabels++] = (struct label){c[i], code};
    }
cleanup:
    sl_secbuf_destroy(&tmp);
    return st;
}

static int32_t label_code(const struct feature *f, int64_t concept)
{
    int lo = 0, hi = f->nlabels;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (f->labels[mid].concept < concept)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < f->nlabels && f->labels[lo].concept == concept ? f->labels[lo].code
                                                               : SL_CAT_MISSING;
}

static int cmp_label(const void *a, const void *b)
{
    return cmp_i64(&((const struct label *)a)->concept, &((const struct label *)b)->concept);
}

static sl_status build_columns(struct omop *g, struct sl_colinfo **out)
{
    sl_status st = SL_OK;
    struct sl_colinfo *cols = sl_calloc((size_t)g->nf + 1, sizeof *cols);
    SL_CHECK(cols, SL_ERR_NOMEM, "out of memory");
    cols[0] = (struct sl_colinfo){"person_id", SL_COL_ID, SL_CLASS_IDENTIFIER, 0, NULL, NAN, NAN};
    for (int i = 0; i < g->nf; i++) {
        struct feature *f = &g->f[i];
        struct sl_colinfo *c = &cols[i + 1];
        c->name = f->name;
        c->cls = f->cls;
        c->lower = f->lower;
        c->upper = f->upper;
        if (f->src == SRC_PERSON || f->agg == AGG_LATEST_CONCEPT) {
            if (f->src == SRC_PERSON && (f->field == PF_AGE || f->field == PF_YOB)) {
                c->type = SL_COL_INT;
                continue;
            }
            if (!f->labels)
                SL_CALL(concept_levels(g, f));
            if (f->nlabels > 1)
                qsort(f->labels, (size_t)f->nlabels, sizeof *f->labels, cmp_label);
        } else if (f->agg == AGG_ANY) {
            int32_t code;
            SL_CALL(add_level(f, "no", &code));
            SL_CALL(add_level(f, "yes", &code));
        } else {
            c->type = numeric_value(f->agg) ? SL_COL_REAL : SL_COL_INT;
            continue;
        }
        c->type = SL_COL_CAT;
        c->nlevels = f->nlevels;
        c->levels = f->levels;
    }
    *out = cols;
    cols = NULL;
cleanup:
    sl_free(cols);
    return st;
}

/* The year of a date (days since 1970-01-01). */
static int64_t year_of(int32_t days)
{
    char text[11];
    sl_format_date(days, text);
    return strtoll(text, NULL, 10);
}

/* Converts person p's feature f into dst; 1 when the value is present (for
 * `any`: yes). */
static int convert(const struct omop *g, const struct feature *f, int64_t p, unsigned char *dst)
{
    if (f->src == SRC_PERSON) {
        int64_t x = ((const int64_t *)g->pf[f->field]->data)[p];
        if (f->field == PF_AGE || f->field == PF_YOB) {
            int64_t v = x;
            if (f->field == PF_AGE && x != SL_INT_MISSING)
                v = year_of(((const int32_t *)g->index->data)[p]) - x;
            memcpy(dst, &v, sizeof v);
            return v != SL_INT_MISSING;
        }
        int32_t code = x == SL_INT_MISSING ? SL_CAT_MISSING : label_code(f, x);
        memcpy(dst, &code, sizeof code);
        return code != SL_CAT_MISSING;
    }
    int64_t n = ((const int64_t *)f->n->data)[p];
    switch (f->agg) {
    case AGG_ANY: {
        int32_t code = n > 0;
        memcpy(dst, &code, sizeof code);
        break;
    }
    case AGG_COUNT: memcpy(dst, &n, sizeof n); return 1;
    case AGG_LATEST_CONCEPT: {
        int32_t code = n > 0 ? label_code(f, ((const int64_t *)f->cv->data)[p]) : SL_CAT_MISSING;
        memcpy(dst, &code, sizeof code);
        return code != SL_CAT_MISSING;
    }
    case AGG_DAYS_TO_FIRST: {
        int64_t v = n > 0 ? ((const int32_t *)f->date->data)[p] : SL_INT_MISSING;
        memcpy(dst, &v, sizeof v);
        break;
    }
    default: {
        double v = ((const double *)f->val->data)[p];
        if (n == 0)
            v = NAN;
        else if (f->agg == AGG_MEAN)
            v /= (double)n;
        memcpy(dst, &v, sizeof v);
        break;
    }
    }
    return n > 0;
}

static sl_status write_cohort(struct omop *g, const struct sl_colinfo *cols, int64_t chunk_rows,
                              int64_t *written)
{
    sl_status st = SL_OK;
    struct sl_cohort_writer *w = NULL;
    struct sl_secbuf **bufs = NULL;
    const void **ptrs = NULL;
    int ncols = g->nf + 1;
    int64_t fill = 0, rows = 0;
    const int64_t *pid = g->pid->data;
    const int32_t *index = g->index->data;

    bufs = sl_calloc((size_t)ncols, sizeof *bufs);
    ptrs = sl_calloc((size_t)ncols, sizeof *ptrs);
    SL_CHECK(bufs && ptrs, SL_ERR_NOMEM, "out of memory");
    for (int j = 0; j < ncols; j++) {
        SL_CALL(sl_secbuf_create((size_t)chunk_rows * sl_coltype_size(cols[j].type), &bufs[j]));
        ptrs[j] = bufs[j]->data;
    }
    SL_CALL(sl_cohort_writer_create(g->o->out, g->o->kek, cols, ncols, chunk_rows, &w));
    for (int64_t p = 0; p < g->np; p++) {
        if (index[p] == SL_DATE_MISSING)
            continue;
        char text[24];
        int n = snprintf(text, sizeof text, "%lld", (long long)pid[p]);
        SL_CALL(sl_pseudonym(g->pn, text, (size_t)n,
                             (unsigned char *)bufs[0]->data + (size_t)fill * SL_ID_BYTES));
        sl_wipe(text, sizeof text);
        for (int i = 0; i < g->nf; i++)
            g->f[i].present += convert(g, &g->f[i], p,
                                       (unsigned char *)bufs[i + 1]->data +
                                           (size_t)fill * sl_coltype_size(cols[i + 1].type));
        rows++;
        if (++fill == chunk_rows) {
            SL_CALL(sl_cohort_writer_append(w, fill, ptrs));
            fill = 0;
        }
    }
    SL_CHECK(rows > 0, SL_ERR_FORMAT,
             "%s: no person has an index date (%s); expected at least one", g->o->dir,
             g->index_kind == INDEX_COHORT ? "no subject of the cohort in cohort.csv"
                                           : "no observation period in observation_period.csv");
    if (fill > 0)
        SL_CALL(sl_cohort_writer_append(w, fill, ptrs));
    SL_CALL(sl_cohort_writer_finish(w));
    *written = rows;
cleanup:
    sl_cohort_writer_destroy(&w);
    if (bufs)
        for (int j = 0; j < ncols; j++)
            sl_secbuf_destroy(&bufs[j]);
    sl_free(bufs);
    sl_free(ptrs);
    return st;
}

static void omop_free(struct omop *g)
{
    for (int i = 0; g->f && i < g->nf; i++) {
        struct feature *f = &g->f[i];
        sl_free(f->name);
        sl_free(f->concepts);
        sl_free(f->excl);
        sl_free(f->labels);
        for (int32_t k = 0; k < f->nlevels; k++)
            sl_free(f->levels[k]);
        sl_free(f->levels);
        sl_secbuf_destroy(&f->n);
        sl_secbuf_destroy(&f->val);
        sl_secbuf_destroy(&f->cv);
        sl_secbuf_destroy(&f->date);
        sl_secbuf_destroy(&f->tie);
    }
    sl_free(g->f);
    sl_secbuf_destroy(&g->pid);
    sl_secbuf_destroy(&g->slots);
    sl_free(g->pline);
    for (int k = 0; k < NPF; k++)
        sl_secbuf_destroy(&g->pf[k]);
    sl_secbuf_destroy(&g->index);
    sl_pseudonymizer_destroy(&g->pn);
    sl_wipe(&g->last_id, sizeof g->last_id);
}

void sl_omop_stats_clear(struct sl_omop_stats *stats)
{
    sl_free(stats->present);
    memset(stats, 0, sizeof *stats);
}

sl_status sl_omop_ingest(const struct sl_omop_opts *o, struct sl_omop_stats *stats)
{
    sl_status st = SL_OK;
    struct omop g;
    struct sl_colinfo *cols = NULL;
    int64_t chunk_rows, written = 0, *present = NULL;
    struct stat sb;

    memset(&g, 0, sizeof g);
    g.o = o;
    g.last_row = -1;
    SL_CHECK(o && o->dir && o->spec && (o->check || (o->out && o->kek)), SL_ERR_ARG,
             "OMOP ingest needs a folder of tables, a feature spec, an output cohort and a key");
    chunk_rows = o->chunk_rows > 0 ? o->chunk_rows : SL_DEFAULT_CHUNK_ROWS;
    SL_CHECK(chunk_rows <= SL_MAX_CHUNK_ROWS, SL_ERR_ARG, "chunk rows must be at most %d",
             SL_MAX_CHUNK_ROWS);
    SL_CHECK(o->check || stat(o->out, &sb) != 0, SL_ERR_EXISTS,
             "%s already exists; refusing to overwrite it", o->out);
    SL_CHECK(stat(o->dir, &sb) == 0 && S_ISDIR(sb.st_mode), SL_ERR_IO,
             "%s: not a folder; expected the folder of OMOP tables as CSV", o->dir);
    g.t0 = g.last_progress = now_seconds();
    SL_CALL(read_spec(&g));
    if (g.need_ancestors)
        SL_CALL(expand_descendants(&g));
    SL_CALL(apply_excludes(&g));
    if (!o->check)
        SL_CALL(sl_pseudonymizer_create(o->kek, o->project, &g.pn));
    SL_CALL(read_persons(&g));
    SL_CALL(read_index(&g));
    for (int i = 0; i < g.nf; i++)
        SL_CALL(feature_state(&g.f[i], g.np));
    for (int s = SRC_PERSON + 1; s < NSRC; s++)
        if (g.need_src[s])
            SL_CALL(read_events(&g, (enum source)s));
    if (o->check) {
        if (stats) {
            stats->ncols = g.nf + 1;
            stats->tables = g.tables;
            stats->seconds = now_seconds() - g.t0;
        }
        goto cleanup;
    }
    SL_CALL(build_columns(&g, &cols));
    present = sl_malloc((size_t)g.nf * sizeof *present);
    SL_CHECK(present, SL_ERR_NOMEM, "out of memory");
    /* nothing can fail once the cohort is in place */
    SL_CALL(write_cohort(&g, cols, chunk_rows, &written));
    for (int i = 0; i < g.nf && o->progress; i++)
        if (g.f[i].other_unit > 0)
            sl_log_info("feature '%s': %lld rows in another unit left out", g.f[i].name,
                        (long long)g.f[i].other_unit);
    if (stats) {
        for (int i = 0; i < g.nf; i++)
            present[i] = g.f[i].present;
        stats->present = present;
        present = NULL;
        stats->persons = written;
        stats->left_out = g.np - written;
        stats->ncols = g.nf + 1;
        stats->events = g.events;
        stats->tables = g.tables;
        stats->seconds = now_seconds() - g.t0;
    }
cleanup:
    sl_free(present);
    sl_free(cols);
    omop_free(&g);
    return st;
}
