#!/usr/bin/env bash
# Coverage-guided fuzzing of one target of tests/fuzz with libFuzzer:
#
#   bash scripts/fuzz.sh TARGET [SECONDS]     (default 300)
#   bash scripts/fuzz.sh --list
#
# Installs Clang if missing, builds build-fuzz with -DSL_FUZZ=ON (every
# library instrumented for coverage, under ASan and UBSan), then fuzzes on
# one core starting from the committed corpus tests/fuzz/corpus/TARGET, with
# the target's dictionary when it has one. New inputs go to
# build-fuzz/corpus/TARGET, never into the tree. A crash, leak, sanitizer
# report or timeout stops the run, leaves the input in build-fuzz/findings/
# and exits nonzero: minimise it (the program's -minimize_crash=1), fix the
# bug, and commit the minimised input to tests/fuzz/corpus/TARGET so that
# CTest replays it in every build from then on.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=$(sed -n 's/^sl_add_fuzz(\([a-z_]*\).*/\1/p' tests/fuzz/CMakeLists.txt)
if [ "${1:-}" = --list ] || [ $# -lt 1 ]; then
  echo "usage: bash scripts/fuzz.sh TARGET [SECONDS]; targets:" $targets
  [ "${1:-}" = --list ]
  exit
fi
target=$1
secs=${2:-300}
echo "$targets" | grep -qx "$target" || { echo "fuzz.sh: no target '$target' (have:" $targets")" >&2; exit 2; }
case $secs in ''|*[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number, got '$secs'" >&2; exit 2;; esac

bash scripts/deps.sh clang libomp-dev
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSL_FUZZ=ON \
  -DSL_WITH_CUDA=OFF >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target "fuzz_$target"

work=build-fuzz/corpus/$target
mkdir -p "$work" build-fuzz/findings
dict=()
[ -f "tests/fuzz/$target.dict" ] && dict=(-dict="tests/fuzz/$target.dict")
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
exec "build-fuzz/bin/fuzz_$target" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="build-fuzz/findings/$target-" "${dict[@]}" \
  "$work" "tests/fuzz/corpus/$target"
