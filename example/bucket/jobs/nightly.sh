#!/bin/bash
# An example job: the pipeline runs it with the execution's args, in its own folder (jobs/), with the folder's other files.
set -euo pipefail
echo "nightly job for ${1:-today}, execution $SSP_EXECUTION_NAME"
for step in extract transform load; do
  echo "  $step: done"
done
# A small JSON result goes back to the state machine (and into the success notification).
printf '{"rows":%d}' 42 > "$SSP_RESULT_FILE"
