// test_keys.cc: the KEK file (creation, refusals, permissions, format), its
// fingerprint, HKDF sub-keys and AES key wrap, each checked against an
// independent computation with OpenSSL so the on-disk meaning cannot drift.
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <fstream>

#include "io_test_util.hh"

using namespace sltest;

namespace {

class Keys : public IoTest {};

void write_text(const std::string &path, const std::string &text, mode_t mode) {
    {
        std::ofstream out(path, std::ios::binary);
        out << text;
    }
    ASSERT_EQ(chmod(path.c_str(), mode), 0);
}

const std::string kHex = "00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210";

std::array<unsigned char, 32> key_bytes(const std::string &hex) {
    std::array<unsigned char, 32> k{};
    for (size_t i = 0; i < 32; i++)
        k[i] = static_cast<unsigned char>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
    return k;
}

std::array<unsigned char, 32> hkdf(const std::array<unsigned char, 32> &key, const std::string &label) {
    std::array<unsigned char, 32> out{};
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr);
    EXPECT_EQ(EVP_PKEY_derive_init(pctx), 1);
    EXPECT_EQ(EVP_PKEY_CTX_set_hkdf_md(pctx, EVP_sha256()), 1);
    EXPECT_EQ(EVP_PKEY_CTX_set1_hkdf_salt(pctx, reinterpret_cast<const unsigned char *>("sluice"), 6), 1);
    EXPECT_EQ(EVP_PKEY_CTX_set1_hkdf_key(pctx, key.data(), 32), 1);
    EXPECT_EQ(EVP_PKEY_CTX_add1_hkdf_info(pctx, reinterpret_cast<const unsigned char *>(label.data()),
                                          static_cast<int>(label.size())),
              1);
    size_t len = out.size();
    EXPECT_EQ(EVP_PKEY_derive(pctx, out.data(), &len), 1);
    EVP_PKEY_CTX_free(pctx);
    return out;
}

Kek load(const std::string &path) {
    sl_kek *k = nullptr;
    EXPECT_EQ(sl_kek_load(path.c_str(), &k), SL_OK) << last_error();
    return Kek(k);
}

sl_status try_load(const std::string &path) {
    sl_kek *k = nullptr;
    sl_status st = sl_kek_load(path.c_str(), &k);
    EXPECT_EQ(k == nullptr, st != SL_OK);
    sl_kek_destroy(&k);
    return st;
}

}  // namespace

TEST_F(Keys, GenerateWritesPrivateFileInDocumentedFormat) {
    std::string p = dir_.file("centre.kek");
    ASSERT_EQ(sl_kek_generate_file(p.c_str()), SL_OK) << last_error();
    struct stat sb;
    ASSERT_EQ(stat(p.c_str(), &sb), 0);
    EXPECT_EQ(sb.st_mode & 07777, 0600u);
    std::ifstream in(p);
    std::string line1, line2, rest;
    std::getline(in, line1);
    std::getline(in, line2);
    std::getline(in, rest);
    EXPECT_EQ(line1, "sluice-kek 1");
    ASSERT_EQ(line2.size(), 64u);
    EXPECT_EQ(line2.find_first_not_of("0123456789abcdef"), std::string::npos);
    EXPECT_TRUE(rest.empty());
    Kek k = load(p);
    ASSERT_TRUE(k);
    EXPECT_EQ(std::string(sl_kek_path(k.get())), p);
}

TEST_F(Keys, GenerateKeepsModeUnderPermissiveUmask) {
    mode_t old = umask(0);
    std::string p = dir_.file("k");
    EXPECT_EQ(sl_kek_generate_file(p.c_str()), SL_OK) << last_error();
    umask(old);
    struct stat sb;
    ASSERT_EQ(stat(p.c_str(), &sb), 0);
    EXPECT_EQ(sb.st_mode & 07777, 0600u);
}

TEST_F(Keys, GenerateGivesDistinctKeys) {
    Kek a = make_kek(dir_.file("a"));
    Kek b = make_kek(dir_.file("b"));
    EXPECT_STRNE(sl_kek_id(a.get()), sl_kek_id(b.get()));
}

TEST_F(Keys, GenerateRefusesToOverwrite) {
    std::string p = dir_.file("k");
    write_text(p, "precious\n", 0600);
    EXPECT_EQ(sl_kek_generate_file(p.c_str()), SL_ERR_EXISTS);
    EXPECT_NE(last_error().find(p), std::string::npos) << last_error();
    std::ifstream in(p);
    std::string s;
    std::getline(in, s);
    EXPECT_EQ(s, "precious");
}

TEST_F(Keys, GenerateRefusesDanglingSymlink) {
    std::string target = dir_.file("target");
    std::string link = dir_.file("link");
    ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
    EXPECT_NE(sl_kek_generate_file(link.c_str()), SL_OK);
    EXPECT_NE(access(target.c_str(), F_OK), 0);
}

TEST_F(Keys, LoadRefusesGroupOrOtherAccess) {
    for (mode_t mode : {0644, 0640, 0604, 0620, 0602, 0610, 0601}) {
        std::string p = dir_.file("k" + std::to_string(mode));
        write_text(p, "sluice-kek 1\n" + kHex + "\n", mode);
        EXPECT_EQ(try_load(p), SL_ERR_KEY) << std::oct << mode;
        std::string msg = last_error();
        EXPECT_NE(msg.find(p), std::string::npos) << msg;
        EXPECT_NE(msg.find("chmod 600"), std::string::npos) << msg;
        EXPECT_EQ(msg.find(kHex), std::string::npos) << "message shows the key";
    }
    std::string ok = dir_.file("ok");
    write_text(ok, "sluice-kek 1\n" + kHex + "\n", 0400);
    EXPECT_EQ(try_load(ok), SL_OK) << last_error();
}

TEST_F(Keys, LoadRefusesFileOwnedBySomeoneElse) {
    if (geteuid() != 0)
        GTEST_SKIP() << "needs root to give a file to another user";
    std::string p = dir_.file("k");
    write_text(p, "sluice-kek 1\n" + kHex + "\n", 0600);
    ASSERT_EQ(chown(p.c_str(), 65534, 65534), 0);
    EXPECT_EQ(try_load(p), SL_ERR_KEY);
    EXPECT_NE(last_error().find("uid 65534"), std::string::npos) << last_error();
}

TEST_F(Keys, LoadRefusesMalformedFiles) {
    struct Case {
        std::string text;
        std::string expect;
    };
    const Case cases[] = {
        {"", "not a sluice key file"},
        {kHex + "\n", "not a sluice key file"},
        {"sluice-kek 2\n" + kHex + "\n", "version"},
        {"sluice-kek 1\n" + kHex.substr(0, 62) + "\n", "found 62"},
        {"sluice-kek 1\n" + kHex + "00\n", "found 66"},
        {"sluice-kek 1\n00112233445566778899AABBCCDDEEFF0123456789abcdeffedcba9876543210\n", "found 20"},
        {"sluice-kek 1\n" + kHex + " \n", "unexpected characters"},
        {"sluice-kek 1\n" + kHex + "\n\n", "unexpected characters"},
        {"sluice-kek 1\n" + kHex + "\n" + std::string(300, 'x'), "too large"},
    };
    int i = 0;
    for (const Case &c : cases) {
        std::string p = dir_.file("bad" + std::to_string(i++));
        write_text(p, c.text, 0600);
        EXPECT_EQ(try_load(p), SL_ERR_KEY) << c.text;
        EXPECT_NE(last_error().find(c.expect), std::string::npos) << last_error();
        EXPECT_NE(last_error().find(p), std::string::npos) << last_error();
    }
    EXPECT_EQ(try_load(dir_.file("missing")), SL_ERR_KEY);
    EXPECT_EQ(try_load(dir_.path()), SL_ERR_KEY);
}

TEST_F(Keys, LoadRefusesFifoWithoutBlocking) {
    std::string p = dir_.file("fifo");
    ASSERT_EQ(mkfifo(p.c_str(), 0600), 0);
    EXPECT_EQ(try_load(p), SL_ERR_KEY);
    EXPECT_NE(last_error().find("not a regular file"), std::string::npos) << last_error();
}

TEST_F(Keys, LoadAcceptsMissingFinalNewline) {
    std::string p = dir_.file("k");
    write_text(p, "sluice-kek 1\n" + kHex, 0600);
    EXPECT_EQ(try_load(p), SL_OK) << last_error();
}

TEST_F(Keys, IdIsHmacOfFixedLabel) {
    std::string p = dir_.file("k");
    write_text(p, "sluice-kek 1\n" + kHex + "\n", 0600);
    Kek k = load(p);
    auto key = key_bytes(kHex);
    unsigned char mac[32];
    size_t maclen = 0;
    const char label[] = "sluice kek id";
    ASSERT_NE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), 32,
                        reinterpret_cast<const unsigned char *>(label), sizeof label - 1, mac,
                        sizeof mac, &maclen),
              nullptr);
    char hex[17];
    for (int i = 0; i < 8; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    EXPECT_STREQ(sl_kek_id(k.get()), hex);
}

TEST_F(Keys, DeriveIsHkdfSha256WithSaltSluice) {
    std::string p = dir_.file("k");
    write_text(p, "sluice-kek 1\n" + kHex + "\n", 0600);
    Kek k = load(p);
    auto key = key_bytes(kHex);
    unsigned char a[32], b[32], c[32];
    ASSERT_EQ(sl_kek_derive(k.get(), "pseudonym", a), SL_OK) << last_error();
    ASSERT_EQ(sl_kek_derive(k.get(), "pseudonym", b), SL_OK);
    ASSERT_EQ(sl_kek_derive(k.get(), "audit", c), SL_OK);
    auto expect = hkdf(key, "pseudonym");
    EXPECT_EQ(memcmp(a, expect.data(), 32), 0);
    EXPECT_EQ(memcmp(a, b, 32), 0);
    EXPECT_NE(memcmp(a, c, 32), 0);
    EXPECT_NE(memcmp(a, key.data(), 32), 0);
}

TEST_F(Keys, WrapIsRfc3394UnderDerivedKeyAndRoundTrips) {
    std::string p = dir_.file("k");
    write_text(p, "sluice-kek 1\n" + kHex + "\n", 0600);
    Kek k = load(p);
    unsigned char dek[32], wrapped[40], back[32];
    for (int i = 0; i < 32; i++)
        dek[i] = static_cast<unsigned char>(i * 7 + 1);
    ASSERT_EQ(sl_kek_wrap(k.get(), dek, wrapped), SL_OK) << last_error();
    ASSERT_EQ(sl_kek_unwrap(k.get(), wrapped, back), SL_OK) << last_error();
    EXPECT_EQ(memcmp(dek, back, 32), 0);

    // Independent unwrap with the documented wrapping key.
    auto wkey = hkdf(key_bytes(kHex), "dek-wrap");
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    ASSERT_EQ(EVP_DecryptInit_ex(ctx, EVP_aes_256_wrap(), nullptr, wkey.data(), nullptr), 1);
    unsigned char out[40];
    int n = 0, n2 = 0;
    ASSERT_EQ(EVP_DecryptUpdate(ctx, out, &n, wrapped, 40), 1);
    ASSERT_EQ(EVP_DecryptFinal_ex(ctx, out + n, &n2), 1);
    EVP_CIPHER_CTX_free(ctx);
    ASSERT_EQ(n + n2, 32);
    EXPECT_EQ(memcmp(out, dek, 32), 0);
}

TEST_F(Keys, UnwrapWithWrongKekFailsAndWipes) {
    Kek a = make_kek(dir_.file("a"));
    Kek b = make_kek(dir_.file("b"));
    unsigned char dek[32], wrapped[40], back[32];
    memset(dek, 0x5c, sizeof dek);
    ASSERT_EQ(sl_kek_wrap(a.get(), dek, wrapped), SL_OK);
    memset(back, 0xaa, sizeof back);
    EXPECT_EQ(sl_kek_unwrap(b.get(), wrapped, back), SL_ERR_KEY);
    for (unsigned char ch : back)
        ASSERT_EQ(ch, 0);
    EXPECT_NE(last_error().find(sl_kek_id(b.get())), std::string::npos) << last_error();

    wrapped[17] ^= 1;
    memset(back, 0xaa, sizeof back);
    EXPECT_EQ(sl_kek_unwrap(a.get(), wrapped, back), SL_ERR_KEY);
    for (unsigned char ch : back)
        ASSERT_EQ(ch, 0);
}

TEST_F(Keys, KeyLivesInSecureHeapWhenConfigured) {
    std::string p = dir_.file("k");
    write_text(p, "sluice-kek 1\n" + kHex + "\n", 0600);
    ASSERT_FALSE(CRYPTO_secure_malloc_initialized());
    {
        long before = sl_secbuf_live();
        Kek k = load(p);
        EXPECT_EQ(sl_secbuf_live(), before + 1) << "no secure heap: key in a secbuf";
    }
    ASSERT_EQ(CRYPTO_secure_malloc_init(1 << 15, 32), 1);
    {
        long before = sl_secbuf_live();
        size_t used = CRYPTO_secure_used();
        Kek k = load(p);
        EXPECT_EQ(sl_secbuf_live(), before);
        EXPECT_GT(CRYPTO_secure_used(), used);
        unsigned char d[32];
        EXPECT_EQ(sl_kek_derive(k.get(), "audit", d), SL_OK);
        k.reset();
        EXPECT_EQ(CRYPTO_secure_used(), used);
    }
    EXPECT_EQ(CRYPTO_secure_malloc_done(), 1);
}
