/*
 * h5filter.c: the sluice filter entry in HDF5's pipeline (SL_FILTER_ID).
 *
 * sluice seals every chunk itself and writes it with direct chunk I/O
 * (H5Dwrite_chunk), which bypasses the pipeline; it reads the sealed bytes
 * where HDF5 says the chunk is (H5Dget_chunk_info_by_coord, then pread). The filter
 * entry exists so that every other path fails: its callback refuses to run,
 * so an ordinary H5Dwrite cannot store plaintext and an ordinary H5Dread
 * cannot return ciphertext as if it were data; and because the filter is
 * mandatory, HDF5 tools without sluice report "filter not available" instead
 * of printing sealed bytes. The filter's client value stamps the format
 * version into each dataset's pipeline.
 */
#include <hdf5.h>

#include "io/format.h"
#include "io/h5_impl.h"

static size_t sl_h5_filter_refuse(unsigned int flags, size_t cd_nelmts,
                                  const unsigned int cd_values[], size_t nbytes, size_t *buf_size,
                                  void **buf)
{
    (void)flags;
    (void)cd_nelmts;
    (void)cd_values;
    (void)nbytes;
    (void)buf_size;
    (void)buf;
    H5Epush2(H5E_DEFAULT, __FILE__, __func__, __LINE__, H5E_ERR_CLS, H5E_PLINE, H5E_CANTFILTER,
             "sluice-encrypted values can only be read or written by sluice with the cohort's key");
    return 0;
}

static const H5Z_class2_t sl_h5_filter_class = {
    H5Z_CLASS_T_VERS,         /* version of this struct */
    (H5Z_filter_t)SL_FILTER_ID,
    1,                        /* encoder present: dataset creation accepts the filter */
    1,                        /* decoder present */
    "sluice AES-256-GCM (sealed chunks; readable only through sluice)",
    NULL,                     /* can_apply */
    NULL,                     /* set_local */
    sl_h5_filter_refuse,
};

sl_status sl_h5_init(void)
{
    sl_status st = SL_OK;
    htri_t avail;

    SL_CALL_H5(H5Eset_auto2(H5E_DEFAULT, NULL, NULL), "cannot silence the HDF5 error printer");
    SL_CALL_H5(avail = H5Zfilter_avail((H5Z_filter_t)SL_FILTER_ID),
               "cannot query the HDF5 filter registry");
    if (!avail)
        SL_CALL_H5(H5Zregister(&sl_h5_filter_class), "cannot register the sluice HDF5 filter %d",
                   SL_FILTER_ID);
cleanup:
    return st;
}

sl_status sl_h5_filter_add(hid_t dcpl)
{
    sl_status st = SL_OK;
    const unsigned int cd[1] = {SL_FORMAT_VERSION};

    SL_CALL_H5(H5Pset_filter(dcpl, (H5Z_filter_t)SL_FILTER_ID, H5Z_FLAG_MANDATORY, 1, cd),
               "cannot add the sluice filter to a dataset pipeline");
cleanup:
    return st;
}

int sl_h5_filter_present(hid_t dcpl)
{
    unsigned int flags = 0;
    size_t ncd = 0;
    unsigned int config = 0;

    if (H5Pget_filter_by_id2(dcpl, (H5Z_filter_t)SL_FILTER_ID, &flags, &ncd, NULL, 0, NULL,
                             &config) < 0) {
        (void)H5Eclear2(H5E_DEFAULT);
        return 0;
    }
    return (flags & H5Z_FLAG_OPTIONAL) == 0;
}
