/*
 * run.c: `sluice run` (see run.h).
 *
 * Every rank parses the same job and policy and makes the same decisions;
 * after each phase the ranks agree on the status, so one rank's failure
 * (a tampered chunk, a refused node) stops all of them before the next
 * collective and nothing is released. Only rank 0 writes the audit log and
 * the release.
 */
#define _GNU_SOURCE /* sched_getaffinity */
#include "engine/run.h"

#include <errno.h>
#include <sched.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/audit.h"
#include "engine/config.h"
#include "engine/core/alloc.h"
#include "engine/core/log.h"
#include "engine/core/secbuf.h"
#include "engine/dp.h"
#include "engine/enclave.h"
#include "engine/exec_impl.h"
#include "engine/filter.h"
#include "engine/gate.h"
#include "engine/job.h"
#include "engine/ledger.h"
#include "engine/mitigate.h"
#include "engine/mpi_impl.h"
#include "engine/prepare.h"
#include "engine/release.h"
#include "io/frame.h"
#include "io/keys.h"

int sl_exit_code(sl_status st)
{
    switch (st) {
    case SL_OK: return 0;
    case SL_ERR_ARG:
    case SL_ERR_FORMAT:
    case SL_ERR_EXISTS:
    case SL_ERR_VERSION: return 2;
    case SL_ERR_DENIED: return 3;
    case SL_ERR_CRYPTO:
    case SL_ERR_KEY:
    case SL_ERR_INTEGRITY: return 4;
    default: return 1;
    }
}

struct run_opts {
    const char *policy;
    const char *job;
    const char *key;
    const char *job_id;
    const char *backend;
};

struct run_ctx {
    struct run_opts opt;
    struct sl_exec ex;
    struct sl_policy *policy;
    struct sl_job *job;
    struct sl_audit *audit;
    unsigned char ledger_key[32]; /* secret: MACs the release ledger (rank 0) */
    struct sl_ledger *ledger;     /* rank 0: checked at the start, unlocked until the release */
    struct sl_kek *kek;
    struct sl_cohort *cohort;
    struct sl_filter *filter;
    struct sl_frame *frame;
    struct sl_prepared *prep; /* per analysis */
    struct sl_outputs outs;
    int *out_analysis; /* per output: the analysis that made it */
    char job_id[128];
    char user[64];
    int reported; /* this rank has printed the job's error */
    struct sl_enclave_info enclave;
    double t_start;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void utc_stamp(char *buf, size_t cap, const char *fmt)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, fmt, &tm);
}

static const char *usage_text =
    "usage: sluice run --policy POLICY.yaml [--key KEK] [--job-id ID] [--backend B] JOB.yaml\n"
    "\n"
    "Runs a job under mpirun or srun on any number of ranks, or started from a\n"
    "shell as one process without MPI. The policy decides who may run on which\n"
    "cohort, where; the release gate decides what leaves.\n"
    "\n"
    "  --policy FILE   operator's policy (required)\n"
    "  --key FILE      centre key (default: the policy's key_file)\n"
    "  --job-id ID     id of the release directory (default: Slurm job id, or\n"
    "                  NAME-TIMESTAMP-RANDOM outside Slurm)\n"
    "  --backend B     auto, cpu or gpu (default: the job's backend)\n"
    "  -h, --help      this text\n"
    "\n"
    "Exit codes: 0 ran (results.json says what was released), 1 runtime failure,\n"
    "2 bad usage or input, 3 refused by policy or enclave, 4 authentication or\n"
    "integrity failure (wrong key, tampered cohort).\n";

static sl_status parse_args(int argc, char **argv, struct run_opts *o, int *help)
{
    sl_status st = SL_OK;
    static const struct option longs[] = {{"policy", required_argument, NULL, 'p'},
                                          {"key", required_argument, NULL, 'k'},
                                          {"job-id", required_argument, NULL, 'j'},
                                          {"backend", required_argument, NULL, 'b'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int c;
    *help = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+h", longs, NULL)) != -1) {
        switch (c) {
        case 'p': o->policy = optarg; break;
        case 'k': o->key = optarg; break;
        case 'j': o->job_id = optarg; break;
        case 'b': o->backend = optarg; break;
        case 'h': *help = 1; goto cleanup;
        default: SL_FAIL(SL_ERR_ARG, "run: unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    SL_CHECK(o->policy, SL_ERR_ARG, "run: --policy FILE is required");
    SL_CHECK(optind == argc - 1, SL_ERR_ARG, "run: expected exactly one job file");
    o->job = argv[optind];
    if (o->job_id)
        for (const char *p = o->job_id; *p; p++)
            SL_CHECK((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                         (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.',
                     SL_ERR_ARG, "run: --job-id may only use letters, digits, '-', '_', '.'");
cleanup:
    return st;
}

/* Agrees across ranks on the outcome of a phase: if any rank failed, the
 * lowest failing rank prints its message and every rank returns its status.
 * Collective. */
static sl_status phase(struct run_ctx *r, sl_status local)
{
    int mine = local != SL_OK ? r->ex.rank : r->ex.size, first = mine, code = (int)local;
    if (r->ex.mpi &&
        (MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, r->ex.comm) != MPI_SUCCESS ||
         MPI_Bcast(&code, 1, MPI_INT, first < r->ex.size ? first : 0, r->ex.comm) !=
             MPI_SUCCESS)) {
        sl_log_error("ranks could not agree on the job's state; aborting");
        MPI_Abort(r->ex.comm, 1);
    }
    if (first == r->ex.size)
        return SL_OK;
    if (r->ex.rank == first) {
        sl_log_error("%s", sl_error_message());
        r->reported = 1;
    }
    return (sl_status)code;
}

static sl_status audit_event(struct run_ctx *r, const char *event, json_t *fields)
{
    sl_status st = SL_OK;
    if (r->ex.rank == 0 && r->audit) {
        json_object_set_new(fields, "job_id", json_string(r->job_id));
        st = sl_audit_append(r->audit, event, fields);
    }
    json_decref(fields);
    return st;
}

static sl_status make_job_id(struct run_ctx *r)
{
    sl_status st = SL_OK;
    char stamp[32];
    unsigned char rnd[3];
    char idbuf[128];

    if (r->ex.rank == 0) {
        if (r->opt.job_id) {
            snprintf(idbuf, sizeof idbuf, "%s", r->opt.job_id);
        } else if (r->enclave.in_slurm) {
            snprintf(idbuf, sizeof idbuf, "slurm-%s", r->enclave.job_id);
        } else {
            utc_stamp(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ");
            SL_CHECK(RAND_bytes(rnd, sizeof rnd) == 1, SL_ERR_INTERNAL, "no randomness");
            snprintf(idbuf, sizeof idbuf, "%.80s-%s-%02x%02x%02x", r->job->name, stamp, rnd[0],
                     rnd[1], rnd[2]);
        }
    }
cleanup:
    {
        int rc = r->ex.mpi ? MPI_Bcast(idbuf, (int)sizeof idbuf, MPI_CHAR, 0, r->ex.comm)
                           : MPI_SUCCESS;
        if (st == SL_OK && rc != MPI_SUCCESS)
            st = sl_mpi_error(rc, __FILE__, __LINE__, __func__, "MPI_Bcast(job id)");
        idbuf[sizeof idbuf - 1] = '\0';
        snprintf(r->job_id, sizeof r->job_id, "%s", idbuf);
    }
    return st;
}

/* Warns when this rank's kernel threads outnumber the CPUs it may run on:
 * an MPI launcher that binds each rank to one core (Open MPI does when it
 * starts 2 ranks or fewer) makes OMP_NUM_THREADS threads take turns on it. */
static void warn_bound_threads(const struct run_ctx *r)
{
    cpu_set_t set;
    int cpus, threads = sl_kernel_threads();
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return;
    cpus = CPU_COUNT(&set);
    if (threads > cpus)
        sl_log_warn("rank %d runs %d kernel threads on the %d CPU(s) it is bound to, so they "
                    "take turns: let the launcher give each rank %d (mpirun --map-by slot:PE=%d, "
                    "or --bind-to none; srun --cpus-per-task=%d)",
                    r->ex.rank, threads, cpus, threads, threads, threads);
}

static sl_status open_audit(struct run_ctx *r)
{
    sl_status st = SL_OK;
    const char *path = r->policy->audit_key_file ? r->policy->audit_key_file
                       : r->opt.key                ? r->opt.key
                                                   : r->policy->key_file;
    if (r->ex.rank != 0)
        return SL_OK;
    SL_CHECK(path, SL_ERR_ARG, "%s: the policy names no key_file or audit_key_file",
             r->policy->path);
    SL_CALL(sl_ledger_audit_open(path, r->policy->audit_log, r->policy->audit_witness,
                                 &r->audit, r->ledger_key));
cleanup:
    return st;
}

static sl_status authorise(struct run_ctx *r)
{
    return sl_job_authorised(r->job, r->policy, r->user);
}

static json_t *rules_json(const struct sl_rules *r)
{
    return json_pack("{s:I,s:b,s:i,s:[I,I],s:[I,I],s:I,s:b,s:I,s:I,s:[I,I],s:b,s:I,s:b,s:b}",
                     "min_safe_count", (json_int_t)r->min_safe_count, "zero_is_unsafe",
                     r->zero_is_unsafe, "nk_n", r->nk_n, "nk_k", (json_int_t)r->nk_k.num,
                     (json_int_t)r->nk_k.den, "p_ratio", (json_int_t)r->p_ratio.num,
                     (json_int_t)r->p_ratio.den, "min_dof", (json_int_t)r->min_dof,
                     "check_missing", r->check_missing, "round_base",
                     (json_int_t)r->round_base, "redact_at_most", (json_int_t)r->redact_at_most,
                     "glm_max_param_frac", (json_int_t)r->glm_max_param_frac.num,
                     (json_int_t)r->glm_max_param_frac.den, "allow_minmax", r->allow_minmax,
                     "minmax_min_count", (json_int_t)r->minmax_min_count, "release_covariance",
                     r->release_covariance, "release_per_row", r->release_per_row);
}

/* Prepares every analysis and collects the columns to load. */
static sl_status prepare(struct run_ctx *r, int **cols_out, int *ncols_out)
{
    sl_status st = SL_OK;
    int ncohort = sl_cohort_ncols(r->cohort), ncols = 0;
    int *want = NULL, *cols = NULL, *fcols = NULL, nf = 0;

    *cols_out = NULL;
    *ncols_out = 0;
    want = sl_calloc((size_t)ncohort, sizeof *want);
    r->prep = sl_calloc((size_t)r->job->nanalyses + 1, sizeof *r->prep);
    SL_CHECK(want && r->prep, SL_ERR_NOMEM, "out of memory");
    if (r->job->filter) {
        SL_CALL(sl_filter_parse(r->job->filter, r->job->filter_where, &r->filter));
        SL_CALL(sl_filter_bind(r->filter, r->cohort));
        SL_CALL(sl_filter_columns(r->filter, &fcols, &nf));
        for (int i = 0; i < nf; i++)
            want[fcols[i]] = 1;
    }
    for (int a = 0; a < r->job->nanalyses; a++) {
        SL_CALL(sl_analysis_prepare(r->job, &r->job->analyses[a], r->policy, r->cohort,
                                    &r->prep[a]));
        for (int i = 0; i < r->prep[a].ncols; i++)
            want[r->prep[a].cols[i]] = 1;
    }
    cols = sl_malloc((size_t)ncohort * sizeof *cols);
    SL_CHECK(cols, SL_ERR_NOMEM, "out of memory");
    for (int i = 0; i < ncohort; i++)
        if (want[i])
            cols[ncols++] = i;
    *cols_out = cols;
    *ncols_out = ncols;
    cols = NULL;
cleanup:
    sl_free(want);
    sl_free(cols);
    sl_free(fcols);
    return st;
}

static sl_status load_rows(struct run_ctx *r, const int *cols, int ncols)
{
    sl_status st = SL_OK;
    int64_t *chunks = NULL, nchunks = 0;
    double t0 = now_s();

    SL_CALL(sl_chunks_assign(sl_cohort_nchunks(r->cohort), r->ex.rank, r->ex.size,
                             SL_ASSIGN_CONTIGUOUS, &chunks, &nchunks));
    SL_CALL(sl_frame_load(r->cohort, cols, ncols, chunks, nchunks, &r->frame));
    if (r->ex.rank == 0)
        sl_log_info("phase load: %lld rows in %lld chunks (%d columns) decrypted on rank 0 in "
                    "%.3f s",
                    (long long)r->frame->nrows, (long long)nchunks, ncols, now_s() - t0);
    r->ex.frame = r->frame;
    if (r->filter) {
        SL_CALL(sl_secbuf_create((size_t)r->frame->nrows, &r->ex.mask));
        SL_CALL(sl_filter_eval(r->filter, r->frame, 0, r->frame->nrows, r->ex.mask->data));
    }
cleanup:
    sl_free(chunks);
    return st;
}

static json_t *job_section(struct run_ctx *r)
{
    char hex[65], started[32];
    json_t *j;
    sl_sha256_hex(r->job->sha256, hex);
    utc_stamp(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ");
    j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s},s:i,s:s,s:s}", "id", r->job_id, "name",
                  r->job->name, "file", r->job->path, "sha256", hex, "user", r->user, "cohort",
                  "path", r->job->cohort, "uuid", sl_cohort_uuid(r->cohort), "ranks", r->ex.size,
                  "backend", sl_backend_name(r->ex.backend), "finished", started);
    json_object_set_new(j, "project", r->job->project ? json_string(r->job->project)
                                                      : json_null());
    json_object_set_new(j, "filter", r->filter ? json_string(sl_filter_text(r->filter))
                                               : json_null());
    if (r->enclave.in_slurm)
        json_object_set_new(j, "slurm", json_pack("{s:s,s:s,s:s}", "job_id", r->enclave.job_id,
                                                  "partition", r->enclave.partition, "node",
                                                  r->enclave.node));
    return j;
}

static json_t *policy_section(struct run_ctx *r)
{
    char hex[65];
    sl_sha256_hex(r->policy->sha256, hex);
    return json_pack("{s:s,s:s,s:s,s:o,s:i}", "file", r->policy->path, "sha256", hex, "profile",
                     r->policy->profile ? r->policy->profile : "acro", "rules",
                     rules_json(&r->job->rules), "reviewers_required",
                     r->policy->reviewers_required);
}

/* Records which analysis made the outputs from `first` on, and gives them
 * the analysis as written when the job type did not. */
static sl_status note_outputs(struct run_ctx *r, int first, int a)
{
    sl_status st = SL_OK;
    int *grown;
    if (r->ex.rank != 0 || r->outs.count == first)
        return SL_OK;
    grown = sl_realloc(r->out_analysis, (size_t)r->outs.count * sizeof *grown);
    SL_CHECK(grown, SL_ERR_NOMEM, "out of memory");
    r->out_analysis = grown;
    for (int i = first; i < r->outs.count; i++) {
        r->out_analysis[i] = a;
        if (!r->outs.tables[i]->spec)
            r->outs.tables[i]->spec = sl_params_to_json(r->job->analyses[a].params);
    }
cleanup:
    return st;
}

static void print_summary(struct run_ctx *r)
{
    printf("job %s: %d output(s) on %d rank(s), backend %s, %.2f s\n", r->job_id, r->outs.count,
           r->ex.size, sl_backend_name(r->ex.backend), now_s() - r->t_start);
    for (int i = 0; i < r->outs.count; i++) {
        const struct sl_table *t = r->outs.tables[i];
        size_t k;
        json_t *v;
        printf("  %-24s %-7s", t->name, sl_decision_name(t->decision));
        if (t->decision == SL_DECISION_PASS)
            printf(" released to %s/%s/%s.csv\n", r->policy->released_dir, r->job_id, t->name);
        else if (t->decision == SL_DECISION_REVIEW)
            printf(" held for review in %s/%s/ (sluice review)\n", r->policy->held_dir,
                   r->job_id);
        else
            printf(" withheld\n");
        if (t->mitigation) {
            json_t *note = json_object_get(t->mitigation, "note");
            char *kinds = json_dumps(json_object_get(t->mitigation, "requested"),
                                     JSON_COMPACT);
            printf("      mitigation %s: %s\n", kinds ? kinds : "",
                   note ? json_string_value(note) : "applied");
            free(kinds);
        }
        json_array_foreach(t->verdicts, k, v) {
            json_t *reason = json_object_get(v, "reason");
            if (reason)
                printf("      %s: %s\n", json_string_value(json_object_get(v, "rule")),
                       json_string_value(reason));
        }
    }
    printf("results: %s/%s/results.json\n", r->policy->released_dir, r->job_id);
}

/* Locks the job's release ledger (rank 0), opening it the first time and
 * reading it again after: its MAC is checked, and it must not be behind the
 * last commit the audit log recorded of it. */
static sl_status lock_ledger(struct run_ctx *r)
{
    sl_status st = SL_OK;
    const char *note = NULL;
    if (r->ledger)
        SL_CALL(sl_ledger_relock(r->ledger));
    else
        SL_CALL(sl_ledger_open(r->policy->ledger_dir, sl_cohort_uuid(r->cohort),
                               r->job->project, r->ledger_key, &r->ledger));
    SL_CALL(sl_ledger_check_audited(r->ledger, r->audit, &note));
    if (note)
        sl_log_warn("release ledger of cohort %s, project %s: %s", sl_cohort_uuid(r->cohort),
                    r->job->project ? r->job->project : "(none)", note);
cleanup:
    if (st != SL_OK)
        sl_ledger_close(&r->ledger);
    return st;
}

/* Refuses the job before any key is unwrapped when its ledger is bad; the
 * ledger stays open, unlocked, so that the release reads it again only
 * when it changed. */
static sl_status check_ledger(struct run_ctx *r)
{
    sl_status st = SL_OK;
    if (r->ex.rank != 0)
        return SL_OK;
    SL_CALL(lock_ledger(r));
    SL_CALL(sl_ledger_unlock(r->ledger));
cleanup:
    return st;
}

/* Audits a ledger commit: what it recorded, and the ledger's sequence and
 * MAC, which `sluice audit verify --ledger` compares with the file. */
static sl_status audit_ledger(struct run_ctx *r, const struct sl_ledger *ledger, int recorded)
{
    sl_status st = SL_OK;
    json_t *f = sl_ledger_state(ledger);
    SL_CHECK(f && json_object_set_new(f, "cohort_uuid", json_string(sl_cohort_uuid(r->cohort))) ==
                      0 &&
                 json_object_set_new(f, "project", r->job->project
                                                       ? json_string(r->job->project)
                                                       : json_null()) == 0 &&
                 json_object_set_new(f, "recorded", json_integer(recorded)) == 0 &&
                 json_object_set_new(f, "entries", json_integer((json_int_t)sl_ledger_size(
                                                       ledger))) == 0,
             SL_ERR_NOMEM, "out of memory");
    SL_CALL(audit_event(r, "ledger", f));
    f = NULL;
cleanup:
    json_decref(f);
    return st;
}

/* The noisy counts output i asks for, or NULL. */
static const struct sl_dp_request *dp_of(const struct run_ctx *r, int i)
{
    const struct sl_dp_request *req;
    if (!r->out_analysis)
        return NULL;
    req = &r->prep[r->out_analysis[i]].dp;
    return req->mechanism != SL_DP_NONE ? req : NULL;
}

/* Noisy outputs (dp.h): each is judged against what is left of the
 * privacy budget of the cohort and project; the charges of those that fit
 * are committed to the locked ledger and audited before any noise is
 * drawn, so no noisy value exists that the ledger has not paid for. */
static sl_status charge_and_noise(struct run_ctx *r, const char *filter)
{
    sl_status st = SL_OK;
    int64_t spent = 0;
    int charged = 0, *fits = NULL;
    struct sl_dp_rng *rng = NULL;
    char spent_s[48], budget_s[48];

    fits = sl_calloc((size_t)r->outs.count + 1, sizeof *fits);
    SL_CHECK(fits, SL_ERR_NOMEM, "out of memory");
    SL_CALL(sl_ledger_privacy_spent(r->ledger, &spent));
    for (int i = 0; i < r->outs.count; i++) {
        const struct sl_dp_request *req = dp_of(r, i);
        json_t *e = NULL;
        if (!req)
            continue;
        SL_CALL(sl_dp_judge_budget(r->outs.tables[i], req, spent, r->policy->privacy_budget,
                                   r->policy->privacy_delta, &fits[i]));
        if (!fits[i])
            continue;
        SL_CALL(sl_dp_ledger_entry(r->outs.tables[i], req, r->job_id, filter, &e));
        st = sl_ledger_record(r->ledger, e);
        json_decref(e);
        SL_CALL(st);
        spent += req->units;
        charged++;
    }
    if (!charged)
        goto cleanup;
    SL_CALL(sl_ledger_commit(r->ledger));
    SL_CALL(audit_ledger(r, r->ledger, charged));
    sl_dp_units_format(spent, spent_s, sizeof spent_s);
    sl_dp_units_format(r->policy->privacy_budget, budget_s, sizeof budget_s);
    SL_CALL(audit_event(r, "privacy_charge",
                        json_pack("{s:i,s:s,s:s}", "outputs", charged, "spent_rho", spent_s,
                                  "budget_rho", budget_s)));
    SL_CALL(sl_dp_rng_create(&rng));
    for (int i = 0; i < r->outs.count; i++)
        if (fits[i])
            SL_CALL(sl_dp_apply(r->outs.tables[i], dp_of(r, i), &r->job->rules, rng));
cleanup:
    sl_dp_rng_destroy(&rng);
    sl_free(fits);
    return st;
}

/* Gate, differencing ledger, mitigation, release. The ledger stays locked
 * from the differencing check until the released outputs are recorded, and
 * they are recorded (durably) before the release is written, so a crash
 * never leaves a release the ledger does not know; a release that fails
 * removes its entries again. */
static sl_status gate_and_release(struct run_ctx *r)
{
    sl_status st = SL_OK;
    json_t *results = NULL, *jsec = NULL, *psec = NULL, **entries = NULL;
    struct sl_release_info info;
    struct sl_ledger *ledger;
    const char *filter = r->filter ? sl_filter_text(r->filter) : NULL;
    struct sl_filter_range *ranges = NULL;
    struct sl_filter_conjunct *conj = NULL;
    int recorded = 0, nranges = 0, nconj = 0;

    if (r->ex.rank != 0)
        return SL_OK;
    entries = sl_calloc((size_t)r->outs.count + 1, sizeof *entries);
    SL_CHECK(entries, SL_ERR_NOMEM, "out of memory");
    if (r->filter) {
        SL_CALL(sl_filter_ranges(r->filter, &ranges, &nranges));
        SL_CALL(sl_filter_conjuncts(r->filter, &conj, &nconj));
    }
    for (int i = 0; i < r->outs.count; i++)
        if (!dp_of(r, i))
            SL_CALL(sl_gate_evaluate(r->outs.tables[i], &r->job->rules));
    SL_CALL(lock_ledger(r));
    ledger = r->ledger;
    SL_CALL(charge_and_noise(r, filter));
    for (int i = 0; i < r->outs.count; i++) {
        struct sl_table *t = r->outs.tables[i];
        if (dp_of(r, i))
            continue;
        SL_CALL(sl_ledger_entry(t, r->job_id, filter, &entries[i]));
        SL_CALL(sl_ledger_entry_filter(entries[i], conj, nconj, ranges, nranges));
        SL_CALL(sl_ledger_judge(ledger, t, entries[i], &r->job->rules));
        SL_CALL(sl_mitigate(t, &r->job->rules,
                            r->out_analysis ? r->prep[r->out_analysis[i]].kinds : 0));
        if (t->decision == SL_DECISION_PASS) {
            SL_CALL(sl_ledger_record(ledger, entries[i]));
            recorded++;
        }
    }
    SL_CALL(sl_ledger_commit(ledger));
    SL_CALL(audit_ledger(r, ledger, recorded));
    jsec = job_section(r);
    psec = policy_section(r);
    SL_CHECK(jsec && psec, SL_ERR_NOMEM, "out of memory");
    info = (struct sl_release_info){r->job_id, r->policy->released_dir, r->policy->held_dir,
                                    jsec, psec, entries, r->policy->reviewers_required};
    st = sl_release_write(&info, &r->outs, &results);
    if (st != SL_OK && recorded) {
        sl_status rst;
        sl_ledger_forget(ledger, r->job_id);
        rst = sl_ledger_commit(ledger);
        if (rst == SL_OK)
            rst = audit_ledger(r, ledger, 0);
        if (rst != SL_OK)
            sl_log_error("the release ledger still lists outputs of job %s that were not "
                         "released, or its audit record failed",
                         r->job_id);
    }
    SL_CALL(st);
    for (int i = 0; i < r->outs.count; i++) {
        const struct sl_table *t = r->outs.tables[i];
        json_t *m = t->mitigation;
        SL_CALL(audit_event(
            r, "output",
            json_pack("{s:s,s:s,s:s,s:O?,s:b}", "name", t->name, "analysis", t->analysis,
                      "status", sl_decision_name(t->decision), "mitigation",
                      m ? json_object_get(m, "requested") : NULL, "mitigated",
                      m && json_is_true(json_object_get(m, "applied")))));
    }
    print_summary(r);
cleanup:
    sl_ledger_close(&r->ledger);
    for (int i = 0; entries && i < r->outs.count; i++)
        json_decref(entries[i]);
    sl_free(entries);
    sl_free(ranges);
    sl_filter_conjuncts_free(&conj, nconj);
    json_decref(results);
    json_decref(jsec);
    json_decref(psec);
    return st;
}

static sl_status run_job(struct run_ctx *r)
{
    sl_status st = SL_OK;
    int *cols = NULL, ncols = 0;
    struct passwd *pw = getpwuid(getuid());
    char hex[65];

    snprintf(r->user, sizeof r->user, "%s", pw ? pw->pw_name : "unknown");
    SL_CALL(phase(r, sl_policy_load(r->opt.policy, &r->policy)));
    SL_CALL(phase(r, sl_job_load(r->opt.job, r->policy, &r->job)));

    /* The enclave check asks the Slurm controller; every rank checks its own node. */
    st = sl_enclave_check(r->policy, r->user, &r->enclave);
    {
        sl_status refusal = st;
        char reason[512];
        snprintf(reason, sizeof reason, "%s", sl_error_message());
        if (refusal == SL_OK) {
            st = authorise(r);
            refusal = st;
            snprintf(reason, sizeof reason, "%s", sl_error_message());
        }
        SL_CALL(phase(r, make_job_id(r)));
        SL_CALL(phase(r, open_audit(r)));
        sl_sha256_hex(r->job->sha256, hex);
        SL_CALL(phase(r, audit_event(
            r, "job_start",
            json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:s}", "user", r->user, "job_file", r->job->path,
                      "job_sha256", hex, "cohort", r->job->cohort, "ranks", r->ex.size,
                      "slurm_job_id", r->enclave.in_slurm ? r->enclave.job_id : "",
                      "partition", r->enclave.in_slurm ? r->enclave.partition : ""))));
        st = phase(r, refusal);
        if (st != SL_OK) {
            (void)audit_event(r, "refused",
                              json_pack("{s:s}", "reason", refusal != SL_OK ? reason
                                                                            : "refused on "
                                                                              "another rank"));
            goto cleanup;
        }
    }

    SL_CALL(phase(r, sl_cohort_open(r->job->cohort, &r->cohort)));
    SL_CALL(phase(r, check_ledger(r)));
    {
        const char *keyfile = r->opt.key ? r->opt.key : r->policy->key_file;
        sl_status ks = keyfile ? sl_kek_load(keyfile, &r->kek)
                               : sl_error_set(SL_ERR_ARG, __FILE__, __LINE__, __func__,
                                              "%s: the policy names no key_file and no --key was "
                                              "given",
                                              r->policy->path);
        if (ks == SL_OK)
            ks = sl_cohort_unlock(r->cohort, r->kek);
        SL_CALL(phase(r, ks));
    }
    SL_CALL(phase(r, audit_event(r, "key_unwrap",
                                 json_pack("{s:s,s:s}", "cohort_uuid", sl_cohort_uuid(r->cohort),
                                           "kek_id", sl_kek_id(r->kek)))));
    SL_CALL(phase(r, sl_backend_get(r->opt.backend ? r->opt.backend : r->job->backend,
                                    &r->ex.backend)));
    warn_bound_threads(r);
    r->ex.cohort = r->cohort;
    r->ex.rules = &r->job->rules;
    SL_CALL(phase(r, prepare(r, &cols, &ncols)));
    SL_CALL(phase(r, load_rows(r, cols, ncols)));
    if (r->ex.rank == 0)
        sl_log_info("job %s: %lld patients in cohort %s, %d analyses, %d rank(s), backend %s",
                    r->job_id, (long long)sl_cohort_nrows(r->cohort), sl_cohort_uuid(r->cohort),
                    r->job->nanalyses, r->ex.size, sl_backend_name(r->ex.backend));

    for (int a = 0; a < r->job->nanalyses; a++) {
        int first = r->outs.count;
        if (r->ex.rank == 0)
            sl_log_info("phase compute: analysis %d of %d, '%s' (%s)", a + 1, r->job->nanalyses,
                        r->job->analyses[a].name, r->job->analyses[a].type);
        st = r->prep[a].type->execute(r->prep[a].state, &r->ex, &r->outs);
        if (st == SL_OK)
            st = note_outputs(r, first, a);
        if (st != SL_OK && r->ex.size > 1) {
            /* A job type's collectives cannot be matched from here: stop all. */
            sl_log_error("analysis '%s' failed: %s", r->job->analyses[a].name,
                         sl_error_message());
            MPI_Abort(r->ex.comm, sl_exit_code(st));
        }
        SL_CALL(st);
    }
    /* Decrypted rows are no longer needed once partials are reduced. */
    sl_frame_destroy(&r->frame);
    sl_secbuf_destroy(&r->ex.mask);
    r->ex.frame = NULL;
    if (r->ex.rank == 0)
        sl_log_info("phase release: gating %d output(s)", r->outs.count);
    SL_CALL(phase(r, gate_and_release(r)));
cleanup:
    if (r->audit)
        (void)audit_event(r, "job_end",
                          json_pack("{s:s,s:s}", "status", st == SL_OK ? "completed" : "failed",
                                    "error", st == SL_OK ? "" : sl_status_str(st)));
    sl_free(cols);
    return st;
}

static void ctx_release(struct run_ctx *r)
{
    if (r->prep && r->job)
        for (int a = 0; a < r->job->nanalyses; a++)
            sl_prepared_clear(&r->prep[a]);
    sl_free(r->prep);
    sl_free(r->out_analysis);
    sl_outputs_clear(&r->outs);
    sl_frame_destroy(&r->frame);
    sl_secbuf_destroy(&r->ex.mask);
    sl_filter_destroy(&r->filter);
    sl_cohort_close(&r->cohort);
    sl_kek_destroy(&r->kek);
    sl_ledger_close(&r->ledger);
    sl_audit_close(&r->audit);
    sl_wipe(r->ledger_key, sizeof r->ledger_key);
    sl_job_destroy(&r->job);
    sl_policy_destroy(&r->policy);
}

/* Whether an MPI launcher started this process (mpirun or mpiexec, srun,
 * a PMI or PMIx server): each leaves its variables in the environment.
 * Without one, the job runs as a single process and MPI is never
 * initialised: Open MPI would start a helper daemon for the lone process
 * (a "singleton"), about 0.3 s of every such job here. */
static int launched_by_mpi(void)
{
    extern char **environ;
    static const char *const marks[] = {"OMPI_", "PMIX_", "PMI_", "HYDRA_", "MPI_LOCALNRANKS=",
                                        "SLURM_STEP_ID="};
    for (char **e = environ; *e; e++)
        for (size_t i = 0; i < sizeof marks / sizeof *marks; i++)
            if (strncmp(*e, marks[i], strlen(marks[i])) == 0)
                return 1;
    return 0;
}

int sl_cmd_run(int argc, char **argv)
{
    struct run_ctx r;
    sl_status st;
    int help = 0, provided = 0, code;

    memset(&r, 0, sizeof r);
    st = parse_args(argc, argv, &r.opt, &help);
    if (help) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (st != SL_OK) {
        fprintf(stderr, "sluice: %s\n%s", sl_error_message(), usage_text);
        return 2;
    }
    if (sl_process_harden() != SL_OK)
        sl_log_warn("%s", sl_error_message());
    r.t_start = now_s();
    r.ex.mpi = launched_by_mpi();
    r.ex.size = 1;
    if (r.ex.mpi) {
        if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
            fprintf(stderr, "sluice: MPI_Init failed\n");
            return 1;
        }
        MPI_Comm_dup(MPI_COMM_WORLD, &r.ex.comm);
        MPI_Comm_set_errhandler(r.ex.comm, MPI_ERRORS_RETURN);
        MPI_Comm_rank(r.ex.comm, &r.ex.rank);
        MPI_Comm_size(r.ex.comm, &r.ex.size);
    } else {
        sl_log_info("no MPI launcher: the job runs as one process, without MPI");
    }
    if (r.ex.size > 1)
        sl_log_set_rank(r.ex.rank);

    st = run_job(&r);
    if (st != SL_OK && !r.reported && r.ex.rank == 0)
        sl_log_error("%s", sl_error_message());
    if (st != SL_OK && r.ex.rank == 0)
        fprintf(stderr, "sluice: job failed (%s); nothing was released\n", sl_status_str(st));
    code = sl_exit_code(st);
    ctx_release(&r);
    if (r.ex.mpi) {
        MPI_Comm_free(&r.ex.comm);
        MPI_Finalize();
    }
    return code;
}
