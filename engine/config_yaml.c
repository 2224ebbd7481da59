/*
 * config_yaml.c: loading one YAML file and reading typed values from it with
 * "FILE:LINE:COL: what was wrong; what was expected" errors.
 *
 * The policy loader, the job loader and every analysis type's parameters go
 * through these getters so that a typo, a wrong type or a value out of range
 * is reported the same way everywhere, at the position of the offending
 * value. libfyaml's diagnostics are collected instead of printed, and its
 * syntax errors are re-worded in the same format.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "engine/config_impl.h"
#include "io/cohort.h"
#include "io/format.h"
#include "engine/core/alloc.h"
#include "engine/core/text.h"

enum { SL_YAML_MAX_BYTES = 1 << 20, SL_MSG_MAX = 1024 };

void sl_strbuf_append(char *buf, size_t size, const char *fmt, ...)
{
    size_t used = strnlen(buf, size);
    if (used + 1 >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + used, size - used, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n >= size - used && size >= 4)
        memcpy(buf + size - 4, "...", 4);
}

/* ---- loading ---- */

static void diag_sink(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
    (void)diag;
    struct sl_yaml *y = user;
    size_t n = len < sizeof y->diag_text - 1 ? len : sizeof y->diag_text - 1;
    memcpy(y->diag_text, buf, n);
    while (n > 0 && (y->diag_text[n - 1] == '\n' || y->diag_text[n - 1] == ' '))
        n--;
    y->diag_text[n] = '\0';
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return sl_strdup(".");
    if (slash == path)
        return sl_strdup("/");
    size_t n = (size_t)(slash - path);
    char *d = sl_malloc(n + 1);
    if (d != NULL) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

static sl_status read_file(struct sl_yaml *y, const char *what)
{
    sl_status st = SL_OK;
    FILE *fp = fopen(y->path, "rb");
    struct stat sb;
    struct sl_text_fault fault;
    SL_CHECK(fp != NULL, SL_ERR_IO, "cannot open the %s file '%s': %s", what, y->path,
             strerror(errno));
    SL_CHECK(fstat(fileno(fp), &sb) == 0, SL_ERR_IO, "cannot stat the %s file '%s': %s", what,
             y->path, strerror(errno));
    SL_CHECK(S_ISREG(sb.st_mode), SL_ERR_IO, "the %s file '%s' is not a regular file", what,
             y->path);
    SL_CHECK(sb.st_size <= SL_YAML_MAX_BYTES, SL_ERR_FORMAT,
             "%s: the %s file is %lld bytes; expected at most %d", y->path, what,
             (long long)sb.st_size, SL_YAML_MAX_BYTES);
    y->bytes = sl_malloc((size_t)sb.st_size + 1);
    SL_CHECK(y->bytes != NULL, SL_ERR_NOMEM, "out of memory reading '%s'", y->path);
    y->len = fread(y->bytes, 1, (size_t)sb.st_size, fp);
    SL_CHECK(!ferror(fp), SL_ERR_IO, "cannot read the %s file '%s': %s", what, y->path,
             strerror(errno));
    y->bytes[y->len] = '\0';
    SL_CHECK(sl_text_check(y->bytes, y->len, &fault), SL_ERR_FORMAT,
             "%s:%d:%d: %s; expected a %s file of UTF-8 text (YAML)", y->path, fault.line,
             fault.col, fault.why, what);
    SL_CHECK(EVP_Digest(y->bytes, y->len, y->sha256, NULL, EVP_sha256(), NULL) == 1,
             SL_ERR_INTERNAL, "SHA-256 of '%s' failed", y->path);
cleanup:
    if (fp != NULL)
        fclose(fp);
    return st;
}

/* The first collected libfyaml error as "path:line:col: YAML syntax error: ...". */
static sl_status syntax_error(const struct sl_yaml *y, const char *what)
{
    void *iter = NULL;
    struct fy_diag_error *e;
    while ((e = fy_diag_errors_iterate(y->diag, &iter)) != NULL) {
        if (e->type < FYET_ERROR)
            continue;
        return sl_error_set(SL_ERR_FORMAT, __FILE__, __LINE__, __func__,
                            "%s:%d:%d: YAML syntax error: %s; expected valid YAML (check "
                            "indentation, quotes, brackets and 'key: value' pairs)",
                            y->path, e->line, e->column, e->msg ? e->msg : "unparsable");
    }
    return sl_error_set(SL_ERR_FORMAT, __FILE__, __LINE__, __func__,
                        "%s: the %s file is not valid YAML (%s); expected a YAML mapping",
                        y->path, what, y->diag_text[0] ? y->diag_text : "no detail");
}

static bool got_errors(const struct sl_yaml *y)
{
    void *iter = NULL;
    return fy_diag_got_error(y->diag) || fy_diag_errors_iterate(y->diag, &iter) != NULL;
}

sl_status sl_yaml_load(const char *path, const char *what, struct sl_yaml **out)
{
    sl_status st = SL_OK;
    struct sl_yaml *y = NULL;
    struct fy_document *second = NULL;
    struct fy_diag_cfg dcfg;
    struct fy_parse_cfg pcfg;
    SL_CHECK(path != NULL && what != NULL && out != NULL, SL_ERR_ARG,
             "sl_yaml_load: NULL argument");
    *out = NULL;
    y = sl_calloc(1, sizeof *y);
    SL_CHECK(y != NULL, SL_ERR_NOMEM, "out of memory");
    y->path = sl_strdup(path);
    y->dir = dir_of(path);
    SL_CHECK(y->path != NULL && y->dir != NULL, SL_ERR_NOMEM, "out of memory");
    SL_CALL(read_file(y, what));

    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = diag_sink;
    dcfg.user = y;
    dcfg.colorize = false;
    y->diag = fy_diag_create(&dcfg);
    SL_CHECK(y->diag != NULL, SL_ERR_NOMEM, "out of memory creating a YAML parser");
    fy_diag_set_collect_errors(y->diag, true);
    memset(&pcfg, 0, sizeof pcfg);
    pcfg.flags = FYPCF_QUIET;
    pcfg.diag = y->diag;
    y->parser = fy_parser_create(&pcfg);
    SL_CHECK(y->parser != NULL, SL_ERR_NOMEM, "out of memory creating a YAML parser");
    SL_CHECK(fy_parser_set_string(y->parser, y->bytes, y->len) == 0, SL_ERR_NOMEM,
             "out of memory creating a YAML parser");

    y->doc = fy_parse_load_document(y->parser);
    if (got_errors(y))
        SL_CALL(syntax_error(y, what));
    SL_CHECK(y->doc != NULL, SL_ERR_FORMAT, "%s: the %s file is empty; expected a YAML mapping",
             path, what);
    struct fy_node *root = fy_document_root(y->doc);
    if (root == NULL || fy_node_get_type(root) != FYNT_MAPPING) {
        char desc[96];
        sl_yaml_describe(root, desc, sizeof desc);
        SL_FAIL(SL_ERR_FORMAT, "%s:1:1: the %s file is %s; expected a mapping of 'key: value' "
                "lines", path, what, desc);
    }
    second = fy_parse_load_document(y->parser);
    if (got_errors(y))
        SL_CALL(syntax_error(y, what));
    if (second != NULL) {
        struct fy_node *r2 = fy_document_root(second);
        SL_YAML_FAIL(y, r2, NULL,
                     "a second YAML document follows '---'; expected exactly one document "
                     "per %s file",
                     what);
    }
    *out = y;
    y = NULL;
cleanup:
    if (second != NULL)
        fy_parse_document_destroy(y->parser, second);
    sl_yaml_destroy(&y);
    return st;
}

void sl_yaml_destroy(struct sl_yaml **yp)
{
    if (yp == NULL || *yp == NULL)
        return;
    struct sl_yaml *y = *yp;
    if (y->doc != NULL)
        fy_parse_document_destroy(y->parser, y->doc);
    if (y->parser != NULL)
        fy_parser_destroy(y->parser);
    if (y->diag != NULL)
        fy_diag_destroy(y->diag);
    sl_free(y->bytes);
    sl_free(y->dir);
    sl_free(y->path);
    sl_free(y);
    *yp = NULL;
}

struct fy_node *sl_yaml_root(const struct sl_yaml *y)
{
    return fy_document_root(y->doc);
}

/* ---- positions and messages ---- */

static bool node_mark(struct fy_node *n, int *line, int *col)
{
    if (n == NULL)
        return false;
    struct fy_document_iterator *it = fy_document_iterator_create();
    if (it == NULL)
        return false;
    bool ok = false;
    fy_document_iterator_node_start(it, n);
    struct fy_event *ev = fy_document_iterator_body_next(it);
    if (ev != NULL) {
        const struct fy_mark *m = fy_event_start_mark(ev);
        if (m != NULL && m->line >= 0 && m->column >= 0) {
            *line = m->line + 1;
            *col = m->column + 1;
            ok = true;
        }
        fy_document_iterator_event_free(it, ev);
    }
    fy_document_iterator_destroy(it);
    return ok;
}

void sl_yaml_mark(struct fy_node *n, struct fy_node *fallback, int *line, int *col)
{
    *line = 0;
    *col = 0;
    if (!node_mark(n, line, col))
        node_mark(fallback, line, col);
}

void sl_yaml_where(const struct sl_yaml *y, struct fy_node *n, struct fy_node *fallback,
                   char *buf, size_t size)
{
    int line, col;
    sl_yaml_mark(n, fallback, &line, &col);
    if (line > 0)
        snprintf(buf, size, "%s:%d:%d", y->path, line, col);
    else
        snprintf(buf, size, "%s", y->path);
}

sl_status sl_yaml_error(const struct sl_yaml *y, struct fy_node *n, struct fy_node *fallback,
                        const char *file, int line, const char *func, const char *fmt, ...)
{
    char where[512];
    char msg[SL_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sl_yaml_where(y, n, fallback, where, sizeof where);
    return sl_error_set(SL_ERR_FORMAT, file, line, func, "%s: %s", where, msg);
}

const char *sl_yaml_scalar(struct fy_node *n, bool *plain)
{
    if (n == NULL || fy_node_get_type(n) != FYNT_SCALAR || fy_node_is_alias(n))
        return NULL;
    if (plain != NULL)
        *plain = fy_node_get_style(n) == FYNS_PLAIN;
    const char *s = fy_node_get_scalar0(n);
    return s != NULL ? s : "";
}

static bool is_null(struct fy_node *n)
{
    bool plain = true;
    const char *s = sl_yaml_scalar(n, &plain);
    if (n == NULL)
        return true;
    if (s == NULL || !plain)
        return false;
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

void sl_yaml_describe(struct fy_node *n, char *buf, size_t size)
{
    if (is_null(n)) {
        snprintf(buf, size, "empty");
        return;
    }
    if (fy_node_is_alias(n)) {
        snprintf(buf, size, "an alias (YAML '*name' references are not supported)");
        return;
    }
    switch (fy_node_get_type(n)) {
    case FYNT_MAPPING: snprintf(buf, size, "a mapping"); return;
    case FYNT_SEQUENCE: snprintf(buf, size, "a list"); return;
    case FYNT_SCALAR: break;
    }
    bool plain = true;
    const char *s = sl_yaml_scalar(n, &plain);
    int len = (int)strnlen(s, 41);
    const char *more = len > 40 ? "..." : "";
    if (len > 40)
        len = 40;
    if (plain)
        snprintf(buf, size, "'%.*s%s'", len, s, more);
    else
        snprintf(buf, size, "the quoted string \"%.*s%s\"", len, s, more);
}

/* ---- maps ---- */

void sl_ymap_init(struct sl_ymap *m, const struct sl_yaml *y, struct fy_node *node,
                  struct fy_node *at, const char *ctx, const char *prefix)
{
    m->y = y;
    m->node = node;
    m->at = at;
    snprintf(m->ctx, sizeof m->ctx, "%s", ctx);
    snprintf(m->prefix, sizeof m->prefix, "%s", prefix);
}

static void lower_copy(const char *s, char *out, size_t size)
{
    size_t i = 0;
    for (; s[i] != '\0' && i + 1 < size; i++)
        out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
    out[i] = '\0';
}

void sl_column_hint(const struct sl_colinfo *cols, int ncols, const char *name, char *out,
                    size_t size)
{
    char want[72], have[72];
    int cap = (int)strlen(name) / 3 + 1, best, shown = 0;

    if (cap > 3)
        cap = 3;
    best = cap;
    out[0] = '\0';
    lower_copy(name, want, sizeof want);
    for (int i = 0; i < ncols; i++) {
        int d;
        lower_copy(cols[i].name, have, sizeof have);
        d = sl_edit_distance(want, have, cap);
        best = d < best ? d : best;
    }
    for (int i = 0; i < ncols && best < cap && shown < 5; i++) {
        lower_copy(cols[i].name, have, sizeof have);
        if (sl_edit_distance(want, have, cap) == best)
            sl_strbuf_append(out, size, "%s'%s'", shown++ ? ", " : "did you mean ",
                             cols[i].name);
    }
    if (shown > 0) {
        sl_strbuf_append(out, size, "?");
        return;
    }
    for (int i = 0; i < ncols && i < 10; i++)
        sl_strbuf_append(out, size, "%s%s", i ? ", " : "expected one of the cohort's columns: ",
                         cols[i].name);
    if (ncols > 10)
        sl_strbuf_append(out, size, ", ...");
}

sl_status sl_column_find(const struct sl_cohort *c, const char *name, const char *where,
                         const char *role, int *col)
{
    sl_status st = SL_OK;
    char hint[640];

    *col = sl_cohort_find(c, name);
    if (*col >= 0)
        return SL_OK;
    sl_column_hint(sl_cohort_col(c, 0), sl_cohort_ncols(c), name, hint, sizeof hint);
    SL_FAIL(SL_ERR_FORMAT, "%s: the cohort has no column '%s'%s%s%s; %s", where, name,
            role ? " (" : "", role ? role : "", role ? ")" : "", hint);
cleanup:
    return st;
}

int sl_edit_distance(const char *a, const char *b, int cap)
{
    size_t la = strlen(a), lb = strlen(b);
    int row[65];
    if (la > 64 || lb > 64)
        return cap;
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        int best = row[0];
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int v = diag + (a[i - 1] == b[j - 1] ? 0 : 1);
            if (up + 1 < v)
                v = up + 1;
            if (row[j - 1] + 1 < v)
                v = row[j - 1] + 1;
            row[j] = v;
            diag = up;
            if (v < best)
                best = v;
        }
        if (best >= cap)
            return cap;
    }
    return row[lb] < cap ? row[lb] : cap;
}

static bool in_list(const char *s, const char *const *list)
{
    for (; list != NULL && *list != NULL; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

static const char *closest(const char *s, const char *const *a, const char *const *b)
{
    const char *best = NULL;
    int bestd = (int)strlen(s) / 3 + 1;
    if (bestd > 3)
        bestd = 3;
    bestd++;
    const char *const *lists[2] = {a, b};
    for (int l = 0; l < 2; l++)
        for (const char *const *k = lists[l]; k != NULL && *k != NULL; k++) {
            int d = sl_edit_distance(s, *k, bestd);
            if (d < bestd) {
                bestd = d;
                best = *k;
            }
        }
    return best;
}

sl_status sl_ymap_only(const struct sl_ymap *m, const char *const *known,
                       const char *const *extra)
{
    sl_status st = SL_OK;
    void *iter = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(m->node, &iter)) != NULL) {
        struct fy_node *k = fy_node_pair_key(pair);
        bool plain;
        const char *name = sl_yaml_scalar(k, &plain);
        if (name == NULL) {
            char desc[96];
            sl_yaml_describe(k, desc, sizeof desc);
            SL_YAML_FAIL(m->y, k, m->at, "a key in %s is %s; expected a plain name", m->ctx,
                         desc);
        }
        if (in_list(name, known) || in_list(name, extra))
            continue;
        char accepted[512] = "";
        const char *const *lists[2] = {known, extra};
        for (int l = 0; l < 2; l++)
            for (const char *const *kk = lists[l]; kk != NULL && *kk != NULL; kk++)
                sl_strbuf_append(accepted, sizeof accepted, "%s%s", accepted[0] ? ", " : "",
                                 *kk);
        const char *near = closest(name, known, extra);
        char hint[96] = "";
        if (near != NULL)
            snprintf(hint, sizeof hint, "did you mean '%s'? ", near);
        SL_YAML_FAIL(m->y, k, m->at, "unknown key '%.64s' in %s; %saccepted keys: %s", name,
                     m->ctx, hint, accepted);
    }
cleanup:
    return st;
}

struct fy_node *sl_ymap_get(const struct sl_ymap *m, const char *key, struct fy_node **keyp)
{
    void *iter = NULL;
    struct fy_node_pair *pair;
    if (keyp != NULL)
        *keyp = NULL;
    while ((pair = fy_node_mapping_iterate(m->node, &iter)) != NULL) {
        struct fy_node *k = fy_node_pair_key(pair);
        const char *name = sl_yaml_scalar(k, NULL);
        if (name != NULL && strcmp(name, key) == 0) {
            if (keyp != NULL)
                *keyp = k;
            return fy_node_pair_value(pair);
        }
    }
    return NULL;
}

/* Looks `key` up. Absent: error when required, else *present false. */
static sl_status lookup(const struct sl_ymap *m, const char *key, bool required,
                        const char *expect, struct fy_node **val, struct fy_node **keyn,
                        bool *present)
{
    sl_status st = SL_OK;
    *present = false;
    *val = NULL;
    *keyn = NULL;
    bool has = false;
    void *iter = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(m->node, &iter)) != NULL) {
        const char *name = sl_yaml_scalar(fy_node_pair_key(pair), NULL);
        if (name != NULL && strcmp(name, key) == 0) {
            has = true;
            *keyn = fy_node_pair_key(pair);
            *val = fy_node_pair_value(pair);
            break;
        }
    }
    if (!has && required)
        SL_YAML_FAIL(m->y, m->node, m->at, "%s needs '%s'; expected %s", m->ctx, key, expect);
    *present = has;
cleanup:
    return st;
}

static sl_status wrong(const struct sl_ymap *m, const char *name, struct fy_node *val,
                       struct fy_node *keyn, const char *expect, const char *file, int line,
                       const char *func)
{
    char desc[96];
    sl_yaml_describe(val, desc, sizeof desc);
    return sl_yaml_error(m->y, val, keyn, file, line, func, "%s%s is %s; expected %s",
                         m->prefix, name, desc, expect);
}
#define SL_WRONG(m, name, val, keyn, expect)                                            \
    do {                                                                                \
        st = wrong((m), (name), (val), (keyn), (expect), __FILE__, __LINE__, __func__); \
        goto cleanup;                                                                   \
    } while (0)

static void set_found(bool *found, bool v)
{
    if (found != NULL)
        *found = v;
}

static const char *string_of(struct fy_node *val)
{
    if (is_null(val))
        return NULL;
    return sl_yaml_scalar(val, NULL);
}

sl_status sl_ymap_string(const struct sl_ymap *m, const char *key, bool required,
                         const char **out, bool *found)
{
    sl_status st = SL_OK;
    struct fy_node *val, *keyn;
    bool present;
    static const char expect[] = "a string";
    SL_CALL(lookup(m, key, required, expect, &val, &keyn, &present));
    set_found(found, present);
    if (!present)
        goto cleanup;
    const char *s = string_of(val);
    if (s == NULL)
        SL_WRONG(m, key, val, keyn, expect);
    *out = s;
cleanup:
    return st;
}

static bool parse_i64(const char *s, int64_t *out)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return false;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = (int64_t)v;
    return true;
}

sl_status sl_ymap_int(const struct sl_ymap *m, const char *key, bool required, int64_t lo,
                      int64_t hi, int64_t *out, bool *found)
{
    sl_status st = SL_OK;
    struct fy_node *val, *keyn;
    bool present, plain = false;
    char expect[96];
    if (lo == INT64_MIN && hi == INT64_MAX)
        snprintf(expect, sizeof expect, "an integer");
    else if (hi == INT64_MAX)
        snprintf(expect, sizeof expect, "an integer >= %lld", (long long)lo);
    else
        snprintf(expect, sizeof expect, "an integer from %lld to %lld", (long long)lo,
                 (long long)hi);
    SL_CALL(lookup(m, key, required, expect, &val, &keyn, &present));
    set_found(found, present);
    if (!present)
        goto cleanup;
    const char *s = sl_yaml_scalar(val, &plain);
    int64_t v;
    if (s == NULL || !plain || !parse_i64(s, &v) || v < lo || v > hi)
        SL_WRONG(m, key, val, keyn, expect);
    *out = v;
cleanup:
    return st;
}

static bool parse_double(const char *s, double *out)
{
    if (*s == '\0')
        return false;
    for (const char *q = s; *q; q++)
        if (!((*q >= '0' && *q <= '9') || *q == '.' || *q == 'e' || *q == 'E' || *q == '+' ||
              *q == '-'))
            return false;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (*end != '\0' || !isfinite(v))
        return false;
    *out = v;
    return true;
}

sl_status sl_ymap_double(const struct sl_ymap *m, const char *key, bool required, double *out,
                         bool *found)
{
    sl_status st = SL_OK;
    struct fy_node *val, *keyn;
    bool present, plain = false;
    static const char expect[] = "a number";
    SL_CALL(lookup(m, key, required, expect, &val, &keyn, &present));
    set_found(found, present);
    if (!present)
        goto cleanup;
    const char *s = sl_yaml_scalar(val, &plain);
    double v;
    if (s == NULL || !plain || !parse_double(s, &v))
        SL_WRONG(m, key, val, keyn, expect);
    *out = v;
cleanup:
    return st;
}

sl_status sl_ymap_bool(const struct sl_ymap *m, const char *key, bool required, bool *out,
                       bool *found)
{
    sl_status st = SL_OK;
    struct fy_node *val, *keyn;
    bool present, plain = false;
    static const char expect[] = "true or false";
    SL_CALL(lookup(m, key, required, expect, &val, &keyn, &present));
    set_found(found, present);
    if (!present)
        goto cleanup;
    const char *s = sl_yaml_scalar(val, &plain);
    if (s != NULL && plain &&
        (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0))
        *out = true;
    else if (s != NULL && plain &&
             (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0))
        *out = false;
    else
        SL_WRONG(m, key, val, keyn, expect);
cleanup:
    return st;
}

/* ---- exact decimals ---- */

bool sl_ratio_parse(const char *s, struct sl_ratio *out)
{
    int64_t num = 0, den = 1;
    int ndig = 0, nfrac = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++, ndig++) {
        if (ndig >= 9)
            return false;
        num = num * 10 + (*p - '0');
    }
    if (ndig == 0)
        return false;
    if (*p == '.') {
        p++;
        for (; *p >= '0' && *p <= '9'; p++, nfrac++) {
            if (nfrac >= 9)
                return false;
            num = num * 10 + (*p - '0');
            den *= 10;
        }
        if (nfrac == 0)
            return false;
    }
    if (*p != '\0')
        return false;
    out->num = num;
    out->den = den;
    return true;
}

int sl_ratio_cmp(struct sl_ratio a, struct sl_ratio b)
{
    /* Compares a.num/a.den with b.num/b.den by continued fractions: integer
     * parts first, then the reciprocals of the remainders (order reversed). */
    int sign = 1;
    int64_t an = a.num, ad = a.den, bn = b.num, bd = b.den;
    if ((an < 0) != (bn < 0))
        return an < 0 ? -1 : 1;
    if (an < 0) {
        an = -an;
        bn = -bn;
        sign = -1;
    }
    for (;;) {
        int64_t qa = an / ad, qb = bn / bd;
        if (qa != qb)
            return qa < qb ? -sign : sign;
        int64_t ra = an % ad, rb = bn % bd;
        if (ra == 0 || rb == 0) {
            if (ra == rb)
                return 0;
            return ra == 0 ? -sign : sign;
        }
        an = ad;
        ad = ra;
        bn = bd;
        bd = rb;
        sign = -sign;
    }
}

void sl_ratio_format(struct sl_ratio r, char *buf, size_t size)
{
    int64_t d = r.den;
    int digits = 0;
    while (d > 1 && d % 10 == 0) {
        d /= 10;
        digits++;
    }
    if (d != 1 || r.num < 0) {
        snprintf(buf, size, "%lld/%lld", (long long)r.num, (long long)r.den);
        return;
    }
    if (digits == 0) {
        snprintf(buf, size, "%lld", (long long)r.num);
        return;
    }
    char frac[24];
    int64_t rem = r.num % r.den;
    for (int i = digits - 1; i >= 0; i--) {
        frac[i] = (char)('0' + rem % 10);
        rem /= 10;
    }
    frac[digits] = '\0';
    snprintf(buf, size, "%lld.%s", (long long)(r.num / r.den), frac);
}

sl_status sl_ymap_ratio(const struct sl_ymap *m, const char *key, bool required,
                        struct sl_ratio lo, bool lo_open, struct sl_ratio hi,
                        struct sl_ratio *out, bool *found)
{
    sl_status st = SL_OK;
    struct fy_node *val, *keyn;
    bool present, plain = false;
    char los[32], his[32], expect[128];
    sl_ratio_format(lo, los, sizeof los);
    sl_ratio_format(hi, his, sizeof his);
    snprintf(expect, sizeof expect,
             "a decimal number in %s%s, %s] written without quotes, such as 0.9",
             lo_open ? "(" : "[", los, his);
    SL_CALL(lookup(m, key, required, expect, &val, &keyn, &present));
    set_found(found, present);
    if (!present)
        goto cleanup;
    const char *s = sl_yaml_scalar(val, &plain);
    struct sl_ratio r;
    if (s == NULL || !plain || !sl_ratio_parse(s, &r))
        SL_WRONG(m, key, val, keyn, expect);
    int c = sl_ratio_cmp(r, lo);
    if (c < 0 || (c == 0 && lo_open) || sl_ratio_cmp(r, hi) > 0)
        SL_WRONG(m, key, val, keyn, expect);
    *out = r;
cleanup:
    return st;
}

/* ---- lists and sub-maps ---- */

sl_status sl_ymap_strings(const struct sl_ymap *m, const char *key, bool required,
                          const char ***out, int *count, bool *found)
{
    sl_status st = SL_OK;
    struct fy_node *val, *keyn;
    bool present;
    const char **arr = NULL;
    static const char expect[] = "a string or a list of strings";
    SL_CALL(lookup(m, key, required, expect, &val, &keyn, &present));
    set_found(found, present);
    if (!present)
        goto cleanup;
    int n = 0;
    if (val != NULL && !fy_node_is_alias(val) && fy_node_get_type(val) == FYNT_SEQUENCE) {
        n = fy_node_sequence_item_count(val);
        if (n > 0) {
            arr = sl_calloc((size_t)n, sizeof *arr);
            SL_CHECK(arr != NULL, SL_ERR_NOMEM, "out of memory");
        }
        void *iter = NULL;
        struct fy_node *item;
        for (int i = 0; (item = fy_node_sequence_iterate(val, &iter)) != NULL; i++) {
            arr[i] = string_of(item);
            if (arr[i] == NULL) {
                char desc[96], name[160];
                sl_yaml_describe(item, desc, sizeof desc);
                snprintf(name, sizeof name, "%s item %d", key, i + 1);
                SL_YAML_FAIL(m->y, item, keyn, "%s%s is %s; expected a string", m->prefix,
                             name, desc);
            }
        }
    } else {
        const char *s = string_of(val);
        if (s == NULL)
            SL_WRONG(m, key, val, keyn, expect);
        arr = sl_malloc(sizeof *arr);
        SL_CHECK(arr != NULL, SL_ERR_NOMEM, "out of memory");
        arr[0] = s;
        n = 1;
    }
    *out = arr;
    *count = n;
    arr = NULL;
cleanup:
    sl_free(arr);
    return st;
}

sl_status sl_ymap_doubles(const struct sl_ymap *m, const char *key, bool required,
                          double **out, int *count, bool *found)
{
    sl_status st = SL_OK;
    struct fy_node *val, *keyn;
    bool present, plain = false;
    double *arr = NULL;
    static const char expect[] = "a number or a list of numbers";
    SL_CALL(lookup(m, key, required, expect, &val, &keyn, &present));
    set_found(found, present);
    if (!present)
        goto cleanup;
    int n = 0;
    if (val != NULL && !fy_node_is_alias(val) && fy_node_get_type(val) == FYNT_SEQUENCE) {
        n = fy_node_sequence_item_count(val);
        if (n > 0) {
            arr = sl_calloc((size_t)n, sizeof *arr);
            SL_CHECK(arr != NULL, SL_ERR_NOMEM, "out of memory");
        }
        void *iter = NULL;
        struct fy_node *item;
        for (int i = 0; (item = fy_node_sequence_iterate(val, &iter)) != NULL; i++) {
            const char *s = sl_yaml_scalar(item, &plain);
            if (s == NULL || !plain || !parse_double(s, &arr[i])) {
                char desc[96], name[160];
                sl_yaml_describe(item, desc, sizeof desc);
                snprintf(name, sizeof name, "%s item %d", key, i + 1);
                SL_YAML_FAIL(m->y, item, keyn, "%s%s is %s; expected a number", m->prefix,
                             name, desc);
            }
        }
    } else {
        const char *s = sl_yaml_scalar(val, &plain);
        double v;
        if (s == NULL || !plain || !parse_double(s, &v))
            SL_WRONG(m, key, val, keyn, expect);
        arr = sl_malloc(sizeof *arr);
        SL_CHECK(arr != NULL, SL_ERR_NOMEM, "out of memory");
        arr[0] = v;
        n = 1;
    }
    *out = arr;
    *count = n;
    arr = NULL;
cleanup:
    sl_free(arr);
    return st;
}

sl_status sl_ymap_map(const struct sl_ymap *m, const char *key, bool required,
                      struct sl_ymap *out, bool *found)
{
    sl_status st = SL_OK;
    struct fy_node *val, *keyn;
    bool present;
    static const char expect[] = "a mapping of 'key: value' pairs";
    SL_CALL(lookup(m, key, required, expect, &val, &keyn, &present));
    set_found(found, present);
    if (!present)
        goto cleanup;
    if (val == NULL || fy_node_is_alias(val) || fy_node_get_type(val) != FYNT_MAPPING)
        SL_WRONG(m, key, val, keyn, expect);
    char name[sizeof out->prefix - 1];
    int w = snprintf(name, sizeof name, "%s%s", m->prefix, key);
    SL_CHECK(w > 0 && (size_t)w < sizeof name, SL_ERR_FORMAT, "%s: '%s' is nested too deeply",
             m->y->path, key);
    out->y = m->y;
    out->node = val;
    out->at = keyn;
    snprintf(out->ctx, sizeof out->ctx, "%s", name);
    snprintf(out->prefix, sizeof out->prefix, "%s.", name);
cleanup:
    return st;
}

sl_status sl_ymap_list(const struct sl_ymap *m, const char *key, bool required,
                       const char *expect, struct fy_node **out, bool *found)
{
    sl_status st = SL_OK;
    struct fy_node *val, *keyn;
    bool present;
    SL_CALL(lookup(m, key, required, expect, &val, &keyn, &present));
    set_found(found, present);
    if (!present)
        goto cleanup;
    if (val == NULL || fy_node_is_alias(val) || fy_node_get_type(val) != FYNT_SEQUENCE)
        SL_WRONG(m, key, val, keyn, expect);
    *out = val;
cleanup:
    return st;
}
