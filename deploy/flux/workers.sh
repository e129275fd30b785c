#!/bin/bash
# maestro workers in a Flux allocation: one maestro-worker per node (or --workers-per-node).
# Written by `maestro workers launch --scheduler flux` and `maestro run --autoscale flux`, which
# fill in the {{...}} fields and submit it with `flux batch`; copy it and pass --template FILE to
# add what your site needs. The workers read their settings from the MAESTRO_* variables below;
# the Redis password is never here, only the path of a file that holds it.
# flux: --job-name={{job_name}}
# flux: -N {{nodes}}
# flux: --output={{output}}
{{directives}}

{{exports}}

# This script runs inside the allocation's own Flux instance, where FLUX_JOB_ID is not set: the
# instance knows the id it runs as. (The workers ask too, if this line is left out.)
MAESTRO_ALLOCATION_ID=$(flux getattr jobid) && export MAESTRO_ALLOCATION_ID

# The workers run on every node through `flux exec`, outside the instance's scheduler: they hold
# no cores, so each step's `flux run` ($(LAUNCHER)) can have every core of its nodes. (A
# `flux run -N` of the workers would hold their nodes whole, and every step would wait forever.)
#
# Flux ends an allocation by signalling this script: SIGALRM at its walltime, SIGTERM on
# `flux cancel`, SIGHUP as the instance goes down, SIGUSR1 from `flux batch --signal`. Each is
# handed on to the workers as SIGTERM (for them: the allocation is ending; they stop their steps,
# report them preempted and exit), and this script waits for them, which keeps the instance up
# until they have. `flux exec` itself is kept from the signals it would die of (it passes on
# SIGTERM and SIGINT; on its death Flux would kill the workers before they report).
trap '' ALRM HUP USR1 USR2
pids=()
for ((k = 0; k < MAESTRO_WORKERS_PER_NODE; k++)); do
  flux exec -r all -n "$MAESTRO_NODE" "$MAESTRO_WORKER_BIN" &
  pids+=("$!")
done
trap 'kill -TERM "${pids[@]}" 2>/dev/null' ALRM HUP TERM USR1 USR2
status=0
for pid in "${pids[@]}"; do
  while :; do
    wait "$pid"
    s=$?
    kill -0 "$pid" 2>/dev/null || break # else a signal interrupted the wait
  done
  ((s > status)) && status=$s
done
exit "$status"
