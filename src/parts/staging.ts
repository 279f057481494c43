import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { Bootstrap } from '../bootstrap';
import { acknowledge, wildcardResource } from '../nag';
import { OUTPUT_STAGING_FAILED_EXIT, RESERVED_PREFIX } from '../protocol';
import type { ShellScriptPipelineProps } from '../shell-script-pipeline-props';
import { overlapProblem, trimSlashes, userPrefixProblem } from './job-bucket';
import { INSTANCE_ID_PATH } from '../workflow/run-state';

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
   * `<outputPrefix>/<RoleId>:<InstanceId>/<execution name>/` (the instance's own folder: an instance may write there
   * and nowhere else under the prefix, so no run can overwrite another run's outputs). The job finds that location in
   * `$SSP_OUTPUT_URL`, and the success notification names it (`outputLocation`). Must not overlap `inputPrefixes` or
   * `scriptsPrefix`.
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
    const inputs: Array<[string, string]> = (props.staging?.inputPrefixes ?? []).map((p, i) => [`staging.inputPrefixes[${i}]`, p]);
    const output = props.staging?.outputPrefix;
    const prefixes = output === undefined ? inputs : [...inputs, ['staging.outputPrefix', output] as [string, string]];
    const problems = prefixes.map(([prop, prefix]) => userPrefixProblem(prop, prefix));
    // Every run may write under the output prefix (each in its own folder): were it inside an input prefix, or an input
    // prefix inside it, one run's outputs would be the next runs' inputs.
    if (output !== undefined) problems.push(...inputs.map(([prop, prefix]) => overlapProblem(['staging.outputPrefix', output], [prop, prefix])));
    return problems.filter((p): p is string => p !== undefined);
  }

  private readonly inputPrefixes: string[];
  private readonly outputPrefix?: string;

  constructor(pipeline: Construct, props: StagingProps, private readonly context: { readonly bucket: s3.IBucket; readonly role: iam.Role }) {
    this.inputPrefixes = (props.staging?.inputPrefixes ?? []).map(trimSlashes);
    const output = props.staging?.outputPrefix;
    if (output === undefined) return;
    this.outputPrefix = trimSlashes(output);
    // ${aws:userid} right after a fixed prefix, then '/', confines each instance to one folder: for an instance
    // profile's session it is "<RoleId>:<InstanceId>"
    // (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html#principaltable), and the key
    // must start with "<outputPrefix>/<that value>/". The `*` (which matches '/' too) only ever follows that folder.
    const ownOutputs = context.bucket.arnForObjects(`${this.outputPrefix}/\${aws:userid}/*`);
    context.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'WriteOwnStagedOutput', actions: ['s3:PutObject'], resources: [ownOutputs] }));
    acknowledge(context.role.node.findChild('DefaultPolicy'), {
      id: wildcardResource(pipeline, ownOutputs),
      reason:
        "Staging out: the job's output directory goes to <outputPrefix>/<RoleId>:<InstanceId>/<execution>/; the ${aws:userid} segment " +
        'limits each instance to its own folder, and the execution name and the files are not known when the policy is written.',
    });
  }

  /**
   * Where this run's outputs go, as a States.Format expression (`s3://<bucket>/<outputPrefix>/<RoleId>:<InstanceId>/<execution>/`),
   * the same URL the bootstrap copies to; undefined without an output prefix.
   */
  public get outputLocation(): string | undefined {
    if (this.outputPrefix === undefined) return undefined;
    return sfn.JsonPath.format(
      `s3://${this.context.bucket.bucketName}/${this.outputPrefix}/{}:{}/{}/`,
      this.context.role.roleId,
      sfn.JsonPath.stringAt(INSTANCE_ID_PATH),
      sfn.JsonPath.executionName,
    );
  }

  public addToBootstrap(bootstrap: Bootstrap): void {
    addStagingSteps(bootstrap, { inputPrefixes: this.inputPrefixes, outputPrefix: this.outputPrefix });
  }
}

/**
 * Staging in the bootstrap: each input prefix to `$SSP_INPUT_DIR/<prefix>` before the job; with an output prefix, a
 * wrapper copies `$SSP_OUTPUT_DIR` out after the job succeeds, inside the job's own exit status, so a failed copy fails
 * the attempt. The outputs go to the instance's own folder, `<outputPrefix>/$ROLE_ID:$IID/$EXECUTION/` (the role
 * session's aws:userid, then the execution), the only place under the prefix its role may write. Prefixes have no
 * leading or trailing '/'.
 */
export function addStagingSteps(bootstrap: Bootstrap, staging: { readonly inputPrefixes: string[]; readonly outputPrefix?: string }): void {
  bootstrap.addStageIn(
    ...staging.inputPrefixes.map(
      (p) => `aws s3 cp --only-show-errors --recursive "s3://$BUCKET/${p}/" "$SSP_INPUT_DIR/${p}/" --exclude '${RESERVED_PREFIX}*' ||
  fail_run "could not stage s3://$BUCKET/${p}/ in"`,
    ),
  );
  if (staging.outputPrefix === undefined) return;
  bootstrap.setJobCommand(`export SSP_OUTPUT_URL="s3://$BUCKET/${staging.outputPrefix}/$ROLE_ID:$IID/$EXECUTION/"
cat > "$WORK/run-job.sh" <<'WRAPPER'
#!/bin/bash
job="$1"; shift
/bin/bash "$job" "$@" || exit $?
aws s3 cp --only-show-errors --recursive "$SSP_OUTPUT_DIR" "$SSP_OUTPUT_URL" ||
  { echo "[bootstrap] could not copy $SSP_OUTPUT_DIR to $SSP_OUTPUT_URL" >&2; exit ${OUTPUT_STAGING_FAILED_EXIT}; }
WRAPPER
JOB_CMD=(/bin/bash "$WORK/run-job.sh" "$JOB")`);
}
