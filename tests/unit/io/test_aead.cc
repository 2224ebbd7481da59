// test_aead.cc: chunk sealing follows format.h byte for byte (checked against
// a direct OpenSSL computation of the documented nonce and additional data),
// and opening fails closed, with the output wiped, when anything bound into a
// chunk differs.
#include <openssl/evp.h>

#include <vector>

#include "io_test_util.hh"

extern "C" {
#include "io/aead_impl.h"
}

using namespace sltest;

namespace {

struct AeadDel { void operator()(sl_aead *a) const { sl_aead_destroy(&a); } };
using Aead = std::unique_ptr<sl_aead, AeadDel>;

class AeadTest : public IoTest {
protected:
    void SetUp() override {
        IoTest::SetUp();
        for (int i = 0; i < 32; i++)
            key_[i] = static_cast<unsigned char>(0xa0 + i);
        for (int i = 0; i < 16; i++)
            uuid_[i] = static_cast<unsigned char>(0x10 * (i % 16) + i);
        sl_aead *a = nullptr;
        ASSERT_EQ(sl_aead_create(key_, &a), SL_OK) << last_error();
        aead_.reset(a);
        plain_.resize(1000);
        for (size_t i = 0; i < plain_.size(); i++)
            plain_[i] = static_cast<unsigned char>(mix64(i) >> 9);
        ref_ = {1, uuid_, "/patients/age", 3, 5, "test.h5"};
    }
    void TearDown() override {
        aead_.reset();
        IoTest::TearDown();
    }
    std::vector<unsigned char> seal(const sl_chunk_ref &ref, const std::vector<unsigned char> &pt) {
        std::vector<unsigned char> out(pt.size() + 16);
        EXPECT_EQ(sl_aead_seal(aead_.get(), &ref, pt.data(), pt.size(), out.data()), SL_OK)
            << last_error();
        return out;
    }
    // Opens `sealed` expecting failure; checks the output was wiped.
    void expect_refused(const sl_chunk_ref &ref, const std::vector<unsigned char> &sealed,
                        size_t len) {
        std::vector<unsigned char> out(len, 0xaa);
        EXPECT_EQ(sl_aead_open(aead_.get(), &ref, sealed.data(), sealed.size(), out.data(), len),
                  SL_ERR_CRYPTO);
        for (unsigned char ch : out)
            ASSERT_EQ(ch, 0) << "output not wiped";
        EXPECT_NE(last_error().find("test.h5"), std::string::npos) << last_error();
        EXPECT_NE(last_error().find(ref.dset), std::string::npos) << last_error();
        EXPECT_NE(last_error().find("chunk " + std::to_string(ref.chunk)), std::string::npos)
            << last_error();
    }

    unsigned char key_[32];
    unsigned char uuid_[16];
    Aead aead_;
    std::vector<unsigned char> plain_;
    sl_chunk_ref ref_;
};

void put_be(std::vector<unsigned char> &v, uint64_t x, int bytes) {
    for (int i = bytes - 1; i >= 0; i--)
        v.push_back(static_cast<unsigned char>(x >> (8 * i)));
}

}  // namespace

TEST_F(AeadTest, SealMatchesDocumentedLayout) {
    std::vector<unsigned char> sealed = seal(ref_, plain_);

    std::vector<unsigned char> nonce;
    put_be(nonce, 3, 4);
    put_be(nonce, 5, 8);
    std::vector<unsigned char> aad;
    for (char ch : std::string("sluice-chunk"))
        aad.push_back(static_cast<unsigned char>(ch));
    put_be(aad, 1, 4);
    aad.insert(aad.end(), uuid_, uuid_ + 16);
    for (char ch : std::string("/patients/age"))
        aad.push_back(static_cast<unsigned char>(ch));
    aad.push_back(0);
    put_be(aad, 5, 8);
    put_be(aad, plain_.size(), 8);

    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    ASSERT_EQ(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, key_, nonce.data()), 1);
    int n = 0;
    ASSERT_EQ(EVP_EncryptUpdate(ctx, nullptr, &n, aad.data(), static_cast<int>(aad.size())), 1);
    std::vector<unsigned char> expect(plain_.size() + 16);
    ASSERT_EQ(EVP_EncryptUpdate(ctx, expect.data(), &n, plain_.data(), static_cast<int>(plain_.size())), 1);
    int fin = 0;
    ASSERT_EQ(EVP_EncryptFinal_ex(ctx, expect.data() + n, &fin), 1);
    ASSERT_EQ(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, expect.data() + plain_.size()), 1);
    EVP_CIPHER_CTX_free(ctx);
    EXPECT_EQ(sealed, expect);
}

TEST_F(AeadTest, OpenRoundTripsAndContextIsReusable) {
    for (uint64_t k = 0; k < 4; k++) {
        sl_chunk_ref r = ref_;
        r.chunk = k;
        std::vector<unsigned char> sealed = seal(r, plain_);
        std::vector<unsigned char> out(plain_.size());
        ASSERT_EQ(sl_aead_open(aead_.get(), &r, sealed.data(), sealed.size(), out.data(), out.size()),
                  SL_OK)
            << last_error();
        EXPECT_EQ(out, plain_);
    }
}

TEST_F(AeadTest, OpenRefusesAnythingBoundDifferently) {
    std::vector<unsigned char> sealed = seal(ref_, plain_);
    sl_chunk_ref r;

    r = ref_; r.chunk = 6; expect_refused(r, sealed, plain_.size());
    r = ref_; r.col = 4; expect_refused(r, sealed, plain_.size());
    r = ref_; r.dset = "/patients/agf"; expect_refused(r, sealed, plain_.size());
    r = ref_; r.version = 2; expect_refused(r, sealed, plain_.size());
    unsigned char other[16];
    memcpy(other, uuid_, 16);
    other[15] ^= 0x80;
    r = ref_; r.uuid = other; expect_refused(r, sealed, plain_.size());

    for (size_t pos : {size_t{0}, plain_.size() / 2, plain_.size() - 1, plain_.size(), sealed.size() - 1}) {
        std::vector<unsigned char> bad = sealed;
        bad[pos] ^= 0x01;
        expect_refused(ref_, bad, plain_.size());
    }
}

TEST_F(AeadTest, OpenChecksLengthsBeforeDecrypting) {
    std::vector<unsigned char> sealed = seal(ref_, plain_);
    std::vector<unsigned char> cut(sealed.begin(), sealed.end() - 1);
    expect_refused(ref_, cut, plain_.size());
    expect_refused(ref_, cut, plain_.size() - 1);  // plaintext length is bound too
    std::vector<unsigned char> longer = sealed;
    longer.push_back(0);
    expect_refused(ref_, longer, plain_.size());
    std::vector<unsigned char> tiny(5);
    expect_refused(ref_, tiny, 0);
}

TEST_F(AeadTest, EmptyChunkStillAuthenticates) {
    std::vector<unsigned char> none;
    std::vector<unsigned char> sealed = seal(ref_, none);
    ASSERT_EQ(sealed.size(), 16u);
    unsigned char dummy = 0;
    EXPECT_EQ(sl_aead_open(aead_.get(), &ref_, sealed.data(), sealed.size(), &dummy, 0), SL_OK);
    sealed[3] ^= 1;
    EXPECT_EQ(sl_aead_open(aead_.get(), &ref_, sealed.data(), sealed.size(), &dummy, 0), SL_ERR_CRYPTO);
}
