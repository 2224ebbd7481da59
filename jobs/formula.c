/*
 * formula.c: R-style model formulas and design layout (see formula.h).
 *
 * The parser is recursive descent over
 *   formula := name '~' sum
 *   sum     := ['+' | '-'] product (('+' | '-') product)*
 *   product := inter ('*' inter)*
 *   inter   := primary (':' primary)*
 *   primary := name | `name` | 0 | 1 | '(' sum ')'
 * Each expression evaluates to a list of terms (bit sets over the variables)
 * plus its effect on the intercept, combined as R's terms.formula does. The
 * design layout then applies R's coding rule (TermCode in R's model.c): a
 * categorical variable in a term is coded by contrasts when the term without
 * it is empty or contained in an earlier term, and by indicators otherwise.
 * Parentheses nest at most MAX_DEPTH deep, a term list holds at most
 * SL_DESIGN_MAX_COLS terms (each term gives at least one coefficient), and
 * the duplicate checks while lists combine are counted against MAX_WORK, so
 * that a short formula such as a*b*c*...*z cannot hang the parser.
 */
#include "jobs/formula.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine/core/alloc.h"

enum { MAX_DEPTH = 64 };
#define MAX_WORK ((int64_t)1 << 27) /* about 0.1 s of term comparisons */

/* ---- parser state and errors ---- */

enum tok { T_END, T_NAME, T_NUM, T_TILDE, T_PLUS, T_MINUS, T_STAR, T_COLON, T_LP, T_RP };

struct token {
    enum tok k;
    size_t pos; /* 0-based offset in the text */
    const char *p;
    size_t len; /* name text (without backquotes) */
    int num;
};

struct parser {
    const char *s;
    size_t i;
    struct token tk;
    struct sl_formula *f;
    int lhs_done;
    int depth;    /* parentheses open */
    int64_t work; /* term comparisons so far */
};

static sl_status perr(const struct parser *ps, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static sl_status perr(const struct parser *ps, size_t pos, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sl_error_set(SL_ERR_FORMAT, __FILE__, __LINE__, __func__,
                        "formula '%.200s': at character %zu: %s", ps->s, pos + 1, msg);
}

/* ---- term lists ---- */

struct tlist {
    uint64_t *t;
    int n, cap;
};

struct val {
    struct tlist l;
    int icpt;   /* -1: no effect on the intercept; 0: removes it; 1: adds it */
    size_t pos; /* where the expression starts, for messages */
};

static void tlist_free(struct tlist *l)
{
    sl_free(l->t);
    memset(l, 0, sizeof *l);
}

static int tlist_find(struct parser *ps, const struct tlist *l, uint64_t term)
{
    ps->work += l->n;
    for (int i = 0; i < l->n; i++)
        if (l->t[i] == term)
            return i;
    return -1;
}

/* Appends `term` unless present; `pos` is the operator that made it. */
static sl_status tlist_add(struct parser *ps, struct tlist *l, uint64_t term, size_t pos)
{
    sl_status st = SL_OK;
    if (tlist_find(ps, l, term) >= 0)
        return SL_OK;
    if (l->n == SL_DESIGN_MAX_COLS)
        return perr(ps, pos,
                    "the formula expands to more than %d terms; a model has at most %d "
                    "coefficients (n variables joined by '*' make 2^n - 1 terms)",
                    SL_DESIGN_MAX_COLS, SL_DESIGN_MAX_COLS);
    if (ps->work > MAX_WORK)
        return perr(ps, pos,
                    "the formula's interactions repeat the same terms too often to expand; "
                    "write the terms it needs once each");
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 8;
        uint64_t *g = sl_realloc(l->t, (size_t)cap * sizeof *g);
        SL_CHECK(g, SL_ERR_NOMEM, "out of memory");
        l->t = g;
        l->cap = cap;
    }
    l->t[l->n++] = term;
cleanup:
    return st;
}

static void tlist_remove(struct parser *ps, struct tlist *l, uint64_t term)
{
    int i = tlist_find(ps, l, term);
    if (i < 0)
        return;
    memmove(l->t + i, l->t + i + 1, (size_t)(l->n - i - 1) * sizeof *l->t);
    l->n--;
}

static int popcount64(uint64_t x)
{
    int c = 0;
    for (; x; x &= x - 1)
        c++;
    return c;
}

/* ---- lexer ---- */


static int is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '.';
}

static int is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

static sl_status next(struct parser *ps)
{
    sl_status st = SL_OK;
    const char *s = ps->s;
    size_t i = ps->i;
    struct token t = {T_END, 0, NULL, 0, 0};

    while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
        i++;
    t.pos = i;
    switch (s[i]) {
    case '\0': t.k = T_END; break;
    case '~': t.k = T_TILDE; i++; break;
    case '+': t.k = T_PLUS; i++; break;
    case '-': t.k = T_MINUS; i++; break;
    case '*': t.k = T_STAR; i++; break;
    case ':': t.k = T_COLON; i++; break;
    case '(': t.k = T_LP; i++; break;
    case ')': t.k = T_RP; i++; break;
    case '^':
        st = perr(ps, i, "'^' is not supported; write the interactions with ':' or '*'");
        goto cleanup;
    case '/':
    case '%':
        st = perr(ps, i, "nested terms ('/', '%%in%%') are not supported; use ':' or '*'");
        goto cleanup;
    case '`': {
        size_t j = i + 1;
        while (s[j] && s[j] != '`')
            j++;
        if (!s[j]) {
            st = perr(ps, i, "a backquoted name is not closed");
            goto cleanup;
        }
        if (j == i + 1) {
            st = perr(ps, i, "a backquoted name is empty");
            goto cleanup;
        }
        t.k = T_NAME;
        t.p = s + i + 1;
        t.len = j - i - 1;
        i = j + 1;
        break;
    }
    default:
        if (s[i] >= '0' && s[i] <= '9') {
            size_t j = i;
            while ((s[j] >= '0' && s[j] <= '9') || s[j] == '.')
                j++;
            if (j != i + 1 || (s[i] != '0' && s[i] != '1')) {
                st = perr(ps, i, "a number here can only be 0 or 1 (the intercept)");
                goto cleanup;
            }
            t.k = T_NUM;
            t.num = s[i] - '0';
            i = j;
        } else if (is_name_start(s[i])) {
            size_t j = i;
            while (is_name_char(s[j]))
                j++;
            if (j == i + 1 && s[i] == '.') {
                st = perr(ps, i, "'.' (all other columns) is not supported; name the predictors");
                goto cleanup;
            }
            if (s[i] == '.' && s[i + 1] >= '0' && s[i + 1] <= '9') {
                st = perr(ps, i, "a number here can only be 0 or 1 (the intercept)");
                goto cleanup;
            }
            t.k = T_NAME;
            t.p = s + i;
            t.len = j - i;
            i = j;
            {
                size_t k = i;
                while (s[k] == ' ' || s[k] == '\t')
                    k++;
                if (s[k] == '(') {
                    st = perr(ps, t.pos,
                              "functions such as %.*s() are not supported; derive the "
                              "column when the cohort is ingested",
                              (int)(t.len > 40 ? 40 : t.len), t.p);
                    goto cleanup;
                }
            }
        } else {
            st = perr(ps, i, "unexpected character '%c'", s[i]);
            goto cleanup;
        }
    }
    ps->i = i;
    ps->tk = t;
cleanup:
    return st;
}

static const char *tok_name(enum tok k)
{
    switch (k) {
    case T_END: return "the end";
    case T_NAME: return "a name";
    case T_NUM: return "a number";
    case T_TILDE: return "'~'";
    case T_PLUS: return "'+'";
    case T_MINUS: return "'-'";
    case T_STAR: return "'*'";
    case T_COLON: return "':'";
    case T_LP: return "'('";
    case T_RP: return "')'";
    }
    return "?";
}

/* ---- variables ---- */

static sl_status add_var(struct parser *ps, const struct token *t, int *index)
{
    sl_status st = SL_OK;
    struct sl_formula *f = ps->f;
    char *name = NULL;

    name = sl_malloc(t->len + 1);
    SL_CHECK(name, SL_ERR_NOMEM, "out of memory");
    memcpy(name, t->p, t->len);
    name[t->len] = '\0';
    if (strcmp(name, f->response) == 0) {
        st = perr(ps, t->pos, "the response '%.64s' also appears on the right-hand side", name);
        goto cleanup;
    }
    for (int v = 0; v < f->nvars; v++)
        if (strcmp(f->vars[v], name) == 0) {
            *index = v;
            goto cleanup;
        }
    if (f->nvars == SL_FORMULA_MAX_VARS) {
        st = perr(ps, t->pos, "a formula may name at most %d variables", SL_FORMULA_MAX_VARS);
        goto cleanup;
    }
    {
        char **g = sl_realloc(f->vars, (size_t)(f->nvars + 1) * sizeof *g);
        SL_CHECK(g, SL_ERR_NOMEM, "out of memory");
        f->vars = g;
    }
    f->vars[f->nvars] = name;
    name = NULL;
    *index = f->nvars++;
cleanup:
    sl_free(name);
    return st;
}

/* ---- expressions ---- */

static sl_status parse_sum(struct parser *ps, struct val *out);

static sl_status parse_primary(struct parser *ps, struct val *out)
{
    sl_status st = SL_OK;
    struct val v = {{NULL, 0, 0}, -1, ps->tk.pos};

    switch (ps->tk.k) {
    case T_NAME: {
        int idx = 0;
        SL_CALL(add_var(ps, &ps->tk, &idx));
        SL_CALL(tlist_add(ps, &v.l, (uint64_t)1 << idx, ps->tk.pos));
        SL_CALL(next(ps));
        break;
    }
    case T_NUM:
        v.icpt = ps->tk.num;
        SL_CALL(next(ps));
        break;
    case T_LP: {
        size_t open = ps->tk.pos;
        if (ps->depth == MAX_DEPTH) {
            st = perr(ps, open, "parentheses nested too deeply; expected at most %d levels",
                      MAX_DEPTH);
            goto cleanup;
        }
        SL_CALL(next(ps));
        ps->depth++;
        st = parse_sum(ps, &v);
        ps->depth--;
        SL_CALL(st);
        v.pos = open;
        if (ps->tk.k != T_RP) {
            st = perr(ps, ps->tk.pos, "expected ')' to close the '(' at character %zu, found %s",
                      open + 1, tok_name(ps->tk.k));
            goto cleanup;
        }
        SL_CALL(next(ps));
        break;
    }
    default:
        st = perr(ps, ps->tk.pos, "expected a term (a column name, 0, 1 or '('), found %s",
                  tok_name(ps->tk.k));
        goto cleanup;
    }
    *out = v;
    v.l.t = NULL;
cleanup:
    tlist_free(&v.l);
    return st;
}

static sl_status no_intercept_in(const struct parser *ps, const struct val *v)
{
    if (v->icpt >= 0)
        return perr(ps, v->pos, "0 or 1 (the intercept) cannot be part of an interaction");
    return SL_OK;
}

/* a:b over term lists: every union of a term of a with a term of b (the
 * operator at pos). */
static sl_status interact(struct parser *ps, const struct tlist *a, const struct tlist *b,
                          struct tlist *out, size_t pos)
{
    sl_status st = SL_OK;
    for (int i = 0; i < a->n; i++)
        for (int j = 0; j < b->n; j++)
            SL_CALL(tlist_add(ps, out, a->t[i] | b->t[j], pos));
cleanup:
    return st;
}

static sl_status parse_inter(struct parser *ps, struct val *out)
{
    sl_status st = SL_OK;
    struct val acc = {{NULL, 0, 0}, -1, 0}, rhs = {{NULL, 0, 0}, -1, 0};
    struct tlist prod = {NULL, 0, 0};

    SL_CALL(parse_primary(ps, &acc));
    while (ps->tk.k == T_COLON) {
        size_t op = ps->tk.pos;
        SL_CALL(no_intercept_in(ps, &acc));
        SL_CALL(next(ps));
        SL_CALL(parse_primary(ps, &rhs));
        SL_CALL(no_intercept_in(ps, &rhs));
        SL_CALL(interact(ps, &acc.l, &rhs.l, &prod, op));
        tlist_free(&acc.l);
        acc.l = prod;
        memset(&prod, 0, sizeof prod);
        tlist_free(&rhs.l);
    }
    *out = acc;
    acc.l.t = NULL;
cleanup:
    tlist_free(&acc.l);
    tlist_free(&rhs.l);
    tlist_free(&prod);
    return st;
}

static sl_status parse_product(struct parser *ps, struct val *out)
{
    sl_status st = SL_OK;
    struct val acc = {{NULL, 0, 0}, -1, 0}, rhs = {{NULL, 0, 0}, -1, 0};
    struct tlist cross = {NULL, 0, 0};

    SL_CALL(parse_inter(ps, &acc));
    while (ps->tk.k == T_STAR) {
        size_t op = ps->tk.pos;
        SL_CALL(no_intercept_in(ps, &acc));
        SL_CALL(next(ps));
        SL_CALL(parse_inter(ps, &rhs));
        SL_CALL(no_intercept_in(ps, &rhs));
        /* a*b = a + b + a:b, in that order */
        for (int i = 0; i < acc.l.n; i++)
            SL_CALL(tlist_add(ps, &cross, acc.l.t[i], op));
        for (int i = 0; i < rhs.l.n; i++)
            SL_CALL(tlist_add(ps, &cross, rhs.l.t[i], op));
        SL_CALL(interact(ps, &acc.l, &rhs.l, &cross, op));
        tlist_free(&acc.l);
        acc.l = cross;
        memset(&cross, 0, sizeof cross);
        tlist_free(&rhs.l);
    }
    *out = acc;
    acc.l.t = NULL;
cleanup:
    tlist_free(&acc.l);
    tlist_free(&rhs.l);
    tlist_free(&cross);
    return st;
}

static sl_status parse_sum(struct parser *ps, struct val *out)
{
    sl_status st = SL_OK;
    struct val acc = {{NULL, 0, 0}, -1, ps->tk.pos}, op = {{NULL, 0, 0}, -1, 0};
    int sign = 1;

    if (ps->tk.k == T_PLUS || ps->tk.k == T_MINUS) {
        sign = ps->tk.k == T_PLUS ? 1 : -1;
        SL_CALL(next(ps));
    }
    for (;;) {
        SL_CALL(parse_product(ps, &op));
        if (sign > 0) {
            for (int i = 0; i < op.l.n; i++)
                SL_CALL(tlist_add(ps, &acc.l, op.l.t[i], op.pos));
            if (op.icpt >= 0)
                acc.icpt = op.icpt;
        } else {
            for (int i = 0; i < op.l.n; i++)
                tlist_remove(ps, &acc.l, op.l.t[i]);
            if (op.icpt >= 0)
                acc.icpt = !op.icpt;
        }
        tlist_free(&op.l);
        if (ps->tk.k != T_PLUS && ps->tk.k != T_MINUS)
            break;
        sign = ps->tk.k == T_PLUS ? 1 : -1;
        SL_CALL(next(ps));
    }
    *out = acc;
    acc.l.t = NULL;
cleanup:
    tlist_free(&acc.l);
    tlist_free(&op.l);
    return st;
}

void sl_formula_destroy(struct sl_formula **f)
{
    if (!f || !*f)
        return;
    for (int v = 0; v < (*f)->nvars; v++)
        sl_free((*f)->vars[v]);
    sl_free((*f)->vars);
    sl_free((*f)->terms);
    sl_free((*f)->response);
    sl_free((*f)->text);
    sl_free(*f);
    *f = NULL;
}

sl_status sl_formula_parse(const char *text, struct sl_formula **out)
{
    sl_status st = SL_OK;
    struct sl_formula *f = NULL;
    struct parser ps;
    struct val rhs = {{NULL, 0, 0}, -1, 0};

    *out = NULL;
    f = sl_calloc(1, sizeof *f);
    SL_CHECK(f, SL_ERR_NOMEM, "out of memory");
    f->text = sl_strdup(text);
    SL_CHECK(f->text, SL_ERR_NOMEM, "out of memory");
    memset(&ps, 0, sizeof ps);
    ps.s = f->text;
    ps.f = f;
    SL_CALL(next(&ps));
    if (ps.tk.k != T_NAME) {
        st = perr(&ps, ps.tk.pos, "expected the response (a column name) before '~', found %s",
                  tok_name(ps.tk.k));
        goto cleanup;
    }
    f->response = sl_malloc(ps.tk.len + 1);
    SL_CHECK(f->response, SL_ERR_NOMEM, "out of memory");
    memcpy(f->response, ps.tk.p, ps.tk.len);
    f->response[ps.tk.len] = '\0';
    SL_CALL(next(&ps));
    if (ps.tk.k != T_TILDE) {
        st = perr(&ps, ps.tk.pos, "expected '~' after the response, found %s",
                  tok_name(ps.tk.k));
        goto cleanup;
    }
    SL_CALL(next(&ps));
    SL_CALL(parse_sum(&ps, &rhs));
    if (ps.tk.k != T_END) {
        st = perr(&ps, ps.tk.pos, "expected '+', '-', '*', ':' or the end, found %s",
                  tok_name(ps.tk.k));
        goto cleanup;
    }
    f->intercept = rhs.icpt != 0;
    /* R orders terms by degree, keeping their order of appearance within one. */
    f->terms = sl_malloc((size_t)(rhs.l.n + 1) * sizeof *f->terms);
    SL_CHECK(f->terms, SL_ERR_NOMEM, "out of memory");
    for (int deg = 1; deg <= SL_FORMULA_MAX_VARS; deg++)
        for (int i = 0; i < rhs.l.n; i++)
            if (popcount64(rhs.l.t[i]) == deg)
                f->terms[f->nterms++] = rhs.l.t[i];
    *out = f;
    f = NULL;
cleanup:
    tlist_free(&rhs.l);
    sl_formula_destroy(&f);
    return st;
}

void sl_formula_term_label(const struct sl_formula *f, int t, char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return;
    buf[0] = '\0';
    for (int v = 0; v < f->nvars; v++) {
        int w;
        if (!(f->terms[t] >> v & 1))
            continue;
        w = snprintf(buf + used, size - used, "%s%s", used ? ":" : "", f->vars[v]);
        if (w < 0 || (size_t)w >= size - used)
            return;
        used += (size_t)w;
    }
}

bool sl_formula_uses_var(const struct sl_formula *f, int v)
{
    for (int t = 0; t < f->nterms; t++)
        if (f->terms[t] >> v & 1)
            return true;
    return false;
}

/* ---- design layout ---- */

enum { CODE_NUMERIC = 0, CODE_CONTRAST = 1, CODE_DUMMY = 2 };

void sl_design_destroy(struct sl_design **d)
{
    if (!d || !*d)
        return;
    if ((*d)->names)
        for (int64_t c = 0; c < (*d)->ncols; c++)
            sl_free((*d)->names[c]);
    sl_free((*d)->names);
    sl_free((*d)->col_term);
    sl_free((*d)->fac_start);
    sl_free((*d)->fac_var);
    sl_free((*d)->fac_level);
    sl_free(*d);
    *d = NULL;
}

/* R's TermCode: contrasts when the term without variable v is empty or is
 * contained in an earlier term, indicators otherwise. */
static int term_code(const struct sl_formula *f, int t, int v)
{
    uint64_t rest = f->terms[t] & ~((uint64_t)1 << v);
    if (rest == 0)
        return CODE_CONTRAST;
    for (int u = 0; u < t; u++)
        if ((rest & ~f->terms[u]) == 0)
            return CODE_CONTRAST;
    return CODE_DUMMY;
}

/* Number of columns variable v contributes to a term under `code`. */
static int64_t var_width(const struct sl_design_var *dv, int code)
{
    if (code == CODE_NUMERIC)
        return 1;
    return code == CODE_CONTRAST ? dv->nlevels - 1 : dv->nlevels;
}

/* The k-th level a variable contributes under `code` (contrasts skip the
 * reference). */
static int32_t var_level(const struct sl_design_var *dv, int code, int64_t k)
{
    if (code == CODE_NUMERIC)
        return -1;
    if (code == CODE_CONTRAST && k >= dv->reference)
        return (int32_t)k + 1;
    return (int32_t)k;
}

sl_status sl_design_create(const struct sl_formula *f, const struct sl_design_var *vars,
                           struct sl_design **out)
{
    sl_status st = SL_OK;
    struct sl_design *d = NULL;
    int *codes = NULL; /* [nterms * nvars] */
    int64_t ncols = f->intercept ? 1 : 0, nfac = 0, c = 0, fi = 0;
    char name[1024];

    *out = NULL;
    codes = sl_calloc((size_t)(f->nterms * f->nvars + 1), sizeof *codes);
    SL_CHECK(codes, SL_ERR_NOMEM, "out of memory");
    for (int t = 0; t < f->nterms; t++)
        for (int v = 0; v < f->nvars; v++)
            if (f->terms[t] >> v & 1)
                codes[t * f->nvars + v] =
                    vars[v].categorical ? term_code(f, t, v) : CODE_NUMERIC;
    /* Without an intercept, R codes the first categorical variable of the
     * first term that has one by indicators. */
    if (!f->intercept)
        for (int t = 0; t < f->nterms; t++) {
            int done = 0;
            for (int v = 0; v < f->nvars && !done; v++)
                if ((f->terms[t] >> v & 1) && vars[v].categorical) {
                    codes[t * f->nvars + v] = CODE_DUMMY;
                    done = 1;
                }
            if (done)
                break;
        }
    for (int t = 0; t < f->nterms; t++) {
        int64_t w = 1;
        for (int v = 0; v < f->nvars; v++)
            if (f->terms[t] >> v & 1) {
                w *= var_width(&vars[v], codes[t * f->nvars + v]);
                SL_CHECK(w <= SL_DESIGN_MAX_COLS, SL_ERR_FORMAT,
                         "formula '%.200s': the model would have more than %d coefficients",
                         f->text, SL_DESIGN_MAX_COLS);
            }
        ncols += w;
        nfac += w * popcount64(f->terms[t]);
        SL_CHECK(ncols <= SL_DESIGN_MAX_COLS, SL_ERR_FORMAT,
                 "formula '%.200s': the model would have more than %d coefficients", f->text,
                 SL_DESIGN_MAX_COLS);
    }
    SL_CHECK(ncols > 0, SL_ERR_FORMAT,
             "formula '%.200s': the model has no coefficients (no terms and no intercept)",
             f->text);

    d = sl_calloc(1, sizeof *d);
    SL_CHECK(d, SL_ERR_NOMEM, "out of memory");
    d->names = sl_calloc((size_t)ncols, sizeof *d->names);
    d->col_term = sl_malloc((size_t)ncols * sizeof *d->col_term);
    d->fac_start = sl_malloc((size_t)(ncols + 1) * sizeof *d->fac_start);
    d->fac_var = sl_malloc((size_t)(nfac + 1) * sizeof *d->fac_var);
    d->fac_level = sl_malloc((size_t)(nfac + 1) * sizeof *d->fac_level);
    SL_CHECK(d->names && d->col_term && d->fac_start && d->fac_var && d->fac_level,
             SL_ERR_NOMEM, "out of memory");
    d->ncols = ncols;
    if (f->intercept) {
        d->names[0] = sl_strdup("(Intercept)");
        SL_CHECK(d->names[0], SL_ERR_NOMEM, "out of memory");
        d->col_term[0] = -1;
        d->fac_start[0] = 0;
        c = 1;
    }
    for (int t = 0; t < f->nterms; t++) {
        int64_t w = 1;
        for (int v = 0; v < f->nvars; v++)
            if (f->terms[t] >> v & 1)
                w *= var_width(&vars[v], codes[t * f->nvars + v]);
        for (int64_t k = 0; k < w; k++, c++) {
            int64_t rest = k;
            size_t used = 0;
            d->col_term[c] = t;
            d->fac_start[c] = fi;
            name[0] = '\0';
            for (int v = 0; v < f->nvars; v++) {
                int code = codes[t * f->nvars + v];
                int64_t vw, digit;
                int32_t lev;
                int wrote;
                if (!(f->terms[t] >> v & 1))
                    continue;
                vw = var_width(&vars[v], code);
                digit = rest % vw;
                rest /= vw;
                lev = var_level(&vars[v], code, digit);
                d->fac_var[fi] = v;
                d->fac_level[fi] = lev;
                fi++;
                wrote = snprintf(name + used, sizeof name - used, "%s%s%s", used ? ":" : "",
                                 f->vars[v], lev >= 0 ? vars[v].labels[lev] : "");
                SL_CHECK(wrote >= 0 && (size_t)wrote < sizeof name - used, SL_ERR_FORMAT,
                         "formula '%.200s': a coefficient name would exceed %zu characters",
                         f->text, sizeof name - 1);
                used += (size_t)wrote;
            }
            d->names[c] = sl_strdup(name);
            SL_CHECK(d->names[c], SL_ERR_NOMEM, "out of memory");
        }
    }
    d->fac_start[ncols] = fi;
    *out = d;
    d = NULL;
cleanup:
    sl_free(codes);
    sl_design_destroy(&d);
    return st;
}

const double *sl_design_column_ref(const struct sl_design *d, int64_t c,
                                   const double *const *num)
{
    int64_t f0 = d->fac_start[c];
    if (d->fac_start[c + 1] - f0 != 1 || d->fac_level[f0] >= 0)
        return NULL;
    return num[d->fac_var[f0]];
}

void sl_design_fill_column(const struct sl_design *d, int64_t c, int64_t n,
                           const double *const *num, const int32_t *const *lev,
                           const uint8_t *keep, double *col)
{
    int64_t f0 = d->fac_start[c], f1 = d->fac_start[c + 1];
    for (int64_t i = 0; i < n; i++)
        col[i] = keep && !keep[i] ? 0.0 : 1.0;
    for (int64_t k = f0; k < f1; k++) {
        int v = d->fac_var[k];
        int32_t level = d->fac_level[k];
        if (level < 0) {
            const double *xv = num[v];
            for (int64_t i = 0; i < n; i++)
                if (col[i] != 0.0)
                    col[i] *= xv[i];
        } else {
            const int32_t *lv = lev[v];
            for (int64_t i = 0; i < n; i++)
                if (lv[i] != level)
                    col[i] = 0.0;
        }
    }
}
