/*
 * cmd_keys.c: `sluice keygen`, creating the centre key-encryption key.
 */
#include <getopt.h>
#include <stdio.h>

#include "engine/cli.h"
#include "engine/core/status.h"
#include "engine/run.h"
#include "io/keys.h"

static const char *usage_text =
    "usage: sluice keygen --out FILE\n"
    "\n"
    "Writes a fresh random 256-bit centre key (KEK) to FILE with mode 0600.\n"
    "Never overwrites an existing file. Keep the file on the enclave nodes only;\n"
    "every command that needs it takes --key FILE and refuses a key file that\n"
    "group or others can read.\n";

int sl_cmd_keygen(int argc, char **argv)
{
    static const struct option longs[] = {{"out", required_argument, NULL, 'o'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    const char *out = NULL;
    sl_status st;
    int c;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+ho:", longs, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage_text, stdout);
            return 0;
        }
        if (c != 'o') {
            fprintf(stderr, "sluice keygen: unknown or incomplete option '%s'\n%s",
                    argv[optind - 1], usage_text);
            return 2;
        }
        out = optarg;
    }
    if (!out || optind != argc) {
        fprintf(stderr, "sluice keygen: --out FILE is required\n%s", usage_text);
        return 2;
    }
    st = sl_kek_generate_file(out);
    if (st != SL_OK) {
        fprintf(stderr, "sluice keygen: %s\n", sl_error_message());
        return sl_exit_code(st);
    }
    printf("wrote key %s (mode 0600)\n", out);
    return 0;
}
