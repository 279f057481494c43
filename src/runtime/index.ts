/**
 * Job-side runtime: answers one Step Functions task token while a job runs on the instance.
 *
 * - {@link readTaskDocument} reads the task document the state machine wrote for this instance.
 * - {@link TaskReporter} sends heartbeats and exactly one final result, with bounded retries.
 * - {@link runJob} runs a command under a task token: claims the token, heartbeats, forwards output,
 *   watches for Spot interruption notices, and reports the outcome.
 * - {@link claimActivityTask} (activity mode, `./activity`) finds this instance's task among the tasks of a shared
 *   Step Functions activity, handing the ones it draws for other instances over to them.
 *
 * This module is bundled (with the AWS SDK) into `assets/runtime/cli/heartbeat.js` and runs with the
 * instance's own Node.js (20+). It imports nothing from the construct library except the shared protocol.
 */
import { spawn } from 'child_process';
import type { ChildProcess } from 'child_process';
import { EventEmitter } from 'events';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
// The SDK is bundled into the runtime asset by esbuild, so it is (correctly) only a devDependency of the library.
// eslint-disable-next-line import/no-extraneous-dependencies
import { SendTaskFailureCommand, SendTaskHeartbeatCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { abortError, delay, describeError, errorMessage, linkSignals, sleep, typeName } from './util';
import { CLI_EXIT, ENV, JOB_ERRORS, MAX_CAUSE_CHARS, MAX_ERROR_CHARS, OUTPUT_TAIL_BYTES } from '../protocol';
import type { TaskDocument } from '../protocol';

export type { TaskDocument } from '../protocol';

/**
 * Error name reported when the job exited 0 but its result cannot be returned: the result file is not valid JSON,
 * or the task output would exceed the Step Functions payload limit (256 KiB).
 *
 */
export const INVALID_RESULT_ERROR = JOB_ERRORS.INVALID_RESULT;

/** Largest task output SendTaskSuccess accepts, in bytes (UTF-8). */
export const MAX_OUTPUT_BYTES = 262_144;

/** Step Functions errors that mean the task token is no longer usable: the run is over on the service side. */
export const LOST_TASK_ERRORS: readonly string[] = ['TaskTimedOut', 'InvalidToken', 'TaskDoesNotExist'];

/** A logger for the runtime's own messages. */
export type Log = (message: string) => void;

/** The default logger: one line on stderr, prefixed `[heartbeat]`. */
export const stderrLog: Log = (message) => {
  process.stderr.write(`[heartbeat] ${message}\n`);
};

// ---------------------------------------------------------------------------------------------------------------------
// Task document
// ---------------------------------------------------------------------------------------------------------------------

/** The task document could not be read or is not valid. The message names the file and the offending field. */
export class TaskDocumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TaskDocumentError';
  }
}

/**
 * Read and validate a task document (JSON, see `TaskDocument`). Throws a {@link TaskDocumentError} naming the
 * missing or invalid field. Unknown fields are ignored.
 */
export function readTaskDocument(file: string): TaskDocument {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new TaskDocumentError(`cannot read task document ${file}: ${errorMessage(e)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new TaskDocumentError(`task document ${file} is not valid JSON: ${errorMessage(e)}`);
  }
  return parseTaskDocument(value, file);
}

/** Validate an already-parsed task document. `source` names it in error messages. */
export function parseTaskDocument(value: unknown, source = 'task document'): TaskDocument {
  const where = `task document ${source}`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TaskDocumentError(`${where} must be a JSON object`);
  }
  const doc = value as Record<string, unknown>;
  const str = (field: string, allowEmpty = false): string => {
    const v = doc[field];
    if (v === undefined || v === null) throw new TaskDocumentError(`${where}: "${field}" is missing`);
    if (typeof v !== 'string') throw new TaskDocumentError(`${where}: "${field}" must be a string, got ${typeName(v)}`);
    if (!allowEmpty && v.length === 0) throw new TaskDocumentError(`${where}: "${field}" must not be empty`);
    return v;
  };
  const taskToken = str('taskToken');
  const executionArn = str('executionArn');
  const executionName = str('executionName');

  // Seed compatibility: a `userInput` script replaces the bucket script, which may then be empty (or absent).
  const userInput = doc.userInput ?? undefined;
  if (userInput !== undefined && typeof userInput !== 'string') {
    throw new TaskDocumentError(`${where}: "userInput" must be a string, got ${typeName(userInput)}`);
  }
  const script = userInput === undefined ? str('script') : (doc.script ?? undefined) === undefined ? '' : str('script', true);

  const args = doc.args;
  if (args === undefined || args === null) throw new TaskDocumentError(`${where}: "args" is missing`);
  if (!Array.isArray(args)) throw new TaskDocumentError(`${where}: "args" must be an array of strings, got ${typeName(args)}`);
  args.forEach((a, i) => {
    if (typeof a !== 'string') throw new TaskDocumentError(`${where}: "args[${i}]" must be a string, got ${typeName(a)}`);
  });

  const hb = doc.heartbeatSeconds;
  if (hb === undefined || hb === null) throw new TaskDocumentError(`${where}: "heartbeatSeconds" is missing`);
  if (typeof hb !== 'number' || !Number.isFinite(hb) || hb <= 0) {
    throw new TaskDocumentError(`${where}: "heartbeatSeconds" must be a positive number, got ${JSON.stringify(hb)}`);
  }

  const attempt = doc.attempt ?? undefined;
  if (attempt !== undefined && (typeof attempt !== 'number' || !Number.isInteger(attempt) || attempt < 1)) {
    throw new TaskDocumentError(`${where}: "attempt" must be a positive integer, got ${JSON.stringify(attempt)}`);
  }

  // `env` is passed through unchecked: runJob validates it after claiming the token and reports Job.InvalidEnv, so that
  // a bad `env` fails the execution with a clear error instead of leaving it to time out.
  const env = doc.env ?? undefined;

  return {
    taskToken,
    executionArn,
    executionName,
    script,
    args: [...args] as string[],
    heartbeatSeconds: hb,
    ...(env !== undefined ? { env: env as Record<string, string> } : {}),
    ...(userInput !== undefined ? { userInput } : {}),
    ...(attempt !== undefined ? { attempt } : {}),
  };
}

/** What is wrong with a task document's `env`: a message naming the variable, or `undefined` when it is valid. */
export interface JobEnvProblem {
  readonly message: string;
  /** The offending variable name, when there is one. */
  readonly name?: string;
}

/** Environment variable names the task document's `env` may set. */
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Check a task document's `env` (see {@link ENV_NAME_PATTERN}): an object whose names are valid environment variable
 * names and whose values are strings without NUL characters. Returns the first problem, or `undefined` if there is none
 * (also for an absent `env`). Values are never quoted in the message: they may be secrets.
 */
export function checkJobEnv(env: unknown): JobEnvProblem | undefined {
  if (env === undefined || env === null) return undefined;
  if (typeof env !== 'object' || Array.isArray(env)) {
    return { message: `"env" must be an object of string values, got ${typeName(env)}` };
  }
  for (const [name, value] of Object.entries(env as Record<string, unknown>)) {
    if (!ENV_NAME_PATTERN.test(name)) {
      return { name, message: `env name ${JSON.stringify(name)} is not a valid environment variable name (it must match ${ENV_NAME_PATTERN.source})` };
    }
    if (typeof value !== 'string') {
      return { name, message: `env value of ${name} must be a string, got ${typeName(value)}` };
    }
    if (value.includes('\0')) {
      return { name, message: `env value of ${name} contains a NUL character` };
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------------
// Errors and retries
// ---------------------------------------------------------------------------------------------------------------------

/** The task token is no longer usable (`TaskTimedOut`, `InvalidToken`, `TaskDoesNotExist`): the run is over. */
export class TaskLostError extends Error {
  /** The Step Functions error name (e.g. `TaskTimedOut`), or `HeartbeatsFailing` when heartbeats failed for too long. */
  public readonly reason: string;
  constructor(reason: string, message: string, options?: { cause?: unknown }) {
    super(message);
    this.name = 'TaskLostError';
    this.reason = reason;
    if (options && 'cause' in options) (this as { cause?: unknown }).cause = options.cause;
  }
}

/** A final result was already sent (or is being sent) for this task; a reporter never sends two. */
export class TaskAlreadyClosedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TaskAlreadyClosedError';
  }
}

/** Bounded exponential backoff with full jitter: before retry `n` (1-based), wait `random(0, min(maxDelayMs, baseDelayMs * 2^(n-1)))`. */
export interface RetryPolicy {
  /** Total attempts per call, including the first. */
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

/** Default retry policy: 8 attempts, 200 ms base, 5 s cap (about 10 s of retrying on average). */
export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 8, baseDelayMs: 200, maxDelayMs: 5_000 };

const RETRYABLE_NAMES = new Set([
  'ThrottlingException', 'Throttling', 'ThrottledException', 'TooManyRequestsException', 'RequestThrottled',
  'RequestThrottledException', 'RequestLimitExceeded', 'SlowDown', 'ProvisionedThroughputExceededException',
  'BandwidthLimitExceeded', 'PriorRequestNotComplete', 'EC2ThrottledException',
  'RequestTimeout', 'RequestTimeoutException', 'TimeoutError',
  'InternalFailure', 'InternalServerError', 'InternalError', 'ServiceUnavailable', 'ServiceUnavailableException',
]);

const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'ENETDOWN', 'EHOSTDOWN', 'ECONNABORTED', 'ESOCKETTIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT',
]);

const WRAPPED_NETWORK_ERROR = new RegExp(`^AWS SDK error wrapper for .*\\b(${[...NETWORK_CODES, 'TimeoutError', 'socket hang up'].join('|')})\\b`);

/** The Step Functions error name if `err` means the task token is gone, else `undefined`. */
export function lostTaskReason(err: unknown): string | undefined {
  if (err instanceof TaskLostError) return err.reason;
  const name = (err as { name?: unknown } | undefined)?.name;
  return typeof name === 'string' && LOST_TASK_ERRORS.includes(name) ? name : undefined;
}

/** Whether an SDK call failure is worth retrying: throttling, 5xx/429 answers, timeouts and network errors. */
export function isRetryableError(err: unknown): boolean {
  const seen = new Set<unknown>();
  const check = (e: unknown): boolean => {
    if (typeof e !== 'object' || e === null || seen.has(e)) return false;
    seen.add(e);
    const x = e as {
      name?: unknown; code?: unknown; $retryable?: unknown; $metadata?: { httpStatusCode?: unknown }; cause?: unknown; errors?: unknown;
    };
    if (typeof x.name === 'string' && RETRYABLE_NAMES.has(x.name)) return true;
    if (typeof x.code === 'string' && (NETWORK_CODES.has(x.code) || RETRYABLE_NAMES.has(x.code))) return true;
    if (x.$retryable) return true;
    const status = x.$metadata?.httpStatusCode;
    if (typeof status === 'number' && (status === 429 || status >= 500)) return true;
    if (Array.isArray(x.errors) && x.errors.some(check)) return true;
    // The SDK wraps non-Error throwables (e.g. from another realm) as "AWS SDK error wrapper for <original>".
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && WRAPPED_NETWORK_ERROR.test(message)) return true;
    return check(x.cause);
  };
  return check(err);
}

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
    this.client = options.client ?? new SFNClient({ maxAttempts: 1, requestHandler: { connectionTimeout: 5_000 } });
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

  private async send(
    action: string,
    call: (abortSignal: AbortSignal) => Promise<unknown>,
    opts: { deadline?: number; signals: Array<AbortSignal | undefined> },
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const outer = opts.signals.find((s) => s?.aborted);
      if (outer) throw abortError(action);
      let budget = this.attemptTimeoutMs;
      if (opts.deadline !== undefined) budget = Math.max(1, Math.min(budget, opts.deadline - Date.now()));
      const attemptCtl = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        attemptCtl.abort();
      }, budget);
      const unlink = linkSignals(attemptCtl, opts.signals);
      try {
        await call(attemptCtl.signal);
        return;
      } catch (e) {
        if (opts.signals.some((s) => s?.aborted)) throw abortError(action);
        const lost = lostTaskReason(e);
        if (lost) throw new TaskLostError(lost, `${action}: ${lost}: ${errorMessage(e)}`, { cause: e });
        const err = timedOut ? Object.assign(new Error(`${action} timed out after ${budget} ms`), { name: 'TimeoutError', cause: e }) : e;
        if (!timedOut && !isRetryableError(e)) throw err;
        if (attempt >= this.retry.maxAttempts) throw err;
        // Full jitter: a random wait up to the capped exponential step.
        let wait = Math.random() * Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1));
        if (opts.deadline !== undefined) {
          const left = opts.deadline - Date.now();
          if (left <= 0) throw err;
          wait = Math.min(wait, left);
        }
        this.log(`${action} failed (${describeError(err)}); retry ${attempt}/${this.retry.maxAttempts - 1} in ${Math.round(wait)} ms`);
        await sleep(wait, opts.signals);
      } finally {
        clearTimeout(timer);
        unlink();
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// runJob
// ---------------------------------------------------------------------------------------------------------------------

/** The part of the task document {@link runJob} needs. */
export type RunJobTask = Pick<TaskDocument, 'taskToken' | 'heartbeatSeconds'> & Partial<TaskDocument>;

/** Options for {@link runJob}. */
export interface RunJobOptions {
  /** The task to answer (a {@link TaskDocument}, or at least its token and heartbeatSeconds). */
  readonly task: RunJobTask;
  /** Executable to run (no shell; looked up in PATH). */
  readonly command: string;
  /** Arguments; the task document's `args` are appended to these. */
  readonly args?: readonly string[];
  /** Reporter to use. Default: a new {@link TaskReporter} for `task.taskToken`. */
  readonly reporter?: TaskReporter;
  /**
   * Heartbeat (and Spot check) interval in ms. Default: `SSP_HEARTBEAT_INTERVAL_MS` if set, else
   * heartbeatSeconds / 3 (at least 200 ms).
   */
  readonly heartbeatIntervalMs?: number;
  /**
   * How long the job gets to exit after SIGTERM before SIGKILL, in ms. Default 10 000. When the task is lost, the
   * grace is at most one heartbeat interval: the run is already over on the service side (and may be running again
   * elsewhere), so the job is stopped promptly.
   */
  readonly killGraceMs?: number;
  /** Poll instance metadata for a Spot interruption notice. Default: true unless `SSP_SPOT_CHECK=0`. */
  readonly spotCheck?: boolean;
  /** Base URL of the instance metadata service. Default: `SSP_IMDS_ENDPOINT`, else `http://169.254.169.254`. */
  readonly imdsEndpoint?: string;
  /** Environment for the job (before the task document's `env` and the `SSP_*` variables are added). Default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** Working directory of the job. Default: the current one. */
  readonly cwd?: string;
  /** Where the job's stdout is forwarded. Default `process.stdout`. */
  readonly stdout?: NodeJS.WritableStream;
  /** Where the job's stderr is forwarded. Default `process.stderr`. */
  readonly stderr?: NodeJS.WritableStream;
  /**
   * Also append the job's combined output (stdout and stderr, as it arrives) to this file. If it cannot be opened, a
   * warning is logged and the job runs anyway.
   */
  readonly logFile?: string;
  /** Logger for the runtime's own messages. Default {@link stderrLog}. */
  readonly log?: Log;
  /**
   * Runs after the job ended and `logFile` is flushed, right before the final result is sent (not when the task is
   * lost: nothing is sent then), told whether that result is a success or a failure. Only used when this function
   * creates the reporter (no `reporter` option).
   */
  readonly beforeReport?: (outcome: FinalOutcome) => Promise<void>;
  /** Handle SIGTERM/SIGINT of this process (stop the job, report `Job.Interrupted`). Default true. */
  readonly handleSignals?: boolean;
}

/**
 * How a run ended:
 * - `succeeded`: the job exited 0 and success was reported;
 * - `failed`: the job failed (or was stopped) and failure was reported;
 * - `lost`: the task token is gone (timed out / invalid): the job was stopped and nothing was reported;
 * - `report-failed`: the outcome could not be reported (the endpoint kept failing, or refused the call).
 */
export type RunOutcome = 'succeeded' | 'failed' | 'lost' | 'report-failed';

/** The result of {@link runJob}. */
export interface RunResult {
  readonly outcome: RunOutcome;
  /** The exit code for the CLI (`CLI_EXIT`). */
  readonly exitCode: number;
  /** The job's exit code, when it exited by itself. */
  readonly jobExitCode?: number;
  /** The signal that ended the job, if any. */
  readonly jobSignal?: string;
  /** The output reported with SendTaskSuccess. */
  readonly output?: unknown;
  /** The error reported (or meant to be reported) with SendTaskFailure. */
  readonly error?: string;
  /** The cause reported (or meant to be reported) with SendTaskFailure. */
  readonly cause?: string;
  /** Why the task is lost (`TaskTimedOut`, `InvalidToken`, `TaskDoesNotExist`, `HeartbeatsFailing`). */
  readonly lostReason?: string;
  /** The error that kept the outcome from being reported. */
  readonly reportError?: unknown;
}

/** The task output of a successful job. `result` is present only if the job wrote its result file. */
export interface JobSuccessOutput {
  readonly exitCode: 0;
  readonly durationSeconds: number;
  readonly outputTail: string;
  readonly result?: unknown;
}

/** Spot interruption notice from instance metadata. */
export interface SpotNotice {
  readonly action: string;
  readonly time: string;
}

type StopRequest =
  | { kind: 'lost'; reason: string; message: string }
  | { kind: 'interrupted'; signal: NodeJS.Signals }
  | { kind: 'spot'; notice: SpotNotice };

interface ChildEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
  spawnError?: NodeJS.ErrnoException;
}

/** The heartbeat interval {@link runJob} uses by default for a given HeartbeatSeconds. */
export function defaultHeartbeatIntervalMs(heartbeatSeconds: number, env: NodeJS.ProcessEnv = process.env): number {
  const override = env[ENV.HEARTBEAT_INTERVAL_MS];
  if (override !== undefined && override !== '') {
    const ms = Number(override);
    if (Number.isFinite(ms) && ms > 0) return ms;
  }
  return Math.max(200, (heartbeatSeconds * 1000) / 3);
}

/**
 * Run a command under a task token and report its outcome. Never throws for job or reporting failures: the outcome
 * is in the returned {@link RunResult}.
 *
 * 1. Claims the token with a first heartbeat (retrying for up to heartbeatSeconds). If the token is already gone, the
 *    command is not started (`lost`).
 * 2. Starts the command in its own process group, no shell, stdin from /dev/null, stdout/stderr forwarded live; keeps
 *    the last OUTPUT_TAIL_BYTES of the combined output. The job's environment is `env` (default `process.env`), then
 *    the task document's `env`, then `SSP_RESULT_FILE` (a fresh temp file path; the job may write JSON there),
 *    `SSP_EXECUTION_NAME`, `SSP_EXECUTION_ARN` and (when the document has `attempt`) `SSP_ATTEMPT`. If the task's
 *    `env` is invalid (see {@link checkJobEnv}), the job is not started and `Job.InvalidEnv` is reported, with a cause
 *    `{ message, name? }` naming the variable.
 * 3. Heartbeats every interval, and polls instance metadata for a Spot interruption notice on the same cadence.
 * 4. Reports:
 *    - exit 0: success `{ exitCode: 0, durationSeconds, outputTail, result? }` (`result`: the JSON in the result file, if
 *      the job wrote a non-empty one). If the result file is not valid JSON, or the output would exceed 256 KiB, it
 *      reports `Job.InvalidResult` instead (a job that "succeeded" with an unusable result must not look successful);
 *    - non-zero exit: `Job.NonZeroExit`, cause `{ exitCode, durationSeconds, outputTail }`;
 *    - killed by a signal: `Job.Killed`, cause `{ signal, durationSeconds, outputTail }`;
 *    - cannot start: `Job.StartFailed`, cause `{ command, code, message }`;
 *    - SIGTERM/SIGINT to this process: stops the job, `Job.Interrupted`, cause `{ signal, durationSeconds, outputTail }`;
 *    - Spot notice: stops the job, `Job.SpotInterrupted`, cause `{ action, time, durationSeconds, outputTail }`;
 *    - a heartbeat answered TaskTimedOut/InvalidToken/TaskDoesNotExist, or heartbeats failing for longer than
 *      heartbeatSeconds: stops the job and reports nothing (`lost`).
 *
 * Stopping the job means SIGTERM to its process group, then SIGKILL after `killGraceMs`. Processes the job leaves
 * behind in its group are stopped the same way when it exits, and the group is SIGKILLed if this process exits
 * while the job still runs.
 */
export async function runJob(options: RunJobOptions): Promise<RunResult> {
  const env = options.env ?? process.env;
  const log = options.log ?? stderrLog;
  const task = options.task;
  const heartbeatMs = task.heartbeatSeconds * 1000;
  const intervalMs = options.heartbeatIntervalMs ?? defaultHeartbeatIntervalMs(task.heartbeatSeconds, process.env);
  const killGraceMs = options.killGraceMs ?? 10_000;
  const spotCheck = options.spotCheck ?? process.env[ENV.SPOT_CHECK] !== '0';
  const ownsReporter = !options.reporter;
  const reporter = options.reporter ?? new TaskReporter({
    taskToken: task.taskToken,
    log,
    attemptTimeoutMs: Math.min(10_000, Math.max(1_000, heartbeatMs / 3)),
    beforeFinal: options.beforeReport
      ? async (outcome) => {
        const file = logFile;
        logFile = undefined;
        if (file) await new Promise<void>((resolve) => file.end(() => resolve()));
        await options.beforeReport!(outcome);
      }
      : undefined,
  });
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  let logFile: fs.WriteStream | undefined;
  const args = [...(options.args ?? []), ...(task.args ?? [])];

  // A single "stop" request: the first of lost token / signal / Spot notice wins.
  let stopRequest: StopRequest | undefined;
  let resolveStop!: (r: StopRequest) => void;
  const stopped = new Promise<StopRequest>((resolve) => (resolveStop = resolve));
  let acceptingStops = true;
  const requestStop = (r: StopRequest) => {
    if (stopRequest || !acceptingStops) return;
    stopRequest = r;
    resolveStop(r);
  };

  const loops = new AbortController();
  const timers = new Set<NodeJS.Timeout>();
  let child: ChildProcess | undefined;
  let childEnded = false;
  let tmpDir: string | undefined;

  const onSignal = (signal: NodeJS.Signals) => {
    if (!stopRequest && acceptingStops) {
      log(`received ${signal}: stopping the job`);
      requestStop({ kind: 'interrupted', signal });
    } else if (child && !childEnded) {
      log(`received ${signal} again: killing the job now`);
      signalGroup(child.pid, 'SIGKILL');
    } else {
      log(`received ${signal} while reporting; finishing the report first`);
    }
  };
  const onExit = () => {
    // Last resort: never leave the job running when this process exits, whatever the path.
    if (child?.pid) signalGroup(child.pid, 'SIGKILL');
  };
  const handleSignals = options.handleSignals ?? true;
  if (handleSignals) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  process.on('exit', onExit);

  // If our own stdout/stderr break (EPIPE), keep running: the output tail is still kept and reported.
  const ignoreStreamError = () => undefined;
  stdout.on('error', ignoreStreamError);
  stderr.on('error', ignoreStreamError);

  let startedAt = Date.now(); // reset when the job starts: durationSeconds is the job's own run time
  const duration = () => Math.round((Date.now() - startedAt) / 10) / 100;
  const tail = new TailBuffer(OUTPUT_TAIL_BYTES);

  try {
    // 1. Claim the token.
    const claim = await Promise.race([claimToken(reporter, heartbeatMs, intervalMs, log, loops.signal), stopped]);
    if (claim.kind !== 'claimed') {
      if (claim.kind === 'lost') return lostResult(log, claim.reason, claim.message);
      if (claim.kind === 'unusable') {
        log(`cannot answer the task token: ${describeError(claim.error)}`);
        return { outcome: 'report-failed', exitCode: CLI_EXIT.REPORT_FAILED, reportError: claim.error };
      }
      // Interrupted (or Spot) before the job started: report it, nothing to stop.
      loops.abort();
      return await reportStop(reporter, claim, { durationSeconds: 0, outputTail: '' }, log);
    }

    // 2. Start the job (unless its environment is unusable).
    const envProblem = checkJobEnv(task.env);
    if (envProblem) {
      log(`the task document's env is invalid: ${envProblem.message}; the job is not started`);
      const cause = fitCause({ message: envProblem.message, ...(envProblem.name !== undefined ? { name: envProblem.name } : {}) });
      return await reportFailure(reporter, JOB_ERRORS.INVALID_ENV, cause, log);
    }
    tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssp-job-'));
    const resultFile = path.join(tmpDir, 'result.json');
    // The task's env on top of ours; the SSP_* variables always win.
    const childEnv: NodeJS.ProcessEnv = { ...env, ...task.env, [ENV.RESULT_FILE]: resultFile };
    if (task.executionName !== undefined) childEnv[ENV.EXECUTION_NAME] = task.executionName;
    if (task.executionArn !== undefined) childEnv[ENV.EXECUTION_ARN] = task.executionArn;
    if (task.attempt !== undefined) childEnv[ENV.ATTEMPT] = String(task.attempt);

    log(`starting ${[options.command, ...args].map(quoteArg).join(' ')}`);
    startedAt = Date.now();
    if (options.logFile !== undefined) logFile = openLogFile(options.logFile, log);
    const started = startChild(options.command, args, { env: childEnv, cwd: options.cwd, stdout, stderr, tail, logFile });
    child = started.child;
    const ended = started.ended.then((e) => {
      childEnded = true;
      return e;
    });

    // 3. Heartbeat and Spot loops.
    let lastOk = Date.now();
    const schedule = (fn: () => void, ms: number) => {
      if (loops.signal.aborted) return;
      const t = setTimeout(() => {
        timers.delete(t);
        fn();
      }, ms);
      timers.add(t);
    };
    const heartbeatTick = async () => {
      try {
        await reporter.heartbeat({ deadline: lastOk + heartbeatMs, signal: loops.signal });
        lastOk = Date.now();
      } catch (e) {
        if (loops.signal.aborted) return;
        const reason = lostTaskReason(e);
        if (reason) return requestStop({ kind: 'lost', reason, message: errorMessage(e) });
        const silentFor = Date.now() - lastOk;
        if (silentFor >= heartbeatMs) {
          return requestStop({
            kind: 'lost',
            reason: 'HeartbeatsFailing',
            message: `no heartbeat accepted for ${Math.round(silentFor / 100) / 10} s (HeartbeatSeconds is ${task.heartbeatSeconds}); last error: ${describeError(e)}`,
          });
        }
        log(`heartbeat failed (${describeError(e)}); trying again`);
      }
      schedule(() => void heartbeatTick(), Math.min(intervalMs, Math.max(0, lastOk + heartbeatMs - Date.now())));
    };
    schedule(() => void heartbeatTick(), intervalMs);

    if (spotCheck) {
      const watcher = new SpotWatcher(options.imdsEndpoint ?? process.env[ENV.IMDS_ENDPOINT] ?? 'http://169.254.169.254', log);
      const spotTick = async () => {
        const notice = await watcher.check();
        if (loops.signal.aborted) return;
        if (notice) {
          log(`Spot interruption notice: ${notice.action} at ${notice.time}`);
          return requestStop({ kind: 'spot', notice });
        }
        schedule(() => void spotTick(), intervalMs);
      };
      void spotTick();
    }

    // 4. Wait for the job to end, or for a reason to stop it.
    const first = await Promise.race([ended, stopped]);
    loops.abort();
    for (const t of timers) clearTimeout(t);

    if ('kind' in first) {
      const graceMs = first.kind === 'lost' ? Math.min(killGraceMs, intervalMs) : killGraceMs;
      await stopChild(child, ended, graceMs, log);
      await started.drained(1_000);
      if (first.kind === 'lost') return lostResult(log, first.reason, first.message);
      return await reportStop(reporter, first, { durationSeconds: duration(), outputTail: tail.toString() }, log);
    }

    // The job ended by itself; no more stop requests (signals now wait for the report).
    acceptingStops = false;
    if (first.spawnError) {
      const err = first.spawnError;
      const cause = fitCause({ command: options.command, code: err.code, message: err.message });
      log(`the job could not start: ${err.message}`);
      return await reportFailure(reporter, JOB_ERRORS.START_FAILED, cause, log);
    }
    if (child.pid && groupAlive(child.pid)) {
      log('the job left processes running in its process group; stopping them');
      await stopChild(child, ended, killGraceMs, log);
    }
    await started.drained(1_000);
    const durationSeconds = duration();
    const outputTail = tail.toString();

    if (first.signal) {
      log(`the job was killed by ${first.signal}`);
      const cause = fitCause({ signal: first.signal, durationSeconds, outputTail });
      return { ...(await reportFailure(reporter, JOB_ERRORS.KILLED, cause, log)), jobSignal: first.signal };
    }
    const code = first.code ?? -1;
    if (code !== 0) {
      log(`the job exited with code ${code}`);
      const cause = fitCause({ exitCode: code, durationSeconds, outputTail });
      return { ...(await reportFailure(reporter, JOB_ERRORS.NON_ZERO_EXIT, cause, log)), jobExitCode: code };
    }

    const result = readResultFile(resultFile);
    if ('invalid' in result) {
      log(`the job exited 0 but its result is unusable: ${result.invalid}`);
      const cause = fitCause({ exitCode: 0, durationSeconds, message: result.invalid, outputTail });
      return { ...(await reportFailure(reporter, INVALID_RESULT_ERROR, cause, log)), jobExitCode: 0 };
    }
    const output: JobSuccessOutput = { exitCode: 0, durationSeconds, outputTail, result: result.value };
    const size = Buffer.byteLength(JSON.stringify(output), 'utf8');
    if (size > MAX_OUTPUT_BYTES) {
      const message = `the task output would be ${size} bytes; Step Functions accepts at most ${MAX_OUTPUT_BYTES} (write a smaller result)`;
      log(`the job exited 0 but its result is unusable: ${message}`);
      const cause = fitCause({ exitCode: 0, durationSeconds, message, outputTail });
      return { ...(await reportFailure(reporter, INVALID_RESULT_ERROR, cause, log)), jobExitCode: 0 };
    }
    log(`the job succeeded in ${durationSeconds} s; reporting success`);
    try {
      await reporter.succeed(output);
    } catch (e) {
      return reportErrorResult(e, log, { jobExitCode: 0 });
    }
    return { outcome: 'succeeded', exitCode: CLI_EXIT.OK, jobExitCode: 0, output };
  } finally {
    acceptingStops = false;
    loops.abort();
    for (const t of timers) clearTimeout(t);
    if (handleSignals) {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
    if (child?.pid && !childEnded) signalGroup(child.pid, 'SIGKILL');
    process.off('exit', onExit);
    stdout.removeListener('error', ignoreStreamError);
    stderr.removeListener('error', ignoreStreamError);
    if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
    if (logFile) await new Promise<void>((resolve) => logFile!.end(() => resolve()));
    if (ownsReporter) reporter.destroy();
  }
}

type ClaimResult =
  | { kind: 'claimed' }
  | { kind: 'lost'; reason: string; message: string }
  | { kind: 'unusable'; error: unknown };

/** First heartbeat: retried until it works, the token is gone, or heartbeatSeconds passed. */
async function claimToken(reporter: TaskReporter, heartbeatMs: number, intervalMs: number, log: Log, signal: AbortSignal): Promise<ClaimResult> {
  const deadline = Date.now() + heartbeatMs;
  for (;;) {
    try {
      await reporter.heartbeat({ deadline, signal });
      return { kind: 'claimed' };
    } catch (e) {
      if (signal.aborted) return { kind: 'claimed' }; // superseded by a stop request; the value is ignored
      const reason = lostTaskReason(e);
      if (reason) return { kind: 'lost', reason, message: errorMessage(e) };
      if (!isRetryableError(e) && (e as { name?: string }).name !== 'TimeoutError') return { kind: 'unusable', error: e };
      if (Date.now() >= deadline) {
        return { kind: 'lost', reason: 'HeartbeatsFailing', message: `the first heartbeat kept failing for ${heartbeatMs / 1000} s: ${describeError(e)}` };
      }
      log(`first heartbeat failed (${describeError(e)}); trying again`);
      await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())), [signal]).catch(() => undefined);
    }
  }
}

function lostResult(log: Log, reason: string, message: string): RunResult {
  log(`the task is lost (${reason}): ${message}. The job was not completed and no result is reported.`);
  return { outcome: 'lost', exitCode: CLI_EXIT.LOST, lostReason: reason };
}

async function reportStop(
  reporter: TaskReporter,
  stop: Exclude<StopRequest, { kind: 'lost' }>,
  info: { durationSeconds: number; outputTail: string },
  log: Log,
): Promise<RunResult> {
  if (stop.kind === 'interrupted') {
    return reportFailure(reporter, JOB_ERRORS.INTERRUPTED, fitCause({ signal: stop.signal, ...info }), log);
  }
  return reportFailure(reporter, JOB_ERRORS.SPOT_INTERRUPTED, fitCause({ action: stop.notice.action, time: stop.notice.time, ...info }), log);
}

async function reportFailure(reporter: TaskReporter, error: string, cause: string, log: Log): Promise<RunResult> {
  log(`reporting failure ${error}`);
  try {
    await reporter.fail(error, cause);
  } catch (e) {
    return reportErrorResult(e, log, { error, cause });
  }
  return { outcome: 'failed', exitCode: CLI_EXIT.JOB_FAILED, error, cause };
}

function reportErrorResult(e: unknown, log: Log, extra: Partial<RunResult>): RunResult {
  const reason = lostTaskReason(e);
  if (reason) {
    log(`the task is lost (${reason}) — the result was not accepted: ${errorMessage(e)}`);
    return { ...extra, outcome: 'lost', exitCode: CLI_EXIT.LOST, lostReason: reason };
  }
  log(`could not report the result: ${describeError(e)}`);
  return { ...extra, outcome: 'report-failed', exitCode: CLI_EXIT.REPORT_FAILED, reportError: e };
}

/** Read the job's result file: `{ value }` (undefined if absent/empty) or `{ invalid: reason }`. */
function readResultFile(file: string): { value: unknown } | { invalid: string } {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    return { value: undefined };
  }
  if (stat.size > MAX_OUTPUT_BYTES) {
    return { invalid: `${ENV.RESULT_FILE} is ${stat.size} bytes; Step Functions accepts at most ${MAX_OUTPUT_BYTES} bytes of task output` };
  }
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    return { invalid: `${ENV.RESULT_FILE} cannot be read: ${errorMessage(e)}` };
  }
  if (text.trim() === '') return { value: undefined };
  try {
    return { value: JSON.parse(text) };
  } catch (e) {
    return { invalid: `${ENV.RESULT_FILE} does not hold valid JSON: ${errorMessage(e)}` };
  }
}

/** JSON cause of a failure, with `outputTail` shortened (from its start) until it fits MAX_CAUSE_CHARS. */
export function fitCause(fields: Record<string, unknown> & { outputTail?: string }): string {
  const full = JSON.stringify(fields);
  const tailText = fields.outputTail ?? '';
  if (full.length <= MAX_CAUSE_CHARS || tailText.length === 0) return full;
  // Binary search for the longest suffix of the tail that fits (escaping makes the JSON length non-linear).
  const withTail = (keep: number) => JSON.stringify({ ...fields, outputTail: dropLeadingLowSurrogate(tailText.slice(tailText.length - keep)) });
  let lo = 0;
  let hi = tailText.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (withTail(mid).length <= MAX_CAUSE_CHARS) lo = mid;
    else hi = mid - 1;
  }
  return withTail(lo);
}

// ---------------------------------------------------------------------------------------------------------------------
// Child process handling
// ---------------------------------------------------------------------------------------------------------------------

interface StartedChild {
  child: ChildProcess;
  ended: Promise<ChildEnd>;
  /** Wait (up to `ms`) until the job's output streams are closed, then stop reading them. */
  drained(ms: number): Promise<void>;
}

function startChild(
  command: string,
  args: string[],
  opts: {
    env: NodeJS.ProcessEnv; cwd?: string; stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream; tail: TailBuffer; logFile?: fs.WriteStream;
  },
): StartedChild {
  // Own process group (detached), so the whole job (including its children) can be signalled at once.
  let child: ChildProcess;
  try {
    child = spawn(command, args, { env: opts.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  } catch (e) {
    // Invalid arguments (e.g. a NUL byte) throw at once instead of emitting 'error'.
    const err = e as NodeJS.ErrnoException;
    const dummy = Object.assign(new EventEmitter(), { pid: undefined, stdout: null, stderr: null }) as unknown as ChildProcess;
    return { child: dummy, ended: Promise.resolve({ code: null, signal: null, spawnError: err }), drained: async () => undefined };
  }
  let closed = false;
  const closedPromise = new Promise<void>((resolve) => child.once('close', () => {
    closed = true;
    resolve();
  }));
  const ended = new Promise<ChildEnd>((resolve) => {
    child.on('error', (err: NodeJS.ErrnoException) => {
      // 'error' without a pid: the command could not start. (With a pid, it is a failed kill(); 'exit' follows.)
      if (child.pid === undefined) resolve({ code: null, signal: null, spawnError: err });
    });
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  if (child.stdout) forward(child.stdout, opts.stdout, opts.tail, opts.logFile);
  if (child.stderr) forward(child.stderr, opts.stderr, opts.tail, opts.logFile);
  return {
    child,
    ended,
    drained: async (ms) => {
      if (!closed) await Promise.race([closedPromise, delay(ms)]);
      child.stdout?.destroy();
      child.stderr?.destroy();
    },
  };
}

function forward(from: NodeJS.ReadableStream, to: NodeJS.WritableStream, tail: TailBuffer, copy?: fs.WriteStream): void {
  from.on('data', (chunk: Buffer) => {
    tail.push(chunk);
    if (copy && !copy.destroyed) copy.write(chunk);
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  from.on('error', () => undefined);
}

/** Open a file for appending the job's output; `undefined` (and a warning) if it cannot be opened. */
function openLogFile(file: string, log: Log): fs.WriteStream | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, 'a');
  } catch (e) {
    log(`cannot open the log file ${file} (${errorMessage(e)}); the job's output is not copied there`);
    return undefined;
  }
  const stream = fs.createWriteStream(file, { fd });
  stream.on('error', (e) => log(`writing the log file ${file} failed: ${errorMessage(e)}`));
  return stream;
}

/** SIGTERM the job's process group, SIGKILL it after `graceMs` if the job (or anything in its group) is still there. */
async function stopChild(child: ChildProcess, ended: Promise<ChildEnd>, graceMs: number, log: Log): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  let exited = false;
  void ended.then(() => (exited = true));
  signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && !(exited && !groupAlive(pid))) {
    await delay(Math.min(50, Math.max(1, deadline - Date.now())));
  }
  if (!exited || groupAlive(pid)) {
    log(`the job did not stop within ${graceMs} ms of SIGTERM; sending SIGKILL`);
    signalGroup(pid, 'SIGKILL');
  }
  await Promise.race([ended, delay(5_000)]);
}

/** Send a signal to a process group; ignores groups that are already gone. */
function signalGroup(pgid: number | undefined, signal: NodeJS.Signals): void {
  if (!pgid) return;
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: nothing left in the group.
  }
}

/** Whether any live (non-zombie) process is in the process group. Uses /proc on Linux; falls back to kill(0). */
function groupAlive(pgid: number): boolean {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // pid (comm) state ppid pgrp ... — comm may contain spaces and parentheses, so parse after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') return true;
  }
  return false;
}

/** Keeps the last `limit` bytes written to it. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}

  public push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.chunks.length > 1 && this.size - this.chunks[0].length >= this.limit) {
      this.size -= this.chunks.shift()!.length;
    }
  }

  /** The kept bytes as UTF-8 (a character cut at the start is dropped). */
  public toString(): string {
    let buf = Buffer.concat(this.chunks);
    if (buf.length > this.limit) buf = buf.subarray(buf.length - this.limit);
    let start = 0;
    // Skip UTF-8 continuation bytes (10xxxxxx) of a character cut in half.
    while (start < buf.length && start < 3 && buf[start] >= 0x80 && buf[start] < 0xc0) start++;
    return buf.subarray(start).toString('utf8');
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Spot interruption notices (IMDSv2)
// ---------------------------------------------------------------------------------------------------------------------

const IMDS_TOKEN_TTL_SECONDS = 21_600;
const IMDS_TIMEOUT_MS = 1_000;

/** Polls `spot/instance-action` through IMDSv2. Never throws; logs once while metadata is unreachable. */
class SpotWatcher {
  private token?: { value: string; expires: number };
  private unreachableLogged = false;

  private readonly endpoint: string;
  constructor(endpoint: string, private readonly log: Log) {
    this.endpoint = endpoint.replace(/\/+$/, '');
  }

  public async check(): Promise<SpotNotice | undefined> {
    try {
      const notice = await this.poll(true);
      this.unreachableLogged = false;
      return notice;
    } catch (e) {
      if (!this.unreachableLogged) {
        this.unreachableLogged = true;
        this.log(`instance metadata at ${this.endpoint} is not answering (${describeError(e)}); Spot interruption notices cannot be seen until it does`);
      }
      return undefined;
    }
  }

  private async poll(retryOn401: boolean): Promise<SpotNotice | undefined> {
    if (!this.token || Date.now() >= this.token.expires) {
      const res = await imdsRequest(`${this.endpoint}/latest/api/token`, 'PUT', { 'X-aws-ec2-metadata-token-ttl-seconds': String(IMDS_TOKEN_TTL_SECONDS) });
      if (res.status !== 200) throw new Error(`token request answered HTTP ${res.status}`);
      this.token = { value: res.body.trim(), expires: Date.now() + (IMDS_TOKEN_TTL_SECONDS - 60) * 1000 };
    }
    const res = await imdsRequest(`${this.endpoint}/latest/meta-data/spot/instance-action`, 'GET', { 'X-aws-ec2-metadata-token': this.token.value });
    if (res.status === 404) return undefined;
    if (res.status === 401 && retryOn401) {
      this.token = undefined;
      return this.poll(false);
    }
    if (res.status !== 200) throw new Error(`spot/instance-action answered HTTP ${res.status}`);
    let parsed: { action?: unknown; time?: unknown } = {};
    try {
      parsed = JSON.parse(res.body);
    } catch {
      // A 200 is a notice even if its body is odd.
    }
    return {
      action: typeof parsed.action === 'string' ? parsed.action : res.body.trim() || 'unknown',
      time: typeof parsed.time === 'string' ? parsed.time : '',
    };
  }
}

function imdsRequest(url: string, method: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, timeout: IMDS_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(Object.assign(new Error(`timed out after ${IMDS_TIMEOUT_MS} ms`), { code: 'ETIMEDOUT' })), IMDS_TIMEOUT_MS);
    req.on('timeout', () => req.destroy(Object.assign(new Error(`timed out after ${IMDS_TIMEOUT_MS} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.on('close', () => clearTimeout(timer));
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------------------------------

/** Cut `text` to at most `max` UTF-16 units, keeping its head. */
export function truncateHead(text: string, max: number): string {
  if (text.length <= max) return text;
  let out = text.slice(0, max);
  const last = out.charCodeAt(out.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) out = out.slice(0, -1);
  return out;
}

/** Cut `text` to at most `max` UTF-16 units, keeping its tail, prefixed with a note of how much was cut. */
export function truncateTail(text: string, max: number): string {
  if (text.length <= max) return text;
  const marker = `[... ${text.length} chars, head truncated] `;
  if (marker.length >= max) return dropLeadingLowSurrogate(text.slice(text.length - max));
  return marker + dropLeadingLowSurrogate(text.slice(text.length - (max - marker.length)));
}

function dropLeadingLowSurrogate(text: string): string {
  const first = text.charCodeAt(0);
  return first >= 0xdc00 && first <= 0xdfff ? text.slice(1) : text;
}

function quoteArg(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, '\'\\\'\'')}'`;
}

// Activity mode lives in its own module; it uses the reporter and retry policy above (only at call time).
export * from './activity';
