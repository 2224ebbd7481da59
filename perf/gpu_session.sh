#!/usr/bin/env bash
# gpu_session.sh: everything the CUDA backend needs a real GPU for, in one
# command that ends within 10 minutes on a lent H100/H200 machine.
#
# On the GPU machine (repository root, CUDA + CMake there, nothing else):
#   1. configures and builds the kernels alone (cmake -S kernels) with the
#      CUDA backend forced on, its GPU tests and bench_gpu;
#   2. runs the GPU tests (ctest -L gpu), then the other kernel tests, which
#      run every op on the "gpu" backend too;
#   3. runs bench_gpu, writing bench_gpu.csv (draw it here with
#      python3 perf/plot_gpu.py bench_gpu.csv);
#   4. runs the GPU test binary under compute-sanitizer --tool memcheck
#      (leak check on) and --tool racecheck, with SL_GPU_TEST_QUICK=1 (the
#      sanitizers slow kernels 10 to 100 times);
# and writes at most 8 files into $OUT: summary.txt (one line per step with
# its exit status and seconds), env.txt, build.log, ctest.log, bench.log,
# bench_gpu.csv, memcheck.log, racecheck.log. Each step has a time limit and
# the whole run a budget (SL_GPU_SESSION_BUDGET seconds, default 560); a step
# that no longer fits is skipped and says so. The exit status is 0 only when
# every step ran and passed.
#
# The GPU machines have no GoogleTest package, so its sources travel with
# the tree. Once, here (the developer machine, Debian's googletest package):
#   perf/gpu_session.sh prepare
# which copies /usr/src/googletest to build-gpu-carry/googletest (ignored by
# git). Then through the device tool, from the repository root:
#   run: command "bash perf/gpu_session.sh", carry ["build-gpu-carry"]
# The build directory (build-gpu-session) is ignored by git and survives
# between calls while the machine stays warm, so `bash perf/gpu_session.sh
# test` (or bench, sanitize) can rerun one part without rebuilding.
set -u -o pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
carry="$here/build-gpu-carry"

if [ "${1:-}" = prepare ]; then
    src=${GTEST_SRC:-/usr/src/googletest}
    [ -f "$src/CMakeLists.txt" ] || { echo "gpu_session: no GoogleTest sources at $src" >&2; exit 1; }
    rm -rf "$carry/googletest"
    mkdir -p "$carry"
    cp -r "$src" "$carry/googletest"
    echo "gpu_session: GoogleTest sources in $carry/googletest; now run on the GPU machine:"
    echo "  bash perf/gpu_session.sh   (device tool: carry [\"build-gpu-carry\"])"
    exit 0
fi

what=${1:-all}
case "$what" in
    all | build | test | bench | sanitize) ;;
    *) echo "usage: gpu_session.sh [prepare|all|build|test|bench|sanitize]" >&2; exit 2 ;;
esac

out=${OUT:-$here/build-gpu-session/out}
mkdir -p "$out"
build="$here/build-gpu-session"
budget=${SL_GPU_SESSION_BUDGET:-560}
start=$(date +%s)
failed=0
jobs=$(nproc 2>/dev/null || echo 8)
summary="$out/summary.txt"
: >"$summary"

note() { echo "$*" | tee -a "$summary"; }

# step NAME LIMIT LOG COMMAND...: runs COMMAND with its output in LOG (kept
# under 16 MiB), within LIMIT seconds and what is left of the budget.
step() {
    local name=$1 limit=$2 log=$3
    shift 3
    local left=$((budget - ($(date +%s) - start) - 10))
    if [ "$left" -lt 30 ]; then
        note "$name: SKIPPED (budget of ${budget}s spent)"
        failed=1
        return 1
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    local t0 rc
    t0=$(date +%s)
    timeout --kill-after=10 "$limit" "$@" >>"$log.tmp" 2>&1
    rc=$?
    tail -c 15000000 "$log.tmp" >>"$log"
    rm -f "$log.tmp"
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        note "$name: TIMED OUT after ${limit}s (log: $(basename "$log"))"
    else
        note "$name: exit $rc in $(($(date +%s) - t0))s (log: $(basename "$log"))"
    fi
    [ "$rc" -eq 0 ] || failed=1
    return "$rc"
}

{
    date -u
    nvidia-smi -L 2>&1
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem \
        --format=csv 2>&1
    nvcc --version 2>&1 | tail -2
    cmake --version 2>&1 | head -1
    echo "cpus: $jobs"
} >"$out/env.txt"

if [ "$what" = all ] || [ "$what" = build ]; then
    gtest=()
    [ -f "$carry/googletest/CMakeLists.txt" ] && gtest=(-DSL_GTEST_SOURCE_DIR="$carry/googletest")
    gen=()
    command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
    : >"$out/build.log"
    step configure 120 "$out/build.log" cmake -S "$here/kernels" -B "$build" "${gen[@]}" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSL_WITH_CUDA=ON "${gtest[@]}" &&
        step build 300 "$out/build.log" cmake --build "$build" -j "$jobs" ||
        { note "build failed: nothing else runs"; exit 1; }
fi

gpu_test="$build/bin/test_gpu"
if [ "$what" = all ] || [ "$what" = test ]; then
    : >"$out/ctest.log"
    step gpu-tests 150 "$out/ctest.log" ctest --test-dir "$build" -L gpu --output-on-failure
    step kernel-tests 120 "$out/ctest.log" ctest --test-dir "$build" -LE gpu --output-on-failure \
        -j 4
fi

if [ "$what" = all ] || [ "$what" = bench ]; then
    : >"$out/bench.log"
    step bench 180 "$out/bench.log" "$build/bin/bench_gpu" --reps 3 --csv "$out/bench_gpu.csv"
fi

if [ "$what" = all ] || [ "$what" = sanitize ]; then
    : >"$out/memcheck.log"
    : >"$out/racecheck.log"
    step memcheck 150 "$out/memcheck.log" env SL_GPU_TEST_QUICK=1 compute-sanitizer \
        --tool memcheck --leak-check full --error-exitcode 99 --print-limit 50 "$gpu_test"
    # the kernels that share memory between threads: tiles, pieces, counters
    step racecheck 100 "$out/racecheck.log" env SL_GPU_TEST_QUICK=1 compute-sanitizer \
        --tool racecheck --error-exitcode 99 --print-limit 50 "$gpu_test" \
        --gtest_filter='Gpu.GroupCount*:Gpu.Histogram*:Gpu.MomentsBit*:Gpu.GramBit*:GpuIrls.StepBit*'
fi

note "total: $(($(date +%s) - start))s; $([ "$failed" -eq 0 ] && echo PASS || echo FAIL)"
cat "$summary"
exit "$failed"
