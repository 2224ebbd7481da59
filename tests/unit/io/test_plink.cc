// test_plink.cc: PLINK 1 filesets -> cohort, read back through the real
// cohort reader. The two-sample example of the format notes pins the bit
// order; a generated fileset written by an independent packer here is
// checked call by call across chunks; the variant list, the phenotype kinds
// and every refusal (naming file and line, never a sample id) are covered.
#include "cohort_test.hh"

#include <random>

extern "C" {
#include "io/plink.h"
#include "io/schema.h"
}

namespace {

class PlinkTest : public sltest::CohortTest {
protected:
    sl_status run(const char *variants = nullptr, sl_plink_stats *stats = nullptr,
                  int64_t chunk_rows = 0, bool check = false,
                  sl_plink_genotypes genotypes = SL_PLINK_DOSAGE) {
        out_ = dir_.file("cohort.h5");
        prefix_ = dir_.file("chip");
        std::string list = variants ? dir_.file(variants) : "";
        sl_plink_opts o{};
        o.prefix = prefix_.c_str();
        o.variants = variants ? list.c_str() : nullptr;
        o.out = check ? nullptr : out_.c_str();
        o.kek = check ? nullptr : kek_.get();
        o.chunk_rows = chunk_rows;
        o.check = check;
        o.genotypes = genotypes;
        return sl_plink_ingest(&o, stats);
    }
    void expect_error(sl_status code, const std::string &what, const char *variants = nullptr) {
        auto before = files();
        EXPECT_EQ(run(variants), code);
        std::string msg = sl_error_message();
        EXPECT_NE(msg.find(what), std::string::npos) << "message: " << msg << "\nexpected: " << what;
        EXPECT_EQ(msg.find("SECRET"), std::string::npos) << msg;
        EXPECT_EQ(files(), before);
    }
    int col(const char *name) const { return sl_cohort_find(cohort_.get(), name); }
    void discard() { discard_cohort(out_); }
    void bed(const std::string &bytes) { write("chip.bed", bytes); }
    // A fileset of `calls[v][s]` (0 hom A1, 1 missing, 2 het, 3 hom A2), packed here.
    void fileset(const std::vector<std::vector<int>> &calls, const std::string &fam) {
        write("chip.fam", fam);
        std::string bim, b = "\x6c\x1b\x01";
        for (size_t v = 0; v < calls.size(); v++) {
            bim += "1 v" + std::to_string(v + 1) + " 0 " + std::to_string(100 * (v + 1)) +
                   " A G\n";
            std::string packed((calls[v].size() + 3) / 4, '\0');
            for (size_t s = 0; s < calls[v].size(); s++)
                packed[s / 4] = static_cast<char>(packed[s / 4] | (calls[v][s] << (2 * (s % 4))));
            b += packed;
        }
        write("chip.bim", bim);
        bed(b);
    }

    std::string out_, prefix_;
};

TEST_F(PlinkTest, TwoSamplesOfTheFormatNotes) {
    // plink2 wrote these bytes: variant 1 missing / hom A2, variant 2 hom A2 / het
    write("chip.fam", "f1 s1 0 0 1 1\nf2\ts2\t0\t0\t2\t2\n");
    write("chip.bim", "1\tv1\t0\t100\tA\tG\n1\tv2\t0\t200\tC\tT\n");
    bed(std::string("\x6c\x1b\x01\x0d\x0b", 5));
    sl_plink_stats stats{};
    ASSERT_EQ(run(nullptr, &stats), SL_OK) << sl_error_message();
    EXPECT_EQ(stats.samples, 2);
    EXPECT_EQ(stats.variants, 2);
    EXPECT_EQ(stats.ncols, 5);
    EXPECT_EQ(stats.quantitative, 0);
    EXPECT_EQ(stats.missing_calls, 1);
    load(out_);
    ASSERT_EQ(sl_cohort_nrows(cohort_.get()), 2);
    EXPECT_EQ(id_at(0), hmac("s1"));
    EXPECT_EQ(id_at(1), hmac("s2"));
    EXPECT_EQ(levels(col("sex")), (std::vector<std::string>{"F", "M"}));
    EXPECT_EQ(at<int32_t>(col("sex"), 0), 1);
    EXPECT_EQ(at<int32_t>(col("sex"), 1), 0);
    EXPECT_EQ(levels(col("phenotype")), (std::vector<std::string>{"control", "case"}));
    EXPECT_EQ(at<int32_t>(col("phenotype"), 0), 0);
    EXPECT_EQ(at<int32_t>(col("phenotype"), 1), 1);
    // copies of allele 1
    EXPECT_EQ(at<int64_t>(col("v1"), 0), SL_INT_MISSING);
    EXPECT_EQ(at<int64_t>(col("v1"), 1), 0);
    EXPECT_EQ(at<int64_t>(col("v2"), 0), 0);
    EXPECT_EQ(at<int64_t>(col("v2"), 1), 1);
    const sl_colinfo *v1 = sl_cohort_col(cohort_.get(), col("v1"));
    EXPECT_EQ(v1->type, SL_COL_INT);
    EXPECT_EQ(v1->cls, SL_CLASS_SENSITIVE);
    EXPECT_EQ(v1->lower, 0);
    EXPECT_EQ(v1->upper, 2);
}

TEST_F(PlinkTest, GeneratedCallsAcrossChunks) {
    std::mt19937 rng(7);
    const int n = 13, nv = 5;  // 13 samples: padding in every variant's last byte
    std::vector<std::vector<int>> calls(nv, std::vector<int>(n));
    std::string fam;
    for (int s = 0; s < n; s++)
        fam += "F" + std::to_string(s) + " S" + std::to_string(s) + " 0 0 " +
               std::to_string(s % 3) + " " + (s % 5 == 0 ? "-9" : std::to_string(1 + s % 2)) +
               "\n";
    for (auto &v : calls)
        for (int &c : v)
            c = static_cast<int>(rng() % 4);
    fileset(calls, fam);
    write("list.txt", "# study variants\nv4\n\n  v2\nv5\n");
    sl_plink_stats stats{};
    ASSERT_EQ(run("list.txt", &stats, 4), SL_OK) << sl_error_message();
    EXPECT_EQ(stats.variants, 3);
    EXPECT_EQ(stats.variants_in_bim, 5);
    load(out_);
    EXPECT_EQ(sl_cohort_nchunks(cohort_.get()), 4);
    EXPECT_EQ(sl_cohort_ncols(cohort_.get()), 6);
    EXPECT_EQ(sl_cohort_col(cohort_.get(), 3)->name, std::string("v2"));  // .bim order
    EXPECT_EQ(sl_cohort_col(cohort_.get(), 4)->name, std::string("v4"));
    int64_t missing = 0;
    for (int v : {1, 3, 4})
        for (int s = 0; s < n; s++) {
            const int64_t want[4] = {2, SL_INT_MISSING, 1, 0};
            std::string name = "v" + std::to_string(v + 1);
            EXPECT_EQ(at<int64_t>(col(name.c_str()), s), want[calls[v][s]]) << name << " " << s;
            missing += calls[v][s] == 1;
        }
    EXPECT_EQ(stats.missing_calls, missing);
    for (int s = 0; s < n; s++) {
        EXPECT_EQ(id_at(s), hmac("S" + std::to_string(s)));
        EXPECT_EQ(at<int32_t>(col("sex"), s), s % 3 == 0 ? SL_CAT_MISSING : s % 3 == 2 ? 0 : 1);
        EXPECT_EQ(at<int32_t>(col("phenotype"), s), s % 5 == 0 ? SL_CAT_MISSING : s % 2);
    }
}

TEST_F(PlinkTest, CallsAsCategoriesForTables) {
    write("chip.fam", "f1 s1 0 0 1 1\nf2 s2 0 0 2 2\n");
    write("chip.bim", "1\tv1\t0\t100\tA\tG\n1\tv2\t0\t200\tCT\tC\n");
    bed(std::string("\x6c\x1b\x01\x0d\x0b", 5));
    sl_plink_stats stats{};
    ASSERT_EQ(run(nullptr, &stats, 0, false, SL_PLINK_CALLS), SL_OK) << sl_error_message();
    EXPECT_EQ(stats.ncols, 5);
    load(out_);
    EXPECT_EQ(sl_cohort_col(cohort_.get(), col("v1"))->type, SL_COL_CAT);
    EXPECT_EQ(levels(col("v1")), (std::vector<std::string>{"A/A", "A/G", "G/G"}));
    EXPECT_EQ(levels(col("v2")), (std::vector<std::string>{"CT/CT", "CT/C", "C/C"}));
    EXPECT_EQ(at<int32_t>(col("v1"), 0), SL_CAT_MISSING);
    EXPECT_EQ(at<int32_t>(col("v1"), 1), 2);
    EXPECT_EQ(at<int32_t>(col("v2"), 0), 2);
    EXPECT_EQ(at<int32_t>(col("v2"), 1), 1);
    discard();

    ASSERT_EQ(run(nullptr, &stats, 0, false, SL_PLINK_BOTH), SL_OK) << sl_error_message();
    EXPECT_EQ(stats.ncols, 7);
    EXPECT_EQ(stats.missing_calls, 1);
    load(out_);
    EXPECT_EQ(sl_cohort_col(cohort_.get(), 3)->name, std::string("v1"));
    EXPECT_EQ(sl_cohort_col(cohort_.get(), 4)->name, std::string("v1_gt"));
    EXPECT_EQ(at<int64_t>(col("v2"), 1), 1);
    EXPECT_EQ(at<int32_t>(col("v2_gt"), 1), 1);
    discard();

    write("chip.bim", "1\tv1\t0\t100\tA\tG\n1\tv1_gt\t0\t200\tC\tT\n");
    auto before = files();
    EXPECT_EQ(run(nullptr, nullptr, 0, false, SL_PLINK_BOTH), SL_ERR_FORMAT);
    EXPECT_NE(std::string(sl_error_message())
                  .find("chip.bim:1: variant v1: its calls column v1_gt is not a valid column "
                        "name, or a variant of .bim has that id"),
              std::string::npos)
        << sl_error_message();
    EXPECT_EQ(files(), before);
}

TEST_F(PlinkTest, QuantitativePhenotype) {
    fileset({{0, 3, 2}}, "a A 0 0 1 1.5\nb B 0 0 2 -9\nc C 0 0 0 2\n");
    sl_plink_stats stats{};
    ASSERT_EQ(run(nullptr, &stats), SL_OK) << sl_error_message();
    EXPECT_EQ(stats.quantitative, 1);
    load(out_);
    EXPECT_EQ(sl_cohort_col(cohort_.get(), col("phenotype"))->type, SL_COL_REAL);
    EXPECT_EQ(at<double>(col("phenotype"), 0), 1.5);
    EXPECT_TRUE(std::isnan(at<double>(col("phenotype"), 1)));
    EXPECT_EQ(at<double>(col("phenotype"), 2), 2);
}

TEST_F(PlinkTest, CheckReadsTextAndSizeOnly) {
    fileset({{0, 3}}, "a A 0 0 1 1\nb B 0 0 2 2\n");
    auto before = files();
    sl_plink_stats stats{};
    ASSERT_EQ(run(nullptr, &stats, 0, true), SL_OK) << sl_error_message();
    EXPECT_EQ(stats.samples, 2);
    EXPECT_EQ(stats.variants, 1);
    EXPECT_EQ(files(), before);
}

TEST_F(PlinkTest, Refusals) {
    const std::string fam = "f SECRET1 0 0 1 1\nf SECRET2 0 0 2 2\n";
    fileset({{0, 3}, {2, 2}}, fam);
    write("chip.fam", "f SECRET1 0 0 1\n");
    expect_error(SL_ERR_FORMAT, "chip.fam:1: expected 6 fields (family id, sample id, father, "
                                "mother, sex, phenotype), found fewer");
    write("chip.fam", "f SECRET1 0 0 3 1\n");
    expect_error(SL_ERR_FORMAT, "chip.fam:1: field 5 (sex): expected 1 (male), 2 (female) or 0");
    write("chip.fam", "f SECRET1 0 0 1 high\n");
    expect_error(SL_ERR_FORMAT, "chip.fam:1: field 6 (phenotype): expected a number");
    write("chip.fam", "f SECRET1 0 0 1 1\n\ng SECRET1 0 0 2 2\n");
    expect_error(SL_ERR_FORMAT, "chip.fam:3: field 2 (sample id) repeats line 1's");
    write("chip.fam", fam);

    write("list.txt", "v1\nrs999\n");
    expect_error(SL_ERR_FORMAT, "list.txt:2: variant rs999 is not in ", "list.txt");
    write("list.txt", "v1\nv1\n");
    expect_error(SL_ERR_FORMAT, "list.txt:2: variant v1 is listed again (line 1)", "list.txt");
    write("list.txt", "# nothing\n");
    expect_error(SL_ERR_FORMAT, "list.txt: no variant ids", "list.txt");

    write("chip.bim", "1 v1 0 1 A G\n1 v1 0 2 A G\n");
    expect_error(SL_ERR_FORMAT, "chip.bim:2: variant id v1 repeats line 1's");
    write("chip.bim", "1 sex 0 1 A G\n1 v2 0 2 A G\n");
    expect_error(SL_ERR_FORMAT, "chip.bim:1: variant id sex cannot be a column name");
    write("chip.bim", "1 v1 0 1 A\n");
    expect_error(SL_ERR_FORMAT, "chip.bim:1: expected 6 fields");
    write("chip.bim", "1 v1 0 1 A G\n1 v2 0 2 A G\n");

    bed(std::string("\x6c\x1b\x00\x00\x00", 5));
    expect_error(SL_ERR_FORMAT, "sample-major (third byte 00); expected variant-major (01)");
    bed(std::string("\x1b\x6c\x01\x00\x00", 5));
    expect_error(SL_ERR_FORMAT, "not a PLINK 1 .bed file");
    bed(std::string("\x6c\x1b\x01\x00", 4));
    expect_error(SL_ERR_FORMAT, "chip.bed: 4 bytes; expected 5 for 2 samples");

    std::string bim, b = "\x6c\x1b\x01";
    for (int v = 0; v <= SL_PLINK_MAX_ALL; v++) {
        bim += "1 v" + std::to_string(v) + " 0 1 A G\n";
        b += '\0';
    }
    write("chip.bim", bim);
    bed(b);
    expect_error(SL_ERR_ARG, "has 1001 variants; without --variants at most 1000 are taken");
}

}  // namespace
