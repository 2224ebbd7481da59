// pivot_test.hh: a test base for the event ingest paths (OMOP tables, FHIR
// exports): ingest stats that free what they own, spec errors checked for
// their message and for leaving nothing behind, and access to the written
// cohort's columns by name.
#pragma once

#include "cohort_test.hh"

extern "C" {
#include "io/omop.h"
#include "io/schema.h"
}

namespace sltest {

// Ingest stats that free what they own.
struct Stats : sl_omop_stats {
    Stats() : sl_omop_stats{} {}
    ~Stats() { sl_omop_stats_clear(this); }
    Stats(const Stats &) = delete;
    Stats &operator=(const Stats &) = delete;
};

class PivotTest : public CohortTest {
protected:
    // Ingests the folder with the spec file at `spec` into out_.
    virtual sl_status run_spec(const std::string &spec) = 0;

    // Fails with `code` and a message that contains `what`; nothing written.
    void expect_error(const std::string &spec_text, sl_status code, const std::string &what) {
        std::string spec = write("spec.yaml", spec_text);
        auto before = files();
        EXPECT_EQ(run_spec(spec), code);
        EXPECT_NE(last_error().find(what), std::string::npos)
            << "message: " << last_error() << "\nexpected to contain: " << what;
        EXPECT_EQ(files(), before);
    }
    std::string last_error() const { return sl_error_message(); }
    int col(const char *name) const { return sl_cohort_find(cohort_.get(), name); }
    void discard() { discard_cohort(out_); }

    std::string out_;
};

}  // namespace sltest
