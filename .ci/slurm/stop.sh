#!/usr/bin/env bash
# Stops the CI cluster started by start.sh, by the PIDs it recorded (slurmd, slurmctld, munged).
set -uo pipefail
dir=${SLURM_CI_DIR:-/var/tmp/transfusion-slurm}
[ -f "$dir/pids" ] || { echo "slurm/stop.sh: no $dir/pids; nothing to stop"; exit 0; }
# Stop in reverse start order; give each a few seconds to exit cleanly, then insist.
tac "$dir/pids" | while read -r name pid; do
  [ -n "${pid:-}" ] || continue
  kill -TERM "$pid" 2>/dev/null || continue
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null; echo "slurm: $name ($pid) killed"; else echo "slurm: $name ($pid) stopped"; fi
done
rm -f "$dir/pids"
