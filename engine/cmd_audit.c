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
#include "engine/run.h"
#include "io/keys.h"

static const char *usage_text =
    "usage: sluice audit verify LOG --key KEY [--ledger DIR]\n"
    "\n"
    "Checks every line of the audit log LOG: its MAC under the audit key derived\n"
    "from KEY, the hash chain to the previous line, the sequence numbers, and the\n"
    "head file LOG.head that guards against lines cut off the end. Prints the\n"
    "number of good lines, or the first bad line and why.\n"
    "\n"
    "With --ledger DIR (the policy's paths.ledger), also checks every release\n"
    "ledger: its MAC, and that its sequence and MAC are those of the last commit\n"
    "the log recorded for it, so a ledger that was edited, deleted, or replaced by\n"
    "an older copy of itself is found, as is one the log never recorded.\n"
    "\n"
    "Exit codes: 0 intact, 4 tampered (edited, deleted, inserted, reordered or\n"
    "truncated lines; a ledger that does not match), 1 other failure, 2 bad usage.\n";

/* The last commit the log recorded of each ledger. */
struct ledgers {
    json_t *last; /* {path under DIR: {"sequence", "ledger_mac", "line"}} */
    char root[4096]; /* DIR resolved: records of other ledger directories are not its */
};

static sl_status collect(void *ctx, int64_t line, const json_t *entry)
{
    sl_status st = SL_OK;
    struct ledgers *lg = ctx;
    const char *event = json_string_value(json_object_get(entry, "event"));
    const char *path = json_string_value(json_object_get(entry, "ledger"));
    const json_t *seq = json_object_get(entry, "sequence");
    const json_t *mac = json_object_get(entry, "ledger_mac");
    const char *root = json_string_value(json_object_get(entry, "ledger_dir"));

    if (!event || strcmp(event, "ledger") != 0 || !path || !json_is_integer(seq) ||
        !json_is_string(mac))
        return SL_OK; /* another event, or a ledger event from before ledgers had MACs */
    if (root && strcmp(root, lg->root) != 0)
        return SL_OK; /* a ledger of another directory */
    SL_CHECK(json_object_set_new(lg->last, path,
                                 json_pack("{s:O,s:O,s:I}", "sequence", seq, "ledger_mac", mac,
                                           "line", (json_int_t)line)) == 0,
             SL_ERR_NOMEM, "out of memory");
cleanup:
    return st;
}

/* Compares every ledger under dir with the log's last record of it. */
static sl_status check_ledgers(const char *dir, const unsigned char key[32],
                               const struct ledgers *lg, int64_t *nchecked)
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
        SL_CHECK(json_object_get(lg->last, rel), SL_ERR_INTEGRITY,
                 "ledger %s/%s: the audit log records no commit of it (written outside sluice, "
                 "or under another audit log)",
                 dir, rel);
    }
    json_object_foreach_safe(lg->last, tmp, rel, rec) {
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
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    const char *keyfile = NULL, *log = NULL, *ledger_dir = NULL;
    struct sl_kek *kek = NULL;
    unsigned char key[32], ledger_key[32];
    struct ledgers lg = {NULL};
    int64_t nlines = 0, nledgers = 0;
    sl_status st;
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "hk:l:", longs, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage_text, stdout);
            return 0;
        }
        if (c != 'k' && c != 'l') {
            fprintf(stderr, "sluice audit: unknown or incomplete option '%s'\n%s",
                    argv[optind - 1], usage_text);
            return 2;
        }
        if (c == 'k')
            keyfile = optarg;
        else
            ledger_dir = optarg;
    }
    if (optind + 2 != argc || strcmp(argv[optind], "verify") != 0 || !keyfile) {
        fprintf(stderr, "sluice audit: expected 'verify LOG --key KEY'\n%s", usage_text);
        return 2;
    }
    log = argv[optind + 1];
    lg.last = json_object();
    st = lg.last ? sl_kek_load(keyfile, &kek) : SL_ERR_NOMEM;
    /* a directory not made yet holds no ledger: its name as given will do */
    if (ledger_dir && !realpath(ledger_dir, lg.root))
        snprintf(lg.root, sizeof lg.root, "%s", ledger_dir);
    if (st == SL_OK)
        st = sl_kek_derive(kek, "audit", key);
    if (st == SL_OK)
        st = sl_kek_derive(kek, "ledger", ledger_key);
    sl_kek_destroy(&kek);
    /* the messages name the bad line or ledger */
    if (st == SL_OK)
        st = sl_audit_verify_each(log, key, ledger_dir ? collect : NULL, &lg, &nlines, NULL);
    if (st == SL_OK && ledger_dir)
        st = check_ledgers(ledger_dir, ledger_key, &lg, &nledgers);
    sl_wipe(key, sizeof key);
    sl_wipe(ledger_key, sizeof ledger_key);
    json_decref(lg.last);
    if (st != SL_OK) {
        fprintf(stderr, "sluice audit: %s\n", sl_error_message());
        return sl_exit_code(st);
    }
    printf("%s: %lld lines, chain and MACs intact\n", log, (long long)nlines);
    if (ledger_dir)
        printf("%s: %lld release ledger(s), each as the audit log last recorded it\n", ledger_dir,
               (long long)nledgers);
    return 0;
}
