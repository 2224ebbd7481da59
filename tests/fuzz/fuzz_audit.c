/*
 * fuzz_audit.c: fuzz target for the audit log (engine/audit.c), the
 * hash-chained, MAC-protected record of every job and release, which must
 * refuse any tampering and never crash on what it finds on disk.
 *
 * The first byte picks a mode; the rest is the payload. Files live in a
 * scratch directory and are removed around each input.
 *  mode 0 (raw log): the payload is a log file, optionally followed by
 *    "@@H@" and the bytes of LOG.head. Runs sl_audit_verify_each (with a
 *    visitor that sees lines 1, 2, ... in order), sl_audit_open and, when it
 *    opens, sl_audit_find_last. Nothing may crash; a log that verifies must
 *    open.
 *  mode 1 (written log): the payload is lines "EVENT<TAB>JSON-OBJECT"; the
 *    first line is the query (event and match object), the rest (up to 16)
 *    are appended with sl_audit_append. The log must then verify with as
 *    many lines as were appended, and sl_audit_find_last must return the
 *    same line as a plain scan of what was appended.
 *  mode 2 (witness): the payload is a witness file: sl_audit_witness_last,
 *    and sl_audit_anchor_parse on the exact payload bytes.
 */
#define _XOPEN_SOURCE 700
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "engine/audit.h"
#include "engine/core/status.h"

#include "fuzz_workdir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_log[4200], g_head[4200], g_lock[4200], g_tmp[4200], g_wit[4200];
static const unsigned char g_key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                        17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
                                        31, 32};

static void clean(void)
{
    unlink(g_log);
    unlink(g_head);
    unlink(g_lock);
    unlink(g_tmp);
    unlink(g_wit);
}

static sl_status visit(void *ctx, int64_t line, const json_t *entry, const unsigned char hash[32])
{
    (void)hash;
    int64_t *last = ctx;
    if (line != *last + 1 || !json_is_object(entry) || json_object_get(entry, "mac"))
        abort();
    *last = line;
    return SL_OK;
}

static void mode_raw(const uint8_t *d, size_t n)
{
    const uint8_t *sep = NULL;
    for (size_t i = 0; i + 4 <= n; i++)
        if (memcmp(d + i, "@@H@", 4) == 0) {
            sep = d + i;
            break;
        }
    if (sep) {
        fuzz_put(g_log, d, (size_t)(sep - d));
        fuzz_put(g_head, sep + 4, n - (size_t)(sep - d) - 4);
    } else {
        fuzz_put(g_log, d, n);
    }
    int64_t nlines = -1, bad = -1, last = 0;
    sl_status st = sl_audit_verify_each(g_log, g_key, visit, &last, &nlines, &bad);
    if (st == SL_OK && nlines != last)
        abort();
    sl_error_clear();
    struct sl_audit *a = NULL;
    sl_status ost = sl_audit_open(g_log, g_key, &a);
    if (st == SL_OK && ost != SL_OK) {
        fprintf(stderr, "log verifies but does not open: %s\n", sl_error_message());
        abort();
    }
    if (ost == SL_OK) {
        json_t *match = json_object(), *e = NULL;
        int64_t seq = 0;
        json_object_set_new(match, "job", json_string("j1"));
        (void)sl_audit_find_last(a, "job.done", match, &e, &seq);
        json_decref(e);
        json_object_clear(match);
        (void)sl_audit_find_last(a, "x", match, &e, &seq);
        json_decref(e);
        json_decref(match);
        sl_audit_close(&a);
    } else if (a) {
        abort();
    }
    sl_error_clear();
}

struct rec {
    char *event;
    json_t *fields;
};

static int matches(const struct rec *r, const char *event, const json_t *match)
{
    const char *k;
    json_t *v;
    if (strcmp(r->event, event) != 0)
        return 0;
    json_object_foreach((json_t *)match, k, v) {
        if (strcmp(k, "event") == 0) {
            json_t *ev = json_string(r->event);
            int eq = json_equal(ev, v);
            json_decref(ev);
            if (!eq)
                return 0;
        } else if (!json_equal(json_object_get(r->fields, k), v)) {
            return 0;
        }
    }
    return 1;
}

static void mode_api(const uint8_t *d, size_t n)
{
    struct rec recs[16];
    int nrec = 0;
    char *query_event = NULL;
    json_t *match = NULL;
    struct sl_audit *a = NULL;

    if (sl_audit_open(g_log, g_key, &a) != SL_OK)
        abort();
    size_t i = 0;
    int lineno = 0;
    while (i < n && nrec < 16) {
        size_t e = i;
        while (e < n && d[e] != '\n')
            e++;
        size_t tab = i;
        while (tab < e && d[tab] != '\t')
            tab++;
        char *ev = strndup((const char *)d + i, tab - i);
        json_t *obj = tab < e ? json_loadb((const char *)d + tab + 1, e - tab - 1, 0, NULL) : NULL;
        if (!obj)
            obj = json_object();
        if (!json_is_object(obj) || strlen(ev) != tab - i) {
            json_decref(obj);
            free(ev);
        } else if (lineno == 0) {
            query_event = ev;
            match = obj;
        } else {
            if (sl_audit_append(a, ev, obj) == SL_OK) {
                recs[nrec].event = ev;
                recs[nrec].fields = obj;
                nrec++;
            } else {
                json_decref(obj);
                free(ev);
            }
            sl_error_clear();
        }
        lineno++;
        i = e + 1;
    }
    int64_t nlines = -1, bad = -1;
    if (sl_audit_verify(g_log, g_key, &nlines, &bad) != SL_OK && nrec > 0) {
        fprintf(stderr, "log written by sl_audit_append does not verify: %s\n",
                sl_error_message());
        abort();
    }
    if (nrec > 0 && nlines != nrec)
        abort();
    /* a query on the members the log sets itself (seq, time, prev, mac), or
     * with an event name that is not UTF-8, is not one a plain scan of the
     * appended fields can answer */
    json_t *qev = query_event ? json_string(query_event) : NULL;
    int plain = qev != NULL;
    json_decref(qev);
    for (size_t r = 0; plain && r < 4; r++)
        plain = !json_object_get(match, (const char *const[]){"seq", "time", "prev", "mac"}[r]);
    if (plain && nrec > 0) {
        int want = -1;
        for (int r = 0; r < nrec; r++)
            if (matches(&recs[r], query_event, match))
                want = r;
        json_t *e = NULL;
        int64_t seq = 0;
        sl_status st = sl_audit_find_last(a, query_event, match, &e, &seq);
        if (st != SL_OK) {
            fprintf(stderr, "find_last failed on an intact log: %s\n", sl_error_message());
            abort();
        }
        if ((want < 0 && e) || (want >= 0 && seq != want + 1)) {
            fprintf(stderr, "find_last returned seq %lld, a plain scan finds %d\n",
                    (long long)seq, want + 1);
            abort();
        }
        json_decref(e);
    }
    for (int r = 0; r < nrec; r++) {
        free(recs[r].event);
        json_decref(recs[r].fields);
    }
    free(query_event);
    json_decref(match);
    sl_audit_close(&a);
    sl_error_clear();
}

static void mode_witness(const uint8_t *d, size_t n)
{
    fuzz_put(g_wit, d, n);
    int64_t line = 0;
    unsigned char hash[32];
    int present = 0;
    (void)sl_audit_witness_last(g_wit, &line, hash, &present);
    char *copy = malloc(n ? n : 1);
    memcpy(copy, d, n);
    if (sl_audit_anchor_parse(copy, n, &line, hash) == 0 && line < 1)
        abort();
    free(copy);
    sl_error_clear();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_log[0]) {
        fuzz_workdir_file("LOG", g_log, sizeof g_log);
        fuzz_workdir_file("LOG.head", g_head, sizeof g_head);
        fuzz_workdir_file("LOG.lock", g_lock, sizeof g_lock);
        fuzz_workdir_file("LOG.head.tmp", g_tmp, sizeof g_tmp);
        fuzz_workdir_file("WITNESS", g_wit, sizeof g_wit);
    }
    if (size < 1)
        return 0;
    clean();
    switch (data[0] % 3) {
    case 0: mode_raw(data + 1, size - 1); break;
    case 1: mode_api(data + 1, size - 1); break;
    default: mode_witness(data + 1, size - 1); break;
    }
    clean();
    return 0;
}
