/*
 * bench_synth.h: the benchmarks that need data run sluice-synth, built into
 * the same bin directory, with their arguments. Header-only; POSIX (the
 * standalone kernels build does not use it).
 */
#ifndef SL_PERF_BENCH_SYNTH_H
#define SL_PERF_BENCH_SYNTH_H

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/core/status.h"

extern char **environ;

/* Runs sluice-synth (beside this executable) with args (NULL-terminated,
 * args[0] is replaced by the program's path) and waits for it; SL_ERR_IO
 * when it cannot run or fails. */
static inline sl_status sl_bench_synth(char **args)
{
    sl_status st = SL_OK;
    char exe[PATH_MAX], bin[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    pid_t pid;
    int status = 0, rc;

    SL_CHECK(n > 0, SL_ERR_IO, "cannot find this executable: %s", strerror(errno));
    exe[n] = '\0';
    snprintf(bin, sizeof bin, "%s/sluice-synth", dirname(exe));
    args[0] = bin;
    rc = posix_spawn(&pid, bin, NULL, NULL, args, environ);
    SL_CHECK(rc == 0, SL_ERR_IO, "cannot run %s: %s", bin, strerror(rc));
    SL_CHECK(waitpid(pid, &status, 0) == pid, SL_ERR_IO, "waitpid failed: %s", strerror(errno));
    SL_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, SL_ERR_IO, "%s failed", bin);
cleanup:
    return st;
}

#endif
