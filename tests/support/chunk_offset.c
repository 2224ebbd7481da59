/*
 * chunk_offset.c: test tool printing the file offset of one stored chunk
 * of a dataset, so tamper tests can flip bytes inside real ciphertext.
 *
 *   sluice-chunk-offset FILE DATASET CHUNK_INDEX
 */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    hid_t file, dset, space;
    hsize_t index, offset[1] = {0}, size = 0, nchunks = 0;
    haddr_t addr = 0;
    unsigned mask = 0;
    int rc = 1;

    if (argc != 4) {
        fprintf(stderr, "usage: %s FILE DATASET CHUNK_INDEX\n", argv[0]);
        return 2;
    }
    index = (hsize_t)strtoull(argv[3], NULL, 10);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    file = H5Fopen(argv[1], H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) {
        fprintf(stderr, "%s: cannot open\n", argv[1]);
        return 1;
    }
    dset = H5Dopen2(file, argv[2], H5P_DEFAULT);
    space = dset >= 0 ? H5Dget_space(dset) : -1;
    if (space >= 0 && H5Dget_num_chunks(dset, space, &nchunks) >= 0 && index < nchunks &&
        H5Dget_chunk_info(dset, space, index, offset, &mask, &addr, &size) >= 0) {
        printf("%llu\n", (unsigned long long)addr);
        rc = 0;
    } else {
        fprintf(stderr, "%s: no chunk %llu in %s\n", argv[1], (unsigned long long)index, argv[2]);
    }
    if (space >= 0)
        H5Sclose(space);
    if (dset >= 0)
        H5Dclose(dset);
    H5Fclose(file);
    return rc;
}
