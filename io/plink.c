/*
 * plink.c: PLINK 1 binary genotypes -> encrypted cohort (plink.h).
 *
 * .fam is read whole into secret memory (sample ids) and split in place;
 * .bim into secret memory too (it is only variant data, but one reader keeps
 * the code simple); the variant list picks variants by id through a sorted
 * index. .bed is checked against the sizes the other two imply, then the
 * packed bytes of each variant taken are read into secret memory (a quarter
 * byte per sample and variant) and decoded chunk by chunk into the cohort's
 * columns.
 */
#include "io/plink.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "io/cohort.h"
#include "io/cohort_impl.h"
#include "io/format.h"
#include "io/pseudonym_impl.h"
#include "io/schema.h"

#define PLINK_MAX_FILE ((size_t)1 << 34) /* .fam, .bim and the list are read whole */
#define PLINK_MAX_ALLELE 100              /* bytes: call labels hold two */
#define PLINK_CALLS_SUFFIX "_gt"          /* calls column beside a dosage column */

/* A text file read whole into secret memory, NUL-terminated, split into
 * lines in place. */
struct text {
    char path[4200];
    struct sl_secbuf *buf;
    size_t len;
};

struct plink {
    const struct sl_plink_opts *o;
    struct text fam, bim, list;
    char bed[4200];
    int64_t n;              /* samples */
    char **iid;             /* [n] into fam (secret text) */
    int64_t *fam_line;      /* [n] */
    struct sl_secbuf *sex;  /* int32 [n]: 0 F, 1 M, SL_CAT_MISSING */
    struct sl_secbuf *pheno;/* double [n], NaN missing (case/control: 0, 1) */
    int quantitative;
    int64_t nbim;
    char **vid;             /* [nbim] variant ids, into bim */
    char **allele;          /* [2 * nbim] allele 1 and 2 of each variant, into bim */
    int64_t *bim_line;      /* [nbim] */
    int64_t *take;          /* [ntake] .bim indices taken, ascending */
    int ntake;
    size_t per_variant;     /* bytes a variant takes in .bed */
    struct sl_secbuf *packed; /* [ntake * per_variant] */
    int64_t missing;
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static sl_status read_text(struct text *t)
{
    sl_status st = SL_OK;
    struct stat sb;
    int fd = open(t->path, O_RDONLY | O_CLOEXEC);

    SL_CHECK(fd >= 0, SL_ERR_IO, "%s: cannot open: %s", t->path, strerror(errno));
    SL_CHECK(fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode), SL_ERR_IO, "%s: not a regular file",
             t->path);
    SL_CHECK((size_t)sb.st_size < PLINK_MAX_FILE, SL_ERR_FORMAT, "%s: larger than 16 GiB",
             t->path);
    SL_CALL(sl_secbuf_create((size_t)sb.st_size + 1, &t->buf));
    while (t->len < (size_t)sb.st_size) {
        ssize_t k = read(fd, (char *)t->buf->data + t->len, (size_t)sb.st_size - t->len);
        SL_CHECK(k >= 0, SL_ERR_IO, "%s: read failed: %s", t->path, strerror(errno));
        SL_CHECK(k > 0, SL_ERR_IO, "%s: the file changed during ingest", t->path);
        t->len += (size_t)k;
    }
    ((char *)t->buf->data)[t->len] = '\0';
cleanup:
    if (fd >= 0)
        close(fd);
    return st;
}

/* The next line of t from *pos (without its line break, NUL-terminated in
 * place); NULL at the end. */
static char *next_line(struct text *t, size_t *pos, int64_t *line)
{
    char *b = t->buf->data;
    if (*pos >= t->len)
        return NULL;
    char *s = b + *pos, *nl = memchr(s, '\n', t->len - *pos);
    size_t end = nl ? (size_t)(nl - b) : t->len;
    *pos = end + 1;
    b[end] = '\0';
    if (end > 0 && b + end > s && b[end - 1] == '\r')
        b[end - 1] = '\0';
    ++*line;
    return s;
}

/* Splits s on spaces and tabs into at most max fields (in place); the count,
 * or max + 1 when there are more. */
static int split(char *s, char **f, int max)
{
    int n = 0;
    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            return n;
        if (n == max)
            return max + 1;
        f[n++] = s;
        while (*s && *s != ' ' && *s != '\t')
            s++;
        if (*s)
            *s++ = '\0';
    }
}

static int blank(const char *s)
{
    return s[strspn(s, " \t")] == '\0';
}

static int cmp_ids(const void *a, const void *b)
{
    return strcmp(**(char *const *const *)a, **(char *const *const *)b);
}

/* ---- .fam ---- */

static sl_status read_fam(struct plink *g)
{
    sl_status st = SL_OK;
    char *s, *f[7], ***order = NULL;
    size_t pos = 0;
    int64_t line = 0, rows = 0;
    double *ph;
    int binary = 1;

    SL_CALL(read_text(&g->fam));
    for (size_t i = 0; i < g->fam.len; i++)
        rows += ((const char *)g->fam.buf->data)[i] == '\n';
    rows++;
    g->iid = sl_malloc((size_t)rows * sizeof *g->iid);
    g->fam_line = sl_malloc((size_t)rows * sizeof *g->fam_line);
    SL_CHECK(g->iid && g->fam_line, SL_ERR_NOMEM, "out of memory");
    SL_CALL(sl_secbuf_create((size_t)rows * sizeof(int32_t), &g->sex));
    SL_CALL(sl_secbuf_create((size_t)rows * sizeof(double), &g->pheno));
    ph = g->pheno->data;
    while ((s = next_line(&g->fam, &pos, &line)) != NULL) {
        if (blank(s))
            continue;
        int k = split(s, f, 6);
        SL_CHECK(k == 6, SL_ERR_FORMAT,
                 "%s:%lld: expected 6 fields (family id, sample id, father, mother, sex, "
                 "phenotype), found %s",
                 g->fam.path, (long long)line, k > 6 ? "more" : "fewer");
        SL_CHECK(strlen(f[1]) <= 255, SL_ERR_FORMAT, "%s:%lld: field 2 (sample id): longer than "
                                                     "255 bytes",
                 g->fam.path, (long long)line);
        SL_CHECK((f[4][0] == '0' || f[4][0] == '1' || f[4][0] == '2') && f[4][1] == '\0',
                 SL_ERR_FORMAT, "%s:%lld: field 5 (sex): expected 1 (male), 2 (female) or 0",
                 g->fam.path, (long long)line);
        ((int32_t *)g->sex->data)[g->n] = f[4][0] == '2' ? 0 : f[4][0] == '1' ? 1 : SL_CAT_MISSING;
        SL_CHECK(sl_parse_real(f[5], strlen(f[5]), &ph[g->n]) == 0 && isfinite(ph[g->n]),
                 SL_ERR_FORMAT, "%s:%lld: field 6 (phenotype): expected a number (-9 missing)",
                 g->fam.path, (long long)line);
        binary &= ph[g->n] == 1 || ph[g->n] == 2 || ph[g->n] == 0 || ph[g->n] == -9;
        g->iid[g->n] = f[1];
        g->fam_line[g->n] = line;
        g->n++;
    }
    SL_CHECK(g->n > 0, SL_ERR_FORMAT, "%s: no samples, expected one line per sample",
             g->fam.path);
    g->quantitative = !binary;
    for (int64_t i = 0; i < g->n; i++)
        ph[i] = ph[i] == -9 || (binary && ph[i] == 0) ? NAN : binary ? ph[i] - 1 : ph[i];
    /* sample ids are unique: they become the pseudonyms */
    order = sl_malloc((size_t)g->n * sizeof *order);
    SL_CHECK(order, SL_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < g->n; i++)
        order[i] = &g->iid[i];
    qsort(order, (size_t)g->n, sizeof *order, cmp_ids);
    for (int64_t i = 1; i < g->n; i++)
        if (strcmp(*order[i], *order[i - 1]) == 0) {
            int64_t a = order[i] - g->iid, b = order[i - 1] - g->iid;
            SL_FAIL(SL_ERR_FORMAT,
                    "%s:%lld: field 2 (sample id) repeats line %lld's; expected one line per "
                    "sample (sluice identifies samples by their id alone)",
                    g->fam.path, (long long)g->fam_line[a > b ? a : b],
                    (long long)g->fam_line[a > b ? b : a]);
        }
cleanup:
    sl_free(order);
    return st;
}

/* ---- .bim and the variants taken ---- */

static sl_status read_bim(struct plink *g)
{
    sl_status st = SL_OK;
    char *s, *f[7];
    size_t pos = 0;
    int64_t line = 0, rows = 0;

    SL_CALL(read_text(&g->bim));
    for (size_t i = 0; i < g->bim.len; i++)
        rows += ((const char *)g->bim.buf->data)[i] == '\n';
    rows++;
    g->vid = sl_malloc((size_t)rows * sizeof *g->vid);
    g->allele = sl_malloc(2 * (size_t)rows * sizeof *g->allele);
    g->bim_line = sl_malloc((size_t)rows * sizeof *g->bim_line);
    SL_CHECK(g->vid && g->allele && g->bim_line, SL_ERR_NOMEM, "out of memory");
    while ((s = next_line(&g->bim, &pos, &line)) != NULL) {
        if (blank(s))
            continue;
        int k = split(s, f, 6);
        SL_CHECK(k == 6, SL_ERR_FORMAT,
                 "%s:%lld: expected 6 fields (chromosome, variant id, centimorgans, position, "
                 "allele 1, allele 2), found %s",
                 g->bim.path, (long long)line, k > 6 ? "more" : "fewer");
        SL_CHECK(strlen(f[4]) <= PLINK_MAX_ALLELE && strlen(f[5]) <= PLINK_MAX_ALLELE,
                 SL_ERR_FORMAT, "%s:%lld: an allele longer than %d bytes", g->bim.path,
                 (long long)line, PLINK_MAX_ALLELE);
        g->vid[g->nbim] = f[1];
        g->allele[2 * g->nbim] = f[4];
        g->allele[2 * g->nbim + 1] = f[5];
        g->bim_line[g->nbim++] = line;
    }
    SL_CHECK(g->nbim > 0, SL_ERR_FORMAT, "%s: no variants, expected one line per variant",
             g->bim.path);
cleanup:
    return st;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The first position of variant id in order (the .bim ids sorted), or -1. */
static int64_t find_variant(const struct plink *g, char ***order, const char *id)
{
    int64_t lo = 0, hi = g->nbim;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (strcmp(*order[mid], id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < g->nbim && strcmp(*order[lo], id) == 0 ? lo : -1;
}

/* Checks that the variant at position pos of order can be a column: a unique
 * id in .bim and a valid column name other than the fixed ones. */
static sl_status check_variant(const struct plink *g, char ***order, int64_t pos)
{
    sl_status st = SL_OK;
    const char *id = *order[pos];
    int64_t j = order[pos] - g->vid;
    if (pos + 1 < g->nbim && strcmp(*order[pos + 1], id) == 0) {
        int64_t a = g->bim_line[j], b = g->bim_line[order[pos + 1] - g->vid];
        SL_FAIL(SL_ERR_FORMAT,
                "%s:%lld: variant id %s repeats line %lld's; expected unique ids for the "
                "variants taken",
                g->bim.path, (long long)(a > b ? a : b), id, (long long)(a > b ? b : a));
    }
    SL_CHECK(sl_colname_valid(id) && strcmp(id, "sex") != 0 && strcmp(id, "phenotype") != 0 &&
                 strcmp(id, "person_id") != 0,
             SL_ERR_FORMAT,
             "%s:%lld: variant id %s cannot be a column name (1 to %d bytes without '/'; not "
             "sex, phenotype or person_id)",
             g->bim.path, (long long)g->bim_line[j], id, SL_COL_NAME_MAX);
cleanup:
    return st;
}

/* With both dosages and calls, the calls column of variant ID is ID_gt: a
 * valid name that no variant of .bim has. */
static sl_status check_calls_names(const struct plink *g, char ***order)
{
    sl_status st = SL_OK;
    char name[SL_COL_NAME_MAX + 8];
    for (int k = 0; g->o->genotypes == SL_PLINK_BOTH && k < g->ntake; k++) {
        int64_t j = g->take[k];
        snprintf(name, sizeof name, "%s" PLINK_CALLS_SUFFIX, g->vid[j]);
        SL_CHECK(sl_colname_valid(name) && find_variant(g, order, name) < 0, SL_ERR_FORMAT,
                 "%s:%lld: variant %s: its calls column %s is not a valid column name, or a "
                 "variant of .bim has that id",
                 g->bim.path, (long long)g->bim_line[j], g->vid[j], name);
    }
cleanup:
    return st;
}

/* The variants taken: those of the list file, or all; ascending .bim order. */
static sl_status choose_variants(struct plink *g)
{
    sl_status st = SL_OK;
    char ***order = NULL, *s, *f[2];
    int64_t *listed_line = NULL, line = 0;
    size_t pos = 0;

    order = sl_malloc((size_t)g->nbim * sizeof *order);
    SL_CHECK(order, SL_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < g->nbim; i++)
        order[i] = &g->vid[i];
    qsort(order, (size_t)g->nbim, sizeof *order, cmp_ids);
    if (!g->o->variants) {
        SL_CHECK(g->nbim <= SL_PLINK_MAX_ALL, SL_ERR_ARG,
                 "%s has %lld variants; without --variants at most %d are taken: list the "
                 "study's variants in a file, one id a line",
                 g->bim.path, (long long)g->nbim, SL_PLINK_MAX_ALL);
        g->take = sl_malloc((size_t)g->nbim * sizeof *g->take);
        SL_CHECK(g->take, SL_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; i < g->nbim; i++) {
            SL_CALL(check_variant(g, order, find_variant(g, order, g->vid[i])));
            g->take[g->ntake++] = i;
        }
        SL_CALL(check_calls_names(g, order));
        goto cleanup;
    }
    SL_CALL(read_text(&g->list));
    g->take = sl_malloc(SL_PLINK_MAX_VARIANTS * sizeof *g->take);
    listed_line = sl_calloc((size_t)g->nbim, sizeof *listed_line);
    SL_CHECK(g->take && listed_line, SL_ERR_NOMEM, "out of memory");
    while ((s = next_line(&g->list, &pos, &line)) != NULL) {
        if (blank(s) || s[strspn(s, " \t")] == '#')
            continue;
        SL_CHECK(split(s, f, 1) == 1, SL_ERR_FORMAT, "%s:%lld: expected one variant id a line",
                 g->list.path, (long long)line);
        int64_t p = find_variant(g, order, f[0]);
        SL_CHECK(p >= 0, SL_ERR_FORMAT, "%s:%lld: variant %s is not in %s", g->list.path,
                 (long long)line, f[0], g->bim.path);
        int64_t j = order[p] - g->vid;
        SL_CHECK(!listed_line[j], SL_ERR_FORMAT, "%s:%lld: variant %s is listed again (line %lld)",
                 g->list.path, (long long)line, f[0], (long long)listed_line[j]);
        SL_CHECK(g->ntake < SL_PLINK_MAX_VARIANTS, SL_ERR_FORMAT,
                 "%s:%lld: more than %d variants; expected at most that many a cohort",
                 g->list.path, (long long)line, SL_PLINK_MAX_VARIANTS);
        SL_CALL(check_variant(g, order, p));
        listed_line[j] = line;
        g->take[g->ntake++] = j;
    }
    SL_CHECK(g->ntake > 0, SL_ERR_FORMAT, "%s: no variant ids, expected one a line",
             g->list.path);
    qsort(g->take, (size_t)g->ntake, sizeof *g->take, cmp_i64);
    SL_CALL(check_calls_names(g, order));
cleanup:
    sl_free(order);
    sl_free(listed_line);
    return st;
}

/* ---- .bed ---- */

/* Checks the magic and the size, then reads the packed bytes of the
 * variants taken (unless check). */
static sl_status read_bed(struct plink *g)
{
    sl_status st = SL_OK;
    unsigned char magic[3];
    struct stat sb;
    int fd = open(g->bed, O_RDONLY | O_CLOEXEC);

    SL_CHECK(fd >= 0, SL_ERR_IO, "%s: cannot open: %s", g->bed, strerror(errno));
    SL_CHECK(fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode), SL_ERR_IO, "%s: not a regular file",
             g->bed);
    SL_CHECK(pread(fd, magic, 3, 0) == 3 && magic[0] == 0x6c && magic[1] == 0x1b, SL_ERR_FORMAT,
             "%s: not a PLINK 1 .bed file (expected the bytes 6c 1b first)", g->bed);
    SL_CHECK(magic[2] == 0x01, SL_ERR_FORMAT,
             "%s: sample-major (third byte %02x); expected variant-major (01): convert it with "
             "plink --make-bed",
             g->bed, magic[2]);
    g->per_variant = (size_t)(g->n + 3) / 4;
    {
        uint64_t want = 3 + (uint64_t)g->nbim * g->per_variant;
        SL_CHECK((uint64_t)sb.st_size == want, SL_ERR_FORMAT,
                 "%s: %lld bytes; expected %llu for %lld samples (%s) and %lld variants (%s)",
                 g->bed, (long long)sb.st_size, (unsigned long long)want, (long long)g->n,
                 g->fam.path, (long long)g->nbim, g->bim.path);
    }
    if (g->o->check)
        goto cleanup;
    SL_CALL(sl_secbuf_create((size_t)g->ntake * g->per_variant, &g->packed));
    for (int k = 0; k < g->ntake; k++) {
        unsigned char *dst = (unsigned char *)g->packed->data + (size_t)k * g->per_variant;
        off_t at = 3 + (off_t)g->take[k] * (off_t)g->per_variant;
        size_t done = 0;
        while (done < g->per_variant) {
            ssize_t r = pread(fd, dst + done, g->per_variant - done, at + (off_t)done);
            SL_CHECK(r > 0, SL_ERR_IO, "%s: read failed at variant %s (%s:%lld)", g->bed,
                     g->vid[g->take[k]], g->bim.path, (long long)g->bim_line[g->take[k]]);
            done += (size_t)r;
        }
    }
cleanup:
    if (fd >= 0)
        close(fd);
    return st;
}

/* ---- the cohort ---- */

static sl_status write_cohort(struct plink *g, int64_t chunk_rows)
{
    static const char *const sexes[] = {"F", "M"};
    static const char *const statuses[] = {"control", "case"};
    sl_status st = SL_OK;
    struct sl_cohort_writer *w = NULL;
    struct sl_pseudonymizer *pn = NULL;
    struct sl_colinfo *cols = NULL;
    struct sl_secbuf **bufs = NULL;
    const void **ptrs = NULL;
    const int dosage = g->o->genotypes != SL_PLINK_CALLS, calls = g->o->genotypes != SL_PLINK_DOSAGE;
    const int per = dosage + calls; /* columns a variant */
    int ncols = 3 + per * g->ntake;
    char **names = NULL, **labels = NULL;
    const int32_t *sex = g->sex->data;
    const double *ph = g->pheno->data;

    cols = sl_calloc((size_t)ncols, sizeof *cols);
    bufs = sl_calloc((size_t)ncols, sizeof *bufs);
    ptrs = sl_calloc((size_t)ncols, sizeof *ptrs);
    names = sl_calloc((size_t)g->ntake, sizeof *names);
    labels = sl_calloc(3 * (size_t)g->ntake, sizeof *labels);
    SL_CHECK(cols && bufs && ptrs && names && labels, SL_ERR_NOMEM, "out of memory");
    cols[0] = (struct sl_colinfo){"person_id", SL_COL_ID, SL_CLASS_IDENTIFIER, 0, NULL, NAN, NAN};
    cols[1] = (struct sl_colinfo){"sex", SL_COL_CAT, SL_CLASS_QUASI, 2, (char **)sexes, NAN, NAN};
    cols[2] = g->quantitative
                  ? (struct sl_colinfo){"phenotype", SL_COL_REAL, SL_CLASS_SENSITIVE, 0, NULL, NAN,
                                        NAN}
                  : (struct sl_colinfo){"phenotype", SL_COL_CAT, SL_CLASS_SENSITIVE, 2,
                                        (char **)statuses, NAN, NAN};
    for (int k = 0; k < g->ntake; k++) {
        int64_t j = g->take[k];
        const char *a = g->allele[2 * j], *b = g->allele[2 * j + 1];
        struct sl_colinfo *c = &cols[3 + per * k];
        if (dosage)
            *c++ = (struct sl_colinfo){g->vid[j], SL_COL_INT, SL_CLASS_SENSITIVE, 0, NULL, 0, 2};
        if (!calls)
            continue;
        size_t len = strlen(g->vid[j]) + sizeof PLINK_CALLS_SUFFIX;
        names[k] = sl_malloc(len);
        SL_CHECK(names[k], SL_ERR_NOMEM, "out of memory");
        snprintf(names[k], len, "%s%s", g->vid[j], dosage ? PLINK_CALLS_SUFFIX : "");
        for (int l = 0; l < 3; l++) {
            char text[2 * PLINK_MAX_ALLELE + 2];
            snprintf(text, sizeof text, "%s/%s", l < 2 ? a : b, l < 1 ? a : b);
            labels[3 * k + l] = sl_strdup(text);
            SL_CHECK(labels[3 * k + l], SL_ERR_NOMEM, "out of memory");
        }
        *c = (struct sl_colinfo){names[k], SL_COL_CAT, SL_CLASS_SENSITIVE, 3, &labels[3 * k], NAN,
                                 NAN};
    }
    if (chunk_rows > g->n)
        chunk_rows = g->n;
    for (int j = 0; j < ncols; j++) {
        SL_CALL(sl_secbuf_create((size_t)chunk_rows * sl_coltype_size(cols[j].type), &bufs[j]));
        ptrs[j] = bufs[j]->data;
    }
    SL_CALL(sl_pseudonymizer_create(g->o->kek, g->o->project, &pn));
    SL_CALL(sl_cohort_writer_create(g->o->out, g->o->kek, cols, ncols, chunk_rows, &w));
    for (int64_t r0 = 0; r0 < g->n; r0 += chunk_rows) {
        int64_t m = g->n - r0 < chunk_rows ? g->n - r0 : chunk_rows;
        unsigned char *id = bufs[0]->data;
        int32_t *sx = bufs[1]->data;
        for (int64_t i = 0; i < m; i++) {
            const char *iid = g->iid[r0 + i];
            SL_CALL(sl_pseudonym(pn, iid, strlen(iid), id + (size_t)i * SL_ID_BYTES));
            sx[i] = sex[r0 + i];
            if (g->quantitative)
                ((double *)bufs[2]->data)[i] = ph[r0 + i];
            else
                ((int32_t *)bufs[2]->data)[i] =
                    isnan(ph[r0 + i]) ? SL_CAT_MISSING : (int32_t)ph[r0 + i];
        }
        for (int k = 0; k < g->ntake; k++) {
            /* by the two bits: copies of allele 1, and the call's level */
            static const int64_t copies[4] = {2, SL_INT_MISSING, 1, 0};
            static const int32_t level[4] = {0, SL_CAT_MISSING, 1, 2};
            const unsigned char *v =
                (const unsigned char *)g->packed->data + (size_t)k * g->per_variant;
            int64_t *dst = dosage ? bufs[3 + per * k]->data : NULL;
            int32_t *lev = calls ? bufs[3 + per * k + dosage]->data : NULL;
            for (int64_t i = 0; i < m; i++) {
                int64_t s = r0 + i;
                unsigned bits = (v[s >> 2] >> (2 * (s & 3))) & 3;
                if (dst)
                    dst[i] = copies[bits];
                if (lev)
                    lev[i] = level[bits];
                g->missing += bits == 1;
            }
        }
        SL_CALL(sl_cohort_writer_append(w, m, ptrs));
    }
    SL_CALL(sl_cohort_writer_finish(w));
cleanup:
    sl_cohort_writer_destroy(&w);
    sl_pseudonymizer_destroy(&pn);
    if (bufs)
        for (int j = 0; j < ncols; j++)
            sl_secbuf_destroy(&bufs[j]);
    sl_free(bufs);
    sl_free(ptrs);
    sl_free(cols);
    for (int k = 0; names && k < g->ntake; k++)
        sl_free(names[k]);
    for (int k = 0; labels && k < 3 * g->ntake; k++)
        sl_free(labels[k]);
    sl_free(names);
    sl_free(labels);
    return st;
}

sl_status sl_plink_ingest(const struct sl_plink_opts *o, struct sl_plink_stats *stats)
{
    sl_status st = SL_OK;
    struct plink g;
    struct stat sb;
    double t0 = now_seconds();
    int64_t chunk_rows;

    memset(&g, 0, sizeof g);
    g.o = o;
    SL_CHECK(o && o->prefix && (o->check || (o->out && o->kek)), SL_ERR_ARG,
             "PLINK ingest needs a fileset prefix, an output cohort and a key");
    chunk_rows = o->chunk_rows > 0 ? o->chunk_rows : SL_DEFAULT_CHUNK_ROWS;
    SL_CHECK(chunk_rows <= SL_MAX_CHUNK_ROWS, SL_ERR_ARG, "chunk rows must be at most %d",
             SL_MAX_CHUNK_ROWS);
    SL_CHECK(strlen(o->prefix) < 4000 && (!o->variants || strlen(o->variants) < 4000), SL_ERR_ARG,
             "the fileset prefix or the variants file name is too long");
    SL_CHECK(o->check || stat(o->out, &sb) != 0, SL_ERR_EXISTS,
             "%s already exists; refusing to overwrite it", o->out);
    snprintf(g.fam.path, sizeof g.fam.path, "%s.fam", o->prefix);
    snprintf(g.bim.path, sizeof g.bim.path, "%s.bim", o->prefix);
    snprintf(g.bed, sizeof g.bed, "%s.bed", o->prefix);
    if (o->variants)
        snprintf(g.list.path, sizeof g.list.path, "%s", o->variants);
    SL_CALL(read_fam(&g));
    SL_CALL(read_bim(&g));
    SL_CALL(choose_variants(&g));
    SL_CALL(read_bed(&g));
    if (!o->check)
        SL_CALL(write_cohort(&g, chunk_rows));
    if (stats) {
        stats->samples = g.n;
        stats->variants_in_bim = g.nbim;
        stats->variants = g.ntake;
        stats->ncols = 3 + g.ntake * (1 + (o->genotypes == SL_PLINK_BOTH));
        stats->quantitative = g.quantitative;
        stats->missing_calls = g.missing;
        stats->seconds = now_seconds() - t0;
    }
cleanup:
    sl_secbuf_destroy(&g.fam.buf);
    sl_secbuf_destroy(&g.bim.buf);
    sl_secbuf_destroy(&g.list.buf);
    sl_secbuf_destroy(&g.sex);
    sl_secbuf_destroy(&g.pheno);
    sl_secbuf_destroy(&g.packed);
    sl_free(g.iid);
    sl_free(g.fam_line);
    sl_free(g.vid);
    sl_free(g.allele);
    sl_free(g.bim_line);
    sl_free(g.take);
    return st;
}
