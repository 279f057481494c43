/**
 * TaskReporter (src/runtime/reporter.ts) in-process, against the fake Step Functions endpoint: retries, lost tokens,
 * one final result, the API limits.
 */
import { SFNClient } from '@aws-sdk/client-sfn';
import { FAST_RETRY, logCapture, offlineAwsEnv, useProcessEnv } from './harness';
import { MAX_CAUSE_CHARS, MAX_ERROR_CHARS } from '../../src/protocol';
import { lostTaskReason, TaskAlreadyClosedError, TaskLostError, TaskReporter } from '../../src/runtime';
import { FakeStepFunctions } from '../support/fake-sfn';

let sfn: FakeStepFunctions;
const logs = logCapture();

beforeAll(async () => {
  sfn = new FakeStepFunctions();
  await sfn.start();
});
useProcessEnv(() => ({ ...offlineAwsEnv('us-east-2'), AWS_ENDPOINT_URL_SFN: sfn.url, SSP_SPOT_CHECK: '0' }));

afterEach(() => {
  sfn.clearFaults();
  logs.lines.length = 0;
});

afterAll(async () => {
  await sfn.dispose();
});

describe('TaskReporter', () => {
  test('the default client answers through AWS_ENDPOINT_URL_SFN with the env region, and makes one attempt per retry', async () => {
    const token = sfn.addToken();
    sfn.injectFault({ action: 'SendTaskHeartbeat', token, times: 10, fault: 500 });
    const reporter = new TaskReporter({ taskToken: token, retry: { ...FAST_RETRY, maxAttempts: 3 }, log: logs.log });
    await expect(reporter.heartbeat()).rejects.toMatchObject({ $metadata: { httpStatusCode: 500 } });
    // Exactly maxAttempts calls: the SDK's own retries are off (maxAttempts: 1).
    expect(sfn.callsFor('SendTaskHeartbeat', token)).toHaveLength(3);
    expect(sfn.callsFor(undefined, token).every((c) => c.region === 'us-east-2')).toBe(true);
    expect(logs.lines.filter((l) => l.includes('retry'))).toHaveLength(2);
    reporter.destroy();
  });

  test('retries throttling and network errors, then succeeds', async () => {
    const token = sfn.addToken();
    sfn.injectFault({ action: 'SendTaskHeartbeat', token, times: 1, fault: 'ThrottlingException' });
    sfn.injectFault({ action: 'SendTaskHeartbeat', token, times: 1, fault: 'reset' });
    sfn.injectFault({ action: 'SendTaskHeartbeat', token, times: 1, fault: 503 });
    const reporter = new TaskReporter({ taskToken: token, retry: FAST_RETRY, log: logs.log });
    await reporter.heartbeat();
    expect(sfn.callsFor('SendTaskHeartbeat', token).map((c) => c.status)).toEqual([400, 0, 503, 200]);
    expect(sfn.heartbeatCount(token)).toBe(1);
    reporter.destroy();
  });

  test('a hanging call times out per attempt and is retried', async () => {
    const token = sfn.addToken();
    sfn.injectFault({ action: 'SendTaskSuccess', token, times: 1, fault: 'hang' });
    const reporter = new TaskReporter({ taskToken: token, retry: FAST_RETRY, attemptTimeoutMs: 300, log: logs.log });
    const t0 = Date.now();
    await reporter.succeed({ ok: true });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    expect(sfn.finalsFor(token)).toEqual([expect.objectContaining({ output: { ok: true } })]);
    expect(logs.lines.join('\n')).toMatch(/timed out after \d+ ms/);
    reporter.destroy();
  });

  test('does not retry other client errors', async () => {
    const token = sfn.addToken();
    sfn.injectFault({ action: 'SendTaskHeartbeat', token, fault: 'AccessDeniedException' });
    const reporter = new TaskReporter({ taskToken: token, retry: FAST_RETRY, log: logs.log });
    await expect(reporter.heartbeat()).rejects.toMatchObject({ name: 'AccessDeniedException' });
    expect(sfn.callsFor('SendTaskHeartbeat', token)).toHaveLength(1);
    reporter.destroy();
  });

  test.each(['TaskTimedOut', 'InvalidToken', 'TaskDoesNotExist'])('%s throws TaskLostError without retrying', async (type) => {
    const token = sfn.addToken();
    sfn.injectFault({ action: 'SendTaskHeartbeat', token, fault: type });
    const reporter = new TaskReporter({ taskToken: token, retry: FAST_RETRY, log: logs.log });
    const err = await reporter.heartbeat().catch((e) => e);
    expect(err).toBeInstanceOf(TaskLostError);
    expect(err.reason).toBe(type);
    expect(lostTaskReason(err)).toBe(type);
    expect(sfn.callsFor('SendTaskHeartbeat', token)).toHaveLength(1);
    reporter.destroy();
  });

  test('backoff delays are bounded by maxDelayMs', async () => {
    const token = sfn.addToken();
    sfn.injectFault({ action: 'SendTaskHeartbeat', token, times: 5, fault: 'ThrottlingException' });
    const reporter = new TaskReporter({ taskToken: token, retry: { maxAttempts: 6, baseDelayMs: 50, maxDelayMs: 60 }, log: logs.log });
    const t0 = Date.now();
    await reporter.heartbeat();
    // 5 waits of at most 60 ms each (full jitter), plus the calls themselves.
    expect(Date.now() - t0).toBeLessThan(5 * 60 + 400);
    expect(sfn.callsFor('SendTaskHeartbeat', token)).toHaveLength(6);
    reporter.destroy();
  });

  test('a heartbeat deadline stops the retries', async () => {
    const token = sfn.addToken();
    sfn.injectFault({ action: 'SendTaskHeartbeat', token, times: Infinity, fault: 'ThrottlingException' });
    const reporter = new TaskReporter({ taskToken: token, retry: { maxAttempts: 1000, baseDelayMs: 50, maxDelayMs: 50 }, log: logs.log });
    const t0 = Date.now();
    // The last error: the throttling answer, or the attempt cut short by the deadline.
    await expect(reporter.heartbeat({ deadline: t0 + 300 })).rejects.toMatchObject({ name: expect.stringMatching(/^(ThrottlingException|TimeoutError)$/) });
    expect(sfn.callsFor('SendTaskHeartbeat', token).length).toBeGreaterThanOrEqual(3);
    expect(Date.now() - t0).toBeLessThan(700);
    reporter.destroy();
  });

  test('never sends two final results', async () => {
    const token = sfn.addToken();
    const reporter = new TaskReporter({ taskToken: token, retry: FAST_RETRY, log: logs.log });
    const first = reporter.succeed({ n: 1 });
    // A second final call is refused at once, while the first is still in flight, and after it.
    await expect(reporter.fail('E', 'C')).rejects.toBeInstanceOf(TaskAlreadyClosedError);
    await first;
    await expect(reporter.succeed({ n: 2 })).rejects.toBeInstanceOf(TaskAlreadyClosedError);
    await expect(reporter.heartbeat()).rejects.toBeInstanceOf(TaskAlreadyClosedError);
    expect(reporter.closed).toBe(true);
    expect(sfn.callsFor(undefined, token).map((c) => c.action)).toEqual(['SendTaskSuccess']);
    reporter.destroy();
  });

  test('a failed final call still closes the reporter', async () => {
    const token = sfn.addToken();
    sfn.injectFault({ action: 'SendTaskFailure', token, fault: 'ValidationException' });
    const reporter = new TaskReporter({ taskToken: token, retry: FAST_RETRY, log: logs.log });
    await expect(reporter.fail('E', 'C')).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(reporter.fail('E', 'C')).rejects.toBeInstanceOf(TaskAlreadyClosedError);
    expect(sfn.callsFor('SendTaskFailure', token)).toHaveLength(1);
    reporter.destroy();
  });

  test('truncates error (keeping its head) and cause (keeping its tail) to the API limits', async () => {
    const token = sfn.addToken();
    const reporter = new TaskReporter({ taskToken: token, retry: FAST_RETRY, log: logs.log });
    const error = 'Job.' + 'E'.repeat(400);
    const cause = 'START' + 'c'.repeat(50_000) + 'THE-END';
    await reporter.fail(error, cause);
    const [final] = sfn.finalsFor(token);
    expect(final.error).toBe(error.slice(0, MAX_ERROR_CHARS));
    expect(final.cause!.length).toBeLessThanOrEqual(MAX_CAUSE_CHARS);
    expect(final.cause!.endsWith('cccTHE-END')).toBe(true);
    expect(final.cause!.startsWith('START')).toBe(false);
    expect(final.cause).toMatch(/truncated/);
    reporter.destroy();
  });

  test('works with a caller-provided client', async () => {
    const token = sfn.addToken();
    const client = new SFNClient({ region: 'ap-south-1', endpoint: sfn.url, credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
    const reporter = new TaskReporter({ taskToken: token, client, log: logs.log });
    await reporter.heartbeat();
    expect(sfn.callsFor('SendTaskHeartbeat', token)[0].region).toBe('ap-south-1');
    reporter.destroy();
    client.destroy();
  });
});
