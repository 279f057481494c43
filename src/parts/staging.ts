import { Bootstrap } from '../bootstrap';
import { OUTPUT_STAGING_FAILED_EXIT, RESERVED_PREFIX } from '../protocol';

/**
 * Staging in the bootstrap: each input prefix to `$SSP_INPUT_DIR/<prefix>` before the job; with an output prefix, a
 * wrapper copies `$SSP_OUTPUT_DIR` out after the job succeeds, inside the job's own exit status, so a failed copy fails
 * the attempt. Prefixes have no leading or trailing '/'.
 */
export function addStagingSteps(bootstrap: Bootstrap, staging: { readonly inputPrefixes: string[]; readonly outputPrefix?: string }): void {
  bootstrap.addStageIn(
    ...staging.inputPrefixes.map(
      (p) => `aws s3 cp --only-show-errors --recursive "s3://$BUCKET/${p}/" "$SSP_INPUT_DIR/${p}/" --exclude '${RESERVED_PREFIX}*' ||
  fail_run "could not stage s3://$BUCKET/${p}/ in"`,
    ),
  );
  if (staging.outputPrefix === undefined) return;
  bootstrap.setJobCommand(`export SSP_OUTPUT_URL="s3://$BUCKET/${staging.outputPrefix}/$EXECUTION/"
cat > "$WORK/run-job.sh" <<'WRAPPER'
#!/bin/bash
job="$1"; shift
/bin/bash "$job" "$@" || exit $?
aws s3 cp --only-show-errors --recursive "$SSP_OUTPUT_DIR" "$SSP_OUTPUT_URL" ||
  { echo "[bootstrap] could not copy $SSP_OUTPUT_DIR to $SSP_OUTPUT_URL" >&2; exit ${OUTPUT_STAGING_FAILED_EXIT}; }
WRAPPER
JOB_CMD=(/bin/bash "$WORK/run-job.sh" "$JOB")`);
}
