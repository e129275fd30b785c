#!/usr/bin/env bash
# maestro-worker's step launcher: starts the worker's steps, tells it when they end, and kills
# them if the worker dies.
#
# Usage: launcher.sh WORKER_PID [GRACE_SECONDS]   (started by the worker, src/run-step.ts)
#
# Why a shell: the cost of fork() grows with the size of the process that forks. A step forked
# straight from the worker (a Node process of ~100 MB) costs several times what it costs from
# this ~4 MB shell; at thousands of short steps that cost is most of the worker's time.
#
# Requests, on stdin, one per NUL-terminated record, fields separated by \x1f (US):
#   R US id US workspace US stdout-file US stderr-file US n US VAR=value (n times) US argv...
#     Run argv in the workspace with the extra variables, stdin /dev/null, stdout and stderr
#     into the files (an earlier non-empty file is first kept as FILE.1, FILE.2, ...). The step
#     leads its own process group, so one signal reaches everything it started.
# Events, on stdout, one line each (short writes to a pipe are atomic, so lines never mix):
#   S US id US pid          the step started; pid is also its process group id
#   E US id US status       it ended: its exit status, or 128+N when killed by signal N
#   X US id US message      it could not be started
#   L US id                 it ended, but a signal that reached this shell cost its exit status
#
# End of file on stdin means the worker is gone (the kernel closes the pipe however the worker
# ends, even on SIGKILL): every step still running gets SIGTERM, SIGKILL after GRACE_SECONDS,
# and the launcher exits. SIGTERM does the same once the worker is no longer this script's
# parent (the worker starts it under `setpriv --pdeathsig TERM`); while the worker lives,
# SIGTERM/SIGINT sent to its whole process group are the worker's to handle (it drains).
set -u
set -f
worker_pid=$1
grace_ticks=$(( ${2:-2} * 10 ))
US=$'\x1f'

# Runs in a background subshell per step: starts it, waits for it, reports its end.
run_step() {
  # Steps get default signal handling, whatever this launcher ignores.
  trap - INT HUP QUIT TERM
  local id=$1 ws=$2 out=$3 err=$4 n=$5
  shift 5
  local i
  for (( i = 0; i < n; i++ )); do export "$1"; shift; done
  cd -- "$ws" 2>/dev/null || { printf 'X%s%s%scannot enter the workspace %s\n' "$US" "$id" "$US" "$ws"; return; }
  keep_earlier "$out"
  keep_earlier "$err"
  { exec 4>"$out"; } 2>/dev/null || { printf 'X%s%s%scannot write %s\n' "$US" "$id" "$US" "$out"; return; }
  { exec 5>"$err"; } 2>/dev/null || { printf 'X%s%s%scannot write %s\n' "$US" "$id" "$US" "$err"; return; }
  # USR1 from the launcher: the worker died, end the step. TERM/INT to the whole group are
  # the worker's to handle. Traps (not ignores): the step itself starts with default handling.
  local pid='' status interrupted=0
  trap '[[ -n $pid ]] && reap_group "$pid"; exit 0' USR1
  trap 'interrupted=1' TERM INT
  set -m # job control: the step gets its own process group
  "$@" </dev/null >&4 2>&5 4>&- 5>&- &
  pid=$!
  set +m
  exec 4>&- 5>&-
  printf 'S%s%s%s%s\n' "$US" "$id" "$US" "$pid"
  local signalled=0
  while :; do
    interrupted=0
    wait "$pid"
    status=$?
    (( interrupted )) || break
    signalled=1
  done
  # A step that ends while a signal interrupts the wait can have its status lost by bash 5.2
  # (the next `wait` answers -1 or 127): say so rather than invent one.
  if (( signalled && (status == 127 || status < 0 || status > 255) )); then
    printf 'L%s%s\n' "$US" "$id"
    return
  fi
  printf 'E%s%s%s%s\n' "$US" "$id" "$US" "$status"
}

# FILE -> FILE.n (first free n) if FILE has content: attempts never overwrite each other.
keep_earlier() {
  [[ -s $1 ]] || return 0
  local k=1
  while [[ -e $1.$k ]]; do k=$(( k + 1 )); done
  mv -f -- "$1" "$1.$k" 2>/dev/null || true
}

reap_group() {
  local g=$1 i
  kill -TERM -- "-$g" 2>/dev/null || return 0
  for (( i = 0; i < grace_ticks; i++ )); do
    kill -0 -- "-$g" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL -- "-$g" 2>/dev/null
}

reap_all() {
  trap '' TERM INT HUP
  local w
  for w in $(jobs -p); do kill -USR1 "$w" 2>/dev/null; done
  wait
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
  [[ ${parent// /} == "$worker_pid" ]] || reap_all
}

trap on_term TERM
trap '' INT HUP

while :; do
  if IFS= read -r -d '' record; then
    IFS=$US
    fields=($record)
    IFS=$' \t\n'
    case ${fields[0]-} in
      R) run_step "${fields[@]:1}" & ;;
    esac
  elif (( $? > 128 )); then
    continue # a trapped signal interrupted read; the worker may still be there
  else
    break
  fi
done
reap_all
