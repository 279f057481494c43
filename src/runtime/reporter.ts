/**
 * {@link TaskReporter}: answers one task token with heartbeats and exactly one final result.
 */
// The SDK is bundled into the runtime asset by esbuild, so it is (correctly) only a devDependency of the library.
// eslint-disable-next-line import/no-extraneous-dependencies
import { SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand } from '@aws-sdk/client-sfn';
// eslint-disable-next-line import/no-extraneous-dependencies
import type { SFNClient } from '@aws-sdk/client-sfn';
import { createSfnClient } from './aws-clients';
import { lostTaskReason, TaskAlreadyClosedError, TaskLostError } from './errors';
import { stderrLog } from './log';
import type { Log } from './log';
import { DEFAULT_RETRY, retry } from './retry';
import type { RetryPolicy } from './retry';
import { truncateHead, truncateTail } from './text';
import { errorMessage } from './util';
import { MAX_CAUSE_CHARS, MAX_ERROR_CHARS } from '../protocol';

/** Options for {@link TaskReporter}. */
export interface TaskReporterOptions {
  /** The task token to answer. */
  readonly taskToken: string;
  /**
   * Step Functions client. Default: a new `SFNClient` (region, credentials and endpoint from the standard AWS chain,
   * `AWS_ENDPOINT_URL_SFN` honoured) with `maxAttempts: 1`, so that only this reporter's retry policy applies.
   */
  readonly client?: SFNClient;
  /** Retry policy (missing fields from {@link DEFAULT_RETRY}). */
  readonly retry?: Partial<RetryPolicy>;
  /** Timeout of each single request attempt, in ms. Default 10 000. */
  readonly attemptTimeoutMs?: number;
  /** Logger for retries. Default {@link stderrLog}. */
  readonly log?: Log;
  /**
   * Runs once, right before the first final result (success or failure) is sent, e.g. to upload the job's log while
   * the instance still exists: the workflow terminates the instance as soon as it has the result. It is told which
   * result is about to be sent. Its errors are logged and never stop the result from being sent.
   */
  readonly beforeFinal?: (outcome: FinalOutcome) => Promise<void>;
}

/** The kind of final result a task gets: `succeeded` (SendTaskSuccess) or `failed` (SendTaskFailure). */
export type FinalOutcome = 'succeeded' | 'failed';

/** Options for one {@link TaskReporter.heartbeat}. */
export interface HeartbeatOptions {
  /** Stop retrying at this time (`Date.now()` ms); the last error is thrown. */
  readonly deadline?: number;
  /** Abort the heartbeat (and its retries). */
  readonly signal?: AbortSignal;
}

/**
 * Answers one task token: any number of heartbeats, then exactly one final result.
 *
 * Every call retries throttling, 5xx and network errors with bounded exponential backoff and full jitter
 * (see {@link RetryPolicy}). `TaskTimedOut`, `InvalidToken` and `TaskDoesNotExist` throw a {@link TaskLostError}.
 * Once `succeed` or `fail` was called, any further `succeed`, `fail` or `heartbeat` throws a
 * {@link TaskAlreadyClosedError} without sending anything, and heartbeats still retrying are abandoned.
 */
export class TaskReporter {
  public readonly taskToken: string;
  private readonly client: SFNClient;
  private readonly ownsClient: boolean;
  private readonly retry: RetryPolicy;
  private readonly attemptTimeoutMs: number;
  private readonly log: Log;
  private readonly closing = new AbortController();
  private readonly beforeFinal?: (outcome: FinalOutcome) => Promise<void>;
  private finalAction?: string;

  constructor(options: TaskReporterOptions) {
    if (typeof options.taskToken !== 'string' || options.taskToken.length === 0) {
      throw new Error('TaskReporter: taskToken must be a non-empty string');
    }
    this.taskToken = options.taskToken;
    this.ownsClient = !options.client;
    this.client = options.client ?? createSfnClient();
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    if (!(this.retry.maxAttempts >= 1)) throw new Error('TaskReporter: retry.maxAttempts must be at least 1');
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 10_000;
    this.log = options.log ?? stderrLog;
    this.beforeFinal = options.beforeFinal;
  }

  /** Whether a final result was sent (or is being sent). */
  public get closed(): boolean {
    return this.finalAction !== undefined;
  }

  /** Send one heartbeat (with retries). */
  public async heartbeat(options: HeartbeatOptions = {}): Promise<void> {
    this.assertOpen('heartbeat');
    const command = new SendTaskHeartbeatCommand({ taskToken: this.taskToken });
    await this.send('SendTaskHeartbeat', (abortSignal) => this.client.send(command, { abortSignal }), {
      deadline: options.deadline,
      signals: [options.signal, this.closing.signal],
    });
  }

  /** Report success. `output` is sent as JSON (`undefined` becomes `null`). */
  public async succeed(output: unknown): Promise<void> {
    this.close('succeed');
    await this.runBeforeFinal('succeeded');
    const text = JSON.stringify(output === undefined ? null : output);
    const command = new SendTaskSuccessCommand({ taskToken: this.taskToken, output: text });
    await this.send('SendTaskSuccess', (abortSignal) => this.client.send(command, { abortSignal }), { signals: [] });
  }

  /**
   * Report failure. `error` is cut to MAX_ERROR_CHARS (keeping its head); `cause` to MAX_CAUSE_CHARS, keeping its
   * tail (the end of a job's output is what explains a failure).
   */
  public async fail(error: string, cause: string): Promise<void> {
    this.close('fail');
    await this.runBeforeFinal('failed');
    const command = new SendTaskFailureCommand({
      taskToken: this.taskToken,
      error: truncateHead(error, MAX_ERROR_CHARS),
      cause: truncateTail(cause, MAX_CAUSE_CHARS),
    });
    await this.send('SendTaskFailure', (abortSignal) => this.client.send(command, { abortSignal }), { signals: [] });
  }

  /** Release the client's connections (only if this reporter created the client). */
  public destroy(): void {
    if (this.ownsClient) this.client.destroy();
  }

  private async runBeforeFinal(outcome: FinalOutcome): Promise<void> {
    if (!this.beforeFinal) return;
    try {
      await this.beforeFinal(outcome);
    } catch (e) {
      this.log(`the step before the final result failed (${errorMessage(e)}); reporting anyway`);
    }
  }

  private assertOpen(what: string): void {
    if (this.finalAction) {
      throw new TaskAlreadyClosedError(`cannot ${what}: a final result was already sent for this task (${this.finalAction})`);
    }
  }

  private close(what: string): void {
    this.assertOpen(what);
    this.finalAction = what;
    this.closing.abort();
  }

  /** One call through the retry loop; a lost token throws a {@link TaskLostError} at once. */
  private async send(
    action: string,
    call: (abortSignal: AbortSignal) => Promise<unknown>,
    opts: { deadline?: number; signals: Array<AbortSignal | undefined> },
  ): Promise<void> {
    await retry(action, call, {
      policy: this.retry,
      log: this.log,
      attemptTimeoutMs: this.attemptTimeoutMs,
      deadline: opts.deadline,
      signals: opts.signals,
      fatal: (e) => {
        const lost = lostTaskReason(e);
        return lost ? new TaskLostError(lost, `${action}: ${lost}: ${errorMessage(e)}`, { cause: e }) : undefined;
      },
    });
  }
}
