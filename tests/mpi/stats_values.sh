#!/usr/bin/env bash
# describe, crosstab, histogram and count on 2 ranks: every released value
# equals an independent computation in Python from the export CSV (with the
# job's filter applied): counts exactly, means, SDs and sums to 1e-12
# relative, quantiles, minima and maxima exactly (R's type 7 formula, and R
# itself when Rscript is installed), bin and band labels and counts exactly.
source "$(dirname "$0")/stats_lib.sh"

stats_cohort 30000 2000
cat >job.yaml <<'YAML'
cohort: cohort.h5
filter: 'age >= 18 and not (smoker == "former")'
analyses:
  - {type: describe, name: v1, columns: [age, bmi, systolic_bp, cost, admission_date],
     by: [sex], margins: true, probs: [0.1, 0.9, 0.333], minmax: true}
  - {type: describe, name: v2, columns: [hba1c]}
  - {type: crosstab, name: v3, rows: diagnosis, cols: sex, value: cost}
  - {type: crosstab, name: v4, rows: sex, cols: diagnosis, layers: smoker}
  - {type: histogram, name: v5, column: age, bins: 11, by: [sex]}
  - {type: histogram, name: v6, column: bmi, edges: [20, 25, 30.5]}
  - {type: histogram, name: v7, column: admission_date,
     edges: ['2015-01-01', '2018-03-01', '2021-01-01', '2023-12-31']}
  - {type: crosstab, name: v8, rows: age, cols: sex, value: bmi, bands: {age: [40, 41, 65]}}
  - {type: describe, name: v9, columns: [cost], by: [admission_date],
     bands: {admission_date: ['2018-01-01', '2021-01-01']}}
  - {type: count, name: v10, by: [bmi, smoker], bands: {bmi: [18.5, 25, 30]}}
  - {type: count, name: v11, by: [sex, age],
     bands: {age: [20, 23, 26, 29, 32, 35, 38, 41, 44, 47, 50, 53, 56, 59, 62, 65, 68, 71, 74]}}
  - {type: count, name: v12, by: [sex, bmi], bands: {bmi: [17, 19.5, 22, 24.5, 27, 29.5]}}
YAML
run_job 2 job.yaml vals >vals.out 2>vals.err || { cat vals.out vals.err; fail "run failed"; }
files=""
for o in v1_age v1_bmi v1_systolic_bp v1_cost v1_admission_date v2_hba1c v3 v4 v5 v6 v7 \
  v8 v9_cost v10 v11 v12; do
  files="$files $o=$(stats_output vals "$o")"
done
have_r=0
command -v Rscript >/dev/null && have_r=1
python3 - "$have_r" $files <<'PY' || fail "released values differ from the independent computation"
import csv, datetime, math, subprocess, sys

have_r = sys.argv[1] == "1"
out = dict(a.split("=", 1) for a in sys.argv[2:])
epoch = datetime.date(1970, 1, 1).toordinal()
rows = []
dictionary = {}  # category labels of the whole export (the cohort's levels)
for r in csv.DictReader(open("export.csv")):
    for k in ("sex", "diagnosis", "smoker", "region"):
        if r[k] not in ("", "NA"):
            dictionary.setdefault(k, set()).add(r[k])
    def num(k):
        v = r[k]
        return None if v in ("", "NA") else float(v)
    age, smoker = num("age"), r["smoker"]
    if age is None or age < 18 or smoker in ("", "NA") or smoker == "former":
        continue
    d = r["admission_date"]
    r["admission_date"] = None if d in ("", "NA") else float(
        datetime.date.fromisoformat(d).toordinal() - epoch)
    for k in ("age", "bmi", "systolic_bp", "cost", "hba1c"):
        r[k] = num(k)
    rows.append(r)
errors = []
checked = 0

def check(cond, what):
    global checked
    checked += 1
    if not cond:
        errors.append(what)

def close(a, b, what, rel=1e-12):
    check(abs(a - b) <= rel * max(abs(b), 1e-300), f"{what}: {a!r} vs {b!r}")

def type7(x, p):  # R's quantile.default, type 7, operation for operation
    n = len(x)
    index = 1 + (n - 1) * p
    lo, hi = math.floor(index), math.ceil(index)
    q = x[lo - 1]
    if index > lo and x[hi - 1] != q:
        h = index - lo
        q = (1 - h) * q + h * x[hi - 1]
    return q

def read(name):
    with open(out[name]) as f:
        return list(csv.DictReader(f))

def levels(col):
    return sorted(dictionary[col])

def value(s):
    return math.nan if s == "NA" else float(s)

r_checks = []
probs = {"median": 0.5, "q1": 0.25, "q3": 0.75, "p10": 0.1, "p90": 0.9, "p33.3": 0.333}

def check_describe(name, col, by):
    table = read(name)
    groups = [(lvl, [r for r in rows if r[by] == lvl]) for lvl in levels(by)] if by else []
    groups.append(("Total" if by else None, rows))
    check(len(table) == len(groups), f"{name}: {len(table)} rows")
    for (lvl, grp), line in zip(groups, table):
        what = f"{name}[{lvl}]"
        if by:
            check(line[by] == lvl, f"{what}: level {line[by]}")
        x = sorted(r[col] for r in grp if r[col] is not None)
        check(int(line["n"]) == len(grp), f"{what} n")
        check(int(line["present"]) == len(x), f"{what} present")
        check(int(line["missing"]) == len(grp) - len(x), f"{what} missing")
        mean = math.fsum(x) / len(x)
        close(value(line["mean"]), mean, f"{what} mean")
        sd = math.sqrt(math.fsum((v - mean) ** 2 for v in x) / (len(x) - 1))
        close(value(line["sd"]), sd, f"{what} sd")
        for label, p in probs.items():
            if label in line:
                check(value(line[label]) == type7(x, p), f"{what} {label}: {line[label]}")
        if "min" in line:
            check(value(line["min"]) == x[0] and value(line["max"]) == x[-1], f"{what} min/max")
        r_checks.append((what, x, [value(line[l]) for l in probs if l in line],
                         [p for l, p in probs.items() if l in line]))

for col in ("age", "bmi", "systolic_bp", "cost", "admission_date"):
    check_describe("v1_" + col, col, "sex")
check_describe("v2_hba1c", "hba1c", None)

# crosstab with a value: diagnosis x sex, margins
table = read("v3")
dx, sx = levels("diagnosis"), levels("sex")
i = 0
for d in dx + ["Total"]:
    for s in sx + ["Total"]:
        line = table[i]; i += 1
        what = f"v3[{d},{s}]"
        check((line["diagnosis"], line["sex"]) == (d, s), f"{what}: order")
        grp = [r for r in rows if d in ("Total", r["diagnosis"]) and s in ("Total", r["sex"])]
        x = sorted(r["cost"] for r in grp if r["cost"] is not None)
        check(int(line["n"]) == len(grp), f"{what} n")
        if line["sum"] == "NA":
            continue  # withheld by the gate
        close(value(line["sum"]), math.fsum(x), f"{what} sum")
        mean = math.fsum(x) / len(x)
        close(value(line["mean"]), mean, f"{what} mean")
        if len(x) > 1:
            sd = math.sqrt(math.fsum((v - mean) ** 2 for v in x) / (len(x) - 1))
            close(value(line["sd"]), sd, f"{what} sd")
        check(value(line["median"]) == type7(x, 0.5), f"{what} median")
check(i == len(table), "v3: row count")

# crosstab of counts, three dimensions with margins
table = read("v4")
sm = levels("smoker")
i = 0
for s in sx + ["Total"]:
    for d in dx + ["Total"]:
        for k in sm + ["Total"]:
            line = table[i]; i += 1
            n = sum(1 for r in rows if s in ("Total", r["sex"]) and d in ("Total", r["diagnosis"])
                    and k in ("Total", r["smoker"]))
            check(int(line["n"]) == n, f"v4[{s},{d},{k}] n {line['n']} vs {n}")
check(i == len(table), "v4: row count")

def hist_labels(edges, fmt):
    n = len(edges) - 1
    lab = [f"(-inf,{fmt(edges[0])})"]
    lab += [f"[{fmt(edges[b])},{fmt(edges[b + 1])}{']' if b == n - 1 else ')'}" for b in range(n)]
    return lab + [f"({fmt(edges[-1])},+inf)", "(missing)"]

def hist_counts(xs, edges):
    n = len(edges) - 1
    c = [0] * (n + 3)
    for v in xs:
        if v is None:
            c[n + 2] += 1
        elif v < edges[0]:
            c[0] += 1
        elif v > edges[-1]:
            c[n + 1] += 1
        else:
            b = max(i for i in range(n) if edges[i] <= v)
            c[1 + b] += 1
    return c

def check_hist(name, col, edges, fmt, by):
    table = read(name)
    labs = hist_labels(edges, fmt)
    groups = [(l, [r for r in rows if r[by] == l]) for l in levels(by)] if by else [(None, rows)]
    # The below/above/missing bins appear only when some patient is in them.
    totals = hist_counts([r[col] for r in rows], edges)
    n = len(edges) - 1
    shown = [b for b in range(n + 3) if b not in (0, n + 1, n + 2) or totals[b] > 0]
    i = 0
    for lvl, grp in groups:
        counts = hist_counts([r[col] for r in grp], edges)
        for lab, c in ((labs[b], counts[b]) for b in shown):
            line = table[i]; i += 1
            check(line["bin"] == lab, f"{name}: label {line['bin']} vs {lab}")
            if by:
                check(line[by] == lvl, f"{name}: level")
            check(int(line["n"]) == c, f"{name}[{lvl},{lab}] {line['n']} vs {c}")
    check(i == len(table), f"{name}: row count")

num_fmt = lambda v: "%.15g" % v
check_hist("v5", "age", [0 + (110 - 0) * (i / 11) for i in range(11)] + [110.0], num_fmt, "sex")
check_hist("v6", "bmi", [20.0, 25.0, 30.5], num_fmt, None)
dates = ["2015-01-01", "2018-03-01", "2021-01-01", "2023-12-31"]
day = lambda s: float(datetime.date.fromisoformat(s).toordinal() - epoch)
check_hist("v7", "admission_date", [day(s) for s in dates],
           lambda v: datetime.date.fromordinal(int(v) + epoch).isoformat(), None)

# bands: every value in the band of the cuts at or below it, labels built
# here from the cuts, the missing level only where a patient has it
def band(v, cuts):
    return None if v is None else sum(1 for c in cuts if c <= v)

def band_labels(cuts, kind):
    if kind == "int":
        inner = [f"{a}" if b - a == 1 else f"{a}-{b - 1}" for a, b in zip(cuts, cuts[1:])]
        return [f"<{cuts[0]}"] + inner + [f">={cuts[-1]}"]
    fmt = num_fmt if kind == "real" else lambda v: datetime.date.fromordinal(int(v) + epoch).isoformat()
    inner = [f"[{fmt(a)},{fmt(b)})" for a, b in zip(cuts, cuts[1:])]
    return [f"<{fmt(cuts[0])}"] + inner + [f">={fmt(cuts[-1])}"]

def band_levels(col, cuts, kind):
    labs = [(l, i) for i, l in enumerate(band_labels(cuts, kind))]
    if any(r[col] is None for r in rows):
        labs.append(("(missing)", None))
    return labs

# crosstab by integer age bands (a one-year band among them) and sex, a value
table = read("v8")
i = 0
for alab, a in band_levels("age", [40, 41, 65], "int") + [("Total", "T")]:
    for s in sx + ["Total"]:
        line = table[i]; i += 1
        what = f"v8[{alab},{s}]"
        check((line["age"], line["sex"]) == (alab, s), f"{what}: order {line['age']}")
        grp = [r for r in rows if a in ("T", band(r["age"], [40, 41, 65])) and
               s in ("Total", r["sex"])]
        x = sorted(r["bmi"] for r in grp if r["bmi"] is not None)
        check(int(line["n"]) == len(grp), f"{what} n {line['n']} vs {len(grp)}")
        close(value(line["sum"]), math.fsum(x), f"{what} sum")
        check(value(line["median"]) == type7(x, 0.5), f"{what} median")
check(i == len(table), "v8: row count")

# describe by date bands (the missing dates a level of their own, if any)
table = read("v9_cost")
dcuts = [day("2018-01-01"), day("2021-01-01")]
levs = band_levels("admission_date", dcuts, "date")
check(len(table) == len(levs), f"v9: {len(table)} rows")
for (lab, b), line in zip(levs, table):
    grp = [r for r in rows if band(r["admission_date"], dcuts) == b]
    x = sorted(r["cost"] for r in grp if r["cost"] is not None)
    check(line["admission_date"] == lab, f"v9: label {line['admission_date']} vs {lab}")
    check(int(line["n"]) == len(grp) and int(line["present"]) == len(x), f"v9[{lab}] n")
    close(value(line["mean"]), math.fsum(x) / len(x), f"v9[{lab}] mean")
    check(value(line["median"]) == type7(x, 0.5), f"v9[{lab}] median")

# count by real bmi bands and smoker (every smoker level, empty ones too)
table = read("v10")
i = 0
for lab, b in band_levels("bmi", [18.5, 25, 30], "real"):
    for k in sm:
        line = table[i]; i += 1
        n = sum(1 for r in rows if band(r["bmi"], [18.5, 25, 30]) == b and r["smoker"] == k)
        check((line["bmi"], line["smoker"]) == (lab, k), f"v10: order {line['bmi']}")
        check(int(line["n"]) == n, f"v10[{lab},{k}] {line['n']} vs {n}")
check(i == len(table), "v10: row count")

# bands after another column: 19 cuts (a binary search) and 6 (compared at once)
for name, by, col, cuts, kind in (
        ("v11", "sex", "age", list(range(20, 75, 3)), "int"),
        ("v12", "sex", "bmi", [17, 19.5, 22, 24.5, 27, 29.5], "real")):
    table = read(name)
    levs = band_levels(col, cuts, kind)
    outer = levels(by) if by else [None]
    check(len(table) == len(levs) * len(outer), f"{name}: {len(table)} rows")
    for (k, lvl), (lab, b) in ((x, y) for x in enumerate(outer) for y in levs):
        line = table[k * len(levs) + levs.index((lab, b))]
        n = sum(1 for r in rows if band(r[col], cuts) == b and (by is None or r[by] == lvl))
        check(line[col] == lab and (by is None or line[by] == lvl) and int(line["n"]) == n,
              f"{name}[{lvl},{lab}] {line['n']} vs {n}")

if have_r:  # the same quantiles from R itself
    with open("r_in.txt", "w") as f:
        for what, x, got, ps in r_checks:
            f.write(" ".join(repr(p) for p in ps) + "\n" + " ".join(repr(v) for v in x) + "\n")
    script = ('l <- readLines("r_in.txt"); for (i in seq(1, length(l), 2)) {'
              'p <- as.numeric(strsplit(l[i], " ")[[1]]);'
              'x <- as.numeric(strsplit(l[i+1], " ")[[1]]);'
              'cat(sprintf("%.17g", quantile(x, p, type = 7, names = FALSE)), "\\n") }')
    res = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True)
    for (what, x, got, ps), line in zip(r_checks, res.stdout.splitlines()):
        want = [float(v) for v in line.split()]
        check(got == want, f"{what}: quantiles {got} vs R {want}")
    check(len(res.stdout.splitlines()) == len(r_checks), "R answered every cell")

check(checked > 900, f"only {checked} values were compared")
if errors:
    print("\n".join(errors[:40]), file=sys.stderr)
    sys.exit(1)
print(f"{checked} values of {len(rows)} patients compared; R cross-check: "
      f"{'yes' if have_r else 'no'}")
PY
echo "describe, crosstab, histogram values: ok"
