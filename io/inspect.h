/*
 * inspect.h: a human-readable summary of a cohort's public metadata.
 *
 * `sluice inspect` shows operators and researchers what a cohort holds
 * without a key: its format, identity, size and columns. Only metadata that
 * format.h declares public is printed, never values.
 */
#ifndef SL_IO_INSPECT_H
#define SL_IO_INSPECT_H

#include <stdio.h>

#include "engine/core/status.h"
#include "io/cohort.h"

/* Prints the path, format version, UUID, KEK id, rows, rows per chunk and
 * number of chunks of `c` (borrowed), then one line per column: index, name,
 * type, sensitivity class and number of category levels (categorical columns;
 * "-" otherwise). No key needed. SL_ERR_IO if writing to `out` fails. Not collective. */
sl_status sl_cohort_print_info(const struct sl_cohort *c, FILE *out);

#endif
