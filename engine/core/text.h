/*
 * text.h: the check every file people write (job, policy and schema files)
 * passes before a parser sees it.
 *
 * Such files must be UTF-8 text without control characters, which is what
 * YAML allows anyway. Checking this first gives the writer the line and
 * column of a stray byte (a file saved in Latin-1, a binary pasted in), and
 * keeps bytes that YAML forbids away from the YAML library, which has hung
 * on some of them (an invalid UTF-8 byte in a `%` directive). Names in such
 * files (columns, category levels) must not repeat: sl_first_repeat finds
 * the first that does.
 */
#ifndef SL_CORE_TEXT_H
#define SL_CORE_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/core/status.h"

/* Where text stops being acceptable and why, for an error message. */
struct sl_text_fault {
    size_t offset; /* byte offset of the first offending byte */
    int line, col; /* 1-based; col counts characters, not bytes */
    char why[64];  /* e.g. "byte 0xff is not UTF-8", "control character 0x18" */
};

/* Whether text[0, len) is UTF-8 (shortest forms, no surrogates, at most
 * U+10FFFF) made only of characters YAML calls printable: tab, line feed,
 * carriage return, U+0020-U+007E, U+0085, U+00A0-U+D7FF, U+E000-U+FFFD and
 * U+10000 up. When it is not, *fault (if not NULL) says where the first
 * offending byte is. Not collective; text is borrowed. */
bool sl_text_check(const char *text, size_t len, struct sl_text_fault *fault);

/* The first name of names[0, n) that repeats an earlier one, in O(n log n)
 * (column names and category levels run to hundreds of thousands): *later is
 * the smallest index whose name occurs before it, *earlier the first index
 * with that name; both -1 when all differ. SL_ERR_NOMEM. Not collective;
 * names are borrowed and must not be NULL. */
sl_status sl_first_repeat(const char *const *names, int64_t n, int64_t *later, int64_t *earlier);

#endif
