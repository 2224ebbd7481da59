/*
 * ingest.c: CSV export -> encrypted cohort (ingest.h).
 *
 * Pass 1 streams the CSV once to check or infer every column's type, collect
 * category levels and find repeated patient ids; nothing is written. (A
 * column that looks numeric at first and then turns out categorical gets its
 * levels from one more scan, so numeric columns never pay for hashing.) Pass 2
 * streams it again and converts each record straight into per-column batch
 * buffers in secret memory, which the cohort writer seals chunk by chunk.
 *
 * Repeated ids are found without keeping any id: pass 1 keeps a 64-bit hash
 * of each id (seeded at random per run) and the line it came from; lines
 * whose hashes meet are then confirmed (or cleared, for a mere hash
 * collision) by comparing the ids' HMACs in a short extra scan, so a
 * duplicate is reported before any chunk is written and the error names only
 * line numbers.
 */
#include "io/ingest.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

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
#include "io/ssl_impl.h"

#define SL_INGEST_PROGRESS_SECONDS 2.0
#define SL_INGEST_MAX_CHUNK_ROWS (1 << 24)

/* ---- a set of strings with dense codes (category levels) ---- */

/* A slot holds the high half of the string's hash, so most probes that miss
 * are settled without touching the entries or the strings. */
struct strset_slot {
    uint32_t tag;            /* hash >> 32 */
    int32_t idx;             /* entry index + 1, 0 = empty */
};

struct strset_ent {
    uint64_t hash;
    size_t off;              /* arena offset of the NUL-terminated string */
    size_t len;
};

struct strset {
    struct sl_secbuf *arena; /* secret: category labels, back to back */
    size_t used;
    struct strset_ent *ent;  /* [cap] */
    int32_t n, cap;
    struct strset_slot *slot;/* [nslots] */
    size_t nslots;           /* power of two */
};


static uint64_t hash_bytes(const char *s, size_t n, uint64_t seed)
{
    uint64_t h = seed ^ (n * 0x9E3779B97F4A7C15ull);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = sl_mix64(h ^ w);
    }
    uint64_t t = 0;
    for (size_t k = 0; i < n; i++, k += 8)
        t |= (uint64_t)(unsigned char)s[i] << k;
    return sl_mix64(h ^ t);
}

#define SL_STRSET_SEED 0x5EED1E7E15ull

static void strset_free(struct strset *s)
{
    sl_secbuf_destroy(&s->arena);
    sl_free(s->ent);
    sl_free(s->slot);
    memset(s, 0, sizeof *s);
}

static int32_t strset_find(const struct strset *s, const char *str, size_t n, uint64_t h)
{
    if (!s->slot)
        return -1;
    size_t mask = s->nslots - 1;
    uint32_t tag = (uint32_t)(h >> 32);
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        const struct strset_slot *sl = &s->slot[i];
        if (sl->idx == 0)
            return -1;
        if (sl->tag != tag)
            continue;
        const struct strset_ent *e = &s->ent[sl->idx - 1];
        if (e->hash == h && e->len == n &&
            memcmp((const char *)s->arena->data + e->off, str, n) == 0)
            return sl->idx - 1;
    }
}

static void strset_place(struct strset_slot *slot, size_t nslots, uint64_t h, int32_t e)
{
    size_t i = (size_t)h & (nslots - 1);
    while (slot[i].idx)
        i = (i + 1) & (nslots - 1);
    slot[i].tag = (uint32_t)(h >> 32);
    slot[i].idx = e + 1;
}

static sl_status strset_rehash(struct strset *s, size_t nslots)
{
    sl_status st = SL_OK;
    struct strset_slot *slot = sl_calloc(nslots, sizeof *slot);
    SL_CHECK(slot, SL_ERR_NOMEM, "out of memory");
    for (int32_t e = 0; e < s->n; e++)
        strset_place(slot, nslots, s->ent[e].hash, e);
    sl_free(s->slot);
    s->slot = slot;
    s->nslots = nslots;
cleanup:
    return st;
}

/* Adds str (if absent) and sets *code to its index. */
static sl_status strset_add(struct strset *s, const char *str, size_t n, int32_t *code)
{
    sl_status st = SL_OK;
    uint64_t h = hash_bytes(str, n, SL_STRSET_SEED);
    int32_t e = strset_find(s, str, n, h);
    struct sl_secbuf *na = NULL;

    if (e >= 0) {
        *code = e;
        goto cleanup;
    }
    if (s->n == s->cap) {
        int32_t ncap = s->cap ? s->cap * 2 : 16;
        struct strset_ent *ne = sl_realloc(s->ent, (size_t)ncap * sizeof *ne);
        SL_CHECK(ne, SL_ERR_NOMEM, "out of memory");
        s->ent = ne;
        s->cap = ncap;
    }
    if (!s->arena || s->used + n + 1 > s->arena->size) {
        size_t want = s->arena ? s->arena->size * 2 : 4096;
        while (want < s->used + n + 1)
            want *= 2;
        SL_CALL(sl_secbuf_create(want, &na));
        if (s->arena)
            memcpy(na->data, s->arena->data, s->used);
        sl_secbuf_destroy(&s->arena);
        s->arena = na;
        na = NULL;
    }
    if ((size_t)(s->n + 1) * 2 > s->nslots)
        SL_CALL(strset_rehash(s, s->nslots ? s->nslots * 2 : 64));
    memcpy((char *)s->arena->data + s->used, str, n);
    ((char *)s->arena->data)[s->used + n] = '\0';
    e = s->n++;
    s->ent[e].hash = h;
    s->ent[e].off = s->used;
    s->ent[e].len = n;
    s->used += n + 1;
    strset_place(s->slot, s->nslots, h, e);
    *code = e;
cleanup:
    sl_secbuf_destroy(&na);
    return st;
}

static const char *strset_str(const struct strset *s, int32_t e)
{
    return (const char *)s->arena->data + s->ent[e].off;
}

/* ---- patient id fingerprints (pass 1) ---- */

struct idtab {
    uint64_t *fp;    /* [nslots] 0 = empty */
    uint32_t *line;  /* [nslots] */
    size_t n, nslots;
};

struct suspect {
    uint32_t first, second; /* lines whose id hashes are equal */
};

static void idtab_free(struct idtab *t)
{
    sl_free(t->fp);
    sl_free(t->line);
    memset(t, 0, sizeof *t);
}

static sl_status idtab_grow(struct idtab *t)
{
    sl_status st = SL_OK;
    size_t ns = t->nslots ? t->nslots * 2 : 1u << 16;
    uint64_t *fp = sl_calloc(ns, sizeof *fp);
    uint32_t *line = sl_malloc(ns * sizeof *line);
    SL_CHECK(fp && line, SL_ERR_NOMEM, "out of memory for %zu patient ids", t->n);
    for (size_t i = 0; i < t->nslots; i++) {
        if (!t->fp[i])
            continue;
        size_t j = (size_t)t->fp[i] & (ns - 1);
        while (fp[j])
            j = (j + 1) & (ns - 1);
        fp[j] = t->fp[i];
        line[j] = t->line[i];
    }
    sl_free(t->fp);
    sl_free(t->line);
    t->fp = fp;
    t->line = line;
    t->nslots = ns;
    fp = NULL;
    line = NULL;
cleanup:
    sl_free(fp);
    sl_free(line);
    return st;
}

/* Records (fp, line); when fp was seen before, *earlier is that line, else 0. */
static sl_status idtab_add(struct idtab *t, uint64_t fp, uint32_t line, uint32_t *earlier)
{
    sl_status st = SL_OK;
    *earlier = 0;
    if (fp == 0)
        fp = 1;
    if ((t->n + 1) * 2 > t->nslots)
        SL_CALL(idtab_grow(t));
    size_t i = (size_t)fp & (t->nslots - 1);
    while (t->fp[i]) {
        if (t->fp[i] == fp) {
            *earlier = t->line[i];
            goto cleanup;
        }
        i = (i + 1) & (t->nslots - 1);
    }
    t->fp[i] = fp;
    t->line[i] = line;
    t->n++;
cleanup:
    return st;
}

/* ---- the ingest run ---- */

struct colstate {
    enum sl_coltype type;   /* final type (schema mode, or after inference) */
    unsigned kinds;         /* inference: SL_KIND_* still possible */
    int64_t nonmissing;
    struct strset levels;   /* pass 1: collected levels; pass 2: lookup of final levels */
    int collecting;         /* pass 1 collects levels into `levels` */
    int relevel;            /* inference: turned categorical after numeric-looking
                               values, so its levels need another scan */
};

struct ingest {
    const struct sl_ingest_opts *o;
    struct sl_csv *csv;
    struct sl_schema *schema;   /* given or inferred */
    int inferring;
    int ncols, id_col;
    struct colstate *cs;        /* [ncols] */
    struct sl_pseudonymizer *pn;
    struct idtab ids;
    uint64_t id_seed;           /* random per run: id hashes cannot be precomputed */
    struct suspect *sus;
    size_t nsus, capsus;
    int64_t rows;
    double t0, last_progress;
    double pass_t0;             /* start of the current pass */
    int pass;
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void progress(struct ingest *g, int64_t rows, int force)
{
    double t;
    if (!g->o->progress)
        return;
    t = now_seconds();
    if (!force && t - g->last_progress < SL_INGEST_PROGRESS_SECONDS)
        return;
    g->last_progress = t;
    double el = t - g->pass_t0;
    double size = (double)sl_csv_size(g->csv);
    double frac = size > 0 ? (double)sl_csv_offset(g->csv) / size : 1.0;
    sl_log_info("ingest %s: pass %d of 2: %lld rows (%.0f%% of the file), %.0f rows/s",
                sl_csv_path(g->csv), g->pass, (long long)rows, 100.0 * frac,
                el > 0 ? (double)rows / el : 0.0);
}

static void trim_blanks(const char **s, size_t *n)
{
    while (*n > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* Keys the pseudonyms and draws the seed of the id fingerprints. */
static sl_status setup_mac(struct ingest *g)
{
    sl_status st = SL_OK;
    SL_CALL(sl_pseudonymizer_create(g->o->kek, g->o->project, &g->pn));
    SL_CALL_SSL(RAND_bytes((unsigned char *)&g->id_seed, sizeof g->id_seed), SL_ERR_CRYPTO,
                "cannot draw a random seed");
cleanup:
    return st;
}

/* Schema mode: the header must list the schema's columns in order. */
static sl_status match_header(struct ingest *g)
{
    sl_status st = SL_OK;
    const struct sl_schema *s = g->schema;
    int n = sl_csv_ncols(g->csv);
    const char *path = sl_csv_path(g->csv);

    for (int i = 0; i < n && i < s->ncols; i++)
        if (strcmp(sl_csv_colname(g->csv, i), s->cols[i].name) != 0)
            SL_FAIL(SL_ERR_FORMAT,
                    "%s:1: column %d is '%s' but the schema (%s:%d:%d) names '%s' there; "
                    "expected the schema's columns in the same order",
                    path, i + 1, sl_csv_colname(g->csv, i), s->path, s->name_line[i],
                    s->name_col[i], s->cols[i].name);
    SL_CHECK(n == s->ncols, SL_ERR_FORMAT,
             "%s:1: the header has %d columns but the schema %s lists %d", path, n, s->path,
             s->ncols);
cleanup:
    return st;
}

static const char *expected_text(enum sl_coltype t)
{
    switch (t) {
    case SL_COL_INT: return "expected an integer";
    case SL_COL_REAL: return "expected a number";
    case SL_COL_DATE: return "expected a date as YYYY-MM-DD";
    default: return "expected a value";
    }
}

/* Adds field `col`'s text to the column's levels; too many levels for a
 * categorical column is an error at that field. */
static sl_status add_level(struct ingest *g, int col, const char *f, size_t n)
{
    sl_status st = SL_OK;
    struct colstate *c = &g->cs[col];
    int32_t code;

    SL_CALL(strset_add(&c->levels, f, n, &code));
    if (c->levels.n > SL_SCHEMA_MAX_LEVELS)
        st = sl_csv_field_error(g->csv, col, SL_ERR_FORMAT,
                                "more than %d distinct values, too many for a categorical "
                                "column; give the column another type in a schema",
                                SL_SCHEMA_MAX_LEVELS);
cleanup:
    return st;
}

/* Converts field `col` of the current record (known type) into dst, or only
 * checks it when dst is NULL. Not for the id column. */
static sl_status convert(struct ingest *g, int col, unsigned char *dst)
{
    sl_status st = SL_OK;
    struct colstate *c = &g->cs[col];
    size_t n;
    const char *f = sl_csv_field(g->csv, col, &n);
    int miss = sl_csv_missing(g->csv, col);

    switch (c->type) {
    case SL_COL_INT: {
        int64_t v = SL_INT_MISSING;
        if (!miss && sl_parse_int(f, n, &v) != 0) {
            st = sl_csv_field_error(g->csv, col, SL_ERR_FORMAT, "%s", expected_text(c->type));
            goto cleanup;
        }
        if (dst)
            memcpy(dst, &v, sizeof v);
        break;
    }
    case SL_COL_REAL: {
        double v = NAN;
        if (!miss && sl_parse_real(f, n, &v) != 0) {
            st = sl_csv_field_error(g->csv, col, SL_ERR_FORMAT, "%s", expected_text(c->type));
            goto cleanup;
        }
        if (dst)
            memcpy(dst, &v, sizeof v);
        break;
    }
    case SL_COL_DATE: {
        int32_t v = SL_DATE_MISSING;
        if (!miss && sl_parse_date(f, n, &v) != 0) {
            st = sl_csv_field_error(g->csv, col, SL_ERR_FORMAT, "%s", expected_text(c->type));
            goto cleanup;
        }
        if (dst)
            memcpy(dst, &v, sizeof v);
        break;
    }
    case SL_COL_CAT: {
        int32_t code = SL_CAT_MISSING;
        if (!miss) {
            if (c->collecting) {
                SL_CALL(add_level(g, col, f, n));
            } else {
                code = strset_find(&c->levels, f, n, hash_bytes(f, n, SL_STRSET_SEED));
                if (code < 0) {
                    const struct sl_schema *s = g->schema;
                    if (s->path)
                        st = sl_csv_field_error(g->csv, col, SL_ERR_FORMAT,
                                                "expected one of the %d levels the schema lists "
                                                "for this column (%s:%d:%d)",
                                                (int)s->cols[col].nlevels, s->path,
                                                s->name_line[col], s->name_col[col]);
                    else
                        st = sl_csv_field_error(g->csv, col, SL_ERR_FORMAT,
                                                "expected one of the %d levels found in pass 1 "
                                                "(the file changed during ingest)",
                                                (int)s->cols[col].nlevels);
                    goto cleanup;
                }
            }
        }
        if (dst)
            memcpy(dst, &code, sizeof code);
        break;
    }
    case SL_COL_ID:
        SL_FAIL(SL_ERR_INTERNAL, "convert() called for the id column");
    }
cleanup:
    return st;
}

/* Inference: narrows the column's possible types by field `col`'s value.
 * Levels are collected only once the column is known to be categorical (so
 * numeric columns cost no hashing); a column that turns categorical after
 * numeric-looking values is marked for a scan that collects all its levels. */
static sl_status infer_field(struct ingest *g, int col)
{
    sl_status st = SL_OK;
    struct colstate *c = &g->cs[col];
    size_t n;
    const char *f = sl_csv_field(g->csv, col, &n);

    c->nonmissing++;
    if (c->kinds) {
        c->kinds &= sl_value_kinds(f, n);
        if (c->kinds)
            goto cleanup;
        c->relevel = c->nonmissing > 1;
    }
    if (c->relevel)
        goto cleanup;
    SL_CALL(add_level(g, col, f, n));
cleanup:
    return st;
}

/* Pass 1 for the id field: present, and its hash not seen before. */
static sl_status check_id(struct ingest *g)
{
    sl_status st = SL_OK;
    size_t n;
    const char *f = sl_csv_field(g->csv, g->id_col, &n);
    int64_t line = sl_csv_field_line(g->csv, g->id_col);
    uint32_t earlier;

    trim_blanks(&f, &n);
    if (n == 0 || sl_csv_missing(g->csv, g->id_col)) {
        st = sl_csv_field_error(g->csv, g->id_col, SL_ERR_FORMAT,
                                "expected a patient identifier, found a missing value");
        goto cleanup;
    }
    SL_CHECK(line <= (int64_t)UINT32_MAX, SL_ERR_UNSUPPORTED,
             "%s: more than %u lines are not supported", sl_csv_path(g->csv), UINT32_MAX);
    SL_CALL(idtab_add(&g->ids, hash_bytes(f, n, g->id_seed), (uint32_t)line, &earlier));
    if (earlier) {
        if (g->nsus == g->capsus) {
            size_t nc = g->capsus ? g->capsus * 2 : 16;
            struct suspect *ns = sl_realloc(g->sus, nc * sizeof *ns);
            SL_CHECK(ns, SL_ERR_NOMEM, "out of memory");
            g->sus = ns;
            g->capsus = nc;
        }
        g->sus[g->nsus].first = earlier;
        g->sus[g->nsus].second = (uint32_t)line;
        g->nsus++;
    }
cleanup:
    return st;
}

static sl_status pass1(struct ingest *g)
{
    sl_status st = SL_OK;
    int got;

    g->pass = 1;
    g->pass_t0 = now_seconds();
    for (;;) {
        SL_CALL(sl_csv_next(g->csv, &got));
        if (!got)
            break;
        SL_CALL(check_id(g));
        for (int j = 0; j < g->ncols; j++) {
            if (j == g->id_col)
                continue;
            if (g->inferring) {
                if (!sl_csv_missing(g->csv, j))
                    SL_CALL(infer_field(g, j));
            } else {
                SL_CALL(convert(g, j, NULL));
            }
        }
        g->rows++;
        if ((g->rows & 0xFFFF) == 0)
            progress(g, g->rows, 0);
    }
    SL_CHECK(g->rows > 0, SL_ERR_FORMAT, "%s: no data rows after the header, expected at least one",
             sl_csv_path(g->csv));
    progress(g, g->rows, 1);
cleanup:
    return st;
}

/* Inference: collects every level of the columns that turned categorical
 * after numeric-looking values (an extra scan, needed only for them). */
static sl_status relevel(struct ingest *g)
{
    sl_status st = SL_OK;
    int any = 0, got;

    for (int j = 0; j < g->ncols; j++)
        any |= g->cs[j].relevel;
    if (!any)
        goto cleanup;
    SL_CALL(sl_csv_rewind(g->csv));
    for (;;) {
        SL_CALL(sl_csv_next(g->csv, &got));
        if (!got)
            break;
        for (int j = 0; j < g->ncols; j++) {
            if (!g->cs[j].relevel || sl_csv_missing(g->csv, j))
                continue;
            size_t n;
            const char *f = sl_csv_field(g->csv, j, &n);
            SL_CALL(add_level(g, j, f, n));
        }
    }
cleanup:
    return st;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int cmp_suspect(const void *a, const void *b)
{
    const struct suspect *x = a, *y = b;
    if (x->second != y->second)
        return (x->second > y->second) - (x->second < y->second);
    return (x->first > y->first) - (x->first < y->first);
}

/* Compares the HMACs of the ids on suspect lines; the first real repeat (in
 * file order) is an error naming both lines. */
static sl_status confirm_duplicates(struct ingest *g)
{
    sl_status st = SL_OK;
    uint32_t *lines = NULL;
    struct sl_secbuf *macs = NULL;
    size_t nl = 0, k = 0;
    int got;

    if (g->nsus == 0)
        goto cleanup;
    lines = sl_malloc(2 * g->nsus * sizeof *lines);
    SL_CHECK(lines, SL_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < g->nsus; i++) {
        lines[nl++] = g->sus[i].first;
        lines[nl++] = g->sus[i].second;
    }
    qsort(lines, nl, sizeof *lines, cmp_u32);
    size_t u = 0;
    for (size_t i = 0; i < nl; i++)
        if (u == 0 || lines[u - 1] != lines[i])
            lines[u++] = lines[i];
    nl = u;
    SL_CALL(sl_secbuf_create(nl * SL_ID_BYTES, &macs));
    SL_CALL(sl_csv_rewind(g->csv));
    while (k < nl) {
        SL_CALL(sl_csv_next(g->csv, &got));
        SL_CHECK(got, SL_ERR_IO, "%s: the file changed during ingest", sl_csv_path(g->csv));
        int64_t line = sl_csv_field_line(g->csv, g->id_col);
        if (line != (int64_t)lines[k])
            continue;
        size_t n;
        const char *f = sl_csv_field(g->csv, g->id_col, &n);
        trim_blanks(&f, &n);
        SL_CALL(sl_pseudonym(g->pn, f, n, (unsigned char *)macs->data + k * SL_ID_BYTES));
        k++;
    }
    qsort(g->sus, g->nsus, sizeof *g->sus, cmp_suspect);
    for (size_t i = 0; i < g->nsus; i++) {
        const uint32_t *a = bsearch(&g->sus[i].first, lines, nl, sizeof *lines, cmp_u32);
        const uint32_t *b = bsearch(&g->sus[i].second, lines, nl, sizeof *lines, cmp_u32);
        SL_ASSERT(a && b);
        const unsigned char *base = macs->data;
        const unsigned char *ma = base + (size_t)(a - lines) * SL_ID_BYTES;
        const unsigned char *mb = base + (size_t)(b - lines) * SL_ID_BYTES;
        if (memcmp(ma, mb, SL_ID_BYTES) == 0)
            SL_FAIL(SL_ERR_FORMAT,
                    "%s:%u: column %d (%s): the patient identifier repeats the one on line %u, "
                    "expected one row per patient",
                    sl_csv_path(g->csv), (unsigned)g->sus[i].second, g->id_col + 1,
                    sl_csv_colname(g->csv, g->id_col), (unsigned)g->sus[i].first);
    }
cleanup:
    sl_secbuf_destroy(&macs);
    sl_free(lines);
    return st;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Turns the pass 1 observations into a schema. */
static sl_status build_inferred(struct ingest *g)
{
    sl_status st = SL_OK;
    const char **sorted = NULL;
    const char *path = sl_csv_path(g->csv);

    SL_CALL(sl_schema_create(g->ncols, &g->schema));
    g->schema->id_col = g->id_col;
    for (int j = 0; j < g->ncols; j++) {
        struct colstate *c = &g->cs[j];
        struct sl_colinfo *ci = &g->schema->cols[j];
        ci->name = sl_strdup(sl_csv_colname(g->csv, j));
        SL_CHECK(ci->name, SL_ERR_NOMEM, "out of memory");
        if (j == g->id_col)
            ci->type = SL_COL_ID;
        else if (c->nonmissing == 0)
            ci->type = SL_COL_REAL;
        else if (c->kinds & SL_KIND_INT)
            ci->type = SL_COL_INT;
        else if (c->kinds & SL_KIND_REAL)
            ci->type = SL_COL_REAL;
        else if (c->kinds & SL_KIND_DATE)
            ci->type = SL_COL_DATE;
        else
            ci->type = SL_COL_CAT;
        ci->cls = sl_schema_guess_class(ci->name, ci->type);
        c->type = ci->type;
        if (ci->type != SL_COL_CAT)
            continue;
        /* counted over the values present: one missing value or one repeat
         * must not let a column of identifiers through */
        if (c->nonmissing >= SL_INGEST_ID_LIKE_ROWS && 2 * (int64_t)c->levels.n > c->nonmissing)
            SL_FAIL(SL_ERR_FORMAT,
                    "%s: column %d (%s): %lld of its %lld values are different, so it looks like "
                    "an identifier or free text, and its values would be stored in the clear as "
                    "category labels; expected a categorical column whose values mostly repeat "
                    "(remove the column from the export, or describe it in a schema)",
                    path, j + 1, ci->name, (long long)c->levels.n, (long long)c->nonmissing);
        sorted = sl_malloc((size_t)c->levels.n * sizeof *sorted);
        SL_CHECK(sorted, SL_ERR_NOMEM, "out of memory");
        for (int32_t e = 0; e < c->levels.n; e++)
            sorted[e] = strset_str(&c->levels, e);
        qsort(sorted, (size_t)c->levels.n, sizeof *sorted, cmp_str);
        SL_CALL(sl_schema_set_levels(g->schema, j, c->levels.n, sorted));
        sl_free(sorted);
        sorted = NULL;
    }
    SL_CALL(sl_schema_check(g->schema));
cleanup:
    sl_free(sorted);
    return st;
}

/* Pass 2 lookups: every categorical column maps labels to the schema's codes. */
static sl_status build_lookups(struct ingest *g)
{
    sl_status st = SL_OK;
    for (int j = 0; j < g->ncols; j++) {
        struct colstate *c = &g->cs[j];
        const struct sl_colinfo *ci = &g->schema->cols[j];
        strset_free(&c->levels);
        c->collecting = 0;
        for (int32_t e = 0; e < ci->nlevels; e++) {
            int32_t code;
            SL_CALL(strset_add(&c->levels, ci->levels[e], strlen(ci->levels[e]), &code));
            SL_ASSERT(code == e);
        }
    }
cleanup:
    return st;
}

static sl_status pass2(struct ingest *g, struct sl_cohort_writer *w, int64_t batch)
{
    sl_status st = SL_OK;
    struct sl_secbuf **bufs = NULL;
    const void **ptrs = NULL;
    size_t *esz = NULL;
    int64_t fill = 0, rows = 0;
    int got;

    g->pass = 2;
    g->pass_t0 = now_seconds();
    bufs = sl_calloc((size_t)g->ncols, sizeof *bufs);
    ptrs = sl_calloc((size_t)g->ncols, sizeof *ptrs);
    esz = sl_calloc((size_t)g->ncols, sizeof *esz);
    SL_CHECK(bufs && ptrs && esz, SL_ERR_NOMEM, "out of memory");
    for (int j = 0; j < g->ncols; j++) {
        esz[j] = sl_coltype_size(g->schema->cols[j].type);
        SL_CALL(sl_secbuf_create((size_t)batch * esz[j], &bufs[j]));
        ptrs[j] = bufs[j]->data;
    }
    SL_CALL(sl_csv_rewind(g->csv));
    for (;;) {
        SL_CALL(sl_csv_next(g->csv, &got));
        if (!got)
            break;
        SL_CHECK(rows < g->rows, SL_ERR_IO, "%s: the file changed during ingest (more rows)",
                 sl_csv_path(g->csv));
        for (int j = 0; j < g->ncols; j++) {
            unsigned char *dst = (unsigned char *)bufs[j]->data + (size_t)fill * esz[j];
            if (j == g->id_col) {
                size_t n;
                const char *f = sl_csv_field(g->csv, j, &n);
                trim_blanks(&f, &n);
                SL_CHECK(n > 0 && !sl_csv_missing(g->csv, j), SL_ERR_IO,
                         "%s: the file changed during ingest", sl_csv_path(g->csv));
                SL_CALL(sl_pseudonym(g->pn, f, n, dst));
            } else {
                SL_CALL(convert(g, j, dst));
            }
        }
        fill++;
        rows++;
        if (fill == batch) {
            SL_CALL(sl_cohort_writer_append(w, fill, ptrs));
            fill = 0;
        }
        if ((rows & 0xFFFF) == 0)
            progress(g, rows, 0);
    }
    if (fill > 0)
        SL_CALL(sl_cohort_writer_append(w, fill, ptrs));
    SL_CHECK(rows == g->rows, SL_ERR_IO, "%s: the file changed during ingest (fewer rows)",
             sl_csv_path(g->csv));
    progress(g, rows, 1);
cleanup:
    if (bufs)
        for (int j = 0; j < g->ncols; j++)
            sl_secbuf_destroy(&bufs[j]);
    sl_free(bufs);
    sl_free(ptrs);
    sl_free(esz);
    return st;
}

sl_status sl_ingest_schema_path(const char *out, char **path)
{
    sl_status st = SL_OK;
    size_t n = strlen(out);
    char *p;

    *path = NULL;
    if (n >= 3 && strcmp(out + n - 3, ".h5") == 0)
        n -= 3;
    p = sl_malloc(n + sizeof ".schema.yaml");
    SL_CHECK(p, SL_ERR_NOMEM, "out of memory");
    memcpy(p, out, n);
    memcpy(p + n, ".schema.yaml", sizeof ".schema.yaml");
    *path = p;
cleanup:
    return st;
}

static void ingest_free(struct ingest *g)
{
    if (g->cs)
        for (int j = 0; j < g->ncols; j++)
            strset_free(&g->cs[j].levels);
    sl_free(g->cs);
    idtab_free(&g->ids);
    sl_free(g->sus);
    sl_pseudonymizer_destroy(&g->pn);
    sl_schema_destroy(&g->schema);
    sl_csv_close(&g->csv);
}

sl_status sl_ingest(const struct sl_ingest_opts *o, struct sl_ingest_stats *stats)
{
    sl_status st = SL_OK;
    struct ingest g;
    struct sl_cohort_writer *w = NULL;
    char *schema_out = NULL;
    int schema_written = 0;
    int64_t chunk_rows;
    struct stat sb;

    memset(&g, 0, sizeof g);
    g.o = o;
    g.id_col = -1;
    SL_CHECK(o && o->in && o->out && o->kek, SL_ERR_ARG,
             "ingest needs an input CSV, an output cohort and a key");
    SL_CHECK(!o->project || sl_project_name_ok(o->project), SL_ERR_ARG,
             "project name must be 1 to 64 letters, digits, '.', '_' or '-'");
    chunk_rows = o->chunk_rows > 0 ? o->chunk_rows : SL_DEFAULT_CHUNK_ROWS;
    SL_CHECK(chunk_rows <= SL_INGEST_MAX_CHUNK_ROWS, SL_ERR_ARG,
             "chunk rows must be at most %d", SL_INGEST_MAX_CHUNK_ROWS);
    SL_CHECK(stat(o->out, &sb) != 0, SL_ERR_EXISTS, "%s already exists; refusing to overwrite it",
             o->out);
    g.inferring = o->schema_path == NULL;
    if (g.inferring) {
        SL_CALL(sl_ingest_schema_path(o->out, &schema_out));
        SL_CHECK(stat(schema_out, &sb) != 0, SL_ERR_EXISTS,
                 "%s already exists; refusing to overwrite it (review it and pass it with "
                 "--schema, or move it away)",
                 schema_out);
    }
    SL_CHECK(stat(o->in, &sb) == 0, SL_ERR_IO, "%s: cannot open: %s", o->in, strerror(errno));
    SL_CHECK(S_ISREG(sb.st_mode), SL_ERR_IO,
             "%s: not a regular file; ingest reads the export twice, so it needs a file, not a "
             "pipe or device",
             o->in);
    g.t0 = g.last_progress = now_seconds();

    SL_CALL(setup_mac(&g));
    SL_CALL(sl_csv_open(o->in, &g.csv));
    g.ncols = sl_csv_ncols(g.csv);
    for (int j = 0; j < g.ncols; j++)
        SL_CHECK(sl_colname_valid(sl_csv_colname(g.csv, j)), SL_ERR_FORMAT,
                 "%s:1: column %d: the name cannot be a cohort column name, expected 1 to %d "
                 "bytes without '/' or control characters, other than '.' and '..'",
                 o->in, j + 1, SL_COL_NAME_MAX);
    g.cs = sl_calloc((size_t)g.ncols, sizeof *g.cs);
    SL_CHECK(g.cs, SL_ERR_NOMEM, "out of memory");
    if (g.inferring) {
        const char **names = sl_malloc((size_t)g.ncols * sizeof *names);
        SL_CHECK(names, SL_ERR_NOMEM, "out of memory");
        for (int j = 0; j < g.ncols; j++)
            names[j] = sl_csv_colname(g.csv, j);
        g.id_col = sl_schema_guess_id(names, g.ncols);
        sl_free(names);
        SL_CHECK(g.id_col >= 0, SL_ERR_FORMAT,
                 "%s:1: no column is named like a patient identifier (patient_id, person_id, "
                 "subject_id, participant_id or id); rename it or pass a schema",
                 o->in);
        for (int j = 0; j < g.ncols; j++)
            g.cs[j].kinds = SL_KIND_INT | SL_KIND_REAL | SL_KIND_DATE;
    } else {
        SL_CALL(sl_schema_load(o->schema_path, &g.schema));
        SL_CALL(match_header(&g));
        g.id_col = g.schema->id_col;
        for (int j = 0; j < g.ncols; j++)
            g.cs[j].type = g.schema->cols[j].type;
        SL_CALL(build_lookups(&g));
        for (int j = 0; j < g.ncols; j++)
            g.cs[j].collecting = g.cs[j].type == SL_COL_CAT && !g.schema->levels_fixed[j];
    }

    SL_CALL(pass1(&g));
    SL_CALL(relevel(&g));
    SL_CALL(confirm_duplicates(&g));
    if (g.inferring) {
        SL_CALL(build_inferred(&g));
    } else {
        for (int j = 0; j < g.ncols; j++) {
            struct colstate *c = &g.cs[j];
            if (!c->collecting)
                continue;
            const char **sorted = sl_malloc((size_t)(c->levels.n ? c->levels.n : 1) *
                                            sizeof *sorted);
            SL_CHECK(sorted, SL_ERR_NOMEM, "out of memory");
            for (int32_t e = 0; e < c->levels.n; e++)
                sorted[e] = strset_str(&c->levels, e);
            qsort(sorted, (size_t)c->levels.n, sizeof *sorted, cmp_str);
            st = sl_schema_set_levels(g.schema, j, c->levels.n, sorted);
            sl_free(sorted);
            SL_CALL(st);
        }
    }
    idtab_free(&g.ids);
    SL_CALL(build_lookups(&g));

    SL_CALL(sl_cohort_writer_create(o->out, o->kek, g.schema->cols, g.ncols, chunk_rows, &w));
    SL_CALL(pass2(&g, w, chunk_rows));
    if (g.inferring) {
        SL_CALL(sl_schema_write(g.schema, schema_out));
        schema_written = 1;
    }
    SL_CALL(sl_cohort_writer_finish(w));
    if (stats) {
        stats->rows = g.rows;
        stats->ncols = g.ncols;
        stats->bytes_in = sl_csv_size(g.csv);
        stats->seconds = now_seconds() - g.t0;
        stats->schema_written = schema_written != 0;
    }
    schema_written = 0;
cleanup:
    sl_cohort_writer_destroy(&w);
    if (schema_written)
        unlink(schema_out);
    sl_free(schema_out);
    ingest_free(&g);
    return st;
}
