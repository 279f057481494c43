/**
 * The runtime's one retry loop (src/runtime/retry.ts): which errors are retried; and, end to end, the bundled runtime
 * riding out faults.
 */
import { cleanupTmp, cliEnv, requireBundle, startCli, tmpDir, writeTask } from './harness';
import { CLI_EXIT } from '../../src/protocol';
import { isRetryableError } from '../../src/runtime';
import { FakeStepFunctions } from '../support/fake-sfn';

describe('isRetryableError', () => {
  test('throttling, 5xx/429, network codes (also as a cause) yes; other client errors and lost tokens no', () => {
    expect(isRetryableError(Object.assign(new Error('x'), { name: 'ThrottlingException' }))).toBe(true);
    expect(isRetryableError(Object.assign(new Error('x'), { name: 'Whatever', $metadata: { httpStatusCode: 502 } }))).toBe(true);
    expect(isRetryableError(Object.assign(new Error('x'), { name: 'Whatever', $metadata: { httpStatusCode: 429 } }))).toBe(true);
    expect(isRetryableError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isRetryableError(new Error('wrapped', { cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }) }))).toBe(true);
    expect(isRetryableError(Object.assign(new Error('x'), { name: 'ValidationException', $metadata: { httpStatusCode: 400 } }))).toBe(false);
    expect(isRetryableError(Object.assign(new Error('x'), { name: 'TaskTimedOut', $metadata: { httpStatusCode: 400 } }))).toBe(false);
    expect(isRetryableError('string')).toBe(false);
  });
});

describe('the bundled runtime', () => {
  let sfn: FakeStepFunctions;
  beforeAll(async () => {
    requireBundle();
    sfn = new FakeStepFunctions();
    await sfn.start();
  });
  afterAll(async () => {
    await sfn.dispose();
    cleanupTmp();
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
});
