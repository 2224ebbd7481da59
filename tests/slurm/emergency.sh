#!/usr/bin/env bash
# A queued emergency job starts before queued normal jobs: a blocking job
# fills the node, a normal general job and a normal enclave job queue, then
# an emergency job (partition urgent, higher PriorityTier) queues last. When
# the blocker ends, the emergency job must start first.
source "$(dirname "$0")/lib.sh"

SLUICE=$(probe_as_sluice)
policy p.yaml "allow_local: false"

# job_script NAME [sluice]: records its start, then holds the node for a
# moment so the next job cannot start beside it. With "sluice" it also runs
# the probe as `sluice run`, which the enclave and emergency partitions need.
job_script() {
  {
    echo "#!/bin/bash"
    echo "echo $1 >>'$WORK/order'"
    if [ "${2:-}" = sluice ]; then
      echo "'$SLUICE' run --policy '$WORK/p.yaml' >'$WORK/$1.probe' 2>&1"
    fi
    echo "sleep 1"
  } >"$1.sh"
}
job_script blocker
echo "sleep 300" >>blocker.sh
job_script normal_general
job_script normal_enclave sluice
job_script emergency sluice

blocker=$(submit -p general --exclusive -o /dev/null blocker.sh) || fail "blocker: $(cat submit.err)"
wait_for 30 grep -q blocker order 2>/dev/null || fail "blocker did not start ($(job_state "$blocker"))"
n1=$(submit -p general --exclusive -o /dev/null normal_general.sh) || fail "normal general: $(cat submit.err)"
n2=$(submit -p enclave --exclusive -o /dev/null normal_enclave.sh) || fail "normal enclave: $(cat submit.err)"
e=$(submit -p urgent --exclusive -o /dev/null emergency.sh) || fail "emergency: $(cat submit.err)"
for id in "$n1" "$n2" "$e"; do
  [ "$(job_state "$id")" = PENDING ] || fail "job $id is $(job_state "$id"), expected PENDING behind the blocker"
done

scancel "$blocker"
started_all() { [ "$(wc -l <order)" -ge 4 ]; }
wait_for 60 started_all || fail "queued jobs did not all start: $(tr '\n' ' ' <order)"
mapfile -t order <order
[ "${order[1]}" = emergency ] || fail "start order ${order[*]}: the emergency job did not start first"
# The emergency job ran in the emergency partition, as its own check saw it.
grep -q "partition=urgent\|partition 'urgent'" emergency.probe || fail "emergency job: $(cat emergency.probe)"
echo "start order: ${order[*]}: ok"
