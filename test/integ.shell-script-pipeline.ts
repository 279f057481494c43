/**
 * Integration test on a real AWS account: the only test here that launches EC2 instances.
 *
 *   npx projen integ:deploy               # deploy, run every case below, print the boot phases, destroy
 *   npx projen integ:snapshot-check       # offline: the committed snapshot still matches this app (CI runs it)
 *
 * One stack holds three pipelines that share the first one's VPC:
 * - `Default`: the construct with its defaults (plus the scripts below); a run that succeeds, with one env key
 *   and an argument, and a run whose script exits 3;
 * - `ShortTimeout`: `jobTimeout` 2 minutes, for a script that sleeps 300 s;
 * - `StopByHand`: a run stopped by hand, so its cleanup state machine only ever sees that one run.
 *
 * The assertions (integ-tests-alpha, in their own stack) start the runs and check, through the AWS APIs:
 * - the success run ends SUCCEEDED, the env key and the argument reached the script, its instance is terminated,
 *   its task document is JSON naming this execution and tagged for this instance's role session only,
 *   and its run log starts with the bootstrap's phase lines (printed as the `BootPhases` output);
 * - the exit-3 run ends FAILED with `Job.NonZeroExit` and exit code 3, its instance terminated;
 * - the sleeping run ends FAILED with `States.Timeout`, its instance terminated;
 * - the stopped run's instance is found and terminated by the cleanup state machine.
 *
 * Every check that waits first waits for the run to end (any terminal status), then asserts the exact
 * status in a call of its own, so a wrong status fails at once with the actual value instead of after the
 * whole wait.
 */
import * as path from 'path';
import { ExpectedResult, IApiCall, IntegTest } from '@aws-cdk/integ-tests-alpha';
import { App, CfnOutput, Duration, Fn, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { ShellScriptPipeline } from '../src';
import { INSTANCE_TAGS, JOB_ERRORS, OWNER_TAG, RUNS_PREFIX, TASKS_PREFIX } from '../src/protocol';

/**
 * The lines the bootstrap writes at the top of each run's `output.log`, one per phase, in the form
 * `ssp-phase <name> <milliseconds since the epoch>`. The test requires all six and prints them.
 */
const BOOT_PHASES = ['userdata-start', 'task-read', 'first-heartbeat', 'node-ready', 'runtime-fetched', 'job-start'] as const;

/** How long a run may take to end: boot (not measured yet; that is what BOOT_PHASES is for), the job, terminate. */
const RUN_WAIT = { totalTimeout: Duration.minutes(20), interval: Duration.seconds(15) };
/** How long an instance may take from "shutting-down" to "terminated", or from launch to "running". */
const INSTANCE_WAIT = { totalTimeout: Duration.minutes(10), interval: Duration.seconds(10) };
/** Any status a Standard execution ends in (DescribeExecution `status` other than RUNNING and PENDING_REDRIVE). */
const ENDED = ExpectedResult.stringLikeRegexp('^(SUCCEEDED|FAILED|TIMED_OUT|ABORTED)$');
/** The first (and only) instance a run launched; each run here has one attempt, so one instance. */
const FIRST_INSTANCE = 'Reservations.0.Instances.0';
/**
 * How much of the run log to fetch: the phase lines come first and take about 300 bytes; a custom resource
 * may return at most 4,096 bytes (CloudFormation quotas, "Custom resource response":
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html).
 */
const LOG_HEAD_RANGE = 'bytes=0-1499';

// No construct creation stack traces in the metadata: they hold this machine's paths, and the snapshot is committed.
const app = new App({ stackTraces: false, context: { [cxapi.DISABLE_CREATION_STACK_TRACES]: true } });
const stack = new Stack(app, 'ShellScriptPipelineInteg', {
  description: 'cdk-shell-script-pipeline integration test (deployed and destroyed by integ-runner)',
});
const scriptsPath = path.join(__dirname, 'integ-scripts');

const pipeline = new ShellScriptPipeline(stack, 'Default', { scriptsPath });
const shortTimeout = new ShellScriptPipeline(stack, 'ShortTimeout', {
  vpc: pipeline.vpc,
  scriptsPath,
  jobTimeout: Duration.minutes(2),
  // Must be shorter than jobTimeout. The task's heartbeat timer starts at launch, so the bootstrap's first heartbeat
  // must come within 115 s (or the run ends with States.HeartbeatTimeout instead); after that the runtime heartbeats
  // every 115 / 3 s and the 2-minute job timeout is what ends the run.
  heartbeatTimeout: Duration.seconds(115),
});
const stopByHand = new ShellScriptPipeline(stack, 'StopByHand', { vpc: pipeline.vpc, scriptsPath });

const assertionStack = new Stack(app, 'ShellScriptPipelineIntegAssertions');
const integ = new IntegTest(app, 'ShellScriptPipelineIntegTest', {
  testCases: [stack],
  assertionStack,
  // The committed snapshot has no asset bodies (gitignored), so it cannot be deployed as the "before" state.
  stackUpdateWorkflow: false,
});
const aws = integ.assertions;

/** Starts a run of `target` and returns the call; `executionArn` is its attribute. */
function startRun(target: ShellScriptPipeline, input: Record<string, unknown>): IApiCall {
  return aws.awsApiCall('StepFunctions', 'startExecution', {
    stateMachineArn: target.stateMachine.stateMachineArn,
    input: JSON.stringify(input),
  });
}

/** The execution name: the last field of `arn:<partition>:states:<region>:<account>:execution:<machine>:<name>`. */
function executionName(executionArn: string): string {
  return Fn.select(7, Fn.split(':', executionArn));
}

/** Waits until the run has ended, whatever its status. */
function waitUntilEnded(start: IApiCall): { executionArn: string; ended: IApiCall } {
  const executionArn = start.getAttString('executionArn');
  const ended = aws
    .awsApiCall('StepFunctions', 'describeExecution', { executionArn })
    .assertAtPath('status', ENDED)
    .waitForAssertions(RUN_WAIT);
  start.next(ended);
  return { executionArn, ended };
}

/** After `after`, asserts one field of DescribeExecution (the response is flattened: `cause.exitCode` reads into JSON). */
function assertExecution(after: IApiCall, executionArn: string, field: string, expected: ExpectedResult): IApiCall {
  return after.next(aws.awsApiCall('StepFunctions', 'describeExecution', { executionArn }).assertAtPath(field, expected));
}

/**
 * The run's instance, found by the tags the state machine puts on it. `state` is waited for.
 * Terminated instances stay visible to DescribeInstances for about an hour (TerminateInstances:
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_TerminateInstances.html), which is what lets this see them.
 */
function instanceOf(target: ShellScriptPipeline, executionArn: string, state: ExpectedResult): IApiCall {
  return aws
    .awsApiCall('EC2', 'describeInstances', {
      Filters: [
        { Name: `tag:${INSTANCE_TAGS.PIPELINE}`, Values: [target.pipelineId] },
        { Name: `tag:${INSTANCE_TAGS.EXECUTION}`, Values: [executionName(executionArn)] },
      ],
    })
    .assertAtPath(`${FIRST_INSTANCE}.State.Name`, state)
    .waitForAssertions(INSTANCE_WAIT);
}

function roleIdOf(target: ShellScriptPipeline): string {
  if (!(target.instanceRole instanceof iam.Role)) throw new Error('the integ test expects the role the construct creates');
  return target.instanceRole.roleId;
}

// ---- A run that succeeds, with one env key and an argument ---------------------------------------
const okStart = startRun(pipeline, { script: 'scripts/ok.sh', args: ['two words'], env: { INTEG_GREETING: 'hello from env' } });
const ok = waitUntilEnded(okStart);
assertExecution(ok.ended, ok.executionArn, 'status', ExpectedResult.exact('SUCCEEDED'));
// The task output's outputTail is the end of what the script printed.
assertExecution(ok.ended, ok.executionArn, 'output.job.outputTail', ExpectedResult.stringLikeRegexp('greeting=hello from env[\\s\\S]*args=two words'));
const okInstance = ok.ended.next(instanceOf(pipeline, ok.executionArn, ExpectedResult.exact('terminated')));
const okInstanceId = okInstance.getAttString(`${FIRST_INSTANCE}.InstanceId`);
const okOwner = `${roleIdOf(pipeline)}:${okInstanceId}`;

// The task document, tagged so that only this instance's role session (aws:userid = <RoleId>:<InstanceId>) may read it.
// It outlives the run: the instance role may not delete it, and the bucket expires task documents after a day. Its body
// is not read here: the job bucket's policy lets no principal but the instance role read a task document (this
// assertion's own role included), and the run's success shows its instance read it.
const taskDocumentKey = `${TASKS_PREFIX}${okInstanceId}.json`;
okInstance.next(
  aws
    .awsApiCall('S3', 'getObjectTagging', { Bucket: pipeline.bucket.bucketName, Key: taskDocumentKey })
    .expect(ExpectedResult.objectLike({ TagSet: [{ Key: OWNER_TAG, Value: okOwner }] })),
);

// The run log starts with the bootstrap's phase lines: all six must be there; the BootPhases output shows them.
const phaseLines = BOOT_PHASES.map((phase) => `(?=[\\s\\S]*^ssp-phase ${phase} \\d{13}$)`).join('');
const logHead = okInstance.next(
  aws
    .awsApiCall('S3', 'getObject', {
      Bucket: pipeline.bucket.bucketName,
      // pipeline/runs/<RoleId>:<InstanceId>/<execution>/: the instance's own folder, then the run's.
      Key: `${RUNS_PREFIX}${okOwner}/${executionName(ok.executionArn)}/output.log`,
      Range: LOG_HEAD_RANGE,
    })
    .assertAtPath('Body', ExpectedResult.stringLikeRegexp(`^${phaseLines}`)),
);
new CfnOutput(assertionStack, 'BootPhases', {
  description: 'The first bytes of the success run\'s output.log: one "ssp-phase <name> <epoch ms>" line per boot phase',
  value: logHead.getAttString('Body'),
});

// ---- A run whose script exits 3 --------------------------------------------------------------------
const fail = waitUntilEnded(startRun(pipeline, { script: 'scripts/fail.sh' }));
assertExecution(fail.ended, fail.executionArn, 'status', ExpectedResult.exact('FAILED'));
assertExecution(fail.ended, fail.executionArn, 'error', ExpectedResult.exact(JOB_ERRORS.NON_ZERO_EXIT));
assertExecution(fail.ended, fail.executionArn, 'cause.exitCode', ExpectedResult.exact(3));
fail.ended.next(instanceOf(pipeline, fail.executionArn, ExpectedResult.exact('terminated')));

// ---- A run that sleeps past its 2-minute jobTimeout ------------------------------------------------
const timedOut = waitUntilEnded(startRun(shortTimeout, { script: 'scripts/sleep.sh' }));
assertExecution(timedOut.ended, timedOut.executionArn, 'status', ExpectedResult.exact('FAILED'));
assertExecution(timedOut.ended, timedOut.executionArn, 'error', ExpectedResult.exact('States.Timeout'));
timedOut.ended.next(instanceOf(shortTimeout, timedOut.executionArn, ExpectedResult.exact('terminated')));

// ---- A run stopped by hand: the cleanup state machine terminates its instance ----------------------
// StopExecution runs no Catch, so nothing in the run itself terminates the instance. The runtime on the instance
// would power it off at its next heartbeat (every heartbeatTimeout / 3 = 100 s here) once Step Functions answers
// that the task is gone; the cleanup starts within seconds of the ABORTED event, so it is the cleanup that finds
// the instance still alive and terminates it. Its own output names what it terminated (`leftover.ids`).
const stopStart = startRun(stopByHand, { script: 'scripts/sleep.sh' });
const stopArn = stopStart.getAttString('executionArn');
const stopRunning = stopStart.next(instanceOf(stopByHand, stopArn, ExpectedResult.exact('running')));
const stopInstanceId = stopRunning.getAttString(`${FIRST_INSTANCE}.InstanceId`);
const stop = stopRunning.next(aws.awsApiCall('StepFunctions', 'stopExecution', { executionArn: stopArn }));
// This pipeline runs nothing else, so its cleanup state machine has exactly one execution: this run's.
const cleanupDone = stop.next(
  aws
    .awsApiCall('StepFunctions', 'listExecutions', { stateMachineArn: stopByHand.cleanupStateMachine.stateMachineArn })
    .assertAtPath('executions.0.status', ExpectedResult.exact('SUCCEEDED'))
    .waitForAssertions(INSTANCE_WAIT),
);
cleanupDone.next(
  aws
    .awsApiCall('StepFunctions', 'describeExecution', { executionArn: cleanupDone.getAttString('executions.0.executionArn') })
    .assertAtPath('output.leftover.ids.0', ExpectedResult.exact(stopInstanceId)),
);
cleanupDone.next(instanceOf(stopByHand, stopArn, ExpectedResult.exact('terminated')));

app.synth();
