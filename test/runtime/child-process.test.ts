/**
 * The job's process (src/runtime/child-process.ts) under the bundled runtime: stopped with SIGTERM, then SIGKILL after
 * the grace; its leftovers stopped when it exits.
 */
import * as path from 'path';
import {
  cleanupTmp, cliEnv, finalCalls, killLeftovers, longJob, processGone, readJobPids, readPidFile, requireBundle, startCli, tmpDir, trackPid, writeTask,
} from './harness';
import { CLI_EXIT, JOB_ERRORS } from '../../src/protocol';
import { FakeStepFunctions } from '../support/fake-sfn';

let sfn: FakeStepFunctions;

beforeAll(async () => {
  requireBundle();
  sfn = new FakeStepFunctions();
  await sfn.start();
});

afterEach(() => {
  sfn.clearFaults();
  killLeftovers();
});

afterAll(async () => {
  await sfn.dispose();
  cleanupTmp();
});

test('SIGTERM to the runtime: the job is stopped and Job.Interrupted is reported once', async () => {
  const dir = tmpDir();
  const token = sfn.addToken();
  const job = longJob(dir);
  const cli = startCli(['run', '--task-file', writeTask(dir, token), '--', 'bash', job.script], cliEnv(sfn.url));
  const pids = await readJobPids(job);
  cli.child.kill('SIGTERM');
  const res = await cli.done;

  expect(res.code).toBe(CLI_EXIT.JOB_FAILED);
  expect(pids.every(processGone)).toBe(true);
  expect(finalCalls(sfn, token)).toHaveLength(1);
  const [final] = sfn.finalsFor(token);
  expect(final.error).toBe(JOB_ERRORS.INTERRUPTED);
  const cause = JSON.parse(final.cause!);
  expect(cause).toEqual({ signal: 'SIGTERM', durationSeconds: expect.any(Number), outputTail: 'started\n' });
});

test('a job that ignores SIGTERM is SIGKILLed after the grace period', async () => {
  const dir = tmpDir();
  const token = sfn.addToken();
  const job = longJob(dir, 'trap "" TERM');
  const cli = startCli(['run', '--task-file', writeTask(dir, token), '--kill-grace-seconds', '0.5', '--', 'bash', job.script], cliEnv(sfn.url));
  const pids = await readJobPids(job);
  const sentAt = Date.now();
  cli.child.kill('SIGINT');
  const res = await cli.done;

  expect(res.code).toBe(CLI_EXIT.JOB_FAILED);
  expect(res.endedAt - sentAt).toBeGreaterThanOrEqual(450);
  expect(res.stderr).toContain('SIGKILL');
  expect(pids.every(processGone)).toBe(true);
  const [final] = sfn.finalsFor(token);
  expect(final.error).toBe(JOB_ERRORS.INTERRUPTED);
  expect(JSON.parse(final.cause!).signal).toBe('SIGINT');
});

test('processes the job leaves behind are stopped when it exits', async () => {
  const dir = tmpDir();
  const token = sfn.addToken();
  const pidFile = path.join(dir, 'bg.pid');
  const res = await startCli(['run', '--task-file', writeTask(dir, token), '--', 'bash', '-c',
    `sleep 30 > /dev/null 2>&1 & echo $! > ${pidFile}; echo main done`], cliEnv(sfn.url)).done;
  const bg = await readPidFile(pidFile);
  trackPid(bg);
  expect(res.code).toBe(CLI_EXIT.OK);
  expect(processGone(bg)).toBe(true);
});

