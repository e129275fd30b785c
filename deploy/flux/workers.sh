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
export MAESTRO_ALLOCATION_ID="$FLUX_JOB_ID" # the allocation; each worker gets a FLUX_JOB_ID of its own

# Inside the batch job, flux commands address the allocation's own instance: the workers' job
# takes one core per node and the steps' `flux run` ($(LAUNCHER)) get the rest.
exec flux run -N "$MAESTRO_NODES" --tasks-per-node="$MAESTRO_WORKERS_PER_NODE" "$MAESTRO_NODE" "$MAESTRO_WORKER_BIN"
