/*
 * cmd_ledger.c: `sluice ledger adopt`, taking release ledgers written before
 * ledgers had MACs (format 1) into the current format, audited.
 */
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/cli.h"
#include "engine/config.h"
#include "engine/core/secbuf.h"
#include "engine/ledger.h"
#include "engine/release.h"
#include "engine/run.h"

static const char *usage_text =
    "usage: sluice ledger adopt [--policy POLICY] [--dry-run]\n"
    "\n"
    "Release ledgers written by sluice before they carried a MAC (format 1) are\n"
    "refused by jobs and reviews, since nothing in them could tell an edit. An\n"
    "operator who has checked such a ledger (it lists every table released from a\n"
    "cohort for a project) adopts it: each format-1 ledger under the policy's\n"
    "ledger directory is rewritten in the current format, with a MAC under the\n"
    "ledger key and commit sequence 1, and the audit log records who adopted it,\n"
    "the SHA-256 of the file as it was, and the new commit. Ledgers of the\n"
    "current format are left alone. --dry-run lists what would be adopted.\n"
    "\n"
    "  --policy FILE   operator's policy (default: $SLUICE_POLICY)\n"
    "  --dry-run       list the format-1 ledgers and their entries; change nothing\n"
    "\n"
    "Exit codes: 0 done (or nothing to do), 4 a ledger that is not a well-formed\n"
    "format-1 or current ledger (nothing after it is adopted), 1 other failure,\n"
    "2 bad usage.\n";

/* The format of the ledger at path and its number of entries and jobs;
 * SL_ERR_INTEGRITY naming the file when it is not JSON. */
static sl_status peek(const char *path, json_int_t *format, size_t *nentries, size_t *njobs)
{
    sl_status st = SL_OK;
    json_error_t err;
    json_t *doc = json_load_file(path, 0, &err), *jobs = json_object(), *e;
    size_t i;

    *format = 0;
    *nentries = *njobs = 0;
    SL_CHECK(doc, SL_ERR_INTEGRITY, "%s:%d:%d: not a release ledger: %s", path, err.line,
             err.column, err.text);
    SL_CHECK(jobs, SL_ERR_NOMEM, "out of memory");
    *format = json_integer_value(json_object_get(doc, "format"));
    *nentries = json_array_size(json_object_get(doc, "entries"));
    json_array_foreach(json_object_get(doc, "entries"), i, e) {
        const char *job = json_string_value(json_object_get(e, "job_id"));
        if (job)
            json_object_set_new(jobs, job, json_true());
    }
    *njobs = json_object_size(jobs);
cleanup:
    json_decref(jobs);
    json_decref(doc);
    return st;
}

static sl_status adopt_all(const char *policy_path, int dry_run)
{
    sl_status st = SL_OK;
    struct sl_policy *p = NULL;
    struct sl_audit *audit = NULL;
    struct sl_ledger *l = NULL;
    json_t *names = json_object(), *v, *fields = NULL, *state = NULL;
    const char *name, *key_path, *who;
    unsigned char ledger_key[32];
    struct passwd *pw = getpwuid(getuid());
    int64_t adopted = 0, current = 0, pending = 0;

    SL_CHECK(names, SL_ERR_NOMEM, "out of memory");
    SL_CHECK(policy_path, SL_ERR_ARG, "ledger: --policy FILE is required (or set SLUICE_POLICY)");
    SL_CALL(sl_policy_load(policy_path, &p));
    key_path = p->audit_key_file ? p->audit_key_file : p->key_file;
    SL_CHECK(key_path, SL_ERR_ARG, "%s: the policy names no key_file or audit_key_file; an "
             "adoption must be audited", p->path);
    who = pw && pw->pw_name ? pw->pw_name : "unknown";
    SL_CALL(sl_ledger_list(p->ledger_dir, names));
    if (!dry_run)
        SL_CALL(sl_ledger_audit_open(key_path, p->audit_log, p->audit_witness, &audit,
                                         ledger_key));
    json_object_foreach(names, name, v) {
        char path[4096], sha[65];
        json_int_t format = 0;
        size_t nentries = 0, njobs = 0;
        SL_CHECK((size_t)snprintf(path, sizeof path, "%s/%s", p->ledger_dir, name) < sizeof path,
                 SL_ERR_ARG, "ledger path too long under %s", p->ledger_dir);
        SL_CALL(peek(path, &format, &nentries, &njobs));
        if (format == SL_LEDGER_FORMAT) {
            current++;
            continue;
        }
        printf("%s: format %lld, %zu entries from %zu jobs%s\n", path, (long long)format,
               nentries, njobs, dry_run ? "" : ": adopting");
        pending++;
        if (dry_run)
            continue;
        SL_CALL(sl_sha256_file(path, sha));
        SL_CALL(sl_ledger_adopt(p->ledger_dir, name, ledger_key, &l));
        state = sl_ledger_state(l);
        fields = state ? json_deep_copy(state) : NULL;
        SL_CHECK(fields &&
                     json_object_set_new(fields, "format1_sha256", json_string(sha)) == 0 &&
                     json_object_set_new(fields, "entries", json_integer((json_int_t)nentries)) ==
                         0 &&
                     json_object_set_new(fields, "operator", json_string(who)) == 0,
                 SL_ERR_NOMEM, "out of memory");
        /* what was vouched for, then the commit a job's check looks for */
        SL_CALL(sl_audit_append(audit, "ledger_adopt", fields));
        SL_CALL(sl_audit_append(audit, "ledger", state));
        json_decref(fields);
        json_decref(state);
        fields = state = NULL;
        sl_ledger_close(&l);
        adopted++;
    }
    if (dry_run)
        printf("%lld format-1 ledger(s) to adopt, %lld of the current format, under %s\n",
               (long long)pending, (long long)current, p->ledger_dir);
    else
        printf("%lld ledger(s) adopted, %lld of the current format already, under %s\n",
               (long long)adopted, (long long)current, p->ledger_dir);
cleanup:
    json_decref(fields);
    json_decref(state);
    json_decref(names);
    sl_ledger_close(&l);
    sl_audit_close(&audit);
    sl_wipe(ledger_key, sizeof ledger_key);
    sl_policy_destroy(&p);
    return st;
}

int sl_cmd_ledger(int argc, char **argv)
{
    static const struct option longs[] = {{"policy", required_argument, NULL, 'p'},
                                          {"dry-run", no_argument, NULL, 'n'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    const char *policy = getenv("SLUICE_POLICY");
    int dry_run = 0, c;
    sl_status st;

    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "adopt") != 0) {
        fprintf(stderr, "sluice ledger: unknown subcommand '%s'\n%s", argv[1], usage_text);
        return 2;
    }
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc - 1, argv + 1, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'p': policy = optarg; break;
        case 'n': dry_run = 1; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default:
            fprintf(stderr, "sluice ledger: unknown or incomplete option '%s'\n%s",
                    argv[optind], usage_text);
            return 2;
        }
    }
    if (optind < argc - 1) {
        fprintf(stderr, "sluice ledger: unexpected argument '%s'\n%s", argv[1 + optind],
                usage_text);
        return 2;
    }
    st = adopt_all(policy, dry_run);
    if (st != SL_OK) {
        fprintf(stderr, "sluice ledger: %s\n", sl_error_message());
        return sl_exit_code(st);
    }
    return 0;
}
