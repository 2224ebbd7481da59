// glm_test_data.hh: the R reference data sets and numbers of tests/data/glm
// (written by make_reference.R), and a model builder that turns one of them
// into IRLS blocks the way the glm job does (complete cases, unused levels
// dropped, reference levels, R's design layout), for driver tests without
// MPI or a cohort.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

extern "C" {
#include "engine/core/alloc.h"
#include "jobs/formula.h"
#include "jobs/glm_fit.h"
#include "kernels/kernel.h"
}

namespace glmtest {

inline std::string data_dir()
{
    const char *d = std::getenv("SL_TEST_DATA");
    return std::string(d && d[0] ? d : "tests/data") + "/glm";
}

// A CSV file as rows of fields; fields may be double-quoted.
inline std::vector<std::vector<std::string>> read_csv(const std::string &path)
{
    std::ifstream in(path);
    EXPECT_TRUE(in.good()) << "cannot read " << path;
    std::vector<std::vector<std::string>> rows;
    std::string line;
    while (std::getline(in, line)) {
        std::vector<std::string> f;
        std::string cur;
        bool q = false;
        for (char c : line) {
            if (c == '"')
                q = !q;
            else if (c == ',' && !q) {
                f.push_back(cur);
                cur.clear();
            } else
                cur += c;
        }
        f.push_back(cur);
        rows.push_back(f);
    }
    return rows;
}

// A CSV as named rows: header -> value per row.
struct Table {
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows;
    int col(const std::string &name) const
    {
        for (size_t i = 0; i < header.size(); i++)
            if (header[i] == name)
                return static_cast<int>(i);
        ADD_FAILURE() << "no column " << name;
        return 0;
    }
    static Table load(const std::string &path)
    {
        Table t;
        auto all = read_csv(path);
        t.header = all.at(0);
        t.rows.assign(all.begin() + 1, all.end());
        return t;
    }
};

inline double num(const std::string &s)
{
    return s == "NA" || s.empty() ? NAN : std::strtod(s.c_str(), nullptr);
}

// Level order of the categorical columns, as the schemas declare them.
inline const std::map<std::string, std::vector<std::string>> &level_order()
{
    static const std::map<std::string, std::vector<std::string>> m = {
        {"race", {"white", "black", "other"}},
        {"sex", {"male", "female"}},
        {"type", {"No", "Yes"}},
        {"g", {"a", "b", "c", "d"}}};
    return m;
}

struct ModelSpec {
    std::string model, data, formula, family, weights, offset, reference;
};

inline std::vector<ModelSpec> model_specs()
{
    Table t = Table::load(data_dir() + "/models.csv");
    std::vector<ModelSpec> out;
    for (auto &r : t.rows)
        out.push_back({r[0], r[1], r[2], r[3], r[4], r[5], r[6]});
    return out;
}

struct FormulaDel {
    void operator()(sl_formula *f) const { sl_formula_destroy(&f); }
};
struct DesignDel {
    void operator()(sl_design *d) const { sl_design_destroy(&d); }
};
struct FitDel {
    void operator()(sl_glm_fit *f) const { sl_glm_fit_destroy(&f); }
};
using Fit = std::unique_ptr<sl_glm_fit, FitDel>;

// A model built from a data set: design blocks and the names of the columns.
struct Built {
    std::unique_ptr<sl_formula, FormulaDel> f;
    std::unique_ptr<sl_design, DesignDel> d;
    std::vector<std::vector<double>> x;           // per block: ldx * (p + 1)
    std::vector<std::vector<double>> y, w, off;
    std::vector<std::vector<uint8_t>> mask;
    std::vector<std::vector<const double *>> cols; // per block: the p design columns
    std::vector<sl_glm_block> blocks;
    enum sl_glm_family family = SL_GLM_GAUSSIAN_IDENTITY;
    bool has_w = false, has_off = false;
    int64_t n_dropped = 0;

    std::vector<std::string> names() const
    {
        return std::vector<std::string>(d->names, d->names + d->ncols);
    }
    sl_glm_problem problem(sl_backend *be, int maxit = 25, double eps = 1e-8)
    {
        blocks.clear();
        cols.clear();
        for (size_t b = 0; b < x.size(); b++) {
            int64_t n = static_cast<int64_t>(y[b].size()), ld = n > 0 ? n : 1;
            cols.emplace_back();
            for (int64_t j = 0; j < d->ncols; j++)
                cols.back().push_back(n > 0 ? x[b].data() + j * ld : nullptr);
        }
        for (size_t b = 0; b < x.size(); b++) {
            int64_t n = static_cast<int64_t>(y[b].size()), ld = n > 0 ? n : 1;
            blocks.push_back(sl_glm_block{n, cols[b].data(),
                                          n > 0 ? x[b].data() + d->ncols * ld : nullptr,
                                          y[b].data(),
                                          has_w ? w[b].data() : nullptr,
                                          has_off ? off[b].data() : nullptr, mask[b].data()});
        }
        return sl_glm_problem{family, d->ncols, f->intercept, has_off,
                              static_cast<int64_t>(blocks.size()), blocks.data(), be,
                              sl_glm_gather_self, nullptr, maxit, eps, nullptr, nullptr};
    }
};

// Builds `spec` from its data set in blocks of `block_rows` rows.
inline std::unique_ptr<Built> build(const ModelSpec &spec, int64_t block_rows)
{
    auto B = std::make_unique<Built>();
    Table t = Table::load(data_dir() + "/" + spec.data + ".csv");
    sl_formula *f = nullptr;
    EXPECT_EQ(sl_formula_parse(spec.formula.c_str(), &f), SL_OK) << sl_error_message();
    B->f.reset(f);
    B->family = spec.family == "binomial" ? SL_GLM_BINOMIAL_LOGIT : SL_GLM_GAUSSIAN_IDENTITY;
    B->has_w = !spec.weights.empty();
    B->has_off = !spec.offset.empty();
    int nv = f->nvars;
    std::vector<int> vcol(nv);
    for (int v = 0; v < nv; v++)
        vcol[v] = t.col(f->vars[v]);
    int ycol = t.col(f->response);
    int wcol = B->has_w ? t.col(spec.weights) : -1, ocol = B->has_off ? t.col(spec.offset) : -1;
    auto is_cat = [&](const std::string &name) { return level_order().count(name) > 0; };
    auto code_of = [&](const std::string &name, const std::string &v) {
        auto &lv = level_order().at(name);
        for (size_t i = 0; i < lv.size(); i++)
            if (lv[i] == v)
                return static_cast<int32_t>(i);
        return static_cast<int32_t>(-1);
    };
    // complete cases
    std::vector<uint8_t> cc(t.rows.size(), 1);
    for (size_t i = 0; i < t.rows.size(); i++) {
        auto missing = [&](int c) {
            return c >= 0 && (t.rows[i][c] == "NA" || t.rows[i][c].empty());
        };
        bool bad = missing(ycol) || missing(wcol) || missing(ocol);
        for (int v = 0; v < nv; v++)
            bad = bad || missing(vcol[v]);
        cc[i] = !bad;
        B->n_dropped += bad;
    }
    // used levels and references
    std::vector<std::vector<std::string>> used(nv);
    std::vector<std::vector<const char *>> labels(nv);
    std::vector<sl_design_var> dv(nv);
    for (int v = 0; v < nv; v++) {
        if (!is_cat(f->vars[v]))
            continue;
        for (auto &l : level_order().at(f->vars[v])) {
            bool any = false;
            for (size_t i = 0; i < t.rows.size(); i++)
                any = any || (cc[i] && t.rows[i][vcol[v]] == l);
            if (any)
                used[v].push_back(l);
        }
        for (auto &s : used[v])
            labels[v].push_back(s.c_str());
        int ref = 0;
        std::string rv = f->vars[v] + std::string("=");
        if (spec.reference.rfind(rv, 0) == 0)
            for (size_t k = 0; k < used[v].size(); k++)
                if (used[v][k] == spec.reference.substr(rv.size()))
                    ref = static_cast<int>(k);
        dv[v] = sl_design_var{true, static_cast<int32_t>(used[v].size()), labels[v].data(), ref};
    }
    sl_design *d = nullptr;
    EXPECT_EQ(sl_design_create(f, dv.data(), &d), SL_OK) << sl_error_message();
    B->d.reset(d);
    int64_t p = d->ncols, nrows = static_cast<int64_t>(t.rows.size());
    for (int64_t r0 = 0; r0 < nrows; r0 += block_rows) {
        int64_t n = std::min(block_rows, nrows - r0);
        std::vector<std::vector<double>> numv(nv, std::vector<double>(n, 0));
        std::vector<std::vector<int32_t>> levv(nv, std::vector<int32_t>(n, -1));
        std::vector<const double *> nump(nv, nullptr);
        std::vector<const int32_t *> levp(nv, nullptr);
        std::vector<double> yb(n, 0), wb(n, 0), ob(n, 0);
        std::vector<uint8_t> mb(n, 0);
        for (int64_t i = 0; i < n; i++) {
            auto &row = t.rows[r0 + i];
            mb[i] = cc[r0 + i];
            if (!mb[i])
                continue;
            for (int v = 0; v < nv; v++) {
                if (is_cat(f->vars[v])) {
                    for (size_t k = 0; k < used[v].size(); k++)
                        if (used[v][k] == row[vcol[v]])
                            levv[v][i] = static_cast<int32_t>(k);
                } else
                    numv[v][i] = num(row[vcol[v]]);
            }
            yb[i] = is_cat(f->response) ? (code_of(f->response, row[ycol]) == 1 ? 1.0 : 0.0)
                                        : num(row[ycol]);
            if (wcol >= 0)
                wb[i] = num(row[wcol]);
            if (ocol >= 0)
                ob[i] = num(row[ocol]);
        }
        for (int v = 0; v < nv; v++) {
            if (is_cat(f->vars[v]))
                levp[v] = levv[v].data();
            else
                nump[v] = numv[v].data();
        }
        std::vector<double> xb(static_cast<size_t>(n * (p + 1)), 0);
        for (int64_t c = 0; c < p; c++)
            sl_design_fill_column(d, c, n, nump.data(), levp.data(), mb.data(), xb.data() + c * n);
        B->x.push_back(std::move(xb));
        B->y.push_back(std::move(yb));
        B->w.push_back(std::move(wb));
        B->off.push_back(std::move(ob));
        B->mask.push_back(std::move(mb));
    }
    return B;
}

inline Fit fit(Built &b, const char *backend = "cpu", int maxit = 25, double eps = 1e-8)
{
    sl_backend *be = nullptr;
    EXPECT_EQ(sl_backend_get(backend, &be), SL_OK);
    sl_glm_problem pr = b.problem(be, maxit, eps);
    sl_glm_fit *out = nullptr;
    sl_status st = sl_glm_fit_run(&pr, &out);
    EXPECT_EQ(st, SL_OK) << sl_error_message();
    return Fit(out);
}

// |a - b| <= rel |b|, with NaN equal to NaN.
inline ::testing::AssertionResult close_rel(double a, double b, double rel)
{
    if (std::isnan(a) && std::isnan(b))
        return ::testing::AssertionSuccess();
    if (std::fabs(a - b) <= rel * std::fabs(b))
        return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << a << " vs " << b << " (relative difference "
           << std::fabs(a - b) / std::fabs(b) << ")";
}

}  // namespace glmtest
