// fixture_values.hh: the values inside the committed fixtures
// tests/data/cohort_v1.h5 and tests/data/cohort_v2_future.h5.
//
// FROZEN: the fixtures were written from these formulas and are never
// regenerated; the fixture test checks that today's reader still returns
// exactly these values from the old file. Change nothing here.
#pragma once

#include <cmath>
#include <cstdint>

namespace slfixture {

constexpr int64_t kRows = 300;
constexpr int64_t kChunkRows = 64;   // 5 chunks, the last one 44 rows
constexpr int kCols = 5;
inline const char *const kNames[kCols] = {"pid", "age", "bmi", "sex", "dx_date"};
inline const char *const kSexLevels[3] = {"F", "M", "X"};

inline unsigned char pid_byte(int64_t row, int b) {
    return static_cast<unsigned char>((row * 31 + b * 7 + 3) & 0xff);
}
inline int64_t age(int64_t row) { return row % 10 == 0 ? INT64_MIN : 20 + row % 70; }
inline double bmi(int64_t row) { return row % 9 == 4 ? NAN : 18.5 + static_cast<double>(row) * 0.25; }
inline int32_t sex(int64_t row) { return row % 13 == 0 ? -1 : static_cast<int32_t>(row % 3); }
inline int32_t dx_date(int64_t row) { return row % 17 == 0 ? INT32_MIN : static_cast<int32_t>(19000 + row); }

}  // namespace slfixture
