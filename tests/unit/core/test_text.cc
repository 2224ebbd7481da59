// test_text.cc: sl_text_check accepts UTF-8 text that YAML allows and
// points at the first byte of anything else, by line and character column.
#include <gtest/gtest.h>

#include <string>
#include <vector>

extern "C" {
#include "engine/core/text.h"
}

namespace {

sl_text_fault check_fails(const std::string &s)
{
    sl_text_fault f{};
    EXPECT_FALSE(sl_text_check(s.data(), s.size(), &f)) << s;
    return f;
}

TEST(Text, AcceptsYamlTextInEveryScript)
{
    const std::string ok[] = {
        "",
        "version: 1\nname: 'caf\xc3\xa9'\n",                // é, two bytes
        "region: \xe5\x8c\x97\xe9\x83\xa8\r\n",               // CJK, three bytes, CRLF
        "note: \xf0\x9f\xa9\xba\tx\n",                        // U+1FA7A, four bytes, tab
        "\xef\xbb\xbfversion: 1\n",                           // byte order mark
        "a: \xc2\x85 \xc2\xa0 \xed\x9f\xbf \xee\x80\x80 \xef\xbf\xbd \xf4\x8f\xbf\xbf\n",
    };
    for (const std::string &s : ok)
        EXPECT_TRUE(sl_text_check(s.data(), s.size(), nullptr)) << s;
}

TEST(Text, NamesTheFirstBadByteByLineAndCharacter)
{
    // Latin-1 e-acute on line 2, after one two-byte character on that line
    sl_text_fault f = check_fails("version: 1\n\xc3\xa9t\xe9: 1\n");
    EXPECT_EQ(f.line, 2);
    EXPECT_EQ(f.col, 3);
    EXPECT_EQ(f.offset, 14u);
    EXPECT_STREQ(f.why, "byte 0xe9 is not UTF-8");

    // the directive that once hung the YAML library
    f = check_fails("%\xff\x18");
    EXPECT_EQ(f.line, 1);
    EXPECT_EQ(f.col, 2);
    EXPECT_STREQ(f.why, "byte 0xff is not UTF-8");

    // CRLF and a lone CR each end one line
    f = check_fails("a\r\nb\rc\x01");
    EXPECT_EQ(f.line, 3);
    EXPECT_EQ(f.col, 2);
    EXPECT_STREQ(f.why, "control character 0x01");
}

TEST(Text, RefusesControlsAndMalformedUtf8)
{
    const struct {
        std::string text, why;
    } bad[] = {
        {std::string("a\0b", 3), "control character 0x00"},
        {"a\x1b[0m", "control character 0x1b"},
        {"a\x7f", "control character 0x7f"},
        {"a\xc2\x80", "control character U+0080"},  // C1 control
        {"a\xef\xbf\xbe", "control character U+FFFE"}, // a non-character
        {"a\xc0\xaf", "byte 0xc0 is not UTF-8"},       // overlong lead bytes
        {"a\xe0\x80\xaf", "overlong UTF-8 encoding of U+002F"},
        {"a\xf0\x80\x80\xaf", "overlong UTF-8 encoding of U+002F"},
        {"a\xed\xa0\x80", "U+D800 is not a character"}, // surrogate
        {"a\xf4\x90\x80\x80", "U+110000 is not a character"},
        {"a\xf5\x80\x80\x80", "byte 0xf5 is not UTF-8"},
        {"a\x80", "byte 0x80 is not UTF-8"},            // lone continuation
        {"a\xe5\x8c", "the text ends inside a UTF-8 sequence"},
        {"a\xe5\x8cz", "byte 0xe5 is not UTF-8"},
    };
    for (const auto &b : bad) {
        sl_text_fault f = check_fails(b.text);
        EXPECT_EQ(f.why, b.why) << b.text;
        EXPECT_EQ(f.offset, 1u) << b.text;
        EXPECT_EQ(f.col, 2) << b.text;
    }
}

struct Repeat {
    int64_t later, earlier;
};

Repeat first_repeat(const std::vector<std::string> &names)
{
    std::vector<const char *> p;
    for (const std::string &n : names)
        p.push_back(n.c_str());
    Repeat r{-2, -2};
    EXPECT_EQ(sl_first_repeat(p.data(), static_cast<int64_t>(p.size()), &r.later, &r.earlier),
              SL_OK);
    return r;
}

TEST(Text, FirstRepeatIsTheEarliestLaterName)
{
    EXPECT_EQ(first_repeat({}).later, -1);
    EXPECT_EQ(first_repeat({"a"}).later, -1);
    EXPECT_EQ(first_repeat({"a", "b", "c"}).later, -1);
    Repeat r = first_repeat({"x", "b", "a", "b", "a", "x", "b"});
    EXPECT_EQ(r.later, 3);
    EXPECT_EQ(r.earlier, 1);
    r = first_repeat({"a", "a", "a"});
    EXPECT_EQ(r.later, 1);
    EXPECT_EQ(r.earlier, 0);
    // case and prefixes differ
    EXPECT_EQ(first_repeat({"Age", "age", "ag", "age "}).later, -1);

    // the sizes column names and levels reach (a check that compared every
    // pair took seconds at 50,000 and minutes at a million)
    std::vector<std::string> many;
    for (int64_t i = 0; i < 300000; i++)
        many.push_back("level_" + std::to_string(i * 7919 % 300007));
    EXPECT_EQ(first_repeat(many).later, -1);
    many.push_back(many[123456]);
    many.push_back(many[5]);
    r = first_repeat(many);
    EXPECT_EQ(r.later, 300000);
    EXPECT_EQ(r.earlier, 123456);
}

} // namespace
