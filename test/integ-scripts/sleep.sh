#!/bin/bash
# Integration test job: sleeps 300 s, longer than the 2-minute jobTimeout of the pipeline that times it out,
# and long enough for the test to stop a run by hand while it sleeps.
echo 'sleeping 300 s'
sleep 300
echo 'woke up'
