/*
 * cmd_ledger.c: `sluice ledger adopt`, taking release ledgers written before
 * ledgers had MACs (format 1) into the current format, audited; and
 * `sluice ledger budget`, what each cohort and project has spent of the
 * privacy budget; and `sluice ledger list`, what each has released.
 */
#include <getopt.h>
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/cli.h"
#include "engine/config.h"
#include "engine/config_impl.h"
#include "engine/core/secbuf.h"
#include "engine/dp.h"
#include "engine/ledger.h"
#include "engine/release.h"
#include "engine/run.h"

static const char *usage_text =
    "usage: sluice ledger adopt [--policy POLICY] [--dry-run]\n"
    "       sluice ledger budget [--policy POLICY]\n"
    "       sluice ledger list [--policy POLICY]\n"
    "\n"
    "adopt: release ledgers written by sluice before they carried a MAC (format 1)\n"
    "are refused by jobs and reviews, since nothing in them could tell an edit. An\n"
    "operator who has checked such a ledger (it lists every table released from a\n"
    "cohort for a project) adopts it: each format-1 ledger under the policy's\n"
    "ledger directory is rewritten in the current format, with a MAC under the\n"
    "ledger key and commit sequence 1, and the audit log records who adopted it,\n"
    "the SHA-256 of the file as it was, and the new commit. Ledgers of the\n"
    "current format are left alone. --dry-run lists what would be adopted.\n"
    "\n"
    "budget: for every ledger (a cohort and a project), the privacy charges of its\n"
    "noisy outputs, the rho they spent, the policy's budget (privacy.rho), what is\n"
    "left, and the rho spent as epsilon at the policy's delta. Each ledger's MAC\n"
    "and its last audited commit are checked first, as a job does.\n"
    "\n"
    "list: for every ledger, what it remembers, oldest first: each released table\n"
    "(when, job, output, analysis, its dimensions with the cut points of banded\n"
    "columns and histogram bins, the filter, its patients) and each privacy charge\n"
    "(mechanism and rho). The differencing rule compares new tables with these.\n"
    "Checked first as for budget. Operators only: the ledger is theirs.\n"
    "\n"
    "  --policy FILE   operator's policy (default: $SLUICE_POLICY)\n"
    "  --dry-run       adopt: list the format-1 ledgers and their entries; change nothing\n"
    "\n"
    "Exit codes: 0 done (or nothing to do), 4 a ledger that is not a well-formed\n"
    "format-1 or current ledger, or (budget, list) one whose MAC or audit record does\n"
    "not match (nothing after it is adopted or listed), 1 other failure, 2 bad usage.\n";

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

/* What both subcommands work with: the policy, its ledgers' paths under
 * its ledger directory, and (once opened) the audit log, the ledger key and
 * the ledger at hand. */
struct ledger_cmd {
    struct sl_policy *p;
    const char *key_path; /* the audit key file */
    json_t *names;
    struct sl_audit *audit;
    unsigned char key[32]; /* secret: the ledger MAC key */
    struct sl_ledger *l;
};

/* Loads the policy and lists its ledgers; `why` tells the error for a
 * policy without a key file what it is needed for. */
static sl_status cmd_open(struct ledger_cmd *c, const char *policy_path, const char *why)
{
    sl_status st = SL_OK;
    memset(c, 0, sizeof *c);
    c->names = json_object();
    SL_CHECK(c->names, SL_ERR_NOMEM, "out of memory");
    SL_CHECK(policy_path, SL_ERR_ARG, "ledger: --policy FILE is required (or set SLUICE_POLICY)");
    SL_CALL(sl_policy_load(policy_path, &c->p));
    c->key_path = c->p->audit_key_file ? c->p->audit_key_file : c->p->key_file;
    SL_CHECK(c->key_path, SL_ERR_ARG, "%s: the policy names no key_file or audit_key_file; %s",
             c->p->path, why);
    SL_CALL(sl_ledger_list(c->p->ledger_dir, c->names));
cleanup:
    return st;
}

/* Opens the audit log and derives the ledger key. */
static sl_status cmd_audit(struct ledger_cmd *c)
{
    return sl_ledger_audit_open(c->key_path, c->p->audit_log, c->p->audit_witness, &c->audit,
                                c->key);
}

static void cmd_close(struct ledger_cmd *c)
{
    json_decref(c->names);
    sl_ledger_close(&c->l);
    sl_audit_close(&c->audit);
    sl_wipe(c->key, sizeof c->key);
    sl_policy_destroy(&c->p);
}

static sl_status adopt_all(const char *policy_path, int dry_run)
{
    sl_status st = SL_OK;
    struct ledger_cmd c;
    json_t *v, *fields = NULL, *state = NULL;
    const char *name, *who;
    struct passwd *pw = getpwuid(getuid());
    int64_t adopted = 0, current = 0, pending = 0;

    SL_CALL(cmd_open(&c, policy_path, "an adoption must be audited"));
    who = pw && pw->pw_name ? pw->pw_name : "unknown";
    if (!dry_run)
        SL_CALL(cmd_audit(&c));
    json_object_foreach(c.names, name, v) {
        char path[4096], sha[65];
        json_int_t format = 0;
        size_t nentries = 0, njobs = 0;
        SL_CHECK((size_t)snprintf(path, sizeof path, "%s/%s", c.p->ledger_dir, name) < sizeof path,
                 SL_ERR_ARG, "ledger path too long under %s", c.p->ledger_dir);
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
        SL_CALL(sl_ledger_adopt(c.p->ledger_dir, name, c.key, &c.l));
        state = sl_ledger_state(c.l);
        fields = state ? json_deep_copy(state) : NULL;
        SL_CHECK(fields &&
                     json_object_set_new(fields, "format1_sha256", json_string(sha)) == 0 &&
                     json_object_set_new(fields, "entries", json_integer((json_int_t)nentries)) ==
                         0 &&
                     json_object_set_new(fields, "operator", json_string(who)) == 0,
                 SL_ERR_NOMEM, "out of memory");
        /* what was vouched for, then the commit a job's check looks for */
        SL_CALL(sl_audit_append(c.audit, "ledger_adopt", fields));
        SL_CALL(sl_audit_append(c.audit, "ledger", state));
        json_decref(fields);
        json_decref(state);
        fields = state = NULL;
        sl_ledger_close(&c.l);
        adopted++;
    }
    if (dry_run)
        printf("%lld format-1 ledger(s) to adopt, %lld of the current format, under %s\n",
               (long long)pending, (long long)current, c.p->ledger_dir);
    else
        printf("%lld ledger(s) adopted, %lld of the current format already, under %s\n",
               (long long)adopted, (long long)current, c.p->ledger_dir);
cleanup:
    json_decref(fields);
    json_decref(state);
    cmd_close(&c);
    return st;
}

/* The cohort and project a ledger file names (borrowed from *doc, which
 * the caller frees). SL_ERR_INTEGRITY when it is not a ledger. */
static sl_status ledger_names(const char *path, json_t **doc, const char **cohort,
                              const char **project)
{
    sl_status st = SL_OK;
    json_error_t err;
    *doc = json_load_file(path, 0, &err);
    SL_CHECK(*doc, SL_ERR_INTEGRITY, "%s:%d:%d: not a release ledger: %s", path, err.line,
             err.column, err.text);
    *cohort = json_string_value(json_object_get(*doc, "cohort"));
    *project = json_string_value(json_object_get(*doc, "project"));
    SL_CHECK(*cohort && (*project || json_is_null(json_object_get(*doc, "project"))),
             SL_ERR_INTEGRITY, "%s: not a release ledger (no cohort or project)", path);
cleanup:
    return st;
}

/* Opens and locks the ledger file `name` (under the policy's ledger
 * directory), checks its MAC and its last audited commit as a job does,
 * and reads the document so checked into *doc (the caller frees it and
 * closes c->l); *cohort and *project are borrowed from it. */
static sl_status open_checked(struct ledger_cmd *c, const char *name, json_t **doc,
                              const char **cohort, const char **project)
{
    sl_status st = SL_OK;
    char path[4096];
    const char *note = NULL;

    SL_CHECK((size_t)snprintf(path, sizeof path, "%s/%s", c->p->ledger_dir, name) < sizeof path,
             SL_ERR_ARG, "ledger path too long under %s", c->p->ledger_dir);
    SL_CALL(ledger_names(path, doc, cohort, project));
    SL_CALL(sl_ledger_open(c->p->ledger_dir, *cohort, *project, c->key, &c->l));
    SL_CALL(sl_ledger_check_audited(c->l, c->audit, &note));
    if (note)
        fprintf(stderr, "sluice ledger: %s: %s\n", path, note);
    /* what was checked, not the file read before the lock */
    json_decref(*doc);
    *doc = NULL;
    SL_CALL(ledger_names(path, doc, cohort, project));
cleanup:
    return st;
}

static sl_status budget_all(const char *policy_path)
{
    sl_status st = SL_OK;
    struct ledger_cmd c;
    json_t *v, *doc = NULL;
    const char *name;
    int64_t count = 0;
    char bs[48];

    SL_CALL(cmd_open(&c, policy_path, "the ledgers' MACs need it"));
    SL_CALL(cmd_audit(&c));
    sl_dp_units_format(c.p->privacy_budget, bs, sizeof bs);
    printf("%-32s  %-20s  %7s  %-15s  %-15s  %s\n", "cohort", "project", "charges", "spent rho",
           "left", "epsilon spent");
    json_object_foreach(c.names, name, v) {
        char ss[48], ls[48];
        const char *cohort = NULL, *project = NULL;
        int64_t spent = 0, charges = 0;
        size_t i;
        json_t *e;
        SL_CALL(open_checked(&c, name, &doc, &cohort, &project));
        SL_CALL(sl_ledger_privacy_spent(c.l, &spent));
        json_array_foreach(json_object_get(doc, "entries"), i, e)
            charges += json_object_get(e, "privacy") != NULL;
        sl_dp_units_format(spent, ss, sizeof ss);
        sl_dp_units_format(c.p->privacy_budget > spent ? c.p->privacy_budget - spent : 0, ls,
                           sizeof ls);
        printf("%-32s  %-20s  %7lld  %-15s  %-15s  %.6f\n", cohort, project ? project : "(none)",
               (long long)charges, ss, ls,
               ceil(sl_dp_epsilon((double)spent / (double)SL_DP_UNITS, c.p->privacy_delta) * 1e6) /
                   1e6);
        sl_ledger_close(&c.l);
        json_decref(doc);
        doc = NULL;
        count++;
    }
    printf("%lld ledger(s) under %s; budget rho %s per cohort and project%s, epsilon at delta "
           "%g\n",
           (long long)count, c.p->ledger_dir, bs,
           c.p->privacy_budget ? "" : " (none: noisy outputs are refused)", c.p->privacy_delta);
cleanup:
    json_decref(doc);
    cmd_close(&c);
    return st;
}

/* A ledger entry's dimensions as text: names, with the ends of interval
 * dimensions ("age cut at 40, 65"; "bin of bmi at 18.5, 25, 30]", a closed
 * end marked). */
static void dims_text(const json_t *dims, char *buf, size_t cap)
{
    size_t i;
    const json_t *d;
    buf[0] = '\0';
    json_array_foreach(dims, i, d) {
        const char *name = json_string_value(json_object_get(d, "name"));
        const char *column = json_string_value(json_object_get(d, "column"));
        const json_t *ends = json_object_get(d, "ends"), *e;
        size_t k;
        sl_strbuf_append(buf, cap, "%s%s", i ? " x " : "", name ? name : "?");
        if (!column)
            continue;
        if (strcmp(column, name ? name : "") != 0)
            sl_strbuf_append(buf, cap, " of %s", column);
        sl_strbuf_append(buf, cap, " cut at");
        json_array_foreach(ends, k, e)
            sl_strbuf_append(buf, cap, "%s %.15g%s", k ? "," : "",
                             json_number_value(json_array_get(e, 0)),
                             json_is_true(json_array_get(e, 1)) ? "]" : "");
    }
    if (!buf[0])
        sl_strbuf_append(buf, cap, "(none)");
}

static sl_status list_all(const char *policy_path)
{
    sl_status st = SL_OK;
    struct ledger_cmd c;
    json_t *v, *doc = NULL;
    const char *name;
    int64_t count = 0, tables = 0, charges = 0;

    SL_CALL(cmd_open(&c, policy_path, "the ledgers' MACs need it"));
    SL_CALL(cmd_audit(&c));
    json_object_foreach(c.names, name, v) {
        const char *cohort = NULL, *project = NULL;
        size_t i;
        json_t *e;
        SL_CALL(open_checked(&c, name, &doc, &cohort, &project));
        printf("cohort %s, project %s: %zu entr%s, commit %lld\n", cohort,
               project ? project : "(none)", json_array_size(json_object_get(doc, "entries")),
               json_array_size(json_object_get(doc, "entries")) == 1 ? "y" : "ies",
               (long long)json_integer_value(json_object_get(doc, "sequence")));
        json_array_foreach(json_object_get(doc, "entries"), i, e) {
            const char *rec = json_string_value(json_object_get(e, "recorded"));
            const char *job = json_string_value(json_object_get(e, "job_id"));
            const char *out = json_string_value(json_object_get(e, "output"));
            const char *an = json_string_value(json_object_get(e, "analysis"));
            const char *filter = json_string_value(json_object_get(e, "filter"));
            const json_t *priv = json_object_get(e, "privacy");
            char dims[1024];
            dims_text(json_object_get(e, "dimensions"), dims, sizeof dims);
            printf("  %-20s  %-28s  %s (%s)\n", rec ? rec : "?", job ? job : "?",
                   out ? out : "?", an ? an : "?");
            if (priv) {
                const char *mech = json_string_value(json_object_get(priv, "mechanism"));
                const char *rho = json_string_value(json_object_get(priv, "rho"));
                printf("      privacy charge: %s, rho %s\n", mech ? mech : "?", rho ? rho : "?");
                charges++;
                continue;
            }
            printf("      by %s; filter %s%s%s; %lld patients\n", dims,
                   filter && filter[0] ? "'" : "", filter && filter[0] ? filter : "(none)",
                   filter && filter[0] ? "'" : "",
                   (long long)json_integer_value(json_object_get(e, "population")));
            tables++;
        }
        sl_ledger_close(&c.l);
        json_decref(doc);
        doc = NULL;
        count++;
    }
    printf("%lld ledger(s) under %s: %lld released table(s), %lld privacy charge(s)\n",
           (long long)count, c.p->ledger_dir, (long long)tables, (long long)charges);
cleanup:
    json_decref(doc);
    cmd_close(&c);
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
    if (strcmp(argv[1], "adopt") != 0 && strcmp(argv[1], "budget") != 0 &&
        strcmp(argv[1], "list") != 0) {
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
    if (dry_run && strcmp(argv[1], "adopt") != 0) {
        fprintf(stderr, "sluice ledger: --dry-run is an option of adopt\n%s", usage_text);
        return 2;
    }
    st = strcmp(argv[1], "adopt") == 0    ? adopt_all(policy, dry_run)
         : strcmp(argv[1], "budget") == 0 ? budget_all(policy)
                                          : list_all(policy);
    if (st != SL_OK) {
        fprintf(stderr, "sluice ledger: %s\n", sl_error_message());
        return sl_exit_code(st);
    }
    return 0;
}
