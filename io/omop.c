/*
 * omop.c: OMOP CDM tables as CSV, the pivot's first reader (omop.h,
 * pivot_impl.h).
 *
 * person.csv is read into secret memory (ids, and the fields the spec asks
 * for) with an open-addressing table from person_id to row; then the index
 * dates; then each event table the spec needs, once, streaming: a row's
 * concept is looked up among the (concept, feature) pairs of that table, and
 * only a matching row's person and date are parsed before it is folded; its
 * unit and value are parsed when a feature asks for them.
 */
#include "io/omop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "io/csv.h"
#include "io/format.h"
#include "io/hash_impl.h"
#include "io/pivot_impl.h"
#include "io/schema.h"

#define OMOP_MAX_EXPANDED 10000000

/* Each source's table and its columns. */
struct table_desc {
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
    [SRC_PERSON] = {.table = "person"},
    [SRC_MEASUREMENT] = {.table = "measurement",
                         .row_id = "measurement_id", .concept = "measurement_concept_id",
                         .date = "measurement_date", .value = "value_as_number",
                         .unit = "unit_concept_id", .value_concept = "value_as_concept_id"},
    [SRC_OBSERVATION] = {.table = "observation",
                         .row_id = "observation_id", .concept = "observation_concept_id",
                         .date = "observation_date", .value = "value_as_number",
                         .unit = "unit_concept_id", .value_concept = "value_as_concept_id"},
    [SRC_CONDITION] = {.table = "condition_occurrence",
                       .row_id = "condition_occurrence_id", .concept = "condition_concept_id",
                       .date = "condition_start_date"},
    [SRC_DRUG] = {.table = "drug_exposure", .row_id = "drug_exposure_id",
                  .concept = "drug_concept_id", .date = "drug_exposure_start_date"},
    [SRC_PROCEDURE] = {.table = "procedure_occurrence",
                       .row_id = "procedure_occurrence_id", .concept = "procedure_concept_id",
                       .date = "procedure_date"},
    [SRC_VISIT] = {.table = "visit_occurrence", .row_id = "visit_occurrence_id",
                   .concept = "visit_concept_id", .date = "visit_start_date"},
    [SRC_DEATH] = {.table = "death", .concept = "cause_concept_id",
                   .concept_nullable = 1, .date = "death_date"},
};

static const char *const pf_columns[NPF] = {"gender_concept_id", "year_of_birth",
                                            "year_of_birth", "race_concept_id",
                                            "ethnicity_concept_id"};

/* The reader's state: persons by id. */
struct omop {
    struct sl_secbuf *pid;  /* int64 [np] clear person ids (secret) */
    int64_t *pline;         /* [np] line of each person in person.csv */
    struct sl_secbuf *slots;/* struct slot [nslots], open addressing (secret) */
    size_t nslots;
    int64_t last_id, last_row;  /* the person found last (secret), row -1 if none */
    const char *opened[NSRC + 4]; /* tables opened so far (a table read twice counts once) */
    int nopened;
};

/* Reads the next row of a table into the reader (*got 0 at the end),
 * counting rows and reporting progress every few seconds. */
static sl_status next_row(struct pivot *g, struct sl_csv *csv, int64_t *rows, int *got)
{
    sl_status st = SL_OK;
    SL_CALL(sl_csv_next(csv, got));
    if (*got && (++*rows & 0xFFFF) == 0)
        sl_pivot_progress(g, sl_csv_path(csv), *rows, sl_csv_offset(csv), sl_csv_size(csv), 0);
cleanup:
    return st;
}

/* Opens the first of <dir>/<table>.csv, <TABLE>.csv, <table>.tsv and
 * <TABLE>.tsv that exists (.tsv: tab-separated), each also as .csv.gz or
 * .tsv.gz (gzip-compressed: the CSV reader inflates it); a file beside its
 * own gzip copy is refused, as it would hold the table twice. */
static sl_status open_table(struct pivot *g, const char *table, const char *why,
                            struct sl_csv **csv)
{
    static const char *const ext[] = {"csv", "tsv"};
    sl_status st = SL_OK;
    char path[4][512], gz[sizeof path[0] + 3];
    struct stat sb;

    for (int k = 0; k < 4; k++) {
        size_t n = (size_t)snprintf(path[k], sizeof path[k], "%s/%s.%s", g->o->dir, table,
                                    ext[k / 2]);
        int plain, packed;
        SL_CHECK(n < sizeof path[k], SL_ERR_ARG, "%s: the folder name is too long", g->o->dir);
        for (size_t i = strlen(g->o->dir) + 1; k % 2 && i < n - 4; i++)
            if (path[k][i] >= 'a' && path[k][i] <= 'z')
                path[k][i] = (char)(path[k][i] - 'a' + 'A');
        snprintf(gz, sizeof gz, "%.511s.gz", path[k]);
        plain = stat(path[k], &sb) == 0;
        packed = stat(gz, &sb) == 0;
        SL_CHECK(!(plain && packed), SL_ERR_FORMAT,
                 "%s and %s.gz: the same table twice, plain and compressed; expected one of "
                 "them",
                 path[k], path[k]);
        if (plain || packed) {
            struct omop *rs = g->rs;
            int seen = 0;
            SL_CALL(sl_csv_open_delim(plain ? path[k] : gz, k < 2 ? ',' : '\t', csv));
            for (int i = 0; i < rs->nopened; i++)
                seen |= strcmp(rs->opened[i], table) == 0;
            if (!seen && rs->nopened < (int)(sizeof rs->opened / sizeof *rs->opened)) {
                rs->opened[rs->nopened++] = table;
                g->tables++;
            }
            goto cleanup;
        }
    }
    SL_FAIL(SL_ERR_IO, "%s: no such file, nor a .tsv, upper-case or .gz one; expected the "
                       "table %s (%s)",
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

/* A date, YYYY-MM-DD, or a date and time (YYYY-MM-DD HH:MM:SS, or with a T,
 * as databases export their date columns) of which the date counts. */
static sl_status field_date(struct sl_csv *csv, int col, int32_t *v)
{
    static const char *const expected = "expected a date YYYY-MM-DD, optionally with a time";
    size_t n;
    const char *s = sl_csv_field(csv, col, &n);
    if (sl_csv_missing(csv, col))
        return sl_csv_field_error(csv, col, SL_ERR_FORMAT, "missing, %s", expected);
    if (sl_pivot_parse_date(s, n, v) != 0)
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
static int64_t person_find(const struct omop *rs, int64_t id)
{
    const struct slot *slot = rs->slots->data;
    size_t i = (size_t)sl_mix64((uint64_t)id) & (rs->nslots - 1);
    while (slot[i].row1) {
        if (slot[i].id == id)
            return slot[i].row1 - 1;
        i = (i + 1) & (rs->nslots - 1);
    }
    return -1;
}

/* Counts person.csv's rows, then reads ids and fields into secret memory. */
static sl_status read_persons(struct pivot *g)
{
    struct omop *rs = g->rs;
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
    rs->nslots = 16;
    while (rs->nslots < (size_t)g->np * 2)
        rs->nslots *= 2;
    SL_CALL(sl_secbuf_create((size_t)g->np * sizeof(int64_t), &rs->pid));
    SL_CALL(sl_secbuf_create(rs->nslots * sizeof(struct slot), &rs->slots));
    rs->pline = sl_malloc((size_t)g->np * sizeof *rs->pline);
    SL_CHECK(rs->pline, SL_ERR_NOMEM, "out of memory for %lld persons", (long long)g->np);
    for (int k = 0; k < NPF; k++)
        if (g->need_pf[k])
            SL_CALL(sl_secbuf_create((size_t)g->np * sizeof(int64_t), &g->pf[k]));
    int64_t *pid = rs->pid->data;
    struct slot *slot = rs->slots->data;
    for (;;) {
        SL_CALL(sl_csv_next(csv, &got));
        if (!got)
            break;
        SL_CHECK(r < g->np, SL_ERR_IO, "%s: the file changed during ingest", sl_csv_path(csv));
        SL_CALL(field_int(csv, idc, 0, &v, &miss));
        size_t i = (size_t)sl_mix64((uint64_t)v) & (rs->nslots - 1);
        while (slot[i].row1) {
            if (slot[i].id == v)
                SL_FAIL(SL_ERR_FORMAT, "%s:%lld: person_id repeats line %lld, expected one row "
                                       "per person",
                        sl_csv_path(csv), (long long)sl_csv_line(csv),
                        (long long)rs->pline[slot[i].row1 - 1]);
            i = (i + 1) & (rs->nslots - 1);
        }
        pid[r] = v;
        slot[i] = (struct slot){v, r + 1};
        rs->pline[r] = sl_csv_line(csv);
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
static sl_status row_person(struct pivot *g, struct sl_csv *csv, int idc, int64_t *p)
{
    struct omop *rs = g->rs;
    sl_status st = SL_OK;
    int64_t v;
    int miss;
    SL_CALL(field_int(csv, idc, 0, &v, &miss));
    if (rs->last_row >= 0 && rs->last_id == v) {
        *p = rs->last_row;
        goto cleanup;
    }
    *p = person_find(rs, v);
    rs->last_id = v;
    rs->last_row = *p;
    if (*p < 0)
        st = sl_csv_field_error(csv, idc, SL_ERR_FORMAT,
                                "no such person in person.csv, expected every event's person "
                                "to be there");
cleanup:
    return st;
}

static sl_status read_index(struct pivot *g)
{
    sl_status st = SL_OK;
    struct sl_csv *csv = NULL;
    int idc, dc, cc = -1, got, miss;
    int64_t p, def, rows = 0;
    int32_t d, *index;

    index = g->index->data;
    if (g->index_kind == INDEX_DATE)
        goto cleanup;
    if (g->index_kind == INDEX_OBSERVATION) {
        SL_CALL(open_table(g, "observation_period", "index: observation_period_start reads it",
                           &csv));
        SL_CALL(find_column(csv, "person_id", &idc));
        SL_CALL(find_column(csv, "observation_period_start_date", &dc));
    } else if (g->index_kind == INDEX_FIRST_VISIT) {
        SL_CALL(open_table(g, "visit_occurrence", "index: first_visit reads it", &csv));
        SL_CALL(find_column(csv, "person_id", &idc));
        SL_CALL(find_column(csv, "visit_start_date", &dc));
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
    qsort(all, (size_t)total, sizeof *all, sl_pivot_cmp_i64);
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
static sl_status expand_descendants(struct pivot *g)
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
            int in = bsearch(&anc, f->concepts, (size_t)f->nconcepts, sizeof anc, sl_pivot_cmp_i64) != NULL;
            int out = f->nexcl > 0 &&
                      bsearch(&anc, f->excl, (size_t)f->nexcl, sizeof anc, sl_pivot_cmp_i64) != NULL;
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

/* The current row of an event table, for sl_pivot_fold. cols: row id,
 * value_as_concept_id, (unused), value_as_number, unit_concept_id. */
struct omop_row {
    struct sl_csv *csv;
    int cols[5];
};

static sl_status row_unit(void *ctx, int64_t *unit, int *miss)
{
    const struct omop_row *r = ctx;
    if (r->cols[4] < 0) {
        *miss = 1;
        return SL_OK;
    }
    return field_int(r->csv, r->cols[4], 1, unit, miss);
}

static sl_status row_value(void *ctx, double *v, int *miss)
{
    const struct omop_row *r = ctx;
    size_t len;
    const char *s = sl_csv_field(r->csv, r->cols[3], &len);
    *miss = sl_csv_missing(r->csv, r->cols[3]);
    if (!*miss && sl_parse_real(s, len, v) != 0)
        return sl_csv_field_error(r->csv, r->cols[3], SL_ERR_FORMAT, "expected a number");
    return SL_OK;
}

static sl_status row_value_concept(void *ctx, int64_t *c, int *miss)
{
    const struct omop_row *r = ctx;
    return field_int(r->csv, r->cols[1], 1, c, miss);
}

static sl_status row_order(void *ctx, int64_t *order)
{
    const struct omop_row *r = ctx;
    int miss;
    return field_int(r->csv, r->cols[0], 0, order, &miss);
}

static int64_t row_line(void *ctx)
{
    const struct omop_row *r = ctx;
    return sl_csv_line(r->csv);
}

static sl_status row_unit_error(void *ctx, const char *msg)
{
    const struct omop_row *r = ctx;
    return sl_csv_field_error(r->csv, r->cols[4], SL_ERR_FORMAT, "%s", msg);
}

static sl_status read_events(struct pivot *g, enum source s)
{
    sl_status st = SL_OK;
    const struct table_desc *t = &tables[s];
    struct sl_csv *csv = NULL;
    struct pivot_matches m;
    struct omop_row row = {NULL, {-1, -1, -1, -1, -1}};
    const struct pivot_event ev = {&row, row_unit, row_value, row_value_concept,
                                   row_order, row_line, row_unit_error};
    int idc, cc, dc, got, miss;
    int64_t rows = 0, p, concept;
    int32_t d;
    const int32_t *index = g->index->data;

    SL_CALL(sl_pivot_matches(g, s, &m));
    SL_CALL(open_table(g, t->table, m.why, &csv));
    row.csv = csv;
    SL_CALL(find_column(csv, "person_id", &idc));
    SL_CALL(find_column(csv, t->concept, &cc));
    SL_CALL(find_column(csv, t->date, &dc));
    for (int i = 0; i < g->nf; i++) {
        const struct feature *f = &g->f[i];
        if (f->src != s)
            continue;
        if (sl_pivot_keeps_row(f->agg) && row.cols[0] < 0)
            SL_CALL(find_column(csv, t->row_id, &row.cols[0]));
        if (f->agg == AGG_LATEST_CONCEPT && row.cols[1] < 0)
            SL_CALL(find_column(csv, t->value_concept, &row.cols[1]));
        if (sl_pivot_numeric(f->agg) && row.cols[3] < 0)
            SL_CALL(find_column(csv, t->value, &row.cols[3]));
        if ((sl_pivot_numeric(f->agg) || f->has_unit) && row.cols[4] < 0)
            SL_CALL(find_column(csv, t->unit, &row.cols[4]));
    }
    if (g->o->check)
        goto cleanup;
    for (;;) {
        SL_CALL(next_row(g, csv, &rows, &got));
        if (!got)
            break;
        SL_CALL(field_int(csv, cc, t->concept_nullable, &concept, &miss));
        size_t lo = miss ? m.nm : sl_pivot_match_first(&m, concept);
        if (lo == m.nm && m.nall == 0)
            continue;
        SL_CALL(row_person(g, csv, idc, &p));
        if (index[p] == SL_DATE_MISSING)
            continue;
        SL_CALL(field_date(csv, dc, &d));
        int32_t rel = d - index[p];
        for (size_t k = lo; k < m.nm && m.mt[k].concept == concept; k++)
            SL_CALL(sl_pivot_fold(&g->f[m.mt[k].feature], &ev, p, rel, g->o->spec));
        for (size_t k = 0; k < m.nall; k++)
            SL_CALL(sl_pivot_fold(&g->f[m.all[k]], &ev, p, rel, g->o->spec));
    }
    sl_pivot_progress(g, sl_csv_path(csv), rows, sl_csv_offset(csv), sl_csv_size(csv), 1);
    g->events += rows;
cleanup:
    sl_csv_close(&csv);
    sl_pivot_matches_free(&m);
    return st;
}

static size_t omop_id_text(const struct pivot *g, int64_t p, char *buf, size_t cap)
{
    const struct omop *rs = g->rs;
    int n = snprintf(buf, cap, "%lld", (long long)((const int64_t *)rs->pid->data)[p]);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static const char *omop_no_index(const struct pivot *g)
{
    return g->index_kind == INDEX_COHORT        ? "no subject of the cohort in cohort.csv"
           : g->index_kind == INDEX_FIRST_VISIT ? "no visit in visit_occurrence.csv"
                                                : "no observation period in observation_period.csv";
}

static sl_status omop_prepare(struct pivot *g)
{
    return g->need_ancestors ? expand_descendants(g) : SL_OK;
}

static void omop_free(struct pivot *g)
{
    struct omop *rs = g->rs;
    sl_secbuf_destroy(&rs->pid);
    sl_secbuf_destroy(&rs->slots);
    sl_free(rs->pline);
    sl_wipe(&rs->last_id, sizeof rs->last_id);
}

static const struct pivot_reader omop_reader = {
    .dialect = DIALECT_OMOP,
    .files = "folder of OMOP tables as CSV",
    .prepare = omop_prepare,
    .persons = read_persons,
    .index = read_index,
    .events = read_events,
    .id_text = omop_id_text,
    .no_index = omop_no_index,
    .free = omop_free,
};

sl_status sl_omop_ingest(const struct sl_omop_opts *o, struct sl_omop_stats *stats)
{
    struct omop rs = {.last_row = -1};
    return sl_pivot_ingest(o, &omop_reader, &rs, stats);
}
