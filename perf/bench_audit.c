/*
 * bench_audit.c: what the audit log costs a job as it grows.
 *
 *   bench_audit [--jobs N] [--projects P] [--dir DIR]
 *
 * Writes the lines of N jobs (default 2000) to a fresh audit log in a new
 * directory under DIR (default $TMPDIR or /tmp): per job a job_start,
 * key_unwrap, ledger (the release ledger of one of P projects, default 50,
 * in turn), three output lines and a job_end, shaped like what `sluice run`
 * writes. Then, timed best of 3:
 *   ledger, recent   the last ledger line of a project that released in the
 *                    last P jobs (what a job of a busy project looks up);
 *   ledger, early    a project that released only in the first job (the
 *                    walk covers nearly the whole log);
 *   ledger, none     a project that never released (a new project: the
 *                    whole log);
 *   verify           sl_audit_verify of the whole log, every line checked in
 *                    full (the reference: what every line of a search cost
 *                    before the walk trusted the chain).
 * Prints microseconds per line read and each search's speed against verify.
 * The log is removed at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "engine/audit.h"
#include "perf/bench_util.h"

struct timed {
    double seconds;
    int64_t seq;
};

static sl_status append(struct sl_audit *a, const char *event, json_t *fields)
{
    sl_status st = fields ? sl_audit_append(a, event, fields) : SL_ERR_NOMEM;
    json_decref(fields);
    return st;
}

/* The lines of job j, whose release ledger is that of `project`. */
static sl_status write_job(struct sl_audit *a, int j, const char *project)
{
    sl_status st = SL_OK;
    char id[32], ledger[96];
    static const char *const outputs[] = {"patients", "by_sex_region", "rare_combination"};

    snprintf(id, sizeof id, "job-%06d", j);
    snprintf(ledger, sizeof ledger, "release/aff1b8198da54f2fa6dbea1022a9d81e/%s.json", project);
    SL_CALL(append(a, "job_start",
                   json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "cohort", "cohort.h5", "job_file",
                             "job.yaml", "job_id", id, "job_sha256",
                             "e2e17f8cea4af090bb1968b995cc5b903d006ea825b2be4370b002c613ff4d30",
                             "partition", "enclave", "user", "researcher")));
    SL_CALL(append(a, "key_unwrap",
                   json_pack("{s:s,s:s,s:s}", "cohort_uuid", "aff1b8198da54f2fa6dbea1022a9d81e",
                             "job_id", id, "kek_id", "ac7b22bf185ebb30")));
    SL_CALL(append(a, "ledger",
                   json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:i}", "cohort_uuid",
                             "aff1b8198da54f2fa6dbea1022a9d81e", "entries", 2 + j % 7, "job_id",
                             id, "ledger", ledger, "ledger_dir", "/srv/sluice/ledger",
                             "ledger_mac",
                             "82d299cde6832541eac457853cfb15b6aa4a3a2d9ba16f89f16616af8f053eb0",
                             "sequence", j + 1)));
    for (int k = 0; k < 3; k++)
        SL_CALL(append(a, "output",
                       json_pack("{s:s,s:s,s:b,s:n,s:s,s:s}", "analysis", "count", "job_id", id,
                                 "mitigated", 0, "mitigation", "name", outputs[k], "status",
                                 k == 2 ? "fail" : "pass")));
    SL_CALL(append(a, "job_end",
                   json_pack("{s:s,s:s,s:s}", "error", "", "job_id", id, "status", "completed")));
cleanup:
    return st;
}

/* Best of 3 searches for the last ledger line of `project`. */
static sl_status time_find(struct sl_audit *a, const char *project, struct timed *t)
{
    sl_status st = SL_OK;
    char ledger[96];
    json_t *match = NULL, *e = NULL;

    snprintf(ledger, sizeof ledger, "release/aff1b8198da54f2fa6dbea1022a9d81e/%s.json", project);
    match = json_pack("{s:s,s:s}", "ledger", ledger, "ledger_dir", "/srv/sluice/ledger");
    SL_CHECK(match, SL_ERR_NOMEM, "out of memory");
    t->seconds = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = sl_bench_now();
        SL_CALL(sl_audit_find_last(a, "ledger", match, &e, &t->seq));
        t0 = sl_bench_now() - t0;
        t->seconds = t0 < t->seconds ? t0 : t->seconds;
        json_decref(e);
        e = NULL;
    }
cleanup:
    json_decref(match);
    return st;
}

int main(int argc, char **argv)
{
    sl_status st = SL_OK;
    int jobs = 2000, projects = 50;
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char dir[4096] = "", log[4200] = "", head[4300] = "", lock[4300] = "";
    unsigned char key[32];
    uint64_t seed = 42;
    struct sl_audit *a = NULL;
    struct timed recent, early, none;
    int64_t nlines = 0, bad = 0;
    double t_verify = 1e30;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--jobs") == 0 && i + 1 < argc)
            jobs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--projects") == 0 && i + 1 < argc)
            projects = atoi(argv[++i]);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            base = argv[++i];
        else {
            fprintf(stderr, "usage: bench_audit [--jobs N] [--projects P] [--dir DIR]\n");
            return 2;
        }
    }
    if (jobs < 2 || projects < 1) {
        fprintf(stderr, "bench_audit: --jobs must be at least 2 and --projects at least 1\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (unsigned char)sl_bench_next(&seed);
    snprintf(dir, sizeof dir, "%s/sluice-bench-audit.XXXXXX", base);
    SL_CHECK(mkdtemp(dir), SL_ERR_IO, "cannot make a directory under %s", base);
    snprintf(log, sizeof log, "%s/audit.log", dir);
    snprintf(head, sizeof head, "%s.head", log);
    snprintf(lock, sizeof lock, "%s.lock", log);

    SL_CALL(sl_audit_open(log, key, &a));
    {
        double t0 = sl_bench_now();
        for (int j = 0; j < jobs; j++) {
            char project[32];
            if (j == 0)
                snprintf(project, sizeof project, "first");
            else
                snprintf(project, sizeof project, "p%d", j % projects);
            SL_CALL(write_job(a, j, project));
        }
        printf("bench_audit: %d jobs, %d lines written in %.2f s\n", jobs, 7 * jobs,
               sl_bench_now() - t0);
    }
    SL_CALL(time_find(a, "p1", &recent));
    SL_CALL(time_find(a, "first", &early));
    SL_CALL(time_find(a, "never", &none));
    sl_audit_close(&a);
    for (int rep = 0; rep < 3; rep++) {
        double t0 = sl_bench_now();
        SL_CALL(sl_audit_verify(log, key, &nlines, &bad));
        t0 = sl_bench_now() - t0;
        t_verify = t0 < t_verify ? t0 : t_verify;
    }
    {
        double per_verify = t_verify / (double)nlines;
        struct {
            const char *name;
            const struct timed *t;
        } rows[] = {{"ledger, recent", &recent}, {"ledger, early", &early}, {"ledger, none", &none}};
        printf("%-16s %10s %8s %10s %14s\n", "", "seconds", "lines", "us/line", "vs verify");
        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
            /* lines read: from the end back to the match (all when none) */
            int64_t read = rows[i].t->seq > 0 ? nlines - rows[i].t->seq + 1 : nlines;
            double per = rows[i].t->seconds / (double)read;
            printf("%-16s %10.4f %8lld %10.2f %13.1fx\n", rows[i].name, rows[i].t->seconds,
                   (long long)read, 1e6 * per, per_verify / per);
        }
        printf("%-16s %10.4f %8lld %10.2f %14s\n", "verify", t_verify, (long long)nlines,
               1e6 * per_verify, "1.0x");
        printf("RESULT audit_find_none_us_per_line=%.3f verify_us_per_line=%.3f\n",
               1e6 * none.seconds / (double)nlines, 1e6 * per_verify);
    }
cleanup:
    sl_audit_close(&a);
    if (log[0]) {
        unlink(log);
        unlink(head);
        unlink(lock);
    }
    if (dir[0])
        rmdir(dir);
    if (st != SL_OK) {
        fprintf(stderr, "bench_audit: %s\n", sl_error_message());
        return 1;
    }
    return 0;
}
