/*
 * params.c: the parameters of one analysis of a job file (struct sl_params).
 *
 * Each analysis keeps its YAML mapping; job types (jobs/) read their own
 * options through these getters and so report missing keys, wrong types and
 * typos with the file, line and column of the offending value, exactly like
 * the policy and job loaders do.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/config.h"
#include "engine/config_impl.h"
#include "engine/core/alloc.h"

enum { SL_WHERE_MAX = 512 };

sl_status sl_params_string(const struct sl_params *p, const char *key, bool required,
                           const char **out)
{
    return sl_ymap_string(&p->map, key, required, out, NULL);
}

sl_status sl_params_int(const struct sl_params *p, const char *key, bool required, int64_t *out)
{
    return sl_ymap_int(&p->map, key, required, INT64_MIN, INT64_MAX, out, NULL);
}

sl_status sl_params_double(const struct sl_params *p, const char *key, bool required, double *out)
{
    return sl_ymap_double(&p->map, key, required, out, NULL);
}

sl_status sl_params_bool(const struct sl_params *p, const char *key, bool required, bool *out)
{
    return sl_ymap_bool(&p->map, key, required, out, NULL);
}

sl_status sl_params_ratio(const struct sl_params *p, const char *key, bool required,
                          struct sl_ratio lo, bool lo_open, struct sl_ratio hi,
                          struct sl_ratio *out)
{
    return sl_ymap_ratio(&p->map, key, required, lo, lo_open, hi, out, NULL);
}

sl_status sl_params_strings(const struct sl_params *p, const char *key, bool required,
                            const char ***out, int *count)
{
    return sl_ymap_strings(&p->map, key, required, out, count, NULL);
}

sl_status sl_params_doubles(const struct sl_params *p, const char *key, bool required,
                            double **out, int *count)
{
    return sl_ymap_doubles(&p->map, key, required, out, count, NULL);
}

sl_status sl_params_string_map(const struct sl_params *p, const char *key, bool required,
                               const char ***keys, const char ***values, int *count)
{
    sl_status st = SL_OK;
    struct sl_ymap sub;
    bool found = false;
    const char **k = NULL, **v = NULL;
    int n = 0, i = 0;
    void *iter = NULL;
    struct fy_node_pair *pair;

    *keys = NULL;
    *values = NULL;
    *count = 0;
    SL_CALL(sl_ymap_map(&p->map, key, required, &sub, &found));
    if (!found)
        goto cleanup;
    n = fy_node_mapping_item_count(sub.node);
    k = sl_calloc((size_t)n + 1, sizeof *k);
    v = sl_calloc((size_t)n + 1, sizeof *v);
    SL_CHECK(k && v, SL_ERR_NOMEM, "out of memory");
    while (i < n && (pair = fy_node_mapping_iterate(sub.node, &iter)) != NULL) {
        struct fy_node *kn = fy_node_pair_key(pair);
        const char *name = sl_yaml_scalar(kn, NULL);
        if (name == NULL)
            SL_YAML_FAIL(sub.y, kn, sub.at, "a key in %s is not a plain name", sub.ctx);
        SL_CALL(sl_ymap_string(&sub, name, true, &v[i], NULL));
        k[i++] = name;
    }
    *keys = k;
    *values = v;
    *count = i;
    k = NULL;
    v = NULL;
cleanup:
    sl_free(k);
    sl_free(v);
    return st;
}

sl_status sl_params_sub(const struct sl_params *p, const char *key, struct sl_params **out)
{
    sl_status st = SL_OK;
    struct sl_params *s = NULL;
    bool found = false;

    *out = NULL;
    s = sl_calloc(1, sizeof *s);
    SL_CHECK(s, SL_ERR_NOMEM, "out of memory");
    SL_CALL(sl_ymap_map(&p->map, key, false, &s->map, &found));
    if (!found)
        goto cleanup;
    s->where = sl_malloc(SL_WHERE_MAX);
    SL_CHECK(s->where, SL_ERR_NOMEM, "out of memory");
    s->where[0] = '\0';
    *out = s;
    s = NULL;
cleanup:
    sl_params_free(&s);
    return st;
}

void sl_params_free(struct sl_params **p)
{
    if (!p || !*p)
        return;
    sl_free((*p)->where);
    sl_free(*p);
    *p = NULL;
}

sl_status sl_params_keys(const struct sl_params *p, const char ***keys, int *count)
{
    sl_status st = SL_OK;
    const char **k = NULL;
    int n = fy_node_mapping_item_count(p->map.node), i = 0;
    void *iter = NULL;
    struct fy_node_pair *pair;

    *keys = NULL;
    *count = 0;
    k = sl_calloc((size_t)n + 1, sizeof *k);
    SL_CHECK(k, SL_ERR_NOMEM, "out of memory");
    while (i < n && (pair = fy_node_mapping_iterate(p->map.node, &iter)) != NULL) {
        struct fy_node *kn = fy_node_pair_key(pair);
        const char *name = sl_yaml_scalar(kn, NULL);
        if (name == NULL)
            SL_YAML_FAIL(p->map.y, kn, p->map.at, "a key in %s is not a plain name", p->map.ctx);
        k[i++] = name;
    }
    *keys = k;
    *count = i;
    k = NULL;
cleanup:
    sl_free(k);
    return st;
}

bool sl_params_has(const struct sl_params *p, const char *key)
{
    struct fy_node *keyn;
    sl_ymap_get(&p->map, key, &keyn);
    return keyn != NULL;
}

sl_status sl_params_only(const struct sl_params *p, const char *const *known)
{
    static const char *const always[] = {"type", "name", NULL};
    return sl_ymap_only(&p->map, always, known);
}

const char *sl_params_where(const struct sl_params *p, const char *key)
{
    struct fy_node *keyn = NULL;
    struct fy_node *val = key != NULL ? sl_ymap_get(&p->map, key, &keyn) : NULL;
    if (keyn != NULL)
        sl_yaml_where(p->map.y, val, keyn, p->where, SL_WHERE_MAX);
    else
        sl_yaml_where(p->map.y, p->map.node, p->map.at, p->where, SL_WHERE_MAX);
    return p->where;
}

/* A scalar as JSON: unquoted integers, reals and booleans keep their type. */
static json_t *scalar_json(struct fy_node *n)
{
    bool plain = false;
    const char *s = sl_yaml_scalar(n, &plain);
    char *end = NULL;
    if (!s)
        return json_null();
    if (plain) {
        long long i = strtoll(s, &end, 10);
        if (*s && *end == '\0')
            return json_integer((json_int_t)i);
        double d = strtod(s, &end);
        if (*s && *end == '\0')
            return json_real(d);
        if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0)
            return json_boolean(s[0] == 't');
    }
    return json_string(s);
}

static json_t *node_json(struct fy_node *n)
{
    json_t *out;
    void *iter = NULL;
    if (!n)
        return json_null();
    switch (fy_node_get_type(n)) {
    case FYNT_MAPPING: {
        struct fy_node_pair *pair;
        out = json_object();
        while ((pair = fy_node_mapping_iterate(n, &iter)) != NULL) {
            const char *key = sl_yaml_scalar(fy_node_pair_key(pair), NULL);
            if (key)
                json_object_set_new(out, key, node_json(fy_node_pair_value(pair)));
        }
        return out;
    }
    case FYNT_SEQUENCE: {
        struct fy_node *item;
        out = json_array();
        while ((item = fy_node_sequence_iterate(n, &iter)) != NULL)
            json_array_append_new(out, node_json(item));
        return out;
    }
    default:
        return scalar_json(n);
    }
}

json_t *sl_params_to_json(const struct sl_params *p)
{
    return node_json(p->map.node);
}
