/*
 * enclave.c: the enclave check (see enclave.h).
 *
 * Trust comes from Slurm's daemons, not from the environment: the local
 * slurmd says which job this process belongs to (by pid, through its
 * process tracking), and the controller says where that job runs, for whom
 * and in which state. SLURM_JOB_ID is only the claim being checked.
 *
 * libslurm keeps global state, may end the process (fatal) on a broken
 * configuration and retries an unreachable controller for many seconds, so
 * the queries run in a forked child that reports one fixed-size verdict
 * through a pipe; the parent waits at most SL_ENCLAVE_TIMEOUT_S seconds and
 * never loads libslurm's configuration itself.
 */
#define _XOPEN_SOURCE 700 /* realpath */

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <slurm/slurm.h>
#include <slurm/slurm_errno.h>

#include "engine/enclave.h"

/* What the child reports. */
struct verdict {
    int status;                 /* sl_status of the query */
    char reason[512];           /* the refusal, when status != SL_OK */
    struct sl_enclave_info info;
};

/* Configuration paths tried, in order, when SLURM_CONF is unset. */
static const char *const default_confs[] = {"/etc/slurm/slurm.conf", "/run/slurm/conf/slurm.conf",
                                            NULL};

/* Copies `src` into a fixed field, cutting it to fit. */
static void copy_field(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* "a, b, c" of a string list, cut to fit `size`. */
static void join_list(char *dst, size_t size, char *const *items, int n)
{
    size_t used = 0;
    dst[0] = '\0';
    for (int i = 0; i < n && used + 1 < size; i++) {
        int w = snprintf(dst + used, size - used, "%s%s", i ? ", " : "", items[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static bool list_has(char *const *items, int n, const char *value)
{
    for (int i = 0; i < n; i++)
        if (strcmp(items[i], value) == 0)
            return true;
    return false;
}

static const char *job_state_name(uint32_t state)
{
    switch (state & JOB_STATE_BASE) {
    case JOB_PENDING: return "PENDING";
    case JOB_RUNNING: return "RUNNING";
    case JOB_SUSPENDED: return "SUSPENDED";
    case JOB_COMPLETE: return "COMPLETED";
    case JOB_CANCELLED: return "CANCELLED";
    case JOB_FAILED: return "FAILED";
    case JOB_TIMEOUT: return "TIMEOUT";
    case JOB_NODE_FAIL: return "NODE_FAIL";
    case JOB_PREEMPTED: return "PREEMPTED";
    case JOB_BOOT_FAIL: return "BOOT_FAIL";
    case JOB_DEADLINE: return "DEADLINE";
    case JOB_OOM: return "OUT_OF_MEMORY";
    default: return "UNKNOWN";
    }
}

/* Parses SLURM_JOB_ID: 1 to 10 digits, 1 <= id <= UINT32_MAX. */
static sl_status parse_job_id(const char *text, uint32_t *out)
{
    sl_status st = SL_OK;
    uint64_t v = 0;
    size_t n = strlen(text);
    SL_CHECK(n >= 1 && n <= 10 && strspn(text, "0123456789") == n, SL_ERR_DENIED,
             "SLURM_JOB_ID '%.32s' is not a Slurm job id; refusing to unwrap keys", text);
    for (const char *c = text; *c; c++)
        v = v * 10 + (uint64_t)(*c - '0');
    SL_CHECK(v >= 1 && v <= UINT32_MAX, SL_ERR_DENIED,
             "SLURM_JOB_ID '%.32s' is not a Slurm job id; refusing to unwrap keys", text);
    *out = (uint32_t)v;
cleanup:
    return st;
}

/* Finds the Slurm configuration and checks that only root controls it. */
static sl_status find_conf(uint32_t job, char *path, size_t size)
{
    sl_status st = SL_OK;
    const char *env = getenv("SLURM_CONF");
    const char *cand = NULL;
    struct stat sb;
    if (env != NULL && env[0] != '\0') {
        cand = env;
    } else {
        for (int i = 0; default_confs[i] != NULL && cand == NULL; i++)
            if (access(default_confs[i], R_OK) == 0)
                cand = default_confs[i];
    }
    SL_CHECK(cand != NULL, SL_ERR_DENIED,
             "SLURM_JOB_ID is %u but there is no Slurm configuration to verify it with "
             "(SLURM_CONF is unset and neither %s nor %s exists); refusing to unwrap keys",
             job, default_confs[0], default_confs[1]);
    SL_CHECK(size >= PATH_MAX, SL_ERR_INTERNAL, "find_conf: buffer smaller than PATH_MAX");
    SL_CHECK(realpath(cand, path) != NULL, SL_ERR_DENIED,
             "Slurm configuration %.200s: %s; cannot verify job %u", cand, strerror(errno), job);
    SL_CHECK(stat(path, &sb) == 0 && S_ISREG(sb.st_mode), SL_ERR_DENIED,
             "Slurm configuration %.200s is not a regular file; cannot verify job %u", path, job);
    SL_CHECK(sb.st_uid == 0 && (sb.st_mode & (S_IWGRP | S_IWOTH)) == 0, SL_ERR_DENIED,
             "Slurm configuration %.200s is not owned by root or is writable by others "
             "(owner uid %u, mode %03o); a controller named there cannot vouch for job %u",
             path, (unsigned)sb.st_uid, (unsigned)(sb.st_mode & 0777), job);
cleanup:
    return st;
}

/* The Slurm node name of this host among the job's nodes `hl`, into node. */
static sl_status find_this_node(hostlist_t hl, uint32_t jid, const char *job_nodes, char *node,
                                size_t size)
{
    sl_status st = SL_OK;
    struct utsname un;
    char shortname[sizeof un.nodename];
    node_info_msg_t *nodes = NULL;
    const char *found = NULL;
    SL_CHECK(uname(&un) == 0, SL_ERR_DENIED, "cannot read this host's name: %s", strerror(errno));
    copy_field(shortname, sizeof shortname, un.nodename);
    shortname[strcspn(shortname, ".")] = '\0';
    if (slurm_hostlist_find(hl, shortname) >= 0) {
        found = shortname;
    } else if (slurm_hostlist_find(hl, un.nodename) >= 0) {
        found = un.nodename;
    } else if (slurm_load_node(0, &nodes, SHOW_ALL) == SLURM_SUCCESS) {
        /* Node names may differ from host names (NodeHostname=). */
        for (uint32_t i = 0; i < nodes->record_count && found == NULL; i++) {
            const node_info_t *n = &nodes->node_array[i];
            if (n->name == NULL || n->node_hostname == NULL)
                continue;
            if ((strcmp(n->node_hostname, un.nodename) == 0 ||
                 strcmp(n->node_hostname, shortname) == 0) &&
                slurm_hostlist_find(hl, n->name) >= 0)
                found = n->name;
        }
    }
    SL_CHECK(found != NULL, SL_ERR_DENIED,
             "this host (%.100s) is not one of the nodes of Slurm job %u (%.200s)", un.nodename,
             jid, job_nodes);
    copy_field(node, size, found);
cleanup:
    slurm_free_node_info_msg(nodes);
    return st;
}

/* True when `node` is in the policy's enclave node list (names or host lists). */
static bool node_listed(const struct sl_policy *p, const char *node)
{
    bool found = false;
    for (int i = 0; i < p->nenclave_nodes && !found; i++) {
        hostlist_t hl = slurm_hostlist_create(p->enclave_nodes[i]);
        if (hl == NULL)
            continue;
        found = slurm_hostlist_find(hl, node) >= 0;
        slurm_hostlist_destroy(hl);
    }
    return found;
}

/* The whole check against Slurm; runs in the child. */
static sl_status slurm_query(const struct sl_policy *p, const char *user, const char *conf,
                             uint32_t env_job, pid_t pid, struct sl_enclave_info *info)
{
    sl_status st = SL_OK;
    job_info_msg_t *jobs = NULL;
    hostlist_t hl = NULL;
    slurm_job_info_t *job = NULL;
    uint32_t jid = 0;
    const struct passwd *pw;
    char owner[64];
    char list[256];
    bool emergency;

    slurm_init(conf);
    SL_CHECK(slurm_pid2jobid(pid, &jid) == SLURM_SUCCESS, SL_ERR_DENIED,
             "the Slurm daemon on this node does not place this process in any job (%s); "
             "SLURM_JOB_ID=%u is not trusted on its own",
             slurm_strerror(slurm_get_errno()), env_job);
    SL_CHECK(slurm_load_job(&jobs, jid, SHOW_ALL) == SLURM_SUCCESS, SL_ERR_DENIED,
             "the Slurm controller cannot confirm job %u: %s", jid,
             slurm_strerror(slurm_get_errno()));
    for (uint32_t i = 0; i < jobs->record_count && job == NULL; i++)
        if (jobs->job_array[i].job_id == jid)
            job = &jobs->job_array[i];
    SL_CHECK(job != NULL, SL_ERR_DENIED, "the Slurm controller does not know job %u", jid);
    SL_CHECK(jid == env_job || (job->het_job_id != 0 && job->het_job_id == env_job),
             SL_ERR_DENIED, "SLURM_JOB_ID is %u but the Slurm daemon places this process in "
             "job %u", env_job, jid);
    SL_CHECK((job->job_state & JOB_STATE_BASE) == JOB_RUNNING, SL_ERR_DENIED,
             "Slurm job %u is not running (state %s)", jid, job_state_name(job->job_state));
    SL_CHECK(job->user_id == getuid(), SL_ERR_DENIED,
             "Slurm job %u belongs to uid %u, not to the calling uid %u", jid,
             (unsigned)job->user_id, (unsigned)getuid());
    pw = getpwuid(job->user_id);
    if (pw != NULL)
        copy_field(owner, sizeof owner, pw->pw_name);
    else
        snprintf(owner, sizeof owner, "%u", (unsigned)job->user_id);
    SL_CHECK(user == NULL || strcmp(user, owner) == 0, SL_ERR_DENIED,
             "Slurm job %u belongs to user '%s', not to '%.64s'", jid, owner, user);

    SL_CHECK(job->nodes != NULL && (hl = slurm_hostlist_create(job->nodes)) != NULL,
             SL_ERR_DENIED, "the Slurm controller reports no nodes for job %u", jid);
    SL_CALL(find_this_node(hl, jid, job->nodes, info->node, sizeof info->node));

    SL_CHECK(job->partition != NULL, SL_ERR_DENIED,
             "the Slurm controller reports no partition for job %u", jid);
    emergency = p->emergency_partition != NULL && strcmp(job->partition, p->emergency_partition) == 0;
    join_list(list, sizeof list, p->enclave_partitions, p->nenclave_partitions);
    SL_CHECK(emergency || list_has(p->enclave_partitions, p->nenclave_partitions, job->partition),
             SL_ERR_DENIED,
             "Slurm job %u runs in partition '%.64s', which is not in the enclave of policy "
             "%.200s (enclave partitions: %s%s%s)",
             jid, job->partition, p->path, list, p->emergency_partition ? "; emergency: " : "",
             p->emergency_partition ? p->emergency_partition : "");
    SL_CHECK(!emergency || list_has(p->emergency_users, p->nemergency_users, owner),
             SL_ERR_DENIED,
             "Slurm job %u runs in the emergency partition '%.64s' but user '%s' is not an "
             "emergency user of policy %.200s", jid, job->partition, owner, p->path);
    if (p->nenclave_nodes > 0) {
        join_list(list, sizeof list, p->enclave_nodes, p->nenclave_nodes);
        SL_CHECK(node_listed(p, info->node), SL_ERR_DENIED,
                 "node '%.100s' of Slurm job %u is not an enclave node of policy %.200s "
                 "(enclave nodes: %s)", info->node, jid, p->path, list);
    }
    info->in_slurm = true;
    snprintf(info->job_id, sizeof info->job_id, "%u", (unsigned)jid);
    copy_field(info->partition, sizeof info->partition, job->partition);
    copy_field(info->user, sizeof info->user, owner);
cleanup:
    if (hl != NULL)
        slurm_hostlist_destroy(hl);
    slurm_free_job_info_msg(jobs);
    return st;
}

static void write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        len -= (size_t)w;
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Reads up to `len` bytes until EOF or the deadline; returns bytes read, or
 * -1 when the deadline passed first. */
static ssize_t read_until(int fd, void *buf, size_t len, double deadline)
{
    size_t got = 0;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN, .revents = 0};
        double left = deadline - now_s();
        int r;
        ssize_t n;
        if (left <= 0)
            return -1;
        r = poll(&pfd, 1, (int)(left * 1000.0) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return (ssize_t)got;
        if (r == 0)
            return -1;
        n = read(fd, (char *)buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return (ssize_t)got;
        got += (size_t)n;
        if (got == len)
            return (ssize_t)got;
    }
}

/* Runs slurm_query in a child and collects its verdict. */
static sl_status query_in_child(const struct sl_policy *p, const char *user, const char *conf,
                                uint32_t env_job, struct verdict *v)
{
    sl_status st = SL_OK;
    int fds[2] = {-1, -1};
    pid_t self = getpid();
    pid_t child = -1;
    ssize_t got;
    int ws = 0;

    SL_CHECK(pipe(fds) == 0, SL_ERR_IO, "cannot create a pipe for the Slurm query: %s",
             strerror(errno));
    child = fork();
    SL_CHECK(child >= 0, SL_ERR_IO, "cannot start the Slurm query: %s", strerror(errno));
    if (child == 0) {
        close(fds[0]);
        memset(v, 0, sizeof *v);
        v->status = slurm_query(p, user, conf, env_job, self, &v->info);
        if (v->status != SL_OK)
            copy_field(v->reason, sizeof v->reason, sl_error_message());
        write_all(fds[1], v, sizeof *v);
        _exit(0);
    }
    close(fds[1]);
    fds[1] = -1;
    got = read_until(fds[0], v, sizeof *v, now_s() + SL_ENCLAVE_TIMEOUT_S);
    if (got < 0) {
        kill(child, SIGKILL);
        SL_FAIL(SL_ERR_DENIED,
                "the Slurm controller did not confirm job %u within %d s (configuration %.200s); "
                "refusing to unwrap keys", env_job, SL_ENCLAVE_TIMEOUT_S, conf);
    }
    if ((size_t)got != sizeof *v) {
        while (waitpid(child, &ws, 0) < 0 && errno == EINTR)
            continue;
        child = -1;
        SL_FAIL(SL_ERR_DENIED,
                "the Slurm client library stopped (exit status %d) while checking job %u with "
                "configuration %.200s; see its message above", WIFEXITED(ws) ? WEXITSTATUS(ws) : -1,
                env_job, conf);
    }
cleanup:
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    if (child > 0)
        while (waitpid(child, &ws, 0) < 0 && errno == EINTR)
            continue;
    return st;
}

sl_status sl_enclave_check(const struct sl_policy *policy, const char *user,
                           struct sl_enclave_info *out)
{
    sl_status st = SL_OK;
    const char *env;
    uint32_t env_job = 0;
    char conf[PATH_MAX];
    char list[256];
    struct verdict v;

    SL_CHECK(policy != NULL && out != NULL, SL_ERR_ARG, "sl_enclave_check: NULL argument");
    memset(out, 0, sizeof *out);
    memset(&v, 0, sizeof v);
    env = getenv("SLURM_JOB_ID");
    if (env == NULL || env[0] == '\0') {
        struct utsname un;
        const struct passwd *pw = user ? NULL : getpwuid(getuid());
        join_list(list, sizeof list, policy->enclave_partitions, policy->nenclave_partitions);
        SL_CHECK(policy->allow_local, SL_ERR_DENIED,
                 "not inside a Slurm job and policy %.200s does not allow local runs "
                 "(allow_local: false); submit the job to an enclave partition (%s)",
                 policy->path, list);
        v.info.in_slurm = false;
        if (uname(&un) == 0)
            copy_field(v.info.node, sizeof v.info.node, un.nodename);
        copy_field(v.info.user, sizeof v.info.user, user ? user : pw ? pw->pw_name : "");
        *out = v.info;
        goto cleanup;
    }
    SL_CALL(parse_job_id(env, &env_job));
    SL_CALL(find_conf(env_job, conf, sizeof conf));
    SL_CALL(query_in_child(policy, user, conf, env_job, &v));
    SL_CHECK(v.status == SL_OK, SL_ERR_DENIED, "%s", v.reason);
    v.info.job_id[sizeof v.info.job_id - 1] = '\0';
    v.info.partition[sizeof v.info.partition - 1] = '\0';
    v.info.node[sizeof v.info.node - 1] = '\0';
    v.info.user[sizeof v.info.user - 1] = '\0';
    *out = v.info;
cleanup:
    return st;
}
