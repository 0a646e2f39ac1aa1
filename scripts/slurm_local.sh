#!/usr/bin/env bash
# scripts/slurm_local.sh: a real one-node Slurm cluster on this machine, for tests.
#
#   scripts/slurm_local.sh install          # apt-get install slurmctld slurmd slurm-client munge (root)
#   scripts/slurm_local.sh start DIR        # munged, slurmctld and slurmd with state and logs in DIR
#   scripts/slurm_local.sh stop DIR
#
# After start, clients need SLURM_CONF=DIR/slurm.conf (printed). The node offers
# this machine's cores in one partition "debug"; jobs may be requeued. Uses
# Debian's packages (slurm-wlm 22.05); cgroups are not used, so it runs in
# containers and network namespaces too.
set -euo pipefail
cmd=${1:-}
dir=${2:-}

install() {
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && return 0
    [ "$(id -u)" = 0 ] || { echo "slurm_local.sh: installing Slurm needs root" >&2; exit 1; }
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge) \
        >/dev/null
}

write_conf() {
    local host cpus
    host=$(hostname -s)
    cpus=$(nproc)
    mkdir -p "$dir/state" "$dir/spool"
    cat > "$dir/slurm.conf" <<EOF
ClusterName=mxdl-local
SlurmctldHost=$host
AuthType=auth/munge
AuthInfo=cred_expire=10
SlurmUser=root
SlurmdUser=root
SlurmctldPort=${SLURMCTLD_PORT:-16817}
SlurmdPort=${SLURMD_PORT:-16818}
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobRequeue=1
KillWait=30
MpiDefault=none
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
    [ -n "$dir" ] || { echo "usage: slurm_local.sh start DIR" >&2; exit 2; }
    install
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    write_conf
    export SLURM_CONF=$dir/slurm.conf
    if pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null; then
        echo "slurm_local.sh: a slurmctld or slurmd already runs here; stop it first" >&2
        exit 1
    fi
    mkdir -p /run/munge
    if ! pgrep -x munged >/dev/null; then
        munged --force
    fi
    slurmctld -f "$SLURM_CONF"
    slurmd -f "$SLURM_CONF"
    for _ in $(seq 60); do  # the node registers within seconds
        if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
            echo "SLURM_CONF=$SLURM_CONF"
            return 0
        fi
        sleep 0.5
    done
    echo "slurm_local.sh: the node did not come up; see $dir/slurmctld.log and $dir/slurmd.log" >&2
    exit 1
}

stop() {
    [ -n "$dir" ] || { echo "usage: slurm_local.sh stop DIR" >&2; exit 2; }
    SLURM_CONF=$dir/slurm.conf scancel --full --quiet --user "$(id -un)" 2>/dev/null || true  # no job outlives it
    for daemon in slurmd slurmctld; do
        [ -f "$dir/$daemon.pid" ] && kill "$(cat "$dir/$daemon.pid")" 2>/dev/null || true
    done
}

case "$cmd" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    *) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
