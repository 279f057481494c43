#!/bin/bash
# Integration test job: fails with exit code 3, so the run must end FAILED with Job.NonZeroExit.
echo 'failing on purpose with exit code 3'
exit 3
