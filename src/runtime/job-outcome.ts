/**
 * What a run reports when it ends: the job's outcome as SendTaskSuccess/SendTaskFailure, and the {@link RunResult}.
 */
import * as fs from 'fs';
import { lostTaskReason } from './errors';
import type { Log } from './log';
import type { TaskReporter } from './reporter';
import type { SpotNotice } from './spot-watcher';
import { fitCause } from './text';
import { describeError, errorMessage } from './util';
import { CLI_EXIT, ENV, JOB_ERRORS, OUTPUT_STAGING_FAILED_EXIT } from '../protocol';

/**
 * Error name reported when the job exited 0 but its result cannot be returned: the result file is not valid JSON,
 * or the task output would exceed the Step Functions payload limit (256 KiB).
 */
export const INVALID_RESULT_ERROR = JOB_ERRORS.INVALID_RESULT;

/**
 * Largest task output SendTaskSuccess accepts, in bytes (UTF-8): `output` has a maximum length of 262144
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html).
 */
export const MAX_OUTPUT_BYTES = 262_144;

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

/** The task output of a successful job. `result` is present only if the job wrote its result file. */
export interface JobSuccessOutput {
  readonly exitCode: 0;
  readonly durationSeconds: number;
  readonly outputTail: string;
  readonly result?: unknown;
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

/**
 * Report a job that ended by itself: `Job.Killed` (a signal), `Job.NonZeroExit` (any exit code but 0), or success
 * with the JSON of `resultFile` as `result` (`Job.InvalidResult` if that is not JSON or the output is too large).
 */
export async function reportJobEnd(
  reporter: TaskReporter,
  end: { code: number | null; signal: NodeJS.Signals | null },
  info: JobEndInfo & { resultFile: string },
  log: Log,
): Promise<RunResult> {
  const { durationSeconds, outputTail } = info;
  if (end.signal) {
    log(`the job was killed by ${end.signal}`);
    const cause = fitCause({ signal: end.signal, durationSeconds, outputTail });
    return { ...(await reportFailure(reporter, JOB_ERRORS.KILLED, cause, log)), jobSignal: end.signal };
  }
  const code = end.code ?? -1;
  if (code !== 0) {
    const note = code === OUTPUT_STAGING_FAILED_EXIT ? ' (the exit status the bootstrap gives a job whose output could not be staged out)' : '';
    log(`the job exited with code ${code}${note}`);
    const cause = fitCause({ exitCode: code, durationSeconds, outputTail });
    return { ...(await reportFailure(reporter, JOB_ERRORS.NON_ZERO_EXIT, cause, log)), jobExitCode: code };
  }

  const result = readResultFile(info.resultFile);
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
