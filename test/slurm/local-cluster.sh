#!/usr/bin/env bash
# A real Slurm cluster on this one machine, for the tests: munged, slurmctld and one slurmd per
# virtual node (node1..nodeN, each declaring MAESTRO_SLURM_CPUS CPUs, more than the machine may
# have: SlurmdParameters=config_overrides). Facts: ../shared/reference/slurm-local.md.
#
#   local-cluster.sh start    idempotent: starts what is not running, waits until every node
#                             answers; prints "started" if it started anything, else "running"
#   local-cluster.sh stop     stops the daemons this script started (by pid file), cancelling
#                             the test cluster's jobs first
#   local-cluster.sh status   exit 0 when the controller and every node answer
#
# Needs root and Debian's slurm-wlm and munge (apt-get install slurm-wlm munge). It writes
# /etc/slurm/slurm.conf only if there is none or the one there is its own (first line below),
# so it never replaces the configuration of a real cluster.
set -euo pipefail

MARKER='# maestro local test cluster (test/slurm/local-cluster.sh)'
CONF=/etc/slurm/slurm.conf
DIR=${MAESTRO_SLURM_DIR:-/var/lib/slurm-local}
NODES=${MAESTRO_SLURM_NODES:-4}
CPUS=${MAESTRO_SLURM_CPUS:-4}

die() { echo "local-cluster: $*" >&2; exit 1; }

# Alive and not a zombie (a killed daemon can stay a zombie for a while here).
alive() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [[ -n $pid && -r /proc/$pid/stat ]] || return 1
  local state
  state=$(sed -E 's/^.*\) ([A-Z]).*$/\1/' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ $state != Z ]]
}

# Starts a daemon fully detached: its own session, stdio on /dev/null (a caller reading our
# output through a pipe must not wait for the daemon).
detach() { setsid "$@" </dev/null >/dev/null 2>&1; }

node_names() { local i; for ((i = 1; i <= NODES; i++)); do echo "node$i"; done; }

write_conf() {
  if [[ -f $CONF ]] && ! head -n1 "$CONF" | grep -qF "$MARKER"; then
    die "$CONF exists and is not ours; refusing to replace a real cluster's configuration"
  fi
  local tmp
  tmp=$(mktemp)
  {
    echo "$MARKER"
    cat <<CONF
ClusterName=maestro-local
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.log
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=300
KillWait=5
InactiveLimit=0
StateSaveLocation=$DIR/state
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdSpoolDir=$DIR/spool/%n
SlurmdPidFile=$DIR/run/slurmd-%n.pid
SlurmdLogFile=$DIR/log/slurmd-%n.log
CONF
    local i
    for ((i = 1; i <= NODES; i++)); do
      echo "NodeName=node$i NodeHostname=localhost NodeAddr=127.0.0.1 Port=$((6830 + i)) CPUs=$CPUS RealMemory=4000 State=UNKNOWN"
    done
    echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
  } >"$tmp"
  if ! cmp -s "$tmp" "$CONF" 2>/dev/null; then
    install -d /etc/slurm
    mv "$tmp" "$CONF"
    chmod 644 "$CONF"
    echo changed
  else
    rm -f "$tmp"
  fi
}

wait_for() { # seconds, description, command...
  local limit=$1 what=$2
  shift 2
  local end=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || die "timed out waiting for $what"
    sleep 0.2
  done
}

nodes_up() {
  # Every node answers: idle, mixed or allocated (not down, drained or not responding).
  local states
  states=$(sinfo -h -N -o '%N %t' 2>/dev/null) || return 1
  [[ $(grep -cE ' (idle|mix|alloc)$' <<<"$states") -ge $NODES ]]
}

start() {
  command -v slurmctld >/dev/null && command -v munged >/dev/null ||
    die "Slurm is not installed: apt-get install slurm-wlm munge"
  [[ $(id -u) -eq 0 ]] || die "must run as root (it starts slurmctld and slurmd)"
  local started=0 conf_changed
  install -d "$DIR"/{state,run,log,spool}
  conf_changed=$(write_conf)

  # Asked, not looked up: a munged killed a moment ago can linger as a zombie.
  if ! munge -n >/dev/null 2>&1; then
    install -d -o munge -g munge /run/munge
    detach runuser -u munge -- /usr/sbin/munged
    touch "$DIR/run/munged.ours" # stop ends it again; a munged that was running is left alone
    started=1
  fi
  wait_for 10 munged munge -n

  if [[ -n $conf_changed ]] && alive "$DIR/run/slurmctld.pid"; then stop_daemons; fi
  if ! alive "$DIR/run/slurmctld.pid"; then
    detach slurmctld
    started=1
  fi
  wait_for 30 slurmctld bash -c "scontrol ping | grep -q UP"

  local n
  for n in $(node_names); do
    if ! alive "$DIR/run/slurmd-$n.pid"; then
      detach slurmd -N "$n"
      started=1
    fi
  done
  if ! (wait_for 10 'the nodes' nodes_up) 2>/dev/null; then
    # Nodes left drained or down by an earlier run come back by hand.
    scontrol update nodename="node[1-$NODES]" state=resume >/dev/null 2>&1 || true
    wait_for 30 'the nodes' nodes_up
  fi
  if ((started)); then echo started; else echo running; fi
}

stop_daemons() {
  local f pids=()
  for f in "$DIR"/run/slurmd-*.pid "$DIR/run/slurmctld.pid"; do
    [[ -f $f ]] || continue
    if alive "$f"; then
      pids+=("$(cat "$f")")
      kill "$(cat "$f")" 2>/dev/null || true
    fi
  done
  local end=$((SECONDS + 15)) p
  for p in "${pids[@]}"; do
    while [[ -r /proc/$p/stat ]] && [[ $(sed -E 's/^.*\) ([A-Z]).*$/\1/' "/proc/$p/stat" 2>/dev/null) != Z ]]; do
      ((SECONDS < end)) || { kill -9 "$p" 2>/dev/null || true; break; }
      sleep 0.1
    done
  done
}

stop() {
  # Jobs of the test cluster go first: slurmstepd outlives slurmd and would keep them running.
  if alive "$DIR/run/slurmctld.pid"; then scancel --quiet --full --user=root 2>/dev/null || true; fi
  stop_daemons
  if [[ -f $DIR/run/munged.ours ]]; then
    local pid
    pid=$(cat /run/munge/munged.pid 2>/dev/null) && kill "$pid" 2>/dev/null || true
    rm -f "$DIR/run/munged.ours"
  fi
  echo stopped
}

status() {
  scontrol ping 2>/dev/null | grep -q UP && nodes_up
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: $0 start|stop|status" ;;
esac
