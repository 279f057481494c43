import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { Bootstrap } from '../bootstrap';
import { acknowledge, wildcardResource } from '../nag';
import { OUTPUT_STAGING_FAILED_EXIT, RESERVED_PREFIX } from '../protocol';
import type { ShellScriptPipelineProps } from '../shell-script-pipeline-props';
import { trimSlashes, userPrefixProblem } from './job-bucket';

/**
 * Folders synced between the job bucket and the instance around the script (Data Pipeline's staging).
 */
export interface StagingOptions {
  /**
   * Prefixes in the job bucket copied to `$SSP_INPUT_DIR/<prefix>` on the instance before the script runs.
   *
   * @default - nothing is copied in; `$SSP_INPUT_DIR` is an empty directory
   */
  readonly inputPrefixes?: string[];

  /**
   * Prefix in the job bucket that receives `$SSP_OUTPUT_DIR` after the script succeeds, under
   * `<outputPrefix>/<execution name>/`.
   *
   * @default - nothing is copied out
   */
  readonly outputPrefix?: string;
}

/** The props this part owns. */
export type StagingProps = Pick<ShellScriptPipelineProps, 'staging'>;

/**
 * Data Pipeline's staging: input prefixes copied to the instance before the job, the output directory copied out after
 * it succeeds (a failed copy fails the attempt, exit OUTPUT_STAGING_FAILED_EXIT), and the write grant that needs.
 */
export class Staging {
  /** What is wrong with these props, each naming the prop, the value and the fix. Values that are tokens are not checked. */
  public static problems(props: StagingProps): string[] {
    const prefixes: Array<[string, string]> = (props.staging?.inputPrefixes ?? []).map((p, i) => [`staging.inputPrefixes[${i}]`, p]);
    if (props.staging?.outputPrefix !== undefined) prefixes.push(['staging.outputPrefix', props.staging.outputPrefix]);
    return prefixes.map(([prop, prefix]) => userPrefixProblem(prop, prefix)).filter((p): p is string => p !== undefined);
  }

  private readonly inputPrefixes: string[];
  private readonly outputPrefix?: string;

  constructor(pipeline: Construct, props: StagingProps, context: { readonly bucket: s3.IBucket; readonly role: iam.Role }) {
    this.inputPrefixes = (props.staging?.inputPrefixes ?? []).map(trimSlashes);
    const output = props.staging?.outputPrefix;
    if (output === undefined) return;
    this.outputPrefix = trimSlashes(output);
    const outputs = context.bucket.arnForObjects(`${this.outputPrefix}/*`);
    context.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'WriteStagedOutput', actions: ['s3:PutObject'], resources: [outputs] }));
    acknowledge(context.role.node.findChild('DefaultPolicy'), {
      id: wildcardResource(pipeline, outputs),
      reason: "Staging out: the job's output directory goes under the output prefix, in a folder named after the execution, not known before the run.",
    });
  }

  public addToBootstrap(bootstrap: Bootstrap): void {
    addStagingSteps(bootstrap, { inputPrefixes: this.inputPrefixes, outputPrefix: this.outputPrefix });
  }
}

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
