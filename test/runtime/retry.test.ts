/**
 * The runtime's one retry loop (src/runtime/retry.ts): which errors are retried, the backoff with full jitter, the
 * per-attempt timeout, the deadline and the stop signals; and, end to end, the bundled runtime riding out faults.
 */
import { cliEnv, logCapture, startCli, tmpDir, useBundleWithFakeSfn, writeTask } from './harness';
import { CLI_EXIT } from '../../src/protocol';
import { DEFAULT_RETRY, isRetryableError } from '../../src/runtime';
import { backoffDelayMs, retry, RetryAbortedError } from '../../src/runtime/retry';
import type { RetryPolicy } from '../../src/runtime/retry';

const logs = logCapture();
afterEach(() => {
  logs.lines.length = 0;
  jest.restoreAllMocks();
});

/** An error like the SDK's for a throttled call. */
const throttled = () => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });

/** A call that fails with `errors` in turn, then answers `'ok'`; it records the abort signal of every attempt. */
function flaky(...errors: unknown[]) {
  const signals: AbortSignal[] = [];
  const call = jest.fn(async (signal: AbortSignal) => {
    signals.push(signal);
    const e = errors.shift();
    if (e !== undefined) throw e;
    return 'ok';
  });
  return { call, signals };
}

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

describe('backoffDelayMs: full jitter over a capped exponential step', () => {
  test('the step doubles from baseDelayMs and stops at maxDelayMs; the wait is random x step', () => {
    const steps = [1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelayMs(DEFAULT_RETRY, n, 1));
    expect(steps).toEqual([200, 400, 800, 1_600, 3_200, 5_000, 5_000]);
    expect(backoffDelayMs(DEFAULT_RETRY, 3, 0.25)).toBe(200);
    expect(backoffDelayMs(DEFAULT_RETRY, 9, 0)).toBe(0);
  });

  test('the default policy: 8 attempts, 200 ms base, 5 s cap', () => {
    expect(DEFAULT_RETRY).toEqual({ maxAttempts: 8, baseDelayMs: 200, maxDelayMs: 5_000 });
  });

  test('by default the jitter is Math.random()', () => {
    jest.spyOn(Math, 'random').mockReturnValue(0.5);
    expect(backoffDelayMs({ maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1_000 }, 2)).toBe(100);
  });
});

describe('retry', () => {
  const policy: RetryPolicy = { maxAttempts: 5, baseDelayMs: 10, maxDelayMs: 25 };

  test('retries retryable errors with the jittered backoff, logging each retry, then returns the answer', async () => {
    jest.spyOn(Math, 'random').mockReturnValue(1);
    const { call } = flaky(throttled(), throttled(), throttled());
    await expect(retry('Act', call, { policy, log: logs.log })).resolves.toBe('ok');
    expect(call).toHaveBeenCalledTimes(4);
    expect(logs.lines).toEqual([
      'Act failed (ThrottlingException HTTP 400: Rate exceeded); retry 1/4 in 10 ms',
      'Act failed (ThrottlingException HTTP 400: Rate exceeded); retry 2/4 in 20 ms',
      'Act failed (ThrottlingException HTTP 400: Rate exceeded); retry 3/4 in 25 ms',
    ]);
  });

  test('gives up after maxAttempts with the last error; a non-retryable error is thrown at once', async () => {
    const errors = [1, 2, 3, 4, 5, 6].map((n) => Object.assign(throttled(), { message: `throttled ${n}` }));
    const many = flaky(...errors);
    await expect(retry('Act', many.call, { policy, log: logs.log })).rejects.toThrow('throttled 5');
    expect(many.call).toHaveBeenCalledTimes(policy.maxAttempts);

    const refused = flaky(Object.assign(new Error('no'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } }));
    await expect(retry('Act', refused.call, { policy, log: logs.log })).rejects.toMatchObject({ name: 'AccessDeniedException' });
    expect(refused.call).toHaveBeenCalledTimes(1);
  });

  test('fatal turns an error into one thrown at once, before any retry', async () => {
    const { call } = flaky(throttled());
    const fatal = (e: unknown) => new Error(`fatal: ${(e as Error).name}`);
    await expect(retry('Act', call, { policy, log: logs.log, fatal })).rejects.toThrow('fatal: ThrottlingException');
    expect(call).toHaveBeenCalledTimes(1);
  });

  test('attemptTimeoutMs aborts a hanging attempt, which is retried as a TimeoutError', async () => {
    let attempts = 0;
    const call = (signal: AbortSignal) => new Promise<string>((resolve, reject) => {
      if (++attempts > 1) return resolve('ok');
      signal.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })));
    });
    const t0 = Date.now();
    await expect(retry('Act', call, { policy, log: logs.log, attemptTimeoutMs: 100 })).resolves.toBe('ok');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    expect(logs.lines).toEqual([expect.stringMatching(/^Act failed \(TimeoutError: Act timed out after \d+ ms\); retry 1\/4 in \d+ ms$/)]);
  });

  test('an attempt cut short by the deadline reports the time it really took, the time since the first, and the error before', async () => {
    let attempts = 0;
    const call = (signal: AbortSignal) => new Promise<string>((_resolve, reject) => {
      // The first attempt finds the endpoint unreachable; the second hangs until the deadline cuts it.
      if (++attempts === 1) return reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }));
      signal.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' })));
    });
    const error = await retry('Act', call, { policy, log: logs.log, attemptTimeoutMs: 60_000, deadline: Date.now() + 100, delayMs: () => 50 }).catch((e) => e);
    expect(error.name).toBe('TimeoutError');
    const m = /^Act timed out after (\d+) ms \(attempt 2, (\d+) ms since the first; the attempt before failed with Error ECONNREFUSED: connect ECONNREFUSED 127\.0\.0\.1:9\)$/.exec(error.message);
    expect(m).not.toBeNull();
    // The attempt's own time is part of the time since the first attempt, which includes the wait before it.
    expect(Number(m![2])).toBeGreaterThan(Number(m![1]));
  });

  test('a deadline ends the retrying with the last error and cuts an attempt\'s timeout to it', async () => {
    const slow: RetryPolicy = { maxAttempts: 1_000, baseDelayMs: 40, maxDelayMs: 40 };
    const always = jest.fn(async () => {
      throw throttled();
    });
    const t0 = Date.now();
    await expect(retry('Act', always, { policy: slow, log: logs.log, deadline: t0 + 200 })).rejects.toMatchObject({ name: 'ThrottlingException' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(Date.now() - t0).toBeLessThan(600);
    expect(always.mock.calls.length).toBeGreaterThanOrEqual(3);

    const hang = (signal: AbortSignal) => new Promise<string>((_resolve, reject) => {
      signal.addEventListener('abort', () => reject(new Error('aborted')));
    });
    const t1 = Date.now();
    await expect(retry('Act', hang, { policy: slow, log: logs.log, attemptTimeoutMs: 10_000, deadline: t1 + 150 }))
      .rejects.toMatchObject({ name: 'TimeoutError', message: expect.stringMatching(/^Act timed out after 1\d\d ms$/) });
    expect(Date.now() - t1).toBeLessThan(1_000);
  });

  test('a stop signal aborts the attempt in flight (and the retrying): RetryAbortedError', async () => {
    const stop = new AbortController();
    const seen: AbortSignal[] = [];
    const call = (signal: AbortSignal) => new Promise<string>((_resolve, reject) => {
      seen.push(signal);
      signal.addEventListener('abort', () => reject(new Error('aborted by the signal')));
    });
    const pending = retry('Act', call, { policy, log: logs.log, signals: [undefined, stop.signal] });
    setTimeout(() => stop.abort(), 50);
    const err = await pending.catch((e) => e);
    expect(err).toBeInstanceOf(RetryAbortedError);
    expect(err).toMatchObject({ name: 'AbortError', message: 'Act aborted' });
    expect(seen).toHaveLength(1);
    expect(seen[0].aborted).toBe(true);
    // Already aborted: no attempt at all.
    const none = flaky();
    await expect(retry('Act', none.call, { policy, log: logs.log, signals: [stop.signal] })).rejects.toBeInstanceOf(RetryAbortedError);
    expect(none.call).not.toHaveBeenCalled();
  });

  test('waitSignal never aborts an attempt in flight, only cuts the wait before the next one short', async () => {
    const stop = new AbortController();
    let inFlight: AbortSignal | undefined;
    const call = (signal: AbortSignal) => new Promise<string>((_resolve, reject) => {
      inFlight = signal;
      // Fails (retryably) only after the stop, which must not have aborted it.
      setTimeout(() => reject(throttled()), 100);
    });
    const slow: RetryPolicy = { maxAttempts: 5, baseDelayMs: 5_000, maxDelayMs: 5_000 };
    jest.spyOn(Math, 'random').mockReturnValue(1);
    const t0 = Date.now();
    const pending = retry('Poll', call, { policy: slow, log: logs.log, waitSignal: stop.signal });
    setTimeout(() => stop.abort(), 20);
    await expect(pending).rejects.toBeInstanceOf(RetryAbortedError);
    expect(inFlight!.aborted).toBe(false);
    expect(Date.now() - t0).toBeLessThan(1_000);
  });

  test('without a finite maxAttempts (with delayMs and a deadline) the log has no total', async () => {
    const { call } = flaky(throttled(), throttled());
    const endless: RetryPolicy = { ...DEFAULT_RETRY, maxAttempts: Infinity };
    await expect(retry('First', call, { policy: endless, delayMs: () => 5, deadline: Date.now() + 5_000, log: logs.log })).resolves.toBe('ok');
    expect(logs.lines).toEqual([
      'First failed (ThrottlingException HTTP 400: Rate exceeded); retry 1 in 5 ms',
      'First failed (ThrottlingException HTTP 400: Rate exceeded); retry 2 in 5 ms',
    ]);
  });
});

describe('the bundled runtime', () => {
  const sfn = useBundleWithFakeSfn();

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
