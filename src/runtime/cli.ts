/**
 * Entry point of the job-side runtime bundle (`assets/runtime/cli/heartbeat.js`).
 *
 * Executed, it runs the CLI (see {@link USAGE}); `require()`d, it only exports the library API of `./index`.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import {
  ActivityClaimError, claimActivityTask, DEFAULT_ACTIVITY_POLL_TIMEOUT_MS, DEFAULT_ACTIVITY_WAIT_SECONDS, DEFAULT_HANDOFF_INTERVAL_MS,
  lostTaskReason, readTaskDocument, runJob, stderrLog, TaskDocumentError, TaskReporter,
} from './index';
import type { FinalOutcome, RunJobTask } from './index';
import { CLI_EXIT, ENV, HANDOFF_PREFIX, JOB_ERRORS, OWNER_TAG } from '../protocol';

export * from './index';

/** Longest the --before-report command may take. */
const BEFORE_REPORT_TIMEOUT_MS = 120_000;

export const USAGE = `Usage:
  heartbeat.js run [--task-file FILE] [--heartbeat-seconds N] [--kill-grace-seconds N] [--log-file FILE]
                   [--before-report SHELL_COMMAND] -- COMMAND [ARGS...]
      Claim the task token, run COMMAND (no shell) with ARGS and the task document's "args" appended,
      heartbeat while it runs, and report its outcome to Step Functions. The job's output is forwarded
      to this process's stdout/stderr (and appended to --log-file FILE, if given).
      --heartbeat-seconds overrides the task document's; --kill-grace-seconds (default 10) is how long
      a job that must be stopped gets between SIGTERM and SIGKILL. --before-report runs SHELL_COMMAND
      (with /bin/sh, at most ${BEFORE_REPORT_TIMEOUT_MS / 1000} s) after the log file is flushed and before the result is sent,
      e.g. to upload the log while the instance still exists; its failure does not stop the report.
      It gets $${ENV.OUTCOME}=succeeded or failed: the result about to be sent.
      The job gets the task document's "env" (names like [A-Za-z_][A-Za-z0-9_]*, string values; otherwise
      it is not started and ${JOB_ERRORS.INVALID_ENV} is reported), then $${ENV.RESULT_FILE}, $${ENV.EXECUTION_NAME},
      $${ENV.EXECUTION_ARN} and, with "attempt" in the document, $${ENV.ATTEMPT}.
  heartbeat.js fail [--task-file FILE] [--error NAME] [--cause TEXT | --cause-file FILE]
      Report a failure for the task (default error: ${JOB_ERRORS.BOOTSTRAP_FAILED}).
  heartbeat.js heartbeat [--task-file FILE]
      Send one heartbeat for the task.
  heartbeat.js claim-activity --activity-arn ARN --instance-id IID --bucket BUCKET
                   --owner-tag-value ROLEID:IID --out FILE [--wait-seconds N]
                   [--poll-timeout-seconds N] [--handoff-interval-seconds N]
      Activity mode: poll the activity (GetActivityTask, workerName IID) until this instance's task
      (input "instanceId": IID) turns up, and write it to FILE as a task document (atomically; FILE
      appearing is the signal to go on). A task drawn for another instance is heartbeated once and left
      for it at s3://BUCKET/${HANDOFF_PREFIX}<its IID>.json, tagged ${OWNER_TAG}=ROLEID:<its IID>; meanwhile
      s3://BUCKET/${HANDOFF_PREFIX}IID.json is checked every --handoff-interval-seconds (default
      ${DEFAULT_HANDOFF_INTERVAL_MS / 1000}) for our own task drawn by another instance. After FILE is written, no new poll
      starts, but the one in flight is awaited and what it returns handed over before the process exits:
      keep it running (wait for it) until then. Gives up (exit ${CLI_EXIT.LOST}, no FILE) after --wait-seconds
      (default: the larger of ${DEFAULT_ACTIVITY_WAIT_SECONDS} and 2 x $${ENV.HEARTBEAT_SECONDS}) plus the poll in flight.
      --poll-timeout-seconds (default ${DEFAULT_ACTIVITY_POLL_TIMEOUT_MS / 1000}; at least 65 against AWS) is the client-side
      timeout of one long poll. Exit ${CLI_EXIT.REPORT_FAILED}: a call was refused (e.g. AccessDenied) or kept failing;
      if FILE was written, the claim still stands and only a hand-over failed.

The task comes from --task-file, else $${ENV.TASK_FILE}, else $${ENV.TASK_TOKEN}
(with --heartbeat-seconds or $${ENV.HEARTBEAT_SECONDS} for "run").
Environment: $${ENV.HEARTBEAT_INTERVAL_MS} (heartbeat interval, default HeartbeatSeconds/3),
$${ENV.SPOT_CHECK}=0 (no Spot notice polling), $${ENV.IMDS_ENDPOINT} (metadata base URL),
AWS_REGION / credentials / AWS_ENDPOINT_URL_SFN / AWS_ENDPOINT_URL_S3 as for any AWS SDK
(with AWS_ENDPOINT_URL_S3 set, S3 requests are path-style).

Exit codes: ${CLI_EXIT.OK} success reported, ${CLI_EXIT.JOB_FAILED} failure reported, ${CLI_EXIT.USAGE} usage error,
${CLI_EXIT.REPORT_FAILED} result could not be reported, ${CLI_EXIT.LOST} task lost (timed out / invalid token; job stopped).
`;

/**
 * Runs `command` with /bin/sh (output to our stderr, `SSP_OUTCOME` set to the result about to be sent), killing it
 * after BEFORE_REPORT_TIMEOUT_MS.
 */
function beforeReportHook(command: string | undefined): ((outcome: FinalOutcome) => Promise<void>) | undefined {
  if (command === undefined || command === '') return undefined;
  return (outcome) =>
    new Promise<void>((resolve, reject) => {
      const child = spawn('/bin/sh', ['-c', command], {
        stdio: ['ignore', process.stderr, process.stderr],
        env: { ...process.env, [ENV.OUTCOME]: outcome },
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), BEFORE_REPORT_TIMEOUT_MS);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) resolve();
        else reject(new Error(`--before-report command ended with ${signal ?? `exit code ${code}`}`));
      });
    });
}

/** A bad command line or task document: exits CLI_EXIT.USAGE. */
class UsageError extends Error {}

interface ParsedArgs {
  command: 'run' | 'fail' | 'heartbeat' | 'claim-activity' | 'help';
  options: Map<string, string>;
  rest: string[];
}

const OPTIONS: Record<ParsedArgs['command'], string[]> = {
  'run': ['task-file', 'heartbeat-seconds', 'kill-grace-seconds', 'log-file', 'before-report'],
  'fail': ['task-file', 'error', 'cause', 'cause-file'],
  'heartbeat': ['task-file'],
  'claim-activity': [
    'activity-arn', 'instance-id', 'bucket', 'owner-tag-value', 'out', 'wait-seconds', 'poll-timeout-seconds', 'handoff-interval-seconds',
  ],
  'help': [],
};

function parseArgs(argv: string[]): ParsedArgs {
  const [sub, ...tail] = argv;
  if (sub === undefined) throw new UsageError('missing command (run, fail, heartbeat or claim-activity)');
  if (sub === '--help' || sub === '-h' || sub === 'help') return { command: 'help', options: new Map(), rest: [] };
  if (sub !== 'run' && sub !== 'fail' && sub !== 'heartbeat' && sub !== 'claim-activity') throw new UsageError(`unknown command "${sub}"`);
  const options = new Map<string, string>();
  const rest: string[] = [];
  for (let i = 0; i < tail.length; i++) {
    const a = tail[i];
    if (a === '--') {
      rest.push(...tail.slice(i + 1));
      break;
    }
    if (a === '--help' || a === '-h') return { command: 'help', options, rest };
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      if (!OPTIONS[sub].includes(name)) throw new UsageError(`unknown option --${name} for "${sub}"`);
      let value: string | undefined;
      if (eq >= 0) {
        value = a.slice(eq + 1);
      } else {
        value = tail[++i];
        if (value === undefined) throw new UsageError(`option --${name} needs a value`);
      }
      if (options.has(name)) throw new UsageError(`option --${name} given twice`);
      options.set(name, value);
      continue;
    }
    if (sub === 'run') {
      // The command may also start without "--"; everything from it on belongs to the command.
      rest.push(...tail.slice(i));
      break;
    }
    throw new UsageError(`unexpected argument "${a}" for "${sub}"`);
  }
  return { command: sub, options, rest };
}

function positiveNumber(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new UsageError(`${name} must be a positive number, got "${value}"`);
  return n;
}

/** The task for "run": a full task document, or a token and heartbeatSeconds. */
function resolveRunTask(options: Map<string, string>, env: NodeJS.ProcessEnv): RunJobTask {
  const hbFlag = positiveNumber('--heartbeat-seconds', options.get('heartbeat-seconds'));
  const file = options.get('task-file') ?? (env[ENV.TASK_FILE] || undefined);
  if (file !== undefined) {
    const doc = readTaskDocument(file);
    return hbFlag === undefined ? doc : { ...doc, heartbeatSeconds: hbFlag };
  }
  const token = env[ENV.TASK_TOKEN];
  if (!token) throw new UsageError(`no task: give --task-file, or set ${ENV.TASK_FILE} or ${ENV.TASK_TOKEN}`);
  const hb = hbFlag ?? positiveNumber(ENV.HEARTBEAT_SECONDS, env[ENV.HEARTBEAT_SECONDS]);
  if (hb === undefined) throw new UsageError(`with ${ENV.TASK_TOKEN}, give --heartbeat-seconds or set ${ENV.HEARTBEAT_SECONDS}`);
  return { taskToken: token, heartbeatSeconds: hb };
}

/**
 * The token for "fail"/"heartbeat". Only the token is needed, so a task file is read leniently: a bootstrap that failed
 * must still be able to report, even if other fields of the document are off.
 */
function resolveToken(options: Map<string, string>, env: NodeJS.ProcessEnv): string {
  const file = options.get('task-file') ?? (env[ENV.TASK_FILE] || undefined);
  if (file !== undefined) {
    try {
      return readTaskDocument(file).taskToken;
    } catch (e) {
      let doc: unknown;
      try {
        doc = JSON.parse(fs.readFileSync(file, 'utf8'));
      } catch {
        throw e;
      }
      const token = (doc as { taskToken?: unknown } | null)?.taskToken;
      if (typeof token === 'string' && token.length > 0) return token;
      throw e;
    }
  }
  const token = env[ENV.TASK_TOKEN];
  if (!token) throw new UsageError(`no task: give --task-file, or set ${ENV.TASK_FILE} or ${ENV.TASK_TOKEN}`);
  return token;
}

/** The options of "claim-activity", checked. */
function claimActivityOptions(options: Map<string, string>, env: NodeJS.ProcessEnv) {
  const required = (name: string): string => {
    const v = options.get(name);
    if (v === undefined || v === '') throw new UsageError(`claim-activity: --${name} is required`);
    return v;
  };
  const activityArn = required('activity-arn');
  const instanceId = required('instance-id');
  const bucket = required('bucket');
  const ownerTagValue = required('owner-tag-value');
  const out = required('out');
  const colon = ownerTagValue.indexOf(':');
  if (colon <= 0 || ownerTagValue.slice(colon + 1) !== instanceId) {
    throw new UsageError(`--owner-tag-value must be "<RoleId>:${instanceId}" (the role session's aws:userid), got "${ownerTagValue}"`);
  }
  // Default wait: 10 minutes, or twice HeartbeatSeconds if longer. Past that, a task that another instance drew and
  // could not hand over has timed out on the service side, so waiting longer cannot help.
  let waitSeconds = positiveNumber('--wait-seconds', options.get('wait-seconds'));
  if (waitSeconds === undefined) {
    let hb: number | undefined;
    try {
      hb = positiveNumber(ENV.HEARTBEAT_SECONDS, env[ENV.HEARTBEAT_SECONDS] || undefined);
    } catch {
      hb = undefined;
    }
    waitSeconds = Math.max(DEFAULT_ACTIVITY_WAIT_SECONDS, 2 * (hb ?? 0));
  }
  const pollTimeoutSeconds = positiveNumber('--poll-timeout-seconds', options.get('poll-timeout-seconds'));
  const handoffIntervalSeconds = positiveNumber('--handoff-interval-seconds', options.get('handoff-interval-seconds'));
  return {
    activityArn,
    instanceId,
    bucket,
    ownerTagValue,
    out,
    waitMs: waitSeconds * 1000,
    pollTimeoutMs: pollTimeoutSeconds === undefined ? undefined : pollTimeoutSeconds * 1000,
    handoffIntervalMs: handoffIntervalSeconds === undefined ? undefined : handoffIntervalSeconds * 1000,
  };
}

/** Write `text` to `file` atomically (a temp file in the same directory, then rename), readable by the owner only. */
function writeFileAtomic(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, text, { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

async function claimActivityCommand(options: ReturnType<typeof claimActivityOptions>): Promise<number> {
  const { out, ...claim } = options;
  stderrLog(`claim-activity: polling ${claim.activityArn} as ${claim.instanceId}; giving up after ${claim.waitMs / 1000} s`);
  let claimed;
  try {
    claimed = await claimActivityTask(claim);
  } catch (e) {
    if (e instanceof ActivityClaimError) {
      stderrLog(`claim-activity: ${e.message}`);
      return e.exitCode;
    }
    stderrLog(`claim-activity: ${(e as Error)?.name}: ${(e as Error)?.message}`);
    return CLI_EXIT.REPORT_FAILED;
  }
  let written = true;
  try {
    writeFileAtomic(out, JSON.stringify(claimed.document));
    stderrLog(`claim-activity: this instance's task (execution ${claimed.document.executionName}, ${claimed.source === 'poll' ? 'drawn' : 'handed over'}) is in ${out}`);
  } catch (e) {
    written = false;
    stderrLog(`claim-activity: cannot write ${out}: ${(e as Error).message}`);
  }
  try {
    await claimed.drained;
  } catch (e) {
    stderrLog(`claim-activity: ${(e as Error).message}`);
    return CLI_EXIT.REPORT_FAILED;
  }
  if (!written) {
    // We hold our own task but cannot hand it to the bootstrap: fail it rather than leave it to time out.
    const reporter = new TaskReporter({ taskToken: claimed.document.taskToken });
    try {
      await reporter.fail(JOB_ERRORS.BOOTSTRAP_FAILED, `the activity task was claimed but could not be written to ${out}`);
    } catch (e) {
      stderrLog(`claim-activity: could not report the failure either: ${(e as Error).message}`);
    } finally {
      reporter.destroy();
    }
    return CLI_EXIT.REPORT_FAILED;
  }
  return CLI_EXIT.OK;
}

/** Runs the CLI and returns its exit code. Never throws. */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let parsed: ParsedArgs;
  try {
    parsed = parseArgs(argv);
  } catch (e) {
    return usageFailure(e);
  }
  if (parsed.command === 'help') {
    process.stdout.write(USAGE);
    return CLI_EXIT.OK;
  }

  if (parsed.command === 'claim-activity') {
    let options: ReturnType<typeof claimActivityOptions>;
    try {
      options = claimActivityOptions(parsed.options, env);
    } catch (e) {
      return usageFailure(e);
    }
    return claimActivityCommand(options);
  }

  if (parsed.command === 'run') {
    let task: RunJobTask;
    let killGraceSeconds: number | undefined;
    try {
      if (parsed.rest.length === 0) throw new UsageError('run: missing the command to run (after --)');
      task = resolveRunTask(parsed.options, env);
      killGraceSeconds = positiveNumber('--kill-grace-seconds', parsed.options.get('kill-grace-seconds'));
    } catch (e) {
      return usageFailure(e);
    }
    const [command, ...args] = parsed.rest;
    const result = await runJob({
      task,
      command,
      args,
      killGraceMs: killGraceSeconds === undefined ? undefined : killGraceSeconds * 1000,
      logFile: parsed.options.get('log-file'),
      beforeReport: beforeReportHook(parsed.options.get('before-report')),
    });
    return result.exitCode;
  }

  let token: string;
  let cause = '';
  try {
    token = resolveToken(parsed.options, env);
    if (parsed.command === 'fail') {
      if (parsed.options.has('cause') && parsed.options.has('cause-file')) throw new UsageError('give --cause or --cause-file, not both');
      const causeFile = parsed.options.get('cause-file');
      if (causeFile !== undefined) {
        try {
          cause = fs.readFileSync(causeFile, 'utf8');
        } catch (e) {
          throw new UsageError(`cannot read --cause-file ${causeFile}: ${(e as Error).message}`);
        }
      } else {
        cause = parsed.options.get('cause') ?? '';
      }
      if (parsed.options.get('error') === '') throw new UsageError('--error must not be empty');
    }
  } catch (e) {
    return usageFailure(e);
  }

  const reporter = new TaskReporter({ taskToken: token });
  try {
    if (parsed.command === 'fail') {
      const error = parsed.options.get('error') ?? JOB_ERRORS.BOOTSTRAP_FAILED;
      await reporter.fail(error, cause);
      stderrLog(`reported failure ${error}`);
    } else {
      await reporter.heartbeat();
      stderrLog('heartbeat sent');
    }
    return CLI_EXIT.OK;
  } catch (e) {
    const reason = lostTaskReason(e);
    if (reason) {
      stderrLog(`the task is lost (${reason}): ${(e as Error).message}`);
      return CLI_EXIT.LOST;
    }
    stderrLog(`could not reach Step Functions: ${(e as Error)?.name}: ${(e as Error)?.message}`);
    return CLI_EXIT.REPORT_FAILED;
  } finally {
    reporter.destroy();
  }
}

function usageFailure(e: unknown): number {
  if (e instanceof UsageError) {
    stderrLog(`error: ${e.message}`);
    process.stderr.write(`\n${USAGE}`);
    return CLI_EXIT.USAGE;
  }
  if (e instanceof TaskDocumentError) {
    stderrLog(`error: ${e.message}`);
    return CLI_EXIT.USAGE;
  }
  throw e;
}

function flush(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || !stream.writable) return resolve();
    stream.write('', () => resolve());
  });
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    async (code) => {
      await Promise.all([flush(process.stdout), flush(process.stderr)]);
      process.exit(code);
    },
    async (e) => {
      stderrLog(`internal error: ${(e as Error)?.stack ?? String(e)}`);
      await flush(process.stderr);
      process.exit(CLI_EXIT.REPORT_FAILED);
    },
  );
}
