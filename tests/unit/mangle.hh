// mangle.hh: random edits of a valid input, for tests that feed parsers
// inputs a person or a broken tool could write.
#ifndef SL_TESTS_UNIT_MANGLE_HH
#define SL_TESTS_UNIT_MANGLE_HH

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace sltest {

// s with 1 to max_edits edits at random places: up to max_span bytes
// deleted (at least one), a piece inserted, or up to max_span - 1 bytes
// replaced by a piece.
inline std::string mangle(std::string s, const std::vector<std::string> &pieces,
                          std::mt19937_64 &rng, int max_edits, size_t max_span)
{
    for (int e = 0, edits = 1 + static_cast<int>(rng() % static_cast<unsigned>(max_edits));
         e < edits; e++) {
        size_t at = static_cast<size_t>(rng() % (s.size() + 1));
        const std::string &p = pieces[rng() % pieces.size()];
        switch (rng() % 3) {
        case 0:
            if (at < s.size())
                s.erase(at, 1 + rng() % max_span);
            break;
        case 1:
            s.insert(at, p);
            break;
        default:
            s.replace(at, std::min<size_t>(rng() % max_span, s.size() - at), p);
        }
    }
    return s;
}

} // namespace sltest

#endif
