/*
 * pivot.c: event records -> person-level encrypted cohort (pivot_impl.h).
 *
 * The spec is read first, so every mistake in it is reported before a file
 * is opened. The reader then fills the persons, their index dates and the
 * per-person feature state (all in secret memory) from its files; last, the
 * rows are converted batch by batch and handed to the cohort writer.
 */
#include "io/pivot_impl.h"

#include <errno.h>
#include <math.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "engine/core/alloc.h"
#include "engine/core/log.h"
#include "io/cohort.h"
#include "io/cohort_impl.h"
#include "io/format.h"
#include "io/hash_impl.h"
#include "io/pseudonym_impl.h"
#include "io/yaml_impl.h"

#define PIVOT_PROGRESS_SECONDS 2.0
#define PIVOT_SPEC_MAX_BYTES (4 << 20)
#define PIVOT_MAX_CONCEPTS 100000
#define PIVOT_MAX_CODES 1000000
#define PIVOT_LEVEL_MAX 256

/* What each source is called in each dialect's spec (NULL: not there). */
static const char *const src_key[2][NSRC] = {
    {"person", "measurement", "observation", "condition", "drug", "procedure", "visit", "death"},
    {"person", NULL, "observation", "condition", "medication", "procedure", "encounter", "death"},
};
static const char *const src_list[2] = {
    "person, measurement, observation, condition, drug, procedure, visit, death",
    "person, observation, condition, medication, procedure, encounter, death",
};
static const char *const version_key[2] = {"sluice_omop", "sluice_fhir"};

/* Sources with values and units. */
static int has_values(enum source s) { return s == SRC_MEASUREMENT || s == SRC_OBSERVATION; }

static const char *const agg_names[NAGG] = {"any",  "count", "days_to_first", "latest", "earliest",
                                            "mean", "min",   "max",           "latest_concept"};
static const char *const pf_names[NPF] = {"gender", "age", "year_of_birth", "race", "ethnicity"};

double sl_pivot_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the spec ---- */

static sl_status read_int(const char *path, struct fy_node *v, const char *what, int64_t *out)
{
    sl_status st = SL_OK;
    const char *t = sl_io_yaml_scalar(v);
    if (!t || sl_parse_int(t, strlen(t), out) != 0)
        SL_IO_YAML_FAIL(path, v, "expected an integer for %s", what);
cleanup:
    return st;
}

/* Reads one code of feature f: an integer concept id (OMOP), or a FHIR code
 * `system|code` (a bare code takes the feature's system; gender values have
 * none), interned. */
static sl_status read_code(struct pivot *g, const char *path, struct fy_node *v,
                           const struct feature *f, const char *what, int64_t *out)
{
    sl_status st = SL_OK;
    const char *t = sl_io_yaml_scalar(v);
    char full[512];

    if (g->rd->dialect == DIALECT_OMOP)
        return read_int(path, v, what, out);
    if (!t)
        SL_IO_YAML_FAIL(path, v, "expected a code (system|code) for %s", what);
    int gender = f->src == SRC_PERSON && f->field == PF_GENDER;
    if (!gender && !strchr(t, '|')) {
        if (!f->system)
            SL_IO_YAML_FAIL(path, v, "expected system|code for %s, or a 'system' for feature '%s'",
                            what, f->name);
        int n = snprintf(full, sizeof full, "%s|%s", f->system, t);
        if (n < 0 || (size_t)n >= sizeof full)
            SL_IO_YAML_FAIL(path, v, "the code is too long (at most %zu bytes with its system)",
                            sizeof full - 1);
        t = full;
    }
    SL_CALL(sl_pivot_code_intern(g, t, strlen(t), out));
cleanup:
    return st;
}

/* Reads a concept id or a list of them (sorted, no repeats) into *ids. */
static sl_status read_id_list(struct pivot *g, const char *path, struct fy_node *v,
                              const char *key, const struct feature *f, int64_t **ids, int *n)
{
    sl_status st = SL_OK;
    const char *what = g->rd->dialect == DIALECT_OMOP ? "a concept id" : "a code";

    if (fy_node_is_scalar(v)) {
        *ids = sl_malloc(sizeof **ids);
        SL_CHECK(*ids, SL_ERR_NOMEM, "out of memory");
        *n = 1;
        SL_CALL(read_code(g, path, v, f, what, &(*ids)[0]));
    } else if (fy_node_is_sequence(v)) {
        int count = fy_node_sequence_item_count(v);
        void *it = NULL;
        struct fy_node *item;
        if (count < 1 || count > PIVOT_MAX_CONCEPTS)
            SL_IO_YAML_FAIL(path, v, "expected 1 to %d %ss for '%s' of feature '%s'",
                            PIVOT_MAX_CONCEPTS, what + 2, key, f->name);
        *ids = sl_malloc((size_t)count * sizeof **ids);
        SL_CHECK(*ids, SL_ERR_NOMEM, "out of memory");
        while ((item = fy_node_sequence_iterate(v, &it)) != NULL)
            SL_CALL(read_code(g, path, item, f, what, &(*ids)[(*n)++]));
        qsort(*ids, (size_t)count, sizeof **ids, sl_pivot_cmp_i64);
        for (int i = 1; i < count; i++)
            if ((*ids)[i] == (*ids)[i - 1] && g->rd->dialect == DIALECT_OMOP)
                SL_IO_YAML_FAIL(path, v, "concept %lld is listed twice for feature '%s'",
                                (long long)(*ids)[i], f->name);
            else if ((*ids)[i] == (*ids)[i - 1])
                SL_IO_YAML_FAIL(path, v, "a code is listed twice for feature '%s'", f->name);
    } else {
        SL_IO_YAML_FAIL(path, v, "expected %s or a list of them for '%s'%s", what, key,
                        f->src == SRC_DEATH && strcmp(key, "death") == 0 ? ", or any" : "");
    }
cleanup:
    return st;
}

static sl_status read_concepts(struct pivot *g, const char *path, struct fy_node *v,
                               struct feature *f)
{
    sl_status st = SL_OK;
    if (f->src == SRC_DEATH && fy_node_is_scalar(v)) {
        const char *t = sl_io_yaml_scalar(v);
        if (t && strcmp(t, "any") == 0) {
            f->all_concepts = 1;
            return SL_OK;
        }
    }
    if (f->src == SRC_DEATH && g->rd->dialect == DIALECT_FHIR)
        SL_IO_YAML_FAIL(path, v, "expected death: any (FHIR Patient gives no cause of death)");
    return read_id_list(g, path, v, src_key[g->rd->dialect][f->src], f, &f->concepts,
                        &f->nconcepts);
cleanup:
    return st;
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

static sl_status read_labels(struct pivot *g, const char *path, struct fy_node *v,
                             struct feature *f)
{
    sl_status st = SL_OK;
    void *it = NULL;
    struct fy_node_pair *p;
    const char *what = g->rd->dialect == DIALECT_OMOP ? "concept ids" : "codes";

    if (!fy_node_is_mapping(v) || fy_node_mapping_item_count(v) < 1)
        SL_IO_YAML_FAIL(path, v, "expected 'labels' of feature '%s' to map %s to labels",
                        f->name, what);
    f->labels = sl_calloc((size_t)fy_node_mapping_item_count(v), sizeof *f->labels);
    SL_CHECK(f->labels, SL_ERR_NOMEM, "out of memory");
    while ((p = fy_node_mapping_iterate(v, &it)) != NULL) {
        struct label *l = &f->labels[f->nlabels];
        const char *t = sl_io_yaml_scalar(fy_node_pair_value(p));
        SL_CALL(read_code(g, path, fy_node_pair_key(p), f,
                          g->rd->dialect == DIALECT_OMOP ? "a concept id in 'labels'"
                                                         : "a code in 'labels'",
                          &l->concept));
        for (int i = 0; i < f->nlabels; i++)
            if (f->labels[i].concept == l->concept)
                SL_IO_YAML_FAIL(path, fy_node_pair_key(p), "the same %s is labelled twice for "
                                "feature '%s'", g->rd->dialect == DIALECT_OMOP ? "concept" : "code",
                                f->name);
        if (!t)
            SL_IO_YAML_FAIL(path, fy_node_pair_value(p) ? fy_node_pair_value(p)
                                                        : fy_node_pair_key(p),
                            "expected a non-empty label in 'labels' of feature '%s'", f->name);
        SL_CALL(add_level(f, t, &l->code));
        f->nlabels++;
    }
cleanup:
    return st;
}

static sl_status read_feature(struct pivot *g, const char *path, struct fy_node *m, int i)
{
    static const char *const allowed[2][20] = {
        {"name", "person", "measurement", "observation", "condition", "drug", "procedure",
         "visit", "death", "value", "unit", "from", "to", "lower", "upper", "class", "labels",
         "descendants", "exclude", NULL},
        {"name", "person", "observation", "condition", "medication", "procedure", "encounter",
         "death", "system", "value", "unit", "from", "to", "lower", "upper", "class", "labels",
         "exclude", NULL},
    };
    const enum dialect dl = g->rd->dialect;
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
    if (dl == DIALECT_FHIR && (n = fy_node_mapping_lookup_by_string(m, "descendants", FY_NT)))
        SL_IO_YAML_FAIL(path, n, "'descendants' needs OMOP's concept_ancestor table; a FHIR "
                                 "export carries no code hierarchy, so list the codes");
    SL_CALL(sl_io_yaml_known_keys(path, m, allowed[dl], ctx));
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
        if (!src_key[dl][s] ||
            (n = fy_node_mapping_lookup_by_string(m, src_key[dl][s], FY_NT)) == NULL)
            continue;
        if (src_n)
            SL_IO_YAML_FAIL(path, n, "feature '%s' names two sources ('%s' and '%s'), expected one",
                            f->name, src_key[dl][f->src], src_key[dl][s]);
        src_n = n;
        f->src = (enum source)s;
    }
    if (!src_n)
        SL_IO_YAML_FAIL(path, m, "feature '%s' has no source, expected one of %s", f->name,
                        src_list[dl]);
    if ((n = fy_node_mapping_lookup_by_string(m, "system", FY_NT)) != NULL) {
        t = sl_io_yaml_scalar(n);
        if (!t || strchr(t, '|'))
            SL_IO_YAML_FAIL(path, n, "expected 'system' of feature '%s' to be a code system URI "
                                     "without '|'",
                            f->name);
        f->system = sl_strdup(t);
        SL_CHECK(f->system, SL_ERR_NOMEM, "out of memory");
    }

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
        if (f->field == PF_GENDER && f->system)
            SL_IO_YAML_FAIL(path, fy_node_mapping_lookup_by_string(m, "system", FY_NT),
                            "gender values (female, male, other, unknown) have no 'system'");
        g->need_pf[f->field] = 1;
        f->cls = SL_CLASS_QUASI;
        if (dl == DIALECT_FHIR && !f->system && (f->field == PF_RACE || f->field == PF_ETHNICITY)) {
            f->system = sl_strdup(SL_FHIR_OMB_SYSTEM);
            SL_CHECK(f->system, SL_ERR_NOMEM, "out of memory");
        }
    } else {
        SL_CALL(read_concepts(g, path, src_n, f));
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
            SL_CALL(read_id_list(g, path, n, "exclude", f, &f->excl, &f->nexcl));
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
            if (f->agg >= AGG_LATEST && !has_values(f->src))
                SL_IO_YAML_FAIL(path, n,
                                "'%s' needs values; only %s features have them (expected any, "
                                "count or days_to_first)",
                                t, dl == DIALECT_OMOP ? "measurement and observation" : "observation");
        }
        if ((n = fy_node_mapping_lookup_by_string(m, "unit", FY_NT)) != NULL) {
            if (!has_values(f->src))
                SL_IO_YAML_FAIL(path, n, "'unit' applies to %s features",
                                dl == DIALECT_OMOP ? "measurement and observation" : "observation");
            if (f->agg == AGG_LATEST_CONCEPT)
                SL_IO_YAML_FAIL(path, n, "'unit' applies to numbers, not to latest_concept");
            if (dl == DIALECT_OMOP) {
                SL_CALL(read_int(path, n, "'unit' (a unit_concept_id)", &f->unit));
            } else if ((t = sl_io_yaml_scalar(n)) != NULL) {
                SL_CALL(sl_pivot_code_intern(g, t, strlen(t), &f->unit));
            } else {
                SL_IO_YAML_FAIL(path, n, "expected 'unit' to be a UCUM code such as mg/dL");
            }
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
            SL_CALL(read_labels(g, path, n, f));
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

static sl_status read_spec(struct pivot *g)
{
    static const char *const top[2][4] = {{"sluice_omop", "index", "features", NULL},
                                          {"sluice_fhir", "index", "features", NULL}};
    static const char *const index_forms[2] = {
        "observation_period_start, first_visit, {cohort: ID} or a date YYYY-MM-DD",
        "first_encounter or a date YYYY-MM-DD"};
    const enum dialect dl = g->rd->dialect;
    sl_status st = SL_OK;
    const char *path = g->o->spec;
    struct sl_io_yaml_file yf;
    struct fy_node *root, *n, *feats;
    const char *t;
    char expected[64];

    snprintf(expected, sizeof expected, "keys %s, index and features", version_key[dl]);
    SL_CALL(sl_io_yaml_open(path, PIVOT_SPEC_MAX_BYTES, "feature spec", expected, &yf));
    root = fy_document_root(yf.doc);
    n = fy_node_mapping_lookup_by_string(root, version_key[!dl], FY_NT);
    if (n)
        SL_IO_YAML_FAIL(path, n, "this is a spec for %s (%s: 1); %s reads %s: 1",
                        dl == DIALECT_OMOP ? "FHIR exports" : "OMOP tables", version_key[!dl],
                        dl == DIALECT_OMOP ? "--omop" : "--fhir", version_key[dl]);
    SL_CALL(sl_io_yaml_known_keys(path, root, top[dl], ""));
    n = fy_node_mapping_lookup_by_string(root, version_key[dl], FY_NT);
    if (!n || (t = sl_io_yaml_scalar(n)) == NULL || strcmp(t, "1") != 0)
        SL_IO_YAML_FAIL(path, n ? n : root, "expected %s: 1 (the only spec version)",
                        version_key[dl]);
    n = fy_node_mapping_lookup_by_string(root, "index", FY_NT);
    t = sl_io_yaml_scalar(n);
    if (dl == DIALECT_OMOP && n && fy_node_is_mapping(n)) {
        static const char *const index_keys[] = {"cohort", NULL};
        SL_CALL(sl_io_yaml_known_keys(path, n, index_keys, " in 'index'"));
        SL_CALL(read_int(path, fy_node_mapping_lookup_by_string(n, "cohort", FY_NT),
                         "'cohort' in 'index' (a cohort_definition_id)", &g->cohort_id));
        g->index_kind = INDEX_COHORT;
    } else if (dl == DIALECT_OMOP && t && strcmp(t, "observation_period_start") == 0) {
        g->index_kind = INDEX_OBSERVATION;
    } else if (t && strcmp(t, dl == DIALECT_OMOP ? "first_visit" : "first_encounter") == 0) {
        g->index_kind = INDEX_FIRST_VISIT;
    } else if (!t || sl_parse_date(t, strlen(t), &g->index_date) != 0) {
        SL_IO_YAML_FAIL(path, n ? n : root, "expected 'index' to be %s", index_forms[dl]);
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
            if (dl == DIALECT_OMOP) {
                f->labels[0].concept = 8532;
                f->labels[1].concept = 8507;
            } else {
                SL_CALL(sl_pivot_code_intern(g, "female", 6, &f->labels[0].concept));
                SL_CALL(sl_pivot_code_intern(g, "male", 4, &f->labels[1].concept));
            }
            SL_CALL(add_level(f, "F", &f->labels[0].code));
            SL_CALL(add_level(f, "M", &f->labels[1].code));
            f->nlabels = 2;
        }
    }
cleanup:
    sl_io_yaml_close(&yf);
    return st;
}

/* ---- codes and progress ---- */

uint64_t sl_pivot_hash(const char *s, size_t n)
{
    static uint64_t key;
    static int keyed;
    uint64_t h;
    if (!keyed) {
        if (RAND_bytes((unsigned char *)&key, sizeof key) != 1)
            key = (uint64_t)(uintptr_t)&key ^ (uint64_t)time(NULL);
        keyed = 1;
    }
    h = 0xcbf29ce484222325ULL ^ key;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return sl_mix64(h ^ n);
}

static int code_is(const struct pivot *g, uint32_t id, const char *s, size_t n)
{
    const char *t = (const char *)g->codes.text->data + g->codes.off[id - 1];
    return strlen(t) == n && memcmp(t, s, n) == 0;
}

int64_t sl_pivot_code_find(const struct pivot *g, const char *s, size_t n)
{
    const struct codes *c = &g->codes;
    if (!c->nslots)
        return 0;
    size_t i = (size_t)sl_pivot_hash(s, n) & (c->nslots - 1);
    while (c->slot[i]) {
        if (code_is(g, c->slot[i], s, n))
            return c->slot[i];
        i = (i + 1) & (c->nslots - 1);
    }
    return 0;
}

const char *sl_pivot_code_text(const struct pivot *g, int64_t id)
{
    return (const char *)g->codes.text->data + g->codes.off[id - 1];
}

/* Doubles the lookup table (and first makes it). */
static sl_status codes_grow_slots(struct pivot *g)
{
    sl_status st = SL_OK;
    struct codes *c = &g->codes;
    size_t ns = c->nslots ? 2 * c->nslots : 1024;
    uint32_t *slot = sl_calloc(ns, sizeof *slot);
    SL_CHECK(slot, SL_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < c->n; k++) {
        const char *t = (const char *)c->text->data + c->off[k];
        size_t i = (size_t)sl_pivot_hash(t, strlen(t)) & (ns - 1);
        while (slot[i])
            i = (i + 1) & (ns - 1);
        slot[i] = (uint32_t)(k + 1);
    }
    sl_free(c->slot);
    c->slot = slot;
    c->nslots = ns;
cleanup:
    return st;
}

sl_status sl_pivot_code_intern(struct pivot *g, const char *s, size_t n, int64_t *id)
{
    sl_status st = SL_OK;
    struct codes *c = &g->codes;
    struct sl_secbuf *text = NULL;

    if ((*id = sl_pivot_code_find(g, s, n)) != 0)
        goto cleanup;
    SL_CHECK(c->n < PIVOT_MAX_CODES, SL_ERR_FORMAT,
             "more than %d distinct codes and units; expected a vocabulary, not free text",
             PIVOT_MAX_CODES);
    if (2 * (c->n + 1) > c->nslots)
        SL_CALL(codes_grow_slots(g));
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 256;
        size_t *off = sl_realloc(c->off, cap * sizeof *off);
        SL_CHECK(off, SL_ERR_NOMEM, "out of memory");
        c->off = off;
        c->cap = cap;
    }
    if (!c->text || c->used + n + 1 > c->text->size) {
        size_t size = c->text ? 2 * c->text->size : 65536;
        while (size < c->used + n + 1)
            size *= 2;
        SL_CALL(sl_secbuf_create(size, &text));
        if (c->used)
            memcpy(text->data, c->text->data, c->used);
        sl_secbuf_destroy(&c->text);
        c->text = text;
        text = NULL;
    }
    char *t = (char *)c->text->data + c->used;
    memcpy(t, s, n);
    t[n] = '\0';
    c->off[c->n] = c->used;
    c->used += n + 1;
    c->n++;
    size_t i = (size_t)sl_pivot_hash(s, n) & (c->nslots - 1);
    while (c->slot[i])
        i = (i + 1) & (c->nslots - 1);
    c->slot[i] = (uint32_t)c->n;
    *id = (int64_t)c->n;
cleanup:
    sl_secbuf_destroy(&text);
    return st;
}

void sl_pivot_progress(struct pivot *g, const char *path, int64_t rows, int64_t offset,
                       int64_t size, int force)
{
    double t;
    if (!g->o->progress)
        return;
    t = sl_pivot_now();
    if (!force && t - g->last_progress < PIVOT_PROGRESS_SECONDS)
        return;
    g->last_progress = t;
    sl_log_info("ingest %s: %lld rows (%.0f%% of the file)", path, (long long)rows,
                size > 0 ? 100.0 * (double)offset / (double)size : 100.0);
}

/* 1 when t[0, n) is a time of day HH:MM:SS, optionally with a fraction of a
 * second and a trailing Z or offset +HH:MM / -HH:MM. */
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
    if (i < n && t[i] == 'Z') {
        i++;
    } else if (i < n && (t[i] == '+' || t[i] == '-')) {
        const char *z = t + i + 1;
        if (n - i != 6 || z[2] != ':')
            return 0;
        for (int k = 0; k < 5; k += 3)
            if (z[k] < '0' || z[k] > '9' || z[k + 1] < '0' || z[k + 1] > '9')
                return 0;
        if ((z[0] - '0') * 10 + (z[1] - '0') > 14 || z[3] > '5')
            return 0;
        i = n;
    }
    return i == n;
}

int sl_pivot_parse_date(const char *s, size_t n, int32_t *days)
{
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    if (n > 10 && (s[10] == ' ' || s[10] == 'T') && is_time(s + 11, n - 11))
        n = 10;
    return sl_parse_date(s, n, days) == 0 ? 0 : -1;
}

static sl_status feature_state(struct feature *f, int64_t np)
{
    sl_status st = SL_OK;
    if (f->src == SRC_PERSON)
        goto cleanup;
    SL_CALL(sl_secbuf_create((size_t)np * sizeof(int64_t), &f->n));
    if (sl_pivot_numeric(f->agg))
        SL_CALL(sl_secbuf_create((size_t)np * sizeof(double), &f->val));
    if (f->agg == AGG_LATEST_CONCEPT)
        SL_CALL(sl_secbuf_create((size_t)np * sizeof(int64_t), &f->cv));
    if (sl_pivot_keeps_row(f->agg) || f->agg == AGG_DAYS_TO_FIRST)
        SL_CALL(sl_secbuf_create((size_t)np * sizeof(int32_t), &f->date));
    if (sl_pivot_keeps_row(f->agg))
        SL_CALL(sl_secbuf_create((size_t)np * sizeof(int64_t), &f->tie));
cleanup:
    return st;
}

static int cmp_match(const void *a, const void *b)
{
    const struct match *x = a, *y = b;
    if (x->concept != y->concept)
        return (x->concept > y->concept) - (x->concept < y->concept);
    return (x->feature > y->feature) - (x->feature < y->feature);
}

sl_status sl_pivot_matches(const struct pivot *g, enum source s, struct pivot_matches *m)
{
    sl_status st = SL_OK;
    size_t nm = 0, nall = 0;

    memset(m, 0, sizeof *m);
    for (int i = 0; i < g->nf; i++)
        if (g->f[i].src == s) {
            nm += (size_t)g->f[i].nconcepts;
            nall += (size_t)g->f[i].all_concepts;
        }
    m->mt = sl_malloc((nm ? nm : 1) * sizeof *m->mt);
    m->all = sl_malloc((nall ? nall : 1) * sizeof *m->all);
    SL_CHECK(m->mt && m->all, SL_ERR_NOMEM, "out of memory");
    for (int i = 0; i < g->nf; i++) {
        const struct feature *f = &g->f[i];
        if (f->src != s)
            continue;
        if (!m->nm && !m->nall)
            snprintf(m->why, sizeof m->why, "feature '%s' at %s:%d:%d reads it", f->name,
                     g->o->spec, f->line, f->col);
        for (int k = 0; k < f->nconcepts; k++)
            m->mt[m->nm++] = (struct match){f->concepts[k], i};
        if (f->all_concepts)
            m->all[m->nall++] = i;
    }
    qsort(m->mt, m->nm, sizeof *m->mt, cmp_match);
cleanup:
    return st;
}

size_t sl_pivot_match_first(const struct pivot_matches *m, int64_t concept)
{
    size_t lo = 0, hi = m->nm;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->mt[mid].concept < concept)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < m->nm && m->mt[lo].concept == concept ? lo : m->nm;
}

void sl_pivot_matches_free(struct pivot_matches *m)
{
    sl_free(m->mt);
    sl_free(m->all);
    memset(m, 0, sizeof *m);
}

sl_status sl_pivot_fold(struct feature *f, const struct pivot_event *e, int64_t p, int32_t rel,
                        const char *spec)
{
    sl_status st = SL_OK;
    int64_t *n = f->n->data;
    int64_t unit = 0, order = 0, cval = 0;
    int miss, unit_miss = 1;
    double v = NAN;

    if ((f->has_from && rel < f->from) || (f->has_to && rel > f->to))
        goto cleanup;
    if (e->unit && (f->has_unit || sl_pivot_numeric(f->agg))) {
        SL_CALL(e->unit(e->ctx, &unit, &unit_miss));
        if (f->has_unit && (unit_miss || unit != f->unit)) {
            /* a row without a value is in no unit: passed over, not counted */
            if (sl_pivot_numeric(f->agg))
                SL_CALL(e->value(e->ctx, &v, &miss));
            if (!sl_pivot_numeric(f->agg) || !miss)
                f->other_unit++;
            goto cleanup;
        }
    }
    if (f->agg == AGG_LATEST_CONCEPT) {
        SL_CALL(e->value_concept(e->ctx, &cval, &miss));
        if (miss || cval == 0) /* 0: no matching concept */
            goto cleanup;
    }
    if (sl_pivot_numeric(f->agg)) {
        SL_CALL(e->value(e->ctx, &v, &miss));
        if (miss)
            goto cleanup;
        if (!f->has_unit) {
            int64_t u = unit_miss ? INT64_MIN : unit;
            if (!f->unit_known) {
                f->unit_known = 1;
                f->unit_seen = u;
                f->unit_line = e->line(e->ctx);
            } else if (u != f->unit_seen) {
                char msg[512];
                snprintf(msg, sizeof msg,
                         "feature '%s' (%s:%d:%d) would mix values of two units: this unit "
                         "differs from line %lld's; expected one unit, or a 'unit' in the feature",
                         f->name, spec, f->line, f->col, (long long)f->unit_line);
                return e->unit_error(e->ctx, msg);
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
        SL_CALL(e->order(e->ctx, &order));
        if (n[p] == 0 || (later ? rel > d[p] : rel < d[p]) ||
            (rel == d[p] && (later ? order > tie[p] : order < tie[p]))) {
            d[p] = rel;
            tie[p] = order;
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

/* Takes each feature's excluded concepts (and, with `descendants`, theirs)
 * out of its concept set; a set left empty is an error. */
static sl_status apply_excludes(struct pivot *g)
{
    sl_status st = SL_OK;
    for (int i = 0; i < g->nf; i++) {
        struct feature *f = &g->f[i];
        int k = 0;
        if (!f->nexcl)
            continue;
        for (int j = 0; j < f->nconcepts; j++)
            if (!bsearch(&f->concepts[j], f->excl, (size_t)f->nexcl, sizeof *f->excl, sl_pivot_cmp_i64))
                f->concepts[k++] = f->concepts[j];
        f->nconcepts = k;
        SL_CHECK(k > 0, SL_ERR_FORMAT,
                 "%s:%d:%d: feature '%s' excludes every concept it lists; expected some left",
                 g->o->spec, f->line, f->col, f->name);
    }
cleanup:
    return st;
}

/* ---- output ---- */

/* The label of a FHIR code: the code without its system. */
static const char *code_label(const char *text)
{
    const char *bar = strrchr(text, '|');
    return bar ? bar + 1 : text;
}

/* A code by its label, for sorting. */
struct named {
    const char *label;
    int64_t id;
};

static int cmp_named(const void *a, const void *b)
{
    const struct named *x = a, *y = b;
    int c = strcmp(x->label, y->label);
    return c ? c : (x->id > y->id) - (x->id < y->id);
}

/* Levels of a concept-valued feature without `labels`: the concepts the
 * persons written hold (0 and missing excluded): OMOP concept ids in numeric
 * order, as text; FHIR codes without their system, in byte order. */
static sl_status concept_levels(struct pivot *g, struct feature *f)
{
    sl_status st = SL_OK;
    const int64_t *x = f->src == SRC_PERSON ? g->pf[f->field]->data : f->cv->data;
    const int64_t *has = f->src == SRC_PERSON ? NULL : f->n->data;
    const int32_t *index = g->index->data;
    struct sl_secbuf *tmp = NULL;
    struct named *byname = NULL;
    int64_t n = 0;

    SL_CALL(sl_secbuf_create((size_t)g->np * sizeof(int64_t), &tmp));
    int64_t *c = tmp->data;
    for (int64_t i = 0; i < g->np; i++)
        if (index[i] != SL_DATE_MISSING && (!has || has[i] > 0) && x[i] != SL_INT_MISSING &&
            x[i] != 0)
            c[n++] = x[i];
    qsort(c, (size_t)n, sizeof *c, sl_pivot_cmp_i64);
    {
        int64_t u = 0;
        for (int64_t i = 0; i < n; i++)
            if (i == 0 || c[i] != c[i - 1])
                c[u++] = c[i];
        n = u;
    }
    if (g->rd->dialect == DIALECT_FHIR && n > 1) {
        /* codes in byte order of their text, like levels found in a CSV */
        byname = sl_malloc((size_t)n * sizeof *byname);
        SL_CHECK(byname, SL_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; i < n; i++)
            byname[i] = (struct named){code_label(sl_pivot_code_text(g, c[i])), c[i]};
        qsort(byname, (size_t)n, sizeof *byname, cmp_named);
        for (int64_t i = 0; i < n; i++)
            c[i] = byname[i].id;
    }
    for (int64_t i = 0; i < n; i++) {
        SL_CHECK(f->nlevels < SL_SCHEMA_MAX_LEVELS, SL_ERR_FORMAT,
                 "feature '%s': more than %d distinct concepts", f->name, SL_SCHEMA_MAX_LEVELS);
        char text[24];
        const char *label = text;
        int32_t code;
        if (g->rd->dialect == DIALECT_OMOP) {
            snprintf(text, sizeof text, "%lld", (long long)c[i]);
        } else {
            label = code_label(sl_pivot_code_text(g, c[i]));
            SL_CHECK(*label && strlen(label) <= PIVOT_LEVEL_MAX, SL_ERR_FORMAT,
                     "feature '%s': a code is empty or longer than %d bytes; give 'labels'",
                     f->name, PIVOT_LEVEL_MAX);
        }
        struct label *more = sl_realloc(f->labels, (size_t)(f->nlabels + 1) * sizeof *more);
        SL_CHECK(more, SL_ERR_NOMEM, "out of memory");
        f->labels = more;
        int32_t before = f->nlevels;
        SL_CALL(add_level(f, label, &code));
        SL_CHECK(code == before, SL_ERR_FORMAT,
                 "feature '%s': two code systems share a code; give 'labels' to name them apart",
                 f->name);
        f->labels[f->nlabels++] = (struct label){c[i], code};
    }
cleanup:
    sl_free(byname);
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
    return sl_pivot_cmp_i64(&((const struct label *)a)->concept, &((const struct label *)b)->concept);
}

static sl_status build_columns(struct pivot *g, struct sl_colinfo **out)
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
            c->type = sl_pivot_numeric(f->agg) ? SL_COL_REAL : SL_COL_INT;
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
static int convert(const struct pivot *g, const struct feature *f, int64_t p, unsigned char *dst)
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

static sl_status write_cohort(struct pivot *g, const struct sl_colinfo *cols, int64_t chunk_rows,
                              int64_t *written)
{
    sl_status st = SL_OK;
    struct sl_cohort_writer *w = NULL;
    struct sl_secbuf **bufs = NULL;
    const void **ptrs = NULL;
    int ncols = g->nf + 1;
    int64_t fill = 0, rows = 0;
    const int32_t *index = g->index->data;
    char text[SL_PIVOT_ID_MAX + 1];

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
        size_t n = g->rd->id_text(g, p, text, sizeof text);
        SL_CHECK(n > 0, SL_ERR_FORMAT, "a person id is longer than %zu bytes", sizeof text - 1);
        SL_CALL(sl_pseudonym(g->pn, text, n,
                             (unsigned char *)bufs[0]->data + (size_t)fill * SL_ID_BYTES));
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
    SL_CHECK(rows > 0, SL_ERR_FORMAT, "%s: no person has an index date (%s); expected at least one",
             g->o->dir, g->rd->no_index(g));
    if (fill > 0)
        SL_CALL(sl_cohort_writer_append(w, fill, ptrs));
    SL_CALL(sl_cohort_writer_finish(w));
    *written = rows;
cleanup:
    sl_wipe(text, sizeof text);
    sl_cohort_writer_destroy(&w);
    if (bufs)
        for (int j = 0; j < ncols; j++)
            sl_secbuf_destroy(&bufs[j]);
    sl_free(bufs);
    sl_free(ptrs);
    return st;
}

static void pivot_free(struct pivot *g)
{
    for (int i = 0; g->f && i < g->nf; i++) {
        struct feature *f = &g->f[i];
        sl_free(f->name);
        sl_free(f->system);
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
    if (g->rd && g->rs)
        g->rd->free(g);
    for (int k = 0; k < NPF; k++)
        sl_secbuf_destroy(&g->pf[k]);
    sl_secbuf_destroy(&g->index);
    sl_secbuf_destroy(&g->codes.text);
    sl_free(g->codes.off);
    sl_free(g->codes.slot);
    sl_pseudonymizer_destroy(&g->pn);
}

void sl_omop_stats_clear(struct sl_omop_stats *stats)
{
    sl_free(stats->present);
    memset(stats, 0, sizeof *stats);
}

sl_status sl_pivot_ingest(const struct sl_omop_opts *o, const struct pivot_reader *rd,
                          void *reader_state, struct sl_omop_stats *stats)
{
    sl_status st = SL_OK;
    struct pivot g;
    struct sl_colinfo *cols = NULL;
    int64_t chunk_rows, written = 0, *present = NULL;
    struct stat sb;

    memset(&g, 0, sizeof g);
    g.o = o;
    g.rd = rd;
    g.rs = reader_state;
    SL_CHECK(o && o->dir && o->spec && (o->check || (o->out && o->kek)), SL_ERR_ARG,
             "ingest needs a %s, a feature spec, an output cohort and a key", rd->files);
    chunk_rows = o->chunk_rows > 0 ? o->chunk_rows : SL_DEFAULT_CHUNK_ROWS;
    SL_CHECK(chunk_rows <= SL_MAX_CHUNK_ROWS, SL_ERR_ARG, "chunk rows must be at most %d",
             SL_MAX_CHUNK_ROWS);
    SL_CHECK(o->check || stat(o->out, &sb) != 0, SL_ERR_EXISTS,
             "%s already exists; refusing to overwrite it", o->out);
    SL_CHECK(stat(o->dir, &sb) == 0 && S_ISDIR(sb.st_mode), SL_ERR_IO,
             "%s: not a folder; expected the %s", o->dir, rd->files);
    g.t0 = g.last_progress = sl_pivot_now();
    SL_CALL(read_spec(&g));
    if (rd->prepare)
        SL_CALL(rd->prepare(&g));
    SL_CALL(apply_excludes(&g));
    if (!o->check)
        SL_CALL(sl_pseudonymizer_create(o->kek, o->project, &g.pn));
    SL_CALL(rd->persons(&g));
    SL_CALL(sl_secbuf_create((size_t)(g.np ? g.np : 1) * sizeof(int32_t), &g.index));
    for (int64_t i = 0; i < g.np; i++)
        ((int32_t *)g.index->data)[i] = g.index_kind == INDEX_DATE ? g.index_date
                                                                    : SL_DATE_MISSING;
    SL_CALL(rd->index(&g));
    for (int i = 0; i < g.nf; i++)
        SL_CALL(feature_state(&g.f[i], g.np));
    for (int s = SRC_PERSON + 1; s < NSRC; s++)
        if (g.need_src[s])
            SL_CALL(rd->events(&g, (enum source)s));
    if (o->check) {
        if (stats) {
            stats->ncols = g.nf + 1;
            stats->tables = g.tables;
            stats->seconds = sl_pivot_now() - g.t0;
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
        stats->seconds = sl_pivot_now() - g.t0;
    }
cleanup:
    sl_free(present);
    sl_free(cols);
    pivot_free(&g);
    return st;
}
