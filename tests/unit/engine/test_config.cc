// test_config.cc: policy and job files (engine/config.h): every field and
// default, profiles, exact decimals, relative paths, tightening, the
// sl_params getters, and each class of error with its exact file:line:col.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "tests/unit/mangle.hh"

extern "C" {
#include "engine/config.h"
#include "engine/core/alloc.h"
#include "engine/core/status.h"
}

namespace {

class TempDir {
  public:
    TempDir()
    {
        char tmpl[] = "/tmp/sl_test_config_XXXXXX";
        const char *p = mkdtemp(tmpl);
        if (p == nullptr)
            throw std::runtime_error("mkdtemp failed");
        path_ = p;
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    const std::string &path() const { return path_; }
    std::string write(const std::string &rel, const std::string &text) const
    {
        std::string p = path_ + "/" + rel;
        std::filesystem::create_directories(std::filesystem::path(p).parent_path());
        std::ofstream out(p, std::ios::binary);
        out << text;
        return p;
    }

  private:
    std::string path_;
};

const char kMinimalPolicy[] = "version: 1\n"
                              "enclave: {partitions: [enclave]}\n"
                              "cohorts: [{path: cohort.h5, users: [alice]}]\n";

const char kFullPolicy[] = "# Centre release policy\n"
                           "version: 1\n"
                           "key_file: keys/centre.kek\n"
                           "allow_local: true\n"
                           "enclave:\n"
                           "  partitions: [enclave, enclave-gpu]\n"
                           "  nodes: [node01, \"node[02-04]\"]\n"
                           "emergency: {partition: urgent, users: [oncall]}\n"
                           "cohorts:\n"
                           "  - path: data/cohort.h5\n"
                           "    users: [alice, bob]\n"
                           "  - {path: /srv/open.h5, users: \"*\"}\n"
                           "paths:\n"
                           "  released: out/released\n"
                           "  held: out/held\n"
                           "  audit_log: /var/log/sluice/audit.log\n"
                           "  ledger: ledger\n"
                           "review: {reviewers_required: 3}\n"
                           "submit: {partition: enclave-gpu, time: \"02:00:00\"}\n"
                           "rules:\n"
                           "  profile: acro\n"
                           "  min_safe_count: 10\n"
                           "  zero_is_unsafe: true\n"
                           "  nk_n: 2\n"
                           "  nk_k: 0.9\n"
                           "  p_ratio: 0.1\n"
                           "  min_dof: 10\n"
                           "  check_missing: false\n"
                           "  round_base: 5\n"
                           "  redact_at_most: 0\n"
                           "  glm_max_param_frac: 0.33\n"
                           "  allow_minmax: false\n"
                           "  minmax_min_count: 10\n"
                           "  release_covariance: false\n"
                           "  release_per_row: false\n";

const char kFullJob[] = "name: demo-counts\n"
                        "cohort: ../data/cohort.h5\n"
                        "project: diabetes-2026\n"
                        "filter: 'age >= 40 and sex == \"F\"'\n"
                        "analyses:\n"
                        "  - {type: count, name: by_sex_region, by: [sex, region]}\n"
                        "  - type: describe\n"
                        "    columns: bmi\n"
                        "    quantiles: [0.25, 0.5, 0.75]\n"
                        "    margins: true\n"
                        "    min_rows: 25\n"
                        "    scale: 1.5\n"
                        "  - {type: glm, formula: \"y ~ age + sex\", family: binomial}\n"
                        "backend: cpu\n"
                        "resources: {ranks: 2, threads: 3, gpus: 0, time: \"00:30:00\", "
                        "memory: \"4G\"}\n"
                        "rules:\n"
                        "  min_safe_count: 20\n"
                        "  check_missing: true\n"
                        "  nk_k: 0.85\n";

std::string sha256_hex(const std::string &bytes)
{
    unsigned char md[32];
    EXPECT_EQ(EVP_Digest(bytes.data(), bytes.size(), md, nullptr, EVP_sha256(), nullptr), 1);
    return std::string(reinterpret_cast<char *>(md), 32);
}

void expect_rules_eq(const sl_rules &a, const sl_rules &b)
{
    EXPECT_EQ(a.min_safe_count, b.min_safe_count);
    EXPECT_EQ(a.zero_is_unsafe, b.zero_is_unsafe);
    EXPECT_EQ(a.nk_n, b.nk_n);
    EXPECT_EQ(a.nk_k.num, b.nk_k.num);
    EXPECT_EQ(a.nk_k.den, b.nk_k.den);
    EXPECT_EQ(a.p_ratio.num, b.p_ratio.num);
    EXPECT_EQ(a.p_ratio.den, b.p_ratio.den);
    EXPECT_EQ(a.min_dof, b.min_dof);
    EXPECT_EQ(a.check_missing, b.check_missing);
    EXPECT_EQ(a.round_base, b.round_base);
    EXPECT_EQ(a.redact_at_most, b.redact_at_most);
    EXPECT_EQ(a.glm_max_param_frac.num, b.glm_max_param_frac.num);
    EXPECT_EQ(a.glm_max_param_frac.den, b.glm_max_param_frac.den);
    EXPECT_EQ(a.allow_minmax, b.allow_minmax);
    EXPECT_EQ(a.minmax_min_count, b.minmax_min_count);
    EXPECT_EQ(a.release_covariance, b.release_covariance);
    EXPECT_EQ(a.release_per_row, b.release_per_row);
}

class ConfigTest : public ::testing::Test {
  protected:
    void SetUp() override
    {
        live_ = sl_alloc_live();
        sl_error_clear();
    }
    void TearDown() override
    {
        sl_job_destroy(&job_);
        sl_policy_destroy(&policy_);
        EXPECT_EQ(sl_alloc_live(), live_) << "allocations leaked";
    }

    // Loads `text` as <dir>/policy.yaml; returns the status.
    sl_status policy(const std::string &text)
    {
        sl_policy_destroy(&policy_);
        ppath_ = dir_.write("policy.yaml", text);
        return sl_policy_load(ppath_.c_str(), &policy_);
    }
    // Loads `text` as <dir>/job.yaml against the minimal policy.
    sl_status job(const std::string &text, const char *policy_text = kMinimalPolicy)
    {
        if (policy_ == nullptr || policy_text != kMinimalPolicy || !minimal_) {
            if (policy(policy_text) != SL_OK)
                return SL_ERR_INTERNAL;
            minimal_ = policy_text == kMinimalPolicy;
        }
        sl_job_destroy(&job_);
        jpath_ = dir_.write("job.yaml", text);
        return sl_job_load(jpath_.c_str(), policy_, &job_);
    }
    // The error message with the temporary directory replaced by "DIR".
    std::string msg() const
    {
        std::string m = sl_error_message();
        for (size_t at; (at = m.find(dir_.path())) != std::string::npos;)
            m.replace(at, dir_.path().size(), "DIR");
        return m;
    }

    TempDir dir_;
    std::string ppath_, jpath_;
    sl_policy *policy_ = nullptr;
    sl_job *job_ = nullptr;
    bool minimal_ = false;
    int64_t live_ = 0;
};

// ---- policy ----

TEST_F(ConfigTest, FullPolicyReadsEveryField)
{
    ASSERT_EQ(policy(kFullPolicy), SL_OK) << sl_error_message();
    const std::string d = dir_.path();
    EXPECT_EQ(std::string(policy_->path), ppath_);
    EXPECT_EQ(std::string(reinterpret_cast<char *>(policy_->sha256), 32),
              sha256_hex(kFullPolicy));
    EXPECT_EQ(std::string(policy_->key_file), d + "/keys/centre.kek");
    EXPECT_EQ(std::string(policy_->audit_key_file), d + "/keys/centre.kek");
    EXPECT_TRUE(policy_->allow_local);
    ASSERT_EQ(policy_->nenclave_partitions, 2);
    EXPECT_STREQ(policy_->enclave_partitions[0], "enclave");
    EXPECT_STREQ(policy_->enclave_partitions[1], "enclave-gpu");
    ASSERT_EQ(policy_->nenclave_nodes, 2);
    EXPECT_STREQ(policy_->enclave_nodes[0], "node01");
    EXPECT_STREQ(policy_->enclave_nodes[1], "node[02-04]");
    EXPECT_STREQ(policy_->emergency_partition, "urgent");
    ASSERT_EQ(policy_->nemergency_users, 1);
    EXPECT_STREQ(policy_->emergency_users[0], "oncall");
    ASSERT_EQ(policy_->ncohorts, 2);
    EXPECT_EQ(std::string(policy_->cohorts[0].path), d + "/data/cohort.h5");
    ASSERT_EQ(policy_->cohorts[0].nusers, 2);
    EXPECT_STREQ(policy_->cohorts[0].users[0], "alice");
    EXPECT_STREQ(policy_->cohorts[0].users[1], "bob");
    EXPECT_STREQ(policy_->cohorts[1].path, "/srv/open.h5");
    ASSERT_EQ(policy_->cohorts[1].nusers, 1);
    EXPECT_STREQ(policy_->cohorts[1].users[0], "*");
    EXPECT_EQ(std::string(policy_->released_dir), d + "/out/released");
    EXPECT_EQ(std::string(policy_->held_dir), d + "/out/held");
    EXPECT_STREQ(policy_->audit_log, "/var/log/sluice/audit.log");
    EXPECT_EQ(std::string(policy_->ledger_dir), d + "/ledger");
    EXPECT_EQ(policy_->reviewers_required, 3);
    EXPECT_STREQ(policy_->default_partition, "enclave-gpu");
    EXPECT_STREQ(policy_->default_time, "02:00:00");
    EXPECT_STREQ(policy_->profile, "acro");
    sl_rules def;
    sl_rules_default(&def);
    expect_rules_eq(policy_->rules, def);
}

TEST_F(ConfigTest, MinimalPolicyTakesDefaults)
{
    ASSERT_EQ(policy(kMinimalPolicy), SL_OK) << sl_error_message();
    const std::string d = dir_.path();
    EXPECT_EQ(policy_->key_file, nullptr);
    EXPECT_EQ(policy_->audit_key_file, nullptr);
    EXPECT_FALSE(policy_->allow_local);
    EXPECT_EQ(policy_->nenclave_nodes, 0);
    EXPECT_EQ(policy_->emergency_partition, nullptr);
    EXPECT_EQ(policy_->nemergency_users, 0);
    EXPECT_EQ(std::string(policy_->released_dir), d + "/released");
    EXPECT_EQ(std::string(policy_->held_dir), d + "/held");
    EXPECT_EQ(std::string(policy_->audit_log), d + "/audit/audit.log");
    EXPECT_EQ(std::string(policy_->ledger_dir), d + "/ledger");
    EXPECT_EQ(policy_->reviewers_required, 2);
    EXPECT_STREQ(policy_->default_partition, "enclave");
    EXPECT_STREQ(policy_->default_time, "01:00:00");
    EXPECT_STREQ(policy_->profile, "acro");
    sl_rules def;
    sl_rules_default(&def);
    expect_rules_eq(policy_->rules, def);
}

TEST_F(ConfigTest, SeparateAuditKeyFile)
{
    ASSERT_EQ(policy(std::string(kMinimalPolicy) + "key_file: k.kek\naudit_key_file: a.key\n"),
              SL_OK)
        << sl_error_message();
    EXPECT_EQ(std::string(policy_->key_file), dir_.path() + "/k.kek");
    EXPECT_EQ(std::string(policy_->audit_key_file), dir_.path() + "/a.key");
}

TEST_F(ConfigTest, OpensafelyProfile)
{
    ASSERT_EQ(policy(std::string(kMinimalPolicy) + "rules: {profile: opensafely}\n"), SL_OK)
        << sl_error_message();
    EXPECT_STREQ(policy_->profile, "opensafely");
    sl_rules want;
    sl_rules_default(&want);
    want.redact_at_most = 7;
    want.round_base = 5;
    want.min_safe_count = 8;
    expect_rules_eq(policy_->rules, want);

    // Explicit numbers override the profile, whatever the key order.
    ASSERT_EQ(policy(std::string(kMinimalPolicy) +
                     "rules: {min_safe_count: 12, profile: opensafely, round_base: 10}\n"),
              SL_OK)
        << sl_error_message();
    want.min_safe_count = 12;
    want.round_base = 10;
    expect_rules_eq(policy_->rules, want);
}

TEST_F(ConfigTest, DecimalsAreExactRationals)
{
    ASSERT_EQ(policy(std::string(kMinimalPolicy) +
                     "rules: {nk_k: 0.9, glm_max_param_frac: 0.33, p_ratio: 0.125}\n"),
              SL_OK)
        << sl_error_message();
    EXPECT_EQ(policy_->rules.nk_k.num, 9);
    EXPECT_EQ(policy_->rules.nk_k.den, 10);
    EXPECT_EQ(policy_->rules.glm_max_param_frac.num, 33);
    EXPECT_EQ(policy_->rules.glm_max_param_frac.den, 100);
    EXPECT_EQ(policy_->rules.p_ratio.num, 125);
    EXPECT_EQ(policy_->rules.p_ratio.den, 1000);

    ASSERT_EQ(policy(std::string(kMinimalPolicy) + "rules: {nk_k: 1, p_ratio: 0}\n"), SL_OK)
        << sl_error_message();
    EXPECT_EQ(policy_->rules.nk_k.num, 1);
    EXPECT_EQ(policy_->rules.nk_k.den, 1);
    EXPECT_EQ(policy_->rules.p_ratio.num, 0);
    EXPECT_EQ(policy_->rules.p_ratio.den, 1);
}

TEST_F(ConfigTest, DecimalsOutOfRangeOrInexactAreRejected)
{
    const std::string expect =
        "; expected a decimal number in (0, 1] written without quotes, such as 0.9";
    struct Case {
        const char *value;
        const char *desc;
    } cases[] = {
        {"1.5", "'1.5'"},
        {"0", "'0'"},
        {"0.0", "'0.0'"},
        {"9e-1", "'9e-1'"},
        {"\"0.9\"", "the quoted string \"0.9\""},
        {".9", "'.9'"},
        {"0.1234567891", "'0.1234567891'"},
        {"-0.5", "'-0.5'"},
    };
    for (const Case &c : cases) {
        // Line 4, column 16 is where the value starts in "rules: {nk_k: X}".
        EXPECT_EQ(policy(std::string(kMinimalPolicy) + "rules: {nk_k: " + c.value + "}\n"),
                  SL_ERR_FORMAT)
            << c.value;
        std::string col = c.value[0] == '"' ? "16" : "15";
        EXPECT_EQ(msg(), "DIR/policy.yaml:4:" + col + ": rules.nk_k is " + c.desc + expect)
            << c.value;
    }
}

TEST_F(ConfigTest, PolicyYamlSyntaxError)
{
    EXPECT_EQ(policy("version: 1\nenclave: {partitions: [enclave]\ncohorts: []\n"),
              SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml:3:1: YAML syntax error: wrongly indented flow mapping; "
                     "expected valid YAML (check indentation, quotes, brackets and 'key: "
                     "value' pairs)");
    EXPECT_EQ(policy("version: 1\nkey_file: \"unterminated\n"), SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml:2:12: YAML syntax error: double-quoted scalar without "
                     "closing quote; expected valid YAML (check indentation, quotes, brackets "
                     "and 'key: value' pairs)");
    EXPECT_EQ(policy("version: 1\nenclave:\n  partitions: [e]\n nodes: [n]\n"), SL_ERR_FORMAT);
    EXPECT_EQ(msg().rfind("DIR/policy.yaml:4:2: YAML syntax error: ", 0), 0u) << msg();
}

TEST_F(ConfigTest, PolicyUnknownKeyNamesTheKeyAndTheAcceptedOnes)
{
    EXPECT_EQ(policy(std::string(kMinimalPolicy) + "alow_local: true\n"), SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml:4:1: unknown key 'alow_local' in the policy; did you "
                     "mean 'allow_local'? accepted keys: version, key_file, audit_key_file, "
                     "allow_local, enclave, emergency, cohorts, paths, review, submit, rules, "
                     "privacy");
    EXPECT_EQ(policy(std::string(kMinimalPolicy) + "rules:\n  min_safe: 12\n"), SL_ERR_FORMAT);
    EXPECT_EQ(msg().rfind("DIR/policy.yaml:5:3: unknown key 'min_safe' in rules; ", 0), 0u)
        << msg();
    EXPECT_EQ(policy("version: 1\nenclave: {partitions: [e], node: [a]}\n"
                     "cohorts: [{path: c.h5, users: [a]}]\n"),
              SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml:2:28: unknown key 'node' in enclave; did you mean "
                     "'nodes'? accepted keys: partitions, nodes");
}

TEST_F(ConfigTest, PolicyWrongTypes)
{
    EXPECT_EQ(policy(std::string(kMinimalPolicy) + "allow_local: yes\n"), SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml:4:14: allow_local is 'yes'; expected true or false");
    EXPECT_EQ(policy(std::string(kMinimalPolicy) + "review: {reviewers_required: two}\n"),
              SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml:4:30: review.reviewers_required is 'two'; expected an "
                     "integer from 1 to 100");
    EXPECT_EQ(policy(std::string(kMinimalPolicy) + "rules: {min_safe_count: 0}\n"),
              SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml:4:25: rules.min_safe_count is '0'; expected an integer "
                     "from 1 to 1000000000");
    EXPECT_EQ(policy("version: 1\nenclave: [a]\ncohorts: [{path: c.h5, users: [a]}]\n"),
              SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml:2:10: enclave is a list; expected a mapping of 'key: "
                     "value' pairs");
    EXPECT_EQ(policy("version: 1\nenclave: {partitions: [e]}\ncohorts: [c.h5]\n"),
              SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml:3:11: cohorts item 1 is 'c.h5'; expected a mapping "
                     "{path: ..., users: [...]}");
    EXPECT_EQ(policy("version: 1\nenclave: {partitions: [e, {a: 1}]}\n"
                     "cohorts: [{path: c.h5, users: [a]}]\n"),
              SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml:2:27: enclave.partitions item 2 is a mapping; expected "
                     "a string");
    EXPECT_EQ(policy("version: 1\nenclave:\ncohorts: [{path: c.h5, users: [a]}]\n"),
              SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml:2:1: enclave is empty; expected a mapping of 'key: "
                     "value' pairs");
}

TEST_F(ConfigTest, PolicyMissingRequiredKeys)
{
    EXPECT_EQ(policy("version: 1\nenclave: {partitions: [enclave]}\n"), SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml:1:1: the policy needs 'cohorts'; expected a list of "
                     "cohorts, each a mapping {path: ..., users: [...]}");
    EXPECT_EQ(policy("enclave: {partitions: [enclave]}\ncohorts: [{path: c, users: [a]}]\n"),
              SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml:1:1: the policy needs 'version'; expected an integer");
    EXPECT_EQ(policy("version: 1\nenclave: {nodes: [n1]}\ncohorts: [{path: c, users: [a]}]\n"),
              SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml:2:10: enclave needs 'partitions'; expected a string or "
                     "a list of strings");
    EXPECT_EQ(policy("version: 1\nenclave: {partitions: [e]}\ncohorts:\n  - users: [a]\n"),
              SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml:4:5: cohorts item 1 needs 'path'; expected a string");
    EXPECT_EQ(policy(std::string(kMinimalPolicy) + "emergency: {users: [a]}\n"),
              SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml:4:12: emergency needs 'partition'; expected a string");
}

TEST_F(ConfigTest, PolicyValueChecks)
{
    EXPECT_EQ(policy("version: 2\nenclave: {partitions: [e]}\ncohorts: [{path: c, users: [a]}]\n"),
              SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml:1:10: policy version 2 is not supported; expected "
                     "version: 1");
    EXPECT_EQ(policy("version: 1\nenclave: {partitions: []}\ncohorts: [{path: c, users: [a]}]\n"),
              SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml:2:23: enclave.partitions is an empty list; expected at "
                     "least one a Slurm partition name (letters, digits, '_', '-', '.')");
    EXPECT_EQ(policy("version: 1\nenclave: {partitions: [e]}\ncohorts: []\n"), SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml:3:10: cohorts is an empty list; expected a list of "
                     "cohorts, each a mapping {path: ..., users: [...]}");
    EXPECT_EQ(policy(std::string(kMinimalPolicy) + "submit: {partition: debug}\n"),
              SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml:4:21: submit.partition 'debug' is not an enclave "
                     "partition; expected one of: enclave");
    EXPECT_EQ(policy(std::string(kMinimalPolicy) + "submit: {time: \"1 hour\"}\n"),
              SL_ERR_FORMAT);
    EXPECT_EQ(msg().rfind("DIR/policy.yaml:4:17: submit.time is '1 hour'; expected a Slurm "
                          "time",
                          0),
              0u)
        << msg();
    EXPECT_EQ(policy(std::string(kMinimalPolicy) + "rules: {profile: strict}\n"),
              SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml:4:18: rules.profile is 'strict'; expected acro or "
                     "opensafely");
    EXPECT_EQ(policy("version: 1\nenclave: {partitions: [e]}\n"
                     "cohorts: [{path: c, users: [\"bob smith\"]}]\n"),
              SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml:3:30: cohorts item 1: users has 'bob smith'; expected "
                     "a user name, or \"*\" for anyone");
}

TEST_F(ConfigTest, PolicyPrivacyBudgetIsExact)
{
    ASSERT_EQ(policy(kMinimalPolicy), SL_OK) << sl_error_message();
    EXPECT_EQ(policy_->privacy_budget, 0);
    ASSERT_EQ(policy(std::string(kMinimalPolicy) + "privacy: {rho: 0.000000001}\n"), SL_OK)
        << sl_error_message();
    EXPECT_EQ(policy_->privacy_budget, 2000);  // units of 1/SL_DP_UNITS = 5e-13
    EXPECT_EQ(policy_->privacy_delta, 1e-6);
    ASSERT_EQ(policy(std::string(kMinimalPolicy) + "privacy: {rho: 1, delta: 1e-9}\n"), SL_OK)
        << sl_error_message();
    EXPECT_EQ(policy_->privacy_delta, 1e-9);
    EXPECT_EQ(policy(std::string(kMinimalPolicy) + "privacy: {rho: 1, delta: 0.5}\n"),
              SL_ERR_FORMAT);
    EXPECT_NE(msg().find("expected a probability in (0, 0.01]"), std::string::npos) << msg();
    ASSERT_EQ(policy(std::string(kMinimalPolicy) + "privacy: {rho: 1000}\n"), SL_OK)
        << sl_error_message();
    EXPECT_EQ(policy_->privacy_budget, INT64_C(2000000000000000));
    EXPECT_EQ(policy(std::string(kMinimalPolicy) + "privacy: {rho: 0}\n"), SL_ERR_FORMAT);
    EXPECT_NE(msg().find("expected a decimal number in (0, 1000]"), std::string::npos) << msg();
    EXPECT_EQ(policy(std::string(kMinimalPolicy) + "privacy: {rho: 1000.5}\n"), SL_ERR_FORMAT);
    EXPECT_EQ(policy(std::string(kMinimalPolicy) + "privacy: {epsilon: 1}\n"), SL_ERR_FORMAT);
    EXPECT_NE(msg().find("'epsilon'"), std::string::npos) << msg();
    EXPECT_EQ(policy(std::string(kMinimalPolicy) + "privacy: {}\n"), SL_ERR_FORMAT);
    EXPECT_NE(msg().find("needs 'rho'"), std::string::npos) << msg();
}

TEST_F(ConfigTest, PolicyFileLevelErrors)
{
    EXPECT_EQ(policy(""), SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml: the policy file is empty; expected a YAML mapping");
    EXPECT_EQ(policy("# nothing but a comment\n"), SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml: the policy file is empty; expected a YAML mapping");
    EXPECT_EQ(policy("- a\n- b\n"), SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml:1:1: the policy file is a list; expected a mapping of "
                     "'key: value' lines");
    EXPECT_EQ(policy(std::string(kMinimalPolicy) + "---\nversion: 2\n"), SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml:5:1: a second YAML document follows '---'; expected "
                     "exactly one document per policy file");
    EXPECT_EQ(policy(std::string(kMinimalPolicy) + "version: 1\n"), SL_ERR_FORMAT);
    EXPECT_EQ(msg().rfind("DIR/policy.yaml:4:1: YAML syntax error: duplicate key", 0), 0u)
        << msg();
    std::string missing = dir_.path() + "/nope.yaml";
    EXPECT_EQ(sl_policy_load(missing.c_str(), &policy_), SL_ERR_IO);
    EXPECT_EQ(msg(), "cannot open the policy file 'DIR/nope.yaml': No such file or directory");
    EXPECT_EQ(policy_, nullptr);
}

// A stray byte is named by line and column before YAML sees the file: the
// YAML library hung on an invalid UTF-8 byte in a directive (found by
// tests/fuzz), and a Latin-1 file deserves better than a parser error.
TEST_F(ConfigTest, FilesMustBeUtf8Text)
{
    EXPECT_EQ(policy("%\xff\x18"), SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/policy.yaml:1:2: byte 0xff is not UTF-8; expected a policy file of "
                     "UTF-8 text (YAML)");
    EXPECT_EQ(policy_, nullptr);
    EXPECT_EQ(job("cohort: c.h5\nname: caf\xe9\nanalyses: [{type: count}]\n"), SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/job.yaml:2:10: byte 0xe9 is not UTF-8; expected a job file of UTF-8 "
                     "text (YAML)");
    EXPECT_EQ(job("cohort: c.h5\n\x1b[31manalyses: [{type: count}]\n"), SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/job.yaml:2:1: control character 0x1b; expected a job file of UTF-8 "
                     "text (YAML)");
    EXPECT_EQ(job("# caf\xc3\xa9\ncohort: c.h5\nfilter: 'region == \"S\xc3\xbc" "d\"'\n"
                  "analyses: [{type: count}]\n"),
              SL_OK)
        << msg();
}

TEST_F(ConfigTest, FindCohortComparesRealPaths)
{
    ASSERT_EQ(policy("version: 1\nenclave: {partitions: [e]}\ncohorts:\n"
                     "  - {path: data/a.h5, users: [alice, bob]}\n"
                     "  - {path: data/b.h5, users: \"*\"}\n"),
              SL_OK)
        << sl_error_message();
    dir_.write("data/a.h5", "a");
    dir_.write("data/b.h5", "b");
    dir_.write("data/c.h5", "c");
    std::filesystem::create_symlink(dir_.path() + "/data/a.h5", dir_.path() + "/link.h5");
    std::string d = dir_.path();
    const sl_cohort_grant *g = sl_policy_find_cohort(policy_, (d + "/data/../data/./a.h5").c_str());
    ASSERT_NE(g, nullptr);
    EXPECT_EQ(g, &policy_->cohorts[0]);
    EXPECT_EQ(sl_policy_find_cohort(policy_, (d + "/link.h5").c_str()), &policy_->cohorts[0]);
    EXPECT_EQ(sl_policy_find_cohort(policy_, (d + "/data/b.h5").c_str()), &policy_->cohorts[1]);
    EXPECT_EQ(sl_policy_find_cohort(policy_, (d + "/data/c.h5").c_str()), nullptr);
    EXPECT_EQ(sl_policy_find_cohort(policy_, (d + "/data/none.h5").c_str()), nullptr);

    EXPECT_TRUE(sl_grant_allows(&policy_->cohorts[0], "alice"));
    EXPECT_TRUE(sl_grant_allows(&policy_->cohorts[0], "bob"));
    EXPECT_FALSE(sl_grant_allows(&policy_->cohorts[0], "carol"));
    EXPECT_FALSE(sl_grant_allows(&policy_->cohorts[0], "alic"));
    EXPECT_TRUE(sl_grant_allows(&policy_->cohorts[1], "carol"));
    EXPECT_FALSE(sl_grant_allows(nullptr, "alice"));
    EXPECT_FALSE(sl_grant_allows(&policy_->cohorts[1], nullptr));
}

TEST_F(ConfigTest, RelativePathsFollowTheFileNotTheWorkingDirectory)
{
    dir_.write("etc/policy.yaml", "version: 1\nenclave: {partitions: [e]}\n"
                                  "cohorts: [{path: ../data/c.h5, users: [a]}]\n"
                                  "key_file: centre.kek\n");
    std::string old = std::filesystem::current_path();
    std::filesystem::current_path(dir_.path());
    sl_status st = sl_policy_load("etc/policy.yaml", &policy_);
    std::filesystem::current_path(old);
    ASSERT_EQ(st, SL_OK) << sl_error_message();
    EXPECT_STREQ(policy_->cohorts[0].path, "etc/../data/c.h5");
    EXPECT_STREQ(policy_->key_file, "etc/centre.kek");
    EXPECT_STREQ(policy_->released_dir, "etc/released");
    sl_policy_destroy(&policy_);

    std::filesystem::current_path(dir_.path() + "/etc");
    st = sl_policy_load("policy.yaml", &policy_);
    std::filesystem::current_path(old);
    ASSERT_EQ(st, SL_OK) << sl_error_message();
    EXPECT_STREQ(policy_->cohorts[0].path, "../data/c.h5");
    EXPECT_STREQ(policy_->key_file, "centre.kek");
}

// ---- job ----

TEST_F(ConfigTest, FullJobReadsEveryField)
{
    ASSERT_EQ(job(kFullJob), SL_OK) << sl_error_message();
    EXPECT_EQ(std::string(job_->path), jpath_);
    EXPECT_EQ(std::string(reinterpret_cast<char *>(job_->sha256), 32), sha256_hex(kFullJob));
    EXPECT_STREQ(job_->name, "demo-counts");
    EXPECT_EQ(std::string(job_->cohort), dir_.path() + "/../data/cohort.h5");
    EXPECT_STREQ(job_->project, "diabetes-2026");
    EXPECT_STREQ(job_->filter, "age >= 40 and sex == \"F\"");
    EXPECT_EQ(std::string(job_->filter_where), jpath_ + ":4:10");
    EXPECT_STREQ(job_->backend, "cpu");
    EXPECT_EQ(job_->ranks, 2);
    EXPECT_EQ(job_->threads, 3);
    EXPECT_EQ(job_->gpus, 0);
    EXPECT_STREQ(job_->time_limit, "00:30:00");
    EXPECT_STREQ(job_->memory, "4G");
    ASSERT_EQ(job_->nanalyses, 3);
    EXPECT_STREQ(job_->analyses[0].name, "by_sex_region");
    EXPECT_STREQ(job_->analyses[0].type, "count");
    EXPECT_STREQ(job_->analyses[1].name, "describe_2");
    EXPECT_STREQ(job_->analyses[1].type, "describe");
    EXPECT_STREQ(job_->analyses[2].name, "glm_3");
    EXPECT_STREQ(job_->analyses[2].type, "glm");

    sl_rules want = policy_->rules;
    want.min_safe_count = 20;
    want.check_missing = true;
    want.nk_k = sl_ratio{85, 100};
    expect_rules_eq(job_->rules, want);
}

TEST_F(ConfigTest, JobDefaults)
{
    ASSERT_EQ(job("cohort: /data/c.h5\nanalyses: [{type: count}]\n"), SL_OK)
        << sl_error_message();
    EXPECT_STREQ(job_->name, "job");
    EXPECT_STREQ(job_->cohort, "/data/c.h5");
    EXPECT_EQ(job_->project, nullptr);
    EXPECT_EQ(job_->filter, nullptr);
    EXPECT_EQ(job_->filter_where, nullptr);
    EXPECT_STREQ(job_->backend, "auto");
    EXPECT_EQ(job_->ranks, 1);
    EXPECT_EQ(job_->threads, 1);
    EXPECT_EQ(job_->gpus, 0);
    EXPECT_EQ(job_->time_limit, nullptr);
    EXPECT_EQ(job_->memory, nullptr);
    ASSERT_EQ(job_->nanalyses, 1);
    EXPECT_STREQ(job_->analyses[0].name, "count_1");
    expect_rules_eq(job_->rules, policy_->rules);
}

TEST_F(ConfigTest, JobWithoutPolicyStartsFromDefaultRules)
{
    std::string p = dir_.write("jobs/weekly.report.yaml",
                               "cohort: c.h5\nanalyses: [{type: count}]\n");
    ASSERT_EQ(sl_job_load(p.c_str(), nullptr, &job_), SL_OK) << sl_error_message();
    EXPECT_STREQ(job_->name, "weekly.report");
    EXPECT_EQ(std::string(job_->cohort), dir_.path() + "/jobs/c.h5");
    sl_rules def;
    sl_rules_default(&def);
    expect_rules_eq(job_->rules, def);
}

TEST_F(ConfigTest, JobRulesMayTighten)
{
    ASSERT_EQ(job("cohort: c.h5\nanalyses: [{type: count}]\nrules:\n"
                  "  min_safe_count: 11\n  zero_is_unsafe: true\n  nk_n: 3\n  nk_k: 0.8\n"
                  "  p_ratio: 0.2\n  min_dof: 20\n  check_missing: true\n  round_base: 10\n"
                  "  redact_at_most: 5\n  glm_max_param_frac: 0.2\n  allow_minmax: false\n"
                  "  minmax_min_count: 15\n  release_covariance: false\n"
                  "  release_per_row: false\n"),
              SL_OK)
        << sl_error_message();
    const sl_rules &r = job_->rules;
    EXPECT_EQ(r.min_safe_count, 11);
    EXPECT_EQ(r.nk_n, 3);
    EXPECT_EQ(r.nk_k.num, 8);
    EXPECT_EQ(r.nk_k.den, 10);
    EXPECT_EQ(r.p_ratio.num, 2);
    EXPECT_EQ(r.p_ratio.den, 10);
    EXPECT_EQ(r.min_dof, 20);
    EXPECT_TRUE(r.check_missing);
    EXPECT_EQ(r.round_base, 10);
    EXPECT_EQ(r.redact_at_most, 5);
    EXPECT_EQ(r.glm_max_param_frac.num, 2);
    EXPECT_EQ(r.glm_max_param_frac.den, 10);
    EXPECT_EQ(r.minmax_min_count, 15);
    // Equal values are neither tighter nor looser, and 0.90 equals 0.9.
    ASSERT_EQ(job("cohort: c.h5\nanalyses: [{type: count}]\n"
                  "rules: {min_safe_count: 10, nk_k: 0.90}\n"),
              SL_OK)
        << sl_error_message();
    EXPECT_EQ(job_->rules.nk_k.num, 90);
    EXPECT_EQ(job_->rules.nk_k.den, 100);
}

TEST_F(ConfigTest, JobRulesMayNotLoosen)
{
    EXPECT_EQ(job("cohort: c.h5\nanalyses: [{type: count}]\n\n\n\n\n\nrules:\n"
                  "  min_safe_count:   5\n"),
              SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/job.yaml:9:21: rules.min_safe_count 5 would loosen the policy's 10; "
                     "a job may only tighten rules");
    struct Case {
        const char *rule;
        const char *text;
    } cases[] = {
        {"zero_is_unsafe: false", "rules.zero_is_unsafe false would loosen the policy's true"},
        {"nk_n: 1", "rules.nk_n 1 would loosen the policy's 2"},
        {"nk_k: 0.95", "rules.nk_k 0.95 would loosen the policy's 0.9"},
        {"p_ratio: 0.05", "rules.p_ratio 0.05 would loosen the policy's 0.1"},
        {"min_dof: 9", "rules.min_dof 9 would loosen the policy's 10"},
        {"round_base: 2", "rules.round_base 2 would loosen the policy's 5"},
        {"glm_max_param_frac: 0.5", "rules.glm_max_param_frac 0.5 would loosen the policy's "
                                    "0.33"},
        {"allow_minmax: true", "rules.allow_minmax true would loosen the policy's false"},
        {"minmax_min_count: 3", "rules.minmax_min_count 3 would loosen the policy's 10"},
        {"release_covariance: true", "rules.release_covariance true would loosen the "
                                     "policy's false"},
        {"release_per_row: true", "rules.release_per_row true would loosen the policy's "
                                  "false"},
    };
    for (const Case &c : cases) {
        EXPECT_EQ(job(std::string("cohort: c.h5\nanalyses: [{type: count}]\nrules: {") + c.rule +
                      "}\n"),
                  SL_ERR_FORMAT)
            << c.rule;
        std::string rule = c.rule;
        size_t col = 9 + rule.find(':') + 2;
        EXPECT_EQ(msg(), "DIR/job.yaml:3:" + std::to_string(col) + ": " + c.text +
                             "; a job may only tighten rules")
            << c.rule;
    }
    // Against an opensafely policy, lowering its redaction is loosening too.
    std::string os = std::string(kMinimalPolicy) + "rules: {profile: opensafely}\n";
    EXPECT_EQ(job("cohort: c.h5\nanalyses: [{type: count}]\nrules: {redact_at_most: 5}\n",
                  os.c_str()),
              SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/job.yaml:3:25: rules.redact_at_most 5 would loosen the policy's 7; "
                     "a job may only tighten rules");
    EXPECT_EQ(job("cohort: c.h5\nanalyses: [{type: count}]\nrules: {profile: acro}\n"),
              SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/job.yaml:3:9: rules.profile is set by the policy; expected only "
                     "individual rules such as min_safe_count, which a job may tighten");
}

TEST_F(ConfigTest, JobErrors)
{
    struct Case {
        const char *text;
        const char *msg;
    } cases[] = {
        {"cohort: c.h5\nanalyses: [{type: count}\n",
         "DIR/job.yaml:3:1: YAML syntax error: flow sequence without a closing bracket; "
         "expected valid YAML (check indentation, quotes, brackets and 'key: value' pairs)"},
        {"cohort: c.h5\nanalysis: [{type: count}]\n",
         "DIR/job.yaml:2:1: unknown key 'analysis' in the job; did you mean 'analyses'? "
         "accepted keys: name, cohort, project, filter, analyses, backend, resources, rules"},
        {"analyses: [{type: count}]\n",
         "DIR/job.yaml:1:1: the job needs 'cohort'; expected a string"},
        {"cohort: c.h5\n",
         "DIR/job.yaml:1:1: the job needs 'analyses'; expected a list of analyses, each a "
         "mapping with at least `type`, e.g. {type: count, by: [sex]}"},
        {"cohort: c.h5\nanalyses: []\n",
         "DIR/job.yaml:2:11: analyses is an empty list; expected a list of analyses, each a "
         "mapping with at least `type`, e.g. {type: count, by: [sex]}"},
        {"cohort: c.h5\nanalyses: [count]\n",
         "DIR/job.yaml:2:12: analyses item 1 is 'count'; expected a mapping with at least "
         "`type`, e.g. {type: count, by: [sex]}"},
        {"cohort: c.h5\nanalyses:\n  - {by: [sex]}\n",
         "DIR/job.yaml:3:5: analyses item 1 needs 'type'; expected a string"},
        {"cohort: [c.h5]\nanalyses: [{type: count}]\n",
         "DIR/job.yaml:1:9: cohort is a list; expected a string"},
        {"cohort: c.h5\nanalyses:\n  - {type: count, name: a}\n  - {type: mean, name: a}\n",
         "DIR/job.yaml:4:24: analysis name 'a' is already used by the analysis at line 3; "
         "expected unique names (set `name:`)"},
        {"cohort: c.h5\nanalyses:\n  - {type: count, name: count_2}\n  - {type: count}\n",
         "DIR/job.yaml:4:5: analysis name 'count_2' is already used by the analysis at line 3; "
         "expected unique names (set `name:`)"},
        {"cohort: c.h5\nanalyses: [{type: count, name: \"by sex\"}]\n",
         "DIR/job.yaml:2:33: name is 'by sex'; expected letters, digits, '_' and '-', at most "
         "64 characters"},
        {"cohort: c.h5\nanalyses: [{type: count}]\nbackend: cuda\n",
         "DIR/job.yaml:3:10: backend is 'cuda'; expected auto, cpu or gpu"},
        {"cohort: c.h5\nanalyses: [{type: count}]\nresources: {ranks: 0}\n",
         "DIR/job.yaml:3:20: resources.ranks is '0'; expected an integer from 1 to 100000"},
        {"cohort: c.h5\nanalyses: [{type: count}]\nresources: {time: 1h}\n",
         "DIR/job.yaml:3:19: resources.time is '1h'; expected a Slurm time such as "
         "\"00:30:00\", \"90\" (minutes) or \"1-12:00:00\""},
        {"cohort: c.h5\nanalyses: [{type: count}]\nresources: {memory: 4 GB}\n",
         "DIR/job.yaml:3:21: resources.memory is '4 GB'; expected a size such as \"4G\" or "
         "\"512M\""},
        {"cohort: c.h5\nanalyses: [{type: count}]\nresources: {cpus: 4}\n",
         "DIR/job.yaml:3:13: unknown key 'cpus' in resources; did you mean 'gpus'? accepted "
         "keys: ranks, threads, gpus, time, memory"},
        {"cohort: c.h5\nanalyses: [{type: count}]\nresources: {walltime: 4}\n",
         "DIR/job.yaml:3:13: unknown key 'walltime' in resources; accepted keys: ranks, "
         "threads, gpus, time, memory"},
        {"name: ../evil\ncohort: c.h5\nanalyses: [{type: count}]\n",
         "DIR/job.yaml:1:7: name is '../evil'; expected letters, digits, '_', '-' and '.' "
         "(not first), at most 100 characters"},
        {"cohort: c.h5\nproject: \"a/b\"\nanalyses: [{type: count}]\n",
         "DIR/job.yaml:2:11: project is 'a/b'; expected letters, digits, '_', '-' and '.' "
         "(not first)"},
        {"cohort: \"\"\nanalyses: [{type: count}]\n",
         "DIR/job.yaml:1:10: cohort is an empty string; expected a file path"},
    };
    for (const Case &c : cases) {
        EXPECT_EQ(job(c.text), SL_ERR_FORMAT) << c.text;
        EXPECT_EQ(msg(), c.msg) << c.text;
        EXPECT_EQ(job_, nullptr);
    }
}

TEST_F(ConfigTest, JobFilterSyntaxIsCheckedAtLoad)
{
    EXPECT_EQ(job("cohort: c.h5\nanalyses: [{type: count}]\n\nfilter: x == 1 or age 40\n"),
              SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/job.yaml:4:9: filter: at character 15: expected a comparison "
                     "operator after 'age' (==, !=, <, <=, >, >=, in [...] or is missing), "
                     "found '40'");
}

TEST_F(ConfigTest, JobNameFromAnUnusableFileName)
{
    std::string p = dir_.write("my job.yaml", "cohort: c.h5\nanalyses: [{type: count}]\n");
    EXPECT_EQ(sl_job_load(p.c_str(), nullptr, &job_), SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/my job.yaml: the job name taken from the file name is not usable; "
                     "expected a `name:` with letters, digits, '_', '-' and '.'");
}

// ---- analysis parameters ----

TEST_F(ConfigTest, ParamsGetters)
{
    ASSERT_EQ(job(kFullJob), SL_OK) << sl_error_message();
    const sl_params *count = job_->analyses[0].params;
    const sl_params *desc = job_->analyses[1].params;
    const sl_params *glm = job_->analyses[2].params;

    const char **by = nullptr;
    int nby = 0;
    ASSERT_EQ(sl_params_strings(count, "by", true, &by, &nby), SL_OK) << sl_error_message();
    ASSERT_EQ(nby, 2);
    EXPECT_STREQ(by[0], "sex");
    EXPECT_STREQ(by[1], "region");
    sl_free(by);
    const char **cols = nullptr;
    int ncols = 0;
    ASSERT_EQ(sl_params_strings(desc, "columns", true, &cols, &ncols), SL_OK);
    ASSERT_EQ(ncols, 1);
    EXPECT_STREQ(cols[0], "bmi");
    sl_free(cols);

    double *q = nullptr;
    int nq = 0;
    ASSERT_EQ(sl_params_doubles(desc, "quantiles", true, &q, &nq), SL_OK);
    ASSERT_EQ(nq, 3);
    EXPECT_EQ(q[0], 0.25);
    EXPECT_EQ(q[1], 0.5);
    EXPECT_EQ(q[2], 0.75);
    sl_free(q);

    bool margins = false;
    EXPECT_EQ(sl_params_bool(desc, "margins", true, &margins), SL_OK);
    EXPECT_TRUE(margins);
    int64_t min_rows = 0;
    EXPECT_EQ(sl_params_int(desc, "min_rows", true, &min_rows), SL_OK);
    EXPECT_EQ(min_rows, 25);
    double scale = 0;
    EXPECT_EQ(sl_params_double(desc, "scale", true, &scale), SL_OK);
    EXPECT_EQ(scale, 1.5);
    EXPECT_EQ(sl_params_double(desc, "min_rows", true, &scale), SL_OK);
    EXPECT_EQ(scale, 25.0);

    const char *formula = nullptr, *type = nullptr, *name = nullptr;
    EXPECT_EQ(sl_params_string(glm, "formula", true, &formula), SL_OK);
    EXPECT_STREQ(formula, "y ~ age + sex");
    EXPECT_EQ(sl_params_string(glm, "type", true, &type), SL_OK);
    EXPECT_STREQ(type, "glm");
    EXPECT_FALSE(sl_params_has(glm, "name"));
    EXPECT_TRUE(sl_params_has(glm, "family"));

    // Absent and optional: SL_OK, default kept.
    int64_t maxit = 25;
    EXPECT_EQ(sl_params_int(glm, "max_iter", false, &maxit), SL_OK);
    EXPECT_EQ(maxit, 25);
    EXPECT_EQ(sl_params_string(glm, "name", false, &name), SL_OK);
    EXPECT_EQ(name, nullptr);
    const char **none = nullptr;
    int nnone = -1;
    EXPECT_EQ(sl_params_strings(glm, "by", false, &none, &nnone), SL_OK);
    EXPECT_EQ(none, nullptr);
    EXPECT_EQ(nnone, -1);

    const char *const known_glm[] = {"formula", "family", nullptr};
    EXPECT_EQ(sl_params_only(glm, known_glm), SL_OK) << sl_error_message();

    EXPECT_EQ(std::string(sl_params_where(glm, "family")), jpath_ + ":13:51");
    EXPECT_EQ(std::string(sl_params_where(glm, nullptr)), jpath_ + ":13:5");
    EXPECT_EQ(std::string(sl_params_where(glm, "absent")), jpath_ + ":13:5");
    EXPECT_EQ(std::string(sl_params_where(desc, "quantiles")), jpath_ + ":9:16");
    EXPECT_EQ(std::string(sl_params_where(desc, nullptr)), jpath_ + ":7:5");
}

TEST_F(ConfigTest, ParamsErrors)
{
    ASSERT_EQ(job(kFullJob), SL_OK) << sl_error_message();
    const sl_params *count = job_->analyses[0].params;
    const sl_params *desc = job_->analyses[1].params;
    const sl_params *glm = job_->analyses[2].params;

    const char *s = nullptr;
    EXPECT_EQ(sl_params_string(glm, "link", true, &s), SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/job.yaml:13:5: analysis 'glm_3' needs 'link'; expected a string");
    EXPECT_EQ(sl_params_string(count, "by", true, &s), SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/job.yaml:6:44: analysis 'by_sex_region': by is a list; expected a "
                     "string");
    int64_t i = 0;
    EXPECT_EQ(sl_params_int(desc, "scale", true, &i), SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/job.yaml:12:12: analysis 'describe_2': scale is '1.5'; expected an "
                     "integer");
    bool b = false;
    EXPECT_EQ(sl_params_bool(desc, "columns", true, &b), SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/job.yaml:8:14: analysis 'describe_2': columns is 'bmi'; expected "
                     "true or false");
    double d = 0;
    EXPECT_EQ(sl_params_double(glm, "formula", true, &d), SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/job.yaml:13:27: analysis 'glm_3': formula is the quoted string "
                     "\"y ~ age + sex\"; expected a number");
    double *v = nullptr;
    int nv = 0;
    EXPECT_EQ(sl_params_doubles(count, "by", true, &v, &nv), SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/job.yaml:6:45: analysis 'by_sex_region': by item 1 is 'sex'; "
                     "expected a number");
    EXPECT_EQ(v, nullptr);

    const char *const known[] = {"formula", "famliy", nullptr};
    EXPECT_EQ(sl_params_only(glm, known), SL_ERR_FORMAT);
    EXPECT_EQ(msg(), "DIR/job.yaml:13:43: unknown key 'family' in analysis 'glm_3'; did you "
                     "mean 'famliy'? accepted keys: type, name, formula, famliy");
}

}  // namespace

// Mangled job and policy files (bytes deleted, YAML punctuation, odd bytes
// and tabs inserted, spans replaced): each one loads, or is refused with a
// format, argument or I/O error whose message names the file; nothing
// leaks, and the sanitizer build runs this too.
TEST_F(ConfigTest, MangledFilesLoadOrAreRefusedWithTheirFile)
{
    const std::vector<std::string> pieces = {
        ":", " ", "\n", "-", "[", "]", "{", "}", ",", "\"", "'", "#", "&a", "*a", "!!int",
        "\t", "\xff", "\xc3", std::string(1, '\0'), "0.", "1e999", "-1", "~", "null", "? ",
        "|\n", ">\n", "---\n", "%YAML 1.2\n", "<<: *a\n"};
    std::mt19937_64 rng(2026);
    int loaded[2] = {0, 0};
    for (int i = 0; i < 4000; i++) {
        bool is_job = i % 2 == 0;
        std::string s = sltest::mangle(is_job ? kFullJob : kFullPolicy, pieces, rng, 3, 6);
        sl_status st = is_job ? job(s, kFullPolicy) : policy(s);
        if (is_job && st == SL_ERR_INTERNAL)
            FAIL() << "the full policy no longer loads";
        if (st == SL_OK) {
            loaded[is_job]++;
            continue;
        }
        ASSERT_TRUE(st == SL_ERR_FORMAT || st == SL_ERR_ARG || st == SL_ERR_IO)
            << st << " for " << testing::PrintToString(s) << ": " << sl_error_message();
        const std::string &path = is_job ? jpath_ : ppath_;
        ASSERT_NE(std::string(sl_error_message()).find(path), std::string::npos)
            << testing::PrintToString(s) << ": " << sl_error_message();
    }
    // enough of them survive to reach the checks past the YAML parser
    EXPECT_GT(loaded[0], 100);
    EXPECT_GT(loaded[1], 100);
}
