/*
 * cmd_audit.c: `sluice audit verify`, checking the audit log's chain and MACs
 * and, with --ledger, that every release ledger is the one the log last
 * recorded.
 */
#define _XOPEN_SOURCE 700 /* realpath */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/audit.h"
#include "engine/cli.h"
#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "engine/ledger.h"
#include "engine/release.h"
#include "engine/run.h"
#include "io/keys.h"

static const char *usage_text =
    "usage: sluice audit verify LOG --key KEY [--ledger DIR] [--anchor LINE:SHA256]...\n"
    "                           [--witness FILE]\n"
    "\n"
    "Checks every line of the audit log LOG: its MAC under the audit key derived\n"
    "from KEY, the hash chain to the previous line, the sequence numbers, and the\n"
    "head file LOG.head that guards against lines cut off the end. Prints the\n"
    "number of good lines and the log's head (its last line and that line's\n"
    "SHA-256), or the first bad line and why.\n"
    "\n"
    "With --ledger DIR (the policy's paths.ledger), also checks every release\n"
    "ledger: its MAC, and that its sequence and MAC are those of the last commit\n"
    "the log recorded for it, so a ledger that was edited, deleted, or replaced by\n"
    "an older copy of itself is found, as is one the log never recorded.\n"
    "\n"
    "A log put back together with its head file (and ledgers) to an older copy\n"
    "of itself is consistent, so nothing on this machine can tell. Keep the head\n"
    "this command prints somewhere the machine cannot change (a ticket, a\n"
    "write-once store); --anchor LINE:SHA256 (repeatable) then checks that the\n"
    "log still holds that line, unchanged: a log rolled back or rewritten since\n"
    "is found.\n"
    "\n"
    "With --witness FILE (the policy's paths.audit_witness, best on storage this\n"
    "machine can only append to), the witness's last anchor is checked the same\n"
    "way; a missing or empty witness is started with the verified log's head.\n"
    "Jobs, reviews and ledger adoption then append each new line's anchor to it\n"
    "and refuse to write to a log that no longer holds its last one.\n"
    "\n"
    "Exit codes: 0 intact, 4 tampered (edited, deleted, inserted, reordered or\n"
    "truncated lines; a ledger that does not match; an anchor the log does not\n"
    "hold), 1 other failure, 2 bad usage.\n";

/* --anchor options, and one more for the witness's last anchor */
#define MAX_ANCHORS 16

/* A line the operator recorded: its number and hash, and whether the log
 * held it. */
struct anchor {
    int64_t line;
    unsigned char hash[32];
    int seen;
};

/* What the verification collects: the last commit the log recorded of each
 * ledger, the anchors, the head. */
struct verify_state {
    json_t *last; /* {path under DIR: {"sequence", "ledger_mac", "line"}}, or NULL */
    char root[4096]; /* DIR resolved: records of other ledger directories are not its */
    struct anchor anchor[MAX_ANCHORS + 1];
    int nanchors;
    unsigned char head[32]; /* the last line's hash */
};

static sl_status collect(void *ctx, int64_t line, const json_t *entry,
                         const unsigned char hash[32])
{
    sl_status st = SL_OK;
    struct verify_state *vs = ctx;
    const char *event = json_string_value(json_object_get(entry, "event"));
    const char *path = json_string_value(json_object_get(entry, "ledger"));
    const json_t *seq = json_object_get(entry, "sequence");
    const json_t *mac = json_object_get(entry, "ledger_mac");
    const char *root = json_string_value(json_object_get(entry, "ledger_dir"));

    memcpy(vs->head, hash, sizeof vs->head);
    for (int i = 0; i < vs->nanchors; i++)
        if (vs->anchor[i].line == line) {
            SL_CHECK(memcmp(vs->anchor[i].hash, hash, 32) == 0, SL_ERR_INTEGRITY,
                     "line %lld is not the line anchored (its SHA-256 differs): the log was "
                     "rewritten at or before it since the anchor was taken",
                     (long long)line);
            vs->anchor[i].seen = 1;
        }
    if (!vs->last)
        return SL_OK; /* no ledgers to check */
    if (!event || strcmp(event, "ledger") != 0 || !path || !json_is_integer(seq) ||
        !json_is_string(mac))
        return SL_OK; /* another event, or a ledger event from before ledgers had MACs */
    if (root && strcmp(root, vs->root) != 0)
        return SL_OK; /* a ledger of another directory */
    SL_CHECK(json_object_set_new(vs->last, path,
                                 json_pack("{s:O,s:O,s:I}", "sequence", seq, "ledger_mac", mac,
                                           "line", (json_int_t)line)) == 0,
             SL_ERR_NOMEM, "out of memory");
cleanup:
    return st;
}

/* Compares every ledger under dir with the log's last record of it. */
static sl_status check_ledgers(const char *dir, const unsigned char key[32],
                               const struct verify_state *vs, int64_t *nchecked)
{
    sl_status st = SL_OK;
    json_t *seen = json_object();
    const char *rel;
    json_t *rec;
    void *tmp;

    *nchecked = 0;
    SL_CHECK(seen, SL_ERR_NOMEM, "out of memory");
    SL_CALL(sl_ledger_list(dir, seen));
    json_object_foreach_safe(seen, tmp, rel, rec) {
        SL_CHECK(json_object_get(vs->last, rel), SL_ERR_INTEGRITY,
                 "ledger %s/%s: the audit log records no commit of it (written outside sluice, "
                 "or under another audit log)",
                 dir, rel);
    }
    json_object_foreach_safe(vs->last, tmp, rel, rec) {
        char path[4096], mac[65];
        int64_t seq = 0, want = (int64_t)json_integer_value(json_object_get(rec, "sequence"));
        SL_CHECK(strstr(rel, "..") == NULL &&
                     (size_t)snprintf(path, sizeof path, "%s/%s", dir, rel) < sizeof path,
                 SL_ERR_INTEGRITY, "ledger name '%s' in the audit log is not a ledger path", rel);
        SL_CHECK(json_object_get(seen, rel), SL_ERR_INTEGRITY,
                 "ledger %s is missing; the audit log's last commit of it (line %lld) has "
                 "sequence %lld",
                 path, (long long)json_integer_value(json_object_get(rec, "line")),
                 (long long)want);
        SL_CALL(sl_ledger_check_file(path, key, &seq, mac));
        SL_CHECK(seq == want &&
                     strcmp(mac, json_string_value(json_object_get(rec, "ledger_mac"))) == 0,
                 SL_ERR_INTEGRITY,
                 "ledger %s has sequence %lld, but the audit log's last commit of it (line "
                 "%lld) has sequence %lld and another MAC: it was replaced, or rolled back to "
                 "an earlier copy",
                 path, (long long)seq, (long long)json_integer_value(json_object_get(rec, "line")),
                 (long long)want);
        (*nchecked)++;
    }
cleanup:
    json_decref(seen);
    return st;
}

int sl_cmd_audit(int argc, char **argv)
{
    static const struct option longs[] = {{"key", required_argument, NULL, 'k'},
                                          {"ledger", required_argument, NULL, 'l'},
                                          {"anchor", required_argument, NULL, 'a'},
                                          {"witness", required_argument, NULL, 'w'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    const char *keyfile = NULL, *log = NULL, *ledger_dir = NULL, *witness = NULL;
    struct sl_kek *kek = NULL;
    unsigned char key[32], ledger_key[32];
    struct verify_state vs;
    int64_t nlines = 0, nledgers = 0, wline = 0;
    unsigned char whash[32];
    char head[65];
    sl_status st;
    int c, wpresent = 0, nopt;

    memset(&vs, 0, sizeof vs);
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "hk:l:a:w:", longs, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage_text, stdout);
            return 0;
        }
        if (c != 'k' && c != 'l' && c != 'a' && c != 'w') {
            fprintf(stderr, "sluice audit: unknown or incomplete option '%s'\n%s",
                    argv[optind - 1], usage_text);
            return 2;
        }
        if (c == 'a') {
            struct anchor *a = &vs.anchor[vs.nanchors];
            if (vs.nanchors == MAX_ANCHORS ||
                sl_audit_anchor_parse(optarg, strlen(optarg), &a->line, a->hash) != 0) {
                fprintf(stderr,
                        "sluice audit: --anchor '%s': expected LINE:SHA256 (a line number and "
                        "64 hex digits, as 'audit verify' prints the head), at most %d\n",
                        optarg, MAX_ANCHORS);
                return 2;
            }
            vs.nanchors++;
        } else if (c == 'k') {
            keyfile = optarg;
        } else if (c == 'w') {
            witness = optarg;
        } else {
            ledger_dir = optarg;
        }
    }
    if (optind + 2 != argc || strcmp(argv[optind], "verify") != 0 || !keyfile) {
        fprintf(stderr, "sluice audit: expected 'verify LOG --key KEY'\n%s", usage_text);
        return 2;
    }
    log = argv[optind + 1];
    nopt = vs.nanchors;
    st = witness ? sl_audit_witness_last(witness, &wline, whash, &wpresent) : SL_OK;
    if (wpresent) {
        vs.anchor[vs.nanchors].line = wline;
        memcpy(vs.anchor[vs.nanchors++].hash, whash, sizeof whash);
    }
    if (st == SL_OK)
        st = sl_kek_load(keyfile, &kek);
    if (st == SL_OK && ledger_dir && !(vs.last = json_object()))
        st = SL_ERR_NOMEM;
    /* a directory not made yet holds no ledger: its name as given will do */
    if (ledger_dir && !realpath(ledger_dir, vs.root))
        snprintf(vs.root, sizeof vs.root, "%s", ledger_dir);
    if (st == SL_OK)
        st = sl_kek_derive(kek, "audit", key);
    if (st == SL_OK)
        st = sl_kek_derive(kek, "ledger", ledger_key);
    sl_kek_destroy(&kek);
    /* the messages name the bad line or ledger */
    if (st == SL_OK)
        st = sl_audit_verify_each(log, key, collect, &vs, &nlines, NULL);
    for (int i = 0; st == SL_OK && i < vs.nanchors; i++)
        if (!vs.anchor[i].seen)
            st = sl_error_set(SL_ERR_INTEGRITY, __FILE__, __LINE__, __func__,
                              "audit log %s has %lld lines, but line %lld was anchored: the log "
                              "was rolled back (with its head) or replaced since",
                              log, (long long)nlines, (long long)vs.anchor[i].line);
    if (st == SL_OK && ledger_dir)
        st = check_ledgers(ledger_dir, ledger_key, &vs, &nledgers);
    /* a verified log starts its witness */
    if (st == SL_OK && witness && !wpresent && nlines > 0)
        st = sl_audit_witness_add(witness, nlines, vs.head);
    sl_wipe(key, sizeof key);
    sl_wipe(ledger_key, sizeof ledger_key);
    json_decref(vs.last);
    if (st != SL_OK) {
        fprintf(stderr, "sluice audit: %s\n", sl_error_message());
        return sl_exit_code(st);
    }
    printf("%s: %lld lines, chain and MACs intact\n", log, (long long)nlines);
    if (nopt > 0)
        printf("%s: %d anchor(s) held\n", log, nopt);
    if (witness && wpresent)
        printf("%s: holds line %lld as its witness %s names it\n", log, (long long)wline,
               witness);
    else if (witness && nlines > 0)
        printf("%s: witness %s started at line %lld\n", log, witness, (long long)nlines);
    if (ledger_dir)
        printf("%s: %lld release ledger(s), each as the audit log last recorded it\n", ledger_dir,
               (long long)nledgers);
    if (nlines > 0) {
        sl_sha256_hex(vs.head, head);
        printf("head: %lld:%s (keep it off this machine; --anchor checks it later)\n",
               (long long)nlines, head);
    }
    return 0;
}
