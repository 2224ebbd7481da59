/*
 * enclave.h: may this process unwrap a key here? The enclave check.
 *
 * The policy names the enclave: Slurm partitions and, optionally, node
 * names. A process inside a Slurm job proves where it runs by asking Slurm,
 * never by reading its own environment (SLURM_JOB_PARTITION and friends are
 * whatever the caller set). Outside Slurm a run is allowed only when the
 * policy allows local runs (demo, tests).
 */
#ifndef SL_ENGINE_ENCLAVE_H
#define SL_ENGINE_ENCLAVE_H

#include <stdbool.h>

#include "engine/config.h"
#include "engine/core/status.h"

/* Where the check found this process. Strings are NUL-terminated (and cut to
 * fit, which only affects what is reported, never the decision). */
struct sl_enclave_info {
    bool in_slurm;       /* false: a local run the policy allows */
    char job_id[32];     /* the Slurm job id ("" outside Slurm) */
    char partition[64];  /* the job's partition, as the controller reports it */
    char node[256];      /* the Slurm node name of this host */
    char user[64];       /* the job's owner (outside Slurm: the caller's user) */
};

/*
 * Decides whether this process may unwrap a key under `policy`.
 *
 * Outside Slurm (SLURM_JOB_ID unset or empty): SL_OK only if
 * policy->allow_local. A local run must therefore not carry a SLURM_JOB_ID.
 *
 * Inside Slurm (SLURM_JOB_ID set), through libslurm:
 *   1. the Slurm configuration is SLURM_CONF, else /etc/slurm/slurm.conf,
 *      else the configless cache /run/slurm/conf/slurm.conf; it must be a
 *      regular file owned by root and not writable by group or others (so a
 *      user cannot point sluice at a controller of their own);
 *   2. the local slurmd must place this process (by pid) in a job, and that
 *      job must be SLURM_JOB_ID (or its heterogeneous-job leader);
 *   3. the controller must report that job RUNNING, owned by the calling
 *      uid (and by `user`, when given), with this host in its node list;
 *   4. its partition must be one of policy->enclave_partitions or the
 *      policy's emergency partition (then the owner must be an emergency
 *      user), and, when the policy lists enclave nodes (names or host lists
 *      such as node[01-04]), this node must be one of them.
 *
 * The Slurm queries run in a short-lived child process, so that libslurm
 * (which ends the process on a broken configuration, and retries an
 * unreachable controller for about MessageTimeout plus a few seconds) can
 * neither end nor stall the caller: the child gets SL_ENCLAVE_TIMEOUT_S
 * seconds. With no Slurm configuration at all the refusal is immediate; with
 * no slurmd answering on this host it takes milliseconds. Call it before
 * any key or plaintext is in memory (the child is a copy of the process).
 *
 * Not collective: each rank checks its own node. `policy` and `user` are
 * borrowed (`user` may be NULL). `out` is written on SL_OK, zeroed
 * otherwise. Returns SL_ERR_DENIED with a message giving the reason (no
 * secrets: job id, partition, node and user names only), SL_ERR_ARG for
 * NULL arguments, SL_ERR_IO when the child cannot be started.
 */
sl_status sl_enclave_check(const struct sl_policy *policy, const char *user,
                           struct sl_enclave_info *out);

/* Seconds the Slurm queries may take before the check refuses. */
#define SL_ENCLAVE_TIMEOUT_S 30

#endif
