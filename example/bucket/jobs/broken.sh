#!/bin/bash
# An example job that fails: the run ends FAILED with Job.NonZeroExit and the exit code and output tail as the cause.
echo "connecting to the warehouse..."
echo "error: warehouse unreachable" >&2
exit 3
