// test_frame.cc: how chunks are split between ranks, and that frames loaded by
// 1, 2 or 4 simulated ranks hold exactly the cohort's rows, chunk by chunk.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "io_test_util.hh"

using namespace sltest;

namespace {

std::vector<int64_t> assign(int64_t nchunks, int rank, int size, sl_assign how) {
    int64_t *list = nullptr;
    int64_t n = -1;
    EXPECT_EQ(sl_chunks_assign(nchunks, rank, size, how, &list, &n), SL_OK) << last_error();
    std::vector<int64_t> v(list, list + n);
    sl_free(list);
    return v;
}

class FrameTest : public IoTest {};

// The kernel's account of the mapping that holds p (/proc/self/smaps; it may
// also hold neighbouring buffers made alike): resident and locked kB, and
// its VmFlags.
struct Mapping {
    bool found = false;
    long rss_kb = -1, locked_kb = -1;
    std::string flags;
};

Mapping mapping_at(const void *p) {
    Mapping m;
    std::ifstream in("/proc/self/smaps");
    std::string line;
    bool in_it = false;
    unsigned long at = reinterpret_cast<unsigned long>(p);
    while (std::getline(in, line)) {
        unsigned long lo = 0, hi = 0;
        if (std::isxdigit(static_cast<unsigned char>(line[0])) &&
            std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2) {
            in_it = lo <= at && at < hi;
            m.found = m.found || in_it;
            continue;
        }
        if (!in_it)
            continue;
        std::istringstream ls(line);
        std::string key;
        ls >> key;
        if (key == "Rss:")
            ls >> m.rss_kb;
        else if (key == "Locked:")
            ls >> m.locked_kb;
        else if (key == "VmFlags:")
            m.flags = line.substr(line.find(':') + 1) + " ";
    }
    return m;
}

}  // namespace

TEST_F(FrameTest, ContiguousBlocksAreBalancedFirstRanksGetMore) {
    EXPECT_EQ(assign(10, 0, 4, SL_ASSIGN_CONTIGUOUS), (std::vector<int64_t>{0, 1, 2}));
    EXPECT_EQ(assign(10, 1, 4, SL_ASSIGN_CONTIGUOUS), (std::vector<int64_t>{3, 4, 5}));
    EXPECT_EQ(assign(10, 2, 4, SL_ASSIGN_CONTIGUOUS), (std::vector<int64_t>{6, 7}));
    EXPECT_EQ(assign(10, 3, 4, SL_ASSIGN_CONTIGUOUS), (std::vector<int64_t>{8, 9}));
    EXPECT_EQ(assign(3, 0, 1, SL_ASSIGN_CONTIGUOUS), (std::vector<int64_t>{0, 1, 2}));
}

TEST_F(FrameTest, StridedIsRoundRobin) {
    EXPECT_EQ(assign(10, 0, 4, SL_ASSIGN_STRIDED), (std::vector<int64_t>{0, 4, 8}));
    EXPECT_EQ(assign(10, 1, 4, SL_ASSIGN_STRIDED), (std::vector<int64_t>{1, 5, 9}));
    EXPECT_EQ(assign(10, 2, 4, SL_ASSIGN_STRIDED), (std::vector<int64_t>{2, 6}));
    EXPECT_EQ(assign(10, 3, 4, SL_ASSIGN_STRIDED), (std::vector<int64_t>{3, 7}));
}

TEST_F(FrameTest, RanksBeyondChunksGetNothingAndEveryChunkOnce) {
    for (sl_assign how : {SL_ASSIGN_CONTIGUOUS, SL_ASSIGN_STRIDED}) {
        EXPECT_TRUE(assign(2, 3, 5, how).empty());
        EXPECT_TRUE(assign(0, 0, 1, how).empty());
        for (int64_t nchunks : {0, 1, 3, 7, 64, 65}) {
            for (int size : {1, 2, 3, 4, 8, 100}) {
                std::map<int64_t, int> seen;
                for (int r = 0; r < size; r++) {
                    auto v = assign(nchunks, r, size, how);
                    EXPECT_TRUE(std::is_sorted(v.begin(), v.end()));
                    EXPECT_LE(v.size(), static_cast<size_t>((nchunks + size - 1) / size));
                    for (int64_t k : v)
                        seen[k]++;
                }
                ASSERT_EQ(static_cast<int64_t>(seen.size()), nchunks) << nchunks << "/" << size;
                for (auto &kv : seen)
                    EXPECT_EQ(kv.second, 1);
            }
        }
    }
}

TEST_F(FrameTest, AssignRejectsBadArguments) {
    int64_t *list = reinterpret_cast<int64_t *>(0x1);
    int64_t n = 7;
    EXPECT_EQ(sl_chunks_assign(10, 4, 4, SL_ASSIGN_CONTIGUOUS, &list, &n), SL_ERR_ARG);
    EXPECT_EQ(list, nullptr);
    EXPECT_EQ(n, 0);
    EXPECT_EQ(sl_chunks_assign(10, -1, 4, SL_ASSIGN_CONTIGUOUS, &list, &n), SL_ERR_ARG);
    EXPECT_EQ(sl_chunks_assign(10, 0, 0, SL_ASSIGN_CONTIGUOUS, &list, &n), SL_ERR_ARG);
    EXPECT_EQ(sl_chunks_assign(-1, 0, 1, SL_ASSIGN_STRIDED, &list, &n), SL_ERR_ARG);
    EXPECT_EQ(sl_chunks_assign(10, 0, 1, static_cast<sl_assign>(9), &list, &n), SL_ERR_ARG);
}

TEST_F(FrameTest, RanksTogetherHoldTheWholeCohortInChunkOrder) {
    Kek kek = make_kek(dir_.file("k"));
    std::string path = dir_.file("c.h5");
    Table t = make_table(1234, 21);  // 20 chunks of 64, the last 18 rows
    write_table(path, kek.get(), t, 64);
    Cohort c = open_cohort(path);
    ASSERT_TRUE(c);
    ASSERT_EQ(sl_cohort_unlock(c.get(), kek.get()), SL_OK);
    const int cols[] = {4, 0, 2};  // a subset, out of order
    for (sl_assign how : {SL_ASSIGN_CONTIGUOUS, SL_ASSIGN_STRIDED}) {
        for (int size : {1, 2, 4}) {
            // Per global chunk: the bytes of each frame column.
            std::map<int64_t, std::vector<std::vector<unsigned char>>> by_chunk;
            int64_t rows = 0;
            for (int r = 0; r < size; r++) {
                auto chunks = assign(sl_cohort_nchunks(c.get()), r, size, how);
                sl_frame *fp = nullptr;
                ASSERT_EQ(sl_frame_load(c.get(), cols, 3, chunks.data(),
                                        static_cast<int64_t>(chunks.size()), &fp),
                          SL_OK)
                    << last_error();
                Frame f(fp);
                ASSERT_EQ(f->ncols, 3);
                ASSERT_EQ(f->nchunks, static_cast<int64_t>(chunks.size()));
                EXPECT_EQ(f->chunk_row0[f->nchunks], f->nrows);
                rows += f->nrows;
                for (int j = 0; j < 3; j++) {
                    EXPECT_EQ(f->col_index[j], cols[j]);
                    EXPECT_EQ(sl_frame_find(f.get(), cols[j]), j);
                    EXPECT_TRUE(f->data[j]->size >= static_cast<size_t>(f->nrows) * Table::element_size(cols[j]));
                }
                EXPECT_EQ(sl_frame_find(f.get(), 1), -1);
                for (int64_t i = 0; i < f->nchunks; i++) {
                    int64_t k = f->chunk_index[i];
                    EXPECT_EQ(k, chunks[static_cast<size_t>(i)]);
                    int64_t r0 = f->chunk_row0[i], n = f->chunk_row0[i + 1] - r0;
                    EXPECT_EQ(n, sl_cohort_chunk_nrows(c.get(), k));
                    auto &slot = by_chunk[k];
                    ASSERT_TRUE(slot.empty()) << "chunk " << k << " loaded twice";
                    for (int j = 0; j < 3; j++) {
                        size_t es = Table::element_size(cols[j]);
                        auto *p = static_cast<const unsigned char *>(f->data[j]->data) + r0 * es;
                        slot.emplace_back(p, p + n * es);
                    }
                }
            }
            EXPECT_EQ(rows, t.rows);
            ASSERT_EQ(static_cast<int64_t>(by_chunk.size()), sl_cohort_nchunks(c.get()));
            for (int j = 0; j < 3; j++) {
                std::vector<unsigned char> all;
                for (auto &kv : by_chunk)
                    all.insert(all.end(), kv.second[j].begin(), kv.second[j].end());
                EXPECT_EQ(all, t.bytes(cols[j], 0, t.rows)) << "size " << size << " column " << cols[j];
            }
        }
    }
}

// AddressSanitizer turns mlock into a call that succeeds and locks nothing.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kMlockWorks = false;
#else
constexpr bool kMlockWorks = true;
#endif

// Decrypted columns stay out of core dumps, and every page of them is locked
// against swapping (where the system lets the process lock memory).
TEST_F(FrameTest, DecryptedPagesAreLockedAndLeftOutOfCoreDumps) {
    Kek kek = make_kek(dir_.file("k"));
    std::string path = dir_.file("c.h5");
    Table t = make_table(20000, 23);
    write_table(path, kek.get(), t, 1024);
    Cohort c = open_cohort(path);
    ASSERT_TRUE(c);
    ASSERT_EQ(sl_cohort_unlock(c.get(), kek.get()), SL_OK);
    auto chunks = assign(sl_cohort_nchunks(c.get()), 0, 1, SL_ASSIGN_CONTIGUOUS);
    const int cols[] = {2, 4};
    sl_frame *fp = nullptr;
    ASSERT_EQ(sl_frame_load(c.get(), cols, 2, chunks.data(), static_cast<int64_t>(chunks.size()),
                            &fp),
              SL_OK)
        << last_error();
    Frame f(fp);
    int locked = 0;
    for (int j = 0; j < 2; j++) {
        Mapping m = mapping_at(f->data[j]->data);
        ASSERT_TRUE(m.found) << "column " << j;
        EXPECT_NE(m.flags.find(" dd "), std::string::npos) << m.flags;
        EXPECT_GE(m.rss_kb * 1024, f->nrows * static_cast<long>(Table::element_size(cols[j])))
            << "column " << j;
        if (!f->data[j]->locked || !kMlockWorks)
            continue;
        locked++;
        EXPECT_NE(m.flags.find(" lo "), std::string::npos) << m.flags;
        EXPECT_EQ(m.locked_kb, m.rss_kb) << "column " << j;
    }
    if (!kMlockWorks)
        GTEST_SKIP() << "locking not checked: AddressSanitizer makes mlock a no-op";
    if (locked == 0)
        GTEST_SKIP() << "this process may not lock memory (RLIMIT_MEMLOCK)";
}

TEST_F(FrameTest, LoadRejectsBadListsAndNeedsTheKey) {
    Kek kek = make_kek(dir_.file("k"));
    std::string path = dir_.file("c.h5");
    write_table(path, kek.get(), make_table(100, 22), 32);
    Cohort c = open_cohort(path);
    ASSERT_TRUE(c);
    int cols[] = {1, 2};
    int64_t chunks[] = {0, 2};
    sl_frame *f = nullptr;
    EXPECT_EQ(sl_frame_load(c.get(), cols, 2, chunks, 2, &f), SL_ERR_ARG) << "locked cohort";
    ASSERT_EQ(sl_cohort_unlock(c.get(), kek.get()), SL_OK);
    int dup[] = {1, 1};
    EXPECT_EQ(sl_frame_load(c.get(), dup, 2, chunks, 2, &f), SL_ERR_ARG);
    int bad[] = {1, 9};
    EXPECT_EQ(sl_frame_load(c.get(), bad, 2, chunks, 2, &f), SL_ERR_ARG);
    int64_t desc[] = {2, 0};
    EXPECT_EQ(sl_frame_load(c.get(), cols, 2, desc, 2, &f), SL_ERR_ARG);
    int64_t out_of_range[] = {0, 4};
    EXPECT_EQ(sl_frame_load(c.get(), cols, 2, out_of_range, 2, &f), SL_ERR_ARG);
    EXPECT_EQ(f, nullptr);
    ASSERT_EQ(sl_frame_load(c.get(), cols, 2, chunks, 0, &f), SL_OK);
    EXPECT_EQ(f->nrows, 0);
    sl_frame_destroy(&f);
}
