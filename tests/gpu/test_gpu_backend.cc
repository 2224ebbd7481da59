// The gpu backend itself: found by name and preferred by "auto", described
// in the configuration line, small calls declined (and then served exactly by
// the CPU), the device facts and the copy bandwidth the benchmark uses,
// residency hints that change nothing in the results, and concurrent callers.
#include "gpu_test.hh"

#include <thread>

using gputest::Gpu;

namespace {

// Releases the device context (kept copies, scratch, staging, handles) when
// the tests end, so that compute-sanitizer's leak check sees every device
// allocation freed.
class ReleaseBackends : public ::testing::Environment {
  public:
    void TearDown() override { sl_backends_shutdown(); }
};
::testing::Environment *const g_release = ::testing::AddGlobalTestEnvironment(new ReleaseBackends);

// cuBLAS is opened when the first GPU context is made, not linked; opening
// it needs no device, so this runs on machines without one too.
TEST(GpuBlas, OpensOnFirstUseWithoutADevice)
{
    EXPECT_EQ(sl_gpu_blas_open(), SL_OK) << sl_error_message();
    EXPECT_EQ(sl_gpu_blas_open(), SL_OK) << "a second open is the first one";
}

TEST_F(Gpu, RegisteredFirstAndDescribed)
{
    EXPECT_STREQ(sl_backend_name(gpu_), "gpu");
    struct sl_backend *autob = nullptr;
    ASSERT_EQ(sl_backend_get("auto", &autob), SL_OK);
    EXPECT_EQ(autob, gpu_);
    std::string cfg = sl_kernels_config();
    EXPECT_NE(cfg.find("backends gpu,cpu,cpu_ref"), std::string::npos) << cfg;
    EXPECT_NE(cfg.find(sl_gpu_describe()), std::string::npos) << cfg;
}

TEST_F(Gpu, DeclinesSmallCallsWhichTheCpuServesExactly)
{
    sl_gpu_set_min_rows(SL_GPU_MIN_ROWS_DEFAULT);
    gputest::Rows d = gputest::make_rows(1000, 5, 3, false);
    std::vector<int64_t> got(5, 0), want(5, 0);
    struct sl_group_count_args a = {1000, d.cell.data(), d.mask.data(), 5, got.data()};
    struct sl_group_count_args r = {1000, d.cell.data(), d.mask.data(), 5, want.data()};
    int64_t before = sl_gpu_calls_served();
    ASSERT_TRUE(sltest::run(gpu_, SL_OP_GROUP_COUNT, &a));
    EXPECT_EQ(sl_gpu_calls_served(), before) << "a 1000-row call reached the device";
    ASSERT_TRUE(sltest::run(ref_, SL_OP_GROUP_COUNT, &r));
    EXPECT_EQ(got, want);
    // above the threshold the device serves it
    gputest::Rows big = gputest::make_rows(SL_GPU_MIN_ROWS_DEFAULT, 5, 4, false);
    struct sl_group_count_args b = {SL_GPU_MIN_ROWS_DEFAULT, big.cell.data(), nullptr, 5,
                                    got.data()};
    EXPECT_TRUE(on_gpu(SL_OP_GROUP_COUNT, &b));
}

TEST_F(Gpu, DeviceFactsAndCopyBandwidth)
{
    struct sl_gpu_info info;
    ASSERT_EQ(sl_gpu_info_get(&info), SL_OK) << sl_error_message();
    EXPECT_GE(info.cc_major, 9);
    EXPECT_GT(info.multiprocessors, 0);
    EXPECT_GT(info.memory_gib, 1.0);
    EXPECT_GT(info.peak_bandwidth_gbs, 100.0);
    EXPECT_GT(info.fp64_peak_gflops, 1000.0);  // Hopper: 64 FP64 units per SM
    double gbs = 0;
    ASSERT_EQ(sl_gpu_measure_copy_bandwidth(size_t(256) << 20, 5, &gbs), SL_OK)
        << sl_error_message();
    EXPECT_GT(gbs, 100.0);
    EXPECT_LT(gbs, 2 * info.peak_bandwidth_gbs);  // read + write, within reason
    EXPECT_EQ(sl_gpu_measure_copy_bandwidth(0, 5, &gbs), SL_ERR_ARG);
}

TEST_F(Gpu, KeepHintsChangeNoResult)
{
    const int64_t n = 100003, p = 9;
    sltest::Rng rng(21);
    std::vector<double> x(static_cast<size_t>(n * p)), w(static_cast<size_t>(n));
    for (double &v : x)
        v = rng.normal();
    for (double &v : w)
        v = rng.unif();
    auto gram = [&](const double *xp) {
        std::vector<double> g(static_cast<size_t>(p * p), 0);
        auto xc = sltest::columns(xp, n, p);
        struct sl_gram_args a = {n, p, xc.data(), w.data(), nullptr, g.data()};
        EXPECT_TRUE(on_gpu(SL_OP_GRAM, &a));
        return g;
    };
    std::vector<double> plain = gram(x.data());
    // kept: the whole block, then only part of it (too little: X streams as usual)
    ASSERT_EQ(sl_backend_keep(gpu_, x.data(), x.size() * sizeof(double)), SL_OK);
    ASSERT_EQ(sl_backend_keep(gpu_, w.data(), w.size() * sizeof(double)), SL_OK);
    std::vector<double> kept = gram(x.data());
    sl_backend_forget(gpu_, x.data());
    ASSERT_EQ(sl_backend_keep(gpu_, x.data(), static_cast<size_t>(n * 4) * sizeof(double)), SL_OK);
    std::vector<double> part = gram(x.data());
    sl_backend_forget(gpu_, x.data());
    sl_backend_forget(gpu_, w.data());
    sl_backend_forget(gpu_, w.data());  // forgetting twice is harmless
    EXPECT_TRUE(sltest::same_bits(plain.data(), kept.data(), plain.size()));
    EXPECT_TRUE(sltest::same_bits(plain.data(), part.data(), plain.size()));
    EXPECT_EQ(sl_backend_sync(gpu_), SL_OK);
}

TEST_F(Gpu, ConcurrentCallersGetTheSameResults)
{
    const int64_t n = 200001;
    gputest::Rows d = gputest::make_rows(n, 7, 31, false);
    auto moments = [&]() {
        std::vector<sl_moments> out(7);
        struct sl_group_moments_args a = {n, d.v.data(), d.cell.data(), d.mask.data(), 7,
                                          out.data()};
        EXPECT_EQ(sl_kernel_run(gpu_, SL_OP_GROUP_MOMENTS, &a), SL_OK);
        return out;
    };
    std::vector<sl_moments> want = moments();
    std::vector<std::vector<sl_moments>> got(4);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < got.size(); t++)
        threads.emplace_back([&, t]() {
            for (int rep = 0; rep < 3; rep++)
                got[t] = moments();
        });
    for (auto &t : threads)
        t.join();
    for (const auto &g : got)
        EXPECT_EQ(std::memcmp(g.data(), want.data(), want.size() * sizeof(sl_moments)), 0);
}

}  // namespace
