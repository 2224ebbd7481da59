/*
 * json.c: the strict in-place JSON tokenizer behind json_impl.h.
 *
 * One pass over the line with an explicit stack of open containers (at most
 * SL_JSON_MAX_DEPTH deep), so hostile nesting cannot exhaust the C stack and
 * the work is linear in the input. Tokens are appended in document order,
 * which makes each subtree a contiguous run: a container's `end` is the token
 * count when it closes, and skipping a member is one jump. Every value is
 * validated while tokenizing (number grammar, UTF-8, escapes, surrogate
 * pairs), so the accessors decode strings straight from the caller's secret
 * buffer into caller memory without checking again.
 */
#include "io/json_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"

enum {
    SL_JSON_TOK_INITIAL = 64, /* tokens in a fresh array; it doubles when full */
    SL_JSON_NUMBER_MAX = 64   /* longest number text sl_json_number converts */
};

/* Inputs must be shorter than this so that offsets fit a token's uint32_t. */
#define SL_JSON_MAX_LEN ((size_t)1 << 31)

/* Refuses the input at byte `off` with the static text `msg`: records both
 * for sl_json_parse's out-parameters and the error slot (SL_FAIL's contract). */
#define SL_JSON_REFUSE(off, msg)                                                   \
    do {                                                                           \
        bad = (off);                                                               \
        why = (msg);                                                               \
        SL_FAIL(SL_ERR_FORMAT, "JSON refused at byte %zu: %s", bad, why);          \
    } while (0)

static int is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static size_t skip_ws(const unsigned char *s, size_t n, size_t i)
{
    while (i < n && is_ws(s[i]))
        i++;
    return i;
}

/* The four hex digits at s[i, i + 4) (i <= n) as a UTF-16 code unit, or -1
 * when fewer than four remain or one is not a hex digit. */
static long hex4(const unsigned char *s, size_t n, size_t i)
{
    long v = 0;
    if (n - i < 4)
        return -1;
    for (size_t k = i; k < i + 4; k++) {
        unsigned char c = s[k];
        int d;
        if (is_digit(c))
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Length of the multi-byte UTF-8 sequence starting at s[i] (s[i] >= 0x80),
 * or 0 when it is not one: a stray continuation byte, an overlong form, an
 * encoded surrogate, a code point past U+10FFFF, or a sequence cut short. */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t i)
{
    unsigned c = s[i], lo = 0x80, hi = 0xBF;
    size_t need;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0)
            lo = 0xA0; /* below is overlong */
        else if (c == 0xED)
            hi = 0x9F; /* above is U+D800-U+DFFF */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0)
            lo = 0x90; /* below is overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above is past U+10FFFF */
    } else {
        return 0;
    }
    if (n - i <= need || s[i + 1] < lo || s[i + 1] > hi)
        return 0;
    for (size_t k = 2; k <= need; k++)
        if ((s[i + k] & 0xC0) != 0x80)
            return 0;
    return need + 1;
}

/* The end of the run of plain string bytes (printable ASCII other than '"'
 * and '\\') from s[i]: eight bytes at a time while a whole word is plain. */
static size_t plain_run(const unsigned char *s, size_t n, size_t i)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    while (n - i >= 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
        uint64_t special = (w - ones * 0x20) | ((q - ones) & ~q) | ((b - ones) & ~b) | w;
        if (special & highs)
            break;
        i += 8;
    }
    while (i < n && s[i] >= 0x20 && s[i] < 0x80 && s[i] != '"' && s[i] != '\\')
        i++;
    return i;
}

/* Checks the string whose opening quote is s[*pos]. Returns NULL with *pos at
 * the closing quote and *escaped set when it holds an escape, or what is
 * wrong with *pos at the problem (see json_impl.h). */
static const char *scan_string(const unsigned char *s, size_t n, size_t *pos, uint8_t *escaped)
{
    size_t quote = *pos, i = quote + 1;
    *escaped = 0;
    for (;;) {
        unsigned char c;
        long u, lo;
        i = plain_run(s, n, i);
        if (i == n) {
            *pos = quote;
            return "unterminated string: expected '\"'";
        }
        c = s[i];
        if (c == '"') {
            *pos = i;
            return NULL;
        }
        if (c < 0x20) {
            *pos = i;
            return "control character in a string (it must be escaped)";
        }
        if (c >= 0x80) {
            size_t k = utf8_seq(s, n, i);
            if (k == 0) {
                *pos = i;
                return "invalid UTF-8 in a string";
            }
            i += k;
            continue;
        }
        /* a backslash: the escape is reported at it */
        *escaped = 1;
        *pos = i;
        if (i + 1 == n)
            return "unterminated string: expected an escape after '\\'";
        switch (s[i + 1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            i += 2;
            break;
        case 'u':
            u = hex4(s, n, i + 2);
            if (u < 0)
                return "expected four hex digits after '\\u'";
            if (u >= 0xDC00 && u <= 0xDFFF)
                return "low surrogate escape without a high surrogate before it";
            if (u >= 0xD800 && u <= 0xDBFF) {
                lo = n - i >= 8 && s[i + 6] == '\\' && s[i + 7] == 'u' ? hex4(s, n, i + 8) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return "high surrogate escape without a low surrogate escape after it";
                i += 12;
            } else {
                i += 6;
            }
            break;
        default:
            return "invalid escape: expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u";
        }
    }
}

/* Checks the number starting at s[*pos] ('-' or a digit). Returns NULL with
 * *pos one past its last byte, or what is wrong with *pos at the problem. */
static const char *scan_number(const unsigned char *s, size_t n, size_t *pos)
{
    size_t i = *pos;
    if (s[i] == '-')
        i++;
    *pos = i;
    if (i == n || !is_digit(s[i]))
        return "expected a digit after '-'";
    if (s[i] == '0') {
        i++;
        *pos = i;
        if (i < n && is_digit(s[i]))
            return "leading zero in a number";
    } else {
        while (i < n && is_digit(s[i]))
            i++;
    }
    if (i < n && s[i] == '.') {
        i++;
        *pos = i;
        if (i == n || !is_digit(s[i]))
            return "expected a digit after '.' in a number";
        while (i < n && is_digit(s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        *pos = i;
        if (i == n || !is_digit(s[i]))
            return "expected a digit in the exponent of a number";
        while (i < n && is_digit(s[i]))
            i++;
    }
    *pos = i;
    return NULL;
}

/* Length of `word` when s[i, n) starts with it, else 0. */
static size_t match_literal(const unsigned char *s, size_t n, size_t i, const char *word)
{
    size_t len = strlen(word);
    return n - i >= len && memcmp(s + i, word, len) == 0 ? len : 0;
}

/* Appends a token of `type` whose text starts at `start` (a leaf until a
 * container is closed) and returns its index in *out. SL_ERR_NOMEM. */
static sl_status tok_push(struct sl_json *j, enum sl_json_type type, size_t start, uint32_t *out)
{
    sl_status st = SL_OK;
    if (j->ntok == j->cap) {
        /* ntok <= n < 2^31 (each token takes at least one byte of its own),
         * so the doubled capacity stays within 2^31. */
        uint32_t cap = j->cap ? j->cap * 2 : SL_JSON_TOK_INITIAL;
        size_t bytes = 0;
        struct sl_json_tok *grown;
        SL_CHECK(sl_size_mul(cap, sizeof *grown, &bytes) == 0, SL_ERR_NOMEM,
                 "JSON token array of %u tokens is too large", (unsigned)cap);
        grown = sl_realloc(j->tok, bytes);
        SL_CHECK(grown != NULL, SL_ERR_NOMEM, "out of memory for %u JSON tokens", (unsigned)cap);
        j->tok = grown;
        j->cap = cap;
    }
    j->tok[j->ntok] = (struct sl_json_tok){
        .type = (uint8_t)type, .start = (uint32_t)start, .end = j->ntok + 1};
    *out = j->ntok++;
cleanup:
    return st;
}

/* A string token for the text between the quotes at s[open] and s[close]
 * (escaped: it holds a backslash escape), in *t. */
static sl_status tok_string(struct sl_json *j, size_t open, size_t close, uint8_t escaped,
                            uint32_t *t)
{
    sl_status st = SL_OK;
    SL_CALL(tok_push(j, SL_JSON_STRING, open + 1, t));
    j->tok[*t].len = (uint32_t)(close - open - 1);
    j->tok[*t].escaped = escaped;
cleanup:
    return st;
}

/* Closes container token t at its closing bracket s[i]. */
static void tok_close(struct sl_json *j, uint32_t t, size_t i)
{
    j->tok[t].len = (uint32_t)(i + 1) - j->tok[t].start;
    j->tok[t].end = j->ntok;
}

sl_status sl_json_parse(struct sl_json *j, const char *text, size_t n, size_t *err_off,
                        const char **what)
{
    sl_status st = SL_OK;
    const unsigned char *s = (const unsigned char *)text;
    uint32_t nest[SL_JSON_MAX_DEPTH]; /* token indices of the open containers */
    uint32_t depth = 0, t = 0;
    size_t i = 0, bad = 0;
    const char *why = NULL;
    enum { WANT_VALUE, WANT_KEY, AFTER_VALUE } state = WANT_VALUE;

    j->ntok = 0;
    if (n >= SL_JSON_MAX_LEN)
        SL_JSON_REFUSE(SL_JSON_MAX_LEN, "input of 2^31 bytes or more");
    i = skip_ws(s, n, 0);
    for (;;) {
        if (state == AFTER_VALUE) {
            struct sl_json_tok *up;
            char closer;
            if (depth == 0) {
                if (i < n)
                    SL_JSON_REFUSE(i, "expected end of input after the value");
                break;
            }
            up = &j->tok[nest[depth - 1]];
            closer = up->type == SL_JSON_OBJECT ? '}' : ']';
            if (i < n && s[i] == ',') {
                state = up->type == SL_JSON_OBJECT ? WANT_KEY : WANT_VALUE;
            } else if (i < n && s[i] == closer) {
                tok_close(j, nest[--depth], i);
            } else if (closer == '}') {
                SL_JSON_REFUSE(i, "expected ',' or '}' after an object member");
            } else {
                SL_JSON_REFUSE(i, "expected ',' or ']' after an array item");
            }
            i = skip_ws(s, n, i + 1);
        } else if (state == WANT_KEY) {
            size_t q = i;
            uint8_t escaped = 0;
            if (i == n || s[i] != '"')
                SL_JSON_REFUSE(i, "expected a string key");
            why = scan_string(s, n, &q, &escaped);
            if (why)
                SL_JSON_REFUSE(q, why);
            SL_CALL(tok_string(j, i, q, escaped, &t));
            j->tok[nest[depth - 1]].size++;
            i = skip_ws(s, n, q + 1);
            if (i == n || s[i] != ':')
                SL_JSON_REFUSE(i, "expected ':' after an object key");
            i = skip_ws(s, n, i + 1);
            state = WANT_VALUE;
        } else {
            size_t q = i, lit = 0;
            uint8_t escaped = 0;
            enum sl_json_type type;
            if (depth > 0 && j->tok[nest[depth - 1]].type == SL_JSON_ARRAY)
                j->tok[nest[depth - 1]].size++;
            if (i == n)
                SL_JSON_REFUSE(i, "expected a JSON value");
            switch (s[i]) {
            case '{':
            case '[':
                if (depth == SL_JSON_MAX_DEPTH)
                    SL_JSON_REFUSE(i, "nesting deeper than 64 levels");
                SL_CALL(tok_push(j, s[i] == '{' ? SL_JSON_OBJECT : SL_JSON_ARRAY, i, &t));
                nest[depth++] = t;
                q = skip_ws(s, n, i + 1);
                if (q < n && s[q] == (s[i] == '{' ? '}' : ']')) {
                    tok_close(j, nest[--depth], q);
                    i = skip_ws(s, n, q + 1);
                    state = AFTER_VALUE;
                } else {
                    state = s[i] == '{' ? WANT_KEY : WANT_VALUE;
                    i = q;
                }
                continue;
            case '"':
                why = scan_string(s, n, &q, &escaped);
                if (why)
                    SL_JSON_REFUSE(q, why);
                SL_CALL(tok_string(j, i, q, escaped, &t));
                q++;
                break;
            case '-': case '0': case '1': case '2': case '3': case '4':
            case '5': case '6': case '7': case '8': case '9':
                why = scan_number(s, n, &q);
                if (why)
                    SL_JSON_REFUSE(q, why);
                SL_CALL(tok_push(j, SL_JSON_NUMBER, i, &t));
                j->tok[t].len = (uint32_t)(q - i);
                break;
            default:
                if ((lit = match_literal(s, n, i, "true")) != 0)
                    type = SL_JSON_TRUE;
                else if ((lit = match_literal(s, n, i, "false")) != 0)
                    type = SL_JSON_FALSE;
                else if ((lit = match_literal(s, n, i, "null")) != 0)
                    type = SL_JSON_NULL;
                else
                    SL_JSON_REFUSE(i, "expected a JSON value");
                SL_CALL(tok_push(j, type, i, &t));
                j->tok[t].len = (uint32_t)lit;
                q = i + lit;
                break;
            }
            i = skip_ws(s, n, q);
            state = AFTER_VALUE;
        }
    }

cleanup:
    if (st != SL_OK) {
        j->ntok = 0;
        if (st != SL_ERR_FORMAT) {
            bad = i;
            why = "out of memory";
        }
    }
    *err_off = bad;
    *what = why;
    return st;
}

void sl_json_free(struct sl_json *j)
{
    if (!j)
        return;
    sl_free(j->tok);
    *j = (struct sl_json){0};
}

static int tok_is(const struct sl_json *j, uint32_t t, enum sl_json_type type)
{
    return t < j->ntok && j->tok[t].type == type;
}

/* Decodes the character of validated string text at s[*i] (s[0, e) is the
 * whole text) into u (1 to 4 bytes, UTF-8) and advances *i past it. Returns
 * the number of bytes written. */
static size_t str_unit(const unsigned char *s, size_t e, size_t *i, unsigned char *u)
{
    size_t k = *i;
    unsigned long cp;
    if (s[k] != '\\') {
        u[0] = s[k];
        *i = k + 1;
        return 1;
    }
    *i = k + 2;
    switch (s[k + 1]) {
    case 'b': u[0] = '\b'; return 1;
    case 'f': u[0] = '\f'; return 1;
    case 'n': u[0] = '\n'; return 1;
    case 'r': u[0] = '\r'; return 1;
    case 't': u[0] = '\t'; return 1;
    case 'u': break;
    default: u[0] = s[k + 1]; return 1; /* '"', '\\' or '/' */
    }
    cp = (unsigned long)hex4(s, e, k + 2);
    *i = k + 6;
    if (cp >= 0xD800 && cp <= 0xDBFF) { /* paired with a low surrogate (checked at parse) */
        cp = 0x10000 + ((cp - 0xD800) << 10) + ((unsigned long)hex4(s, e, k + 8) - 0xDC00);
        *i = k + 12;
    }
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | (cp >> 6));
        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (cp >> 12));
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    u[0] = (unsigned char)(0xF0 | (cp >> 18));
    u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* 1 when string token t decodes to exactly want[0, wn), else 0. */
static int str_eq_n(const struct sl_json *j, const char *text, uint32_t t, const char *want,
                    size_t wn)
{
    const unsigned char *s;
    size_t e, i = 0, o = 0;
    unsigned char u[4]; /* secret: one decoded character */
    int eq = 1;
    if (!tok_is(j, t, SL_JSON_STRING))
        return 0;
    s = (const unsigned char *)text + j->tok[t].start;
    e = j->tok[t].len;
    if (!j->tok[t].escaped)
        return e == wn && memcmp(s, want, wn) == 0;
    while (eq && i < e) {
        size_t m = str_unit(s, e, &i, u);
        eq = m <= wn - o && memcmp(u, want + o, m) == 0;
        o += m;
    }
    sl_wipe(u, sizeof u);
    return eq && o == wn;
}

/* The value of the first member of object token obj named key[0, kn), or 0. */
static uint32_t member(const struct sl_json *j, const char *text, uint32_t obj, const char *key,
                       size_t kn)
{
    uint32_t k;
    if (!tok_is(j, obj, SL_JSON_OBJECT))
        return 0;
    k = obj + 1;
    for (uint32_t m = 0; m < j->tok[obj].size; m++) {
        if (str_eq_n(j, text, k, key, kn))
            return k + 1;
        k = j->tok[k + 1].end;
    }
    return 0;
}

uint32_t sl_json_get(const struct sl_json *j, const char *text, uint32_t obj, const char *key)
{
    return member(j, text, obj, key, strlen(key));
}

uint32_t sl_json_path(const struct sl_json *j, const char *text, uint32_t t, const char *path)
{
    for (;;) {
        const char *dot = strchr(path, '.');
        t = member(j, text, t, path, dot ? (size_t)(dot - path) : strlen(path));
        if (t == 0 || !dot)
            return t;
        path = dot + 1;
    }
}

int64_t sl_json_string(const struct sl_json *j, const char *text, uint32_t t, char *buf,
                       size_t cap)
{
    const unsigned char *s;
    size_t e, i = 0, len = 0;
    unsigned char u[4]; /* secret: one decoded character while measuring */
    if (!tok_is(j, t, SL_JSON_STRING))
        return -1;
    s = (const unsigned char *)text + j->tok[t].start;
    e = j->tok[t].len;
    if (!j->tok[t].escaped) {
        len = e;
    } else {
        /* measure first, so that nothing is written when it does not fit */
        while (i < e)
            len += str_unit(s, e, &i, u);
        sl_wipe(u, sizeof u);
    }
    if (len >= cap)
        return -1;
    if (!j->tok[t].escaped) {
        memcpy(buf, s, len);
    } else {
        size_t o = 0;
        for (i = 0; i < e;)
            o += str_unit(s, e, &i, (unsigned char *)buf + o);
    }
    buf[len] = '\0';
    return (int64_t)len;
}

int sl_json_string_eq(const struct sl_json *j, const char *text, uint32_t t, const char *s)
{
    return str_eq_n(j, text, t, s, strlen(s));
}

int sl_json_number(const struct sl_json *j, const char *text, uint32_t t, double *out)
{
    char buf[SL_JSON_NUMBER_MAX + 1]; /* secret: the number's text */
    char *end = NULL;
    size_t len;
    double v;
    int rc = -1;
    if (!tok_is(j, t, SL_JSON_NUMBER) || j->tok[t].len > SL_JSON_NUMBER_MAX)
        return -1;
    len = j->tok[t].len;
    memcpy(buf, text + j->tok[t].start, len);
    buf[len] = '\0';
    v = strtod(buf, &end);
    /* JSON's number grammar is a subset of strtod's, so strtod reads all of it
     * unless the locale's decimal point is not '.'. */
    if (end == buf + len && isfinite(v)) {
        *out = v;
        rc = 0;
    }
    sl_wipe(buf, sizeof buf);
    return rc;
}

uint32_t sl_json_first(const struct sl_json *j, uint32_t arr)
{
    return tok_is(j, arr, SL_JSON_ARRAY) && j->tok[arr].size > 0 ? arr + 1 : 0;
}

uint32_t sl_json_next(const struct sl_json *j, uint32_t arr, uint32_t item)
{
    uint32_t nx;
    if (!tok_is(j, arr, SL_JSON_ARRAY) || item <= arr || item >= j->tok[arr].end)
        return 0;
    nx = j->tok[item].end;
    return nx < j->tok[arr].end ? nx : 0;
}
