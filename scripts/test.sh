#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, and runs every test
# (unit, mpi at 1/2/4 ranks, end-to-end, slurm through a throwaway local
# cluster; gpu tests skip without a device), then builds again with ASan +
# UBSan and runs the suite once more under the sanitizers.
# SL_TEST_SKIP_SANITIZE=1 skips the second pass.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
JOBS=$(nproc)

echo "== build (RelWithDebInfo)"
BUILD_DIR=build bash scripts/build.sh
echo "== tests"
(cd build && ctest -j "$JOBS" --output-on-failure --timeout 900)

if [ "${SL_TEST_SKIP_SANITIZE:-0}" != 1 ]; then
  echo "== build (ASan + UBSan)"
  BUILD_DIR=build-asan BUILD_TYPE=Debug bash scripts/build.sh -DSL_SANITIZE=ON -DSL_WITH_CUDA=OFF
  echo "== tests under ASan + UBSan (slurm-labelled tests ran above)"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  (cd build-asan && ctest -j "$JOBS" --output-on-failure --timeout 900 -LE slurm)
fi
