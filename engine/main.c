/*
 * main.c: the sluice command line. Dispatches to the subcommands in cli.h,
 * run.h and submit.h; prints help and the build configuration.
 */
#include <hdf5.h>
#include <jansson.h>
#include <libfyaml.h>
#include <mpi.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "engine/cli.h"
#include "engine/core/log.h"
#include "engine/job.h"
#include "engine/run.h"
#include "engine/submit.h"

static const char *usage_text =
    "usage: sluice [-v|-q] COMMAND [ARGS]\n"
    "\n"
    "Secure analytics on encrypted patient cohorts: researchers use the data,\n"
    "never see it; only outputs that pass the release gate leave.\n"
    "\n"
    "Operators:\n"
    "  keygen --out FILE            create a centre key (mode 0600)\n"
    "  ingest --key K --in CSV --out COHORT.h5 [--schema S.yaml]\n"
    "                               encrypt a CSV export into a cohort\n"
    "  inspect COHORT.h5 [--key K]  show metadata; with a key, verify every chunk\n"
    "  policy check POLICY.yaml     validate a policy and show the rules in force\n"
    "  audit verify LOG --key K     check the audit log for tampering\n"
    "  ledger adopt [--dry-run]     take format-1 release ledgers into the current format\n"
    "  ledger budget                privacy budget spent and left per cohort and project\n"
    "  ledger list                  what each cohort and project has released\n"
    "  review list|show|approve|reject JOB/OUTPUT\n"
    "                               vote on outputs held for review\n"
    "Researchers:\n"
    "  submit JOB.yaml [--dry-run]  write and submit a Slurm batch script\n"
    "  run --policy P JOB.yaml      run a job (under mpirun or srun)\n"
    "Everyone:\n"
    "  version                      build configuration and library versions\n"
    "  help                         this text\n"
    "\n"
    "Options before COMMAND: -v more log output, -q errors only.\n"
    "Each command has --help. Exit codes: 0 ok, 1 failure, 2 bad usage or input,\n"
    "3 refused by policy, 4 authentication or integrity failure.\n";

static int cmd_version(void)
{
    unsigned maj = 0, min = 0, rel = 0;
    char mpi[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    char *nl;
    const struct sl_job_type *const *types = sl_job_types();

    H5get_libversion(&maj, &min, &rel);
    MPI_Get_library_version(mpi, &len);
    if ((nl = strchr(mpi, '\n')) != NULL)
        *nl = '\0';
    if ((nl = strchr(mpi, ',')) != NULL)
        *nl = '\0';
    printf("sluice %s (%s build%s)\n", SL_VERSION, SL_BUILD_TYPE,
           SL_SANITIZED ? ", ASan+UBSan" : "");
    printf("  backends:  %s\n", SL_CUDA_BUILT ? "gpu (CUDA), cpu" : "cpu (no CUDA at build time)");
    printf("  analyses: ");
    for (; *types; types++)
        printf(" %s", (*types)->name);
    printf("\n  OpenSSL:   %s\n", OpenSSL_version(OPENSSL_VERSION));
    printf("  HDF5:      %u.%u.%u\n", maj, min, rel);
    printf("  MPI:       %s\n", mpi);
    printf("  libfyaml:  %s\n", fy_library_version());
    printf("  jansson:   %s\n", jansson_version_str());
    return 0;
}

int main(int argc, char **argv)
{
    int i = 1;
    const char *cmd;

    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-v") == 0)
            sl_log_set_level(SL_LOG_DEBUG);
        else if (strcmp(argv[i], "-q") == 0)
            sl_log_set_level(SL_LOG_ERROR);
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            return cmd_version();
        } else {
            fprintf(stderr, "sluice: unknown option '%s'\n%s", argv[i], usage_text);
            return 2;
        }
    }
    if (i >= argc) {
        fputs(usage_text, stderr);
        return 2;
    }
    cmd = argv[i];
    argc -= i;
    argv += i;
    if (strcmp(cmd, "run") == 0)
        return sl_cmd_run(argc, argv);
    if (strcmp(cmd, "keygen") == 0)
        return sl_cmd_keygen(argc, argv);
    if (strcmp(cmd, "ingest") == 0)
        return sl_cmd_ingest(argc, argv);
    if (strcmp(cmd, "inspect") == 0)
        return sl_cmd_inspect(argc, argv);
    if (strcmp(cmd, "audit") == 0)
        return sl_cmd_audit(argc, argv);
    if (strcmp(cmd, "ledger") == 0)
        return sl_cmd_ledger(argc, argv);
    if (strcmp(cmd, "policy") == 0)
        return sl_cmd_policy(argc, argv);
    if (strcmp(cmd, "review") == 0)
        return sl_cmd_review(argc, argv);
    if (strcmp(cmd, "submit") == 0)
        return sl_cmd_submit(argc, argv);
    if (strcmp(cmd, "version") == 0)
        return cmd_version();
    if (strcmp(cmd, "help") == 0) {
        fputs(usage_text, stdout);
        return 0;
    }
    fprintf(stderr, "sluice: unknown command '%s'\n%s", cmd, usage_text);
    return 2;
}
