/*
 * submit.c: `sluice submit` (see submit.h).
 *
 * The script is built in memory and given to sbatch on stdin, so nothing but
 * the job's own paths and resource requests reaches Slurm, and sbatch's
 * messages and exit code reach the researcher unchanged.
 */
#define _XOPEN_SOURCE 700 /* realpath */

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/core/alloc.h"
#include "engine/core/status.h"
#include "engine/prepare.h"
#include "engine/submit.h"
#include "io/cohort.h"

#define SL_DEFAULT_POLICY "/etc/sluice/policy.yaml"

static const char *usage_text =
    "usage: sluice submit JOB.yaml [--dry-run] [--emergency] [--policy FILE]\n"
    "\n"
    "Writes a Slurm batch script for the job (partition and default time from\n"
    "the policy; ranks, threads per rank, GPUs, time and memory from the job's\n"
    "resources) and submits it with sbatch, printing the Slurm job id. The job\n"
    "runs as `srun --mpi=pmix sluice run --policy POLICY JOB.yaml` (with\n"
    "threads: N, as N CPUs per task and OMP_NUM_THREADS=N); its output and\n"
    "error files go to logs/ beside the job file. Before that, as the run will:\n"
    "the policy must grant the cohort to you, and the job's filter and analyses\n"
    "are checked against the cohort's metadata (no key needed) when this node\n"
    "can read the cohort.\n"
    "\n"
    "  --dry-run       print the script instead of submitting it\n"
    "  --emergency     use the policy's emergency partition (listed users only)\n"
    "  --policy FILE   the operator's policy (default: $SLUICE_POLICY, else\n"
    "                  " SL_DEFAULT_POLICY ")\n"
    "  -h, --help      this text\n"
    "\n"
    "Exit codes follow sbatch: 0 submitted (or printed), otherwise sbatch's exit\n"
    "code, or 1 when the job, the policy or the request is refused before sbatch.\n";

/* ---- a growing string ---- */

struct strbuf {
    char *data;
    size_t len;
    size_t cap;
    bool failed;
};

static void sb_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct strbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (b->failed)
        return;
    va_start(ap, fmt);
    n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if (b->data == NULL || b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        char *grown;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        grown = sl_realloc(b->data, cap);
        if (grown == NULL) {
            b->failed = true;
            return;
        }
        b->data = grown;
        b->cap = cap;
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

/* Appends `s` in single quotes for the shell. */
static void sb_quoted(struct strbuf *b, const char *s)
{
    sb_printf(b, "'");
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            sb_printf(b, "'\\''");
        else
            sb_printf(b, "%c", *p);
    }
    sb_printf(b, "'");
}

/* ---- what may go into the script ---- */

/* A value Slurm reads from an #SBATCH line as one word: no whitespace,
 * quotes, backslashes, '%' (Slurm's filename patterns) or control bytes. */
static bool sbatch_word_ok(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == 0x7f || strchr("'\"\\%`$", *p) != NULL)
            return false;
    return true;
}

/* A path for the srun line (quoted there): no control bytes. */
static bool shell_path_ok(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < ' ' || *p == 0x7f)
            return false;
    return s[0] == '/';
}

static bool time_ok(const char *s)
{
    return s[0] != '\0' && strspn(s, "0123456789:-") == strlen(s);
}

/* Digits with an optional K, M, G or T suffix, as --mem takes. */
static bool memory_ok(const char *s)
{
    size_t d = strspn(s, "0123456789");
    return d > 0 && (s[d] == '\0' || (strchr("KMGTkmgt", s[d]) != NULL && s[d + 1] == '\0'));
}

static bool name_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
}

static bool listed(char *const *items, int n, const char *value)
{
    for (int i = 0; i < n; i++)
        if (value != NULL && strcmp(items[i], value) == 0)
            return true;
    return false;
}

sl_status sl_submit_script(const struct sl_policy *policy, const struct sl_job *job,
                           const struct sl_submit_opts *opts, char **out)
{
    sl_status st = SL_OK;
    struct strbuf b = {NULL, 0, 0, false};
    char policy_abs[PATH_MAX];
    char job_abs[PATH_MAX];
    char name[65];
    char hex[65];
    const char *partition;
    const char *time_limit;
    size_t n = 0;

    SL_CHECK(policy != NULL && job != NULL && opts != NULL && out != NULL, SL_ERR_ARG,
             "sl_submit_script: NULL argument");
    *out = NULL;
    SL_CHECK(realpath(policy->path, policy_abs) != NULL, SL_ERR_IO, "policy %s: %s",
             policy->path, strerror(errno));
    SL_CHECK(realpath(job->path, job_abs) != NULL, SL_ERR_IO, "job file %s: %s", job->path,
             strerror(errno));
    if (opts->emergency) {
        SL_CHECK(policy->emergency_partition != NULL, SL_ERR_DENIED,
                 "--emergency refused: policy %s names no emergency partition", policy_abs);
        SL_CHECK(listed(policy->emergency_users, policy->nemergency_users, opts->user),
                 SL_ERR_DENIED,
                 "--emergency refused: user '%s' is not an emergency user of policy %s; ask "
                 "the operators, or submit without --emergency",
                 opts->user ? opts->user : "(unknown)", policy_abs);
        partition = policy->emergency_partition;
    } else {
        partition = policy->default_partition ? policy->default_partition
                                              : policy->enclave_partitions[0];
    }
    time_limit = job->time_limit ? job->time_limit : policy->default_time;

    SL_CHECK(sbatch_word_ok(partition), SL_ERR_ARG,
             "partition name '%.64s' cannot go into a batch script", partition);
    SL_CHECK(time_limit == NULL || time_ok(time_limit), SL_ERR_ARG,
             "time limit '%.64s' is not a Slurm time such as 01:00:00", time_limit);
    SL_CHECK(job->memory == NULL || memory_ok(job->memory), SL_ERR_ARG,
             "memory '%.64s' is not a Slurm size such as 4G", job->memory);
    SL_CHECK(job->ranks >= 1 && job->gpus >= 0, SL_ERR_ARG,
             "job %s asks for %d ranks and %d GPUs", job_abs, job->ranks, job->gpus);
    SL_CHECK(opts->logs_dir != NULL && opts->logs_dir[0] == '/' && sbatch_word_ok(opts->logs_dir),
             SL_ERR_ARG, "logs directory '%.200s' cannot go into a batch script: it must be an "
             "absolute path without spaces, quotes or '%%'", opts->logs_dir ? opts->logs_dir : "");
    SL_CHECK(opts->sluice_path != NULL && shell_path_ok(opts->sluice_path) &&
                 shell_path_ok(policy_abs) && shell_path_ok(job_abs),
             SL_ERR_ARG, "the sluice, policy or job path contains control characters");

    for (const char *p = job->name ? job->name : "job"; *p && n + 1 < sizeof name; p++)
        name[n++] = name_char_ok(*p) ? *p : '_';
    name[n] = '\0';
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", job->sha256[i]);

    sb_printf(&b, "#!/bin/bash\n");
    sb_printf(&b, "#\n# Written by `sluice submit` for job '%s'.\n", name);
    sb_printf(&b, "#   job file: %s (sha256 %s)\n", job_abs, hex);
    sb_printf(&b, "#   policy:   %s\n#\n", policy_abs);
    sb_printf(&b, "#SBATCH --job-name=sluice-%s\n", name);
    sb_printf(&b, "#SBATCH --partition=%s\n", partition);
    sb_printf(&b, "#SBATCH --ntasks=%d\n", job->ranks);
    if (job->threads > 1)
        sb_printf(&b, "#SBATCH --cpus-per-task=%d\n", job->threads);
    if (time_limit != NULL)
        sb_printf(&b, "#SBATCH --time=%s\n", time_limit);
    if (job->memory != NULL)
        sb_printf(&b, "#SBATCH --mem=%s\n", job->memory);
    if (job->gpus > 0)
        sb_printf(&b, "#SBATCH --gres=gpu:%d\n", job->gpus);
    sb_printf(&b, "#SBATCH --output=%s/%%x-%%j.out\n", opts->logs_dir);
    sb_printf(&b, "#SBATCH --error=%s/%%x-%%j.err\n", opts->logs_dir);
    sb_printf(&b, "\nset -eu\n");
    /* srun does not take --cpus-per-task from the allocation (Slurm 22.05
     * on); the kernels' OpenMP threads follow OMP_NUM_THREADS */
    if (job->threads > 1)
        sb_printf(&b, "export OMP_NUM_THREADS=%d\nsrun --cpus-per-task=%d --mpi=pmix ",
                  job->threads, job->threads);
    else
        sb_printf(&b, "srun --mpi=pmix ");
    sb_quoted(&b, opts->sluice_path);
    sb_printf(&b, " run --policy ");
    sb_quoted(&b, policy_abs);
    sb_printf(&b, " ");
    sb_quoted(&b, job_abs);
    sb_printf(&b, "\n");
    SL_CHECK(!b.failed, SL_ERR_NOMEM, "out of memory writing the batch script");
    *out = b.data;
    b.data = NULL;
cleanup:
    sl_free(b.data);
    return st;
}

/* ---- running sbatch ---- */

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Runs `sbatch --parsable` with `script` on stdin; its stdout (the job id)
 * goes to `idbuf`. Returns sbatch's exit code (128 + signal when killed). */
static int run_sbatch(const char *script, char *idbuf, size_t idsize)
{
    int in[2] = {-1, -1};
    int outp[2] = {-1, -1};
    pid_t child = -1;
    int ws = 0;
    int code = 1;
    size_t got = 0;
    struct sigaction ign, old;
    bool sig_set = false;

    idbuf[0] = '\0';
    if (pipe(in) != 0 || pipe(outp) != 0) {
        fprintf(stderr, "sluice submit: cannot create pipes for sbatch: %s\n", strerror(errno));
        goto cleanup;
    }
    child = fork();
    if (child < 0) {
        fprintf(stderr, "sluice submit: cannot start sbatch: %s\n", strerror(errno));
        goto cleanup;
    }
    if (child == 0) {
        if (dup2(in[0], STDIN_FILENO) < 0 || dup2(outp[1], STDOUT_FILENO) < 0)
            _exit(1);
        close(in[0]);
        close(in[1]);
        close(outp[0]);
        close(outp[1]);
        execlp("sbatch", "sbatch", "--parsable", (char *)NULL);
        fprintf(stderr, "sluice submit: cannot run sbatch: %s\n", strerror(errno));
        _exit(1);
    }
    close_fd(&in[0]);
    close_fd(&outp[1]);

    /* sbatch may exit before reading its input: do not die of SIGPIPE. */
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sig_set = sigaction(SIGPIPE, &ign, &old) == 0;
    for (size_t off = 0, len = strlen(script); off < len;) {
        ssize_t w = write(in[1], script + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close_fd(&in[1]);
    for (;;) {
        ssize_t r = read(outp[0], idbuf + got, idsize - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got == idsize - 1) {
            char sink[256];
            while (read(outp[0], sink, sizeof sink) > 0)
                continue;
            break;
        }
    }
    idbuf[got] = '\0';
    while (waitpid(child, &ws, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "sluice submit: lost track of sbatch: %s\n", strerror(errno));
            goto cleanup;
        }
    }
    code = WIFEXITED(ws) ? WEXITSTATUS(ws) : WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : 1;
cleanup:
    if (sig_set)
        sigaction(SIGPIPE, &old, NULL);
    close_fd(&in[0]);
    close_fd(&in[1]);
    close_fd(&outp[0]);
    close_fd(&outp[1]);
    return code;
}

/* ---- the command ---- */

struct submit_args {
    const char *job;
    const char *policy;
    bool dry_run;
    bool emergency;
    bool help;
};

static sl_status parse_args(int argc, char **argv, struct submit_args *a)
{
    sl_status st = SL_OK;
    static const struct option longs[] = {{"dry-run", no_argument, NULL, 'n'},
                                          {"emergency", no_argument, NULL, 'e'},
                                          {"policy", required_argument, NULL, 'p'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'n': a->dry_run = true; break;
        case 'e': a->emergency = true; break;
        case 'p': a->policy = optarg; break;
        case 'h': a->help = true; break;
        default:
            SL_FAIL(SL_ERR_ARG, "unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    if (a->help)
        goto cleanup;
    SL_CHECK(optind == argc - 1, SL_ERR_ARG, "expected one job file, got %d arguments",
             argc - optind);
    a->job = argv[optind];
    if (a->policy == NULL)
        a->policy = getenv("SLUICE_POLICY");
    if (a->policy == NULL || a->policy[0] == '\0')
        a->policy = SL_DEFAULT_POLICY;
cleanup:
    return st;
}

/* logs/ beside the job file, absolute, into `dir`. */
static sl_status logs_dir_of(const char *job_path, char *dir, size_t size)
{
    sl_status st = SL_OK;
    char abs[PATH_MAX];
    char *slash;
    SL_CHECK(realpath(job_path, abs) != NULL, SL_ERR_IO, "job file %s: %s", job_path,
             strerror(errno));
    slash = strrchr(abs, '/');
    SL_ASSERT(slash != NULL);
    *slash = '\0';
    SL_CHECK((size_t)snprintf(dir, size, "%s/logs", abs) < size, SL_ERR_ARG,
             "job file path %s is too long", job_path);
cleanup:
    return st;
}

/* What `sluice run` will check first, so that a refusal or a typo fails
 * here rather than after the wait in the queue: the policy grants the
 * cohort to `user`, and the job's filter and analyses fit the cohort's
 * metadata (no key, no row). A cohort this node cannot read (it may live on
 * enclave storage only) leaves both to the run, with a note. */
static sl_status check_job(const struct sl_job *job, const struct sl_policy *policy,
                           const char *user)
{
    sl_status st = SL_OK;
    struct sl_cohort *c = NULL;

    st = sl_cohort_open(job->cohort, &c);
    if (st == SL_ERR_IO) {
        fprintf(stderr, "sluice submit: note: %s; the analyses are checked when the job runs\n",
                sl_error_message());
        st = SL_OK;
        goto cleanup;
    }
    SL_CALL(st);
    SL_CALL(sl_job_authorised(job, policy, user));
    SL_CALL(sl_job_check(job, policy, c));
cleanup:
    sl_cohort_close(&c);
    return st;
}

int sl_cmd_submit(int argc, char **argv)
{
    sl_status st = SL_OK;
    struct submit_args a;
    struct sl_policy *policy = NULL;
    struct sl_job *job = NULL;
    char *script = NULL;
    char exe[PATH_MAX];
    char logs[PATH_MAX];
    char idbuf[256];
    const struct passwd *pw = getpwuid(getuid());
    struct sl_submit_opts opts;
    ssize_t n;
    int code = 1;

    memset(&a, 0, sizeof a);
    st = parse_args(argc, argv, &a);
    if (a.help) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (st != SL_OK) {
        fprintf(stderr, "sluice submit: %s\n%s", sl_error_message(), usage_text);
        return 1;
    }
    SL_CALL(sl_policy_load(a.policy, &policy));
    SL_CALL(sl_job_load(a.job, policy, &job));
    SL_CALL(check_job(job, policy, pw ? pw->pw_name : NULL));
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    SL_CHECK(n > 0, SL_ERR_IO, "cannot find the running sluice binary: %s", strerror(errno));
    exe[n] = '\0';
    SL_CALL(logs_dir_of(a.job, logs, sizeof logs));
    opts.emergency = a.emergency;
    opts.user = pw ? pw->pw_name : NULL;
    opts.sluice_path = exe;
    opts.logs_dir = logs;
    SL_CALL(sl_submit_script(policy, job, &opts, &script));
    if (a.dry_run) {
        fputs(script, stdout);
        code = 0;
        goto cleanup;
    }
    SL_CHECK(mkdir(logs, 0750) == 0 || errno == EEXIST, SL_ERR_IO,
             "cannot create the logs directory %s: %s", logs, strerror(errno));
    fflush(stdout);
    code = run_sbatch(script, idbuf, sizeof idbuf);
    if (code == 0) {
        idbuf[strcspn(idbuf, ";\n")] = '\0';
        if (idbuf[0] == '\0' || strspn(idbuf, "0123456789") != strlen(idbuf)) {
            fprintf(stderr, "sluice submit: sbatch succeeded but printed no job id ('%.64s')\n",
                    idbuf);
            code = 1;
        } else {
            printf("%s\n", idbuf);
        }
    } else if (idbuf[0] != '\0') {
        fputs(idbuf, stdout);
    }
cleanup:
    if (st != SL_OK) {
        fprintf(stderr, "sluice submit: %s\n", sl_error_message());
        code = 1;
    }
    sl_free(script);
    sl_job_destroy(&job);
    sl_policy_destroy(&policy);
    return code;
}
