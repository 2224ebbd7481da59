// tables.hh: output tables in unit tests of the release gate: owned by a
// unique_ptr, and the status a rule gave them.
#ifndef SL_TESTS_UNIT_ENGINE_TABLES_HH
#define SL_TESTS_UNIT_ENGINE_TABLES_HH

#include <cstring>
#include <memory>
#include <string>

extern "C" {
#include "engine/table.h"
}

namespace sltest {

struct TableDeleter {
    void operator()(sl_table *t) const { sl_table_destroy(&t); }
};
using TablePtr = std::unique_ptr<sl_table, TableDeleter>;

// The verdict of `rule` among the table's verdicts (borrowed), or NULL.
inline json_t *rule_verdict(const sl_table *t, const char *rule)
{
    size_t i;
    json_t *v;
    json_array_foreach(t->verdicts, i, v) {
        if (std::strcmp(json_string_value(json_object_get(v, "rule")), rule) == 0)
            return v;
    }
    return nullptr;
}

// The status of `rule` among the table's verdicts, or "absent".
inline std::string rule_status(const sl_table *t, const char *rule)
{
    const json_t *v = rule_verdict(t, rule);
    return v ? json_string_value(json_object_get(v, "status")) : "absent";
}

}  // namespace sltest

#endif
