/*
 * sl_enclave_probe: loads a policy and prints the enclave check's decision.
 *
 * The Slurm tests run it where `sluice run` would run (inside enclave,
 * general and emergency jobs, and outside Slurm with faked variables) to
 * check sl_enclave_check against a real controller without needing keys or
 * cohorts. Called through a link named `sluice` it also passes
 * job_submit.lua's test for a sluice job, so it can stand in for
 * `sluice run` on the enclave partitions.
 *
 * usage: sl_enclave_probe [run] --policy FILE [ignored...]
 * Prints "ALLOW job=J partition=P node=N user=U slurm=0|1" and exits 0, or
 * "DENY <reason>" and exits 3; 2 for bad usage or an unreadable policy.
 */
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine/config.h"
#include "engine/enclave.h"

int main(int argc, char **argv)
{
    const char *policy_path = NULL;
    struct sl_policy *policy = NULL;
    struct sl_enclave_info info;
    const struct passwd *pw = getpwuid(getuid());
    sl_status st;
    int code;

    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--policy") == 0 && i + 1 < argc)
            policy_path = argv[++i];
    if (policy_path == NULL) {
        fprintf(stderr, "usage: sl_enclave_probe [run] --policy FILE\n");
        return 2;
    }
    st = sl_policy_load(policy_path, &policy);
    if (st != SL_OK) {
        fprintf(stderr, "sl_enclave_probe: %s\n", sl_error_message());
        return 2;
    }
    st = sl_enclave_check(policy, pw ? pw->pw_name : NULL, &info);
    if (st == SL_OK) {
        printf("ALLOW job=%s partition=%s node=%s user=%s slurm=%d\n", info.job_id,
               info.partition, info.node, info.user, info.in_slurm ? 1 : 0);
        code = 0;
    } else {
        printf("DENY %s\n", sl_error_message());
        code = st == SL_ERR_DENIED ? 3 : 1;
    }
    sl_policy_destroy(&policy);
    return code;
}
