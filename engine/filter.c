/*
 * filter.c: the job's row filter (grammar in filter.h).
 *
 * Three stages. Parsing (a hand-written lexer and a recursive descent
 * parser) turns the text into a tree of nodes and reports errors with the
 * character position inside the expression. Binding resolves column names
 * and literals against the cohort's metadata once: category labels become
 * codes, date strings become days since 1970-01-01, and each comparison is
 * reduced to one of a few typed forms. Evaluation then runs node by node over
 * blocks of rows into small byte arrays (one pass per node and block, loops
 * the compiler can vectorise) instead of walking the tree once per row.
 *
 * Truth values are three-valued and encoded so that Kleene logic is plain
 * arithmetic: false = 0, unknown = 1, true = 2; "and" is min, "or" is max,
 * "not" is 2 - x. A comparison with a missing value is unknown; a row passes
 * only when the whole expression is true. The temporary arrays are derived
 * from row data, so they live in secret memory.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/config.h"
#include "engine/config_impl.h"
#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "engine/filter.h"
#include "io/format.h"

enum {
    SL_FILTER_MAX_TEXT = 65536,
    SL_FILTER_MAX_DEPTH = 64,
    SL_FILTER_MAX_CONDITIONS = 1000,
    SL_FILTER_BLOCK = 4096,
    SL_FILTER_MSG = 768
};

enum { TV_FALSE = 0, TV_UNKNOWN = 1, TV_TRUE = 2 };

enum tok_kind {
    T_END, T_IDENT, T_NUMBER, T_STRING, T_LPAREN, T_RPAREN, T_LBRACK, T_RBRACK, T_COMMA, T_OP,
    T_AND, T_OR, T_NOT, T_IS, T_IN, T_MISSING
};

enum cmp_op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };
static const char *const op_names[] = {"==", "!=", "<", "<=", ">", ">="};

struct token {
    enum tok_kind kind;
    size_t off, len;          /* bytes of the text */
    enum cmp_op op;
};

struct lit {
    bool is_str;
    char *str;                /* string content (unescaped) */
    double d;                 /* number value */
    bool is_int;              /* written as an integer that fits int64 */
    int64_t i;
    size_t off, len;          /* the token in the text */
};

enum node_kind { N_OR, N_AND, N_NOT, N_CMP, N_IN, N_MISSING };
enum storage { ST_I64, ST_F64, ST_I32 };
enum form { F_CMP, F_SET, F_LUT, F_CONST, F_MISSING };

struct node {
    enum node_kind kind;
    int left, right;          /* children (N_OR, N_AND; N_NOT uses left) */
    int need;                 /* scratch arrays its evaluation needs */
    char *col;                /* leaves: column name */
    size_t col_off, op_off;
    enum cmp_op op;
    bool negate;              /* "is not missing" */
    struct lit *lits;         /* N_CMP: 1, N_IN: nlits */
    int nlits;
    /* binding */
    int colidx;
    bool ordered;             /* an integer, real or date column */
    enum storage stor;
    enum form form;
    int64_t iv;               /* F_CMP on ST_I64 / ST_I32 */
    double dv;                /* F_CMP on ST_F64 */
    int32_t miss_max;         /* ST_I32: values <= this are missing */
    int64_t *iset;            /* F_SET on ST_I64 / ST_I32, sorted */
    double *dset;             /* F_SET on ST_F64, sorted */
    int nset;
    uint8_t *lut;             /* F_LUT: categorical codes in the set */
    int32_t nlut;
    uint8_t konst;            /* F_CONST: truth value for non-missing rows */
};

struct sl_filter {
    char *text;               /* as given */
    char *where;              /* "job.yaml:4:9" or NULL */
    char *canon;
    struct node *nodes;
    int nnodes, cap;
    int root;
    bool bound;
    int *cols;                /* sorted distinct cohort columns */
    int ncols;
};

/* ---- messages ---- */

static int char_pos(const char *text, size_t off)
{
    int pos = 1;
    for (size_t i = 0; i < off && text[i] != '\0'; i++)
        if (((unsigned char)text[i] & 0xC0) != 0x80)
            pos++;
    return pos;
}

static sl_status ferr(const struct sl_filter *f, size_t off, const char *file, int line,
                      const char *func, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static sl_status ferr(const struct sl_filter *f, size_t off, const char *file, int line,
                      const char *func, const char *fmt, ...)
{
    char msg[SL_FILTER_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sl_error_set(SL_ERR_FORMAT, file, line, func, "%s%sfilter: at character %d: %s",
                        f->where != NULL ? f->where : "", f->where != NULL ? ": " : "",
                        char_pos(f->text, off), msg);
}
#define FFAIL(f, off, ...)                                                 \
    do {                                                                   \
        st = ferr((f), (off), __FILE__, __LINE__, __func__, __VA_ARGS__);  \
        goto cleanup;                                                      \
    } while (0)

/* ---- lexer ---- */

static bool is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

struct parser {
    struct sl_filter *f;
    const char *s;
    size_t pos;               /* next byte to lex */
    struct token tok;         /* current token */
    int depth;                /* open 'not' and '(' */
    int conditions;           /* comparisons so far */
};

static const struct {
    const char *word;
    enum tok_kind kind;
} keywords[] = {{"and", T_AND}, {"or", T_OR}, {"not", T_NOT},
                {"is", T_IS},   {"in", T_IN}, {"missing", T_MISSING}};

/* Whether s starts with a date, YYYY-MM-DD, written without quotes. */
static bool bare_date(const char *s)
{
    static const char form[] = "dddd-dd-dd";
    for (size_t i = 0; i < sizeof form - 1; i++)
        if (form[i] == 'd' ? !is_digit(s[i]) : s[i] != form[i])
            return false;
    return !is_digit(s[sizeof form - 1]);
}

static sl_status lex_number(struct parser *ps, size_t start)
{
    sl_status st = SL_OK;
    const char *s = ps->s;
    size_t p = start;
    if (bare_date(s + start))
        FFAIL(ps->f, start, "the date %.10s needs quotes; expected '%.10s'", s + start,
              s + start);
    if (s[p] == '-')
        p++;
    bool any = false;
    while (is_digit(s[p])) {
        p++;
        any = true;
    }
    if (s[p] == '.') {
        p++;
        while (is_digit(s[p])) {
            p++;
            any = true;
        }
    }
    if (any && (s[p] == 'e' || s[p] == 'E')) {
        size_t q = p + 1;
        if (s[q] == '+' || s[q] == '-')
            q++;
        if (is_digit(s[q])) {
            while (is_digit(s[q]))
                q++;
            p = q;
        }
    }
    if (!any || is_ident_char(s[p]) || s[p] == '.') {
        size_t end = p;
        while (is_ident_char(s[end]) || s[end] == '.')
            end++;
        FFAIL(ps->f, start, "malformed number '%.*s'; expected digits such as 40, -2 or 0.5",
              (int)(end - start), s + start);
    }
    ps->tok.kind = T_NUMBER;
    ps->tok.len = p - start;
cleanup:
    return st;
}

static sl_status lex_string(struct parser *ps, size_t start)
{
    sl_status st = SL_OK;
    const char *s = ps->s;
    char quote = s[start];
    size_t p = start + 1;
    for (;; p++) {
        if (s[p] == '\0')
            FFAIL(ps->f, start, "the string starting here has no closing %c; expected "
                  "\"text\"", quote);
        if ((unsigned char)s[p] < 0x20)
            FFAIL(ps->f, p, "control character inside a string; expected printable text");
        if (s[p] == '\\') {
            if (s[p + 1] != '\\' && s[p + 1] != '"' && s[p + 1] != '\'')
                FFAIL(ps->f, p, "unknown escape '\\%c' in a string; expected \\\", \\' or "
                      "\\\\", s[p + 1] ? s[p + 1] : ' ');
            p++;
            continue;
        }
        if (s[p] == quote)
            break;
    }
    ps->tok.kind = T_STRING;
    ps->tok.len = p + 1 - start;
cleanup:
    return st;
}

/* Reads the next token into ps->tok. */
static sl_status lex(struct parser *ps)
{
    sl_status st = SL_OK;
    const char *s = ps->s;
    size_t p = ps->pos;
    while (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r')
        p++;
    ps->tok.off = p;
    ps->tok.len = 1;
    char c = s[p];
    char c1 = c != '\0' ? s[p + 1] : '\0';
    if (c == '\0') {
        ps->tok.kind = T_END;
        ps->tok.len = 0;
    } else if (is_ident_start(c)) {
        size_t e = p;
        while (is_ident_char(s[e]))
            e++;
        ps->tok.kind = T_IDENT;
        ps->tok.len = e - p;
        for (size_t k = 0; k < sizeof keywords / sizeof keywords[0]; k++)
            if (strlen(keywords[k].word) == e - p && memcmp(keywords[k].word, s + p, e - p) == 0)
                ps->tok.kind = keywords[k].kind;
    } else if (is_digit(c) || (c == '-' && (is_digit(c1) || c1 == '.')) ||
               (c == '.' && is_digit(c1))) {
        SL_CALL(lex_number(ps, p));
    } else if (c == '"' || c == '\'') {
        SL_CALL(lex_string(ps, p));
    } else if (c == '(' || c == ')' || c == '[' || c == ']' || c == ',') {
        ps->tok.kind = c == '(' ? T_LPAREN : c == ')' ? T_RPAREN : c == '[' ? T_LBRACK
                     : c == ']' ? T_RBRACK : T_COMMA;
    } else if (c == '=' && c1 == '=') {
        ps->tok.kind = T_OP, ps->tok.op = OP_EQ, ps->tok.len = 2;
    } else if (c == '!' && c1 == '=') {
        ps->tok.kind = T_OP, ps->tok.op = OP_NE, ps->tok.len = 2;
    } else if (c == '<' || c == '>') {
        ps->tok.kind = T_OP;
        ps->tok.op = c == '<' ? (c1 == '=' ? OP_LE : OP_LT) : (c1 == '=' ? OP_GE : OP_GT);
        ps->tok.len = c1 == '=' ? 2 : 1;
    } else if (c == '=') {
        FFAIL(ps->f, p, "'=' is not an operator; expected '==' for equality");
    } else if (c == '!') {
        FFAIL(ps->f, p, "'!' is not an operator; expected '!=' or 'not'");
    } else if (c == '&') {
        FFAIL(ps->f, p, "'%s' is not an operator; expected 'and'", c1 == '&' ? "&&" : "&");
    } else if (c == '|') {
        FFAIL(ps->f, p, "'%s' is not an operator; expected 'or'", c1 == '|' ? "||" : "|");
    } else if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f) {
        FFAIL(ps->f, p, "unexpected character (byte 0x%02x); expected a column name, an "
              "operator, a number or a \"string\"", (unsigned)(unsigned char)c);
    } else {
        FFAIL(ps->f, p, "unexpected character '%c'; expected a column name, an operator, a "
              "number or a \"string\"", c);
    }
    ps->pos = ps->tok.off + ps->tok.len;
cleanup:
    return st;
}

/* How the current token reads in a message. */
static void tok_desc(const struct parser *ps, char *buf, size_t size)
{
    if (ps->tok.kind == T_END)
        snprintf(buf, size, "the end of the expression");
    else
        snprintf(buf, size, "'%.*s'", (int)(ps->tok.len > 40 ? 40 : ps->tok.len),
                 ps->s + ps->tok.off);
}

/* ---- parser ---- */

static sl_status new_node(struct sl_filter *f, enum node_kind kind, int *out)
{
    sl_status st = SL_OK;
    if (f->nnodes == f->cap) {
        int cap = f->cap ? f->cap * 2 : 16;
        struct node *nn = sl_realloc(f->nodes, (size_t)cap * sizeof *nn);
        SL_CHECK(nn != NULL, SL_ERR_NOMEM, "out of memory parsing the filter");
        f->nodes = nn;
        f->cap = cap;
    }
    struct node *n = &f->nodes[f->nnodes];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->left = n->right = -1;
    n->need = 1;
    *out = f->nnodes++;
cleanup:
    return st;
}

static sl_status parse_literal(struct parser *ps, struct lit *out, const char *after)
{
    sl_status st = SL_OK;
    char desc[64];
    memset(out, 0, sizeof *out);
    out->off = ps->tok.off;
    out->len = ps->tok.len;
    const char *t = ps->s + ps->tok.off;
    if (ps->tok.kind == T_STRING) {
        size_t n = ps->tok.len - 2;
        out->is_str = true;
        out->str = sl_malloc(n + 1);
        SL_CHECK(out->str != NULL, SL_ERR_NOMEM, "out of memory parsing the filter");
        size_t k = 0;
        for (size_t i = 1; i <= n; i++) {
            if (t[i] == '\\')
                i++;
            out->str[k++] = t[i];
        }
        out->str[k] = '\0';
    } else if (ps->tok.kind == T_NUMBER) {
        char buf[128];
        if (ps->tok.len >= sizeof buf)
            FFAIL(ps->f, ps->tok.off, "the number is too long; expected at most %d characters",
                  (int)sizeof buf - 1);
        memcpy(buf, t, ps->tok.len);
        buf[ps->tok.len] = '\0';
        out->d = strtod(buf, NULL);
        if (!isfinite(out->d))
            FFAIL(ps->f, ps->tok.off, "the number '%s' is out of range; expected a finite "
                  "number", buf);
        bool intform = strpbrk(buf, ".eE") == NULL;
        if (intform) {
            char *end;
            errno = 0;
            long long v = strtoll(buf, &end, 10);
            out->is_int = *end == '\0' && errno == 0;
            out->i = (int64_t)v;
        }
    } else {
        /* a bare word here is most often a label written without quotes */
        const char *hint = "";
        char word[96] = "";
        tok_desc(ps, desc, sizeof desc);
        if (ps->tok.kind == T_IDENT) {
            snprintf(word, sizeof word, "%.*s", (int)ps->tok.len, ps->s + ps->tok.off);
            hint = strcmp(after, "in the list") == 0
                       ? "'"
                       : "'; a column is compared with values, not with another column";
        }
        FFAIL(ps->f, ps->tok.off, "expected a number or a \"string\" %s, found %s%s%s%s%s",
              after, desc, *hint ? " (labels and text go in quotes, as '" : "", word, hint,
              *hint ? ")" : "");
    }
    SL_CALL(lex(ps));
cleanup:
    if (st != SL_OK) {
        sl_free(out->str);
        out->str = NULL;
    }
    return st;
}

static sl_status parse_or(struct parser *ps, int *out);

static sl_status parse_cmp(struct parser *ps, int *out)
{
    sl_status st = SL_OK;
    struct sl_filter *f = ps->f;
    int idx = -1;
    char desc[64];
    size_t col_off = ps->tok.off, col_len = ps->tok.len;
    char *col = NULL;
    if (++ps->conditions > SL_FILTER_MAX_CONDITIONS)
        FFAIL(f, col_off, "the expression has too many conditions; expected at most %d",
              SL_FILTER_MAX_CONDITIONS);
    col = sl_malloc(col_len + 1);
    SL_CHECK(col != NULL, SL_ERR_NOMEM, "out of memory parsing the filter");
    memcpy(col, ps->s + col_off, col_len);
    col[col_len] = '\0';
    SL_CALL(lex(ps));
    size_t op_off = ps->tok.off;
    if (ps->tok.kind == T_OP) {
        enum cmp_op op = ps->tok.op;
        char after[32];
        snprintf(after, sizeof after, "after '%s'", op_names[op]);
        SL_CALL(lex(ps));
        SL_CALL(new_node(f, N_CMP, &idx));
        f->nodes[idx].op = op;
        f->nodes[idx].lits = sl_calloc(1, sizeof(struct lit));
        SL_CHECK(f->nodes[idx].lits != NULL, SL_ERR_NOMEM, "out of memory parsing the filter");
        SL_CALL(parse_literal(ps, &f->nodes[idx].lits[0], after));
        f->nodes[idx].nlits = 1;
    } else if (ps->tok.kind == T_IS) {
        SL_CALL(lex(ps));
        bool negate = false;
        if (ps->tok.kind == T_NOT) {
            negate = true;
            SL_CALL(lex(ps));
        }
        if (ps->tok.kind != T_MISSING) {
            tok_desc(ps, desc, sizeof desc);
            FFAIL(f, ps->tok.off, "expected 'missing' or 'not missing' after 'is', found %s",
                  desc);
        }
        SL_CALL(lex(ps));
        SL_CALL(new_node(f, N_MISSING, &idx));
        f->nodes[idx].negate = negate;
    } else if (ps->tok.kind == T_IN) {
        SL_CALL(lex(ps));
        size_t open = ps->tok.off;
        if (ps->tok.kind != T_LBRACK) {
            tok_desc(ps, desc, sizeof desc);
            FFAIL(f, ps->tok.off, "expected '[' after 'in', found %s", desc);
        }
        SL_CALL(lex(ps));
        SL_CALL(new_node(f, N_IN, &idx));
        for (;;) {
            struct node *n = &f->nodes[idx];
            if ((n->nlits & (n->nlits - 1)) == 0) {
                size_t cap = n->nlits ? 2 * (size_t)n->nlits : 1;
                struct lit *nl = sl_realloc(n->lits, cap * sizeof *nl);
                SL_CHECK(nl != NULL, SL_ERR_NOMEM, "out of memory parsing the filter");
                n->lits = nl;
            }
            SL_CALL(parse_literal(ps, &n->lits[n->nlits], "in the list"));
            n->nlits++;
            if (ps->tok.kind == T_RBRACK)
                break;
            if (ps->tok.kind != T_COMMA) {
                tok_desc(ps, desc, sizeof desc);
                FFAIL(f, ps->tok.off, "expected ',' or ']' in the list opened at character %d, "
                      "found %s", char_pos(ps->s, open), desc);
            }
            SL_CALL(lex(ps));
        }
        SL_CALL(lex(ps));
    } else {
        tok_desc(ps, desc, sizeof desc);
        FFAIL(f, ps->tok.off, "expected a comparison operator after '%s' (==, !=, <, <=, >, "
              ">=, in [...] or is missing), found %s", col, desc);
    }
    f->nodes[idx].col = col;
    col = NULL;
    f->nodes[idx].col_off = col_off;
    f->nodes[idx].op_off = op_off;
    *out = idx;
cleanup:
    sl_free(col);
    return st;
}

static sl_status parse_unary(struct parser *ps, int *out)
{
    sl_status st = SL_OK;
    struct sl_filter *f = ps->f;
    char desc[64];
    bool nests = ps->tok.kind == T_NOT || ps->tok.kind == T_LPAREN;
    if (nests && ++ps->depth > SL_FILTER_MAX_DEPTH)
        FFAIL(f, ps->tok.off, "the expression is nested too deeply; expected at most %d "
              "levels of 'not' and parentheses", SL_FILTER_MAX_DEPTH);
    if (ps->tok.kind == T_NOT) {
        int child, idx;
        SL_CALL(lex(ps));
        SL_CALL(parse_unary(ps, &child));
        SL_CALL(new_node(f, N_NOT, &idx));
        f->nodes[idx].left = child;
        f->nodes[idx].need = f->nodes[child].need;
        *out = idx;
    } else if (ps->tok.kind == T_LPAREN) {
        size_t open = ps->tok.off;
        SL_CALL(lex(ps));
        SL_CALL(parse_or(ps, out));
        if (ps->tok.kind != T_RPAREN) {
            tok_desc(ps, desc, sizeof desc);
            FFAIL(f, ps->tok.off, "expected ')' to close the '(' at character %d, found %s",
                  char_pos(ps->s, open), desc);
        }
        SL_CALL(lex(ps));
    } else if (ps->tok.kind == T_IDENT) {
        SL_CALL(parse_cmp(ps, out));
    } else {
        tok_desc(ps, desc, sizeof desc);
        FFAIL(f, ps->tok.off, "expected a column name, 'not' or '(', found %s", desc);
    }
    if (nests)
        ps->depth--;
cleanup:
    return st;
}

static sl_status parse_binary(struct parser *ps, enum tok_kind op, int *out)
{
    sl_status st = SL_OK;
    struct sl_filter *f = ps->f;
    int left = 0, right = 0, idx = 0;
    if (op == T_OR)
        SL_CALL(parse_binary(ps, T_AND, &left));
    else
        SL_CALL(parse_unary(ps, &left));
    while (ps->tok.kind == op) {
        SL_CALL(lex(ps));
        if (op == T_OR)
            SL_CALL(parse_binary(ps, T_AND, &right));
        else
            SL_CALL(parse_unary(ps, &right));
        SL_CALL(new_node(f, op == T_OR ? N_OR : N_AND, &idx));
        struct node *n = &f->nodes[idx];
        n->left = left;
        n->right = right;
        int a = f->nodes[left].need, b = f->nodes[right].need + 1;
        n->need = a > b ? a : b;
        left = idx;
    }
    *out = left;
cleanup:
    return st;
}

static sl_status parse_or(struct parser *ps, int *out)
{
    return parse_binary(ps, T_OR, out);
}

/* ---- canonical text ---- */

struct sbuf {
    char *p;
    size_t len, cap;
};

static sl_status sb_add(struct sbuf *b, const char *s, size_t n)
{
    sl_status st = SL_OK;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = sl_realloc(b->p, cap);
        SL_CHECK(np != NULL, SL_ERR_NOMEM, "out of memory");
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
cleanup:
    return st;
}

static sl_status sb_str(struct sbuf *b, const char *s)
{
    return sb_add(b, s, strlen(s));
}

static sl_status canon_lit(struct sbuf *b, const struct lit *l)
{
    sl_status st = SL_OK;
    char num[40];
    if (l->is_str) {
        SL_CALL(sb_str(b, "\""));
        for (const char *c = l->str; *c; c++) {
            if (*c == '"' || *c == '\\')
                SL_CALL(sb_str(b, "\\"));
            SL_CALL(sb_add(b, c, 1));
        }
        SL_CALL(sb_str(b, "\""));
    } else if (l->is_int) {
        snprintf(num, sizeof num, "%lld", (long long)l->i);
        SL_CALL(sb_str(b, num));
    } else {
        /* The shortest text that reads back as the same double, in plain
         * notation unless the exponent is large; -0 compares as 0 and is
         * written so (as "-0" it would read back as the integer 0). */
        double d = l->d == 0 ? 0.0 : l->d;
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(num, sizeof num, "%.*g", prec, d);
            if (strtod(num, NULL) == d)
                break;
        }
        const char *e = strchr(num, 'e');
        long exp10 = e != NULL ? strtol(e + 1, NULL, 10) : -1;
        if (exp10 >= 0 && exp10 < 17)
            snprintf(num, sizeof num, "%.*g", (int)exp10 + 1, d);
        SL_CALL(sb_str(b, num));
    }
cleanup:
    return st;
}

/* Writes node idx. Parentheses go around a binary node unless it continues
 * its parent's chain (the left operand of the same operator: a and b and c),
 * and around 'not' only as the operand of a binary node, so that the text
 * nests no deeper than needed; `depth` counts the levels open around the
 * node as the parser counts them ('(' and 'not'), the deepest in *max. */
static sl_status canon(const struct sl_filter *f, int idx, enum node_kind parent, bool left,
                       int depth, int *max, struct sbuf *b)
{
    sl_status st = SL_OK;
    const struct node *n = &f->nodes[idx];
    bool binary_parent = parent == N_AND || parent == N_OR;
    *max = depth > *max ? depth : *max;
    switch (n->kind) {
    case N_OR:
    case N_AND: {
        bool bare = left && parent == n->kind;
        int in = depth + !bare;
        if (!bare)
            SL_CALL(sb_str(b, "("));
        SL_CALL(canon(f, n->left, n->kind, true, in, max, b));
        SL_CALL(sb_str(b, n->kind == N_OR ? " or " : " and "));
        SL_CALL(canon(f, n->right, n->kind, false, in, max, b));
        if (!bare)
            SL_CALL(sb_str(b, ")"));
        break;
    }
    case N_NOT:
        SL_CALL(sb_str(b, binary_parent ? "(not " : "not "));
        SL_CALL(canon(f, n->left, N_NOT, false, depth + 1 + binary_parent, max, b));
        if (binary_parent)
            SL_CALL(sb_str(b, ")"));
        break;
    case N_CMP:
        SL_CALL(sb_str(b, n->col));
        SL_CALL(sb_str(b, " "));
        SL_CALL(sb_str(b, op_names[n->op]));
        SL_CALL(sb_str(b, " "));
        SL_CALL(canon_lit(b, &n->lits[0]));
        break;
    case N_IN:
        SL_CALL(sb_str(b, n->col));
        SL_CALL(sb_str(b, " in ["));
        for (int i = 0; i < n->nlits; i++) {
            if (i > 0)
                SL_CALL(sb_str(b, ", "));
            SL_CALL(canon_lit(b, &n->lits[i]));
        }
        SL_CALL(sb_str(b, "]"));
        break;
    case N_MISSING:
        SL_CALL(sb_str(b, n->col));
        SL_CALL(sb_str(b, n->negate ? " is not missing" : " is missing"));
        break;
    }
cleanup:
    return st;
}

/* ---- create / destroy ---- */

static void unbind(struct sl_filter *f)
{
    for (int i = 0; i < f->nnodes; i++) {
        struct node *n = &f->nodes[i];
        sl_free(n->iset);
        sl_free(n->dset);
        sl_free(n->lut);
        n->iset = NULL;
        n->dset = NULL;
        n->lut = NULL;
        n->nset = 0;
        n->nlut = 0;
    }
    sl_free(f->cols);
    f->cols = NULL;
    f->ncols = 0;
    f->bound = false;
}

void sl_filter_destroy(struct sl_filter **fp)
{
    if (fp == NULL || *fp == NULL)
        return;
    struct sl_filter *f = *fp;
    unbind(f);
    for (int i = 0; i < f->nnodes; i++) {
        struct node *n = &f->nodes[i];
        for (int k = 0; k < n->nlits; k++)
            sl_free(n->lits[k].str);
        sl_free(n->lits);
        sl_free(n->col);
    }
    sl_free(f->nodes);
    sl_free(f->text);
    sl_free(f->where);
    sl_free(f->canon);
    sl_free(f);
    *fp = NULL;
}

sl_status sl_filter_parse(const char *text, const char *where, struct sl_filter **out)
{
    sl_status st = SL_OK;
    struct sl_filter *f = NULL;
    struct sbuf b = {NULL, 0, 0};
    char desc[64];
    int depth = 0;
    SL_CHECK(text != NULL && out != NULL, SL_ERR_ARG, "sl_filter_parse: NULL argument");
    *out = NULL;
    SL_CHECK(strlen(text) <= SL_FILTER_MAX_TEXT, SL_ERR_FORMAT,
             "%s%sfilter: the expression is longer than %d characters", where ? where : "",
             where ? ": " : "", SL_FILTER_MAX_TEXT);
    f = sl_calloc(1, sizeof *f);
    SL_CHECK(f != NULL, SL_ERR_NOMEM, "out of memory");
    f->text = sl_strdup(text);
    f->where = where != NULL ? sl_strdup(where) : NULL;
    SL_CHECK(f->text != NULL && (where == NULL || f->where != NULL), SL_ERR_NOMEM,
             "out of memory");
    struct parser ps = {f, f->text, 0, {T_END, 0, 0, OP_EQ}, 0, 0};
    SL_CALL(lex(&ps));
    if (ps.tok.kind == T_END)
        FFAIL(f, ps.tok.off, "the expression is empty; expected a condition such as age >= 40");
    SL_CALL(parse_or(&ps, &f->root));
    if (ps.tok.kind != T_END) {
        tok_desc(&ps, desc, sizeof desc);
        bool upper_kw = false;
        if (ps.tok.kind == T_IDENT) {
            char low[16];
            size_t n = ps.tok.len < sizeof low - 1 ? ps.tok.len : sizeof low - 1;
            for (size_t i = 0; i < n; i++) {
                char c = ps.s[ps.tok.off + i];
                low[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
            }
            low[n] = '\0';
            upper_kw = n == ps.tok.len && (strcmp(low, "and") == 0 || strcmp(low, "or") == 0);
        }
        FFAIL(f, ps.tok.off, "unexpected %s after a complete condition; expected 'and', 'or' "
              "or the end%s", desc, upper_kw ? " (keywords are lower case)" : "");
    }
    /* The canonical text is what results.json and the ledger record: it must
     * parse again, to the same text. */
    SL_CALL(canon(f, f->root, N_CMP, false, 0, &depth, &b));
    if (depth > SL_FILTER_MAX_DEPTH || b.len > SL_FILTER_MAX_TEXT)
        FFAIL(f, 0, "written out in full (with a pair of parentheses around each 'and' "
              "inside an 'or', and quotes escaped), as results.json records it, the "
              "expression would be %s; expected at most %d",
              depth > SL_FILTER_MAX_DEPTH ? "nested too deeply" : "too long",
              depth > SL_FILTER_MAX_DEPTH ? SL_FILTER_MAX_DEPTH : SL_FILTER_MAX_TEXT);
    f->canon = b.p;
    b.p = NULL;
    *out = f;
    f = NULL;
cleanup:
    sl_free(b.p);
    sl_filter_destroy(&f);
    return st;
}

const char *sl_filter_text(const struct sl_filter *f)
{
    return f != NULL ? f->canon : NULL;
}

/* ---- binding ---- */

/* Days since 1970-01-01 of a "YYYY-MM-DD" string (proleptic Gregorian). */
static bool parse_date(const char *s, int32_t *out)
{
    for (int i = 0; i < 10; i++) {
        bool dash = i == 4 || i == 7;
        if (dash ? s[i] != '-' : !is_digit(s[i]))
            return false;
    }
    if (s[10] != '\0')
        return false;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0');
    int d = (s[8] - '0') * 10 + (s[9] - '0');
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap))
        return false;
    /* Count from 0000-03-01 so the leap day falls at the end of a year. */
    int yy = m <= 2 ? y - 1 : y;
    int mm = m <= 2 ? m + 9 : m - 3;
    int64_t days = 365LL * yy + yy / 4 - yy / 100 + yy / 400 + (153 * mm + 2) / 5 + d - 1;
    *out = (int32_t)(days - 719468);
    return true;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_f64(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static sl_status unknown_column(const struct sl_filter *f, const struct node *n,
                                const struct sl_colinfo *cols, int ncols)
{
    sl_status st = SL_OK;
    char hint[640];
    sl_column_hint(cols, ncols, n->col, hint, sizeof hint);
    FFAIL(f, n->col_off, "unknown column '%.64s'; %s", n->col, hint);
cleanup:
    return st;
}

static sl_status bind_leaf(struct sl_filter *f, struct node *n, const struct sl_colinfo *cols,
                           int ncols)
{
    sl_status st = SL_OK;
    int ci = -1;
    for (int i = 0; i < ncols && ci < 0; i++)
        if (strcmp(cols[i].name, n->col) == 0)
            ci = i;
    if (ci < 0)
        SL_CALL(unknown_column(f, n, cols, ncols));
    const struct sl_colinfo *c = &cols[ci];
    n->colidx = ci;
    switch (c->type) {
    case SL_COL_ID:
        FFAIL(f, n->col_off, "column '%s' holds patient identifiers and cannot be filtered on; "
              "expected a column of another type", c->name);
    case SL_COL_INT: n->stor = ST_I64; n->ordered = true; break;
    case SL_COL_REAL: n->stor = ST_F64; n->ordered = true; break;
    case SL_COL_CAT: n->stor = ST_I32; n->miss_max = -1; break;
    case SL_COL_DATE: n->stor = ST_I32; n->miss_max = INT32_MIN; n->ordered = true; break;
    default:
        FFAIL(f, n->col_off, "column '%s' has an unknown type; expected integer, real, "
              "categorical or date", c->name);
    }
    if (n->kind == N_MISSING) {
        n->form = F_MISSING;
        goto cleanup;
    }
    if (c->type == SL_COL_CAT && n->kind == N_CMP && n->op != OP_EQ && n->op != OP_NE)
        FFAIL(f, n->op_off, "column '%s' is categorical; expected ==, != or in, not '%s'",
              c->name, op_names[n->op]);
    for (int k = 0; k < n->nlits; k++) {
        const struct lit *l = &n->lits[k];
        if (c->type == SL_COL_INT || c->type == SL_COL_REAL) {
            if (l->is_str)
                FFAIL(f, l->off, "column '%s' is numeric (%s); expected a number, not the "
                      "string \"%.64s\"", c->name, sl_coltype_name(c->type), l->str);
        } else if (c->type == SL_COL_DATE) {
            int32_t days;
            if (!l->is_str)
                FFAIL(f, l->off, "column '%s' is a date; expected a date string such as "
                      "\"1980-01-31\", not a number", c->name);
            if (!parse_date(l->str, &days))
                FFAIL(f, l->off, "\"%.64s\" is not a valid date; expected \"YYYY-MM-DD\"",
                      l->str);
        } else {
            if (!l->is_str)
                FFAIL(f, l->off, "column '%s' is categorical; expected a label in quotes "
                      "such as \"%.*s\", not a number", c->name, (int)l->len,
                      f->text + l->off);
            bool known = false;
            for (int32_t v = 0; v < c->nlevels && !known; v++)
                known = strcmp(c->levels[v], l->str) == 0;
            if (!known) {
                char list[512] = "";
                for (int32_t v = 0; v < c->nlevels && v < 10; v++)
                    sl_strbuf_append(list, sizeof list, "%s\"%s\"", v ? ", " : "",
                                     c->levels[v]);
                if (c->nlevels > 10)
                    sl_strbuf_append(list, sizeof list, " and %d more", (int)(c->nlevels - 10));
                FFAIL(f, l->off, "\"%.64s\" is not a level of column '%s'; expected one of "
                      "%s", l->str, c->name, c->nlevels > 0 ? list : "(none: it has no levels)");
            }
        }
    }
cleanup:
    return st;
}

static int32_t level_code(const struct sl_colinfo *c, const char *label)
{
    for (int32_t v = 0; v < c->nlevels; v++)
        if (strcmp(c->levels[v], label) == 0)
            return v;
    return -1;
}

static const double two63 = 9223372036854775808.0;

/* An integer column compared with any number: exact, without rounding the
 * column's values through double. */
static void form_int_cmp(struct node *n, const struct lit *l)
{
    double d = l->d;
    n->form = F_CMP;
    if (l->is_int) {
        n->iv = l->i;
        return;
    }
    if (d == floor(d) && d >= -two63 && d < two63) {
        n->iv = (int64_t)d;
        return;
    }
    switch (n->op) {
    case OP_EQ: n->form = F_CONST; n->konst = TV_FALSE; return;
    case OP_NE: n->form = F_CONST; n->konst = TV_TRUE; return;
    case OP_LT:
    case OP_LE: {
        double fl = floor(d);
        if (fl >= two63 || fl < -two63) {
            n->form = F_CONST;
            n->konst = fl >= two63 ? TV_TRUE : TV_FALSE;
            return;
        }
        n->op = OP_LE;
        n->iv = (int64_t)fl;
        return;
    }
    case OP_GT:
    case OP_GE: {
        double ce = ceil(d);
        if (ce >= two63 || ce < -two63) {
            n->form = F_CONST;
            n->konst = ce >= two63 ? TV_FALSE : TV_TRUE;
            return;
        }
        n->op = OP_GE;
        n->iv = (int64_t)ce;
        return;
    }
    }
}

/* Turns a checked leaf into its evaluation form. */
static sl_status form_leaf(struct node *n, const struct sl_colinfo *c)
{
    sl_status st = SL_OK;
    if (n->kind == N_MISSING)
        goto cleanup;
    if (n->kind == N_CMP) {
        const struct lit *l = &n->lits[0];
        int32_t days;
        n->form = F_CMP;
        switch (c->type) {
        case SL_COL_INT: form_int_cmp(n, l); break;
        case SL_COL_REAL: n->dv = l->d; break;
        case SL_COL_DATE: parse_date(l->str, &days); n->iv = days; break;
        case SL_COL_CAT: n->iv = level_code(c, l->str); break;
        case SL_COL_ID: break;
        }
        goto cleanup;
    }
    if (c->type == SL_COL_CAT) {
        n->form = F_LUT;
        n->nlut = c->nlevels;
        n->lut = sl_calloc((size_t)c->nlevels + 1, 1);
        SL_CHECK(n->lut != NULL, SL_ERR_NOMEM, "out of memory binding the filter");
        for (int k = 0; k < n->nlits; k++)
            n->lut[level_code(c, n->lits[k].str)] = 1;
        goto cleanup;
    }
    n->form = F_SET;
    if (c->type == SL_COL_REAL) {
        n->dset = sl_malloc((size_t)n->nlits * sizeof *n->dset);
        SL_CHECK(n->dset != NULL, SL_ERR_NOMEM, "out of memory binding the filter");
        for (int k = 0; k < n->nlits; k++)
            n->dset[n->nset++] = n->lits[k].d;
        qsort(n->dset, (size_t)n->nset, sizeof *n->dset, cmp_f64);
        goto cleanup;
    }
    n->iset = sl_malloc((size_t)n->nlits * sizeof *n->iset);
    SL_CHECK(n->iset != NULL, SL_ERR_NOMEM, "out of memory binding the filter");
    for (int k = 0; k < n->nlits; k++) {
        const struct lit *l = &n->lits[k];
        if (c->type == SL_COL_DATE) {
            int32_t days;
            parse_date(l->str, &days);
            n->iset[n->nset++] = days;
        } else if (l->is_int) {
            n->iset[n->nset++] = l->i;
        } else if (l->d == floor(l->d) && l->d >= -two63 && l->d < two63) {
            n->iset[n->nset++] = (int64_t)l->d;
        }
    }
    qsort(n->iset, (size_t)n->nset, sizeof *n->iset, cmp_i64);
    if (n->nset == 0) {
        n->form = F_CONST;
        n->konst = TV_FALSE;
    }
cleanup:
    return st;
}

sl_status sl_filter_bind_columns(struct sl_filter *f, const struct sl_colinfo *cols, int ncols)
{
    sl_status st = SL_OK;
    bool *used = NULL;
    SL_CHECK(f != NULL && (cols != NULL || ncols == 0) && ncols >= 0, SL_ERR_ARG,
             "sl_filter_bind_columns: bad argument");
    unbind(f);
    used = sl_calloc((size_t)ncols + 1, sizeof *used);
    SL_CHECK(used != NULL, SL_ERR_NOMEM, "out of memory binding the filter");
    for (int i = 0; i < f->nnodes; i++) {
        struct node *n = &f->nodes[i];
        if (n->kind != N_CMP && n->kind != N_IN && n->kind != N_MISSING)
            continue;
        SL_CALL(bind_leaf(f, n, cols, ncols));
        SL_CALL(form_leaf(n, &cols[n->colidx]));
        used[n->colidx] = true;
    }
    for (int i = 0; i < ncols; i++)
        f->ncols += used[i];
    f->cols = sl_malloc((size_t)f->ncols * sizeof *f->cols + 1);
    SL_CHECK(f->cols != NULL, SL_ERR_NOMEM, "out of memory binding the filter");
    for (int i = 0, k = 0; i < ncols; i++)
        if (used[i])
            f->cols[k++] = i;
    f->bound = true;
cleanup:
    if (st != SL_OK && f != NULL)
        unbind(f);
    sl_free(used);
    return st;
}

sl_status sl_filter_bind(struct sl_filter *f, const struct sl_cohort *c)
{
    sl_status st = SL_OK;
    struct sl_colinfo *cols = NULL;
    SL_CHECK(f != NULL && c != NULL, SL_ERR_ARG, "sl_filter_bind: NULL argument");
    int ncols = sl_cohort_ncols(c);
    cols = sl_calloc((size_t)ncols + 1, sizeof *cols);
    SL_CHECK(cols != NULL, SL_ERR_NOMEM, "out of memory binding the filter");
    for (int i = 0; i < ncols; i++)
        cols[i] = *sl_cohort_col(c, i);
    SL_CALL(sl_filter_bind_columns(f, cols, ncols));
cleanup:
    sl_free(cols);
    return st;
}

/* Narrows the range of column n->col in r[0 .. *n) (adding it when new) by
 * the comparison n. */
static void narrow(struct sl_filter_range *r, int *nr, const struct node *n)
{
    double v = n->stor == ST_F64 ? n->dv : (double)n->iv;
    struct sl_filter_range *x = NULL;
    bool lower = n->op == OP_GT || n->op == OP_GE || n->op == OP_EQ;
    bool upper = n->op == OP_LT || n->op == OP_LE || n->op == OP_EQ;

    for (int i = 0; i < *nr && !x; i++)
        if (strcmp(r[i].column, n->col) == 0)
            x = &r[i];
    if (!x) {
        x = &r[(*nr)++];
        *x = (struct sl_filter_range){.column = n->col};
    }
    if (lower) {
        bool closed = n->op == OP_GT;
        if (!x->has_from || v > x->from || (v == x->from && closed && !x->from_closed)) {
            x->from = v;
            x->from_closed = closed;
        }
        x->has_from = true;
    }
    if (upper) {
        bool closed = n->op != OP_LT;
        if (!x->has_to || v < x->to || (v == x->to && !closed && x->to_closed)) {
            x->to = v;
            x->to_closed = closed;
        }
        x->has_to = true;
    }
}

/* The top-level conjuncts of f (the nodes under the root's chain of
 * "and"s) into c (room for nnodes), in order; returns their number. */
static int conjuncts(const struct sl_filter *f, int *c)
{
    int n = 0, depth = 0;
    int *stack = c + f->nnodes; /* the second half of c's room */

    stack[depth++] = f->root;
    while (depth > 0) {
        int idx = stack[--depth];
        if (f->nodes[idx].kind == N_AND) {
            stack[depth++] = f->nodes[idx].right;
            stack[depth++] = f->nodes[idx].left;
        } else {
            c[n++] = idx;
        }
    }
    return n;
}

/* Whether conjunct n bounds an ordered column (a range comparison). */
static bool bounds(const struct node *n)
{
    return n->kind == N_CMP && n->ordered && n->form == F_CMP && n->op != OP_NE;
}

static int conjunct_cmp(const void *a, const void *b)
{
    const struct sl_filter_conjunct *x = a, *y = b;
    return strcmp(x->text, y->text);
}

sl_status sl_filter_conjuncts(const struct sl_filter *f, struct sl_filter_conjunct **out,
                              int *nout)
{
    sl_status st = SL_OK;
    struct sl_filter_conjunct *cj = NULL;
    int *c = NULL, nc = 0, n = 0, k = 0, depth = 0;

    SL_CHECK(f != NULL && out != NULL && nout != NULL, SL_ERR_ARG,
             "sl_filter_conjuncts: NULL argument");
    SL_CHECK(f->bound, SL_ERR_ARG, "sl_filter_conjuncts: the filter is not bound to a cohort");
    c = sl_malloc(2 * ((size_t)f->nnodes + 1) * sizeof *c);
    cj = sl_calloc((size_t)f->nnodes + 1, sizeof *cj);
    SL_CHECK(c && cj, SL_ERR_NOMEM, "out of memory");
    nc = conjuncts(f, c);
    for (int i = 0; i < nc; i++) {
        struct sbuf t = {0};
        const struct node *nd = &f->nodes[c[i]];
        st = canon(f, c[i], N_AND, false, 0, &depth, &t);
        cj[n].text = t.p;
        cj[n++].bounds = bounds(nd) ? nd->col : NULL;
        SL_CALL(st);
    }
    qsort(cj, (size_t)n, sizeof *cj, conjunct_cmp);
    for (int i = 0; i < n; i++) {
        struct sl_filter_conjunct x = cj[i];
        cj[i].text = NULL;
        if (k > 0 && strcmp(x.text, cj[k - 1].text) == 0)
            sl_free(x.text);
        else
            cj[k++] = x;
    }
    n = k;
    *out = cj;
    *nout = n;
    cj = NULL;
cleanup:
    sl_filter_conjuncts_free(&cj, n);
    sl_free(c);
    return st;
}

void sl_filter_conjuncts_free(struct sl_filter_conjunct **c, int n)
{
    if (*c == NULL)
        return;
    for (int i = 0; i < n; i++)
        sl_free((*c)[i].text);
    sl_free(*c);
    *c = NULL;
}

sl_status sl_filter_ranges(const struct sl_filter *f, struct sl_filter_range **out, int *nout)
{
    sl_status st = SL_OK;
    struct sl_filter_range *r = NULL;
    int *c = NULL, nc, nr = 0;

    SL_CHECK(f != NULL && out != NULL && nout != NULL, SL_ERR_ARG,
             "sl_filter_ranges: NULL argument");
    SL_CHECK(f->bound, SL_ERR_ARG, "sl_filter_ranges: the filter is not bound to a cohort");
    r = sl_calloc((size_t)f->nnodes + 1, sizeof *r);
    c = sl_malloc(2 * ((size_t)f->nnodes + 1) * sizeof *c);
    SL_CHECK(r && c, SL_ERR_NOMEM, "out of memory");
    nc = conjuncts(f, c);
    for (int i = 0; i < nc; i++)
        if (bounds(&f->nodes[c[i]]))
            narrow(r, &nr, &f->nodes[c[i]]);
    *out = r;
    *nout = nr;
    r = NULL;
cleanup:
    sl_free(r);
    sl_free(c);
    return st;
}

sl_status sl_filter_columns(const struct sl_filter *f, int **cols, int *ncols)
{
    sl_status st = SL_OK;
    SL_CHECK(f != NULL && cols != NULL && ncols != NULL, SL_ERR_ARG,
             "sl_filter_columns: NULL argument");
    SL_CHECK(f->bound, SL_ERR_ARG, "sl_filter_columns: the filter is not bound to a cohort");
    int *out = sl_malloc((size_t)f->ncols * sizeof *out + 1);
    SL_CHECK(out != NULL, SL_ERR_NOMEM, "out of memory");
    memcpy(out, f->cols, (size_t)f->ncols * sizeof *out);
    *cols = out;
    *ncols = f->ncols;
cleanup:
    return st;
}

/* ---- evaluation ---- */

#define TV_LOOP(MISS, COND)                                                             \
    for (size_t i = 0; i < n; i++)                                                      \
        out[i] = (MISS) ? (uint8_t)TV_UNKNOWN : (uint8_t)((COND) ? TV_TRUE : TV_FALSE)

#define TV_OPS(MISS, X, V)                                                              \
    switch (nd->op) {                                                                   \
    case OP_EQ: TV_LOOP(MISS, (X) == (V)); break;                                       \
    case OP_NE: TV_LOOP(MISS, (X) != (V)); break;                                       \
    case OP_LT: TV_LOOP(MISS, (X) < (V)); break;                                        \
    case OP_LE: TV_LOOP(MISS, (X) <= (V)); break;                                       \
    case OP_GT: TV_LOOP(MISS, (X) > (V)); break;                                        \
    case OP_GE: TV_LOOP(MISS, (X) >= (V)); break;                                       \
    }

static bool in_iset(const int64_t *set, int nset, int64_t v)
{
    if (nset <= 8) {
        for (int k = 0; k < nset; k++)
            if (set[k] == v)
                return true;
        return false;
    }
    int lo = 0, hi = nset;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (set[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < nset && set[lo] == v;
}

static bool in_dset(const double *set, int nset, double v)
{
    int lo = 0, hi = nset;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (set[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < nset && set[lo] == v;
}

static void eval_i64(const struct node *nd, const int64_t *x, size_t n, uint8_t *out)
{
    const int64_t v = nd->iv;
    switch (nd->form) {
    case F_CMP: TV_OPS(x[i] == SL_INT_MISSING, x[i], v); break;
    case F_SET: TV_LOOP(x[i] == SL_INT_MISSING, in_iset(nd->iset, nd->nset, x[i])); break;
    case F_CONST: TV_LOOP(x[i] == SL_INT_MISSING, nd->konst == TV_TRUE); break;
    case F_MISSING: TV_LOOP(false, (x[i] == SL_INT_MISSING) != nd->negate); break;
    case F_LUT: break;
    }
}

static void eval_f64(const struct node *nd, const double *x, size_t n, uint8_t *out)
{
    const double v = nd->dv;
    switch (nd->form) {
    case F_CMP: TV_OPS(isnan(x[i]), x[i], v); break;
    case F_SET: TV_LOOP(isnan(x[i]), in_dset(nd->dset, nd->nset, x[i])); break;
    case F_CONST: TV_LOOP(isnan(x[i]), nd->konst == TV_TRUE); break;
    case F_MISSING: TV_LOOP(false, isnan(x[i]) != nd->negate); break;
    case F_LUT: break;
    }
}

static void eval_i32(const struct node *nd, const int32_t *x, size_t n, uint8_t *out)
{
    const int32_t mm = nd->miss_max;
    const int64_t v = nd->iv;
    switch (nd->form) {
    case F_CMP: TV_OPS(x[i] <= mm, (int64_t)x[i], v); break;
    case F_SET: TV_LOOP(x[i] <= mm, in_iset(nd->iset, nd->nset, x[i])); break;
    case F_LUT: TV_LOOP(x[i] <= mm, x[i] < nd->nlut && nd->lut[x[i]]); break;
    case F_CONST: TV_LOOP(x[i] <= mm, nd->konst == TV_TRUE); break;
    case F_MISSING: TV_LOOP(false, (x[i] <= mm) != nd->negate); break;
    }
}

struct eval_ctx {
    const struct sl_filter *f;
    const void **data;        /* per node: its column's first row of this block */
    uint8_t *bufs;            /* f->nodes[root].need arrays of SL_FILTER_BLOCK */
    size_t n;                 /* rows in this block */
};

static void eval_node(const struct eval_ctx *ex, int idx, int level)
{
    const struct node *nd = &ex->f->nodes[idx];
    uint8_t *out = ex->bufs + (size_t)level * SL_FILTER_BLOCK;
    size_t n = ex->n;
    switch (nd->kind) {
    case N_AND:
    case N_OR: {
        uint8_t *other = out + SL_FILTER_BLOCK;
        eval_node(ex, nd->left, level);
        eval_node(ex, nd->right, level + 1);
        if (nd->kind == N_AND)
            for (size_t i = 0; i < n; i++)
                out[i] = (uint8_t)(out[i] < other[i] ? out[i] : other[i]);
        else
            for (size_t i = 0; i < n; i++)
                out[i] = (uint8_t)(out[i] > other[i] ? out[i] : other[i]);
        break;
    }
    case N_NOT:
        eval_node(ex, nd->left, level);
        for (size_t i = 0; i < n; i++)
            out[i] = (uint8_t)(TV_TRUE - out[i]);
        break;
    case N_CMP:
    case N_IN:
    case N_MISSING:
        switch (nd->stor) {
        case ST_I64: eval_i64(nd, ex->data[idx], n, out); break;
        case ST_F64: eval_f64(nd, ex->data[idx], n, out); break;
        case ST_I32: eval_i32(nd, ex->data[idx], n, out); break;
        }
        break;
    }
}

static size_t stor_size(enum storage s)
{
    return s == ST_I32 ? sizeof(int32_t) : sizeof(int64_t);
}

sl_status sl_filter_eval(const struct sl_filter *f, const struct sl_frame *fr, int64_t row0,
                         int64_t nrows, uint8_t *mask)
{
    sl_status st = SL_OK;
    const void **base = NULL;
    const void **data = NULL;
    struct sl_secbuf *scratch = NULL;
    SL_CHECK(f != NULL && fr != NULL && (mask != NULL || nrows == 0), SL_ERR_ARG,
             "sl_filter_eval: NULL argument");
    SL_CHECK(f->bound, SL_ERR_ARG, "sl_filter_eval: the filter is not bound to a cohort");
    SL_CHECK(row0 >= 0 && nrows >= 0 && row0 <= fr->nrows && nrows <= fr->nrows - row0,
             SL_ERR_ARG, "sl_filter_eval: rows [%lld, %lld) outside the frame's %lld rows",
             (long long)row0, (long long)(row0 + nrows), (long long)fr->nrows);
    if (nrows == 0)
        goto cleanup;
    base = sl_calloc((size_t)f->nnodes, sizeof *base);
    data = sl_calloc((size_t)f->nnodes, sizeof *data);
    SL_CHECK(base != NULL && data != NULL, SL_ERR_NOMEM, "out of memory");
    for (int i = 0; i < f->nnodes; i++) {
        const struct node *nd = &f->nodes[i];
        if (nd->kind != N_CMP && nd->kind != N_IN && nd->kind != N_MISSING)
            continue;
        int j = -1;
        for (int k = 0; k < fr->ncols && j < 0; k++)
            if (fr->col_index[k] == nd->colidx)
                j = k;
        SL_CHECK(j >= 0, SL_ERR_ARG, "sl_filter_eval: the frame lacks column '%s' that the "
                 "filter reads", nd->col);
        size_t need = (size_t)fr->nrows * stor_size(nd->stor);
        SL_CHECK(fr->data[j] != NULL && fr->data[j]->size >= need, SL_ERR_ARG,
                 "sl_filter_eval: the frame's column '%s' holds fewer than %lld rows",
                 nd->col, (long long)fr->nrows);
        base[i] = fr->data[j]->data;
    }
    int levels = f->nodes[f->root].need;
    SL_CALL(sl_secbuf_create((size_t)levels * SL_FILTER_BLOCK, &scratch));
    struct eval_ctx ex = {f, data, scratch->data, 0};
    for (int64_t r = 0; r < nrows; r += SL_FILTER_BLOCK) {
        int64_t left = nrows - r;
        ex.n = left < SL_FILTER_BLOCK ? (size_t)left : SL_FILTER_BLOCK;
        for (int i = 0; i < f->nnodes; i++)
            if (base[i] != NULL)
                data[i] = (const char *)base[i] +
                          (size_t)(row0 + r) * stor_size(f->nodes[i].stor);
        eval_node(&ex, f->root, 0);
        for (size_t i = 0; i < ex.n; i++)
            mask[r + (int64_t)i] = (uint8_t)(ex.bufs[i] == TV_TRUE);
    }
cleanup:
    sl_secbuf_destroy(&scratch);
    sl_free(data);
    sl_free(base);
    return st;
}
