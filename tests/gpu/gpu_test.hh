// gpu_test.hh: what the GPU tests share: a fixture that skips without a
// usable device and lets every size reach the device, a check that a call
// was really served by the GPU (not silently by the CPU fallback), adversarial
// input generators, and the size knob for runs under compute-sanitizer.
#ifndef SL_TESTS_GPU_TEST_HH
#define SL_TESTS_GPU_TEST_HH

#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "tests/unit/kernels/kernel_test.hh"

extern "C" {
#include "kernels/gpu/gpu.h"
}

namespace gputest {

using sltest::Rng;

// SL_GPU_TEST_QUICK=1 (set by perf/gpu_session.sh under compute-sanitizer,
// which runs kernels 10 to 100 times slower) caps the larger sizes.
inline bool quick()
{
    const char *v = std::getenv("SL_GPU_TEST_QUICK");
    return v && *v && std::string(v) != "0";
}

inline int64_t big(int64_t n) { return quick() && n > 70000 ? 70000 : n; }

// Row counts around the GPU kernels' block sizes (256 threads, 4096-row
// segments and pieces, 64-row stages), none a multiple of all of them.
inline std::vector<int64_t> sizes()
{
    return {0, 1, 31, 64, 255, 257, 4095, 4097, 12289, big(262147)};
}

class Gpu : public ::testing::Test {
  protected:
    void SetUp() override
    {
        struct sl_backend *b = nullptr;
        sl_status st = sl_backend_get("gpu", &b);
        if (st == SL_ERR_UNSUPPORTED)
            GTEST_SKIP() << "no usable GPU: " << sl_error_message();
        ASSERT_EQ(st, SL_OK) << sl_error_message();
        gpu_ = b;
        ref_ = sltest::backend("cpu_ref");
        cpu_ = sltest::backend("cpu");
        ASSERT_NE(ref_, nullptr);
        ASSERT_NE(cpu_, nullptr);
        old_min_ = sl_gpu_set_min_rows(0);
    }
    void TearDown() override
    {
        if (gpu_)
            sl_gpu_set_min_rows(old_min_);
    }

    // Runs on the GPU and fails unless the GPU served the call.
    ::testing::AssertionResult on_gpu(enum sl_op op, void *args)
    {
        int64_t before = sl_gpu_calls_served();
        ::testing::AssertionResult r = sltest::run(gpu_, op, args);
        if (!r)
            return r;
        if (sl_gpu_calls_served() != before + 1)
            return ::testing::AssertionFailure()
                   << sl_op_name(op) << ": the gpu backend declined the call";
        return ::testing::AssertionSuccess();
    }

    struct sl_backend *gpu_ = nullptr, *ref_ = nullptr, *cpu_ = nullptr;
    int64_t old_min_ = SL_GPU_MIN_ROWS_DEFAULT;
};

// Values that stress comparisons and sums: signed zeros, infinities,
// denormals, NaNs of both signs, huge magnitudes and many ties.
inline double adversarial(Rng &rng)
{
    const double inf = std::numeric_limits<double>::infinity();
    const double specials[] = {0.0,  -0.0,   inf,          -inf, 4.9e-324, -4.9e-324,
                               1e300, -1e300, 2.2250738585072014e-308, 1.0, -1.0, 0.5};
    double u = rng.unif();
    if (u < 0.05)
        return std::numeric_limits<double>::quiet_NaN();
    if (u < 0.06)
        return -std::numeric_limits<double>::quiet_NaN();
    if (u < 0.2)
        return specials[rng.below(12)];
    if (u < 0.5)
        return std::round(rng.normal() * 3);  // ties
    return rng.normal() * 100;
}

struct Rows {
    std::vector<double> v;
    std::vector<int32_t> cell;
    std::vector<uint8_t> mask;
};

// Finite values (with NaN as missing) or, with `wild`, adversarial ones;
// cells in [-1, ncells) with about 3% dropped and tiny cells for large ncells.
inline Rows make_rows(int64_t n, int64_t ncells, uint64_t seed, bool wild)
{
    Rng rng(seed);
    Rows d;
    for (int64_t i = 0; i < n; i++) {
        d.v.push_back(wild ? adversarial(rng)
                           : (rng.unif() < 0.02 ? std::numeric_limits<double>::quiet_NaN()
                                                : 50 + 10 * rng.normal()));
        d.cell.push_back(rng.unif() < 0.03 ? -1 : static_cast<int32_t>(rng.below(ncells)));
        d.mask.push_back(rng.unif() < 0.9);
    }
    return d;
}

}  // namespace gputest

#endif
