#!/usr/bin/env bash
# maestro-worker's step launcher: starts the worker's steps, tells it when they end, and kills
# them if the worker dies.
#
# Usage: launcher.sh WORKER_PID [GRACE_SECONDS]   (started by the worker, src/run-step.ts)
#
# Why a shell: the cost of fork() grows with the size of the process that forks. A step forked
# straight from the worker (a Node process of ~100 MB) costs several times what it costs from
# this ~4 MB shell; at thousands of short steps that cost is most of the worker's time. Steps are
# forked by this shell itself (no subshell per step). While steps run it waits for the next one
# to end (`wait -n`); the worker sends SIGUSR1 after each request, which interrupts that wait.
#
# Requests, on stdin, one per NUL-terminated record, fields separated by \x1f (US):
#   R US id US workspace US stdout-file US stderr-file US n US VAR=value (n times) US argv...
#     Run argv in the workspace with the extra variables, stdin /dev/null, stdout and stderr
#     into the files (an earlier non-empty file is first kept as FILE.1, FILE.2, ...). The step
#     leads its own process group (job control), so one signal reaches everything it started.
# Events, on stdout, one line each:
#   READY                   the launcher is ready for requests (and for SIGUSR1)
#   S US id US pid          the step started; pid is also its process group id
#   E US id US status       it ended: its exit status, or 128+N when killed by signal N
#   X US id US message      it could not be started
#
# End of file on stdin means the worker is gone (the kernel closes the pipe however the worker
# ends, even on SIGKILL): every step still running gets SIGTERM, SIGKILL after GRACE_SECONDS,
# and the launcher exits. SIGTERM does the same once the worker is no longer this script's
# parent (the worker starts it under `setpriv --pdeathsig TERM`); while the worker lives,
# SIGTERM/SIGINT sent to its whole process group are the worker's to handle (it drains).
set -u
set -f
set -m # job control: every step leads its own process group
worker_pid=$1
grace_ticks=$(( ${2:-2} * 10 ))
US=$'\x1f'
declare -A ids=() # pid -> request id of every step running

start_step() {
  local id=$1 ws=$2 out=$3 err=$4 n=$5
  shift 5
  local vars=("${@:1:n}")
  shift "$n"
  if ! cd -- "$ws" 2>/dev/null; then
    printf 'X%s%s%scannot enter the workspace %s\n' "$US" "$id" "$US" "$ws"
    return
  fi
  keep_earlier "$out"
  keep_earlier "$err"
  if { [[ -e $out && ! -w $out ]] || [[ -e $err && ! -w $err ]]; }; then
    printf 'X%s%s%scannot write %s or %s\n' "$US" "$id" "$US" "$out" "$err"
    cd /
    return
  fi
  # The step's own variables, exported around the fork only: this shell runs one thing at a time.
  local v
  for v in "${vars[@]}"; do export "$v"; done
  "$@" </dev/null >"$out" 2>"$err" &
  local pid=$!
  for v in "${vars[@]}"; do unset "${v%%=*}"; done
  cd /
  ids[$pid]=$id
  printf 'S%s%s%s%s\n' "$US" "$id" "$US" "$pid"
}

# FILE -> FILE.n (first free n) if FILE has content: attempts never overwrite each other.
keep_earlier() {
  [[ -s $1 ]] || return 0
  local k=1
  while [[ -e $1.$k ]]; do k=$(( k + 1 )); done
  mv -f -- "$1" "$1.$k" 2>/dev/null || true
}

# The step `pid` ended with `status`: report it.
ended() {
  local id=${ids[$1]-}
  [[ -n $id ]] || return 0
  unset "ids[$1]"
  printf 'E%s%s%s%s\n' "$US" "$id" "$US" "$2"
}

reap_all() {
  trap '' TERM INT HUP USR1
  local pid i alive
  for pid in "${!ids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done
  for (( i = 0; i < grace_ticks; i++ )); do
    alive=0
    for pid in "${!ids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
    (( alive )) || break
    sleep 0.1
  done
  for pid in "${!ids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null; done
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

handle() {
  IFS=$US
  fields=($1)
  IFS=$' \t\n'
  case ${fields[0]-} in
    R) start_step "${fields[@]:1}" ;;
  esac
}

trap on_term TERM
trap ':' USR1
# Handlers, not ignores: a signal this shell ignores would be ignored by every step it starts.
trap ':' INT HUP
printf 'READY\n'

while :; do
  # Take every request already waiting (read -t 0 only tests; at end of file it reads nothing).
  while IFS= read -r -t 0; do
    if IFS= read -r -d '' record; then
      handle "$record"
    else
      reap_all # end of file: the worker is gone
    fi
  done
  if (( ${#ids[@]} == 0 )); then
    # Nothing runs: wait for a request.
    if IFS= read -r -d '' record; then
      handle "$record"
    elif (( $? <= 128 )); then
      break
    fi
  else
    # Wait for a step to end, or for SIGUSR1 (a request came).
    done_pid=''
    wait -n -p done_pid
    status=$?
    [[ -n ${done_pid-} ]] && ended "$done_pid" "$status"
  fi
done
reap_all
