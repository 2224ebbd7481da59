/*
 * cohort_read.c: opening an encrypted cohort, unlocking it with the centre
 * key, and decrypting chunks (layout in format.h).
 *
 * Metadata is read and validated without any key, so `sluice inspect` and
 * planning work anywhere. Values need the data key, which is unwrapped only
 * after the file's recorded key id matches the key offered. Every chunk read
 * checks the stored size before touching the cipher and opens the chunk
 * bound to its file, dataset, index and length, so anything moved, swapped,
 * foreign, shortened or flipped fails closed with the destination wiped.
 */
#include "io/cohort.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "engine/core/alloc.h"
#include "engine/core/parallel.h"
#include "engine/core/secbuf.h"
#include "io/aead_impl.h"
#include "io/cohort_impl.h"
#include "io/format.h"
#include "io/h5_impl.h"

#define SL_ATTR_STRING_MAX 4096

struct sl_rcol {
    char *dset_path;
    hid_t dset;
    size_t esize;
};

struct sl_cohort {
    char *path;
    hid_t file;
    uint32_t version;
    char uuid[33];
    unsigned char uuid_raw[16];
    char kek_id[17];
    unsigned char wrapped[SL_WRAPPED_KEY_BYTES];
    int64_t nrows;
    int64_t chunk_rows;
    int64_t nchunks;
    int ncols;
    struct sl_colinfo *cols;   /* [ncols], by sluice_index */
    struct sl_rcol *rc;        /* [ncols] */
    struct sl_aead *aead;      /* set by sl_cohort_unlock */
    int fd;                    /* HDF5's descriptor of the file: chunks are read with pread */
    unsigned char *sealed;     /* one sealed chunk as read from the file (not secret) */
    size_t sealed_cap;
};

void sl_colinfo_clear(struct sl_colinfo *ci)
{
    if (!ci)
        return;
    sl_free(ci->name);
    for (int32_t k = 0; k < ci->nlevels; k++)
        sl_free(ci->levels[k]);
    sl_free(ci->levels);
    memset(ci, 0, sizeof *ci);
}

int sl_colname_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > SL_COL_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch == '/' || ch < 0x20 || ch == 0x7f)
            return 0;
    }
    return 1;
}

static void h5_close_quiet(hid_t *id, herr_t (*close_fn)(hid_t))
{
    if (*id >= 0)
        (void)close_fn(*id);
    *id = H5I_INVALID_HID;
}

static int hex_decode(const char *hex, unsigned char *out, size_t n)
{
    for (size_t i = 0; i < 2 * n; i++) {
        char ch = hex[i];
        int v = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (v < 0)
            return -1;
        if (out)
            out[i / 2] = (unsigned char)(i % 2 ? (out[i / 2] | v) : v << 4);
    }
    return hex[2 * n] == '\0' ? 0 : -1;
}

/* ---- attributes ---- */

/* Opens attribute `name` of `obj` and checks it is a scalar of type class
 * `cls`; SL_ERR_FORMAT naming `file` and `where` otherwise. */
static sl_status attr_open(hid_t obj, const char *name, H5T_class_t cls, const char *file,
                           const char *where, hid_t *attr, hid_t *ftype)
{
    sl_status st = SL_OK;
    htri_t exists;
    hid_t space = H5I_INVALID_HID;

    SL_CALL_H5_AS(SL_ERR_FORMAT, exists = H5Aexists(obj, name),
                  "%s: cannot read the attributes of %s", file, where);
    SL_CHECK(exists > 0, SL_ERR_FORMAT, "%s: %s has no attribute %s", file, where, name);
    SL_CALL_H5_AS(SL_ERR_FORMAT, *attr = H5Aopen(obj, name, H5P_DEFAULT),
                  "%s: cannot open attribute %s of %s", file, name, where);
    SL_CALL_H5_AS(SL_ERR_FORMAT, *ftype = H5Aget_type(*attr),
                  "%s: cannot read the type of attribute %s of %s", file, name, where);
    SL_CHECK(H5Tget_class(*ftype) == cls, SL_ERR_FORMAT,
             "%s: attribute %s of %s has the wrong type", file, name, where);
    SL_CALL_H5_AS(SL_ERR_FORMAT, space = H5Aget_space(*attr),
                  "%s: cannot read the shape of attribute %s of %s", file, name, where);
    SL_CHECK(H5Sget_simple_extent_type(space) == H5S_SCALAR, SL_ERR_FORMAT,
             "%s: attribute %s of %s should be a single value", file, name, where);
cleanup:
    h5_close_quiet(&space, H5Sclose);
    return st;
}

/* Reads a scalar numeric attribute converted to `mtype`. */
static sl_status attr_get_num(hid_t obj, const char *name, H5T_class_t cls, hid_t mtype,
                              void *out, const char *file, const char *where)
{
    sl_status st = SL_OK;
    hid_t attr = H5I_INVALID_HID;
    hid_t ftype = H5I_INVALID_HID;

    SL_CALL(attr_open(obj, name, cls, file, where, &attr, &ftype));
    SL_CALL_H5_AS(SL_ERR_FORMAT, H5Aread(attr, mtype, out),
                  "%s: cannot read attribute %s of %s", file, name, where);
cleanup:
    h5_close_quiet(&ftype, H5Tclose);
    h5_close_quiet(&attr, H5Aclose);
    return st;
}

/* Reads a scalar string attribute (fixed or variable length) into a new
 * sl_malloc'd string. */
static sl_status attr_get_string(hid_t obj, const char *name, const char *file,
                                 const char *where, char **out)
{
    sl_status st = SL_OK;
    hid_t attr = H5I_INVALID_HID;
    hid_t ftype = H5I_INVALID_HID;
    hid_t mtype = H5I_INVALID_HID;
    char *vstr = NULL;
    char *s = NULL;
    htri_t var;

    SL_CALL(attr_open(obj, name, H5T_STRING, file, where, &attr, &ftype));
    SL_CALL_H5_AS(SL_ERR_FORMAT, var = H5Tis_variable_str(ftype),
                  "%s: cannot read the type of attribute %s of %s", file, name, where);
    SL_CALL_H5(mtype = H5Tcopy(H5T_C_S1), "cannot create a string type");
    SL_CALL_H5(H5Tset_cset(mtype, H5Tget_cset(ftype)), "cannot set string encoding");
    if (var) {
        SL_CALL_H5(H5Tset_size(mtype, H5T_VARIABLE), "cannot size a string type");
        SL_CALL_H5_AS(SL_ERR_FORMAT, H5Aread(attr, mtype, &vstr),
                      "%s: cannot read attribute %s of %s", file, name, where);
        SL_CHECK(vstr && strlen(vstr) < SL_ATTR_STRING_MAX, SL_ERR_FORMAT,
                 "%s: attribute %s of %s is empty or too long", file, name, where);
        s = sl_strdup(vstr);
        SL_CHECK(s, SL_ERR_NOMEM, "out of memory");
    } else {
        size_t size = H5Tget_size(ftype);
        SL_CHECK(size > 0 && size < SL_ATTR_STRING_MAX, SL_ERR_FORMAT,
                 "%s: attribute %s of %s is empty or too long", file, name, where);
        SL_CALL_H5(H5Tset_size(mtype, size + 1), "cannot size a string type");
        SL_CALL_H5(H5Tset_strpad(mtype, H5T_STR_NULLTERM), "cannot set string padding");
        s = sl_calloc(size + 1, 1);
        SL_CHECK(s, SL_ERR_NOMEM, "out of memory");
        SL_CALL_H5_AS(SL_ERR_FORMAT, H5Aread(attr, mtype, s),
                      "%s: cannot read attribute %s of %s", file, name, where);
        s[size] = '\0';
    }
    *out = s;
    s = NULL;
cleanup:
    if (vstr)
        H5free_memory(vstr);
    sl_free(s);
    h5_close_quiet(&mtype, H5Tclose);
    h5_close_quiet(&ftype, H5Tclose);
    h5_close_quiet(&attr, H5Aclose);
    return st;
}

/* Reads a string attribute into the fixed buffer `out` of `cap` bytes. */
static sl_status attr_get_string_buf(hid_t obj, const char *name, const char *file,
                                     const char *where, char *out, size_t cap)
{
    sl_status st = SL_OK;
    char *s = NULL;

    SL_CALL(attr_get_string(obj, name, file, where, &s));
    SL_CHECK(strlen(s) < cap, SL_ERR_FORMAT, "%s: attribute %s of %s is too long", file, name,
             where);
    memcpy(out, s, strlen(s) + 1);
cleanup:
    sl_free(s);
    return st;
}

static sl_status levels_read(hid_t dset, struct sl_colinfo *ci, const char *file,
                             const char *where)
{
    sl_status st = SL_OK;
    hid_t attr = H5I_INVALID_HID;
    hid_t ftype = H5I_INVALID_HID;
    hid_t mtype = H5I_INVALID_HID;
    hid_t space = H5I_INVALID_HID;
    char **raw = NULL;
    hssize_t n = 0;
    htri_t exists;

    SL_CALL_H5_AS(SL_ERR_FORMAT, exists = H5Aexists(dset, SL_ATTR_LEVELS),
                  "%s: cannot read the attributes of %s", file, where);
    if (!exists)
        goto cleanup;
    SL_CALL_H5_AS(SL_ERR_FORMAT, attr = H5Aopen(dset, SL_ATTR_LEVELS, H5P_DEFAULT),
                  "%s: cannot open attribute %s of %s", file, SL_ATTR_LEVELS, where);
    SL_CALL_H5_AS(SL_ERR_FORMAT, ftype = H5Aget_type(attr),
                  "%s: cannot read the type of attribute %s of %s", file, SL_ATTR_LEVELS, where);
    SL_CHECK(H5Tget_class(ftype) == H5T_STRING && H5Tis_variable_str(ftype) > 0, SL_ERR_FORMAT,
             "%s: attribute %s of %s should hold variable-length strings", file, SL_ATTR_LEVELS,
             where);
    SL_CALL_H5_AS(SL_ERR_FORMAT, space = H5Aget_space(attr),
                  "%s: cannot read the shape of attribute %s of %s", file, SL_ATTR_LEVELS, where);
    SL_CHECK(H5Sget_simple_extent_ndims(space) == 1, SL_ERR_FORMAT,
             "%s: attribute %s of %s should be a list", file, SL_ATTR_LEVELS, where);
    n = H5Sget_simple_extent_npoints(space);
    SL_CHECK(n >= 0 && n <= INT32_MAX, SL_ERR_FORMAT, "%s: attribute %s of %s has a bad length",
             file, SL_ATTR_LEVELS, where);
    raw = sl_calloc((size_t)n, sizeof *raw);
    ci->levels = sl_calloc((size_t)n, sizeof *ci->levels);
    SL_CHECK(raw && ci->levels, SL_ERR_NOMEM, "out of memory");
    SL_CALL_H5(mtype = H5Tcopy(H5T_C_S1), "cannot create a string type");
    SL_CALL_H5(H5Tset_size(mtype, H5T_VARIABLE), "cannot size a string type");
    SL_CALL_H5(H5Tset_cset(mtype, H5Tget_cset(ftype)), "cannot set string encoding");
    SL_CALL_H5_AS(SL_ERR_FORMAT, H5Aread(attr, mtype, raw), "%s: cannot read attribute %s of %s",
                  file, SL_ATTR_LEVELS, where);
    for (hssize_t i = 0; i < n; i++) {
        SL_CHECK(raw[i], SL_ERR_FORMAT, "%s: %s: category level %lld has no label", file, where,
                 (long long)i);
        ci->levels[i] = sl_strdup(raw[i]);
        SL_CHECK(ci->levels[i], SL_ERR_NOMEM, "out of memory");
        ci->nlevels = (int32_t)(i + 1);
    }
cleanup:
    if (raw) {
        for (hssize_t i = 0; i < n; i++)
            if (raw[i])
                H5free_memory(raw[i]);
        sl_free(raw);
    }
    h5_close_quiet(&space, H5Sclose);
    h5_close_quiet(&mtype, H5Tclose);
    h5_close_quiet(&ftype, H5Tclose);
    h5_close_quiet(&attr, H5Aclose);
    return st;
}

static sl_status bound_read(hid_t dset, const char *name, double *out, const char *file,
                            const char *where)
{
    sl_status st = SL_OK;
    htri_t exists;

    *out = NAN;
    SL_CALL_H5_AS(SL_ERR_FORMAT, exists = H5Aexists(dset, name),
                  "%s: cannot read the attributes of %s", file, where);
    if (exists)
        SL_CALL(attr_get_num(dset, name, H5T_FLOAT, H5T_NATIVE_DOUBLE, out, file, where));
cleanup:
    return st;
}

/* ---- root and columns ---- */

static sl_status version_check(struct sl_cohort *c)
{
    sl_status st = SL_OK;
    htri_t exists;

    SL_CALL_H5_AS(SL_ERR_FORMAT, exists = H5Aexists(c->file, SL_ATTR_FORMAT),
                  "%s: cannot read the attributes of /", c->path);
    SL_CHECK(exists > 0, SL_ERR_FORMAT,
             "%s is an HDF5 file but not a sluice cohort (no %s attribute on /)", c->path,
             SL_ATTR_FORMAT);
    SL_CALL(attr_get_num(c->file, SL_ATTR_FORMAT, H5T_INTEGER, H5T_NATIVE_UINT32, &c->version,
                         c->path, "/"));
    SL_CHECK(c->version <= SL_FORMAT_VERSION, SL_ERR_VERSION,
             "%s: cohort format version %u is newer than this sluice supports (%u); upgrade "
             "sluice",
             c->path, (unsigned)c->version, (unsigned)SL_FORMAT_VERSION);
    SL_CHECK(c->version >= SL_FORMAT_MIN_VERSION, SL_ERR_VERSION,
             "%s: cohort format version %u is older than this sluice supports (%u to %u); "
             "re-ingest the cohort or use an older sluice",
             c->path, (unsigned)c->version, (unsigned)SL_FORMAT_MIN_VERSION,
             (unsigned)SL_FORMAT_VERSION);
cleanup:
    return st;
}

static sl_status root_read(struct sl_cohort *c)
{
    sl_status st = SL_OK;
    hid_t attr = H5I_INVALID_HID;
    hid_t ftype = H5I_INVALID_HID;

    SL_CALL(attr_get_string_buf(c->file, SL_ATTR_UUID, c->path, "/", c->uuid, sizeof c->uuid));
    SL_CHECK(hex_decode(c->uuid, c->uuid_raw, sizeof c->uuid_raw) == 0, SL_ERR_FORMAT,
             "%s: attribute %s should be 32 lowercase hex digits", c->path, SL_ATTR_UUID);
    SL_CALL(attr_get_string_buf(c->file, SL_ATTR_KEK_ID, c->path, "/", c->kek_id,
                                sizeof c->kek_id));
    SL_CHECK(hex_decode(c->kek_id, NULL, 8) == 0, SL_ERR_FORMAT,
             "%s: attribute %s should be 16 lowercase hex digits", c->path, SL_ATTR_KEK_ID);
    SL_CALL(attr_get_num(c->file, SL_ATTR_ROWS, H5T_INTEGER, H5T_NATIVE_INT64, &c->nrows,
                         c->path, "/"));
    SL_CALL(attr_get_num(c->file, SL_ATTR_CHUNK_ROWS, H5T_INTEGER, H5T_NATIVE_INT64,
                         &c->chunk_rows, c->path, "/"));
    SL_CHECK(c->nrows >= 0, SL_ERR_FORMAT, "%s: attribute %s is negative", c->path,
             SL_ATTR_ROWS);
    SL_CHECK(c->chunk_rows > 0 && c->chunk_rows <= SL_MAX_CHUNK_ROWS, SL_ERR_FORMAT,
             "%s: attribute %s should be between 1 and %d", c->path, SL_ATTR_CHUNK_ROWS,
             SL_MAX_CHUNK_ROWS);
    c->nchunks = c->nrows / c->chunk_rows + (c->nrows % c->chunk_rows != 0);
    SL_CALL(attr_open(c->file, SL_ATTR_WRAPPED_DEK, H5T_OPAQUE, c->path, "/", &attr, &ftype));
    SL_CHECK(H5Tget_size(ftype) == SL_WRAPPED_KEY_BYTES, SL_ERR_FORMAT,
             "%s: attribute %s should be %d bytes", c->path, SL_ATTR_WRAPPED_DEK,
             SL_WRAPPED_KEY_BYTES);
    SL_CALL_H5_AS(SL_ERR_FORMAT, H5Aread(attr, ftype, c->wrapped),
                  "%s: cannot read attribute %s", c->path, SL_ATTR_WRAPPED_DEK);
cleanup:
    h5_close_quiet(&ftype, H5Tclose);
    h5_close_quiet(&attr, H5Aclose);
    return st;
}

/* Checks that the dataset's element type is the one format.h gives `type`. */
static int dtype_matches(hid_t ftype, enum sl_coltype type)
{
    H5T_class_t cls = H5Tget_class(ftype);
    size_t size = H5Tget_size(ftype);
    if (size != sl_coltype_size(type))
        return 0;
    switch (type) {
    case SL_COL_ID: return cls == H5T_OPAQUE;
    case SL_COL_INT:
    case SL_COL_CAT:
    case SL_COL_DATE:
        return cls == H5T_INTEGER && H5Tget_sign(ftype) == H5T_SGN_2 &&
               H5Tget_order(ftype) == H5T_ORDER_LE;
    case SL_COL_REAL: return cls == H5T_FLOAT && H5Tget_order(ftype) == H5T_ORDER_LE;
    }
    return 0;
}

/* Checks shape, chunking and pipeline of an opened value dataset. */
static sl_status dset_check(struct sl_cohort *c, hid_t dset, enum sl_coltype type,
                            const char *where)
{
    sl_status st = SL_OK;
    hid_t ftype = H5I_INVALID_HID;
    hid_t space = H5I_INVALID_HID;
    hid_t dcpl = H5I_INVALID_HID;
    hsize_t dims = 0;
    hsize_t chunk = 0;

    SL_CALL_H5_AS(SL_ERR_FORMAT, ftype = H5Dget_type(dset), "%s: cannot read the type of %s",
                  c->path, where);
    SL_CHECK(dtype_matches(ftype, type), SL_ERR_FORMAT,
             "%s: dataset %s does not hold %s values as format version %u stores them", c->path,
             where, sl_coltype_name(type), (unsigned)c->version);
    SL_CALL_H5_AS(SL_ERR_FORMAT, space = H5Dget_space(dset), "%s: cannot read the shape of %s",
                  c->path, where);
    SL_CHECK(H5Sget_simple_extent_ndims(space) == 1, SL_ERR_FORMAT,
             "%s: dataset %s should be one-dimensional", c->path, where);
    SL_CALL_H5_AS(SL_ERR_FORMAT, H5Sget_simple_extent_dims(space, &dims, NULL),
                  "%s: cannot read the shape of %s", c->path, where);
    SL_CHECK(dims == (hsize_t)c->nrows, SL_ERR_FORMAT,
             "%s: dataset %s has %llu rows, but the cohort has %lld", c->path, where,
             (unsigned long long)dims, (long long)c->nrows);
    SL_CALL_H5_AS(SL_ERR_FORMAT, dcpl = H5Dget_create_plist(dset),
                  "%s: cannot read the layout of %s", c->path, where);
    SL_CHECK(H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, 1, &chunk) == 1 &&
                 chunk == (hsize_t)c->chunk_rows,
             SL_ERR_FORMAT, "%s: dataset %s should be chunked by %lld rows", c->path, where,
             (long long)c->chunk_rows);
    SL_CHECK(sl_h5_filter_present(dcpl), SL_ERR_FORMAT,
             "%s: dataset %s lacks the mandatory sluice encryption filter", c->path, where);
cleanup:
    h5_close_quiet(&dcpl, H5Pclose);
    h5_close_quiet(&space, H5Sclose);
    h5_close_quiet(&ftype, H5Tclose);
    return st;
}

/* Opens dataset `name` of /patients and reads its description into the
 * column slot given by its sluice_index. */
static sl_status column_read(struct sl_cohort *c, hid_t group, const char *name)
{
    sl_status st = SL_OK;
    size_t plen = strlen(SL_TABLE_PATIENTS) + 1 + strlen(name) + 1;
    char *path = NULL;
    char *s = NULL;
    hid_t dset = H5I_INVALID_HID;
    int32_t index = -1;
    H5L_info_t link;
    struct sl_colinfo ci;

    memset(&ci, 0, sizeof ci);
    path = sl_malloc(plen);
    SL_CHECK(path, SL_ERR_NOMEM, "out of memory");
    snprintf(path, plen, "%s/%s", SL_TABLE_PATIENTS, name);
    SL_CHECK(sl_colname_valid(name), SL_ERR_FORMAT,
             "%s: table %s has a column whose name is not valid (a name has 1 to %d bytes, no '/' "
             "and no control characters)",
             c->path, SL_TABLE_PATIENTS, SL_COL_NAME_MAX);
    SL_CALL_H5_AS(SL_ERR_FORMAT, H5Lget_info(group, name, &link, H5P_DEFAULT),
                  "%s: cannot look up %s", c->path, path);
    SL_CHECK(link.type == H5L_TYPE_HARD, SL_ERR_FORMAT,
             "%s: %s is a link to elsewhere, not a dataset of this cohort", c->path, path);
    SL_CALL_H5_AS(SL_ERR_FORMAT, dset = H5Dopen2(group, name, H5P_DEFAULT),
                  "%s: %s is not a dataset", c->path, path);
    SL_CALL(attr_get_num(dset, SL_ATTR_INDEX, H5T_INTEGER, H5T_NATIVE_INT32, &index, c->path,
                         path));
    SL_CHECK(index >= 0 && index < c->ncols, SL_ERR_FORMAT,
             "%s: %s has column index %d, outside 0..%d", c->path, path, (int)index,
             c->ncols - 1);
    SL_CHECK(c->rc[index].dset < 0, SL_ERR_FORMAT, "%s: two columns have index %d", c->path,
             (int)index);
    SL_CALL(attr_get_string(dset, SL_ATTR_TYPE, c->path, path, &s));
    ci.type = sl_coltype_parse(s);
    SL_CHECK(ci.type != 0, SL_ERR_FORMAT,
             "%s: %s has an unknown %s (expected id, integer, real, categorical or date)",
             c->path, path, SL_ATTR_TYPE);
    sl_free(s);
    s = NULL;
    SL_CALL(attr_get_string(dset, SL_ATTR_CLASS, c->path, path, &s));
    ci.cls = sl_colclass_parse(s);
    SL_CHECK(ci.cls != 0, SL_ERR_FORMAT,
             "%s: %s has an unknown %s (expected identifier, quasi, sensitive or other)", c->path,
             path, SL_ATTR_CLASS);
    SL_CALL(dset_check(c, dset, ci.type, path));
    if (ci.type == SL_COL_CAT)
        SL_CALL(levels_read(dset, &ci, c->path, path));
    SL_CALL(bound_read(dset, SL_ATTR_LOWER, &ci.lower, c->path, path));
    SL_CALL(bound_read(dset, SL_ATTR_UPPER, &ci.upper, c->path, path));
    ci.name = sl_strdup(name);
    SL_CHECK(ci.name, SL_ERR_NOMEM, "out of memory");
    c->cols[index] = ci;
    memset(&ci, 0, sizeof ci);
    c->rc[index].dset = dset;
    c->rc[index].dset_path = path;
    c->rc[index].esize = sl_coltype_size(c->cols[index].type);
    dset = H5I_INVALID_HID;
    path = NULL;
cleanup:
    sl_colinfo_clear(&ci);
    h5_close_quiet(&dset, H5Dclose);
    sl_free(s);
    sl_free(path);
    return st;
}

static sl_status columns_read(struct sl_cohort *c)
{
    sl_status st = SL_OK;
    hid_t group = H5I_INVALID_HID;
    H5G_info_t info;
    htri_t exists;
    char *name = NULL;

    SL_CALL_H5_AS(SL_ERR_FORMAT, exists = H5Lexists(c->file, SL_TABLE_PATIENTS, H5P_DEFAULT),
                  "%s: cannot look up %s", c->path, SL_TABLE_PATIENTS);
    SL_CHECK(exists > 0, SL_ERR_FORMAT, "%s: the cohort has no %s table", c->path,
             SL_TABLE_PATIENTS);
    SL_CALL_H5_AS(SL_ERR_FORMAT, group = H5Gopen2(c->file, SL_TABLE_PATIENTS, H5P_DEFAULT),
                  "%s: %s is not a group", c->path, SL_TABLE_PATIENTS);
    SL_CALL_H5_AS(SL_ERR_FORMAT, H5Gget_info(group, &info), "%s: cannot list %s", c->path,
                  SL_TABLE_PATIENTS);
    SL_CHECK(info.nlinks > 0 && info.nlinks <= SL_COLS_MAX, SL_ERR_FORMAT,
             "%s: table %s has %llu columns; expected 1 to %d", c->path, SL_TABLE_PATIENTS,
             (unsigned long long)info.nlinks, SL_COLS_MAX);
    c->ncols = (int)info.nlinks;
    c->cols = sl_calloc((size_t)c->ncols, sizeof *c->cols);
    c->rc = sl_calloc((size_t)c->ncols, sizeof *c->rc);
    SL_CHECK(c->cols && c->rc, SL_ERR_NOMEM, "out of memory");
    for (int j = 0; j < c->ncols; j++)
        c->rc[j].dset = H5I_INVALID_HID;
    for (hsize_t i = 0; i < info.nlinks; i++) {
        ssize_t len;
        SL_CALL_H5_AS(SL_ERR_FORMAT,
                      len = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, NULL, 0,
                                               H5P_DEFAULT),
                      "%s: cannot list %s", c->path, SL_TABLE_PATIENTS);
        SL_CHECK(len > 0 && len <= SL_COL_NAME_MAX, SL_ERR_FORMAT,
                 "%s: table %s has a column name of %zd bytes; expected 1 to %d", c->path,
                 SL_TABLE_PATIENTS, len, SL_COL_NAME_MAX);
        name = sl_malloc((size_t)len + 1);
        SL_CHECK(name, SL_ERR_NOMEM, "out of memory");
        SL_CALL_H5_AS(SL_ERR_FORMAT,
                      H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name,
                                         (size_t)len + 1, H5P_DEFAULT),
                      "%s: cannot list %s", c->path, SL_TABLE_PATIENTS);
        SL_CALL(column_read(c, group, name));
        sl_free(name);
        name = NULL;
    }
cleanup:
    sl_free(name);
    h5_close_quiet(&group, H5Gclose);
    return st;
}

/* ---- open / close ---- */

/* The descriptor through which HDF5's default (sec2) driver reads the file.
 * Chunks are read with pread on it: from any thread, while HDF5 itself is
 * called from one thread only. */
static sl_status file_descriptor(struct sl_cohort *c)
{
    sl_status st = SL_OK;
    hid_t fapl = H5I_INVALID_HID;
    void *handle = NULL;

    SL_CALL_H5(fapl = H5Fget_access_plist(c->file), "%s: cannot query how the file is opened",
               c->path);
    SL_CHECK(H5Pget_driver(fapl) == H5FD_SEC2, SL_ERR_HDF5,
             "%s: HDF5 opened the file with a driver other than sec2 (its default); sluice "
             "reads chunks through that driver's file descriptor",
             c->path);
    SL_CALL_H5(H5Fget_vfd_handle(c->file, fapl, &handle), "%s: no file descriptor from HDF5",
               c->path);
    SL_CHECK(handle, SL_ERR_HDF5, "%s: no file descriptor from HDF5", c->path);
    c->fd = *(const int *)handle;
cleanup:
    h5_close_quiet(&fapl, H5Pclose);
    return st;
}

sl_status sl_cohort_open(const char *path, struct sl_cohort **out)
{
    sl_status st = SL_OK;
    struct sl_cohort *c = NULL;
    struct stat sb;
    htri_t is_h5;

    *out = NULL;
    SL_CALL(sl_h5_init());
    SL_CHECK(path && path[0], SL_ERR_ARG, "no cohort path given");
    SL_CHECK(stat(path, &sb) == 0, SL_ERR_IO, "cannot open cohort %s: %s", path,
             strerror(errno));
    SL_CHECK(S_ISREG(sb.st_mode), SL_ERR_FORMAT, "cohort %s is not a regular file", path);
    SL_CHECK(access(path, R_OK) == 0, SL_ERR_IO, "cannot read cohort %s: %s", path,
             strerror(errno));
    is_h5 = H5Fis_hdf5(path);
    (void)H5Eclear2(H5E_DEFAULT);
    SL_CHECK(is_h5 > 0, SL_ERR_FORMAT, "%s is not an HDF5 file, so not a sluice cohort", path);
    c = sl_calloc(1, sizeof *c);
    SL_CHECK(c, SL_ERR_NOMEM, "out of memory");
    c->file = H5I_INVALID_HID;
    c->fd = -1;
    c->path = sl_strdup(path);
    SL_CHECK(c->path, SL_ERR_NOMEM, "out of memory");
    SL_CALL_H5_AS(SL_ERR_FORMAT, c->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT),
                  "cannot open cohort %s: the file is truncated or damaged", path);
    SL_CALL(file_descriptor(c));
    SL_CALL(version_check(c));
    SL_CALL(root_read(c));
    SL_CALL(columns_read(c));
    *out = c;
    c = NULL;
cleanup:
    sl_cohort_close(&c);
    return st;
}

void sl_cohort_close(struct sl_cohort **cp)
{
    struct sl_cohort *c;

    if (!cp || !*cp)
        return;
    c = *cp;
    for (int j = 0; j < c->ncols; j++) {
        if (c->rc)
            h5_close_quiet(&c->rc[j].dset, H5Dclose);
        if (c->rc)
            sl_free(c->rc[j].dset_path);
        if (c->cols)
            sl_colinfo_clear(&c->cols[j]);
    }
    h5_close_quiet(&c->file, H5Fclose);
    sl_aead_destroy(&c->aead);
    sl_free(c->sealed);
    sl_free(c->rc);
    sl_free(c->cols);
    sl_free(c->path);
    sl_free(c);
    *cp = NULL;
}

const char *sl_cohort_path(const struct sl_cohort *c) { return c->path; }
uint32_t sl_cohort_version(const struct sl_cohort *c) { return c->version; }
const char *sl_cohort_uuid(const struct sl_cohort *c) { return c->uuid; }
const char *sl_cohort_kek_id(const struct sl_cohort *c) { return c->kek_id; }
int64_t sl_cohort_nrows(const struct sl_cohort *c) { return c->nrows; }
int64_t sl_cohort_chunk_rows(const struct sl_cohort *c) { return c->chunk_rows; }
int64_t sl_cohort_nchunks(const struct sl_cohort *c) { return c->nchunks; }
int sl_cohort_ncols(const struct sl_cohort *c) { return c->ncols; }

const struct sl_colinfo *sl_cohort_col(const struct sl_cohort *c, int i)
{
    return i >= 0 && i < c->ncols ? &c->cols[i] : NULL;
}

int sl_cohort_find(const struct sl_cohort *c, const char *name)
{
    for (int j = 0; j < c->ncols; j++)
        if (strcmp(c->cols[j].name, name) == 0)
            return j;
    return -1;
}

int64_t sl_cohort_chunk_nrows(const struct sl_cohort *c, int64_t chunk)
{
    if (chunk < 0 || chunk >= c->nchunks)
        return 0;
    if (chunk < c->nchunks - 1)
        return c->chunk_rows;
    return c->nrows - chunk * c->chunk_rows;
}

/* ---- keys and values ---- */

sl_status sl_cohort_unlock(struct sl_cohort *c, const struct sl_kek *kek)
{
    sl_status st = SL_OK;
    unsigned char dek[SL_KEY_BYTES];

    SL_CHECK(c && kek, SL_ERR_ARG, "unlocking a cohort needs a cohort and a key");
    SL_CHECK(strcmp(c->kek_id, sl_kek_id(kek)) == 0, SL_ERR_KEY,
             "cohort %s was encrypted under key %s, not under key %s from %s", c->path,
             c->kek_id, sl_kek_id(kek), sl_kek_path(kek));
    st = sl_kek_unwrap(kek, c->wrapped, dek);
    if (st != SL_OK) {
        sl_error_prefix("cohort %s", c->path);
        sl_error_trace(__FILE__, __LINE__, __func__);
        goto cleanup;
    }
    sl_aead_destroy(&c->aead);
    SL_CALL(sl_aead_create(dek, &c->aead));
cleanup:
    sl_wipe(dek, sizeof dek);
    return st;
}

/* Where sealed chunk `chunk` of column `col` is: checks the request and the
 * stored size before anything is read. *addr and *stored are its place and
 * size in the file, *len the plaintext size, which must fit in dst_size.
 * HDF5 is called from one thread only. */
static sl_status locate_sealed(struct sl_cohort *c, int col, int64_t chunk, size_t dst_size,
                               haddr_t *addr, size_t *stored, size_t *len)
{
    sl_status st = SL_OK;
    hsize_t offset, size = 0;
    unsigned mask = 0;
    const char *dpath;

    SL_CHECK(col >= 0 && col < c->ncols, SL_ERR_ARG, "%s: no column %d", c->path, col);
    dpath = c->rc[col].dset_path;
    SL_CHECK(chunk >= 0 && chunk < c->nchunks, SL_ERR_ARG,
             "%s: dataset %s has no chunk %lld (it has %lld)", c->path, dpath, (long long)chunk,
             (long long)c->nchunks);
    SL_CHECK(c->aead, SL_ERR_ARG, "cohort %s is locked: unlock it with its key first", c->path);
    *len = (size_t)sl_cohort_chunk_nrows(c, chunk) * c->rc[col].esize;
    SL_CHECK(dst_size >= *len, SL_ERR_ARG,
             "%s: dataset %s chunk %lld needs %zu bytes, the destination has %zu", c->path,
             dpath, (long long)chunk, *len, dst_size);
    offset = (hsize_t)chunk * (hsize_t)c->chunk_rows;
    *addr = HADDR_UNDEF;
    if (H5Dget_chunk_info_by_coord(c->rc[col].dset, &offset, &mask, addr, &size) < 0 ||
        *addr == HADDR_UNDEF || size == 0) {
        (void)H5Eclear2(H5E_DEFAULT);
        SL_FAIL(SL_ERR_CRYPTO, "%s: dataset %s chunk %lld is missing (truncated or tampered file)",
                c->path, dpath, (long long)chunk);
    }
    SL_CHECK(size == (hsize_t)*len + SL_GCM_TAG_BYTES, SL_ERR_CRYPTO,
             "%s: dataset %s chunk %lld is stored as %llu bytes, expected %zu (truncated or "
             "tampered)",
             c->path, dpath, (long long)chunk, (unsigned long long)size,
             *len + SL_GCM_TAG_BYTES);
    SL_CHECK(mask == 0, SL_ERR_CRYPTO,
             "%s: dataset %s chunk %lld is marked as stored without the sluice filter", c->path,
             dpath, (long long)chunk);
    SL_CHECK(*addr <= (haddr_t)INT64_MAX - size, SL_ERR_CRYPTO,
             "%s: dataset %s chunk %lld is placed past the end of any file (tampered)", c->path,
             dpath, (long long)chunk);
    *stored = (size_t)size;
cleanup:
    return st;
}

/* Reads the `stored` bytes of a located chunk into buf (ciphertext, not
 * secret) with pread on HDF5's descriptor: safe from any thread. */
static sl_status read_sealed(const struct sl_cohort *c, int col, int64_t chunk, haddr_t addr,
                             size_t stored, unsigned char *buf)
{
    sl_status st = SL_OK;
    size_t got = 0;

    while (got < stored) {
        ssize_t k = pread(c->fd, buf + got, stored - got, (off_t)(addr + got));
        if (k < 0 && errno == EINTR)
            continue;
        SL_CHECK(k >= 0, SL_ERR_IO, "%s: cannot read dataset %s chunk %lld: %s", c->path,
                 c->rc[col].dset_path, (long long)chunk, strerror(errno));
        SL_CHECK(k > 0, SL_ERR_CRYPTO,
                 "%s: dataset %s chunk %lld ends past the end of the file (truncated or "
                 "tampered file)",
                 c->path, c->rc[col].dset_path, (long long)chunk);
        got += (size_t)k;
    }
cleanup:
    return st;
}

/* Opens a read chunk with `aead` (one thread's context). */
static sl_status open_sealed(const struct sl_cohort *c, struct sl_aead *aead, int col,
                             int64_t chunk, const unsigned char *sealed, size_t stored, void *dst,
                             size_t len)
{
    struct sl_chunk_ref ref = {c->version, c->uuid_raw, c->rc[col].dset_path, (uint32_t)col,
                               (uint64_t)chunk, c->path};
    return sl_aead_open(aead, &ref, sealed, stored, dst, len);
}

/* A sealed buffer of at least `size` bytes in *buf (capacity *cap). */
static sl_status sealed_reserve(unsigned char **buf, size_t *cap, size_t size)
{
    sl_status st = SL_OK;
    if (*cap < size) {
        sl_free(*buf);
        *cap = 0;
        *buf = sl_malloc(size);
        SL_CHECK(*buf, SL_ERR_NOMEM, "out of memory");
        *cap = size;
    }
cleanup:
    return st;
}

sl_status sl_cohort_read_chunk(struct sl_cohort *c, int col, int64_t chunk, void *dst,
                               size_t dst_size)
{
    sl_status st = SL_OK;
    size_t stored = 0, len = 0;
    haddr_t addr;

    SL_CHECK(c && dst, SL_ERR_ARG, "reading a chunk needs a cohort and a destination");
    SL_CALL(locate_sealed(c, col, chunk, dst_size, &addr, &stored, &len));
    SL_CALL(sealed_reserve(&c->sealed, &c->sealed_cap, stored));
    SL_CALL(read_sealed(c, col, chunk, addr, stored, c->sealed));
    SL_CALL(open_sealed(c, c->aead, col, chunk, c->sealed, stored, dst, len));
cleanup:
    if (st != SL_OK && dst)
        sl_wipe(dst, dst_size);
    return st;
}

/* Where a batch's chunks are and their sizes, and the first failure. */
struct batch {
    haddr_t *addr;
    size_t *stored, *len;
    int64_t fail_at; /* the first failing chunk (list order), or n */
    sl_status fst;
    char fmsg[512];
};

/* Records the failure of chunk i (message from the calling thread) unless
 * an earlier chunk failed. */
static void batch_fail(struct batch *b, int64_t i, sl_status st)
{
    SL_OMP(critical(sl_cohort_batch))
    if (i < b->fail_at) {
        b->fail_at = i;
        b->fst = st;
        snprintf(b->fmsg, sizeof b->fmsg, "%s", sl_error_message());
    }
}

sl_status sl_cohort_read_chunks(struct sl_cohort *c, int col, const int64_t *chunks, int64_t n,
                                void *const *dst, const size_t *dst_size)
{
    sl_status st = SL_OK;
    int nt = sl_max_threads();
    struct sl_aead **ctx = NULL;
    unsigned char **buf = NULL;
    size_t *cap = NULL, most = 0;
    struct batch b = {NULL, NULL, NULL, n, SL_OK, ""};
    int64_t located = 0;

    nt = n < nt ? (int)(n > 1 ? n : 1) : nt;
    SL_CHECK(c && (n == 0 || (chunks && dst && dst_size)), SL_ERR_ARG,
             "reading chunks needs a cohort and destinations");
    SL_CHECK(c->aead, SL_ERR_ARG, "cohort %s is locked: unlock it with its key first", c->path);
    ctx = sl_calloc((size_t)nt, sizeof *ctx);
    buf = sl_calloc((size_t)nt, sizeof *buf);
    cap = sl_calloc((size_t)nt, sizeof *cap);
    b.addr = sl_malloc((size_t)(n + 1) * sizeof *b.addr);
    b.stored = sl_malloc((size_t)(n + 1) * sizeof *b.stored);
    b.len = sl_malloc((size_t)(n + 1) * sizeof *b.len);
    SL_CHECK(ctx && buf && cap && b.addr && b.stored && b.len, SL_ERR_NOMEM, "out of memory");
    ctx[0] = c->aead;
    for (int t = 1; t < nt; t++)
        SL_CALL(sl_aead_clone(c->aead, &ctx[t]));
    /* HDF5 finds the chunks here, on this thread; the threads then read
     * and open them in any order, and the first failure in list order is
     * the one reported (chunks after a located failure are not read) */
    for (; located < n; located++) {
        sl_status lst = locate_sealed(c, col, chunks[located], dst_size[located],
                                      &b.addr[located], &b.stored[located], &b.len[located]);
        if (lst != SL_OK) {
            batch_fail(&b, located, lst);
            break;
        }
        most = b.stored[located] > most ? b.stored[located] : most;
    }
    for (int t = 0; t < nt; t++)
        SL_CALL(sealed_reserve(&buf[t], &cap[t], most));
    SL_OMP(parallel for num_threads(nt) schedule(dynamic, 1))
    for (int64_t i = 0; i < located; i++) {
        int t = sl_thread_num();
        int64_t first;
        sl_status cst;
        SL_OMP(atomic read)
        first = b.fail_at;
        if (i > first)
            continue;
        cst = read_sealed(c, col, chunks[i], b.addr[i], b.stored[i], buf[t]);
        if (cst == SL_OK)
            cst = open_sealed(c, ctx[t], col, chunks[i], buf[t], b.stored[i], dst[i], b.len[i]);
        if (cst != SL_OK)
            batch_fail(&b, i, cst);
    }
    SL_CHECK(b.fail_at == n, b.fst, "%s", b.fmsg);
cleanup:
    if (st != SL_OK)
        for (int64_t i = 0; dst && dst_size && i < n; i++)
            if (dst[i])
                sl_wipe(dst[i], dst_size[i]);
    for (int t = 1; ctx && t < nt; t++)
        sl_aead_destroy(&ctx[t]);
    for (int t = 0; buf && t < nt; t++)
        sl_free(buf[t]);
    sl_free(ctx);
    sl_free(buf);
    sl_free(cap);
    sl_free(b.addr);
    sl_free(b.stored);
    sl_free(b.len);
    return st;
}

sl_status sl_cohort_verify(struct sl_cohort *c)
{
    sl_status st = SL_OK;
    struct sl_secbuf *buf = NULL;
    size_t cap = 0;

    SL_CHECK(c, SL_ERR_ARG, "no cohort given");
    SL_CHECK(c->aead, SL_ERR_ARG, "cohort %s is locked: unlock it with its key first", c->path);
    for (int j = 0; j < c->ncols; j++)
        if (c->rc[j].esize * (size_t)c->chunk_rows > cap)
            cap = c->rc[j].esize * (size_t)c->chunk_rows;
    SL_CALL(sl_secbuf_create(cap, &buf));
    for (int j = 0; j < c->ncols; j++)
        for (int64_t k = 0; k < c->nchunks; k++)
            SL_CALL(sl_cohort_read_chunk(c, j, k, buf->data, buf->size));
cleanup:
    sl_secbuf_destroy(&buf);
    return st;
}
