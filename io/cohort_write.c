/*
 * cohort_write.c: writing an encrypted cohort (layout in format.h).
 *
 * The writer is the only code that turns plaintext rows into a cohort file, so
 * it is built so that plaintext cannot reach the disk: rows are staged in
 * secret memory, every chunk goes through sl_aead_seal into a ciphertext
 * buffer, and only that buffer is handed to HDF5, with direct chunk I/O
 * (H5Dwrite_chunk). The datasets carry the mandatory sluice filter, whose
 * callback refuses to run, so even a stray H5Dwrite fails instead of storing
 * values. The file is built under a temporary name beside the target and only
 * linked into place when complete; an unfinished writer removes it.
 */
#include "io/cohort.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>
#include <openssl/rand.h>

#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "io/aead_impl.h"
#include "io/cohort_impl.h"
#include "io/format.h"
#include "io/h5_impl.h"
#include "io/ssl_impl.h"

struct sl_wcol {
    struct sl_colinfo info;     /* deep copy of the caller's description */
    char *dset_path;            /* "/patients/<name>" */
    hid_t dset;
    size_t esize;               /* bytes per element */
    struct sl_secbuf *stage;    /* secret: rows of the chunk being filled */
    int32_t code_max;           /* categorical: largest code appended, -1 if none */
};

struct sl_cohort_writer {
    char *path;
    char *tmp_path;
    hid_t file;
    hid_t group;
    int ncols;
    struct sl_wcol *cols;
    int64_t chunk_rows;
    int64_t nchunks;            /* chunks sealed and written */
    int64_t fill;               /* rows staged for chunk nchunks */
    int64_t last_rows;          /* rows in the last chunk written */
    unsigned char *sealed;      /* ciphertext of one chunk (not secret) */
    struct sl_aead *aead;
    unsigned char uuid[16];
    char uuid_hex[33];
    char kek_id[17];
    unsigned char wrapped[SL_WRAPPED_KEY_BYTES];
    int tmp_created;            /* the temporary file exists and is ours */
    int finished;
    int broken;                 /* an earlier call failed: only destroy is allowed */
};

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static void h5_close_quiet(hid_t *id, herr_t (*close_fn)(hid_t))
{
    if (*id >= 0)
        (void)close_fn(*id);
    *id = H5I_INVALID_HID;
}

/* ---- attributes ---- */

static sl_status attr_put(hid_t obj, const char *name, hid_t ftype, hid_t mtype,
                          const void *value, const char *where)
{
    sl_status st = SL_OK;
    hid_t space = H5I_INVALID_HID;
    hid_t attr = H5I_INVALID_HID;

    SL_CALL_H5(space = H5Screate(H5S_SCALAR), "cannot create a dataspace");
    SL_CALL_H5(attr = H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT),
               "%s: cannot create attribute %s", where, name);
    SL_CALL_H5(H5Awrite(attr, mtype, value), "%s: cannot write attribute %s", where, name);
cleanup:
    h5_close_quiet(&attr, H5Aclose);
    h5_close_quiet(&space, H5Sclose);
    return st;
}

static sl_status attr_put_string(hid_t obj, const char *name, const char *value,
                                 const char *where)
{
    sl_status st = SL_OK;
    hid_t type = H5I_INVALID_HID;

    SL_CALL_H5(type = H5Tcopy(H5T_C_S1), "cannot create a string type");
    SL_CALL_H5(H5Tset_size(type, strlen(value) + 1), "cannot size a string type");
    SL_CALL_H5(H5Tset_strpad(type, H5T_STR_NULLTERM), "cannot set string padding");
    SL_CALL_H5(H5Tset_cset(type, H5T_CSET_UTF8), "cannot set string encoding");
    SL_CALL(attr_put(obj, name, type, type, value, where));
cleanup:
    h5_close_quiet(&type, H5Tclose);
    return st;
}

static sl_status attr_put_levels(hid_t obj, const struct sl_colinfo *ci, const char *where)
{
    sl_status st = SL_OK;
    hid_t type = H5I_INVALID_HID;
    hid_t space = H5I_INVALID_HID;
    hid_t attr = H5I_INVALID_HID;
    hsize_t n = (hsize_t)ci->nlevels;

    SL_CALL_H5(type = H5Tcopy(H5T_C_S1), "cannot create a string type");
    SL_CALL_H5(H5Tset_size(type, H5T_VARIABLE), "cannot size a string type");
    SL_CALL_H5(H5Tset_cset(type, H5T_CSET_UTF8), "cannot set string encoding");
    SL_CALL_H5(space = H5Screate_simple(1, &n, NULL), "cannot create a dataspace");
    SL_CALL_H5(attr = H5Acreate2(obj, SL_ATTR_LEVELS, type, space, H5P_DEFAULT, H5P_DEFAULT),
               "%s: cannot create attribute %s", where, SL_ATTR_LEVELS);
    SL_CALL_H5(H5Awrite(attr, type, ci->levels), "%s: cannot write attribute %s", where,
               SL_ATTR_LEVELS);
cleanup:
    h5_close_quiet(&attr, H5Aclose);
    h5_close_quiet(&space, H5Sclose);
    h5_close_quiet(&type, H5Tclose);
    return st;
}

/* ---- column descriptions ---- */

static sl_status levels_copy(struct sl_colinfo *dst, int32_t n, const char *const *levels,
                             const char *colname)
{
    sl_status st = SL_OK;
    char **copy = NULL;
    int32_t i = 0;

    SL_CHECK(n >= 0, SL_ERR_ARG, "column %s: negative number of category levels", colname);
    SL_CHECK(n == 0 || levels, SL_ERR_ARG, "column %s: %d category levels but no labels",
             colname, (int)n);
    copy = sl_calloc((size_t)n, sizeof *copy);
    SL_CHECK(copy, SL_ERR_NOMEM, "out of memory");
    for (i = 0; i < n; i++) {
        SL_CHECK(levels[i], SL_ERR_ARG, "column %s: category level %d has no label", colname,
                 (int)i);
        copy[i] = sl_strdup(levels[i]);
        SL_CHECK(copy[i], SL_ERR_NOMEM, "out of memory");
    }
    for (int32_t k = 0; k < dst->nlevels; k++)
        sl_free(dst->levels[k]);
    sl_free(dst->levels);
    dst->levels = copy;
    dst->nlevels = n;
    copy = NULL;
cleanup:
    if (copy) {
        for (int32_t k = 0; k < i; k++)
            sl_free(copy[k]);
        sl_free(copy);
    }
    return st;
}

static sl_status colinfo_copy(struct sl_colinfo *dst, const struct sl_colinfo *src)
{
    sl_status st = SL_OK;

    SL_CHECK(src->name && sl_colname_valid(src->name), SL_ERR_ARG,
             "invalid column name '%s': a column name has 1 to %d bytes, no '/' and no control "
             "characters",
             src->name ? src->name : "", SL_COL_NAME_MAX);
    SL_CHECK(sl_coltype_size(src->type) > 0, SL_ERR_ARG, "column %s: unknown column type %d",
             src->name, (int)src->type);
    SL_CHECK(src->cls >= SL_CLASS_IDENTIFIER && src->cls <= SL_CLASS_OTHER, SL_ERR_ARG,
             "column %s: unknown sensitivity class %d", src->name, (int)src->cls);
    SL_CHECK(src->type == SL_COL_CAT || src->nlevels == 0, SL_ERR_ARG,
             "column %s: category levels are only allowed on categorical columns", src->name);
    dst->name = sl_strdup(src->name);
    SL_CHECK(dst->name, SL_ERR_NOMEM, "out of memory");
    dst->type = src->type;
    dst->cls = src->cls;
    dst->lower = src->lower;
    dst->upper = src->upper;
    SL_CALL(levels_copy(dst, src->nlevels, (const char *const *)src->levels, src->name));
cleanup:
    return st;
}

/* ---- datasets ---- */

static sl_status dtype_create(enum sl_coltype type, hid_t *out)
{
    sl_status st = SL_OK;
    hid_t t = H5I_INVALID_HID;

    switch (type) {
    case SL_COL_ID:
        SL_CALL_H5(t = H5Tcreate(H5T_OPAQUE, SL_ID_BYTES), "cannot create an opaque type");
        SL_CALL_H5(H5Tset_tag(t, SL_OPAQUE_TAG_ID), "cannot tag an opaque type");
        break;
    case SL_COL_INT: SL_CALL_H5(t = H5Tcopy(H5T_STD_I64LE), "cannot copy a type"); break;
    case SL_COL_REAL: SL_CALL_H5(t = H5Tcopy(H5T_IEEE_F64LE), "cannot copy a type"); break;
    case SL_COL_CAT:
    case SL_COL_DATE: SL_CALL_H5(t = H5Tcopy(H5T_STD_I32LE), "cannot copy a type"); break;
    }
    SL_CHECK(t >= 0, SL_ERR_INTERNAL, "no HDF5 type for column type %d", (int)type);
    *out = t;
    t = H5I_INVALID_HID;
cleanup:
    h5_close_quiet(&t, H5Tclose);
    return st;
}

static sl_status column_create(struct sl_cohort_writer *w, int j)
{
    sl_status st = SL_OK;
    struct sl_wcol *c = &w->cols[j];
    hid_t type = H5I_INVALID_HID;
    hid_t space = H5I_INVALID_HID;
    hid_t dcpl = H5I_INVALID_HID;
    hsize_t dims = 0;
    hsize_t maxdims = H5S_UNLIMITED;
    hsize_t chunk = (hsize_t)w->chunk_rows;
    int32_t index = j;
    size_t plen = strlen(SL_TABLE_PATIENTS) + 1 + strlen(c->info.name) + 1;

    c->dset_path = sl_malloc(plen);
    SL_CHECK(c->dset_path, SL_ERR_NOMEM, "out of memory");
    snprintf(c->dset_path, plen, "%s/%s", SL_TABLE_PATIENTS, c->info.name);
    c->esize = sl_coltype_size(c->info.type);
    c->code_max = -1;
    SL_CALL(sl_secbuf_create(c->esize * (size_t)w->chunk_rows, &c->stage));
    SL_CALL(dtype_create(c->info.type, &type));
    SL_CALL_H5(space = H5Screate_simple(1, &dims, &maxdims), "cannot create a dataspace");
    SL_CALL_H5(dcpl = H5Pcreate(H5P_DATASET_CREATE), "cannot create a property list");
    SL_CALL_H5(H5Pset_chunk(dcpl, 1, &chunk), "cannot set the chunk size");
    SL_CALL(sl_h5_filter_add(dcpl));
    SL_CALL_H5(H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_INCR), "cannot set the allocation time");
    SL_CALL_H5(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), "cannot set the fill time");
    SL_CALL_H5(c->dset = H5Dcreate2(w->file, c->dset_path, type, space, H5P_DEFAULT, dcpl,
                                    H5P_DEFAULT),
               "%s: cannot create dataset %s", w->tmp_path, c->dset_path);
    SL_CALL(attr_put_string(c->dset, SL_ATTR_TYPE, sl_coltype_name(c->info.type), c->dset_path));
    SL_CALL(attr_put_string(c->dset, SL_ATTR_CLASS, sl_colclass_name(c->info.cls),
                            c->dset_path));
    SL_CALL(attr_put(c->dset, SL_ATTR_INDEX, H5T_STD_I32LE, H5T_NATIVE_INT32, &index,
                     c->dset_path));
    if (!isnan(c->info.lower))
        SL_CALL(attr_put(c->dset, SL_ATTR_LOWER, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                         &c->info.lower, c->dset_path));
    if (!isnan(c->info.upper))
        SL_CALL(attr_put(c->dset, SL_ATTR_UPPER, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                         &c->info.upper, c->dset_path));
cleanup:
    h5_close_quiet(&dcpl, H5Pclose);
    h5_close_quiet(&space, H5Sclose);
    h5_close_quiet(&type, H5Tclose);
    return st;
}

/* ---- create ---- */

static sl_status tmp_path_make(const char *path, char **out)
{
    sl_status st = SL_OK;
    unsigned char rnd[8];
    char hex[17];
    size_t n = strlen(path) + sizeof ".tmp-" + sizeof hex;
    char *p = NULL;

    SL_CALL_SSL(RAND_bytes(rnd, sizeof rnd), SL_ERR_CRYPTO, "cannot draw random bytes");
    hex_encode(rnd, sizeof rnd, hex);
    p = sl_malloc(n);
    SL_CHECK(p, SL_ERR_NOMEM, "out of memory");
    snprintf(p, n, "%s.tmp-%s", path, hex);
    *out = p;
    p = NULL;
cleanup:
    sl_free(p);
    return st;
}

static sl_status writer_check_args(const char *path, const struct sl_kek *kek,
                                   const struct sl_colinfo *cols, int ncols, int64_t chunk_rows)
{
    sl_status st = SL_OK;
    struct stat sb;

    SL_CHECK(path && path[0], SL_ERR_ARG, "no cohort path given");
    SL_CHECK(kek, SL_ERR_ARG, "%s: no key given", path);
    SL_CHECK(cols && ncols > 0 && ncols <= SL_COLS_MAX, SL_ERR_ARG,
             "%s: a cohort needs 1 to %d columns, got %d", path, SL_COLS_MAX, ncols);
    SL_CHECK(chunk_rows <= SL_MAX_CHUNK_ROWS, SL_ERR_ARG,
             "%s: %lld rows per chunk is more than the maximum %d", path, (long long)chunk_rows,
             SL_MAX_CHUNK_ROWS);
    for (int i = 0; i < ncols; i++)
        for (int k = 0; k < i; k++)
            SL_CHECK(!cols[i].name || !cols[k].name || strcmp(cols[i].name, cols[k].name) != 0,
                     SL_ERR_ARG, "%s: column name %s is used twice", path, cols[i].name);
    SL_CHECK(lstat(path, &sb) != 0, SL_ERR_EXISTS,
             "cohort %s already exists; sluice never overwrites a cohort", path);
cleanup:
    return st;
}

sl_status sl_cohort_writer_create(const char *path, const struct sl_kek *kek,
                                  const struct sl_colinfo *cols, int ncols, int64_t chunk_rows,
                                  struct sl_cohort_writer **out)
{
    sl_status st = SL_OK;
    struct sl_cohort_writer *w = NULL;
    unsigned char dek[SL_KEY_BYTES];
    hid_t fapl = H5I_INVALID_HID;
    size_t esize_max = 0;

    *out = NULL;
    SL_CALL(sl_h5_init());
    SL_CALL(writer_check_args(path, kek, cols, ncols, chunk_rows));
    w = sl_calloc(1, sizeof *w);
    SL_CHECK(w, SL_ERR_NOMEM, "out of memory");
    w->file = H5I_INVALID_HID;
    w->group = H5I_INVALID_HID;
    w->chunk_rows = chunk_rows > 0 ? chunk_rows : SL_DEFAULT_CHUNK_ROWS;
    w->cols = sl_calloc((size_t)ncols, sizeof *w->cols);
    SL_CHECK(w->cols, SL_ERR_NOMEM, "out of memory");
    w->ncols = ncols;
    for (int j = 0; j < ncols; j++)
        w->cols[j].dset = H5I_INVALID_HID;
    for (int j = 0; j < ncols; j++) {
        SL_CALL(colinfo_copy(&w->cols[j].info, &cols[j]));
        if (sl_coltype_size(cols[j].type) > esize_max)
            esize_max = sl_coltype_size(cols[j].type);
    }
    w->path = sl_strdup(path);
    SL_CHECK(w->path, SL_ERR_NOMEM, "out of memory");
    SL_CALL(tmp_path_make(path, &w->tmp_path));
    w->sealed = sl_malloc((size_t)w->chunk_rows * esize_max + SL_GCM_TAG_BYTES);
    SL_CHECK(w->sealed, SL_ERR_NOMEM, "out of memory");

    SL_CALL_SSL(RAND_priv_bytes(dek, sizeof dek), SL_ERR_CRYPTO,
                "cannot draw a data key for %s", path);
    SL_CALL(sl_kek_wrap(kek, dek, w->wrapped));
    SL_CALL(sl_aead_create(dek, &w->aead));
    snprintf(w->kek_id, sizeof w->kek_id, "%s", sl_kek_id(kek));
    SL_CALL_SSL(RAND_bytes(w->uuid, sizeof w->uuid), SL_ERR_CRYPTO,
                "cannot draw a UUID for %s", path);
    w->uuid[6] = (unsigned char)((w->uuid[6] & 0x0f) | 0x40);
    w->uuid[8] = (unsigned char)((w->uuid[8] & 0x3f) | 0x80);
    hex_encode(w->uuid, sizeof w->uuid, w->uuid_hex);

    SL_CALL_H5(fapl = H5Pcreate(H5P_FILE_ACCESS), "cannot create a property list");
    SL_CALL_H5(H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V110),
               "cannot set the HDF5 format bounds");
    SL_CALL_H5(w->file = H5Fcreate(w->tmp_path, H5F_ACC_EXCL, H5P_DEFAULT, fapl),
               "cannot create %s", w->tmp_path);
    w->tmp_created = 1;
    SL_CALL_H5(w->group = H5Gcreate2(w->file, SL_TABLE_PATIENTS, H5P_DEFAULT, H5P_DEFAULT,
                                     H5P_DEFAULT),
               "%s: cannot create group %s", w->tmp_path, SL_TABLE_PATIENTS);
    for (int j = 0; j < ncols; j++)
        SL_CALL(column_create(w, j));
    *out = w;
    w = NULL;
cleanup:
    sl_wipe(dek, sizeof dek);
    h5_close_quiet(&fapl, H5Pclose);
    sl_cohort_writer_destroy(&w);
    return st;
}

sl_status sl_cohort_writer_set_levels(struct sl_cohort_writer *w, int col, int32_t nlevels,
                                      const char *const *levels)
{
    sl_status st = SL_OK;

    SL_CHECK(w && !w->finished && !w->broken, SL_ERR_ARG,
             "cohort writer is finished or failed earlier");
    SL_CHECK(col >= 0 && col < w->ncols, SL_ERR_ARG, "%s: no column %d", w->path, col);
    SL_CHECK(w->cols[col].info.type == SL_COL_CAT, SL_ERR_ARG,
             "%s: column %s is not categorical", w->path, w->cols[col].info.name);
    SL_CALL(levels_copy(&w->cols[col].info, nlevels, levels, w->cols[col].info.name));
cleanup:
    return st;
}

/* ---- appending ---- */

/* Seals `rows` rows of every column, taking column j from src[j] + first row
 * `row0`, as chunk w->nchunks, and writes them. */
static sl_status chunk_seal_write(struct sl_cohort_writer *w, const void *const *src,
                                  int64_t row0, int64_t rows)
{
    sl_status st = SL_OK;
    hsize_t offset = (hsize_t)w->nchunks * (hsize_t)w->chunk_rows;
    hsize_t extent = offset + (hsize_t)rows;

    for (int j = 0; j < w->ncols; j++) {
        struct sl_wcol *c = &w->cols[j];
        size_t len = (size_t)rows * c->esize;
        struct sl_chunk_ref ref = {SL_FORMAT_VERSION, w->uuid,          c->dset_path,
                                   (uint32_t)j,       (uint64_t)w->nchunks, w->tmp_path};
        const unsigned char *p = (const unsigned char *)src[j] + (size_t)row0 * c->esize;

        SL_CALL(sl_aead_seal(w->aead, &ref, p, len, w->sealed));
        SL_CALL_H5(H5Dset_extent(c->dset, &extent), "%s: cannot extend dataset %s to %llu rows",
                   w->tmp_path, c->dset_path, (unsigned long long)extent);
        SL_CALL_H5(H5Dwrite_chunk(c->dset, H5P_DEFAULT, 0, &offset, len + SL_GCM_TAG_BYTES,
                                  w->sealed),
                   "%s: cannot write dataset %s chunk %lld", w->tmp_path, c->dset_path,
                   (long long)w->nchunks);
    }
    w->nchunks++;
    w->last_rows = rows;
cleanup:
    return st;
}

/* Seals the w->fill staged rows as the next chunk. */
static sl_status chunk_seal_write_stage(struct sl_cohort_writer *w)
{
    sl_status st = SL_OK;
    const void **src = sl_malloc((size_t)w->ncols * sizeof *src);

    SL_CHECK(src, SL_ERR_NOMEM, "out of memory");
    for (int j = 0; j < w->ncols; j++)
        src[j] = w->cols[j].stage->data;
    SL_CALL(chunk_seal_write(w, src, 0, w->fill));
    w->fill = 0;
cleanup:
    sl_free(src);
    return st;
}

/* Checks categorical codes of the incoming rows and remembers the largest. */
static sl_status codes_check(struct sl_cohort_writer *w, int64_t nrows, const void *const *columns)
{
    sl_status st = SL_OK;

    for (int j = 0; j < w->ncols; j++) {
        struct sl_wcol *c = &w->cols[j];
        const int32_t *v = columns[j];
        int32_t hi = c->code_max;
        int bad = 0;
        if (c->info.type != SL_COL_CAT)
            continue;
        for (int64_t i = 0; i < nrows; i++) {
            bad |= v[i] < SL_CAT_MISSING;
            hi = v[i] > hi ? v[i] : hi;
        }
        SL_CHECK(!bad, SL_ERR_ARG,
                 "%s: column %s: category codes must be 0 or more, or SL_CAT_MISSING (-1)",
                 w->path, c->info.name);
        c->code_max = hi;
    }
cleanup:
    return st;
}

sl_status sl_cohort_writer_append(struct sl_cohort_writer *w, int64_t nrows,
                                  const void *const *columns)
{
    sl_status st = SL_OK;
    int64_t pos = 0;

    SL_CHECK(w && !w->finished && !w->broken, SL_ERR_ARG,
             "cohort writer is finished or failed earlier");
    SL_CHECK(nrows >= 0, SL_ERR_ARG, "%s: negative row count", w->path);
    if (nrows == 0)
        goto cleanup;
    SL_CHECK(columns, SL_ERR_ARG, "%s: no column data given", w->path);
    for (int j = 0; j < w->ncols; j++)
        SL_CHECK(columns[j], SL_ERR_ARG, "%s: no data given for column %s", w->path,
                 w->cols[j].info.name);
    SL_CALL(codes_check(w, nrows, columns));
    while (pos < nrows) {
        int64_t take;
        if (w->fill == 0 && nrows - pos >= w->chunk_rows) {
            SL_CALL(chunk_seal_write(w, columns, pos, w->chunk_rows));
            pos += w->chunk_rows;
            continue;
        }
        take = w->chunk_rows - w->fill;
        if (take > nrows - pos)
            take = nrows - pos;
        for (int j = 0; j < w->ncols; j++) {
            struct sl_wcol *c = &w->cols[j];
            memcpy((unsigned char *)c->stage->data + (size_t)w->fill * c->esize,
                   (const unsigned char *)columns[j] + (size_t)pos * c->esize,
                   (size_t)take * c->esize);
        }
        w->fill += take;
        pos += take;
        if (w->fill == w->chunk_rows) {
            SL_CALL(chunk_seal_write_stage(w));
        }
    }
cleanup:
    if (st != SL_OK && w)
        w->broken = 1;
    return st;
}

/* ---- finishing ---- */

static sl_status root_attrs_write(struct sl_cohort_writer *w)
{
    sl_status st = SL_OK;
    hid_t dek_type = H5I_INVALID_HID;
    uint32_t version = SL_FORMAT_VERSION;
    int64_t rows = w->nchunks == 0 ? 0 : (w->nchunks - 1) * w->chunk_rows + w->last_rows;
    char created[32];
    time_t now = time(NULL);
    struct tm tm;

    SL_CHECK(gmtime_r(&now, &tm) && strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm),
             SL_ERR_INTERNAL, "cannot format the current time");
    SL_CALL_H5(dek_type = H5Tcreate(H5T_OPAQUE, SL_WRAPPED_KEY_BYTES),
               "cannot create an opaque type");
    SL_CALL_H5(H5Tset_tag(dek_type, SL_OPAQUE_TAG_DEK), "cannot tag an opaque type");
    SL_CALL(attr_put(w->file, SL_ATTR_FORMAT, H5T_STD_U32LE, H5T_NATIVE_UINT32, &version, "/"));
    SL_CALL(attr_put_string(w->file, SL_ATTR_UUID, w->uuid_hex, "/"));
    SL_CALL(attr_put(w->file, SL_ATTR_ROWS, H5T_STD_I64LE, H5T_NATIVE_INT64, &rows, "/"));
    SL_CALL(attr_put(w->file, SL_ATTR_CHUNK_ROWS, H5T_STD_I64LE, H5T_NATIVE_INT64,
                     &w->chunk_rows, "/"));
    SL_CALL(attr_put_string(w->file, SL_ATTR_KEK_ID, w->kek_id, "/"));
    SL_CALL(attr_put(w->file, SL_ATTR_WRAPPED_DEK, dek_type, dek_type, w->wrapped, "/"));
    SL_CALL(attr_put_string(w->file, SL_ATTR_CREATED, created, "/"));
cleanup:
    h5_close_quiet(&dek_type, H5Tclose);
    return st;
}

/* Closes every HDF5 handle of the writer, reporting the first failure. */
static sl_status writer_close_h5(struct sl_cohort_writer *w)
{
    sl_status st = SL_OK;

    for (int j = 0; j < w->ncols; j++) {
        hid_t d = w->cols[j].dset;
        w->cols[j].dset = H5I_INVALID_HID;
        if (d >= 0)
            SL_CALL_H5(H5Dclose(d), "%s: cannot close dataset %s", w->tmp_path,
                       w->cols[j].dset_path);
    }
    if (w->group >= 0) {
        hid_t g = w->group;
        w->group = H5I_INVALID_HID;
        SL_CALL_H5(H5Gclose(g), "%s: cannot close group %s", w->tmp_path, SL_TABLE_PATIENTS);
    }
    if (w->file >= 0) {
        hid_t f = w->file;
        w->file = H5I_INVALID_HID;
        SL_CALL_H5(H5Fclose(f), "cannot close %s", w->tmp_path);
    }
cleanup:
    return st;
}

static sl_status fsync_path(const char *path, int directory)
{
    sl_status st = SL_OK;
    int fd = open(path, (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);

    SL_CHECK(fd >= 0, SL_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    SL_CHECK(fsync(fd) == 0, SL_ERR_IO, "cannot sync %s: %s", path, strerror(errno));
cleanup:
    if (fd >= 0)
        (void)close(fd);
    return st;
}

/* Links the finished temporary file to its final name (never replacing an
 * existing file), removes the temporary name and syncs the directory. */
static sl_status publish(struct sl_cohort_writer *w)
{
    sl_status st = SL_OK;
    char *dir = NULL;
    char *slash;

    SL_CALL(fsync_path(w->tmp_path, 0));
    if (link(w->tmp_path, w->path) != 0) {
        SL_CHECK(errno != EEXIST, SL_ERR_EXISTS,
                 "cohort %s appeared while it was being written; sluice never overwrites a "
                 "cohort (the new data were discarded)",
                 w->path);
        SL_FAIL(SL_ERR_IO, "cannot move %s into place as %s: %s", w->tmp_path, w->path,
                strerror(errno));
    }
    w->finished = 1;
    (void)unlink(w->tmp_path);
    dir = sl_strdup(w->path);
    SL_CHECK(dir, SL_ERR_NOMEM, "out of memory");
    slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, strlen(dir) + 1, ".");
    else if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    SL_CALL(fsync_path(dir, 1));
cleanup:
    sl_free(dir);
    return st;
}

sl_status sl_cohort_writer_finish(struct sl_cohort_writer *w)
{
    sl_status st = SL_OK;

    SL_CHECK(w && !w->finished && !w->broken, SL_ERR_ARG,
             "cohort writer is finished or failed earlier");
    if (w->fill > 0)
        SL_CALL(chunk_seal_write_stage(w));
    for (int j = 0; j < w->ncols; j++) {
        struct sl_wcol *c = &w->cols[j];
        if (c->info.type != SL_COL_CAT)
            continue;
        SL_CHECK(c->code_max < c->info.nlevels, SL_ERR_ARG,
                 "%s: column %s holds category codes beyond its %d levels", w->path,
                 c->info.name, (int)c->info.nlevels);
        if (c->info.nlevels > 0)
            SL_CALL(attr_put_levels(c->dset, &c->info, c->dset_path));
    }
    SL_CALL(root_attrs_write(w));
    SL_CALL(writer_close_h5(w));
    SL_CALL(publish(w));
cleanup:
    if (st != SL_OK && w)
        w->broken = 1;
    return st;
}

void sl_cohort_writer_destroy(struct sl_cohort_writer **wp)
{
    struct sl_cohort_writer *w;

    if (!wp || !*wp)
        return;
    w = *wp;
    if (w->cols) {
        for (int j = 0; j < w->ncols; j++) {
            h5_close_quiet(&w->cols[j].dset, H5Dclose);
            sl_secbuf_destroy(&w->cols[j].stage);
            sl_colinfo_clear(&w->cols[j].info);
            sl_free(w->cols[j].dset_path);
        }
    }
    h5_close_quiet(&w->group, H5Gclose);
    h5_close_quiet(&w->file, H5Fclose);
    if (!w->finished && w->tmp_created)
        (void)unlink(w->tmp_path);
    sl_aead_destroy(&w->aead);
    sl_free(w->sealed);
    sl_free(w->cols);
    sl_free(w->tmp_path);
    sl_free(w->path);
    sl_wipe(w, sizeof *w);
    sl_free(w);
    *wp = NULL;
}
