// stats_test_util.hh: helpers for the tests of the summarising analyses:
// owning handles, the committed fixture cohort (tests/data/cohort_v1.h5,
// values in tests/unit/io/fixture_values.hh) split into per-rank frames, and
// "ranks" simulated by threads that reduce through a shared reducer, so the
// rank-invariance of the reductions is tested without MPI.
#pragma once

#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

extern "C" {
#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "io/cohort.h"
#include "io/frame.h"
#include "io/keys.h"
#include "jobs/cellstats.h"
#include "jobs/grouping.h"
#include "jobs/measure.h"
#include "kernels/kernel.h"
}

namespace sltest {

struct KekDel { void operator()(sl_kek *k) const { sl_kek_destroy(&k); } };
struct CohortDel { void operator()(sl_cohort *c) const { sl_cohort_close(&c); } };
struct FrameDel { void operator()(sl_frame *f) const { sl_frame_destroy(&f); } };
struct CellValuesDel { void operator()(sl_cell_values *s) const { sl_cell_values_destroy(&s); } };
struct FreeDel { void operator()(void *p) const { sl_free(p); } };
using Kek = std::unique_ptr<sl_kek, KekDel>;
using Cohort = std::unique_ptr<sl_cohort, CohortDel>;
using Frame = std::unique_ptr<sl_frame, FrameDel>;
using CellValues = std::unique_ptr<sl_cell_values, CellValuesDel>;

inline std::string data_path(const char *name)
{
    const char *dir = std::getenv("SL_TEST_DATA");
    return std::string(dir ? dir : "tests/data") + "/" + name;
}

// The committed fixture cohort, unlocked.
inline Cohort open_fixture()
{
    sl_cohort *c = nullptr;
    sl_kek *k = nullptr;
    EXPECT_EQ(sl_cohort_open(data_path("cohort_v1.h5").c_str(), &c), SL_OK) << sl_error_message();
    // git does not keep mode 0600 and sl_kek_load refuses a key others can
    // read: load a private copy.
    namespace fs = std::filesystem;
    const fs::path key = fs::temp_directory_path() /
                         ("sl-stats-" + std::to_string(::getpid()) + ".kek");
    fs::copy_file(data_path("cohort_v1.kek"), key, fs::copy_options::overwrite_existing);
    fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
    EXPECT_EQ(sl_kek_load(key.c_str(), &k), SL_OK) << sl_error_message();
    fs::remove(key);
    Kek kek(k);
    if (c && k) {
        EXPECT_EQ(sl_cohort_unlock(c, k), SL_OK) << sl_error_message();
    }
    return Cohort(c);
}

// The frame rank `rank` of `size` would load (contiguous chunks).
inline Frame load_rank(sl_cohort *c, const std::vector<int> &cols, int rank, int size)
{
    int64_t *chunks = nullptr, n = 0;
    sl_frame *f = nullptr;
    EXPECT_EQ(sl_chunks_assign(sl_cohort_nchunks(c), rank, size, SL_ASSIGN_CONTIGUOUS, &chunks, &n),
              SL_OK);
    EXPECT_EQ(sl_frame_load(c, cols.data(), static_cast<int>(cols.size()), chunks, n, &f), SL_OK)
        << sl_error_message();
    sl_free(chunks);
    return Frame(f);
}

// Threads standing in for ranks: every collective is a barrier-separated
// exchange through per-rank slots.
class ThreadRanks {
public:
    explicit ThreadRanks(int size) : size_(size), i64_(size), f64_(size) {}

    // Runs body(rank, reducer) on `size` threads and waits for all.
    void run(const std::function<void(int, const sl_reducer &)> &body)
    {
        std::vector<std::thread> threads;
        std::vector<Ctx> ctx(static_cast<size_t>(size_));
        for (int r = 0; r < size_; r++) {
            ctx[static_cast<size_t>(r)] = Ctx{this, r};
            threads.emplace_back([&, r] {
                sl_reducer red{&ctx[static_cast<size_t>(r)], sum_i64, allgather_f64};
                body(r, red);
            });
        }
        for (auto &t : threads)
            t.join();
    }

private:
    struct Ctx {
        ThreadRanks *self;
        int rank;
    };

    void barrier()
    {
        std::unique_lock<std::mutex> lock(mu_);
        uint64_t gen = generation_;
        if (++waiting_ == size_) {
            waiting_ = 0;
            generation_++;
            cv_.notify_all();
            return;
        }
        cv_.wait(lock, [&] { return generation_ != gen; });
    }

    static sl_status sum_i64(void *ctx, int64_t *buf, int64_t n)
    {
        auto *c = static_cast<Ctx *>(ctx);
        ThreadRanks *t = c->self;
        t->i64_[static_cast<size_t>(c->rank)].assign(buf, buf + n);
        t->barrier();
        for (int64_t i = 0; i < n; i++) {
            int64_t s = 0;
            for (int r = 0; r < t->size_; r++)
                s += t->i64_[static_cast<size_t>(r)][static_cast<size_t>(i)];
            buf[i] = s;
        }
        t->barrier();
        return SL_OK;
    }

    static sl_status allgather_f64(void *ctx, const double *local, int64_t count, double **all,
                                   int64_t *total)
    {
        auto *c = static_cast<Ctx *>(ctx);
        ThreadRanks *t = c->self;
        t->f64_[static_cast<size_t>(c->rank)].assign(local, local + count);
        t->barrier();
        size_t n = 0;
        for (auto &v : t->f64_)
            n += v.size();
        double *out = static_cast<double *>(sl_malloc((n ? n : 1) * sizeof(double)));
        size_t at = 0;
        for (auto &v : t->f64_) {
            if (!v.empty())
                std::memcpy(out + at, v.data(), v.size() * sizeof(double));
            at += v.size();
        }
        t->barrier();
        *all = out;
        *total = static_cast<int64_t>(n);
        return SL_OK;
    }

    int size_;
    std::vector<std::vector<int64_t>> i64_;
    std::vector<std::vector<double>> f64_;
    std::mutex mu_;
    std::condition_variable cv_;
    int waiting_ = 0;
    uint64_t generation_ = 0;
};

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
public:
    TempDir()
    {
        const char *base = std::getenv("TMPDIR");
        std::string tmpl = std::string(base && base[0] ? base : "/tmp") + "/sl-jobs-test-XXXXXX";
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        if (!mkdtemp(buf.data()))
            throw std::runtime_error("mkdtemp failed");
        path_ = buf.data();
    }
    ~TempDir()
    {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    std::string write(const std::string &name, const std::string &text) const
    {
        std::string p = path_ + "/" + name;
        std::ofstream(p) << text;
        return p;
    }

private:
    std::string path_;
};

// Test base: every counted allocation and secret buffer is released (the
// kernel backends, which cache scratch memory, are shut down around it).
class StatsTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        sl_backends_shutdown();
        allocs_ = sl_alloc_live();
        secbufs_ = sl_secbuf_live();
    }
    void TearDown() override
    {
        sl_backends_shutdown();
        EXPECT_EQ(sl_alloc_live(), allocs_) << "leaked allocations";
        EXPECT_EQ(sl_secbuf_live(), secbufs_) << "leaked secret buffers";
    }

private:
    int64_t allocs_ = 0;
    long secbufs_ = 0;
};

}  // namespace sltest

extern "C" {
#include "engine/config.h"
#include "engine/job.h"
#include "engine/rules.h"
}

namespace sltest {

struct JobDel { void operator()(sl_job *j) const { sl_job_destroy(&j); } };
using Job = std::unique_ptr<sl_job, JobDel>;

// The outcome of a job type's prepare() on one analysis over the fixture
// cohort's metadata.
struct Prepared {
    sl_status st = SL_OK;
    std::string error;
    std::vector<int> cols;
};

// Loads a job whose only analysis is `analysis` (a YAML flow mapping) and
// runs the registered type's prepare() with `rules` (default rules when
// NULL).
inline Prepared prepare(const std::string &analysis, const sl_rules *rules = nullptr)
{
    Prepared out;
    TempDir dir;
    std::string p = dir.write("job.yaml", "cohort: " + data_path("cohort_v1.h5") +
                                              "\nanalyses:\n  - " + analysis + "\n");
    sl_job *j = nullptr;
    sl_cohort *c = nullptr;
    sl_rules def;
    sl_rules_default(&def);
    out.st = sl_job_load(p.c_str(), nullptr, &j);
    Job job(j);
    if (out.st != SL_OK) {
        out.error = sl_error_message();
        return out;
    }
    EXPECT_EQ(sl_cohort_open(data_path("cohort_v1.h5").c_str(), &c), SL_OK);
    Cohort cohort(c);
    const sl_job_type *type = sl_job_type_find(j->analyses[0].type);
    EXPECT_NE(type, nullptr);
    if (!type)
        return out;
    void *state = nullptr;
    int *cols = nullptr, ncols = 0;
    out.st = type->prepare(&j->analyses[0], c, rules ? rules : &def, &state, &cols, &ncols);
    if (out.st != SL_OK)
        out.error = sl_error_message();
    out.cols.assign(cols, cols + ncols);
    sl_free(cols);
    type->destroy(state);
    return out;
}

}  // namespace sltest
