/**
 * What a run reports when it ends: the job's outcome as SendTaskSuccess/SendTaskFailure, and the {@link RunResult}.
 */
import * as fs from 'fs';
import { lostTaskReason } from './errors';
import type { Log } from './log';
import type { TaskReporter } from './reporter';
import { spilledResultUrl, storeResult } from './result-spill';
import type { ResultSpillOptions, SpillLocation } from './result-spill';
import type { SpotNotice } from './spot-watcher';
import { fitCause } from './text';
import { describeError, errorMessage } from './util';
import { CLI_EXIT, ENV, JOB_ERRORS, MAX_INLINE_RESULT_BYTES, OUTPUT_STAGING_FAILED_EXIT } from '../protocol';

/**
 * Error name reported when the job exited 0 but its result cannot be returned: the result file is not valid JSON or
 * over MAX_RESULT_FILE_BYTES, or it is over MAX_INLINE_RESULT_BYTES with no S3 location to store it in.
 */
export const INVALID_RESULT_ERROR = JOB_ERRORS.INVALID_RESULT;

/**
 * Largest task output SendTaskSuccess accepts, in bytes (UTF-8): `output` has a maximum length of 262144
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html). SNS's limit for a
 * message is the same number: "at most 256 KB in size (262,144 bytes, not 262,144 characters)"
 * (test/fixtures/aws/sns-publish-limits.json). The runtime's outputs stay far below it (see the README).
 */
export const MAX_OUTPUT_BYTES = 262_144;

/**
 * Largest result file the runtime takes, in bytes (16 MiB). A result over MAX_INLINE_RESULT_BYTES is read, parsed
 * and stored with one PutObject, all in the runtime's memory, on an instance that is about to be terminated: bulk
 * data belongs in S3 (the job's output directory), the result is what describes it.
 */
export const MAX_RESULT_FILE_BYTES = 16 * 1024 * 1024;

/**
 * How a run ended:
 * - `succeeded`: the job exited 0 and success was reported;
 * - `failed`: the job failed (or was stopped) and failure was reported;
 * - `lost`: the task token is gone (timed out / invalid): the job was stopped and nothing was reported;
 * - `report-failed`: the outcome could not be reported (the endpoint kept failing, or refused the call).
 */
export type RunOutcome = 'succeeded' | 'failed' | 'lost' | 'report-failed';

/** The result of `runJob`. */
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

/**
 * The task output of a successful job. A result file with JSON in it gives `result` (up to MAX_INLINE_RESULT_BYTES of
 * compact JSON), or, when it is larger, `resultLocation` and `resultBytes`: the same compact JSON stored in S3.
 */
export interface JobSuccessOutput {
  readonly exitCode: 0;
  readonly durationSeconds: number;
  readonly outputTail: string;
  readonly result?: unknown;
  /** `s3://BUCKET/KEY` of the stored result, when it was too large to return inline. */
  readonly resultLocation?: string;
  /** Size of the stored result (its compact JSON, UTF-8), in bytes. */
  readonly resultBytes?: number;
}

/** Why a running job is stopped: the first of a lost token, a signal to the runtime, or a Spot notice. */
export type StopRequest =
  | { kind: 'lost'; reason: string; message: string }
  | { kind: 'interrupted'; signal: NodeJS.Signals }
  | { kind: 'spot'; notice: SpotNotice };

/** What the job left behind when it ended. */
export interface JobEndInfo {
  readonly durationSeconds: number;
  readonly outputTail: string;
}

/** The task is lost: nothing is (or can be) reported. */
export function lostResult(log: Log, reason: string, message: string): RunResult {
  log(`the task is lost (${reason}): ${message}. The job was not completed and no result is reported.`);
  return { outcome: 'lost', exitCode: CLI_EXIT.LOST, lostReason: reason };
}

/** Report a job stopped by a signal to the runtime (`Job.Interrupted`) or a Spot notice (`Job.SpotInterrupted`). */
export async function reportStop(
  reporter: TaskReporter,
  stop: Exclude<StopRequest, { kind: 'lost' }>,
  info: JobEndInfo,
  log: Log,
): Promise<RunResult> {
  if (stop.kind === 'interrupted') {
    return reportFailure(reporter, JOB_ERRORS.INTERRUPTED, fitCause({ signal: stop.signal, ...info }), log);
  }
  return reportFailure(reporter, JOB_ERRORS.SPOT_INTERRUPTED, fitCause({ action: stop.notice.action, time: stop.notice.time, ...info }), log);
}

/** Report a job that could not start (`Job.StartFailed`). */
export async function reportStartFailed(reporter: TaskReporter, command: string, err: NodeJS.ErrnoException, log: Log): Promise<RunResult> {
  const cause = fitCause({ command, code: err.code, message: err.message });
  log(`the job could not start: ${err.message}`);
  return reportFailure(reporter, JOB_ERRORS.START_FAILED, cause, log);
}

/** How a job that ended by itself is reported: a success output, or a failure's error and cause. */
export type JobEndReport =
  | { readonly kind: 'success'; readonly output: JobSuccessOutput }
  | { readonly kind: 'failure'; readonly error: string; readonly cause: string; readonly jobExitCode?: number; readonly jobSignal?: string };

/** What {@link settleJobEnd} needs besides how the job ended. */
export interface JobEndContext extends JobEndInfo {
  /** The job's result file (`SSP_RESULT_FILE`). */
  readonly resultFile: string;
  /** Where to store a result over MAX_INLINE_RESULT_BYTES; without it, such a result is `Job.InvalidResult`. */
  readonly spill?: { readonly location: SpillLocation } & Omit<ResultSpillOptions, 'location'>;
}

/**
 * Decide how a job that ended by itself is reported: `Job.Killed` (a signal), `Job.NonZeroExit` (any exit code but
 * 0), or success with the JSON of the result file: inline as `result` up to MAX_INLINE_RESULT_BYTES (of compact
 * JSON), else stored in S3 (`spill`) and named as `resultLocation` + `resultBytes`. A result file that is not JSON or
 * too large, or a large result with nowhere to go, is `Job.InvalidResult`; a large result that could not be stored is
 * `Job.ResultNotStored`. Storing runs here, before the caller stops heartbeating, so a slow upload keeps the task.
 */
export async function settleJobEnd(
  end: { code: number | null; signal: NodeJS.Signals | null },
  context: JobEndContext,
  log: Log,
): Promise<JobEndReport> {
  const { durationSeconds, outputTail } = context;
  if (end.signal) {
    log(`the job was killed by ${end.signal}`);
    return { kind: 'failure', error: JOB_ERRORS.KILLED, cause: fitCause({ signal: end.signal, durationSeconds, outputTail }), jobSignal: end.signal };
  }
  const code = end.code ?? -1;
  if (code !== 0) {
    const note = code === OUTPUT_STAGING_FAILED_EXIT ? ' (the exit status the bootstrap gives a job whose output could not be staged out)' : '';
    log(`the job exited with code ${code}${note}`);
    return { kind: 'failure', error: JOB_ERRORS.NON_ZERO_EXIT, cause: fitCause({ exitCode: code, durationSeconds, outputTail }), jobExitCode: code };
  }

  const unusable = (message: string): JobEndReport => {
    log(`the job exited 0 but its result is unusable: ${message}`);
    return { kind: 'failure', error: INVALID_RESULT_ERROR, cause: fitCause({ exitCode: 0, durationSeconds, message, outputTail }), jobExitCode: 0 };
  };
  const read = readResultFile(context.resultFile);
  if ('invalid' in read) return unusable(read.invalid);
  const base = { exitCode: 0 as const, durationSeconds, outputTail };
  if (read.value === undefined) return succeeded(base, log);
  const json = JSON.stringify(read.value);
  const resultBytes = Buffer.byteLength(json, 'utf8');
  if (resultBytes <= MAX_INLINE_RESULT_BYTES) return succeeded({ ...base, result: read.value }, log);

  const spill = context.spill;
  if (!spill) {
    return unusable(`the result is ${resultBytes} bytes of JSON, over the ${MAX_INLINE_RESULT_BYTES} returned inline, and the runtime `
      + 'was given no S3 location to store it in (run --spill-to). The task output and its notification must stay within Step '
      + `Functions' and SNS's limits (at most ${MAX_OUTPUT_BYTES} bytes each).`);
  }
  const url = spilledResultUrl(spill.location);
  log(`the result is ${resultBytes} bytes, over the ${MAX_INLINE_RESULT_BYTES} returned inline: storing it at ${url}`);
  try {
    await storeResult(spill.location, json, { s3Client: spill.s3Client, retry: spill.retry, log });
  } catch (e) {
    const message = `the result (${resultBytes} bytes) could not be stored at ${url}: ${describeError(e)}`;
    log(`the job exited 0 but ${message}`);
    return {
      kind: 'failure',
      error: JOB_ERRORS.RESULT_NOT_STORED,
      cause: fitCause({ exitCode: 0, durationSeconds, message, resultBytes, outputTail }),
      jobExitCode: 0,
    };
  }
  log(`stored the result at ${url}`);
  return succeeded({ ...base, resultLocation: url, resultBytes }, log);
}

function succeeded(output: JobSuccessOutput, log: Log): JobEndReport {
  log(`the job succeeded in ${output.durationSeconds} s; reporting success`);
  return { kind: 'success', output };
}

/** Report what {@link settleJobEnd} decided. */
export async function reportJobEnd(reporter: TaskReporter, report: JobEndReport, log: Log): Promise<RunResult> {
  if (report.kind === 'failure') {
    const { error, cause, jobExitCode, jobSignal } = report;
    const result = await reportFailure(reporter, error, cause, log);
    return { ...result, ...(jobExitCode !== undefined ? { jobExitCode } : {}), ...(jobSignal !== undefined ? { jobSignal } : {}) };
  }
  try {
    await reporter.succeed(report.output);
  } catch (e) {
    return reportErrorResult(e, log, { jobExitCode: 0 });
  }
  return { outcome: 'succeeded', exitCode: CLI_EXIT.OK, jobExitCode: 0, output: report.output };
}

/** Send SendTaskFailure; the result says whether it was delivered. */
export async function reportFailure(reporter: TaskReporter, error: string, cause: string, log: Log): Promise<RunResult> {
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
  if (stat.size > MAX_RESULT_FILE_BYTES) {
    return {
      invalid: `${ENV.RESULT_FILE} is ${stat.size} bytes; the runtime takes results of at most ${MAX_RESULT_FILE_BYTES} bytes `
        + '(store bulk data in S3 and return its location)',
    };
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
