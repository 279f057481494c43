import { Duration, Token } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { jobExecutionInput } from '../parts/schedule';
import type { JobInput } from '../parts/schedule';

export { jobExecutionInput };
import { ENV_NAME_PATTERN, isReservedEnvName, MAX_ARGS, MAX_ENV, RESERVED_PREFIX } from '../protocol';

/**
 * Options of a task that runs one job of a pipeline from another workflow (`ShellScriptPipeline.runJob()`).
 */
export interface RunJobProps {
  /**
   * The run's input: the same fields as an execution's input. Any value may be a JSONPath into the state the task
   * starts from, e.g. `sfn.JsonPath.stringAt('$.date')` or `sfn.JsonPath.listAt('$.args')`.
   */
  readonly input: JobInput;

  /**
   * Where the run's result goes in the task's state: `{executionArn, job}`, `job` being the run's task output
   * (`{exitCode, durationSeconds, outputTail, result}`).
   *
   * @default '$' - the result replaces the state
   */
  readonly resultPath?: string;

  /**
   * A comment on the state.
   *
   * @default - none
   */
  readonly comment?: string;
}

/** The StartExecution error worth another try: the account's running-executions quota (retried with backoff). */
export const START_RETRY_ERROR = 'StepFunctions.ExecutionLimitExceeded';

/**
 * The run's result fields: what the task returns, from the nested execution's DescribeExecution answer, which
 * `startExecution.sync:2` returns with `Output` and `Input` as JSON ("sync:2 ... returns the output as JSON"; the
 * response has DescribeExecution's members in PascalCase: https://docs.aws.amazon.com/step-functions/latest/dg/connect-stepfunctions.html).
 * The run state machine ends with the job's task output in `$.job` (workflow/report.ts).
 */
function resultSelector(withShard: boolean): Record<string, string> {
  return { 'executionArn.$': '$.ExecutionArn', 'job.$': '$.Output.job', ...(withShard ? { 'shard.$': '$.Input.shard' } : {}) };
}

/** Internal options of a RunJobState, for the fan-out (fan-out.ts). */
export interface RunJobStateOptions {
  /** The nested execution's input, as StartExecution Parameters (JSONPath `.$` keys allowed). */
  readonly input: Record<string, unknown>;
  readonly resultPath?: string;
  readonly comment?: string;
  /** Adds `shard` (the nested run's `shard` input) to the result. */
  readonly withShard?: boolean;
  /** Extra fixed fields of the result (the fan-out's failure marks). */
  readonly extraResult?: Record<string, unknown>;
}

/**
 * One run of a pipeline, started from another workflow and waited for: a Parallel state with one branch, in which a
 * `states:startExecution.sync:2` task starts the run and, when the run fails, a Fail state raises the run's own
 * error (`Job.NonZeroExit`, `States.Timeout`, `Input.*`, …) with its cause. A Parallel state fails with the error of
 * the branch that failed ("If any branch fails, because of an unhandled error or by transitioning to a Fail state,
 * the entire Parallel state is considered to have failed", https://docs.aws.amazon.com/step-functions/latest/dg/state-parallel.html),
 * so `addCatch` and `addRetry` on this state match the run's error names.
 *
 * Why the re-raise: a `.sync` task whose nested execution fails fails with `States.TaskFailed`, and its cause is
 * the nested execution's DescribeExecution answer as JSON text, with the nested execution's `Error` and `Cause`
 * (LocalStack's StateTaskServiceSfn, whose Step Functions tests are recorded against AWS:
 * localstack-core/localstack/services/stepfunctions/asl/component/state/state_execution/state_task/service/state_task_service_sfn.py,
 * `_build_sync2_resolver`: `error=States.TaskFailed`, `cause=to_json_str(describe_execution_output)`; DescribeExecution's
 * `error` and `cause`: https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html).
 * The branch parses that cause with `States.StringToJson` only when it is a JSON object, so whatever the cause is, a
 * failure is raised: the nested run's error when it has one, `States.Timeout` for a nested run that TIMED_OUT without
 * one, and the task's own `States.TaskFailed` otherwise (an ABORTED run). Every other error of the task
 * (`StepFunctions.ExecutionLimitExceeded`, `States.Permissions`, …) passes through unchanged.
 *
 * IAM: StepFunctionsStartExecution with RUN_JOB grants the workflow's role `states:StartExecution` on the pipeline's
 * state machine, `states:DescribeExecution` and `states:StopExecution` on its executions, and `events:PutTargets`,
 * `events:PutRule`, `events:DescribeRule` on `StepFunctionsGetEventsForStepFunctionsExecutionRule`, the policy AWS
 * documents for the synchronous pattern (https://docs.aws.amazon.com/step-functions/latest/dg/stepfunctions-iam.html).
 *
 * Stopping the workflow stops the nested run: the synchronous pattern's policy grants StopExecution on the nested
 * executions for that (the AWS pages read do not say it in words; a real-account test should confirm it). A stopped
 * run ends ABORTED, and the pipeline's cleanup (workflow/cleanup.ts) terminates its instance.
 */
export class RunJobState extends sfn.Parallel {
  /** The `startExecution.sync:2` task inside the branch. */
  public readonly task: tasks.StepFunctionsStartExecution;

  constructor(scope: Construct, id: string, stateMachine: sfn.IStateMachine, options: RunJobStateOptions) {
    const selector: Record<string, unknown> = { 'executionArn.$': '$[0].executionArn', 'job.$': '$[0].job' };
    if (options.withShard) selector['shard.$'] = '$[0].shard';
    Object.assign(selector, options.extraResult ?? {});
    super(scope, id, {
      comment: options.comment ?? 'Runs one job of a shell script pipeline and waits for it; fails with the run\'s own error',
      resultSelector: selector,
      resultPath: options.resultPath,
    });
    const name = (what: string) => `${id}: ${what}`;
    this.task = new tasks.StepFunctionsStartExecution(this, 'Start', {
      stateName: name('run'),
      stateMachine,
      integrationPattern: sfn.IntegrationPattern.RUN_JOB,
      input: sfn.TaskInput.fromObject(options.input),
      // Puts AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID in the nested input: the console links the run to this execution.
      associateWithParent: true,
      resultSelector: resultSelector(options.withShard ?? false),
    });

    // "Use Retry with StepFunctions.ExecutionLimitExceeded to ensure the execution is started" (the StartExecution quota
    // limits how many executions can be started: https://docs.aws.amazon.com/step-functions/latest/dg/concepts-nested-workflows.html).
    // A fan-out starts many at once.
    this.task.addRetry({
      errors: [START_RETRY_ERROR],
      interval: Duration.seconds(5),
      backoffRate: 2,
      maxAttempts: 6,
      maxDelay: Duration.minutes(2),
      jitterStrategy: sfn.JitterType.FULL,
    });

    const runFailed = new sfn.Pass(this, 'Failed', {
      stateName: name('run failed'),
      comment: 'The nested run failed: its DescribeExecution answer is the cause, as JSON text',
      parameters: { 'error.$': '$.Error', 'cause.$': '$.Cause' },
    });
    const passThrough = new sfn.Fail(this, 'Raise', {
      stateName: name('raise the task error'),
      errorPath: '$.error',
      causePath: '$.cause',
    });
    const parsed = new sfn.Pass(this, 'Parse', {
      stateName: name('read the run error'),
      parameters: { 'error.$': '$.error', 'cause.$': '$.cause', 'run.$': 'States.StringToJson($.cause)' },
    });
    const has = (path: string) => sfn.Condition.and(sfn.Condition.isPresent(path), sfn.Condition.isString(path));
    const raiseRunError = new sfn.Fail(this, 'RaiseRun', { stateName: name('raise the run error'), errorPath: '$.run.Error', causePath: '$.run.Cause' });
    const raiseRunErrorOnly = new sfn.Fail(this, 'RaiseRunNoCause', { stateName: name('raise the run error (no cause)'), errorPath: '$.run.Error', causePath: '$.cause' });
    const raiseTimeout = new sfn.Fail(this, 'RaiseTimeout', { stateName: name('raise the run timeout'), error: sfn.Errors.TIMEOUT, causePath: '$.cause' });
    parsed.next(
      new sfn.Choice(this, 'WhichError', { stateName: name('which run error?') })
        .when(sfn.Condition.and(has('$.run.Error'), has('$.run.Cause')), raiseRunError)
        .when(has('$.run.Error'), raiseRunErrorOnly)
        .when(sfn.Condition.and(has('$.run.Status'), sfn.Condition.stringEquals('$.run.Status', 'TIMED_OUT')), raiseTimeout)
        .otherwise(passThrough),
    );
    runFailed.next(
      new sfn.Choice(this, 'IsJson', { stateName: name('cause is a run?') })
        .when(sfn.Condition.and(has('$.cause'), sfn.Condition.stringMatches('$.cause', '{*')), parsed)
        .otherwise(passThrough),
    );
    this.task.addCatch(runFailed, { errors: [sfn.Errors.TASKS_FAILED] });
    this.branch(this.task);
  }
}


/**
 * What is wrong with a fixed {@link JobInput}, by the rules the run's input validation applies (values that are tokens
 * or JSONPath are checked by the run itself). `where` names the prop, e.g. `runJob 'Extract' input`.
 */
export function jobInputProblems(input: JobInput, where: string): string[] {
  const problems: string[] = [];
  const has = (v: unknown) => v !== undefined;
  if (has(input.script) === has(input.userInput)) {
    problems.push(`${where} needs exactly one of 'script' (a key in the job bucket) or 'userInput' (bash text)`);
  }
  if (input.script !== undefined && !Token.isUnresolved(input.script)) {
    if (input.script === '' || input.script.startsWith(RESERVED_PREFIX) || input.script.startsWith('/') || input.script.includes('..')) {
      problems.push(`${where}: 'script' must be a key in the job bucket outside '${RESERVED_PREFIX}', without a leading '/' or '..', got '${input.script}'`);
    }
  }
  if (input.args && !Token.isUnresolved(input.args) && input.args.length > MAX_ARGS) {
    problems.push(`${where}: 'args' may hold at most ${MAX_ARGS} strings, got ${input.args.length}`);
  }
  const names = input.env && !Token.isUnresolved(input.env) ? Object.keys(input.env) : [];
  if (names.length > MAX_ENV) problems.push(`${where}: 'env' may hold at most ${MAX_ENV} variables, got ${names.length}`);
  for (const name of names) {
    if (!ENV_NAME_PATTERN.test(name)) {
      problems.push(`${where}: 'env' has '${name}', which is not an environment variable name (letters, digits and _, not starting with a digit)`);
    } else if (isReservedEnvName(name)) {
      problems.push(`${where}: 'env' must not set '${name}' (reserved: it changes how the shell, the loader or the pipeline runtime work)`);
    }
  }
  return problems;
}
