/*
 * json_impl.h: a strict, in-place JSON tokenizer for one NDJSON line, the
 * FHIR resource read by Bulk Data ingest (private to io/).
 *
 * The line lives in the caller's secret buffer, so the tokenizer never copies
 * a value: it records only the type, offset and length of each value in a
 * token array, in document order, so that every subtree is a contiguous run
 * of tokens and a member is skipped in one step. Values are decoded on demand
 * into memory the caller provides (and wipes). Parsing is a single pass with
 * an explicit, bounded stack, so a hostile line can neither exhaust the C
 * stack nor cost more than linear time, and it is strict (RFC 8259, UTF-8
 * checked) so that what ingest reads is exactly what the exporter wrote.
 * Errors give a byte offset and a static description, never input bytes.
 *
 * Where *err_off points: at the first byte that cannot be accepted; for a bad
 * escape, at the backslash that starts it; for invalid UTF-8, at the first
 * byte of the sequence; for an unterminated string, at its opening quote.
 */
#ifndef SL_IO_JSON_IMPL_H
#define SL_IO_JSON_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/core/status.h"

/* Deepest nesting of objects and arrays accepted (FHIR resources need ~10). */
#define SL_JSON_MAX_DEPTH 64

enum sl_json_type { SL_JSON_OBJECT = 1, SL_JSON_ARRAY, SL_JSON_STRING, SL_JSON_NUMBER,
                    SL_JSON_TRUE, SL_JSON_FALSE, SL_JSON_NULL };

struct sl_json_tok {
    uint8_t type;       /* enum sl_json_type */
    uint8_t escaped;    /* string: holds a backslash escape */
    uint32_t start;     /* offset of the text: for a string the first byte after the opening quote */
    uint32_t len;       /* bytes of the text: for a string up to the closing quote (escapes not decoded) */
    uint32_t size;      /* object: members; array: items */
    uint32_t end;       /* index of the first token after this token's subtree */
};
/* An object's tokens are key, value, key, value...: the key is a STRING token, its value
   (with subtree) follows it. An array's items follow it. Token 0 is the root. */

/* Zero-initialize before the first sl_json_parse; release with sl_json_free. */
struct sl_json {
    struct sl_json_tok *tok;   /* sl_malloc'd, grows; offsets only, no values */
    uint32_t ntok, cap;
};

/* Tokenizes text[0, n): exactly one JSON value (RFC 8259) with optional surrounding
   whitespace (space, tab, CR, LF). Strict: no trailing commas, no comments, no leading zeros,
   no NaN/Infinity, strings valid UTF-8 (no overlongs, no surrogates encoded in UTF-8, max U+10FFFF),
   no raw control characters (< 0x20) in strings, escapes only \" \\ \/ \b \f \n \r \t \uXXXX
   with surrogate pairs properly paired; nesting depth at most SL_JSON_MAX_DEPTH (64);
   n < 2^31; duplicate keys are allowed (sl_json_get returns the first).
   Returns SL_OK, SL_ERR_NOMEM, or SL_ERR_FORMAT with *err_off (byte offset of the problem) and
   *what (a static string saying what was expected, e.g. "expected ',' or '}' after an object member",
   never containing input bytes). Reuses j's token array between calls.
   Not collective. j is borrowed; text is borrowed secret memory, read only, and must stay
   unchanged while the tokens are used. On SL_OK *err_off is 0 and *what NULL; on failure
   j holds no tokens, and on SL_ERR_NOMEM *what is "out of memory". The error slot
   (sl_error_message) gets the offset and *what, no input bytes. */
sl_status sl_json_parse(struct sl_json *j, const char *text, size_t n, size_t *err_off,
                        const char **what);

/* Releases the token array; NULL-safe (j itself is caller-owned); leaves j zeroed. */
void sl_json_free(struct sl_json *j);

/* In the accessors below, text is the buffer j was parsed from (borrowed, secret) and any
   token index may be passed: one that is out of range or of the wrong type gives 0 or -1. */

/* Index of the value token of member `key` of object token `obj`, or 0 when obj is not an
   object or has no such member (0 is never a member value). Keys are compared after decoding
   escapes. */
uint32_t sl_json_get(const struct sl_json *j, const char *text, uint32_t obj, const char *key);

/* Follows a dotted path of member names from token t ("subject.reference"); 0 if any step is
   missing or not an object. */
uint32_t sl_json_path(const struct sl_json *j, const char *text, uint32_t t, const char *path);

/* Decodes string token t into buf (cap bytes), NUL-terminated, \uXXXX as UTF-8.
   Returns its length, or -1 when t is not a string or the text (with NUL) does not fit.
   buf receives secret data; nothing is written on -1. A \u0000 escape decodes to a NUL
   byte inside the returned length. */
int64_t sl_json_string(const struct sl_json *j, const char *text, uint32_t t, char *buf,
                       size_t cap);

/* 1 when token t is a string equal (after decoding) to the NUL-terminated s, else 0. No copy. */
int sl_json_string_eq(const struct sl_json *j, const char *text, uint32_t t, const char *s);

/* Number token t as a double (correctly rounded, strtod on a bounded NUL-terminated copy in a
   stack buffer that is wiped after use; numbers longer than 64 bytes: -1). Returns 0, or -1 when
   t is not a number or the value is not finite. *out is written only on 0. */
int sl_json_number(const struct sl_json *j, const char *text, uint32_t t, double *out);

/* Array iteration: first item index of array t (0 if empty/not an array), and the item after
   item i (0 at the end; needs the array token too). */
uint32_t sl_json_first(const struct sl_json *j, uint32_t arr);
uint32_t sl_json_next(const struct sl_json *j, uint32_t arr, uint32_t item);

#endif
