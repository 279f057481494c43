/**
 * The task document (`TaskDocument` in src/protocol): reading and checking it, and checking its `env`.
 */
import * as fs from 'fs';
import { errorMessage, typeName } from './util';
import { ENV_NAME_PATTERN } from '../protocol';
import type { TaskDocument } from '../protocol';

export { ENV_NAME_PATTERN } from '../protocol';
export type { TaskDocument } from '../protocol';

/** The task document could not be read or is not valid. The message names the file and the offending field. */
export class TaskDocumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TaskDocumentError';
  }
}

/**
 * Read and validate a task document (JSON, see `TaskDocument`). Throws a {@link TaskDocumentError} naming every
 * missing or invalid field at once. Unknown fields are ignored.
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
  // Every problem is collected and reported at once, so a hand-written document is fixed in one round.
  const problems: string[] = [];
  const str = (field: string, allowEmpty = false): string => {
    const v = doc[field];
    if (v === undefined || v === null) problems.push(`"${field}" is missing`);
    else if (typeof v !== 'string') problems.push(`"${field}" must be a string, got ${typeName(v)}`);
    else if (!allowEmpty && v.length === 0) problems.push(`"${field}" must not be empty`);
    else return v;
    return '';
  };
  const taskToken = str('taskToken');
  const executionArn = str('executionArn');
  const executionName = str('executionName');

  // Seed compatibility: a `userInput` script replaces the bucket script, which may then be empty (or absent).
  const userInput = doc.userInput ?? undefined;
  if (userInput !== undefined && typeof userInput !== 'string') {
    problems.push(`"userInput" must be a string, got ${typeName(userInput)}`);
  }
  const script = userInput === undefined ? str('script') : (doc.script ?? undefined) === undefined ? '' : str('script', true);

  const args = doc.args;
  if (args === undefined || args === null) {
    problems.push('"args" is missing');
  } else if (!Array.isArray(args)) {
    problems.push(`"args" must be an array of strings, got ${typeName(args)}`);
  } else {
    args.forEach((a, i) => {
      if (typeof a !== 'string') problems.push(`"args[${i}]" must be a string, got ${typeName(a)}`);
    });
  }

  const hb = doc.heartbeatSeconds;
  if (hb === undefined || hb === null) {
    problems.push('"heartbeatSeconds" is missing');
  } else if (typeof hb !== 'number' || !Number.isFinite(hb) || hb <= 0) {
    problems.push(`"heartbeatSeconds" must be a positive number, got ${JSON.stringify(hb)}`);
  }

  const attempt = doc.attempt ?? undefined;
  if (attempt !== undefined && (typeof attempt !== 'number' || !Number.isInteger(attempt) || attempt < 1)) {
    problems.push(`"attempt" must be a positive integer, got ${JSON.stringify(attempt)}`);
  }
  if (problems.length > 0) throw new TaskDocumentError(`${where}: ${problems.join('; ')}`);

  // `env` is passed through unchecked: runJob validates it after claiming the token and reports Job.InvalidEnv, so that
  // a bad `env` fails the execution with a clear error instead of leaving it to time out.
  const env = doc.env ?? undefined;
  // Fan-out: `shard` is passed through when it is an object; shardEnv (run-job.ts) exports it only when it names one.
  const shard = doc.shard !== null && typeof doc.shard === 'object' && !Array.isArray(doc.shard) ? (doc.shard as TaskDocument['shard']) : undefined;

  return {
    taskToken,
    executionArn,
    executionName,
    script,
    args: [...(args as string[])],
    heartbeatSeconds: hb as number,
    ...(env !== undefined ? { env: env as Record<string, string> } : {}),
    ...(userInput !== undefined ? { userInput: userInput as string } : {}),
    ...(attempt !== undefined ? { attempt: attempt as number } : {}),
    ...(shard !== undefined ? { shard } : {}),
  };
}

/** What is wrong with a task document's `env`: a message naming the variable, or `undefined` when it is valid. */
export interface JobEnvProblem {
  readonly message: string;
  /** The offending variable name, when there is one. */
  readonly name?: string;
}

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
