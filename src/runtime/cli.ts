/**
 * Entry point of the job-side runtime bundle (`assets/runtime/cli/heartbeat.js`): argument parsing, dispatch to the
 * commands (./commands), usage.
 *
 * Executed, it runs the CLI (see {@link USAGE}); `require()`d, it only exports the library API of `./index`.
 */
// First: the AWS SDK's Node.js version warning is filtered before anything can create a client.
import './sdk-warnings';
import { DEFAULT_ACTIVITY_POLL_TIMEOUT_MS, DEFAULT_ACTIVITY_WAIT_SECONDS, DEFAULT_HANDOFF_INTERVAL_MS } from './activity-claim';
import { claimActivityCommand } from './commands/claim-activity';
import { UsageError } from './commands/command';
import type { Command } from './commands/command';
import { failCommand } from './commands/fail';
import { heartbeatCommand } from './commands/heartbeat';
import { BEFORE_REPORT_TIMEOUT_MS, runCommand } from './commands/run';
import { HEARTBEATS_PER_HEARTBEAT_TIMEOUT } from './heartbeats';
import { stderrLog } from './log';
import { TaskDocumentError } from './task-document';
// Only the version: esbuild inlines just this field into the bundle (tree-shaken JSON import).
import { version as packageVersion } from '../../package.json';
import {
  CLI_EXIT, ENV, ENV_NAME_PATTERN, HANDOFF_PREFIX, JOB_ERRORS, MAX_INLINE_RESULT_BYTES, OWNER_TAG, RESULT_OBJECT_NAME, TASKS_PREFIX,
} from '../protocol';

export * from './index';

/** Each command's help: its synopsis (the lines before the first description line) and what it does. */
const COMMAND_HELP: Record<string, string> = {
  'run': `  heartbeat.js run [--task-file FILE] [--heartbeat-seconds N] [--kill-grace-seconds N] [--log-file FILE]
                   [--before-report SHELL_COMMAND] [--spill-to s3://BUCKET/PREFIX/] -- COMMAND [ARGS...]
      Claim the task token, run COMMAND (no shell) with ARGS and the task document's "args" appended,
      heartbeat while it runs, and report its outcome to Step Functions. The job's output is forwarded
      to this process's stdout/stderr (and appended to --log-file FILE, if given).
      --heartbeat-seconds overrides the task document's; --kill-grace-seconds (default 10) is how long
      a job that must be stopped gets between SIGTERM and SIGKILL. --before-report runs SHELL_COMMAND
      (with /bin/sh, at most ${BEFORE_REPORT_TIMEOUT_MS / 1000} s) after the log file is flushed and before the result is sent,
      e.g. to upload the log while the instance still exists; its failure does not stop the report.
      It gets $${ENV.OUTCOME}=succeeded or failed: the result about to be sent.
      The job gets the task document's "env" (names matching ${ENV_NAME_PATTERN.source}, string values; otherwise
      it is not started and ${JOB_ERRORS.INVALID_ENV} is reported), then $${ENV.RESULT_FILE}, $${ENV.EXECUTION_NAME},
      $${ENV.EXECUTION_ARN} and, with "attempt" in the document, $${ENV.ATTEMPT}.
      JSON the job writes to $${ENV.RESULT_FILE} is returned as "result" up to ${MAX_INLINE_RESULT_BYTES} bytes (compact);
      a larger result is stored at s3://BUCKET/PREFIX/${RESULT_OBJECT_NAME} (--spill-to; needs s3:PutObject there) and
      returned as "resultLocation" and "resultBytes". Without --spill-to it is ${JOB_ERRORS.INVALID_RESULT};
      if it cannot be stored, ${JOB_ERRORS.RESULT_NOT_STORED}.
      The log names the command and only the number of the task document's "args" ($${ENV.LOG_ARGS}=1, in
      this process's environment or the document's "env", logs them).`,
  'fail': `  heartbeat.js fail [--task-file FILE] [--error NAME] [--cause TEXT | --cause-file FILE]
      Report a failure for the task (default error: ${JOB_ERRORS.BOOTSTRAP_FAILED}).`,
  'heartbeat': `  heartbeat.js heartbeat [--task-file FILE]
      Send one heartbeat for the task.`,
  'claim-activity': `  heartbeat.js claim-activity --activity-arn ARN --instance-id IID --bucket BUCKET
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
      if FILE was written, the claim still stands and only a hand-over failed.`,
};

/** The task document's format (src/protocol TaskDocument; checked by readTaskDocument, which names a bad field). */
const TASK_DOCUMENT_HELP = `The task document (JSON), as the state machine writes it to s3://BUCKET/${TASKS_PREFIX}<instance ID>.json:
  {
    "taskToken": "AQB...",           required: the token to answer (all "fail" and "heartbeat" read)
    "executionArn": "arn:aws:...",   required: the run's execution
    "executionName": "nightly-1",    required
    "script": "jobs/nightly.sh",     required: the script's key in the job bucket ("" with "userInput")
    "args": ["2026-01-01"],          required: strings appended to COMMAND's arguments
    "heartbeatSeconds": 300,         required: the waiting step's HeartbeatSeconds
    "env": {"NAME": "value"},        optional: added to the job's environment
    "attempt": 1,                    optional: the attempt number, as $${ENV.ATTEMPT}
    "userInput": "echo hi"           optional: bash text the bootstrap runs instead of a script
  }
Unknown fields are ignored.`;

const COMMON_HELP = `The task comes from --task-file, else $${ENV.TASK_FILE}, else $${ENV.TASK_TOKEN}
(with --heartbeat-seconds or $${ENV.HEARTBEAT_SECONDS} for "run").
Environment: $${ENV.HEARTBEAT_INTERVAL_MS} (heartbeat interval, default HeartbeatSeconds/${HEARTBEATS_PER_HEARTBEAT_TIMEOUT}),
$${ENV.SPOT_CHECK}=0 (no Spot notice polling), $${ENV.IMDS_ENDPOINT} (metadata base URL),
AWS_REGION / credentials / AWS_ENDPOINT_URL_SFN / AWS_ENDPOINT_URL_S3 as for any AWS SDK
(with AWS_ENDPOINT_URL_S3 set, S3 requests are path-style).

Exit codes: ${CLI_EXIT.OK} success reported, ${CLI_EXIT.JOB_FAILED} failure reported, ${CLI_EXIT.USAGE} usage error,
${CLI_EXIT.REPORT_FAILED} result could not be reported, ${CLI_EXIT.LOST} task lost (timed out / invalid token; job stopped).`;

/** The version of the package this runtime was bundled from (esbuild inlines it from package.json at bundle time). */
const VERSION: string = packageVersion;

/** The whole help (--help): every command, the task document and the environment. */
export const USAGE = `Usage:
${Object.values(COMMAND_HELP).join('\n')}

${TASK_DOCUMENT_HELP}

${COMMON_HELP}
`;

/** What a usage error prints after the error: a few lines, not the whole help. */
function shortUsage(command?: string): string {
  const known = command !== undefined && Object.prototype.hasOwnProperty.call(COMMAND_HELP, command);
  const synopsis = known
    ? COMMAND_HELP[command].split('\n').filter((l) => /^ {2}heartbeat\.js | {10,}\[|^ {10,}--/.test(l)).join('\n')
    : '  heartbeat.js run|fail|heartbeat|claim-activity [OPTIONS] [-- COMMAND [ARGS...]]';
  const more = known ? `heartbeat.js ${command} --help` : 'heartbeat.js <command> --help';
  return `Usage:\n${synopsis}\nMore: ${more}; everything: heartbeat.js --help; version: heartbeat.js --version\n`;
}

/** One command's help (`<command> --help`): the command, then the task document and environment it shares. */
function commandHelp(command: string): string {
  const taskDocument = command === 'claim-activity' ? '' : `\n${TASK_DOCUMENT_HELP}\n`;
  return `Usage:\n${COMMAND_HELP[command]}\n${taskDocument}\n${COMMON_HELP}\n`;
}

/** The commands, by name. */
const COMMANDS: Record<string, Command> = {
  'run': runCommand,
  'fail': failCommand,
  'heartbeat': heartbeatCommand,
  'claim-activity': claimActivityCommand,
};

type ParsedArgs =
  | { command: 'help'; of?: string }
  | { command: 'version' }
  | { command: string; options: Map<string, string>; rest: string[] };

/** A usage error in the command line of `command` (undefined: no known command). */
class CommandUsageError extends UsageError {
  constructor(message: string, public readonly command?: string) {
    super(message);
  }
}

function parseArgs(argv: string[]): ParsedArgs {
  const [sub, ...tail] = argv;
  if (sub === undefined) throw new UsageError('missing command (run, fail, heartbeat or claim-activity)');
  if (sub === '--help' || sub === '-h' || sub === 'help') return { command: 'help', of: tail[0] };
  if (sub === '--version' || sub === '-v' || sub === 'version') return { command: 'version' };
  const spec = Object.prototype.hasOwnProperty.call(COMMANDS, sub) ? COMMANDS[sub] : undefined;
  if (!spec) throw new UsageError(`unknown command "${sub}" (commands: ${Object.keys(COMMANDS).join(', ')})`);
  try {
    return parseCommandArgs(sub, spec, tail);
  } catch (e) {
    throw e instanceof UsageError && !(e instanceof CommandUsageError) ? new CommandUsageError(e.message, sub) : e;
  }
}

function parseCommandArgs(sub: string, spec: Command, tail: string[]): ParsedArgs {
  const options = new Map<string, string>();
  const rest: string[] = [];
  for (let i = 0; i < tail.length; i++) {
    const a = tail[i];
    if (a === '--') {
      rest.push(...tail.slice(i + 1));
      break;
    }
    if (a === '--help' || a === '-h') return { command: 'help', of: sub };
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      if (!spec.options.includes(name)) throw new UsageError(`unknown option --${name} for "${sub}"`);
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
    if (spec.takesCommand) {
      // The command may also start without "--"; everything from it on belongs to the command.
      rest.push(...tail.slice(i));
      break;
    }
    throw new UsageError(`unexpected argument "${a}" for "${sub}"`);
  }
  return { command: sub, options, rest };
}

/** Runs the CLI and returns its exit code. Never throws. */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let run: () => Promise<number>;
  try {
    const parsed = parseArgs(argv);
    if (parsed.command === 'version') {
      process.stdout.write(`heartbeat.js ${VERSION}\n`);
      return CLI_EXIT.OK;
    }
    if (!('options' in parsed)) {
      const of = 'of' in parsed ? parsed.of : undefined;
      process.stdout.write(of !== undefined && Object.prototype.hasOwnProperty.call(COMMANDS, of) ? commandHelp(of) : USAGE);
      return CLI_EXIT.OK;
    }
    try {
      run = COMMANDS[parsed.command].prepare(parsed, env);
    } catch (e) {
      throw e instanceof UsageError && !(e instanceof CommandUsageError) ? new CommandUsageError(e.message, parsed.command) : e;
    }
  } catch (e) {
    return usageFailure(e);
  }
  return run();
}

function usageFailure(e: unknown): number {
  if (e instanceof UsageError) {
    stderrLog(`error: ${e.message}`);
    process.stderr.write(shortUsage(e instanceof CommandUsageError ? e.command : undefined));
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
