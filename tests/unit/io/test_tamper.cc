// test_tamper.cc: decryption fails closed on real, manipulated cohort files:
// flipped bytes (ciphertext and tag), swapped chunks, chunks moved between
// columns or copied from another cohort, cut or extended chunks, chunks
// flagged as unfiltered, and truncated files. Each failure names the file,
// dataset and chunk, wipes the destination, and leaks nothing.
#include <sys/stat.h>
#include <unistd.h>

#include "io_test_util.hh"

using namespace sltest;

namespace {

constexpr int64_t kRows = 500;
constexpr int64_t kChunk = 64;  // 8 chunks, the last one 52 rows

class Tamper : public IoTest {
protected:
    void SetUp() override {
        IoTest::SetUp();
        kek_ = make_kek(dir_.file("centre.kek"));
        path_ = dir_.file("cohort.h5");
        table_ = make_table(kRows, 99);
        write_table(path_, kek_.get(), table_, kChunk);
    }
    void TearDown() override {
        kek_.reset();
        IoTest::TearDown();
    }
    Cohort unlocked() {
        Cohort c = open_cohort(path_);
        if (c) {
            EXPECT_EQ(sl_cohort_unlock(c.get(), kek_.get()), SL_OK) << last_error();
        }
        return c;
    }
    // Reads chunk `k` of column `col` expecting an authentication failure that
    // names the file, dataset and chunk and wipes the destination.
    void expect_refused(sl_cohort *c, int col, int64_t k) {
        std::vector<unsigned char> dst(static_cast<size_t>(kChunk) * 32, 0xaa);
        EXPECT_EQ(sl_cohort_read_chunk(c, col, k, dst.data(), dst.size()), SL_ERR_CRYPTO);
        std::string msg = last_error();
        EXPECT_NE(msg.find(path_), std::string::npos) << msg;
        EXPECT_NE(msg.find(std::string("/patients/") + kColNames[col]), std::string::npos) << msg;
        EXPECT_NE(msg.find("chunk " + std::to_string(k)), std::string::npos) << msg;
        for (unsigned char ch : dst)
            ASSERT_EQ(ch, 0) << "destination not wiped";
    }
    // Reads chunks 0..7 of bmi (8 bytes per value) with sl_cohort_read_chunks
    // into buf, which starts filled with 0xaa.
    sl_status read_bmi_batch(sl_cohort *c, std::vector<std::vector<unsigned char>> &buf) {
        std::vector<int64_t> chunks = {0, 1, 2, 3, 4, 5, 6, 7};
        std::vector<void *> dst;
        std::vector<size_t> len;
        buf.assign(chunks.size(), std::vector<unsigned char>(kChunk * 8, 0xaa));
        for (auto &b : buf) {
            dst.push_back(b.data());
            len.push_back(b.size());
        }
        return sl_cohort_read_chunks(c, 2, chunks.data(), static_cast<int64_t>(chunks.size()),
                                     dst.data(), len.data());
    }
    // A failed batch names bad chunk `k` of bmi and leaves every destination
    // wiped.
    static void expect_batch_refused(const std::vector<std::vector<unsigned char>> &buf,
                                     int64_t k) {
        EXPECT_NE(last_error().find("/patients/bmi chunk " + std::to_string(k)),
                  std::string::npos)
            << last_error();
        for (auto &b : buf)
            for (unsigned char ch : b)
                ASSERT_EQ(ch, 0) << "destination not wiped";
    }
    void expect_reads(sl_cohort *c, int col, int64_t k) {
        size_t es = Table::element_size(col);
        int64_t n = sl_cohort_chunk_nrows(c, k);
        std::vector<unsigned char> dst(static_cast<size_t>(n) * es);
        ASSERT_EQ(sl_cohort_read_chunk(c, col, k, dst.data(), dst.size()), SL_OK) << last_error();
        EXPECT_EQ(dst, table_.bytes(col, k * kChunk, n));
    }

    Kek kek_;
    std::string path_;
    Table table_;
};

}  // namespace

TEST_F(Tamper, FlippedByteAnywhereInChunkIsRefused) {
    RawChunk rc = raw_chunk(path_, "/patients/bmi", 2 * kChunk);
    ASSERT_EQ(rc.size, static_cast<hsize_t>(kChunk) * 8 + 16);
    ASSERT_GT(rc.addr, 0u);
    // First ciphertext byte, a middle one, the last ciphertext byte, first and last tag bytes.
    for (hsize_t pos : {hsize_t{0}, rc.size / 2, rc.size - 17, rc.size - 16, rc.size - 1}) {
        flip_byte(path_, rc.addr + pos);
        {
            Cohort c = unlocked();
            ASSERT_TRUE(c);
            expect_refused(c.get(), 2, 2);
            expect_reads(c.get(), 2, 1);
            expect_reads(c.get(), 2, 3);
            expect_reads(c.get(), 1, 2);
        }
        flip_byte(path_, rc.addr + pos);  // restore
        Cohort c = unlocked();
        expect_reads(c.get(), 2, 2);
    }
}

TEST_F(Tamper, FlippedByteFoundBySearchingTheRawBytes) {
    // Locate the sealed bytes by content rather than by HDF5's chunk address.
    RawChunk rc = raw_chunk(path_, "/patients/pid", 7 * kChunk);
    std::vector<unsigned char> file = read_file(path_);
    auto it = std::search(file.begin(), file.end(), rc.bytes.begin(), rc.bytes.end());
    ASSERT_NE(it, file.end());
    EXPECT_EQ(static_cast<haddr_t>(it - file.begin()), rc.addr);
    flip_byte(path_, static_cast<uint64_t>(it - file.begin()) + 100);
    Cohort c = unlocked();
    ASSERT_TRUE(c);
    expect_refused(c.get(), 0, 7);
    EXPECT_EQ(sl_cohort_verify(c.get()), SL_ERR_CRYPTO);
    EXPECT_NE(last_error().find("/patients/pid chunk 7"), std::string::npos) << last_error();
}

TEST_F(Tamper, SwappedChunksAreRefused) {
    RawChunk c0 = raw_chunk(path_, "/patients/age", 0);
    RawChunk c1 = raw_chunk(path_, "/patients/age", kChunk);
    ASSERT_EQ(c0.bytes.size(), c1.bytes.size());
    raw_write_chunk(path_, "/patients/age", 0, c1.bytes);
    raw_write_chunk(path_, "/patients/age", kChunk, c0.bytes);
    Cohort c = unlocked();
    ASSERT_TRUE(c);
    expect_refused(c.get(), 1, 0);
    expect_refused(c.get(), 1, 1);
    expect_reads(c.get(), 1, 2);
}

TEST_F(Tamper, ChunkMovedToAnotherColumnIsRefused) {
    // dx_date and sex are both int32 columns: same chunk sizes.
    RawChunk dx = raw_chunk(path_, "/patients/dx_date", kChunk);
    raw_write_chunk(path_, "/patients/sex", kChunk, dx.bytes);
    Cohort c = unlocked();
    ASSERT_TRUE(c);
    expect_refused(c.get(), 3, 1);
    expect_reads(c.get(), 4, 1);
}

TEST_F(Tamper, ChunkCopiedFromAnotherCohortIsRefused) {
    // Same key, same columns, same values: only the file differs.
    std::string other = dir_.file("other.h5");
    write_table(other, kek_.get(), table_, kChunk);
    RawChunk foreign = raw_chunk(other, "/patients/age", 3 * kChunk);
    RawChunk own = raw_chunk(path_, "/patients/age", 3 * kChunk);
    ASSERT_EQ(foreign.size, own.size);
    ASSERT_NE(foreign.bytes, own.bytes) << "fresh data key and UUID per file";
    raw_write_chunk(path_, "/patients/age", 3 * kChunk, foreign.bytes);
    Cohort c = unlocked();
    ASSERT_TRUE(c);
    expect_refused(c.get(), 1, 3);
}

TEST_F(Tamper, CutOrExtendedChunkIsRefusedBeforeDecrypting) {
    RawChunk rc = raw_chunk(path_, "/patients/bmi", 7 * kChunk);
    ASSERT_EQ(rc.size, 52u * 8 + 16);
    std::vector<unsigned char> cut(rc.bytes.begin(), rc.bytes.end() - 1);
    raw_write_chunk(path_, "/patients/bmi", 7 * kChunk, cut);
    {
        Cohort c = unlocked();
        ASSERT_TRUE(c);
        expect_refused(c.get(), 2, 7);
        EXPECT_NE(last_error().find("stored as 431 bytes, expected 432"), std::string::npos)
            << last_error();
    }
    std::vector<unsigned char> longer = rc.bytes;
    longer.push_back(0);
    raw_write_chunk(path_, "/patients/bmi", 7 * kChunk, longer);
    Cohort c = unlocked();
    ASSERT_TRUE(c);
    expect_refused(c.get(), 2, 7);
}

TEST_F(Tamper, ChunkFlaggedAsUnfilteredIsRefused) {
    RawChunk rc = raw_chunk(path_, "/patients/age", 0);
    hid_t f = H5Fopen(path_.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    hid_t d = H5Dopen2(f, "/patients/age", H5P_DEFAULT);
    hsize_t off = 0;
    // HDF5 1.10 records a new filter mask only when the chunk is reallocated,
    // so write it once longer, then at its own size, both flagged unfiltered.
    std::vector<unsigned char> longer = rc.bytes;
    longer.resize(rc.bytes.size() + 64);
    ASSERT_GE(H5Dwrite_chunk(d, H5P_DEFAULT, 1, &off, longer.size(), longer.data()), 0);
    ASSERT_GE(H5Dwrite_chunk(d, H5P_DEFAULT, 1, &off, rc.bytes.size(), rc.bytes.data()), 0);
    unsigned mask = 0;
    haddr_t addr = 0;
    hsize_t size = 0;
    ASSERT_GE(H5Dget_chunk_info_by_coord(d, &off, &mask, &addr, &size), 0);
    ASSERT_EQ(mask, 1u);
    ASSERT_EQ(size, rc.size);
    H5Dclose(d);
    H5Fclose(f);
    Cohort c = unlocked();
    ASSERT_TRUE(c);
    expect_refused(c.get(), 1, 0);
    EXPECT_NE(last_error().find("without the sluice filter"), std::string::npos) << last_error();
}

TEST_F(Tamper, TruncatedFileIsRefused) {
    struct stat sb;
    ASSERT_EQ(stat(path_.c_str(), &sb), 0);
    std::vector<off_t> sizes = {sb.st_size - 1, sb.st_size / 2, 4096, 0};
    for (off_t size : sizes) {
        ASSERT_EQ(truncate(path_.c_str(), size), 0);
        sl_cohort *c = nullptr;
        sl_status st = sl_cohort_open(path_.c_str(), &c);
        EXPECT_EQ(st, SL_ERR_FORMAT) << size;
        EXPECT_EQ(c, nullptr);
        EXPECT_NE(last_error().find(path_), std::string::npos) << last_error();
        sl_cohort_close(&c);
    }
}

// A file cut short while open: the chunk HDF5 still finds reads past the end,
// which fails closed like any other damage, on one chunk and on a batch.
TEST_F(Tamper, FileCutShortAfterOpeningIsRefused) {
    RawChunk last = raw_chunk(path_, "/patients/bmi", 0);
    int64_t last_k = 0;
    for (int64_t k = 1; k < 8; k++) {
        RawChunk rc = raw_chunk(path_, "/patients/bmi", static_cast<hsize_t>(k * kChunk));
        if (rc.addr > last.addr) {
            last = rc;
            last_k = k;
        }
    }
    struct stat sb;
    ASSERT_EQ(stat(path_.c_str(), &sb), 0);
    ASSERT_LE(static_cast<off_t>(last.addr + last.size), sb.st_size);
    Cohort c = unlocked();
    ASSERT_TRUE(c);
    ASSERT_EQ(truncate(path_.c_str(), static_cast<off_t>(last.addr + last.size / 2)), 0);
    expect_refused(c.get(), 2, last_k);
    EXPECT_NE(last_error().find("past the end of the file"), std::string::npos) << last_error();

    std::vector<std::vector<unsigned char>> buf;
    EXPECT_EQ(read_bmi_batch(c.get(), buf), SL_ERR_CRYPTO);
    expect_batch_refused(buf, last_k);
}

// sl_cohort_read_chunks reads and opens chunks on all threads: a clean read
// gives the file's values, a tampered chunk fails the call with the first bad
// chunk in list order, and every destination (also those of chunks already
// opened) is wiped.
TEST_F(Tamper, ThreadedReadReportsTheFirstBadChunkAndWipesAll) {
    std::vector<std::vector<unsigned char>> buf;
    {
        Cohort c = unlocked();
        ASSERT_TRUE(c);
        ASSERT_EQ(read_bmi_batch(c.get(), buf), SL_OK) << last_error();
        for (int64_t k = 0; k < 8; k++) {
            int64_t n = sl_cohort_chunk_nrows(c.get(), k);
            std::vector<unsigned char> got(buf[static_cast<size_t>(k)].begin(),
                                           buf[static_cast<size_t>(k)].begin() + n * 8);
            EXPECT_EQ(got, table_.bytes(2, k * kChunk, n)) << "chunk " << k;
        }
    }
    for (int64_t bad : {6, 2}) {
        RawChunk rc = raw_chunk(path_, "/patients/bmi", bad * kChunk);
        flip_byte(path_, rc.addr + 20);
        Cohort c = unlocked();
        ASSERT_TRUE(c);
        EXPECT_EQ(read_bmi_batch(c.get(), buf), SL_ERR_CRYPTO);
        expect_batch_refused(buf, bad);
    }
}

TEST_F(Tamper, FrameLoadFailsClosedAndWipes) {
    RawChunk rc = raw_chunk(path_, "/patients/dx_date", 7 * kChunk);
    flip_byte(path_, rc.addr + 10);
    Cohort c = unlocked();
    ASSERT_TRUE(c);
    int cols[] = {0, 1, 2, 3, 4, 5};
    std::vector<int64_t> chunks = {0, 1, 2, 3, 4, 5, 6, 7};
    long live = sl_secbuf_live();
    sl_frame *f = reinterpret_cast<sl_frame *>(0x1);
    EXPECT_EQ(sl_frame_load(c.get(), cols, 6, chunks.data(), 8, &f), SL_ERR_CRYPTO);
    EXPECT_EQ(f, nullptr);
    EXPECT_EQ(sl_secbuf_live(), live);
    EXPECT_NE(last_error().find("/patients/dx_date chunk 7"), std::string::npos) << last_error();
    // The untouched chunks still load.
    sl_frame *ok = nullptr;
    EXPECT_EQ(sl_frame_load(c.get(), cols, 6, chunks.data(), 7, &ok), SL_OK) << last_error();
    sl_frame_destroy(&ok);
    EXPECT_EQ(ok, nullptr);
}
