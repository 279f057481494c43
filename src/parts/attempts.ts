import { Annotations, Duration, Token } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { ShellScriptPipelineProps } from '../shell-script-pipeline-props';

/** The props this part owns. */
export type AttemptsProps = Pick<ShellScriptPipelineProps, 'jobTimeout' | 'heartbeatTimeout' | 'maxAttempts' | 'retryDelay'>;

/** Most attempts one execution may make. */
const MAX_ATTEMPTS = 20;
/** Longest wait between attempts. */
const MAX_RETRY_DELAY = Duration.hours(24);
/** Step Functions' own upper bound for a task's TimeoutSeconds and HeartbeatSeconds (one year). */
const MAX_TASK_SECONDS = 31_536_000;
/** How much longer than its attempts a whole execution may take (launch, terminate and notify). */
const EXECUTION_TIMEOUT_MARGIN = Duration.minutes(30);

/**
 * How long one attempt may take and how many a run makes, with their defaults: `jobTimeout` (1 hour), `heartbeatTimeout`
 * (5 minutes), `maxAttempts` (1) and `retryDelay` (1 minute). No resources of its own: the workflow and the bootstrap
 * use these values.
 */
export class Attempts {
  /** What is wrong with these props, each naming the prop, the value and the fix. Values that are tokens are not checked. */
  public static problems(props: AttemptsProps): string[] {
    const { jobTimeout, heartbeatTimeout } = Attempts.timeouts(props);
    const problems: string[] = [];
    const job = secondsOf(jobTimeout);
    const hb = secondsOf(heartbeatTimeout);
    if (job !== undefined) {
      if (job < 1 || !Number.isInteger(job)) {
        problems.push(`'jobTimeout' must be a whole number of seconds of at least 1, got ${jobTimeout.toString()}`);
      } else if (job > MAX_TASK_SECONDS) {
        problems.push(`'jobTimeout' must be at most 365 days (Step Functions' limit), got ${job} seconds`);
      }
    }
    if (hb !== undefined && (hb < 1 || !Number.isInteger(hb))) {
      problems.push(`'heartbeatTimeout' must be a whole number of seconds of at least 1, got ${heartbeatTimeout.toString()}`);
    }
    if (job !== undefined && hb !== undefined && hb >= job) {
      // A value the user did not set is named as the default, so the message does not blame a prop they never wrote.
      const hbText = props.heartbeatTimeout === undefined ? `the default 'heartbeatTimeout', ${humanSeconds(hb)},` : `'heartbeatTimeout' (${humanSeconds(hb)})`;
      const jobText = props.jobTimeout === undefined ? `the default 'jobTimeout', ${humanSeconds(job)}` : `'jobTimeout' (${humanSeconds(job)})`;
      const fix = props.heartbeatTimeout === undefined ? 'set a shorter heartbeatTimeout or raise jobTimeout' : 'lower heartbeatTimeout or raise jobTimeout';
      problems.push(`${hbText} must be shorter than ${jobText}: Step Functions ignores a heartbeat that is not; ${fix}`);
    }
    const attempts = props.maxAttempts;
    if (attempts !== undefined && !Token.isUnresolved(attempts) && (!Number.isInteger(attempts) || attempts < 1 || attempts > MAX_ATTEMPTS)) {
      problems.push(`'maxAttempts' must be a whole number from 1 to ${MAX_ATTEMPTS}, got ${attempts}`);
    }
    if (props.retryDelay !== undefined) {
      const delay = secondsOf(props.retryDelay);
      if (delay !== undefined && (!Number.isInteger(delay) || delay < 0 || delay > MAX_RETRY_DELAY.toSeconds())) {
        problems.push(`'retryDelay' must be a whole number of seconds from 0 to 24 hours, got ${props.retryDelay.toString()}`);
      }
      if (delay !== undefined && delay > 0 && (attempts ?? 1) === 1) {
        problems.push("'retryDelay' has no effect with one attempt; set 'maxAttempts' above 1 or remove 'retryDelay'");
      }
    }
    return problems;
  }

  private static timeouts(props: AttemptsProps): { jobTimeout: Duration; heartbeatTimeout: Duration } {
    return { jobTimeout: props.jobTimeout ?? Duration.hours(1), heartbeatTimeout: props.heartbeatTimeout ?? Duration.minutes(5) };
  }

  /** How long one job may run, from the hand-off of its task until it reports. */
  public readonly jobTimeout: Duration;
  /** How long the job may go without a heartbeat. */
  public readonly heartbeatTimeout: Duration;
  /** How many times a run tries its job. */
  public readonly maxAttempts: number;
  /** The wait between a failed attempt and the next. */
  public readonly retryDelay: Duration;
  /**
   * The run's execution timeout: every attempt may wait for capacity for up to its job timeout and then take its whole
   * job timeout, plus the delays between attempts, plus a margin for launching, terminating and notifying. Undefined
   * when a duration is only known at deploy time.
   */
  public readonly executionTimeout?: Duration;

  constructor(pipeline: Construct, props: AttemptsProps) {
    ({ jobTimeout: this.jobTimeout, heartbeatTimeout: this.heartbeatTimeout } = Attempts.timeouts(props));
    this.maxAttempts = props.maxAttempts ?? 1;
    this.retryDelay = props.retryDelay ?? Duration.minutes(1);
    if (!this.jobTimeout.isUnresolved() && !this.retryDelay.isUnresolved() && !Token.isUnresolved(this.maxAttempts)) {
      // Each attempt may wait for capacity or quota for up to its job timeout (workflow/launch.ts), then run its job.
      this.executionTimeout = Duration.seconds(
        2 * this.jobTimeout.toSeconds() * this.maxAttempts +
          this.retryDelay.toSeconds() * (this.maxAttempts - 1) +
          EXECUTION_TIMEOUT_MARGIN.toSeconds(),
      );
    }
    if (this.jobTimeout.isUnresolved()) {
      Annotations.of(pipeline).addWarningV2(
        'cdk-shell-script-pipeline:tokenJobTimeout',
        "'jobTimeout' is only known at deploy time, so the state machine gets no execution timeout (for every attempt, its job timeout twice: waiting for capacity, then the job; + 30 minutes); " +
          'the task timeout, the heartbeat timeout and the instance hard cap still apply',
      );
    }
  }

  /** The job timeout in seconds, as text: a duration from a CloudFormation parameter resolves at deploy time. */
  public get jobSeconds(): string {
    return Token.asString(this.jobTimeout.toSeconds());
  }

  /** The heartbeat timeout in seconds, as text. */
  public get heartbeatSeconds(): string {
    return Token.asString(this.heartbeatTimeout.toSeconds());
  }
}

function secondsOf(d: Duration): number | undefined {
  if (d.isUnresolved()) return undefined;
  return d.toMilliseconds() / 1000;
}

/** A whole number of seconds as people say it: `5 minutes`, `2 hours`, `90 seconds`. */
function humanSeconds(seconds: number): string {
  const unit = (n: number, name: string) => `${n} ${name}${n === 1 ? '' : 's'}`;
  if (seconds > 0 && seconds % 3600 === 0) return unit(seconds / 3600, 'hour');
  if (seconds > 0 && seconds % 60 === 0) return unit(seconds / 60, 'minute');
  return unit(seconds, 'second');
}
