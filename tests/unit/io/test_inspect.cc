// test_inspect.cc: `sluice inspect` output: every public field of the cohort
// and of each column, and no values or level labels.
#include <cstdio>

#include "io_test_util.hh"

extern "C" {
#include "io/inspect.h"
}

using namespace sltest;

namespace {

class Inspect : public IoTest {};

std::string print_info(const sl_cohort *c) {
    char *buf = nullptr;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    EXPECT_EQ(sl_cohort_print_info(c, out), SL_OK) << last_error();
    fclose(out);
    std::string s(buf, len);
    free(buf);
    return s;
}

}  // namespace

TEST_F(Inspect, PrintsCohortAndColumns) {
    Kek kek = make_kek(dir_.file("k"));
    std::string path = dir_.file("c.h5");
    write_table(path, kek.get(), make_table(300, 3), 128);
    Cohort c = open_cohort(path);  // no key needed
    ASSERT_TRUE(c);
    std::string s = print_info(c.get());
    EXPECT_NE(s.find("cohort      " + path + "\n"), std::string::npos) << s;
    EXPECT_NE(s.find("format      1\n"), std::string::npos) << s;
    EXPECT_NE(s.find(std::string("uuid        ") + sl_cohort_uuid(c.get()) + "\n"), std::string::npos) << s;
    EXPECT_NE(s.find(std::string("kek id      ") + sl_kek_id(kek.get()) + "\n"), std::string::npos) << s;
    EXPECT_NE(s.find("rows        300\n"), std::string::npos) << s;
    EXPECT_NE(s.find("chunk rows  128\n"), std::string::npos) << s;
    EXPECT_NE(s.find("chunks      3\n"), std::string::npos) << s;
    EXPECT_NE(s.find("columns     6\n"), std::string::npos) << s;
    EXPECT_NE(s.find("      0  pid      id           identifier  -\n"), std::string::npos) << s;
    EXPECT_NE(s.find("      3  sex      categorical  quasi       3\n"), std::string::npos) << s;
    EXPECT_NE(s.find("      4  dx_date  date         sensitive   -\n"), std::string::npos) << s;
    EXPECT_NE(s.find("      5  ward     categorical  other       200\n"), std::string::npos) << s;
    EXPECT_EQ(s.find("ward-1"), std::string::npos) << "level labels are not listed";
}

TEST_F(Inspect, ReportsWriteErrors) {
    Kek kek = make_kek(dir_.file("k"));
    std::string path = dir_.file("c.h5");
    write_table(path, kek.get(), make_table(10, 5), 8);
    Cohort c = open_cohort(path);
    ASSERT_TRUE(c);
    FILE *full = fopen("/dev/full", "w");
    ASSERT_NE(full, nullptr);
    EXPECT_EQ(sl_cohort_print_info(c.get(), full), SL_ERR_IO);
    fclose(full);
}
