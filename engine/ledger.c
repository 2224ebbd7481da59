/*
 * ledger.c: the release ledger (see ledger.h): one JSON document per cohort
 * and project, rewritten atomically under an exclusive file lock.
 */
#define _XOPEN_SOURCE 700 /* realpath */

#include "engine/filter.h"
#include "engine/ledger.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "engine/config_impl.h"
#include "engine/dp.h"
#include "engine/gate_impl.h"
#include "engine/release.h"
#include "io/keys.h"

struct sl_ledger {
    char dir[4096];
    char path[4096];
    char name[512]; /* path under the ledger directory */
    char root[4096]; /* the ledger directory, resolved */
    int lock_fd;
    json_t *doc;
    /* SHA-256 of the file's bytes that doc holds (read and checked, or
     * written by a commit); unset for a ledger not on disk yet, and once doc
     * holds changes not committed */
    unsigned char seen[32];
    int have_seen;
    unsigned char key[32]; /* secret: the ledger MAC key */
};

/* HMAC-SHA-256 under `key` of the ledger document without its "mac"
 * member, in canonical form (compact, keys sorted), as 64 hex digits. */
static sl_status ledger_mac(const json_t *doc, const unsigned char key[32], char hex[65])
{
    sl_status st = SL_OK;
    json_t *body = json_copy((json_t *)doc);
    char *text = NULL;
    unsigned char tag[32];
    size_t len = 0;

    SL_CHECK(body, SL_ERR_NOMEM, "out of memory");
    json_object_del(body, "mac");
    text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    SL_CHECK(text, SL_ERR_NOMEM, "out of memory");
    SL_CHECK(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, 32,
                       (const unsigned char *)text, strlen(text), tag, sizeof tag, &len) &&
                 len == sizeof tag,
             SL_ERR_INTERNAL, "HMAC-SHA-256 unavailable");
    sl_sha256_hex(tag, hex);
cleanup:
    free(text);
    json_decref(body);
    return st;
}

static sl_status sha256(const void *data, size_t len, unsigned char out[32])
{
    sl_status st = SL_OK;
    unsigned int dlen = 0;
    SL_CHECK(EVP_Digest(data, len, out, &dlen, EVP_sha256(), NULL) == 1 && dlen == 32,
             SL_ERR_INTERNAL, "SHA-256 unavailable");
cleanup:
    return st;
}

/* A file-name-safe form of `name`: `prefix` + name when it is made of
 * letters, digits, '.', '_' and '-' (at most 100), else "h_" + hash. */
static sl_status safe_name(const char *prefix, const char *name, char *out, size_t cap)
{
    sl_status st = SL_OK;
    size_t len = strlen(name);
    int safe = len > 0 && len <= 100;
    unsigned char digest[32];
    char hex[65];

    for (const char *p = name; safe && *p; p++)
        safe = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
               (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-';
    if (safe) {
        snprintf(out, cap, "%s%s", prefix, name);
        goto cleanup;
    }
    SL_CALL(sha256(name, len, digest));
    sl_sha256_hex(digest, hex);
    snprintf(out, cap, "h_%.32s", hex);
cleanup:
    return st;
}

/* Checks a loaded ledger document: its form, format and MAC under key.
 * SL_ERR_INTEGRITY naming `path` otherwise. */
static sl_status ledger_check(const json_t *doc, const char *path, const unsigned char key[32])
{
    sl_status st = SL_OK;
    const char *mac = json_string_value(json_object_get(doc, "mac"));
    char want[65];

    SL_CHECK(json_integer_value(json_object_get(doc, "format")) != 1, SL_ERR_INTEGRITY,
             "%s: release ledger format 1 (without a MAC); this sluice reads format %d only. "
             "An operator who vouches for its content converts it with 'sluice ledger adopt'",
             path, SL_LEDGER_FORMAT);
    SL_CHECK(json_integer_value(json_object_get(doc, "format")) == SL_LEDGER_FORMAT,
             SL_ERR_INTEGRITY,
             "%s: release ledger format %lld; this sluice reads format %d (with a MAC) only",
             path, (long long)json_integer_value(json_object_get(doc, "format")),
             SL_LEDGER_FORMAT);
    SL_CHECK(json_is_array(json_object_get(doc, "entries")) &&
                 json_is_integer(json_object_get(doc, "sequence")),
             SL_ERR_INTEGRITY, "%s: not a release ledger (no entries or sequence)", path);
    SL_CALL(ledger_mac(doc, key, want));
    SL_CHECK(mac && strlen(mac) == 64 && CRYPTO_memcmp(want, mac, 64) == 0, SL_ERR_INTEGRITY,
             "%s: the release ledger does not match its MAC: it was changed outside sluice (or "
             "the audit key changed); nothing is released against it until an operator "
             "restores it",
             path);
cleanup:
    return st;
}

sl_status sl_ledger_check_file(const char *path, const unsigned char key[32], int64_t *sequence,
                               char mac[65])
{
    sl_status st = SL_OK;
    json_error_t err;
    json_t *doc = json_load_file(path, 0, &err);

    SL_CHECK(doc, SL_ERR_INTEGRITY,
             "%s:%d:%d: not a release ledger: %s", path, err.line, err.column, err.text);
    SL_CALL(ledger_check(doc, path, key));
    *sequence = (int64_t)json_integer_value(json_object_get(doc, "sequence"));
    snprintf(mac, 65, "%s", json_string_value(json_object_get(doc, "mac")));
cleanup:
    json_decref(doc);
    return st;
}

static void utc_now(char *buf, size_t cap)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

sl_status sl_ledger_entry(const struct sl_table *t, const char *job_id, const char *filter,
                          json_t **out)
{
    sl_status st = SL_OK;
    json_t *e = NULL, *dims = json_array(), *cells = json_array();
    int64_t population = 0;

    *out = NULL;
    SL_CHECK(dims && cells, SL_ERR_NOMEM, "out of memory");
    for (int d = 0; d < t->ndims; d++) {
        const struct sl_intervals *iv = t->dims[d].iv;
        json_t *levels = json_array(), *dim;
        for (int32_t i = 0; levels && i < t->dims[d].nlevels; i++)
            json_array_append_new(levels, json_string(t->dims[d].levels[i]));
        dim = levels ? json_pack("{s:s,s:o}", "name", t->dims[d].name, "levels", levels) : NULL;
        SL_CHECK(dim && json_array_append_new(dims, dim) == 0, SL_ERR_NOMEM, "out of memory");
        if (iv) {
            json_t *ends = json_array(), *upper = json_array();
            for (int32_t k = 0; ends && k < iv->nends; k++)
                json_array_append_new(ends, json_pack("[f,b]", iv->end[k], iv->closed[k]));
            for (int32_t i = 0; upper && i < t->dims[d].nlevels; i++)
                json_array_append_new(upper, json_integer(iv->upper[i]));
            SL_CHECK(ends && upper && json_object_set_new(dim, "column",
                                                          json_string(iv->column)) == 0 &&
                         json_object_set_new(dim, "ends", ends) == 0 &&
                         json_object_set_new(dim, "upper", upper) == 0,
                     SL_ERR_NOMEM, "out of memory");
        }
    }
    for (int64_t c = 0; c < t->ncells; c++) {
        int margin = 0;
        int64_t rest = c;
        for (int d = t->ndims - 1; d >= 0; d--) {
            margin |= t->margins && rest % t->dims[d].nlevels == t->dims[d].nlevels - 1;
            rest /= t->dims[d].nlevels;
        }
        if (!margin)
            population += t->n[c];
        SL_CHECK(json_array_append_new(cells, json_integer((json_int_t)t->n[c])) == 0,
                 SL_ERR_NOMEM, "out of memory");
    }
    e = json_pack("{s:s,s:s,s:s,s:O,s:s,s:o,s:O}", "job_id", job_id, "output", t->name,
                  "analysis", t->analysis, "dimensions", dims, "filter", filter ? filter : "",
                  "population",
                  sl_gate_is_frequency(t) ? json_integer((json_int_t)population) : json_null(),
                  "cells", cells);
    SL_CHECK(e, SL_ERR_NOMEM, "out of memory");
    if (t->margins)
        SL_CHECK(json_object_set_new(e, "margins", json_true()) == 0, SL_ERR_NOMEM,
                 "out of memory");
    *out = e;
    e = NULL;
cleanup:
    json_decref(e);
    json_decref(dims);
    json_decref(cells);
    return st;
}

sl_status sl_ledger_entry_filter(json_t *entry, const struct sl_filter_conjunct *c, int nc,
                                 const struct sl_filter_range *r, int nr)
{
    sl_status st = SL_OK;
    json_t *conj = json_array(), *ranges = json_array();

    SL_CHECK(conj && ranges, SL_ERR_NOMEM, "out of memory");
    for (int i = 0; i < nc; i++) {
        json_t *x = json_pack("{s:s}", "text", c[i].text);
        SL_CHECK(x && json_array_append_new(conj, x) == 0, SL_ERR_NOMEM, "out of memory");
        if (c[i].bounds)
            SL_CHECK(json_object_set_new(x, "bounds", json_string(c[i].bounds)) == 0,
                     SL_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < nr; i++) {
        json_t *x = json_pack("{s:s}", "column", r[i].column);
        SL_CHECK(x && json_array_append_new(ranges, x) == 0, SL_ERR_NOMEM, "out of memory");
        SL_CHECK(json_object_set_new(x, "from",
                                     r[i].has_from
                                         ? json_pack("[f,b]", r[i].from, r[i].from_closed)
                                         : json_null()) == 0 &&
                     json_object_set_new(x, "to",
                                         r[i].has_to
                                             ? json_pack("[f,b]", r[i].to, r[i].to_closed)
                                             : json_null()) == 0,
                 SL_ERR_NOMEM, "out of memory");
    }
    SL_CHECK(json_object_set(entry, "conjuncts", conj) == 0 &&
                 (nr == 0 || json_object_set(entry, "ranges", ranges) == 0),
             SL_ERR_NOMEM, "out of memory");
cleanup:
    json_decref(conj);
    json_decref(ranges);
    return st;
}

/* Checks a loaded format-1 ledger (sluice before ledgers had MACs): its
 * form only, as nothing in it could tell an edit. SL_ERR_INTEGRITY naming
 * `path` otherwise. */
static sl_status format1_check(const json_t *doc, const char *path)
{
    sl_status st = SL_OK;
    const json_t *project = json_object_get(doc, "project"), *e;
    size_t i;

    SL_CHECK(json_is_object(doc) && json_integer_value(json_object_get(doc, "format")) == 1,
             SL_ERR_INTEGRITY, "%s: not a format-1 release ledger (format %lld)%s", path,
             (long long)json_integer_value(json_object_get(doc, "format")),
             json_integer_value(json_object_get(doc, "format")) == SL_LEDGER_FORMAT
                 ? ": adopted already"
                 : "");
    SL_CHECK(json_is_string(json_object_get(doc, "cohort")) &&
                 (!project || json_is_null(project) || json_is_string(project)) &&
                 json_is_array(json_object_get(doc, "entries")) &&
                 !json_object_get(doc, "sequence") && !json_object_get(doc, "mac"),
             SL_ERR_INTEGRITY,
             "%s: not a format-1 release ledger (expected cohort, project and entries, and no "
             "sequence or mac)",
             path);
    json_array_foreach(json_object_get(doc, "entries"), i, e) {
        const json_t *pop = json_object_get(e, "population");
        SL_CHECK(json_is_string(json_object_get(e, "job_id")) &&
                     json_is_string(json_object_get(e, "output")) &&
                     json_is_array(json_object_get(e, "dimensions")) &&
                     json_is_string(json_object_get(e, "filter")) &&
                     (json_is_null(pop) || (json_is_integer(pop) && json_integer_value(pop) >= 0)),
                 SL_ERR_INTEGRITY,
                 "%s: entry %zu is not a ledger entry (expected job_id, output, dimensions, "
                 "filter, and population: a count of patients, or null)",
                 path, i + 1);
        /* privacy charges came after format 1: one there was not written by sluice */
        SL_CHECK(!json_object_get(e, "privacy"), SL_ERR_INTEGRITY,
                 "%s: entry %zu is a privacy charge, which no format-1 ledger holds", path,
                 i + 1);
    }
cleanup:
    return st;
}

/* The whole file at `path` in *text (malloc'd, NUL-terminated), or NULL
 * when there is no such file. SL_ERR_IO, SL_ERR_NOMEM. */
static sl_status read_text(const char *path, char **text, size_t *len)
{
    sl_status st = SL_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    size_t got = 0;

    *text = NULL;
    *len = 0;
    if (fd < 0) {
        SL_CHECK(errno == ENOENT, SL_ERR_IO, "%s: %s", path, strerror(errno));
        return SL_OK;
    }
    SL_CHECK(fstat(fd, &sb) == 0, SL_ERR_IO, "%s: %s", path, strerror(errno));
    *text = malloc((size_t)sb.st_size + 1);
    SL_CHECK(*text, SL_ERR_NOMEM, "out of memory for %s", path);
    while (got < (size_t)sb.st_size) {
        ssize_t k = read(fd, *text + got, (size_t)sb.st_size - got);
        if (k < 0 && errno == EINTR)
            continue;
        SL_CHECK(k > 0, SL_ERR_IO, "%s: cannot read: %s", path,
                 k < 0 ? strerror(errno) : "it shrank while read");
        got += (size_t)k;
    }
    (*text)[got] = '\0';
    *len = got;
cleanup:
    if (fd >= 0)
        close(fd);
    if (st != SL_OK) {
        free(*text);
        *text = NULL;
    }
    return st;
}

/* Reads the locked ledger file into l->doc: a new, empty ledger when there
 * is none (not with `adopt`); the document l->doc holds already when the
 * file's bytes are those it was read from or written as (its form and MAC
 * were checked on them); else the file parsed and checked, or with `adopt`
 * a format-1 ledger taken into this format in memory with sequence 0. */
static sl_status ledger_load(struct sl_ledger *l, const char *uuid, const char *project,
                             int adopt)
{
    sl_status st = SL_OK;
    char *text = NULL;
    size_t len = 0;
    unsigned char digest[32];
    json_error_t err;
    json_t *doc = NULL;

    SL_CALL(read_text(l->path, &text, &len));
    if (!text) {
        SL_CHECK(!adopt, SL_ERR_IO, "%s: no such release ledger", l->path);
        doc = json_pack("{s:i,s:s,s:s?,s:i,s:[]}", "format", SL_LEDGER_FORMAT, "cohort", uuid,
                        "project", project, "sequence", 0, "entries");
        SL_CHECK(doc, SL_ERR_NOMEM, "out of memory");
        l->have_seen = 0;
        goto swap;
    }
    SL_CALL(sha256(text, len, digest));
    if (l->doc && l->have_seen && CRYPTO_memcmp(digest, l->seen, sizeof digest) == 0)
        goto cleanup;
    doc = json_loadb(text, len, 0, &err);
    SL_CHECK(doc, SL_ERR_INTEGRITY, "%s:%d:%d: the release ledger is not valid JSON: %s",
             l->path, err.line, err.column, err.text);
    if (adopt) {
        SL_CALL(format1_check(doc, l->path));
        SL_CHECK(json_object_set_new(doc, "format", json_integer(SL_LEDGER_FORMAT)) == 0 &&
                     json_object_set_new(doc, "sequence", json_integer(0)) == 0,
                 SL_ERR_NOMEM, "out of memory");
        l->have_seen = 0;
    } else {
        SL_CALL(ledger_check(doc, l->path, l->key));
        memcpy(l->seen, digest, sizeof digest);
        l->have_seen = 1;
    }
swap:
    json_decref(l->doc);
    l->doc = doc;
    doc = NULL;
cleanup:
    json_decref(doc);
    free(text);
    return st;
}

/* flock `op` (LOCK_EX: blocks until free, or LOCK_UN) on the ledger's
 * lock file. SL_ERR_IO. */
static sl_status ledger_flock(struct sl_ledger *l, int op)
{
    sl_status st = SL_OK;
    while (flock(l->lock_fd, op) != 0)
        SL_CHECK(errno == EINTR, SL_ERR_IO, "%s: cannot %s its lock file: %s", l->path,
                 op == LOCK_UN ? "unlock" : "lock", strerror(errno));
cleanup:
    return st;
}

/* sl_ledger_open; with `adopt` the file must be a format-1 ledger, taken
 * into this format in memory with sequence 0 (sl_ledger_commit makes it 1
 * and adds the MAC). */
static sl_status ledger_open(const char *ledger_dir, const char *uuid, const char *project,
                             const unsigned char key[32], int adopt, struct sl_ledger **out)
{
    sl_status st = SL_OK;
    struct sl_ledger *l = NULL;
    char cohort[128], proj[128], lock[4096];

    *out = NULL;
    SL_CHECK(ledger_dir && uuid && key, SL_ERR_ARG, "ledger: no directory, cohort or key");
    SL_CALL(safe_name("", uuid, cohort, sizeof cohort));
    SL_CALL(safe_name(project ? "p_" : "", project ? project : "none", proj, sizeof proj));
    l = sl_calloc(1, sizeof *l);
    SL_CHECK(l, SL_ERR_NOMEM, "out of memory");
    l->lock_fd = -1;
    memcpy(l->key, key, sizeof l->key);
    SL_CHECK((size_t)snprintf(l->dir, sizeof l->dir, "%s/release/%s", ledger_dir, cohort) <
                     sizeof l->dir &&
                 (size_t)snprintf(l->path, sizeof l->path, "%s/%s.json", l->dir, proj) <
                     sizeof l->path &&
                 (size_t)snprintf(l->name, sizeof l->name, "release/%s/%s.json", cohort, proj) <
                     sizeof l->name &&
                 (size_t)snprintf(lock, sizeof lock, "%s/%s.lock", l->dir, proj) < sizeof lock,
             SL_ERR_ARG, "ledger path too long under %s", ledger_dir);
    SL_CALL(sl_mkdirs(l->dir, 0700));
    SL_CHECK(realpath(ledger_dir, l->root), SL_ERR_IO, "cannot resolve ledger directory %s: %s",
             ledger_dir, strerror(errno));
    l->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    SL_CHECK(l->lock_fd >= 0, SL_ERR_IO, "%s: cannot open: %s", lock, strerror(errno));
    SL_CALL(ledger_flock(l, LOCK_EX));
    SL_CALL(ledger_load(l, uuid, project, adopt));
    *out = l;
    l = NULL;
cleanup:
    sl_ledger_close(&l);
    return st;
}

sl_status sl_ledger_open(const char *ledger_dir, const char *uuid, const char *project,
                         const unsigned char key[32], struct sl_ledger **out)
{
    return ledger_open(ledger_dir, uuid, project, key, 0, out);
}

sl_status sl_ledger_unlock(struct sl_ledger *l)
{
    return ledger_flock(l, LOCK_UN);
}

sl_status sl_ledger_relock(struct sl_ledger *l)
{
    sl_status st = SL_OK;
    SL_CALL(ledger_flock(l, LOCK_EX));
    SL_CALL(ledger_load(l, json_string_value(json_object_get(l->doc, "cohort")),
                        json_string_value(json_object_get(l->doc, "project")), 0));
cleanup:
    return st;
}

sl_status sl_ledger_adopt(const char *ledger_dir, const char *name, const unsigned char key[32],
                          struct sl_ledger **out)
{
    sl_status st = SL_OK;
    struct sl_ledger *l = NULL;
    json_t *doc = NULL;
    json_error_t err;
    const char *uuid, *project;
    char path[4096], cohort[128], proj[128], want[512];

    *out = NULL;
    SL_CHECK(strstr(name, "..") == NULL &&
                 (size_t)snprintf(path, sizeof path, "%s/%s", ledger_dir, name) < sizeof path,
             SL_ERR_ARG, "'%s' is not a ledger under %s", name, ledger_dir);
    /* where its cohort and project say it belongs: read once to learn them,
     * then again under the lock */
    doc = json_load_file(path, 0, &err);
    SL_CHECK(doc, SL_ERR_INTEGRITY, "%s:%d:%d: not a release ledger: %s", path, err.line,
             err.column, err.text);
    SL_CALL(format1_check(doc, path));
    uuid = json_string_value(json_object_get(doc, "cohort"));
    project = json_string_value(json_object_get(doc, "project"));
    SL_CALL(safe_name("", uuid, cohort, sizeof cohort));
    SL_CALL(safe_name(project ? "p_" : "", project ? project : "none", proj, sizeof proj));
    snprintf(want, sizeof want, "release/%s/%s.json", cohort, proj);
    SL_CHECK(strcmp(want, name) == 0, SL_ERR_INTEGRITY,
             "%s: its cohort and project belong in %s/%s: it was moved or renamed", path,
             ledger_dir, want);
    SL_CALL(ledger_open(ledger_dir, uuid, project, key, 1, &l));
    SL_CALL(sl_ledger_commit(l));
    *out = l;
    l = NULL;
cleanup:
    json_decref(doc);
    sl_ledger_close(&l);
    return st;
}

/* ---- slivers: intervals of one column that end at different points ----
 *
 * Two tables that cut one numeric column at different points together
 * give the patients between an end of one and an end of the other. The
 * cuts are a dimension's intervals (bands, histogram bins) and the bounds
 * a filter puts on the column (a table under `age >= 40` has no patient
 * below 40, all of them below 65 under `age < 65`). Per combination of
 * the levels of the dimensions both tables share (same name, levels and
 * ends besides Total), each table gives the patients below each of its
 * ends and those at or above it (summed over its other dimensions' levels,
 * margins aside); in the merged order of both tables' ends, two
 * neighbours from different tables bound a group the tables did not show,
 * whose size is the difference of their counts below the ends, or of
 * those above. A group of 1 .. min - 1 patients is a conflict.
 *
 * Compared are tables under the same filter but for their bounds of the
 * column (comparable): then every such difference is a group of patients
 * the two tables give. A table with bounds knows its counts only from
 * them on, so counts are compared from the nearest end both tables have
 * (or either infinity); with no bounds, both differences are the same.
 * Groups between two ends of one table are that table's own cells (or
 * sums of them), judged by the other rules; a wider group between ends of
 * the two tables is a union of neighbouring groups, so the neighbours
 * suffice. Under filters that differ otherwise, the counts also differ by
 * the patients one filter keeps and the other does not, so a small
 * difference need not be a group, and those are not compared. */

/* An entry's table as the check reads it (the shape is checked: a ledger
 * passes its MAC, but its entries come from older versions too). */
struct grid {
    int ndims, margins;
    int64_t size[SL_TABLE_MAX_DIMS];
    const json_t *dim[SL_TABLE_MAX_DIMS];
    const json_t *cells;
};

static int grid_of(const json_t *e, struct grid *g)
{
    const json_t *dims = json_object_get(e, "dimensions");
    size_t ncells = 1;

    g->cells = json_object_get(e, "cells");
    if (!json_is_array(dims) || !json_is_array(g->cells) ||
        json_array_size(dims) > SL_TABLE_MAX_DIMS)
        return 0;
    g->ndims = (int)json_array_size(dims);
    g->margins = json_is_true(json_object_get(e, "margins"));
    for (int d = 0; d < g->ndims; d++) {
        const json_t *levels = json_object_get(json_array_get(dims, (size_t)d), "levels");
        g->dim[d] = json_array_get(dims, (size_t)d);
        g->size[d] = (int64_t)json_array_size(levels);
        if (!json_is_array(levels) || g->size[d] < 1 + g->margins ||
            ncells > ((size_t)1 << 31) / (size_t)g->size[d])
            return 0;
        ncells *= (size_t)g->size[d];
    }
    return ncells == json_array_size(g->cells);
}

/* Orders interval ends: by value, and "below v" before "at or below v". */
static int end_cmp(double a, int ca, double b, int cb)
{
    if (a != b)
        return a < b ? -1 : 1;
    return ca - cb;
}

/* An interval end as an entry records it: [value, closed]. */
static int is_end(const json_t *e)
{
    return json_array_size(e) == 2 && json_is_number(json_array_get(e, 0)) &&
           json_is_boolean(json_array_get(e, 1));
}

/* end_cmp of two recorded ends (is_end). */
static int ends_cmp(const json_t *a, const json_t *b)
{
    return end_cmp(json_number_value(json_array_get(a, 0)), json_is_true(json_array_get(a, 1)),
                   json_number_value(json_array_get(b, 0)), json_is_true(json_array_get(b, 1)));
}

/* The intervals of dimension d of g, checked: its column, the number of
 * its ends; NULL when it has none. */
static const char *intervals_of(const struct grid *g, int d, int64_t *nends)
{
    const json_t *ends = json_object_get(g->dim[d], "ends");
    const json_t *upper = json_object_get(g->dim[d], "upper");
    const char *column = json_string_value(json_object_get(g->dim[d], "column"));
    size_t n = json_array_size(ends);

    if (!column || !json_is_array(ends) || !json_is_array(upper) ||
        (int64_t)json_array_size(upper) != g->size[d])
        return NULL;
    for (size_t k = 0; k < n; k++) {
        const json_t *a = json_array_get(ends, k), *b = k ? json_array_get(ends, k - 1) : NULL;
        if (!is_end(a) || (b && ends_cmp(b, a) >= 0))
            return NULL;
    }
    for (int64_t l = 0; l < g->size[d]; l++) {
        const json_t *u = json_array_get(upper, (size_t)l);
        if (!json_is_integer(u) || json_integer_value(u) < -1 ||
            json_integer_value(u) > (json_int_t)n)
            return NULL;
    }
    *nends = (int64_t)n;
    return column;
}

/* The levels of dimension d besides its Total. */
static int interior(const struct grid *g, int d)
{
    return (int)(g->size[d] - g->margins);
}

/* Dimensions a and b (of grids ga and gb) are the same grouping: the same
 * name, the same levels besides Total and the same interval ends, if any. */
static int same_dim(const struct grid *ga, int a, const struct grid *gb, int b)
{
    const char *na = json_string_value(json_object_get(ga->dim[a], "name"));
    const char *nb = json_string_value(json_object_get(gb->dim[b], "name"));
    const json_t *la = json_object_get(ga->dim[a], "levels");
    const json_t *lb = json_object_get(gb->dim[b], "levels");
    const json_t *ea = json_object_get(ga->dim[a], "ends");
    const json_t *eb = json_object_get(gb->dim[b], "ends");
    if (!na || !nb || strcmp(na, nb) != 0 || interior(ga, a) != interior(gb, b) ||
        !(ea == eb || (ea && eb && json_equal(ea, eb))))
        return 0;
    for (int l = 0; l < interior(ga, a); l++)
        if (!json_equal(json_array_get(la, (size_t)l), json_array_get(lb, (size_t)l)))
            return 0;
    return 1;
}

/* Adds g's patients to hist[ctx * (nends + 1) + u]: u the upper end of the
 * cell's level of dimension iv (0 when iv is -1: no intervals), ctx its
 * levels of the shared dimensions shared[0 .. nshared), in that order;
 * cells on another dimension's Total are left out, as are levels of iv
 * that are no interval. */
static void accumulate(const struct grid *g, int iv, int64_t nends, const int *shared,
                       int nshared, uint64_t *hist)
{
    const json_t *upper = iv >= 0 ? json_object_get(g->dim[iv], "upper") : NULL;
    size_t c;
    const json_t *n;

    json_array_foreach(g->cells, c, n) {
        int64_t lev[SL_TABLE_MAX_DIMS], rest = (int64_t)c, ctx = 0, u = 0;
        int skip = 0;
        for (int d = g->ndims - 1; d >= 0; d--) {
            lev[d] = rest % g->size[d];
            rest /= g->size[d];
            skip |= d != iv && g->margins && lev[d] == g->size[d] - 1;
        }
        if (upper)
            u = json_integer_value(json_array_get(upper, (size_t)lev[iv]));
        if (skip || u < 0 || !json_is_integer(n) || json_integer_value(n) < 0)
            continue;
        for (int i = 0; i < nshared; i++)
            ctx = ctx * interior(g, shared[i]) + lev[shared[i]];
        /* unsigned: a ledger's counts are real patients, far from 2^63, but
         * the check must not overflow on any input */
        hist[ctx * (nends + 1) + u] += (uint64_t)json_integer_value(n);
    }
}

/* The dimensions ga and gb share (same_dim), besides ga's skip_a and gb's
 * skip_b (-1: none), into sa and sb in ga's order; their number into
 * *nshared. Returns the number of combinations of their levels. */
static int64_t shared_dims(const struct grid *ga, int skip_a, const struct grid *gb, int skip_b,
                           int *sa, int *sb, int *nshared)
{
    int64_t ctxs = 1;

    *nshared = 0;
    for (int x = 0; x < ga->ndims; x++)
        for (int y = 0; x != skip_a && y < gb->ndims; y++)
            if (y != skip_b && same_dim(ga, x, gb, y)) {
                sa[*nshared] = x;
                sb[(*nshared)++] = y;
                ctxs *= interior(ga, x);
                break;
            }
    return ctxs;
}

/* An end of a table's cuts of one column, and its patients below it. */
struct point {
    double v;
    int closed;
    uint64_t below;
};

/* One table's cuts of one column: its dimension of intervals of it (iv, -1
 * when none) and the range its filter keeps (from, to: ends, NULL when
 * unbounded); its patients per combination of the shared dimensions'
 * levels and level of iv (hist), and room for its points (nends + 2). */
struct side {
    const struct grid *g;
    int iv;
    int64_t nends;
    const json_t *ends, *from, *to;
    uint64_t *hist;
    struct point *pt;
};

static int point_cmp(const void *a, const void *b)
{
    const struct point *x = a, *y = b;
    return end_cmp(x->v, x->closed, y->v, y->closed);
}

/* An end [value, closed] of a range, checked: NULL when absent or bad. */
static const json_t *range_end(const json_t *range, const char *key)
{
    const json_t *e = json_object_get(range, key);
    return is_end(e) ? e : NULL;
}

/* The range of `column` in entry e: its ends (NULL: unbounded); 0 when e
 * has no range of it. */
static int range_of(const json_t *e, const char *column, const json_t **from, const json_t **to)
{
    size_t i;
    const json_t *r;

    json_array_foreach(json_object_get(e, "ranges"), i, r) {
        const char *c = json_string_value(json_object_get(r, "column"));
        if (c && strcmp(c, column) == 0) {
            *from = range_end(r, "from");
            *to = range_end(r, "to");
            return 1;
        }
    }
    *from = *to = NULL;
    return 0;
}

/* The cuts of `column` in entry e (grid g) into s: 0 when it has none. */
static int side_of(const json_t *e, const struct grid *g, const char *column, struct side *s)
{
    *s = (struct side){.g = g, .iv = -1};
    for (int d = 0; d < g->ndims && s->iv < 0; d++) {
        const char *c = intervals_of(g, d, &s->nends);
        if (c && strcmp(c, column) == 0) {
            s->iv = d;
            s->ends = json_object_get(g->dim[d], "ends");
        }
    }
    if (s->iv < 0)
        s->nends = 0;
    range_of(e, column, &s->from, &s->to);
    return s->iv >= 0 || s->from || s->to;
}

static struct point end_point(const json_t *end, uint64_t below)
{
    return (struct point){json_number_value(json_array_get(end, 0)),
                          json_is_true(json_array_get(end, 1)), below};
}

/* The points of s in context x, ascending, into s->pt: its ends with the
 * patients below each, its range's lower end (none below) and upper end
 * (all below). Returns their number; the context's patients with a value
 * into *total. */
static int64_t points_of(const struct side *s, int64_t x, uint64_t *total)
{
    const uint64_t *h = s->hist + x * (s->nends + 1);
    uint64_t below = 0;
    int64_t n = 0;

    *total = 0;
    for (int64_t k = 0; k <= s->nends; k++)
        *total += h[k];
    for (int64_t k = 0; k < s->nends; k++) {
        below += h[k];
        s->pt[n++] = end_point(json_array_get(s->ends, (size_t)k), below);
    }
    if (s->from)
        s->pt[n++] = end_point(s->from, 0);
    if (s->to)
        s->pt[n++] = end_point(s->to, *total);
    qsort(s->pt, (size_t)n, sizeof *s->pt, point_cmp);
    return n;
}

static int small_gap(uint64_t x, uint64_t y, int64_t min)
{
    uint64_t d = x > y ? x - y : y - x;
    return d > 0 && d < (uint64_t)min;
}

/* A point of either side's ends in a context: which sides have an end
 * there (bit 0 a, bit 1 b), each one's patients below it, and the next
 * point both sides have (the index of +inf when none). */
struct mpoint {
    double v;
    int closed, has;
    uint64_t below[2];
    int64_t next_both;
};

/* The points of pa and pb (ascending) as distinct points into m. Returns
 * their number. */
static int64_t merge_points(const struct point *pa, int64_t na, const struct point *pb,
                            int64_t nb, struct mpoint *m)
{
    int64_t i = 0, j = 0, n = 0;

    while (i < na || j < nb) {
        int side = !(i < na && (j >= nb || point_cmp(&pa[i], &pb[j]) <= 0));
        const struct point *p = side ? &pb[j++] : &pa[i++];
        if (n == 0 || end_cmp(m[n - 1].v, m[n - 1].closed, p->v, p->closed) != 0)
            m[n++] = (struct mpoint){.v = p->v, .closed = p->closed};
        m[n - 1].has |= 1 << side;
        m[n - 1].below[side] = p->below;
    }
    for (int64_t k = n - 1, next = n; k >= 0; k--) {
        m[k].next_both = next;
        if (m[k].has == 3)
            next = k;
    }
    return n;
}

/* Side s's patients below anchor x of the n points m: -1 is -inf, n is
 * +inf (all of its total[s] patients). */
static uint64_t below_anchor(const struct mpoint *m, int64_t n, int64_t x, int s,
                             const uint64_t total[2])
{
    return x < 0 ? 0 : x >= n ? total[s] : m[x].below[s];
}

/* Whether the n merged points leave a group of 1 .. min - 1 patients. The
 * counts of the two sides are compared from the nearest point both have
 * (or -inf), and up to the nearest one after (or +inf): a side with
 * bounds has no patients outside them, so its counts agree with the
 * other side's only from a shared point on. Compared: a point of both
 * (its patients since the last, and up to the next) and two neighbours of
 * one side each (a group between them); a point of both beside one of one
 * side bounds that side's own cell. */
static int sliver_at(const struct mpoint *m, int64_t n, const uint64_t total[2], int64_t min)
{
    int64_t left = -1;

    for (int64_t k = 0; k < n; k++) {
        int64_t right = m[k].next_both;
        if (m[k].has == 3) {
            if (small_gap(m[k].below[0] - below_anchor(m, n, left, 0, total),
                          m[k].below[1] - below_anchor(m, n, left, 1, total), min) ||
                small_gap(below_anchor(m, n, right, 0, total) - m[k].below[0],
                          below_anchor(m, n, right, 1, total) - m[k].below[1], min))
                return 1;
            left = k;
        } else if (k > 0 && m[k - 1].has != 3 && m[k - 1].has != m[k].has) {
            int s = m[k - 1].has == 2, o = !s; /* the sides of k - 1 and k */
            if (small_gap(m[k - 1].below[s] - below_anchor(m, n, left, s, total),
                          m[k].below[o] - below_anchor(m, n, left, o, total), min) ||
                small_gap(below_anchor(m, n, right, s, total) - m[k - 1].below[s],
                          below_anchor(m, n, right, o, total) - m[k].below[o], min))
                return 1;
        }
    }
    return 0;
}

/* The first group of 1 .. min - 1 patients between the ends of the two
 * sides, over their ctxs contexts: 1 when there is one. m has room for
 * both sides' points. */
static int sliver_in(const struct side *a, const struct side *b, int64_t ctxs, int64_t min,
                     struct mpoint *m)
{
    for (int64_t x = 0; x < ctxs; x++) {
        uint64_t total[2];
        int64_t na = points_of(a, x, &total[0]), nb = points_of(b, x, &total[1]);
        if (sliver_at(m, merge_points(a->pt, na, b->pt, nb, m), total, min))
            return 1;
    }
    return 0;
}

/* ---- filters as conjuncts ----
 *
 * An entry records its filter's top-level conjuncts (filter.h's
 * sl_filter_conjuncts: canonical text, sorted, each range comparison
 * marked with its column) and the ranges they keep. Entries of older
 * versions have none: their filter is known only as text. */

/* The conjuncts of entry e into *c (NULL for none: no filter): 0 when
 * unknown (or malformed). */
static int conjuncts_of(const json_t *e, const json_t **c)
{
    const char *filter = json_string_value(json_object_get(e, "filter"));
    size_t i;
    const json_t *x;

    *c = json_object_get(e, "conjuncts");
    if (!*c)
        return filter && filter[0] == '\0';
    json_array_foreach(*c, i, x) {
        if (!json_is_string(json_object_get(x, "text")))
            return 0;
    }
    return json_is_array(*c);
}

/* Conjunct x bounds `column` (NULL: any column). */
static int bounds_column(const json_t *x, const char *column)
{
    const char *b = json_string_value(json_object_get(x, "bounds"));
    return b && (!column || strcmp(b, column) == 0);
}

/* Whether the conjuncts ca and cb, but for those bounding `column`, are
 * the same list. */
static int same_but(const json_t *ca, const json_t *cb, const char *column)
{
    size_t i = 0, j = 0, na = json_array_size(ca), nb = json_array_size(cb);

    for (;;) {
        while (i < na && bounds_column(json_array_get(ca, i), column))
            i++;
        while (j < nb && bounds_column(json_array_get(cb, j), column))
            j++;
        if (i == na || j == nb)
            return i == na && j == nb;
        if (strcmp(json_string_value(json_object_get(json_array_get(ca, i), "text")),
                   json_string_value(json_object_get(json_array_get(cb, j), "text"))) != 0)
            return 0;
        i++;
        j++;
    }
}

/* Whether entries a and b count the same patients but for their bounds of
 * `column`: the same filter, the same conjuncts besides those bounds, or,
 * neither bounding it, the same population (a conjunct that keeps every
 * patient, `bmi > -1000`, makes another filter of the same patients). Only
 * then is a difference between their counts a group of patients of their
 * own; under other filters it also holds the patients one filter keeps
 * and the other does not. */
static int comparable(const json_t *a, const json_t *b, const char *column)
{
    const char *fa = json_string_value(json_object_get(a, "filter"));
    const char *fb = json_string_value(json_object_get(b, "filter"));
    const json_t *ca, *cb, *from, *to;
    return (fa && fb && strcmp(fa, fb) == 0) ||
           (conjuncts_of(a, &ca) && conjuncts_of(b, &cb) && same_but(ca, cb, column)) ||
           (json_equal(json_object_get(a, "population"), json_object_get(b, "population")) &&
            !range_of(a, column, &from, &to) && !range_of(b, column, &from, &to));
}

/* Whether end x (NULL: -inf when lower, else +inf) lies at or beyond end
 * y towards the inside of a range: at or above y for a lower end. */
static int end_within(const json_t *x, const json_t *y, int lower)
{
    if (!y)
        return 1;
    if (!x)
        return 0;
    return lower ? ends_cmp(x, y) >= 0 : ends_cmp(x, y) <= 0;
}

/* Whether entry a's filter keeps only patients entry b's keeps, as far as
 * their conjuncts tell: each of b's conjuncts is one of a's, or a range
 * comparison of a column whose range in a lies within b's. */
static int within(const json_t *a, const json_t *b)
{
    const json_t *ca, *cb, *x;
    size_t i;

    if (!conjuncts_of(a, &ca) || !conjuncts_of(b, &cb))
        return 0;
    json_array_foreach(cb, i, x) {
        const char *text = json_string_value(json_object_get(x, "text"));
        const char *column = json_string_value(json_object_get(x, "bounds"));
        const json_t *af, *at, *bf, *bt, *y;
        size_t j;
        int found = 0;
        json_array_foreach(ca, j, y) {
            if (strcmp(text, json_string_value(json_object_get(y, "text"))) == 0) {
                found = 1;
                break;
            }
        }
        if (!found && !(column && range_of(a, column, &af, &at) &&
                        range_of(b, column, &bf, &bt) && end_within(af, bf, 1) &&
                        end_within(at, bt, 0)))
            return 0;
    }
    return 1;
}

/* Whether the cuts of one column in sides a and b (one of them a dimension
 * of intervals) leave a group of 1 .. min - 1 patients. SL_ERR_NOMEM. */
static sl_status sliver_column(struct side *a, struct side *b, int64_t min, int *hit)
{
    sl_status st = SL_OK;
    int sa[SL_TABLE_MAX_DIMS], sb[SL_TABLE_MAX_DIMS], nshared;
    int64_t ctxs = shared_dims(a->g, a->iv, b->g, b->iv, sa, sb, &nshared);
    struct mpoint *m = NULL;

    /* a context holds at least one level of each side's intervals: a
     * larger product is no table sluice wrote */
    if ((uint64_t)ctxs * (uint64_t)(a->nends + 1) > 3 * json_array_size(a->g->cells) ||
        (uint64_t)ctxs * (uint64_t)(b->nends + 1) > 3 * json_array_size(b->g->cells))
        return SL_OK;
    a->hist = sl_calloc((size_t)(ctxs * (a->nends + 1)), sizeof *a->hist);
    b->hist = sl_calloc((size_t)(ctxs * (b->nends + 1)), sizeof *b->hist);
    a->pt = sl_malloc((size_t)(a->nends + 2) * sizeof *a->pt);
    b->pt = sl_malloc((size_t)(b->nends + 2) * sizeof *b->pt);
    m = sl_malloc((size_t)(a->nends + b->nends + 4) * sizeof *m);
    SL_CHECK(a->hist && b->hist && a->pt && b->pt && m, SL_ERR_NOMEM, "out of memory");
    accumulate(a->g, a->iv, a->nends, sa, nshared, a->hist);
    accumulate(b->g, b->iv, b->nends, sb, nshared, b->hist);
    *hit = sliver_in(a, b, ctxs, min, m);
cleanup:
    sl_free(m);
    sl_free(a->hist);
    sl_free(b->hist);
    sl_free(a->pt);
    sl_free(b->pt);
    return st;
}

/* The k-th column whose cuts two tables (grids ga, gb; ranges ra, rb) may
 * share: a's intervals, b's intervals, a's ranges, b's ranges; NULL for
 * none there. */
static const char *cut_column(const struct grid *ga, const struct grid *gb, const json_t *ra,
                              const json_t *rb, size_t k)
{
    const size_t m = SL_TABLE_MAX_DIMS;
    int64_t nends;

    if (k < m)
        return (int)k < ga->ndims ? intervals_of(ga, (int)k, &nends) : NULL;
    if ((k -= m) < m)
        return (int)k < gb->ndims ? intervals_of(gb, (int)k, &nends) : NULL;
    if ((k -= m) < json_array_size(ra))
        return json_string_value(json_object_get(json_array_get(ra, k), "column"));
    k -= json_array_size(ra);
    return json_string_value(json_object_get(json_array_get(rb, k), "column"));
}

/* Whether the tables of entries a and b leave a group of 1 .. min - 1
 * patients between the ends of their cuts of one column, where at least
 * one of them has intervals of it; on a hit, that column into *column.
 * SL_ERR_NOMEM. */
static sl_status sliver_conflict(const json_t *a, const json_t *b, int64_t min, int *hit,
                                 const char **column)
{
    sl_status st = SL_OK;
    struct grid ga, gb;
    struct side sa, sb;
    const json_t *ra = json_object_get(a, "ranges"), *rb = json_object_get(b, "ranges");
    size_t ncols = 2 * SL_TABLE_MAX_DIMS + json_array_size(ra) + json_array_size(rb);

    *hit = 0;
    if (!grid_of(a, &ga) || !grid_of(b, &gb))
        return SL_OK;
    for (size_t k = 0; k < ncols && !*hit; k++) {
        const char *c = cut_column(&ga, &gb, ra, rb, k);
        if (!c || !comparable(a, b, c) || !side_of(a, &ga, c, &sa) || !side_of(b, &gb, c, &sb) ||
            (sa.iv < 0 && sb.iv < 0))
            continue;
        SL_CALL(sliver_column(&sa, &sb, min, hit));
        if (*hit)
            *column = c;
    }
cleanup:
    return st;
}

/* ---- populations: tables under different filters ----
 *
 * Two tables under different filters whose populations differ by a few
 * patients describe those patients when one filter's patients are among
 * the other's (age >= 40, then age >= 41). Whether they are is not known
 * here, so any difference of 1 .. min - 1 between populations is a
 * conflict. Where the conjuncts tell that one filter keeps only patients
 * the other keeps (within: the same conjuncts and more, or a range inside
 * the other's), the counts within each combination of the levels of the
 * dimensions both tables show describe a group too (women 500 and 497,
 * although all differ by 23), each table summed over its other
 * dimensions, margins left out. Each combination then differs by the
 * group's patients there, so a group of 1 .. min - 1 over any union of
 * them shows in one combination: the populations and each combination
 * suffice. Between filters that do not nest so, combinations are not
 * compared: a small difference of two unrelated counts is no group, and
 * among many combinations one is likely. */

/* Whether entries a and b, under different filters, differ by 1 .. min - 1
 * patients: *hit 1 for their populations, 2 within a combination of the
 * levels of their shared dimensions when one filter is within the other
 * (the dimensions' names, a's, go into dims, cap bytes, separated by ",
 * "). Both populations are counts. SL_ERR_NOMEM. */
static sl_status population_conflict(const json_t *a, const json_t *b, int64_t min, int *hit,
                                      char *dims, size_t cap)
{
    sl_status st = SL_OK;
    struct grid ga, gb;
    int sa[SL_TABLE_MAX_DIMS], sb[SL_TABLE_MAX_DIMS], nshared;
    int64_t ctxs;
    uint64_t *ha = NULL, *hb = NULL;
    json_int_t pa = json_integer_value(json_object_get(a, "population"));
    json_int_t pb = json_integer_value(json_object_get(b, "population"));

    *hit = pa != pb && (pa > pb ? pa - pb : pb - pa) < min;
    if (*hit || !(within(a, b) || within(b, a)) || !grid_of(a, &ga) || !grid_of(b, &gb))
        return SL_OK;
    ctxs = shared_dims(&ga, -1, &gb, -1, sa, sb, &nshared);
    /* each combination is a cell of both tables: a larger product is no
     * table sluice wrote */
    if (nshared == 0 || (uint64_t)ctxs > json_array_size(ga.cells) ||
        (uint64_t)ctxs > json_array_size(gb.cells))
        return SL_OK;
    ha = sl_calloc((size_t)ctxs, sizeof *ha);
    hb = sl_calloc((size_t)ctxs, sizeof *hb);
    SL_CHECK(ha && hb, SL_ERR_NOMEM, "out of memory");
    accumulate(&ga, -1, 0, sa, nshared, ha);
    accumulate(&gb, -1, 0, sb, nshared, hb);
    for (int64_t x = 0; x < ctxs && !*hit; x++) {
        uint64_t diff = ha[x] > hb[x] ? ha[x] - hb[x] : hb[x] - ha[x];
        if (diff > 0 && diff < (uint64_t)min)
            *hit = 2;
    }
    for (int i = 0; *hit && i < nshared; i++)
        sl_strbuf_append(dims, cap, "%s%s", i ? ", " : "",
                         json_string_value(json_object_get(ga.dim[sa[i]], "name")));
cleanup:
    sl_free(ha);
    sl_free(hb);
    return st;
}

sl_status sl_ledger_conflict(const struct sl_ledger *l, const json_t *entry,
                             int64_t min_safe_count, const json_t **hit, char *why, size_t cap)
{
    sl_status st = SL_OK;
    const json_t *pop = json_object_get(entry, "population");
    const char *job = json_string_value(json_object_get(entry, "job_id"));
    const char *filter = json_string_value(json_object_get(entry, "filter"));
    size_t i;
    json_t *e;

    *hit = NULL;
    if (!json_is_integer(pop) || json_integer_value(pop) < 0 || !job || !filter)
        return SL_OK;
    json_array_foreach(json_object_get(l->doc, "entries"), i, e) {
        const char *ejob = json_string_value(json_object_get(e, "job_id"));
        const char *eout = json_string_value(json_object_get(e, "output"));
        const char *efilter = json_string_value(json_object_get(e, "filter"));
        const json_t *epop = json_object_get(e, "population");
        const char *column = NULL;
        int sliver = 0, differs = 0;
        char dims[SL_TABLE_MAX_DIMS * 80] = "";
        /* counts are never negative (adopt checks); a job has one filter */
        if (json_is_integer(epop) && json_integer_value(epop) >= 0 && ejob && efilter &&
            strcmp(ejob, job) != 0 && strcmp(efilter, filter) != 0)
            SL_CALL(population_conflict(entry, e, min_safe_count, &differs, dims, sizeof dims));
        if (differs == 1)
            snprintf(why, cap,
                     "its population differs by between 1 and %" PRId64 " patients from that "
                     "of output '%s' of job %s, released under a different filter; together "
                     "they would describe that small group",
                     min_safe_count - 1, eout ? eout : "?", ejob);
        else if (differs == 2)
            snprintf(why, cap,
                     "within one combination of the levels of %s, its count differs by between "
                     "1 and %" PRId64 " patients from that of output '%s' of job %s, released "
                     "under a different filter; together they would describe that small group",
                     dims, min_safe_count - 1, eout ? eout : "?", ejob);
        if (differs) {
            *hit = e;
            break;
        }
        if (json_is_integer(epop))
            SL_CALL(sliver_conflict(entry, e, min_safe_count, &sliver, &column));
        if (sliver) {
            snprintf(why, cap,
                     "its cuts of '%s' (intervals, or its filter's bounds) and those of output "
                     "'%s' of job %s end at points that leave between 1 and %" PRId64
                     " patients between them; together they would describe that small group",
                     column, eout ? eout : "?", ejob ? ejob : "?", min_safe_count - 1);
            *hit = e;
            break;
        }
    }
cleanup:
    return st;
}

sl_status sl_ledger_judge(const struct sl_ledger *l, struct sl_table *t, const json_t *entry,
                          const struct sl_rules *rules)
{
    sl_status st = SL_OK;
    const json_t *hit = NULL;
    enum sl_decision *verdict = NULL;
    json_t *summary = NULL;
    char why[512];

    if (!sl_gate_is_frequency(t))
        return SL_OK;
    SL_CALL(sl_ledger_conflict(l, entry, rules->min_safe_count, &hit, why, sizeof why));
    verdict = sl_malloc((size_t)t->ncells * sizeof *verdict);
    summary = json_pack("{s:s,s:s,s:{s:I},s:I}", "rule", "differencing", "scope", "table",
                        "parameters", "min_safe_count", (json_int_t)rules->min_safe_count,
                        "compared", (json_int_t)json_array_size(json_object_get(l->doc,
                                                                               "entries")));
    SL_CHECK(verdict && summary, SL_ERR_NOMEM, "out of memory");
    for (int64_t c = 0; c < t->ncells; c++)
        verdict[c] = hit ? SL_DECISION_FAIL : SL_DECISION_PASS;
    if (hit) {
        const char *job = json_string_value(json_object_get(hit, "job_id"));
        const char *out = json_string_value(json_object_get(hit, "output"));
        json_object_set_new(summary, "earlier", json_pack("{s:s,s:s}", "job_id", job, "output",
                                                          out));
        json_object_set_new(summary, "reason", json_string(why));
    }
    st = sl_gate_add_verdict(t, "differencing", verdict, summary);
    summary = NULL;
    SL_CALL(st);
cleanup:
    json_decref(summary);
    sl_free(verdict);
    return st;
}

sl_status sl_ledger_record(struct sl_ledger *l, const json_t *entry)
{
    sl_status st = SL_OK;
    json_t *entries = json_object_get(l->doc, "entries"), *copy = NULL, *e;
    const char *job = json_string_value(json_object_get(entry, "job_id"));
    const char *out = json_string_value(json_object_get(entry, "output"));
    size_t i;
    char now[32];

    SL_CHECK(job && out, SL_ERR_ARG, "ledger entry without job id or output");
    json_array_foreach(entries, i, e) {
        const char *ej = json_string_value(json_object_get(e, "job_id"));
        const char *eo = json_string_value(json_object_get(e, "output"));
        if (ej && eo && strcmp(ej, job) == 0 && strcmp(eo, out) == 0)
            goto cleanup;
    }
    copy = json_deep_copy(entry);
    SL_CHECK(copy, SL_ERR_NOMEM, "out of memory");
    utc_now(now, sizeof now);
    json_object_set_new(copy, "recorded", json_string(now));
    l->have_seen = 0;
    SL_CHECK(json_array_append(entries, copy) == 0, SL_ERR_NOMEM, "out of memory");
cleanup:
    json_decref(copy);
    return st;
}

void sl_ledger_forget(struct sl_ledger *l, const char *job_id)
{
    json_t *entries = json_object_get(l->doc, "entries");
    l->have_seen = 0;
    for (size_t i = json_array_size(entries); i-- > 0;) {
        const json_t *e = json_array_get(entries, i);
        const char *ej = json_string_value(json_object_get(e, "job_id"));
        if (ej && strcmp(ej, job_id) == 0 && !json_object_get(e, "privacy"))
            json_array_remove(entries, i);
    }
}

sl_status sl_ledger_privacy_spent(const struct sl_ledger *l, int64_t *units)
{
    sl_status st = SL_OK;
    size_t i;
    json_t *e;
    int64_t sum = 0, u;

    json_array_foreach(json_object_get(l->doc, "entries"), i, e) {
        const json_t *p = json_object_get(e, "privacy");
        if (!p)
            continue;
        SL_CHECK(sl_dp_units_parse(json_string_value(json_object_get(p, "rho")) ?
                                       json_string_value(json_object_get(p, "rho")) : "",
                                   &u) &&
                     u <= INT64_MAX - sum,
                 SL_ERR_INTEGRITY, "%s: entry %zu: a privacy charge without a valid rho",
                 l->path, i + 1);
        sum += u;
    }
    *units = sum;
cleanup:
    return st;
}

sl_status sl_ledger_commit(struct sl_ledger *l)
{
    sl_status st = SL_OK;
    char *text = NULL, hex[65];
    json_int_t seq = json_integer_value(json_object_get(l->doc, "sequence"));

    l->have_seen = 0;
    SL_CHECK(json_object_set_new(l->doc, "sequence", json_integer(seq + 1)) == 0,
             SL_ERR_NOMEM, "out of memory");
    SL_CALL(ledger_mac(l->doc, l->key, hex));
    SL_CHECK(json_object_set_new(l->doc, "mac", json_string(hex)) == 0, SL_ERR_NOMEM,
             "out of memory");
    text = json_dumps(l->doc, JSON_INDENT(1));
    SL_CHECK(text, SL_ERR_NOMEM, "out of memory");
    SL_CALL(sl_write_atomic(l->path, text, 0600));
    SL_CALL(sha256(text, strlen(text), l->seen));
    l->have_seen = 1;
cleanup:
    free(text);
    return st;
}

json_t *sl_ledger_state(const struct sl_ledger *l)
{
    return json_pack("{s:s,s:s,s:O,s:O}", "ledger", l->name, "ledger_dir", l->root, "sequence",
                     json_object_get(l->doc, "sequence"), "ledger_mac",
                     json_object_get(l->doc, "mac") ? json_object_get(l->doc, "mac")
                                                    : json_null());
}

sl_status sl_ledger_check_audited(const struct sl_ledger *l, const struct sl_audit *a,
                                  const char **note)
{
    sl_status st = SL_OK;
    json_t *rec = NULL, *match = json_pack("{s:s,s:s}", "ledger", l->name, "ledger_dir", l->root);
    int64_t line = 0, want, have = (int64_t)json_integer_value(json_object_get(l->doc, "sequence"));
    const char *rmac, *mac = json_string_value(json_object_get(l->doc, "mac"));

    *note = NULL;
    SL_CHECK(match, SL_ERR_NOMEM, "out of memory");
    SL_CALL(sl_audit_find_last(a, "ledger", match, &rec, &line));
    if (!rec || !json_is_integer(json_object_get(rec, "sequence")) ||
        !json_is_string(json_object_get(rec, "ledger_mac"))) {
        if (have > 0)
            *note = "the audit log records no commit of this ledger";
        goto cleanup;
    }
    want = (int64_t)json_integer_value(json_object_get(rec, "sequence"));
    rmac = json_string_value(json_object_get(rec, "ledger_mac"));
    SL_CHECK(have >= want, SL_ERR_INTEGRITY,
             "ledger %s has sequence %" PRId64 ", but the audit log (seq %" PRId64
             ") recorded its commit %" PRId64 ": it was rolled back to an earlier copy, or "
             "deleted; releases it no longer remembers could be differenced",
             l->path, have, line, want);
    SL_CHECK(have > want || (mac && strcmp(mac, rmac) == 0), SL_ERR_INTEGRITY,
             "ledger %s has sequence %" PRId64 " with another MAC than the audit log (seq %" PRId64
             ") recorded for it: it was replaced by another copy",
             l->path, have, line);
    if (have > want)
        *note = "the ledger is ahead of the audit log's last record of it";
cleanup:
    json_decref(rec);
    json_decref(match);
    return st;
}

sl_status sl_ledger_list(const char *dir, json_t *seen)
{
    sl_status st = SL_OK;
    char top[4096], sub[4096];
    DIR *d = NULL, *c = NULL;
    struct dirent *e, *f;

    snprintf(top, sizeof top, "%s/release", dir);
    d = opendir(top);
    if (!d)
        goto cleanup; /* no ledger yet */
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        SL_CHECK((size_t)snprintf(sub, sizeof sub, "%s/%s", top, e->d_name) < sizeof sub,
                 SL_ERR_ARG, "ledger path too long under %s", top);
        c = opendir(sub);
        if (!c)
            continue;
        while ((f = readdir(c))) {
            size_t n = strlen(f->d_name);
            char rel[600];
            if (f->d_name[0] == '.' || n < 6 || strcmp(f->d_name + n - 5, ".json") != 0)
                continue;
            SL_CHECK((size_t)snprintf(rel, sizeof rel, "release/%s/%s", e->d_name, f->d_name) <
                         sizeof rel,
                     SL_ERR_ARG, "ledger name too long in %s", sub);
            SL_CHECK(json_object_set_new(seen, rel, json_true()) == 0, SL_ERR_NOMEM,
                     "out of memory");
        }
        closedir(c);
        c = NULL;
    }
cleanup:
    if (c)
        closedir(c);
    if (d)
        closedir(d);
    return st;
}

sl_status sl_ledger_audit_open(const char *key_path, const char *log, const char *witness,
                               struct sl_audit **audit, unsigned char ledger_key[32])
{
    sl_status st = SL_OK;
    struct sl_kek *kek = NULL;
    unsigned char key[32];

    SL_CALL(sl_kek_load(key_path, &kek));
    SL_CALL(sl_kek_derive(kek, "audit", key));
    SL_CALL(sl_kek_derive(kek, "ledger", ledger_key));
    SL_CALL(sl_audit_open(log, key, audit));
    if (witness)
        SL_CALL(sl_audit_set_witness(*audit, witness));
cleanup:
    sl_wipe(key, sizeof key);
    sl_kek_destroy(&kek);
    return st;
}

int64_t sl_ledger_size(const struct sl_ledger *l)
{
    return (int64_t)json_array_size(json_object_get(l->doc, "entries"));
}

void sl_ledger_close(struct sl_ledger **lp)
{
    struct sl_ledger *l;
    if (!lp || !*lp)
        return;
    l = *lp;
    if (l->lock_fd >= 0) {
        (void)flock(l->lock_fd, LOCK_UN);
        close(l->lock_fd);
    }
    json_decref(l->doc);
    sl_wipe(l->key, sizeof l->key);
    sl_free(l);
    *lp = NULL;
}
