// The release report (report.html) and results.json as written by the
// release: well-formed, escaped, self-contained HTML with failing cells
// highlighted; no values of failing outputs or withheld cells anywhere.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tables.hh"

extern "C" {
#include "engine/gate.h"
#include "engine/ledger.h"
#include "engine/mitigate.h"
#include "engine/release.h"
#include "engine/report.h"
#include "engine/rules.h"
#include "engine/table.h"
}

namespace {

const char *kEvil = "<script>alert(\"x\")</script> & 'co'";

std::string slurp(const std::string &path)
{
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

// Every opened tag is closed, in order (void elements excepted); no raw '<'
// or '>' outside tags; no unescaped '&'.
std::string well_formed(const std::string &html)
{
    static const std::set<std::string> voids = {"meta", "br", "hr", "img", "input", "link",
                                                "col", "wbr", "area", "base", "source"};
    std::vector<std::string> stack;
    size_t i = 0;
    while (i < html.size()) {
        char ch = html[i];
        if (ch == '>')
            return "raw '>' in text at " + std::to_string(i);
        if (ch == '&') {
            size_t semi = html.find(';', i);
            if (semi == std::string::npos || semi - i > 8)
                return "raw '&' at " + std::to_string(i);
            i = semi + 1;
            continue;
        }
        if (ch != '<') {
            i++;
            continue;
        }
        size_t end = html.find('>', i);
        if (end == std::string::npos)
            return "unterminated tag at " + std::to_string(i);
        std::string tag = html.substr(i + 1, end - i - 1);
        if (tag.find('<') != std::string::npos)
            return "'<' inside tag at " + std::to_string(i);
        i = end + 1;
        if (tag.rfind("!DOCTYPE", 0) == 0)
            continue;
        bool closing = !tag.empty() && tag[0] == '/';
        std::string name = tag.substr(closing ? 1 : 0);
        name = name.substr(0, name.find_first_of(" \t\n/"));
        if (closing) {
            if (stack.empty() || stack.back() != name)
                return "</" + name + "> closes <" + (stack.empty() ? "" : stack.back()) + ">";
            stack.pop_back();
        } else if (!voids.count(name)) {
            stack.push_back(name);
            if (name == "style") {
                size_t close = html.find("</style>", i);
                if (close == std::string::npos)
                    return "unclosed style";
                i = close;
            }
        }
    }
    return stack.empty() ? "" : "unclosed <" + stack.back() + ">";
}

using sltest::TablePtr;

TablePtr table(const char *name, std::vector<int64_t> counts, bool margins)
{
    std::vector<const char *> lv = {kEvil, "plain", "third", "fourth"};
    lv.resize(counts.size());
    if (margins)
        lv.push_back("Total");
    sl_dim d{const_cast<char *>("group <g>"), static_cast<int32_t>(lv.size()),
             const_cast<char **>(lv.data()), nullptr};
    sl_table *t = nullptr;
    EXPECT_EQ(sl_table_create(name, "count", 1, &d, &t), SL_OK);
    t->margins = margins;
    int64_t total = 0;
    for (size_t c = 0; c < counts.size(); c++) {
        t->n[c] = counts[c];
        total += counts[c];
    }
    if (margins)
        t->n[counts.size()] = total;
    t->spec = json_pack("{s:s,s:s}", "type", "count", "note", kEvil);
    return TablePtr(t);
}

class Report : public ::testing::Test {
protected:
    void SetUp() override
    {
        char tmpl[] = "/tmp/sluice-report-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        sl_rules r;
        sl_rules_default(&r);
        auto pass = table("fine", {120, 130}, false);
        auto fail = table("bad", {3, 130}, false);
        auto held = table("held", {4, 131, 240}, true);
        for (sl_table *t : {pass.get(), fail.get(), held.get()})
            ASSERT_EQ(sl_gate_evaluate(t, &r), SL_OK);
        ASSERT_EQ(sl_mitigate(held.get(), &r, SL_MITIGATE_SUPPRESS), SL_OK);
        ASSERT_EQ(held->decision, SL_DECISION_REVIEW);
        sl_table *ts[] = {pass.release(), fail.release(), held.release()};
        for (sl_table *t : ts)
            ASSERT_EQ(sl_outputs_push(&outs_, &t), SL_OK);
        json_t *job = json_pack("{s:s,s:s,s:{s:s,s:s},s:s}", "id", "job-1", "user", "alice",
                                "cohort", "path", "c.h5", "uuid", "u-1", "filter", kEvil);
        json_t *policy = json_pack("{s:s,s:{s:i}}", "file", "policy.yaml", "rules",
                                   "min_safe_count", 10);
        std::string rel = dir_ + "/released", hld = dir_ + "/held";
        sl_release_info info{"job-1", rel.c_str(), hld.c_str(), job, policy, nullptr, 2};
        ASSERT_EQ(sl_release_write(&info, &outs_, &results_), SL_OK);
        json_decref(job);
        json_decref(policy);
    }
    void TearDown() override
    {
        sl_outputs_clear(&outs_);
        json_decref(results_);
        EXPECT_EQ(std::system(("rm -rf '" + dir_ + "'").c_str()), 0);
    }

    json_t *output(json_t *doc, const char *name)
    {
        size_t i;
        json_t *o;
        json_array_foreach(json_object_get(doc, "outputs"), i, o) {
            if (std::strcmp(json_string_value(json_object_get(o, "name")), name) == 0)
                return o;
        }
        return nullptr;
    }

    std::string dir_;
    sl_outputs outs_{};
    json_t *results_ = nullptr;
};

}  // namespace

TEST(ReportChecker, CatchesBrokenHtml)
{
    EXPECT_EQ(well_formed("<p><b>x</b></p>"), "");
    EXPECT_NE(well_formed("<p><b>x</p></b>"), "");
    EXPECT_NE(well_formed("<p>a < b</p>"), "");
    EXPECT_NE(well_formed("<p>a & b</p>"), "");
    EXPECT_NE(well_formed("<div>"), "");
}

TEST_F(Report, BothReportsAreWellFormed)
{
    for (const char *area : {"released", "held"}) {
        std::string html = slurp(dir_ + "/" + area + "/job-1/report.html");
        ASSERT_FALSE(html.empty()) << area;
        EXPECT_EQ(well_formed(html), "") << area;
        EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
    }
}

TEST_F(Report, LabelsAreEscaped)
{
    std::string html = slurp(dir_ + "/held/job-1/report.html");
    EXPECT_EQ(html.find("<script"), std::string::npos);
    EXPECT_NE(html.find("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;co&#39;"),
              std::string::npos);
    EXPECT_NE(html.find("group &lt;g&gt;"), std::string::npos);
}

TEST_F(Report, SelfContained)
{
    for (const char *area : {"released", "held"}) {
        std::string html = slurp(dir_ + "/" + area + "/job-1/report.html");
        for (const char *bad : {"http:", "https:", "src=", "<link", "<script", "url(", "@import"})
            EXPECT_EQ(html.find(bad), std::string::npos) << area << " " << bad;
        EXPECT_NE(html.find("default-src 'none'"), std::string::npos);
    }
}

// Rows of failing cells carry the highlight class; passing rows do not.
TEST_F(Report, FailingCellsAreHighlighted)
{
    std::string html = slurp(dir_ + "/released/job-1/report.html");
    size_t bad = html.find("id=\"out-1\"");
    ASSERT_NE(bad, std::string::npos);
    size_t end = html.find("</section>", bad);
    std::string section = html.substr(bad, end - bad);
    size_t row = section.find("<tr><td>&lt;script");
    ASSERT_NE(row, std::string::npos);
    std::string failing = section.substr(row, section.find("</tr>", row) - row);
    EXPECT_NE(failing.find("class=\"cell-fail\""), std::string::npos);
    size_t ok = section.find("<tr><td>plain");
    ASSERT_NE(ok, std::string::npos);
    std::string passing = section.substr(ok, section.find("</tr>", ok) - ok);
    EXPECT_EQ(passing.find("cell-fail"), std::string::npos);
    // The failing output shows no values at all.
    EXPECT_EQ(section.find(">130<"), std::string::npos);
}

TEST_F(Report, MitigatedCellsAreMarkedInTheOperatorCopy)
{
    std::string html = slurp(dir_ + "/held/job-1/report.html");
    EXPECT_NE(html.find("Operator copy"), std::string::npos);
    EXPECT_NE(html.find("cell-mitigated"), std::string::npos);
    EXPECT_NE(html.find("suppressed (secondary)"), std::string::npos);
    EXPECT_NE(html.find(">240<"), std::string::npos);
    EXPECT_EQ(html.find(">131<"), std::string::npos);
}

TEST_F(Report, PublicResultsCarryNoValuesOfFailingOrHeldOutputs)
{
    json_t *bad = output(results_, "bad"), *held = output(results_, "held");
    json_t *fine = output(results_, "fine");
    size_t i;
    json_t *c, *v;
    for (json_t *o : {bad, held}) {
        ASSERT_NE(o, nullptr);
        json_array_foreach(json_object_get(o, "cells"), i, c) {
            EXPECT_EQ(json_object_get(c, "n"), nullptr);
            EXPECT_EQ(json_object_get(c, "stats"), nullptr);
        }
        json_array_foreach(json_object_get(o, "rules"), i, v)
            EXPECT_EQ(json_object_get(v, "evidence"), nullptr);
    }
    EXPECT_TRUE(json_is_null(json_object_get(bad, "location")));
    EXPECT_STREQ(json_string_value(json_object_get(held, "location")), "held");
    json_t *requested = json_object_get(json_object_get(held, "mitigation"), "requested");
    EXPECT_STREQ(json_string_value(json_array_get(requested, 0)), "suppress");
    // The passing output shows its counts and its evidence.
    EXPECT_EQ(json_integer_value(json_object_get(json_array_get(json_object_get(fine, "cells"), 0),
                                                 "n")),
              120);
    EXPECT_TRUE(json_is_array(json_object_get(json_array_get(json_object_get(fine, "rules"), 0),
                                              "evidence")));
    EXPECT_EQ(json_array_size(json_object_get(fine, "files")), 2u);
    // And the file on disk is the document returned.
    json_error_t err;
    json_t *disk = json_load_file((dir_ + "/released/job-1/results.json").c_str(), 0, &err);
    ASSERT_NE(disk, nullptr);
    EXPECT_TRUE(json_equal(disk, results_));
    json_decref(disk);
}

TEST_F(Report, OperatorResultsNeverHoldEvidenceOfFailingCells)
{
    json_error_t err;
    json_t *doc = json_load_file((dir_ + "/held/job-1/results.json").c_str(), 0, &err);
    ASSERT_NE(doc, nullptr);
    json_t *held = output(doc, "held");
    json_t *rule = json_array_get(json_object_get(held, "rules"), 0);
    json_t *ev = json_object_get(rule, "evidence");
    ASSERT_TRUE(json_is_array(ev));
    EXPECT_TRUE(json_is_null(json_array_get(ev, 0)));
    EXPECT_EQ(json_integer_value(json_object_get(json_array_get(ev, 2), "n")), 240);
    // Withheld cells have null values; the failing output none at all.
    json_t *cell0 = json_array_get(json_object_get(held, "cells"), 0);
    EXPECT_TRUE(json_is_null(json_object_get(cell0, "n")));
    EXPECT_STREQ(json_string_value(json_object_get(cell0, "mitigation")), "suppressed");
    json_t *bad = output(doc, "bad");
    EXPECT_EQ(json_object_get(json_array_get(json_object_get(bad, "cells"), 1), "n"), nullptr);
    json_decref(doc);
}

TEST(ReportDirect, RejectsNonResults)
{
    char *html = nullptr;
    json_t *doc = json_object();
    EXPECT_EQ(sl_report_html(doc, 0, &html), SL_ERR_ARG);
    EXPECT_EQ(html, nullptr);
    json_decref(doc);
}
