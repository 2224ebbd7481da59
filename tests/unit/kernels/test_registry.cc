// Backend registry and dispatch (kernels/registry.c, dispatch.c): lookup by
// name, argument validation with messages naming the field, fallback from
// the fast CPU backend to cpu_ref, the no-op residency hooks on the CPU, and
// shutdown.
#include "kernel_test.hh"

extern "C" {
#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "kernels/cpu/cpu_impl.h"
}

namespace {

TEST(Registry, LooksUpBackendsByName)
{
    for (const char *name : {"cpu", "cpu_ref"}) {
        struct sl_backend *b = nullptr;
        ASSERT_EQ(sl_backend_get(name, &b), SL_OK);
        EXPECT_STREQ(sl_backend_name(b), name);
    }
    struct sl_backend *autob = nullptr;
    ASSERT_EQ(sl_backend_get("auto", &autob), SL_OK);
    EXPECT_TRUE(std::string(sl_backend_name(autob)) == "cpu" ||
                std::string(sl_backend_name(autob)) == "gpu");
    struct sl_backend *gpu = reinterpret_cast<struct sl_backend *>(1);
    sl_status st = sl_backend_get("gpu", &gpu);
    EXPECT_TRUE(st == SL_OK || st == SL_ERR_UNSUPPORTED) << sl_status_str(st);
    if (st != SL_OK) {
        EXPECT_EQ(gpu, nullptr);
    }
    struct sl_backend *none = reinterpret_cast<struct sl_backend *>(1);
    EXPECT_EQ(sl_backend_get("tpu", &none), SL_ERR_ARG);
    EXPECT_EQ(none, nullptr);
    EXPECT_NE(std::string(sl_error_message()).find("tpu"), std::string::npos);
    EXPECT_EQ(sl_backend_get(nullptr, &none), SL_ERR_ARG);
    EXPECT_STREQ(sl_backend_name(nullptr), "none");
}

TEST(Registry, NamesAndConfiguration)
{
    EXPECT_STREQ(sl_op_name(SL_OP_GRAM), "gram");
    EXPECT_STREQ(sl_op_name(SL_OP_IRLS_STEP), "irls_step");
    EXPECT_STREQ(sl_op_name(static_cast<enum sl_op>(99)), "unknown");
    std::string cfg = sl_kernels_config();
    EXPECT_NE(cfg.find("cpu_ref"), std::string::npos) << cfg;
    EXPECT_NE(cfg.find(sl_cpu_isa_name(sl_cpu_isa_current())), std::string::npos) << cfg;
}

// Every malformed call is refused with SL_ERR_ARG and a message naming what
// is wrong, before any backend sees it.
TEST(Dispatch, ValidatesArguments)
{
    struct sl_backend *b = sltest::backend("cpu");
    ASSERT_NE(b, nullptr);
    int64_t counts[2] = {0, 0};
    double x[4] = {1, 2, 3, 4}, g[4], edges_bad[3] = {0, 2, 1}, edges_nan[2] = {0, NAN};
    double beta_bad[1] = {INFINITY}, y[2] = {0, 1}, z[1];
    sl_moments m[1] = {};
    sl_irls_sums sums = {};
    auto expect_arg = [&](enum sl_op op, void *args, const char *needle) {
        EXPECT_EQ(sl_kernel_run(b, op, args), SL_ERR_ARG) << needle;
        EXPECT_NE(std::string(sl_error_message()).find(needle), std::string::npos)
            << sl_error_message();
    };
    expect_arg(SL_OP_GROUP_COUNT, nullptr, "args is NULL");
    sl_group_count_args c1 = {-1, nullptr, nullptr, 1, counts};
    expect_arg(SL_OP_GROUP_COUNT, &c1, "negative");
    sl_group_count_args c2 = {2, nullptr, nullptr, 0, counts};
    expect_arg(SL_OP_GROUP_COUNT, &c2, "ncells");
    sl_group_count_args c3 = {2, nullptr, nullptr, 1, nullptr};
    expect_arg(SL_OP_GROUP_COUNT, &c3, "counts");
    sl_group_moments_args m1 = {2, nullptr, nullptr, nullptr, 1, m};
    expect_arg(SL_OP_GROUP_MOMENTS, &m1, "values");
    sl_histogram_args h1 = {2, x, nullptr, nullptr, 1, edges_bad, 3, counts, nullptr, nullptr,
                            nullptr};
    expect_arg(SL_OP_HISTOGRAM, &h1, "strictly increasing");
    sl_histogram_args h2 = {2, x, nullptr, nullptr, 1, edges_nan, 2, counts, nullptr, nullptr,
                            nullptr};
    expect_arg(SL_OP_HISTOGRAM, &h2, "not finite");
    sl_histogram_args h3 = {2, x, nullptr, nullptr, 1, edges_nan, 1, counts, nullptr, nullptr,
                            nullptr};
    expect_arg(SL_OP_HISTOGRAM, &h3, "two edges");
    const double *xc[2] = {x, x}, *xhole[2] = {x, nullptr};
    sl_gram_args g1 = {2, 2, xhole, nullptr, nullptr, g};
    expect_arg(SL_OP_GRAM, &g1, "column 1 of x is NULL");
    sl_gram_args g2 = {2, 2, nullptr, nullptr, nullptr, g};
    expect_arg(SL_OP_GRAM, &g2, "x is NULL");
    sl_gram_args g3 = {2, -1, xc, nullptr, nullptr, g};
    expect_arg(SL_OP_GRAM, &g3, "p = -1");
    sl_gram_args g4 = {INT64_MAX / 2, 2, xc, nullptr, nullptr, g};
    expect_arg(SL_OP_GRAM, &g4, "n is too large");
    sl_gram_args g5 = {2, INT64_MAX / 2, xc, nullptr, nullptr, g};
    expect_arg(SL_OP_GRAM, &g5, "p * p overflows");
    sl_irls_step_args i1 = {2, 1, xc, y, nullptr, nullptr, nullptr, beta_bad,
                            SL_GLM_BINOMIAL_LOGIT, g, z, &sums};
    expect_arg(SL_OP_IRLS_STEP, &i1, "beta[0]");
    sl_irls_step_args i2 = {2, 1, xc, y, nullptr, nullptr, nullptr, x,
                            static_cast<sl_glm_family>(7), g, z, &sums};
    expect_arg(SL_OP_IRLS_STEP, &i2, "family");
    sl_irls_step_args i3 = {2, 0, xc, y, nullptr, nullptr, nullptr, x, SL_GLM_BINOMIAL_LOGIT, g,
                            z, &sums};
    expect_arg(SL_OP_IRLS_STEP, &i3, "at least 1");
    sl_sort_f64_args s1 = {2, x, nullptr, nullptr, 1, nullptr, counts, nullptr};
    expect_arg(SL_OP_SORT_F64, &s1, "sorted");
    expect_arg(static_cast<enum sl_op>(42), &c1, "unknown kernel op");
    EXPECT_EQ(sl_kernel_run(nullptr, SL_OP_GROUP_COUNT, &c1), SL_ERR_ARG);
}

TEST(Dispatch, WideGramFallsBackToReference)
{
    // wider than the fast tile kernel serves: "cpu" declines, cpu_ref runs
    const int64_t n = 3, p = SL_GRAM_FAST_PMAX + 2;
    std::vector<double> x(static_cast<size_t>(n * p)), g(static_cast<size_t>(p * p), 0);
    for (size_t i = 0; i < x.size(); i++)
        x[i] = static_cast<double>(i % 7) - 3;
    auto xc = sltest::columns(x.data(), n, p);
    sl_gram_args a = {n, p, xc.data(), nullptr, nullptr, g.data()};
    ASSERT_TRUE(sltest::run(sltest::backend("cpu"), SL_OP_GRAM, &a));
    for (int64_t i : {int64_t{0}, p / 2, p - 1})
        for (int64_t j : {int64_t{0}, p - 1}) {
            double want = 0;
            for (int64_t r = 0; r < n; r++)
                want += x[static_cast<size_t>(r + i * n)] * x[static_cast<size_t>(r + j * n)];
            EXPECT_EQ(g[static_cast<size_t>(i + j * p)], want);
        }
}

TEST(Registry, ResidencyHooksAndShutdown)
{
    struct sl_backend *b = sltest::backend("cpu");
    ASSERT_NE(b, nullptr);
    double data[8] = {};
    EXPECT_EQ(sl_backend_keep(b, data, sizeof data), SL_OK);
    EXPECT_EQ(sl_backend_sync(b), SL_OK);
    sl_backend_forget(b, data);
    EXPECT_EQ(sl_backend_keep(nullptr, data, 8), SL_ERR_ARG);
    sl_backends_shutdown();
    int64_t counts[1] = {0};
    sl_group_count_args a = {1, nullptr, nullptr, 1, counts};
    EXPECT_EQ(sl_kernel_run(b, SL_OP_GROUP_COUNT, &a), SL_ERR_ARG);  // stale handle refused
    b = sltest::backend("cpu");
    ASSERT_NE(b, nullptr);
    EXPECT_TRUE(sltest::run(b, SL_OP_GROUP_COUNT, &a));
    EXPECT_EQ(counts[0], 1);
}

// Every op on both CPU backends, then shutdown: no counted allocation and no
// secret buffer (scratch pool included) outlives the backends.
TEST(Registry, NoAllocationOrSecretBufferOutlivesShutdown)
{
    sl_backends_shutdown();
    const int64_t alloc0 = sl_alloc_live();
    const long secret0 = sl_secbuf_live();
    const int64_t n = 30000;
    std::vector<double> v(n), x(n * 3), g(9), y(n), beta(3, 0.1), xtwz(3), sorted(n);
    std::vector<int32_t> cell(n);
    for (int64_t i = 0; i < n; i++) {
        v[static_cast<size_t>(i)] = static_cast<double>(i % 101) - 50;
        y[static_cast<size_t>(i)] = static_cast<double>(i % 2);
        cell[static_cast<size_t>(i)] = static_cast<int32_t>(i % 3);
        for (int j = 0; j < 3; j++)
            x[static_cast<size_t>(i + j * n)] = static_cast<double>((i * (j + 1)) % 7) - 3;
    }
    for (const char *name : {"cpu", "cpu_ref"}) {
        struct sl_backend *b = sltest::backend(name);
        ASSERT_NE(b, nullptr);
        int64_t counts[3] = {}, hist[6] = {}, start[4];
        sl_moments m[3] = {};
        sl_irls_sums sums = {};
        const double edges[] = {-50, 0, 50};
        sl_group_count_args c = {n, cell.data(), nullptr, 3, counts};
        sl_group_moments_args mo = {n, v.data(), cell.data(), nullptr, 3, m};
        sl_histogram_args h = {n, v.data(), cell.data(), nullptr, 3, edges, 3, hist,
                               nullptr, nullptr, nullptr};
        auto xc = sltest::columns(x.data(), n, 3);
        sl_gram_args gr = {n, 3, xc.data(), nullptr, nullptr, g.data()};
        sl_irls_step_args ir = {n, 3, xc.data(), y.data(), nullptr, nullptr, nullptr,
                                beta.data(), SL_GLM_BINOMIAL_LOGIT, g.data(), xtwz.data(), &sums};
        sl_sort_f64_args so = {n, v.data(), cell.data(), nullptr, 3, sorted.data(), start,
                               nullptr};
        EXPECT_TRUE(sltest::run(b, SL_OP_GROUP_COUNT, &c));
        EXPECT_TRUE(sltest::run(b, SL_OP_GROUP_MOMENTS, &mo));
        EXPECT_TRUE(sltest::run(b, SL_OP_HISTOGRAM, &h));
        EXPECT_TRUE(sltest::run(b, SL_OP_GRAM, &gr));
        EXPECT_TRUE(sltest::run(b, SL_OP_IRLS_STEP, &ir));
        EXPECT_TRUE(sltest::run(b, SL_OP_SORT_F64, &so));
        cell[7] = 5;  // and a failing call
        EXPECT_EQ(sl_kernel_run(b, SL_OP_GROUP_MOMENTS, &mo), SL_ERR_ARG);
        cell[7] = 1;
    }
    sl_backends_shutdown();
    EXPECT_EQ(sl_alloc_live(), alloc0);
    EXPECT_EQ(sl_secbuf_live(), secret0);
}

}  // namespace
