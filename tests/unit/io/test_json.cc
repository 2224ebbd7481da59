// test_json.cc: the strict in-place JSON tokenizer for FHIR Bulk Data lines:
// navigation of a FHIR-like resource, every literal and number form, escape
// decoding, duplicate keys, and each refusal with its exact byte offset and
// message. Inputs are parsed from heap buffers of exactly their size, so
// AddressSanitizer catches any read past the end.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

extern "C" {
#include "engine/core/alloc.h"
#include "engine/core/status.h"
#include "io/json_impl.h"
}

namespace {

struct Refusal {
    sl_status st;
    size_t off;
    std::string what;
};

class JsonTest : public ::testing::Test {
protected:
    void SetUp() override { live_ = sl_alloc_live(); }
    void TearDown() override {
        sl_json_free(&j_);
        EXPECT_EQ(j_.tok, nullptr);
        EXPECT_EQ(j_.ntok, 0u);
        EXPECT_EQ(j_.cap, 0u);
        EXPECT_EQ(sl_alloc_live(), live_) << "sl_malloc allocations leaked";
    }

    // Copies s into a buffer of exactly s.size() bytes (no NUL after it).
    void load(const std::string &s) {
        n_ = s.size();
        buf_.reset(new char[n_ ? n_ : 1]);
        std::memcpy(buf_.get(), s.data(), n_);
    }
    const char *text() const { return buf_.get(); }

    // Parses s and expects success.
    void parse(const std::string &s) {
        load(s);
        size_t off = 99;
        const char *what = "unset";
        ASSERT_EQ(sl_json_parse(&j_, text(), n_, &off, &what), SL_OK)
            << (what ? what : "(null)") << " at " << off;
        EXPECT_EQ(off, 0u);
        EXPECT_EQ(what, nullptr);
        ASSERT_GT(j_.ntok, 0u);
        EXPECT_EQ(j_.tok[0].end, j_.ntok);
    }

    // Parses s and returns the refusal (status, offset, message).
    Refusal refuse(const std::string &s) {
        load(s);
        size_t off = 99;
        const char *what = nullptr;
        sl_status st = sl_json_parse(&j_, text(), n_, &off, &what);
        EXPECT_EQ(j_.ntok, 0u) << "tokens kept after a refusal";
        return {st, off, what ? what : "(null)"};
    }

    void expect_refused(const std::string &s, size_t off, const std::string &what) {
        Refusal r = refuse(s);
        EXPECT_EQ(r.st, SL_ERR_FORMAT) << s;
        EXPECT_EQ(r.off, off) << s;
        EXPECT_EQ(r.what, what) << s;
    }

    // The decoded string token t, or "<not a string>".
    std::string str(uint32_t t) {
        char out[512];
        int64_t len = sl_json_string(&j_, text(), t, out, sizeof out);
        if (len < 0)
            return "<not a string>";
        EXPECT_EQ(out[len], '\0');
        return std::string(out, static_cast<size_t>(len));
    }

    double num(uint32_t t) {
        double v = -999.0;
        EXPECT_EQ(sl_json_number(&j_, text(), t, &v), 0) << "token " << t;
        return v;
    }

    uint32_t path(uint32_t t, const char *p) { return sl_json_path(&j_, text(), t, p); }
    uint32_t get(uint32_t t, const char *k) { return sl_json_get(&j_, text(), t, k); }
    uint8_t type(uint32_t t) { return j_.tok[t].type; }

    sl_json j_{};
    std::unique_ptr<char[]> buf_;
    size_t n_ = 0;
    int64_t live_ = 0;
};

const char kObservation[] =
    "{\"resourceType\":\"Observation\",\"id\":\"obs-1\",\"status\":\"final\","
    "\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"8867-4\","
    "\"display\":\"Heart rate\"},{\"system\":\"http://snomed.info/sct\","
    "\"code\":\"364075005\"}],\"text\":\"Heart rate\"},"
    "\"subject\":{\"reference\":\"Patient/p-123\"},"
    "\"effectiveDateTime\":\"2024-03-01T10:00:00Z\","
    "\"valueQuantity\":{\"value\":72.5,\"unit\":\"beats/minute\","
    "\"system\":\"http://unitsofmeasure.org\",\"code\":\"/min\"},"
    "\"component\":[],\"note\":null}\n";

TEST_F(JsonTest, NavigatesAFhirObservation) {
    parse(kObservation);
    ASSERT_EQ(type(0), SL_JSON_OBJECT);
    EXPECT_EQ(j_.tok[0].size, 9u);
    EXPECT_EQ(j_.tok[0].start, 0u);
    EXPECT_EQ(j_.tok[0].len, sizeof kObservation - 2); // without the NUL and line feed

    EXPECT_EQ(str(get(0, "resourceType")), "Observation");
    EXPECT_EQ(str(get(0, "status")), "final");
    EXPECT_EQ(str(path(0, "subject.reference")), "Patient/p-123");
    EXPECT_EQ(str(path(0, "code.text")), "Heart rate");
    EXPECT_EQ(num(path(0, "valueQuantity.value")), 72.5);
    EXPECT_EQ(str(path(0, "valueQuantity.code")), "/min");

    // code.coding[0].code and code.coding[1].code
    uint32_t coding = path(0, "code.coding");
    ASSERT_NE(coding, 0u);
    ASSERT_EQ(type(coding), SL_JSON_ARRAY);
    EXPECT_EQ(j_.tok[coding].size, 2u);
    uint32_t c0 = sl_json_first(&j_, coding);
    ASSERT_EQ(c0, coding + 1);
    EXPECT_EQ(str(get(c0, "code")), "8867-4");
    EXPECT_EQ(str(get(c0, "display")), "Heart rate");
    uint32_t c1 = sl_json_next(&j_, coding, c0);
    ASSERT_NE(c1, 0u);
    EXPECT_EQ(str(get(c1, "code")), "364075005");
    EXPECT_EQ(str(get(c1, "system")), "http://snomed.info/sct");
    EXPECT_EQ(get(c1, "display"), 0u);
    EXPECT_EQ(sl_json_next(&j_, coding, c1), 0u);

    // empty array, null, and steps that are missing or not objects
    uint32_t comp = get(0, "component");
    ASSERT_NE(comp, 0u);
    EXPECT_EQ(type(comp), SL_JSON_ARRAY);
    EXPECT_EQ(j_.tok[comp].size, 0u);
    EXPECT_EQ(sl_json_first(&j_, comp), 0u);
    EXPECT_EQ(type(get(0, "note")), SL_JSON_NULL);
    EXPECT_EQ(path(0, "missing"), 0u);
    EXPECT_EQ(path(0, "code.missing"), 0u);
    EXPECT_EQ(path(0, "code.text.x"), 0u);   // text is a string
    EXPECT_EQ(path(0, "code.coding.code"), 0u); // coding is an array
    EXPECT_EQ(get(coding, "code"), 0u);
    EXPECT_EQ(sl_json_first(&j_, 0), 0u);    // the root is not an array
    EXPECT_EQ(get(j_.ntok, "id"), 0u);       // out of range
    EXPECT_EQ(sl_json_first(&j_, j_.ntok + 5), 0u);
    EXPECT_EQ(sl_json_next(&j_, coding, coding), 0u); // not an item of it
    EXPECT_EQ(str(0), "<not a string>");
}

TEST_F(JsonTest, ReadsEveryLiteralAndNumberForm) {
    parse(" [0, -0, 1e5, 1.5E-3, -12.25, 1E+2, 0.0e-0, true, false, null] ");
    ASSERT_EQ(type(0), SL_JSON_ARRAY);
    ASSERT_EQ(j_.tok[0].size, 10u);
    EXPECT_EQ(j_.ntok, 11u);
    const uint8_t types[] = {SL_JSON_NUMBER, SL_JSON_NUMBER, SL_JSON_NUMBER, SL_JSON_NUMBER,
                             SL_JSON_NUMBER, SL_JSON_NUMBER, SL_JSON_NUMBER, SL_JSON_TRUE,
                             SL_JSON_FALSE,  SL_JSON_NULL};
    const char *texts[] = {"0", "-0", "1e5", "1.5E-3", "-12.25", "1E+2", "0.0e-0",
                           "true", "false", "null"};
    int k = 0;
    for (uint32_t t = sl_json_first(&j_, 0); t != 0; t = sl_json_next(&j_, 0, t), k++) {
        ASSERT_LT(k, 10);
        EXPECT_EQ(type(t), types[k]) << k;
        EXPECT_EQ(std::string(text() + j_.tok[t].start, j_.tok[t].len), texts[k]);
        EXPECT_EQ(j_.tok[t].end, t + 1);
    }
    EXPECT_EQ(k, 10);
    EXPECT_EQ(num(1), 0.0);
    EXPECT_FALSE(std::signbit(num(1)));
    EXPECT_EQ(num(2), 0.0);
    EXPECT_TRUE(std::signbit(num(2)));
    EXPECT_EQ(num(3), 100000.0);
    EXPECT_EQ(num(4), 1.5e-3);
    EXPECT_EQ(num(5), -12.25);
    EXPECT_EQ(num(6), 100.0);
    EXPECT_EQ(num(7), 0.0);

    // a lone scalar is a whole document
    parse("true");
    EXPECT_EQ(j_.ntok, 1u);
    EXPECT_EQ(type(0), SL_JSON_TRUE);
    parse("\t-7\r\n");
    EXPECT_EQ(num(0), -7.0);
}

TEST_F(JsonTest, ConvertsNumbersOnlyWhenFiniteAndShort) {
    std::string n64 = "1" + std::string(63, '0');   // 64 bytes: 1e63
    std::string n65 = "1" + std::string(64, '0');   // 65 bytes
    parse("[" + n64 + "," + n65 + ",1e400,-1e400,1e-400,0.1]");
    EXPECT_EQ(num(1), 1e63);
    double v = 42.0;
    EXPECT_EQ(sl_json_number(&j_, text(), 2, &v), -1); // too long to convert
    EXPECT_EQ(sl_json_number(&j_, text(), 3, &v), -1); // +inf
    EXPECT_EQ(sl_json_number(&j_, text(), 4, &v), -1); // -inf
    EXPECT_EQ(v, 42.0);                                // untouched on -1
    EXPECT_EQ(num(5), 0.0);                            // underflows to zero
    EXPECT_EQ(num(6), 0.1);                            // correctly rounded
}

TEST_F(JsonTest, NumberRefusesOtherTokens) {
    parse("{\"n\":\"12\",\"t\":true,\"z\":null,\"a\":[1],\"x\":3}");
    double v = 42.0;
    EXPECT_EQ(sl_json_number(&j_, text(), get(0, "n"), &v), -1); // a string, though numeric
    EXPECT_EQ(sl_json_number(&j_, text(), get(0, "t"), &v), -1);
    EXPECT_EQ(sl_json_number(&j_, text(), get(0, "z"), &v), -1);
    EXPECT_EQ(sl_json_number(&j_, text(), get(0, "a"), &v), -1);
    EXPECT_EQ(sl_json_number(&j_, text(), 0, &v), -1);
    EXPECT_EQ(sl_json_number(&j_, text(), 1, &v), -1);       // a key
    EXPECT_EQ(sl_json_number(&j_, text(), j_.ntok, &v), -1); // out of range
    EXPECT_EQ(v, 42.0);
    EXPECT_EQ(num(get(0, "x")), 3.0);
}

TEST_F(JsonTest, DecodesEscapesToUtf8) {
    parse("[\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\", \"caf\\u00e9\", \"\\ud83d\\ude00!\","
          " \"\\u20AC\\u0041\", \"a\\u0000b\", \"plain\"]");
    EXPECT_EQ(str(1), "\" \\ / \b \f \n \r \t");
    EXPECT_EQ(j_.tok[1].escaped, 1u);
    EXPECT_EQ(str(2), "caf\xc3\xa9");
    EXPECT_EQ(str(3), "\xf0\x9f\x98\x80!"); // U+1F600 from a surrogate pair
    EXPECT_EQ(str(4), "\xe2\x82\xac" "A");
    EXPECT_EQ(str(5), std::string("a\0b", 3));  // NUL kept inside the length
    EXPECT_EQ(str(6), "plain");
    EXPECT_EQ(j_.tok[6].escaped, 0u);
    // the token's text is the raw, undecoded span
    EXPECT_EQ(std::string(text() + j_.tok[2].start, j_.tok[2].len), "caf\\u00e9");
    EXPECT_EQ(sl_json_string_eq(&j_, text(), 2, "caf\xc3\xa9"), 1);
    EXPECT_EQ(sl_json_string_eq(&j_, text(), 3, "\xf0\x9f\x98\x80!"), 1);
    EXPECT_EQ(sl_json_string_eq(&j_, text(), 5, "a"), 0);
}

TEST_F(JsonTest, AcceptsRawUtf8InStrings) {
    const std::string s = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf \xed\x9f\xbf "
                          "\xee\x80\x80 \x7f";
    parse("{\"k\":\"" + s + "\"}");
    EXPECT_EQ(str(get(0, "k")), s);
    EXPECT_EQ(sl_json_string_eq(&j_, text(), 2, s.c_str()), 1);
}

TEST_F(JsonTest, ComparesEscapedKeysAfterDecoding) {
    parse("{\"\\u0073ubject\":{\"ref\\u0065rence\":\"Patient/1\"},\"a\\\"b\":1,"
          "\"caf\\u00e9\":\"\\u0050atient/2\"}");
    uint32_t ref = path(0, "subject.reference");
    ASSERT_NE(ref, 0u);
    EXPECT_EQ(sl_json_string_eq(&j_, text(), ref, "Patient/1"), 1);
    EXPECT_EQ(sl_json_string_eq(&j_, text(), ref, "Patient/"), 0);
    EXPECT_EQ(sl_json_string_eq(&j_, text(), ref, "Patient/10"), 0);
    EXPECT_EQ(sl_json_string_eq(&j_, text(), 1, "subject"), 1); // the escaped key itself
    EXPECT_EQ(sl_json_string_eq(&j_, text(), 1, "\\u0073ubject"), 0);
    EXPECT_EQ(num(get(0, "a\"b")), 1.0);
    uint32_t cafe = get(0, "caf\xc3\xa9");
    ASSERT_NE(cafe, 0u);
    EXPECT_EQ(sl_json_string_eq(&j_, text(), cafe, "Patient/2"), 1);
    EXPECT_EQ(sl_json_string_eq(&j_, text(), cafe, "Patient/1"), 0);
    EXPECT_EQ(sl_json_string_eq(&j_, text(), 0, ""), 0); // not a string
    EXPECT_EQ(get(0, "cafe"), 0u);
}

TEST_F(JsonTest, DuplicateKeysFirstWins) {
    parse("{\"x\":{\"a\":9,\"b\":[1,{\"a\":8}]},\"a\":1,\"a\":2,\"b\":{\"c\":3},\"b\":{\"c\":4}}");
    EXPECT_EQ(j_.tok[0].size, 5u);
    EXPECT_EQ(num(get(0, "a")), 1.0);          // skips x's subtree, takes the first "a"
    EXPECT_EQ(num(path(0, "b.c")), 3.0);
    EXPECT_EQ(num(path(0, "x.a")), 9.0);
}

TEST_F(JsonTest, StringRefusesATooSmallBuffer) {
    parse("[\"abc\",\"\\u00e9\",\"\",7]");
    char out[8];
    std::memset(out, 'Z', sizeof out);
    EXPECT_EQ(sl_json_string(&j_, text(), 1, out, 3), -1); // "abc" needs 4 with the NUL
    EXPECT_EQ(out[0], 'Z');                                // nothing written
    EXPECT_EQ(sl_json_string(&j_, text(), 1, out, 4), 3);
    EXPECT_STREQ(out, "abc");
    std::memset(out, 'Z', sizeof out);
    EXPECT_EQ(sl_json_string(&j_, text(), 2, out, 2), -1); // two bytes of UTF-8 plus NUL
    EXPECT_EQ(out[0], 'Z');
    EXPECT_EQ(sl_json_string(&j_, text(), 2, out, 3), 2);
    EXPECT_STREQ(out, "\xc3\xa9");
    EXPECT_EQ(sl_json_string(&j_, text(), 3, out, 0), -1);
    EXPECT_EQ(sl_json_string(&j_, text(), 3, out, 1), 0);
    EXPECT_STREQ(out, "");
    EXPECT_EQ(sl_json_string(&j_, text(), 4, out, sizeof out), -1); // a number
    EXPECT_EQ(sl_json_string(&j_, text(), 0, out, sizeof out), -1); // an array
}

TEST_F(JsonTest, RefusesStructuralErrors) {
    expect_refused("[1,2,]", 5, "expected a JSON value");
    expect_refused("{\"a\":1,}", 7, "expected a string key");
    expect_refused("{,}", 1, "expected a string key");
    expect_refused("{\"a\" 1}", 5, "expected ':' after an object key");
    expect_refused("{\"a\":1 \"b\":2}", 7, "expected ',' or '}' after an object member");
    expect_refused("[1 2]", 3, "expected ',' or ']' after an array item");
    expect_refused("[1}", 2, "expected ',' or ']' after an array item");
    expect_refused("[", 1, "expected a JSON value");
    expect_refused("{\"a\":[1,2]", 10, "expected ',' or '}' after an object member");
    expect_refused("1 2", 2, "expected end of input after the value");
    expect_refused("{} {}", 3, "expected end of input after the value");
    expect_refused("", 0, "expected a JSON value");
    expect_refused(" \t\r\n", 4, "expected a JSON value");
    expect_refused("NaN", 0, "expected a JSON value");
    expect_refused("[NaN]", 1, "expected a JSON value");
    expect_refused("Infinity", 0, "expected a JSON value");
    expect_refused("-Infinity", 1, "expected a digit after '-'");
    expect_refused("tru", 0, "expected a JSON value");
    expect_refused("True", 0, "expected a JSON value");
    expect_refused("nullx", 4, "expected end of input after the value");
    expect_refused("/*c*/1", 0, "expected a JSON value");
    expect_refused("'a'", 0, "expected a JSON value");
    expect_refused("{a:1}", 1, "expected a string key");
}

TEST_F(JsonTest, RefusesBadNumbers) {
    expect_refused("01", 1, "leading zero in a number");
    expect_refused("[-01]", 3, "leading zero in a number");
    expect_refused("00", 1, "leading zero in a number");
    expect_refused("-", 1, "expected a digit after '-'");
    expect_refused("[-]", 2, "expected a digit after '-'");
    expect_refused("1.", 2, "expected a digit after '.' in a number");
    expect_refused("1.e5", 2, "expected a digit after '.' in a number");
    expect_refused(".5", 0, "expected a JSON value");
    expect_refused("+1", 0, "expected a JSON value");
    expect_refused("1e", 2, "expected a digit in the exponent of a number");
    expect_refused("1e+", 3, "expected a digit in the exponent of a number");
    expect_refused("1.5.3", 3, "expected end of input after the value");
    expect_refused("0x10", 1, "expected end of input after the value");
}

TEST_F(JsonTest, RefusesBadStrings) {
    // escapes are reported at their backslash
    expect_refused("\"\\ud800\"", 1, "high surrogate escape without a low surrogate escape after it");
    expect_refused("\"ab\\ud800\\u0041\"", 3,
                   "high surrogate escape without a low surrogate escape after it");
    expect_refused("\"\\ud800", 1, "high surrogate escape without a low surrogate escape after it");
    expect_refused("\"\\udc00\"", 1, "low surrogate escape without a high surrogate before it");
    expect_refused("\"a\\x\"", 2,
                   "invalid escape: expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u");
    expect_refused("\"\\u12G4\"", 1, "expected four hex digits after '\\u'");
    expect_refused("\"\\u12", 1, "expected four hex digits after '\\u'");
    expect_refused("\"\\", 1, "unterminated string: expected an escape after '\\'");
    // raw control characters, at the byte
    expect_refused("\"a\x01" "b\"", 2, "control character in a string (it must be escaped)");
    expect_refused("\"a\tb\"", 2, "control character in a string (it must be escaped)");
    expect_refused(std::string("[\"a\0\"]", 5), 3,
                   "control character in a string (it must be escaped)");
    // invalid UTF-8, at the first byte of the sequence
    expect_refused("\"\xc0\x80\"", 1, "invalid UTF-8 in a string");         // overlong NUL
    expect_refused("\"a\x80\"", 2, "invalid UTF-8 in a string");            // lone continuation
    expect_refused("\"\xed\xa0\x80\"", 1, "invalid UTF-8 in a string");     // U+D800 in UTF-8
    expect_refused("\"\xe0\x80\xaf\"", 1, "invalid UTF-8 in a string");     // overlong '/'
    expect_refused("\"\xf4\x90\x80\x80\"", 1, "invalid UTF-8 in a string"); // past U+10FFFF
    expect_refused("\"\xc3\"", 1, "invalid UTF-8 in a string");             // cut short
    expect_refused("\"\xc3", 1, "invalid UTF-8 in a string");               // cut at the end
    expect_refused("\"\xff\"", 1, "invalid UTF-8 in a string");
    // unterminated strings, at the opening quote
    expect_refused("\"abc", 0, "unterminated string: expected '\"'");
    expect_refused("{\"a\":\"xyz", 5, "unterminated string: expected '\"'");
    expect_refused("{\"abc", 1, "unterminated string: expected '\"'");
    expect_refused("\"a\\\"", 0, "unterminated string: expected '\"'");
}

TEST_F(JsonTest, LimitsNestingTo64) {
    parse(std::string(64, '[') + std::string(64, ']'));
    EXPECT_EQ(j_.ntok, 64u);
    EXPECT_EQ(j_.tok[62].size, 1u);
    EXPECT_EQ(j_.tok[62].end, 64u);
    EXPECT_EQ(j_.tok[63].size, 0u);
    EXPECT_EQ(j_.tok[63].start, 63u);
    EXPECT_EQ(j_.tok[63].len, 2u);
    expect_refused(std::string(65, '[') + std::string(65, ']'), 64,
                   "nesting deeper than 64 levels");
    std::string objs;
    for (int d = 0; d < 65; d++)
        objs += "{\"a\":";
    expect_refused(objs + "1" + std::string(65, '}'), 64 * 5, "nesting deeper than 64 levels");
    // a hostile depth is refused at the limit, not after reading it all
    expect_refused(std::string(1 << 20, '['), 64, "nesting deeper than 64 levels");
}

TEST_F(JsonTest, RefusesInputsOf2GiBOrMore) {
    // refused on the length alone: the single byte behind the pointer is never read
    const char one = '1';
    size_t off = 99;
    const char *what = nullptr;
    EXPECT_EQ(sl_json_parse(&j_, &one, size_t{1} << 31, &off, &what), SL_ERR_FORMAT);
    EXPECT_EQ(off, size_t{1} << 31);
    EXPECT_STREQ(what, "input of 2^31 bytes or more");
    EXPECT_EQ(j_.ntok, 0u);
    EXPECT_EQ(sl_json_parse(&j_, &one, 1, &off, &what), SL_OK);
    EXPECT_EQ(j_.ntok, 1u);
}

TEST_F(JsonTest, ErrorMessageNamesOffsetNotValue) {
    sl_error_clear();
    expect_refused("{\"name\":\"Jane\x01" "Doe\"}", 13,
                   "control character in a string (it must be escaped)");
    std::string msg = sl_error_message();
    EXPECT_EQ(msg, "JSON refused at byte 13: control character in a string (it must be escaped)");
    EXPECT_EQ(msg.find("Jane"), std::string::npos);
}

TEST_F(JsonTest, ReusesTheTokenArrayAndGrowsIt) {
    std::string big = "[";
    for (int i = 0; i < 10000; i++)
        big += (i ? "," : "") + std::to_string(i);
    big += "]";
    parse(big);
    ASSERT_EQ(j_.tok[0].size, 10000u);
    EXPECT_GE(j_.cap, 10001u);
    int64_t sum = 0, count = 0;
    for (uint32_t t = sl_json_first(&j_, 0); t != 0; t = sl_json_next(&j_, 0, t), count++)
        sum += static_cast<int64_t>(num(t));
    EXPECT_EQ(count, 10000);
    EXPECT_EQ(sum, 10000LL * 9999 / 2);

    const sl_json_tok *arr = j_.tok;
    uint32_t cap = j_.cap;
    parse("{\"a\":[true]}");
    EXPECT_EQ(j_.tok, arr); // same array, no reallocation
    EXPECT_EQ(j_.cap, cap);
    EXPECT_EQ(j_.ntok, 4u);
    EXPECT_EQ(type(sl_json_first(&j_, get(0, "a"))), SL_JSON_TRUE);

    // after a refusal nothing can be looked up
    refuse("{\"a\":1,}");
    EXPECT_EQ(get(0, "a"), 0u);
    EXPECT_EQ(str(0), "<not a string>");

    sl_json_free(nullptr); // NULL-safe
}

TEST_F(JsonTest, ReadsALongString) {
    std::string body(1 << 20, 'x');
    body[12345] = '\\';
    body[12346] = 'n';
    parse("\"" + body + "\"");
    EXPECT_EQ(j_.tok[0].len, body.size());
    std::unique_ptr<char[]> out(new char[body.size()]);
    int64_t len = sl_json_string(&j_, text(), 0, out.get(), body.size());
    ASSERT_EQ(len, static_cast<int64_t>(body.size() - 1));
    EXPECT_EQ(out[12345], '\n');
    EXPECT_EQ(out[12346], 'x');
}

} // namespace
