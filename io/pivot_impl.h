/*
 * pivot_impl.h: event records -> one row per person (private to io/).
 *
 * OMOP CDM tables and FHIR Bulk Data exports both hold one record per
 * clinical event, and both are turned into person-level cohorts by the same
 * feature spec language (docs/omop.md, docs/fhir.md). pivot.c owns what the
 * two share: the spec, the per-person feature state and how an event is
 * folded into it, the cohort's columns and the writing. A reader (omop.c,
 * fhir.c) owns its files: it finds persons, index dates and events, and
 * hands each matching event to sl_pivot_fold through a small table of
 * functions that fetch the event's fields on demand, so that a row is
 * parsed only as far as some feature needs it.
 *
 * Codes: OMOP concept ids are integers. FHIR codes are `system|code`
 * strings; the spec's codes, and the units and value codes met in the data,
 * are interned into small integers (1, 2, ...; 0 is "no concept"), so the
 * feature machinery sees integers in both dialects.
 */
#ifndef SL_IO_PIVOT_IMPL_H
#define SL_IO_PIVOT_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/secbuf.h"
#include "engine/core/status.h"
#include "io/omop.h"
#include "io/schema.h"

enum source { SRC_PERSON, SRC_MEASUREMENT, SRC_OBSERVATION, SRC_CONDITION, SRC_DRUG,
              SRC_PROCEDURE, SRC_VISIT, SRC_DEATH, NSRC };
enum agg { AGG_ANY, AGG_COUNT, AGG_DAYS_TO_FIRST, AGG_LATEST, AGG_EARLIEST, AGG_MEAN, AGG_MIN,
           AGG_MAX, AGG_LATEST_CONCEPT, NAGG };
enum pfield { PF_GENDER, PF_AGE, PF_YOB, PF_RACE, PF_ETHNICITY, NPF };
enum dialect { DIALECT_OMOP, DIALECT_FHIR };

/* Longest person id text (a FHIR id has at most 64 characters). */
#define SL_PIVOT_ID_MAX 256
/* The code system of US Core's race and ethnicity categories. */
#define SL_FHIR_OMB_SYSTEM "urn:oid:2.16.840.1.113883.6.238"

/* value_as_number features, and those that keep the latest or earliest row. */
static inline int sl_pivot_numeric(enum agg a) { return a >= AGG_LATEST && a <= AGG_MAX; }
static inline int sl_pivot_keeps_row(enum agg a)
{
    return a == AGG_LATEST || a == AGG_EARLIEST || a == AGG_LATEST_CONCEPT;
}

static inline int sl_pivot_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

struct label {
    int64_t concept;
    int32_t code;           /* index into the feature's levels */
};

struct feature {
    char *name;
    char *system;           /* FHIR: the system of bare codes, or NULL */
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

/* Interned code strings (FHIR): id k is text + off[k - 1]. The text is in
 * secret memory (units and value codes come from the data). */
struct codes {
    struct sl_secbuf *text;
    size_t used;
    size_t *off;            /* [n] */
    uint32_t *slot;         /* open addressing: id, 0 = empty */
    size_t n, cap, nslots;
};

/* INDEX_FIRST_VISIT: OMOP's first_visit (visit_occurrence), FHIR's
 * first_encounter (Encounter). */
enum index_kind { INDEX_DATE, INDEX_OBSERVATION, INDEX_COHORT, INDEX_FIRST_VISIT };

struct pivot;

/* A reader: the files of one dialect. */
struct pivot_reader {
    enum dialect dialect;
    const char *files;      /* "folder of OMOP tables as CSV" */
    /* After the spec: vocabulary work (OMOP descendants); may be NULL. */
    sl_status (*prepare)(struct pivot *g);
    /* Sets np, pf[] (the fields need_pf asks for) and the reader's person
     * lookup; with check, only looks at the files. */
    sl_status (*persons)(struct pivot *g);
    /* Fills index[] (created by the pivot) for the dialect's index kinds. */
    sl_status (*index)(struct pivot *g);
    /* Folds the events of source s into the features that read it. */
    sl_status (*events)(struct pivot *g, enum source s);
    /* The id text of person p into buf (secret); its length, or 0 if it does
     * not fit. */
    size_t (*id_text)(const struct pivot *g, int64_t p, char *buf, size_t cap);
    /* Why nobody has an index date, for the error. */
    const char *(*no_index)(const struct pivot *g);
    void (*free)(struct pivot *g);
};

struct pivot {
    const struct sl_omop_opts *o;
    const struct pivot_reader *rd;
    void *rs;               /* the reader's state */
    struct feature *f;
    int nf;
    enum index_kind index_kind;
    int32_t index_date;     /* INDEX_DATE */
    int64_t cohort_id;      /* INDEX_COHORT: cohort_definition_id */
    int need_pf[NPF];
    int need_ancestors;     /* some feature asks for descendants */
    int need_src[NSRC];
    int64_t np;             /* persons */
    struct sl_secbuf *pf[NPF]; /* int64 [np] person fields the spec needs */
    struct sl_secbuf *index;/* int32 [np] index date, SL_DATE_MISSING if none */
    struct codes codes;     /* FHIR: interned code strings */
    struct sl_pseudonymizer *pn;
    double t0, last_progress;
    int64_t events;
    int tables;             /* tables (resource types) opened */
};

/* The fields of the current event, fetched on demand (ctx: the reader's). */
struct pivot_event {
    void *ctx;
    /* The unit (*miss when the event has none). */
    sl_status (*unit)(void *ctx, int64_t *unit, int *miss);
    /* The numeric value (*miss when the event has none). */
    sl_status (*value)(void *ctx, double *v, int *miss);
    /* The value as a concept (*miss when none). */
    sl_status (*value_concept)(void *ctx, int64_t *c, int *miss);
    /* The event's order among events of its date (larger: later). */
    sl_status (*order)(void *ctx, int64_t *order);
    /* Line of the event, for messages. */
    int64_t (*line)(void *ctx);
    /* Records SL_ERR_FORMAT with the event's place and `msg` at its unit. */
    sl_status (*unit_error)(void *ctx, const char *msg);
};

/* The (concept, feature) pairs of one source, sorted, and the features that
 * take every event of it (death: any). */
struct match {
    int64_t concept;
    int feature;
};
struct pivot_matches {
    struct match *mt;
    size_t nm;
    int *all;
    size_t nall;
    char why[160];          /* "feature 'x' at spec:3:9 reads it", for a missing file */
};
sl_status sl_pivot_matches(const struct pivot *g, enum source s, struct pivot_matches *m);
/* Index of the first pair of `concept`, or m->nm if none. */
size_t sl_pivot_match_first(const struct pivot_matches *m, int64_t concept);
void sl_pivot_matches_free(struct pivot_matches *m);

/* Parses a date YYYY-MM-DD, optionally followed by a time (' ' or 'T',
 * HH:MM:SS, a fraction, and Z or an offset +HH:MM), of which the date
 * counts. 0, or -1 when malformed. */
int sl_pivot_parse_date(const char *s, size_t n, int32_t *days);

double sl_pivot_now(void);

/* Logs "ingest PATH: ROWS rows (P% of the file)" every few seconds, or now
 * with force, when the options ask for progress. */
void sl_pivot_progress(struct pivot *g, const char *path, int64_t rows, int64_t offset,
                       int64_t size, int force);

/* Folds event e of person p (rel: days from the index date) into f. */
sl_status sl_pivot_fold(struct feature *f, const struct pivot_event *e, int64_t p, int32_t rel,
                        const char *spec);

/* Id of code text s[0, n), or 0 when it was never interned. */
int64_t sl_pivot_code_find(const struct pivot *g, const char *s, size_t n);
/* Id of code text s[0, n), interned if new. SL_ERR_NOMEM, SL_ERR_FORMAT past
 * a million codes. */
sl_status sl_pivot_code_intern(struct pivot *g, const char *s, size_t n, int64_t *id);
/* Text of code id (NUL-terminated, secret, borrowed). */
const char *sl_pivot_code_text(const struct pivot *g, int64_t id);

/* Keyed 64-bit hash of bytes for the readers' tables (a per-process key, so
 * that crafted ids cannot pile up in one slot). */
uint64_t sl_pivot_hash(const char *s, size_t n);

/* Runs the whole ingest with reader rd (sl_omop_ingest, sl_fhir_ingest). */
sl_status sl_pivot_ingest(const struct sl_omop_opts *o, const struct pivot_reader *rd,
                          void *reader_state, struct sl_omop_stats *stats);

#endif
