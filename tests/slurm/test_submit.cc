// Tests of `sluice submit`'s batch script and refusals (engine/submit.c).
// These need no cluster: --dry-run prints the script, and the refusals come
// before sbatch. Submission through a real sbatch is in submit_e2e.sh.
#include <gtest/gtest.h>

#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

extern "C" {
#include "engine/config.h"
#include "engine/core/alloc.h"
#include "engine/submit.h"
}

namespace {

std::string self_exe()
{
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0)
        return "";
    buf[n] = '\0';
    return buf;
}

std::string user_name()
{
    const struct passwd *pw = getpwuid(getuid());
    return pw ? pw->pw_name : "";
}

class Submit : public ::testing::Test {
protected:
    std::string dir;

    void SetUp() override
    {
        char tmpl[] = "/tmp/sl-submit-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir = tmpl;
        unsetenv("SLUICE_POLICY");
    }
    void TearDown() override
    {
        std::string cmd = "rm -rf '" + dir + "'";
        ASSERT_EQ(system(cmd.c_str()), 0);
    }
    std::string write(const std::string &name, const std::string &text)
    {
        std::string path = dir + "/" + name;
        std::ofstream(path) << text;
        return path;
    }
    std::string policy(const std::string &extra)
    {
        return write("policy.yaml", "version: 1\n"
                                    "key_file: centre.kek\n"
                                    "enclave: {partitions: [enclave, enclave2]}\n"
                                    "cohorts: [{path: cohort.h5, users: [\"*\"]}]\n" +
                                        extra);
    }
    std::string job(const std::string &resources)
    {
        return write("job.yaml", "name: my-job\ncohort: cohort.h5\nanalyses: [{type: count}]\n" +
                                     resources);
    }
    // Runs sl_cmd_submit with `args`, capturing stdout and stderr.
    int submit(std::vector<std::string> args, std::string *out, std::string *err)
    {
        std::vector<char *> argv;
        args.insert(args.begin(), "submit");
        for (auto &a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        testing::internal::CaptureStdout();
        testing::internal::CaptureStderr();
        int code = sl_cmd_submit(static_cast<int>(args.size()), argv.data());
        *out = testing::internal::GetCapturedStdout();
        *err = testing::internal::GetCapturedStderr();
        return code;
    }
};

bool has_line(const std::string &text, const std::string &line)
{
    return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST_F(Submit, DryRunWritesResourcesAndLaunchLine)
{
    std::string p = policy("");
    std::string j = job("resources: {ranks: 4, gpus: 2, time: \"00:30:00\", memory: 4G}\n");
    std::string out, err;
    ASSERT_EQ(submit({j, "--dry-run", "--policy", p}, &out, &err), 0) << err;
    EXPECT_EQ(out.rfind("#!/bin/bash\n", 0), 0u);
    EXPECT_TRUE(has_line(out, "#SBATCH --job-name=sluice-my-job")) << out;
    EXPECT_TRUE(has_line(out, "#SBATCH --partition=enclave")) << out;
    EXPECT_TRUE(has_line(out, "#SBATCH --ntasks=4")) << out;
    EXPECT_TRUE(has_line(out, "#SBATCH --time=00:30:00")) << out;
    EXPECT_TRUE(has_line(out, "#SBATCH --mem=4G")) << out;
    EXPECT_TRUE(has_line(out, "#SBATCH --gres=gpu:2")) << out;
    EXPECT_TRUE(has_line(out, "#SBATCH --output=" + dir + "/logs/%x-%j.out")) << out;
    EXPECT_TRUE(has_line(out, "#SBATCH --error=" + dir + "/logs/%x-%j.err")) << out;
    EXPECT_TRUE(has_line(out, "srun --mpi=pmix '" + self_exe() + "' run --policy '" + p + "' '" +
                                  j + "'"))
        << out;
    EXPECT_EQ(out.find("centre.kek"), std::string::npos) << "the key's path is not the script's business";
    EXPECT_NE(access((dir + "/logs").c_str(), F_OK), 0) << "--dry-run must not create anything";
}

// resources.threads: CPUs per task in the allocation and for srun (which
// does not inherit them), and the kernels' OpenMP threads.
TEST_F(Submit, ThreadsPerRankReachSlurmAndOpenMP)
{
    std::string p = policy("");
    std::string j = job("resources: {ranks: 2, threads: 8}\n");
    std::string out, err;
    ASSERT_EQ(submit({j, "--dry-run", "--policy", p}, &out, &err), 0) << err;
    EXPECT_TRUE(has_line(out, "#SBATCH --ntasks=2")) << out;
    EXPECT_TRUE(has_line(out, "#SBATCH --cpus-per-task=8")) << out;
    EXPECT_TRUE(has_line(out, "export OMP_NUM_THREADS=8")) << out;
    EXPECT_TRUE(has_line(out, "srun --cpus-per-task=8 --mpi=pmix '" + self_exe() +
                                  "' run --policy '" + p + "' '" + j + "'"))
        << out;
    j = job("resources: {threads: 0}\n");
    EXPECT_EQ(submit({j, "--dry-run", "--policy", p}, &out, &err), 1);
    EXPECT_NE(err.find("threads"), std::string::npos) << err;
}

TEST_F(Submit, DefaultsComeFromThePolicy)
{
    std::string p = policy("submit: {partition: enclave2, time: \"02:00:00\"}\n");
    std::string j = job("");
    std::string out, err;
    setenv("SLUICE_POLICY", p.c_str(), 1);
    ASSERT_EQ(submit({"--dry-run", j}, &out, &err), 0) << err;
    EXPECT_TRUE(has_line(out, "#SBATCH --partition=enclave2")) << out;
    EXPECT_TRUE(has_line(out, "#SBATCH --ntasks=1")) << out;
    EXPECT_TRUE(has_line(out, "#SBATCH --time=02:00:00")) << out;
    EXPECT_EQ(out.find("--gres"), std::string::npos) << out;
    EXPECT_EQ(out.find("--mem"), std::string::npos) << out;
    EXPECT_EQ(out.find("cpus-per-task"), std::string::npos) << out;
    EXPECT_EQ(out.find("OMP_NUM_THREADS"), std::string::npos) << out;
}

TEST_F(Submit, EmergencyUsesTheEmergencyPartitionForListedUsers)
{
    std::string p = policy("emergency: {partition: urgent, users: [" + user_name() + "]}\n");
    std::string j = job("");
    std::string out, err;
    ASSERT_EQ(submit({j, "--dry-run", "--emergency", "--policy", p}, &out, &err), 0) << err;
    EXPECT_TRUE(has_line(out, "#SBATCH --partition=urgent")) << out;
}

TEST_F(Submit, EmergencyRefusedForOthers)
{
    std::string p = policy("emergency: {partition: urgent, users: [someone-else]}\n");
    std::string j = job("");
    std::string out, err;
    EXPECT_EQ(submit({j, "--emergency", "--policy", p}, &out, &err), 1);
    EXPECT_NE(err.find("--emergency refused"), std::string::npos) << err;
    EXPECT_NE(err.find(user_name()), std::string::npos) << err;
    EXPECT_EQ(out, "");
    EXPECT_NE(access((dir + "/logs").c_str(), F_OK), 0) << "refused before anything was made";
}

TEST_F(Submit, EmergencyRefusedWithoutEmergencyPartition)
{
    std::string p = policy("");
    std::string j = job("");
    std::string out, err;
    EXPECT_EQ(submit({j, "--dry-run", "--emergency", "--policy", p}, &out, &err), 1);
    EXPECT_NE(err.find("names no emergency partition"), std::string::npos) << err;
}

TEST_F(Submit, UsageErrorsAndHelp)
{
    std::string out, err;
    EXPECT_EQ(submit({"--help"}, &out, &err), 0);
    EXPECT_NE(out.find("usage: sluice submit"), std::string::npos);
    EXPECT_EQ(submit({}, &out, &err), 1);
    EXPECT_NE(err.find("expected one job file"), std::string::npos) << err;
    EXPECT_EQ(submit({"a.yaml", "--bogus"}, &out, &err), 1);
    EXPECT_NE(err.find("--bogus"), std::string::npos) << err;
    EXPECT_EQ(submit({dir + "/missing.yaml", "--policy", policy("")}, &out, &err), 1);
    EXPECT_NE(err.find("missing.yaml"), std::string::npos) << err;
}

TEST_F(Submit, UnsafePathsAreRefused)
{
    struct sl_policy *pol = nullptr;
    struct sl_job *jb = nullptr;
    char *script = nullptr;
    ASSERT_EQ(sl_policy_load(policy("").c_str(), &pol), SL_OK) << sl_error_message();
    ASSERT_EQ(sl_job_load(job("").c_str(), pol, &jb), SL_OK) << sl_error_message();
    std::string exe = self_exe();
    struct sl_submit_opts opts = {false, "u", exe.c_str(), "/tmp/with space/logs"};
    EXPECT_EQ(sl_submit_script(pol, jb, &opts, &script), SL_ERR_ARG);
    EXPECT_EQ(script, nullptr);
    opts.logs_dir = "/tmp/pct%j/logs";
    EXPECT_EQ(sl_submit_script(pol, jb, &opts, &script), SL_ERR_ARG);
    opts.logs_dir = "relative/logs";
    EXPECT_EQ(sl_submit_script(pol, jb, &opts, &script), SL_ERR_ARG);
    opts.logs_dir = "/tmp/ok/logs";
    opts.sluice_path = "/opt/it's here/sluice";
    ASSERT_EQ(sl_submit_script(pol, jb, &opts, &script), SL_OK) << sl_error_message();
    EXPECT_NE(std::string(script).find("srun --mpi=pmix '/opt/it'\\''s here/sluice' run"),
              std::string::npos)
        << script;
    sl_free(script);
    sl_job_destroy(&jb);
    sl_policy_destroy(&pol);
}

// The grant, the analyses and the filter are checked against the policy and
// the cohort's metadata before anything is submitted (the committed fixture
// cohort: pid, age, bmi, sex, dx_date), with the job file's line and
// column; a cohort this node cannot read leaves the checks to the run, with
// a note.
TEST_F(Submit, AnalysesAreCheckedAgainstTheCohortFirst)
{
    std::string cohort = std::string(getenv("SL_TEST_DATA") ? getenv("SL_TEST_DATA")
                                                            : "tests/data") +
                         "/cohort_v1.h5";
    std::string p = write("policy.yaml", "version: 1\nkey_file: centre.kek\n"
                                         "enclave: {partitions: [enclave]}\n"
                                         "cohorts: [{path: " + cohort + ", users: [\"*\"]}]\n");
    auto jobfile = [&](const std::string &body) {
        return write("job.yaml", "name: j\ncohort: " + cohort + "\n" + body);
    };
    std::string out, err;
    std::string ok = jobfile("filter: 'age >= 18'\nanalyses:\n"
                             "  - {type: count, by: [sex, age], bands: {age: [40]}}\n");
    ASSERT_EQ(submit({ok, "--dry-run", "--policy", p}, &out, &err), 0) << err;
    EXPECT_EQ(out.rfind("#!/bin/bash\n", 0), 0u) << out;

    std::string bad = jobfile("analyses:\n  - {type: count, by: [sex, agee]}\n");
    EXPECT_EQ(submit({bad, "--dry-run", "--policy", p}, &out, &err), 1);
    EXPECT_EQ(out, "") << "nothing is printed for a job that would fail";
    EXPECT_NE(err.find("job.yaml:4:"), std::string::npos) << err;
    EXPECT_NE(err.find("the cohort has no column 'agee'; did you mean 'age'?"), std::string::npos)
        << err;
    bad = jobfile("analyses:\n  - {type: describe, columns: [bmi], by: [age]}\n");
    EXPECT_EQ(submit({bad, "--dry-run", "--policy", p}, &out, &err), 1);
    EXPECT_NE(err.find("cut points that band this one"), std::string::npos) << err;
    bad = jobfile("filter: 'sex == \"Q\"'\nanalyses:\n  - {type: count}\n");
    EXPECT_EQ(submit({bad, "--dry-run", "--policy", p}, &out, &err), 1);
    EXPECT_NE(err.find("\"Q\" is not a level of column 'sex'"), std::string::npos) << err;
    bad = jobfile("analyses:\n  - {type: histogramm, column: bmi}\n");
    EXPECT_EQ(submit({bad, "--dry-run", "--policy", p}, &out, &err), 1);
    EXPECT_NE(err.find("unknown analysis type 'histogramm'"), std::string::npos) << err;

    // a cohort the policy does not grant to this user
    std::string p3 = write("policy3.yaml", "version: 1\nkey_file: centre.kek\n"
                                           "enclave: {partitions: [enclave]}\n"
                                           "cohorts: [{path: " + cohort +
                                               ", users: [someone-else]}]\n");
    EXPECT_EQ(submit({ok, "--dry-run", "--policy", p3}, &out, &err), 1);
    EXPECT_EQ(out, "");
    EXPECT_NE(err.find("may not run jobs on cohort " + cohort), std::string::npos) << err;

    // not readable here: submitted, with a note
    std::string elsewhere = write("job.yaml", "name: j\ncohort: /nonexistent/c.h5\n"
                                              "analyses: [{type: count, by: [agee]}]\n");
    std::string p2 = write("policy2.yaml", "version: 1\nkey_file: centre.kek\n"
                                           "enclave: {partitions: [enclave]}\n"
                                           "cohorts: [{path: /nonexistent/c.h5, users: [\"*\"]}]\n");
    ASSERT_EQ(submit({elsewhere, "--dry-run", "--policy", p2}, &out, &err), 0) << err;
    EXPECT_NE(err.find("note: cannot open cohort /nonexistent/c.h5"), std::string::npos) << err;
    EXPECT_NE(err.find("checked when the job runs"), std::string::npos) << err;
}

}  // namespace
