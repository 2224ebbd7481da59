#!/usr/bin/env python3
"""bench_stats_duckdb.py: DuckDB's GROUP BY on the data perf/bench_stats.c
generates, for the per-core comparison in perf/bench_stats.sh.

    bench_stats_duckdb.py [--rows N] [--reps R] [--threads T ...]

Builds the same columns as bench_stats.c (splitmix64 of row * 8 + column,
the same arithmetic, so the same doubles), loads them into an in-memory
DuckDB table (missing values as NULL, not timed), prints the same CHECK line,
then times, best of R, the equivalent queries with DuckDB limited to T
threads (default 1 and 2):
  describe      count, count of values, avg and stddev_samp of bmi, sbp and
                cost, by sex
  describe_all  the same over all rows
  quantiles     quantile_cont (R's type 7) at 0.25, 0.5, 0.75 of the three,
                by sex
  crosstab      count, count, sum, avg and stddev_samp of cost by region, sex
                and smoker
  crosstab_n    count by region, sex and smoker
Lines starting with RESULT are for perf/bench_stats.sh. DuckDB and numpy are
benchmark-only dependencies (pip), never the product's.
"""
import argparse
import time

import duckdb
import numpy as np

M1 = np.uint64(0x9E3779B97F4A7C15)
M2 = np.uint64(0xBF58476D1CE4E5B9)
M3 = np.uint64(0x94D049BB133111EB)


def mix(z):
    z = z + M1
    z = (z ^ (z >> np.uint64(30))) * M2
    z = (z ^ (z >> np.uint64(27))) * M3
    return z ^ (z >> np.uint64(31))


def generate(rows):
    i = np.arange(rows, dtype=np.uint64) * np.uint64(8)
    cols = {}
    r = [mix(i + np.uint64(c)) for c in range(7)]
    u = [(x >> np.uint64(11)).astype(np.float64) * 2.0**-53 for x in r]
    h = [(x >> np.uint64(8)) for x in r]
    cols["sex"] = np.where(r[0] % np.uint64(100) == 0, -1,
                           (h[0] % np.uint64(2)).astype(np.int32)).astype(np.int32)
    cols["region"] = (h[1] % np.uint64(9)).astype(np.int32)
    cols["smoker"] = np.where(r[2] % np.uint64(100) < 3, -1,
                              (h[2] % np.uint64(3)).astype(np.int32)).astype(np.int32)
    age = (h[3] % np.uint64(101)).astype(np.int64)
    cols["age_missing"] = r[3] % np.uint64(100) < 2
    cols["age"] = age
    bmi = 15 + 30 * u[4]
    bmi[r[4] % np.uint64(100) < 5] = np.nan
    cols["bmi"] = bmi
    cols["sbp"] = 90 + 80 * u[5]
    cols["cost"] = 50 + 20000 * (u[6] * u[6] * u[6])
    return cols


QUERIES = {
    "describe": """SELECT sex, count(*), count(bmi), avg(bmi), stddev_samp(bmi),
                          count(sbp), avg(sbp), stddev_samp(sbp),
                          count(cost), avg(cost), stddev_samp(cost)
                   FROM t GROUP BY sex""",
    "describe_all": """SELECT count(*), count(bmi), avg(bmi), stddev_samp(bmi),
                              count(sbp), avg(sbp), stddev_samp(sbp),
                              count(cost), avg(cost), stddev_samp(cost) FROM t""",
    "quantiles": """SELECT sex, quantile_cont(bmi, [0.25, 0.5, 0.75]),
                           quantile_cont(sbp, [0.25, 0.5, 0.75]),
                           quantile_cont(cost, [0.25, 0.5, 0.75])
                    FROM t GROUP BY sex""",
    "crosstab": """SELECT region, sex, smoker, count(*), count(cost), sum(cost), avg(cost),
                          stddev_samp(cost)
                   FROM t GROUP BY region, sex, smoker""",
    "crosstab_n": "SELECT region, sex, smoker, count(*) FROM t GROUP BY region, sex, smoker",
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    a = ap.parse_args()

    cols = generate(a.rows)
    sex = cols["sex"]
    age_sum = int(cols["age"][~cols["age_missing"]].sum())
    print(f"CHECK rows={a.rows} sex0={int((sex == 0).sum())} sex1={int((sex == 1).sum())} "
          f"sexna={int((sex < 0).sum())} bmi_present={int((~np.isnan(cols['bmi'])).sum())} "
          f"age_sum={age_sum}")
    con = duckdb.connect()
    con.register("raw", {k: v for k, v in cols.items() if k != "age_missing"})
    con.execute("""CREATE TABLE t AS SELECT sex, region, smoker, age,
                   CASE WHEN isnan(bmi) THEN NULL ELSE bmi END AS bmi, sbp, cost FROM raw""")
    con.unregister("raw")
    print(f"duckdb {duckdb.__version__}, {a.rows} rows, best of {a.reps}")
    for threads in a.threads:
        con.execute(f"SET threads = {threads}")
        for name, sql in QUERIES.items():
            best = None
            for _ in range(a.reps if name != "quantiles" else min(a.reps, 2)):
                t0 = time.perf_counter()
                con.execute(sql).fetchall()
                dt = time.perf_counter() - t0
                best = dt if best is None or dt < best else best
            print(f"{name:<13} threads={threads} {1e3 * best:8.1f} ms")
            print(f"RESULT duckdb {name} threads={threads} seconds={best:.6f}")


if __name__ == "__main__":
    main()
