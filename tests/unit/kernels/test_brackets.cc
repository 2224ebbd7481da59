// The bracket pass of exact selection (sl_bracket_rows): every
// instruction-set variant against a plain model of its definition, on signed
// zeros, infinities, missing values, dropped rows, row ranges that do not
// start on a multiple of 8, 0 to 63 bounds, 1 to 32 cells, a mask instead of
// cells, a candidate buffer that fills up, and a cell out of range.
#include "kernel_test.hh"

#include <algorithm>
#include <limits>

extern "C" {
#include "kernels/cpu/cpu_impl.h"
}

using sltest::Rng;

namespace {

struct Pass {
    std::vector<int64_t> hist;
    std::vector<double> cv;
    std::vector<int32_t> cs;
    int64_t n = 0;
    int64_t bad = -1;
};

struct Input {
    std::vector<double> v;
    std::vector<int32_t> cell; // empty: no cells, `mask` (may be empty) drops rows
    std::vector<uint8_t> mask;
};

// What the definition in kernel.h says, written out row by row.
Pass model(const sl_brackets &b, const Input &in, int64_t r0, int64_t r1, int64_t cap)
{
    Pass p;
    p.hist.assign(static_cast<size_t>(SL_BRACKET_LANES * b.stride), 0);
    for (int64_t r = r0; r < r1; r++) {
        size_t ur = static_cast<size_t>(r);
        int64_t c = !in.cell.empty() ? in.cell[ur] : (!in.mask.empty() && !in.mask[ur] ? -1 : 0);
        if (c == -1)
            continue;
        if (c < 0 || c >= b.ncells) {
            p.bad = r;
            break;
        }
        if (std::isnan(in.v[ur]))
            continue;
        uint64_t k = sl_total_key(in.v[ur]);
        int64_t s = 0;
        for (int j = 0; j < b.nbounds; j++)
            if (b.bound[j][c] <= k)
                s++;
        int64_t g = b.seg0[c] + s;
        p.hist[static_cast<size_t>(((r - r0) % SL_BRACKET_LANES) * b.stride + g)]++;
        if ((b.copy[c] >> s) & 1) {
            if (p.n < cap) {
                p.cv.push_back(in.v[ur]);
                p.cs.push_back(static_cast<int32_t>(g));
            }
            p.n++;
        }
    }
    return p;
}

Pass run(const sl_brackets &b, const Input &in, int64_t r0, int64_t r1, int64_t cap)
{
    Pass p;
    std::vector<int64_t> hist(static_cast<size_t>(SL_BRACKET_LANES * b.stride + 1), 0);
    // canaries past cap: nothing may be written there
    std::vector<double> cv(static_cast<size_t>(cap) + SL_BRACKET_LANES, -7.0);
    std::vector<int32_t> cs(static_cast<size_t>(cap) + SL_BRACKET_LANES, -7);
    p.bad = sl_bracket_rows(&b, in.v.data(), in.cell.empty() ? nullptr : in.cell.data(),
                            in.mask.empty() ? nullptr : in.mask.data(), r0, r1, hist.data(),
                            cv.data(), cs.data(), cap, &p.n);
    for (size_t i = static_cast<size_t>(cap); i < cv.size(); i++) {
        EXPECT_EQ(cv[i], -7.0) << "candidate written past cap at " << i;
        EXPECT_EQ(cs[i], -7) << "candidate written past cap at " << i;
    }
    hist.pop_back(); // the scratch counter
    p.hist = hist;
    int64_t kept = std::min(p.n, cap);
    p.cv.assign(cv.begin(), cv.begin() + kept);
    p.cs.assign(cs.begin(), cs.begin() + kept);
    return p;
}

// Bounds drawn from the data's own keys (so that values fall on them),
// ascending and distinct per cell, padded; some cells without bounds.
sl_brackets table(Rng &rng, const Input &in, int ncells, int nbounds)
{
    sl_brackets b{};
    b.ncells = ncells;
    b.nbounds = nbounds;
    int64_t next = 0;
    for (int c = 0; c < ncells; c++) {
        std::vector<uint64_t> keys;
        int own = c == 1 ? 0 : nbounds - static_cast<int>(rng.below(nbounds / 2 + 1));
        while (static_cast<int>(keys.size()) < own) {
            double x = in.v[static_cast<size_t>(rng.below(static_cast<int64_t>(in.v.size())))];
            if (!std::isnan(x))
                keys.push_back(sl_total_key(x) + static_cast<uint64_t>(rng.below(2)));
            std::sort(keys.begin(), keys.end());
            keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
        }
        for (int j = 0; j < nbounds; j++)
            b.bound[j][c] = j < own ? keys[static_cast<size_t>(j)] : UINT64_MAX;
        b.seg0[c] = next;
        next += own + 1;
        b.copy[c] = rng.next() & ((own >= 63 ? 0 : uint64_t{1} << (own + 1)) - 1);
    }
    b.stride = next + 3;
    return b;
}

Input data(Rng &rng, int64_t n, int ncells, int shape)
{
    const double inf = std::numeric_limits<double>::infinity();
    const double specials[] = {0.0, -0.0, inf, -inf, 5e-324, -5e-324, 1e308, -1e308, NAN, 2.5};
    Input in;
    for (int64_t i = 0; i < n; i++) {
        double u = rng.unif();
        in.v.push_back(u < 0.15   ? specials[rng.below(10)]
                       : u < 0.45 ? std::round(rng.normal() * 3) // ties
                                  : rng.normal() * 100);
        if (shape == 0)
            in.cell.push_back(static_cast<int32_t>(rng.below(ncells + 1)) - 1);
        else if (shape == 1)
            in.mask.push_back(rng.unif() < 0.8);
    }
    return in;
}

void expect_same(const Pass &got, const Pass &want, const std::string &what)
{
    EXPECT_EQ(got.bad, want.bad) << what;
    EXPECT_EQ(got.n, want.n) << what;
    EXPECT_EQ(got.hist, want.hist) << what;
    EXPECT_EQ(got.cs, want.cs) << what;
    ASSERT_EQ(got.cv.size(), want.cv.size()) << what;
    // bit for bit (signed zeros), element by element: either may be empty
    for (size_t i = 0; i < got.cv.size(); i++)
        EXPECT_EQ(sl_total_key(got.cv[i]), sl_total_key(want.cv[i])) << what << " candidate " << i;
}

// Runs fn once per instruction set this build and machine have.
template <typename F> int each_isa(F fn)
{
    enum sl_cpu_isa best = sl_cpu_isa_best();
    int tried = 0;
    for (enum sl_cpu_isa isa : {SL_CPU_ISA_GENERIC, SL_CPU_ISA_AVX2, SL_CPU_ISA_AVX512}) {
        if (sl_cpu_isa_select(isa) != SL_OK)
            continue;
        fn(std::string(sl_cpu_isa_name(isa)));
        tried++;
    }
    EXPECT_EQ(sl_cpu_isa_select(best), SL_OK);
    return tried;
}

} // namespace

TEST(Brackets, EveryVariantFollowsTheDefinition)
{
    int cases = 0;
    for (int shape : {0, 1, 2}) // cells; no cells with a mask; no cells, no mask
        for (int ncells : {1, 2, 5, 8, 13, 16, 17, 24, 30, 32}) {
            if (shape > 0 && ncells > 1)
                continue;
            for (int nbounds : {0, 1, 6, 8, 9, 17, 63}) {
                Rng rng(static_cast<uint64_t>(1000 * shape + 100 * ncells + nbounds));
                Input in = data(rng, 3001, ncells, shape);
                sl_brackets b = table(rng, in, ncells, nbounds);
                for (int64_t r0 : {int64_t{0}, int64_t{5}})
                    for (int64_t cap : {int64_t{0}, int64_t{13}, int64_t{100000}}) {
                        Pass want = model(b, in, r0, 2999, cap);
                        std::string what = "shape " + std::to_string(shape) + " cells " +
                                           std::to_string(ncells) + " bounds " +
                                           std::to_string(nbounds) + " r0 " +
                                           std::to_string(r0) + " cap " + std::to_string(cap);
                        EXPECT_GE(each_isa([&](const std::string &isa) {
                                      expect_same(run(b, in, r0, 2999, cap), want,
                                                  what + " " + isa);
                                  }),
                                  1);
                        cases += want.n > 0;
                    }
            }
        }
    EXPECT_GT(cases, 50); // the tables do select candidates
}

TEST(Brackets, StopsAtACellOutOfRange)
{
    Rng rng(3);
    Input in = data(rng, 200, 3, 0);
    sl_brackets b = table(rng, in, 3, 4);
    for (int32_t badcell : {3, -2, 1000}) {
        Input x = in;
        x.cell[77] = badcell;
        x.cell[150] = badcell;
        Pass want = model(b, x, 0, 200, 1000);
        ASSERT_EQ(want.bad, 77);
        each_isa([&](const std::string &isa) {
            expect_same(run(b, x, 0, 200, 1000), want,
                        "cell " + std::to_string(badcell) + " " + isa);
        });
    }
}
