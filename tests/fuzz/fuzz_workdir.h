/*
 * fuzz_workdir.h: one scratch directory per fuzz process, for the targets
 * whose APIs take paths (job, policy and schema files, CSV, the audit log,
 * the release ledger).
 *
 * fuzz_workdir() makes $TMPDIR/sl-fuzz-XXXXXX (TMPDIR defaults to /tmp) with
 * mkdtemp on its first call and removes it, with everything in it, when the
 * process exits normally (atexit). A crash leaves it behind on purpose: the
 * files there are what the target saw. fuzz_put writes one input to a path.
 * Include once, from the target's only source file, after defining
 * _XOPEN_SOURCE 700 (mkdtemp, nftw).
 */
#ifndef SL_TESTS_FUZZ_WORKDIR_H
#define SL_TESTS_FUZZ_WORKDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_workdir_path[4096];

static inline int fuzz_workdir_unlink(const char *path, const struct stat *sb, int flag,
                                      struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static inline void fuzz_workdir_remove(void)
{
    if (fuzz_workdir_path[0])
        nftw(fuzz_workdir_path, fuzz_workdir_unlink, 16, FTW_DEPTH | FTW_PHYS);
}

/* The scratch directory, made on the first call; aborts if it cannot be. */
static inline const char *fuzz_workdir(void)
{
    if (!fuzz_workdir_path[0]) {
        const char *tmp = getenv("TMPDIR");
        if (!tmp || !tmp[0])
            tmp = "/tmp";
        if ((size_t)snprintf(fuzz_workdir_path, sizeof fuzz_workdir_path, "%s/sl-fuzz-XXXXXX",
                             tmp) >= sizeof fuzz_workdir_path ||
            !mkdtemp(fuzz_workdir_path)) {
            fprintf(stderr, "fuzz: cannot make a scratch directory under %s\n", tmp);
            abort();
        }
        atexit(fuzz_workdir_remove);
    }
    return fuzz_workdir_path;
}

/* Writes path (under the scratch directory) into buf; aborts if too long. */
static inline void fuzz_workdir_file(const char *name, char *buf, size_t size)
{
    if ((size_t)snprintf(buf, size, "%s/%s", fuzz_workdir(), name) >= size)
        abort();
}

/* Writes n bytes to path, replacing it; aborts on any error. */
static inline void fuzz_put(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
        abort();
}

#endif
