#!/usr/bin/env bash
# maestro-worker's reaper: kills the step process groups of a worker that died.
#
# Usage: reaper.sh WORKER_PID [GRACE_SECONDS]   (started by the worker, src/reaper.ts)
#
# The worker writes one line per change on this script's stdin: "+PGID" when a step's process
# group starts, "-PGID" once that group is gone. End of file on stdin means the worker is gone:
# the kernel closes the pipe however the worker ends, even on SIGKILL (or the worker closed it on
# a clean exit, with nothing registered). Every group still registered then gets SIGTERM, and
# SIGKILL after GRACE_SECONDS (default 2), and the reaper exits.
#
# SIGTERM does the same once the worker is no longer this script's parent: the worker starts it
# under `setpriv --pdeathsig TERM`, a second path that does not depend on the pipe. While the
# worker lives, SIGTERM/SIGINT sent to its whole process group (Ctrl-C, a batch system) are the
# worker's to handle (it drains its steps), so the reaper ignores them.
set -u
worker_pid=$1
grace_ticks=$(( ${2:-2} * 10 ))
declare -A groups=()

reap() {
  trap '' TERM INT HUP
  local g i alive
  for g in "${!groups[@]}"; do
    kill -TERM -- "-$g" 2>/dev/null || unset "groups[$g]"
  done
  for (( i = 0; i < grace_ticks && ${#groups[@]} > 0; i++ )); do
    alive=0
    for g in "${!groups[@]}"; do
      if kill -0 -- "-$g" 2>/dev/null; then alive=1; else unset "groups[$g]"; fi
    done
    (( alive )) || break
    sleep 0.1
  done
  for g in "${!groups[@]}"; do
    kill -KILL -- "-$g" 2>/dev/null
  done
  exit 0
}

on_term() {
  # The trap runs inside `IFS= read`, whose empty IFS would leave the fields below unsplit.
  local IFS=$' \t\n' stat parent=1
  # /proc/PID/stat is "pid (comm) state ppid ..."; comm may hold spaces, so cut after ") ".
  if stat=$(</proc/$$/stat) 2>/dev/null; then
    stat=${stat##*) }
    read -r _ parent _ <<<"$stat"
  else
    parent=$(ps -o ppid= -p $$ 2>/dev/null) || parent=1
  fi
  [[ ${parent// /} == "$worker_pid" ]] || reap
}

trap on_term TERM
trap '' INT HUP

while :; do
  if IFS= read -r line; then
    [[ ${line:1} =~ ^[0-9]+$ ]] || continue
    case $line in
      +*) groups[${line:1}]=1 ;;
      -*) unset "groups[${line:1}]" ;;
    esac
  elif (( $? > 128 )); then
    continue # a trapped signal interrupted read; the worker may still be there
  else
    break
  fi
done
reap
