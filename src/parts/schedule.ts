import { Token } from 'aws-cdk-lib';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { ENV_NAME_PATTERN, MAX_ARGS, RESERVED_PREFIX } from '../protocol';
import type { ShellScriptPipelineProps } from '../shell-script-pipeline-props';

/**
 * The input of one run: the same fields as an execution's input.
 */
export interface JobInput {
  /**
   * Key of the shell script in the job bucket. Give this or `userInput`.
   *
   * @default - none; `userInput` must be set
   */
  readonly script?: string;

  /**
   * Arguments passed to the script.
   *
   * @default - no arguments
   */
  readonly args?: string[];

  /**
   * Environment variables for the script.
   *
   * @default - none
   */
  readonly env?: { [name: string]: string };

  /**
   * Bash text run as the job, as in the AWS Data Pipeline sample's `{"userInput": "..."}`. Give this or `script`.
   *
   * @default - none; `script` must be set
   */
  readonly userInput?: string;
}

/**
 * A schedule that starts runs with a fixed input.
 */
export interface PipelineSchedule {
  /**
   * When to start a run, e.g. `ScheduleExpression.cron({ hour: '2', minute: '0', timeZone: TimeZone.EUROPE_LONDON })`
   * or `ScheduleExpression.rate(Duration.hours(6))`.
   */
  readonly expression: scheduler.ScheduleExpression;

  /**
   * The input of every scheduled run.
   */
  readonly input: JobInput;

  /**
   * Whether the schedule starts runs; `false` creates it disabled.
   *
   * @default true
   */
  readonly enabled?: boolean;
}

/** The props this part owns. */
export type ScheduleProps = Pick<ShellScriptPipelineProps, 'schedule'>;

/**
 * How often EventBridge Scheduler retries a StartExecution that failed. A scheduled run belongs to its slot: a few
 * retries with Scheduler's exponential backoff ride out throttling or a brief outage, while the default of aws-cdk-lib's
 * scheduler targets (185, RetryPolicy's maximum, within 24 hours:
 * https://docs.aws.amazon.com/scheduler/latest/APIReference/API_RetryPolicy.html) could start a run hours late, next
 * to the following scheduled one.
 */
export const SCHEDULE_RETRY_ATTEMPTS = 3;

/**
 * Data Pipeline's `schedule`: an EventBridge Scheduler schedule that starts runs with a fixed input, with its own role
 * that may only start this state machine. Its input is checked at synth by the rules the state machine applies.
 */
export class RunSchedule {
  /** What is wrong with these props, each naming the prop, the value and the fix. Values that are tokens are not checked. */
  public static problems(props: ScheduleProps): string[] {
    return props.schedule ? inputProblems(props.schedule.input) : [];
  }

  /** The schedule; only with `schedule`. */
  public readonly schedule?: scheduler.Schedule;

  constructor(pipeline: Construct, props: ScheduleProps, stateMachine: sfn.IStateMachine) {
    if (!props.schedule) return;
    this.schedule = new scheduler.Schedule(pipeline, 'Schedule', {
      description: 'Starts shell script pipeline runs',
      schedule: props.schedule.expression,
      enabled: props.schedule.enabled ?? true,
      target: new schedulerTargets.StepFunctionsStartExecution(stateMachine, {
        input: scheduler.ScheduleTargetInput.fromObject(jobExecutionInput(props.schedule.input)),
        retryAttempts: SCHEDULE_RETRY_ATTEMPTS,
      }),
    });
  }
}

/** The same rules the state machine applies to an execution's input, checked at synth for a schedule's fixed input. */
function inputProblems(input: JobInput): string[] {
  const problems: string[] = [];
  const has = (v: unknown) => v !== undefined;
  if (has(input.script) === has(input.userInput)) {
    problems.push("'schedule.input' needs exactly one of 'script' (a key in the job bucket) or 'userInput' (bash text)");
  }
  if (input.script !== undefined && !Token.isUnresolved(input.script)) {
    if (input.script === '' || input.script.startsWith(RESERVED_PREFIX) || input.script.startsWith('/') || input.script.includes('..')) {
      problems.push(`'schedule.input.script' must be a key in the job bucket outside '${RESERVED_PREFIX}', without a leading '/' or '..', got '${input.script}'`);
    }
  }
  if (input.userInput !== undefined && !Token.isUnresolved(input.userInput) && input.userInput === '') {
    problems.push("'schedule.input.userInput' must not be empty");
  }
  if (input.args && input.args.length > MAX_ARGS) problems.push(`'schedule.input.args' may hold at most ${MAX_ARGS} strings, got ${input.args.length}`);
  for (const name of Object.keys(input.env ?? {})) {
    if (!ENV_NAME_PATTERN.test(name)) {
      problems.push(`'schedule.input.env' has '${name}', which is not an environment variable name (letters, digits and _, not starting with a digit)`);
    }
  }
  return problems;
}

/** The execution input for a {@link JobInput}: only the fields that are set (values may be JSONPath). */
export function jobExecutionInput(input: JobInput): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (input.script !== undefined) out.script = input.script;
  if (input.userInput !== undefined) out.userInput = input.userInput;
  if (input.args !== undefined) out.args = input.args;
  if (input.env !== undefined) out.env = input.env;
  return out;
}
