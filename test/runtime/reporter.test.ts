/**
 * Unit tests of the runtime library (src/runtime) in-process, against the fake Step Functions endpoint.
 */
import * as fs from 'fs';
import * as path from 'path';
import { PassThrough } from 'stream';
import { SFNClient } from '@aws-sdk/client-sfn';
import { cleanupTmp, offlineAwsEnv, tmpDir } from './harness';
import { CLI_EXIT, MAX_CAUSE_CHARS, MAX_ERROR_CHARS } from '../../src/protocol';
import {
  checkJobEnv, fitCause, isRetryableError, lostTaskReason, parseTaskDocument, readTaskDocument, runJob,
  TaskAlreadyClosedError, TaskDocumentError, TaskLostError, TaskReporter, truncateHead, truncateTail,
} from '../../src/runtime';
import { FakeStepFunctions } from '../support/fake-sfn';

let sfn: FakeStepFunctions;
const saved = { ...process.env };
const logs: string[] = [];
const log = (m: string) => logs.push(m);
const fast = { maxAttempts: 5, baseDelayMs: 5, maxDelayMs: 20 };

beforeAll(async () => {
  sfn = new FakeStepFunctions();
  await sfn.start();
  Object.assign(process.env, {
    ...offlineAwsEnv('us-east-2'),
    AWS_ENDPOINT_URL_SFN: sfn.url,
    SSP_SPOT_CHECK: '0',
  });
});

afterEach(() => {
  sfn.clearFaults();
  logs.length = 0;
});

afterAll(async () => {
  process.env = saved;
  await sfn.dispose();
  cleanupTmp();
});

describe('readTaskDocument', () => {
  const valid = {
    taskToken: 'tok',
    executionArn: 'arn:aws:states:us-east-2:1:execution:sm:e',
    executionName: 'e',
    script: 'jobs/a.sh',
    args: ['x', 'y'],
    heartbeatSeconds: 60,
  };

  test('reads a valid document (and ignores unknown fields)', () => {
    const file = path.join(tmpDir(), 'task.json');
    fs.writeFileSync(file, JSON.stringify({ ...valid, extra: true }));
    expect(readTaskDocument(file)).toEqual(valid);
  });

  test.each([
    ['taskToken', undefined, '"taskToken" is missing'],
    ['taskToken', '', '"taskToken" must not be empty'],
    ['executionArn', 5, '"executionArn" must be a string, got a number'],
    ['executionName', undefined, '"executionName" is missing'],
    ['script', null, '"script" is missing'],
    ['args', undefined, '"args" is missing'],
    ['args', ['a', 2], '"args[1]" must be a string, got a number'],
    ['heartbeatSeconds', '60', '"heartbeatSeconds" must be a positive number, got "60"'],
    ['heartbeatSeconds', 0, '"heartbeatSeconds" must be a positive number, got 0'],
  ])('%s = %j: names the field', (field, value, message) => {
    const doc: Record<string, unknown> = { ...valid, [field]: value };
    if (value === undefined) delete doc[field];
    expect(() => parseTaskDocument(doc, 'doc.json')).toThrow(TaskDocumentError);
    expect(() => parseTaskDocument(doc, 'doc.json')).toThrow(`task document doc.json: ${message}`);
  });

  test('optional env, userInput and attempt are kept; env is passed through unchecked (runJob reports Job.InvalidEnv)', () => {
    expect(parseTaskDocument({ ...valid, env: { A: '1' }, userInput: 'echo hi', attempt: 2 })).toEqual({ ...valid, env: { A: '1' }, userInput: 'echo hi', attempt: 2 });
    expect(parseTaskDocument({ ...valid, env: { 'A': 1, 'B C': 'x' } }).env).toEqual({ 'A': 1, 'B C': 'x' });
    // null means absent.
    expect(parseTaskDocument({ ...valid, env: null, userInput: null, attempt: null })).toEqual(valid);
  });

  test('script may be empty (or absent) only with userInput', () => {
    expect(parseTaskDocument({ ...valid, script: '', userInput: 'echo hi' }).script).toBe('');
    const { script: _script, ...withoutScript } = valid;
    expect(parseTaskDocument({ ...withoutScript, userInput: 'echo hi' })).toEqual({ ...withoutScript, script: '', userInput: 'echo hi' });
    expect(() => parseTaskDocument({ ...valid, script: '' }, 'doc.json')).toThrow('task document doc.json: "script" must not be empty');
    expect(() => parseTaskDocument(withoutScript, 'doc.json')).toThrow('"script" is missing');
    expect(() => parseTaskDocument({ ...valid, script: 5, userInput: 'x' })).toThrow('"script" must be a string, got a number');
  });

  test.each([
    ['userInput', 42, '"userInput" must be a string, got a number'],
    ['attempt', 0, '"attempt" must be a positive integer, got 0'],
    ['attempt', 1.5, '"attempt" must be a positive integer, got 1.5'],
    ['attempt', '2', '"attempt" must be a positive integer, got "2"'],
  ])('%s = %j: names the field', (field, value, message) => {
    expect(() => parseTaskDocument({ ...valid, [field]: value }, 'doc.json')).toThrow(`task document doc.json: ${message}`);
  });

  test('unreadable file, invalid JSON, not an object', () => {
    const dir = tmpDir();
    expect(() => readTaskDocument(path.join(dir, 'missing.json'))).toThrow(/cannot read task document .*missing\.json/);
    fs.writeFileSync(path.join(dir, 'bad.json'), '{"taskToken": ');
    expect(() => readTaskDocument(path.join(dir, 'bad.json'))).toThrow(/bad\.json is not valid JSON/);
    expect(() => parseTaskDocument([valid])).toThrow('must be a JSON object');
  });
});

describe('checkJobEnv', () => {
  test('accepts absent env, and names like [A-Za-z_][A-Za-z0-9_]* with string values', () => {
    expect(checkJobEnv(undefined)).toBeUndefined();
    expect(checkJobEnv(null)).toBeUndefined();
    expect(checkJobEnv({})).toBeUndefined();
    expect(checkJobEnv({ _A: '', b9: 'x y', Z_Z: 'ünïcode\n' })).toBeUndefined();
  });

  test.each([
    ['9A', { '9A': 'x' }, { name: '9A', message: expect.stringContaining('env name "9A" is not a valid environment variable name') }],
    ['empty name', { '': 'x' }, { name: '', message: expect.stringContaining('env name "" is not a valid') }],
    ['A=B', { 'A=B': 'x' }, { name: 'A=B', message: expect.stringContaining('"A=B"') }],
    ['boolean', { FLAG: true }, { name: 'FLAG', message: 'env value of FLAG must be a string, got a boolean' }],
    ['null value', { V: null }, { name: 'V', message: 'env value of V must be a string, got null' }],
    ['object value', { V: { a: 1 } }, { name: 'V', message: 'env value of V must be a string, got an object' }],
    ['string env', 'A=1', { message: '"env" must be an object of string values, got a string' }],
  ])('%s: names the problem', (_name, env, problem) => {
    expect(checkJobEnv(env)).toEqual(problem);
  });
});

describe('TaskReporter', () => {
  test('the default client answers through AWS_ENDPOINT_URL_SFN with the env region, and makes one attempt per retry', async () => {
    const token = sfn.addToken();
    sfn.injectFault({ action: 'SendTaskHeartbeat', token, times: 10, fault: 500 });
    const reporter = new TaskReporter({ taskToken: token, retry: { ...fast, maxAttempts: 3 }, log });
    await expect(reporter.heartbeat()).rejects.toMatchObject({ $metadata: { httpStatusCode: 500 } });
    // Exactly maxAttempts calls: the SDK's own retries are off (maxAttempts: 1).
    expect(sfn.callsFor('SendTaskHeartbeat', token)).toHaveLength(3);
    expect(sfn.callsFor(undefined, token).every((c) => c.region === 'us-east-2')).toBe(true);
    expect(logs.filter((l) => l.includes('retry'))).toHaveLength(2);
    reporter.destroy();
  });

  test('retries throttling and network errors, then succeeds', async () => {
    const token = sfn.addToken();
    sfn.injectFault({ action: 'SendTaskHeartbeat', token, times: 1, fault: 'ThrottlingException' });
    sfn.injectFault({ action: 'SendTaskHeartbeat', token, times: 1, fault: 'reset' });
    sfn.injectFault({ action: 'SendTaskHeartbeat', token, times: 1, fault: 503 });
    const reporter = new TaskReporter({ taskToken: token, retry: fast, log });
    await reporter.heartbeat();
    expect(sfn.callsFor('SendTaskHeartbeat', token).map((c) => c.status)).toEqual([400, 0, 503, 200]);
    expect(sfn.heartbeatCount(token)).toBe(1);
    reporter.destroy();
  });

  test('a hanging call times out per attempt and is retried', async () => {
    const token = sfn.addToken();
    sfn.injectFault({ action: 'SendTaskSuccess', token, times: 1, fault: 'hang' });
    const reporter = new TaskReporter({ taskToken: token, retry: fast, attemptTimeoutMs: 300, log });
    const t0 = Date.now();
    await reporter.succeed({ ok: true });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    expect(sfn.finalsFor(token)).toEqual([expect.objectContaining({ output: { ok: true } })]);
    expect(logs.join('\n')).toContain('timed out after 300 ms');
    reporter.destroy();
  });

  test('does not retry other client errors', async () => {
    const token = sfn.addToken();
    sfn.injectFault({ action: 'SendTaskHeartbeat', token, fault: 'AccessDeniedException' });
    const reporter = new TaskReporter({ taskToken: token, retry: fast, log });
    await expect(reporter.heartbeat()).rejects.toMatchObject({ name: 'AccessDeniedException' });
    expect(sfn.callsFor('SendTaskHeartbeat', token)).toHaveLength(1);
    reporter.destroy();
  });

  test.each(['TaskTimedOut', 'InvalidToken', 'TaskDoesNotExist'])('%s throws TaskLostError without retrying', async (type) => {
    const token = sfn.addToken();
    sfn.injectFault({ action: 'SendTaskHeartbeat', token, fault: type });
    const reporter = new TaskReporter({ taskToken: token, retry: fast, log });
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
    const reporter = new TaskReporter({ taskToken: token, retry: { maxAttempts: 6, baseDelayMs: 50, maxDelayMs: 60 }, log });
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
    const reporter = new TaskReporter({ taskToken: token, retry: { maxAttempts: 1000, baseDelayMs: 50, maxDelayMs: 50 }, log });
    const t0 = Date.now();
    // The last error: the throttling answer, or the attempt cut short by the deadline.
    await expect(reporter.heartbeat({ deadline: t0 + 300 })).rejects.toMatchObject({ name: expect.stringMatching(/^(ThrottlingException|TimeoutError)$/) });
    expect(sfn.callsFor('SendTaskHeartbeat', token).length).toBeGreaterThanOrEqual(3);
    expect(Date.now() - t0).toBeLessThan(700);
    reporter.destroy();
  });

  test('never sends two final results', async () => {
    const token = sfn.addToken();
    const reporter = new TaskReporter({ taskToken: token, retry: fast, log });
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
    const reporter = new TaskReporter({ taskToken: token, retry: fast, log });
    await expect(reporter.fail('E', 'C')).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(reporter.fail('E', 'C')).rejects.toBeInstanceOf(TaskAlreadyClosedError);
    expect(sfn.callsFor('SendTaskFailure', token)).toHaveLength(1);
    reporter.destroy();
  });

  test('truncates error (keeping its head) and cause (keeping its tail) to the API limits', async () => {
    const token = sfn.addToken();
    const reporter = new TaskReporter({ taskToken: token, retry: fast, log });
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
    const reporter = new TaskReporter({ taskToken: token, client, log });
    await reporter.heartbeat();
    expect(sfn.callsFor('SendTaskHeartbeat', token)[0].region).toBe('ap-south-1');
    reporter.destroy();
    client.destroy();
  });
});

describe('helpers', () => {
  test('isRetryableError', () => {
    expect(isRetryableError(Object.assign(new Error('x'), { name: 'ThrottlingException' }))).toBe(true);
    expect(isRetryableError(Object.assign(new Error('x'), { name: 'Whatever', $metadata: { httpStatusCode: 502 } }))).toBe(true);
    expect(isRetryableError(Object.assign(new Error('x'), { name: 'Whatever', $metadata: { httpStatusCode: 429 } }))).toBe(true);
    expect(isRetryableError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isRetryableError(new Error('wrapped', { cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }) }))).toBe(true);
    expect(isRetryableError(Object.assign(new Error('x'), { name: 'ValidationException', $metadata: { httpStatusCode: 400 } }))).toBe(false);
    expect(isRetryableError(Object.assign(new Error('x'), { name: 'TaskTimedOut', $metadata: { httpStatusCode: 400 } }))).toBe(false);
    expect(isRetryableError('string')).toBe(false);
  });

  test('truncateHead / truncateTail never split a surrogate pair', () => {
    expect(truncateHead('abc', 5)).toBe('abc');
    expect(truncateHead('ab😀', 3)).toBe('ab');
    const t = truncateTail('x'.repeat(100) + '😀end', 40);
    expect(t.length).toBeLessThanOrEqual(40);
    expect(t.endsWith('😀end')).toBe(true);
    expect(truncateTail('😀'.repeat(30), 45).length).toBeLessThanOrEqual(45);
    expect(truncateTail('😀'.repeat(30), 45)).not.toMatch(/^[\udc00-\udfff]/);
  });

  test('fitCause shortens the output tail to fit, keeping valid JSON', () => {
    const cause = fitCause({ exitCode: 1, outputTail: 'a'.repeat(10) + '\u0001'.repeat(MAX_CAUSE_CHARS) + 'END' });
    expect(cause.length).toBeLessThanOrEqual(MAX_CAUSE_CHARS);
    const parsed = JSON.parse(cause);
    expect(parsed.exitCode).toBe(1);
    expect(parsed.outputTail.endsWith('END')).toBe(true);
  });
});

describe('runJob (in-process)', () => {
  test('forwards output to the given streams and returns the outcome', async () => {
    const token = sfn.addToken();
    const out = new PassThrough();
    const err = new PassThrough();
    let outText = '';
    let errText = '';
    out.on('data', (d) => (outText += d));
    err.on('data', (d) => (errText += d));
    const result = await runJob({
      task: { taskToken: token, heartbeatSeconds: 1, args: ['from-task'] },
      command: 'bash',
      args: ['-c', 'echo "out $1"; echo err >&2; sleep 0.25; echo 7 > "$SSP_RESULT_FILE"', 'job'],
      heartbeatIntervalMs: 50,
      stdout: out,
      stderr: err,
      log,
      handleSignals: false,
    });
    expect(result).toMatchObject({ outcome: 'succeeded', exitCode: CLI_EXIT.OK, jobExitCode: 0 });
    expect(result.output).toMatchObject({ exitCode: 0, result: 7 });
    expect(outText).toBe('out from-task\n');
    expect(errText).toBe('err\n');
    expect(sfn.heartbeatCount(token)).toBeGreaterThanOrEqual(3);
    expect(process.listenerCount('SIGTERM')).toBe(0);
  });

  test('a final result that cannot be delivered: report-failed (exit REPORT_FAILED); a closed token: lost', async () => {
    const quiet = { stdout: new PassThrough(), stderr: new PassThrough(), log, handleSignals: false };
    const t1 = sfn.addToken();
    sfn.injectFault({ action: 'SendTaskSuccess', token: t1, times: Infinity, fault: 503 });
    const r1 = await runJob({ ...quiet, task: { taskToken: t1, heartbeatSeconds: 1 }, command: 'true', reporter: new TaskReporter({ taskToken: t1, retry: fast, log }) });
    expect(r1).toMatchObject({ outcome: 'report-failed', exitCode: CLI_EXIT.REPORT_FAILED, jobExitCode: 0 });
    expect(sfn.callsFor('SendTaskSuccess', t1)).toHaveLength(fast.maxAttempts);

    const t2 = sfn.addToken();
    sfn.injectFault({ action: 'SendTaskFailure', token: t2, fault: 'TaskTimedOut' });
    const r2 = await runJob({ ...quiet, task: { taskToken: t2, heartbeatSeconds: 1 }, command: 'false' });
    expect(r2).toMatchObject({ outcome: 'lost', exitCode: CLI_EXIT.LOST, lostReason: 'TaskTimedOut' });
    expect(sfn.finalsFor(t2)).toHaveLength(0);
  });

  test('a token that cannot be used at all (non-retryable error on the claim): the job never starts', async () => {
    const token = sfn.addToken();
    const marker = path.join(tmpDir(), 'ran');
    sfn.injectFault({ action: 'SendTaskHeartbeat', token, fault: 'AccessDeniedException' });
    const result = await runJob({
      task: { taskToken: token, heartbeatSeconds: 1 },
      command: 'touch',
      args: [marker],
      stdout: new PassThrough(),
      stderr: new PassThrough(),
      log,
      handleSignals: false,
    });
    expect(result).toMatchObject({ outcome: 'report-failed', exitCode: CLI_EXIT.REPORT_FAILED });
    expect(fs.existsSync(marker)).toBe(false);
    expect(sfn.callsFor(undefined, token)).toHaveLength(1);
  });

  test('an oversized result is refused as Job.InvalidResult', async () => {
    const token = sfn.addToken();
    const result = await runJob({
      task: { taskToken: token, heartbeatSeconds: 1 },
      command: 'bash',
      args: ['-c', 'printf "\\"%s\\"" "$(head -c 300000 /dev/zero | tr "\\0" a)" > "$SSP_RESULT_FILE"'],
      stdout: new PassThrough(),
      stderr: new PassThrough(),
      log,
      handleSignals: false,
    });
    expect(result).toMatchObject({ outcome: 'failed', exitCode: CLI_EXIT.JOB_FAILED, error: 'Job.InvalidResult' });
    expect(JSON.parse(sfn.finalsFor(token)[0].cause!).message).toMatch(/at most 262144/);
  });
});
