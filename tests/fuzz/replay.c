/*
 * replay.c: runs a fuzz target over saved inputs, without libFuzzer.
 *
 *   fuzz_NAME FILE_OR_DIR...
 *
 * Every fuzz target in tests/fuzz/ defines LLVMFuzzerTestOneInput. Built with
 * -DSL_FUZZ=ON (Clang), a target links libFuzzer and explores; otherwise it
 * links this file, and CTest replays the target's corpus (the seeds and every
 * input that once found a bug) with any compiler, under ASan and UBSan in the
 * sanitizer build. Files are fed in name order, each whole. A crash or a
 * sanitizer report ends the program; reading errors exit 2.
 */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feeds one file to the target; 0 on success, -1 if it cannot be read. */
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long size;
    int rc = -1;

    if (!f) {
        fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "replay: cannot size %s\n", path);
        goto cleanup;
    }
    /* one spare byte so that an empty input is still a valid pointer */
    buf = malloc((size_t)size + 1);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        goto cleanup;
    }
    LLVMFuzzerTestOneInput(buf, (size_t)size);
    rc = 0;
cleanup:
    free(buf);
    fclose(f);
    return rc;
}

/* Feeds every regular file of dir in name order; the count in *n. */
static int replay_dir(const char *dir, long *n)
{
    struct dirent **ents = NULL;
    int k = scandir(dir, &ents, NULL, alphasort), rc = 0;

    if (k < 0) {
        fprintf(stderr, "replay: cannot list %s: %s\n", dir, strerror(errno));
        return -1;
    }
    for (int i = 0; i < k; i++) {
        char path[4096];
        struct stat sb;
        if (rc == 0 && ents[i]->d_name[0] != '.' &&
            snprintf(path, sizeof path, "%s/%s", dir, ents[i]->d_name) < (int)sizeof path &&
            stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
            rc = replay_file(path);
            *n += rc == 0;
        }
        free(ents[i]);
    }
    free(ents);
    return rc;
}

int main(int argc, char **argv)
{
    long n = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE_OR_DIR...\n"
                        "  feeds each file (each file of each directory) to the fuzz target\n",
                argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        int rc;
        if (stat(argv[i], &sb) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 2;
        }
        if (S_ISDIR(sb.st_mode)) {
            rc = replay_dir(argv[i], &n);
        } else {
            rc = replay_file(argv[i]);
            n += rc == 0;
        }
        if (rc != 0)
            return 2;
    }
    printf("replayed %ld inputs\n", n);
    return 0;
}
