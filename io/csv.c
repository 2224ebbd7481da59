/*
 * csv.c: the streaming CSV reader behind csv.h.
 *
 * The file is read in large blocks into one secret buffer. A record is first
 * located (its terminating line break outside quotes, found with memchr when
 * the record holds no quote), then split into fields in place: separators
 * become NUL bytes and quoted fields are unescaped where they lie, so a field
 * costs no allocation. A record that runs past the end of the buffer is moved
 * to the front and the buffer is refilled (and doubled when one record does not
 * fit), so records of any length are read.
 */
#include "io/csv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "engine/core/text.h"
#include "io/gz_impl.h"

enum { SL_CSV_BUF_INITIAL = 4 << 20 };

struct sl_csv {
    char *path;
    int fd;
    char delim;              /* field separator: ',' or '\t' */
    int64_t size;            /* file size at open */
    struct sl_secbuf *buf;   /* secret: file bytes; one spare byte past cap */
    size_t cap;              /* usable bytes in buf (size - 1) */
    size_t pos, end;         /* unconsumed data is buf[pos, end) */
    int eof;                 /* no more bytes to read from fd */
    struct sl_gz *gz;        /* a gzip file (by its magic bytes): its text, else NULL */
    int64_t buf_off;         /* file offset of buf[0] */
    int64_t line;            /* line number of buf[pos] */
    int64_t data_off;        /* file offset of the first record after the header */
    int64_t data_line;       /* its line number */

    int ncols;               /* header fields (0 while reading the header) */
    char **names;            /* [nnames] header names, sl_malloc'd */
    int nnames;

    int fcap;                /* capacity of the field arrays */
    int nfields;             /* fields in the current record */
    char **fld;              /* [fcap] secret: pointers into buf */
    size_t *flen;            /* [fcap] */
    int32_t *fline;          /* [fcap] line of each field relative to rec_line */
    int64_t rec_line;        /* line of the current record */
};

const char *sl_csv_path(const struct sl_csv *csv) { return csv->path; }
int sl_csv_ncols(const struct sl_csv *csv) { return csv->ncols; }
const char *sl_csv_colname(const struct sl_csv *csv, int col) { return csv->names[col]; }
int64_t sl_csv_line(const struct sl_csv *csv) { return csv->rec_line; }
int64_t sl_csv_size(const struct sl_csv *csv) { return csv->size; }
int64_t sl_csv_offset(const struct sl_csv *csv)
{
    return csv->gz ? sl_gz_consumed(csv->gz) : csv->buf_off + (int64_t)csv->pos;
}

int64_t sl_csv_field_line(const struct sl_csv *csv, int col)
{
    return csv->rec_line + csv->fline[col];
}

const char *sl_csv_field(const struct sl_csv *csv, int col, size_t *len)
{
    if (len)
        *len = csv->flen[col];
    return csv->fld[col];
}

int sl_csv_missing(const struct sl_csv *csv, int col)
{
    size_t n = csv->flen[col];
    const char *s = csv->fld[col];
    return n == 0 || (n == 2 && s[0] == 'N' && s[1] == 'A');
}

/* Formats "<path>:<line>: column <n> (<name>): <text>" into the error slot.
 * Before the header is read (name == NULL) the name part is left out. */
static sl_status field_verror(const struct sl_csv *csv, int64_t line, int col, sl_status code,
                              const char *fmt, va_list ap)
{
    char text[512];
    vsnprintf(text, sizeof text, fmt, ap);
    if (csv->ncols > 0 && col < csv->ncols)
        return sl_error_set(code, __FILE__, __LINE__, __func__, "%s:%lld: column %d (%s): %s",
                            csv->path, (long long)line, col + 1, csv->names[col], text);
    return sl_error_set(code, __FILE__, __LINE__, __func__, "%s:%lld: column %d: %s", csv->path,
                        (long long)line, col + 1, text);
}

static sl_status field_error_at(const struct sl_csv *csv, int64_t line, int col, const char *fmt,
                                ...) __attribute__((format(printf, 4, 5)));

static sl_status field_error_at(const struct sl_csv *csv, int64_t line, int col, const char *fmt,
                                ...)
{
    va_list ap;
    va_start(ap, fmt);
    sl_status st = field_verror(csv, line, col, SL_ERR_FORMAT, fmt, ap);
    va_end(ap);
    return st;
}

sl_status sl_csv_field_error(const struct sl_csv *csv, int col, sl_status code, const char *fmt,
                             ...)
{
    va_list ap;
    va_start(ap, fmt);
    sl_status st = field_verror(csv, sl_csv_field_line(csv, col), col, code, fmt, ap);
    va_end(ap);
    return st;
}

/* Offset of the first byte of s[0, n) that is not part of valid UTF-8 (or is
 * NUL), or n when all is valid. Rejects overlong forms, surrogates and code
 * points past U+10FFFF. */
static size_t utf8_invalid_at(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t need;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0x01 && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            return i;
        }
        if (i + need >= n)
            return i;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= need; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                return i;
        i += need + 1;
    }
    return n;
}

/* 1 if s[0, n) is all ASCII without NUL (the common case, checked fast). */
static int all_ascii(const unsigned char *s, size_t n)
{
    uint64_t acc = 0;
    size_t i = 0;
    int nul = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        acc |= w;
        nul |= ((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull) != 0;
    }
    for (; i < n; i++) {
        acc |= s[i];
        nul |= s[i] == 0;
    }
    return (acc & 0x8080808080808080ull) == 0 && !nul;
}

static int64_t count_newlines(const char *s, size_t n)
{
    int64_t k = 0;
    const char *p = s, *e = s + n;
    while (p < e && (p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
        k++;
        p++;
    }
    return k;
}

/* Makes room to read: moves unconsumed bytes to the front and doubles the
 * buffer when it is full of one record. */
static sl_status make_room(struct sl_csv *c)
{
    sl_status st = SL_OK;
    struct sl_secbuf *nb = NULL;
    char *b = c->buf->data;

    if (c->pos > 0) {
        memmove(b, b + c->pos, c->end - c->pos);
        c->buf_off += (int64_t)c->pos;
        c->end -= c->pos;
        c->pos = 0;
    }
    if (c->end == c->cap) {
        size_t ncap;
        SL_CHECK(sl_size_mul(c->cap, 2, &ncap) == 0, SL_ERR_NOMEM,
                 "%s:%lld: a record longer than %zu bytes does not fit in memory", c->path,
                 (long long)c->line, c->cap);
        SL_CALL(sl_secbuf_create(ncap + 1, &nb));
        memcpy(nb->data, b, c->end);
        sl_secbuf_destroy(&c->buf);
        c->buf = nb;
        nb = NULL;
        c->cap = ncap;
    }
cleanup:
    return st;
}

/* Reads more bytes after end; sets eof when the file has no more. */
static sl_status refill(struct sl_csv *c)
{
    sl_status st = SL_OK;
    SL_CALL(make_room(c));
    if (c->gz) {
        size_t n;
        SL_CALL(sl_gz_read(c->gz, (char *)c->buf->data + c->end, c->cap - c->end, &n));
        c->end += n;
        c->eof = n == 0;
        goto cleanup;
    }
    while (c->end < c->cap) {
        ssize_t n = read(c->fd, (char *)c->buf->data + c->end, c->cap - c->end);
        if (n < 0 && errno == EINTR)
            continue;
        SL_CHECK(n >= 0, SL_ERR_IO, "%s: read failed: %s", c->path, strerror(errno));
        if (n == 0) {
            c->eof = 1;
            break;
        }
        c->end += (size_t)n;
        break;
    }
cleanup:
    return st;
}

static sl_status grow_fields(struct sl_csv *c, int need)
{
    sl_status st = SL_OK;
    int ncap = c->fcap ? c->fcap : 16;
    char **nf = NULL;
    size_t *nl = NULL;
    int32_t *nline = NULL;

    while (ncap < need)
        ncap *= 2;
    nf = sl_realloc(c->fld, (size_t)ncap * sizeof *nf);
    SL_CHECK(nf, SL_ERR_NOMEM, "out of memory");
    c->fld = nf;
    nl = sl_realloc(c->flen, (size_t)ncap * sizeof *nl);
    SL_CHECK(nl, SL_ERR_NOMEM, "out of memory");
    c->flen = nl;
    nline = sl_realloc(c->fline, (size_t)ncap * sizeof *nline);
    SL_CHECK(nline, SL_ERR_NOMEM, "out of memory");
    c->fline = nline;
    c->fcap = ncap;
cleanup:
    return st;
}

/* Finds the end of the record starting at buf[pos] when it holds a quote.
 * Sets *rec_end to the index of its terminating '\n' (or end at EOF), or
 * *need_more when the buffer ends inside the record. An unterminated quote at
 * the end of the file is an error naming the line and column where it opened. */
static sl_status scan_quoted(struct sl_csv *c, size_t *rec_end, int *need_more)
{
    sl_status st = SL_OK;
    const char *b = c->buf->data;
    size_t i = c->pos, e = c->end;
    int field_start = 1, col = 0;
    int64_t nl = 0;

    *need_more = 0;
    while (i < e) {
        char ch = b[i];
        if (field_start && ch == '"') {
            int64_t open_line = c->line + nl;
            int open_col = col;
            i++;
            for (;;) {
                const char *q = memchr(b + i, '"', e - i);
                if (!q) {
                    if (c->eof) {
                        st = field_error_at(c, open_line, open_col,
                                            "unterminated quoted field, expected a closing "
                                            "quote before the end of the file");
                        goto cleanup;
                    }
                    *need_more = 1;
                    goto cleanup;
                }
                size_t qi = (size_t)(q - b);
                nl += count_newlines(b + i, qi - i);
                if (qi + 1 == e && !c->eof) {
                    *need_more = 1;
                    goto cleanup;
                }
                if (qi + 1 < e && b[qi + 1] == '"') {
                    i = qi + 2;
                    continue;
                }
                i = qi + 1;
                break;
            }
            field_start = 0;
            continue;
        }
        if (ch == c->delim) {
            field_start = 1;
            col++;
        } else if (ch == '\n') {
            *rec_end = i;
            goto cleanup;
        } else {
            field_start = 0;
        }
        i++;
    }
    if (c->eof)
        *rec_end = e;
    else
        *need_more = 1;
cleanup:
    return st;
}

/* Splits buf[rs, re) (re excludes the line break) into fields in place. */
static sl_status split_record(struct sl_csv *c, size_t rs, size_t re, int has_quote)
{
    sl_status st = SL_OK;
    char *b = c->buf->data;
    size_t p = rs;
    int f = 0;
    int check_utf8 = !all_ascii((const unsigned char *)b + rs, re - rs);
    int32_t nl = 0;

    for (;;) {
        char *start;
        size_t len;
        int32_t field_nl = nl;
        if (has_quote && p < re && b[p] == '"') {
            size_t r = p + 1, w = p;
            for (;;) {
                const char *q = memchr(b + r, '"', re - r);
                SL_ASSERT(q != NULL);
                size_t qi = (size_t)(q - b);
                memmove(b + w, b + r, qi - r);
                w += qi - r;
                if (qi + 1 < re && b[qi + 1] == '"') {
                    b[w++] = '"';
                    r = qi + 2;
                    continue;
                }
                r = qi + 1;
                break;
            }
            if (check_utf8) {
                size_t bad = utf8_invalid_at((const unsigned char *)b + p, w - p);
                if (bad < w - p) {
                    int64_t extra = count_newlines(b + p, bad);
                    st = field_error_at(c, c->line + nl + extra, f,
                                        "invalid UTF-8 text, expected UTF-8 without NUL bytes");
                    goto cleanup;
                }
            }
            int32_t inner = (int32_t)count_newlines(b + p, w - p);
            nl += inner;
            if (r < re && b[r] != c->delim) {
                st = field_error_at(c, c->line + nl, f,
                                    c->delim == ',' ? "text after the closing quote, expected a "
                                                      "comma or the end of the line"
                                                    : "text after the closing quote, expected a "
                                                      "tab or the end of the line");
                goto cleanup;
            }
            start = b + p;
            len = w - p;
            b[w] = '\0';
            p = r;
        } else {
            size_t fe = p;
            while (fe < re && b[fe] != c->delim)
                fe++;
            if (check_utf8) {
                size_t bad = utf8_invalid_at((const unsigned char *)b + p, fe - p);
                if (bad < fe - p) {
                    st = field_error_at(c, c->line + nl, f,
                                        "invalid UTF-8 text, expected UTF-8 without NUL bytes");
                    goto cleanup;
                }
            }
            start = b + p;
            len = fe - p;
            p = fe;
        }
        if (f >= c->fcap)
            SL_CALL(grow_fields(c, f + 1));
        c->fld[f] = start;
        c->flen[f] = len;
        c->fline[f] = field_nl;
        f++;
        if (p >= re) {
            b[p] = '\0';
            break;
        }
        b[p] = '\0';
        p++;
        if (p == re) {
            if (f >= c->fcap)
                SL_CALL(grow_fields(c, f + 1));
            c->fld[f] = b + p;
            c->flen[f] = 0;
            c->fline[f] = nl;
            b[p] = '\0';
            f++;
            break;
        }
    }
    c->nfields = f;
cleanup:
    return st;
}

/* Reads one non-empty record into the field arrays; *got = 0 at EOF. */
static sl_status read_record(struct sl_csv *c, int *got)
{
    sl_status st = SL_OK;
    *got = 0;
    for (;;) {
        char *b = c->buf->data;
        size_t rec_end = 0, next;
        int has_quote, need_more = 0;

        if (c->pos == c->end) {
            if (c->eof)
                goto cleanup;
            SL_CALL(refill(c));
            continue;
        }
        const char *nlp = memchr(b + c->pos, '\n', c->end - c->pos);
        size_t lim = nlp ? (size_t)(nlp - b) : c->end;
        has_quote = memchr(b + c->pos, '"', lim - c->pos) != NULL;
        if (has_quote) {
            SL_CALL(scan_quoted(c, &rec_end, &need_more));
        } else if (nlp) {
            rec_end = lim;
        } else if (c->eof) {
            rec_end = c->end;
        } else {
            need_more = 1;
        }
        if (need_more) {
            SL_CALL(refill(c));
            continue;
        }
        next = rec_end < c->end ? rec_end + 1 : rec_end;
        size_t re = rec_end;
        if (re > c->pos && b[re - 1] == '\r')
            re--;
        int64_t lines = (has_quote ? count_newlines(b + c->pos, rec_end - c->pos) : 0) +
                        (rec_end < c->end);
        if (re == c->pos) {
            c->line += lines;
            c->pos = next;
            continue;
        }
        c->rec_line = c->line;
        SL_CALL(split_record(c, c->pos, re, has_quote));
        c->line += lines;
        c->pos = next;
        *got = 1;
        goto cleanup;
    }
cleanup:
    return st;
}

static sl_status read_header(struct sl_csv *c)
{
    sl_status st = SL_OK;
    int got = 0;

    SL_CALL(refill(c));
    if (c->end - c->pos >= 3 && memcmp((char *)c->buf->data + c->pos, "\xEF\xBB\xBF", 3) == 0)
        c->pos += 3;
    SL_CALL(read_record(c, &got));
    SL_CHECK(got, SL_ERR_FORMAT, "%s: the file is empty, expected a header row of column names",
             c->path);
    c->names = sl_calloc((size_t)c->nfields, sizeof *c->names);
    SL_CHECK(c->names, SL_ERR_NOMEM, "out of memory");
    c->nnames = c->nfields;
    for (int i = 0; i < c->nfields; i++) {
        if (c->flen[i] == 0) {
            st = field_error_at(c, sl_csv_field_line(c, i), i,
                                "empty header name, expected a column name");
            goto cleanup;
        }
        c->names[i] = sl_strdup(c->fld[i]);
        SL_CHECK(c->names[i], SL_ERR_NOMEM, "out of memory");
    }
    {
        int64_t later, earlier;
        SL_CALL(sl_first_repeat((const char *const *)c->names, c->nfields, &later, &earlier));
        if (later >= 0) {
            st = field_error_at(c, sl_csv_field_line(c, (int)later), (int)later,
                                "header name '%s' repeats column %d, expected unique names",
                                c->names[later], (int)earlier + 1);
            goto cleanup;
        }
    }
    c->ncols = c->nfields;
    c->data_off = c->buf_off + (int64_t)c->pos;
    c->data_line = c->line;
cleanup:
    return st;
}

sl_status sl_csv_open(const char *path, struct sl_csv **out)
{
    return sl_csv_open_delim(path, ',', out);
}

sl_status sl_csv_open_delim(const char *path, char delim, struct sl_csv **out)
{
    sl_status st = SL_OK;
    struct sl_csv *c = NULL;
    struct stat sb;

    *out = NULL;
    SL_CHECK(delim == ',' || delim == '\t', SL_ERR_ARG, "a CSV field separator is ',' or a tab");
    c = sl_calloc(1, sizeof *c);
    SL_CHECK(c, SL_ERR_NOMEM, "out of memory");
    c->delim = delim;
    c->fd = -1;
    c->line = 1;
    c->path = sl_strdup(path);
    SL_CHECK(c->path, SL_ERR_NOMEM, "out of memory");
    c->fd = open(path, O_RDONLY | O_CLOEXEC);
    SL_CHECK(c->fd >= 0, SL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    SL_CHECK(fstat(c->fd, &sb) == 0, SL_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    SL_CHECK(!S_ISDIR(sb.st_mode), SL_ERR_IO, "%s: is a directory, expected a CSV file", path);
    c->size = (int64_t)sb.st_size;
    (void)posix_fadvise(c->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    if (sl_gz_magic(c->fd))
        SL_CALL(sl_gz_open(c->path, c->fd, &c->gz));
    SL_CALL(sl_secbuf_create(SL_CSV_BUF_INITIAL + 1, &c->buf));
    c->cap = SL_CSV_BUF_INITIAL;
    SL_CALL(grow_fields(c, 16));
    SL_CALL(read_header(c));
    *out = c;
    c = NULL;
cleanup:
    sl_csv_close(&c);
    return st;
}

void sl_csv_close(struct sl_csv **csv)
{
    struct sl_csv *c;
    if (!csv || !*csv)
        return;
    c = *csv;
    sl_gz_close(&c->gz);
    if (c->fd >= 0)
        close(c->fd);
    sl_secbuf_destroy(&c->buf);
    for (int i = 0; i < c->nnames; i++)
        sl_free(c->names[i]);
    sl_free(c->names);
    sl_free(c->fld);
    sl_free(c->flen);
    sl_free(c->fline);
    sl_free(c->path);
    sl_free(c);
    *csv = NULL;
}

sl_status sl_csv_next(struct sl_csv *csv, int *got)
{
    sl_status st = SL_OK;
    SL_CALL(read_record(csv, got));
    if (*got && csv->nfields != csv->ncols)
        SL_FAIL(SL_ERR_FORMAT, "%s:%lld: expected %d fields as in the header, found %d",
                csv->path, (long long)csv->rec_line, csv->ncols, csv->nfields);
cleanup:
    if (st != SL_OK)
        *got = 0;
    return st;
}

sl_status sl_csv_rewind(struct sl_csv *csv)
{
    sl_status st = SL_OK;
    csv->pos = csv->end = 0;
    csv->eof = 0;
    csv->nfields = 0;
    if (csv->gz) {
        /* inflated again from the start, up to the first record */
        SL_CALL(sl_gz_restart(csv->gz));
        csv->buf_off = 0;
        while (csv->buf_off + (int64_t)csv->end < csv->data_off && !csv->eof) {
            if (csv->end == csv->cap) { /* what lies before the first record */
                csv->buf_off += (int64_t)csv->end;
                csv->end = 0;
            }
            SL_CALL(refill(csv));
        }
        SL_CHECK(csv->buf_off + (int64_t)csv->end >= csv->data_off, SL_ERR_FORMAT,
                 "%s: the file changed while it was read", csv->path);
        csv->pos = (size_t)(csv->data_off - csv->buf_off);
    } else {
        SL_CHECK(lseek(csv->fd, (off_t)csv->data_off, SEEK_SET) == (off_t)csv->data_off,
                 SL_ERR_IO, "%s: cannot seek: %s", csv->path, strerror(errno));
        csv->buf_off = csv->data_off;
    }
    csv->line = csv->data_line;
cleanup:
    return st;
}
