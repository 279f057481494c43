/**
 * {@link runJob}: run a command under a task token, heartbeating while it runs, and report how it ended.
 */
import type { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { groupAlive, openLogFile, signalGroup, startChild, stopChild, TailBuffer } from './child-process';
import { claimToken, defaultHeartbeatIntervalMs, startHeartbeatLoop } from './heartbeats';
import { lostResult, reportFailure, reportJobEnd, reportStartFailed, reportStop, settleJobEnd } from './job-outcome';
import type { RunResult, StopRequest } from './job-outcome';
import { stderrLog } from './log';
import type { Log } from './log';
import { Loops } from './loops';
import { TaskReporter } from './reporter';
import type { FinalOutcome } from './reporter';
import { parseSpillLocation } from './result-spill';
import type { ResultSpillOptions } from './result-spill';
import { DEFAULT_IMDS_ENDPOINT, SpotWatcher, startSpotLoop } from './spot-watcher';
import { checkJobEnv } from './task-document';
import { fitCause, quoteArg } from './text';
import { describeError } from './util';
import { CLI_EXIT, ENV, JOB_ERRORS, OUTPUT_TAIL_BYTES, SHARD_ENV } from '../protocol';
import type { TaskDocument, TaskFields } from '../protocol';

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
   * heartbeatSeconds / 3 (at least 200 ms); see {@link defaultHeartbeatIntervalMs}.
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
  /**
   * Where to store a result over MAX_INLINE_RESULT_BYTES (`location`: `s3://BUCKET/PREFIX/`, the object is
   * `PREFIX/result.json`). Without it, such a result is reported as `Job.InvalidResult`. An invalid `location`
   * rejects at once, before the token is claimed.
   */
  readonly spill?: ResultSpillOptions;
  /**
   * Log the job's arguments from the task document. Default: only when `SSP_LOG_ARGS` is `1` in `env` (default
   * `process.env`) or in the task document's `env`; otherwise only their number is logged (they are the execution
   * input's, and may hold secrets).
   */
  readonly logArgs?: boolean;
}

/** Default grace between SIGTERM and SIGKILL when the job must be stopped, in ms. */
const DEFAULT_KILL_GRACE_MS = 10_000;

/**
 * Run a command under a task token and report its outcome. Never throws for job or reporting failures: the outcome
 * is in the returned {@link RunResult}.
 *
 * 1. Claims the token with a first heartbeat (retrying for up to heartbeatSeconds). If the token is already gone, the
 *    command is not started (`lost`).
 * 2. Starts the command in its own process group, no shell, stdin from /dev/null, stdout/stderr forwarded live; keeps
 *    the last OUTPUT_TAIL_BYTES of the combined output. The log line that says so names the command and `args`, and
 *    only the number of the task document's `args` (see `logArgs`). The job's environment is `env` (default
 *    `process.env`), then the task document's `env`, then `SSP_RESULT_FILE` (a fresh temp file path; the job may write
 *    JSON there), `SSP_EXECUTION_NAME`, `SSP_EXECUTION_ARN` and (when the document has `attempt`) `SSP_ATTEMPT`. If
 *    the task's `env` is invalid (see {@link checkJobEnv}), the job is not started and `Job.InvalidEnv` is reported,
 *    with a cause `{ message, name? }` naming the variable.
 * 3. Heartbeats every interval, and polls instance metadata for a Spot interruption notice on the same cadence.
 * 4. Reports:
 *    - exit 0: success `{ exitCode: 0, durationSeconds, outputTail, result? }` (`result`: the JSON in the result file, if
 *      the job wrote a non-empty one). A result over MAX_INLINE_RESULT_BYTES of compact JSON is stored in S3 at
 *      `spill.location` + `result.json` (heartbeats go on meanwhile), and the output has `resultLocation` and
 *      `resultBytes` instead of `result`. A result file that is not valid JSON or over MAX_RESULT_FILE_BYTES, or a
 *      large result without `spill`, is reported as `Job.InvalidResult` (a job that "succeeded" with an unusable
 *      result must not look successful); a large result that could not be stored as `Job.ResultNotStored`;
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
  const spill = options.spill && { ...options.spill, location: parseSpillLocation(options.spill.location) };
  const env = options.env ?? process.env;
  const log = options.log ?? stderrLog;
  const task = options.task;
  const heartbeatMs = task.heartbeatSeconds * 1000;
  const intervalMs = options.heartbeatIntervalMs ?? defaultHeartbeatIntervalMs(task.heartbeatSeconds, process.env);
  const killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
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

  const loops = new Loops();
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
      loops.stop();
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
    Object.assign(childEnv, shardEnv(task.shard));

    const logArgs = options.logArgs ?? (env[ENV.LOG_ARGS] === '1' || task.env?.[ENV.LOG_ARGS] === '1');
    log(`starting ${describeCommand(options.command, options.args ?? [], task.args ?? [], logArgs)}`);
    startedAt = Date.now();
    if (options.logFile !== undefined) logFile = openLogFile(options.logFile, log);
    const started = startChild(options.command, args, { env: childEnv, cwd: options.cwd, stdout, stderr, tail, logFile });
    child = started.child;
    const ended = started.ended.then((e) => {
      childEnded = true;
      return e;
    });

    // 3. Heartbeat and Spot loops.
    startHeartbeatLoop({
      reporter,
      heartbeatSeconds: task.heartbeatSeconds,
      intervalMs,
      loops,
      log,
      onLost: (reason, message) => requestStop({ kind: 'lost', reason, message }),
    });
    if (spotCheck) {
      const watcher = new SpotWatcher(options.imdsEndpoint ?? process.env[ENV.IMDS_ENDPOINT] ?? DEFAULT_IMDS_ENDPOINT, log);
      startSpotLoop(watcher, intervalMs, loops, log, (notice) => requestStop({ kind: 'spot', notice }));
    }

    // 4. Wait for the job to end, or for a reason to stop it.
    const first = await Promise.race([ended, stopped]);

    if ('kind' in first) {
      loops.stop();
      const graceMs = first.kind === 'lost' ? Math.min(killGraceMs, intervalMs) : killGraceMs;
      await stopChild(child, ended, graceMs, log);
      await started.drained(1_000);
      if (first.kind === 'lost') return lostResult(log, first.reason, first.message);
      return await reportStop(reporter, first, { durationSeconds: duration(), outputTail: tail.toString() }, log);
    }

    // The job ended by itself; no more stop requests (signals now wait for the report).
    acceptingStops = false;
    if (first.spawnError) {
      loops.stop();
      return await reportStartFailed(reporter, options.command, first.spawnError, log);
    }
    if (child.pid && groupAlive(child.pid)) {
      log('the job left processes running in its process group; stopping them');
      await stopChild(child, ended, killGraceMs, log);
    }
    await started.drained(1_000);
    // Heartbeats go on while the result is read and, if large, stored in S3; a task lost meanwhile is found out
    // when the result is sent.
    const report = await settleJobEnd(first, { durationSeconds: duration(), outputTail: tail.toString(), resultFile, spill }, log);
    loops.stop();
    return await reportJobEnd(reporter, report, log);
  } finally {
    acceptingStops = false;
    loops.stop();
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

/**
 * The job's command line for the log: the command and the arguments the caller gave (the bootstrap's own, which say
 * what runs), then the task document's arguments, or only how many there are unless `logArgs`.
 */
function describeCommand(command: string, callerArgs: readonly string[], taskArgs: readonly string[], logArgs: boolean): string {
  const words = [command, ...callerArgs, ...(logArgs ? taskArgs : [])].map(quoteArg).join(' ');
  if (logArgs || taskArgs.length === 0) return words;
  const count = taskArgs.length === 1 ? '1 argument' : `${taskArgs.length} arguments`;
  return `${words} with ${count} from the task (not logged; set ${ENV.LOG_ARGS}=1 to log them)`;
}

/**
 * Fan-out: the SSP_SHARD_* variables for a task whose `shard` names one (the input validation lets only a numeric
 * `index` and `count` and a present `value` through); none for `{}` or no shard. A string value is exported as is,
 * any other as its JSON text.
 */
export function shardEnv(shard: TaskFields['shard']): Record<string, string> {
  if (!shard || typeof shard.index !== 'number' || typeof shard.count !== 'number' || !('value' in shard)) return {};
  return {
    [SHARD_ENV.INDEX]: String(shard.index),
    [SHARD_ENV.COUNT]: String(shard.count),
    [SHARD_ENV.VALUE]: typeof shard.value === 'string' ? shard.value : JSON.stringify(shard.value),
  };
}
