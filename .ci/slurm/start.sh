#!/usr/bin/env bash
# A single-node Slurm cluster on localhost for CI (run as root): munged, slurmctld and
# slurmd, one node with this machine's CPUs and memory and a generic "gpu" resource
# backed by /dev/null so `--gres=gpu:1` schedules. No accounting database: finished jobs
# are logged to a text file (jobcomp/filetxt). Everything lives under $SLURM_CI_DIR
# (default /var/tmp/transfusion-slurm); stop.sh stops the daemons by the PIDs kept there.
# Idempotent: a cluster that already answers is left running.
set -euo pipefail

dir=${SLURM_CI_DIR:-/var/tmp/transfusion-slurm}
[ "$(id -u)" = 0 ] || { echo "slurm/start.sh: must run as root (it installs packages and starts daemons)" >&2; exit 1; }

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  echo "installing slurm-wlm and munge..."
  export DEBIAN_FRONTEND=noninteractive
  # No init system here: keep the packages' maintainer scripts from starting services.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi

if [ -f "$dir/pids" ] && sinfo -h >/dev/null 2>&1; then
  echo "slurm: already running ($(sinfo -h -o '%N %T' | head -1))"
  exit 0
fi

mkdir -p "$dir"/{state,spool,log} /etc/slurm /run/munge /var/log/munge /var/lib/munge /etc/munge
host=$(hostname -s)
cpus=$(nproc)
# Leave the OS some room: slurmd refuses a node whose RealMemory exceeds what it finds.
mem=$(( $(free -m | awk '/^Mem:/ {print $2}') * 9 / 10 ))

if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
chmod 0700 /etc/munge && chmod 0400 /etc/munge/munge.key

cat > /etc/slurm/slurm.conf <<CONF
ClusterName=transfusion-ci
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
GresTypes=gpu
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.log
# Short timeouts: a CI cluster should notice a finished or cancelled job quickly.
KillWait=5
MinJobAge=300
InactiveLimit=0
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF
echo "Name=gpu File=/dev/null" > /etc/slurm/gres.conf
: > "$dir/pids"

# munged runs as its own user when it can, as Debian's service does.
if command -v runuser >/dev/null && id munge >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
else
  /usr/sbin/munged --force --pid-file=/run/munge/munged.pid
fi
echo "munged $(cat /run/munge/munged.pid)" >> "$dir/pids"

slurmctld
slurmd
for _ in $(seq 1 50); do
  [ -s "$dir/slurmctld.pid" ] && [ -s "$dir/slurmd.pid" ] && break
  sleep 0.2
done
echo "slurmctld $(cat "$dir/slurmctld.pid")" >> "$dir/pids"
echo "slurmd $(cat "$dir/slurmd.pid")" >> "$dir/pids"

# Wait until the node is schedulable.
for _ in $(seq 1 60); do
  state=$(sinfo -h -n "$host" -o '%T' 2>/dev/null || true)
  case "$state" in idle*|mixed*|allocated*) break ;; esac
  sleep 0.5
done
state=$(sinfo -h -n "$host" -o '%T' 2>/dev/null || true)
case "$state" in
  idle*|mixed*|allocated*) echo "slurm: node $host is $state ($cpus CPUs, ${mem} MiB, gpu:1); logs in $dir/log" ;;
  *) echo "slurm: node $host did not come up (state '$state'); see $dir/log/" >&2; tail -n 20 "$dir"/log/*.log >&2 || true; exit 1 ;;
esac
