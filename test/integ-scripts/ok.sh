#!/bin/bash
# Integration test job (test/integ.shell-script-pipeline.ts): prints the execution's one env key and its
# arguments, so the test can find them in the task output's outputTail, and succeeds.
set -euo pipefail
echo "greeting=${INTEG_GREETING:-<unset>}"
echo "args=$*"
