/**
 * The bundled runtime when things go wrong around the job: lost tokens, endpoint faults, signals, Spot notices.
 */
import * as fs from 'fs';
import * as path from 'path';
import { cleanupTmp, cliEnv, killQuietly, processGone, readPidFile, requireBundle, startCli, tmpDir, waitFor, writeScript, writeTask } from './harness';
import { CLI_EXIT, JOB_ERRORS } from '../../src/protocol';
import { FakeImds } from '../support/fake-imds';
import { FakeStepFunctions } from '../support/fake-sfn';

let sfn: FakeStepFunctions;
const leftovers: number[] = [];

beforeAll(async () => {
  requireBundle();
  sfn = new FakeStepFunctions();
  await sfn.start();
});

afterEach(() => {
  sfn.clearFaults();
  leftovers.splice(0).forEach(killQuietly);
});

afterAll(async () => {
  await sfn.dispose();
  cleanupTmp();
});

function finalCalls(token: string) {
  return sfn.calls.filter((c) => c.token === token && (c.action === 'SendTaskSuccess' || c.action === 'SendTaskFailure'));
}

/** A job that records its own pid and the pid of a grandchild (`sleep`), then waits for a long time. */
function longJob(dir: string, extra = ''): { script: string; jobPidFile: string; grandchildPidFile: string } {
  const jobPidFile = path.join(dir, 'job.pid');
  const grandchildPidFile = path.join(dir, 'sleep.pid');
  const script = writeScript(dir, [
    extra,
    'echo started',
    'sleep 30 &',
    `echo $! > ${grandchildPidFile}.tmp && mv ${grandchildPidFile}.tmp ${grandchildPidFile}`,
    `echo $$ > ${jobPidFile}.tmp && mv ${jobPidFile}.tmp ${jobPidFile}`,
    'wait',
    'echo finished',
  ].join('\n'));
  return { script, jobPidFile, grandchildPidFile };
}

async function jobPids(job: { jobPidFile: string; grandchildPidFile: string }): Promise<number[]> {
  const pids = [await readPidFile(job.jobPidFile), await readPidFile(job.grandchildPidFile)];
  leftovers.push(...pids);
  return pids;
}

test('a heartbeat answered TaskTimedOut: the job is stopped within about one interval, nothing is reported, exit LOST', async () => {
  const dir = tmpDir();
  const token = sfn.addToken();
  const job = longJob(dir);
  const intervalMs = 200;
  const cli = startCli(['run', '--task-file', writeTask(dir, token, { heartbeatSeconds: 5 }), '--', 'bash', job.script],
    cliEnv(sfn.url, { SSP_HEARTBEAT_INTERVAL_MS: String(intervalMs) }));
  const pids = await jobPids(job);
  expect(pids.every((p) => !processGone(p))).toBe(true);

  const timedOutAt = Date.now();
  sfn.timeOutToken(token);
  const res = await cli.done;

  expect(res.code).toBe(CLI_EXIT.LOST);
  expect(res.stderr).toContain('TaskTimedOut');
  const answer = sfn.calls.find((c) => c.token === token && c.errorType === 'TaskTimedOut')!;
  expect(answer.action).toBe('SendTaskHeartbeat');
  // The next heartbeat saw it (at most one interval later) and the runtime was gone soon after the answer.
  // (Margins leave room for a busy CI machine; a 10 s kill grace or a missed answer would blow them.)
  expect(answer.time - timedOutAt).toBeLessThanOrEqual(intervalMs + 300);
  expect(res.endedAt - answer.time).toBeLessThan(intervalMs + 800);
  expect(pids.every(processGone)).toBe(true);
  expect(finalCalls(token)).toHaveLength(0);
  expect(res.stdout).not.toContain('finished');
});

test('InvalidToken on a heartbeat (fault injection) is also lost', async () => {
  const dir = tmpDir();
  const token = sfn.addToken();
  const job = longJob(dir);
  const cli = startCli(['run', '--task-file', writeTask(dir, token), '--', 'bash', job.script], cliEnv(sfn.url));
  const pids = await jobPids(job);
  sfn.injectFault({ action: 'SendTaskHeartbeat', token, fault: 'InvalidToken' });
  const res = await cli.done;
  expect(res.code).toBe(CLI_EXIT.LOST);
  expect(res.stderr).toContain('InvalidToken');
  expect(pids.every(processGone)).toBe(true);
  expect(finalCalls(token)).toHaveLength(0);
});

test('throttling, 500s and dropped connections are retried, then success is reported once', async () => {
  const dir = tmpDir();
  const token = sfn.addToken();
  sfn.injectFault({ action: 'SendTaskHeartbeat', token, times: 2, fault: 'ThrottlingException' });
  sfn.injectFault({ action: 'SendTaskSuccess', token, times: 1, fault: 500 });
  sfn.injectFault({ action: 'SendTaskSuccess', token, times: 1, fault: 'reset' });
  sfn.injectFault({ action: 'SendTaskSuccess', token, times: 1, fault: 'TooManyRequestsException' });
  const cli = startCli(['run', '--task-file', writeTask(dir, token), '--', 'bash', '-c', 'sleep 0.3; echo ok'], cliEnv(sfn.url));
  const res = await cli.done;

  expect(res.code).toBe(CLI_EXIT.OK);
  expect(sfn.callsFor('SendTaskHeartbeat', token).filter((c) => c.errorType === 'ThrottlingException')).toHaveLength(2);
  const successCalls = sfn.callsFor('SendTaskSuccess', token);
  expect(successCalls.map((c) => c.status)).toEqual([500, 0, 400, 200]);
  expect(sfn.finalsFor(token)).toHaveLength(1);
  expect(sfn.callsFor('SendTaskFailure', token)).toHaveLength(0);
  expect(res.stderr).toMatch(/SendTaskSuccess failed .*retry 1\//);
});

test('endpoint down for longer than HeartbeatSeconds: lost, job stopped', async () => {
  const dir = tmpDir();
  const token = sfn.addToken();
  const job = longJob(dir);
  const own = new FakeStepFunctions();
  await own.start();
  own.addToken(token);
  const cli = startCli(['run', '--task-file', writeTask(dir, token, { heartbeatSeconds: 1 }), '--', 'bash', job.script], cliEnv(own.url));
  const pids = await jobPids(job);
  await own.stop();
  const downAt = Date.now();
  const res = await cli.done;
  await own.dispose();

  expect(res.code).toBe(CLI_EXIT.LOST);
  expect(res.stderr).toContain('HeartbeatsFailing');
  expect(res.endedAt - downAt).toBeGreaterThanOrEqual(600);
  expect(res.endedAt - downAt).toBeLessThan(2_500);
  expect(pids.every(processGone)).toBe(true);
});

test('endpoint down for less than HeartbeatSeconds: the run carries on and succeeds', async () => {
  const dir = tmpDir();
  const own = new FakeStepFunctions();
  await own.start();
  const token = own.addToken();
  const readyFile = path.join(dir, 'ready');
  const cli = startCli(['run', '--task-file', writeTask(dir, token, { heartbeatSeconds: 2 }), '--', 'bash', '-c',
    `touch ${readyFile}; sleep 1.2; echo done`], cliEnv(own.url));
  await waitFor(() => fs.existsSync(readyFile), 'job start');
  await own.stop();
  await new Promise((r) => setTimeout(r, 500));
  await own.start();
  const res = await cli.done;
  await own.dispose();

  expect(res.code).toBe(CLI_EXIT.OK);
  expect(own.finalsFor(token)).toHaveLength(1);
  expect(own.finalsFor(token)[0].output.outputTail).toBe('done\n');
});

test('SIGTERM to the runtime: the job is stopped and Job.Interrupted is reported once', async () => {
  const dir = tmpDir();
  const token = sfn.addToken();
  const job = longJob(dir);
  const cli = startCli(['run', '--task-file', writeTask(dir, token), '--', 'bash', job.script], cliEnv(sfn.url));
  const pids = await jobPids(job);
  cli.child.kill('SIGTERM');
  const res = await cli.done;

  expect(res.code).toBe(CLI_EXIT.JOB_FAILED);
  expect(pids.every(processGone)).toBe(true);
  expect(finalCalls(token)).toHaveLength(1);
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
  const pids = await jobPids(job);
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
  leftovers.push(bg);
  expect(res.code).toBe(CLI_EXIT.OK);
  expect(processGone(bg)).toBe(true);
});

describe('Spot interruption notices', () => {
  let imds: FakeImds;
  beforeEach(async () => {
    imds = new FakeImds();
    await imds.start();
  });
  afterEach(async () => imds.stop());

  test('a notice stops the job and reports Job.SpotInterrupted with the action and time', async () => {
    const dir = tmpDir();
    const token = sfn.addToken();
    const job = longJob(dir);
    const cli = startCli(['run', '--task-file', writeTask(dir, token), '--', 'bash', job.script],
      cliEnv(sfn.url, { SSP_SPOT_CHECK: undefined, SSP_IMDS_ENDPOINT: imds.url }));
    const pids = await jobPids(job);
    await waitFor(() => imds.requests.some((r) => r.path.endsWith('/instance-action') && r.status === 404), 'a Spot check');
    imds.setNotice({ action: 'terminate', time: '2030-01-02T03:04:05Z' });
    const res = await cli.done;

    expect(res.code).toBe(CLI_EXIT.JOB_FAILED);
    expect(pids.every(processGone)).toBe(true);
    const [final] = sfn.finalsFor(token);
    expect(final.error).toBe(JOB_ERRORS.SPOT_INTERRUPTED);
    expect(JSON.parse(final.cause!)).toMatchObject({ action: 'terminate', time: '2030-01-02T03:04:05Z', outputTail: 'started\n' });
    expect(finalCalls(token)).toHaveLength(1);
    // IMDSv2: a token first, then reads with it; the token is reused, not fetched per poll.
    expect(imds.requests[0]).toMatchObject({ method: 'PUT', path: '/latest/api/token', status: 200 });
    expect(imds.requests.filter((r) => r.method === 'PUT')).toHaveLength(1);
    expect(imds.requests.filter((r) => r.status === 401)).toHaveLength(0);
  });

  test('SSP_SPOT_CHECK=0 never polls metadata', async () => {
    const dir = tmpDir();
    const token = sfn.addToken();
    imds.setNotice({ action: 'terminate', time: '2030-01-02T03:04:05Z' });
    const res = await startCli(['run', '--task-file', writeTask(dir, token), '--', 'sleep', '0.3'],
      cliEnv(sfn.url, { SSP_SPOT_CHECK: '0', SSP_IMDS_ENDPOINT: imds.url })).done;
    expect(res.code).toBe(CLI_EXIT.OK);
    expect(imds.requests).toHaveLength(0);
  });

  test('unreachable metadata is logged once and does not affect the job', async () => {
    const dir = tmpDir();
    const token = sfn.addToken();
    await imds.stop();
    const res = await startCli(['run', '--task-file', writeTask(dir, token), '--', 'sleep', '0.5'],
      cliEnv(sfn.url, { SSP_SPOT_CHECK: undefined, SSP_IMDS_ENDPOINT: imds.url })).done;
    expect(res.code).toBe(CLI_EXIT.OK);
    expect(res.stderr.match(/instance metadata .* is not answering/g)).toHaveLength(1);
    expect(sfn.finalsFor(token)[0].action).toBe('SendTaskSuccess');
  });
});
