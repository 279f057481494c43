/**
 * Keeping the token alive (src/runtime/heartbeats.ts): what the bundled runtime does when its heartbeats tell it the
 * task is lost.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  cleanupTmp, cliEnv, finalCalls, killLeftovers, longJob, processGone, readJobPids, requireBundle, startCli, tmpDir, waitFor, writeTask,
} from './harness';
import { CLI_EXIT } from '../../src/protocol';
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
    // The next heartbeat saw it (at most one interval later) and the runtime was gone soon after the answer.
    // (Margins leave room for a busy CI machine; a 10 s kill grace or a missed answer would blow them.)
    expect(answer.time - timedOutAt).toBeLessThanOrEqual(intervalMs + 300);
    expect(res.endedAt - answer.time).toBeLessThan(intervalMs + 800);
    expect(pids.every(processGone)).toBe(true);
    expect(finalCalls(sfn, token)).toHaveLength(0);
    expect(res.stdout).not.toContain('finished');
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
});
