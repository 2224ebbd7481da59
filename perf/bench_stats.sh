#!/usr/bin/env bash
# bench_stats.sh: describe and crosstab against the memory bandwidth and
# against DuckDB, on the same generated data, and the ratios.
#
#   perf/bench_stats.sh [BUILD_DIR]       (default: build)
#   env: ROWS (default 10000000), REPS (default 5)
#
# Runs BUILD_DIR/bin/bench_stats with 1 and with 2 kernel threads (its
# memory read bandwidth is measured in the same run), then
# perf/bench_stats_duckdb.py with DuckDB limited to 1 and 2 threads, checks
# that both generated the same data (CHECK lines), and prints per analysis:
# the fraction of the read bandwidth sluice reaches with 2 threads, and the
# speed-up over DuckDB at equal thread counts (DuckDB's time / sluice's
# time; above 1 means sluice is faster per core). DuckDB and numpy are
# installed with pip into BUILD_DIR/bench-venv for this benchmark only.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
rows=${ROWS:-10000000}
reps=${REPS:-5}
venv=$build/bench-venv
out=$(mktemp -d "${TMPDIR:-/tmp}/bench-stats.XXXXXX")
trap 'rm -rf "$out"' EXIT

[ -x "$build/bin/bench_stats" ] || { echo "no $build/bin/bench_stats: build first" >&2; exit 1; }
if ! "$venv/bin/python" -c 'import duckdb, numpy' 2>/dev/null; then
  echo "installing duckdb and numpy into $venv (benchmark only)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet duckdb numpy
fi

for t in 1 2; do
  echo "== sluice, $t kernel thread(s)"
  OMP_NUM_THREADS=$t "$build/bin/bench_stats" --rows "$rows" --reps "$reps" |
    tee "$out/sluice$t.txt" | grep -v '^RESULT'
done
echo "== DuckDB"
"$venv/bin/python" "$here/bench_stats_duckdb.py" --rows "$rows" --reps "$reps" --threads 1 2 |
  tee "$out/duckdb.txt" | grep -v '^RESULT'

python3 - "$out" <<'PY'
import re, sys
d = sys.argv[1]

def results(path):
    res, check = {}, None
    for line in open(path):
        if line.startswith("CHECK"):
            check = line.strip()
        m = re.match(r"RESULT (?:duckdb )?(\w+) (.*)", line)
        if m:
            kv = dict(x.split("=") for x in m.group(2).split())
            res[(m.group(1), kv.get("threads"))] = kv
    return res, check

s1, c1 = results(f"{d}/sluice1.txt")
s2, c2 = results(f"{d}/sluice2.txt")
dk, cd = results(f"{d}/duckdb.txt")
if not (c1 == c2 == cd):
    sys.exit(f"the generators disagree:\n{c1}\n{cd}")
bw = float(s2[("bandwidth", "2")]["gbps"]) if ("bandwidth", "2") in s2 else float(
    next(v["gbps"] for k, v in s2.items() if k[0] == "bandwidth"))
print(f"\nsame data in both (CHECK lines agree); memory read bandwidth {bw:.1f} GB/s\n")
print(f"{'analysis':<13} {'sluice 1t':>10} {'duckdb 1t':>10} {'ratio':>6}   "
      f"{'sluice 2t':>10} {'duckdb 2t':>10} {'ratio':>6}   {'GB/s 2t':>8} {'of bw':>6}")
for name in ("describe", "describe_all", "crosstab", "crosstab_n", "quantiles"):
    a1 = float(s1[(name, None)]["seconds"]); a2 = float(s2[(name, None)]["seconds"])
    b1 = float(dk[(name, "1")]["seconds"]); b2 = float(dk[(name, "2")]["seconds"])
    gb = float(s2[(name, None)]["gbps"])
    print(f"{name:<13} {1e3*a1:8.1f}ms {1e3*b1:8.1f}ms {b1/a1:6.2f}   "
          f"{1e3*a2:8.1f}ms {1e3*b2:8.1f}ms {b2/a2:6.2f}   {gb:8.2f} {100*gb/bw:5.1f}%")
print("\nratio = DuckDB time / sluice time at the same thread count (> 1: sluice faster per "
      "core);\nof bw = sluice's input bytes per second with 2 threads / measured read bandwidth.")
PY
