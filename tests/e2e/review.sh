#!/usr/bin/env bash
# Human review end to end: a job whose suppressed output is held for review,
# votes by distinct real users (reviewer accounts created here; each vote runs
# with the reviewer's real uid and the operator's effective uid, as a set-uid
# install would), release after two approvals, refusals, a conflicted output,
# and the audit trail. Needs root (useradd, setpriv).
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
  echo "review.sh: needs root to create reviewer accounts; skipped"
  exit 0
fi
for u in sluicerev1 sluicerev2 sluicerev3; do
  id "$u" >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin "$u"
done
# as USER CMD...: CMD with USER as the real uid and root as the effective uid.
as() { local u=$1; shift; setpriv --ruid="$u" --euid=0 -- "$@"; }
review() { "$SL_BIN/sluice" review "$@" --policy policy.yaml; }

make_cohort 3000 1024
write_policy true
cat >job.yaml <<'YAML'
name: reviewed
cohort: cohort.h5
filter: 'age >= 40'
analyses:
  - {type: count, name: total}
  - {type: count, name: by_region_diag, by: [region, diagnosis], mitigation: suppress}
  - {type: count, name: rare, by: [region, diagnosis, smoker]}
YAML
run_job 2 job.yaml rev1 >run.out 2>run.err || { cat run.out run.err; fail "run failed"; }
grep -q "by_region_diag *review *held for review" run.out || { cat run.out; fail "not held"; }
test -f held/rev1/by_region_diag.csv || fail "held output missing"
test ! -e released/rev1/by_region_diag.csv || fail "held output released before review"
test -f released/rev1/report.html || fail "no released report"
test -f held/rev1/report.html || fail "no operator report"
[ "$(stat -c %a held/rev1)" = 700 ] || fail "held/rev1 is not operator-only"

review list >list.out
grep -q "rev1/by_region_diag  pending  0/2" list.out || { cat list.out; fail "list"; }
review show rev1/by_region_diag >show.out
grep -q "suppressed" show.out || fail "show does not say what was suppressed"

# The job's own user cannot vote; failing and unknown outputs cannot be approved.
expect_exit 3 review approve rev1/by_region_diag
expect_exit 3 as sluicerev1 "$SL_BIN/sluice" review approve rev1/rare --policy policy.yaml
expect_exit 2 as sluicerev1 "$SL_BIN/sluice" review approve rev1/nosuch --policy policy.yaml
expect_exit 2 as sluicerev1 "$SL_BIN/sluice" review approve rev1/total --policy policy.yaml
expect_exit 2 as sluicerev1 "$SL_BIN/sluice" review reject rev1/by_region_diag --policy policy.yaml

# One approval, twice from the same user: still one.
as sluicerev1 "$SL_BIN/sluice" review approve rev1/by_region_diag --policy policy.yaml >v1.out
grep -q "1 of 2 approvals; still held" v1.out || { cat v1.out; fail "first approval"; }
as sluicerev1 "$SL_BIN/sluice" review approve rev1/by_region_diag --policy policy.yaml >v1b.out
grep -q "1 of 2 approvals; still held" v1b.out || { cat v1b.out; fail "repeated approval counted"; }
test ! -e released/rev1/by_region_diag.csv || fail "released after one reviewer"

# A second, distinct reviewer releases it.
as sluicerev2 "$SL_BIN/sluice" review approve rev1/by_region_diag --policy policy.yaml >v2.out
grep -q "released to released/rev1/" v2.out || { cat v2.out; fail "second approval"; }
test -f released/rev1/by_region_diag.csv || fail "approved output not released"
cmp -s held/rev1/by_region_diag.csv released/rev1/by_region_diag.csv || fail "released copy differs"
grep -q ",NA$" released/rev1/by_region_diag.csv || fail "suppressed cells not NA"
python3 - <<'PY' || fail "released results.json"
import hashlib, json
doc = json.load(open("released/rev1/results.json"))
o = [o for o in doc["outputs"] if o["name"] == "by_region_diag"][0]
assert o["status"] == "review" and o["location"] == "released", o["location"]
assert o["review"]["state"] == "released"
assert sorted(o["review"]["approvals"]) == ["sluicerev1", "sluicerev2"]
assert o["mitigation"]["applied"] is True
sup = [c for c in o["cells"] if c.get("mitigation", "").startswith("suppressed")]
assert sup and all(c["n"] is None for c in sup)
assert all(isinstance(c["n"], int) for c in o["cells"] if "mitigation" not in c)
assert "ledger_entry" not in o
assert all("evidence" not in r for r in o["rules"])
for f in o["files"]:
    h = hashlib.sha256(open("released/rev1/" + f["name"], "rb").read()).hexdigest()
    assert h == f["sha256"], f["name"]
rare = [o for o in doc["outputs"] if o["name"] == "rare"][0]
assert rare["status"] == "fail" and all("n" not in c for c in rare["cells"])
PY
grep -q "approved by sluicerev1, sluicerev2" released/rev1/report.html || fail "report not updated"
expect_exit 3 as sluicerev3 "$SL_BIN/sluice" review reject rev1/by_region_diag --reason late \
  --policy policy.yaml
review list >list2.out
grep -q "rev1/by_region_diag  released  2/2" list2.out || { cat list2.out; fail "list after"; }

# Disagreement leaves a second job's output conflicted and held; the vote of
# a user working through sudo counts under the sudo user's name.
sed -i 's/^name: reviewed/name: reviewed-again/' job.yaml
run_job 1 job.yaml rev2 >run2.out 2>&1 || { cat run2.out; fail "second run failed"; }
as sluicerev1 "$SL_BIN/sluice" review approve rev2/by_region_diag --policy policy.yaml >/dev/null
SUDO_USER=sluicerev3 SUDO_UID=$(id -u sluicerev3) "$SL_BIN/sluice" review reject \
  rev2/by_region_diag --reason "cell counts look identifying" --policy policy.yaml >v3.out
grep -q "sluicerev3 rejected rev2/by_region_diag: conflicted; stays held" v3.out \
  || { cat v3.out; fail "conflict"; }
test ! -e released/rev2/by_region_diag.csv || fail "conflicted output released"
[ "$(stat -c %a held/rev2/votes.json)" = 600 ] || fail "votes.json is not operator-only"

# Every vote and the release are in the audit log, which still verifies.
"$SL_BIN/sluice" audit verify audit/audit.log --key audit.key >/dev/null || fail "audit log"
[ "$(grep -c '"event":"review_vote"' audit/audit.log)" -eq 5 ] || fail "review_vote events"
grep -q '"event":"review_release"' audit/audit.log || fail "no review_release event"
grep '"event":"review_vote"' audit/audit.log | grep -q '"user":"sluicerev3"' \
  || fail "sudo vote not attributed"
echo "review: ok"
