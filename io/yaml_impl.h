/*
 * yaml_impl.h: reading the operator's YAML files in io/ (column schemas,
 * OMOP feature specs) with errors that name the file, line and column
 * (private to io/).
 */
#ifndef SL_IO_YAML_IMPL_H
#define SL_IO_YAML_IMPL_H

#include <stddef.h>
#include <stdio.h>

#include <libfyaml.h>

#include "engine/core/status.h"

struct sl_io_yaml_where {
    int line, col; /* 1-based; 0 when unknown */
};

/* Position of a node: its own token for scalars, else its first key or item. */
struct sl_io_yaml_where sl_io_yaml_where(struct fy_node *n);

/* A non-empty scalar's text, or NULL for anything else (null, empty, lists). */
const char *sl_io_yaml_scalar(struct fy_node *v);

/* Records SL_ERR_FORMAT "<path>:<line>:<col>: <text>" for `node` and jumps
 * to cleanup (SL_FAIL's contract). */
#define SL_IO_YAML_FAIL(path, node, ...)                                                    \
    do {                                                                                 \
        struct sl_io_yaml_where w_ = sl_io_yaml_where(node);                                   \
        char text_[512];                                                                 \
        snprintf(text_, sizeof text_, __VA_ARGS__);                                      \
        if (w_.line > 0)                                                                 \
            SL_FAIL(SL_ERR_FORMAT, "%s:%d:%d: %s", (path), w_.line, w_.col, text_);      \
        SL_FAIL(SL_ERR_FORMAT, "%s: %s", (path), text_);                                 \
    } while (0)

/* One YAML document read from a file. */
struct sl_io_yaml_file {
    struct fy_diag *diag;
    struct fy_parser *parser;
    struct fy_document *doc;
    char *text;
};

/* Reads `path` (a regular file of UTF-8 text, at most max_bytes) as exactly
 * one YAML document whose root is a mapping. `what` names the kind of file in
 * errors ("schema file") and `keys` what its mapping holds ("keys
 * sluice_schema and columns"). SL_ERR_IO if it cannot be read, SL_ERR_FORMAT
 * with path:line:col otherwise. Release *f with sl_io_yaml_close, also after a
 * failure. */
sl_status sl_io_yaml_open(const char *path, size_t max_bytes, const char *what, const char *keys,
                       struct sl_io_yaml_file *f);
void sl_io_yaml_close(struct sl_io_yaml_file *f);

/* Fails at the first key of mapping `m` that is not in the NULL-terminated
 * list `allowed`: "unknown key 'k'<context>, expected one of a, b, c"
 * (context such as " in column 3", or ""). */
sl_status sl_io_yaml_known_keys(const char *path, struct fy_node *m, const char *const *allowed,
                             const char *context);

#endif
