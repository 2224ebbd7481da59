/*
 * schema.c: reading, checking and writing column schemas (schema.h), the
 * rules that infer one from a CSV header and its values, and the text forms of
 * integer, real and date values shared by inference and conversion.
 */
#include "io/schema.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libfyaml.h>

#include "engine/core/alloc.h"
#include "engine/core/text.h"
#include "io/yaml_impl.h"

/* ---- lifetime ---- */

sl_status sl_schema_create(int ncols, struct sl_schema **out)
{
    sl_status st = SL_OK;
    struct sl_schema *s = NULL;

    *out = NULL;
    SL_CHECK(ncols > 0, SL_ERR_ARG, "a schema needs at least one column");
    s = sl_calloc(1, sizeof *s);
    SL_CHECK(s, SL_ERR_NOMEM, "out of memory");
    s->id_col = -1;
    s->cols = sl_calloc((size_t)ncols, sizeof *s->cols);
    s->name_line = sl_calloc((size_t)ncols, sizeof *s->name_line);
    s->name_col = sl_calloc((size_t)ncols, sizeof *s->name_col);
    s->levels_fixed = sl_calloc((size_t)ncols, sizeof *s->levels_fixed);
    SL_CHECK(s->cols && s->name_line && s->name_col && s->levels_fixed, SL_ERR_NOMEM,
             "out of memory");
    s->ncols = ncols;
    for (int i = 0; i < ncols; i++) {
        s->cols[i].lower = NAN;
        s->cols[i].upper = NAN;
    }
    *out = s;
    s = NULL;
cleanup:
    sl_schema_destroy(&s);
    return st;
}

static void free_levels(struct sl_colinfo *c)
{
    for (int32_t j = 0; j < c->nlevels; j++)
        sl_free(c->levels[j]);
    sl_free(c->levels);
    c->levels = NULL;
    c->nlevels = 0;
}

void sl_schema_destroy(struct sl_schema **s)
{
    if (!s || !*s)
        return;
    if ((*s)->cols) {
        for (int i = 0; i < (*s)->ncols; i++) {
            sl_free((*s)->cols[i].name);
            free_levels(&(*s)->cols[i]);
        }
    }
    sl_free((*s)->cols);
    sl_free((*s)->name_line);
    sl_free((*s)->name_col);
    sl_free((*s)->levels_fixed);
    sl_free((*s)->path);
    sl_free(*s);
    *s = NULL;
}

sl_status sl_schema_set_levels(struct sl_schema *s, int col, int32_t nlevels,
                               const char *const *levels)
{
    sl_status st = SL_OK;
    char **copy = NULL;
    int32_t done = 0;

    SL_CHECK(col >= 0 && col < s->ncols && nlevels >= 0 && nlevels <= SL_SCHEMA_MAX_LEVELS,
             SL_ERR_ARG, "bad column or level count for a schema");
    if (nlevels > 0) {
        copy = sl_calloc((size_t)nlevels, sizeof *copy);
        SL_CHECK(copy, SL_ERR_NOMEM, "out of memory");
        for (; done < nlevels; done++) {
            copy[done] = sl_strdup(levels[done]);
            SL_CHECK(copy[done], SL_ERR_NOMEM, "out of memory");
        }
    }
    free_levels(&s->cols[col]);
    s->cols[col].levels = copy;
    s->cols[col].nlevels = nlevels;
    copy = NULL;
cleanup:
    if (copy) {
        for (int32_t j = 0; j < done; j++)
            sl_free(copy[j]);
        sl_free(copy);
    }
    return st;
}

/* ---- values ---- */

static void trim(const char **s, size_t *len)
{
    const char *p = *s;
    size_t n = *len;
    while (n > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    *s = p;
    *len = n;
}

/* Integer text without surrounding blanks. */
static int parse_int_raw(const char *s, size_t len, int64_t *out)
{
    uint64_t v = 0;
    int neg = 0;
    size_t i = 0;

    if (len == 0)
        return -1;
    if (s[0] == '-' || s[0] == '+') {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == len)
        return -1;
    for (; i < len; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9)
            return -1;
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v > (uint64_t)INT64_MAX)
        return -1; /* so -INT64_MIN, the missing marker, is refused too */
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

int sl_parse_int(const char *s, size_t len, int64_t *out)
{
    trim(&s, &len);
    return parse_int_raw(s, len, out);
}

/* Checks the decimal number grammar  [+-] digits [. digits] [(e|E) [+-] digits]
 * (at least one digit before the exponent) on text without surrounding
 * blanks. *intform is set when the text has neither point nor exponent. When
 * the value fits the exact fast path (at most 19 digits whose value is below
 * 2^53, and a power of ten up to 22) it is computed, correctly rounded, into
 * *out. Returns -1 for bad text, 1 when *out was set, 0 when the caller must
 * use strtod. */
static int real_scan(const char *s, size_t len, double *out, int *intform)
{
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const char *p = s, *e = s + len;
    int neg = 0, nd = 0, frac = 0, point = 0;
    uint64_t m = 0;
    long ex = 0;

    *intform = 0;
    if (p < e && (*p == '-' || *p == '+'))
        neg = *p++ == '-';
    for (; p < e && (unsigned)(*p - '0') <= 9; p++, nd++)
        if (nd < 19)
            m = m * 10 + (uint64_t)(*p - '0');
    if (p < e && *p == '.') {
        p++;
        point = 1;
        for (; p < e && (unsigned)(*p - '0') <= 9; p++, nd++, frac++)
            if (nd < 19)
                m = m * 10 + (uint64_t)(*p - '0');
    }
    if (nd == 0)
        return -1;
    if (p < e && (*p == 'e' || *p == 'E')) {
        int eneg = 0, edig = 0;
        p++;
        if (p < e && (*p == '-' || *p == '+'))
            eneg = *p++ == '-';
        for (; p < e && (unsigned)(*p - '0') <= 9; p++, edig++)
            if (ex < 100000)
                ex = ex * 10 + (*p - '0');
        if (edig == 0)
            return -1;
        if (eneg)
            ex = -ex;
    } else {
        *intform = !point;
    }
    if (p != e)
        return -1;
    if (nd > 19 || m > (1ull << 53))
        return 0;
    long p10 = ex - frac;
    double v = (double)m;
    if (p10 < 0 && p10 >= -22)
        v /= pow10[-p10];
    else if (p10 >= 0 && p10 <= 22)
        v *= pow10[p10];
    else if (m != 0)
        return 0;
    *out = neg ? -v : v;
    return 1;
}

int sl_parse_real(const char *s, size_t len, double *out)
{
    double v;
    char *end;
    int r, intform;

    trim(&s, &len);
    r = real_scan(s, len, &v, &intform);
    if (r < 0)
        return -1;
    if (r == 0) {
        errno = 0;
        v = strtod(s, &end);
        if (end != s + len)
            return -1;
        if (!isfinite(v))
            return -1;
    }
    *out = v;
    return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* YYYY-MM-DD without surrounding blanks. */
static int parse_date_raw(const char *s, size_t len, int32_t *out)
{
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y = 0, m, d;

    if (len != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return -1;
    for (int i = 0; i < 4; i++)
        y = y * 10 + (unsigned)(s[i] - '0');
    m = (unsigned)(s[5] - '0') * 10 + (unsigned)(s[6] - '0');
    d = (unsigned)(s[8] - '0') * 10 + (unsigned)(s[9] - '0');
    if (y == 0 || m < 1 || m > 12 || d < 1)
        return -1;
    unsigned leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[m - 1] + (m == 2 ? leap : 0))
        return -1;
    *out = (int32_t)days_from_civil(y, m, d);
    return 0;
}

int sl_parse_date(const char *s, size_t len, int32_t *out)
{
    trim(&s, &len);
    return parse_date_raw(s, len, out);
}

void sl_format_date(int32_t days, char out[11])
{
    int64_t z = (int64_t)days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    if (y < 1 || y > 9999) {
        memcpy(out, "0000-00-00", 11);
        return;
    }
    snprintf(out, 11, "%04d-%02u-%02u", (int)y, m % 100, d % 100);
}

unsigned sl_value_kinds(const char *s, size_t len)
{
    int64_t iv;
    double dv;
    int32_t day;
    int intform, r;

    trim(&s, &len);
    if (len == 0)
        return 0;
    r = real_scan(s, len, &dv, &intform);
    if (r == 0) {
        /* the slow path, as sl_parse_real takes it: a number past the range
         * of a double (1e999) is not a real, or inference would pick a type
         * that the second pass then refuses */
        char small[64], *z = len < sizeof small ? small : sl_malloc(len + 1);
        if (!z)
            return 0;
        memcpy(z, s, len);
        z[len] = '\0';
        r = isfinite(strtod(z, NULL)) ? 0 : -1;
        if (z != small)
            sl_free(z);
    }
    if (r >= 0)
        return intform && parse_int_raw(s, len, &iv) == 0 ? SL_KIND_INT | SL_KIND_REAL
                                                           : SL_KIND_REAL;
    if (len == 10 && s[4] == '-' && parse_date_raw(s, len, &day) == 0)
        return SL_KIND_DATE;
    return 0;
}

/* ---- inference rules ---- */

int sl_schema_guess_id(const char *const *names, int n)
{
    static const char *const id_names[] = {"patient_id", "person_id", "subject_id",
                                           "participant_id", "patientid", "personid",
                                           "subjectid", "id"};
    for (size_t k = 0; k < sizeof id_names / sizeof id_names[0]; k++)
        for (int i = 0; i < n; i++)
            if (strcasecmp(names[i], id_names[k]) == 0)
                return i;
    return -1;
}

/* Calls back for each lowercased alphanumeric word of name; stops at the
 * first word for which match() returns 1. */
static int any_word(const char *name, int (*match)(const char *word))
{
    char word[64];
    size_t n = 0;
    for (const char *p = name;; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch != '\0' && isalnum(ch)) {
            if (n + 1 < sizeof word)
                word[n++] = (char)tolower(ch);
            continue;
        }
        if (n > 0) {
            word[n] = '\0';
            if (match(word))
                return 1;
            n = 0;
        }
        if (ch == '\0')
            return 0;
    }
}

static int quasi_word(const char *w)
{
    static const char *const words[] = {
        "age",      "sex",      "gender",   "region", "postcode", "postal",     "zip",
        "zipcode",  "dob",      "birth",    "birthdate", "ethnicity", "ethnic", "race",
        "country",  "county",   "district", "area",   "occupation", "marital",  "yob"};
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++)
        if (strcmp(w, words[k]) == 0)
            return 1;
    return strstr(w, "birth") != NULL || strstr(w, "postcode") != NULL ||
           strstr(w, "zipcode") != NULL;
}

static int sensitive_word(const char *w)
{
    static const char *const stems[] = {
        "diag",    "icd",     "condition", "disease", "bmi",        "bp",      "systolic",
        "diastolic", "pressure", "hba1c",  "glucose", "cholesterol", "measure", "lab",
        "test",    "result",  "outcome",   "death",   "smok",       "medication", "drug",
        "weight",  "height"};
    for (size_t k = 0; k < sizeof stems / sizeof stems[0]; k++)
        if (strncmp(w, stems[k], strlen(stems[k])) == 0)
            return 1;
    return 0;
}

enum sl_colclass sl_schema_guess_class(const char *name, enum sl_coltype type)
{
    if (type == SL_COL_ID)
        return SL_CLASS_IDENTIFIER;
    if (type == SL_COL_DATE || any_word(name, quasi_word))
        return SL_CLASS_QUASI;
    if (any_word(name, sensitive_word))
        return SL_CLASS_SENSITIVE;
    return SL_CLASS_OTHER;
}

/* ---- checking ---- */

static int is_missing_text(const char *s)
{
    return s[0] == '\0' || strcmp(s, "NA") == 0;
}

/* The first column whose name repeats an earlier one (see sl_first_repeat);
 * the names must be set. */
static sl_status column_repeat(const struct sl_schema *s, int64_t *later, int64_t *earlier)
{
    sl_status st = SL_OK;
    const char **names = sl_malloc((size_t)s->ncols * sizeof *names);

    SL_CHECK(names, SL_ERR_NOMEM, "out of memory");
    for (int i = 0; i < s->ncols; i++)
        names[i] = s->cols[i].name;
    SL_CALL(sl_first_repeat(names, s->ncols, later, earlier));
cleanup:
    sl_free(names);
    return st;
}

sl_status sl_schema_check(const struct sl_schema *s)
{
    sl_status st = SL_OK;
    int nid = 0;
    int64_t later, earlier;

    SL_CHECK(s->ncols > 0, SL_ERR_FORMAT, "the schema lists no columns");
    for (int i = 0; i < s->ncols; i++) {
        const struct sl_colinfo *c = &s->cols[i];
        SL_CHECK(c->name && c->name[0], SL_ERR_FORMAT, "schema column %d has no name", i + 1);
        SL_CHECK(c->type >= SL_COL_ID && c->type <= SL_COL_DATE, SL_ERR_FORMAT,
                 "schema column '%s' has no valid type", c->name);
        SL_CHECK(c->cls >= SL_CLASS_IDENTIFIER && c->cls <= SL_CLASS_OTHER, SL_ERR_FORMAT,
                 "schema column '%s' has no valid class", c->name);
        SL_CHECK(c->type == SL_COL_CAT || c->nlevels == 0, SL_ERR_FORMAT,
                 "schema column '%s' has levels but is not categorical", c->name);
        SL_CHECK(c->type == SL_COL_INT || c->type == SL_COL_REAL ||
                     (isnan(c->lower) && isnan(c->upper)),
                 SL_ERR_FORMAT, "schema column '%s' has bounds but is not integer or real",
                 c->name);
        SL_CHECK(isnan(c->lower) || isnan(c->upper) || c->lower <= c->upper, SL_ERR_FORMAT,
                 "schema column '%s': lower bound above upper bound", c->name);
        for (int32_t j = 0; j < c->nlevels; j++)
            SL_CHECK(!is_missing_text(c->levels[j]), SL_ERR_FORMAT,
                     "schema column '%s': level %d is empty or NA, which mean missing",
                     c->name, (int)j + 1);
        if (c->type == SL_COL_ID)
            nid++;
    }
    SL_CALL(column_repeat(s, &later, &earlier));
    SL_CHECK(later < 0, SL_ERR_FORMAT, "schema column %d: name '%s' repeats column %d",
             (int)later + 1, s->cols[later].name, (int)earlier + 1);
    SL_CHECK(nid == 1, SL_ERR_FORMAT,
             "the schema has %d columns of type id, expected exactly one", nid);
    SL_CHECK(s->id_col >= 0 && s->id_col < s->ncols && s->cols[s->id_col].type == SL_COL_ID,
             SL_ERR_INTERNAL, "schema id column index is inconsistent");
cleanup:
    return st;
}

/* ---- reading ---- */

/* A schema is column names, types and levels: even thousands of levels stay
 * far below this. */
enum { SL_SCHEMA_MAX_BYTES = 16 << 20 };

static sl_status read_levels(const char *path, struct fy_node *v, struct sl_schema *s, int col)
{
    sl_status st = SL_OK;
    const char **lv = NULL;
    struct fy_node **items = NULL;
    int32_t n = 0;
    int64_t later, earlier;
    void *it = NULL;
    struct fy_node *item;

    if (!v || !fy_node_is_sequence(v))
        SL_IO_YAML_FAIL(path, v, "'levels' of column '%s' must be a list of labels",
                  s->cols[col].name);
    int count = fy_node_sequence_item_count(v);
    if (count < 1 || count > SL_SCHEMA_MAX_LEVELS)
        SL_IO_YAML_FAIL(path, v, "'levels' of column '%s' must list 1 to %d labels",
                  s->cols[col].name, SL_SCHEMA_MAX_LEVELS);
    lv = sl_calloc((size_t)count, sizeof *lv);
    items = sl_calloc((size_t)count, sizeof *items);
    SL_CHECK(lv && items, SL_ERR_NOMEM, "out of memory");
    while ((item = fy_node_sequence_iterate(v, &it)) != NULL) {
        const char *t = sl_io_yaml_scalar(item);
        if (!t || strcmp(t, "NA") == 0)
            SL_IO_YAML_FAIL(path, item,
                      "expected a non-empty label other than NA (which means missing) in the "
                      "levels of column '%s'",
                      s->cols[col].name);
        items[n] = item;
        lv[n++] = t;
    }
    SL_CALL(sl_first_repeat(lv, n, &later, &earlier));
    if (later >= 0)
        SL_IO_YAML_FAIL(path, items[later], "level '%s' of column '%s' is listed twice", lv[later],
                  s->cols[col].name);
    SL_CALL(sl_schema_set_levels(s, col, n, lv));
    s->levels_fixed[col] = 1;
cleanup:
    sl_free(lv);
    sl_free(items);
    return st;
}

static sl_status read_bound(const char *path, struct fy_node *v, const char *key,
                            const char *colname, double *out)
{
    sl_status st = SL_OK;
    const char *t = sl_io_yaml_scalar(v);
    double d;
    if (!t || sl_parse_real(t, strlen(t), &d) != 0)
        SL_IO_YAML_FAIL(path, v, "expected a number for '%s' of column '%s'", key, colname);
    *out = d;
cleanup:
    return st;
}

static sl_status read_column(const char *path, struct fy_node *m, struct sl_schema *s, int i)
{
    static const char *const keys = "name, type, class, levels, lower, upper";
    static const char *const allowed[] = {"name", "type", "class", "levels", "lower", "upper",
                                          NULL};
    sl_status st = SL_OK;
    struct sl_colinfo *c = &s->cols[i];
    struct fy_node *name_n, *type_n, *class_n, *lv_n, *lo_n, *up_n;
    const char *t;
    char ctx[32];

    if (!fy_node_is_mapping(m))
        SL_IO_YAML_FAIL(path, m, "expected column %d to be a mapping with keys %s", i + 1, keys);
    snprintf(ctx, sizeof ctx, " in column %d", i + 1);
    SL_CALL(sl_io_yaml_known_keys(path, m, allowed, ctx));
    name_n = fy_node_mapping_lookup_by_string(m, "name", FY_NT);
    type_n = fy_node_mapping_lookup_by_string(m, "type", FY_NT);
    class_n = fy_node_mapping_lookup_by_string(m, "class", FY_NT);
    lv_n = fy_node_mapping_lookup_by_string(m, "levels", FY_NT);
    lo_n = fy_node_mapping_lookup_by_string(m, "lower", FY_NT);
    up_n = fy_node_mapping_lookup_by_string(m, "upper", FY_NT);

    t = sl_io_yaml_scalar(name_n);
    if (!t)
        SL_IO_YAML_FAIL(path, name_n ? name_n : m, "expected a non-empty 'name' for column %d", i + 1);
    c->name = sl_strdup(t);
    SL_CHECK(c->name, SL_ERR_NOMEM, "out of memory");
    struct sl_io_yaml_where nw = sl_io_yaml_where(name_n);
    s->name_line[i] = nw.line;
    s->name_col[i] = nw.col;

    t = sl_io_yaml_scalar(type_n);
    c->type = t ? sl_coltype_parse(t) : (enum sl_coltype)0;
    if (c->type == 0)
        SL_IO_YAML_FAIL(path, type_n ? type_n : m,
                  "expected 'type' of column '%s' to be one of id, integer, real, categorical, "
                  "date",
                  c->name);
    t = sl_io_yaml_scalar(class_n);
    c->cls = t ? sl_colclass_parse(t) : (enum sl_colclass)0;
    if (c->cls == 0)
        SL_IO_YAML_FAIL(path, class_n ? class_n : m,
                  "expected 'class' of column '%s' to be one of identifier, quasi, sensitive, "
                  "other",
                  c->name);
    if (c->type == SL_COL_ID) {
        if (s->id_col >= 0)
            SL_IO_YAML_FAIL(path, type_n, "column '%s' is a second id column (the first is '%s'), "
                      "expected exactly one", c->name, s->cols[s->id_col].name);
        s->id_col = i;
    }
    if (lv_n) {
        if (c->type != SL_COL_CAT)
            SL_IO_YAML_FAIL(path, lv_n, "'levels' given for column '%s', which is %s, not categorical",
                      c->name, sl_coltype_name(c->type));
        SL_CALL(read_levels(path, lv_n, s, i));
    }
    if ((lo_n || up_n) && c->type != SL_COL_INT && c->type != SL_COL_REAL)
        SL_IO_YAML_FAIL(path, lo_n ? lo_n : up_n,
                  "bounds given for column '%s', which is %s, expected integer or real", c->name,
                  sl_coltype_name(c->type));
    if (lo_n)
        SL_CALL(read_bound(path, lo_n, "lower", c->name, &c->lower));
    if (up_n)
        SL_CALL(read_bound(path, up_n, "upper", c->name, &c->upper));
    if (lo_n && up_n && c->lower > c->upper)
        SL_IO_YAML_FAIL(path, lo_n, "'lower' of column '%s' is above its 'upper'", c->name);
cleanup:
    return st;
}

sl_status sl_schema_load(const char *path, struct sl_schema **out)
{
    static const char *const top[] = {"sluice_schema", "columns", NULL};
    sl_status st = SL_OK;
    struct sl_schema *s = NULL;
    struct sl_io_yaml_file f;
    struct fy_node *root, *cols, *ver;

    *out = NULL;
    SL_CALL(sl_io_yaml_open(path, SL_SCHEMA_MAX_BYTES, "schema file",
                         "keys sluice_schema and columns", &f));
    root = fy_document_root(f.doc);
    SL_CALL(sl_io_yaml_known_keys(path, root, top, ""));
    ver = fy_node_mapping_lookup_by_string(root, "sluice_schema", FY_NT);
    if (ver) {
        const char *t = sl_io_yaml_scalar(ver);
        if (!t || strcmp(t, "1") != 0)
            SL_IO_YAML_FAIL(path, ver, "expected sluice_schema: 1 (the only schema version)");
    }
    cols = fy_node_mapping_lookup_by_string(root, "columns", FY_NT);
    if (!cols || !fy_node_is_sequence(cols) || fy_node_sequence_item_count(cols) < 1)
        SL_IO_YAML_FAIL(path, cols ? cols : root, "expected 'columns' to be a non-empty list");
    SL_CALL(sl_schema_create(fy_node_sequence_item_count(cols), &s));
    s->path = sl_strdup(path);
    SL_CHECK(s->path, SL_ERR_NOMEM, "out of memory");
    {
        void *it = NULL;
        struct fy_node *m;
        int i = 0;
        while ((m = fy_node_sequence_iterate(cols, &it)) != NULL)
            SL_CALL(read_column(path, m, s, i++));
    }
    {
        /* here, unlike sl_schema_check, with the line and column */
        int64_t later, earlier;
        SL_CALL(column_repeat(s, &later, &earlier));
        SL_CHECK(later < 0, SL_ERR_FORMAT,
                 "%s:%d:%d: column name '%s' repeats column %d, expected unique names", path,
                 s->name_line[later], s->name_col[later], s->cols[later].name, (int)earlier + 1);
    }
    if (s->id_col < 0)
        SL_IO_YAML_FAIL(path, cols, "no column has type id, expected exactly one");
    SL_CALL(sl_schema_check(s));
    *out = s;
    s = NULL;
cleanup:
    sl_schema_destroy(&s);
    sl_io_yaml_close(&f);
    return st;
}

/* ---- writing ---- */

/* Decodes one UTF-8 code point at s (valid UTF-8 assumed; the CSV reader
 * validated it); returns its length. */
static size_t utf8_decode(const unsigned char *s, unsigned *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] < 0xE0 && s[1]) {
        *cp = ((unsigned)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
        return 2;
    }
    if (s[0] < 0xF0 && s[1] && s[2]) {
        *cp = ((unsigned)(s[0] & 0x0F) << 12) | ((unsigned)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        return 3;
    }
    if (s[1] && s[2] && s[3]) {
        *cp = ((unsigned)(s[0] & 0x07) << 18) | ((unsigned)(s[1] & 0x3F) << 12) |
              ((unsigned)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
        return 4;
    }
    *cp = 0xFFFD;
    return 1;
}

/* Writes s as a YAML double-quoted scalar, escaping what YAML would not keep
 * verbatim (controls, C1, line and paragraph separators, BOM, non-characters). */
static void put_quoted(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    while (*p) {
        unsigned cp;
        size_t n = utf8_decode(p, &cp);
        if (cp == '"' || cp == '\\') {
            fputc('\\', f);
            fputc((int)cp, f);
        } else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 ||
                   cp == 0x2029 || cp == 0xFEFF || cp == 0xFFFE || cp == 0xFFFF) {
            fprintf(f, "\\u%04X", cp);
        } else {
            fwrite(p, 1, n, f);
        }
        p += n;
    }
    fputc('"', f);
}

static void put_number(FILE *f, double v)
{
    char buf[40];
    snprintf(buf, sizeof buf, "%.17g", v);
    fputs(buf, f);
}

sl_status sl_schema_write(const struct sl_schema *s, const char *path)
{
    sl_status st = SL_OK;
    int fd = -1, created = 0;
    FILE *f = NULL;

    SL_CALL(sl_schema_check(s));
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0 && errno == EEXIST)
        SL_FAIL(SL_ERR_EXISTS, "%s already exists; refusing to overwrite it (move it away or "
                "pass it back with --schema)", path);
    SL_CHECK(fd >= 0, SL_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    created = 1;
    f = fdopen(fd, "w");
    SL_CHECK(f, SL_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    fd = -1;
    fputs("# sluice cohort schema. Review every type, class and level list; then pass this\n"
          "# file to `sluice ingest --schema`. Classes: identifier | quasi | sensitive | other.\n"
          "# Optional public bounds for integer and real columns: lower, upper.\n",
          f);
    fputs("sluice_schema: 1\ncolumns:\n", f);
    for (int i = 0; i < s->ncols; i++) {
        const struct sl_colinfo *c = &s->cols[i];
        fputs("  - name: ", f);
        put_quoted(f, c->name);
        fprintf(f, "\n    type: %s\n    class: %s\n", sl_coltype_name(c->type),
                sl_colclass_name(c->cls));
        if (c->type == SL_COL_CAT && c->nlevels > 0) {
            /* a flow list, wrapped near 100 columns (continuation lines are
             * indented deeper than the key, as YAML requires) */
            size_t width = sizeof "    levels: [" - 1;
            fputs("    levels: [", f);
            for (int32_t j = 0; j < c->nlevels; j++) {
                size_t w = strlen(c->levels[j]) + 4;
                if (j && width + w > 98) {
                    fputs(",\n      ", f);
                    width = 6;
                } else if (j) {
                    fputs(", ", f);
                }
                put_quoted(f, c->levels[j]);
                width += w;
            }
            fputs("]\n", f);
        }
        if (!isnan(c->lower)) {
            fputs("    lower: ", f);
            put_number(f, c->lower);
            fputc('\n', f);
        }
        if (!isnan(c->upper)) {
            fputs("    upper: ", f);
            put_number(f, c->upper);
            fputc('\n', f);
        }
    }
    SL_CHECK(fflush(f) == 0 && !ferror(f) && fsync(fileno(f)) == 0, SL_ERR_IO,
             "%s: write failed: %s", path, strerror(errno));
    int rc = fclose(f);
    f = NULL;
    SL_CHECK(rc == 0, SL_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    created = 0;
cleanup:
    if (f)
        fclose(f);
    if (fd >= 0)
        close(fd);
    if (created)
        unlink(path);
    return st;
}
