/** `heartbeat.js run`: run the job under the task token (see `runJob`). */
import { spawn } from 'child_process';
import { positiveNumber, taskFile, tokenFromEnv, UsageError } from './command';
import type { Command } from './command';
import { ENV } from '../../protocol';
import type { FinalOutcome } from '../reporter';
import { runJob } from '../run-job';
import type { RunJobTask } from '../run-job';
import { readTaskDocument } from '../task-document';

/** Longest the --before-report command may take. */
export const BEFORE_REPORT_TIMEOUT_MS = 120_000;

export const runCommand: Command = {
  options: ['task-file', 'heartbeat-seconds', 'kill-grace-seconds', 'log-file', 'before-report'],
  takesCommand: true,
  prepare({ options, rest }, env) {
    if (rest.length === 0) throw new UsageError('run: missing the command to run (after --)');
    const task = resolveRunTask(options, env);
    const killGraceSeconds = positiveNumber('--kill-grace-seconds', options.get('kill-grace-seconds'));
    const [command, ...args] = rest;
    return async () => {
      const result = await runJob({
        task,
        command,
        args,
        killGraceMs: killGraceSeconds === undefined ? undefined : killGraceSeconds * 1000,
        logFile: options.get('log-file'),
        beforeReport: beforeReportHook(options.get('before-report')),
      });
      return result.exitCode;
    };
  },
};

/** The task for "run": a full task document, or a token and heartbeatSeconds. */
function resolveRunTask(options: ReadonlyMap<string, string>, env: NodeJS.ProcessEnv): RunJobTask {
  const hbFlag = positiveNumber('--heartbeat-seconds', options.get('heartbeat-seconds'));
  const file = taskFile(options, env);
  if (file !== undefined) {
    const doc = readTaskDocument(file);
    return hbFlag === undefined ? doc : { ...doc, heartbeatSeconds: hbFlag };
  }
  const token = tokenFromEnv(env);
  const hb = hbFlag ?? positiveNumber(ENV.HEARTBEAT_SECONDS, env[ENV.HEARTBEAT_SECONDS]);
  if (hb === undefined) throw new UsageError(`with ${ENV.TASK_TOKEN}, give --heartbeat-seconds or set ${ENV.HEARTBEAT_SECONDS}`);
  return { taskToken: token, heartbeatSeconds: hb };
}

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
