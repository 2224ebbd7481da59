// test_audit.cc: the audit log (engine/audit.c) against the tampering it must
// catch. A log is written through the real API, then edited on disk the way
// an attacker or a crash would; verification must name the exact first bad
// line. The format is also checked independently here (canonical JSON, hash
// chain, HMAC), and concurrent writers are real forked processes.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

extern "C" {
#include "engine/audit.h"
#include "engine/core/alloc.h"
#include "engine/core/secbuf.h"
#include "engine/release.h"
}

namespace fs = std::filesystem;

namespace {

using Key = std::array<unsigned char, 32>;

Key make_key(unsigned char seed)
{
    Key k;
    for (size_t i = 0; i < k.size(); i++)
        k[i] = static_cast<unsigned char>(seed + 7 * i);
    return k;
}

std::string hex(const unsigned char *p, size_t n)
{
    static const char d[] = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < n; i++) {
        s += d[p[i] >> 4];
        s += d[p[i] & 15];
    }
    return s;
}

std::string sha256_hex(const std::string &s)
{
    unsigned char md[32];
    unsigned int n = 0;
    EXPECT_EQ(EVP_Digest(s.data(), s.size(), md, &n, EVP_sha256(), nullptr), 1);
    return hex(md, n);
}

std::string hmac_hex(const Key &key, const std::string &s)
{
    unsigned char md[32];
    unsigned int n = 0;
    EXPECT_NE(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                   reinterpret_cast<const unsigned char *>(s.data()), s.size(), md, &n),
              nullptr);
    return hex(md, n);
}

std::string canon(const json_t *obj)
{
    char *s = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    std::string out = s ? s : "";
    free(s);
    return out;
}

json_t *parse(const std::string &line)
{
    json_error_t err;
    json_t *obj = json_loadb(line.data(), line.size(), 0, &err);
    EXPECT_NE(obj, nullptr) << err.text << " in " << line;
    return obj;
}

std::string read_file(const std::string &path)
{
    std::ifstream f(path, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

void write_file(const std::string &path, const std::string &content)
{
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << content;
    ASSERT_TRUE(f.good()) << path;
}

// Lines without their newlines; a final fragment without newline is kept.
std::vector<std::string> split_lines(const std::string &content)
{
    std::vector<std::string> out;
    size_t start = 0;
    while (start < content.size()) {
        size_t nl = content.find('\n', start);
        if (nl == std::string::npos) {
            out.push_back(content.substr(start));
            break;
        }
        out.push_back(content.substr(start, nl - start));
        start = nl + 1;
    }
    return out;
}

std::string join_lines(const std::vector<std::string> &lines)
{
    std::string s;
    for (const auto &l : lines)
        s += l + "\n";
    return s;
}

// Rebuilds a line as a key holder would: parse, change, re-MAC under `key`.
std::string reseal(const std::string &line, const Key &key,
                   const std::function<void(json_t *)> &change)
{
    json_t *obj = parse(line);
    json_object_del(obj, "mac");
    change(obj);
    json_object_set_new(obj, "mac", json_string(hmac_hex(key, canon(obj)).c_str()));
    std::string out = canon(obj);
    json_decref(obj);
    return out;
}

std::string field(const std::string &line, const char *name)
{
    json_t *obj = parse(line);
    json_t *v = json_object_get(obj, name);
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    std::string out = json_is_string(v) ? json_string_value(v) : text ? text : "";
    free(text);
    json_decref(obj);
    return out;
}

struct Verdict {
    sl_status st;
    int64_t nlines;
    int64_t bad;
    std::string msg;
};

Verdict verify(const std::string &path, const Key &key)
{
    Verdict v{SL_OK, -1, -1, ""};
    v.st = sl_audit_verify(path.c_str(), key.data(), &v.nlines, &v.bad);
    v.msg = sl_error_message();
    return v;
}

class AuditTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        char tmpl[] = "/tmp/sl_audit_XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        root = tmpl;
        dir = root + "/logs/audit";
        path = dir + "/audit.jsonl";
        key = make_key(1);
        other = make_key(101);
        live0 = sl_alloc_live();
        sec0 = sl_secbuf_live();
    }

    void TearDown() override
    {
        fs::remove_all(root);
        EXPECT_EQ(sl_alloc_live(), live0);
        EXPECT_EQ(sl_secbuf_live(), sec0);
    }

    // Appends events first..first+n-1 ("job_done" with a few fields each).
    void append_events(int n, int first = 1, size_t pad = 0)
    {
        struct sl_audit *a = nullptr;
        ASSERT_EQ(sl_audit_open(path.c_str(), key.data(), &a), SL_OK) << sl_error_message();
        for (int i = first; i < first + n; i++) {
            std::string job = "job-" + std::to_string(1000 + i);
            json_t *fields = json_pack("{s:s,s:i,s:s,s:s}", "job", job.c_str(), "rows", i * 10,
                                       "status", "ok", "pad", std::string(pad, 'x').c_str());
            sl_status st = sl_audit_append(a, "job_done", fields);
            json_decref(fields);
            ASSERT_EQ(st, SL_OK) << sl_error_message();
        }
        sl_audit_close(&a);
        EXPECT_EQ(a, nullptr);
    }

    std::vector<std::string> lines() { return split_lines(read_file(path)); }
    void put_lines(const std::vector<std::string> &l) { write_file(path, join_lines(l)); }

    // Asserts the log as it is now fails with the given first bad line.
    void expect_bad(int64_t line, const char *reason, const Key *k = nullptr)
    {
        Verdict v = verify(path, k ? *k : key);
        EXPECT_EQ(v.st, SL_ERR_INTEGRITY) << v.msg;
        EXPECT_EQ(v.bad, line) << v.msg;
        EXPECT_EQ(v.nlines, 0);
        EXPECT_NE(v.msg.find(reason), std::string::npos) << "message: " << v.msg;
        EXPECT_NE(v.msg.find(path), std::string::npos) << "message names the file: " << v.msg;
    }

    void expect_good(int64_t n)
    {
        Verdict v = verify(path, key);
        EXPECT_EQ(v.st, SL_OK) << v.msg;
        EXPECT_EQ(v.nlines, n);
        EXPECT_EQ(v.bad, 0);
    }

    std::string root, dir, path;
    Key key, other;
    int64_t live0 = 0;
    long sec0 = 0;
};

TEST_F(AuditTest, OpenCreatesPrivateFilesAndAnEmptyLogVerifies)
{
    struct sl_audit *a = nullptr;
    struct stat sb;
    ASSERT_EQ(sl_audit_open(path.c_str(), key.data(), &a), SL_OK) << sl_error_message();
    sl_audit_close(&a);
    sl_audit_close(&a);
    for (const std::string &d : {root + "/logs", dir}) {
        ASSERT_EQ(stat(d.c_str(), &sb), 0) << d;
        EXPECT_EQ(sb.st_mode & 0777, 0700u) << d;
    }
    for (const std::string &f : {path, path + ".head", path + ".lock"}) {
        ASSERT_EQ(stat(f.c_str(), &sb), 0) << f;
        EXPECT_EQ(sb.st_mode & 0777, 0600u) << f;
    }
    EXPECT_EQ(read_file(path), "");
    json_t *head = parse(read_file(path + ".head"));
    EXPECT_EQ(json_integer_value(json_object_get(head, "seq")), 0);
    EXPECT_EQ(json_string_value(json_object_get(head, "hash")), std::string(64, '0'));
    json_decref(head);
    expect_good(0);
}

TEST_F(AuditTest, IntactLogVerifiesAndHasTheDocumentedFormat)
{
    append_events(20);
    expect_good(20);

    std::vector<std::string> l = lines();
    ASSERT_EQ(l.size(), 20u);
    EXPECT_EQ(read_file(path).back(), '\n');
    const std::regex iso(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
    std::string prev(64, '0');
    for (size_t i = 0; i < l.size(); i++) {
        json_t *obj = parse(l[i]);
        EXPECT_EQ(canon(obj), l[i]) << "line " << i + 1 << " is canonical";
        EXPECT_EQ(json_integer_value(json_object_get(obj, "seq")), static_cast<int64_t>(i + 1));
        EXPECT_STREQ(json_string_value(json_object_get(obj, "event")), "job_done");
        EXPECT_TRUE(std::regex_match(json_string_value(json_object_get(obj, "time")), iso));
        EXPECT_EQ(json_string_value(json_object_get(obj, "prev")), prev);
        EXPECT_EQ(json_string_value(json_object_get(obj, "job")),
                  "job-" + std::to_string(1001 + i));
        EXPECT_EQ(json_integer_value(json_object_get(obj, "rows")), static_cast<int>(10 * (i + 1)));
        std::string mac = json_string_value(json_object_get(obj, "mac"));
        json_object_del(obj, "mac");
        EXPECT_EQ(mac, hmac_hex(key, canon(obj))) << "line " << i + 1;
        json_decref(obj);
        prev = sha256_hex(l[i]);
    }

    json_t *head = parse(read_file(path + ".head"));
    EXPECT_EQ(json_integer_value(json_object_get(head, "seq")), 20);
    EXPECT_EQ(json_string_value(json_object_get(head, "hash")), sha256_hex(l[19]));
    std::string mac = json_string_value(json_object_get(head, "mac"));
    json_object_del(head, "mac");
    EXPECT_EQ(mac, hmac_hex(key, canon(head)));
    json_decref(head);
}

// The visitor of sl_audit_verify_each sees every line once, in order,
// without its MAC; an error it returns stops the verification; a bad line is
// never visited.
namespace {

struct Visits {
    std::vector<int64_t> lines;
    std::vector<std::vector<unsigned char>> hashes;
    std::vector<std::string> jobs;
    int64_t stop_at = 0;
    bool saw_mac = false;
};

sl_status visit_line(void *ctx, int64_t line, const json_t *entry, const unsigned char hash[32])
{
    Visits *v = static_cast<Visits *>(ctx);
    v->lines.push_back(line);
    v->hashes.emplace_back(hash, hash + 32);
    v->jobs.push_back(json_string_value(json_object_get(entry, "job")));
    v->saw_mac |= json_object_get(entry, "mac") != nullptr;
    if (line == v->stop_at)
        return sl_error_set(SL_ERR_NOMEM, __FILE__, __LINE__, __func__, "visitor stops");
    return SL_OK;
}

}  // namespace

TEST_F(AuditTest, VisitorSeesEveryCheckedLineInOrder)
{
    append_events(12);
    Visits all;
    int64_t n = 0, bad = 0;
    ASSERT_EQ(sl_audit_verify_each(path.c_str(), key.data(), visit_line, &all, &n, &bad), SL_OK)
        << sl_error_message();
    EXPECT_EQ(n, 12);
    ASSERT_EQ(all.lines.size(), 12u);
    for (size_t i = 0; i < 12; i++) {
        EXPECT_EQ(all.lines[i], static_cast<int64_t>(i + 1));
        EXPECT_EQ(all.jobs[i], "job-" + std::to_string(1001 + i));
    }
    EXPECT_FALSE(all.saw_mac);
    // each line's hash is what the next line's "prev" names
    std::vector<std::string> text = lines();
    for (size_t i = 0; i + 1 < 12; i++) {
        json_t *next = json_loads(text[i + 1].c_str(), 0, nullptr);
        ASSERT_NE(next, nullptr);
        char hex[65];
        sl_sha256_hex(all.hashes[i].data(), hex);
        EXPECT_STREQ(hex, json_string_value(json_object_get(next, "prev"))) << "line " << i + 1;
        json_decref(next);
    }

    Visits stop;
    stop.stop_at = 5;
    EXPECT_EQ(sl_audit_verify_each(path.c_str(), key.data(), visit_line, &stop, &n, &bad),
              SL_ERR_NOMEM);
    EXPECT_EQ(stop.lines.size(), 5u);
    EXPECT_EQ(bad, 0) << "the visitor's error is not a bad line";

    std::vector<std::string> l = lines();
    l[7][l[7].find("job-")] = 'J';
    put_lines(l);
    Visits upto;
    EXPECT_EQ(sl_audit_verify_each(path.c_str(), key.data(), visit_line, &upto, &n, &bad),
              SL_ERR_INTEGRITY);
    EXPECT_EQ(bad, 8);
    EXPECT_EQ(upto.lines.size(), 7u) << "the edited line is not visited";
}

TEST_F(AuditTest, EditedCharacterIsABadMacOnThatLine)
{
    append_events(20);
    const std::vector<std::string> orig = lines();
    struct Case {
        size_t line;
        const char *needle;
    };
    for (Case c : {Case{1, "\"status\":\"ok\""}, Case{7, "\"rows\":70"}, Case{13, "job-1013"},
                   Case{20, "\"event\":\"job_done\""}}) {
        std::vector<std::string> l = orig;
        std::string &s = l[c.line - 1];
        size_t at = s.find(c.needle);
        ASSERT_NE(at, std::string::npos) << c.needle;
        at += std::strlen(c.needle) - 2;
        s[at] = s[at] == 'o' ? 'x' : static_cast<char>(s[at] == '9' ? '1' : s[at] + 1);
        put_lines(l);
        SCOPED_TRACE("edited line " + std::to_string(c.line));
        expect_bad(static_cast<int64_t>(c.line), "bad MAC");
    }
    // The time stamp and the chain field are covered by the MAC as well.
    for (const char *name : {"time", "prev"}) {
        std::vector<std::string> l = orig;
        std::string &s = l[9];
        std::string v = field(s, name);
        size_t at = s.find(v);
        s[at + v.size() - 2] = s[at + v.size() - 2] == '1' ? '2' : '1';
        put_lines(l);
        SCOPED_TRACE(name);
        expect_bad(10, "bad MAC");
    }
    put_lines(orig);
    expect_good(20);
}

TEST_F(AuditTest, DeletedLineBreaksTheChain)
{
    append_events(20);
    const std::vector<std::string> orig = lines();
    for (size_t k : {1u, 10u, 19u}) {
        std::vector<std::string> l = orig;
        l.erase(l.begin() + static_cast<long>(k - 1));
        put_lines(l);
        SCOPED_TRACE("deleted line " + std::to_string(k));
        expect_bad(static_cast<int64_t>(k), "broken chain");
    }
    // Deleting the last line leaves a valid chain; the head catches it.
    std::vector<std::string> l = orig;
    l.pop_back();
    put_lines(l);
    expect_bad(20, "truncated");
}

TEST_F(AuditTest, InsertedLineIsCaught)
{
    append_events(20);
    const std::vector<std::string> orig = lines();
    {
        // A well-formed line in place 8, chained correctly, but MACed without the key.
        std::vector<std::string> l = orig;
        std::string forged = reseal(l[7], other, [&](json_t *o) {
            json_object_set_new(o, "prev", json_string(sha256_hex(l[6]).c_str()));
            json_object_set_new(o, "job", json_string("job-forged"));
        });
        l.insert(l.begin() + 7, forged);
        put_lines(l);
        expect_bad(8, "bad MAC");
    }
    {
        // A forged 21st line at the end, chained onto line 20.
        std::vector<std::string> l = orig;
        l.push_back(reseal(l[19], other, [&](json_t *o) {
            json_object_set_new(o, "seq", json_integer(21));
            json_object_set_new(o, "prev", json_string(sha256_hex(l[19]).c_str()));
        }));
        put_lines(l);
        expect_bad(21, "bad MAC");
    }
    {
        // A replayed genuine line (valid MAC) after itself.
        std::vector<std::string> l = orig;
        l.insert(l.begin() + 5, l[4]);
        put_lines(l);
        expect_bad(6, "broken chain");
    }
    {
        std::vector<std::string> l = orig;
        l.insert(l.begin() + 3, "{\"seq\":");
        put_lines(l);
        expect_bad(4, "unparsable");
    }
    {
        std::vector<std::string> l = orig;
        l.insert(l.begin() + 11, "");
        put_lines(l);
        expect_bad(12, "unparsable");
    }
}

TEST_F(AuditTest, SwappedLinesBreakTheChain)
{
    append_events(20);
    const std::vector<std::string> orig = lines();
    for (size_t k : {1u, 5u, 19u}) {
        std::vector<std::string> l = orig;
        std::swap(l[k - 1], l[k]);
        put_lines(l);
        SCOPED_TRACE("swapped lines " + std::to_string(k) + " and " + std::to_string(k + 1));
        expect_bad(static_cast<int64_t>(k), "broken chain");
    }
}

TEST_F(AuditTest, TruncationIsCaughtAgainstTheHead)
{
    append_events(20);
    const std::vector<std::string> orig = lines();
    for (size_t cut : {1u, 5u, 20u}) {
        std::vector<std::string> l(orig.begin(), orig.end() - static_cast<long>(cut));
        put_lines(l);
        SCOPED_TRACE("cut " + std::to_string(cut) + " lines");
        expect_bad(static_cast<int64_t>(21 - cut), "truncated");
    }
    ASSERT_TRUE(fs::remove(path));
    expect_bad(1, "missing");
}

TEST_F(AuditTest, PartialLastLineIsCaught)
{
    append_events(20);
    std::string content = read_file(path);
    write_file(path, content.substr(0, content.size() - 1));
    expect_bad(20, "partial");
    std::vector<std::string> l = split_lines(content);
    std::string half = join_lines(std::vector<std::string>(l.begin(), l.end() - 1)) +
                       l.back().substr(0, l.back().size() / 2);
    write_file(path, half);
    expect_bad(20, "partial");
    // A writer must not chain onto a partial line either.
    struct sl_audit *a = nullptr;
    EXPECT_EQ(sl_audit_open(path.c_str(), key.data(), &a), SL_ERR_INTEGRITY);
    EXPECT_EQ(a, nullptr);
    EXPECT_EQ(read_file(path), half);
}

TEST_F(AuditTest, ReplacedMacOrWrongKeyIsABadMac)
{
    append_events(20);
    const std::vector<std::string> orig = lines();
    {
        std::vector<std::string> l = orig;
        std::string mine = field(l[8], "mac");
        std::string theirs = field(l[9], "mac");
        l[8].replace(l[8].find(mine), mine.size(), theirs);
        put_lines(l);
        expect_bad(9, "bad MAC");
    }
    {
        std::vector<std::string> l = orig;
        std::string mine = field(l[0], "mac");
        l[0].replace(l[0].find(mine), mine.size(), std::string(64, '0'));
        put_lines(l);
        expect_bad(1, "bad MAC");
    }
    {
        // The whole log re-MACed under another key, chain intact.
        std::vector<std::string> l = orig;
        std::string prev(64, '0');
        for (auto &s : l) {
            s = reseal(s, other, [&](json_t *o) {
                json_object_set_new(o, "prev", json_string(prev.c_str()));
            });
            prev = sha256_hex(s);
        }
        put_lines(l);
        expect_bad(1, "bad MAC");
    }
    put_lines(orig);
    expect_good(20);
    expect_bad(1, "bad MAC", &other);
}

TEST_F(AuditTest, SequenceGapUnderTheRightKeyIsCaught)
{
    append_events(20);
    std::vector<std::string> l = lines();
    l[11] = reseal(l[11], key, [](json_t *o) { json_object_set_new(o, "seq", json_integer(14)); });
    put_lines(l);
    expect_bad(12, "sequence gap");
}

TEST_F(AuditTest, NonCanonicalLineIsAnEdit)
{
    append_events(20);
    const std::vector<std::string> orig = lines();
    std::vector<std::string> l = orig;
    l[2].insert(1, " ");
    put_lines(l);
    expect_bad(3, "canonical");
    // Same members, other order: the MAC alone would not see it.
    l = orig;
    json_t *obj = parse(l[2]);
    std::vector<std::string> keys;
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) keys.push_back(k);
    json_t *reversed = json_object();
    for (auto it = keys.rbegin(); it != keys.rend(); ++it)
        json_object_set(reversed, it->c_str(), json_object_get(obj, it->c_str()));
    char *unsorted = json_dumps(reversed, JSON_COMPACT);
    l[2] = unsorted;
    free(unsorted);
    json_decref(reversed);
    json_decref(obj);
    ASSERT_NE(l[2], orig[2]);
    put_lines(l);
    expect_bad(3, "canonical");
}

TEST_F(AuditTest, HeadFaultsAreReported)
{
    append_events(20);
    const std::vector<std::string> l = lines();
    const std::string head_path = path + ".head";
    const std::string head = read_file(head_path);
    auto sealed_head = [&](int64_t seq, const std::string &hash) {
        json_t *h = json_pack("{s:I,s:s}", "seq", static_cast<json_int_t>(seq), "hash",
                              hash.c_str());
        json_object_set_new(h, "mac", json_string(hmac_hex(key, canon(h)).c_str()));
        std::string out = canon(h) + "\n";
        json_decref(h);
        return out;
    };
    ASSERT_EQ(sealed_head(20, sha256_hex(l[19])), head) << "test rebuilds the head exactly";

    ASSERT_TRUE(fs::remove(head_path));
    expect_bad(0, "missing");

    std::string edited = head;
    edited.replace(edited.find("\"seq\":20"), 8, "\"seq\":19");
    write_file(head_path, edited);
    expect_bad(0, "bad MAC");

    write_file(head_path, "not json");
    expect_bad(0, "malformed");

    // Head two lines behind: more than a crash can explain.
    write_file(head_path, sealed_head(18, sha256_hex(l[17])));
    expect_bad(20, "never recorded in the head");

    // Head ahead of the log (e.g. log rolled back from a backup).
    write_file(head_path, sealed_head(25, std::string(64, 'a')));
    expect_bad(21, "truncated");

    // Same length, different last line.
    write_file(head_path, sealed_head(20, std::string(64, 'a')));
    expect_bad(20, "does not match the head");

    write_file(head_path, head);
    expect_good(20);
}

TEST_F(AuditTest, CrashBetweenLineAndHeadIsAcceptedAndRepaired)
{
    append_events(20);
    const std::string head_path = path + ".head";
    const std::string head20 = read_file(head_path);
    append_events(1, 21);
    // Put back the head as it was before line 21: as if the process died after
    // fsyncing line 21 and before renaming the new head into place.
    write_file(head_path, head20);
    expect_good(21);

    // The next append chains onto line 21 and rewrites the head.
    append_events(1, 22);
    std::vector<std::string> l = lines();
    ASSERT_EQ(l.size(), 22u);
    EXPECT_EQ(field(l[21], "seq"), "22");
    EXPECT_EQ(field(l[21], "prev"), sha256_hex(l[20]));
    json_t *h = parse(read_file(head_path));
    EXPECT_EQ(json_integer_value(json_object_get(h, "seq")), 22);
    EXPECT_EQ(json_string_value(json_object_get(h, "hash")), sha256_hex(l[21]));
    json_decref(h);
    expect_good(22);

    // Opening alone repairs a lagging head too.
    const std::string head22 = read_file(head_path);
    append_events(1, 23);
    const std::string head23 = read_file(head_path);
    write_file(head_path, head22);
    struct sl_audit *a = nullptr;
    ASSERT_EQ(sl_audit_open(path.c_str(), key.data(), &a), SL_OK) << sl_error_message();
    sl_audit_close(&a);
    EXPECT_EQ(read_file(head_path), head23);
    expect_good(23);
}

TEST_F(AuditTest, CrashOnTheFirstLineIsAccepted)
{
    struct sl_audit *a = nullptr;
    ASSERT_EQ(sl_audit_open(path.c_str(), key.data(), &a), SL_OK) << sl_error_message();
    const std::string head0 = read_file(path + ".head");
    ASSERT_EQ(sl_audit_append(a, "first", nullptr), SL_OK) << sl_error_message();
    sl_audit_close(&a);
    write_file(path + ".head", head0);
    expect_good(1);
    append_events(1, 2);
    expect_good(2);
}

TEST_F(AuditTest, AppendRefusesATamperedLog)
{
    append_events(20);
    std::vector<std::string> l = lines();
    struct sl_audit *a = nullptr;
    ASSERT_EQ(sl_audit_open(path.c_str(), key.data(), &a), SL_OK) << sl_error_message();
    l.pop_back();
    put_lines(l);
    const std::string before = read_file(path);
    EXPECT_EQ(sl_audit_append(a, "job_done", nullptr), SL_ERR_INTEGRITY);
    EXPECT_NE(std::string(sl_error_message()).find("does not match its head"), std::string::npos)
        << sl_error_message();
    EXPECT_EQ(read_file(path), before);
    sl_audit_close(&a);

    // Lines but no head: refused too, never silently re-headed.
    fs::remove_all(dir);
    append_events(3);
    ASSERT_TRUE(fs::remove(path + ".head"));
    EXPECT_EQ(sl_audit_open(path.c_str(), key.data(), &a), SL_ERR_INTEGRITY);
    EXPECT_EQ(a, nullptr);
    EXPECT_FALSE(fs::exists(path + ".head"));
}

TEST_F(AuditTest, FieldsAreCheckedAndKept)
{
    append_events(3);
    const std::string before = read_file(path);
    struct sl_audit *a = nullptr;
    ASSERT_EQ(sl_audit_open(path.c_str(), key.data(), &a), SL_OK) << sl_error_message();
    for (const char *name : {"seq", "time", "event", "prev", "mac"}) {
        json_t *f = json_pack("{s:s,s:i}", "job", "j", name, 1);
        EXPECT_EQ(sl_audit_append(a, "job_done", f), SL_ERR_ARG) << name;
        EXPECT_NE(std::string(sl_error_message()).find(name), std::string::npos);
        json_decref(f);
    }
    json_t *arr = json_array();
    EXPECT_EQ(sl_audit_append(a, "job_done", arr), SL_ERR_ARG);
    json_decref(arr);
    EXPECT_EQ(sl_audit_append(a, "", nullptr), SL_ERR_ARG);
    EXPECT_EQ(sl_audit_append(a, nullptr, nullptr), SL_ERR_ARG);
    EXPECT_EQ(sl_audit_append(a, "bad\xff", nullptr), SL_ERR_ARG);
    json_t *huge = json_pack("{s:s}", "blob", std::string(2 << 20, 'y').c_str());
    EXPECT_EQ(sl_audit_append(a, "job_done", huge), SL_ERR_ARG);
    json_decref(huge);
    EXPECT_EQ(read_file(path), before);

    json_t *f = json_pack("{s:s,s:{s:i,s:[s,s]},s:b,s:n,s:f}", "cohort", "demo \"q\" \xc3\xa9",
                          "counts", "rows", 12, "cols", "age", "sex", "ok", 1, "none", "eps",
                          0.25);
    ASSERT_EQ(sl_audit_append(a, "gate", f), SL_OK) << sl_error_message();
    EXPECT_EQ(json_object_size(f), 5u) << "fields are borrowed, not changed";
    sl_audit_close(&a);
    std::vector<std::string> l = lines();
    ASSERT_EQ(l.size(), 4u);
    json_t *obj = parse(l[3]);
    for (const char *k : {"seq", "time", "event", "prev", "mac"})
        json_object_del(obj, k);
    EXPECT_TRUE(json_equal(obj, f)) << l[3];
    json_decref(obj);
    json_decref(f);
    expect_good(4);
}

TEST_F(AuditTest, LongLinesStreamAcrossReadBlocks)
{
    // 40 lines of about 7 KB: lines straddle verify's 64 KiB read blocks.
    append_events(40, 1, 7000);
    ASSERT_GT(read_file(path).size(), 4u * 65536u);
    expect_good(40);
    std::vector<std::string> l = lines();
    size_t at = l[32].find("xxxx");
    ASSERT_NE(at, std::string::npos);
    l[32][at + 3000] = 'z';
    put_lines(l);
    expect_bad(33, "bad MAC");
}

TEST_F(AuditTest, ConcurrentProcessesAppendWithoutLosingOrForking)
{
    const int workers = 4;
    const int each = 50;
    append_events(0);
    std::vector<pid_t> pids;
    for (int w = 0; w < workers; w++) {
        pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            struct sl_audit *a = nullptr;
            int rc = sl_audit_open(path.c_str(), key.data(), &a) == SL_OK ? 0 : 1;
            for (int i = 0; i < each && rc == 0; i++) {
                json_t *f = json_pack("{s:i,s:i}", "worker", w, "i", i);
                rc = sl_audit_append(a, "tick", f) == SL_OK ? 0 : 2;
                json_decref(f);
            }
            sl_audit_close(&a);
            _exit(rc);
        }
        pids.push_back(pid);
    }
    for (pid_t pid : pids) {
        int status = 0;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status));
        EXPECT_EQ(WEXITSTATUS(status), 0);
    }
    expect_good(workers * each);

    std::vector<std::string> l = lines();
    ASSERT_EQ(l.size(), static_cast<size_t>(workers * each));
    std::map<int, int> next;
    for (size_t n = 0; n < l.size(); n++) {
        json_t *obj = parse(l[n]);
        EXPECT_EQ(json_integer_value(json_object_get(obj, "seq")), static_cast<int64_t>(n + 1));
        int w = static_cast<int>(json_integer_value(json_object_get(obj, "worker")));
        int i = static_cast<int>(json_integer_value(json_object_get(obj, "i")));
        EXPECT_EQ(i, next[w]) << "worker " << w << "'s events in order, none lost";
        next[w] = i + 1;
        json_decref(obj);
    }
    ASSERT_EQ(next.size(), static_cast<size_t>(workers));
    for (const auto &kv : next)
        EXPECT_EQ(kv.second, each);
}

TEST_F(AuditTest, MissingLogAndBadArguments)
{
    int64_t n = 7, bad = 7;
    EXPECT_EQ(sl_audit_verify(path.c_str(), key.data(), &n, &bad), SL_ERR_IO);
    EXPECT_EQ(n, 0);
    EXPECT_EQ(bad, 0);
    EXPECT_EQ(sl_audit_verify(nullptr, key.data(), &n, &bad), SL_ERR_ARG);
    struct sl_audit *a = reinterpret_cast<struct sl_audit *>(&n);
    EXPECT_EQ(sl_audit_open("", key.data(), &a), SL_ERR_ARG);
    EXPECT_EQ(a, nullptr);
    EXPECT_EQ(sl_audit_open(path.c_str(), nullptr, &a), SL_ERR_ARG);
    write_file(root + "/logs", "a file where a directory should be");
    EXPECT_EQ(sl_audit_open(path.c_str(), key.data(), &a), SL_ERR_IO);
    EXPECT_EQ(a, nullptr);
}

} // namespace

// The newest line of an event naming a value is found from the end, across
// read windows, with its MAC checked; the lines after it are vouched for by
// the chain from the newest line, whose MAC is checked.
TEST_F(AuditTest, FindLastReturnsTheNewestAuthenticMatch)
{
    // about 2.8 MB of 7 KB lines: the search reads several windows
    append_events(400, 1, 7000);
    struct sl_audit *a = nullptr;
    ASSERT_EQ(sl_audit_open(path.c_str(), key.data(), &a), SL_OK) << sl_error_message();
    auto find = [&](const char *event, const char *field, const char *value, int64_t *seq) {
        json_t *e = nullptr, *match = json_pack("{s:s}", field, value);
        sl_status st = sl_audit_find_last(a, event, match, &e, seq);
        json_decref(match);
        std::string rows =
            e ? std::to_string(json_integer_value(json_object_get(e, "rows"))) : "none";
        json_decref(e);
        return std::make_pair(st, rows);
    };
    int64_t seq = -1;
    for (int i : {1, 2, 150, 151, 152, 399, 400}) {
        std::string job = "job-" + std::to_string(1000 + i);
        auto r = find("job_done", "job", job.c_str(), &seq);
        EXPECT_EQ(r.first, SL_OK) << sl_error_message();
        EXPECT_EQ(r.second, std::to_string(i * 10));
        EXPECT_EQ(seq, i);
    }
    EXPECT_EQ(find("job_done", "job", "job-9999", &seq), std::make_pair(SL_OK, std::string("none")));
    EXPECT_EQ(seq, 0);
    EXPECT_EQ(find("job_start", "job", "job-1005", &seq).second, "none");
    {
        json_t *e = nullptr;
        json_t *both = json_pack("{s:s,s:i}", "job", "job-1007", "rows", 70);
        EXPECT_EQ(sl_audit_find_last(a, "job_done", both, &e, &seq), SL_OK);
        EXPECT_NE(e, nullptr);
        EXPECT_EQ(seq, 7);
        json_decref(e);
        json_object_set_new(both, "rows", json_integer(71));
        EXPECT_EQ(sl_audit_find_last(a, "job_done", both, &e, &seq), SL_OK);
        EXPECT_EQ(e, nullptr);
        json_decref(both);
    }
    // a later line naming the same value is the one found
    sl_audit_close(&a);
    append_events(1, 5);
    ASSERT_EQ(sl_audit_open(path.c_str(), key.data(), &a), SL_OK) << sl_error_message();
    EXPECT_EQ(find("job_done", "job", "job-1005", &seq).second, "50");
    EXPECT_EQ(seq, 401);

    // a value that only starts like a logged one matches nothing
    EXPECT_EQ(find("job_done", "job", "job-100", &seq).second, "none");

    // the match edited: refused, naming the log (the line after it names
    // another hash); a search that stops before the edited line does not
    // see it
    std::vector<std::string> edited = lines();
    size_t at = edited[299].find("\"rows\":3000");
    ASSERT_NE(at, std::string::npos);
    edited[299][at + 8] = '9';
    sl_audit_close(&a);
    put_lines(edited);
    ASSERT_EQ(sl_audit_open(path.c_str(), key.data(), &a), SL_OK) << sl_error_message();
    EXPECT_EQ(find("job_done", "job", "job-1300", &seq).first, SL_ERR_INTEGRITY);
    EXPECT_NE(std::string(sl_error_message()).find("does not chain"), std::string::npos)
        << sl_error_message();
    EXPECT_NE(std::string(sl_error_message()).find(path), std::string::npos) << sl_error_message();
    EXPECT_EQ(find("job_done", "job", "job-1360", &seq).first, SL_OK) << sl_error_message();
    EXPECT_EQ(seq, 360);

    // the newest line edited after the log was opened (opening compares it
    // with the head): its MAC no longer holds, whatever is searched
    at = edited.back().find("\"rows\":50");
    ASSERT_NE(at, std::string::npos);
    edited.back()[at + 8] = '9';
    put_lines(edited);
    for (const char *job : {"job-1005", "job-1400", "job-9999"}) {
        EXPECT_EQ(find("job_done", "job", job, &seq).first, SL_ERR_INTEGRITY) << job;
        EXPECT_NE(std::string(sl_error_message()).find("bad MAC"), std::string::npos)
            << sl_error_message();
    }
    sl_audit_close(&a);
}

// A line removed, edited or repeated after the match breaks the chain the
// search walks back along: refused with the seq where it breaks. Before the
// match the chain is not its to check (sl_audit_verify does).
TEST_F(AuditTest, FindLastWalksTheChainBackToTheMatch)
{
    append_events(60);
    const std::vector<std::string> intact = lines();
    auto find = [&](const char *job, int64_t *seq) {
        struct sl_audit *a = nullptr;
        EXPECT_EQ(sl_audit_open(path.c_str(), key.data(), &a), SL_OK) << sl_error_message();
        json_t *e = nullptr, *match = json_pack("{s:s}", "job", job);
        sl_status st = sl_audit_find_last(a, "job_done", match, &e, seq);
        json_decref(match);
        json_decref(e);
        sl_audit_close(&a);
        return st;
    };
    int64_t seq = 0;
    for (size_t gone : {size_t{39}, size_t{58}}) { // seq 40, and the line before the last
        std::vector<std::string> cut = intact;
        cut.erase(cut.begin() + static_cast<std::ptrdiff_t>(gone));
        put_lines(cut);
        EXPECT_EQ(find("job-1030", &seq), SL_ERR_INTEGRITY);
        EXPECT_NE(std::string(sl_error_message()).find("does not chain"), std::string::npos)
            << sl_error_message();
        EXPECT_NE(std::string(sl_error_message()).find(path), std::string::npos)
            << sl_error_message();
        // a match after the gap is found as before
        EXPECT_EQ(find("job-1060", &seq), SL_OK) << sl_error_message();
        EXPECT_EQ(seq, 60);
    }
    // a line after the match edited, still a well-formed line that does
    // not match: the line after it names another hash
    std::vector<std::string> edited = intact;
    size_t at = edited[49].find("\"rows\":500");
    ASSERT_NE(at, std::string::npos);
    edited[49][at + 8] = '7';
    put_lines(edited);
    EXPECT_EQ(find("job-1030", &seq), SL_ERR_INTEGRITY);
    EXPECT_NE(std::string(sl_error_message()).find("does not chain"), std::string::npos)
        << sl_error_message();
    // an authentic line repeated after the match (seq 45 twice)
    std::vector<std::string> twice = intact;
    twice.insert(twice.begin() + 45, intact[44]);
    put_lines(twice);
    EXPECT_EQ(find("job-1030", &seq), SL_ERR_INTEGRITY);
    EXPECT_NE(std::string(sl_error_message()).find("does not chain"), std::string::npos)
        << sl_error_message();
    // a line removed before the match is not this search's to see
    std::vector<std::string> early = intact;
    early.erase(early.begin() + 9);
    put_lines(early);
    EXPECT_EQ(find("job-1030", &seq), SL_OK) << sl_error_message();
    EXPECT_EQ(seq, 30);
}

// Lines between the end and the match are read for their top-level seq and
// prev only: members of those names deeper in the line (written after the
// top-level ones: keys are sorted), and a string full of quotes, braces and
// backslashes before them, do not mislead the walk.
TEST_F(AuditTest, FindLastReadsPastLinesWithNestedSeqAndPrev)
{
    append_events(3);
    struct sl_audit *a = nullptr;
    ASSERT_EQ(sl_audit_open(path.c_str(), key.data(), &a), SL_OK) << sl_error_message();
    for (int i = 0; i < 5; i++) {
        json_t *fields = json_pack(
            "{s:{s:s,s:i},s:[{s:i},s],s:s,s:s}", "x_inner", "prev",
            "00000000000000000000000000000000000000000000000000000000000000aa", "seq", 7 + i,
            "x_list", "seq", 3, "\"prev\":\"", "a_text", "\"{ \"quoted\" [x] \\ \"seq\":1,",
            "zz", "}}]]");
        ASSERT_EQ(sl_audit_append(a, "note", fields), SL_OK) << sl_error_message();
        json_decref(fields);
    }
    json_t *e = nullptr, *match = json_pack("{s:s}", "job", "job-1002");
    int64_t seq = 0;
    EXPECT_EQ(sl_audit_find_last(a, "job_done", match, &e, &seq), SL_OK) << sl_error_message();
    EXPECT_NE(e, nullptr);
    EXPECT_EQ(seq, 2);
    json_decref(e);
    json_decref(match);
    sl_audit_close(&a);
}

// Found by fuzzing: a line was skipped unless it held the match's text, so
// a logged -0.0 (or 1e2) never matched 0.0 (or 100.0), which compare equal.
TEST_F(AuditTest, FindLastComparesValuesNotTheirText)
{
    struct sl_audit *a = nullptr;
    ASSERT_EQ(sl_audit_open(path.c_str(), key.data(), &a), SL_OK) << sl_error_message();
    json_t *f = json_pack("{s:f,s:[f],s:s}", "a", -0.0, "b", 1e2, "job", "j1");
    ASSERT_EQ(sl_audit_append(a, "e", f), SL_OK) << sl_error_message();
    json_decref(f);
    f = json_pack("{s:i,s:s}", "a", 1, "job", "j2");
    ASSERT_EQ(sl_audit_append(a, "e", f), SL_OK) << sl_error_message();
    json_decref(f);
    for (const char *m : {"{\"a\": 0.0}", "{\"b\": [100.0]}", "{\"a\": -0.0, \"job\": \"j1\"}"}) {
        json_t *e = nullptr, *match = json_loads(m, 0, nullptr);
        int64_t seq = -1;
        ASSERT_NE(match, nullptr);
        EXPECT_EQ(sl_audit_find_last(a, "e", match, &e, &seq), SL_OK) << sl_error_message();
        EXPECT_EQ(seq, 1) << m;
        EXPECT_STREQ(json_string_value(json_object_get(e, "job")), "j1") << m;
        json_decref(e);
        json_decref(match);
    }
    sl_audit_close(&a);
}

TEST_F(AuditTest, FindLastOnAnEmptyLogFindsNothing)
{
    struct sl_audit *a = nullptr;
    ASSERT_EQ(sl_audit_open(path.c_str(), key.data(), &a), SL_OK) << sl_error_message();
    json_t *e = reinterpret_cast<json_t *>(1);
    int64_t seq = -1;
    json_t *match = json_pack("{s:s}", "ledger", "x");
    EXPECT_EQ(sl_audit_find_last(a, "ledger", match, &e, &seq), SL_OK);
    json_decref(match);
    EXPECT_EQ(e, nullptr);
    EXPECT_EQ(seq, 0);
    sl_audit_close(&a);
}

namespace {

// Appends n events through a log opened with the witness `w` ("" for none);
// returns the status of the first failure (set_witness or an append).
sl_status append_witnessed(const std::string &path, const Key &key, const std::string &w, int n,
                           int first)
{
    struct sl_audit *a = nullptr;
    sl_status st = sl_audit_open(path.c_str(), key.data(), &a);
    if (st == SL_OK && !w.empty())
        st = sl_audit_set_witness(a, w.c_str());
    for (int i = first; st == SL_OK && i < first + n; i++) {
        json_t *fields = json_pack("{s:i}", "job", i);
        st = sl_audit_append(a, "job_done", fields);
        json_decref(fields);
    }
    sl_audit_close(&a);
    return st;
}

// Writes 2 lines, then 3 more, through the witness w, and puts the log
// back with its head to the copy after the first 2; returns that copy.
std::pair<std::string, std::string> rolled_back(const std::string &path, const Key &key,
                                                const std::string &w)
{
    EXPECT_EQ(append_witnessed(path, key, w, 2, 1), SL_OK) << sl_error_message();
    std::pair<std::string, std::string> copy{read_file(path), read_file(path + ".head")};
    EXPECT_EQ(append_witnessed(path, key, w, 3, 3), SL_OK) << sl_error_message();
    write_file(path, copy.first);
    write_file(path + ".head", copy.second);
    return copy;
}

} // namespace

// Every line's anchor goes to the witness as it is written: its number and
// the SHA-256 of its bytes, which the next line's "prev" names too.
TEST_F(AuditTest, WitnessRecordsEveryLine)
{
    std::string w = root + "/worm/witness";
    fs::create_directories(root + "/worm");
    ASSERT_EQ(append_witnessed(path, key, w, 3, 1), SL_OK) << sl_error_message();
    std::vector<std::string> log = lines(), wit = split_lines(read_file(w));
    ASSERT_EQ(wit.size(), 3u);
    for (size_t i = 0; i < 3; i++)
        EXPECT_EQ(wit[i], std::to_string(i + 1) + ":" + sha256_hex(log[i]));
    EXPECT_EQ(fs::status(w).permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write);
    // appends without the witness leave it behind; it still names a line the
    // log holds, found by counting back from the end
    ASSERT_EQ(append_witnessed(path, key, "", 4, 4), SL_OK) << sl_error_message();
    ASSERT_EQ(append_witnessed(path, key, w, 1, 8), SL_OK) << sl_error_message();
    wit = split_lines(read_file(w));
    ASSERT_EQ(wit.size(), 4u);
    EXPECT_EQ(wit[3], "8:" + sha256_hex(lines()[7]));
    expect_good(8);
}

// A log put back with its head to an older copy verifies alone; its witness
// names a line it no longer has, and nothing more is written to it.
TEST_F(AuditTest, WitnessCatchesALogRolledBackWithItsHead)
{
    std::string w = root + "/witness";
    std::string log2 = rolled_back(path, key, w).first;
    expect_good(2);
    struct sl_audit *a = nullptr;
    ASSERT_EQ(sl_audit_open(path.c_str(), key.data(), &a), SL_OK) << sl_error_message();
    EXPECT_EQ(sl_audit_set_witness(a, w.c_str()), SL_ERR_INTEGRITY);
    std::string msg = sl_error_message();
    EXPECT_NE(msg.find("has 2 lines, but its witness " + w + " names line 5"), std::string::npos)
        << msg;
    EXPECT_NE(msg.find("rolled back"), std::string::npos) << msg;
    json_t *fields = json_pack("{s:i}", "job", 9);
    EXPECT_EQ(sl_audit_append(a, "job_done", fields), SL_ERR_INTEGRITY);
    json_decref(fields);
    sl_audit_close(&a);
    EXPECT_EQ(read_file(path), log2) << "nothing is written to a rolled-back log";
}

// Rolled back and written on since without the witness (or rewritten by
// someone with the key): the log has the anchored line's number again, but
// not its bytes.
TEST_F(AuditTest, WitnessCatchesARewrittenLog)
{
    std::string w = root + "/witness";
    auto [log2, head2] = rolled_back(path, key, w);
    for (int more : {3, 4}) {
        ASSERT_EQ(append_witnessed(path, key, "", more, 100), SL_OK) << sl_error_message();
        expect_good(2 + more);
        EXPECT_EQ(append_witnessed(path, key, w, 1, 200), SL_ERR_INTEGRITY);
        std::string msg = sl_error_message();
        EXPECT_NE(msg.find("line 5 of audit log " + path + " is not the line its witness"),
                  std::string::npos)
            << msg;
        write_file(path, log2);
        write_file(path + ".head", head2);
    }
}

// A witness that is missing or empty is accepted for an empty log only; one
// whose last line is not an anchor is refused.
TEST_F(AuditTest, WitnessMissingBesideALogOrMalformed)
{
    std::string w = root + "/witness";
    ASSERT_EQ(append_witnessed(path, key, "", 2, 1), SL_OK) << sl_error_message();
    for (bool empty : {false, true}) {
        if (empty)
            write_file(w, "");
        EXPECT_EQ(append_witnessed(path, key, w, 1, 3), SL_ERR_INTEGRITY);
        std::string msg = sl_error_message();
        EXPECT_NE(msg.find("missing or empty"), std::string::npos) << msg;
        EXPECT_NE(msg.find("sluice audit verify"), std::string::npos) << msg;
    }
    // started from the verified head, it takes the next lines
    unsigned char h[32];
    std::string last = lines().back();
    ASSERT_EQ(EVP_Digest(last.data(), last.size(), h, nullptr, EVP_sha256(), nullptr), 1);
    ASSERT_EQ(sl_audit_witness_add(w.c_str(), 2, h), SL_OK) << sl_error_message();
    ASSERT_EQ(append_witnessed(path, key, w, 1, 3), SL_OK) << sl_error_message();
    EXPECT_EQ(split_lines(read_file(w)).size(), 2u);
    for (const char *bad : {"3:abc\n", "x\n", "0:" "\n", "3:00"}) {
        std::string text = read_file(w);
        write_file(w, text + bad);
        EXPECT_EQ(append_witnessed(path, key, w, 1, 9), SL_ERR_INTEGRITY) << bad;
        EXPECT_NE(std::string(sl_error_message()).find("witness " + w), std::string::npos)
            << sl_error_message();
        write_file(w, text);
    }
}

TEST(AuditAnchor, ParsesLineAndHash)
{
    unsigned char h[32];
    int64_t line = 0;
    std::string hexs(64, 'a');
    EXPECT_EQ(sl_audit_anchor_parse(("12:" + hexs).c_str(), 67, &line, h), 0);
    EXPECT_EQ(line, 12);
    EXPECT_EQ(h[0], 0xaa);
    std::string upper = "7:" + std::string(63, 'F') + "0";
    EXPECT_EQ(sl_audit_anchor_parse(upper.c_str(), upper.size(), &line, h), 0);
    EXPECT_EQ(line, 7);
    EXPECT_EQ(h[0], 0xff);
    EXPECT_EQ(h[31], 0xf0);
    for (std::string bad : {"0:" + hexs, ":" + hexs, "12" + hexs, "12:" + hexs.substr(1),
                            "12:" + hexs + "0", "-1:" + hexs, "12:" + std::string(64, 'g'),
                            "99999999999999999999:" + hexs})
        EXPECT_EQ(sl_audit_anchor_parse(bad.c_str(), bad.size(), &line, h), -1) << bad;
}
