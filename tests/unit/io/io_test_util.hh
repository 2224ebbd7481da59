// io_test_util.hh: shared helpers for the io unit tests: temporary
// directories, owning handles for the C objects, a leak-checking test base,
// a generated test cohort with known values, and raw file helpers used to
// tamper with cohorts on disk.
#pragma once

#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

extern "C" {
#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "engine/core/status.h"
#include "io/cohort.h"
#include "io/format.h"
#include "io/frame.h"
#include "io/keys.h"
}

namespace sltest {

struct KekDel { void operator()(sl_kek *k) const { sl_kek_destroy(&k); } };
struct CohortDel { void operator()(sl_cohort *c) const { sl_cohort_close(&c); } };
struct WriterDel { void operator()(sl_cohort_writer *w) const { sl_cohort_writer_destroy(&w); } };
struct FrameDel { void operator()(sl_frame *f) const { sl_frame_destroy(&f); } };
using Kek = std::unique_ptr<sl_kek, KekDel>;
using Cohort = std::unique_ptr<sl_cohort, CohortDel>;
using Writer = std::unique_ptr<sl_cohort_writer, WriterDel>;
using Frame = std::unique_ptr<sl_frame, FrameDel>;

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
public:
    TempDir() {
        const char *base = std::getenv("TMPDIR");
        std::string tmpl = std::string(base && base[0] ? base : "/tmp") + "/sl-io-test-XXXXXX";
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        if (!mkdtemp(buf.data()))
            throw std::runtime_error("mkdtemp failed");
        path_ = buf.data();
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    std::string file(const std::string &name) const { return path_ + "/" + name; }
    const std::string &path() const { return path_; }
    std::vector<std::string> list() const {
        std::vector<std::string> names;
        for (auto &e : std::filesystem::directory_iterator(path_))
            names.push_back(e.path().filename().string());
        return names;
    }

private:
    std::string path_;
};

inline std::string last_error() { return sl_error_message(); }

// Test base: checks that every counted allocation and secret buffer made
// during the test was released.
class IoTest : public ::testing::Test {
protected:
    void SetUp() override {
        alloc0_ = sl_alloc_live();
        secbuf0_ = sl_secbuf_live();
    }
    void TearDown() override {
        EXPECT_EQ(sl_alloc_live(), alloc0_) << "sl_malloc allocations leaked";
        EXPECT_EQ(sl_secbuf_live(), secbuf0_) << "secret buffers leaked";
    }
    TempDir dir_;

private:
    int64_t alloc0_ = 0;
    long secbuf0_ = 0;
};

inline Kek make_kek(const std::string &path) {
    EXPECT_EQ(sl_kek_generate_file(path.c_str()), SL_OK) << last_error();
    sl_kek *k = nullptr;
    EXPECT_EQ(sl_kek_load(path.c_str(), &k), SL_OK) << last_error();
    return Kek(k);
}

// Column values of a test cohort, in the in-memory layout of format.h.
struct Table {
    int64_t rows = 0;
    std::vector<unsigned char> id;   // rows * 32
    std::vector<int64_t> age;
    std::vector<double> bmi;
    std::vector<int32_t> sex;        // codes into kSexLevels
    std::vector<int32_t> dx;         // days since 1970-01-01
    std::vector<int32_t> ward;       // codes into `wards` levels
    std::vector<std::string> ward_levels;

    const void *column(int j) const {
        switch (j) {
        case 0: return id.data();
        case 1: return age.data();
        case 2: return bmi.data();
        case 3: return sex.data();
        case 4: return dx.data();
        default: return ward.data();
        }
    }
    // Bytes of column j, rows [r0, r0 + n).
    std::vector<unsigned char> bytes(int j, int64_t r0, int64_t n) const {
        size_t es = element_size(j);
        const unsigned char *p = static_cast<const unsigned char *>(column(j));
        return std::vector<unsigned char>(p + r0 * es, p + (r0 + n) * es);
    }
    static size_t element_size(int j) {
        static const size_t sizes[] = {32, 8, 8, 4, 4, 4};
        return sizes[j];
    }
};

inline const char *const kSexLevels[] = {"F", "M", "X"};
inline const char *const kColNames[] = {"pid", "age", "bmi", "sex", "dx_date", "ward"};
constexpr int kNumCols = 6;

// A small deterministic generator (splitmix64) so tables are reproducible.
inline uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// Values are distinctive (high-entropy bit patterns) so a byte scan of the
// file can tell plaintext from chance; every column has missing values.
inline Table make_table(int64_t rows, uint64_t seed) {
    Table t;
    t.rows = rows;
    t.id.resize(static_cast<size_t>(rows) * 32);
    for (int k = 0; k < 200; k++)
        t.ward_levels.push_back("ward-" + std::to_string(k));
    for (int64_t i = 0; i < rows; i++) {
        uint64_t r = mix64(seed * 1000003ULL + static_cast<uint64_t>(i));
        for (int b = 0; b < 32; b++)
            t.id[static_cast<size_t>(i) * 32 + b] = static_cast<unsigned char>(mix64(r + b) >> 17);
        t.age.push_back(i % 7 == 3 ? SL_INT_MISSING : static_cast<int64_t>(mix64(r ^ 1) >> 1));
        t.bmi.push_back(i % 11 == 5 ? NAN : 15.0 + static_cast<double>(mix64(r ^ 2) >> 11) * 0x1p-48);
        t.sex.push_back(i % 13 == 7 ? SL_CAT_MISSING : static_cast<int32_t>(mix64(r ^ 3) % 3));
        t.dx.push_back(i % 17 == 9 ? SL_DATE_MISSING
                                   : static_cast<int32_t>(mix64(r ^ 4) % 2000000000ULL) - 1000000000);
        t.ward.push_back(i % 19 == 2 ? SL_CAT_MISSING : static_cast<int32_t>(mix64(r ^ 5) % 200));
    }
    return t;
}

inline std::vector<sl_colinfo> table_cols() {
    std::vector<sl_colinfo> cols(kNumCols);
    const sl_coltype types[] = {SL_COL_ID, SL_COL_INT, SL_COL_REAL, SL_COL_CAT, SL_COL_DATE, SL_COL_CAT};
    const sl_colclass classes[] = {SL_CLASS_IDENTIFIER, SL_CLASS_QUASI, SL_CLASS_SENSITIVE,
                                   SL_CLASS_QUASI, SL_CLASS_SENSITIVE, SL_CLASS_OTHER};
    for (int j = 0; j < kNumCols; j++) {
        cols[j].name = const_cast<char *>(kColNames[j]);
        cols[j].type = types[j];
        cols[j].cls = classes[j];
        cols[j].nlevels = 0;
        cols[j].levels = nullptr;
        cols[j].lower = NAN;
        cols[j].upper = NAN;
    }
    cols[1].lower = 0;
    cols[1].upper = 120;
    cols[3].nlevels = 3;
    cols[3].levels = const_cast<char **>(kSexLevels);
    return cols;
}

// Writes `t` to `path`, appending in the given batch sizes (the rest in one
// final batch), with the ward levels set after creation.
inline void write_table(const std::string &path, const sl_kek *kek, const Table &t,
                        int64_t chunk_rows, std::vector<int64_t> batches = {}) {
    auto cols = table_cols();
    sl_cohort_writer *wp = nullptr;
    ASSERT_EQ(sl_cohort_writer_create(path.c_str(), kek, cols.data(), kNumCols, chunk_rows, &wp),
              SL_OK)
        << last_error();
    Writer w(wp);
    std::vector<const char *> levels;
    for (auto &s : t.ward_levels)
        levels.push_back(s.c_str());
    ASSERT_EQ(sl_cohort_writer_set_levels(w.get(), 5, static_cast<int32_t>(levels.size()),
                                          levels.data()),
              SL_OK)
        << last_error();
    int64_t done = 0;
    batches.push_back(t.rows);
    for (int64_t b : batches) {
        int64_t n = std::min(b, t.rows - done);
        const void *ptrs[kNumCols];
        for (int j = 0; j < kNumCols; j++)
            ptrs[j] = static_cast<const unsigned char *>(t.column(j)) + done * Table::element_size(j);
        ASSERT_EQ(sl_cohort_writer_append(w.get(), n, ptrs), SL_OK) << last_error();
        done += n;
    }
    ASSERT_EQ(sl_cohort_writer_finish(w.get()), SL_OK) << last_error();
}

inline Cohort open_cohort(const std::string &path) {
    sl_cohort *c = nullptr;
    EXPECT_EQ(sl_cohort_open(path.c_str(), &c), SL_OK) << last_error();
    return Cohort(c);
}

inline std::vector<unsigned char> read_file(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    return std::vector<unsigned char>(std::istreambuf_iterator<char>(in), {});
}

inline void copy_file(const std::string &from, const std::string &to) {
    std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
}

// ---- raw HDF5 access to a cohort file, bypassing sluice ----

struct RawChunk {
    haddr_t addr = 0;
    hsize_t size = 0;
    std::vector<unsigned char> bytes;
};

// Reads the stored chunk starting at row `row0` of dataset `dset` as sealed
// bytes, with its address in the file.
inline RawChunk raw_chunk(const std::string &path, const std::string &dset, hsize_t row0) {
    RawChunk rc;
    hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    EXPECT_GE(f, 0);
    hid_t d = H5Dopen2(f, dset.c_str(), H5P_DEFAULT);
    EXPECT_GE(d, 0);
    unsigned mask = 0;
    EXPECT_GE(H5Dget_chunk_info_by_coord(d, &row0, &mask, &rc.addr, &rc.size), 0);
    rc.bytes.resize(rc.size);
    uint32_t fmask = 0;
    EXPECT_GE(H5Dread_chunk(d, H5P_DEFAULT, &row0, &fmask, rc.bytes.data()), 0);
    H5Dclose(d);
    H5Fclose(f);
    return rc;
}

// Replaces stored chunk at row offset `row0` of dataset `dset` with `bytes`.
inline void raw_write_chunk(const std::string &path, const std::string &dset, hsize_t row0,
                            const std::vector<unsigned char> &bytes) {
    hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    hid_t d = H5Dopen2(f, dset.c_str(), H5P_DEFAULT);
    ASSERT_GE(d, 0);
    EXPECT_GE(H5Dwrite_chunk(d, H5P_DEFAULT, 0, &row0, bytes.size(), bytes.data()), 0);
    H5Dclose(d);
    H5Fclose(f);
}

// Overwrites the root attribute sluice_format with `version`.
inline void set_format_version(const std::string &path, uint32_t version) {
    hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    hid_t a = H5Aopen(f, "sluice_format", H5P_DEFAULT);
    ASSERT_GE(a, 0);
    EXPECT_GE(H5Awrite(a, H5T_NATIVE_UINT32, &version), 0);
    H5Aclose(a);
    H5Fclose(f);
}

// Flips bit 0 of the byte at `offset` of the file.
inline void flip_byte(const std::string &path, uint64_t offset) {
    std::fstream io(path, std::ios::in | std::ios::out | std::ios::binary);
    io.seekg(static_cast<std::streamoff>(offset));
    char ch = 0;
    io.read(&ch, 1);
    ch = static_cast<char>(ch ^ 1);
    io.seekp(static_cast<std::streamoff>(offset));
    io.write(&ch, 1);
}

}  // namespace sltest
