#!/usr/bin/env bash
# Stop the SLURM daemons that start_cluster.sh started, and only those (their pids are recorded
# in $STATE_DIR). Idempotent: with nothing recorded, or daemons already gone, it does nothing.
set -uo pipefail

STATE_DIR=${MINISUPERB_SLURM_STATE_DIR:-/tmp/minisuperb-slurm}

# Stop order: the node daemon, the controller, then authentication.
for name in slurmd slurmctld munged; do
    record=$STATE_DIR/$name.pid
    [ -f "$record" ] || continue
    pid=$(cat "$record")
    # Only signal the pid if it is still that program (pids are reused).
    if grep -qx "$name" "/proc/$pid/comm" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 100); do
            grep -qx "$name" "/proc/$pid/comm" 2>/dev/null || break
            sleep 0.1
        done
        if grep -qx "$name" "/proc/$pid/comm" 2>/dev/null; then
            echo "stop_cluster.sh: $name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL" >&2
            kill -KILL "$pid"
        fi
        echo "stopped $name (pid $pid)"
    fi
    rm -f "$record"
done
