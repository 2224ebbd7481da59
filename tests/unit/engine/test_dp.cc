// Noisy counts (engine/dp.h): the exact samplers against their exact
// probability mass functions, each test paired with a mutant (samples of a
// wrong parameter) that the same test must reject; exact rho arithmetic;
// the budget boundary; noise on a table with margins.
//
// The distribution tests are chi-square tests at level 1e-6 on 200,000
// draws from the production generator (RAND_priv_bytes): a correct sampler
// fails one of them about once in a million runs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "tables.hh"

extern "C" {
#include "engine/dp.h"
#include "engine/rules.h"
#include "engine/table.h"
}

namespace {

constexpr int kDraws = 200000;

struct RngDeleter {
    void operator()(sl_dp_rng *r) const { sl_dp_rng_destroy(&r); }
};
using RngPtr = std::unique_ptr<sl_dp_rng, RngDeleter>;

RngPtr make_rng()
{
    sl_dp_rng *r = nullptr;
    EXPECT_EQ(sl_dp_rng_create(&r), SL_OK);
    return RngPtr(r);
}

// Upper 1e-6 quantile of chi-square with df degrees of freedom
// (Wilson-Hilferty; within about 1% for df >= 3).
double chi2_critical(int df)
{
    const double z = 4.753424;
    double a = 2.0 / (9.0 * df);
    return df * std::pow(1.0 - a + z * std::sqrt(a), 3);
}

// Chi-square statistic of observed integer draws against pmf, bins with an
// expected count below 5 pooled into the two tails. Returns stat / critical
// value: a sampler passes below 1.
double chi2_ratio(const std::map<int64_t, int64_t> &seen, const std::function<double(int64_t)> &pmf,
                  int64_t lo, int64_t hi)
{
    // bins: (-inf, a), a..b one by one, (b, +inf) where every inner bin
    // expects at least 5
    int64_t a = lo, b = hi;
    while (pmf(a) * kDraws < 5 && a < 0)
        a++;
    while (pmf(b) * kDraws < 5 && b > 0)
        b--;
    double below_p = 0, above_p = 0, stat = 0;
    for (int64_t y = lo; y < a; y++)
        below_p += pmf(y);
    for (int64_t y = b + 1; y <= hi; y++)
        above_p += pmf(y);
    int64_t below = 0, above = 0;
    for (const auto &kv : seen) {
        if (kv.first < a)
            below += kv.second;
        else if (kv.first > b)
            above += kv.second;
    }
    int bins = 0;
    auto add = [&](double p, int64_t obs) {
        double e = p * kDraws;
        if (e == 0) {  // an empty tail: any draw there is impossible
            stat += obs > 0 ? INFINITY : 0;
            return;
        }
        stat += (obs - e) * (obs - e) / e;
        bins++;
    };
    add(below_p, below);
    add(above_p, above);
    for (int64_t y = a; y <= b; y++) {
        auto it = seen.find(y);
        add(pmf(y), it == seen.end() ? 0 : it->second);
    }
    return stat / chi2_critical(bins - 1);
}

// kDraws draws of sample(&y), counted by value.
template <typename Sampler> std::map<int64_t, int64_t> draw(Sampler sample)
{
    std::map<int64_t, int64_t> seen;
    for (int i = 0; i < kDraws; i++) {
        int64_t y = 0;
        EXPECT_EQ(sample(&y), SL_OK);
        seen[y]++;
    }
    return seen;
}

std::map<int64_t, int64_t> draw_laplace(sl_dp_rng *r, uint64_t a, uint64_t b)
{
    return draw([&](int64_t *y) { return sl_dp_laplace(r, a, b, y); });
}

std::map<int64_t, int64_t> draw_gaussian(sl_dp_rng *r, uint64_t p, uint64_t q)
{
    return draw([&](int64_t *y) { return sl_dp_gaussian(r, p, q, y); });
}

// Discrete Laplace of scale t: (1 - e^(-1/t)) / (1 + e^(-1/t)) e^(-|y|/t).
std::function<double(int64_t)> laplace_pmf(double t)
{
    double q = std::exp(-1.0 / t);
    return [q, t](int64_t y) { return (1 - q) / (1 + q) * std::exp(-std::fabs((double)y) / t); };
}

// Discrete Gaussian: e^(-y^2 / (2 s2)) normalised over the integers.
std::function<double(int64_t)> gaussian_pmf(double s2)
{
    double z = 0;
    int64_t reach = (int64_t)(60 * std::sqrt(s2)) + 10;
    for (int64_t y = -reach; y <= reach; y++)
        z += std::exp(-(double)y * y / (2 * s2));
    return [z, s2](int64_t y) { return std::exp(-(double)y * y / (2 * s2)) / z; };
}

}  // namespace

TEST(DpSampler, UniformIsExactlyUniform)
{
    auto r = make_rng();
    std::map<int64_t, int64_t> seen;
    for (int i = 0; i < kDraws; i++) {
        uint64_t v = 99;
        ASSERT_EQ(sl_dp_uniform(r.get(), 10, &v), SL_OK);
        ASSERT_LT(v, 10u);
        seen[(int64_t)v]++;
    }
    auto flat = [](int64_t y) { return y >= 0 && y < 10 ? 0.1 : 0.0; };
    EXPECT_LT(chi2_ratio(seen, flat, 0, 9), 1.0);
    // mutant: the same draws judged as if 0 were twice as likely
    auto skewed = [](int64_t y) { return y == 0 ? 2.0 / 11 : y < 10 ? 1.0 / 11 : 0.0; };
    EXPECT_GT(chi2_ratio(seen, skewed, 0, 9), 1.0);
    uint64_t one = 7;
    ASSERT_EQ(sl_dp_uniform(r.get(), 1, &one), SL_OK);
    EXPECT_EQ(one, 0u);
    EXPECT_EQ(sl_dp_uniform(r.get(), 0, &one), SL_ERR_ARG);
}

TEST(DpSampler, BernoulliExpMatchesExpMinusGamma)
{
    auto r = make_rng();
    const uint64_t cases[][2] = {{0, 1}, {1, 3}, {1, 1}, {5, 2}, {7, 1}};
    for (const auto &c : cases) {
        int64_t ones = 0;
        for (int i = 0; i < kDraws; i++) {
            int b = -1;
            ASSERT_EQ(sl_dp_bernoulli_exp(r.get(), c[0], c[1], &b), SL_OK);
            ones += b;
        }
        double p = std::exp(-(double)c[0] / (double)c[1]);
        double tol = 5.3 * std::sqrt(p * (1 - p) / kDraws) + 1e-12;
        double got = (double)ones / kDraws;
        EXPECT_NEAR(got, p, tol) << c[0] << "/" << c[1];
        // mutant: exp(-0.9 gamma) is rejected (gamma > 0)
        if (c[0] > 0) {
            EXPECT_GT(std::fabs(got - std::exp(-0.9 * (double)c[0] / (double)c[1])), tol)
                << c[0] << "/" << c[1];
        }
    }
}

TEST(DpSampler, DiscreteLaplaceMatchesItsPmf)
{
    auto r = make_rng();
    auto unit = draw_laplace(r.get(), 1, 1);
    EXPECT_LT(chi2_ratio(unit, laplace_pmf(1.0), -200, 200), 1.0);
    auto seven_thirds = draw_laplace(r.get(), 7, 3);
    EXPECT_LT(chi2_ratio(seven_thirds, laplace_pmf(7.0 / 3), -400, 400), 1.0);
    // mutants: scale 7/3 judged as scale 2, scale 1 as 1.15
    EXPECT_GT(chi2_ratio(seven_thirds, laplace_pmf(2.0), -400, 400), 1.0);
    EXPECT_GT(chi2_ratio(unit, laplace_pmf(1.15), -200, 200), 1.0);
    int64_t y;
    EXPECT_EQ(sl_dp_laplace(r.get(), 0, 1, &y), SL_ERR_ARG);
}

TEST(DpSampler, DiscreteGaussianMatchesItsPmf)
{
    auto r = make_rng();
    auto one = draw_gaussian(r.get(), 1, 1);
    EXPECT_LT(chi2_ratio(one, gaussian_pmf(1.0), -100, 100), 1.0);
    auto nine_quarters = draw_gaussian(r.get(), 9, 4);
    EXPECT_LT(chi2_ratio(nine_quarters, gaussian_pmf(2.25), -100, 100), 1.0);
    auto hundred = draw_gaussian(r.get(), 100, 1);
    EXPECT_LT(chi2_ratio(hundred, gaussian_pmf(100.0), -1000, 1000), 1.0);
    // mutants: variance 9/4 judged as 2, 100 as 110
    EXPECT_GT(chi2_ratio(nine_quarters, gaussian_pmf(2.0), -100, 100), 1.0);
    EXPECT_GT(chi2_ratio(hundred, gaussian_pmf(110.0), -1000, 1000), 1.0);
    int64_t y;
    EXPECT_EQ(sl_dp_gaussian(r.get(), (UINT64_C(1) << 42) + 1, 1, &y), SL_ERR_ARG);
    EXPECT_EQ(sl_dp_gaussian(r.get(), 1, (1u << 25) + 1, &y), SL_ERR_ARG);
    EXPECT_EQ(sl_dp_gaussian(r.get(), 0, 1, &y), SL_ERR_ARG);
}

// Variances too wide for a chi-square over every value, up to the largest
// the sampler takes (2^42): the sample variance within 5 standard errors of
// sigma^2, 10% more rejected, and the mean within 5 standard errors of 0.
TEST(DpSampler, WideDiscreteGaussianHasItsVariance)
{
    auto r = make_rng();
    const uint64_t cases[][2] = {{UINT64_C(1) << 42, 1}, {UINT64_C(1) << 36, 3},
                                 {UINT64_C(1000000) * 1024 * 1024 * 4, 9999999}};
    for (const auto &c : cases) {
        double s2 = (double)c[0] / (double)c[1], sum = 0, sq = 0;
        for (int i = 0; i < kDraws; i++) {
            int64_t y = 0;
            ASSERT_EQ(sl_dp_gaussian(r.get(), c[0], c[1], &y), SL_OK);
            sum += (double)y;
            sq += (double)y * (double)y;
        }
        double mean = sum / kDraws, var = sq / kDraws - mean * mean;
        double se = s2 * std::sqrt(2.0 / kDraws);
        EXPECT_NEAR(var, s2, 5 * se) << c[0] << "/" << c[1];
        EXPECT_GT(std::fabs(var - 1.1 * s2), 5 * se) << c[0] << "/" << c[1];  // mutant
        EXPECT_NEAR(mean, 0, 5 * std::sqrt(s2 / kDraws)) << c[0] << "/" << c[1];
    }
}

TEST(DpSampler, ExponentialMechanismMatchesItsDistribution)
{
    auto r = make_rng();
    const uint64_t scores[] = {3, 0, 1, 7, 2, 12};
    std::map<int64_t, int64_t> seen;
    for (int i = 0; i < kDraws; i++) {
        int64_t j = -1;
        ASSERT_EQ(sl_dp_em_select(r.get(), scores, 6, sl_ratio{3, 2}, &j), SL_OK);
        seen[j]++;
    }
    // P(j) proportional to exp(-eps s_j / 2)
    auto em = [&](double eps) {
        double z = 0;
        for (uint64_t sc : scores)
            z += std::exp(-eps * (double)sc / 2);
        return [eps, z, &scores](int64_t j) {
            return j >= 0 && j < 6 ? std::exp(-eps * (double)scores[j] / 2) / z : 0.0;
        };
    };
    EXPECT_LT(chi2_ratio(seen, em(1.5), 0, 5), 1.0);
    EXPECT_GT(chi2_ratio(seen, em(1.3), 0, 5), 1.0);  // mutant: another epsilon
    int64_t j;
    EXPECT_EQ(sl_dp_em_select(r.get(), scores, 6, sl_ratio{0, 1}, &j), SL_ERR_ARG);
    EXPECT_EQ(sl_dp_em_select(r.get(), scores, 0, sl_ratio{1, 1}, &j), SL_ERR_ARG);
}

TEST(DpAccounting, EpsilonOfRhoMatchesTheConversionTable)
{
    // (rho, delta) -> epsilon of the conversion (reference figures, 6
    // decimals); the bound is never below them and at most 1e-6 above
    const double cases[][3] = {{0.01, 1e-6, 0.621693}, {0.05, 1e-6, 1.471595},
                               {0.1, 1e-5, 1.914239},  {0.1, 1e-6, 2.141939},
                               {0.5, 1e-5, 4.728387},  {0.5, 1e-6, 5.221534},
                               {1.0, 1e-6, 7.766217},  {1.0, 1e-9, 9.521464},
                               {2.0, 1e-6, 11.688596}};
    for (const auto &c : cases) {
        double eps = sl_dp_epsilon(c[0], c[1]);
        EXPECT_GE(eps, c[2] - 5e-7) << c[0] << " " << c[1];
        EXPECT_LE(eps, c[2] + 1.5e-6) << c[0] << " " << c[1];
        // and below the simple bound rho + 2 sqrt(rho log(1/delta))
        EXPECT_LT(eps, c[0] + 2 * std::sqrt(c[0] * std::log(1 / c[1])));
    }
    EXPECT_EQ(sl_dp_epsilon(0, 1e-6), 0);
}

TEST(DpUnits, FormatAndParseAreExact)
{
    char buf[48];
    sl_dp_units_format(SL_DP_UNITS / 200, buf, sizeof buf);
    EXPECT_STREQ(buf, "0.005");
    sl_dp_units_format(0, buf, sizeof buf);
    EXPECT_STREQ(buf, "0");
    sl_dp_units_format(1, buf, sizeof buf);
    EXPECT_STREQ(buf, "0.0000000000005");
    sl_dp_units_format(3 * SL_DP_UNITS + 1, buf, sizeof buf);
    EXPECT_STREQ(buf, "3.0000000000005");
    int64_t u = -1;
    EXPECT_TRUE(sl_dp_units_parse("0.005", &u));
    EXPECT_EQ(u, SL_DP_UNITS / 200);
    EXPECT_TRUE(sl_dp_units_parse("3.0000000000005", &u));
    EXPECT_EQ(u, 3 * SL_DP_UNITS + 1);
    EXPECT_TRUE(sl_dp_units_parse("12", &u));
    EXPECT_EQ(u, 12 * SL_DP_UNITS);
    // not a whole number of units, too many decimals, signs, junk
    EXPECT_FALSE(sl_dp_units_parse("0.0000000000001", &u));
    EXPECT_FALSE(sl_dp_units_parse("0.00000000000050", &u));
    EXPECT_FALSE(sl_dp_units_parse("-1", &u));
    EXPECT_FALSE(sl_dp_units_parse("1.", &u));
    EXPECT_FALSE(sl_dp_units_parse(".5", &u));
    EXPECT_FALSE(sl_dp_units_parse("1e-3", &u));
    EXPECT_FALSE(sl_dp_units_parse("", &u));
    EXPECT_FALSE(sl_dp_units_parse("1000001", &u));
}

namespace {

using sltest::rule_status;
using sltest::TablePtr;

// A 2 x 3 crosstab with margins: 3 x 4 cells, the last level "Total".
TablePtr crosstab(const int64_t (&inner)[2][3])
{
    static const char *rows[] = {"a", "b", "Total"};
    static const char *cols[] = {"x", "y", "z", "Total"};
    sl_dim dims[2] = {{const_cast<char *>("r"), 3, const_cast<char **>(rows), nullptr},
                      {const_cast<char *>("c"), 4, const_cast<char **>(cols), nullptr}};
    sl_table *t = nullptr;
    EXPECT_EQ(sl_table_create("ct", "crosstab", 2, dims, &t), SL_OK);
    t->margins = 1;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) {
            int64_t v = 0;
            for (int a = 0; a < 2; a++)
                for (int b = 0; b < 3; b++)
                    if ((i == 2 || i == a) && (j == 3 || j == b))
                        v += inner[a][b];
            t->n[i * 4 + j] = v;
        }
    return TablePtr(t);
}

sl_dp_request gaussian(int64_t num, int64_t den)
{
    sl_dp_request q{};
    q.mechanism = SL_DP_GAUSSIAN;
    q.param = {num, den};
    q.units = num * (SL_DP_UNITS / den);
    return q;
}

// What the engine does with a noisy output whose charge fits: judge the
// budget (exactly spent), then noise under the default rules.
void noisy_release(sl_table *t, const sl_dp_request &req)
{
    sl_rules rules;
    sl_rules_default(&rules);
    auto rng = make_rng();
    int charge = 0;
    ASSERT_EQ(sl_dp_judge_budget(t, &req, 0, req.units, 1e-6, &charge), SL_OK);
    ASSERT_EQ(charge, 1);
    ASSERT_EQ(sl_dp_apply(t, &req, &rules, rng.get()), SL_OK);
}

}  // namespace

TEST(DpRelease, BudgetBoundaryIsInclusive)
{
    const int64_t inner[2][3] = {{50, 60, 70}, {80, 90, 100}};
    auto need = gaussian(5, 1000);
    const int64_t budget = 2 * need.units;
    int charge = -1;

    auto t = crosstab(inner);
    ASSERT_EQ(sl_dp_judge_budget(t.get(), &need, need.units, budget, 1e-6, &charge), SL_OK);
    EXPECT_EQ(charge, 1);  // exactly the rest of the budget
    EXPECT_EQ(t->decision, SL_DECISION_PASS);
    EXPECT_EQ(rule_status(t.get(), "privacy_budget"), "pass");

    auto u = crosstab(inner);
    ASSERT_EQ(sl_dp_judge_budget(u.get(), &need, need.units + 1, budget, 1e-6, &charge), SL_OK);
    EXPECT_EQ(charge, 0);  // one unit of rho too many
    EXPECT_EQ(u->decision, SL_DECISION_FAIL);
    EXPECT_EQ(rule_status(u.get(), "privacy_budget"), "fail");
}

TEST(DpRelease, NoiseKeepsMarginsConsistentAndWithholdsSmallCells)
{
    // rho 0.5: sigma^2 = 1, so cells of 0 stay below the threshold of 10
    // (a draw of 10 or more has probability below 1e-21) and cells of 1000
    // stay above it
    const int64_t inner[2][3] = {{1000, 0, 1000}, {0, 1000, 1000}};
    auto t = crosstab(inner);
    noisy_release(t.get(), gaussian(5, 10));
    ASSERT_NE(t->withheld, nullptr);
    EXPECT_TRUE(t->withheld[0 * 4 + 1] & SL_WITHHELD_CELL);
    EXPECT_TRUE(t->withheld[1 * 4 + 0] & SL_WITHHELD_CELL);
    int64_t sum_all = 0;
    for (int i = 0; i < 2; i++) {
        int64_t row = 0;
        for (int j = 0; j < 3; j++) {
            int64_t v = t->n[i * 4 + j];
            if (inner[i][j] == 1000) {
                EXPECT_FALSE(t->withheld[i * 4 + j]);
                EXPECT_GT(v, 950);
                EXPECT_LT(v, 1050);
            }
            row += v;
        }
        // withheld cells were near zero; the margin holds their noisy value
        EXPECT_GE(t->n[i * 4 + 3], row);
        EXPECT_LT(t->n[i * 4 + 3], row + 10);
        sum_all += t->n[i * 4 + 3];
    }
    EXPECT_EQ(t->n[2 * 4 + 3], sum_all);
    EXPECT_EQ(t->decision, SL_DECISION_PASS);
    EXPECT_EQ(rule_status(t.get(), "dp_threshold"), "pass");
}

TEST(DpRelease, RefusesStatisticsItCannotNoise)
{
    const int64_t inner[2][3] = {{50, 60, 70}, {80, 90, 100}};
    auto req = gaussian(5, 1000);
    sl_rules rules;
    sl_rules_default(&rules);
    auto rng = make_rng();
    // a statistic without the exact aggregates noise needs
    auto t = crosstab(inner);
    int index = -1;
    ASSERT_EQ(sl_table_add_stat(t.get(), "mean", SL_STAT_MEAN, &index), SL_OK);
    EXPECT_EQ(sl_dp_apply(t.get(), &req, &rules, rng.get()), SL_ERR_ARG);
    // with them, a statistic they do not give (sd)
    auto u = crosstab(inner);
    int mean = -1, sd = -1;
    ASSERT_EQ(sl_table_add_stat(u.get(), "mean", SL_STAT_MEAN, &mean), SL_OK);
    ASSERT_EQ(sl_table_add_stat(u.get(), "sd", SL_STAT_SD, &sd), SL_OK);
    ASSERT_EQ(sl_table_enable_dp_values(u.get(), 0, 100), SL_OK);
    u->dp_values->mean_stat = mean;
    EXPECT_EQ(sl_dp_apply(u.get(), &req, &rules, rng.get()), SL_ERR_ARG);
    EXPECT_EQ(sl_table_enable_dp_values(u.get(), 5, 5), SL_ERR_ARG);
}

TEST(DpRelease, LatticeClampsAndRounds)
{
    sl_dp_values dv{};
    sl_dp_values_bounds(&dv, 10, 70);  // center 40, step 60 / 2048
    EXPECT_EQ(sl_dp_lattice(&dv, 40), 0);
    EXPECT_EQ(sl_dp_lattice(&dv, 70), SL_DP_RADIUS);
    EXPECT_EQ(sl_dp_lattice(&dv, 1e300), SL_DP_RADIUS);
    EXPECT_EQ(sl_dp_lattice(&dv, 10), -SL_DP_RADIUS);
    EXPECT_EQ(sl_dp_lattice(&dv, -INFINITY), -SL_DP_RADIUS);
    EXPECT_EQ(sl_dp_lattice(&dv, 40 + 60.0 / 2048 * 0.6), 1);
    EXPECT_EQ(sl_dp_lattice(&dv, 40 - 60.0 / 2048 * 7.4), -7);
}

// Noisy sums and means: a 2 x 3 crosstab with margins of patients whose
// values are known; rho 2 leaves the noise small enough to check the
// results against the truth, margins consistent, small cells' statistics
// withheld.
TEST(DpRelease, NoisySumsAndMeansFollowTheTruth)
{
    const int64_t inner[2][3] = {{4000, 3000, 5}, {2000, 1000, 1000}};
    auto t = crosstab(inner);
    int sum = -1, mean = -1;
    ASSERT_EQ(sl_table_add_stat(t.get(), "sum", SL_STAT_SUM, &sum), SL_OK);
    ASSERT_EQ(sl_table_add_stat(t.get(), "mean", SL_STAT_MEAN, &mean), SL_OK);
    int present = -1;
    ASSERT_EQ(sl_table_add_stat(t.get(), "present", SL_STAT_COUNT, &present), SL_OK);
    int64_t *support = nullptr;
    ASSERT_EQ(sl_table_stat_support(t.get(), sum, &support), SL_OK);
    ASSERT_EQ(sl_table_enable_dp_values(t.get(), 0, 100), SL_OK);
    sl_dp_values *dv = t->dp_values;
    dv->sum_stat = sum;
    dv->mean_stat = mean;
    dv->present_stat = present;
    // every patient of row a has value 30, of row b 80 (lattice points of
    // (x - 50) / (100 / 2048)); margins exact like a job type gives them
    const double value[2] = {30, 80};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) {
            int64_t p = 0, k = 0;
            for (int a = 0; a < 2; a++)
                for (int b = 0; b < 3; b++)
                    if ((i == 2 || i == a) && (j == 3 || j == b)) {
                        p += inner[a][b];
                        k += inner[a][b] * sl_dp_lattice(dv, value[a]);
                    }
            dv->present[i * 4 + j] = p;
            dv->lattice[i * 4 + j] = k;
        }
    noisy_release(t.get(), gaussian(2, 1));
    // sums: center * noisy present + step * noisy lattice sum; noise sd
    // sqrt((50 * 1)^2 + (1024 * step * sqrt(2 / (2 rho)))^2) = sqrt(50^2 + 35.4^2) = 61
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 3; b++) {
            int64_t c = a * 4 + b;
            if (inner[a][b] < 10) {
                EXPECT_TRUE(t->withheld[c] & (SL_WITHHELD_STATS | SL_WITHHELD_CELL)) << c;
                continue;
            }
            EXPECT_NEAR(t->stats[sum].v[c], value[a] * inner[a][b], 6 * 61.3) << c;
            EXPECT_NEAR(t->stats[mean].v[c], value[a], 6 * 61.3 / inner[a][b]) << c;
            EXPECT_NEAR(t->stats[sum].support[c], inner[a][b], 6) << c;
            EXPECT_EQ(t->stats[present].v[c], (double)t->stats[sum].support[c]) << c;
        }
    // margins of the noisy present counts and lattice sums are their sums
    for (int64_t j = 0; j < 3; j++) {
        EXPECT_EQ(dv->present[2 * 4 + j], dv->present[0 * 4 + j] + dv->present[1 * 4 + j]);
        EXPECT_EQ(dv->lattice[2 * 4 + j], dv->lattice[0 * 4 + j] + dv->lattice[1 * 4 + j]);
    }
    EXPECT_NEAR(t->stats[mean].v[2 * 4 + 3], (30.0 * 7005 + 80.0 * 4000) / 11005, 0.05);
    EXPECT_EQ(rule_status(t.get(), "privacy_budget"), "pass");
    EXPECT_EQ(rule_status(t.get(), "dp_threshold"), "pass");
}

namespace {

// The released count of a one-cell table (reused) of n patients, noise by
// `req`.
int64_t release_count(sl_table *t, int64_t n, const sl_dp_request &req, sl_dp_rng *rng)
{
    sl_rules rules;
    sl_rules_default(&rules);
    rules.min_safe_count = 0;  // nothing withheld: the audit sees every output
    t->n[0] = n;
    json_decref(t->verdicts);
    t->verdicts = json_array();  // what sl_dp_judge_budget starts (charged by the caller)
    EXPECT_EQ(sl_dp_apply(t, &req, &rules, rng), SL_OK);
    return t->n[0];
}

// Releases per cohort size in the audit: each goes through the whole
// noise path, which allocates, and the sanitizer build's malloc is slow.
constexpr int kAuditDraws = 20000;

// Lower confidence bound (5 standard errors) on log(P(A | a) / P(A | b)),
// A = {released count <= a}, from kAuditDraws releases of each cohort size.
double loss_lower_bound(int64_t a, int64_t b, const sl_dp_request &req, sl_dp_rng *rng)
{
    int64_t in_a = 0, in_b = 0;
    sl_table *raw = nullptr;
    EXPECT_EQ(sl_table_create("n", "count", 0, nullptr, &raw), SL_OK);
    TablePtr t(raw);
    for (int i = 0; i < kAuditDraws; i++) {
        in_a += release_count(t.get(), a, req, rng) <= a;
        in_b += release_count(t.get(), b, req, rng) <= a;
    }
    double pa = (double)in_a / kAuditDraws, pb = (double)in_b / kAuditDraws;
    double se = std::sqrt((1 - pa) / (kAuditDraws * pa) + (1 - pb) / (kAuditDraws * pb));
    return std::log(pa / pb) - 5 * se;
}

}  // namespace

// A black-box audit of the whole release path: for cohorts that differ by
// one patient, the event "count <= n" is e^epsilon times likelier for the
// smaller one (the worst case of the discrete Laplace), so its estimated
// log-ratio must not exceed epsilon; a difference of two patients (what a
// sensitivity-1 claim does not cover) must show more.
TEST(DpAudit, OnePatientChangesTheReleaseByAtMostEpsilon)
{
    auto rng = make_rng();
    sl_dp_request req{};
    req.mechanism = SL_DP_LAPLACE;
    req.param = {1, 2};  // epsilon 0.5
    req.units = SL_DP_UNITS / 8;
    // the bound's standard error is about 0.011 here: a correct mechanism
    // gives about 0.447, so it stays below 0.5 and above 0.38 (and a
    // mechanism that lost nothing would give about -0.05)
    double one = loss_lower_bound(100, 101, req, rng.get());
    EXPECT_LT(one, 0.5);
    EXPECT_GT(one, 0.38);  // and the worst case is reached: the audit can see a loss
    // mutant: two patients apart, the loss is 2 epsilon
    EXPECT_GT(loss_lower_bound(100, 102, req, rng.get()), 0.5);
}

// Noisy medians: the exponential mechanism over the lattice points of each
// interior cell; with a large epsilon it lands next to the true median,
// margin cells get none, and the exact counts per point are wiped.
TEST(DpRelease, NoisyMedianLandsNearTheMedian)
{
    static const char *levels[] = {"a", "b"};
    sl_dim dim{const_cast<char *>("g"), 2, const_cast<char **>(levels), nullptr};
    sl_table *raw = nullptr;
    ASSERT_EQ(sl_table_create("d", "describe", 1, &dim, &raw), SL_OK);
    TablePtr t(raw);
    int median = -1, present = -1;
    ASSERT_EQ(sl_table_add_stat(t.get(), "present", SL_STAT_COUNT, &present), SL_OK);
    ASSERT_EQ(sl_table_add_stat(t.get(), "median", SL_STAT_QUANTILE, &median), SL_OK);
    ASSERT_EQ(sl_table_enable_dp_values(t.get(), 0, 2048), SL_OK);  // step 1, center 1024
    ASSERT_EQ(sl_table_enable_dp_hist(t.get()), SL_OK);
    sl_dp_values *dv = t->dp_values;
    dv->present_stat = present;
    dv->median_stat = median;
    // cell a: 3000 patients at 100 .. 399 (median 249.5), cell b: 2000 at 1500
    for (int64_t x = 100; x < 400; x++) {
        dv->hist[0 * SL_DP_POINTS + SL_DP_RADIUS + sl_dp_lattice(dv, (double)x)] += 10;
        dv->lattice[0] += 10 * sl_dp_lattice(dv, (double)x);
    }
    dv->hist[1 * SL_DP_POINTS + SL_DP_RADIUS + sl_dp_lattice(dv, 1500)] = 2000;
    dv->lattice[1] = 2000 * sl_dp_lattice(dv, 1500);
    t->n[0] = dv->present[0] = 3000;
    t->n[1] = dv->present[1] = 2000;
    sl_dp_request req{};
    req.mechanism = SL_DP_LAPLACE;
    req.param = {4, 1};  // epsilon 4: the median's mechanism gets 1
    req.units = 16 * SL_DP_UNITS / 2;
    noisy_release(t.get(), req);
    // a candidate k points from the median scores about 20 k: chosen with
    // weight exp(-10 k), so within 3 points
    EXPECT_NEAR(t->stats[median].v[0], 249.5, 3);
    EXPECT_NEAR(t->stats[median].v[1], 1500, 2);
    for (int64_t i = 0; i < 2 * SL_DP_POINTS; i++)
        ASSERT_EQ(dv->hist[i], 0) << i;
    // the evidence names the median's mechanism and its epsilon
    auto median_query = [&]() {
        const json_t *v = sltest::rule_verdict(t.get(), "privacy_budget");
        return json_array_get(json_object_get(json_object_get(v, "evidence"), "queries"), 3);
    };
    const json_t *q = median_query();
    EXPECT_STREQ(json_string_value(json_object_get(q, "epsilon")), "1");
    EXPECT_STREQ(json_string_value(json_object_get(q, "share")), "1/4");
    // for rho 0.01, a quarter is 0.0025 = epsilon^2 / 8 at epsilon 0.1414213...,
    // taken down to 6 decimals
    auto rho = gaussian(1, 100);
    int charge = 0;
    ASSERT_EQ(sl_dp_judge_budget(t.get(), &rho, 0, rho.units, 1e-6, &charge), SL_OK);
    q = median_query();
    EXPECT_STREQ(json_string_value(json_object_get(q, "epsilon")), "0.141421");
}

// The noise each query of a noisy output gets matches its share of the
// request (what the evidence states): rho 1 on a one-cell table with a
// value column gives variances 4/(2 rho) = 2 to the counts and
// 1024^2 * 2/(2 rho) = 2^20 to the lattice sum, or 2^21 with a median
// (shares of 1/4 each). Sample variances over 4000 releases within 5
// standard errors (about 11%); a share off by a factor of 2 is outside.
TEST(DpRelease, NoiseScalesMatchTheirShares)
{
    auto rng = make_rng();
    sl_rules rules;
    sl_rules_default(&rules);
    const auto req = gaussian(1, 1);
    for (int with_median = 0; with_median < 2; with_median++) {
        double sq[3] = {0, 0, 0};
        const int runs = 4000;
        for (int i = 0; i < runs; i++) {
            sl_table *raw = nullptr;
            ASSERT_EQ(sl_table_create("v", "describe", 0, nullptr, &raw), SL_OK);
            TablePtr t(raw);
            int mean = -1, median = -1;
            ASSERT_EQ(sl_table_add_stat(t.get(), "mean", SL_STAT_MEAN, &mean), SL_OK);
            ASSERT_EQ(sl_table_enable_dp_values(t.get(), 0, 2048), SL_OK);
            t->dp_values->mean_stat = mean;
            if (with_median) {
                ASSERT_EQ(sl_table_add_stat(t.get(), "median", SL_STAT_QUANTILE, &median),
                          SL_OK);
                ASSERT_EQ(sl_table_enable_dp_hist(t.get()), SL_OK);
                t->dp_values->median_stat = median;
                t->dp_values->hist[SL_DP_RADIUS] = 1000;
            }
            t->n[0] = t->dp_values->present[0] = 1000;
            t->verdicts = json_array();
            ASSERT_EQ(sl_dp_apply(t.get(), &req, &rules, rng.get()), SL_OK);
            const double d[3] = {(double)t->n[0] - 1000, (double)t->dp_values->present[0] - 1000,
                                 (double)t->dp_values->lattice[0]};
            for (int k = 0; k < 3; k++)
                sq[k] += d[k] * d[k];
        }
        const double want[3] = {2, 2, with_median ? 2097152.0 : 1048576.0};
        for (int k = 0; k < 3; k++) {
            double var = sq[k] / runs, se = want[k] * std::sqrt(2.0 / runs);
            EXPECT_NEAR(var, want[k], 5 * se) << "query " << k << " median " << with_median;
            EXPECT_GT(std::fabs(var - 2 * want[k]), 5 * se);  // a share off by 2
        }
    }
}
