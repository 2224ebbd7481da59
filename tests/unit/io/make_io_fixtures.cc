// make_io_fixtures.cc: writes the committed io fixtures into a directory:
//   cohort_v1.kek          test key (committed; tests copy it and chmod 600)
//   cohort_v1.h5           a format-1 cohort with the values of fixture_values.hh
//   cohort_v2_future.h5    the same, stamped with format version 2
// Usage: sl_make_io_fixtures OUTDIR   (OUTDIR must not hold these files yet)
#include <hdf5.h>

#include <cstdio>
#include <string>
#include <vector>

#include "fixture_values.hh"

extern "C" {
#include "engine/core/status.h"
#include "io/cohort.h"
#include "io/format.h"
#include "io/keys.h"
}

namespace {

int fail(const char *what) {
    std::fprintf(stderr, "sl_make_io_fixtures: %s: %s\n", what, sl_error_message());
    return 1;
}

int write_cohort(const std::string &path, const sl_kek *kek) {
    using namespace slfixture;
    sl_colinfo cols[kCols] = {};
    const sl_coltype types[kCols] = {SL_COL_ID, SL_COL_INT, SL_COL_REAL, SL_COL_CAT, SL_COL_DATE};
    const sl_colclass classes[kCols] = {SL_CLASS_IDENTIFIER, SL_CLASS_QUASI, SL_CLASS_SENSITIVE,
                                        SL_CLASS_QUASI, SL_CLASS_SENSITIVE};
    for (int j = 0; j < kCols; j++) {
        cols[j].name = const_cast<char *>(kNames[j]);
        cols[j].type = types[j];
        cols[j].cls = classes[j];
        cols[j].lower = NAN;
        cols[j].upper = NAN;
    }
    cols[1].lower = 0;
    cols[1].upper = 120;
    cols[3].nlevels = 3;
    cols[3].levels = const_cast<char **>(kSexLevels);

    std::vector<unsigned char> pid(kRows * 32);
    std::vector<int64_t> ages(kRows);
    std::vector<double> bmis(kRows);
    std::vector<int32_t> sexes(kRows), dates(kRows);
    for (int64_t i = 0; i < kRows; i++) {
        for (int b = 0; b < 32; b++)
            pid[i * 32 + b] = pid_byte(i, b);
        ages[i] = age(i);
        bmis[i] = bmi(i);
        sexes[i] = sex(i);
        dates[i] = dx_date(i);
    }
    const void *ptrs[kCols] = {pid.data(), ages.data(), bmis.data(), sexes.data(), dates.data()};
    sl_cohort_writer *w = nullptr;
    if (sl_cohort_writer_create(path.c_str(), kek, cols, kCols, kChunkRows, &w) != SL_OK)
        return fail(path.c_str());
    int rc = sl_cohort_writer_append(w, kRows, ptrs) == SL_OK && sl_cohort_writer_finish(w) == SL_OK
                 ? 0
                 : fail(path.c_str());
    sl_cohort_writer_destroy(&w);
    return rc;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    std::string dir = argv[1];
    std::string kek_path = dir + "/cohort_v1.kek";
    std::string future = dir + "/cohort_v2_future.h5";
    if (sl_kek_generate_file(kek_path.c_str()) != SL_OK)
        return fail("key");
    sl_kek *kek = nullptr;
    if (sl_kek_load(kek_path.c_str(), &kek) != SL_OK)
        return fail("key");
    int rc = write_cohort(dir + "/cohort_v1.h5", kek);
    if (rc == 0)
        rc = write_cohort(future, kek);
    sl_kek_destroy(&kek);
    if (rc != 0)
        return rc;
    hid_t f = H5Fopen(future.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t a = f >= 0 ? H5Aopen(f, "sluice_format", H5P_DEFAULT) : -1;
    unsigned version = 2;
    rc = a >= 0 && H5Awrite(a, H5T_NATIVE_UINT, &version) >= 0 ? 0 : 1;
    if (a >= 0)
        H5Aclose(a);
    if (f >= 0)
        H5Fclose(f);
    if (rc != 0)
        std::fprintf(stderr, "sl_make_io_fixtures: cannot stamp %s as version 2\n", future.c_str());
    return rc;
}
