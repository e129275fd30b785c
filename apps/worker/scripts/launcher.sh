#!/usr/bin/env bash
# maestro-worker's step launcher: starts the worker's steps, tells it when they end, and kills
# them if the worker dies.
#
# Usage: launcher.sh WORKER_PID GRACE_SECONDS SLOTS   (started by the worker, src/run-step.ts)
#
# native/launcher.c is this launcher compiled, speaking the same protocol; the worker prefers it
# where it was built. A change to the protocol below changes both.
#
# Why a shell: the cost of fork() grows with the size of the process that forks. A step forked
# straight from the worker (a Node process of ~100 MB) costs several times what it costs from
# a ~4 MB shell; at thousands of short steps that cost is most of the worker's time.
#
# Why slots: one long-lived shell per step the worker may run at once, each reading its own
# requests and waiting for its own step. A shell cannot wait for a child and read a pipe at the
# same time; a subshell per step did both at the price of an extra fork and setup per step,
# and waking one shell with a signal to notice new requests loses exit statuses in bash 5.2.
#
# File descriptors:
#   0          the lifeline: the worker never writes to it; end of file means the worker is gone
#              (the kernel closes it however the worker ends, even on SIGKILL).
#   1          events to the worker, one line each (short writes are atomic, lines never mix):
#                S US id US pid       the step started; pid is also its process group id
#                E US id US status US left
#                                     it ended: its exit status, or 128+N when killed by signal N;
#                                     left is 1 if its process group still had a member (something
#                                     it started in the background), else 0
#                X US id US message   it could not be started
#                L US id              it ended, but a signal that reached its slot cost its status
#   3..3+SLOTS-1  one request channel per slot; the worker writes one request at a time to a
#              free slot: 8 decimal digits giving the byte length of the record, then the record,
#              fields separated by \x1f (US):
#                R US id US workspace US stdout-file US stderr-file US keep US n US VAR=value (n times) US argv...
#              Run argv in the workspace with the extra variables, stdin /dev/null, stdout and
#              stderr into the files (with keep 1, an earlier non-empty file is first kept as
#              FILE.1, FILE.2, ...; the worker sends 0 for a workspace it has just created). The
#              step leads its own process group, so one signal reaches all it started.
#
# When the worker is gone, every step still running gets SIGTERM, SIGKILL after GRACE_SECONDS,
# and the launcher exits. SIGTERM does the same once the worker is no longer this script's
# parent (the worker starts it under `setpriv --pdeathsig TERM`), and so do the other signals a
# scheduler sends as an allocation ends (SIGALRM, SIGHUP, SIGUSR1, SIGUSR2); while the worker
# lives, they and SIGINT are the worker's to handle (it drains, or preempts its steps). The
# worker starts this launcher in a session of its own: signals to the worker's process group
# reach it only when sent to every process.
set -u
set -f
worker_pid=$1
grace_ticks=$(( ${2:-2} * 10 ))
slots=${3:-1}
US=$'\x1f'

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

# One slot: reads requests from fd $1, runs each, waits for it, reports its end.
slot() {
  local fd=$1 k others=''
  # Only this slot holds its channel: if it dies, the worker sees its end of file. (One exec for
  # all the others: an eval per descriptor took seconds with a thousand slots.)
  for (( k = 3; k < 3 + slots; k++ )); do (( k == fd )) || others+=" $k<&-"; done
  [[ -z $others ]] || eval "exec$others"
  # RTMIN+1 from the launcher (the worker is gone, or closed it): end the step. A signal no
  # scheduler sends: those they send to every process of a job are the worker's to handle.
  # Traps (not ignores): the step itself starts with default handling.
  local pid='' status interrupted=0 signalled left len record id ws out err keep n ofd efd
  local -a f
  # Request lengths count bytes: the slot reads in the C locale (set once: every change of
  # locale reloads it), and each step gets back the worker's LC_ALL, or none.
  local had_lc_all=${LC_ALL+1} lc_all=${LC_ALL-}
  export -n LC_ALL
  LC_ALL=C
  trap '[[ -n $pid ]] && reap_group "$pid"; exit 0' RTMIN+1
  trap 'interrupted=1' TERM INT HUP ALRM USR1 USR2
  set -m # job control: each step gets its own process group
  while :; do
    pid=''
    interrupted=0
    IFS= read -r -N 8 -u "$fd" len
    status=$?
    if (( status > 128 || interrupted )); then
      continue # a trapped signal interrupted the read
    elif (( status != 0 )); then
      exit 0 # end of file: the worker is gone
    fi
    IFS= read -r -N $(( 10#$len )) -u "$fd" record || exit 0
    IFS=$US
    f=($record)
    IFS=$' \t\n'
    id=${f[1]-} ws=${f[2]-} out=${f[3]-} err=${f[4]-} keep=${f[5]-1} n=${f[6]-0}
    # Nothing here redirects stderr: the slots' stderr is /dev/null already, and every
    # redirection of a builtin costs a save and a restore of the descriptor.
    if ! cd -- "$ws"; then
      printf 'X%s%s%scannot enter the workspace %s\n' "$US" "$id" "$US" "$ws"
      continue
    fi
    if [[ $keep == 1 ]]; then
      keep_earlier "$out"
      keep_earlier "$err"
    fi
    # Descriptors chosen by bash (10 and up): 3.. are the slots' channels. (This shell's stderr
    # is /dev/null: a failed redirection says nothing.)
    if ! exec {ofd}>"$out"; then
      printf 'X%s%s%scannot write %s\n' "$US" "$id" "$US" "$out"
      continue
    fi
    if ! exec {efd}>"$err"; then
      exec {ofd}>&-
      printf 'X%s%s%scannot write %s\n' "$US" "$id" "$US" "$err"
      continue
    fi
    # The redirections go on the group, done once in the child: an `exec` with redirections
    # inside it would first save every descriptor it replaces (30 system calls per step).
    {
      trap - INT HUP QUIT TERM USR1 USR2 ALRM RTMIN+1
      if [[ -n $had_lc_all ]]; then export LC_ALL=$lc_all; else unset LC_ALL; fi
      (( n > 0 )) && export "${f[@]:7:n}"
      exec "${f[@]:7+n}"
    } </dev/null >&$ofd 2>&$efd {ofd}>&- {efd}>&- {fd}<&- &
    pid=$!
    exec {ofd}>&- {efd}>&-
    printf 'S%s%s%s%s\n' "$US" "$id" "$US" "$pid"
    signalled=0
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
    else
      # The worker looks for leftovers of the group (and kills them) only if there are any.
      left=0
      kill -0 -- "-$pid" && left=1
      printf 'E%s%s%s%s%s%s\n' "$US" "$id" "$US" "$status" "$US" "$left"
    fi
  done
}

slot_pids=()

reap_all() {
  trap '' TERM INT HUP ALRM USR1 USR2
  local s
  for s in "${slot_pids[@]}"; do kill -s RTMIN+1 "$s" 2>/dev/null; done
  wait
  exit 0
}

# True once the worker is no longer this launcher's parent (it died: the launcher was reparented).
worker_gone() {
  # Called from a trap that may run inside `IFS= read`, whose empty IFS would leave the fields
  # below unsplit.
  local IFS=$' \t\n' stat parent=1
  # /proc/PID/stat is "pid (comm) state ppid ..."; comm may hold spaces, so cut after ") ".
  if stat=$(</proc/$$/stat) 2>/dev/null; then
    stat=${stat##*) }
    read -r _ parent _ <<<"$stat"
  else
    parent=$(ps -o ppid= -p $$ 2>/dev/null) || parent=1
  fi
  [[ ${parent// /} != "$worker_pid" ]]
}

on_term() {
  if worker_gone; then reap_all; fi
}

trap on_term TERM ALRM HUP USR1 USR2
trap '' INT

for (( k = 0; k < slots; k++ )); do
  slot $(( 3 + k )) &
  slot_pids+=($!)
done
channels=''
for (( k = 3; k < 3 + slots; k++ )); do channels+=" $k<&-"; done
eval "exec$channels"

# Nothing is ever written to the lifeline: this read ends only when the worker is gone.
while :; do
  if IFS= read -r -d '' _; then
    continue
  elif (( $? > 128 )); then
    continue # a trapped signal interrupted read; the worker may still be there
  else
    break
  fi
done
reap_all
