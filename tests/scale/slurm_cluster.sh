# A throw-away single-node Slurm cluster on localhost, for tests (sourced, not run).
# start_slurm DIR: a generated munge key and slurm.conf in DIR, munged, slurmctld and slurmd
# started as the current user (CI runs as root; no systemd), ports chosen from the pid so
# that two runs on one machine do not meet; exports SLURM_CONF. stop_slurm: stops them.
# Needs Debian's slurm-wlm and munge (scripts/setup.sh).

start_slurm() {
  SLURM_TEST_DIR="$1"
  local d="$SLURM_TEST_DIR" host user cpus port
  mkdir -p "$d/munge" "$d/state" "$d/spool" "$d/log"
  chmod 700 "$d/munge"
  dd if=/dev/urandom of="$d/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$d/munge/munge.key"
  munged --force --key-file="$d/munge/munge.key" --socket="$d/munge/munge.socket" \
    --pid-file="$d/munge/munged.pid" --log-file="$d/log/munged.log" \
    --seed-file="$d/munge/munged.seed"
  host="$(hostname -s)"
  user="$(id -un)"
  cpus="$(nproc)"
  port=$((20000 + ($$ % 20000)))
  cat > "$d/slurm.conf" <<CONF
ClusterName=kllens-test
SlurmctldHost=$host
SlurmUser=$user
SlurmdUser=$user
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
AuthInfo=socket=$d/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool/slurmd-%n
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$d/slurm.conf"
  slurmctld -f "$SLURM_CONF"
  slurmd -f "$SLURM_CONF"
  local i
  for i in $(seq 1 60); do  # until the node is idle (up to 30 s)
    if sinfo -h -N -o '%T' 2>/dev/null | grep -q '^idle'; then return 0; fi
    sleep 0.5
  done
  echo "slurm did not come up; logs:" >&2
  tail -n 20 "$d"/log/*.log >&2
  return 1
}

stop_slurm() {
  local d="$SLURM_TEST_DIR" f
  for f in slurmd.pid slurmctld.pid munge/munged.pid; do
    if [ -f "$d/$f" ]; then kill "$(cat "$d/$f")" 2>/dev/null || true; fi
  done
  sleep 1
  for f in slurmd.pid slurmctld.pid munge/munged.pid; do
    if [ -f "$d/$f" ]; then kill -9 "$(cat "$d/$f")" 2>/dev/null || true; fi
  done
}
