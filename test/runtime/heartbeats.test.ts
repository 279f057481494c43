/**
 * Keeping the token alive (src/runtime/heartbeats.ts): the heartbeat interval, and what the bundled runtime does when
 * its heartbeats tell it the task is lost.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  cleanupTmp, cliEnv, finalCalls, killLeftovers, longJob, processGone, readJobPids, requireBundle, runCli, startCli, tmpDir, waitFor,
  writeScript, writeTask,
} from './harness';
import { CLI_EXIT, ENV } from '../../src/protocol';
import { defaultHeartbeatIntervalMs } from '../../src/runtime';
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

describe('the heartbeat interval', () => {
  test('by default a third of HeartbeatSeconds, at least 200 ms', () => {
    expect(defaultHeartbeatIntervalMs(3, {})).toBe(1_000);
    expect(defaultHeartbeatIntervalMs(300, {})).toBe(100_000);
    expect(defaultHeartbeatIntervalMs(1.5, {})).toBe(500);
    expect(defaultHeartbeatIntervalMs(0.3, {})).toBe(200);
  });

  test('SSP_HEARTBEAT_INTERVAL_MS overrides it when it is a positive number', () => {
    expect(defaultHeartbeatIntervalMs(300, { [ENV.HEARTBEAT_INTERVAL_MS]: '250' })).toBe(250);
    for (const ignored of ['', '0', '-5', 'soon']) {
      expect(defaultHeartbeatIntervalMs(3, { [ENV.HEARTBEAT_INTERVAL_MS]: ignored })).toBe(1_000);
    }
  });

  test('end to end, with no override: the heartbeats after the claiming one come about HeartbeatSeconds / 3 apart', async () => {
    const dir = tmpDir();
    // The fake times the token out like Step Functions would if no heartbeat came within 3 s.
    const token = sfn.addToken(undefined, { heartbeatSeconds: 3 });
    const res = await runCli(['run', '--task-file', writeTask(dir, token, { heartbeatSeconds: 3 }), '--', 'sleep', '2.6'],
      cliEnv(sfn.url, { [ENV.HEARTBEAT_INTERVAL_MS]: undefined }));

    expect(res.code).toBe(CLI_EXIT.OK);
    expect(sfn.finalsFor(token).map((f) => f.action)).toEqual(['SendTaskSuccess']);
    // The claiming heartbeat, then one at about 1 s and one at about 2 s into the job.
    const beats = sfn.callsFor('SendTaskHeartbeat', token).map((c) => c.time);
    expect(beats.length).toBeGreaterThanOrEqual(3);
    // Timers never fire early, so no gap is under the interval however busy the machine; that none was over 3 s is
    // the fake's own check (it times the token out like Step Functions, and the run then could not succeed).
    const gaps = beats.slice(1).map((t, i) => t - beats[i]);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(950);
  });
});

describe('a lost task', () => {
  test('a heartbeat answered TaskTimedOut: the job is stopped within about one interval, nothing is reported, exit LOST', async () => {
    const dir = tmpDir();
    const token = sfn.addToken();
    const job = longJob(dir);
    const intervalMs = 200;
    const cli = startCli(['run', '--task-file', writeTask(dir, token, { heartbeatSeconds: 5 }), '--', 'bash', job.script],
      cliEnv(sfn.url, { SSP_HEARTBEAT_INTERVAL_MS: String(intervalMs) }));
    const pids = await readJobPids(job);
    expect(pids.every((p) => !processGone(p))).toBe(true);

    const timedOutAt = Date.now();
    sfn.timeOutToken(token);
    const res = await cli.done;

    expect(res.code).toBe(CLI_EXIT.LOST);
    expect(res.stderr).toContain('TaskTimedOut');
    const answer = sfn.calls.find((c) => c.token === token && c.errorType === 'TaskTimedOut')!;
    expect(answer.action).toBe('SendTaskHeartbeat');
    // The first heartbeat after the time-out saw it, and nothing more was sent for the token: no further heartbeat, no
    // report (checked by order and count, not by the clock).
    const after = sfn.calls.filter((c) => c.token === token && c.time >= timedOutAt);
    expect(after.map((c) => [c.action, c.errorType])).toEqual([['SendTaskHeartbeat', 'TaskTimedOut']]);
    expect(after[0]).toBe(answer);
    expect(pids.every(processGone)).toBe(true);
    expect(finalCalls(sfn, token)).toHaveLength(0);
    expect(res.stdout).not.toContain('finished');
  });

  test('the job is stopped with SIGTERM first: its own TERM trap runs before anything is killed', async () => {
    const dir = tmpDir();
    const token = sfn.addToken();
    const marker = path.join(dir, 'trapped');
    const ready = path.join(dir, 'ready');
    const script = writeScript(dir, [
      `trap 'echo trapped > "${marker}"; exit 143' TERM`,
      'sleep 30 &',
      `touch "${ready}"`,
      'wait',
      'echo finished',
    ].join('\n'));
    const cli = startCli(['run', '--task-file', writeTask(dir, token, { heartbeatSeconds: 5 }), '--', 'bash', script],
      cliEnv(sfn.url, { SSP_HEARTBEAT_INTERVAL_MS: '300' }));
    await waitFor(() => fs.existsSync(ready), 'the job to start');
    sfn.timeOutToken(token);
    const res = await cli.done;

    expect(res.code).toBe(CLI_EXIT.LOST);
    expect(fs.readFileSync(marker, 'utf8')).toBe('trapped\n');
    // It stopped on SIGTERM: the runtime never had to SIGKILL the group.
    expect(res.stderr).not.toContain('SIGKILL');
    expect(res.stdout).not.toContain('finished');
    expect(finalCalls(sfn, token)).toHaveLength(0);
  });

  test('InvalidToken on a heartbeat (fault injection) is also lost', async () => {
    const dir = tmpDir();
    const token = sfn.addToken();
    const job = longJob(dir);
    const cli = startCli(['run', '--task-file', writeTask(dir, token), '--', 'bash', job.script], cliEnv(sfn.url));
    const pids = await readJobPids(job);
    sfn.injectFault({ action: 'SendTaskHeartbeat', token, fault: 'InvalidToken' });
    const res = await cli.done;
    expect(res.code).toBe(CLI_EXIT.LOST);
    expect(res.stderr).toContain('InvalidToken');
    expect(pids.every(processGone)).toBe(true);
    expect(finalCalls(sfn, token)).toHaveLength(0);
  });

  test('endpoint down for longer than HeartbeatSeconds: lost, job stopped', async () => {
    const dir = tmpDir();
    const token = sfn.addToken();
    const job = longJob(dir);
    const own = new FakeStepFunctions();
    await own.start();
    own.addToken(token);
    const cli = startCli(['run', '--task-file', writeTask(dir, token, { heartbeatSeconds: 1 }), '--', 'bash', job.script], cliEnv(own.url));
    const pids = await readJobPids(job);
    await own.stop();
    const downAt = Date.now();
    const res = await cli.done;
    await own.dispose();

    expect(res.code).toBe(CLI_EXIT.LOST);
    expect(res.stderr).toContain('HeartbeatsFailing');
    // It kept trying for a while before giving up (a lower bound only: an upper bound would measure the machine's load).
    expect(res.endedAt - downAt).toBeGreaterThanOrEqual(600);
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
});
