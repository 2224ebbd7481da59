// test_schema.cc: schema YAML (round trip and every error with its line and
// column), the inference rules, and the text forms of integer, real and date
// values.
#include "io_test_util.hh"

#include <cinttypes>
#include <random>

#include "tests/unit/mangle.hh"

extern "C" {
#include "io/schema.h"
}

namespace {

using sltest::IoTest;

struct SchemaDel { void operator()(sl_schema *s) const { sl_schema_destroy(&s); } };
using Schema = std::unique_ptr<sl_schema, SchemaDel>;

// ---- values ----

TEST(SchemaValues, Integers) {
    int64_t v = 0;
    EXPECT_EQ(sl_parse_int("0", 1, &v), 0);
    EXPECT_EQ(v, 0);
    EXPECT_EQ(sl_parse_int("-12", 3, &v), 0);
    EXPECT_EQ(v, -12);
    EXPECT_EQ(sl_parse_int("+7", 2, &v), 0);
    EXPECT_EQ(v, 7);
    EXPECT_EQ(sl_parse_int(" 42\t", 4, &v), 0);
    EXPECT_EQ(v, 42);
    EXPECT_EQ(sl_parse_int("9223372036854775807", 19, &v), 0);
    EXPECT_EQ(v, INT64_MAX);
    EXPECT_EQ(sl_parse_int("-9223372036854775807", 20, &v), 0);
    EXPECT_EQ(v, -INT64_MAX);
    for (const char *bad : {"-9223372036854775808", "9223372036854775808", "99999999999999999999",
                            "1.0", "", " ", "-", "+", "1e3", "0x10", "12a", "1 2", "--1"})
        EXPECT_EQ(sl_parse_int(bad, std::strlen(bad), &v), -1) << bad;
}

TEST(SchemaValues, RealsMatchStrtodExactly) {
    double v = 0;
    for (const char *good : {"0", "-0.0", "1.5", ".5", "5.", "1E5", "-2.5e-3", "+3", " 7.25 ",
                             "0.1", "123456789012345678901234567890", "4.803999999999999",
                             "1.7976931348623157e308", "2.2250738585072014e-308",
                             "0.000000000000000000000000000001", "9007199254740993"}) {
        ASSERT_EQ(sl_parse_real(good, std::strlen(good), &v), 0) << good;
        double want = std::strtod(good, nullptr);
        EXPECT_EQ(std::memcmp(&v, &want, sizeof v), 0) << good;
    }
    for (const char *bad : {"", " ", ".", "-", "inf", "nan", "NaN", "1e", "1e+", "0x1p3",
                            "1.2.3", "--1", "1e400", "1,5", "e5", "1 2"})
        EXPECT_EQ(sl_parse_real(bad, std::strlen(bad), &v), -1) << bad;
    // random decimal strings, fast path and strtod path alike
    std::mt19937_64 rng(7);
    for (int i = 0; i < 200000; i++) {
        char buf[64];
        int ndig = 1 + static_cast<int>(rng() % 19);
        int point = static_cast<int>(rng() % static_cast<uint64_t>(ndig + 1));
        int n = 0;
        if (rng() % 2)
            buf[n++] = '-';
        for (int d = 0; d < ndig; d++) {
            if (d == point && d > 0)
                buf[n++] = '.';
            buf[n++] = static_cast<char>('0' + rng() % 10);
        }
        if (rng() % 3 == 0)
            n += std::snprintf(buf + n, sizeof buf - static_cast<size_t>(n), "e%d",
                               static_cast<int>(rng() % 61) - 30);
        buf[n] = '\0';
        ASSERT_EQ(sl_parse_real(buf, static_cast<size_t>(n), &v), 0) << buf;
        double want = std::strtod(buf, nullptr);
        ASSERT_EQ(std::memcmp(&v, &want, sizeof v), 0) << buf;
    }
}

TEST(SchemaValues, Dates) {
    struct {
        const char *text;
        int32_t days;
    } good[] = {{"1970-01-01", 0},      {"1969-12-31", -1},     {"2000-02-29", 11016},
                {"2024-02-29", 19782},  {"9999-12-31", 2932896}, {"0001-01-01", -719162},
                {" 2015-01-01 ", 16436}};
    for (auto &g : good) {
        int32_t d = 0;
        ASSERT_EQ(sl_parse_date(g.text, std::strlen(g.text), &d), 0) << g.text;
        EXPECT_EQ(d, g.days) << g.text;
    }
    for (const char *bad : {"1900-02-29", "2023-02-29", "2024-13-01", "2024-00-10", "2024-04-31",
                            "2024-01-00", "0000-01-01", "2024-1-01", "2024/01/01", "20240101",
                            "2024-01-011", "", "abcd-ef-gh"}) {
        int32_t d = 0;
        EXPECT_EQ(sl_parse_date(bad, std::strlen(bad), &d), -1) << bad;
    }
    for (int32_t day = -719162; day <= 2932896; day += 97) {
        char buf[11];
        sl_format_date(day, buf);
        int32_t back = 0;
        ASSERT_EQ(sl_parse_date(buf, 10, &back), 0) << buf;
        ASSERT_EQ(back, day) << buf;
    }
}

TEST(SchemaValues, Kinds) {
    EXPECT_EQ(sl_value_kinds("12", 2), unsigned(SL_KIND_INT | SL_KIND_REAL));
    EXPECT_EQ(sl_value_kinds(" -3 ", 4), unsigned(SL_KIND_INT | SL_KIND_REAL));
    EXPECT_EQ(sl_value_kinds("1.5", 3), unsigned(SL_KIND_REAL));
    EXPECT_EQ(sl_value_kinds("1e5", 3), unsigned(SL_KIND_REAL));
    EXPECT_EQ(sl_value_kinds("2020-01-31", 10), unsigned(SL_KIND_DATE));
    EXPECT_EQ(sl_value_kinds("2020-02-31", 10), 0u);
    EXPECT_EQ(sl_value_kinds("abc", 3), 0u);
    EXPECT_EQ(sl_value_kinds("inf", 3), 0u);
    // past the range of a double: not a real, as sl_parse_real says (found by
    // fuzzing: inference typed such a column real, and ingest then refused it)
    EXPECT_EQ(sl_value_kinds("1e999", 5), 0u);
    EXPECT_EQ(sl_value_kinds(" -2.5e400", 9), 0u);
    EXPECT_EQ(sl_value_kinds("1.7e308", 7), unsigned(SL_KIND_REAL));
    std::string digits = "0." + std::string(100, '3') + "e-5";
    EXPECT_EQ(sl_value_kinds(digits.data(), digits.size()), unsigned(SL_KIND_REAL));
    EXPECT_EQ(sl_value_kinds("", 0), 0u);
}

// ---- inference rules ----

TEST(SchemaInfer, IdColumnByName) {
    const char *a[] = {"x", "id", "Patient_ID"};
    EXPECT_EQ(sl_schema_guess_id(a, 3), 2);  // patient_id is preferred over id
    const char *b[] = {"age", "ID"};
    EXPECT_EQ(sl_schema_guess_id(b, 2), 1);
    const char *c[] = {"person_id", "subject_id"};
    EXPECT_EQ(sl_schema_guess_id(c, 2), 0);
    const char *d[] = {"pid", "mrn", "identifier"};
    EXPECT_EQ(sl_schema_guess_id(d, 3), -1);
}

TEST(SchemaInfer, ClassByNameAndType) {
    EXPECT_EQ(sl_schema_guess_class("patient_id", SL_COL_ID), SL_CLASS_IDENTIFIER);
    for (const char *q : {"age", "Sex", "gender", "region", "date_of_birth", "PostCode", "zip",
                          "age_group", "ethnicity", "birthYear"})
        EXPECT_EQ(sl_schema_guess_class(q, SL_COL_CAT), SL_CLASS_QUASI) << q;
    EXPECT_EQ(sl_schema_guess_class("admission_date", SL_COL_DATE), SL_CLASS_QUASI);
    for (const char *s : {"diagnosis", "icd10", "systolic_bp", "bmi", "hba1c", "smoker",
                          "outcome", "lab_result", "Glucose", "weight_kg"})
        EXPECT_EQ(sl_schema_guess_class(s, SL_COL_REAL), SL_CLASS_SENSITIVE) << s;
    for (const char *o : {"cost", "x1", "visit_count", "agent"})
        EXPECT_EQ(sl_schema_guess_class(o, SL_COL_REAL), SL_CLASS_OTHER) << o;
}

// ---- YAML ----

class SchemaYaml : public IoTest {
protected:
    std::string write(const std::string &text) {
        std::string p = dir_.file("s" + std::to_string(n_++) + ".yaml");
        std::ofstream(p, std::ios::binary) << text;
        return p;
    }
    // Loads `text`; expects SL_ERR_FORMAT and the message "<path>:<suffix>".
    void expect_error(const std::string &text, const std::string &suffix) {
        std::string p = write(text);
        sl_schema *s = nullptr;
        EXPECT_EQ(sl_schema_load(p.c_str(), &s), SL_ERR_FORMAT) << text;
        EXPECT_EQ(s, nullptr);
        EXPECT_EQ(std::string(sl_error_message()), p + suffix) << text;
    }
    int n_ = 0;
};

static const char *const kOdd[] = {"plain", "with \"quotes\"", "back\\slash", "yes", "null",
                                   " lead and trail ", "#hash", "a: b", "- dash", "K\xC3\xB8ge",
                                   "tab\there", "line\nbreak", "\xE2\x80\xA8sep", "~", "123",
                                   "[x]"};

TEST_F(SchemaYaml, RoundTrip) {
    sl_schema *sp = nullptr;
    ASSERT_EQ(sl_schema_create(6, &sp), SL_OK);
    Schema s(sp);
    const char *names[] = {"patient_id", "age \"years\"", "bmi", "odd: levels", "seen", "w"};
    const sl_coltype types[] = {SL_COL_ID, SL_COL_INT, SL_COL_REAL, SL_COL_CAT, SL_COL_DATE,
                                SL_COL_CAT};
    const sl_colclass cls[] = {SL_CLASS_IDENTIFIER, SL_CLASS_QUASI, SL_CLASS_SENSITIVE,
                               SL_CLASS_OTHER, SL_CLASS_QUASI, SL_CLASS_OTHER};
    for (int j = 0; j < 6; j++) {
        s->cols[j].name = sl_strdup(names[j]);
        s->cols[j].type = types[j];
        s->cols[j].cls = cls[j];
    }
    s->id_col = 0;
    s->cols[1].lower = 0;
    s->cols[1].upper = 120;
    s->cols[2].lower = 0.1 + 0.2;
    s->cols[2].upper = 1e300;
    ASSERT_EQ(sl_schema_set_levels(s.get(), 3, 16, kOdd), SL_OK);
    std::vector<std::string> many;
    std::vector<const char *> many_p;
    for (int k = 0; k < 300; k++)
        many.push_back("level-" + std::to_string(k * k));
    for (auto &m : many)
        many_p.push_back(m.c_str());
    ASSERT_EQ(sl_schema_set_levels(s.get(), 5, 300, many_p.data()), SL_OK);
    ASSERT_EQ(sl_schema_check(s.get()), SL_OK) << sl_error_message();
    std::string p = dir_.file("round.yaml");
    ASSERT_EQ(sl_schema_write(s.get(), p.c_str()), SL_OK) << sl_error_message();

    sl_schema *bp = nullptr;
    ASSERT_EQ(sl_schema_load(p.c_str(), &bp), SL_OK) << sl_error_message();
    Schema b(bp);
    ASSERT_EQ(b->ncols, 6);
    EXPECT_EQ(b->id_col, 0);
    for (int j = 0; j < 6; j++) {
        EXPECT_STREQ(b->cols[j].name, names[j]);
        EXPECT_EQ(b->cols[j].type, types[j]);
        EXPECT_EQ(b->cols[j].cls, cls[j]);
        if (j <= 3) {
            // 3 comment lines, sluice_schema, columns, then one line per key
            int line = 6;
            for (int k = 0; k < j; k++)
                line += 3 + !std::isnan(s->cols[k].lower) + !std::isnan(s->cols[k].upper);
            EXPECT_EQ(b->name_line[j], line) << j;
        } else {
            EXPECT_GE(b->name_line[j], b->name_line[j - 1] + 3) << j;
        }
        EXPECT_EQ(b->name_col[j], 12);  // the text after the opening quote
    }
    EXPECT_EQ(b->cols[1].lower, 0);
    EXPECT_EQ(b->cols[1].upper, 120);
    EXPECT_EQ(b->cols[2].lower, 0.1 + 0.2);
    EXPECT_EQ(b->cols[2].upper, 1e300);
    EXPECT_TRUE(std::isnan(b->cols[3].lower));
    ASSERT_EQ(b->cols[3].nlevels, 16);
    EXPECT_TRUE(b->levels_fixed[3]);
    EXPECT_FALSE(b->levels_fixed[4]);
    for (int k = 0; k < 16; k++)
        EXPECT_STREQ(b->cols[3].levels[k], kOdd[k]) << k;
    ASSERT_EQ(b->cols[5].nlevels, 300);
    for (int k = 0; k < 300; k++)
        EXPECT_EQ(b->cols[5].levels[k], many[k]);
    std::ifstream text(p);
    for (std::string l; std::getline(text, l);)
        EXPECT_LE(l.size(), 100u) << l;

    // never overwritten
    std::string before;
    {
        std::ifstream in(p);
        before.assign(std::istreambuf_iterator<char>(in), {});
    }
    EXPECT_EQ(sl_schema_write(b.get(), p.c_str()), SL_ERR_EXISTS);
    EXPECT_NE(std::string(sl_error_message()).find("refusing to overwrite"), std::string::npos);
    std::ifstream in(p);
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), before);
}

TEST_F(SchemaYaml, MinimalFileLoads) {
    std::string p = write("columns:\n"
                          "  - {name: pid, type: id, class: identifier}\n"
                          "  - name: sex\n"
                          "    type: categorical\n"
                          "    class: quasi\n"
                          "    levels: [M, F]\n");
    sl_schema *sp = nullptr;
    ASSERT_EQ(sl_schema_load(p.c_str(), &sp), SL_OK) << sl_error_message();
    Schema s(sp);
    EXPECT_EQ(s->ncols, 2);
    EXPECT_EQ(s->id_col, 0);
    ASSERT_EQ(s->cols[1].nlevels, 2);
    EXPECT_STREQ(s->cols[1].levels[0], "M");  // order as listed, not sorted
    EXPECT_EQ(s->name_line[1], 3);
    EXPECT_EQ(s->name_col[1], 11);
}

static const std::string kHead = "sluice_schema: 1\ncolumns:\n"
                                 "  - name: pid\n    type: id\n    class: identifier\n";

TEST_F(SchemaYaml, Errors) {
    expect_error(kHead + "  - name: a\n    type: integer\n    class: other\n    colour: red\n",
                 ":9:5: unknown key 'colour' in column 2, expected one of name, type, class, "
                 "levels, lower, upper");
    expect_error(kHead + "  - name: a\n    type: number\n    class: other\n",
                 ":7:11: expected 'type' of column 'a' to be one of id, integer, real, "
                 "categorical, date");
    expect_error(kHead + "  - name: a\n    type: real\n",
                 ":6:5: expected 'class' of column 'a' to be one of identifier, quasi, "
                 "sensitive, other");
    expect_error(kHead + "  - name: a\n    type: real\n    class: secret\n",
                 ":8:12: expected 'class' of column 'a' to be one of identifier, quasi, "
                 "sensitive, other");
    expect_error(kHead + "  - type: real\n    class: other\n",
                 ":6:5: expected a non-empty 'name' for column 2");
    expect_error(kHead + "  - name: \"\"\n    type: real\n    class: other\n",
                 ":6:12: expected a non-empty 'name' for column 2");
    expect_error(kHead + "  - name: a\n    type: integer\n    class: other\n    levels: [x, y]\n",
                 ":9:14: 'levels' given for column 'a', which is integer, not categorical");
    expect_error(kHead +
                     "  - name: a\n    type: categorical\n    class: other\n    levels: [x, y, x]\n",
                 ":9:20: level 'x' of column 'a' is listed twice");
    expect_error(kHead +
                     "  - name: a\n    type: categorical\n    class: other\n    levels: [x, NA]\n",
                 ":9:17: expected a non-empty label other than NA (which means missing) in the "
                 "levels of column 'a'");
    expect_error(kHead + "  - name: a\n    type: categorical\n    class: other\n    levels: x\n",
                 ":9:13: 'levels' of column 'a' must be a list of labels");
    expect_error(kHead + "  - name: a\n    type: categorical\n    class: other\n    lower: 1\n",
                 ":9:12: bounds given for column 'a', which is categorical, expected integer or "
                 "real");
    expect_error(kHead + "  - name: a\n    type: real\n    class: other\n    lower: ten\n",
                 ":9:12: expected a number for 'lower' of column 'a'");
    expect_error(kHead +
                     "  - name: a\n    type: real\n    class: other\n    lower: 5\n    upper: 4\n",
                 ":9:12: 'lower' of column 'a' is above its 'upper'");
    expect_error(kHead + "  - name: b\n    type: id\n    class: identifier\n",
                 ":7:11: column 'b' is a second id column (the first is 'pid'), expected exactly "
                 "one");
    expect_error("columns:\n  - name: a\n    type: real\n    class: other\n",
                 ":2:5: no column has type id, expected exactly one");
    expect_error(kHead + "  - name: pid\n    type: real\n    class: other\n",
                 ":6:11: column name 'pid' repeats column 1, expected unique names");
    expect_error("sluice_schema: 2\ncolumns: []\n",
                 ":1:16: expected sluice_schema: 1 (the only schema version)");
    expect_error("colums:\n  - name: a\n",
                 ":1:1: unknown key 'colums', expected one of sluice_schema, columns");
    expect_error("columns: {name: a}\n", ":1:11: expected 'columns' to be a non-empty list");
    expect_error("columns: []\n", ": expected 'columns' to be a non-empty list");
    expect_error(kHead + "  - just a string\n",
                 ":6:5: expected column 2 to be a mapping with keys name, type, class, levels, "
                 "lower, upper");
    expect_error("", ": the file is empty, expected a mapping with keys sluice_schema and columns");
    expect_error("- a\n- b\n", ":1:3: expected a mapping with keys sluice_schema and columns");
}

TEST_F(SchemaYaml, SyntaxErrorNamesLineAndColumn) {
    std::string p = write("columns:\n  - name: a\n   type: [\n");
    sl_schema *s = nullptr;
    EXPECT_EQ(sl_schema_load(p.c_str(), &s), SL_ERR_FORMAT);
    std::string msg = sl_error_message();
    EXPECT_EQ(msg.rfind(p + ":3:4: invalid YAML: ", 0), 0u) << msg;
    p = write("columns:\n  - name: a\n    name: b\n");
    EXPECT_EQ(sl_schema_load(p.c_str(), &s), SL_ERR_FORMAT);
    msg = sl_error_message();
    EXPECT_EQ(msg.rfind(p + ":3:5: invalid YAML: duplicate key", 0), 0u) << msg;
}

// Found by fuzzing: everything after a second '---' was ignored, even text
// that is not YAML. Job and policy files refuse a second document too.
TEST_F(SchemaYaml, SecondDocumentIsRefused) {
    const std::string one = "columns:\n  - {name: pid, type: id, class: identifier}\n";
    expect_error(one + "---\ncolumns: []\n",
                 ":4:1: a second YAML document follows '---'; expected exactly one document "
                 "per schema file");
    std::string p = write(one + "---\n]: [\n");
    sl_schema *s = nullptr;
    EXPECT_EQ(sl_schema_load(p.c_str(), &s), SL_ERR_FORMAT);
    EXPECT_EQ(std::string(sl_error_message()).rfind(p + ":4:1: invalid YAML: ", 0), 0u)
        << sl_error_message();
    p = write("---\n" + one + "...\n");
    ASSERT_EQ(sl_schema_load(p.c_str(), &s), SL_OK) << sl_error_message();
    sl_schema_destroy(&s);
}

// Checked before YAML sees it: the YAML library hung on an invalid UTF-8
// byte in a directive (found by tests/fuzz).
TEST_F(SchemaYaml, FileMustBeUtf8Text) {
    expect_error("%\xff\n", ":1:2: byte 0xff is not UTF-8; expected a schema file of UTF-8 "
                             "text (YAML)");
    expect_error("columns:\n  - {name: K\xf8ge, type: real}\n",
                 ":2:13: byte 0xf8 is not UTF-8; expected a schema file of UTF-8 text (YAML)");
    expect_error("columns:\n\x7f", ":2:1: control character 0x7f; expected a schema file of "
                                   "UTF-8 text (YAML)");
}

TEST_F(SchemaYaml, MissingFile) {
    sl_schema *s = nullptr;
    std::string p = dir_.file("none.yaml");
    EXPECT_EQ(sl_schema_load(p.c_str(), &s), SL_ERR_IO);
    EXPECT_EQ(std::string(sl_error_message()).rfind(p + ": cannot open", 0), 0u);
}

TEST_F(SchemaYaml, CheckRejectsBadSchemas) {
    sl_schema *sp = nullptr;
    ASSERT_EQ(sl_schema_create(2, &sp), SL_OK);
    Schema s(sp);
    s->cols[0].name = sl_strdup("a");
    s->cols[0].type = SL_COL_REAL;
    s->cols[0].cls = SL_CLASS_OTHER;
    s->cols[1].name = sl_strdup("b");
    s->cols[1].type = SL_COL_REAL;
    s->cols[1].cls = SL_CLASS_OTHER;
    EXPECT_EQ(sl_schema_check(s.get()), SL_ERR_FORMAT);
    EXPECT_STREQ(sl_error_message(), "the schema has 0 columns of type id, expected exactly one");
    s->cols[0].type = SL_COL_ID;
    s->id_col = 0;
    EXPECT_EQ(sl_schema_check(s.get()), SL_OK);
    const char *lv[] = {"x", "NA"};
    s->cols[1].type = SL_COL_CAT;
    ASSERT_EQ(sl_schema_set_levels(s.get(), 1, 2, lv), SL_OK);
    EXPECT_EQ(sl_schema_check(s.get()), SL_ERR_FORMAT);
    EXPECT_STREQ(sl_error_message(), "schema column 'b': level 2 is empty or NA, which mean missing");
    std::string p = dir_.file("bad.yaml");
    EXPECT_EQ(sl_schema_write(s.get(), p.c_str()), SL_ERR_FORMAT);
    EXPECT_FALSE(std::filesystem::exists(p));
}

}  // namespace

// Mangled schema files: each one loads, or is refused as a format error
// whose message starts with the file; nothing leaks, and the sanitizer
// build runs this too.
TEST_F(SchemaYaml, MangledFilesLoadOrAreRefusedWithTheFile) {
    const std::string seed = kHead +
                             "  - name: sex\n    type: categorical\n    class: quasi\n"
                             "    levels: [\"F\", \"M\"]\n"
                             "  - {name: bmi, type: real, class: sensitive, lower: 10, upper: 80}\n"
                             "  - name: \"admission date\"\n    type: date\n    class: quasi\n";
    const std::vector<std::string> pieces = {":", " ", "\n", "-", "[", "]", "{", "}", ",", "\"",
                                             "'", "#", "&a", "*a", "\t", "\xff",
                                             std::string(1, '\0'), "1e999", "-1", "~", "null",
                                             "type", "levels: []", "lower: 90", "---\n"};
    std::mt19937_64 rng(1848);
    int loaded = 0;
    for (int i = 0; i < 1500; i++) {
        std::string p = write(sltest::mangle(seed, pieces, rng, 3, 6));
        sl_schema *sp = nullptr;
        sl_status st = sl_schema_load(p.c_str(), &sp);
        Schema s(sp);
        if (st == SL_OK) {
            loaded++;
            continue;
        }
        ASSERT_EQ(st, SL_ERR_FORMAT) << sl_error_message();
        ASSERT_EQ(sp, nullptr);
        ASSERT_EQ(std::string(sl_error_message()).rfind(p, 0), 0u) << sl_error_message();
        std::remove(p.c_str());
    }
    EXPECT_GT(loaded, 50);
}
