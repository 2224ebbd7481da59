// Human review of held outputs: votes per distinct user, release after the
// required approvals, rejections and conflicts, refusals, the differencing
// check at release time, tampered held files, and the audit trail.
#include <gtest/gtest.h>

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tables.hh"

extern "C" {
#include "engine/audit.h"
#include "engine/gate.h"
#include "engine/ledger.h"
#include "engine/mitigate.h"
#include "engine/release.h"
#include "engine/review.h"
#include "engine/rules.h"
#include "engine/table.h"
}

namespace {

using sltest::TablePtr;

const unsigned char kKey[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
const unsigned char kLedgerKey[32] = {42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27,
                                     26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11};

TablePtr table(const char *name, std::vector<int64_t> counts)
{
    static const char *lv[] = {"north", "south", "east", "west", "Total"};
    std::vector<const char *> levels(lv, lv + counts.size());
    levels.push_back("Total");
    sl_dim d{const_cast<char *>("region"), static_cast<int32_t>(levels.size()),
             const_cast<char **>(levels.data()), nullptr};
    sl_table *t = nullptr;
    EXPECT_EQ(sl_table_create(name, "count", 1, &d, &t), SL_OK);
    t->margins = 1;
    int64_t total = 0;
    for (size_t c = 0; c < counts.size(); c++) {
        t->n[c] = counts[c];
        total += counts[c];
    }
    t->n[counts.size()] = total;
    return TablePtr(t);
}

sl_reviewer reviewer(const char *name, long uid)
{
    sl_reviewer r{};
    std::snprintf(r.name, sizeof r.name, "%s", name);
    r.uid = uid;
    return r;
}

bool exists(const std::string &p)
{
    return access(p.c_str(), F_OK) == 0;
}

class Review : public ::testing::Test {
protected:
    void SetUp() override
    {
        char tmpl[] = "/tmp/sluice-review-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        held_ = dir_ + "/held";
        released_ = dir_ + "/released";
        ledger_ = dir_ + "/ledger";
        log_ = dir_ + "/audit/audit.log";
        ASSERT_EQ(sl_audit_open(log_.c_str(), kKey, &audit_), SL_OK);
        ctx_ = {held_.c_str(), released_.c_str(), ledger_.c_str(), 2, audit_, kLedgerKey};
        run_job("job1", "age >= 40");
    }
    void TearDown() override
    {
        sl_audit_close(&audit_);
        EXPECT_EQ(std::system(("rm -rf '" + dir_ + "'").c_str()), 0);
    }

    // What `sluice run` does for a job by alice: gate, ledger entries,
    // mitigation (by_region asks for suppression), release.
    void run_job(const char *id, const char *filter)
    {
        sl_rules r;
        sl_rules_default(&r);
        sl_outputs outs{};
        auto held = table("by_region", {4, 150, 160, 170});
        auto bad = table("bad", {3, 150});
        auto fine = table("fine", {150, 160});
        std::vector<json_t *> entries;
        for (sl_table *t : {held.get(), bad.get(), fine.get()}) {
            ASSERT_EQ(sl_gate_evaluate(t, &r), SL_OK);
            json_t *e = nullptr;
            ASSERT_EQ(sl_ledger_entry(t, id, filter, &e), SL_OK);
            entries.push_back(e);
        }
        ASSERT_EQ(sl_mitigate(held.get(), &r, SL_MITIGATE_SUPPRESS), SL_OK);
        ASSERT_EQ(held->decision, SL_DECISION_REVIEW);
        sl_table *ts[] = {held.release(), bad.release(), fine.release()};
        for (sl_table *t : ts)
            ASSERT_EQ(sl_outputs_push(&outs, &t), SL_OK);
        json_t *job = json_pack("{s:s,s:s,s:{s:s,s:s},s:s,s:s}", "id", id, "user", "alice",
                                "cohort", "path", "c.h5", "uuid", "uuid-1", "project", "proj",
                                "filter", filter);
        json_t *policy = json_pack("{s:s,s:{s:i},s:i}", "file", "policy.yaml", "rules",
                                   "min_safe_count", 10, "reviewers_required", 2);
        json_t *results = nullptr;
        sl_release_info info{id, released_.c_str(), held_.c_str(), job, policy, entries.data(),
                             2};
        ASSERT_EQ(sl_release_write(&info, &outs, &results), SL_OK);
        json_decref(results);
        json_decref(job);
        json_decref(policy);
        for (json_t *e : entries)
            json_decref(e);
        sl_outputs_clear(&outs);
    }

    sl_status vote(const char *user, long uid, bool approve, const char *reason = nullptr,
                   std::string *state = nullptr, const char *output = "by_region",
                   const char *job = "job1")
    {
        sl_reviewer who = reviewer(user, uid);
        json_t *res = nullptr;
        sl_status st = sl_review_vote(&ctx_, job, output, &who, approve ? 1 : 0, reason, &res);
        if (state)
            *state = res ? json_string_value(json_object_get(res, "state")) : "";
        json_decref(res);
        return st;
    }

    json_t *released_entry(const char *name)
    {
        json_error_t err;
        json_t *doc = json_load_file((released_ + "/job1/results.json").c_str(), 0, &err);
        EXPECT_NE(doc, nullptr);
        size_t i;
        json_t *o, *found = nullptr;
        json_array_foreach(json_object_get(doc, "outputs"), i, o) {
            if (std::strcmp(json_string_value(json_object_get(o, "name")), name) == 0)
                found = json_incref(o);
        }
        json_decref(doc);
        return found;
    }

    int audit_events(const char *event)
    {
        std::ifstream f(log_);
        std::string line;
        int k = 0;
        std::string want = std::string("\"event\":\"") + event + "\"";
        while (std::getline(f, line))
            k += line.find(want) != std::string::npos;
        return k;
    }

    std::string dir_, held_, released_, ledger_, log_;
    sl_audit *audit_ = nullptr;
    sl_review_ctx ctx_{};
};

}  // namespace

TEST_F(Review, ApprovalsCountPerDistinctUser)
{
    std::string state;
    ASSERT_EQ(vote("bob", 1001, true, nullptr, &state), SL_OK);
    EXPECT_EQ(state, "pending");
    // The same user approving again still counts once.
    ASSERT_EQ(vote("bob", 1001, true, nullptr, &state), SL_OK);
    EXPECT_EQ(state, "pending");
    EXPECT_FALSE(exists(released_ + "/job1/by_region.csv"));
    ASSERT_EQ(vote("carol", 1002, true, nullptr, &state), SL_OK);
    EXPECT_EQ(state, "released");

    EXPECT_TRUE(exists(released_ + "/job1/by_region.csv"));
    EXPECT_TRUE(exists(released_ + "/job1/by_region.json"));
    json_t *e = released_entry("by_region");
    ASSERT_NE(e, nullptr);
    EXPECT_STREQ(json_string_value(json_object_get(e, "location")), "released");
    EXPECT_STREQ(json_string_value(json_object_get(json_object_get(e, "review"), "state")),
                 "released");
    EXPECT_EQ(json_array_size(json_object_get(json_object_get(e, "review"), "approvals")), 2u);
    json_t *cells = json_object_get(e, "cells");
    EXPECT_TRUE(json_is_null(json_object_get(json_array_get(cells, 0), "n")));  // withheld
    EXPECT_EQ(json_integer_value(json_object_get(json_array_get(cells, 2), "n")), 160);
    EXPECT_EQ(json_object_get(e, "ledger_entry"), nullptr);
    EXPECT_EQ(json_array_size(json_object_get(e, "files")), 2u);
    json_decref(e);

    // The released CSV is the held one, byte for byte.
    char a[65], b[65];
    ASSERT_EQ(sl_sha256_file((held_ + "/job1/by_region.csv").c_str(), a), SL_OK);
    ASSERT_EQ(sl_sha256_file((released_ + "/job1/by_region.csv").c_str(), b), SL_OK);
    EXPECT_STREQ(a, b);
    std::ifstream csv(released_ + "/job1/by_region.csv");
    std::stringstream text;
    text << csv.rdbuf();
    EXPECT_EQ(text.str().find(",4\n"), std::string::npos);

    // Recorded in the ledger, audited, and the log still verifies.
    sl_ledger *l = nullptr;
    ASSERT_EQ(sl_ledger_open(ledger_.c_str(), "uuid-1", "proj", kLedgerKey, &l), SL_OK);
    EXPECT_EQ(sl_ledger_size(l), 1);
    sl_ledger_close(&l);
    EXPECT_EQ(audit_events("review_vote"), 3);
    EXPECT_EQ(audit_events("review_release"), 1);
    int64_t lines = 0, bad = 0;
    EXPECT_EQ(sl_audit_verify(log_.c_str(), kKey, &lines, &bad), SL_OK);
    std::ifstream rep(released_ + "/job1/report.html");
    std::stringstream html;
    html << rep.rdbuf();
    EXPECT_NE(html.str().find("approved by bob, carol"), std::string::npos);
}

TEST_F(Review, RejectionKeepsItHeld)
{
    std::string state;
    ASSERT_EQ(vote("bob", 1001, false, "cell east looks like a rare disease", &state), SL_OK);
    EXPECT_EQ(state, "rejected");
    EXPECT_FALSE(exists(released_ + "/job1/by_region.csv"));
}

TEST_F(Review, DisagreementIsConflicted)
{
    std::string state;
    ASSERT_EQ(vote("bob", 1001, true, nullptr, &state), SL_OK);
    ASSERT_EQ(vote("carol", 1002, false, "no", &state), SL_OK);
    EXPECT_EQ(state, "conflicted");
    ASSERT_EQ(vote("dave", 1003, true, nullptr, &state), SL_OK);
    EXPECT_EQ(state, "conflicted");
    EXPECT_FALSE(exists(released_ + "/job1/by_region.csv"));
}

TEST_F(Review, ChangedVoteReplacesTheEarlierOne)
{
    std::string state;
    ASSERT_EQ(vote("bob", 1001, false, "not sure", &state), SL_OK);
    EXPECT_EQ(state, "rejected");
    ASSERT_EQ(vote("bob", 1001, true, nullptr, &state), SL_OK);
    EXPECT_EQ(state, "pending");
    json_t *list = nullptr;
    ASSERT_EQ(sl_review_list(&ctx_, &list), SL_OK);
    ASSERT_EQ(json_array_size(list), 1u);
    json_t *item = json_array_get(list, 0);
    EXPECT_EQ(json_array_size(json_object_get(item, "votes")), 1u);
    EXPECT_EQ(json_array_size(json_object_get(item, "rejections")), 0u);
    json_decref(list);
}

TEST_F(Review, RejectionNeedsAReason)
{
    EXPECT_EQ(vote("bob", 1001, false, nullptr), SL_ERR_ARG);
    EXPECT_EQ(vote("bob", 1001, false, ""), SL_ERR_ARG);
    EXPECT_EQ(audit_events("review_vote"), 0);
}

TEST_F(Review, FailingOutputsCannotBeApproved)
{
    EXPECT_EQ(vote("bob", 1001, true, nullptr, nullptr, "bad"), SL_ERR_DENIED);
    EXPECT_NE(std::string(sl_error_message()).find("failing outputs cannot be approved"),
              std::string::npos);
    EXPECT_EQ(vote("bob", 1001, true, nullptr, nullptr, "fine"), SL_ERR_ARG);
    EXPECT_EQ(vote("bob", 1001, true, nullptr, nullptr, "nosuch"), SL_ERR_ARG);
    EXPECT_EQ(vote("bob", 1001, true, nullptr, nullptr, "by_region", "../job1"), SL_ERR_ARG);
}

// A job without held outputs has no held directory: its failing outputs
// are still refused as such.
TEST_F(Review, FailingOutputOfAJobWithoutHeldOutputs)
{
    ASSERT_EQ(std::system(("rm -rf '" + held_ + "/job1'").c_str()), 0);
    EXPECT_EQ(vote("bob", 1001, true, nullptr, nullptr, "bad"), SL_ERR_DENIED);
}

TEST_F(Review, TheJobsOwnUserCannotVote)
{
    EXPECT_EQ(vote("alice", 1000, true), SL_ERR_DENIED);
    EXPECT_EQ(audit_events("review_vote"), 0);
}

TEST_F(Review, ReleasedOutputsTakeNoMoreRejections)
{
    ASSERT_EQ(vote("bob", 1001, true), SL_OK);
    ASSERT_EQ(vote("carol", 1002, true), SL_OK);
    EXPECT_EQ(vote("dave", 1003, false, "too late"), SL_ERR_DENIED);
    std::string state;
    EXPECT_EQ(vote("dave", 1003, true, nullptr, &state), SL_OK);
    EXPECT_EQ(state, "released");
}

TEST_F(Review, OneApprovalWhenThePolicySaysSo)
{
    ctx_.reviewers_required = 1;
    std::string state;
    ASSERT_EQ(vote("bob", 1001, true, nullptr, &state), SL_OK);
    EXPECT_EQ(state, "released");
}

// An output released since the job ran makes the held one a differencing
// risk: approval does not release it.
TEST_F(Review, DifferencingIsCheckedAgainAtRelease)
{
    {
        sl_rules r;
        sl_rules_default(&r);
        auto other = table("by_region", {4, 150, 160, 167});
        json_t *e = nullptr;
        ASSERT_EQ(sl_ledger_entry(other.get(), "job0", "age >= 41", &e), SL_OK);
        sl_ledger *l = nullptr;
        ASSERT_EQ(sl_ledger_open(ledger_.c_str(), "uuid-1", "proj", kLedgerKey, &l), SL_OK);
        ASSERT_EQ(sl_ledger_record(l, e), SL_OK);
        ASSERT_EQ(sl_ledger_commit(l), SL_OK);
        sl_ledger_close(&l);
        json_decref(e);
    }
    std::string state;
    ASSERT_EQ(vote("bob", 1001, true), SL_OK);
    ASSERT_EQ(vote("carol", 1002, true, nullptr, &state), SL_OK);
    EXPECT_EQ(state, "blocked");
    EXPECT_FALSE(exists(released_ + "/job1/by_region.csv"));
    EXPECT_EQ(audit_events("review_blocked"), 1);
    json_t *item = nullptr;
    ASSERT_EQ(sl_review_show(&ctx_, "job1", "by_region", &item), SL_OK);
    EXPECT_STREQ(json_string_value(json_object_get(item, "state")), "blocked");
    json_decref(item);
}

TEST_F(Review, TamperedHeldFilesAreNotReleased)
{
    std::ofstream(held_ + "/job1/by_region.csv", std::ios::app) << "north,4\n";
    ASSERT_EQ(vote("bob", 1001, true), SL_OK);
    EXPECT_EQ(vote("carol", 1002, true), SL_ERR_INTEGRITY);
    EXPECT_FALSE(exists(released_ + "/job1/by_region.csv"));
}

TEST_F(Review, ListAndShow)
{
    run_job("job2", "age >= 50");
    ASSERT_EQ(vote("bob", 1001, true, nullptr, nullptr, "by_region", "job2"), SL_OK);
    json_t *list = nullptr;
    ASSERT_EQ(sl_review_list(&ctx_, &list), SL_OK);
    ASSERT_EQ(json_array_size(list), 2u);
    EXPECT_STREQ(json_string_value(json_object_get(json_array_get(list, 0), "job_id")), "job1");
    json_t *second = json_array_get(list, 1);
    EXPECT_STREQ(json_string_value(json_object_get(second, "job_id")), "job2");
    EXPECT_STREQ(json_string_value(json_object_get(second, "state")), "pending");
    EXPECT_EQ(json_array_size(json_object_get(second, "approvals")), 1u);
    json_decref(list);

    json_t *item = nullptr;
    ASSERT_EQ(sl_review_show(&ctx_, "job2", "by_region", &item), SL_OK);
    EXPECT_STREQ(json_string_value(json_object_get(item, "status")), "review");
    EXPECT_EQ(json_object_get(item, "ledger_entry"), nullptr);
    EXPECT_EQ(json_integer_value(
                  json_object_get(json_array_get(json_object_get(item, "cells"), 2), "n")),
              160);
    json_decref(item);
    EXPECT_EQ(sl_review_show(&ctx_, "job2", "bad", &item), SL_ERR_DENIED);
}

// The reviewer is the real uid's user; as root under sudo, SUDO_USER when
// it names the same non-root account as SUDO_UID.
TEST(ReviewIdentity, RealUserOrSudoUser)
{
    sl_reviewer who{};
    unsetenv("SUDO_USER");
    unsetenv("SUDO_UID");
    ASSERT_EQ(sl_review_identity(&who), SL_OK);
    struct passwd *pw = getpwuid(getuid());
    ASSERT_NE(pw, nullptr);
    EXPECT_STREQ(who.name, pw->pw_name);
    EXPECT_EQ(who.uid, static_cast<long>(getuid()));
    EXPECT_EQ(who.via_sudo, 0);
    if (getuid() != 0)
        GTEST_SKIP() << "sudo identities need a real uid of 0";
    struct passwd *daemon_pw = getpwnam("daemon");
    ASSERT_NE(daemon_pw, nullptr);
    std::string uid = std::to_string(daemon_pw->pw_uid);
    setenv("SUDO_USER", "daemon", 1);
    setenv("SUDO_UID", uid.c_str(), 1);
    ASSERT_EQ(sl_review_identity(&who), SL_OK);
    EXPECT_STREQ(who.name, "daemon");
    EXPECT_EQ(who.via_sudo, 1);
    // A SUDO_UID that does not match is ignored.
    setenv("SUDO_UID", "4242", 1);
    ASSERT_EQ(sl_review_identity(&who), SL_OK);
    EXPECT_STREQ(who.name, "root");
    unsetenv("SUDO_USER");
    unsetenv("SUDO_UID");
}
