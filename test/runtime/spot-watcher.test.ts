/**
 * Spot interruption notices (src/runtime/spot-watcher.ts) under the bundled runtime, with a fake IMDSv2.
 */
import {
  cleanupTmp, cliEnv, finalCalls, killLeftovers, longJob, processGone, readJobPids, requireBundle, startCli, tmpDir, waitFor, writeTask,
} from './harness';
import { CLI_EXIT, JOB_ERRORS } from '../../src/protocol';
import { FakeImds } from '../support/fake-imds';
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
    const pids = await readJobPids(job);
    await waitFor(() => imds.requests.some((r) => r.path.endsWith('/instance-action') && r.status === 404), 'a Spot check');
    imds.setNotice({ action: 'terminate', time: '2030-01-02T03:04:05Z' });
    const res = await cli.done;

    expect(res.code).toBe(CLI_EXIT.JOB_FAILED);
    expect(pids.every(processGone)).toBe(true);
    const [final] = sfn.finalsFor(token);
    expect(final.error).toBe(JOB_ERRORS.SPOT_INTERRUPTED);
    expect(JSON.parse(final.cause!)).toMatchObject({ action: 'terminate', time: '2030-01-02T03:04:05Z', outputTail: 'started\n' });
    expect(finalCalls(sfn, token)).toHaveLength(1);
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
