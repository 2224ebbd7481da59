// gzip.hh: gzip bytes of a text, for the tests of readers that inflate
// compressed exports (io/gz.c). Tests that include it link zlib.
#pragma once

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

namespace sltest {

// gzip bytes of `text` (one member).
inline std::string gzip(const std::string &text) {
    z_stream z{};
    std::string out;
    EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    out.resize(deflateBound(&z, text.size()) + 32);
    z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(text.data()));
    z.avail_in = static_cast<uInt>(text.size());
    z.next_out = reinterpret_cast<Bytef *>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
}

}  // namespace sltest
