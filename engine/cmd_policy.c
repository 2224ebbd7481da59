/*
 * cmd_policy.c: `sluice policy check`, validating a policy file and showing
 * the rules it puts in force.
 */
#include <stdio.h>
#include <string.h>

#include "engine/cli.h"
#include "engine/config.h"
#include "engine/dp.h"
#include "engine/run.h"

static const char *usage_text =
    "usage: sluice policy check POLICY.yaml\n"
    "\n"
    "Parses the policy, reports the first error with file:line:column, and\n"
    "prints the enclave, cohort grants, paths and disclosure rules in force.\n";

static void print_list(const char *label, char **items, int n)
{
    printf("%-22s", label);
    if (n == 0)
        printf(" (none)");
    for (int i = 0; i < n; i++)
        printf(" %s", items[i]);
    printf("\n");
}

int sl_cmd_policy(int argc, char **argv)
{
    struct sl_policy *p = NULL;
    sl_status st;
    const struct sl_rules *r;

    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (argc != 3 || strcmp(argv[1], "check") != 0) {
        fprintf(stderr, "sluice policy: expected 'check POLICY.yaml'\n%s", usage_text);
        return 2;
    }
    st = sl_policy_load(argv[2], &p);
    if (st != SL_OK) {
        fprintf(stderr, "sluice policy: %s\n", sl_error_message());
        return sl_exit_code(st);
    }
    r = &p->rules;
    printf("policy %s is valid\n", p->path);
    printf("%-22s %s\n", "key file", p->key_file ? p->key_file : "(none: pass --key)");
    printf("%-22s %s\n", "local runs", p->allow_local ? "allowed" : "refused");
    print_list("enclave partitions", p->enclave_partitions, p->nenclave_partitions);
    print_list("enclave nodes", p->enclave_nodes, p->nenclave_nodes);
    for (int i = 0; i < p->ncohorts; i++) {
        printf("%-22s %s:", "cohort", p->cohorts[i].path);
        for (int u = 0; u < p->cohorts[i].nusers; u++)
            printf(" %s", p->cohorts[i].users[u]);
        printf("\n");
    }
    printf("%-22s %s\n", "released to", p->released_dir);
    printf("%-22s %s\n", "held in", p->held_dir);
    printf("%-22s %s\n", "audit log", p->audit_log);
    printf("%-22s %s\n", "audit witness",
           p->audit_witness ? p->audit_witness : "none (a rolled-back log goes unseen)");
    printf("%-22s %d\n", "reviewers required", p->reviewers_required);
    printf("%-22s %s\n", "profile", p->profile ? p->profile : "acro");
    printf("%-22s %lld (zeros %s)\n", "min safe count", (long long)r->min_safe_count,
           r->zero_is_unsafe ? "unsafe" : "allowed");
    printf("%-22s n=%d k=%lld/%lld\n", "dominance", r->nk_n, (long long)r->nk_k.num,
           (long long)r->nk_k.den);
    printf("%-22s %lld/%lld\n", "p-ratio", (long long)r->p_ratio.num, (long long)r->p_ratio.den);
    printf("%-22s %lld\n", "min residual dof", (long long)r->min_dof);
    if (p->privacy_budget > 0) {
        char rho[48];
        sl_dp_units_format(p->privacy_budget, rho, sizeof rho);
        printf("%-22s rho %s per cohort and project (zCDP; reported as epsilon at delta %g)\n",
               "privacy budget", rho, p->privacy_delta);
    } else {
        printf("%-22s none (noisy outputs are refused)\n", "privacy budget");
    }
    sl_policy_destroy(&p);
    return 0;
}
