// test_cohort.cc: writing and reading encrypted cohorts: round trips of every
// column type with missing values, metadata without a key (also through the
// real h5dump), refusals (existing files, versions, non-cohorts, wrong key),
// the writer's temporary file, a byte scan proving no plaintext reaches the
// disk, and the committed fixtures of older and future format versions.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <unordered_set>

#include "fixture_values.hh"
#include "io_test_util.hh"

using namespace sltest;

namespace {

class CohortTest : public IoTest {
protected:
    void SetUp() override {
        IoTest::SetUp();
        kek_ = make_kek(dir_.file("centre.kek"));
        path_ = dir_.file("cohort.h5");
    }
    void TearDown() override {
        kek_.reset();
        IoTest::TearDown();
    }
    Kek kek_;
    std::string path_;
};

// Reads column j of an unlocked cohort chunk by chunk into one vector.
std::vector<unsigned char> read_column(sl_cohort *c, int j) {
    size_t es = sl_coltype_size(sl_cohort_col(c, j)->type);
    std::vector<unsigned char> out(static_cast<size_t>(sl_cohort_nrows(c)) * es);
    for (int64_t k = 0; k < sl_cohort_nchunks(c); k++) {
        size_t off = static_cast<size_t>(k * sl_cohort_chunk_rows(c)) * es;
        size_t len = static_cast<size_t>(sl_cohort_chunk_nrows(c, k)) * es;
        EXPECT_EQ(sl_cohort_read_chunk(c, j, k, out.data() + off, len), SL_OK) << last_error();
    }
    return out;
}

struct Cmd {
    int status = -1;
    std::string output;
};

Cmd run(const std::string &cmd) {
    Cmd r;
    FILE *p = popen((cmd + " 2>&1").c_str(), "r");
    if (!p)
        return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0)
        r.output.append(buf, n);
    int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

std::string data_dir() {
    const char *d = std::getenv("SL_TEST_DATA");
    return d ? d : "tests/data";
}

}  // namespace

TEST_F(CohortTest, RoundTripEveryTypeWithMissingValuesAndShortLastChunk) {
    Table t = make_table(1000, 7);
    // Batches exercise staging (partial chunks) and direct sealing (whole chunks).
    write_table(path_, kek_.get(), t, 128, {1, 127, 300, 44, 256});
    Cohort c = open_cohort(path_);
    ASSERT_TRUE(c);
    EXPECT_EQ(sl_cohort_version(c.get()), SL_FORMAT_VERSION);
    EXPECT_EQ(sl_cohort_nrows(c.get()), 1000);
    EXPECT_EQ(sl_cohort_chunk_rows(c.get()), 128);
    EXPECT_EQ(sl_cohort_nchunks(c.get()), 8);
    EXPECT_EQ(sl_cohort_chunk_nrows(c.get(), 7), 1000 - 7 * 128);
    EXPECT_EQ(sl_cohort_chunk_nrows(c.get(), 0), 128);
    ASSERT_EQ(sl_cohort_ncols(c.get()), kNumCols);
    ASSERT_EQ(sl_cohort_unlock(c.get(), kek_.get()), SL_OK) << last_error();
    for (int j = 0; j < kNumCols; j++) {
        EXPECT_EQ(std::string(sl_cohort_col(c.get(), j)->name), kColNames[j]);
        EXPECT_EQ(read_column(c.get(), j), t.bytes(j, 0, t.rows)) << kColNames[j];
    }
    EXPECT_EQ(sl_cohort_verify(c.get()), SL_OK) << last_error();
}

TEST_F(CohortTest, LastChunkSealsOnlyItsValidRows) {
    Table t = make_table(300, 1);
    write_table(path_, kek_.get(), t, 128);
    RawChunk last = raw_chunk(path_, "/patients/age", 256);
    EXPECT_EQ(last.size, 44u * 8 + 16);
    RawChunk full = raw_chunk(path_, "/patients/pid", 0);
    EXPECT_EQ(full.size, 128u * 32 + 16);
}

TEST_F(CohortTest, SingleChunkAndDefaultChunkRows) {
    Table t = make_table(10, 2);
    write_table(path_, kek_.get(), t, 0);
    Cohort c = open_cohort(path_);
    ASSERT_TRUE(c);
    EXPECT_EQ(sl_cohort_chunk_rows(c.get()), SL_DEFAULT_CHUNK_ROWS);
    EXPECT_EQ(sl_cohort_nchunks(c.get()), 1);
    ASSERT_EQ(sl_cohort_unlock(c.get(), kek_.get()), SL_OK) << last_error();
    EXPECT_EQ(read_column(c.get(), 2), t.bytes(2, 0, 10));
}

TEST_F(CohortTest, ExactMultipleOfChunkRows) {
    Table t = make_table(256, 3);
    write_table(path_, kek_.get(), t, 64, {64, 64});
    Cohort c = open_cohort(path_);
    ASSERT_TRUE(c);
    EXPECT_EQ(sl_cohort_nchunks(c.get()), 4);
    EXPECT_EQ(sl_cohort_chunk_nrows(c.get(), 3), 64);
    ASSERT_EQ(sl_cohort_unlock(c.get(), kek_.get()), SL_OK);
    EXPECT_EQ(read_column(c.get(), 4), t.bytes(4, 0, 256));
}

TEST_F(CohortTest, EmptyCohort) {
    Table t = make_table(0, 4);
    write_table(path_, kek_.get(), t, 16);
    Cohort c = open_cohort(path_);
    ASSERT_TRUE(c);
    EXPECT_EQ(sl_cohort_nrows(c.get()), 0);
    EXPECT_EQ(sl_cohort_nchunks(c.get()), 0);
    ASSERT_EQ(sl_cohort_unlock(c.get(), kek_.get()), SL_OK);
    EXPECT_EQ(sl_cohort_verify(c.get()), SL_OK);
}

TEST_F(CohortTest, MetadataReadsWithoutKey) {
    Table t = make_table(100, 5);
    write_table(path_, kek_.get(), t, 32);
    Cohort c = open_cohort(path_);
    ASSERT_TRUE(c);
    EXPECT_EQ(std::string(sl_cohort_path(c.get())), path_);
    EXPECT_STREQ(sl_cohort_kek_id(c.get()), sl_kek_id(kek_.get()));
    std::string uuid = sl_cohort_uuid(c.get());
    EXPECT_EQ(uuid.size(), 32u);
    EXPECT_EQ(uuid.find_first_not_of("0123456789abcdef"), std::string::npos);
    const sl_coltype types[] = {SL_COL_ID, SL_COL_INT, SL_COL_REAL, SL_COL_CAT, SL_COL_DATE, SL_COL_CAT};
    const sl_colclass classes[] = {SL_CLASS_IDENTIFIER, SL_CLASS_QUASI, SL_CLASS_SENSITIVE,
                                   SL_CLASS_QUASI, SL_CLASS_SENSITIVE, SL_CLASS_OTHER};
    for (int j = 0; j < kNumCols; j++) {
        const sl_colinfo *ci = sl_cohort_col(c.get(), j);
        EXPECT_EQ(ci->type, types[j]);
        EXPECT_EQ(ci->cls, classes[j]);
        EXPECT_EQ(sl_cohort_find(c.get(), kColNames[j]), j);
    }
    EXPECT_EQ(sl_cohort_find(c.get(), "nope"), -1);
    EXPECT_EQ(sl_cohort_col(c.get(), kNumCols), nullptr);
    const sl_colinfo *sex = sl_cohort_col(c.get(), 3);
    ASSERT_EQ(sex->nlevels, 3);
    EXPECT_STREQ(sex->levels[0], "F");
    EXPECT_STREQ(sex->levels[2], "X");
    const sl_colinfo *ward = sl_cohort_col(c.get(), 5);
    ASSERT_EQ(ward->nlevels, 200);
    EXPECT_STREQ(ward->levels[199], "ward-199");
    EXPECT_EQ(sl_cohort_col(c.get(), 1)->lower, 0);
    EXPECT_EQ(sl_cohort_col(c.get(), 1)->upper, 120);
    EXPECT_TRUE(std::isnan(sl_cohort_col(c.get(), 2)->lower));
    EXPECT_EQ(sl_cohort_col(c.get(), 2)->nlevels, 0);

    std::vector<unsigned char> buf(32 * 8, 0xaa);
    EXPECT_EQ(sl_cohort_read_chunk(c.get(), 1, 0, buf.data(), buf.size()), SL_ERR_ARG);
    EXPECT_NE(last_error().find("locked"), std::string::npos) << last_error();
}

TEST_F(CohortTest, H5dumpShowsMetadataButNoValues) {
    std::string h5dump = SL_H5DUMP;
    ASSERT_TRUE(!h5dump.empty() && h5dump.find("NOTFOUND") == std::string::npos)
        << "h5dump not found: install Debian's hdf5-tools";
    Table t = make_table(50, 6);
    for (int64_t i = 0; i < t.rows; i++)
        t.age[static_cast<size_t>(i)] = 4242420000 + i;  // easy to spot in h5dump's decimal text
    write_table(path_, kek_.get(), t, 16);
    Cohort c = open_cohort(path_);
    ASSERT_TRUE(c);

    Cmd meta = run(h5dump + " -A " + path_);
    EXPECT_EQ(meta.status, 0) << meta.output;
    EXPECT_NE(meta.output.find("sluice_format"), std::string::npos);
    EXPECT_NE(meta.output.find(sl_cohort_uuid(c.get())), std::string::npos);
    EXPECT_NE(meta.output.find("ward-17"), std::string::npos);

    Cmd props = run(h5dump + " -p -H -d /patients/age " + path_);
    EXPECT_NE(props.output.find("FILTER_ID 32100"), std::string::npos) << props.output;

    for (const char *cmd : {" -d /patients/age ", " ", " --enable-error-stack -d /patients/age "}) {
        Cmd data = run(h5dump + cmd + path_);
        EXPECT_NE(data.status, 0) << cmd << data.output;
        EXPECT_EQ(data.output.find("424242"), std::string::npos) << "plaintext visible: " << data.output;
        if (std::string(cmd).find("error-stack") != std::string::npos) {
            EXPECT_NE(data.output.find("is not registered"), std::string::npos) << data.output;
        }
    }
}

TEST_F(CohortTest, OrdinaryHdf5ReadAndWriteOfValuesFail) {
    Table t = make_table(40, 8);
    write_table(path_, kek_.get(), t, 16);
    Cohort keep = open_cohort(path_);  // registers the filter in this process
    keep.reset();
    hid_t f = H5Fopen(path_.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    hid_t d = H5Dopen2(f, "/patients/age", H5P_DEFAULT);
    ASSERT_GE(d, 0);
    std::vector<int64_t> buf(40, 0);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    EXPECT_LT(H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), 0);
    for (int64_t v : buf)
        EXPECT_EQ(v, 0);
    std::vector<int64_t> plain(40, 0x1122334455667788LL);
    EXPECT_LT(H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, plain.data()), 0);
    H5Dclose(d);
    H5Fclose(f);
    std::vector<unsigned char> bytes = read_file(path_);
    const unsigned char pat[] = {0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11};
    EXPECT_EQ(std::search(bytes.begin(), bytes.end(), pat, pat + 8), bytes.end());
}

TEST_F(CohortTest, NoPlaintextAnywhereInFile) {
    Table t = make_table(2000, 9);
    write_table(path_, kek_.get(), t, 256);
    std::vector<unsigned char> bytes = read_file(path_);
    ASSERT_GT(bytes.size(), 2000u * 60);
    const size_t W = 32;
    std::unordered_set<std::string> windows;
    for (size_t i = 0; i + W <= bytes.size(); i++)
        windows.emplace(reinterpret_cast<const char *>(bytes.data() + i), W);
    // Positive control: the sealed bytes of a chunk are found by the scan.
    RawChunk rc = raw_chunk(path_, "/patients/bmi", 256);
    ASSERT_EQ(windows.count(std::string(reinterpret_cast<const char *>(rc.bytes.data()) + 100, W)), 1u);
    for (int j = 0; j < kNumCols; j++) {
        std::vector<unsigned char> col = t.bytes(j, 0, t.rows);
        size_t hits = 0;
        for (size_t off = 0; off + W <= col.size(); off += W)
            hits += windows.count(std::string(reinterpret_cast<const char *>(col.data()) + off, W));
        EXPECT_EQ(hits, 0u) << "plaintext of column " << kColNames[j] << " found in the file";
    }
}

TEST_F(CohortTest, WrongKekIsRefusedNamingBothKeys) {
    Table t = make_table(20, 10);
    write_table(path_, kek_.get(), t, 8);
    std::string other_path = dir_.file("other.kek");
    Kek other = make_kek(other_path);
    Cohort c = open_cohort(path_);
    ASSERT_TRUE(c);
    EXPECT_EQ(sl_cohort_unlock(c.get(), other.get()), SL_ERR_KEY);
    std::string expect = "cohort " + path_ + " was encrypted under key " + sl_kek_id(kek_.get()) +
                         ", not under key " + sl_kek_id(other.get()) + " from " + other_path;
    EXPECT_NE(last_error().find(expect), std::string::npos) << last_error();
    std::vector<unsigned char> buf(8 * 8);
    EXPECT_NE(sl_cohort_read_chunk(c.get(), 1, 0, buf.data(), buf.size()), SL_OK);
}

TEST_F(CohortTest, TamperedWrappedKeyIsRefused) {
    Table t = make_table(20, 11);
    write_table(path_, kek_.get(), t, 8);
    hid_t f = H5Fopen(path_.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    hid_t a = H5Aopen(f, "sluice_wrapped_dek", H5P_DEFAULT);
    hid_t type = H5Aget_type(a);
    unsigned char w[40];
    ASSERT_GE(H5Aread(a, type, w), 0);
    w[20] ^= 0x40;
    ASSERT_GE(H5Awrite(a, type, w), 0);
    H5Tclose(type);
    H5Aclose(a);
    H5Fclose(f);
    Cohort c = open_cohort(path_);
    ASSERT_TRUE(c);
    EXPECT_EQ(sl_cohort_unlock(c.get(), kek_.get()), SL_ERR_KEY);
    EXPECT_NE(last_error().find(path_), std::string::npos) << last_error();
    EXPECT_NE(last_error().find("does not unwrap"), std::string::npos) << last_error();
}

TEST_F(CohortTest, FutureAndPastVersionsAreRefused) {
    Table t = make_table(20, 12);
    write_table(path_, kek_.get(), t, 8);
    set_format_version(path_, 2);
    sl_cohort *c = nullptr;
    EXPECT_EQ(sl_cohort_open(path_.c_str(), &c), SL_ERR_VERSION);
    EXPECT_EQ(c, nullptr);
    EXPECT_NE(last_error().find(path_ + ": cohort format version 2 is newer than this sluice "
                                        "supports (1); upgrade sluice"),
              std::string::npos)
        << last_error();
    set_format_version(path_, 0);
    EXPECT_EQ(sl_cohort_open(path_.c_str(), &c), SL_ERR_VERSION);
    EXPECT_NE(last_error().find("older"), std::string::npos) << last_error();
}

TEST_F(CohortTest, NonCohortFilesAreRefused) {
    sl_cohort *c = nullptr;
    std::string text = dir_.file("notes.txt");
    std::ofstream(text) << "patient,age\n1,40\n";
    EXPECT_EQ(sl_cohort_open(text.c_str(), &c), SL_ERR_FORMAT);
    EXPECT_NE(last_error().find("not an HDF5 file"), std::string::npos) << last_error();

    std::string plain = dir_.file("plain.h5");
    hid_t f = H5Fcreate(plain.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    H5Fclose(f);
    EXPECT_EQ(sl_cohort_open(plain.c_str(), &c), SL_ERR_FORMAT);
    EXPECT_NE(last_error().find("not a sluice cohort"), std::string::npos) << last_error();

    EXPECT_EQ(sl_cohort_open(dir_.file("missing.h5").c_str(), &c), SL_ERR_IO);
    EXPECT_EQ(sl_cohort_open(dir_.path().c_str(), &c), SL_ERR_FORMAT);
    EXPECT_EQ(c, nullptr);
}

TEST_F(CohortTest, DatasetWithoutFilterIsRefused) {
    Table t = make_table(20, 13);
    write_table(path_, kek_.get(), t, 8);
    // Replace one value dataset by a plain (unfiltered) one of the same shape.
    hid_t f = H5Fopen(path_.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    hid_t d = H5Dopen2(f, "/patients/age", H5P_DEFAULT);
    ASSERT_GE(H5Ldelete(f, "/patients/age", H5P_DEFAULT), 0);
    hsize_t dims = 20, chunk = 8, maxd = H5S_UNLIMITED;
    hid_t space = H5Screate_simple(1, &dims, &maxd);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &chunk);
    hid_t nd = H5Dcreate2(f, "/patients/age", H5T_STD_I64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ASSERT_GE(nd, 0);
    const char *strs[] = {"sluice_type", "sluice_class", "sluice_index"};
    for (const char *name : strs) {
        hid_t a = H5Aopen(d, name, H5P_DEFAULT);
        hid_t ty = H5Aget_type(a);
        hid_t sp = H5Aget_space(a);
        std::vector<unsigned char> v(H5Tget_size(ty));
        H5Aread(a, ty, v.data());
        hid_t na = H5Acreate2(nd, name, ty, sp, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(na, ty, v.data());
        H5Aclose(na);
        H5Sclose(sp);
        H5Tclose(ty);
        H5Aclose(a);
    }
    H5Dclose(nd);
    H5Pclose(dcpl);
    H5Sclose(space);
    H5Dclose(d);
    H5Fclose(f);
    sl_cohort *c = nullptr;
    EXPECT_EQ(sl_cohort_open(path_.c_str(), &c), SL_ERR_FORMAT);
    EXPECT_NE(last_error().find("/patients/age lacks the mandatory sluice encryption filter"),
              std::string::npos)
        << last_error();
}

TEST_F(CohortTest, ColumnNamesWithControlCharactersAreRefused) {
    write_table(path_, kek_.get(), make_table(10, 4), 8);
    hid_t f = H5Fopen(path_.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    ASSERT_GE(H5Lmove(f, "/patients/bmi", f, "/patients/b\x1b[2Jmi", H5P_DEFAULT, H5P_DEFAULT), 0);
    H5Fclose(f);
    sl_cohort *c = nullptr;
    EXPECT_EQ(sl_cohort_open(path_.c_str(), &c), SL_ERR_FORMAT);
    EXPECT_NE(last_error().find("has a column whose name is not valid"), std::string::npos)
        << last_error();
    EXPECT_EQ(last_error().find('\x1b'), std::string::npos) << "the message echoes the name";
}

TEST_F(CohortTest, UnknownColumnTypeIsRefused) {
    write_table(path_, kek_.get(), make_table(10, 4), 8);
    hid_t f = H5Fopen(path_.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    hid_t d = H5Dopen2(f, "/patients/age", H5P_DEFAULT);
    ASSERT_GE(H5Adelete(d, "sluice_type"), 0);
    hid_t ty = H5Tcopy(H5T_C_S1);
    H5Tset_size(ty, 5);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(d, "sluice_type", ty, sp, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(H5Awrite(a, ty, "blob"), 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(ty);
    H5Dclose(d);
    H5Fclose(f);
    sl_cohort *c = nullptr;
    EXPECT_EQ(sl_cohort_open(path_.c_str(), &c), SL_ERR_FORMAT);
    EXPECT_NE(last_error().find("/patients/age has an unknown sluice_type"), std::string::npos)
        << last_error();
}

TEST_F(CohortTest, ColumnLinkedFromAnotherFileIsRefused) {
    write_table(path_, kek_.get(), make_table(10, 4), 8);
    std::string other = dir_.file("other.h5");
    write_table(other, kek_.get(), make_table(10, 5), 8);
    hid_t f = H5Fopen(path_.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    ASSERT_GE(H5Ldelete(f, "/patients/bmi", H5P_DEFAULT), 0);
    ASSERT_GE(H5Lcreate_external(other.c_str(), "/patients/bmi", f, "/patients/bmi", H5P_DEFAULT,
                                 H5P_DEFAULT),
              0);
    H5Fclose(f);
    sl_cohort *c = nullptr;
    EXPECT_EQ(sl_cohort_open(path_.c_str(), &c), SL_ERR_FORMAT);
    EXPECT_NE(last_error().find("/patients/bmi is a link"), std::string::npos) << last_error();
}

TEST_F(CohortTest, WriterRefusesExistingPathAndBadColumns) {
    std::ofstream(path_) << "x";
    auto cols = table_cols();
    sl_cohort_writer *w = nullptr;
    EXPECT_EQ(sl_cohort_writer_create(path_.c_str(), kek_.get(), cols.data(), kNumCols, 8, &w),
              SL_ERR_EXISTS);
    EXPECT_NE(last_error().find(path_), std::string::npos);
    EXPECT_EQ(w, nullptr);
    std::string p2 = dir_.file("c2.h5");
    cols[2].name = const_cast<char *>("age");
    EXPECT_EQ(sl_cohort_writer_create(p2.c_str(), kek_.get(), cols.data(), kNumCols, 8, &w),
              SL_ERR_ARG);
    EXPECT_NE(last_error().find("used twice"), std::string::npos) << last_error();
    for (const char *bad : {"", "a/b", ".", "tab\there"}) {
        cols = table_cols();
        cols[1].name = const_cast<char *>(bad);
        EXPECT_EQ(sl_cohort_writer_create(p2.c_str(), kek_.get(), cols.data(), kNumCols, 8, &w),
                  SL_ERR_ARG)
            << bad;
    }
    cols = table_cols();
    cols[1].nlevels = 1;
    cols[1].levels = const_cast<char **>(kSexLevels);
    EXPECT_EQ(sl_cohort_writer_create(p2.c_str(), kek_.get(), cols.data(), kNumCols, 8, &w),
              SL_ERR_ARG);
    cols = table_cols();
    EXPECT_EQ(sl_cohort_writer_create(p2.c_str(), kek_.get(), cols.data(), kNumCols,
                                      int64_t{SL_MAX_CHUNK_ROWS} + 1, &w),
              SL_ERR_ARG);
    EXPECT_EQ(sl_cohort_writer_create(p2.c_str(), kek_.get(), cols.data(), 0, 8, &w), SL_ERR_ARG);
    EXPECT_EQ(w, nullptr);
    EXPECT_EQ(dir_.list().size(), 2u);  // the key and the refused path only
}

TEST_F(CohortTest, UnfinishedWriterLeavesNothingBehind) {
    Table t = make_table(100, 14);
    auto cols = table_cols();
    sl_cohort_writer *wp = nullptr;
    ASSERT_EQ(sl_cohort_writer_create(path_.c_str(), kek_.get(), cols.data(), kNumCols, 16, &wp), SL_OK);
    Writer w(wp);
    const void *ptrs[kNumCols];
    for (int j = 0; j < kNumCols; j++)
        ptrs[j] = t.column(j);
    ASSERT_EQ(sl_cohort_writer_append(w.get(), 100, ptrs), SL_OK) << last_error();
    bool tmp_seen = false;
    for (auto &name : dir_.list())
        tmp_seen |= name.rfind("cohort.h5.tmp-", 0) == 0;
    EXPECT_TRUE(tmp_seen) << "data go to a temporary file beside the target";
    EXPECT_NE(access(path_.c_str(), F_OK), 0) << "target must not exist before finish";
    w.reset();
    auto names = dir_.list();
    ASSERT_EQ(names.size(), 1u);
    EXPECT_EQ(names[0], "centre.kek");
}

TEST_F(CohortTest, FinishedWriterLeavesOnlyTheCohort) {
    Table t = make_table(30, 15);
    write_table(path_, kek_.get(), t, 16);
    auto names = dir_.list();
    std::sort(names.begin(), names.end());
    ASSERT_EQ(names.size(), 2u);
    EXPECT_EQ(names[0], "centre.kek");
    EXPECT_EQ(names[1], "cohort.h5");
}

TEST_F(CohortTest, CategoryCodesMustFitTheLevels) {
    Table t = make_table(30, 16);
    t.sex[5] = 3;  // sex has 3 levels: codes 0..2
    auto cols = table_cols();
    sl_cohort_writer *wp = nullptr;
    ASSERT_EQ(sl_cohort_writer_create(path_.c_str(), kek_.get(), cols.data(), kNumCols, 16, &wp), SL_OK);
    Writer w(wp);
    const void *ptrs[kNumCols];
    for (int j = 0; j < kNumCols; j++)
        ptrs[j] = t.column(j);
    std::vector<const char *> levels;
    for (auto &s : t.ward_levels)
        levels.push_back(s.c_str());
    ASSERT_EQ(sl_cohort_writer_set_levels(w.get(), 5, 200, levels.data()), SL_OK);
    ASSERT_EQ(sl_cohort_writer_append(w.get(), 30, ptrs), SL_OK);
    EXPECT_EQ(sl_cohort_writer_finish(w.get()), SL_ERR_ARG);
    EXPECT_NE(last_error().find("column sex"), std::string::npos) << last_error();
    EXPECT_EQ(sl_cohort_writer_finish(w.get()), SL_ERR_ARG) << "a failed writer stays failed";
    w.reset();
    EXPECT_NE(access(path_.c_str(), F_OK), 0);

    t.sex[5] = -2;
    ASSERT_EQ(sl_cohort_writer_create(path_.c_str(), kek_.get(), cols.data(), kNumCols, 16, &wp), SL_OK);
    w.reset(wp);
    EXPECT_EQ(sl_cohort_writer_append(w.get(), 30, ptrs), SL_ERR_ARG);
    EXPECT_EQ(sl_cohort_writer_set_levels(w.get(), 1, 0, nullptr), SL_ERR_ARG);
}

TEST_F(CohortTest, CommittedVersion1FixtureStillReads) {
    using namespace slfixture;
    std::string h5 = data_dir() + "/cohort_v1.h5";
    std::string key = dir_.file("fixture.kek");
    copy_file(data_dir() + "/cohort_v1.kek", key);
    ASSERT_EQ(chmod(key.c_str(), 0600), 0);
    sl_kek *kp = nullptr;
    ASSERT_EQ(sl_kek_load(key.c_str(), &kp), SL_OK) << last_error();
    Kek k(kp);
    Cohort c = open_cohort(h5);
    ASSERT_TRUE(c);
    EXPECT_EQ(sl_cohort_version(c.get()), 1u);
    EXPECT_EQ(sl_cohort_nrows(c.get()), kRows);
    EXPECT_EQ(sl_cohort_chunk_rows(c.get()), kChunkRows);
    EXPECT_EQ(sl_cohort_nchunks(c.get()), 5);
    ASSERT_EQ(sl_cohort_ncols(c.get()), kCols);
    for (int j = 0; j < kCols; j++)
        EXPECT_STREQ(sl_cohort_col(c.get(), j)->name, kNames[j]);
    ASSERT_EQ(sl_cohort_col(c.get(), 3)->nlevels, 3);
    EXPECT_STREQ(sl_cohort_col(c.get(), 3)->levels[1], "M");
    EXPECT_EQ(sl_cohort_col(c.get(), 1)->upper, 120);
    ASSERT_EQ(sl_cohort_unlock(c.get(), k.get()), SL_OK) << last_error();

    std::vector<unsigned char> pid = read_column(c.get(), 0);
    std::vector<unsigned char> age = read_column(c.get(), 1);
    std::vector<unsigned char> bmi = read_column(c.get(), 2);
    std::vector<unsigned char> sex = read_column(c.get(), 3);
    std::vector<unsigned char> dx = read_column(c.get(), 4);
    for (int64_t i = 0; i < kRows; i++) {
        for (int b = 0; b < 32; b++)
            ASSERT_EQ(pid[i * 32 + b], pid_byte(i, b)) << i;
        int64_t a;
        double m;
        int32_t s, d;
        memcpy(&a, &age[i * 8], 8);
        memcpy(&m, &bmi[i * 8], 8);
        memcpy(&s, &sex[i * 4], 4);
        memcpy(&d, &dx[i * 4], 4);
        ASSERT_EQ(a, slfixture::age(i)) << i;
        if (std::isnan(slfixture::bmi(i)))
            ASSERT_TRUE(std::isnan(m)) << i;
        else
            ASSERT_EQ(m, slfixture::bmi(i)) << i;
        ASSERT_EQ(s, slfixture::sex(i)) << i;
        ASSERT_EQ(d, slfixture::dx_date(i)) << i;
    }
}

TEST_F(CohortTest, CommittedFutureFixtureIsRefused) {
    std::string h5 = data_dir() + "/cohort_v2_future.h5";
    sl_cohort *c = nullptr;
    EXPECT_EQ(sl_cohort_open(h5.c_str(), &c), SL_ERR_VERSION);
    EXPECT_EQ(c, nullptr);
    EXPECT_NE(last_error().find("cohort format version 2 is newer than this sluice supports"),
              std::string::npos)
        << last_error();
}
