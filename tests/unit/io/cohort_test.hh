// cohort_test.hh: a test base for the ingest paths: a centre key in a fresh
// directory, input files written there, and the resulting cohort decrypted
// whole for typed access to its values, with the pseudonyms sluice must
// produce computed independently.
#pragma once

#include "io_test_util.hh"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>

namespace sltest {

class CohortTest : public IoTest {
protected:
    void SetUp() override {
        IoTest::SetUp();
        kek_ = make_kek(dir_.file("centre.kek"));
    }
    void TearDown() override {
        frame_.reset();
        cohort_.reset();
        kek_.reset();
        IoTest::TearDown();
    }
    std::string write(const std::string &name, const std::string &text) {
        std::string p = dir_.file(name);
        std::ofstream(p, std::ios::binary) << text;
        return p;
    }
    // Opens, unlocks and decrypts every column of every chunk.
    void load(const std::string &path) {
        frame_.reset();
        cohort_ = sltest::open_cohort(path);
        ASSERT_TRUE(cohort_);
        ASSERT_EQ(sl_cohort_unlock(cohort_.get(), kek_.get()), SL_OK) << sl_error_message();
        std::vector<int> cols(static_cast<size_t>(sl_cohort_ncols(cohort_.get())));
        for (size_t j = 0; j < cols.size(); j++)
            cols[j] = static_cast<int>(j);
        std::vector<int64_t> chunks(static_cast<size_t>(sl_cohort_nchunks(cohort_.get())));
        for (size_t k = 0; k < chunks.size(); k++)
            chunks[k] = static_cast<int64_t>(k);
        sl_frame *f = nullptr;
        ASSERT_EQ(sl_frame_load(cohort_.get(), cols.data(), static_cast<int>(cols.size()),
                                chunks.data(), static_cast<int64_t>(chunks.size()), &f),
                  SL_OK)
            << sl_error_message();
        frame_.reset(f);
    }
    template <class T> T at(int col, int64_t row) const {
        T v;
        std::memcpy(&v, static_cast<const unsigned char *>(frame_->data[col]->data) +
                            static_cast<size_t>(row) * sizeof(T),
                    sizeof v);
        return v;
    }
    std::string id_at(int64_t row, int col = 0) const {
        const unsigned char *p =
            static_cast<const unsigned char *>(frame_->data[col]->data) + row * SL_ID_BYTES;
        return std::string(reinterpret_cast<const char *>(p), SL_ID_BYTES);
    }
    // The pseudonym sluice must produce for `id`, computed independently.
    std::string hmac(const std::string &id, const char *label = "pseudonym") const {
        unsigned char key[32], out[32];
        unsigned int n = 0;
        EXPECT_EQ(sl_kek_derive(kek_.get(), label, key), SL_OK);
        HMAC(EVP_sha256(), key, 32, reinterpret_cast<const unsigned char *>(id.data()), id.size(),
             out, &n);
        sl_wipe(key, sizeof key);
        EXPECT_EQ(n, 32u);
        return std::string(reinterpret_cast<const char *>(out), 32);
    }
    std::vector<std::string> levels(int col) const {
        const sl_colinfo *ci = sl_cohort_col(cohort_.get(), col);
        std::vector<std::string> v;
        for (int32_t k = 0; k < ci->nlevels; k++)
            v.push_back(ci->levels[k]);
        return v;
    }
    // Closes the loaded cohort and removes it, so that the next ingest can write it.
    void discard_cohort(const std::string &path) {
        frame_.reset();
        cohort_.reset();
        std::filesystem::remove(path);
    }
    std::vector<std::string> files() const {
        auto v = dir_.list();
        std::sort(v.begin(), v.end());
        return v;
    }

    Kek kek_;
    Cohort cohort_;
    Frame frame_;
};

}  // namespace sltest
