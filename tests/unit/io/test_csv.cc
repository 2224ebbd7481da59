// test_csv.cc: the streaming CSV reader: quoting, line endings, missing
// values, records larger than the read buffer, and every error with its exact
// file, line and column.
#include "io_test_util.hh"

#include <algorithm>
#include <random>

#include "gzip.hh"
#include "tests/unit/mangle.hh"

extern "C" {
#include "io/csv.h"
}

namespace {

using sltest::IoTest;

struct CsvDel { void operator()(sl_csv *c) const { sl_csv_close(&c); } };
using Csv = std::unique_ptr<sl_csv, CsvDel>;

class CsvTest : public IoTest {
protected:
    std::string write(const std::string &name, const std::string &bytes) {
        std::string p = dir_.file(name);
        std::ofstream(p, std::ios::binary) << bytes;
        return p;
    }
    // Opens `bytes` as a CSV; expects success.
    Csv open(const std::string &bytes) {
        path_ = write("t.csv", bytes);
        sl_csv *c = nullptr;
        EXPECT_EQ(sl_csv_open(path_.c_str(), &c), SL_OK) << sl_error_message();
        return Csv(c);
    }
    // Reads every record as vectors of fields; stops at the first error.
    sl_status read_all(sl_csv *c, std::vector<std::vector<std::string>> *rows,
                       std::vector<int64_t> *lines = nullptr) {
        for (;;) {
            int got = 0;
            sl_status st = sl_csv_next(c, &got);
            if (st != SL_OK)
                return st;
            if (!got)
                return SL_OK;
            std::vector<std::string> r;
            for (int j = 0; j < sl_csv_ncols(c); j++) {
                size_t n = 0;
                const char *f = sl_csv_field(c, j, &n);
                EXPECT_EQ(std::strlen(f), n);
                r.emplace_back(f, n);
            }
            rows->push_back(r);
            if (lines)
                lines->push_back(sl_csv_line(c));
        }
    }
    // Opens `bytes` and expects `code` with message "<path><suffix>", either
    // at open or while reading.
    void expect_error(const std::string &bytes, sl_status code, const std::string &suffix) {
        path_ = write("bad.csv", bytes);
        sl_csv *cp = nullptr;
        sl_status st = sl_csv_open(path_.c_str(), &cp);
        Csv c(cp);
        if (st == SL_OK) {
            std::vector<std::vector<std::string>> rows;
            st = read_all(c.get(), &rows);
        }
        EXPECT_EQ(st, code);
        EXPECT_EQ(std::string(sl_error_message()), path_ + suffix);
    }
    std::string path_;
};

TEST_F(CsvTest, ReadsHeaderAndRecords) {
    Csv c = open("id,age,name\nP1,34,Ann\nP2,,Bo\n");
    ASSERT_EQ(sl_csv_ncols(c.get()), 3);
    EXPECT_STREQ(sl_csv_colname(c.get(), 0), "id");
    EXPECT_STREQ(sl_csv_colname(c.get(), 2), "name");
    std::vector<std::vector<std::string>> rows;
    std::vector<int64_t> lines;
    ASSERT_EQ(read_all(c.get(), &rows, &lines), SL_OK);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0], (std::vector<std::string>{"P1", "34", "Ann"}));
    EXPECT_EQ(rows[1], (std::vector<std::string>{"P2", "", "Bo"}));
    EXPECT_EQ(lines, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(sl_csv_offset(c.get()), sl_csv_size(c.get()));
}

TEST_F(CsvTest, TabSeparated) {
    path_ = write("t.tsv", "id\tnote,with comma\tn\n"
                           "1\t\"a\tb\"\t2\n"
                           "2\tx,y\t\n"
                           "3\t\"two\nlines\"\t4\n");
    sl_csv *cp = nullptr;
    ASSERT_EQ(sl_csv_open_delim(path_.c_str(), '\t', &cp), SL_OK) << sl_error_message();
    Csv c(cp);
    ASSERT_EQ(sl_csv_ncols(c.get()), 3);
    EXPECT_STREQ(sl_csv_colname(c.get(), 1), "note,with comma");
    std::vector<std::vector<std::string>> rows;
    std::vector<int64_t> lines;
    ASSERT_EQ(read_all(c.get(), &rows, &lines), SL_OK);
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[0], (std::vector<std::string>{"1", "a\tb", "2"}));
    EXPECT_EQ(rows[1], (std::vector<std::string>{"2", "x,y", ""}));
    EXPECT_EQ(rows[2], (std::vector<std::string>{"3", "two\nlines", "4"}));
    EXPECT_EQ(lines, (std::vector<int64_t>{2, 3, 4}));

    path_ = write("bad.tsv", "a\tb\n\"x\"y\t1\n");
    ASSERT_EQ(sl_csv_open_delim(path_.c_str(), '\t', &cp), SL_OK);
    Csv bad(cp);
    rows.clear();
    EXPECT_EQ(read_all(bad.get(), &rows), SL_ERR_FORMAT);
    EXPECT_EQ(std::string(sl_error_message()),
              path_ + ":2: column 1 (a): text after the closing quote, expected a tab or the end "
                      "of the line");
    EXPECT_EQ(sl_csv_open_delim(path_.c_str(), ';', &cp), SL_ERR_ARG);
}

TEST_F(CsvTest, CrlfAndMissingFinalNewline) {
    Csv c = open("a,b\r\n1,2\r\n\"x\",\"y\"\r\n3,4");
    std::vector<std::vector<std::string>> rows;
    std::vector<int64_t> lines;
    ASSERT_EQ(read_all(c.get(), &rows, &lines), SL_OK);
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[0], (std::vector<std::string>{"1", "2"}));
    EXPECT_EQ(rows[1], (std::vector<std::string>{"x", "y"}));
    EXPECT_EQ(rows[2], (std::vector<std::string>{"3", "4"}));
    EXPECT_EQ(lines, (std::vector<int64_t>{2, 3, 4}));
}

TEST_F(CsvTest, QuotedFieldsWithCommasQuotesAndNewlines) {
    Csv c = open("id,note,n\n"
                 "1,\"a, b\",2\n"
                 "2,\"say \"\"hi\"\"\",3\n"
                 "3,\"two\nlines\r\nand three\",4\n"
                 "4,\"\",5\n"
                 "5,x\"y,6\n");
    std::vector<std::vector<std::string>> rows;
    std::vector<int64_t> lines;
    ASSERT_EQ(read_all(c.get(), &rows, &lines), SL_OK);
    ASSERT_EQ(rows.size(), 5u);
    EXPECT_EQ(rows[0][1], "a, b");
    EXPECT_EQ(rows[1][1], "say \"hi\"");
    EXPECT_EQ(rows[2][1], "two\nlines\r\nand three");
    EXPECT_EQ(rows[2][2], "4");
    EXPECT_EQ(rows[3][1], "");
    EXPECT_EQ(rows[4][1], "x\"y");  // a quote inside an unquoted field is literal
    EXPECT_EQ(lines, (std::vector<int64_t>{2, 3, 4, 7, 8}));
}

TEST_F(CsvTest, FieldLineAfterQuotedLineBreaks) {
    Csv c = open("a,b,c\n\"1\n2\",\"3\n\n4\",5\n");
    int got = 0;
    ASSERT_EQ(sl_csv_next(c.get(), &got), SL_OK);
    ASSERT_EQ(got, 1);
    EXPECT_EQ(sl_csv_line(c.get()), 2);
    EXPECT_EQ(sl_csv_field_line(c.get(), 0), 2);
    EXPECT_EQ(sl_csv_field_line(c.get(), 1), 3);
    EXPECT_EQ(sl_csv_field_line(c.get(), 2), 5);
}

TEST_F(CsvTest, EmptyAndNaAreMissing) {
    Csv c = open("a,b,c,d,e\nNA,,\"NA\",na,\"\"\n");
    int got = 0;
    ASSERT_EQ(sl_csv_next(c.get(), &got), SL_OK);
    ASSERT_EQ(got, 1);
    EXPECT_TRUE(sl_csv_missing(c.get(), 0));
    EXPECT_TRUE(sl_csv_missing(c.get(), 1));
    EXPECT_TRUE(sl_csv_missing(c.get(), 2));
    EXPECT_FALSE(sl_csv_missing(c.get(), 3));
    EXPECT_TRUE(sl_csv_missing(c.get(), 4));
}

TEST_F(CsvTest, BomBlankLinesAndTrailingComma) {
    Csv c = open("\xEF\xBB\xBFid,x\n\n1,\n\r\n2,b\n\n");
    EXPECT_STREQ(sl_csv_colname(c.get(), 0), "id");
    std::vector<std::vector<std::string>> rows;
    std::vector<int64_t> lines;
    ASSERT_EQ(read_all(c.get(), &rows, &lines), SL_OK);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0], (std::vector<std::string>{"1", ""}));
    EXPECT_EQ(rows[1], (std::vector<std::string>{"2", "b"}));
    EXPECT_EQ(lines, (std::vector<int64_t>{3, 5}));
}

TEST_F(CsvTest, Utf8TextIsKept) {
    Csv c = open("name,city\nZo\xC3\xAB,\"K\xC3\xB8" "benhavn \xE2\x82\xAC \xF0\x9F\x98\x80\"\n");
    std::vector<std::vector<std::string>> rows;
    ASSERT_EQ(read_all(c.get(), &rows), SL_OK);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0][0], "Zo\xC3\xAB");
    EXPECT_EQ(rows[0][1], "K\xC3\xB8" "benhavn \xE2\x82\xAC \xF0\x9F\x98\x80");
}

TEST_F(CsvTest, RewindReadsTheSameRecords) {
    Csv c = open("a\n1\n2\n3\n");
    std::vector<std::vector<std::string>> first, second;
    std::vector<int64_t> l1, l2;
    ASSERT_EQ(read_all(c.get(), &first, &l1), SL_OK);
    ASSERT_EQ(sl_csv_rewind(c.get()), SL_OK);
    ASSERT_EQ(read_all(c.get(), &second, &l2), SL_OK);
    EXPECT_EQ(first, second);
    EXPECT_EQ(l1, l2);
    EXPECT_EQ(first.size(), 3u);
}

// A gzip-compressed file (known by its magic bytes, whatever its name)
// reads as its text, members one after the other, again after a rewind;
// the offset counts compressed bytes, up to the file's size. A truncated
// or corrupt file is an error naming it.
TEST_F(CsvTest, GzipFilesReadAsTheirText) {
    std::string text = "\xEF\xBB\xBF\n\na,b\n";
    for (int i = 0; i < 200000; i++)
        text += std::to_string(i) + ",\"x" + std::to_string(i % 7) + "\"\n";
    size_t half = text.find('\n', text.size() / 2) + 1;
    std::string packed = sltest::gzip(text.substr(0, half)) + sltest::gzip(text.substr(half));
    Csv c = open(packed);
    ASSERT_EQ(sl_csv_ncols(c.get()), 2);
    EXPECT_STREQ(sl_csv_colname(c.get(), 1), "b");
    std::vector<std::vector<std::string>> first, second;
    std::vector<int64_t> l1, l2;
    ASSERT_EQ(read_all(c.get(), &first, &l1), SL_OK);
    ASSERT_EQ(first.size(), 200000u);
    EXPECT_EQ(first[123456], (std::vector<std::string>{"123456", "x4"}));
    EXPECT_EQ(l1[0], 4);
    EXPECT_EQ(sl_csv_offset(c.get()), sl_csv_size(c.get()));
    EXPECT_EQ(sl_csv_size(c.get()), static_cast<int64_t>(packed.size()));
    ASSERT_EQ(sl_csv_rewind(c.get()), SL_OK);
    ASSERT_EQ(read_all(c.get(), &second, &l2), SL_OK);
    EXPECT_EQ(first, second);
    EXPECT_EQ(l1, l2);

    std::string whole = sltest::gzip(text);
    sl_csv *raw = nullptr;
    std::string path = write("cut.csv.gz", whole.substr(0, whole.size() / 2));
    sl_status st = sl_csv_open(path.c_str(), &raw);
    Csv cut(raw);
    std::vector<std::vector<std::string>> rows;
    if (st == SL_OK)  // at open or later: the header's read inflates ahead
        st = read_all(cut.get(), &rows, nullptr);
    EXPECT_EQ(st, SL_ERR_FORMAT);
    EXPECT_NE(std::string(sl_error_message()).find(
                  "cut.csv.gz: the gzip file ends before its compressed stream does"),
              std::string::npos)
        << sl_error_message();
    whole[20] = static_cast<char>(whole[20] ^ 0x55);
    whole[21] = static_cast<char>(whole[21] ^ 0x55);
    path = write("bad.csv.gz", whole);
    EXPECT_EQ(sl_csv_open(path.c_str(), &raw), SL_ERR_FORMAT);
    EXPECT_NE(std::string(sl_error_message()).find("bad.csv.gz: not a valid gzip file"),
              std::string::npos)
        << sl_error_message();
}

TEST_F(CsvTest, RecordsLargerThanTheBufferAndAcrossRefills) {
    // 5 MiB quoted field (larger than the 4 MiB initial buffer) with embedded
    // quotes and line breaks, then many short records that cross refills.
    std::string big;
    for (int i = 0; i < 5 * 1024 * 1024 / 8; i++)
        big += (i % 1000 == 0) ? "ab\"\"c\nd," : "abcdefgh";
    std::string want_big;
    for (char ch : big) {
        want_big += ch;
        if (ch == '"' && want_big.size() >= 2 && want_big[want_big.size() - 2] == '"')
            want_big.pop_back();
    }
    std::string text = "id,v\nbig,\"" + big + "\"\n";
    const int n = 300000;
    for (int i = 0; i < n; i++)
        text += "r" + std::to_string(i) + ",\"" + std::to_string(i * 7) + "\"\r\n";
    Csv c = open(text);
    std::vector<std::vector<std::string>> rows;
    std::vector<int64_t> lines;
    ASSERT_EQ(read_all(c.get(), &rows, &lines), SL_OK);
    ASSERT_EQ(rows.size(), static_cast<size_t>(n) + 1);
    EXPECT_EQ(rows[0][1], want_big);
    int64_t big_lines = static_cast<int64_t>(std::count(big.begin(), big.end(), '\n'));
    for (int i = 0; i < n; i++) {
        ASSERT_EQ(rows[i + 1][0], "r" + std::to_string(i));
        ASSERT_EQ(rows[i + 1][1], std::to_string(i * 7));
        ASSERT_EQ(lines[i + 1], 3 + big_lines + i);
    }
}

// ---- errors ----

TEST_F(CsvTest, RaggedRows) {
    expect_error("a,b,c,d,e,f,g,h\n1,2,3,4,5,6,7,8\n1,2,3,4,5,6,7\n", SL_ERR_FORMAT,
                 ":3: expected 8 fields as in the header, found 7");
    expect_error("a,b\n1,2\n\n\n1,2,3\n", SL_ERR_FORMAT,
                 ":5: expected 2 fields as in the header, found 3");
    expect_error("a,b\n\"x\ny\",2\n1\n", SL_ERR_FORMAT,
                 ":4: expected 2 fields as in the header, found 1");
}

TEST_F(CsvTest, UnterminatedQuote) {
    expect_error("id,note,n\n1,a,2\n2,\"open,3\n4,5,6\n", SL_ERR_FORMAT,
                 ":3: column 2 (note): unterminated quoted field, expected a closing quote "
                 "before the end of the file");
    expect_error("\"id,b\n", SL_ERR_FORMAT,
                 ":1: column 1: unterminated quoted field, expected a closing quote before the "
                 "end of the file");
}

TEST_F(CsvTest, TextAfterClosingQuote) {
    expect_error("a,b\n1,\"x\"y\n", SL_ERR_FORMAT,
                 ":2: column 2 (b): text after the closing quote, expected a comma or the end "
                 "of the line");
}

TEST_F(CsvTest, InvalidUtf8) {
    expect_error("a,b,c\n1,2,3\n4,5,x\xFFy\n", SL_ERR_FORMAT,
                 ":3: column 3 (c): invalid UTF-8 text, expected UTF-8 without NUL bytes");
    // inside a quoted field, the line of the bad byte is reported
    expect_error("a,b\n1,\"ok\nstill ok\n\xC3(\"\n", SL_ERR_FORMAT,
                 ":4: column 2 (b): invalid UTF-8 text, expected UTF-8 without NUL bytes");
    // overlong encoding, surrogate, truncated sequence, NUL byte
    expect_error(std::string("a\n\xC0\xAF\n"), SL_ERR_FORMAT,
                 ":2: column 1 (a): invalid UTF-8 text, expected UTF-8 without NUL bytes");
    expect_error(std::string("a\n\xED\xA0\x80\n"), SL_ERR_FORMAT,
                 ":2: column 1 (a): invalid UTF-8 text, expected UTF-8 without NUL bytes");
    expect_error(std::string("a,b\n\xE2\x82,1\n"), SL_ERR_FORMAT,
                 ":2: column 1 (a): invalid UTF-8 text, expected UTF-8 without NUL bytes");
    expect_error(std::string("a,b\n1,x\0y\n", 10), SL_ERR_FORMAT,
                 ":2: column 2 (b): invalid UTF-8 text, expected UTF-8 without NUL bytes");
    expect_error(std::string("a,\xFF\n"), SL_ERR_FORMAT,
                 ":1: column 2: invalid UTF-8 text, expected UTF-8 without NUL bytes");
}

TEST_F(CsvTest, EmptyFile) {
    expect_error("", SL_ERR_FORMAT, ": the file is empty, expected a header row of column names");
    expect_error("\xEF\xBB\xBF", SL_ERR_FORMAT,
                 ": the file is empty, expected a header row of column names");
    expect_error("\n\r\n\n", SL_ERR_FORMAT,
                 ": the file is empty, expected a header row of column names");
}

TEST_F(CsvTest, BadHeaderNames) {
    expect_error("id,age,,x\n", SL_ERR_FORMAT,
                 ":1: column 3: empty header name, expected a column name");
    expect_error("\nid,age,sex,age\n", SL_ERR_FORMAT,
                 ":2: column 4: header name 'age' repeats column 2, expected unique names");
    expect_error("id,\"\"\n", SL_ERR_FORMAT,
                 ":1: column 2: empty header name, expected a column name");
}

TEST_F(CsvTest, MissingFileAndDirectory) {
    sl_csv *c = nullptr;
    std::string p = dir_.file("nope.csv");
    EXPECT_EQ(sl_csv_open(p.c_str(), &c), SL_ERR_IO);
    EXPECT_EQ(c, nullptr);
    EXPECT_NE(std::string(sl_error_message()).find(p + ": cannot open"), std::string::npos);
    EXPECT_EQ(sl_csv_open(dir_.path().c_str(), &c), SL_ERR_IO);
}

TEST_F(CsvTest, FieldErrorNamesLineColumnAndHeader) {
    Csv c = open("id,age\n1,\"x\ny\"\n2,3\n");
    int got = 0;
    ASSERT_EQ(sl_csv_next(c.get(), &got), SL_OK);
    EXPECT_EQ(sl_csv_field_error(c.get(), 1, SL_ERR_FORMAT, "expected %s", "an integer"),
              SL_ERR_FORMAT);
    EXPECT_EQ(std::string(sl_error_message()), path_ + ":2: column 2 (age): expected an integer");
    ASSERT_EQ(sl_csv_next(c.get(), &got), SL_OK);
    EXPECT_EQ(sl_csv_field_error(c.get(), 0, SL_ERR_FORMAT, "bad"), SL_ERR_FORMAT);
    EXPECT_EQ(std::string(sl_error_message()), path_ + ":4: column 1 (id): bad");
}

}  // namespace

namespace {

// A field as RFC 4180 writes it: quoted, inner quotes doubled.
std::string rfc_quoted(const std::string &f) {
    std::string q = "\"";
    for (char ch : f)
        q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return q + "\"";
}

} // namespace

// Mangled files (bytes deleted, separators, quotes, line ends, NUL and
// invalid UTF-8 inserted, spans replaced): each one is refused with the file
// and a line, or read whole, and what is read, written back fully quoted,
// reads again to the same records. Nothing leaks; the sanitizer build runs
// this too.
TEST_F(CsvTest, MangledFilesAreRefusedCleanlyOrRoundTrip) {
    const std::vector<std::string> seeds = {
        "id,age,name,note\r\n1,40,\"Smith, J\",\"said \"\"hi\"\"\"\r\n2,,NA,\r\n3,7,x,\"a\nb\"\r\n",
        "\xef\xbb\xbfpatient_id,sex,bmi\n10,F,22.5\n11,M,\n12,\"F\",31\n\n13,M,1e3\n",
        "a,b\n\"\",\"\"\n\xc3\xa9,\xe2\x82\xac\n",
    };
    const std::vector<std::string> pieces = {",", "\"", "\n", "\r", "\r\n", "\"\"", "\xff",
                                             "\xc3", "\xe2\x82", std::string(1, '\0'), "NA",
                                             "a", " ", "\xef\xbb\xbf"};
    std::mt19937_64 rng(4180);
    int read_whole = 0;
    for (int i = 0; i < 1000; i++) {
        std::string s = sltest::mangle(seeds[rng() % seeds.size()], pieces, rng, 3, 4);
        path_ = write("m.csv", s);
        sl_csv *cp = nullptr;
        sl_status st = sl_csv_open(path_.c_str(), &cp);
        Csv c(cp);
        std::vector<std::vector<std::string>> rows;
        if (st == SL_OK)
            st = read_all(c.get(), &rows);
        if (st != SL_OK) {
            ASSERT_EQ(st, SL_ERR_FORMAT) << testing::PrintToString(s) << ": "
                                         << sl_error_message();
            ASSERT_EQ(std::string(sl_error_message()).rfind(path_, 0), 0u)
                << sl_error_message();
            continue;
        }
        read_whole++;
        std::vector<std::string> header;
        for (int j = 0; j < sl_csv_ncols(c.get()); j++)
            header.emplace_back(sl_csv_colname(c.get(), j));
        std::string again;
        for (size_t j = 0; j < header.size(); j++)
            again += (j ? "," : "") + rfc_quoted(header[j]);
        again += "\n";
        for (const auto &r : rows) {
            for (size_t j = 0; j < r.size(); j++)
                again += (j ? "," : "") + rfc_quoted(r[j]);
            again += "\n";
        }
        Csv back = open(again);
        std::vector<std::vector<std::string>> rows2;
        ASSERT_EQ(read_all(back.get(), &rows2), SL_OK) << again << ": " << sl_error_message();
        ASSERT_EQ(rows2, rows) << testing::PrintToString(s);
    }
    EXPECT_GT(read_whole, 100);
}
