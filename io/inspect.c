/*
 * inspect.c: printing a cohort's public metadata for `sluice inspect`.
 *
 * Only what format.h declares public is printed. Column names need no
 * escaping: the reader refuses names with control characters, so a crafted
 * file cannot drive the operator's terminal.
 */
#include "io/inspect.h"

#include <errno.h>
#include <string.h>

sl_status sl_cohort_print_info(const struct sl_cohort *c, FILE *out)
{
    sl_status st = SL_OK;
    int width = 4;

    SL_CHECK(c && out, SL_ERR_ARG, "printing cohort information needs a cohort and a stream");
    for (int j = 0; j < sl_cohort_ncols(c); j++) {
        int len = (int)strlen(sl_cohort_col(c, j)->name);
        width = len > width ? len : width;
    }
    fprintf(out, "cohort      %s\n", sl_cohort_path(c));
    fprintf(out, "format      %u\n", (unsigned)sl_cohort_version(c));
    fprintf(out, "uuid        %s\n", sl_cohort_uuid(c));
    fprintf(out, "kek id      %s\n", sl_cohort_kek_id(c));
    fprintf(out, "rows        %lld\n", (long long)sl_cohort_nrows(c));
    fprintf(out, "chunk rows  %lld\n", (long long)sl_cohort_chunk_rows(c));
    fprintf(out, "chunks      %lld\n", (long long)sl_cohort_nchunks(c));
    fprintf(out, "columns     %d\n", sl_cohort_ncols(c));
    fprintf(out, "  %5s  %-*s  %-11s  %-10s  %s\n", "index", width, "name", "type", "class",
            "levels");
    for (int j = 0; j < sl_cohort_ncols(c); j++) {
        const struct sl_colinfo *ci = sl_cohort_col(c, j);
        fprintf(out, "  %5d  %-*s  %-11s  %-10s  ", j, width, ci->name, sl_coltype_name(ci->type),
                sl_colclass_name(ci->cls));
        if (ci->type == SL_COL_CAT)
            fprintf(out, "%d\n", (int)ci->nlevels);
        else
            fprintf(out, "-\n");
    }
    SL_CHECK(fflush(out) == 0 && !ferror(out), SL_ERR_IO, "cannot write cohort information: %s",
             strerror(errno));
cleanup:
    return st;
}
