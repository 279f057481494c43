/** `heartbeat.js fail`: report a failure for the task (the bootstrap's way to end a run it could not start). */
import * as fs from 'fs';
import { answerToken } from './answer';
import { resolveToken, UsageError } from './command';
import type { Command } from './command';
import { JOB_ERRORS } from '../../protocol';

export const failCommand: Command = {
  options: ['task-file', 'error', 'cause', 'cause-file'],
  takesCommand: false,
  prepare({ options }, env) {
    const token = resolveToken(options, env);
    if (options.has('cause') && options.has('cause-file')) throw new UsageError('give --cause or --cause-file, not both');
    let cause: string;
    const causeFile = options.get('cause-file');
    if (causeFile !== undefined) {
      try {
        cause = fs.readFileSync(causeFile, 'utf8');
      } catch (e) {
        throw new UsageError(`cannot read --cause-file ${causeFile}: ${(e as Error).message}`);
      }
    } else {
      cause = options.get('cause') ?? '';
    }
    if (options.get('error') === '') throw new UsageError('--error must not be empty');
    const error = options.get('error') ?? JOB_ERRORS.BOOTSTRAP_FAILED;
    return () => answerToken(token, (reporter) => reporter.fail(error, cause), `reported failure ${error}`);
  },
};
