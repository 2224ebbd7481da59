/*
 * release.c: released/ and held/ directories, results.json in its operator
 * and public forms, CSV and JSON renderings of output tables, atomic file
 * replacement (see release.h).
 */
#include "engine/release.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/core/alloc.h"
#include "engine/report.h"

void sl_sha256_hex(const unsigned char digest[32], char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[64] = '\0';
}

sl_status sl_sha256_file(const char *path, char hex[65])
{
    sl_status st = SL_OK;
    FILE *f = NULL;
    EVP_MD_CTX *md = NULL;
    unsigned char buf[65536], digest[32];
    unsigned int len = 0;
    size_t got;

    f = fopen(path, "rb");
    SL_CHECK(f, SL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    md = EVP_MD_CTX_new();
    SL_CHECK(md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1, SL_ERR_INTERNAL,
             "SHA-256 unavailable");
    while ((got = fread(buf, 1, sizeof buf, f)) > 0)
        SL_CHECK(EVP_DigestUpdate(md, buf, got) == 1, SL_ERR_INTERNAL, "SHA-256 failed");
    SL_CHECK(!ferror(f), SL_ERR_IO, "%s: read error", path);
    SL_CHECK(EVP_DigestFinal_ex(md, digest, &len) == 1 && len == 32, SL_ERR_INTERNAL,
             "SHA-256 failed");
    sl_sha256_hex(digest, hex);
cleanup:
    EVP_MD_CTX_free(md);
    if (f)
        fclose(f);
    return st;
}

sl_status sl_mkdirs(const char *path, unsigned int mode)
{
    sl_status st = SL_OK;
    char *copy = sl_strdup(path);
    SL_CHECK(copy, SL_ERR_NOMEM, "out of memory");
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        SL_CHECK(mkdir(copy, (mode_t)mode) == 0 || errno == EEXIST, SL_ERR_IO,
                 "%s: cannot create directory: %s", copy, strerror(errno));
        *p = '/';
    }
    SL_CHECK(mkdir(copy, (mode_t)mode) == 0 || errno == EEXIST, SL_ERR_IO,
             "%s: cannot create directory: %s", copy, strerror(errno));
cleanup:
    sl_free(copy);
    return st;
}

/* Writes a CSV field, quoting when needed (RFC 4180). */
static void csv_field(FILE *f, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void fmt_double(char *buf, size_t cap, double v)
{
    if (isnan(v))
        snprintf(buf, cap, "NA");
    else
        snprintf(buf, cap, "%.17g", v);
}

static int withheld_cell(const struct sl_table *t, int64_t c)
{
    return t->withheld && (t->withheld[c] & SL_WITHHELD_CELL);
}

sl_status sl_table_write_csv(const struct sl_table *t, FILE *f)
{
    sl_status st = SL_OK;
    const char *labels[SL_TABLE_MAX_DIMS];
    char num[64];

    for (int d = 0; d < t->ndims; d++) {
        csv_field(f, t->dims[d].name);
        fputc(',', f);
    }
    fputs("n", f);
    for (int s = 0; s < t->nstats; s++) {
        fputc(',', f);
        csv_field(f, t->stats[s].name);
    }
    fputc('\n', f);
    for (int64_t c = 0; c < t->ncells; c++) {
        sl_table_cell_levels(t, c, labels);
        for (int d = 0; d < t->ndims; d++) {
            csv_field(f, labels[d]);
            fputc(',', f);
        }
        if (withheld_cell(t, c))
            fputs("NA", f);
        else
            fprintf(f, "%lld", (long long)t->n[c]);
        for (int s = 0; s < t->nstats; s++) {
            fmt_double(num, sizeof num, t->withheld && t->withheld[c] ? NAN : t->stats[s].v[c]);
            fputc(',', f);
            fputs(num, f);
        }
        fputc('\n', f);
    }
    SL_CHECK(!ferror(f), SL_ERR_IO, "cannot write CSV for '%s'", t->name);
cleanup:
    return st;
}

static json_t *dims_json(const struct sl_table *t)
{
    json_t *dims = json_array();
    for (int d = 0; d < t->ndims; d++) {
        json_t *levels = json_array();
        for (int32_t i = 0; i < t->dims[d].nlevels; i++)
            json_array_append_new(levels, json_string(t->dims[d].levels[i]));
        json_array_append_new(dims,
                              json_pack("{s:s,s:o}", "name", t->dims[d].name, "levels", levels));
    }
    return dims;
}

static json_t *number_or_null(double v)
{
    return isnan(v) || isinf(v) ? json_null() : json_real(v);
}

json_t *sl_table_to_json(const struct sl_table *t)
{
    const char *labels[SL_TABLE_MAX_DIMS];
    json_t *cells = json_array();
    json_t *out;
    for (int64_t c = 0; c < t->ncells; c++) {
        json_t *cell = json_object();
        int hidden = t->withheld && t->withheld[c];
        sl_table_cell_levels(t, c, labels);
        for (int d = 0; d < t->ndims; d++)
            json_object_set_new(cell, t->dims[d].name, json_string(labels[d]));
        json_object_set_new(cell, "n",
                            withheld_cell(t, c) ? json_null() : json_integer((json_int_t)t->n[c]));
        for (int s = 0; s < t->nstats; s++)
            json_object_set_new(cell, t->stats[s].name,
                                hidden ? json_null() : number_or_null(t->stats[s].v[c]));
        json_array_append_new(cells, cell);
    }
    out = json_pack("{s:s,s:s,s:o,s:o}", "name", t->name, "analysis", t->analysis, "dimensions",
                    dims_json(t), "cells", cells);
    if (t->model)
        json_object_set(out, "model", t->model);
    return out;
}

/* Names of the rules whose verdict on cell c is not pass. */
static json_t *cell_rules(const struct sl_table *t, int64_t c)
{
    json_t *names = json_array(), *v;
    size_t i;
    json_array_foreach(t->verdicts, i, v) {
        const char *cs = json_string_value(json_array_get(json_object_get(v, "cells"), (size_t)c));
        if (cs && strcmp(cs, "pass") != 0)
            json_array_append_new(names, json_copy(json_object_get(v, "rule")));
    }
    return names;
}

/* The verdicts as results.json shows them to operators: no evidence for a
 * failing output, no evidence of failing cells. */
static json_t *rules_json(const struct sl_table *t, int with_values)
{
    json_t *rules = json_deep_copy(t->verdicts ? t->verdicts : json_array());
    json_t *v;
    size_t i;
    json_array_foreach(rules, i, v) {
        json_t *ev = json_object_get(v, "evidence");
        if (!json_is_array(ev))
            continue;
        if (!with_values) {
            json_object_del(v, "evidence");
            continue;
        }
        for (int64_t c = 0; c < t->ncells && (size_t)c < json_array_size(ev); c++)
            if (t->cell_decision[c] == SL_DECISION_FAIL)
                json_array_set_new(ev, (size_t)c, json_null());
    }
    return rules;
}

/* The operator's results.json entry of one output. */
static json_t *output_entry(const struct sl_table *t, int reviewers_required)
{
    const char *labels[SL_TABLE_MAX_DIMS];
    int with_values = t->decision != SL_DECISION_FAIL;
    json_t *cells = json_array(), *reasons = json_array(), *entry, *v;
    json_t *marks = t->mitigation ? json_object_get(t->mitigation, "cells") : NULL;
    size_t i;

    for (int64_t c = 0; c < t->ncells; c++) {
        json_t *cell = json_object(), *lv = json_array(), *mark;
        sl_table_cell_levels(t, c, labels);
        for (int d = 0; d < t->ndims; d++)
            json_array_append_new(lv, json_string(labels[d]));
        json_object_set_new(cell, "levels", lv);
        json_object_set_new(cell, "status", json_string(sl_decision_name(t->cell_decision[c])));
        json_object_set_new(cell, "rules", cell_rules(t, c));
        mark = json_array_get(marks, (size_t)c);
        if (json_is_string(mark))
            json_object_set(cell, "mitigation", mark);
        if (with_values) {
            json_t *stats = json_object();
            int hidden = t->withheld && t->withheld[c];
            json_object_set_new(cell, "n", withheld_cell(t, c) ? json_null()
                                                               : json_integer((json_int_t)t->n[c]));
            for (int s = 0; s < t->nstats; s++)
                json_object_set_new(stats, t->stats[s].name,
                                    hidden ? json_null() : number_or_null(t->stats[s].v[c]));
            json_object_set_new(cell, "stats", stats);
        }
        json_array_append_new(cells, cell);
    }
    json_array_foreach(t->verdicts, i, v) {
        json_t *reason = json_object_get(v, "reason");
        if (reason)
            json_array_append_new(
                reasons, json_sprintf("%s: %s", json_string_value(json_object_get(v, "rule")),
                                      json_string_value(reason)));
    }
    entry = json_pack("{s:s,s:s,s:s,s:b,s:o,s:o,s:o,s:o}", "name", t->name, "analysis",
                      t->analysis, "status", sl_decision_name(t->decision), "margins",
                      t->margins != 0, "dimensions", dims_json(t), "rules",
                      rules_json(t, with_values), "reasons", reasons, "cells", cells);
    if (!entry)
        return NULL;
    if (t->spec)
        json_object_set(entry, "spec", t->spec);
    if (t->mitigation) {
        json_t *m = json_deep_copy(t->mitigation);
        json_object_del(m, "cells");
        json_object_set_new(entry, "mitigation", m);
    }
    json_object_set_new(entry, "location",
                        t->decision == SL_DECISION_PASS     ? json_string("released")
                        : t->decision == SL_DECISION_REVIEW ? json_string("held")
                                                            : json_null());
    if (t->decision == SL_DECISION_REVIEW)
        json_object_set_new(entry, "review", json_pack("{s:i,s:s}", "required",
                                                       reviewers_required, "state", "pending"));
    if (with_values && t->model)
        json_object_set(entry, "model", t->model);
    return entry;
}

json_t *sl_results_public_entry(const json_t *entry)
{
    json_t *e = json_deep_copy(entry), *v, *m;
    const char *loc;
    int released, mitigated;
    size_t i, k;

    if (!e)
        return NULL;
    loc = json_string_value(json_object_get(e, "location"));
    released = loc && strcmp(loc, "released") == 0;
    m = json_object_get(e, "mitigation");
    mitigated = m && json_is_true(json_object_get(m, "applied"));
    json_object_del(e, "ledger_entry");
    if (!released) {
        json_object_del(e, "model");
        json_array_foreach(json_object_get(e, "cells"), i, v) {
            json_object_del(v, "n");
            json_object_del(v, "stats");
        }
    }
    json_array_foreach(json_object_get(e, "rules"), i, v) {
        json_t *ev = json_object_get(v, "evidence"), *cell;
        int informative = 0;
        if (json_is_object(ev))
            json_object_del(ev, "private");
        if (!json_is_array(ev))
            continue;
        if (!released || mitigated) {
            json_object_del(v, "evidence");
            continue;
        }
        json_array_foreach(ev, k, cell) {
            if (json_is_object(cell))
                json_object_del(cell, "private");
            informative |= json_is_object(cell) && json_object_size(cell) > 0;
        }
        if (!informative)
            json_object_del(v, "evidence");
    }
    return e;
}

static sl_status write_text(const char *path, const char *text, unsigned int mode)
{
    sl_status st = SL_OK;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
    size_t len = strlen(text), done = 0;
    SL_CHECK(fd >= 0, SL_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        SL_CHECK(w > 0, SL_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        done += (size_t)w;
    }
    SL_CHECK(fsync(fd) == 0, SL_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
cleanup:
    if (fd >= 0)
        close(fd);
    return st;
}

sl_status sl_fsync_dir(const char *dir)
{
    sl_status st = SL_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    SL_CHECK(fd >= 0, SL_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno));
    (void)fsync(fd);
    close(fd);
cleanup:
    return st;
}

sl_status sl_write_atomic(const char *path, const char *text, unsigned int mode)
{
    sl_status st = SL_OK;
    char tmp[4096], dir[4096];
    const char *slash = strrchr(path, '/');
    int made = 0;

    SL_CHECK((size_t)snprintf(tmp, sizeof tmp, "%.*s.%s.%ld.tmp",
                              slash ? (int)(slash - path + 1) : 0, path,
                              slash ? slash + 1 : path, (long)getpid()) < sizeof tmp,
             SL_ERR_ARG, "path too long: %s", path);
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    if (dir[0] == '\0')
        snprintf(dir, sizeof dir, "/");
    (void)unlink(tmp);
    SL_CALL(write_text(tmp, text, mode));
    made = 1;
    SL_CHECK(rename(tmp, path) == 0, SL_ERR_IO, "cannot rename %s to %s: %s", tmp, path,
             strerror(errno));
    made = 0;
    SL_CALL(sl_fsync_dir(dir));
cleanup:
    if (made)
        (void)unlink(tmp);
    return st;
}

/* Writes t as DIR/name.csv and DIR/name.json and appends their checksums. */
static sl_status write_table_files(const char *dir, const struct sl_table *t, json_t *files)
{
    sl_status st = SL_OK;
    char path[4096], hex[65];
    FILE *f = NULL;
    char *text = NULL;
    json_t *doc = NULL;
    const char *ext[] = {"csv", "json"};

    for (int k = 0; k < 2; k++) {
        SL_CHECK((size_t)snprintf(path, sizeof path, "%s/%s.%s", dir, t->name, ext[k]) <
                     sizeof path,
                 SL_ERR_ARG, "output path too long");
        if (k == 0) {
            f = fopen(path, "wx");
            SL_CHECK(f, SL_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
            SL_CALL(sl_table_write_csv(t, f));
            SL_CHECK(fflush(f) == 0 && fsync(fileno(f)) == 0, SL_ERR_IO, "%s: write failed",
                     path);
            fclose(f);
            f = NULL;
        } else {
            doc = sl_table_to_json(t);
            text = json_dumps(doc, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
            SL_CHECK(text, SL_ERR_NOMEM, "out of memory");
            SL_CALL(write_text(path, text, 0640));
        }
        SL_CALL(sl_sha256_file(path, hex));
        json_array_append_new(
            files, json_pack("{s:s,s:s}", "name", path + strlen(dir) + 1, "sha256", hex));
    }
cleanup:
    if (f)
        fclose(f);
    free(text);
    json_decref(doc);
    return st;
}

/* Writes one area (released or held): the tables selected by `want`, their
 * checksums into doc's output entries, results.json and report.html. */
static sl_status write_area(const char *base, const char *job_id, const struct sl_outputs *outs,
                            enum sl_decision want, json_t *doc, int operator_copy,
                            unsigned int mode)
{
    sl_status st = SL_OK;
    char tmp[4096], final[4096], path[4096];
    char *text = NULL, *html = NULL;
    json_t *entries = json_object_get(doc, "outputs");
    struct stat sb;

    SL_CALL(sl_mkdirs(base, mode));
    SL_CHECK((size_t)snprintf(final, sizeof final, "%s/%s", base, job_id) < sizeof final &&
                 (size_t)snprintf(tmp, sizeof tmp, "%s/.%s.partial", base, job_id) < sizeof tmp,
             SL_ERR_ARG, "output path too long");
    SL_CHECK(stat(final, &sb) != 0, SL_ERR_EXISTS,
             "%s already exists: job ids are never reused; pick another --job-id", final);
    SL_CHECK(mkdir(tmp, (mode_t)mode) == 0, SL_ERR_IO, "%s: cannot create: %s", tmp,
             strerror(errno));
    for (int i = 0; i < outs->count; i++) {
        const struct sl_table *t = outs->tables[i];
        json_t *files;
        if (t->decision != want)
            continue;
        files = json_array();
        SL_CALL(write_table_files(tmp, t, files));
        json_object_set_new(json_array_get(entries, (size_t)i), "files", files);
    }
    text = json_dumps(doc, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
    SL_CHECK(text, SL_ERR_NOMEM, "out of memory");
    SL_CHECK((size_t)snprintf(path, sizeof path, "%s/results.json", tmp) < sizeof path,
             SL_ERR_ARG, "output path too long");
    SL_CALL(write_text(path, text, 0640));
    SL_CALL(sl_report_html(doc, operator_copy, &html));
    SL_CHECK((size_t)snprintf(path, sizeof path, "%s/report.html", tmp) < sizeof path,
             SL_ERR_ARG, "output path too long");
    SL_CALL(write_text(path, html, 0640));
    SL_CALL(sl_fsync_dir(tmp));
    SL_CHECK(rename(tmp, final) == 0, SL_ERR_IO, "cannot rename %s to %s: %s", tmp, final,
             strerror(errno));
    SL_CALL(sl_fsync_dir(base));
cleanup:
    free(text);
    free(html);
    return st;
}

sl_status sl_release_write(const struct sl_release_info *info, const struct sl_outputs *outs,
                           json_t **results)
{
    sl_status st = SL_OK;
    json_t *full = json_array(), *pub = json_array(), *doc = NULL, *held_doc = NULL;
    int nheld = 0;
    char path[4096];
    struct stat sb;

    *results = NULL;
    SL_CHECK(full && pub, SL_ERR_NOMEM, "out of memory");
    for (int i = 0; i < outs->count; i++) {
        const struct sl_table *t = outs->tables[i];
        json_t *e = output_entry(t, info->reviewers_required), *p;
        SL_CHECK(e && json_array_append_new(full, e) == 0, SL_ERR_NOMEM, "out of memory");
        p = sl_results_public_entry(e);
        SL_CHECK(p && json_array_append_new(pub, p) == 0, SL_ERR_NOMEM, "out of memory");
        if (t->decision == SL_DECISION_REVIEW && info->ledger_entries &&
            info->ledger_entries[i])
            json_object_set(e, "ledger_entry", info->ledger_entries[i]);
        nheld += t->decision == SL_DECISION_REVIEW;
    }
    for (int k = 0; k < 1 + (nheld > 0); k++) {
        const char *base = k == 0 ? info->released_dir : info->held_dir;
        SL_CHECK((size_t)snprintf(path, sizeof path, "%s/%s", base, info->job_id) < sizeof path,
                 SL_ERR_ARG, "output path too long");
        SL_CHECK(stat(path, &sb) != 0, SL_ERR_EXISTS,
                 "%s already exists: job ids are never reused; pick another --job-id", path);
    }
    doc = json_pack("{s:i,s:O,s:O,s:O}", "format", 1, "job", info->job, "policy", info->policy,
                    "outputs", pub);
    SL_CHECK(doc, SL_ERR_NOMEM, "out of memory");
    if (nheld) {
        held_doc = json_pack("{s:i,s:O,s:O,s:O}", "format", 1, "job", info->job, "policy",
                             info->policy, "outputs", full);
        SL_CHECK(held_doc, SL_ERR_NOMEM, "out of memory");
        SL_CALL(write_area(info->held_dir, info->job_id, outs, SL_DECISION_REVIEW, held_doc, 1,
                           0700));
    }
    SL_CALL(write_area(info->released_dir, info->job_id, outs, SL_DECISION_PASS, doc, 0, 0755));
    *results = doc;
    doc = NULL;
cleanup:
    json_decref(full);
    json_decref(pub);
    json_decref(doc);
    json_decref(held_doc);
    return st;
}
