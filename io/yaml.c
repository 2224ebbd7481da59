/*
 * yaml.c: loading one YAML document from an operator's file, and the node
 * positions and scalars that error messages need (yaml_impl.h).
 */
#include "io/yaml_impl.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/core/alloc.h"
#include "engine/core/text.h"

struct sl_io_yaml_where sl_io_yaml_where(struct fy_node *n)
{
    struct sl_io_yaml_where w = {0, 0};
    while (n) {
        if (fy_node_is_scalar(n)) {
            struct fy_token *t = fy_node_get_scalar_token(n);
            const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
            if (m) {
                w.line = m->line + 1;
                w.col = m->column + 1;
            }
            return w;
        }
        void *it = NULL;
        if (fy_node_is_mapping(n)) {
            struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
            n = p ? fy_node_pair_key(p) : NULL;
        } else if (fy_node_is_sequence(n)) {
            n = fy_node_sequence_iterate(n, &it);
        } else {
            n = NULL;
        }
    }
    return w;
}

const char *sl_io_yaml_scalar(struct fy_node *v)
{
    const char *t;
    if (!v || !fy_node_is_scalar(v))
        return NULL;
    t = fy_node_get_scalar0(v);
    if (!t || t[0] == '\0')
        return NULL;
    if (fy_node_get_style(v) == FYNS_PLAIN && (strcmp(t, "~") == 0 || strcmp(t, "null") == 0))
        return NULL;
    return t;
}

/* The first error libfyaml collected, as "path:line:col: invalid YAML: ...". */
static sl_status yaml_errors(const char *path, struct fy_diag *diag)
{
    void *it = NULL;
    struct fy_diag_error *e;
    while ((e = fy_diag_errors_iterate(diag, &it)) != NULL)
        if (e->type >= FYET_ERROR)
            return sl_error_set(SL_ERR_FORMAT, __FILE__, __LINE__, __func__,
                                "%s:%d:%d: invalid YAML: %s", path, e->line, e->column,
                                e->msg ? e->msg : "unparsable");
    return fy_diag_got_error(diag) ? sl_error_set(SL_ERR_FORMAT, __FILE__, __LINE__, __func__,
                                                  "%s: invalid YAML", path)
                                   : SL_OK;
}

sl_status sl_io_yaml_open(const char *path, size_t max_bytes, const char *what, const char *keys,
                       struct sl_io_yaml_file *f)
{
    sl_status st = SL_OK;
    struct fy_document *second = NULL;
    struct fy_diag_cfg dcfg;
    struct fy_parse_cfg pcfg;
    struct fy_node *root;
    struct sl_text_fault fault;
    struct stat sb;
    FILE *fp = NULL;
    size_t len = 0;

    memset(f, 0, sizeof *f);
    fp = fopen(path, "rb");
    SL_CHECK(fp, SL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    SL_CHECK(fstat(fileno(fp), &sb) == 0 && S_ISREG(sb.st_mode), SL_ERR_IO,
             "%s: not a regular file", path);
    SL_CHECK((uint64_t)sb.st_size <= max_bytes, SL_ERR_FORMAT,
             "%s: the %s is %lld bytes; expected at most %zu", path, what,
             (long long)sb.st_size, max_bytes);
    f->text = sl_malloc((size_t)sb.st_size + 1);
    SL_CHECK(f->text, SL_ERR_NOMEM, "out of memory");
    len = fread(f->text, 1, (size_t)sb.st_size, fp);
    SL_CHECK(!ferror(fp), SL_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    SL_CHECK(sl_text_check(f->text, len, &fault), SL_ERR_FORMAT,
             "%s:%d:%d: %s; expected a %s of UTF-8 text (YAML)", path, fault.line, fault.col,
             fault.why, what);
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = NULL;
    f->diag = fy_diag_create(&dcfg);
    SL_CHECK(f->diag, SL_ERR_NOMEM, "out of memory");
    fy_diag_set_collect_errors(f->diag, true);
    memset(&pcfg, 0, sizeof pcfg);
    pcfg.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG;
    pcfg.diag = f->diag;
    f->parser = fy_parser_create(&pcfg);
    SL_CHECK(f->parser && fy_parser_set_string(f->parser, f->text, len) == 0, SL_ERR_NOMEM,
             "out of memory");
    f->doc = fy_parse_load_document(f->parser);
    SL_CALL(yaml_errors(path, f->diag));
    SL_CHECK(f->doc, SL_ERR_FORMAT, "%s: the file is empty, expected a mapping with %s", path,
             keys);
    /* one document only: what follows a '---' must not be ignored */
    second = fy_parse_load_document(f->parser);
    SL_CALL(yaml_errors(path, f->diag));
    if (second)
        SL_IO_YAML_FAIL(path, fy_document_root(second),
                     "a second YAML document follows '---'; expected exactly one document per %s",
                     what);
    root = fy_document_root(f->doc);
    if (!root || !fy_node_is_mapping(root))
        SL_IO_YAML_FAIL(path, root, "expected a mapping with %s", keys);
cleanup:
    if (second)
        fy_parse_document_destroy(f->parser, second);
    if (fp)
        fclose(fp);
    return st;
}

void sl_io_yaml_close(struct sl_io_yaml_file *f)
{
    if (f->doc)
        fy_parse_document_destroy(f->parser, f->doc);
    if (f->parser)
        fy_parser_destroy(f->parser);
    if (f->diag)
        fy_diag_destroy(f->diag);
    sl_free(f->text);
    memset(f, 0, sizeof *f);
}

sl_status sl_io_yaml_known_keys(const char *path, struct fy_node *m, const char *const *allowed,
                             const char *context)
{
    sl_status st = SL_OK;
    void *it = NULL;
    struct fy_node_pair *p;

    while ((p = fy_node_mapping_iterate(m, &it)) != NULL) {
        const char *k = sl_io_yaml_scalar(fy_node_pair_key(p));
        int known = 0;
        for (int i = 0; k && allowed[i] && !known; i++)
            known = strcmp(k, allowed[i]) == 0;
        if (!known) {
            char list[256];
            size_t used = 0;
            list[0] = '\0';
            for (int i = 0; allowed[i] && used < sizeof list; i++)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s%s",
                                         i ? ", " : "", allowed[i]);
            SL_IO_YAML_FAIL(path, fy_node_pair_key(p), "unknown key '%s'%s, expected one of %s",
                         k ? k : "", context, list);
        }
    }
cleanup:
    return st;
}
