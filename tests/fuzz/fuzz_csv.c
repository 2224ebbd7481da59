/*
 * fuzz_csv.c: fuzz target for the streaming CSV reader (io/csv.c) and the
 * value parsers of io/schema.c, which read the data files an operator
 * ingests.
 *
 * Each input is written to in.csv in a scratch directory (gzip bytes are
 * inflated: io/gz.c) and read with
 * sl_csv_open / sl_csv_next to the end, twice (sl_csv_rewind), touching
 * every accessor (field, missing, line, field_line, offset, field_error).
 * The whole input and every field of every record are also fed to
 * sl_parse_int, sl_parse_real, sl_parse_date and sl_value_kinds, and what
 * they accept is checked:
 *   - int:  prints and parses back to the same value; the text is
 *           [blanks][+-]digits[blanks];
 *   - real: equals strtod() on the same trimmed text, bit for bit (the fast
 *           path claims correct rounding), and is finite;
 *   - date: formats back (sl_format_date) to exactly the trimmed text, so a
 *           date like 2024-02-30 can never be accepted;
 *   - kinds agree with the parsers.
 * The parsers get heap copies of exactly `len` bytes (no NUL after them,
 * except for sl_parse_real, whose contract requires one), so ASan catches a
 * read past len.
 */
#define _XOPEN_SOURCE 700
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/core/status.h"
#include "io/csv.h"
#include "io/schema.h"

#include "fuzz_workdir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_path[4200];

static void trim_copy(const char *s, size_t len, const char **ts, size_t *tl)
{
    while (len > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    *ts = s;
    *tl = len;
}

static void check_values(const char *f, size_t len)
{
    /* exact-size copy without terminator for int/date/kinds */
    char *raw = malloc(len ? len : 1);
    if (!raw)
        abort();
    memcpy(raw, f, len);
    const char *ts;
    size_t tl;
    trim_copy(f, len, &ts, &tl);

    int64_t iv;
    int iok = sl_parse_int(raw, len, &iv) == 0;
    if (iok) {
        for (size_t i = 0; i < tl; i++)
            if (!((ts[i] >= '0' && ts[i] <= '9') || (i == 0 && (ts[i] == '-' || ts[i] == '+'))))
                abort(); /* accepted a non-integer text */
        /* never SL_INT_MISSING (INT64_MIN), and it prints back */
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%lld", (long long)iv);
        int64_t back;
        if (iv == INT64_MIN || sl_parse_int(buf, (size_t)n, &back) != 0 || back != iv)
            abort();
    }

    int32_t day;
    int dok = sl_parse_date(raw, len, &day) == 0;
    if (dok) {
        char out[11];
        sl_format_date(day, out);
        if (tl != 10 || memcmp(out, ts, 10) != 0) {
            fprintf(stderr, "date accepted but formats back differently: '%.*s' -> '%s'\n",
                    (int)tl, ts, out);
            abort();
        }
    }

    unsigned k = sl_value_kinds(raw, len);

    /* sl_parse_real requires a NUL at len */
    char *z = malloc(len + 1);
    if (!z)
        abort();
    memcpy(z, f, len);
    z[len] = '\0';
    double dv;
    int rok = sl_parse_real(z, len, &dv) == 0;
    if (rok) {
        if (!isfinite(dv))
            abort();
        char *t = malloc(tl + 1);
        if (!t)
            abort();
        memcpy(t, ts, tl);
        t[tl] = '\0';
        char *end;
        double ref = strtod(t, &end);
        if (end != t + tl || memcmp(&ref, &dv, sizeof dv) != 0) {
            fprintf(stderr, "sl_parse_real('%s') = %.17g but strtod = %.17g\n", t, dv, ref);
            abort();
        }
        free(t);
    }
    if (iok && !(k & SL_KIND_INT))
        abort();
    if ((k & SL_KIND_INT) && !iok)
        abort();
    if (dok != !!(k & SL_KIND_DATE))
        abort();
    if (rok && !(k & SL_KIND_REAL))
        abort();
    /* what inference calls real, the second pass must read (1e999 was) */
    if ((k & SL_KIND_REAL) && !rok) {
        fprintf(stderr, "kinds REAL but sl_parse_real refuses '%.*s'\n", (int)tl, ts);
        abort();
    }
    free(z);
    free(raw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_path[0])
        fuzz_workdir_file("in.csv", g_path, sizeof g_path);
    fuzz_put(g_path, data, size);

    /* value parsers straight on the raw bytes, too */
    check_values((const char *)data, size);

    struct sl_csv *c = NULL;
    sl_status st = sl_csv_open(g_path, &c);
    if (st != SL_OK) {
        if (c)
            abort();
        (void)sl_error_message();
        sl_error_clear();
        return 0;
    }
    int nc = sl_csv_ncols(c);
    if (nc < 1)
        abort();
    for (int j = 0; j < nc; j++)
        if (!sl_csv_colname(c, j) || !sl_csv_colname(c, j)[0])
            abort();
    for (int pass = 0; pass < 2; pass++) {
        int64_t prev_line = 0;
        for (;;) {
            int got = 0;
            st = sl_csv_next(c, &got);
            if (st != SL_OK || !got)
                break;
            int64_t line = sl_csv_line(c);
            if (line <= prev_line)
                abort();
            prev_line = line;
            for (int j = 0; j < nc; j++) {
                size_t n = 0;
                const char *f = sl_csv_field(c, j, &n);
                if (strlen(f) != n) /* fields are NUL-terminated and NUL-free */
                    abort();
                int miss = sl_csv_missing(c, j);
                if (miss != (n == 0 || (n == 2 && memcmp(f, "NA", 2) == 0)))
                    abort();
                if (sl_csv_field_line(c, j) < line)
                    abort();
                check_values(f, n);
            }
            if (sl_csv_offset(c) > sl_csv_size(c))
                abort();
            if (nc > 0)
                (void)sl_csv_field_error(c, nc - 1, SL_ERR_FORMAT, "fuzz %d", 1);
        }
        sl_error_clear();
        if (st != SL_OK || sl_csv_rewind(c) != SL_OK)
            break;
    }
    sl_csv_close(&c);
    if (c)
        abort();
    sl_error_clear();
    return 0;
}
