/*
 * text.c: UTF-8 and printable-character check of files people write.
 */
#include "text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

/* The length of the UTF-8 sequence at s (at most n bytes) and its code
 * point in *cp, or 0 with *why set when it is not well formed. */
static size_t decode(const unsigned char *s, size_t n, uint32_t *cp, char *why, size_t whysize)
{
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    unsigned char b = s[0];
    size_t k;
    uint32_t c;

    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    if (b >= 0xc2 && b <= 0xdf)
        k = 2, c = b & 0x1fu;
    else if (b >= 0xe0 && b <= 0xef)
        k = 3, c = b & 0x0fu;
    else if (b >= 0xf0 && b <= 0xf4)
        k = 4, c = b & 0x07u;
    else {
        snprintf(why, whysize, "byte 0x%02x is not UTF-8", b);
        return 0;
    }
    if (k > n) {
        snprintf(why, whysize, "the text ends inside a UTF-8 sequence");
        return 0;
    }
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            snprintf(why, whysize, "byte 0x%02x is not UTF-8", b);
            return 0;
        }
        c = (c << 6) | (s[i] & 0x3fu);
    }
    if (c < least[k]) {
        snprintf(why, whysize, "overlong UTF-8 encoding of U+%04X", (unsigned)c);
        return 0;
    }
    if (c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
        snprintf(why, whysize, "U+%04X is not a character", (unsigned)c);
        return 0;
    }
    *cp = c;
    return k;
}

static bool printable(uint32_t c)
{
    return c == '\t' || c == '\n' || c == '\r' || (c >= 0x20 && c <= 0x7e) || c == 0x85 ||
           (c >= 0xa0 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd) || c >= 0x10000;
}

bool sl_text_check(const char *text, size_t len, struct sl_text_fault *fault)
{
    const unsigned char *s = (const unsigned char *)text;
    struct sl_text_fault f = {0, 1, 1, ""};
    size_t i = 0;

    while (i < len) {
        uint32_t c = 0;
        size_t k = decode(s + i, len - i, &c, f.why, sizeof f.why);
        if (k > 0 && !printable(c))
            snprintf(f.why, sizeof f.why,
                     c < 0x80 ? "control character 0x%02x" : "control character U+%04X",
                     (unsigned)c);
        if (k == 0 || !printable(c)) {
            f.offset = i;
            if (fault)
                *fault = f;
            return false;
        }
        i += k;
        /* a line ends at LF, at CR not followed by LF, and at U+0085 */
        if (c == '\n' || c == 0x85 || (c == '\r' && (i == len || s[i] != '\n'))) {
            f.line++;
            f.col = 1;
        } else if (c != '\r') {
            f.col++;
        }
    }
    return true;
}

struct named {
    const char *name;
    int64_t index;
};

static int by_name_then_index(const void *a, const void *b)
{
    const struct named *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : (x->index > y->index) - (x->index < y->index);
}

sl_status sl_first_repeat(const char *const *names, int64_t n, int64_t *later, int64_t *earlier)
{
    sl_status st = SL_OK;
    struct named *v = NULL;

    *later = *earlier = -1;
    if (n < 2)
        return SL_OK;
    v = sl_malloc((size_t)n * sizeof *v);
    SL_CHECK(v, SL_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++)
        v[i] = (struct named){names[i], i};
    qsort(v, (size_t)n, sizeof *v, by_name_then_index);
    /* in each run of one name, the first is the earliest and the second the
     * first repeat of it */
    for (int64_t i = 1; i < n; i++)
        if (strcmp(v[i - 1].name, v[i].name) == 0 && (i < 2 || strcmp(v[i - 2].name, v[i].name)) &&
            (*later < 0 || v[i].index < *later)) {
            *later = v[i].index;
            *earlier = v[i - 1].index;
        }
cleanup:
    sl_free(v);
    return st;
}
