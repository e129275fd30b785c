#!/bin/bash
# maestro workers on this machine, as an "allocation" without a scheduler: written and started
# in the background by `maestro workers launch --scheduler local`, which fills in the {{...}}
# fields. A walltime becomes MAESTRO_ALLOCATION_ENDS_AT, which the workers keep to.
{{exports}}
export MAESTRO_ALLOCATION_ID="$$" # this shell leads the process group that `workers stop --now` ends

for ((k = 0; k < MAESTRO_WORKERS_PER_NODE; k++)); do "$MAESTRO_NODE" "$MAESTRO_WORKER_BIN" & done
wait
