/*
 * fhir.c: FHIR Bulk Data NDJSON, the pivot's second reader (omop.h,
 * pivot_impl.h, docs/fhir.md).
 *
 * A Bulk Data export is one file (or several) per resource type, one JSON
 * resource per line. Patient files are read first into secret memory (ids,
 * the fields the spec asks for, death dates) with an open-addressing table
 * from id to row; then the index dates (first encounter); then each
 * resource type the spec needs, streaming: a line is tokenized in place
 * (json_impl.h, no copy of a value leaves secret memory), its codings are
 * looked up among the spec's interned codes, and only a matching
 * resource's patient and date are read before it is folded. A source may
 * read several types, one after the other (medications: ordered, stated,
 * given), each with its own date elements.
 */
#include "io/omop.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/core/alloc.h"
#include "engine/core/log.h"
#include "engine/core/secbuf.h"
#include "io/format.h"
#include "io/gz_impl.h"
#include "io/json_impl.h"
#include "io/pivot_impl.h"
#include "io/schema.h"

#define FHIR_READ_BYTES (1 << 20)
#define FHIR_MAX_LINE (64 << 20)
#define FHIR_MAX_FILES 100000
#define FHIR_TEXT_MAX 1024     /* a code, system|code, reference or date */

/* What each source reads: resource type, code element (R4, else R5), date
 * elements in order of preference, the reference to the patient (NULL:
 * subject.reference), and the statuses besides entered-in-error that say
 * the event did not happen. */
struct fhir_desc {
    const char *type;
    const char *code[2];
    const char *date[4];
    const char *patient;
    const char *not_done[2];
};

static const struct fhir_desc fhir_src[NSRC] = {
    [SRC_PERSON] = {"Patient", {NULL}, {NULL}, NULL, {NULL}},
    [SRC_OBSERVATION] = {"Observation", {"code"},
                         {"effectiveDateTime", "effectivePeriod.start", "effectiveInstant"},
                         NULL, {"cancelled"}},
    [SRC_CONDITION] = {"Condition", {"code"},
                       {"onsetDateTime", "onsetPeriod.start", "recordedDate"}, NULL, {NULL}},
    [SRC_DRUG] = {"MedicationRequest", {"medicationCodeableConcept", "medication.concept"},
                  {"authoredOn"}, NULL, {NULL}},
    [SRC_PROCEDURE] = {"Procedure", {"code"},
                       {"performedDateTime", "performedPeriod.start", "occurrenceDateTime",
                        "occurrencePeriod.start"},
                       NULL, {"not-done"}},
    [SRC_VISIT] = {"Encounter", {"class"}, {"period.start", "actualPeriod.start"}, NULL,
                   {"planned", "cancelled"}},
    [SRC_DEATH] = {"Patient", {NULL}, {"deceasedDateTime"}, NULL, {NULL}},
};

/* Resource types the medication source reads after MedicationRequest:
 * medications stated (taken, as the patient or a record says), given,
 * dispensed and vaccines given (as OMOP keeps vaccinations with drug
 * exposures), with their own date elements (R4 effective[x]; R5 keeps it
 * for MedicationStatement and names MedicationAdministration's
 * occurence[x], spelt so) and statuses of what did not happen. */
#define FHIR_MAX_TYPES 5
static const struct fhir_desc fhir_drug_more[FHIR_MAX_TYPES - 1] = {
    {"MedicationStatement", {"medicationCodeableConcept", "medication.concept"},
     {"effectiveDateTime", "effectivePeriod.start", "dateAsserted"}, NULL, {"not-taken"}},
    {"MedicationAdministration", {"medicationCodeableConcept", "medication.concept"},
     {"effectiveDateTime", "effectivePeriod.start", "occurenceDateTime",
      "occurencePeriod.start"},
     NULL, {"not-done"}},
    {"MedicationDispense", {"medicationCodeableConcept", "medication.concept"},
     {"whenHandedOver", "whenPrepared"}, NULL, {"cancelled", "declined"}},
    {"Immunization", {"vaccineCode"}, {"occurrenceDateTime"}, "patient.reference",
     {"not-done"}},
};

/* The resource types source s reads, in reading order, into d; how many. */
static int source_types(enum source s, const struct fhir_desc **d)
{
    d[0] = &fhir_src[s];
    if (s != SRC_DRUG)
        return 1;
    for (int k = 1; k < FHIR_MAX_TYPES; k++)
        d[k] = &fhir_drug_more[k - 1];
    return FHIR_MAX_TYPES;
}

/* A patient in the lookup table. */
struct pslot {
    uint64_t hash;
    int64_t row1;           /* row + 1, 0 = empty */
};

/* The files of one resource type, in name order. */
struct files {
    char **path;
    int n;
};

/* One NDJSON file being read: a window of it in secret memory. */
struct ndjson {
    const char *path;
    int fd;
    struct sl_secbuf *buf;
    size_t len, pos;        /* bytes in buf, start of the next line */
    int64_t line;           /* of the current line, 1-based */
    int64_t offset, size;   /* bytes consumed (compressed ones for gzip), file size */
    int eof;
    struct sl_gz *gz;       /* gzip files (by their magic bytes), else NULL */
};

/* The reader's state. */
struct fhir {
    struct sl_secbuf *ids;  /* NUL-terminated Patient ids, back to back (secret) */
    size_t ids_used;
    size_t *idoff;          /* [np] */
    struct sl_secbuf *slots;/* struct pslot [nslots] (secret) */
    size_t nslots;
    int64_t *pline;         /* [np] line of each patient in its file */
    struct sl_secbuf *death;/* int32 [np] deceasedDateTime, SL_DATE_MISSING if none */
    struct sl_json js;
    char *text;             /* FHIR_TEXT_MAX scratch for decoded strings (secret) */
    struct sl_secbuf *textbuf;
    int64_t last_row;       /* the patient found last, -1 if none */
    uint64_t last_hash;
    unsigned types_seen;    /* sources whose files were found, by bit */
    int manifest_warned;    /* manifest.json's error list looked at */
    struct medtab *meds;    /* Medication resources, for medicationReference; NULL until read */
    int64_t med_dangling;   /* medication resources whose Medication the export lacks */
};

/* The export's Medication resources (drug definitions, not patient data):
 * id -> the interned codes of its code.coding that the spec asks for. */
struct medslot {
    uint64_t hash;
    int64_t id1;            /* 1 + offset of the id in ids; 0: empty */
    int64_t code0, ncode;   /* its codes: codes[code0 .. code0 + ncode) */
};

struct medtab {
    char *ids;
    size_t ids_used, ids_cap;
    int64_t *codes;
    size_t ncodes, codes_cap;
    struct medslot *slot;
    size_t nslots, n;       /* nslots a power of two, at most half full */
};

/* The current resource, for sl_pivot_fold. */
struct fhir_event {
    struct pivot *g;
    struct ndjson *r;
    const char *line;
    uint32_t root;
    int64_t order;
};

static sl_status line_error(const struct ndjson *r, const char *what)
{
    sl_status st = SL_OK;
    SL_FAIL(SL_ERR_FORMAT, "%s:%lld: %s", r->path, (long long)r->line, what);
cleanup:
    return st;
}

/* ---- files ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void files_free(struct files *fl)
{
    for (int i = 0; i < fl->n; i++)
        sl_free(fl->path[i]);
    sl_free(fl->path);
    fl->path = NULL;
    fl->n = 0;
}

/* Adds dir/name to the list. */
static sl_status files_add(struct files *fl, int *cap, const char *dir, const char *name)
{
    sl_status st = SL_OK;
    SL_CHECK(fl->n < FHIR_MAX_FILES, SL_ERR_FORMAT, "%s: more than %d files of one type", dir,
             FHIR_MAX_FILES);
    if (fl->n == *cap) {
        *cap = *cap ? 2 * *cap : 8;
        char **more = sl_realloc(fl->path, (size_t)*cap * sizeof *more);
        SL_CHECK(more, SL_ERR_NOMEM, "out of memory");
        fl->path = more;
    }
    size_t len = strlen(dir) + strlen(name) + 2;
    fl->path[fl->n] = sl_malloc(len);
    SL_CHECK(fl->path[fl->n], SL_ERR_NOMEM, "out of memory");
    snprintf(fl->path[fl->n++], len, "%s/%s", dir, name);
cleanup:
    return st;
}

/* The file name at the end of an output url (no query or fragment): letters,
 * digits, '.', '_' and '-', not starting with '.'; its length, or 0. */
static size_t url_file(const char *url, size_t n, const char **name)
{
    size_t end = n, start;
    for (size_t i = 0; i < n; i++)
        if (url[i] == '?' || url[i] == '#') {
            end = i;
            break;
        }
    for (start = end; start > 0 && url[start - 1] != '/';)
        start--;
    *name = url + start;
    if (start == end || url[start] == '.')
        return 0;
    for (size_t i = start; i < end; i++)
        if (!((url[i] >= 'a' && url[i] <= 'z') || (url[i] >= 'A' && url[i] <= 'Z') ||
              (url[i] >= '0' && url[i] <= '9') || url[i] == '.' || url[i] == '_' || url[i] == '-'))
            return 0;
    return end - start;
}

/* The files of `type` that the export's manifest (the Bulk Data status
 * response, saved as manifest.json) lists in `output`, in its order, each
 * by the file name its url ends with. */
static sl_status manifest_files(struct pivot *g, const char *mpath, const char *type,
                                struct files *fl)
{
    sl_status st = SL_OK;
    struct sl_json js = {0};
    char *text = NULL, name[256];
    size_t n = 0, off;
    const char *what, *file;
    int cap = 0, fd = open(mpath, O_RDONLY | O_CLOEXEC), k = 0;
    struct stat sb;

    SL_CHECK(fd >= 0 && fstat(fd, &sb) == 0, SL_ERR_IO, "%s: cannot read: %s", mpath,
             strerror(errno));
    SL_CHECK(sb.st_size <= FHIR_MAX_LINE, SL_ERR_FORMAT, "%s: larger than %d MiB", mpath,
             FHIR_MAX_LINE >> 20);
    text = sl_malloc((size_t)sb.st_size + 1);
    SL_CHECK(text, SL_ERR_NOMEM, "out of memory");
    while (n < (size_t)sb.st_size) {
        ssize_t r = read(fd, text + n, (size_t)sb.st_size - n);
        SL_CHECK(r > 0, SL_ERR_IO, "%s: read failed", mpath);
        n += (size_t)r;
    }
    if (sl_json_parse(&js, text, n, &off, &what) != SL_OK) {
        SL_CHECK(what, SL_ERR_NOMEM, "out of memory");
        SL_FAIL(SL_ERR_FORMAT, "%s: byte %zu: invalid JSON: %s", mpath, off + 1, what);
    }
    uint32_t out = sl_json_get(&js, text, 0, "output");
    SL_CHECK(out && js.tok[out].type == SL_JSON_ARRAY, SL_ERR_FORMAT,
             "%s: expected a Bulk Data manifest, an object with an \"output\" list", mpath);
    for (uint32_t o = sl_json_first(&js, out); o; o = sl_json_next(&js, out, o), k++) {
        uint32_t t = sl_json_get(&js, text, o, "type"), u = sl_json_get(&js, text, o, "url");
        int64_t len = u ? sl_json_string(&js, text, u, name, sizeof name) : -1;
        SL_CHECK(t && js.tok[t].type == SL_JSON_STRING && len >= 0, SL_ERR_FORMAT,
                 "%s: output %d: expected an object with a type and a url (at most %zu bytes)",
                 mpath, k + 1, sizeof name - 1);
        if (!sl_json_string_eq(&js, text, t, type))
            continue;
        size_t fn = url_file(name, (size_t)len, &file);
        SL_CHECK(fn > 0, SL_ERR_FORMAT,
                 "%s: output %d (%s): expected a url ending in a file name (letters, digits, "
                 "'.', '_', '-')",
                 mpath, k + 1, type);
        memmove(name, file, fn);
        name[fn] = '\0';
        SL_CALL(files_add(fl, &cap, g->o->dir, name));
        SL_CHECK(stat(fl->path[fl->n - 1], &sb) == 0, SL_ERR_IO,
                 "%s: output %d (%s): no file %s in %s", mpath, k + 1, type, name, g->o->dir);
    }
    if (!((struct fhir *)g->rs)->manifest_warned) {
        uint32_t err = sl_json_get(&js, text, 0, "error");
        ((struct fhir *)g->rs)->manifest_warned = 1;
        if (err && sl_json_first(&js, err))
            sl_log_warn("%s lists error files (OperationOutcome resources): the server could not "
                        "export everything; read them before using the cohort",
                        mpath);
    }
cleanup:
    if (fd >= 0)
        close(fd);
    sl_json_free(&js);
    sl_free(text);
    return st;
}

/* The files of `type`: those manifest.json lists, when the folder has one;
 * else T.ndjson, T.*.ndjson and T-*.ndjson in name order, each also as
 * .ndjson.gz. */
static sl_status list_files(struct pivot *g, const char *type, struct files *fl)
{
    sl_status st = SL_OK;
    DIR *d = NULL;
    struct dirent *e;
    size_t tn = strlen(type);
    int cap = 0;
    char mpath[4200];
    struct stat sb;

    fl->path = NULL;
    fl->n = 0;
    snprintf(mpath, sizeof mpath, "%s/manifest.json", g->o->dir);
    if (stat(mpath, &sb) == 0) {
        SL_CALL(manifest_files(g, mpath, type, fl));
        goto cleanup;
    }
    d = opendir(g->o->dir);
    SL_CHECK(d, SL_ERR_IO, "%s: cannot read the folder: %s", g->o->dir, strerror(errno));
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name), sfx = 0;
        if (n > 7 && strcmp(e->d_name + n - 7, ".ndjson") == 0)
            sfx = 7;
        else if (n > 10 && strcmp(e->d_name + n - 10, ".ndjson.gz") == 0)
            sfx = 10;
        if (!sfx || n < tn + sfx || strncmp(e->d_name, type, tn) != 0 ||
            (n > tn + sfx && e->d_name[tn] != '.' && e->d_name[tn] != '-'))
            continue;
        SL_CALL(files_add(fl, &cap, g->o->dir, e->d_name));
    }
    if (fl->n > 1)
        qsort(fl->path, (size_t)fl->n, sizeof *fl->path, cmp_str);
    /* a file beside its own gzip copy would be read twice (they sort
     * together: X.ndjson, X.ndjson.gz) */
    for (int i = 0; i + 1 < fl->n; i++) {
        size_t len = strlen(fl->path[i]);
        SL_CHECK(strncmp(fl->path[i], fl->path[i + 1], len) != 0 ||
                     strcmp(fl->path[i + 1] + len, ".gz") != 0,
                 SL_ERR_FORMAT, "%s and %s.gz: the same file twice, plain and compressed; "
                 "expected one of them", fl->path[i], fl->path[i]);
    }
cleanup:
    if (d)
        closedir(d);
    if (st != SL_OK)
        files_free(fl);
    return st;
}

/* A pass over the files of a source's resource types, resource by
 * resource. */
struct scan {
    struct files fl;        /* the files of every type, type after type */
    const struct fhir_desc *types[FHIR_MAX_TYPES];
    int type_end[FHIR_MAX_TYPES]; /* files of type k end at type_end[k] */
    int ntypes;
    int next;               /* the file to open next */
    struct ndjson r;        /* the file being read; fd -1 between files */
    const struct fhir_desc *desc; /* the type of the file being read */
    int parse;              /* tokenize each line and check its type */
    int64_t rows;           /* resources (non-blank lines) so far */
};

/* The type of file i of the scan. */
static const struct fhir_desc *file_type(const struct scan *sc, int i)
{
    int k = 0;
    while (k + 1 < sc->ntypes && i >= sc->type_end[k])
        k++;
    return sc->types[k];
}

/* The files of source s's resource types into sc; a source without any is
 * an error saying who needs it. */
static sl_status need_files(struct pivot *g, enum source s, const char *why, struct scan *sc)
{
    sl_status st = SL_OK;
    struct fhir *rs = g->rs;
    struct stat sb;
    struct files one = {NULL, 0};
    char mpath[4200], names[160] = "";
    int cap = 0;

    sc->ntypes = source_types(s, sc->types);
    for (int k = 0; k < sc->ntypes; k++) {
        SL_CALL(list_files(g, sc->types[k]->type, &one));
        for (int i = 0; i < one.n; i++) {
            SL_CHECK(sc->fl.n < FHIR_MAX_FILES, SL_ERR_FORMAT, "%s: more than %d files of one "
                     "source", g->o->dir, FHIR_MAX_FILES);
            if (sc->fl.n == cap) {
                cap = cap ? 2 * cap : 8;
                char **more = sl_realloc(sc->fl.path, (size_t)cap * sizeof *more);
                SL_CHECK(more, SL_ERR_NOMEM, "out of memory");
                sc->fl.path = more;
            }
            sc->fl.path[sc->fl.n++] = one.path[i];
            one.path[i] = NULL;
        }
        files_free(&one);
        sc->type_end[k] = sc->fl.n;
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                 k == 0 ? "" : k + 1 < sc->ntypes ? ", " : " or ", sc->types[k]->type);
    }
    snprintf(mpath, sizeof mpath, "%s/manifest.json", g->o->dir);
    if (sc->fl.n == 0 && stat(mpath, &sb) == 0)
        SL_FAIL(SL_ERR_IO, "%s: no output of type %s; expected the %s resources (%s)", mpath,
                names, names, why);
    if (sc->fl.n == 0 && sc->ntypes == 1)
        SL_FAIL(SL_ERR_IO,
                "%s: no %s.ndjson (nor %s.*.ndjson, %s-*.ndjson); expected the %s resources (%s)",
                g->o->dir, names, names, names, names, why);
    SL_CHECK(sc->fl.n > 0, SL_ERR_IO,
             "%s: no %s files (T.ndjson, T.*.ndjson or T-*.ndjson of a type T); expected the "
             "%s resources (%s)",
             g->o->dir, names, names, why);
    if (s == SRC_DEATH)
        s = SRC_PERSON;
    if (!(rs->types_seen & (1u << s)))
        g->tables++;
    rs->types_seen |= 1u << s;
cleanup:
    files_free(&one);
    return st;
}

static sl_status nd_open(const char *path, struct ndjson *r)
{
    sl_status st = SL_OK;
    struct stat sb;

    sl_secbuf_destroy(&r->buf);
    sl_gz_close(&r->gz);
    memset(r, 0, sizeof *r);
    r->path = path;
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    SL_CHECK(r->fd >= 0, SL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    SL_CHECK(fstat(r->fd, &sb) == 0 && S_ISREG(sb.st_mode), SL_ERR_IO, "%s: not a regular file",
             path);
    r->size = (int64_t)sb.st_size;
    SL_CALL(sl_secbuf_create(FHIR_READ_BYTES, &r->buf));
    if (sl_gz_magic(r->fd))
        SL_CALL(sl_gz_open(path, r->fd, &r->gz));
cleanup:
    return st;
}

static void nd_close(struct ndjson *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    sl_secbuf_destroy(&r->buf);
    sl_gz_close(&r->gz);
}

/* Up to `cap` more bytes of the file's text into dst (inflated for gzip,
 * member after member); *k 0 at its end. */
static sl_status nd_fill(struct ndjson *r, char *dst, size_t cap, size_t *k)
{
    sl_status st = SL_OK;

    *k = 0;
    if (!r->gz) {
        ssize_t got = read(r->fd, dst, cap);
        SL_CHECK(got >= 0, SL_ERR_IO, "%s: read failed: %s", r->path, strerror(errno));
        *k = (size_t)got;
        goto cleanup;
    }
    SL_CALL(sl_gz_read(r->gz, dst, cap, k));
    r->offset = sl_gz_consumed(r->gz);
cleanup:
    return st;
}

/* The next non-blank line (without its line break) in *s, *n; *got 0 at the
 * end of the file. */
static sl_status nd_next(struct ndjson *r, const char **s, size_t *n, int *got)
{
    sl_status st = SL_OK;
    *got = 0;
    for (;;) {
        char *b = r->buf->data;
        char *nl = r->pos < r->len ? memchr(b + r->pos, '\n', r->len - r->pos) : NULL;
        if (!nl && !r->eof) {
            if (r->pos > 0) {
                memmove(b, b + r->pos, r->len - r->pos);
                sl_wipe(b + r->len - r->pos, r->pos);
                r->len -= r->pos;
                r->pos = 0;
            }
            if (r->len == r->buf->size) {
                struct sl_secbuf *more = NULL;
                SL_CHECK(r->buf->size < FHIR_MAX_LINE, SL_ERR_FORMAT,
                         "%s:%lld: a line longer than %d MiB; expected one resource per line",
                         r->path, (long long)r->line + 1, FHIR_MAX_LINE >> 20);
                SL_CALL(sl_secbuf_create(2 * r->buf->size, &more));
                memcpy(more->data, r->buf->data, r->len);
                sl_secbuf_destroy(&r->buf);
                r->buf = more;
                continue;
            }
            size_t k;
            SL_CALL(nd_fill(r, b + r->len, r->buf->size - r->len, &k));
            if (k == 0)
                r->eof = 1;
            r->len += k;
            continue;
        }
        if (r->pos >= r->len)
            goto cleanup;
        size_t end = nl ? (size_t)(nl - b) : r->len;
        const char *t = b + r->pos;
        size_t len = end - r->pos;
        r->line++;
        if (!r->gz)
            r->offset += (int64_t)(end - r->pos + (nl != NULL));
        r->pos = nl ? end + 1 : end;
        if (len > 0 && t[len - 1] == '\r')
            len--;
        if (r->line == 1 && len >= 3 && memcmp(t, "\xEF\xBB\xBF", 3) == 0) {
            t += 3;
            len -= 3;
        }
        size_t i = 0;
        while (i < len && (t[i] == ' ' || t[i] == '\t'))
            i++;
        if (i == len)
            continue;
        *s = t;
        *n = len;
        *got = 1;
        goto cleanup;
    }
cleanup:
    return st;
}

/* Tokenizes the current line and checks that it is a resource of `type`. */
static sl_status parse_line(struct fhir *rs, struct ndjson *r, const char *s, size_t n,
                            const char *type)
{
    sl_status st = SL_OK;
    size_t off = 0;
    const char *what = NULL;
    char msg[200];

    if (sl_json_parse(&rs->js, s, n, &off, &what) != SL_OK) {
        SL_CHECK(what, SL_ERR_NOMEM, "out of memory");
        snprintf(msg, sizeof msg, "column %zu: invalid JSON: %s", off + 1, what);
        SL_CALL(line_error(r, msg));
    }
    if (rs->js.tok[0].type != SL_JSON_OBJECT ||
        !sl_json_string_eq(&rs->js, s, sl_json_get(&rs->js, s, 0, "resourceType"), type)) {
        snprintf(msg, sizeof msg,
                 "expected a resource of type %s (an object with \"resourceType\": \"%s\")", type,
                 type);
        SL_CALL(line_error(r, msg));
    }
cleanup:
    return st;
}

static sl_status scan_open(struct pivot *g, enum source s, const char *why, int parse,
                           struct scan *sc)
{
    memset(sc, 0, sizeof *sc);
    sc->r.fd = -1;
    sc->parse = parse;
    return need_files(g, s, why, sc);
}

/* The next resource in *s (tokenized into the reader's JSON when parse),
 * opening the files in turn; *got 0 after the last. Reports progress every
 * 65536 resources and at the end of each file. */
static sl_status scan_next(struct pivot *g, struct scan *sc, const char **s, int *got)
{
    sl_status st = SL_OK;
    size_t n = 0;
    for (;;) {
        if (sc->r.fd < 0) {
            *got = 0;
            if (sc->next == sc->fl.n)
                goto cleanup;
            sc->desc = file_type(sc, sc->next);
            SL_CALL(nd_open(sc->fl.path[sc->next++], &sc->r));
        }
        SL_CALL(nd_next(&sc->r, s, &n, got));
        if (*got)
            break;
        if (sc->parse)
            sl_pivot_progress(g, sc->r.path, sc->rows, sc->r.offset, sc->r.size, 1);
        nd_close(&sc->r);
    }
    if ((++sc->rows & 0xFFFF) == 0 && sc->parse)
        sl_pivot_progress(g, sc->r.path, sc->rows, sc->r.offset, sc->r.size, 0);
    if (sc->parse)
        SL_CALL(parse_line(g->rs, &sc->r, *s, n, sc->desc->type));
cleanup:
    return st;
}

/* For --check: the first resource of each file parses and has the type. */
static sl_status scan_peek(struct pivot *g, struct scan *sc)
{
    sl_status st = SL_OK;
    const char *s;
    size_t n;
    int got;
    for (int i = 0; i < sc->fl.n; i++) {
        SL_CALL(nd_open(sc->fl.path[i], &sc->r));
        SL_CALL(nd_next(&sc->r, &s, &n, &got));
        if (got)
            SL_CALL(parse_line(g->rs, &sc->r, s, n, file_type(sc, i)->type));
        nd_close(&sc->r);
    }
cleanup:
    return st;
}

static void scan_close(struct scan *sc)
{
    nd_close(&sc->r);
    files_free(&sc->fl);
}

/* String token t decoded into the scratch text, or an error naming `field`. */
static sl_status get_text(struct fhir *rs, const struct ndjson *r, const char *s, uint32_t t,
                          const char *field, const char **out, size_t *len)
{
    sl_status st = SL_OK;
    char msg[160];
    int64_t n = sl_json_string(&rs->js, s, t, rs->text, FHIR_TEXT_MAX);
    if (n < 0 || memchr(rs->text, '\0', (size_t)n)) {
        snprintf(msg, sizeof msg, "%s: expected a string of at most %d bytes without \\u0000",
                 field, FHIR_TEXT_MAX - 1);
        SL_CALL(line_error(r, msg));
    }
    *out = rs->text;
    *len = (size_t)n;
cleanup:
    return st;
}

/* ---- patients ---- */

/* 1 when s[0, n) is a FHIR id: 1 to 64 letters, digits, '-' or '.'. */
static int id_ok(const char *s, size_t n)
{
    if (n < 1 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '.'))
            return 0;
    return 1;
}

static int64_t person_find(const struct pivot *g, const char *id, size_t n, uint64_t h)
{
    const struct fhir *rs = g->rs;
    const struct pslot *slot = rs->slots->data;
    size_t i = (size_t)h & (rs->nslots - 1);
    while (slot[i].row1) {
        if (slot[i].hash == h) {
            const char *t = (const char *)rs->ids->data + rs->idoff[slot[i].row1 - 1];
            if (strncmp(t, id, n) == 0 && t[n] == '\0')
                return slot[i].row1 - 1;
        }
        i = (i + 1) & (rs->nslots - 1);
    }
    return -1;
}

/* The year of a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD), or -1. */
static int64_t birth_year(const char *s, size_t n)
{
    static const char tail[] = "-01-01"; /* what a partial date lacks */
    int32_t d;
    char full[11];
    if (n != 4 && n != 7 && n != 10)
        return -1;
    memcpy(full, s, n);
    memcpy(full + n, tail + (n - 4), 10 - n);
    full[10] = '\0';
    if (sl_parse_date(full, 10, &d) != 0)
        return -1;
    return (full[0] - '0') * 1000 + (full[1] - '0') * 100 + (full[2] - '0') * 10 + (full[3] - '0');
}

/* A date element of the resource (FHIR dateTime of which the date counts):
 * *days, or *miss when absent; malformed or partial is an error. */
static sl_status date_at(struct fhir *rs, const struct ndjson *r, const char *s, uint32_t t,
                         const char *field, int32_t *days)
{
    sl_status st = SL_OK;
    const char *v;
    size_t n;
    char msg[200];
    SL_CALL(get_text(rs, r, s, t, field, &v, &n));
    if (sl_pivot_parse_date(v, n, days) != 0) {
        snprintf(msg, sizeof msg, "%s: expected a full date YYYY-MM-DD, optionally with a time",
                 field);
        SL_CALL(line_error(r, msg));
    }
cleanup:
    sl_wipe(rs->text, FHIR_TEXT_MAX);
    return st;
}

/* The first ombCategory code of a US Core race or ethnicity extension. */
static uint32_t omb_category(const struct sl_json *js, const char *s, const char *url)
{
    uint32_t ext = sl_json_get(js, s, 0, "extension");
    for (uint32_t e = sl_json_first(js, ext); e; e = sl_json_next(js, ext, e)) {
        if (!sl_json_string_eq(js, s, sl_json_get(js, s, e, "url"), url))
            continue;
        uint32_t sub = sl_json_get(js, s, e, "extension");
        for (uint32_t x = sl_json_first(js, sub); x; x = sl_json_next(js, sub, x))
            if (sl_json_string_eq(js, s, sl_json_get(js, s, x, "url"), "ombCategory"))
                return sl_json_get(js, s, x, "valueCoding");
    }
    return 0;
}

/* Interns a Coding's system|code into *id (0 when it lacks either). */
static sl_status coding_code(struct pivot *g, struct fhir *rs, const struct ndjson *r,
                             const char *s, uint32_t coding, int intern, int64_t *id)
{
    sl_status st = SL_OK;
    const struct sl_json *js = &rs->js;
    uint32_t sys = sl_json_get(js, s, coding, "system"), code = sl_json_get(js, s, coding, "code");
    int64_t a, b;
    *id = 0;
    if (!sys || !code)
        goto cleanup;
    a = sl_json_string(js, s, sys, rs->text, FHIR_TEXT_MAX);
    if (a >= 0 && a + 1 < FHIR_TEXT_MAX) {
        rs->text[a] = '|';
        b = sl_json_string(js, s, code, rs->text + a + 1, (size_t)(FHIR_TEXT_MAX - a - 1));
    } else {
        b = -1;
    }
    if (b < 0 || memchr(rs->text, '\0', (size_t)(a + 1 + b)))
        SL_CALL(line_error(r, "a coding's system|code: expected strings of at most 1023 bytes "
                              "together, without \\u0000"));
    if (intern)
        SL_CALL(sl_pivot_code_intern(g, rs->text, (size_t)(a + 1 + b), id));
    else
        *id = sl_pivot_code_find(g, rs->text, (size_t)(a + 1 + b));
cleanup:
    sl_wipe(rs->text, FHIR_TEXT_MAX);
    return st;
}

/* Reads one Patient resource into row p. */
static sl_status patient_fields(struct pivot *g, struct fhir *rs, const struct ndjson *r,
                                const char *s, int64_t p)
{
    sl_status st = SL_OK;
    const struct sl_json *js = &rs->js;
    const char *v;
    size_t n;

    for (int k = 0; k < NPF; k++) {
        if (!g->need_pf[k])
            continue;
        int64_t x = SL_INT_MISSING;
        uint32_t t = 0;
        if (k == PF_GENDER && (t = sl_json_get(js, s, 0, "gender")) != 0) {
            SL_CALL(get_text(rs, r, s, t, "gender", &v, &n));
            x = sl_pivot_code_find(g, v, n);
            sl_wipe(rs->text, n);
            if (x == 0)
                x = SL_INT_MISSING;
        } else if ((k == PF_AGE || k == PF_YOB) && (t = sl_json_get(js, s, 0, "birthDate")) != 0) {
            SL_CALL(get_text(rs, r, s, t, "birthDate", &v, &n));
            x = birth_year(v, n);
            sl_wipe(rs->text, n);
            if (x < 0)
                SL_CALL(line_error(r, "birthDate: expected a date YYYY, YYYY-MM or YYYY-MM-DD"));
        } else if (k == PF_RACE || k == PF_ETHNICITY) {
            uint32_t c = omb_category(js, s,
                                      k == PF_RACE
                                          ? "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
                                          : "http://hl7.org/fhir/us/core/StructureDefinition/"
                                            "us-core-ethnicity");
            if (c)
                SL_CALL(coding_code(g, rs, r, s, c, 1, &x));
            if (x == 0)
                x = SL_INT_MISSING;
        }
        ((int64_t *)g->pf[k]->data)[p] = x;
    }
    if (g->need_src[SRC_DEATH]) {
        int32_t d = SL_DATE_MISSING;
        uint32_t t = sl_json_get(js, s, 0, "deceasedDateTime");
        if (t)
            SL_CALL(date_at(rs, r, s, t, "deceasedDateTime", &d));
        ((int32_t *)rs->death->data)[p] = d;
    }
cleanup:
    return st;
}

/* Counts the non-blank lines of the Patient files (an upper bound on the
 * patients), then reads ids and fields into secret memory. */
static sl_status read_persons(struct pivot *g)
{
    sl_status st = SL_OK;
    struct fhir *rs = g->rs;
    struct scan sc;
    const char *s, *v;
    size_t len;
    int got;
    int64_t lines, rows = 0;

    SL_CALL(scan_open(g, SRC_PERSON, "every spec reads Patient", 0, &sc));
    if (g->o->check) {
        SL_CALL(scan_peek(g, &sc));
        goto cleanup;
    }
    do
        SL_CALL(scan_next(g, &sc, &s, &got));
    while (got);
    lines = sc.rows;
    SL_CHECK(lines > 0, SL_ERR_FORMAT, "%s: no Patient resources, expected at least one",
             sc.fl.path[0]);
    scan_close(&sc);
    SL_CALL(scan_open(g, SRC_PERSON, "every spec reads Patient", 1, &sc));
    rs->nslots = 16;
    while (rs->nslots < (size_t)lines * 2)
        rs->nslots *= 2;
    SL_CALL(sl_secbuf_create(rs->nslots * sizeof(struct pslot), &rs->slots));
    SL_CALL(sl_secbuf_create((size_t)lines * 16 + 4096, &rs->ids));
    rs->idoff = sl_malloc((size_t)lines * sizeof *rs->idoff);
    rs->pline = sl_malloc((size_t)lines * sizeof *rs->pline);
    SL_CHECK(rs->idoff && rs->pline, SL_ERR_NOMEM, "out of memory for %lld patients",
             (long long)lines);
    for (int k = 0; k < NPF; k++)
        if (g->need_pf[k])
            SL_CALL(sl_secbuf_create((size_t)lines * sizeof(int64_t), &g->pf[k]));
    if (g->need_src[SRC_DEATH])
        SL_CALL(sl_secbuf_create((size_t)lines * sizeof(int32_t), &rs->death));
    struct pslot *slot = rs->slots->data;
    for (;;) {
        SL_CALL(scan_next(g, &sc, &s, &got));
        if (!got)
            break;
        SL_CHECK(rows < lines, SL_ERR_IO, "%s: the file changed during ingest", sc.r.path);
        SL_CALL(get_text(rs, &sc.r, s, sl_json_get(&rs->js, s, 0, "id"), "id", &v, &len));
        if (!id_ok(v, len))
            SL_CALL(line_error(&sc.r, "id: expected a FHIR id (1 to 64 letters, digits, '-' "
                                      "or '.')"));
        uint64_t h = sl_pivot_hash(v, len);
        int64_t q = person_find(g, v, len, h);
        if (q >= 0) {
            char msg[160];
            snprintf(msg, sizeof msg, "id repeats line %lld's patient, expected one Patient "
                                      "resource per patient",
                     (long long)rs->pline[q]);
            SL_CALL(line_error(&sc.r, msg));
        }
        if (rs->ids_used + len + 1 > rs->ids->size) {
            struct sl_secbuf *more = NULL;
            SL_CALL(sl_secbuf_create(2 * rs->ids->size + len + 1, &more));
            memcpy(more->data, rs->ids->data, rs->ids_used);
            sl_secbuf_destroy(&rs->ids);
            rs->ids = more;
        }
        memcpy((char *)rs->ids->data + rs->ids_used, v, len + 1);
        sl_wipe(rs->text, len);
        rs->idoff[rows] = rs->ids_used;
        rs->ids_used += len + 1;
        size_t k = (size_t)h & (rs->nslots - 1);
        while (slot[k].row1)
            k = (k + 1) & (rs->nslots - 1);
        slot[k] = (struct pslot){h, rows + 1};
        rs->pline[rows] = sc.r.line;
        g->np = rows + 1;
        SL_CALL(patient_fields(g, rs, &sc.r, s, rows));
        rows++;
    }
cleanup:
    scan_close(&sc);
    return st;
}

/* The id a reference v[0, n) names: `urn:uuid:<id>`, or `<type>/<id>`, also
 * as the tail of an absolute URL and before `/_history/...`; NULL when it
 * names none. */
static const char *ref_id(const char *v, size_t n, const char *type, size_t *len)
{
    size_t tn = strlen(type);
    const char *id = NULL;
    *len = 0;
    if (n > 9 && memcmp(v, "urn:uuid:", 9) == 0) {
        *len = n - 9;
        return v + 9;
    }
    for (size_t i = n >= tn + 1 ? n - tn : 0; i-- > 0 && !id;)
        if (memcmp(v + i, type, tn) == 0 && v[i + tn] == '/' && (i == 0 || v[i - 1] == '/'))
            id = v + i + tn + 1;
    while (id && id + *len < v + n && id[*len] != '/')
        (*len)++;
    return id && *len ? id : NULL;
}

/* The patient of the current resource (d's reference to it, by default
 * subject.reference: Patient/<id>, as the tail of a URL too, or
 * urn:uuid:<id>): its row, or an error. Exports list a patient's resources
 * together, so the last patient found is tried first. */
static sl_status subject(struct pivot *g, struct ndjson *r, const char *s,
                         const struct fhir_desc *d, int64_t *p)
{
    sl_status st = SL_OK;
    struct fhir *rs = g->rs;
    const char *elem = d->patient ? d->patient : "subject.reference";
    char expected[120];
    const char *v, *id;
    size_t n, len;
    uint32_t t = sl_json_path(&rs->js, s, 0, elem);

    snprintf(expected, sizeof expected,
             "%s: expected Patient/<id> of a patient in the Patient files", elem);
    if (!t)
        SL_CALL(line_error(r, expected));
    SL_CALL(get_text(rs, r, s, t, elem, &v, &n));
    id = ref_id(v, n, "Patient", &len);
    if (!id)
        SL_CALL(line_error(r, expected));
    uint64_t h = sl_pivot_hash(id, len);
    if (rs->last_row >= 0 && rs->last_hash == h) {
        const char *last = (const char *)rs->ids->data + rs->idoff[rs->last_row];
        if (strncmp(last, id, len) == 0 && last[len] == '\0') {
            *p = rs->last_row;
            goto cleanup;
        }
    }
    *p = person_find(g, id, len, h);
    rs->last_hash = h;
    rs->last_row = *p;
    if (*p < 0)
        SL_CALL(line_error(r, expected));
cleanup:
    sl_wipe(rs->text, FHIR_TEXT_MAX);
    return st;
}

/* ---- events ---- */

/* 1 when the record says the event did not take place: its status is
 * entered-in-error or one of d's statuses of what was not done (for
 * Condition, a verificationStatus entered-in-error or refuted). */
static int did_not_happen(const struct sl_json *js, const char *s, enum source src,
                          const struct fhir_desc *d)
{
    uint32_t status = sl_json_get(js, s, 0, "status");
    if (sl_json_string_eq(js, s, status, "entered-in-error"))
        return 1;
    for (int k = 0; k < 2 && d->not_done[k]; k++)
        if (sl_json_string_eq(js, s, status, d->not_done[k]))
            return 1;
    if (src != SRC_CONDITION)
        return 0;
    uint32_t c = sl_json_path(js, s, 0, "verificationStatus.coding");
    for (uint32_t x = sl_json_first(js, c); x; x = sl_json_next(js, c, x)) {
        uint32_t code = sl_json_get(js, s, x, "code");
        if (sl_json_string_eq(js, s, code, "entered-in-error") ||
            sl_json_string_eq(js, s, code, "refuted"))
            return 1;
    }
    return 0;
}

/* The date of the current resource: the first of its type's date elements
 * that it has. */
static sl_status event_date(struct fhir *rs, const struct ndjson *r, const char *s,
                            const struct fhir_desc *d, int32_t *days)
{
    sl_status st = SL_OK;
    char msg[240];
    int k, len;
    for (k = 0; k < 4 && d->date[k]; k++) {
        uint32_t t = sl_json_path(&rs->js, s, 0, d->date[k]);
        if (t) {
            SL_CALL(date_at(rs, r, s, t, d->date[k], days));
            goto cleanup;
        }
    }
    len = snprintf(msg, sizeof msg, "no date: expected %s", d->date[0]);
    for (int i = 1; i < k; i++)
        len += snprintf(msg + len, sizeof msg - (size_t)len, "%s%s", i + 1 < k ? ", " : " or ",
                        d->date[i]);
    SL_CALL(line_error(r, msg));
cleanup:
    return st;
}

static sl_status read_index(struct pivot *g)
{
    sl_status st = SL_OK;
    struct fhir *rs = g->rs;
    struct scan sc;
    int32_t *index = g->index->data, d;
    const char *s;
    int got;
    int64_t p;

    memset(&sc, 0, sizeof sc);
    sc.r.fd = -1;
    if (g->index_kind != INDEX_FIRST_VISIT)
        goto cleanup;
    SL_CALL(scan_open(g, SRC_VISIT, "index: first_encounter reads it", 1, &sc));
    if (g->o->check) {
        SL_CALL(scan_peek(g, &sc));
        goto cleanup;
    }
    for (;;) {
        SL_CALL(scan_next(g, &sc, &s, &got));
        if (!got)
            break;
        if (did_not_happen(&rs->js, s, SRC_VISIT, &fhir_src[SRC_VISIT]))
            continue;
        SL_CALL(subject(g, &sc.r, s, &fhir_src[SRC_VISIT], &p));
        SL_CALL(event_date(rs, &sc.r, s, sc.desc, &d));
        if (index[p] == SL_DATE_MISSING || d < index[p])
            index[p] = d;
    }
cleanup:
    scan_close(&sc);
    return st;
}

static sl_status ev_unit(void *ctx, int64_t *unit, int *miss)
{
    sl_status st = SL_OK;
    struct fhir_event *e = ctx;
    struct fhir *rs = e->g->rs;
    const char *v;
    size_t n;
    uint32_t q = sl_json_get(&rs->js, e->line, e->root, "valueQuantity"), t = 0;
    if (q && (t = sl_json_get(&rs->js, e->line, q, "code")) == 0)
        t = sl_json_get(&rs->js, e->line, q, "unit");
    *miss = !t;
    if (!t)
        goto cleanup;
    SL_CALL(get_text(rs, e->r, e->line, t,
                     e->root ? "component.valueQuantity.code" : "valueQuantity.code", &v, &n));
    SL_CALL(sl_pivot_code_intern(e->g, v, n, unit));
cleanup:
    sl_wipe(rs->text, FHIR_TEXT_MAX);
    return st;
}

static sl_status ev_value(void *ctx, double *v, int *miss)
{
    sl_status st = SL_OK;
    struct fhir_event *e = ctx;
    struct fhir *rs = e->g->rs;
    uint32_t t = sl_json_path(&rs->js, e->line, e->root, "valueQuantity.value");
    *miss = !t;
    if (t && sl_json_number(&rs->js, e->line, t, v) != 0)
        SL_CALL(line_error(e->r, e->root ? "component.valueQuantity.value: expected a finite "
                                           "number"
                                         : "valueQuantity.value: expected a finite number"));
cleanup:
    return st;
}

static sl_status ev_value_concept(void *ctx, int64_t *c, int *miss)
{
    sl_status st = SL_OK;
    struct fhir_event *e = ctx;
    struct fhir *rs = e->g->rs;
    uint32_t cc = sl_json_path(&rs->js, e->line, e->root, "valueCodeableConcept.coding");
    uint32_t first = sl_json_first(&rs->js, cc);
    *c = 0;
    if (first)
        SL_CALL(coding_code(e->g, rs, e->r, e->line, first, 1, c));
    *miss = *c == 0;
cleanup:
    return st;
}

static sl_status ev_order(void *ctx, int64_t *order)
{
    *order = ((const struct fhir_event *)ctx)->order;
    return SL_OK;
}

static int64_t ev_line(void *ctx)
{
    return ((const struct fhir_event *)ctx)->r->line;
}

static sl_status ev_unit_error(void *ctx, const char *msg)
{
    return line_error(((const struct fhir_event *)ctx)->r, msg);
}

/* The features one resource matches, each once, with the element that
 * matched (0: the resource; else an Observation component, whose values
 * count then). mark[f] == stamp marks the features taken for this resource. */
struct hits {
    int64_t *mark;
    int64_t stamp;
    int *f;
    uint32_t *at;
    int n;
};

static void add_hits(const struct pivot_matches *m, int64_t id, uint32_t at, struct hits *h)
{
    for (size_t k = sl_pivot_match_first(m, id); k < m->nm && m->mt[k].concept == id; k++) {
        int f = m->mt[k].feature;
        if (h->mark[f] != h->stamp) {
            h->mark[f] = h->stamp;
            h->at[h->n] = at;
            h->f[h->n++] = f;
        }
    }
}

/* The features the codings of element `code` (of element `at`) match: a
 * CodeableConcept, a Coding (Encounter.class in R4) or a list of
 * CodeableConcepts (R5). */
static sl_status match_codes(struct pivot *g, struct ndjson *r, const char *s, uint32_t code,
                             uint32_t at, const struct pivot_matches *m, struct hits *h)
{
    sl_status st = SL_OK;
    struct fhir *rs = g->rs;
    const struct sl_json *js = &rs->js;
    int64_t id;
    uint32_t list = code;

    if (!code)
        goto cleanup;
    if (js->tok[code].type == SL_JSON_OBJECT && !sl_json_get(js, s, code, "coding")) {
        SL_CALL(coding_code(g, rs, r, s, code, 0, &id));
        if (id)
            add_hits(m, id, at, h);
        goto cleanup;
    }
    if (js->tok[code].type == SL_JSON_OBJECT)
        list = 0;
    for (uint32_t cc = list ? sl_json_first(js, list) : code; cc;
         cc = list ? sl_json_next(js, list, cc) : 0) {
        uint32_t codings = sl_json_get(js, s, cc, "coding");
        for (uint32_t x = sl_json_first(js, codings); x; x = sl_json_next(js, codings, x)) {
            SL_CALL(coding_code(g, rs, r, s, x, 0, &id));
            if (id)
                add_hits(m, id, at, h);
        }
    }
cleanup:
    return st;
}

/* ---- Medication resources, for medicationReference ---- */

static const struct fhir_desc fhir_medication = {"Medication", {"code"}, {NULL}, NULL, {NULL}};

static void medtab_free(struct medtab **tp)
{
    struct medtab *t = *tp;
    if (!t)
        return;
    sl_free(t->ids);
    sl_free(t->codes);
    sl_free(t->slot);
    sl_free(t);
    *tp = NULL;
}

/* The slot of id[0, len) (hash h): its entry, or the empty slot it would
 * take. */
static struct medslot *med_slot(const struct medtab *t, const char *id, size_t len, uint64_t h)
{
    size_t i = (size_t)h & (t->nslots - 1);
    while (t->slot[i].id1) {
        const char *have = t->ids + t->slot[i].id1 - 1;
        if (t->slot[i].hash == h && strncmp(have, id, len) == 0 && have[len] == '\0')
            break;
        i = (i + 1) & (t->nslots - 1);
    }
    return &t->slot[i];
}

/* Doubles the slots. */
static sl_status med_grow(struct medtab *t)
{
    sl_status st = SL_OK;
    struct medslot *old = t->slot;
    size_t n = t->nslots;
    t->nslots = n ? 2 * n : 64;
    t->slot = sl_calloc(t->nslots, sizeof *t->slot);
    SL_CHECK(t->slot, SL_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (old[i].id1) {
            const char *id = t->ids + old[i].id1 - 1;
            *med_slot(t, id, strlen(id), old[i].hash) = old[i];
        }
cleanup:
    sl_free(old);
    return st;
}

/* Appends `n` bytes (or int64s) to a growing array. */
static sl_status med_push(void **a, size_t *used, size_t *cap, size_t size, const void *v, size_t n)
{
    sl_status st = SL_OK;
    if (*used + n > *cap) {
        size_t c = *cap ? 2 * *cap : 1024;
        while (c < *used + n)
            c *= 2;
        void *more = sl_realloc(*a, c * size);
        SL_CHECK(more, SL_ERR_NOMEM, "out of memory");
        *a = more;
        *cap = c;
    }
    memcpy((char *)*a + *used * size, v, n * size);
    *used += n;
cleanup:
    return st;
}

/* Reads the export's Medication files, if it has any, into rs->meds: each
 * id with the codes of its code.coding that the spec asks for. */
static sl_status read_medications(struct pivot *g)
{
    sl_status st = SL_OK;
    struct fhir *rs = g->rs;
    struct medtab *t;
    struct scan sc;
    const char *s, *v;
    size_t n;
    int got;

    memset(&sc, 0, sizeof sc);
    sc.r.fd = -1;
    sc.parse = 1;
    sc.ntypes = 1;
    sc.types[0] = &fhir_medication;
    rs->meds = t = sl_calloc(1, sizeof *t);
    SL_CHECK(t, SL_ERR_NOMEM, "out of memory");
    SL_CALL(med_grow(t));
    SL_CALL(list_files(g, "Medication", &sc.fl));
    sc.type_end[0] = sc.fl.n;
    if (sc.fl.n == 0)
        goto cleanup;
    g->tables++;
    if (g->o->check) {
        SL_CALL(scan_peek(g, &sc));
        goto cleanup;
    }
    for (;;) {
        char id[65];
        struct medslot *slot;
        uint32_t codings;
        uint64_t h;
        int64_t code0 = (int64_t)t->ncodes;
        SL_CALL(scan_next(g, &sc, &s, &got));
        if (!got)
            break;
        uint32_t it = sl_json_get(&rs->js, s, 0, "id");
        if (!it)
            SL_CALL(line_error(&sc.r, "id: expected the Medication's id"));
        SL_CALL(get_text(rs, &sc.r, s, it, "id", &v, &n));
        if (!id_ok(v, n))
            SL_CALL(line_error(&sc.r, "id: expected 1 to 64 letters, digits, '-' or '.'"));
        memcpy(id, v, n);
        id[n] = '\0';
        codings = sl_json_path(&rs->js, s, 0, "code.coding");
        for (uint32_t x = sl_json_first(&rs->js, codings); x;
             x = sl_json_next(&rs->js, codings, x)) {
            int64_t c;
            SL_CALL(coding_code(g, rs, &sc.r, s, x, 0, &c));
            if (c)
                SL_CALL(med_push((void **)&t->codes, &t->ncodes, &t->codes_cap, sizeof c, &c, 1));
        }
        h = sl_pivot_hash(id, n);
        slot = med_slot(t, id, n, h);
        if (slot->id1)
            SL_CALL(line_error(&sc.r, "id: an earlier Medication has the same id"));
        *slot = (struct medslot){h, (int64_t)t->ids_used + 1, code0, (int64_t)t->ncodes - code0};
        SL_CALL(med_push((void **)&t->ids, &t->ids_used, &t->ids_cap, 1, id, n + 1));
        if (++t->n * 2 >= t->nslots)
            SL_CALL(med_grow(t));
    }
cleanup:
    scan_close(&sc);
    return st;
}

/* The features a medication given by reference matches: a contained
 * Medication (`#<id>`) by its code, or one of the export's Medication
 * resources; a reference to a Medication the export lacks matches none
 * and is counted. */
static sl_status match_medication(struct pivot *g, struct ndjson *r, const char *s,
                                  uint32_t ref, const struct pivot_matches *m, struct hits *h)
{
    sl_status st = SL_OK;
    struct fhir *rs = g->rs;
    const struct sl_json *js = &rs->js;
    const struct medslot *slot;
    const char *v, *id;
    size_t n, len;
    char want[65];

    SL_CALL(get_text(rs, r, s, ref, "medicationReference.reference", &v, &n));
    if (n >= 2 && v[0] == '#') {
        uint32_t list = sl_json_get(js, s, 0, "contained");
        if (!id_ok(v + 1, n - 1))
            SL_CALL(line_error(r, "medicationReference.reference: expected #<id> of a "
                                  "contained Medication"));
        memcpy(want, v + 1, n - 1);
        want[n - 1] = '\0';
        for (uint32_t x = sl_json_first(js, list); x; x = sl_json_next(js, list, x))
            if (sl_json_string_eq(js, s, sl_json_get(js, s, x, "resourceType"), "Medication") &&
                sl_json_string_eq(js, s, sl_json_get(js, s, x, "id"), want)) {
                SL_CALL(match_codes(g, r, s, sl_json_get(js, s, x, "code"), 0, m, h));
                goto cleanup;
            }
        SL_CALL(line_error(r, "medicationReference.reference: no contained Medication has the "
                              "id it names"));
    }
    id = ref_id(v, n, "Medication", &len);
    if (!id)
        SL_CALL(line_error(r, "medicationReference.reference: expected Medication/<id>, or #<id> "
                              "of a contained Medication"));
    slot = med_slot(rs->meds, id, len, sl_pivot_hash(id, len));
    if (!slot->id1) {
        rs->med_dangling++;
        goto cleanup;
    }
    for (int64_t k = 0; k < slot->ncode; k++)
        add_hits(m, rs->meds->codes[slot->code0 + k], 0, h);
cleanup:
    sl_wipe(rs->text, FHIR_TEXT_MAX);
    return st;
}

/* The features a resource matches: by its code, then (Observation) by the
 * codes of its components, as panels such as blood pressure carry their
 * measurements. */
static sl_status match_resource(struct pivot *g, struct ndjson *r, const char *s,
                                enum source src, const struct fhir_desc *d,
                                const struct pivot_matches *m, struct hits *h)
{
    sl_status st = SL_OK;
    const struct sl_json *js = &((struct fhir *)g->rs)->js;
    const char *const *code = d->code;
    uint32_t c0 = sl_json_path(js, s, 0, code[0]);
    h->n = 0;
    if (!c0 && code[1])
        c0 = sl_json_path(js, s, 0, code[1]);
    if (!c0 && src == SRC_DRUG) {
        /* R4 medicationReference, R5 medication.reference */
        uint32_t ref = sl_json_path(js, s, 0, "medicationReference.reference");
        if (!ref)
            ref = sl_json_path(js, s, 0, "medication.reference.reference");
        if (ref)
            SL_CALL(match_medication(g, r, s, ref, m, h));
        goto cleanup;
    }
    SL_CALL(match_codes(g, r, s, c0, 0, m, h));
    if (src == SRC_OBSERVATION) {
        uint32_t comp = sl_json_get(js, s, 0, "component");
        for (uint32_t c = sl_json_first(js, comp); c; c = sl_json_next(js, comp, c))
            SL_CALL(match_codes(g, r, s, sl_json_get(js, s, c, "code"), c, m, h));
    }
cleanup:
    return st;
}

/* Death events: each patient's deceasedDateTime, read with the patients. */
static sl_status death_events(struct pivot *g, const struct pivot_matches *m)
{
    sl_status st = SL_OK;
    struct fhir *rs = g->rs;
    const int32_t *index = g->index->data, *death = rs->death->data;
    struct fhir_event fe = {g, NULL, NULL, 0, 0};
    const struct pivot_event ev = {&fe, NULL, NULL, NULL, ev_order, NULL, NULL};

    for (int64_t p = 0; p < g->np; p++) {
        if (index[p] == SL_DATE_MISSING || death[p] == SL_DATE_MISSING)
            continue;
        fe.order = p;
        for (size_t k = 0; k < m->nall; k++)
            SL_CALL(sl_pivot_fold(&g->f[m->all[k]], &ev, p, death[p] - index[p], g->o->spec));
    }
cleanup:
    return st;
}

static sl_status read_events(struct pivot *g, enum source src)
{
    sl_status st = SL_OK;
    struct fhir *rs = g->rs;
    struct scan sc;
    struct pivot_matches m;
    struct fhir_event fe = {g, &sc.r, NULL, 0, 0};
    const struct pivot_event ev = {&fe, ev_unit, ev_value, ev_value_concept,
                                   ev_order, ev_line, ev_unit_error};
    struct hits h = {NULL, 0, NULL, NULL, 0};
    int64_t p;
    int32_t d;
    const int32_t *index = g->index->data;
    const char *s;
    int got;

    memset(&sc, 0, sizeof sc);
    sc.r.fd = -1;
    SL_CALL(sl_pivot_matches(g, src, &m));
    if (src == SRC_DRUG && !rs->meds)
        SL_CALL(read_medications(g));
    SL_CALL(scan_open(g, src, m.why, 1, &sc));
    if (g->o->check) {
        SL_CALL(scan_peek(g, &sc));
        goto cleanup;
    }
    if (src == SRC_DEATH) {
        SL_CALL(death_events(g, &m));
        goto cleanup;
    }
    h.mark = sl_malloc((size_t)g->nf * sizeof *h.mark);
    h.f = sl_malloc((size_t)g->nf * sizeof *h.f);
    h.at = sl_malloc((size_t)g->nf * sizeof *h.at);
    SL_CHECK(h.mark && h.f && h.at, SL_ERR_NOMEM, "out of memory");
    for (int i = 0; i < g->nf; i++)
        h.mark[i] = -1;
    for (;;) {
        SL_CALL(scan_next(g, &sc, &s, &got));
        if (!got)
            break;
        h.stamp = sc.rows;
        SL_CALL(match_resource(g, &sc.r, s, src, sc.desc, &m, &h));
        if (h.n == 0 || did_not_happen(&rs->js, s, src, sc.desc))
            continue;
        SL_CALL(subject(g, &sc.r, s, sc.desc, &p));
        if (index[p] == SL_DATE_MISSING)
            continue;
        SL_CALL(event_date(rs, &sc.r, s, sc.desc, &d));
        fe.line = s;
        fe.order = sc.rows;
        for (int k = 0; k < h.n; k++) {
            fe.root = h.at[k];
            SL_CALL(sl_pivot_fold(&g->f[h.f[k]], &ev, p, d - index[p], g->o->spec));
        }
    }
    g->events += sc.rows;
    if (src == SRC_DRUG && rs->med_dangling)
        sl_log_warn("%lld medication resources name a Medication that no Medication file "
                    "holds; they match no feature",
                    (long long)rs->med_dangling);
cleanup:
    scan_close(&sc);
    sl_pivot_matches_free(&m);
    sl_free(h.mark);
    sl_free(h.f);
    sl_free(h.at);
    return st;
}

/* ---- the reader ---- */

static size_t fhir_id_text(const struct pivot *g, int64_t p, char *buf, size_t cap)
{
    const struct fhir *rs = g->rs;
    const char *id = (const char *)rs->ids->data + rs->idoff[p];
    size_t n = strlen(id);
    if (n >= cap)
        return 0;
    memcpy(buf, id, n + 1);
    return n;
}

static const char *fhir_no_index(const struct pivot *g)
{
    (void)g;
    return "no patient has an Encounter with a start";
}

static void fhir_free(struct pivot *g)
{
    struct fhir *rs = g->rs;
    sl_secbuf_destroy(&rs->ids);
    sl_free(rs->idoff);
    sl_secbuf_destroy(&rs->slots);
    sl_free(rs->pline);
    sl_secbuf_destroy(&rs->death);
    sl_json_free(&rs->js);
    sl_secbuf_destroy(&rs->textbuf);
    rs->text = NULL;
    medtab_free(&rs->meds);
}

static const struct pivot_reader fhir_reader = {
    .dialect = DIALECT_FHIR,
    .files = "folder of FHIR Bulk Data NDJSON files",
    .persons = read_persons,
    .index = read_index,
    .events = read_events,
    .id_text = fhir_id_text,
    .no_index = fhir_no_index,
    .free = fhir_free,
};

sl_status sl_fhir_ingest(const struct sl_omop_opts *o, struct sl_omop_stats *stats)
{
    sl_status st = SL_OK;
    struct fhir rs = {.last_row = -1};

    SL_CALL(sl_secbuf_create(FHIR_TEXT_MAX, &rs.textbuf));
    rs.text = rs.textbuf->data;
    st = sl_pivot_ingest(o, &fhir_reader, &rs, stats);
cleanup:
    if (rs.textbuf && st != SL_OK && !rs.ids)
        sl_secbuf_destroy(&rs.textbuf);
    return st;
}
