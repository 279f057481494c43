/**
 * What every `heartbeat.js` command has in common: its option names, the checking of its arguments, and the errors
 * that make the CLI exit `CLI_EXIT.USAGE`.
 */
import * as fs from 'fs';
import { ENV } from '../../protocol';
import { readTaskDocument } from '../task-document';

/** A bad command line: the CLI prints it with the usage and exits `CLI_EXIT.USAGE`. */
export class UsageError extends Error {}

/** A command's parsed command line. */
export interface CommandLine {
  /** `--name value` / `--name=value` options, by name (without `--`). */
  readonly options: ReadonlyMap<string, string>;
  /** What follows `--` (or, for a command that runs one, the first argument that is not an option). */
  readonly rest: readonly string[];
}

/** One `heartbeat.js` command. */
export interface Command {
  /** The options it accepts (names without `--`). */
  readonly options: readonly string[];
  /** Whether it runs a command given after its options (its first non-option argument starts that command). */
  readonly takesCommand: boolean;
  /**
   * Check the command line (throwing a {@link UsageError}, or a `TaskDocumentError` for a bad task document) and
   * return what runs the command, which resolves to the CLI's exit code.
   */
  prepare(line: CommandLine, env: NodeJS.ProcessEnv): () => Promise<number>;
}

/** A positive number option (or variable) `name`; `undefined` when it is not given. */
export function positiveNumber(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new UsageError(`${name} must be a positive number, got "${value}"`);
  return n;
}

/** The task document file: `--task-file`, else `$SSP_TASK_FILE` (if not empty). */
export function taskFile(options: ReadonlyMap<string, string>, env: NodeJS.ProcessEnv): string | undefined {
  return options.get('task-file') ?? (env[ENV.TASK_FILE] || undefined);
}

/** `$SSP_TASK_TOKEN`, which must be set when there is no task file. */
export function tokenFromEnv(env: NodeJS.ProcessEnv): string {
  const token = env[ENV.TASK_TOKEN];
  if (!token) throw new UsageError(`no task: give --task-file, or set ${ENV.TASK_FILE} or ${ENV.TASK_TOKEN}`);
  return token;
}

/**
 * The token for "fail"/"heartbeat". Only the token is needed, so a task file is read leniently: a bootstrap that failed
 * must still be able to report, even if other fields of the document are off.
 */
export function resolveToken(options: ReadonlyMap<string, string>, env: NodeJS.ProcessEnv): string {
  const file = taskFile(options, env);
  if (file === undefined) return tokenFromEnv(env);
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
