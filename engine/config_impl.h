/*
 * config_impl.h: private YAML helpers shared by the policy and job loaders
 * (config.c), the analysis parameters (params.c) and the filter (filter.c).
 *
 * A struct sl_yaml is one loaded file: its bytes, their SHA-256, and the
 * libfyaml document built from them. libfyaml's own diagnostics are captured
 * (never printed) and turned into "FILE:LINE:COL: what; expected" messages.
 * The typed getters below all report errors that way, naming the value's
 * position, so every reader of a YAML file gives the same quality of errors.
 */
#ifndef SL_ENGINE_CONFIG_IMPL_H
#define SL_ENGINE_CONFIG_IMPL_H

#include <libfyaml.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/core/status.h"
#include "engine/rules.h"

struct sl_yaml {
    char *path;               /* as given */
    char *dir;                /* directory of path ("." when none), for relative paths */
    char *bytes;              /* the file's bytes (the document points into them) */
    size_t len;
    unsigned char sha256[32];
    struct fy_diag *diag;
    struct fy_parser *parser; /* owns doc */
    struct fy_document *doc;
    char diag_text[256];      /* last uncollected libfyaml message, for fallbacks */
};

/* Reads `path`, hashes it and parses exactly one YAML document whose root is
 * a mapping. `what` ("policy", "job") names the file in messages.
 * SL_ERR_IO when unreadable, SL_ERR_FORMAT for YAML errors. */
sl_status sl_yaml_load(const char *path, const char *what, struct sl_yaml **out);
void sl_yaml_destroy(struct sl_yaml **y);
struct fy_node *sl_yaml_root(const struct sl_yaml *y);

/* A mapping being read: where it is, and how it and its keys are named in
 * messages. `ctx` names the mapping as a whole ("the policy", "enclave",
 * "analysis 'by_sex'"); a key's full name is prefix + key ("rules." +
 * "nk_k"). `at` is the node whose position stands in for the mapping when it
 * has none (an empty value), normally its key. */
struct sl_ymap {
    const struct sl_yaml *y;
    struct fy_node *node;     /* a mapping */
    struct fy_node *at;
    char ctx[128];
    char prefix[128];
};

/* A map over `node` (which must be a mapping) with the given names. */
void sl_ymap_init(struct sl_ymap *m, const struct sl_yaml *y, struct fy_node *node,
                  struct fy_node *at, const char *ctx, const char *prefix);

/* 1-based line and column of `n`, or of `fallback` when `n` has none
 * (an empty value). 0:0 when neither has one. */
void sl_yaml_mark(struct fy_node *n, struct fy_node *fallback, int *line, int *col);
/* "path:line:col" of `n` into buf. */
void sl_yaml_where(const struct sl_yaml *y, struct fy_node *n, struct fy_node *fallback,
                   char *buf, size_t size);

/* Records SL_ERR_FORMAT "path:line:col: <message>" and returns it. */
sl_status sl_yaml_error(const struct sl_yaml *y, struct fy_node *n, struct fy_node *fallback,
                        const char *file, int line, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
#define SL_YAML_FAIL(y, n, fb, ...)                                                      \
    do {                                                                                 \
        st = sl_yaml_error((y), (n), (fb), __FILE__, __LINE__, __func__, __VA_ARGS__);   \
        goto cleanup;                                                                    \
    } while (0)

/* Describes a node for "X is <...>; expected Y": "a list", "a mapping",
 * "empty", "the string 'abc'", "12". */
void sl_yaml_describe(struct fy_node *n, char *buf, size_t size);

/* A node's scalar text if it is a scalar that is not an alias, else NULL.
 * *plain is true for an unquoted scalar. */
const char *sl_yaml_scalar(struct fy_node *n, bool *plain);

/* Checks every key of m against the NULL-terminated `known` (and `extra`,
 * NULL-terminated, may be NULL); an unknown key is an error at its position
 * naming the closest accepted key and listing all of them. Keys must be
 * plain strings. */
sl_status sl_ymap_only(const struct sl_ymap *m, const char *const *known,
                       const char *const *extra);

/* The value of `key` (NULL when absent) and, if keyp, its key node. */
struct fy_node *sl_ymap_get(const struct sl_ymap *m, const char *key, struct fy_node **keyp);

/* Typed getters. Absent: SL_ERR_FORMAT "<ctx> needs '<key>'; expected ..."
 * at the mapping when required, else SL_OK with *out untouched and *found
 * false. found may be NULL. Wrong type or out of range: SL_ERR_FORMAT at the
 * value. Strings are borrowed from the document. */
sl_status sl_ymap_string(const struct sl_ymap *m, const char *key, bool required,
                         const char **out, bool *found);
sl_status sl_ymap_int(const struct sl_ymap *m, const char *key, bool required, int64_t lo,
                      int64_t hi, int64_t *out, bool *found);
sl_status sl_ymap_double(const struct sl_ymap *m, const char *key, bool required, double *out,
                         bool *found);
sl_status sl_ymap_bool(const struct sl_ymap *m, const char *key, bool required, bool *out,
                       bool *found);
/* An exact decimal "0.33" -> 33/100 (at most 9 digits after the point)
 * within [lo, hi] (lo_open: lo itself excluded). */
sl_status sl_ymap_ratio(const struct sl_ymap *m, const char *key, bool required,
                        struct sl_ratio lo, bool lo_open, struct sl_ratio hi,
                        struct sl_ratio *out, bool *found);
/* A string or a list of strings; *out sl_malloc'd array of borrowed strings
 * (set to NULL with *count 0 for an empty list). */
sl_status sl_ymap_strings(const struct sl_ymap *m, const char *key, bool required,
                          const char ***out, int *count, bool *found);
/* A number or a list of numbers; *out sl_malloc'd. */
sl_status sl_ymap_doubles(const struct sl_ymap *m, const char *key, bool required,
                          double **out, int *count, bool *found);
/* A mapping value; *out becomes a map named prefix+key. */
sl_status sl_ymap_map(const struct sl_ymap *m, const char *key, bool required,
                      struct sl_ymap *out, bool *found);
/* A list value (possibly empty); *out the sequence node. */
sl_status sl_ymap_list(const struct sl_ymap *m, const char *key, bool required,
                       const char *expect, struct fy_node **out, bool *found);

/* One analysis's parameters (config.h): its mapping inside the job's
 * document, named "analysis '<name>'" in messages. */
struct sl_params {
    struct sl_ymap map;
    char *where;              /* sl_params_where's result buffer */
};

/* Parses an exact decimal ("0", "12", "0.9", "0.33") into a ratio with a
 * power-of-ten denominator. Returns false when malformed or too long. */
bool sl_ratio_parse(const char *s, struct sl_ratio *out);
/* -1, 0, 1 as a/b <, ==, > c/d (positive denominators, no overflow). */
int sl_ratio_cmp(struct sl_ratio a, struct sl_ratio b);
/* "0.9" for 9/10, "3/7" when the denominator is not a power of ten. */
void sl_ratio_format(struct sl_ratio r, char *buf, size_t size);

/* Edit distance between a and b, capped at `cap` (returns cap when larger). */
int sl_edit_distance(const char *a, const char *b, int cap);

/* Appends to buf (NUL-terminated, total size `size`) printf-style,
 * truncating with "..." when full. */
void sl_strbuf_append(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
