#!/usr/bin/env bash
# A PLINK 1 fileset to released statistics, with PLINK 1.9 itself as the
# oracle: plink1.9 --dummy writes the fileset, --a1-allele makes allele 1
# the major allele of every third variant (so --keep-allele-order matters),
# some variants get rs ids, and the .fam gets sexes (some 0) and a
# case/control phenotype (some -9 and 0) that depends on the allele-1
# dosage of rs1111 as plink1.9 --recode A decodes it. `sluice ingest
# --plink` takes ten variants named in a file; a job on 1 and 2 ranks
# counts genotypes by phenotype (histogram), sums dosages by phenotype
# (crosstab), describes the dosages and fits logistic regressions of the
# phenotype on rs1111 (and sex), and plink1.9 must find the same counts
# (--model, --missing), the same allele frequencies (--freq counts) and the
# same coefficients (--logistic, to the four digits it prints; and an IRLS
# in Python on its --recode A dosages, to 1e-9); then a quantitative
# phenotype and a linear model, against plink1.9 --linear. Also: the CLI's
# refusals (docs/plink.md), that a refused ingest leaves nothing behind, and
# that no message shows a sample id.
source "$(dirname "$0")/lib.sh"

PLINK=${SL_PLINK:-plink1.9}
command -v "$PLINK" >/dev/null ||
  fail "$PLINK not found: install Debian's plink1.9 (scripts/deps.sh)"
plink() { "$PLINK" --keep-allele-order --allow-no-sex "$@" >/dev/null || fail "plink1.9 $*"; }
S="$SL_BIN/sluice"

# The fileset: 1999 samples (the last .bed byte of a variant half used), 40
# variants, 2% of the calls missing.
"$PLINK" --dummy 1999 40 0.02 acgt --make-bed --seed 7 --out raw >/dev/null ||
  fail "plink1.9 --dummy"
# rs ids for the odd variants (bp positions 10000 on); allele 1 the major
# allele of every third variant, plink1.9 --a1-allele rewriting the .bed.
awk 'BEGIN { OFS = "\t" } { i = NR - 1
  print $1, (i % 2) ? "rs" (1000 + 37 * i) : $2, $3, 10000 + 1000 * i, $5, $6 }' raw.bim >named.bim
cp raw.bed named.bed
cp raw.fam named.fam
awk 'NR % 3 == 1 { print $2, $6 }' named.bim >major.txt
plink --bfile named --a1-allele major.txt 2 1 --make-bed --out gen
plink --bfile gen --recode A --out dosage
# Sex 1 or 2 (every 61st 0); case (2) with probability logistic(-0.4 +
# 0.7 (dosage - 1) + 0.3 male), a Park-Miller generator making the draws;
# every 41st phenotype -9 and every 97th 0. The first sample's id is
# SECRETSAMPLE, which no message may show.
awk -v col=rs1111 '
  function rnd() { seed = (seed * 16807) % 2147483647; return seed / 2147483647 }
  BEGIN { seed = 20240607 }
  NR == FNR { if (FNR == 1) { for (k = 1; k <= NF; k++) if ($k ~ "^" col "_") c = k; next }
              dose[FNR - 1] = $c; next }
  {
    i = FNR; iid = i == 1 ? "SECRETSAMPLE" : $2
    sex = rnd() < 0.5 ? 1 : 2; if (i % 61 == 0) sex = 0
    u = rnd(); eta = -0.4 + 0.3 * (sex == 1)
    if (dose[i] != "NA") eta += 0.7 * (dose[i] - 1)
    pheno = u < 1 / (1 + exp(-eta)) ? 2 : 1
    if (i % 41 == 0) pheno = -9; else if (i % 97 == 0) pheno = 0
    print iid, iid, 0, 0, sex, pheno
  }' dosage.raw raw.fam >gen.fam
grep -q "^SECRETSAMPLE SECRETSAMPLE 0 0 [12] [12]$" gen.fam || fail "gen.fam: $(head -1 gen.fam)"
cat >variants.txt <<'TXT'
# the study's variants: the associated one first, then others in no order
rs1111

snp0
rs1037
snp4
rs1555
snp12
rs1999
snp30
# and one near the end of the .bim
rs2443
snp38
TXT
grep -v '^#' variants.txt | grep -v '^$' >extract.txt
[ "$(wc -l <extract.txt)" -eq 10 ] || fail "extract.txt"
plink --bfile gen --recode A --out dosage  # again, with the phenotypes and sexes

"$S" keygen --out centre.kek >/dev/null
"$S" keygen --out audit.key >/dev/null
# refuse PATTERN CMD...: CMD exits 2 with PATTERN in its message, which
# shows no sample id, and leaves the working directory as it was.
refuse() {
  local pattern=$1; shift
  local before; before=$(ls -A)
  expect_exit 2 "$@"
  grep -q -- "$pattern" last.err || fail "expected '$pattern' from $*: $(cat last.err)"
  no_secret last.out last.err
  [ "$(ls -A | grep -v '^last\.')" = "$(echo "$before" | grep -v '^last\.')" ] ||
    fail "$* left something behind"
}
no_secret() { ! grep -q "SECRETSAMPLE\|per[0-9]" "$@" || fail "a sample id in: $(cat "$@")"; }

# Refusals. --plink without --key or --out (unless --check), and with --in.
refuse "--plink needs --key and --out" "$S" ingest --plink gen --variants variants.txt \
  --out cohort.h5
refuse "--plink needs --key and --out" "$S" ingest --key centre.kek --plink gen
refuse "--in" "$S" ingest --key centre.kek --plink gen --in x.csv --out cohort.h5
# A variant the .bim lacks: the variants file and its line are named.
printf '# a typo on line 4\nrs1111\n\nrs11111\nsnp4\n' >typo.txt
refuse "typo.txt:4:.*rs11111" "$S" ingest --key centre.kek --plink gen --variants typo.txt \
  --out cohort.h5
refuse "typo.txt:4:.*rs11111" "$S" ingest --plink gen --variants typo.txt --check
# A .bed with a wrong magic, a sample-major one, a truncated one and one a
# byte too long; a sample id twice in the .fam (SECRETSAMPLE again at line
# 7); a variant id twice in the .bim where it is taken.
mkdir bad
for f in magic major short long dup rep; do
  cp gen.bed "bad/$f.bed"; cp gen.bim "bad/$f.bim"; cp gen.fam "bad/$f.fam"
done
{ printf '\x6c\x1c\x01'; tail -c +4 gen.bed; } >bad/magic.bed
{ printf '\x6c\x1b\x00'; tail -c +4 gen.bed; } >bad/major.bed
head -c -1 gen.bed >bad/short.bed
printf '\x00' >>bad/long.bed
awk 'NR == 7 { $1 = $2 = "SECRETSAMPLE" } 1' gen.fam >bad/dup.fam
awk 'BEGIN { OFS = "\t" } NR == 30 { $2 = "rs1111" } 1' gen.bim >bad/rep.bim
bedsize=$(((1999 + 3) / 4 * 40 + 3))
for c in "magic:magic.bed: not a PLINK 1 .bed" "major:major.bed: .*variant-major" \
  "short:short.bed: $((bedsize - 1)) bytes; expected $bedsize" \
  "long:long.bed: $((bedsize + 1)) bytes; expected $bedsize" "dup:dup.fam:7:" "rep:rep.bim:30:"; do
  f=${c%%:*}
  refuse "${c#*:}" "$S" ingest --key centre.kek --plink "bad/$f" --variants variants.txt \
    --out cohort.h5
  # --check reads the .fam and .bim and the size of the .bed
  case $f in short | long | dup | rep)
    refuse "${c#*:}" "$S" ingest --plink "bad/$f" --variants variants.txt --check ;;
  esac
done
# Without --variants every variant is taken, but not above 1000.
"$PLINK" --dummy 8 1001 --make-bed --seed 7 --out wide >/dev/null || fail "plink1.9 --dummy"
refuse "--variants" "$S" ingest --plink wide --check
printf 'snp1000\nsnp0\n' >wide.txt
"$S" ingest --plink wide --variants wide.txt --check >wide.out ||
  fail "wide with --variants: $(cat wide.out)"
grep -q "8 samples, 2 of 1001 variants taken" wide.out || fail "wide: $(cat wide.out)"
"$S" ingest --plink gen --check >all.out || fail "--check of every variant: $(cat all.out)"
grep -q "1999 samples, 40 of 40 variants taken" all.out || fail "all: $(cat all.out)"
test ! -e cohort.h5 || fail "a refusal or --check wrote cohort.h5"

nv=$(wc -l <extract.txt)
"$S" ingest --plink gen --variants variants.txt --check >check.out ||
  fail "--check: $(cat check.out)"
grep -q "1999 samples, $nv of 40 variants taken, a case/control phenotype.*nothing was written" \
  check.out || fail "--check: $(cat check.out)"
no_secret check.out
"$S" ingest --key centre.kek --plink gen --variants variants.txt --out cohort.h5 \
  --chunk-rows 500 >ingest.out 2>&1 || fail "ingest: $(cat ingest.out)"
cat ingest.out
no_secret ingest.out
grep -q "^ingested 1999 samples x $((nv + 3)) columns ($nv variants, a case/control phenotype)" \
  ingest.out || fail "ingest summary"
# missing calls against plink's count of missing genotypes (G0)
plink --bfile gen --extract extract.txt --freq counts --out all
g0=$(awk 'NR > 1 { s += $7 } END { print s }' all.frq.counts)
grep -q "^missing calls: $g0 of $((1999 * nv)) " ingest.out || fail "missing calls: plink $g0"
"$S" inspect cohort.h5 >inspect.out
grep -Eq "columns +$((nv + 3))$" inspect.out || fail "inspect: $(cat inspect.out)"
grep -Eq "person_id +id +identifier" inspect.out || fail "person_id: $(cat inspect.out)"
grep -Eq "sex +categorical +quasi +2$" inspect.out || fail "sex: $(cat inspect.out)"
grep -Eq "phenotype +categorical +sensitive +2$" inspect.out || fail "phenotype: $(cat inspect.out)"
# the variant columns in the order of the .bim
grep -Eo "(rs|snp)[0-9]+ +integer +sensitive" inspect.out | cut -d' ' -f1 >columns.txt
awk 'NR == FNR { want[$1] = 1; next } $2 in want { print $2 }' extract.txt gen.bim |
  cmp - columns.txt || fail "variant columns: $(cat columns.txt)"
levels() { h5dump -a "/patients/$1/sluice_$2" cohort.h5 | sed -n 's/^ *(0): //p'; }
[ "$(levels phenotype levels)" = '"control", "case"' ] ||
  fail "phenotype levels: $(levels phenotype levels)"
[ "$(levels sex levels)" = '"F", "M"' ] || fail "sex levels: $(levels sex levels)"
[ "$(levels rs1111 lower) $(levels rs1111 upper)" = "0 2" ] || fail "rs1111 bounds"

write_policy true
GENO=(rs1111 snp0 rs1037)
{ echo "cohort: cohort.h5"
  echo "filter: 'phenotype is not missing'"
  echo "analyses:"
  for v in "${GENO[@]}"; do
    echo "  - {type: histogram, name: g_$v, column: $v, edges: [0, 1, 2, 3], by: [phenotype]}"
    echo "  - {type: crosstab, name: a_$v, rows: phenotype, value: $v, stats: [sum, mean]," \
      "margins: false}"
  done
  echo "  - {type: describe, name: d, columns: [$(paste -sd, extract.txt | sed 's/,/, /g')]}"
  echo '  - {type: glm, name: additive, formula: "phenotype ~ rs1111", family: binomial}'
  echo '  - {type: glm, name: with_sex, formula: "phenotype ~ rs1111 + sex", family: binomial}'
} >job.yaml
run_job 1 job.yaml one >job1.log 2>&1 || { cat job1.log; fail "job on 1 rank"; }
run_job 2 job.yaml two >job2.log 2>&1 || { cat job2.log; fail "job on 2 ranks"; }
outputs=$((nv + 2 * ${#GENO[@]} + 2))
[ "$(grep -c "released to released/one/" job1.log)" -eq "$outputs" ] ||
  { cat job1.log; fail "not every output released"; }
for f in released/one/*.csv; do
  cmp "$f" "released/two/${f##*/}" || fail "${f##*/} differs between 1 and 2 ranks"
done
[ "$(ls released/two/*.csv | wc -l)" -eq "$outputs" ] || fail "outputs on 2 ranks"

# The oracles. The job keeps the samples with a phenotype: --prune.
plink --bfile gen --extract extract.txt --prune --freq counts --out kept
plink --bfile gen --extract extract.txt --model --out model
plink --bfile gen --extract extract.txt --prune --filter-cases --missing --out cases
plink --bfile gen --extract extract.txt --prune --filter-controls --missing --out controls
printf 'rs1111\n' >one.txt
plink --bfile gen --extract one.txt --logistic beta --ci 0.95 --out additive
plink --bfile gen --extract one.txt --logistic sex beta --ci 0.95 --out with_sex
python3 - released/one "${GENO[*]}" <<'PY' || fail "sluice and plink1.9 disagree"
import csv, math, sys

released, geno = sys.argv[1], sys.argv[2].split()

def table(path, sep=None):
    with open(path) as f:
        rows = [l.split(sep) for l in f if l.strip()]
    return [dict(zip(rows[0], r)) for r in rows[1:]]

def csvfile(name):
    with open(f"{released}/{name}.csv") as f:
        return list(csv.DictReader(f))

def near(got, want, rel):
    return abs(float(got) - want) <= rel * abs(want)

# Genotype counts by phenotype: --model's GENO test (allele 1 homozygotes,
# heterozygotes, allele 2 homozygotes) and --missing's missing calls.
model = {(r["SNP"], r["TEST"]): r for r in table("model.model")}
missing = {g: {r["SNP"]: r for r in table(g + ".lmiss")} for g in ("cases", "controls")}
for v in geno:
    counts = {"case": model[v, "GENO"]["AFF"], "control": model[v, "GENO"]["UNAFF"]}
    want = {}
    for ph, c in counts.items():
        a1a1, a1a2, a2a2 = map(int, c.split("/"))
        lm = missing["cases" if ph == "case" else "controls"][v]
        want[ph, "[0,1)"], want[ph, "[1,2)"], want[ph, "[2,3]"] = a2a2, a1a2, a1a1
        want[ph, "(missing)"] = int(lm["N_MISS"])
        assert a1a1 + a1a2 + a2a2 + int(lm["N_MISS"]) == int(lm["N_GENO"]), (v, ph)
        # the dosage summed and averaged by phenotype (crosstab)
        a = {r["phenotype"]: r for r in csvfile("a_" + v)}[ph]
        assert int(a["n"]) == int(lm["N_GENO"]), (v, ph, a, lm)
        assert float(a["sum"]) == 2 * a1a1 + a1a2, (v, ph, a, c)
        assert near(a["mean"], (2 * a1a1 + a1a2) / (a1a1 + a1a2 + a2a2), 1e-12), (v, ph, a, c)
        # the allelic test's allele counts say the same
        assert model[v, "ALLELIC"]["AFF" if ph == "case" else "UNAFF"] == \
            "%d/%d" % (2 * a1a1 + a1a2, a1a2 + 2 * a2a2), (v, ph)
    got = {(r["phenotype"], r["bin"]): int(r["n"]) for r in csvfile("g_" + v)}
    assert got == want, (v, got, want)
    print(f"genotype counts of {v} by phenotype: as plink1.9 --model and --missing")

# Dosages described: present, missing and the mean (twice allele 1's
# frequency) from --freq counts; sd, median and quartiles from --model's
# genotype counts (cases and controls together), R's type 7 quantiles.
for r in table("kept.frq.counts"):
    v, c1, c2, g0 = r["SNP"], int(r["C1"]), int(r["C2"]), int(r["G0"])
    d = csvfile("d_" + v)[0]
    assert int(d["present"]) == (c1 + c2) // 2 and int(d["missing"]) == g0, (v, d, r)
    assert int(d["n"]) == (c1 + c2) // 2 + g0, (v, d, r)
    assert near(d["mean"], 2 * c1 / (c1 + c2), 1e-12), (v, d["mean"], 2 * c1 / (c1 + c2))
    n2, n1, n0 = (sum(x) for x in zip(*(map(int, model[v, "GENO"][k].split("/"))
                                       for k in ("AFF", "UNAFF"))))
    vals = [0] * n0 + [1] * n1 + [2] * n2
    n, mean = len(vals), sum(vals) / len(vals)
    sd = math.sqrt(sum((x - mean) ** 2 for x in vals) / (n - 1))
    assert near(d["sd"], sd, 1e-9), (v, d["sd"], sd)
    for stat, p in (("q1", 0.25), ("median", 0.5), ("q3", 0.75)):
        h = (n - 1) * p
        q = vals[math.floor(h)] + (h - math.floor(h)) * (vals[math.ceil(h)] - vals[math.floor(h)])
        assert float(d[stat]) == q, (v, stat, d[stat], q)
print("dosages described: as plink1.9 --freq counts and --model")

# Logistic regressions: the same samples, and the coefficients as plink1.9
# --logistic prints them (four significant digits, fitted in single
# precision), and as a double-precision IRLS on --recode A's dosages run to
# full convergence (standard errors to 1e-5: sluice, like R's glm, stops
# when the deviance settles and takes them from the last iteration's
# weights).
def printed(want_text, got, rel):
    want = float(want_text)  # printed with %g's four significant digits
    ulp = 10 ** (math.floor(math.log10(abs(want))) - 3)
    return abs(float(got) - want) <= 0.5 * ulp + rel * abs(want)

rows = table("dosage.raw")
a1 = next(l.split()[4] for l in open("gen.bim") if l.split()[1] == "rs1111")
dose = "rs1111_" + a1  # --recode A counts allele 1 (--keep-allele-order)
def irls(with_sex):
    X, y = [], []
    for r in rows:
        if r["PHENOTYPE"] not in ("1", "2") or r[dose] == "NA" or \
                (with_sex and r["SEX"] == "0"):
            continue
        X.append([1.0, float(r[dose])] + ([float(r["SEX"] == "1")] if with_sex else []))
        y.append(float(r["PHENOTYPE"] == "2"))
    p, b = len(X[0]), [0.0] * len(X[0])
    for _ in range(100):
        A = [[0.0] * (2 * p + 1) for _ in range(p)]
        for x, t in zip(X, y):
            mu = 1 / (1 + math.exp(-sum(bi * xi for bi, xi in zip(b, x))))
            for j in range(p):
                A[j][p] += x[j] * (t - mu)
                for k in range(p):
                    A[j][k] += mu * (1 - mu) * x[j] * x[k]
        for j in range(p):
            A[j][p + 1 + j] = 1.0
        for c in range(p):  # Gauss-Jordan: the step and the inverse information
            A[c] = [v / A[c][c] for v in A[c]]
            for r2 in range(p):
                if r2 != c:
                    A[r2] = [a - A[r2][c] * e for a, e in zip(A[r2], A[c])]
        b = [bi + A[j][p] for j, bi in enumerate(b)]
        if max(abs(A[j][p]) for j in range(p)) < 1e-14:
            break
    return len(y), b, [math.sqrt(A[j][p + 1 + j]) for j in range(p)]

for name, with_sex in (("additive", False), ("with_sex", True)):
    got = {r["term"]: r for r in csvfile(name)}
    n, b, se = irls(with_sex)
    terms = ["(Intercept)", "rs1111"] + (["sexM"] if with_sex else [])
    assert list(got) == terms, (name, list(got))
    for t, bi, si in zip(terms, b, se):
        g = got[t]
        assert int(g["n"]) == n, (name, t, g["n"], n)
        assert near(g["estimate"], bi, 1e-9), (name, t, g["estimate"], bi)
        assert near(g["std_error"], si, 1e-5), (name, t, g["std_error"], si)
        z = float(g["estimate"]) / float(g["std_error"])
        assert near(g["z_value"], z, 1e-12), (name, t, g["z_value"], z)
        assert near(g["p_value"], math.erfc(abs(z) / math.sqrt(2)), 1e-9), (name, t, g)
    plink = table(f"{name}.assoc.logistic")
    assert [r["TEST"] for r in plink] == ["ADD"] + (["SEX"] if with_sex else []), plink
    for r in plink:
        t = {"ADD": "rs1111", "SEX": "sexM"}[r["TEST"]]
        g = got[t]
        assert r["A1"] == a1 and int(r["NMISS"]) == n, (name, r)
        assert printed(r["BETA"], g["estimate"], 1e-5), (name, t, r["BETA"], g["estimate"])
        assert printed(r["SE"], g["std_error"], 1e-5), (name, t, r["SE"], g["std_error"])
        assert printed(r["STAT"], g["z_value"], 1e-5), (name, t, r["STAT"], g["z_value"])
        assert printed(r["L95"], g["ci_lower"], 1e-5), (name, t, r["L95"], g["ci_lower"])
        assert printed(r["U95"], g["ci_upper"], 1e-5), (name, t, r["U95"], g["ci_upper"])
        assert near(g["p_value"], float(r["P"]), 1e-3), (name, t, r["P"], g["p_value"])
    print(f"logistic regression {name}: as plink1.9 --logistic and IRLS on its dosages")
PY

# A quantitative trait: phenotypes other than 1, 2, 0 and -9 make a real
# column, -9 missing and 0 a value (as plink1.9 reads them); a linear model
# of it on rs1111 against plink1.9 --linear.
awk -v col="rs1111_$(awk '$2 == "rs1111" { print $5 }' gen.bim)" '
  function rnd() { seed = (seed * 16807) % 2147483647; return seed / 2147483647 }
  BEGIN { seed = 99 }
  NR == FNR { if (FNR == 1) { for (k = 1; k <= NF; k++) if ($k == col) c = k; next }
              dose[FNR - 1] = $c; next }
  { i = FNR; $6 = sprintf("%.3f", 0.5 * (dose[i] == "NA" ? 1 : dose[i]) + 2 * rnd() - 1)
    if (i % 50 == 0) $6 = 0; if (i % 43 == 0) $6 = -9; print }' dosage.raw gen.fam >quant.fam
cp gen.bed quant.bed
cp gen.bim quant.bim
mv cohort.h5 case-control.h5
"$S" ingest --key centre.kek --plink quant --variants variants.txt --out cohort.h5 >quant.out ||
  fail "quantitative ingest: $(cat quant.out)"
grep -q "(10 variants, a quantitative phenotype)" quant.out || fail "$(cat quant.out)"
"$S" inspect cohort.h5 | grep -Eq "phenotype +real +sensitive" || fail "quantitative phenotype"
cat >quant.yaml <<'YAML'
cohort: cohort.h5
analyses:
  - {type: glm, name: linear, formula: "phenotype ~ rs1111"}
YAML
run_job 2 quant.yaml quant >quant.log 2>&1 || { cat quant.log; fail "quantitative job"; }
plink --bfile quant --extract one.txt --linear beta --ci 0.95 --out quant
python3 - <<'PY' || fail "sluice and plink1.9 --linear disagree"
import csv, math
with open("released/quant/linear.csv") as f:
    got = {r["term"]: r for r in csv.DictReader(f)}["rs1111"]
with open("quant.assoc.linear") as f:
    head, want = (l.split() for l in f)
want = dict(zip(head, want))
assert int(got["n"]) == int(want["NMISS"]), (got, want)
for mine, theirs in (("estimate", "BETA"), ("std_error", "SE"), ("t_value", "STAT"),
                     ("ci_lower", "L95"), ("ci_upper", "U95")):
    w = float(want[theirs])  # four significant digits
    assert abs(float(got[mine]) - w) <= 0.5 * 10 ** (math.floor(math.log10(abs(w))) - 3) \
        + 1e-5 * abs(w), (mine, got[mine], want[theirs])
assert abs(float(got["p_value"]) / float(want["P"]) - 1) <= 1e-3, (got["p_value"], want["P"])
print("linear regression of a quantitative phenotype: as plink1.9 --linear")
PY
echo "e2e plink: ok"
