// Tests of sl_enclave_check (engine/enclave.c) that need no running Slurm:
// local runs, faked or malformed SLURM_JOB_ID, and Slurm configurations that
// must not be trusted or that would make libslurm end the process. The
// checks against a real controller are in enclave.sh.
#include <gtest/gtest.h>

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fstream>
#include <string>

extern "C" {
#include "engine/config.h"
#include "engine/enclave.h"
}

namespace {

class Enclave : public ::testing::Test {
protected:
    std::string dir;
    struct sl_policy *policy = nullptr;

    void SetUp() override
    {
        char tmpl[] = "/tmp/sl-enclave-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir = tmpl;
        for (const char *v : {"SLURM_JOB_ID", "SLURM_CONF", "SLURM_JOB_PARTITION"})
            unsetenv(v);
    }
    void TearDown() override
    {
        sl_policy_destroy(&policy);
        for (const char *v : {"SLURM_JOB_ID", "SLURM_CONF", "SLURM_JOB_PARTITION"})
            unsetenv(v);
        std::string cmd = "rm -rf '" + dir + "'";
        ASSERT_EQ(system(cmd.c_str()), 0);
    }
    void load(bool allow_local)
    {
        std::string path = dir + "/policy.yaml";
        std::ofstream(path) << "version: 1\n"
                            << "allow_local: " << (allow_local ? "true" : "false") << "\n"
                            << "enclave: {partitions: [enclave]}\n"
                            << "cohorts: [{path: cohort.h5, users: [\"*\"]}]\n";
        ASSERT_EQ(sl_policy_load(path.c_str(), &policy), SL_OK) << sl_error_message();
    }
    std::string conf(const std::string &text)
    {
        std::string path = dir + "/slurm.conf";
        std::ofstream(path) << text;
        chmod(path.c_str(), 0644);
        return path;
    }
    sl_status check(struct sl_enclave_info *info)
    {
        memset(info, 0x5a, sizeof *info);
        return sl_enclave_check(policy, "someone", info);
    }
};

bool zeroed(const struct sl_enclave_info &info)
{
    struct sl_enclave_info zero;
    memset(&zero, 0, sizeof zero);
    return memcmp(&info, &zero, sizeof zero) == 0;
}

TEST_F(Enclave, OutsideSlurmRefusedUnlessThePolicyAllowsLocalRuns)
{
    struct sl_enclave_info info;
    load(false);
    EXPECT_EQ(check(&info), SL_ERR_DENIED);
    EXPECT_NE(std::string(sl_error_message()).find("allow_local: false"), std::string::npos)
        << sl_error_message();
    EXPECT_TRUE(zeroed(info));
    setenv("SLURM_JOB_ID", "", 1);
    EXPECT_EQ(check(&info), SL_ERR_DENIED) << "an empty SLURM_JOB_ID is no Slurm job";

    sl_policy_destroy(&policy);
    unsetenv("SLURM_JOB_ID");
    load(true);
    ASSERT_EQ(check(&info), SL_OK) << sl_error_message();
    EXPECT_FALSE(info.in_slurm);
    EXPECT_STREQ(info.job_id, "");
    EXPECT_STREQ(info.user, "someone");
}

TEST_F(Enclave, FakedJobIdRefusedEvenWhenLocalRunsAreAllowed)
{
    struct sl_enclave_info info;
    if (getuid() != 0)
        GTEST_SKIP() << "needs a root-owned configuration file";
    load(true);
    setenv("SLURM_JOB_ID", "4242", 1);
    setenv("SLURM_JOB_PARTITION", "enclave", 1);
    setenv("SLURM_CONF", conf("ClusterName=x\nSlurmctldHost=localhost(127.0.0.1)\n"
                              "SlurmctldPort=1\nSlurmdPort=2\n").c_str(), 1);
    EXPECT_EQ(check(&info), SL_ERR_DENIED);
    EXPECT_NE(std::string(sl_error_message()).find("SLURM_JOB_ID=4242 is not trusted"),
              std::string::npos)
        << sl_error_message();
    EXPECT_TRUE(zeroed(info));
}

TEST_F(Enclave, NoSlurmConfigurationRefusesAtOnce)
{
    struct sl_enclave_info info;
    if (access("/etc/slurm/slurm.conf", F_OK) == 0 ||
        access("/run/slurm/conf/slurm.conf", F_OK) == 0)
        GTEST_SKIP() << "this machine has a Slurm configuration";
    load(true);
    setenv("SLURM_JOB_ID", "4242", 1);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    EXPECT_EQ(check(&info), SL_ERR_DENIED);
    clock_gettime(CLOCK_MONOTONIC, &b);
    EXPECT_NE(std::string(sl_error_message()).find("no Slurm configuration"), std::string::npos)
        << sl_error_message();
    EXPECT_LT(static_cast<double>(b.tv_sec - a.tv_sec) + 1e-9 * static_cast<double>(b.tv_nsec - a.tv_nsec),
              0.5);
}

TEST_F(Enclave, MalformedJobIdRefused)
{
    struct sl_enclave_info info;
    load(true);
    for (const char *bad : {"12x", "-3", "0", "99999999999", " 7"}) {
        setenv("SLURM_JOB_ID", bad, 1);
        EXPECT_EQ(check(&info), SL_ERR_DENIED) << bad;
        EXPECT_NE(std::string(sl_error_message()).find("is not a Slurm job id"), std::string::npos)
            << bad << ": " << sl_error_message();
    }
}

TEST_F(Enclave, ConfigurationOthersControlIsNotTrusted)
{
    struct sl_enclave_info info;
    load(false);
    setenv("SLURM_JOB_ID", "4242", 1);
    std::string path = conf("ClusterName=x\n");
    setenv("SLURM_CONF", path.c_str(), 1);
    chmod(path.c_str(), 0666);
    EXPECT_EQ(check(&info), SL_ERR_DENIED);
    EXPECT_NE(std::string(sl_error_message()).find("writable by others"), std::string::npos)
        << sl_error_message();
    if (getuid() == 0) {
        chmod(path.c_str(), 0644);
        ASSERT_EQ(chown(path.c_str(), 65534, 65534), 0);
        EXPECT_EQ(check(&info), SL_ERR_DENIED);
        EXPECT_NE(std::string(sl_error_message()).find("not owned by root"), std::string::npos)
            << sl_error_message();
    }
    setenv("SLURM_CONF", (dir + "/missing.conf").c_str(), 1);
    EXPECT_EQ(check(&info), SL_ERR_DENIED);
}

// libslurm ends the process on a configuration it cannot parse; the check
// must survive that and refuse.
TEST_F(Enclave, BrokenConfigurationRefusedWithoutEndingTheCaller)
{
    struct sl_enclave_info info;
    if (getuid() != 0)
        GTEST_SKIP() << "needs a root-owned configuration file";
    load(true);
    setenv("SLURM_JOB_ID", "4242", 1);
    setenv("SLURM_CONF", conf("this is not a slurm.conf\n").c_str(), 1);
    EXPECT_EQ(check(&info), SL_ERR_DENIED);
    EXPECT_NE(std::string(sl_error_message()).find("Slurm client library stopped"),
              std::string::npos)
        << sl_error_message();
    EXPECT_TRUE(zeroed(info));
}

TEST_F(Enclave, NullArguments)
{
    struct sl_enclave_info info;
    load(true);
    EXPECT_EQ(sl_enclave_check(nullptr, "u", &info), SL_ERR_ARG);
    EXPECT_EQ(sl_enclave_check(policy, "u", nullptr), SL_ERR_ARG);
}

}  // namespace
