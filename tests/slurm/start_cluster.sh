#!/usr/bin/env bash
# Start a one-node SLURM cluster on localhost for the SLURM profile tests (CI and local runs).
#
# Installs Debian's slurm-wlm and munge when missing, writes /etc/slurm/slurm.conf for one node
# named after `hostname -s` (CPUs=2, no GRES, no cgroups, no accounting daemon), starts munged,
# slurmctld and slurmd, and waits until `sinfo` shows the node idle. Idempotent: daemons that
# already run are left alone, and only the ones started here are recorded in $STATE_DIR, so
# stop_cluster.sh stops exactly those. Needs root (it installs packages and runs the daemons).
#
# Settings (environment): MINISUPERB_SLURM_CPUS (default 2), MINISUPERB_SLURM_MEMORY_MB
# (default 20000), MINISUPERB_SLURM_STATE_DIR (default /tmp/minisuperb-slurm).
set -euo pipefail

STATE_DIR=${MINISUPERB_SLURM_STATE_DIR:-/tmp/minisuperb-slurm}
CPUS=${MINISUPERB_SLURM_CPUS:-2}
MEMORY_MB=${MINISUPERB_SLURM_MEMORY_MB:-20000}
PARTITION=debug
CONF=/etc/slurm/slurm.conf
MARKER="# written by minisuperb tests/slurm/start_cluster.sh"
NODE=$(hostname -s)

fail() { echo "start_cluster.sh: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "must run as root (it installs slurm-wlm/munge and starts their daemons)."

install_packages() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
        return
    fi
    echo "installing slurm-wlm and munge (apt-get)..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

write_config() {
    if [ -f "$CONF" ] && ! grep -qF "$MARKER" "$CONF"; then
        fail "$CONF exists and was not written by this script: this machine already has a SLURM configuration; refusing to overwrite it. Run the SLURM tests on a machine without one (e.g. CI)."
    fi
    mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
    # SlurmdParameters=config_overrides: the node is what this file says (2 CPUs), not what the
    # hardware reports, so the tests behave the same on bigger machines.
    cat > "$CONF.tmp" <<CONF_EOF
$MARKER
ClusterName=minisuperb-ci
SlurmctldHost=$NODE(127.0.0.1)
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
# Finished jobs stay visible to squeue for 10 minutes: Snakemake's status command is squeue
# here (no accounting daemon, so no sacct).
MinJobAge=600
SchedulerParameters=sched_interval=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEMORY_MB State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF_EOF
    mv "$CONF.tmp" "$CONF"
}

# A daemon counts as started here when the pid recorded in $STATE_DIR is alive and is that program.
running() {
    local name=$1 record=$STATE_DIR/$1.pid
    [ -f "$record" ] && grep -qx "$name" "/proc/$(cat "$record")/comm" 2>/dev/null
}

# Start a daemon (it forks and writes its own pid file), then record its pid for stop_cluster.sh.
start_daemon() {
    local name=$1 pidfile=$2; shift 2
    if running "$name"; then
        echo "$name already running (pid $(cat "$STATE_DIR/$name.pid"))"
        return
    fi
    if pgrep -x "$name" >/dev/null; then
        echo "$name already running, not started by this script: using it, and leaving it running"
        return
    fi
    rm -f "$pidfile"
    "$@" >>"$STATE_DIR/$name.out" 2>&1 || fail "$name failed to start; see $STATE_DIR/$name.out."
    for _ in $(seq 100); do
        if [ -s "$pidfile" ]; then
            cp "$pidfile" "$STATE_DIR/$name.pid"
            echo "started $name (pid $(cat "$pidfile"))"
            return
        fi
        sleep 0.1
    done
    fail "$name wrote no pid file $pidfile within 10 s; see $STATE_DIR/$name.out."
}

start_munge() {
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    chmod 0755 /run/munge
    [ -s /etc/munge/munge.key ] || { /usr/sbin/mungekey --create --force; chown munge:munge /etc/munge/munge.key; }
    start_daemon munged /run/munge/munged.pid runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return
        sleep 0.2
    done
    fail "munged did not start; see $STATE_DIR/munged.out and /var/log/munge/munged.log."
}

wait_for_idle_node() {
    local state=""
    for _ in $(seq 120); do
        state=$(sinfo --noheader --nodes="$NODE" --format=%T 2>/dev/null | head -1 || true)
        case "$state" in
            idle|mixed|allocated) echo "SLURM node $NODE is $state (partition $PARTITION)"; return ;;
            down*|drain*) scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true ;;
        esac
        sleep 0.5
    done
    fail "node $NODE not idle after 60 s (state '$state'); see /var/log/slurm/slurmctld.log and slurmd.log."
}

mkdir -p "$STATE_DIR"
install_packages
write_config
start_munge
start_daemon slurmctld /run/slurmctld.pid /usr/sbin/slurmctld -i
start_daemon slurmd /run/slurmd.pid /usr/sbin/slurmd
wait_for_idle_node
