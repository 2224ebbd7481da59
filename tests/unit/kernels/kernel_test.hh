// kernel_test.hh: helpers shared by the kernel tests: reproducible random
// data, the list of backends every conformance test runs on, and running a
// call with a readable failure message.
#ifndef SL_TESTS_KERNEL_TEST_HH
#define SL_TESTS_KERNEL_TEST_HH

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

extern "C" {
#include "kernels/kernel.h"
}

namespace sltest {

// splitmix64: the same data on every run and platform.
class Rng {
  public:
    explicit Rng(uint64_t seed) : s_(seed) {}
    uint64_t next()
    {
        uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    double unif() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    double normal()
    {
        double u = unif(), v = unif();
        return std::sqrt(-2 * std::log(u + 1e-300)) * std::cos(6.283185307179586 * v);
    }
    int64_t below(int64_t n) { return static_cast<int64_t>(next() % static_cast<uint64_t>(n)); }

  private:
    uint64_t s_;
};

inline struct sl_backend *backend(const char *name)
{
    struct sl_backend *b = nullptr;
    sl_status st = sl_backend_get(name, &b);
    return st == SL_OK ? b : nullptr;
}

// Column pointers of a column-major matrix with leading dimension ld, as
// the Gram and IRLS kernels take them.
inline std::vector<const double *> columns(const double *x, int64_t ld, int64_t p)
{
    std::vector<const double *> c(static_cast<size_t>(p > 0 ? p : 0));
    for (int64_t j = 0; j < p; j++)
        c[static_cast<size_t>(j)] = x + j * ld;
    return c;
}

// Runs a call; on failure the assertion shows the status and message.
inline ::testing::AssertionResult run(struct sl_backend *b, enum sl_op op, void *args)
{
    sl_status st = sl_kernel_run(b, op, args);
    if (st == SL_OK)
        return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << sl_op_name(op) << " on " << sl_backend_name(b) << ": " << sl_status_str(st) << ": "
           << sl_error_message();
}

// Backends under conformance test against cpu_ref. "gpu" skips where it is
// not built or there is no device.
inline std::vector<std::string> backends_under_test() { return {"cpu", "gpu"}; }

// Base fixture: GetParam() names the backend.
class BackendTest : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override
    {
        be_ = backend(GetParam().c_str());
        if (!be_)
            GTEST_SKIP() << "backend " << GetParam() << " not available: " << sl_error_message();
        ref_ = backend("cpu_ref");
        ASSERT_NE(ref_, nullptr);
    }
    struct sl_backend *be_ = nullptr;
    struct sl_backend *ref_ = nullptr;
};

// Sets the OpenMP thread count for a scope (no-op without OpenMP).
class Threads {
  public:
    explicit Threads(int n)
    {
#ifdef _OPENMP
        old_ = omp_get_max_threads();
        omp_set_num_threads(n);
#else
        (void)n;
#endif
    }
    ~Threads()
    {
#ifdef _OPENMP
        omp_set_num_threads(old_);
#endif
    }

  private:
    int old_ = 1;
};

inline bool same_bits(const double *a, const double *b, size_t n)
{
    return std::memcmp(a, b, n * sizeof(double)) == 0;
}

// Row counts that straddle the kernels' segment and block sizes.
inline std::vector<int64_t> awkward_sizes() { return {0, 1, 7, 8, 4095, 4097, 8193, 20011}; }

}  // namespace sltest

#endif
